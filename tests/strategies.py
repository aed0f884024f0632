"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from hypothesis import strategies as st

#: Longitudes and latitudes over Sweden's bounding box.
sweden_lon = st.floats(min_value=10.5, max_value=24.2, allow_nan=False)
sweden_lat = st.floats(min_value=55.3, max_value=69.1, allow_nan=False)

#: Longitudes and latitudes anywhere (poles and antimeridian included).
any_lon = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)
any_lat = st.floats(min_value=-90.0, max_value=90.0, allow_nan=False)

#: Circle radii from 10 m to 100 km, log-uniform-ish.
radius_m = st.floats(min_value=1.0, max_value=5.0).map(lambda e: 10.0**e)


# --- region partitions (tests/test_regions.py) ----------------------------------------------

#: Codes of varied length and alphabet, so "lowest code" is Python string order, not length.
REGION_CODES = ("0114", "01", "02", "1", "10", "A", "B", "Z9")


@st.composite
def region_partitions(draw: st.DrawFn) -> tuple[dict[str, Any], Any, Any]:
    """A jittered lon/lat grid whose cells are labelled with codes (some left empty).

    Returns ``(regions, nodes_lon, nodes_lat)``: each code maps to the union of its cells (a
    Polygon or MultiPolygon); neighbouring cells share their vertices exactly, so shared
    borders are exact. ``nodes_*`` are the ``(ny + 1, nx + 1)`` grid vertices.
    """
    nx = draw(st.integers(1, 6))
    ny = draw(st.integers(1, 6))
    size = draw(st.sampled_from([1e-5, 1e-3, 0.07, 1.0, 2.0]))
    # Nodes move by at most 0.35 cells, and cells are at most 2°: stay inside lon/lat range.
    lon0 = draw(st.floats(-179.0, 180.0 - 2.0 * 7.5))
    lat0 = draw(st.floats(-89.0, 90.0 - 2.0 * 7.5))
    jitter = draw(st.sampled_from([0.0, 0.1, 0.35]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    jx = rng.uniform(-jitter, jitter, (ny + 1, nx + 1))
    jy = rng.uniform(-jitter, jitter, (ny + 1, nx + 1))
    ii, jj = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1))
    lon = lon0 + (ii + jx) * size
    lat = lat0 + (jj + jy) * size
    n_codes = draw(st.integers(1, len(REGION_CODES)))
    label = rng.integers(-1, n_codes, (ny, nx))  # -1: a gap in no region
    label[0, 0] = max(label[0, 0], 0)
    cells: dict[str, list[Any]] = {}
    for j in range(ny):
        for i in range(nx):
            if label[j, i] < 0:
                continue
            ring = [
                (lon[j, i], lat[j, i]),
                (lon[j, i + 1], lat[j, i + 1]),
                (lon[j + 1, i + 1], lat[j + 1, i + 1]),
                (lon[j + 1, i], lat[j + 1, i]),
            ]
            cells.setdefault(REGION_CODES[label[j, i]], []).append(shapely.Polygon(ring))
    regions = {code: shapely.union_all(polys) for code, polys in cells.items()}
    return regions, lon, lat
