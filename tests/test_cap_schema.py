"""CAP-v1.2.xsd as the oracle: what we write validates, and strict reading agrees with the schema.

The schema is the OASIS original, vendored unmodified in ``tests/cap_schema`` (see its
NOTICE.md) and read by xmlschema, an XML Schema 1.0 validator that shares no code with the
codec. For the values whose only rule is their schema type (date-times, decimals, integers,
language tags, URIs), the strict reader must accept exactly what the schema accepts.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from alert_strategies import alerts
from cap_helpers import BASE, explosion
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import InvalidCAP, cap
from geotarget.alerts import Alert

XSD = Path(__file__).parent / "cap_schema" / "CAP-v1.2.xsd"
XSD_SHA256 = "f6c6ed7537a463968b7b36110f7e8bba1f86ad2257a8b84619d7dce530e57401"


@functools.cache
def schema() -> Any:
    """CAP-v1.2.xsd, compiled once."""
    return xmlschema.XMLSchema(str(XSD))


def test_vendored_schema_is_the_published_file() -> None:
    """The vendored CAP-v1.2.xsd is byte for byte the file NOTICE.md names, notice included."""
    data = XSD.read_bytes()
    assert hashlib.sha256(data).hexdigest() == XSD_SHA256
    assert b"Copyright OASIS Open 2010 All Rights Reserved" in data
    assert (XSD.parent / "NOTICE.md").is_file()


@settings(max_examples=25)
@given(a=alerts())
def test_dumps_output_is_valid_against_the_cap_schema(a: Alert) -> None:
    """Every document we write validates against CAP-v1.2.xsd."""
    schema().validate(cap.dumps(a))
    schema().validate(cap.dumps(explosion()))


def _accepts_schema(doc: str, value: str = "") -> bool:
    """Whether the schema accepts ``doc``, ``value`` being the text under test.

    xmlschema reads xs:decimal and xs:integer with Python's ``Decimal``/``int``, which accept
    non-ASCII digits, and strips values with Python's ``str.strip``, which removes non-XML
    whitespace such as NO-BREAK SPACE. XML Schema 1.0 (Part 2, 3.2.3 decimal, 3.3.13 integer,
    3.2.7 dateTime, 4.3.6 whiteSpace) allows only ASCII digits and collapses only space, tab,
    CR and LF, so a non-ASCII value is not in the schema's lexical space whatever xmlschema
    says.
    """
    return bool(schema().is_valid(doc)) and value.isascii()


def _accepts_strict(doc: str) -> bool:
    try:
        cap.loads(doc)
    except InvalidCAP:
        return False
    return True


_DIGITS = st.sampled_from([*"0123456789", "\u0661", "\uff13", "\u0967", "\U0001d7d8"])
_SIGN = st.sampled_from(["+", "-", ",", "", "Z", "\u2212"])


@st.composite
def date_times(draw: st.DrawFn) -> str:
    """Date-time texts near CAP's form: valid ones, and ones off by one detail."""
    year = draw(st.integers(1970, 2100))
    parts = [
        f"{year:04d}", "-", f"{draw(st.integers(0, 13)):02d}", "-",
        f"{draw(st.integers(0, 32)):02d}", "T", f"{draw(st.integers(0, 25)):02d}", ":",
        f"{draw(st.integers(0, 60)):02d}", ":", f"{draw(st.integers(0, 60)):02d}",
    ]  # fmt: skip
    if draw(st.booleans()):
        parts.append("." + str(draw(st.integers(0, 999))))
    sign = draw(_SIGN)
    parts.append(sign)
    if sign not in ("", "Z"):
        parts.append(f"{draw(st.integers(0, 15)):02d}:{draw(st.sampled_from([0, 30, 45, 60])):02d}")
    text = "".join(parts)
    if draw(st.booleans()):  # one digit replaced, possibly by a non-ASCII one
        k = draw(st.integers(0, len(text) - 1))
        if text[k].isdigit():
            text = text[:k] + draw(_DIGITS) + text[k + 1 :]
    pad = draw(st.sampled_from(["", " ", "\n", "\t", "\xa0"]))
    return pad + text + pad


decimals = st.one_of(
    st.from_regex(r"[ \t\n]?[+-]?[0-9]{0,3}(\.[0-9]{0,3})?[ \t\n]?", fullmatch=True),
    st.builds(lambda a, d, b: f"{a}{d}{b}", st.sampled_from(["", "1", "-"]), _DIGITS,
              st.sampled_from(["", ".5", "e3"])),
    st.sampled_from(["1e3", "NaN", "INF", ".", "+", "1.", "\xa01", "1,5"]),
)  # fmt: skip
languages = st.one_of(
    st.from_regex(r"[A-Za-z0-9-]{0,10}", fullmatch=True),
    st.sampled_from(["sv-SE", "en", "zh-Hant-TW", "x-klingon", "sv_SE", "sv-", "sv-SE\u0661"]),
)


@settings(max_examples=150)
@given(value=date_times(), where=st.sampled_from(["sent", "onset", "expires"]))
def test_date_times_are_read_exactly_when_the_schema_accepts_them(value: str, where: str) -> None:
    """A date-time is accepted strictly iff CAP-v1.2.xsd accepts it (its pattern and xs:dateTime).

    Beyond the schema, CAP 1.2 §3.3.2 forbids 'Z', which the pattern forbids too; the schema is
    the whole rule.
    """
    old = {
        "sent": "<sent>2026-05-04T21:30:00+02:00</sent>",
        "onset": "<onset>2026-05-04T21:30:00+02:00</onset>",
        "expires": "<expires>2026-05-04T23:30:00+02:00</expires>",
    }[where]
    doc = BASE.replace(old, f"<{where}>{value}</{where}>")
    assert doc != BASE
    assert _accepts_strict(doc) == _accepts_schema(doc, value), value


@settings(max_examples=150)
@given(value=decimals)
def test_altitudes_are_read_exactly_when_the_schema_accepts_them(value: str) -> None:
    """An <altitude> is accepted strictly iff it is an xs:decimal (ASCII digits only)."""
    doc = BASE.replace("</circle>", f"</circle><altitude>{value}</altitude>")
    assert _accepts_strict(doc) == _accepts_schema(doc, value), repr(value)


@settings(max_examples=100)
@given(value=languages)
def test_languages_are_read_exactly_when_the_schema_accepts_them(value: str) -> None:
    """A <language> is accepted strictly iff it is an xs:language; empty takes the default en-US."""
    doc = BASE.replace("<language>sv-SE</language>", f"<language>{value}</language>")
    assert _accepts_strict(doc) == _accepts_schema(doc, value), repr(value)
    if value == "":
        assert cap.loads(doc).infos[0].language == "en-US"


@pytest.mark.parametrize(
    "resource",
    [
        "<uri/>",
        "<uri></uri><derefUri>aGVq</derefUri>",
        "<uri> https://polisen.se/a.png </uri>",
        "<size>12</size>",
        "<size>-1</size>",
        "<size>١٢</size>",
        "<size>1.5</size>",
    ],
)
def test_resources_are_read_exactly_when_the_schema_accepts_them(resource: str) -> None:
    """An empty or padded <uri> (anyURI) and integer <size> follow the schema (size >= 0 aside)."""
    doc = BASE.replace(
        "<area>",
        f"<resource><resourceDesc>Karta</resourceDesc><mimeType>image/png</mimeType>"
        f"{resource}</resource><area>",
    )
    if "-1" in resource:  # the model's one limit here: a size in bytes is not negative
        assert _accepts_schema(doc) and not _accepts_strict(doc)
    else:
        assert _accepts_strict(doc) == _accepts_schema(doc, resource)


def _manifest(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "cap" / "MANIFEST.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.shared_data
def test_real_documents_the_schema_rejects_are_refused(shared_data: Path) -> None:
    """Whatever CAP-v1.2.xsd rejects in the CAP elements of a real document, we reject too.

    Errors inside XML-DSig ``<Signature>`` elements are left out: they are about the signature
    (see :func:`geotarget.cap.verify_signature`), not about CAP.
    """
    rejected = 0
    for r in _manifest(shared_data):
        data = (shared_data / "cap" / r["file"]).read_bytes()
        errors = schema().iter_errors(data.decode("utf-8", "replace"))
        if any("Signature" not in (e.path or "") for e in errors):
            rejected += 1
            with pytest.raises(InvalidCAP):
                cap.loads(data)
    assert rejected >= 5
