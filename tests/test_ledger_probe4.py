"""Delivery as an operator and a feed really drive it, against a plain-Python model.

The model is written from ``docs/delivery.rst`` ("The guarantee") and the design's Delivery
semantics, never from the stores: each device claimed for an incident has one alert delivery
and, once the incident is cancelled, one retraction; each is offered until confirmed, confirmed
once, and offered again only when its lease has run out (``redeliver``).

Every store (memory, SQLite, PostgreSQL through ``scripts/pg``) runs the same checks.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import SENDER, T0, make_alert, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType
from geotarget.ledger import (
    DeliveryKind,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
)

STORES = ["memory", "sqlite", "postgres"]
MIN = dt.timedelta(minutes=1)
AREA = Circle(17.5, 59.5, 2_000.0)
#: Six devices well inside AREA (a few hundred metres from its centre), one far outside.
INSIDE = [f"d{i}" for i in range(6)]
LON = np.array([17.5 + 0.001 * i for i in range(6)] + [18.4])
LAT = np.full(7, 59.5)


def open_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "d.db"
) -> Any:
    """A store of the named kind, closed after the test (PostgreSQL: the test's own schema)."""
    if kind == "memory":
        return MemoryLedger()
    handle: Any
    if kind == "sqlite":
        handle = SQLiteLedger(tmp_path / name)
    else:
        handle = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    request.addfinalizer(handle.close)
    return handle


def index(at: dt.datetime) -> PositionIndex:
    """Fresh fixes of d0 … d5 (inside AREA) and d6 (far outside)."""
    ids = [*INSIDE, "far"]
    return PositionIndex(Positions(ids, LON, LAT, accuracy_m=np.full(7, 5.0), observed_at=at))


def cancel_of(original: Alert, ident: str, minutes: int) -> Alert:
    """A Cancel of ``original`` with identifier ``ident``, sent ``minutes`` after T0."""
    return make_alert(
        "explosion",
        AREA,
        ident=ident,
        msg_type=MessageType.CANCEL,
        refs=(ref(original),),
        sent=T0 + minutes * MIN,
    )


# -- alerts and retractions against a dict model ---------------------------------------------


def _run_model(ledger: Any, seed: int, steps: int) -> None:
    """Random claims, confirmations, redeliveries and Cancels against a dict model.

    The model: ``alert[d]`` and ``back[d]`` are ``[told, lease_until]`` (minutes) of device
    d's alert delivery and retraction. A claim takes devices never claimed, only while the
    incident is active; a key confirms its delivery once (then ``already``); a redelivery
    takes the pending deliveries whose lease ran out (alerts only while active) and leases
    them again; the first Cancel makes a pending retraction for every device claimed, keyed
    by it; any later Cancel makes none and answers with the same retractions (as
    ``DeliveryLedger.retract`` documents), confirmed ones included.
    """
    rng = random.Random(seed)
    original = make_alert("explosion", AREA, ident=f"a{seed}")
    version = f"{SENDER}/a{seed}"
    assert ledger.admit(original, at=T0).incident is not None
    alert: dict[str, list[int]] = {}
    back: dict[str, list[int]] = {}
    first_cancel: str | None = None
    now = 0
    lease = 3
    for _ in range(steps):
        now += rng.randint(0, 2)
        at = T0 + now * MIN
        op = rng.choice(["claim", "claim", "confirm", "confirm_back", "redeliver", "cancel"])
        devices = [f"d{rng.randint(0, 9)}" for _ in range(rng.randint(0, 5))]
        if op == "claim":
            got = ledger.claim(version, devices, version=version, at=at, lease=lease * MIN)
            want: list[str] = []
            if first_cancel is None:
                for d in devices:
                    if d not in alert and d not in want:
                        want.append(d)
                for d in want:
                    alert[d] = [0, now + lease]
            assert got.devices.tolist() == want
        elif op in ("confirm", "confirm_back"):
            table = alert if op == "confirm" else back
            which = version if op == "confirm" else first_cancel
            if which is None:
                continue
            keys = [f"{version} {which} {d}" for d in devices]
            got = ledger.confirm(keys, at=at)
            seen: set[str] = set()
            for i, d in enumerate(devices):
                if d in seen:
                    continue
                seen.add(d)
                if d not in table:
                    assert i in got.unknown.tolist(), (op, d)
                elif table[d][0]:
                    assert i in got.already.tolist(), (op, d)
                else:
                    assert i in got.confirmed.tolist(), (op, d)
                    table[d][0] = 1
        elif op == "redeliver":
            got = ledger.redeliver(at, lease=lease * MIN)
            offered = {
                (c.kind, d) for c in got for d in c.devices.tolist() if c.incident == version
            }
            want_alert = set()
            if first_cancel is None:
                want_alert = {d for d, (told, until) in alert.items() if not told and until <= now}
            want_back = {d for d, (told, until) in back.items() if not told and until <= now}
            assert offered == {(DeliveryKind.ALERT, d) for d in want_alert} | {
                (DeliveryKind.RETRACTION, d) for d in want_back
            }
            for d in want_alert:
                alert[d][1] = now + lease
            for d in want_back:
                back[d][1] = now + lease
        else:
            ident = f"c{seed}-{rng.choice([1, 1, 2]) if first_cancel else 1}"
            adm = ledger.admit(cancel_of(original, ident, now), at=at, lease=lease * MIN)
            if first_cancel is None:
                first_cancel = f"{SENDER}/{ident}"
                back = {d: [0, now + lease] for d in alert}
                assert adm.retraction is not None
                offered_now = adm.retraction.devices.tolist()
            else:
                offered_now = ledger.retract(
                    version, version=f"{SENDER}/{ident}", at=at, lease=lease * MIN
                ).devices.tolist()
            assert sorted(offered_now) == sorted(back)


@pytest.mark.parametrize(("store", "seeds"), [("memory", 40), ("sqlite", 12), ("postgres", 6)])
def test_deliveries_and_retractions_equal_a_dict_model(
    store: str, seeds: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Claims, confirmations (alerts and retractions), redelivery and Cancels sent again."""
    ledger = open_store(store, tmp_path, request)
    for seed in range(seeds):  # an incident of its own each
        _run_model(ledger, seed, 30)
