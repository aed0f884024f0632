r"""Which regions are enabled for which alert kind at which time, and why.

A :class:`RolloutPolicy` holds, for each alert kind it names (a kind name such as
``"explosion"``; see :mod:`geotarget.kinds`), a
:class:`KindRollout`: an ordered list of :class:`Phase`\ s, each enabling a set of region codes
(at any level of the region hierarchy, or the whole country) from its start on, optionally for a
canary percentage of devices, plus a kill switch. The policy adds a global kill switch and denies
every kind it does not name.

Semantics (the contract, each tested against an oracle and in the conformance suite):

* The **active phase** at instant ``t`` is the last phase with ``starts_at <= t``: a phase starts
  at its ``starts_at``, inclusive, and lasts until the next one starts.
* Each phase lists **every** region enabled while it is active (cumulative lists, not deltas). A
  later phase must repeat the codes of the one before, and may not lower the percentage, unless
  it says ``rollback=True``. So time moving forward never removes a region or a device, unless a
  rollback phase says so.
* A region code enables every place within it: a municipality is enabled when it, its county, its
  police region or the country is in the active phase's set.
* A kill switch (for one kind, or global) dominates every phase. A kind the policy does not name is
  denied.
* A canary phase enables its regions for ``percentage`` % of devices, chosen by a stable hash of
  the device id (see :func:`canary_buckets`); raising the percentage never drops a device.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import datetime as dt
import decimal
import fractions
import hashlib
import itertools
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget._validate import as_float, is_number, iterable
from geotarget.alerts._values import brief, tuple_of
from geotarget.errors import InvalidInput, InvalidPolicy, InvalidType, Problem, UnknownCode
from geotarget.rollout import _canary, _decision, _io, _report, _time
from geotarget.rollout._decision import Explanation, Reason, RegionCatalog, RolloutDecision
from geotarget.rollout._report import (
    Coverage,
    PolicyDiff,
    RegionSpan,
    ScheduleChange,
    SettingChange,
    Timeline,
    TimelineStep,
)

__all__ = [
    "DEFAULT_SALT",
    "MIN_PERCENTAGE",
    "Coverage",
    "Explanation",
    "KindRollout",
    "Phase",
    "PolicyDiff",
    "Reason",
    "RegionCatalog",
    "RegionSpan",
    "RolloutDecision",
    "RolloutPolicy",
    "ScheduleChange",
    "SettingChange",
    "Timeline",
    "TimelineStep",
    "canary_buckets",
    "nationwide",
]


def __dir__() -> list[str]:
    return __all__


#: Deprecated names: the Swedish pilot lives in :mod:`geotarget.pilot` (old name -> new name).
_MOVED_TO_PILOT = {"PILOT_START": "PILOT_START", "pilot_policy": "announced_policy"}


def __getattr__(name: str) -> Any:
    # Deprecated aliases of geotarget.pilot's names; they warn when used.
    if name in _MOVED_TO_PILOT:
        new = _MOVED_TO_PILOT[name]
        warnings.warn(
            f"geotarget.rollout.{name} is deprecated: use geotarget.pilot.{new} (the Swedish "
            "pilot lives in geotarget.pilot)",
            DeprecationWarning,
            stacklevel=2,
        )
        from geotarget import pilot

        return getattr(pilot, new)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The smallest canary step, in percent: a phase's percentage is 0 or a multiple of it.
MIN_PERCENTAGE = 0.01
#: The salt of canary hashing when a policy names none.
DEFAULT_SALT = "geotarget"

_DEFAULT_TIMEZONE = "Europe/Stockholm"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# ASCII, so that codes sort alike in every language (canonical JSON sorts them); "." for
# GADM's "SWE.15_1" and HASC's "SE.ST", as region files from those sources carry them.
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}")
_SALT = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_CODE_RULE = (
    "region codes are 1 to 32 ASCII letters, digits, '-', '_' or '.', starting with a letter or "
    "digit"
)


# ---------------------------------------------------------------------------------------------
# Argument helpers
# ---------------------------------------------------------------------------------------------


_kind = _decision.parse_kind
_instant = _decision.require_aware
_bool = _decision.require_bool


def _kind_names(field: str, kinds: Iterable[object]) -> list[str]:
    """Kind names in order; InvalidPolicy lists every malformed one with its path."""
    if isinstance(kinds, (str, bytes)) or not iterable(kinds):
        raise InvalidType(f"{field} must be an iterable of kind names (got {_shown(kinds)})")
    names, problems = [], []
    for i, k in enumerate(kinds):
        path = f"{field}[{_shown(k)}]" if isinstance(kinds, Mapping) else f"{field}[{i}]"
        try:
            names.append(_kind(k, path))
        except (InvalidInput, InvalidType) as err:
            problems.append(Problem(path, str(err).removeprefix(f"{path} ")))
    if problems:
        raise InvalidPolicy(problems)
    return names


def _prefixed(prefix: str, problems: Iterable[Problem]) -> list[Problem]:
    return [Problem(f"{prefix}.{p.path}" if p.path else prefix, p.message) for p in problems]


def _shown(value: object) -> str:
    """A value for a message; a huge int shows its size, not 400 digits (nor a crash).

    At most about sixty characters: a megabyte value is cut, saying its length.
    """
    return _io.brief(value)


_LIST_SEPARATOR = re.compile(r"\s*[,;|]\s*")


def _malformed_code(code: str) -> str:
    """Why ``code`` is no region code in form (``"' 01' is not a region code: ..."``), or ``""``.

    Shared by the rollout's and the issuers' readers, so that one text gets one answer.
    """
    if _CODE.fullmatch(code):
        return ""
    return f"{_shown(code)} is not a region code: {_CODE_RULE}{_several(code)}"


def _several(code: str) -> str:
    """``"; it holds 2 codes ..."`` for a text listing codes (``"01, 03"``), else ``""``.

    A list typed into one string, or a spreadsheet cell of codes pasted as one, names codes
    that each need their own quotes; close matches to the whole text would mislead.
    """
    parts = [p for p in _LIST_SEPARATOR.split(code.strip()) if p]  # ("01,03,": 2 codes)
    if len(parts) < 2 or not all(_CODE.fullmatch(p) for p in parts):
        return ""
    quoted = ", ".join(f'"{p}"' for p in parts[:5]) + (", ..." if len(parts) > 5 else "")
    return f"; it holds {len(parts)} codes in one text: write each in quotes of its own, {quoted}"


def _exact_float(value: decimal.Decimal | fractions.Fraction) -> float:
    """The float of a Decimal or Fraction; NaN for a Decimal NaN (``float`` refuses ``sNaN``)."""
    if isinstance(value, decimal.Decimal) and value.is_nan():
        return float("nan")
    try:
        return float(value)  # (a Decimal beyond float's range is inf)
    except OverflowError:  # a Fraction beyond it
        return float("inf") if value > 0 else float("-inf")


def _threshold(percentage: float) -> int:
    return round(percentage * 100)


# ---------------------------------------------------------------------------------------------
# Phase and KindRollout
# ---------------------------------------------------------------------------------------------


@attrs.frozen(init=False)
class Phase:
    """One step of a rollout: the regions enabled from ``starts_at`` until the next phase.

    Parameters
    ----------
    starts_at : datetime.datetime
        When the phase starts (inclusive). Must be timezone-aware and a real clock reading (a
        ``ZoneInfo`` time skipped by a DST change is refused); stored as UTC.
    regions : iterable of str
        Every region code enabled while the phase is active — municipalities, counties, police
        regions or the country code — not only the new ones. At least one.
    percentage : float, Decimal or Fraction, default 100
        The canary share of devices, in ``[0, 100]`` in steps of :data:`MIN_PERCENTAGE` (0.01)
        (a ``Decimal``, as a database's NUMERIC column gives it, is read as its value):
        ``1e-9`` is refused, not rounded to 0.
    rollback : bool, default False
        Allow this phase to drop regions, or lower the percentage, relative to the one before.
    illustrative : bool, default False
        The phase's date is illustrative, not decided: a note for people that timelines and
        explanations show as "(illustrative date)". It changes no decision; files write it
        only when true, so policies without such phases keep their :attr:`policy_hash`.

    Raises
    ------
    InvalidPolicy
        Listing every broken rule, each with its field as the path.
    InvalidType
        When an argument has the wrong type (``regions="01"`` instead of ``{"01"}``).

    Examples
    --------
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> p = Phase(starts_at=datetime(2024, 4, 15, tzinfo=ZoneInfo("Europe/Stockholm")),
    ...           regions={"01"})
    >>> p.starts_at.isoformat(), sorted(p.regions), p.percentage
    ('2024-04-14T22:00:00+00:00', ['01'], 100.0)

    .. versionadded:: 0.1.0
    """

    starts_at: dt.datetime
    regions: frozenset[str]
    percentage: float = 100.0
    rollback: bool = False
    illustrative: bool = False

    def __init__(
        self,
        *,
        starts_at: dt.datetime,
        regions: Iterable[str],
        percentage: float | decimal.Decimal | fractions.Fraction = 100.0,
        rollback: bool = False,
        illustrative: bool = False,
    ) -> None:
        if not isinstance(starts_at, dt.datetime):
            raise InvalidType(
                f"starts_at must be a timezone-aware datetime (got {type(starts_at).__name__})"
            )
        if isinstance(regions, (str, bytes)) or not iterable(regions):
            raise InvalidType(
                f"regions must be an iterable of region codes, such as {{'01'}} "
                f"(got {type(regions).__name__} {_shown(regions)})"
            )
        codes = list(regions)
        for code in codes:
            if not isinstance(code, str):
                raise InvalidType(f"regions must hold str codes (got {type(code).__name__})")
        given = _shown(percentage)
        if isinstance(percentage, (decimal.Decimal, fractions.Fraction)):
            # a NUMERIC column's value (psycopg gives Decimal): a number, read as its float
            percentage = _exact_float(percentage)
        if not is_number(percentage):
            raise InvalidType(
                f"percentage must be a number in [0, 100] (got {type(percentage).__name__} "
                f"{_shown(percentage)})"
            )
        rollback = _bool("rollback", rollback)
        illustrative = _bool("illustrative", illustrative)

        problems: list[Problem] = []
        start = starts_at
        if not _time.is_aware(starts_at):
            problems.append(
                Problem(
                    "starts_at",
                    f"must be timezone-aware (got naive {starts_at.isoformat()}); attach a zone, "
                    "e.g. tzinfo=ZoneInfo('Europe/Stockholm')",
                )
            )
        elif not _time.in_range(starts_at):
            problems.append(
                Problem(
                    "starts_at",
                    "must lie in [1970-01-01T00:00:00Z, 9999-01-01T00:00:00Z) "
                    f"(got {starts_at.isoformat()})",
                )
            )
        elif (wall := _time.wall_time_problem(starts_at)) is not None:
            problems.append(Problem("starts_at", wall))
        elif nanos := getattr(starts_at, "nanosecond", 0):  # a pandas Timestamp
            problems.append(
                Problem(
                    "starts_at",
                    f"has {nanos} nanoseconds past the microsecond (got {starts_at}); a phase "
                    "starts at a whole microsecond, as policy files write it",
                )
            )
        else:
            # A plain datetime, not a subclass (a pandas Timestamp): the phase decides, compares
            # and writes as the file it is read back from does.
            u = starts_at.astimezone(dt.timezone.utc)
            start = dt.datetime(*u.timetuple()[:6], u.microsecond, tzinfo=dt.timezone.utc)
        if not codes:
            problems.append(
                Problem(
                    "regions",
                    "must name at least one region (to pause a kind from this phase's start, "
                    "list its regions with percentage = 0 and rollback = true; to switch it off "
                    "now, use its kill switch)",
                )
            )
        problems += [Problem("regions", m) for m in map(_malformed_code, codes) if m]
        pct = as_float(percentage)
        given_as: object = percentage  # (typed float; may be any numpy float)
        if isinstance(given_as, np.floating) and np.finfo(given_as.dtype).bits < 64:
            # np.float32(33.33) is 33.33000183...: read it as the decimal it shows, the
            # shortest that is that float32, as a float64 (33.33) would be read
            pct = float(np.format_float_positional(given_as, unique=True))
        if not 0.0 <= pct <= 100.0:  # also NaN
            problems.append(Problem("percentage", f"must lie in [0, 100] (got {given})"))
        elif 0.0 < pct < MIN_PERCENTAGE or abs(pct * 100 - round(pct * 100)) > 1e-7:
            problems.append(
                Problem(
                    "percentage",
                    f"must be in steps of {MIN_PERCENTAGE:g}, the canary granularity (a bucket "
                    f"is 0.01 % of devices), so 0 or at least {MIN_PERCENTAGE:g} (got {given})",
                )
            )
        else:
            pct = _threshold(pct) / 100
        if problems:
            raise InvalidPolicy(problems)
        self.__attrs_init__(start, frozenset(codes), pct, rollback, illustrative)


def _enclosing(code: str, listed: frozenset[str], catalog: Any) -> str | None:
    """The code of ``listed`` that ``code`` lies within, by ``catalog``, or None.

    None also without a catalog, or for a code it does not know (a problem of its own).
    """
    if catalog is None:
        return None
    try:
        return next((a for a in catalog.ancestors(code) if a in listed), None)
    except (KeyError, ValueError):
        return None


def _sequence_problems(
    phases: Sequence[tuple[int, Phase]],
    prefix: str,
    country: object = None,
    catalog: Any = None,
    zone: str | None = None,
) -> list[Problem]:
    """Rules between consecutive phases; ``phases`` pairs each phase with its document index.

    ``country``: the policy's country code, when known; ``catalog``: the regions, when
    known; ``zone``: the policy's timezone, when known and valid (starts are then named in
    it, as an operator writes civil dates, not in UTC: ``2025-05-01`` is not told as
    ``2025-04-30T22:00:00Z``). A phase that leaves out codes of the phase before but lists
    the country, or (by the catalog) a region enclosing each of them, drops them from its
    list only, not from the map: said so.
    """
    problems: list[Problem] = []

    def text(t: dt.datetime) -> str:
        return _time.utc_text(t) if zone is None else _time.local_iso(t, zone)

    for (i, p), (j, q) in itertools.pairwise(phases):
        if j != i + 1:
            continue  # a phase between them could not be read: nothing to compare
        path = f"{prefix}[{j}]"
        if q.starts_at < p.starts_at:
            problems.append(
                Problem(
                    path,
                    f"starts at {text(q.starts_at)}, before phases[{i}] "
                    f"({text(p.starts_at)}); phases must be in time order",
                )
            )
        elif q.starts_at == p.starts_at:
            problems.append(
                Problem(
                    path,
                    f"duplicate phase: starts at {text(q.starts_at)}, "
                    f"like phases[{i}]; each phase needs its own start",
                )
            )
        if q.regions == p.regions and q.percentage == p.percentage:
            problems.append(
                Problem(
                    path,
                    f"duplicate phase: enables the same regions and percentage as phases[{i}]; "
                    "a phase must change something",
                )
            )
        dropped = sorted(p.regions - q.regions)
        if dropped and not q.rollback and isinstance(country, str) and country in q.regions:
            codes = ", ".join(dropped)
            problems.append(
                Problem(
                    path,
                    f"drops {codes}, which phases[{i}] enables, from its list; {country}, the "
                    "whole country, which it lists, still enables them, but phases list every "
                    f"code of the phase before: repeat {codes} beside {country}, or set "
                    "rollback = true (either way they stay enabled)",
                )
            )
        elif dropped and not q.rollback:
            within = [(c, _enclosing(c, q.regions, catalog)) for c in dropped]
            if all(up is not None for _, up in within):  # 0180 replaced by its county 01
                codes = ", ".join(dropped)
                pairs = ", ".join(f"{c} within {up}" for c, up in within)
                message = (
                    f"drops {codes}, which phases[{i}] enables, from its list; the regions it "
                    f"lists still enable {'it' if len(dropped) == 1 else 'them'} ({pairs}), "
                    f"but phases list every code of the phase before: repeat {codes}, or set "
                    "rollback = true (either way the places stay enabled)"
                )
            else:
                message = (
                    f"drops {', '.join(dropped)}, which phases[{i}] enables; phases list every "
                    "enabled region, so repeat them, or set rollback = true to drop them"
                )
            problems.append(Problem(path, message))
        if q.percentage < p.percentage and not q.rollback:
            problems.append(
                Problem(
                    path,
                    f"lowers percentage from {p.percentage:g} to {q.percentage:g}; "
                    "set rollback = true to allow it",
                )
            )
    return problems


@attrs.frozen(init=False)
class KindRollout:
    """The phases of one alert kind, in time order, and its kill switch.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       ``kind`` is any well-formed kind name, no longer one of the ``AlertKind`` enum.

    Parameters
    ----------
    kind : str
        The kind name, such as ``"crime_modus"``: 1 to 64 lower-case ASCII letters, digits or
        ``_``, starting with a letter. Any such name may be rolled out; the
        :class:`~geotarget.targeting.Targeter` checks that it knows how to target it.
    phases : iterable of Phase
        At least one, with strictly increasing starts. Each lists every enabled region; a phase
        that drops regions or lowers the percentage must say ``rollback=True``.
    killed : bool, default False
        The kill switch: when on, nothing is enabled for this kind, whatever the phases say.

    Raises
    ------
    InvalidPolicy
        Listing every broken rule with its path (``phases[2]``).
    InvalidInput
        For a malformed kind name (the message names the rule and the value).
    """

    kind: str
    phases: tuple[Phase, ...]
    killed: bool = False

    def __init__(self, *, kind: str, phases: Iterable[Phase], killed: bool = False) -> None:
        k = _kind(kind)
        steps = tuple_of(phases, "phases", "Phase")
        for i, p in enumerate(steps):
            if not isinstance(p, Phase):
                raise InvalidType(f"phases[{i}] must be a Phase (got {type(p).__name__})")
        if not steps:
            raise InvalidPolicy(
                [Problem("phases", "must list at least one phase (to deny a kind, leave it out)")]
            )
        problems = _sequence_problems(list(enumerate(steps)), "phases")
        if problems:
            raise InvalidPolicy(problems)
        self.__attrs_init__(k, steps, _bool("killed", killed))

    def active_index(self, at: dt.datetime) -> int | None:
        """The index of the phase active at ``at`` (the last one started), or None."""
        i = bisect.bisect_right(self.phases, _instant("at", at), key=lambda p: p.starts_at) - 1
        return i if i >= 0 else None


# ---------------------------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------------------------


@attrs.frozen(init=False)
class RolloutPolicy:
    """An immutable, versioned rollout policy: per-kind phases, kill switches, deny by default.

    Parameters
    ----------
    rollouts : iterable of KindRollout, default ()
        At most one per kind. Kinds without one are denied (``KIND_NOT_IN_POLICY``).
    killed : bool, default False
        The global kill switch: when on, nothing is enabled for any kind.
    country : str, default "SE"
        The code of the whole country; a phase listing it is ``NATIONWIDE``.
    timezone : str, default "Europe/Stockholm"
        The IANA zone in which text (explanations, files) shows instants.
    salt : str, default DEFAULT_SALT
        Mixed into canary hashing; keep it across versions of a policy so that canaries stay
        stable. 1 to 64 letters, digits, ``_ . : -``.

    Notes
    -----
    :attr:`policy_hash` is the SHA-256 of :meth:`canonical_json`, so it identifies the version.
    Load policies from files with :meth:`from_toml` and :meth:`from_json`; the Swedish pilot's
    are in :mod:`geotarget.pilot`.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from geotarget.pilot import announced_policy
    >>> policy = announced_policy()
    >>> d = policy.decide("crime_modus", datetime(2024, 5, 1, tzinfo=timezone.utc))
    >>> d.reason.value, sorted(d.regions), d.phase_index
    ('PHASE_ACTIVE', ['01'], 0)
    >>> policy.decide("explosion", datetime(2024, 5, 1, tzinfo=timezone.utc)).reason.value
    'NATIONWIDE'
    >>> policy.with_killed().decide("explosion", datetime(2024, 5, 1, tzinfo=timezone.utc)).reason
    <Reason.ALL_KILLED: 'ALL_KILLED'>

    .. versionadded:: 0.1.0
    """

    rollouts: tuple[KindRollout, ...]
    killed: bool
    country: str
    timezone: str
    salt: str
    _hash: str = attrs.field(init=False, eq=False, repr=False)

    def __init__(
        self,
        *,
        rollouts: Iterable[KindRollout] = (),
        killed: bool = False,
        country: str = "SE",
        timezone: str = _DEFAULT_TIMEZONE,
        salt: str = DEFAULT_SALT,
    ) -> None:
        items = tuple_of(rollouts, "rollouts", "KindRollout")
        for i, r in enumerate(items):
            if not isinstance(r, KindRollout):
                raise InvalidType(f"rollouts[{i}] must be a KindRollout (got {type(r).__name__})")
        killed = _bool("killed", killed)
        problems = _policy_field_problems(country, timezone, salt)
        seen: dict[str, int] = {}
        for i, r in enumerate(items):
            if r.kind in seen:
                problems.append(
                    Problem(
                        f"rollouts[{i}]",
                        f"a second rollout for {r.kind!r} (rollouts[{seen[r.kind]}] is the "
                        "first); each kind has one",
                    )
                )
            seen.setdefault(r.kind, i)
        if problems:
            raise InvalidPolicy(problems)
        ordered = tuple(sorted(items, key=lambda r: r.kind))
        self.__attrs_init__(ordered, killed, country, timezone, salt)
        digest = hashlib.sha256(self.canonical_json().encode()).hexdigest()
        object.__setattr__(self, "_hash", digest)

    # -- identity --------------------------------------------------------------------------

    @property
    def policy_hash(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`: equal policies have equal hashes."""
        return self._hash

    def canonical_json(self) -> str:
        """The canonical serialisation that :attr:`policy_hash` hashes.

        The JSON form (:meth:`to_json`) with every field present (a phase's ``illustrative``
        only when true), instants in UTC
        (``2024-04-14T22:00:00Z``), region codes sorted, integral percentages as integers, keys
        sorted, no whitespace, UTF-8.
        """
        return _io.canonical_json(self)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kind names this policy names (its registered kinds), sorted.

        .. versionchanged:: 0.1.0
           Names (``str``), sorted; no longer ``AlertKind`` members.
        """
        return tuple(r.kind for r in self.rollouts)

    def rollout(self, kind: str) -> KindRollout | None:
        """The rollout of ``kind``, or None if the policy does not name it."""
        k = _kind(kind)
        return next((r for r in self.rollouts if r.kind == k), None)

    # -- decisions -------------------------------------------------------------------------

    def decide(self, kind: str, at: dt.datetime) -> RolloutDecision:
        """Decide which regions are enabled for ``kind`` at ``at``, and why.

        Parameters
        ----------
        kind : str
            The alert kind (its value, e.g. ``"explosion"``, is accepted).
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        RolloutDecision
            The enabled regions, the canary percentage, the reason and the next change.

        Raises
        ------
        InvalidInput
            For a malformed kind name. A well-formed name the policy does not name is
            denied (``KIND_NOT_IN_POLICY``), not an error.
        """
        k = _kind(kind)
        at = _instant("at", at)
        base: dict[str, Any] = {
            "kind": k,
            "at": at,
            "regions": frozenset(),
            "phase_index": None,
            "percentage": 0.0,
            "next_change": None,
            "policy_hash": self.policy_hash,
        }
        rollout = self.rollout(k)
        if self.killed:
            return RolloutDecision(reason=Reason.ALL_KILLED, **base)
        if rollout is None:
            return RolloutDecision(reason=Reason.KIND_NOT_IN_POLICY, **base)
        if rollout.killed:
            return RolloutDecision(reason=Reason.KILLED, **base)
        i = rollout.active_index(at)
        if i is None:
            base["next_change"] = rollout.phases[0].starts_at
            return RolloutDecision(reason=Reason.NOT_STARTED, **base)
        phase = rollout.phases[i]
        if phase.percentage < 100:
            reason = Reason.CANARY
        elif self.country in phase.regions:
            reason = Reason.NATIONWIDE
        else:
            reason = Reason.PHASE_ACTIVE
        nxt = rollout.phases[i + 1].starts_at if i + 1 < len(rollout.phases) else None
        base.update(
            regions=phase.regions, phase_index=i, percentage=phase.percentage, next_change=nxt
        )
        return RolloutDecision(reason=reason, **base)

    def explain(
        self, kind: str, region_code: str, at: dt.datetime, *, catalog: RegionCatalog
    ) -> Explanation:
        """Say whether ``kind`` is enabled in a region at ``at``, why, and from when.

        Parameters
        ----------
        kind : str
            The alert kind.
        region_code : str
            A code at any level; it is enabled when it or any of its ancestors is, or when
            the enabled codes within it cover all of it (every municipality of a county).
        at : datetime.datetime
            Timezone-aware.
        catalog : RegionCatalog
            Names the region and knows its ancestors.

        Returns
        -------
        Explanation
            ``str()`` of it is a sentence for operators.

        Raises
        ------
        InvalidInput
            For a malformed kind name.
        UnknownCode
            For a region code the catalog does not know.
        InvalidPolicy
            For a code of the kind's phases that the catalog does not know, or outside the
            country, with its path (``kinds.tip_request.phases[1].regions``), as
            :meth:`timeline` says: the answer would leave out where that code enables.

        .. versionchanged:: 0.1.0
           The kind's codes are checked against ``catalog`` (a code it does not know was
           left out silently: "no phase of the policy enables it").

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> class Counties:  # any object with these methods is a RegionCatalog
        ...     names = {"SE": "Sverige", "01": "Stockholms län", "14": "Västra Götalands län"}
        ...     def level_of(self, code): return "country" if code == "SE" else "county"
        ...     def name_of(self, code): return self.names[code]
        ...     def ancestors(self, code): return () if code == "SE" else ("SE",)
        ...     def expand(self, codes, level): return frozenset(codes)
        >>> from geotarget.pilot import announced_policy
        >>> policy = announced_policy()
        >>> print(policy.explain("tip_request", "14", datetime(2024, 5, 1, tzinfo=timezone.utc),
        ...                      catalog=Counties()))  # doctest: +NORMALIZE_WHITESPACE
        Tip request alerts are not enabled in Västra Götalands län: no phase of the policy
        enables it.
        """
        decision = self.decide(kind, at)
        catalog = _report._check_codes(self, catalog, [decision.kind])
        return _decision.explain(self, decision, region_code, catalog)

    def in_canary(self, kind: str, device_ids: Any, at: dt.datetime) -> npt.NDArray[np.bool_]:
        """Whether each device is in the share of devices enabled for ``kind`` at ``at``.

        Geography is not checked here (that is the matcher's job): a device is in when the
        kind is enabled at ``at`` and its bucket (:func:`canary_buckets`) is below the active
        phase's ``percentage × 100``.

        Parameters
        ----------
        kind : str
            The alert kind: each kind has its own canary buckets.
        device_ids : array_like of str or int
            Any shape; see :func:`canary_buckets`.
        at : datetime.datetime
            Timezone-aware; the phase active then gives the percentage.

        Returns
        -------
        numpy.ndarray of bool
            In the shape of ``device_ids``.
        """
        d = self.decide(kind, at)
        b = _canary.buckets(device_ids, self.salt, d.kind)
        if not d.enabled:
            return np.zeros(b.shape, dtype=np.bool_)
        return np.asarray(b < _threshold(d.percentage), dtype=np.bool_)

    def timeline(self, kind: str, catalog: RegionCatalog | None = None) -> Timeline:
        """From when each region code is enabled for ``kind`` (and until when, on rollback).

        Parameters
        ----------
        kind : str
            The alert kind.
        catalog : RegionCatalog, optional
            The region hierarchy (``geotarget.sweden.hierarchy()``). With it, a phase that
            lists the county ``"01"`` instead of its municipality ``"0180"`` is told as keeping
            Stockholm enabled, and a code rolls back only where no listed code covers it.
            Without it codes are compared as text, and a code no longer listed is said to be
            just that, since a listed code may contain it.

        Raises
        ------
        InvalidPolicy
            With a catalog: for a code of the kind it does not know, or outside the country.
        """
        return _report.timeline(self, _kind(kind), catalog)

    def diff(self, other: RolloutPolicy, catalog: RegionCatalog | None = None) -> PolicyDiff:
        """What changes from this policy to ``other``: settings, kinds, regions and instants.

        With a ``catalog`` (as for :meth:`timeline`), codes are compared by the places they
        cover: ``"0180"`` replaced by ``"01"`` is not a loss of Stockholm. Both policies' codes
        are checked against it (:class:`InvalidPolicy`).
        """
        if not isinstance(other, RolloutPolicy):
            raise InvalidType(f"other must be a RolloutPolicy (got {type(other).__name__})")
        return _report.diff(self, other, catalog)

    # -- new versions ----------------------------------------------------------------------

    def with_phase(self, kind: str, phase: Phase) -> RolloutPolicy:
        """A new policy with ``phase`` appended to the phases of ``kind``.

        This is how later phases of the pilot are added. Raises :class:`InvalidPolicy` (paths
        like ``kinds.crime_modus.phases[1]``) when the phase breaks the rules.

        Examples
        --------
        >>> from datetime import datetime
        >>> from zoneinfo import ZoneInfo
        >>> from geotarget.pilot import announced_policy
        >>> autumn = datetime(2024, 9, 2, tzinfo=ZoneInfo("Europe/Stockholm"))
        >>> p = announced_policy().with_phase("crime_modus", Phase(starts_at=autumn,
        ...                                                        regions={"01", "12", "14"}))
        >>> [sorted(ph.regions) for ph in p.rollout("crime_modus").phases]
        [['01'], ['01', '12', '14']]
        """
        k = _kind(kind)
        old = self.rollout(k)
        phases = (phase,) if old is None else (*old.phases, phase)
        try:
            new = KindRollout(kind=k, phases=phases, killed=bool(old and old.killed))
        except InvalidPolicy as err:
            # (told again knowing the country: a phase listing it drops no place)
            told = _sequence_problems(list(enumerate(phases)), "phases", self.country)
            raise InvalidPolicy(_prefixed(f"kinds.{k}", told or err.problems)) from err
        rest = [r for r in self.rollouts if r.kind != k]
        return attrs.evolve(self, rollouts=(*rest, new))

    def with_killed(self, killed: bool = True, *, kind: str | None = None) -> RolloutPolicy:
        """A new policy with the global kill switch, or that of ``kind``, set to ``killed``."""
        killed = _bool("killed", killed)
        if kind is None:
            return attrs.evolve(self, killed=killed)
        k = _kind(kind)
        old = self.rollout(k)
        if old is None:
            raise UnknownCode(f"the policy does not name {k!r}, so it has no kill switch")
        rest = [r for r in self.rollouts if r.kind != k]
        return attrs.evolve(self, rollouts=(*rest, attrs.evolve(old, killed=killed)))

    def validate(self, catalog: RegionCatalog) -> None:
        """Check every region code against ``catalog``; raise :class:`InvalidPolicy` listing all.

        Unknown codes, and codes that do not lie within :attr:`country`, are problems.
        """
        problems = _io.catalog_problems(self, catalog)
        if problems:
            raise InvalidPolicy(problems)

    # -- config as code --------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], catalog: RegionCatalog | None = None
    ) -> RolloutPolicy:
        """Read the JSON form (already parsed); see :meth:`from_json` for the rules."""
        return _io.from_data(data, catalog)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form as plain data, every field written, instants in :attr:`timezone`."""
        return _io.to_dict(self)

    @classmethod
    def from_json(
        cls, source: str | bytes | os.PathLike[str], catalog: RegionCatalog | None = None
    ) -> RolloutPolicy:
        """Read a policy from JSON text (``str``/``bytes``) or a file (a :class:`~pathlib.Path`).

        The type decides, never the content: a ``str`` is always the document itself (a file
        name given as ``str`` is refused with a hint to wrap it in ``pathlib.Path``); ``bytes``
        are the document in UTF-8; any :class:`os.PathLike` is a file, read as UTF-8 (a BOM is
        fine), of at most 4 MiB. A file that cannot be read (missing, a directory, not UTF-8,
        larger), a document nested
        too deeply or holding numbers beyond float's range is an :class:`InvalidPolicy` naming
        the path or the field, never an ``OSError``, ``RecursionError`` or ``OverflowError``.

        Validation collects every problem, each with its path (``kinds.tip_request.phases[2]``),
        and raises one :class:`InvalidPolicy`. Instants need an explicit UTC offset, unless the
        document sets ``timezone``: then wall-clock times and dates are read in that zone, and a
        wall time that a DST change skips or repeats is an error (write its offset). With a
        ``catalog``, unknown region codes are problems too.
        """
        return _io.from_json(source, catalog)

    def to_json(self) -> str:
        """The JSON form, indented, ending in a newline; :meth:`from_json` reads it back equal."""
        return _io.to_json(self)

    @classmethod
    def from_toml(
        cls, source: str | bytes | os.PathLike[str], catalog: RegionCatalog | None = None
    ) -> RolloutPolicy:
        """Read a policy from TOML text (``str``/``bytes``) or a file (a :class:`~pathlib.Path`).

        The same document as :meth:`from_json`, with TOML's native date-times allowed, and
        the same rule for ``source``: a ``str`` is TOML text, a :class:`~pathlib.Path` (any
        :class:`os.PathLike`) is a file. Needs ``tomllib`` (Python >= 3.11) or ``tomli``.

        Examples
        --------
        >>> policy = RolloutPolicy.from_toml('''
        ... timezone = "Europe/Stockholm"
        ... [[kinds.explosion.phases]]
        ... starts_at = 2024-04-15T00:00:00
        ... regions = ["SE"]
        ... ''')
        >>> policy.rollout("explosion").phases[0].starts_at.isoformat()
        '2024-04-14T22:00:00+00:00'
        """
        return _io.from_toml(source, catalog)

    def to_toml(self) -> str:
        """The TOML form, written deterministically; :meth:`from_toml` reads it back equal."""
        return _io.to_toml(self)


def _policy_field_problems(country: object, timezone: object, salt: object) -> list[Problem]:
    """Problems with a policy's scalar settings (shared with the file reader)."""
    problems = []
    if not isinstance(country, str) or not _CODE.fullmatch(country):
        problems.append(
            Problem("country", f"must be a region code: {_CODE_RULE} (got {_shown(country)})")
        )
    try:
        if not isinstance(timezone, str):
            raise ValueError(
                "must be an IANA time zone name such as 'Europe/Stockholm' "
                f"(got {_shown(timezone)})"
            )
        _time.zone(timezone)
    except ValueError as err:
        problems.append(Problem("timezone", str(err)))
    if not isinstance(salt, str) or not _SALT.fullmatch(salt):
        problems.append(
            Problem(
                "salt",
                f"must be 1 to 64 letters, digits, '_', '.', ':' or '-' (got {_shown(salt)})",
            )
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Canary buckets and ready-made policies
# ---------------------------------------------------------------------------------------------


def canary_buckets(
    device_ids: Any, *, kind: str, salt: str = DEFAULT_SALT
) -> npt.NDArray[np.uint16]:
    """The stable canary bucket, ``0 … 9999``, of every device id for one kind.

    A device is in a canary of ``p`` % iff its bucket ``< round(p × 100)``; raising ``p`` never
    drops a device. String ids are hashed with BLAKE2b of ``"{salt}/{kind}/{id}"``; integer ids
    with splitmix64 in numpy. A string that is an integer's canonical text is that integer, as in
    device identity: ``7`` and ``"7"`` are one device with one bucket (``"007"`` is another). The
    exact definition, for other implementations, is in ``tests/conformance/rollout/README.md``.

    Parameters
    ----------
    device_ids : array_like of str, bytes or int
        Any shape. Strings cost one ``hashlib`` call each; integers are fully vectorized.
    kind : str
        The alert kind, hashed with the id so that kinds draw different canaries.
    salt : str, default DEFAULT_SALT
        The policy's :attr:`RolloutPolicy.salt`.

    Returns
    -------
    numpy.ndarray of uint16
        In the shape of ``device_ids``.

    Examples
    --------
    >>> canary_buckets(["device-1", "device-2"], kind="crime_modus").tolist()
    [9043, 9390]
    >>> canary_buckets([1, 2, 3], kind="crime_modus").tolist()
    [4064, 5231, 5576]
    >>> canary_buckets([7, "7", "007"], kind="crime_modus").tolist()
    [5234, 5234, 2823]

    .. versionchanged:: 0.1.0
       ``"7"`` is the device ``7`` (canonical identity); a mix of strings and integers is fine.
    """
    return _canary.buckets(device_ids, salt, _kind(kind))


def nationwide(
    country_code: str = "SE",
    *,
    starts_at: dt.datetime = _EPOCH,
    kinds: Iterable[str] | None = None,
    timezone: str = _DEFAULT_TIMEZONE,
) -> RolloutPolicy:
    """A policy that enables ``kinds`` in the whole country.

    Parameters
    ----------
    country_code : str, default "SE"
        The code of the country region the one phase enables.
    starts_at : datetime.datetime, default 1970-01-01T00:00Z (always)
        When the phase starts, timezone-aware.
    kinds : iterable of str, optional
        Kind names. Default: the kinds of the Swedish pilot (:data:`geotarget.pilot.KINDS`).
    timezone : str, default "Europe/Stockholm"
        The IANA zone of the policy's local dates.

    Raises
    ------
    InvalidPolicy
        For a malformed kind name, with its path (``kinds[1]``).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> nationwide().decide("tip_request", datetime(2025, 1, 1, tzinfo=timezone.utc)).reason.value
    'NATIONWIDE'
    """
    if kinds is None:
        from geotarget import pilot

        kinds = [k.name for k in pilot.KINDS]
    chosen = _kind_names("kinds", kinds)
    if not isinstance(country_code, str):
        raise InvalidType(f"country_code must be a region code str (got {brief(country_code, 60)})")
    phase = Phase(starts_at=starts_at, regions={country_code})
    return RolloutPolicy(
        rollouts=[KindRollout(kind=k, phases=[phase]) for k in dict.fromkeys(chosen)],
        country=country_code,
        timezone=timezone,
    )
