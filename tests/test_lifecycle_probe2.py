"""Lifecycles across restarts and arrival orders, through the public API, against an oracle.

Every step opens a new Targeter over a new handle on the same store (SQLite file, PostgreSQL
schema; the memory store is kept), as a restarted service would. The oracle is written from
DESIGN.md ("Who may be told", "Delivery") alone: a Cancel that names a version of a chain ends
that chain, whatever order its messages arrived in, and every device claimed for an incident
it ends gets a retraction; nothing of the chain is offered afterwards.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from targeting_helpers import SENDER, T0, exact_rules, make_alert, make_regions, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType
from geotarget.ledger import DeliveryKind, MemoryLedger, PostgresLedger, SQLiteLedger
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

LON0, LAT0 = 17.5, 59.5
#: Devices 0, 700, 1400 and 30,000 m east of the centre (about 0.0123 degrees a kilometre).
DEVICES = {"p0": 0.0, "p1": 0.7, "p2": 1.4, "far": 30.0}
LEASE = dt.timedelta(minutes=5)


def _index(at: dt.datetime) -> PositionIndex:
    ids = list(DEVICES)
    lon = [LON0 + DEVICES[d] / (111.32 * 0.5075) for d in ids]
    return PositionIndex(Positions(ids, lon, [LAT0] * len(ids), observed_at=at))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """A function opening a new handle on one store (the memory store: the same one)."""
    if request.param == "memory":
        memory = MemoryLedger()
        yield lambda: memory
        return
    opened: list[Any] = []
    if request.param == "sqlite":
        where = tmp_path / "deliveries.db"

        def open_sqlite() -> Any:
            opened.append(SQLiteLedger(where))
            return opened[-1]

        yield open_sqlite
    else:
        dsn = request.getfixturevalue("postgres_dsn")

        def open_postgres() -> Any:
            opened.append(PostgresLedger(dsn))
            return opened[-1]

        yield open_postgres
    for handle in opened:
        handle.close()


def _targeter(ledger: Any) -> Targeter:
    return Targeter(
        make_regions(), nationwide("XX"), location_rules=exact_rules(), ledger=ledger, lease=LEASE
    )


def _send(reopen: Callable[[], Any], alert: Alert, at: dt.datetime) -> Any:
    """``target()`` in a new Targeter over a new handle, closed afterwards (a restart)."""
    ledger = reopen()
    try:
        return _targeter(ledger).target(alert, _index(at), at)
    finally:
        if not isinstance(ledger, MemoryLedger):
            ledger.close()


def _chain() -> dict[str, Alert]:
    """A0; C, a Cancel naming A0; U, an Update that names C (an issuer's Update after it)."""
    a0 = make_alert("explosion", Circle(LON0, LAT0, 1000.0), ident="A0")
    cancel = make_alert(
        "explosion",
        Circle(LON0, LAT0, 1000.0),
        ident="C",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.CANCEL,
        refs=(ref(a0),),
    )
    update = make_alert(
        "explosion",
        Circle(LON0, LAT0, 2000.0),
        ident="U",
        sent=T0 + dt.timedelta(minutes=2),
        msg_type=MessageType.UPDATE,
        refs=(ref(cancel),),
    )
    return {"A0": a0, "C": cancel, "U": update}


@pytest.mark.parametrize("order", list(itertools.permutations(["A0", "C", "U"])))
def test_a_cancel_ends_its_chain_in_any_arrival_order_across_restarts(
    reopen: Callable[[], Any], order: tuple[str, ...]
) -> None:
    """A Cancel naming A0, and an Update naming that Cancel: nothing of the chain stays live.

    Whatever the order: every incident the messages made ends cancelled, every device claimed
    for one gets exactly one retraction (from the Cancel's result or redeliver()), and no
    alert delivery is offered afterwards; preview() foresees the Update's verdict. Before, an Update naming a remembered Cancel started
    an incident of its own that stayed live; and a Cancel whose identifier an Update had named
    first ended only that Update's incident, leaving A0, which it names, live and redelivered.
    """
    chain = _chain()
    at = T0 + dt.timedelta(minutes=5)
    incidents: set[str] = set()
    retracted: dict[str, list[str]] = {}
    for step, name in enumerate(order):
        now = at + dt.timedelta(seconds=step)
        if name == "U":  # preview reads what target() decides, changing nothing
            ledger = reopen()
            seen = _targeter(ledger).preview(chain[name], _index(now), now)
            if not isinstance(ledger, MemoryLedger):
                ledger.close()
        got = _send(reopen, chain[name], now)
        if name == "U":
            assert seen.verdict is got.verdict, (order, seen.reason, got.reason)
        if name == "U" and order.index("C") < min(order.index("A0"), order.index("U")):
            # C was remembered: it ends U's incident, and the reason says how U is linked to it.
            assert got.verdict is Verdict.CANCELLED, (order, got.reason)
            assert f"it names Cancel {SENDER}/C, which arrived first" in got.reason
        if got.incident is not None:
            incidents.add(got.incident)
        if got.claims is not None and got.claims.kind is DeliveryKind.RETRACTION:
            for key in got.claims.keys().tolist():
                retracted.setdefault(key.split(" ")[0], []).append(key.split(" ")[2])
        if name == "C" and got.incident is not None:
            assert got.verdict is Verdict.CANCELLED, (order, got.reason)
    targeter = _targeter(reopen())
    later = at + LEASE + dt.timedelta(minutes=1)
    assert targeter.active_incidents == (), order
    # The other incidents a Cancel ended have their retractions due at once; none is an alert.
    for claims in targeter.redeliver(later):
        assert claims.kind is DeliveryKind.RETRACTION, (order, claims.keys().tolist())
        for device in claims.devices.tolist():
            if device not in retracted.get(claims.incident, []):
                retracted.setdefault(claims.incident, []).append(device)
    for key in incidents:
        claimed = sorted(targeter.ledger.recipients(key).tolist())
        assert sorted(retracted.get(key, [])) == claimed, (order, key)
    assert targeter.on_positions(_index(later).positions, later) == []


def test_a_cancel_named_before_it_arrived_also_ends_the_incident_it_names(
    reopen: Callable[[], Any],
) -> None:
    """A0 told; U names C before C arrives; C (naming A0) ends both incidents, A0's at once."""
    chain = _chain()
    at = T0 + dt.timedelta(minutes=5)
    assert _send(reopen, chain["A0"], at).recipients.tolist() == ["p0", "p1"]
    assert _send(reopen, chain["U"], at).verdict is Verdict.DELIVER  # nothing links it to A0 yet
    gone = _send(reopen, chain["C"], at)
    assert gone.verdict is Verdict.CANCELLED
    assert f"it also ended {SENDER}/A0" in gone.reason
    targeter = _targeter(reopen())
    assert targeter.active_incidents == ()
    due = [(c.incident, c.kind, c.devices.tolist()) for c in targeter.redeliver(at)]
    assert (f"{SENDER}/A0", DeliveryKind.RETRACTION, ["p0", "p1"]) in due
    assert all(kind is DeliveryKind.RETRACTION for _, kind, _ in due)
