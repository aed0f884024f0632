"""Real CAP documents from publishers around the world, read against an oracle of CAP 1.2 alone.

Each document of ``tests/data/cap_real9`` is a CAP document as its publisher issued it, copied
byte for byte from a public repository (``SOURCES.md`` there names the repository, commit and
path of each): Environment Canada and the NAAD System, IPAWS, NTWC, the OASIS examples, Australia's
BoM, the Icelandic Met Office, Mexico's SMN, PAGASA, Taiwan's CWB, Met Éireann, Kazhydromet,
Roshydromet, MET Norway, MoWaS, DWD, Météo-France, RHMZ Serbia, INMET, Google's WCATWC feed, GDACS, Alertswiss and Krisinformation.se.

What :mod:`geotarget.cap` reads is compared with what :func:`oracle` reads with the standard
library's ElementTree and the CAP 1.2 text (``lat,lon`` pairs, radii in kilometres, the
schema's default language): the header, every block's values and times, and every area's
polygons, circles, geocodes and altitudes. The area targeted is compared point by point with
shapely (polygons, edges straight in lon/lat) and ``pyproj.Geod`` (geodesic circles), and the
window with the one the alert model documents (a block starts at its onset, else its
effective, else ``sent``; the alert ends with the latest expires, open if any block has none).
What is refused is refused at its path, naming the value and the rule.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geotarget import InvalidCAP, cap

DATA = Path(__file__).resolve().parent / "data" / "cap_real9"
NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"


def load(name: str) -> bytes:
    """A document of ``tests/data/cap_real9`` as its publisher wrote it (``.gz``: unpacked)."""
    data = (DATA / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


# --- the oracle ---------------------------------------------------------------------------------

_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d):(\d\d)")


def _time(text: str) -> dt.datetime:
    """CAP 1.2 §3.3.2: ``YYYY-MM-DDThh:mm:ss±hh:mm``, whitespace collapsed (xs:dateTime)."""
    m = _TIME.fullmatch(text.strip())
    assert m is not None, text
    y, mo, d, hh, mi, ss, sign, oh, om = m.groups()
    offset = dt.timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    return dt.datetime(
        int(y), int(mo), int(d), int(hh), int(mi), int(ss), tzinfo=dt.timezone(offset)
    )


def oracle(data: bytes) -> dict[str, Any]:
    """The document as CAP 1.2 reads: every value the alert model holds, in plain Python."""
    root = ET.fromstring(data)
    ns = root.tag[1:].split("}")[0]  # (CAP 1.1's elements are CAP 1.2's)

    def q(name: str) -> str:
        return f"{{{ns}}}{name}"

    def text(node: ET.Element, name: str) -> str | None:
        found = node.find(q(name))
        return None if found is None else "".join(found.itertext())

    def when(node: ET.Element, name: str) -> dt.datetime | None:
        value = text(node, name)
        return None if value is None else _time(value)

    def pairs(node: ET.Element, name: str) -> list[tuple[str | None, str | None]]:
        return [(text(e, "valueName"), text(e, "value")) for e in node.findall(q(name))]

    def number(node: ET.Element, name: str) -> float | None:
        value = text(node, name)
        return None if value is None else float(value)

    refs = (text(root, "references") or "").split()
    out: dict[str, Any] = {
        "identifier": text(root, "identifier"),
        "sender": text(root, "sender"),
        "sent": when(root, "sent"),
        "status": text(root, "status"),
        "msg_type": text(root, "msgType"),
        "scope": text(root, "scope"),
        "codes": [e.text for e in root.findall(q("code"))],
        "note": text(root, "note"),
        "references": [(s, i, _time(t)) for s, i, t in (r.split(",") for r in refs)],
        "infos": [],
    }
    for info in root.findall(q("info")):
        areas = []
        for area in info.findall(q("area")):
            polygons = []
            for polygon in area.findall(q("polygon")):
                points = [p.split(",") for p in "".join(polygon.itertext()).split()]
                if len(points) < 4 and len({tuple(p) for p in points}) <= 2:
                    continue  # CAP 1.2 §3.2.4; no area: lenient reading drops it (see below)
                polygons.append(tuple((float(lon), float(lat)) for lat, lon in points))
            circles = []
            for circle in area.findall(q("circle")):
                centre, radius = "".join(circle.itertext()).split()
                lat, lon = (float(v) for v in centre.split(","))
                circles.append((lon, lat, float(radius) * 1000.0))
            areas.append(
                {
                    "description": text(area, "areaDesc"),
                    "polygons": polygons,
                    "circles": circles,
                    "geocodes": pairs(area, "geocode"),
                    "altitude": number(area, "altitude"),
                    "ceiling": number(area, "ceiling"),
                }
            )
        language = (text(info, "language") or "").strip() or "en-US"  # the schema's default
        out["infos"].append(
            {
                "language": language,
                "categories": [e.text for e in info.findall(q("category"))],
                "event": text(info, "event"),
                "response_types": [e.text for e in info.findall(q("responseType"))],
                "urgency": text(info, "urgency"),
                "severity": text(info, "severity"),
                "certainty": text(info, "certainty"),
                "event_codes": pairs(info, "eventCode"),
                "effective": when(info, "effective"),
                "onset": when(info, "onset"),
                "expires": when(info, "expires"),
                "headline": text(info, "headline"),
                "description": text(info, "description"),
                "instruction": text(info, "instruction"),
                "parameters": pairs(info, "parameter"),
                "areas": areas,
            }
        )
    return out


def as_read(alert: Any) -> dict[str, Any]:
    """What geotarget read, in the oracle's shape."""
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent,
        "status": alert.status.value,
        "msg_type": alert.msg_type.value,
        "scope": alert.scope.value,
        "codes": list(alert.codes),
        "note": alert.note,
        "references": [(r.sender, r.identifier, r.sent) for r in alert.references],
        "infos": [
            {
                "language": info.language,
                "categories": [c.value for c in info.categories],
                "event": info.event,
                "response_types": [r.value for r in info.response_types],
                "urgency": info.urgency.value,
                "severity": info.severity.value,
                "certainty": info.certainty.value,
                "event_codes": [(c.value_name, c.value) for c in info.event_codes],
                "effective": info.effective,
                "onset": info.onset,
                "expires": info.expires,
                "headline": info.headline,
                "description": info.description,
                "instruction": info.instruction,
                "parameters": [(p.value_name, p.value) for p in info.parameters],
                "areas": [
                    {
                        "description": area.description,
                        "polygons": [tuple(tuple(p) for p in ring) for ring in area.polygons],
                        "circles": [tuple(c) for c in area.circles],
                        "geocodes": [(g.value_name, g.value) for g in area.geocodes],
                        "altitude": area.altitude,
                        "ceiling": area.ceiling,
                    }
                    for area in info.areas
                ],
            }
            for info in alert.infos
        ],
    }


# --- the documents --------------------------------------------------------------------------------

#: Read strictly, with the paths of the warnings CAP allows (in document order).
STRICT: dict[str, list[str]] = {
    "eccc_2012_update.xml": [],  # Environment Canada: Update, <restriction/>, <addresses/>
    "bom_au.xml": ["sent", "info[0]/effective", "info[0]/expires", "info[0]/area[0]"],
    "imo_is.xml": [],  # Icelandic and English blocks, one polygon each
    "met_norway_gale.xml": [  # 'no' and en-GB, altitude 0 to ceiling 900, UTC as +00:00
        "sent",
        *(f"info[{i}]/{t}" for i in range(2) for t in ("effective", "onset", "expires")),
    ],
    "smn_mx.xml": [],  # es-419, a hurricane's polygon, references without '@'
    "pagasa_ph.xml": [],  # no <language>: en-US
    "cwb_tw.xml": ["info[0]/area[0]"],  # zh-tw, a geocode-only area
    "athoc_cancel.xml": [],  # a Cancel without <info>
    "met_eireann_ie.xml": ["info[0]/area[0]"],  # EMMA_ID geocodes only
    "kazhydromet_kz.xml": ["info[0]/area[0]/polygon[0]"],  # a ring going back on itself
    "roshydromet_ru.xml": [],  # Chukotka: six polygons, some touching +-180
    "wcatwc_google_update.xml": [  # three references, a radius-0 circle
        "info[0]/expires",
        "info[0]/area[0]/circle[0]",
        "info[0]/area[0]",
    ],
    "ipaws_nv_cancel.xml": [],
    "ipaws_resource.xml.gz": [  # an inline MP3 whose size and digest are not its content's
        "info[0]/web",
        "info[0]/resource[0]/digest",
        "info[0]/area[0]",
    ],
    "oasis_a2_thunderstorm.xml": [],
    "oasis_a3_earthquake.xml": ["info[0]/area[0]/circle[0]", "info[0]/area[0]"],
    "oasis_a4_two_languages.xml": ["info[0]/area[0]", "info[1]/area[0]"],
    "meteo_france_multi_area.xml": [  # en-GB and fr-FR, four geocode-only areas each
        f"info[{i}]/area[{k}]" for i in range(2) for k in range(4)
    ],
    "inmet_br.xml": [],  # a ring of repeated points, a space before </polygon>
    "ntwc_tsunami.xml": [],
    "dwd_update_mul.xml": [  # eight languages, each with a polygon and three geocode areas
        f"info[{i}]/area[{k}]" for i in range(8) for k in (1, 2, 3)
    ],
}

#: Read leniently only, with the paths of the repairs.
LENIENT: dict[str, list[str]] = {
    "eccc_naad_alert.xml": ["references"],  # <references /> on an Alert: it names nothing
    "mowas_de.xml.gz": ["info[0]", "info[0]/area[0]"] + [f"info[{i}]" for i in range(1, 9)],
    # DWD's thunderstorm cell shrunk to a sliver: a ring of 3 points, 2 distinct (no area)
    "dwd_update_sliver.xml": ["info[0]/area[0]/polygon[0]"],
    # RHMZ Serbia: sr, sr-Latn and en-GB, <polygon> after <geocode>
    "rhmz_rs.xml": ["info[0]/area[0]", "info[1]/area[0]", "info[2]/area[0]"],
    # CAP 1.1, read as CAP 1.2: its resource has no <mimeType>, which CAP 1.1 leaves optional
    "oasis_11_a1_homeland.xml": ["alert", "info[0]/resource[0]/mimeType"],
}

#: Refused: the path of each problem, and what its message must say.
REFUSED: dict[str, list[tuple[str, str]]] = {
    # Alertswiss's feed leaves out two elements CAP requires in every <info>.
    "alertswiss_test.xml": [
        ("alert", "<sender> comes after <sent>"),
        ("info[0]", "<event> comes after <instruction>"),
        ("info[0]/category", "missing: <info> must hold a <category>"),
        ("info[0]/certainty", "missing: <info> must hold a <certainty>"),
    ],
    # GDACS writes a ring around Fiji past the antimeridian as longitudes below -180.
    "gdacs_1470644.xml": [
        ("info[0]/area[0]/polygon[0]", "point 62 '-21.359,-180.005' is out of range"),
    ],
    # Krisinformation.se's own <Type> and <Polygon> (a lon,lat point) inside <area>.
    "krisinformation_se.xml": [
        ("info[0]", "<senderName> comes after <headline>"),
        ("info[0]/area[0]/Type", "unknown element <Type>"),
        ("info[0]/area[0]/Polygon", "XML names are case-sensitive: CAP's is <polygon>"),
        ("info[0]/area[1]/Type", "unknown element <Type>"),
        ("info[0]/area[1]/Polygon", "XML names are case-sensitive: CAP's is <polygon>"),
    ],
}

READ = {**STRICT, **LENIENT}


def parsed(name: str) -> cap.Parsed:
    data = load(name)
    return cap.read(data) if name in STRICT else cap.loads_lenient(data)


def test_every_document_is_accounted_for() -> None:
    """Each file of the folder is read or refused here, and each is a CAP 1.2 alert."""
    files = {p.name for p in DATA.iterdir() if p.name != "SOURCES.md"}
    assert files == set(STRICT) | set(LENIENT) | set(REFUSED)
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for name in files:
        assert f"| {name} |" in sources
        assert ET.fromstring(load(name)).tag in (f"{{{NS}}}alert", f"{{{CAP11}}}alert")


@pytest.mark.parametrize("name", list(STRICT))
def test_a_valid_document_reads_strictly_with_only_the_warnings_it_earns(name: str) -> None:
    assert [w.path for w in cap.read(load(name)).warnings] == STRICT[name]


@pytest.mark.parametrize("name", list(LENIENT))
def test_a_repairable_document_is_refused_strictly_and_repaired_leniently(name: str) -> None:
    data = load(name)
    with pytest.raises(InvalidCAP) as err:
        cap.read(data)
    assert {p.path for p in err.value.problems} == set(LENIENT[name])
    assert all(p.message.endswith("(loads_lenient repairs this)") for p in err.value.problems)
    assert [r.path for r in cap.loads_lenient(data).repairs] == LENIENT[name]


@pytest.mark.parametrize("name", list(READ))
def test_what_is_read_is_what_cap_says(name: str) -> None:
    """Header, every block's values and times, every area as written: all as the oracle."""
    assert as_read(parsed(name).alert) == oracle(load(name))


@pytest.mark.parametrize("name", list(READ))
def test_the_window_is_the_one_the_model_documents(name: str) -> None:
    want = oracle(load(name))
    alert = parsed(name).alert
    starts = [i["effective"] or i["onset"] or want["sent"] for i in want["infos"]]
    ends = [i["expires"] for i in want["infos"]]
    assert list(alert.windows) == list(zip(starts, ends, strict=True))
    assert alert.onset == min(starts, default=want["sent"])
    assert alert.expires == (None if not ends or None in ends else max(ends))


@pytest.mark.parametrize("name", list(READ))
def test_the_area_targeted_is_the_union_cap_describes(name: str) -> None:
    """Points in and around every area are inside iff shapely and pyproj say so.

    Inside a polygon (edges straight in lon/lat) or within a circle's geodesic radius.
    """
    want = oracle(load(name))
    alert = parsed(name).alert
    rings = [
        shapely.make_valid(shapely.Polygon(ring))
        for info in want["infos"]
        for area in info["areas"]
        for ring in area["polygons"]
    ]
    circles = [
        c for info in want["infos"] for area in info["areas"] for c in area["circles"] if c[2] > 0
    ]
    if not rings and not circles:
        assert alert.area is None
        return
    rng = np.random.default_rng(9)
    lon_parts, lat_parts = [], []
    boxes = [r.bounds for r in rings] + [
        (lon - r / 50_000, lat - r / 80_000, lon + r / 50_000, lat + r / 80_000)
        for lon, lat, r in circles
    ]
    for west, south, east, north in boxes:  # each part's box, a little larger
        dx, dy = (east - west) * 0.1 + 1e-3, (north - south) * 0.1 + 1e-3
        lon_parts.append(rng.uniform(max(west - dx, -180), min(east + dx, 180), 400))
        lat_parts.append(rng.uniform(max(south - dy, -90), min(north + dy, 90), 400))
    lon, lat = np.concatenate(lon_parts), np.concatenate(lat_parts)
    inside = np.zeros(lon.size, dtype=bool)
    if rings:
        inside |= shapely.covers(shapely.union_all(rings), shapely.points(lon, lat))
    geod = Geod(ellps="WGS84")
    for clon, clat, radius in circles:
        _, _, dist = geod.inv(np.full(lon.size, clon), np.full(lon.size, clat), lon, lat)
        inside |= dist <= radius
    assert 0 < inside.sum() < inside.size
    assert alert.area is not None
    assert np.array_equal(np.asarray(alert.area.contains(lon, lat)), inside)


@pytest.mark.parametrize("name", list(READ))
def test_written_back_it_reads_the_same(name: str) -> None:
    alert = parsed(name).alert
    assert cap.loads(cap.dumps(alert)) == alert


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_refused_document_names_each_problem_at_its_path(name: str) -> None:
    with pytest.raises(InvalidCAP) as err:
        cap.loads_lenient(load(name))
    found = [(p.path, p.message) for p in err.value.problems]
    strict = [(p.path, p.message) for p in _strict_problems(name)]
    for path, said in REFUSED[name]:
        assert any(p == path and said in m for p, m in strict), (path, said, strict)
    unrepaired = [(path, said) for path, said in REFUSED[name] if " comes after " not in said]
    for path, said in unrepaired:
        assert any(p == path and said in m for p, m in found), (path, said, found)


def _strict_problems(name: str) -> tuple[Any, ...]:
    with pytest.raises(InvalidCAP) as err:
        cap.read(load(name))
    return err.value.problems


# --- the NAAD System's digest: of the base64 text it sends ----------------------------------------


def _naads_embedded() -> bytes:
    """A document with audio embedded as the NAAD System sends it (CAP-CP).

    The NAAD System's published samples (Pelmorex's "Sample2_CAPCP_with_Embedded_Large_Audio_
    File", in VE3LSR/pynaads under GPL-3.0, so not copied here) carry the audio base64 in
    ``<derefUri>``, its decoded length in ``<size>`` and, as ``<digest>``, the SHA-1 of the
    base64 text. The same resource, made so, in OASIS's Appendix A.2 alert.
    """
    content = bytes(range(256)) * 37 + b"ID3"
    text = base64.b64encode(content).decode()
    resource = (
        "<resource><resourceDesc>Broadcast Audio</resourceDesc><mimeType>audio/mpeg</mimeType>"
        f"<size>{len(content)}</size><derefUri>{text}</derefUri>"
        f"<digest>{hashlib.sha1(text.encode()).hexdigest()}</digest></resource>"
    )
    data = load("oasis_a2_thunderstorm.xml")
    return data.replace(b"<area>", resource.encode() + b"<area>", 1)


def test_naads_digest_is_of_the_base64_text_and_brings_no_warning() -> None:
    """CAP-CP's <digest> is the SHA-1 of the <derefUri> text: that names the content exactly.

    Every NAAD System alert with embedded audio was read with a warning that its content or
    digest "changed on its way".
    """
    data = _naads_embedded()
    root = ET.fromstring(data)
    resource = root.find(f"{{{NS}}}info/{{{NS}}}resource")
    assert resource is not None
    text = resource.findtext(f"{{{NS}}}derefUri") or ""
    digest = resource.findtext(f"{{{NS}}}digest")
    content = base64.b64decode(text)
    assert digest == hashlib.sha1(text.encode()).hexdigest()  # the premise: of the text
    assert digest != hashlib.sha1(content).hexdigest()
    assert str(len(content)) == resource.findtext(f"{{{NS}}}size")
    parsed = cap.read(data)
    assert parsed.warnings == ()
    assert parsed.alert.infos[0].resources[0].digest == digest


def test_a_digest_of_base64_text_that_is_not_the_documents_still_warns() -> None:
    """The text digest of other content does not pass: a changed body is still noticed."""
    data = _naads_embedded()
    changed = re.sub(rb"<derefUri>(....)", rb"<derefUri>AAAA", data, count=1)
    assert changed != data
    assert [w.path for w in cap.read(changed).warnings] == ["info[0]/resource[0]/digest"]


# --- Environment Canada's <references /> on an Alert ---------------------------------------------


def test_an_empty_references_on_an_alert_is_repaired_leniently() -> None:
    """ECCC's alerts carry an empty <references />: it names no message, so it is dropped."""
    data = load("eccc_naad_alert.xml")
    assert b"<msgType>Alert</msgType>" in data and b"<references />" in data
    (problem,) = _strict_problems("eccc_naad_alert.xml")
    assert problem.path == "references"
    assert "got an empty element" in problem.message
    result = cap.loads_lenient(data)
    assert result.alert.references == ()
    assert [r.path for r in result.repairs] == ["references"]
    assert "dropped it (an Alert needs none)" in result.repairs[0].message
    assert len(result.alert.infos) == 2 and result.alert.area is not None


def test_an_empty_references_on_an_update_is_still_refused_leniently() -> None:
    """An Update names the messages it updates: an empty list cannot be repaired.

    The refusal says what the Update needs rather than to leave <references> out.
    """
    data = re.sub(
        rb"<references>[^<]*</references>", b"<references/>", load("eccc_2012_update.xml")
    )
    with pytest.raises(InvalidCAP) as err:
        cap.loads_lenient(data)
    (problem,) = err.value.problems
    assert problem.path == "references"
    assert "loads_lenient" not in problem.message
    # Not "omit <references>": an Update without them is refused too. It says what it needs.
    assert "omit" not in problem.message
    assert "msgType Update names the earlier messages it updates" in problem.message


# --- which block a device shows ---------------------------------------------------------------

_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "tl": "fil"}


def _primary(tag: str) -> str:
    primary = tag.replace("_", "-").lower().split("-")[0]
    primary = _ALIASES.get(primary, primary)
    return "no" if primary in ("nb", "nn") else primary


def _block(
    want: dict[str, Any],
    shapes: list[Any],
    language: str,
    at: dt.datetime | None,
    point: Any,
) -> int:
    """The block docs/alerts.rst says a device shows.

    The blocks in effect, then those whose area covers the point (then those without area
    geometry), then the first of the exact language, the primary language, English, any.
    """
    blocks = list(range(len(want["infos"])))
    if at is not None:
        live = [
            k
            for k in blocks
            if (want["infos"][k]["effective"] or want["infos"][k]["onset"] or want["sent"]) <= at
            and (want["infos"][k]["expires"] is None or at < want["infos"][k]["expires"])
        ]
        blocks = live or blocks
    if point is not None:
        placed = [k for k in blocks if shapes[k] is not None]
        covering = [k for k in placed if shapes[k].covers(point)]
        blocks = covering + [k for k in blocks if k not in placed]
    tags = [want["infos"][k]["language"] for k in blocks]
    wanted = language.replace("_", "-").lower()
    for test in (
        lambda tag: tag.lower() == wanted,
        lambda tag: _primary(tag) == _primary(wanted),
        lambda tag: _primary(tag) == "en",
        lambda tag: True,
    ):
        for k, tag in zip(blocks, tags, strict=True):
            if test(tag):
                return k
    raise AssertionError("no block")


@pytest.mark.parametrize(
    "name",
    [
        "eccc_naad_alert.xml",
        "eccc_2012_update.xml",
        "imo_is.xml",
        "met_norway_gale.xml",
        "mowas_de.xml.gz",
        "dwd_update_mul.xml",
        "oasis_a4_two_languages.xml",
    ],
)
def test_each_device_shows_the_block_the_documented_rule_chooses(name: str) -> None:
    """Phones' languages, times in and out of the blocks' windows, points in every area."""
    want = oracle(load(name))
    alert = parsed(name).alert
    assert not any(a["circles"] for i in want["infos"] for a in i["areas"])
    shapes = [
        shapely.union_all(rings) if rings else None
        for rings in (
            [shapely.make_valid(shapely.Polygon(r)) for a in i["areas"] for r in a["polygons"]]
            for i in want["infos"]
        )
    ]
    languages = ["de-DE", "en-GB", "fr-CA", "fr", "nb-NO", "is", "es-MX", "ar", "tr-TR", "xx"]
    rng = np.random.default_rng(11)
    points = []
    for info in want["infos"]:
        for area in info["areas"]:
            for ring in area["polygons"][:3]:
                polygon = shapely.make_valid(shapely.Polygon(ring))
                points.append(polygon.representative_point())
    points = [points[k] for k in rng.permutation(len(points))[:12]]
    times = sorted({t for i in want["infos"] for t in (i["onset"], i["expires"]) if t})
    lon = np.array([p.x for p in points])
    lat = np.array([p.y for p in points])
    for at in [None, *times[:2]]:
        for language in languages:
            k = _block(want, shapes, language, at, None)
            assert alert.info_for(language, at=at) is alert.infos[k], (language, at)
            chosen = [_block(want, shapes, language, at, p) for p in points]
            assert alert.info_indices(language, lon, lat, at=at).tolist() == chosen


# --- through a Targeter's intake ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "imo_is.xml",
        "smn_mx.xml",  # an Update of a version never seen: it starts its incident
        "pagasa_ph.xml",  # status Test: testers only
        "kazhydromet_kz.xml",
        "met_norway_gale.xml",
        "dwd_update_mul.xml",
        "oasis_a2_thunderstorm.xml",
    ],
)
def test_the_document_received_reaches_exactly_the_devices_its_area_covers(name: str) -> None:
    """``Targeter.receive`` on the bytes as published, in a country around the alert."""
    import shapely.geometry as sg

    from geotarget import PositionIndex, Positions
    from geotarget.issuers import Issuers
    from geotarget.kinds import RecognitionRule, Recognizer
    from geotarget.regions import Region, RegionHierarchy, RegionSet
    from geotarget.rollout import nationwide
    from geotarget.targeting import Targeter, Verdict

    data = load(name)
    want = oracle(data)
    alert = cap.read(data).alert
    assert alert.area is not None
    west, south, east, north = alert.area.bounds
    country = sg.box(west - 1, south - 1, east + 1, north + 1)
    regions = RegionHierarchy(
        [
            RegionSet([Region(code=c, name=c, level=lv, geometry=country)])
            for c, lv in (("0101", "municipality"), ("01", "county"), ("XX", "country"))
        ],
        {"0101": "01", "01": "XX"},
    )
    events = sorted({info["event"] for info in want["infos"]})
    rule = RecognitionRule(name="upstream", kind="explosion", events=events)
    targeter = Targeter(
        regions,
        nationwide("XX", kinds=["explosion"]),
        recognition=Recognizer([rule]),
        issuers=Issuers.any(),
    )
    rng = np.random.default_rng(17)
    lon, lat = rng.uniform(west, east, 2000), rng.uniform(south, north, 2000)
    ids = [f"d{k}" for k in range(lon.size)]
    at = alert.onset if alert.expires is None else alert.onset + (alert.expires - alert.onset) / 2
    tester = np.full(lon.size, want["status"] == "Test")
    index = PositionIndex(
        Positions(ids, lon, lat, accuracy_m=np.zeros(lon.size), observed_at=at, tester=tester)
    )
    rings = [
        shapely.make_valid(shapely.Polygon(ring))
        for info in want["infos"]
        for area in info["areas"]
        for ring in area["polygons"]
    ]
    inside = np.zeros(lon.size, dtype=bool)
    if rings:
        inside |= shapely.covers(shapely.union_all(rings), shapely.points(lon, lat))
    geod = Geod(ellps="WGS84")
    for info in want["infos"]:
        for area in info["areas"]:
            for clon, clat, radius in area["circles"]:
                _, _, dist = geod.inv(np.full(lon.size, clon), np.full(lon.size, clat), lon, lat)
                inside |= dist <= radius
    result = targeter.receive(data, index, at, confirm=True)
    assert result.verdict is Verdict.DELIVER, result.reason
    assert sorted(result.recipients.tolist()) == sorted(ids[k] for k in np.flatnonzero(inside))
    assert inside.any()


# --- CAP 1.1's optional <mimeType> ---------------------------------------------------------------


def test_a_cap_11_resource_without_mime_type_is_read_leniently_as_octet_stream() -> None:
    """CAP 1.1 makes <mimeType> optional, CAP 1.2 requires it.

    OASIS's own CAP 1.1 example A.1 links a GIF without one, and loads_lenient, which reads
    CAP 1.1 as CAP 1.2, refused it.
    """
    data = load("oasis_11_a1_homeland.xml")
    root = ET.fromstring(data)
    resource = root.find(f"{{{CAP11}}}info/{{{CAP11}}}resource")
    assert resource is not None and resource.find(f"{{{CAP11}}}mimeType") is None
    result = cap.loads_lenient(data)
    (got,) = result.alert.infos[0].resources
    assert got.mime_type == "application/octet-stream"
    assert got.uri == resource.findtext(f"{{{CAP11}}}uri")
    assert got.description == resource.findtext(f"{{{CAP11}}}resourceDesc")
    repair = [r for r in result.repairs if r.path == "info[0]/resource[0]/mimeType"]
    assert len(repair) == 1 and "CAP 1.1 leaves <mimeType> optional" in repair[0].message


def test_a_cap_12_resource_without_mime_type_is_still_refused() -> None:
    """CAP 1.2 requires <mimeType>: its absence is no repair there."""
    broken = load("ipaws_resource.xml.gz")
    broken = re.sub(rb"<mimeType>[^<]*</mimeType>", b"", broken, count=1)
    with pytest.raises(InvalidCAP) as err:
        cap.loads_lenient(broken)
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("info[0]/resource[0]/mimeType", "missing: <resource> must hold a <mimeType>")
    ]


# --- a ring of no area ------------------------------------------------------------------------


def test_dwds_sliver_of_a_polygon_is_dropped_leniently_as_enclosing_no_area() -> None:
    """DWD's Update draws its cell as 'A B A': 3 points, 2 distinct, no area at all.

    CAP 1.2 §3.2.4 requires 4 points, so strict reading refuses it; loads_lenient refused it
    too, so the Update could not be read at all. Dropped, it takes nothing from the area (a
    ring of no area adds nothing to it), and the area is warned of as having no geometry.
    """
    data = load("dwd_update_sliver.xml")
    root = ET.fromstring(data)
    text = root.findtext(f"{{{NS}}}info/{{{NS}}}area/{{{NS}}}polygon") or ""
    ring = [tuple(float(v) for v in p.split(",")[::-1]) for p in text.split()]
    assert len(ring) == 3 and len(set(ring)) == 2 and shapely.Polygon(ring).area == 0.0
    (problem,) = _strict_problems("dwd_update_sliver.xml")
    assert "(got 3, 2 distinct)" in problem.message
    result = cap.loads_lenient(data)
    assert result.alert.infos[0].areas[0].polygons == ()
    assert result.alert.area is None
    assert "encloses no area" in result.repairs[0].message
    assert [w.path for w in result.warnings] == ["info[0]/area[0]", "info[0]/area[1]"]


@pytest.mark.parametrize(
    "ring", ["59.3,18.0", "59.3,18.0 59.4,18.1", "59.3,18.0 59.4,18.1 59.3,18.0"]
)
def test_any_ring_of_fewer_than_four_points_encloses_no_area_and_is_dropped(ring: str) -> None:
    data = re.sub(
        rb"<polygon>[^<]*</polygon>", f"<polygon>{ring}</polygon>".encode(), load("imo_is.xml")
    )
    result = cap.loads_lenient(data)
    assert [r.path for r in result.repairs] == [
        "info[0]/area[0]/polygon[0]",
        "info[1]/area[0]/polygon[0]",
    ]
    assert result.alert.area is None


def test_a_short_ring_of_three_distinct_points_is_closed_not_dropped() -> None:
    """Three distinct points are closed to four (an area), as before: only no-area rings go."""
    data = re.sub(
        rb"<polygon>[^<]*</polygon>",
        b"<polygon>59.3,18.0 59.4,18.1 59.3,18.2</polygon>",
        load("imo_is.xml"),
    )
    result = cap.loads_lenient(data)
    assert result.alert.infos[0].areas[0].polygons[0][-1] == (18.0, 59.3)
    assert result.alert.area is not None
