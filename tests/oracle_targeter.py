"""A brute-force reference targeter, written only from the written targeting semantics.

The contract is ``notes/issue10_semantics.md`` (issue 10) and DESIGN.md "Semantics"; this module
re-states each rule next to the code that applies it. It is deliberately slow and plain: a Python
loop over devices and messages, ``pyproj.Geod(ellps="WGS84").inv`` for circles, shapely
``covers`` on lon/lat polygons, and a polygon's *own* azimuthal-equidistant projection (centred on
its centroid, built here with pyproj) for every distance to a polygon. Nothing from
``geotarget.targeting``, ``matcher``, ``_classify``, ``_locate`` or ``_geodesy`` is used. The
rollout policy is an *input*: :meth:`RolloutPolicy.decide` and :meth:`RolloutPolicy.in_canary`
have their own conformance tests.

Distances measured in a projection carry a small error, so a decision within a tolerance of its
threshold is *unsure*: the oracle then records the device as unsure for that incident (its
comparisons leave it out from then on, since whether it was told is open), or, for an alert-level
decision, raises :class:`Borderline` so the caller can discard the scenario. Circle and lon/lat
polygon membership of an exact fix is never unsure: both are exact.

One rule departs from the contract's text by decision (issue 13): a fix too old for the kind
is ``STALE_LOCATION`` only when its accuracy disk meets the alert area (its age is what kept
it from being told); farther away it is ``OUTSIDE_AREA`` (its last known position is outside
the area), so the pipeline never scans every stale device of the country per alert.

Where the contract is silent the oracle takes these readings (each stated where it is applied):

* ``on_positions`` streams an incident's current version once ``target()`` delivered it, until it
  expires or another verdict replaces it (main's documented rule; NOT_YET_ACTIVE does not start
  streaming at the onset: ``next_change`` tells the caller when to target again).
* The versions a recorded version references are known versions of its incident (an Update names
  the earlier versions of its own chain), so a Cancel naming only those joins it too.
* The sender of an incident is that of its first version (the one its key names, also when an
  Update arriving before it started the incident, which it then may only if it may act for that
  sender); its status is that of the message that started it.
* A remembered Cancel (UNKNOWN_REFERENCE) also cancels an incident that a version it named joins
  later; an Update referencing a remembered version is CANCELLED too. Like any Cancel, it ends
  only an incident of its own sender and status (a Test Cancel never ends an Actual incident).
* Of the reasons a device is not told (not a tester, outside the canary, outside the rollout...),
  any true one is an acceptable ``Outcome``: the contract does not rank them.
* NOT_AUTHORISED and CANCELLED are both accepted for an unauthorised message to a cancelled
  incident.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import oracle_union
import pyproj
import shapely
import shapely.geometry as sg

from geotarget.alerts import Alert, MessageType, Scope, Status
from geotarget.areas import Circle, Polygon
from geotarget.rollout import RolloutPolicy

GEOD = pyproj.Geod(ellps="WGS84")
#: Densify lon/lat edges to this many degrees before projecting them (straight lon/lat edges
#: become curves in a metric projection).
DENSIFY_DEG = 0.0002


class Borderline(Exception):
    """An alert-level decision lies within the oracle's tolerance of its threshold."""


class KnownBug(Borderline):
    """The scenario hits a reported pipeline bug, pinned by its own strict-xfail test.

    The general properties skip such scenarios so that they keep guarding everything else.
    """


#: Reported bugs (tests/test_targeting_oracle.py pins each with a strict-xfail test whose reason
#: names it; when that test starts passing, delete the entry there and here). None is open.


class OracleDuplicate(Exception):
    """A version id re-used with different content (the oracle's ``DuplicateIdentifier``)."""


@dataclass(frozen=True)
class Rules:
    """One kind's location rules, as the contract's ``KindRules`` states them."""

    max_age: dt.timedelta | None
    accuracy: float
    include_ambiguous: bool
    stale: tuple[dt.timedelta, float] | None  # (max_age, margin_m)
    include_no_fix: bool
    beyond_border: bool


@dataclass(frozen=True)
class Device:
    """One row of a snapshot; ``lon``/``lat`` NaN means no fix."""

    id: int | str
    lon: float
    lat: float
    accuracy_m: float
    observed_at: dt.datetime
    tester: bool

    @property
    def key(self) -> str:
        """The canonical text identity (contract §3): ``str(int)`` or the string itself."""
        return str(self.id)


@dataclass
class Result:
    """What the oracle expects for one ``target`` call."""

    verdict: str
    incident: str | None = None
    recipients: set[str] = field(default_factory=set)
    retract: set[str] | None = None
    unsure: set[str] = field(default_factory=set)
    #: Verdicts also acceptable (where the contract leaves the order of two rules open).
    also: frozenset[str] = frozenset()
    #: An Update that named no known version and started its incident (the reason says so).
    orphan: bool = False


@dataclass
class _Incident:
    key: str
    sender: str
    status: Status
    current: Alert | None = None
    cancelled: bool = False
    streaming: bool = False
    told: set[str] = field(default_factory=set)
    unsure: set[str] = field(default_factory=set)


# ---------------------------------------------------------------------------------------------
# Geometry, from first principles
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _aeqd(lon0: float, lat0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84 +units=m +no_defs"
    )
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _densified(geom: Any) -> Any:
    """Every ring densified as a line, the polygons rebuilt from them.

    ``shapely.segmentize`` of a *polygon* runs GEOS's Densifier, which mends a result it finds
    invalid with ``buffer(0)``: a nanometre-wide sliver then loses most of its boundary.
    """
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return shapely.segmentize(geom, DENSIFY_DEG)
    polys = [
        sg.Polygon(
            shapely.segmentize(p.exterior, DENSIFY_DEG),
            [shapely.segmentize(h, DENSIFY_DEG) for h in p.interiors],
        )
        for p in getattr(geom, "geoms", [geom])
    ]
    return polys[0] if geom.geom_type == "Polygon" else sg.MultiPolygon(polys)


def _project(geom: Any, lon0: float, lat0: float) -> Any:
    t = _aeqd(lon0, lat0)
    return shapely.transform(_densified(geom), lambda xy: np.column_stack(t.transform(*xy.T)))


def _point_in(lon: float, lat: float, lon0: float, lat0: float) -> sg.Point:
    x, y = _aeqd(lon0, lat0).transform(lon, lat)
    return sg.Point(x, y)


@functools.lru_cache(maxsize=256)
def _frame_of(shape: sg.Polygon) -> tuple[float, float, Any]:
    """The polygon's own metric frame: AEQD centred on its lon/lat centroid."""
    c = shape.centroid
    return c.x, c.y, _project(shape, c.x, c.y)


def _polygon_distance(shape: sg.Polygon, lon: float, lat: float) -> tuple[float, float]:
    """(distance to the polygon, distance to its boundary) in metres, in its own frame."""
    lon0, lat0, metric = _frame_of(shape)
    p = _point_in(lon, lat, lon0, lat0)
    return float(metric.distance(p)), float(metric.boundary.distance(p))


def _frame_tol(shape: sg.Polygon, metres: float) -> float:
    """How far a distance of ``metres`` measured in the frame may be off (generous)."""
    w, s, e, n = shape.bounds
    lon0, lat0, _ = _frame_of(shape)
    rho = max(_geodesic(lon0, lat0, x, y) for x, y in ((w, s), (w, n), (e, s), (e, n)))
    rho += metres
    return metres * 4.0 * (rho / 6_335_000.0) ** 2 + 0.05


def _geodesic(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


INSIDE, AMBIGUOUS, OUTSIDE = "INSIDE", "AMBIGUOUS", "OUTSIDE"


def classify(
    parts: Sequence[Circle | Polygon], lon: float, lat: float, r: float
) -> tuple[str, bool]:
    """The accuracy-disk state of a fix (disk radius ``r``) against an area, and unsure-ness.

    INSIDE: the area holds the whole disk (one part alone, or several together: their union,
    :mod:`oracle_union`); AMBIGUOUS: the disk meets the area otherwise; OUTSIDE: disjoint.
    With ``r == 0`` the disk is the point: INSIDE iff covered.
    """
    holds = meets = unsure = False
    met: list[Circle | Polygon] = []
    for part in parts:
        if isinstance(part, Circle):
            reach = part.radius_m + part.margin_m
            d = _geodesic(part.lon, part.lat, lon, lat)
            if r == 0.0:
                h = m = d <= reach
            else:
                h, m = d + r <= reach, d <= reach + r
                unsure |= abs(d + r - reach) <= 1e-3 or abs(d - reach - r) <= 1e-3
        else:
            inside = bool(part.shape.covers(sg.Point(lon, lat)))
            if part.margin_m == 0.0 and r == 0.0:
                h = m = inside
            else:
                dist, dist_b = _polygon_distance(part.shape, lon, lat)
                mg = part.margin_m
                tol = _frame_tol(part.shape, r + mg)
                if inside:
                    h = r <= mg or dist_b > r - mg
                    unsure |= r > mg and abs(dist_b - (r - mg)) <= tol
                    m = True
                else:
                    h = r <= mg and dist <= mg - r
                    m = dist <= mg + r
                    unsure |= abs(dist - (mg - r)) <= tol or abs(dist - (mg + r)) <= tol
        holds |= h
        meets |= m
        if m:
            met.append(part)
    if not holds and len(met) >= 2:
        # Only the parts the disk meets can hold it together; the matcher may decide a disk
        # near the union's boundary conservatively (AMBIGUOUS): unsure there.
        holds, near = oracle_union.inside_together(met, lon, lat, r)
        unsure |= near
    return (INSIDE if holds else AMBIGUOUS if meets else OUTSIDE), unsure


def within_grown(
    parts: Sequence[Circle | Polygon], lon: float, lat: float, margin_m: float
) -> tuple[bool, bool]:
    """Whether a point lies in the area grown by ``margin_m`` metres (and unsure-ness)."""
    hit = unsure = False
    for part in parts:
        if isinstance(part, Circle):
            reach = part.radius_m + part.margin_m + margin_m
            d = _geodesic(part.lon, part.lat, lon, lat)
            hit |= d <= reach
            unsure |= abs(d - reach) <= 1e-3
        else:
            if part.shape.covers(sg.Point(lon, lat)):
                hit = True
                continue
            grow = part.margin_m + margin_m
            if grow == 0.0:
                continue
            dist, _ = _polygon_distance(part.shape, lon, lat)
            hit |= dist <= grow
            unsure |= abs(dist - grow) <= _frame_tol(part.shape, grow)
    return hit, unsure


def _distance_to_region(geom: Any, lon: float, lat: float) -> float:
    """Geodesic metres from a point to a lon/lat region: AEQD centred on the point itself."""
    if geom.covers(sg.Point(lon, lat)):
        return 0.0
    return float(_project(geom, lon, lat).distance(sg.Point(0.0, 0.0)))


# ---------------------------------------------------------------------------------------------
# The targeter
# ---------------------------------------------------------------------------------------------


class OracleTargeter:
    """The reference targeter: its own incident book and told-sets, plain loops throughout.

    Parameters
    ----------
    regions : mapping of str to shapely geometry
        The finest regions (lon/lat).
    above : mapping of str to set of str
        For every finest code, itself and every code above it.
    policy : RolloutPolicy
    rules : mapping of str to Rules
    snap_m : float
    known_bugs : frozenset of str
        Reported bugs whose scenarios raise :class:`KnownBug` instead of being compared.
    """

    def __init__(
        self,
        regions: Mapping[str, Any],
        above: Mapping[str, frozenset[str]],
        policy: RolloutPolicy,
        rules: Mapping[str, Rules],
        snap_m: float,
        known_bugs: frozenset[str] = frozenset(),
    ) -> None:
        self.known_bugs = known_bugs
        self.regions = dict(sorted(regions.items()))
        self.above = above
        self.policy = policy
        self.rules = rules
        self.snap_m = snap_m
        self._incidents: dict[str, _Incident] = {}
        self._seen: dict[tuple[str, str], Alert] = {}
        self._of: dict[tuple[str, str], str] = {}  # known version id -> incident key
        #: Version id -> the (sender, status) of each remembered Cancel naming it.
        self._cancel_marks: dict[tuple[str, str], set[tuple[str, Status]]] = {}
        #: The per-device outcomes of the last evaluation (see :meth:`_covered`).
        self.outcomes: dict[str, frozenset[str]] = {}

    # --- regions -------------------------------------------------------------------------

    def locate(self, lon: float, lat: float) -> tuple[str, bool]:
        """The finest region of a point ("" for none) and unsure-ness.

        Lowest code among the covering regions (regions.py docstring); else, within ``snap_m``,
        the nearest region (lowest code on a tie).
        """
        p = sg.Point(lon, lat)
        for code, geom in self.regions.items():
            if geom.covers(p):
                return code, False
        if self.snap_m == 0.0:
            return "", False
        # RegionSet.locate documents its snap metric as geodesic to within 1 mm; this oracle's
        # own distance (densified, projected) is good to well below 1 cm.
        tol = 0.02
        dists = sorted((_distance_to_region(g, lon, lat), code) for code, g in self.regions.items())
        unsure = any(abs(d - self.snap_m) <= tol for d, _ in dists)
        near = [(d, c) for d, c in dists if d <= self.snap_m]
        if not near:
            return "", unsure
        if len(near) > 1 and near[1][0] - near[0][0] <= tol:
            unsure = True
        return near[0][1], unsure

    def _enabled(self, regions: frozenset[str]) -> set[str]:
        return {code for code, up in self.above.items() if up & regions}

    def _reaches(self, parts: Sequence[Circle | Polygon], enabled: set[str]) -> bool:
        """Whether the area grown by ``snap_m`` intersects an enabled region (contract §5)."""
        unsure = False
        for part in parts:
            for code in sorted(enabled):
                geom = self.regions[code]
                if isinstance(part, Circle):
                    gap = _distance_to_region(geom, part.lon, part.lat)
                    reach = part.radius_m + part.margin_m + self.snap_m
                    tol = reach * 1e-6 + 0.01
                else:
                    if part.shape.intersects(geom):
                        return True
                    lon0, lat0, metric = _frame_of(part.shape)
                    gap = float(metric.distance(_project(geom, lon0, lat0)))
                    reach = part.margin_m + self.snap_m
                    tol = _frame_tol(part.shape, gap) + 1e-3 * gap
                if gap <= reach - tol:
                    return True
                unsure |= abs(gap - reach) <= tol
        if unsure:
            raise Borderline("the area grown by snap_m nearly touches an enabled region")
        return False

    # --- per device ----------------------------------------------------------------------

    def _covered(
        self, alert: Alert, devices: Sequence[Device], at: dt.datetime, decision: Any
    ) -> tuple[set[str], set[str], dict[str, frozenset[str]]]:
        """Which devices the alert covers at ``at`` (contract §4).

        Returns the covered keys, the unsure keys, and for every sure device the outcomes
        that truly describe it: for a covered device how it is covered (exactly one), for
        any other every reason it is not told (the contract does not rank the reasons).
        """
        kind = alert.kind
        assert kind is not None and alert.area is not None
        rules = self.rules[kind]
        parts = alert.area.parts
        enabled = self._enabled(decision.regions)
        testers_only = alert.status in (Status.TEST, Status.EXERCISE)
        covered: set[str] = set()
        unsure: set[str] = set()
        outcomes: dict[str, frozenset[str]] = {}
        for d in devices:
            doubt = False
            why: set[str] = set()  # reasons it is not told
            if math.isnan(d.lon):
                if not rules.include_no_fix:
                    outcomes[d.key] = frozenset({"NO_FIX"})  # never located
                    continue
                how = "NO_FIX_INCLUDED"  # not located: no region question to ask
            else:
                age = at - d.observed_at
                if rules.max_age is None or age <= rules.max_age:
                    state, doubt = classify(parts, d.lon, d.lat, rules.accuracy * d.accuracy_m)
                    if state == OUTSIDE:
                        self._settle(d.key, doubt, {"OUTSIDE_AREA"}, unsure, outcomes)
                        continue
                    how = "INSIDE" if state == INSIDE else "AMBIGUOUS_INCLUDED"
                    if state == AMBIGUOUS and not rules.include_ambiguous:
                        why.add("AMBIGUOUS_EXCLUDED")
                elif rules.stale is not None and age <= rules.stale[0]:
                    hit, doubt = within_grown(parts, d.lon, d.lat, rules.stale[1])
                    if not hit:
                        out = {"OUTSIDE_AREA", "STALE_LOCATION"}
                        self._settle(d.key, doubt, out, unsure, outcomes)
                        continue
                    how = "STALE_INCLUDED"
                else:
                    # Too old for the kind: never told. STALE_LOCATION where its accuracy disk
                    # meets the area (its age kept it from being told), else OUTSIDE_AREA (its
                    # last known position is outside the area): issue 13's semantics.
                    state, doubt = classify(parts, d.lon, d.lat, rules.accuracy * d.accuracy_m)
                    why_not = {"OUTSIDE_AREA"} if state == OUTSIDE else {"STALE_LOCATION"}
                    self._settle(d.key, doubt, why_not, unsure, outcomes)
                    continue
                region, far = self.locate(d.lon, d.lat)
                doubt |= far
                if region == "":
                    if not rules.beyond_border:
                        why.add("BEYOND_BORDER")
                elif region not in enabled:
                    why.add("OUTSIDE_ROLLOUT")
            if testers_only and not d.tester:
                why.add("NOT_A_TESTER")
            if decision.percentage < 100.0 and not bool(self.policy.in_canary(kind, [d.id], at)[0]):
                why.add("OUTSIDE_CANARY")
            if why:
                self._settle(d.key, doubt, why, unsure, outcomes)
            elif doubt:
                unsure.add(d.key)
            else:
                covered.add(d.key)
                outcomes[d.key] = frozenset({how})
        return covered, unsure, outcomes

    @staticmethod
    def _settle(
        key: str,
        doubt: bool,
        why: set[str],
        unsure: set[str],
        outcomes: dict[str, frozenset[str]],
    ) -> None:
        if doubt:
            unsure.add(key)
        else:
            outcomes[key] = frozenset(why)

    def _gate(self, alert: Alert, at: dt.datetime) -> tuple[str, Any]:
        """The alert-level verdict of a current version at ``at`` (DELIVER if it may reach)."""
        if at < alert.onset:
            return "NOT_YET_ACTIVE", None
        if alert.expires is not None and at >= alert.expires:
            return "EXPIRED", None
        if alert.kind is None:
            return "NOT_A_PILOT_KIND", None
        decision = self.policy.decide(alert.kind, at)
        if not decision.enabled:
            return "KIND_NOT_ENABLED", None
        if alert.area is None:
            return "NO_AREA", None
        if not self._reaches(alert.area.parts, self._enabled(decision.regions)):
            return "AREA_OUTSIDE_ROLLOUT", None
        return "DELIVER", decision

    def _tell(
        self, inc: _Incident, alert: Alert, devices: Sequence[Device], at: dt.datetime
    ) -> tuple[str, set[str]]:
        verdict, decision = self._gate(alert, at)
        if verdict != "DELIVER":
            return verdict, set()
        covered, unsure, self.outcomes = self._covered(alert, devices, at, decision)
        inc.unsure |= unsure
        new = covered - inc.told - inc.unsure
        inc.told |= new
        return "DELIVER", new

    # --- messages ------------------------------------------------------------------------

    @staticmethod
    def _may_act(msg: Alert, inc: _Incident) -> bool:
        """Whether ``msg`` may change ``inc``: the sender and status that started it."""
        return (msg.sender, msg.status) == (inc.sender, inc.status)

    def _cancelled_first(self, vids: Sequence[tuple[str, str]], inc: _Incident) -> bool:
        """Whether a remembered Cancel naming any of ``vids`` may end ``inc``.

        It is held to the rule every Cancel is: the sender and status that started ``inc``.
        """
        return any((inc.sender, inc.status) in self._cancel_marks.get(v, ()) for v in vids)

    def _record(self, vid: tuple[str, str], msg: Alert, key: str) -> None:
        """Record a version of incident ``key``.

        The versions it references become known too: an Update names the earlier versions of
        its own incident.
        """
        self._seen[vid] = msg
        self._of[vid] = key
        for r in msg.references:
            if r.sender != self._incidents[key].sender:
                continue  # another sender's: it arrives as its own incident (admit()'s joins)
            self._of.setdefault((r.sender, r.identifier), key)

    def target(self, msg: Alert, devices: Sequence[Device], at: dt.datetime) -> Result:
        """The expected result of ``Targeter.target(msg, snapshot, at)``."""
        # §1: what can reach anybody, checked first, in this order; nothing is recorded.
        if msg.msg_type in (MessageType.ACK, MessageType.ERROR):
            return Result("NOT_AN_ALERT")
        if msg.status in (Status.DRAFT, Status.SYSTEM) or msg.scope is not Scope.PUBLIC:
            return Result("NOT_PUBLIC")
        vid = (msg.sender, msg.identifier)
        seen = self._seen.get(vid)
        if seen is not None and seen != msg:
            raise OracleDuplicate(f"{msg.sender}/{msg.identifier}")  # nothing changes
        refs = [(r.sender, r.identifier) for r in msg.references]
        is_alert = msg.msg_type is MessageType.ALERT
        key = self._of.get(vid)
        others: list[str] = []
        if key is None and not is_alert:
            # CAP does not order <references>: the earliest-sent known one decides.
            by_sent = sorted(msg.references, key=lambda r: (r.sent, r.sender, r.identifier))
            found = [self._of.get((r.sender, r.identifier)) for r in by_sent]
            keys = list(dict.fromkeys(k for k in found if k is not None))
            if msg.msg_type is MessageType.CANCEL:
                # A Cancel ends every incident it names that it may act for (CAP: "the earlier
                # message(s)"); the first of those answers.
                mine = [k for k in keys if self._may_act(msg, self._incidents[k])]
                if mine:
                    keys, others = mine, mine[1:]
            key = keys[0] if keys else None
        if key is None:
            if msg.msg_type is MessageType.CANCEL:
                # §2: remembered, so a late Alert/Update with such an id is never delivered.
                for r in refs:
                    self._cancel_marks.setdefault(r, set()).add((msg.sender, msg.status))
                self._seen[vid] = msg
                return Result("UNKNOWN_REFERENCE", retract=set())
            # A new incident: an Alert keys it by its own id; an Update naming no known
            # version starts it, keyed by its earliest-sent reference (the chain's first
            # version, whatever order the references are listed in).
            first = vid
            if not is_alert:
                earliest = min(msg.references, key=lambda r: (r.sent, r.sender, r.identifier))
                first = (earliest.sender, earliest.identifier)
            key = f"{first[0]}/{first[1]}"
            # The incident belongs to the sender of its first version (the one its key
            # names), with the status of the message that started it: an Update that may not
            # act for that sender starts nothing.
            inc = _Incident(key, first[0], msg.status)
            if not self._may_act(msg, inc):
                return Result("NOT_AUTHORISED")
            self._incidents[key] = inc
            self._record(vid, msg, key)
            if self._cancelled_first([vid] if is_alert else [vid, *refs], inc):
                inc.cancelled = True  # a Cancel for it arrived first
                return Result("CANCELLED", key)
        else:
            inc = self._incidents[key]
            if not self._may_act(msg, inc):
                # Not a version: nothing is recorded, the incident is unchanged. (Whether this
                # or "cancelled" is answered first for a cancelled incident is left open.)
                also = frozenset({"CANCELLED"}) if inc.cancelled else frozenset()
                return Result("NOT_AUTHORISED", key, also=also)
            self._record(vid, msg, key)
            is_cancel = msg.msg_type is MessageType.CANCEL
            for other in others:  # their retractions come from redeliver(), not this result
                self._incidents[other].cancelled = True
            if not inc.cancelled and self._cancelled_first(
                [vid] if is_alert else [vid, *refs], inc
            ):
                # §2: a Cancel that came first named this very version (or one it references):
                # it is never delivered, and (naming a now known version) that Cancel ends the
                # incident.
                inc.cancelled = True
                return Result("CANCELLED", key, unsure=set(inc.unsure))
            if inc.cancelled:
                told = set(inc.told) if is_cancel else None
                return Result("CANCELLED", key, retract=told, unsure=set(inc.unsure))
            if is_cancel:
                inc.cancelled = True
                return Result("CANCELLED", key, retract=set(inc.told), unsure=set(inc.unsure))
            if inc.current is not None and not _newer(msg, inc.current):
                return Result("SUPERSEDED", key, unsure=set(inc.unsure))
        orphan = not is_alert and inc.current is None and key != f"{vid[0]}/{vid[1]}"
        inc.current = msg
        verdict, new = self._tell(inc, msg, devices, at)
        # Streaming follows target(): on_positions streams the current version once target()
        # delivered it (main's documented rule, unchanged by the contract).
        inc.streaming = verdict == "DELIVER"
        return Result(verdict, key, recipients=new, unsure=set(inc.unsure), orphan=orphan)

    def on_positions(
        self, devices: Sequence[Device], at: dt.datetime
    ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """Expected ``(device key, incident)`` deliveries of a batch, and the unsure pairs."""
        out: set[tuple[str, str]] = set()
        for key, inc in sorted(self._incidents.items()):
            if inc.cancelled or inc.current is None or not inc.streaming:
                continue
            verdict, new = self._tell(inc, inc.current, devices, at)
            if verdict == "EXPIRED":
                inc.streaming = False
            out |= {(d, key) for d in new}
        unsure = {
            (d.key, k) for k, inc in self._incidents.items() for d in devices if d.key in inc.unsure
        }
        return out, unsure


def _newer(msg: Alert, current: Alert) -> bool:
    """Whether ``msg`` replaces the incident's ``current`` version.

    CAP: an Update "supersedes the earlier message(s) identified in <references>", so a
    message naming the current version is newer and one the current version names is older,
    whatever their ``sent``; otherwise the later ``sent`` (on a tie, the later processed).
    """
    if (current.sender, current.identifier) in {(r.sender, r.identifier) for r in msg.references}:
        return True
    if (msg.sender, msg.identifier) in {(r.sender, r.identifier) for r in current.references}:
        return False
    return msg.sent >= current.sent
