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


def relate_pattern(a: Any, b: Any, pattern: str) -> npt.NDArray[np.bool_]:
    """``shapely.relate_pattern`` under :data:`LOCK`."""
    with LOCK:
        return np.asarray(shapely.relate_pattern(a, b, pattern), dtype=np.bool_)


#: The most edge crossings geotarget lets GEOS ``make_valid`` untangle (:meth:`Polygon.repair
#: <geotarget.areas.Polygon.repair>`, ``RegionSet.from_geojson(repair=True)``). Its time and
#: memory grow with the crossings, and a ring of ``n`` random vertices crosses itself about
#: ``n**2 / 10`` times (3,000 vertices: a million crossings, 55 s and 2.4 GB to repair). A drawn
#: bow-tie or a ring traced twice crosses itself a handful of times; 10,000 crossings repair in
#: about 0.3 s.
MAX_CROSSINGS = 10_000
#: The rule :data:`MAX_CROSSINGS` states, for error messages.
REPAIRABLE = (
    f"cross each other or themselves at most {MAX_CROSSINGS:,} times (got more): a repair's "
    "pieces, time and memory grow with the crossings, quadratically in the vertices of a scribble"
)


def crossings(geom: Any, limit: int = MAX_CROSSINGS) -> int:
    """How many pairs of the edges of ``geom``'s rings cross, counted until past ``limit``.

    Edges are looked up in an R-tree a few at a time, doubling, so a scribble stops the count
    after its first edges: the cost is bounded by the vertices and ``limit``, never by the
    crossings themselves.
    """
    rings = shapely.get_rings(shapely.get_parts(geom))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    if not same.any():
        return 0
    edges: npt.NDArray[np.object_] = shapely.linestrings(  # type: ignore[assignment]
        np.stack([xy[:-1][same], xy[1:][same]], axis=1)
    )
    tree = shapely.STRtree(edges)
    seen = 0  # each crossing pair is found from both of its edges
    start, step = 0, 1
    while start < edges.size and seen <= 2 * limit:
        seen += tree.query(edges[start : start + step], predicate="crosses").shape[1]
        start, step = start + step, step * 2
    return seen // 2
