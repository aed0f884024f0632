"""``Targeter.preview``: what ``target`` would answer now, over the incident as it stands."""

from __future__ import annotations

import datetime as dt

from targeting_helpers import T0, make_alert, make_regions, policy, positions, ref

from geotarget import Circle, PositionIndex
from geotarget.alerts import Alert, MessageType, Status
from geotarget.targeting import Targeter, TargetingResult, Verdict


def _targeter() -> Targeter:
    return Targeter(make_regions(), policy({"explosion": [(T0, ("XX",))]}))


def test_preview_of_an_ended_or_older_version_tells_nobody_as_target_does() -> None:
    """A cancelled incident, or a version older than the current one, previews as it targets.

    Regression (probe: preview1.py): ``preview`` never looked at the incident in the store,
    so after a Cancel it answered DELIVER with recipients (``target`` answers CANCELLED), and
    an original arriving after its Update previewed DELIVER to every device in the old area
    (``target``: SUPERSEDED).
    """
    index = PositionIndex(positions([17.2, 17.2001, 17.6], [59.5, 59.5, 59.5]))
    later = T0 + dt.timedelta(minutes=5)
    first = make_alert("explosion", Circle(17.2, 59.5, 500.0), ident="v1")
    update = make_alert(
        "explosion",
        Circle(17.6, 59.5, 500.0),
        ident="v2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
    )
    t = _targeter()
    assert t.target(update, index, later).recipients.tolist() == ["d2"]
    for alert in (first, update):
        got, want = t.preview(alert, index, later), t.target(alert, index, later)
        assert got.verdict is want.verdict, alert.identifier
        assert got.recipients.tolist() == want.recipients.tolist() == []
    assert t.preview(first, index, later).verdict is Verdict.SUPERSEDED
    cancel = make_alert(
        "explosion",
        Circle(17.6, 59.5, 500.0),
        ident="v3",
        sent=T0 + dt.timedelta(minutes=2),
        msg_type=MessageType.CANCEL,
        refs=(ref(update),),
    )
    assert t.target(cancel, index, later).verdict is Verdict.CANCELLED
    fresh = make_alert(
        "explosion",
        Circle(17.2, 59.5, 5000.0),
        ident="v4",
        sent=T0 + dt.timedelta(minutes=3),
        msg_type=MessageType.UPDATE,
        refs=(ref(update),),
    )
    for alert in (first, update, fresh):
        got = t.preview(alert, index, later)
        assert got.verdict is Verdict.CANCELLED, alert.identifier
        assert got.recipients.tolist() == []
        assert got.verdict is t.target(alert, index, later).verdict


def test_preview_fills_per_county_and_no_longer_covered_as_target_does() -> None:
    """``per_county`` adds up to the recipients and ``no_longer_covered`` names who left."""
    index = PositionIndex(positions([17.2, 17.2001, 18.2, 19.2], [59.5, 59.5, 59.5, 59.5]))
    first = make_alert("explosion", Circle(17.2, 59.5, 500.0), ident="w1")
    t = _targeter()
    before = t.preview(first, index, T0)
    assert before.per_county == {"01": 2}
    assert t.target(first, index, T0).recipients.tolist() == ["d0", "d1"]
    moved = make_alert(
        "explosion",
        Circle(18.7, 59.5, 40_000.0),
        ident="w2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
    )
    later = T0 + dt.timedelta(minutes=5)
    got = t.preview(moved, index, later)
    assert got.recipients.tolist() == ["d2", "d3"]
    assert got.per_county == {"02": 1, TargetingResult.NO_COUNTY: 1}
    assert sorted(got.no_longer_covered.tolist()) == ["d0", "d1"]
    want = t.target(moved, index, later, confirm=True)
    assert (got.per_county, got.no_longer_covered.tolist()) == (
        want.per_county,
        want.no_longer_covered.tolist(),
    )


def test_preview_of_a_version_a_cancel_that_came_first_names_tells_nobody() -> None:
    """A remembered Cancel ends the versions it names, in preview as in ``target``.

    Only a Cancel that may end the incident counts: a Test Cancel never ends an Actual
    incident (the store's rule for every Cancel).
    """
    index = PositionIndex(positions([17.2, 17.2001], [59.5, 59.5]))
    first = make_alert("explosion", Circle(17.2, 59.5, 500.0), ident="c1")
    update = make_alert(
        "explosion",
        Circle(17.2, 59.5, 800.0),
        ident="c2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
    )
    later = T0 + dt.timedelta(minutes=5)

    def cancel(status: Status) -> Alert:
        return make_alert(
            "explosion",
            Circle(17.2, 59.5, 500.0),
            ident=f"cancel-{status.value}",
            sent=T0 + dt.timedelta(minutes=2),
            msg_type=MessageType.CANCEL,
            refs=(ref(first),),
            status=status,
        )

    t = _targeter()
    t.target(cancel(Status.TEST), index, later)  # remembered, but never ends an Actual incident
    for alert in (first, update):
        assert t.preview(alert, index, later).verdict is Verdict.DELIVER, alert.identifier
    t.target(cancel(Status.ACTUAL), index, later)  # remembered: names a version never seen
    for alert in (update, first):
        got = t.preview(alert, index, later)
        assert got.verdict is Verdict.CANCELLED, alert.identifier
        assert got.recipients.tolist() == []
    assert t.target(first, index, later).verdict is Verdict.CANCELLED
    assert t.preview(update, index, later).verdict is Verdict.CANCELLED


def test_preview_of_an_update_naming_a_version_a_cancel_ended_early_tells_nobody() -> None:
    """An active incident: an Update naming a version a remembered Cancel names is ended.

    The store ends the incident when such an Update joins it (the Cancel came first, for a
    version not seen yet); preview answers CANCELLED for that Update, as target does.
    """
    index = PositionIndex(positions([17.2, 17.2001], [59.5, 59.5]))
    first = make_alert("explosion", Circle(17.2, 59.5, 500.0), ident="e1")
    unseen = make_alert(
        "explosion",
        Circle(17.2, 59.5, 600.0),
        ident="e2",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        refs=(ref(first),),
    )
    cancel = make_alert(
        "explosion",
        Circle(17.2, 59.5, 600.0),
        ident="e3",
        sent=T0 + dt.timedelta(minutes=2),
        msg_type=MessageType.CANCEL,
        refs=(ref(unseen),),
    )
    update = make_alert(
        "explosion",
        Circle(17.2, 59.5, 700.0),
        ident="e4",
        sent=T0 + dt.timedelta(minutes=3),
        msg_type=MessageType.UPDATE,
        refs=(ref(first), ref(unseen)),
    )
    later = T0 + dt.timedelta(minutes=5)
    t = _targeter()
    assert t.target(first, index, T0).verdict is Verdict.DELIVER
    t.target(cancel, index, later)  # names only e2, never seen: remembered
    assert t.preview(first, index, later).verdict is Verdict.DELIVER  # e1 itself is not named
    got = t.preview(update, index, later)
    assert (got.verdict, got.recipients.tolist()) == (Verdict.CANCELLED, [])
    assert t.target(update, index, later).verdict is Verdict.CANCELLED
