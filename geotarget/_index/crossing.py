"""Private: point-in-polygon by counting crossings inside grid cells, for dense boundaries.

GEOS tests a point by casting a ray along its parallel (or, transposed, its meridian:
:func:`geotarget._index.polygons.point_shape`) and meeting every edge that spans the point's
latitude. A polygon whose edges span it many times over *in both directions* (a star of a
thousand long, thin spikes: about 600 edges on any parallel or meridian near its centre) costs
microseconds a point either way, seconds for the hundred thousand devices of a city. A
:class:`CrossingGrid` costs, per point, only the edges near it:

* the polygon's bounds are cut into cells, and every edge is listed in each cell it may pass
  through (the pieces and widening of :func:`geotarget._index.segments.piece_cells`: a cell
  meeting an edge, its border included, lists it);
* the state of every cell's centre (inside, outside, unusable) comes from a walk along its row:
  from a point west of the polygon's bounds (outside) to the first cell's centre, and on from
  centre to centre, each step flipping the state once per edge it crosses. A step runs through
  two cells (to the border between them, then on), and only the edges listed in those cells can
  cross it;
* a point takes its cell's centre state, flipped once per edge of its cell that the segment
  from the centre to the point crosses.

Every crossing is decided by the signs of orientation determinants, each computed in float64
and trusted only beyond Shewchuk's error bound (:func:`_orient`); a crossing that is not
decided that way (the point, a centre or a step's border point on or within rounding of an
edge or its line) decides nothing. A step the walk cannot decide makes its cell's centre ask
GEOS instead (a centre on the boundary cannot serve and its points go to GEOS), and a point
whose own segment is undecided, or whose cell lists more than :data:`MOST_PER_CELL` edges
(the spikes' common centre), is left to GEOS, which answers it exactly. So the answer is GEOS's,
boundary included, while its cost is the point's own cell, not the whole parallel. Where many
points are left, a finer grid over them (:meth:`CrossingGrid.refined`: its walks start from
the coarser grid's answers on its western side) decides them first, when building it costs
less than GEOS would (:func:`intersects_xy`).

The grid's cells number about :data:`CELLS_PER_EDGE` per edge, at most :data:`MAX_CELLS`, and
coarsen until at most :data:`MAX_PIECES` pieces are cut, so its tables are bounded by the
polygon's edges (:func:`estimated_bytes`); a finer grid lists only the edges' stretches in its
window, within the same bounds, and lives for one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget import _geos
from geotarget._index.segments import cell_index, clip_to_boxes, piece_cells
from geotarget._validate import BoolArray, FloatArray

IntArray = npt.NDArray[np.intp]
I8Array = npt.NDArray[np.int8]
Edges = tuple[FloatArray, FloatArray, FloatArray, FloatArray]

#: Cells of a grid per edge of the polygon.
CELLS_PER_EDGE = 4
#: Most cells in one grid.
MAX_CELLS = 1 << 18
#: A point whose cell lists more edges than this is left to GEOS (numpy's cost per listed edge
#: is about what GEOS's ray pays for a few dozen edges).
MOST_PER_CELL = 128
#: Most ring pieces cut for one grid (it coarsens to stay under it).
MAX_PIECES = 1 << 17
#: (point, listed edge) pairs tested at once: temporaries of a few megabytes.
PAIR_CHUNK = 1 << 16

#: Shewchuk's bound on the error of a float64 orientation determinant, relative to the sum of
#: its two products' magnitudes (``(3 + 16 eps) eps``, ``eps = 2**-53``), rounded well up.
_ERR = 4.0 * 2.0**-53
#: An absolute floor for the bound: products that underflow lose their relative precision.
_TINY = 1e-290


def _orient(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, cx: Any, cy: Any
) -> I8Array:
    """Per triple, the side of ``c`` from the line ``a → b``: 1 left, -1 right, 0 undecided.

    The sign of ``(a - c) × (b - c)``, trusted only where it exceeds the error bound of its
    float64 evaluation (zero, collinear, is undecided too).
    """
    left = np.subtract(ax, cx)
    left *= np.subtract(by, cy)
    right = np.subtract(ay, cy)
    right *= np.subtract(bx, cx)
    det = left - right
    np.abs(left, out=left)
    np.abs(right, out=right)
    left += right
    left *= _ERR
    left += _TINY
    out: I8Array = (det > left).view(np.int8) - (det < -left).view(np.int8)
    return out


def crossings(
    sx: Any,
    sy: Any,
    tx: Any,
    ty: Any,
    ax: FloatArray,
    ay: FloatArray,
    bx: FloatArray,
    by: FloatArray,
    sides: I8Array | None = None,
) -> tuple[BoolArray, BoolArray]:
    """Per pair, whether segment ``s → t`` properly crosses edge ``a → b``, and whether undecided.

    A proper crossing: ``s`` and ``t`` strictly on opposite sides of the edge's line and ``a``
    and ``b`` strictly on opposite sides of the segment's. None: the boxes are apart, or
    either pair lies strictly on one side. Anything else (a touch, an end on the other's line,
    collinear overlap, or a sign within rounding) is undecided. ``sides``: the product of
    ``s``'s and ``t``'s :func:`_orient` from the edge, when known.
    """
    apart = np.maximum(ax, bx) < np.minimum(sx, tx)
    apart |= np.minimum(ax, bx) > np.maximum(sx, tx)
    apart |= np.maximum(ay, by) < np.minimum(sy, ty)
    apart |= np.minimum(ay, by) > np.maximum(sy, ty)
    if sides is None:
        sides = _orient(ax, ay, bx, by, sx, sy)
        sides *= _orient(ax, ay, bx, by, tx, ty)
    o2 = _orient(sx, sy, tx, ty, ax, ay)
    o2 *= _orient(sx, sy, tx, ty, bx, by)
    cross = (sides < 0) & (o2 < 0)
    apart |= sides > 0
    apart |= o2 > 0
    cross &= ~apart
    undecided = ~apart
    undecided &= ~cross
    return cross, undecided


def layout(edges: Edges, bounds: tuple[float, float, float, float]) -> tuple[int, int, int]:
    """``(nx, ny, pieces)``: the grid's shape and about how many pieces its edges are cut into."""
    ax, ay, bx, by = edges
    west, south, east, north = bounds
    span_x = max(east - west, 1e-12)
    span_y = max(north - south, 1e-12)
    shrink = max(math.cos(math.radians(max(abs(south), abs(north)))), 1e-3)
    cells = max(1, min(CELLS_PER_EDGE * ax.size, MAX_CELLS))
    nx = max(1, min(cells, round(math.sqrt(cells * span_x * shrink / span_y))))
    ny = max(1, min(cells, cells // nx))
    sx, sy = float(np.abs(bx - ax).sum()), float(np.abs(by - ay).sum())

    extent = nx * sx / span_x + ny * sy / span_y  # pieces beyond one an edge
    if ax.size + extent > MAX_PIECES:  # coarsen: the extent shrinks with the cells' side
        scale = max(MAX_PIECES - ax.size, 0) / extent
        nx, ny = max(1, int(nx * scale)), max(1, int(ny * scale))
    return nx, ny, int(ax.size + nx * sx / span_x + ny * sy / span_y)


def estimated_bytes(edges: Edges, bounds: tuple[float, float, float, float]) -> int:
    """An upper estimate of what a :class:`CrossingGrid` of these edges holds.

    Per cell its first entry (int32) and state (int8); per listed (cell, edge) entry, at most
    four a piece, the edge (int32) and its centre's side (int8).
    """
    nx, ny, pieces = layout(edges, bounds)
    return 1024 + 5 * (nx * ny + 1) + 20 * pieces


class CrossingGrid:
    """Cells over a polygon's bounds listing its edges, with every cell centre's state.

    Parameters
    ----------
    edges : tuple of arrays
        The polygon's ring edges ``(ax, ay, bx, by)`` in lon/lat
        (:func:`geotarget._index.frames.ring_edges`).
    bounds : tuple of float
        The polygon's ``(west, south, east, north)``.
    shape : shapely Polygon
        The (prepared) polygon, asked only about the centres the walk cannot decide.
    row_start : callable, optional
        For a grid over a window of the polygon's bounds (:meth:`refined`): the states (1
        inside or on the boundary, 0 outside) of points on the window's western side, where
        each row's walk starts. Without, the walk starts west of the polygon: outside.
    listed : tuple of arrays, optional
        Per edge, the part of it to list in the cells it passes through (its stretch inside a
        window, with a margin: the crossings are still decided against the whole edge).
    """

    __slots__ = (
        "_edge",
        "_edges",
        "_side",
        "_starts",
        "_state",
        "bounds",
        "ch",
        "cw",
        "nx",
        "ny",
    )

    def __init__(
        self,
        edges: Edges,
        bounds: tuple[float, float, float, float],
        shape: Any,
        row_start: Callable[[FloatArray, FloatArray], BoolArray] | None = None,
        listed: Edges | None = None,
    ) -> None:
        self._edges = edges
        self.bounds = bounds
        listed = edges if listed is None else listed
        nx, ny, _ = layout(listed, bounds)
        west, south, east, north = bounds
        self.nx, self.ny = nx, ny
        self.cw = max(east - west, 1e-12) / nx * (1.0 + 1e-9)
        self.ch = max(north - south, 1e-12) / ny * (1.0 + 1e-9)
        m = edges[0].size
        corners, edge = piece_cells(*listed, west, south, self.cw, self.ch, nx, ny)
        key = np.concatenate(corners)
        key *= max(m, 1)
        key += np.tile(np.arange(m) if edge is None else edge, 4)
        key = np.unique(key)
        cell = key // max(m, 1)
        self._edge = (key - cell * max(m, 1)).astype(np.int32)
        starts = np.zeros(nx * ny + 1, dtype=np.int32)
        np.cumsum(np.bincount(cell, minlength=nx * ny), out=starts[1:])
        self._starts = starts
        self._side = np.empty(0, dtype=np.int8)
        self._state = self._walk(cell, shape, row_start)

    @property
    def nbytes(self) -> int:
        """Memory held by the grid's own tables."""
        tables = (self._edge, self._side, self._starts, self._state)
        return sum(int(t.nbytes) for t in tables)

    def _walk(
        self,
        cell: IntArray,
        shape: Any,
        row_start: Callable[[FloatArray, FloatArray], BoolArray] | None,
    ) -> I8Array:
        """Every cell centre's state, flat: 1 inside, 0 outside, -1 on the boundary.

        A row's walk starts at its western border's middle, whose state ``row_start`` gives (a
        point on the boundary there leaves the first step undecided: one of the edges listed
        in the first cell passes through it), or west of the polygon, outside.
        """
        nx, ny = self.nx, self.ny
        west, south = self.bounds[0], self.bounds[1]
        ix = cell % nx
        cy = south + (cell // nx + 0.5) * self.ch
        border = west + ix * self.cw  # the cell's west border, its centre, its east border
        centre = west + (ix + 0.5) * self.cw
        east = west + (ix + 1) * self.cw
        ax, ay, bx, by = (v[self._edge] for v in self._edges)
        # Per entry, the side of its cell's centre from the edge's line: a point's segment
        # from the centre needs only its own side (decide).
        self._side = _orient(ax, ay, bx, by, centre, cy)
        into, into_u = crossings(border, cy, centre, cy, ax, ay, bx, by)
        out, out_u = crossings(centre, cy, east, cy, ax, ay, bx, by)
        n = nx * ny
        first = np.zeros(n, dtype=np.bool_)
        first[::nx] = True
        flips = np.bincount(cell, weights=into, minlength=n)
        unsure = np.bincount(cell, weights=into_u, minlength=n) > 0
        # A step into cell i crosses cell i - 1's east half too (none west of a row's first).
        after = np.bincount(cell, weights=out, minlength=n)
        after_u = np.bincount(cell, weights=out_u, minlength=n) > 0
        after[nx - 1 :: nx], after_u[nx - 1 :: nx] = 0.0, False  # (a row's last: no next)
        flips[1:] += after[:-1]
        unsure[1:] |= after_u[:-1]
        # Anchors: each row's first cell (from its start) and every cell whose step is
        # undecided (GEOS decides its centre); the others flip from the last anchor.
        anchor = first | unsure
        base = np.zeros(n, dtype=np.int8)
        if row_start is not None:
            rows = np.arange(ny, dtype=np.float64)
            base[first] = row_start(np.full(ny, west), south + (rows + 0.5) * self.ch)
        ask = np.flatnonzero(unsure)
        if ask.size:
            gx = west + (ask % nx + 0.5) * self.cw
            gy = south + (ask // nx + 0.5) * self.ch
            touches = np.asarray(_geos.intersects_xy(shape, gx, gy), dtype=np.bool_)
            inside = np.asarray(_geos.contains_xy(shape, gx, gy), dtype=np.bool_)
            base[ask] = np.where(touches & ~inside, -1, inside.view(np.int8))
        parity = np.cumsum(flips.astype(np.int64))
        last = np.maximum.accumulate(np.where(anchor, np.arange(n), 0))
        # From outside into a row's first cell: its own step's flips count.
        start = np.where(unsure[last], parity[last], parity[last] - flips[last].astype(np.int64))
        state = ((parity - start) & 1).astype(np.int8)
        state ^= base[last]
        state[base[last] < 0] = -1
        return state

    def decide(self, x: FloatArray, y: FloatArray) -> I8Array:
        """Per point: 1 inside the polygon or on its boundary, 0 outside, -1 left to GEOS."""
        out = np.zeros(x.size, dtype=np.int8)
        west, south, east, north = self.bounds
        idx = np.flatnonzero((x >= west) & (x <= east) & (y >= south) & (y <= north))
        if idx.size == 0:
            return out
        px, py = x[idx], y[idx]
        ix = cell_index(px, west, self.cw, self.nx)
        iy = cell_index(py, south, self.ch, self.ny)
        cell = iy * self.nx + ix
        state = self._state[cell]
        lo = self._starts[cell]
        count = self._starts[cell + 1] - lo
        bad = (state < 0) | (count > MOST_PER_CELL)
        out[idx[bad]] = -1
        plain = ~bad & (count == 0)
        out[idx[plain]] = state[plain]
        test = np.flatnonzero(~bad & (count > 0))
        if test.size == 0:
            return out
        # (point, listed edge) pairs, a chunk of points at a time; only the pairs whose point
        # is not strictly on its centre's side of the edge's line are looked at further.
        cx = west + (ix[test] + 0.5) * self.cw
        cy = south + (iy[test] + 0.5) * self.ch
        tx, ty = px[test], py[test]
        n, first = count[test], lo[test]
        ends = np.cumsum(n)
        ax_all, ay_all, bx_all, by_all = self._edges
        flips = np.zeros(test.size, dtype=np.int64)
        unsure = np.zeros(test.size, dtype=np.bool_)
        a = 0
        while a < test.size:
            done = int(ends[a - 1]) if a else 0
            b = max(a + 1, int(np.searchsorted(ends, done + PAIR_CHUNK, side="right")))
            k = n[a:b]
            q = np.repeat(np.arange(a, b), k)
            entry = np.arange(q.size) - np.repeat(np.cumsum(k) - k, k) + first[q]
            e = self._edge[entry]
            ax, ay, bx, by = ax_all[e], ay_all[e], bx_all[e], by_all[e]
            sides = _orient(ax, ay, bx, by, tx[q], ty[q])
            sides *= self._side[entry]
            near = np.flatnonzero(sides <= 0)
            q = q[near]
            cross, undecided = crossings(
                cx[q], cy[q], tx[q], ty[q], ax[near], ay[near], bx[near], by[near], sides[near]
            )
            flips[a:b] = np.bincount(q - a, weights=cross, minlength=b - a).astype(np.int64)
            unsure[a:b] = np.bincount(q - a, weights=undecided, minlength=b - a) > 0
            a = b
        got = (state[test] ^ (flips & 1)).astype(np.int8)
        got[unsure] = -1
        out[idx[test]] = got
        return out

    def refined(
        self,
        x: FloatArray,
        y: FloatArray,
        shape: Any,
        exact: Callable[[Any, Any], Any],
        rays: float,
    ) -> CrossingGrid | None:
        """A finer grid over the points' bounding box (points this grid left undecided).

        Built from the edges whose box meets that window, its rows' walks starting from this
        grid's states on the window's western side (``exact`` where this grid leaves them).
        None when the window is a point or the finer grid would cost more than GEOS: more
        than :data:`REFINE_COST` edges met by GEOS's rays (``rays`` a point) for each of its
        pieces (a grid built for one call, unlike the polygon's own).
        """
        window = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
        if window[0] == window[2] or window[1] == window[3]:
            return None
        ax, ay, bx, by = self._edges
        west, south, east, north = window
        near = np.flatnonzero(
            (np.maximum(ax, bx) >= west)
            & (np.minimum(ax, bx) <= east)
            & (np.maximum(ay, by) >= south)
            & (np.minimum(ay, by) <= north)
        )
        edges = (ax[near], ay[near], bx[near], by[near])
        # Each edge's stretch in the window (a little more: the clipping's rounding, which could
        # lose an edge touching the window's side at a row's start), to list.
        n = near.size
        lo, hi = clip_to_boxes(*edges, *(np.full(n, v) for v in window))
        keep = np.flatnonzero(lo <= hi + 2.0 * _CLIP_T)
        edges = tuple(v[keep] for v in edges)  # type: ignore[assignment]
        lo, hi = np.maximum(lo[keep] - _CLIP_T, 0.0), np.minimum(hi[keep] + _CLIP_T, 1.0)
        dx, dy = edges[2] - edges[0], edges[3] - edges[1]
        listed = (edges[0] + lo * dx, edges[1] + lo * dy, edges[0] + hi * dx, edges[1] + hi * dy)
        if x.size * rays < REFINE_COST * layout(listed, window)[2]:
            return None

        def start(px: FloatArray, py: FloatArray) -> BoolArray:
            return intersects_xy(self, px, py, shape, exact, 0.0)

        return CrossingGrid(edges, window, shape, start, listed)


#: Edges met by GEOS's rays per piece of a finer grid for :meth:`CrossingGrid.refined` to
#: build it: building costs about what GEOS's ray pays for a hundred edges, a piece.
REFINE_COST = 64
#: Margin, in each edge's parameter, of its stretch inside a refined grid's window.
_CLIP_T = 1e-9
#: Grids :func:`intersects_xy` refines, at most, one within the other.
MAX_DEPTH = 3


def intersects_xy(
    grid: CrossingGrid,
    x: FloatArray,
    y: FloatArray,
    shape: Any,
    exact: Callable[[Any, Any], Any],
    rays: float,
    depth: int = 0,
) -> BoolArray:
    """``intersects_xy`` of the grid's polygon (``shape``) and points.

    The grid first; the points it leaves in a finer grid over them (:meth:`CrossingGrid.
    refined`, up to :data:`MAX_DEPTH` deep, where the spikes of a star meet), then ``exact``
    (GEOS) for the rest.
    """
    state = grid.decide(x, y)
    inside: BoolArray = state == 1
    rest = np.flatnonzero(state < 0)
    if rest.size:
        sub = None if depth >= MAX_DEPTH else grid.refined(x[rest], y[rest], shape, exact, rays)
        if sub is None:
            inside[rest] = np.asarray(exact(x[rest], y[rest]), dtype=np.bool_)
        else:
            inside[rest] = intersects_xy(sub, x[rest], y[rest], shape, exact, rays, depth + 1)
    return inside
