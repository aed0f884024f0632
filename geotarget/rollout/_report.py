"""Private: what an operator checks before deploying — a kind's timeline, and policy diffs.

Re-exported by :mod:`geotarget.rollout`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from geotarget.rollout import _time

_UTC = dt.timezone.utc


def _codes(regions: frozenset[str]) -> str:
    return ", ".join(sorted(regions)) or "nothing"


@attrs.frozen(kw_only=True)
class TimelineStep:
    """One phase of a kind's timeline: what it enables, adds and drops.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       ``illustrative``.

    Attributes
    ----------
    phase_index : int
        0-based.
    starts_at : datetime.datetime
    regions : frozenset of str
        Every code enabled while the phase is active.
    added, removed : frozenset of str
        Codes this phase adds, or drops (a rollback), relative to the phase before.
    percentage : float
    rollback : bool
    illustrative : bool
        The phase's date is illustrative, not decided (:attr:`Phase.illustrative`).
    """

    phase_index: int
    starts_at: dt.datetime
    regions: frozenset[str]
    added: frozenset[str]
    removed: frozenset[str]
    percentage: float
    rollback: bool
    illustrative: bool = False


@attrs.frozen(kw_only=True)
class RegionSpan:
    """A region code enabled from ``start`` until ``end`` (None: no phase drops it).

    A phase at 0 % of devices enables nobody: it ends the spans open before it.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    region : str
    start : datetime.datetime
    end : datetime.datetime or None
    start_phase_index : int
    end_phase_index : int or None
        The phase that drops the code: a rollback, or a phase at 0 % of devices (which enables
        no device anywhere, so it ends every span).
    """

    region: str
    start: dt.datetime
    end: dt.datetime | None
    start_phase_index: int
    end_phase_index: int | None


@attrs.frozen(kw_only=True)
class Timeline:
    """From when each region code is enabled for one kind, and until when on rollback.

    Spans list codes as the policy names them; a municipality enabled through its county shows
    as the county (ask :meth:`RolloutPolicy.explain` about a single region). Kill switches are
    not time-based, so the timeline shows the phases and notes a kill switch that is on.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    kind : str
        The kind name.
    in_policy : bool
        False when the policy does not name the kind (it is denied; no steps).
    killed : bool
        Whether a kill switch (the kind's or the global one) is on.
    steps : tuple of TimelineStep
    spans : tuple of RegionSpan
        Ordered by start, then code.
    timezone : str
        Where ``str()`` shows instants.
    """

    kind: str
    in_policy: bool
    killed: bool
    steps: tuple[TimelineStep, ...]
    spans: tuple[RegionSpan, ...]
    timezone: str

    def enabled_from(self, region: str) -> dt.datetime | None:
        """When the code ``region`` is first enabled (as listed), or None if never."""
        return next((s.start for s in self.spans if s.region == region), None)

    def __str__(self) -> str:
        head = f"{self.kind} (times in {self.timezone})"
        if not self.in_policy:
            return f"{self.kind}: not in the policy, so denied everywhere"
        if self.killed:
            head += ": a kill switch is ON, so nothing below is in effect"
        lines = [head]
        prev_pct: float | None = None
        for s in self.steps:
            when = _time.human(s.starts_at, self.timezone, with_zone=False)
            if prev_pct is None:
                what = f"enables {_codes(s.regions)}"
                if s.percentage < 100:
                    what += f" for {s.percentage:g}% of devices"
            else:
                parts = []
                if s.added:
                    parts.append(f"adds {_codes(s.added)}")
                if s.removed:
                    parts.append(f"rolls back {_codes(s.removed)}")
                if s.added or s.removed:
                    parts[-1] += f"  -> {_codes(s.regions)}"
                if s.percentage != prev_pct:
                    parts.append(f"percentage {prev_pct:g}% -> {s.percentage:g}%")
                what = "; ".join(parts)
            note = "  (illustrative date)" if s.illustrative else ""
            lines.append(f"  phase {s.phase_index + 1}  {when}  {what}{note}")
            prev_pct = s.percentage
        return "\n".join(lines)


def timeline(policy: Any, kind: str) -> Timeline:
    """The timeline of ``kind`` in ``policy`` (a RolloutPolicy)."""
    rollout = policy.rollout(kind)
    killed = bool(policy.killed or (rollout is not None and rollout.killed))
    steps: list[TimelineStep] = []
    spans: list[RegionSpan] = []
    open_: dict[str, tuple[dt.datetime, int]] = {}
    prev: frozenset[str] = frozenset()
    for i, p in enumerate(rollout.phases if rollout is not None else ()):
        added, removed = p.regions - prev, prev - p.regions
        steps.append(
            TimelineStep(
                phase_index=i,
                starts_at=p.starts_at,
                regions=p.regions,
                added=added,
                removed=removed,
                percentage=p.percentage,
                rollback=p.rollback,
                illustrative=p.illustrative,
            )
        )
        # Spans follow what the phase enables: a phase at 0 % enables no device anywhere.
        enabled = p.regions if p.percentage > 0 else frozenset()
        for code in sorted(open_.keys() - enabled):
            start, j = open_.pop(code)
            spans.append(
                RegionSpan(
                    region=code,
                    start=start,
                    end=p.starts_at,
                    start_phase_index=j,
                    end_phase_index=i,
                )
            )
        for code in sorted(enabled - open_.keys()):
            open_[code] = (p.starts_at, i)
        prev = p.regions
    for code, (start, j) in open_.items():
        spans.append(
            RegionSpan(
                region=code, start=start, end=None, start_phase_index=j, end_phase_index=None
            )
        )
    spans.sort(key=lambda s: (s.start, s.region))
    return Timeline(
        kind=kind,
        in_policy=rollout is not None,
        killed=killed,
        steps=tuple(steps),
        spans=tuple(spans),
        timezone=policy.timezone,
    )


# ---------------------------------------------------------------------------------------------
# Diffs
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SettingChange:
    """A setting that differs between two policy versions.

    ``path`` is ``killed``, ``country``, ``timezone``, ``salt``, ``kinds.<kind>`` (whether the
    policy names the kind) or ``kinds.<kind>.killed``.

    .. versionadded:: 0.1.0
    """

    path: str
    before: str | bool
    after: str | bool

    def __str__(self) -> str:
        def show(v: str | bool) -> str:
            return str(v).lower() if isinstance(v, bool) else repr(v)

        if self.path.count(".") == 1:  # kinds.<kind>
            return f"{self.path}: {'named' if self.before else 'not named'} -> " + (
                "named" if self.after else "not named (denied)"
            )
        return f"{self.path}: {show(self.before)} -> {show(self.after)}"


@attrs.frozen(kw_only=True)
class ScheduleChange:
    """During ``[start, end)`` one kind enables different regions or percentages than before.

    Kill switches are left out of the schedule (they are not time-based; see
    :class:`SettingChange`). A kind a policy does not name enables nothing.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    kind : str
        The kind name.
    start : datetime.datetime
    end : datetime.datetime or None
        None: from ``start`` on, for good.
    before, after : frozenset of str
        The enabled codes in the old and the new version.
    percentage_before, percentage_after : float or None
        None when nothing is enabled.
    """

    kind: str
    start: dt.datetime
    end: dt.datetime | None
    before: frozenset[str]
    after: frozenset[str]
    percentage_before: float | None
    percentage_after: float | None

    @property
    def added(self) -> frozenset[str]:
        """Codes the new version enables in the window and the old one does not."""
        return self.after - self.before

    @property
    def removed(self) -> frozenset[str]:
        """Codes the old version enables in the window and the new one does not."""
        return self.before - self.after

    def describe(self, tz_name: str) -> str:
        """One line for operators, instants in ``tz_name``."""
        start = _time.human(self.start, tz_name, with_zone=self.end is None)
        window = (
            f"from {start} onwards"
            if self.end is None
            else f"from {start} until {_time.human(self.end, tz_name)}"
        )
        parts = []
        changed = bool(self.before and self.after) and (
            self.percentage_before != self.percentage_after
        )
        # Unless the percentage change is said, a canary's share (or a 0 % pause) is said
        # beside the codes it applies to, so that it never reads as every device.
        if self.added:
            share = "" if changed else _share(self.percentage_after)
            parts.append(f"+ {_codes(self.added)}{share}")
        if self.removed:
            share = "" if changed else _share(self.percentage_before)
            parts.append(f"- {_codes(self.removed)}{share}")
        if changed:
            parts.append(f"percentage {self.percentage_before:g}% -> {self.percentage_after:g}%")
        return f"{self.kind} {window}: {'; '.join(parts)}"


def _share(percentage: float | None) -> str:
    """`` for N% of devices`` for a canary or a pause (a percentage below 100), else ``""``."""
    if percentage is None or percentage >= 100.0:
        return ""
    nobody = " (nobody)" if percentage == 0 else ""
    return f" for {percentage:g}% of devices{nobody}"


@attrs.frozen(kw_only=True)
class PolicyDiff:
    """What changes from one policy version to another; falsy when they are equal.

    ``str()`` lists the changes for an operator to check before deploying.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    old_hash, new_hash : str
    settings : tuple of SettingChange
    schedule : tuple of ScheduleChange
        Per kind, in time order: the windows in which the enabled regions or percentage differ.
    timezone : str
        Where ``str()`` shows instants (the new version's).
    """

    old_hash: str
    new_hash: str
    settings: tuple[SettingChange, ...]
    schedule: tuple[ScheduleChange, ...]
    timezone: str

    def __bool__(self) -> bool:
        return self.old_hash != self.new_hash

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds whose schedule, kill switch or presence changes."""
        named = {c.kind for c in self.schedule}
        for s in self.settings:
            if s.path.startswith("kinds."):
                named.add(s.path.split(".")[1])
        return frozenset(named)

    def __str__(self) -> str:
        if not self:
            return f"policy {self.old_hash[:12]}: unchanged"
        lines = [f"policy {self.old_hash[:12]} -> {self.new_hash[:12]}"]
        lines += [f"  {s}" for s in self.settings]
        lines += [f"  {c.describe(self.timezone)}" for c in self.schedule]
        if len(lines) == 1:
            lines.append("  no change in what is enabled, where or when")
        return "\n".join(lines)


def _state(rollout: Any, at: dt.datetime) -> tuple[frozenset[str], float | None]:
    if rollout is None:
        return frozenset(), None
    i = rollout.active_index(at)
    if i is None:
        return frozenset(), None
    p = rollout.phases[i]
    return p.regions, p.percentage


def diff(old: Any, new: Any) -> PolicyDiff:
    """The diff from ``old`` to ``new`` (both RolloutPolicy)."""
    settings: list[SettingChange] = []
    for name in ("killed", "country", "timezone", "salt"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            settings.append(SettingChange(path=name, before=a, after=b))
    schedule: list[ScheduleChange] = []
    for kind in sorted({*old.kinds, *new.kinds}):
        ra, rb = old.rollout(kind), new.rollout(kind)
        if ra is None and rb is None:
            continue
        if (ra is None) != (rb is None):
            settings.append(
                SettingChange(path=f"kinds.{kind}", before=ra is not None, after=rb is not None)
            )
        elif ra.killed != rb.killed:
            settings.append(
                SettingChange(path=f"kinds.{kind}.killed", before=ra.killed, after=rb.killed)
            )
        breaks = sorted({p.starts_at for r in (ra, rb) if r is not None for p in r.phases})
        for start, end in zip(breaks, [*breaks[1:], None], strict=True):
            (ba, pa), (bb, pb) = _state(ra, start), _state(rb, start)
            if (ba, pa) == (bb, pb):
                continue
            last = schedule[-1] if schedule else None
            if (
                last is not None
                and last.kind == kind
                and last.end == start
                and (last.before, last.after, last.percentage_before, last.percentage_after)
                == (ba, bb, pa, pb)
            ):
                schedule[-1] = attrs.evolve(last, end=end)
                continue
            schedule.append(
                ScheduleChange(
                    kind=kind,
                    start=start,
                    end=end,
                    before=ba,
                    after=bb,
                    percentage_before=pa,
                    percentage_after=pb,
                )
            )
    return PolicyDiff(
        old_hash=old.policy_hash,
        new_hash=new.policy_hash,
        settings=tuple(settings),
        schedule=tuple(schedule),
        timezone=new.timezone,
    )
