"""Probe 4 of the targeting pipeline: ``preview``, ``explain`` and ``target`` agree.

The oracles are plain Python: the verdict ``target()`` gives the same alert (Who may be told:
Draft and System reach nobody, Ack and Error are not alerts), and the outcome counts a device
by device walk of ``outcome_of`` adds up.
"""

from __future__ import annotations

import datetime as dt

import pytest
from targeting_helpers import T0, make_alert, make_regions, policy, ref

from geotarget import Circle, PositionIndex, Positions
from geotarget.alerts import MessageType, Status
from geotarget.errors import InvalidCAP
from geotarget.targeting import Targeter, Verdict

DAY = dt.timedelta(days=1)


def _targeter() -> Targeter:
    return Targeter(make_regions(), policy({"explosion": [(T0 - DAY, ("XX",))]}))


def _index() -> PositionIndex:
    return PositionIndex(
        Positions(["a", "b"], [18.0, 18.3], [59.5, 59.5], observed_at=[T0, T0], accuracy_m=[0, 0])
    )


@pytest.mark.parametrize("status", [Status.DRAFT, Status.SYSTEM])
def test_preview_of_a_never_public_status_answers_as_target(status: Status) -> None:
    """A Draft or System alert previewed: NOT_PUBLIC, with target()'s reason.

    Not NOT_AN_ALERT, "only an Alert or Update version can be previewed" (untrue of an Alert).
    """
    alert = make_alert("explosion", Circle(18.0, 59.5, 3000.0), status=status, ident="p1")
    seen = _targeter().preview(alert, _index(), T0)
    got = _targeter().target(alert, _index(), T0)
    assert got.verdict is Verdict.NOT_PUBLIC
    assert (seen.verdict, seen.reason, seen.incident) == (got.verdict, got.reason, None)


@pytest.mark.parametrize("msg_type", [MessageType.ACK, MessageType.ERROR])
def test_preview_of_an_ack_or_error_answers_as_target(msg_type: MessageType) -> None:
    first = make_alert("explosion", Circle(18.0, 59.5, 3000.0), ident="p2")
    ack = make_alert(
        "explosion", Circle(18.0, 59.5, 3000.0), ident="p3", msg_type=msg_type,
        refs=(ref(first),),
    )  # fmt: skip
    targeter = _targeter()
    targeter.target(first, _index(), T0)
    seen = targeter.preview(ack, _index(), T0)
    got = targeter.target(ack, _index(), T0)
    assert (
        (seen.verdict, seen.reason)
        == (got.verdict, got.reason)
        == (
            Verdict.NOT_AN_ALERT,
            got.reason,
        )
    )
    assert msg_type.value in seen.reason


def test_preview_of_a_swapped_axes_area_is_refused_as_target() -> None:
    """A circle written lat first (59.5, 18.0): InvalidCAP from preview as from target().

    Not a silent "nobody" (AREA_OUTSIDE_ROLLOUT) for the same alert.
    """
    swapped = make_alert("explosion", Circle(59.5, 18.0, 3000.0), ident="p4")
    with pytest.raises(InvalidCAP):
        _targeter().target(swapped, _index(), T0)
    with pytest.raises(InvalidCAP, match="lat"):
        _targeter().preview(swapped, _index(), T0)
