"""Strict means CAP: what CAP allows is read (with warnings), ASCII numbers, hostile encodings.

The companion of ``test_cap.py``: the warnings model (:class:`geotarget.cap.Parsed`), UTC as
``-00:00``, ASCII-only numbers and date-times, declared encodings that are not character
encodings, the reusable axis-order check, and the limits :func:`geotarget.cap.dumps` keeps.
"""

from __future__ import annotations

import codecs
import contextlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from alert_strategies import extreme_alerts
from cap_helpers import BASE, SWEDEN, UK, problems
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import AlertArea, Circle, InvalidAlert, InvalidCAP, InvalidType, cap
from geotarget.alerts import MAX_RESOURCE_SIZE, Alert, Info, Resource
from geotarget.errors import GeotargetError, Problem

RESOURCE = "<resource><resourceDesc>Karta</resourceDesc><mimeType>image/png</mimeType>{}</resource>"


def with_resource(inner: str) -> str:
    return BASE.replace("<area>", RESOURCE.format(inner) + "<area>")


# --- what CAP allows is read, with a warning at its path ----------------------------------------


def test_expires_equal_to_onset_is_read_with_a_warning() -> None:
    """CAP sets no order between onset and expires: equal ones parse, with a warning."""
    doc = BASE.replace("23:30:00+02:00</expires>", "21:30:00+02:00</expires>")
    parsed = cap.read(doc)
    info = parsed.alert.infos[0]
    assert info.onset == info.expires
    assert [w.path for w in parsed.warnings] == ["info[0]/expires"]
    assert "equals onset" in parsed.warnings[0].message
    assert "never active" in parsed.warnings[0].message
    assert not parsed.alert.is_active(info.onset)  # type: ignore[arg-type]
    assert cap.loads(doc) == parsed.alert  # loads: the same alert, warnings dropped


def test_expires_before_effective_is_read_with_a_warning() -> None:
    """An expires before effective is CAP too: read, and the warning says which start."""
    doc = BASE.replace("<onset>", "<effective>2026-05-05T00:00:00+02:00</effective><onset>")
    parsed = cap.read(doc)
    assert [(w.path, w.message.split(" (")[0]) for w in parsed.warnings] == [
        ("info[0]/expires", "is before effective")
    ]


@pytest.mark.parametrize(
    ("expires", "word"),
    [("2026-05-04T19:30:00+02:00", "is before"), ("2026-05-04T21:30:00+02:00", "equals")],
)
def test_expires_not_after_sent_without_effective_or_onset_is_read_with_a_warning(
    expires: str, word: str
) -> None:
    """CAP 1.2 §3.2.2 takes a missing effective as sent: the block is never active."""
    doc = BASE.replace("<onset>2026-05-04T21:30:00+02:00</onset>", "").replace(
        "2026-05-04T23:30:00+02:00", expires
    )
    [warning] = cap.read(doc).warnings
    assert warning.path == "info[0]/expires"
    assert warning.message.startswith(f"{word} sent (2026-05-04T21:30:00+02:00)")
    assert "§3.2.2" in warning.message and "never active" in warning.message
    later = BASE.replace("<onset>2026-05-04T21:30:00+02:00</onset>", "")
    assert cap.read(later).warnings == ()  # expires after sent: nothing to say


def test_an_offset_with_60_minutes_is_refused_for_its_minutes() -> None:
    """+12:60 is within ±14:00 by its hours; the rule broken is minutes 00-59."""
    doc = BASE.replace("<sent>2026-05-04T21:30:00+02:00", "<sent>2026-05-04T21:30:00+12:60")
    message = problems(doc)["sent"]
    assert "minutes of an offset must be 00 to 59" in message and "+12:60" in message
    assert "-14:00 to +14:00" not in message
    assert "-14:00 to +14:00" in problems(BASE.replace("+02:00</sent>", "+14:01</sent>"))["sent"]


def test_empty_uri_beside_deref_uri_is_read() -> None:
    """An empty <uri/> (a valid xs:anyURI) beside <derefUri> is read without a warning."""
    parsed = cap.read(with_resource("<uri/><derefUri>aGVq</derefUri>"))
    resource = parsed.alert.infos[0].resources[0]
    assert (resource.uri, resource.deref_uri) == ("", "aGVq")
    assert parsed.warnings == ()
    assert cap.loads(cap.dumps(parsed.alert)) == parsed.alert


def test_empty_uri_alone_and_empty_web_are_read_with_warnings() -> None:
    """An empty <uri> with nothing to name, and an empty <web>, are read and flagged."""
    doc = with_resource("<uri></uri>").replace("<resource>", "<web/><resource>")
    parsed = cap.read(doc)
    assert {w.path for w in parsed.warnings} == {"info[0]/web", "info[0]/resource[0]/uri"}
    assert parsed.alert.infos[0].web == ""


def test_blank_area_description_self_reference_and_24_00_are_warnings() -> None:
    """A blank areaDesc, a message referencing itself and 24:00:00 are CAP, and flagged."""
    doc = (
        BASE.replace("<areaDesc>Sergels torg</areaDesc>", "<areaDesc> </areaDesc>")
        .replace("<msgType>Alert</msgType>", "<msgType>Update</msgType>")
        .replace(
            "<scope>Public</scope>",
            "<scope>Public</scope><references>polisen@polisen.se,SE-POL-2026-0001,"
            "2026-05-04T21:30:00+02:00</references>",
        )
        .replace("T23:30:00+02:00</expires>", "T24:00:00+02:00</expires>")
    )
    parsed = cap.read(doc)
    assert [w.path for w in parsed.warnings] == [
        "references", "info[0]/expires", "info[0]/area[0]/areaDesc",
    ]  # fmt: skip
    assert parsed.alert.infos[0].expires == datetime(
        2026, 5, 5, 0, 0, tzinfo=timezone(timedelta(hours=2))
    )


def test_self_crossing_polygon_is_read_with_a_warning() -> None:
    """A bow-tie ring is CAP: it is kept as written, repaired for geometry, and flagged."""
    bowtie = "59.33,18.06 59.335,18.07 59.33,18.07 59.335,18.06 59.33,18.06"
    doc = BASE.replace("59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06", bowtie)
    parsed = cap.read(doc)
    assert [w.path for w in parsed.warnings] == ["info[0]/area[0]/polygon[0]"]
    assert parsed.alert.infos[0].areas[0].repaired_polygons == (0,)
    assert cap.read(BASE).alert.infos[0].areas[0].repaired_polygons == ()


def test_parsed_is_what_loads_lenient_returns() -> None:
    """loads_lenient returns a Parsed with repairs and warnings; LenientResult is its old name."""
    doc = BASE.replace("21:30:00+02:00</sent>", "19:30:00Z</sent>").replace(
        "23:30:00+02:00</expires>", "21:30:00+02:00</expires>"
    )
    result = cap.loads_lenient(doc)
    assert isinstance(result, cap.Parsed) and cap.LenientResult is cap.Parsed
    assert [r.path for r in result.repairs] == ["sent"]
    assert [w.path for w in result.warnings] == ["info[0]/expires"]
    assert cap.read(doc, lenient=True) == result
    assert cap.read(BASE).repairs == ()


# --- UTC --------------------------------------------------------------------------------------


def test_utc_is_written_minus_zero_and_both_signs_read() -> None:
    """The writer puts UTC as -00:00 everywhere; -00:00 reads silently, +00:00 with a warning."""
    a = cap.loads(BASE)
    utc = attrs.evolve(a, sent=datetime(2026, 5, 4, 19, 30, tzinfo=timezone.utc))
    text = cap.dumps(utc)
    assert "<sent>2026-05-04T19:30:00-00:00</sent>" in text
    assert "+00:00" not in text
    minus = cap.read(text)
    plus = cap.read(text.replace("-00:00</sent>", "+00:00</sent>"))
    assert minus.alert == plus.alert == utc
    assert minus.warnings == ()
    assert [w.path for w in plus.warnings] == ["sent"]
    west = attrs.evolve(a, sent=datetime(2026, 5, 4, 9, 30, tzinfo=timezone(-timedelta(hours=5))))
    assert "<sent>2026-05-04T09:30:00-05:00</sent>" in cap.dumps(west)


# --- ASCII digits only ------------------------------------------------------------------------

ARABIC_ONE = "\u0661"  # ARABIC-INDIC DIGIT ONE: float() and int() accept it
FULLWIDTH_FIVE = "\uff15"  # FULLWIDTH DIGIT FIVE


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("59.3325,18.06528 0.5", f"59.3325,{ARABIC_ONE}8.06528 0.5", "info[0]/area[0]/circle[0]"),
        ("59.3325,18.06528 0.5", f"59.3325,18.06528 0.{FULLWIDTH_FIVE}",
         "info[0]/area[0]/circle[0]"),
        ("59.33,18.06 59.33,18.07", f"59.33,18.06 59.33,{ARABIC_ONE}8.07",
         "info[0]/area[0]/polygon[0]"),
        ("59.33,18.06 59.33,18.07", "59.33,18.06\xa059.33,18.07", "info[0]/area[0]/polygon[0]"),
        ("2026-05-04T21:30:00+02:00</sent>", f"2026-05-04T2{ARABIC_ONE}:30:00+02:00</sent>",
         "sent"),
        ("T23:30:00+02:00</expires>", f"T23:30:00+0{FULLWIDTH_FIVE}:00</expires>",
         "info[0]/expires"),
        ("</circle>", f"</circle><altitude>{ARABIC_ONE}00</altitude>",
         "info[0]/area[0]/altitude"),
    ],
)  # fmt: skip
def test_non_ascii_digits_are_refused_at_their_path(old: str, new: str, path: str) -> None:
    """Arabic-Indic and full-width digits (and NO-BREAK SPACE) are refused, saying which one."""
    doc = BASE.replace(old, new)
    assert doc != BASE
    found = problems(doc)
    assert list(found) == [path]
    assert "ASCII" in found[path]
    assert "U+" in found[path]  # the offending character is named by its code point
    with pytest.raises(InvalidCAP):
        cap.loads_lenient(doc)


def test_resource_size_must_be_ascii() -> None:
    """A <size> in Arabic-Indic digits is refused at its path."""
    found = problems(with_resource(f"<size>{ARABIC_ONE}2</size>"))
    assert "ASCII digits" in found["info[0]/resource[0]/size"]


def test_model_constructors_take_numbers_not_digit_text() -> None:
    """The model takes numbers, never text: digit strings in any script are refused as a type."""
    with pytest.raises(InvalidType):
        AlertArea(description="x", circles=[(f"{ARABIC_ONE}8.0", 59.0, 500.0)])  # type: ignore[list-item]
    with pytest.raises(InvalidType):
        AlertArea(description="x", circles=[(18.0, 59.0, "500")])  # type: ignore[list-item]
    with pytest.raises(InvalidType):
        AlertArea(description="x", altitude=f"{ARABIC_ONE}0")  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        Resource(description="x", mime_type="y", size=f"{ARABIC_ONE}2")  # type: ignore[arg-type]
    with pytest.raises(GeotargetError):
        Circle(f"{ARABIC_ONE}8.0", 59.0, 500.0)  # type: ignore[arg-type]


# --- numbers of any length: a problem at their path, never a crash ------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("9" * 5000, "5,000 digits"),  # beyond CPython's 4,300-digit int() limit
        ("0" * 4400 + "12", None),  # leading zeros: 12 bytes
        (str(2**63 - 1), None),
        (str(2**63), "at most 9,223,372,036,854,775,807 bytes"),
        ("-" + "9" * 5000, "must be a number of bytes >= 0"),
        ("-0", None),
    ],
)
def test_resource_size_of_any_length_is_read_or_refused_at_its_path(
    size: str, expected: str | None
) -> None:
    """<size> is an xs:integer of bytes: within 0..2**63-1 it is read, else refused by path."""
    doc = with_resource(f"<size>{size}</size>")
    if expected is None:
        digits = size.lstrip("-").lstrip("0") or "0"
        assert cap.loads(doc).infos[0].resources[0].size == int(digits)
        return
    for read in (cap.loads, cap.loads_lenient):
        with pytest.raises(InvalidCAP) as err:
            read(doc)
        [problem] = err.value.problems
        assert problem.path == "info[0]/resource[0]/size"
        assert expected in problem.message
        assert len(problem.message) < 300  # the value abbreviated, not 5,000 digits


@pytest.mark.parametrize("name", ["altitude", "ceiling"])
def test_decimals_beyond_a_double_are_refused_at_their_path(name: str) -> None:
    """float() turns 400 digits into inf: refused at the element, saying it is our limit."""
    inner = f"<altitude>0</altitude><{name}>{'9' * 400}</{name}>".replace(
        "<altitude>0</altitude><altitude>", "<altitude>"
    )
    doc = BASE.replace("</area>", inner + "</area>", 1)
    found = problems(doc)
    assert list(found) == [f"info[0]/area[0]/{name}"]
    assert "double's range" in found[f"info[0]/area[0]/{name}"]


def test_a_huge_radius_is_refused_with_its_value_abbreviated() -> None:
    """A radius of 5,000 digits: the message quotes the start and the length, not it all."""
    doc = BASE.replace("59.3325,18.06528 0.5", "59.3325,18.06528 " + "9" * 5000)
    message = problems(doc)["info[0]/area[0]/circle[0]"]
    assert "radius must be >= 0 and <= 1000 km" in message and "5,000 characters" in message
    assert len(message) < 400


def test_the_model_bounds_resource_size_and_dumps_writes_every_size_it_holds() -> None:
    """Resource(size=10**4400) is refused at construction (dumps would hit str()'s limit)."""
    for bad in (10**4400, -(10**5000), 2**63):
        with pytest.raises(InvalidAlert, match=r"size must be an int >= 0 and <= 9,223"):
            Resource(description="map", mime_type="image/png", size=bad)
    a = cap.loads(BASE)
    assert MAX_RESOURCE_SIZE == 2**63 - 1
    biggest = Resource(description="map", mime_type="image/png", size=MAX_RESOURCE_SIZE)
    a = attrs.evolve(a, infos=[attrs.evolve(a.infos[0], resources=[biggest])])
    assert cap.loads(cap.dumps(a)) == a


def test_model_numbers_beyond_a_float_are_invalid_alert_not_overflow_error() -> None:
    """An int altitude of 5,000 digits: InvalidAlert naming the field and the size."""
    with pytest.raises(InvalidAlert, match=r"altitude must be a finite number .*5,000 digits"):
        AlertArea(description="x", altitude=10**4999)


# --- hostile declared encodings --------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding",
    ["hex", "rot13", "utf-7", "idna", "punycode", "unicode_escape", "undefined", "zlib",
     "base64", "no-such-encoding", "utf-32", "UTF-7", "mbcs"],
)  # fmt: skip
def test_odd_declared_encodings_are_invalid_cap(encoding: str) -> None:
    """A declared encoding that is not a character encoding is InvalidCAP, never a codec error."""
    doc = BASE.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode("utf-8")
    with pytest.raises(InvalidCAP) as info:
        cap.loads(doc)
    assert info.value.paths == [""]
    assert "encoding" in str(info.value)
    if encoding == "utf-32":  # a real encoding the UTF-8 bytes contradict: read as UTF-8
        assert [r.path for r in cap.loads_lenient(doc).repairs] == [""]
        return
    with pytest.raises(InvalidCAP):
        cap.loads_lenient(doc)


def test_encoding_declared_in_utf16_is_checked_too() -> None:
    """The parser's own failure on an undecodable encoding is InvalidCAP as well."""
    doc = BASE.replace('encoding="UTF-8"', 'encoding="hex"').encode("utf-16")
    with pytest.raises(InvalidCAP):
        cap.loads(doc)


def test_real_single_byte_encodings_still_read() -> None:
    """Genuine single-byte charsets are read as before."""
    for encoding in ("ISO-8859-1", "windows-1252", "KOI8-R", "US-ASCII"):
        doc = BASE.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode("ascii")
        assert cap.loads(doc) == cap.loads(BASE)


#: BASE with Swedish text, so a document decoded in the wrong encoding cannot pass unnoticed.
SWEDISH = BASE.replace("Explosion vid Sergels torg", "Risk för explosion på Möllevångstorget")


@pytest.mark.parametrize(
    ("declaration", "why"),
    [
        ('<?xml version="1.0" encoding="UTF-8"?>', "the encoding it declares"),
        ('<?xml version="1.0" encoding="utf-8"?>', "the encoding it declares"),
        ('<?xml version="1.0"?>', "the encoding XML assumes for a document that declares none"),
        ("", "the encoding XML assumes for a document that declares none"),
    ],
)
def test_bytes_that_are_not_utf8_where_utf8_is_read_name_the_byte_and_the_remedy(
    declaration: str, why: str
) -> None:
    """Swedish text saved as windows-1252 and read as UTF-8: the byte, where, and what to do.

    It was "not well-formed XML: not well-formed (invalid token) at line 14, column 21", which
    never said that the bytes are not UTF-8, nor which byte.
    """
    doc = SWEDISH.replace('<?xml version="1.0" encoding="UTF-8"?>', declaration)
    at = doc.index("ö")
    line, column = doc[:at].count("\n") + 1, at - doc.rfind("\n", 0, at)
    offset = len(doc[:at].encode("windows-1252"))
    for data in (doc.encode("windows-1252"), doc.replace("\n", "\r\n").encode("windows-1252")):
        if b"\r" in data:
            offset += line - 1  # a CR before each LF
        [(path, message)] = problems(data).items()
        assert path == ""
        assert message.startswith(
            f"the document is not valid UTF-8, {why}: byte 0xF6 at line {line}, column "
            f"{column} (byte {offset:,} of the document, in {data[offset - 12 : offset + 8]!r}): "
            "invalid start byte; save it as UTF-8, or declare the encoding it is written in, "
            'e.g. <?xml version="1.0" encoding="windows-1252"?>'
        ), message
        with pytest.raises(InvalidCAP, match="not valid UTF-8"):
            cap.loads_lenient(data)
    declared = SWEDISH.replace('encoding="UTF-8"', 'encoding="windows-1252"')
    assert cap.loads(declared.encode("windows-1252")) == cap.loads(SWEDISH)


def test_a_syntax_error_before_the_first_byte_that_is_not_utf8_is_reported_as_such() -> None:
    """Expat's own error comes first when it lies before the bytes that are not UTF-8."""
    data = SWEDISH.replace("<status>", "<status", 1).encode("windows-1252")
    [(path, message)] = problems(data).items()
    assert path == "" and message.startswith("not well-formed XML: ")


@pytest.mark.parametrize(
    ("mark", "encode", "declared"),
    [
        (codecs.BOM_UTF8, "utf-8", "ISO-8859-1"),  # expat decodes Latin-1 itself: was mojibake
        (codecs.BOM_UTF8, "utf-8", "windows-1252"),  # was "not well-formed (invalid token)"
        (codecs.BOM_UTF8, "utf-8", "UTF-16"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "ISO-8859-1"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "cp1252"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "koi8-r"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "ISO-2022-JP"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16BE"),  # was read as the mark says, silently
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16LE"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32BE"),
    ],
)
def test_a_byte_order_mark_contradicting_the_declaration_is_refused_and_said_so(
    mark: bytes, encode: str, declared: str
) -> None:
    """XML 1.0 §4.3.3: fatal. Strict refuses naming both; lenient reads as the mark says."""
    doc = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"')
    data = mark + doc.encode(encode)
    [(path, message)] = problems(data).items()
    assert path == ""
    assert "byte-order mark" in message and repr(declared) in message and "§4.3.3" in message
    assert message.endswith("(loads_lenient repairs this)")  # as every lenient repair says
    parsed = cap.loads_lenient(data)
    assert parsed.alert == cap.loads(SWEDISH)  # not 'Risk fÃ¶r explosion'
    [repair] = parsed.repairs
    assert "byte-order mark" in repair.message and repr(declared) in repair.message


@pytest.mark.parametrize(
    ("mark", "encode", "declared"),
    [
        (codecs.BOM_UTF8, "utf-8", "UTF-8"),
        (codecs.BOM_UTF8, "utf-8", "utf8"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
        (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32BE"),
    ],
)
def test_a_byte_order_mark_agreeing_with_the_declaration_is_read(
    mark: bytes, encode: str, declared: str
) -> None:
    """The mark and a declaration of the same encoding: read, no repair."""
    doc = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"')
    parsed = cap.loads_lenient(mark + doc.encode(encode))
    assert parsed.alert == cap.loads(SWEDISH) and parsed.repairs == ()


def _utf16(doc: str, codec: str) -> bytes:
    """``doc`` declared and encoded as UTF-16 (``utf-16`` writes a byte-order mark)."""
    return doc.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode(codec)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(
    ("units", "reason"),
    [
        (["\ud800", "1"], "illegal UTF-16 surrogate"),  # a high surrogate before a digit
        (["\ud800", "\ud800"], "illegal UTF-16 surrogate"),  # two high surrogates
        (["\udc00"], "illegal encoding"),  # a lone low surrogate
    ],
)
def test_utf16_that_is_not_valid_utf16_is_refused_not_read_as_other_characters(
    codec: str, units: list[str], reason: str
) -> None:
    """A lone surrogate in UTF-16 is no character: refused, naming the bytes.

    expat's UTF-16 decoder paired a high surrogate with whatever followed: the identifier
    ``SE-POL-<D800>1`` was read as ``SE-POL-𐀱``, silently another identifier.
    """
    doc = SWEDISH.replace("<identifier>SE-POL-2026-0001<", "<identifier>SE-POL-@<")
    good = _utf16(doc, codec)
    endian = "utf-16-be" if codec == "utf-16-be" else "utf-16-le"
    at = good.index("@".encode(endian))
    data = good[:at] + "".join(units).encode(endian, "surrogatepass") + good[at + 2 :]
    line = doc[: doc.index("@")].count("\n") + 1
    column = doc.index("@") - doc.rfind("\n", 0, doc.index("@"))
    for read in (cap.loads, cap.loads_lenient):
        with pytest.raises(InvalidCAP) as info:
            read(data)
        [problem] = info.value.problems
        assert problem.path == ""
        assert problem.message.startswith("the document is not valid UTF-16"), problem.message
        assert f" at line {line}, column {column} (byte {at:,} of the document" in problem.message
        assert reason in problem.message
    assert cap.loads(good.replace("@".encode(endian), "1".encode(endian))).identifier == (
        "SE-POL-1"
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_mark_or_a_declaration_is_checked_too(codec: str) -> None:
    """UTF-16 found by a first ``<`` alone (as expat finds it) is checked too: it was read."""
    doc = SWEDISH.split("\n", 1)[1]  # no XML declaration
    good = doc.encode(codec)
    assert cap.loads(good) == cap.loads(SWEDISH)
    bad = doc.replace("SE-POL-2026-0001", "SE-POL-\ud800" + "1").encode(codec, "surrogatepass")
    [(path, message)] = problems(bad).items()
    assert path == ""
    assert message.startswith(
        "the document is not valid UTF-16, the encoding its first bytes show"
    ), message


def test_utf16_cut_in_the_middle_of_a_character_is_refused_naming_the_byte() -> None:
    """An odd number of bytes: the last one is half a character (it was "unclosed token")."""
    data = _utf16(SWEDISH, "utf-16") + b"\n"
    [(path, message)] = problems(data).items()
    assert path == "" and message.startswith("the document is not valid UTF-16"), message
    assert "truncated data" in message


def _refused_as_contradicted(declared: str, written: str, codec: str = "utf-8") -> None:
    """The Swedish document in ``codec`` declaring ``declared``: refused, its first bytes named.

    Strictly always; leniently too unless the bytes are UTF-8 declaring UTF-16 or UTF-32
    (:func:`test_utf8_declaring_utf16_or_utf32_is_read_as_utf8_leniently_with_its_repair`).
    """
    data = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"').encode(codec)
    wide = codecs.lookup(declared).name.startswith(("utf-16", "utf-32"))
    readers = [cap.loads] if wide and codec == "utf-8" else [cap.loads, cap.loads_lenient]
    for read in readers:
        with pytest.raises(InvalidCAP) as info:
            read(data)
        [problem] = info.value.problems
        assert problem.path == ""
        assert problem.message.startswith(
            f"the XML declaration says encoding={declared!r}, but the document is not written "
            f"in it: its first bytes '<?xml' are {written}"
        ), problem.message
        assert "§4.3.3" in problem.message and 'encoding="UTF-8"' in problem.message


@pytest.mark.parametrize("declared", ["utf-16", "UTF-16", "UTF-16LE", "UTF-32", "utf-32be"])
def test_bytes_declaring_utf16_or_utf32_that_are_written_in_single_bytes_are_refused_so(
    declared: str,
) -> None:
    """A .NET StringWriter declares utf-16 whatever encoding the text is later saved in.

    The declaration itself is then in single bytes, as UTF-8 writes it: that contradicts it
    (XML 1.0 §4.3.3). It was "encoding specified in XML declaration is incorrect", naming
    neither the encoding nor the remedy.
    """
    _refused_as_contradicted(declared, "single bytes")
    _refused_as_contradicted(declared, "single bytes", codec="latin-1")


@pytest.mark.parametrize("declared", ["utf-16", "UTF-16", "UTF-16LE", "UTF-32", "utf-32be"])
def test_utf8_declaring_utf16_or_utf32_is_read_as_utf8_leniently_with_its_repair(
    declared: str,
) -> None:
    """.NET's StringWriter text saved as UTF-8 still declares utf-16: lenient reads the bytes.

    The same alert as the document declaring UTF-8, with one repair naming the declaration;
    strict reading refuses it and says loads_lenient reads it. Bytes that are no UTF-8 (the
    same document in Latin-1) are refused by both (the test above).
    """
    right = SWEDISH.encode("utf-8")
    data = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"').encode("utf-8")
    assert "ä" in SWEDISH or "å" in SWEDISH or "ö" in SWEDISH  # (not ASCII alone)
    parsed = cap.loads_lenient(data)
    assert parsed.alert == cap.loads(right)
    [repair] = parsed.repairs
    assert repair.path == ""
    assert f"encoding={declared!r}" in repair.message and "read it as UTF-8" in repair.message
    with pytest.raises(InvalidCAP) as info:
        cap.loads(data)
    assert info.value.problems[0].message.endswith("(loads_lenient repairs this)")
    latin = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"').encode("latin-1")
    with pytest.raises(InvalidCAP) as info:
        cap.loads(latin)
    assert "loads_lenient" not in info.value.problems[0].message


def test_the_command_names_its_own_lenient_reading_for_utf8_declaring_utf16(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``geotarget preview`` refuses it pointing to ``--lenient``, which reads it."""
    from geotarget.cli import main

    doc = tmp_path / "dotnet.xml"
    doc.write_bytes(SWEDISH.replace('encoding="UTF-8"', 'encoding="utf-16"').encode("utf-8"))
    assert main(["preview", str(doc)]) != 0
    err = capsys.readouterr().err
    assert "'geotarget preview --lenient' repairs this" in err and "Traceback" not in err
    assert main(["preview", "--lenient", str(doc)]) == 0


@pytest.mark.parametrize("declared", ["cp037", "IBM500", "cp1140", "cp1026", "cp273"])
def test_ascii_bytes_declaring_an_ebcdic_code_page_are_refused_so(declared: str) -> None:
    """An EBCDIC code page writes '<?xml' as 4C 6F A7 94 93, not in ASCII as here.

    The declaration is contradicted by the bytes it is written in (XML 1.0 §4.3.3, Appendix
    F), as for utf-16 in single bytes; the document was decoded as EBCDIC and refused as "not
    well-formed (invalid token) at line 1, column 1", naming neither the encoding nor the rule.
    """
    _refused_as_contradicted(declared, "ASCII")


@pytest.mark.parametrize(
    ("codec", "shape", "declared"),
    [
        ("utf-16-le", "UTF-16LE", "UTF-8"),
        ("utf-16-le", "UTF-16LE", "ISO-8859-1"),
        ("utf-16-be", "UTF-16BE", "UTF-16LE"),
        ("utf-16-le", "UTF-16LE", "UTF-16BE"),
        ("utf-32-le", "UTF-32LE", "UTF-8"),
    ],
)
def test_utf16_or_utf32_without_a_mark_declaring_another_encoding_is_refused_so(
    codec: str, shape: str, declared: str
) -> None:
    """XML 1.0 Appendix F: the first bytes show the encoding; a declaration saying else is fatal."""
    data = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"').encode(codec)
    [(path, message)] = problems(data).items()
    assert path == ""
    assert message.startswith(f"the document is written in {shape} (its first bytes are "), message
    assert f"but its XML declaration says encoding={declared!r}" in message
    assert "§4.3.3" in message


@pytest.mark.parametrize(
    ("codec", "declared"),
    [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-16-le", "UTF-16LE"),
     ("utf-16-be", "UTF-16BE"), ("utf-32-le", "UTF-32"), ("utf-32-be", "UTF-32"),
     ("utf-32-le", "UTF-32LE"), ("utf-32-be", "UTF-32BE")],
)  # fmt: skip
def test_utf16_and_utf32_without_a_mark_are_read_by_their_first_bytes(
    codec: str, declared: str
) -> None:
    """XML 1.0 Appendix F detects both without a mark (UTF-32 was "invalid token")."""
    data = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"').encode(codec)
    assert cap.loads(data) == cap.loads(SWEDISH)
    assert cap.loads_lenient(data).repairs == ()


def test_a_declared_encoding_inside_utf16_is_checked_as_any_other() -> None:
    """A UTF-16 document declaring a name that is no encoding is refused (not read)."""
    for codec in ("utf-16", "utf-16-le", "utf-32"):
        data = SWEDISH.replace('encoding="UTF-8"', 'encoding="no-such-code"').encode(codec)
        [(path, message)] = problems(data).items()
        assert path == "" and "'no-such-code'" in message, message


@pytest.mark.parametrize("declared", ["US-ASCII", "us-ascii", "ascii"])
def test_bytes_outside_a_declared_ascii_name_the_byte(declared: str) -> None:
    """Declared US-ASCII with a UTF-8 byte: as precise as for the alias ``ascii``.

    It was "not well-formed (invalid token)" for the name expat decodes itself, US-ASCII.
    """
    doc = SWEDISH.replace('encoding="UTF-8"', f'encoding="{declared}"')
    at = doc.index("ö")
    line, column = doc[:at].count("\n") + 1, at - doc.rfind("\n", 0, at)
    [(path, message)] = problems(doc.encode("utf-8")).items()
    assert path == ""
    assert message.startswith(
        f"the document is not valid ascii, the encoding it declares: byte 0xC3 at line {line}, "
        f"column {column}"
    ), message


def test_text_holding_a_lone_surrogate_is_refused_naming_it() -> None:
    """A ``str`` with a lone surrogate (as ``surrogateescape`` decoding leaves) names it.

    It was "not well-formed (invalid token)".
    """
    doc = SWEDISH.replace("Möllevångstorget", "M\udcc3\udcb6llevångstorget")
    at = doc.index("\udcc3")
    line, column = doc[:at].count("\n") + 1, at - doc.rfind("\n", 0, at)
    [(path, message)] = problems(doc).items()
    assert path == ""
    assert message.startswith(
        f"the text holds U+DCC3, a lone surrogate, at line {line}, column {column}"
    ), message


# --- axis order, reusable ----------------------------------------------------------------------


def test_check_axis_order_agrees_with_reading_with_an_envelope() -> None:
    """check_axis_order on the alert read without an envelope finds what read(envelope=) finds."""
    swapped = BASE.replace("59.3325,18.06528 0.5", "18.06528,59.3325 0.5").replace(
        "59.33,18.06 59.33,18.07 59.335,18.07 59.335,18.06 59.33,18.06",
        "18.06,59.33 18.07,59.33 18.07,59.335 18.06,59.335 18.06,59.33",
    )
    alert = cap.loads(swapped)
    found = cap.check_axis_order(alert, SWEDEN)
    assert [p.path for p in found] == ["info[0]/area[0]/polygon[0]", "info[0]/area[0]/circle[0]"]
    with pytest.raises(InvalidCAP) as info:
        cap.loads(swapped, envelope=SWEDEN)
    assert tuple(info.value.problems) == found
    assert cap.check_axis_order(cap.loads(BASE), SWEDEN) == ()
    assert cap.check_axis_order(cap.loads(BASE), UK) == ()  # elsewhere, but not a swap
    assert all(isinstance(p, Problem) for p in found)


def test_check_axis_order_validates_its_arguments() -> None:
    """The alert must be an Alert and the envelope a valid (west, south, east, north)."""
    with pytest.raises(InvalidType, match="alert must be an Alert"):
        cap.check_axis_order("<alert/>", SWEDEN)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match="envelope"):
        cap.check_axis_order(cap.loads(BASE), None)  # type: ignore[arg-type]


# --- what dumps refuses ---------------------------------------------------------------------------


def test_dumps_refuses_what_the_reader_could_not_read_back() -> None:
    """An alert over the reader's size or element limit is refused where it is built (probe 20).

    It was built, then refused by dumps (in Targeter.target, after the pilot had built it).
    """
    a = cap.loads(BASE)
    with pytest.raises(InvalidAlert, match="MAX_DOCUMENT_BYTES"):
        attrs.evolve(a, note="x" * cap.MAX_DOCUMENT_BYTES)
    with pytest.raises(InvalidAlert, match="MAX_ELEMENTS"):
        attrs.evolve(a, codes=["c"] * cap.MAX_ELEMENTS)
    just = attrs.evolve(a, note="x" * (cap.MAX_DOCUMENT_BYTES - len(cap.dumps(a).encode()) - 20))
    assert cap.loads(cap.dumps(just)) == just


def test_extreme_instants_are_refused_by_the_model() -> None:
    """An instant that cannot be converted to every offset is refused with its range."""
    info = Info(categories=["Safety"], event="x", urgency="Unknown", severity="Unknown",
                certainty="Unknown")  # fmt: skip
    with pytest.raises(InvalidAlert, match="between 0001-01-02 and 9999-12-30 UTC"):
        attrs.evolve(info, onset=datetime(9999, 12, 31, 20, tzinfo=timezone(-timedelta(hours=14))))
    with pytest.raises(InvalidAlert, match="within -14:00 and \\+14:00"):
        attrs.evolve(info, onset=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=15))))


# --- real documents: warnings -------------------------------------------------------------------


@pytest.mark.shared_data
def test_real_documents_carry_their_expected_warnings(shared_data: Path) -> None:
    """The manifest's SEMANTIC remarks come back as warnings at the right paths."""
    folder = shared_data / "cap"

    def warnings(name: str) -> list[tuple[str, str]]:
        return [(w.path, w.message) for w in cap.read((folder / name).read_bytes()).warnings]

    blank = warnings("alphagov_MISSING_AREA_NAMES.xml")
    assert [(p, m.split(":")[0]) for p, m in blank] == [("info[0]/area[0]/areaDesc", "is blank")]
    own = warnings("kde_mo-cap_monsoon.xml")
    assert [p for p, _ in own] == ["references"]
    assert "names this message itself" in own[0][1]
    quake = warnings("google_earthquake-iso8859-1.xml")
    plus = [(p, m) for p, m in quake if "UTC" in m]
    assert [p for p, _ in plus] == ["sent", "info[0]/onset", "info[0]/expires"]
    assert all("UTC MUST be written -00:00" in m for _, m in plus)
    # Its only area is the epicentre as a circle of radius 0: a point, which covers no area.
    point = [p for p, m in quake if "UTC" not in m]
    assert point == ["info[0]/area[0]/circle[0]", "info[0]/area[0]"]
    assert warnings("alphagov_WAINFLEET.xml") == []  # UTC as -00:00: nothing to say


@pytest.mark.shared_data
def test_swapped_uk_documents_parse_without_an_envelope_and_are_caught_by_the_check(
    shared_data: Path,
) -> None:
    """The swapped alphagov polygons are CAP-valid text: read, then caught by check_axis_order."""
    data = (shared_data / "cap" / "alphagov_INVALID_AREA_WITH_INTERSECTIONS.xml").read_bytes()
    parsed = cap.read(data)
    assert "info[0]/area[0]/polygon[0]" in [w.path for w in parsed.warnings]  # the bow-tie
    assert [p.path for p in cap.check_axis_order(parsed.alert, UK)] == [
        "info[0]/area[0]/polygon[0]"
    ]


def test_alert_model_accepts_what_cap_accepts() -> None:
    """Equal onset and expires, and an empty URI, are valid in the model itself."""
    t = datetime(2026, 5, 4, tzinfo=timezone.utc)
    info = Info(categories=["Safety"], event="x", urgency="Unknown", severity="Unknown",
                certainty="Unknown", onset=t, expires=t, web="",
                resources=[Resource(description="d", mime_type="m", uri="")])  # fmt: skip
    a = Alert(identifier="A", sender="s", sent=t, status="Test", msg_type="Alert",
              scope="Public", infos=[info])  # fmt: skip
    assert cap.loads(cap.dumps(a)) == a
    with pytest.raises(InvalidAlert, match="without leading or trailing whitespace"):
        Resource(description="d", mime_type="m", uri=" x")


# --- the round trip, at the edges ------------------------------------------------------------------


@settings(max_examples=150)
@given(a=extreme_alerts())
def test_round_trip_holds_for_extreme_alerts(a: Alert) -> None:
    """loads(dumps(a)) == a for extreme-but-valid alerts, down to every float's bits and sign.

    ``repr`` is the oracle: it shows each float's shortest exact text (``-0.0``, ``5e-324``)
    and each offset, so two alerts with the same repr hold the same values.
    """
    text = cap.dumps(a)
    back = cap.loads(text)
    assert back == a
    assert repr(back) == repr(a)
    assert cap.dumps(back) == text


def test_only_xml_whitespace_separates_or_surrounds() -> None:
    """NO-BREAK SPACE is not XML whitespace: not between elements, nor between references."""
    found = problems(BASE.replace("<scope>Public</scope>", "<scope>Public</scope>\xa0"))
    assert "must hold elements only" in found["alert"]
    refs = (
        "<references>a@b.se,ID-1,2026-05-04T20:00:00+02:00\xa0"
        "c@d.se,ID-2,2026-05-04T20:10:00+02:00</references>"
    )
    found = problems(BASE.replace("<scope>Public</scope>", "<scope>Public</scope>" + refs))
    assert list(found) == ["references"]


# --- hostile bytes: only InvalidCAP ever comes out -------------------------------------------------

_PIECES = st.sampled_from(
    [b"<", b">", b"&", b"&#0;", b"&#x110000;", b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf",
     b"<!DOCTYPE a>", b"<?xml version='1.0' encoding='utf-16'?>", b"encoding='hex'",
     b"\xd9\xa1", b"\xef\xbc\x95", b"\xc2\xa0", b"-00:00", b"Z", b"</info>", b"<info>", b"]]>",
     b"<![CDATA[", b"\r", b"\t"]
)  # fmt: skip


@settings(max_examples=300)
@given(
    edits=st.lists(
        st.tuples(st.floats(0.0, 1.0), st.integers(0, 8), _PIECES | st.binary(max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_mangled_documents_raise_only_invalid_cap(
    edits: list[tuple[float, int, bytes]],
) -> None:
    """Any byte-level damage to a document gives an alert or InvalidCAP, nothing else."""
    data = bytearray(BASE.encode("utf-8"))
    for where, cut, piece in edits:
        k = int(where * len(data))
        data[k : k + cut] = piece
    for reader in (cap.loads, cap.loads_lenient):
        with contextlib.suppress(InvalidCAP):
            reader(bytes(data))
