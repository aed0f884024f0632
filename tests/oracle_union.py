"""Whether an area's parts, together, hold a disk: their union, measured about its centre.

Written from the contract alone (DESIGN.md "a union of parts is one area"; INSIDE when the
accuracy disk lies within the area; :meth:`geotarget.PositionIndex.classify`), for the disks
no part holds alone. Each part is drawn in the azimuthal-equidistant projection centred on the
disk's own centre, where a point's distance from that centre is its geodesic distance: taken
straight from that definition, a point goes to ``(d sin az, d cos az)`` with ``az, d`` from
``Geod.inv`` (the centre to the point). A circle is drawn by points of its rim (``Geod.fwd``,
the same whatever the disk) close enough that its chords cut at most 1 mm inside it (at most
4,096 of them; the polygon lies inside the circle, so the union is never overstated), a
polygon by its lon/lat rings densified to 0.0002° (grown by its margin there). The union's boundary is then within millimetres of where the
contract puts it, and the disk lies within the union iff the union covers its centre and its
boundary is at least ``r`` away. Nothing from ``geotarget._index`` or ``_geodesy`` is used.

The contract lets the matcher decide these disks conservatively: one whose centre lies within
:func:`band` of the threshold may come back AMBIGUOUS though the union holds it (never INSIDE
when it does not hold it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.geometry as sg

from geotarget.areas import Circle, Polygon

GEOD = pyproj.Geod(ellps="WGS84")
_RIM = 4096
#: The most a rim's chord may cut inside its circle, in metres.
_SAGITTA_M = 0.001
_DENSIFY_DEG = 0.0002


def _aeqd(lon0: float, lat0: float, lon: Any, lat: Any) -> tuple[Any, Any]:
    """Azimuthal-equidistant x, y in metres about ``(lon0, lat0)``, by its definition."""
    n = np.size(lon)
    az, _, d = GEOD.inv(np.full(n, lon0), np.full(n, lat0), lon, lat)
    az = np.radians(np.asarray(az))
    d = np.asarray(d)
    return d * np.sin(az), d * np.cos(az)


@functools.lru_cache(maxsize=256)
def _rim(lon: float, lat: float, reach_m: float) -> tuple[Any, Any]:
    """A circle's rim: points at its reach, ``Geod.fwd`` from its centre, chords within 1 mm."""
    # A chord of angle 2*pi/n cuts reach * (1 - cos(pi/n)) inside the circle.
    n = min(_RIM, max(64, math.ceil(math.pi / math.acos(max(-1.0, 1.0 - _SAGITTA_M / reach_m)))))
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    rim_lon, rim_lat, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, reach_m))
    return np.asarray(rim_lon), np.asarray(rim_lat)


def _drawn(part: Circle | Polygon, lon0: float, lat0: float) -> Any:
    if isinstance(part, Circle):
        x, y = _aeqd(lon0, lat0, *_rim(part.lon, part.lat, part.reach_m))
        return sg.Polygon(np.column_stack([x, y]))
    rings = [
        shapely.transform(
            shapely.segmentize(ring, _DENSIFY_DEG),
            lambda xy: np.column_stack(_aeqd(lon0, lat0, xy[:, 0], xy[:, 1])),
        )
        for ring in [part.shape.exterior, *part.shape.interiors]
    ]
    shape = sg.Polygon(rings[0], rings[1:])
    return shape.buffer(part.margin_m, quad_segs=64) if part.margin_m > 0.0 else shape


def slack(parts: Sequence[Circle | Polygon], lon: float, lat: float, r: float) -> float:
    """Metres by which the parts' union holds the disk (negative: it does not hold it)."""
    union = shapely.union_all([_drawn(p, float(lon), float(lat)) for p in parts])
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
