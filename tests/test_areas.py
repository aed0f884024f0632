"""Areas: exact geodesic circles, lon/lat polygons, unions, GeoJSON and precise errors."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import textwrap
import tracemalloc
from typing import Any, NoReturn
from unittest import mock

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely
import shapely.geometry as sg
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from strategies import any_lat, any_lon, radius_m, sweden_lat, sweden_lon

from geotarget import (
    AlertArea,
    Area,
    Circle,
    GeotargetError,
    InvalidAlert,
    InvalidArea,
    InvalidCoordinates,
    InvalidGeoJSON,
    InvalidType,
    Polygon,
)
from geotarget._index import polygons
from geotarget.areas import _geodesic_area

GEOD = pyproj.Geod(ellps="WGS84")
SQUARE = [(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)]


def geod_inside(c: Circle, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The oracle: Geod.inv distance to the centre <= radius + margin."""
    _, _, d = GEOD.inv(np.full(lon.shape, c.lon), np.full(lat.shape, c.lat), lon, lat)
    return np.asarray(d) <= c.reach_m


def rim_points(
    c: Circle, n: int, rng: np.random.Generator, spread_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points at geodesic distance reach ± spread_m from the centre, in random directions."""
    az = rng.uniform(0.0, 360.0, n)
    dist = np.maximum(c.reach_m + rng.uniform(-spread_m, spread_m, n), 0.0)
    lon, lat, _ = GEOD.fwd(np.full(n, c.lon), np.full(n, c.lat), az, dist)
    return np.asarray(lon), np.asarray(lat)


# --- circles: the geodesic oracle ---------------------------------------------------------


@settings(max_examples=2000)
@given(
    lon=st.one_of(sweden_lon, any_lon),
    lat=st.one_of(sweden_lat, any_lat),
    radius=radius_m,
    margin=st.sampled_from([0.0, 0.5, 25.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_circle_equals_geod_inv_near_the_rim(
    lon: float, lat: float, radius: float, margin: float, seed: int
) -> None:
    """Every point within a metre of the rim gets exactly the Geod.inv decision."""
    c = Circle(lon, lat, radius, margin_m=margin)
    rng = np.random.default_rng(seed)
    for spread in (1e-3, 1.0):
        plon, plat = rim_points(c, 100, rng, spread)
        np.testing.assert_array_equal(c.contains(plon, plat), geod_inside(c, plon, plat))


@settings(max_examples=1000)
@given(lon=any_lon, lat=any_lat, radius=st.floats(1e4, 1e6), seed=st.integers(0, 2**32 - 1))
def test_circle_equals_geod_inv_for_points_anywhere_around(
    lon: float, lat: float, radius: float, seed: int
) -> None:
    """Random points within twice the radius (poles and antimeridian too) match Geod.inv."""
    c = Circle(lon, lat, radius)
    rng = np.random.default_rng(seed)
    n = 200
    plon, plat, _ = GEOD.fwd(
        np.full(n, lon), np.full(n, lat), rng.uniform(0, 360, n), rng.uniform(0, 2 * radius, n)
    )
    plon, plat = np.asarray(plon), np.asarray(plat)
    np.testing.assert_array_equal(c.contains(plon, plat), geod_inside(c, plon, plat))


def test_circle_on_many_swedish_points_matches_geod_exactly() -> None:
    """A 10 km circle at Stockholm C agrees with Geod.inv on 200,000 points around it."""
    c = Circle(18.05611, 59.33, 10_000.0)
    rng = np.random.default_rng(7)
    lon = rng.uniform(17.8, 18.3, 200_000)
    lat = rng.uniform(59.2, 59.45, 200_000)
    rl, rt = rim_points(c, 20_000, rng, 0.01)
    lon, lat = np.concatenate([lon, rl]), np.concatenate([lat, rt])
    np.testing.assert_array_equal(c.contains(lon, lat), geod_inside(c, lon, lat))


def test_circle_beats_a_polygonised_circle() -> None:
    """Points just inside the rim are inside, where a 256-gon of the circle loses them."""
    c = Circle(18.05611, 59.33, 10_000.0)
    lon, lat, _ = GEOD.fwd(
        np.full(256, c.lon),
        np.full(256, c.lat),
        np.arange(256) * 360 / 256 + 180 / 256,
        np.full(256, 9_999.5),
    )
    assert c.contains(lon, lat).all()
    rim_lon, rim_lat, _ = GEOD.fwd(
        np.full(256, c.lon), np.full(256, c.lat), np.arange(256) * 360 / 256, np.full(256, 1e4)
    )
    gon = sg.Polygon(np.column_stack([rim_lon, rim_lat]))
    assert not shapely.contains_xy(gon, lon, lat).all()


def test_contains_keeps_the_input_shape() -> None:
    """Scalars give a 0-d bool array and 2-d inputs a 2-d result."""
    c = Circle(0.0, 0.0, 1000.0)
    assert c.contains(0.0, 0.0).shape == ()
    assert bool(c.contains(0.0, 0.0))
    grid = np.zeros((3, 4))
    out = c.contains(grid, grid)
    assert out.shape == (3, 4)
    assert out.dtype == np.bool_
    assert out.all()


def test_circle_bounds_hold_the_rim() -> None:
    """Every rim point lies inside the bounds, which are within a few metres of the rim."""
    c = Circle(18.05611, 59.33, 10_000.0)
    west, south, east, north = c.bounds
    lon, lat = c._rim()
    assert (lon >= west).all() and (lon <= east).all()
    assert (lat >= south).all() and (lat <= north).all()
    assert lat.max() - north > -2e-5 and south - lat.min() > -2e-5


@settings(max_examples=60, deadline=None)
@given(any_lon, st.floats(-89.0, 89.0), st.floats(10.0, 1_000_000.0))
def test_circle_bounds_hold_the_rim_with_exact_latitudes(lon: float, lat: float, r: float) -> None:
    """Oracle: 20,000 rim points by Geod.fwd lie inside; south/north are the rim's own."""
    c = Circle(lon, lat, r)
    west, south, east, north = c.bounds
    az = np.linspace(0.0, 360.0, 20_000, endpoint=False)
    rlon, rlat, _ = GEOD.fwd(np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, r))
    rlon, rlat = np.asarray(rlon), np.asarray(rlat)
    assert south <= rlat.min() and rlat.max() <= north
    if north < 90.0 and south > -90.0:  # covering no pole: the extremes are the rim's
        assert north - rlat.max() < 1e-6 and rlat.min() - south < 1e-6
    if west <= east:
        assert ((rlon >= west) & (rlon <= east)).all()
    else:  # across the antimeridian
        assert ((rlon >= west) | (rlon <= east)).all()


def test_bounds_of_ten_thousand_circles_take_no_rim(monkeypatch: pytest.MonkeyPatch) -> None:
    """Constant time a circle: no rim is drawn (was ~10 s, 4,096-point rims for 10,000)."""
    rng = np.random.default_rng(1)
    area = Area(
        [Circle(x, y, r) for x, y, r in zip(
            rng.uniform(17.5, 18.5, 10_000), rng.uniform(59, 60, 10_000),
            rng.uniform(100, 1100, 10_000), strict=True)]
    )  # fmt: skip

    def refused(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("a rim was drawn")

    monkeypatch.setattr(Circle, "_rim", refused)
    monkeypatch.setattr(Circle, "_to_lonlat_polygon", refused)
    west, south, east, north = area.bounds
    assert 17.4 < west < 17.5 and 18.5 < east < 18.6 and 58.9 < south < 59 and 60 < north < 60.1


def test_circle_bounds_across_the_antimeridian_wrap() -> None:
    """A circle on the antimeridian has west > east, as RFC 7946 says."""
    west, _, east, _ = Circle(180.0, 0.0, 50_000.0).bounds
    assert west > east
    assert west == pytest.approx(180.0 - 0.4492, abs=1e-3)


def test_circle_area_matches_the_geodesic_disc() -> None:
    """A 10 km circle's area equals π r² within the ellipsoid's curvature correction."""
    c = Circle(18.05611, 59.33, 10_000.0)
    assert c.area_m2 == pytest.approx(math.pi * 1e8, rel=1e-5)


# --- polygons ------------------------------------------------------------------------------


@st.composite
def star_polygons(draw: st.DrawFn) -> tuple[list[tuple[float, float]], list[Any]]:
    """Random star-shaped rings in Sweden, sometimes with a small hole at the centre."""
    lon0 = draw(sweden_lon)
    lat0 = draw(sweden_lat)
    n = draw(st.integers(3, 12))
    radii = draw(st.lists(st.floats(0.02, 0.3), min_size=n, max_size=n))
    angles = np.sort(draw(st.lists(st.floats(0, 2 * math.pi), min_size=n, max_size=n, unique=True)))
    ring = [
        (lon0 + r * math.cos(a), lat0 + r * math.sin(a)) for r, a in zip(radii, angles, strict=True)
    ]
    holes: list[Any] = []
    if draw(st.booleans()):
        h = min(radii) / 4
        holes = [
            [(lon0 - h, lat0 - h), (lon0 + h, lat0 - h), (lon0 + h, lat0 + h), (lon0 - h, lat0 + h)]
        ]
    return ring, holes


@settings(max_examples=1000)
@given(poly=star_polygons(), seed=st.integers(0, 2**32 - 1))
def test_polygon_equals_shapely_covers_per_point(
    poly: tuple[list[tuple[float, float]], list[Any]], seed: int
) -> None:
    """Membership equals shapely ``covers`` point by point, vertices and edge midpoints included."""
    ring, holes = poly
    try:
        p = Polygon(ring, holes)
    except InvalidArea:
        return  # a degenerate random ring (collinear or hole touching) is rejected, fine
    rng = np.random.default_rng(seed)
    west, south, east, north = p.bounds
    lon = rng.uniform(west - 0.01, east + 0.01, 150)
    lat = rng.uniform(south - 0.01, north + 0.01, 150)
    verts = np.array(ring + [c for h in holes for c in h])
    mids = (np.array(ring) + np.roll(np.array(ring), 1, axis=0)) / 2
    lon = np.concatenate([lon, verts[:, 0], mids[:, 0]])
    lat = np.concatenate([lat, verts[:, 1], mids[:, 1]])
    # covers of each point on its own, asked of GEOS for all the points in one call
    expected = shapely.covers(p.shape, shapely.points(lon, lat))
    np.testing.assert_array_equal(p.contains(lon, lat), expected)


def test_polygon_boundary_is_inside_and_hole_is_outside() -> None:
    """Edges and vertices are inside; the hole's interior is not, its rim is."""
    hole = [(18.04, 59.04), (18.06, 59.04), (18.06, 59.06), (18.04, 59.06)]
    p = Polygon(SQUARE, [hole])
    lon = [18.0, 18.05, 18.1, 18.05, 18.04, 18.2]
    lat = [59.0, 59.0, 59.05, 59.05, 59.05, 59.05]
    assert p.contains(lon, lat).tolist() == [True, True, True, False, True, False]


def test_polygon_orientation_is_normalised() -> None:
    """A clockwise ring and a counter-clockwise ring make equal polygons."""
    assert Polygon(SQUARE) == Polygon(list(reversed(SQUARE)))
    assert sg.LinearRing(Polygon(list(reversed(SQUARE))).exterior).is_ccw


@given(
    start=st.integers(0, 3),
    reverse=st.booleans(),
    holes_reversed=st.booleans(),
    repeat=st.integers(0, 3),
    margin_m=st.sampled_from([0.0, 25.0]),
)
def test_equal_shapes_given_another_way_compare_equal(
    start: int, reverse: bool, holes_reversed: bool, repeat: int, margin_m: float
) -> None:
    """Equal shapes compare equal however they were given, as the class promises.

    Any start vertex, either orientation, holes in any order, a vertex written twice in a row.
    """
    ring = SQUARE[start:] + SQUARE[:start]
    ring = ring[::-1] if reverse else ring
    ring = [*ring[: repeat + 1], ring[repeat], *ring[repeat + 1 :]]  # one vertex twice in a row
    holes = [
        [(18.01, 59.01), (18.02, 59.01), (18.02, 59.02)],
        [(18.05, 59.05), (18.06, 59.05), (18.06, 59.06), (18.05, 59.06)],
    ]
    given = Polygon(ring, holes[::-1] if holes_reversed else holes, margin_m=margin_m)
    plain = Polygon(SQUARE, holes, margin_m=margin_m)
    assert given == plain and hash(given) == hash(plain)
    assert given.with_margin(0.0) == Polygon(SQUARE, holes)
    assert Area.from_geojson(Area([given]).to_geojson()) == Area([plain])


def test_polygon_edges_are_straight_in_lonlat() -> None:
    """A point on a long east-west edge at 60°N is inside: edges are not great circles."""
    p = Polygon([(10.0, 60.0), (20.0, 60.0), (20.0, 61.0), (10.0, 61.0)])
    # The great circle between the bottom corners bulges north of 60°N by ~0.1°.
    assert bool(p.contains(15.0, 60.0))
    assert not bool(p.contains(15.0, 59.9999))


#: The least meridional radius of curvature, a (1 - e^2) at the equator: a path that moves
#: dlat radians of latitude is at least this times dlat long.
_M_MIN = GEOD.a * (1.0 - GEOD.es)


def nearest_geod_m(lon: Any, lat: Any, bx: Any, by: Any) -> npt.NDArray[np.float64]:
    """Each point's least ``Geod.inv`` distance to the sample points ``(bx, by)``.

    The minimum over every sample, bit for bit, without measuring the samples that cannot be
    nearest: the point's distances to every 64th sample bound its minimum from above (``u``).
    A path of length at most ``u`` moves at most ``u / _M_MIN`` radians of latitude, so it stays
    below the latitude ``top`` that allows, and crossing ``dlon`` radians of longitude there
    takes at least ``a cos(top) dlon`` (the parallel's radius ``N cos(lat)`` is at least that).
    A sample whose latitude or longitude alone puts it beyond ``u`` (with 1 mm to spare for
    rounding) is therefore farther than the nearest one and is not measured.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    out = np.empty(lon.size)
    coarse = slice(None, None, 64)
    for i in range(lon.size):
        m = bx[coarse].size
        _, _, d = GEOD.inv(np.full(m, lon[i]), np.full(m, lat[i]), bx[coarse], by[coarse])
        u = float(np.min(d)) * (1.0 + 1e-9) + 1e-3
        reach = u / _M_MIN
        top = min(math.pi / 2.0, math.radians(abs(lat[i])) + reach)
        dlat = np.radians(np.abs(by - lat[i]))
        dlon = np.abs(bx - lon[i]) % 360.0
        dlon = np.radians(np.minimum(dlon, 360.0 - dlon))
        near = (dlat * _M_MIN <= u) & (GEOD.a * math.cos(top) * dlon <= u)
        k = int(np.count_nonzero(near))
        _, _, d = GEOD.inv(np.full(k, lon[i]), np.full(k, lat[i]), bx[near], by[near])
        out[i] = np.min(d)
    return out


def polygon_distance_oracle(p: Polygon, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Geodesic distance from each point to a densely sampled polygon boundary (slow)."""
    dense = shapely.segmentize(shapely.boundary(p.shape), 0.00005)
    bx, by = shapely.get_coordinates(dense).T
    return nearest_geod_m(lon, lat, bx, by)


@pytest.mark.parametrize("margin", [50.0, 1000.0])
def test_polygon_margin_is_within_its_stated_error_bound(margin: float) -> None:
    """Points nearer than margin - bound are in, points farther than margin + bound are out."""
    p = Polygon(SQUARE, margin_m=margin)
    bound = p.margin_error_bound_m
    assert 0 < bound < 0.01 * margin
    rng = np.random.default_rng(3)
    west, south, east, north = p.bounds
    lon = rng.uniform(west, east, 400)
    lat = rng.uniform(south, north, 400)
    outside = ~shapely.intersects_xy(p.shape, lon, lat)
    lon, lat = lon[outside], lat[outside]
    dist = polygon_distance_oracle(p, lon, lat)
    sampling = 3.0  # metres: the oracle samples the boundary every ~5 m
    got = p.contains(lon, lat)
    assert got[dist < margin - bound - sampling].all()
    assert not got[dist > margin + bound].any()


def test_polygon_margin_near_an_edge_is_metric() -> None:
    """A point 99 m north of the top edge is in with a 100 m margin, 101 m is out."""
    p = Polygon(SQUARE, margin_m=100.0)
    lon, lat, _ = GEOD.fwd([18.05, 18.05], [59.1, 59.1], [0.0, 0.0], [99.0, 101.0])
    assert p.contains(lon, lat).tolist() == [True, False]


def _margin_oracle(poly: Polygon, lon: npt.NDArray[Any], lat: npt.NDArray[Any]) -> Any:
    """The margin's definition, built here, independently of geotarget's frame.

    In the lon/lat polygon, or within ``margin_m`` of it in the azimuthal-equidistant frame at
    its bounds' centre, its ring densified to 0.001° (pyproj from the EPSG CRS, shapely's
    ``dwithin``).
    """
    west, south, east, north = poly.shape.bounds
    lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
    aeqd = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84")
    t = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    ring = shapely.get_coordinates(shapely.segmentize(sg.LinearRing(poly.exterior), 0.001))
    mx, my = t.transform(ring[:, 0], ring[:, 1])
    metric = sg.Polygon(np.column_stack([mx, my]))
    px, py = t.transform(lon, lat)
    near = shapely.dwithin(metric, shapely.points(px, py), poly.margin_m)
    return shapely.intersects_xy(poly.shape, lon, lat) | near


@settings(max_examples=60, deadline=None)
@given(
    lon=sweden_lon,
    lat=sweden_lat,
    size=st.floats(100.0, 5000.0),
    margin=st.sampled_from([0.001, 0.5, 30.0, 1000.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_polygon_margin_equals_its_metric_definition_near_the_threshold(
    lon: float, lat: float, size: float, margin: float, seed: int
) -> None:
    """A new polygon's margin, bounded in the tangent plane first, is its frame's own.

    Points at the margin's distance from the boundary, to a micrometre either side, and some
    far inside or out; the frame is built only for the points the bounds leave undecided.
    """
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    ang = np.sort(rng.uniform(0.0, 2.0 * math.pi, n))
    rad = size * rng.uniform(0.5, 1.0, n)
    az_deg = np.degrees(ang)
    vlon, vlat, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az_deg, rad)
    assume(sg.Polygon(np.column_stack([vlon, vlat])).is_valid)
    poly = Polygon(np.column_stack([vlon, vlat]), margin_m=margin)
    # Points beyond an edge's midpoint, along the edge's outward normal (from the centre).
    k = 12
    edge = rng.integers(0, n, k)
    nxt = (edge + 1) % n
    mid_lon, mid_lat = (vlon[edge] + vlon[nxt]) / 2.0, (vlat[edge] + vlat[nxt]) / 2.0
    out_az, _, _ = GEOD.inv(np.full(k, lon), np.full(k, lat), mid_lon, mid_lat)
    delta = rng.choice([-1e-6, 1e-6, -1e-3, 1e-3, -3.0, 3.0, -0.4 * size, 2.0 * size], k)
    plon, plat, _ = GEOD.fwd(mid_lon, mid_lat, out_az, np.maximum(margin + delta, 0.0))
    got = poly.contains(plon, plat)
    assert got.tolist() == np.asarray(_margin_oracle(poly, plon, plat)).tolist()


def test_a_polygon_with_another_margin_equals_one_built_with_it() -> None:
    """The plan's stale area grows a polygon without validating its rings again."""
    p = Polygon(SQUARE, [[(18.04, 59.04), (18.06, 59.04), (18.06, 59.06)]], margin_m=5.0)
    grown = p.with_margin(250.0)
    built = Polygon(p.exterior, p.holes, margin_m=250.0)
    assert grown == built and hash(grown) == hash(built) and repr(grown) == repr(built)
    lon, lat, _ = GEOD.fwd([18.05] * 4, [59.1] * 4, [0.0] * 4, [10.0, 200.0, 249.0, 300.0])
    assert grown.contains(lon, lat).tolist() == built.contains(lon, lat).tolist()
    assert grown.area_m2 == built.area_m2
    with pytest.raises(InvalidArea, match="margin_m"):
        p.with_margin(-1.0)


def test_a_circle_with_another_margin_equals_one_built_with_it() -> None:
    c = Circle(18.05, 59.05, 500.0, margin_m=5.0)
    grown = c.with_margin(250.0)
    built = Circle(18.05, 59.05, 500.0, margin_m=250.0)
    assert grown == built and hash(grown) == hash(built) and grown.reach_m == 750.0
    for bad in (-1.0, float("nan"), 1e9, "5"):
        with pytest.raises((InvalidArea, InvalidType), match="margin_m"):
            c.with_margin(bad)  # type: ignore[arg-type]


def test_what_the_matcher_derives_from_a_polygon_lives_as_long_as_the_polygon() -> None:
    """Shared with the polygon at another margin; gone, not leaked, when both are."""
    import gc

    p = Polygon(SQUARE, margin_m=100.0)
    grown = p.with_margin(300.0)
    lon, lat, _ = GEOD.fwd([18.05], [59.1], [0.0], [100.0 - 2e-6])
    p.contains(lon, lat)  # builds the frame
    assert polygons.frame_if_built(grown) is polygons.frame_if_built(p) is not None
    before = len(polygons._MEMOS)
    del p, grown
    gc.collect()
    assert len(polygons._MEMOS) == before - 1
    for _ in range(200):  # many short-lived polygons: none stays
        polygons.edges(Polygon(SQUARE))
    gc.collect()
    assert len(polygons._MEMOS) == before - 1


def test_a_new_polygons_margin_decides_clear_points_without_its_frame() -> None:
    """A handful of points clearly in or beyond the margin: no projection of the boundary."""
    p = Polygon(SQUARE, margin_m=100.0)
    lon, lat, _ = GEOD.fwd([18.05, 18.05, 18.05], [59.1] * 3, [0.0] * 3, [50.0, 150.0, 5000.0])
    assert p.contains(lon, lat).tolist() == [True, False, False]
    assert polygons.frame_if_built(p) is None
    # Within a micrometre of the margin: the frame decides.
    lon, lat, _ = GEOD.fwd([18.05], [59.1], [0.0], [100.0 - 2e-6])
    assert p.contains(lon, lat).tolist() == np.asarray(_margin_oracle(p, lon, lat)).tolist()
    assert polygons.frame_if_built(p) is not None


# --- areas ---------------------------------------------------------------------------------


def test_area_is_the_union_of_its_parts() -> None:
    """Area.contains is the logical OR of its parts' answers."""
    parts: list[Circle | Polygon] = [
        Circle(18.05, 59.05, 2000.0),
        Polygon(SQUARE),
        Circle(12.0, 57.7, 500.0),
    ]
    area = Area(parts)
    rng = np.random.default_rng(1)
    lon = np.concatenate([rng.uniform(17.9, 18.2, 3000), rng.uniform(11.98, 12.02, 500)])
    lat = np.concatenate([rng.uniform(58.95, 59.15, 3000), rng.uniform(57.69, 57.71, 500)])
    expected = np.logical_or.reduce([p.contains(lon, lat) for p in parts])
    np.testing.assert_array_equal(area.contains(lon, lat), expected)


def test_area_flattens_nested_areas_and_supports_or() -> None:
    """Areas nest and combine with ``|`` into one flat tuple of parts."""
    a = Area(Circle(0, 0, 10))
    b = a | Polygon(SQUARE)
    assert len(Area([b, a]).parts) == 3
    assert b.parts[1] == Polygon(SQUARE)


def test_area_of_overlapping_parts_counts_overlap_once() -> None:
    """Two identical circles have the area of one."""
    c = Circle(18.0, 59.0, 1000.0)
    assert Area([c, c]).area_m2 == pytest.approx(c.area_m2, rel=1e-4)


def test_polygon_area_matches_geod() -> None:
    """A 0.1° square's area equals pyproj's geodesic area of the densified ring."""
    p = Polygon(SQUARE)
    dense = shapely.segmentize(p.shape, 0.0001)
    expected, _ = GEOD.geometry_area_perimeter(dense)
    assert p.area_m2 == pytest.approx(abs(expected), rel=1e-6)


def _densified_geod_area(rings: list[list[tuple[float, float]]], step: float) -> float:
    """Oracle: pyproj's geodesic area of the rings densified to ``step`` degrees.

    The first ring is the shell, the others holes (subtracted); each counts by its absolute
    value.
    """
    out = 0.0
    for i, ring in enumerate(rings):
        dense = shapely.get_coordinates(shapely.segmentize(sg.LinearRing(ring), step))
        area, _ = GEOD.polygon_area_perimeter(dense[:, 0], dense[:, 1])
        out += abs(area) if i == 0 else -abs(area)
    return out


@settings(max_examples=40, deadline=None)
@given(
    lon=st.floats(-175.0, 170.0),
    lat=st.floats(-85.0, 80.0),
    size=st.floats(1e-3, 4.0),
    seed=st.integers(0, 2**32 - 1),
    reverse=st.booleans(),
    hole=st.booleans(),
)
def test_polygon_area_is_the_lonlat_polygons_exact_area(
    lon: float, lat: float, size: float, seed: int, reverse: bool, hole: bool
) -> None:
    """A random star-shaped lon/lat ring (and hole) has the area of its edges straight in lon/lat.

    That is pyproj's area of the rings finely densified, whatever the rings' orientation.
    """
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    ang = np.sort(rng.uniform(0.0, 2.0 * math.pi, n))
    rad = size * rng.uniform(0.4, 1.0, n)
    ring = list(zip(lon + rad * np.cos(ang), lat + rad * np.sin(ang) * 0.5, strict=True))
    rings = [ring[::-1] if reverse else ring]
    if hole:
        r = 0.3 * size
        rings.append([(lon - r, lat - r / 4), (lon + r, lat - r / 4), (lon, lat + r / 4)])
    assume(sg.Polygon(rings[0], rings[1:]).is_valid)
    expected = _densified_geod_area(rings, min(size / 200.0, 2e-3))
    # The densified ring's area lies within 1e-7 of the lon/lat one's; pyproj's own rounding
    # grows with the vertices (~1e-3 m² for a 100 m ring of 2,000 vertices).
    assert Polygon(rings[0], rings[1:]).area_m2 == pytest.approx(expected, rel=2e-7, abs=1e-3)


def test_polygon_area_of_a_tall_ring_and_a_multipolygon() -> None:
    """Edges spanning up to 176° of latitude, and several parts.

    Such edges are cut into pieces: one 5-point rule over the whole edge is off by 3e-9.
    """
    tall = [(10.0, -88.0), (40.0, -10.0), (20.0, 88.0)]
    expected = _densified_geod_area([tall], 0.001)  # within 1e-10 of the lon/lat edges' area
    assert _geodesic_area(sg.Polygon(tall)) == pytest.approx(expected, rel=5e-10)
    both = sg.MultiPolygon([sg.Polygon(tall), sg.Polygon(SQUARE)])
    expected += _densified_geod_area([SQUARE], 1e-4)
    assert _geodesic_area(both) == pytest.approx(expected, rel=1e-8)
    assert _geodesic_area(sg.Polygon()) == 0.0


def test_geojson_round_trip_and_geo_interface() -> None:
    """to_geojson → from_geojson gives an equal area, also via JSON text."""
    hole = [(18.04, 59.04), (18.06, 59.04), (18.06, 59.06), (18.04, 59.06)]
    area = Area([Polygon(SQUARE, [hole], margin_m=10.0), Circle(18.0, 59.0, 500.0, margin_m=5.0)])
    assert Area.from_geojson(area.to_geojson()) == area
    assert Area.from_geojson(json.dumps(area.__geo_interface__)) == area


def test_geojson_reads_geometry_feature_and_collection() -> None:
    """Bare Polygon, MultiPolygon, Feature and GeometryCollection all read."""
    poly = {"type": "Polygon", "coordinates": [[list(p) for p in SQUARE]]}
    multi = {"type": "MultiPolygon", "coordinates": [poly["coordinates"], poly["coordinates"]]}
    assert Area.from_geojson(poly).parts == (Polygon(SQUARE),)
    assert len(Area.from_geojson(multi).parts) == 2
    feature = {"type": "Feature", "geometry": poly, "properties": {"margin_m": 3}}
    assert Area.from_geojson(feature).parts[0].margin_m == 3.0
    gc = {"type": "GeometryCollection", "geometries": [poly, multi]}
    assert len(Area.from_geojson(gc).parts) == 3


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        (
            {"lon": math.nan, "lat": 0, "radius_m": 1},
            InvalidCoordinates,
            "lon must be a finite number",
        ),
        ({"lon": 0, "lat": math.inf, "radius_m": 1}, InvalidCoordinates, "not infinite"),
        (
            {"lon": 0, "lat": 90.5, "radius_m": 1},
            InvalidCoordinates,
            "lat must be a finite number >= -90 and <= 90 (got 90.5)",
        ),
        ({"lon": -180.1, "lat": 0, "radius_m": 1}, InvalidCoordinates, "(got -180.1)"),
        ({"lon": True, "lat": 0, "radius_m": 1}, InvalidType, "not a bool"),
        ({"lon": 0, "lat": 0, "radius_m": False}, InvalidType, "radius_m"),
        (
            {"lon": 0, "lat": 0, "radius_m": "5"},
            InvalidType,
            "radius_m must be a finite number > 0 and <= 1000000 (got str '5')",
        ),
        ({"lon": 0, "lat": 0, "radius_m": 0}, InvalidArea, "radius_m must be a finite number > 0"),
        ({"lon": 0, "lat": 0, "radius_m": -3.0}, InvalidArea, "(got -3.0)"),
        ({"lon": 0, "lat": 0, "radius_m": 1_000_001}, InvalidArea, "<= 1000000 (got 1000001)"),
        (
            {"lon": 0, "lat": 0, "radius_m": 1, "margin_m": -1},
            InvalidArea,
            "margin_m must be a finite number >= 0",
        ),
    ],
)
def test_bad_circles_name_field_rule_and_value(
    kwargs: dict[str, Any], error: type[GeotargetError], fragment: str
) -> None:
    """Each bad circle argument raises the precise error naming field, rule and value."""
    with pytest.raises(error) as info:
        Circle(**kwargs)
    assert fragment in str(info.value)


def test_errors_refine_builtins() -> None:
    """Value errors are ValueErrors and type errors TypeErrors, for callers that know no geotarget."""
    with pytest.raises(ValueError, match="radius_m"):
        Circle(0, 0, -1)
    with pytest.raises(TypeError, match="bool"):
        Circle(0, 0, True)


@pytest.mark.parametrize(
    ("ring", "fragment"),
    [
        ([(0, 0), (1, 1), (0, 0)], "at least 3 distinct vertices (got 2"),
        (
            [(0, 0), (1, 1), (2, 2)],
            "exterior must enclose an area: its vertices all lie on one line",
        ),
        ([(0, 0), (1, 1), (1, 0), (0, 1)], "self-intersection at lon 0.5, lat 0.5"),
        ([(0, 0), (1, math.nan), (1, 0)], "exterior[1] lat must be a finite number"),
        (
            [(0, 0), (1, 91), (1, 0)],
            "exterior[1] lat must be a finite number >= -90 and <= 90 (got 91)",
        ),
        ([(0, 0), (1,), (1, 0)], "exterior[1] must be a (lon, lat) pair (got 1 values)"),
        ("0,0 1,1 1,0", "exterior must be a sequence of (lon, lat) pairs"),
    ],
)
def test_bad_rings_say_what_and_where(ring: Any, fragment: str) -> None:
    """Degenerate, self-intersecting and malformed rings raise a precise error saying where."""
    with pytest.raises((InvalidArea, InvalidCoordinates)) as info:
        Polygon(ring)
    assert fragment in str(info.value)


def test_hole_outside_its_shell_is_rejected() -> None:
    """A hole outside the shell is an error naming the hole."""
    with pytest.raises(InvalidArea, match=r"holes\[0\] must lie inside the exterior ring"):
        Polygon(SQUARE, [[(19.0, 59.0), (19.1, 59.0), (19.1, 59.1)]])


def test_repair_is_an_explicit_opt_in() -> None:
    """A bow-tie is rejected by Polygon() and repaired by Polygon.repair() into two triangles."""
    bowtie = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)]
    with pytest.raises(InvalidArea, match=r"Polygon\.repair"):
        Polygon(bowtie)
    area = Polygon.repair(bowtie)
    assert len(area.parts) == 2
    assert area.contains([0.25, 0.75, 0.5], [0.5, 0.5, 0.5]).tolist() == [True, True, True]
    assert not area.contains([0.5, 0.5], [0.1, 0.9]).any()


def _star(points: int, step: int) -> list[tuple[float, float]]:
    """The regular star polygon {points/step} around Stockholm: one ring crossing itself."""
    t = np.arange(points) * 2.0 * np.pi * step / points
    lon, lat = 18.0 + 0.1 * np.cos(t), 59.3 + 0.05 * np.sin(t)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _crossings_brute_force(ring: list[tuple[float, float]]) -> int:
    """Pairs of the ring's edges that cross, every pair tried."""
    closed = [*ring, ring[0]]
    edges = [sg.LineString(closed[i : i + 2]) for i in range(len(ring))]
    return sum(a.crosses(b) for i, a in enumerate(edges) for b in edges[i + 1 :])


def test_repair_untangles_many_crossings_but_not_a_scribble() -> None:
    """Repair takes a star crossing itself thousands of times, refuses past 10,000 crossings.

    GEOS's repair grows with the crossings: a scribble of 3,000 random vertices took 55 s and
    2.4 GB.
    """
    under, over = _star(101, 50), _star(149, 70)
    assert _crossings_brute_force(under) == 4_949
    assert _crossings_brute_force(over) == 10_281
    area = Polygon.repair(under)
    assert area.contains([18.0], [59.3]).tolist() == [True]
    with pytest.raises(
        InvalidArea,
        match=r"Polygon\.repair: rings must meet \(cross or touch\) each other or themselves at most",
    ):
        Polygon.repair(over)
    rng = np.random.default_rng(5)
    scribble = np.column_stack([18 + rng.random(3_000), 59 + rng.random(3_000)])
    with pytest.raises(InvalidArea, match="quadratically in the vertices"):
        Polygon.repair(scribble)


def _sawtooth(teeth: int) -> npt.NDArray[np.float64]:
    """A valid ring of long parallel teeth: no crossing, but every edge's box meets the others'."""
    k = np.arange(teeth)
    top = np.column_stack([k * 1e-4 + np.where(k % 2, 0.5, 0.0), np.where(k % 2, 1.0, 0.0)])
    return np.vstack([top, [[top[-1, 0], -1.0], [0.0, -1.0], top[0]]])


def test_counting_crossings_stops_at_a_budget_of_overlapping_boxes() -> None:
    """A sawtooth has no crossing but a quadratic number of edge pairs whose boxes overlap.

    Counted exactly while those pairs fit the budget (16 per edge plus 64 per crossing
    allowed); past it, reported as past the limit instead of examining a quadratic number of
    pairs (a 32,000-tooth ring took 58 s before the budget).
    """
    from geotarget import _geos

    assert shapely.is_valid(shapely.Polygon(_sawtooth(200)))
    assert _geos.crossings(shapely.Polygon(_sawtooth(200))) == 0
    assert _geos.crossings(shapely.Polygon(_sawtooth(30_000))) == _geos.MAX_CROSSINGS + 1
    scribbled = _sawtooth(30_000)
    scribbled[[5, 6]] = scribbled[[6, 5]]  # one bow-tie makes it need a repair
    with pytest.raises(InvalidArea, match="pairs of edges whose boxes overlap per edge"):
        Polygon.repair(scribbled)  # (probe 20: the check's rule, as Polygon and cap.read say)


def test_a_scribbled_cap_polygon_is_refused_in_bounded_memory() -> None:
    """A CAP polygon of 20,000 random vertices is refused naming it, within 3 GB.

    CAP allows rings that cross themselves, so alert areas repair them; this one's repair once
    needed tens of GB and ended in std::bad_alloc. The child process's address space is limited.
    """
    script = textwrap.dedent(
        """
        import resource, sys
        import numpy as np
        resource.setrlimit(resource.RLIMIT_AS, (3_000_000_000, 3_000_000_000))
        from geotarget.alerts import AlertArea
        from geotarget.errors import InvalidAlert
        rng = np.random.default_rng(6)
        ring = list(zip((18 + rng.random(20_000)).tolist(), (59 + rng.random(20_000)).tolist()))
        try:
            AlertArea(description="scribble", polygons=[ring + ring[:1]])
        except InvalidAlert as err:
            print(err)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "polygons[0]" in done.stdout
    # (Probe 20: the rule cap.read and Polygon name first, its edges' boxes overlapping.)
    assert "pairs of edges whose boxes overlap per edge" in done.stdout


def test_empty_area_is_rejected() -> None:
    """An area needs at least one part."""
    with pytest.raises(InvalidArea, match="at least one"):
        Area([])
    with pytest.raises(InvalidType, match=r"parts\[0\] must be a Circle or a Polygon"):
        Area(["not a part"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ("{not json", "not valid JSON"),
        (
            {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            "$.type must be one of Feature, FeatureCollection, GeometryCollection, MultiPolygon, Polygon (got 'LineString')",
        ),
        ({"type": "Point", "coordinates": [0, 0]}, "Point has no radius"),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [0, 0]},
                "properties": {},
            },
            "needs a radius_m property",
        ),
        ({"type": "Feature", "geometry": None, "properties": {}}, "must not be null"),
        ({"type": "FeatureCollection", "features": []}, "at least one area"),
        ({"type": "Polygon", "coordinates": []}, "$.coordinates must be a non-empty list"),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "MultiPoint", "coordinates": []},
                    }
                ],
            },
            "$.features[0].geometry.type must be one of",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "$: exterior must not self-intersect",
        ),
    ],
)
def test_bad_geojson_names_the_path(doc: Any, fragment: str) -> None:
    """Unsupported, empty or malformed GeoJSON raises InvalidGeoJSON with the path."""
    with pytest.raises(InvalidGeoJSON) as info:
        Area.from_geojson(doc)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("second", "fragment"),
    [
        (
            {
                "type": "Polygon",
                "coordinates": [[[float("nan"), 59.0], [18.1, 59.0], [18.1, 59.1]]],
            },
            r"^\$\.features\[1\]\.geometry: exterior\[0\] lon must be a finite number .* NaN",
        ),
        (
            {"type": "Polygon", "coordinates": [[[True, 59.0], [18.1, 59.0], [18.1, 59.1]]]},
            r"^\$\.features\[1\]\.geometry: exterior\[0\] lon must be .* not a bool",
        ),
        (
            {"type": "Point", "coordinates": [18.0, 95.0]},
            r"^\$\.features\[1\]\.geometry: lat must be a finite number >= -90 and <= 90",
        ),
        (
            {"type": "Point", "coordinates": ["18", 59.0]},
            r"^\$\.features\[1\]\.geometry: lon must be a finite number .* \(got str '18'\)",
        ),
    ],
)
def test_a_bad_coordinate_or_radius_in_geojson_names_its_feature(
    second: dict[str, Any], fragment: str
) -> None:
    """A bad number deep in a collection is InvalidGeoJSON naming the feature it is in.

    It was InvalidCoordinates or InvalidType naming only ``exterior[0]`` or ``lon``.
    """
    good = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
    }
    bad = {"type": "Feature", "properties": {"radius_m": 100.0}, "geometry": second}
    with pytest.raises(InvalidGeoJSON, match=fragment):
        Area.from_geojson({"type": "FeatureCollection", "features": [good, bad]})
    text = {
        **bad,
        "properties": {"radius_m": "100"},
        "geometry": {"type": "Point", "coordinates": [18, 59]},
    }
    with pytest.raises(InvalidGeoJSON, match=r"^\$\.features\[1\]\.geometry: radius_m must be"):
        Area.from_geojson({"type": "FeatureCollection", "features": [good, text]})


@pytest.mark.parametrize(
    ("lon", "lat", "error", "fragment"),
    [
        ([0.0, 1.0], [0.0], InvalidCoordinates, "same shape (got lon (2,) and lat (1,))"),
        (
            [0.0, math.nan],
            [0.0, 0.0],
            InvalidCoordinates,
            "lon must be finite degrees (got nan at lon[1]",
        ),
        (
            [0.0, 0.0],
            [0.0, -91.0],
            InvalidCoordinates,
            "lat must be within [-90, 90] degrees (got -91.0 at lat[1]",
        ),
        ([True], [0.0], InvalidType, "not booleans"),
        (["a"], [0.0], InvalidType, "lon must be numbers in degrees"),
    ],
)
def test_bad_query_points_are_rejected(
    lon: Any, lat: Any, error: type[Exception], fragment: str
) -> None:
    """contains() rejects mismatched shapes, NaN, out-of-range and non-numeric input precisely."""
    with pytest.raises(error) as info:
        Area(Circle(0, 0, 10)).contains(lon, lat)
    assert fragment in str(info.value)


# --- hostile input -----------------------------------------------------------------------------


def _readonly(values: Any) -> np.ndarray:
    arr = np.array(values, dtype=np.float64)
    arr.setflags(write=False)
    return arr


HUGE = 10**400
#: The classes typed loosely, so that tests can hand them what the types forbid.
AnyCircle: Any = Circle
AnyPolygon: Any = Polygon


@pytest.mark.parametrize(
    ("build", "error", "fragment"),
    [
        (lambda: AnyCircle(18.0, 59.0, HUGE), InvalidArea, "radius_m must be a finite number > 0"),
        (lambda: AnyCircle(18.0, 59.0, HUGE), InvalidArea, "an integer of 401 digits"),
        (lambda: AnyCircle(HUGE, 59.0, 10.0), InvalidCoordinates, "lon must be a finite number"),
        (lambda: AnyCircle(18.0, 59.0, 10.0, margin_m=-HUGE), InvalidArea, "margin_m"),
        (lambda: AnyCircle(18 + 1j, 59.0, 10.0), InvalidType, "lon must be a finite number"),
        (
            lambda: AnyPolygon([(HUGE, 59.0), (18.1, 59.0), (18.1, 59.1)]),
            InvalidCoordinates,
            "exterior[0] lon",
        ),
        (
            lambda: AnyPolygon([("18.0", "59.0"), (18.1, 59.0), (18.1, 59.1)]),
            InvalidType,
            "exterior[0] lon",
        ),
        (
            lambda: AnyPolygon([(18.0, 59.0), (18.1, "59.0"), (18.1, 59.1)]),
            InvalidType,
            "exterior[1] lat",
        ),
        (
            lambda: AnyPolygon([(18.0, 59.0), (18.1 + 0j, 59.0), (18.1, 59.1)]),
            InvalidType,
            "exterior[1] lon",
        ),
        (lambda: AnyPolygon([1, 2, 3]), InvalidArea, "exterior[0] must be a (lon, lat) pair"),
        (
            lambda: AnyPolygon([(18.0, 59.0), (18.1, 59.0, 1.0, 2.0), (18.1, 59.1)]),
            InvalidArea,
            "exterior[1]",
        ),
        (lambda: AnyPolygon(SQUARE, [5]), InvalidArea, "holes[0] must be a sequence"),
        (
            lambda: AnyPolygon.repair([1, 2, 3]),
            InvalidArea,
            "exterior[0] must be a (lon, lat) pair",
        ),
        (
            lambda: AnyPolygon.repair([(1,), (2,), (3,)]),
            InvalidArea,
            "exterior[0] must be a (lon, lat) pair",
        ),
        (lambda: AnyPolygon.repair(None), InvalidArea, "exterior must be a sequence"),
        (lambda: AnyPolygon.repair("abc"), InvalidArea, "exterior must be a sequence"),
        (lambda: AnyPolygon.repair(SQUARE, [5]), InvalidArea, "holes[0] must be a sequence"),
        (lambda: AnyPolygon.repair(SQUARE, 5), InvalidArea, "holes must be a sequence"),
        (lambda: AnyPolygon.repair([("a", 1), (2, 3), (4, 5)]), InvalidType, "exterior[0] lon"),
    ],
)
def test_hostile_constructor_input_gets_a_precise_error(
    build: Any, error: type[Exception], fragment: str
) -> None:
    """Huge ints, complex numbers, string vertices, ragged rings, bad repair input: our errors."""
    with pytest.raises(error) as info:
        build()
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("lon", "lat", "error", "fragment"),
    [
        (18 + 1j, 59.0, InvalidType, "complex numbers"),
        (np.array([18 + 0j]), np.array([59.0]), InvalidType, "complex numbers"),
        ("18", "59", InvalidType, "not text"),
        (np.array(["18"]), np.array(["59"]), InvalidType, "text"),
        ([18.0, "59"], [59.0, 59.0], InvalidType, "text"),
        ([[18.0], [18.0, 1.0]], [[59.0], [59.0, 1.0]], InvalidCoordinates, "ragged"),
        ([HUGE], [59.0], InvalidCoordinates, "beyond float's range"),
        (HUGE, 59.0, InvalidCoordinates, "beyond float's range"),
        ([18.0, None], [59.0, 59.0], InvalidType, "NoneType"),
        (
            np.array(["2024-01-01"], dtype="datetime64[D]"),
            np.array([59.0]),
            InvalidType,
            "datetimes",
        ),
    ],
)
def test_hostile_query_points_get_a_precise_error(
    lon: Any, lat: Any, error: type[Exception], fragment: str
) -> None:
    """contains() never casts complex or text silently, and never leaks numpy's ValueError."""
    for shape in (Circle(18.0, 59.0, 500.0), Polygon(SQUARE), Area([Circle(18.0, 59.0, 500.0)])):
        with pytest.raises(error) as info:
            shape.contains(lon, lat)
        assert fragment in str(info.value)


def test_read_only_arrays_are_accepted_everywhere() -> None:
    """Read-only inputs (memory-mapped, frozen snapshots) work and give the writable answers."""
    ring = _readonly(SQUARE)
    assert Polygon(ring) == Polygon(SQUARE)
    assert Polygon.repair(ring) == Area([Polygon(SQUARE)])
    lon, lat = _readonly([18.05, 18.2]), _readonly([59.05, 59.05])
    for shape in (Circle(18.05, 59.05, 1000.0), Polygon(SQUARE)):
        assert shape.contains(lon, lat).tolist() == shape.contains(lon.copy(), lat.copy()).tolist()


def _nested_collections(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "Polygon", "coordinates": [[list(p) for p in SQUARE]]}
    for _ in range(depth):
        doc = {"type": "GeometryCollection", "geometries": [doc]}
    return doc


@pytest.mark.parametrize(
    "data",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"type": "GeometryCollection", "geometries": [' * 5_000 + "]}" * 5_000,
        _nested_collections(5_000),
        json.dumps(_nested_collections(100)),
        {"type": "Polygon", "coordinates": [[[[[[[[[[1]]]]]]]]]]},
    ],
    ids=["text-arrays", "text-collections", "dict-collections", "text-100", "deep-coordinates"],
)
def test_deeply_nested_geojson_is_invalid_geojson(data: Any) -> None:
    """RecursionError never escapes: deep text, deep dicts and deep coordinates are refused."""
    with pytest.raises(InvalidGeoJSON):
        Area.from_geojson(data)


def test_moderately_nested_geojson_is_still_read() -> None:
    """Nesting within the limit reads as usual."""
    assert Area.from_geojson(_nested_collections(10)) == Area([Polygon(SQUARE)])


def test_huge_numbers_in_geojson_are_invalid_geojson() -> None:
    """A radius of 10**400 (an int JSON parses exactly) or 1e400 (inf) is a precise error."""
    for radius in ("1" + "0" * 400, "1e400", "1" + "0" * 5000):
        text = (
            '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [18, 59]}, '
            f'"properties": {{"radius_m": {radius}}}}}'
        )
        with pytest.raises(InvalidGeoJSON):
            Area.from_geojson(text)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("urn:ogc:def:crs:OGC:1.3:CRS84", True),
        ("EPSG:4326", True),  # (read east first, as GeoJSON is)
        ("urn:ogc:def:crs:EPSG::3006", False),  # SWEREF 99 TM, as QGIS exports it
        ("EPSG:3857", False),
        ("no such CRS", False),
    ],
)
def test_a_legacy_crs_member_other_than_lonlat_is_refused_as_such(name: str, ok: bool) -> None:
    """A file exported in SWEREF 99 TM: refused at its ``crs`` member, not vertex by vertex.

    Its metres were refused as "exterior[0] lon must be ... <= 180 (got 674000)", which named
    neither the CRS nor what to do; lon/lat CRSs read as before.
    """
    square = [[18.0, 59.0], [18.1, 59.0], [18.1, 59.1], [18.0, 59.0]]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": name}},
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            }
        ],
    }
    if ok:
        assert Area.from_geojson(json.dumps(doc)) == Area([Polygon(square)])
        return
    with pytest.raises(InvalidGeoJSON, match=r"\$\.crs names") as caught:
        Area.from_geojson(doc)
    assert name in str(caught.value) and "ogr2ogr" in str(caught.value)
    with pytest.raises(InvalidGeoJSON, match=r"\$\.crs names"):
        Area.from_geojson({**doc, "crs": name})  # not even a named-CRS object


# --- antimeridian and poles ----------------------------------------------------------------------


def oracle_disc_area(c: Circle, n: int = 20_000) -> float:
    """The geodesic area of a circle: Geod's polygon area of n exact rim points (no geotarget)."""
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    lon, lat, _ = GEOD.fwd(np.full(n, c.lon), np.full(n, c.lat), az, np.full(n, c.reach_m))
    area, _ = GEOD.polygon_area_perimeter(lon, lat)
    return abs(float(area))


def shapely_geodesic_area(geom: Any) -> float:
    """Geod's area of a lon/lat shapely geometry, its straight edges densified."""
    area, _ = GEOD.geometry_area_perimeter(shapely.segmentize(geom, 0.01))
    return abs(float(area))


def assert_shape_matches_circle(c: Circle, shape: Any, seed: int = 0) -> None:
    """Points clearly inside/outside the geodesic circle are inside/outside the shapely shape."""
    rng = np.random.default_rng(seed)
    n = 3000
    az = rng.uniform(0.0, 360.0, n)
    dist = rng.uniform(0.0, 2.0 * c.reach_m, n)
    lon, lat, _ = GEOD.fwd(np.full(n, c.lon), np.full(n, c.lat), az, dist)
    keep = np.abs(dist - c.reach_m) > 200.0  # the 4,096-gon is within metres of the rim
    inside = shapely.contains_xy(shape, np.asarray(lon)[keep], np.asarray(lat)[keep])
    assert inside.tolist() == (dist[keep] <= c.reach_m).tolist()


@pytest.mark.parametrize(
    "circle",
    [
        Circle(179.9, 0.0, 100_000.0),
        Circle(-179.95, 65.0, 500_000.0),
        Circle(180.0, -40.0, 1_000.0),
        Circle(-180.0, 10.0, 300_000.0),
    ],
)
def test_to_shapely_of_a_circle_across_the_antimeridian_is_valid_and_split(circle: Circle) -> None:
    """Split at ±180 into a valid MultiPolygon with the circle's geodesic area and membership."""
    shape = Area([circle]).to_shapely()
    assert shape.is_valid, shapely.is_valid_reason(shape)
    assert isinstance(shape, sg.MultiPolygon)
    west, _, east, _ = shape.bounds
    assert west >= -180.0 and east <= 180.0
    assert shapely_geodesic_area(shape) == pytest.approx(oracle_disc_area(circle), rel=1e-5)
    assert_shape_matches_circle(circle, shape)


# Rings around the 180° meridian and the poles: vertices on ±180 and ±90 often, test points
# never on a vertex's coordinate (so never on an edge drawn between the sampled values).
_RING_LON = st.one_of(
    st.sampled_from([180.0, -180.0, 179.5, -179.5, 170.0, -170.0, 0.0, 90.0, -90.0]),
    st.floats(-180.0, 180.0),
)
_RING_LAT = st.one_of(
    st.sampled_from([90.0, -90.0, 65.0, 70.0, 0.0, -60.0]), st.floats(-90.0, 90.0)
)
# Irregular values, so that no edge between sampled vertices runs through a test point (with
# -0.3 and 0.3, the edge from (0, 0) to (90, -90) did, and rounding decided the side).
_TEST_LON = np.array(
    [-179.7183, -175.3141, -100.1618, -0.3311, 0.2963, 100.1732, 175.2689, 179.6927]
)
_TEST_LAT = np.array([-89.4871, -64.7219, -0.2771, 62.1437, 67.3093, 89.5417])


def _covers(ring: list[tuple[float, float]], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Shapely's reading of a ring in plain lon/lat (crossings resolved by make_valid)."""
    with np.errstate(all="ignore"):  # (GEOS on subnormal coordinates: exact, flags raised)
        shape = shapely.make_valid(sg.Polygon(ring), method="structure")
        return np.asarray(shapely.covers(shape, shapely.points(lon, lat)), dtype=bool)


def _short_way(ring: list[tuple[float, float]]) -> list[tuple[float, float]] | None:
    """The ring as drawn on the Earth: each edge the short way in longitude, unwrapped.

    An edge along a pole (every longitude there is one point) keeps its longitudes. None when
    the unwrapped ring does not close: it winds round a pole, which no lon/lat ring can say.
    """
    out = [ring[0]]
    turns = 0.0  # whole turns added so far: a vertex is its own longitude plus them, exactly
    for (lon0, lat0), (lon1, lat1) in itertools.pairwise(ring):
        step = lon1 - lon0
        if abs(step) > 180.0 and not (lat0 == lat1 and abs(lat0) == 90.0):
            turns -= math.copysign(360.0, step)
        out.append((lon1 + turns, lat1))
    return out if abs(out[-1][0] - out[0][0]) < 1e-9 else None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_RING_LON, _RING_LAT), min_size=3, max_size=7))
# GEOS's repair of this ring left a sliver it does not itself hold valid (two vertices 1e-313°
# apart); the CAP area then read the whole ring as covering nothing.
@example([(180.0, 90.0), (0.0, 90.0), (0.0, 0.0), (180.0, -90.0), (-2.2250738585e-313, 0.0)])
# Subnormal vertices: GEOS's repair of the ring raised a floating-point flag that numpy turned
# into a RuntimeWarning (an exception under -W error), not an answer or geotarget's own error.
# Subnormal longitudes: the oracle's unwrapped ring summed steps (1 + (1e-237 - 1) is 0, not
# 1e-237), and GEOS repaired that other ring otherwise; vertices are now kept as written.
@example(
    [
        (0.0, 0.0),
        (1.0, 0.0),
        (-170.0, 6.740484893070755e-298),
        (-170.0, -1.0),
        (1.0, 0.0),
        (1.1124978577378756e-237, 0.0),
    ]
)
@example(
    [
        (0.0, 90.0),
        (1.175494351e-38, 0.0),
        (1.175494351e-38, 1.1754943508222875e-38),
        (-2.4683225781532552e-92, 90.0),
    ]
)
def test_an_accepted_ring_means_both_its_plain_and_its_earth_reading_or_is_refused(
    vertices: list[tuple[float, float]],
) -> None:
    """Any ring is refused or means what both plain lon/lat and the Earth read.

    Accepted, the area holds exactly what shapely's plain lon/lat reading holds, and that is
    also what the ring means drawn on the Earth (each edge the short way across 180°). A ring
    with no edge over 180° of longitude (off a pole) is accepted.
    """
    ring = [*vertices, vertices[0]]
    lon, lat = np.meshgrid(_TEST_LON, _TEST_LAT)
    lon, lat = lon.ravel(), lat.ravel()
    crossing = any(
        abs(b[0] - a[0]) > 180.0 and not (a[1] == b[1] and abs(a[1]) == 90.0)
        for a, b in itertools.pairwise(ring)
    )
    if crossing:  # only rings that would be read the long way are refused, everywhere
        with pytest.raises(InvalidAlert, match="180° meridian"):
            AlertArea(description="x", polygons=[ring])
        with pytest.raises(InvalidArea):  # (or for fewer than 3 distinct vertices first)
            Polygon(ring)
        return
    cap_area = AlertArea(description="x", polygons=[ring])
    assert not crossing
    geometry = cap_area.geometry
    got = np.zeros(lon.shape, bool) if geometry is None else geometry.contains(lon, lat)
    plain = _covers(ring, lon, lat)
    assert got.tolist() == plain.tolist()
    earth = _short_way(ring)
    assert earth is not None
    shifted = [[(x + shift, y) for x, y in earth] for shift in (-360.0, 0.0, 360.0)]
    on_earth = np.logical_or.reduce([_covers(r, lon, lat) for r in shifted])
    assert got.tolist() == on_earth.tolist()


@pytest.mark.parametrize(
    "ring",
    [
        # the probe's box across 180°, corners written on the meridian at 180 and at -180
        [
            (170, 65),
            (180, 65),
            (-180, 65),
            (-170, 65),
            (-170, 70),
            (-180, 70),
            (180, 70),
            (170, 70),
        ],
        [(179.5, 60), (-179.5, 60), (-179.5, 62), (179.5, 62)],  # straight across
        [(180, 60), (-180, 62), (-170, 62), (-170, 60)],  # one meridian, diagonally
        [(-180, -90), (180, -90), (180, 60), (-180, 60)],  # the rim at 60°N is not a pole
    ],
)
def test_rings_read_the_long_way_round_are_refused_everywhere(ring: list[Any]) -> None:
    """Polygon(), Polygon.repair, GeoJSON and AlertArea refuse them, naming the edge."""
    for build in (Polygon, Polygon.repair):
        with pytest.raises(InvalidArea, match=r"crosses the 180° meridian: the edge from point"):
            build(ring)
    geojson = {"type": "Polygon", "coordinates": [[*map(list, ring), list(ring[0])]]}
    with pytest.raises(InvalidGeoJSON, match="180° meridian"):
        Area.from_geojson(geojson)
    with pytest.raises(InvalidAlert, match=r"polygons\[0\] crosses the 180° meridian"):
        AlertArea(description="x", polygons=[[*ring, ring[0]]])


@pytest.mark.parametrize(
    "ring",
    [
        [(170, 60), (180, 60), (180, 62), (170, 62)],  # touching 180 from the west
        [(-170, 60), (-180, 60), (-180, 62), (-170, 62)],  # touching -180 from the east
        [(-180, -90), (180, -90), (180, 90), (-180, 90)],  # the whole world
        [(-180, 80), (0, 80), (180, 80), (180, 90), (-180, 90)],  # a polar cap, to the pole
    ],
)
def test_rings_touching_180_from_one_side_or_along_a_pole_are_read(ring: list[Any]) -> None:
    """What plain lon/lat and the Earth read alike is still a polygon."""
    assert Polygon(ring).shape.equals(sg.Polygon(ring))


def test_area_of_circles_on_both_sides_of_the_antimeridian() -> None:
    """No GEOS error; disjoint circles add up, overlapping ones count the overlap once."""
    a, b = Circle(179.5, 0.0, 20_000.0), Circle(-179.5, 0.0, 20_000.0)  # 111 km apart
    both = Area([a, b])
    assert both.area_m2 == pytest.approx(oracle_disc_area(a) + oracle_disc_area(b), rel=1e-5)
    c, d = Circle(179.9, 0.0, 100_000.0), Circle(-179.9, 0.1, 100_000.0)
    overlap = Area([c, d]).area_m2
    assert max(oracle_disc_area(c), oracle_disc_area(d)) < overlap
    assert overlap < oracle_disc_area(c) + oracle_disc_area(d)
    assert Area([c, c]).area_m2 == pytest.approx(oracle_disc_area(c), rel=1e-5)


@pytest.mark.parametrize(
    "circle",
    [
        Circle(0.0, 89.5, 500_000.0),
        Circle(120.0, -89.0, 1_000_000.0),
        Circle(-170.0, 88.0, 400_000.0),
    ],
)
def test_a_polar_circle_is_a_valid_cap_with_its_geodesic_area(circle: Circle) -> None:
    """A circle around a pole becomes a cap closed along the pole; its area and membership hold."""
    shape = Area([circle]).to_shapely()
    assert shape.is_valid, shapely.is_valid_reason(shape)
    assert Area([circle, circle]).area_m2 == pytest.approx(oracle_disc_area(circle), rel=1e-5)
    assert_shape_matches_circle(circle, shape)


def test_a_union_of_polar_circles_is_never_smaller_than_one_of_them() -> None:
    """Two overlapping circles around the north pole: max(area) < union < sum(area)."""
    a, b = Circle(0.0, 89.5, 500_000.0), Circle(90.0, 89.0, 500_000.0)
    union = Area([a, b]).area_m2
    assert max(oracle_disc_area(a), oracle_disc_area(b)) < union
    assert union < oracle_disc_area(a) + oracle_disc_area(b)
    far = Area([Circle(0.0, 89.5, 300_000.0), Circle(0.0, -89.5, 300_000.0)])  # both poles
    assert far.area_m2 == pytest.approx(
        2 * oracle_disc_area(Circle(0.0, 89.5, 300_000.0)), rel=1e-5
    )


@settings(max_examples=15, deadline=None)
@given(
    lon=st.floats(-170.0, 170.0),
    lat=st.floats(-80.0, 80.0),
    spread=st.sampled_from([0.001, 0.01, 0.05, 0.5]),
    count=st.integers(2, 25),
    seed=st.integers(0, 999),
    square=st.booleans(),
)
def test_the_area_of_many_parts_equals_the_union_of_dense_rims(
    lon: float, lat: float, spread: float, count: int, seed: int, square: bool
) -> None:
    """Area.area_m2 of clustered circles (and a square) against the union of 4,096-point rims.

    The oracle unites each circle's exact rim points (``Geod.fwd``) with shapely and measures
    the union with ``Geod`` — no geotarget code. Overlaps counted once, to 1e-4.
    """
    rng = np.random.default_rng(seed)
    circles = [
        Circle(lon + dx, lat + dy, r)
        for dx, dy, r in zip(
            rng.normal(0.0, spread, count),
            rng.normal(0.0, spread, count),
            10 ** rng.uniform(1.7, 3.7, count),
            strict=True,
        )
    ]
    parts: list[Circle | Polygon] = list(circles)
    n = 4096
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    shapes = []
    for c in circles:
        x, y, _ = GEOD.fwd(np.full(n, c.lon), np.full(n, c.lat), az, np.full(n, c.reach_m))
        shapes.append(sg.Polygon(np.column_stack([x, y])))
    if square:
        ring = [(lon, lat), (lon + spread, lat), (lon + spread, lat + spread), (lon, lat + spread)]
        parts.append(Polygon(ring))
        shapes.append(sg.Polygon(ring))
    expected = shapely_geodesic_area(shapely.union_all(shapes))
    assert Area(parts).area_m2 == pytest.approx(expected, rel=1e-4)


def test_the_area_of_thousands_of_circles_costs_rim_points_by_parts_not_4096_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3,000 overlapping circles (a CAP document's worth): a bounded number of rim points.

    The old union of 4,096-point rims asked Geod for 12 million and took seconds.
    """
    from geotarget import _geodesy

    asked = [0]
    real = _geodesy.geod()

    class Counting:
        def fwd(self, lon: Any, lat: Any, az: Any, dist: Any) -> Any:
            asked[0] += int(np.size(lon))
            return real.fwd(lon, lat, az, dist)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(_geodesy, "geod", lambda: Counting())
    rng = np.random.default_rng(3)
    area = Area(
        [
            Circle(18.07 + dx, 59.33 + dy, r)
            for dx, dy, r in zip(
                rng.normal(0, 0.05, 3000), rng.normal(0, 0.03, 3000),
                rng.uniform(50.0, 2000.0, 3000), strict=True,
            )
        ]
    )  # fmt: skip
    assert area.area_m2 > 0.0
    assert asked[0] <= 32 * 3000 + (1 << 15)
    # Disjoint circles add up exactly (each circle's own area, no rim).
    far = [Circle(10.0 + i, 60.0, 500.0) for i in range(3)]
    assert Area(far).area_m2 == pytest.approx(sum(c.area_m2 for c in far), rel=1e-12)


def _groups_oracle(windows: list[tuple[float, float, float, float]]) -> set[frozenset[int]]:
    """Connected components of the parts whose closed boxes meet, pair by pair (union-find)."""
    parent = list(range(len(windows)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(windows)), 2):
        a, b = windows[i], windows[j]
        if a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]:
            parent[find(i)] = find(j)
    groups: dict[int, set[int]] = {}
    for i in range(len(windows)):
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(17.9, 18.1), st.floats(59.25, 59.35), st.sampled_from([50.0, 300.0, 900.0])
        ),
        min_size=2,
        max_size=25,
    ),
    st.booleans(),
)
def test_parts_are_grouped_as_the_pairwise_oracle_groups_them(
    specs: list[tuple[float, float, float]], crowded: bool
) -> None:
    """Every group is a connected component of meeting bounds, as a union-find of pairs says.

    Both ways of finding them: by the pairs, and (``crowded``: as when the pairs would be too
    many) by uniting the bounds. Each group ascending, the groups by their first part.
    """
    from geotarget import areas

    parts = [Circle(lon, lat, r) for lon, lat, r in specs]
    with mock.patch.object(areas, "_PAIRS_PER_PART", 0 if crowded else 32):
        got = [g.tolist() for g in areas._overlap_groups(parts)]
    assert got == sorted(sorted(g) for g in _groups_oracle([p._window() for p in parts]))


def test_crowded_parts_are_grouped_without_listing_every_pair() -> None:
    """Boxes touching at corners only, or along edges, or inside others: grouped as the oracle.

    And thousands of circles over one town (every pair of bounds meets: 6.7 s and 533 MB for
    8,000 when every pair was listed) cost memory in proportion to the parts.
    """
    from geotarget import areas

    def square(x: float, y: float, d: float = 0.01) -> Polygon:
        return Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])

    board = [
        square(i / 64, 59 + j / 64, 1 / 64) for i in range(8) for j in range(8) if (i + j) % 2 == 0
    ]
    board += [square(1 + i / 64, 59, 1 / 64) for i in range(5)] + [square(3, 60)]
    board += [square(0.02, 59.02, 1e-5)]  # inside one square of the board
    want = sorted(sorted(g) for g in _groups_oracle([p._window() for p in board]))
    assert len(want) == 3  # exact corners (binary fractions): the board, the row, the lone one
    for budget in (0, 32):
        with mock.patch.object(areas, "_PAIRS_PER_PART", budget):
            assert [g.tolist() for g in areas._overlap_groups(board)] == want
    rng = np.random.default_rng(19)

    def crowd(n: int) -> list[Circle]:
        lon, lat = 17.5 + rng.uniform(-0.03, 0.03, n), 59.5 + rng.uniform(-0.02, 0.02, n)
        return [
            Circle(a, b, r) for a, b, r in zip(lon, lat, rng.uniform(100, 1000, n), strict=True)
        ]

    peaks = []
    for n in (1_000, 4_000):
        parts = crowd(n)
        tracemalloc.start()
        groups = areas._overlap_groups(parts)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert [g.tolist() for g in groups] == [list(range(n))]  # one group: they all overlap
    # Every pair listed, 4 times the parts is 16 times the pairs; in proportion, 4 times.
    assert peaks[1] < 6 * peaks[0], peaks


@settings(max_examples=60, deadline=None)
@given(lon=any_lon, lat=any_lat, radius=st.floats(1_000.0, 1_000_000.0), seed=st.integers(0, 99))
def test_to_shapely_of_any_circle_is_valid_with_its_area(
    lon: float, lat: float, radius: float, seed: int
) -> None:
    """Anywhere on Earth: a valid shape, the geodesic area, and the geodesic membership."""
    c = Circle(lon, lat, radius)
    shape = Area([c]).to_shapely()
    assert shape.is_valid, shapely.is_valid_reason(shape)
    assert Area([c, c]).area_m2 == pytest.approx(oracle_disc_area(c), rel=1e-4)
    assert_shape_matches_circle(c, shape, seed)


# (An example measures 65,536 rim points, tens of milliseconds: 50 drawn ones, and the extremes
# explicitly: the poles, the antimeridian, the smallest and largest radii, with a margin.)
@settings(max_examples=50)
@given(
    lon=any_lon,
    lat=st.floats(-89.99, 89.99),
    radius=st.floats(100.0, 1_000_000.0),
    margin=st.sampled_from([0.0, 250.0]),
)
@example(lon=180.0, lat=89.99, radius=1_000_000.0, margin=250.0)
@example(lon=-180.0, lat=-89.99, radius=100.0, margin=0.0)
@example(lon=179.999, lat=0.0, radius=1_000_000.0, margin=0.0)
@example(lon=65.0, lat=20.65, radius=100.0, margin=0.0)
@example(lon=18.0, lat=59.3, radius=100_000.0, margin=0.0)  # the largest held to 1e-7
@example(lon=18.0, lat=59.3, radius=100_000.0, margin=250.0)
def test_circle_area_agrees_with_a_dense_rim_and_lies_within_its_curvature_bounds(
    lon: float, lat: float, radius: float, margin: float
) -> None:
    """Circle.area_m2 equals Geod's area of 65,536 exact rim points to 1e-7 (1e-6 when large).

    The inscribed 65,536-gon is below the disk's area by about (2 pi / n)^2 / 6 = 1.6e-9 of it;
    the Bishop-Guenther bounds of ``_geodesy.disk_area_bounds`` must hold it too.
    """
    from geotarget import _geodesy

    c = Circle(lon, lat, radius, margin_m=margin)
    rim = oracle_disc_area(c, n=65_536)
    rel = 1e-7 if c.reach_m <= 100_000.0 else 1e-6
    # abs: Geod's sum over 65,536 edges carries ~0.01 m² of rounding itself (a 100 m circle
    # at lon 65, lat 20.65 differed by 0.0102 m²; at lat 25.97 the rim fell 0.0114 m² below
    # the bounds' own lower one, which is under pi r² as a geodesic disk's area is)
    rounding = 5e-2
    assert c.area_m2 == pytest.approx(rim, rel=rel, abs=rounding)
    low, high = _geodesy.disk_area_bounds(c.lon, c.lat, c.reach_m)
    assert low <= rim * (1.0 + 1e-8) + rounding
    assert rim <= high + rounding


def test_aeqd_transformer_equals_pyprojs_crs_transformer_and_its_cache_is_bounded() -> None:
    """The pipeline-built frame gives the same numbers as from_crs; the cache keeps its bytes."""
    import threading

    from geotarget import _geodesy

    rng = np.random.default_rng(5)
    for lon0, lat0 in [(18.0686, 59.3293), (-179.9, -89.5), (0.0, 90.0), (12.5, 0.0)]:
        crs = pyproj.CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84 +units=m +no_defs"
        )
        oracle = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        lon = rng.uniform(-180.0, 180.0, 2000)
        lat = rng.uniform(-90.0, 90.0, 2000)
        got = _geodesy.aeqd_transformer(lon0, lat0).transform(lon, lat)
        want = oracle.transform(lon, lat)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])

    seen: list[tuple[int, bool]] = []

    def fill() -> None:
        for i in range(200):
            _geodesy.aeqd_transformer(10.0 + i * 1e-3, 60.0)
        cache = _geodesy._local.aeqd
        seen.append((len(cache), (10.0 + 199e-3, 60.0) in cache))

    worker = threading.Thread(target=fill)  # a fresh thread: its own, empty cache
    worker.start()
    worker.join()
    [(entries, recent_kept)] = seen
    assert 0 < entries * _geodesy.AEQD_ENTRY_BYTES <= _geodesy.AEQD_CACHE_BYTES
    assert recent_kept  # the most recently used stays


#: A valid polygon nanometres wide, about 2 km long: GEOS's densifier mends its densified form
#: with ``buffer(0)``, which dropped half of its length (and of its metric frame's boundary).
SLIVER = [
    (125.83009079135115, 25.085414622991095),
    (125.82057752948839, 25.09921094948129),
    (125.81918353235758, 25.10123255256766),
]


def _brute_distance_m(lon: np.ndarray, lat: np.ndarray, ring: list[tuple[float, float]]) -> Any:
    """Oracle: Geod.inv from each point to the ring's edges sampled every 1e-6° (~0.1 m)."""
    line = shapely.segmentize(sg.LineString([*ring, ring[0]]), 1e-6)
    xy = shapely.get_coordinates(line)
    return nearest_geod_m(lon, lat, xy[:, 0], xy[:, 1])


def test_a_sliver_keeps_its_whole_boundary_in_the_metric_frame() -> None:
    from geotarget import _geodesy

    poly = Polygon(SLIVER, margin_m=60.0)
    assert shapely.length(_geodesy.densify(poly.shape, 0.001)) == pytest.approx(poly.shape.length)
    rng = np.random.default_rng(3)
    g = pyproj.Geod(ellps="WGS84")
    # Points up to 150 m from random spots along the sliver's edges.
    edge = rng.integers(0, 3, 300)
    t = rng.uniform(0.0, 1.0, 300)
    a = np.array(SLIVER)[edge]
    b = np.array(SLIVER)[(edge + 1) % 3]
    base = a + (b - a) * t[:, None]
    lon, lat, _ = g.fwd(base[:, 0], base[:, 1], rng.uniform(0, 360, 300), rng.uniform(0, 150, 300))
    want = _brute_distance_m(lon, lat, SLIVER)
    clear = np.abs(want - 60.0) > 0.5  # the metric frame's error is far below that
    assert clear.sum() > 200
    got = poly.contains(lon, lat)
    np.testing.assert_array_equal(got[clear], (want <= 60.0)[clear])


def test_a_margin_reaches_across_the_antimeridian() -> None:
    """A polygon on lon 180 with a 5 km margin holds the points just across it (lon -179.9x).

    Its window was cut at ±180, so they were outside in ``contains`` and ``query`` alike.
    Distances from ``Geod.inv`` along the parallel to the edge on lon 180.
    """
    import datetime as dt

    import pyproj

    from geotarget import PositionIndex, Positions

    square = [(179.9, -17.0), (180.0, -17.0), (180.0, -16.9), (179.9, -16.9)]
    p = Polygon(square, margin_m=5000.0)
    assert p.bounds[0] == -180.0 and p.bounds[2] == 180.0
    x = np.array([-179.999, -179.99, -179.96, -179.94, 179.999])
    y = np.full(x.size, -16.95)
    d = pyproj.Geod(ellps="WGS84").inv(np.full(x.size, 180.0), y, x, y)[2]
    want = d <= 5000.0 - 1.0  # (the margin's parallel and its geodesic differ by far < 1 m)
    assert want.tolist() == [True, True, True, False, True], d
    assert p.contains(x, y).tolist() == want.tolist()
    now = dt.datetime(2025, 5, 1, 12, tzinfo=dt.timezone.utc)
    index = PositionIndex(Positions(np.arange(x.size), x, y, observed_at=now))
    assert index.query(p).tolist() == np.flatnonzero(want).tolist()


@pytest.mark.parametrize("west", [179.9, -180.0])
def test_a_margin_across_the_antimeridian_keeps_its_area(west: float) -> None:
    """The grown polygon is cut at ±180, not drawn the long way round the Earth.

    A square on lon 180 (from either side) with a 5 km margin: its area equals the same
    square's far from the antimeridian (it was 807,367 km² instead of 414 km², which the
    blast-radius guard reads), and its lon/lat shape holds points on both sides of the line.
    """

    def square(w: float) -> list[tuple[float, float]]:
        return [(w, -17.0), (w + 0.1, -17.0), (w + 0.1, -16.9), (w, -16.9)]

    near = Polygon(square(west), margin_m=5000.0)
    far = Polygon(square(10.0), margin_m=5000.0)
    assert near.area_m2 == pytest.approx(far.area_m2, rel=1e-9)
    shape = near._to_lonlat_polygon()
    assert shapely.covers(shape, shapely.points([179.99, -179.99], [-16.95, -16.95])).all()
    assert not shapely.covers(shape, shapely.points(0.0, -16.95))


def test_a_repair_that_leaves_an_invalid_sliver_repairs_it_again() -> None:
    """The sliver between two vertices 1e-313° apart goes; the area the ring encloses stays."""
    ring = [(180.0, 90.0), (0.0, 90.0), (0.0, 0.0), (180.0, -90.0), (-2.2250738585e-313, 0.0)]
    parts = [p for p in Polygon.repair(ring).parts if isinstance(p, Polygon)]
    assert parts and all(bool(shapely.is_valid(p.shape)) for p in parts)
    assert sum(float(p.shape.area) for p in parts) == pytest.approx(8100.0)
    cap = AlertArea(description="x", polygons=[[*ring, ring[0]]])
    assert cap.geometry is not None and cap.empty_polygons == () and cap.repaired_polygons == (0,)


@pytest.mark.parametrize(
    "ring",
    [
        [(170, 0), (0, -2.3060555365667234e-301), (180, -1.0954410035015593e-302),
         (170, -2.3060555365667234e-301)],
        [(170, 0), (180, 90), (180, -1.0954410035015593e-302), (180, 90),
         (170, -2.3060555365667234e-301)],
    ],
)  # fmt: skip
def test_subnormal_coordinates_get_geotargets_error_not_a_floating_point_warning(
    ring: list[tuple[float, float]],
) -> None:
    """Rings with 1e-301° coordinates get InvalidArea, not numpy's RuntimeWarning.

    GEOS divides by zero inside its checks of such rings (its answer is right); the flag it
    left reached the caller as a RuntimeWarning, an exception under ``-W error`` (this suite's
    setting), before geotarget's own error.
    """
    doc = {"type": "Polygon", "coordinates": [[list(p) for p in [*ring, ring[0]]]]}
    with pytest.raises(InvalidArea, match="self-intersect"):
        Polygon(ring)
    with pytest.raises(InvalidArea):
        Polygon.repair(ring)
    with pytest.raises(InvalidGeoJSON, match="self-intersect"):
        Area.from_geojson(json.dumps(doc))


@pytest.mark.parametrize(
    ("holes", "said"),
    [
        (
            [[(18.0, 59.02), (18.05, 59.02), (18.05, 59.05), (18.0, 59.05)]],
            "holes[0] shares an edge with the exterior",
        ),
        (
            [
                [(18.05, 59.02), (18.08, 59.02), (18.08, 59.05), (18.05, 59.05)],
                [(18.02, 59.02), (18.05, 59.02), (18.05, 59.05), (18.02, 59.05)],
            ],
            "shares an edge with holes[",
        ),
    ],
)
def test_a_hole_sharing_an_edge_is_refused_naming_the_rings(
    holes: list[list[tuple[float, float]]], said: str
) -> None:
    """A hole that shares a stretch of boundary with the exterior or another hole.

    The refusal said only "self-intersection at lon 18, lat 59.02"; it now names the two rings
    and the rule (rings may touch at single points, as two holes meeting at a corner do).
    """
    shell = [(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)]
    with pytest.raises(InvalidArea) as err:
        Polygon(shell, holes)
    text = str(err.value)
    assert text.startswith("polygon with its holes is invalid: self-intersection at lon")
    assert said in text and "rings may touch only at single points" in text
    # Two holes meeting at one corner are a valid polygon.
    corner = [(18.05, 59.05), (18.08, 59.05), (18.08, 59.08), (18.05, 59.08)]
    Polygon(shell, [[(18.02, 59.02), (18.05, 59.02), (18.05, 59.05), (18.02, 59.05)], corner])


@pytest.mark.parametrize(
    "ring",
    [
        [(18.0, 59.0), (18.1, 59.0), (18.2, 59.0), (18.0, 59.0)],  # along a parallel
        [(18.0, 59.0), (18.0, 59.1), (18.0, 59.3), (18.0, 59.2)],  # along a meridian
        [(18.0, 59.0), (18.5, 59.5), (18.25, 59.25)],  # a diagonal, exactly on one line
    ],
)
def test_a_ring_whose_vertices_lie_on_one_line_is_refused_as_enclosing_nothing(
    ring: list[tuple[float, float]],
) -> None:
    """Not "must not self-intersect ... use Polygon.repair": there is nothing to repair.

    Oracle: shapely's area of the ring is 0 (so the refusal is about area, not crossing).
    """
    assert sg.Polygon(ring).area == 0.0
    with pytest.raises(InvalidArea, match=r"^exterior must enclose an area: its vertices all "):
        Polygon(ring)
    outer = [(17.0, 58.0), (19.0, 58.0), (19.0, 60.0), (17.0, 60.0)]
    with pytest.raises(InvalidArea, match=r"^holes\[0\] must enclose an area: its vertices lie"):
        Polygon(outer, holes=[ring])
