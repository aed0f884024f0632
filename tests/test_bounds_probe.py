"""Areas whose cost could outgrow their input: each answers as its definition, in bounded memory.

Found by probing the matcher with areas no other test uses (docs/performance.rst, "Adversarial
areas"): memory is bounded with ``tracemalloc``, never wall-clock time.
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from _matcher_helpers import count_ray_edges

from geotarget import (
    Area,
    AreaIndex,
    Circle,
    InvalidArea,
    Location,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
)

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def _index(n: int, seed: int) -> tuple[PositionIndex, Any, Any]:
    rng = np.random.default_rng(seed)
    lon = 18.0 + rng.normal(0.0, 0.02, n)
    lat = 59.0 + rng.normal(0.0, 0.01, n)
    acc = rng.uniform(0.0, 40.0, n)
    positions = Positions(np.arange(n), lon, lat, accuracy_m=acc, observed_at=NOW)
    return PositionIndex(positions), lon, lat


def _peak(call: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        out = call()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _square() -> Polygon:
    return Polygon([(17.99, 58.995), (18.01, 58.995), (18.01, 59.005), (17.99, 59.005)])


@pytest.mark.parametrize(
    "copies",
    [
        pytest.param(lambda: [_square()] * 2_000, id="one polygon object 2,000 times"),
        pytest.param(lambda: [_square() for _ in range(2_000)], id="2,000 equal polygons"),
        pytest.param(lambda: [Circle(18.0, 59.0, 700.0)] * 2_000, id="one circle 2,000 times"),
    ],
)
def test_a_part_repeated_costs_what_the_part_costs(copies: Callable[[], list[Any]]) -> None:
    """An area writing one part 2,000 times over is that part: its answers, in its memory.

    Each copy was matched on its own and its rows kept until the end: 2,000 times the
    answer's rows (at 1.2 M devices, 10,000 copies of a polygon took 3.5 s and 547 MB to find
    its 6,776 devices, and 25 s to classify them).
    """
    index, lon, lat = _index(40_000, 1)
    parts = copies()
    one = parts[0]
    area = Area(parts)
    want = np.flatnonzero(one.contains(lon, lat))
    assert want.size > 5_000
    rule = LocationRule()
    want_rows, want_states = index.classify(one, rule, NOW)
    got, peak = _peak(lambda: index.query(area))
    np.testing.assert_array_equal(got, want)
    assert peak < 2 << 20, peak
    (rows, states), peak = _peak(lambda: index.classify(area, rule, NOW))
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(states, want_states)
    assert peak < 8 << 20, peak
    assert index.count(area) == want.size


def test_an_area_index_holds_a_repeated_part_once() -> None:
    """An alert area repeating one polygon 2,000 times over: one raster, one pair a point.

    Every copy got its own raster and its own candidate pair for every point near it (5,000
    copies: eight seconds and 254 MB to build, under a second to match 20,000 points); alerts
    sharing one circle now share its raster too. The matches are the brute force's.
    """
    rng = np.random.default_rng(2)
    lon = 18.0 + rng.normal(0.0, 0.02, 20_000)
    lat = 59.0 + rng.normal(0.0, 0.01, 20_000)
    square = _square()
    circle = Circle(18.0, 59.0, 700.0)
    areas: dict[str, Area | Circle] = {
        "a": Area([square] * 2_000),
        "b": circle,
        "c": Area([circle, square] * 500),
    }
    index, peak = _peak(lambda: AreaIndex(areas))
    assert peak < 8 << 20, peak
    assert len(index._buckets.parts) == 4  # (two of them share a raster)
    (rows, keys), peak = _peak(lambda: index.match(lon, lat))
    assert peak < 8 << 20, peak
    want = [(int(r), k) for k in sorted(areas) for r in np.flatnonzero(areas[k].contains(lon, lat))]
    assert list(zip(rows.tolist(), keys.tolist(), strict=True)) == sorted(want)
    assert index.areas["a"] is areas["a"]  # the caller's areas, as given


@pytest.mark.parametrize("chunk", [2048, 5])
def test_overlapping_circles_are_matched_in_bounded_memory(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 circles of 700 m a metre apart: their devices, in memory that does not grow 500-fold.

    Every (circle, leaf) pair on a rim was tested at once and the rows each circle found kept
    until the end, repeated once per circle: 2,000 such circles held 101 MB at 1.2 M devices
    for their 1,201 devices. Pairs are now tested a chunk at a time and the rows merged as
    they pile up; the answer is ``Geod.inv``'s (a small chunk merges at every step).
    """
    from geotarget._index import plan

    monkeypatch.setattr(plan, "PAIRS_PER_CHUNK", chunk)
    index, lon, lat = _index(40_000, 3)
    k, radius = 500, 700.0
    centres = np.c_[18.0 + np.arange(k) * 2e-5, np.full(k, 59.0)]
    area = Area([Circle(x, y, radius) for x, y in centres])
    got, peak = _peak(lambda: index.query(area))
    if chunk == 2048:
        assert peak < 24 << 20, peak  # (57 MB before; the (circle, leaf) pairs take 10)
    want = _within_circles(area, centres, radius, lon, lat)
    np.testing.assert_array_equal(got, want)
    assert got.size > 1_000


#: ``Geod.inv``'s answer for the overlapping circles, the same devices for every chunk size.
_WITHIN: dict[tuple[bytes, bytes, float], Any] = {}


def _within_circles(area: Area, centres: Any, radius: float, lon: Any, lat: Any) -> Any:
    """The devices within ``radius`` of any centre, by ``Geod.inv`` (500 of them: computed once)."""
    key = (np.ascontiguousarray(centres).tobytes(), np.r_[lon, lat].tobytes(), radius)
    if key not in _WITHIN:
        west, south, east, north = area.bounds
        near = np.flatnonzero((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
        geod = pyproj.Geod(ellps="WGS84")
        inside = np.zeros(near.size, dtype=np.bool_)
        for x, y in centres[::-1]:
            _, _, d = geod.inv(np.full(near.size, x), np.full(near.size, y), lon[near], lat[near])
            inside |= np.asarray(d) <= radius
        _WITHIN[key] = near[inside]
    return _WITHIN[key]


def _comb(teeth: int, west: float, south: float, width: float, height: float) -> Any:
    """A comb of north-south teeth, as a closed ring of lon/lat vertices."""
    xs = np.linspace(west, west + width, 2 * teeth + 1)
    ys = np.where(np.arange(xs.size) % 2 == 0, south + height, south + 0.01 * height)
    base = [[west, south], [west + width, south]]
    ring = np.r_[base, np.c_[xs, ys][::-1]]
    return np.r_[ring, ring[:1]]


def test_a_comb_of_north_south_teeth_costs_geos_few_edges_a_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GEOS's point-in-polygon ray along a parallel met every tooth: now it runs along a meridian.

    20,000 teeth across a Stockholm-sized box took 8.8 s to query among 1.2 M devices (13,071
    inside); the edges GEOS's rays meet are counted here from the calls' own arguments (its
    interval index returns every edge spanning the ray's coordinate). The answers are GEOS's
    own on the polygon as given, boundary points (every vertex, every edge's midpoint)
    included.
    """
    met = count_ray_edges(monkeypatch)
    ring = _comb(2_000, 17.99, 58.995, 0.02, 0.01)
    part = Polygon(ring)
    rng = np.random.default_rng(4)
    lon = np.r_[18.0 + rng.normal(0.0, 0.01, 20_000), ring[:, 0], (ring[1:, 0] + ring[:-1, 0]) / 2]
    lat = np.r_[59.0 + rng.normal(0.0, 0.005, 20_000), ring[:, 1], (ring[1:, 1] + ring[:-1, 1]) / 2]
    index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=NOW))
    want = np.flatnonzero(shapely.covers(shapely.Polygon(ring), shapely.points(lon, lat)))
    assert want.size > 8_000
    got = index.query(part)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.flatnonzero(part.contains(lon, lat)), want)
    rows, states = index.classify(part, LocationRule(accuracy=0.0), NOW)
    np.testing.assert_array_equal(rows, want)
    assert (states == Location.INSIDE).all()
    assert met[0] <= 50 * lon.size, met[0]


def test_holes_are_checked_against_the_shell_s_indexed_edges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each hole's "inside the shell" test walked every shell edge: holes × shell vertices.

    A 56,825-vertex coastline with 2,000 holes took 6.9 s to build (1.6 s now, most of it
    GEOS's own validity check of the whole). Counted here: the shell vertices walked by
    containment tests against an unprepared shell. The rules themselves still hold: a hole
    reaching outside is refused by its index.
    """
    walked = [0]
    covers = shapely.covers

    def counting(a: Any, b: Any, **kw: Any) -> Any:
        if not shapely.is_prepared(a):
            walked[0] += int(shapely.get_num_coordinates(a)) * int(np.size(b))
        return covers(a, b, **kw)

    monkeypatch.setattr(shapely, "covers", counting)
    angle = np.linspace(0.0, 2.0 * np.pi, 20_000, endpoint=False)
    shell = np.c_[18.0 + 0.2 * np.cos(angle), 59.0 + 0.1 * np.sin(angle)]
    centres = np.c_[18.0 + np.linspace(-0.1, 0.1, 300), np.full(300, 59.0)]
    holes = [[(x, y), (x + 1e-4, y), (x + 1e-4, y + 1e-4), (x, y + 1e-4)] for x, y in centres]
    part = Polygon(shell, holes)
    assert len(part.holes) == 300
    assert walked[0] <= 20_000 * 10, walked[0]
    outside = [*holes[:7], [(18.25, 59.0), (18.26, 59.0), (18.26, 59.01)]]
    with pytest.raises(InvalidArea, match=r"holes\[7\] must lie inside the exterior ring"):
        Polygon(shell, outside)


def test_repairing_a_ring_of_subnormal_coordinates_raises_no_floating_point_warning() -> None:
    """GEOS's repair of a ring with subnormal coordinates left numpy's ``invalid`` flag set.

    Under ``-W error`` (as the test suite runs) ``Polygon.repair``, and a CAP polygon that
    needed it, raised ``RuntimeWarning: invalid value encountered in make_valid_with_params``
    instead of an answer (found by Hypothesis in ``test_areas.py``). The ring encloses no
    area, which geotarget's own error says.
    """
    ring = [(0.0, 90.0), (1.175494351e-38, 0.0), (1.175494351e-38, 1.1754943508222875e-38)]
    ring.append((-2.4683225781532552e-92, 90.0))
    with pytest.raises(InvalidArea, match="encloses no area after repair"):
        Polygon.repair(ring)


def test_the_estimate_of_a_polygon_tested_transposed_counts_its_second_shape() -> None:
    """The caches' byte estimate counts the transposed shape a comb's points are tested on.

    It counted the rings, the prepared shape and the frames only, so a byte-bounded cache of
    combs held more than its bound said. The same comb turned east-west (lon and lat swapped:
    as many vertices, as long a boundary in degrees) is tested as given, with no second shape.
    """
    from geotarget._index import polygons
    from geotarget.areas import _estimated_bytes

    ring = _comb(2_000, 17.99, 58.995, 0.02, 0.01)
    comb, turned = Polygon(ring), Polygon(ring[:, ::-1])
    assert polygons.transposes(comb) and not polygons.transposes(turned)
    assert polygons.point_shape(comb)[1] and not polygons.point_shape(turned)[1]
    extra = _estimated_bytes(Area([comb])) - _estimated_bytes(Area([turned]))
    assert extra == 64 * len(ring)  # a prepared GEOS shape: ~64 bytes a vertex


def test_parts_alike_in_size_and_start_are_not_taken_for_equal() -> None:
    """Parts are told apart by ring sizes and first vertex, then compared whole where those meet.

    Two different triangles from one vertex both count; an equal copy of either does not.
    """
    from geotarget import matcher

    a = Polygon([(18.0, 59.0), (18.1, 59.0), (18.0, 59.1)])
    b = Polygon([(18.0, 59.0), (18.2, 59.0), (18.0, 59.1)])
    again = Polygon([(18.1, 59.0), (18.0, 59.1), (18.0, 59.0)])  # a, from another vertex
    assert a.exterior[0] == b.exterior[0] and len(a.exterior) == len(b.exterior)
    assert matcher._distinct((a, b)) == (a, b)
    assert matcher._distinct((a, b, again, Circle(18.0, 59.0, 10.0))) == (
        a,
        b,
        Circle(18.0, 59.0, 10.0),
    )
