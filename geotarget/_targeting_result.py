"""The answers of :mod:`geotarget.targeting`: outcomes, verdicts and results (private).

Defined here to keep the pipeline module small; import them from :mod:`geotarget.targeting`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from geotarget._validate import is_integer, shown
from geotarget.errors import InvalidInput, Problem
from geotarget.ledger._batch import split_canonical
from geotarget.ledger._model import Claims
from geotarget.rollout import RolloutDecision


class Outcome(enum.IntEnum):
    """What happened to one device for one alert (stored as int8).

    .. versionchanged:: 0.1.0
       ``UNKNOWN_LOCATION`` (4) split into :attr:`NO_FIX` (4) and :attr:`STALE_LOCATION`;
       :attr:`STALE_INCLUDED`, :attr:`NO_FIX_INCLUDED` and :attr:`BEYOND_BORDER` added.
    """

    #: Not in the alert area: a fresh fix whose accuracy disk is disjoint from the area, a
    #: stale fix the kind still accepts whose point lies outside the area grown by the stale
    #: margin, or a fix older than the kind accepts whose accuracy disk is disjoint from the
    #: area (its last known position is outside the area; :meth:`TargetingResult.explain`
    #: says so).
    #:
    #: .. versionchanged:: 0.1.0
    #:    A fix too old for the kind is ``OUTSIDE_AREA`` when its disk misses the area, so the
    #:    cost of targeting stays proportional to the devices near the area (issue 13).
    OUTSIDE_AREA = 0
    #: Inside the area (its whole accuracy disk): receives the alert.
    INSIDE = 1
    #: Its accuracy disk crosses the boundary and the kind fails open: receives the alert.
    AMBIGUOUS_INCLUDED = 2
    #: Its accuracy disk crosses the boundary and the kind fails closed: does not receive it.
    AMBIGUOUS_EXCLUDED = 3
    #: No fix at all (lon/lat NaN) and the kind does not tell such devices.
    NO_FIX = 4
    #: Covered by the area (in it, or counted in for an uncertain or old fix: an outcome
    #: that would tell it), but in a region where the kind is not enabled (yet).
    OUTSIDE_ROLLOUT = 5
    #: In an enabled region, but outside the canary share of devices.
    OUTSIDE_CANARY = 6
    #: The alert is a Test or Exercise and the device is not flagged as a tester.
    NOT_A_TESTER = 7
    #: The fix is older than the kind accepts (any stale fix when the kind has no stale rule,
    #: else one older than ``stale.max_age``, or of unknown time) and its accuracy disk meets
    #: the alert area: its age is what kept it from being told. Farther away such a fix is
    #: :attr:`OUTSIDE_AREA`.
    STALE_LOCATION = 8
    #: A stale fix within ``stale.max_age`` whose point lies in the area grown by
    #: ``stale.margin_m``: receives the alert.
    STALE_INCLUDED = 9
    #: No fix at all, and the kind tells such devices (``include_no_fix``): receives the alert.
    NO_FIX_INCLUDED = 10
    #: Covered by the area (as :attr:`OUTSIDE_ROLLOUT`) but in no region (beyond the
    #: country's territory), and the kind stops at the border (``beyond_border=False``).
    BEYOND_BORDER = 11


#: Outcomes whose devices are covered by the alert (they receive it, once).
COVERED = frozenset(
    {Outcome.INSIDE, Outcome.AMBIGUOUS_INCLUDED, Outcome.STALE_INCLUDED, Outcome.NO_FIX_INCLUDED}
)

#: What "covered" means for the outcomes that a region stopped: not always "in the area".
_COUNTED = "in it, or counted in by this kind's rules for an uncertain or old fix"


#: What :meth:`TargetingResult.explain` says of from when, when it cannot say the date.
_FROM_WHEN = "RolloutPolicy.explain says from when"
#: What :meth:`TargetingResult.explain` says of a device left out where its alert's sender's
#: issuer may not alert (followed by the region's code).
OUTSIDE_ISSUER = "located where the sender's issuer may not alert"


class LeftOut:
    """The rows a region left out (``OUTSIDE_ROLLOUT``), their regions, and from when.

    ``rows`` ascending, ``regions`` the finest region index of each (region indices, never
    coordinates); ``say(index)`` says why the kind is not enabled in that region and from
    when (:meth:`RolloutPolicy.explain <geotarget.rollout.RolloutPolicy.explain>`), or None.
    Asked only by :meth:`TargetingResult.explain`. A copy (pickle, ``copy.deepcopy``) keeps
    the rows and regions but not ``say``, which holds the policy and the regions.
    """

    __slots__ = ("regions", "rows", "say")

    def __init__(
        self,
        rows: npt.NDArray[np.int32],
        regions: npt.NDArray[np.int32],
        say: Callable[[int], str | None] | None,
    ) -> None:
        self.rows, self.regions, self.say = rows, regions, say

    def __reduce__(self) -> tuple[Any, ...]:
        return (LeftOut, (self.rows, self.regions, None))

    def said(self, row: int) -> str | None:
        """Why not and from when, for the region of ``row``; None when not known."""
        k = int(np.searchsorted(self.rows, row))
        if self.say is None or k >= self.rows.size or self.rows[k] != row:
            return None
        return self.say(int(self.regions[k]))


_WHY = {
    Outcome.OUTSIDE_AREA: "is outside the alert area",
    Outcome.INSIDE: "is inside the alert area",
    Outcome.AMBIGUOUS_INCLUDED: (
        "may be inside the alert area (its accuracy disk crosses the boundary) and this kind "
        "fails open"
    ),
    Outcome.AMBIGUOUS_EXCLUDED: (
        "may be inside the alert area (its accuracy disk crosses the boundary) but this kind "
        "fails closed"
    ),
    Outcome.NO_FIX: "has no location fix at all, and this kind does not tell such devices",
    Outcome.OUTSIDE_ROLLOUT: f"is covered by the alert area ({_COUNTED}) but in a region where "
    "this kind is not enabled",
    Outcome.OUTSIDE_CANARY: "is in an enabled region but outside the canary share of devices",
    Outcome.NOT_A_TESTER: "is not flagged as a tester, and this is a Test or Exercise alert",
    Outcome.STALE_LOCATION: (
        "has only a fix older than this kind accepts (or of unknown time) near the alert area, "
        "so whether it is in the area now is unknown"
    ),
    Outcome.STALE_INCLUDED: (
        "was last seen, by a stale fix this kind still accepts, within the alert area grown by "
        "the distance its owner may have moved"
    ),
    Outcome.NO_FIX_INCLUDED: "has no location fix at all, and this kind tells such devices",
    Outcome.BEYOND_BORDER: (
        f"is covered by the alert area ({_COUNTED}) but beyond the country's territory (in no "
        "region), and this kind stops at the border"
    ),
}


class Verdict(str, enum.Enum):
    """The alert-level answer of :meth:`Targeter.target` (wire value = name).

    .. versionchanged:: 0.1.0
       :attr:`NOT_AN_ALERT`, :attr:`NOT_PUBLIC`, :attr:`NOT_AUTHORISED`, :attr:`SUPERSEDED`,
       :attr:`UNKNOWN_REFERENCE`, :attr:`UNRECOGNISED_KIND` (``NOT_A_PILOT_KIND`` is now a
       deprecated alias of it), :attr:`UNKNOWN_ISSUER` and :attr:`BAD_SIGNATURE` added.
    """

    #: The alert was evaluated for every device; ``recipients`` are the new ones.
    DELIVER = "DELIVER"
    #: The alert's kind is not enabled at this instant (see ``rollout.reason``).
    KIND_NOT_ENABLED = "KIND_NOT_ENABLED"
    #: No recognition rule recognised the alert's kind; the reason names what was looked at.
    UNRECOGNISED_KIND = "UNRECOGNISED_KIND"
    #: Deprecated alias of :attr:`UNRECOGNISED_KIND`.
    NOT_A_PILOT_KIND = "UNRECOGNISED_KIND"
    #: The sender belongs to no issuer of the policy: it reaches nobody, changes nothing.
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    #: A document whose issuer must sign carries no valid signature: refused, nobody told.
    BAD_SIGNATURE = "BAD_SIGNATURE"
    #: The kind is enabled, but the alert area reaches no enabled region.
    AREA_OUTSIDE_ROLLOUT = "AREA_OUTSIDE_ROLLOUT"
    #: The alert has no area geometry (only geocodes or descriptions).
    NO_AREA = "NO_AREA"
    #: ``at`` is before the alert's onset.
    NOT_YET_ACTIVE = "NOT_YET_ACTIVE"
    #: ``at`` is at or after the alert's expiry, or the alert expires at or before its onset
    #: (never active).
    EXPIRED = "EXPIRED"
    #: A Cancel: nobody new receives it; ``retract`` lists who received the incident.
    CANCELLED = "CANCELLED"
    #: The blast-radius guard stopped it; call again with ``confirm=True`` to send anyway.
    BLAST_RADIUS = "BLAST_RADIUS"
    #: An Ack or Error message: not an alert; it changes no incident.
    NOT_AN_ALERT = "NOT_AN_ALERT"
    #: Status Draft or System, or scope Restricted or Private: never public; it changes no
    #: incident.
    NOT_PUBLIC = "NOT_PUBLIC"
    #: Outside the issuer's authority: a kind it may not issue, an area reaching regions
    #: outside its own, or an Update or Cancel from a sender that may not act for the
    #: incident's issuer, or with another status than the incident's.
    NOT_AUTHORISED = "NOT_AUTHORISED"
    #: Older than the incident's current version (named by it, or sent earlier where
    #: neither names the other: see :doc:`/who_is_told`): nobody new is told.
    SUPERSEDED = "SUPERSEDED"
    #: A Cancel naming no known version: remembered, so the versions it names never deliver.
    #: Its reason names any live version a reference resembles (another case of its sender
    #: or identifier, a ``mailto:``), which this Cancel does not end.
    UNKNOWN_REFERENCE = "UNKNOWN_REFERENCE"


@attrs.frozen(kw_only=True)
class Delivery:
    """One pending (device, alert) delivery found by :meth:`Targeter.on_positions`.

    Attributes
    ----------
    device_id : str or int
        As the positions gave it.
    alert_id : str
        The identifier of the incident's current version.
    incident : str
        The incident key.
    key : str
        The delivery key ``"{incident} {version} {device}"``: pass it to the push service as
        the idempotency or collapse key, then to :meth:`Targeter.confirm`. The same on every
        offer (:meth:`Targeter.redeliver`).

    .. versionchanged:: 0.1.0
       ``key``: deliveries are pending until confirmed.
    """

    device_id: str | int
    alert_id: str
    incident: str
    key: str

    def __repr__(self) -> str:
        """The alert, never the device (its id, also in ``key``, is personal data)."""
        return f"<Delivery of alert {self.alert_id!r} (incident {self.incident!r}) to a device>"


@attrs.frozen(kw_only=True, eq=False)
class TargetingResult:
    """The answer for one alert at one instant: who receives it, and why everyone else not.

    Attributes
    ----------
    alert_id : str
        The alert's identifier.
    incident : str or None
        The incident's key ``sender/identifier`` of its first version, shared by an alert and
        its Updates and Cancel (see :meth:`Targeter.incident_of`); None for a message that
        belongs to no incident (an Ack, a Draft, a Cancel naming no known version).
    at : datetime.datetime
    verdict : Verdict
    reason : str
        One readable sentence on the verdict.
    next_change : datetime.datetime or None
        When the verdict may change (a phase start, the onset), where that applies; for
        ``DELIVER`` and ``NO_AREA`` also the next start or end of an info block's window
        when the blocks' windows differ (the area in effect changes then: target the alert
        again to tell the devices of a block that begins). For
        ``AREA_OUTSIDE_ROLLOUT``, the start of the first later phase that enables a region the
        area reaches (None when no phase does), not merely the next phase start, or the next
        start or end of an info block's window if that comes first. None when
        that change comes at or after the alert expires: it changes nothing for this alert
        (the reason still names it, "after this alert expires"). Then
        :meth:`~geotarget.targeting.Targeter.retarget` (or ``target()`` of the alert again)
        delivers it: ``on_positions`` streams only an incident whose current version
        ``target()`` delivered.
    rollout : RolloutDecision or None
        The policy's decision (reason, phase, policy hash), when the kind was looked up.
    recipients : numpy.ndarray
        Device ids that must receive the alert now: covered and not told before. In
        ascending id order (integers ascending, text by code point), whatever the order of
        the snapshot's rows.

        .. versionchanged:: 0.1.0
           In id order (they were in the snapshot's row order).
    no_longer_covered : numpy.ndarray
        Devices claimed for the incident earlier (told, or pending: a push may be in flight)
        that this version does not cover — an Update moved or shrank the area, or (even when
        it widens) their newest fix left it — as canonical text (``str``). They are not told
        again (a pending one is held, docs/delivery.rst); a Cancel still retracts them. Listed
        only for a version that is delivered (``DELIVER``): an Update that reaches nobody yet
        (``NOT_YET_ACTIVE``, ``AREA_OUTSIDE_ROLLOUT``, ``BLAST_RADIUS`` …) evaluates no device,
        and this is empty although its incident's earlier area no longer streams
        (docs/who_is_told.rst, "Time").
    retract : numpy.ndarray
        For a Cancel: every device that received the incident, as canonical text (``str``).
    counts : mapping of Outcome to int
        How many devices had each outcome; they add up to the number of devices. Empty when
        the devices were not evaluated (every verdict but ``DELIVER``, the blast-radius guard
        included).
    already_delivered : int
        Covered devices left out because they received the incident before.
    per_county : mapping of str to int
        New recipients per county code; those in no county — beyond the border (kinds that
        allow it, such as Explosion) or without a fix (kinds that fail open) — under the key
        :attr:`NO_COUNTY` (``"none"``), so the counts add up to ``len(recipients)``.
    area_km2 : float or None
        The alert area's geodesic area.
    timings : mapping of str to float
        Seconds spent per step.
    claims : Claims or None
        The pending deliveries behind ``recipients`` (or, for a Cancel, the retractions of
        ``retract`` not confirmed yet: a Cancel sent again offers none a device was told of):
        their delivery keys (:meth:`~geotarget.ledger.Claims.keys`) and lease. Push each, then
        :meth:`Targeter.confirm` its key; what is not confirmed within the lease comes back
        from :meth:`Targeter.redeliver`. None when nobody is told.
    kind : str or None
        The kind recognised, when recognition ran and succeeded.
    recognised_by : str or None
        The name of the recognition rule that recognised it (``"geotarget:kind"`` for the
        built-in rule).
    issuer : str or None
        The name of the issuer the sender belongs to (None with ``Issuers.any()``).
    warnings : tuple of Problem
        What strict CAP reading found odd (from :meth:`Targeter.receive`), with paths; from
        :meth:`Targeter.target` and :meth:`Targeter.preview`, each area of an Alert or Update
        that has no geometry beside areas that have some (geocodes only: it reaches nobody).
    signature : str or None
        ``"verified"`` when :meth:`Targeter.receive` verified the document's signature.

    .. versionchanged:: 0.1.0
       ``kind``, ``recognised_by``, ``issuer``, ``warnings`` and ``signature``; ``claims``:
       recipients are pending deliveries.
    """

    alert_id: str
    incident: str | None
    at: dt.datetime
    #: The :attr:`per_county` key of new recipients located in no county.
    NO_COUNTY: ClassVar[str] = "none"

    verdict: Verdict
    reason: str
    next_change: dt.datetime | None = None
    rollout: RolloutDecision | None = None
    recipients: npt.NDArray[Any] = attrs.field(factory=lambda: np.array([], dtype=object))
    no_longer_covered: npt.NDArray[Any] = attrs.field(factory=lambda: np.array([], dtype=object))
    retract: npt.NDArray[Any] = attrs.field(factory=lambda: np.array([], dtype=object))
    counts: Mapping[Outcome, int] = attrs.field(factory=dict)
    already_delivered: int = 0
    per_county: Mapping[str, int] = attrs.field(factory=dict)
    area_km2: float | None = None
    timings: Mapping[str, float] = attrs.field(factory=dict)
    claims: Claims | None = None
    kind: str | None = None
    recognised_by: str | None = None
    issuer: str | None = None
    warnings: tuple[Problem, ...] = ()
    signature: str | None = None
    _ids: npt.NDArray[Any] | None = attrs.field(default=None, repr=False, alias="ids")
    _rows: npt.NDArray[np.int32] | None = attrs.field(default=None, repr=False, alias="rows")
    _outcomes: npt.NDArray[np.int8] | None = attrs.field(default=None, repr=False, alias="outcomes")
    #: The snapshot's ``observed_at`` (a reference, not a copy) and the kind's oldest accepted
    #: fix: ``(limit, max_age)``; for :meth:`explain` only, never scanned.
    _observed_at: npt.NDArray[Any] | None = attrs.field(
        default=None, repr=False, alias="observed_at"
    )
    _too_old: tuple[np.datetime64, dt.timedelta] | None = attrs.field(
        default=None, repr=False, alias="too_old"
    )
    #: The alert's info blocks have windows of their own: the area evaluated is the area in
    #: effect at :attr:`at` (:meth:`~geotarget.alerts.Alert.area_at`), not every block's.
    _windowed: bool = attrs.field(default=False, repr=False, alias="windowed")
    #: The enabled regions left out because the area reaches them only by a sliver past its
    #: issuer's regions (``Targeter(border_slack_m=...)``): for :meth:`explain`.
    _past_issuer: frozenset[str] = attrs.field(default=frozenset(), repr=False, alias="past_issuer")
    #: The devices a region left out, with their regions: :meth:`explain` says from when.
    _left_out: LeftOut | None = attrs.field(default=None, repr=False, eq=False, alias="left_out")

    def __repr__(self) -> str:
        """Counts, never device ids: a result is logged, and its ids are personal data."""
        return (
            f"<TargetingResult {self.alert_id!r} at {self.at.isoformat()}: "
            f"{self.verdict.value}, {len(self.recipients):,} new recipient(s), "
            f"{len(self.no_longer_covered):,} no longer covered, {len(self.retract):,} to "
            f"retract, {self.already_delivered:,} already delivered; kind {self.kind!r}>"
        )

    def outcome_of(self, device_id: str | int) -> Outcome | None:
        """The outcome of one device, or None if the alert was not evaluated per device.

        ``device_id`` is matched by its canonical text (``1`` is ``"1"``).

        Raises
        ------
        InvalidInput
            For a ``device_id`` that is not a str or an int, or (when the devices were
            evaluated) one that is not in the positions targeted.
        """
        if self._ids is None or self._rows is None or self._outcomes is None:
            return None
        row = self._row_of(device_id)
        k = np.searchsorted(self._rows, row)
        if k < self._rows.size and self._rows[k] == row:
            return Outcome(int(self._outcomes[k]))
        return Outcome.OUTSIDE_AREA

    def _row_of(self, device_id: str | int) -> int:
        assert self._ids is not None
        hits = np.flatnonzero(_same_device(self._ids, device_id))
        if hits.size == 0:
            raise InvalidInput(f"device_id {shown(device_id)} is not in the positions targeted")
        return int(hits[0])

    def _too_old_fix(self, device_id: str | int) -> str | None:
        """How a device's fix is too old for the kind ("older than 1 h"), or None if it is not."""
        if self._observed_at is None or self._too_old is None:
            return None
        limit, max_age = self._too_old
        seen = self._observed_at[self._row_of(device_id)]
        if np.isnat(seen):
            return "of unknown time"
        return f"older than {_age_text(max_age)}" if seen < limit else None

    def explain(self, device_id: str | int) -> str:
        """Say in one sentence why a device receives the alert now, or why not.

        Raises
        ------
        InvalidInput
            As :meth:`outcome_of`.

        Examples
        --------
        See :class:`Targeter`.
        """
        outcome = self.outcome_of(device_id)
        # a numpy id (np.int64(1003), np.str_) is shown as the Python value: 1003, not its repr
        shown = repr(device_id.item() if isinstance(device_id, np.generic) else device_id)
        if outcome is None:
            return f"device {shown} does not receive alert {self.alert_id}: {self.reason}"
        why = _WHY[outcome]
        # A kind recognised by a policy rule (not the geotarget:kind code) says which rule.
        how = (
            f" ({self.kind}, recognised by rule {self.recognised_by!r})"
            if self.recognised_by not in (None, "geotarget:kind")
            else ""
        )
        if outcome is Outcome.OUTSIDE_ROLLOUT and self.rollout is not None:
            codes = sorted(self.rollout.regions)  # which regions are, so the operator can ask
            enabled = ", ".join(codes[:5]) + (
                f" and {len(codes) - 5} more" if len(codes) > 5 else ""
            )
            said = None if self._left_out is None else self._left_out.said(self._row_of(device_id))
            past = ", ".join(sorted(self._past_issuer))
            if said is not None and said.startswith(OUTSIDE_ISSUER):
                why = f"is covered by the alert area ({_COUNTED}) but {said}"
                if past:
                    why += f" (the area reaches {past} only by a sliver past its issuer's regions)"
            else:
                why += f" (it is enabled in {enabled} only; {said or _FROM_WHEN})"
                if past:
                    why += (
                        f", or in a region the area reaches only by a sliver past its issuer's "
                        f"regions ({past}), where that issuer may not alert"
                    )
        if outcome is Outcome.OUTSIDE_CANARY and self.rollout is not None:
            # Which share, and that it is the device's own (fixed by its id): not chance.
            phase = self.rollout.phase_index
            when = "" if phase is None else f"phase {phase + 1} "
            why += (
                f" ({when}enables this kind for {self.rollout.percentage:g}% of devices, drawn "
                "by a hash of each device's id, so the same devices each time)"
            )
        # With info blocks of windows of their own, the area evaluated is the blocks' in effect
        # at ``at``: a device outside it may lie in a block's area that begins later (or has
        # ended), which "the alert area" (every block's, Alert.area) holds.
        area = (
            f"the area in effect at {self.at.isoformat()} (the alert's info blocks have "
            "windows of their own; a block in effect at another time may cover it)"
            if self._windowed
            else "the alert area"
        )
        if outcome is Outcome.OUTSIDE_AREA and (old := self._too_old_fix(device_id)) is not None:
            why = f"its last fix, {old}, lies outside {area}"
            return f"device {shown} does not receive alert {self.alert_id}{how}: {why}"
        if outcome is Outcome.OUTSIDE_AREA:
            why = f"is outside {area}"
        if outcome in COVERED:
            if _same_device(self.recipients, device_id).any():
                return f"device {shown} receives alert {self.alert_id}{how}: it {why}"
            # Claimed before: told (confirmed), or its delivery still pending (a push that
            # failed, or not confirmed yet). A result does not know which without a read of
            # the store, so it says both: "received" alone told an operator looking for a
            # device that never got the alert that it had.
            return (
                f"device {shown} does not receive alert {self.alert_id}{how} again: it "
                f"{why}, and it already received incident {self.incident}, or a delivery of "
                "it is pending (not confirmed yet: redeliver() offers it again, with the same "
                "key)"
            )
        return f"device {shown} does not receive alert {self.alert_id}{how}: it {why}"

    def summary(self) -> str:
        """A few lines for people: verdict, reason and counts."""
        lines = [f"{self.alert_id}: {self.verdict.value} — {self.reason}"]
        if self.counts:
            parts = ", ".join(f"{o.name.lower()} {n:,}" for o, n in self.counts.items() if n)
            lines.append(f"  devices: {parts or 'none (the snapshot holds no device)'}")
            lines.append(
                f"  recipients now: {len(self.recipients):,} (already told: "
                f"{self.already_delivered:,}; no longer covered: {len(self.no_longer_covered):,})"
            )
        if len(self.retract):
            lines.append(f"  retract from: {len(self.retract):,} devices")
        return "\n".join(lines)


def _age_text(age: dt.timedelta) -> str:
    """A fix age for people, exactly: ``"24 h"``, ``"30 min"``, ``"90 s"``, ``"0.000001 s"``.

    In whole hours, minutes or seconds when it is one (``"1,000,001 s"``), else in seconds
    with every digit of its microseconds: never rounded to six significant digits.
    """
    us = age // dt.timedelta(microseconds=1)
    for unit, size in (("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000)):
        if us % size == 0:
            return f"{us // size:,} {unit}"
    sign, us = ("-", -us) if us < 0 else ("", us)
    return f"{sign}{us // 1_000_000:,}.{us % 1_000_000:06d}".rstrip("0") + " s"


def _same_device(ids: npt.NDArray[Any], device_id: object) -> npt.NDArray[np.bool_]:
    """Which of ``ids`` are ``device_id``, by canonical text (``1`` is ``"1"``)."""
    if not (isinstance(device_id, str) or is_integer(device_id)):
        raise InvalidInput(f"device_id must be a str or an int (got {shown(device_id)})")
    if ids.dtype.kind == "U":
        try:
            text = str(device_id)
        except ValueError:  # an int of over 4,300 digits: no text id (256 characters at most)
            return np.zeros(ids.shape, dtype=np.bool_)
        return np.asarray(ids == text, dtype=np.bool_)
    if isinstance(device_id, (int, np.integer)):
        return np.asarray(ids == device_id, dtype=np.bool_)
    values, _, _, _ = split_canonical(np.array([device_id], dtype=np.str_))
    if not values.size:
        return np.zeros(ids.shape, dtype=np.bool_)
    return np.asarray(ids == values[0], dtype=np.bool_)


def _isin(values: npt.NDArray[Any], pool: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """``numpy.isin`` that answers False (rather than failing) when the id kinds differ."""
    if values.size == 0 or pool.size == 0 or values.dtype.kind != pool.dtype.kind:
        return np.zeros(values.shape, dtype=np.bool_)
    return np.isin(values, pool)
