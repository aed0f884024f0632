"""Private: which boxes may meet a polygon's boundary, and conservative growth of boxes by metres.

A box that meets no point of a polygon's boundary is connected, so it lies wholly in the
polygon's interior or wholly in its exterior: one point of it decides every other point. That
is how :mod:`geotarget._index.plan` accepts or rejects a whole leaf of a polygon query. The
same holds for runs of unmarked cells along a row, so one ``intersects_xy`` per run (none for
a run reaching the grid's border: it is outside) gives the state of every unmarked cell, and of
every point or box within one (:meth:`BoundaryCells.state_of`).

:class:`BoundaryCells` answers "may this box meet the boundary?" conservatively (a yes can be
wrong, a no never is) from a grid of boolean cells over the polygon's bounds, sized by the
number of candidate leaves (never by a fixed resolution) and capped, so its cost is bounded by
the query's inputs:

* every ring is cut into pieces shorter than one cell in each axis (in cell units); every cell
  meeting a piece's bounding box, widened by 1e-4 cell (far beyond the rounding of the cut), is
  marked;
* a point ``q`` of the boundary lies on some piece, so its cell (``floor((q - x0) / w)``, which
  is monotone in ``q`` in floating point too) is marked; a box holding ``q`` spans that cell by
  the same monotonicity, so a summed-area count over the box's cell span is non-zero.

Built with ``clearance``, the grid also knows how many cells around each cell are unmarked
and what that is worth in metres (:func:`_clearance`), so a disk around a point is decided by
one gather and one comparison (:meth:`BoundaryCells.points`) instead of growing its box.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget import _geodesy, _geos
from geotarget._index.frames import ring_edges
from geotarget._index.segments import cell_index, piece_cells
from geotarget._validate import BoolArray, FloatArray
from geotarget.areas import Circle, Polygon

IntArray = npt.NDArray[np.intp]

#: Most cells in one grid.
MAX_CELLS = 1 << 18
#: Most ring pieces cut for one grid (the grid coarsens to stay under it).
MAX_PIECES = 1 << 17


def marked_cells(
    ax: FloatArray,
    ay: FloatArray,
    bx: FloatArray,
    by: FloatArray,
    x0: float,
    y0: float,
    cw: float,
    ch: float,
    nx: int,
    ny: int,
) -> BoolArray:
    """Cells of an ``ny × nx`` grid that edges may pass through (see the module docstring).

    Every cell of :func:`piece_cells` is marked.
    """
    marked = np.zeros(ny * nx, dtype=np.bool_)
    for cells in piece_cells(ax, ay, bx, by, x0, y0, cw, ch, nx, ny)[0]:
        marked[cells] = True
    return marked.reshape(ny, nx)


def _run_states(
    shape: Any, marked: BoolArray, x0: float, y0: float, cw: float, ch: float
) -> npt.NDArray[np.int8]:
    """State of every cell, flat: -1 marked, else 1 inside / 0 outside the polygon.

    A run of unmarked cells along a row meets no boundary point (a boundary point on the edge
    shared by two cells marks both, thanks to the widening), and it is connected, so it lies
    wholly inside or wholly outside: one ``intersects_xy`` of its first cell's centre decides it.
    A run that reaches the grid's border needs none: it is outside (its border cell holds
    points on the polygon's bounding box, or beyond it, where the interior never reaches, and
    none of them is a boundary point, whose cell would be marked). The runs (of unmarked and of
    marked cells, each row starting a new one) are found once and their states repeated over
    their lengths.
    """
    ny, nx = marked.shape
    flat = marked.reshape(-1)
    change = np.empty(flat.size, dtype=np.bool_)
    change[0] = True
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    change[::nx] = True  # (a run never wraps to the next row: simpler to reason about)
    starts = np.flatnonzero(change)
    lengths = np.empty_like(starts)
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
    lengths[-1] = flat.size - starts[-1]
    values = np.full(starts.size, -1, dtype=np.int8)
    free = np.flatnonzero(~flat[starts])
    ry, rx = np.divmod(starts[free], nx)
    inner = (rx > 0) & (rx + lengths[free] < nx) & (ry > 0) & (ry < ny - 1)
    values[free] = 0
    ask = free[inner]
    if ask.size:
        ry, rx = ry[inner], rx[inner]
        inside = _geos.intersects_xy(shape, x0 + (rx + 0.5) * cw, y0 + (ry + 0.5) * ch)
        values[ask] = np.asarray(inside, dtype=np.int8)
    out: npt.NDArray[np.int8] = np.repeat(values, lengths)
    return out


#: Clearance levels :func:`_clearance` computes: cells free of marks up to this many cells away.
CLEAR_LEVELS = 2


def _clearance(
    marked: BoolArray, x0: float, y0: float, cw: float, ch: float
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Per cell, flat, how many cells around it are free of marks; metres that clearance buys.

    ``clear[c] = k`` when every cell within ``k`` cells of ``c`` in each axis is unmarked
    (cells beyond the grid count as unmarked: the boundary lies inside it), for the largest
    ``k <= CLEAR_LEVELS``; ``room[k]`` is a radius such that, around any point whose (clipped)
    cell has clearance ``k``, every point within that many geodesic metres lies in those cells:

    * a point within ``rho`` metres differs by at most ``degrees(rho / R_MIN)`` in latitude and
      ``degrees(rho / (A cos(far)))`` in longitude, ``far`` the largest latitude it may have —
      bounded for the whole grid, as points more than ``2 * CLEAR_LEVELS`` cells beyond it get
      no room (:meth:`BoundaryCells.points`) and a disk reaches ``CLEAR_LEVELS`` cells further
      (``room`` is ``-inf`` throughout when that reaches a pole or the antimeridian);
    * both differences below ``k * (1 - 1e-6)`` cells keep the (floored, clipped, monotone) cell
      indices within ``k`` of each other, rounding included;
    * a boundary point's cell is marked (module docstring), so such a disk meets no boundary.

    ``clear`` is ``-1``/``0`` for marked cells and cells next to one (``room`` ``-inf``).
    """
    ny, nx = marked.shape
    k_max = CLEAR_LEVELS
    flat = marked.reshape(-1)
    room = np.full(k_max + 2, -np.inf)  # indexed by clear, -1 the last entry
    # Points up to 2 * k_max cells beyond the grid (BoundaryCells.points), disks k_max more.
    west, east = x0 - 3 * k_max * cw, x0 + (nx + 3 * k_max) * cw
    far = max(abs(y0 - 3 * k_max * ch), abs(y0 + (ny + 3 * k_max) * ch))
    if west < -180.0 or east > 180.0 or far >= 89.999:
        return np.where(flat, -1, 0).astype(np.int8), room
    # clear = k_max - (marked within 1) - ... - (marked within k_max) - marked: a marked cell is
    # marked within every distance, so it gets -1.
    clear = np.full(flat.size, k_max, dtype=np.int8)
    clear -= flat.view(np.int8)
    grown = flat
    for k in range(1, k_max + 1):
        grown = _dilated(grown, nx)
        clear -= grown.view(np.int8)
        span_lat = math.radians(k * ch * (1.0 - 1e-6) - 1e-12) / (1.0 + 1e-9) * _geodesy.R_MIN
        span_lon = (
            math.radians(k * cw * (1.0 - 1e-6) - 1e-12)
            / (1.0 + 1e-9)
            * _geodesy.A
            * math.cos(math.radians(far))
        )
        room[k] = min(span_lat, span_lon)
    return clear, room


def _dilated(flat: BoolArray, nx: int) -> BoolArray:
    """A flat ``(ny, nx)`` grid of marks grown by one cell in each axis, diagonals included.

    Shifted along the flat array, so the last cell of a row also marks the first of the next
    (and back): more marks than the grid's own neighbours, which only ever lowers a clearance.
    """
    rows = flat.copy()
    rows[1:] |= flat[:-1]
    rows[:-1] |= flat[1:]
    out: BoolArray = rows.copy()
    out[nx:] |= rows[:-nx]
    out[:-nx] |= rows[nx:]
    return out


class BoundaryCells:
    """A grid over a polygon's bounds with the cells its boundary may pass through marked.

    Parameters
    ----------
    shape : shapely Polygon
        The polygon in lon/lat degrees.
    cells : int
        About how many cells the grid should have (it is capped by :data:`MAX_CELLS`, and
        coarsened further so that at most :data:`MAX_PIECES` ring pieces are cut).
    clearance : bool
        Also keep, per unmarked cell, the room around it (:meth:`points`).
    edges : tuple of arrays, optional
        The polygon's :func:`~geotarget._index.frames.ring_edges`, when already known.
    """

    __slots__ = ("_clear", "_room", "_sat_t", "_state", "ch", "cw", "nx", "ny", "x0", "y0")

    def __init__(
        self,
        shape: Any,
        cells: int,
        *,
        clearance: bool = False,
        edges: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None,
    ) -> None:
        west, south, east, north = shape.bounds
        ax, ay, bx, by = ring_edges(shape) if edges is None else edges
        span_x = max(east - west, 1e-12)
        span_y = max(north - south, 1e-12)
        shrink = max(math.cos(math.radians(max(abs(south), abs(north)))), 1e-3)
        cells = max(1, min(int(cells), MAX_CELLS))
        aspect = span_x * shrink / span_y
        nx = max(1, min(cells, round(math.sqrt(cells * aspect))))
        ny = max(1, min(cells, cells // nx))
        # Coarsen until the ring pieces fit the budget.
        sx, sy = float(np.abs(bx - ax).sum()), float(np.abs(by - ay).sum())
        while nx * sx / span_x + ny * sy / span_y > MAX_PIECES and (nx > 1 or ny > 1):
            nx = max(1, nx // 2)
            ny = max(1, ny // 2)
        cw = span_x / nx * (1.0 + 1e-9)
        ch = span_y / ny * (1.0 + 1e-9)
        self.x0, self.y0, self.cw, self.ch, self.nx, self.ny = west, south, cw, ch, nx, ny
        marked = marked_cells(ax, ay, bx, by, west, south, cw, ch, nx, ny)
        # The summed-area table, transposed: ``sat_t[j, i]`` counts the marked cells of rows
        # below ``i`` and columns below ``j``. Both running sums go down axis 0, adding whole
        # rows at a time (numpy's sum along each contiguous row, axis 1, costs two to three
        # times as much: 0.20 against 0.53 ms for a municipality's 322 × 339 cells), on int32
        # cells cast once: a running sum that casts the booleans itself does it through small
        # buffers, about three times the cost within a first query (0.33 against 0.12 ms).
        below = marked.astype(np.int32)
        np.add.accumulate(below, axis=0, out=below)
        sat_t = np.zeros((nx + 1, ny + 1), dtype=np.int32)
        inner = sat_t[1:, 1:]
        inner[...] = below.T
        np.add.accumulate(inner, axis=0, out=inner)
        self._sat_t = sat_t
        self._state = _run_states(shape, marked, west, south, cw, ch)
        self._clear: npt.NDArray[np.int8] | None = None
        self._room: FloatArray | None = None
        if clearance:
            self._clear, self._room = _clearance(marked, west, south, cw, ch)

    @property
    def nbytes(self) -> int:
        """Memory held by the grid's tables."""
        extra = 0 if self._clear is None else int(self._clear.nbytes)
        return int(self._sat_t.nbytes + self._state.nbytes) + extra

    def points(self, x: FloatArray, y: FloatArray) -> tuple[npt.NDArray[np.int8], FloatArray]:
        """Per point, :meth:`state_of` and the room around it: metres free of marked cells.

        A disk of radius below a point's room (geodesic metres) meets no marked cell, hence no
        boundary point (see :func:`_clearance`); the room is ``-inf`` where nothing is known
        (a marked cell or one next to it, or a grid built without ``clearance``).
        """
        ix = cell_index(x, self.x0, self.cw, self.nx)
        iy = cell_index(y, self.y0, self.ch, self.ny)
        iy *= self.nx
        iy += ix
        state: npt.NDArray[np.int8] = self._state[iy]
        if self._clear is None or self._room is None:
            return state, np.full(x.size, -np.inf)
        room: FloatArray = self._room[self._clear[iy]]
        # Points more than 2 * CLEAR_LEVELS cells beyond the grid: the room's far latitude (and
        # the antimeridian check) do not cover them.
        ext_x, ext_y = 2 * CLEAR_LEVELS * self.cw, 2 * CLEAR_LEVELS * self.ch
        beyond = (x < self.x0 - ext_x) | (x > self.x0 + self.nx * self.cw + ext_x)
        beyond |= (y < self.y0 - ext_y) | (y > self.y0 + self.ny * self.ch + ext_y)
        room[beyond] = -np.inf
        return state, room

    def state_of(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.int8]:
        """Per point: 1 inside the polygon, 0 outside, -1 unknown (its cell is marked).

        Points beyond the grid fall in a border cell: an unmarked border cell is outside (the
        polygon's interior cannot reach its own bounding box), so the answer stays right.
        """
        ix = cell_index(x, self.x0, self.cw, self.nx)
        iy = cell_index(y, self.y0, self.ch, self.ny)
        iy *= self.nx
        iy += ix
        out: npt.NDArray[np.int8] = self._state[iy]
        return out

    def meets(self, boxes: FloatArray) -> BoolArray:
        """Whether each box may meet the boundary (boxes as rows west, south, -east, -north)."""
        ix0 = cell_index(boxes[0], self.x0, self.cw, self.nx)
        iy0 = cell_index(boxes[1], self.y0, self.ch, self.ny)
        ix1 = cell_index(-boxes[2], self.x0, self.cw, self.nx) + 1
        iy1 = cell_index(-boxes[3], self.y0, self.ch, self.ny) + 1
        flat = self._sat_t.reshape(-1)
        h = self.ny + 1
        ix0 *= h
        ix1 *= h
        count = flat[ix1 + iy1] - flat[ix1 + iy0] - flat[ix0 + iy1] + flat[ix0 + iy0]
        return np.asarray(count > 0)


def part_window(part: Circle | Polygon) -> tuple[float, float, float, float]:
    """A rigorous lon/lat window holding every point of the part (its margin included)."""
    if isinstance(part, Circle):
        return _geodesy.circle_window(part.lon, part.lat, part.reach_m)
    return part.bounds


#: Boxes whose far latitudes span at most this many degrees are grown with the farthest one's
#: cosine (see :func:`grown`).
_ONE_COSINE_DEG = 0.5


def grown(
    west: FloatArray, south: FloatArray, east: FloatArray, north: FloatArray, r: FloatArray
) -> tuple[FloatArray, BoolArray]:
    """Grow boxes by ``r`` geodesic metres, conservatively in degrees.

    Meridian arcs are at least ``R_MIN`` metres per radian and parallels at least
    ``A cos(lat_far)``, so every point within ``r`` metres of a box is in the grown box (a
    ``lat_far`` farther than the box's own only grows it more: boxes whose far latitudes lie
    within :data:`_ONE_COSINE_DEG` of each other share the farthest one's). Returns
    the boxes as rows (west, south, -east, -north) and the mask of boxes reaching a pole or the
    antimeridian, whose growth must not be trusted.
    """
    out = np.empty((4, np.broadcast(west, r).size))
    w, s, neg_e, neg_n = out  # written in place: no stacking copy
    dlat = r / _geodesy.R_MIN * _geodesy.DEG * (1.0 + 1e-9) + 1e-12
    np.subtract(south, dlat, out=s)
    np.add(north, dlat, out=neg_n)
    far = np.minimum(np.maximum(np.abs(s), np.abs(neg_n)), 89.999)
    top = float(far.max(initial=0.0))
    cos_far: float | FloatArray
    if top - float(far.min(initial=top)) <= _ONE_COSINE_DEG:
        # The farthest latitude for every box: a longer growth in longitude (by under 2.5 %
        # below 70°), and one cosine where there were as many as boxes (~8 ns each).
        cos_far = math.cos(math.radians(top))
    else:
        cos_far = np.cos(far * _geodesy.RAD)
    dlon = r / (_geodesy.A * cos_far) * _geodesy.DEG * (1.0 + 1e-9) + 1e-12
    np.subtract(west, dlon, out=w)
    np.add(east, dlon, out=neg_e)
    wild = (s <= -89.999) | (neg_n >= 89.999) | (w < -180.0) | (neg_e > 180.0)
    np.negative(neg_e, out=neg_e)
    np.negative(neg_n, out=neg_n)
    return out, np.asarray(wild)
