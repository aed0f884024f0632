"""CAP as other issuers send it, probe 16: real feeds' shapes, encodings and namespaces.

Documents modelled on MeteoAlarm (many languages, EMMA_ID geocodes, no geometry), Environment
Canada's NAAD (an Update naming several messages over several lines, areas with altitude and
ceiling, a triangle), the US NWS via IPAWS (SAME and UGC geocodes, Extreme/Immediate), Japan
(non-Latin text, circles of radius ``0`` and ``0.0``) and the Philippines (the ``cap:`` prefix,
comments and processing instructions between elements, a Cancel with a note). The oracle is
the document itself read with :mod:`xml.etree.ElementTree` here, the area checked with shapely
and pyproj's geodesic distances, the encodings with Python's own codecs.
"""

from __future__ import annotations

import codecs
import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import shapely
from cap_helpers import BASE
from pyproj import Geod

from geotarget import Circle, cap
from geotarget.alerts import Alert, Info, NamedValue
from geotarget.errors import InvalidAlert, InvalidCAP

# --- an independent reading of a document ------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _all(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def _text(element: ET.Element, name: str) -> str | None:
    found = _all(element, name)
    return None if not found else (found[0].text or "")


def _time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text.strip())


def _etree(data: bytes) -> dict[str, Any]:
    """What the document says, read with ElementTree: the fields this probe compares."""
    root = ET.fromstring(data)
    refs = (_text(root, "references") or "").split()
    infos = []
    for info in _all(root, "info"):
        areas = []
        for area in _all(info, "area"):
            rings = [
                [(float(p.split(",")[1]), float(p.split(",")[0])) for p in (e.text or "").split()]
                for e in _all(area, "polygon")
            ]
            circles = []
            for e in _all(area, "circle"):
                point, radius = (e.text or "").split()
                lat, lon = point.split(",")
                circles.append((float(lon), float(lat), float(Decimal(radius) * 1000)))
            areas.append(
                {
                    "description": _text(area, "areaDesc"),
                    "polygons": rings,
                    "circles": circles,
                    "geocodes": [(_text(g, "valueName"), _text(g, "value")) for g in _all(area, "geocode")],
                    "altitude": None if _text(area, "altitude") is None else float(_text(area, "altitude") or ""),
                    "ceiling": None if _text(area, "ceiling") is None else float(_text(area, "ceiling") or ""),
                }
            )  # fmt: skip
        infos.append(
            {
                "language": _text(info, "language"),
                "event": _text(info, "event"),
                "urgency": _text(info, "urgency"),
                "severity": _text(info, "severity"),
                "headline": _text(info, "headline"),
                "effective": _time(_text(info, "effective")),
                "onset": _time(_text(info, "onset")),
                "expires": _time(_text(info, "expires")),
                "parameters": [(_text(p, "valueName"), _text(p, "value")) for p in _all(info, "parameter")],
                "areas": areas,
            }
        )  # fmt: skip
    return {
        "identifier": _text(root, "identifier"),
        "sent": _time(_text(root, "sent")),
        "msg_type": _text(root, "msgType"),
        "note": _text(root, "note"),
        "codes": [c.text for c in _all(root, "code")],
        "references": [(s, i, _time(t)) for s, i, t in (r.split(",") for r in refs)],
        "infos": infos,
    }


def _model(alert: Alert) -> dict[str, Any]:
    """The same fields as geotarget read them."""
    return {
        "identifier": alert.identifier,
        "sent": alert.sent,
        "msg_type": alert.msg_type.value,
        "note": alert.note,
        "codes": list(alert.codes),
        "references": [(r.sender, r.identifier, r.sent) for r in alert.references],
        "infos": [
            {
                "language": i.language,
                "event": i.event,
                "urgency": i.urgency.value,
                "severity": i.severity.value,
                "headline": i.headline,
                "effective": i.effective,
                "onset": i.onset,
                "expires": i.expires,
                "parameters": [(p.value_name, p.value) for p in i.parameters],
                "areas": [
                    {
                        "description": a.description,
                        "polygons": [list(r) for r in a.polygons],
                        "circles": list(a.circles),
                        "geocodes": [(g.value_name, g.value) for g in a.geocodes],
                        "altitude": a.altitude,
                        "ceiling": a.ceiling,
                    }
                    for a in i.areas
                ],
            }
            for i in alert.infos
        ],
    }


GEOD = Geod(ellps="WGS84")


def _covered(doc: dict[str, Any], lon: float, lat: float) -> bool:
    """Whether the etree reading's polygons (shapely) or circles (pyproj) cover a point."""
    for info in doc["infos"]:
        for area in info["areas"]:
            for ring in area["polygons"]:
                if shapely.Polygon(ring).buffer(0).covers(shapely.Point(lon, lat)):
                    return True
            for c_lon, c_lat, radius_m in area["circles"]:
                if radius_m > 0 and GEOD.inv(c_lon, c_lat, lon, lat)[2] <= radius_m:
                    return True
    return False


# --- documents modelled on real feeds ----------------------------------------------------------

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"


def _info(language: str, event: str, headline: str, areas: str) -> str:
    return (
        f"<info><language>{language}</language><category>Met</category><event>{event}</event>"
        "<responseType>Monitor</responseType><urgency>Future</urgency>"
        "<severity>Moderate</severity><certainty>Likely</certainty>"
        "<effective>2024-01-13T12:00:00+02:00</effective>"
        "<onset>2024-01-14T06:00:00+02:00</onset><expires>2024-01-14T23:59:59+02:00</expires>"
        f"<headline>{headline}</headline>"
        "<parameter><valueName>awareness_level</valueName><value>2; yellow; Moderate</value>"
        "</parameter><parameter><valueName>awareness_type</valueName>"
        f"<value>3; Thunderstorm</value></parameter>{areas}</info>"
    )


def _emma(name: str, code: str) -> str:
    return (
        f"<area><areaDesc>{name}</areaDesc><geocode><valueName>EMMA_ID</valueName>"
        f"<value>{code}</value></geocode></area>"
    )


METEOALARM = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<alert xmlns="{CAP12}">'
    "<identifier>2.49.0.0.300.0.GR.240113120000.103</identifier><sender>alerts@emy.gr</sender>"
    "<sent>2024-01-13T12:00:00+02:00</sent><status>Actual</status><msgType>Alert</msgType>"
    "<scope>Public</scope>"
    + _info("el-GR", "Κίτρινη Προειδοποίηση για Καταιγίδες", "Καταιγίδες - Αττική",
            _emma("Αττική", "GR005") + _emma("Βοιωτία", "GR006"))
    + _info("en-GB", "Yellow Thunderstorm Warning", "Thunderstorms - Attica",
            _emma("Attica", "GR005") + _emma("Viotia", "GR006"))
    + _info("de-DE", "Gelbe Gewitterwarnung", "Gewitter – Attika", _emma("Attika", "GR005"))
    + "</alert>"
)  # fmt: skip

NAAD = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP12}">
  <identifier>urn:oid:2.49.0.1.124.1913573412.2024</identifier>
  <sender>cap-pac@canada.ca</sender>
  <sent>2024-07-15T14:32:10-00:00</sent>
  <status>Actual</status>
  <msgType>Update</msgType>
  <source>Env. Can. - Can. Met. Ctr. – Montréal</source>
  <scope>Public</scope>
  <code>profile:CAP-CP:0.4</code>
  <code>layer:SOREM:1.0</code>
  <code>layer:EC-MSC-SMC:1.1</code>
  <references>cap-pac@canada.ca,urn:oid:2.49.0.1.124.3036826741.2024,2024-07-15T10:31:40-00:00
  cap-pac@canada.ca,urn:oid:2.49.0.1.124.0889341231.2024,2024-07-15T12:02:11-00:00
  </references>
  <info>
    <language>en-CA</language><category>Met</category><event>thunderstorm</event>
    <responseType>Shelter</responseType><urgency>Immediate</urgency><severity>Severe</severity>
    <certainty>Observed</certainty>
    <effective>2024-07-15T14:32:10-00:00</effective>
    <expires>2024-07-15T20:32:10-00:00</expires>
    <headline>severe thunderstorm warning in effect</headline>
    <parameter><valueName>layer:SOREM:1.0:Broadcast_Intrusive</valueName><value>No</value>
    </parameter>
    <parameter><valueName>layer:EC-MSC-SMC:1.0:Alert_Coverage</valueName>
      <value>Québec - sud</value></parameter>
    <area>
      <areaDesc>Montréal Island</areaDesc>
      <polygon>45.6965,-73.4744 45.6995,-73.5306 45.4182,-73.9834 45.4124,-73.9514
        45.6965,-73.4744</polygon>
      <geocode><valueName>layer:EC-MSC-SMC:1.0:CLC</valueName><value>061100</value></geocode>
      <altitude>0</altitude>
      <ceiling>30000</ceiling>
    </area>
    <area>
      <areaDesc>Laval</areaDesc>
      <polygon>45.5329,-73.6746 45.6118,-73.8627 45.6847,-73.5941 45.5329,-73.6746</polygon>
      <altitude>-100.5</altitude>
      <ceiling>15000</ceiling>
    </area>
  </info>
  <info>
    <language>fr-CA</language><category>Met</category><event>orages</event>
    <responseType>Shelter</responseType><urgency>Immediate</urgency><severity>Severe</severity>
    <certainty>Observed</certainty>
    <effective>2024-07-15T14:32:10-00:00</effective>
    <expires>2024-07-15T18:00:00-00:00</expires>
    <headline>avertissement d'orages violents en vigueur</headline>
    <area>
      <areaDesc>Île de Montréal</areaDesc>
      <polygon>45.6965,-73.4744 45.6995,-73.5306 45.4182,-73.9834 45.4124,-73.9514 45.6965,-73.4744</polygon>
      <altitude>0</altitude>
      <ceiling>30000</ceiling>
    </area>
  </info>
</alert>
"""

NWS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<alert xmlns="{CAP12}">
  <identifier>urn:oid:2.49.0.1.840.0.4f0a2e1b7c3d9e8f.001.1</identifier>
  <sender>w-nws.webmaster@noaa.gov</sender>
  <sent>2024-05-21T15:43:00-05:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <code>IPAWSv1.0</code>
  <info>
    <language>en-US</language><category>Met</category><event>Tornado Warning</event>
    <responseType>Shelter</responseType><urgency>Immediate</urgency>
    <severity>Extreme</severity><certainty>Observed</certainty>
    <eventCode><valueName>SAME</valueName><value>TOR</value></eventCode>
    <effective>2024-05-21T15:43:00-05:00</effective>
    <onset>2024-05-21T15:43:00-05:00</onset>
    <expires>2024-05-21T16:15:00-05:00</expires>
    <headline>Tornado Warning issued May 21 at 3:43PM CDT by NWS Des Moines IA</headline>
    <parameter><valueName>VTEC</valueName>
      <value>/O.NEW.KDMX.TO.W.0047.240521T2043Z-240521T2115Z/</value></parameter>
    <area>
      <areaDesc>Adair, IA; Madison, IA</areaDesc>
      <polygon>41.31,-94.43 41.37,-94.24 41.24,-94.2 41.22,-94.4 41.31,-94.43</polygon>
      <geocode><valueName>SAME</valueName><value>019001</value></geocode>
      <geocode><valueName>SAME</valueName><value>019121</value></geocode>
      <geocode><valueName>UGC</valueName><value>IAC001</value></geocode>
      <geocode><valueName>UGC</valueName><value>IAC121</value></geocode>
    </area>
  </info>
</alert>
"""

JAPAN = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP12}">
  <identifier>urn:uuid:8d2b2a3c-7f1e-4c3e-9b0a-1c2d3e4f5a6b</identifier>
  <sender>jma@jma.go.jp</sender>
  <sent>2024-01-01T16:22:00+09:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info>
    <language>ja-JP</language><category>Geo</category><event>大津波警報</event>
    <responseType>Evacuate</responseType><urgency>Immediate</urgency>
    <severity>Extreme</severity><certainty>Observed</certainty>
    <onset>2024-01-01T16:22:00+09:00</onset>
    <headline>能登に大津波警報</headline>
    <area>
      <areaDesc>石川県能登</areaDesc>
      <circle>37.5,137.27 0</circle>
      <circle>37.49,137.26 0.0</circle>
      <circle>37.3,136.9 50</circle>
    </area>
  </info>
</alert>
"""

PHILIPPINES = """<?xml version="1.0" encoding="UTF-8"?>
<!-- PAGASA feed -->
<?xml-stylesheet type="text/xsl" href="cap.xsl"?>
<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <cap:identifier>PAGASA-2024-TCWS-0012</cap:identifier>
  <!-- the sender -->
  <cap:sender>pagasa@pagasa.dost.gov.ph</cap:sender>
  <cap:sent>2024-10-24T11:00:00+08:00</cap:sent>
  <cap:status>Actual</cap:status>
  <?pi between elements?>
  <cap:msgType>Cancel</cap:msgType>
  <cap:scope>Public</cap:scope>
  <cap:note>Superseded by bulletin 13. Ang babalang ito ay kinansela.</cap:note>
  <cap:references>
     pagasa@pagasa.dost.gov.ph,PAGASA-2024-TCWS-0010,2024-10-24T05:00:00+08:00
     pagasa@pagasa.dost.gov.ph,PAGASA-2024-TCWS-0011,2024-10-24T08:00:00+08:00
  </cap:references>
  <cap:info>
    <cap:language>fil-PH</cap:language><cap:category>Met</cap:category>
    <cap:event>Bagyong Kristine</cap:event><cap:urgency>Past</cap:urgency>
    <cap:severity>Minor</cap:severity><cap:certainty>Observed</cap:certainty>
    <cap:headline>Kinansela</cap:headline>
    <cap:area>
      <cap:areaDesc>Luzon</cap:areaDesc>
      <cap:polygon>
        14.5,120.9 14.7,121.1 14.4,121.2 14.5,120.9
      </cap:polygon>
    </cap:area>
  </cap:info>
</cap:alert>
"""

FEEDS = {
    "MeteoAlarm": METEOALARM,
    "NAAD": NAAD,
    "NWS": NWS,
    "Japan": JAPAN,
    "Philippines": PHILIPPINES,
}


@pytest.mark.parametrize("name", list(FEEDS))
def test_a_real_feeds_document_reads_as_element_tree_reads_it(name: str) -> None:
    """Every compared field equals ElementTree's reading, and writing it back reads equal."""
    data = FEEDS[name].encode("utf-8")
    alert = cap.loads(data)
    assert _model(alert) == _etree(data)
    assert cap.loads(cap.dumps(alert)) == alert


@pytest.mark.parametrize("name", list(FEEDS))
def test_a_real_feeds_area_covers_what_shapely_and_pyproj_say(name: str) -> None:
    """The alert's area holds a point iff the document's polygons or circles cover it."""
    data = FEEDS[name].encode("utf-8")
    alert, doc = cap.loads(data), _etree(data)
    rng = np.random.default_rng(16)
    points = [
        (lon + d_lon, lat + d_lat)
        for info in doc["infos"]
        for area in info["areas"]
        for lon, lat in [p for r in area["polygons"] for p in r] + [c[:2] for c in area["circles"]]
        for d_lon, d_lat in rng.normal(0.0, 0.2, (4, 2))
    ]
    if alert.area is None:  # geocodes, and points: no geometry, and nothing covered
        assert not points or not any(_covered(doc, lon, lat) for lon, lat in points)
        return
    lons, lats = np.array(points).T
    assert alert.area.contains(lons, lats).tolist() == [_covered(doc, *p) for p in points]


def test_geocodes_only_reach_nobody_and_each_area_says_so() -> None:
    """MeteoAlarm's EMMA_ID areas: no geometry, one warning per area, text by language."""
    parsed = cap.read(METEOALARM)
    assert parsed.alert.area is None
    assert [w.path for w in parsed.warnings] == [
        "info[0]/area[0]", "info[0]/area[1]", "info[1]/area[0]", "info[1]/area[1]",
        "info[2]/area[0]",
    ]  # fmt: skip
    assert all("reaches nobody" in w.message for w in parsed.warnings)
    german, swedish = parsed.alert.info_for("de-AT"), parsed.alert.info_for("sv-SE")
    assert german is not None and german.headline == "Gewitter – Attika"
    assert swedish is not None and swedish.language == "en-GB"  # English before the first


def test_an_update_naming_messages_over_several_lines_keeps_each_block_window() -> None:
    """NAAD: both triples; the French block ends first, so its area leaves with it."""
    alert = cap.loads(NAAD)
    assert [r.identifier for r in alert.references] == [
        "urn:oid:2.49.0.1.124.3036826741.2024",
        "urn:oid:2.49.0.1.124.0889341231.2024",
    ]
    utc = dt.timezone.utc
    assert alert.expires == dt.datetime(2024, 7, 15, 20, 32, 10, tzinfo=utc)
    late = dt.datetime(2024, 7, 15, 19, 0, tzinfo=utc)  # the English block only
    laval = (-73.72, 45.6)  # inside the triangle, which only the English block names
    area = alert.area_at(late)
    assert area is not None
    assert area.contains([laval[0]], [laval[1]]).tolist() == [True]
    chosen = alert.info_for("fr-CA", at=late)
    assert chosen is not None and chosen.language == "en-CA"


def test_points_written_as_circles_of_radius_zero_add_nothing() -> None:
    """Japan: ``0`` and ``0.0`` km are points, warned of; the 50 km circle is the area."""
    parsed = cap.read(JAPAN)
    assert [w.path for w in parsed.warnings] == [
        "info[0]/area[0]/circle[0]",
        "info[0]/area[0]/circle[1]",
    ]
    assert parsed.alert.area is not None
    (part,) = parsed.alert.area.parts
    assert isinstance(part, Circle)
    assert (part.lon, part.lat, part.radius_m) == (136.9, 37.3, 50_000.0)
    assert parsed.alert.expires is None  # no <expires>: open-ended


# --- encodings by their IANA names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "codec", "text"),
    [
        # Java's charset name for MS932 (Japanese; ① and ～ are in cp932, not in Shift_JIS).
        ("Windows-31J", "cp932", "大津波警報①～"),
        ("csWindows31J", "cp932", "津波"),
        # .NET's web name for Thai (the Thai Meteorological Department's language).
        ("windows-874", "cp874", "พายุฤดูร้อน"),
        # .NET's web name for logical-order Hebrew; the bytes are ISO-8859-8's.
        ("ISO-8859-8-I", "iso8859_8", "אזעקה"),
        ("ISO-8859-6-E", "iso8859_6", "عاصفة"),
        ("KS_C_5601-1989", "euc_kr", "호우경보"),
        ("GB_2312-80", "gb2312", "暴雨红色预警"),
        ("windows-936", "gbk", "暴雨红色预警"),
        ("Extended_UNIX_Code_Packed_Format_for_Japanese", "euc_jp", "津波注意報"),
        ("cswindows1251", "cp1251", "Штормовое предупреждение"),
    ],
)
def test_a_document_in_an_encoding_declared_by_its_iana_name_is_read(
    declared: str, codec: str, text: str
) -> None:
    """XML 1.0 §4.3.3 recommends IANA's names; Python's codecs lack these: still read."""
    with pytest.raises(LookupError):
        codecs.lookup(declared)  # (the case this test is about)
    doc = BASE.replace('encoding="UTF-8"', f'encoding="{declared}"')
    doc = doc.replace("Explosion vid Sergels torg", text)
    assert cap.loads(doc.encode(codec)).infos[0].headline == text


def test_a_byte_order_mark_contradicting_an_iana_name_is_a_conflict() -> None:
    """A UTF-8 mark before ``encoding="Windows-31J"`` is named, and read as UTF-8 leniently."""
    doc = BASE.replace('encoding="UTF-8"', 'encoding="Windows-31J"').replace(
        "Explosion vid Sergels torg", "津波"
    )
    data = codecs.BOM_UTF8 + doc.encode("utf-8")
    with pytest.raises(InvalidCAP) as info:
        cap.loads(data)
    assert "UTF-8 byte-order mark" in str(info.value)
    assert "'Windows-31J'" in str(info.value)
    assert cap.loads_lenient(data).alert.infos[0].headline == "津波"


def test_a_name_nobody_registered_is_still_refused_by_name() -> None:
    """``x-klingon`` is neither Python's nor IANA's: refused, naming it."""
    doc = BASE.replace('encoding="UTF-8"', 'encoding="x-klingon"').encode("ascii", "replace")
    with pytest.raises(InvalidCAP, match="'x-klingon' is not a known character encoding"):
        cap.loads(doc)


# --- what a refusal says -------------------------------------------------------------------------


def _area(inner: str) -> str:
    start, end = BASE.index("<polygon>"), BASE.index("</circle>") + len("</circle>")
    return BASE[:start] + inner + BASE[end:]


@pytest.mark.parametrize(
    ("inner", "path", "hint"),
    [
        ("<circle>37.3,136.9 5e1</circle>", "circle[0]", "write 50, not 5e1"),
        ("<circle>59.3325,18.06528 5E-1</circle>", "circle[0]", "write 0.5, not 5E-1"),
        ("<circle>5.93325E1,18.06528 0.5</circle>", "circle[0]", "write 59.3325, not 5.93325E1"),
        (
            "<polygon>59.33,18.06 59.33,18.07 59.335,1.807e1 59.335,18.06 59.33,18.06</polygon>",
            "polygon[0]",
            "write 18.07, not 1.807e1",
        ),
        ("<circle>59.33,18.06 1e30</circle>", "circle[0]", "'1e30' has one"),
    ],
)
def test_a_number_with_an_exponent_is_named_with_its_plain_form(
    inner: str, path: str, hint: str
) -> None:
    """The hint shows the number written and the decimal to write, not a stock example."""
    with pytest.raises(InvalidCAP) as info:
        cap.loads(_area(inner))
    (problem,) = info.value.problems
    assert problem.path == f"info[0]/area[0]/{path}"
    assert problem.message.endswith(
        "CAP writes decimal numbers without an exponent (xs:decimal): " + hint
    )


@pytest.mark.parametrize(
    "namespace",
    [
        "urn:oasis:names:tc:emergency:cap:1.2/",
        "URN:OASIS:names:tc:emergency:cap:1.2",
        "urn:oasis:names:tc:emergency:CAP:1.2#",
    ],
)
def test_a_namespace_written_almost_as_caps_says_to_write_it_exactly(namespace: str) -> None:
    """Not 'this is not a CAP alert': the namespace is CAP's, misspelt, and XML is exact."""
    doc = BASE.replace(f'xmlns="{CAP12}"', f'xmlns="{namespace}"')
    with pytest.raises(InvalidCAP) as info:
        cap.loads(doc)
    (problem,) = info.value.problems
    assert "this is not a CAP" not in problem.message
    assert f"its namespace is written almost as CAP's ({CAP12})" in problem.message
    assert problem.message.endswith(f'declare xmlns="{CAP12}" exactly')


def test_an_alert_whose_children_have_the_cap_prefix_and_it_not_says_so() -> None:
    """``<alert xmlns:cap=...>`` around ``<cap:...>`` children: write ``<cap:alert>``."""
    doc = PHILIPPINES.replace("<cap:alert ", "<alert ").replace("</cap:alert>", "</alert>")
    with pytest.raises(InvalidCAP) as info:
        cap.loads(doc)
    (problem,) = info.value.problems
    assert "its children are in the CAP namespace but <alert> itself is not" in problem.message
    assert "write <cap:alert>" in problem.message


# --- geotarget's own tip-channel parameters, pretty-printed -------------------------------------


@pytest.mark.parametrize(
    ("kind", "address"), [("phone", "114 14"), ("web", "https://polisen.se/lagg-fram-tips")]
)
def test_a_pretty_printed_tip_channel_value_is_read_as_its_address(kind: str, address: str) -> None:
    """Whitespace a pretty-printer puts around a ``<value>`` is layout, as for the kind code.

    The whole alert was refused: "address of a phone channel must be digits..." (got the
    number with the line breaks and indentation around it).
    """
    parameter = (
        f"<parameter>\n        <valueName>geotarget:tip-{kind}</valueName>\n"
        f"        <value>\n          {address}\n        </value>\n      </parameter>"
    )
    doc = BASE.replace("</headline>", "</headline>\n      " + parameter)
    alert = cap.loads(doc)
    (channel,) = alert.tip_channels
    assert (channel.kind.value, channel.address) == (kind, address)
    value = ET.fromstring(doc.encode()).find(f".//{{{CAP12}}}value")
    assert value is not None and value.text is not None and value.text.strip() == address
    assert cap.loads(cap.dumps(alert)) == alert


#: 3GPP TS 22.101, section 10.1.1, as the oracle: a handset calls the emergency service for 112
#: and 911 always, and for 000, 08, 110, 118, 119 and 999 without a SIM.
_HANDSET_EMERGENCY = {"112", "911", "000", "08", "110", "118", "119", "999"}


def _tip_doc(number: str) -> str:
    parameter = (
        f"<parameter><valueName>geotarget:tip-phone</valueName><value>{number}</value></parameter>"
    )
    return BASE.replace("</headline>", "</headline>" + parameter)


@pytest.mark.parametrize(
    ("number", "dialled"),
    [
        ("112", "112"),
        ("1 12", "112"),
        ("+46 112", "112"),
        ("0046-911", "911"),
        ("+1 911", "911"),  # an American template, written internationally
        ("+44 999", "999"),
        ("114 14", None),
        ("+46 77 114 14 00", None),
        ("0911-123 45", None),  # Piteå: an area code, not an emergency number
        ("9111", None),
    ],
)
def test_a_document_naming_an_emergency_number_as_tip_line_is_refused(
    number: str, dialled: str | None
) -> None:
    """pilot.tip_request refused 112 as a tip line; the same alert read from CAP was delivered.

    A tip request whose ``geotarget:tip-phone`` was 112 read, and ``alert.tip_channels``
    offered the public 112 for tips ("Tipsa polisen: 112").
    """
    digits = number.replace(" ", "").replace("-", "")
    national = (
        digits[1:] if digits.startswith("+") else digits[2:] if digits.startswith("00") else ""
    )
    expect = digits in _HANDSET_EMERGENCY or any(
        national[k:] in _HANDSET_EMERGENCY for k in (1, 2, 3) if national
    )
    assert expect is (dialled is not None)  # (the oracle agrees with the table)
    doc = _tip_doc(number)
    if dialled is None:
        (channel,) = cap.loads(doc).tip_channels
        assert channel.address == number
        return
    with pytest.raises(InvalidCAP) as info:
        cap.loads(doc)
    (problem,) = info.value.problems
    assert problem.path == "info[0]/parameter[0]"
    assert f"the emergency service for {dialled}" in problem.message
    assert repr(number) in problem.message


def test_an_info_built_in_code_with_an_emergency_tip_line_is_refused_naming_it() -> None:
    """The model holds the rule, so no path (code, CAP, the pilot) builds such an alert."""
    with pytest.raises(InvalidAlert, match=r"^parameters\[0\] \(geotarget:tip-phone\): .* 911"):
        Info(
            categories=["Security"], event="Tips", urgency="Unknown", severity="Minor",
            certainty="Observed", parameters=[NamedValue("geotarget:tip-phone", "911")],
        )  # fmt: skip


# --- a block that ended before its message was sent ---------------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "warned"), [("Alert", True), ("Update", True), ("Cancel", False)]
)
def test_a_block_that_expired_before_the_message_was_sent_is_warned_of(
    msg_type: str, warned: bool
) -> None:
    """Sent at 21:30+02:00, onset 19:00, expires 20:00: it was told to no one, and not warned.

    An expires written in the wrong offset leaves the alert reaching nobody; a Cancel's
    blocks keep the times of what it ends, and are not targeted.
    """
    doc = BASE.replace("<onset>2026-05-04T21:30:00+02:00", "<onset>2026-05-04T19:00:00+02:00")
    doc = doc.replace("<expires>2026-05-04T23:30:00+02:00", "<expires>2026-05-04T20:00:00+02:00")
    if msg_type != "Alert":
        ref = "polisen@polisen.se,SE-POL-2026-0000,2026-05-04T18:00:00+02:00"
        doc = doc.replace("<msgType>Alert</msgType>", f"<msgType>{msg_type}</msgType>")
        doc = doc.replace("</scope>", f"</scope><references>{ref}</references>")
    parsed = cap.read(doc)
    sent = ET.fromstring(doc.encode()).findtext(f"{{{CAP12}}}sent")
    expires = dt.datetime.fromisoformat(
        ET.fromstring(doc.encode()).findtext(f".//{{{CAP12}}}expires") or ""
    )
    assert expires <= dt.datetime.fromisoformat(sent or "")  # (the case: it ended before)
    assert not parsed.alert.is_active(parsed.alert.sent)
    found = [w for w in parsed.warnings if w.path == "info[0]/expires"]
    if not warned:
        assert found == []
        return
    (warning,) = found
    assert warning.message.startswith(f"is before sent ({sent})")
    assert "in effect for no one who receives it" in warning.message
