"""Private: what :class:`geotarget.targeting.Targeter` computes per area, and per device.

A :class:`Plan` is what one alert area needs under one rollout decision and one kind's stale
margin: the enabled finest regions, the area in km², the area grown by the stale margin, and
whether the area (grown by ``snap_m``) reaches an enabled region at all. :func:`evaluate` gives
every device its :class:`~geotarget.targeting.Outcome` under a kind's rules, vectorized: the
matcher classifies fresh fixes by their accuracy disk, stale fixes are tested (as points) against
the grown area, and only the devices a region decides are located.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt
import shapely

from geotarget import _geodesy, _geos, _sorted
from geotarget._index import polygons
from geotarget._targeting_result import Outcome
from geotarget._validate import aware_us
from geotarget.alerts import Alert, Status
from geotarget.areas import MAX_MARGIN_M, Area, Circle, Polygon, _estimated_bytes
from geotarget.errors import InvalidArea
from geotarget.matcher import PositionIndex
from geotarget.positions import Location, Positions
from geotarget.regions import RegionSet
from geotarget.rollout import RolloutDecision, RolloutPolicy

if TYPE_CHECKING:  # pragma: no cover
    from geotarget.targeting import KindRules

I32Array = npt.NDArray[np.int32]
I8Array = npt.NDArray[np.int8]
IntArray = npt.NDArray[np.intp]

Box = _geodesy.Box
# The outcome and location codes as numpy scalars: numpy converts an IntEnum member anew in
# every comparison or ``where`` it meets (about 4 µs each, numpy 2.4), a numpy scalar costs
# nothing; an evaluation uses a dozen.
_CODE = {o: np.int8(o) for o in Outcome}
_STATE = {s: np.int8(s) for s in Location}
#: :func:`evaluate`'s answer: rows, their outcomes, covered rows, their regions, timings, and
#: a box holding every covered device's fix (None: unknown, or one has no fix).
Evaluated = tuple[I32Array, I8Array, I32Array, "I32Array | None", dict[str, float], Box]


#: What the Targeter calls to evaluate a plan: ``(status, kind, plan, decision, index, at)``
#: to :func:`evaluate`'s answer (its own, or ``geotarget.dask``'s on the workers).
Evaluator = Callable[[Status, str, "Plan", RolloutDecision, PositionIndex, dt.datetime], Evaluated]


@attrs.frozen(kw_only=True, slots=False)
class Plan:
    """What is computed once per area, kind and policy decision.

    (Not slotted: :attr:`area_km2` is cached in the instance's ``__dict__``, which attrs'
    slotted classes lack before attrs 23.2, the oldest supported being 23.1.)
    """

    area: Area
    stale_area: Area | None
    enabled_mask: npt.NDArray[np.bool_]  # per finest region index (+1 final False for "none")
    nationwide: bool
    reaches_enabled: bool

    @functools.cached_property
    def area_km2(self) -> float:
        """The area's geodesic area in km², computed when first asked.

        (A plan for a later phase answers only whether the area reaches it; the area of an
        area of thousands of parts costs a union of them.)
        """
        return self.area.area_m2 / 1e6


def enabled_mask(finest: RegionSet, enabled: frozenset[str]) -> npt.NDArray[np.bool_]:
    """Per finest region index, whether it is enabled (+1 final False for "no region")."""
    return np.isin(np.array([*finest.codes, ""]), sorted(enabled))


def build_plan(
    area: Area,
    stale_margin: float | None,
    enabled: frozenset[str],
    mask: npt.NDArray[np.bool_],
    finest: RegionSet,
    snap_m: float,
) -> Plan:
    """Compute the plan of ``area`` for the ``enabled`` finest regions (``mask``: the same)."""
    return Plan(
        area=area,
        stale_area=None if stale_margin is None else grown(area, stale_margin),
        enabled_mask=mask,
        nationwide=len(enabled) == len(finest),
        reaches_enabled=reaches(finest, area, enabled, snap_m),
    )


#: Bytes the plans cached by one :class:`~geotarget.targeting.Targeter` may hold, as estimated
#: by :func:`plan_bytes` (a 1 km circle's plan: ~1.3 kB; Stockholm municipality's: ~160 kB).
PLAN_CACHE_BYTES = 32 * 2**20


def area_bytes(area: Area) -> int:
    """An upper estimate of the memory an area holds (what a cache keeping it alive costs).

    A circle is a few Python floats. A polygon keeps its rings as tuples (~112 bytes a vertex),
    a prepared GEOS geometry (~64 a vertex), its edges as arrays (32 a vertex) and, once a
    margin or an exact classification needed them, per vertex densified to 0.001°: its metric
    frame (~48 bytes), its lon/lat and last-piece flag (17), and the same vertices on the
    tangent plane (32) with the distance kernel's rows (40). The benchmark
    ``bench_targeting.py`` measures the real resident growth beside this estimate (below it).
    """
    return _estimated_bytes(area)


#: Bytes the parsed alerts cached by one :class:`~geotarget.targeting.Targeter` (for streaming
#: to fresh positions) may hold, as estimated by :func:`alert_bytes`.
ALERT_CACHE_BYTES = 32 * 2**20


def alert_bytes(document: str | None, alert: Alert) -> int:
    """An upper estimate of the memory a parsed alert keeps alive.

    Its texts as Python objects (at most ~4 bytes a character of the CAP document it was read
    from, plus object headers: 16 bytes a character in all is generous) and its area.
    """
    area = alert.area
    return (
        4096
        + 16 * (0 if document is None else len(document))
        + (0 if area is None else area_bytes(area))
    )


def plan_bytes(plan: Plan) -> int:
    """An upper estimate of the memory a cached plan keeps alive (its areas and mask)."""
    stale = 0 if plan.stale_area is None or plan.stale_area is plan.area else plan.stale_area
    return (
        512
        + area_bytes(plan.area)
        + (0 if isinstance(stale, int) else area_bytes(stale))
        + int(plan.enabled_mask.nbytes)
    )


#: Below this many devices, locating each one costs less than deciding a box of them at once
#: (a box costs a few microseconds when it is decided, a few more when it is not).
BOX_MIN_DEVICES = 64


@attrs.frozen(kw_only=True)
class Coarse:
    """A coarser region set located through the finest one, for deciding boxes of devices.

    ``up[i]`` is the coarse index of finest region ``i``.
    """

    regions: RegionSet
    up: npt.NDArray[np.intp]


def box_outcome(
    box: Box,
    count: int,
    finest: RegionSet,
    coarse: Coarse | None,
    mask: npt.NDArray[np.bool_],
    snap_m: float,
) -> tuple[bool, bool] | None:
    """``(in a region, enabled)`` shared by ``count`` points, decided from a box holding them.

    None when the box does not decide it (then locate each point). Exact: every point lies in
    the box, and :meth:`RegionSet.locate_box` answers only when every point of the box gets
    one answer from :meth:`RegionSet.locate_index`. Through a coarse set (the counties of the
    municipalities, say) a box is decided when its one coarse region's finest regions are all
    enabled or all not: the coarse answer is the finest answer's ancestor.
    """
    if count < BOX_MIN_DEVICES or box is None:
        return None
    if coarse is None:
        where = finest.locate_box(*box)
        if where is not None and where >= 0:
            return True, bool(mask[where])
    else:
        where = coarse.regions.locate_box(*box)
        if where is not None and where >= 0:
            members = mask[:-1][coarse.up == where]
            if members.all():
                return True, True
            if not members.any():
                return True, False
            return None
    if where == -1 and snap_m == 0.0:
        return False, False
    return None


#: How far (metres) beyond ``snap_m`` a circle may be from an enabled region and still be said
#: to reach it: covers the densification and rounding of the distance (well below 1 mm).
REACH_SLACK_M = 0.01
#: Densify region edges (straight in lon/lat) to this many degrees before projecting them.
_DENSIFY_DEG = 0.0002


def reaches(finest: RegionSet, area: Area, enabled: frozenset[str], snap_m: float) -> bool:
    """Whether the area, grown by ``snap_m`` metres, meets an enabled region of ``finest``.

    Contract: the area reaches enabled territory iff the area grown by ``snap_m`` (geodesic)
    intersects an enabled region. Decided per part, after a rigorous lon/lat box pre-filter:

    * a circle reaches a region iff the geodesic distance from its centre to the region is
      ``<= reach_m + snap_m``, measured in an azimuthal-equidistant frame centred on the
      centre (exact for distances from the centre; region edges densified to 0.0002°);
    * a polygon reaches a region iff they intersect, or their distance is
      ``<= margin_m + snap_m``, measured in the polygon's own metric frame (the polygon margin
      semantics of :mod:`geotarget.areas`).

    It fails open within a stated tolerance, never more: it may say "reaches" for an area up
    to :data:`REACH_SLACK_M` (circle) or the polygon margin error bound of a margin of
    ``margin_m + snap_m`` (:attr:`geotarget.Polygon.margin_error_bound_m`, plus
    :data:`REACH_SLACK_M`; below 1 m for polygons up to ~300 km across with ``snap_m`` up to
    1 km) farther than ``snap_m`` from every enabled region, and never says "does not
    reach" for an area whose devices could be located, or snapped, into one.
    """
    if not enabled:
        return False
    lon, lat = reference_points(area)
    codes = finest.codes
    # Most reference points are far from any boundary: their cell answers them (exactly).
    known = [finest.locate_box(x, y, x, y) for x, y in zip(lon.tolist(), lat.tolist(), strict=True)]
    if any(i is not None and i >= 0 and codes[i] in enabled for i in known):
        return True  # a point of the area lies in an enabled region
    if any(i is None for i in known):
        where = finest.locate_index(lon, lat)
        if any(codes[i] in enabled for i in where.tolist() if i >= 0):
            return True
    # The enabled regions' geometries and lon/lat bounds, once: each part is compared with
    # them all (an area of thousands of circles against Sweden's 290 municipalities).
    geoms = np.array([finest[code].geometry for code in sorted(enabled)], dtype=object)
    west_b, south_b, east_b, north_b = shapely.bounds(geoms).T
    for part in area.parts:
        if isinstance(part, Circle):
            limit = part.reach_m + snap_m
            box = _box_around(part.lon, part.lat, part.lon, part.lat, limit + 1.0)
        else:
            limit = part.margin_m + snap_m
            west, south, east, north = part.shape.bounds
            box = _box_around(west, south, east, north, limit + 1.0)
        apart = (west_b > box[2]) | (east_b < box[0]) | (south_b > box[3]) | (north_b < box[1])
        near = geoms[~apart].tolist()
        # A polygon meeting a region needs no distance: first the cheap test on them all.
        if isinstance(part, Polygon) and any(_geos.intersects(part.shape, g) for g in near):
            return True
        rim = _rim_zone(part, limit) if isinstance(part, Polygon) and near else None
        if any(_part_reaches(part, g, box, limit, rim) for g in near):
            return True
    return False


def _rim_zone(part: Polygon, limit: float) -> Any:
    """A lon/lat polygon (prepared) holding every point near ``part``'s rings.

    Near: within twice the tolerance :func:`_part_reaches` measures in, plus a metre. Such a
    point is within ``dlat`` in latitude and ``dlon`` in longitude of a point of a ring (no
    meridian is curved less than ``R_MIN``, no parallel's radius is below ``A cos(lat)``, as
    :func:`_box_around` widens): in units of ``dlon`` and ``dlat``, within ``sqrt(2)`` of an
    edge (straight in lon/lat), so inside the rings' buffer by that much with square caps and
    mitred joins (which hold the round buffer). A region that meets the polygon was found
    before; of one that does not, only the points in the zone can be near it. None (measure
    the whole box) where the widening reaches a pole, or is over 2,000 km.

    A long polygon's box holds much more than its rim: a strip along the Norwegian border
    reached 91 municipalities, each densified and projected whole: 1.5 s an alert.
    """
    metres = 2.0 * (limit + _margin_bound(part, limit) + REACH_SLACK_M) + 1.0
    _, south, _, north = part.shape.bounds
    dlat = math.degrees(metres / _geodesy.R_MIN) * (1 + 1e-9) + 1e-12
    far = max(abs(south - dlat), abs(north + dlat))
    if far >= 89.0 or metres > 2_000_000.0:
        return None
    dlon = math.degrees(metres / (_geodesy.A * math.cos(math.radians(far)))) * (1 + 1e-9) + 1e-12
    scale = np.array([dlon, dlat])
    rings = shapely.multilinestrings(
        [shapely.get_coordinates(r) / scale for r in (part.shape.exterior, *part.shape.interiors)]
    )
    zone = shapely.buffer(rings, 1.5, cap_style="square", join_style="mitre", mitre_limit=2.0)
    zone = shapely.transform(zone, lambda xy: xy * scale)
    shapely.prepare(zone)
    return zone


def _box_around(
    west: float, south: float, east: float, north: float, metres: float
) -> tuple[float, float, float, float]:
    """A lon/lat box holding every point within ``metres`` of the box given (rigorous)."""
    lo = _geodesy.lonlat_window(west, south, metres)
    hi = _geodesy.lonlat_window(east, north, metres)
    far_south, far_north = min(lo[1], hi[1]), max(lo[2], hi[2])
    # The longitude slack at the farthest latitude the window reaches holds everywhere in it.
    far = max(abs(far_south), abs(far_north))
    if far >= 89.0 or metres > 2_000_000.0:
        return (-180.0, max(far_south, -90.0), 180.0, min(far_north, 90.0))
    dlon = math.degrees(metres / (_geodesy.A * math.cos(math.radians(far)))) * (1 + 1e-9) + 1e-12
    return (west - dlon, far_south, east + dlon, far_north)


def _part_reaches(
    part: Circle | Polygon,
    region: Any,
    box: tuple[float, float, float, float],
    limit: float,
    rim: Any = None,
) -> bool:
    """Whether one part, grown by ``limit - its own reach``, meets ``region`` (see reaches).

    A polygon's own test whether it meets the region comes first, in :func:`reaches`; then
    only the region's points within ``rim`` (:func:`_rim_zone`) can be near it.
    """
    near = shapely.clip_by_rect(region, *box)  # every point within the limit is in the box
    if near.is_empty:
        return False
    if rim is not None:
        if not shapely.intersects(rim, near):
            return False
        near = shapely.intersection(near, rim)
    if isinstance(part, Circle):
        if shapely.covers(near, shapely.points(part.lon, part.lat)):
            return True
        t = _geodesy.aeqd_transformer(part.lon, part.lat)
        gap = float(shapely.distance(_project(near, t), shapely.points(0.0, 0.0)))
        return gap <= limit + REACH_SLACK_M
    lon0, lat0, metric = polygons.frame(part)
    projected = _project(near, _geodesy.aeqd_transformer(lon0, lat0))
    # Whether within, not how far: GEOS's distance between two polygons pairs every segment
    # of one with every segment of the other (a police region beside Stockholm's enabled
    # municipalities: 20,000 by 12,000, 0.2 s each). Prepared, the region's piece (this
    # call's own geometry: no thread shares it) answers through its indexed facets.
    shapely.prepare(projected)
    within = limit + _margin_bound(part, limit) + REACH_SLACK_M
    return bool(shapely.dwithin(projected, metric, within))


def _project(geom: Any, t: Any) -> Any:
    dense = _geodesy.densify(geom, _DENSIFY_DEG)
    return shapely.transform(dense, lambda xy: np.column_stack(t.transform(*xy.T)))


def _margin_bound(part: Polygon, margin_m: float) -> float:
    """:attr:`Polygon.margin_error_bound_m` of ``part`` with a margin of ``margin_m``."""
    if margin_m == 0.0:
        return 0.0
    west, south, east, north = part.shape.bounds
    lon0, lat0 = (west + east) / 2.0, (south + north) / 2.0
    corners = _geodesy.geodesic_distance(
        lon0, lat0, np.array([west, east, west, east]), np.array([south, south, north, north])
    )
    rho = float(corners.max()) + margin_m
    return margin_m * (rho / _geodesy.R_MIN) ** 2 / 2.0 + 1e-3


def grown(area: Area, margin_m: float) -> Area:
    """The area grown by ``margin_m`` metres: circles by radius, polygons by their margin."""
    if margin_m == 0.0:
        return area
    parts: list[Circle | Polygon] = []
    for part in area.parts:
        if isinstance(part, Circle):
            if part.margin_m + margin_m <= MAX_MARGIN_M:
                parts.append(part.with_margin(part.margin_m + margin_m))
            else:
                parts.append(Circle(part.lon, part.lat, part.reach_m + margin_m))
            continue
        total = part.margin_m + margin_m
        if total > MAX_MARGIN_M:
            raise InvalidArea(
                f"a polygon's margin_m plus the stale margin must be <= {MAX_MARGIN_M:.0f} "
                f"(got {part.margin_m:.0f} + {margin_m:.0f})"
            )
        parts.append(part.with_margin(total))
    return Area(parts)


def boxes(area: Area) -> list[tuple[float, float, float, float]]:
    """A box around each part, conservatively (cheap: a circle's rim is not computed)."""
    out = []
    for part in area.parts:
        if not isinstance(part, Circle):
            out.append(part.bounds)
            continue
        reach = part.reach_m * (1.0 + 1e-6) + 1.0
        dlat = math.degrees(reach / _geodesy.R_MIN)
        south, north = part.lat - dlat, part.lat + dlat
        far = max(abs(south), abs(north))
        if far >= 89.0 or reach > 2_000_000.0:
            out.append((-180.0, -90.0, 180.0, 90.0))
            continue
        dlon = math.degrees(reach / (_geodesy.A * math.cos(math.radians(far))))
        west, east = part.lon - dlon, part.lon + dlon
        if west < -180.0 or east > 180.0:
            out.append((-180.0, south, 180.0, north))
        else:
            out.append((west, south, east, north))
    return out


def reference_points(area: Area) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """One point inside each part (a circle's centre, a point on a polygon's surface)."""
    lon: list[float] = []
    lat: list[float] = []
    for part in area.parts:
        if isinstance(part, Circle):
            lon.append(part.lon)
            lat.append(part.lat)
        else:
            pt = shapely.point_on_surface(part.shape)
            lon.append(float(shapely.get_x(pt)))
            lat.append(float(shapely.get_y(pt)))
    return np.array(lon), np.array(lat)


def evaluate(
    rules: KindRules,
    plan: Plan,
    status: Status,
    kind: str,
    decision: RolloutDecision,
    policy: RolloutPolicy,
    finest: RegionSet,
    snap_m: float,
    index: PositionIndex,
    at: dt.datetime,
    coarse: Coarse | None = None,
) -> Evaluated:
    """Classify every device that is not plainly outside the area.

    Returns the rows with an outcome other than OUTSIDE_AREA (sorted; every other device is
    OUTSIDE_AREA), their outcomes, the covered rows (in no particular order: the Targeter
    sorts their ids, :meth:`Positions.sorted_ids`), the finest-region index of
    each covered row (None when the kind needs no region lookup, or when all are in one region
    of ``coarse`` whose finest regions are all enabled), timings, and a lon/lat box holding
    every covered device's fix when each has one (else None).

    The box comes from the classification (:meth:`PositionIndex.classify` with
    ``return_box``), not from the devices' coordinates: gathering those from the snapshot, in
    its own order, costs about a millisecond per 40,000 devices, more than deciding them.
    """
    positions: Positions = index.positions
    t0 = time.perf_counter()
    # classify returns only fixes whose disk meets the area (cost ~ devices near the area);
    # stale fixes near the area come back UNKNOWN. Devices without a fix are never near it.
    rows, states, box = index.classify(plan.area, rules.location, at, return_box=True)
    at64 = aware_us(at)
    stale_rows = np.empty(0, dtype=rows.dtype)
    if rules.stale is not None and plan.stale_area is not None:
        # Stale fixes whose point lies in the area grown by the stale margin (exact query).
        stale_limit = at64 - _us(rules.stale.max_age)
        fresh_from = before(at, rules.location.max_age)
        grown_rows = index.query(plan.stale_area, observed_before=fresh_from)
        stale_rows = grown_rows[positions.observed_at[grown_rows] >= stale_limit]  # NaT: never
    no_fix_rows = positions.no_fix_rows
    if no_fix_rows.size:
        extra = _sorted.union(stale_rows.astype(rows.dtype), no_fix_rows.astype(rows.dtype))
    else:  # query rows are sorted and unique already
        extra = stale_rows.astype(rows.dtype, copy=False)
    extra = extra[~_sorted.member(extra, rows)]
    if extra.size:  # merged in, UNKNOWN
        slot, keep = _sorted.merge_slots(rows, extra)
        merged = np.empty(keep.size, dtype=rows.dtype)
        merged[keep] = rows
        merged[slot] = extra
        merged_states = np.full(keep.size, _STATE[Location.UNKNOWN], dtype=np.int8)
        merged_states[keep] = states
        rows, states = merged, merged_states
    t1 = time.perf_counter()
    outcomes = np.zeros(rows.size, dtype=np.int8)  # OUTSIDE_AREA
    is_unknown = states == _STATE[Location.UNKNOWN]
    unknown = np.flatnonzero(is_unknown)
    fixless = np.isnan(positions.lon[rows[unknown]])
    no_fix = unknown[fixless]
    stale = unknown[~fixless]
    outcomes[no_fix] = _CODE[Outcome.NO_FIX]
    outcomes[stale] = _CODE[Outcome.STALE_LOCATION]
    # Candidates (indices into rows; every row when none is UNKNOWN, as for most alerts: no
    # index arrays, gathers and scatters of the whole answer) and how they are in the area.
    fresh: IntArray | slice = np.flatnonzero(~is_unknown) if unknown.size else slice(None)
    code = np.where(
        states[fresh] == _STATE[Location.INSIDE],
        _CODE[Outcome.INSIDE],
        _CODE[Outcome.AMBIGUOUS_INCLUDED]
        if rules.include_ambiguous
        else _CODE[Outcome.AMBIGUOUS_EXCLUDED],
    )
    located: IntArray | slice = fresh
    if not rules.include_ambiguous:
        # A fix whose disk crosses the boundary of a fail-closed kind's area is not told
        # whatever its region: AMBIGUOUS_EXCLUDED is its reason. Its point may lie outside the
        # area, so OUTSIDE_ROLLOUT or BEYOND_BORDER ("covered by the alert area but ...", told
        # once the region is enabled) would be untrue; and it needs no region lookup.
        vague = code == _CODE[Outcome.AMBIGUOUS_EXCLUDED]
        if vague.any():
            candidates = np.arange(rows.size)[fresh]
            outcomes[candidates[vague]] = _CODE[Outcome.AMBIGUOUS_EXCLUDED]
            located, code = candidates[~vague], code[~vague]
    if rules.stale is not None and stale.size:
        srows = rows[stale]
        limit = at64 - _us(rules.stale.max_age)
        recent = positions.observed_at[srows] >= limit  # NaT compares False: too old
        cand = stale[recent]
        inside = _sorted.member(rows[cand], stale_rows)
        outcomes[cand[~inside]] = _CODE[Outcome.OUTSIDE_AREA]
        assert not isinstance(located, slice)  # (stale rows are UNKNOWN ones)
        located = np.concatenate([located, cand[inside]])
        code = np.concatenate(
            [code, np.full(int(inside.sum()), _CODE[Outcome.STALE_INCLUDED], dtype=np.int8)]
        )
        # Stale fixes found by the query of the grown area lie outside the classification's box.
        extra_rows = rows[cand[inside]]
        box = _geodesy.box_union(
            box, _geodesy.box_of(positions.lon[extra_rows], positions.lat[extra_rows])
        )
    lrows = rows[located]
    ok = np.ones(lrows.size, dtype=np.bool_)
    result = np.zeros(lrows.size, dtype=np.int8)
    region: I32Array | None = None
    if not (plan.nationwide and rules.beyond_border):
        shared = box_outcome(box, lrows.size, finest, coarse, plan.enabled_mask, snap_m)
        if shared is None:
            lon, lat = positions.lon[lrows], positions.lat[lrows]
            region = finest.locate_index(lon, lat, snap_m=snap_m)
            in_region = region >= 0
            enabled = plan.enabled_mask[region]  # index -1 (no region) hits the final False
        else:  # one answer for all: no region is kept, counts locate through the coarse set
            in_region = np.full(lrows.size, shared[0])
            enabled = np.full(lrows.size, shared[1])
        result[in_region & ~enabled] = _CODE[Outcome.OUTSIDE_ROLLOUT]
        ok = enabled | (~in_region & rules.beyond_border)
        if not rules.beyond_border:
            result[~in_region] = _CODE[Outcome.BEYOND_BORDER]
    if rules.include_no_fix and no_fix.size:
        box = None  # covered devices without a fix: no box holds them
        assert not isinstance(located, slice)  # (no_fix rows are UNKNOWN ones)
        located = np.concatenate([located, no_fix])
        code = np.concatenate([code, np.full(no_fix.size, _CODE[Outcome.NO_FIX_INCLUDED], np.int8)])
        lrows = rows[located]
        ok = np.concatenate([ok, np.ones(no_fix.size, dtype=np.bool_)])
        result = np.concatenate([result, np.zeros(no_fix.size, dtype=np.int8)])
        if region is not None:
            region = np.concatenate([region, np.full(no_fix.size, -1, dtype=np.int32)])
    if status in (Status.TEST, Status.EXERCISE):
        tester = positions.tester[lrows]
        result = np.where(ok & ~tester, _CODE[Outcome.NOT_A_TESTER], result)
        ok &= tester
    if decision.percentage < 100.0 and ok.any():
        idx = np.flatnonzero(ok)
        share = policy.in_canary(kind, positions.ids[lrows[idx]], at)
        result[idx[~share]] = _CODE[Outcome.OUTSIDE_CANARY]
        ok[idx[~share]] = False
    result = np.where(ok, code, result)
    outcomes[located] = result
    is_covered = ok & (code != _CODE[Outcome.AMBIGUOUS_EXCLUDED])
    covered = lrows[is_covered]
    covered_region = None if region is None else region[is_covered]
    t2 = time.perf_counter()
    timings = {"match": t1 - t0, "rules": t2 - t1}
    return rows, outcomes, covered, covered_region, timings, box


def too_old(rules: KindRules, at: dt.datetime) -> tuple[np.datetime64, dt.timedelta] | None:
    """``(limit, max_age)``: fixes observed before ``limit`` are too old for the kind at all."""
    max_age = rules.location.max_age if rules.stale is None else rules.stale.max_age
    if max_age is None:
        return None
    return aware_us(at) - _us(max_age), max_age


def before(at: dt.datetime, age: dt.timedelta | None) -> dt.datetime:
    """The instant ``age`` before ``at`` (None: ``at``), in UTC; the year 1 if that is earlier.

    (A fix is never observed before the year 1, so the clamp loses nothing.)
    """
    utc = at.astimezone(dt.timezone.utc)
    try:
        return utc - (dt.timedelta(0) if age is None else age)
    except OverflowError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _us(delta: dt.timedelta | None) -> np.timedelta64:
    """A timedelta as numpy microseconds (``None``: no limit, i.e. zero age is never exceeded)."""
    if delta is None:
        raise AssertionError("KindRules with stale fixes always have location.max_age")
    return _us_of(delta)


@functools.lru_cache(maxsize=64)
def _us_of(delta: dt.timedelta) -> np.timedelta64:
    """:func:`_us` of a kind's ages, made once (a numpy scalar is immutable)."""
    return np.timedelta64(delta // dt.timedelta(microseconds=1), "us")


def new_regions(
    rows: I32Array,
    region: I32Array | None,
    index: PositionIndex,
    finest: RegionSet,
    snap_m: float,
) -> I32Array:
    """The finest-region index of each new recipient (-1 beyond the border).

    ``rows`` are the new recipients' rows in the snapshot, ``region`` their regions when the
    evaluation located them already.
    """
    if region is not None:
        return region
    positions = index.positions
    has = ~np.isnan(positions.lon[rows])
    out = np.full(rows.size, -1, dtype=np.int32)
    out[has] = finest.locate_index(
        positions.lon[rows[has]], positions.lat[rows[has]], snap_m=snap_m
    )
    return out
