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
