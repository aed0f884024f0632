from __future__ import annotations

import datetime as dt
import functools
import itertools
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
import oracle_union
import pyproj
import pytest
import shapely
import shapely.geometry as sg
from _matcher_helpers import GEOD, FloatArray, build_area, cloud
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import area_specs

from geotarget import (
    Area,
    AreaIndex,
    Circle,
    InvalidArea,
    InvalidCoordinates,
    InvalidInput,
    InvalidPositions,
    InvalidType,
    LiveAreaIndex,
    Location,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
    UnknownCode,
    _geodesy,
    matcher,
)
from geotarget._index import buckets as _buckets
from geotarget._index import frames, plan, polygons
from geotarget._index import leaves as _leaves
from geotarget._index import raster as _raster
from geotarget._index.boundary import BoundaryCells
from geotarget._index.leaves import Leaves
from geotarget._index.segments import cut

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
        monkeypatch.setattr(matcher, "_FEW_POLYGON_LEAVES", 0)
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


@given(spec=area_specs(), stale_share=st.sampled_from([0.0, 0.002, 0.05, 1.0]))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_query_of_unfresh_fixes_equals_brute_force(
    spec: dict[str, Any], stale_share: float, index_mode: str
) -> None:
    """The stale-fix query (leaves of fresh fixes skipped) equals brute force, NaT included."""
    area = build_area(spec)
    rng = np.random.default_rng(spec["seed"])
    lon, lat = cloud(area, 3000, rng)
    stamp = np.datetime64(NOW.replace(tzinfo=None), "us")
    old = rng.random(lon.size) < stale_share
    ages = np.where(old, rng.uniform(3_600, 90_000, lon.size), rng.uniform(0, 3_599, lon.size))
    observed = stamp - (ages * 1e6).astype("timedelta64[us]")
    observed[rng.random(lon.size) < stale_share / 4] = np.datetime64("NaT")
    index = _index(lon, lat, observed_at=observed)
    limit = stamp - np.timedelta64(3_600, "s")
    expected = np.flatnonzero(area.contains(lon, lat) & ~(observed >= limit))
    got = index.query(area, observed_before=NOW - dt.timedelta(hours=1))
    np.testing.assert_array_equal(got, expected)
    # The same instant in another offset: the same rows.
    plus14 = dt.timezone(dt.timedelta(hours=14))
    again = index.query(area, observed_before=(NOW - dt.timedelta(hours=1)).astimezone(plus14))
    np.testing.assert_array_equal(again, expected)


def test_query_observed_before_is_checked() -> None:
    index = _index(np.array([18.0]), np.array([59.0]))
    area = Circle(18.0, 59.0, 100.0)
    with pytest.raises(InvalidType, match="observed_before must be a timezone-aware datetime"):
        index.query(area, observed_before="2025-05-01T12:00Z")  # type: ignore[arg-type]
    with pytest.raises(InvalidPositions, match="observed_before must be timezone-aware"):
        index.query(area, observed_before=dt.datetime(2025, 5, 1, 12))
    with pytest.raises(InvalidType, match="return_box must be a bool"):
        index.classify(area, LocationRule(), NOW, return_box="no")  # type: ignore[call-overload]


def test_a_wall_time_the_clocks_skip_is_refused_as_an_instant_asked_about() -> None:
    """A wall time the clocks skip names no instant: the index refuses it, as the Targeter does.

    02:30 on the night Stockholm's clocks jump over it is read by Python as 03:30.
    """
    from zoneinfo import ZoneInfo

    skipped = dt.datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Stockholm"))
    index = _index(np.array([18.0]), np.array([59.0]))
    area = Circle(18.0, 59.0, 100.0)
    rule = LocationRule(max_age=dt.timedelta(hours=1))
    calls: list[tuple[str, Callable[[], object]]] = [
        ("observed_before", lambda: index.query(area, observed_before=skipped)),
        ("at", lambda: index.classify(area, rule, skipped)),
        ("at", lambda: index.positions.age_seconds(skipped)),
        ("observed_at", lambda: Positions(["a"], [18.0], [59.0], observed_at=skipped)),
    ]
    for name, call in calls:
        with pytest.raises(InvalidInput, match=rf"^{name}.* 2024-03-31T02:30:00 does not exist in"):
            call()
    # One that happens twice is an instant (its fold says which); fixed offsets always are.
    twice = dt.datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Stockholm"), fold=1)
    assert index.query(area, observed_before=twice).tolist() == []
    assert index.classify(area, rule, NOW.astimezone(dt.timezone(dt.timedelta(hours=-7))))


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
    """The index holds about 35 bytes per device."""
    rng = np.random.default_rng(1)
    index = _index(rng.uniform(11, 24, 100_000), rng.uniform(55, 69, 100_000))
    assert index.nbytes / 100_000 < 36
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
# The kernels behind whole-leaf accept/reject, each against brute force
# ---------------------------------------------------------------------------------------------


def _rim_points(
    lon0: float, lat0: float, reach: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Points exactly on, and within a millimetre and a metre of, a circle's rim (and inside)."""
    offsets = np.array([0.0, 1e-6, -1e-6, 1e-3, -1e-3, 1.0, -1.0])
    dist = np.concatenate([reach + np.repeat(offsets, 8), rng.uniform(0.0, 2.0 * reach, 100)])
    az = rng.uniform(0.0, 360.0, dist.size)
    x, y, _ = GEOD.fwd(np.full(dist.size, lon0), np.full(dist.size, lat0), az, dist)
    return np.asarray(x), np.asarray(y)


@given(
    lon0=st.floats(-179.0, 179.0),
    lat0=st.floats(-80.0, 80.0),
    reach=st.floats(1.0, 1e6),
    add=st.sampled_from([0.0, 0.5, 37.0]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60)
def test_circle_kernel_equals_geod_inv(
    lon0: float, lat0: float, reach: float, add: float, seed: int
) -> None:
    """geodesic_le decides d + add <= limit exactly as Geod.inv does, rim points included."""
    rng = np.random.default_rng(seed)
    x, y = _rim_points(lon0, lat0, reach, rng)
    got, got_meets = _geodesy.geodesic_le(lon0, lat0, x, y, [(add, reach), (0.0, reach + add)])
    _, _, d = GEOD.inv(np.full(x.size, lon0), np.full(x.size, lat0), x, y)
    d = np.asarray(d)
    np.testing.assert_array_equal(got, d + add <= reach)
    np.testing.assert_array_equal(got_meets, d <= reach + add)
    # One point as Python floats takes the plain-Python path: same answers.
    for i in range(0, x.size, 7):
        one, one_meets = _geodesy.geodesic_le(
            lon0, lat0, float(x[i]), float(y[i]), [(add, reach), (0.0, reach + add)]
        )
        assert (bool(one), bool(one_meets)) == (bool(got[i]), bool(got_meets[i]))


@given(
    lon0=st.floats(-179.0, 179.0),
    lat0=st.floats(-80.0, 80.0),
    reach=st.one_of(st.floats(0.0, 3e-6), st.floats(1.0, 1e6)),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60)
def test_one_circles_kernel_on_squared_chords_equals_geod_inv(
    lon0: float, lat0: float, reach: float, seed: int
) -> None:
    """One circle's kernel (squared chords, one error bound) decides as Geod.inv does.

    Reaches below the chord bounds' slack (nothing is surely inside) and up to 1,000 km,
    points on the rim and within a micrometre of it included.
    """
    rng = np.random.default_rng(seed)
    x, y = _rim_points(lon0, lat0, reach, rng)
    lv = _leaves_of(x, y)
    hits = plan.circle_hits(lv, np.arange(lv.n_leaves), lon0, lat0, reach)
    _, _, d = GEOD.inv(np.full(x.size, lon0), np.full(x.size, lat0), x, y)
    np.testing.assert_array_equal(np.sort(hits), np.flatnonzero(np.asarray(d) <= reach))


def _leaves_of(x: FloatArray, y: FloatArray) -> Leaves:
    return Leaves(x, y, np.zeros(x.size), np.ones(x.size, dtype=np.bool_))


@given(
    lon0=st.floats(11.0, 23.0),
    lat0=st.floats(55.5, 68.0),
    reach=st.floats(5.0, 50_000.0),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40)
def test_circle_leaf_accept_reject_equals_brute_force(
    lon0: float, lat0: float, reach: float, seed: int
) -> None:
    """Leaves accepted whole hold only inside points, rejected ones only outside points."""
    rng = np.random.default_rng(seed)
    x, y = _rim_points(lon0, lat0, reach, rng)
    wx, wy = (rng.uniform(-1, 1, 3000) * reach / 30_000.0 for _ in range(2))
    x = np.concatenate([x, lon0 + wx / np.cos(np.radians(lat0))])
    y = np.concatenate([y, lat0 + wy])
    lv = _leaves_of(x, y)
    circle = Circle(lon0, lat0, reach)
    _, _, d = GEOD.inv(np.full(lv.count, lon0), np.full(lv.count, lat0), lv.xs, lv.ys)
    truth = np.asarray(d) <= reach  # per slot
    leaves = np.arange(lv.n_leaves)
    whole, edge = plan._circle_split(lv, circle, leaves)
    slot_leaf = np.arange(lv.count) // _leaves.LEAF
    assert truth[np.isin(slot_leaf, whole)].all()
    rejected = ~np.isin(slot_leaf, whole) & ~np.isin(slot_leaf, edge)
    assert not truth[rejected].any()
    hits = plan.circle_hits(lv, edge, circle.lon, circle.lat, circle.reach_m)
    want = lv.perm[truth & np.isin(slot_leaf, edge)]
    np.testing.assert_array_equal(np.sort(hits), np.sort(want))


@given(
    lon0=st.floats(-179.0, 179.0),
    lat0=st.floats(-85.0, 85.0),
    top=st.floats(0.0, 3e6),
    spread=st.sampled_from([0.0, 1e-3, 30.0, 2_000.0, 3e6]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60)
def test_chord_inside_of_an_array_is_sound_and_tight(
    lon0: float, lat0: float, top: float, spread: float, seed: int
) -> None:
    """A chord accepted as within ``d`` is shorter than any point's at ``d`` (pyproj's ECEF).

    Per element of an array of distances: the point ``Geod.fwd`` puts at exactly ``d`` in a
    random direction is never accepted; no element's threshold exceeds what it gets on its own
    by more than rounding (negative: nothing fits), and for distances close together none
    gives up a millimetre.
    """
    rng = np.random.default_rng(seed)
    d = np.clip(top - rng.uniform(0.0, spread, 64), 0.0, None)
    got = _geodesy.chord_inside(d)
    alone = np.array([_geodesy.chord_inside(float(v)) for v in d])
    fits = alone >= 0.0  # else no chord is short enough: any negative value says so
    assert (got[fits] <= alone[fits] + 1e-9).all()  # rounding: far within the 2 µm slack
    assert (got[~fits] < 0.0).all()
    if (d.max() - d.min()) * (d.max() / 1.2e7) ** 2 <= 1e-3:
        assert (got[fits] >= alone[fits] - 1e-3).all()
    ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    az = rng.uniform(-180.0, 180.0, d.size)
    x0, y0, z0 = ecef.transform(lon0, lat0, 0.0)
    lon, lat, _ = GEOD.fwd(np.full(d.size, lon0), np.full(d.size, lat0), az, d)
    x, y, z = ecef.transform(lon, lat, np.zeros(d.size))
    chord = np.sqrt((x - x0) ** 2 + (y - y0) ** 2 + (z - z0) ** 2)
    assert (chord > got).all()


@given(
    n=st.integers(1, 700),
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from(["scattered", "run", "run to the end", "empty", "last"]),
)
@settings(max_examples=60, deadline=None)
def test_rows_of_leaves_are_each_leafs_slots_in_order(n: int, seed: int, shape: str) -> None:
    """A view for consecutive leaves, one gather otherwise: each leaf's rows, in leaf order.

    The last leaf may be partial (padding slots are never rows).
    """
    rng = np.random.default_rng(seed)
    lv = Leaves(rng.uniform(17.0, 19.0, n), rng.uniform(59.0, 60.0, n), np.ones(n),
                np.ones(n, dtype=np.bool_))  # fmt: skip
    k = lv.n_leaves
    if shape == "scattered":
        leaves = np.flatnonzero(rng.random(k) < 0.5)
    elif shape == "run":
        a = int(rng.integers(0, k))
        leaves = np.arange(a, int(rng.integers(a, k)) + 1)
    elif shape == "run to the end":
        leaves = np.arange(int(rng.integers(0, k)), k)
    elif shape == "empty":
        leaves = np.arange(0)
    else:
        leaves = np.array([0, k - 1]) if k > 1 else np.array([0])
    want = [lv.perm[i * 32 : min((i + 1) * 32, n)] for i in leaves.tolist()]
    expected = np.concatenate(want) if want else np.empty(0, dtype=np.int32)
    got = lv.rows_of_leaves(leaves)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32


@given(
    west=st.floats(-179.0, 178.0),
    south=st.floats(-89.0, 88.0),
    width=st.floats(1e-9, 40.0),
    height=st.floats(1e-9, 40.0),
)
@settings(max_examples=80)
def test_frame_rho_bounds_the_geodesic_distance_to_the_corners(
    west: float, south: float, width: float, height: float
) -> None:
    """The frame's reach is at least ``Geod.inv``'s to each corner of the bounds, and tight."""
    east, north = min(west + width, 180.0), min(south + height, 90.0)
    box = shapely.box(west, south, east, north)
    lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
    lon = np.array([west, east, west, east])
    lat = np.array([south, south, north, north])
    _, _, d = GEOD.inv(np.full(4, lon0), np.full(4, lat0), lon, lat)
    rho = frames.frame_rho(box)
    assert rho >= d.max()
    assert rho <= d.max() * (1.0 + 2e-3) + 1e-5


@given(
    seed=st.integers(0, 2**32 - 1),
    step=st.sampled_from([1e-3, 1e-4, 0.05]),
    real=st.sampled_from(["", "0180", "2480", "1280"]),
)
@settings(max_examples=40, deadline=None)
def test_local_edges_densify_as_geos_does(seed: int, step: float, real: str) -> None:
    """Edges densified in numpy are GEOS's ``segmentize`` of each edge, vertex for vertex.

    Random edges from a micrometre to tens of kilometres long (some exact multiples of the
    step), or a real municipality's boundary.
    """
    rng = np.random.default_rng(seed)
    if real:
        from geotarget import sweden

        edges = frames.ring_edges(sweden.municipalities()[real].geometry)
    else:
        m = 300
        ax, ay = rng.uniform(10.0, 25.0, m), rng.uniform(55.0, 69.0, m)
        size = 10.0 ** rng.uniform(-9.0, -0.5, m)
        bx, by = ax + rng.normal(0.0, 1.0, m) * size, ay + rng.normal(0.0, 1.0, m) * size
        bx[:20], by[:20] = ax[:20] + 3 * step, ay[:20]
        edges = (ax, ay, bx, by)
    got = frames.local_edges(0.0, 0.0, edges, step, lambda _a, _b, x, y: (x, y))
    ends = np.stack([np.column_stack(edges[:2]), np.column_stack(edges[2:])])
    lines = shapely.segmentize(shapely.linestrings(ends.transpose(1, 0, 2)), step)
    xy, line = shapely.get_coordinates(lines, return_index=True)
    same = line[1:] == line[:-1]
    want = (xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@given(spec=area_specs(max_parts=1), size=st.sampled_from([1e-9, 1e-6, 1e-3]))
@settings(max_examples=40)
def test_boundary_cells_never_miss_a_box_on_the_boundary(spec: dict[str, Any], size: float) -> None:
    """Boxes holding a boundary point meet the cells; cell states agree with brute force."""
    spec["parts"][0]["kind"] = "polygon"
    part = build_area(spec).parts[0]
    assert isinstance(part, Polygon)
    rng = np.random.default_rng(spec["seed"])
    for cells in (1, 64, 4096):
        grid = BoundaryCells(part.shape, cells)
        ring = np.asarray(part.exterior)
        t = rng.uniform(0.0, 1.0, ring.shape[0] - 1)[:, None]
        pts = np.concatenate([ring[:-1], ring[:-1] + t * (ring[1:] - ring[:-1])])
        lo = rng.uniform(0.0, size, pts.shape)
        hi = rng.uniform(0.0, size, pts.shape)
        boxes = np.stack(
            [pts[:, 0] - lo[:, 0], pts[:, 1] - lo[:, 1], -(pts[:, 0] + hi[:, 0]),
             -(pts[:, 1] + hi[:, 1])]
        )  # fmt: skip
        assert grid.meets(boxes).all()
        # Degenerate boxes: the points themselves; their cells are never given a state.
        assert grid.meets(np.stack([pts[:, 0], pts[:, 1], -pts[:, 0], -pts[:, 1]])).all()
        assert (grid.state_of(pts[:, 0], pts[:, 1]) == -1).all()
        # Cell states agree with brute force wherever they are given.
        west, south, east, north = part.bounds
        qx = rng.uniform(west - 1e-3, east + 1e-3, 2000)
        qy = rng.uniform(south - 1e-3, north + 1e-3, 2000)
        state = grid.state_of(qx, qy)
        truth = shapely.intersects_xy(part.shape, qx, qy)
        assert truth[state == 1].all()
        assert not truth[state == 0].any()


@given(spec=area_specs(max_parts=1), cells=st.sampled_from([1, 7, 64, 4096, 100_000]))
@settings(max_examples=40, deadline=None)
def test_boundary_cells_meets_exactly_the_boxes_over_a_marked_cell(
    spec: dict[str, Any], cells: int
) -> None:
    """``meets`` (a summed-area table) is true iff a cell the box covers is marked.

    Oracle: the grid's marked cells (state -1) looked at one by one over each box's range of
    cells; boxes drawn in cell units, their sides inside cells (no rounding question).
    """
    spec["parts"][0]["kind"] = "polygon"
    part = build_area(spec).parts[0]
    assert isinstance(part, Polygon)
    grid = BoundaryCells(part.shape, cells)
    cx, cy = np.meshgrid(
        grid.x0 + (np.arange(grid.nx) + 0.5) * grid.cw,
        grid.y0 + (np.arange(grid.ny) + 0.5) * grid.ch,
    )
    marked = grid.state_of(cx.reshape(-1), cy.reshape(-1)).reshape(grid.ny, grid.nx) == -1
    rng = np.random.default_rng(spec["seed"])
    ix = np.sort(rng.integers(0, grid.nx, (2, 300)), axis=0)
    iy = np.sort(rng.integers(0, grid.ny, (2, 300)), axis=0)
    lo, hi = rng.uniform(0.01, 0.99, (2, 2, 300))
    boxes = np.stack(
        [grid.x0 + (ix[0] + lo[0]) * grid.cw, grid.y0 + (iy[0] + lo[1]) * grid.ch,
         -(grid.x0 + (ix[1] + hi[0]) * grid.cw), -(grid.y0 + (iy[1] + hi[1]) * grid.ch)]
    )  # fmt: skip
    want = [
        bool(marked[iy[0, k] : iy[1, k] + 1, ix[0, k] : ix[1, k] + 1].any()) for k in range(300)
    ]
    assert grid.meets(boxes).tolist() == want


@given(spec=area_specs(max_parts=1), cells=st.sampled_from([1, 64, 4096, 100_000]))
@settings(max_examples=40, deadline=None)
def test_boundary_cells_room_is_free_of_the_boundary(spec: dict[str, Any], cells: int) -> None:
    """A disk of the room a point is given meets no boundary point; its state is right.

    Oracle: the disk as a 72-gon of points ``GEOD.fwd`` puts at the room's distance, shrunk by
    a millimetre (a disk's chords lie inside it), must not meet the rings in lon/lat, for
    points near the boundary and beyond the grid alike.
    """
    spec["parts"][0]["kind"] = "polygon"
    part = build_area(spec).parts[0]
    assert isinstance(part, Polygon)
    rng = np.random.default_rng(spec["seed"])
    grid = BoundaryCells(part.shape, cells, clearance=True)
    west, south, east, north = part.bounds
    pad_x, pad_y = (east - west) * 0.3 + 1e-4, (north - south) * 0.3 + 1e-4
    qx = rng.uniform(west - pad_x, east + pad_x, 400)
    qy = rng.uniform(south - pad_y, north + pad_y, 400)
    state, room = grid.points(qx, qy)
    np.testing.assert_array_equal(state, grid.state_of(qx, qy))
    sure = np.flatnonzero(np.isfinite(room))
    assert (room[sure] > 0.0).all()
    truth = shapely.intersects_xy(part.shape, qx[sure], qy[sure])
    np.testing.assert_array_equal(truth, state[sure] == 1)
    assert (state[sure] >= 0).all()
    az = np.linspace(0.0, 360.0, 72, endpoint=False)
    for i in sure[:60]:
        lon, lat, _ = GEOD.fwd(
            np.full(az.size, qx[i]), np.full(az.size, qy[i]), az, np.full(az.size, room[i] - 1e-3)
        )
        disk = shapely.Polygon(np.column_stack([lon, lat]))
        assert not shapely.intersects(disk, part.shape.boundary), (qx[i], qy[i], room[i])
    # Without clearance nothing is known.
    plain = BoundaryCells(part.shape, cells)
    assert np.isneginf(plain.points(qx, qy)[1]).all()


@pytest.fixture(scope="module")
def two_level_leaves() -> Leaves:
    """100,000 devices in towns and countryside: more leaves than one level holds."""
    rng = np.random.default_rng(11)
    towns = rng.uniform([11.0, 55.5], [23.0, 68.0], size=(40, 2))
    pick = towns[rng.integers(0, 40, 70_000)]
    lon = np.concatenate([pick[:, 0] + rng.normal(0, 0.05, 70_000), rng.uniform(11, 23, 30_000)])
    lat = np.concatenate([pick[:, 1] + rng.normal(0, 0.03, 70_000), rng.uniform(55.5, 68, 30_000)])
    lv = _leaves_of(lon, lat)
    assert lv.levels, "the fixture must exercise the tree's upper level"
    return lv


@given(data=st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_leaf_ids_in_equals_the_leaves_whose_devices_meet_the_window(
    two_level_leaves: Leaves, data: st.DataObject
) -> None:
    """The box scan finds exactly the leaves with a device box meeting the window, edges in."""
    lv = two_level_leaves
    k = -(-lv.count // _leaves.LEAF)
    pad = np.full(k * _leaves.LEAF - lv.count, np.nan)
    x = np.concatenate([lv.xs, pad]).reshape(k, _leaves.LEAF)
    y = np.concatenate([lv.ys, pad]).reshape(k, _leaves.LEAF)
    west, east = np.nanmin(x, axis=1), np.nanmax(x, axis=1)
    south, north = np.nanmin(y, axis=1), np.nanmax(y, axis=1)
    # A window's sides: anywhere, or exactly on some leaf's box side (touching counts).
    edges = (west, east, south, north)

    def side(lo: float, hi: float) -> float:
        if data.draw(st.booleans()):
            which = data.draw(st.integers(0, 3))
            return float(edges[which][data.draw(st.integers(0, k - 1))])
        return data.draw(st.floats(lo, hi))

    w, e = sorted([side(10.5, 23.5), side(10.5, 23.5)])
    s, n = sorted([side(55.0, 68.5), side(55.0, 68.5)])
    want = np.flatnonzero((west <= e) & (east >= w) & (south <= n) & (north >= s))
    np.testing.assert_array_equal(lv.leaf_ids_in(w, s, e, n), want)


@given(spec=area_specs(max_parts=1))
@settings(max_examples=40)
def test_polygon_leaf_accept_reject_equals_brute_force(spec: dict[str, Any]) -> None:
    """Polygon leaves accepted or rejected whole agree with brute force, edge points included."""
    spec["parts"][0]["kind"] = "polygon"
    area = build_area(spec)
    part = area.parts[0]
    assert isinstance(part, Polygon)
    rng = np.random.default_rng(spec["seed"])
    lon, lat = cloud(area, 4000, rng)
    lv = _leaves_of(lon, lat)
    truth = part.contains(lv.xs, lv.ys)
    leaves, boxes = lv.leaves_in(*part.bounds)
    whole, edge, cells = plan._polygon_split(lv, part, leaves, boxes)
    slot_leaf = np.arange(lv.count) // _leaves.LEAF
    assert truth[np.isin(slot_leaf, whole)].all()
    rejected = ~np.isin(slot_leaf, whole) & ~np.isin(slot_leaf, edge)
    assert not truth[rejected].any()
    hits = plan.polygon_hits(lv, part, edge, cells)
    want = lv.perm[truth & np.isin(slot_leaf, edge)]
    np.testing.assert_array_equal(np.sort(hits), np.sort(want))


@given(
    n=st.integers(2, 40),
    spread=st.sampled_from([1e-4, 0.01, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_many_circles_in_one_pass_equal_brute_force(
    n: int, spread: float, seed: int, index_mode: str
) -> None:
    """The batched (circle, leaf) pass equals brute force, rim points of every circle included."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = 18.0 + rng.uniform(-1, 1), 60.0 + rng.uniform(-1, 1)
    circles = [
        Circle(float(x), float(y), float(r))
        for x, y, r in zip(
            lon0 + rng.normal(0, spread, n),
            lat0 + rng.normal(0, spread / 2, n),
            10 ** rng.uniform(0.5, 4.0, n),
            strict=True,
        )
    ]
    rims = [_rim_points(c.lon, c.lat, c.reach_m, rng) for c in circles]
    lon = np.concatenate([lon0 + rng.normal(0, 2 * spread, 2000), *(r[0] for r in rims)])
    lat = np.concatenate([lat0 + rng.normal(0, spread, 2000), *(r[1] for r in rims)])
    area = Area(circles)
    index = _index(lon, lat)
    np.testing.assert_array_equal(index.query(area), np.flatnonzero(area.contains(lon, lat)))


def test_an_area_of_many_circles_equals_brute_force() -> None:
    """Hundreds of circles, matched in one pass, give exactly the union brute force gives."""
    rng = np.random.default_rng(11)
    circles = [
        Circle(float(x), float(y), float(r))
        for x, y, r in zip(
            rng.normal(18.06, 0.05, 300),
            rng.normal(59.33, 0.03, 300),
            rng.uniform(5, 800, 300),
            strict=True,
        )
    ]
    area = Area(circles)
    pts = [_rim_points(c.lon, c.lat, c.reach_m, rng) for c in circles[:40]]
    lon = np.concatenate([rng.normal(18.06, 0.06, 20_000), *(p[0] for p in pts)])
    lat = np.concatenate([rng.normal(59.33, 0.04, 20_000), *(p[1] for p in pts)])
    index = _index(lon, lat)
    np.testing.assert_array_equal(index.query(area), np.flatnonzero(area.contains(lon, lat)))


def test_adversarial_areas_answer_exactly_in_bounded_memory() -> None:
    """A 1,000-circle area and a 1e-8° sliver are answered exactly in a few megabytes."""
    rng = np.random.default_rng(5)
    lon = rng.normal(18.06, 0.1, 200_000)
    lat = rng.normal(59.33, 0.05, 200_000)
    # Some devices exactly on the sliver's long edge.
    lon[:100] = np.linspace(17.95, 18.15, 100)
    lat[:100] = 59.33
    index = _index(lon, lat)
    circles = Area(
        [
            Circle(float(x), float(y), float(r))
            for x, y, r in zip(
                rng.normal(18.06, 0.1, 1000),
                rng.normal(59.33, 0.05, 1000),
                rng.uniform(50, 2000, 1000),
                strict=True,
            )
        ]
    )
    sliver = Area([Polygon([(17.9, 59.33), (18.2, 59.33), (18.2, 59.33 + 1e-8)])])
    for area, limit in ((circles, 48 << 20), (sliver, 8 << 20)):
        want = np.flatnonzero(area.contains(lon, lat))
        tracemalloc.start()
        try:
            got = index.query(area)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(got, want)
        assert peak < limit, peak
    assert index.query(sliver).size >= 100
    # Classified with accuracy disks (circles together, over pairs in chunks): bounded too,
    # and consistent with the query: every device inside is INSIDE or AMBIGUOUS, no other.
    acc = rng.uniform(0.0, 100.0, lon.size)
    fuzzy = _index(lon, lat, accuracy_m=acc)
    tracemalloc.start()
    try:
        rows, states = fuzzy.classify(circles, LocationRule(accuracy=1.0), NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20, peak
    inside = np.flatnonzero(circles.contains(lon, lat))
    assert np.isin(rows[states == Location.INSIDE], inside).all()
    assert np.isin(inside, rows[states != Location.OUTSIDE]).all()


def test_a_dense_boundary_is_classified_exactly_in_bounded_memory() -> None:
    """A 5,000-vertex jagged ring over 50,000 devices: the definition's ranks in tens of MB.

    Every device lies near the boundary, whose cells each list many of its pieces: millions of
    (device, piece) pairs. Measured all at once they held some 200 MB (a 50,000-vertex ring at
    1.2 M devices, 3.5 GB); a chunk at a time, the memory is the devices', the pieces' and one
    chunk's. The ranks of a sample are the definition's (GEOS in the polygon's own frame).
    """
    rng = np.random.default_rng(3)
    n, k = 5_000, 50_000
    angle = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    radius = 0.01 * (1.0 + 0.5 * rng.random(n))
    ring = np.c_[
        18.0 + radius * np.cos(angle) / np.cos(np.radians(59.0)), 59.0 + radius * np.sin(angle)
    ]
    lon = 18.0 + rng.uniform(-0.03, 0.03, k)
    lat = 59.0 + rng.uniform(-0.016, 0.016, k)
    acc = rng.uniform(5.0, 50.0, k)
    index = _index(lon, lat, accuracy_m=acc)
    part = Polygon(ring)
    tracemalloc.start()
    try:
        rows, states = index.classify(part, LocationRule(), NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80 << 20, peak
    full = np.zeros(k, dtype=np.int64)
    full[rows] = np.where(states == Location.INSIDE, 2, 1)
    sample = rng.choice(k, 2_000, replace=False)
    want = _oracle_ranks(part, lon[sample], lat[sample], acc[sample])
    assert _mismatch(full[sample], want).size == 0
    assert (want == 1).sum() > 500 and (want == 2).sum() > 100  # near the boundary, mostly


def test_a_boundary_denser_than_any_cell_costs_no_pairs_per_device_and_segment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A comb of 10,000 teeth in 200 metres: every device's cells list every tooth.

    The segment grid's cell is never smaller than its longest segment, so each of the 500
    devices near the comb was measured against all of its 20,000 edges, twice: 20 million
    (device, segment) pairs here, and 70 million, ten seconds, for a 50,000-tooth comb
    around five devices of the 1.2 M-device benchmark population. Beyond about a thousand
    pairs a device such devices are left to GEOS's indexed distance: the ranks are still the
    definition's.
    """
    from geotarget._index import segments

    measured = [0]
    pairs = segments.SegmentGrid._pairs

    def counting(self: Any, *args: Any) -> Any:
        for q, j in pairs(self, *args):
            measured[0] += int(q.size)
            yield q, j

    monkeypatch.setattr(segments.SegmentGrid, "_pairs", counting)
    teeth, w, h = 10_000, 0.002, 0.001
    xs = np.linspace(18.0 - w / 2, 18.0 + w / 2, 2 * teeth + 1)
    ys = np.where(np.arange(xs.size) % 2 == 0, 59.0 + h / 2, 59.0 - h * 0.49)
    ring = np.r_[[[18.0 - w / 2, 59.0 - h / 2], [18.0 + w / 2, 59.0 - h / 2]], np.c_[xs, ys][::-1]]
    part = Polygon(ring)
    rng = np.random.default_rng(5)
    k = 500
    lon = 18.0 + rng.uniform(-0.7 * w, 0.7 * w, k)
    lat = 59.0 + rng.uniform(-0.7 * h, 0.7 * h, k)
    acc = np.where(np.arange(k) % 5 == 0, 0.0, rng.uniform(1.0, 30.0, k))
    index = _index(lon, lat, accuracy_m=acc)
    rows, states = index.classify(part, LocationRule(), NOW)
    assert measured[0] <= 2_000_000, measured[0]
    full = np.zeros(k, dtype=np.int64)
    full[rows] = np.where(states == Location.INSIDE, 2, 1)
    assert _mismatch(full, _oracle_ranks(part, lon, lat, acc)).size == 0
    assert (full == 1).sum() > 300 and (full == 2).sum() > 10 and (full == 0).sum() > 10


# ---------------------------------------------------------------------------------------------
# AreaIndex
# ---------------------------------------------------------------------------------------------


def _brute_match(areas: dict[str, Area], lon: Any, lat: Any) -> list[tuple[int, str]]:
    pairs = []
    for key in sorted(areas):
        for row in np.flatnonzero(areas[key].contains(lon, lat)).tolist():
            pairs.append((row, key))
    return sorted(pairs)


@given(
    specs=st.lists(area_specs(max_parts=2), min_size=1, max_size=5),
    chunk=st.sampled_from([1, 7, 1 << 18]),
)
@settings(max_examples=40)
def test_match_equals_brute_force(specs: list[dict[str, Any]], chunk: int) -> None:
    """Match returns exactly the (point, area) pairs brute force finds; match_one agrees.

    With any number of candidate pairs per chunk (``buckets.PAIR_CHUNK``: 1 makes each point
    a chunk of its own).
    """
    areas = {f"alert-{i}": build_area(s) for i, s in enumerate(specs)}
    rng = np.random.default_rng(specs[0]["seed"])
    clouds = [cloud(a, 300, rng) for a in areas.values()]
    lon = np.concatenate([c[0] for c in clouds])
    lat = np.concatenate([c[1] for c in clouds])
    index = AreaIndex(areas)
    with mock.patch.object(_buckets, "PAIR_CHUNK", chunk):
        rows, keys = index.match(lon, lat)
    expected = _brute_match(areas, lon, lat)
    assert list(zip(rows.tolist(), keys.tolist(), strict=True)) == expected
    by_row: dict[int, list[str]] = {}
    for r, k in expected:
        by_row.setdefault(r, []).append(k)
    for i in rng.choice(lon.size, size=min(150, lon.size), replace=False).tolist():
        assert index.match_one(float(lon[i]), float(lat[i])) == tuple(by_row.get(i, []))


def test_match_of_overlapping_areas_holds_little_beside_its_answer() -> None:
    """200 overlapping circles over 100,000 points: millions of pairs, memory near the answer's.

    The candidate (point, part) pairs are expanded and tested a chunk at a time: all at once
    their temporaries took nine times the answer's memory (3.3 million pairs: 712 MB).
    """
    rng = np.random.default_rng(4)
    k, m = 100_000, 200
    lon = 18.07 + rng.uniform(-0.1, 0.1, k)
    lat = 59.33 + rng.uniform(-0.05, 0.05, k)
    centre_lon = 18.07 + rng.normal(0.0, 0.03, m)
    centre_lat = 59.33 + rng.normal(0.0, 0.015, m)
    radius = rng.uniform(500.0, 3000.0, m)
    circles = [
        Circle(float(x), float(y), float(r))
        for x, y, r in zip(centre_lon, centre_lat, radius, strict=True)
    ]
    index = AreaIndex({f"c{i:03d}": c for i, c in enumerate(circles)})
    tracemalloc.start()
    try:
        rows, keys = index.match(lon, lat)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows.size > 1_000_000
    assert peak < 3 * (rows.nbytes + keys.nbytes), (peak, rows.nbytes + keys.nbytes)
    # The answer, circle by circle, against Geod.
    for i in rng.choice(m, 5, replace=False).tolist():
        _, _, d = GEOD.inv(np.full(k, centre_lon[i]), np.full(k, centre_lat[i]), lon, lat)
        want = np.flatnonzero(np.asarray(d) <= radius[i])
        np.testing.assert_array_equal(rows[keys == f"c{i:03d}"], want)


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


def test_match_of_points_not_in_a_line_is_a_coordinates_error() -> None:
    """Points given as a 2-D array or a scalar are InvalidCoordinates (not InvalidArea)."""
    idx = AreaIndex({"x": Circle(18.0, 59.0, 1.0)})
    with pytest.raises(InvalidCoordinates, match=r"one-dimensional \(got shape \(2, 2\)\)$"):
        idx.match(np.full((2, 2), 18.0), np.full((2, 2), 59.0))
    with pytest.raises(InvalidCoordinates, match="for one point call match_one"):
        idx.match(18.0, 59.0)


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


@functools.lru_cache(maxsize=16)
def _oracle_frame(part: Polygon) -> tuple[Any, Any]:
    """The polygon's metric frame as documented (:attr:`Polygon.margin_error_bound_m`).

    Azimuthal equidistant at the centre of its lon/lat bounds, its rings densified to 0.001° as
    lines; returns the lon/lat → metres transformer and the polygon in metres (drawn once for
    equal polygons: only read).
    """
    import pyproj

    west, south, east, north = part.shape.bounds
    lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84")
    t = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    rings = [
        shapely.transform(
            shapely.segmentize(ring, 0.001), lambda xy: np.column_stack(t.transform(*xy.T))
        )
        for ring in [part.shape.exterior, *part.shape.interiors]
    ]
    return t, sg.Polygon(rings[0], rings[1:])


def _metric_distances(metric: Any, pts: Any) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """GEOS's distances from each point to the polygon and to its boundary, in its frame.

    The same numbers as ``shapely.distance(metric, pts)`` and
    ``shapely.distance(shapely.boundary(metric), pts)``: a point's distance to the boundary is
    its distance to the nearest of the rings' segments (GEOS measures a line segment by
    segment), found through an STRtree of the segments instead of by walking every segment
    for every point; to the polygon it is 0 where the polygon meets the point. (The densified
    ring of a country-sized polygon has some 10^5 segments.)
    """
    coords = [shapely.get_coordinates(ring) for ring in [metric.exterior, *metric.interiors]]
    segs = np.concatenate([np.stack([c[:-1], c[1:]], axis=1) for c in coords])
    lines: Any = shapely.linestrings(segs)
    tree = shapely.STRtree(lines)
    (which, _), d = tree.query_nearest(pts, return_distance=True, all_matches=False)
    d_edge = np.full(len(pts), np.nan)
    d_edge[which] = d
    shapely.prepare(metric)  # (GEOS's same answer, each point not walking every edge)
    d_poly = np.where(shapely.intersects(metric, pts), 0.0, d_edge)
    return d_poly, d_edge


#: Rim points per disk of :func:`_held_by_grown`'s test for a point of the disk beyond the margin.
_ORACLE_RIM = 256


def _held_by_grown(
    metric: Any, m: float, mx: Any, my: Any, r: Any
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Whether the metric polygon grown by ``m`` surely holds each disk, and where unsure.

    Surely not held when a point of the disk's rim lies farther than ``m`` from the polygon
    (GEOS's exact distance, 256 rim points); surely held when GEOS's polygon grown by ``m``
    (arcs of 256 chords a circle) holds the disk with 4 % of ``m`` to spare (GEOS simplifies
    a buffer's input by up to 1 % of the distance, and the matcher keeps 2 % of the margin as
    slack: documented); unsure otherwise.
    """
    a = np.linspace(0.0, 2.0 * np.pi, _ORACLE_RIM, endpoint=False)
    rx = (np.asarray(mx)[:, None] + np.asarray(r)[:, None] * np.cos(a)).reshape(-1)
    ry = (np.asarray(my)[:, None] + np.asarray(r)[:, None] * np.sin(a)).reshape(-1)
    d_rim, _ = _metric_distances(metric, shapely.points(rx, ry))
    beyond = (d_rim.reshape(-1, _ORACLE_RIM) > m + 1e-3).any(axis=1)
    grown = shapely.buffer(metric, m, quad_segs=64)
    shapely.prepare(grown)
    pts = shapely.points(mx, my)
    held = shapely.covers(grown, pts) & (
        shapely.distance(shapely.boundary(grown), pts) > r + 0.04 * m + 1e-3
    )
    return held & ~beyond, ~held & ~beyond


def _mismatch(full: npt.NDArray[Any], want: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """Where the matcher's ranks differ from the oracle's (-1: held or met allowed)."""
    return np.flatnonzero((full != want) & ~((want == -1) & (full >= 1)))


def _oracle_ranks(part: Circle | Polygon, x: Any, y: Any, r: Any) -> npt.NDArray[Any]:
    """2 = holds the disk, 1 = meets it, 0 = disjoint, straight from the definitions.

    -1 where the disk meets a polygon with a margin and the oracle cannot tell whether the
    polygon grown by its margin holds it (:func:`_held_by_grown`): 1 or 2 is allowed.
    """
    if isinstance(part, Circle):
        _, _, d = GEOD.inv(np.full(x.size, part.lon), np.full(x.size, part.lat), x, y)
        d = np.asarray(d)
        holds = d + r <= part.reach_m
        meets = d <= part.reach_m + r
        return np.where(holds, 2, np.where(meets, 1, 0))
    m = part.margin_m
    in_poly = shapely.intersects_xy(part.shape, x, y)
    contained = part.contains(x, y)
    t, metric = _oracle_frame(part)
    mx, my = t.transform(x, y)
    pts = shapely.points(mx, my)
    d_poly, d_edge = _metric_distances(metric, pts)
    holds = np.where(
        r == 0,
        contained,
        np.where(in_poly, (r <= m) | (d_edge > r - m), (r <= m) & (d_poly <= m - r)),
    )
    meets = contained | ((r > 0) & (d_poly <= m + r))
    ranks = np.where(holds, 2, np.where(meets, 1, 0))
    # A disk held by no side of the boundary alone may still lie within the margin whole
    # (over water narrower than twice the margin): the grown polygon decides it.
    sel = np.flatnonzero((ranks == 1) & (r > 0) & (m > 0))
    if sel.size:
        held, unsure = _held_by_grown(metric, m, mx[sel], my[sel], r[sel])
        ranks[sel[held]] = 2
        ranks[sel[unsure]] = -1
    return ranks


def _oracle_best(
    parts: tuple[Circle | Polygon, ...], x: Any, y: Any, r: Any
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """Each disk's rank against the whole area, and where either answer is allowed.

    2 when one part holds it (:func:`_oracle_ranks`) or, met by several parts, their union
    does (:mod:`oracle_union`); 1 when it meets the area otherwise; 0 disjoint. ``either``:
    held by the union, or by a polygon grown by its margin, within the matcher's documented
    conservative band (2 or 1 allowed).
    """
    raw = [_oracle_ranks(part, x, y, r) for part in parts]
    each = [np.abs(e) for e in raw]  # an unsure disk is met, held by that part or not
    best = np.max(each, axis=0)
    either = np.zeros(best.size, dtype=np.bool_)
    either |= (best == 1) & np.any([e == -1 for e in raw], axis=0)
    met = np.sum([e >= 1 for e in each], axis=0)
    for i in np.flatnonzero((best == 1) & (met >= 2)):
        near = [part for part, e in zip(parts, each, strict=True) if e[i] >= 1]
        held, unsure = oracle_union.inside_together(near, float(x[i]), float(y[i]), float(r[i]))
        best[i] = 2 if held else 1
        either[i] = either[i] or unsure
    return best, either


def _assert_the_box_holds_them(
    index: PositionIndex,
    area: Area,
    rule: LocationRule,
    rows: npt.NDArray[np.int32],
    states: npt.NDArray[np.int8],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
) -> None:
    """The box classify reports beside its rows holds every one of their fixes (None: none).

    The Targeter decides a region for all the rows from that box without their coordinates:
    a fix outside it could be counted in the wrong county, or told outside the rollout.
    """
    boxed_rows, boxed_states, box = index.classify(area, rule, NOW, return_box=True)
    np.testing.assert_array_equal(boxed_rows, rows)
    np.testing.assert_array_equal(boxed_states, states)
    if rows.size == 0:
        assert box is None
        return
    assert box is not None
    west, south, east, north = box
    x, y = lon[rows], lat[rows]
    assert (x >= west).all() and (x <= east).all(), (box, x.min(), x.max())
    assert (y >= south).all() and (y <= north).all(), (box, y.min(), y.max())


def test_the_box_of_a_classification_holds_leaves_taken_whole_and_devices_tested() -> None:
    """The box spans leaves taken whole and devices tested one by one, far apart.

    Two crowds deep inside a large square (their leaves taken whole, no device tested) and a
    few devices on a circle's rim far away (each tested).
    """
    rng = np.random.default_rng(5)
    crowds = [(18.00, 59.30), (18.30, 59.40)]
    lon = np.concatenate(
        [rng.normal(x, 0.002, 3000) for x, _ in crowds] + [18.8 + 0.01 * rng.random(40)]
    )
    lat = np.concatenate(
        [rng.normal(y, 0.001, 3000) for _, y in crowds] + [59.0 + 0.01 * rng.random(40)]
    )
    index = _index(lon, lat, accuracy_m=np.full(lon.size, 5.0))
    square = Polygon([(17.8, 59.2), (18.5, 59.2), (18.5, 59.5), (17.8, 59.5)])
    rim = Circle(18.805, 59.005, 400.0)
    for area in (Area([square]), Area([square, rim])):
        rows, states = index.classify(area, LocationRule(), NOW)
        assert rows.size >= 6000
        _assert_the_box_holds_them(index, area, LocationRule(), rows, states, lon, lat)


@given(
    spec=area_specs(max_parts=2),
    factor=st.sampled_from([0.0, 1.0, 2.5]),
    rare=st.booleans(),
)
@settings(max_examples=40)
def test_classify_equals_the_definition(spec: dict[str, Any], factor: float, rare: bool) -> None:
    """Classify agrees with distance-based oracles: fresh fixes ranked, stale ones near UNKNOWN.

    ``rare``: old and undated fixes are few, so most leaves hold none (their ages are not
    looked up one by one); otherwise most leaves hold some. Some fixes are exactly as old as
    ``max_age`` allows (fresh), some a microsecond older (stale).
    """
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
    if rare:
        age = np.where(rng.random(n) < 0.004, rng.uniform(15, 20, n), rng.uniform(0, 15, n))
    observed = np.datetime64("2025-05-01T12:00:00", "us") - (age * 60e6).astype("timedelta64[us]")
    limit = np.datetime64("2025-05-01T11:45:00", "us")
    observed[rng.random(n) < 0.01] = limit  # as old as allowed: fresh
    observed[rng.random(n) < (0.002 if rare else 0.01)] = limit - np.timedelta64(1, "us")  # stale
    observed[rng.random(n) < (0.002 if rare else 0.03)] = np.datetime64("NaT")
    index = _index(lon, lat, accuracy_m=acc, observed_at=observed)
    rule = LocationRule(max_age=dt.timedelta(minutes=15), accuracy=factor)
    rows, states = index.classify(area, rule, NOW)
    assert rows.dtype == np.int32
    assert states.dtype == np.int8
    assert np.all(np.diff(rows) > 0)
    _assert_the_box_holds_them(index, area, rule, rows, states, lon, lat)

    fix = ~nofix
    current = fix & (observed >= np.datetime64("2025-05-01T11:45:00", "us"))
    best = np.zeros(n, dtype=np.int64)
    either = np.zeros(n, dtype=np.bool_)
    located = np.flatnonzero(fix)
    best[located], either[located] = _oracle_best(
        area.parts, lon[located], lat[located], factor * acc[located]
    )
    sel = np.flatnonzero(current)
    # Only fixes whose disk meets the area are listed; a stale one is UNKNOWN, no fix never.
    want = np.full(n, Location.OUTSIDE, dtype=np.int8)
    want[best == 2] = Location.INSIDE
    want[best == 1] = Location.AMBIGUOUS
    want[fix & ~current & (best >= 1)] = Location.UNKNOWN
    full = np.full(n, Location.OUTSIDE, dtype=np.int8)
    full[rows] = states
    allowed = either & current & np.isin(full, [Location.INSIDE, Location.AMBIGUOUS])
    mismatch = np.flatnonzero((full != want) & ~allowed)
    assert mismatch.size == 0, (mismatch[:5], full[mismatch[:5]], want[mismatch[:5]])
    if factor == 0.0:
        inside = rows[states == Location.INSIDE]
        np.testing.assert_array_equal(inside, np.intersect1d(index.query(area), sel))
    # A polygon without margin is first decided from its boundary near the devices alone (its
    # metric frame is built only if GEOS must decide a point); with the frame built, the same.
    for part in area.parts:
        if isinstance(part, Polygon):
            polygons.frame(part)
    again_rows, again_states = index.classify(area, rule, NOW)
    np.testing.assert_array_equal(again_rows, rows)
    np.testing.assert_array_equal(again_states, states)


def _comb_ring(teeth: int, west: float, south: float, width: float, height: float) -> Any:
    """A comb of north-south teeth rising from a solid spine, as a closed lon/lat ring."""
    xs = np.linspace(west, west + width, 2 * teeth + 1)
    ys = np.where(np.arange(xs.size) % 2 == 0, south + height, south + 0.01 * height)
    ring = np.r_[[[west, south], [west + width, south]], np.c_[xs, ys][::-1]]
    return np.r_[ring, ring[:1]]


def _ranks_of(index: PositionIndex, area: Area, n: int) -> npt.NDArray[Any]:
    rows, states = index.classify(area, LocationRule(), NOW)
    got = np.zeros(n, dtype=np.int64)
    got[rows[states == Location.INSIDE]] = 2
    got[rows[states == Location.AMBIGUOUS]] = 1
    return got


@given(
    teeth=st.integers(3, 120),
    seed=st.integers(0, 10_000),
    spread=st.sampled_from([0.3, 3.0, 30.0]),
)
@settings(max_examples=25, deadline=None)
def test_classify_in_steps_of_growing_reach_equals_the_definition(
    teeth: int, seed: int, spread: float
) -> None:
    """Disks reaching over much of a long boundary are ranked in steps: the same ranks.

    The first look for the boundary pieces near the devices is made to find them over budget,
    so every device whose disk meets the comb's boundary is ranked with its radius capped, the
    cap growing (``classify._in_steps``), each step against only the densified pieces near the
    devices (``frames.pieces_near_boxes``, bit for bit the frame's own). Radii span three
    orders of magnitude, from centimetres between teeth to kilometres over the comb.
    """
    from geotarget._index import classify as _classify

    rng = np.random.default_rng(seed)
    ring = _comb_ring(teeth, 17.99, 58.995, 0.02, 0.01)
    part = Polygon(ring)
    lon = np.r_[17.99 + rng.uniform(-0.002, 0.022, 1500), ring[:, 0]]
    lat = np.r_[58.995 + rng.uniform(-0.001, 0.011, 1500), ring[:, 1]]
    acc = rng.lognormal(np.log(spread), 1.5, lon.size)
    acc[rng.random(lon.size) < 0.05] = 0.0
    index = _index(lon, lat, accuracy_m=acc)
    looks = [0]
    pieces = frames.pieces_near_boxes

    def over_budget_first(*args: Any) -> Any:
        looks[0] += 1
        return (None, None) if looks[0] == 1 else pieces(*args)

    with (
        mock.patch.multiple(_classify, _DENSE_PER_DEVICE=0.0, _all_edges_if_few=lambda *args: None),
        mock.patch.object(frames, "pieces_near_boxes", over_budget_first),
    ):
        got = _ranks_of(index, Area([part]), lon.size)
    want = _oracle_ranks(part, lon, lat, acc)
    mismatch = _mismatch(got, want)
    assert mismatch.size == 0, (mismatch[:5], got[mismatch[:5]], want[mismatch[:5]])
    assert looks[0] >= 2  # the steps looked again


@given(spec=area_specs(max_parts=2), factor=st.sampled_from([1.0, 2.5]))
@settings(max_examples=30, deadline=None)
def test_classify_through_the_pieces_r_tree_equals_the_definition(
    spec: dict[str, Any], factor: float
) -> None:
    """The routes a long or crowded boundary takes, forced on ordinary areas: the same ranks.

    The screen's cells are made to list too many pieces for every box, so the pieces' R-tree
    decides the boxes and finds the densified pieces near them
    (``frames.pieces_near_boxes``); the pieces near the devices left to the metric frame are
    always selected (``frames.pieces_in_boxes``), by every pair or by bucketing.
    """
    from geotarget._index import classify as _classify

    area = build_area(spec)
    rng = np.random.default_rng(spec["seed"])
    lon, lat = cloud(area, 1500, rng)
    scale = max(p.radius_m if isinstance(p, Circle) else 100.0 for p in area.parts)
    acc = np.where(rng.random(lon.size) < 0.2, 0.0, rng.uniform(0.0, 0.3 * scale, lon.size))
    index = _index(lon, lat, accuracy_m=acc)
    brute = bool(spec["seed"] % 2)
    with (
        mock.patch.multiple(
            _classify,
            _SCREEN_PAIRS=0,
            _SCREEN_PAIRS_FLOOR=0,
            _FEW_LEFT_PIECES=0,
            _FEW_LEFT_SHARE=1e9,
            _DENSE_PER_DEVICE=0.0,
            _all_edges_if_few=lambda *args: None,
        ),
        mock.patch.object(frames, "BRUTE_BOX_PAIRS", 1 << 62 if brute else 0),
    ):
        rows, states = index.classify(area, LocationRule(accuracy=factor), NOW)
    got = np.zeros(lon.size, dtype=np.int64)
    got[rows[states == Location.INSIDE]] = 2
    got[rows[states == Location.AMBIGUOUS]] = 1
    best, either = _oracle_best(area.parts, lon, lat, factor * acc)
    bad = np.flatnonzero((got != best) & ~(either & (got >= 1)))
    assert bad.size == 0, (bad[:5], got[bad[:5]], best[bad[:5]])


def _segment_set(ax: Any, ay: Any, bx: Any, by: Any) -> set[tuple[float, float, float, float]]:
    return {
        (float(a), float(b), float(c), float(d)) for a, b, c, d in zip(ax, ay, bx, by, strict=True)
    }


def _same(lon0: float, lat0: float, x: Any, y: Any) -> tuple[Any, Any]:
    """No projection: :func:`frames.local_edges` in lon/lat, to compare pieces bit for bit."""
    return x, y


def test_the_pieces_near_boxes_are_the_frame_s_own_and_all_of_those_meeting_them() -> None:
    """Pieces selected near boxes are the whole densification's, bit for bit, and complete.

    Against the densified boundary ``shapely.segmentize`` draws (the frame's own vertices)
    and every piece that meets a box there (``shapely.intersects``), for long edges cut
    every which way and boxes of every size.
    """
    rng = np.random.default_rng(7)
    ring = _comb_ring(40, 17.99, 58.995, 0.02, 0.01)
    part = Polygon(ring)
    edges = polygons.edges(part)
    dense = shapely.get_coordinates(shapely.segmentize(part.shape.exterior, polygons.DENSIFY_DEG))
    whole = _segment_set(dense[:-1, 0], dense[:-1, 1], dense[1:, 0], dense[1:, 1])
    cx, cy = rng.uniform(17.985, 18.015, 60), rng.uniform(58.99, 59.01, 60)
    half = rng.choice([1e-6, 1e-4, 3e-3], 60)
    boxes = (cx - half, cy - half, cx + half, cy + half)
    segs: Any = shapely.linestrings(np.stack([dense[:-1], dense[1:]], axis=1))
    meets = shapely.intersects(segs[:, None], shapely.box(*boxes)[None, :]).any(axis=1)
    want = _segment_set(
        dense[:-1, 0][meets], dense[:-1, 1][meets], dense[1:, 0][meets], dense[1:, 1][meets]
    )
    for most in (1e-3, 3e-4, 7e-3):
        pax, pay, pbx, pby, piece_edge = cut(*edges, most)
        first = np.searchsorted(piece_edge, piece_edge)
        i = np.arange(piece_edge.size) - first
        k = np.searchsorted(piece_edge, piece_edge, side="right") - first
        segments = frames.Cut(pax, pay, pbx, pby, piece_edge, i / k, (i + 1.0) / k)
        found, hit = frames.pieces_near_boxes(
            edges, polygons.DENSIFY_DEG, segments, boxes, 1 << 30, 1 << 30
        )
        assert found is not None and hit is not None
        near, dense_runs = found
        got = _segment_set(
            *frames.local_edges(0.0, 0.0, near, polygons.DENSIFY_DEG, _same, dense_runs)
        )
        assert got <= whole
        assert want <= got
        for brute in (1 << 62, 0):
            with mock.patch.object(frames, "BRUTE_BOX_PAIRS", brute):
                few = frames.pieces_in_boxes(near, dense_runs, boxes)
            chosen = _segment_set(
                *frames.local_edges(0.0, 0.0, few[0], polygons.DENSIFY_DEG, _same, few[1])
            )
            assert want <= chosen <= got


def test_classifying_a_comb_of_20_000_teeth_costs_the_boundary_near_its_devices() -> None:
    """The comb's whole frame (4 million segments) is never built for devices with wide disks.

    20,000 teeth across 0.2° × 0.1° (bench_matcher's), 20,000 devices over it with radii up to
    a kilometre: ranked in 13 s and 1.26 GB from the whole frame before, now from the pieces
    near each device as its radius is capped and grown. Every disk meets a tooth (they are
    50 cm apart), none but the spine's smallest is held; a sample is checked against the
    definition's oracle on a comb cut to the sample's surroundings.
    """
    rng = np.random.default_rng(11)
    ring = _comb_ring(20_000, 17.97, 59.28, 0.2, 0.1)
    part = Polygon(ring)
    lon = 17.97 + rng.uniform(0.0, 0.2, 20_000)
    lat = 59.28 + rng.uniform(-0.002, 0.1, 20_000)
    acc = np.clip(rng.lognormal(np.log(12.0), 0.8, lon.size), 3.0, 1000.0)
    index = _index(lon, lat, accuracy_m=acc)
    tracemalloc.start()
    try:
        got = _ranks_of(index, Area([part]), lon.size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert polygons.frame_if_built(part) is None
    assert peak < 256 * 2**20, peak
    # Over the teeth (50 cm apart, radii of 3 m or more): every disk meets one, none is held.
    teeth = (lat > 59.2815) & (lat < 59.38)
    assert teeth.sum() > 15_000
    assert (got[teeth] == 1).all()
    # Below the comb and in its spine, the nearest boundary is the spine's straight southern
    # edge or the teeth's notches 0.001° north of it: ranks away from those thresholds.
    _, _, south = GEOD.inv(lon, lat, lon, np.full(lon.size, 59.28))
    _, _, notch = GEOD.inv(lon, lat, lon, np.full(lon.size, 59.281))
    below, spine = lat < 59.28, (lat > 59.28) & (lat < 59.281)
    d = np.where(below, south, np.minimum(south, notch))
    clear = (below | spine) & (np.abs(d - acc) > 2.0)
    assert clear.sum() > 150
    want = np.where(spine, np.where(d > acc, 2, 1), np.where(d <= acc, 1, 0))
    np.testing.assert_array_equal(got[clear], want[clear])


@given(
    count=st.integers(2, 40),
    seed=st.integers(0, 10_000),
    factor=st.sampled_from([0.0, 1.0, 2.5]),
    square=st.booleans(),
)
@settings(max_examples=20)
@pytest.mark.slow
def test_classify_of_many_circles_equals_the_definition(
    count: int, seed: int, factor: float, square: bool
) -> None:
    """An area of many overlapping circles (a CAP document's), and a square: the same ranks.

    Circles are classified together over (circle, leaf) pairs; each device gets the best rank
    of any part, against the distance-based oracle part by part. (800 random devices and the
    boundary points: the union oracle measures each disk met by two parts or more on its own,
    a few milliseconds each.)
    """
    rng = np.random.default_rng(seed)
    parts: list[Circle | Polygon] = [
        Circle(18.0 + dx, 59.3 + dy, r)
        for dx, dy, r in zip(
            rng.normal(0.0, 0.01, count),
            rng.normal(0.0, 0.005, count),
            rng.uniform(20.0, 600.0, count),
            strict=True,
        )
    ]
    if square:
        parts.append(Polygon([(18.0, 59.3), (18.01, 59.3), (18.01, 59.305), (18.0, 59.305)]))
    area = Area(parts)
    lon, lat = cloud(area, 800, rng)
    n = lon.size
    acc = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 150.0, n))
    index = _index(lon, lat, accuracy_m=acc)
    rows, states = index.classify(area, LocationRule(accuracy=factor), NOW)
    assert np.all(np.diff(rows) > 0)
    _assert_the_box_holds_them(index, area, LocationRule(accuracy=factor), rows, states, lon, lat)
    best, either = _oracle_best(area.parts, lon, lat, factor * acc)
    want = np.full(n, Location.OUTSIDE, dtype=np.int8)
    want[best == 2] = Location.INSIDE
    want[best == 1] = Location.AMBIGUOUS
    full = np.full(n, Location.OUTSIDE, dtype=np.int8)
    full[rows] = states
    allowed = either & np.isin(full, [Location.INSIDE, Location.AMBIGUOUS])
    mismatch = np.flatnonzero((full != want) & ~allowed)
    assert mismatch.size == 0, (mismatch[:5], full[mismatch[:5]], want[mismatch[:5]])


def test_classify_holds_a_disk_that_only_the_parts_together_hold() -> None:
    """A union of parts is one area: a disk across two parts' shared border is INSIDE.

    Two municipalities drawn as adjacent polygons, two overlapping circles, a circle beside a
    polygon: each disk below lies within the area but within no part alone. It came back
    AMBIGUOUS, and a kind that fails closed (police information) left the device out though
    it was in the middle of the area.
    """
    west = Polygon([(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)])
    east = Polygon([(18.1, 59.0), (18.2, 59.0), (18.2, 59.1), (18.1, 59.1)])
    whole = Polygon([(18.0, 59.0), (18.2, 59.0), (18.2, 59.1), (18.0, 59.1)])
    # Two 1 km circles 1 km apart: their union reaches sqrt(1000**2 - 500**2) ~ 866 m from the
    # midpoint across the waist, more along the axis.
    lon_m, lat_m, _ = GEOD.fwd(18.5, 59.3, 90.0, 500.0)
    lon_e, lat_e, _ = GEOD.fwd(18.5, 59.3, 90.0, 1000.0)
    pair: list[Circle | Polygon] = [Circle(18.5, 59.3, 1000.0), Circle(lon_e, lat_e, 1000.0)]
    lon_w, lat_w, _ = GEOD.fwd(18.1, 59.05, 270.0, 2900.0)
    beside: list[Circle | Polygon] = [Circle(lon_w, lat_w, 3000.0)]  # rim 100 m across the border
    cases: list[tuple[list[Circle | Polygon], float, float, float, Location]] = [
        ([west, east], 18.1, 59.05, 100.0, Location.INSIDE),  # on the shared border
        ([west, east], 18.1003, 59.02, 400.0, Location.INSIDE),
        ([west, east], 18.1, 59.0995, 100.0, Location.AMBIGUOUS),  # reaches past the top
        ([west, east], 18.001, 59.05, 100.0, Location.AMBIGUOUS),  # past the west edge
        (pair, lon_m, lat_m, 800.0, Location.INSIDE),  # within 866 m across the waist
        (pair, lon_m, lat_m, 900.0, Location.AMBIGUOUS),  # beyond the waist
        ([*beside, east], 18.1, 59.05, 50.0, Location.INSIDE),
        ([*beside, east], 18.1, 59.05, 1000.0, Location.AMBIGUOUS),  # past the rim
    ]
    for parts, x, y, r, want in cases:
        index = _index([x], [y], accuracy_m=[r])
        held, _ = oracle_union.inside_together(parts, x, y, r)
        assert held == (want is Location.INSIDE), (parts, x, y, r)
        rows, states = index.classify(Area(parts), LocationRule(), NOW)
        assert rows.tolist() == [0]
        assert Location(int(states[0])) is want, (parts, x, y, r)
    # The two halves classify as the whole rectangle does, device by device.
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(17.99, 18.21, 3000), np.full(300, 18.1)])
    lat = np.concatenate([rng.uniform(58.99, 59.11, 3000), rng.uniform(58.99, 59.11, 300)])
    acc = rng.uniform(0.0, 800.0, lon.size)
    index = _index(lon, lat, accuracy_m=acc)
    rows_p, states_p = index.classify(Area([west, east]), LocationRule(), NOW)
    rows_w, states_w = index.classify(Area([whole]), LocationRule(), NOW)
    np.testing.assert_array_equal(rows_p, rows_w)
    differ = np.flatnonzero(states_p != states_w)
    for i in differ:  # only where the decision is within the documented band of its threshold
        row = rows_p[i]
        s = oracle_union.slack([whole], lon[row], lat[row], acc[row])
        assert abs(s) <= oracle_union.band([whole], acc[row]), (row, s)
    assert differ.size <= 3


@given(seed=st.integers(0, 10_000), cuts=st.integers(1, 3), factor=st.sampled_from([1.0, 2.5]))
@settings(max_examples=12, deadline=None)
def test_classify_of_a_polygon_cut_in_pieces_equals_the_whole(
    seed: int, cuts: int, factor: float
) -> None:
    """A polygon cut along lines into pieces classifies as the whole does: parts are one area.

    The pieces share the cut's vertices, as adjacent regions of one dataset do. Device by device, but for disks whose boundary distance lies within the documented
    conservative band of their radius (there the pieces may answer AMBIGUOUS).
    """
    from shapely.ops import split

    rng = np.random.default_rng(seed)
    k = int(rng.integers(8, 30))
    az = np.sort(rng.uniform(0.0, 360.0, k))
    lon_r, lat_r, _ = GEOD.fwd(
        np.full(k, 18.0), np.full(k, 59.3), az, rng.uniform(800.0, 3000.0, k)
    )
    whole_shape = sg.Polygon(np.column_stack([lon_r, lat_r]))
    assume(whole_shape.is_valid)
    pieces: Any = sg.GeometryCollection([whole_shape])
    for _ in range(cuts):
        a = rng.uniform(0.0, 180.0)
        lon_a, lat_a, _ = GEOD.fwd(18.0, 59.3, a, 5000.0)
        lon_b, lat_b, _ = GEOD.fwd(18.0, 59.3, a + 180.0, 5000.0)
        shift = rng.uniform(-0.01, 0.01)
        line = sg.LineString([(lon_a + shift, lat_a), (lon_b + shift, lat_b)])
        pieces = sg.GeometryCollection(
            [g for piece in pieces.geoms for g in split(piece, line).geoms]
        )
    parts = [Polygon.from_shapely(g) for g in pieces.geoms if isinstance(g, sg.Polygon)]
    whole = Polygon.from_shapely(whole_shape)
    lon, lat = cloud(Area([whole]), 2500, rng)
    acc = np.where(rng.random(lon.size) < 0.1, 0.0, rng.uniform(0.0, 400.0, lon.size))
    index = _index(lon, lat, accuracy_m=acc)
    rule = LocationRule(accuracy=factor)
    got = {}
    for name, area in (("pieces", Area(parts)), ("whole", Area([whole]))):
        rows, states = index.classify(area, rule, NOW)
        full = np.full(lon.size, Location.OUTSIDE, dtype=np.int8)
        full[rows] = states
        got[name] = full
    # (The cut's new vertices are rounded: a fix exactly on the whole's boundary beside one
    # may lie a hair outside every piece. Such differences are within the band too.)
    for row in np.flatnonzero(got["pieces"] != got["whole"]):
        r = factor * acc[row]
        s = oracle_union.slack([whole], lon[row], lat[row], r)
        assert abs(s) <= oracle_union.band([whole], r), (row, s, got["pieces"][row])


@pytest.mark.parametrize("margin_m", [0.0, 60.0])
def test_classify_of_a_sliver_equals_the_definition(margin_m: float) -> None:
    """A valid polygon nanometres wide keeps its whole boundary: disks along all of it ranked.

    (Its metric frame once lost half of the boundary: GEOS mended the densified polygon.)
    """
    ring = [
        (125.83009079135115, 25.085414622991095),
        (125.82057752948839, 25.09921094948129),
        (125.81918353235758, 25.10123255256766),
    ]
    part = Polygon(ring, margin_m=margin_m)
    rng = np.random.default_rng(11)
    n = 3000
    edge = rng.integers(0, 3, n)
    t = rng.uniform(0.0, 1.0, n)
    a, b = np.array(ring)[edge], np.array(ring)[(edge + 1) % 3]
    base = a + (b - a) * t[:, None]
    lon, lat, _ = GEOD.fwd(base[:, 0], base[:, 1], rng.uniform(0, 360, n), rng.uniform(0, 150, n))
    acc = rng.uniform(0.0, 80.0, n)
    rows, states = _index(lon, lat, accuracy_m=acc).classify(part, LocationRule(), NOW)
    want = _oracle_ranks(part, np.asarray(lon), np.asarray(lat), acc)
    full = np.zeros(n, dtype=np.int64)
    full[rows] = np.where(states == Location.INSIDE, 2, 1)
    assert (want > 0).sum() > 500
    assert _mismatch(full, want).size == 0


@given(
    lon0=st.floats(-180.0, 180.0),
    lat0=st.floats(-89.0, 89.0),
    theta=st.sampled_from([1e-5, 1e-3, 0.03, 0.1]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60)
def test_tangent_plane_distances_are_within_their_stated_factor_of_geodesic_ones(
    lon0: float, lat0: float, theta: float, seed: int
) -> None:
    """``to_tangent`` keeps distances within ``[1 - theta**2, 1]`` of ``Geod.inv``'s.

    Points within ``theta * R_MIN`` (geodesic) of the plane's centre, anywhere on Earth,
    pole and antimeridian included; classify's tangent-plane bound rests on this.
    """
    from geotarget import _geodesy

    rng = np.random.default_rng(seed)
    n = 400
    reach = theta * _geodesy.R_MIN
    lon, lat, _ = GEOD.fwd(
        np.full(n, lon0), np.full(n, lat0), rng.uniform(0, 360, n), rng.uniform(0, reach, n)
    )
    x, y = _geodesy.to_tangent(lon0, lat0, np.asarray(lon), np.asarray(lat))
    i, j = rng.integers(0, n, (2, 2000))
    plane = np.hypot(x[i] - x[j], y[i] - y[j])
    _, _, geo = GEOD.inv(
        np.asarray(lon)[i], np.asarray(lat)[i], np.asarray(lon)[j], np.asarray(lat)[j]
    )
    geo = np.asarray(geo)
    assert np.all(plane <= geo * (1.0 + 1e-12) + 1e-6)
    assert np.all(plane >= geo * (1.0 - theta**2) - 1e-6)


@given(
    lon0=st.floats(-180.0, 180.0),
    lat0=st.floats(-90.0, 90.0),
    theta=st.sampled_from([1e-6, 1e-3, 0.05, 0.2, 0.3]),
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([200, 3000]),
)
@settings(max_examples=80)
def test_tangent_plane_coordinates_equal_projs_topocentric_ones(
    lon0: float, lat0: float, theta: float, seed: int, n: int
) -> None:
    """``to_tangent`` is PROJ's topocentric east and north of the points, to nanometres.

    PROJ's pipeline (geodetic to ECEF to topocentric) shares no code with it; points within
    ``theta * R_MIN`` of the centre, poles and antimeridian included, on both sides of the
    angle from which ``to_tangent`` leaves its series for ECEF, and as few and as many points
    as take ``np.sin`` or the series for the small angles.
    """
    from pyproj import Transformer

    from geotarget import _geodesy

    assert 200 < _geodesy._TAYLOR_MIN <= 3000
    rng = np.random.default_rng(seed)
    lon, lat, _ = GEOD.fwd(
        np.full(n, lon0),
        np.full(n, lat0),
        rng.uniform(0, 360, n),
        rng.uniform(0, theta * _geodesy.R_MIN, n),
    )
    topocentric = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        "+step +proj=cart +ellps=WGS84 "
        f"+step +proj=topocentric +ellps=WGS84 +lon_0={lon0!r} +lat_0={lat0!r}"
    )
    east, north, _ = topocentric.transform(np.asarray(lon), np.asarray(lat), np.zeros(n))
    x, y = _geodesy.to_tangent(lon0, lat0, np.asarray(lon), np.asarray(lat))
    assert np.all(np.abs(x - east) <= 1e-8)
    assert np.all(np.abs(y - north) <= 1e-8)


@pytest.mark.parametrize(
    ("radius_km", "vertices"),
    [
        (8.0, 40),  # a town: its whole boundary is measured at once
        (300.0, 60),  # a region: the edges near the devices are screened first
        pytest.param(1800.0, 24, marks=pytest.mark.slow),  # beyond the tangent plane's reach:
        # every device decided exactly
    ],
)
def test_classify_decides_disks_touching_the_boundary_within_millimetres(
    radius_km: float, vertices: int
) -> None:
    """Disks whose edge lies millimetres from a polygon's boundary, either side, rank right.

    Each device sits a random distance ``d`` (in the polygon's metric frame, measured by the
    oracle) from the boundary, inside or outside, with a radius of ``d`` plus or minus 20 m
    down to 50 µm: the fast distances must either decide it as the definition does or leave
    it to the exact test.
    """
    rng = np.random.default_rng(int(radius_km))
    angle = np.sort(rng.uniform(0.0, 2.0 * np.pi, vertices))
    reach = radius_km * 1000.0 * rng.uniform(0.6, 1.0, vertices)
    lon_v, lat_v, _ = GEOD.fwd(
        np.full(vertices, 16.0), np.full(vertices, 62.0), np.degrees(angle), reach
    )
    part = Polygon(np.column_stack([lon_v, lat_v]))
    t, metric = _oracle_frame(part)
    ring = shapely.get_coordinates(metric.exterior)
    n_anchor = 300
    seg = rng.integers(0, len(ring) - 1, n_anchor)
    a, b = ring[seg], ring[seg + 1]
    mid = a + (b - a) * rng.uniform(0.1, 0.9, n_anchor)[:, None]
    normal = np.column_stack([-(b - a)[:, 1], (b - a)[:, 0]])
    normal /= np.hypot(normal[:, 0], normal[:, 1])[:, None]
    at = mid + normal * rng.uniform(-300.0, 300.0, n_anchor)[:, None]
    lon, lat = t.transform(at[:, 0], at[:, 1], direction="INVERSE")
    d = _metric_distances(metric, shapely.points(at))[1]  # to its one ring, as GEOS measures
    assert np.array_equal(d[:5], shapely.distance(metric.exterior, shapely.points(at[:5])))
    eps = np.array([20.0, 3.0, 0.5, 0.05, 5e-3, 1e-3, 5e-5])
    eps = np.concatenate([-eps, eps])
    lon = np.repeat(lon, eps.size)
    lat = np.repeat(lat, eps.size)
    acc = np.repeat(d, eps.size) + np.tile(eps, n_anchor)
    keep = acc > 0.0
    lon, lat, acc = lon[keep], lat[keep], acc[keep]
    rows, states = _index(lon, lat, accuracy_m=acc).classify(part, LocationRule(), NOW)
    want = _oracle_ranks(part, np.asarray(lon), np.asarray(lat), acc)
    full = np.zeros(lon.size, dtype=np.int64)
    full[rows] = np.where(states == Location.INSIDE, 2, 1)
    assert {0, 1, 2} <= set(want.tolist())
    mismatch = _mismatch(full, want)
    assert mismatch.size == 0, (mismatch[:5], full[mismatch[:5]], want[mismatch[:5]])


@given(
    spec=area_specs(max_parts=1),
    repeats=st.lists(st.tuples(st.integers(0, 63), st.integers(1, 3)), min_size=1, max_size=4),
    margin_m=st.sampled_from([0.0, 0.0, 40.0]),
)
@settings(max_examples=40)
def test_a_ring_with_repeated_vertices_classifies_as_without_them(
    spec: dict[str, Any], repeats: list[tuple[int, int]], margin_m: float
) -> None:
    """A vertex repeated (as real CAP polygons and rounded boundaries have) changes nothing.

    Disks near every vertex (accuracy up to a third of the polygon's size) rank as the
    definition says and as for the ring without the repeats. (A repeated vertex once crashed
    inside GEOS: the zero-length edge was densified on its own.)
    """
    parts = [p for p in build_area(spec).parts if isinstance(p, Polygon)]
    if not parts:
        return
    plain = Polygon(parts[0].exterior, parts[0].holes, margin_m=margin_m)
    ring = list(plain.exterior[:-1])
    for at, times in repeats:
        k = at % len(ring)
        ring[k:k] = [ring[k]] * times  # the vertex k, repeated
    ring.append(ring[-1])  # the closing vertex repeated too
    part = Polygon(ring, plain.holes, margin_m=margin_m)
    rng = np.random.default_rng(spec["seed"])
    vx, vy = np.asarray(plain.exterior).T
    n = 40 * vx.size
    base = rng.integers(0, vx.size, n)
    size = 0.3 * spec["parts"][0]["radius_m"]
    lon, lat, _ = GEOD.fwd(vx[base], vy[base], rng.uniform(0, 360, n), rng.uniform(0, size, n))
    lon, lat = np.concatenate([lon, vx]), np.concatenate([lat, vy])  # and on the vertices
    acc = rng.uniform(0.0, size, lon.size)
    index = _index(lon, lat, accuracy_m=acc)
    rows, states = index.classify(part, LocationRule(), NOW)
    want = _oracle_ranks(plain, np.asarray(lon), np.asarray(lat), acc)
    full = np.zeros(lon.size, dtype=np.int64)
    full[rows] = np.where(states == Location.INSIDE, 2, 1)
    assert _mismatch(full, want).size == 0
    plain_rows, plain_states = index.classify(plain, LocationRule(), NOW)
    np.testing.assert_array_equal(rows, plain_rows)
    np.testing.assert_array_equal(states, plain_states)


ring_points = st.lists(
    st.tuples(st.integers(-3, 3), st.integers(-3, 3)).map(
        lambda v: (18.0 + v[0] / 8, 59.0 + v[1] / 8)
    ),
    min_size=3,
    max_size=12,
)


@given(exterior=ring_points, holes=st.lists(ring_points, max_size=3), known=st.booleans())
def test_ring_edges_are_every_ring_s_consecutive_distinct_vertices(
    exterior: list[tuple[float, float]], holes: list[list[tuple[float, float]]], known: bool
) -> None:
    """``ring_edges`` holds, ring by ring, each pair of consecutive vertices that differ.

    Rings drawn from a coarse lattice, so vertices repeat (next to each other too) and a ring
    may end where the next begins; with the rings' sizes given (as :class:`Polygon` does) and
    without. The oracle walks each ring's coordinates in plain Python.
    """
    shape = sg.Polygon(exterior, holes)
    rings = [list(shape.exterior.coords), *(list(h.coords) for h in shape.interiors)]
    want = [(a, b) for ring in rings for a, b in itertools.pairwise(ring) if a != b]
    ax, ay, bx, by = frames.ring_edges(shape, [len(r) for r in rings] if known else None)
    starts = zip(ax.tolist(), ay.tolist(), strict=True)
    got = list(zip(starts, zip(bx.tolist(), by.tolist(), strict=True), strict=True))
    assert got == want


def test_classify_example() -> None:
    """A disk within the circle is INSIDE, one crossing the rim AMBIGUOUS, no fix not listed."""
    p = Positions(
        ["a", "b", "c", "d"],
        [18.0, 18.0, 18.0, np.nan],
        [59.0, 59.0045, 59.1, np.nan],
        accuracy_m=[10, 100, 10, np.nan],
        observed_at=[NOW, NOW, NOW, None],
    )
    rows, states = PositionIndex(p).classify(Circle(18.0, 59.0, 500.0), LocationRule(), NOW)
    assert rows.tolist() == [0, 1]
    assert [Location(s) for s in states] == [Location.INSIDE, Location.AMBIGUOUS]


def test_classify_rejects_a_bad_rule_and_naive_time() -> None:
    """Classify needs a LocationRule and an aware time."""
    index = _index([18.0], [59.0])
    with pytest.raises(InvalidType, match="rule must be a LocationRule"):
        index.classify(Circle(18.0, 59.0, 1.0), None, NOW)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="timezone-aware"):
        index.classify(Circle(18.0, 59.0, 1.0), LocationRule(), dt.datetime(2025, 1, 1))


def test_public_names() -> None:
    """The module exposes exactly its documented names."""
    assert dir(matcher) == ["AreaIndex", "LiveAreaIndex", "PositionIndex"]


def test_area_index_changes_of_the_wrong_shape_are_type_errors() -> None:
    """with_areas of a non-mapping, without() of a non-str key: InvalidType, nothing changed.

    They raised AttributeError and "unhashable type" TypeError before.
    """
    index = AreaIndex({"a": Circle(18.0, 59.0, 100.0)})
    for bad in (None, [("b", Circle(18.0, 59.0, 100.0))], "b"):
        with pytest.raises(InvalidType, match="areas must be a mapping of alert id to Area"):
            index.with_areas(bad)  # type: ignore[arg-type]
    for key in (["a"], None, 5):
        with pytest.raises(InvalidType, match="area keys must be non-empty str alert ids"):
            index.without(key)  # type: ignore[arg-type]
    assert list(index.areas) == ["a"]


def _ngon(lon: float, lat: float, radius_m: float, n: int, spin: float) -> npt.NDArray[Any]:
    """A regular-looking lon/lat ``n``-gon ``radius_m`` around a point (as CAP draws a circle)."""
    az = spin + np.linspace(0.0, 360.0, n, endpoint=False)
    x, y, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m))
    return np.column_stack([x, y])


@given(
    lon=st.floats(-179.0, 179.0),
    lat=st.floats(-80.0, 80.0),
    radius_m=st.sampled_from([30.0, 1000.0, 20_000.0, 150_000.0]),
    n=st.integers(3, 64),
    spin=st.floats(0.0, 360.0),
    hole=st.booleans(),
    offset=st.floats(0.0, 1.5),
)
@settings(max_examples=60, deadline=None)
def test_centre_bounds_hold_the_metric_boundary_between_them(
    lon: float, lat: float, radius_m: float, n: int, spin: float, hole: bool, offset: float
) -> None:
    """The metric polygon lies within ``outer`` of its centre, its boundary beyond ``inner``.

    Each bound tight to a centimetre (``inner`` to its scale factor too). The oracle: the frame
    built from pyproj's ``aeqd`` CRS and shapely distances in it (not the library's tangent
    plane or chords). ``offset`` moves the centre of the ring's box off the ring's own centre
    (a box centre outside the polygon, or in its hole, has ``inner == -inf``); a hole beside
    the box centre bounds ``inner`` too.
    """
    holes = [_ngon(lon + 1e-9, lat, radius_m * 0.2, 7, spin)[::-1]] if hole else []
    # Its eastern vertices pushed east: the centre of its box moves off the ring's centre.
    shifted = _ngon(lon, lat, radius_m, n, spin)
    shifted[:, 0] += offset * (shifted[:, 0].max() - shifted[:, 0].min()) * (shifted[:, 0] > lon)
    # A ring across the antimeridian (wrapped by Geod.fwd, or pushed past it) is not this
    # test's case: its lon/lat polygon is not the n-gon drawn.
    assume(np.ptp(shifted[:, 0]) < 90.0 and float(np.abs(shifted[:, 0]).max()) <= 180.0)
    try:
        part = Polygon(shifted, holes)
    except InvalidArea:  # a hole no longer inside the stretched ring: not this test's case
        return
    got = polygons.centre_bounds(part)
    dense = frames.dense_vertices(frames.ring_edges(part.shape), polygons.DENSIFY_DEG)
    if dense > frames.CENTRE_DENSE:
        assert got is None
        assert polygons._memo(part).get("dense") is None  # nor is its boundary densified for them
        return
    assert got is not None
    inner, outer = got
    _, metric = _oracle_frame(part)
    far = float(np.hypot(*shapely.get_coordinates(metric).T).max())
    assert far <= outer <= far + 0.01
    origin = sg.Point(0.0, 0.0)
    if shapely.intersects(part.shape, sg.Point(*polygons.origin(part))):
        near = float(shapely.distance(metric.boundary, origin))
        # The tangent plane's bound gives up its scale factor (about 6 theta**2, theta the
        # angle to the box's corners) and rounding.
        west, south, _, north = part.shape.bounds
        c_lon, c_lat = polygons.origin(part)
        _, _, corner = GEOD.inv([c_lon] * 2, [c_lat] * 2, [west, west], [south, north])
        theta = float(np.max(corner)) / 6.3e6
        assert near - 8.0 * theta**2 * near - 0.01 <= inner <= near
    else:
        assert inner == -np.inf


@pytest.mark.parametrize(
    ("radius_m", "n", "margin_m", "hole"),
    [
        (1000.0, 16, 0.0, False),  # an Explosion drawn as a polygon
        (1000.0, 16, 0.0, True),
        (400.0, 5, 35.0, False),  # with a margin: the rim devices through the metric frame
        (25_000.0, 64, 0.0, False),  # a larger compact area
    ],
)
def test_classify_of_a_compact_polygon_at_its_centre_thresholds(
    radius_m: float, n: int, margin_m: float, hole: bool
) -> None:
    """Disks whose reach lies millimetres from the centre's bounds, either side, rank right.

    A compact polygon's leaves and devices are decided by their distance from the frame's
    centre against how near and how far its boundary lies (``inner``/``outer``); devices
    are placed so that ``d + r`` (held) or ``d - r`` (met) falls within millimetres of those
    reaches, with radii from zero to hundreds of metres, and ranked against the oracle.
    The margin of its grown copy (a stale area) answers the same points as the oracle too.
    """
    lon0, lat0 = 18.07, 59.33
    ring = _ngon(lon0, lat0, radius_m, n, 7.0)
    holes = [_ngon(lon0 + 0.0001, lat0, radius_m * 0.1, 6, 0.0)[::-1]] if hole else []
    part = Polygon(ring, holes, margin_m=margin_m)
    bounds = polygons.centre_bounds(part)
    assert bounds is not None
    inner, outer = bounds
    assert (inner == -np.inf) == hole or inner > 0.0
    c_lon, c_lat = polygons.origin(part)
    # Where the bounds are tight: toward the boundary's nearest points (the feet of the
    # perpendiculars from the centre) and its farthest ones (the vertices), in the frame.
    frame, metric = _oracle_frame(part)
    xy = shapely.get_coordinates(metric.exterior)
    a, e = xy[:-1], xy[1:] - xy[:-1]
    t = np.clip(-(a * e).sum(axis=1) / (e * e).sum(axis=1), 0.0, 1.0)
    foot = a + e * t[:, None]
    toward = np.degrees(np.arctan2(np.r_[foot[:, 0], xy[:, 0]], np.r_[foot[:, 1], xy[:, 1]]))
    near = float(shapely.distance(metric.boundary, sg.Point(0.0, 0.0)))
    far = float(np.hypot(*shapely.get_coordinates(metric).T).max())
    rng = np.random.default_rng(int(radius_m) + n)
    k = 6000
    eps = np.where(
        rng.random(k) < 0.7,
        rng.uniform(-0.012, 0.012, k),
        rng.choice([-5.0, -0.05, -0.001, 0.0, 0.001, 0.05, 5.0], k),
    )
    r = np.where(rng.random(k) < 0.15, 0.0, rng.uniform(0.0, 0.3 * radius_m, k))
    # Held iff d + max(r - m, 0) is within the nearest boundary; met iff d - r - m within the
    # farthest: around the library's bounds and the oracle's own distances.
    which = rng.integers(0, 5, k)
    hold_base = np.where(which == 0, inner if np.isfinite(inner) else near, near)
    meet_base = np.where(which == 2, outer, far)
    reach = np.where(
        which < 2,
        hold_base - np.maximum(r - margin_m, 0.0),
        np.where(which < 4, meet_base + margin_m + r, rng.uniform(0.0, 1.3 * far + r, k)),
    )
    reach = np.maximum(reach + eps, 0.0)
    az = np.where(rng.random(k) < 0.8, rng.choice(toward, k), rng.uniform(0, 360, k))
    # Crowds of equal large disks (whole leaves) just inside the nearest boundary and just
    # beyond the farthest: held by none, met by all, though the leaves' own points are not.
    big = 0.3 * radius_m
    for base, sign in ((near, -1.0), (far + margin_m, 1.0)):
        for heading in rng.choice(toward, 4):
            c = 64
            r = np.r_[r, np.full(c, big)]
            reach = np.r_[reach, base + sign * big * rng.uniform(0.55, 0.95, c)]
            az = np.r_[az, heading + rng.uniform(-0.01, 0.01, c)]
    k = r.size
    lon, lat, _ = GEOD.fwd(np.full(k, c_lon), np.full(k, c_lat), az, reach)
    lon, lat = np.asarray(lon), np.asarray(lat)
    # A disk within a micrometre of a threshold is a tie of two frames' rounding (the oracle's
    # and the library's distances agree to nanometres): left out.
    pts = shapely.points(*frame.transform(lon, lat))
    gaps = [
        shapely.distance(metric.boundary, pts) - (r - margin_m),
        shapely.distance(metric, pts) - (margin_m + r),
    ]
    clear = np.all(np.abs(gaps) > 1e-6, axis=0)
    lon, lat, r = lon[clear], lat[clear], r[clear]
    index = _index(lon, lat, accuracy_m=r)
    rows, states = index.classify(part, LocationRule(), NOW)
    want = _oracle_ranks(part, lon, lat, r)
    full = np.zeros(lon.size, dtype=np.int64)
    full[rows] = np.where(states == Location.INSIDE, 2, 1)
    assert {0, 2} <= set(want.tolist())
    mismatch = _mismatch(full, want)
    assert mismatch.size == 0, (mismatch[:5], full[mismatch[:5]], want[mismatch[:5]])
    # Points against the part grown by a margin (as a plan's stale area is, sharing the bounds).
    grown = part.with_margin(margin_m + 40.0)
    glon, glat, _ = GEOD.fwd(np.full(k, c_lon), np.full(k, c_lat), az, reach + 40.0)
    gap = shapely.distance(metric, shapely.points(*frame.transform(glon, glat)))
    gap -= margin_m + 40.0
    clear = np.abs(gap) > 1e-6
    got = grown.contains(np.asarray(glon)[clear], np.asarray(glat)[clear])
    np.testing.assert_array_equal(got, gap[clear] <= 0.0)


def _z_key(qx: int, qy: int, bits: int) -> int:
    """Morton key by definition: bit i of x at 2i, bit i of y at 2i + 1."""
    return sum((((qx >> i) & 1) << (2 * i)) | (((qy >> i) & 1) << (2 * i + 1)) for i in range(bits))


@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
    span=st.sampled_from([1e-7, 0.01, 3.0, 40.0]),
    ties=st.booleans(),
)
@settings(max_examples=80)
def test_morton_order_sorts_along_the_z_curve(n: int, seed: int, span: float, ties: bool) -> None:
    """The order sorts points by their interleaved quantised key, ties in index order."""
    rng = np.random.default_rng(seed)
    x = 17.0 + rng.uniform(0.0, span, n)
    y = 60.0 + rng.uniform(0.0, span, n)
    if ties and n:  # several points of one cell
        x[rng.integers(0, n, n // 3)] = x[0]
        y[rng.integers(0, n, n // 3)] = y[0]
    got = _leaves.morton_order(x, y).tolist()
    if n == 0:
        assert got == []
        return
    bits = 21  # below two million points
    shrink = max(np.cos(np.radians((y.min() + y.max()) / 2.0)), 0.05)
    scale = ((1 << bits) - 1) / max((x.max() - x.min()) * shrink, y.max() - y.min(), 1e-12)
    qx = [int((v - x.min()) * (shrink * scale)) for v in x.tolist()]
    qy = [int((v - y.min()) * scale) for v in y.tolist()]
    want = sorted(range(n), key=lambda i: (_z_key(qx[i], qy[i], bits), i))
    assert got == want


@pytest.mark.slow
def test_morton_order_of_millions_is_a_permutation_along_the_curve() -> None:
    """Past 2**22 points the key gives up bits per axis for the index: still a Z-order sort."""
    n = (1 << 22) + 3
    rng = np.random.default_rng(3)
    x = rng.uniform(11.0, 24.0, n)
    y = rng.uniform(55.0, 69.0, n)
    order = _leaves.morton_order(x, y)
    assert order.dtype == np.intp
    np.testing.assert_array_equal(np.sort(order), np.arange(n))
    bits = (64 - 23) // 2
    shrink = max(np.cos(np.radians((y.min() + y.max()) / 2.0)), 0.05)
    scale = ((1 << bits) - 1) / max((x.max() - x.min()) * shrink, y.max() - y.min())
    qx = ((x[order] - x.min()) * (shrink * scale)).astype(np.uint64)
    qy = ((y[order] - y.min()) * scale).astype(np.uint64)
    key = np.zeros(n, dtype=np.uint64)
    for i in range(bits):  # bit by bit, not the library's shifts and masks
        b = np.uint64(i)
        key |= ((qx >> b) & np.uint64(1)) << np.uint64(2 * i)
        key |= ((qy >> b) & np.uint64(1)) << np.uint64(2 * i + 1)
    assert (np.diff(key.astype(np.int64)) >= 0).all()


@given(
    n=st.integers(1, 200),
    lon0=st.floats(-179.0, 179.0),
    lat0=st.floats(-89.0, 89.0),
    spread=st.sampled_from([0.0, 1e-6, 0.01, 1.0, 60.0]),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=80)
def test_leaf_spheres_hold_their_devices_and_offsets_are_within_their_bound(
    n: int, lon0: float, lat0: float, spread: float, seed: int
) -> None:
    """Every device is inside its leaf's sphere, offsets are within their bound.

    Centre plus float32 offset is the device's ECEF point (pyproj's) within the leaf's stated
    error; padding slots are NaN.
    """
    rng = np.random.default_rng(seed)
    x = np.clip(lon0 + rng.uniform(-spread, spread, n), -180.0, 180.0)
    y = np.clip(lat0 + rng.uniform(-spread, spread, n), -90.0, 90.0)
    lv = _leaves_of(x, y)
    ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    px, py, pz = ecef.transform(lv.xs, lv.ys, np.zeros(n))
    leaf = np.arange(n) // _leaves.LEAF
    s = lv.sphere_rows[leaf]
    slot = np.arange(n) % _leaves.LEAF
    off = lv.off_blocks[leaf, :, slot].astype(np.float64)
    gap = np.sqrt((px - s[:, 0]) ** 2 + (py - s[:, 1]) ** 2 + (pz - s[:, 2]) ** 2)
    assert (gap <= s[:, 3]).all()
    err = np.sqrt(
        (px - s[:, 0] - off[:, 0]) ** 2 + (py - s[:, 1] - off[:, 1]) ** 2
        + (pz - s[:, 2] - off[:, 2]) ** 2
    )  # fmt: skip
    assert (err <= s[:, 4]).all()
    pad = lv.off_blocks[-1][:, n % _leaves.LEAF :] if n % _leaves.LEAF else np.empty(0)
    assert np.isnan(pad).all()


@pytest.mark.parametrize("lon", [179.9999, -179.9999, 179.99, 18.0])
@pytest.mark.parametrize("lat", [-16.0, 79.0])
def test_the_shapes_circles_surely_cover_lie_within_them(lon: float, lat: float) -> None:
    """The union the classification holds disks against never reaches beyond its circles.

    A circle across the antimeridian has no lon/lat-straight rim polygon (one would wrap the
    other way round the Earth), so it is left out; every shape drawn lies within its circles.
    """
    from geotarget._index.classify import inner_shapes

    parts = (Circle(lon, lat, 2_000.0), Circle(lon, lat - 0.01, 1_500.0))
    geod = pyproj.Geod(ellps="WGS84")
    for shape in inner_shapes(parts):
        west, south, east, north = shape.bounds
        gx, gy = np.meshgrid(np.linspace(west, east, 60), np.linspace(south, north, 60))
        x, y = gx.ravel(), gy.ravel()
        inside = shapely.contains_xy(shape, x, y)
        x, y = x[inside], y[inside]
        near = np.zeros(x.size, dtype=bool)
        for c in parts:
            d = geod.inv(np.full(x.size, c.lon), np.full(x.size, c.lat), x, y)[2]
            near |= d <= c.reach_m
        assert near.all(), (shape.bounds, x[~near][:3], y[~near][:3])


@pytest.mark.parametrize(
    ("point", "shown"),
    [
        ((18.0653917, 59.3326471), "tuple of 2 values"),
        ([18.0653917, 59.3326471], "list of 2 values"),
        (np.array([18.0653917, 59.3326471]), "ndarray of 2 values"),
        ("18.0653917", "str '18.0653917'"),
        (shapely.Point(18.0653917, 59.3326471), "Point, not quoted"),
        (complex(18.0653917, 59.3326471), "complex, not quoted"),
    ],
)
def test_match_one_describes_a_pair_given_as_lon_never_quotes_it(point: Any, shown: str) -> None:
    """A (lon, lat) pair passed where lon belongs is named by type and size, not quoted.

    ``match_one(point, lat)`` for ``match_one(*point)`` quoted the device's position in an
    InvalidType, which the streaming caller logs; a scalar of the wrong type is still quoted.
    """
    index = AreaIndex({"a": Circle(18.0, 59.0, 100.0)})
    with pytest.raises(InvalidType) as info:
        index.match_one(point, 59.0)
    assert str(info.value) == f"lon must be a finite number >= -180 and <= 180 (got {shown})"
