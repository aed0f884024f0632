"""Private: classify the fixes near an area under a :class:`~geotarget.LocationRule`.

The definition (:meth:`geotarget.PositionIndex.classify`), per part, for a fix ``p`` with disk
radius ``r = rule.accuracy * accuracy_m``:

* **Circle** (centre ``c``, reach ``R`` = radius + margin, ``d`` = ``Geod.inv`` distance):
  the part holds the disk iff ``d + r <= R``; the disk meets it iff ``d <= R + r``.
* **Polygon** ``P`` with margin ``m``, distances measured in the polygon's metric frame
  (:func:`.polygons.frame`, as the margin itself is): if ``p`` is in ``P`` (lon/lat, exact), the
  part holds the disk iff ``r <= m`` or ``p`` is *not* within ``r - m`` of ``P``'s boundary; if
  not, iff ``r <= m`` and ``p`` is within ``m - r`` of ``P``. The disk meets the part iff ``p``
  is in the part (:meth:`Polygon.contains`) or within ``m + r`` of ``P``. A disk these leave
  met but not held is also held when ``P`` grown by ``m`` holds it (a disk over a strait, an
  inlet or a hole narrower than ``2 m``: :func:`_held_in_margin`).
* With ``r == 0`` the part holds, and meets, the disk iff it contains the point, exactly as
  ``query`` (so an exact fix is never AMBIGUOUS).
* The area holds the disk iff one part does or, for a disk met by several parts and held by
  none alone, their union does (:func:`_held_together`: GEOS's union of the parts as lon/lat
  polygons, a polygon's margin drawn near the disks (:func:`_grown_near`), classified as one
  polygon, conservatively; for parts reaching 180°, also the union of the parts turned by
  180° of longitude, where the two sides meet).

Only leaves near the part are looked at: the R-tree returns the leaves meeting the part's window
grown by the largest disk radius. Each leaf is then decided whole when its exact bounds allow it,
with its own largest disk radius ``g`` (as :mod:`geotarget._index.plan` does for queries):

* circle: all disks held when the leaf's farthest chord is ``<= chord_inside(R - g)``, none met
  when its nearest chord is ``> chord_outside(R + g)``;
* polygon: all disks held when the leaf box grown by ``g`` meets no boundary and its first
  device is in ``P``; none met when the box grown by ``m + g`` meets no boundary and its first
  device is outside ``P``. Growth is conservative in degrees and by the metric frame's worst
  scale error, so these shortcuts never disagree with the definition.
* polygon with a margin: a leaf the boundary grid leaves (most of a large margin's band) by
  the metric boundary's distance from its box's centre, which bounds every device's within
  the leaf's extent in the frame (:func:`_margin_leaves`, :mod:`geotarget._index.margin`);
* compact polygon (one drawn around a point, as a CAP ``<polygon>`` often draws an incident):
  as a circle, by distance from the polygon's frame centre, its metric boundary lying between
  ``inner`` and ``outer`` from there (:func:`_centre_whole`); no boundary grid is built.

Devices of the other leaves get the exact ranks above (for a polygon with a margin, first
those its cells' distance bounds decide: :func:`_margin_ranks`); circles through the one
circle kernel (:func:`geotarget._geodesy.geodesic_le`), as a compact polygon's by distance
from its centre first (:func:`_centre_ranks`); polygons first by their own cell and box, then
(without margin) by their distance to the boundary in the tangent plane at the frame's
centre, which bounds the frame's distance within a known factor (:func:`_tangent_ranks`:
numpy only, no PROJ), and the few devices within millimetres of a threshold through one
vectorized pass over the boundary segments near each device in the polygon's metric frame
(:class:`geotarget._index.segments.SegmentGrid`), GEOS deciding only the devices within a
micrometre-scale band of a threshold, and whether a device outside the lon/lat polygon lies
in the metric one.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geotarget import _geodesy, _geos, _sorted
from geotarget._geodesy import circle_window
from geotarget._index import frames, margin, plan, polygons
from geotarget._index.boundary import BoundaryCells, grown, part_window
from geotarget._index.frames import frame_scale, ring_edges
from geotarget._index.leaves import LEAF, Leaves
from geotarget._index.segments import BAND_M, SegmentGrid, cut, segment_rows, typical
from geotarget._validate import BoolArray, FloatArray, aware_us
from geotarget.areas import Area, Circle, Polygon
from geotarget.errors import InvalidArea
from geotarget.positions import Location, LocationRule, Positions

I32Array = npt.NDArray[np.int32]
I8Array = npt.NDArray[np.int8]
IntArray = npt.NDArray[np.intp]

#: Answers larger than 1/_BITMAP_SHARE of the snapshot are ordered through a table of its rows.
_BITMAP_SHARE = 24
#: Boundary-grid cells per candidate leaf (finer than a query's: each device's disk is
#: checked against the cells before any exact distance is computed).
_CELLS_PER_LEAF = 32
#: Absolute growth, metres, covering the polygon frame's densification (0.5 mm) and rounding.
_PAD_M = 0.002
# shapely broadcasts an array of distances; its type stubs only declare a scalar.
_dwithin: Any = shapely.dwithin
_HOLDS = 2  # rank of "a part holds the disk" (INSIDE)
_MEETS = 1  # rank of "the disk meets the area" (AMBIGUOUS)
# The states as numpy scalars (numpy converts an IntEnum member anew in each ``where``).
_INSIDE, _AMBIGUOUS, _UNKNOWN = (
    np.int8(s) for s in (Location.INSIDE, Location.AMBIGUOUS, Location.UNKNOWN)
)

Box = _geodesy.Box


def _leaves_box(lv: Leaves, leaves: IntArray) -> Box:
    """The box of the leaves' devices (leaf boxes are their devices' exact bounds)."""
    if leaves.size == 0:
        return None
    w, s, e, n = lv.leaf_box.take(leaves, axis=1).min(axis=1).tolist()  # w, s, -e, -n
    return (w, s, -e, -n)


# ---------------------------------------------------------------------------------------------
# Exact per-device ranks
# ---------------------------------------------------------------------------------------------


def _circle_ranks(
    part: Circle,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    chords: tuple[FloatArray, FloatArray] | None = None,
) -> npt.NDArray[Any]:
    reach = part.reach_m
    holds, meets = _geodesy.geodesic_le(
        part.lon, part.lat, x, y, [(r, reach), (0.0, reach + r)], chords
    )
    return np.where(holds, _HOLDS, np.where(meets, _MEETS, 0))


Edges = frames.Edges


def _tangent_applies(part: Polygon, scale: float) -> bool:
    """Whether :func:`_tangent_ranks` decides devices of this part (no margin, not too wide)."""
    return part.margin_m == 0.0 and frames.applies(scale)


def _tangent_ranks(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    near: Edges,
    scale: float,
    state: npt.NDArray[np.int8],
    dense: frames.Dense | None = None,
) -> tuple[npt.NDArray[Any], IntArray]:
    """Ranks of the devices the tangent plane decides (polygon without margin), and the rest.

    The exact ranks (:func:`_polygon_ranks`) compare, per device, the distance ``d`` from its
    point to the boundary in the polygon's metric frame with its radius ``r``. Bounds on ``d``
    from the tangent plane (:func:`geotarget._index.frames.distance_bounds`: numpy, no PROJ)
    decide every device whose ``r`` lies outside them — all but those within millimetres of
    it, which are returned for the exact ranks (as is every device where the plane does not
    apply: :func:`_tangent_applies`).

    ``state``: each device's boundary-grid cell state where known (1 in the polygon, 0 not,
    -1 unknown: :meth:`BoundaryCells.state_of`); GEOS answers only the unknown ones. ``dense``:
    only these pieces of ``near`` (:func:`geotarget._index.frames.dense_runs`).
    """
    n = x.size
    rank = np.zeros(n, dtype=np.int8)
    if not _tangent_applies(part, scale) or n == 0:
        return rank, np.arange(n)
    lon0, lat0 = polygons.origin(part)
    whole = near is polygons.edges(part)
    segments = polygons.tangent_segments(part) if whole else None
    rows = polygons.tangent_rows(part) if whole else None
    lo, hi = frames.distance_bounds(
        lon0, lat0, scale, near, polygons.DENSIFY_DEG, x, y, r, segments, rows=rows, dense=dense
    )
    within = hi <= r
    beyond = lo > r
    zero = r == 0.0
    in_poly = state == 1
    # GEOS only for the devices whose rank depends on it (a disk crossing the boundary meets
    # the polygon from either side; an undecided one goes to the exact ranks).
    ask = np.flatnonzero((state < 0) & (zero | beyond))
    in_poly[ask] = polygons.intersects_xy(part, x[ask], y[ask])
    # In the polygon: held iff the boundary is farther than r, else the disk meets it.
    rank[in_poly & (zero | beyond)] = _HOLDS
    rank[in_poly & ~zero & within] = _MEETS
    # Outside: the disk meets the polygon iff the boundary is within r. (A point so close to
    # the boundary that the metric polygon might hold it is within r of it, or r is tiny.)
    rank[~in_poly & ~zero & within] = _MEETS
    decided = zero | within | beyond & (in_poly | (r > 2.0 * (_PAD_M + BAND_M)))
    return rank, np.flatnonzero(~decided)


def _polygon_ranks(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    near: Edges | None = None,
    dense: frames.Dense | None = None,
) -> npt.NDArray[Any]:
    """Exact ranks in the polygon's metric frame.

    ``near``: the polygon's lon/lat edges that every point's box grown by its reach may meet
    (None: unknown). With no margin and no frame built yet, the distances come from those
    edges alone, projected (:func:`geotarget._index.frames.local_edges`), so a large polygon
    with few devices near its boundary projects only the boundary near them; the whole frame
    is built only for a point GEOS must decide. ``dense``: only these pieces of ``near``
    (:func:`geotarget._index.frames.dense_runs`).
    """
    m = part.margin_m
    in_poly = np.asarray(polygons.intersects_xy(part, x, y), dtype=np.bool_)
    contained = part.contains(x, y) if m > 0.0 else in_poly
    built = polygons.frame_if_built(part)
    local = built is None and near is not None and m == 0.0
    lon0, lat0 = polygons.origin(part) if built is None else built[:2]
    frame: dict[str, Any] = {} if built is None else {"metric": built[2]}

    def metric() -> Any:
        if "metric" not in frame:
            frame["metric"] = polygons.frame(part)[2]
        return frame["metric"]

    mx, my = _geodesy.to_aeqd(lon0, lat0, x, y)
    holds = contained & (r == 0.0)
    meets = contained.copy()
    # Every test below asks whether the metric boundary is within some D of a point, with
    # D <= the point's reach: r - m in the polygon (and held), else m + r. One vectorized
    # pass over the boundary segments near each point answers them (SegmentGrid: exact but
    # for a band of BAND_M around D, where GEOS decides, as it does for the rest).
    reach = np.where(in_poly & contained, r - m, m + r)
    dist = np.full(x.size, np.nan)
    ask = np.flatnonzero((r > 0.0) & (reach >= 0.0))
    if ask.size:
        if local:
            assert near is not None
            ax, ay, bx, by = frames.local_edges(
                lon0, lat0, near, polygons.DENSIFY_DEG, _geodesy.to_aeqd, dense
            )
        else:
            ax, ay, bx, by = ring_edges(metric())
        grid = SegmentGrid(ax, ay, bx, by, 2.0 * typical(reach[ask]))
        dist[ask] = grid.distance(mx[ask], my[ask], reach[ask])

    def boundary_within(idx: IntArray, d: FloatArray) -> BoolArray:
        """Whether the metric boundary is within ``d`` of each point ``idx``."""
        got = dist[idx]
        out = got <= d - BAND_M
        sure = out | (got > d + BAND_M)  # NaN (not asked, too wide) is never sure
        sure &= d <= reach[idx]  # the distance is exact only up to the reach
        unsure = np.flatnonzero(~sure)
        if unsure.size:
            if "boundary" not in frame:
                frame["boundary"] = shapely.boundary(metric())
                shapely.prepare(frame["boundary"])
            u = idx[unsure]
            pts = shapely.points(mx[u], my[u])
            out[unsure] = np.asarray(_dwithin(frame["boundary"], pts, d[unsure]), dtype=np.bool_)
        return np.asarray(out, dtype=np.bool_)

    def polygon_within(idx: IntArray, d: FloatArray) -> BoolArray:
        """Whether the metric polygon is within ``d`` of each point: in it, or near its boundary."""
        out = boundary_within(idx, d)
        rest = np.flatnonzero(~out)
        if rest.size and local:
            # A point farther than _PAD_M from the metric boundary is on the same side of it
            # as of the lon/lat boundary (the two lie within the frame's densification and
            # rounding of each other): in_poly decides it, the frame only the rest.
            far = np.minimum(dist[idx[rest]], reach[idx[rest]]) > _PAD_M + BAND_M
            out[rest[far]] = in_poly[idx[rest[far]]]
            rest = rest[~far]
        if rest.size:
            out[rest] = np.asarray(
                _geos.intersects_xy(metric(), mx[idx[rest]], my[idx[rest]]), dtype=np.bool_
            )
        return out

    # In the polygon: holds iff r <= m or the boundary is not within r - m.
    holds[in_poly & (r > 0.0) & (r <= m)] = True
    sel = np.flatnonzero(in_poly & (r > m) & (r > 0.0))
    if sel.size:
        holds[sel] = ~boundary_within(sel, r[sel] - m)
    # Outside the polygon (in the margin band at most): holds iff r <= m and within m - r.
    sel = np.flatnonzero(~in_poly & (r > 0.0) & (r <= m))
    if sel.size:
        holds[sel] = polygon_within(sel, m - r[sel])
    sel = np.flatnonzero(~contained & (r > 0.0))
    if sel.size:
        meets[sel] = polygon_within(sel, m + r[sel])
    return np.where(holds, _HOLDS, np.where(meets, _MEETS, 0))


# ---------------------------------------------------------------------------------------------
# Per part, whole leaves first
# ---------------------------------------------------------------------------------------------


def _boxes_decided(
    cells: BoundaryCells,
    inside: BoolArray,
    outside: BoolArray,
    boxes: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    g: FloatArray,
    m: float,
    scale: float,
) -> tuple[BoolArray, BoolArray]:
    """Whether a polygon surely holds every disk of each box, and whether it surely meets none.

    ``inside``/``outside`` are the exact states of a point of each box (they are only trusted
    where the grown box meets no marked cell, which makes that point's cell unmarked).
    """
    w, s, e, n = boxes
    box_a, wild_a = grown(w, s, e, n, g * scale + _PAD_M)
    clear_a = ~(wild_a | cells.meets(box_a))
    holds = inside & clear_a
    if m == 0.0:  # the same growth: the same boxes
        return holds, outside & clear_a
    box_b, wild_b = grown(w, s, e, n, (m + g) * scale + _PAD_M)
    none = outside & ~(wild_b | cells.meets(box_b))
    return holds, none


def _whole(
    lv: Leaves,
    part: Circle | Polygon,
    leaves: IntArray,
    boxes: FloatArray,
    g: FloatArray,
    rho: float | None = None,
) -> tuple[BoolArray, BoolArray, BoundaryCells | None, float]:
    """Per leaf: whether the part surely holds every disk, and whether it surely meets none.

    For a polygon also returns its boundary cells and the metric frame's scale factor
    (``rho``: :func:`geotarget._index.frames.frame_rho` of the polygon, when known).
    """
    if isinstance(part, Circle):
        near, far = plan.sphere_gaps(lv, leaves, part.lon, part.lat)
        holds = far <= _geodesy.chord_inside(part.reach_m - g)
        none = near > _geodesy.chord_outside(part.reach_m + g)
        return holds, none, None, 1.0
    m = part.margin_m
    scale = 1.0 + frame_scale(part.shape, m + float(g.max(initial=0.0)), rho)
    cells = BoundaryCells(
        part.shape, _CELLS_PER_LEAF * leaves.size, clearance=True, edges=polygons.edges(part)
    )
    # The first device's cell state is exact wherever a grown box meets no marked cell.
    rep = cells.state_of(*plan.representatives(lv, leaves))
    box = (boxes[0], boxes[1], -boxes[2], -boxes[3])
    holds, none = _boxes_decided(cells, rep == 1, rep == 0, box, g, m, scale)
    if m > 0.0:
        _margin_leaves(part, box, g, holds, none)
    return holds, none, cells, scale


#: The geodesic metres a radian of latitude, or of longitude over the cosine of the latitude,
#: are at most on the ellipsoid (``A / sqrt(1 - e²)``, the radii of curvature at the poles),
#: rounded up.
_R_MAX = 6_399_600.0


#: Leaves farther than this angle (radians) from a frame's centre are left to their devices.
_THETA_LEAF = 0.5


def _margin_leaves(
    part: Polygon,
    box: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    g: FloatArray,
    holds: BoolArray,
    none: BoolArray,
) -> None:
    """Mark held, or met by none, the leaves a margin polygon's distance bounds decide whole.

    The boundary grid decides the leaves far from the polygon's boundary; a leaf within the
    margin of it, outside the polygon, is decided here (most of a large margin's devices):
    by the metric boundary's distance from its box's centre, within ``extra`` of every device
    of the leaf in the metric frame (:func:`geotarget._index.margin.decide` with leaves as
    items). ``extra`` bounds the geodesic distance from the centre to a corner along its
    parallel, then its meridian (at most :data:`_R_MAX` metres a radian), times the frame's
    worst scale error at the leaf's farthest point from the frame's centre (one device's
    radius of thousands of kilometres does not coarsen every leaf's bound). Leaves near 180°
    or a pole, or farther than :data:`_THETA_LEAF` from the frame's centre, are left to the
    devices.
    """
    west, south, east, north = box
    todo = np.flatnonzero(~holds & ~none)
    if todo.size == 0:
        return
    w, s, e, n = west[todo], south[todo], east[todo], north[todo]
    if w.min() <= -180.0 or e.max() >= 180.0 or max(-s.min(), n.max()) >= 89.0:
        return
    lon_c, lat_c = (w + e) / 2.0, (s + n) / 2.0
    half_lat = np.maximum(n - lat_c, lat_c - s) * _geodesy.RAD
    half_lon = np.maximum(e - lon_c, lon_c - w) * _geodesy.RAD
    geodesic = _R_MAX * (half_lat + np.cos(lat_c * _geodesy.RAD) * half_lon) * (1.0 + 1e-9)
    m = part.margin_m
    if not _margin_worth(part, todo.size, g[todo]):
        return
    lon0, lat0, metric = polygons.frame(part)
    mx, my = _geodesy.to_aeqd(lon0, lat0, lon_c, lat_c)
    # The frame's scale error at the leaf's farthest point from its centre (the centre's own
    # distance is exact in the azimuthal-equidistant frame), as frame_scale() bounds it.
    theta = (np.hypot(mx, my) + geodesic) * (1.0 + 1e-9) / _geodesy.R_MIN
    extra = geodesic * (1.0 + 2.0 * theta**2 + 1e-6) + _PAD_M
    extra[~(theta <= _THETA_LEAF)] = np.inf
    in_poly = np.asarray(polygons.intersects_xy(part, lon_c, lat_c), dtype=np.bool_)
    rows = segment_rows(*ring_edges(metric))
    got, decided, _ = margin.decide(rows, mx, my, in_poly, g[todo], m, extra)
    holds[todo[decided & (got == _HOLDS)]] = True
    none[todo[decided & (got == 0)]] = True


#: A polygon's rim leaves (those its centre's bounds leave undecided, :func:`_centre_whole`)
#: may hold at most this many devices for the bounds to decide the polygon's leaves.
_CENTRE_DEVICES = 8192


def _centre_whole(
    lv: Leaves, part: Polygon, leaves: IntArray, g: FloatArray, rho: float
) -> tuple[BoolArray, BoolArray, tuple[float, float], float] | None:
    """Per leaf, whether a compact polygon surely holds every disk, and surely meets none.

    Decided as a circle's leaves are, by their distance from the polygon's frame centre
    alone (:func:`.polygons.centre_bounds`: the metric boundary lies between ``inner`` and
    ``outer`` from it). A disk of radius ``r`` around a point at distance ``d`` from the
    centre is held when ``d + max(r - m, 0) <= inner - pad`` (the point lies in the polygon
    and at least ``r - m`` inside its boundary) and met by none of the part when ``d > outer +
    pad + m + r`` (the point is farther than ``m + r`` from the polygon); ``pad`` (_PAD_M)
    covers the lon/lat polygon's distance from the metric one. Also returns those two reaches,
    ``(inner - pad, outer + pad + m)``, and the frame's scale factor.

    None when the bounds are unknown (:func:`geotarget._index.frames.centre_bounds`) or leave
    more than :data:`_CENTRE_DEVICES` devices undecided: the boundary grid then decides the
    leaves (:func:`_whole`), as for any large polygon.
    """
    m = part.margin_m
    lon0, lat0 = polygons.origin(part)
    # The vertices' nearest and farthest chords (inner is at most the one, outer at least the
    # other): the devices between them are left to the exact ranks whatever their disks. As
    # many as their annulus's share of the window's, were devices spread evenly: a polygon
    # far from round is left to the grid before anything costs.
    ax, ay = polygons.edges(part)[:2]
    chord2 = _geodesy.chords2(lon0, lat0, ax, ay)
    lo2, hi2 = float(chord2.min(initial=0.0)), float(chord2.max(initial=0.0))
    if LEAF * leaves.size * (1.0 - lo2 / hi2 if hi2 > 0.0 else 1.0) > _CENTRE_DEVICES:
        return None
    bounds = polygons.centre_bounds(part)
    if bounds is None:
        return None
    hold_in, meet_out = bounds[0] - _PAD_M, bounds[1] + _PAD_M + m
    near, far = plan.sphere_gaps(lv, leaves, lon0, lat0)
    holds = far <= _geodesy.chord_inside(hold_in - np.maximum(g - m, 0.0))
    none = near > _geodesy.chord_outside(meet_out + g)
    if LEAF * (leaves.size - int(np.count_nonzero(holds | none))) > _CENTRE_DEVICES:
        return None
    scale = 1.0 + frame_scale(part.shape, m + float(g.max(initial=0.0)), rho)
    return holds, none, (hold_in, meet_out), scale


def _centre_ranks(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    reaches: tuple[float, float],
    chords: tuple[FloatArray, FloatArray],
) -> tuple[npt.NDArray[Any], BoolArray]:
    """Ranks :func:`_centre_whole`'s bounds decide (held: 2, else 0), and where they do not.

    Per device of whole ``(leaves × LEAF)`` blocks, through the circle kernel on its
    distance from the centre (``chords``: the leaves' estimates of it); padding slots (NaN
    chords) come back decided, rank 0.
    """
    hold_in, meet_out = reaches
    lon0, lat0 = polygons.origin(part)
    add = np.maximum(r - part.margin_m, 0.0)
    held, met = _geodesy.geodesic_le(
        lon0, lat0, x, y, [(add, hold_in), (0.0, meet_out + r)], chords
    )
    return np.where(held, _HOLDS, 0), met & ~held


#: Pieces of a polygon's lon/lat edges per device box width (at most _MAX_PIECES pieces).
_PIECE_BOXES = 2.0
_MAX_PIECES = 1 << 16


def _screen(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    todo: IntArray,
    rank: npt.NDArray[Any],
    scale: float,
    held: dict[str, Any] | None = None,
) -> tuple[IntArray, Edges | None, frames.Dense | None, bool]:
    """Decide devices ``todo`` whose grown box meets none of the polygon's own edges.

    The same growth as :func:`_boxes_decided`, tested against the lon/lat edges themselves (cut
    into short pieces and bucketed, :meth:`SegmentGrid.meets_boxes`) instead of the boundary
    grid's marked cells: a box meeting no edge is wholly inside or outside the polygon, which
    the device's own point decides (``intersects_xy``). Sets ``rank`` of the devices decided
    to hold; returns the devices still undecided and, for a polygon without margin, the
    lon/lat edges their boxes may meet (None when unknown: a box too wide to look up), with
    the pieces of them the boxes may meet when those edges are long beside the boxes (a comb
    of 20,000 teeth 11 km long, 50 cm apart: its whole frame is 4 million segments, which
    cost 12 s and 1.2 GB to build for the 41,696 devices near it), else None (all pieces),
    and whether those pieces were too many to take (:data:`_NEAR_PIECES`). ``held``: where
    the pieces' R-tree is kept for later calls of one classification.
    """
    m = part.margin_m
    xt, yt, rt = x[todo], y[todo], r[todo]
    box_a, wild_a = grown(xt, yt, xt, yt, rt * scale + _PAD_M)
    box_b, wild_b = (
        (box_a, wild_a) if m == 0.0 else grown(xt, yt, xt, yt, (m + rt) * scale + _PAD_M)
    )
    west, south, east, north = box_b[0], box_b[1], -box_b[2], -box_b[3]
    ax, ay, bx, by = polygons.edges(part)
    width = float(np.median(np.maximum(east - west, north - south)))
    span = float(np.abs(bx - ax).sum() + np.abs(by - ay).sum())
    most = max(_PIECE_BOXES * width, span / _MAX_PIECES, 1e-9)
    pax, pay, pbx, pby, piece_edge = cut(ax, ay, bx, by, most)
    edges = SegmentGrid(pax, pay, pbx, pby, most)
    inside = np.asarray(polygons.intersects_xy(part, xt, yt), dtype=np.bool_)
    held = {} if held is None else held
    met: IntArray | None = None
    found: tuple[tuple[Edges, frames.Dense] | None, BoolArray | None] | None = None
    if m == 0.0:
        # One pass: the pieces a box meets are those the undecided boxes meet (a clear box,
        # decided, meets none).
        most_pairs = _SCREEN_PAIRS_FLOOR + _SCREEN_PAIRS * xt.size
        got = edges.meeting(box_a[0], box_a[1], -box_a[2], -box_a[3], most_pairs)
        if got is None:  # cells coarse beside the boxes: the pieces' R-tree instead
            found = _pieces_near(part, pax, pay, pbx, pby, piece_edge, most, box_a, held)
            meets = np.ones(xt.size, dtype=np.bool_) if found[1] is None else found[1]
        else:
            meets, met = got
        clear_a = clear_b = ~wild_a & ~meets
    else:
        # Only a device in the polygon can be held (box a), only one outside met by none (b).
        clear_a = np.zeros(xt.size, dtype=np.bool_)
        clear_b = np.zeros(xt.size, dtype=np.bool_)
        sel = np.flatnonzero(inside & ~wild_a)
        clear_a[sel] = _boxes_clear(part, edges, box_a[:, sel], True)
        sel = np.flatnonzero(~inside & ~wild_b)
        clear_b[sel] = _boxes_clear(part, edges, box_b[:, sel], False)
    hold = inside & clear_a
    rank[todo[hold]] = _HOLDS
    left = ~hold & ~(~inside & clear_b)
    near: Edges | None = None
    dense: frames.Dense | None = None
    long = False
    if m == 0.0 and not wild_b[left].any():
        if met is not None:
            k = _sorted.unique(piece_edge[met])
            near = (ax[k], ay[k], bx[k], by[k])
            if frames.dense_vertices(near, polygons.DENSIFY_DEG) > _DENSE_PER_DEVICE * left.sum():
                near = None  # long edges: only their pieces near the boxes
        if near is None:
            if found is None:
                box = box_b[:, left]
                found = _pieces_near(part, pax, pay, pbx, pby, piece_edge, most, box, held)
            long = found[0] is None
            near, dense = (None, None) if found[0] is None else found[0]
    return todo[left], near, dense, long


def _boxes_clear(part: Polygon, edges: SegmentGrid, box: FloatArray, side: bool) -> BoolArray:
    """Whether each box (rows west, south, -east, -north) meets none of the polygon's edges.

    ``side``: whether the boxes' devices are in the polygon. A box with a corner on the other
    side meets the boundary (its rim, a closed path, crosses it), whatever edge it is: one
    ``intersects_xy`` a corner decides the boxes over a dense boundary (a comb's teeth, a
    skerry coast), which would each pair with every edge of the cells they span. Only the
    boxes whose corners all lie on their device's side are tested against the edges
    (:meth:`SegmentGrid.meets_boxes`).
    """
    w, s, e, n = box[0], box[1], -box[2], -box[3]
    rest = np.arange(w.size)
    for cx, cy in ((w, s), (e, n), (e, s), (w, n)):
        if rest.size == 0:
            break
        got = np.asarray(polygons.intersects_xy(part, cx[rest], cy[rest]), dtype=np.bool_)
        rest = rest[got == side]
    clear = np.zeros(w.size, dtype=np.bool_)
    if rest.size:
        clear[rest] = ~edges.meets_boxes(w[rest], s[rest], e[rest], n[rest])
    return clear


#: (device box, screen piece) pairs the screen's cells may list, per box (plus
#: :data:`_SCREEN_PAIRS_FLOOR`), beyond which the pieces' R-tree serves the boxes instead: a
#: long boundary is cut into few, long pieces bucketed in cells much wider than the boxes (a
#: star of 1,000 spikes, 200,000 devices near it: 90 pairs a box, 18 million in all).
_SCREEN_PAIRS = 32
_SCREEN_PAIRS_FLOOR = 1 << 16


def _pieces_near(
    part: Polygon,
    pax: FloatArray,
    pay: FloatArray,
    pbx: FloatArray,
    pby: FloatArray,
    piece_edge: IntArray,
    most: float,
    box: FloatArray,
    held: dict[str, Any],
) -> tuple[tuple[Edges, frames.Dense] | None, BoolArray | None]:
    """:func:`geotarget._index.frames.pieces_near_boxes` of the screen's pieces and boxes.

    ``pax``...: the polygon's edges cut by :func:`~geotarget._index.segments.cut` into pieces
    at most ``most`` long; ``box``: rows west, south, -east, -north. The pieces' R-tree is
    kept in ``held`` for the next call that cuts the same pieces.
    """
    first = np.searchsorted(piece_edge, piece_edge)
    i = np.arange(piece_edge.size) - first
    cuts = np.searchsorted(piece_edge, piece_edge, side="right") - first
    segments = frames.Cut(pax, pay, pbx, pby, piece_edge, i / cuts, (i + 1.0) / cuts)
    if held.get("most") != most:
        held["most"], held["tree"] = most, frames.edge_tree((pax, pay, pbx, pby))
    count = box.shape[1]
    return frames.pieces_near_boxes(
        polygons.edges(part),
        polygons.DENSIFY_DEG,
        segments,
        (box[0], box[1], -box[2], -box[3]),
        _NEAR_PAIRS + _NEAR_PAIRS_PER_DEVICE * count,
        _NEAR_PIECES + _NEAR_PIECES_PER_DEVICE * count,
        held["tree"],
    )


#: (device box, edge) pairs :func:`_screen` may look up to find the pieces of long edges near
#: the devices: this many, plus :data:`_NEAR_PAIRS_PER_DEVICE` a device (a comb's 41,696 devices
#: near its teeth: 1.9 million).
_NEAR_PAIRS = 1 << 22
_NEAR_PAIRS_PER_DEVICE = 256
#: Pieces of the densified boundary :func:`_screen` may take near the devices: this many, plus
#: :data:`_NEAR_PIECES_PER_DEVICE` a device. Beyond, the devices' disks reach over much of a
#: long boundary and are decided in steps of growing reach (:func:`_exact_ranks`).
_NEAR_PIECES = 1 << 18
_NEAR_PIECES_PER_DEVICE = 16

#: The whole boundary goes to :func:`_tangent_ranks` when, densified, it has at most this many
#: vertices per device left to decide (else :func:`_screen` first finds the edges near them).
_DENSE_PER_DEVICE = 2.0


def _all_edges_if_few(part: Polygon, devices: int, scale: float) -> Edges | None:
    """Every lon/lat edge of the polygon, when its densified boundary is small beside ``devices``.

    The tangent plane's distances cost about the same per device and per densified boundary
    vertex, so when the boundary is no larger than about the devices undecided, projecting all
    of it costs less than screening the devices' boxes against it to find the edges near them.
    So it does when every (device, densified vertex) pair fits one chunk of the brute-force
    kernel (:data:`geotarget._index.frames.BRUTE_PAIRS`): the screen's fixed cost, about a
    third of a millisecond, is then more than the pairs'. (An area of many small polygons
    paid it for each.) None also where the tangent plane does not apply
    (:func:`_tangent_applies`): the exact frame costs far more a vertex, and the screen
    decides most devices without it.
    """
    if not _tangent_applies(part, scale):
        return None
    edges = polygons.edges(part)
    dense = frames.dense_vertices(edges, polygons.DENSIFY_DEG)
    few = dense <= _DENSE_PER_DEVICE * devices or dense * devices <= frames.BRUTE_PAIRS
    return edges if few else None


def _window(
    part: Circle | Polygon, r_all: float, rho: float | None = None
) -> tuple[float, float, float, float]:
    """A window holding every point whose disk (radius at most ``r_all``) may meet the part."""
    if isinstance(part, Circle):
        return circle_window(part.lon, part.lat, part.reach_m + r_all)
    scale = 1.0 + frame_scale(part.shape, part.margin_m + r_all, rho)
    west, south, east, north = part.bounds
    box, wild = grown(
        np.array([west]),
        np.array([south]),
        np.array([east]),
        np.array([north]),
        np.array([r_all * scale + _PAD_M]),
    )
    if wild[0]:
        return (-180.0, -90.0, 180.0, 90.0)
    return (float(box[0, 0]), float(box[1, 0]), float(-box[2, 0]), float(-box[3, 0]))


class _Stale:
    """Collects the rows, among those a classification keeps, whose fix is older than a cutoff.

    Each leaf keeps its oldest fix's time (:attr:`Leaves.obs_min`), so only the devices of
    leaves holding an old fix are looked up in the snapshot's ``observed_at`` (a gather in the
    snapshot's own order, which costs about a millisecond per 40,000 devices): a leaf of fresh
    fixes is decided whole.
    """

    __slots__ = ("cutoff", "found", "lv", "observed")

    def __init__(
        self, lv: Leaves, observed: npt.NDArray[np.datetime64], cutoff: np.datetime64 | None
    ) -> None:
        self.lv, self.observed, self.cutoff = lv, observed, cutoff
        self.found: list[I32Array] = []

    def _old(self, leaves: IntArray) -> BoolArray | None:
        """Which leaves hold an old fix (None: every one may)."""
        return None if self.cutoff is None else self.lv.older(leaves, self.cutoff)

    def _gather(self, rows: I32Array) -> None:
        """Note which of ``rows`` have a fix older than the cutoff (one gather)."""
        if rows.size and self.cutoff is not None:
            self.found.append(rows[~(self.observed.take(rows) >= self.cutoff)])  # NaT: stale

    def leaves(self, whole: IntArray) -> None:
        """Check every device of the given leaves (taken whole, ascending)."""
        if self.cutoff is None:
            return
        old = self._old(whole)
        whole = whole if old is None else whole[old]
        if whole.size:
            self._gather(self.lv.rows_of_leaves(whole))

    def slots(self, slots: IntArray, rows: I32Array) -> None:
        """Check the devices in the given slots (``rows``: their rows)."""
        if self.cutoff is None:
            return
        old = self._old(slots // LEAF)
        self._gather(rows if old is None else rows[old])

    def blocks(self, leaves: IntArray, rows: I32Array, keep: BoolArray) -> None:
        """Check the kept devices of whole ``(leaves × LEAF)`` blocks."""
        if self.cutoff is None:
            return
        old = self._old(leaves)  # the rest are fresh whole
        self._gather(rows[keep] if old is None else rows[old][keep[old]])

    def rows(self) -> I32Array:
        """Every stale row found, sorted, each once."""
        if not self.found:
            return np.empty(0, dtype=np.int32)
        return _sorted.unique(np.concatenate(self.found))


def _exact_ranks(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    todo: IntArray,
    rank: npt.NDArray[Any],
    scale: float,
    state: I8Array | None = None,
) -> None:
    """Set ``rank`` of the devices ``todo`` (1-D ``x``, ``y``, ``r``) to their exact ranks.

    The lon/lat edges near them (all, or those :func:`_screen` finds, deciding some devices
    on the way), the tangent plane for all it decides (:func:`_tangent_ranks`), the metric
    frame for the rest (:func:`_polygon_ranks`). ``state``: each device's boundary-grid cell
    state where known (None: no grid). Where the devices' disks reach over too much of a long
    boundary for one pass, they are decided in steps of growing reach (:func:`_in_steps`).
    """
    if todo.size == 0:
        return
    if part.margin_m > 0.0:
        todo = _margin_ranks(part, x, y, r, todo, rank, state)
        if todo.size == 0:
            return
    near = _all_edges_if_few(part, todo.size, scale)
    dense: frames.Dense | None = None
    if near is None:
        held: dict[str, Any] = {}
        left, near, dense, long = _screen(part, x, y, r, todo, rank, scale, held)
        todo = _in_steps(part, x, y, r, left, rank, scale, state, held) if long else left
    _exact_rest(part, x, y, r, todo, rank, scale, state, near, dense)


def _margin_worth(part: Polygon, items: int, r: FloatArray) -> bool:
    """Whether the margin's cell bounds are worth measuring for ``items`` of radii ``r``.

    (:func:`geotarget._index.margin.worth`, from the lon/lat edges: no frame is built for a
    small margin, whose devices' exact tests reach few segments each.)
    """
    ax, ay, bx, by = polygons.edges(part)
    segments = frames.dense_vertices((ax, ay, bx, by), polygons.DENSIFY_DEG)
    shrink = np.cos(np.minimum(np.abs(ay), 89.0) * _geodesy.RAD)
    length = float(np.hypot((bx - ax) * shrink, by - ay).sum()) * _geodesy.RAD * _geodesy.A
    return margin.worth(items, segments, length, part.margin_m, typical(r))


def _margin_ranks(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    todo: IntArray,
    rank: npt.NDArray[Any],
    state: I8Array | None,
) -> IntArray:
    """Set ``rank`` of the devices ``todo`` of a margin polygon that cell bounds decide; the rest.

    Each device's boundary distance in the metric frame is bounded from its cell's centre
    (:func:`geotarget._index.margin.decide`): a device whose rank is the same anywhere within
    those bounds gets it without a per-device distance. The devices in the polygon whose disk
    the margin covers (``r <= m``) are held whatever the distance.
    """
    m = part.margin_m
    xt, yt, rt = x[todo], y[todo], r[todo]
    st = np.full(todo.size, -1, dtype=np.int8) if state is None else state[todo]
    in_poly = st == 1
    ask = np.flatnonzero(st < 0)
    if ask.size:
        in_poly[ask] = np.asarray(polygons.intersects_xy(part, xt[ask], yt[ask]), dtype=np.bool_)
    sure = in_poly & (rt <= m)
    rank[todo[sure]] = _HOLDS
    rest = np.flatnonzero(~sure)
    if rest.size and _margin_worth(part, rest.size, rt[rest]):
        lon0, lat0, metric = polygons.frame(part)
        mx, my = _geodesy.to_aeqd(lon0, lat0, xt[rest], yt[rest])
        rows = segment_rows(*ring_edges(metric))
        got, decided, _ = margin.decide(rows, mx, my, in_poly[rest], rt[rest], m)
        rank[todo[rest[decided]]] = got[decided]
        sure[rest[decided]] = True
    out: IntArray = todo[~sure]
    return out


def _exact_rest(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    todo: IntArray,
    rank: npt.NDArray[Any],
    scale: float,
    state: I8Array | None,
    near: Edges | None,
    dense: frames.Dense | None,
) -> None:
    """:func:`_exact_ranks` once the boundary near the devices is known (``near``, ``dense``)."""
    if todo.size and near is not None:
        st = np.full(todo.size, -1, dtype=np.int8) if state is None else state[todo]
        got, left = _tangent_ranks(part, x[todo], y[todo], r[todo], near, scale, st, dense)
        rank[todo] = got
        todo = todo[left]
    if todo.size and near is not None and part.margin_m == 0.0:
        # Few left to the metric frame: only the pieces near them are projected.
        if dense is None:
            dense = frames.dense_starts(near, polygons.DENSIFY_DEG)
        if dense[0].size > _FEW_LEFT_PIECES and todo.size <= _FEW_LEFT_SHARE * dense[0].size:
            xt, yt = x[todo], y[todo]
            box, wild = grown(xt, yt, xt, yt, r[todo] * scale + _PAD_M)
            if not wild.any():
                near, dense = frames.pieces_in_boxes(
                    near, dense, (box[0], box[1], -box[2], -box[3])
                )
    if todo.size:
        rank[todo] = _polygon_ranks(part, x[todo], y[todo], r[todo], near, dense)


#: Only the boundary pieces near the devices left to the metric frame are projected
#: (:func:`geotarget._index.frames.pieces_in_boxes`) when there are more than
#: :data:`_FEW_LEFT_PIECES` pieces and at most this many devices a piece (the jagged ring's
#: 160,000 pieces for 7 devices: 0.3 s).
_FEW_LEFT_SHARE = 0.01
_FEW_LEFT_PIECES = 4096

#: Each step of :func:`_in_steps` reaches this many times as far as the one before; the first
#: reaches this fraction of the radii's median.
_STEP_GROWTH = 4.0
_FIRST_CAP = 16.0


def _in_steps(
    part: Polygon,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    todo: IntArray,
    rank: npt.NDArray[Any],
    scale: float,
    state: I8Array | None,
    held: dict[str, Any],
) -> IntArray:
    """Decide devices ``todo`` (no margin) with their reach capped, the cap growing; the rest.

    A disk of radius ``r`` around a device within ``c <= r`` of the boundary meets the polygon
    and is not held by it (:func:`_polygon_ranks`' definition without margin): classified with
    its radius capped at ``c``, it ranks "meets" exactly then. So each step classifies the
    devices left with ``min(r, c)`` and keeps the ranks of those it finds met and of those
    whose radius the cap did not cut; the cap starts at about the radii's median over
    :data:`_FIRST_CAP` and grows by :data:`_STEP_GROWTH`. A device costs the boundary within
    about its distance to it, not within its radius (a comb's 41,696 devices near teeth 50 cm
    apart, radii up to 2 km). Returns the devices left when a step still reaches over too
    much boundary (none, once the cap passes every radius). ``held``: as :func:`_screen`'s.
    """
    cap = max(typical(r[todo]) / _FIRST_CAP, 1e-3) if todo.size else 0.0
    while todo.size:
        capped = np.minimum(r[todo], cap)
        final = capped >= r[todo]
        r_cap = r.copy()
        r_cap[todo] = capped
        got = np.zeros_like(rank)
        left, near, dense, long = _screen(part, x, y, r_cap, todo, got, scale, held)
        if long:
            return todo
        _exact_rest(part, x, y, r_cap, left, got, scale, state, near, dense)
        ranks = got[todo]
        decided = final | (ranks == _MEETS)
        rank[todo[decided]] = ranks[decided]
        todo = todo[~decided]
        cap *= _STEP_GROWTH
    return todo


#: Slack, as a share of the margin, of the grown polygon GEOS draws in :func:`_held_in_margin`
#: (GEOS simplifies its input by a hundredth of the distance and draws arcs by inscribed chords;
#: twice the outward error it is measured to have, when that is more:
#: :func:`geotarget._geos.overshoot`).
_GROWN_SLACK = 0.02
#: The pieces, as a share of the margin, of the grown boundary whose distance is measured.
_OVERSHOOT_SHARE = 0.002
#: Points on each disk's rim :func:`_held_in_margin` checks before drawing the grown polygon.
_RIM_PROBES = 16


def _held_in_margin(
    part: Circle | Polygon, x: FloatArray, y: FloatArray, r: FloatArray, rank: npt.NDArray[Any]
) -> None:
    """Raise to held the disks of rank "meets" that the polygon grown by its margin holds.

    The per-point tests (:func:`_polygon_ranks`) hold a disk only when the nearest side of
    the boundary does: a disk over a strait, an inlet or a hole narrower than twice the margin
    (a boat in a fjord) reaches past the polygon by more than the margin on that side, yet
    every point of it lies within the margin of the other. Such a disk is held when the metric
    polygon near it, grown by the margin (GEOS), holds it with room for the drawing's slack
    (:data:`_GROWN_SLACK`): conservatively, never held wrongly. Only disks whose centre and
    :data:`_RIM_PROBES` rim points all lie within the margin of the polygon get there (a disk
    across the margin's outer line has a rim point beyond it), so the polygon is grown only
    near water narrower than twice the margin. 1-D views; ``rank`` is updated in place.
    """
    if not isinstance(part, Polygon) or part.margin_m == 0.0:
        return
    m = part.margin_m
    idx = np.flatnonzero((rank == _MEETS) & (r > 0.0))
    if idx.size == 0:
        return
    lon0, lat0, metric = polygons.frame(part)
    mx, my = _geodesy.to_aeqd(lon0, lat0, x[idx], y[idx])
    ri = r[idx]
    with _geos.quiet():
        near = np.asarray(_dwithin(metric, shapely.points(mx, my), m), dtype=np.bool_)
        idx, mx, my, ri = idx[near], mx[near], my[near], ri[near]
        if idx.size == 0:
            return
        # Four rim points first (most disks across the outer line have one beyond it), then
        # the twelve between them for the disks left.
        angle = np.linspace(0.0, 2.0 * np.pi, _RIM_PROBES, endpoint=False)
        quarter = _RIM_PROBES // 4
        for probes in (angle[::quarter], np.delete(angle, np.s_[::quarter])):
            rx = (mx[:, None] + ri[:, None] * np.cos(probes)).reshape(-1)
            ry = (my[:, None] + ri[:, None] * np.sin(probes)).reshape(-1)
            rim = np.asarray(_dwithin(metric, shapely.points(rx, ry), m), dtype=np.bool_)
            near = np.asarray(rim.reshape(-1, probes.size).all(axis=1), dtype=np.bool_)
            idx, mx, my, ri = idx[near], mx[near], my[near], ri[near]
            if idx.size == 0:
                return
        near_part = _metric_near(metric, m, mx, my, ri)
        if near_part is None:
            return
        piece = _geos.grown(near_part, m, 16)
        # The drawing's outward error, measured (GEOS may cut deeper than it promises).
        excess = _geos.overshoot(piece, near_part, m, _OVERSHOOT_SHARE * m)
        slack = max(_GROWN_SLACK * m, 2.0 * excess)
        edge = shapely.boundary(piece)
        shapely.prepare(piece)
        shapely.prepare(edge)
        pts = shapely.points(mx, my)
        held = np.asarray(shapely.covers(piece, pts), dtype=np.bool_)
        held &= ~np.asarray(_dwithin(edge, pts, ri + slack + BAND_M + _PAD_M), dtype=np.bool_)
    rank[idx[held]] = _HOLDS


def _metric_near(
    metric: Any, m: float, mx: FloatArray, my: FloatArray, r: FloatArray, share: float = 0.0
) -> Any:
    """A margin polygon's metric shape near disks (centres ``mx``, ``my`` in its frame), or None.

    Clipped to a rectangle holding every point within ``m`` of any point of the disks (those
    lie within ``r + m`` of their centre), and ``share`` of the largest radius more. None when
    the clip is empty or invalid: a metric polygon the projection made invalid, as a sliver's
    may be, has no sound GEOS buffer.
    """
    reach = float(np.max(r)) * (1.0 + share) + 2.0 * m + _PAD_M
    near = shapely.clip_by_rect(
        metric,
        float(np.min(mx)) - reach,
        float(np.min(my)) - reach,
        float(np.max(mx)) + reach,
        float(np.max(my)) + reach,
    )
    return None if near.is_empty or not shapely.is_valid(near) else near


def _part_ranks(
    lv: Leaves, accuracy: FloatArray, part: Circle | Polygon, factor: float, stale: _Stale
) -> tuple[I32Array, npt.NDArray[Any], Box]:
    """Rows (any order) whose disk meets the part, their rank (1 or 2), and a box of them.

    ``stale`` notes which of them have a fix older than its cutoff.
    """
    empty = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int8), None)
    if lv.count == 0:
        return empty
    r_all = factor * lv.acc_all
    rho = None if isinstance(part, Circle) else polygons.rho(part)
    leaves, boxes = lv.leaves_in(*_window(part, r_all, rho))
    if leaves.size == 0:
        return empty
    g = factor * lv.acc_max[leaves]
    centre = None
    if isinstance(part, Polygon):
        assert rho is not None
        centre = _centre_whole(lv, part, leaves, g, rho)
    if centre is None:
        holds, none, cells, scale = _whole(lv, part, leaves, boxes, g, rho)
    else:
        holds, none, reaches, scale = centre
        cells = None
    rows_out: list[I32Array] = []
    ranks_out: list[npt.NDArray[Any]] = []
    whole = leaves[holds]
    box = _leaves_box(lv, whole)
    if whole.size:
        rows = lv.rows_of_leaves(whole)
        rows_out.append(rows)
        ranks_out.append(np.full(rows.size, _HOLDS, dtype=np.int8))
        stale.leaves(whole)
    edge = leaves[~holds & ~none]
    if edge.size:
        if isinstance(part, Circle):
            # Whole (leaves × LEAF) blocks: padding slots have NaN chords and rank 0.
            rows = lv.perm_blocks.take(edge, axis=0)
            chords = lv.block_chords(edge, *_geodesy.ecef(part.lon, part.lat))
            r = factor * accuracy.take(rows)
            x, y = lv.xs_blocks.take(edge, axis=0), lv.ys_blocks.take(edge, axis=0)
            rank = _circle_ranks(part, x, y, r, chords)
        elif centre is not None:
            # Whole blocks as a circle's, by distance from the centre; the rim devices exact.
            rows = lv.perm_blocks.take(edge, axis=0)
            x, y = lv.xs_blocks.take(edge, axis=0), lv.ys_blocks.take(edge, axis=0)
            r = factor * accuracy.take(rows)
            lon0, lat0 = polygons.origin(part)
            chords = lv.block_chords(edge, *_geodesy.ecef(lon0, lat0))
            rank, rim = _centre_ranks(part, x, y, r, reaches, chords)
            # On flat views of the contiguous blocks: the rim's ranks land in ``rank`` itself.
            xf, yf, rf, flat = (a.reshape(-1) for a in (x, y, r, rank))
            _exact_ranks(part, xf, yf, rf, np.flatnonzero(rim), flat, scale)
            _held_in_margin(part, xf, yf, rf, flat)
        else:
            assert cells is not None
            slots, x, y = lv.points_of(edge)
            rows = lv.perm_blocks.take(edge, axis=0).reshape(-1)[: slots.size]
            r = factor * accuracy.take(rows)
            # Each device's own disk first, as the leaves' were: against the room around its
            # cell (one gather), then, for the devices that fail that, its grown box against
            # the marked cells; the exact ranks only for the devices left.
            state, room = cells.points(x, y)
            m = part.margin_m
            hold = (state == 1) & (r * scale + _PAD_M < room)
            none_ = (state == 0) & ((m + r) * scale + _PAD_M < room)
            rest = np.flatnonzero(~hold & ~none_ & (state >= 0))
            if rest.size:
                xr, yr, sr = x[rest], y[rest], state[rest]
                hold[rest], none_[rest] = _boxes_decided(
                    cells, sr == 1, sr == 0, (xr, yr, xr, yr), r[rest], m, scale
                )
            rank = np.where(hold, _HOLDS, 0)
            _exact_ranks(part, x, y, r, np.flatnonzero(~hold & ~none_), rank, scale, state)
            _held_in_margin(part, x, y, r, rank)
        keep = rank > 0
        rows_out.append(rows[keep])
        ranks_out.append(rank[keep].astype(np.int8))
        box = _geodesy.box_union(box, _geodesy.box_of(x[keep], y[keep]))
        if isinstance(part, Circle) or centre is not None:
            stale.blocks(edge, rows, keep)
        else:
            stale.slots(slots[keep], rows[keep])
    if not rows_out:
        return empty
    return np.concatenate(rows_out), np.concatenate(ranks_out), box


#: (circle, leaf) pairs classified at once by :func:`_circles_ranks`.
_PAIRS_PER_CHUNK = 2048


def _circles_ranks(
    lv: Leaves, accuracy: FloatArray, circles: list[Circle], factor: float, stale: _Stale
) -> tuple[I32Array, npt.NDArray[Any], Box, I32Array]:
    """Rows (each once) whose disk meets any of many circles, their rank (1 or 2), a box.

    Also the rows of rank 1 whose disk meets two circles or more (:func:`_held_together`).
    The circle steps of :func:`_part_ranks`, vectorised over (circle, leaf) pairs as
    :func:`geotarget._index.plan.circles_rows` is for queries: an area of thousands of
    circles costs a few numpy passes over its pairs, not a Python loop per part.
    """
    empty = (np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int8), None, _NO_ROWS)
    pairs = plan.circle_pairs(lv, circles, factor * lv.acc_all)
    if pairs is None:
        return empty
    lon, lat, reach, part, leaf = pairs.lon, pairs.lat, pairs.reach, pairs.part, pairs.leaf
    cx, cy, cz = pairs.centre
    g = factor * lv.acc_max[leaf]
    holds = pairs.far <= _geodesy.chord_inside(reach[part] - g)
    none = pairs.near > _geodesy.chord_outside(reach[part] + g)
    rows_out: list[I32Array] = []
    ranks_out: list[npt.NDArray[Any]] = []
    whole = _sorted.unique(leaf[holds])
    box = _leaves_box(lv, whole)
    if whole.size:
        rows = lv.rows_of_leaves(whole)
        rows_out.append(rows)
        ranks_out.append(np.full(rows.size, _HOLDS, dtype=np.int8))
        stale.leaves(whole)
    # Straddling pairs whose leaf is not held whole by another circle anyway (2 is the top).
    edge = np.flatnonzero(~holds & ~none)
    edge = edge[~_sorted.member(leaf[edge], whole)]
    # In chunks of pairs: the (pairs × LEAF) temporaries stay a few megabytes.
    for lo in range(0, edge.size, _PAIRS_PER_CHUNK):
        chunk = edge[lo : lo + _PAIRS_PER_CHUNK]
        p, e = part[chunk], leaf[chunk]
        # Whole (pairs × LEAF) blocks: padding slots have NaN chords and rank 0.
        rows = lv.perm_blocks.take(e, axis=0)
        chords = lv.block_chords(e, cx[p], cy[p], cz[p])
        r = factor * accuracy.take(rows)
        x, y = lv.xs_blocks.take(e, axis=0), lv.ys_blocks.take(e, axis=0)
        held, met = _geodesy.geodesic_le(
            lon[p][:, None],
            lat[p][:, None],
            x,
            y,
            [(r, reach[p][:, None]), (0.0, reach[p][:, None] + r)],
            chords,
        )
        rank = np.where(held, _HOLDS, np.where(met, _MEETS, 0))
        keep = rank > 0
        rows_out.append(rows[keep])
        ranks_out.append(rank[keep].astype(np.int8))
        box = _geodesy.box_union(box, _geodesy.box_of(x[keep], y[keep]))
        stale.blocks(e, rows, keep)
    if not rows_out:
        return empty
    # Each row once (classify's table relies on rows unique per chunk); a row listed for two
    # circles or more met both (a row is listed once per circle whose disk test it passed).
    best_rows, best_ranks, twice = _best_per_row(
        np.concatenate(rows_out), np.concatenate(ranks_out), accuracy.size, repeats=True
    )
    return best_rows, best_ranks, box, best_rows[twice & (best_ranks == _MEETS)]


def _best_per_row(
    rows: I32Array, ranks: npt.NDArray[Any], snapshot: int, *, repeats: bool
) -> tuple[I32Array, I8Array, BoolArray]:
    """The rows sorted, each once with its best rank (``repeats``: rows may repeat).

    Also whether each was listed more than once. (row, rank) pairs sorted as one integer key,
    of repeated rows the last (the best rank) kept; int32 keys while they fit (snapshots under
    2**29 rows), sorted by 16-bit digits when there are a few thousand or more
    (:func:`geotarget._sorted.sort_keys`: 37,000 in about 40 % of ``np.sort``'s time).
    """
    key = rows.astype(np.int64 if snapshot >= 1 << 29 else np.int32) * 4
    key += ranks
    key = _sorted.sort_keys(key, 4 * snapshot)
    out_rows = (key >> 2).astype(np.int32)
    out_ranks = (key & 3).astype(np.int8)
    if repeats and out_rows.size > 1:
        same = out_rows[1:] == out_rows[:-1]
        last = np.ones(out_rows.size, dtype=np.bool_)
        last[:-1] = ~same
        before = np.zeros(out_rows.size, dtype=np.bool_)
        before[1:] = same  # the row was listed just before, too
        return out_rows[last], out_ranks[last], before[last]
    return out_rows, out_ranks, np.zeros(out_rows.size, dtype=np.bool_)


def classify(
    lv: Leaves, positions: Positions, area: Area, rule: LocationRule, at: dt.datetime
) -> tuple[I32Array, I8Array, Box]:
    """See :meth:`geotarget.PositionIndex.classify`; also a lon/lat box of the rows' fixes.

    The box comes from what the classification holds in spatial order (the boxes of leaves
    taken whole, the coordinates of the devices tested one by one), so a caller that needs
    to know where the rows are does not gather their coordinates from the snapshot.
    """
    at64 = aware_us(at)  # validate even when the rule has no max_age
    cutoff = (
        None
        if rule.max_age is None
        else at64 - np.timedelta64(rule.max_age // dt.timedelta(microseconds=1), "us")
    )
    stale = _Stale(lv, positions.observed_at, cutoff)
    rows_list: list[I32Array] = []
    rank_list: list[npt.NDArray[Any]] = []
    box: Box = None
    circles = [p for p in area.parts if isinstance(p, Circle)]
    each = area.parts if len(circles) < 2 else [p for p in area.parts if isinstance(p, Polygon)]
    twice = _NO_ROWS  # rows met by two circles of the group or more
    behind: list[tuple[Circle | Polygon, ...]] = []  # the parts behind each of rows_list
    if len(circles) >= 2:
        rows, ranks, got, twice = _circles_ranks(
            lv, positions.accuracy_m, circles, rule.accuracy, stale
        )
        rows_list.append(rows)
        rank_list.append(ranks)
        behind.append(tuple(circles))
        box = _geodesy.box_union(box, got)
    for part in each:
        rows, ranks, got = _part_ranks(lv, positions.accuracy_m, part, rule.accuracy, stale)
        rows_list.append(rows)
        rank_list.append(ranks)
        behind.append((part,))
        box = _geodesy.box_union(box, got)
    total = sum(int(r.size) for r in rows_list)
    if total * _BITMAP_SHARE > len(positions):
        # A large answer: the best rank per row through a table of the snapshot's rows costs
        # less than sorting (rows are unique within a part).
        table = np.zeros(len(positions), dtype=np.int8)
        for part_rows, part_ranks in zip(rows_list, rank_list, strict=True):
            table[part_rows] = np.maximum(table[part_rows], part_ranks)
        rows = np.flatnonzero(table).astype(np.int32)
        ranks = table[rows]
    else:
        rows, ranks, _ = _best_per_row(
            np.concatenate(rows_list),
            np.concatenate(rank_list),
            len(positions),
            repeats=len(rows_list) > 1,
        )
    old = stale.rows()  # each among ``rows`` (found among the rows kept)
    if len(area.parts) > 1 and rule.accuracy > 0.0:
        # A disk no part holds alone may lie within the area, the parts' union, all the same.
        at_rows, used = _met_by_several(rows, ranks, rows_list, twice, old, len(positions))
        if at_rows.size:
            r = rule.accuracy * positions.accuracy_m[rows[at_rows]]
            x, y = positions.lon[rows[at_rows]], positions.lat[rows[at_rows]]
            parts = tuple(p for entry, u in zip(behind, used, strict=True) if u for p in entry)
            ranks[at_rows[_held_together(parts, x, y, r)]] = _HOLDS
    states = np.where(ranks == _HOLDS, _INSIDE, _AMBIGUOUS)
    if old.size:
        states[np.searchsorted(rows, old)] = _UNKNOWN
    return rows, states, box


_NO_ROWS = np.empty(0, dtype=np.int32)


def _met_by_several(
    rows: I32Array,
    ranks: npt.NDArray[Any],
    rows_list: list[I32Array],
    twice: I32Array,
    old: I32Array,
    snapshot: int,
) -> tuple[IntArray, list[bool]]:
    """Positions in ``rows`` (sorted) of current rank-1 fixes whose disk meets two parts or more.

    The only disks the parts may hold together but none alone. ``rows_list``: each part's rows
    (unique within it), the circles decided together as one entry whose rows met by two
    circles or more are ``twice``; ``old``: the stale rows. Also, per entry of ``rows_list``,
    whether it meets one of those disks (the others cannot help hold them).
    """
    cand = np.flatnonzero(ranks == _MEETS)
    if old.size and cand.size:
        cand = cand[~_sorted.member(rows[cand], np.sort(old))]
    used = [False] * len(rows_list)
    if cand.size == 0:
        return cand, used
    # Tables of the snapshot's rows (zeroed lazily, touched only where rows are): the rows
    # wanted, listed once, listed again.
    once = np.zeros(snapshot, dtype=np.bool_)
    again = np.zeros(snapshot, dtype=np.bool_)
    wanted = np.zeros(snapshot, dtype=np.bool_)
    wanted[rows[cand]] = True
    for i, part_rows in enumerate(rows_list):
        hit = part_rows[wanted[part_rows]]
        again[hit] |= once[hit]
        once[hit] = True
        used[i] = bool(hit.size)
    again[twice] = True
    return cand[again[rows[cand]]], used


#: A circle's inscribed polygon for :func:`_held_together`: vertices per circle (at most
#: 256, at least 16) and in all (the budget shared by an area's circles).
_RIM_MAX, _RIM_MIN, _RIM_BUDGET = 256, 16, 1 << 15
#: The rim's bulge (metres) the vertex count aims at, below _RIM_MAX.
_RIM_SAG_M = 0.05


def inner_shapes(parts: tuple[Circle | Polygon, ...]) -> list[Any]:
    """Lon/lat polygons (shapely) each part surely covers: the union of the parts' own shapes.

    A polygon is its own lon/lat shape (its margin left out). A circle is a polygon on its rim
    (vertices at the reach, one ``Geod.fwd`` for all): a lon/lat-straight edge between two rim
    points lies within the circle, inside its chord's bulge, as long as the circle is small
    beside the Earth's radius over ``1 + tan(latitude)`` — a circle larger than half that (or
    whose window reaches a pole or the antimeridian) is left out. Leaving out only makes
    fewer disks held together: the answer stays AMBIGUOUS, never INSIDE wrongly.
    """
    shapes: list[Any] = [p.shape for p in parts if isinstance(p, Polygon)]
    drawn: list[Circle] = []
    for c in (p for p in parts if isinstance(p, Circle)):
        west, south, east, north = circle_window(c.lon, c.lat, c.reach_m)
        far = max(abs(south), abs(north))
        if west <= -180.0 or east >= 180.0:
            continue
        if c.reach_m * (1.0 + math.tan(math.radians(far))) <= 0.5 * _geodesy.R_MIN:
            drawn.append(c)
    if drawn:
        each = max(_RIM_MIN, min(_RIM_MAX, _RIM_BUDGET // len(drawn)))
        # n vertices bulge R (1 - cos(pi / n)) ~ R (pi / n)**2 / 2: as few as reach _RIM_SAG_M.
        want = [math.ceil(math.pi * math.sqrt(c.reach_m / (2 * _RIM_SAG_M))) for c in drawn]
        n = np.clip(np.array(want), _RIM_MIN, each)
        which = np.repeat(np.arange(len(drawn)), n)
        step = np.arange(which.size) - np.repeat(np.cumsum(n) - n, n)
        az = step * (360.0 / n[which])
        lon0 = np.array([c.lon for c in drawn])[which]
        lat0 = np.array([c.lat for c in drawn])[which]
        reach = np.array([c.reach_m for c in drawn])[which] - _PAD_M  # a hair within
        lon, lat, _ = _geodesy.geod().fwd(lon0, lat0, az, np.maximum(reach, 0.0))
        coords = np.column_stack([lon, lat])
        offsets = np.concatenate([[0], np.cumsum(n)])
        for i in range(len(drawn)):
            shapes.append(shapely.polygons(coords[offsets[i] : offsets[i + 1]]))
    return shapes


def _held_together(
    parts: tuple[Circle | Polygon, ...], x: FloatArray, y: FloatArray, r: FloatArray
) -> BoolArray:
    """Whether the parts, together, hold each disk (centre ``x``, ``y``, radius ``r``).

    The parts' union (:func:`inner_shapes`, united by GEOS) is classified one piece at a
    time (:func:`held_by_piece`): a disk a piece holds lies within it geodesically, so within
    the area. (Decided conservatively: a disk within about the frame's scale error and
    :data:`_PAD_M` of the union's boundary, or of a circle's rim between the vertices drawn,
    stays AMBIGUOUS.)
    """
    held = _held_by_union(parts, x, y, r)
    rest = np.flatnonzero(~held)
    if rest.size and _meet_antimeridian(parts):
        # In lon/lat the parts' halves either side of 180° lie at the two ends of the range,
        # so their union does not join them: a disk across 180° held by the halves together
        # stayed AMBIGUOUS. Turned half a revolution about the axis (geodesic distances
        # unchanged), the halves meet at 0° and their union holds it.
        turned = _turned(parts)
        if turned:
            held[rest] = _held_by_union(turned, _turn(x[rest]), y[rest], r[rest])
    return held


def _held_by_union(
    parts: tuple[Circle | Polygon, ...], x: FloatArray, y: FloatArray, r: FloatArray
) -> BoolArray:
    """Whether the lon/lat union of the parts' inner shapes holds each disk (conservatively)."""
    held = np.zeros(x.size, dtype=np.bool_)
    shapes = inner_shapes(parts)
    # A polygon with a margin counts its margin near the disks (two islands' margins over the
    # strait between them hold a boat there): its inner shape grows by it.
    for k, part in enumerate(p for p in parts if isinstance(p, Polygon)):  # shapes' order
        if part.margin_m > 0.0:
            shapes[k] = _grown_near(part, x, y, r)
    union = shapely.union_all(shapes)
    for piece in shapely.get_parts(union):
        if not isinstance(piece, shapely.Polygon) or piece.is_empty:
            continue
        west, south, east, north = piece.bounds
        sel = np.flatnonzero(~held & (x >= west) & (x <= east) & (y >= south) & (y <= north))
        if sel.size == 0:
            continue
        held[sel] = held_by_piece(piece, x[sel], y[sel], r[sel])
    return held


#: Share of the largest radius by which :func:`_grown_near` clips the polygon farther out than
#: the disks and the margin reach: beyond the clip the water the margin fills opens again,
#: a boundary of the union the disks must clear by the union frame's scale error (up to about
#: 3 % of the radius for an area the size of Sweden). Clipped 3 margins out, a 50 km disk over
#: a strait a 50 m margin fills, in an area 300 km across, stayed AMBIGUOUS.
_UNION_CLIP_SHARE = 0.05
#: Longest edge (metres, in the metric frame) of the margin grown near disks
#: (:func:`_grown_near`) before it is drawn back in lon/lat; at most this share of the margin.
_GROWN_EDGE_M, _GROWN_EDGE_SHARE = 100.0, 10.0


def _grown_near(part: Polygon, x: FloatArray, y: FloatArray, r: FloatArray) -> Any:
    """The polygon's lon/lat shape and, near the disks, a shape its margin surely covers.

    The metric polygon near the disks (as :func:`_held_in_margin` clips it) grown by the
    margin less twice :data:`_GROWN_SLACK` of it (GEOS simplifies by a hundredth of the
    distance; the other hundredth covers the lon/lat-straight edges drawn back between
    vertices at most :data:`_GROWN_EDGE_M` apart), drawn back in lon/lat. The polygon's own
    shape where the margin cannot be drawn so (near 180° or a pole, or an invalid frame, or
    where GEOS drew it farther out than :data:`_GROWN_SLACK` of the margin, as measured by
    :func:`geotarget._geos.overshoot`).
    """
    shape = part.shape
    m = part.margin_m
    lon0, lat0, metric = polygons.frame(part)
    mx, my = _geodesy.to_aeqd(lon0, lat0, x, y)
    west, south, east, north = part_window(part)
    if west <= -180.0 or east >= 180.0 or max(abs(south), abs(north)) > 85.0:
        return shape
    with _geos.quiet():
        near = _metric_near(metric, m, mx, my, r, _UNION_CLIP_SHARE)
        d = m * (1.0 - 2.0 * _GROWN_SLACK) - _PAD_M
        if near is None or d <= 0.0:
            return shape
        edge = min(_GROWN_EDGE_M, _GROWN_EDGE_SHARE * m)
        metric_drawn = _geos.grown(near, d, 16)
        if _geos.overshoot(metric_drawn, near, d, _OVERSHOOT_SHARE * m) > _GROWN_SLACK * m:
            return shape  # drawn farther than the slack allows (measured): no margin here
        drawn = shapely.segmentize(metric_drawn, edge)
        t = _geodesy.aeqd_transformer(lon0, lat0)
        back = shapely.transform(
            drawn,
            lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1], direction="INVERSE")),
        )
        w, _, e, _ = back.bounds
        if e - w > 180.0 or not shapely.is_valid(back):
            return shape
        return shapely.union(shape, back)


def _meet_antimeridian(parts: tuple[Circle | Polygon, ...]) -> bool:
    """Whether a part reaches the 180° meridian (its window does, as a whole-circle one)."""
    for part in parts:
        west, _, east, _ = part_window(part)
        if west <= -180.0 or east >= 180.0:
            return True
    return False


def _turn(lon: FloatArray) -> FloatArray:
    """Longitudes turned by 180° (0° to -180°, 180° and -180° both to 0°)."""
    out: FloatArray = np.where(lon >= 0.0, lon - 180.0, lon + 180.0)
    return out


def _turned(parts: tuple[Circle | Polygon, ...]) -> tuple[Circle | Polygon, ...]:
    """The parts turned by 180° of longitude, leaving out those that cannot be.

    A polygon with vertices both east and west of 0° would have an edge across the new
    180° meridian (as would one whose turned rings GEOS finds invalid): left out, which
    only makes fewer disks held together (never INSIDE wrongly).
    """
    out: list[Circle | Polygon] = []
    for part in parts:
        if isinstance(part, Circle):
            (lon,) = _turn(np.array([part.lon])).tolist()
            out.append(Circle(lon, part.lat, part.radius_m, margin_m=part.margin_m))
            continue
        rings = [np.asarray(part.exterior), *(np.asarray(h) for h in part.holes)]
        lons = np.concatenate([ring[:, 0] for ring in rings])
        if (lons > 0.0).any() and (lons < 0.0).any():
            continue
        shift = -180.0 if (lons > 0.0).any() else 180.0
        moved = [np.column_stack([ring[:, 0] + shift, ring[:, 1]]) for ring in rings]
        try:
            out.append(Polygon(moved[0], moved[1:]))
        except InvalidArea:
            continue
    return tuple(out)


def held_by_piece(piece: Any, x: FloatArray, y: FloatArray, r: FloatArray) -> BoolArray:
    """Whether one lon/lat polygon (shapely) holds each geodesic disk, conservatively.

    The piece is classified as a polygon part is (:func:`_exact_ranks`, in the piece's metric
    frame), with each radius grown by the frame's worst scale error and :data:`_PAD_M`: a disk
    the piece holds so lies within it geodesically. A piece the polygon rules refuse (none
    that GEOS draws from valid parts is) holds no disk.
    """
    try:
        polygon = Polygon.from_shapely(piece)
    except InvalidArea:
        return np.zeros(x.size, dtype=np.bool_)
    rank = np.zeros(x.size, dtype=np.int8)
    scale = 1.0 + frame_scale(polygon.shape, float(r.max()) * 1.01 + 1.0)
    grown_r = r * scale + _PAD_M
    _exact_ranks(polygon, x, y, grown_r, np.arange(x.size), rank, scale)
    held: BoolArray = rank == _HOLDS
    return held
