"""CAP documents as other issuers write them, read and then acted on through the Targeter."""

from __future__ import annotations

import datetime as dt

import pytest
from targeting_helpers import T0, exact_rules, make_alert, make_regions, positions, ref

from geotarget import Circle, PositionIndex, cap
from geotarget.alerts import Alert, MessageType
from geotarget.errors import InvalidCAP
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, Verdict

AT = T0 + dt.timedelta(minutes=5)
ENVELOPE = (17.0, 59.0, 19.0, 60.0)  # the bounds of targeting_helpers' regions


def _swapped(alert: Alert) -> str:
    """``alert`` as CAP with its circles written 'lon,lat', as a confused sender writes them."""
    doc = cap.dumps(alert)
    swapped = doc.replace("<circle>59.5,17.5 ", "<circle>17.5,59.5 ")
    assert swapped != doc
    return swapped


def _cancel(of: Alert, msg_type: MessageType = MessageType.CANCEL) -> Alert:
    """A Cancel (or Ack, Error) naming ``of``, with an area of its own."""
    return make_alert(
        "tip_request",
        Circle(17.5, 59.5, 1000.0),
        ident="C1",
        sent=T0 + dt.timedelta(minutes=1),
        msg_type=msg_type,
        refs=(ref(of),),
    )


@pytest.mark.parametrize("msg_type", [MessageType.CANCEL, MessageType.ACK, MessageType.ERROR])
def test_a_swapped_area_of_a_message_nobody_is_told_is_a_warning_not_a_refusal(
    msg_type: MessageType,
) -> None:
    """A Cancel, Ack or Error whose area looks written lon,lat is read, with a warning there."""
    alert = make_alert("tip_request", Circle(17.5, 59.5, 1000.0), ident="A1")
    parsed = cap.read(_swapped(_cancel(alert, msg_type)), envelope=ENVELOPE)
    assert [w.path for w in parsed.warnings if "looks written 'lon,lat'" in w.message] == [
        "info[0]/area[0]/circle[0]",
        "info[1]/area[0]/circle[0]",
    ]
    with pytest.raises(InvalidCAP, match="looks written 'lon,lat'"):
        cap.read(_swapped(alert), envelope=ENVELOPE)  # an Alert's area is targeted: refused


def test_a_cancel_with_a_swapped_area_ends_its_incident_read_or_in_hand() -> None:
    """Received as CAP or targeted as an Alert object, such a Cancel retracts from those told."""
    alert = make_alert("tip_request", Circle(17.5, 59.5, 1000.0), ident="A1")
    cancel_doc = _swapped(_cancel(alert))
    index = PositionIndex(positions([17.5, 18.5], [59.5, 59.5], observed_at=[AT, AT]))
    for send in ("receive", "target"):
        targeter = Targeter(make_regions(), nationwide("XX"), location_rules=exact_rules())
        assert targeter.target(alert, index, AT).recipients.tolist() == ["d0"]
        if send == "receive":
            result = targeter.receive(cancel_doc.encode(), index, AT)
        else:
            result = targeter.target(cap.loads(cancel_doc), index, AT)
        assert (result.verdict, result.retract.tolist()) == (Verdict.CANCELLED, ["d0"]), send
        assert targeter.active_incidents == ()
