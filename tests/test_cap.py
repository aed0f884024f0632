"""The CAP 1.2 codec: exact round trips, every problem with its path, safe repairs, safe XML."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest
from alert_strategies import alerts
from cap_helpers import BASE, NS, SWEDEN, UK, explosion, problems
from hypothesis import given, settings

from geotarget import Area, InvalidCAP, InvalidCoordinates, InvalidType, Polygon, cap
from geotarget import alerts as al
from geotarget.alerts import Alert, MessageType, Status

#: The element order of CAP-v1.2.xsd, written out independently of the codec (the oracle).
XSD_ORDER = {
    "alert": "identifier sender sent status msgType source scope restriction addresses code "
    "note references incidents info",
    "info": "language category event responseType urgency severity certainty audience eventCode "
    "effective onset expires senderName headline description instruction web contact parameter "
    "resource area",
    "resource": "resourceDesc mimeType size uri derefUri digest",
    "area": "areaDesc polygon circle geocode altitude ceiling",
    "eventCode": "valueName value",
    "parameter": "valueName value",
    "geocode": "valueName value",
}

# --- round trips ----------------------------------------------------------------------------


@given(a=alerts())
def test_round_trip_is_exact(a: Alert) -> None:
    """loads(dumps(a)) == a for any alert, and writing again gives the same text."""
    text = cap.dumps(a)
    back = cap.loads(text)
    assert back == a
    assert cap.dumps(back) == text


def test_rings_near_zero_are_plain_decimals_and_each_language_writes_the_same() -> None:
    """Coordinates whose repr has an exponent are written as xs:decimal, in every <info>.

    Each distinct ring is formatted once per document and reused by the other languages'
    areas; a second, different ring is not mistaken for the first.
    """
    ring = ((5e-05, 0.0), (0.0001, 1e-07), (-3e-06, 2e-05), (5e-05, 0.0))
    other = ((18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.0))
    base = explosion()
    infos = tuple(
        attrs.evolve(
            info,
            areas=(al.AlertArea(description="here", polygons=(ring, other) if i else (ring,)),),
        )
        for i, info in enumerate(base.infos)
    )
    a = attrs.evolve(base, infos=infos)
    text = cap.dumps(a)
    polygons = [e.text for e in ET.fromstring(text).iter(f"{{{NS}}}polygon")]
    assert (
        polygons[0] == polygons[1] == "0.0,0.00005 0.0000001,0.0001 0.00002,-0.000003 0.0,0.00005"
    )
    assert polygons[2] == "59.0,18.0 59.0,18.1 59.1,18.1 59.0,18.0"
    assert cap.loads(text) == a


@settings(max_examples=30)
@given(a=alerts())
def test_round_trip_through_bytes_needs_no_repair(a: Alert) -> None:
    """Our own output read as UTF-8 bytes by the lenient reader needs no repair."""
    result = cap.loads_lenient(cap.dumps(a).encode("utf-8"))
    assert result.alert == a
    assert result.repairs == ()


@settings(max_examples=30)
@given(a=alerts())
def test_dumps_writes_schema_order_in_the_cap_namespace(a: Alert) -> None:
    """Every element is in the CAP 1.2 namespace and in CAP-v1.2.xsd order."""
    root = ET.fromstring(cap.dumps(a))

    def check(el: ET.Element) -> None:
        assert el.tag.startswith("{" + NS + "}")
        local = el.tag.split("}")[1]
        if local in XSD_ORDER:
            order = XSD_ORDER[local].split()
            seen = [order.index(c.tag.split("}")[1]) for c in el]
            assert seen == sorted(seen), (local, [c.tag for c in el])
        for child in el:
            check(child)

    check(root)


def test_pilot_alert_writes_lat_lon_and_kilometres() -> None:
    """A 500 m circle at lon 18.06528, lat 59.3325 is written '59.3325,18.06528 0.5'."""
    root = ET.fromstring(cap.dumps(explosion()))
    circles = [c.text for c in root.iter(f"{{{NS}}}circle")]
    assert circles == ["59.3325,18.06528 0.5"] * 2
    codes = [c.findtext(f"{{{NS}}}value") for c in root.iter(f"{{{NS}}}eventCode")]
    assert codes == ["explosion", "explosion"]
    assert [e.text for e in root.iter(f"{{{NS}}}language")] == ["sv-SE", "en"]
    assert cap.loads(cap.dumps(explosion())).kind == "explosion"


def test_polygons_are_written_lat_lon_and_read_back_lon_lat() -> None:
    """A polygon's text swaps to lat,lon on the way out and back to (lon, lat) on the way in."""
    square = Polygon([(18.0, 59.0), (18.1, 59.0), (18.1, 59.1), (18.0, 59.1)])
    a = cap.loads(BASE)
    area = al.AlertArea.from_area("x", square)
    b = attrs.evolve(a, infos=[attrs.evolve(a.infos[0], areas=[area])])
    text = ET.fromstring(cap.dumps(b)).findtext(f".//{{{NS}}}polygon")
    assert text is not None
    assert [tuple(map(float, p.split(",")))[::-1] for p in text.split()] == list(square.exterior)
    assert cap.loads(cap.dumps(b)).area == Area([square])


@pytest.mark.parametrize(
    ("km", "metres"),
    [("0.5", 500.0), ("25.0", 25000.0), ("0.001", 1.0), ("1000", 1e6), ("0.1234567", 123.4567),
     ("0", 0.0), ("+3", 3000.0)],
)  # fmt: skip
def test_circle_kilometres_become_metres_exactly(km: str, metres: float) -> None:
    """Circle radii are read as kilometres and converted by an exact decimal shift."""
    doc = BASE.replace("0.5</circle>", f"{km}</circle>")
    assert cap.loads(doc).infos[0].areas[0].circles[0][2] == metres


def test_times_keep_their_offset_and_utc_is_written_minus_zero() -> None:
    """Offsets are written as given; UTC is written -00:00 (CAP 1.2 §3.3.2), +00:00 read too."""
    a = cap.loads(BASE.replace("21:30:00+02:00</sent>", "19:30:00-00:00</sent>"))
    assert a.sent == datetime(2026, 5, 4, 19, 30, tzinfo=timezone.utc)
    assert "<sent>2026-05-04T19:30:00-00:00</sent>" in cap.dumps(a)
    assert "<onset>2026-05-04T21:30:00+02:00</onset>" in cap.dumps(a)
    plus = cap.read(BASE.replace("21:30:00+02:00</sent>", "19:30:00+00:00</sent>"))
    assert plus.alert == a
    assert [w.path for w in plus.warnings] == ["sent"]
    assert "UTC MUST be written -00:00" in plus.warnings[0].message
    assert cap.read(cap.dumps(a)).warnings == ()


def test_text_is_escaped_and_kept_exactly() -> None:
    """Markup characters, CR and surrounding whitespace in free text survive a round trip."""
    a = cap.loads(BASE)
    tricky = " a & b < c > d ]]> \r\n\t 'q' \"q\" "
    info = attrs.evolve(a.infos[0], description=tricky, instruction="")
    b = attrs.evolve(a, note=tricky, infos=[info])
    text = cap.dumps(b)
    assert "&#13;" in text and "]]&gt;" in text
    assert cap.loads(text).note == tricky
    assert cap.loads(text).infos[0].instruction == ""


# --- strict: every problem, with its path --------------------------------------------------


def test_strict_reports_every_problem_with_its_path() -> None:
    """One InvalidCAP lists all problems, each with its element path and the rule."""
    doc = (
        BASE.replace("<status>Actual</status>", "<status>Real</status>")
        .replace("<sent>2026-05-04T21:30:00+02:00</sent>", "<sent>2026-05-04 21:30</sent>")
        .replace("<certainty>Likely</certainty>", "")
        .replace("59.3325,18.06528 0.5", "59.3325,18.06528")
        .replace("<event>Explosion</event>", "<event>Explosion</event><event>Bomb</event>")
    )
    found = problems(doc)
    assert found.keys() == {
        "status", "sent", "info[0]/certainty", "info[0]/event[1]", "info[0]/area[0]/circle[0]",
    }  # fmt: skip
    assert "must be one of Actual, Draft, Exercise, System, Test (got 'Real')" in found["status"]
    assert "YYYY-MM-DDThh:mm:ss±hh:mm" in found["sent"]
    assert "must hold a <certainty>" in found["info[0]/certainty"]
    assert "at most 1 <event> (got 2)" in found["info[0]/event[1]"]
    assert "'lat,lon radius'" in found["info[0]/area[0]/circle[0]"]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("2026-05-04T21:30:00Z", "uses 'Z' for UTC"),
        ("2026-05-04T21:30:00.5+02:00", "must not have fractional seconds"),
        ("2026-05-04T21:30:00", "must carry an explicit UTC offset"),
        ("2026-13-04T21:30:00+02:00", "is not a valid date-time: month must be in 1..12"),
        ("4 May 2026", "must be a date-time"),
    ],
)
def test_date_time_rules(value: str, rule: str) -> None:
    """Date-times need an explicit offset and whole seconds; each failure says which rule."""
    found = problems(BASE.replace("2026-05-04T23:30:00+02:00", value))
    assert list(found) == ["info[0]/expires"]
    assert rule in found["info[0]/expires"]


@pytest.mark.parametrize(
    ("polygon", "rule"),
    [
        ("", "got an empty polygon"),
        ("59.33,18.06 59.33,18.07 59.33,18.06", "at least 4 'lat,lon' points"),
        ("59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06", "must be closed"),
        ("59.33,18.06, 59.33,18.07 59.335,18.07 59.33,18.06", "point 0 '59.33,18.06,' is not"),
        ("59.33;18.06 59.33;18.07 59.335;18.07 59.33;18.06", "(4 bad points in all)"),
        ("95.0,18.06 59.33,18.07 59.335,18.07 95.0,18.06", "is out of range"),
        ("59.33,18.06 59.33,18.07 59.335,18.07 59.33,1e1", "point 3 '59.33,1e1' is not"),
    ],
)
def test_polygon_rules(polygon: str, rule: str) -> None:
    """A polygon needs >= 4 closed 'lat,lon' decimal points in range."""
    doc = BASE.replace("59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06", polygon)
    found = problems(doc)
    assert list(found) == ["info[0]/area[0]/polygon[0]"]
    assert rule in found["info[0]/area[0]/polygon[0]"]


@pytest.mark.parametrize(
    ("circle", "rule"),
    [
        ("59.3325,18.06528", "'lat,lon radius'"),
        ("59.3325,18.06528 -1", "radius must be >= 0 and <= 1000 km"),
        ("59.3325,18.06528 1500", "radius must be >= 0 and <= 1000 km (got 1500 km)"),
        ("59.3325 18.06528 0.5", "'lat,lon radius'"),
        ("18.06528,359.3325 0.5", "out of range"),
    ],
)
def test_circle_rules(circle: str, rule: str) -> None:
    """A circle is 'lat,lon radius' with 0 <= radius <= 1000 km."""
    found = problems(BASE.replace("59.3325,18.06528 0.5", circle))
    assert list(found) == ["info[0]/area[0]/circle[0]"]
    assert rule in found["info[0]/area[0]/circle[0]"]


def test_structure_problems() -> None:
    """Unknown elements, foreign elements and text in containers are reported where they are."""
    doc = (
        BASE.replace("<headline>", "<colour>red</colour><headline>")
        .replace("<area>", '<x:ext xmlns:x="urn:x">1</x:ext><area>')
        .replace("<scope>Public</scope>", "<scope>Public</scope>stray")
    )
    found = problems(doc)
    assert "unknown element <colour>" in found["info[0]/colour"]
    assert "in namespace urn:x" in found["info[0]/ext"]
    assert "must hold elements only, not text (got 'stray')" in found["alert"]


def test_model_rules_are_reported_with_paths() -> None:
    """Rules of the alert model become problems at the element or block that breaks them."""
    doc = BASE.replace("2026-05-04T21:30:00+02:00</onset>", "0001-01-01T00:00:00+14:00</onset>")
    assert "between 0001-01-02 and 9999-12-30 UTC" in problems(doc)["info[0]/onset"]
    doc = BASE.replace("<identifier>SE-POL-2026-0001", "<identifier>SE POL")
    assert "identifier must not contain ' '" in problems(doc)["identifier"]


@pytest.mark.parametrize(
    ("msg_type", "why"),
    [
        ("Update", "an Update changes the incident of the messages it names"),
        ("Cancel", "a Cancel ends the incident of the messages it names"),
        ("Ack", "an Ack acknowledges the messages it names"),
        ("Error", "an Error rejects the messages it names"),
    ],
)
def test_a_message_other_than_an_alert_without_references_is_refused_as_geotargets_limit(
    msg_type: str, why: str
) -> None:
    """An Ack without <references> names the element and says the rule is geotarget's.

    CAP's schema makes <references> optional for every msgType; the alert model requires it
    for all but Alert. The refusal read "alert: references must name at least one earlier
    message for msg_type Ack (got none)": at the alert, in the model's terms, and as if CAP
    required it.
    """
    doc = BASE.replace("<msgType>Alert</msgType>", f"<msgType>{msg_type}</msgType>")
    for read in (cap.loads, cap.loads_lenient):
        with pytest.raises(InvalidCAP) as info:
            read(doc)
        [problem] = info.value.problems
        assert problem.path == "references"
        assert problem.message == (
            f"must name at least one earlier message as sender,identifier,sent for msgType "
            f"{msg_type} (got no <references>): geotarget requires them for every msgType but "
            f"Alert, since {why} (a limit of geotarget: CAP's schema makes <references> "
            f"optional, though CAP 1.2 defines msgType {msg_type} by the messages 'identified "
            "in <references>')"
        )
    referenced = doc.replace(
        "<scope>Public</scope>",
        "<scope>Public</scope><references>polisen@polisen.se,SE-POL-2026-0000,"
        "2026-05-04T21:00:00+02:00</references>",
    )
    assert cap.loads(referenced).msg_type.value == msg_type


def test_polygons_in_one_area_are_a_union_without_holes() -> None:
    """A polygon inside another is not a hole: CAP areas are unions, so its inside is covered."""
    inner = "59.331,18.062 59.331,18.065 59.333,18.065 59.333,18.062 59.331,18.062"
    doc = BASE.replace("</polygon>", f"</polygon>\n      <polygon>{inner}</polygon>")
    a = cap.loads(doc)
    assert a.area is not None and len(a.area.parts) == 3
    assert a.area.contains([18.063, 18.0655], [59.332, 59.334]).tolist() == [True, True]
    assert a.area.contains(18.2, 59.332).item() is False


def test_references_are_triples() -> None:
    """References are space-separated sender,identifier,sent triples; empty is a problem."""
    doc = BASE.replace(
        "<scope>Public</scope>",
        "<scope>Public</scope><references>a@b.se,ID-1,2026-05-04T20:00:00+02:00 "
        "c@d.se,ID-2,2026-05-04T20:10:00+02:00</references>",
    )
    refs = cap.loads(doc).references
    assert [(r.sender, r.identifier) for r in refs] == [("a@b.se", "ID-1"), ("c@d.se", "ID-2")]
    assert refs[1].sent == datetime(2026, 5, 4, 18, 10, tzinfo=timezone.utc)
    empty = BASE.replace("<scope>Public</scope>", "<scope>Public</scope><references/>")
    assert "at least one sender,identifier,sent triple" in problems(empty)["references"]
    bad = BASE.replace("<scope>Public</scope>", "<scope>Public</scope><references>a,b</references>")
    assert "item 0 must be sender,identifier,sent" in problems(bad)["references"]


def test_quoted_lists() -> None:
    """Addresses and incidents are space-separated; items with spaces are double-quoted."""
    doc = BASE.replace(
        "<scope>Public</scope>",
        '<scope>Private</scope><addresses>ops "Polisen Stockholm" 112</addresses>',
    )
    a = cap.loads(doc)
    assert a.addresses == ("ops", "Polisen Stockholm", "112")
    assert '<addresses>ops "Polisen Stockholm" 112</addresses>' in cap.dumps(a)


def test_root_must_be_a_cap_1_2_alert() -> None:
    """Another root is not CAP; a CAP 1.1 document is diagnosed, and read by the lenient reader."""
    assert "this is not a CAP 1.2 alert" in problems("<rss><channel/></rss>")[""]
    old = BASE.replace(NS, "urn:oasis:names:tc:emergency:cap:1.1").replace(
        "<certainty>Likely", "<certainty>Very Likely"
    )
    found = problems(old)
    assert "CAP 1.1 document" in found["alert"]
    assert "'Very Likely' is a CAP 1.1 certainty" in found["info[0]/certainty"]
    result = cap.loads_lenient(old)
    assert result.alert == cap.loads(BASE)
    assert [r.path for r in result.repairs] == ["alert", "info[0]/certainty"]


def test_attributes_are_not_cap() -> None:
    """Attributes are problems (xsi: ones excepted); the lenient reader ignores them."""
    doc = BASE.replace("<info>", '<info lang="sv">').replace(
        "<alert ", '<alert xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="urn:x cap.xsd" '
    )  # fmt: skip
    assert list(problems(doc)) == ["info[0]"]
    assert [r.path for r in cap.loads_lenient(doc).repairs] == ["info[0]"]


def test_signatures_may_follow_the_cap_elements() -> None:
    """XML-DSig elements after the CAP elements are allowed (and not kept); before them, not."""
    sig = '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>'
    a = cap.loads(BASE.replace("</alert>", sig + "</alert>"))
    assert a == cap.loads(BASE)
    early = BASE.replace("<info>", sig + "<info>")
    assert "comes after the XML signature" in problems(early)["alert"]


# --- lenient: safe repairs, each reported ----------------------------------------------------

LENIENT_CASES = [
    ("<sent>2026-05-04T21:30:00+02:00</sent>", "<sent>2026-05-04T19:30:00Z</sent>", "sent",
     "read it as -00:00"),
    (" 59.33,18.06</polygon>", "</polygon>", "info[0]/area[0]/polygon[0]",
     "closed the ring by repeating its first point 59.33,18.06"),
    ("<status>Actual</status>", "<status>\n   Actual\n  </status>", "status", "stripped it"),
    ("<identifier>SE-POL-2026-0001</identifier>", "<identifier> SE-POL-2026-0001 </identifier>",
     "identifier", "stripped it"),
    ("<msgType>Alert</msgType>\n  <scope>Public</scope>",
     "<scope>Public</scope>\n  <msgType>Alert</msgType>", "alert", "read them in schema order"),
    # The strict refusal did not say that lenient reading ignores it (the CLI then did not point
    # to preview --lenient); xml:lang is named so, as written.
    ("<info>", '<info xml:lang="sv-SE">', "info[0]", "'xml:lang': CAP has none; ignored it"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "path", "fix"), LENIENT_CASES)
def test_lenient_repairs_what_is_safe(old: str, new: str, path: str, fix: str) -> None:
    """Strict mode refuses the flaw; lenient mode repairs it, says so, and reads the same alert."""
    doc = BASE.replace(old, new)
    assert doc != BASE
    assert "(loads_lenient repairs this)" in problems(doc)[path]
    result = cap.loads_lenient(doc)
    assert result.alert == cap.loads(BASE)
    assert [r.path for r in result.repairs] == [path]
    assert result.repairs[0].message.endswith(fix)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("T23:30:00+02:00", "T23:30:00.25+02:00", "info[0]/expires"),
        ("59.3325,18.06528 0.5", "59.3325,18.06528", "info[0]/area[0]/circle[0]"),
        ("<certainty>Likely</certainty>", "", "info[0]/certainty"),
        ("59.33,18.06 59.33,18.07", "59.33,18.06,", "info[0]/area[0]/polygon[0]"),
    ],
)
def test_lenient_does_not_guess(old: str, new: str, path: str) -> None:
    """What is not safely repairable fails in lenient mode too, with the same path."""
    with pytest.raises(InvalidCAP) as info:
        cap.loads_lenient(BASE.replace(old, new))
    assert path in info.value.paths


# --- envelope: swapped coordinates ------------------------------------------------------------


def test_swapped_coordinates_are_detected_with_an_envelope() -> None:
    """A part outside the envelope but inside it with lat/lon swapped is reported, per part."""
    swapped = BASE.replace("59.3325,18.06528 0.5", "18.06528,59.3325 0.5")
    assert cap.loads(swapped).area is not None  # plausible coordinates: nothing to see without
    found = problems(swapped, envelope=SWEDEN)
    assert list(found) == ["info[0]/area[0]/circle[0]"]
    assert "looks written 'lon,lat'" in found["info[0]/area[0]/circle[0]"]
    with pytest.raises(InvalidCAP):
        cap.loads_lenient(swapped, envelope=SWEDEN)
    assert cap.loads(BASE, envelope=SWEDEN) == cap.loads(BASE)
    far = BASE.replace("59.3325,18.06528 0.5", "-33.9,151.2 0.5")
    assert cap.loads(far, envelope=SWEDEN).area is not None  # outside, but not a swap


def test_envelope_is_validated() -> None:
    """The envelope is (west, south, east, north) in range with west < east, south < north."""
    with pytest.raises(InvalidType, match=r"envelope must be \(west, south, east, north\)"):
        cap.loads(BASE, envelope=(1.0, 2.0, 3.0))
    with pytest.raises(InvalidCoordinates, match="west < east"):
        cap.loads(BASE, envelope=(24.2, 55.3, 10.5, 69.1))
    with pytest.raises(InvalidCoordinates, match="envelope north"):
        cap.loads(BASE, envelope=(10.5, 55.3, 24.2, 99.0))


# --- safe XML -----------------------------------------------------------------------------------

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE alert [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
    + BASE.split("?>\n", 1)[1].replace("SE-POL-2026-0001", "&lol9;")
)


def _xxe(target: str) -> str:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY xxe SYSTEM "{target}">]>\n'
        + BASE.split("?>\n", 1)[1].replace("<headline>Explosion", "<headline>&xxe;")
    )


def test_billion_laughs_is_refused() -> None:
    """An entity-expansion bomb is refused at its DOCTYPE, before any expansion."""
    found = problems(LAUGHS)
    assert "DOCTYPE declarations are refused" in found[""]
    assert "DOCTYPE" in problems(LAUGHS.encode("utf-8"))[""]


def test_external_entities_and_dtds_are_refused_and_nothing_is_fetched(tmp_path: Path) -> None:
    """XXE, external DTDs and parameter entities are refused; no file or socket is touched."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    docs = [
        _xxe(secret.as_uri()),
        _xxe("http://127.0.0.1:9/steal"),
        '<?xml version="1.0"?><!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">'
        + BASE.split("?>\n", 1)[1],
        f'<!DOCTYPE alert [<!ENTITY % p SYSTEM "{secret.as_uri()}"> %p;]>'
        + BASE.split("?>\n", 1)[1],
    ]
    code = textwrap.dedent(
        """
        import json, sys
        from geotarget import cap
        from geotarget.errors import InvalidCAP
        docs = json.loads(sys.stdin.read())
        events = []
        def hook(event, args):
            if event == "open" or event.startswith(("socket.", "urllib.")):
                events.append([event, str(args[0])])
        sys.addaudithook(hook)
        verdicts = []
        for doc in docs:
            try:
                cap.loads(doc)
                verdicts.append("parsed")
            except InvalidCAP as err:
                verdicts.append(err.problems[0].message)
        print(json.dumps([verdicts, events]))
        """
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(cap.__file__).parents[1])},
    )
    verdicts, events = json.loads(out.stdout)
    assert all(v.startswith("DOCTYPE declarations are refused") for v in verdicts), verdicts
    assert events == []


def test_size_depth_and_element_count_are_bounded() -> None:
    """Oversized, over-deep and over-long documents are refused with the limit in the message."""
    big = BASE.replace("<headline>", "<headline>" + "x" * cap.MAX_DOCUMENT_BYTES)
    assert "at most 4,194,304 bytes" in problems(big)[""]
    deep = BASE.replace("<headline>", "<a>" * 40 + "</a>" * 40 + "<headline>")
    assert f"nest at most {cap.MAX_DEPTH} deep" in problems(deep)[""]
    wide = BASE.replace("<headline>", "<a/>" * cap.MAX_ELEMENTS + "<headline>")
    assert "at most 100,000 elements" in problems(wide)[""]


def test_malformed_xml_says_where() -> None:
    """Not well-formed XML and undefined entities are problems with a line and a column."""
    assert "mismatched tag at line 5" in problems(BASE.replace("</sent>", "</sant>"))[""]
    found = problems(BASE.replace("Sergels torg</areaDesc>", "&nbsp;</areaDesc>"))
    assert "undefined entity" in found[""]
    with pytest.raises(InvalidType, match="data must be str or bytes"):
        cap.loads(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entity", "char", "encoding"),
    [("&nbsp;", "\u00a0", "utf-8"), ("&eacute;", "é", "utf-8"), ("&Auml;", "Ä", "utf-16"),
     ("&copy;", "©", "iso-8859-1"), ("&bogus;", None, "utf-8")],
)  # fmt: skip
def test_an_html_entity_is_named_with_what_to_write_instead(
    entity: str, char: str | None, encoding: str
) -> None:
    """Feeds written by web systems carry HTML entities, which XML does not define.

    The message was "undefined entity at line …, column …": it now names the entity, the
    rule (XML predefines five; geotarget reads no DTD) and what to write instead.
    """
    doc = BASE.replace("Sergels torg</areaDesc>", f"Sergels{entity}torg</areaDesc>", 1)
    data = doc.replace("UTF-8", encoding.upper()).encode(encoding)
    for document in (data, doc):
        [message] = problems(document).values()
        assert message.startswith(f"not well-formed XML: undefined entity {entity!r} at line "), (
            message
        )
        assert "&lt; &gt; &amp; &apos; &quot;" in message
        if char is not None:
            assert f"{char!r} itself or &#{ord(char)};" in message


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("<areaDesc>Sergels torg", "<areaDesc>Sergels torg & Gallerian", "a bare '&'"),
        ("<areaDesc>Sergels torg", "<areaDesc>Sergels torg &amp Gallerian", "a bare '&'"),
        ("</areaDesc>", "</areaDesc><!-- x --><polygon>59.3,18.0 59.4,18.0 59.4,18.1 59.3,18.0"
         "</polygon>", None),
        ("<headline>", "<headline>Vind <25 m/s: ", "a '<' that starts no tag"),
        ("<headline>", "<headline>a < b ", "a '<' that starts no tag"),
    ],
)  # fmt: skip
def test_a_bare_ampersand_or_less_than_in_text_is_named(
    old: str, new: str, said: str | None
) -> None:
    """An unescaped '&' (a URL's query string, "Police & fire") or '<' ("<25 m/s") in text.

    Common in feeds written by hand or by string templates; expat says only "not well-formed
    (invalid token)" at the character after it: the message now names it and the remedy.
    """
    doc = BASE.replace(old, new, 1)
    assert doc != BASE
    if said is None:  # well-formed: nothing to name
        cap.loads(doc)
        return
    for document in (doc, doc.encode("utf-8")):
        [message] = problems(document).values()
        assert message.startswith("not well-formed XML: not well-formed (invalid token) at line")
        assert said in message, message
        assert ("'&amp;'" if "&" in said else "'&lt;'") in message


def test_an_unbound_prefix_is_named_with_the_declaration_it_needs() -> None:
    """A ``<cap:alert>`` cut out of a feed loses the feed's ``xmlns:cap``; so may ``xsi:``.

    expat said "unbound prefix at line 1, column 1", naming no prefix.
    """
    body = BASE.split("?>", 1)[1].strip()
    prefixed = re.sub(r"<(/?)(\w+)", r"<\1cap:\2", body).replace(f' xmlns="{NS}"', "")
    [message] = problems(prefixed).values()
    assert message.startswith("not well-formed XML: unbound prefix at line 1, column 1: "), message
    assert "'cap:'" in message and f'xmlns:cap="{NS}"' in message
    schema = body.replace(f'xmlns="{NS}"', f'xmlns="{NS}" xsi:schemaLocation="{NS} cap.xsd"')
    [message] = problems(schema.encode()).values()
    assert "'xsi:'" in message and "'cap:'" not in message, message
    assert cap.loads(prefixed.replace("<cap:alert", f'<cap:alert xmlns:cap="{NS}"', 1)) == (
        cap.loads(BASE)
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [("Sergels\x0btorg", "the control character U+000B"),
     ("Sergels torg\x1b[0m", "the control character U+001B"),
     ("Sergels&#11;torg", "the character reference '&#11;' names U+000B"),
     ("Sergels&#x1B;torg", "the character reference '&#x1B;' names U+001B")],
)  # fmt: skip
def test_a_control_character_is_named(text: str, said: str) -> None:
    """C0 controls (from legacy text systems) are no XML 1.0 characters, literal or referenced.

    expat said "not well-formed (invalid token)" or "reference to invalid character number",
    naming no character.
    """
    doc = BASE.replace("Sergels torg</areaDesc>", f"{text}</areaDesc>", 1)
    for document in (doc, doc.encode("utf-8"), doc.replace("UTF-8", "UTF-16").encode("utf-16")):
        [message] = problems(document).values()
        assert message.startswith("not well-formed XML: "), message
        assert said in message and "§2.2" in message, message


def test_encodings() -> None:
    """Bytes follow their XML declaration; str is taken as decoded text whatever it declares."""
    latin = BASE.replace("UTF-8", "ISO-8859-1").replace("Sergels torg<", "Sergels torg, Gärdet<")
    assert cap.loads(latin.encode("iso-8859-1")).infos[0].areas[0].description.endswith("Gärdet")
    assert cap.loads(latin).infos[0].areas[0].description.endswith("Gärdet")
    utf16 = BASE.replace("UTF-8", "UTF-16").encode("utf-16")
    assert cap.loads(utf16) == cap.loads(BASE)
    assert cap.loads("\ufeff" + BASE) == cap.loads(BASE.encode("utf-8-sig"))


# --- real documents from other systems (../shared/data/cap) ----------------------------------

#: For each invalid document, exactly where we diagnose it (checked against MANIFEST.csv).
DIAGNOSES = {
    "alphagov_INVALID_AREA_WITH_DUPLICATED_VERTEX.xml": {"info[0]/area[0]/polygon[0]"},
    "alphagov_INVALID_AREA_WITH_HOLE.xml": {
        "info[0]/area[0]/polygon[0]", "info[0]/area[0]/polygon[1]",
    },
    "alphagov_INVALID_AREA_WITH_INTERSECTIONS.xml": {"info[0]/area[0]/polygon[0]"},
    "alphagov_WAINFLEET_CANCEL_WITH_EMPTY_REFERENCES.xml": {"references"},
    "google_canada_errors.xml": {"references"},
    "google_earthquake_cap11.xml": {"alert"},
    "google_noaa_errors_cap11.xml": {
        "alert", "references", "info[0]/urgency", "info[0]/severity", "info[0]/certainty",
        "info[0]/area[0]/polygon[0]", "info[0]/area[0]/polygon[1]",
    },
    "kde_alertswiss-POA-1222963954-5.xml": {
        "alert", "info[0]", "info[0]/category", "info[0]/certainty", "info[0]/instruction[1]",
    },
    "kde_au-bom-en.rss.xml": {""},
    "kde_gdacs-cap_1023542.xml": {"info[0]/area[0]/polygon[0]"},
    "kde_il-488abaaf-cad5-4d2b-93b2-703016878453.xml": {
        f"info[{i}]/area[{j}]/polygon[0]" for i in range(2) for j in range(3)
    },
    "kde_noaa-2.49.0.1.840.0.bde6c30c43ead9c23c42bea7977652a7de76d87d.002.1.xml": {
        "info[0]/area[0]",
    },
    "oasiscap_nws-5c2cf27b_cap11.xml": {"alert", "info[0]/area[0]/polygon[0]"},
    "oasiscap_v1dot1_appendix_adot3.xml": {"alert"},
    "oasiscap_v1dot1_appendix_adot4.xml": {"alert"},
    "wmo_tg_invalid_schema.xml": {"info[0]/certainty"},
}  # fmt: skip


def _manifest(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "cap" / "MANIFEST.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _envelope_for(name: str) -> tuple[float, float, float, float] | None:
    """The UK service envelope for the UK documents (to catch their swapped polygons)."""
    return UK if name.startswith("alphagov_") else None


@pytest.mark.shared_data
def test_every_valid_document_parses_matches_the_manifest_and_round_trips(
    shared_data: Path,
) -> None:
    """Each valid=yes document parses strictly, matches MANIFEST's counts and round-trips."""
    rows = [r for r in _manifest(shared_data) if r["valid"] == "yes"]
    assert rows
    for r in rows:
        a = cap.loads(
            (shared_data / "cap" / r["file"]).read_bytes(), envelope=_envelope_for(r["file"])
        )
        areas = [x for i in a.infos for x in i.areas]
        got = {
            "msg_type": a.msg_type.value, "status": a.status.value, "n_info": str(len(a.infos)),
            "n_area": str(len(areas)), "n_polygon": str(sum(len(x.polygons) for x in areas)),
            "n_circle": str(sum(len(x.circles) for x in areas)),
            "n_geocode": str(sum(len(x.geocodes) for x in areas)),
        }  # fmt: skip
        assert got == {k: r[k] for k in got}, r["file"]
        langs = list(dict.fromkeys(a.languages))
        if r["languages"].startswith("(none"):
            assert langs == ["en-US"] or not langs, r["file"]
        elif r["languages"]:
            assert langs == r["languages"].split(";"), r["file"]
        assert cap.loads(cap.dumps(a)) == a, r["file"]
        assert cap.loads_lenient(cap.dumps(a)).repairs == ()


@pytest.mark.shared_data
def test_every_invalid_document_is_diagnosed_where_the_manifest_says(shared_data: Path) -> None:
    """Each valid=no document raises InvalidCAP, with problems exactly at the known paths."""
    rows = [r for r in _manifest(shared_data) if r["valid"] == "no"]
    assert rows
    for r in rows:
        data = (shared_data / "cap" / r["file"]).read_bytes()
        with pytest.raises(InvalidCAP) as info:
            cap.loads(data, envelope=_envelope_for(r["file"]))
        if r["file"] in DIAGNOSES:
            assert set(info.value.paths) == DIAGNOSES[r["file"]], r["file"]
        if r["cap_version"] == "1.1":
            assert "CAP 1.1 document" in str(info.value), r["file"]
        if "swapped" in r["why_invalid"]:
            assert "looks written 'lon,lat'" in str(info.value), r["file"]


@pytest.mark.shared_data
def test_lenient_reads_cap_1_1_and_misordered_real_documents(shared_data: Path) -> None:
    """Real CAP 1.1 documents and a misordered NWS alert are read leniently, with repairs."""
    for name, path in [
        ("google_earthquake_cap11.xml", "alert"),
        ("oasiscap_v1dot1_appendix_adot3.xml", "alert"),
        ("kde_noaa-2.49.0.1.840.0.bde6c30c43ead9c23c42bea7977652a7de76d87d.002.1.xml",
         "info[0]/area[0]"),
    ]:  # fmt: skip
        result = cap.loads_lenient((shared_data / "cap" / name).read_bytes())
        assert [r.path for r in result.repairs] == [path], name
        assert cap.loads(cap.dumps(result.alert)) == result.alert


def test_status_variants_read_back() -> None:
    """Test, Exercise, System and Draft messages read as such."""
    for status in Status:
        doc = BASE.replace("<status>Actual</status>", f"<status>{status.value}</status>")
        assert cap.loads(doc).status is status
    assert cap.loads(BASE).msg_type is MessageType.ALERT
