"""The cluster at the ends of the grid: the 180° meridian in either spelling, and the poles.

Devices written at lon -180 and 180 (one meridian), polygons with an edge along 180 or -180,
circles centred on the meridian; devices around both poles under a stale rule whose margin
reaches across many partitions; :func:`~geotarget.dask.write_partitioned` at both ends of
``cell_deg``; an Update chain across the meridian, a ``retarget()`` after the devices moved to
the other spelling, a Cancel; ``on_positions`` batches on the meridian and at the pole; and a
second day's dataset added under the root between two alerts. The oracle is the in-memory
Targeter over one PositionIndex of the rows read with pyarrow alone, and for the exact fresh
fixes shapely (a point on the meridian in either spelling) or ``pyproj.Geod.inv``. The cluster
is the shared ``client`` fixture: it fails in CI (``CI=true``) and skips locally only when it
cannot start.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely.geometry as sg
from targeting_helpers import T0, make_alert, make_regions, policy, ref

from geotarget import Circle, LocationRule, Polygon, PositionIndex, Positions, StaleRule
from geotarget.alerts import MessageType
from geotarget.ledger import MemoryLedger
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import KindRollout, Phase, RolloutPolicy
from geotarget.targeting import KindRules, Targeter, TargetingResult, Verdict

if os.environ.get("CI") != "true":  # in CI a missing extra fails at the import below
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")

import pyarrow.parquet as pq

from geotarget.dask import DaskTargeter, PartitionedPositions, write_partitioned

HOUR = dt.timedelta(hours=1)


def _everyone(root: Path) -> Positions:
    """Every device of every Parquet file under ``root``, read with pyarrow alone."""
    ids: list[Any] = []
    cols: dict[str, list[float]] = {"lon": [], "lat": [], "accuracy_m": []}
    observed: list[Any] = []
    for path in sorted(root.rglob("*.parquet")):
        t = pq.read_table(path)
        ids += t["id"].to_pylist()
        for name, values in cols.items():
            values += [np.nan if v is None else v for v in t[name].to_pylist()]
        observed += t["observed_at"].to_pylist()
    return Positions(
        ids,
        np.array(cols["lon"], dtype=float),
        np.array(cols["lat"], dtype=float),
        accuracy_m=np.array(cols["accuracy_m"], dtype=float),
        observed_at=observed,
    )


def _world(geometry: Any, country: str) -> tuple[RegionHierarchy, RolloutPolicy]:
    """One municipality, county and country over ``geometry``; explosions enabled there."""

    def level(name: str, code: str) -> RegionSet:
        return RegionSet([Region(code=code, name=code, level=name, geometry=geometry)])

    regions = RegionHierarchy(
        [level("municipality", "M1"), level("county", "C1"), level("country", country)],
        {"M1": "C1", "C1": country},
    )
    start = T0 - dt.timedelta(days=1)
    rollout = KindRollout(kind="explosion", phases=[Phase(starts_at=start, regions=(country,))])
    return regions, RolloutPolicy(rollouts=[rollout], country=country)


FIJI = _world(
    sg.MultiPolygon([sg.box(179.0, -17.0, 180.0, -16.0), sg.box(-180.0, -17.0, -179.0, -16.0)]),
    "FJ",
)
NORTH = _world(sg.box(-180.0, 88.0, 180.0, 90.0), "NP")
SOUTH = _world(sg.box(-180.0, -90.0, 180.0, -88.0), "SP")
STALE = {
    "explosion": KindRules(
        location=LocationRule(max_age=HOUR, accuracy=1.0),
        include_ambiguous=True,
        stale=StaleRule(max_age=dt.timedelta(hours=24), margin_m=20_000.0),
    )
}


def _targeter(world: tuple[RegionHierarchy, RolloutPolicy], **kw: Any) -> Targeter:
    return Targeter(*world, ledger=MemoryLedger(), **kw)


def _same(got: TargetingResult, want: TargetingResult) -> None:
    assert got.verdict is want.verdict
    assert got.recipients.tolist() == want.recipients.tolist()
    assert dict(got.counts) == dict(want.counts)
    assert dict(got.per_county) == dict(want.per_county)
    assert sorted(got.no_longer_covered.tolist()) == sorted(want.no_longer_covered.tolist())
    assert sorted(got.retract.tolist()) == sorted(want.retract.tolist())


def _held(ring: list[tuple[float, float]], lon: float, lat: float) -> bool:
    """Whether shapely's polygon covers the point, written as it is or a turn either way."""
    shape = sg.Polygon(ring)
    return any(shape.covers(sg.Point(lon + turn, lat)) for turn in (0.0, 360.0, -360.0))


ALONG_180 = [(179.99, -16.56), (180.0, -16.56), (180.0, -16.49), (179.99, -16.49)]
ALONG_M180 = [(-180.0, -16.56), (-179.99, -16.56), (-179.99, -16.49), (-180.0, -16.49)]


@pytest.mark.parametrize("cell_deg", [1e-7, 0.1, 7.3, 90.0])
def test_a_fix_on_the_meridian_in_either_spelling_is_the_in_memory_answer(
    client: Any, tmp_path: Path, cell_deg: float
) -> None:
    """Fixes at lon -180 and 180 land in cells at both ends of the grid (or one, at 90°).

    Polygons with an edge along 180 and along -180 hold both spellings (a boundary is
    inside); a circle centred on the meridian reaches both. Every ``cell_deg`` from its
    smallest to its largest gives the in-memory answer, and the shapely oracle's.
    """
    devices = Positions(
        ["w0", "e0", "w1", "e1", "in", "out"],
        [-180.0, 180.0, -180.0, 180.0, 179.995, -179.5],
        [-16.5, -16.5, -16.55, -16.55, -16.5, -16.5],
        observed_at=T0,
    )
    write_partitioned(devices, tmp_path / "ds", cell_deg=cell_deg)
    everyone = _everyone(tmp_path / "ds")
    dk = DaskTargeter(_targeter(FIJI), PartitionedPositions(tmp_path / "ds"), client)
    memory = _targeter(FIJI)
    for i, ring in enumerate((ALONG_180, ALONG_M180)):
        alert = make_alert("explosion", Polygon([*ring, ring[0]]), ident=f"p{i}")
        got = dk.target(alert, T0)
        _same(got, memory.target(alert, PositionIndex(everyone), T0))
        ids = everyone.ids.tolist()
        want = {
            d for d, x, y in zip(ids, everyone.lon, everyone.lat, strict=True) if _held(ring, x, y)
        }
        assert (
            set(got.recipients.tolist())
            == want
            == {"w0", "e0", "w1", "e1"} | ({"in"} if i == 0 else set())
        )
    for i, (lon, lat) in enumerate(((180.0, -16.5), (-180.0, -16.55))):
        alert = make_alert("explosion", Circle(lon, lat, 100.0), ident=f"c{i}")
        got = dk.target(alert, T0)
        _same(got, memory.target(alert, PositionIndex(everyone), T0))
        assert set(got.recipients.tolist()) == ({"w0", "e0"} if i == 0 else {"w1", "e1"})


@pytest.mark.parametrize(("world", "pole"), [(NORTH, 90.0), (SOUTH, -90.0)])
@pytest.mark.parametrize("cell_deg", [0.01, 5.0, 90.0])
def test_alerts_at_a_pole_under_a_stale_margin_are_the_in_memory_answer(
    client: Any, tmp_path: Path, world: Any, pole: float, cell_deg: float
) -> None:
    """Devices within a degree of a pole, at every longitude (four on the pole itself).

    Circles on the pole, beside it and across the meridian beside it, and a polygon from the
    pole, under a 20 km stale margin that reaches partitions many degrees of longitude away.
    Exact fresh fixes are checked by ``pyproj.Geod.inv`` too. Sixty devices (each one
    partition at the finest ``cell_deg``; the cost is per partition and alert), three of them
    exact fresh fixes placed in the circles beside the pole: at both centres and one across
    the meridian from the centre at -179.9.
    """
    from pyproj import Geod

    rng = np.random.default_rng(15)
    n = 60
    s = 1.0 if pole > 0 else -1.0
    lon = rng.uniform(-180.0, 180.0, n)
    lon[:11] = [-180.0, 180.0, 0.0, 90.0, -90.0, 179.999, -179.999, 45.0, -179.9, 170.0, 135.0]
    lat = s * rng.uniform(89.0, 90.0, n)
    lat[:4] = pole
    lat[8:11] = [s * 89.8, s * 89.8, s * 89.5]
    acc = rng.choice([0.0, 0.0, 3000.0], n)
    age = rng.choice([0, 0, 300], n).astype("timedelta64[m]")
    acc[8:11], age[8:11] = 0.0, 0
    obs = (np.datetime64(T0.replace(tzinfo=None), "us") - age).astype("datetime64[us]")
    ids = [f"d{i:03d}" for i in range(n)]
    write_partitioned(
        Positions(ids, lon, lat, accuracy_m=acc, observed_at=obs),
        tmp_path / "ds",
        cell_deg=cell_deg,
    )
    everyone = _everyone(tmp_path / "ds")
    dk = DaskTargeter(
        _targeter(world, location_rules=STALE), PartitionedPositions(tmp_path / "ds"), client
    )
    memory = _targeter(world, location_rules=STALE)
    exact = (np.asarray(everyone.accuracy_m) == 0.0) & (
        np.asarray(everyone.observed_at, dtype="datetime64[us]")
        == np.datetime64(T0.replace(tzinfo=None), "us")
    )
    geod = Geod(ellps="WGS84")
    circles = [(0.0, pole, 30_000.0), (135.0, s * 89.5, 20_000.0), (-179.9, s * 89.8, 10_000.0)]
    for i, (lon0, lat0, r) in enumerate(circles):
        alert = make_alert("explosion", Circle(lon0, lat0, r), ident=f"c{i}")
        got = dk.target(alert, T0, confirm=True)
        _same(got, memory.target(alert, PositionIndex(everyone), T0, confirm=True))
        x, y = np.asarray(everyone.lon)[exact], np.asarray(everyone.lat)[exact]
        _, _, d = geod.inv(np.full(x.size, lon0), np.full(x.size, lat0), x, y)
        exact_ids = np.asarray(everyone.ids)[exact]
        told = set(got.recipients.tolist())
        assert exact_ids[d <= r - 1.0].size and exact_ids[d > r + 1.0].size
        assert set(exact_ids[d <= r - 1.0].tolist()) <= told
        assert not set(exact_ids[d > r + 1.0].tolist()) & told
        assert got.verdict is Verdict.DELIVER and told
    ring = [(0.0, s * 89.9), (180.0, s * 89.9), (180.0, pole), (0.0, pole), (0.0, s * 89.9)]
    alert = make_alert("explosion", Polygon(ring), ident="p")
    got = dk.target(alert, T0, confirm=True)
    _same(got, memory.target(alert, PositionIndex(everyone), T0, confirm=True))
    assert {"d000", "d001", "d002", "d003"} <= set(got.recipients.tolist())  # on the pole


def test_an_update_chain_across_the_meridian_then_a_move_and_a_cancel(
    client: Any, tmp_path: Path
) -> None:
    """An Alert along -180, an Update along 180, an Update to a circle on the meridian.

    Then the devices move to the other spelling of the meridian (the dataset replaced as a
    writer's nightly job does), ``retarget()`` runs, and a Cancel retracts; every step is the
    in-memory Targeter's over the rows read with pyarrow, and ``on_positions`` batches on the
    meridian are matched as in memory.
    """
    devices = Positions(
        ["a", "b", "c", "d"], [179.9995, -179.9995, -180.0, 179.5], [-16.5] * 4, observed_at=T0
    )
    root = tmp_path / "ds"
    write_partitioned(devices, root, cell_deg=0.001)
    dk = DaskTargeter(_targeter(FIJI), PartitionedPositions(root, recheck_s=0), client)
    memory = _targeter(FIJI)
    west = Polygon([(-180, -16.51), (-179.999, -16.51), (-179.999, -16.49), (-180, -16.49)])
    east = Polygon([(179.999, -16.51), (180, -16.51), (180, -16.49), (179.999, -16.49)])
    a1 = make_alert("explosion", west, ident="a1")
    a2 = make_alert(
        "explosion",
        east,
        ident="a2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(a1),),
    )
    a3 = make_alert(
        "explosion",
        Circle(180.0, -16.5, 200.0),
        ident="a3",
        sent=T0 + dt.timedelta(minutes=2),
        msg_type=MessageType.UPDATE,
        refs=(ref(a2),),
    )
    at = T0 + dt.timedelta(minutes=3)
    told = []
    for alert in (a1, a2, a3):
        got = dk.target(alert, at)
        _same(got, memory.target(alert, PositionIndex(_everyone(root)), at))
        told.append(set(got.recipients.tolist()))
    assert told == [{"b", "c"}, {"a", "c"}, {"a", "b", "c"}]

    moved = Positions(
        ["a", "b", "c", "d", "e"],
        [-179.9999, 179.9999, 180.0, -180.0, 180.0],
        [-16.5] * 5,
        observed_at=at,
    )
    write_partitioned(moved, tmp_path / "new", cell_deg=0.001)
    for old in root.iterdir():
        shutil.rmtree(old)
    for new in (tmp_path / "new").iterdir():
        os.replace(new, root / new.name)
    at2 = T0 + dt.timedelta(minutes=4)
    index = PositionIndex(_everyone(root))
    got_r = [r.recipients.tolist() for r in dk.retarget(at2)]
    assert got_r == [r.recipients.tolist() for r in memory.retarget(index, at2)]

    batch = Positions(
        ["w", "x", "y", "z"],
        [-180.0, 180.0, -179.99, 179.999],
        [-16.5] * 4,
        observed_at=at2,
    )
    got_d = sorted((d.incident, d.device_id) for d in dk.on_positions(batch, at2))
    want_d = sorted((d.incident, d.device_id) for d in memory.on_positions(batch, at2))
    assert got_d == want_d
    assert {device for _, device in got_d} == {"w", "x", "z"}  # y: 1 km east of the circle

    cancel = make_alert(
        "explosion",
        Circle(180.0, -16.5, 200.0),
        ident="c1",
        sent=T0 + dt.timedelta(minutes=5),
        msg_type=MessageType.CANCEL,
        refs=(ref(a3),),
    )
    at3 = T0 + dt.timedelta(minutes=6)
    got = dk.target(cancel, at3)
    _same(got, memory.target(cancel, index, at3))
    assert got.verdict is Verdict.CANCELLED
    assert {"a", "b", "c"} <= set(got.retract.tolist())


def test_a_pole_batch_on_the_cluster_is_matched_as_in_memory(client: Any, tmp_path: Path) -> None:
    """``on_positions`` over live incidents on the pole: every longitude on it is the pole."""
    write_partitioned(
        Positions(["far"], [0.0], [88.5], observed_at=T0), tmp_path / "ds", cell_deg=1.0
    )
    dk = DaskTargeter(_targeter(NORTH), PartitionedPositions(tmp_path / "ds"), client)
    memory = _targeter(NORTH)
    index = PositionIndex(_everyone(tmp_path / "ds"))
    alert = make_alert("explosion", Circle(-180.0, 90.0, 5_000.0), ident="np")
    _same(dk.target(alert, T0), memory.target(alert, index, T0))
    batch = Positions(
        ["p0", "p1", "p2", "near", "out"],
        [-180.0, 180.0, 37.0, 0.0, 0.0],
        [90.0, 90.0, 90.0, 89.96, 89.9],
        observed_at=T0,
    )
    at = T0 + dt.timedelta(minutes=1)
    got = sorted(d.device_id for d in dk.on_positions(batch, at))
    assert got == sorted(d.device_id for d in memory.on_positions(batch, at))
    assert got == ["near", "p0", "p1", "p2"]  # 4.5 km and 11 km from the pole


def test_a_second_days_dataset_added_under_the_root_is_read_by_the_next_alert(
    client: Any, tmp_path: Path
) -> None:
    """``write_partitioned`` into ``root/day=2`` between two alerts, ``recheck_s=None``.

    The root directory changed, so the next alert lists the dataset again and tells the new
    day's device in the area; a device written on two days is refused, naming it and both
    files by their path from the root (``day=1/cell=…/part-0.parquet``): named by their
    directory and name alone, the message named one file twice.
    """
    from geotarget.errors import InvalidPositions

    root = tmp_path / "ds"
    first = Positions(["a", "b"], [18.0, 18.2], [59.5, 59.5], observed_at=T0)
    write_partitioned(first, root / "day=1", cell_deg=0.01)
    start = T0 - dt.timedelta(days=1)
    world = (make_regions(), policy({"explosion": [(start, ("XX",))]}))
    dk = DaskTargeter(_targeter(world), PartitionedPositions(root, recheck_s=None), client)
    memory = _targeter(world)
    area = Circle(18.0, 59.5, 500.0)
    got = dk.target(make_alert("explosion", area, ident="a1"), T0)
    assert got.recipients.tolist() == ["a"]
    second = Positions(["c", "d"], [18.001, 18.3], [59.5, 59.5], observed_at=T0)
    write_partitioned(second, root / "day=2", cell_deg=0.01)
    alert = make_alert("explosion", area, ident="a2")
    got = dk.target(alert, T0)
    _same(got, memory.target(alert, PositionIndex(_everyone(root)), T0))
    assert got.recipients.tolist() == ["a", "c"]
    again = Positions(["a"], [18.0002], [59.5], observed_at=T0)
    write_partitioned(again, root / "day=3", cell_deg=0.01)
    # Both files are cell=…/part-0.parquet of one cell: only their path from the root tells
    # them apart (the message named the same file twice).
    named = r"'a' is in day=1/cell=(\d+)/part-0\.parquet and day=3/cell=\1/part-0\.parquet "
    with pytest.raises(InvalidPositions, match=named):
        dk.target(make_alert("explosion", area, ident="a3"), T0)


def test_an_unreadable_file_of_a_nested_dataset_is_named_from_the_root(tmp_path: Path) -> None:
    """Two days in one cell; the second day's file overwritten with text is refused.

    The message names ``day=2/cell=…/part-0.parquet`` (and not ``day=1``'s, nor the cell's
    directory and name alone, which both days' files share).
    """
    from geotarget.errors import InvalidInput

    root = tmp_path / "ds"
    for day in (1, 2):
        devices = Positions([f"d{day}"], [18.0 + day * 1e-4], [59.5], observed_at=T0)
        write_partitioned(devices, root / f"day={day}", cell_deg=0.01)
    (bad,) = (root / "day=2").rglob("part-0.parquet")
    bad.write_text("id,lon,lat\nd2,18.0002,59.5\n")
    named = rf"^day=2/{bad.parent.name}/part-0\.parquet: "
    with pytest.raises(InvalidInput, match=named):
        PartitionedPositions(root)


def test_a_misnamed_file_of_a_nested_dataset_is_named_from_the_root(tmp_path: Path) -> None:
    """A Hive-named copy (``000000_0``) beside the second day's file: named with its day."""
    from geotarget.errors import InvalidInput

    root = tmp_path / "ds"
    for day in (1, 2):
        devices = Positions([f"d{day}"], [18.0 + day * 1e-4], [59.5], observed_at=T0)
        write_partitioned(devices, root / f"day={day}", cell_deg=0.01)
    (good,) = (root / "day=2").rglob("part-0.parquet")
    shutil.copyfile(good, good.parent / "000000_0")
    with pytest.raises(InvalidInput, match=rf"^day=2/{good.parent.name}/000000_0: a Parquet"):
        PartitionedPositions(root)
