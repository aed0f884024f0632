"""The blast-radius guard's hold is kept in the store, for every process over it.

An alert the guard holds for its recipients (``max_recipients``) is counted over the snapshot
of the instance that received it. Another instance over the same store, whose snapshot shows
fewer devices of the area (load-balanced position batches), or the same one restarted, calls
:meth:`~geotarget.targeting.Targeter.retarget` every few seconds: it must not send the held
alert without the confirm a person gives. And the same document, once confirmed and
delivered, sent again (a feed repeats itself) is not held again while it streams.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import pytest

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.ledger import MemoryLedger, PostgresLedger, SQLiteLedger
from geotarget.targeting import Targeter, Verdict

T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)
MSG = pilot.Message(headline="Explosionsrisk", description="Lämna.", area_description="X")
LIMIT = 50


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Two handles on one store (two instances); memory: one store both Targeters share."""
    if request.param == "memory":
        one = MemoryLedger()
        yield one, one
        one.close()
        return
    if request.param == "sqlite":
        a: Any = SQLiteLedger(tmp_path / "deliveries.db")
        b: Any = SQLiteLedger(tmp_path / "deliveries.db")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        a, b = PostgresLedger(dsn), PostgresLedger(dsn)
    yield a, b
    a.close()
    b.close()


def _targeter(ledger: Any) -> Targeter:
    rules = dict(pilot.KIND_RULES)
    name = pilot.EXPLOSION.name
    rules[name] = attrs.evolve(rules[name], max_recipients=LIMIT)
    return Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=ledger, location_rules=rules)


def _devices(prefix: str, n: int) -> PositionIndex:
    """``n`` devices within 50 m of the centre, fixed at T0."""
    lon = [CENTRE[0] + 0.00002 * i for i in range(n)]
    return PositionIndex(
        Positions([f"{prefix}{i}" for i in range(n)], lon, [CENTRE[1]] * n, observed_at=T0)
    )


def _alert() -> Any:
    return pilot.explosion(
        identifier="SE-POL-MANY",
        sender="polisen@polisen.se",
        sent=T0,
        area=Circle(*CENTRE, 500.0),
        sv=MSG,
        en=MSG,
        onset=T0,
        expires=T0 + dt.timedelta(hours=2),
    )


def test_a_version_held_for_its_recipients_is_not_sent_by_another_instance(stores: Any) -> None:
    """Instance A holds it (80 devices, limit 50); B (30 devices) retargets: nothing is sent.

    Regression: B's retarget() targeted the held version again without confirm over its own
    snapshot, under the limit, and delivered it; A then streamed it to all 80.
    """
    a, b = (_targeter(s) for s in stores)
    alert = _alert()
    held = a.target(alert, _devices("a", 80), T0)
    assert held.verdict is Verdict.BLAST_RADIUS and held.recipients.size == 0
    assert f"over the {pilot.EXPLOSION.name} limit of {LIMIT}" in held.reason
    later = T0 + dt.timedelta(seconds=5)
    assert b.retarget(_devices("b", 30), later) == []
    assert a.retarget(_devices("a", 30), later) == []  # (A restarted, fewer fixes so far)
    assert a.on_positions(_devices("a", 80).positions, later) == []
    # A person confirms it: it goes out, to B's devices too.
    sent = b.target(alert, _devices("b", 30), later, confirm=True)
    assert sent.verdict is Verdict.DELIVER and sent.recipients.size == 30


def test_a_held_version_sent_again_over_fewer_devices_is_still_held(stores: Any) -> None:
    """The feed repeats the held document; B's snapshot shows 30 devices (limit 50).

    Regression (dask probe 13): ``target`` without confirm counted B's 30 devices, found them
    under the limit and delivered the version the guard held, unconfirmed. Only a confirm
    sends it; the first instance's 80 devices are told with it.
    """
    a, b = (_targeter(s) for s in stores)
    alert = _alert()
    assert a.target(alert, _devices("a", 80), T0).verdict is Verdict.BLAST_RADIUS
    later = T0 + dt.timedelta(seconds=5)
    again = b.target(alert, _devices("b", 30), later)
    assert again.verdict is Verdict.BLAST_RADIUS, again.reason
    assert again.recipients.size == 0 and again.claims is None
    assert "held this version" in again.reason and "confirm to send it" in again.reason
    assert a.target(alert, _devices("a", 10), later).verdict is Verdict.BLAST_RADIUS
    assert b.on_positions(_devices("b", 30).positions, later) == []
    sent = b.target(alert, _devices("b", 30), later, confirm=True)
    assert sent.verdict is Verdict.DELIVER and sent.recipients.size == 30
    # Delivered now: sent again without confirm, it streams on (not held again).
    more = a.target(alert, _devices("a", 80), later)
    assert more.verdict is Verdict.DELIVER and more.recipients.size == 80


def test_a_delivered_version_sent_again_is_not_held_again(stores: Any) -> None:
    """Confirmed and delivered, the same document repeated by the feed streams on.

    Regression: it answered BLAST_RADIUS ("confirm to send anyway") for a version already
    going out.
    """
    a, b = (_targeter(s) for s in stores)
    alert = _alert()
    first = a.target(alert, _devices("a", 80), T0, confirm=True)
    assert first.verdict is Verdict.DELIVER and first.recipients.size == 80
    again = b.target(alert, _devices("b", 90), T0 + dt.timedelta(seconds=5))
    assert again.verdict is Verdict.DELIVER, again.reason
    assert again.recipients.size == 90  # B's devices, told once each
    assert sorted(again.recipients.tolist()) == sorted(f"b{i}" for i in range(90))


def test_a_hold_survives_reopening_the_store(tmp_path: Path) -> None:
    """Kept on disk: a restarted instance's store still knows the version is held."""
    path = tmp_path / "deliveries.db"
    store = SQLiteLedger(path)
    held = _targeter(store).target(_alert(), _devices("a", 80), T0)
    assert held.verdict is Verdict.BLAST_RADIUS
    store.close()
    store = SQLiteLedger(path)
    try:
        assert store.held("polisen@polisen.se/SE-POL-MANY")
        assert not store.held("polisen@polisen.se/SE-POL-OTHER")
        later = T0 + dt.timedelta(minutes=1)
        assert _targeter(store).retarget(_devices("a", 10), later) == []
    finally:
        store.close()
