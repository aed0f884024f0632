"""Probes of parts without holes and margins over narrow water, with shapely oracles only.

``Polygon.without_holes`` against shapely's ``intersects_xy`` on the polygon itself (boundary
included) at random points, every vertex of the polygon and of the pieces, and along the cuts.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geotarget import Polygon, sweden
from geotarget.alerts import AlertArea

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
