"""CAP input as operators and other systems hand it over, probe 13: what the refusal tells them.

A refusal is acted on: a sender rewrites its coordinates as the hint says, an operator fetches
again what the message says was fetched wrong. The oracle is the input's own truth, known to
the test: the place a ring was meant to outline (compared with shapely after following the
hint), and what the bytes given are (an HTML page, a file name, a URL).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import shapely
from cap_helpers import BASE, SWEDEN

from geotarget import cap
from geotarget.errors import InvalidCAP, InvalidType

RING_TEXT = "59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06"
CIRCLE_TEXT = "59.3325,18.06528 0.5"

#: Rings as (lon, lat), closed: where a longitude is past ±90, and Stockholm, where none is.
PLACES = {
    "Sydney": [(151.20, -33.86), (151.22, -33.86), (151.22, -33.88), (151.20, -33.86)],
    "Tokyo": [(139.76, 35.68), (139.78, 35.68), (139.78, 35.70), (139.76, 35.68)],
    "Los Angeles": [(-118.25, 34.05), (-118.23, 34.05), (-118.23, 34.07), (-118.25, 34.05)],
    "Auckland": [(174.76, -36.85), (174.78, -36.85), (174.78, -36.87), (174.76, -36.85)],
}
STOCKHOLM = [(18.06, 59.33), (18.07, 59.33), (18.07, 59.335), (18.06, 59.335), (18.06, 59.33)]

#: How tools write a ring that is not CAP's: (name, how a point (lon, lat) is written, joiner).
FORMS: dict[str, tuple[Callable[[float, float], str], str]] = {
    "lat lon, comma-separated": (lambda o, a: f"{a} {o}", ", "),
    "lon lat, comma-separated (WKT's points)": (lambda o, a: f"{o} {a}", ", "),
    "lat lon, as GDAL writes EPSG:4326 WKT": (lambda o, a: f"{a} {o}", ",\n  "),
    "Leaflet's [lat, lng] arrays": (lambda o, a: f"[{a},{o}]", ","),
    "GeoJSON's [lon, lat] arrays": (lambda o, a: f"[{o},{a}]", ","),
}


def _written(ring: list[tuple[float, float]], form: str) -> str:
    point, joiner = FORMS[form]
    text = joiner.join(point(o, a) for o, a in ring)
    return f"[{text}]" if form.endswith("arrays") else text


def _problem(doc: str, **kw: object) -> str:
    with pytest.raises(InvalidCAP) as info:
        cap.loads(doc, **kw)  # type: ignore[arg-type]
    [problem] = info.value.problems
    return problem.message


def _claimed_order(message: str) -> str:
    """The axis order the hint says the points are written in: 'lat lon', 'lon lat' or ''."""
    if "cannot be told" in message:
        return ""
    if "[lat, lon] arrays" in message or "written 'lat lon'" in message:
        return "lat lon"
    if "'lon lat'" in message or "[lon, lat] arrays" in message:
        return "lon lat"
    return ""


def _follow(text: str, order: str) -> str:
    """The CAP ring a sender writes following the hint: each pair 'lat,lon', by whitespace."""
    numbers = re.findall(r"[+-]?[0-9]+(?:\.[0-9]+)?", text)
    pairs = list(zip(numbers[0::2], numbers[1::2], strict=True))
    return " ".join(f"{a},{b}" if order == "lat lon" else f"{b},{a}" for a, b in pairs)


def _ring_read(ring_text: str) -> shapely.Polygon:
    alert = cap.loads(BASE.replace(RING_TEXT, ring_text))
    return shapely.Polygon(alert.infos[0].areas[0].polygons[0])


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("place", list(PLACES))
def test_a_ring_in_another_forms_hint_names_the_order_its_numbers_show(
    place: str, form: str
) -> None:
    """Where one order puts a latitude past ±90, the hint names the order the points are in.

    The hint for ``lat lon`` pairs separated by commas (as GDAL writes EPSG:4326, or a web
    map's ``[lat, lng]`` arrays) said they were written 'lon lat', as WKT or GeoJSON writes
    them: a sender following it swapped each point into another place. Following the hint
    now gives back the ring meant.
    """
    ring = PLACES[place]
    text = _written(ring, form)
    message = _problem(BASE.replace(RING_TEXT, text))
    order = _claimed_order(message)
    assert order, message  # the numbers tell the order: the hint names it
    assert _ring_read(_follow(text, order)).equals(shapely.Polygon(ring)), message


@pytest.mark.parametrize("form", list(FORMS))
def test_where_the_numbers_do_not_tell_the_order_the_envelope_does(form: str) -> None:
    """In Stockholm either order reads as a place: the hint claims none, or the envelope's.

    Given the service envelope, the order that lies in the service area is named, and
    following it gives the ring meant.
    """
    text = _written(STOCKHOLM, form)
    message = _problem(BASE.replace(RING_TEXT, text))
    assert _claimed_order(message) == "", message
    assert "check it" in message
    message = _problem(BASE.replace(RING_TEXT, text), envelope=SWEDEN)
    order = _claimed_order(message)
    assert order, message
    assert _ring_read(_follow(text, order)).equals(shapely.Polygon(STOCKHOLM)), message


@pytest.mark.parametrize(
    ("written", "envelope", "centre"),
    [
        ("151.2093 -33.8688 2", None, (151.2093, -33.8688)),  # lon lat: 151 is no latitude
        ("-33.8688 151.2093 2", None, (151.2093, -33.8688)),  # lat lon
        ("18.06528 59.3325 0.5", SWEDEN, (18.06528, 59.3325)),  # lon lat, told by the envelope
        ("59.3325 18.06528 0.5", SWEDEN, (18.06528, 59.3325)),
    ],
)
def test_a_circle_with_a_space_in_its_point_hints_the_order_it_is_in(
    written: str, envelope: tuple[float, ...] | None, centre: tuple[float, float]
) -> None:
    """Following the hint for a circle written ``x y radius`` gives the centre meant."""
    message = _problem(BASE.replace(CIRCLE_TEXT, written), envelope=envelope)
    x, y, radius = written.split()
    if "looks written 'lon lat'" in message:
        fixed = f"{y},{x} {radius}"
    else:
        assert "a comma, not a space, separates the point's lat from its lon" in message
        fixed = f"{x},{y} {radius}"
    alert = cap.loads(BASE.replace(CIRCLE_TEXT, fixed))
    lon, lat, _ = alert.infos[0].areas[0].circles[0]
    assert (lon, lat) == centre, message


def test_a_circle_whose_order_nothing_tells_says_to_check_it() -> None:
    message = _problem(BASE.replace(CIRCLE_TEXT, "18.06528 59.3325 0.5"))
    assert "the latitude comes first" in message and "check it" in message


def _decimal_commas(ring: list[tuple[float, float]], lon_first: bool) -> str:
    """A ring as a locale with decimal commas writes it: each number ``59,33``, pairs spaced."""
    pairs = [(o, a) if lon_first else (a, o) for o, a in ring]
    return " ".join(f"{x} {y}".replace(".", ",") for x, y in pairs)


def _follow_commas(text: str, message: str) -> str:
    """The CAP ring a sender writes following the decimal-comma hint's stated order."""
    lon_first = "lon and lat separated by a space" in message
    assert lon_first or "lat and lon separated by a space" in message, message
    numbers = [t.replace(",", ".") for t in text.split()]
    pairs = list(zip(numbers[0::2], numbers[1::2], strict=True))
    return " ".join(f"{b},{a}" if lon_first else f"{a},{b}" for a, b in pairs)


@pytest.mark.parametrize("lon_first", [False, True])
@pytest.mark.parametrize("place", ["Sydney", "Tokyo", "Los Angeles"])
def test_a_ring_in_decimal_commas_is_hinted_in_the_order_its_numbers_show(
    place: str, lon_first: bool
) -> None:
    """Points in decimal commas are hinted in the order their numbers show.

    ``151,2 -33,86 ...`` (lon first) had no hint, and ``18,06 59,33 ...`` was read latitude
    first whatever its order: following the hint now gives the ring meant.
    """
    ring = PLACES[place]
    text = _decimal_commas(ring, lon_first)
    message = _problem(BASE.replace(RING_TEXT, text))
    assert "cannot be told" not in message, message
    assert _ring_read(_follow_commas(text, message)).equals(shapely.Polygon(ring)), message


@pytest.mark.parametrize("lon_first", [False, True])
def test_a_ring_in_decimal_commas_in_stockholm_is_ordered_by_the_envelope(lon_first: bool) -> None:
    text = _decimal_commas(STOCKHOLM, lon_first)
    message = _problem(BASE.replace(RING_TEXT, text))
    assert "cannot be told" in message and "if the latitude comes first" in message
    message = _problem(BASE.replace(RING_TEXT, text), envelope=SWEDEN)
    assert "cannot be told" not in message, message
    assert _ring_read(_follow_commas(text, message)).equals(shapely.Polygon(STOCKHOLM)), message


def _follow_triples(text: str, message: str) -> str:
    """The CAP ring a sender writes following the three-number hint: its order, no altitude."""
    lon_first = "KML writes 'lon,lat,altitude'" in message
    assert lon_first or "latitude comes first here already" in message, message
    pairs = [t.split(",")[:2] for t in text.split()]
    return " ".join(f"{b},{a}" if lon_first else f"{a},{b}" for a, b in pairs)


@pytest.mark.parametrize("lon_first", [False, True])
@pytest.mark.parametrize("place", ["Sydney", "Tokyo", "Los Angeles", "Stockholm"])
def test_points_of_three_numbers_are_hinted_in_the_order_they_show(
    place: str, lon_first: bool
) -> None:
    """``59.33,18.06,0``: the hint called every three-number point KML's lon,lat,altitude.

    A ring written latitude first with an altitude then swapped into another place when the
    sender followed it. The order is now named from the numbers, or from the envelope (given
    for Stockholm, where either order reads as a place).
    """
    ring = STOCKHOLM if place == "Stockholm" else PLACES[place]
    text = " ".join(f"{o},{a},0" if lon_first else f"{a},{o},0" for o, a in ring)
    envelope = SWEDEN if place == "Stockholm" else None
    message = _problem(BASE.replace(RING_TEXT, text), envelope=envelope)
    assert "cannot be told" not in message, message
    assert _ring_read(_follow_triples(text, message)).equals(shapely.Polygon(ring)), message


def test_points_of_three_numbers_whose_order_nothing_tells_say_to_check_it() -> None:
    text = " ".join(f"{a},{o},0" for o, a in STOCKHOLM)
    message = _problem(BASE.replace(RING_TEXT, text))
    assert "KML writes 'lon,lat,altitude'" in message and "cannot be told" in message


#: Metres in one of each unit (the international mile and foot, the nautical mile).
METRES = {"m": 1.0, "km": 1000.0, "mi": 1609.344, "NM": 1852.0, "ft": 0.3048}


@pytest.mark.parametrize(
    ("radius", "unit", "glued"),
    [
        ("500", "m", False),
        ("500", "m", True),
        ("250", "meters", False),
        ("0.5", "km", False),
        ("2", "km", True),
        ("2", "mi", False),
        ("1", "NM", True),
        ("1500", "ft", False),
    ],
)
def test_a_radius_with_a_unit_hints_the_kilometres_to_write(
    radius: str, unit: str, glued: bool
) -> None:
    """``500 m`` was answered "a bare number of kilometres, without a unit ('m')".

    Dropping the unit as told wrote 500 km: a circle a million times the area meant, over a
    whole region. The hint now gives the kilometres to write, and writing them gives the
    radius meant (the oracle: metres per unit, from the units' definitions).
    """
    written = f"59.3325,18.06528 {radius}{'' if glued else ' '}{unit}"
    message = _problem(BASE.replace(CIRCLE_TEXT, written))
    m = re.search(r"write ([0-9.]+)$", message)
    assert m is not None, message
    alert = cap.loads(BASE.replace(CIRCLE_TEXT, f"59.3325,18.06528 {m.group(1)}"))
    metres = float(radius) * METRES["m" if unit == "meters" else unit]
    assert alert.infos[0].areas[0].circles[0][2] == pytest.approx(metres, rel=1e-12), message


@pytest.mark.parametrize(
    ("where", "written"),
    [
        (RING_TEXT, f"59.33,{'9' * 40} 59.33,18.07 59.335,18.07 59.33,18.06"),
        (RING_TEXT, f"{'1' + '0' * 30},18.06 59.33,18.07 59.335,18.07 59.33,18.06"),
        (CIRCLE_TEXT, f"59.3325,+{'9' * 40} 0.5"),
        (CIRCLE_TEXT, f"-{'9' * 35}.5,18.06528 0.5"),
    ],
)
def test_a_coordinate_of_thirty_digits_or_more_is_refused_as_out_of_range(
    where: str, written: str
) -> None:
    """A coordinate of 31 digits or more is refused as out of range, not a crash.

    The degrees-and-minutes hint raised decimal.InvalidOperation (decimal's integer division
    is bounded by its precision of 28 digits).
    """
    with pytest.raises(InvalidCAP) as info:
        cap.read(BASE.replace(where, written))
    [problem] = info.value.problems
    assert problem.path.endswith(("polygon[0]", "circle[0]"))
    assert "is out of range" in problem.message


@pytest.mark.parametrize("element", ["altitude", "ceiling"])
@pytest.mark.parametrize("exponent", ["1" + "0" * 18, "9" * 40])
def test_an_altitude_with_an_exponent_past_decimals_limit_is_refused_naming_it(
    element: str, exponent: str
) -> None:
    """``5e1000000000000000000`` crashed with decimal.InvalidOperation.

    Python's decimal refuses an exponent past its own limit (about 10**18) where a shorter
    one (``1e999999999``) was named "no exponent", as xs:decimal has none: so is this one.
    """
    value = f"5e{exponent}"
    inner = (
        f"<altitude>{value}</altitude>"
        if element == "altitude"
        else (f"<altitude>0</altitude><ceiling>{value}</ceiling>")
    )
    doc = BASE.replace("</circle>\n", f"</circle>\n      {inner}\n", 1)
    with pytest.raises(InvalidCAP) as info:
        cap.read(doc)
    [problem] = info.value.problems
    assert problem.path == f"info[0]/area[0]/{element}"
    assert "xs:decimal has no exponent" in problem.message


def test_a_radius_with_a_unit_of_many_digits_is_converted_exactly() -> None:
    digits = "1234567890.123456789012345678901234567"
    message = _problem(BASE.replace(CIRCLE_TEXT, f"59.3325,18.06528 {digits} m"))
    assert message.endswith("so write 1234567.890123456789012345678901234567")


def test_a_radius_in_an_unknown_unit_says_to_convert_it() -> None:
    message = _problem(BASE.replace(CIRCLE_TEXT, "59.3325,18.06528 2 furlongs"))
    assert "convert it to kilometres" in message and "write" not in message


# --- a web page fetched instead of the CAP document -------------------------------------------

PAGES = {
    "HTML5 error page": '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    "<title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n",
    "nginx's error page, no doctype": "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n",
    "HTML 4 in upper case": '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN">\n'
    "<HTML><HEAD><TITLE>503 Service Unavailable</TITLE></HEAD><BODY>Try later</BODY></HTML>",
    "XHTML login page": '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC '
    '"-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Sign in</title></head>'
    "<body><form>...</form></body></html>",
    "a captive portal's page after a comment": "\ufeff<!-- portal v2 -->\n<html><head>"
    '<meta http-equiv="refresh" content="0; url=/login"></head><body>&nbsp;</body></html>',
}


@pytest.mark.parametrize("as_bytes", [False, True])
@pytest.mark.parametrize("name", list(PAGES))
def test_an_html_page_given_as_the_alert_is_named_as_such(name: str, as_bytes: bool) -> None:
    """A feed's URL answering with a web page: the refusal says so.

    It read as a DOCTYPE refused against entity-expansion attacks, or as HTML's first unclosed
    tag ("mismatched tag at line 6"), neither of which tells an operator the fetch went wrong.
    """
    page = PAGES[name]
    with pytest.raises(InvalidCAP) as info:
        cap.read(page.encode("utf-8") if as_bytes else page)
    [problem] = info.value.problems
    assert problem.path == ""
    assert "the document is an HTML page, not a CAP alert" in problem.message
    assert "fetch the CAP document itself" in problem.message


@pytest.mark.parametrize(
    "page",
    [
        "<html><head><title>503 Service Unavailable</title></head><body/></html>",
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Sign in</title></head></html>',
        "<HTML><BODY>Moved</BODY></HTML>",
    ],
)
def test_a_well_formed_html_page_is_named_as_such_at_its_root(page: str) -> None:
    """A page that happens to be well-formed XML is refused at its root: named there too."""
    message = _problem(page)
    assert "the root of an HTML page" in message
    assert message.endswith("this is not a CAP 1.2 alert")


def test_a_cap_document_with_a_doctype_is_still_refused_as_a_doctype() -> None:
    doc = BASE.replace("<alert ", '<!DOCTYPE alert SYSTEM "cap.dtd">\n<alert ', 1)
    message = _problem(doc)
    assert message.startswith("DOCTYPE declarations are refused")
    assert "HTML" not in message


# --- where the document is, given instead of the document ---------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "alert.xml",
        "/var/spool/cap/SE-POL-2026-0001.xml",
        "C:\\alerts\\incoming\\alert.xml",
        "./alerts/alert 1.cap",
        "https://alerts.example.org/cap/SE-POL-2026-0001.xml",
        "  alert.xml\n",
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_file_name_or_url_given_as_the_document_says_to_pass_the_document(
    given: str, as_bytes: bool
) -> None:
    """``cap.read("alert.xml")``: the reader reads a document, not where one is.

    The name was parsed as XML, and the refusal described XML's rules for text before the
    root element.
    """
    with pytest.raises(InvalidCAP) as info:
        cap.read(given.encode() if as_bytes else given)
    [problem] = info.value.problems
    assert "looks like a file name or a URL" in problem.message
    assert "Path(name).read_bytes()" in problem.message


@pytest.mark.parametrize("given", ["hello", "Error 404 / Not found", "id,lon,lat"])
def test_other_text_given_as_the_document_is_not_taken_for_a_file_name(given: str) -> None:
    with pytest.raises(InvalidCAP) as info:
        cap.read(given)
    assert "file name" not in info.value.problems[0].message


def test_a_path_object_given_as_the_document_says_to_read_it(tmp_path: Path) -> None:
    path = tmp_path / "alert.xml"
    path.write_text(BASE, encoding="utf-8")
    with pytest.raises(InvalidType, match=re.escape("Path(name).read_bytes()")):
        cap.read(path)  # type: ignore[arg-type]
    assert cap.read(path.read_bytes()).alert.identifier == "SE-POL-2026-0001"
