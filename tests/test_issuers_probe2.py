"""Real alerts from real issuers, end to end: CAP as producers send it, kinds, issuer authority.

Documents written the way other producers write CAP 1.2 (SOS Alarm, MeteoAlarm/SMHI, NWS/IPAWS,
German MoWaS, the police), read with :func:`geotarget.cap.loads` and targeted over the built-in
Swedish regions with a policy file's recognition rules and issuers. Each verdict and set of
recipients is compared with a small oracle written from the documented semantics only
(docs/who_is_told.rst sections 1 and 2, docs/rollout.rst's policy file tables): rules matched
one info block at a time, senders compared exactly, authority as the finest regions an area's
interior reaches (shapely on a 720-gon of geodesic rim points, the scenarios kept well clear of
borders), membership by ``pyproj.Geod.inv`` and shapely ``covers``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry as sg
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import PositionIndex, Positions, cap, load_policy, sweden
from geotarget.errors import InvalidCAP
from geotarget.targeting import Targeter

GEOD = pyproj.Geod(ellps="WGS84")
UTC = dt.timezone.utc
CEST = dt.timezone(dt.timedelta(hours=2))
T0 = dt.datetime(2024, 5, 20, 16, 0, tzinfo=CEST)
AT = dt.datetime(2024, 5, 20, 14, 30, tzinfo=UTC)

POLICY = """
format_version = 1
timezone = "Europe/Stockholm"
country = "SE"

[[kinds.explosion.phases]]
starts_at = 2024-04-15T00:00:00
regions = ["SE"]

[[kinds.crime_modus.phases]]
starts_at = 2024-04-15T00:00:00
regions = ["01"]

[[kinds.tip_request.phases]]
starts_at = 2024-04-15T00:00:00
regions = ["01"]

[[kinds.severe_weather.phases]]
starts_at = 2024-04-15T00:00:00
regions = ["SE"]

[[recognition]]
name = "meteo:wind"
kind = "severe_weather"
event_codes = [{ value_name = "awareness_type", value = "1; Wind" }]

[[recognition]]
name = "sos:expl"
kind = "explosion"
event_codes = [{ value_name = "SOSAlarm:event", value = "EXPL" }]
senders = ["larm@sosalarm.se"]

[[recognition]]
name = "bbk:expl"
kind = "explosion"
event_codes = [{ value_name = "profile:DE-BBK-EVENTCODE:01.00", value = "BBK-EVC-040" }]

[[recognition]]
name = "same:cem"
kind = "explosion"
categories = ["Safety"]
event_codes = [{ value_name = "SAME", value = "CEM" }]

[[issuers]]
name = "polisen-nationellt"
senders = ["polisen@polisen.se"]
kinds = ["explosion", "crime_modus", "tip_request"]
regions = ["SE"]
acts_for = ["polisen-stockholm"]

[[issuers]]
name = "polisen-stockholm"
senders = ["stockholm@polisen.se"]
kinds = ["crime_modus", "tip_request"]
regions = ["PR-STOCKHOLM"]

[[issuers]]
name = "sos-alarm"
senders = ["larm@sosalarm.se"]
kinds = ["explosion"]
regions = ["SE"]

[[issuers]]
name = "smhi"
senders = ["https://www.smhi.se"]
kinds = ["severe_weather"]
regions = ["SE"]

[[issuers]]
name = "solna"
senders = ["solna@polisen.se"]
kinds = ["tip_request"]
regions = ["0184"]

[[issuers]]
name = "mowas"
senders = ["opendata@mowas.bund.de"]
kinds = ["explosion"]
regions = ["12"]

[location_rules.severe_weather]
include_ambiguous = true
location = { max_age_s = 3600, accuracy = 1.0 }
"""


# --- the oracle's copy of the policy (written out again, not read from the file) -------------

ISSUERS = {
    "polisen@polisen.se": ("explosion crime_modus tip_request", ["SE"]),
    "stockholm@polisen.se": ("crime_modus tip_request", ["PR-STOCKHOLM"]),
    "larm@sosalarm.se": ("explosion", ["SE"]),
    "https://www.smhi.se": ("severe_weather", ["SE"]),
    "solna@polisen.se": ("tip_request", ["0184"]),
    "opendata@mowas.bund.de": ("explosion", ["12"]),
}
#: (kind, events, categories, event codes, senders), the file's rules then the pilot's.
RULES: list[tuple[str, list[str], list[str], list[tuple[str, str]], list[str]]] = [
    ("severe_weather", [], [], [("awareness_type", "1; Wind")], []),
    ("explosion", [], [], [("SOSAlarm:event", "EXPL")], ["larm@sosalarm.se"]),
    ("explosion", [], [], [("profile:DE-BBK-EVENTCODE:01.00", "BBK-EVC-040")], []),
    ("explosion", [], ["Safety"], [("SAME", "CEM")], []),
    ("explosion", ["Explosion", "Explosionsrisk", "Risk för explosion", "Explosion risk",
                   "Risk of explosion"], [], [], []),
    ("crime_modus", ["Brottsmodus", "Information om brottsmodus", "Crime modus",
                     "Crime modus information"], ["Security"], [], []),
    ("tip_request", ["Tips", "Tipsförfrågan", "Polisen efterfrågar tips", "Tip request",
                     "Request for tips", "Police request for tips"], ["Security"], [], []),
]  # fmt: skip
BEYOND_BORDER = {"explosion": True, "crime_modus": False, "tip_request": False}
BEYOND_BORDER["severe_weather"] = False
ENABLED = {"explosion": ["SE"], "crime_modus": ["01"], "tip_request": ["01"]}
ENABLED["severe_weather"] = ["SE"]

SPOTS = {
    "sthlm": (18.0686, 59.3293),
    "solna": (18.0000, 59.3600),
    "malmo": (13.0038, 55.6050),
    "visby": (18.2948, 57.6348),
    "uppsala": (17.6389, 59.8586),
    "cph": (12.5683, 55.6761),
}


def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())
    return re.sub(r"\s+", " ", folded).strip()


class Oracle:
    """Verdicts and recipients from the documented rules, for the scenarios below."""

    def __init__(self) -> None:
        h = sweden.hierarchy()
        self.h = h
        finest = h.region_set("municipality")
        self.codes = list(finest.codes)
        self.geoms = [finest[c].geometry for c in self.codes]
        self.tree = shapely.STRtree(self.geoms)

    def within(self, codes: list[str]) -> set[str]:
        """The municipalities within ``codes`` (any level)."""
        return {m for m in self.codes if {m, *self.h.ancestors(m)} & set(codes)}

    def reached(self, parts: list[tuple[Any, ...]]) -> set[str]:
        """The municipalities whose interior the parts' interiors meet."""
        out = set()
        for p in parts:
            s = _shape(p)
            for i in self.tree.query(s):
                if s.relate_pattern(self.geoms[i], "T********"):
                    out.add(self.codes[i])
        return out

    def municipality(self, lon: float, lat: float) -> str | None:
        """The municipality covering a point, or None abroad."""
        pt = sg.Point(lon, lat)
        return next((self.codes[i] for i in self.tree.query(pt) if self.geoms[i].covers(pt)), None)

    def block_kind(self, sender: str, block: dict[str, Any]) -> str | None:
        """The kind one info block names: its geotarget:kind code, else the first rule met."""
        for name, value in block.get("codes", []):
            if name.strip(" \t\r\n") == "geotarget:kind":
                return str(value)
        for kind, events, categories, codes, senders in RULES:
            if senders and sender not in senders:
                continue
            if events and _norm(block["event"]) not in {_norm(e) for e in events}:
                continue
            if categories and not set(categories) & set(block.get("categories", ["Safety"])):
                continue
            have = {(n.strip(" \t\r\n"), _norm(v)) for n, v in block.get("codes", [])}
            if codes and not have & {(n, _norm(v)) for n, v in codes}:
                continue
            return kind
        return None

    def verdict(
        self, msg: dict[str, Any], ids: list[str], lon: Any, lat: Any
    ) -> tuple[str, list[str]]:
        """The verdict and the sorted recipients the documented rules give."""
        issuer = ISSUERS.get(msg["sender"])
        if issuer is None:
            return "UNKNOWN_ISSUER", []
        kinds = [self.block_kind(msg["sender"], b) for b in msg["blocks"]]
        named = {k for k in kinds if k}
        if len(named) != 1:
            return "UNRECOGNISED_KIND", []
        kind = named.pop()
        parts = [p for b in msg["blocks"] for p in _parts(b)]
        if None in kinds:  # a kindless block's parts must lie well inside the kind's
            named_parts = [_parts(b) for b, k in zip(msg["blocks"], kinds, strict=True) if k]
            known = shapely.union_all([_shape(p) for ps in named_parts for p in ps])
            for b, k in zip(msg["blocks"], kinds, strict=True):
                if k is None and not all(known.buffer(-1e-5).covers(_shape(p)) for p in _parts(b)):
                    return "UNRECOGNISED_KIND", []
        may, regions = issuer
        if kind not in may.split():
            return "NOT_AUTHORISED", []
        if self.reached(parts) - self.within(regions):
            return "NOT_AUTHORISED", []
        if not parts:
            return "NO_AREA", []
        enabled = self.within(ENABLED[kind])
        if not self.reached(parts) & enabled:
            return "AREA_OUTSIDE_ROLLOUT", []
        inside = np.zeros(len(ids), dtype=bool)
        for p in parts:
            inside |= _inside(p, lon, lat)
        told = []
        for i, ok, x, y in zip(ids, inside, lon, lat, strict=True):
            m = self.municipality(x, y)
            if ok and ((m in enabled) if m else BEYOND_BORDER[kind]):
                told.append(i)
        return "DELIVER", sorted(told)


def _parts(block: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [p for a in block.get("areas", []) for p in a.get("parts", [])]


def _shape(part: tuple[Any, ...]) -> Any:
    if part[0] == "circle":
        _, lon, lat, r = part
        az = np.linspace(0, 360, 720, endpoint=False)
        x, y, _ = GEOD.fwd(np.full(720, lon), np.full(720, lat), az, np.full(720, r))
        return sg.Polygon(zip(x, y, strict=True))
    return sg.Polygon(part[1])


def _inside(part: tuple[Any, ...], lon: Any, lat: Any) -> Any:
    if part[0] == "circle":
        n = len(lon)
        _, _, d = GEOD.inv(np.full(n, part[1]), np.full(n, part[2]), lon, lat)
        return np.asarray(d) <= part[3]
    return shapely.covers(sg.Polygon(part[1]), shapely.points(lon, lat))


# --- CAP as producers write it ------------------------------------------------------------------


def _time(t: dt.datetime) -> str:
    s = t.isoformat()
    return s[:-6] + "-00:00" if t.utcoffset() == dt.timedelta(0) else s


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(msg: dict[str, Any], *, prefix: str = "", indent: str = "  ") -> bytes:
    """The message as CAP 1.2 text: ``prefix`` (``cap:``, as NWS writes) and ``indent`` vary."""
    p = f"{prefix}:" if prefix else ""
    out: list[str] = []

    def leaf(depth: int, name: str, text: str) -> None:
        out.append(f"{indent * depth}<{p}{name}>{_esc(text)}</{p}{name}>")

    def pair(depth: int, name: str, value_name: str, value: str) -> None:
        out.append(f"{indent * depth}<{p}{name}>")
        leaf(depth + 1, "valueName", value_name)
        leaf(depth + 1, "value", value)
        out.append(f"{indent * depth}</{p}{name}>")

    ns = f"xmlns{':' + prefix if prefix else ''}"
    out.append('<?xml version="1.0" encoding="UTF-8"?>')
    out.append(f'<{p}alert {ns}="urn:oasis:names:tc:emergency:cap:1.2">')
    leaf(1, "identifier", msg["identifier"])
    leaf(1, "sender", msg["sender"])
    leaf(1, "sent", _time(msg.get("sent", T0)))
    leaf(1, "status", "Actual")
    leaf(1, "msgType", msg.get("msgType", "Alert"))
    leaf(1, "scope", "Public")
    if msg.get("refs"):
        leaf(1, "references", " ".join(f"{s},{i},{_time(t)}" for s, i, t in msg["refs"]))
    for b in msg["blocks"]:
        out.append(f"{indent}<{p}info>")
        leaf(2, "language", b.get("lang", "en-US"))
        for c in b.get("categories", ["Safety"]):
            leaf(2, "category", c)
        leaf(2, "event", b["event"])
        leaf(2, "urgency", "Immediate")
        leaf(2, "severity", "Severe")
        leaf(2, "certainty", "Likely")
        for n, v in b.get("codes", []):
            pair(2, "eventCode", n, v)
        leaf(2, "onset", _time(b.get("onset", T0)))
        leaf(2, "expires", _time(b.get("expires", T0 + dt.timedelta(hours=2))))
        leaf(2, "headline", b["event"])
        for n, v in b.get("params", []):
            pair(2, "parameter", n, v)
        for a in b.get("areas", []):
            out.append(f"{indent * 2}<{p}area>")
            leaf(3, "areaDesc", "area")
            for part in sorted(a.get("parts", []), key=lambda q: q[0] != "poly"):
                if part[0] == "circle":
                    leaf(3, "circle", f"{part[2]!r},{part[1]!r} {part[3] / 1000!r}")
                else:
                    leaf(3, "polygon", " ".join(f"{y!r},{x!r}" for x, y in part[1]))
            for n, v in a.get("geocodes", []):
                pair(3, "geocode", n, v)
            out.append(f"{indent * 2}</{p}area>")
        out.append(f"{indent}</{p}info>")
    out.append(f"</{p}alert>")
    return ("\n".join(out) + "\n").encode()


def block(event: str, lang: str = "sv-SE", parts: Any = (), **kw: Any) -> dict[str, Any]:
    return {"event": event, "lang": lang, "areas": [{"parts": list(parts)}] if parts else [], **kw}


STHLM = ("circle", 18.0686, 59.3293, 600.0)
SOLNA = ("circle", 18.0, 59.36, 300.0)
UPPSALA = ("circle", 17.6389, 59.8586, 500.0)
MALMO = ("circle", 13.0038, 55.605, 700.0)
VISBY = ("circle", 18.2948, 57.6348, 800.0)
TIPS: dict[str, Any] = {"categories": ["Security"]}
WIND = [("awareness_level", "2; yellow; Moderate"), ("awareness_type", "1; Wind")]
BBK = [("profile:DE-BBK-EVENTCODE:01.00", "BBK-EVC-040")]
RING = [(18.06, 59.33), (18.072, 59.33), (18.072, 59.336), (18.06, 59.336), (18.06, 59.33)]

SCENARIOS: dict[str, dict[str, Any]] = {
    # SOS Alarm: its own event code, only from its own sender; two languages
    "sos-code": {"sender": "larm@sosalarm.se", "blocks": [
        block("Explosion i flerbostadshus", parts=[STHLM], codes=[("SOSAlarm:event", "expl")]),
        block("Explosion in a block of flats", "en", [STHLM], codes=[("SOSAlarm:event", " EXPL ")]),
    ]},
    # lookalike senders: case, trailing dot, Cyrillic o, fullwidth @, zero-width space
    **{f"lookalike-{k}": {"sender": s, "blocks": [
        block("Explosion i flerbostadshus", parts=[STHLM], codes=[("SOSAlarm:event", "EXPL")])]}
       for k, s in enumerate(["Larm@sosalarm.se", "larm@sosalarm.se.", "larm@s\u043esalarm.se",
                              "larm\uff20sosalarm.se", "larm@sosalarm.se\u200b"])},
    # NWS/IPAWS Civil Emergency Message: SAME code, parameters, polygon and geocodes
    "nws-cem": {"sender": "polisen@polisen.se", "prefix": "cap", "indent": "\t", "blocks": [
        block("Civil Emergency Message", "en-US", codes=[("SAME", "CEM")],
              params=[("EAS-ORG", "CIV"), ("WMOidentifier", "WOUS44 KFWD 201604")],
              areas=[{"parts": [("poly", RING)], "geocodes": [("SAME", "048439")]}])]},
    "nws-cem-met": {"sender": "polisen@polisen.se", "blocks": [
        block("Civil Emergency Message", "en-US", categories=["Met"], codes=[("SAME", "CEM")],
              areas=[{"parts": [("poly", RING)]}])]},
    # MeteoAlarm/SMHI: geocodes only (nothing to target), then with a circle
    "meteo-geocodes": {"sender": "https://www.smhi.se", "blocks": [
        block("Gul varning för vind", categories=["Met"], codes=WIND,
              areas=[{"geocodes": [("EMMA_ID", "SE009")]}]),
        block("Yellow warning for wind", "en-GB", categories=["Met"], codes=WIND,
              areas=[{"geocodes": [("EMMA_ID", "SE009")]}])]},
    "meteo-visby": {"sender": "https://www.smhi.se", "blocks": [
        block("Gul varning för vind", parts=[VISBY], categories=["Met"], codes=WIND),
        block("Yellow warning for wind", "en-GB", [VISBY], categories=["Met"],
              codes=[("awareness_type", "1;   WIND")])]},
    # police regions: an issuer allowed a kind only in its own regions
    "stockholm-tips-city": {"sender": "stockholm@polisen.se", "blocks": [
        block("Polisen efterfrågar tips", parts=[STHLM], **TIPS),
        block("Police request for tips", "en", [STHLM], **TIPS)]},
    "stockholm-tips-uppsala": {"sender": "stockholm@polisen.se", "blocks": [
        block("Polisen efterfrågar tips", parts=[UPPSALA], **TIPS)]},
    "stockholm-explosion": {"sender": "stockholm@polisen.se", "blocks": [
        block("Explosion", parts=[STHLM])]},
    "solna-tips-solna": {"sender": "solna@polisen.se", "blocks": [
        block("Tips", parts=[SOLNA], **TIPS)]},
    "solna-tips-city": {"sender": "solna@polisen.se", "blocks": [
        block("Tips", parts=[STHLM], **TIPS)]},
    "national-tips-uppsala": {"sender": "polisen@polisen.se", "blocks": [
        block("Tips", parts=[UPPSALA], **TIPS)]},
    # blocks naming two kinds; a kindless block inside and beyond the kind's area
    "two-kinds": {"sender": "polisen@polisen.se", "blocks": [
        block("Explosion", parts=[STHLM]), block("Tips", "en", [STHLM], **TIPS)]},
    "kindless-within": {"sender": "polisen@polisen.se", "blocks": [
        block("Explosion", parts=[STHLM]),
        block("Gas leak", "en", [("circle", 18.0686, 59.3293, 300.0)])]},
    "kindless-beyond": {"sender": "polisen@polisen.se", "blocks": [
        block("Explosion", parts=[STHLM]),
        block("Gas leak", "en", [("circle", 18.0686, 59.3293, 900.0)])]},
    # German MoWaS: BBK event code, issuer limited to Skåne
    "mowas-malmo": {"sender": "opendata@mowas.bund.de", "blocks": [
        block("Gefahreninformation", "de-DE", [MALMO], codes=BBK,
              params=[("instructionCode", "BBK-ISC-082")]),
        block("Danger information", "en-US", [MALMO], codes=BBK)]},
    "mowas-stockholm": {"sender": "opendata@mowas.bund.de", "blocks": [
        block("Gefahreninformation", "de-DE", [STHLM], codes=BBK)]},
    # geotarget's own code, pretty-printed, names the kind over the event text
    "kind-code-padded": {"sender": "stockholm@polisen.se", "blocks": [
        block("Explosion", parts=[STHLM], codes=[("\n        geotarget:kind\n      ", "tip_request")],
              **TIPS)]},
}  # fmt: skip


@pytest.fixture(scope="module")
def world() -> tuple[Targeter, Oracle, PositionIndex, list[str], Any, Any]:
    with tempfile.TemporaryDirectory() as d:  # load_policy reads a file, as a service does
        file = Path(d) / "policy.toml"
        file.write_text(POLICY, encoding="utf-8")
        policy = load_policy(file, catalog=sweden.hierarchy())
    targeter = Targeter(
        sweden.hierarchy(),
        policy.rollout,
        recognition=policy.recognition,
        issuers=policy.issuers,
        location_rules=policy.location_rules,
    )
    ids, lon, lat = [], [], []
    for name, (x, y) in SPOTS.items():
        for i, j in itertools.product(range(-4, 5), repeat=2):
            ids.append(f"{name}{i:+d}{j:+d}")
            lon.append(x + i * 0.0025)
            lat.append(y + j * 0.00125)
    lons, lats = np.array(lon), np.array(lat)
    index = PositionIndex(Positions(ids, lons, lats, accuracy_m=np.ones(len(ids)), observed_at=AT))
    return targeter, Oracle(), index, ids, lons, lats


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_producers_documents_get_the_oracles_verdict_and_recipients(name: str, world: Any) -> None:
    targeter, oracle, index, ids, lon, lat = world
    msg = {"identifier": f"probe-{name}", **SCENARIOS[name]}
    doc = render(msg, prefix=msg.get("prefix", ""), indent=msg.get("indent", "  "))
    result = targeter.target(cap.loads(doc), index, AT)
    verdict, told = oracle.verdict(msg, ids, lon, lat)
    assert verdict != "DELIVER" or told  # each delivered scenario tells somebody
    assert (result.verdict.value, sorted(map(str, result.recipients.tolist()))) == (verdict, told)


def test_a_pretty_printed_kind_code_or_tip_parameter_is_geotarget_s_own() -> None:
    """A ``valueName`` with surrounding whitespace is compared as recognition rules compare it.

    It was ignored: the kind then came from the event text (``Explosion``), another kind than
    the one the issuer named, and a malformed value or a contradiction passed unseen.
    """
    padded = "\n          geotarget:kind\n        "
    msg: dict[str, Any] = {"identifier": "P-1", "sender": "stockholm@polisen.se", "blocks": [
        block("Explosion", parts=[STHLM], codes=[(padded, "tip_request")],
              params=[(" geotarget:tip-phone ", "114 14")], **TIPS)]}  # fmt: skip
    alert = cap.loads(render(msg))
    assert alert.kind == alert.infos[0].kind == "tip_request"
    assert [c.uri for c in alert.tip_channels] == ["tel:11414"]
    bad: dict[str, Any] = {
        **msg,
        "blocks": [{**msg["blocks"][0], "codes": [(padded, "Explosion")]}],
    }
    with pytest.raises(InvalidCAP) as err:
        cap.loads(render(bad))
    assert [p.path for p in err.value.problems] == ["info[0]/eventCode[0]"]
    assert "'Explosion'" in err.value.problems[0].message
    two: dict[str, Any] = {**msg, "blocks": [{**msg["blocks"][0],
                              "codes": [(padded, "tip_request"), ("geotarget:kind", "explosion")]}]}  # fmt: skip
    with pytest.raises(InvalidCAP) as err:
        cap.loads(render(two))
    assert [p.path for p in err.value.problems] == ["info[0]/eventCode[1]"]


_ISSUER = (
    '[[issuers]]\nname = "a"\nsenders = ["a@b.se"]\nkinds = ["tip_request"]\nregions = ["01"]\n'
)
_RULE = '[[recognition]]\nname = "r"\nkind = "explosion"\nevents = ["Explosion"]\n'


@pytest.mark.parametrize(
    ("section", "key", "table"),
    [
        ("issuers", "regions", '{ "01" = true, "SE" = false }'),
        ("issuers", "senders", '{ "a@b.se" = true, "x@y.se" = false }'),
        ("issuers", "kinds", "{ tip_request = true, explosion = false }"),
        ("issuers", "acts_for", "{ a = false }"),
        ("issuers", "certificates", '{ "sos.pem" = false }'),
        ("recognition", "events", '{ "Explosion" = true, "Tips" = false }'),
        ("recognition", "senders", '{ "a@b.se" = true }'),
        ("recognition", "categories", "{ Safety = true }"),
        ("recognition", "event_codes", '{ value_name = "SAME", value = "CEM" }'),
    ],
)
def test_a_table_where_a_list_belongs_is_refused_not_read_by_its_keys(
    section: str, key: str, table: str
) -> None:
    """``regions = { "01" = true, "SE" = false }`` was read as its keys: authority over Sweden."""
    from geotarget.errors import InvalidPolicy
    from geotarget.issuers import Issuers
    from geotarget.kinds import Recognizer

    text = _ISSUER if section == "issuers" else _RULE
    lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
    doc = "\n".join([*lines, f"{key} = {table}"]) + "\n"
    read = Issuers.from_toml if section == "issuers" else Recognizer.from_toml
    with pytest.raises(InvalidPolicy) as err:
        read(doc)
    (problem,) = err.value.problems
    assert problem.path == f"{section}[0].{key}"
    assert "(got a table {" in problem.message or "must be an array" in problem.message


def test_the_api_refuses_a_mapping_for_a_list_too() -> None:
    from geotarget.errors import InvalidType
    from geotarget.issuers import Issuer
    from geotarget.kinds import RecognitionRule

    with pytest.raises(InvalidType, match=r"regions must be a list of str \(got a table"):
        Issuer(name="a", senders=["a@b.se"], kinds=["explosion"], regions={"01": True, "SE": False})
    with pytest.raises(InvalidType, match=r"events must be a list of str \(got a table"):
        RecognitionRule(name="r", kind="explosion", events={"Explosion": True, "Tips": False})


@pytest.mark.parametrize(
    ("sender", "why"),
    [
        ("a\x00b@polisen.se", "characters XML 1.0 allows"),
        ("a\ud800@polisen.se", "characters XML 1.0 allows"),
        ("a" * 250 + "@polisen.se", "at most 256 characters"),
        ("polisen@polisen.se\u00a0", "must not contain '\\xa0'"),
    ],
)
def test_a_sender_no_document_can_carry_is_refused_in_the_issuers_and_rules(
    sender: str, why: str
) -> None:
    """Such a sender never matches a document's: the issuer or rule was silently dead."""
    import json

    from geotarget.errors import InvalidPolicy
    from geotarget.issuers import Issuers
    from geotarget.kinds import Recognizer

    issuers = {"issuers": [{"name": "a", "senders": ["ok@polisen.se", sender],
                            "kinds": ["explosion"], "regions": ["SE"]}]}  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(json.dumps(issuers))
    (problem,) = err.value.problems
    assert problem.path == "issuers[0].senders"
    assert "senders[1] " in problem.message and why in problem.message
    rules = {"recognition": [{"name": "r", "kind": "explosion", "events": ["x"],
                              "senders": [sender]}]}  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_json(json.dumps(rules))
    (problem,) = err.value.problems
    assert problem.path == "recognition[0].senders" and why in problem.message


def test_every_bad_sender_of_an_issuer_is_named_at_once() -> None:
    from geotarget.errors import InvalidInput
    from geotarget.issuers import Issuer

    with pytest.raises(InvalidInput) as err:
        Issuer(
            name="a", senders=["x y@se", "ok@se", "", "a,b"], kinds=["explosion"], regions=["SE"]
        )
    message = str(err.value)
    assert "senders[0] " in message and "senders[2] " in message and "senders[3] " in message
    assert "senders[1] " not in message


def test_an_event_no_document_can_carry_is_refused_in_a_rule() -> None:
    from geotarget.errors import InvalidInput
    from geotarget.kinds import RecognitionRule

    with pytest.raises(InvalidInput, match=r"events\[1\] must hold only characters XML 1.0"):
        RecognitionRule(name="r", kind="explosion", events=["Explosion", "Explo\x00sion"])


def test_a_positive_duration_under_a_microsecond_is_refused_at_its_key() -> None:
    """``stale.max_age_s = 1e-7`` read as 0 and was refused at ``stale``, without its value."""
    from geotarget import kinds
    from geotarget.errors import InvalidPolicy

    with pytest.raises(InvalidPolicy) as err:
        kinds.location_rules_from_toml(
            "[location_rules.chem]\ninclude_ambiguous = true\nlocation = { max_age_s = 0 }\n"
            "stale = { max_age_s = 1e-7, margin_m = 1 }\n"
        )
    (problem,) = err.value.problems
    assert problem.path == "location_rules.chem.stale.max_age_s"
    assert "1e-07" in problem.message and "under a microsecond" in problem.message


@pytest.mark.parametrize("count", [1.5, 1e20, 2**53 + 1])
def test_a_recipient_guard_a_policy_file_cannot_state_is_refused_when_built(count: float) -> None:
    """Such a guard was kept, and written by location_rules_to_toml to a file its reader refused."""
    from geotarget.errors import InvalidInput
    from geotarget.targeting import KindRules

    with pytest.raises(InvalidInput, match=r"max_recipients must be an integer > 0 and <= 9007"):
        KindRules(include_ambiguous=True, max_recipients=count)


@pytest.mark.parametrize("count", [1, 10.0, np.int64(600_000), 2**53])
def test_every_recipient_guard_kind_rules_hold_reads_back_from_the_file(count: Any) -> None:
    from geotarget import kinds
    from geotarget.targeting import KindRules

    rules = {"chem": KindRules(include_ambiguous=True, max_recipients=count)}
    assert type(rules["chem"].max_recipients) is int
    assert kinds.location_rules_from_toml(kinds.location_rules_to_toml(rules)) == rules
    assert kinds.location_rules_from_dict(kinds.location_rules_to_dict(rules)) == rules


# --- recognition against the documented rule, on random rules and blocks ------------------------

_EVENTS = [
    "Explosion",
    "EXPLOSION ",
    " risk  för\texplosion",
    "Straße",
    "STRASSE",
    "Tips",
    "tips\u00a0",
]
_CODES = [
    ("SAME", "CEM"),
    (" SAME\n", "cem "),
    ("same", "CEM"),
    ("SOS", "expl"),
    ("geotarget:x", "y"),
]
_SENDERS = ["a@polisen.se", "A@polisen.se", "b@polisen.se"]
_CATS = ["Safety", "Security", "Met"]


@st.composite
def _rules(draw: st.DrawFn) -> list[Any]:
    from geotarget.alerts import NamedValue
    from geotarget.kinds import RecognitionRule

    out = []
    for n in range(draw(st.integers(1, 5))):
        events = draw(st.lists(st.sampled_from(_EVENTS), max_size=2))
        codes = draw(st.lists(st.sampled_from(_CODES), max_size=2, min_size=0 if events else 1))
        out.append(
            RecognitionRule(
                name=f"r{n}",
                kind=draw(st.sampled_from(["explosion", "tip_request", "crime_modus"])),
                events=events,
                categories=draw(st.lists(st.sampled_from(_CATS), max_size=2)),
                event_codes=[NamedValue(*c) for c in codes],
                senders=draw(st.lists(st.sampled_from(_SENDERS), max_size=2)),
            )
        )
    return out


@st.composite
def _alerts(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    blocks = [
        {
            "event": draw(st.sampled_from(_EVENTS)),
            "categories": draw(st.lists(st.sampled_from(_CATS), min_size=1, max_size=2)),
            "codes": draw(st.lists(st.sampled_from(_CODES), max_size=2)),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    return draw(st.sampled_from(_SENDERS)), blocks


def _oracle_block(rules: list[Any], sender: str, block: dict[str, Any]) -> str | None:
    """The first rule all of whose set conditions this block (and the sender) meet."""
    for r in rules:  # written from docs/rollout.rst's table of [[recognition]] keys
        events = {_norm(e) for e in r.events}
        codes = {(c.value_name.strip(" \t\r\n"), _norm(c.value)) for c in r.event_codes}
        have = {(n.strip(" \t\r\n"), _norm(v)) for n, v in block["codes"]}
        if (
            (not r.senders or sender in r.senders)
            and (not events or _norm(block["event"]) in events)
            and (not r.categories or {c.value for c in r.categories} & set(block["categories"]))
            and (not codes or codes & have)
        ):
            return str(r.kind)
    return None


@settings(max_examples=300)
@given(_rules(), _alerts())
def test_recognition_agrees_with_the_documented_rule(
    rules: list[Any], alert: tuple[str, list[dict[str, Any]]]
) -> None:
    from geotarget.alerts import Alert, Info, NamedValue
    from geotarget.kinds import Recognizer

    sender, blocks = alert
    infos = [
        Info(categories=b["categories"], event=b["event"], urgency="Immediate",
             severity="Severe", certainty="Likely",
             event_codes=[NamedValue(*c) for c in b["codes"]])
        for b in blocks
    ]  # fmt: skip
    built = Alert(identifier="R-1", sender=sender, sent=T0, status="Actual", msg_type="Alert",
                  scope="Public", infos=infos)  # fmt: skip
    recognizer = Recognizer(rules)
    expected = [_oracle_block(rules, sender, b) for b in blocks]
    assert recognizer.block_kinds(built) == expected
    got = recognizer.recognise(built)
    first = next(  # the first rule (in order) that some block meets
        (r for r in rules if any(_oracle_block([r], sender, b) for b in blocks)), None
    )
    assert (None if got is None else (got.kind, got.rule)) == (
        None if first is None else (first.kind, first.name)
    )


def test_what_recognition_looked_at_is_bounded_however_large_the_document() -> None:
    """An unrecognised alert of thousands of blocks put megabytes into one reason (a log line)."""
    from geotarget import pilot
    from geotarget.alerts import Alert, Info, NamedValue

    infos = [
        Info(language="sv-SE", categories=["Safety"], event=f"Händelse {i} " + "x" * 200,
             urgency="Immediate", severity="Severe", certainty="Likely",
             event_codes=[NamedValue(f"code{i}", "v" * 300)])
        for i in range(2000)
    ] + [Info(language="en", categories=["Met"], event="y" * 100_000, urgency="Immediate",
              severity="Severe", certainty="Likely")]  # fmt: skip
    alert = Alert(identifier="U-1", sender="polisen@polisen.se", sent=T0, status="Actual",
                  msg_type="Alert", scope="Public", infos=infos)  # fmt: skip
    looked = pilot.RECOGNITION.looked_at(alert)
    assert len(looked) < 3_000
    assert "and 1,991 more" in looked and "and 1,990 more" in looked  # events, codes
    assert looked.startswith("event 'Händelse 0 xxx") and "categories Met, Safety" in looked


def test_recognition_work_grows_with_the_blocks_not_blocks_times_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each block's event is normalised once, and only the rules naming it are tried.

    Every block was tried against every rule, its event normalised again for each: a document
    of 3,000 blocks under a policy of 500 rules took seconds to recognise (and again to
    compare its blocks). Counted, not timed.
    """
    from geotarget import kinds
    from geotarget.alerts import Alert, Info, NamedValue

    calls = 0
    real = kinds.normalise_event

    def counted(text: str) -> str:
        nonlocal calls
        calls += 1
        return real(text)

    rules = [
        kinds.RecognitionRule(name=f"r{i}", kind="explosion", events=[f"Event {i}"],
                              event_codes=[NamedValue("X", f"v{i}")])
        for i in range(100)
    ]  # fmt: skip
    recognizer = kinds.Recognizer(rules)
    infos = [
        Info(categories=["Safety"], event=f"Unknown {j}", urgency="Immediate",
             severity="Severe", certainty="Likely", event_codes=[NamedValue("X", "w")])
        for j in range(200)
    ] + [Info(categories=["Safety"], event="EVENT 42", urgency="Immediate", severity="Severe",
              certainty="Likely", event_codes=[NamedValue("X", "V42")])]  # fmt: skip
    alert = Alert(identifier="W-1", sender="s@polisen.se", sent=T0, status="Actual",
                  msg_type="Alert", scope="Public", infos=infos)  # fmt: skip
    monkeypatch.setattr(kinds, "normalise_event", counted)
    assert recognizer.recognise(alert) == kinds.Recognition("explosion", "r42")
    assert recognizer.block_kinds(alert) == [None] * 200 + ["explosion"]
    assert calls <= 2 * 2 * len(infos)  # two calls, each once per event and event code
