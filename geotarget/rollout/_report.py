"""Private: what an operator checks before deploying — a kind's timeline, and policy diffs.

Re-exported by :mod:`geotarget.rollout`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from geotarget.errors import InvalidPolicy
from geotarget.rollout import _decision, _time

_UTC = dt.timezone.utc

#: Pairs of a code and the codes that explain it (sorted), as :class:`Coverage` holds them.
_Pairs = tuple[tuple[str, tuple[str, ...]], ...]


def _codes(regions: frozenset[str] | tuple[str, ...]) -> str:
    return ", ".join(sorted(regions)) or "nothing"


@attrs.frozen(kw_only=True)
class Coverage:
    """What a change of the listed codes means on the map, as a region catalog tells it.

    Codes are compared by the places they cover, not as text: a phase that lists the county
    ``"01"`` instead of its municipality ``"0180"`` (Stockholm) keeps Stockholm enabled.
    Timelines and diffs built with a ``catalog`` carry one per change; without a catalog they
    cannot know, and carry ``None``.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    gained : frozenset of str
        Newly listed codes that enable places (all of them or some) not enabled before.
    already : tuple of (str, tuple of str)
        Newly listed codes already enabled in all of them before, each with the codes that
        enabled it (an enclosing region, or the parts that cover it together).
    lost : frozenset of str
        Codes no longer listed that are now enabled nowhere within them.
    narrowed : tuple of (str, tuple of str)
        Codes no longer listed that stay enabled only in some of their parts, each with those
        parts (the codes listed now that lie within it): the rest of it loses the kind.
    kept : tuple of (str, tuple of str)
        Codes no longer listed that stay enabled in all of them, each with the codes that
        enable it now (an enclosing region, or the parts that cover it together).
    by_parts : frozenset of str
        The codes of ``already`` and ``kept`` enabled by their parts together, not by one
        enclosing region.
    """

    gained: frozenset[str]
    already: _Pairs
    lost: frozenset[str]
    narrowed: _Pairs
    kept: _Pairs
    by_parts: frozenset[str] = frozenset()

    @property
    def loses(self) -> frozenset[str]:
        """The codes no longer listed of which some place loses the kind (lost or narrowed)."""
        return self.lost | {code for code, _ in self.narrowed}


def _covers(codes: frozenset[str], code: str, catalog: Any) -> tuple[tuple[str, ...], bool]:
    """The codes of ``codes`` that enable all of ``code`` (empty: none), and if they are parts.

    Parts: the codes within ``code`` that cover it together, not one enclosing region.
    """
    enclosing = tuple(c for c in (code, *catalog.ancestors(code)) if c in codes)
    if enclosing:
        return enclosing[:1], False
    if _decision.wholly_within(codes, code, catalog):
        return _inside(codes, code, catalog), True
    return (), False


def _inside(codes: frozenset[str], code: str, catalog: Any) -> tuple[str, ...]:
    """The codes of ``codes`` that lie within ``code``, sorted."""
    return tuple(sorted(c for c in codes if code in catalog.ancestors(c)))


def coverage(
    before: frozenset[str],
    after: frozenset[str],
    catalog: Any,
    *,
    before_enables: bool = True,
    after_enables: bool = True,
) -> Coverage:
    """How the places enabled change from the codes ``before`` to the codes ``after``.

    A side at 0 % of devices (``*_enables=False``) enables no place: nothing it lists keeps
    or had a place enabled.
    """
    before_on = before if before_enables else frozenset()
    after_on = after if after_enables else frozenset()
    gained, lost, by_parts = set(), set(), set()
    already: list[tuple[str, tuple[str, ...]]] = []
    narrowed: list[tuple[str, tuple[str, ...]]] = []
    kept: list[tuple[str, tuple[str, ...]]] = []
    for code in sorted(after - before):
        via, parts = _covers(before_on, code, catalog)
        if via:
            already.append((code, via))
            if parts:
                by_parts.add(code)
        else:
            gained.add(code)
    for code in sorted(before - after):
        via, parts = _covers(after_on, code, catalog)
        if via:
            kept.append((code, via))
            if parts:
                by_parts.add(code)
        elif inside := _inside(after_on, code, catalog):
            narrowed.append((code, inside))
        else:
            lost.add(code)
    return Coverage(
        gained=frozenset(gained),
        already=tuple(already),
        lost=frozenset(lost),
        narrowed=tuple(narrowed),
        kept=tuple(kept),
        by_parts=frozenset(by_parts),
    )


def _via(cov: Coverage, code: str, via: tuple[str, ...]) -> str:
    """``within 01`` for an enclosing code, ``through its parts 0114, ...`` for the parts."""
    if code not in cov.by_parts:
        return f"within {via[0]}"
    shown = ", ".join(via[:4]) + (f" and {len(via) - 4} more" if len(via) > 4 else "")
    return f"through its parts {shown}"


def _coverage_parts(
    cov: Coverage, *, add: str, drop: str, gained_share: str = "", lost_share: str = ""
) -> list[str]:
    """The phrases that tell ``cov``: ``add``/``drop`` name additions and losses."""
    parts = []
    if cov.gained:
        parts.append(f"{add} {_codes(cov.gained)}{gained_share}")
    # codes an "except" or a "through its parts" names are not told again as already enabled
    told = {c for _, inside in cov.narrowed for c in inside}
    told.update(c for code, via in cov.kept if code in cov.by_parts for c in via)
    # a code listed now that all of a dropped one covers (Gotland's county for its one
    # municipality) is told by "stays enabled within" alone
    within = {(code, via[0]) for code, via in cov.kept if code not in cov.by_parts}
    told.update(
        code
        for code, via in cov.already
        if code in cov.by_parts and all((part, code) in within for part in via)
    )
    for how, codes in _grouped(cov, cov.already, skip=told).items():
        parts.append(f"also lists {_codes(codes)}, already enabled {how}")
    if cov.lost:
        parts.append(f"{drop} {_codes(cov.lost)}{lost_share}")
    for code, inside in cov.narrowed:
        parts.append(f"{drop} {code} except {_codes(inside)}{lost_share}")
    for how, codes in _grouped(cov, cov.kept).items():
        parts.append(f"{_codes(codes)} {_stay(codes)} enabled {how}")
    return parts


def _stay(codes: tuple[str, ...]) -> str:
    return "stays" if len(codes) == 1 else "stay"


def _grouped(
    cov: Coverage, pairs: _Pairs, skip: set[str] | frozenset[str] = frozenset()
) -> dict[str, tuple[str, ...]]:
    """The codes of ``pairs`` grouped by how they are enabled (``within 01``), in order."""
    groups: dict[str, tuple[str, ...]] = {}
    for code, via in pairs:
        if code not in skip:
            how = _via(cov, code, via)
            groups[how] = (*groups.get(how, ()), code)
    return groups


def _check_codes(policy: Any, catalog: Any, kinds: Any) -> Any:
    """``catalog`` checked, and the region codes of ``kinds`` in ``policy`` checked against it.

    A code the catalog does not know, or one outside the policy's country, is an
    :class:`InvalidPolicy` naming its path: a timeline cannot say where it enables.
    """
    from geotarget.rollout import _io

    catalog = _decision.check_catalog(catalog)
    problems = _io.catalog_problems(policy, catalog, frozenset(kinds))
    if problems:
        raise InvalidPolicy(problems)
    return catalog


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
        Codes this phase lists, or no longer lists, relative to the phase before. A code no
        longer listed may stay enabled within one listed now (``"0180"`` within ``"01"``):
        ``coverage`` tells.
    percentage : float
    rollback : bool
    illustrative : bool
        The phase's date is illustrative, not decided (:attr:`Phase.illustrative`).
    coverage : Coverage or None
        What ``added`` and ``removed`` mean on the map — which codes no longer listed lose the
        kind, and which stay enabled within a code listed now — when the timeline was asked
        with a ``catalog``; None without one (a removed code may still be enabled within a
        listed region).
    """

    phase_index: int
    starts_at: dt.datetime
    regions: frozenset[str]
    added: frozenset[str]
    removed: frozenset[str]
    percentage: float
    rollback: bool
    illustrative: bool = False
    coverage: Coverage | None = None


@attrs.frozen(kw_only=True)
class RegionSpan:
    """A region code enabled from ``start`` until ``end`` (None: no phase drops it).

    A phase at 0 % of devices enables nobody: it ends the spans open before it. Without a
    catalog, a span is the time a code is listed; with one, the time it is enabled in all of
    it, whether listed or within a listed code (``"0180"`` within ``"01"``).

    .. versionadded:: 0.1.0

    Attributes
    ----------
    region : str
    start : datetime.datetime
    end : datetime.datetime or None
    start_phase_index : int
    end_phase_index : int or None
        The phase that drops the code: a rollback, or a phase at 0 % of devices (which enables
        no device anywhere, so it ends every span); with a catalog, only a phase that no longer
        enables all of it.
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

    Without a catalog the timeline compares codes as text: a code no longer listed "is no
    longer listed", since a code listed now may contain it. With one (``catalog=`` of
    :meth:`RolloutPolicy.timeline`), it says which codes roll back, in all or in part, and
    which stay enabled within another (``"0180"`` within ``"01"``).

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
    country : str or None
        The policy's country code: a code no longer listed stays enabled within it.
    """

    kind: str
    in_policy: bool
    killed: bool
    steps: tuple[TimelineStep, ...]
    spans: tuple[RegionSpan, ...]
    timezone: str
    country: str | None = None
    _catalog: Any = attrs.field(default=None, eq=False, repr=False, alias="catalog")

    def enabled_from(self, region: str) -> dt.datetime | None:
        """When the code ``region`` is first enabled, or None if never.

        Without a catalog, when it is first listed; with one, when it is first enabled in all
        of it, listed or not (a municipality from when its county is).
        """
        if self._catalog is None:
            return next((s.start for s in self.spans if s.region == region), None)
        return next(
            (
                s.starts_at
                for s in self.steps
                if s.percentage > 0 and _covers(s.regions, region, self._catalog)[0]
            ),
            None,
        )

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
                # A code a pause adds is listed for nobody: enabled only from the phase after
                # (its span, enabled_from), as phase 1's "enables 01 for 0% of devices" says.
                nobody = " for 0% of devices" if s.percentage == 0 else ""
                if s.coverage is not None:
                    parts = _coverage_parts(
                        s.coverage, add="adds", drop="rolls back", gained_share=nobody
                    )
                else:
                    parts = [f"adds {_codes(s.added)}{nobody}"] if s.added else []
                    parts += _uncertain_drops(
                        s.removed,
                        s.regions,
                        self.country,
                        known=s.percentage == 0 or prev_pct == 0,
                        drop="rolls back",
                    )
                if parts:
                    parts[-1] += f"  -> {_codes(s.regions)}"
                if s.percentage != prev_pct:
                    parts.append(f"percentage {prev_pct:g}% -> {s.percentage:g}%")
                what = "; ".join(parts)
            note = "  (illustrative date)" if s.illustrative else ""
            lines.append(f"  phase {s.phase_index + 1}  {when}  {what}{note}")
            prev_pct = s.percentage
        return "\n".join(lines)


def _uncertain_drops(
    removed: frozenset[str],
    regions: frozenset[str],
    country: str | None,
    *,
    known: bool,
    drop: str,
    share: str = "",
) -> list[str]:
    """Phrases for codes no longer listed, told without a catalog.

    Within the country listed now they stay enabled; when ``known`` (nobody is enabled after,
    or nobody was before) ``drop`` says so; otherwise a code listed now may contain them, so
    they are only "no longer listed".
    """
    if not removed:
        return []
    if known:
        return [f"{drop} {_codes(removed)}{share}"]
    if country is not None and country in regions:
        codes = tuple(sorted(removed))
        return [f"{_codes(codes)} {_stay(codes)} enabled within {country}"]
    return [f"no longer lists {_codes(removed)}{share}"]


def timeline(policy: Any, kind: str, catalog: Any = None) -> Timeline:
    """The timeline of ``kind`` in ``policy`` (a RolloutPolicy), told with ``catalog``."""
    if catalog is not None:
        catalog = _check_codes(policy, catalog, [kind])
    rollout = policy.rollout(kind)
    killed = bool(policy.killed or (rollout is not None and rollout.killed))
    steps: list[TimelineStep] = []
    spans: list[RegionSpan] = []
    open_: dict[str, tuple[dt.datetime, int]] = {}
    prev: frozenset[str] = frozenset()
    phases = rollout.phases if rollout is not None else ()
    listed = frozenset(code for p in phases for code in p.regions)
    for i, p in enumerate(phases):
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
                coverage=None
                if catalog is None or i == 0
                else coverage(
                    prev,
                    p.regions,
                    catalog,
                    before_enables=phases[i - 1].percentage > 0,
                    after_enables=p.percentage > 0,
                ),
            )
        )
        # Spans follow what the phase enables: a phase at 0 % enables no device anywhere.
        if p.percentage == 0:
            enabled: frozenset[str] = frozenset()
        elif catalog is None:
            enabled = p.regions
        else:  # every code of the policy enabled in all of it, listed or within a listed one
            enabled = frozenset(c for c in listed if _covers(p.regions, c, catalog)[0])
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
        country=policy.country,
        catalog=catalog,
    )


# ---------------------------------------------------------------------------------------------
# Diffs
# ---------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SettingChange:
    """A setting that differs between two policy versions.

    ``path`` is ``killed``, ``country``, ``timezone``, ``salt``, ``kinds.<kind>`` (whether the
    policy names the kind), ``kinds.<kind>.killed``, or ``kinds.<kind>.phases[<i>].illustrative``
    (a phase starting at the same instant in both whose date became decided, or illustrative;
    ``<i>`` counts the new version's phases from 0, as file paths do).

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
        if self.path.endswith("].illustrative"):

            def date(v: str | bool) -> str:
                return "illustrative date" if v else "decided date"

            phase = self.path.removesuffix(".illustrative")
            return f"{phase}: {date(self.before)} -> {date(self.after)}"
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
    coverage : Coverage or None
        What the change of codes means on the map (``"0180"`` replaced by ``"01"`` keeps
        Stockholm enabled), when the diff was asked with a ``catalog``; None without one.
    country : str or None
        The new version's country code: a code no longer listed stays enabled within it.
    """

    kind: str
    start: dt.datetime
    end: dt.datetime | None
    before: frozenset[str]
    after: frozenset[str]
    percentage_before: float | None
    percentage_after: float | None
    coverage: Coverage | None = None
    country: str | None = None

    @property
    def added(self) -> frozenset[str]:
        """Codes the new version enables in the window and the old one does not."""
        return self.after - self.before

    @property
    def removed(self) -> frozenset[str]:
        """Codes the old version lists in the window and the new one does not.

        One may stay enabled within a code the new one lists: ``coverage`` tells.
        """
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
        gained = "" if changed else _share(self.percentage_after)
        lost = "" if changed else _share(self.percentage_before)
        if self.coverage is not None:
            parts += _coverage_parts(
                self.coverage, add="+", drop="-", gained_share=gained, lost_share=lost
            )
        else:
            if self.added:
                parts.append(f"+ {_codes(self.added)}{gained}")
            parts += _uncertain_drops(
                self.removed,
                self.after,
                self.country,
                # nobody is enabled after, or nobody was before: nothing a listed code keeps
                known=not self.after or not self.percentage_after or not self.percentage_before,
                drop="-",
                share=lost,
            )
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
    redrawn : frozenset of str
        The kinds with a canary phase (a percentage between 0 and 100) when the ``salt``
        changes: a device's bucket hashes the salt, so their canaries are drawn anew. Their
        text says so below the settings.
    """

    old_hash: str
    new_hash: str
    settings: tuple[SettingChange, ...]
    schedule: tuple[ScheduleChange, ...]
    timezone: str
    redrawn: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return self.old_hash != self.new_hash

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds whose schedule, kill switch, presence or canary (:attr:`redrawn`) changes."""
        named = {c.kind for c in self.schedule} | self.redrawn
        for s in self.settings:
            if s.path.startswith("kinds."):
                named.add(s.path.split(".")[1])
        return frozenset(named)

    def __str__(self) -> str:
        if not self:
            return f"policy {self.old_hash[:12]}: unchanged"
        lines = [f"policy {self.old_hash[:12]} -> {self.new_hash[:12]}"]
        lines += [f"  {s}" for s in self.settings]
        if self.redrawn:
            lines.append(
                f"  the new salt draws the canaries of {', '.join(sorted(self.redrawn))} anew: "
                "other devices are in them, and one in before may be out"
            )
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


def diff(old: Any, new: Any, catalog: Any = None) -> PolicyDiff:
    """The diff from ``old`` to ``new`` (both RolloutPolicy), told with ``catalog``."""
    if catalog is not None:
        catalog = _check_codes(old, catalog, old.kinds)
        catalog = _check_codes(new, catalog, new.kinds)
    settings: list[SettingChange] = []
    redrawn: frozenset[str] = frozenset()
    for name in ("killed", "country", "timezone", "salt"):
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            if name == "salt":  # a device's canary bucket hashes the salt: drawn anew
                redrawn = frozenset(
                    r.kind
                    for policy in (old, new)
                    for r in policy.rollouts
                    if any(0 < p.percentage < 100 for p in r.phases)
                )
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
        if ra is not None and rb is not None:
            # A date that becomes decided (or illustrative) changes no window, but is reviewed.
            was = {p.starts_at: p.illustrative for p in ra.phases}
            for j, p in enumerate(rb.phases):
                if was.get(p.starts_at, p.illustrative) != p.illustrative:
                    settings.append(
                        SettingChange(
                            path=f"kinds.{kind}.phases[{j}].illustrative",
                            before=not p.illustrative,
                            after=p.illustrative,
                        )
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
                    coverage=None
                    if catalog is None
                    else coverage(ba, bb, catalog, before_enables=bool(pa), after_enables=bool(pb)),
                    country=new.country,
                )
            )
    return PolicyDiff(
        old_hash=old.policy_hash,
        new_hash=new.policy_hash,
        settings=tuple(settings),
        schedule=tuple(schedule),
        timezone=new.timezone,
        redrawn=redrawn,
    )
