"""CAP 1.2 as upstream systems write it, read against CAP-v1.2.xsd and a plain ElementTree reading.

The documents are written by hand in the shapes real issuers' software gives them (a .NET
XmlSerializer's ``xsi:nil``...); the oracles are the OASIS schema (``tests/cap_schema``, read
by xmlschema) and the standard library's ElementTree with the CAP 1.2 text.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import shapely
import xmlschema

from geotarget import InvalidCAP, cap

XSD = Path(__file__).parent / "cap_schema" / "CAP-v1.2.xsd"
NS = "urn:oasis:names:tc:emergency:cap:1.2"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


@functools.cache
def schema() -> Any:
    return xmlschema.XMLSchema(str(XSD))


def schema_errors(doc: str) -> list[str]:
    return [str(e.reason) for e in schema().iter_errors(doc)]


# --- xsi:nil, as .NET's XmlSerializer writes a property without a value -----------------------

#: An IPAWS-style alert as a .NET service serialises it: xsi and xsd declared on the root, and
#: the nullable properties with no value written ``xsi:nil="true"``.
DOTNET = """<?xml version="1.0" encoding="utf-8"?>
<alert xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xmlns:xsd="http://www.w3.org/2001/XMLSchema"
       xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>COG-1234-20261207T150000</identifier>
  <sender>cog1234@ipaws.example</sender>
  <sent>2026-12-07T15:00:00-06:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <code>IPAWSv1.0</code>
  <info>
    <language>en-US</language>
    <category>Safety</category>
    <event>Civil Emergency Message</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <effective xsi:nil="true" />
    <expires>2026-12-07T17:00:00-06:00</expires>
    <senderName>County Emergency Management</senderName>
    <headline>Shelter in place</headline>
    <description xsi:nil="false">Chemical release near the rail yard.</description>
    <area>
      <areaDesc>Rail yard and 2 km around</areaDesc>
      <circle>35.4676,-97.5164 2</circle>
      <altitude xsi:nil="true" />
    </area>
  </info>
</alert>"""


def test_xsi_nil_is_refused_strictly_as_the_schema_refuses_it_and_read_as_absent_leniently() -> (
    None
):
    """CAP-v1.2.xsd declares no element nillable: xsi:nil, true or false, makes it invalid.

    Strict reading accepted ``xsi:nil`` silently (skipping every XSI attribute) and refused an
    empty ``<effective xsi:nil="true"/>`` only as a date-time "got ''". Now each is named at
    its path with the rule; lenient reading reads a nilled empty element as absent (what the
    sender meant) and ignores ``xsi:nil="false"``: the alert equals the one ElementTree reads
    from the document with those elements removed and the attribute dropped.
    """
    assert any("not nillable" in e for e in schema_errors(DOTNET))
    with pytest.raises(InvalidCAP) as info:
        cap.read(DOTNET)
    found = {p.path: p.message for p in info.value.problems}
    assert set(found) == {
        "info[0]/effective",
        "info[0]/description",
        "info[0]/area[0]/altitude",
    }
    assert all("xsi:nil" in m and "nillable" in m for m in found.values())

    parsed = cap.loads_lenient(DOTNET)
    assert sorted(r.path for r in parsed.repairs) == sorted(found)

    # The oracle: the document without the nilled elements and without xsi:nil at all.
    root = ET.fromstring(DOTNET.encode())
    for parent in root.iter():
        for child in list(parent):
            nil = child.attrib.pop(f"{{{XSI}}}nil", None)
            if nil == "true":
                parent.remove(child)
    ET.register_namespace("", NS)
    plain = ET.tostring(root, encoding="unicode")
    assert schema_errors(plain) == []
    expected = cap.loads(plain)
    assert parsed.alert == expected
    info0 = parsed.alert.infos[0]
    assert info0.effective is None
    assert info0.description == "Chemical release near the rail yard."
    assert info0.areas[0].altitude is None


@pytest.mark.parametrize(
    ("element", "replacement", "says"),
    [
        # a nilled element holding content contradicts itself: refused leniently too
        ("<headline>Shelter in place</headline>",
         '<headline xsi:nil="true">Shelter in place</headline>', "holds content"),
        # xs:boolean is true, false, 1 or 0
        ("<headline>Shelter in place</headline>",
         '<headline xsi:nil="yes" />', "no xs:boolean"),
        # a required element nilled is missing, and the refusal says why
        ("<event>Civil Emergency Message</event>", '<event xsi:nil="1"/>', "must hold a <event>"),
    ],
)  # fmt: skip
def test_xsi_nil_that_lenient_reading_cannot_read_as_absent_is_refused_at_its_path(
    element: str, replacement: str, says: str
) -> None:
    doc = DOTNET.replace(element, replacement)
    assert any("not nillable" in e or "nil" in e for e in schema_errors(doc))
    with pytest.raises(InvalidCAP) as info:
        cap.loads_lenient(doc)
    name = element[1 : element.index(">")]
    problems = [p for p in info.value.problems if p.path == f"info[0]/{name}"]
    assert problems, info.value.problems
    assert says in problems[0].message
    assert "xsi:nil" in problems[0].message


def test_xsi_nil_on_the_root_is_refused_even_leniently() -> None:
    doc = DOTNET.replace("<alert xmlns:xsi", '<alert xsi:nil="true" xmlns:xsi')
    assert any("not nillable" in e for e in schema_errors(doc))
    with pytest.raises(InvalidCAP) as info:
        cap.loads_lenient(doc)
    assert [p.path for p in info.value.problems if "xsi:nil" in p.message] == ["alert"]


def test_other_xsi_attributes_stay_allowed() -> None:
    """xsi:schemaLocation is a hint the schema allows on any element: read without a word."""
    doc = (
        DOTNET.replace(
            "<alert xmlns:xsi",
            f'<alert xsi:schemaLocation="{NS} http://docs.oasis-open.org/emergency/cap/v1.2/'
            'CAP-v1.2.xsd" xmlns:xsi',
        )
        .replace(' xsi:nil="true" />', " />")
        .replace(' xsi:nil="false"', "")
    )
    doc = doc.replace("<effective />", "").replace("<altitude />", "")
    assert schema_errors(doc) == []
    parsed = cap.read(doc)
    assert parsed.repairs == () and parsed.warnings == ()


# --- rings exported in another format's form --------------------------------------------------

#: A ring around Sergels torg, Stockholm, as (lon, lat) pairs.
RING = [(18.06, 59.33), (18.07, 59.33), (18.07, 59.335), (18.06, 59.335), (18.06, 59.33)]


def _polygon_problem(text: str) -> str:
    doc = DOTNET.replace("<circle>35.4676,-97.5164 2</circle>", f"<polygon>{text}</polygon>")
    doc = doc.replace('<altitude xsi:nil="true" />', "").replace('<effective xsi:nil="true" />', "")
    doc = doc.replace(' xsi:nil="false"', "")
    with pytest.raises(InvalidCAP) as info:
        cap.loads_lenient(doc)
    [problem] = info.value.problems
    assert problem.path == "info[0]/area[0]/polygon[0]"
    return problem.message


@pytest.mark.parametrize(
    "text",
    [
        shapely.Polygon(RING).wkt,  # POLYGON ((18.06 59.33, 18.07 59.33, ...))
        ", ".join(f"{lon} {lat}" for lon, lat in RING),  # the points of the WKT alone
        ",\n  ".join(f"{lon} {lat}" for lon, lat in RING),
    ],
)
def test_a_ring_written_as_wkt_is_named_so_not_as_a_misplaced_space(text: str) -> None:
    """WKT writes 'lon lat' pairs separated by commas; the hint was "a space after a comma".

    Following that hint (removing the spaces after the commas) still gives no CAP ring, and
    the axis order stays swapped: the message names WKT's form and CAP's.
    """
    wkt = text if text.startswith("POLYGON") else f"POLYGON (({text}))"
    assert [tuple(c) for c in shapely.get_coordinates(shapely.from_wkt(wkt))] == RING  # WKT
    message = _polygon_problem(text)
    assert "WKT" in message and "'lon lat'" in message and "latitude first" in message
    assert "a space after a comma" not in message


def test_a_ring_written_as_geojson_or_with_commas_only_is_named_so() -> None:
    geojson = json.dumps([list(p) for p in RING])
    assert [tuple(p) for p in json.loads(geojson)] == RING
    message = _polygon_problem(geojson)
    assert "GeoJSON" in message and "[lon, lat]" in message
    joined = ",".join(f"{lat},{lon}" for lon, lat in RING)
    message = _polygon_problem(joined)
    assert "joined by commas" in message and "separates points by whitespace" in message


def test_a_circle_with_a_space_between_lat_and_lon_says_so() -> None:
    doc = DOTNET.replace("35.4676,-97.5164 2", "35.4676 -97.5164 2")
    with pytest.raises(InvalidCAP) as info:
        cap.loads_lenient(doc)
    [message] = [p.message for p in info.value.problems if p.path.endswith("circle[0]")]
    assert "a comma, not a space, separates the point's lat from its lon" in message


# --- an empty circle, as a template writing every element gives it ----------------------------

#: The .NET document without its xsi:nil elements and attributes: valid CAP.
CLEAN = (
    DOTNET.replace('<effective xsi:nil="true" />', "")
    .replace('<altitude xsi:nil="true" />', "")
    .replace(' xsi:nil="false"', "")
)


def test_an_empty_circle_is_dropped_leniently_as_an_empty_polygon_is() -> None:
    """A template that writes every element gives ``<circle/>`` beside the real geometry.

    CAP 1.2 §3.2.4 represents a circle by a point and a radius: an empty one names neither.
    Strict reading refuses it, saying lenient reading repairs it; lenient reading drops it, as
    it drops an empty ``<polygon>``, and the warnings of the circles after it keep their
    document paths. The oracle: ElementTree's circles with text, read as CAP writes them.
    """
    geometry = (
        "<polygon>35.46,-97.52 35.46,-97.50 35.48,-97.50 35.46,-97.52</polygon>"
        "<circle/><circle>\n  </circle><circle>35.4676,-97.5164 0</circle>"
        "<circle>35.4676,-97.5164 2</circle>"
    )
    doc = CLEAN.replace("<circle>35.4676,-97.5164 2</circle>", geometry)
    with pytest.raises(InvalidCAP) as info:
        cap.read(doc)
    assert [p.path for p in info.value.problems] == [
        "info[0]/area[0]/circle[0]",
        "info[0]/area[0]/circle[1]",
    ]
    assert all("loads_lenient repairs this" in p.message for p in info.value.problems)

    parsed = cap.loads_lenient(doc)
    assert [r.path for r in parsed.repairs] == [
        "info[0]/area[0]/circle[0]",
        "info[0]/area[0]/circle[1]",
    ]
    assert [w.path for w in parsed.warnings] == ["info[0]/area[0]/circle[2]"]  # radius 0
    area = ET.fromstring(doc.encode()).find(f"{{{NS}}}info/{{{NS}}}area")
    assert area is not None
    expected = []
    for node in area.findall(f"{{{NS}}}circle"):
        if node.text and node.text.strip():
            point, km = node.text.split()
            lat, lon = (float(v) for v in point.split(","))
            expected.append((lon, lat, float(km) * 1000.0))
    assert parsed.alert.infos[0].areas[0].circles == tuple(expected)


# --- date-times as hand-written or other software writes them --------------------------------


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("2026-12-07T15:00:00 -06:00", "no space comes before the UTC offset"),
        ("2026-12-07t15:00:00-06:00", "'T' between the date and the time is upper-case"),
        ("2026-12-07T21:00:00z", "'z' is no UTC offset"),
        ("2026-12-07T21:00:00UTC", "not a time zone's name"),
        ("2026-12-07T22:00:00 GMT+1", "not a time zone's name"),
        ("2026-12-7T15:00:00-06:00", "two digits each"),
        ("2026-12-07T9:05:00-06:00", "two digits each"),
        ("2026-12-07T15:00:00-6:00", "the UTC offset's hours have two digits"),
        ("2026-12-07T15:00:00,5-06:00", "no fractional seconds"),
    ],
)
def test_a_date_time_in_a_near_miss_form_says_what_cap_needs(written: str, said: str) -> None:
    """Each is refused by CAP-v1.2.xsd; the refusal named the rule but not what was off."""
    doc = CLEAN.replace("2026-12-07T15:00:00-06:00</sent>", f"{written}</sent>")
    assert schema_errors(doc), written
    with pytest.raises(InvalidCAP) as info:
        cap.loads_lenient(doc)
    [problem] = info.value.problems
    assert problem.path == "sent"
    assert f"(got {written!r}): " in problem.message and said in problem.message


@pytest.mark.parametrize(
    "written", ["2026-12-07T15:00:00-06:00x", "15:00 7 Dec", "2026-12-07T15:00:00.5-06:00"]
)
def test_a_date_time_of_another_fault_gets_no_near_miss_hint(written: str) -> None:
    doc = CLEAN.replace("2026-12-07T15:00:00-06:00</sent>", f"{written}</sent>")
    with pytest.raises(InvalidCAP) as info:
        cap.loads_lenient(doc)
    [problem] = info.value.problems
    hints = ("no space comes", "upper-case", "'z'", "zone's name", "two digits")
    assert not any(hint in problem.message for hint in hints), problem.message
