"""Private: which regions an alert area reaches, for the issuer-authority check.

A finest region is *reached* iff the interior of the alert area meets the interior of the region
(DE-9IM ``T********``): a shared border alone does not reach it. The area is taken as
:meth:`geotarget.Area.to_shapely` (circles as 4,096-gons of points on the exact rim). The
bounding-box query of an STRtree over the finest regions finds the candidates; the relate test
is vectorized over them.
"""

from __future__ import annotations

import numpy as np
import shapely

from geotarget import _geos
from geotarget.areas import Area
from geotarget.regions import RegionSet


class Territory:
    """The finest regions of a hierarchy, ready to say which ones an area reaches."""

    def __init__(self, finest: RegionSet) -> None:
        self._codes = np.array(finest.codes, dtype=object)
        self._geoms = np.array([finest[c].geometry for c in finest.codes], dtype=object)
        self._tree = shapely.STRtree(self._geoms)

    def reached(self, area: Area) -> frozenset[str]:
        """The codes of the finest regions whose interior the area's interior meets."""
        geom = area.to_shapely()
        candidates = self._tree.query(geom)
        if candidates.size == 0:
            return frozenset()
        hit = _geos.relate_pattern(geom, self._geoms[candidates], "T********")
        return frozenset(self._codes[candidates[hit]].tolist())
