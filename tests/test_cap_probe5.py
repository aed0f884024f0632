"""CAP documents as real producers send them that no other test writes.

Containers (EDXL-DE, SMHI's and IPAWS's ``<alerts>`` collections, Atom, RSS, SOAP), producers'
own conventions (MeteoAlarm, DWD, NWS/IPAWS, CAP-AU), and the hostile versions of them.
Oracles are plain Python: ``xml.etree`` reading the same document.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from geotarget import cap
from geotarget.errors import GeotargetError, InvalidCAP

NS = "urn:oasis:names:tc:emergency:cap:1.2"
NS11 = "urn:oasis:names:tc:emergency:cap:1.1"


def _alert(identifier: str, *, prefix: str = "", ns: str | None = NS, lon: float = 18.06) -> str:
    """A small valid CAP alert, its elements written with ``prefix`` (``"cap:"``).

    ``ns``: the namespace it declares itself (None: it relies on its container's declaration).
    """
    p = prefix
    declared = "" if ns is None else f' xmlns{":" + p[:-1] if p else ""}="{ns}"'
    return (
        f"<{p}alert{declared}>"
        f"<{p}identifier>{identifier}</{p}identifier><{p}sender>s@example.org</{p}sender>"
        f"<{p}sent>2026-05-04T19:30:00-00:00</{p}sent><{p}status>Actual</{p}status>"
        f"<{p}msgType>Alert</{p}msgType><{p}scope>Public</{p}scope>"
        f"<{p}info><{p}category>Safety</{p}category><{p}event>Fire</{p}event>"
        f"<{p}urgency>Immediate</{p}urgency><{p}severity>Severe</{p}severity>"
        f"<{p}certainty>Likely</{p}certainty>"
        f"<{p}area><{p}areaDesc>A</{p}areaDesc><{p}circle>59.33,{lon} 1</{p}circle></{p}area>"
        f"</{p}info></{p}alert>"
    )


def _refused(data: str | bytes, *, lenient: bool = False) -> str:
    """The single problem of a refused document (its path must be the document's, ``""``)."""
    with pytest.raises(InvalidCAP) as info:
        cap.read(data, lenient=lenient)
    (problem,) = info.value.problems
    assert problem.path == ""
    return problem.message


# ---------------------------------------------------------------------------------------------
# Alerts inside another format: the refusal says where they are, or that a feed holds none
# ---------------------------------------------------------------------------------------------

_EDXL = (  # NSW Rural Fire Service's shape: prefixed EDXL-DE, one prefixed CAP alert per object
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<?xml-stylesheet href="lib/edxl.xsl" type="text/xsl"?>\n'
    '<edxlde:EDXLDistribution xmlns:edxlde="urn:oasis:names:tc:emergency:EDXL:DE:1.0">'
    "<edxlde:distributionID>RFS:2026-05-04T19:30:00-00:00</edxlde:distributionID>"
    "<edxlde:senderID>webmaster@example.org</edxlde:senderID>"
    "<edxlde:dateTimeSent>2026-05-04T19:30:00-00:00</edxlde:dateTimeSent>"
    "<edxlde:distributionStatus>Actual</edxlde:distributionStatus>"
    "<edxlde:distributionType>Report</edxlde:distributionType>"
    "<edxlde:combinedConfidentiality>UNCLASSIFIED</edxlde:combinedConfidentiality>"
    + "".join(
        "<edxlde:contentObject><edxlde:contentDescription>x</edxlde:contentDescription>"
        "<edxlde:xmlContent><edxlde:embeddedXMLContent>"
        + _alert(f"RFS-{k}", prefix="cap:")
        + "</edxlde:embeddedXMLContent></edxlde:xmlContent></edxlde:contentObject>"
        for k in range(5)
    )
    + "</edxlde:EDXLDistribution>"
)
# SMHI's feed: a collection <alerts> in CAP 1.2's own namespace, the alerts relying on it.
_SMHI = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<alerts xmlns="{NS}">' + "".join(_alert(f"smhi-{k}", ns=None) for k in range(2)) + "</alerts>"
)
_IPAWS = (  # IPAWS-OPEN's feed: its own namespace, each alert declaring CAP's
    '<ns1:alerts xmlns:ns1="http://gov.fema.ipaws.services/feed">'
    + _alert("IPAWS-1")
    + "</ns1:alerts>"
)
_ATOM_ENTRY = (  # an Atom entry carrying the whole alert as its XML content, CAP 1.1
    '<entry xmlns="http://www.w3.org/2005/Atom" xmlns:cap="urn:oasis:names:tc:emergency:cap:1.1">'
    "<id>urn:x:1</id><title>Fire</title><updated>2026-05-04T19:30:00Z</updated>"
    '<content type="text/xml">' + _alert("ATOM-1", prefix="cap:", ns=None) + "</content></entry>"
)
_SOAP = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Header/><soapenv:Body>" + _alert("SOAP-1") + "</soapenv:Body></soapenv:Envelope>"
)


def _follow(root: ET.Element, path: str) -> ET.Element:
    """The element a message's path names, found by the oracle's own walk (local names)."""
    first, *steps = path.split("/")
    assert root.tag.rpartition("}")[2] == first
    node = root
    for step in steps:
        m = re.fullmatch(r"([^\[]+)(?:\[(\d+)\])?", step)
        assert m is not None
        same = [c for c in node if c.tag.rpartition("}")[2] == m.group(1)]
        assert (m.group(2) is None) == (len(same) == 1), f"index of {step} in {path}"
        node = same[int(m.group(2) or 0)]
    return node


@pytest.mark.parametrize(
    ("doc", "what", "version"),
    [
        (_EDXL, "an EDXL-DE 1.0 distribution", "1.2"),
        (_SMHI, "a root <alerts> element", "1.2"),
        (_IPAWS, "a root <alerts> element", "1.2"),
        (_ATOM_ENTRY, "an Atom entry", "1.1"),
        (_SOAP, "a SOAP 1.1 envelope", "1.2"),
    ],
)
def test_alerts_inside_a_container_are_named_with_where_they_are(
    doc: str, what: str, version: str
) -> None:
    """Not "this is not a CAP alert" alone: what the document is and where its alerts are.

    Oracle: ``xml.etree`` finds the CAP alerts, and follows the paths the message gives to
    each one (cut out, each reads as the alert it is).
    """
    root = ET.fromstring(doc.encode())
    alerts = [e for e in root.iter() if e.tag in (f"{{{NS}}}alert", f"{{{NS11}}}alert")]
    message = _refused(doc)
    assert f"this is not a CAP 1.2 alert, but {what} holding " in message
    if len(alerts) == 1:
        assert f"holding a CAP {version} <alert>, at " in message
    else:
        assert f"holding {len(alerts)} CAP {version} <alert> elements, at " in message
    placed = re.search(r", at (.*?)(?: \(and (\d+) more\))?: geotarget reads", message)
    assert placed is not None
    paths = placed.group(1).split(", ")
    assert len(paths) == min(len(alerts), 3)
    assert int(placed.group(2) or 0) == len(alerts) - len(paths)
    for path, want in zip(paths, alerts, strict=False):
        assert _follow(root, path) is want
        alone = ET.tostring(want, encoding="unicode")  # etree declares the namespace it uses
        assert cap.read(alone, lenient=version == "1.1").alert.identifier == want.findtext(
            want.tag.replace("alert", "identifier")
        )
    assert "take each <alert> out of its container" in message
    assert ("loads_lenient" in message) == (version == "1.1")
    assert message == _refused(doc, lenient=True)  # lenient reading does not unwrap either


_ATOM_FEED = (  # MeteoAlarm's and the NWS's Atom feeds: entries summarise and link
    '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">'
    "<id>urn:feed</id><title>Warnings</title><updated>2026-05-04T19:30:00Z</updated>"
    '<entry><id>urn:x:1</id><title>Fire</title><link href="https://example.org/1.xml"/>'
    "<cap:event>Fire</cap:event><cap:areaDesc>A</cap:areaDesc>"
    "<cap:geocode><valueName>EMMA_ID</valueName><value>SE011</value></cap:geocode></entry></feed>"
)
_RSS = (  # the WMO alert hub's RSS feed: items summarise with cap: fields and link
    '<rss xmlns:cap="urn:oasis:names:tc:emergency:cap:1.1" version="2.0"><channel><title>t'
    "</title><item><title>Wind</title><link>https://example.org/1.xml</link>"
    "<cap:event>Wind</cap:event></item></channel></rss>"
)


@pytest.mark.parametrize(("doc", "what", "item"), [(_ATOM_FEED, "an Atom feed", "<entry>"),
                                                   (_RSS, "an RSS feed", "<item>")])  # fmt: skip
def test_a_feed_of_links_is_named_as_such(doc: str, what: str, item: str) -> None:
    """A feed lists alerts (their ``cap:`` summary fields are no alert): fetch each link."""
    root = ET.fromstring(doc)
    assert not [e for e in root.iter() if e.tag.endswith("}alert")]  # the oracle: none inside
    message = _refused(doc)
    assert f"this is not a CAP 1.2 alert: it is {what}, which holds no CAP <alert>" in message
    assert f"fetch the CAP document each {item}'s <link> names" in message


def test_an_edxl_distribution_without_xml_content_says_what_it_may_carry() -> None:
    doc = (
        '<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:2.0">'
        "<distributionID>d</distributionID><content><contentObject><nonXMLContent>"
        "<mimeType>application/cap+xml</mimeType><contentData>PGFsZXJ0Lz4=</contentData>"
        "</nonXMLContent></contentObject></content></EDXLDistribution>"
    )
    message = _refused(doc)
    assert "an EDXL-DE 2.0 distribution holding no CAP <alert> as XML" in message
    assert "base64 <contentData>" in message


@pytest.mark.parametrize("root", ["<html><body/></html>", "<info xmlns='x'/>", "<alerts/>"])
def test_another_root_without_alerts_keeps_the_plain_refusal(root: str) -> None:
    message = _refused(root)
    assert message.endswith("this is not a CAP 1.2 alert")


def test_a_container_of_many_alerts_is_searched_within_the_element_limit() -> None:
    """The search visits each element once: a collection at the element limit names them all."""
    n = 4_000  # 4,000 alerts of 17 elements: 68,001 elements, under MAX_ELEMENTS
    doc = f'<alerts xmlns="{NS}">' + "".join(_alert(f"A-{k}", ns=None) for k in range(n))
    message = _refused(doc + "</alerts>")
    assert f"holding {n:,} CAP 1.2 <alert> elements, at alerts/alert[0], alerts/alert[1], " in (
        message
    )
    assert f"(and {n - 3:,} more)" in message


# ---------------------------------------------------------------------------------------------
# Signed documents in the encodings producers declare
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> tuple[Any, bytes]:
    """An RSA key and its self-signed certificate (PEM), made here with ``cryptography``."""
    pytest.importorskip("signxml", reason="the 'signing' extra (signxml) is not installed")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "larm.example.se")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert.public_bytes(Encoding.PEM)


def _signed_text(signer: tuple[Any, bytes]) -> str:
    """A signed alert with non-ASCII text, as text (its declaration left to the caller)."""
    import signxml
    from lxml import etree

    key, cert = signer
    doc = _alert("SIGNED-1")
    doc = doc.replace("<scope>Public</scope>", "<scope>Public</scope><note>Möllevången</note>")
    signer_ = signxml.XMLSigner(method=signxml.methods.enveloped)  # type: ignore[attr-defined]
    root = signer_.sign(etree.fromstring(doc.encode()), key=key, cert=cert.decode())
    return str(etree.tostring(root, encoding="unicode"))


@pytest.mark.parametrize(
    ("declared", "codec"),
    [
        ("latin-1", "latin-1"),  # what Python's ElementTree and minidom write for latin-1
        ("utf_8", "utf-8"),  # ... and for utf_8
        ("latin9", "iso8859-15"),
        ("mac-roman", "mac-roman"),
        ("cp437", "cp437"),
        ("ISO-8859-1", "latin-1"),
        ("UTF-16", "utf-16"),
        ("windows-1252", "cp1252"),
    ],
)
def test_a_signed_document_verifies_in_any_encoding_the_reader_reads(
    signer: tuple[Any, bytes], declared: str, codec: str
) -> None:
    """The signature covers the canonical form, whatever encoding the document declares.

    libxml2 (under signxml) does not know some names the reader accepts (``latin-1``,
    ``utf_8``: what Python's own serialisers write), and refused them as a "malformed"
    signature. Oracle: the same signed text sent as UTF-8 verifies, and reads the same alert.
    """
    _, cert = signer
    text = _signed_text(signer)
    head = f'<?xml version="1.0" encoding="{declared}"?>\n'
    data = (head + text).encode(codec)
    assert cap.read(data).alert.note == "Möllevången"  # the reader reads it
    reference = cap.verify_signature(
        ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode(), cert
    )
    assert cap.verify_signature(data, cert) == reference


@pytest.mark.parametrize("declared", ["latin-1", "utf_8"])
def test_a_changed_signed_document_in_such_an_encoding_is_named_as_changed(
    signer: tuple[Any, bytes], declared: str
) -> None:
    from geotarget.errors import InvalidSignature

    _, cert = signer
    text = _signed_text(signer).replace("Möllevången</note>", "Möllevangen</note>")
    data = (f"<?xml version='1.0' encoding='{declared}'?>\n" + text).encode(declared)
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(data, cert)


# ---------------------------------------------------------------------------------------------
# Hostile sizes: refused by their length, before any copy, decoding or repair
# ---------------------------------------------------------------------------------------------

_HUGE = 16 * 2**20  # four times the limit


@pytest.mark.parametrize(
    "make",
    [
        lambda: "<alert>" + "x" * _HUGE + "</alert>",
        lambda: " " * _HUGE + '<?xml version="1.0"?><alert/>',  # lenient strips such spaces
        lambda: bytearray(b"<alert>" + b"x" * _HUGE + b"</alert>"),
        lambda: memoryview(b"<alert>" + b"x" * _HUGE + b"</alert>"),
    ],
    ids=["str", "str-spaces", "bytearray", "memoryview"],
)
@pytest.mark.parametrize("how", ["read", "lenient", "verify"])
def test_a_huge_document_is_refused_without_copying_it(make: Any, how: str) -> None:
    """A ``str`` was encoded (and a bytes-like copied, or repaired) before its size was seen.

    Oracle: ``tracemalloc`` sees no allocation near the document's size while refusing it.
    """
    import tracemalloc

    data = make()
    if how == "verify" and isinstance(data, str):
        data = data.encode()  # (verify_signature takes bytes only)

    def refuse() -> None:
        if how == "verify":
            cap.verify_signature(data, b"")
        else:
            cap.read(data, lenient=how == "lenient")

    # The first refusal imports what it needs (the signing module's dependencies: a megabyte
    # and more of allocations): once with a small document first, so only the refusal counts.
    with contextlib.suppress(GeotargetError):
        if how == "verify":
            cap.verify_signature(b"<alert/>", b"")
        else:
            cap.read("<alert/>", lenient=how == "lenient")
    tracemalloc.start()
    try:
        with pytest.raises(InvalidCAP, match=r"document must be at most 4,194,304 bytes \(got"):
            refuse()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


# ---------------------------------------------------------------------------------------------
# The block a device reads: the language tags phones report against those producers write
# ---------------------------------------------------------------------------------------------


def _met_norway(languages: tuple[str, ...]) -> str:
    """A MET Norway-style alert: one info block per language (MET writes ``no`` and ``en-GB``)."""
    blocks = "".join(
        f"<info><language>{lang}</language><category>Met</category><event>wind</event>"
        "<responseType>Monitor</responseType><urgency>Future</urgency>"
        "<severity>Moderate</severity><certainty>Likely</certainty>"
        f"<headline>{lang}</headline><area><areaDesc>Vestland</areaDesc>"
        "<polygon>60.0,5.0 60.0,6.0 61.0,6.0 61.0,5.0 60.0,5.0</polygon></area></info>"
        for lang in languages
    )
    return (
        f'<alert xmlns="{NS}"><identifier>2.49.0.1.578.0.20260504.1</identifier>'
        "<sender>noreply@met.no</sender><sent>2026-05-04T12:00:00+02:00</sent>"
        "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
        f"{blocks}</alert>"
    )


#: The oracle's own table (IANA language subtag registry's Preferred-Value for deprecated
#: primary subtags; CLDR's alias of Tagalog to Filipino).
_LANGUAGE_OF = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "tl": "fil"}


@pytest.mark.parametrize(
    ("languages", "phone", "want"),
    [
        (("no", "en-GB"), "nb-NO", "no"),  # MET Norway, a Bokmål phone
        (("en-GB", "no"), "nn_NO", "no"),  # a Nynorsk phone, as Java writes its locale
        (("en-GB", "nb-NO", "nn-NO"), "nn-NO", "nn-NO"),  # its own language first
        (("en-GB", "nb-NO", "nn-NO"), "no", "nb-NO"),
        (("en-GB", "he-IL"), "iw_IL", "he-IL"),  # Israel's IMS; Android reports iw for Hebrew
        (("en-GB", "he-IL"), "iw", "he-IL"),
        (("en", "id-ID"), "in-ID", "id-ID"),  # ... and in for Indonesian
        (("en-GB", "ro-MD"), "mo", "ro-MD"),
        (("en-PH", "tl-PH"), "fil-PH", "tl-PH"),  # an older Android phone, or the sender, says tl
        (("en-PH", "fil-PH"), "tl_PH", "fil-PH"),
        (("sv-SE", "en-GB"), "nb-NO", "en-GB"),  # Swedish is not Norwegian
        (("de-DE", "fr-FR"), "nb-NO", "de-DE"),  # no match, no English: the first block
    ],
)
def test_a_phones_language_tag_reads_the_block_of_its_language(
    languages: tuple[str, ...], phone: str, want: str
) -> None:
    """The block in the phone's language, under the codes phones and producers write.

    Norwegian phones (``nb-NO``) got English from MET Norway's ``no`` block, and Hebrew
    phones (``iw``) English from IMS's ``he-IL``. Oracle: the documented rule by hand.
    """
    alert = cap.read(_met_norway(languages)).alert

    def same(tag: str) -> str:
        head, dash, rest = tag.lower().replace("_", "-").partition("-")
        return _LANGUAGE_OF.get(head, head) + dash + rest

    def primary(tag: str) -> str:
        head = same(tag).split("-")[0]
        return {"nb": "no", "nn": "no"}.get(head, head)

    def oracle(tag: str) -> str:
        exact = [t for t in languages if same(t) == same(tag)]
        close = [t for t in languages if primary(t) == primary(tag)]
        english = [t for t in languages if primary(t) == "en"]
        return (exact or close or english or list(languages))[0]

    assert oracle(phone) == want
    got = alert.info_for(phone)
    assert got is not None and got.language == want
    indices = alert.info_indices([phone, "en-GB"], [5.5, 5.5], [60.5, 60.5])
    assert [alert.infos[k].language for k in indices] == [want, oracle("en-GB")]


# ---------------------------------------------------------------------------------------------
# DWD: the part of a polygonal warning that is not warned, written as a geocode
# ---------------------------------------------------------------------------------------------

_OUTER = "54.2,10.7 54.2,11.1 54.4,11.1 54.4,10.7 54.2,10.7"
_HOLE = "54.28,10.85 54.28,10.95 54.33,10.95 54.33,10.85 54.28,10.85"


def _dwd(excluded: str, *, order: str = "dwd") -> str:
    """A DWD-style polygonal warning with an ``EXCLUDE_POLYGON`` geocode.

    ``order``: "dwd" writes the geocode after the ceiling, as DWD's documents do (out of
    CAP's schema order), "cap" before the altitude.
    """
    geocode = f"<geocode><valueName>EXCLUDE_POLYGON</valueName><value>{excluded}</value></geocode>"
    heights = "<altitude>0.0</altitude><ceiling>9842.5197</ceiling>"
    tail = heights + geocode if order == "dwd" else geocode + heights
    return (
        f'<alert xmlns="{NS}"><identifier>2.49.0.0.276.0.DWD.PVW.1787728620000.x.ENG'
        "</identifier><sender>opendata@dwd.de</sender><sent>2026-08-26T09:17:00+02:00</sent>"
        "<status>Actual</status><msgType>Alert</msgType><source>PVW</source>"
        "<scope>Public</scope><info><language>en-GB</language><category>Met</category>"
        "<event>thunderstorms</event><responseType>Prepare</responseType>"
        "<urgency>Immediate</urgency><severity>Moderate</severity><certainty>Likely</certainty>"
        "<eventCode><valueName>II</valueName><value>31</value></eventCode>"
        "<eventCode><valueName>AREA_COLOR</valueName><value>255 235 59</value></eventCode>"
        "<parameter><valueName>gusts</valueName><value>[65-85] [km/h]</value></parameter>"
        "<area><areaDesc>polygonal event area</areaDesc>"
        f"<polygon>{_OUTER}</polygon>{tail}</area></info></alert>"
    )


@pytest.mark.parametrize("order", ["dwd", "cap"])
def test_dwds_excluded_polygon_is_a_warning_not_a_silent_hole(order: str) -> None:
    """A device in DWD's EXCLUDE_POLYGON is told (CAP has no holes): never silently.

    Oracle: shapely on the rings as ``xml.etree`` reads them: a point inside the excluded
    ring is inside the warned polygon, and the alert's area covers it.
    """
    import shapely

    doc = _dwd(_HOLE, order=order)
    root = ET.fromstring(doc)

    def ring(text: str) -> shapely.Polygon:
        pairs = [tuple(map(float, p.split(","))) for p in text.split()]
        return shapely.Polygon([(lon, lat) for lat, lon in pairs])

    outer = ring(root.findtext(f".//{{{NS}}}polygon") or "")
    hole = ring(root.findtext(f".//{{{NS}}}geocode/{{{NS}}}value") or "")
    point = hole.representative_point()
    assert outer.contains(point)
    if order == "dwd":
        with pytest.raises(InvalidCAP, match="schema order"):
            cap.read(doc)
    parsed = cap.read(doc, lenient=order == "dwd")
    area = parsed.alert.area
    assert area is not None and bool(area.contains([point.x], [point.y])[0])
    (warning,) = [w for w in parsed.warnings if "EXCLUDE_POLYGON" in w.message]
    assert warning.path == "info[0]/area[0]/geocode[0]"
    assert "devices inside the excluded part are told too" in warning.message


def test_other_geocodes_bring_no_such_warning() -> None:
    doc = _dwd(_HOLE, order="cap").replace("EXCLUDE_POLYGON", "WARNCELLID")
    assert not [w for w in cap.read(doc).warnings if "subtract" in w.message]


# ---------------------------------------------------------------------------------------------
# Japan: positions written in degrees and minutes (JMA's DDMM.m) are named as such
# ---------------------------------------------------------------------------------------------


def _pagasa(area: str) -> str:
    """A PAGASA-style alert (sender without '@', status Test, Google's region parameter)."""
    return (
        f'<?xml version="1.0"?>\n<alert xmlns="{NS}"><identifier>103ff55e-b538-49a2</identifier>'
        "<sender>PAGASA-DOST</sender><sent>2014-11-03T14:57:33+08:00</sent><status>Test"
        "</status><msgType>Alert</msgType><scope>Public</scope><info><category>Met</category>"
        "<event>Tropical Cyclone Alert</event><responseType>Prepare</responseType>"
        "<urgency>Expected</urgency><severity>Minor</severity><certainty>Possible</certainty>"
        "<expires>2014-11-04T03:57:28+08:00</expires><parameter><valueName>"
        "layer:Google:Region:0.1</valueName><value>Philippine Area of Responsibility</value>"
        f"</parameter><area><areaDesc>PAR</areaDesc>{area}</area></info></alert>"
    )


@pytest.mark.parametrize(
    ("area", "point"),
    [
        ("<circle>3237.5,13040.7 10</circle>", "3237.5,13040.7"),
        ("<polygon>3237.5,13040.7 3237.5,13050.7 3247.5,13050.7 3237.5,13040.7</polygon>",
         "3237.5,13040.7"),
        ("<circle>-3352.25,-7040.5 1</circle>", "-3352.25,-7040.5"),
        ("<circle>5933.5,1806 1</circle>", "5933.5,1806"),
        ("<circle>9000,18000 1</circle>", "9000,18000"),
    ],
)  # fmt: skip
def test_a_point_in_degrees_and_minutes_is_named_with_its_decimal_degrees(
    area: str, point: str
) -> None:
    """Oracle: the decimal degrees computed by hand, degrees + minutes / 60."""
    with pytest.raises(InvalidCAP) as info:
        cap.read(_pagasa(area))
    (problem,) = info.value.problems
    assert problem.path == "info[0]/area[0]/" + ("circle[0]" if "circle" in area else "polygon[0]")
    decimal = []
    for text in point.split(","):
        value = abs(float(text))
        degrees = int(value // 100)
        number = round(degrees + (value - 100 * degrees) / 60, 6)
        decimal.append(
            ("-" if text.startswith("-") else "") + f"{number:.6f}".rstrip("0").rstrip(".")
        )
    assert f"{point} reads as degrees and minutes (DDMM.m" in problem.message
    assert f"here {','.join(decimal)} (CAP 1.2 §3.3.1)" in problem.message


@pytest.mark.parametrize("circle", ["95,18 1", "59.33,1806.5 1", "3275.5,13040 1", "45,18100 1"])
def test_a_point_out_of_range_that_is_no_degrees_and_minutes_has_no_such_hint(
    circle: str,
) -> None:
    with pytest.raises(InvalidCAP, match="is out of range") as info:
        cap.read(_pagasa(f"<circle>{circle}</circle>"))
    assert "degrees and minutes" not in str(info.value)


def test_the_pagasa_alert_itself_reads_as_written() -> None:
    parsed = cap.read(
        _pagasa("<polygon>21,120 21,130 5,130 5,121.5 9.5,113 15,113 21,120</polygon>")
    )
    assert parsed.alert.sender == "PAGASA-DOST" and parsed.alert.status.value == "Test"
    (area,) = parsed.alert.infos[0].areas
    assert area.polygons[0][:2] == ((120.0, 21.0), (130.0, 21.0))  # lon, lat


# ---------------------------------------------------------------------------------------------
# Date-times in other standards' forms: the refusal says what CAP's form needs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("2024-07-08 13:45:00-05:00", "a 'T' separates the date from the time"),  # SQL, WMO
        ("2024-07-08T13:45:00-0500", "written with a colon, as +01:00"),  # Java's Z, PHP's O
        ("2024-07-08T13:45:00+05", "in hours and minutes, as +01:00"),
        ("2024-07-08T13:45-05:00", "the seconds are required"),
        ("20240708T134500-0500", "ISO 8601's extended form"),
        ("Mon, 08 Jul 2024 13:45:00 -0500", "RFC 822's form"),  # RSS's pubDate
    ],
)
def test_a_date_time_in_another_form_says_what_caps_needs(written: str, said: str) -> None:
    """The refusal names what CAP's form needs of a date-time written in another's.

    Oracle: each is one instant in its own standard (``datetime.fromisoformat`` reads ISO
    8601's forms, ``email.utils`` RFC 822's), just not in CAP's form.
    """
    from email.utils import parsedate_to_datetime

    rfc822 = "," in written
    meant = parsedate_to_datetime(written) if rfc822 else datetime.fromisoformat(written)
    assert meant.utcoffset() is not None
    doc = _alert("T-1").replace("2026-05-04T19:30:00-00:00", written)
    with pytest.raises(InvalidCAP) as info:
        cap.read(doc)
    (problem,) = info.value.problems
    assert problem.path == "sent"
    assert f"(got {written!r}): " in problem.message and said in problem.message


_HINTS = ("separates the date", "with a colon", "hours and minutes", "seconds are", "RFC 822")


@pytest.mark.parametrize("written", ["08/07/2024 13:45", "yesterday", "2024-07-08T13:45:00"])
def test_a_date_time_of_no_known_form_has_no_such_hint(written: str) -> None:
    doc = _alert("T-1").replace("2026-05-04T19:30:00-00:00", written)
    with pytest.raises(InvalidCAP) as info:
        cap.read(doc)
    (problem,) = info.value.problems
    assert not any(hint in problem.message for hint in _HINTS)


@pytest.mark.parametrize("written", ["en_US", "sv_SE", "zh_Hant_TW"])
def test_a_language_written_as_a_java_locale_says_to_use_dashes(written: str) -> None:
    """Oracle: the same tag with '-' is read (the alert then says that language)."""
    doc = _met_norway(("no",))
    dashed = written.replace("_", "-")
    assert cap.read(doc.replace("<language>no<", f"<language>{dashed}<")).alert.languages == (
        dashed,
    )
    with pytest.raises(InvalidCAP) as info:
        cap.read(doc.replace("<language>no<", f"<language>{written}<"))
    (problem,) = info.value.problems
    assert problem.path == "info[0]/language"
    assert f"separates its subtags with '-' ({dashed!r})" in problem.message


@pytest.mark.parametrize("written", ["en.US", "en US", "e1"])
def test_a_language_tag_of_no_such_form_has_no_dash_hint(written: str) -> None:
    with pytest.raises(InvalidCAP) as info:
        cap.read(_met_norway(("no",)).replace("<language>no<", f"<language>{written}<"))
    assert "separates its subtags" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# Producers' styles read field by field as xml.etree reads them
# ---------------------------------------------------------------------------------------------


def _head(identifier: str, sender: str, sent: str, extra: str = "", scope: str = "Public") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="{NS}"><identifier>{identifier}'
        f"</identifier><sender>{sender}</sender><sent>{sent}</sent><status>Actual</status>"
        f"<msgType>{'Update' if 'references' in extra else 'Alert'}</msgType>"
        f"<scope>{scope}</scope>{extra}"
    )


def _block(language: str, area: str, extra: str = "") -> str:
    return (
        f"<info><language>{language}</language><category>Met</category><event>wind</event>"
        "<urgency>Future</urgency><severity>Moderate</severity><certainty>Likely</certainty>"
        f"{extra}<area>{area}</area></info>"
    )


_METEOALARM = (  # several languages, EMMA_ID geocodes only, awareness parameters
    _head("2.49.0.0.752.0.SE.240520.1", "meteoalarm@smhi.se", "2024-05-20T10:00:00+02:00")
    + "".join(
        _block(
            lang,
            "<areaDesc>Gotland</areaDesc><geocode><valueName>EMMA_ID</valueName>"
            "<value>SE009</value></geocode>",
            "<onset>2024-05-21T06:00:00+02:00</onset><expires>2024-05-21T18:00:00+02:00"
            "</expires><parameter><valueName>awareness_level</valueName><value>2; yellow; "
            "Moderate</value></parameter><parameter><valueName>awareness_type</valueName>"
            "<value>1; Wind</value></parameter>",
        )
        for lang in ("sv-SE", "en-GB", "fi-FI")
    )
    + "</alert>"
)
_NWS = (  # VTEC, SAME and UGC geocodes, a polygon area and a geocode-only one, -00:00
    _head(
        "urn:oid:2.49.0.1.840.0.4a1b.001.1",
        "w-nws.webmaster@noaa.gov",
        "2024-07-08T18:45:00-00:00",
        "<code>IPAWSv1.0</code><references>w-nws.webmaster@noaa.gov,urn:oid:2.49.0.1.840.0.aa"
        ".001.1,2024-07-08T13:20:00-05:00\nw-nws.webmaster@noaa.gov,urn:oid:2.49.0.1.840.0.bb"
        ".001.1,2024-07-08T18:30:00-00:00</references>",
    )
    + _block(
        "en-US",
        "<areaDesc>Harris, TX</areaDesc><polygon>29.81,-95.45 29.86,-95.30 29.72,-95.25 "
        "29.68,-95.39 29.81,-95.45</polygon><geocode><valueName>SAME</valueName><value>048201"
        "</value></geocode><geocode><valueName>UGC</valueName><value>TXC201</value></geocode>"
        "</area><area><areaDesc>Fort Bend, TX</areaDesc><geocode><valueName>SAME</valueName>"
        "<value>048157</value></geocode>",
        "<eventCode><valueName>SAME</valueName><value>TOR</value></eventCode>"
        "<expires>2024-07-08T14:15:00-05:00</expires><parameter><valueName>VTEC</valueName>"
        "<value>/O.CON.KHGX.TO.W.0045.000000T0000Z-240708T1915Z/</value></parameter>",
    )
    + "</alert>"
)
_CAP_AU = (  # NSW RFS: incidents, a radius-0 circle beside an ISO 3166-2 geocode
    _head(
        "2014-11-09T23:04:00-00:00:177062",
        "webmaster@rfs.nsw.gov.au",
        "2014-11-09T23:04:00-00:00",
        "<code>urn:oasis:names:tc:emergency:cap:1.2:profile:CAP-AU:1.0</code>"
        '<incidents>177062 "Barham Rd"</incidents>',
    )
    + _block(
        "en-AU",
        "<areaDesc>Barham Rd, Barham</areaDesc><circle>-35.5807,144.2342 0.0</circle><geocode>"
        "<valueName>urn:oasis:names:tc:emergency:cap:1.2:profile:CAP-AU:1.0:ISO3166-2"
        "</valueName><value>AU-NSW</value></geocode>",
    )
    + "</alert>"
)
_PRIVATE = (  # addresses for a Private alert, a restriction beside them
    _head(
        "SE-LST-7",
        "lst@lansstyrelsen.se",
        "2026-05-04T21:30:00+02:00",
        "<restriction>Kommunernas krisledning</restriction><addresses>krisledning@stockholm.se "
        '"Räddningstjänsten Storstockholm" 112</addresses>',
        scope="Private",
    )
    + _block("sv-SE", "<areaDesc>Stockholm</areaDesc><circle>59.3325,18.06528 2.5</circle>")
    + "</alert>"
)


def _etree_reading(doc: str) -> dict[str, Any]:
    """The oracle: the fields as plain ``xml.etree`` reads them (CAP's lat,lon, km)."""
    root = ET.fromstring(doc.encode())

    def text(node: ET.Element, name: str) -> str | None:
        found = node.find(f"{{{NS}}}{name}")
        return None if found is None else (found.text or "")

    def pairs(node: ET.Element, name: str) -> list[tuple[str | None, str | None]]:
        return [(text(e, "valueName"), text(e, "value")) for e in node.findall(f"{{{NS}}}{name}")]

    def when(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    refs = (text(root, "references") or "").split()
    return {
        "sent": when(text(root, "sent")),
        "scope": text(root, "scope"),
        "references": [(s, i, when(t)) for s, i, t in (r.split(",") for r in refs)],
        "incidents": re.findall(r'"([^"]*)"|(\S+)', text(root, "incidents") or ""),
        "addresses": re.findall(r'"([^"]*)"|(\S+)', text(root, "addresses") or ""),
        "infos": [
            {
                "language": text(info, "language"),
                "codes": pairs(info, "eventCode"),
                "parameters": pairs(info, "parameter"),
                "expires": when(text(info, "expires")),
                "areas": [
                    (
                        text(area, "areaDesc"),
                        [
                            tuple((float(p.split(",")[1]), float(p.split(",")[0]))
                                  for p in (e.text or "").split())
                            for e in area.findall(f"{{{NS}}}polygon")
                        ],
                        [
                            (float(c.split()[0].split(",")[1]), float(c.split()[0].split(",")[0]),
                             float(c.split()[1]) * 1000)
                            for c in (e.text or "" for e in area.findall(f"{{{NS}}}circle"))
                        ],
                        pairs(area, "geocode"),
                    )
                    for area in info.findall(f"{{{NS}}}area")
                ],
            }
            for info in root.findall(f"{{{NS}}}info")
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("doc", "warned"),
    [
        (_METEOALARM, ["info[0]/area[0]", "info[1]/area[0]", "info[2]/area[0]"]),
        (_NWS, ["info[0]/area[1]"]),
        (_CAP_AU, ["info[0]/area[0]/circle[0]", "info[0]/area[0]"]),
        (_PRIVATE, []),
    ],
    ids=["meteoalarm", "nws", "cap-au", "private"],
)
def test_producers_documents_read_as_xml_etree_reads_them(doc: str, warned: list[str]) -> None:
    """Every field the oracle reads is the alert's; areas without geometry are warned of."""
    want = _etree_reading(doc)
    parsed = cap.read(doc)
    alert = parsed.alert
    assert alert.sent == want["sent"] and alert.scope.value == want["scope"]
    assert [(r.sender, r.identifier, r.sent) for r in alert.references] == want["references"]
    assert list(alert.incidents) == [a or b for a, b in want["incidents"]]
    assert list(alert.addresses) == [a or b for a, b in want["addresses"]]
    assert len(alert.infos) == len(want["infos"])
    for info, oracle in zip(alert.infos, want["infos"], strict=True):
        assert info.language == oracle["language"] and info.expires == oracle["expires"]
        assert [(c.value_name, c.value) for c in info.event_codes] == oracle["codes"]
        assert [(p.value_name, p.value) for p in info.parameters] == oracle["parameters"]
        got = [
            (a.description, list(a.polygons), list(a.circles),
             [(g.value_name, g.value) for g in a.geocodes])
            for a in info.areas
        ]  # fmt: skip
        assert got == oracle["areas"]
    assert [w.path for w in parsed.warnings] == warned


# ---------------------------------------------------------------------------------------------
# UTF-16 and UTF-32 documents with whitespace before the declaration: as UTF-8 ones are
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("utf-16", "UTF-16"),  # with a byte-order mark, as Windows saves "Unicode"
        ("utf-16-le", "UTF-16"),  # without one, told by the units (XML 1.0 Appendix F)
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
        ("utf-8-sig", "UTF-8"),
    ],
)
def test_whitespace_before_the_declaration_in_any_unicode_encoding_is_repaired_leniently(
    codec: str, declared: str
) -> None:
    """The strict refusal says loads_lenient repairs it, and it does, in any Unicode encoding.

    Oracle: the same document without the whitespace, in the same codec.
    """
    text = _METEOALARM.replace('encoding="UTF-8"', f'encoding="{declared}"')
    want = cap.read(text.encode(codec)).alert
    data = ("\r\n \t" + text).encode(codec)
    with pytest.raises(InvalidCAP, match=r"4 whitespace character\(s\) come before the XML "):
        cap.read(data)
    parsed = cap.read(data, lenient=True)
    assert parsed.alert == want
    assert [r.message[:36] for r in parsed.repairs] == ["4 whitespace character(s) came befor"]


# ---------------------------------------------------------------------------------------------
# IPAWS: a resource carried inline as base64, with its digest
# ---------------------------------------------------------------------------------------------

_AUDIO = bytes(range(256)) * 40  # 10,240 bytes standing in for an MP3


def _ipaws(deref_uri: str, digest: str | None) -> str:
    """An IPAWS-style alert with an inline audio resource."""
    digest_element = "" if digest is None else f"<digest>{digest}</digest>"
    return (
        _head("IPAWS-EAS-1", "cap@example.gov", "2020-03-27T14:30:00-04:00")
        + "<info><category>Safety</category><event>Civil Emergency Message</event>"
        "<urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty>"
        "<resource><resourceDesc>EAS Broadcast Content</resourceDesc>"
        f"<mimeType>audio/x-ipaws-audio-mp3</mimeType><size>{len(_AUDIO)}</size>"
        f"<derefUri>{deref_uri}</derefUri>{digest_element}</resource>"
        "<area><areaDesc>Harris, TX</areaDesc><circle>29.76,-95.36 10</circle></area>"
        "</info></alert>"
    )


def _mime(data: bytes) -> str:
    """Base64 as MIME writes it: lines of 76 characters (the oracle: the standard library)."""
    return base64.encodebytes(data).decode("ascii")


@pytest.mark.parametrize(
    "digest",
    [
        None,
        hashlib.sha1(_AUDIO).hexdigest(),
        hashlib.sha1(_AUDIO).hexdigest().upper(),
        base64.b64encode(hashlib.sha1(_AUDIO).digest()).decode(),
        hashlib.sha256(_AUDIO).hexdigest(),
    ],
    ids=["none", "sha1-hex", "sha1-HEX", "sha1-base64", "sha256-hex"],
)
def test_an_inline_resource_and_its_digest_read_without_a_word(digest: str | None) -> None:
    """The content kept as written (line breaks included); it decodes to the file."""
    parsed = cap.read(_ipaws(_mime(_AUDIO), digest))
    (resource,) = parsed.alert.infos[0].resources
    assert resource.deref_uri == _mime(_AUDIO)
    assert base64.b64decode(resource.deref_uri or "") == _AUDIO
    assert parsed.warnings == ()


def test_a_digest_that_does_not_match_the_inline_content_is_a_warning() -> None:
    """Oracle: hashlib's SHA-1 of the decoded content, which the warning names."""
    changed = _AUDIO[:-1] + b"\x00"
    parsed = cap.read(_ipaws(_mime(changed), hashlib.sha1(_AUDIO).hexdigest()))
    (warning,) = parsed.warnings
    assert warning.path == "info[0]/resource[0]/digest"
    assert f"whose SHA-1 is {hashlib.sha1(changed).hexdigest()}" in warning.message


@pytest.mark.parametrize(
    "broken",
    [
        lambda text: text[:-6],  # cut short in transit
        lambda text: text.replace("A", "*", 1),  # a character base64 has not
        lambda text: "\u00a0" + text,  # a no-break space pasted in
    ],
    ids=["cut", "star", "nbsp"],
)
def test_an_inline_resource_that_is_not_base64_is_a_warning(broken: Any) -> None:
    """Oracle: the standard library's strict base64 decoder refuses it too."""
    text = broken(_mime(_AUDIO))
    with pytest.raises((binascii.Error, ValueError)):
        base64.b64decode(re.sub(r"[ \t\r\n]", "", text), validate=True)
    parsed = cap.read(_ipaws(text, None))
    (warning,) = parsed.warnings
    assert warning.path == "info[0]/resource[0]/derefUri"
    assert "is not base64" in warning.message and "CAP 1.2 §3.2.3" in warning.message
    assert parsed.alert.infos[0].resources[0].deref_uri == text  # kept as written
