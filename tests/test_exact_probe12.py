"""Exactness probes with real alert areas, against an oracle of pyproj and shapely only.

Lantmäteriet's detailed municipalities (``../shared/data``, WGS84, no simplification) and a
police region drawn as their polygons; hand-drawn CAP rings (clockwise, duplicate vertices,
10,000 vertices rounded to CAP's 7 decimals, a metre-wide sliver 30 km long); circles of a
millimetre centred on 100,000 devices at one point; disks wider than the Earth. Oracles:
``shapely.intersects_xy`` on the rings as given, ``pyproj.Geod.inv``/``fwd``, and distances to
the rings densified and projected in an azimuthal-equidistant frame of pyproj's (the frame the
docs define polygon distances in), abstaining within a tolerance of each threshold.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely
import shapely.geometry as sg

from geotarget import Area, Circle, LocationRule, Polygon, PositionIndex, Positions
from geotarget.errors import InvalidArea

GEOD = pyproj.Geod(ellps="WGS84")
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
Arr = npt.NDArray[np.float64]


@cache
def _municipalities(folder: Path) -> dict[str, Any]:
    """Code -> shapely geometry of the detailed municipalities (WGS84 GeoJSON)."""
    doc = json.loads((folder / "sweden" / "kommuner_lantmateriet_wgs84.geojson").read_text("utf-8"))
    return {f["properties"]["kommun_kod"]: sg.shape(f["geometry"]) for f in doc["features"]}


def _area(geoms: list[Any]) -> Area:
    """Every polygon of the geometries as a part, its rings as written."""
    return Area(
        [
            Polygon(list(p.exterior.coords), [list(h.coords) for h in p.interiors])
            for g in geoms
            for p in shapely.get_parts(g)
        ]
    )


def _states(area: Area, lon: Arr, lat: Arr, acc: Arr) -> npt.NDArray[np.int8]:
    """Each device's state: 0 OUTSIDE (not listed), 1 INSIDE, 2 AMBIGUOUS."""
    positions = Positions(np.arange(lon.size), lon, lat, accuracy_m=acc, observed_at=NOW)
    rows, states = PositionIndex(positions).classify(area, LocationRule(), NOW)
    out = np.zeros(lon.size, dtype=np.int8)
    out[rows] = states
    return out


def _frame(lon0: float, lat0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84")
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _metric(geom: Any, tr: pyproj.Transformer) -> Any:
    dense = shapely.segmentize(geom, 0.0005)
    return shapely.transform(dense, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def _polygon_oracle(
    ring: Any, lon: Arr, lat: Arr, r: Arr, tol: float
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
    """(the state by definition, where the oracle abstains) for one polygon without margin.

    Inside or not by the lon/lat polygon itself; held iff the boundary distance, in the frame
    centred on the middle of its bounds, is at least the radius; met iff inside or within it.
    """
    shape = sg.Polygon(ring)
    west, south, east, north = shape.bounds
    tr = _frame((west + east) / 2.0, (south + north) / 2.0)
    edge = shapely.boundary(_metric(shape, tr))
    x, y = tr.transform(lon, lat)
    d = shapely.distance(edge, shapely.points(x, y))
    inside = shapely.intersects_xy(shape, lon, lat)
    want = np.where(inside & (d >= r), 1, np.where(inside | (d <= r), 2, 0)).astype(np.int8)
    want[r == 0] = inside[r == 0]
    return want, (np.abs(d - r) <= tol) & (r > 0)


def _ring_points(geom: Any, rng: np.random.Generator) -> tuple[Arr, Arr]:
    """Vertices, points along every edge, and points one ulp and 1e-7° beside each vertex."""
    xs, ys = [], []
    for part in shapely.get_parts(geom):
        for ring in [part.exterior, *part.interiors]:
            c = np.asarray(ring.coords)
            t = rng.uniform(0.0, 1.0, len(c) - 1)
            xs += [c[:, 0], c[:-1, 0] + t * (c[1:, 0] - c[:-1, 0]), (c[:-1, 0] + c[1:, 0]) / 2]
            ys += [c[:, 1], c[:-1, 1] + t * (c[1:, 1] - c[:-1, 1]), (c[:-1, 1] + c[1:, 1]) / 2]
            for way in (np.inf, -np.inf):
                xs += [np.nextafter(c[:, 0], way), c[:, 0], c[:, 0] + np.sign(way) * 1e-7]
                ys += [c[:, 1], np.nextafter(c[:, 1], way), c[:, 1]]
    return np.concatenate(xs), np.concatenate(ys)


# --- real municipalities -----------------------------------------------------------------


@pytest.mark.shared_data
def test_detailed_municipalities_match_shapely_at_every_vertex_and_edge(shared_data: Path) -> None:
    """Every 7th detailed municipality (Skellefteå's ring touches itself: refused, see below).

    ``query``, ``count``, ``contains`` and an exact-fix ``classify`` all equal shapely's
    ``intersects_xy`` on the rings as given, on the vertices, on the edges, one ulp off the
    vertices and at random points in the bounds, with the devices in one snapshot.
    """
    rng = np.random.default_rng(12)
    munis = _municipalities(shared_data)
    for code in sorted(munis)[::7]:
        geom = munis[code]
        area = _area([geom])
        lon, lat = _ring_points(geom, rng)
        west, south, east, north = geom.bounds
        lon = np.concatenate([lon, rng.uniform(west, east, 2000)])
        lat = np.concatenate([lat, rng.uniform(south, north, 2000)])
        want = shapely.intersects_xy(geom, lon, lat)
        index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=NOW))
        assert np.array_equal(index.query(area), np.flatnonzero(want)), code
        assert index.count(area) == int(want.sum()), code
        assert np.array_equal(area.contains(lon, lat), want), code
        assert np.array_equal(_states(area, lon, lat, np.zeros(lon.size)), want.astype(np.int8))


@pytest.mark.shared_data
def test_a_source_ring_touching_itself_is_refused_naming_where(shared_data: Path) -> None:
    """Skellefteå's shell touches itself in the source data: refused with the place, not read."""
    geom = _municipalities(shared_data)["2482"]
    with pytest.raises(InvalidArea, match=r"self-intersect.*lon 21\.815.*Polygon\.repair"):
        _area([geom])


@pytest.mark.shared_data
def test_a_police_region_drawn_as_its_municipalities_holds_disks_across_their_borders(
    shared_data: Path,
) -> None:
    """Region Stockholm (counties 01 and 09) as 27 municipality polygons, disks on borders.

    A disk the parts hold together (the oracle: their union, projected) is INSIDE beyond a
    metre plus half a percent of its radius (the union frame's documented scale error); one
    the union does not hold is never INSIDE.
    """
    folder = shared_data / "sweden"
    with (folder / "kommuner_folkmangd_2024.csv").open(encoding="utf-8", newline="") as f:
        codes = [r["kommun_kod"] for r in csv.DictReader(f) if r["lan_kod"] in ("01", "09")]
    munis = _municipalities(shared_data)
    geoms = [munis[c] for c in codes]
    area = _area(geoms)
    rng = np.random.default_rng(1209)
    shared = shapely.get_coordinates(shapely.union_all([g.boundary for g in geoms]))
    pick = shared[rng.choice(len(shared), 3000)]
    lon = pick[:, 0] + rng.normal(0.0, 0.003, 3000)
    lat = pick[:, 1] + rng.normal(0.0, 0.0015, 3000)
    acc = rng.choice([0.0, 1.0, 10.0, 100.0, 1000.0, 3000.0], 3000)
    got = _states(area, lon, lat, acc)
    union = shapely.union_all(geoms)
    west, south, east, north = union.bounds
    tr = _frame((west + east) / 2.0, (south + north) / 2.0)
    x, y = tr.transform(lon, lat)
    d = shapely.distance(shapely.boundary(_metric(union, tr)), shapely.points(x, y))
    inside = shapely.intersects_xy(union, lon, lat)
    tol = 1.0 + 0.005 * acc
    held = inside & (d >= acc + tol)
    assert (got[held] == 1).all(), int((got[held] != 1).sum())
    assert not (got[~inside | (d < acc - tol)] == 1).any()
    assert (got[inside | (d < acc - tol)] != 0).all()
    assert held.sum() > 1000 and ((got == 2) & (acc > 0)).sum() > 100


# --- hand-drawn CAP rings ----------------------------------------------------------------


def _around(lon0: float, lat0: float, radius: float, n: int, rng: np.random.Generator) -> Arr:
    az = rng.uniform(0.0, 360.0, n)
    d = radius * rng.uniform(0.0, 1.5, n)
    x, y, _ = GEOD.fwd(np.full(n, lon0), np.full(n, lat0), az, d)
    return np.stack([np.asarray(x), np.asarray(y)])


@pytest.mark.parametrize(("radius", "vertices"), [(1.0, 10_000), (5.0, 10_000), (100.0, 10_000)])
def test_a_ten_thousand_vertex_ring_rounded_to_cap_decimals_is_exact(
    radius: float, vertices: int
) -> None:
    """A freehand ring around a point, its vertices written with CAP's 7 decimals, both ways.

    At a metre the rounding (1 cm) repeats vertices, which are dropped; every device on a
    vertex, at the centre or around the ring gets the state the definition gives.
    """
    rng = np.random.default_rng(vertices + int(radius))
    lon0, lat0 = 18.0686, 59.3293
    az = np.linspace(0.0, 360.0, vertices, endpoint=False)
    x, y, _ = GEOD.fwd(
        np.full(vertices, lon0), np.full(vertices, lat0), az, np.full(vertices, radius)
    )
    ring = list(zip(np.round(x, 7).tolist(), np.round(y, 7).tolist(), strict=True))
    for drawn in (ring, ring[::-1]):
        part = Polygon(drawn)
        v = np.asarray(part.exterior)
        lon, lat = _around(lon0, lat0, radius, 3000, rng)
        lon = np.concatenate([lon, v[:, 0], [lon0]])
        lat = np.concatenate([lat, v[:, 1], [lat0]])
        acc = rng.choice([0.0, 0.01, 0.1 * radius, 0.5 * radius, 2.0 * radius], lon.size)
        want, unsure = _polygon_oracle(part.exterior, lon, lat, acc, 0.002)
        got = _states(Area([part]), lon, lat, acc)
        assert np.array_equal(got[~unsure], want[~unsure])


def test_a_metre_wide_sliver_thirty_kilometres_long_is_exact() -> None:
    """A road corridor 1 m wide and 30 km long at a slant, 30,000 devices along it.

    Devices on its centre line, its edges and just outside, with radii from 0 to 10 m: a
    disk of 0.45 m at the centre line is held, one of 0.55 m is not.
    """
    rng = np.random.default_rng(30)
    x0, y0, az0, length, width = 14.0, 58.0, 37.0, 30e3, 1.0
    x1, y1, _ = GEOD.fwd(x0, y0, az0, length)
    a, b, _ = GEOD.fwd(x0, y0, az0 + 90.0, width)
    c, d, _ = GEOD.fwd(x1, y1, az0 + 90.0, width)
    ring = [(x0, y0), (x1, y1), (c, d), (a, b)]
    n = 30_000
    t = rng.uniform(0.0, 1.0, n)
    base_x, base_y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    off = rng.choice([-2.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 3.0], n) * width
    lon, lat, _ = GEOD.fwd(base_x, base_y, np.full(n, az0 + 90.0), off)
    lon, lat = np.asarray(lon), np.asarray(lat)
    acc = rng.choice([0.0, 0.1, 0.3, 0.45, 0.55, 1.0, 10.0], n) * width
    want, unsure = _polygon_oracle(ring, lon, lat, acc, 0.005)
    got = _states(Area([Polygon(ring)]), lon, lat, acc)
    assert np.array_equal(got[~unsure], want[~unsure])
    assert (got == 1).sum() > 1000


# --- many devices at one point, disks wider than the area --------------------------------


def test_a_millimetre_circle_centred_on_a_hundred_thousand_devices_at_one_point() -> None:
    """All the devices at the centre are inside; their disks of a metre are AMBIGUOUS."""
    lon0, lat0 = 18.0686, 59.3293
    n = 100_000
    lon = np.full(n, lon0)
    lat = np.full(n, lat0)
    lon[:10] = np.nextafter(lon0, 0.0)  # a few an ulp away (about 0.2 nm): inside too
    acc = np.where(np.arange(n) % 2 == 0, 0.0, 1.0)
    circle = Circle(lon0, lat0, 1e-3)
    index = PositionIndex(Positions(np.arange(n), lon, lat, accuracy_m=acc, observed_at=NOW))
    assert index.count(circle) == n
    assert np.array_equal(index.query(circle), np.arange(n))
    assert np.array_equal(_states(Area([circle]), lon, lat, acc), np.where(acc > 0, 2, 1))


@pytest.mark.parametrize("accuracy", [1e6, 2e7, 4e7])
def test_disks_wider_than_the_area_or_the_earth_are_all_listed_never_inside(
    accuracy: float,
) -> None:
    """Devices all over the globe with disks up to the Earth's circumference, a 1 m circle.

    Every disk that reaches the circle (``Geod.inv`` distance within its radius) is listed
    AMBIGUOUS, none INSIDE, none beyond its reach: a disk wider than the Earth meets it.
    """
    rng = np.random.default_rng(int(accuracy))
    n = 2000
    lon = rng.uniform(-180.0, 180.0, n)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    circle = Circle(18.0686, 59.3293, 1.0)
    _, _, d = GEOD.inv(np.full(n, circle.lon), np.full(n, circle.lat), lon, lat)
    got = _states(Area([circle]), lon, lat, np.full(n, accuracy))
    meets = np.asarray(d) <= accuracy + 1.0
    assert np.array_equal(got, np.where(meets, 2, 0))
