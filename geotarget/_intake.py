"""Private: what a :class:`~geotarget.targeting.Targeter` checks before the ledger admits.

The :class:`Gate` holds the recognition rules, the issuer table and the region bounds of one
Targeter, and answers, for one message, whether it is refused before anything changes (its
axis order, its issuer, its kind, the issuer's authority over the kind and the territory its
area reaches, its signature) — with the result's ``kind``, ``recognised_by`` and ``issuer``.
The rules are stated in :mod:`geotarget.issuers` and :mod:`geotarget.kinds`.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import shapely

from geotarget import _geodesy
from geotarget._authority import Territory, _meeting, _sliver_m, in_frame
from geotarget._evaluation import _box_around, area_bytes
from geotarget._index import polygons
from geotarget._index.boundary import part_window
from geotarget._kind_rules import meant_kind, misspelt_kind
from geotarget._targeting_result import Verdict
from geotarget._validate import shown
from geotarget.alerts import Alert, MessageType
from geotarget.areas import Area, Circle, Polygon
from geotarget.errors import InvalidCAP, InvalidInput, InvalidSignature, InvalidType, Problem
from geotarget.issuers import Issuer, Issuers, sender_key
from geotarget.kinds import Recognition, Recognizer, check_kind_name, lookalike_sender
from geotarget.regions import RegionHierarchy
from geotarget.rollout._io import unknown_hint

Refusal = tuple[Verdict, str]

#: Blocks a reason lists by name before it counts the rest.
_LISTED_BLOCKS = 10


def _by_key(issuers: Issuers) -> dict[str, list[tuple[str, str]]]:
    """Each ``sender_key`` of the issuers' senders: those senders and their issuers, sorted."""
    out: dict[str, list[tuple[str, str]]] = {}
    for i in issuers.issuers:
        for s in i.senders:
            out.setdefault(sender_key(s), []).append((s, i.name))
    return {k: sorted(v) for k, v in out.items()}


def _near(sender: str, by_key: Mapping[str, list[tuple[str, str]]]) -> str:
    """A hint: why ``sender`` is a lookalike, and the issuer senders it resembles, or "".

    Resembles: the same ``sender_key`` (``by_key``: :func:`_by_key` of the issuers, built
    once, not per sender); a lookalike mixes the letters of two scripts in one part
    (:func:`geotarget.kinds.lookalike_sender`).
    """
    lookalike = lookalike_sender(sender)
    look = "" if lookalike is None else f"; {lookalike}"
    near = by_key.get(sender_key(sender), [])
    if not near:
        return look
    listed = ", ".join(f"{s!r} of issuer {name!r}" for s, name in near)
    return look + (
        "; senders compare exactly (case, accents written composed or apart, invisible "
        "characters, a 'mailto:' or 'http(s)://' prefix and trailing dots and slashes "
        f"included): the policy lists {listed}"
    )


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _described(part: Circle | Polygon) -> str:
    """A part in a few words, for a reason: its shape, size and where it is."""
    if isinstance(part, Circle):
        return f"a circle of {part.reach_m:,.0f} m about lon {part.lon:.5f}, lat {part.lat:.5f}"
    west, south, east, north = part.bounds
    return f"a polygon within lon {west:.5f} to {east:.5f}, lat {south:.5f} to {north:.5f}"


def config_problems(
    regions: RegionHierarchy | None,
    kinds: Iterable[str],
    recognition: Recognizer,
    issuers: Issuers,
    given: Mapping[Any, object],
    defaults: Mapping[str, Any],
    rules_type: type,
) -> tuple[list[Problem], dict[str, Any]]:
    """Problems of a Targeter's configuration, and its rules per kind.

    A kind is *registered* when the Targeter knows how to target it: it has rules of
    ``rules_type`` (``defaults``, then ``given``). Every kind the rollout policy names
    (``kinds``), every kind a recognition rule names and every kind an issuer may issue must
    be registered; ``given`` must be keyed by kind names. ``regions``: the hierarchy the
    issuers' region codes must be in; None when the caller checked them (:func:`load_policy`,
    against its catalog).
    """
    problems: list[Problem] = []
    merged = dict(defaults)
    for kind, kind_rules in given.items():
        path = f"location_rules[{kind!r}]"
        try:
            name = check_kind_name("key", kind)
        except (InvalidInput, InvalidType) as err:
            problems.append(Problem(path, str(err)))
            continue
        if not isinstance(kind_rules, rules_type):
            problems.append(
                Problem(path, f"must be KindRules (got {type(kind_rules).__name__} {kind_rules!r})")
            )
            continue
        merged[name] = kind_rules
    registered = frozenset(merged)
    kinds = tuple(kinds)
    problems += _unnamed_rules(
        [k for k in given if isinstance(k, str) and k in merged], kinds, recognition, issuers
    )
    for kind in kinds:
        if kind not in registered:
            problems.append(
                Problem(
                    f"policy.kinds.{kind}",
                    f"kind {kind!r} has no location rules, so it cannot be targeted"
                    f"{misspelt_kind(kind, registered)}: add a "
                    f"[location_rules.{kind}] table to the policy file, or pass "
                    f"location_rules={{{kind!r}: KindRules(...)}} (kinds with rules: "
                    f"{_listed(registered)})",
                )
            )
    for i, rule in enumerate(recognition.rules):
        if rule.kind not in registered:
            problems.append(
                Problem(
                    f"recognition[{i}].kind",
                    f"{rule.kind!r} is not a registered kind{misspelt_kind(rule.kind, registered)}:"
                    f" it has no location rules (add a [location_rules.{rule.kind}] table; "
                    f"registered: {_listed(registered)})",
                )
            )
    if not issuers.any_sender:
        # A rule's sender that is no issuer's: its alerts are refused (UNKNOWN_ISSUER) before
        # any rule is tried, so the rule never applies to it (a typo in one of the two lists).
        # A rule's sender whose issuer may not issue the rule's kind: the rule applies, but
        # every alert it recognises from that sender is refused (NOT_AUTHORISED).
        names = ", ".join(sorted(i.name for i in issuers.issuers)) or "none"
        by_key: dict[str, list[tuple[str, str]]] | None = None  # (built at the first need)
        for i, rule in enumerate(recognition.rules):
            for sender in sorted(rule.senders):
                owner = issuers.issuer_of(sender)
                if owner is not None and rule.kind not in owner.kinds:
                    # Only this sender's alerts meet the rule, and its issuer may not issue
                    # the kind: every alert the rule recognises from it is refused.
                    problems.append(
                        Problem(
                            f"recognition[{i}].senders",
                            f"{shown(sender, 80)} is a sender of issuer {owner.name!r}, which "
                            f"may not issue {rule.kind} (it may issue "
                            f"{_listed(owner.kinds)}): every alert rule {rule.name!r} "
                            "recognises from it is refused (NOT_AUTHORISED); add the kind to "
                            "the issuer's kinds, or correct the rule",
                        )
                    )
                if owner is None:
                    by_key = _by_key(issuers) if by_key is None else by_key
                    problems.append(
                        Problem(
                            f"recognition[{i}].senders",
                            f"{shown(sender, 80)} belongs to no issuer of the policy (issuers: "
                            f"{names}){_near(sender, by_key)}: its alerts reach nobody "
                            f"(UNKNOWN_ISSUER) before any rule is tried, so rule {rule.name!r} "
                            "never applies to it; add it to an issuer's senders, or correct it",
                        )
                    )
    if regions is None:  # (codes checked by the caller: every one taken as known)
        problems += issuers.problems(lambda code: True, registered)
    else:
        problems += issuers.problems(
            regions.__contains__, registered, region_hint=lambda code: unknown_hint(code, regions)
        )
    problems += issuers.certificate_problems()
    return problems, merged


def _unnamed_rules(
    given: list[str], kinds: tuple[str, ...], recognition: Recognizer, issuers: Issuers
) -> list[Problem]:
    """A problem for each kind given rules that is a mistyped name of a kind given none.

    Rules of a kind no other part of the configuration names apply to no alert (the rollout
    denies every kind it does not name, no recognition rule recognises it and no issuer may
    issue it). When its name is near that of a rollout kind given no rules (``tip_requests``
    beside ``tip_request``), it is that kind's name mistyped, and the kind meant would
    silently keep the pilot's rules: refused, as :func:`geotarget.load_policy` refuses such a
    table. Rules of other kinds named nowhere are kept: one mapping of rules may serve
    policies that roll out some of its kinds.
    """
    named = set(kinds) | {rule.kind for rule in recognition.rules}
    named |= {kind for issuer in issuers.issuers for kind in issuer.kinds}
    problems = []
    for kind in given:
        meant = "" if kind in named else meant_kind(kind, kinds, given, "is given no rules")
        if not meant:
            continue
        problems.append(
            Problem(
                f"location_rules[{kind!r}]",
                f"nothing else names kind {kind!r}: the rollout policy does not (its kinds: "
                f"{_listed(kinds)}), no recognition rule recognises it and no issuer may issue "
                f"it, so these rules apply to no alert{meant}; correct the key, or name the "
                "kind in the rollout policy",
            )
        )
    return problems


#: The bytes of the areas whose slivers past their issuer's regions a Gate keeps
#: (:meth:`Gate.slivers`; each area as :func:`geotarget._evaluation.area_bytes` counts it).
_SLIVERS_BYTES = 16 * 2**20


class Gate:
    """The checks before the ledger's incidents, for one Targeter.

    Thread-safe: its only state is a lazily built, immutable territory index.
    """

    def __init__(
        self,
        regions: RegionHierarchy,
        recognition: Recognizer,
        issuers: Issuers,
        registered: Mapping[str, Any],
        snap_m: float = 0.0,
        slack_m: float = 0.0,
    ) -> None:
        self.recognition = recognition
        # The Targeter's snap distance: a device in no region within it of one is counted in
        # the nearest, so the area reaches that region for the issuer's authority too.
        self._snap_m = snap_m
        # How far an area may lie past its issuer's regions (Targeter.border_slack_m); the
        # regions it reaches within that, per issuer and area, for the plan (:meth:`slivers`).
        self._slack_m = slack_m
        self._slivers: OrderedDict[tuple[str, Area], tuple[frozenset[str], int]] = OrderedDict()
        self._slivers_bytes = 0
        # The last area too large for that cache, by identity (a weak reference: it keeps
        # nothing alive), so one target() of it checks the slack once, not at every step.
        self._last_large: tuple[str, weakref.ref[Area], frozenset[str]] | None = None
        self._slivers_lock = threading.Lock()
        self.registered = frozenset(registered)
        # The kinds told beyond the country's territory (KindRules.beyond_border).
        self._beyond = frozenset(k for k, r in registered.items() if r.beyond_border)
        self.issuers = issuers
        self._by_key: dict[str, list[tuple[str, str]]] | None = None  # (see _near)
        self._finest = regions.levels[0]
        self._finest_set = regions.region_set(self._finest)
        self.bounds = self._finest_set.bounds
        from geotarget import cap

        # The bounds as cap checks an envelope, checked once here rather than for each alert.
        envelope = cap._envelope(self.bounds)
        assert envelope is not None  # (regions always have bounds)
        self._envelope = envelope
        self._authority = {i.name: regions.expand(i.regions, self._finest) for i in issuers.issuers}
        self._territory: Territory | None = None
        # For snap_m > 0: the finest regions' geometries and an STRtree over them (lazily).
        self._snap_index: tuple[Any, Any] | None = None

    def check_axes(self, alert: Alert) -> None:
        """Refuse an alert whose polygons or circles look written with lat first (InvalidCAP).

        The alert is in hand (built in Python, or read from CAP without an envelope), so the
        message names both forms: ``Circle(lon, lat, radius_m)`` and ``(lon, lat)`` points in
        Python, ``lat,lon`` in CAP text.
        """
        from geotarget import cap

        problems = cap._axis_problems(alert, self._envelope)
        if problems:
            raise InvalidCAP([self._swapped(alert, p) for p in problems], what="alert")

    def _swapped(self, alert: Alert, problem: Problem) -> Problem:
        """``problem`` (a part of ``alert`` that looks swapped) in the Python API's terms."""
        info, area, part = problem.path.split("/")
        where = alert.infos[int(info[5:-1])].areas[int(area[5:-1])]
        k = int(part[part.index("[") + 1 : -1])
        west, south, east, north = self.bounds
        bounds = (
            f"the regions' bounds (west {west:g}, south {south:g}, east {east:g}, north {north:g})"
        )
        if part.startswith("circle"):
            lon, lat, radius = where.circles[k]
            return Problem(
                problem.path,
                f"the circle centre lon {lon!r}, lat {lat!r} lies outside {bounds} but inside "
                f"them with lon and lat swapped: it looks written lat first. Python takes "
                f"Circle(lon, lat, radius_m): Circle({lat!r}, {lon!r}, {radius!r}) here; CAP "
                "text writes 'lat,lon'",
            )
        lon, lat = where.polygons[k][0]
        return Problem(
            problem.path,
            f"the polygon (first point lon {lon!r}, lat {lat!r}) lies outside {bounds} but "
            "inside them with lon and lat swapped: it looks written lat first. Python takes "
            f"(lon, lat) points, as GeoJSON: ({lat!r}, {lon!r}) first here; CAP text writes "
            "'lat,lon'",
        )

    def admit(
        self,
        alert: Alert,
        inherited: Callable[[], tuple[Area, str] | None] | None = None,
    ) -> tuple[Refusal | None, dict[str, Any]]:
        """Issuer, recognition and authority: (refusal or None, the result's facts).

        A refusal changes nothing. The facts are ``kind``, ``recognised_by`` and ``issuer`` as
        far as they were found. ``inherited``: for an alert without area geometry, the area
        its incident keeps and whose version it is (an Update of the texts only), asked only
        when the issuer's regions do not cover every region: the issuer's authority covers
        that area as it would the same area written out.
        """
        facts: dict[str, Any] = {}
        issuer: Issuer | None = None
        if not self.issuers.any_sender:
            issuer = self.issuers.issuer_of(alert.sender)
            if issuer is None:
                names = ", ".join(sorted(i.name for i in self.issuers.issuers)) or "none"
                return (
                    Verdict.UNKNOWN_ISSUER,
                    f"sender {alert.sender!r} belongs to no issuer of the policy (issuers: "
                    f"{names}){self._near(alert.sender)}: it reaches nobody and changes nothing",
                ), facts
            facts["issuer"] = issuer.name
        if alert.msg_type is MessageType.CANCEL:
            return None, facts  # a Cancel has no kind of its own; the ledger authorises it
        recognised: Recognition | None = self.recognition.recognise(alert)
        if recognised is None:
            hint = (
                ""
                if self.recognition.rules
                else " (the Targeter has no recognition rules, so only a 'geotarget:kind' "
                "eventCode names a kind: pass recognition=, e.g. geotarget.pilot.RECOGNITION "
                "for the Swedish pilot's)"
            )
            return (
                Verdict.UNRECOGNISED_KIND,
                f"no recognition rule recognises the alert's kind (looked at "
                f"{self.recognition.looked_at(alert)}){hint}: it reaches nobody and changes "
                "nothing",
            ), facts
        mixed = _mixed_blocks(alert, self.recognition.block_kinds(alert), self._slack_m)
        if mixed is not None:
            return (
                Verdict.UNRECOGNISED_KIND,
                f"the alert's info blocks {mixed}: CAP applies each block to its own areas, but "
                "geotarget targets the alert's whole area under one kind's rules and texts, so "
                "it cannot target this alert (send one alert per kind and area); it reaches "
                "nobody and changes nothing",
            ), facts
        facts.update(kind=recognised.kind, recognised_by=recognised.rule)
        if recognised.kind not in self.registered:
            return (
                Verdict.UNRECOGNISED_KIND,
                f"kind {recognised.kind!r} (recognised by rule {recognised.rule!r}) is not "
                f"registered: the policy has no location rules for it (registered kinds: "
                f"{_listed(self.registered)}); it reaches nobody and changes nothing",
            ), facts
        kind = recognised.kind
        if issuer is None:
            # Issuers.any(): no issuer check at all (not even the place abroad of its own, an
            # issuer's rule: the "any sender" table has no issuers).
            return None, facts
        if kind not in issuer.kinds:
            return (
                Verdict.NOT_AUTHORISED,
                f"not authorised: issuer {issuer.name!r} (sender {alert.sender!r}) may not "
                f"issue {kind} (it may issue {', '.join(sorted(issuer.kinds))}); "
                "nobody is told and nothing changes",
            ), facts
        # The area the alert is delivered over: its own, or for an Update without area
        # geometry the one its incident keeps. Every check below holds for that area, as it
        # would for the same area written out.
        area, whose = alert.area, "the alert area"
        local = not self._national(issuer)
        if area is None and inherited is not None and (local or kind in self._beyond):
            kept = inherited()
            if kept is not None:
                area, whose = kept[0], f"the area it keeps (that of version {kept[1]})"
        outside = self._outside(issuer, area)
        if outside:
            more = f" and {len(outside) - 10} more" if len(outside) > 10 else ""
            snapped = (
                f" (a device in no region within snap_m={self._snap_m:g} m of one counts in it)"
                if self._snap_m
                else ""
            )
            return (
                Verdict.NOT_AUTHORISED,
                f"not authorised: {whose} reaches {len(outside)} {self._finest} "
                f"region(s){snapped} outside the regions of issuer {issuer.name!r} "
                f"({', '.join(sorted(issuer.regions))}): {', '.join(outside[:10])}{more}; "
                f"it may issue {kind} only there: nobody is told and nothing changes",
            ), facts
        detached = self._detached(kind, area)
        if detached:
            assert area is not None
            parts = area.parts
            listed = "; ".join(f"part {i}: {_described(parts[i])}" for i in detached[:5])
            more = f"; and {len(detached) - 5} more" if len(detached) > 5 else ""
            return (
                Verdict.NOT_AUTHORISED,
                f"not authorised: {len(detached)} part(s) of {whose} ({listed}{more}; "
                f"counted from 0 in Area.parts) lie wholly outside the {self._finest} regions "
                f"and meet no part that reaches one: {kind} is told beyond the border only "
                f"around an area on the territory, so issuer {issuer.name!r} may not send it "
                "to a place abroad of its own; nobody is told and nothing changes",
            ), facts
        return None, facts

    def _detached(self, kind: str, area: Area | None) -> list[int]:
        """The parts of the area abroad and apart from the rest, for a kind told beyond the border.

        Parts of the area in no region do not count against the issuer's regions: the kind's
        ``beyond_border`` decides who there is told. That covers the danger across the border
        around an incident on the territory, not a separate part wholly abroad
        (:meth:`Territory.detached`). Only a multi-part area of such a kind has any to look for.
        With ``snap_m``, a part whose devices may be snapped into a region is on the territory
        (they are counted in it), and so is a part joined to it.
        """
        if kind not in self._beyond or area is None or len(area.parts) < 2:
            return []
        detached = self._territory_index().detached(area)
        if not detached or not self._snap_m:
            return detached
        parts = area.parts
        snapped = self._snapped(tuple(parts[i] for i in detached))
        home = [i for i in range(len(parts)) if i not in set(detached)]
        home += [i for i, codes in zip(detached, snapped, strict=True) if codes]
        loose = [i for i, codes in zip(detached, snapped, strict=True) if not codes]
        grew = True
        while loose and grew:  # (at most as many rounds as parts abroad)
            grew = False
            for k in list(loose):
                met = _meeting(parts, np.full(len(home), k), np.array(home, dtype=np.intp))
                if met.any():
                    loose.remove(k)
                    home.append(k)
                    grew = True
        return sorted(loose)

    def _territory_index(self) -> Territory:
        if self._territory is None:
            self._territory = Territory(self._finest_set)
        return self._territory

    def _snapped(self, parts: tuple[Circle | Polygon, ...]) -> list[set[str]]:
        """Per part, the finest regions a device of the part in no region may be snapped into.

        A device in no region within ``snap_m`` of one is counted in the nearest such region
        (:meth:`geotarget.regions.RegionSet.locate`): a part reaches, through its points in
        no region, each region within ``snap_m`` of them. Decided on the part's lon/lat shape
        (drawn inside it, :meth:`Territory._drawn`) less the regions, measured in the part's
        azimuthal-equidistant frame, with a slack for the shape's sliver and the frame's scale:
        it errs towards "reaches" only (an issuer's alert refused, never a region told by an
        issuer it does not belong to), and names every region within ``snap_m``, not only the
        nearest.
        """
        out: list[set[str]] = [set() for _ in parts]
        if self._snap_index is None:
            every = np.array([self._finest_set[c].geometry for c in self._finest_set.codes])
            self._snap_index = (every, shapely.STRtree(every))
        geoms, tree = self._snap_index
        codes = self._finest_set.codes
        for n, part in enumerate(parts):
            window = _box_around(*part_window(part), self._snap_m + 1.0)
            box = shapely.box(*window)
            candidates = tree.query(box, predicate="intersects")
            if candidates.size == 0:
                continue
            shape = part._to_lonlat_polygon()
            near: Any = np.asarray(shapely.intersection(geoms[candidates], box))
            abroad = shapely.difference(shape, shapely.union_all(near))
            if abroad.is_empty:
                continue  # every point of the part lies in a region: located, not snapped
            if isinstance(part, Circle):
                lon0, lat0 = part.lon, part.lat
            else:
                lon0, lat0, _ = polygons.frame(part)
            west, south, east, north = window
            extent = _geodesy.geodesic_distance(
                lon0,
                lat0,
                np.array([west, east, west, east]),
                np.array([south, south, north, north]),
            ).max()
            slack = _sliver_m(part) + self._snap_m * (1e-3 + 2.0 * (extent / _geodesy.R_MIN) ** 2)

            there = in_frame(abroad, lon0, lat0)
            pieces = np.array([in_frame(g, lon0, lat0) for g in near.tolist()], dtype=object)
            # Whether within, not how far (GEOS's distance pairs every segment of two
            # polygons): prepared, this call's own geometry, shared by no thread.
            shapely.prepare(there)
            within = shapely.dwithin(there, pieces, self._snap_m + slack)
            out[n] = {codes[int(c)] for c in candidates[within].tolist()}
        return out

    def _near(self, sender: str) -> str:
        """A hint naming the issuer senders ``sender`` resembles, if any.

        Resembles: the same :func:`geotarget.issuers.sender_key` (case, compatibility forms,
        invisible characters, a URI scheme, trailing dots and slashes taken away). Only a hint:
        senders compare exactly, so the alert is refused all the same.
        """
        if self._by_key is None:  # (built once; a race builds the same map twice)
            self._by_key = _by_key(self.issuers)
        return _near(sender, self._by_key)

    def _national(self, issuer: Issuer) -> bool:
        """Whether the issuer's regions cover every finest region (it needs no geometry)."""
        return len(self._authority[issuer.name]) == len(self._finest_set.codes)

    def _outside(self, issuer: Issuer, area: Area | None) -> list[str]:
        """The finest regions ``area`` reaches outside the issuer's, sorted.

        A region it reaches by no more than the slack (``Targeter.border_slack_m``) past the
        issuer's regions is not among them: it is kept for the plan (:meth:`slivers`), whose
        devices there are not told.
        """
        if area is None or self._national(issuer):
            return []
        outside, slivers = self._reached(issuer, area)
        self._keep_slivers((issuer.name, area), slivers)
        if self._snap_m:
            outside = outside.union(*self._snapped(area.parts)) - self._authority[issuer.name]
        return sorted(outside)

    def _reached(self, issuer: Issuer, area: Area) -> tuple[set[str], frozenset[str]]:
        """The regions outside the issuer's the area reaches: beyond the slack, and within it."""
        home = self._authority[issuer.name]
        territory = self._territory_index()
        reached = set(territory.reached(area)) - home
        outside = reached
        if reached and self._slack_m > 0.0:
            outside = set(territory.beyond(area, sorted(reached), home, self._slack_m))
        return outside, frozenset(reached - outside)

    def home(self, sender: str) -> frozenset[str] | None:
        """The finest regions where the sender's issuer may reach devices; None: anywhere.

        None for a table of any sender, a sender of no issuer (refused at admission) and an
        issuer of every region. The plan enables no region outside these (:meth:`Issuer.regions
        <geotarget.issuers.Issuer>`: "within which its alerts may reach devices"), so no device
        located there is told, by its accuracy disk or a stale fix's margin either.
        """
        if self.issuers.any_sender:
            return None
        issuer = self.issuers.issuer_of(sender)
        if issuer is None or self._national(issuer):
            return None
        return self._authority[issuer.name]

    def slivers(self, sender: str, area: Area) -> frozenset[str]:
        """The regions outside the sender's issuer's that ``area`` reaches within the slack.

        Its devices there are not told: the plan leaves those regions out of the enabled ones.
        Empty for a sender of no issuer, or of one that may alert everywhere. Found when the
        alert was admitted (:meth:`_outside`), or found again here.
        """
        if self.issuers.any_sender or self._slack_m == 0.0:
            return frozenset()
        issuer = self.issuers.issuer_of(sender)
        if issuer is None or self._national(issuer):
            return frozenset()
        key = (issuer.name, area)
        with self._slivers_lock:
            hit = self._slivers.get(key)
            if hit is not None:
                self._slivers.move_to_end(key)  # the most recently used goes last
                return hit[0]
            large = self._last_large
            if large is not None and large[0] == issuer.name and large[1]() is area:
                return large[2]
        _, found = self._reached(issuer, area)
        self._keep_slivers(key, found)
        return found

    def _keep_slivers(self, key: tuple[str, Area], slivers: frozenset[str]) -> None:
        """Keep ``slivers`` of ``key`` within :data:`_SLIVERS_BYTES` (least recently used out).

        An area larger than that is not kept: only the last such area object's slivers are,
        by identity (the same object again, as one ``target()`` asks at admission and in
        the plan; an equal copy is checked again).
        """
        size = 256 + area_bytes(key[1])
        if size > _SLIVERS_BYTES:
            with self._slivers_lock:
                self._last_large = (key[0], weakref.ref(key[1]), slivers)
            return
        with self._slivers_lock:
            old = self._slivers.pop(key, None)
            self._slivers_bytes += size - (0 if old is None else old[1])
            self._slivers[key] = (slivers, size)
            while self._slivers_bytes > _SLIVERS_BYTES:
                self._slivers_bytes -= self._slivers.popitem(last=False)[1][1]

    def unverifiable(self, alert: Alert, held: Callable[[], bool]) -> Refusal | None:
        """Refuse an alert in hand (not its document) whose issuer must sign its alerts.

        An :class:`~geotarget.alerts.Alert` object carries no signature: only the document as
        received can be verified (:meth:`signature`, through ``Targeter.receive()``). A
        version the store already holds (``held()``: admitted before, so verified then, or
        sent before the issuer had to sign) is exempt: sent again with the same content it
        changes nothing it did not, and with other content it is refused as a re-used
        identifier.
        """
        issuer = self.issuers.issuer_of(alert.sender)
        if issuer is None or not issuer.signature_required or held():
            return None
        return (
            Verdict.BAD_SIGNATURE,
            f"refused: issuer {issuer.name!r} must sign its alerts, and this "
            f"{alert.msg_type.value} was passed as an Alert already read, whose signature "
            "cannot be verified: pass the document as received to Targeter.receive(), which "
            "verifies it against the issuer's pinned certificates; nobody is told and "
            "nothing changes",
        )

    def signature(
        self, data: bytes, alert: Alert, at: dt.datetime
    ) -> tuple[Refusal | None, str | None]:
        """Verify the document's signature when the sender's issuer must sign.

        Returns (refusal or None, ``"verified"`` or None).
        """
        from geotarget import cap

        issuer = self.issuers.issuer_of(alert.sender)
        if issuer is None or not issuer.signature_required:
            return None, None
        try:
            cap.verify_signature(data, issuer.certificates, at=at, envelope=self.bounds)
        except InvalidSignature as err:
            return (
                Verdict.BAD_SIGNATURE,
                f"refused: issuer {issuer.name!r} must sign its alerts, and "
                f"{type(err).__name__}: {err}; nobody is told and nothing changes",
            ), None
        return None, "verified"


def _mixed_blocks(alert: Alert, kinds: list[str | None], slack_m: float) -> str | None:
    """How the info blocks disagree, when they do; None when one kind covers every area.

    Blocks naming different kinds disagree. So does a block naming no kind with a part of its
    areas not proven to lie within the union of the areas of the blocks naming one
    (:func:`geotarget._index.within.first_not_within`), nor within ``slack_m`` of it
    (``Targeter.border_slack_m``; :func:`geotarget._index.within.grown`): such a block may
    narrow the alert (a translation over the same areas, an event the rules do not know in
    that language; a cordon inside the incident's circle), and a translation whose
    coordinates another system rounded may reach that far past them (a centre written to four
    decimals lies metres away), but an area farther beyond would be told under a kind no
    block there names.
    """

    def where(i: int) -> str:
        info = alert.infos[i]
        lang = info.language if len(info.language) <= 40 else shown(info.language, 40)
        return f"info[{i}] ({lang}, event {shown(info.event, 80)})"

    def some(blocks: list[int], say: Callable[[int], str]) -> str:
        """The first few of ``blocks``, then how many more (a reason stays short)."""
        more = len(blocks) - _LISTED_BLOCKS
        listed = "; ".join(say(i) for i in blocks[:_LISTED_BLOCKS])
        return listed + (f"; and {more} more block(s)" if more > 0 else "")

    named = {k for k in kinds if k is not None}
    if len(named) > 1:
        # The first block of each kind (and of none), so the disagreement shows first.
        first: dict[str | None, int] = {}
        for i, k in enumerate(kinds):
            first.setdefault(k, i)
        order = sorted(first.values())
        shown_first = set(order)
        order += [i for i in range(len(kinds)) if i not in shown_first]
        listed = some(order, lambda i: f"{where(i)}: {kinds[i] or 'no kind'}")
        return f"name different kinds ({listed})"
    if None not in kinds:
        return None

    def parts(i: int) -> list[tuple[int, int, int, Circle | Polygon]]:
        """(block, area, part, the part) of each part of block ``i``'s areas."""
        return [
            (i, a, n, part)
            for a, area in enumerate(alert.infos[i].areas)
            if area.geometry is not None
            for n, part in enumerate(area.geometry.parts)
        ]

    known = [p for i, k in enumerate(kinds) if k is not None for *_, p in parts(i)]
    kindless = [q for i, k in enumerate(kinds) if k is None for q in parts(i)]
    if not kindless:
        return None
    from geotarget._index.within import first_not_within, grown

    inner = [p for *_, p in kindless]
    bad = first_not_within(inner, known)
    if bad is not None and slack_m > 0.0:
        bad = first_not_within(inner, grown(known, slack_m))
    if bad is None:
        return None
    i, a, n, part = kindless[bad]
    nor = f" or within border_slack_m={slack_m:g} m of them" if slack_m > 0.0 else ""
    return (
        f"do not agree: {where(i)} names no kind, and its area[{a}] reaches beyond the areas "
        f"of the blocks that do ({some([j for j, k in enumerate(kinds) if k], where)} "
        f"names {next(iter(named))}): its part {n}, {_described(part)}, is not proven to lie "
        f"within them{nor}"
    )
