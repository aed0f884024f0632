"""Private: what a rollout policy answers — reasons, decisions and explanations.

Re-exported by :mod:`geotarget.rollout`, which documents the semantics.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import attrs
import numpy as np

from geotarget.alerts._values import kind_name
from geotarget.errors import InvalidInput, InvalidType
from geotarget.rollout import _time

_DEFAULT_TIMEZONE = "Europe/Stockholm"


def parse_kind(value: object, field: str = "kind") -> str:
    """A kind name (``str``); InvalidInput or InvalidType naming ``field``, the rule and value."""
    return kind_name(field, value)


def _v_kind(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    parse_kind(value, attribute.name)


def require_aware(name: str, value: object) -> dt.datetime:
    """``value`` if it is a timezone-aware datetime; else InvalidType or InvalidInput.

    A ``ZoneInfo`` wall time that a DST change skips (02:30 on the last Sunday of March in
    Europe/Stockholm) is refused: it names no real instant, and Python reads it as 03:30.
    """
    if not isinstance(value, dt.datetime):
        raise InvalidType(f"{name} must be a timezone-aware datetime (got {type(value).__name__})")
    if not _time.is_aware(value):
        raise InvalidInput(
            f"{name} must be timezone-aware (got naive {value.isoformat()}); "
            "attach a zone, e.g. tzinfo=ZoneInfo('Europe/Stockholm')"
        )
    problem = _time.wall_time_problem(value)
    if problem is not None:  # Python would read it an hour later than its wall time says
        raise InvalidInput(f"{name} must be a real clock reading: {problem}")
    return value


def require_bool(name: str, value: object) -> bool:
    """``value`` as a bool, or InvalidType."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidType(f"{name} must be True or False (got {type(value).__name__} {value!r})")
    return bool(value)


class Reason(str, enum.Enum):
    """Why a rollout decision came out as it did (OpenFeature-style, extended for geography).

    ==========================  ==================================================================
    ``PHASE_ACTIVE``            a phase is active and enables some regions for every device there
    ``NATIONWIDE``              a phase is active and enables the whole country
    ``CANARY``                  a phase is active and enables its regions for a percentage < 100
    ``NOT_STARTED``             the kind's first phase has not started yet
    ``KILLED``                  the kind's kill switch is on
    ``ALL_KILLED``              the policy's global kill switch is on
    ``KIND_NOT_IN_POLICY``      the policy does not name the kind, so it is denied
    ``REGION_NOT_ENABLED``      (explanations only) the active phase does not include the region
    ==========================  ==================================================================

    The wire value of each member is its name.
    """

    PHASE_ACTIVE = "PHASE_ACTIVE"
    NATIONWIDE = "NATIONWIDE"
    CANARY = "CANARY"
    NOT_STARTED = "NOT_STARTED"
    KILLED = "KILLED"
    ALL_KILLED = "ALL_KILLED"
    KIND_NOT_IN_POLICY = "KIND_NOT_IN_POLICY"
    REGION_NOT_ENABLED = "REGION_NOT_ENABLED"


ACTIVE_REASONS = frozenset({Reason.PHASE_ACTIVE, Reason.NATIONWIDE, Reason.CANARY})


class RegionCatalog(Protocol):
    """What rollout needs from a region hierarchy; any object with these methods will do.

    The region hierarchies of ``geotarget.regions`` and ``geotarget.sweden`` are built to satisfy
    it, and a small class of your own will do for tests. Codes may be at any level:
    municipalities (``"0180"``), counties (``"01"``), police regions (``"PR-STOCKHOLM"``) or the
    country (``"SE"``).

    .. versionadded:: 0.1.0
    """

    def level_of(self, code: str) -> str:
        """The level of ``code``, e.g. ``"county"``; raise :class:`UnknownCode` if unknown."""
        ...

    def name_of(self, code: str) -> str:
        """The region's name, e.g. ``"Stockholms län"``; raise :class:`UnknownCode` if unknown."""
        ...

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Every code ``code`` lies within, nearest first, up to and including the country."""
        ...

    def expand(self, codes: Iterable[str], level: str) -> frozenset[str]:
        """Every code at ``level`` lying within any of ``codes`` (at any level)."""
        ...


_CATALOG_METHODS = ("level_of", "name_of", "ancestors", "expand")


def check_catalog(catalog: object) -> RegionCatalog:
    """``catalog`` if it has :class:`RegionCatalog`'s methods, else :class:`InvalidType`."""
    if not all(callable(getattr(catalog, m, None)) for m in _CATALOG_METHODS):
        raise InvalidType(
            "catalog must be a RegionCatalog, such as geotarget.sweden.hierarchy(): an object "
            f"with {', '.join(_CATALOG_METHODS)} (got {type(catalog).__name__})"
        )
    return catalog  # type: ignore[return-value]


def _aware(_: object, attribute: attrs.Attribute[Any], value: dt.datetime | None) -> None:
    if value is not None:
        require_aware(attribute.name, value)


@attrs.frozen(kw_only=True)
class RolloutDecision:
    """What a policy enables for one alert kind at one instant, and why.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    kind : str
        The kind name.
    at : datetime.datetime
        The instant decided for.
    reason : Reason
    regions : frozenset of str
        The enabled region codes (empty unless ``reason`` is ``PHASE_ACTIVE``, ``NATIONWIDE`` or
        ``CANARY``). A code enables every place within it.
    phase_index : int or None
        The active phase (0-based), or None.
    percentage : float
        The canary share of devices in the enabled regions (0 when nothing is enabled).
    next_change : datetime.datetime or None
        When the next phase starts, so the decision may change; None if no change is scheduled
        (or a kill switch holds everything off).
    policy_hash : str
        The :attr:`RolloutPolicy.policy_hash` of the deciding policy.
    """

    kind: str = attrs.field(validator=_v_kind)
    at: dt.datetime = attrs.field(validator=_aware)
    reason: Reason = attrs.field(validator=attrs.validators.instance_of(Reason))
    regions: frozenset[str] = attrs.field(converter=frozenset)
    phase_index: int | None
    percentage: float = attrs.field(converter=float)
    next_change: dt.datetime | None = attrs.field(validator=_aware)
    policy_hash: str

    @property
    def enabled(self) -> bool:
        """Whether any device anywhere may receive this kind now."""
        return self.reason in ACTIVE_REASONS and bool(self.regions) and self.percentage > 0

    def covers(self, region_code: str, catalog: RegionCatalog) -> bool:
        """Whether ``region_code`` (at any level) lies within the enabled regions.

        Within one of them (itself or an ancestor is enabled), or within them together: a
        county all of whose municipalities are enabled.

        Raises :class:`UnknownCode` when the catalog does not know the code.
        """
        chain = (region_code, *catalog.ancestors(region_code))
        if not self.enabled:
            return False
        return any(c in self.regions for c in chain) or wholly_within(
            self.regions, region_code, catalog
        )

    def expand(self, catalog: RegionCatalog, level: str) -> frozenset[str]:
        """Every region code at ``level`` that is enabled (empty when nothing is)."""
        return catalog.expand(self.regions, level) if self.enabled else frozenset()

    def __str__(self) -> str:
        regions = ", ".join(sorted(self.regions)) or "none"
        phase = "" if self.phase_index is None else f" (phase index {self.phase_index})"
        canary = f" for {self.percentage:g}% of devices" if self.reason is Reason.CANARY else ""
        nxt = _time.utc_text(self.next_change) if self.next_change else "none scheduled"
        return (
            f"{self.kind} at {_time.utc_text(self.at)}: {self.reason.value}{phase}; "
            f"regions {regions}{canary}; next change {nxt}; policy {self.policy_hash[:12]}"
        )


@attrs.frozen(kw_only=True)
class Explanation:
    """Whether an alert kind is enabled in one region at one instant, why, and from when.

    ``str(explanation)`` is a sentence for operators, such as "Crime modus alerts are not
    enabled in Västra Götalands län: phase 2, which adds it, starts 2024-09-02 00:00
    Europe/Stockholm." (the kind name, ``_`` read as a space). Sentences number phases from 1;
    indices (``phase_index``) count from 0.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       ``change_illustrative`` and ``since_illustrative``; ``enabled_within`` and
       ``enabled_within_names``. A phase
       listing the region for 0 % of devices does not enable it: ``since`` and ``change_at``
       count it as off.

    Attributes
    ----------
    kind : str
        The kind name.
    region, region_name : str
        The region asked about.
    at : datetime.datetime
    enabled : bool
        Whether devices in the region may receive the kind (a canary of 0 % enables none).
    reason : Reason
        ``REGION_NOT_ENABLED`` when the kind is active elsewhere only; otherwise the decision's.
    phase_index : int or None
        The active phase (0-based).
    via, via_name : str or None
        The enabled code that covers the region (itself or an ancestor), when enabled; the
        region itself, too, when the enabled codes within it cover all of it.
    percentage : float
        The canary share in the region (0 when not enabled).
    since, since_phase_index
        When the region's current state began, if a phase began it: the start of the run of
        phases that enable it, or the phase that rolled it back.
    change_at, change_phase_index
        The next phase that flips the region (enables it, or rolls it back), if any.
    change_illustrative : bool
        Whether that phase's date is illustrative (:attr:`Phase.illustrative`); the sentence
        then says "(illustrative date)".
    change_percentage : float
        For a region not enabled now: the share of devices the phase that enables it
        (``change_at``) enables, 100 unless it is a canary; the sentence then says "for N% of
        devices (canary)".
    since_illustrative : bool
        The same for the phase that began the current state (``since``).
    enabled_within, enabled_within_names : tuple of str
        When the region is not enabled as a whole: the enabled codes that lie within it (a
        county of a police region, a municipality of a county), sorted, and their names; a
        code within another of them is left out (the county, not also its municipality). The
        sentence says "not enabled in all of ..., only in ...". Empty otherwise.
    partial_at, partial_phase_index
        For a region not enabled as a whole: the first later phase, before the one that
        enables all of it (``change_at``), that enables a part of it not enabled now -- Skåne
        County's phase for police Region Syd. The sentence says "phase 2 enables it in Skåne
        län from ...". None otherwise.
    partial_within, partial_within_names : tuple of str
        The codes within the region that phase newly lists (within none enabled now), sorted,
        and their names; a code within another of them is left out.
    partial_illustrative : bool
        Whether that phase's date is illustrative.
    partial_percentage : float
        The share of devices that phase enables, 100 unless it is a canary.
    timezone, policy_hash : str
    """

    kind: str = attrs.field(validator=_v_kind)
    region: str
    region_name: str
    at: dt.datetime = attrs.field(validator=_aware)
    enabled: bool
    reason: Reason = attrs.field(validator=attrs.validators.instance_of(Reason))
    phase_index: int | None = None
    via: str | None = None
    via_name: str | None = None
    percentage: float = 0.0
    since: dt.datetime | None = attrs.field(default=None, validator=_aware)
    since_phase_index: int | None = None
    change_at: dt.datetime | None = attrs.field(default=None, validator=_aware)
    change_phase_index: int | None = None
    change_illustrative: bool = False
    enabled_within: tuple[str, ...] = ()
    enabled_within_names: tuple[str, ...] = ()
    timezone: str = _DEFAULT_TIMEZONE
    policy_hash: str = ""
    since_illustrative: bool = False
    change_percentage: float = 100.0
    partial_at: dt.datetime | None = attrs.field(default=None, validator=_aware)
    partial_phase_index: int | None = None
    partial_within: tuple[str, ...] = ()
    partial_within_names: tuple[str, ...] = ()
    partial_illustrative: bool = False
    partial_percentage: float = 100.0

    def __str__(self) -> str:
        noun = self.kind.replace("_", " ")
        subject = f"{noun[0].upper()}{noun[1:]} alerts are"
        where = self.region_name

        def when(t: dt.datetime) -> str:
            illustrative = (
                (t == self.change_at and self.change_illustrative)
                or (t == self.since and self.since_illustrative)
                or (t == self.partial_at and self.partial_illustrative)
            )
            return _time.human(t, self.timezone) + (" (illustrative date)" if illustrative else "")

        as_part = f" as part of {self.via_name}" if self.via not in (None, self.region) else ""
        if self.enabled:
            text = f"{subject} enabled in {where}{as_part}"
            if self.reason is Reason.CANARY:
                text += f" for {self.percentage:g}% of devices (canary)"
            if self.since is not None and self.since_phase_index is not None:
                text += f" since {when(self.since)} (phase {self.since_phase_index + 1})"
            if self.change_at is not None and self.change_phase_index is not None:
                text += (
                    f"; phase {self.change_phase_index + 1} rolls it back on {when(self.change_at)}"
                )
            return text + "."
        if self.reason is Reason.ALL_KILLED:
            return f"{subject} not enabled in {where}: the policy's global kill switch is on."
        if self.reason is Reason.KILLED:
            return f"{subject} not enabled in {where}: the kill switch for this kind is on."
        if self.reason is Reason.KIND_NOT_IN_POLICY:
            return (
                f"{subject} not enabled in {where}: the policy does not name this kind, and a "
                "policy denies such kinds."
            )
        parts = []
        zero = self.reason in ACTIVE_REASONS  # listed by the active phase, for 0 % of devices
        if zero:
            head = f"{subject} not enabled for any device in {where}: "
            parts.append(f"the canary of phase {(self.phase_index or 0) + 1} is 0% of devices")
        elif self.enabled_within:
            head = f"{subject} not enabled in all of {where}, only in {self._within_text()}: "
        else:
            head = f"{subject} not enabled in {where}: "
        whole = " all of it" if self.enabled_within or self.partial_at is not None else " it"
        if (
            not zero
            and self.since is not None
            and self.since_phase_index is not None
            and not self.enabled_within
        ):
            parts.append(f"phase {self.since_phase_index + 1} rolled it back on {when(self.since)}")
        elif not zero and self.since is not None and self.since_phase_index is not None:
            # Enabled in all of it once, in part now: the rollback is why not, as for a region
            # rolled back in whole; it is not all of the region that was rolled back.
            parts.append(
                f"phase {self.since_phase_index + 1} rolled back the rest of it on "
                f"{when(self.since)}"
            )
        off_before = zero or bool(parts)
        if self.partial_at is not None and self.partial_phase_index is not None:
            names = list(self.partial_within_names)
            listed = ", ".join(names[:3]) + (
                f" and {len(names) - 3} more" if len(names) > 3 else ""
            )
            share = (
                f" for {self.partial_percentage:g}% of devices (canary)"
                if self.partial_percentage < 100.0
                else ""
            )
            parts.append(
                f"phase {self.partial_phase_index + 1} enables it in {listed}{share} "
                f"from {when(self.partial_at)}"
            )
        if self.change_at is not None and self.change_phase_index is not None:
            again = " again" if off_before and self.since is not None else ""
            share = (
                f" for {self.change_percentage:g}% of devices (canary)"
                if self.change_percentage < 100.0
                else ""
            )
            parts.append(
                f"phase {self.change_phase_index + 1}, which adds{whole}{again}{as_part}"
                f"{share}, starts {when(self.change_at)}"
            )
        elif self.since is not None:
            parts.append(f"no later phase enables{whole} again")
        else:
            parts.append(f"no phase of the policy enables{whole}")
        return head + "; ".join(parts) + "."

    def _within_text(self, most: int = 3) -> str:
        names = list(self.enabled_within_names)
        shown = ", ".join(names[:most])
        return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def explain(
    policy: Any, d: RolloutDecision, region_code: str, catalog: RegionCatalog
) -> Explanation:
    """The explanation of ``d`` for one region; ``policy`` is the deciding RolloutPolicy."""
    if not isinstance(region_code, str):
        raise InvalidType(f"region_code must be a str (got {type(region_code).__name__})")
    catalog = check_catalog(catalog)
    name = catalog.name_of(region_code)
    chain = (region_code, *catalog.ancestors(region_code))
    info: dict[str, Any] = {
        "kind": d.kind,
        "region": region_code,
        "region_name": name,
        "at": d.at,
        "phase_index": d.phase_index,
        "timezone": policy.timezone,
        "policy_hash": d.policy_hash,
    }
    rollout = policy.rollout(d.kind)
    if rollout is None or d.reason in (Reason.ALL_KILLED, Reason.KILLED):
        return Explanation(enabled=False, reason=d.reason, **info)
    phases: Sequence[Any] = rollout.phases
    # The code a phase covers the region by: the region or an ancestor it lists, else the region
    # itself when the codes it lists within the region cover all of it (every municipality of a
    # county), which enables every place in the region as listing it would.
    covers = [
        next((c for c in chain if c in p.regions), None)
        or (region_code if wholly_within(p.regions, region_code, catalog) else None)
        for p in phases
    ]
    # A phase enables the region when it lists it (or an ancestor) for more than 0 % of devices:
    # a 0 % canary enables nobody, so it ends a run of enabling phases like a rollback does.
    on = [c is not None and p.percentage > 0 for c, p in zip(covers, phases, strict=True)]
    i = d.phase_index
    if i is not None and on[i]:
        via = covers[i]
        assert via is not None
        first = i
        while first > 0 and on[first - 1]:
            first -= 1
        end = next((j for j in range(i + 1, len(phases)) if not on[j]), None)
        return Explanation(
            enabled=True,
            reason=d.reason,
            via=via,
            via_name=catalog.name_of(via),
            percentage=phases[i].percentage,
            since=phases[first].starts_at,
            since_phase_index=first,
            since_illustrative=phases[first].illustrative,
            change_at=None if end is None else phases[end].starts_at,
            change_phase_index=end,
            change_illustrative=end is not None and phases[end].illustrative,
            **info,
        )
    upto = -1 if i is None else i
    last = max((j for j in range(upto + 1) if on[j]), default=None)
    nxt = next((j for j in range(upto + 1, len(phases)) if on[j]), None)
    via = None if nxt is None else covers[nxt]
    within = _enabled_within(d, region_code, catalog)
    partial = _next_part(phases, upto, nxt, region_code, within, catalog)
    if i is None:
        reason = Reason.NOT_STARTED
    elif covers[i] is not None:  # listed, for 0 % of devices: the decision's own reason
        reason = d.reason
    else:
        reason = Reason.REGION_NOT_ENABLED
    return Explanation(
        enabled=False,
        reason=reason,
        via=via,
        via_name=None if via is None else catalog.name_of(via),
        since=None if last is None else phases[last + 1].starts_at,
        since_phase_index=None if last is None else last + 1,
        since_illustrative=last is not None and phases[last + 1].illustrative,
        change_at=None if nxt is None else phases[nxt].starts_at,
        change_phase_index=nxt,
        change_illustrative=nxt is not None and phases[nxt].illustrative,
        change_percentage=100.0 if nxt is None else phases[nxt].percentage,
        enabled_within=within,
        enabled_within_names=tuple(catalog.name_of(c) for c in within),
        partial_at=None if partial is None else phases[partial[0]].starts_at,
        partial_phase_index=None if partial is None else partial[0],
        partial_within=() if partial is None else partial[1],
        partial_within_names=() if partial is None else tuple(map(catalog.name_of, partial[1])),
        partial_illustrative=partial is not None and phases[partial[0]].illustrative,
        partial_percentage=100.0 if partial is None else phases[partial[0]].percentage,
        **info,
    )


def _inside(codes: Iterable[str], region_code: str, catalog: RegionCatalog) -> list[str]:
    """The codes lying within ``region_code`` (not itself), sorted; unknown codes are none."""
    inside = []
    for code in sorted(codes):
        try:
            if region_code in catalog.ancestors(code):
                inside.append(code)
        except KeyError:  # a code the catalog does not know (the policy was not validated)
            continue
    return inside


def _next_part(
    phases: Sequence[Any],
    upto: int,
    whole: int | None,
    region_code: str,
    within: tuple[str, ...],
    catalog: RegionCatalog,
) -> tuple[int, tuple[str, ...]] | None:
    """The first phase after ``upto`` and before ``whole`` enabling more of the region.

    ``(index, the new codes)``: a phase, for more than 0 % of devices, listing codes within
    ``region_code`` that lie within none of ``within`` (the codes enabled there now). None
    when there is no such phase.
    """
    now = set(within)
    for j in range(upto + 1, len(phases) if whole is None else whole):
        if phases[j].percentage <= 0:
            continue
        listed = _outermost(_inside(phases[j].regions, region_code, catalog), catalog)
        new = tuple(c for c in listed if now.isdisjoint((c, *catalog.ancestors(c))))
        if new:
            return j, new
    return None


def wholly_within(regions: frozenset[str], region_code: str, catalog: RegionCatalog) -> bool:
    """Whether the codes of ``regions`` lying within ``region_code`` cover all of it.

    They do when, at the level of one of them, every region of that level within
    ``region_code`` lies within one of them: a county all of whose municipalities are listed
    is enabled everywhere, as a device is located (a device's region is its finest one, and
    every finest region lies within a region of each coarser level). Codes the catalog does
    not know (a policy not validated) cover nothing.
    """
    inside: list[str] = []
    levels: set[str] = set()
    for code in regions:
        try:
            if region_code in catalog.ancestors(code):
                inside.append(code)
                levels.add(catalog.level_of(code))
        except KeyError:
            continue
    for level in sorted(levels):
        try:
            parts = catalog.expand([region_code], level)
            enabled = catalog.expand(inside, level)
        except KeyError:
            continue
        if parts and parts <= enabled:
            return True
    return False


def _enabled_within(
    d: RolloutDecision, region_code: str, catalog: RegionCatalog
) -> tuple[str, ...]:
    """The codes ``d`` enables that lie within ``region_code`` (which is not enabled), sorted."""
    if not d.enabled:
        return ()
    return _outermost(_inside(d.regions, region_code, catalog), catalog)


def _outermost(codes: Sequence[str], catalog: RegionCatalog) -> tuple[str, ...]:
    """``codes`` (sorted) less those lying within another of them.

    A phase may list a municipality beside its county ("0180" and "01"): the county says
    where, and naming the municipality too would read as a second place.
    """
    listed = set(codes)
    return tuple(c for c in codes if listed.isdisjoint(catalog.ancestors(c)))
