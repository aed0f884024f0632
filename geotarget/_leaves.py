"""Private: device positions packed in Morton order into small leaves, with a two-level R-tree.

Layout (about 21 bytes per device):

* ``xs``, ``ys``: float64 lon/lat of the devices with a fix, in Morton (Z-order) order of a
  quantised, aspect-corrected lon/lat key; slot ``i`` holds row ``perm[i]`` (``perm`` is int32).
* Leaves of :data:`LEAF` consecutive slots, each with its bounding box (and the largest
  ``accuracy_m`` among its devices, for classification).
* Blocks of :data:`BLOCK` consecutive leaves, each with the bounding box of its leaves: the
  upper level of a packed R-tree whose boxes are searched with vectorised numpy comparisons.

Because leaves are runs of consecutive slots, a leaf wholly inside an area contributes
``perm[start:end]`` without any per-device test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget._validate import BoolArray, FloatArray

#: Devices per leaf.
LEAF = 32
#: Leaves per block.
BLOCK = 32
_BITS = 21
_BLOCK_RANGE = np.arange(BLOCK)
# Levels are added above the leaves until the top one has at most this many boxes (scanning a
# few thousand boxes costs less than descending one more level).
_TOP = 2048
_LEAF_RANGE = np.arange(LEAF)

IntArray = npt.NDArray[np.intp]
I32Array = npt.NDArray[np.int32]


def _spread(v: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Insert a zero bit between each of the low 21 bits of ``v`` (Morton interleave)."""
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    v = (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)
    return v


def morton_order(x: FloatArray, y: FloatArray) -> IntArray:
    """Return the indices that sort points along a Z-order curve of their quantised coordinates."""
    if x.size == 0:
        return np.empty(0, dtype=np.intp)
    x_min, x_max = float(x.min()), float(x.max())
    y_min, y_max = float(y.min()), float(y.max())
    lat_mid = math.radians((y_min + y_max) / 2.0)
    shrink = max(math.cos(lat_mid), 0.05)
    span = max((x_max - x_min) * shrink, y_max - y_min, 1e-12)
    scale = ((1 << _BITS) - 1) / span
    qx = ((x - x_min) * (shrink * scale)).astype(np.uint64)
    qy = ((y - y_min) * scale).astype(np.uint64)
    key = _spread(qx) | (_spread(qy) << np.uint64(1))
    return np.argsort(key).astype(np.intp)


_NO_BOX = np.array([[np.inf], [np.inf], [np.inf], [np.inf]])


def _padded(boxes: FloatArray) -> FloatArray:
    """Boxes stored as rows (west, south, -east, -north), padded to a multiple of BLOCK."""
    k = boxes.shape[1]
    out = np.empty((4, -(-k // BLOCK) * BLOCK), dtype=np.float64)
    out[:, k:] = _NO_BOX
    out[:2, :k] = boxes[:2]
    np.negative(boxes[2:], out=out[2:, :k])
    return out


def _parent_boxes(boxes: FloatArray) -> FloatArray:
    """Boxes of each run of BLOCK consecutive boxes, both as rows (west, south, -east, -north)."""
    starts = np.arange(0, boxes.shape[1], BLOCK)
    return np.minimum.reduceat(boxes, starts, axis=1)


class Leaves:
    """The packed leaves, and the levels of boxes above them, over the devices with a fix.

    Every level stores its boxes as rows ``(west, south, -east, -north)``, so that "box meets
    window" is one comparison ``boxes <= (east, north, -west, -south)`` of all four rows, and is
    padded to a multiple of BLOCK with boxes that meet nothing.
    """

    __slots__ = ("acc_max", "count", "leaf_box", "levels", "n_leaves", "perm", "xs", "ys")

    def __init__(self, lon: FloatArray, lat: FloatArray, accuracy: FloatArray, fix: BoolArray):
        rows = np.flatnonzero(fix)
        order = morton_order(lon[rows], lat[rows])
        perm = rows[order].astype(np.int32)
        self.perm: I32Array = perm
        self.xs: FloatArray = lon[perm]
        self.ys: FloatArray = lat[perm]
        m = int(perm.size)
        self.count = m
        starts = np.arange(0, m, LEAF)
        self.n_leaves = int(starts.size)
        cols = np.empty((4, self.n_leaves), dtype=np.float64)
        if m:
            cols[0] = np.minimum.reduceat(self.xs, starts)
            cols[1] = np.minimum.reduceat(self.ys, starts)
            cols[2] = np.maximum.reduceat(self.xs, starts)
            cols[3] = np.maximum.reduceat(self.ys, starts)
            self.acc_max: FloatArray = np.maximum.reduceat(accuracy[perm], starts)
        else:
            self.acc_max = np.empty(0, dtype=np.float64)
        #: Leaf boxes: rows (west, south, -east, -north), one column per leaf (padded).
        self.leaf_box: FloatArray = _padded(cols)
        # Upper levels of the packed R-tree, top first; each box covers BLOCK boxes below it.
        levels: list[FloatArray] = []
        below = self.leaf_box
        while below.shape[1] > _TOP:
            below = _parent_boxes(below)
            if below.shape[1] > _TOP:
                below = np.concatenate(
                    [below, np.repeat(_NO_BOX, -below.shape[1] % BLOCK, axis=1)], axis=1
                )
            levels.append(below)
        levels.reverse()
        self.levels = levels
        for arr in self._arrays():
            arr.flags.writeable = False

    def _arrays(self) -> list[npt.NDArray[Any]]:
        return [self.perm, self.xs, self.ys, self.leaf_box, self.acc_max, *self.levels]

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(int(a.nbytes) for a in self._arrays())

    def leaves_in(
        self, west: float, south: float, east: float, north: float
    ) -> tuple[IntArray, FloatArray]:
        """Leaves whose box meets the window, ascending, and their boxes (stored form, 4 × k)."""
        q = np.array([[east], [north], [-west], [-south]])
        cand: IntArray | None = None
        for boxes in self.levels:
            b = boxes if cand is None else boxes.take(cand, axis=1)
            hit = np.logical_and.reduce(b <= q, axis=0)
            idx = np.flatnonzero(hit) if cand is None else cand[hit]
            if idx.size == 0:
                return idx, np.empty((4, 0))
            cand = (idx[:, None] * BLOCK + _BLOCK_RANGE).reshape(-1)
        b = self.leaf_box if cand is None else self.leaf_box.take(cand, axis=1)
        hit = np.logical_and.reduce(b <= q, axis=0)
        leaves = np.flatnonzero(hit) if cand is None else cand[hit]
        return leaves, b[:, hit]

    def slots_of(self, leaves: IntArray) -> IntArray:
        """Every slot of the given leaves."""
        slots = (leaves[:, None] * LEAF + _LEAF_RANGE).reshape(-1)
        if leaves.size and leaves[-1] == self.n_leaves - 1 and self.count % LEAF:
            slots = slots[slots < self.count]
        return slots

    def runs(self, leaves: IntArray) -> tuple[list[int], list[int]]:
        """Slot ranges ``[start, end)`` covering the given (sorted) leaves, merged when adjacent."""
        if leaves.size == 0:
            return [], []
        brk = np.flatnonzero(np.diff(leaves) != 1)
        first = np.concatenate(([leaves[0]], leaves[brk + 1]))
        last = np.concatenate((leaves[brk], [leaves[-1]]))
        starts = (first * LEAF).tolist()
        ends = np.minimum((last + 1) * LEAF, self.count).tolist()
        return starts, ends

    def rows_of_runs(self, starts: list[int], ends: list[int]) -> I32Array:
        """Return the rows in the given slot ranges."""
        perm = self.perm
        if len(starts) == 1:
            return perm[starts[0] : ends[0]]
        return np.concatenate([perm[a:b] for a, b in zip(starts, ends, strict=True)])
