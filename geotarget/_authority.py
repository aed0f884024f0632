"""Private: which regions an alert area reaches, for the issuer-authority check.

A finest region is *reached* iff the interior of the alert area meets the interior of the region
(DE-9IM ``T********``): a shared border alone does not reach it.

Most alert areas lie well inside one region. So each part is first looked up by a rigorous
lon/lat window holding it (a circle's reach, or a polygon without margin's bounds): when the
regions' grid index knows one answer for every point of that window (no boundary, no overlap
near: ``box_region``), the part is in that region's interior, and reaches it alone (or nothing,
outside every region). The parts the index cannot settle are decided against the candidate
regions of an STRtree over them: a circle of reach up to 30 km reaches a region iff the region
is nearer to its centre than its reach (:func:`geotarget._geodesy.distance_to_geometries`,
never below the true distance, above it by under a millimetre), all such circles in one
vectorized pass; the other parts as shapely polygons (a larger circle as a 4,096-point rim, a
polygon with a margin buffered in its metric frame), by the relate test. Each part is decided
on its own, so the cost grows with the parts, and not with a rim per small circle (a CAP
document of thousands of circles).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from geotarget import _geodesy, _geos
from geotarget._index.boundary import circle_window
from geotarget.areas import Area, Circle, Polygon
from geotarget.regions import RegionSet

#: Circles up to this reach are decided by distance (within the 1 mm documented for
#: :func:`geotarget._geodesy.distance_to_geometries`); larger ones as 4,096-point rims.
_NEAR_M = 30_000.0


class Territory:
    """The finest regions of a hierarchy, ready to say which ones an area reaches."""

    def __init__(self, finest: RegionSet) -> None:
        self._finest = finest
        self._codes = np.array(finest.codes, dtype=object)
        self._geoms = np.array([finest[c].geometry for c in finest.codes], dtype=object)
        self._tree = shapely.STRtree(self._geoms)

    def reached(self, area: Area) -> frozenset[str]:
        """The codes of the finest regions whose interior the area's interior meets."""
        codes: set[str] = set()
        circles: list[Circle] = []
        others: list[Circle | Polygon] = []
        for part in area.parts:
            if isinstance(part, Circle):
                window = circle_window(part.lon, part.lat, part.reach_m)
            elif part.margin_m == 0.0:
                window = part.bounds
            else:
                others.append(part)
                continue
            one = self._finest._box_index(*window)
            if one >= 0:
                codes.add(str(self._codes[one]))
            elif one == -2 and isinstance(part, Circle) and part.reach_m <= _NEAR_M:
                circles.append(part)
            elif one == -2:
                others.append(part)
        if circles:
            codes |= self._circles(circles)
        for other in others:
            codes |= self._polygonal(other._to_lonlat_polygon())
        return frozenset(codes)

    def _circles(self, circles: list[Circle]) -> set[str]:
        """The regions nearer to some circle's centre than its reach (exact distances)."""
        windows = np.array([circle_window(c.lon, c.lat, c.reach_m) for c in circles])
        boxes = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
        which, candidate = self._tree.query(boxes)
        if candidate.size == 0:
            return set()
        lon = np.array([c.lon for c in circles])[which]
        lat = np.array([c.lat for c in circles])[which]
        reach = np.array([c.reach_m for c in circles])[which]
        near = _geodesy.distance_to_geometries(lon, lat, self._geoms[candidate]) < reach
        return set(self._codes[candidate[near]].tolist())

    def _polygonal(self, geom: Any) -> set[str]:
        """The regions whose interior a lon/lat polygon's interior meets (relate test)."""
        candidates = self._tree.query(geom)
        if candidates.size == 0:
            return set()
        hit = _geos.relate_pattern(geom, self._geoms[candidates], "T********")
        return set(self._codes[candidates[hit]].tolist())
