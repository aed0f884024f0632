"""CAP documents as upstream systems write them, read against an independent reading.

Each document here is written the way some real producer writes CAP (prefixes, a default
namespace declared again inside, ``xsi:schemaLocation``, comments and processing instructions
between and inside values, CDATA, character references, byte-order marks, UTF-16, single-byte
encodings, pretty-printed coordinate lists, many languages...), none of them a file of
``shared/data/cap``. What geotarget reads is compared with what :func:`oracle` reads with the
standard library's ElementTree and the CAP 1.2 text alone: the header, every ``<info>``'s
language, event and times, and every area's polygons, circles and geocodes exactly.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import pytest

from geotarget import InvalidCAP, PositionIndex, Positions, cap, pilot
from geotarget.issuers import Issuer, Issuers
from geotarget.targeting import Targeter, Verdict

NS = "urn:oasis:names:tc:emergency:cap:1.2"
DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

# --- the independent reading ------------------------------------------------------------------

_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)")


def _time(text: str) -> dt.datetime:
    """CAP 1.2 §3.3.2: YYYY-MM-DDThh:mm:ss±hh:mm (whitespace collapsed, as xs:dateTime)."""
    m = _TIME.fullmatch(text.strip())
    assert m is not None, text
    y, mo, d, hh, mi, ss, sign, oh, om = m.groups()
    offset = dt.timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    return dt.datetime(
        int(y), int(mo), int(d), int(hh), int(mi), int(ss), tzinfo=dt.timezone(offset)
    )


def oracle(data: str | bytes) -> dict[str, Any]:
    """The document read from the CAP 1.2 text alone: ``lat,lon`` pairs, radii in km."""
    root = ET.fromstring(data)

    def all_of(element: ET.Element, name: str) -> list[ET.Element]:
        return element.findall(f"{{{NS}}}{name}")

    def text(element: ET.Element, name: str) -> str | None:
        found = element.find(f"{{{NS}}}{name}")
        return None if found is None else "".join(found.itertext())

    def maybe_time(element: ET.Element, name: str) -> dt.datetime | None:
        value = text(element, name)
        return None if value is None else _time(value)

    refs = text(root, "references")
    out: dict[str, Any] = {
        "identifier": text(root, "identifier"),
        "sender": text(root, "sender"),
        "sent": _time(text(root, "sent") or ""),
        "status": text(root, "status"),
        "msg_type": text(root, "msgType"),
        "references": [] if refs is None else [
            (s, i, _time(t)) for s, i, t in (item.split(",") for item in refs.split())
        ],
        "infos": [],
    }  # fmt: skip
    for info in all_of(root, "info"):
        areas = []
        for area in all_of(info, "area"):
            polygons = []
            for polygon in all_of(area, "polygon"):
                pairs = [p.split(",") for p in "".join(polygon.itertext()).split()]
                polygons.append(tuple((float(lon), float(lat)) for lat, lon in pairs))
            circles = []
            for circle in all_of(area, "circle"):
                centre, radius = "".join(circle.itertext()).split()
                lat, lon = (float(v) for v in centre.split(","))
                circles.append((lon, lat, float(radius) * 1000.0))
            geocodes = [(text(g, "valueName"), text(g, "value")) for g in all_of(area, "geocode")]
            areas.append((text(area, "areaDesc"), polygons, circles, geocodes))
        language = (text(info, "language") or "").strip() or "en-US"
        out["infos"].append(
            {
                "language": language,
                "event": text(info, "event"),
                "categories": [c.text for c in all_of(info, "category")],
                "effective": maybe_time(info, "effective"),
                "onset": maybe_time(info, "onset"),
                "expires": maybe_time(info, "expires"),
                "areas": areas,
            }
        )
    return out


def as_read(data: str | bytes) -> dict[str, Any]:
    """What geotarget reads, in the oracle's shape."""
    alert = cap.read(data).alert
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent,
        "status": alert.status.value,
        "msg_type": alert.msg_type.value,
        "references": [(r.sender, r.identifier, r.sent) for r in alert.references],
        "infos": [
            {
                "language": info.language,
                "event": info.event,
                "categories": [c.value for c in info.categories],
                "effective": info.effective,
                "onset": info.onset,
                "expires": info.expires,
                "areas": [
                    (
                        area.description,
                        [tuple(tuple(p) for p in ring) for ring in area.polygons],
                        [tuple(c) for c in area.circles],
                        [(g.value_name, g.value) for g in area.geocodes],
                    )
                    for area in info.areas
                ],
            }
            for info in alert.infos
        ],
    }


# --- documents as producers write them ----------------------------------------------------------

HEADER = (
    "<identifier>SE-SOS-2026-0504-7</identifier><sender>larm@sosalarm.se</sender>"
    "<sent>2026-05-04T21:30:00+02:00</sent><status>Actual</status><msgType>Alert</msgType>"
    "<scope>Public</scope>"
)
SQUARE = "55.59,13.00 55.59,13.02 55.60,13.02 55.60,13.00 55.59,13.00"


def info(*, language: str = "sv-SE", event: str = "Explosion", area: str = "",
         times: str = "<onset>2026-05-04T21:30:00+02:00</onset>"
                      "<expires>2026-05-04T23:30:00+02:00</expires>") -> str:  # fmt: skip
    area = area or f"<area><areaDesc>Möllevången</areaDesc><polygon>{SQUARE}</polygon></area>"
    return (
        f"<info><language>{language}</language><category>Security</category>"
        f"<event>{event}</event><urgency>Immediate</urgency><severity>Severe</severity>"
        f"<certainty>Likely</certainty>{times}{area}</info>"
    )


def alert(body: str, *, head: str = DECL, root: str = f'xmlns="{NS}"', tag: str = "alert") -> str:
    return f"{head}<{tag} {root}>{body}</{tag}>"


def prefixed(body: str, prefix: str = "cap") -> str:
    """Every CAP element of ``body`` written with ``prefix:``."""
    return re.sub(r"<(/?)(?=[A-Za-z])", rf"<\1{prefix}:", body)


_CIRCLE_PTS = 12_000
_RING = " ".join(
    f"{59.33 + 0.02 * math.sin(2 * math.pi * k / _CIRCLE_PTS):.6f},"
    f"{18.06 + 0.04 * math.cos(2 * math.pi * k / _CIRCLE_PTS):.6f}"
    for k in range(_CIRCLE_PTS)
)
_RING += " " + _RING.split()[0]

ACCEPTED: dict[str, str | bytes] = {
    "cap: prefix everywhere": alert(
        prefixed(HEADER + info()), root=f'xmlns:cap="{NS}"', tag="cap:alert"
    ),
    "default namespace declared again on info": alert(
        HEADER + info().replace("<info>", f'<info xmlns="{NS}">', 1)
    ),
    "prefixed root, default namespace inside": alert(
        HEADER + info(), root=f'xmlns:cap="{NS}" xmlns="{NS}"', tag="cap:alert"
    ),
    "xsi:schemaLocation": alert(
        HEADER + info(),
        root=f'xmlns="{NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{NS} http://docs.oasis-open.org/emergency/cap/v1.2/CAP-v1.2.xsd"',
    ),
    "comments and processing instructions everywhere": (
        DECL
        + "<!-- feed item 7 --><?xml-stylesheet type='text/xsl' href='cap.xsl'?>\n"
        + alert(
            HEADER.replace("<status>", "<status><!-- enum -->").replace(
                "</sender>", "</sender><?audit id=7?><!-- x -->"
            )
            + info()
            .replace("<event>", "<event><?render bold?>")
            .replace("55.59,13.02 ", "55.59,13.02 <!-- corner --> "),
            head="",
        )
        + "\n<!-- end of item -->\n"
    ),
    "CDATA sections in text, times and coordinates": alert(
        HEADER.replace(
            "2026-05-04T21:30:00+02:00</sent>", "<![CDATA[2026-05-04T21:30:00+02:00]]></sent>"
        )
        + info(event="<![CDATA[Explo]]>sion").replace(
            SQUARE, f"<![CDATA[{SQUARE[:23]}]]>{SQUARE[23:]}"
        )
    ),
    "character and entity references": alert(
        HEADER
        + info(event="Explo&#115;ion").replace(
            "Möllevången", "M&#xF6;llev&#229;ngen &amp; &lt;Folkets park&gt; &quot;x&quot;"
        )
    ),
    "pretty-printed times and coordinates": alert(
        HEADER.replace("<sent>", "<sent>\n    ").replace("</sent>", "\n  </sent>")
        + info(
            area=f"<area><areaDesc>M</areaDesc><polygon>\n\t{SQUARE.replace(' ', chr(10) + '  ')}"
            "\n</polygon><circle>\n 55.595,13.01\t\t0.75\n</circle></area>"
        ).replace("<expires>", "<expires>\r\n\t")
    ),
    "coordinates separated by tabs, newlines and runs of spaces": alert(
        HEADER
        + info(
            area="<area><areaDesc>M</areaDesc><polygon>55.59,13.00\t\t55.59,13.02"
            "\n\n55.60,13.02    55.60,13.00\r\n55.59,13.00</polygon></area>"
        )
    ),
    "three decimals, signs, counter-clockwise": alert(
        HEADER
        + info(
            area="<area><areaDesc>M</areaDesc><polygon>+55.590,13.000 "
            "55.600,13.000 55.600,+13.020 55.590,13.020 +55.590,13.000</polygon></area>"
        )
    ),
    "12,000-point polygon": alert(
        HEADER + info(area=f"<area><areaDesc>Norrmalm</areaDesc><polygon>{_RING}</polygon></area>")
    ),
    "circles: radius 0, decimals, several areas with geocodes and altitudes": alert(
        HEADER
        + info(
            area="<area><areaDesc>A</areaDesc><circle>55.5911,13.0094 0</circle>"
            "<circle>55.5911,13.0094 2.375</circle><geocode><valueName>kommunkod"
            "</valueName><value>1280</value></geocode><altitude>0</altitude>"
            "<ceiling>1500.5</ceiling></area><area><areaDesc>B</areaDesc>"
            "<geocode><valueName>NUTS3</valueName><value>SE224</value></geocode>"
            "</area>"
        )
    ),
    "four languages, different events, categories and areas; info without times": alert(
        HEADER
        + info(language="sv-SE", event="Explosion")
        + info(
            language="en-GB",
            event="Explosion",
            times="",
            area="<area><areaDesc>Mollan</areaDesc><circle>55.5911,13.0094 1</circle></area>",
        )
        + info(language="ar", event="انفجار").replace("Security", "Safety")
        + info(
            language="fi",
            event="Räjähdys",
            times="<effective>2026-05-04T19:31:00-00:00"
            "</effective><expires>2026-05-05T01:15:00+05:45</expires>",
        )
    ),
    "an Update whose references are spread over lines": alert(
        HEADER.replace(
            "<msgType>Alert</msgType><scope>Public</scope>",
            "<msgType>Update</msgType><scope>Public</scope><references>\n   "
            "larm@sosalarm.se,SE-SOS-2026-0504-5,2026-05-04T21:00:00+02:00\t\t"
            "larm@sosalarm.se,SE-SOS-2026-0504-6,2026-05-04T19:15:00-00:00\n"
            "</references>",
        )
        + info()
    ),
    "Private scope, addresses quoted with spaces": alert(
        HEADER.replace(
            "<scope>Public</scope>",
            '<scope>Private</scope><addresses>"Polisen '
            'Region Syd" ledning@polisen.se   "SOS Alarm Malmö"</addresses>',
        )
        + info()
    ),
    "UTF-8 with a byte-order mark": codecs.BOM_UTF8 + alert(HEADER + info()).encode(),
    "UTF-16 LE with a byte-order mark": codecs.BOM_UTF16_LE
    + alert(HEADER + info(), head='<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16-le"),
    "UTF-16 BE with a byte-order mark": codecs.BOM_UTF16_BE
    + alert(HEADER + info(), head='<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16-be"),
    "ISO-8859-1 declared": alert(
        HEADER + info(), head='<?xml version="1.0" encoding="ISO-8859-1"?>\n'
    ).encode("latin-1"),
    "windows-1252 declared, CRLF": alert(
        HEADER + info().replace("ngen<", "ngen – Folkets park<"),
        head='<?xml version="1.0" encoding="windows-1252"?>',
    )
    .replace("><", ">\r\n<")
    .encode("cp1252"),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_upstream_document_reads_as_the_spec_says(name: str) -> None:
    """Header, every info's language, event and times, every area's geometry: all as written."""
    data = ACCEPTED[name]
    assert as_read(data) == oracle(data)


def test_upstream_documents_write_back_to_the_same_alert() -> None:
    """Whatever the producer's form, what is read is written as CAP that reads back equal."""
    for name, data in ACCEPTED.items():
        read = cap.loads(data)
        assert cap.loads(cap.dumps(read)) == read, name


# --- refusals: precise, at the right path ---------------------------------------------------------

BODY = HEADER + info()


def _zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("alert.xml", text)
    return buffer.getvalue()


REFUSED: dict[str, tuple[str | bytes, str, str]] = {
    "Atom feed around the alert": (
        f'{DECL}<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="text/xml">'
        f"{alert(BODY, head='')}</content></entry></feed>",
        "",
        "got <feed> in http://www.w3.org/2005/Atom",
    ),
    "EDXL-DE envelope": (
        f'{DECL}<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0"><contentObject>'
        f"<xmlContent><embeddedXMLContent>{alert(BODY, head='')}</embeddedXMLContent>"
        "</xmlContent></contentObject></EDXLDistribution>",
        "",
        "got <EDXLDistribution> in urn:oasis:names:tc:emergency:EDXL:DE:1.0",
    ),
    "SOAP envelope": (
        f'{DECL}<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f"{alert(BODY, head='')}</s:Body></s:Envelope>",
        "",
        "got <Envelope> in http://schemas.xmlsoap.org/soap/envelope/",
    ),
    "two alerts in one file": (
        DECL + alert(BODY, head="") + "\n" + alert(BODY, head=""),
        "",
        "junk after document element at line 3, column 1: a second element <alert> comes after "
        "the root element: an XML document has one root, and a CAP document one <alert> (XML "
        "1.0 §2.1); split a file of several alerts into one document each",
    ),
    "two documents concatenated": (
        alert(BODY) + "\n" + alert(BODY),
        "",
        "junk after document element at line 3, column 1: a second XML declaration comes after "
        "the root element: the file holds several documents one after another",
    ),
    "a stray end tag after the alert": (
        alert(BODY) + "</alert>\n",
        "",
        "the end tag </alert> comes after the root element ended, closing no element",
    ),
    "an escaped line break between the declaration and the alert": (
        alert(BODY, head=DECL.strip() + "&#10;"),
        "",
        "at line 1, column 39: the text '&#10;' comes before the root element, where XML allows "
        "only comments, processing instructions and whitespace (XML 1.0 §2.1), references such "
        "as &#10; included",
    ),
    "an entity reference after the alert": (
        alert(BODY) + "&amp;",
        "",
        "the text '&amp;' comes after the root element",
    ),
    "two UTF-8 byte-order marks": (
        codecs.BOM_UTF8 * 2 + alert(BODY).encode(),
        "",
        "at line 1, column 2: a byte-order mark (U+FEFF) comes before the root element, where "
        "XML allows only comments, processing instructions and whitespace (XML 1.0 §2.1): a "
        "mark belongs only at the very start, once",
    ),
    "a document with its mark appended to another": (
        alert(BODY).encode() + codecs.BOM_UTF8 + alert(BODY).encode(),
        "",
        "a byte-order mark (U+FEFF) comes after the root element",
    ),
    "gzip-compressed body": (
        gzip.compress(alert(BODY).encode()),
        "",
        "the document is not XML: it is gzip-compressed (it starts with the gzip bytes 1F 8B, "
        "as an HTTP body saved with its Content-Encoding: gzip does); decompress it first",
    ),
    "a ZIP archive": (
        _zipped(alert(BODY)),
        "",
        "the document is not XML: it is a ZIP archive (it starts with the bytes 'PK' 03 04); "
        "extract the CAP document from it first",
    ),
    "JSON from a web service": (
        '\n  {"identifier": "SE-SOS-2026-0504-7", "sent": "2026-05-04T21:30:00+02:00"}',
        "",
        "the document is not XML: it starts with '{', as JSON does (got '{\"identifier\": "
        "\"SE-SOS-2'); CAP 1.2 is XML, starting with <alert> or an XML declaration",
    ),
    "HTTP status line and headers saved with the body": (
        "HTTP/1.1 200 OK\r\nContent-Type: application/cap+xml\r\n\r\n" + alert(BODY),
        "",
        "the text 'HTTP/1.1 200 OK' comes before the root "
        "element, where XML allows only comments, processing instructions and whitespace (XML "
        "1.0 §2.1), references such as &#10; included; the file starts with an HTTP response's "
        "status line and headers: save the response body only",
    ),
    "CAP namespace with a trailing space": (
        alert(BODY, root=f'xmlns="{NS} "'),
        "",
        f"the namespace declaration xmlns='{NS} ' in <alert> holds whitespace, which a "
        "namespace name (a URI reference, Namespaces in XML 1.0 §2.2) cannot hold: write "
        f"xmlns='{NS}'",
    ),
    "namespace with a tab declared again on info": (
        alert(HEADER + info().replace("<info>", '<info xmlns:ext="urn:example:ext\tv2">', 1)),
        "",
        f"syntax error at line 2, column {alert(BODY).splitlines()[1].index('<info>') + 1}: "
        "the namespace declaration "
        "xmlns:ext='urn:example:ext\\tv2' in <info> holds whitespace",
    ),
    "a namespace name with a space by character reference": (
        alert(HEADER + info().replace("<info>", f'<info xmlns="{NS}&#x20;">', 1)),
        "",
        f"xmlns='{NS}&#x20;' in <info> holds whitespace",
    ),
    "leap second": (
        alert(BODY.replace("21:30:00+02:00</sent>", "23:59:60-00:00</sent>")),
        "sent",
        "has second 60, a leap second, which xs:dateTime (the type CAP-v1.2.xsd restricts) does "
        "not support: its seconds are 00 to 59; write the second before it (:59) or after it "
        "(:00 of the next minute) (got '2026-05-04T23:59:60-00:00')",
    ),
    "comma and space between lat and lon": (
        alert(HEADER + info().replace(SQUARE, SQUARE.replace(",", ", "))),
        "info[0]/area[0]/polygon[0]",
        "point 0 '55.59,' is not 'lat,lon' in decimal degrees",
    ),
    "circle radius with its unit": (
        alert(
            HEADER + info(area="<area><areaDesc>M</areaDesc><circle>55.59,13.0 2km</circle></area>")
        ),
        "info[0]/area[0]/circle[0]",
        "must be 'lat,lon radius' with the radius in kilometres (got '55.59,13.0 2km')",
    ),
    "references joined by semicolons": (
        alert(
            BODY.replace(
                "<msgType>Alert</msgType><scope>Public</scope>",
                "<msgType>Cancel</msgType><scope>Public</scope><references>"
                "a@b.se,A-1,2026-05-04T21:00:00+02:00;a@b.se,A-2,"
                "2026-05-04T21:10:00+02:00</references>",
            )
        ),
        "references",
        "item 0 must be sender,identifier,sent",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_upstream_document_names_path_and_rule(name: str) -> None:
    """Refused with InvalidCAP at the path, naming what was found and the rule, nothing else."""
    data, path, message = REFUSED[name]
    with pytest.raises(InvalidCAP) as info_:
        cap.read(data)
    problems = info_.value.problems
    assert [p.path for p in problems] == [path]
    assert message in problems[0].message


def test_children_without_the_roots_prefix_are_one_problem_each_saying_why() -> None:
    """``<cap:alert xmlns:cap=...><identifier>``: no 'unknown' plus 'missing' pair per element."""
    data = alert(HEADER + info(), root=f'xmlns:cap="{NS}"', tag="cap:alert")
    with pytest.raises(InvalidCAP) as err:
        cap.read(data)
    problems = err.value.problems
    names = ["identifier", "sender", "sent", "status", "msgType", "scope", "info"]
    assert [p.path for p in problems] == names
    for problem, name in zip(problems, names, strict=True):
        assert problem.message == (
            f"<{name}> is in no namespace, not in the CAP namespace of the alert: an element "
            "without a prefix takes the default namespace, and there is none here (a prefix on "
            "<alert> does not carry over to its children): write it with the alert's prefix, or "
            f'declare xmlns="{NS}"'
        )


def test_an_info_copied_from_cap_1_1_into_a_cap_1_2_alert_is_named_as_such() -> None:
    """A CAP 1.1 <info> inside a CAP 1.2 alert: one problem at info, naming both namespaces."""
    cap11 = "urn:oasis:names:tc:emergency:cap:1.1"
    data = alert(HEADER + info().replace("<info>", f'<info xmlns="{cap11}">', 1))
    with pytest.raises(InvalidCAP) as err:
        cap.read(data)
    assert [(p.path, p.message) for p in err.value.problems] == [
        (
            "info",
            f"<info> is in namespace {cap11}, not in the CAP namespace of the alert: write it in "
            f"the alert's namespace {NS}",
        )
    ]


# --- text decoded with the wrong encoding -----------------------------------------------------------


def test_utf8_bytes_declared_iso_8859_1_are_read_with_a_warning_at_the_first_garbled_text() -> None:
    """A UTF-8 document declaring ISO-8859-1 reads 'MalmÃ¶': valid XML, but the warning says so."""
    data = alert(
        HEADER + info(event="Explosion i Malmö"), head='<?xml version="1.0" encoding="ISO-8859-1"?>'
    ).encode("utf-8")
    parsed = cap.read(data)
    assert parsed.alert.infos[0].event == "Explosion i MalmÃ¶"  # what the declaration says
    assert [w.path for w in parsed.warnings] == ["info[0]/event"]
    message = parsed.warnings[0].message
    assert message.startswith(
        "reads 'Explosion i MalmÃ¶', which is 'Explosion i Malmö' written in UTF-8 and decoded "
        "as ISO-8859-1 or windows-1252: the document's bytes are probably UTF-8"
    )
    assert message.endswith("(1 more element read so)")  # the areaDesc 'MÃ¶llevÃ¥ngen'


def test_windows_1252_bytes_declared_iso_8859_1_warn_of_the_c1_control() -> None:
    """'€' and '–' saved by Windows but declared ISO-8859-1 read as C1 controls: a warning."""
    data = alert(
        HEADER + info(event="Böter 500 € – explosion"),
        head='<?xml version="1.0" encoding="ISO-8859-1"?>',
    ).encode("cp1252")
    parsed = cap.read(data)
    assert parsed.alert.infos[0].event == "Böter 500 \x80 \x96 explosion"
    assert [w.path for w in parsed.warnings] == ["info[0]/event"]
    assert "holds the C1 control character U+0080" in parsed.warnings[0].message
    assert "U+0080 is '€' in windows-1252" in parsed.warnings[0].message


@pytest.mark.parametrize(
    "data",
    [
        alert(HEADER + info(event="Explosion vid Möllevångstorget – “Mollan” © ½ انفجار 爆炸")),
        alert(
            HEADER + info(event="Malmö Åre Ödeshög ü é ß ± ©"),
            head='<?xml version="1.0" encoding="ISO-8859-1"?>',
        ).encode("latin-1"),
    ],
)
def test_text_in_its_own_encoding_brings_no_encoding_warning(data: str | bytes) -> None:
    """Swedish, Arabic, Chinese and typographic text read right is not called garbled."""
    assert cap.read(data).warnings == ()


# --- on through the Targeter --------------------------------------------------------------------

AT = dt.datetime(2026, 5, 4, 19, 45, tzinfo=dt.timezone.utc)
MOLLAN = (13.0094, 55.5911)


@pytest.fixture(scope="module")
def targeter() -> Any:
    from geotarget import sweden

    def make() -> Targeter:
        issuers = Issuers(
            [Issuer(name="sos", senders=["larm@sosalarm.se"], kinds=["explosion"], regions=["SE"])]
        )
        return Targeter(
            sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION, issuers=issuers
        )

    return make


def devices() -> PositionIndex:
    lon, lat = MOLLAN
    return PositionIndex(
        Positions(
            ["at-mollan", "far"],
            [lon, lon - 0.05],
            [lat, lat - 0.05],
            accuracy_m=[10.0, 10.0],
            observed_at=AT,
        )
    )


CIRCLE = "<area><areaDesc>Mollan</areaDesc><circle>55.5911,13.0094 1.0</circle></area>"


@pytest.mark.parametrize(
    "name",
    [
        "cap: prefix everywhere",
        "comments and processing instructions everywhere",
        "UTF-16 LE with a byte-order mark",
        "UTF-16 BE with a byte-order mark",
        "windows-1252 declared, CRLF",
        "pretty-printed times and coordinates",
    ],
)
def test_upstream_forms_reach_the_device_inside(targeter: Any, name: str) -> None:
    """However the producer wrote it, the Explosion reaches the device inside, not the other."""
    data = ACCEPTED[name]
    raw = data if isinstance(data, bytes) else data.encode()
    result = targeter().receive(raw, devices(), AT)
    assert result.verdict is Verdict.DELIVER, result.reason
    assert result.recipients.tolist() == ["at-mollan"]


def test_geocode_only_area_reaches_nobody_and_says_so(targeter: Any) -> None:
    """A kommunkod-only area is no silent "nobody": NO_AREA, and the warning names the area."""
    area = (
        "<area><areaDesc>Malmö kommun</areaDesc><geocode><valueName>kommunkod</valueName>"
        "<value>1280</value></geocode></area>"
    )
    result = targeter().receive(alert(HEADER + info(area=area)).encode(), devices(), AT)
    assert result.verdict is Verdict.NO_AREA
    assert result.recipients.size == 0
    assert [w.path for w in result.warnings] == ["info[0]/area[0]"]
    assert "its geocodes are not resolved to a place" in result.warnings[0].message


def test_garbled_text_warning_reaches_the_targeting_result(targeter: Any) -> None:
    """The encoding warning travels with the result, so an operator sees the garbled text."""
    data = alert(
        HEADER + info(area=CIRCLE), head='<?xml version="1.0" encoding="ISO-8859-1"?>'
    ).encode("utf-8")
    data = data.replace(b">Mollan<", ">Möllevångstorget<".encode())
    result = targeter().receive(data, devices(), AT)
    assert result.verdict is Verdict.DELIVER, result.reason
    assert [w.path for w in result.warnings] == ["info[0]/area[0]/areaDesc"]
    assert "'Möllevångstorget' written in UTF-8" in result.warnings[0].message
