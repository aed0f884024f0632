"""Private: whether the parts of an area lie within the union of other parts, proven or not.

For the Targeter's intake (:mod:`geotarget._intake`): an info block that names no kind may narrow
the area of the blocks that name one (a cordon inside an Explosion's circle), never widen it. A
part is *proven* within or not at all; a part not proven within counts as reaching beyond. Each
test holds for the library's own membership rules — a circle holds a point iff its ``Geod.inv``
distance from the centre is at most the reach, a polygon's edges are straight in lon/lat:

* a part equal to one of the others lies within (the same set);
* a circle ``(c, r)`` lies within a circle ``(C, R)`` when they share their centre and ``r <= R``
  (the same distance compared with a larger bound), or when ``d + r + 1 µm <= R``, ``d`` the
  ``Geod.inv`` distance between the centres: a point within ``r`` of ``c`` lies within ``d + r``
  of ``C`` (the triangle inequality of geodesic distance), and the micrometre covers the three
  ``Geod.inv`` errors in that sum (GeographicLib's, about 15 nm each) many times over. So a
  circle touching the other's rim from inside is not proven: a point at the touching point may
  compute as inside the one and outside the other;
* a polygon without margin lies within another polygon when GEOS says the other's lon/lat shape
  covers it: an exact predicate on the same straight edges the membership test reads (the
  other's margin left out, which can only lose);
* otherwise, the union of the others' inner shapes (:func:`~geotarget._index.classify.inner_shapes`:
  polygons as drawn without their margins, circles as polygons inscribed a hair within their
  rims, very large circles left out) is drawn once by GEOS. A circle lies within when a piece
  of it holds the circle as a disk (:func:`~geotarget._index.classify.held_by_piece`, in the
  piece's metric frame, the radius grown by the frame's worst scale error); a polygon without
  margin when the union covers it grown by 1e-9° in lon/lat (about 0.1 mm), far beyond the
  rounding of the vertices GEOS computes where the others' edges cross. A polygon with a margin
  is proven within only as an equal part.

So the answer errs only one way: a part within the others by less than these allowances (a
circle's rim within centimetres of an inscribed polygon's, a polygon within 0.1 mm of a join
between two others) is not proven within. The work is bounded by the parts' sizes: the pairs of
a part and another whose windows meet are examined up to :data:`WORK_PER_VERTEX` per vertex of
either (a circle counts as one vertex; a pair of polygons costs the first one's vertices), and
past that budget nothing more is proven.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
import shapely.affinity

from geotarget import _geodesy, _geos
from geotarget._index.boundary import part_window
from geotarget._index.classify import held_by_piece, inner_shapes
from geotarget.areas import Circle, Part, Polygon
from geotarget.errors import InvalidArea

IntArray = npt.NDArray[np.intp]

#: Work allowed per vertex of the parts (a circle counts as one): see the module's docstring.
WORK_PER_VERTEX = 64
#: Metres by which a circle must clear the rim of another whose centre differs, to be proven
#: within it from the distance between their centres.
_SLACK_M = 1e-6
#: Degrees a polygon is grown by before the union of the others is asked to cover it.
_GROW_DEG = 1e-9


def _size(part: Part) -> int:
    """A part's vertices (a circle: one)."""
    if isinstance(part, Circle):
        return 1
    return len(part.exterior) + sum(len(h) for h in part.holes)


def _boxes(parts: Sequence[Part]) -> Any:
    """Shapely boxes of the parts' rigorous lon/lat windows (margins included)."""
    windows = np.array([part_window(p) for p in parts], dtype=np.float64).reshape(-1, 4)
    return shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])


def _pairs(
    tree: shapely.STRtree,
    size: int,
    queries: Any,
    cost: Callable[[IntArray, IntArray], IntArray],
    budget: int,
) -> tuple[IntArray, IntArray] | None:
    """(query, tree geometry) index pairs whose boxes meet; None when they cost past ``budget``.

    ``size``: the tree's geometries; ``cost``: the work of each pair (at least 1). The
    queries go in chunks that cannot return more pairs than the budget left, so no more than
    about twice the budget is ever spent, however the boxes nest.
    """
    got_i: list[IntArray] = [np.empty(0, dtype=np.intp)]
    got_j: list[IntArray] = [np.empty(0, dtype=np.intp)]
    spent = start = 0
    while start < len(queries):
        step = max(1, (budget - spent) // max(size, 1))
        i, j = tree.query(queries[start : start + step])
        i = i + start
        spent += int(cost(i, j).sum())
        if spent > budget:
            return None
        got_i.append(i)
        got_j.append(j)
        start += step
    return np.concatenate(got_i), np.concatenate(got_j)


def first_not_within(parts: Sequence[Part], others: Sequence[Part]) -> int | None:
    """The index of the first of ``parts`` not proven to lie within the union of ``others``.

    None when every part is proven within (see the module's docstring for the tests). When
    the budget of work runs out, no part left is proven, and the first of them is named.
    """
    known = set(others)
    todo = [k for k, p in enumerate(parts) if p not in known]
    if not todo:
        return None
    outer = list(dict.fromkeys(others))
    if not outer:
        return todo[0]
    inner = [parts[k] for k in todo]
    size_in = np.array([_size(p) for p in inner], dtype=np.intp)
    budget = WORK_PER_VERTEX * (int(size_in.sum()) + sum(_size(p) for p in outer))
    circle_in = np.array([isinstance(p, Circle) for p in inner], dtype=np.bool_)
    circle_out = np.array([isinstance(p, Circle) for p in outer], dtype=np.bool_)
    # Polygons without a margin: their lon/lat shape is the part.
    flat_in = np.array(
        [isinstance(p, Polygon) and p.margin_m == 0.0 for p in inner], dtype=np.bool_
    )

    def cost(i: IntArray, j: IntArray) -> IntArray:
        both = ~circle_in[i] & ~circle_out[j]
        out: IntArray = 1 + np.where(both, size_in[i], 0)
        return out

    tree = shapely.STRtree(_boxes(outer))
    pairs = _pairs(tree, len(outer), _boxes(inner), cost, budget)
    if pairs is None:
        return todo[0]
    i, j = pairs
    proven = np.zeros(len(inner), dtype=np.bool_)
    lon_in, lat_in, reach_in = _circles(inner)
    lon_out, lat_out, reach_out = _circles(outer)

    # A circle within one circle: by the distance between their centres.
    cc = circle_in[i] & circle_out[j]
    if np.any(cc):
        ci, cj = i[cc], j[cc]
        d = _geodesy.inv_distance(lon_in[ci], lat_in[ci], lon_out[cj], lat_out[cj])
        same = (lon_in[ci] == lon_out[cj]) & (lat_in[ci] == lat_out[cj])
        ok = np.where(
            same, reach_in[ci] <= reach_out[cj], d + reach_in[ci] + _SLACK_M <= reach_out[cj]
        )
        proven[ci[ok]] = True
    # A polygon within one polygon: GEOS's exact covers on their lon/lat shapes.
    pp = flat_in[i] & ~circle_out[j] & ~proven[i]
    if np.any(pp):
        pi, pj = i[pp], j[pp]
        shapes_out = _shapes(outer)
        ok = _geos.covers(shapes_out[pj], _shapes(inner)[pi])
        proven[pi[ok]] = True

    # The rest (a polygon with a margin excepted), against the union of the others they meet.
    left = np.flatnonzero(~proven & (circle_in | flat_in))
    if left.size:
        _by_union(inner, outer, left, i, j, proven, budget)
    bad = np.flatnonzero(~proven)
    return None if bad.size == 0 else todo[int(bad[0])]


def _by_union(
    inner: Sequence[Part],
    outer: Sequence[Part],
    left: IntArray,
    i: IntArray,
    j: IntArray,
    proven: npt.NDArray[np.bool_],
    budget: int,
) -> None:
    """Mark the parts ``left`` the union of the others they meet holds in ``proven``.

    ``left``: circles and polygons without margin; ``i``, ``j``: the pairs whose windows meet.
    """
    near = np.unique(j[np.isin(i, left)])
    if near.size == 0:
        return
    union = shapely.union_all(inner_shapes(tuple(outer[k] for k in near)))
    polygons = left[[isinstance(inner[k], Polygon) for k in left]]
    if polygons.size:
        shapely.prepare(union)
        grown = shapely.buffer(_shapes(inner)[polygons], _GROW_DEG, quad_segs=2)
        proven[polygons[shapely.covers(union, grown)]] = True
    circles = left[[isinstance(inner[k], Circle) for k in left]]
    if circles.size == 0:
        return
    lon, lat, reach = _circles(inner)
    pieces = np.array(
        [g for g in shapely.get_parts(union) if isinstance(g, shapely.Polygon)], dtype=object
    )
    got = _pairs(
        shapely.STRtree(pieces),
        len(pieces),
        shapely.points(lon[circles], lat[circles]),
        lambda a, b: np.ones(a.size, dtype=np.intp),
        budget,
    )
    if got is None or got[0].size == 0:
        return
    # Each piece classifies the circles whose centres lie in its box, all at once.
    order = np.argsort(got[1], kind="stable")
    which, piece = circles[got[0][order]], got[1][order]
    starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
    for sel, k in zip(np.split(which, starts[1:]), piece[starts], strict=True):
        held = held_by_piece(pieces[k], lon[sel], lat[sel], reach[sel])
        proven[sel[held]] = True


def _circles(parts: Sequence[Part]) -> tuple[Any, Any, Any]:
    """Centre lon, lat and reach of each part (NaN for a polygon)."""
    rows = [(p.lon, p.lat, p.reach_m) if isinstance(p, Circle) else (np.nan,) * 3 for p in parts]
    table = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return table[:, 0], table[:, 1], table[:, 2]


def _shapes(parts: Sequence[Part]) -> Any:
    """Each part's lon/lat shape (None for a circle), as an array GEOS takes."""
    out = np.empty(len(parts), dtype=object)
    for k, p in enumerate(parts):
        out[k] = p.shape if isinstance(p, Polygon) else None
    return out


def grown(parts: Sequence[Part], slack_m: float) -> list[Part]:
    """The parts grown by at most ``slack_m`` metres: a part within them lies within that of them.

    A circle's margin grows by ``slack_m`` (every point within ``reach + slack_m`` of its centre
    lies within ``slack_m`` of its disk, along the geodesic from the centre). A polygon becomes
    its lon/lat shape buffered by ``(margin + slack_m) / R_MAX`` radians (GEOS), longitudes
    first scaled by ``cos(lat_near)``, the cosine of the latitude nearest the equator the
    buffer reaches: a step of ``(dlon, dlat)`` radians is at most ``R_MAX * hypot(dlon *
    cos(lat), dlat)`` metres long (neither radius of curvature exceeds ``R_MAX``), and
    ``cos(lat) <= cos(lat_near)`` there, so every point of the buffer lies within the margin and
    the slack of the shape. A part that cannot grow so (a margin past its limit, a buffer
    reaching a pole or the antimeridian) stays as it is: only fewer parts are then proven within.
    """
    out: list[Part] = []
    for part in parts:
        try:
            out.append(_grown(part, slack_m))
        except InvalidArea:
            out.append(part)
    return out


def _grown(part: Part, slack_m: float) -> Part:
    """One part of :func:`grown` (``InvalidArea`` when it cannot grow)."""
    if isinstance(part, Circle):
        return Circle(part.lon, part.lat, part.radius_m, margin_m=part.margin_m + slack_m)
    step = math.degrees((part.margin_m + slack_m) / _geodesy.R_MAX)
    west, south, east, north = part.shape.bounds
    near = 0.0 if south - step <= 0.0 <= north + step else min(abs(south), abs(north)) - step
    k = math.cos(math.radians(near))
    if west - step / k <= -180.0 or east + step / k >= 180.0 or max(-south, north) + step >= 90.0:
        raise InvalidArea("a buffer reaching a pole or the antimeridian")
    with _geos.quiet():
        scaled = shapely.affinity.scale(part.shape, xfact=k, yfact=1.0, origin=(0.0, 0.0))
        shape = shapely.affinity.scale(
            shapely.buffer(scaled, step), xfact=1.0 / k, yfact=1.0, origin=(0.0, 0.0)
        )
    holes = [shapely.get_coordinates(h) for h in shape.interiors]
    return Polygon(shapely.get_coordinates(shape.exterior), holes)
