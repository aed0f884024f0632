"""CAP input as real senders write it, probe 15: coordinates copied from maps, read end to end.

A map or GPS app shows a point as ``59°19′57″N 18°3′55″E``; an operator pastes it into a circle
or a polygon. A circle written ``lat lon`` with no radius has two numbers that read as a point
and a radius. The oracle is the arithmetic of degrees, minutes and seconds done by hand, and
the document's own text; the end-to-end checks go through ``Targeter.receive`` with the
Swedish data, compared with pyproj's geodesic distances.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from cap_helpers import BASE, problems
from pyproj import Geod

from geotarget import PositionIndex, Positions, cap, pilot
from geotarget.errors import InvalidCAP
from geotarget.issuers import Issuer, Issuers
from geotarget.targeting import Targeter, Verdict

CIRCLE = "<circle>59.3325,18.06528 0.5</circle>"
PATH = "info[0]/area[0]/circle[0]"


def _with_circle(text: str) -> str:
    """BASE with its area holding only the circle ``text``."""
    start, end = BASE.index("<polygon>"), BASE.index("</circle>") + len("</circle>")
    return BASE[:start] + f"<circle>{text}</circle>" + BASE[end:]


def _with_polygon(text: str) -> str:
    """BASE with its area holding only the polygon ``text``."""
    start, end = BASE.index("<polygon>"), BASE.index("</circle>") + len("</circle>")
    return BASE[:start] + f"<polygon>{text}</polygon>" + BASE[end:]


# --- a point in degrees, minutes and seconds ---------------------------------------------------


@pytest.mark.parametrize(
    ("written", "lat", "lon"),
    [
        # 59 + 19/60 + 57/3600 = 59.3325; 18 + 3/60 + 55/3600 = 18.0652777...
        ("59°19′57″N,18°3′55″E", "59.3325", "18.065278"),
        ("59° 19' 57\" N,18° 3' 55\" E", "59.3325", "18.065278"),
        # Longitude first, told by its letter: still latitude first in the hint.
        ("18°3′55″E,59°19′57″N", "59.3325", "18.065278"),
        # Degrees and decimal minutes: 67 + 51.348/60 = 67.8558; 20 + 13.518/60 = 20.2253.
        ("67°51.348′N,20°13.518′E", "67.8558", "20.2253"),
        # South and west are negative: 33 + 52/60 + 4/3600 = 33.867778; 151 + 12/60 + 36/3600.
        ("33°52′4″S,151°12′36″E", "-33.867778", "151.21"),
        ("40°42′46″N,74°0′22″W", "40.712778", "-74.006111"),
        ("40°42′46″N 74°0′22″W", "40.712778", "-74.006111"),  # a space, not a comma
        # The letters before the numbers, as Garmin and nautical charts write them.
        ("N 40°42.767′ W 74°0.367′", "40.712783", "-74.006117"),
        ("W74°0′22″,N40°42′46″", "40.712778", "-74.006111"),
    ],
)
def test_a_circle_centre_in_degrees_minutes_seconds_is_refused_with_the_decimal_point(
    written: str, lat: str, lon: str
) -> None:
    """The refusal names a circle's form ('lat,lon radius') and the decimal point to write."""
    message = problems(_with_circle(f"{written} 0.5"))[PATH]
    assert message.startswith("must be 'lat,lon radius', the radius in kilometres, in decimal")
    assert "'lat,lon' pairs" not in message  # a circle is no list of pairs
    assert f"here {lat},{lon} (CAP 1.2 §3.3.1)" in message


def test_a_polygon_in_degrees_minutes_seconds_is_refused_with_its_first_point_in_decimal() -> None:
    """A ring pasted from a map: the first point's decimal degrees are shown."""
    ring = "59°19′57″N,18°3′55″E 59°20′N,18°3′55″E 59°20′N,18°5′E 59°19′57″N,18°3′55″E"
    message = problems(_with_polygon(ring))["info[0]/area[0]/polygon[0]"]
    assert message.startswith("must be 'lat,lon' pairs of decimal numbers")
    assert "here 59.3325,18.065278 (CAP 1.2 §3.3.1)" in message


@pytest.mark.parametrize(
    "written",
    [
        "59.3325,18.0653 ½",  # a non-ASCII radius: no degrees to convert
        "59°61′0″N,18°3′55″E 1",  # 61 minutes: not a reading of degrees and minutes
        "59°19′57″N 1",  # one coordinate only
        "95°N,18°E 1",  # a latitude beyond 90°: no point
        "59°N,181°W 1",  # a longitude beyond 180°: no point
    ],
)
def test_other_non_ascii_circles_say_the_circle_form_without_a_conversion(written: str) -> None:
    """No degrees-and-minutes reading is offered where the text gives none."""
    message = problems(_with_circle(written))[PATH]
    assert message.startswith("must be 'lat,lon radius', the radius in kilometres")
    assert "decimal degrees, latitude first, here" not in message


# --- a circle of two bare numbers ---------------------------------------------------------------


@pytest.mark.parametrize("written", ["59.3325 18.06528", "59.3325\t18.06528", "59 18"])
def test_a_circle_of_two_bare_numbers_says_it_has_no_point(written: str) -> None:
    """'59.3325 18.06528' is no point 59.3325 with a radius of 18 km: it says what is missing."""
    message = problems(_with_circle(written))[PATH]
    assert "holds two numbers and no 'lat,lon' point" in message
    assert "is not 'lat,lon' in decimal degrees" not in message


def test_a_circle_written_right_still_reads() -> None:
    """The checks above refuse nothing CAP allows: the same point in decimal degrees reads."""
    area = cap.loads(_with_circle("59.3325,18.065278 0.5")).infos[0].areas[0]
    assert area.circles == ((18.065278, 59.3325, 500.0),)


# --- end to end: the refusal reaches the caller, the corrected document reaches the devices -----

AT = dt.datetime(2026, 5, 4, 19, 45, tzinfo=dt.timezone.utc)


def _targeter() -> Targeter:
    from geotarget import sweden

    issuers = Issuers(
        [Issuer(name="p", senders=["polisen@polisen.se"], kinds=["explosion"], regions=["SE"])]
    )
    return Targeter(
        sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION, issuers=issuers
    )


def test_receive_refuses_the_map_point_and_targets_its_decimal_degrees() -> None:
    """The hint's point, pasted back, tells exactly the devices pyproj puts within 500 m."""
    rng = np.random.default_rng(15)
    lon = 18.065278 + rng.uniform(-0.02, 0.02, 400)
    lat = 59.3325 + rng.uniform(-0.01, 0.01, 400)
    ids = [f"d{k}" for k in range(400)]
    index = PositionIndex(Positions(ids, lon, lat, accuracy_m=np.zeros(400), observed_at=AT))
    with pytest.raises(InvalidCAP) as refused:
        _targeter().receive(_with_circle("59°19′57″N,18°3′55″E 0.5").encode(), index, AT)
    message = refused.value.problems[0].message
    point = message.split("here ")[1].split(" ")[0]
    result = _targeter().receive(_with_circle(f"{point} 0.5").encode(), index, AT)
    assert result.verdict is Verdict.DELIVER, result.reason
    _, _, dist = Geod(ellps="WGS84").inv(np.full(400, 18.065278), np.full(400, 59.3325), lon, lat)
    clear = np.abs(dist - 500.0) > 0.01
    expected = {i for i, d, c in zip(ids, dist, clear, strict=True) if c and d <= 500.0}
    got = set(result.recipients.tolist())
    assert {i for i, c in zip(ids, clear, strict=True) if c} & got == expected
    assert expected


# --- numbers in other digits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "ascii_text"),
    [
        ("３５．６８,１３９．７６ １０", "35.68,139.76 10"),  # full-width, as Japanese IMEs type
        ("٣٥.٦٨,١٣٩.٧٦ 1", "35.68,139.76 1"),  # Arabic-Indic digits
        ("−23.5,−46.6 1", "-23.5,-46.6 1"),  # U+2212 MINUS SIGN (Brazil, from a word processor)
        ("59.3325,18.06528\u00a00.5", "59.3325,18.06528 0.5"),  # a no-break space
    ],
)
def test_a_circle_in_other_digits_is_refused_showing_it_in_ascii(
    written: str, ascii_text: str
) -> None:
    """The refusal shows the text in ASCII, and that text is a circle that reads."""
    message = problems(_with_circle(written))[PATH]
    assert message.endswith(f"; in ASCII: {ascii_text!r}")
    assert cap.loads(_with_circle(ascii_text)).infos[0].areas[0].circles


def test_a_polygon_with_a_no_break_space_shows_it_with_a_space() -> None:
    """A no-break space pasted between points: the hint has the plain space CAP separates by."""
    ring = "59.33,18.06 59.33,18.07\u00a059.335,18.07 59.33,18.06"
    message = problems(_with_polygon(ring))["info[0]/area[0]/polygon[0]"]
    assert message.endswith("; in ASCII: '59.33,18.06 59.33,18.07 59.335,18.07 59.33,18.06'")
