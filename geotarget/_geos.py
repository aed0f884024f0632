"""GEOS predicates on geometries that threads share.

A :class:`~geotarget.targeting.Targeter` is shared by a service's worker threads, and so are the
geometries it holds: the regions, the plans cached by area and the areas inside them. GEOS's
prepared geometries are not thread-safe (libgeos/geos#825): a prepared polygon builds its point
locator, and that locator's index, lazily inside a query, and keeps per-call state in its
polygon-against-polygon predicates. Shapely releases the GIL around those queries, so two
threads asking about one geometry at once corrupt the heap. (Seen under the reference service's
load benchmark as ``corrupted size vs. prev_size``; reproduced with shapely 2.2 / GEOS 3.14 by
eight threads making the first ``intersects_xy`` of one freshly prepared polygon, with or
without a one-point warm-up: ``tests/test_threads.py``.)

So every predicate geotarget runs on a geometry that may be shared goes through this module,
under one lock. The lock is taken once per vectorized call (per area part or per batch, never per
device), so a single thread pays ~0.1 µs a call; concurrent threads take turns inside GEOS for
these predicates and run everything else (numpy, the R-tree walk, ``Geod.inv``, the ledger) in
parallel.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

#: Held around every GEOS predicate on a geometry that threads may share.
LOCK = threading.Lock()


def intersects_xy(geom: Any, x: Any, y: Any) -> Any:
    """``shapely.intersects_xy`` under :data:`LOCK`."""
    with LOCK:
        return shapely.intersects_xy(geom, x, y)


def contains_xy(geom: Any, x: Any, y: Any) -> Any:
    """``shapely.contains_xy`` under :data:`LOCK`."""
    with LOCK:
        return shapely.contains_xy(geom, x, y)


def intersects(a: Any, b: Any) -> Any:
    """``shapely.intersects`` under :data:`LOCK`."""
    with LOCK:
        return shapely.intersects(a, b)


def covers(a: Any, b: Any) -> npt.NDArray[np.bool_]:
    """``shapely.covers`` under :data:`LOCK`, as an array of bool."""
    with LOCK:
        return np.asarray(shapely.covers(a, b), dtype=np.bool_)


def relate_pattern(a: Any, b: Any, pattern: str) -> npt.NDArray[np.bool_]:
    """``shapely.relate_pattern`` under :data:`LOCK`."""
    with LOCK:
        return np.asarray(shapely.relate_pattern(a, b, pattern), dtype=np.bool_)


#: The most points where a polygon's edges may meet (cross or touch) for geotarget to let GEOS
#: ``make_valid`` repair it (:meth:`Polygon.repair <geotarget.areas.Polygon.repair>`, a CAP
#: polygon, ``RegionSet.from_geojson(repair=True)``). The repair's time and memory grow with
#: those points, and a ring of ``n`` random vertices has about ``n**2 / 10`` of them (3,000
#: vertices: a million, 55 s and 2.4 GB to repair). A drawn bow-tie or a ring traced twice has a
#: handful; 10,000 repair in about 0.3 s.
MAX_CROSSINGS = 10_000
#: The most such points all the polygons of one CAP document may have together: the limit of
#: one polygon, so that reading a document costs at most about what repairing one polygon at
#: :data:`MAX_CROSSINGS` does, whatever the number of its polygons (twenty polygons just under
#: the limit took 4 s). The edge pairs examined are bounded for the document as for one
#: polygon too (:func:`count_crossings`'s ``spare``).
MAX_DOCUMENT_CROSSINGS = MAX_CROSSINGS
#: Edge pairs whose boxes overlap that :func:`crossings` examines, at most, per edge and per
#: crossing allowed: a ring of long edges whose boxes overlap (a sawtooth of long teeth) can
#: have a quadratic number of such pairs and no crossing at all.
BOX_PAIRS_PER_EDGE, BOX_PAIRS_PER_CROSSING = 16, 64
#: The rule :data:`MAX_CROSSINGS` states, for error messages.
REPAIRABLE = (
    f"meet (cross or touch) each other or themselves at most {MAX_CROSSINGS:,} times, found "
    "among a bounded number of edge pairs whose boxes overlap (got more): a repair's pieces, "
    "time and memory grow with those points, quadratically in the vertices of a scribble"
)


#: Edge pairs whose boxes overlap that a polygon may have for GEOS to check it is valid: this
#: many per edge, plus :data:`VALIDITY_SPARE_PAIRS` (for one polygon, or shared by all the
#: polygons of a CAP document). GEOS's check tests those pairs, so its time grows with them:
#: linearly for a drawn shape (a municipality has about 1.2 a edge, a 20,000-vertex ring whose
#: radius jumps by up to 30 % at each vertex about 81), quadratically for a ring of long
#: overlapping teeth (8,000 teeth: 4,000 a edge, half a second a check, a minute at 100,000).
VALIDITY_PAIRS_PER_EDGE = 32
VALIDITY_SPARE_PAIRS = 4_000_000
#: The rule those limits state, for error messages.
CHECKABLE = (
    f"have at most {VALIDITY_PAIRS_PER_EDGE} pairs of edges whose boxes overlap per edge, plus "
    f"{VALIDITY_SPARE_PAIRS:,} (for all the polygons of a CAP document together): a limit of "
    "geotarget, as checking a polygon costs time that grows with those pairs, quadratically in "
    "the vertices of a ring of long overlapping teeth"
)


def _overlapping(lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64]) -> int:
    """Pairs of the closed intervals ``[lo, hi]`` that overlap (each pair once)."""
    starts, ends = np.sort(lo), np.sort(hi)
    met = np.searchsorted(starts, hi, side="right") - np.searchsorted(ends, lo, side="left")
    return (int(met.sum()) - lo.size) // 2  # each interval meets itself


def validity_pairs(rings: list[npt.NDArray[np.float64]], budget: int) -> int | None:
    """Pairs of the rings' edges whose boxes overlap, or None when more than ``budget``.

    ``rings``: each an ``(n, 2)`` array of lon/lat, closed (its last point its first).

    A ring of at most ``2 * VALIDITY_PAIRS_PER_EDGE + 1`` edges is not looked at: all its
    pairs are within their own allowance. Boxes overlap only where both their x and their y
    intervals do: the fewer of the two interval counts (sorting, ``O(n log n)``) is a bound,
    exact enough for a drawn shape. Only
    where it exceeds ``budget`` are the box pairs counted, through an R-tree of the edges a
    growing number at a time, stopping once past ``budget``: the count costs at most about
    the budget, however many pairs there are.
    """
    m = sum(r.shape[0] - 1 for r in rings)
    if m <= 2 * VALIDITY_PAIRS_PER_EDGE + 1:  # every pair: within the edges' own allowance
        return int(m * (m - 1) // 2)
    a = np.concatenate([r[:-1] for r in rings])
    b = np.concatenate([r[1:] for r in rings])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    bound = min(_overlapping(lo[:, 0], hi[:, 0]), _overlapping(lo[:, 1], hi[:, 1]))
    if bound <= budget:
        return bound
    edges: npt.NDArray[np.object_] = shapely.linestrings(  # type: ignore[assignment]
        np.stack([a, b], axis=1)
    )
    tree = shapely.STRtree(edges)
    boxes, start, step = 0, 0, 64
    while start < m:
        boxes += tree.query(edges[start : start + step])[0].size
        if (boxes - min(start + step, m)) // 2 > budget:  # (each edge meets its own box)
            return None
        start += step
        per_edge = max(boxes / start, 1.0)
        step = max(1, min(2 * step, int((2 * budget + m - boxes) / per_edge)))
    return int(boxes - m) // 2


def crossings(geom: Any, limit: int = MAX_CROSSINGS) -> int:
    """Pairs of edges of ``geom``'s rings that meet, counted until past ``limit``.

    Neighbours along a ring share their vertex and are not counted; a repeated point is no
    edge. Edges are looked up in an R-tree a growing number at a time and the count stops
    past ``limit``; the edge pairs whose boxes overlap are examined up to a budget of
    :data:`BOX_PAIRS_PER_EDGE` per edge plus :data:`BOX_PAIRS_PER_CROSSING` per crossing
    allowed, past which ``limit + 1`` is returned. So the work is bounded by the vertices
    and ``limit``, never by the (quadratic) number of meetings or of overlapping boxes.
    """
    return count_crossings(geom, limit, BOX_PAIRS_PER_CROSSING * limit)[0]


def quiet() -> np.errstate:
    """Floating-point flags ignored, for GEOS checks of a caller's geometry.

    GEOS's robust predicates on subnormal coordinates (``1e-301`` degrees) may divide by zero
    inside while their answer stays exact; numpy reports the flag the C code left as a
    ``RuntimeWarning`` (an exception under ``-W error``), which would escape instead of the
    answer or geotarget's own error.
    """
    return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")


def count_crossings(geom: Any, limit: int, spare: int) -> tuple[int, int]:
    """:func:`crossings` with the edge pairs' budget beyond each edge's own given: ``spare``.

    Returns the count (``limit + 1`` past ``limit`` or past the budget) and the pairs examined
    beyond :data:`BOX_PAIRS_PER_EDGE` per edge, so that a caller bounding several polygons
    together (the polygons of one CAP document) spends one ``spare`` over all of them.
    """
    rings = shapely.get_rings(shapely.get_parts(geom))
    shapely.prepare(geom)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    keep = (ring[1:] == ring[:-1]) & np.any(xy[1:] != xy[:-1], axis=1)
    start_xy, end_xy, of = xy[:-1][keep], xy[1:][keep], ring[:-1][keep]
    m = of.size
    if m < 3:
        return 0, 0
    # Each edge's place along its ring, and its ring's edge count (neighbours wrap around).
    first = np.r_[0, np.flatnonzero(of[1:] != of[:-1]) + 1]
    size = np.diff(np.r_[first, m])
    place = np.arange(m) - np.repeat(first, size)
    length = np.repeat(size, size)
    edges: npt.NDArray[np.object_] = shapely.linestrings(  # type: ignore[assignment]
        np.stack([start_xy, end_xy], axis=1)
    )
    tree = shapely.STRtree(edges)
    budget = BOX_PAIRS_PER_EDGE * m + max(spare, 0)
    count, boxes, start, step = 0, 0, 0, 1
    while start < m and count <= limit:
        i, j = tree.query(edges[start : start + step])  # pairs whose boxes overlap
        boxes += i.size
        if boxes > budget:
            return limit + 1, max(spare, 0)
        i = i + start
        later = i < j  # each pair once
        i, j = i[later], j[later]
        gap = np.abs(place[i] - place[j])
        other = ~((of[i] == of[j]) & ((gap == 1) | (gap == length[i] - 1)))
        i, j = i[other], j[other]
        with quiet():
            count += int(np.count_nonzero(shapely.intersects(edges[i], edges[j])))
        # the next batch: twice as many edges, fewer if their boxes overlap much
        per_edge = max(boxes / (start + step), 1.0)
        start += step
        step = max(1, min(2 * step, int((budget - boxes) / per_edge)))
    return count, max(boxes - BOX_PAIRS_PER_EDGE * m, 0)


#: :func:`grown`'s first stage grows by this share of the distance; each next stage reaches
#: :data:`STAGE_GROWTH` times as far as the one before, the last the whole distance.
FIRST_STAGE_SHARE = 1e-4
STAGE_GROWTH = 10.0
#: Segments per quarter circle of :func:`grown`'s stages before the last (which draws the
#: caller's): arcs redrawn by a later stage become two vertices each, so a coarser arc keeps
#: the vertices of a shape that stays apart near the count one buffer draws.
STAGE_QUAD_SEGS = 8


#: :func:`grown` draws in stages only a shape whose join arcs crowd above this (radians
#: squared, :func:`crowding`): below it one buffer costs little (a comb of 100 teeth grown by
#: 10 km, about 100,000, a fifth of a second; every Swedish municipality grown by up to 30 km,
#: at most 70,000, milliseconds) and draws within GEOS's promised error, which stages may
#: exceed (:func:`overshoot`).
CROWDED_TURNS = 100_000.0
#: Convex vertices :func:`crowding` samples.
CROWDING_SAMPLE = 64


def crowding(geom: Any, distance: float) -> float:
    """How much a polygon's round joins crowd within one GEOS buffer by ``distance``.

    GEOS draws an arc around each convex vertex through its turning angle; arcs of vertices
    more than ``2 * distance`` apart never cross, and two that may cross cost about the
    product of their angles. So the estimate is the sum over convex vertices ``i`` of
    ``theta_i`` times the sum of ``theta_j`` over the convex vertices within ``2 * distance``
    of it (``i`` included): a comb of ``n`` teeth near ``(n * pi) ** 2``, a coastline grown
    by less than its length far less. Computed from :data:`CROWDING_SAMPLE` vertices taken in
    proportion to their angle (evenly along the cumulated angles) and an R-tree of the
    convex vertices: time near linear in the vertices.
    """
    points: list[npt.NDArray[np.float64]] = []
    turns: list[npt.NDArray[np.float64]] = []
    for poly in shapely.get_parts(geom):
        for k, ring in enumerate(shapely.get_rings(poly)):
            c = shapely.get_coordinates(ring)[:-1]
            if c.shape[0] < 3:
                continue
            u = c - np.roll(c, 1, axis=0)
            v = np.roll(c, -1, axis=0) - c
            angle = np.arctan2(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0], (u * v).sum(axis=1))
            # Left turns are convex on a counter-clockwise shell and a clockwise hole.
            area = float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))
            if (area > 0.0) != (k == 0):
                angle = -angle
            convex = angle > 0.0
            points.append(c[convex])
            turns.append(angle[convex])
    if not turns:
        return 0.0
    xy, theta = np.concatenate(points), np.concatenate(turns)
    total = float(theta.sum())
    if theta.size == 0 or total <= 0.0:
        return 0.0
    k = min(theta.size, CROWDING_SAMPLE)
    at = (np.arange(k) + 0.5) / k * total
    sample = np.minimum(np.searchsorted(np.cumsum(theta), at), theta.size - 1)
    vertices: npt.NDArray[np.object_] = shapely.points(xy)  # type: ignore[assignment]
    q, j = shapely.STRtree(vertices).query(
        vertices[sample], predicate="dwithin", distance=2.0 * distance
    )
    near = np.bincount(q, weights=theta[j], minlength=k)
    return total * float(near.mean())


def grown(geom: Any, distance: float, quad_segs: int) -> Any:
    """GEOS's buffer of a polygon by ``distance >= 0`` (round joins), in stages when crowded.

    One buffer by a distance much wider than the gaps of a jagged shape offsets every edge
    across all the others: a comb of 600 teeth 30 m apart grown by 10 km crossed each tooth's
    offset curve with every other's (9 s; 2,000 teeth 210 s), as the number of teeth squared.
    A shape :func:`crowding` finds crowded (above :data:`CROWDED_TURNS`) is grown instead by
    :data:`FIRST_STAGE_SHARE` of the distance, then by ten times as far each stage (each
    buffering the previous stage's shape by the difference): each stage closes the gaps
    narrower than about its own distance, so the next one meets a shape whose gaps are at
    least about a tenth of its distance wide, and the work grows with the vertices. Others get
    one buffer, as before.

    Minkowski sums add (a polygon grown by ``a`` then by ``b`` is the polygon grown by
    ``a + b``), so the stages draw the same shape within their drawing errors; the arcs'
    chords (:data:`STAGE_QUAD_SEGS` segments a quarter before the last stage, ``quad_segs`` in
    it) err inward, by at most ``1 - cos(pi / (4 * min(quad_segs, STAGE_QUAD_SEGS)))`` of the
    distance in all. Outward, each stage's input simplifier should cut at most a hundredth of
    its distance (GEOS's ``BufferParameters::DEFAULT_SIMPLIFY_FACTOR``, which shapely leaves
    as it is: only concavities shallower than that), but it cuts deeper beside the dense arcs an
    earlier stage drew (3.4 % of the distance for a tall tooth beside short ones): a caller
    that relies on the outward error measures it (:func:`overshoot`).
    """
    if distance <= 0.0 or crowding(geom, distance) <= CROWDED_TURNS:
        return shapely.buffer(geom, distance, quad_segs=quad_segs)
    return staged(geom, distance, quad_segs)


def staged(geom: Any, distance: float, quad_segs: int) -> Any:
    """GEOS's buffer of a polygon by ``distance > 0``, in the stages :func:`grown` describes."""
    out, done, reach = geom, 0.0, distance * FIRST_STAGE_SHARE
    while done < distance:
        last = reach >= distance
        target = distance if last else reach
        out = shapely.buffer(
            out, target - done, quad_segs=quad_segs if last else min(quad_segs, STAGE_QUAD_SEGS)
        )
        done, reach = target, reach * STAGE_GROWTH
    return out


#: Most boundary points :func:`overshoot` measures.
OVERSHOOT_POINTS = 1 << 16


def overshoot(drawn: Any, geom: Any, distance: float, spacing: float) -> float:
    """A bound on how much farther than ``distance`` from ``geom`` the boundary of ``drawn`` lies.

    GEOS's buffer cuts its input's shallow concavities by a hundredth of the distance, but it
    looks at only every tenth vertex of a run it cuts: a long edge beside a dense arc (a tall
    tooth beside a short one's rounded tip, as a stage of :func:`grown` draws) is cut far
    deeper (a comb grown by 1 reached 5 % farther). So a caller that needs the drawing's
    outward error measures it: the boundary cut into pieces at most ``spacing`` long, pieces
    longer when the boundary would need more than :data:`OVERSHOOT_POINTS` points, and each
    piece's farthest point bounded from its ends: the distance to ``geom`` is 1-Lipschitz, so
    at most the mean of the ends' plus half the piece; and at most the farther end's distance
    to the edge of ``geom`` nearest either end (the distance to one straight edge is convex
    along a straight piece), which is exact for the offset edges and arcs a buffer draws. The
    first alone left half a piece over: a 65,536th of the boundary, metres for a piece of a
    polygon hundreds of kilometres around, far more than a margin of metres allows. Points
    of ``drawn`` inside ``geom`` are at distance 0 from it. ``geom`` is prepared: a caller's
    own geometry.
    """
    rings = shapely.get_rings(shapely.get_parts(geom))
    shapely.prepare(geom)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    edges: npt.NDArray[np.object_] = shapely.linestrings(  # type: ignore[assignment]
        np.stack([xy[:-1][same], xy[1:][same]], axis=1)
    )
    edge = shapely.boundary(drawn)
    spacing = max(spacing, float(shapely.length(edge)) / OVERSHOOT_POINTS)
    lines = shapely.get_parts(shapely.segmentize(edge, spacing))
    coords, line = shapely.get_coordinates(lines, return_index=True)
    if edges.size == 0 or coords.shape[0] == 0:
        return 0.0
    pts: npt.NDArray[np.object_] = shapely.points(coords)  # type: ignore[assignment]
    inside = np.asarray(shapely.intersects(geom, pts), dtype=np.bool_)
    (found, nearest), dist = shapely.STRtree(edges).query_nearest(
        pts, return_distance=True, all_matches=False
    )
    raw = np.full(pts.size, np.inf)  # to the nearest edge (none found: no bound)
    e = np.zeros(pts.size, dtype=np.intp)
    raw[found] = dist
    e[found] = nearest
    d = np.where(inside, 0.0, raw)  # to geom
    far = float(np.max(d, initial=0.0))
    piece = np.flatnonzero(line[1:] == line[:-1])  # pieces from point i to i + 1 of one line
    if piece.size:
        a, b = piece, piece + 1
        length = np.hypot(coords[b, 0] - coords[a, 0], coords[b, 1] - coords[a, 1])
        lipschitz = (d[a] + d[b] + length) / 2.0
        by_edge = np.minimum(
            np.maximum(raw[a], shapely.distance(pts[b], edges[e[a]])),
            np.maximum(shapely.distance(pts[a], edges[e[b]]), raw[b]),
        )
        far = max(far, float(np.max(np.minimum(lipschitz, by_edge))))
    return max(far - distance, 0.0)
