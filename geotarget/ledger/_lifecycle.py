"""Incident lifecycle rules, written once for every store.

A store runs :func:`admit` inside one of its transactions, through the small :class:`Tx`
interface; the rules (issue 10 semantics, section 2) therefore hold across processes exactly as
far as the store's transaction isolation does: SQLite's ``BEGIN IMMEDIATE`` and PostgreSQL's row
locks make every admission and every claim of an incident happen one after another.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol
from xml.sax.saxutils import unescape

import attrs

from geotarget.errors import InvalidInput, InvalidType
from geotarget.ledger._model import (
    Admission,
    Claims,
    Incident,
    IncidentState,
    Transition,
    from_micros,
    micros,
    stored_alert,
)

if TYPE_CHECKING:
    from geotarget.alerts import Alert
    from geotarget.alerts._area import Ring


@attrs.frozen
class Row:
    """One incident row as every store keeps it."""

    state: int
    version: str | None
    sent_us: int | None
    sender: str | None
    status: str | None
    document: str | None
    cancel_version: str | None
    changed_us: int
    released: str | None = None

    def incident(self, key: str) -> Incident:
        """The public view of this row."""
        return Incident(
            key=key,
            state=IncidentState(self.state),
            version=self.version,
            document=self.document,
            changed_at=from_micros(self.changed_us),
            released=self.released,
            owner=self.sender,
            status=self.status,
            cancelled_by=self.cancel_version,
        )


class Tx(Protocol):
    """What :func:`admit` needs from a store, inside one transaction."""

    def version(self, vid: str) -> tuple[str, str | None] | None:
        """The (incident, document) of a known version id; document None for a placeholder."""
        ...

    def incident_row(self, key: str) -> Row | None:
        """The incident's row, locked for update until the transaction ends."""
        ...

    def early_cancels(self, vids: list[str]) -> list[str]:
        """The documents of the remembered Cancels that named any of these version ids.

        Every one of them (a version may be named by several Cancels that came first), in no
        particular order; :func:`admit` decides which of them may end the incident.
        """
        ...

    def legacy_cancels(self, vids: list[str]) -> list[str]:
        """The version ids of Cancels that named any of these ids first, kept without a document.

        A store written by the first builds that kept incidents (before a remembered Cancel
        kept its document) recorded only which Cancel named which version. Empty elsewhere.
        """
        ...

    def documents(self, key: str) -> list[tuple[str, str]]:
        """The (version id, document) of every version of the incident seen (no placeholder)."""
        ...

    def put_version(
        self, vid: str, incident: str, document: str | None, sent_us: int | None, at_us: int
    ) -> None:
        """Record a version of an incident (or fill in a placeholder's document)."""
        ...

    def put_incident(self, key: str, row: Row) -> None:
        """Insert or replace the incident's row."""
        ...

    def remember_cancels(self, vids: list[str], cancel_vid: str, document: str, at_us: int) -> None:
        """Remember these version ids as cancelled by ``cancel_vid`` (a Cancel that came first).

        Also keeps the Cancel's own document (the first one, by its version id), so that its id
        re-used later with other content is a conflict.
        """
        ...

    def remembered(self, vid: str) -> str | None:
        """The document of a remembered Cancel (one that named no known version), or None."""
        ...

    def refused(self, vid: str) -> str | None:
        """The document of an Update refused before admission (see :func:`_through_refused`)."""
        ...

    def put_refused(self, vid: str, document: str, at_us: int) -> None:
        """Record an Update refused before admission (the first document is kept)."""
        ...

    def retract(self, key: str, cancel_vid: str, at_us: int, lease_us: int) -> Claims:
        """Mark the incident cancelled and make a retraction for every device claimed."""
        ...

    def merge(self, other: str, into: str, at_us: int) -> None:
        """Move incident ``other``'s versions and deliveries to ``into``; mark it MERGED.

        Each delivery keeps its version, kind, state, lease and order; a device delivered in
        both keeps ``into``'s delivery, confirmed if either was.
        """
        ...

    def renew(self, key: str) -> None:
        """Give incident ``key``'s row a new identity, its deliveries having moved away.

        A store handle that remembers the devices claimed per incident (the SQL stores) then
        knows its memory of ``key`` is of another row, in every process.
        """
        ...

    def reclaim(self, vids: list[str], incident: str) -> None:
        """Make those of these version ids never seen (placeholders) versions of ``incident``.

        A version id whose document the store holds keeps its incident.
        """
        ...


def refused_record(alert: object) -> tuple[str, str]:
    """The version id and CAP document under which a refused Update is recorded.

    For :meth:`~geotarget.ledger.DeliveryLedger.refuse`: only an Update naming earlier
    messages links anything.
    """
    from geotarget import cap
    from geotarget.alerts import Alert, MessageType

    if not isinstance(alert, Alert):
        raise InvalidType(f"alert must be an Alert (got {type(alert).__name__})")
    if alert.msg_type is not MessageType.UPDATE or not alert.references:
        raise InvalidInput(
            f"alert must be an Update naming earlier messages in its references to be recorded "
            f"as refused (got msgType {alert.msg_type.value!r} with "
            f"{len(alert.references)} reference(s))"
        )
    return version_id(alert.sender, alert.identifier), cap.dumps(alert)


def link_refused(
    tx: Tx,
    alert: Alert,
    at_us: int,
    may_act_for: Callable[[str, str], bool] | None = None,
) -> Admission:
    """Record an Update refused before admission; link the chain it names (one transaction).

    It changes no incident's current version and tells nobody: it is recorded so that a
    message naming it names, through it, the versions it names (:func:`_through_refused`).
    An Update that arrived before it may already have named it, starting an incident of its
    own keyed by it or joining one (the refused Update's id is a version never seen there):
    then the refused Update links that incident and those of the versions it names, one
    chain, as an admitted one would (:func:`_merge`, under the authority rule), so that each
    device is told the chain once and a Cancel naming any of its versions ends all of it; a
    cancelled part cancels the chain, its retractions due at once. Returns what happened:
    ``NOT_AUTHORISED``, with the incident it linked and the incidents merged into it.
    """
    vid, doc = refused_record(alert)
    tx.put_refused(vid, doc, at_us)
    linked = _link_refused(tx, alert, vid, at_us, may_act_for)
    # A Cancel that arrived before it and named it was remembered for it: through it, that
    # Cancel names the versions it names, and ends their chain now (under the authority rule,
    # as any Cancel), its retractions due at once; in this transaction, so that a process
    # stopping after it leaves no refusal recorded whose Cancel was not applied.
    ended: list[str] = []
    words: list[str] = []
    for document in tx.early_cancels([vid]):
        cancel = stored_alert(document, f"a Cancel naming {vid!r}")
        got = admit(tx, cancel, at_us, 1, may_act_for)
        if got.transition is Transition.RETRACTED and got.incident is not None:
            keys = [got.incident.key, *got.also_cancelled]
            ended.extend(keys)
            words.extend(f"Cancel {got.version} ended incident {k}" for k in keys)
    if not ended:
        return linked
    why = (
        f"a Cancel that arrived before it named it, and through it names the versions it "
        f"names: {', '.join(words)} (its retractions are due now)"
    )
    return attrs.evolve(
        linked,
        also_cancelled=tuple(dict.fromkeys(ended)),
        why=f"{linked.why}; {why}" if linked.why else why,
    )


def _link_refused(
    tx: Tx,
    alert: Alert,
    vid: str,
    at_us: int,
    may_act_for: Callable[[str, str], bool] | None,
) -> Admission:
    """:func:`link_refused`'s link of the chain ``alert`` (refused, recorded) names."""
    seen = tx.version(vid)
    if seen is None or seen[1] is not None:
        # Named by nothing yet (a message naming it looks through it), or a version the store
        # holds (a known version sent again and refused: its chain is linked already).
        return Admission(transition=Transition.NOT_AUTHORISED, version=vid, incident=None)
    key = seen[0]
    row = tx.incident_row(key)
    if row is None or _not_allowed(alert, row, may_act_for) is not None:
        return Admission(transition=Transition.NOT_AUTHORISED, version=vid, incident=None)
    refs = [
        v
        for v in dict.fromkeys(
            version_id(r.sender, r.identifier)
            for r in _through_refused(tx, alert.references, vid, may_act_for)
        )
        if v != vid
    ]
    for ref in refs:
        if tx.version(ref) is None and (
            sender_of(ref) == row.sender
            or row.sender is None
            or (may_act_for is not None and may_act_for(sender_of(ref), row.sender))
        ):
            tx.put_version(ref, key, None, None, at_us)
    row, (merged, cancel, _) = _merge(tx, key, row, refs, tx.version, alert, may_act_for, at_us)
    if merged and row.state == IncidentState.CANCELLED.value:
        tx.retract(key, row.cancel_version or key, at_us, 0)
    elif cancel is not None:
        tx.retract(key, cancel, at_us, 0)
    return Admission(
        transition=Transition.NOT_AUTHORISED,
        version=vid,
        incident=tx.incident_row(key).incident(key),  # type: ignore[union-attr]
        merged=tuple(merged),
    )


def first_difference(a: object, b: object, path: str = "") -> tuple[str, object, object]:
    """The path of the first field where two equal-typed values differ, and its two values.

    For error messages: ``("sent", a.sent, b.sent)``; tuples of different lengths give the
    path with both lengths and the two lengths as the values.
    """
    if type(a) is not type(b):
        return path or "type", a, b
    cls: Any = type(a)
    if attrs.has(cls):
        for f in attrs.fields(cls):
            if not f.eq:
                continue
            name = f.name.lstrip("_")
            x, y = getattr(a, f.name), getattr(b, f.name)
            if x != y:
                return first_difference(x, y, f"{path}.{name}" if path else name)
        return path, a, b
    if isinstance(a, tuple) and isinstance(b, tuple):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        return f"{path} (length {len(a)} vs {len(b)})", len(a), len(b)
    return path, a, b


_FIRST = "a Cancel naming it arrived first"


def _first(cancel: str, refs: list[str]) -> str:
    """Why a remembered Cancel ends the incident: it named the version, or the version names it."""
    return f"it names Cancel {cancel}, which arrived first" if cancel in refs else _FIRST


def _through_refused(
    tx: Tx,
    references: Iterable[Any],
    vid: str,
    may_act_for: Callable[[str, str], bool] | None = None,
) -> list[Any]:
    """``references`` and, through each Update among them refused before admission, its own.

    An Update the Targeter's gate refused (its issuer's regions or kinds, an unrecognised
    kind) changes no incident, but its issuer counts it as its chain's newest message: its
    next Update or Cancel may name only it. Naming it names its chain: the versions it names
    (and, through one of them refused too, theirs), each once, so a Cancel naming only it
    ends the chain instead of being remembered for a version that never comes, and an Update
    naming only it joins the chain instead of starting one of its own. A version the store
    holds is not looked through: the chain is found through it. Only the versions of its
    own sender's chain are named through it (its sender's, or of a sender it may act for): a
    message of another agency it cites is no version of its chain, as for an admitted Update.
    """
    out = list(references)
    seen = {version_id(r.sender, r.identifier) for r in out} | {vid}
    todo = [v for v in seen if v != vid]
    while todo:  # each refused Update once: bounded by those recorded
        ref = todo.pop()
        if tx.version(ref) is not None:
            continue
        document = tx.refused(ref)
        if document is None:
            continue
        refused = stored_alert(document, f"refused Update {ref!r}")
        for r in refused.references:
            named = version_id(r.sender, r.identifier)
            own = r.sender == refused.sender or (
                may_act_for is not None and may_act_for(refused.sender, r.sender)
            )
            if own and named not in seen:
                seen.add(named)
                out.append(r)
                todo.append(named)
    return out


def _cancelled_early(
    tx: Tx,
    vids: list[str],
    sender: str,
    status: str,
    may_act_for: Callable[[str, str], bool] | None,
    refs: Iterable[str] = (),
) -> str | None:
    """A remembered Cancel of this chain that may end this incident: its version id.

    One naming any of ``vids``, or one that ``refs`` (the message's references) name: a
    message naming a Cancel is later than it, in its chain ("any version of the chain
    identifies the incident"), whatever order the three arrived in. None if there is none.
    The incident is ``sender``'s, with ``status``. A Cancel that came first is held to the rule
    every Cancel is held to: it ends the incident only if its sender may act for the
    incident's sender and its status is the incident's (a Test Cancel never ends an Actual
    incident, another sender's Cancel never ends mine).
    """
    named = [d for d in map(tx.remembered, dict.fromkeys(refs)) if d is not None]
    for document in [*tx.early_cancels(vids), *named]:
        cancel = stored_alert(document, f"a Cancel naming {', '.join(vids)!r}")
        allowed = (
            cancel.sender == sender if may_act_for is None else may_act_for(cancel.sender, sender)
        )
        if allowed and cancel.status.value == status:
            return version_id(cancel.sender, cancel.identifier)
    # A Cancel a store of an early build remembered without its document (see
    # Tx.legacy_cancels): the build that recorded it ended the version it named, and so does
    # every build, or processes of two builds on one store would disagree about the incident.
    # Its sender is in its version id (those builds wrote "{sender}/{identifier}" as it is);
    # its status was not kept: that build did not ask.
    for cancel_vid in tx.legacy_cancels(vids):
        if _legacy_sender_may_act(cancel_vid, sender, may_act_for):
            return cancel_vid
    return None


def _own_unseen(
    refs: list[str],
    senders: dict[str, str],
    version_of: Callable[[str], tuple[str, str | None] | None],
    sender: str,
    may_act_for: Callable[[str, str], bool] | None,
) -> str | None:
    """The first of ``refs`` never seen whose sender ``sender`` may act for, or None.

    The original of an Update's own chain, when it names only incidents of senders it may
    not act for beside it (``refs`` earliest sent first; ``senders``: each one's sender).
    """
    for ref in refs:
        owner = senders[ref]
        mine = owner == sender or (may_act_for is not None and may_act_for(sender, owner))
        if mine and version_of(ref) is None:
            return ref
    return None


def _acts(sender: str, row: Row | None, may_act_for: Callable[[str, str], bool] | None) -> bool:
    """Whether ``sender`` may act for the sender of the incident of ``row`` (status aside)."""
    if row is None or row.sender is None or row.sender == sender:
        return True
    return may_act_for is not None and may_act_for(sender, row.sender)


def _legacy_sender_may_act(
    cancel_vid: str, owner: str, may_act_for: Callable[[str, str], bool] | None
) -> bool:
    """Whether the sender of a Cancel known only by its version id may act for ``owner``."""
    if cancel_vid.startswith((f"{owner}/", version_id(owner, ""))):
        return True
    if may_act_for is None:
        return False
    # The sender ends at the first "/" (an escaped one, or one of a build that escaped none;
    # a sender holding "/" then reads as its first part, which acts for nobody else).
    return bool(may_act_for(sender_of(cancel_vid), owner))


def replaced(
    found: tuple[str, str | None] | None,
    row: Row | None,
    incident: str,
    version: str,
    *,
    current: bool = False,
) -> bool:
    """Whether ``version`` is an Alert or Update of ``incident`` that is no longer current.

    ``found`` is the store's ``(incident, document)`` of the version id, ``row`` the
    incident's row. A delivery key naming such a version was issued before an Update made
    another version current, which moved the delivery to it (see
    :meth:`~geotarget.ledger.DeliveryLedger.confirm`). ``current``: the current version
    counts too, for a key of another incident merged into this one since: its delivery went
    to this incident, where a device delivered in both kept this incident's delivery, of
    whatever version, and the key still names the version its push told.
    """
    from geotarget.alerts import MessageType

    if found is None or found[0] != incident or found[1] is None or row is None:
        return False
    if version == row.cancel_version or (version == row.version and not current):
        return False
    return stored_alert(found[1], f"version {version!r}").msg_type is not MessageType.CANCEL


def moved(row: Row | None, into: Row | None) -> bool:
    """Whether the deliveries of the incident of ``row`` moved to the incident of ``into``.

    So they did when it merged into another (:attr:`IncidentState.MERGED`, maybe through
    further merges), or when it gave way to its original (:func:`_give_way`: its drill moved
    to an incident of its own, of the same owner and another status, and its key started
    afresh). A delivery key naming an incident and a version of another incident it did not
    move to names no delivery: confirming it must not confirm that other incident's delivery
    of the device, which was never pushed under that key.
    """
    if row is None or into is None:
        return False
    if row.state == IncidentState.MERGED.value:
        return True
    return row.sender is not None and row.sender == into.sender and row.status != into.status


def version_id(sender: str, identifier: str) -> str:
    """The version id of a message: ``"{sender}/{identifier}"``, one id per message.

    CAP allows ``/`` in both (senders are often URLs: ``www.gov.uk/environment-agency``), so
    the sender's ``%`` and ``/`` are written ``%25`` and ``%2F``: the first ``/`` of an id
    then ends its sender, and sender ``a/b`` with identifier ``c`` is not sender ``a`` with
    identifier ``b/c``. A sender with neither (``polisen@polisen.se``) is written as it is.
    """
    if "/" in sender or "%" in sender:
        sender = sender.replace("%", "%25").replace("/", "%2F")
    return f"{sender}/{identifier}"


def sender_of(vid: str) -> str:
    """The sender of a version id (:func:`version_id`): up to its first ``/``, unescaped."""
    return vid.partition("/")[0].replace("%2F", "/").replace("%25", "%")


def same_message(document: str, alert: Alert, doc: str) -> bool:
    """Whether a stored CAP ``document`` is ``alert`` (``doc``: ``cap.dumps(alert)``).

    Equal text, or equal content: the same message relayed with its times written at
    another UTC offset, say, is the same message (an :class:`~geotarget.alerts.Alert`
    compares instants), whatever text the store kept of it. So is one whose unordered lists
    hold the same items in another order, or one of them twice (:func:`_canonical`): CAP's
    ``<references>`` name a set of earlier messages, and its ``<addresses>``, ``<code>``,
    ``<category>`` and ``<responseType>`` give their items no order either; nor does a
    ``<polygon>`` drawn from another vertex, or the other way round, enclose another area.
    """
    if document == doc:
        return True

    stored = stored_alert(document, f"version {version_id(alert.sender, alert.identifier)!r}")
    return bool(stored == alert or _canonical(stored) == _canonical(alert))


def _ring(ring: Ring) -> Ring:
    """``ring`` (closed) from its least point, in the direction whose points come first.

    The same ring drawn from another vertex or the other way round encloses the same area.
    """
    pts = ring[:-1]
    n = len(pts)
    start = min(pts)
    ways = [pts[i:] + pts[:i] for i in range(n) if pts[i] == start]
    back = pts[::-1]
    ways += [back[i:] + back[:i] for i in range(n) if back[i] == start]
    best = min(ways)
    return (*best, best[0])


def _canonical(alert: Alert) -> Alert:
    """``alert`` with its unordered lists in one order, each item once.

    The references, addresses and codes; each info block's categories and response types
    (the info blocks themselves keep their order: one per language, as sent); and each area's
    polygons, each ring from its least point in the direction whose points come first (the
    area a ring encloses does not depend on where it starts or which way it runs).
    """
    refs = sorted(set(alert.references), key=lambda r: (r.sender, r.identifier, r.sent))
    infos = [
        attrs.evolve(
            info,
            categories=sorted(set(info.categories)),  # (str enums: by their values)
            response_types=sorted(set(info.response_types)),
            areas=[
                attrs.evolve(area, polygons=[_ring(r) for r in area.polygons])
                for area in info.areas
            ],
        )
        for info in alert.infos
    ]
    return attrs.evolve(
        alert,
        references=refs,
        addresses=sorted(set(alert.addresses)),
        codes=sorted(set(alert.codes)),
        infos=infos,
    )


def admit(
    tx: Tx,
    alert: Alert,
    at_us: int,
    lease_us: int,
    may_act_for: Callable[[str, str], bool] | None = None,
) -> Admission:
    """Apply one Alert, Update or Cancel to the store's incidents (one transaction).

    ``may_act_for(sender, owner)`` says whether ``sender`` may change an incident ``owner``
    started; by default only the owner itself may.
    """
    from geotarget import cap
    from geotarget.alerts import Alert, MessageType

    if not isinstance(alert, Alert):
        raise InvalidType(f"alert must be an Alert (got {type(alert).__name__})")
    kind = alert.msg_type
    if kind not in (MessageType.ALERT, MessageType.UPDATE, MessageType.CANCEL):
        raise InvalidInput(
            f"msg_type must be one of 'Alert', 'Cancel', 'Update' to change an incident "
            f"(got {kind.value!r})"
        )
    vid = version_id(alert.sender, alert.identifier)
    doc = cap.dumps(alert)
    sent_us = micros("alert.sent", alert.sent)
    # Earliest sent first: CAP does not order <references>, and an Update whose original is
    # unknown keys its incident by the first of them (the chain's first version), so the
    # order an issuer happens to list them in must not decide the incident.
    chain = _through_refused(tx, alert.references, vid, may_act_for)
    by_sent = sorted(chain, key=lambda r: (r.sent, r.sender, r.identifier))
    refs = list(dict.fromkeys(version_id(r.sender, r.identifier) for r in by_sent))
    refs = [r for r in refs if r != vid]
    senders = {version_id(r.sender, r.identifier): r.sender for r in by_sent}

    def joins(ref: str, owner: str | None) -> bool:
        """Whether unseen ``ref`` becomes a version of an incident ``owner`` started.

        Only if its sender may act for ``owner``: another sender's version would join the
        incident only to be refused (NOT_AUTHORISED) when it arrives, so naming it would keep
        that sender's alert from everyone. Such a one arrives as its own incident.
        """
        sender = senders[ref]
        return (
            owner is None
            or sender == owner
            or (may_act_for is not None and may_act_for(sender, owner))
        )

    merged: list[str] = []  # other incidents this version joined to its own (see below)

    def done(transition: Transition, key: str | None, **kw: object) -> Admission:
        row = tx.incident_row(key) if key is not None else None
        incident = row.incident(key) if row is not None and key is not None else None
        return Admission(
            transition=transition,
            version=vid,
            incident=incident,
            merged=tuple(merged),
            **kw,  # type: ignore[arg-type]
        )

    def refused(row: Row) -> Transition | None:
        if row.state == IncidentState.CANCELLED.value:
            return Transition.CANCELLED
        if row.state == IncidentState.EXPIRED.value:
            return Transition.EXPIRED
        return None

    def new_row(state: IncidentState, current: bool, owner: str | None = None) -> Row:
        return Row(
            state=state.value,
            version=vid if current else None,
            sent_us=sent_us if current else None,
            sender=alert.sender if owner is None else owner,
            status=alert.status.value,
            document=doc if current else None,
            cancel_version=None,
            changed_us=at_us,
        )

    looked: dict[str, tuple[str, str | None] | None] = {}

    def version_of(ref: str) -> tuple[str, str | None] | None:
        """``tx.version`` of a reference, asked of the store once.

        References are never ``vid``, the only version this call records.
        """
        if ref not in looked:
            looked[ref] = tx.version(ref)
        return looked[ref]

    key: str | None
    others: list[str] = []  # for a Cancel: further incidents it ends (see below)
    moved = False  # a placeholder Cancel that ends another incident than its placeholder's
    also: list[str] = []
    why = ""  # (a merge into a cancelled incident: the retractions it made due)
    seen = tx.version(vid)
    if seen is None or seen[1] is None:
        # A Cancel that named no known version was remembered with its document: its id
        # re-used with other content is a conflict, like any version's.
        first = tx.remembered(vid)
        if first is not None and not same_message(first, alert, doc):
            key = seen[0] if seen is not None else None
            return done(Transition.CONFLICT, key, stored_document=first)
    if seen is not None:
        key, stored = seen
        row = tx.incident_row(key)
        assert row is not None
        if stored is not None:
            if not same_message(stored, alert, doc):
                return done(Transition.CONFLICT, key, stored_document=stored)
            no = refused(row)
            if no is not None:
                return done(no, key)
            if row.version == vid:
                # Sent again, it re-targets the incident (devices newly in its area are told):
                # its sender is held to the authority rule as it stands now, as its Cancel is.
                what = _not_allowed(alert, row, may_act_for)
                if what is not None:
                    why = _not_authorised(key, row, alert, f"{kind.value}, sent again,", what)
                    return done(Transition.NOT_AUTHORISED, key, why=why)
                return done(Transition.SAME, key)
            return done(Transition.SUPERSEDED, key, why=_older(alert, row, tx))
        # A placeholder: the original of an incident that an Update started. Join it below.
        if kind is MessageType.CANCEL:
            # A Cancel named before it arrived (an Update named its id): it ends that incident
            # and, as any Cancel naming versions of several incidents, each other one its
            # references name that it may end (those are not this placeholder's chain yet).
            named = (k[0] for k in map(version_of, refs) if k is not None)
            keys = list(dict.fromkeys([key, *named]))
            if len(keys) > 1:
                mine = [
                    k for k in keys if _not_allowed(alert, tx.incident_row(k), may_act_for) is None
                ]
                if mine:
                    # The placeholder's incident first, if it may end it; otherwise the
                    # first it may end (an Update of another status, a drill, named its id).
                    moved = mine[0] != key
                    key, others = mine[0], mine[1:]
    elif kind is MessageType.ALERT or not refs:
        existing = tx.incident_row(vid)
        if existing is not None and refused(existing) is not None:
            return done(refused(existing), vid)  # type: ignore[arg-type]
        early = _cancelled_early(tx, [vid], alert.sender, alert.status.value, may_act_for)
        if early is not None:
            ended = attrs.evolve(
                new_row(IncidentState.CANCELLED, current=False), cancel_version=early
            )
            tx.put_incident(vid, ended)
            tx.put_version(vid, vid, doc, sent_us, at_us)
            return done(Transition.CANCELLED, vid, why=_FIRST)
        if kind is MessageType.CANCEL:
            tx.put_incident(vid, new_row(IncidentState.CANCELLED, current=False))
            tx.put_version(vid, vid, doc, sent_us, at_us)
            return done(Transition.RETRACTED, vid, retraction=tx.retract(vid, vid, at_us, lease_us))
        tx.put_incident(vid, new_row(IncidentState.ACTIVE, current=True))
        tx.put_version(vid, vid, doc, sent_us, at_us)
        return done(Transition.STARTED, vid)
    else:
        keys = list(dict.fromkeys(k[0] for k in map(version_of, refs) if k is not None))
        key = keys[0] if keys else None
        if kind is MessageType.UPDATE and keys:
            # An Update naming versions of several incidents is a version of the first it may
            # act for (by its earliest-sent reference), which the others it may act for join
            # (see _merge): a message of a sender it may not act for (an agency's Update citing
            # another's warning) is no version of its chain, and answering for that incident
            # would refuse the Update, keeping its own incident's Update from everyone. Naming
            # none of a sender it may act for, it starts its own incident (below) if it names
            # an unseen version it may (its original, unknown yet); otherwise the first
            # refuses it. (Status is held to as before: an incident of its sender with another
            # status still answers, and refuses it.)
            mine = [k for k in keys if _acts(alert.sender, tx.incident_row(k), may_act_for)]
            if mine:
                key = mine[0]
            elif _own_unseen(refs, senders, version_of, alert.sender, may_act_for) is not None:
                key = None
        if kind is MessageType.CANCEL and len(keys) > 1:
            # A Cancel naming versions of several incidents ends each it may act for: the
            # first of those (by its earliest-sent reference) answers, the others end beside it.
            mine = [k for k in keys if _not_allowed(alert, tx.incident_row(k), may_act_for) is None]
            if mine:
                key, others = mine[0], mine[1:]
        if key is None:
            if kind is MessageType.CANCEL:
                tx.remember_cancels(refs, vid, doc, at_us)
                return done(Transition.REMEMBERED, None)
            # An Update whose original is unknown starts the incident, keyed by its earliest
            # reference (the chain's first version); the referenced ids become placeholders.
            # (The earliest of its sender's chain: a message of a sender it may not act for,
            # named beside it, is another's chain, seen or not.)
            key = _own_unseen(refs, senders, version_of, alert.sender, may_act_for) or refs[0]
            # The incident belongs to the sender of its first version, whom that reference
            # names: the Update starts it only if it may act for that sender, as it could join
            # it, so the original arriving later (and its sender's Cancel) is never refused as
            # another's.
            owner = next(r.sender for r in by_sent if version_id(r.sender, r.identifier) == key)
            what = _not_allowed(alert, new_row(IncidentState.ACTIVE, True, owner), may_act_for)
            if what is not None:
                return done(
                    Transition.NOT_AUTHORISED,
                    None,
                    why=(
                        f"its original {key} is unknown, and the incident it starts would belong "
                        f"to that version's sender {owner!r}; this {kind.value} has sender "
                        f"{alert.sender!r}: {what}"
                    ),
                )
            early = _cancelled_early(tx, [vid, *refs], owner, alert.status.value, may_act_for, refs)
            cancelled = early is not None
            state = IncidentState.CANCELLED if cancelled else IncidentState.ACTIVE
            start = attrs.evolve(
                new_row(state, current=not cancelled, owner=owner), cancel_version=early
            )
            tx.put_incident(key, start)
            tx.put_version(vid, key, doc, sent_us, at_us)
            for ref in refs:
                if version_of(ref) is None and joins(ref, owner):
                    tx.put_version(ref, key, None, None, at_us)
            if early is not None:
                return done(Transition.CANCELLED, key, why=_first(early, refs))
            return done(Transition.STARTED, key)

    row = tx.incident_row(key)
    assert row is not None
    what = _not_allowed(alert, row, may_act_for)
    assumed = what is not None and _assumed(tx, key, row, alert, may_act_for)
    if assumed:
        # The incident's status was only assumed, from an Update of another status naming
        # its original before it arrived. The original itself, Actual, takes it back; an
        # Actual Cancel naming it is refused here, as any of another status, but remembered
        # as a Cancel that came first: it ends the original when that arrives.
        if vid == key:
            row = _give_way(tx, key, row, alert, [vid, *refs], at_us)
            looked.clear()
            what = None
        elif kind is MessageType.CANCEL:
            unseen = [r for r in refs if (version_of(r) or (key, None))[1] is None]
            if unseen:
                tx.remember_cancels(unseen, vid, doc, at_us)
    if what is not None:
        why = _not_authorised(key, row, alert, kind.value, what)
        if kind is MessageType.CANCEL and not assumed:
            # It may not end this incident, but the versions it names that were never seen
            # (its sender's own alert, named beside another sender's message, arriving after
            # it) are remembered as a Cancel that came first would be: arriving, each is
            # cancelled under the authority rule, instead of reaching people.
            unseen = [r for r in refs if version_of(r) is None]
            if unseen:
                tx.remember_cancels(unseen, vid, doc, at_us)
                why += (
                    f"; remembered for the version{'' if len(unseen) == 1 else 's'} it names "
                    f"never seen ({', '.join(unseen)}): arriving, one it may end is cancelled"
                )
        return done(Transition.NOT_AUTHORISED, key, why=why)
    # Recorded even when the incident has ended, so that a later message naming this version
    # joins the ended incident (and is refused) instead of starting a new one.
    if moved:
        # A version of the incident it ends, not of the one whose Update named it: sent again
        # (a feed re-sends its messages), it answers for the incident it ended, CANCELLED,
        # not as an older version of that other incident.
        tx.reclaim([vid], key)
    tx.put_version(vid, key, doc, sent_us, at_us)
    if kind is not MessageType.CANCEL:
        # The versions it names that were never seen are earlier versions of this incident
        # (an Update names its own chain's): placeholders, as when an Update starts an
        # incident. One of them arriving late then joins the incident (and is superseded, not
        # told again), and a Cancel naming only it ends the incident, in whatever order the
        # chain arrived (its Updates naming only their predecessor, newest first as a feed
        # lists them).
        for ref in refs:
            if version_of(ref) is None and joins(ref, row.sender):
                tx.put_version(ref, key, None, None, at_us)
        # The versions it names that belong to other incidents: the same chain, split in two
        # by the order it arrived in (an Update naming only its predecessor, seen before that
        # predecessor, started an incident of its own). Naming versions of both, it links
        # them: the others it may act for join this one (versions and deliveries), so each
        # device is told the chain once and a Cancel naming any of its versions ends it all.
        row, chain_cancel = _merge(tx, key, row, refs, version_of, alert, may_act_for, at_us)
        merged.extend(chain_cancel[0])
        if merged and row.state == IncidentState.CANCELLED.value:
            # This incident was cancelled: so is the chain; the devices told in the others
            # get their retractions too (due at once, for the next redeliver()). The answer
            # says so: "nobody is told" alone would leave them showing a cancelled alert
            # until a redeliver() the caller had no reason to expect.
            owed = len(tx.retract(key, row.cancel_version or key, at_us, 0))
            if owed:
                why = (
                    f"{owed:,} retraction{'' if owed == 1 else 's'} not confirmed yet, for "
                    "the devices told in the chain, due now from redeliver()"
                )
        elif chain_cancel[1] is not None:
            # One of the others was cancelled: the chain is, and this incident with it.
            return done(
                Transition.RETRACTED,
                key,
                retraction=tx.retract(key, chain_cancel[1], at_us, lease_us),
                why=(
                    f"it names a version of incident {chain_cancel[2]}, which Cancel "
                    f"{chain_cancel[1]} ended: one chain with this incident, which it ends too"
                ),
            )
    if kind is MessageType.CANCEL:
        # The versions this Cancel names that were never seen are remembered as a Cancel that
        # came first would be: arriving late, each is cancelled (under the same authority
        # rule) instead of reaching people, whatever order the messages came in.
        unseen = [r for r in refs if version_of(r) is None]
        if unseen:
            tx.remember_cancels(unseen, vid, doc, at_us)
            # They are also earlier versions of this incident, as an Update's are ("any
            # version of the chain identifies the incident"): one arriving late, or re-sent
            # (a Cancel remembered before, which this one names), joins it, cancelled. Only
            # those of a sender that may act for the incident's: another's would join it
            # only to be refused (NOT_AUTHORISED), so a Cancel naming a later alert of a
            # sender it may not act for would keep that alert from everyone; remembered,
            # it arrives as its own incident, cancelled only under the authority rule.
            for ref in unseen:
                if joins(ref, row.sender):
                    tx.put_version(ref, key, None, None, at_us)
        # The other incidents it may end: their retractions are due at once (a lease of 0),
        # for the caller's next redeliver(); this call answers for the first incident only.
        for other in others:
            other_row = tx.incident_row(other)
            if other_row is not None and refused(other_row) is None:
                tx.retract(other, vid, at_us, 0)
                also.append(other)
    no = refused(row)
    if no is not None:
        return done(no, key, also_cancelled=tuple(also), why=why)
    if kind is MessageType.CANCEL:
        return done(
            Transition.RETRACTED,
            key,
            retraction=tx.retract(key, vid, at_us, lease_us),
            also_cancelled=tuple(also),
        )
    owner = alert.sender if row.sender is None else row.sender
    status = alert.status.value if row.status is None else row.status
    early = _cancelled_early(tx, [vid, *refs], owner, status, may_act_for, refs)
    if early is not None:
        # A Cancel that arrived first named this version: now that it joins a known incident,
        # that Cancel ends the incident (and everyone claimed gets a retraction keyed by it).
        return done(
            Transition.RETRACTED,
            key,
            retraction=tx.retract(key, early, at_us, lease_us),
            why=_first(early, refs),
        )
    # A placeholder was named by a version seen before: that one may be the chain's newest,
    # judged older on arriving only because this version, which links it to the current one,
    # was missing (a chain arriving out of order, with clocks that disagree).
    # Only when it replaces the current version: one older than it links nothing newer to it.
    head = row
    if _newer(vid, sent_us, refs, row, tx):
        head = attrs.evolve(row, version=vid, sent_us=sent_us, document=doc)
        placeholder = seen is not None and seen[1] is None
        for v, v_sent, v_refs, v_doc in _namers(tx, key, vid, row.version) if placeholder else []:
            if _newer(v, v_sent, v_refs, head, tx):
                head = attrs.evolve(head, version=v, sent_us=v_sent, document=v_doc)
    if head.version == vid:
        tx.put_incident(
            key,
            attrs.evolve(row, version=vid, sent_us=sent_us, document=doc, changed_us=at_us),
        )
        return done(Transition.UPDATED, key)
    if head.version != row.version:
        # A version seen before, which names this one, is the newest: it becomes current
        # (not released yet: Targeter.retarget() delivers it); this one is older.
        tx.put_incident(key, attrs.evolve(head, changed_us=at_us))
        # It may have been current before, and claimed then: a SQL store's handle remembering
        # those claims would take them as pending on it still, when another process may have
        # claimed some again under the version current meanwhile (held now, for its claims to
        # take). A new identity for the incident's row makes every handle read them again.
        # (Optional: a view without claims, as the Targeter's preview, has nothing to renew.)
        refresh = getattr(tx, "refresh", None)
        if refresh is not None:
            refresh(key)
        newest = (head.version or "?").partition("/")[2]  # (a sender's / is escaped)
        return done(
            Transition.SUPERSEDED,
            key,
            why=(
                f"version {alert.identifier} is older than version {newest}, seen before, whose "
                f"references name it; with this version linking them, {newest} is newer than "
                "the incident's current version and replaces it (retarget() delivers it)"
            ),
        )
    return done(
        Transition.SUPERSEDED, key, why=_older(alert, row, tx) + _area_given(alert, key, row, tx)
    )


def _namers(
    tx: Tx, key: str, vid: str, current: str | None
) -> list[tuple[str, int, list[str], str]]:
    """The incident's other Alert and Update versions seen that name ``vid`` (through others).

    Each as (version id, sent in µs, the version ids it names, document), in the order the
    store lists them.
    """
    out: list[tuple[str, int, list[str], str]] = []
    for other, document in tx.documents(key):
        if other in (vid, current):
            continue
        head = _HEAD.search(document)
        if head is None or head.group("type") == "Cancel":
            continue
        named = _refs_of(document)
        if _reaches(tx, named, vid):
            sent = dt.datetime.fromisoformat(head.group("sent"))
            out.append((other, micros("sent", sent), named, document))
    return out


class _Versions(Protocol):
    """What the walk through a chain's versions reads: a :class:`Tx`, or a store's lookup."""

    def version(self, vid: str) -> tuple[str, str | None] | None:
        """The (incident, document) of a known version id; document None for a placeholder."""
        ...


class _Lookup:
    """:class:`_Versions` over a store's ``lookup_version`` (read only, outside a transaction)."""

    __slots__ = ("_lookup",)

    def __init__(self, lookup: Callable[[str], tuple[str, str | None] | None]) -> None:
        self._lookup = lookup

    def version(self, vid: str) -> tuple[str, str | None] | None:
        return self._lookup(vid)


def replaces(
    alert: Alert,
    current: str,
    current_sent: dt.datetime | None,
    current_document: str | None,
    lookup: Callable[[str], tuple[str, str | None] | None],
) -> bool:
    """Whether ``alert`` would replace an incident's current version, as :func:`admit` judges.

    The same rule (:func:`_newer`: references first, through the versions the store holds,
    then ``sent``) outside a transaction, for answers that must agree with what admitting the
    alert would do: :meth:`~geotarget.targeting.Targeter.preview`, and the area an Update
    without geometry keeps. ``current``: the version id; ``lookup``: the store's
    ``lookup_version``.
    """
    row = Row(
        state=0,
        version=current,
        sent_us=None if current_sent is None else micros("sent", current_sent),
        sender=None,
        status=None,
        document=current_document,
        cancel_version=None,
        changed_us=0,
    )
    refs = list(dict.fromkeys(version_id(r.sender, r.identifier) for r in alert.references))
    vid = version_id(alert.sender, alert.identifier)
    return _newer(vid, micros("sent", alert.sent), refs, row, _Lookup(lookup))


def _newer(vid: str, sent_us: int, refs: list[str], row: Row, tx: _Versions) -> bool:
    """Whether version ``vid`` (naming ``refs``) replaces the incident's current version.

    The references decide first, ``sent`` only where they are silent: a version that names
    the current one supersedes it (CAP: an Update "supersedes the earlier message(s)
    identified in <references>"), and one the current version names is older, whatever
    either's clock said (an issuer's clocks may disagree by seconds). Naming goes through
    the versions the store holds: an Update that names only its predecessor names, through
    it, every version before (a chain V3 → V2 → V1 makes V1 older than V3 even when V1's
    ``sent`` is V3's, or later by a skewed clock). Otherwise the later ``sent`` wins, the
    later processed on a tie.
    """
    if row.version is None or row.sent_us is None or row.version in refs:
        return True
    current = _named(row.document) if row.document is not None else set()
    if vid in current:
        return False
    if _reaches(tx, refs, row.version):
        return True
    if _reaches(tx, current, vid):
        return False
    return sent_us >= row.sent_us


def _reaches(tx: _Versions, start: Iterable[str], target: str) -> bool:
    """Whether ``target`` is among ``start`` or the versions their stored documents name.

    Walks the references of the versions the store holds (a placeholder, never seen, names
    nothing), each version once, so its cost is bounded by the versions of the chain.
    """
    todo = list(start)
    seen = set(todo)
    if target in seen:
        return True
    while todo:
        found = tx.version(todo.pop())
        if found is None or found[1] is None:
            continue
        for ref in _refs_of(found[1]):
            if ref == target:
                return True
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return False


#: A stored document is geotarget's own CAP (``cap.dumps``): its first ``<sent>`` and
#: ``<msgType>`` are the alert's, and its ``<references>`` text holds only the triples (no
#: sender or identifier may hold whitespace, ``,``, ``<`` or ``&``, and a ``>`` is written
#: ``&gt;``; text elsewhere has its ``<`` escaped), so the version ids a stored version
#: names are read without parsing it.
_HEAD = re.compile(r"<sent>(?P<sent>[^<]+)</sent>.*?<msgType>(?P<type>\w+)</msgType>", re.S)
_REFERENCES = re.compile(r"<references>([^<]*)</references>")


def _refs_of(document: str) -> list[str]:
    """The version ids a stored version's references name, in document order."""
    found = _REFERENCES.search(document)
    if found is None:
        return []
    out: list[str] = []
    for item in unescape(found.group(1)).split():
        sender, identifier, _sent = item.split(",")
        out.append(version_id(sender, identifier))
    return list(dict.fromkeys(out))


def _named(document: str) -> set[str]:
    """The version ids a stored version's references name."""
    return set(_refs_of(document))


def _merge(
    tx: Tx,
    key: str,
    row: Row,
    refs: list[str],
    version_of: Callable[[str], tuple[str, str | None] | None],
    alert: Alert,
    may_act_for: Callable[[str, str], bool] | None,
    at_us: int,
) -> tuple[Row, tuple[list[str], str | None, str | None]]:
    """Join to incident ``key`` the other incidents of ``refs`` that ``alert`` may act for.

    Returns the incident's row (its current version the newest of the joined ones, as
    :func:`_newer` orders them) and ``(merged keys, a Cancel that ended one of them, that
    one's key)``.
    """
    merged: list[str] = []
    cancel: tuple[str | None, str | None] = (None, None)
    for other in dict.fromkeys(f[0] for f in map(version_of, refs) if f is not None):
        other_row = tx.incident_row(other) if other != key else None
        if (
            other_row is None
            or other_row.state == IncidentState.MERGED.value
            or _not_allowed(alert, other_row, may_act_for) is not None
        ):
            continue
        tx.merge(other, key, at_us)
        merged.append(other)
        if other_row.state == IncidentState.CANCELLED.value and cancel[0] is None:
            # (A store written by an earlier build kept no Cancel for an incident a Cancel
            # that came first ended: its key stands for it.)
            cancel = (other_row.cancel_version or other, other)
        current, sent, doc = other_row.version, other_row.sent_us, other_row.document
        if (
            current is not None
            and sent is not None
            and doc is not None
            and (row.version is None or _newer(current, sent, sorted(_named(doc)), row, tx))
        ):
            # The chain's newest version is current, alive or expired as it was there (a
            # cancelled one ends the chain below).
            lives = (IncidentState.ACTIVE.value, IncidentState.EXPIRED.value)
            state = (
                other_row.state if row.state in lives and other_row.state in lives else row.state
            )
            row = attrs.evolve(row, version=current, sent_us=sent, document=doc, state=state)
    if merged:
        row = attrs.evolve(row, changed_us=at_us)
        tx.put_incident(key, row)
    return row, (merged, cancel[0], cancel[1])


def _assumed(
    tx: Tx, key: str, row: Row, alert: Alert, may_act_for: Callable[[str, str], bool] | None
) -> bool:
    """Whether Actual ``alert`` is refused by incident ``key`` only for a status assumed.

    So it is when the incident is not Actual and its original (the version ``key`` names)
    never arrived: an Update (or several) of another status named the original before it
    arrived, and started the incident with its own status. Refusing the Actual original
    would let a Test or Exercise message naming an Actual alert's id keep that alert from
    everyone: the original decides its incident's status. (The other way round, an Actual
    incident never gives way: an Actual chain is never kept from the public by a Test
    message naming its versions.)
    """
    from geotarget.alerts import Status

    if alert.status is not Status.ACTUAL or row.status in (None, Status.ACTUAL.value):
        return False
    if row.state == IncidentState.MERGED.value:
        return False
    if _not_allowed(alert, attrs.evolve(row, status=alert.status.value), may_act_for):
        return False  # (its sender may not act for the incident's either)
    original = tx.version(key)
    return original is not None and original[1] is None and bool(tx.documents(key))


def _give_way(tx: Tx, key: str, row: Row, alert: Alert, vids: list[str], at_us: int) -> Row:
    """Move incident ``key``'s messages and deliveries to a key of their own; a fresh row.

    They move to the key of the earliest sent of them (the first version of their chain seen,
    as an Update whose original is unknown keys its incident), with their row; the version ids
    never seen among ``key`` and ``vids`` (``alert``'s own and its references) stay versions
    of ``key``, which becomes an incident of ``alert``'s status with no current version, so
    that ``alert`` joins it as its first version. Their deliveries keep their keys (a key is
    confirmed where its delivery went, as for a merged incident).
    """
    first = min(tx.documents(key), key=lambda d: (_sent_us(d[1]), d[0]))[0]
    tx.put_incident(first, attrs.evolve(row, changed_us=at_us))
    tx.merge(key, first, at_us)
    tx.renew(key)
    tx.reclaim(list(dict.fromkeys([key, *vids])), key)
    fresh = Row(
        state=IncidentState.ACTIVE.value,
        version=None,
        sent_us=None,
        sender=row.sender,
        status=alert.status.value,
        document=None,
        cancel_version=None,
        changed_us=at_us,
    )
    tx.put_incident(key, fresh)
    return fresh


def _sent_us(document: str) -> int:
    """A stored version's ``sent`` in µs (0 for a document without one)."""
    head = _HEAD.search(document)
    if head is None:
        return 0
    return micros("sent", dt.datetime.fromisoformat(head.group("sent")))


def _not_authorised(key: str, row: Row, alert: Alert, message: str, what: str) -> str:
    """The reason of a NOT_AUTHORISED Update or Cancel (``message``: its type, as worded)."""
    return (
        f"incident {key} belongs to sender {row.sender!r} with status {row.status}; this "
        f"{message} has sender {alert.sender!r} and status {alert.status.value}: {what}"
    )


def _not_allowed(
    alert: Alert, row: Row | None, may_act_for: Callable[[str, str], bool] | None
) -> str | None:
    """Why ``alert`` may not change the incident of ``row`` (its sender or status), or None."""
    if row is None or row.sender is None:
        return None
    allowed = (
        alert.sender == row.sender if may_act_for is None else may_act_for(alert.sender, row.sender)
    )
    if not allowed:
        return f"sender {alert.sender!r} may not act for sender {row.sender!r}"
    if alert.status.value != row.status:
        return f"its status {alert.status.value} is not the incident's"
    return None


#: Area geometry in a stored CAP document (text in it is escaped: never a tag).
_GEOMETRY = re.compile(r"<(?:polygon|circle)>")


def _area_given(alert: Alert, key: str, row: Row, tx: Tx) -> str:
    """A reason's tail: ``alert``, older, gives the current version the area it lacked.

    An Update without area geometry keeps that of the earlier versions it names; one that
    arrived before every version with an area reached nobody (no area) and was not
    delivered. Its original arriving later is older, so it tells nobody itself, but the
    current version now has an area: :meth:`~geotarget.targeting.Targeter.retarget` delivers
    it, which "superseded" alone did not say (nobody told, and nothing to do, read it).
    """
    if alert.area is None or row.released == row.version or row.document is None:
        return ""
    if _GEOMETRY.search(row.document) or not _reaches(
        tx, _named(row.document), version_id(alert.sender, alert.identifier)
    ):
        return ""
    mine = version_id(alert.sender, alert.identifier)
    if any(
        _GEOMETRY.search(document)
        for v, document in tx.documents(key)
        if v not in (mine, row.version)
    ):
        return ""  # (it had an area before this version: not delivered for another reason)
    return (
        "; that version has no area geometry and, no version with one seen before, reached "
        "nobody: it keeps this version's area from now on (retarget() delivers it)"
    )


def _older(alert: Alert, row: Row, tx: Tx) -> str:
    """Why ``alert`` is not the incident's current version (its ``row``)."""
    cur = row.version or "?"
    if row.sender is not None and cur.startswith(prefix := version_id(row.sender, "")):
        cur = cur[len(prefix) :]
    vid = version_id(alert.sender, alert.identifier)
    if row.document is not None:
        named = _named(row.document)
        if vid in named:
            return (
                f"version {alert.identifier} is older than the incident's current version "
                f"{cur}, which names it in its references"
            )
        if _reaches(tx, named, vid):
            return (
                f"version {alert.identifier} is older than the incident's current version "
                f"{cur}, whose references name it through the versions they name"
            )
    sent = from_micros(row.sent_us).isoformat() if row.sent_us is not None else "?"
    mine = alert.sent.astimezone(dt.timezone.utc).isoformat()
    return (
        f"version {alert.identifier} (sent {mine}) is older than the "
        f"incident's current version {cur} (sent {sent})"
    )
