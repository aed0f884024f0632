"""Private: the incident book of :class:`geotarget.targeting.Targeter`, and its lifecycle rules.

A *version* is one message, identified by ``(sender, identifier)``. An *incident* is the chain
of versions an Alert starts; it is identified by the version id of its first version and keyed
``f"{sender}/{identifier}"`` in the ledger. The rules (see ``docs/who_is_told.rst``):

* An Alert with an unseen version id starts an incident; an Update or Cancel joins the incident
  of the first of its references that is known (as a version, or as a reference of an earlier
  Update).
* The same version again with equal content is a re-submission; with different content it is a
  :class:`~geotarget.errors.DuplicateIdentifier`.
* An Update or Cancel is authorised only from the incident's sender or a sender the issuer
  table lets act for it (``may_act_for``), and only with the incident's status.
* The *current* version is the non-Cancel version with the greatest ``sent`` (ties: the later
  processed); an older one is superseded.
* A Cancel ends the incident for good. A Cancel that names no known version is remembered: its
  references are marked cancelled, so the Alert or Update arriving later is never delivered; if
  that version joins an incident already delivered, the remembered Cancel ends that incident.
* An Update that names no known version starts the incident itself, keyed by its first
  reference.

:class:`IncidentBook` holds the state in memory behind a narrow interface (look up by version
id, record a version, mark cancelled, remembered cancels) so that it can move into the durable
store later. :func:`resolve` decides what a message does without changing anything;
:meth:`IncidentBook.apply` makes that decision happen. The caller holds one lock around both.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from geotarget.alerts import Alert, MessageType, Status
from geotarget.errors import DuplicateIdentifier

VersionId = tuple[str, str]


def version_id(alert: Alert) -> VersionId:
    """The version id ``(sender, identifier)`` of a message."""
    return (alert.sender, alert.identifier)


def key_of(vid: VersionId) -> str:
    """The ledger key of the incident whose first version is ``vid``."""
    return f"{vid[0]}/{vid[1]}"


def first_difference(a: object, b: object, path: str = "") -> str:
    """The path of the first field where two equal-typed values differ (for error messages)."""
    if type(a) is not type(b):
        return path or "type"
    cls: Any = type(a)
    if attrs.has(cls):
        for f in attrs.fields(cls):
            if not f.eq:
                continue
            name = f.name.lstrip("_")
            x, y = getattr(a, f.name), getattr(b, f.name)
            if x != y:
                return first_difference(x, y, f"{path}.{name}" if path else name)
        return path
    if isinstance(a, tuple) and isinstance(b, tuple):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        return f"{path} (length {len(a)} vs {len(b)})"
    return path


@attrs.define
class Incident:
    """One incident's state (mutable; only the book changes it, under the caller's lock)."""

    first: VersionId
    sender: str
    status: Status
    current: Alert | None = None
    cancelled: bool = False
    #: Whether ``current`` was delivered by ``target()`` (then ``on_positions`` streams it).
    streaming: bool = False

    @property
    def key(self) -> str:
        return key_of(self.first)


class Action(enum.Enum):
    """What a message does to the book."""

    TARGET = "target"  # evaluate it (a new incident, a newer version, or a re-submission)
    SUPERSEDED = "superseded"  # older than the incident's current version
    CANCEL = "cancel"  # ends the incident
    CANCELLED = "cancelled"  # belongs to an incident that was cancelled
    UNKNOWN_REFERENCE = "unknown_reference"  # a Cancel naming no known version
    NOT_AUTHORISED = "not_authorised"  # another sender or status than the incident's


@attrs.frozen
class Resolution:
    """The decision for one message, before anything changes."""

    action: Action
    incident: VersionId | None
    #: The message is a version already in the book (a re-submission).
    known: bool = False
    #: An Update that named no known version: it starts the incident itself.
    orphan: bool = False
    why: str = ""


class IncidentBook:
    """Every incident seen, in memory. Not thread-safe by itself: callers hold one lock."""

    def __init__(self) -> None:
        self._versions: dict[VersionId, tuple[VersionId, Alert]] = {}
        self._aliases: dict[VersionId, VersionId] = {}  # referenced, unseen → incident
        self._incidents: dict[VersionId, Incident] = {}
        self._cancelled_refs: set[VersionId] = set()
        self._orphan_cancels: dict[VersionId, Alert] = {}

    # --- the narrow interface --------------------------------------------------------------

    def version(self, vid: VersionId) -> tuple[VersionId, Alert] | None:
        """The incident and content of a recorded version, or None."""
        return self._versions.get(vid)

    def incident_of(self, vid: VersionId) -> Incident | None:
        """The incident a version id belongs to (recorded, or referenced by one), or None."""
        hit = self._versions.get(vid)
        first = hit[0] if hit is not None else self._aliases.get(vid)
        return None if first is None else self._incidents[first]

    def incident(self, first: VersionId) -> Incident | None:
        """The incident whose first version is ``first``."""
        return self._incidents.get(first)

    def is_cancel_remembered(self, vid: VersionId) -> bool:
        """Whether a Cancel that arrived first named this version id."""
        return vid in self._cancelled_refs

    def live(self) -> list[Incident]:
        """Incidents not cancelled whose current version was delivered, by key."""
        return sorted(
            (i for i in self._incidents.values() if i.streaming and not i.cancelled),
            key=lambda i: i.key,
        )

    def record(self, first: VersionId, alert: Alert, *, current: bool) -> Incident:
        """Record a version of incident ``first`` (created if new); make it current if asked."""
        inc = self._incidents.get(first)
        if inc is None:
            inc = self._incidents[first] = Incident(first, alert.sender, alert.status)
        vid = version_id(alert)
        self._versions.setdefault(vid, (first, alert))
        self._aliases.pop(vid, None)
        for ref in alert.references:
            rid = (ref.sender, ref.identifier)
            if rid not in self._versions and rid not in self._aliases:
                self._aliases[rid] = first
        if current:
            inc.current = alert
        return inc

    def mark_cancelled(self, first: VersionId) -> None:
        """End an incident for good."""
        inc = self._incidents[first]
        inc.cancelled = True
        inc.streaming = False

    def remember_cancel(self, cancel: Alert) -> None:
        """Remember a Cancel naming no known version: its references are cancelled."""
        self._orphan_cancels.setdefault(version_id(cancel), cancel)
        self._cancelled_refs.update((r.sender, r.identifier) for r in cancel.references)

    # --- decisions -------------------------------------------------------------------------

    def resolve(
        self, alert: Alert, may_act_for: Callable[[str, str], bool] | None = None
    ) -> Resolution:
        """What ``alert`` (an Alert, Update or Cancel) does; changes nothing.

        ``may_act_for(sender, owner)`` says whether ``sender`` may change an incident that
        ``owner`` started; by default only the owner itself may.

        Raises
        ------
        DuplicateIdentifier
            If its version id was seen with different content.
        """
        vid = version_id(alert)
        seen = self._versions.get(vid)
        if seen is None and vid in self._orphan_cancels:
            seen = (vid, self._orphan_cancels[vid])
        if seen is not None and seen[1] != alert:
            raise DuplicateIdentifier(
                alert.sender, alert.identifier, first_difference(seen[1], alert)
            )
        inc = self.incident_of(vid)
        if inc is None and alert.msg_type is not MessageType.ALERT:
            for ref in alert.references:
                inc = self.incident_of((ref.sender, ref.identifier))
                if inc is not None:
                    break
        if inc is None:
            return self._new(alert, vid)
        known = vid in self._versions
        allowed = (
            alert.sender == inc.sender
            if may_act_for is None
            else may_act_for(alert.sender, inc.sender)
        )
        if not allowed or alert.status is not inc.status:
            what = (
                f"sender {alert.sender!r} may not act for sender {inc.sender!r}"
                if not allowed
                else f"its status {alert.status.value} is not the incident's"
            )
            return Resolution(
                Action.NOT_AUTHORISED,
                inc.first,
                why=(
                    f"incident {inc.key} belongs to sender {inc.sender!r} with status "
                    f"{inc.status.value}; this {alert.msg_type.value} has sender "
                    f"{alert.sender!r} and status {alert.status.value}: {what}"
                ),
            )
        if inc.cancelled:
            return Resolution(Action.CANCELLED, inc.first, known=known)
        if alert.msg_type is MessageType.CANCEL:
            return Resolution(Action.CANCEL, inc.first, known=known)
        refs = [(r.sender, r.identifier) for r in alert.references]
        if any(self.is_cancel_remembered(v) for v in (vid, *refs)):
            # A Cancel that arrived first named this version: now that it joins a known
            # incident, that Cancel ends the incident (and everyone told is retracted).
            return Resolution(
                Action.CANCEL, inc.first, known=known, why="a Cancel naming it arrived first"
            )
        cur = inc.current
        if cur is not None and alert.sent < cur.sent:
            return Resolution(
                Action.SUPERSEDED,
                inc.first,
                known=known,
                why=(
                    f"version {alert.identifier} (sent {alert.sent.isoformat()}) is older than "
                    f"the incident's current version {cur.identifier} (sent "
                    f"{cur.sent.isoformat()})"
                ),
            )
        return Resolution(Action.TARGET, inc.first, known=known)

    def _new(self, alert: Alert, vid: VersionId) -> Resolution:
        if alert.msg_type is MessageType.CANCEL:
            return Resolution(Action.UNKNOWN_REFERENCE, None, why=_refs_text(alert))
        refs = [(r.sender, r.identifier) for r in alert.references]
        if alert.msg_type is MessageType.ALERT:
            first = vid
            cancelled = self.is_cancel_remembered(vid)
        else:
            first = refs[0]
            cancelled = any(self.is_cancel_remembered(v) for v in (vid, *refs))
        if cancelled:
            return Resolution(Action.CANCELLED, first, why="a Cancel for it arrived first")
        return Resolution(Action.TARGET, first, orphan=alert.msg_type is MessageType.UPDATE)

    def apply(self, alert: Alert, res: Resolution, *, current: bool = True) -> Incident | None:
        """Make a resolution happen (everything except TARGET's delivery, which the caller does)."""
        a = res.action
        if a is Action.NOT_AUTHORISED:
            return None
        if a is Action.UNKNOWN_REFERENCE:
            self.remember_cancel(alert)
            return None
        assert res.incident is not None
        if a is Action.CANCELLED:
            inc = self.record(res.incident, alert, current=False)
            if not inc.cancelled:  # a new incident a remembered Cancel already ended
                self.mark_cancelled(res.incident)
            return inc
        if a is Action.CANCEL:
            inc = self.record(res.incident, alert, current=False)
            self.mark_cancelled(res.incident)
            return inc
        if a is Action.SUPERSEDED:
            return self.record(res.incident, alert, current=False)
        return self.record(res.incident, alert, current=current)


def _refs_text(alert: Alert) -> str:
    names = ", ".join(f"{r.sender}/{r.identifier}" for r in alert.references)
    return f"its references name no known version ({names})"
