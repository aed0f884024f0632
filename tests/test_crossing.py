"""The crossing grid: GEOS's point-in-polygon answers, at the cost of the edges near each point.

A polygon whose edges crowd every parallel and every meridian (a star of long, thin spikes)
cost GEOS's ray hundreds of edges a point whichever way it was cast: 1,000 spikes around
Stockholm took 0.8 s to query among 1.2 M devices, a longer variant 3 s. The oracle throughout
is ``shapely.intersects_xy`` on the polygon as given (boundary included); the cost is counted
from the edges GEOS's rays meet and the pairs the grid tests, never from wall-clock time.
"""

from __future__ import annotations

import datetime as dt
import math
import tracemalloc
from typing import Any

import numpy as np
import pytest
import shapely
from _matcher_helpers import count_ray_edges
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import Area, Polygon, PositionIndex, Positions
from geotarget._index import crossing, polygons
from geotarget._index.frames import ring_edges

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def _star(n: int, cx: float, cy: float, reach: float, waist: float) -> list[tuple[float, float]]:
    """A ring of ``n`` spikes ``reach`` degrees long around a centre, ``waist`` degrees across."""
    k = math.cos(math.radians(cy))
    ring = []
    for i in range(n):
        a, b = 2 * math.pi * i / n, 2 * math.pi * (i + 0.5) / n
        ring.append((cx + waist * math.cos(a) / k, cy + waist * math.sin(a)))
        ring.append((cx + reach * math.cos(b) / k, cy + reach * math.sin(b)))
    return ring


def _boundary_points(shape: Any, rng: np.random.Generator) -> tuple[Any, Any]:
    """Every vertex, every edge's midpoint, and points interpolated along the edges."""
    ax, ay, bx, by = ring_edges(shape)
    t = rng.uniform(0.0, 1.0, ax.size)
    x = np.r_[ax, (ax + bx) / 2, ax + t * (bx - ax)]
    y = np.r_[ay, (ay + by) / 2, ay + t * (by - ay)]
    return x, y


def _points(shape: Any, rng: np.random.Generator, n: int) -> tuple[Any, Any]:
    """``n`` points: half over the bounds (and beyond), half between the centroid and a vertex.

    (Those run along a star's spikes: inside as often as not.) Then the boundary points.
    """
    west, south, east, north = shape.bounds
    dx, dy = east - west, north - south
    h = n // 2
    x = rng.uniform(west - 0.1 * dx, east + 0.1 * dx, h)
    y = rng.uniform(south - 0.1 * dy, north + 0.1 * dy, h)
    ring = shapely.get_coordinates(shape.exterior)
    c = shapely.get_coordinates(shape.centroid)[0]
    v = ring[rng.integers(0, ring.shape[0], n - h)]
    t = rng.uniform(0.0, 1.0, n - h)[:, None]
    along = c + t * (v - c)
    bx, by = _boundary_points(shape, rng)
    return np.r_[x, along[:, 0], bx], np.r_[y, along[:, 1], by]


def _grid(part: Polygon) -> crossing.CrossingGrid:
    return crossing.CrossingGrid(polygons.edges(part), polygons.bounds(part), part.shape)


def _check(part: Polygon, x: Any, y: Any) -> Any:
    """The grid's decided answers are GEOS's; with GEOS for the rest, every answer is."""
    want = shapely.intersects_xy(part.shape, x, y)
    grid = _grid(part)
    state = grid.decide(x, y)
    decided = state >= 0
    np.testing.assert_array_equal(state[decided] == 1, want[decided])
    got = crossing.intersects_xy(
        grid,
        x,
        y,
        part.shape,
        lambda px, py: shapely.intersects_xy(part.shape, px, py),
        min(polygons._rays(part)),
    )
    np.testing.assert_array_equal(got, want)
    # The points it leaves, in a finer grid over them (its walks starting from this grid's
    # states on the window's western side), however few: again GEOS's answers.
    rest = np.flatnonzero(state < 0)
    exact = lambda px, py: shapely.intersects_xy(part.shape, px, py)  # noqa: E731
    sub = grid.refined(x[rest], y[rest], part.shape, exact, 1e30) if rest.size > 1 else None
    if sub is not None:
        again = sub.decide(x[rest], y[rest])
        np.testing.assert_array_equal(again[again >= 0] == 1, want[rest][again >= 0])
    return state


def test_a_star_s_points_are_decided_in_their_cells_as_geos_decides_them() -> None:
    part = Polygon(_star(300, 18.07, 59.33, 0.2, 1e-4))
    assert polygons.crowded(part)
    rng = np.random.default_rng(1)
    x, y = _points(part.shape, rng, 50_000)
    state = _check(part, x, y)
    # Boundary points are GEOS's, and so are points where the spikes meet (their cells list
    # more edges than the grid tests); nearly all points over the bounds are the grid's own.
    assert np.count_nonzero(state[:25_000] >= 0) > 0.95 * 25_000
    assert np.count_nonzero(state[:50_000] == 1) > 5_000


def test_where_the_spikes_meet_a_finer_grid_decides_what_the_first_left() -> None:
    """The points of the cells listing too many edges go to finer grids, not to GEOS.

    GEOS is asked only about what the finest grid leaves (boundary points among them).
    """
    part = Polygon(_star(1_000, 18.0, 59.0, 0.2, 1e-4))
    rng = np.random.default_rng(6)
    r = 0.003 * np.sqrt(rng.uniform(0.0, 1.0, 30_000))
    a = rng.uniform(0.0, 2 * math.pi, 30_000)
    x = 18.0 + r * np.cos(a) / math.cos(math.radians(59.0))
    y = 59.0 + r * np.sin(a)
    grid = _grid(part)
    first = grid.decide(x, y)
    assert np.count_nonzero(first < 0) > 10_000  # the spikes' meeting place: too many edges
    asked = [0]

    def exact(px: Any, py: Any) -> Any:
        asked[0] += np.size(px)
        return shapely.intersects_xy(part.shape, px, py)

    got = crossing.intersects_xy(grid, x, y, part.shape, exact, min(polygons._rays(part)))
    np.testing.assert_array_equal(got, shapely.intersects_xy(part.shape, x, y))
    assert asked[0] < 0.1 * np.count_nonzero(first < 0), asked[0]


def test_holes_flip_the_state_as_the_shell_does() -> None:
    shell = _star(200, 18.0, 59.0, 0.3, 0.05)
    holes = [
        [(17.98 + 0.01 * i, 58.995), (17.985 + 0.01 * i, 58.995), (17.985 + 0.01 * i, 59.005)]
        for i in range(4)
    ]
    part = Polygon(shell, holes)
    rng = np.random.default_rng(2)
    x, y = _points(part.shape, rng, 20_000)
    hx, hy = _points(shapely.Polygon(holes[0]), rng, 2_000)
    _check(part, np.r_[x, hx], np.r_[y, hy])


def test_axis_aligned_edges_through_cell_centres_and_borders_fall_back_exactly() -> None:
    """Edges on the walk's own lines (every cell centre's parallel) leave steps undecided.

    A staircase whose horizontal edges lie on the grid's centre lines and whose vertical edges
    on its cell borders: every such step and centre falls back to GEOS, and the answers stay
    GEOS's.
    """
    part = Polygon(_star(100, 18.0, 59.0, 0.2, 1e-3))
    grid = _grid(part)
    west, south = grid.bounds[0], grid.bounds[1]
    ys = south + (np.arange(grid.ny) + 0.5) * grid.ch
    xs = west + np.arange(grid.nx + 1) * grid.cw
    rng = np.random.default_rng(3)
    x = np.r_[rng.choice(xs, 5_000), west + (rng.integers(0, grid.nx, 5_000) + 0.5) * grid.cw]
    y = np.r_[rng.choice(ys, 5_000), rng.choice(ys, 5_000)]
    _check(part, x, y)


@st.composite
def _crowded_polygons(draw: st.DrawFn) -> Polygon:
    """Stars whose spike tips and waists jitter: valid polygons, often crowded both ways."""
    n = draw(st.integers(3, 150))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cx = draw(st.floats(-170.0, 170.0))
    cy = draw(st.floats(-70.0, 70.0))
    reach = draw(st.sampled_from([1e-4, 1e-2, 0.5, 5.0]))
    k = math.cos(math.radians(cy))
    ring = []
    for i in range(n):
        a = 2 * math.pi * (i + rng.uniform(0.0, 0.4)) / n
        b = 2 * math.pi * (i + 0.5 + rng.uniform(-0.05, 0.05)) / n
        w = reach * rng.uniform(1e-3, 0.2)
        r = reach * rng.uniform(0.5, 1.0)
        ring.append((cx + w * math.cos(a) / k, cy + w * math.sin(a)))
        ring.append((cx + r * math.cos(b) / k, cy + r * math.sin(b)))
    return Polygon(ring)


@settings(max_examples=60, deadline=None)
@given(_crowded_polygons(), st.integers(0, 2**32 - 1))
def test_property_the_grid_agrees_with_geos_on_any_star(part: Polygon, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = _points(part.shape, rng, 2_000)
    grid = _grid(part)
    # Cell centres and borders too: the walk's own points.
    west, south = grid.bounds[0], grid.bounds[1]
    cx = west + (rng.integers(0, grid.nx, 500) + 0.5) * grid.cw
    cy = south + (rng.integers(0, grid.ny, 500) + rng.choice([0.0, 0.5], 500)) * grid.ch
    _check(part, np.r_[x, cx], np.r_[y, cy])


def test_a_crowded_polygon_s_query_costs_geos_only_the_points_left_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end, a star's devices are found as brute force finds them, GEOS asked little.

    The edges GEOS's rays meet are counted from the calls' own arguments (its interval index
    returns every edge spanning the ray's coordinate): a tenth of what every device cost
    before.
    """
    met = count_ray_edges(monkeypatch)
    ring = _star(1_000, 18.0, 59.0, 0.02, 2e-4)
    part = Polygon(ring)
    assert polygons.crowded(part)
    rng = np.random.default_rng(4)
    lon = 18.0 + rng.normal(0.0, 0.01, 60_000)
    lat = 59.0 + rng.normal(0.0, 0.005, 60_000)
    bx, by = _boundary_points(part.shape, rng)
    for x, y, cost in ((lon, lat, True), (np.r_[lon, bx], np.r_[lat, by], False)):
        index = PositionIndex(Positions(np.arange(x.size), x, y, observed_at=NOW))
        want = np.flatnonzero(shapely.intersects_xy(shapely.Polygon(ring), x, y))
        assert want.size > 500
        met[0] = 0
        tracemalloc.start()
        try:
            got = index.query(Area([Polygon(ring)]))  # a fresh polygon: its grid built anew
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(got, want)
        if cost:
            # GEOS alone: 851 a device. Left: devices where the spikes meet, whose cells list
            # more edges than the grid tests (66 a device; too few for a finer grid to pay).
            assert met[0] <= 100 * x.size, met[0]
            assert peak < 64 * 2**20, peak
        np.testing.assert_array_equal(np.flatnonzero(part.contains(x, y)), want)


def test_the_estimate_of_a_crowded_polygon_counts_its_grid() -> None:
    """The caches' byte estimate covers the grid the polygon's points are tested in."""
    from geotarget.areas import _estimated_bytes

    star = Polygon(_star(1_000, 18.0, 59.0, 0.2, 1e-4))
    plain = Polygon(_star(20, 18.0, 59.0, 0.2, 0.1))
    assert polygons.crowded(star) and not polygons.crowded(plain)
    grid = _grid(star)
    estimate = crossing.estimated_bytes(polygons.edges(star), polygons.bounds(star))
    assert grid.nbytes <= estimate <= 4 * grid.nbytes + 4096
    vertices = len(star.exterior)
    rest = 1024 + 208 * vertices + 137 * int(star.shape.length / polygons.DENSIFY_DEG + vertices)
    assert _estimated_bytes(Area([star])) == rest + estimate


def test_a_handful_of_points_is_left_to_geos_without_building_a_grid() -> None:
    """A grid costs its pieces to build: it is built once GEOS would meet more edges than that."""
    part = Polygon(_star(1_000, 18.0, 59.0, 0.2, 1e-4))
    rng = np.random.default_rng(5)
    x, y = _points(part.shape, rng, 20)
    np.testing.assert_array_equal(
        polygons.intersects_xy(part, x[:20], y[:20]),
        shapely.intersects_xy(part.shape, x[:20], y[:20]),
    )
    assert polygons.crossing_grid(part, 20) is None
    x, y = _points(part.shape, rng, 20_000)
    np.testing.assert_array_equal(
        polygons.intersects_xy(part, x, y), shapely.intersects_xy(part.shape, x, y)
    )
    grid = polygons.crossing_grid(part, 1)
    assert grid is not None  # kept by the polygon, whatever the next call's size
    assert polygons.crossing_grid(part, 1) is grid
