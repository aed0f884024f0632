"""Probe 4 of the targeting pipeline: ``preview``, ``explain`` and ``target`` agree.

The oracles are plain Python: the verdict ``target()`` gives the same alert (Who may be told:
Draft and System reach nobody, Ack and Error are not alerts), and the outcome counts a device
by device walk of ``outcome_of`` adds up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import numpy as np
import pytest
from targeting_helpers import T0, make_alert, make_regions, policy, ref
from test_info_windows import EAST, WEST, H, _alert, _devices, _info
from test_info_windows import T0 as W0

from geotarget import Circle, PositionIndex, Positions, sweden
from geotarget.alerts import MessageType, Status
from geotarget.errors import InvalidCAP
from geotarget.ledger import MemoryLedger
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


def _window_alert(west: tuple[int, int], east: tuple[int, int]) -> Any:
    """Two info blocks (1 km circles in Stockholm), each with its own window in hours."""
    return _alert(
        _info(WEST, onset=W0 + west[0] * H, expires=W0 + west[1] * H),
        _info(EAST, onset=W0 + east[0] * H, expires=W0 + east[1] * H),
    )


@pytest.mark.parametrize(
    ("west", "east"),
    [((0, 2), (4, 6)), ((0, 6), (4, 6)), ((0, 3), (0, 6)), ((0, 6), (1, 5))],
)
def test_next_change_of_a_delivery_is_when_the_area_in_effect_changes(
    west: tuple[int, int], east: tuple[int, int]
) -> None:
    """A delivery's ``next_change`` is the first hour its answer differs.

    Oracle: step the clock hour by hour over preview(); the first hour whose verdict,
    recipients or outcome counts differ. A block beginning later widens the area (target()
    again then tells its devices), one ending narrows it or leaves a gap: next_change was None.
    """
    alert = _window_alert(west, east)
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger())

    def answer(hour: int) -> tuple[Verdict, frozenset[int], dict[Any, int]]:
        at = W0 + hour * H
        got = targeter.preview(alert, PositionIndex(_devices(at, n=600)), at)
        return got.verdict, frozenset(int(i) for i in got.recipients), dict(got.counts)

    first = targeter.target(alert, PositionIndex(_devices(W0, n=600)), W0)
    assert first.verdict is Verdict.DELIVER
    before = answer(0)
    changes = [h for h in range(1, 6) if answer(h) != before]
    want = W0 + changes[0] * H if changes else None
    assert want is not None  # every case changes something before 16:00
    assert first.next_change == want


def test_next_change_of_no_area_yet_is_when_a_block_with_an_area_begins() -> None:
    """NO_AREA while only a text-only block is in effect names when one with an area begins.

    A text-only block from 10:00, one with an area from 12:00: at 10:00 the verdict is NO_AREA
    and becomes DELIVER at 12:00, so next_change is 12:00 (it was None).
    """
    text_only = attrs.evolve(_info(WEST, onset=W0, expires=W0 + 6 * H), areas=[])
    alert = _alert(text_only, _info(WEST, onset=W0 + 2 * H, expires=W0 + 6 * H))
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger())
    early = targeter.preview(alert, PositionIndex(_devices(W0, n=200)), W0)
    assert early.verdict is Verdict.NO_AREA
    later = targeter.preview(alert, PositionIndex(_devices(W0 + 2 * H, n=200)), W0 + 2 * H)
    assert later.verdict is Verdict.DELIVER
    assert early.next_change == W0 + 2 * H


def test_next_change_outside_rollout_is_when_a_block_reaching_enabled_regions_begins() -> None:
    """AREA_OUTSIDE_ROLLOUT names the start of a block whose area reaches an enabled region.

    The kind is enabled in municipality 0201 only; a block over 0101 is in effect from 12:00,
    one over 0201 from 14:00. At 12:00 nobody is told, and no later phase enables 0101, but
    at 14:00 the alert delivers: next_change was None ("never").
    """
    from geotarget.alerts import AlertArea

    hour = dt.timedelta(hours=1)
    west, east = Circle(17.2, 59.5, 1000.0), Circle(18.2, 59.5, 1000.0)
    alert = make_alert("explosion", west, hours=6)
    block = alert.infos[0]
    alert = attrs.evolve(
        alert,
        infos=[
            attrs.evolve(block, areas=[AlertArea.from_area("west", west)]),
            attrs.evolve(block, onset=T0 + 2 * hour, areas=[AlertArea.from_area("east", east)]),
        ],
    )
    index = PositionIndex(
        Positions(["w", "e"], [17.2, 18.2], [59.5, 59.5], observed_at=[T0, T0], accuracy_m=[0, 0])
    )
    targeter = Targeter(make_regions(), policy({"explosion": [(T0 - hour, ("0201",))]}))
    early = targeter.target(alert, index, T0)
    assert early.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert early.next_change == T0 + 2 * hour
    assert (T0 + 2 * hour).isoformat() in early.reason
    later = targeter.retarget(index, T0 + 2 * hour)
    assert [r.recipients.tolist() for r in later] == [["e"]]


def test_summary_of_an_empty_snapshot_says_so() -> None:
    """Zero devices: the counts add up to 0, and the summary's device line is not left blank."""
    empty = PositionIndex(Positions(np.array([], dtype=str), [], [], observed_at=[]))
    got = _targeter().target(make_alert("explosion", Circle(18.0, 59.5, 2000.0)), empty, T0)
    assert got.verdict is Verdict.DELIVER and sum(got.counts.values()) == 0
    line = got.summary().splitlines()[1]
    assert line.startswith("  devices: ") and line.removeprefix("  devices: ").strip()
