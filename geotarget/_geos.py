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


def count_crossings(geom: Any, limit: int, spare: int) -> tuple[int, int]:
    """:func:`crossings` with the edge pairs' budget beyond each edge's own given: ``spare``.

    Returns the count (``limit + 1`` past ``limit`` or past the budget) and the pairs examined
    beyond :data:`BOX_PAIRS_PER_EDGE` per edge, so that a caller bounding several polygons
    together (the polygons of one CAP document) spends one ``spare`` over all of them.
    """
    rings = shapely.get_rings(shapely.get_parts(geom))
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
        count += int(np.count_nonzero(shapely.intersects(edges[i], edges[j])))
        # the next batch: twice as many edges, fewer if their boxes overlap much
        per_edge = max(boxes / (start + step), 1.0)
        start += step
        step = max(1, min(2 * step, int((budget - boxes) / per_edge)))
    return count, max(boxes - BOX_PAIRS_PER_EDGE * m, 0)
