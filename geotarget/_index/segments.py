"""Private: the distance from many points to a polygon's boundary, in its metric frame.

The exact polygon ranks of :mod:`geotarget._index.classify` ask, per device, whether its point
(projected into the polygon's azimuthal-equidistant frame) is within some distance ``D`` of the
polygon's boundary there. GEOS answers that one point at a time; :class:`SegmentGrid` answers it
for all points at once with numpy:

* the boundary's segments (every ring's, in metres) are bucketed in square cells: a segment is
  listed in every cell its bounding box meets (``floor((v - v0) / size)``, clipped to the grid,
  which is monotone in ``v`` in floating point too);
* a point ``p`` with reach ``D`` looks at the cells of the box ``p ± (D + pad)``. If a boundary
  point ``q`` is within ``D`` of ``p``, ``q`` lies in that box and on some segment, whose
  bounding box holds ``q``, so by monotonicity the segment is listed in a cell of ``p``'s box.
  The smallest distance to the segments found is therefore the true distance whenever that
  is at most ``D``, and larger than ``D`` (or infinite) otherwise;
* the point-to-segment distance is computed in float64 with an absolute error far below
  :data:`BAND_M` for frames up to thousands of kilometres across, so the answer is trusted
  only outside ``D ± BAND_M``; points inside that band are left undecided for the caller's
  GEOS test;
* a point whose box would span more than :data:`MAX_SPAN` cells in an axis (a disk wide beside
  the cells) is measured against every segment when such points are few (at most
  :data:`WIDE_PAIRS` point-segment pairs in all, :func:`nearest`), else left undecided too.

The cost is bounded by the input: the grid has at most :data:`MAX_CELLS` cells (and at most
:data:`CELLS_PER_SEGMENT` per segment), each segment is listed in at most four cells (a cell
is never smaller than the longest segment's extent), a point looks at most ``MAX_SPAN²``
cells, and the wide points at most :data:`WIDE_PAIRS` pairs. The (point, listed segment) pairs
grow with the points and with how many segments their cells list, which a dense boundary makes
many (a 20,000-vertex jagged ring: about 5 million); they are measured :data:`PAIR_CHUNK` at a
time, so memory stays bounded by the points, the segments and one chunk. Where they would
number more than :data:`PAIRS_PER_ITEM` per point or box (and :data:`PAIRS_FLOOR` in all),
the boundary is denser than any cell can separate (a comb of 50,000 teeth in 100 metres:
every cell lists them all), and those items are left undecided instead (a distance of NaN, a
box that may meet): the caller's GEOS test, whose indexed distance costs microseconds a point
whatever the boundary's density, decides them. The time then grows with the points and the
segments, not with their product.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget._validate import BoolArray, FloatArray

IntArray = npt.NDArray[np.intp]
I8Array = npt.NDArray[np.int8]


def _ufunc_clip() -> Any:
    """The ufunc that ``numpy.clip`` wraps, or ``numpy.clip`` where it is not found."""
    for name in ("numpy._core.umath", "numpy.core.umath"):  # numpy 2, numpy 1
        try:
            return importlib.import_module(name).clip
        except (ImportError, AttributeError):
            continue
    return np.clip  # pragma: no cover


#: ``numpy.clip`` without its Python wrapper: the same result, about 8 µs a call less, which is
#: most of what clipping a first query's few thousand values costs.
clip: Any = _ufunc_clip()

#: Half-width, metres, of the band around the reach in which the numpy distance is not trusted.
BAND_M = 1e-5
#: Most cells in one grid.
MAX_CELLS = 1 << 20
#: Most cells per segment of the boundary (the grid coarsens to stay under it).
CELLS_PER_SEGMENT = 16
#: Most cells a point's box may span in either axis (wider ones are left undecided).
MAX_SPAN = 6
#: Absolute padding of a box in :meth:`SegmentGrid.meets_boxes` (its units: degrees there).
_BOX_PAD = 1e-12
#: Absolute padding, metres, of a point's box (covers the rounding of ``p ± D``).
_PAD_M = 1e-6
#: Point-segment pairs, at most, that :meth:`SegmentGrid.distance` measures for the points
#: whose box is too wide for the cells (each against every segment). Undecided, such a point
#: sends the caller to GEOS and the polygon's whole metric frame (~1 ms for a municipality):
#: 65,536 pairs cost about half that.
WIDE_PAIRS = 1 << 16
#: Point-segment pairs :func:`nearest` measures at once: its temporaries stay under 128 KiB,
#: the size from which the C allocator maps fresh pages for each one.
CHUNK_PAIRS = 15_000
#: (item, listed segment) pairs :meth:`SegmentGrid.distance` and
#: :meth:`SegmentGrid.meets_boxes` measure at once: their temporaries stay within some 20 MB.
#: A municipality's classification has tens of thousands (one chunk).
PAIR_CHUNK = 1 << 18
#: (item, listed segment) pairs per item beyond which :meth:`SegmentGrid.distance` and
#: :meth:`SegmentGrid.meets_boxes` leave their items undecided: a thousand pairs cost about
#: what GEOS's indexed distance test costs one point (~10 µs). The jagged ring's dense
#: boundary lists about 45 per device.
PAIRS_PER_ITEM = 1024
#: Pairs measured however few the items (a few tens of milliseconds).
PAIRS_FLOOR = 1 << 20


def cell_index(v: FloatArray, v0: float, size: float, n: int) -> IntArray:
    """Cell index of each coordinate, clipped to ``[0, n - 1]`` (monotone in ``v``).

    The one cell formula of the segment grid and of the boundary grid
    (:mod:`geotarget._index.boundary`).
    """
    out = np.subtract(v, v0)
    out /= size
    return floor_clipped(out, n)


def floor_clipped(v: FloatArray, n: int) -> IntArray:
    """``floor(v)`` clipped to ``[0, n - 1]``, as integers (``v`` is overwritten).

    Clipped first, then cast: the cast truncates toward zero, which is ``floor`` on the
    clipped (non-negative) values, and clipping commutes with ``floor`` at the integer bounds
    — one pass fewer than flooring first, and ``clip`` is a single pass where ``maximum`` then
    ``minimum`` are two (a third of the time on a rim's 20,000 devices).
    """
    clip(v, 0.0, n - 1, out=v)
    return v.astype(np.intp)


#: Widening, in cells, of the pieces :func:`piece_cells` cuts: far beyond the rounding of the cut.
PIECE_EPS = 1e-4
#: The longest piece :func:`piece_cells` cuts, in cells: short enough that a piece's box,
#: widened by ``PIECE_EPS`` cell each side, spans at most two cells in each axis.
PIECE = 1.0 - 4 * PIECE_EPS


def piece_cells(
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
) -> tuple[tuple[IntArray, IntArray, IntArray, IntArray], IntArray | None]:
    """The (flat) cells of an ``ny × nx`` grid that each piece of the edges may pass through.

    In cell units (``(x - x0) / cw``, as :func:`~geotarget._index.segments.cell_index`
    computes it), each edge is cut into ``max(ceil(max(|dx|, |dy|) / PIECE), 1)`` pieces, so
    the pieces number at most the edges plus the edges' total extent in cells. A boundary
    point's cell coordinates lie on its edge's, up to rounding relative to at most ``2**18``
    cells (below 1e-9 cell), so within ``PIECE_EPS`` cell of one of its pieces; a piece's box
    so widened spans at most two cells per axis: its four corner cells (some may be equal) are
    every cell it meets. Returns the four corners' cells, each an array over the pieces, and
    the edge each piece was cut from (None: no edge was cut, piece ``i`` is edge ``i``).
    """
    fax, fbx = np.subtract(ax, x0), np.subtract(bx, x0)
    fax /= cw
    fbx /= cw
    fay, fby = np.subtract(ay, y0), np.subtract(by, y0)
    fay /= ch
    fby /= ch
    dx, dy = fbx - fax, fby - fay
    k = np.maximum(np.abs(dx), np.abs(dy))
    k /= PIECE
    np.ceil(k, out=k)
    edge = None
    if k.max(initial=0.0) > 1.0:
        np.maximum(k, 1.0, out=k)
        count = k.astype(np.intp)
        edge = np.repeat(np.arange(count.size), count)
        kk = k[edge]
        t0 = np.arange(edge.size, dtype=np.float64)
        t0 -= (np.cumsum(k) - k)[edge]  # the piece's place along its edge
        t0 /= kk
        step = 1.0 / kk
        fax, fay, dx, dy = fax[edge], fay[edge], dx[edge], dy[edge]
        fbx, fby = fax + dx * (t0 + step), fay + dy * (t0 + step)
        fax += dx * t0
        fay += dy * t0
    lo_x, hi_x = np.minimum(fax, fbx), np.maximum(fax, fbx)
    lo_y, hi_y = np.minimum(fay, fby), np.maximum(fay, fby)
    lo_x -= PIECE_EPS
    hi_x += PIECE_EPS
    lo_y -= PIECE_EPS
    hi_y += PIECE_EPS
    ix0, ix1 = floor_clipped(lo_x, nx), floor_clipped(hi_x, nx)
    iy0, iy1 = floor_clipped(lo_y, ny), floor_clipped(hi_y, ny)
    iy0 *= nx
    iy1 *= nx
    return (iy0 + ix0, iy0 + ix1, iy1 + ix0, iy1 + ix1), edge


def clip_to_boxes(
    ax: FloatArray,
    ay: FloatArray,
    bx: FloatArray,
    by: FloatArray,
    west: FloatArray,
    south: FloatArray,
    east: FloatArray,
    north: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Per pair, the parameters ``lo <= t <= hi`` of ``a + t (b - a)`` in the box, or lo > hi.

    (Liang–Barsky, on ``t`` in ``[0, 1]``; an edge parallel to an axis is limited by the
    other only, if it lies within the box's range of this one. The rounding of ``t``, a few
    parts in 1e16 of the edge, is the caller's to cover.)
    """
    lo, hi = np.zeros(ax.size), np.ones(ax.size)
    for a, b, w, e in ((ax, bx, west, east), (ay, by, south, north)):
        d = b - a
        flat = d == 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            t0, t1 = (w - a) / d, (e - a) / d
        t0, t1 = np.minimum(t0, t1), np.maximum(t0, t1)
        t0[flat] = np.where((a[flat] >= w[flat]) & (a[flat] <= e[flat]), 0.0, 2.0)
        t1[flat] = np.where((a[flat] >= w[flat]) & (a[flat] <= e[flat]), 1.0, -1.0)
        np.maximum(lo, t0, out=lo)
        np.minimum(hi, t1, out=hi)
    return lo, hi


def typical(values: FloatArray) -> float:
    """About the median of ``values``: that of at most 129 evenly spaced ones (1.0 if none).

    Sizes a :class:`SegmentGrid`'s cells, where any value near the median serves: a fixed
    small sample's middle element costs microseconds where ``numpy.median`` of thousands of
    values cost a tenth of a millisecond per new polygon alert.
    """
    if values.size == 0:
        return 1.0
    sample = values[:: -(-values.size // 129)].copy()
    middle = sample.size // 2
    sample.partition(middle)
    return float(sample[middle])


def segment_rows(ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray) -> FloatArray:
    """The segments as the distance kernels read them: rows ``ax, ay, ex, ey, 1 / len2``.

    ``(ex, ey)`` is ``b - a``; ``1 / len2`` is 0 for a zero-length segment (its start).
    """
    ex, ey = bx - ax, by - ay
    len2 = ex * ex + ey * ey
    with np.errstate(divide="ignore"):
        inv = np.where(len2 > 0.0, 1.0 / len2, 0.0)
    return np.stack([ax, ay, ex, ey, inv])


def nearest(rows: FloatArray, px: FloatArray, py: FloatArray) -> FloatArray:
    """Per point, its distance to the nearest segment, every (point, segment) pair measured.

    ``rows``: :func:`segment_rows`. The formula (and rounding) of :meth:`SegmentGrid.distance`,
    in chunks of at most :data:`CHUNK_PAIRS` pairs; ``inf`` when there is no segment.
    """
    out = np.full(px.size, np.inf)
    m = rows.shape[1]
    if m == 0 or px.size == 0:
        return out
    ax, ay, ex, ey, inv = rows
    step = max(1, CHUNK_PAIRS // m)
    for lo in range(0, px.size, step):
        dx = px[lo : lo + step, None] - ax
        dy = py[lo : lo + step, None] - ay
        t = dx * ex
        t += dy * ey
        t *= inv
        clip(t, 0.0, 1.0, out=t)
        dx -= ex * t
        dy -= ey * t
        dx *= dx
        dy *= dy
        dx += dy
        out[lo : lo + step] = np.sqrt(dx.min(axis=1))
    return out


def pair_squares(
    rows: FloatArray, px: FloatArray, py: FloatArray, q: IntArray, j: IntArray
) -> FloatArray:
    """Per pair ``k``, the squared distance from point ``q[k]`` to segment ``j[k]`` of ``rows``.

    ``rows``: :func:`segment_rows`. The one kernel of every pairwise measure (the formula and
    rounding of :func:`nearest`): the point projected onto the segment's line, clipped to it.
    """
    ax, ay, ex_all, ey_all, inv = rows
    ex, ey = ex_all[j], ey_all[j]
    dx = px[q] - ax[j]
    dy = py[q] - ay[j]
    t = dx * ex
    t += dy * ey
    t *= inv[j]
    clip(t, 0.0, 1.0, out=t)
    ex *= t
    ey *= t
    dx -= ex
    dy -= ey
    dx *= dx
    dy *= dy
    dx += dy
    out: FloatArray = dx
    return out


class SegmentGrid:
    """Segments ``(ax, ay) → (bx, by)`` in metres, bucketed in square cells of about ``cell_m``.

    Parameters
    ----------
    ax, ay, bx, by : numpy.ndarray of float64
        The segments' ends (a polygon's ring edges in its metric frame).
    cell_m : float
        The wanted cell size; enlarged to the longest segment's extent and to keep the grid
        within :data:`MAX_CELLS` cells.
    """

    __slots__ = (
        "_by_cell",
        "_rows",
        "_seg",
        "_starts",
        "nx",
        "ny",
        "size",
        "x0",
        "y0",
    )

    def __init__(
        self, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, cell_m: float
    ) -> None:
        ex, ey = bx - ax, by - ay
        if ax.size == 0:
            x0 = y0 = 0.0
            span_x = span_y = 1.0
            longest = 0.0
        else:
            x0 = float(min(ax.min(), bx.min()))
            y0 = float(min(ay.min(), by.min()))
            span_x = float(max(ax.max(), bx.max())) - x0
            span_y = float(max(ay.max(), by.max())) - y0
            longest = float(max(np.abs(ex).max(), np.abs(ey).max()))
        size = max(float(cell_m), longest, 1e-3)
        cap = min(MAX_CELLS, CELLS_PER_SEGMENT * ax.size + 1024)
        size = max(size, math.sqrt(max(span_x, 1e-3) * max(span_y, 1e-3) / cap))
        while (span_x / size + 1.0) * (span_y / size + 1.0) > cap:
            size *= 1.5
        self.size = size * (1.0 + 1e-9)
        self.x0, self.y0 = x0, y0
        self.nx = int(span_x / self.size) + 1
        self.ny = int(span_y / self.size) + 1
        ix0 = cell_index(np.minimum(ax, bx), x0, self.size, self.nx)
        ix1 = cell_index(np.maximum(ax, bx), x0, self.size, self.nx)
        iy0 = cell_index(np.minimum(ay, by), y0, self.size, self.ny)
        iy1 = cell_index(np.maximum(ay, by), y0, self.size, self.ny)
        # Each segment spans at most two cells per axis (the cell is at least its extent).
        seg_parts: list[IntArray] = []
        cell_parts: list[IntArray] = []
        ids = np.arange(ax.size)
        for ox in (0, 1):
            for oy in (0, 1):
                keep = (ix0 + ox <= ix1) & (iy0 + oy <= iy1)
                seg_parts.append(ids[keep])
                cell_parts.append((iy0[keep] + oy) * self.nx + ix0[keep] + ox)
        seg = np.concatenate(seg_parts)
        cell = np.concatenate(cell_parts)
        # Sorted by (cell, segment) as one integer key: a sort of keys costs a fifth of an
        # argsort of the cells (the entries' order within a cell does not matter).
        key = cell * max(ax.size, 1) + seg
        key.sort()
        self._seg = (key % max(ax.size, 1)).astype(np.int32)
        # The segments as the kernels read them (segment_rows), and the same per listed
        # (cell, segment) entry in cell order: a point's or a box's candidates are runs of
        # consecutive entries.
        self._rows = segment_rows(ax, ay, bx, by)
        self._by_cell = self._rows.take(self._seg, axis=1)
        # Cell c lists self._seg[starts[c]:starts[c + 1]].
        starts = np.zeros(self.nx * self.ny + 1, dtype=np.intp)
        np.cumsum(np.bincount(cell, minlength=self.nx * self.ny), out=starts[1:])
        self._starts = starts

    @property
    def nbytes(self) -> int:
        """Memory held by the grid's tables (the segments' arrays included)."""
        tables = (self._seg, self._starts, self._by_cell, self._rows)
        return sum(int(t.nbytes) for t in tables)

    def _listed(
        self, ix0: IntArray, iy0: IntArray, wx: IntArray, wy: IntArray, take: BoolArray
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Each taken item's (item, cell) entries: the item, the cell's first entry, its count.

        Item ``i`` spans ``wx[i] × wy[i]`` cells from ``(ix0[i], iy0[i])`` (at most
        ``MAX_SPAN**2`` entries each).
        """
        k_per = wx * wy
        k_per[~take] = 0
        p = np.repeat(np.arange(k_per.size), k_per)
        k = np.arange(p.size) - np.repeat(np.cumsum(k_per) - k_per, k_per)
        w = wx[p]
        cell = (iy0 * self.nx + ix0)[p] + (k // w) * self.nx + k % w
        s0 = self._starts[cell]
        return p, s0, self._starts[cell + 1] - s0

    @staticmethod
    def _too_many(listed: tuple[IntArray, IntArray, IntArray], take: BoolArray) -> bool:
        """Whether :meth:`_listed`'s entries make too many pairs: a boundary denser than the cells.

        More than :data:`PAIRS_PER_ITEM` per taken item, and :data:`PAIRS_FLOOR` in all.
        """
        items = int(np.count_nonzero(take))
        return int(listed[2].sum()) > PAIRS_FLOOR + PAIRS_PER_ITEM * items

    def _pairs(
        self,
        ix0: IntArray,
        iy0: IntArray,
        wx: IntArray,
        wy: IntArray,
        take: BoolArray,
        listed: tuple[IntArray, IntArray, IntArray] | None = None,
    ) -> Iterator[tuple[IntArray, IntArray]]:
        """(item, entry) pairs: each taken item's box of cells and the segments they list.

        Item ``i`` spans ``wx[i] × wy[i]`` cells from ``(ix0[i], iy0[i])``; ``entry`` indexes
        the cell-ordered tables (``_by_cell``, ``_seg``). In chunks of at most
        :data:`PAIR_CHUNK` pairs, items ascending within and across chunks; an item's pairs
        may continue in the next chunk. ``listed``: :meth:`_listed` of the same, when known.
        """
        if listed is None:
            listed = self._listed(ix0, iy0, wx, wy, take)
        p, s0, cnt = listed
        ends = np.cumsum(cnt)
        total = int(ends[-1]) if ends.size else 0
        for a in range(0, total, PAIR_CHUNK):
            b = min(a + PAIR_CHUNK, total)
            # The (item, cell) entries holding pairs a .. b - 1, and their pairs in that range.
            lo = int(np.searchsorted(ends, a, side="right"))
            hi = int(np.searchsorted(ends, b, side="left")) + 1
            first = ends[lo:hi] - cnt[lo:hi]  # each entry's first pair
            c0 = np.maximum(a - first, 0)
            n = np.minimum(b - first, cnt[lo:hi]) - c0
            q = np.repeat(p[lo:hi], n)
            yield q, np.arange(q.size) - np.repeat(np.cumsum(n) - n - s0[lo:hi] - c0, n)

    def distance(self, px: FloatArray, py: FloatArray, reach: FloatArray) -> FloatArray:
        """Per point, its distance to the nearest segment when that is at most its ``reach``.

        Larger than ``reach`` (``inf`` when its cells list no segment) when the nearest one is
        farther. A point whose box spans more than :data:`MAX_SPAN` cells gets its exact
        distance from every segment (:func:`nearest`) when such points need at most
        :data:`WIDE_PAIRS` pairs in all, else NaN (unknown). The other points get NaN too when
        their cells list too many segments (:meth:`_too_many`).
        """
        n = px.size
        out = np.full(n, np.inf)
        pad = reach + _PAD_M
        ix0 = cell_index(px - pad, self.x0, self.size, self.nx)
        ix1 = cell_index(px + pad, self.x0, self.size, self.nx)
        iy0 = cell_index(py - pad, self.y0, self.size, self.ny)
        iy1 = cell_index(py + pad, self.y0, self.size, self.ny)
        wx = ix1 - ix0 + 1
        wy = iy1 - iy0 + 1
        wide = (wx > MAX_SPAN) | (wy > MAX_SPAN)
        if wide.any():
            w = np.flatnonzero(wide)
            few = w.size * self._rows.shape[1] <= WIDE_PAIRS
            out[w] = nearest(self._rows, px[w], py[w]) if few else np.nan
        listed = self._listed(ix0, iy0, wx, wy, ~wide)
        if self._too_many(listed, ~wide):
            out[~wide] = np.nan
            return out
        for q, j in self._pairs(ix0, iy0, wx, wy, ~wide, listed):
            if q.size == 0:
                continue
            dx = pair_squares(self._by_cell, px, py, q, j)  # one square root per point
            first = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
            item = q[first]
            # (An item's pairs may continue from the last chunk: the nearer of the two.)
            out[item] = np.minimum(out[item], np.sqrt(np.minimum.reduceat(dx, first)))
        return out

    def within(self, px: FloatArray, py: FloatArray, reach: FloatArray) -> I8Array:
        """Per point: 1 if within ``reach`` of a segment, 0 if not, -1 if undecided.

        Undecided: the distance lies within :data:`BAND_M` of ``reach``, or the point's box is
        too wide (see :meth:`distance`).
        """
        d = self.distance(px, py, reach)
        out = np.full(px.size, -1, dtype=np.int8)
        out[d <= reach - BAND_M] = 1
        out[d > reach + BAND_M] = 0  # inf included; NaN compares False both ways
        return out

    def meets_boxes(
        self, west: FloatArray, south: FloatArray, east: FloatArray, north: FloatArray
    ) -> npt.NDArray[np.bool_]:
        """Whether each box may meet a segment (a yes can be wrong, a no never is).

        A box and a segment meet iff their bounding boxes overlap and the box's corners are not
        all strictly on one side of the segment's line (separating axes); a corner is on a side
        only by more than a rounding tolerance. Boxes spanning more than :data:`MAX_SPAN` cells
        in an axis answer yes, and so do all when their cells list too many segments
        (:meth:`_too_many`).
        """
        out = self._box_meets(west, south, east, north)[0]
        assert out is not None  # (no limit on the pairs)
        return out

    def segments_meeting(
        self, west: FloatArray, south: FloatArray, east: FloatArray, north: FloatArray
    ) -> IntArray | None:
        """The segments (ascending ids) that may meet one of the boxes, as :meth:`meets_boxes`.

        Every segment meeting a box is listed (a listed one may not meet any). None when a box
        spans more than :data:`MAX_SPAN` cells in an axis, or the boxes' cells list too many
        segments (:meth:`_too_many`): their segments are not looked up.
        """
        met = self._box_meets(west, south, east, north)[1]
        return None if met is None else np.flatnonzero(met)

    def meeting(
        self,
        west: FloatArray,
        south: FloatArray,
        east: FloatArray,
        north: FloatArray,
        most_pairs: int,
    ) -> tuple[BoolArray, IntArray | None] | None:
        """:meth:`meets_boxes` and :meth:`segments_meeting` of the same boxes, in one pass.

        None, before any pair is measured, when the boxes' cells list more than
        ``most_pairs`` (box, segment) pairs: cells coarse beside the boxes (a long boundary's
        pieces, bucketed in as few cells), which an R-tree of the segments serves better.
        """
        out, met = self._box_meets(west, south, east, north, most_pairs)
        if out is None:
            return None
        return out, None if met is None else np.flatnonzero(met)

    def _box_meets(
        self,
        west: FloatArray,
        south: FloatArray,
        east: FloatArray,
        north: FloatArray,
        most_pairs: int | None = None,
    ) -> tuple[npt.NDArray[np.bool_] | None, BoolArray | None]:
        """Per box, whether it may meet a segment; which segments met one (None: a box was wide).

        ``(None, None)`` when the listed pairs exceed ``most_pairs``.
        """
        n = west.size
        out = np.zeros(n, dtype=np.bool_)
        # Padded for the rounding of pieces' interpolated ends (see pieces()).
        west = west - _BOX_PAD
        south = south - _BOX_PAD
        east = east + _BOX_PAD
        north = north + _BOX_PAD
        ix0 = cell_index(west, self.x0, self.size, self.nx)
        ix1 = cell_index(east, self.x0, self.size, self.nx)
        iy0 = cell_index(south, self.y0, self.size, self.ny)
        iy1 = cell_index(north, self.y0, self.size, self.ny)
        wx = ix1 - ix0 + 1
        wy = iy1 - iy0 + 1
        wide = (wx > MAX_SPAN) | (wy > MAX_SPAN)
        out[wide] = True
        listed = self._listed(ix0, iy0, wx, wy, ~wide)
        if most_pairs is not None and int(listed[2].sum()) > most_pairs:
            return None, None
        if self._too_many(listed, ~wide):
            out[:] = True
            return out, None
        met = None if wide.any() else np.zeros(self._rows.shape[1], dtype=np.bool_)
        for q, j in self._pairs(ix0, iy0, wx, wy, ~wide, listed):
            ax, ay, ex, ey = (v[j] for v in self._by_cell[:4])
            w, s, e, nn = west[q], south[q], east[q], north[q]
            overlap = (np.minimum(ax, ax + ex) <= e) & (np.maximum(ax, ax + ex) >= w)
            overlap &= (np.minimum(ay, ay + ey) <= nn) & (np.maximum(ay, ay + ey) >= s)
            tol = 1e-11 * (np.abs(ex) + np.abs(ey)) * (1.0 + e - w + nn - s) + 1e-300
            above = np.ones(q.size, dtype=np.bool_)
            below = np.ones(q.size, dtype=np.bool_)
            for cx, cy in ((w, s), (e, s), (w, nn), (e, nn)):
                c = ex * (cy - ay) - ey * (cx - ax)
                above &= c > tol
                below &= c < -tol
            meet = overlap & ~above & ~below
            out[q[meet]] = True
            if met is not None:
                met[self._seg[j[meet]]] = True
        return out, met


def pieces(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, most: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """The segments cut into pieces at most ``most`` long in each axis (ends interpolated).

    A point of a segment lies within rounding (~1e-15 of the coordinates) of a piece.
    """
    pax, pay, pbx, pby, _ = cut(ax, ay, bx, by, most)
    return pax, pay, pbx, pby


def cut(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, most: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, IntArray]:
    """:func:`pieces`, and per piece the index of the segment it was cut from."""
    k = np.maximum(np.maximum(np.ceil(np.abs(bx - ax) / most), np.ceil(np.abs(by - ay) / most)), 1)
    k = k.astype(np.intp)
    edge = np.repeat(np.arange(k.size), k)
    j = np.arange(edge.size) - np.repeat(np.cumsum(k) - k, k)
    kk = k[edge].astype(np.float64)
    t0, t1 = j / kk, (j + 1) / kk
    ex, ey = bx[edge] - ax[edge], by[edge] - ay[edge]
    return (
        ax[edge] + ex * t0,
        ay[edge] + ey * t0,
        ax[edge] + ex * t1,
        ay[edge] + ey * t1,
        edge,
    )
