"""Private: a part's window cut into a grid of cells, each known INSIDE, OUTSIDE or BOUNDARY.

Used by :class:`geotarget.AreaIndex` only (64 cells along a part's longer side, about 40 kB per
part, held by the snapshot that owns the part): the area → devices direction needs no raster.

A cell is INSIDE only if every point of it (and of a thin rim around it) is inside the part,
OUTSIDE only if no such point is; every other cell is BOUNDARY, and points there are decided by
the part's exact test (:meth:`Circle.contains`, :meth:`Polygon.contains`). So a
raster never changes an answer: it only lets most points be answered by a table look-up.

Why the cell states are rigorous:

* **Circles.** For a centre ``c`` and a lon/lat box, the largest straight-line (chord) distance
  from ``c`` to the box is attained at a corner. Along a parallel the squared chord is
  ``|P|² + |P0|² - 2 (N cosφ N0 cosφ0 cosΔλ + ...)``, a decreasing function of ``cos Δλ``, so
  its maximum over a longitude interval is at an end. Along a meridian the point moves on the
  meridian ellipse, and ``c`` projects into that meridian's plane outside the ellipse's evolute
  (a 43 km astroid around the Earth's centre) whenever ``|Δλ| < 89°``; from such a point there
  are exactly two normals to the ellipse, so the distance along any arc is largest at an end.
  Hence the farthest chord of the box is a corner's, and since the geodesic distance is at most
  an increasing function of the chord (:func:`geotarget._geodesy.chord_bounds`), a box whose
  four corner upper bounds are ``<= radius`` lies inside. A box is outside when the lower bound
  to its farthest corner minus the box diameter exceeds the radius (triangle inequality; the
  diameter is bounded by walking along a meridian then a parallel, each at most ``R_MAX`` times
  its angle). Cells with a corner ``|Δλ| >= 89°`` from the centre are BOUNDARY. Cells are
  tested 0.1 % larger than they are, far beyond the rounding of the cell look-up.
* **Polygons.** Edges are straight in lon/lat, so the grid is exact in the lon/lat plane. Each
  edge is cut into pieces at most one cell long in each axis; every cell meeting a piece's
  bounding box (widened by 1e-4 cell) is BOUNDARY, which covers every cell the boundary passes
  through (:func:`geotarget._index.boundary.marked_cells`; the pieces number at most the edges
  plus their extent in cells, so a 1e-8° sliver costs no more than any other polygon). Any other
  cell touches no boundary, so it is wholly inside or wholly outside: one ``contains_xy`` test
  of a representative centre per run of such cells along a row decides the whole run. With a
  margin, cells outside the polygon are BOUNDARY (the margin is then tested exactly).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from geotarget import _geodesy, _geos
from geotarget._index.boundary import marked_cells, part_window
from geotarget._index.frames import ring_edges
from geotarget._index.segments import clip
from geotarget._validate import FloatArray
from geotarget.areas import Circle, Polygon

OUTSIDE = 0
INSIDE = 1
BOUNDARY = 2

#: Cells are classified as if this fraction of a cell larger on every side.
_CELL_PAD = 1e-3
#: Boundary marking and box look-ups are widened by this fraction of a cell.
_EPS = 1e-4
# Lowest summed-table index of a box's lower and (exclusive) upper corner.
_BOTTOM4 = np.array([[0.0], [0.0], [1.0], [1.0]])
#: Cells whose corners are this far in longitude from a circle's centre are BOUNDARY.
_MAX_DLON = 89.0

IntArray = npt.NDArray[np.intp]
U8Array = npt.NDArray[np.uint8]


class Raster:
    """Cell states over a part's window, padded by one OUTSIDE cell on every side."""

    __slots__ = (
        "_origin4",
        "_per4",
        "_sat",
        "_shift4",
        "_top4",
        "cells",
        "cells_per_lat",
        "cells_per_lon",
        "flat",
        "nx",
        "ny",
        "states",
        "x0",
        "y0",
    )

    def __init__(self, x0: float, y0: float, cw: float, ch: float, states: U8Array) -> None:
        self.x0 = x0
        self.y0 = y0
        self.cells_per_lon = 1.0 / cw
        self.cells_per_lat = 1.0 / ch
        self.ny: int = int(states.shape[0])
        self.nx: int = int(states.shape[1])
        padded = np.zeros((self.ny + 2, self.nx + 2), dtype=np.uint8)
        padded[1:-1, 1:-1] = states
        padded.flags.writeable = False
        self.states = padded
        self.flat = padded.reshape(-1)
        self.cells: bytes = padded.tobytes()  # for fast scalar look-ups
        self._origin4 = np.array([[x0], [y0], [-x0], [-y0]])
        pl, pt = self.cells_per_lon, self.cells_per_lat
        self._per4 = np.array([[pl], [pt], [-pl], [-pt]])
        # Box corners are widened by _EPS cells; the upper corner indexes the summed table + 1.
        self._shift4 = np.array([[1.0 - _EPS], [1.0 - _EPS], [2.0 + _EPS], [2.0 + _EPS]])
        self._top4 = np.array([[self.nx + 1], [self.ny + 1], [self.nx + 2], [self.ny + 2]], float)
        self._sat: npt.NDArray[np.int64] | None = None

    @property
    def sat(self) -> npt.NDArray[np.int64]:
        """Summed-area table of not-INSIDE and not-OUTSIDE cells, built on first use.

        Not-INSIDE counts are in the low 32 bits, not-OUTSIDE counts in the high 32 bits; each
        count is below 2**32, so the sums never carry over.
        """
        sat = self._sat
        if sat is None:
            st = self.states
            both = (st != INSIDE).astype(np.int64) | ((st != OUTSIDE).astype(np.int64) << 32)
            sat = _summed(both)
            self._sat = sat
        return sat

    def release(self) -> None:
        """Drop the summed-area table (it is rebuilt on the next :meth:`box_counts`)."""
        self._sat = None

    @property
    def nbytes(self) -> int:
        """Memory held by the tables."""
        return int(self.states.nbytes + (0 if self._sat is None else self._sat.nbytes))

    def lookup(self, x: FloatArray, y: FloatArray) -> U8Array:
        """Return the state of the cell holding each point (OUTSIDE beyond the window)."""
        fx = x - self.x0
        fx *= self.cells_per_lon
        fx += 1.0
        ix = fx.astype(np.intp)
        clip(ix, 0, self.nx + 1, out=ix)
        fy = y - self.y0
        fy *= self.cells_per_lat
        fy += 1.0
        iy = fy.astype(np.intp)
        clip(iy, 0, self.ny + 1, out=iy)
        iy *= self.nx + 2
        iy += ix
        return self.flat[iy]

    def lookup_one(self, x: float, y: float) -> int:
        """Return the state of the cell holding one point (plain Python, no numpy)."""
        ix = int((x - self.x0) * self.cells_per_lon + 1.0)
        iy = int((y - self.y0) * self.cells_per_lat + 1.0)
        ix = 0 if ix < 0 else (self.nx + 1 if ix > self.nx + 1 else ix)
        iy = 0 if iy < 0 else (self.ny + 1 if iy > self.ny + 1 else iy)
        return self.cells[iy * (self.nx + 2) + ix]

    def box_counts(self, boxes: FloatArray) -> tuple[IntArray, IntArray]:
        """Count, per box, the cells it meets that are not INSIDE and not OUTSIDE.

        Boxes are the columns of a 4 × k array with rows west, south, -east, -north.
        """
        f = boxes - self._origin4
        f *= self._per4
        f += self._shift4
        np.floor(f, out=f)
        clip(f, _BOTTOM4, self._top4, out=f)
        i = f.astype(np.intp)
        w = self.nx + 3
        i[1] *= w
        i[3] *= w
        flat = self.sat.reshape(-1)
        lo_x, lo_y, hi_x, hi_y = i
        both = flat[hi_y + hi_x]
        both -= flat[lo_y + hi_x]
        both -= flat[hi_y + lo_x]
        both += flat[lo_y + lo_x]
        return both & 0xFFFFFFFF, both >> 32


def _summed(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    sat = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(values, axis=0), axis=1, out=sat[1:, 1:])
    sat.flags.writeable = False
    return sat


# ---------------------------------------------------------------------------------------------
# Building rasters
# ---------------------------------------------------------------------------------------------


def _grid(
    window: tuple[float, float, float, float], cells: int
) -> tuple[float, float, float, float, int, int]:
    west, south, east, north = window
    mid = math.radians(min(abs(south), abs(north)) if south * north > 0 else 0.0)
    width = max(east - west, 1e-9) * max(math.cos(mid), 1e-3)
    height = max(north - south, 1e-9)
    if width >= height:
        nx = cells
        ny = max(1, min(cells, math.ceil(cells * height / width)))
    else:
        ny = cells
        nx = max(1, min(cells, math.ceil(cells * width / height)))
    # Cells a relative 1e-9 larger, so the window's east and north edges fall strictly inside
    # the last cells rather than on the padding.
    cw = max(east - west, 1e-9) / nx * (1.0 + 1e-9)
    ch = max(north - south, 1e-9) / ny * (1.0 + 1e-9)
    return west, south, cw, ch, nx, ny


def circle_raster(circle: Circle, cells: int) -> Raster:
    """Cell states of a geodesic circle (see the module docstring for the proof)."""
    x0, y0, cw, ch, nx, ny = _grid(part_window(circle), cells)
    pad_x = cw * _CELL_PAD
    pad_y = ch * _CELL_PAD
    i = np.arange(nx, dtype=np.float64)
    j = np.arange(ny, dtype=np.float64)
    left = x0 + i * cw - pad_x
    right = x0 + (i + 1.0) * cw + pad_x
    bottom = np.maximum(y0 + j * ch - pad_y, -90.0)
    top = np.minimum(y0 + (j + 1.0) * ch + pad_y, 90.0)
    cx, cy, cz = _geodesy.ecef(circle.lon, circle.lat)
    far2 = np.zeros((ny, nx), dtype=np.float64)
    # ECEF is separable: (x, y, z) = (p cos λ, p sin λ, z) with p, z from the latitude only, so
    # edges are converted once (the cells are padded far beyond the rounding of the product).
    for lat_e in (bottom, top):
        p, _, z = _geodesy.ecef(np.zeros_like(lat_e), lat_e)
        for lon_e in (left, right):
            ex, ey, _ = _geodesy.ecef(lon_e, np.zeros_like(lon_e))
            px = p[:, None] * (ex / _geodesy.A)[None, :]
            py = p[:, None] * (ey / _geodesy.A)[None, :]
            np.maximum(far2, (px - cx) ** 2 + (py - cy) ** 2 + ((z - cz) ** 2)[:, None], out=far2)
    lo, hi = _geodesy.chord_bounds(np.sqrt(far2))
    near_lat = np.where(bottom * top <= 0.0, 0.0, np.minimum(np.abs(bottom), np.abs(top)))
    diam_row = _geodesy.R_MAX * (
        math.radians(ch + 2 * pad_y) + np.cos(np.radians(near_lat)) * math.radians(cw + 2 * pad_x)
    )
    diam = (diam_row * (1.0 + 1e-9) + 1e-6)[:, None]
    reach = circle.reach_m
    states = np.full((ny, nx), BOUNDARY, dtype=np.uint8)
    states[hi <= reach] = INSIDE
    states[lo - diam > reach] = OUTSIDE
    dlon = np.maximum(np.abs(left - circle.lon), np.abs(right - circle.lon))
    states[:, dlon >= _MAX_DLON] = BOUNDARY
    return Raster(x0, y0, cw, ch, states)


def polygon_raster(polygon: Polygon, cells: int) -> Raster:
    """Cell states of a polygon (margin: outside cells are BOUNDARY)."""
    x0, y0, cw, ch, nx, ny = _grid(part_window(polygon), cells)
    boundary = marked_cells(*ring_edges(polygon.shape), x0, y0, cw, ch, nx, ny)
    states = np.full((ny, nx), BOUNDARY, dtype=np.uint8)
    free = ~boundary
    if free.any():
        flat_free = free.reshape(-1)
        starts = flat_free.copy()
        starts[1:] &= ~flat_free[:-1]
        starts.reshape(ny, nx)[:, 0] = free[:, 0]
        run_id = np.cumsum(starts) - 1
        reps = np.flatnonzero(starts)
        ry, rx = np.divmod(reps, nx)
        inside = _geos.contains_xy(polygon.shape, x0 + (rx + 0.5) * cw, y0 + (ry + 0.5) * ch)
        outside_state = BOUNDARY if polygon.margin_m > 0.0 else OUTSIDE
        run_state = np.where(inside, INSIDE, outside_state).astype(np.uint8)
        flat_states = states.reshape(-1)
        flat_states[flat_free] = run_state[run_id[flat_free]]
    return Raster(x0, y0, cw, ch, states)


def raster(part: Circle | Polygon, cells: int) -> Raster:
    """Return the raster of ``part`` with ``cells`` along its longer side (built, not cached)."""
    return circle_raster(part, cells) if isinstance(part, Circle) else polygon_raster(part, cells)
