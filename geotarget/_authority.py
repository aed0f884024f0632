"""Private: which regions an alert area reaches, for the issuer-authority check.

A finest region is *reached* iff the interior of the alert area meets the interior of the region
(DE-9IM ``T********``): a shared border alone does not reach it. The area is taken as
:meth:`geotarget.Area.to_shapely` (circles as 4,096-gons of points on the exact rim). The
bounding-box query of an STRtree over the finest regions finds the candidates; the relate test
is vectorized over them.

Most alert areas lie well inside one region, and polygonising a circle costs about 2 ms (4,096
geodesic rim points). So each part is first looked up by a rigorous lon/lat window holding it
(a circle's reach, or a polygon without margin's bounds): when the regions' grid index knows
one answer for every point of that window (no boundary, no overlap near: ``box_region``), the
part — and its polygon, which lies in the window — is in that region's interior, and reaches
it alone (or nothing, outside every region). Only an area with a part the index cannot settle
is polygonised, whole, as before: the same answer either way.
"""

from __future__ import annotations

import numpy as np
import shapely

from geotarget import _geos
from geotarget._index.boundary import circle_window
from geotarget.areas import Area, Circle
from geotarget.regions import RegionSet


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
        for part in area.parts:
            if isinstance(part, Circle):
                window = circle_window(part.lon, part.lat, part.reach_m)
            elif part.margin_m == 0.0:
                window = part.bounds
            else:
                return self._polygonal(area)
            one = self._finest._box_index(*window)
            if one == -2:
                return self._polygonal(area)
            if one >= 0:
                codes.add(str(self._codes[one]))
        return frozenset(codes)

    def _polygonal(self, area: Area) -> frozenset[str]:
        """:meth:`reached` from the area's shapely form, region by region."""
        geom = area.to_shapely()
        candidates = self._tree.query(geom)
        if candidates.size == 0:
            return frozenset()
        hit = _geos.relate_pattern(geom, self._geoms[candidates], "T********")
        return frozenset(self._codes[candidates[hit]].tolist())
