"""Probe 5 of ``Targeter.preview``: every message answers as ``target()`` would, changing nothing.

The oracle is ``target()`` itself, run by a second Targeter over a fresh ``MemoryLedger`` that
was given the same history: the same verdict, reason, incident, ``next_change``, counts,
recipients, devices to retract and per-county counts. The preview's own ledger is read before
and after (active incidents, every pending delivery, the versions and Cancels remembered): it
must not change. The Swedish pilot's policy, hierarchy and recognition rules, over devices of
``sweden.synthetic_population``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from geotarget import Circle, PositionIndex, Positions, cap, pilot, sweden
from geotarget.alerts import Alert, Reference, Status
from geotarget.ledger import MemoryLedger
from geotarget.ledger._lifecycle import version_id
from geotarget.targeting import Targeter, TargetingResult, Verdict

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)
AT = T0 + 10 * M
SENDER = "polisen@polisen.se"
TEXT = pilot.Message(headline="Explosion", description="Risk för explosion.", area_description="X")
#: After every lease: every pending delivery is due then.
LATER = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)

History = Sequence[tuple[Alert, dt.datetime]]


@functools.cache
def _index() -> PositionIndex:
    lon, lat = sweden.synthetic_population(20_000, seed=5)
    ids = [f"d{i}" for i in range(lon.size)]
    return PositionIndex(
        Positions(ids, lon, lat, observed_at=T0 - M, accuracy_m=np.full(lon.size, 30.0))
    )


def _targeter() -> Targeter:
    return Targeter(
        sweden.hierarchy(),
        sweden.pilot_policy(),
        recognition=pilot.RECOGNITION,
        ledger=MemoryLedger(),
    )


def _alert(
    ident: str,
    *,
    kind: str = "explosion",
    sent: dt.datetime = T0,
    area: Circle | None = None,
    msg_type: str = "Alert",
    refs: Sequence[Alert] = (),
    status: str = "Actual",
    sender: str = SENDER,
    expires: dt.datetime | None = None,
) -> Alert:
    make = getattr(pilot, kind)
    return make(  # type: ignore[no-any-return]
        identifier=ident,
        sender=sender,
        sent=sent,
        area=Circle(18.06, 59.33, 4000.0) if area is None else area,
        sv=TEXT,
        en=TEXT,
        onset=sent,
        expires=sent + 6 * H if expires is None else expires,
        status=status,
        msg_type=msg_type,
        references=[_ref(r) for r in refs],
    )


def _ref(alert: Alert) -> Reference:
    return Reference(sender=alert.sender, identifier=alert.identifier, sent=alert.sent)


def _cancel(
    ident: str,
    refs: Sequence[Alert],
    sent: dt.datetime,
    *,
    status: str = "Actual",
    sender: str = SENDER,
) -> Alert:
    return Alert(
        identifier=ident,
        sender=sender,
        sent=sent,
        status=status,
        msg_type="Cancel",
        scope="Public",
        references=[_ref(r) for r in refs],
    )


def _replay(
    targeter: Targeter,
    history: History,
    confirm: bool,
    after: Callable[[Targeter], object] | None,
) -> None:
    for message, at in history:
        got = targeter.target(message, _index(), at, confirm=True)
        if confirm and got.claims is not None:
            targeter.confirm(got.claims.keys(), at)
    if after is not None:
        after(targeter)


def _store(targeter: Targeter, message: Alert) -> Any:
    """What a preview must leave as it was: incidents, deliveries, versions, remembered Cancels."""
    ledger = targeter.ledger
    vids = [version_id(message.sender, message.identifier)] + [
        version_id(r.sender, r.identifier) for r in message.references
    ]
    keys = set(vids) | {i.key for i in ledger.load_active()}
    found = [ledger.lookup_version(v) for v in vids]
    keys |= {f[0] for f in found if f is not None}
    return (
        [(i.key, i.state, i.version, i.released) for i in ledger.load_active()],
        targeter.active_incidents,
        [(c.incident, c.version, c.kind, c.ids().tolist()) for c in ledger.due(LATER)],
        found,
        [(ledger.remembered_cancel(v), sorted(ledger.cancels_naming(v))) for v in vids],
        {k: (ledger.incident(k), ledger.recipients(k).tolist()) for k in sorted(keys)},
    )


def _agree(
    history: History,
    message: Alert,
    at: dt.datetime = AT,
    *,
    confirm: bool = False,
    after: Callable[[Targeter], object] | None = None,
) -> tuple[TargetingResult, TargetingResult]:
    """Preview ``message`` after ``history``: target()'s answer, nothing changed.

    Returns the preview and target()'s result.
    """
    previewer = _targeter()
    _replay(previewer, history, confirm, after)
    before = _store(previewer, message)
    seen = previewer.preview(message, _index(), at)
    assert _store(previewer, message) == before, "the preview changed the store"
    oracle = _targeter()
    _replay(oracle, history, confirm, after)
    want = oracle.target(message, _index(), at, confirm=True)
    for name in (
        "verdict",
        "incident",
        "reason",
        "next_change",
        "rollout",
        "counts",
        "area_km2",
        "already_delivered",
        "per_county",
        "kind",
    ):
        assert getattr(seen, name) == getattr(want, name), name
    for name in ("recipients", "retract", "no_longer_covered"):
        assert sorted(getattr(seen, name).tolist()) == sorted(getattr(want, name).tolist()), name
    assert seen.claims is None
    return seen, want


A = _alert("a1")
B = _alert("b1", area=Circle(11.97, 57.70, 4000.0))
U = _alert("u1", sent=T0 + M, msg_type="Update", refs=[A], area=Circle(18.06, 59.33, 8000.0))
C = _cancel("c1", [A], T0 + 3 * M)


def _confirm_everything(targeter: Targeter) -> None:
    for claims in targeter.ledger.due(LATER):
        targeter.confirm(claims.keys(), AT)


def _retire(targeter: Targeter) -> None:
    targeter.on_positions(_index().positions, T0 + 3 * 24 * H)


X = _alert("x1", expires=T0 + 5 * M)

CANCELS: dict[str, tuple[History, Alert, Callable[[Targeter], object] | None, Verdict]] = {
    "known incident": ([(A, T0 + M)], C, None, Verdict.CANCELLED),
    "known, after an Update": ([(A, T0 + M), (U, T0 + 2 * M)], _cancel("c2", [A, U], T0 + 3 * M), None, Verdict.CANCELLED),
    "unknown incident": ([], C, None, Verdict.UNKNOWN_REFERENCE),
    "the same Cancel again": ([(A, T0 + M), (C, T0 + 4 * M)], C, None, Verdict.CANCELLED),
    "a second Cancel": ([(A, T0 + M), (C, T0 + 4 * M)], _cancel("c3", [A], T0 + 5 * M), None, Verdict.CANCELLED),
    "again, retractions confirmed": ([(A, T0 + M), (C, T0 + 4 * M)], C, _confirm_everything, Verdict.CANCELLED),
    "Test Cancel of an Actual incident": ([(A, T0 + M)], _cancel("c4", [A], T0 + 3 * M, status="Test"), None, Verdict.NOT_AUTHORISED),
    "Exercise Cancel of an Actual incident": ([(A, T0 + M)], _cancel("c5", [A], T0 + 3 * M, status="Exercise"), None, Verdict.NOT_AUTHORISED),
    "another sender's Cancel": ([(A, T0 + M)], _cancel("c6", [A], T0 + 3 * M, sender="other@example.se"), None, Verdict.NOT_AUTHORISED),
    "naming two incidents": ([(A, T0 + M), (B, T0 + M)], _cancel("c7", [A, B], T0 + 3 * M), None, Verdict.CANCELLED),
    "naming only a version never seen": ([(U, T0 + 2 * M)], C, None, Verdict.CANCELLED),
    "of an incident expired in the ledger": ([(X, T0 + M)], _cancel("c8", [X], T0 + 2 * M), _retire, Verdict.EXPIRED),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CANCELS))
def test_preview_of_a_cancel_answers_as_target(case: str) -> None:
    """A Cancel previewed: target()'s verdict, reason and devices to retract, nothing changed.

    Regression: every Cancel previewed answered NOT_AN_ALERT, "only an Alert or Update version
    can be previewed over devices", where target() retracts (CANCELLED, naming the devices
    told), remembers it (UNKNOWN_REFERENCE), refuses it (NOT_AUTHORISED) or says the incident
    expired.
    """
    history, cancel, after, verdict = CANCELS[case]
    seen, _ = _agree(history, cancel, after=after)
    assert seen.verdict is verdict


def test_preview_of_a_real_upstream_cancel_answers_as_target(shared_data: Path) -> None:
    """The Environment Agency's Cancel as sent (a sender with "/"), of a version it names.

    Its original, re-issued over Stockholm under the same sender, identifier and sent time.
    """
    data = (shared_data / "cap" / "alphagov_WAINFLEET_CANCEL_MINIMAL.xml").read_bytes()
    cancel = cap.read(data).alert
    named = cancel.references[0]
    original = _alert(
        named.identifier, sender=named.sender, sent=named.sent, expires=T0 + 30 * 24 * H
    )
    seen, _ = _agree([(original, T0)], cancel, T0 + M)
    assert seen.verdict is Verdict.CANCELLED
    assert seen.retract.size > 0
    assert _agree([], cancel, T0 + M)[0].verdict is Verdict.UNKNOWN_REFERENCE
    assert _agree([(cancel, T0)], original, T0 + M)[0].verdict is Verdict.CANCELLED


def test_preview_of_an_update_linking_a_cancelled_incident_tells_nobody() -> None:
    """An Update naming versions of two incidents, one cancelled: the chain is cancelled.

    Regression: the preview answered DELIVER to the Update's whole area (target(): CANCELLED,
    retracting the devices told of either incident).
    """
    linking = _alert(
        "u3", sent=T0 + 3 * M, msg_type="Update", refs=[A, B], area=Circle(18.06, 59.33, 9000.0)
    )
    history = [(A, T0 + M), (B, T0 + M), (_cancel("cb", [B], T0 + 2 * M), T0 + 2 * M)]
    seen, _ = _agree(history, linking)
    assert seen.verdict is Verdict.CANCELLED
    assert seen.recipients.size == 0


#: (history, message, after) whose reason the preview said in other words than target().
REASONS: dict[str, tuple[History, Alert, Callable[[Targeter], object] | None]] = {
    "an older version": ([(A, T0 + M), (U, T0 + 2 * M)], A, None),
    "an Update sent earlier": ([(A, T0 + M), (U, T0 + 2 * M)], _alert("u0", sent=T0 - M, msg_type="Update", refs=[A]), None),
    "an original after its Update": ([(U, T0 + 2 * M)], A, None),
    "an Update whose original is unknown": ([], U, None),
    "an Update of an incident expired in the ledger": ([(X, T0 + M)], _alert("x2", sent=T0 + 2 * M, msg_type="Update", refs=[X], expires=T0 + 30 * 24 * H), _retire),
    "a version a Cancel that came first names": ([(C, T0)], A, None),
    "an Update naming a remembered Cancel": ([(C, T0)], _alert("u4", sent=T0 + 2 * M, msg_type="Update", refs=[A, C]), None),
    "an Update linking two incidents": ([(A, T0 + M), (B, T0 + M)], _alert("u5", sent=T0 + 3 * M, msg_type="Update", refs=[A, B]), None),
    "a delivery": ([], A, None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REASONS))
def test_preview_gives_targets_reason(case: str) -> None:
    """The reason a user reads is target()'s, word for word (a delivery's with its count).

    Regression: the preview wrote its own reasons for a superseded, expired or cancelled
    version ("incident ... was expired", "a Cancel that arrived first ... names this version"),
    left out the prefix of an Update that started or linked an incident, and the count of new
    recipients of a delivery.
    """
    history, message, after = REASONS[case]
    _agree(history, message, after=after)


@pytest.mark.parametrize("confirm", [False, True], ids=["pending", "confirmed"])
@pytest.mark.parametrize(
    "update",
    [
        U,
        _alert("k2", kind="crime_modus", sent=T0 + M, msg_type="Update", refs=[A]),
        attrs.evolve(U, identifier="u6", infos=tuple(attrs.evolve(i, areas=()) for i in U.infos)),
    ],
    ids=["wider", "another kind", "no area"],
)
def test_preview_of_an_update_counts_the_deliveries_it_takes_over(
    update: Alert, confirm: bool
) -> None:
    """Devices whose delivery of the replaced version is still pending are new recipients.

    The claim moves them to the Update (they are pushed its text, not the old one's), so
    target() lists them. Regression: the preview counted them ``already_delivered`` and left
    them out of ``recipients`` and ``per_county``.
    """
    seen, _ = _agree([(A, T0 + M)], update, confirm=confirm)
    assert seen.verdict is Verdict.DELIVER
    if not confirm:
        assert seen.already_delivered == 0
        assert seen.recipients.size > 0


@pytest.mark.parametrize("status", [Status.TEST, Status.EXERCISE])
def test_preview_of_a_drill_and_its_actual_original(status: Status) -> None:
    """A drill Update naming an Actual original not seen yet, then the original: as target()."""
    drill = _alert("ud", sent=T0 + M, msg_type="Update", refs=[A], status=status.value)
    assert _agree([], drill)[0].verdict is Verdict.DELIVER
    assert _agree([(drill, T0 + 2 * M)], A)[0].verdict is Verdict.DELIVER


STORE_CASES: dict[str, tuple[History, Alert]] = {
    "Cancel of a known incident": ([(A, T0 + M)], C),
    "Cancel of an unknown incident": ([], C),
    "the same Cancel again": ([(A, T0 + M), (C, T0 + 4 * M)], C),
    "Update taking over pending deliveries": ([(A, T0 + M)], U),
    "Update linking a cancelled incident": (
        [(A, T0 + M), (B, T0 + M), (_cancel("cb", [B], T0 + 2 * M), T0 + 2 * M)],
        _alert("u3", sent=T0 + 3 * M, msg_type="Update", refs=[A, B]),
    ),
}


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
@pytest.mark.parametrize("case", list(STORE_CASES))
def test_preview_over_a_database_store_answers_as_its_target(
    store: str, case: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Over SQLite and PostgreSQL: the preview, then target() on the same store, agree.

    The preview reads the store through its public methods only; it changes nothing there, so
    target() called next on the same store is its oracle.
    """
    from geotarget.ledger import PostgresLedger, SQLiteLedger

    ledger: Any
    if store == "sqlite":
        ledger = SQLiteLedger(tmp_path / "ledger.db")
    else:
        ledger = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    history, message = STORE_CASES[case]
    with ledger:
        targeter = Targeter(
            sweden.hierarchy(), sweden.pilot_policy(), recognition=pilot.RECOGNITION, ledger=ledger
        )
        _replay(targeter, history, False, None)
        before = _store(targeter, message)
        seen = targeter.preview(message, _index(), AT)
        assert _store(targeter, message) == before
        want = targeter.target(message, _index(), AT, confirm=True)
    assert (seen.verdict, seen.incident, seen.reason, seen.already_delivered) == (
        want.verdict,
        want.incident,
        want.reason,
        want.already_delivered,
    )
    for name in ("recipients", "retract", "no_longer_covered"):
        assert sorted(getattr(seen, name).tolist()) == sorted(getattr(want, name).tolist()), name


def test_preview_of_an_update_linking_a_cancelled_incident_offers_only_unconfirmed_retractions() -> (
    None
):
    """The devices an ended part of the chain was told got their retraction then: not again.

    A1 is cancelled and its retractions confirmed; an Update naming B1 (sent earlier) and A1
    links them: B1's incident ends too, and only B1's devices are retracted now. Regression:
    the preview offered A1's devices a second retraction.
    """
    b = _alert("b2", sent=T0 - M, area=Circle(11.97, 57.70, 4000.0))
    linking = _alert("u7", sent=T0 + 4 * M, msg_type="Update", refs=[b, A])
    history = [(A, T0 + M), (b, T0 + M), (C, T0 + 3 * M)]
    previewer, oracle = _targeter(), _targeter()
    for targeter in (previewer, oracle):
        _replay(targeter, history, True, None)
    before = _store(previewer, linking)
    seen = previewer.preview(linking, _index(), AT)
    assert _store(previewer, linking) == before
    want = oracle.target(linking, _index(), AT)
    # (Not the reason: it names the Cancel that ended A1, which no read of the store finds
    # once its retractions are confirmed.)
    assert (seen.verdict, seen.incident) == (want.verdict, want.incident)
    assert (seen.verdict, seen.incident) == (Verdict.CANCELLED, f"{SENDER}/b2")
    assert sorted(seen.retract.tolist()) == sorted(want.retract.tolist())
    told_a = _targeter().target(A, _index(), T0 + M).recipients.tolist()
    assert seen.retract.size > 0
    assert not set(seen.retract.tolist()) & set(told_a)


def test_preview_of_a_cancel_sent_again_after_it_ended_an_update_started_incident() -> None:
    """A feed sends an Actual Cancel again; it had ended, first, the incident an Update started.

    A Test Cancel naming the same original was remembered beside it (and ends nothing Actual).
    The incident has no version of its own to read its status from: target() answers
    CANCELLED. Regression: the preview answered NOT_AUTHORISED ("status Test").
    """
    test_cancel = _cancel("ct", [A], T0 + 2 * M, status="Test")
    update = _alert("ux", sent=T0 + 4 * M, msg_type="Update", refs=[A])
    history = [(test_cancel, T0 + M), (C, T0 + 3 * M), (update, T0 + 4 * M)]
    seen, _ = _agree(history, C)
    assert seen.verdict is Verdict.CANCELLED


def test_incident_of_an_update_that_may_not_start_its_incident_is_none() -> None:
    """Another sender's Update naming an unknown original starts no incident (NOT_AUTHORISED).

    Regression: ``incident_of`` named the incident its reference would key, which target()
    never starts (its result's ``incident`` is None).
    """
    other = _alert("uo", sent=T0 + M, msg_type="Update", refs=[A], sender="other@example.se")
    targeter = _targeter()
    assert targeter.incident_of(other) is None
    assert _agree([], other)[0].verdict is Verdict.NOT_AUTHORISED
    assert targeter.target(other, _index(), AT).incident is None


def test_preview_of_a_test_cancel_of_an_actual_incident_ended_before_it_began() -> None:
    """A Test Cancel naming an Actual incident that a Cancel ended as an Update started it.

    No version of the incident is current, so no document of it gives its status; it is
    Actual, and target() refuses the Test Cancel (NOT_AUTHORISED). Regression: the preview
    took the incident for a Test one and answered CANCELLED.
    """
    b = _alert("b3", area=Circle(11.97, 57.70, 4000.0))
    first = _cancel("cb3", [b], T0 + M)
    update = _alert("u8", sent=T0 + 2 * M, msg_type="Update", refs=[b, A])
    test_cancel = _cancel("ct3", [A], T0 + 3 * M, status="Test")
    seen, _ = _agree([(first, T0 + M), (update, T0 + 2 * M)], test_cancel)
    assert seen.verdict is Verdict.NOT_AUTHORISED


def test_preview_of_an_actual_original_after_a_drill_a_test_cancel_ended() -> None:
    """A Test Update named an Actual original before it arrived; a Test Cancel ended it.

    The drill's incident gives way to the original, which target() delivers. Regression: the
    preview read no version of the drill's incident (none ever became current) and answered
    NOT_AUTHORISED: nobody, for an alert that reaches everyone in its area.
    """
    test_cancel = _cancel("ct4", [A], T0 + M, status="Test")
    drill = _alert("ut4", sent=T0 + 2 * M, msg_type="Update", refs=[A], status="Test")
    seen, _ = _agree([(test_cancel, T0 + M), (drill, T0 + 2 * M)], A)
    assert seen.verdict is Verdict.DELIVER
    assert seen.recipients.size > 0
