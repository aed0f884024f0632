"""The vectorized point-to-boundary distance (geotarget._index.segments) against GEOS."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geotarget._index import segments
from geotarget._index.segments import (
    BAND_M,
    MAX_SPAN,
    WIDE_PAIRS,
    SegmentGrid,
    nearest,
    pieces,
    segment_rows,
)


def _segments(
    rng: np.random.Generator, n: int, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A closed random walk of ``n`` steps (some of zero length), as segments."""
    steps = rng.normal(0.0, scale, (n, 2))
    steps[rng.random(n) < 0.1] = 0.0
    xy = np.cumsum(steps, axis=0) + rng.uniform(-1e5, 1e5, 2)
    xy = np.vstack([xy, xy[:1]])
    return xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]


def _oracle(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, px: np.ndarray, py: np.ndarray
) -> np.ndarray:
    """GEOS's distance from each point to the union of the segments (no grid, no numpy kernel)."""
    lines = shapely.multilinestrings(
        [shapely.linestrings([[a, b], [c, d]]) for a, b, c, d in zip(ax, ay, bx, by, strict=True)]
    )
    return np.asarray(shapely.distance(lines, shapely.points(px, py)))


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    scale=st.sampled_from([0.01, 1.0, 50.0, 2000.0]),
    cell=st.sampled_from([0.0, 5.0, 100.0, 1e4]),
)
@settings(max_examples=60)
def test_distance_and_within_equal_geos(seed: int, n: int, scale: float, cell: float) -> None:
    """Up to its reach the grid's distance is GEOS's; beyond it, it says so; within() agrees."""
    rng = np.random.default_rng(seed)
    ax, ay, bx, by = _segments(rng, n, scale)
    grid = SegmentGrid(ax, ay, bx, by, cell)
    # Points on, near and far from the segments, with reaches from zero to far beyond them.
    k = 300
    pick = rng.integers(0, n, k)
    t = rng.random(k)
    px = ax[pick] + t * (bx[pick] - ax[pick]) + rng.normal(0.0, scale * 3 + 1.0, k)
    py = ay[pick] + t * (by[pick] - ay[pick]) + rng.normal(0.0, scale * 3 + 1.0, k)
    px[:10] = ax[pick[:10]]  # exactly on a vertex
    py[:10] = ay[pick[:10]]
    reach = rng.choice([0.0, 1e-6, scale, 3 * scale, 1e5], k) * rng.random(k)
    want = _oracle(ax, ay, bx, by, px, py)
    got = grid.distance(px, py, reach)
    known = ~np.isnan(got)
    # Boxes wider than MAX_SPAN cells: measured against every segment, being few here.
    wide = 2 * (reach + 1e-6) > (MAX_SPAN - 2) * grid.size
    assert np.count_nonzero(wide) * n <= WIDE_PAIRS
    assert np.all(known)
    np.testing.assert_allclose(got[wide], want[wide], rtol=0, atol=1e-7)  # beyond reach too
    near = known & (want <= reach)
    np.testing.assert_allclose(got[near], want[near], rtol=0, atol=1e-7)
    far = known & (want > reach)
    assert np.all(got[far] >= want[far] - 1e-7)
    sure = grid.within(px, py, reach)
    assert np.all(want[sure == 1] <= reach[sure == 1])
    assert np.all(want[sure == 0] > reach[sure == 0])
    # Undecided only in the band around the reach, or for a box too wide.
    undecided = sure == -1
    assert np.all((np.abs(want - reach) <= 2 * BAND_M)[undecided] | ~known[undecided])


def test_wide_points_beyond_the_pair_budget_stay_unknown() -> None:
    """Too many points too wide for the cells: NaN (the caller's GEOS), not quadratic work."""
    rng = np.random.default_rng(5)
    # A zigzag 4 km long of 10 m steps: a grid hundreds of cells wide.
    x, y = np.linspace(0.0, 4000.0, 401), rng.normal(0.0, 3.0, 401)
    ax, ay, bx, by = x[:-1], y[:-1], x[1:], y[1:]
    grid = SegmentGrid(ax, ay, bx, by, 1.0)
    assert grid.nx > 10 * MAX_SPAN
    k = WIDE_PAIRS // 400 + 1  # one point more than the budget holds
    px = rng.uniform(1000.0, 3000.0, k)
    py = rng.normal(0.0, 50.0, k)
    reach = np.full(k, MAX_SPAN * grid.size * 2)
    got = grid.distance(px, py, reach)
    assert np.all(np.isnan(got))
    # One fewer fits: every one measured, GEOS's distance.
    got = grid.distance(px[1:], py[1:], reach[1:])
    np.testing.assert_allclose(got, _oracle(ax, ay, bx, by, px[1:], py[1:]), rtol=0, atol=1e-7)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 120),
    k=st.integers(0, 400),  # up to 400 * 120 pairs: several chunks of CHUNK_PAIRS
)
@settings(max_examples=40)
def test_nearest_measures_every_pair_in_chunks(seed: int, n: int, k: int) -> None:
    """The brute-force kernel equals GEOS for any number of points and segments (chunked)."""
    rng = np.random.default_rng(seed)
    px, py = rng.uniform(-1e5, 1e5, k), rng.uniform(-1e5, 1e5, k)
    if n == 0:
        empty = np.empty(0)
        assert np.all(nearest(segment_rows(empty, empty, empty, empty), px, py) == np.inf)
        return
    ax, ay, bx, by = _segments(rng, n, 2000.0)
    got = nearest(segment_rows(ax, ay, bx, by), px, py)
    assert got.shape == (k,)
    if k:
        np.testing.assert_allclose(got, _oracle(ax, ay, bx, by, px, py), rtol=0, atol=1e-7)


def test_no_segment_near_is_infinite_and_empty_grid_answers() -> None:
    """A point with nothing within its reach gets more than it; an empty grid answers inf."""
    ax = np.array([0.0])
    ay = np.array([0.0])
    grid = SegmentGrid(ax, ay, np.array([10.0]), np.array([0.0]), 1.0)
    got = grid.distance(np.array([5.0, 5.0]), np.array([3.0, 1000.0]), np.array([4.0, 4.0]))
    assert got[0] == 3.0
    assert got[1] > 4.0  # beyond its reach (a border cell may still list a segment)
    empty = np.empty(0)
    none = SegmentGrid(empty, empty, empty, empty, 1.0)
    assert np.all(none.distance(np.array([0.0]), np.array([0.0]), np.array([5.0])) == np.inf)
    assert none.nbytes > 0


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    most=st.sampled_from([1e-4, 1e-3, 0.05]),
)
@settings(max_examples=60)
def test_meets_boxes_never_misses_an_edge(seed: int, n: int, most: float) -> None:
    """A box said to meet no piece meets none of the original edges (GEOS), pieces included."""
    rng = np.random.default_rng(seed)
    ax, ay, bx, by = _segments(rng, n, 0.01)
    ax, ay, bx, by = ax * 1e-5, ay * 1e-5, bx * 1e-5, by * 1e-5  # degrees near (±1°)
    grid = SegmentGrid(*pieces(ax, ay, bx, by, most), most)
    k = 400
    pick = rng.integers(0, n, k)
    t = rng.random(k)
    cx = ax[pick] + t * (bx[pick] - ax[pick]) + rng.normal(0.0, 0.002, k)
    cy = ay[pick] + t * (by[pick] - ay[pick]) + rng.normal(0.0, 0.002, k)
    half = rng.choice([0.0, 1e-6, 1e-4, 1e-3], k) * rng.random(k)
    west, south, east, north = cx - half, cy - half, cx + half, cy + half
    got = grid.meets_boxes(west, south, east, north)
    lines = shapely.multilinestrings(
        [shapely.linestrings([[a, b], [c, d]]) for a, b, c, d in zip(ax, ay, bx, by, strict=True)]
    )
    want = np.asarray(shapely.intersects(lines, shapely.box(west, south, east, north)))
    assert not np.any(want & ~got)  # never a miss
    # And it is not a blanket yes: boxes far from every edge are cleared.
    far = np.asarray(shapely.distance(lines, shapely.points(cx, cy))) > 2 * half + 4 * most
    assert not np.any(got[far & (half < 2 * most)])


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30))
@settings(max_examples=60)
def test_meets_boxes_separates_boxes_beside_long_edges(seed: int, n: int) -> None:
    """Boxes beside long edges in every direction: yes where GEOS meets, no where clear of all.

    Each box overlaps its edge's bounding box, so only the side test (the box's corners against
    the edge's line) can clear it: a wrong direction or side there misses or blankets.
    """
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0.0, 2.0 * np.pi, n)
    length = rng.uniform(0.01, 0.1, n)
    ax, ay = 18.0 + rng.uniform(-0.5, 0.5, n), 59.0 + rng.uniform(-0.5, 0.5, n)
    bx, by = ax + length * np.cos(ang), ay + length * np.sin(ang)
    most = 0.01
    grid = SegmentGrid(*pieces(ax, ay, bx, by, most), most)
    k = 300
    pick = rng.integers(0, n, k)
    t = rng.uniform(0.1, 0.9, k)
    half = rng.uniform(1e-5, 2e-3, k)
    off = rng.uniform(-4.0, 4.0, k) * half  # across the edge, in half-widths
    cx = ax[pick] + t * (bx[pick] - ax[pick]) - off * np.sin(ang[pick])
    cy = ay[pick] + t * (by[pick] - ay[pick]) + off * np.cos(ang[pick])
    west, south, east, north = cx - half, cy - half, cx + half, cy + half
    got = grid.meets_boxes(west, south, east, north)
    lines = shapely.multilinestrings(
        [shapely.linestrings([[a, b], [c, d]]) for a, b, c, d in zip(ax, ay, bx, by, strict=True)]
    )
    boxes = shapely.box(west, south, east, north)
    want = np.asarray(shapely.intersects(lines, boxes))
    assert not np.any(want & ~got)  # never a miss
    clear = np.asarray(shapely.distance(lines, boxes)) > 1e-9
    assert not np.any(got & clear)  # and every box clear of all edges is cleared
    assert want.any() and clear.any()


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    chunk=st.sampled_from([1, 2, 7, 64, 1000]),
)
@settings(max_examples=30)  # (an example costs a tenth of a second: a chunk is a step)
@example(seed=0, n=80, chunk=1)  # the most edges, every pair a chunk of its own
@example(seed=1, n=80, chunk=1000)  # every item's pairs in one chunk
@example(seed=2, n=1, chunk=2)  # one edge
def test_pairs_measured_in_chunks_answer_as_geos(seed: int, n: int, chunk: int) -> None:
    """Any chunk of (point, segment) pairs, an item's pairs split between chunks: GEOS's answers.

    Memory stays bounded when the cells list many segments (a dense boundary) because the
    pairs are measured ``PAIR_CHUNK`` at a time; here a chunk of a few pairs splits nearly
    every point's and box's pairs. Distances within reach are GEOS's, boxes meeting an edge
    (GEOS) are said to meet one, and every edge such a box meets is listed. (64 points and
    boxes: a chunk of one pair is a step of its own, and 200 took a quarter of a second.)
    """
    rng = np.random.default_rng(seed)
    ax, ay, bx, by = _segments(rng, n, 50.0)
    k = 64
    pick = rng.integers(0, n, k)
    t = rng.random(k)
    px = ax[pick] + t * (bx[pick] - ax[pick]) + rng.normal(0.0, 100.0, k)
    py = ay[pick] + t * (by[pick] - ay[pick]) + rng.normal(0.0, 100.0, k)
    reach = rng.uniform(0.0, 300.0, k)
    half = rng.uniform(0.0, 60.0, k)
    west, south, east, north = px - half, py - half, px + half, py + half
    with mock.patch.object(segments, "PAIR_CHUNK", chunk):
        grid = SegmentGrid(ax, ay, bx, by, 10.0)
        got = grid.distance(px, py, reach)
        met = grid.meets_boxes(west, south, east, north)
        listed = grid.segments_meeting(west, south, east, north)
    want = _oracle(ax, ay, bx, by, px, py)
    assert not np.any(np.isnan(got))
    near = want <= reach
    np.testing.assert_allclose(got[near], want[near], rtol=0, atol=1e-7)
    assert np.all(got[~near] >= want[~near] - 1e-7)
    lines = [
        shapely.linestrings([[a, b], [c, d]]) for a, b, c, d in zip(ax, ay, bx, by, strict=True)
    ]
    boxes = shapely.box(west, south, east, north)
    meets = np.asarray(shapely.intersects(np.array(lines)[:, None], boxes[None, :]))  # edge × box
    assert not np.any(meets.any(axis=0) & ~met)  # never a miss
    assert listed is not None
    assert np.all(np.diff(listed) > 0)  # ascending, each once
    assert set(np.flatnonzero(meets.any(axis=1)).tolist()) <= set(listed.tolist())


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    chunk=st.sampled_from([1, 3, 50, 10_000]),
)
@settings(max_examples=60)
def test_pair_chunks_list_each_pair_once_within_the_chunk_size(
    seed: int, n: int, chunk: int
) -> None:
    """The chunks hold every (item, listed segment) pair once, in item order, none too large.

    The oracle walks each taken item's box of cells and each cell's list in plain Python.
    """
    rng = np.random.default_rng(seed)
    ax, ay, bx, by = _segments(rng, n, 20.0)
    grid = SegmentGrid(ax, ay, bx, by, 5.0)
    k = 40
    ix0 = rng.integers(0, grid.nx, k)
    iy0 = rng.integers(0, grid.ny, k)
    wx = np.minimum(rng.integers(1, MAX_SPAN + 1, k), grid.nx - ix0)
    wy = np.minimum(rng.integers(1, MAX_SPAN + 1, k), grid.ny - iy0)
    take = rng.random(k) < 0.8
    want = [
        (i, e)
        for i in range(k)
        if take[i]
        for cy in range(iy0[i], iy0[i] + wy[i])
        for cx in range(ix0[i], ix0[i] + wx[i])
        for e in range(grid._starts[cy * grid.nx + cx], grid._starts[cy * grid.nx + cx + 1])
    ]
    with mock.patch.object(segments, "PAIR_CHUNK", chunk):
        chunks = list(grid._pairs(ix0, iy0, wx, wy, take))
    assert all(q.size <= chunk for q, _ in chunks)
    got = [(int(i), int(e)) for q, j in chunks for i, e in zip(q, j, strict=True)]
    assert got == want


@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=True, width=64)
        | st.sampled_from([-1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 3.0 - 1e-15]),
        min_size=1,
        max_size=50,
    ),
    v0=st.sampled_from([0.0, -7.25, 1e-3]),
    size=st.sampled_from([1.0, 0.1, 3.7, 1e-9]),
    n=st.integers(1, 5),
)
def test_cell_index_is_clipped_floor(values: list[float], v0: float, size: float, n: int) -> None:
    """The one cell formula: floor((v - v0) / size) clipped to [0, n - 1], per value in Python."""
    v = np.array(values)
    with np.errstate(over="ignore", invalid="ignore"):
        got = segments.cell_index(v, v0, size, n)
    for value, cell in zip(values, got.tolist(), strict=True):
        f = (value - v0) / size
        want = 0 if f <= 0.0 else n - 1 if f >= n - 1 else min(max(math.floor(f), 0), n - 1)
        assert cell == want, (value, f)
    # Monotone in v, as the grids' proofs need.
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(got[order]) >= 0)


@given(
    values=st.lists(
        st.floats(min_value=0.0, max_value=1e7, allow_nan=False), min_size=0, max_size=3000
    )
)
@settings(max_examples=60)
def test_typical_is_a_middle_value_of_an_even_sample(values: list[float]) -> None:
    """``typical``: 1.0 for none; else the exact median of an evenly strided sample of <= 129."""
    v = np.asarray(values, dtype=np.float64)
    got = segments.typical(v)
    if v.size == 0:
        assert got == 1.0
        return
    step = math.ceil(v.size / 129)
    sample = sorted(values[::step])
    assert len(sample) <= 129
    assert got == sample[len(sample) // 2]
    np.testing.assert_array_equal(v, np.asarray(values))  # the input is left as it was


@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=50),
    bounds=st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)).map(sorted),
)
def test_clip_is_numpy_clip(values: list[float], bounds: list[float]) -> None:
    """``segments.clip`` (the ufunc) writes what ``numpy.clip`` returns, NaN included."""
    v = np.asarray(values, dtype=np.float64)
    want = np.clip(v, bounds[0], bounds[1])
    out = v.copy()
    segments.clip(out, bounds[0], bounds[1], out=out)
    np.testing.assert_array_equal(out, want)
    ints = np.arange(-5, 6, dtype=np.intp)
    segments.clip(ints, 0, 3, out=ints)
    np.testing.assert_array_equal(ints, np.clip(np.arange(-5, 6), 0, 3))
