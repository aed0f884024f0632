"""Private: what the matcher derives from a polygon's rings, computed once per polygon.

A :class:`~geotarget.Polygon` is a value: its rings, its margin and its prepared shapely
``shape``. Matching and the margin test derive more from the rings — their edges as arrays,
the boundary densified and laid on the tangent plane at the polygon's centre, bounds on how
near and how far the boundary lies from that centre, the azimuthal-equidistant metric frame —
and each is worth computing once for all the queries of one polygon (a plan's cached area is
queried again for every new batch of positions).

Those derivations live here, keyed by the identity of the polygon's ``shape``, which the
polygon owns for life and shares with the same polygon at another margin
(:meth:`~geotarget.Polygon.with_margin`: none of this depends on the margin). An entry goes
when its shape does (a :func:`weakref.finalize` on the shape; entries hold no reference to
it), so it lives exactly as long as the polygon and costs what :func:`geotarget._evaluation.
area_bytes` estimates. Threads may race to compute one entry; each computes the same value,
and one of them is kept.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from geotarget import _geodesy, _geos
from geotarget._index import crossing, frames, segments
from geotarget._validate import BoolArray, FloatArray

if TYPE_CHECKING:
    from geotarget.areas import Polygon

#: Polygon edges are densified to this many degrees before they are projected to metres, so a
#: straight lon/lat edge stays within 0.5 mm of its projected image (sagitta of 0.001° chords).
DENSIFY_DEG = 0.001

Edges = tuple[FloatArray, FloatArray, FloatArray, FloatArray]

_MEMOS: dict[int, dict[str, Any]] = {}


def _memo(part: Polygon) -> dict[str, Any]:
    """The entries derived so far from ``part``'s rings (created empty on first use)."""
    shape = part.shape
    key = id(shape)
    memo = _MEMOS.get(key)
    if memo is None:
        memo = _MEMOS.setdefault(key, {})
        weakref.finalize(shape, _MEMOS.pop, key, None).atexit = False
    return memo


def bounds(part: Polygon) -> tuple[float, float, float, float]:
    """The lon/lat bounds of the rings (no margin).

    (Shapely's ``bounds`` builds an array and a tuple each time; a classification asks
    several times.)
    """
    memo = _memo(part)
    got: tuple[float, float, float, float] | None = memo.get("bounds")
    if got is None:
        west, south, east, north = (float(v) for v in part.shape.bounds)
        got = memo["bounds"] = (west, south, east, north)
    return got


def origin(part: Polygon) -> tuple[float, float]:
    """The centre of the metric frame: the middle of the polygon's lon/lat bounds."""
    west, south, east, north = bounds(part)
    return (west + east) / 2.0, (south + north) / 2.0


def edges(part: Polygon) -> Edges:
    """The rings' lon/lat edges (:func:`geotarget._index.frames.ring_edges`)."""
    memo = _memo(part)
    got: Edges | None = memo.get("edges")
    if got is None:
        sizes = [len(part.exterior), *(len(h) for h in part.holes)]  # closed, as GEOS's
        got = memo["edges"] = frames.ring_edges(part.shape, sizes)
    return got


def dense(part: Polygon) -> tuple[FloatArray, FloatArray, BoolArray]:
    """:func:`geotarget._index.frames.dense_starts` of :func:`edges`."""
    memo = _memo(part)
    got: tuple[FloatArray, FloatArray, BoolArray] | None = memo.get("dense")
    if got is None:
        got = memo["dense"] = frames.dense_starts(edges(part), DENSIFY_DEG)
    return got


def rho(part: Polygon) -> float:
    """:func:`geotarget._index.frames.frame_rho` of the rings."""
    memo = _memo(part)
    got: float | None = memo.get("rho")
    if got is None:
        got = memo["rho"] = frames.frame_rho(part.shape)
    return got


def tangent_segments(part: Polygon) -> Edges:
    """:func:`edges` densified as the frame is, on the tangent plane at its centre.

    (:func:`geotarget._index.frames.local_edges` with :func:`geotarget._geodesy.to_tangent`.)
    """
    memo = _memo(part)
    got: Edges | None = memo.get("tangent")
    if got is None:
        lon0, lat0 = origin(part)
        got = memo["tangent"] = frames.local_edges(
            lon0, lat0, edges(part), DENSIFY_DEG, _geodesy.to_tangent, dense(part)
        )
    return got


def tangent_rows(part: Polygon) -> FloatArray:
    """:func:`tangent_segments` as the distance kernels read them.

    (:func:`geotarget._index.segments.segment_rows`.)
    """
    memo = _memo(part)
    got: FloatArray | None = memo.get("tangent_rows")
    if got is None:
        got = memo["tangent_rows"] = segments.segment_rows(*tangent_segments(part))
    return got


def centre_bounds(part: Polygon) -> tuple[float, float] | None:
    """How near and how far the metric boundary lies from the frame's centre.

    :func:`geotarget._index.frames.centre_bounds` of the rings (None for a large or very
    wide polygon).
    """
    memo = _memo(part)
    if "centre" not in memo:
        lon0, lat0 = origin(part)
        memo["centre"] = frames.centre_bounds(
            part.shape,
            edges(part),
            lon0,
            lat0,
            DENSIFY_DEG,
            lambda: tangent_segments(part),
            lambda: dense(part),
            rho(part),
            lambda: tangent_rows(part),
        )
    got: tuple[float, float] | None = memo["centre"]
    return got


def centre_bounds_if_known(part: Polygon) -> tuple[float, float] | None:
    """:func:`centre_bounds` when an earlier call computed them, else None."""
    got: tuple[float, float] | None = _memo(part).get("centre")
    return got


def frame(part: Polygon) -> tuple[float, float, Any]:
    """(lon0, lat0, polygon in metres): the local azimuthal-equidistant frame.

    Every ring densified to :data:`DENSIFY_DEG` (each edge on its own, as
    :func:`geotarget._geodesy.densify` does) and projected about :func:`origin`.
    """
    memo = _memo(part)
    got: tuple[float, float, Any] | None = memo.get("frame")
    if got is None:
        lon0, lat0 = origin(part)
        densified = _geodesy.densify(part.shape, DENSIFY_DEG)
        t = _geodesy.aeqd_transformer(lon0, lat0)
        metric = shapely.transform(densified, lambda xy: np.column_stack(t.transform(*xy.T)))
        shapely.prepare(metric)
        got = memo["frame"] = (lon0, lat0, metric)
    return got


def frame_if_built(part: Polygon) -> tuple[float, float, Any] | None:
    """:func:`frame` when an earlier call built it, else None (nothing is built)."""
    got: tuple[float, float, Any] | None = _memo(part).get("frame")
    return got


#: GEOS's point-in-polygon test casts a ray along a parallel and meets every edge spanning the
#: point's latitude: about ``sum(|dlat|) / height`` edges a point. A polygon whose edges span
#: its height many times over (a comb of north-south teeth) cost seconds for a few thousand
#: points (20,000 teeth across a Stockholm-sized box: 8.8 s for the 30,000 devices near it),
#: where casting the ray along a meridian meets a handful. Transposed (lon and lat swapped, an
#: exact map: GEOS's predicates are exact, and the polygon's boundary, interior and exterior
#: swap with it), the test casts that ray. Done when the parallels meet more than this many
#: edges, and four times as many as the meridians do.
TRANSPOSE_CROSSINGS = 64.0


def point_shape(part: Polygon) -> tuple[Any, bool]:
    """The prepared lon/lat shape GEOS tests points against, and whether it is transposed.

    (:data:`TRANSPOSE_CROSSINGS`; a transposed shape takes its points as ``(lat, lon)``. The
    memo keeps only a transposed shape, never the polygon's own: an entry holds no reference
    to the shape it is keyed by.)
    """
    memo = _memo(part)
    if "transposed" not in memo:
        transposed = None
        if transposes(part):
            rings = [np.asarray(part.exterior)[:, ::-1]]
            rings.extend(np.asarray(h)[:, ::-1] for h in part.holes)
            transposed = shapely.Polygon(rings[0], rings[1:])
            shapely.prepare(transposed)
        memo["transposed"] = transposed
    got = memo["transposed"]
    return (part.shape, False) if got is None else (got, True)


def _rays(part: Polygon) -> tuple[float, float]:
    """About how many edges a ray along a parallel, and along a meridian, meets on average.

    The edges' total extent in latitude over the polygon's height, and in longitude over its
    width.
    """
    memo = _memo(part)
    got: tuple[float, float] | None = memo.get("rays")
    if got is None:
        ax, ay, bx, by = edges(part)
        west, south, east, north = bounds(part)
        parallels = float(np.abs(by - ay).sum()) / max(north - south, 1e-300)
        meridians = float(np.abs(bx - ax).sum()) / max(east - west, 1e-300)
        got = memo["rays"] = (parallels, meridians)
    return got


def transposes(part: Polygon) -> bool:
    """Whether :func:`point_shape` tests the polygon's points transposed (a second shape)."""
    parallels, meridians = _rays(part)
    return parallels > TRANSPOSE_CROSSINGS and 4.0 * meridians < parallels


def crowded(part: Polygon) -> bool:
    """Whether GEOS's ray meets more than :data:`TRANSPOSE_CROSSINGS` edges either way.

    Such a polygon's points are tested in a :func:`crossing_grid` (GEOS only for the few it
    cannot decide).
    """
    return min(_rays(part)) > TRANSPOSE_CROSSINGS


def crossing_grid(part: Polygon, points: int) -> crossing.CrossingGrid | None:
    """The polygon's :class:`~geotarget._index.crossing.CrossingGrid`, for ``points`` points.

    None unless :func:`crowded`. Built the first time GEOS's rays would meet more edges for
    the points than the grid lists (four entries a piece): a handful of points is cheaper in
    GEOS than a grid; once built, the polygon keeps it.
    """
    memo = _memo(part)
    got: crossing.CrossingGrid | None = memo.get("crossing")
    if got is not None or not crowded(part):
        return got
    if "layout" not in memo:
        memo["layout"] = crossing.layout(edges(part), bounds(part))
    if points * min(_rays(part)) < 4 * memo["layout"][2]:
        return None
    got = memo["crossing"] = crossing.CrossingGrid(edges(part), bounds(part), part.shape)
    return got


def intersects_xy(part: Polygon, x: Any, y: Any) -> Any:
    """``intersects_xy`` of the polygon (no margin) and points, as answered fastest.

    The answer of ``shapely.intersects_xy(part.shape, x, y)``, boundary included: GEOS through
    :func:`point_shape`, or for a :func:`crowded` polygon its :func:`crossing_grid` (GEOS for
    the points it leaves).
    """
    shape, swapped = point_shape(part)

    def exact(px: Any, py: Any) -> Any:
        return _geos.intersects_xy(shape, py, px) if swapped else _geos.intersects_xy(shape, px, py)

    if isinstance(x, np.ndarray) and x.ndim == 1 and x.size:
        grid = crossing_grid(part, x.size)
        if grid is not None:
            return crossing.intersects_xy(
                grid, x, np.asarray(y), part.shape, exact, min(_rays(part))
            )
    return exact(x, y)
