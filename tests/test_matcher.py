from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from _matcher_helpers import GEOD, build_area, cloud
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import area_specs

from geotarget import (
    Area,
    AreaIndex,
    Circle,
    InvalidCoordinates,
    InvalidType,
    LiveAreaIndex,
    Location,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
    UnknownCode,
    _leaves,
    _raster,
    matcher,
)

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def _index(lon: Any, lat: Any, **kw: Any) -> PositionIndex:
    lon = np.asarray(lon, dtype=np.float64)
    kw.setdefault("observed_at", NOW)
    return PositionIndex(Positions(np.arange(lon.size), lon, lat, **kw))


@pytest.fixture(params=["few-leaves", "leaf-path", "deep-tree"])
def index_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each query strategy: per-device look-up, whole leaves, a deep tree."""
    if request.param != "few-leaves":
        monkeypatch.setattr(matcher, "_FEW_LEAVES", 0)
    if request.param == "deep-tree":
        monkeypatch.setattr(_leaves, "_TOP", 1)
    return str(request.param)


# ---------------------------------------------------------------------------------------------
# PositionIndex.query
# ---------------------------------------------------------------------------------------------


@given(spec=area_specs())
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_query_equals_brute_force(spec: dict[str, Any], index_mode: str) -> None:
    """Query returns exactly the rows Area.contains accepts, boundaries and margins included."""
    area = build_area(spec)
    rng = np.random.default_rng(spec["seed"])
    lon, lat = cloud(area, 3000, rng)
    index = _index(lon, lat)
    expected = np.flatnonzero(area.contains(lon, lat))
    got = index.query(area)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)
    assert index.count(area) == expected.size


def test_query_skips_rows_without_fix_and_sorts() -> None:
    """Rows without a fix are never returned; rows come back ascending."""
    lon = np.array([18.0, np.nan, 18.0001, 17.0, 18.0002])
    lat = np.array([59.0, np.nan, 59.0, 59.0, 59.0])
    index = _index(lon, lat)
    assert index.query(Circle(18.0, 59.0, 100.0)).tolist() == [0, 2, 4]


def test_query_on_empty_and_all_no_fix_snapshots() -> None:
    """An index without fixes answers every query with no rows."""
    for lon in ([], [np.nan, np.nan]):
        index = _index(lon, list(lon))
        assert index.query(Circle(18.0, 59.0, 1e5)).size == 0
        assert index.count(Circle(18.0, 59.0, 1e5)) == 0


def test_query_across_the_antimeridian() -> None:
    """A circle spanning the antimeridian finds devices on both sides."""
    area = Circle(179.995, 0.0, 5000.0)
    lon = np.array([179.99, -179.99, -179.96, 179.9, 0.0])
    lat = np.zeros(5)
    index = _index(lon, lat)
    np.testing.assert_array_equal(index.query(area), np.flatnonzero(area.contains(lon, lat)))
    assert index.query(area).tolist() == [0, 1]


def test_query_of_a_circle_over_the_pole() -> None:
    """A circle covering the North Pole finds devices all around it."""
    area = Circle(0.0, 89.99, 20_000.0)
    lon = np.array([0.0, 90.0, 180.0, -90.0, 45.0])
    lat = np.array([89.9, 89.95, 89.95, 89.95, 89.5])
    index = _index(lon, lat)
    np.testing.assert_array_equal(index.query(area), np.flatnonzero(area.contains(lon, lat)))


def test_query_rejects_non_areas() -> None:
    """Only Area, Circle and Polygon can be queried."""
    with pytest.raises(InvalidType, match="area must be an Area"):
        _index([1.0], [1.0]).query("x")  # type: ignore[arg-type]


def test_index_needs_positions() -> None:
    """The index is built from a Positions snapshot only."""
    with pytest.raises(InvalidType, match="positions must be a Positions"):
        PositionIndex([1, 2])  # type: ignore[arg-type]


def test_index_memory_is_small() -> None:
    """The index holds about 21 bytes per device."""
    rng = np.random.default_rng(1)
    index = _index(rng.uniform(11, 24, 100_000), rng.uniform(55, 69, 100_000))
    assert index.nbytes / 100_000 < 24
    assert len(index) == 100_000
    assert index.positions.lon.size == 100_000


# ---------------------------------------------------------------------------------------------
# Raster cells are rigorous
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part",
    [
        Circle(18.06, 59.33, 1000.0),
        Circle(20.0, 67.8, 250_000.0, margin_m=1000.0),
        Circle(12.0, 56.0, 3.0),
        Polygon(
            ((18.0, 59.0), (18.3, 59.05), (18.1, 59.3)),
            (((18.1, 59.1), (18.15, 59.1), (18.12, 59.15)),),
        ),
        Polygon(((18.0, 59.0), (18.3, 59.0), (18.3, 59.3), (18.0, 59.3)), margin_m=200.0),
    ],
    ids=["1km", "250km-north", "3m", "triangle-hole", "square-margin"],
)
def test_raster_cells_agree_with_exact_tests(part: Circle | Polygon) -> None:
    """Points in INSIDE cells are inside, points in OUTSIDE cells are outside."""
    ras = _raster.raster(part, 64)
    rng = np.random.default_rng(7)
    west, south, east, north = part._window()
    x = rng.uniform(west, east, 40_000)
    y = rng.uniform(south, north, 40_000)
    # ...and every cell corner, where a wrong corner argument would show first.
    gx = ras.x0 + np.arange(ras.nx + 1) / ras.cells_per_lon
    gy = ras.y0 + np.arange(ras.ny + 1) / ras.cells_per_lat
    cx, cy = (a.reshape(-1) for a in np.meshgrid(gx, gy))
    x = np.concatenate([x, np.clip(cx, -180, 180)])
    y = np.concatenate([y, np.clip(cy, -90, 90)])
    state = ras.lookup(x, y)
    truth = part.contains(x, y)
    assert truth[state == _raster.INSIDE].all()
    assert not truth[state == _raster.OUTSIDE].any()
    assert (state == _raster.INSIDE).sum() > 0.2 * truth.sum()


# ---------------------------------------------------------------------------------------------
# AreaIndex
# ---------------------------------------------------------------------------------------------


def _brute_match(areas: dict[str, Area], lon: Any, lat: Any) -> list[tuple[int, str]]:
    pairs = []
    for key in sorted(areas):
        for row in np.flatnonzero(areas[key].contains(lon, lat)).tolist():
            pairs.append((row, key))
    return sorted(pairs)


@given(specs=st.lists(area_specs(max_parts=2), min_size=1, max_size=5))
@settings(max_examples=40)
def test_match_equals_brute_force(specs: list[dict[str, Any]]) -> None:
    """Match returns exactly the (point, area) pairs brute force finds; match_one agrees."""
    areas = {f"alert-{i}": build_area(s) for i, s in enumerate(specs)}
    rng = np.random.default_rng(specs[0]["seed"])
    clouds = [cloud(a, 300, rng) for a in areas.values()]
    lon = np.concatenate([c[0] for c in clouds])
    lat = np.concatenate([c[1] for c in clouds])
    index = AreaIndex(areas)
    rows, keys = index.match(lon, lat)
    expected = _brute_match(areas, lon, lat)
    assert list(zip(rows.tolist(), keys.tolist(), strict=True)) == expected
    by_row: dict[int, list[str]] = {}
    for r, k in expected:
        by_row.setdefault(r, []).append(k)
    for i in rng.choice(lon.size, size=min(150, lon.size), replace=False).tolist():
        assert index.match_one(float(lon[i]), float(lat[i])) == tuple(by_row.get(i, []))


def test_area_index_snapshots_are_independent() -> None:
    """with_area and without return new snapshots and leave the old one untouched."""
    a = AreaIndex({"b": Circle(18.0, 59.0, 1000.0)})
    b = a.with_area("a", Circle(18.0, 59.0, 500.0))
    c = b.without("b")
    assert list(a) == ["b"]
    assert list(b) == ["a", "b"]
    assert list(c) == ["a"]
    assert a.match_one(18.0, 59.0) == ("b",)
    assert b.match_one(18.0, 59.0) == ("a", "b")
    assert "a" in b
    assert len(c) == 1
    assert b.with_areas({"b": Circle(10.0, 50.0, 10.0)}).match_one(18.0, 59.0) == ("a",)


def test_area_index_rejects_bad_keys_and_unknown_removals() -> None:
    """Keys are non-empty strings; removing an unknown key removes nothing and says which."""
    with pytest.raises(InvalidType, match="non-empty str"):
        AreaIndex({"": Circle(18.0, 59.0, 1.0)})
    idx = AreaIndex({"x": Circle(18.0, 59.0, 1.0)})
    with pytest.raises(UnknownCode, match=r"\['nope'\]"):
        idx.without("x", "nope")
    assert list(idx) == ["x"]


def test_empty_area_index_matches_nothing() -> None:
    """An index with no areas matches no point."""
    rows, keys = AreaIndex().match([18.0], [59.0])
    assert rows.size == 0
    assert keys.size == 0
    assert AreaIndex().match_one(18.0, 59.0) == ()


def test_match_validates_coordinates() -> None:
    """Bad coordinates are rejected before matching."""
    idx = AreaIndex({"x": Circle(18.0, 59.0, 1.0)})
    with pytest.raises(InvalidCoordinates):
        idx.match([18.0], [91.0])
    with pytest.raises(InvalidCoordinates):
        idx.match_one(float("nan"), 59.0)


def test_a_multi_part_area_matches_once() -> None:
    """A point in two parts of one area yields one pair."""
    area = Area([Circle(18.0, 59.0, 1000.0), Circle(18.001, 59.0, 1000.0)])
    rows, keys = AreaIndex({"x": area}).match([18.0005], [59.0])
    assert rows.tolist() == [0]
    assert keys.tolist() == ["x"]


def test_readers_see_whole_snapshots_while_a_writer_swaps() -> None:
    """Concurrent readers always get the answer of exactly one published snapshot."""
    rng = np.random.default_rng(3)
    lon = rng.uniform(17.9, 18.2, 4000)
    lat = rng.uniform(59.2, 59.4, 4000)
    states = [
        {},
        {"a": Area([Circle(18.0, 59.3, 3000.0)])},
        {
            "a": Area([Circle(18.0, 59.3, 3000.0)]),
            "b": Area([Polygon(((18.0, 59.25), (18.15, 59.25), (18.1, 59.38)))]),
        },
        {"b": Area([Polygon(((18.0, 59.25), (18.15, 59.25), (18.1, 59.38)))])},
    ]
    answers = [_brute_match(s, lon, lat) for s in states]
    live = LiveAreaIndex()
    stop = threading.Event()
    failures: list[str] = []
    seen: set[int] = set()
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            reads[0] += 1
            rows, keys = live.match(lon, lat)
            got = list(zip(rows.tolist(), keys.tolist(), strict=True))
            if got not in answers:
                failures.append("an answer matched no snapshot")
                return
            seen.add(answers.index(got))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        rounds = 0
        while rounds < 3 or (reads[0] < 200 and rounds < 500):
            rounds += 1
            steps: list[Callable[[], None]] = [
                lambda: live.add("a", states[1]["a"]),
                lambda: live.add("b", states[2]["b"]),
                lambda: live.remove("a"),
                lambda: live.remove("b"),
                lambda: live.publish(AreaIndex(states[2])),
                lambda: live.publish(AreaIndex()),
            ]
            for step in steps:
                step()
                time.sleep(0.002)  # let the readers run between swaps
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures
    assert len(seen) >= 2
    assert live.snapshot.match_one(18.0, 59.3) == ()


def test_live_index_rejects_non_snapshots() -> None:
    """Only an AreaIndex can be published."""
    with pytest.raises(InvalidType):
        LiveAreaIndex().publish({})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------


def _oracle_ranks(part: Circle | Polygon, x: Any, y: Any, r: Any) -> npt.NDArray[Any]:
    """2 = holds the disk, 1 = meets it, 0 = disjoint, straight from the definitions."""
    if isinstance(part, Circle):
        _, _, d = GEOD.inv(np.full(x.size, part.lon), np.full(x.size, part.lat), x, y)
        d = np.asarray(d)
        holds = d + r <= part.reach_m
        meets = d <= part.reach_m + r
        return np.where(holds, 2, np.where(meets, 1, 0))
    m = part.margin_m
    in_poly = shapely.intersects_xy(part.shape, x, y)
    contained = part.contains(x, y)
    lon0, lat0, metric = part._frame()
    import pyproj

    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84")
    mx, my = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(x, y)
    pts = shapely.points(mx, my)
    d_poly = shapely.distance(metric, pts)
    d_edge = shapely.distance(shapely.boundary(metric), pts)
    holds = np.where(
        r == 0,
        contained,
        np.where(in_poly, (r <= m) | (d_edge > r - m), (r <= m) & (d_poly <= m - r)),
    )
    meets = contained | ((r > 0) & (d_poly <= m + r))
    return np.where(holds, 2, np.where(meets, 1, 0))


@given(spec=area_specs(max_parts=2), factor=st.sampled_from([0.0, 1.0, 2.5]))
@settings(max_examples=40)
def test_classify_equals_the_definition(spec: dict[str, Any], factor: float) -> None:
    """Classify agrees with distance-based oracles for every device, fresh, stale or no fix."""
    area = build_area(spec)
    rng = np.random.default_rng(spec["seed"])
    lon, lat = cloud(area, 1500, rng)
    n = lon.size
    scale = max(p.radius_m if isinstance(p, Circle) else 100.0 for p in area.parts)
    acc = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 0.3 * scale, n))
    nofix = rng.random(n) < 0.05
    lon[nofix] = np.nan
    lat[nofix] = np.nan
    age = rng.uniform(0, 20, n)
    observed = np.datetime64("2025-05-01T12:00:00", "us") - (age * 60e6).astype("timedelta64[us]")
    observed[rng.random(n) < 0.03] = np.datetime64("NaT")
    index = _index(lon, lat, accuracy_m=acc, observed_at=observed)
    rule = LocationRule(max_age=dt.timedelta(minutes=15), accuracy=factor)
    rows, states = index.classify(area, rule, NOW)
    assert rows.dtype == np.int32
    assert states.dtype == np.int8
    assert np.all(np.diff(rows) > 0)

    fix = ~nofix
    current = fix & (observed >= np.datetime64("2025-05-01T11:45:00", "us"))
    best = np.zeros(n, dtype=np.int64)
    sel = np.flatnonzero(current)
    for part in area.parts:
        ranks = _oracle_ranks(part, lon[sel], lat[sel], factor * acc[sel])
        best[sel] = np.maximum(best[sel], ranks)
    want = np.full(n, Location.OUTSIDE, dtype=np.int8)
    want[best == 2] = Location.INSIDE
    want[best == 1] = Location.AMBIGUOUS
    want[~current] = Location.UNKNOWN
    full = np.full(n, Location.OUTSIDE, dtype=np.int8)
    full[rows] = states
    mismatch = np.flatnonzero(full != want)
    assert mismatch.size == 0, (mismatch[:5], full[mismatch[:5]], want[mismatch[:5]])
    if factor == 0.0:
        inside = rows[states == Location.INSIDE]
        np.testing.assert_array_equal(inside, np.intersect1d(index.query(area), sel))


def test_classify_example() -> None:
    """A disk within the circle is INSIDE, one crossing the rim AMBIGUOUS, no fix UNKNOWN."""
    p = Positions(
        ["a", "b", "c", "d"],
        [18.0, 18.0, 18.0, np.nan],
        [59.0, 59.0045, 59.1, np.nan],
        accuracy_m=[10, 100, 10, np.nan],
        observed_at=[NOW, NOW, NOW, None],
    )
    rows, states = PositionIndex(p).classify(Circle(18.0, 59.0, 500.0), LocationRule(), NOW)
    assert rows.tolist() == [0, 1, 3]
    assert [Location(s) for s in states] == [Location.INSIDE, Location.AMBIGUOUS, Location.UNKNOWN]


def test_classify_rejects_a_bad_rule_and_naive_time() -> None:
    """Classify needs a LocationRule and an aware time."""
    index = _index([18.0], [59.0])
    with pytest.raises(InvalidType, match="rule must be a LocationRule"):
        index.classify(Circle(18.0, 59.0, 1.0), None, NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        index.classify(Circle(18.0, 59.0, 1.0), LocationRule(), dt.datetime(2025, 1, 1))


def test_public_names() -> None:
    """The module exposes exactly its documented names."""
    assert dir(matcher) == ["AreaIndex", "LiveAreaIndex", "PositionIndex"]
