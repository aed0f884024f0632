"""DaskTargeter as an end-to-end twin of Targeter (probe 13).

One operator's day, on the cluster and in memory side by side: an Actual alert, an Update that
widens it and one that narrows it to a polygon crossing partition cells, a text-only Update, a
Cancel; Test and Exercise alerts (testers only); alerts with margins; devices whose accuracy is
larger than a partition cell, stale devices (under a stale rule), devices without a fix; then
the devices move between partitions and ``retarget()`` runs. The DaskTargeter keeps its ledger
in SQLite; the oracle is the in-memory Targeter over one PositionIndex on a fresh MemoryLedger,
and for the exact fresh fixes a plain ``pyproj.Geod.inv`` / shapely check of who is reached.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from targeting_helpers import T0, make_alert, make_regions, policy, ref, without_area

from geotarget import Circle, LocationRule, Polygon, PositionIndex, Positions, StaleRule
from geotarget.alerts import MessageType, Status
from geotarget.ledger import MemoryLedger
from geotarget.targeting import KindRules, Outcome, Targeter, TargetingResult, Verdict

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned
from geotarget.ledger import SQLiteLedger

CELL = 0.01  # about 560 m x 1.1 km here: smaller than the coarsest accuracies below
HOUR = dt.timedelta(hours=1)


def _rules() -> dict[str, KindRules]:
    return {
        "explosion": KindRules(
            location=LocationRule(max_age=HOUR, accuracy=1.0),
            include_ambiguous=True,
            stale=StaleRule(max_age=dt.timedelta(hours=24), margin_m=700.0),
        ),
        "tip_request": KindRules(
            location=LocationRule(max_age=HOUR, accuracy=2.0), include_ambiguous=False
        ),
    }


def _targeter(ledger: Any) -> Targeter:
    start = T0 - dt.timedelta(days=1)
    return Targeter(
        make_regions(),
        policy({"explosion": [(start, ("XX",))], "tip_request": [(start, ("XX",))]}),
        location_rules=_rules(),
        ledger=ledger,
    )


def _positions(seed: int, *, shift: float = 0.0) -> Positions:
    """Devices around (18.0, 59.5), across the county border at lon 18 and many cells."""
    rng = np.random.default_rng(seed)
    n = 900
    lon = rng.uniform(17.95, 18.05, n) + shift
    lat = rng.uniform(59.475, 59.525, n)
    acc = rng.choice([0.0, 0.0, 20.0, 400.0, 2500.0], n)  # 2.5 km: wider than a cell
    age_min = rng.choice([0, 10, 50, 90, 600, 2000], n)  # 90 and 600: stale; 2000: too old
    obs = np.datetime64(T0.replace(tzinfo=None), "us") - age_min.astype("timedelta64[m]")
    obs = obs.astype("datetime64[us]")
    no_fix = rng.random(n) < 0.05
    lon = np.where(no_fix, np.nan, lon)
    lat = np.where(no_fix, np.nan, lat)
    tester = rng.random(n) < 0.2
    return Positions(
        [f"dev-{i:04d}" for i in range(n)],
        lon,
        lat,
        accuracy_m=np.where(no_fix, np.nan, acc),
        observed_at=obs,
        tester=tester,
    )


def _same(want: TargetingResult, got: TargetingResult) -> None:
    assert got.verdict is want.verdict
    assert got.reason == want.reason
    assert got.next_change == want.next_change
    assert got.recipients.tolist() == want.recipients.tolist()  # in id order, both
    assert sorted(got.no_longer_covered.tolist()) == sorted(want.no_longer_covered.tolist())
    assert sorted(got.retract.tolist()) == sorted(want.retract.tolist())
    assert dict(got.counts) == dict(want.counts)
    assert got.already_delivered == want.already_delivered
    assert dict(got.per_county) == dict(want.per_county)
    assert (got.kind, got.recognised_by, got.issuer) == (want.kind, want.recognised_by, want.issuer)
    assert [(p.path, p.message) for p in got.warnings] == [
        (p.path, p.message) for p in want.warnings
    ]
    assert (got.claims is None) == (want.claims is None)
    if got.claims is not None and want.claims is not None:
        assert sorted(got.claims.keys().tolist()) == sorted(want.claims.keys().tolist())


def _exact_fresh(p: Positions, at: dt.datetime) -> np.ndarray:
    obs = np.asarray(p.observed_at, dtype="datetime64[us]")
    age = np.datetime64(at.replace(tzinfo=None), "us") - obs
    fresh = age <= np.timedelta64(3600, "s")
    return np.asarray(fresh & (np.asarray(p.accuracy_m) == 0.0) & np.isfinite(p.lon))


def _circle_oracle(
    p: Positions, at: dt.datetime, lon0: float, lat0: float, r: float, testers: bool
) -> tuple[set[str], set[str]]:
    """Exact fresh fixes surely in (and surely out of) a circle, by ``Geod.inv``."""
    from pyproj import Geod

    ok = _exact_fresh(p, at)
    if testers:
        ok &= np.asarray(p.tester)
    ids = np.asarray(p.ids)[ok]
    lon, lat = np.asarray(p.lon)[ok], np.asarray(p.lat)[ok]
    _, _, d = Geod(ellps="WGS84").inv(np.full(lon.size, lon0), np.full(lon.size, lat0), lon, lat)
    return set(ids[d <= r - 1.0].tolist()), set(ids[d > r + 1.0].tolist())


def _replace_dataset(root: Path, moved: Positions, tmp: Path) -> None:
    """The writer's nightly job: the new snapshot written aside, then swapped into ``root``."""
    write_partitioned(moved, tmp, cell_deg=CELL)
    for old in root.iterdir():
        shutil.rmtree(old)
    for new in tmp.iterdir():
        os.replace(new, root / new.name)


def test_an_operators_day_on_the_cluster_is_the_in_memory_day(client: Any, tmp_path: Path) -> None:
    devices = _positions(1)
    ds = write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    assert len(ds.partitions) > 20
    ds = PartitionedPositions(tmp_path / "ds", recheck_s=0)
    sqlite = SQLiteLedger(tmp_path / "ledger.sqlite")
    dk = DaskTargeter(_targeter(sqlite), ds, client)
    memory = _targeter(MemoryLedger())
    index = PositionIndex(devices)

    e1 = make_alert("explosion", Circle(18.0, 59.5, 800.0), ident="e1")
    wider = make_alert(
        "explosion",
        Circle(18.0, 59.5, 2000.0),
        ident="e2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(e1),),
    )
    ring = [(17.985, 59.49), (18.021, 59.493), (18.017, 59.512), (17.99, 59.508), (17.985, 59.49)]
    narrower = make_alert(
        "explosion",
        Polygon(ring),
        ident="e3",
        sent=T0 + dt.timedelta(minutes=2),
        msg_type=MessageType.UPDATE,
        refs=(ref(wider),),
    )
    text_only = without_area(
        make_alert(
            "explosion",
            Circle(0.0, 0.0, 1.0),
            ident="e4",
            sent=T0 + dt.timedelta(minutes=3),
            msg_type=MessageType.UPDATE,
            refs=(ref(narrower),),
        )
    )
    test = make_alert("explosion", Circle(18.01, 59.5, 1500.0), ident="t1", status=Status.TEST)
    exercise = make_alert("explosion", Polygon(ring), ident="x1", status=Status.EXERCISE)
    tip = make_alert("tip_request", Circle(17.995, 59.505, 1200.0), ident="tip1")
    at = T0 + dt.timedelta(minutes=5)
    results: dict[str, TargetingResult] = {}
    for alert in (e1, wider, narrower, text_only, test, exercise, tip):
        want = memory.target(alert, index, at)
        got = dk.target(alert, at)
        _same(want, got)
        results[alert.identifier] = got

    assert results["e1"].verdict is Verdict.DELIVER
    assert results["e1"].counts[Outcome.NO_FIX] > 0
    inside, outside = _circle_oracle(devices, at, 18.0, 59.5, 800.0, testers=False)
    assert inside and inside <= set(results["e1"].recipients.tolist())
    assert not outside & set(results["e1"].recipients.tolist())
    inside, outside = _circle_oracle(devices, at, 18.01, 59.5, 1500.0, testers=True)
    assert inside and inside <= set(results["t1"].recipients.tolist())
    assert not outside & set(results["t1"].recipients.tolist())
    assert set(results["t1"].recipients.tolist()) <= set(np.asarray(devices.ids)[devices.tester])

    cancel = make_alert(
        "explosion",
        Circle(18.0, 59.5, 800.0),
        ident="c1",
        sent=T0 + dt.timedelta(minutes=6),
        msg_type=MessageType.CANCEL,
        refs=(ref(text_only),),
    )
    _same(memory.target(cancel, index, at), dk.target(cancel, at))

    # The devices move (a third crosses into other cells); a new alert admitted before its
    # onset is delivered by retarget() over the moved snapshot.
    moved = _positions(1, shift=0.012)
    _replace_dataset(tmp_path / "ds", moved, tmp_path / "new")
    late = make_alert(
        "explosion",
        Circle(18.01, 59.5, 1000.0),
        ident="late",
        sent=T0 + dt.timedelta(minutes=30),
    )
    early = T0 + dt.timedelta(minutes=10)
    _same(memory.target(late, index, early), dk.target(late, early))
    then = T0 + dt.timedelta(minutes=35)
    want_all = memory.retarget(PositionIndex(moved), then)
    got_all = dk.retarget(then)
    assert len(got_all) == len(want_all) == 1
    _same(want_all[0], got_all[0])
    inside, outside = _circle_oracle(moved, then, 18.01, 59.5, 1000.0, testers=False)
    assert inside and inside <= set(got_all[0].recipients.tolist())
    assert not outside & set(got_all[0].recipients.tolist())

    # A batch of fresh fixes streams to the live incidents (tip1, t1, x1, late): the same.
    rng = np.random.default_rng(9)
    batch = Positions(
        ["dev-0001", "dev-0002", "new-1", "new-2", "new-3", "new-4"],
        np.concatenate([rng.uniform(17.99, 18.02, 5), [np.nan]]),
        np.concatenate([rng.uniform(59.495, 59.505, 5), [np.nan]]),
        accuracy_m=[0.0, 3000.0, 10.0, 500.0, 0.0, np.nan],
        observed_at=then,
        tester=[True, False, True, True, False, True],
    )
    got_d = dk.on_positions(batch, then)
    want_d = memory.on_positions(batch, then)
    assert want_d
    assert sorted(map(repr, got_d)) == sorted(map(repr, want_d))
    for key in ("e1", "t1", "x1", "tip1", "late"):
        k = f"polisen@example.se/{key}"
        assert sorted(sqlite.recipients(k).tolist()) == sorted(memory.ledger.recipients(k).tolist())


# --- at the country's edge, under phases, a canary and other rules -----------------------------


def _edge_positions(seed: int, *, shift: float = 0.0) -> Positions:
    """Devices around (18.99, 59.5), across the country's east edge (lon 19), and (18.3, 59.5)."""
    rng = np.random.default_rng(seed)
    n = 700
    lon = np.concatenate([rng.uniform(18.95, 19.03, 500), rng.uniform(18.28, 18.32, 200)]) + shift
    lat = rng.uniform(59.48, 59.52, n)
    acc = rng.choice([0.0, 30.0, 1500.0, 4000.0], n)
    age_min = rng.choice([0, 20, 120, 3000], n)
    obs = (np.datetime64(T0.replace(tzinfo=None), "us") - age_min.astype("timedelta64[m]")).astype(
        "datetime64[us]"
    )
    no_fix = rng.random(n) < 0.08
    return Positions(
        np.arange(10_000, 10_000 + n, dtype=np.int64),
        np.where(no_fix, np.nan, lon),
        np.where(no_fix, np.nan, lat),
        accuracy_m=np.where(no_fix, np.nan, acc),
        observed_at=obs,
        tester=rng.random(n) < 0.3,
    )


def _edge_targeter(ledger: Any, variant: str) -> Targeter:
    start = T0 - dt.timedelta(days=1)
    rules = KindRules(
        location=LocationRule(max_age=HOUR, accuracy=1.0),
        include_ambiguous=True,
        stale=StaleRule(max_age=dt.timedelta(hours=12), margin_m=1500.0),
        include_no_fix=variant == "no_fix",
        beyond_border=variant == "beyond_border",
        max_recipients=40 if variant == "guard" else None,
    )
    from geotarget.rollout import KindRollout, Phase, RolloutPolicy

    later = T0 + dt.timedelta(minutes=20)
    return Targeter(
        make_regions(),
        RolloutPolicy(
            rollouts=[
                KindRollout(
                    kind="explosion",
                    phases=[
                        Phase(starts_at=start, regions=("0202",), percentage=50.0),
                        Phase(starts_at=later, regions=("0201", "0202")),
                    ],
                )
            ],
            country="XX",
        ),
        location_rules={"explosion": rules},
        ledger=ledger,
        snap_m=400.0 if variant == "snap" else 0.0,
    )


@pytest.mark.parametrize("variant", ["plain", "no_fix", "beyond_border", "guard", "snap"])
def test_at_the_countrys_edge_under_phases_the_cluster_answers_as_memory(
    client: Any, tmp_path: Path, variant: str
) -> None:
    devices = _edge_positions(2)
    write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    ds = PartitionedPositions(tmp_path / "ds", recheck_s=0)
    sqlite = SQLiteLedger(tmp_path / "ledger.sqlite")
    dk = DaskTargeter(_edge_targeter(sqlite, variant), ds, client)
    memory = _edge_targeter(MemoryLedger(), variant)
    index = PositionIndex(devices)
    at = T0 + dt.timedelta(minutes=5)
    a1 = make_alert("explosion", Circle(18.995, 59.5, 1800.0), ident="a1")
    square = [(18.96, 59.49), (19.02, 59.49), (19.02, 59.51), (18.96, 59.51), (18.96, 59.49)]
    a2 = make_alert(
        "explosion",
        Polygon(square),
        ident="a2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(a1),),
    )
    ex = make_alert("explosion", Polygon(square), ident="x1", status=Status.EXERCISE)
    waiting = make_alert("explosion", Circle(18.3, 59.5, 1200.0), ident="w1")  # phase 2's
    for alert in (a1, a2, ex, waiting):
        _same(memory.target(alert, index, at), dk.target(alert, at))
    # The devices drift west into other cells and the next phase begins: retarget.
    moved = _edge_positions(2, shift=-0.015)
    _replace_dataset(tmp_path / "ds", moved, tmp_path / "new")
    then = T0 + dt.timedelta(minutes=25)
    want = memory.retarget(PositionIndex(moved), then)
    got = dk.retarget(then)
    assert [r.alert_id for r in got] == [r.alert_id for r in want]
    assert "w1" in [r.alert_id for r in got] or variant == "guard"
    for w, g in zip(want, got, strict=True):
        _same(w, g)
    for key in ("a1", "x1", "w1"):
        k = f"polisen@example.se/{key}"
        assert sorted(sqlite.recipients(k).tolist()) == sorted(memory.ledger.recipients(k).tolist())


def test_a_resent_alert_a_far_update_and_a_nationwide_one_after_devices_moved(
    client: Any, tmp_path: Path
) -> None:
    """Sent again after the devices moved, moved far away by an Update, then nationwide.

    The same alert sent again reaches the devices newly in its area (those told already are
    counted, not told again); an Update far from every earlier recipient leaves them all no
    longer covered; a nationwide alert (its box around the whole country) under
    ``beyond_border`` reaches the devices beyond the edge without a county.
    """
    devices = _edge_positions(3)
    write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    ds = PartitionedPositions(tmp_path / "ds", recheck_s=0)
    sqlite = SQLiteLedger(tmp_path / "ledger.sqlite")
    dk = DaskTargeter(_edge_targeter(sqlite, "beyond_border"), ds, client)
    memory = _edge_targeter(MemoryLedger(), "beyond_border")
    at = T0 + dt.timedelta(minutes=25)
    a1 = make_alert("explosion", Circle(18.99, 59.5, 1500.0), ident="a1")
    _same(memory.target(a1, PositionIndex(devices), at), dk.target(a1, at))
    moved = _edge_positions(3, shift=0.02)
    _replace_dataset(tmp_path / "ds", moved, tmp_path / "new")
    index = PositionIndex(moved)
    later = at + dt.timedelta(minutes=5)
    want = memory.target(a1, index, later)
    _same(want, dk.target(a1, later))
    assert want.already_delivered > 0
    far = make_alert(
        "explosion",
        Circle(18.3, 59.5, 900.0),
        ident="a2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(a1),),
    )
    want = memory.target(far, index, later)
    _same(want, dk.target(far, later))
    assert want.no_longer_covered.size > 0
    country = [(16.9, 58.9), (19.2, 58.9), (19.2, 60.1), (16.9, 60.1), (16.9, 58.9)]
    nation = make_alert("explosion", Polygon(country), ident="n1", status=Status.EXERCISE)
    want = memory.target(nation, index, later)
    _same(want, dk.target(nation, later))
    assert want.verdict is Verdict.DELIVER


def test_a_dask_targeter_and_an_in_memory_one_over_one_sqlite_file(
    client: Any, tmp_path: Path
) -> None:
    """Two processes' Targeters share a SQLite ledger: the cluster's and one over an index.

    They take turns with one incident (Alert, Update, Update, a late alert, Cancel); each
    answer is the one a single in-memory Targeter on a MemoryLedger gives for the same turn.
    """
    devices = _positions(4)
    write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    ds = PartitionedPositions(tmp_path / "ds", recheck_s=0)
    dk = DaskTargeter(_targeter(SQLiteLedger(tmp_path / "ledger.sqlite")), ds, client)
    peer = _targeter(SQLiteLedger(tmp_path / "ledger.sqlite"))
    memory = _targeter(MemoryLedger())
    index = PositionIndex(devices)
    at = T0 + dt.timedelta(minutes=5)

    def turn(who: str, alert: Any, when: dt.datetime) -> TargetingResult:
        want = memory.target(alert, index, when)
        got = dk.target(alert, when) if who == "dask" else peer.target(alert, index, when)
        _same(want, got)
        return got

    e1 = make_alert("explosion", Circle(18.0, 59.5, 900.0), ident="e1")
    turn("dask", e1, at)
    e2 = make_alert(
        "explosion",
        Circle(18.01, 59.5, 1800.0),
        ident="e2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(e1),),
    )
    turn("peer", e2, at)
    e3 = make_alert(
        "explosion",
        Circle(18.02, 59.5, 700.0),
        ident="e3",
        sent=T0 + dt.timedelta(minutes=2),
        msg_type=MessageType.UPDATE,
        refs=(ref(e2),),
    )
    assert turn("dask", e3, at).no_longer_covered.size > 0
    late = make_alert(
        "explosion", Circle(17.99, 59.49, 1000.0), ident="late", sent=T0 + dt.timedelta(minutes=20)
    )
    turn("peer", late, at)
    then = T0 + dt.timedelta(minutes=21)
    want = memory.retarget(index, then)
    got = dk.retarget(then)
    assert [r.alert_id for r in got] == [r.alert_id for r in want] == ["late"]
    _same(want[0], got[0])
    cancel = make_alert(
        "explosion",
        Circle(18.02, 59.5, 700.0),
        ident="c1",
        sent=T0 + dt.timedelta(minutes=3),
        msg_type=MessageType.CANCEL,
        refs=(ref(e3),),
    )
    turn("peer", cancel, then)
    after = make_alert(
        "explosion",
        Circle(18.02, 59.5, 3000.0),
        ident="e5",
        sent=T0 + dt.timedelta(minutes=4),
        msg_type=MessageType.UPDATE,
        refs=(ref(e3),),
    )
    turn("dask", after, then)
    assert dk.retarget(then) == [] == memory.retarget(index, then)


def _first(p: Positions, n: int) -> Positions:
    return Positions(
        p.ids[:n],
        p.lon[:n],
        p.lat[:n],
        accuracy_m=p.accuracy_m[:n],
        observed_at=p.observed_at[:n],
        tester=p.tester[:n],
    )


def test_an_alert_the_guard_holds_is_not_sent_by_retarget_over_fewer_devices(
    client: Any, tmp_path: Path
) -> None:
    """The blast-radius guard held an alert; the next snapshot holds fewer devices in its area.

    ``Targeter.retarget`` leaves a held version waiting for a person's ``confirm``, whatever
    the snapshot holds (the hold is in the ledger); the cluster's retarget must too, and not
    send it unconfirmed because the devices under the limit now. Confirmed, it is sent.
    """
    devices = _edge_positions(5)
    write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    ds = PartitionedPositions(tmp_path / "ds", recheck_s=0)
    sqlite = SQLiteLedger(tmp_path / "ledger.sqlite")
    dk = DaskTargeter(_edge_targeter(sqlite, "guard"), ds, client)
    memory = _edge_targeter(MemoryLedger(), "guard")
    at = T0 + dt.timedelta(minutes=25)
    a1 = make_alert("explosion", Circle(18.995, 59.5, 1500.0), ident="a1")
    want = memory.target(a1, PositionIndex(devices), at)
    assert want.verdict is Verdict.BLAST_RADIUS
    _same(want, dk.target(a1, at))
    fewer = _first(devices, 60)
    _replace_dataset(tmp_path / "ds", fewer, tmp_path / "new")
    index = PositionIndex(fewer)
    then = at + dt.timedelta(minutes=1)
    assert memory.retarget(index, then) == []
    assert dk.retarget(then) == []
    assert sqlite.recipients("polisen@example.se/a1").size == 0
    # A person confirms it: sent to the devices in its area now, on both.
    want = memory.target(a1, index, then, confirm=True)
    assert want.verdict is Verdict.DELIVER and want.recipients.size > 0
    _same(want, dk.target(a1, then, confirm=True))


def test_a_text_only_update_not_yet_active_is_retargeted_over_the_moved_devices(
    client: Any, tmp_path: Path
) -> None:
    """A text-only Update admitted before its onset, retargeted after the devices moved.

    Its area is the incident's (inherited); retarget() reaches the devices in it then.
    """
    devices = _positions(6)
    write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    ds = PartitionedPositions(tmp_path / "ds")
    dk = DaskTargeter(_targeter(SQLiteLedger(tmp_path / "ledger.sqlite")), ds, client)
    memory = _targeter(MemoryLedger())
    at = T0 + dt.timedelta(minutes=5)
    e1 = make_alert("explosion", Circle(18.0, 59.5, 1200.0), ident="e1")
    _same(memory.target(e1, PositionIndex(devices), at), dk.target(e1, at))
    text = without_area(
        make_alert(
            "explosion",
            Circle(0.0, 0.0, 1.0),
            ident="e2",
            sent=T0 + dt.timedelta(minutes=30),
            msg_type=MessageType.UPDATE,
            refs=(ref(e1),),
        )
    )
    want = memory.target(text, PositionIndex(devices), at)
    assert want.verdict is Verdict.NOT_YET_ACTIVE
    _same(want, dk.target(text, at))
    moved = _positions(6, shift=-0.01)
    _replace_dataset(tmp_path / "ds", moved, tmp_path / "new")
    then = T0 + dt.timedelta(minutes=31)
    want_all = memory.retarget(PositionIndex(moved), then)
    got_all = dk.retarget(then)
    assert [r.alert_id for r in got_all] == [r.alert_id for r in want_all] == ["e2"]
    _same(want_all[0], got_all[0])
    inside, outside = _circle_oracle(moved, then, 18.0, 59.5, 1200.0, testers=False)
    assert inside and inside <= set(got_all[0].recipients.tolist()) | set(_told(memory, "e1"))
    assert not outside & set(got_all[0].recipients.tolist())


def _told(t: Targeter, ident: str) -> list[Any]:
    return [str(i) for i in t.ledger.recipients(f"polisen@example.se/{ident}").tolist()]


@pytest.mark.parametrize("what", ["all_no_fix", "one_far", "all_too_old", "one_in_each_cell"])
def test_degenerate_datasets_give_the_in_memory_answer(
    client: Any, tmp_path: Path, what: str
) -> None:
    """Datasets an operator meets on a quiet night: no fix at all, one device, all too old."""
    nat = np.datetime64("NaT", "us")
    now = np.datetime64(T0.replace(tzinfo=None), "us")
    if what == "all_no_fix":
        devices = Positions(
            ["a", "b", "c"],
            [np.nan] * 3,
            [np.nan] * 3,
            observed_at=np.array([now, nat, now]),
            tester=[True, False, True],
        )
    elif what == "one_far":
        devices = Positions(["a"], [17.2], [59.9], observed_at=np.array([now]))
    elif what == "all_too_old":
        devices = Positions(
            ["a", "b"],
            [18.0, 18.001],
            [59.5, 59.5],
            observed_at=np.array([now - np.timedelta64(2, "D"), nat]),
        )
    else:
        g = np.arange(-3, 4) * CELL
        lon, lat = np.meshgrid(18.0 + g + CELL / 2, 59.5 + g + CELL / 2)
        devices = Positions(
            [f"c{i}" for i in range(lon.size)],
            lon.ravel(),
            lat.ravel(),
            accuracy_m=np.full(lon.size, 3000.0),
            observed_at=np.full(lon.size, now),
        )
    write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    dk = DaskTargeter(
        _targeter(SQLiteLedger(tmp_path / "ledger.sqlite")),
        PartitionedPositions(tmp_path / "ds"),
        client,
    )
    memory = _targeter(MemoryLedger())
    at = T0 + dt.timedelta(minutes=5)
    for ident, status in (("e1", Status.ACTUAL), ("t1", Status.TEST)):
        alert = make_alert("explosion", Circle(18.0, 59.5, 400.0), ident=ident, status=status)
        _same(memory.target(alert, PositionIndex(devices), at), dk.target(alert, at))


def test_an_update_within_an_area_confirmed_over_the_limit_on_the_cluster_as_in_memory(
    client: Any, tmp_path: Path
) -> None:
    """A confirmed alert over ``max_area_km2``; an Update within it is not held again.

    An Update outside it is held (BLAST_RADIUS) and retarget() leaves it waiting, on both.
    """
    import attrs

    def targeter(ledger: Any) -> Targeter:
        t = _targeter(ledger)
        rules = dict(t.rules)
        rules["explosion"] = attrs.evolve(rules["explosion"], max_area_km2=5.0)
        start = T0 - dt.timedelta(days=1)
        return Targeter(
            make_regions(),
            policy({"explosion": [(start, ("XX",))]}),
            location_rules=rules,
            ledger=ledger,
        )

    devices = _positions(7)
    write_partitioned(devices, tmp_path / "ds", cell_deg=CELL)
    dk = DaskTargeter(
        targeter(SQLiteLedger(tmp_path / "ledger.sqlite")),
        PartitionedPositions(tmp_path / "ds"),
        client,
    )
    memory = targeter(MemoryLedger())
    index = PositionIndex(devices)
    at = T0 + dt.timedelta(minutes=5)
    e1 = make_alert("explosion", Circle(18.0, 59.5, 2500.0), ident="e1")
    want = memory.target(e1, index, at)
    assert want.verdict is Verdict.BLAST_RADIUS
    _same(want, dk.target(e1, at))
    want = memory.target(e1, index, at, confirm=True)
    assert want.verdict is Verdict.DELIVER
    _same(want, dk.target(e1, at, confirm=True))
    e2 = make_alert(
        "explosion",
        Circle(18.005, 59.5, 1800.0),
        ident="e2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(e1),),
    )
    want = memory.target(e2, index, at)
    assert want.verdict is Verdict.DELIVER
    _same(want, dk.target(e2, at))
    e3 = make_alert(
        "explosion",
        Circle(18.03, 59.51, 1800.0),
        ident="e3",
        sent=T0 + dt.timedelta(minutes=2),
        msg_type=MessageType.UPDATE,
        refs=(ref(e2),),
    )
    want = memory.target(e3, index, at)
    assert want.verdict is Verdict.BLAST_RADIUS
    _same(want, dk.target(e3, at))
    then = at + dt.timedelta(minutes=1)
    assert dk.retarget(then) == [] == memory.retarget(index, then)
