"""Private: area → devices over :class:`~geotarget._index.leaves.Leaves`, exactly.

For each part of the area:

1. **Candidate leaves**: the packed R-tree returns the leaves whose box meets the part's
   rigorous lon/lat window.
2. **Whole-leaf accept/reject by exact bounds**, computed for those leaves only:

   * *circle* (centre ``c``, reach ``R``): with the leaf's bounding sphere (centre ``s``,
     radius ``ρ``, ECEF) and ``d = |c - s|``, every point of the leaf is within ``d + ρ`` and
     beyond ``d - ρ`` of ``c`` in a straight line (triangle inequality). The leaf is accepted
     when ``d + ρ <= chord_inside(R)`` and rejected when ``d - ρ > chord_outside(R)``
     (:func:`geotarget._geodesy.chord_inside`/``chord_outside`` invert the chord bounds of the
     geodesic distance);
   * *polygon*: a leaf box that meets no boundary point (:class:`.boundary.BoundaryCells`)
     lies wholly inside or wholly outside, so its first device decides it. With a margin, a
     leaf box grown by the margin (conservatively, see :func:`.boundary.grown`) that meets no
     boundary and whose first device is outside is rejected.

3. **Exact per-point test** only for the devices of the remaining (straddling) leaves: the
   circle kernel :func:`geotarget._geodesy.geodesic_le` on the leaves' float32 chord
   estimates (``Geod.inv`` only in the thin band), or, for polygons, the state of the device's
   boundary-grid cell when it is unmarked, and ``intersects_xy`` (``contains`` with a margin)
   in marked cells only.

Nothing is cached: the cost of a query is the R-tree descent, a few vectorised operations per
candidate leaf and the exact test of the straddling leaves' devices, so the first query of a new
area object costs what every later one does.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from geotarget import _geodesy, _sorted
from geotarget._geodesy import circle_window
from geotarget._index import polygons
from geotarget._index.boundary import BoundaryCells, grown
from geotarget._index.frames import frame_scale
from geotarget._index.leaves import LEAF, Leaves
from geotarget._validate import BoolArray, FloatArray
from geotarget.areas import Circle, Polygon

I32Array = npt.NDArray[np.int32]
IntArray = npt.NDArray[np.intp]

#: Boundary-grid cells per candidate leaf of a polygon query.
CELLS_PER_LEAF = 8


def sphere_gaps(
    lv: Leaves, leaves: IntArray, lon: float, lat: float
) -> tuple[FloatArray, FloatArray]:
    """Per leaf, the nearest and farthest straight-line distance bounds to a point (a centre)."""
    s = lv.sphere_rows.take(leaves, axis=0)
    cx, cy, cz = _geodesy.ecef(lon, lat)
    d = s[:, :3] - np.array([cx, cy, cz])
    d *= d
    dist = np.sqrt(np.add.reduce(d, axis=1))
    return dist - s[:, 3], dist + s[:, 3]


def circle_hits(lv: Leaves, leaves: IntArray, lon: Any, lat: Any, reach: Any) -> I32Array:
    """Rows of the devices of ``leaves`` inside circles (one per leaf, or one for all).

    The exact circle kernel on the leaves' float32 chord estimates: ``Geod.inv`` only in the
    thin band where the chord bounds cannot decide.
    """

    def fetch(band: IntArray) -> tuple[FloatArray, FloatArray]:
        slot = leaves[band // LEAF] * LEAF + band % LEAF
        return lv.xs_blocks.reshape(-1)[slot], lv.ys_blocks.reshape(-1)[slot]

    cx, cy, cz = _geodesy.ecef(lon, lat)
    if isinstance(lon, float):  # one circle: squared chords against scalar thresholds
        squared, err = lv.block_chords2(leaves, cx, cy, cz)
        keep = _geodesy.geodesic_le_squared(lon, lat, reach, squared, err, fetch)
    else:
        chords = lv.block_chords(leaves, cx, cy, cz)
        c_lon, c_lat, limit = lon[:, None], lat[:, None], reach[:, None]
        (keep,) = _geodesy.geodesic_le(c_lon, c_lat, None, None, [(0.0, limit)], chords, fetch)
    rows: I32Array = lv.perm_blocks.take(leaves, axis=0)[keep]
    return rows


def polygon_hits(
    lv: Leaves,
    part: Polygon,
    leaves: IntArray,
    cells: BoundaryCells | None,
    unfresh: tuple[np.datetime64, npt.NDArray[np.datetime64]] | None = None,
) -> I32Array:
    """Rows of the devices of ``leaves`` inside a polygon.

    With ``cells``, a device in an unmarked cell takes the cell's state (inside, or outside
    without a margin); only devices in marked cells get the exact test. Without, only the
    devices in the polygon's box (its margin included) do. ``unfresh``:
    ``(before, observed_at)``, only devices whose fix is older than ``before`` (or NaT) are
    tested and returned (with a margin, each exact test may cost a projection).
    """
    if unfresh is None:
        slots, x, y = lv.points_of(leaves)
    else:
        before, observed = unfresh
        slots = lv.slots_of(leaves)
        slots = slots[~(observed[lv.perm[slots]] >= before)]  # NaT compares False: kept
        x, y = lv.xs[slots], lv.ys[slots]
    if cells is None:
        west, south, east, north = part.bounds
        todo = np.flatnonzero((x >= west) & (x <= east) & (y >= south) & (y <= north))
        keep = np.zeros(slots.size, dtype=np.bool_)
    else:
        state = cells.state_of(x, y)
        keep = state == 1
        todo = np.flatnonzero(state < 0 if part.margin_m == 0.0 else state != 1)
    if todo.size:
        if part.margin_m == 0.0:
            keep[todo] = polygons.intersects_xy(part, x[todo], y[todo])
        else:
            keep[todo] = part.contains(x[todo], y[todo])
    rows: I32Array = lv.perm[slots[keep]]
    return rows


def representatives(lv: Leaves, leaves: IntArray) -> tuple[FloatArray, FloatArray]:
    """The first device of each leaf."""
    first = leaves * LEAF
    return lv.xs[first], lv.ys[first]


def _circle_split(lv: Leaves, part: Circle, leaves: IntArray) -> tuple[IntArray, IntArray]:
    """Leaves wholly inside the circle, and leaves that straddle its rim."""
    near, far = sphere_gaps(lv, leaves, part.lon, part.lat)
    inner = far <= _geodesy.chord_inside(part.reach_m)
    outer = near > _geodesy.chord_outside(part.reach_m)
    return leaves[inner], leaves[~inner & ~outer]


def _polygon_split(
    lv: Leaves, part: Polygon, leaves: IntArray, boxes: FloatArray
) -> tuple[IntArray, IntArray, BoundaryCells]:
    """Leaves wholly inside the polygon, leaves that may straddle its boundary, and the cells."""
    cells = BoundaryCells(part.shape, CELLS_PER_LEAF * leaves.size, edges=polygons.edges(part))
    touch = cells.meets(boxes)
    # The first device's cell state is exact wherever the leaf box meets no marked cell.
    rep_in = cells.state_of(*representatives(lv, leaves)) == 1
    inner = ~touch & rep_in
    if part.margin_m == 0.0:
        return leaves[inner], leaves[touch], cells
    m = part.margin_m * (1.0 + frame_scale(part.shape, part.margin_m, polygons.rho(part))) + 0.002
    gboxes, wild = grown(boxes[0], boxes[1], -boxes[2], -boxes[3], np.full(leaves.size, m))
    outer = ~(cells.meets(gboxes) | wild) & ~rep_in
    return leaves[inner], leaves[~inner & ~outer], cells


def _older(lv: Leaves, leaves: IntArray, before: np.datetime64 | None) -> BoolArray | None:
    """Which leaves hold a fix older than ``before`` (NaT counts), or None: all may."""
    return None if before is None else lv.older(leaves, before)


def part_rows(
    lv: Leaves,
    part: Circle | Polygon,
    few: int,
    before: np.datetime64 | None = None,
    observed: npt.NDArray[np.datetime64] | None = None,
) -> tuple[list[I32Array], int]:
    """Row chunks of the devices inside one part, and their total size.

    ``before``: only leaves holding a fix older than it (or NaT) are looked at; the
    chunks hold every device inside the part of those leaves (the caller filters by time),
    but where ``observed`` (the snapshot's ``observed_at``) is given too, a polygon tests
    only the devices of those leaves whose own fix is that old.
    """
    if lv.count == 0:
        return [], 0
    if isinstance(part, Circle):
        leaves = lv.leaf_ids_in(*circle_window(part.lon, part.lat, part.reach_m))
        old = _older(lv, leaves, before)
        if old is not None:
            leaves = leaves[old]
        if leaves.size == 0:
            return [], 0
        if leaves.size <= few:
            rows = circle_hits(lv, leaves, part.lon, part.lat, part.reach_m)
            return [rows], int(rows.size)
        whole, edge = _circle_split(lv, part, leaves)
    else:
        leaves, boxes = lv.leaves_in(*part.bounds)
        old = _older(lv, leaves, before)
        if old is not None:
            leaves, boxes = leaves[old], boxes[:, old]
        if leaves.size == 0:
            return [], 0
        cells = None
        if leaves.size <= few:
            whole, edge = leaves[:0], leaves
        else:
            whole, edge, cells = _polygon_split(lv, part, leaves, boxes)
    chunks: list[I32Array] = []
    total = 0
    if whole.size:
        rows = lv.rows_of_leaves(whole)
        chunks.append(rows)
        total += int(rows.size)
    if edge.size:
        if isinstance(part, Circle):
            rows = circle_hits(lv, edge, part.lon, part.lat, part.reach_m)
        else:
            unfresh = None if before is None or observed is None else (before, observed)
            rows = polygon_hits(lv, part, edge, cells, unfresh)
        chunks.append(rows)
        total += int(rows.size)
    return chunks, total


class CirclePairs(NamedTuple):
    """Many circles' (circle, leaf) pairs, from :func:`circle_pairs`."""

    lon: FloatArray  # per circle
    lat: FloatArray
    reach: FloatArray
    centre: tuple[FloatArray, FloatArray, FloatArray]  # ECEF, per circle
    part: IntArray  # per pair: the circle
    leaf: IntArray  # per pair: the leaf
    near: FloatArray  # per pair: straight-line distance bounds, centre to the leaf's devices
    far: FloatArray


def circle_pairs(lv: Leaves, circles: list[Circle], grow_m: float = 0.0) -> CirclePairs | None:
    """Every (circle, leaf) pair whose leaf box meets the circle's window grown by ``grow_m``.

    None when there is none. Each pair carries the bounds of :func:`sphere_gaps`, for all
    circles in a few numpy passes (an area of thousands of circles is no Python loop).
    """
    if lv.count == 0 or not circles:
        return None
    windows = np.array([circle_window(c.lon, c.lat, c.reach_m + grow_m) for c in circles])
    part, leaf = lv.leaves_in_many(windows)
    if leaf.size == 0:
        return None
    lon = np.array([c.lon for c in circles])
    lat = np.array([c.lat for c in circles])
    cx, cy, cz = _geodesy.ecef(lon, lat)
    s = lv.sphere_rows.take(leaf, axis=0).T
    d = np.sqrt((s[0] - cx[part]) ** 2 + (s[1] - cy[part]) ** 2 + (s[2] - cz[part]) ** 2)
    reach = np.array([c.reach_m for c in circles])
    return CirclePairs(lon, lat, reach, (cx, cy, cz), part, leaf, d - s[3], d + s[3])


#: (circle, leaf) pairs :func:`circles_rows` tests at once.
PAIRS_PER_CHUNK = 2048


def circles_rows(
    lv: Leaves, circles: list[Circle], before: np.datetime64 | None = None
) -> I32Array:
    """Rows inside any of many circles (unsorted, with repeats), all circles at once.

    The same three steps as :func:`part_rows` (``before`` as there), vectorised over (circle,
    leaf) pairs, so an area of thousands of circles costs a few numpy passes over its pairs,
    not a Python loop per part.
    """
    pairs = circle_pairs(lv, circles)
    if pairs is None:
        return np.empty(0, dtype=np.int32)
    lon, lat, reach, part, leaf = pairs.lon, pairs.lat, pairs.reach, pairs.part, pairs.leaf
    near, far = pairs.near, pairs.far
    old = _older(lv, leaf, before)
    if old is not None:
        part, leaf, near, far = part[old], leaf[old], near[old], far[old]
    inner = far <= _geodesy.chord_inside(reach)[part]
    outer = near > _geodesy.chord_outside(reach)[part]
    whole = _sorted.unique(leaf[inner])
    chunks: list[I32Array] = []
    if whole.size:
        chunks.append(lv.rows_of_leaves(whole))
    # Straddling pairs whose leaf is not accepted whole anyway, a chunk of pairs at a time:
    # the (pairs × LEAF) temporaries stay a few megabytes, and the rows found, repeated where
    # circles overlap, are merged whenever they double (2,000 overlapping 1 km circles held
    # 101 MB for their 1,201 devices, all their pairs at once).
    edge = np.flatnonzero(~inner & ~outer)
    edge = edge[~_sorted.member(leaf[edge], whole)]
    found: list[I32Array] = []
    held = kept = 0
    for lo in range(0, edge.size, PAIRS_PER_CHUNK):
        e = edge[lo : lo + PAIRS_PER_CHUNK]
        p = part[e]
        rows = circle_hits(lv, leaf[e], lon[p], lat[p], reach[p])
        found.append(rows)
        held += int(rows.size)
        if held > 2 * kept + PAIRS_PER_CHUNK * LEAF:
            found = [_sorted.unique(np.concatenate(found))]
            held = kept = int(found[0].size)
    chunks.extend(found)
    if not chunks:
        return np.empty(0, dtype=np.int32)
    return np.concatenate(chunks)
