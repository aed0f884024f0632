"""Exactness probes at places and with inputs no other test used, against pyproj and shapely.

Circles by ``pyproj.Geod.inv``/``fwd`` per device; polygons by shapely ``covers`` on the lon/lat
polygon. The areas: Kiruna, Treriksröset and Smygehuk, circles near the pole, and the claims
``docs/matching.rst`` makes about them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from geotarget import Area, Circle, Location, LocationRule, Polygon, PositionIndex, Positions

GEOD = pyproj.Geod(ellps="WGS84")
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _state(area: Area, lon: float, lat: float, acc: float) -> str:
    positions = Positions([0], [lon], [lat], accuracy_m=[acc], observed_at=NOW)
    rows, states = PositionIndex(positions).classify(area, LocationRule(), NOW)
    return Location(int(states[0])).name if rows.size else "OUTSIDE"


def _lens(lat: float, reach_m: float) -> tuple[Area, float, float, float]:
    """Two circles, each centre on the other's rim, and a disk in their lens held by both only.

    The disk (radius 0.7 of the reach, at the midpoint of the centres) reaches beyond each
    circle alone (0.5 + 0.7 > 1) but not beyond their union (its nearest rim points, where the
    rims cross, are about 0.87 of the reach away): checked with ``Geod`` on its rim.
    """
    lon2, lat2, _ = GEOD.fwd(20.0, lat, 90.0, reach_m)
    area = Area([Circle(20.0, lat, reach_m), Circle(lon2, lat2, reach_m)])
    mlon, mlat, _ = GEOD.fwd(20.0, lat, 90.0, reach_m / 2.0)
    r = 0.7 * reach_m
    n = 720
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    rlon, rlat, _ = GEOD.fwd(np.full(n, mlon), np.full(n, mlat), az, np.full(n, r))
    held = np.zeros(n, dtype=np.bool_)
    for c in area.parts:
        assert isinstance(c, Circle)
        _, _, d = GEOD.inv(np.full(n, c.lon), np.full(n, c.lat), rlon, rlat)
        held |= np.asarray(d) <= c.reach_m
        _, _, centre = GEOD.inv(c.lon, c.lat, mlon, mlat)
        assert centre + r > c.reach_m  # no circle holds the disk alone
    assert held.all()  # together they do
    return area, float(mlon), float(mlat), r


def _documented_limits() -> list[tuple[float, float]]:
    """The (latitude, km) pairs beyond which matching.rst says a circle is left out of unions."""
    text = " ".join((DOCS / "matching.rst").read_text(encoding="utf-8").split())
    found = re.search(
        r"could leave it: over (\d+) km for a circle centred at (\d+)°, (\d+) km at (\d+)°", text
    )
    assert found, "matching.rst no longer states where circles near a pole are left out"
    km1, lat1, km2, lat2 = (float(g) for g in found.groups())
    return [(lat1, km1), (lat2, km2)]


@pytest.mark.parametrize("which", [0, 1])
def test_circles_near_the_pole_are_left_out_of_unions_where_the_docs_say(which: int) -> None:
    """A circle a little smaller than the documented size is united, a little larger is not.

    The docs said 475 km at 80° and 54 km at 89°, computed from the centre's latitude, where the
    rule reads the farthest: circles of 350 to 470 km at 80° were already left out, their
    disks held only together with another circle AMBIGUOUS.
    """
    lat, km = _documented_limits()[which]
    area, lon, mlat, r = _lens(lat, 0.97 * km * 1e3)
    assert _state(area, lon, mlat, r) == "INSIDE"
    area, lon, mlat, r = _lens(lat, 1.03 * km * 1e3)
    assert _state(area, lon, mlat, r) == "AMBIGUOUS"


def _aeqd(lon0: float, lat0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m")
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


# Norrbotten around Kiruna, 300 km across, with a sliver hole a metre wide and 200 m long (a
# digitising gap between two dissolved municipalities) at Kiruna.
KIRUNA = (20.2253, 67.8558)
_SLIVER_W = 1.0 / (111_320.0 * np.cos(np.radians(KIRUNA[1])))
NORRBOTTEN = [(17.0, 66.5), (24.0, 66.5), (24.0, 69.0), (17.0, 69.0)]
SLIVER = [
    KIRUNA,
    (KIRUNA[0] + _SLIVER_W, KIRUNA[1]),
    (KIRUNA[0] + _SLIVER_W, KIRUNA[1] + 0.002),
    (KIRUNA[0], KIRUNA[1] + 0.002),
]


@pytest.mark.parametrize(("margin", "acc"), [(0.6, 30e3), (1.0, 40e3), (2.0, 50e3)])
def test_a_wide_disk_over_a_sliver_hole_the_margin_fills_is_inside(
    margin: float, acc: float
) -> None:
    """A disk kilometres wide over a hole narrower than twice a margin of metres is held.

    The margin fills the sliver, and the polygon's boundary lies over 100 km away, yet the
    disk stayed AMBIGUOUS: the polygon near it was clipped 2 margins beyond the disk, and the
    room asked of the grown drawing (twice its outward error, measured every 65,536th of a
    boundary hundreds of kilometres long) exceeded what the clip's own edges left.
    Oracle: shapely's buffer of the densified polygon in an ``aeqd`` frame of pyproj's.
    """
    polygon = Polygon(NORRBOTTEN, [SLIVER], margin_m=margin)
    lon, lat = KIRUNA[0] + _SLIVER_W / 2.0, KIRUNA[1] + 0.001
    tr = _aeqd(20.5, 67.75)
    shape = shapely.segmentize(shapely.Polygon(NORRBOTTEN, [SLIVER]), 0.001)
    metric = shapely.transform(shape, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    grown = shapely.buffer(metric, margin, quad_segs=64)
    disk = shapely.buffer(shapely.Point(*tr.transform(lon, lat)), acc, quad_segs=64)
    assert not shapely.covers(metric, disk)  # the sliver is no part of the polygon
    assert shapely.covers(shapely.buffer(grown, -0.2 * margin), disk)  # its margin holds it
    assert _state(Area([polygon]), lon, lat, acc) == "INSIDE"
    # A disk reaching out of the polygon (its south edge 150 km away) is not held.
    assert _state(Area([polygon]), lon, lat, 160e3) == "AMBIGUOUS"


@pytest.mark.parametrize(("margin", "acc"), [(2.0, 1e3), (10.0, 5e3), (2.0, 50e3), (50.0, 50e3)])
def test_a_disk_over_a_strait_two_parts_hold_with_one_margin_is_inside(
    margin: float, acc: float
) -> None:
    """Two parts a metre apart along a meridian, the west one's margin filling the strait.

    The union, the west part grown by its margin near the disk, holds a disk kilometres wide
    centred in the strait (the parts' outer edges lie over 120 km away), as matching.rst
    promises for a boat between two islands. The margin was dropped from the union, and the
    disk left AMBIGUOUS, when the drawing's measured outward error (half a 65,536th of the
    grown boundary's length over) exceeded 2 % of the margin; and once drawn, the strait
    opened again three margins beyond the disk, nearer than the union frame's scale error
    (a few thousandths of the radius here) allows.
    """
    lon0, lat0 = KIRUNA
    west = Polygon([(17.0, 66.5), (lon0, 66.5), (lon0, 69.0), (17.0, 69.0)], margin_m=margin)
    east = Polygon([(lon0 + _SLIVER_W, 66.5), (24.0, 66.5), (24.0, 69.0), (lon0 + _SLIVER_W, 69.0)])
    lon = lon0 + _SLIVER_W / 2.0
    _, _, gap = GEOD.inv(lon0, lat0, lon0 + _SLIVER_W, lat0)
    assert 0.9 < gap < 1.1 < 2 * margin  # the strait is a metre wide: the margin fills it
    # (The parts' outer edges lie more than 120 km from the disk's centre.)
    for elon, elat in ((17.0, lat0), (24.0, lat0), (lon0, 66.5), (lon0, 69.0)):
        assert GEOD.inv(lon, lat0, elon, elat)[2] > 120e3 > acc
    for part in (west, east):  # neither part holds the disk alone
        assert _state(Area([part]), lon, lat0, acc) == "AMBIGUOUS"
    assert _state(Area([west, east]), lon, lat0, acc) == "INSIDE"


def test_the_measured_overshoot_bounds_the_drawing_everywhere() -> None:
    """``_geos.overshoot`` is at least how far beyond the distance a dense sampling finds.

    Checked on GEOS buffers of a comb (drawn in stages, whose simplifier cuts deep beside the
    arcs) and of a rectangle with a sliver, the drawn boundary sampled every 5 cm with
    shapely's own distances.
    """
    from geotarget import _geos

    teeth = [
        shapely.box(30.0 * i, 0.0, 30.0 * i + 10.0, 900.0 if i % 3 == 0 else 300.0)
        for i in range(40)
    ]
    comb = shapely.union_all([shapely.box(-5.0, -50.0, 1200.0, 0.0), *teeth])
    sliver = shapely.Polygon(
        [(0.0, 0.0), (400.0, 0.0), (400.0, 300.0), (0.0, 300.0)],
        [[(200.0, 100.0), (200.5, 100.0), (200.5, 200.0), (200.0, 200.0)]],
    )
    for geom, distance in ((comb, 40.0), (comb, 400.0), (sliver, 2.0)):
        drawn = _geos.grown(geom, distance, 16)
        bound = _geos.overshoot(drawn, geom, distance, 0.002 * distance)
        dense = shapely.segmentize(shapely.boundary(drawn), 0.05)
        pts = shapely.points(shapely.get_coordinates(dense))
        far = float(np.max(shapely.distance(geom, pts)))
        assert bound >= far - distance - 1e-9
