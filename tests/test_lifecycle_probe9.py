"""Lifecycles as real feeds produce them, end to end through the Targeter, against an oracle.

Each test plays a sequence a real upstream sends — chains whose Updates name several earlier
messages, Updates that change only the texts, split incidents linked later — through
``target()``, ``preview()`` and the ledger (memory, SQLite, PostgreSQL), and checks the answers
against a plain-Python reading of the documented semantics (docs/who_is_told.rst,
docs/delivery.rst): which version's area is in effect, who is told, who may send it.
Distances are geodesic (pyproj), region membership is read off the test regions' boxes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from pyproj import Geod
from targeting_helpers import SENDER, T0, exact_rules, make_alert, make_regions, ref, without_area

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import Alert, MessageType, Status
from geotarget.issuers import Issuer, Issuers
from geotarget.ledger import DeliveryLedger, IncidentState, MemoryLedger, SQLiteLedger
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, TargetingResult, Verdict

M = dt.timedelta(minutes=1)
_GEOD = Geod(ellps="WGS84")
REGIONS = make_regions()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opener(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], DeliveryLedger]]:
    """Opens a handle on one delivery store of each kind (PostgreSQL: skipped without one).

    Each call a new handle on the same store (a restarted process); the memory store has one.
    """
    handles: list[DeliveryLedger] = []
    if request.param == "memory":
        memory = MemoryLedger()
        handles.append(memory)
        yield lambda: memory
    else:
        if request.param == "sqlite":
            where = str(tmp_path / "deliveries.db")
            kind: Callable[[str], DeliveryLedger] = SQLiteLedger
        else:
            from geotarget.ledger import PostgresLedger

            where, kind = request.getfixturevalue("postgres_dsn"), PostgresLedger

        def new() -> DeliveryLedger:
            handles.append(kind(where))
            return handles[-1]

        yield new
    for h in handles:
        h.close()


@pytest.fixture
def ledger(opener: Callable[[], DeliveryLedger]) -> DeliveryLedger:
    """A fresh delivery store of each kind."""
    return opener()


def _index(spots: dict[str, tuple[float, float]], at: dt.datetime) -> PositionIndex:
    ids = list(spots)
    return PositionIndex(
        Positions(ids, [spots[i][0] for i in ids], [spots[i][1] for i in ids], observed_at=at)
    )


def _inside(spot: tuple[float, float], centre: tuple[float, float], radius_m: float) -> bool:
    """The oracle of a circle: geodesic distance on WGS84 at most the radius."""
    return bool(_GEOD.inv(centre[0], centre[1], spot[0], spot[1])[2] <= radius_m)


def _answer(r: TargetingResult) -> tuple[object, ...]:
    return (
        r.verdict,
        r.incident,
        sorted(map(str, r.recipients.tolist())),
        sorted(map(str, r.no_longer_covered.tolist())),
        r.reason,
    )


# --- A text-only Update that links two incidents ----------------------------------------------
#
# A feed's Update changes only the texts (no <area>) and names, in its references, the two
# messages it follows: A, and B, a later message of the same issuer that arrived as an incident
# of its own. Its references link A and B into one chain (merged), and it keeps "the area of
# its newest earlier version with one": B's (neither names the other, B's sent is later).

A_CENTRE = (17.3, 59.5)  # municipality 0101, county 01
B_CENTRE = (18.7, 59.5)  # municipality 0202, county 02
RADIUS = 1000.0
SPOTS = {
    "a1": A_CENTRE,
    "a2": _GEOD.fwd(*A_CENTRE, 90.0, 600.0)[:2],
    "b1": B_CENTRE,
    "b2": _GEOD.fwd(*B_CENTRE, 0.0, 700.0)[:2],
    "far": (18.0, 59.9),
}


def _two_then_text_only(sender_a: str, sender_b: str) -> tuple[Alert, Alert, Alert]:
    a = attrs.evolve(
        make_alert("tip_request", Circle(*A_CENTRE, RADIUS), ident="A"), sender=sender_a
    )
    b = attrs.evolve(
        make_alert("tip_request", Circle(*B_CENTRE, RADIUS), ident="B", sent=T0 + M),
        sender=sender_b,
    )
    written = make_alert(
        "tip_request",
        Circle(*A_CENTRE, RADIUS),
        ident="U",
        sent=T0 + 2 * M,
        msg_type=MessageType.UPDATE,
        refs=(ref(a), ref(b)),
    )
    update = without_area(attrs.evolve(written, sender=sender_a))
    assert update.area is None and update.msg_type is MessageType.UPDATE
    return a, b, update


def test_preview_of_a_text_only_update_linking_two_incidents_keeps_the_area_target_keeps(
    ledger: DeliveryLedger,
) -> None:
    a, b, update = _two_then_text_only(SENDER, SENDER)
    t = Targeter(REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=ledger)
    at = T0 + 3 * M
    for alert in (a, b):
        t.target(alert, _index(SPOTS, at), at)
    # The oracle: the Update keeps B's area (the newer of the two it names); everyone there
    # is covered, those of A's area no longer are; nobody has confirmed, so B's devices,
    # held on version B, are claimed again under the Update.
    in_b = sorted(d for d, s in SPOTS.items() if _inside(s, B_CENTRE, RADIUS))
    in_a = sorted(d for d, s in SPOTS.items() if _inside(s, A_CENTRE, RADIUS))
    assert in_b == ["b1", "b2"] and in_a == ["a1", "a2"]
    at = T0 + 4 * M
    before = t.preview(update, _index(SPOTS, at), at)
    assert before.verdict is Verdict.DELIVER
    assert f"stays that of version {SENDER}/B" in before.reason
    assert sorted(before.recipients.tolist()) == in_b
    assert sorted(before.no_longer_covered.tolist()) == in_a
    done = t.target(update, _index(SPOTS, at), at)
    assert _answer(done) == _answer(before)
    assert before.claims is None and done.claims is not None
    assert sorted(done.claims.ids().tolist()) == in_b


def test_a_text_only_update_may_not_keep_an_area_outside_its_issuer_s_regions(
    ledger: DeliveryLedger,
) -> None:
    # Issuer west (county 01) acts for east (county 02), so it may link east's incident to
    # its own; its authority still ends at county 01. The same Update written out with B's
    # area would be NOT_AUTHORISED: kept without <area>, the area is the same.
    table = Issuers(
        [
            Issuer(
                name="west",
                senders=["west@example.se"],
                kinds=["tip_request"],
                regions=["01"],
                acts_for=["east"],
            ),
            Issuer(name="east", senders=["east@example.se"], kinds=["tip_request"], regions=["02"]),
        ]
    )
    a, b, update = _two_then_text_only("west@example.se", "east@example.se")
    t = Targeter(
        REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=ledger, issuers=table
    )
    at = T0 + 3 * M
    told = {}
    for alert in (a, b):
        r = t.target(alert, _index(SPOTS, at), at)
        assert r.verdict is Verdict.DELIVER
        told[alert.identifier] = sorted(r.recipients.tolist())
    # The oracle: county 01 is lon 17 to 18 (the test regions' boxes); B's circle lies east of
    # lon 18, so the area the Update keeps reaches outside west's regions.
    assert B_CENTRE[0] - 0.05 > 18.0
    at = T0 + 4 * M
    asked = t.preview(update, _index(SPOTS, at), at)
    got = t.target(update, _index(SPOTS, at), at)
    for r in (asked, got):
        assert r.verdict is Verdict.NOT_AUTHORISED, r.reason
        assert "the area it keeps (that of version east@example.se/B)" in r.reason
        assert "'west'" in r.reason and "0202" in r.reason
        assert r.recipients.size == 0 and r.claims is None
    # Nothing changed: B is still its own incident, its devices claimed there only, and the
    # Update is no version of either.
    b_incident = ledger.incident("east@example.se/B")
    assert b_incident is not None and b_incident.state is IncidentState.ACTIVE
    assert sorted(ledger.recipients("east@example.se/B").tolist()) == told["B"]
    assert sorted(ledger.recipients("west@example.se/A").tolist()) == told["A"]
    assert ledger.lookup_version("west@example.se/U") is None


def test_preview_of_the_real_update_after_a_drill_used_its_id_keeps_the_original_s_area(
    ledger: DeliveryLedger,
) -> None:
    # A drill replays a production identifier: an Exercise Update names Update U of the live
    # feed before U itself arrives, so U's id starts an incident of status Exercise. Then the
    # real U arrives, Actual and without <area> (a change of texts), naming the Alert it
    # follows: it takes its id back from the drill and links the Alert's incident, whose area
    # it keeps. preview() must answer as target() does.
    a0 = make_alert("tip_request", Circle(*A_CENTRE, RADIUS), ident="A0")
    real = make_alert(
        "tip_request",
        Circle(*A_CENTRE, RADIUS),
        ident="U",
        sent=T0 + 2 * M,
        msg_type=MessageType.UPDATE,
        refs=(ref(a0),),
    )
    drill = make_alert(
        "tip_request",
        Circle(*B_CENTRE, RADIUS),
        ident="D",
        sent=T0 + M,
        msg_type=MessageType.UPDATE,
        refs=(ref(real),),
        status=Status.EXERCISE,
    )
    update = without_area(real)
    t = Targeter(REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=ledger)
    at = T0 + 3 * M
    first = t.target(a0, _index({"a1": SPOTS["a1"]}, at), at)
    assert first.recipients.tolist() == ["a1"]
    t.confirm(first.claims.keys() if first.claims is not None else [], at)
    assert t.target(drill, _index(SPOTS, at), at).incident == f"{SENDER}/U"
    # The oracle: U keeps A0's circle; a1 was told, a2 walked in since.
    at = T0 + 4 * M
    now = _index(SPOTS, at)
    covered = sorted(d for d, s in SPOTS.items() if _inside(s, A_CENTRE, RADIUS))
    assert covered == ["a1", "a2"]
    before = t.preview(update, now, at)
    assert before.verdict is Verdict.DELIVER, before.reason
    assert f"stays that of version {SENDER}/A0" in before.reason
    assert sorted(before.recipients.tolist()) == ["a2"]
    done = t.target(update, now, at)
    assert _answer(done) == _answer(before)
    assert done.incident == f"{SENDER}/U"


def test_a_cancel_a_drill_named_first_answers_cancelled_when_the_feed_sends_it_again(
    opener: Callable[[], DeliveryLedger],
) -> None:
    # A drill replays production identifiers: an Exercise Update names the id of the live
    # feed's Cancel C before C arrives, so C's id starts an incident of status Exercise. The
    # real C (Actual) then ends the Alert it names, A. After a restart the feed sends C again:
    # it is the Cancel of A, so it answers CANCELLED for A and offers the retractions not
    # confirmed yet — not SUPERSEDED, "older than" the drill's Update.
    a = make_alert("tip_request", Circle(*A_CENTRE, RADIUS), ident="A")
    cancel = make_alert(
        "tip_request",
        Circle(*A_CENTRE, RADIUS),
        ident="C",
        sent=T0 + 2 * M,
        msg_type=MessageType.CANCEL,
        refs=(ref(a),),
    )
    drill = make_alert(
        "tip_request",
        Circle(*B_CENTRE, RADIUS),
        ident="D",
        sent=T0 + M,
        msg_type=MessageType.UPDATE,
        refs=(ref(cancel),),
        status=Status.EXERCISE,
    )
    t = Targeter(REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=opener())
    at = T0 + 3 * M
    told = t.target(a, _index(SPOTS, at), at)
    in_a = sorted(d for d, s in SPOTS.items() if _inside(s, A_CENTRE, RADIUS))
    assert sorted(told.recipients.tolist()) == in_a == ["a1", "a2"]
    assert t.target(drill, _index(SPOTS, at), at).incident == f"{SENDER}/C"
    ended = t.target(cancel, _index(SPOTS, at), at)
    assert (ended.verdict, ended.incident) == (Verdict.CANCELLED, f"{SENDER}/A")
    assert sorted(ended.retract.tolist()) == in_a
    assert ended.claims is not None
    ids, keys = ended.claims.ids().tolist(), ended.claims.keys().tolist()
    key = {str(d): k for d, k in zip(ids, keys, strict=True)}
    t.confirm([key["a1"]], at)  # a1's retraction was pushed; a2's push failed
    t = Targeter(REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=opener())
    at = T0 + 5 * M
    asked = t.preview(cancel, _index(SPOTS, at), at)
    again = t.target(cancel, _index(SPOTS, at), at)
    for r in (asked, again):
        assert (r.verdict, r.incident) == (Verdict.CANCELLED, f"{SENDER}/A"), r.reason
        assert sorted(r.retract.tolist()) == in_a
        assert r.recipients.size == 0
    assert again.reason == asked.reason
    assert again.claims is not None and again.claims.keys().tolist() == [key["a2"]]


def test_a_device_whose_push_failed_is_not_said_to_have_received_the_alert_re_sent(
    opener: Callable[[], DeliveryLedger],
) -> None:
    # The feed re-sends Alert A after a restart; a2's push had failed (never confirmed). The
    # re-sent A tells nobody new (a2's delivery is pending, redeliver() offers it), and its
    # explanation of a2 must not say a2 received the alert: nobody confirmed that it did.
    a = make_alert("tip_request", Circle(*A_CENTRE, RADIUS), ident="A")
    t = Targeter(REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=opener())
    at = T0 + M
    first = t.target(a, _index(SPOTS, at), at)
    assert first.claims is not None
    keys = dict(zip(first.claims.ids().tolist(), first.claims.keys().tolist(), strict=True))
    assert sorted(keys) == ["a1", "a2"]
    t.confirm([keys["a1"]], at)
    t = Targeter(REGIONS, nationwide("XX"), location_rules=exact_rules(), ledger=opener())
    at = T0 + 2 * M
    again = t.target(a, _index(SPOTS, at), at)
    assert again.verdict is Verdict.DELIVER and again.recipients.size == 0
    said = again.explain("a2")
    assert "pending" in said and "redeliver()" in said, said
    offered = t.redeliver(at + 2 * t.lease)
    assert [c.keys().tolist() for c in offered] == [[keys["a2"]]]


def test_a_re_used_identifier_names_the_first_difference_with_both_values() -> None:
    """A publisher re-sends an Alert with a new ``sent``, or another headline, under one id.

    The error named the field only ("first difference: sent"); the operator could not tell
    which of the two messages held what. It now says both values, the stored one first.
    Oracle: the two alerts' own fields.
    """
    from geotarget.errors import DuplicateIdentifier

    a = make_alert("explosion", Circle(18.0, 59.0, 1_000.0))
    here = _index({"d0": (18.0, 59.0)}, T0)
    t = Targeter(make_regions(), nationwide("XX"), ledger=MemoryLedger())
    t.target(a, here, T0)
    later = attrs.evolve(a, sent=a.sent + dt.timedelta(minutes=5))
    for call in (t.target, t.preview):
        with pytest.raises(DuplicateIdentifier) as err:
            call(later, here, T0)
        assert err.value.field == "sent"
        assert err.value.stored == a.sent.isoformat()
        assert err.value.received == later.sent.isoformat()
        assert str(err.value).endswith(
            f"(first difference: sent: stored {a.sent.isoformat()}, received "
            f"{later.sent.isoformat()})"
        )
    retitled = attrs.evolve(a, infos=(attrs.evolve(a.infos[0], headline="Other " * 40),))
    with pytest.raises(DuplicateIdentifier) as err:
        t.target(retitled, here, T0)
    assert err.value.field == "infos[0].headline"
    assert err.value.stored == repr(a.infos[0].headline)
    assert err.value.received is not None and err.value.received.startswith("'Other Other")
    assert len(err.value.received) < 120  # a long value is cut, at a word
