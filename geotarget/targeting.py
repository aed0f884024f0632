"""The pipeline: who gets this alert now, and why does everyone else not.

A :class:`Targeter` ties together an alert, a rollout policy, a region hierarchy, a position
index and a delivery ledger::

    message ─▶ an alert? public? ─▶ ledger.admit: new / Update / Cancel / superseded / ...
       │                                       │
       └─ active? kind? ─▶ policy.decide(kind, at) ─▶ enabled regions (+ reason, next change)
                                               │
       area ─▶ PositionIndex.classify(area, rule, at) ─▶ fresh fixes inside / ambiguous
            ─▶ area grown by the stale margin ─▶ stale fixes still accepted
                                               │
              region of each candidate ∈ enabled? beyond the border? canary? tester?
                                               │
              ledger.claim (pending, refused if cancelled meanwhile) ─▶ TargetingResult

The rules are written down, each with a worked example, in the documentation page "Who is
told, and why" (``docs/who_is_told.rst``). In short:

* **Messages.** Ack and Error messages are not alerts (:attr:`Verdict.NOT_AN_ALERT`); Draft and
  System alerts, and alerts whose CAP scope is Restricted or Private, reach nobody
  (:attr:`Verdict.NOT_PUBLIC`); neither changes any incident. Actual
  alerts reach the public, Test and Exercise alerts only testers.
* **Incidents.** An incident is identified by ``(sender, identifier)`` of its first version and
  keyed ``sender/identifier``. Updates and Cancels join it through any version they reference;
  an older version is :attr:`Verdict.SUPERSEDED`; a Cancel ends it for good (and a Cancel that
  arrives first is remembered); a version id re-used with other content raises
  :class:`~geotarget.errors.DuplicateIdentifier`. A device is told an incident once.
* **Devices** are identified by canonical text: ``1`` and ``"1"`` are one device.
* **Location.** Per kind (:class:`KindRules`): fresh fixes by their accuracy disk, stale fixes
  by a :class:`~geotarget.positions.StaleRule`, devices without a fix by ``include_no_fix``,
  devices beyond the country's territory by ``beyond_border``.

**Effective area.** geotarget does not clip the alert area to the enabled regions: a device is in
the effective area iff it is in the alert area (exact, as :meth:`geotarget.Area.contains`) *and*
the region hierarchy locates it in an enabled region (exactly one region per point, borders
included). What is computed once per area and decision (and cached under a key of everything it
depends on) is the set of enabled finest-level regions, the area in km², the area grown by the
stale margin, and whether the area reaches any enabled region at all.

Every outcome is counted, and :meth:`TargetingResult.explain` says for any device why it is in or
out. Device positions are used only inside a call; results keep device ids and outcomes.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from geotarget import _geodesy
from geotarget._authority import BORDER_SLACK_M
from geotarget._evaluation import (
    _CODE,
    ALERT_CACHE_BYTES,
    BOX_MIN_DEVICES,
    PLAN_CACHE_BYTES,
    Box,
    Coarse,
    Evaluated,
    Evaluator,
    I32Array,
    Plan,
    alert_bytes,
    area_bytes,
    build_plan,
    enabled_mask,
    evaluate,
    new_regions,
    plan_bytes,
    reaches,
    too_old,
)
from geotarget._idset import IdSet
from geotarget._intake import Gate, config_problems
from geotarget._kind_rules import KindRules
from geotarget._targeting_result import (
    OUTSIDE_ISSUER,
    Delivery,
    LeftOut,
    Outcome,
    TargetingResult,
    Verdict,
)
from geotarget._validate import FloatArray, number, shown, typed
from geotarget.alerts import Alert, MessageType, Scope, Status
from geotarget.areas import Area, Circle
from geotarget.errors import (
    ClusterError,
    DuplicateIdentifier,
    GeotargetError,
    InvalidInput,
    InvalidPolicy,
    InvalidType,
    Problem,
    StoreError,
)
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer, sender_key
from geotarget.ledger import (
    Admission,
    Claims,
    ClaimStatus,
    Confirmation,
    DeliveryKind,
    DeliveryLedger,
    Incident,
    IncidentState,
    MemoryLedger,
    Transition,
    _lifecycle,
)
from geotarget.ledger._lifecycle import first_difference, replaces, sender_of, version_id
from geotarget.ledger._model import lease_micros, micros, stored_alert
from geotarget.ledger._sql import DEFAULT_LEASE
from geotarget.ledger._store import admit_behind
from geotarget.matcher import PositionIndex
from geotarget.positions import Positions
from geotarget.regions import RegionHierarchy
from geotarget.rollout import Reason, RolloutDecision, RolloutPolicy
from geotarget.rollout._decision import ACTIVE_REASONS
from geotarget.rollout._time import human, wall_time_problem

__all__ = [
    "Delivery",
    "KindRules",
    "Outcome",
    "Targeter",
    "TargetingResult",
    "Verdict",
]


def __dir__() -> list[str]:
    return __all__


def __getattr__(name: str) -> Any:
    # Deprecated alias: the pilot's per-kind rules live in geotarget.pilot.KIND_RULES.
    if name == "DEFAULT_RULES":
        from geotarget import pilot

        return pilot.KIND_RULES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _aware(name: str, value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise InvalidType(f"{name} must be a datetime (got {typed(value)})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    micros(name, value)  # within the years the ledger can keep, or InvalidInput
    problem = wall_time_problem(value)  # refused up front, before the ledger is touched
    if problem is not None:
        raise InvalidInput(f"{name} must be a real clock reading: {problem}")
    return value


def _confirm(value: object) -> bool:
    """``confirm`` as a bool: anything else (a truthy ``"false"``) would pass the guard."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidType(
            f"confirm must be True or False (got {type(value).__name__} {shown(value, 40)})"
        )
    return bool(value)


#: Seconds :meth:`Targeter.on_positions` waits, once per version, for a version another
#: Targeter admitted but has not released (its ``target()`` in flight), and how often it
#: polls the store meanwhile.
_SETTLE_S = 1.0
_SETTLE_POLL_S = 0.02
#: Claims an :meth:`Targeter.on_positions` batch makes per incident: an Update applied
#: meanwhile refuses the first (SUPERSEDED), the batch is evaluated again for its version.
_STREAM_ATTEMPTS = 3

#: How long an incident stays active in the ledger after its current version expired, by
#: default (:class:`Targeter`'s ``keep_expired``): then it is marked expired there.
KEEP_EXPIRED = dt.timedelta(days=1)
#: The longest ``keep_expired``.
_MAX_KEEP_EXPIRED = dt.timedelta(days=366)

#: The store methods a Targeter calls: a ``ledger`` without one of them is refused up front.
_LEDGER_METHODS = tuple(
    name for name in dir(DeliveryLedger) if not name.startswith("_") and name != "close"
)


def _ledger(ledger: object) -> DeliveryLedger:
    """``ledger`` if it has every method of the DeliveryLedger protocol, else InvalidType."""
    missing = [m for m in _LEDGER_METHODS if not callable(getattr(ledger, m, None))]
    if missing:
        raise InvalidType(
            "ledger must be a DeliveryLedger (MemoryLedger, SQLiteLedger, PostgresLedger or "
            f"your own with its methods; got {type(ledger).__name__} without "
            f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})"
        )
    return ledger  # type: ignore[return-value]


def _policy_type_error(policy: object) -> InvalidType:
    """The error for a ``policy`` that is no RolloutPolicy; for a PolicyFile, how to use it."""
    from geotarget.policy import PolicyFile

    hint = (
        " (use its .rollout, and pass recognition=, issuers=, location_rules= from it)"
        if isinstance(policy, PolicyFile)
        else ""
    )
    return InvalidType(f"policy must be a RolloutPolicy (got {type(policy).__name__}){hint}")


def _duplicate(stored_document: str | None, alert: Alert) -> DuplicateIdentifier:
    """The error for ``alert``'s version id, first stored as ``stored_document``, re-used."""
    stored = stored_alert(stored_document or "", f"version {alert.sender}/{alert.identifier}")
    field, first, now = first_difference(stored, alert)
    return DuplicateIdentifier(
        alert.sender, alert.identifier, field, _field_text(first), _field_text(now)
    )


def _field_text(value: object) -> str:
    """A field's value as a message shows it: an instant in ISO 8601, a CAP enum by its name."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return repr(value.value)
    return shown(value, 80)


def _alert_type_error(alert: object) -> InvalidType:
    """The error for an ``alert`` that is no Alert; for a CAP read or its bytes, what to do."""
    from geotarget.cap import Parsed

    if isinstance(alert, Parsed):
        hint = (
            " (use .alert of the Parsed that cap.read returns, or Targeter.receive for the bytes)"
        )
    elif isinstance(alert, (bytes, bytearray, str)):
        hint = (
            " (read a CAP document with cap.read(data).alert, or use Targeter.receive for the "
            "bytes)"
        )
    else:
        hint = ""
    return InvalidType(f"alert must be an Alert (got {type(alert).__name__}){hint}")


def _in_effect(alert: Alert, area: Area | None, at: dt.datetime) -> Area | None:
    """The area of ``alert`` in effect at ``at`` (within its window), as streaming needs it.

    ``area`` is the version's area (:meth:`Targeter._current`): the alert's own, of which the
    info blocks in effect at ``at`` count (:meth:`Alert.area_at`), or one kept from an earlier
    version, which counts while a block is. None between the blocks' windows.
    """
    if area is None or _next_block(alert, at) is not None:
        return None
    return area if alert.area is None else alert.area_at(at)


def _ahead(alert: Alert, area: Area, at: dt.datetime) -> Area | None:
    """The area of ``alert``'s info blocks in effect at ``at`` or beginning later, when more.

    ``area`` is the area in effect at ``at``. When the blocks' windows differ, a block that
    begins later widens the area the version reaches then — by :meth:`Targeter.on_positions`
    and by ``target()`` of it again, neither of which holds a version whose delivery began.
    So the blast-radius guard weighs this area, of every block not ended by ``at``, when the
    version is first targeted. None when it is ``area`` itself (the blocks share a window, or
    none begins later).
    """
    windows = alert.windows
    if alert.area is None or len(set(windows)) < 2:
        return None
    parts = dict.fromkeys(
        p
        for info, (_, end) in zip(alert.infos, windows, strict=True)
        if end is None or at < end
        for a in info.areas
        if a.geometry is not None
        for p in a.geometry.parts
    )
    if not parts or parts.keys() <= set(area.parts):
        return None
    return Area(list(parts))


def _without_geometry(alert: Alert) -> tuple[Problem, ...]:
    """A warning for each area of an Alert or Update that has no geometry, if another has one.

    Such an area (geocodes only, or a description) reaches nobody: geotarget targets by
    geometry, and resolves no geocode to a place. An alert with no geometry at all is
    ``NO_AREA``, which says so; one whose other areas have geometry is delivered over them,
    and only this warning says that the devices of this area are not told. (:meth:`receive`
    gives the CAP reader's warnings, which name such an area too.)
    """
    if alert.msg_type not in (MessageType.ALERT, MessageType.UPDATE) or alert.area is None:
        return ()
    return tuple(
        Problem(
            f"info[{i}]/area[{j}]",
            "has no polygon enclosing an area and no circle of radius > 0: geotarget targets "
            f"by geometry only, so this area reaches nobody "
            f"({'its geocodes are' if a.geocodes else 'its areaDesc is'} not resolved to a "
            "place)",
        )
        for i, info in enumerate(alert.infos)
        for j, a in enumerate(info.areas)
        if a.geometry is None
    )


def _kept(earlier: Alert, sent: dt.datetime) -> Area:
    """The area an Update without area geometry, sent at ``sent``, keeps of version ``earlier``.

    The areas of ``earlier``'s info blocks whose window had not ended by ``sent``: a block
    that ended before (a zone whose warning was lifted) is not brought back by an Update of
    the texts, which is told over its own window. Those that go on, or begin later, are kept
    (an Update that only extends ``expires`` keeps them for its whole window). Every block's
    area when all had ended.
    """
    area = earlier.area
    assert area is not None
    windows = earlier.windows
    if len(set(windows)) < 2:
        return area
    parts = dict.fromkeys(
        p
        for info, (_, end) in zip(earlier.infos, windows, strict=True)
        if end is None or end > sent
        for a in info.areas
        if a.geometry is not None
        for p in a.geometry.parts
    )
    return Area(list(parts)) if parts else area


def _next_block(alert: Alert, at: dt.datetime) -> dt.datetime | None:
    """When the next info block begins, if none is in effect at ``at`` (within the window).

    Within ``onset <= at < expires`` no block may be in effect when the blocks' windows leave
    a gap (one ends at 12:00, the next begins at 14:00); a block beginning later exists then.
    """
    windows = alert.windows
    if any(start <= at and (end is None or at < end) for start, end in windows):
        return None
    return min((start for start, _ in windows if start > at), default=None)


def _next_edge(alert: Alert, at: dt.datetime) -> dt.datetime | None:
    """When an info block next begins or ends after ``at``, if the blocks' windows differ.

    Then the area in effect (:meth:`Alert.area_at`) changes: a block ending narrows it (or
    leaves a gap), one beginning widens it. None when every block has the same window.
    """
    windows = alert.windows
    if len(set(windows)) < 2:
        return None
    edges = [t for w in windows for t in w if t is not None and t > at]
    return min(edges, default=None)


def _earliest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    """The earlier of two optional instants (None: never)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b)


def _start_named(alert: Alert, onset: dt.datetime) -> str:
    """An alert's start (:attr:`Alert.onset`, over its blocks) for a reason, named and dated.

    A block's effective time, else its onset, else the alert's sent time (CAP 1.2 §3.2.2 takes
    a missing effective as sent): "its onset" named the sent time of an alert without either.
    """
    when = onset.isoformat()
    if any(i.effective == onset for i in alert.infos):
        return f"its effective time {when}"
    if any(i.effective is None and i.onset == onset for i in alert.infos):
        return f"its onset {when}"
    return f"its sent time {when} (it has no onset or effective time)"


def _km_hint(area: Area) -> str:
    """A hint for a circle of 100 km or more in an area over its limit: CAP's unit is km.

    ``<circle>55.6094,13.0007 500</circle>`` is 500 km, often written meaning 500 m.
    """
    big = [p for p in area.parts if isinstance(p, Circle) and p.radius_m >= 100_000.0]
    if not big:
        return ""
    km = max(p.radius_m for p in big) / 1000.0
    return (
        f" (it has a circle of radius {km:,.6g} km: CAP writes circle radii in kilometres, "
        f"so a radius meant as {km:,.6g} m is written {km / 1000.0:.6g})"
    )


def _from_when_in(
    policy: RolloutPolicy,
    catalog: RegionHierarchy,
    codes: Sequence[str],
    kind: str,
    at: dt.datetime,
    home: frozenset[str] | None,
    region: int,
) -> str | None:
    """Why ``kind`` is not enabled at ``at`` in finest region ``region``, and from when.

    Or, for a region outside ``home`` (the sender's issuer's, None: anywhere), that it is
    there (:data:`OUTSIDE_ISSUER`). None for no region (-1).
    """
    if region < 0:
        return None
    if home is not None and codes[region] not in home:
        return f"{OUTSIDE_ISSUER}, {codes[region]}"
    said = policy.explain(kind, codes[region], at, catalog=catalog)
    return None if said.enabled else str(said).rstrip(".")


class Targeter:
    """Decide who receives an alert now, and why everyone else does not.

    Build one per service (it is thread-safe) and call :meth:`target` per message (every alert
    version, Update and Cancel) and :meth:`on_positions` per batch of fresh positions; push
    what they return, :meth:`confirm` it, and call :meth:`redeliver` periodically. The
    incidents (which versions were seen, which is current, cancelled or remembered as
    cancelled; see "Who is told, and why") live in the ledger, not in this object: every
    Targeter over one store sees one lifecycle, and a new one resumes the active alerts at once
    (see "Delivery" in the documentation for the guarantee).

    Parameters
    ----------
    regions : RegionHierarchy
        The hierarchy the policy's codes refer to (e.g. :func:`geotarget.sweden.hierarchy`).
        Devices are located among its finest regions; a device in none is beyond the border.
        Counts are per ``county_level``.
    policy : RolloutPolicy
        Checked against ``regions`` at once: every code must exist.
    location_rules : mapping of str to KindRules, optional
        Per-kind location rules (fresh and stale fixes, no fix, ambiguous fixes, the border)
        and blast-radius guards, by kind name; kinds not given keep the pilot's
        :data:`geotarget.pilot.KIND_RULES`. A kind with rules is *registered*: every kind the
        policy names, a recognition rule recognises or an issuer may issue must be, and an
        alert of any other kind (say, a ``geotarget:kind`` event code no policy knows) is
        :attr:`Verdict.UNRECOGNISED_KIND`.
    recognition : Recognizer, optional
        The rules that recognise an alert's kind from what it says (:mod:`geotarget.kinds`).
        The built-in ``geotarget:kind`` rule always ranks first; by default it is the only
        one. Pass :data:`geotarget.pilot.RECOGNITION` (or a policy file's rules, then those)
        to recognise alerts as upstream systems write them.
    issuers : Issuers, optional
        Who may issue which kinds where (:mod:`geotarget.issuers`). Default
        :meth:`Issuers.any() <geotarget.issuers.Issuers.any>`: every sender, no authority
        check — declared by leaving it out here, whereas a policy *file* must say
        ``issuers = "any"`` to get it.
    ledger : DeliveryLedger, optional
        Where deliveries are recorded; default a new :class:`~geotarget.ledger.MemoryLedger`.
    county_level : str, default "county"
        The hierarchy level that ``per_county`` counts use. When the default ``"county"`` is
        not a level of ``regions`` the finest level is used; any other name must be a level
        of ``regions`` (a typo is refused, never silently replaced).
    snap_m : float, default 0.0
        For region data generalised by the user: a device in the alert area that no region
        covers counts as in the nearest region within this many metres (see
        :meth:`geotarget.regions.RegionSet.locate`). Region data that covers the legal
        territory (land, inland water and territorial sea, as the built-in Swedish data) needs
        none. The rollout pre-filter grows the area by the same distance.
    border_slack_m : float, default 25.0
        How far an alert area may lie past its issuer's regions, into regions the issuer may
        not alert, before the alert is refused (``Verdict.NOT_AUTHORISED``): two maps of one
        border disagree by metres, and an issuer's polygon of its own region, its coordinates
        rounded, overlaps its neighbours by slivers. Devices in such a sliver are not told
        (``Outcome.OUTSIDE_ROLLOUT``; the reason counts them). 0 refuses any area whose
        interior meets another region. At most 1,000 m. No effect on this without an issuers
        table. Also how far an info block naming no kind (a translation, its coordinates
        rounded by another system) may reach past the areas of the blocks naming the alert's
        kind (docs/who_is_told.rst, "Recognition"); 0 asks it to lie within them exactly.

        .. versionchanged:: 0.1.0
           Also the slack of an info block naming no kind (it had to lie within exactly: an
           Explosion whose fi-FI block's centre was rounded to four decimals told nobody).
    lease : datetime.timedelta, default 60 s
        How long the caller has to push a pending delivery and :meth:`confirm` it before
        :meth:`redeliver` offers it again (the same key). Longer than a push round trip,
        short enough that a crashed process's deliveries come back soon; at most 30 days.
        Every ``at`` the Targeter is given must lie before 9999-12-01 UTC.
    keep_expired : datetime.timedelta, default 1 day
        How long an incident stays active in the ledger after its current version expired
        (``targeting.KEEP_EXPIRED``; at least 0, at most 366 days). Meanwhile an Update with a later
        ``expires`` revives it and a Cancel retracts it; then :meth:`on_positions` and
        :meth:`retarget` mark it expired in the ledger, in a transaction that checks the
        version is still current, so that what every batch and every redelivery reads does
        not grow with the incidents of the past: a later Update or Cancel of it is
        :attr:`Verdict.EXPIRED`. A call whose ``at`` is after this machine's clock marks
        nothing (a wrong clock must not end incidents for good).

    Raises
    ------
    InvalidPolicy
        Listing every problem at once: region codes of the policy that the hierarchy does not
        have (or that lie outside its country), ``location_rules`` entries that are not
        :class:`KindRules` or not keyed by a kind name, or keyed by a kind named nowhere else
        whose name is near a kind of the policy given no rules (``tip_requests`` for
        ``tip_request``: the kind meant would keep the pilot's rules), kinds of the policy, of
        recognition rules or of issuers that are not registered (have no rules), and issuers
        naming unknown regions.

    Examples
    --------
    >>> import datetime as dt
    >>> import shapely.geometry as sg
    >>> from geotarget import Circle, PositionIndex, Positions, pilot
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
    ...                       observed_at=at)
    >>> alert = pilot.explosion(
    ...     identifier="exp-1", sender="polisen@example.se", sent=at,
    ...     area=Circle(18.0653, 59.3325, 500.0),
    ...     sv=pilot.Message(headline="Explosion", description="Risk för explosion.",
    ...                      area_description="Sergels torg"),
    ...     en=pilot.Message(headline="Explosion", description="Risk of explosion.",
    ...                      area_description="Sergels torg"),
    ...     onset=at, expires=at + dt.timedelta(hours=2))
    >>> result = Targeter(regions, nationwide()).target(alert, PositionIndex(positions), at)
    >>> result.verdict.value, result.incident, result.recipients.tolist()
    ('DELIVER', 'polisen@example.se/exp-1', ['near'])
    >>> print(result.explain("far"))
    device 'far' does not receive alert exp-1: it is outside the alert area

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       Validates the policy against the regions; incidents live in the ledger; ``snap_m``
       defaults to 0; ``recognition`` and ``issuers``; :meth:`receive` takes CAP bytes; swapped
       lat/lon is refused against the regions' bounds; ``lease``; :meth:`confirm` and
       :meth:`redeliver`. The configuration (``regions``, ``policy``, ``recognition``,
       ``issuers``, ``rules``, ``ledger``, ``snap_m``, ``lease``) is read-only once built:
       assigning it raises ``AttributeError``; build a new Targeter instead.
    """

    def __init__(
        self,
        regions: RegionHierarchy,
        policy: RolloutPolicy,
        *,
        location_rules: Mapping[str, KindRules] | None = None,
        recognition: Recognizer | None = None,
        issuers: Issuers | None = None,
        ledger: DeliveryLedger | None = None,
        county_level: str = "county",
        snap_m: float = 0.0,
        border_slack_m: float = BORDER_SLACK_M,
        lease: dt.timedelta = DEFAULT_LEASE,
        keep_expired: dt.timedelta = KEEP_EXPIRED,
    ) -> None:
        from geotarget import pilot  # the defaults of the pilot's kinds

        if not isinstance(regions, RegionHierarchy):
            raise InvalidType(f"regions must be a RegionHierarchy (got {type(regions).__name__})")
        if not isinstance(policy, RolloutPolicy):
            raise _policy_type_error(policy)
        recognition = Recognizer() if recognition is None else recognition
        if not isinstance(recognition, Recognizer):
            raise InvalidType(
                f"recognition must be a Recognizer (got {type(recognition).__name__})"
            )
        issuers = Issuers.any() if issuers is None else issuers
        if not isinstance(issuers, Issuers):
            raise InvalidType(f"issuers must be Issuers (got {type(issuers).__name__})")
        problems: list[Problem] = []
        try:
            policy.validate(regions)
        except InvalidPolicy as err:
            problems += [
                Problem(f"policy.{p.path}" if p.path else "policy", p.message) for p in err.problems
            ]
        if location_rules is not None and not isinstance(location_rules, Mapping):
            raise InvalidType(
                "location_rules must be a mapping of kind name to KindRules "
                f"(got {type(location_rules).__name__})"
            )
        more, merged = config_problems(
            regions,
            policy.kinds,
            recognition,
            issuers,
            location_rules or {},
            pilot.KIND_RULES,
            KindRules,
        )
        problems += more
        if problems:
            raise InvalidPolicy(problems, what="Targeter configuration")
        snap = number("snap_m", snap_m, ge=0.0, le=100_000.0)
        slack = number("border_slack_m", border_slack_m, ge=0.0, le=1_000.0)
        # > 0 and at most 30 days, or InvalidInput; kept as a datetime.timedelta (a
        # pandas.Timedelta would make every lease_until a pandas.Timestamp)
        lease = dt.timedelta(microseconds=lease_micros(lease))
        if not isinstance(keep_expired, dt.timedelta):
            raise InvalidType(
                f"keep_expired must be a datetime.timedelta (got {type(keep_expired).__name__})"
            )
        if not dt.timedelta(0) <= keep_expired <= _MAX_KEEP_EXPIRED:
            raise InvalidInput(
                f"keep_expired must be at least 0 and at most {_MAX_KEEP_EXPIRED.days} days "
                f"(got {keep_expired})"
            )
        # The configuration is fixed once built (read-only properties below): a Targeter
        # shared by threads never sees its policy, rules or ledger swapped mid-call.
        self._recognition = recognition
        self._issuers = issuers
        self._gate = Gate(regions, recognition, issuers, merged, snap, slack)
        self._regions = regions
        self._policy = policy
        self._snap_m = snap
        self._border_slack_m = slack
        self._rules: Mapping[str, KindRules] = MappingProxyType(dict(merged))
        self._ledger: DeliveryLedger = MemoryLedger() if ledger is None else _ledger(ledger)
        self._lease = lease
        self._keep_expired = keep_expired
        self._finest = regions.levels[0]
        if not isinstance(county_level, str):
            raise InvalidType(f"county_level must be a str (got {type(county_level).__name__})")
        if county_level not in regions.levels and county_level != "county":
            raise InvalidInput(
                f"county_level must be a level of the regions ({', '.join(regions.levels)}) "
                f"or the default 'county' (got {shown(county_level, 60)})"
            )
        self._county_level = county_level if county_level in regions.levels else self._finest
        self._finest_set = regions.region_set(self._finest)
        county_of = self._parents_at(self._county_level)
        self._county_by_index = [county_of[c] for c in self._finest_set.codes]
        county_set = regions.region_set(self._county_level)
        self._county_set = county_set if county_set.finer is self._finest_set else None
        self._coarse = (
            None
            if self._county_set is None
            else Coarse(
                regions=self._county_set,
                up=np.array(
                    [self._county_set.codes.index(c) for c in self._county_by_index],
                    dtype=np.intp,
                ),
            )
        )
        self._lock = threading.Lock()
        # Plans by everything they depend on, with their estimated bytes; least recently used
        # first, within PLAN_CACHE_BYTES in all.
        self._plans: dict[tuple[Any, ...], tuple[Plan, int]] = {}
        self._plan_bytes = 0
        self._masks: dict[frozenset[str], tuple[frozenset[str], Any]] = {}
        # Parsed current alerts by incident, with their estimated bytes; least recently used
        # first, within ALERT_CACHE_BYTES in all.
        self._alerts: dict[str, tuple[str | None, Alert, int, Area | None]] = {}
        self._alert_bytes = 0
        # (incident, version) seen expired by this Targeter: no longer streamed or listed until
        # the version is delivered again (an expiry is a function of time and the alert, so
        # every process decides it alike; the store keeps the incident ACTIVE, so an Update
        # with a later expiry still revives it).
        self._expired: set[tuple[str, str]] = set()
        # (incident, version) this Targeter's target() decided (released or not), and when it
        # first saw each other admitted, unreleased version: on_positions waits for those.
        self._decided: set[tuple[str, str]] = set()
        self._unreleased: dict[tuple[str, str], float] = {}
        # (incident, version) of the ledger's active incidents: the version's expires, read
        # once (the alert cache may not hold every active incident's alert).
        self._expiry: dict[tuple[str, str], dt.datetime | None] = {}
        # (incident, version) streamed: the area it was checked over, and whether its sender
        # may still tell it there (:meth:`_may_stream`).
        self._streamable: dict[tuple[str, str], tuple[Area, bool]] = {}
        # (incident, version) delivered: the next instant its reach may widen (a phase of its
        # kind begins, an info block begins or ends), None: never. retarget() targets it again
        # then, over the devices whose fixes came before (on_positions tells only new fixes).
        self._widens: dict[tuple[str, str], dt.datetime | None] = {}

    # --- configuration (read-only: build a new Targeter to change it) -----------------------

    @property
    def regions(self) -> RegionHierarchy:
        """The region hierarchy (read-only)."""
        return self._regions

    @property
    def policy(self) -> RolloutPolicy:
        """The rollout policy (read-only: build a new Targeter for a new policy version)."""
        return self._policy

    @property
    def recognition(self) -> Recognizer:
        """The kind recognition rules (read-only)."""
        return self._recognition

    @property
    def issuers(self) -> Issuers:
        """The issuers table (read-only)."""
        return self._issuers

    @property
    def rules(self) -> Mapping[str, KindRules]:
        """Each kind's :class:`KindRules`, by kind name (a read-only mapping)."""
        return self._rules

    @property
    def ledger(self) -> DeliveryLedger:
        """Where deliveries and incidents are recorded (read-only)."""
        return self._ledger

    @property
    def snap_m(self) -> float:
        """The snap distance of devices in no region, in metres (read-only)."""
        return self._snap_m

    @property
    def border_slack_m(self) -> float:
        """How far, in metres, an area may lie past its issuer's regions (read-only)."""
        return self._border_slack_m

    @property
    def lease(self) -> dt.timedelta:
        """How long a caller has to push and confirm a delivery before it is offered again.

        Read-only; :meth:`redeliver` offers an unconfirmed delivery again after it.
        """
        return self._lease

    @property
    def keep_expired(self) -> dt.timedelta:
        """How long an incident stays active in the ledger after its current version expired.

        Read-only. Then :meth:`on_positions` and :meth:`retarget` mark it expired there
        (:meth:`~geotarget.ledger.DeliveryLedger.expire`): it leaves
        :meth:`~geotarget.ledger.DeliveryLedger.load_active`, and a later Update or Cancel of
        it is refused (:attr:`Verdict.EXPIRED`).
        """
        return self._keep_expired

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

    def incident_of(self, alert: Alert) -> str | None:
        """The key of the incident a message belongs to now, without changing anything.

        ``sender/identifier`` of the incident's first version: the alert's own for a new
        Alert, the incident of a known version it references for an Update or Cancel (of the
        earliest sent; for a Cancel naming several incidents, the first it may end), the
        earliest-sent reference for an Update that names no known version. None for a message that
        belongs to no incident (an Ack or Error, a Draft or System message, a Cancel naming no
        known version, an Update naming no known version that may not start the incident its
        references name). The store's own rules decide, read only: the key is the incident
        :meth:`target` would answer for (when the message's kind and issuer pass).

        Raises
        ------
        DuplicateIdentifier
            If the message re-uses a version id with different content.

        .. versionchanged:: 0.1.0
           An instance method: the answer depends on the versions seen.
        """
        if not isinstance(alert, Alert):
            raise _alert_type_error(alert)
        if _not_an_alert(alert) or _not_public(alert) is not None:
            return None
        adm = self._admitted_at_sent(alert, _DryRun(self.ledger))
        return None if adm.incident is None else adm.incident.key

    def _admitted_at_sent(self, alert: Alert, dry: _DryRun) -> Admission:
        """``alert`` admitted at its ``sent`` over the read-only view ``dry``.

        Raises DuplicateIdentifier when its version id holds other content.
        """
        adm = _lifecycle.admit(
            dry,
            alert,
            micros("alert.sent", alert.sent),
            lease_micros(self.lease),
            self.issuers.may_act_for,
        )
        if adm.transition is Transition.CONFLICT:
            raise _duplicate(adm.stored_document, alert)
        return adm

    def _enabled(self, regions: frozenset[str]) -> tuple[frozenset[str], Any]:
        """The enabled finest regions of a decision, and their mask (cached per region set).

        Bounded by the policy and the issuers: one entry per distinct region set of its
        phases, and per such set within an issuer's regions (:meth:`_plan`).
        """
        hit = self._masks.get(regions)
        if hit is None:
            enabled = self.regions.expand(regions, self._finest)
            hit = (enabled, enabled_mask(self._finest_set, enabled))
            with self._lock:
                self._masks[regions] = hit
        return hit

    def _next_reaching(
        self, kind: str, alert: Alert, area: Area | None, at: dt.datetime
    ) -> tuple[int, dt.datetime] | None:
        """The first instant after ``at`` that enables ``kind`` where the alert then is.

        ``(phase index, instant)``: a phase start, or an info block beginning while a phase
        enables the kind. "From when" for a kind not enabled, or an area outside the rollout:
        the next phase start alone may enable nobody (a canary of 0 %) or only regions
        elsewhere, and of an alert with info blocks of their own windows what must reach an
        enabled region is the area in effect then (:meth:`Alert.area_at`), not every block's:
        a block that ended before a phase starts reaches nothing then, and one that begins
        within a phase may reach what it enables. ``area`` stands in for an alert without
        geometry (an Update keeping its incident's area; None: anywhere); from the alert's
        expiry on, its whole area does (the reason says that changes nothing). One plan per
        instant's phase and area, cached like the current one's.
        """
        rollout = self.policy.rollout(kind)
        if rollout is None:
            return None
        own = alert.area is not None
        instants = {p.starts_at for p in rollout.phases if p.starts_at > at}
        if own:  # (an alert without geometry: its blocks' windows change no area)
            instants.update(start for start, _ in alert.windows if start > at)
        expires = alert.expires
        for when in sorted(instants):
            then = self.policy.decide(kind, when)
            if not then.enabled:
                continue
            there = area
            if own:
                there = alert.area_at(when) if expires is None or when < expires else alert.area
                if there is None:  # no block with geometry in effect then
                    continue
            if there is None or self._plan(kind, there, then, alert.sender).reaches_enabled:
                assert then.phase_index is not None
                return then.phase_index, when
        return None

    def _later_phases(
        self, kind: str, alert: Alert, decision: RolloutDecision, at: dt.datetime
    ) -> list[tuple[dt.datetime, RolloutDecision]]:
        """The phases of ``kind`` beginning after ``at``, before ``alert`` expires, that widen.

        Each with its start and decision: those that enable the kind in a region ``decision``
        does not list, or for a larger share of devices. A delivered version is told again as
        each begins (:meth:`retarget`), so the blast-radius guard counts what they reach.
        """
        rollout = self.policy.rollout(kind)
        if rollout is None:
            return []
        expires = alert.expires
        out = []
        for phase in rollout.phases:
            start = phase.starts_at
            if start <= at or (expires is not None and start >= expires):
                continue
            then = self.policy.decide(kind, start)
            if not then.enabled or (
                then.regions <= decision.regions and then.percentage <= decision.percentage
            ):
                continue
            out.append((start, then))
        return out

    def _from_when(self, kind: str, later: tuple[int, dt.datetime] | None, there: str) -> str:
        """``"; phase 2 enables it there from 2024-09-02 00:00 Europe/Stockholm"`` of a reason.

        For :meth:`_next_reaching`'s answer: at a phase start, or as an info block begins
        within that phase (then the block's time as the alert gives it); or that no later
        phase does.
        """
        if later is None:
            return f"; no later phase of the policy enables it{there}"
        index, when = later
        rollout = self.policy.rollout(kind)
        assert rollout is not None
        text = f"; phase {index + 1} enables it{there}{self._share(kind, index)} from "
        if when == rollout.phases[index].starts_at:
            return text + self._when(kind, when)
        # The block's own time, as the alert writes it (as its onset is shown), not a phase's.
        return text + f"{when.isoformat()}, as an info block of the alert reaching it begins"

    def _share(self, kind: str, phase: int) -> str:
        """`` for N% of devices (canary)`` when that phase of the kind is a canary, else ``""``."""
        rollout = self.policy.rollout(kind)
        share = 100.0 if rollout is None else rollout.phases[phase].percentage
        return f" for {share:g}% of devices (canary)" if share < 100.0 else ""

    def _when(self, kind: str, start: dt.datetime) -> str:
        """A phase start for a reason: the policy's wall time and zone, as its file writes it.

        ``2024-09-02 00:00 Europe/Stockholm``, with "(illustrative date)" when the phase
        starting then is marked so (as explanations, timelines and the demo say it), not the
        UTC instant, whose date can be the day before.
        """
        rollout = self.policy.rollout(kind)
        phases = () if rollout is None else rollout.phases
        shown = any(p.starts_at == start and p.illustrative for p in phases)
        return human(start, self.policy.timezone) + (" (illustrative date)" if shown else "")

    def _plan(self, kind: str, area: Area, decision: RolloutDecision, sender: str = "") -> Plan:
        rules = self.rules[kind]
        stale_margin = rules.stale.margin_m if rules.stale is not None else None
        # The regions the area reaches past its sender's issuer's, within border_slack_m: not
        # enabled for it (the issuer may not alert there; its devices there are not told).
        # Only the regions of the sender's issuer: a device located outside them is not told,
        # even where its accuracy disk or a stale fix's margin meets the area (the slivers
        # the area reaches past them, within border_slack_m, lie outside them too).
        home = self._gate.home(sender)
        # Everything the plan depends on: the area (by value), the decision (policy version,
        # phase and its regions), those regions, the issuer's regions, the stale margin and the
        # snap distance.
        key = (
            area,
            decision.policy_hash,
            decision.phase_index,
            decision.regions,
            home,
            stale_margin,
            self.snap_m,
        )
        with self._lock:
            hit = self._plans.pop(key, None)
            if hit is not None:
                self._plans[key] = hit  # the most recently used goes last
                return hit[0]
        enabled, mask = self._enabled(decision.regions)
        if home is not None and not enabled <= home:
            enabled, mask = self._enabled(enabled & home)  # finest codes expand to themselves
        plan = build_plan(area, stale_margin, enabled, mask, self._finest_set, self.snap_m)
        size = plan_bytes(plan)
        if size > PLAN_CACHE_BYTES:
            return plan  # larger than the whole cache: used once, not kept
        with self._lock:
            old = self._plans.pop(key, None)
            self._plan_bytes += size - (0 if old is None else old[1])
            self._plans[key] = (plan, size)
            while self._plan_bytes > PLAN_CACHE_BYTES:  # least recently used out first
                self._plan_bytes -= self._plans.pop(next(iter(self._plans)))[1]
        return plan

    # --- the pipeline ----------------------------------------------------------------------

    def target(
        self, alert: Alert, index: PositionIndex, at: dt.datetime, *, confirm: bool = False
    ) -> TargetingResult:
        """Decide who receives ``alert`` at ``at`` among the devices of ``index``.

        ``alert`` is any message: an Alert, an Update, a Cancel (whose result lists the devices
        to retract), even an Ack. Admits the message into the ledger's incidents (one
        transaction), then claims the new recipients as pending deliveries (one transaction,
        refused when a Cancel or a newer version won meanwhile in any process): push them,
        then :meth:`confirm` their keys (:attr:`TargetingResult.claims`). A message that
        reaches no one returns a result with a :class:`Verdict` and a reason — not an
        exception.

        Parameters
        ----------
        alert : Alert
            Any message: Alert, Update, Cancel, Ack, Error, in any status.
        index : PositionIndex
            The current device positions.
        at : datetime.datetime
            Timezone-aware.
        confirm : bool, default False
            Send even if the blast-radius guard would block it (``True`` or ``False`` only).

        Returns
        -------
        TargetingResult
            The verdict, the recipients (pending: their keys in ``claims``) and the reasons.

        Raises
        ------
        InvalidType
            If ``confirm`` is not ``True`` or ``False`` (nothing changes).
        DuplicateIdentifier
            If ``(sender, identifier)`` was seen with different content (nothing changes).
        StoreError
            The store failed (a subclass names the cause). The alert is admitted in one
            transaction and its recipients claimed in another: when the claim failed, the
            message says the alert was admitted; send it again, or call :meth:`retarget`, to
            deliver it.
        """
        return self._target(alert, index, at, confirm=confirm)

    def _target(
        self,
        alert: Alert,
        index: PositionIndex,
        at: dt.datetime,
        *,
        confirm: bool,
        evaluator: Evaluator | None = None,
        verified: bool = False,
    ) -> TargetingResult:
        """:meth:`target`, the devices evaluated by ``evaluator`` (default: :meth:`_evaluate`).

        ``geotarget.dask`` passes an evaluator that evaluates on the workers and fills
        ``index`` with the devices whose outcome is not OUTSIDE_AREA. ``verified``: the
        document's signature was verified (:meth:`receive`).
        """
        t_start = time.perf_counter()
        if not isinstance(alert, Alert):
            raise _alert_type_error(alert)
        if not isinstance(index, PositionIndex):
            raise InvalidType(f"index must be a PositionIndex (got {type(index).__name__})")
        at = _aware("at", at)
        confirm = _confirm(confirm)
        base: dict[str, Any] = {"alert_id": alert.identifier, "at": at}
        outright = self._refused_outright(alert, base, verified=verified)
        if outright is not None:
            return outright
        refused, facts = self._gate.admit(alert, lambda: self._inherited_area(alert))
        base.update(facts)
        unresolved = _without_geometry(alert)
        if unresolved:
            base["warnings"] = unresolved
        if refused is not None:
            verdict, reason = refused
            # (Every store of geotarget's has refuse(); it is not in the DeliveryLedger protocol.)
            refuse: Callable[..., Admission] | None = getattr(self.ledger, "refuse", None)
            if refuse is not None and _links_when_refused(alert, verdict):
                # It changes no incident, but its issuer's next message may name only it (its
                # chain's newest, as the issuer sees it): that one names, through it, the
                # versions it names (the store's lifecycle looks through it), in any process.
                try:
                    links = refuse(alert, at=at, may_act_for=self.issuers.may_act_for)
                    reason += _linked_refused(links)
                except StoreError as err:
                    raise type(err)(
                        f"{err} (recording the {alert.msg_type.value} {alert.identifier} "
                        f"refused: {reason}); send it again to record it"
                    ) from err
            return TargetingResult(**base, incident=None, verdict=verdict, reason=reason)
        kind: str = facts.get("kind", "")
        # The match runs while the store writes the admission to disk: nothing acts on it, and
        # nothing returns, before on_disk() (which raises the commit's StoreError).
        adm, on_disk = admit_behind(
            self.ledger, alert, at=at, lease=self.lease, may_act_for=self.issuers.may_act_for
        )
        key = None if adm.incident is None else adm.incident.key
        base["incident"] = key
        tr = adm.transition
        linked = _linked(adm.merged, key)
        if tr not in (Transition.STARTED, Transition.UPDATED, Transition.SAME):
            on_disk()
            settled = self._settle(alert, adm, base, at)
            return attrs.evolve(settled, reason=linked + settled.reason) if linked else settled
        assert key is not None
        prefix = _orphan(alert, adm, key, self._resembled) + linked
        guard_holds = False
        if adm.incident is not None and adm.incident.released == adm.version:
            # This version's delivery began: the guard let it through, or a person confirmed
            # it. Sent again (the same document), it is not held again while it streams.
            confirm = True
        elif not confirm and tr is Transition.SAME:
            # Sent again while the guard holds it (a feed repeating its document, another
            # instance): still held, whatever this snapshot covers; only a confirm sends it.
            guard_holds = self.ledger.held(adm.version)
        try:
            verdict, fields = self._decide(
                alert,
                kind,
                index,
                at,
                confirm,
                prefix,
                evaluator,
                delivered=_delivered(adm),
                guard_holds=guard_holds,
            )
        finally:
            on_disk()
        with self._lock:
            self._decided.add((key, adm.version))
        if verdict is Verdict.EXPIRED:
            with self._lock:
                self._expired.add((key, adm.version))
        fields["reason"] += _held_update(key, adm.version, adm.incident, verdict)
        if verdict is Verdict.BLAST_RADIUS:
            try:
                # Held until a person confirms it, for every process over the store: retarget()
                # over another snapshot (fewer devices) must not send it unconfirmed.
                self.ledger.hold(adm.version, at=at)
            except StoreError as err:
                raise type(err)(
                    f"{err} (recording that the blast-radius guard holds it); the alert "
                    f"{adm.version} was admitted and is held: send it again to hold it"
                ) from err
        if verdict is not Verdict.DELIVER:
            return TargetingResult(**base, verdict=verdict, **fields)
        t_ledger = time.perf_counter()
        covered_ids = fields.pop("covered_ids")
        try:
            previously = (
                self.ledger.recipients(key) if tr is not Transition.STARTED else _NO_DEVICES
            )
            # One transaction: refused if a Cancel (or a newer version) won meanwhile, anywhere.
            claims = self.ledger.claim(
                key, covered_ids, version=adm.version, at=at, lease=self.lease
            )
        except StoreError as err:
            raise type(err)(
                f"{err} (claiming its recipients); the alert {adm.version} was admitted before "
                f"it, in incident {key}: send it again, or call retarget(), to deliver it"
            ) from err
        if claims.status is not ClaimStatus.CLAIMED:
            return self._lost(base, claims)
        with self._lock:
            self._expired.discard((key, adm.version))
        new = claims.ids()
        gone = _not_covered(previously, covered_ids)
        t_end = time.perf_counter()
        covered_region = fields.pop("covered_region")
        covered_box = fields.pop("covered_box")
        covered = fields.pop("covered")
        per_county = self._new_per_county(
            claims.positions, covered, covered_region, covered_box, index
        )
        reason = (
            fields.pop("reason") + f": {len(new):,} new recipient{'' if len(new) == 1 else 's'}"
        )
        timings = {
            "plan": fields.pop("t_plan") - t_start,
            **fields.pop("timings"),
            "ledger": t_end - t_ledger,
        }
        timings["total"] = time.perf_counter() - t_start
        return TargetingResult(
            **base,
            verdict=verdict,
            reason=reason,
            recipients=new,
            claims=claims,
            no_longer_covered=gone,
            already_delivered=int(covered_ids.size) - len(new),
            per_county=per_county,
            timings=timings,
            **fields,
        )

    def receive(
        self, data: bytes, index: PositionIndex, at: dt.datetime, *, confirm: bool = False
    ) -> TargetingResult:
        """The intake: read a CAP document as received, check its signature, then target it.

        The document is read strictly (:func:`geotarget.cap.read`) with the regions' bounds as
        the service envelope, so a document written lon,lat is refused. When the sender's
        issuer has ``signature_required``, the XML-DSig signature is verified against its
        pinned certificates (:func:`geotarget.cap.verify_signature`, valid at ``at``); a
        missing or bad one is :attr:`Verdict.BAD_SIGNATURE`, nobody is told and nothing
        changes. Then the alert goes through :meth:`target`: recognition, authority, the
        incidents in the ledger, the rollout and the devices.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        data : bytes
            The document exactly as received.
        index : PositionIndex
            The current device positions.
        at : datetime.datetime
            Timezone-aware.
        confirm : bool, default False
            As for :meth:`target`.

        Returns
        -------
        TargetingResult
            With the reader's ``warnings`` and ``signature="verified"`` when one was checked.

        Raises
        ------
        InvalidCAP
            For a document that is not CAP 1.2, or whose areas look written lon,lat, or whose
            alert could not be recorded: the ledger keeps each version as geotarget writes
            it, which may be longer than the document received (a description full of ``>``
            written ``&gt;``), and one past :data:`geotarget.cap.MAX_DOCUMENT_BYTES` is
            refused.
        MissingExtra
            When a signature must be checked and the ``signing`` extra is not installed.
        DuplicateIdentifier
            As for :meth:`target`.
        """
        from geotarget import cap

        if not isinstance(data, bytes):
            raise InvalidType(
                f"data must be the document's bytes as received (got {type(data).__name__})"
            )
        at = _aware("at", at)
        confirm = _confirm(confirm)
        parsed = cap.read(data, envelope=self._gate.bounds)
        alert = parsed.alert
        refused, signature = self._gate.signature(data, alert, at)
        if refused is not None:
            issuer = self.issuers.issuer_of(alert.sender)
            return TargetingResult(
                alert_id=alert.identifier,
                incident=None,
                at=at,
                verdict=refused[0],
                reason=refused[1],
                issuer=None if issuer is None else issuer.name,
                warnings=parsed.warnings,
            )
        result = self._target(alert, index, at, confirm=confirm, verified=signature is not None)
        return attrs.evolve(result, warnings=parsed.warnings, signature=signature)

    def preview(self, alert: Alert, index: PositionIndex, at: dt.datetime) -> TargetingResult:
        """What :meth:`target` would answer for ``alert`` now, changing nothing.

        Any message :meth:`target` takes: an Alert or Update version, a Cancel, even an Ack.
        The store's own lifecycle rules decide, over the ledger as it stands, read only
        (nothing is admitted, claimed, retracted or remembered): the verdict, the reason, the
        incident, ``next_change`` and the counts are those ``target()`` would give at ``at``.
        ``recipients`` are the devices it would claim: the covered devices never claimed for
        the incident, and those whose delivery is still pending on another version (held on
        a version an Update replaced, however long ago: the claim takes them back under this
        one); ``retract`` the devices a Cancel would retract, and ``claims`` is None. The
        blast-radius guard is not applied (as with ``confirm=True``), so that
        :meth:`TargetingResult.explain` answers for every device in a live service.

        Nothing is guessed: the store's public reads give everything its rules read (an
        incident's owner, status and ending Cancel through
        :meth:`~geotarget.ledger.DeliveryLedger.incident`, its versions through
        :meth:`~geotarget.ledger.DeliveryLedger.versions`, the deliveries a claim or a
        retraction would take through :meth:`~geotarget.ledger.DeliveryLedger.pending`).
        Another process changing the store meanwhile can change what ``target()`` answers
        later, as it would for any read.

        .. versionadded:: 0.1.0
        .. versionchanged:: 0.1.0
           Answers every message as :meth:`target` does: a Cancel ``CANCELLED`` (with the
           devices to retract), ``UNKNOWN_REFERENCE`` or ``NOT_AUTHORISED`` (it answered
           ``NOT_AN_ALERT``), the reasons in ``target()``'s words, and ``recipients`` with the
           deliveries an Update takes over. A version of an ended incident, or an older one,
           tells nobody (it answered ``DELIVER``); fills ``per_county`` and
           ``no_longer_covered``. Exact where it inferred: the devices held on an older
           version than the one an Update replaces, or on the current version's predecessor
           once a later version was admitted, are new recipients (they counted as already
           delivered), and a Test or Actual Cancel of an incident whose status no current
           version gives, or the Cancel named in the reason, are the store's.

        Parameters
        ----------
        alert : Alert
            Any message, as for :meth:`target`.
        index : PositionIndex
            The current device positions.
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        TargetingResult
            As from :meth:`target` without the blast-radius guard; ``claims`` is None.

        Raises
        ------
        DuplicateIdentifier
            As :meth:`target` raises it (nothing changes either way).
        """
        if not isinstance(alert, Alert):
            raise _alert_type_error(alert)
        if not isinstance(index, PositionIndex):
            raise InvalidType(f"index must be a PositionIndex (got {type(index).__name__})")
        at = _aware("at", at)
        base: dict[str, Any] = {"alert_id": alert.identifier, "at": at}
        # An Ack, a Draft or a swapped-axes area: answered (or refused) as target() does.
        outright = self._refused_outright(alert, base)
        if outright is not None:
            return outright
        refused, facts = self._gate.admit(alert, lambda: self._inherited_area(alert))
        base.update(facts)
        unresolved = _without_geometry(alert)
        if unresolved:
            base["warnings"] = unresolved
        if refused is not None:
            verdict, reason = refused
            if getattr(self.ledger, "refuse", None) is not None and _links_when_refused(
                alert, verdict
            ):
                # What recording the refusal would link, or end, as target() says it.
                dry = _DryRun(self.ledger)
                links = _lifecycle.link_refused(
                    dry, alert, micros("at", at), self.issuers.may_act_for
                )
                reason += _linked_refused(links)
            return TargetingResult(**base, incident=None, verdict=verdict, reason=reason)
        # The store's lifecycle rules, run over the ledger read only: the admission target()
        # would make now, its writes kept aside.
        dry = _DryRun(self.ledger)
        adm = _lifecycle.admit(
            dry, alert, micros("at", at), lease_micros(self.lease), self.issuers.may_act_for
        )
        key = None if adm.incident is None else adm.incident.key
        base["incident"] = key
        tr = adm.transition
        linked = _linked(adm.merged, key)
        if tr not in (Transition.STARTED, Transition.UPDATED, Transition.SAME):
            settled = attrs.evolve(self._settle(alert, adm, base, at, dry=dry), claims=None)
            return attrs.evolve(settled, reason=linked + settled.reason) if linked else settled
        assert key is not None
        prefix = _orphan(alert, adm, key, self._resembled) + linked
        verdict, fields = self._decide(
            alert, facts.get("kind", ""), index, at, True, prefix, dry=dry
        )
        if verdict is not Verdict.DELIVER:
            fields["reason"] += _held_update(key, adm.version, adm.incident, verdict)
            return TargetingResult(**base, verdict=verdict, **fields)
        covered_ids = fields.pop("covered_ids")
        claimed = dry.recipients(key)
        told = np.zeros(covered_ids.size, dtype=bool)
        if claimed.size:
            if dry.own(key):  # (the store answers for its own incident, as target() claims)
                told = self.ledger.delivered(key, covered_ids)
            else:
                known = IdSet()
                known.add(claimed)
                told = known.member(covered_ids)
            # Pending on another version (one this version replaces, or an older one the
            # store holds, or a merged incident's): the claim takes them back under this
            # version, so target() counts them as new.
            held = dry.held(key, adm.version) if told.any() else _NO_DEVICES
            if held.size:
                moving = IdSet()
                moving.add(held)
                told &= ~moving.member(covered_ids)
        new = np.flatnonzero(~told)
        per_county = self._new_per_county(
            new,
            fields.pop("covered"),
            fields.pop("covered_region"),
            fields.pop("covered_box"),
            index,
        )
        gone = _not_covered(claimed, covered_ids)
        for name in ("t_plan", "timings"):
            fields.pop(name)
        reason = (
            fields.pop("reason") + f": {new.size:,} new recipient{'' if new.size == 1 else 's'}"
        )
        return TargetingResult(
            **base,
            verdict=verdict,
            reason=reason,
            recipients=covered_ids[new],
            no_longer_covered=gone,
            already_delivered=int(covered_ids.size) - int(new.size),
            per_county=per_county,
            **fields,
        )

    def _refused_outright(
        self, alert: Alert, base: dict[str, Any], *, verified: bool = False
    ) -> TargetingResult | None:
        """The answer to an Ack or Error (``NOT_AN_ALERT``) or a non-public message, or None.

        ``NOT_PUBLIC`` for a Draft, System or non-public one; InvalidCAP for axes swapped;
        ``BAD_SIGNATURE`` for a message of an issuer that must sign, unless ``verified`` (its
        document's signature was checked) or the ledger holds its version already.

        Shared by :meth:`target` and :meth:`preview`, so a preview answers as target() would.
        """
        if _not_an_alert(alert):
            return TargetingResult(
                **base,
                incident=None,
                verdict=Verdict.NOT_AN_ALERT,
                reason=(
                    f"an {alert.msg_type.value} message is not an alert: it reaches nobody and "
                    "changes no incident"
                ),
            )
        private = _not_public(alert)
        if private is not None:
            return TargetingResult(
                **base, incident=None, verdict=Verdict.NOT_PUBLIC, reason=private
            )
        self._gate.check_axes(alert)
        if not verified:
            vid = version_id(alert.sender, alert.identifier)
            unsigned = self._gate.unverifiable(
                alert, lambda: (self.ledger.lookup_version(vid) or (None, None))[1] is not None
            )
            if unsigned is not None:
                issuer = self.issuers.issuer_of(alert.sender)
                return TargetingResult(
                    **base,
                    incident=None,
                    verdict=unsigned[0],
                    reason=unsigned[1],
                    issuer=None if issuer is None else issuer.name,
                )
        return None

    def _lost(self, base: dict[str, Any], claims: Claims) -> TargetingResult:
        """The store refused the claim: the lifecycle changed while this call evaluated."""
        status = claims.status
        verdict = {
            ClaimStatus.CANCELLED: Verdict.CANCELLED,
            ClaimStatus.EXPIRED: Verdict.EXPIRED,
        }.get(status, Verdict.SUPERSEDED)
        return TargetingResult(
            **base,
            verdict=verdict,
            reason=(
                f"incident {claims.incident} was {status.value} while this version was being "
                "targeted: nobody is told"
            ),
            claims=claims,
        )

    def _settle(
        self,
        alert: Alert,
        adm: Admission,
        base: dict[str, Any],
        at: dt.datetime,
        *,
        dry: _DryRun | None = None,
    ) -> TargetingResult:
        """Answer a lifecycle decision other than delivering this version.

        ``dry``: the read-only view :meth:`preview` admitted ``alert`` over (nothing is
        retracted in the ledger).
        """
        key = base["incident"]
        tr = adm.transition
        if tr is Transition.CONFLICT:
            raise _duplicate(adm.stored_document, alert)
        if tr is Transition.NOT_AUTHORISED:
            return TargetingResult(
                **base,
                verdict=Verdict.NOT_AUTHORISED,
                reason=f"not authorised: {adm.why}; nothing changes",
            )
        if tr is Transition.REMEMBERED:
            names = ", ".join(version_id(r.sender, r.identifier) for r in alert.references)
            return TargetingResult(
                **base,
                verdict=Verdict.UNKNOWN_REFERENCE,
                reason=(
                    f"a Cancel whose references name no known version ({names}): remembered, "
                    "so the versions it names are never delivered" + self._resembled(alert)
                ),
            )
        if tr is Transition.SUPERSEDED:
            return TargetingResult(
                **base, verdict=Verdict.SUPERSEDED, reason=f"superseded: {adm.why}"
            )
        if tr is Transition.EXPIRED:
            closed = adm.incident
            when = "" if closed is None else f" at {closed.changed_at.isoformat()}"
            return TargetingResult(
                **base,
                verdict=Verdict.EXPIRED,
                reason=(
                    f"incident {key} expired: its current version expired and the incident "
                    f"was closed{when}, once kept active for keep_expired ({self.keep_expired} "
                    f"here) after that: this {alert.msg_type.value} of a closed incident is "
                    "refused whatever its own times (send a new Alert); nobody is told"
                ),
            )
        assert key is not None
        retraction = adm.retraction
        again = retraction is None and alert.msg_type is MessageType.CANCEL
        if again:
            # A Cancel of a cancelled incident (re-sent by a feed, or another issuer's): the
            # retractions not confirmed yet, as a confirmed one is never pushed twice.
            if dry is None:
                retraction = self.ledger.retract(key, version=adm.version, at=at, lease=self.lease)
            else:
                retraction = dry.retract(key, adm.version, 0, 0)
        also = ""
        if adm.also_cancelled:
            also = (
                f"; it also ended {', '.join(adm.also_cancelled)}, whose retractions are due "
                "now from redeliver()"
            )
        if retraction is not None:
            why = f" ({adm.why})" if adm.why else ""
            told = (
                (self.ledger if dry is None else dry).recipients(key)
                if again
                else retraction.devices
            )
            due = (
                f" ({len(retraction):,} of their retractions not confirmed yet are offered)"
                if again
                else ""
            )
            return TargetingResult(
                **base,
                verdict=Verdict.CANCELLED,
                reason=(
                    f"cancelled{why}: retract from the {len(told):,} "
                    f"device{'' if len(told) == 1 else 's'} told about {key}{due}{also}"
                ),
                retract=told,
                claims=retraction,
            )
        why = f" ({adm.why})" if adm.why else ""
        return TargetingResult(
            **base,
            verdict=Verdict.CANCELLED,
            reason=f"incident {key} was cancelled{why}: nobody is told{also}",
        )

    def _within_delivered(self, kind: str, area: Area, delivered: str | None) -> bool:
        """Whether ``area`` is proven to lie within the area of version ``delivered``.

        That version's own area, or for an Update without area geometry the one it kept;
        "proven" as :func:`geotarget._index.within.first_not_within` proves it (it errs only
        towards "not within", so only towards holding the version). Only for a version of the
        same ``kind``: its area passed that kind's guard, not another's.
        """
        if delivered is None:
            return False
        found = self.ledger.lookup_version(delivered)
        if found is None or found[1] is None:
            return False
        from geotarget._index.within import first_not_within

        earlier = stored_alert(found[1], f"version {delivered}")
        recognised = self.recognition.recognise(earlier)
        if recognised is None or recognised.kind != kind:
            return False
        before = earlier.area
        if before is None:
            inherited = self._inherited_area(earlier)
            before = None if inherited is None else inherited[0]
        return before is not None and first_not_within(area.parts, before.parts) is None

    def _decide(
        self,
        alert: Alert,
        kind: str,
        index: PositionIndex,
        at: dt.datetime,
        confirm: bool,
        prefix: str,
        evaluator: Evaluator | None = None,
        *,
        delivered: str | None = None,
        dry: _DryRun | None = None,
        guard_holds: bool = False,
    ) -> tuple[Verdict, dict[str, Any]]:
        """Evaluate a version the ledger made current: the verdict and the result's fields.

        ``guard_holds``: the ledger holds this version for the blast-radius guard
        (``ledger.hold``): without ``confirm`` it is held again, however few devices are
        covered now.

        ``delivered``: the incident's version delivered before this one (another), if any. Its
        area passed the blast-radius guard (under the limits, or confirmed), so an area proven
        to lie within it is not held again: a held version is current, and the delivered area
        would stop streaming for as little as an Update of the texts. ``dry``: for
        :meth:`preview`, the view it admitted the version over (the ledger is unchanged).
        """
        onset, expires = alert.onset, alert.expires  # (each computed over the info blocks)
        start = _start_named(alert, onset)
        if expires is not None and expires <= onset:
            # An empty window [onset, expires): never active, so never "not yet" either.
            return Verdict.EXPIRED, {
                "reason": prefix
                + f"the alert is never active: it expires at {expires.isoformat()}, at or "
                f"before {start}"
            }
        if at < onset:
            return Verdict.NOT_YET_ACTIVE, {
                "reason": prefix + f"the alert is not active before {start}",
                "next_change": onset,
            }
        if expires is not None and at >= expires:
            return Verdict.EXPIRED, {
                "reason": prefix + f"the alert expired at {expires.isoformat()}"
            }
        gap = _next_block(alert, at)
        if gap is not None:
            return Verdict.NOT_YET_ACTIVE, {
                "reason": prefix + f"none of the alert's info blocks is in effect at "
                f"{at.isoformat()}: the next begins at {gap.isoformat()}",
                "next_change": gap,
            }
        decision = self.policy.decide(kind, at)
        if not decision.enabled:
            held = _held_off(kind, decision)
            if held is not None:  # a switch or the policy holds it off, whatever its phases say
                return Verdict.KIND_NOT_ENABLED, {
                    "reason": prefix + f"{kind} is not enabled ({decision.reason.value}): {held}",
                    "rollout": decision,
                }
            # The first phase that enables the kind where the alert is (its area when it has
            # one, else the area an Update without geometry keeps), not merely the next phase:
            # that may enable nobody (a canary of 0 %) or only regions elsewhere.
            where = alert.area
            if where is None and (inherited := self._inherited_area(alert, dry)) is not None:
                where = inherited[0]
            there = "" if where is None else " there"
            later = self._next_reaching(kind, alert, where, at)
            nxt = None if later is None else later[1]
            when = self._from_when(kind, later, there)
            return Verdict.KIND_NOT_ENABLED, {
                "reason": prefix
                + f"{kind} is not enabled ({decision.reason.value}"
                + _paused(decision)
                + ")"
                + when
                + _after_expiry(alert, nxt, self.policy.timezone),
                "next_change": _before_expiry(alert, nxt),
                "rollout": decision,
            }
        area = alert.area
        if area is None:
            inherited = self._inherited_area(alert, dry)
            if inherited is not None:
                area, source = inherited
                prefix += (
                    f"an Update without area geometry: the incident's area stays that of "
                    f"version {source}; "
                )
        elif (area := alert.area_at(at)) is None:
            return Verdict.NO_AREA, {
                "reason": prefix + f"the info blocks in effect at {at.isoformat()} have no "
                "area geometry (those with one are not in effect then)",
                "next_change": _before_expiry(alert, _next_edge(alert, at)),
                "rollout": decision,
            }
        if area is None:
            return Verdict.NO_AREA, {
                "reason": prefix + "the alert has no area geometry to target",
                "rollout": decision,
            }
        plan = self._plan(kind, area, decision, alert.sender)
        t_plan = time.perf_counter()
        if not plan.reaches_enabled:
            grown = f" grown by snap_m={self.snap_m:g} m" if self.snap_m else ""
            later = self._next_reaching(kind, alert, area, at)
            when = self._from_when(kind, later, " there")
            nxt = None if later is None else later[1]
            # An info block beginning or ending changes the area in effect: it may reach an
            # enabled region then (a block of another area begins).
            edge = _before_expiry(alert, _next_edge(alert, at))
            moves = (
                f"; the area in effect changes at {edge.isoformat()}, as an info block begins "
                "or ends"
                if edge is not None and (nxt is None or edge < nxt)
                else ""
            )
            slivers = self._gate.slivers(alert.sender, area) & self._enabled(decision.regions)[0]
            past = (
                f" (but for slivers at most border_slack_m={self.border_slack_m:g} m past the "
                f"regions of its sender's issuer, in {', '.join(sorted(slivers))}, where that "
                "issuer may not alert)"
                if slivers
                else ""
            )
            outside = (
                f"the alert area{grown} lies wholly outside the regions where {kind} "
                f"is enabled ({', '.join(sorted(decision.regions))}){past}{when}"
            )
            finest = self._finest_set
            if later is None and not reaches(finest, area, frozenset(finest.codes), self.snap_m):
                # In no region at all: abroad, or at sea beyond the territorial sea. No phase
                # could enable it there, whatever the policy said of the regions.
                outside = (
                    f"the alert area{grown} lies in none of the {len(finest):,} regions of the "
                    f"territory ({self._finest} level): abroad, or at sea beyond the territorial "
                    f"sea, where no phase of any policy enables {kind}"
                )
            return Verdict.AREA_OUTSIDE_ROLLOUT, {
                "reason": prefix
                + outside
                + _after_expiry(alert, nxt, self.policy.timezone)
                + moves,
                "next_change": _before_expiry(alert, _earliest(nxt, edge)),
                "rollout": decision,
                "area_km2": plan.area_km2,
            }
        rules = self.rules[kind]
        kept = f"its area lies within the area already delivered (version {delivered}), which "
        kept += "the blast-radius guard let through: not held again; "
        # The guard weighs the area the version reaches now or later: an info block beginning
        # later widens it, and a version whose delivery began is not held again (it streams).
        limited = rules.max_area_km2 is not None or rules.max_recipients is not None
        ahead = _ahead(alert, area, at) if limited and not confirm else None
        guarded = area if ahead is None else ahead
        guarded_km2 = (
            plan.area_km2 if ahead is None or rules.max_area_km2 is None else guarded.area_m2 / 1e6
        )
        widened = "" if ahead is None else " with the info blocks that begin later"
        over = rules.max_area_km2 is not None and guarded_km2 > rules.max_area_km2
        if over and not confirm and self._within_delivered(kind, guarded, delivered):
            confirm, prefix = True, prefix + kept  # (looked up only when the guard would hold)
        if over and not confirm:
            assert rules.max_area_km2 is not None
            return Verdict.BLAST_RADIUS, {
                "reason": prefix
                + f"the area{widened} is {guarded_km2:,.1f} km², over the {kind} limit of "
                f"{rules.max_area_km2:,.1f} km²{_km_hint(guarded)}: confirm to send anyway",
                "rollout": decision,
                "area_km2": guarded_km2,
            }
        if guard_holds and not confirm:
            return Verdict.BLAST_RADIUS, {
                "reason": prefix
                + "the blast-radius guard held this version when it was targeted before, for "
                "every process over the store, whatever the devices covered now: confirm to "
                "send it",
                "rollout": decision,
                "area_km2": plan.area_km2,
            }
        evaluated = evaluator or self._evaluate
        widened, n_ahead = "", 0
        if rules.max_recipients is not None and ahead is not None and not confirm:
            # The devices the version covers with the blocks that begin later (a superset of
            # those it covers now): they are streamed, and told by target() of it again,
            # without the guard. Counted first: an evaluator (geotarget.dask's) fills
            # ``index`` with the devices of the plan it evaluated last.
            wider = self._plan(kind, ahead, decision, alert.sender)
            n_ahead = int(evaluated(alert.status, kind, wider, decision, index, at)[2].size)
            widened = " with the info blocks that begin later"
        if rules.max_recipients is not None and not confirm:
            # And those a later phase (another region, a larger share) lets it reach before it
            # expires: retarget() and on_positions() tell them then, without the guard. Each
            # counted over everyone it enables, then its own share of them (that phase's
            # canary, drawn by device id), before the evaluation of the version's delivery.
            for begins, then in self._later_phases(kind, alert, decision, at):
                full = attrs.evolve(then, percentage=100.0)
                found = evaluated(
                    alert.status,
                    kind,
                    self._plan(kind, guarded, full, alert.sender),
                    full,
                    index,
                    at,
                )[2]
                n = int(found.size)
                if then.percentage < 100.0 and n:
                    n = int(self.policy.in_canary(kind, index.positions.ids[found], begins).sum())
                if n > n_ahead:
                    assert then.phase_index is not None
                    n_ahead = n
                    widened = (
                        f" once phase {then.phase_index + 1} begins ({self._when(kind, begins)})"
                        if ahead is None
                        else f" with the info blocks that begin later, once phase "
                        f"{then.phase_index + 1} begins ({self._when(kind, begins)})"
                    )
        rows, outcomes, covered, covered_region, t, covered_box = evaluated(
            alert.status, kind, plan, decision, index, at
        )
        # The covered devices' ids in id order: a store of deliveries then finds its batch
        # sorted. ``covered`` (and ``covered_region``) stay in the evaluation's order: only a
        # subset of them needs their id order (:meth:`_new_per_county`).
        covered_ids = index.positions.sorted_ids(covered)
        n_covered = max(int(covered_ids.size), n_ahead)
        many = rules.max_recipients is not None and n_covered > rules.max_recipients
        if many and not confirm and self._within_delivered(kind, guarded, delivered):
            confirm, prefix = True, prefix + kept
        if many and not confirm:
            return Verdict.BLAST_RADIUS, {
                "reason": prefix
                + f"{n_covered:,} devices are covered{widened}, over the {kind} limit of "
                f"{rules.max_recipients:,}: confirm to send anyway",
                "rollout": decision,
                "area_km2": plan.area_km2,
            }
        # One count per outcome code (0 to 11: their int8 bytes read as uint8), in one pass.
        tally = np.bincount(outcomes.view(np.uint8), minlength=len(_CODE)).tolist()
        counts = {o: tally[int(c)] for o, c in _CODE.items()}
        counts[Outcome.OUTSIDE_AREA] += len(index.positions) - int(rows.size)
        phase = f", phase {decision.phase_index + 1}" if decision.phase_index is not None else ""
        if decision.percentage < 100.0:  # who is in is the canary's share, not only the area
            phase += f", for {decision.percentage:g}% of devices"
        enabled = self._enabled(decision.regions)[0]
        beside = self._gate.slivers(alert.sender, area) & enabled
        left_out = None
        if counts[Outcome.OUTSIDE_ROLLOUT]:  # never a silent "nobody": say who is left out
            home = self._gate.home(alert.sender)
            left_out = self._left_out(kind, at, index, rows, outcomes, home)
            n_out = counts[Outcome.OUTSIDE_ROLLOUT]
            restricted = home is not None and not enabled <= home
            issuer = " or where its sender's issuer may alert" if restricted else ""
            phase += (
                f"; {n_out:,} device{'' if n_out == 1 else 's'} in the area "
                f"{'is' if n_out == 1 else 'are'} outside the regions where it is enabled"
                f"{issuer}, not told"
            )
        return Verdict.DELIVER, {
            "reason": prefix + f"{kind} is enabled ({decision.reason.value}{phase})",
            # A phase start, or an info block beginning or ending: the area in effect changes.
            "next_change": _before_expiry(
                alert, _earliest(decision.next_change, _next_edge(alert, at))
            ),
            "rollout": decision,
            "counts": counts,
            "area_km2": plan.area_km2,
            "ids": index.positions.ids,
            "rows": rows,
            "outcomes": outcomes,
            "observed_at": index.positions.observed_at,
            "too_old": too_old(rules, at),
            "windowed": len(set(alert.windows)) > 1,
            "covered_ids": covered_ids,
            "covered": covered,
            "covered_region": covered_region,
            "covered_box": covered_box,
            "past_issuer": beside,
            "left_out": left_out,
            "t_plan": t_plan,
            "timings": t,
        }

    def _left_out(
        self,
        kind: str,
        at: dt.datetime,
        index: PositionIndex,
        rows: npt.NDArray[np.int32],
        outcomes: npt.NDArray[np.int8],
        home: frozenset[str] | None,
    ) -> LeftOut:
        """The rows a region left out, their finest regions, and from when each is enabled.

        ``home``: the sender's issuer's finest regions (None: anywhere); a row in none of them
        is said to be where that issuer may not alert.

        Located again here (a few devices at a region's edge, only when some are left out):
        the result keeps their region indices, never their coordinates, for
        :meth:`TargetingResult.explain`, which says from when in words only when asked.
        """
        out = rows[outcomes == _CODE[Outcome.OUTSIDE_ROLLOUT]].astype(np.int32)
        lon, lat = index.positions.lon[out], index.positions.lat[out]
        found = self._finest_set.locate_index(lon, lat, snap_m=self.snap_m).astype(np.int32)
        say = functools.partial(
            _from_when_in, self.policy, self.regions, self._finest_set.codes, kind, at, home
        )
        return LeftOut(out, found, say)

    def _evaluate(
        self,
        status: Status,
        kind: str,
        plan: Plan,
        decision: RolloutDecision,
        index: PositionIndex,
        at: dt.datetime,
    ) -> Evaluated:
        """See :func:`geotarget._evaluation.evaluate`."""
        return evaluate(
            self.rules[kind],
            plan,
            status,
            kind,
            decision,
            self.policy,
            self._finest_set,
            self.snap_m,
            index,
            at,
            self._coarse,
        )

    def _new_per_county(
        self,
        new: npt.NDArray[np.intp],
        covered: I32Array,
        covered_region: I32Array | None,
        covered_box: Box,
        index: PositionIndex,
    ) -> dict[str, int]:
        """``per_county`` of the new recipients ``new`` (places in the covered devices' ids).

        ``covered`` (and ``covered_region``) are in the evaluation's order, ``new`` places in
        their ids sorted (:meth:`Positions.sorted_ids`): all of them need no order (counts
        are the same in any), a subset is picked after putting the rows in id order. Those in no
        county (beyond the border, or told without a fix) under ``NO_COUNTY``, so the counts
        add up to ``new.size``.
        """
        if new.size == covered.size:  # (places are distinct) every covered device
            rows_new, region_new = covered, covered_region
        else:
            perm = index.positions.id_order(covered)
            if perm is not None:
                covered = covered.take(perm)
                covered_region = None if covered_region is None else covered_region.take(perm)
            rows_new = covered[new]
            region_new = None if covered_region is None else covered_region[new]
        if covered_region is None and self._county_set is not None:
            # Located in the county set itself: it answers through the finest level on its
            # borders (RegionSet.from_unions), so the counts equal the finest-level ones.
            per_county = self._per_county_direct(rows_new, index, covered_box)
        else:
            per_county = self._per_county(
                new_regions(
                    rows_new,
                    region_new,
                    index,
                    self._finest_set,
                    self.snap_m,
                )
            )
        outside = int(new.size) - sum(per_county.values())
        if outside:  # beyond the border, or no fix: counted, so the counts add up
            per_county = {**per_county, TargetingResult.NO_COUNTY: outside}
        return per_county

    def _per_county_direct(
        self, rows: I32Array, index: PositionIndex, box: Box = None
    ) -> dict[str, int]:
        """Count devices per county by locating their fixes in the county set.

        ``box``: a lon/lat box holding every one of the devices' fixes (each has one), if
        known: when it lies in one county, no fix is gathered or located.
        """
        assert self._county_set is not None
        positions = index.positions

        def fixes() -> tuple[FloatArray, FloatArray]:
            lon, lat = positions.lon[rows], positions.lat[rows]  # one gather each (rows scatter)
            has = ~np.isnan(lon)
            return (lon, lat) if has.all() else (lon[has], lat[has])

        lonlat = None
        count = int(rows.size)
        if box is None:
            lonlat = fixes()
            box, count = _geodesy.box_of(*lonlat), int(lonlat[0].size)
            if box is None:
                return {}
        if count >= BOX_MIN_DEVICES:
            # Far from every county border, all are in one county: no device is located.
            where = self._county_set.locate_box(*box)
            if where is not None and where >= 0:
                return {self._county_set.codes[where]: count}
        lon, lat = lonlat if lonlat is not None else fixes()
        found = self._county_set.locate_index(lon, lat, snap_m=self.snap_m)
        tally = np.bincount(found[found >= 0], minlength=len(self._county_set.codes))
        codes = self._county_set.codes
        return {codes[i]: int(tally[i]) for i in np.flatnonzero(tally).tolist()}

    def _per_county(self, region: I32Array) -> dict[str, int]:
        """Count devices per county from their finest-region indices (-1: not counted)."""
        region = region[region >= 0]
        if not region.size:
            return {}
        per_region = np.bincount(region, minlength=len(self._county_by_index))
        out: dict[str, int] = {}
        for i in np.flatnonzero(per_region).tolist():
            county = self._county_by_index[i]
            out[county] = out.get(county, 0) + int(per_region[i])
        return dict(sorted(out.items()))

    def warm(self) -> None:
        """Build what the first alert would otherwise build: the regions' lookup indexes.

        The finest region set's (each device in an area is located in it) and the county
        set's (boxes of devices decided at once), about a second for Sweden's, once per
        process; without it the first alert after a start waits for them (seconds on a
        loaded machine), the next ones do not. A service calls it as it starts, in the
        background: alerts arriving meanwhile wait for the build, as they would anyway.

        .. versionadded:: 0.1.0
        """
        self._finest_set.warm()
        if self._county_set is not None:
            self._county_set.warm()

    # --- streaming -------------------------------------------------------------------------

    @property
    def active_incidents(self) -> tuple[str, ...]:
        """Incidents whose current version was delivered and that are not cancelled, sorted.

        Read from the ledger: every Targeter over one store answers the same. An incident
        whose current version expired stays listed until this Targeter's
        :meth:`on_positions` or :meth:`target` sees it expired.
        """
        return tuple(i.key for i in self._live())

    def _resembled(self, alert: Alert) -> str:
        """A reason's hint: the live versions the references of ``alert`` resemble, or ``""``.

        For a message whose references name no known version. Senders and identifiers compare
        exactly (CAP: the sender is a unique string), so a Cancel naming
        ``Polisen@example.se,A1,...`` or ``mailto:polisen@example.se,A1,...`` does not end
        incident ``polisen@example.se/A1``: without this hint, nothing would say that the
        incident it was surely meant for goes on. Compared with each live incident's first
        and current version (one read of the active incidents, only on this path).
        """
        wanted = {
            _folded_version(r.sender, r.identifier): version_id(r.sender, r.identifier)
            for r in alert.references
        }
        hits = []
        for incident in self.ledger.load_active():
            for vid in dict.fromkeys((incident.key, incident.version)):
                if vid is None:
                    continue
                named = wanted.get(_folded_version(sender_of(vid), vid.partition("/")[2]))
                if named is not None and named != vid:
                    hits.append(f"{named} resembles version {vid} of live incident {incident.key}")
        if not hits:
            return ""
        more = len(hits) - _MOST_RESEMBLED
        return (
            "; but "
            + "; ".join(hits[:_MOST_RESEMBLED])
            + (f" ({more} more)" if more > 0 else "")
            + ": senders and identifiers compare exactly, so it does not name "
            + ("them" if len(hits) > 1 else "it")
            + " (a sender or identifier in another case or form names another message): check "
            "the references"
        )

    def _retire(self, active: list[Incident], at: dt.datetime) -> list[Incident]:
        """``active`` without the incidents it marks expired in the ledger now.

        Those whose current version expired :attr:`keep_expired` or more before ``at``; each
        only while that version is still current (an Update admitted meanwhile, anywhere,
        keeps its incident active). None with ``at`` after this machine's clock: marking
        expired cannot be undone, and one call with a wrong clock (a year ahead) would end
        every incident in the ledger for every process, its later Updates refused.
        """
        if at > dt.datetime.now(dt.timezone.utc):
            return active
        gone: set[str] = set()
        for inc in active:
            if inc.version is None or inc.document is None:
                continue
            kv = (inc.key, inc.version)
            if kv in self._expiry:
                expires = self._expiry[kv]
            else:  # (once per version: parsed again only if the alert cache dropped it)
                expires = self._expiry[kv] = self._current(inc)[0].expires
            if expires is None or at - expires < self._keep_expired:  # (no overflow)
                continue
            if self.ledger.expire(inc.key, at=at, version=inc.version):
                gone.add(inc.key)
        if not gone:
            return active
        with self._lock:
            self._expired = {kv for kv in self._expired if kv[0] not in gone}
            for key in gone:
                hit = self._alerts.pop(key, None)
                if hit is not None:
                    self._alert_bytes -= hit[2]
        return [i for i in active if i.key not in gone]

    def _live(
        self,
        keys: set[str] | None = None,
        *,
        wait: bool = False,
        at: dt.datetime | None = None,
    ) -> list[Incident]:
        """Active incidents whose current version was released (claimed for) by target().

        A current version that another Targeter admitted but has not released yet (its
        ``target()`` in flight, in another process) is waited for, the store polled every
        :data:`_SETTLE_POLL_S`, until at most :data:`_SETTLE_S` after this Targeter first saw
        it: then its release streams it, not the version it replaced. Each version is waited
        for once (one never released — held by the blast-radius guard, not yet active — costs
        that wait once per Targeter), and never one this Targeter's own ``target()`` decided.
        Only with ``wait`` (:meth:`on_positions`); ``keys``: only these incidents. With ``at``,
        first marks expired in the ledger those whose time is up (:meth:`_retire`), and keeps
        the versions an earlier call saw expired: the caller decides expiry at ``at``.
        """
        while True:
            active = [i for i in self.ledger.load_active() if keys is None or i.key in keys]
            if at is not None:
                active = self._retire(active, at)
            now = time.monotonic()
            with self._lock:
                if keys is None:  # forget versions no longer current
                    current = {(i.key, i.version) for i in active if i.version is not None}
                    self._decided &= current
                    self._expired &= current
                    if len(self._expiry) > len(current):
                        self._expiry = {
                            kv: self._expiry[kv] for kv in current & self._expiry.keys()
                        }
                    if len(self._widens) > len(current):
                        self._widens = {
                            kv: self._widens[kv] for kv in current & self._widens.keys()
                        }
                    if len(self._streamable) > len(current):
                        self._streamable = {
                            kv: self._streamable[kv] for kv in current & self._streamable.keys()
                        }
                expired = set(self._expired)
                pause = 0.0
                unreleased: dict[tuple[str, str], float] = {}
                for i in active:
                    if i.version is None or i.released == i.version:
                        continue
                    kv = (i.key, i.version)
                    if kv in expired or kv in self._decided:
                        continue
                    unreleased[kv] = first = self._unreleased.get(kv, now)
                    pause = max(pause, first + _SETTLE_S - now)
                if wait and keys is None:  # (a listing, active_incidents, keeps no times)
                    self._unreleased = unreleased
                elif wait:
                    self._unreleased.update(unreleased)
            if not wait or pause <= 0.0:
                break
            time.sleep(min(_SETTLE_POLL_S, pause))
        # A batch older than one that found the version expired (out of time order) streams it.
        return [
            i
            for i in active
            if i.version is not None
            and i.released == i.version
            and (at is not None or (i.key, i.version) not in expired)
        ]

    def _current(self, inc: Incident) -> tuple[Alert, Area | None]:
        """The incident's current alert and its area, parsed once per version.

        The area is the alert's own, or for an Update without area geometry the one it keeps
        (:meth:`_inherited_area`).
        """
        with self._lock:
            hit = self._alerts.pop(inc.key, None)
            if hit is not None:
                if hit[0] == inc.version:
                    self._alerts[inc.key] = hit  # the most recently used goes last
                    return hit[1], hit[3]
                self._alert_bytes -= hit[2]
        alert = inc.alert
        assert alert is not None
        area = alert.area
        size = alert_bytes(inc.document, alert)
        final = True
        if area is None:
            inherited, final = self._inherited(alert)
            if inherited is not None:
                area = inherited[0]
                size += area_bytes(area)
        if size > ALERT_CACHE_BYTES or not final:
            # Larger than the whole cache, or an area kept from an earlier version that a
            # version still to arrive may replace (one its references name, not seen yet):
            # parsed again when next needed.
            return alert, area
        with self._lock:
            old = self._alerts.pop(inc.key, None)
            self._alert_bytes += size - (0 if old is None else old[2])
            self._alerts[inc.key] = (inc.version, alert, size, area)
            while self._alert_bytes > ALERT_CACHE_BYTES:  # least recently used out first
                self._alert_bytes -= self._alerts.pop(next(iter(self._alerts)))[2]
        return alert, area

    def _inherited_area(self, alert: Alert, dry: _DryRun | None = None) -> tuple[Area, str] | None:
        """For an Update without area geometry: the area it keeps, and whose it is.

        An Update may change only an incident's texts (CAP's ``<area>`` is optional): its
        incident keeps the area of its newest earlier version that has one (of its info
        blocks, those not ended when the Update was sent: :func:`_kept`) — found through
        the versions its references name, and theirs in turn, that the ledger holds for the
        same incident; the newest as the ledger orders versions (references first, through the
        versions it holds, then ``sent``). None for any other message, or when no such version
        is known. The versions are those of the ledger as admitting ``alert`` leaves them
        (the incidents its references link merged into one), whether it was admitted yet or
        not: the issuer's authority is checked, before admission, over the area it is then
        delivered over. ``dry``: the view :meth:`preview` admitted ``alert`` over.
        """
        return self._inherited(alert, dry)[0]

    def _inherited(
        self, alert: Alert, dry: _DryRun | None = None
    ) -> tuple[tuple[Area, str] | None, bool]:
        """:meth:`_inherited_area`, and whether it is final.

        Final when every version the walk through the references reached is held by the
        ledger in the same incident: a version still to arrive (or to join the incident) may
        otherwise be the newest with an area, or the only one.
        """
        if alert.msg_type is not MessageType.UPDATE or alert.area is not None:
            return None, True
        if dry is None:
            # Admitted over a read-only view (a no-op for a version the ledger holds): a
            # version of another incident that its references link is one of its incident's.
            dry = _DryRun(self.ledger)
            adm = self._admitted_at_sent(alert, dry)
            key = None if adm.incident is None else adm.incident.key
        else:
            found = dry.version(version_id(alert.sender, alert.identifier))
            key = None if found is None else found[0]
        lookup = dry.version
        seen: set[str] = set()
        todo = list(alert.references)
        best: tuple[Alert, str, str] | None = None
        final = True
        while todo:  # each version once: bounded by the incident's versions
            r = todo.pop()
            vid = version_id(r.sender, r.identifier)
            if vid in seen:
                continue
            seen.add(vid)
            found = lookup(vid)
            if found is None or found[1] is None:
                refused = dry.refused(vid)
                if refused is not None:
                    # An Update refused at the gate: its area was never delivered, but the
                    # versions it names are its chain's (the lifecycle looks through it too).
                    todo.extend(stored_alert(refused, f"refused Update {vid}").references)
                    continue
            if found is None or found[0] != key or found[1] is None:
                final = False
                continue
            earlier = stored_alert(found[1], f"version {vid}")
            if earlier.area is None:
                todo.extend(earlier.references)
            elif best is None or replaces(earlier, best[1], best[0].sent, best[2], lookup):
                best = (earlier, vid, found[1])
        if best is None or best[0].area is None:
            return None, final
        return (_kept(best[0], alert.sent), best[1]), final

    def _may_stream(self, inc: Incident, alert: Alert, area: Area) -> bool:
        """Whether the incident's current version may still be told, over ``area``.

        As :meth:`target` admits it now: its sender may act for the incident's (the issuer
        table of this Targeter, which may not be the one it was admitted under), and its
        issuer may send its kind over ``area`` — for an Update without area geometry the area
        it keeps, which a version arriving after it may have changed (one it names, seen
        late). Decided once per version and area.
        """
        assert inc.version is not None
        kv = (inc.key, inc.version)
        with self._lock:
            hit = self._streamable.get(kv)
        if hit is not None and (hit[0] is area or hit[0] == area):
            return hit[1]
        ok = inc.owner is None or self.issuers.may_act_for(alert.sender, inc.owner)
        if ok:
            refused, _ = self._gate.admit(alert, lambda: (area, str(inc.version)))
            ok = refused is None
        with self._lock:
            self._streamable[kv] = (area, ok)
        return ok

    def on_positions(self, positions: Positions, at: dt.datetime) -> list[Delivery]:
        """New pending deliveries for fresh positions: devices that moved into an active area.

        The *current* version of every live incident in the ledger (delivered by
        :meth:`target` in any process over the store, not cancelled, not superseded by a
        version that was not delivered) is evaluated over the batch with the same rules as
        :meth:`target`; an expired one stops streaming. Each new device is claimed in the
        ledger in one transaction per incident, which a Cancel or a newer version applied
        meanwhile, anywhere, refuses: nothing is delivered for a cancelled incident, even by a
        call already in flight. A newer version refusing the claim (``SUPERSEDED``: an Update
        applied by another instance meanwhile) has the batch evaluated again for it; a current
        version admitted by another Targeter whose ``target()`` has not released it yet is
        waited for, at most a second after this Targeter first saw it: either way the batch
        is claimed for the Update, not dropped (its devices waited for their next fix). Works
        at once after a restart: the incidents are read from the ledger.

        Each streamed version is held to the authority rules of this Targeter's issuer table,
        as :meth:`target` with it again would be: a version whose sender no longer may act for
        the incident's, or whose issuer may no longer send its kind over the area it is
        delivered over (for an Update without area geometry, the area it keeps now, which a
        version it names arriving after it may have changed), is not streamed.

        Parameters
        ----------
        positions : Positions
            A batch of fresh positions (any subset of devices).
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        list of Delivery
            Pending, in incident order, then device order: push each, then
            :meth:`confirm` its :attr:`Delivery.key`.

        Raises
        ------
        StoreError
            The store failed (a subclass names the cause). The claims of the incidents
            before the one that failed were made, each in its own transaction: the message
            names them (incident and count); pending, they come back through
            :meth:`redeliver` once their lease runs out.

        .. versionchanged:: 0.1.0
           Deliveries are pending claims with a key; incidents come from the ledger.
        """
        if not isinstance(positions, Positions):
            raise InvalidType(f"positions must be Positions (got {type(positions).__name__})")
        return self._on_positions(positions, _aware("at", at))

    def _on_positions(
        self,
        positions: Positions,
        at: dt.datetime,
        near: Callable[[list[Incident]], Positions] | None = None,
    ) -> list[Delivery]:
        """:meth:`on_positions`, the batch narrowed by ``near`` for the incidents evaluated.

        ``near(live)`` returns the devices of the batch that may be covered by the current
        version of one of the incidents ``live`` (``geotarget.dask`` matches them on the
        workers). It is asked for each set of incidents evaluated: those read (after waiting
        for a version another Targeter had not released yet), and those a newer version
        superseded meanwhile, evaluated again for it.
        """
        out: list[Delivery] = []
        index: PositionIndex | None = None
        live = self._live(wait=True, at=at)
        for attempt in range(_STREAM_ATTEMPTS):
            superseded: set[str] = set()
            batch = positions
            if near is not None:
                try:
                    batch, index = near(live), None
                except ClusterError as err:  # geotarget.dask's workers failed
                    if not out:
                        raise
                    raise _claimed_before(
                        err, "evaluating the batch again for an Update applied meanwhile", out
                    ) from (err.__cause__ or err)
            for inc in live:
                alert, area = self._current(inc)
                if alert.expires is not None and at >= alert.expires:
                    assert inc.version is not None
                    with self._lock:
                        self._expired.add((inc.key, inc.version))
                    continue
                recognised = self.recognition.recognise(alert)
                if recognised is None or area is None or at < alert.onset:
                    continue
                if not self._may_stream(inc, alert, area):
                    continue
                area = _in_effect(alert, area, at)
                if area is None:
                    continue
                kind = recognised.kind
                decision = self.policy.decide(kind, at)
                if not decision.enabled:
                    continue
                plan = self._plan(kind, area, decision, alert.sender)
                if not plan.reaches_enabled:
                    continue
                if index is None:
                    index = PositionIndex(batch)
                covered = self._evaluate(alert.status, kind, plan, decision, index, at)[2]
                if not covered.size:
                    continue
                assert inc.version is not None
                try:
                    claims = self.ledger.claim(
                        inc.key,
                        batch.ids[covered],
                        version=inc.version,
                        at=at,
                        lease=self.lease,
                    )
                except StoreError as err:
                    if not out:
                        raise
                    raise _claimed_before(err, f"the claim for {inc.key}", out) from (
                        err.__cause__ or err
                    )
                if claims.status is ClaimStatus.SUPERSEDED:
                    superseded.add(inc.key)  # an Update won meanwhile: its version, again
                    continue
                keys = claims.keys().tolist()
                out.extend(
                    Delivery(device_id=d, alert_id=alert.identifier, incident=inc.key, key=k)
                    for d, k in zip(claims.ids().tolist(), keys, strict=True)
                )
            if not superseded or attempt == _STREAM_ATTEMPTS - 1:
                break
            try:
                live = self._live(superseded, wait=True, at=at)
            except StoreError as err:
                if not out:
                    raise
                raise _claimed_before(err, "reading the incidents", out) from (err.__cause__ or err)
        return out

    # --- the delivery protocol -------------------------------------------------------------

    def confirm(self, keys: Any, at: dt.datetime) -> Confirmation:
        """Mark deliveries pushed, by their keys: they are never offered again.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        keys : sequence of str
            Delivery keys (:attr:`Delivery.key`, :meth:`Claims.keys
            <geotarget.ledger.Claims.keys>` of :attr:`TargetingResult.claims`).
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        Confirmation
            Which keys were confirmed now, which before (never twice), which are unknown.
        """
        return self.ledger.confirm(keys, at=_aware("at", at))

    def retarget(
        self, index: PositionIndex | Callable[[], PositionIndex], at: dt.datetime
    ) -> list[TargetingResult]:
        """Target again each live incident whose current version has reached nobody yet.

        And each whose delivered version may reach more devices since: a later phase of its
        kind began (another region enabled, a canary's share raised) or an info block began
        or ended (another area in effect). It is targeted again over ``index`` then, once per
        such instant, claiming only devices never claimed for the incident: a device standing
        in the new reach sends no new fix for :meth:`on_positions` to tell it from.

        A version :meth:`target` admitted but could not deliver then — not yet active, or its
        kind or every region its area reaches enabled only by a later phase (its result's
        ``next_change``) — is targeted again over ``index`` at ``at``, exactly as calling
        :meth:`target` with it again would: nothing else does (:meth:`on_positions` streams
        only versions ``target()`` delivered). Call it every few seconds beside
        :meth:`redeliver`, or at the ``next_change`` such results name. An incident of any
        process over the ledger counts, also after a restart; a version waiting for
        ``confirm`` (the blast-radius guard) stays waiting, whatever the devices ``index``
        holds: the guard's hold is recorded in the ledger
        (:meth:`~geotarget.ledger.DeliveryLedger.hold`), for every process over it.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        index : PositionIndex or callable
            The current snapshot of device positions, or a function of no arguments
            returning it, called once, and only when an incident is to be targeted (a
            snapshot costly to build, such as each device's newest fix over several batches,
            is then built only when needed).
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        list of TargetingResult
            The results that delivered (``Verdict.DELIVER``), in incident order; push their
            ``claims`` and confirm them as any ``target()`` result's.
        """
        if not isinstance(index, PositionIndex) and not callable(index):
            raise InvalidType(
                f"index must be a PositionIndex or a function returning one (got "
                f"{type(index).__name__})"
            )
        at = _aware("at", at)
        out: list[TargetingResult] = []
        snapshot = index if isinstance(index, PositionIndex) else None  # (built when needed)
        for inc, alert, delivered in self._retargetable(at):
            if snapshot is None:
                assert not isinstance(index, PositionIndex)
                snapshot = index()
                if not isinstance(snapshot, PositionIndex):
                    raise InvalidType(
                        f"index() must return a PositionIndex (got {type(snapshot).__name__})"
                    )
            got = self.target(alert, snapshot, at)
            if got.verdict is Verdict.DELIVER:
                self._retargeted(inc, at)
                if not (delivered and got.recipients.size == 0):
                    out.append(got)
        return out

    def _retargetable(self, at: dt.datetime) -> list[tuple[Incident, Alert, bool]]:
        """The live incidents :meth:`retarget` targets at ``at``, each with its alert.

        With each, whether its version's delivery began (its reach widened since): versions
        that reached nobody yet, and delivered ones whose reach may have widened
        (:meth:`_widened`); not one the blast-radius guard holds, nor one not active at
        ``at``. Shared with :class:`geotarget.dask.DaskTargeter`.
        """
        live = self._retire(self.ledger.load_active(), at)
        with self._lock:  # (forget the versions no longer current)
            current = {(i.key, i.version) for i in live if i.version is not None}
            self._widens = {kv: w for kv, w in self._widens.items() if kv in current}
        out = []
        for inc in live:
            if inc.version is None:
                continue
            delivered = inc.released == inc.version
            if delivered and not self._widened(inc, at):
                continue  # delivered: on_positions streams it to each new fix
            if not delivered and self.ledger.held(inc.version):
                continue  # held by the blast-radius guard: only target(confirm=True) sends it
            alert, _ = self._current(inc)
            if at < alert.onset or (alert.expires is not None and at >= alert.expires):
                continue  # not yet, or no more: target() would say so again
            out.append((inc, alert, delivered))
        return out

    def _retargeted(self, inc: Incident, at: dt.datetime) -> None:
        """Note that :meth:`retarget` delivered ``inc``'s version at ``at``.

        Its reach next widens after ``at``, not after the ledger changed it: a version
        admitted before its onset and delivered at it is not targeted again for that onset.
        """
        assert inc.version is not None
        when = self._next_widening(inc, at)
        with self._lock:
            self._widens[(inc.key, inc.version)] = when

    def _widened(self, inc: Incident, at: dt.datetime) -> bool:
        """Whether the reach of ``inc``'s delivered version may have widened by ``at``.

        A later phase of its kind (another region enabled, a canary's share raised) or an info
        block beginning or ending (another area) changes it for devices that sent no fix
        since: retarget then targets the version again, claiming only those not claimed
        before. A version first seen counts the instants since the ledger changed it.
        """
        assert inc.version is not None
        kv = (inc.key, inc.version)
        with self._lock:
            seen = kv in self._widens
            when = self._widens.get(kv)
        if not seen:
            when = self._next_widening(inc, inc.changed_at)
        if when is None or at < when:
            with self._lock:
                self._widens[kv] = when
            return False
        later = self._next_widening(inc, at)
        with self._lock:
            self._widens[kv] = later
        return True

    def _next_widening(self, inc: Incident, after: dt.datetime) -> dt.datetime | None:
        """The first instant after ``after`` a phase of the version's kind or a block begins.

        Or a block ends (the area in effect changes then too); None: never.
        """
        alert, _ = self._current(inc)
        starts = [start for start, _ in alert.windows if start > after]
        edge = _next_edge(alert, after)
        if edge is not None:
            starts.append(edge)
        recognised = self.recognition.recognise(alert)
        rollout = None if recognised is None else self.policy.rollout(recognised.kind)
        if rollout is not None:
            starts += [p.starts_at for p in rollout.phases if p.starts_at > after]
        return min(starts, default=None)

    def redeliver(self, at: dt.datetime, *, limit: int | None = None) -> list[Claims]:
        """Pending deliveries whose lease ran out by ``at``, offered again with the same keys.

        Each is taken with a new lease of :attr:`lease` by exactly one caller, over every
        process sharing the ledger (also after a crash or restart). Alert deliveries of an
        incident no longer active are dropped: a cancelled one, and one whose current version
        has expired by ``at`` (they are leased again all the same, and come back only if an
        Update extends the incident); so are those of a current version none of whose info
        blocks is in effect at ``at`` (between the blocks' windows: they come back once the
        next block begins), those of a current version this Targeter's issuer
        table no longer lets its sender send there, and those of a kind the policy does not
        enable at ``at`` (its kill switch or the global one is on, it was removed, or its first
        phase is later), as :meth:`on_positions` no longer streams them (they come back once
        that changes); retractions come back until confirmed. The retractions
        of the further incidents a Cancel ended (it named versions of several: see
        :doc:`/who_is_told`) are due at once.

        .. versionadded:: 0.1.0
        .. versionchanged:: 0.1.0
           Alert deliveries of an expired incident are no longer offered again.

        Parameters
        ----------
        at : datetime.datetime
            Timezone-aware.
        limit : int, optional
            At most this many deliveries offered. The dropped deliveries of an expired
            incident do not count: the store is asked again for as many, so that they never
            take an active incident's place.

        Returns
        -------
        list of Claims
            One per (incident, version, kind), leased again until ``at + lease``; empty when
            nothing is due.
        """
        at = _aware("at", at)
        expired: dict[str, bool] = {}
        out: list[Claims] = []
        left = limit
        while True:
            # With a limit, an expired incident's deliveries (leased again, dropped) must not
            # take the place of another's: the store is asked again for what they took, and
            # does not offer them twice (their new lease runs past ``at``).
            due = self.ledger.redeliver(at, lease=self.lease, limit=left)
            dropped = 0
            for claims in due:
                if claims.kind is DeliveryKind.ALERT:
                    if claims.incident not in expired:
                        expired[claims.incident] = self._withdrawn_at(claims.incident, at)
                    if expired[claims.incident]:
                        dropped += len(claims)
                        continue
                out.append(claims)
            taken = sum(len(c) for c in due)
            if left is None or dropped == 0 or taken < left:
                return _one_per_delivery(out)
            left = dropped  # (the store offered ``left``: as many again as were dropped)

    def _withdrawn_at(self, key: str, at: dt.datetime) -> bool:
        """Whether the incident's pending alert deliveries are no longer offered at ``at``.

        As :meth:`on_positions` stops streaming it: its current version (in the ledger) has
        expired by ``at``, or none of its info blocks is in effect at ``at`` (before its onset,
        or in a gap between the blocks' windows); its sender may no longer tell it over its
        area under this Targeter's issuer table (:meth:`_may_stream`); or the policy no
        longer enables its kind at ``at`` (its kill switch or the global one, the kind removed
        or rolled back before its first phase) or the recognition rules no longer recognise it.
        """
        inc = self.ledger.incident(key)
        if inc is None or inc.version is None or inc.document is None:
            return False
        alert, area = self._current(inc)
        if alert.expires is not None and at >= alert.expires:
            return True
        if _next_block(alert, at) is not None:
            # Before its onset, or between its info blocks' windows (one ends at 12:00, the
            # next begins at 14:00): no block is in effect, on_positions streams nothing.
            return True
        if area is not None and not self._may_stream(inc, alert, area):
            return True
        recognised = self.recognition.recognise(alert)
        return recognised is None or not self.policy.decide(recognised.kind, at).enabled


_NO_DEVICES = np.array([], dtype=np.str_)


class _DryRun:
    """The store's incidents as :func:`geotarget.ledger._lifecycle.admit` reads them, unchanged.

    :meth:`Targeter.preview` runs the store's own lifecycle rules (one copy for every store,
    so its answer is the one :meth:`Targeter.target` gets) over this view: it reads the
    ledger through the public :class:`~geotarget.ledger.DeliveryLedger` methods and keeps
    every write of the admission here, never in the ledger. Every read the rules make has a
    public counterpart (an incident's owner, status and ending Cancel in
    :meth:`~geotarget.ledger.DeliveryLedger.incident`, its versions in
    :meth:`~geotarget.ledger.DeliveryLedger.versions`, the deliveries a claim or a retraction
    would take in :meth:`~geotarget.ledger.DeliveryLedger.pending`), so nothing is inferred.
    Nothing is locked: a preview is what ``target()`` would answer at that instant.
    """

    def __init__(self, ledger: DeliveryLedger) -> None:
        self._ledger = ledger
        self._versions: dict[str, tuple[str, str | None]] = {}
        self._rows: dict[str, _lifecycle.Row] = {}
        self._early: dict[str, list[str]] = {}
        self._remembered: dict[str, str] = {}
        self._refused: dict[str, str] = {}  # an Update refused at the gate -> its document
        self._into: dict[str, str] = {}  # incident -> the incident it was merged into
        self._joined: dict[str, list[str]] = {}  # incident -> the incidents merged into it
        self._renewed: set[str] = set()  # incidents whose deliveries moved away

    # --- reads (the ledger, then what this admission wrote) -------------------------------

    def version(self, vid: str) -> tuple[str, str | None] | None:
        mine = self._versions.get(vid)
        if mine is not None:
            return mine
        found = self._ledger.lookup_version(vid)
        if found is None:
            return None
        # Merged here meanwhile: where its deliveries went (one step: merge() keeps every
        # entry pointing at the incident that holds them now, and an incident that gave way
        # to a drill's and then took in another keeps those it took in).
        return self._into.get(found[0], found[0]), found[1]

    def incident_row(self, key: str) -> _lifecycle.Row | None:
        if key in self._rows:
            return self._rows[key]
        inc = self._ledger.incident(key)
        if inc is None:
            return None
        row = _lifecycle.Row(
            state=inc.state.value,
            version=inc.version,
            sent_us=None if inc.document is None else _lifecycle._sent_us(inc.document),
            sender=inc.owner,
            status=inc.status,
            document=inc.document,
            cancel_version=inc.cancelled_by,
            changed_us=micros("changed_at", inc.changed_at),
            released=inc.released,
        )
        self._rows[key] = row
        return row

    def early_cancels(self, vids: list[str]) -> list[str]:
        return [
            *(d for v in vids for d in self._ledger.cancels_naming(v)),
            *(d for v in vids for d in self._early.get(v, ())),
        ]

    def legacy_cancels(self, vids: list[str]) -> list[str]:
        return []  # (not read through the protocol: a store of the first builds only)

    def documents(self, key: str) -> list[tuple[str, str]]:
        """The versions of ``key`` with a document, in the store's order, then this one's.

        The store's versions of ``key`` and of the incidents merged into it here, as they
        resolve after this admission's writes.
        """
        vids = [v for k in [key, *self._into] for v, _ in self._ledger.versions(k)]
        out: list[tuple[str, str]] = []
        for vid in dict.fromkeys([*vids, *self._versions]):
            found = self.version(vid)
            if found is not None and found[0] == key and found[1] is not None:
                out.append((vid, found[1]))
        return out

    def remembered(self, vid: str) -> str | None:
        mine = self._remembered.get(vid)
        return mine if mine is not None else self._ledger.remembered_cancel(vid)

    def refused(self, vid: str) -> str | None:
        mine = self._refused.get(vid)
        if mine is not None:
            return mine
        refused: Callable[[str], str | None] | None = getattr(self._ledger, "refused", None)
        return None if refused is None else refused(vid)

    def put_refused(self, vid: str, document: str, at_us: int) -> None:
        self._refused.setdefault(vid, document)

    def _sources(self, key: str) -> list[str]:
        """The incidents whose deliveries incident ``key`` holds after this admission.

        Its own, unless they moved away (merged into another, or given way to a drill's
        incident), and those of the incidents merged into it, in the order they joined.
        """
        moved = key in self._into or key in self._renewed
        return ([] if moved else [key]) + self._joined.get(key, [])

    def own(self, key: str) -> bool:
        """Whether incident ``key`` holds only the deliveries the store holds for it."""
        return self._sources(key) == [key]

    def recipients(self, key: str) -> npt.NDArray[Any]:
        """Every device claimed for incident ``key``, after this admission's merges."""
        return _union([self._ledger.recipients(k) for k in self._sources(key)])

    def held(self, key: str, version: str) -> npt.NDArray[Any]:
        """The devices a claim of ``version`` for ``key`` would take back (held deliveries).

        Those whose alert delivery is pending on another version, after this admission's
        merges: a device claimed in several of the incidents keeps the delivery (and its
        version) of the first that held it, confirmed if any confirmed it (as a store's
        merge keeps them).
        """
        before: list[npt.NDArray[Any]] = []  # the devices of the incidents merged before
        parts, confirmed = [], []
        for k in self._sources(key):
            told = self._ledger.recipients(k)
            pending = self._ledger.pending(k)
            ids = _union([c.ids().astype(str) for c in pending])
            confirmed.append(told[~np.isin(told, ids)] if ids.size else told)
            moved = [c.ids().astype(str) for c in pending if c.version != version]
            held = np.concatenate(moved) if moved else _NO_DEVICES
            earlier = _union(before)
            parts.append(held[~np.isin(held, earlier)] if earlier.size and held.size else held)
            before.append(told)
        held = _union(parts)
        done = _union(confirmed)
        return held[~np.isin(held, done)] if held.size and done.size else held

    # --- writes (kept here) ----------------------------------------------------------------

    def put_version(
        self, vid: str, incident: str, document: str | None, sent_us: int | None, at_us: int
    ) -> None:
        old = self.version(vid)
        if old is None or old[1] is None:
            self._versions[vid] = (old[0] if old else incident, document)

    def put_incident(self, key: str, row: _lifecycle.Row) -> None:
        self._rows[key] = row

    def remember_cancels(self, vids: list[str], cancel_vid: str, document: str, at_us: int) -> None:
        for v in vids:
            self._early.setdefault(v, []).append(document)
        self._remembered.setdefault(cancel_vid, document)

    def retract(self, key: str, cancel_vid: str, at_us: int, lease_us: int) -> Claims:
        """What the store's retract would return: the retractions not confirmed yet.

        An incident cancelled in the store has a retraction for every device it told, pending
        until confirmed (merged, a device's is confirmed if any incident confirmed it); the
        devices only the others told get one now.
        """
        row = self.incident_row(key)
        if row is not None:
            self._rows[key] = attrs.evolve(
                row,
                state=IncidentState.CANCELLED.value,
                cancel_version=row.cancel_version or cancel_vid,
            )
        ended, told = [], []
        for k in self._sources(key):
            inc = self._ledger.incident(k)
            if inc is not None and inc.state is IncidentState.CANCELLED:
                ended.append(k)
            else:
                told.append(self._ledger.recipients(k))
        fresh = _union(told)
        waiting, retracted, confirmed = [], [], []
        for k in ended:
            every = self._ledger.recipients(k)
            pending = _union(
                [c.ids().astype(str) for c in self._ledger.pending(k, kind=DeliveryKind.RETRACTION)]
            )
            retracted.append(every)
            waiting.append(pending)
            confirmed.append(every[~np.isin(every, pending)] if pending.size else every)
        before = _union(retracted)
        if before.size and fresh.size:
            fresh = fresh[~np.isin(fresh, before)]
        again = _union(waiting)
        done = _union(confirmed)
        if again.size and done.size:
            again = again[~np.isin(again, done)]
        devices = _union([again, fresh])
        return Claims(
            incident=key,
            version=row.cancel_version or cancel_vid if row is not None else cancel_vid,
            kind=DeliveryKind.RETRACTION,
            status=ClaimStatus.CANCELLED,
            source=devices,
            positions=np.arange(devices.size, dtype=np.int64),
            lease_until=None,
        )

    def merge(self, other: str, into: str, at_us: int) -> None:
        for vid, (inc, doc) in list(self._versions.items()):
            if inc == other:
                self._versions[vid] = (into, doc)
        for k, there in list(self._into.items()):
            if there == other:  # merged into ``other`` before: now in ``into`` with it
                self._into[k] = into
        self._into[other] = into
        self._joined.setdefault(into, []).append(other)
        row = self.incident_row(other)
        if row is not None:
            self._rows[other] = attrs.evolve(
                row, state=IncidentState.MERGED.value, changed_us=at_us
            )

    def renew(self, key: str) -> None:
        self._renewed.add(key)

    def reclaim(self, vids: list[str], incident: str) -> None:
        for v in vids:
            old = self.version(v)
            if old is not None and old[1] is None:
                self._versions[v] = (incident, None)


def _union(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    """The canonical text ids of ``parts`` (each a store's), each once, in first-seen order."""
    parts = [p for p in parts if p.size]
    if len(parts) <= 1:
        return parts[0] if parts else _NO_DEVICES
    return np.array(list(dict.fromkeys(str(d) for p in parts for d in p.tolist())), dtype=str)


def _orphan(alert: Alert, adm: Admission, key: str, resembled: Callable[[Alert], str]) -> str:
    """The reason's prefix for an Update that started its own incident (no known reference).

    ``resembled``: the hint naming the live versions its references resemble
    (:meth:`Targeter._resembled`), read only on this path.
    """
    if (
        adm.transition is Transition.STARTED
        and alert.msg_type is MessageType.UPDATE
        and key != adm.version
    ):
        return (
            "an Update whose references name no known version of its sender's (or of a sender "
            f"it may act for): it started incident {key}{resembled(alert)}; "
        )
    return ""


#: The most resemblances a reason names (a Cancel may name thousands of messages).
_MOST_RESEMBLED = 3


def _folded_version(sender: str, identifier: str) -> tuple[str, str]:
    """A version's key with its form taken away: a near miss's key, never an identity.

    The sender's :func:`~geotarget.kinds.sender_key` and the identifier case folded.
    """
    return sender_key(sender), identifier.casefold()


def _linked_refused(adm: Admission) -> str:
    """What recording a refused Update linked or ended (see ``MemoryLedger.refuse``)."""
    out = ""
    if adm.merged and adm.incident is not None:
        ended = adm.incident.state is IncidentState.CANCELLED
        out = (
            f"; but its references link incident{'s' if len(adm.merged) > 1 else ''} "
            f"{', '.join(adm.merged)} to {adm.incident.key}, whose Update named it: one chain, "
            "merged into it"
            + (" and cancelled (its retractions are due now from redeliver())" if ended else "")
        )
    if adm.also_cancelled:
        out += f"; but {adm.why} from redeliver()"
    return out


def _linked(merged: Sequence[str], key: str | None) -> str:
    """The reason's prefix for incidents a version's references linked to its own (merged)."""
    if not merged:
        return ""
    return (
        f"its references link incident{'s' if len(merged) > 1 else ''} "
        f"{', '.join(merged)} to {key}, one chain: merged into it; "
    )


def _one_per_delivery(claims: list[Claims]) -> list[Claims]:
    """``claims`` with those of one (incident, version, kind) as one, in first-seen order.

    (Several calls of a store's ``redeliver`` may each take part of one incident's deliveries;
    two parts whose ids differ in type stay two.)
    """
    first: dict[tuple[str, str, DeliveryKind], int] = {}
    out: list[Claims] = []
    for c in claims:
        at = first.setdefault((c.incident, c.version, c.kind), len(out))
        if at == len(out):
            out.append(c)
            continue
        a, b = out[at].ids(), c.ids()
        if a.dtype.kind != b.dtype.kind:
            out.append(c)
            continue
        ids = np.concatenate([a, b])
        out[at] = Claims(
            incident=c.incident,
            version=c.version,
            kind=c.kind,
            status=c.status,
            source=ids,
            positions=np.arange(ids.size, dtype=np.int64),
            lease_until=max(
                (t for t in (out[at].lease_until, c.lease_until) if t is not None), default=None
            ),
        )
    return out


_E = TypeVar("_E", bound=GeotargetError)


def _claimed_before(err: _E, doing: str, made: list[Delivery]) -> _E:
    """``err`` (raised while ``doing``), saying what the batch claimed before it.

    (:meth:`Targeter.on_positions` claims one incident per transaction: those made stay.)
    """
    counts: dict[str, int] = {}
    for d in made:
        counts[d.incident] = counts.get(d.incident, 0) + 1
    named = ", ".join(f"{n:,} device(s) of {incident}" for incident, n in counts.items())
    return type(err)(
        f"{err} ({doing}); "
        f"before it, this batch's claims of {named} were made: "
        "pending, they come back through redeliver() once their lease runs out"
    )


def _not_covered(claimed: npt.NDArray[Any], covered_ids: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The claimed ids that are not among ``covered_ids`` (``no_longer_covered``)."""
    if claimed.size == 0:
        return claimed
    now = IdSet()
    now.add(covered_ids)
    return claimed[~now.member(claimed)]


def _held_off(kind: str, decision: RolloutDecision) -> str | None:
    """Why ``kind`` is off whatever the phases say (a kill switch, a kind not named), or None.

    No phase start changes these (kill switches are not scheduled), so "no later phase enables
    it" would be untrue of a killed kind whose later phases list the area.
    """
    if decision.reason is Reason.ALL_KILLED:
        return (
            "the policy's global kill switch is on, whatever its phases say: nobody is told of "
            "any kind until a policy without it is loaded"
        )
    if decision.reason is Reason.KILLED:
        return (
            f"the kill switch for {kind} is on, whatever its phases say: nobody is told of it "
            "until a policy without it is loaded"
        )
    if decision.reason is Reason.KIND_NOT_IN_POLICY:
        return (
            f"the rollout policy does not name {kind}, and denies a kind it does not name: "
            f"add phases for {kind} to the policy to enable it"
        )
    return None


def _paused(decision: RolloutDecision) -> str:
    """``", phase 2 lists it for 0% of devices: a pause"`` for a 0 % phase, else ``""``.

    Its reason is ``CANARY``, which alone reads as enabled for a share of devices.
    """
    if decision.phase_index is None or decision.reason not in ACTIVE_REASONS:
        return ""
    return f", phase {decision.phase_index + 1} lists it for 0% of devices: a pause"


def _before_expiry(alert: Alert, change: dt.datetime | None) -> dt.datetime | None:
    """``change``, or None when it comes at or after the alert expires (it changes nothing)."""
    if change is None or (alert.expires is not None and change >= alert.expires):
        return None
    return change


def _delivered(adm: Admission) -> str | None:
    """The incident's delivered version, when it is not the one this admission made current."""
    released = None if adm.incident is None else adm.incident.released
    return None if released == adm.version else released


#: The verdicts of a version that is current but reaches nobody until it is delivered later:
#: held by the blast-radius guard (until confirmed), or waiting for its onset, a block of its
#: own, a phase or an info block with an area (its ``next_change``, or a later message).
_WAITING = frozenset(
    {
        Verdict.BLAST_RADIUS,
        Verdict.NOT_YET_ACTIVE,
        Verdict.KIND_NOT_ENABLED,
        Verdict.AREA_OUTSIDE_ROLLOUT,
        Verdict.NO_AREA,
    }
)


def _held_update(key: str, version: str, incident: Incident | None, verdict: Verdict) -> str:
    """For a version that waits (:data:`_WAITING`): what it stopped, if it replaced a delivered one.

    The version is admitted (a Cancel naming it must find the incident), so it is current and
    the incident's delivered version no longer streams until it is delivered (confirmed, when
    the blast-radius guard holds it): the operator is told, as nobody new is told meanwhile.
    """
    released = None if incident is None else incident.released
    if verdict not in _WAITING or released is None or released == version:
        return ""
    until = "then" if verdict is Verdict.BLAST_RADIUS else "it is delivered"
    return (
        f"; until {until} nobody new is told of incident {key}: this Update is its current "
        f"version, so version {released}, the one delivered, no longer streams to devices "
        "entering its area"
    )


def _after_expiry(alert: Alert, change: dt.datetime | None, zone: str) -> str:
    """A reason's note when the next change comes at or after the alert expires, else "".

    The expiry in the policy's wall time and ``zone``, as the change itself is shown.
    """
    if change is None or _before_expiry(alert, change) is not None:
        return ""
    assert alert.expires is not None
    return f", after this alert expires at {human(alert.expires, zone)}: it changes nothing for it"


def _links_when_refused(alert: Alert, verdict: Verdict) -> bool:
    """Whether the gate's refusal of ``alert`` is recorded for the versions it names.

    An Update naming earlier messages, sent by an issuer of the policy (or any sender, under
    ``Issuers.any()``) and refused for its kind or its area: a message of its issuer's chain.
    One of a sender that belongs to no issuer is not (it writes nothing to the store).
    """
    return (
        alert.msg_type is MessageType.UPDATE
        and bool(alert.references)
        and verdict in (Verdict.NOT_AUTHORISED, Verdict.UNRECOGNISED_KIND)
    )


def _not_an_alert(alert: Alert) -> bool:
    return alert.msg_type in (MessageType.ACK, MessageType.ERROR)


def _not_public(alert: Alert) -> str | None:
    """Why ``alert`` may reach nobody of the public (status or CAP scope), or None."""
    if alert.status in (Status.DRAFT, Status.SYSTEM):
        return (
            f"status {alert.status.value} is never public: it reaches nobody and changes no "
            "incident"
        )
    if alert.scope is not Scope.PUBLIC:
        # CAP 1.2 §3.2.1: Restricted is for users with a known operational requirement,
        # Private for the addresses the message names; an app's public audience is neither.
        return (
            f"scope {alert.scope.value} is not for general dissemination (CAP 1.2 <scope>): "
            "it reaches nobody and changes no incident"
        )
    return None
