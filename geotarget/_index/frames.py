"""Private: a polygon's metric frame, and the tangent plane that bounds distances in it cheaply.

A polygon's margin, and the distance from a device to its boundary in ``classify``, are
measured in the polygon's azimuthal-equidistant frame (:func:`.polygons.frame`: every ring
densified to 0.001° and projected about the centre of its lon/lat bounds). Projecting with
PROJ costs ~0.7 µs a point, for the devices and for the densified boundary near them. The
tangent plane at the same centre (:func:`geotarget._geodesy.to_tangent`: ECEF and a rotation,
numpy only) measures the same distance within a proven factor (:func:`distance_bounds`), so
every device whose threshold lies outside that factor is decided without PROJ; only those
within millimetres of it (for a municipality) go to the frame itself.

* :func:`frame_scale`: the frame's worst-case scale error against geodesic distances;
* :func:`ring_edges`, :func:`local_edges`: the lon/lat edges, densified as the frame is, and
  projected into either frame;
* :func:`distance_bounds`: per point, bounds on its frame distance to the boundary;
* :func:`centre_bounds`: how near and how far the boundary lies from the frame's centre, which
  decides most devices of a compact polygon as a circle's are (by their distance to the
  centre alone).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import shapely

from geotarget import _geodesy, _geos
from geotarget._index.segments import (
    BAND_M,
    CHUNK_PAIRS,
    SegmentGrid,
    clip_to_boxes,
    nearest,
    segment_rows,
    typical,
)
from geotarget._validate import BoolArray, FloatArray

#: Lon/lat edges ``(ax, ay, bx, by)`` of a polygon's rings, or a subset of them.
Edges = tuple[FloatArray, FloatArray, FloatArray, FloatArray]

#: Largest ``theta`` (radians from the frame's centre) for which the tangent plane is used.
THETA_MAX = 0.1
#: Absolute slack, metres, of the tangent plane's bounds on the frame's distances (rounding).
PAD_M = 1e-3
#: Points × segments up to which :func:`distance_bounds` measures every pair (no bucketing):
#: about 130 µs at the bound against 330 µs for bucketing them (one chunk of
#: :func:`geotarget._index.segments.nearest`).
BRUTE_PAIRS = CHUNK_PAIRS
#: Densified boundary vertices up to which :func:`centre_bounds` measures the boundary.
CENTRE_DENSE = 1 << 12


def ring_edges(shape: Any, sizes: Sequence[int] | None = None) -> Edges:
    """The edges ``(ax, ay) → (bx, by)`` of every ring of a shapely polygon.

    Zero-length edges (a vertex repeated, as real CAP polygons and rounded boundaries have) are
    left out: each is a point its neighbouring edges already hold, and consumers that cut or
    densify edges one by one (GEOS refuses a line of two equal points) must never see one.
    ``sizes``: the closed rings' vertex counts, exterior first, when known (the polygon's
    coordinates are then read at once, without a GEOS copy of each ring).
    """
    ends: npt.NDArray[np.intp] | None
    if sizes is None:
        xy, ring = shapely.get_coordinates(shapely.get_rings(shape), return_index=True)
        ends = np.flatnonzero(ring[1:] != ring[:-1])
    else:
        xy = shapely.get_coordinates(shape)
        assert sum(sizes) == xy.shape[0], "the rings' sizes are the polygon's own"
        ends = np.cumsum(sizes[:-1], dtype=np.intp) - 1 if len(sizes) > 1 else None
    # On the coordinate columns (one pass each): a mask over the rows of ``xy`` and boolean
    # indexing of its pairs cost three times as much for a municipality's thousand vertices.
    x, y = xy[:, 0], xy[:, 1]
    keep = x[1:] != x[:-1]
    keep |= y[1:] != y[:-1]
    if ends is not None:
        keep[ends] = False  # from one ring's last vertex to the next ring's first: no edge
    start = np.flatnonzero(keep)
    end = start + 1
    return x.take(start), y.take(start), x.take(end), y.take(end)


def frame_rho(shape: Any) -> float:
    """At least the geodesic metres from a polygon's frame centre to its bounds' corners.

    An upper bound from the straight-line distances (:func:`geotarget._geodesy.chord_bounds`:
    the arc on a sphere of the ellipsoid's smallest radius of curvature), in plain Python: a
    ``Geod.inv`` of the four corners cost ten times as much, for a number only ever used as a
    bound (:func:`frame_scale`).
    """
    west, south, east, north = (float(v) for v in shape.bounds)
    x0, y0, z0 = _geodesy.ecef((west + east) / 2.0, (south + north) / 2.0)
    chord = 0.0
    for lat in (south, north):  # an east corner is as far as its west one (symmetry)
        x, y, z = _geodesy.ecef(west, lat)
        chord = max(chord, math.sqrt((x - x0) ** 2 + (y - y0) ** 2 + (z - z0) ** 2))
    return float(_geodesy.chord_bounds(np.array(chord))[1])


def frame_scale(shape: Any, reach_m: float, rho: float | None = None) -> float:
    """Relative worst-case scale error, with a safety factor, of a polygon's metric frame.

    Distances in the polygon's azimuthal-equidistant frame (:attr:`Polygon.margin_error_bound_m`)
    between points within ``reach_m`` of the polygon are within this factor of geodesic ones.
    It is ``2 * theta**2 + 1e-6``, ``theta`` the angle (``rho / R_MIN``) from the frame's centre
    to the farthest such point. ``rho``: :func:`frame_rho` of ``shape``, when already known.
    """
    if rho is None:
        rho = frame_rho(shape)
    return 2.0 * ((rho + reach_m) / _geodesy.R_MIN) ** 2 + 1e-6


def applies(scale: float) -> bool:
    """Whether the tangent plane bounds a frame of this ``scale`` (``1 + frame_scale(...)``)."""
    theta2 = max(scale - 1.0 - 1e-6, 0.0) / 2.0
    return theta2 <= THETA_MAX**2


def dense_vertices(edges: Edges, step_deg: float) -> float:
    """How many vertices the edges have once densified to ``step_deg`` (about)."""
    ax, ay, bx, by = edges
    return float(np.ceil(np.hypot(bx - ax, by - ay) / step_deg).sum())


#: What :func:`dense_starts` returns: the pieces' start longitudes and latitudes, and which
#: piece is the last of its edge.
Dense = tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]


def dense_starts(edges: Edges, step_deg: float) -> Dense:
    """Where each piece of the edges densified to ``step_deg`` starts, and which pieces end one.

    The vertices GEOS's densifier (``shapely.segmentize``) puts on each edge on its own, bit
    for bit: an edge of length ``len > step_deg`` is cut into ``n = ceil(len / step_deg)``
    pieces, the ``j``-th starting at ``a + (j * (len / n)) / len * (b - a)``; a shorter edge is
    one piece. Numpy only (a few passes over the pieces), no GEOS geometry per edge. Returns the
    pieces' start coordinates, in edge order, and a mask of the last piece of each edge.
    """
    ax, ay, bx, by = edges
    dx, dy = bx - ax, by - ay
    length, n = piece_counts(edges, step_deg)
    k = n.astype(np.intp)
    edge = np.repeat(np.arange(k.size), k)
    j = np.arange(edge.size) - np.repeat(np.cumsum(k) - k, k)
    span = length[edge]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (j * (span / n[edge])) / span
    frac[j == 0] = 0.0
    x = ax[edge] + frac * dx[edge]
    y = ay[edge] + frac * dy[edge]
    last = np.ones(edge.size, dtype=np.bool_)
    last[:-1] = edge[1:] != edge[:-1]
    return x, y, last


def piece_counts(edges: Edges, step_deg: float) -> tuple[FloatArray, FloatArray]:
    """Per edge, its length and how many pieces :func:`dense_starts` cuts it into (as floats)."""
    ax, ay, bx, by = edges
    dx, dy = bx - ax, by - ay
    length = np.sqrt(dx * dx + dy * dy)
    return length, np.where(length > step_deg, np.ceil(length / step_deg), 1.0)


def dense_runs(
    edges: Edges, step_deg: float, edge: npt.NDArray[np.intp], first: FloatArray, last: FloatArray
) -> tuple[Edges, Dense]:
    """Some of the pieces :func:`dense_starts` cuts ``edges`` into: runs of consecutive pieces.

    Run ``i`` is the pieces ``first[i]`` to ``last[i]`` (whole numbers, clipped to the edge's
    pieces) of edge ``edge[i]``; runs must not overlap. Returns the runs as edges (each from its
    first piece's start to its last piece's end) and their pieces as :func:`dense_starts` gives
    them (each run's last piece marked): :func:`local_edges` of the two is the frame's segments
    of those pieces, bit for bit (the same formula, on the same values).
    """
    ax, ay, bx, by = edges
    length, n = piece_counts(edges, step_deg)
    nr = n[edge]
    j0 = np.clip(first, 0.0, nr - 1.0).astype(np.intp)
    j1 = np.clip(last, 0.0, nr - 1.0).astype(np.intp)
    count = j1 - j0 + 1
    piece_edge = np.repeat(edge, count)
    j = np.arange(piece_edge.size) - np.repeat(np.cumsum(count) - count, count)
    j += np.repeat(j0, count)

    def starts(e: npt.NDArray[np.intp], k: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        span = length[e]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = (k * (span / n[e])) / span
        frac[k == 0] = 0.0
        return ax[e] + frac * (bx[e] - ax[e]), ay[e] + frac * (by[e] - ay[e])

    x, y = starts(piece_edge, j)
    ends = np.cumsum(count) - 1
    is_last = np.zeros(piece_edge.size, dtype=np.bool_)
    is_last[ends] = True
    # A run's end: its edge's end after the edge's last piece, else the next piece's start.
    ex, ey = starts(edge, j1 + 1)
    done = j1 + 1 >= nr
    ex[done], ey[done] = bx[edge[done]], by[edge[done]]
    return (x[count.cumsum() - count], y[count.cumsum() - count], ex, ey), (x, y, is_last)


class Cut(NamedTuple):
    """Edges cut into segments: each segment's ends and its stretch ``[t0, t1]`` of its edge."""

    ax: FloatArray
    ay: FloatArray
    bx: FloatArray
    by: FloatArray
    edge: npt.NDArray[np.intp]
    t0: FloatArray
    t1: FloatArray


def pieces_near_boxes(
    edges: Edges,
    step_deg: float,
    segments: Cut,
    boxes: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    pairs_budget: int,
    pieces_budget: int,
    tree: Any = None,
) -> tuple[tuple[Edges, Dense] | None, BoolArray | None]:
    """The pieces of the densified edges (:func:`dense_starts`) that may meet one of the boxes.

    ``segments``: the edges cut short (at most a few box widths long, or as few as a budget
    allows), each with its stretch of its edge; ``boxes``: ``(west, south, east, north)``
    arrays. Every piece meeting a box is included: the segments whose bounding box meets a
    box are looked up in an R-tree of them (``tree``, :func:`edge_tree` of the segments, when
    already built), a growing number of boxes at a time, and each pair's stretch inside the
    box found by clipping; the runs of pieces those stretches cover, merged per edge, are
    returned as :func:`dense_runs` (None when the pieces number more than ``pieces_budget``:
    boxes reaching over much of a long boundary), with, per box, whether a segment may meet
    it (None when the (box, segment) pairs number more than ``pairs_budget``: nothing is
    known), so the cost is bounded by the boxes, the segments and the budgets. A box is
    padded by 1e-12° before it is clipped against (far beyond the rounding of the clipping
    and of the segments' interpolated ends), so a "no" is never wrong.
    """
    west, south = boxes[0] - _PAD, boxes[1] - _PAD
    east, north = boxes[2] + _PAD, boxes[3] + _PAD
    sax, say, sbx, sby, edge, t0, t1 = segments
    n = piece_counts(edges, step_deg)[1]
    stride = float(n.max(initial=1.0)) + 2.0  # (edge, piece) as one number: edge * stride + piece
    if tree is None:
        tree = edge_tree((sax, say, sbx, sby))
    shapes = shapely.box(west, south, east, north)
    runs = (np.empty(0, dtype=np.intp), np.empty(0), np.empty(0))
    found: list[tuple[npt.NDArray[np.intp], FloatArray, FloatArray]] = []
    meets = np.zeros(shapes.size, dtype=np.bool_)
    pairs = held = 0
    start, step = 0, 16
    too_many = False
    while start < shapes.size:
        b, g = tree.query(shapes[start : start + step])
        pairs += b.size
        if pairs > pairs_budget:
            return None, None
        b += start
        lo, hi = clip_to_boxes(sax[g], say[g], sbx[g], sby[g], west[b], south[b], east[b], north[b])
        keep = lo <= hi
        meets[b[keep]] = True
        per_box = max(pairs / (start + step), 1.0)
        start += step
        step = max(1, min(4 * step, int(_CLIP_CHUNK / per_box)))
        if too_many:  # (the pieces: past their budget; the boxes: still looked at)
            continue
        g, lo, hi = g[keep], lo[keep], hi[keep]
        span = t1[g] - t0[g]
        found.append(_stretch_runs(edge[g], t0[g] + lo * span, t0[g] + hi * span, n))
        held += g.size
        if held > 2 * runs[0].size + _CLIP_CHUNK or start >= shapes.size:
            runs = _merged(runs, found, stride)
            found, held = [], runs[0].size
            too_many = float((runs[2] - runs[1]).sum()) + runs[0].size > pieces_budget
    if too_many:
        return None, meets
    return dense_runs(edges, step_deg, *runs), meets


def _stretch_runs(
    e: npt.NDArray[np.intp], lo: FloatArray, hi: FloatArray, n: FloatArray
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray]:
    """The runs ``(edge, first, last)`` of pieces covering stretches ``[lo, hi]`` of edges ``e``.

    Piece ``j`` of an edge cut into ``n`` spans about ``[j / n, (j + 1) / n]`` of it (to ~1e-15:
    the widening is far beyond the rounding of the pieces' ends and of the stretches').
    """
    first = np.clip(np.floor(lo * n[e] - _ROUND_PIECES), 0.0, n[e] - 1.0)
    last = np.clip(np.floor(hi * n[e] + _ROUND_PIECES), first, n[e] - 1.0)
    return e, first, last


def edge_tree(edges: Edges) -> Any:
    """An R-tree (``shapely.STRtree``) of edges as line segments, in their order."""
    ax, ay, bx, by = edges
    lines: npt.NDArray[np.object_] = shapely.linestrings(  # type: ignore[assignment]
        np.stack([np.c_[ax, ay], np.c_[bx, by]], axis=1)
    )
    return shapely.STRtree(lines)


def _merged(
    runs: tuple[npt.NDArray[np.intp], FloatArray, FloatArray],
    more: list[tuple[npt.NDArray[np.intp], FloatArray, FloatArray]],
    stride: float,
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray]:
    """Runs ``(edge, first, last)`` of pieces, with more, merged where they overlap or touch.

    Sorted by (edge, first), a run starts where its first piece lies beyond the furthest last
    piece of its edge's runs before it (``edge * stride + piece`` orders them as one number).
    """
    edge = np.concatenate([runs[0], *(m[0] for m in more)])
    first = np.concatenate([runs[1], *(m[1] for m in more)])
    last = np.concatenate([runs[2], *(m[2] for m in more)])
    if edge.size == 0:
        return edge, first, last
    order = np.lexsort((first, edge))
    edge, first, last = edge[order], first[order], last[order]
    base = edge * stride
    reach = np.maximum.accumulate(base + last)
    new = np.ones(edge.size, dtype=np.bool_)
    new[1:] = base[1:] + first[1:] > reach[:-1] + 1.0
    head = np.flatnonzero(new)
    tail = np.r_[head[1:], edge.size] - 1
    return edge[head], first[head], reach[tail] - base[head]


#: Padding, degrees, of the boxes :func:`pieces_near_boxes` clips segments to.
_PAD = 1e-12
#: Widening, in pieces, of the stretch of an edge a box holds (:func:`pieces_near_boxes`).
_ROUND_PIECES = 1e-6
#: (box, edge) pairs :func:`pieces_near_boxes` clips at once.
_CLIP_CHUNK = 1 << 16


def pieces_in_boxes(
    near: Edges, dense: Dense, boxes: tuple[FloatArray, FloatArray, FloatArray, FloatArray]
) -> tuple[Edges, Dense]:
    """The pieces of ``near`` (its ``dense``, as :func:`dense_runs` gives them) near the boxes.

    Those that may meet one of the boxes ``(west, south, east, north)``, each as a run of its
    own (the same ends, bit for bit): every (piece, box) pair compared when there are at most
    :data:`BRUTE_BOX_PAIRS`, else the pieces bucketed (:meth:`SegmentGrid.segments_meeting`;
    all of them when that cannot tell).
    """
    x, y, last = dense
    ex, ey = np.empty_like(x), np.empty_like(y)
    ex[:-1], ey[:-1] = x[1:], y[1:]
    ex[last], ey[last] = near[2], near[3]  # a run's last piece ends at its end
    if x.size * boxes[0].size <= BRUTE_BOX_PAIRS:
        lo_x, hi_x = np.minimum(x, ex), np.maximum(x, ex)
        lo_y, hi_y = np.minimum(y, ey), np.maximum(y, ey)
        keep = np.zeros(x.size, dtype=np.bool_)
        for w, s, e, n in zip(*boxes, strict=True):
            keep |= (lo_x <= e) & (hi_x >= w) & (lo_y <= n) & (hi_y >= s)
        k = np.flatnonzero(keep)
    else:
        width = float(np.maximum(boxes[2] - boxes[0], boxes[3] - boxes[1]).max())
        met = SegmentGrid(x, y, ex, ey, width).segments_meeting(*boxes)  # (no box is wide)
        if met is None:
            return near, dense
        k = met
    return (x[k], y[k], ex[k], ey[k]), (x[k], y[k], np.ones(k.size, dtype=np.bool_))


#: (piece, box) pairs up to which :func:`pieces_in_boxes` compares each piece with each box.
BRUTE_BOX_PAIRS = 1 << 24


def local_edges(
    lon0: float,
    lat0: float,
    near: Edges,
    step_deg: float,
    project: Callable[[float, float, FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    dense: Dense | None = None,
) -> Edges:
    """The frame's segments that come from the polygon's lon/lat edges ``near``.

    Each edge densified on its own to ``step_deg`` (:func:`dense_starts`) and projected by
    ``project`` (:func:`geotarget._geodesy.to_aeqd` or :func:`~geotarget._geodesy.to_tangent`),
    exactly as :func:`.polygons.frame` densifies and projects the whole boundary: the same
    vertices. ``dense``: ``dense_starts(near, step_deg)``, when already known.
    """
    x, y, last = dense_starts(near, step_deg) if dense is None else dense
    p = x.size
    mx, my = project(lon0, lat0, np.concatenate([x, near[2]]), np.concatenate([y, near[3]]))
    sx, sy = mx[:p], my[:p]
    ex, ey = np.empty(p), np.empty(p)
    ex[:-1], ey[:-1] = sx[1:], sy[1:]
    ex[last], ey[last] = mx[p:], my[p:]  # an edge's last piece ends at its end
    return sx, sy, ex, ey


def distance_bounds(
    lon0: float,
    lat0: float,
    scale: float,
    near: Edges,
    step_deg: float,
    x: FloatArray,
    y: FloatArray,
    limit: FloatArray,
    segments: Edges | None = None,
    tangent: tuple[FloatArray, FloatArray] | None = None,
    rows: FloatArray | None = None,
    dense: Dense | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Per point, ``lo <= d <= hi``: its distance ``d`` to the boundary in the metric frame.

    ``near``: the lon/lat edges every boundary point within ``limit`` of a point lies on (all
    of them, or those a conservative screen found). The bounds are tight (millimetres for a
    municipality) wherever ``d`` is near ``limit``; beyond it only ``lo > limit`` is known.
    Only for frames :func:`applies` to.

    The distance ``d_t`` in the tangent plane at the frame's centre bounds ``d``: both frames
    are within a factor of geodesic distances (``scale`` for the frame, :func:`frame_scale`;
    the plane's ``1 / (1 - theta**2)`` is within ``2 * scale - 1``: a chord between two points
    within ``theta`` of the centre leans out of the plane by at most ``theta``), so the map
    between them is ``K``-bi-Lipschitz with ``K = scale * (2 * scale - 1)``, and it bends a
    densified segment of length ``L`` by at most ``L**2 / R_MIN`` (its second derivative is
    far below ``8 / R_MIN``). Hence ``d_t / K - delta <= d <= K * d_t + delta`` with ``delta =
    L**2 / R_MIN + PAD_M``, ``d_t`` itself exact to :data:`BAND_M`
    (:meth:`SegmentGrid.distance`). A point whose grid box is too wide gets ``(-inf, inf)``.
    ``segments``: ``near`` already densified and projected onto the tangent plane (their
    :func:`local_edges` with :func:`geotarget._geodesy.to_tangent`), when known; ``tangent``
    the points' own coordinates on the plane, when known (the frame's centre is its origin);
    ``rows`` the segments' :func:`~geotarget._index.segments.segment_rows`, when known;
    ``dense``: only these pieces of ``near`` (:func:`dense_runs`), not all of them.
    """
    k = scale * (2.0 * scale - 1.0)
    if segments is None:
        segments = local_edges(lon0, lat0, near, step_deg, _geodesy.to_tangent, dense)
    ax, ay, bx, by = segments
    longest2 = float(np.max((bx - ax) ** 2 + (by - ay) ** 2, initial=0.0))
    delta = longest2 / _geodesy.R_MIN + PAD_M
    tx, ty = _geodesy.to_tangent(lon0, lat0, x, y) if tangent is None else tangent
    # Exact (to BAND_M) whenever d_t <= reach; larger than reach, or inf, otherwise.
    reach = k * (limit + delta) + 2.0 * BAND_M
    if 0 < tx.size * ax.size <= BRUTE_PAIRS:
        if rows is None:
            rows = segment_rows(ax, ay, bx, by)
        d_t = nearest(rows, tx, ty)  # few pairs: every one, exact
    else:
        grid = SegmentGrid(ax, ay, bx, by, 2.0 * typical(limit))
        d_t = grid.distance(tx, ty, reach)
    unknown = np.isnan(d_t)
    hi = k * (d_t + BAND_M) + delta
    lo = (np.minimum(d_t, reach) - BAND_M) / k - delta
    hi[unknown] = np.inf
    lo[unknown] = -np.inf
    return lo, hi


def centre_bounds(
    shape: Any,
    edges: Edges,
    lon0: float,
    lat0: float,
    step_deg: float,
    segments: Callable[[], Edges],
    dense: Callable[[], Dense] | None = None,
    rho: float | None = None,
    rows: Callable[[], FloatArray] | None = None,
) -> tuple[float, float] | None:
    """``(inner, outer)``: metres from the frame's centre to a polygon's metric boundary.

    The frame is azimuthal-equidistant about ``(lon0, lat0)``, so a point's frame distance
    from the centre is its geodesic distance from it (PROJ's to micrometres; :data:`PAD_M`
    covers that). Every point of the metric polygon (the rings densified to ``step_deg``,
    projected, straight between vertices) lies within ``outer`` of the centre: a segment's
    farthest point from the origin is one of its ends, so the densified vertices' largest
    distance, bounded above through their chord (:func:`geotarget._geodesy.chord_bounds`),
    bounds it. When the centre lies in the lon/lat
    polygon, no point of the metric boundary lies within ``inner`` of it (the tangent plane's
    lower bound, :func:`distance_bounds`, on the centre's distance to the boundary); else
    ``inner`` is ``-inf``. A point ``p`` at geodesic distance ``d`` from the centre is then
    within ``max(0, d - inner)`` of the metric polygon and at least ``d - outer`` from it, and
    at least ``inner - d`` from its boundary (triangle inequality in the frame).

    ``edges``: the polygon's :func:`ring_edges`; ``segments()`` gives them densified and
    projected onto the tangent plane (:func:`local_edges`), ``rows()`` those segments'
    :func:`~geotarget._index.segments.segment_rows` and ``dense()`` the edges'
    :func:`dense_starts` (each called only for a polygon the bounds are made for); ``rho``:
    the polygon's :func:`frame_rho`, when known. The centre is the
    tangent plane's origin: its distance to the segments needs no projection. None when the
    densified boundary has more than :data:`CENTRE_DENSE` vertices or the tangent plane does
    not apply (:func:`applies`): the bounds then cost more than they decide.
    """
    if dense_vertices(edges, step_deg) > CENTRE_DENSE:
        return None
    scale = 1.0 + frame_scale(shape, 0.0, rho)
    if not applies(scale):
        return None
    x, y, _ = dense_starts(edges, step_deg) if dense is None else dense()  # every vertex
    cx, cy, cz = _geodesy.ecef(lon0, lat0)
    vx, vy, vz = _geodesy.ecef(x, y)
    chord2 = (vx - cx) ** 2 + (vy - cy) ** 2 + (vz - cz) ** 2
    # PROJ's frame distance from its centre agrees with the geodesic one to micrometres.
    outer = float(_geodesy.chord_bounds(np.sqrt(chord2.max(initial=0.0)))[1]) + PAD_M
    inner = -math.inf
    if _geos.intersects_xy(shape, np.array([lon0]), np.array([lat0]))[0]:
        one = np.array([lon0]), np.array([lat0])
        # One point against at most CENTRE_DENSE segments: every pair, exact (no reach).
        origin = np.zeros(1), np.zeros(1)
        lo, _ = distance_bounds(
            lon0,
            lat0,
            scale,
            edges,
            step_deg,
            *one,
            np.array([np.inf]),
            segments(),
            origin,
            None if rows is None else rows(),
        )
        inner = float(lo[0])
    return inner, outer
