"""CAP documents as other issuers write them, read and then acted on through the Targeter."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import attrs
import numpy as np
import pytest
import shapely.geometry as sg
from targeting_helpers import T0, exact_rules, make_alert, make_regions, positions, ref

from geotarget import Circle, PositionIndex, cap
from geotarget.alerts import Alert, AlertArea, MessageType
from geotarget.errors import InvalidCAP
from geotarget.issuers import Issuers
from geotarget.kinds import RecognitionRule, Recognizer
from geotarget.regions import Region, RegionHierarchy, RegionSet
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


def _flood_targeter(bounds: tuple[float, float, float, float]) -> Targeter:
    """A Targeter over a made-up country around ``bounds``, recognising the EA's flood event."""
    west, south, east, north = bounds
    box = sg.box(west - 0.05, south - 0.05, east + 0.05, north + 0.05)
    regions = RegionHierarchy(
        [
            RegionSet([Region(code="M1", name="M1", level="municipality", geometry=box)]),
            RegionSet([Region(code="UK", name="UK", level="country", geometry=box)]),
        ],
        {"M1": "UK"},
    )
    rule = RecognitionRule(
        name="ea:flood", kind="tip_request", events=["053/055 Issue Severe Flood Warning EA"]
    )
    return Targeter(
        regions,
        nationwide("UK"),
        recognition=Recognizer([rule]),
        issuers=Issuers.any(),
        location_rules=exact_rules(),
    )


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_the_environment_agencys_flood_warning_lives_and_ends_as_its_documents_say(
    shared_data: Path, order: tuple[int, ...]
) -> None:
    """The EA's Wainfleet warning, an Update widening it and its real Cancel, in any order."""
    folder = shared_data / "cap"
    warning = (folder / "alphagov_WAINFLEET.xml").read_text(encoding="utf-8")
    cancel = (folder / "alphagov_WAINFLEET_CANCEL_MINIMAL.xml").read_bytes()
    original = cap.loads(warning)
    assert original.area is not None
    west, south, east, north = original.area.bounds
    wider = Circle((west + east) / 2, (south + north) / 2, 600.0)
    update = attrs.evolve(
        original,
        identifier="update-1",
        sent=original.sent + dt.timedelta(minutes=1),
        msg_type=MessageType.UPDATE,
        references=[ref(original)],
        infos=[
            attrs.evolve(i, areas=[AlertArea.from_area("Wainfleet", wider)]) for i in original.infos
        ],
    )
    docs = [warning.encode(), cap.dumps(update).encode(), cancel]
    at = original.sent + dt.timedelta(hours=1)
    grid = np.mgrid[west - 0.01 : east + 0.01 : 40j, south - 0.01 : north + 0.01 : 40j]
    lon, lat = grid[0].ravel(), grid[1].ravel()
    index = PositionIndex(positions(lon, lat, observed_at=[at] * lon.size))
    targeter = _flood_targeter((west - 0.01, south - 0.01, east + 0.01, north + 0.01))
    told: set[str] = set()
    cancelled = False
    for k in order:
        result = targeter.receive(docs[k], index, at)
        if k == 2:
            cancelled = True
            assert set(result.retract.tolist()) == told, order
        got = set(result.recipients.tolist())
        if cancelled:
            assert got == set(), (order, k, result.reason)
        else:
            area = [original, update][k].area
            assert area is not None
            inside = {f"d{i}" for i in np.flatnonzero(area.contains(lon, lat))}
            assert got <= inside and not got & told, (order, k)
        if result.claims is not None and k != 2:
            targeter.confirm(result.claims.keys(), at)
        told |= got
    assert targeter.active_incidents == ()
    assert bool(told) == (order[0] != 2), order  # told until the Cancel came, if it came first
    assert told <= {f"d{i}" for i in np.flatnonzero(wider.contains(lon, lat))} | {
        f"d{i}" for i in np.flatnonzero(original.area.contains(lon, lat))
    }


def test_a_cancel_whose_reference_has_zero_fractional_seconds_is_repaired_leniently() -> None:
    """``…:00.000Z`` in references (as some issuers write it) is read by loads_lenient, not strict.

    Zeros are the same instant, so the lenient reader drops them and says so; a Cancel
    written so ends its incident. A fraction that is not zero stays refused: it is another
    instant than any CAP can write.
    """
    alert = make_alert("tip_request", Circle(17.5, 59.5, 1000.0), ident="A1")
    text = cap.dumps(_cancel(alert))
    written = "2024-05-20T12:00:00-00:00"  # the reference's sent, as dumps writes T0
    assert written in text
    zeros = text.replace(f",{written}</references>", ",2024-05-20T12:00:00.000Z</references>")
    assert zeros != text
    with pytest.raises(InvalidCAP, match=r"fractional seconds of zeros .*loads_lenient repairs"):
        cap.read(zeros)
    read = cap.loads_lenient(zeros)
    assert [r.path for r in read.repairs] == ["references", "references"]  # zeros, then Z
    assert read.alert == _cancel(alert)
    index = PositionIndex(positions([17.5], [59.5], observed_at=[AT]))
    targeter = Targeter(make_regions(), nationwide("XX"), location_rules=exact_rules())
    targeter.target(alert, index, AT)
    assert targeter.target(read.alert, index, AT).verdict is Verdict.CANCELLED
    half = text.replace(f",{written}</references>", ",2024-05-20T12:00:00.5-00:00</references>")
    for lenient in (False, True):
        with pytest.raises(InvalidCAP, match="must not have fractional seconds"):
            cap.read(half, lenient=lenient)


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("sent", "0001-01-01T00:30:00+01:00"),
        ("info[0]/onset", "0001-01-01T00:00:00+14:00"),
        ("info[0]/expires", "9999-12-31T23:00:00-12:00"),
        ("info[0]/effective", "9999-12-30T24:00:00-00:00"),
        ("references", "9999-12-31T23:59:59-00:00"),
    ],
)
def test_a_date_time_beyond_the_models_range_is_refused_at_its_own_path(
    field: str, text: str
) -> None:
    """Valid xs:dateTime text whose instant lies beyond what the model holds names its field.

    It was refused at ``alert`` or ``info[0]`` (the model's error for the whole element), with
    the instant re-written in another form (``+00:00`` for ``-00:00``).
    """
    alert = make_alert("explosion", Circle(17.5, 59.5, 500.0), ident="R2", refs=())
    alert = attrs.evolve(
        alert,
        msg_type=MessageType.UPDATE,
        references=(ref(make_alert("explosion", Circle(17.5, 59.5, 500.0), ident="R1")),),
    )
    doc = cap.dumps(alert)
    if field == "info[0]/effective":  # not written by make_alert: put one before <onset>
        doc = doc.replace("<onset>", f"<effective>{text}</effective><onset>", 1)
    else:
        element = field.split("/")[-1]
        start = doc.index(f"<{element}>") + len(element) + 2
        end = doc.index(f"</{element}>")
        new = doc[start:end].rsplit(",", 1)[0] + "," + text if element == "references" else text
        doc = doc[:start] + new + doc[end:]
    with pytest.raises(InvalidCAP) as err:
        cap.loads(doc)
    (problem,) = err.value.problems
    assert problem.path == field
    assert "between 0001-01-02 and 9999-12-30 UTC" in problem.message
    assert repr(text) in problem.message


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (("<scope>Public</scope>", "<scope>Restricted</scope>"), "restriction"),
        (("<scope>Public</scope>", "<scope>Private</scope>"), "addresses"),
        (("<scope>Public</scope>", "<scope>Private</scope><addresses> </addresses>"), "addresses"),
        (("</circle>", "</circle><ceiling>100</ceiling>"), "info[0]/area[0]/ceiling"),
    ],
)
def test_a_rule_between_elements_is_refused_at_the_element_it_concerns(
    edit: tuple[str, str], path: str
) -> None:
    """Each is refused at the element it concerns; it was refused at ``alert`` or the area.

    A Restricted alert without <restriction>, a Private one without recipients, a <ceiling>
    without <altitude>.
    """
    doc = cap.dumps(make_alert("explosion", Circle(17.5, 59.5, 500.0), ident="S1"))
    assert edit[0] in doc
    with pytest.raises(InvalidCAP) as err:
        cap.loads(doc.replace(edit[0], edit[1], 1))
    assert [p.path for p in err.value.problems] == [path]


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("<circle>59.5, 17.5 0.5</circle>", "a space after a comma splits a point in two"),
        (
            "<polygon>59.4, 17.4 59.4, 17.6 59.6, 17.6 59.4, 17.4</polygon>",
            "a space after a comma splits a point in two",
        ),
        (
            "<polygon>59.4,17.4;59.4,17.6;59.6,17.6;59.4,17.4</polygon>",
            "not ';' or '|'",
        ),
    ],
)
def test_hand_written_coordinate_separators_are_named_in_the_refusal(
    written: str, hint: str
) -> None:
    """``59.5, 17.5`` and ``;`` between points, as people type them, get the rule they break."""
    doc = cap.dumps(make_alert("explosion", Circle(17.5, 59.5, 500.0), ident="H1"))
    start, end = doc.index("<circle>"), doc.index("</circle>") + len("</circle>")
    with pytest.raises(InvalidCAP) as err:
        cap.loads(doc[:start] + written + doc[end:])
    (problem,) = err.value.problems
    assert problem.path.startswith("info[0]/area[0]/") and hint in problem.message
