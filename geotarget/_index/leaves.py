"""Private: device positions packed in Morton order into small leaves, with a two-level R-tree.

Layout (about 34 bytes per device):

* ``xs``, ``ys``: float64 lon/lat of the devices with a fix, in Morton (Z-order) order of a
  quantised, aspect-corrected lon/lat key; slot ``i`` holds row ``perm[i]`` (``perm`` is int32).
* Leaves of :data:`LEAF` consecutive slots, each with its bounding box, its bounding sphere in
  ECEF metres (centre and radius, computed from :func:`geotarget._geodesy.ecef`, the same
  function the exact circle kernel uses) and the largest ``accuracy_m`` among its devices.
* ``off``: each device's ECEF offset from its leaf's centre in float32 (12 bytes), from which
  the straight-line distance to a circle's centre is known within a micrometre-scale error
  without any trigonometry; the exact circle kernel takes it as its chord estimate.
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

from geotarget import _geodesy
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
# Leaves per chunk when the spheres are computed (bounds the float64 temporaries).
_SPHERE_CHUNK = 4096
# Windows per chunk of a many-window query (keeps the top-level table to a few megabytes).
_CHUNK = 256

IntArray = npt.NDArray[np.intp]
I32Array = npt.NDArray[np.int32]


def _every(tests: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per column, whether all four of a box's tests hold (``tests.all(axis=0)``).

    The ufunc's own reduction: ``ndarray.all`` costs twice as much on the thousand-odd
    columns of a first query's box scan, the per-call overhead being most of it.
    """
    out: npt.NDArray[np.bool_] = np.logical_and.reduce(tests, axis=0)
    return out


_SPREAD = tuple(
    (np.uint64(shift), np.uint64(mask))
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    )
)
_ONE = np.uint64(1)
# Points per chunk of Morton keys (the temporaries stay in cache).
_KEY_CHUNK = 1 << 16


def spread_bits(v: npt.NDArray[np.uint64], tmp: npt.NDArray[np.uint64]) -> None:
    """Move bit ``i`` of each of ``v``'s low 32 bits to bit ``2 * i``, in place (a Morton code).

    ``v`` must have no higher bit set; ``tmp`` is scratch of the same shape.
    """
    for shift, mask in _SPREAD:
        np.left_shift(v, shift, out=tmp)
        np.bitwise_or(v, tmp, out=v)
        np.bitwise_and(v, mask, out=v)


def morton_order(x: FloatArray, y: FloatArray) -> IntArray:
    """Return the indices that sort points along a Z-order curve of their quantised coordinates.

    Each point's key is its Morton code shifted left by the bits of its index, which fills the
    low bits: one ``sort`` of the keys then gives the order in the low bits (a fifth of the
    time of ``argsort``), ties between points of one cell in index order. The code has up to
    21 bits per axis, fewer from two million points on (18 at a hundred million) so that key
    and index fit 64 bits. Keys are made a chunk at a time, in place, so the temporaries stay
    in cache whatever the number of points.
    """
    n = int(x.size)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    idx_bits = max((n - 1).bit_length(), 1)
    bits = min(_BITS, (64 - idx_bits) // 2)
    x_min, x_max = float(x.min()), float(x.max())
    y_min, y_max = float(y.min()), float(y.max())
    lat_mid = math.radians((y_min + y_max) / 2.0)
    shrink = max(math.cos(lat_mid), 0.05)
    span = max((x_max - x_min) * shrink, y_max - y_min, 1e-12)
    scale = ((1 << bits) - 1) / span
    keys = np.empty(n, dtype=np.uint64)
    size = min(n, _KEY_CHUNK)
    f = np.empty(size)
    ky = np.empty(size, dtype=np.uint64)
    tmp = np.empty(size, dtype=np.uint64)
    for lo in range(0, n, _KEY_CHUNK):
        hi = min(lo + _KEY_CHUNK, n)
        k = hi - lo
        kx = keys[lo:hi]
        for src, origin, factor, q in ((x, x_min, shrink * scale, kx), (y, y_min, scale, ky[:k])):
            np.subtract(src[lo:hi], origin, out=f[:k])
            np.multiply(f[:k], factor, out=f[:k])
            np.copyto(q, f[:k], casting="unsafe")  # truncation: the cell's number
            spread_bits(q, tmp[:k])
        np.left_shift(ky[:k], _ONE, out=ky[:k])
        np.bitwise_or(kx, ky[:k], out=kx)
        np.left_shift(kx, np.uint64(idx_bits), out=kx)
        np.bitwise_or(kx, np.arange(lo, hi, dtype=np.uint64), out=kx)
    keys.sort()
    np.bitwise_and(keys, np.uint64((1 << idx_bits) - 1), out=keys)
    return keys.view(np.int64).astype(np.intp, copy=False)


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


def _spheres(
    xs_blocks: FloatArray, ys_blocks: FloatArray, count: int
) -> tuple[FloatArray, npt.NDArray[np.float32]]:
    """Leaf bounding spheres in ECEF metres, and each device's float32 offset from its centre.

    Takes the ``(leaves, LEAF)`` coordinate blocks and the number of real slots. Returns the
    spheres, one row per leaf (x, y, z, radius, offset error), and the offsets as
    ``(leaves, 3, LEAF)`` float32, NaN in padding slots. The centre is the mean of the leaf's
    slots (the padding slots that may end the last leaf repeat its last device, so they are
    points of that leaf and every slot counts without a mask); the radius is the largest
    distance to it, grown by a relative 1e-12 and 1e-6 m so that rounding (about 1e-9 m at
    6.4e6 m) can never put a point outside it. A float32 offset is within ``radius * 2**-24``
    of the float64 one in each axis, so ``radius * 2**-22 + 1e-6`` bounds the error of a
    distance computed from it. Leaves are processed in chunks, so the float64 temporaries stay
    a few megabytes whatever the snapshot's size.
    """
    n_leaves = xs_blocks.shape[0]
    sphere = np.empty((n_leaves, 5), dtype=np.float64)
    off = np.empty((n_leaves, 3, LEAF), dtype=np.float32)
    for lo in range(0, n_leaves, _SPHERE_CHUNK):
        hi = min(lo + _SPHERE_CHUNK, n_leaves)
        p = np.empty((hi - lo, 3, LEAF))
        p[:, 0], p[:, 1], p[:, 2] = _geodesy.ecef(xs_blocks[lo:hi], ys_blocks[lo:hi])
        centre = np.add.reduce(p, axis=2)
        centre /= LEAF
        p -= centre[:, :, None]
        off[lo:hi] = p
        p *= p
        radius = np.sqrt(np.maximum.reduce(np.add.reduce(p, axis=1), axis=1))
        radius *= 1.0 + 1e-12
        radius += 1e-6
        sphere[lo:hi, :3] = centre
        sphere[lo:hi, 3] = radius
        sphere[lo:hi, 4] = radius * 2.0**-22 + 1e-6
    if count % LEAF:
        off[-1, :, count % LEAF :] = np.nan
    return sphere, off


#: Slots gathered at once by :func:`_per_leaf` (a multiple of LEAF).
_PER_LEAF_SLOTS = 1 << 16


def _per_leaf(op: np.ufunc, values: npt.NDArray[Any], order: IntArray) -> npt.NDArray[Any]:
    """``op.reduceat`` of ``values`` over each leaf's slots (``order``: each slot's row).

    Gathered a bounded number of slots at a time: a whole gathered column would be a
    temporary of eight bytes a device, which the allocator may keep as resident memory after
    the index is built.
    """
    m = order.size
    out = np.empty(-(-m // LEAF), dtype=values.dtype)
    starts = np.arange(0, min(m, _PER_LEAF_SLOTS), LEAF)
    for lo in range(0, m, _PER_LEAF_SLOTS):
        chunk = values.take(order[lo : lo + _PER_LEAF_SLOTS])
        first, leaves = lo // LEAF, -(-chunk.size // LEAF)
        out[first : first + leaves] = op.reduceat(chunk, starts[:leaves])
    return out


class Leaves:
    """The packed leaves, and the levels of boxes above them, over the devices with a fix.

    Every level stores its boxes as rows ``(west, south, -east, -north)``, so that "box meets
    window" is one comparison ``boxes <= (east, north, -west, -south)`` of all four rows, and is
    padded to a multiple of BLOCK with boxes that meet nothing.
    """

    __slots__ = (
        "acc_all",
        "acc_max",
        "children",
        "count",
        "leaf_box",
        "levels",
        "n_leaves",
        "obs_min",
        "off_blocks",
        "perm",
        "perm_blocks",
        "sphere_rows",
        "xs",
        "xs_blocks",
        "ys",
        "ys_blocks",
    )

    def __init__(
        self,
        lon: FloatArray,
        lat: FloatArray,
        accuracy: FloatArray,
        fix: BoolArray,
        observed_at: npt.NDArray[np.datetime64] | None = None,
    ):
        if fix.all():
            order = morton_order(lon, lat)
        else:
            rows = np.flatnonzero(fix)
            order = rows.take(morton_order(lon.take(rows), lat.take(rows)))
        m = int(order.size)
        pad = -m % LEAF
        # Slot columns are padded to whole leaves (repeating the last device's coordinates,
        # row 0, NaN float32 offsets) so that a leaf's slots are one row of a (leaves × LEAF)
        # view; ``perm``, ``xs``, ``ys`` are views of the first ``m`` slots. (The gathers
        # take the intp ``order``: with int32 indices they cost twice as much.)
        perm_pad = np.zeros(m + pad, dtype=np.int32)
        perm_pad[:m] = order
        xs_pad = np.empty(m + pad)
        ys_pad = np.empty(m + pad)
        np.take(lon, order, out=xs_pad[:m], mode="clip")  # "clip": no buffered copy
        np.take(lat, order, out=ys_pad[:m], mode="clip")
        xs_pad[m:] = xs_pad[m - 1] if m else 0.0  # padding repeats the last device
        ys_pad[m:] = ys_pad[m - 1] if m else 0.0
        self.perm: I32Array = perm_pad[:m]
        self.xs: FloatArray = xs_pad[:m]
        self.ys: FloatArray = ys_pad[:m]
        self.perm_blocks: I32Array = perm_pad.reshape(-1, LEAF)
        self.xs_blocks: FloatArray = xs_pad.reshape(-1, LEAF)
        self.ys_blocks: FloatArray = ys_pad.reshape(-1, LEAF)
        self.count = m
        starts = np.arange(0, m, LEAF)
        self.n_leaves = int(starts.size)
        cols = np.empty((4, self.n_leaves), dtype=np.float64)
        if m:
            cols[0] = np.minimum.reduceat(self.xs, starts)
            cols[1] = np.minimum.reduceat(self.ys, starts)
            cols[2] = np.maximum.reduceat(self.xs, starts)
            cols[3] = np.maximum.reduceat(self.ys, starts)
            self.acc_max: FloatArray = _per_leaf(np.maximum, accuracy, order)
        else:
            self.acc_max = np.empty(0, dtype=np.float64)
        #: Per leaf, its oldest fix as int64 microseconds (NaT, the least int64, is oldest),
        #: so a query for fixes older than a time skips leaves of fresh fixes; None when the
        #: times were not given.
        self.obs_min: npt.NDArray[np.int64] | None = None
        if observed_at is not None:
            micros = np.asarray(observed_at, dtype="datetime64[us]").view(np.int64)
            self.obs_min = _per_leaf(np.minimum, micros, order)
        #: The largest accuracy of all (0 without devices): every classification's reach.
        self.acc_all = float(self.acc_max.max()) if m else 0.0
        sphere, off = _spheres(self.xs_blocks, self.ys_blocks, m)
        #: Leaf spheres, one row per leaf: x, y, z, radius, offset error (see _spheres).
        self.sphere_rows: FloatArray = sphere
        #: Float32 ECEF offsets from the leaf centre, (leaves, 3, LEAF); NaN in padding slots.
        self.off_blocks: npt.NDArray[np.float32] = off
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
        #: Per upper level, the index below of each box's BLOCK children (one gather instead of
        #: four numpy calls a query; 0.25 bytes a device in all).
        self.children: list[IntArray] = [
            (np.arange(b.shape[1], dtype=np.intp)[:, None] * BLOCK + _BLOCK_RANGE) for b in levels
        ]
        self._freeze()

    def _freeze(self) -> None:
        """Make every array read-only, the slot views of the padded blocks included."""
        for arr in [*self._arrays(), self.perm, self.xs, self.ys]:  # views too
            arr.flags.writeable = False

    # ``perm``, ``xs`` and ``ys`` are views of the padded blocks. Pickled (or deep-copied) as
    # plain slots, each became an array of its own: a copy of the index held 20 bytes a
    # device more than the original (57 % more), and every array came back writeable.
    _VIEWS = ("perm", "xs", "ys")

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if k not in self._VIEWS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        m = self.count
        self.perm = self.perm_blocks.reshape(-1)[:m]
        self.xs = self.xs_blocks.reshape(-1)[:m]
        self.ys = self.ys_blocks.reshape(-1)[:m]
        self._freeze()

    def _arrays(self) -> list[npt.NDArray[Any]]:
        return [
            *([] if self.obs_min is None else [self.obs_min]),
            self.perm_blocks,
            self.xs_blocks,
            self.ys_blocks,
            self.leaf_box,
            self.acc_max,
            self.sphere_rows,
            self.off_blocks,
            *self.levels,
            *self.children,
        ]

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(int(a.nbytes) for a in self._arrays())

    def leaves_in(
        self, west: float, south: float, east: float, north: float
    ) -> tuple[IntArray, FloatArray]:
        """Leaves whose box meets the window, ascending, and their boxes (stored form, 4 × k)."""
        leaves = self.leaf_ids_in(west, south, east, north)
        return leaves, self.leaf_box.take(leaves, axis=1)

    def leaf_ids_in(self, west: float, south: float, east: float, north: float) -> IntArray:
        """Leaves whose box meets the window, ascending."""
        q = np.array([east, north, -west, -south])[:, None]
        cand: IntArray | None = None
        for boxes, children in zip(self.levels, self.children, strict=True):
            b = boxes if cand is None else boxes.take(cand, axis=1)
            hit = _every(b <= q)
            idx = hit.nonzero()[0] if cand is None else cand[hit]
            if idx.size == 0:
                return idx
            cand = children.take(idx, axis=0).reshape(-1)
        b = self.leaf_box if cand is None else self.leaf_box.take(cand, axis=1)
        hit = _every(b <= q)
        return hit.nonzero()[0] if cand is None else cand[hit]

    def leaves_in_many(self, windows: FloatArray) -> tuple[IntArray, IntArray]:
        """Every (window, leaf) pair where the leaf's box meets the window.

        ``windows`` is k × 4 (west, south, east, north). Windows are taken in chunks so the
        comparison tables stay below a few megabytes whatever ``k`` is.
        """
        win_out: list[IntArray] = []
        leaf_out: list[IntArray] = []
        for lo in range(0, windows.shape[0], _CHUNK):
            w = windows[lo : lo + _CHUNK]
            q = np.stack([w[:, 2], w[:, 3], -w[:, 0], -w[:, 1]])  # 4 × k
            win: IntArray | None = None
            cand: IntArray | None = None
            for level, boxes in enumerate([*self.levels, self.leaf_box]):
                if cand is None or win is None:
                    n_top = boxes.shape[1]
                    hit = np.ones((w.shape[0], n_top), dtype=np.bool_)
                    for row in range(4):
                        hit &= boxes[row][None, :] <= q[row][:, None]
                    win, idx = np.nonzero(hit)
                else:
                    ok = np.ones(cand.size, dtype=np.bool_)
                    for row in range(4):
                        ok &= boxes[row, cand] <= q[row, win]
                    win, idx = win[ok], cand[ok]
                if boxes is not self.leaf_box:
                    cand = self.children[level].take(idx, axis=0).reshape(-1)
                    win = np.repeat(win, BLOCK)
            assert win is not None
            win_out.append(win + lo)
            leaf_out.append(idx)
        if not win_out:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        return np.concatenate(win_out), np.concatenate(leaf_out)

    def block_chords(
        self, leaves: IntArray, x0: Any, y0: Any, z0: Any
    ) -> tuple[FloatArray, FloatArray]:
        """Straight-line distances from an ECEF point to every slot of the given leaves.

        Returns ``(leaves × LEAF)`` estimates (NaN in padding slots) and a ``(leaves × 1)``
        bound on their error (see :func:`_spheres`); no trigonometry per device. (``take``
        gathers whole rows faster than indexing, which matters at a few leaves a query.)
        """
        s = self.sphere_rows.take(leaves, axis=0)
        if isinstance(x0, float):
            gap = s[:, :3] - np.array([x0, y0, z0])
        else:
            gap = s[:, :3] - np.stack([x0, y0, z0], axis=1)
        d = self.off_blocks.take(leaves, axis=0) + gap[:, :, None]
        d *= d
        return np.sqrt(np.add.reduce(d, axis=1)), s[:, 4:5]  # (the ufunc: no Python wrapper)

    def block_chords2(
        self, leaves: IntArray, x0: float, y0: float, z0: float
    ) -> tuple[FloatArray, float]:
        """:meth:`block_chords` from one point, squared, with one error bound for all leaves.

        Returns the ``(leaves × LEAF)`` squared estimates (NaN in padding slots) and the largest
        of the leaves' error bounds (0 for no leaves). A small circle's query compares these
        with squared thresholds (:func:`geotarget._geodesy.geodesic_le_squared`): no square
        root, and scalar thresholds instead of one per leaf.
        """
        s = self.sphere_rows.take(leaves, axis=0)
        d = self.off_blocks.take(leaves, axis=0) + (s[:, :3] - (x0, y0, z0))[:, :, None]
        d *= d
        err = float(np.maximum.reduce(s[:, 4])) if leaves.size else 0.0
        return np.add.reduce(d, axis=1), err

    def older(self, leaves: IntArray, limit: np.datetime64) -> BoolArray | None:
        """Which of ``leaves`` hold a fix observed before ``limit`` (or NaT; None: no times)."""
        if self.obs_min is None:
            return None
        before = int(np.asarray(limit, dtype="datetime64[us]").view(np.int64))
        return np.asarray(self.obs_min[leaves] < before)

    def slots_of(self, leaves: IntArray) -> IntArray:
        """Every slot of the given leaves."""
        slots = (leaves[:, None] * LEAF + _LEAF_RANGE).reshape(-1)
        if leaves.size and leaves[-1] == self.n_leaves - 1 and self.count % LEAF:
            slots = slots[slots < self.count]
        return slots

    def points_of(self, leaves: IntArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """Every slot of the given (sorted) leaves, and its device's lon and lat.

        The coordinates come as whole leaves (``take`` of rows: a quarter of the time of
        gathering slot by slot), less the padding slots that may end the last leaf.
        """
        slots = self.slots_of(leaves)
        k = slots.size
        x: FloatArray = self.xs_blocks.take(leaves, axis=0).reshape(-1)[:k]
        y: FloatArray = self.ys_blocks.take(leaves, axis=0).reshape(-1)[:k]
        return slots, x, y

    def rows_of_leaves(self, leaves: IntArray) -> I32Array:
        """Every row of the given (sorted, distinct) leaves.

        Consecutive leaves are a view of the permutation; any others one ``take`` of whole
        leaves (whatever their number: slicing runs of consecutive leaves cost more from two
        runs on, and forty times as much for scattered leaves).
        """
        if leaves.size == 0:
            return self.perm[:0]
        first, last = int(leaves[0]), int(leaves[-1])
        if last - first + 1 == leaves.size:
            return self.perm[first * LEAF : (last + 1) * LEAF]  # perm ends at the last row
        rows: I32Array = self.perm_blocks.take(leaves, axis=0).reshape(-1)
        pad = self.perm_blocks.size - self.count
        if pad and last == self.n_leaves - 1:
            rows = rows[:-pad]
        return rows
