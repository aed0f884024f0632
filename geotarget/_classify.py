"""Private: classify devices against an area under a :class:`~geotarget.LocationRule`.

The definition (:meth:`geotarget.PositionIndex.classify`), per part, for a current fix ``p``
with disk radius ``r = rule.accuracy * accuracy_m``:

* **Circle** (centre ``c``, reach ``R`` = radius + margin, ``d`` = ``Geod.inv`` distance):
  the part holds the disk iff ``d + r <= R``; the disk meets it iff ``d <= R + r``.
* **Polygon** ``P`` with margin ``m``, distances measured in the polygon's metric frame
  (:meth:`Polygon._frame`, as the margin itself is): if ``p`` is in ``P`` (lon/lat, exact), the
  part holds the disk iff ``r <= m`` or ``p`` is *not* within ``r - m`` of ``P``'s boundary; if
  not, iff ``r <= m`` and ``p`` is within ``m - r`` of ``P``. The disk meets the part iff ``p``
  is in the part (:meth:`Polygon.contains`) or within ``m + r`` of ``P``.
* With ``r == 0`` the part holds, and meets, the disk iff it contains the point, exactly as
  ``query`` (so an exact fix is never AMBIGUOUS).

Most devices are decided without distances: a leaf (or device) whose box, grown by its largest
disk radius, meets only INSIDE cells of the part's raster holds all its disks; one meeting only
OUTSIDE cells holds none. Growth is conservative in degrees (meridional radius ``>= R_MIN``,
parallel radius ``>= A cos(lat_far)``) and, for polygons, by the metric frame's worst scale
error too, so the shortcuts never disagree with the definition.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely

from geotarget import _geodesy, _raster
from geotarget._validate import BoolArray, FloatArray
from geotarget.areas import Area, Circle, Polygon
from geotarget.positions import Location, LocationRule, _at, _current_mask

if TYPE_CHECKING:  # pragma: no cover
    from geotarget.matcher import PositionIndex

I32Array = npt.NDArray[np.int32]
I8Array = npt.NDArray[np.int8]
IntArray = npt.NDArray[np.intp]

_CELLS = 512
# shapely broadcasts an array of distances; its type stubs only declare a scalar.
_dwithin: Any = shapely.dwithin
_HOLDS = 2  # rank of "a part holds the disk" (INSIDE)
_MEETS = 1  # rank of "the disk meets the area" (AMBIGUOUS)


# ---------------------------------------------------------------------------------------------
# Growing boxes by metres, conservatively in degrees
# ---------------------------------------------------------------------------------------------


def _grown(
    west: FloatArray, south: FloatArray, east: FloatArray, north: FloatArray, r: FloatArray
) -> tuple[FloatArray, BoolArray]:
    """Grow boxes by ``r`` metres; also flag boxes reaching a pole or the antimeridian.

    Returns the boxes in stored form (west, south, -east, -north) and the mask of boxes whose
    shortcuts must not be trusted.
    """
    dlat = np.degrees(r / _geodesy.R_MIN) * (1.0 + 1e-9) + 1e-12
    s = south - dlat
    n = north + dlat
    far = np.minimum(np.maximum(np.abs(s), np.abs(n)), 89.999)
    dlon = np.degrees(r / (_geodesy.A * np.cos(np.radians(far)))) * (1.0 + 1e-9) + 1e-12
    w = west - dlon
    e = east + dlon
    wild = (s <= -89.999) | (n >= 89.999) | (w < -180.0) | (e > 180.0)
    return np.stack([w, s, -e, -n]), wild


def _frame_scale(part: Polygon) -> float:
    """Relative worst-case scale error of the polygon's metric frame, with a safety factor."""
    west, south, east, north = part.shape.bounds
    lon0 = (west + east) / 2.0
    lat0 = (south + north) / 2.0
    rho = float(
        _geodesy.geodesic_distance(
            lon0, lat0, np.array([west, east, west, east]), np.array([south, south, north, north])
        ).max()
    )
    return 2.0 * (rho / _geodesy.R_MIN) ** 2 + 1e-6


# Metric boundary of each polygon, prepared, cached per polygon object.
_boundaries: dict[int, tuple[weakref.ref[Any], Any]] = {}
_lock = threading.Lock()


def _metric_boundary(part: Polygon) -> Any:
    hit = _boundaries.get(id(part))
    if hit is not None and hit[0]() is part:
        return hit[1]
    _, _, metric = part._frame()
    boundary = shapely.boundary(metric)
    shapely.prepare(boundary)
    key = id(part)

    def drop(_: object) -> None:
        with _lock:
            entry = _boundaries.get(key)
            if entry is not None and entry[0]() is None:
                del _boundaries[key]

    with _lock:
        _boundaries[key] = (weakref.ref(part, drop), boundary)
    return boundary


# ---------------------------------------------------------------------------------------------
# Exact per-device ranks
# ---------------------------------------------------------------------------------------------


def _circle_ranks(part: Circle, x: FloatArray, y: FloatArray, r: FloatArray) -> npt.NDArray[Any]:
    reach = part.reach_m
    px, py, pz = _geodesy.ecef(x, y)
    cx, cy, cz = (float(v[0]) for v in _geodesy.ecef(np.array([part.lon]), np.array([part.lat])))
    chord = np.sqrt((px - cx) ** 2 + (py - cy) ** 2 + (pz - cz) ** 2)
    lo, hi = _geodesy.chord_bounds(chord)
    outer = reach + r
    holds = hi + r <= reach
    meets = hi <= outer
    unsure = (~holds & (lo + r <= reach)) | (~meets & (lo <= outer))
    band = np.flatnonzero(unsure)
    if band.size:
        d = _geodesy.geodesic_distance(part.lon, part.lat, x[band], y[band])
        holds[band] = d + r[band] <= reach
        meets[band] = d <= outer[band]
    return np.where(holds, _HOLDS, np.where(meets, _MEETS, 0))


def _polygon_ranks(part: Polygon, x: FloatArray, y: FloatArray, r: FloatArray) -> npt.NDArray[Any]:
    m = part.margin_m
    in_poly = np.asarray(shapely.intersects_xy(part.shape, x, y), dtype=np.bool_)
    contained = part._contains_valid(x, y) if m > 0.0 else in_poly
    lon0, lat0, metric = part._frame()
    mx, my = _geodesy.to_aeqd(lon0, lat0, x, y)
    pts: Any = shapely.points(np.asarray(mx), np.asarray(my))
    holds = contained & (r == 0.0)
    # In the polygon: holds iff r <= m or not within r - m of the boundary.
    sel = np.flatnonzero(in_poly & (r > 0.0))
    if sel.size:
        easy = r[sel] <= m
        far = ~np.asarray(_dwithin(_metric_boundary(part), pts[sel], r[sel] - m), dtype=np.bool_)
        holds[sel] = easy | far
    # Outside the polygon (in the margin band at most): holds iff r <= m and within m - r.
    sel = np.flatnonzero(~in_poly & (r > 0.0) & (r <= m))
    if sel.size:
        holds[sel] = np.asarray(_dwithin(metric, pts[sel], m - r[sel]), dtype=np.bool_)
    meets = contained.copy()
    sel = np.flatnonzero(~contained & (r > 0.0))
    if sel.size:
        meets[sel] = np.asarray(_dwithin(metric, pts[sel], m + r[sel]), dtype=np.bool_)
    return np.where(holds, _HOLDS, np.where(meets, _MEETS, 0))


def exact_ranks(
    part: Circle | Polygon, x: FloatArray, y: FloatArray, r: FloatArray
) -> npt.NDArray[Any]:
    """Per device: 2 if the part holds its disk, 1 if the disk only meets it, else 0."""
    if isinstance(part, Circle):
        return _circle_ranks(part, x, y, r)
    return _polygon_ranks(part, x, y, r)


# ---------------------------------------------------------------------------------------------
# Per part, with raster shortcuts
# ---------------------------------------------------------------------------------------------


def _part_ranks(
    index: PositionIndex, part: Circle | Polygon, factor: float
) -> tuple[I32Array, npt.NDArray[Any]]:
    """Rows (any order) whose disk meets the part, and their rank (1 or 2)."""
    lv = index._leaves
    empty = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int8))
    if lv.count == 0:
        return empty
    acc = index.positions.accuracy_m
    r_all = factor * float(lv.acc_max.max())
    scale = 1.0 if isinstance(part, Circle) else 1.0 + _frame_scale(part)
    pad = 0.0 if isinstance(part, Circle) else 0.002
    west, south, east, north = part._window()
    box, wild = _grown(
        np.array([west]),
        np.array([south]),
        np.array([east]),
        np.array([north]),
        np.array([r_all * scale + pad]),
    )
    if wild[0]:
        w, s, e, n = -180.0, -90.0, 180.0, 90.0
    else:
        w, s, e, n = float(box[0, 0]), float(box[1, 0]), float(-box[2, 0]), float(-box[3, 0])
    leaves, lboxes = lv.leaves_in(w, s, e, n)
    if leaves.size == 0:
        return empty
    ras = _raster.raster(part, _CELLS)
    grow = factor * lv.acc_max[leaves] * scale + pad
    gboxes, gwild = _grown(lboxes[0], lboxes[1], -lboxes[2], -lboxes[3], grow)
    not_in, not_out = ras.box_counts(gboxes)
    not_out[gwild] = 1
    rows_out: list[I32Array] = []
    ranks_out: list[npt.NDArray[Any]] = []
    whole = leaves[not_in == 0]
    if whole.size:
        starts, ends = lv.runs(whole)
        rows = lv.rows_of_runs(starts, ends)
        rows_out.append(rows)
        ranks_out.append(np.full(rows.size, _HOLDS, dtype=np.int8))
    edge = leaves[(not_in != 0) & (not_out != 0)]
    if edge.size:
        slots = lv.slots_of(edge)
        x = lv.xs[slots]
        y = lv.ys[slots]
        rows = lv.perm[slots]
        r = factor * acc[rows]
        pboxes, pwild = _grown(x, y, x, y, r * scale + pad)
        p_in, p_out = ras.box_counts(pboxes)
        p_out[pwild] = 1
        rank = np.where(p_in == 0, _HOLDS, 0).astype(np.int8)
        todo = np.flatnonzero((p_in != 0) & (p_out != 0))
        if todo.size:
            rank[todo] = exact_ranks(part, x[todo], y[todo], r[todo])
        keep = rank > 0
        rows_out.append(rows[keep])
        ranks_out.append(rank[keep])
    if not rows_out:
        return empty
    return np.concatenate(rows_out), np.concatenate(ranks_out)


def classify(
    index: PositionIndex, area: Area, rule: LocationRule, at: dt.datetime
) -> tuple[I32Array, I8Array]:
    """See :meth:`geotarget.PositionIndex.classify`."""
    _at(at)  # validate even when the rule has no max_age
    current = _current_mask(index.positions, rule, at)
    rows_list: list[I32Array] = []
    rank_list: list[npt.NDArray[Any]] = []
    for part in area.parts:
        rows, ranks = _part_ranks(index, part, rule.accuracy)
        rows_list.append(rows)
        rank_list.append(ranks)
    rows = np.concatenate(rows_list).astype(np.int32)
    ranks = np.concatenate(rank_list).astype(np.int8)
    live = current[rows]
    rows, ranks = rows[live], ranks[live]
    if len(area.parts) > 1 and rows.size:
        order = np.lexsort((-ranks, rows))
        rows, ranks = rows[order], ranks[order]
        first = np.ones(rows.size, dtype=np.bool_)
        first[1:] = rows[1:] != rows[:-1]
        rows, ranks = rows[first], ranks[first]
    states = np.where(ranks == _HOLDS, Location.INSIDE, Location.AMBIGUOUS).astype(np.int8)
    unknown = np.flatnonzero(~current).astype(np.int32)
    all_rows = np.concatenate([rows, unknown])
    all_states = np.concatenate([states, np.full(unknown.size, Location.UNKNOWN, np.int8)])
    order = np.argsort(all_rows, kind="stable")
    return all_rows[order], all_states[order]
