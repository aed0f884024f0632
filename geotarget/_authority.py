"""Private: which regions an alert area reaches, for the issuer-authority check.

A finest region is *reached* iff the interior of the alert area meets the interior of the region
(DE-9IM ``T********``): a shared border alone does not reach it.

Most alert areas lie well inside one region. So each part is first looked up by a rigorous
lon/lat window holding it (a circle's reach, or a polygon without margin's bounds): when the
regions' grid index knows one answer for every point of that window (no boundary, no overlap
near: ``box_region``), the part is in that region's interior, and reaches it alone (or nothing,
outside every region). The parts the index cannot settle are decided against the candidate
regions of an STRtree over them: a circle of reach up to 30 km reaches a region iff the region
is nearer to its centre than its reach (:func:`geotarget._geodesy.distance_to_geometries`,
never below the true distance, above it by under a millimetre), all such circles in one
vectorized pass; the other parts (a larger circle, a polygon with a margin) first as shapely
polygons drawn inside them (a rim of up to 4,096 points, a buffer in the metric frame), by the
relate test, then — for the regions within the sliver such a polygon leaves out — in the part's own
azimuthal-equidistant frame, as the matcher decides a device (:meth:`Territory._drawn`): a
circle's rim crossing a border by centimetres between two rim points still reaches the region
beyond, where devices are told. Each part is decided on its own, so the cost grows with the
parts, and not with a rim per small circle (a CAP document of thousands of circles).

:meth:`Territory.detached` finds the parts of a multi-part area that reach no region and are
not joined, through parts that meet, to one that does: a kind told beyond the border may not be
sent to such a separate place abroad.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from geotarget import _geodesy, _geos
from geotarget._geodesy import circle_window
from geotarget._index import polygons
from geotarget._index.boundary import part_window
from geotarget.areas import Area, Circle, Polygon
from geotarget.regions import RegionSet

#: How far, in metres, an alert area may lie past its issuer's regions into another region
#: by default without being refused (``Targeter(border_slack_m=...)``). Two digitisations of
#: one border disagree by metres, and coordinates written to four decimals move a vertex by up
#: to about 6 m: an issuer drawing its own region from its own map, or rounding it, is not
#: refused for those slivers. Devices in them are not told (:meth:`Territory.beyond`).
BORDER_SLACK_M = 25.0

#: Circles up to this reach are decided by distance (within the 1 mm documented for
#: :func:`geotarget._geodesy.distance_to_geometries`); larger ones by :meth:`Territory._drawn`.
_NEAR_M = 30_000.0


class Territory:
    """The finest regions of a hierarchy, ready to say which ones an area reaches."""

    def __init__(self, finest: RegionSet) -> None:
        self._finest = finest
        self._codes = np.array(finest.codes, dtype=object)
        self._geoms = np.array([finest[c].geometry for c in finest.codes], dtype=object)
        self._tree = shapely.STRtree(self._geoms)

    def reached(self, area: Area) -> frozenset[str]:
        """The codes of the finest regions whose interior the area's interior meets."""
        return frozenset().union(*self._per_part(area.parts))

    def beyond(
        self, area: Area, codes: list[str], home: frozenset[str], slack_m: float
    ) -> list[str]:
        """Of the regions ``codes`` the area reaches, those it reaches farther than ``slack_m``.

        A region is kept when some point of the area in it may lie more than ``slack_m``
        metres from every region of ``home`` (the issuer's). Decided per piece of a part in
        the region, in an azimuthal-equidistant frame at the piece (whose distances between
        points near each other are never shorter than on the ellipsoid), by distances alone:

        * a piece holding a point deeper than the slack inside it reaches too far (the home
          regions lie outside it); GEOS's inward buffer, its arcs cut short, keeps more than
          the exact one, so it is empty only if the exact one is;
        * else it is within the slack iff the home regions grown by the slack cover it
          (:func:`_covered`: GEOS's outward buffer, its round corners drawn by chords
          inside the true offset), a test whose work grows with the vertices near the
          piece, not with its length over the slack (a county's border);
        * only where GEOS cannot build those shapes does its outline decide
          (:func:`_outline_within`): densified to a sixteenth of the slack, the points
          within one step of a home region and the segments between two such kept, every
          other point of it must lie within ``slack - depth - 2 steps`` of those, ``depth``
          the least sixteenth of the slack the piece's inward buffer empties at (every
          point of the piece lies within it of the outline).

        So a piece within the slack of home is not refused (to within the chords of the
        grown regions' round corners, under 1e-4 of the slack), and no area reaching farther
        than the slack is let through. The slack is first cut by the part's sliver
        (:func:`_sliver_m`) and a thousandth.
        """
        parts = area.parts
        shapes = np.array([p._to_lonlat_polygon() for p in parts], dtype=object)
        # Each region against the parts that meet it (one STRtree query), not every part:
        # a CAP document of a thousand islands along a border reaches a few regions each.
        which, meets = self._tree.query(shapes, predicate="intersects")
        out = []
        for code in codes:
            mine = which[self._codes[meets] == code].tolist()
            pieces = [(shapes[i], _sliver_m(parts[i])) for i in mine]
            if not self._within_slack(pieces, code, home, slack_m):
                out.append(code)
        return out

    def _within_slack(
        self, shapes: list[tuple[Any, float]], code: str, home: frozenset[str], slack_m: float
    ) -> bool:
        """Whether each part's piece in region ``code`` lies within ``slack_m`` of ``home``."""
        region = self._finest[code].geometry
        for shape, sliver in shapes:
            piece = shapely.intersection(shape, region)
            if piece.is_empty or shapely.area(piece) == 0.0:
                continue  # a shared border or point: no interior there
            slack = (slack_m - sliver) * 0.999
            west, south, east, north = piece.bounds
            if slack <= 0.0 or east - west > 90.0 or max(abs(south), abs(north)) > 85.0:
                return False  # a frame across half the world, or at a pole: strict there
            lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
            flat = in_frame(piece, lon0, lat0)
            # Each polygon on its own, made valid: densified slivers may cross themselves by
            # nanometres, and GEOS's inward buffer of such a ring is no erosion.
            bits = shapely.get_parts(shapely.get_parts(flat))
            valid = shapely.get_parts(shapely.get_parts(shapely.make_valid(bits)))
            solid = valid[shapely.get_type_id(valid) == 3]
            if not shapely.is_empty(shapely.buffer(solid, -slack, quad_segs=8)).all():
                return False  # a point of it lies deeper than the slack: farther from home
            # Every home point within the slack of the piece lies in this box (rigorous).
            dlon_s, low, _ = _geodesy.lonlat_window(west, south, slack_m)
            dlon_n, _, high = _geodesy.lonlat_window(east, north, slack_m)
            pad = max(dlon_s, dlon_n)
            box = (west - pad, low, east + pad, high)
            near = [
                i for i in self._tree.query(shapely.box(*box)).tolist() if self._codes[i] in home
            ]
            clipped = [shapely.clip_by_rect(self._geoms[i], *box) for i in near]
            homes = [in_frame(c, lon0, lat0) for c in clipped if not c.is_empty]
            covered = _covered(valid, homes, slack)
            if covered is None:  # GEOS could not build the shapes: the outline decides
                covered = _outline_within(valid, solid, homes, slack)
            if not covered:
                return False
        return True

    def detached(self, area: Area) -> list[int]:
        """The parts that reach no region and are not joined to one that does, by index.

        A part reaching no region lies wholly abroad (or at sea beyond the territory). It is
        *joined* when it meets a part that reaches a region, directly or through other parts
        that meet (the area's connected pieces): the danger across the border around an
        incident on the territory. An area with no part on the territory has none detached
        (it is wholly abroad, which the rollout refuses). Parts meet as in :func:`_meet`.
        """
        parts = area.parts
        if len(parts) < 2:
            return []
        # A part with a point of its interior in a region reaches it (its interior meets the
        # region's closure there, so its interior): one vectorized lookup of a centre or a
        # point on each polygon settles the parts on the territory; only the others are
        # decided part by part.
        inner = [
            (p.lon, p.lat) if isinstance(p, Circle) else shapely.point_on_surface(p.shape).coords[0]
            for p in parts
        ]
        xy = np.array(inner, dtype=np.float64)
        home = self._finest.locate_index(xy[:, 0], xy[:, 1]) >= 0
        unsure = np.flatnonzero(~home)
        if unsure.size:
            codes = self._per_part(tuple(parts[i] for i in unsure.tolist()))
            home[unsure] = [bool(c) for c in codes]
        if home.all() or not home.any():
            return []
        # Grow the joined set from the parts on the territory, one layer of meeting parts at
        # a time (at most as many layers as parts abroad). Only pairs whose rigorous windows
        # meet are looked at (an STRtree), and pairs of circles in one vectorized Geod.inv: the
        # cost grows with the pairs of parts near each other, not with every pair.
        windows = np.array([part_window(p) for p in parts], dtype=np.float64)
        boxes = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
        loose = np.flatnonzero(~home)
        frontier = np.flatnonzero(home)
        while frontier.size and loose.size:
            a, b = shapely.STRtree(boxes[frontier]).query(boxes[loose], predicate="intersects")
            met = np.zeros(loose.size, dtype=np.bool_)
            met[a[_meeting(parts, loose[a], frontier[b])]] = True
            frontier, loose = loose[met], loose[~met]
        return [int(k) for k in loose]

    def _per_part(self, parts: tuple[Circle | Polygon, ...]) -> list[set[str]]:
        """Per part, the codes of the finest regions whose interior its interior meets."""
        codes: list[set[str]] = [set() for _ in parts]
        circles: list[int] = []
        others: list[int] = []
        for i, part in enumerate(parts):
            if isinstance(part, Circle):
                window = circle_window(part.lon, part.lat, part.reach_m)
            elif part.margin_m == 0.0:
                window = part.bounds
            else:
                others.append(i)
                continue
            one = self._finest.locate_box(*window)
            if one is not None and one >= 0:
                codes[i].add(str(self._codes[one]))
            elif one is None and isinstance(part, Circle) and part.reach_m <= _NEAR_M:
                circles.append(i)
            elif one is None:
                others.append(i)
        if circles:
            chosen = [p for p in (parts[i] for i in circles) if isinstance(p, Circle)]
            for k, code in self._circles(chosen):
                codes[circles[k]].add(code)
        for i in others:
            codes[i] |= self._drawn(parts[i])
        return codes

    def _drawn(self, part: Circle | Polygon) -> set[str]:
        """The regions a larger circle, or a polygon with a margin, reaches, as it is matched.

        Its lon/lat shape (a circle's rim of up to 4,096 points, a margin's rounded buffer) lies
        within the part: the regions it reaches, the relate test settles. That shape is drawn
        *inside* the part — chords under a rim, a buffer's arcs cut short — by up to
        :func:`_sliver_m` (under a metre for a circle of 1,000 km, metres for a margin of
        100 km), where devices are told all the same. So each other region within that
        sliver of the shape is decided as the matcher decides a device: in the part's own
        azimuthal-equidistant frame (about a circle's centre, where distances from it are
        geodesic; a polygon's :func:`geotarget._index.polygons.frame`), it is reached iff
        its nearest point there is nearer than the radius, or the margin. The region is
        first cut to the band around the shape, so the work grows with the regions near
        the rim, not with their size.
        """
        inner = part._to_lonlat_polygon()
        reached = self._polygonal(inner)
        west, south, east, north = part_window(part)
        far = max(abs(south), abs(north))
        sliver = _sliver_m(part)
        if far >= 89.0 or west <= -180.0 or east >= 180.0:
            band = shapely.box(west, south, east, north)  # near a pole or the antimeridian
        else:
            # Degrees at least as long as the sliver in every direction, twice over.
            band = shapely.buffer(
                inner, 2.0 * sliver / (_geodesy.R_MIN * np.cos(np.radians(far))) * _geodesy.DEG
            )
        candidates = self._tree.query(band, predicate="intersects")
        candidates = np.array(
            [c for c in candidates.tolist() if str(self._codes[c]) not in reached], dtype=np.intp
        )
        if candidates.size == 0:
            return reached
        if isinstance(part, Circle):
            lon0, lat0, shape, limit = part.lon, part.lat, shapely.points(0.0, 0.0), part.reach_m
        else:
            lon0, lat0, shape = polygons.frame(part)
            limit = part.margin_m

        near = [
            in_frame(piece, lon0, lat0)
            for piece in shapely.intersection(self._geoms[candidates], band).tolist()
        ]
        hit = np.asarray(shapely.distance(shape, np.array(near, dtype=object)) < limit)
        return reached | set(self._codes[candidates[hit]].tolist())

    def _circles(self, circles: list[Circle]) -> list[tuple[int, str]]:
        """(circle, code) for each region nearer to the circle's centre than its reach."""
        windows = np.array([circle_window(c.lon, c.lat, c.reach_m) for c in circles])
        boxes = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2], windows[:, 3])
        which, candidate = self._tree.query(boxes)
        if candidate.size == 0:
            return []
        lon = np.array([c.lon for c in circles])[which]
        lat = np.array([c.lat for c in circles])[which]
        reach = np.array([c.reach_m for c in circles])[which]
        near = _geodesy.distance_to_geometries(lon, lat, self._geoms[candidate]) < reach
        return list(zip(which[near].tolist(), self._codes[candidate[near]].tolist(), strict=True))

    def _polygonal(self, geom: Any) -> set[str]:
        """The regions whose interior a lon/lat polygon's interior meets (relate test)."""
        candidates = self._tree.query(geom)
        if candidates.size == 0:
            return set()
        hit = _geos.relate_pattern(geom, self._geoms[candidates], "T********")
        return set(self._codes[candidates[hit]].tolist())


def _outline_within(valid: Any, solid: Any, homes: list[Any], slack: float) -> bool:
    """Whether pieces lie within ``slack`` of the ``homes`` polygons, by their outline.

    The outline of ``valid`` (its polygons ``solid``), densified to a sixteenth of the
    slack, its points within one step of a home marked: :func:`_outline_near` decides.
    The points number the outline's length over the step (hundreds of thousands along a
    county's border), so it is only asked when GEOS cannot build :func:`_covered`'s shapes.
    """
    step = slack / 16.0
    rings = np.concatenate([shapely.get_rings(solid), valid[shapely.get_type_id(valid) < 3]])
    xy, ring = shapely.get_coordinates(shapely.segmentize(rings, step), return_index=True)
    points: Any = shapely.points(xy)
    close = np.zeros(xy.shape[0], dtype=np.bool_)
    for there in homes:
        shapely.prepare(there)  # this call's own geometry: no thread shares it
        rest = np.flatnonzero(~close)
        close[rest] = shapely.dwithin(there, points[rest], step)
    return _outline_near(xy, ring, close, points, solid, slack)


def _outline_near(xy: Any, ring: Any, close: Any, points: Any, solid: Any, slack: float) -> bool:
    """Whether a piece lies within ``slack`` of home, by its outline (:meth:`Territory.beyond`).

    ``xy`` the piece's outline densified to a sixteenth of the slack (``ring``: each point's
    ring), ``close`` the points within that step of a home region, ``solid`` its polygons.
    Suits a sliver along home; a wide piece it may leave undecided (False).
    """
    step = slack / 16.0
    # The boundary along home: segments within step of it at both ends, so within
    # 1.5 steps of it throughout; the piece within the rest of the slack of them.
    along = close[:-1] & close[1:] & (ring[:-1] == ring[1:])
    if not close.any():
        return False
    # The kept segments, each a line of its own; with the points near home on none of them.
    # One line per segment, in an STRtree: a point's distance to them is its distance to the
    # nearest, found among the few whose boxes come within reach (GEOS measures a point to a
    # collection of long lines segment by segment: 20,000 points along a county's 4-decimal
    # outline took seconds so).
    k = np.flatnonzero(along)
    segments = shapely.linestrings(np.stack([xy[k], xy[k + 1]], axis=1))
    alone = close.copy()
    alone[k] = False
    alone[k + 1] = False
    near_home: Any = np.concatenate([segments, shapely.points(xy[alone])])
    # The piece's outline within the rest of the slack of them, less the depth of the
    # piece inside it (distances, not GEOS's buffer of those lines, which may leave a
    # slit along a sliver's ring running back along itself nanometres apart).
    depth = next(
        h for h in (0.01, *(slack * np.arange(1, 17) / 16.0))
        if shapely.is_empty(shapely.buffer(solid, -h, quad_segs=8)).all()
    )  # fmt: skip
    reach = slack - 2.0 * step - depth
    if reach <= 0.0:
        return False
    far = points[~close]
    reached = shapely.STRtree(near_home).query(far, predicate="dwithin", distance=reach)[0]
    return bool(np.unique(reached).size == far.size)


def _covered(pieces: Any, homes: list[Any], slack: float) -> bool | None:
    """Whether ``pieces`` lie wholly within ``slack`` of the ``homes`` polygons (one frame).

    GEOS's outward buffer of a polygon draws each round corner by chords between points on
    the true circle, so it lies within the true offset, and holds every point within
    ``slack (1 - 8e-5)`` of home (64 segments a quarter turn: sagittas under 8e-5 of the
    slack): what it covers lies within ``slack`` of home, and a piece it does not cover
    reaches past ``slack (1 - 8e-5)``, farther than :func:`_outline_near` ever lets
    through. The work grows with the vertices of home near the piece and the piece's own,
    not with its length over the slack. Undecided (None) when GEOS cannot build the shapes.
    """
    if not homes:
        return False
    try:
        home = shapely.union_all(shapely.make_valid(np.array(homes, dtype=object)))
        grown = shapely.buffer(home, slack, quad_segs=64)
        return bool(shapely.covers(grown, shapely.union_all(pieces)))
    except shapely.errors.GEOSException:
        return None


def in_frame(geom: Any, lon0: float, lat0: float) -> Any:
    """``geom`` (lon/lat) in metres in the azimuthal-equidistant frame at ``(lon0, lat0)``.

    Densified to :data:`~geotarget._index.polygons.DENSIFY_DEG` first, so that its edges,
    straight in lon/lat, stay within millimetres of the projected ones.
    """

    def to_frame(xy: Any) -> Any:
        return np.column_stack(_geodesy.to_aeqd(lon0, lat0, xy[:, 0], xy[:, 1]))

    return shapely.transform(_geodesy.densify(geom, polygons.DENSIFY_DEG), to_frame)


def _sliver_m(part: Circle | Polygon) -> float:
    """How far, at most, the part's lon/lat shape lies inside the part as matched, in metres.

    A circle's rim: chords no deeper than a 4,096-gon's (a sagitta of ``r (1 - cos(pi /
    4096))``, under ``3e-7 r``) and 5 mm (``geotarget.areas._rim_points``), their lon/lat
    lines bowing from the geodesic by some ``1e-7 r`` more (a circle of 1,000 km at 68°N lies
    0.49 m outside its drawn rim in all, against 1.05 m allowed). A margin: arcs of 1/256 of
    a turn (``m (1 - cos(pi / 256))``, under ``8e-5 m``), the frame's scale error
    (:attr:`geotarget.Polygon.margin_error_bound_m`) and the densification's millimetre.
    Each rounded well up, and a few centimetres for rounding.
    """
    if isinstance(part, Circle):
        return 1e-6 * part.reach_m + 0.05
    return 1e-4 * part.margin_m + part.margin_error_bound_m + 0.05


def _meeting(parts: tuple[Circle | Polygon, ...], i: Any, j: Any) -> Any:
    """Whether parts ``i[k]`` and ``j[k]`` share a point (margins included), per pair.

    Two circles meet iff their centres are no farther apart than the sum of their reaches
    (geodesic triangle inequality, both ways): all such pairs in one ``Geod.inv``. A pair with
    a polygon is decided by :func:`_meet`.
    """
    out = np.zeros(len(i), dtype=np.bool_)
    is_circle = np.array([isinstance(p, Circle) for p in parts], dtype=np.bool_)
    both = is_circle[i] & is_circle[j]
    if both.any():
        ci, cj = [parts[p] for p in i[both].tolist()], [parts[q] for q in j[both].tolist()]
        lon1 = np.array([c.lon for c in ci])
        lat1 = np.array([c.lat for c in ci])
        lon2 = np.array([c.lon for c in cj])
        lat2 = np.array([c.lat for c in cj])
        reach = np.array([c.reach_m for c in ci]) + np.array([c.reach_m for c in cj])
        _, _, d = _geodesy.geod().inv(lon1, lat1, lon2, lat2)
        out[both] = np.asarray(d) <= reach
    for k in np.flatnonzero(~both).tolist():
        out[k] = _meet(parts[int(i[k])], parts[int(j[k])])
    return out


def _meet(a: Circle | Polygon, b: Circle | Polygon) -> bool:
    """Whether a polygon and another part share a point (their margins included).

    A circle and a polygon meet iff the polygon is nearer to the centre than the reach
    (:func:`geotarget._geodesy.distance_to_geometries`); two polygons as their lon/lat shapes
    intersect. (Pairs of circles: :func:`_meeting`.)
    """
    if isinstance(b, Circle):
        a, b = b, a
    if isinstance(a, Circle):
        assert isinstance(b, Polygon)
        d = _geodesy.distance_to_geometries(
            np.array([a.lon]), np.array([a.lat]), np.array([b._to_lonlat_polygon()], dtype=object)
        )
        return bool(d[0] <= a.reach_m)
    return bool(shapely.intersects(a._to_lonlat_polygon(), b._to_lonlat_polygon()))
