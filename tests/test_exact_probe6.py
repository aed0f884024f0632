"""Probes of parts without holes and margins over narrow water, with shapely oracles only.

``Polygon.without_holes`` against shapely's ``intersects_xy`` on the polygon itself (boundary
included) at random points, every vertex of the polygon and of the pieces, and along the cuts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely

from geotarget import Area, Location, LocationRule, Polygon, PositionIndex, Positions, sweden
from geotarget.alerts import AlertArea

Arr = npt.NDArray[np.float64]
SQUARE = [(18.0, 59.0), (18.3, 59.0), (18.3, 59.2), (18.0, 59.2)]


def _same_points(poly: Polygon) -> None:
    """The pieces have no holes and cover exactly the polygon's points (oracle: shapely)."""
    pieces = poly.without_holes()
    assert all(not isinstance(p, Polygon) or not p.holes for p in pieces.parts)
    shape = shapely.Polygon(poly.exterior, poly.holes)
    west, south, east, north = shape.bounds
    rng = np.random.default_rng(6)
    xs = [rng.uniform(west, east, 20_000)]
    ys = [rng.uniform(south, north, 20_000)]
    for ring in [poly.exterior, *poly.holes]:
        c = np.asarray(ring)
        xs.append(c[:, 0])
        ys.append(c[:, 1])
    for piece in pieces.parts:  # the vertices the cuts made (written out in CAP) ...
        assert isinstance(piece, Polygon)
        c = np.asarray(piece.exterior)
        xs.append(c[:, 0])
        ys.append(c[:, 1])
        # ... and the 40 representable points either side of each along its cut's meridian
        for x, y in c[~shapely.intersects_xy(shape.boundary, c[:, 0], c[:, 1])]:
            up, down = [y], [y]
            for _ in range(40):
                up.append(np.nextafter(up[-1], np.inf))
                down.append(np.nextafter(down[-1], -np.inf))
            xs.append(np.full(81, x))
            ys.append(np.array(up + down[1:]))
    lon, lat = np.concatenate(xs), np.concatenate(ys)
    want = shapely.intersects_xy(shape, lon, lat)
    assert np.array_equal(pieces.contains(lon, lat), want)


#: Valid polygons (rings touching at single points) whose halves GEOS's clipping pinches.
TOUCHING = {
    "an enclave touching the shell at a vertex": Polygon(
        SQUARE, [[(18.0, 59.1), (18.1, 59.08), (18.1, 59.12)]]
    ),
    "two enclaves touching each other": Polygon(
        SQUARE,
        [
            [(18.05, 59.05), (18.1, 59.05), (18.1, 59.1)],
            [(18.1, 59.1), (18.15, 59.1), (18.15, 59.15)],
        ],
    ),
    "an enclave touching the shell at 180": Polygon(
        [(179.0, -17.0), (180.0, -17.0), (180.0, -16.0), (179.0, -16.0)],
        [[(180.0, -16.5), (179.5, -16.75), (179.5, -16.25)]],
    ),
}


@pytest.mark.parametrize("name", sorted(TOUCHING))
def test_holes_touching_the_shell_or_each_other_are_cut_away(name: str) -> None:
    """Refused before (the pinched halves were invalid): now split at the touching point."""
    poly = TOUCHING[name]
    _same_points(poly)
    cap = AlertArea.from_area("enclave", poly)
    assert cap.polygons and all(len(ring) >= 4 for ring in cap.polygons)


def test_the_cuts_vertices_of_swedens_enclaves_lie_in_their_regions() -> None:
    """Each vertex a cut makes is in the region (GEOS rounded about half into the enclave)."""
    h = sweden.hierarchy()
    for level in h.levels:
        for code in h.region_set(level).codes:
            for part in shapely.get_parts(h.region(code).geometry):
                if not len(part.interiors):
                    continue
                poly = Polygon.from_shapely(part)
                pieces = poly.without_holes()
                xy = np.concatenate(
                    [np.asarray(p.exterior) for p in pieces.parts if isinstance(p, Polygon)]
                )
                inside = shapely.intersects_xy(part, xy[:, 0], xy[:, 1])
                assert inside.all(), (code, int((~inside).sum()))


@pytest.mark.parametrize("seed", range(6))
def test_cut_vertices_of_slanted_enclaves_lie_in_the_polygon(seed: int) -> None:
    """Enclaves with slanted edges, some crossing lon 0 or near 180: exact at every vertex."""
    rng = np.random.default_rng(seed)
    lon0 = [-0.05, 179.7, -179.95, 17.3, 11.9, 24.0][seed]
    shell = [(lon0, 60.0), (lon0 + 0.3, 60.0), (lon0 + 0.3, 60.2), (lon0, 60.2)]
    holes = []
    for i in range(5):
        x, y = lon0 + 0.03 + 0.05 * i, 60.05 + rng.uniform(0.0, 0.08)
        a = rng.uniform(0.005, 0.02, 3)
        holes.append([(x, y), (x + a[0], y + a[1] / 3), (x + a[2] / 2, y + a[1])])
    _same_points(Polygon(shell, holes))


# --- margins over water between parts ------------------------------------------------------

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
KM_LON = 1.0 / (111.32 * math.cos(math.radians(59.325)))  # degrees of longitude a kilometre


def _aeqd(lon0: float, lat0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m")
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _grown(parts: list[Polygon], tr: pyproj.Transformer, share: float) -> shapely.Geometry:
    """The union of the parts grown by ``share`` of their margins, in one frame (oracle)."""
    out = []
    for p in parts:
        g = shapely.segmentize(shapely.Polygon(p.exterior, p.holes), 0.0005)
        g = shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        out.append(shapely.buffer(g, share * p.margin_m, quad_segs=64))
    return shapely.union_all(out)


def _distances(shape: shapely.Geometry) -> Callable[[Arr, Arr], Arr]:
    """``shapely.distance(shape, points)``, the same numbers, through an STRtree of its edges.

    GEOS measures a point outside a polygon by its nearest ring segment and one the polygon
    meets as 0; walking every segment of the grown union (its arcs drawn with 64 chords a
    quarter) for each of thousands of rim points took seconds.
    """
    rings = shapely.get_rings(shapely.get_parts(shape))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    edges: Any = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    tree = shapely.STRtree(edges)
    shapely.prepare(shape)

    def distance(x: Arr, y: Arr) -> Arr:
        pts: Any = shapely.points(x, y)
        (which, _), d = tree.query_nearest(pts, return_distance=True, all_matches=False)
        edge = np.full(len(pts), np.nan)
        edge[which] = d
        out: Arr = np.where(shapely.intersects(shape, pts), 0.0, edge)
        return out

    return distance


def _states(area: Area, lon: Arr, lat: Arr, r: Arr) -> list[str]:
    positions = Positions(list(range(lon.size)), lon, lat, accuracy_m=r, observed_at=NOW)
    rows, states = PositionIndex(positions).classify(area, LocationRule(), NOW)
    out = ["OUTSIDE"] * lon.size
    for row, s in zip(rows.tolist(), states.tolist(), strict=True):
        out[row] = Location(s).name
    return out


def _islands(strait_km: float, margin_m: float) -> list[Polygon]:
    """Two islands off Stockholm, a strait ``strait_km`` wide between them."""
    west = 18.0 + 5.0 * KM_LON
    east = west + strait_km * KM_LON
    return [
        Polygon([(18.0, 59.3), (west, 59.3), (west, 59.35), (18.0, 59.35)], margin_m=margin_m),
        Polygon([(east, 59.3), (18.3, 59.3), (18.3, 59.35), (east, 59.35)], margin_m=margin_m),
    ]


@pytest.mark.parametrize(("strait_km", "margin_m"), [(0.6, 500.0), (0.05, 40.0), (6.0, 5e3)])
def test_a_boat_in_a_strait_between_two_parts_is_inside(strait_km: float, margin_m: float) -> None:
    """Each point of its disk lies within the margin of one island or the other: INSIDE.

    The same water as an inlet of one polygon was INSIDE already; between two parts of an
    area (an archipelago's islands) it stayed AMBIGUOUS: their union left margins out.
    """
    parts = _islands(strait_km, margin_m)
    mid = 18.0 + (5.0 + strait_km / 2.0) * KM_LON
    lon, lat = np.full(4, mid), np.array([59.31, 59.32, 59.325, 59.34])
    r = np.array([0.2, 0.4, 0.6, 0.8]) * margin_m
    tr = _aeqd(mid, 59.325)
    x, y = tr.transform(lon, lat)
    disks = shapely.buffer(shapely.points(x, y), r * 1.001, quad_segs=64)
    assert shapely.covers(_grown(parts, tr, 0.96), disks).all()  # held with room to spare
    assert _states(Area(parts), lon, lat, r) == ["INSIDE"] * 4


@pytest.mark.parametrize("seed", range(4))
def test_disks_between_parts_with_margins_are_never_inside_wrongly(seed: int) -> None:
    """No disk INSIDE that pokes out of the grown union anywhere.

    Islands with lakes, straits from half to three margins wide; the oracle: points of each
    disk, their distances to the union of the grown parts in one frame (shapely's, through an
    STRtree of the union's edges).
    """
    rng = np.random.default_rng(seed)
    m = [1.0, 50.0, 500.0, 5e3][seed]
    k, kl = 1.0 / 111_320.0, KM_LON / 1000.0
    parts, x0 = [], 18.0
    for _ in range(4):
        w, h = rng.uniform(2, 8) * m * kl, rng.uniform(2, 8) * m * k
        y0 = 59.3 + rng.uniform(-1, 1) * m * k
        cx, cy, hw, hh = x0 + w / 2, y0 + h / 2, 0.4 * w, 0.4 * h
        lake = [(cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh), (cx - hw, cy + hh)]
        ring = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
        parts.append(Polygon(ring, [lake], margin_m=m))
        x0 += w + rng.uniform(0.5, 3.0) * m * kl
    area = Area(parts)
    west, south, east, north = area.bounds
    n = 1500
    lon, lat = rng.uniform(west, east, n), rng.uniform(south, north, n)
    r = m * rng.choice([0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 3.0], n)
    inside = np.array(_states(area, lon, lat, r)) == "INSIDE"
    tr = _aeqd((west + east) / 2.0, (south + north) / 2.0)
    distance = _distances(_grown(parts, tr, 1.0))
    x, y = tr.transform(lon[inside], lat[inside])
    a = np.linspace(0.0, 2.0 * np.pi, 72, endpoint=False)
    ri = r[inside][:, None]
    for f in (1.0, 0.7, 0.4, 0.0):  # rings of points on each disk, and its centre
        px = (x[:, None] + f * ri * np.cos(a)).ravel()
        py = (y[:, None] + f * ri * np.sin(a)).ravel()
        d = distance(px, py)
        assert (d <= 1e-3 + 1e-4 * m).all(), int((d > 1e-3 + 1e-4 * m).sum())
    assert inside.sum() > n // 10
