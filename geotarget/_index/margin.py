"""Private: a margin polygon's device ranks, decided by distance bounds from cell centres.

The exact ranks of a polygon with margin ``m`` (:func:`geotarget._index.classify._polygon_ranks`)
depend on a device only through whether its point ``p`` is in the lon/lat polygon, its disk
radius ``r``, and ``b``, the distance from ``p`` to the polygon's boundary in the metric frame
(for a point outside the polygon farther than millimetres from the boundary, also its distance
to the metric polygon). That rank, as a function of ``b`` (:func:`rank_at`), is monotone:

* in the polygon: held when ``r <= m``, else held iff ``b > r - m`` (else met);
* outside: held iff ``b <= m - r``, else met iff ``b <= m + r``, else neither.

Distance to a set is 1-Lipschitz: for any point ``c``, ``|b(p) - b(c)| <= |p - c|``. So the
devices are put in square cells of the metric frame, the boundary distance of each cell's
centre is computed exactly (float64, the segment kernel of :mod:`geotarget._index.segments`),
and a device whose rank is the same at both ends of ``b(c) ± |p - c|`` (widened by twice
:data:`~geotarget._index.segments.BAND_M`, far beyond the rounding of either distance) has
that rank: no threshold lies in between, and every threshold's own band of doubt lies outside
it, so the exact test answers the same. A device outside the polygon is decided only when
that interval lies farther than :data:`SAME_SIDE_M` from the boundary (there the metric
polygon and the lon/lat one agree on its side, as the exact test relies on).

The devices left (their interval holds a threshold) go to cells :data:`REFINE` times smaller,
down to :data:`LEVELS` levels; the rest to the exact test. A cell's centre is measured against
every boundary segment at the first level, and at the next against the segments of its
parent's candidates that lay within ``b(parent) + 2 h`` of the parent's centre (``h`` the parent
cell's half-diagonal): a child centre lies within ``h`` of its parent's, so its nearest
segment lies within ``b(child) + h <= b(parent) + 2 h`` of the parent's centre. Near a
smooth boundary that is a handful of segments a cell, however large the margin.

The cost is bounded by the input: the first level has at most :data:`FIRST_CELLS` cells and
:data:`FIRST_PAIRS` (cell, segment) pairs (coarser cells when the boundary has many
segments), and no more pairs than the items' own exact tests would about measure (a small
margin's devices reach few segments each: the cells are then not used at all); a later level
is skipped, leaving its devices to the exact test, when its pairs would number more than
:data:`PAIRS_FLOOR` plus :data:`PAIRS_PER_DEVICE` per device left, or :data:`MOST_PAIRS`;
pairs are measured :data:`~geotarget._index.segments.PAIR_CHUNK` at a time.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from geotarget._index.segments import BAND_M, PAIR_CHUNK, pair_squares, typical
from geotarget._validate import BoolArray, FloatArray

IntArray = npt.NDArray[np.intp]

#: Metres from the metric boundary beyond which a point outside the lon/lat polygon is outside
#: the metric one too (the frame's densification, 0.5 mm, and rounding; as classify's padding).
SAME_SIDE_M = 0.004
#: Cells, at most, of the first level (a square grid over the devices' metric bounds).
FIRST_CELLS = 256
#: (cell, segment) pairs, at most, of the first level (its cells coarsen to stay under it).
FIRST_PAIRS = 1 << 21
#: Levels of cells, each :data:`REFINE` times finer (per axis) than the one before.
LEVELS = 9
#: How many times finer each level's cells are, per axis (a power of two: a cell's index at
#: one level is its index at the next shifted right by :data:`_SHIFT`, exactly).
_SHIFT = 2
REFINE = 1 << _SHIFT
#: (cell, candidate segment) pairs a later level may measure: this many, plus
#: :data:`PAIRS_PER_DEVICE` per device it is asked about, and never more than
#: :data:`MOST_PAIRS` (some 50 bytes each while the level is measured).
PAIRS_FLOOR = 1 << 20
PAIRS_PER_DEVICE = 64
MOST_PAIRS = 1 << 21
#: About the share of a boundary of length ``L`` within reach ``D`` of a point near it, over
#: ``D / L`` (a boundary that fills its area, a comb of teeth metres apart, has far more: its
#: cells are then not used, as the first level would measure every segment for every cell).
_NEAR_SHARE = 1.0
#: The cells per side, at least, of a first level worth measuring (else the exact test alone).
_LEAST_SIDE = 4
#: Widening of each device's interval: twice the segment kernel's band of doubt.
_WIDEN_M = 2.0 * BAND_M

_HOLDS, _MEETS = 2, 1


def rank_at(b: FloatArray, in_poly: BoolArray, r: FloatArray, m: float) -> npt.NDArray[np.int8]:
    """Each device's rank were its point's boundary distance ``b`` (see the module docstring).

    In the polygon ``2 - (r > m and b <= r - m)``; outside ``(r <= m and b <= m - r) + (b <=
    m + r)`` (the first implies the second).
    """
    wide = r > m
    out = (~wide & (b <= m - r)).view(np.int8) + (b <= m + r).view(np.int8)
    inside = 2 - (wide & (b <= r - m)).view(np.int8)
    out[in_poly] = inside[in_poly]
    return out


#: Items, at least, for the cells to be measured, and for a level to be: each level costs some
#: thirty numpy passes, more than the exact test of a few dozen devices.
MIN_ITEMS = 256
LEVEL_ITEMS = 64


def first_side(items: int, segments: int, length: float, m: float, r: float) -> int:
    """Cells per side of the first level for ``items`` around a boundary of ``segments``.

    At most :data:`FIRST_CELLS` cells and :data:`FIRST_PAIRS` pairs with every segment, and no
    more pairs than the items' exact tests would about measure: the segments within their
    reach (``m`` plus a typical radius ``r``) of a boundary ``length`` metres long each. Below
    :data:`_LEAST_SIDE` (a small margin), or for fewer than :data:`MIN_ITEMS` items, the cells
    are not worth measuring.
    """
    if items < MIN_ITEMS:
        return 0
    share = min(1.0, _NEAR_SHARE * (m + r) / max(length, 1e-9))
    budget = min(float(FIRST_PAIRS), items * segments * share)
    return min(int(math.sqrt(FIRST_CELLS)), int(math.sqrt(budget / max(segments, 1))))


def worth(items: int, segments: float, length: float, m: float, r: float) -> bool:
    """Whether :func:`decide` would measure cells for these (:func:`first_side`).

    Asked before the metric frame is built, with ``segments`` and ``length`` estimated (the
    lon/lat edges densified, in metres at their latitude): a heuristic of cost only.
    """
    return first_side(items, round(segments), length, m, r) >= _LEAST_SIDE


def _group_rank(
    lo: FloatArray, hi: FloatArray, in_poly: BoolArray, g: FloatArray, m: float
) -> tuple[npt.NDArray[np.int8], BoolArray]:
    """The rank every device of each group has, and whether they surely all have it.

    A group's devices have boundary distances within ``[lo, hi]`` and radii at most ``g``.
    All are held when ``g <= m`` and ``hi <= m - g``, on either side of the boundary (one in
    the polygon because its radius is at most the margin, one outside because the polygon is
    within ``m - r`` of it), or when every point lies in the polygon (``in_poly`` and ``lo``
    beyond :data:`SAME_SIDE_M`) and ``lo > g - m``; none is met when every point lies outside
    and ``lo > m + g``.
    """
    clear = lo > SAME_SIDE_M
    held = ((g <= m) & (hi <= m - g)) | (in_poly & clear & (lo > g - m))
    none = ~in_poly & clear & (lo > m + g)
    return np.where(held, _HOLDS, 0).astype(np.int8), held | none


def _distances(
    rows: FloatArray, px: FloatArray, py: FloatArray, item: IntArray, seg: IntArray
) -> FloatArray:
    """Per (item, segment) pair, the distance from the item's point to the segment."""
    out = np.empty(item.size)
    for lo in range(0, item.size, PAIR_CHUNK):
        q, j = item[lo : lo + PAIR_CHUNK], seg[lo : lo + PAIR_CHUNK]
        np.sqrt(pair_squares(rows, px, py, q, j), out=out[lo : lo + PAIR_CHUNK])
    return out


def decide(
    rows: FloatArray,
    mx: FloatArray,
    my: FloatArray,
    in_poly: BoolArray,
    r: FloatArray,
    m: float,
    extra: FloatArray | None = None,
) -> tuple[npt.NDArray[np.int8], BoolArray, int]:
    """Ranks of the devices the cells' bounds decide, which those are, and the pairs measured.

    ``rows``: the metric boundary's segments (:func:`geotarget._index.segments.segment_rows`);
    ``mx``, ``my``: the devices' points in the metric frame; ``in_poly``: whether each is in
    the lon/lat polygon; ``r``: their disk radii; ``m``: the margin. The rank of a device not
    decided is 0 (its exact test decides it).

    ``extra``: the items are groups of devices instead (leaves), each within ``extra`` metres
    of its point (in the metric frame) with radii at most ``r``, and ``in_poly`` their point's
    side: an item is decided only when every device of it surely ranks the same, held (2) or
    neither held nor met (0), as :func:`_group_rank` finds.
    """
    n = mx.size
    rank = np.zeros(n, dtype=np.int8)
    decided = np.zeros(n, dtype=np.bool_)
    nseg = rows.shape[1]
    if n == 0 or nseg == 0:
        return rank, decided, 0
    x0, y0 = float(mx.min()), float(my.min())
    span = max(float(mx.max()) - x0, float(my.max()) - y0, 1e-3)
    per_side = first_side(n, nseg, float(np.hypot(rows[2], rows[3]).sum()), m, typical(r))
    if per_side < _LEAST_SIDE:
        return rank, decided, 0
    size = span / per_side * (1.0 + 1e-9)
    left = np.arange(n)
    measured = 0
    parents: npt.NDArray[np.int64] | None = None  # the last level's cell keys, sorted
    kept_cell = kept_seg = np.empty(0, dtype=np.intp)
    for _ in range(LEVELS):
        ix = np.floor((mx[left] - x0) / size).astype(np.int64)
        iy = np.floor((my[left] - y0) / size).astype(np.int64)
        keys, cell_of = np.unique((ix << 32) | iy, return_inverse=True)
        cell_of = cell_of.reshape(-1)
        cx = x0 + ((keys >> 32).astype(np.float64) + 0.5) * size
        cy = y0 + ((keys & 0xFFFFFFFF).astype(np.float64) + 0.5) * size
        nc = keys.size
        if parents is None:
            item = np.repeat(np.arange(nc), nseg)
            seg = np.tile(np.arange(nseg), nc)
        else:
            # Each cell's candidates: its parent's kept pairs (grouped by parent, ascending).
            up = ((keys >> 32) >> _SHIFT << 32) | ((keys & 0xFFFFFFFF) >> _SHIFT)
            parent = np.searchsorted(parents, up)
            first = np.searchsorted(kept_cell, parent)
            count = np.searchsorted(kept_cell, parent, side="right") - first
            total = int(count.sum())
            if total > min(PAIRS_FLOOR + PAIRS_PER_DEVICE * left.size, MOST_PAIRS):
                break
            item = np.repeat(np.arange(nc), count)
            seg = kept_seg[np.arange(total) - np.repeat(np.cumsum(count) - count - first, count)]
        d = _distances(rows, cx, cy, item, seg)
        measured += int(d.size)
        starts = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
        b = np.minimum.reduceat(d, starts)  # every cell has a pair: its nearest segment's
        # Each device's bounds, and its rank at both ends.
        px, py = mx[left], my[left]
        reach = np.hypot(px - cx[cell_of], py - cy[cell_of]) + _WIDEN_M
        if extra is not None:
            reach += extra[left]
        lo = b[cell_of] - reach
        hi = b[cell_of] + reach
        ip, rr = in_poly[left], r[left]
        if extra is None:
            at_lo = rank_at(lo, ip, rr, m)
            sure = at_lo == rank_at(hi, ip, rr, m)
            sure &= ip | (lo > SAME_SIDE_M)
        else:
            at_lo, sure = _group_rank(lo, hi, ip, rr, m)
        rank[left[sure]] = at_lo[sure]
        decided[left[sure]] = True
        h = size * math.sqrt(0.5) * (1.0 + 1e-9)
        # Items whose own extent is large beside the cells: finer cells no longer help.
        going = ~sure if extra is None else ~sure & (extra[left] < h)
        left, cell_of = left[going], cell_of[going]
        if left.size < LEVEL_ITEMS:
            break
        # The candidates of the next level's cells: pairs within b + 2 h of their centre.
        keep = d <= b[item] + 2.0 * h + _WIDEN_M
        still = np.zeros(nc, dtype=np.bool_)
        still[cell_of] = True
        keep &= still[item]
        kept_cell, kept_seg = item[keep], seg[keep]
        parents = keys
        size /= REFINE
    return rank, decided, measured
