"""CAP documents no other test writes: hostile names, other issuers' lists and namespaces.

Oracles are plain Python on the document text (and lxml where it reads the document too).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from geotarget import cap
from geotarget.alerts import Alert, AlertArea, Info, NamedValue, Resource
from geotarget.errors import InvalidCAP, InvalidType

NS = "urn:oasis:names:tc:emergency:cap:1.2"


def _doc(head: str = "", *, scope: str = "Public", ns: str = NS, extra: str = "") -> str:
    """A small valid alert with ``head`` after ``<scope>`` (and ``extra`` before ``</alert>``)."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="{ns}">\n'
        "<identifier>ID-1</identifier><sender>s@example.org</sender>"
        "<sent>2026-05-04T19:30:00-00:00</sent><status>Actual</status>"
        f"<msgType>Alert</msgType><scope>{scope}</scope>{head}"
        "<info><category>Safety</category><event>Test</event><urgency>Immediate</urgency>"
        "<severity>Severe</severity><certainty>Likely</certainty>"
        "<area><areaDesc>A</areaDesc><circle>59.33,18.06 1</circle></area></info>"
        f"{extra}</alert>"
    )


def _refused(data: str | bytes) -> InvalidCAP:
    with pytest.raises(InvalidCAP) as info:
        cap.read(data)
    return info.value


# ---------------------------------------------------------------------------------------------
# Names from the document are shown cut short: a name may be megabytes long
# ---------------------------------------------------------------------------------------------

LONG = 500_000


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("unknown element", _doc(f"<{'n' * LONG}/>")),
        ("foreign namespace", _doc(f'<x xmlns="{"u" * LONG}"/>')),
        ("attribute", _doc(f'<note {"a" * LONG}="1">x</note>')),
        ("xml: attribute", _doc(f'<note xml:{"l" * LONG}="x">x</note>')),
        ("root element", f"<{'r' * LONG}/>"),
        ("root namespace", f'<alert xmlns="{"u" * LONG}"/>'),
        ("unbound prefix", _doc(f"<{'p' * LONG}:x/>")),
        ("spaced namespace", _doc(f'<x xmlns:{"p" * LONG}="a b"/>')),
        ("end tag after the root", _doc() + f"</{'z' * LONG}>"),
        ("element after the root", _doc() + f"<{'z' * LONG}/>"),
    ],
)
def test_a_long_name_is_cut_short_in_the_message_and_the_path(name: str, data: str) -> None:
    """A 500,000-character name does not come back whole (twice) in the error."""
    err = _refused(data)
    text = str(err)
    assert len(text) < 2_000, (name, len(text))
    assert all(len(p.path) < 200 for p in err.problems)
    assert re.search(r"… \(500,0\d\d characters\)", text), text


# ---------------------------------------------------------------------------------------------
# <addresses> and <incidents>: a bad quoted list is refused at its element, saying what is bad
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("element", ["addresses", "incidents"])
@pytest.mark.parametrize(
    ("written", "item", "why"),
    [
        ('"Räddningstjänsten Syd" "Polisen Syd', 1, "never closed"),
        ('"SOS Alarm Malmö', 0, "never closed"),
        ('ops "" duty', 1, "empty quoted item"),
        ('ops "   "', 1, "empty quoted item"),
        ('ops 12"inch', 1, "holds a double quote"),
    ],
)
def test_a_bad_quoted_list_is_refused_at_its_element(
    element: str, written: str, item: int, why: str
) -> None:
    """CAP 1.2 §3.2.1 quotes items holding whitespace; a broken list names the item and why.

    It used to be refused at the path ``alert`` for an item the sender never wrote (``'"Polisen'``
    for an unclosed quote).
    """
    head = f"<addresses>{written}</addresses>" if element == "addresses" else ""
    head += f"<incidents>{written}</incidents>" if element == "incidents" else ""
    scope = "Private" if element == "addresses" else "Public"
    err = _refused(_doc(head, scope=scope))
    assert [p.path for p in err.problems] == [element]
    assert f"item {item} " in err.problems[0].message
    assert why in err.problems[0].message


@pytest.mark.parametrize(
    ("written", "items"),
    [
        (
            '"Räddningstjänsten Syd"  ops\t"SOS Alarm"',
            ("Räddningstjänsten Syd", "ops", "SOS Alarm"),
        ),
        ("\n  a@example.org\n  b@example.org\n", ("a@example.org", "b@example.org")),
    ],
)
def test_a_good_quoted_list_reads_and_round_trips(written: str, items: tuple[str, ...]) -> None:
    """The oracle: the items split by hand from the text CAP 1.2 §3.2.1 describes."""
    alert = cap.loads(_doc(f"<addresses>{written}</addresses>", scope="Private"))
    assert alert.addresses == items
    assert cap.loads(cap.dumps(alert)) == alert


# ---------------------------------------------------------------------------------------------
# Characters XML 1.0 leaves out are named
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\ufffe", "\uffff"])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_noncharacter_in_text_is_named(char: str, as_bytes: bool) -> None:
    """XML 1.0 §2.2 (Char) excludes U+FFFE and U+FFFF; the error named neither, only a column.

    A byte-swapped byte-order mark inside the text (a UTF-16 fragment joined in) reads so. The
    oracle: lxml refuses the same document.
    """
    from lxml import etree

    text = _doc().replace("<event>Test", f"<event>Test {char}")
    data = text.encode("utf-8") if as_bytes else text
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(text.encode("utf-8"))
    err = _refused(data)
    assert [p.path for p in err.problems] == [""]
    assert f"the noncharacter U+{ord(char):04X}" in err.problems[0].message
    assert "Test " in err.problems[0].message  # the text around it, to find it


# ---------------------------------------------------------------------------------------------
# Coordinates and numbers written the ways other issuers get them wrong: the error says how
# ---------------------------------------------------------------------------------------------


def _area_doc(inner: str) -> str:
    return _doc().replace("<circle>59.33,18.06 1</circle>", inner)


@pytest.mark.parametrize(
    ("inner", "hint"),
    [
        # a space before the comma (a hand-typed list)
        ("<circle>59.33 ,18.06 0.5</circle>", "a space before a comma"),
        (
            "<polygon>55.6 ,13.0 55.7 ,13.0 55.7 ,13.1 55.6 ,13.0</polygon>",
            "a space before a comma",
        ),
        # decimal commas (a Swedish or German locale)
        ("<circle>59,33,18,06 0,5</circle>", "decimal numbers with a point"),
        ("<circle>59.33,18.06 0,5</circle>", "decimal numbers with a point"),
        ("<polygon>55,6,13,0 55,7,13,0 55,7,13,1 55,6,13,0</polygon>", "with a point"),
        # exponents (a float printed by a program)
        ("<circle>5.933e1,18.06 0.5</circle>", "without an exponent"),
        ("<circle>59.33,18.06 5E-1</circle>", "without an exponent"),
        ("<polygon>55.6,13 55.7,13 55.7,1.31E1 55.6,13</polygon>", "without an exponent"),
        # a comma before the radius, a unit after it
        ("<circle>59.33,18.06,0.5</circle>", "a space, not a comma, separates the point"),
        ("<circle>59.33,18.06 0.5 km</circle>", "without a unit ('km')"),
    ],
)
def test_a_misformatted_point_or_radius_says_what_is_wrong(inner: str, hint: str) -> None:
    """A point or radius written another way says how, not only the rule.

    CAP 1.2 §3.3.1: points are 'lat,lon' decimal degrees, whitespace between points, and a
    circle's radius a decimal after a space. The oracle: the text itself, read by hand.
    """
    err = _refused(_area_doc(inner))
    assert len(err.problems) == 1
    assert hint in err.problems[0].message, err.problems[0].message


@pytest.mark.parametrize(("written", "plain"), [("1E3", "'1000'"), ("-2.5e-3", "'-0.0025'")])
def test_an_altitude_with_an_exponent_says_so(written: str, plain: str) -> None:
    """xs:decimal has no exponent; the message says so and the plain form to write."""
    doc = _area_doc(f"<circle>59.33,18.06 1</circle><altitude>{written}</altitude>")
    (problem,) = _refused(doc).problems
    assert problem.path == "info[0]/area[0]/altitude"
    assert f"xs:decimal has no exponent (write {plain})" in problem.message


def test_an_enormous_exponent_is_named_without_being_expanded() -> None:
    """``1e999999999`` is not written out as a billion digits in the message."""
    doc = _area_doc("<circle>59.33,18.06 1</circle><altitude>1e999999999</altitude>")
    (problem,) = _refused(doc).problems
    assert problem.message.endswith("xs:decimal has no exponent")


# ---------------------------------------------------------------------------------------------
# Other CAP versions are named as such
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "version"),
    [
        ("http://www.incident.com/cap/1.0", "1.0"),  # CAP 1.0's namespace (OASIS 2004)
        ("urn:oasis:names:tc:emergency:cap:1.0", "1.0"),
        ("urn:oasis:names:tc:emergency:cap:1.3", "1.3"),
    ],
)
@pytest.mark.parametrize("lenient", [False, True])
def test_another_cap_version_is_named(ns: str, version: str, lenient: bool) -> None:
    """A CAP 1.0 (or a later) document is named as that version, not as "not a CAP alert"."""
    with pytest.raises(InvalidCAP) as info:
        cap.read(_doc(ns=ns), lenient=lenient)
    (problem,) = info.value.problems
    assert f"CAP {version}" in problem.message
    assert "CAP 1.1 with loads_lenient" in problem.message


@pytest.mark.parametrize("ns", [NS + "/", NS + ".0", NS + "x", NS.upper()])
def test_a_namespace_near_cap_12s_is_not_named_another_version(ns: str) -> None:
    """Only a version number after CAP's URN names a version ("CAP 1.2/" is none)."""
    (problem,) = _refused(_doc(ns=ns)).problems
    assert "must be <alert> in namespace" in problem.message
    assert "CAP 1.2/" not in problem.message


def test_an_alert_without_a_namespace_says_which_to_declare() -> None:
    """``<alert>`` in no namespace: the message gives the declaration to add."""
    (problem,) = _refused(_doc(ns="").replace(' xmlns=""', "")).problems
    assert f'declares xmlns="{NS}"' in problem.message


# ---------------------------------------------------------------------------------------------
# The alert model, built directly: a value that is not a sequence names its field
# ---------------------------------------------------------------------------------------------


#: The model's classes, called with what their annotations do not allow.
_AREA: Any = AlertArea
_RESOURCE: Any = Resource


def _info(**kw: object) -> Info:
    fields: dict[str, object] = {
        "categories": ["Safety"], "event": "Test", "urgency": "Immediate",
        "severity": "Severe", "certainty": "Likely",
    }  # fmt: skip
    fields.update(kw)
    return Info(**fields)  # type: ignore[arg-type]


def _alert(**kw: object) -> Alert:
    fields: dict[str, object] = {
        "identifier": "ID-1", "sender": "s@example.org", "status": "Actual",
        "msg_type": "Alert", "scope": "Public",
        "sent": datetime(2026, 5, 4, 19, 30, tzinfo=timezone.utc),
    }  # fmt: skip
    fields.update(kw)
    return Alert(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: _info(categories="Safety"), "categories"),
        (lambda: _info(response_types="Shelter"), "response_types"),
        (lambda: _info(event_codes=NamedValue("SAME", "EVI")), "event_codes"),
        (lambda: _info(parameters="x"), "parameters"),
        (lambda: _info(resources=5), "resources"),
        (lambda: _info(areas=AlertArea(description="a")), "areas"),
        (lambda: _alert(addresses="ops duty"), "addresses"),
        (lambda: _alert(codes="IPAWSv1.0"), "codes"),
        (lambda: _alert(incidents="inc-1"), "incidents"),
        (lambda: _alert(infos=_info()), "infos"),
        (lambda: _alert(references=5), "references"),
        (lambda: _AREA(description="a", geocodes="SE110"), "geocodes"),
        (lambda: _AREA(description="a", polygons="59,18 60,18 60,19 59,18"), "polygons"),
        (lambda: _AREA(description="a", polygons=["59,18 60,18"]), "polygons[0]"),
        (lambda: _AREA(description="a", polygons=[[1, 2, 3, 4]]), "polygons[0][0]"),
        (lambda: _AREA(description="a", circles=5), "circles"),
        (lambda: _AREA(description="a", circles=[500.0]), "circles[0]"),
    ],
)
def test_a_value_that_is_not_a_sequence_names_its_field(build: Any, field: str) -> None:
    """It said "expected a sequence (got str 'Safety')", naming no field."""
    with pytest.raises(InvalidType) as info:
        build()
    assert str(info.value).startswith(f"{field} must be a sequence"), str(info.value)


def test_a_resource_size_may_be_a_numpy_integer() -> None:
    """A size counted by numpy or pandas (``np.int64``) is an integer like any other."""
    resource = Resource(description="map", mime_type="image/png", size=np.int64(2048))
    assert resource.size == 2048 and type(resource.size) is int
    assert resource == Resource(description="map", mime_type="image/png", size=2048)
    with pytest.raises(InvalidType):
        _RESOURCE(description="map", mime_type="image/png", size=np.bool_(True))


# ---------------------------------------------------------------------------------------------
# An element's attributes are one problem: a flood of them is not a flood of problems
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 300_000])
def test_the_attributes_of_one_element_are_one_problem(count: int) -> None:
    """CAP has no attributes; an element with many is one problem naming a few and the count.

    300,000 attributes on one ``<note>`` (3 MB) were 300,000 problems and an error message of
    about 25 MB.
    """
    attributes = " ".join(f'a{i}=""' for i in range(count))
    data = _doc(f"<note {attributes}>n</note>")
    err = _refused(data)
    assert [p.path for p in err.problems] == ["note"]
    assert "'a0', 'a1'" in err.problems[0].message
    assert len(str(err)) < 1_000
    repaired = cap.loads_lenient(data)
    assert [r.path for r in repaired.repairs] == ["note"]
    assert repaired.alert == cap.loads(_doc("<note>n</note>"))


# ---------------------------------------------------------------------------------------------
# The service envelope as GeoPandas and shapely give bounds: an array
# ---------------------------------------------------------------------------------------------


def test_an_envelope_given_as_an_array_of_bounds_is_read() -> None:
    """``shapely.total_bounds`` (and GeoPandas' ``total_bounds``) return an array of the four.

    It was refused as "envelope must be (west, south, east, north)", which it is.
    """
    import shapely

    sweden = shapely.box(10.5, 55.3, 24.2, 69.1)
    bounds = shapely.total_bounds(sweden)
    assert isinstance(bounds, np.ndarray)
    swapped = _doc().replace("<circle>59.33,18.06 1</circle>", "<circle>18.06,59.33 1</circle>")
    with pytest.raises(InvalidCAP) as info:
        cap.read(swapped, envelope=bounds)
    assert [p.path for p in info.value.problems] == ["info[0]/area[0]/circle[0]"]
    assert "looks written 'lon,lat'" in info.value.problems[0].message
    alert = cap.loads(swapped)
    assert cap.check_axis_order(alert, bounds) == cap.check_axis_order(alert, sweden.bounds)
    assert len(cap.check_axis_order(alert, bounds)) == 1
    with pytest.raises(InvalidType):
        cap.read(swapped, envelope=np.array([[10.5, 55.3], [24.2, 69.1]]))  # not four numbers


# ---------------------------------------------------------------------------------------------
# Enumerations written in another case, or CAP 1.1's certainty in a CAP 1.2 document
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "path", "meant"),
    [
        ("<status>Actual", "<status>ACTUAL", "status", "'Actual'"),
        ("<msgType>Alert", "<msgType>alert", "msgType", "'Alert'"),
        ("<scope>Public", "<scope>PUBLIC", "scope", "'Public'"),
        ("<category>Safety", "<category>safety", "info[0]/category[0]", "'Safety'"),
        ("<urgency>Immediate", "<urgency>IMMEDIATE", "info[0]/urgency", "'Immediate'"),
        (
            "<event>Test</event>",
            "<event>Test</event><responseType>All Clear</responseType>",
            "info[0]/responseType[0]",
            "'AllClear'",
        ),
    ],
)
def test_an_enumeration_in_another_case_says_how_cap_writes_it(
    old: str, new: str, path: str, meant: str
) -> None:
    """CAP-v1.2.xsd's enumerations are case-sensitive: the refusal names the value meant."""
    (problem,) = _refused(_doc().replace(old, new, 1)).problems
    assert problem.path == path
    assert f"CAP writes it {meant}, exactly" in problem.message


@pytest.mark.parametrize("written", ["Very Likely", "very likely", "VeryLikely"])
def test_cap_11s_certainty_in_a_cap_12_document_is_named(written: str) -> None:
    """CAP 1.2 replaced CAP 1.1's ``Very Likely`` by ``Likely``: the refusal says so."""
    doc = _doc().replace("<certainty>Likely", f"<certainty>{written}")
    (problem,) = _refused(doc).problems
    assert problem.path == "info[0]/certainty"
    assert "CAP 1.2 replaced by 'Likely'" in problem.message


# ---------------------------------------------------------------------------------------------
# Warnings come in document order, as Parsed says
# ---------------------------------------------------------------------------------------------


def _index(path: str) -> tuple[int, ...]:
    """A path's position in the document: its indices in order (a leaf before its siblings')."""
    return tuple(int(n) for n in re.findall(r"\[(\d+)\]", path))


def test_warnings_come_in_document_order() -> None:
    """Text that reads as UTF-8 decoded as ISO-8859-1 is warned of where it is, not last.

    Two blocks, each with ``+00:00`` times and ``Malmö`` in a document declared ISO-8859-1 but
    written in UTF-8, and a Cancel's swapped circle after a blank areaDesc: the oracle is the
    order of the elements in the document.
    """
    block = (
        "<info><category>Safety</category><event>Test</event><urgency>Immediate</urgency>"
        "<severity>Severe</severity><certainty>Likely</certainty>"
        "<onset>2026-05-04T19:30:00+00:00</onset>"
        "<area><areaDesc>{desc}</areaDesc><circle>18.06,59.33 1</circle></area></info>"
    )
    doc = (
        _doc("<references>s@example.org,ID-0,2026-05-04T19:00:00-00:00</references>")
        .replace("<msgType>Alert", "<msgType>Cancel")
        .replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    )
    start, end = doc.index("<info>"), doc.index("</info>") + len("</info>")
    doc = doc[:start] + block.format(desc="Malmö") + block.format(desc=" ") + doc[end:]
    warnings = cap.read(doc.encode("utf-8"), envelope=(10.5, 55.3, 24.2, 69.1)).warnings
    paths = [w.path for w in warnings]
    assert paths == [
        "info[0]/onset",
        "info[0]/area[0]/areaDesc",
        "info[0]/area[0]/circle[0]",
        "info[1]/onset",
        "info[1]/area[0]/areaDesc",
        "info[1]/area[0]/circle[0]",
    ], paths
    assert "'Malmö' written in UTF-8" in warnings[1].message
    assert paths == sorted(paths, key=_index)


@pytest.mark.parametrize("flag", ["no", "False", 0, 1, None])
def test_lenient_must_be_a_bool(flag: object) -> None:
    """``lenient="no"`` read leniently (a non-empty string is true); it is refused instead."""
    with pytest.raises(InvalidType, match="lenient must be True or False"):
        cap.read(_doc(), lenient=flag)  # type: ignore[arg-type]
    assert cap.read(_doc(), lenient=bool(np.bool_(True))).alert == cap.loads(_doc())


@pytest.mark.parametrize(
    "doc",
    [
        b"7,18.0686,59.3293,12\n8,18.0702,59.3301,9\n",  # a headerless CSV
        b"id;lon;lat\r\n7;18,0686;59,3293\r\n",  # a Swedish spreadsheet's
        b"\xef\xbb\xbfid\tlon\tlat\n7\t18.0686\t59.3293\n",
    ],
)
def test_a_table_given_as_the_alert_is_not_quoted(doc: bytes) -> None:
    """A positions table given to the CAP reader: refused, none of its rows in the message."""
    with pytest.raises(InvalidCAP) as err:
        cap.loads(doc)
    message = str(err.value)
    assert "a delimited line" in message and "before the root element" in message
    for value in ("18.0686", "18,0686", "59.3293", "59,3293", "lon"):
        assert value not in message


def test_text_before_the_root_is_quoted_up_to_its_line_end() -> None:
    """Other text before the root element is quoted, its first line only."""
    with pytest.raises(InvalidCAP, match=r"the text 'hello' comes before the root element"):
        cap.loads(b"hello\r\nworld<alert/>")


def test_a_pretty_printed_kind_code_value_is_read_as_its_kind() -> None:
    """Whitespace around geotarget:kind's value is XML layout, as around its name."""
    from geotarget import Circle, pilot

    at = datetime(2024, 5, 20, 12, tzinfo=timezone.utc)
    msg = pilot.Message(headline="x", description="x", area_description="x")
    alert = pilot.explosion(
        identifier="a", sender="b@example.se", sent=at, area=Circle(18.06, 59.33, 500.0),
        sv=msg, en=msg, onset=at, expires=at.replace(hour=14),
    )  # fmt: skip
    doc = cap.dumps(alert)
    assert doc.count("<value>explosion</value>") == 2
    pretty = doc.replace("<value>explosion</value>", "<value>\n\t  explosion \r\n    </value>")
    got = cap.loads(pretty)
    assert got.kind == "explosion"
    assert [i.kind for i in got.infos] == ["explosion", "explosion"]
    with pytest.raises(InvalidCAP, match="must be a kind name"):
        cap.loads(doc.replace("<value>explosion</value>", "<value>ex plosion</value>"))
