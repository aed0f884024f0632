"""Probes of margins around jagged polygons: the grown shape, exact ranks, bounded work.

A polygon with a margin is grown by GEOS in its metric frame (the margin's lon/lat drawing for
``area_m2`` and the territory check, and near disks over water narrower than twice the
margin). One buffer of a jagged shape (a comb's teeth, as a hostile CAP ``<polygon>`` may draw
one) by a distance much wider than its gaps crosses every tooth's offset curve with every
other's: seconds to minutes. The oracles here are shapely's own buffer and distances and
pyproj's ``aeqd`` (the documented definition), never the library's kernels; the work tests
count what GEOS and the segment kernels are given, never the clock.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_bounds_probe import _comb
from test_margins_probe7 import _frame, _oracle, _stockholm

from geotarget import Location, LocationRule, Polygon, PositionIndex, Positions, _geos, sweden
from geotarget._index import segments

AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
RULE = LocationRule(max_age=dt.timedelta(hours=1))
Arr = npt.NDArray[np.float64]


def _star(spikes: int, lon0: float, lat0: float, inner: float, outer: float) -> Arr:
    """A star of thin spikes around a point (degrees of latitude; longitude scaled)."""
    a = np.linspace(0.0, 2.0 * np.pi, 2 * spikes, endpoint=False)
    rad = np.where(np.arange(a.size) % 2 == 0, outer, inner)
    lon = lon0 + rad * np.cos(a) / np.cos(np.radians(lat0))
    lat = lat0 + rad * np.sin(a)
    ring = np.c_[lon, lat]
    out: Arr = np.r_[ring, ring[:1]]
    return out


# ---------------------------------------------------------------------------------------------
# The grown shape against one GEOS buffer and against the distance itself
# ---------------------------------------------------------------------------------------------


@st.composite
def _jagged(draw: Any) -> Any:
    """A small valid metric polygon: a star or a comb of random teeth, with a margin."""
    kind = draw(st.sampled_from(["star", "comb"]))
    n = draw(st.integers(3, 24))
    scale = draw(st.sampled_from([1.0, 30.0, 1000.0]))
    if kind == "star":
        radii = draw(st.lists(st.floats(0.05, 1.0), min_size=2 * n, max_size=2 * n))
        a = np.linspace(0.0, 2.0 * np.pi, 2 * n, endpoint=False)
        ring = np.c_[np.cos(a) * radii, np.sin(a) * radii] * scale
    else:
        tops = draw(st.lists(st.floats(0.1, 5.0), min_size=n + 1, max_size=n + 1))
        xs = np.linspace(0.0, 1.0, 2 * n + 1)
        ys = np.zeros(xs.size)
        ys[::2] = tops
        ring = np.r_[[[1.0, -0.1], [0.0, -0.1]], np.c_[xs, ys]] * scale
    poly = shapely.Polygon(ring)
    distance = draw(st.sampled_from([0.001, 0.03, 0.3, 1.0, 7.0, 60.0])) * scale
    return poly, distance


def _covered_points(poly: Any, d: float, rng: np.random.Generator) -> tuple[Any, Arr]:
    """Points around the polygon, out to past ``d``, and their distance to it."""
    w, s, e, n = poly.bounds
    x = rng.uniform(w - 1.2 * d, e + 1.2 * d, 3000)
    y = rng.uniform(s - 1.2 * d, n + 1.2 * d, 3000)
    pts = shapely.points(x, y)
    return pts, np.asarray(shapely.distance(poly, pts))


def _comb_case(tops: list[float], scale: float, distance: float) -> tuple[Any, float]:
    """A comb of :func:`_jagged`'s drawing: its teeth's heights, its scale, and a margin."""
    n = len(tops) - 1
    xs = np.linspace(0.0, 1.0, 2 * n + 1)
    ys = np.zeros(xs.size)
    ys[::2] = tops
    ring = np.r_[[[1.0, -0.1], [0.0, -0.1]], np.c_[xs, ys]] * scale
    return shapely.Polygon(ring), distance * scale


def _star_case(n: int, scale: float, distance: float) -> tuple[Any, float]:
    """A star of :func:`_jagged`'s drawing, spikes alternately long and short, and a margin."""
    radii = np.where(np.arange(2 * n) % 2 == 0, 1.0, 0.05)
    a = np.linspace(0.0, 2.0 * np.pi, 2 * n, endpoint=False)
    return shapely.Polygon(np.c_[np.cos(a) * radii, np.sin(a) * radii] * scale), distance * scale


# (An example costs up to seconds: the oracle's 200,000 boundary points and GEOS's own
# measure. 25 drawn ones, and the extremes: the most teeth at the narrowest margin, where both
# cap their points, and the most spikes at the widest margin, drawn finely and coarsely.)
@settings(max_examples=25, deadline=None)
@given(_jagged(), st.sampled_from([16, 64]))
@example(_comb_case([5.0, 0.1] * 12 + [5.0], 1.0, 0.001), 16)
@example(_comb_case([0.1, 5.0] * 12 + [0.1], 1000.0, 0.03), 64)
@example(_star_case(24, 30.0, 60.0), 16)
@example(_star_case(24, 1.0, 0.001), 64)
def test_staged_buffer_holds_the_grown_shape_and_its_overshoot_is_measured(
    case: Any, quad_segs: int
) -> None:
    """The staged buffer holds what it must, and nothing beyond its measured overshoot.

    Every point within the distance (less its chords' sagitta) is in; every point it holds lies
    within the distance plus the outward error measured for it.
    """
    poly, d = case
    assert poly.is_valid
    got = _geos.staged(poly, d, quad_segs)
    assert got.is_valid and not got.is_empty
    inward = 1.0 - np.cos(np.pi / (4 * min(quad_segs, _geos.STAGE_QUAD_SEGS)))
    tol = 1e-6 * max(d, 1.0)
    pts, dist = _covered_points(poly, d, np.random.default_rng(len(poly.exterior.coords)))
    covered = np.asarray(shapely.covers(got, pts))
    assert covered[dist <= d * (1.0 - inward) - tol].all()
    excess = _geos.overshoot(got, shapely.Polygon(poly), d, 0.002 * d)
    far = dist > d + excess + tol
    assert not covered[far].any(), (d, excess, dist[far & covered].max() / d)
    # The boundary's own farthest point (densely, by GEOS) is within the measured bound.
    # (Pieces at most d / 1000, and at most 200,000 of them: a bounded oracle.)
    ring = shapely.boundary(got)
    edge = shapely.segmentize(ring, max(d / 1000, float(shapely.length(ring)) / 200_000))
    reach = np.asarray(shapely.distance(poly, shapely.points(shapely.get_coordinates(edge))))
    spacing = max(d / 1000, float(shapely.length(ring)) / 200_000)
    assert reach.max() <= d + excess + spacing / 2 + tol


def test_a_tall_tooth_beside_short_ones_is_drawn_farther_and_measured() -> None:
    """GEOS cuts a tall tooth's wall into the rounded tips beside it: 5 % beyond the distance.

    Six short teeth and a tall one, grown by 1 in stages: the last stage's input simplifier
    pivots a chord about the tall tooth's far end across the short tooth's tip (it checks
    every tenth vertex of the run it cuts), reaching about 1.05 from the comb. The measured
    overshoot covers it, so the grown shape near disks is trusted only that far.
    """
    xs = np.linspace(0.0, 1.0, 15)
    ys = np.zeros(xs.size)
    ys[::2] = [1, 1, 1, 1, 1, 1, 1, 3]
    comb = shapely.Polygon(np.r_[[[1.0, -0.1], [0.0, -0.1]], np.c_[xs, ys]])
    got = _geos.staged(comb, 1.0, 16)
    edge = shapely.segmentize(shapely.boundary(got), 0.001)
    reach = float(np.max(shapely.distance(comb, shapely.points(shapely.get_coordinates(edge)))))
    excess = _geos.overshoot(got, shapely.Polygon(comb), 1.0, 0.002)
    assert reach <= 1.0 + excess
    assert excess > 0.02  # (beyond the 1 % GEOS promises: why it is measured)


def test_staged_buffer_keeps_a_lake_pocket_a_margin_does_not_reach() -> None:
    """A round lake 0.5 % wider than the margin keeps its unreached middle, as one buffer does."""
    hole = shapely.Point(0.0, 0.0).buffer(1005.0, quad_segs=64).exterior
    land = shapely.Polygon(
        [(-5000, -5000), (5000, -5000), (5000, 5000), (-5000, 5000)], [hole.coords[::-1]]
    )
    got = _geos.staged(land, 1000.0, 16)
    assert not shapely.covers(got, shapely.Point(0.0, 0.0))
    assert shapely.covers(got, shapely.Point(0.0, 0.0).buffer(1005.0 - 1000.0 * 0.999).exterior)


# ---------------------------------------------------------------------------------------------
# Work: GEOS's buffers and the screen's (box, segment) pairs
# ---------------------------------------------------------------------------------------------


def _crowding(geom: Any, d: float, rng: np.random.Generator) -> float:
    """Mean number of the input's segments within ``2 d`` of a sampled segment of it.

    GEOS's offset curves of two segments farther apart than twice the distance never cross,
    so this bounds the crossings its noding meets per segment: the work beyond the vertices.
    """
    c = shapely.get_coordinates(shapely.get_rings(geom), return_index=False)
    rings = shapely.get_rings(geom)
    lines = np.concatenate(
        [
            shapely.linestrings(np.stack([r[:-1], r[1:]], axis=1))
            for r in (shapely.get_coordinates(ring) for ring in rings)
        ]
    )
    assert c.shape[0] >= lines.size
    tree = shapely.STRtree(lines)
    sample = lines[rng.choice(lines.size, min(lines.size, 200), replace=False)]
    pairs = tree.query(sample, predicate="dwithin", distance=2.0 * d)[0].size
    return float(pairs / sample.size)


def _buffer_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, float]]:
    """Record every GEOS buffer geotarget asks for: its input and distance."""
    calls: list[tuple[Any, float]] = []
    buffer = shapely.buffer

    def counted(geom: Any, distance: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((geom, float(distance)))
        return buffer(geom, distance, *args, **kwargs)

    monkeypatch.setattr(shapely, "buffer", counted)
    return calls


def _devices_near(west: float, south: float, east: float, north: float, n: int) -> PositionIndex:
    rng = np.random.default_rng(1)
    lon = rng.uniform(west, east, n)
    lat = rng.uniform(south, north, n)
    acc = rng.uniform(5.0, 2000.0, n)
    seen = np.full(n, np.datetime64("2026-03-01T11:59"))
    return PositionIndex(Positions(np.arange(n), lon, lat, accuracy_m=acc, observed_at=seen))


@pytest.mark.parametrize("margin", [1_000.0, 10_000.0])
def test_a_comb_margin_is_grown_without_crossing_every_tooth(
    monkeypatch: pytest.MonkeyPatch, margin: float
) -> None:
    """The GEOS buffers of a comb's margin pair few segments within twice their distance.

    A comb of 300 teeth 30 m apart at 59°N, grown by its margin, in a classification, for the
    disks over its gaps: one buffer by the margin met every tooth within twice the margin of
    each (thousands of segments each: 600 teeth grown by 10 km took 9 s within a
    classification, 2,000 teeth 210 s).
    """
    part = Polygon(_comb(300, 17.99, 58.995, 0.15, 0.05), margin_m=margin)
    index = _devices_near(17.9, 58.9, 18.25, 59.1, 20_000)
    calls = _buffer_calls(monkeypatch)
    rows, _ = index.classify(part, RULE, AT)
    assert rows.size > 1000
    assert calls
    rng = np.random.default_rng(2)
    for geom, d in calls:
        n = int(shapely.get_num_coordinates(geom))
        crowd = _crowding(geom, d, rng)
        # (One buffer by the margin: over 100 million such pairs.)
        assert crowd * n <= 32e6, (crowd, d, n)


def _count_box_pairs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the (box, segment) pairs the screen's segment grids test."""
    count = [0]
    box_meets = segments.SegmentGrid._box_meets

    def counted(self: Any, west: Any, *args: Any, **kwargs: Any) -> Any:
        pairs = segments.SegmentGrid._pairs

        def counting(grid: Any, *a: Any, **k: Any) -> Any:
            for q, j in pairs(grid, *a, **k):
                count[0] += int(q.size)
                yield q, j

        monkeypatch.setattr(segments.SegmentGrid, "_pairs", counting)
        try:
            return box_meets(self, west, *args, **kwargs)
        finally:
            monkeypatch.setattr(segments.SegmentGrid, "_pairs", pairs)

    monkeypatch.setattr(segments.SegmentGrid, "_box_meets", counted)
    return count


def test_a_comb_margin_screens_boxes_without_every_tooth(monkeypatch: pytest.MonkeyPatch) -> None:
    """The screen of a margin polygon tests few (box, segment) pairs a device.

    Each device's box (its disk, and its disk grown by the 1 km margin) was tested against
    every tooth piece of the cells it spans, both boxes for every device: 600 teeth, 100,000
    devices, 2.3 s. A box with corners on both sides of the boundary meets it, and a device
    in the polygon needs only its own disk's box, one outside only the grown one.
    """
    part = Polygon(_comb(300, 17.99, 58.995, 0.15, 0.05), margin_m=1_000.0)
    n = 20_000
    index = _devices_near(17.9, 58.9, 18.25, 59.1, n)
    count = _count_box_pairs(monkeypatch)
    rows, _ = index.classify(part, RULE, AT)
    assert rows.size > 1000
    assert count[0] <= 192 * n, count[0]  # (before: over 9 million)


# ---------------------------------------------------------------------------------------------
# Ranks against the definition (tests/test_margins_probe7.py's oracle)
# ---------------------------------------------------------------------------------------------


PLACES = {
    "comb": lambda m: Polygon(_comb(120, 17.99, 58.995, 0.06, 0.03), margin_m=m),
    "star": lambda m: Polygon(_star(90, 18.0, 59.3, 0.002, 0.05), margin_m=m),
    "stockholm": _stockholm,
}


@pytest.mark.parametrize("margin", [150.0, 1_000.0, 10_000.0])
@pytest.mark.parametrize("place", sorted(PLACES))
def test_jagged_margin_ranks_match_the_metric_oracle(place: str, margin: float) -> None:
    """Every compared disk ranks as the definition says, over water and teeth alike."""
    part = PLACES[place](margin)
    west, south, east, north = part.bounds
    rng = np.random.default_rng(int(margin))
    n = 6000
    lon = rng.uniform(west, east, n)
    lat = rng.uniform(south, north, n)
    r = rng.choice([0.0, 3.0, 40.0, 300.0, 1500.0, 6000.0], n) * np.exp(rng.uniform(-0.3, 0.3, n))
    seen = np.full(n, np.datetime64("2026-03-01T11:59"))
    index = PositionIndex(Positions(np.arange(n), lon, lat, accuracy_m=r, observed_at=seen))
    rows, states = index.classify(part, RULE, AT)
    got = np.zeros(n, dtype=np.int8)
    got[rows] = np.where(states == Location.INSIDE, 2, 1)
    want, either = _oracle(part, lon, lat, r)
    checked = want >= 0
    assert checked.sum() > 0.95 * n
    bad = np.flatnonzero(checked & (got != want) & ~(either & (got >= 1)))
    assert bad.size == 0, (bad[:5], got[bad[:5]], want[bad[:5]], r[bad[:5]])
    assert set(np.unique(want[checked]).tolist()) == {0, 1, 2}


# ---------------------------------------------------------------------------------------------
# Which shapes are grown in stages
# ---------------------------------------------------------------------------------------------


def _crowding_by_hand(geom: Any, d: float) -> float:
    """Sum over convex vertex pairs within ``2 d`` of their turning angles' product, by hand."""
    verts: list[tuple[float, float, float]] = []
    for poly in shapely.get_parts(geom):
        rings = [poly.exterior, *poly.interiors]
        for k, ring in enumerate(rings):
            c = list(ring.coords)[:-1]
            ccw = ring.is_ccw
            for i in range(len(c)):
                (ax, ay), (bx, by), (cx, cy) = c[i - 1], c[i], c[(i + 1) % len(c)]
                ux, uy, vx, vy = bx - ax, by - ay, cx - bx, cy - by
                turn = math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
                # Convex: a left turn on a counter-clockwise shell or a clockwise hole.
                left_is_convex = ccw if k == 0 else not ccw
                if turn != 0.0 and (turn > 0.0) == left_is_convex:
                    verts.append((bx, by, abs(turn)))
    return sum(
        ti * tj
        for xi, yi, ti in verts
        for xj, yj, tj in verts
        if math.hypot(xi - xj, yi - yj) <= 2.0 * d
    )


@pytest.mark.parametrize("teeth", [5, 40, 150])
@pytest.mark.parametrize("d", [0.01, 0.5, 20.0])
def test_crowding_estimates_the_crossing_join_arcs(teeth: int, d: float) -> None:
    """The sampled estimate is near the exact sum (a comb's and a star's angles, both turns)."""
    comb = shapely.Polygon(_comb(teeth, 0.0, 0.0, 10.0, 3.0))
    star = shapely.Polygon(_star(teeth, 0.0, 0.0, 0.5, 3.0))
    holed = shapely.Polygon(
        [(-50, -50), (50, -50), (50, 50), (-50, 50)], [star.exterior.coords[::-1]]
    )
    for geom in (comb, star, shapely.polygons(shapely.get_coordinates(comb)[::-1]), holed):
        want = _crowding_by_hand(geom, d)
        got = _geos.crowding(geom, d)
        assert 0.5 * want <= got <= 2.0 * want, (got, want)


def test_an_ordinary_shape_is_grown_by_one_buffer_as_before() -> None:
    """Every Swedish municipality, metric, grown by 10 km and 30 km: GEOS's one buffer."""
    t = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
    municipalities = list(sweden.municipalities())
    assert len(municipalities) == 290
    for region in municipalities:
        metric = shapely.transform(
            region.geometry, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
        )
        for d in (10_000.0, 30_000.0):
            assert _geos.crowding(metric, d) <= _geos.CROWDED_TURNS, (region.code, d)
            got = _geos.grown(metric, d, 16)
            assert shapely.equals_exact(got, shapely.buffer(metric, d, quad_segs=16), 0.0)


def test_a_crowded_comb_is_grown_in_stages_near_one_buffer() -> None:
    """300 teeth 30 m apart grown by 5 km: in stages, within the drawing errors of one buffer."""
    comb = shapely.Polygon(_comb(300, 0.0, 0.0, 18_000.0, 5_000.0))
    d = 5_000.0
    assert _geos.crowding(comb, d) > _geos.CROWDED_TURNS
    got = _geos.grown(comb, d, 16)
    one = shapely.buffer(comb, d, quad_segs=16)
    inward = (1.0 - np.cos(np.pi / (4 * _geos.STAGE_QUAD_SEGS))) * d
    excess = _geos.overshoot(got, comb, d, 0.002 * d)
    assert shapely.hausdorff_distance(got, one) <= inward + excess + 1e-6 * d


def _distance(metric: Any, pts: Any) -> Arr:
    """``shapely.distance(metric, pts)``, the same numbers, through an STRtree of its segments.

    GEOS measures a point outside a polygon by its nearest segment and one the polygon meets
    as 0; walking the comb's 30,000 densified segments for each of 20,000 points took seconds.
    """
    coords = [shapely.get_coordinates(r) for r in [metric.exterior, *metric.interiors]]
    lines: Any = shapely.linestrings(
        np.concatenate([np.stack([c[:-1], c[1:]], axis=1) for c in coords])
    )
    (which, _), d = shapely.STRtree(lines).query_nearest(
        pts, return_distance=True, all_matches=False
    )
    edge = np.full(len(pts), np.nan)
    edge[which] = d
    shapely.prepare(metric)
    out: Arr = np.where(shapely.intersects(metric, pts), 0.0, edge)
    return out


@pytest.mark.parametrize("margin", [0.003, 0.5, 1_000.0])
def test_many_points_in_a_comb_margin_are_measured_as_the_definition_says(margin: float) -> None:
    """``contains`` over many points near a comb (the boundary's distance, not GEOS's polygon).

    Against the documented frame (``aeqd`` about the bounds' middle, pyproj) and shapely's
    distance to the metric polygon; points within a millimetre of the margin are not compared.
    """
    part = Polygon(_comb(300, 17.99, 58.995, 0.15, 0.05), margin_m=margin)
    west, south, east, north = part.bounds
    rng = np.random.default_rng(7)
    n = 20_000
    # Half near the teeth's tips and gaps (where the margin band is), half over the bounds.
    lon = np.r_[rng.uniform(west, east, n // 2), rng.uniform(17.99, 18.14, n // 2)]
    lat = np.r_[
        rng.uniform(south, north, n // 2),
        58.995 + 0.05 + rng.uniform(-0.002, 0.002, n // 2) * max(margin, 1.0) / 1_000.0,
    ]
    got = np.asarray(part.contains(lon, lat))
    t, metric = _frame(part)
    mx, my = t.transform(lon, lat)
    d = _distance(metric, shapely.points(mx, my))
    in_lonlat = shapely.intersects_xy(part.shape, lon, lat)
    want = in_lonlat | (d <= margin)
    checked = in_lonlat | (np.abs(d - margin) > 1e-3)
    assert checked.sum() > 0.9 * lon.size
    outside = ~in_lonlat & checked
    assert outside.sum() >= 2048 and (want & outside).any() and (~want & outside).any()
    bad = np.flatnonzero(checked & (got != want))
    assert bad.size == 0, (bad[:5], d[bad[:5]])
