"""Incidents as several issuers and processes send them, against a plain set oracle.

The oracle is written from ``docs/delivery.rst`` and the design's semantics, never from the
stores: a device is told an incident once, whatever the number of versions; an Update tells
only devices never told; unconfirmed claims come back; a Cancel that arrives first is
remembered. Who an area covers is decided with ``pyproj.Geod`` directly.

A Test or Exercise Update that names an Actual alert before that alert arrives (a drill
system replaying production identifiers, a feed delivering out of order) must not keep the
alert, its Updates or its Cancel from the public: it started the incident under the alert's
id with its own status, and the Actual messages were refused for theirs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
from targeting_helpers import T0, exact_rules, make_alert, make_regions, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType, Status
from geotarget.ledger import MemoryLedger, PostgresLedger, SQLiteLedger
from geotarget.regions import RegionHierarchy
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

GEOD = pyproj.Geod(ellps="WGS84")
AT = T0 + dt.timedelta(minutes=5)
CENTRE = (17.5, 59.5)
#: d0 a tester at the centre, d1 1.1 km east, d2 4.5 km east, d3 far away.
LON = np.array([17.5, 17.52, 17.58, 18.4])
LAT = np.full(4, 59.5)
TESTER = [True, False, False, False]


@pytest.fixture(scope="module")
def regions() -> RegionHierarchy:
    """The small synthetic hierarchy of :mod:`targeting_helpers`."""
    return make_regions()


def covered(radius_m: float) -> set[str]:
    """The oracle: devices within ``radius_m`` of the centre on the WGS84 ellipsoid."""
    _, _, dist = GEOD.inv(np.full(4, CENTRE[0]), np.full(4, CENTRE[1]), LON, LAT)
    return {f"d{i}" for i in np.flatnonzero(dist <= radius_m)}


def index() -> PositionIndex:
    """Fresh exact-enough fixes of d0 … d3 (d0 a tester)."""
    ids = [f"d{i}" for i in range(4)]
    return PositionIndex(
        Positions(ids, LON, LAT, accuracy_m=np.full(4, 5.0), observed_at=AT, tester=TESTER)
    )


def ledger(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """A new store of the named kind (PostgreSQL: a fresh schema of the test cluster)."""
    if store == "memory":
        return MemoryLedger()
    handle: Any
    if store == "sqlite":
        handle = SQLiteLedger(tmp_path / "deliveries.db")
    else:
        handle = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    request.addfinalizer(handle.close)
    return handle


def second_handle(store: str, first: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """Another process's handle on the same store (the memory store has only one)."""
    return first if store == "memory" else ledger(store, tmp_path, request)


def chain() -> dict[str, Alert]:
    """An Actual Alert a1, its Actual Update a2 (wider) and Cancel c; a Test Update u1 of a1.

    u1 names a1, as a drill system replaying a1's id would send it.
    """
    a1 = make_alert("explosion", Circle(*CENTRE, 1500.0), ident="a1")
    return {
        "a1": a1,
        "u1": make_alert(
            "explosion",
            Circle(*CENTRE, 6000.0),
            ident="u1",
            msg_type=MessageType.UPDATE,
            refs=(ref(a1),),
            sent=T0 + dt.timedelta(minutes=1),
            status=Status.TEST,
        ),
        "a2": make_alert(
            "explosion",
            Circle(*CENTRE, 6000.0),
            ident="a2",
            msg_type=MessageType.UPDATE,
            refs=(ref(a1),),
            sent=T0 + dt.timedelta(minutes=2),
        ),
        "c": make_alert(
            "explosion",
            Circle(*CENTRE, 1500.0),
            ident="c",
            msg_type=MessageType.CANCEL,
            refs=(ref(a1),),
            sent=T0 + dt.timedelta(minutes=4),
        ),
    }


STORES = ["memory", "sqlite", "postgres"]


@pytest.mark.parametrize("status", [Status.TEST, Status.EXERCISE])
@pytest.mark.parametrize("store", STORES)
def test_an_update_of_another_status_naming_an_alert_first_does_not_keep_it_from_anyone(
    store: str,
    status: Status,
    regions: RegionHierarchy,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Test Update u1 (naming a1), then Actual a1 and a2: the public is told a1, then a2."""
    import attrs

    m = chain()
    drill = attrs.evolve(m["u1"], status=status)
    t = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=ledger(store, tmp_path, request),
    )
    first = t.target(drill, index(), AT)
    assert first.verdict is Verdict.DELIVER
    assert first.recipients.tolist() == ["d0"]  # the tester
    assert first.claims is not None
    drill_keys = first.claims.keys().tolist()

    got = t.target(m["a1"], index(), AT)
    assert got.verdict is Verdict.DELIVER, got.reason
    assert got.incident == "polisen@example.se/a1"
    # Everyone in a1's area, the tester too (the drill told it of another incident).
    assert set(got.recipients.tolist()) == covered(1500.0)
    assert got.claims is not None
    t.confirm(got.claims.keys(), AT)
    wider = t.target(m["a2"], index(), AT)
    assert wider.verdict is Verdict.DELIVER, wider.reason
    assert set(wider.recipients.tolist()) == covered(6000.0) - covered(1500.0)
    # The drill's key is still confirmed where its delivery went, once.
    assert t.confirm(drill_keys, AT).confirmed.tolist() == [0]
    assert t.confirm(drill_keys, AT).already.tolist() == [0]
    # The drill's chain goes on as its own incident (testers only), not refused.
    u2 = attrs.evolve(
        m["u1"],
        identifier="u2",
        references=(ref(drill),),
        sent=T0 + dt.timedelta(minutes=3),
        status=status,
    )
    assert t.target(u2, index(), AT).verdict is Verdict.DELIVER
    assert set(t.active_incidents) == {"polisen@example.se/a1", "polisen@example.se/u1"}
    # And the Actual Cancel retracts from exactly the public told a1's chain.
    gone = t.target(m["c"], index(), AT)
    assert gone.verdict is Verdict.CANCELLED
    assert set(gone.retract.tolist()) == covered(6000.0)


@pytest.mark.parametrize("store", STORES)
def test_an_actual_cancel_after_such_an_update_is_remembered_for_its_alert(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Test Update u1, Actual Cancel c, then Actual a1 and a2: nobody is told the alert."""
    m = chain()
    t = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=ledger(store, tmp_path, request),
    )
    assert t.target(m["u1"], index(), AT).verdict is Verdict.DELIVER
    cancel = t.target(m["c"], index(), AT)
    assert cancel.verdict is Verdict.CANCELLED, cancel.reason
    for late in (m["a1"], m["a2"]):
        got = t.target(late, index(), AT)
        assert got.verdict is Verdict.CANCELLED, got.reason
        assert got.recipients.tolist() == []
    walker = Positions(["w"], [17.5001], [59.5], accuracy_m=[5.0], observed_at=AT)
    assert t.on_positions(walker, AT) == []


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_handle_that_claimed_for_the_drill_claims_the_alert_for_the_same_devices(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Process B delivered the drill to d0; process A admits a1; B delivers a1, to d0 too.

    A store handle remembers the devices claimed per incident, to leave them out of its next
    claims: those B remembered went with the drill to the drill's own incident.
    """
    m = chain()
    a = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=ledger(store, tmp_path, request),
    )
    b = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=second_handle(store, a.ledger, tmp_path, request),
    )
    assert b.target(m["u1"], index(), AT).recipients.tolist() == ["d0"]
    assert a.ledger.admit(m["a1"], at=AT).incident is not None
    (got,) = b.retarget(index(), AT)  # admitted by A, not delivered yet: B delivers it
    assert got.alert_id == "a1"
    assert set(got.recipients.tolist()) == covered(1500.0)
    assert b.ledger.recipients("polisen@example.se/a1").tolist() == sorted(covered(1500.0))
    assert b.ledger.recipients("polisen@example.se/u1").tolist() == ["d0"]


@pytest.mark.parametrize("store", STORES)
def test_a_text_only_update_streams_the_area_of_a_version_that_arrived_after_it(
    store: str, regions: RegionHierarchy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Text-only Update v2 first (no area known: nobody), then v1 with its area: v2 keeps it.

    ``retarget`` delivers v2 over v1's area once v1 arrives, and a device walking into that
    area later is told, by this Targeter (which looked at v2 before v1 arrived) and by one
    started afterwards alike.
    """
    from targeting_helpers import without_area

    m = chain()
    v1 = make_alert(
        "explosion",
        Circle(*CENTRE, 1500.0),
        ident="v1",
        msg_type=MessageType.UPDATE,
        refs=(ref(m["a1"]),),
        sent=T0 + dt.timedelta(minutes=1),
    )
    v2 = without_area(
        make_alert(
            "explosion",
            Circle(*CENTRE, 1500.0),
            ident="v2",
            msg_type=MessageType.UPDATE,
            refs=(ref(m["a1"]), ref(v1)),
            sent=T0 + dt.timedelta(minutes=2),
        )
    )
    store_ = ledger(store, tmp_path, request)
    t = Targeter(regions, nationwide("XX"), location_rules=exact_rules(), ledger=store_)
    assert t.target(v2, index(), AT).verdict is Verdict.NO_AREA
    assert t.retarget(index(), AT) == []  # still no area: nobody
    assert t.target(v1, index(), AT).verdict is Verdict.SUPERSEDED
    (got,) = t.retarget(index(), AT)
    assert got.alert_id == "v2"
    assert set(got.recipients.tolist()) == covered(1500.0)
    walker = Positions(["w1"], [17.501], [59.5], accuracy_m=[5.0], observed_at=AT)
    assert {d.device_id for d in t.on_positions(walker, AT)} == {"w1"}
    walkers = Positions(
        ["w1", "w2", "w3"],
        [17.501, 17.502, 17.6],
        [59.5, 59.5, 59.5],
        accuracy_m=[5.0] * 3,
        observed_at=AT,
    )
    fresh = Targeter(
        regions,
        nationwide("XX"),
        location_rules=exact_rules(),
        ledger=second_handle(store, store_, tmp_path, request),
    )
    assert {d.device_id for d in fresh.on_positions(walkers, AT)} == {"w2"}
