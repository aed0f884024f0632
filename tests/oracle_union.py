"""Whether an area's parts, together, hold a disk: their union, measured about its centre.

Written from the contract alone (DESIGN.md "a union of parts is one area"; INSIDE when the
accuracy disk lies within the area; :meth:`geotarget.PositionIndex.classify`), for the disks
no part holds alone. Each part is drawn in the azimuthal-equidistant projection centred on the
disk's own centre, where a point's distance from that centre is its geodesic distance: a circle
by 4,096 points of its rim (``Geod.fwd``), a polygon by its lon/lat rings densified to 0.0002°
(grown by its margin there). The union's boundary is then within millimetres of where the
contract puts it, and the disk lies within the union iff the union covers its centre and its
boundary is at least ``r`` away. Nothing from ``geotarget._index`` or ``_geodesy`` is used.

The contract lets the matcher decide these disks conservatively: one whose centre lies within
:func:`band` of the threshold may come back AMBIGUOUS though the union holds it (never INSIDE
when it does not hold it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.geometry as sg

from geotarget.areas import Circle, Polygon

GEOD = pyproj.Geod(ellps="WGS84")
_RIM = 4096
_DENSIFY_DEG = 0.0002


@functools.lru_cache(maxsize=64)
def _aeqd(lon0: float, lat0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84")
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _drawn(part: Circle | Polygon, t: pyproj.Transformer) -> Any:
    if isinstance(part, Circle):
        az = np.linspace(0.0, 360.0, _RIM, endpoint=False)
        lon, lat, _ = GEOD.fwd(
            np.full(_RIM, part.lon), np.full(_RIM, part.lat), az, np.full(_RIM, part.reach_m)
        )
        x, y = t.transform(lon, lat)
        return sg.Polygon(np.column_stack([x, y]))
    rings = [
        shapely.transform(
            shapely.segmentize(ring, _DENSIFY_DEG),
            lambda xy: np.column_stack(t.transform(*xy.T)),
        )
        for ring in [part.shape.exterior, *part.shape.interiors]
    ]
    shape = sg.Polygon(rings[0], rings[1:])
    return shape.buffer(part.margin_m, quad_segs=64) if part.margin_m > 0.0 else shape


def slack(parts: Sequence[Circle | Polygon], lon: float, lat: float, r: float) -> float:
    """Metres by which the parts' union holds the disk (negative: it does not hold it)."""
    t = _aeqd(float(lon), float(lat))
    union = shapely.union_all([_drawn(p, t) for p in parts])
    centre = sg.Point(0.0, 0.0)
    if union.covers(centre):
        return float(union.boundary.distance(centre)) - r
    return -float(union.distance(centre)) - r


def band(parts: Sequence[Circle | Polygon], r: float) -> float:
    """How near its threshold the documented conservative decision may leave a disk.

    ``PositionIndex.classify``: within a few millimetres plus the union frame's scale error
    times the disk's radius (a thousandth covers an area tens of kilometres across, as the
    tests' are), and along a circle's rim 5 cm or 1e-4 of its radius (for an area of ``k``
    over 128 circles, ``(k / 14,000)**2`` of it). A polygon's own metric frame is within
    centimetres of this projection for the tests' areas.
    """
    circles = [p for p in parts if isinstance(p, Circle)]
    k = len(circles)
    along = max(
        (max(0.05, 1e-4 * c.reach_m, (k / 14_000.0) ** 2 * c.reach_m) for c in circles),
        default=0.0,
    )
    return 0.1 + 1e-3 * r + along


def inside_together(
    parts: Sequence[Circle | Polygon], lon: float, lat: float, r: float
) -> tuple[bool, bool]:
    """(the union holds the disk, the matcher may answer either way) for a disk no part holds.

    Only the parts the disk meets can hold it together; with fewer than two, none does.
    """
    s = slack(parts, lon, lat, r)
    return s > 0.0, abs(s) <= band(parts, r)
