"""The pipeline: who gets this alert now, and why does everyone else not.

A :class:`Targeter` ties together an alert, a rollout policy, a region hierarchy, a position
index and a delivery ledger::

    alert ─▶ active? kind? ─▶ policy.decide(kind, at) ─▶ enabled regions (+ reason, next change)
       │                                                    │
       └─ area ─▶ PositionIndex.classify(area, rule, at) ─▶ rows inside / ambiguous / unknown
                                                            │
                        region of each candidate ∈ enabled? canary? tester? ─▶ ledger.claim
                                                            │
                                                     TargetingResult

**Effective area.** The effective area is the alert area ∩ the regions enabled for its kind at
``at``. geotarget does not clip polygons to get it: a device is in the effective area iff it is
in the alert area (exact, as :meth:`geotarget.Area.contains`) *and* the region hierarchy locates
it in an enabled region (exactly one region per point, borders included). That is exact and far
cheaper than intersecting a circle with a country's coastline. What is computed once per alert
version (and cached) is the set of enabled finest-level regions, the area in km², and whether the
area reaches any enabled region at all.

Every outcome is counted, and :meth:`TargetingResult.explain` says for any device why it is in or
out. Device positions are used only inside a call; results keep device ids and outcomes.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import shapely

from geotarget import _geodesy
from geotarget._targeting_result import (
    Delivery,
    Outcome,
    TargetingResult,
    Verdict,
    _isin,
)
from geotarget._validate import number
from geotarget.alerts import Alert, AlertKind, MessageType, Status
from geotarget.areas import Area
from geotarget.errors import InvalidInput, InvalidType
from geotarget.ledger import DeliveryLedger, MemoryLedger
from geotarget.matcher import PositionIndex
from geotarget.positions import Location, LocationRule, Positions
from geotarget.regions import RegionHierarchy
from geotarget.rollout import RolloutDecision, RolloutPolicy

__all__ = [
    "DEFAULT_RULES",
    "Delivery",
    "KindRules",
    "Outcome",
    "Targeter",
    "TargetingResult",
    "Verdict",
]


def __dir__() -> list[str]:
    return __all__


def _opt_positive(name: str) -> Any:
    def check(_: object, __: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            number(name, value, gt=0.0)

    return check


@attrs.frozen(kw_only=True)
class KindRules:
    """How one alert kind treats uncertain locations, and its blast-radius guard.

    Parameters
    ----------
    location : LocationRule
        Maximum fix age and how ``accuracy_m`` is read.
    include_ambiguous : bool
        Fail open (``True``: a device whose accuracy disk crosses the boundary receives the
        alert) or closed. Life-safety kinds fail open.
    max_recipients : int, optional
        Block an alert that would reach more devices than this, unless confirmed.
    max_area_km2 : float, optional
        Block an alert whose area is larger than this, unless confirmed.

    .. versionadded:: 0.1.0
    """

    location: LocationRule = attrs.field(
        factory=LocationRule, validator=attrs.validators.instance_of(LocationRule)
    )
    include_ambiguous: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    max_recipients: int | None = attrs.field(
        default=None, validator=_opt_positive("max_recipients")
    )
    max_area_km2: float | None = attrs.field(default=None, validator=_opt_positive("max_area_km2"))


#: The pilot's defaults. An Explosion is a life-safety 112-event: it fails open on ambiguous
#: fixes and is meant for a limited area (at most 100 km², a circle of about 5.6 km). Police
#: information fails closed (it must not reach people outside the area it is about) and is
#: guarded at 2,000 km² and 600,000 recipients. Fixes older than an hour are unknown.
DEFAULT_RULES: Mapping[AlertKind, KindRules] = {
    AlertKind.EXPLOSION: KindRules(
        location=LocationRule(max_age=dt.timedelta(hours=1)),
        include_ambiguous=True,
        max_area_km2=100.0,
    ),
    AlertKind.CRIME_MODUS: KindRules(
        location=LocationRule(max_age=dt.timedelta(hours=1)),
        include_ambiguous=False,
        max_area_km2=2_000.0,
        max_recipients=600_000,
    ),
    AlertKind.TIP_REQUEST: KindRules(
        location=LocationRule(max_age=dt.timedelta(hours=1)),
        include_ambiguous=False,
        max_area_km2=2_000.0,
        max_recipients=600_000,
    ),
}


@attrs.frozen(kw_only=True)
class _Plan:
    """What is computed once per alert version (and policy decision)."""

    area: Area
    area_km2: float
    enabled_mask: npt.NDArray[np.bool_]  # per finest region index (+1 final False for "none")
    reaches_enabled: bool


def _aware(name: str, value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise InvalidType(f"{name} must be a datetime (got {type(value).__name__} {value!r})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value


class Targeter:
    """Decide who receives an alert now, and why everyone else does not.

    Build one per service (it is thread-safe) and call :meth:`target` per alert version and
    :meth:`on_positions` per batch of fresh positions.

    Parameters
    ----------
    regions : RegionHierarchy
        The hierarchy the policy's codes refer to (e.g. :func:`geotarget.sweden.hierarchy`).
        Devices are located among its finest regions; counts are per ``county_level``.
    policy : RolloutPolicy
    location_rules : mapping of AlertKind to KindRules, optional
        Per-kind location rules (maximum fix age, accuracy, fail open or closed on ambiguous
        fixes) and blast-radius guards; kinds not given keep :data:`DEFAULT_RULES`.
    ledger : DeliveryLedger, optional
        Where deliveries are recorded; default a new :class:`~geotarget.ledger.MemoryLedger`.
    county_level : str, default "county"
        The hierarchy level that ``per_county`` counts use (the finest level if absent).
    snap_m : float, default 2000.0
        A device in the alert area that no region covers (on the water, on a quay left out by
        a generalised shoreline) counts as in the nearest region within this many metres; see
        :meth:`geotarget.regions.RegionSet.locate`. ``0`` disables it.

    Examples
    --------
    >>> import datetime as dt
    >>> import shapely.geometry as sg
    >>> from geotarget import Circle, PositionIndex, Positions, alerts
    >>> from geotarget.regions import Region, RegionHierarchy, RegionSet
    >>> from geotarget.rollout import nationwide
    >>> from geotarget.targeting import Targeter
    >>> muni = RegionSet([Region(code="0180", name="Stockholm", level="municipality",
    ...                          geometry=sg.box(17.7, 59.2, 18.3, 59.45))])
    >>> country = RegionSet([Region(code="SE", name="Sverige", level="country",
    ...                             geometry=sg.box(17.7, 59.2, 18.3, 59.45))])
    >>> regions = RegionHierarchy([muni, country], {"0180": "SE"})
    >>> at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    >>> positions = Positions(["near", "far"], [18.0653, 18.2], [59.3325, 59.3325],
    ...                       observed_at=[at, at])
    >>> alert = alerts.explosion(
    ...     identifier="exp-1", sender="polisen@example.se", sent=at,
    ...     area=Circle(18.0653, 59.3325, 500.0),
    ...     sv=alerts.Message(headline="Explosion", description="Risk för explosion.",
    ...                       area_description="Sergels torg"),
    ...     en=alerts.Message(headline="Explosion", description="Risk of explosion.",
    ...                       area_description="Sergels torg"),
    ...     onset=at, expires=at + dt.timedelta(hours=2))
    >>> result = Targeter(regions, nationwide()).target(alert, PositionIndex(positions), at)
    >>> result.verdict.value, result.recipients.tolist()
    ('DELIVER', ['near'])
    >>> print(result.explain("far"))
    device 'far' does not receive alert exp-1: it is outside the alert area

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        regions: RegionHierarchy,
        policy: RolloutPolicy,
        *,
        location_rules: Mapping[AlertKind, KindRules] | None = None,
        ledger: DeliveryLedger | None = None,
        county_level: str = "county",
        snap_m: float = 2000.0,
    ) -> None:
        if not isinstance(regions, RegionHierarchy):
            raise InvalidType(f"regions must be a RegionHierarchy (got {type(regions).__name__})")
        if not isinstance(policy, RolloutPolicy):
            raise InvalidType(f"policy must be a RolloutPolicy (got {type(policy).__name__})")
        merged = dict(DEFAULT_RULES)
        for kind, rule in (location_rules or {}).items():
            if not isinstance(rule, KindRules):
                raise InvalidType(f"location_rules[{kind!r}] must be KindRules (got {rule!r})")
            merged[AlertKind(kind)] = rule
        self.regions = regions
        self.policy = policy
        self.snap_m = number("snap_m", snap_m, ge=0.0, le=100_000.0)
        self.rules: Mapping[AlertKind, KindRules] = merged
        self.ledger: DeliveryLedger = ledger if ledger is not None else MemoryLedger()
        self._finest = regions.levels[0]
        self._county_level = county_level if county_level in regions.levels else self._finest
        self._finest_set = regions.region_set(self._finest)
        county_of = self._parents_at(self._county_level)
        self._county_by_index = [county_of[c] for c in self._finest_set.codes]
        self._lock = threading.Lock()
        self._plans: dict[tuple[str, str, str, str, int | None], _Plan] = {}
        self._active: dict[str, Alert] = {}

    # --- helpers ---------------------------------------------------------------------------

    def _parents_at(self, level: str) -> dict[str, str]:
        finest = self.regions.region_set(self._finest).codes
        if level == self._finest:
            return {c: c for c in finest}
        out = {}
        for code in finest:
            up = (code, *self.regions.ancestors(code))
            out[code] = next(c for c in up if self.regions.level_of(c) == level)
        return out

    @staticmethod
    def incident_of(alert: Alert) -> str:
        """The delivery key of an alert: what a person experiences as one alert.

        ``sender/incident`` when the alert names incidents (the first one); otherwise, for an
        Update or Cancel, the first alert it references; otherwise the alert itself.
        """
        if alert.incidents:
            return f"{alert.sender}/{alert.incidents[0]}"
        if alert.msg_type in (MessageType.UPDATE, MessageType.CANCEL) and alert.references:
            ref = alert.references[0]
            return f"{ref.sender}/{ref.identifier}"
        return f"{alert.sender}/{alert.identifier}"

    def _plan(self, alert: Alert, area: Area, decision: RolloutDecision) -> _Plan:
        key = (
            alert.sender,
            alert.identifier,
            alert.sent.isoformat(),
            decision.policy_hash,
            decision.phase_index,
        )
        with self._lock:
            plan = self._plans.get(key)
        if plan is not None:
            return plan
        enabled = self.regions.expand(decision.regions, self._finest)
        finest = self.regions.region_set(self._finest)
        west, south, east, north = area.bounds
        reaches = False
        outline = None
        for code in enabled:
            region = finest[code]
            rw, rs, re, rn = region.bounds
            if rw > east or re < west or rs > north or rn < south:
                continue
            if outline is None:
                # Grown by ~100 m plus the snap distance, so the polygonal approximation of
                # circles and margins, and devices snapped to a region, can only make this test
                # say "reaches" too often (costing a little work), never too rarely (which would
                # silently drop devices).
                far = min(max(abs(south), abs(north)) + 1.0, 89.0)
                grow = 0.001 + math.degrees(
                    self.snap_m / (_geodesy.R_MIN * math.cos(math.radians(far)))
                )
                outline = shapely.buffer(area.to_shapely(), grow)
            if shapely.intersects(region.geometry, outline):
                reaches = True
                break
        plan = _Plan(
            area=area,
            area_km2=area.area_m2 / 1e6,
            enabled_mask=np.isin(np.array([*finest.codes, ""]), sorted(enabled)),
            reaches_enabled=reaches,
        )
        with self._lock:
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    # --- the pipeline ----------------------------------------------------------------------

    def target(
        self, alert: Alert, index: PositionIndex, at: dt.datetime, *, confirm: bool = False
    ) -> TargetingResult:
        """Decide who receives ``alert`` at ``at`` among the devices of ``index``.

        Records the new recipients in the ledger (all or nothing). An alert that can reach no one
        returns a result with a :class:`Verdict` and a reason — not an exception.

        Parameters
        ----------
        alert : Alert
        index : PositionIndex
            The current device positions.
        at : datetime.datetime
            Timezone-aware.
        confirm : bool, default False
            Send even if the blast-radius guard would block it.

        Returns
        -------
        TargetingResult
        """
        t_start = time.perf_counter()
        if not isinstance(alert, Alert):
            raise InvalidType(f"alert must be an Alert (got {type(alert).__name__})")
        if not isinstance(index, PositionIndex):
            raise InvalidType(f"index must be a PositionIndex (got {type(index).__name__})")
        at = _aware("at", at)
        incident = self.incident_of(alert)
        base: dict[str, Any] = {"alert_id": alert.identifier, "incident": incident, "at": at}

        if alert.msg_type is MessageType.CANCEL:
            with self._lock:
                self._active.pop(incident, None)
            told = self.ledger.recipients(incident)
            return TargetingResult(
                **base,
                verdict=Verdict.CANCELLED,
                reason=f"cancelled: retract from the {len(told):,} devices told about {incident}",
                retract=told,
            )
        if at < alert.onset:
            return TargetingResult(
                **base,
                verdict=Verdict.NOT_YET_ACTIVE,
                reason=f"the alert is not active before its onset {alert.onset.isoformat()}",
                next_change=alert.onset,
            )
        if alert.expires is not None and at >= alert.expires:
            with self._lock:
                self._active.pop(incident, None)
            return TargetingResult(
                **base,
                verdict=Verdict.EXPIRED,
                reason=f"the alert expired at {alert.expires.isoformat()}",
            )
        kind = alert.kind
        if kind is None:
            return TargetingResult(
                **base,
                verdict=Verdict.NOT_A_PILOT_KIND,
                reason="the alert is not one of the pilot's kinds (no geotarget:kind event code)",
            )
        decision = self.policy.decide(kind, at)
        if not decision.enabled:
            return TargetingResult(
                **base,
                verdict=Verdict.KIND_NOT_ENABLED,
                reason=(
                    f"{kind.value} is not enabled ({decision.reason.value})"
                    + (
                        f"; the next change is at {decision.next_change.isoformat()}"
                        if decision.next_change
                        else ""
                    )
                ),
                next_change=decision.next_change,
                rollout=decision,
            )
        area = alert.area
        if area is None:
            return TargetingResult(
                **base,
                verdict=Verdict.NO_AREA,
                reason="the alert has no area geometry to target",
                rollout=decision,
            )
        plan = self._plan(alert, area, decision)
        t_plan = time.perf_counter()
        if not plan.reaches_enabled:
            return TargetingResult(
                **base,
                verdict=Verdict.AREA_OUTSIDE_ROLLOUT,
                reason=(
                    f"the alert area lies wholly outside the regions where {kind.value} is "
                    f"enabled ({', '.join(sorted(decision.regions))})"
                ),
                next_change=decision.next_change,
                rollout=decision,
                area_km2=plan.area_km2,
            )
        rules = self.rules[kind]
        if rules.max_area_km2 is not None and plan.area_km2 > rules.max_area_km2 and not confirm:
            return TargetingResult(
                **base,
                verdict=Verdict.BLAST_RADIUS,
                reason=(
                    f"the area is {plan.area_km2:,.1f} km², over the {kind.value} limit of "
                    f"{rules.max_area_km2:,.1f} km²: confirm to send anyway"
                ),
                rollout=decision,
                area_km2=plan.area_km2,
            )

        rows, outcomes, covered, covered_region, t = self._evaluate(
            alert, kind, plan, decision, index, at
        )
        ids = index.positions.ids
        covered_ids = ids[covered]
        if (
            rules.max_recipients is not None
            and covered_ids.size > rules.max_recipients
            and not confirm
        ):
            return TargetingResult(
                **base,
                verdict=Verdict.BLAST_RADIUS,
                reason=(
                    f"{covered_ids.size:,} devices are covered, over the {kind.value} limit of "
                    f"{rules.max_recipients:,}: confirm to send anyway"
                ),
                rollout=decision,
                area_km2=plan.area_km2,
            )
        t_ledger = time.perf_counter()
        previously = self.ledger.recipients(incident)
        new = self.ledger.claim(incident, covered_ids, alert_id=alert.identifier, at=at)
        gone = previously[~_isin(previously, covered_ids)] if previously.size else previously
        with self._lock:
            self._active[incident] = alert
        t_end = time.perf_counter()
        tally = np.bincount(outcomes, minlength=len(Outcome))
        counts = {o: int(tally[o]) for o in Outcome}
        counts[Outcome.OUTSIDE_AREA] += len(index.positions) - int(rows.size)
        per_county = self._per_county(covered_region[_isin(covered_ids, new)])
        return TargetingResult(
            **base,
            verdict=Verdict.DELIVER,
            reason=(
                f"{kind.value} is enabled ({decision.reason.value}"
                + (
                    f", phase {decision.phase_index + 1}"
                    if decision.phase_index is not None
                    else ""
                )
                + f"): {len(new):,} new recipients"
            ),
            next_change=decision.next_change,
            rollout=decision,
            recipients=new,
            no_longer_covered=gone,
            counts=counts,
            already_delivered=int(covered_ids.size) - len(new),
            per_county=per_county,
            area_km2=plan.area_km2,
            timings={
                "plan": t_plan - t_start,
                **t,
                "ledger": t_end - t_ledger,
                "total": time.perf_counter() - t_start,
            },
            ids=ids,
            rows=rows,
            outcomes=outcomes,
        )

    def _evaluate(
        self,
        alert: Alert,
        kind: AlertKind,
        plan: _Plan,
        decision: RolloutDecision,
        index: PositionIndex,
        at: dt.datetime,
    ) -> tuple[
        npt.NDArray[np.int32],
        npt.NDArray[np.int8],
        npt.NDArray[np.int32],
        npt.NDArray[np.int32],
        dict[str, float],
    ]:
        """Classify the non-outside devices.

        Returns rows, their outcomes, the covered rows, the finest-region index of each covered
        row, and timings.
        """
        rules = self.rules[kind]
        t0 = time.perf_counter()
        rows, states = index.classify(plan.area, rules.location, at)
        t1 = time.perf_counter()
        positions: Positions = index.positions
        outcomes = np.full(rows.size, Outcome.OUTSIDE_AREA, dtype=np.int8)
        outcomes[states == Location.UNKNOWN] = Outcome.UNKNOWN_LOCATION
        located = np.flatnonzero((states == Location.INSIDE) | (states == Location.AMBIGUOUS))
        lrows = rows[located]
        region = self._finest_set.locate_index(
            positions.lon[lrows], positions.lat[lrows], snap_m=self.snap_m
        )
        enabled = plan.enabled_mask[region]  # index -1 (no region) hits the final False
        ok = enabled.copy()
        result = np.where(enabled, np.int8(0), np.int8(Outcome.OUTSIDE_ROLLOUT))
        if alert.status in (Status.TEST, Status.EXERCISE):
            tester = positions.tester[lrows]
            result = np.where(ok & ~tester, np.int8(Outcome.NOT_A_TESTER), result)
            ok &= tester
        if decision.percentage < 100.0 and ok.any():
            idx = np.flatnonzero(ok)
            share = self.policy.in_canary(kind, positions.ids[lrows[idx]], at)
            result[idx[~share]] = Outcome.OUTSIDE_CANARY
            ok[idx[~share]] = False
        amb = states[located] == Location.AMBIGUOUS
        inside_code = np.where(
            amb,
            np.int8(
                Outcome.AMBIGUOUS_INCLUDED
                if rules.include_ambiguous
                else Outcome.AMBIGUOUS_EXCLUDED
            ),
            np.int8(Outcome.INSIDE),
        )
        result = np.where(ok, inside_code, result)
        outcomes[located] = result
        is_covered = ok  # located rows that are inside, or ambiguous and included
        if not rules.include_ambiguous:
            is_covered = ok & ~amb
        covered = lrows[is_covered]
        t2 = time.perf_counter()
        return rows, outcomes, covered, region[is_covered], {"match": t1 - t0, "rules": t2 - t1}

    def _per_county(self, region: npt.NDArray[np.int32]) -> dict[str, int]:
        """Count devices per county from their finest-region indices."""
        if not region.size:
            return {}
        per_region = np.bincount(region, minlength=len(self._county_by_index))
        out: dict[str, int] = {}
        for i in np.flatnonzero(per_region).tolist():
            county = self._county_by_index[i]
            out[county] = out.get(county, 0) + int(per_region[i])
        return dict(sorted(out.items()))

    # --- streaming -------------------------------------------------------------------------

    @property
    def active_incidents(self) -> tuple[str, ...]:
        """Incidents delivered by :meth:`target` and not cancelled or expired, sorted."""
        with self._lock:
            return tuple(sorted(self._active))

    def on_positions(self, positions: Positions, at: dt.datetime) -> list[Delivery]:
        """New deliveries for fresh positions: devices that moved into an active alert's area.

        Every active alert (delivered by :meth:`target`, not cancelled, not expired at ``at``) is
        evaluated over the batch with the same rules as :meth:`target`; the ledger keeps each
        device from being told twice.

        Parameters
        ----------
        positions : Positions
            A batch of fresh positions (any subset of devices).
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        list of Delivery
            In alert order, then device order.
        """
        if not isinstance(positions, Positions):
            raise InvalidType(f"positions must be Positions (got {type(positions).__name__})")
        at = _aware("at", at)
        with self._lock:
            active = dict(self._active)
        out: list[Delivery] = []
        index: PositionIndex | None = None
        for incident, alert in sorted(active.items()):
            if alert.expires is not None and at >= alert.expires:
                with self._lock:
                    self._active.pop(incident, None)
                continue
            kind = alert.kind
            area = alert.area
            if kind is None or area is None or at < alert.onset:
                continue
            decision = self.policy.decide(kind, at)
            if not decision.enabled:
                continue
            plan = self._plan(alert, area, decision)
            if index is None:
                index = PositionIndex(positions)
            _, _, covered, _, _ = self._evaluate(alert, kind, plan, decision, index, at)
            new = self.ledger.claim(
                incident, positions.ids[covered], alert_id=alert.identifier, at=at
            )
            out.extend(
                Delivery(device_id=d, alert_id=alert.identifier, incident=incident)
                for d in new.tolist()
            )
        return out
