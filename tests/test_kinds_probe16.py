"""Kinds and issuers of another country (round 16): a Norwegian integrator's own policy.

No ``geotarget.sweden``: a made-up Norway of boxes, the kinds ``flood``, ``avalanche`` and
``landslide`` and the issuers ``nve`` (the whole country) and ``vestland`` (county 46 only),
declared once as Python objects and once in TOML and JSON policy files. Alerts are written as
issuers send them: events in fullwidth letters, with no-break or ideographic spaces, accents
written apart, several categories and event codes, senders in another case or as a
``mailto:`` URI or a URN. Oracle: a plain reading of the declared rules written here (its own
fullwidth, accent and space tables, no ``unicodedata``), and the boxes' codes for regions.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import attrs
import pyproj
import pytest
import shapely.geometry as sg
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import Circle, PositionIndex, Positions, load_policy
from geotarget.alerts import Alert, AlertArea, Info, NamedValue
from geotarget.errors import GeotargetError, InvalidInput, InvalidPolicy
from geotarget.issuers import Issuer, Issuers
from geotarget.kinds import RecognitionRule, Recognizer
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import RolloutPolicy
from geotarget.targeting import KindRules, Targeter, Verdict

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
NVE, VARSOM, VEST = "varsling@nve.no", "varsom@nve.no", "vest@politiet.no"
MET_NO = "urn:oid:2.49.0.0.578.0"

#: The rules as the integrator declares them: (name, kind, events, categories, codes, senders).
RULES: list[tuple[str, str, list[str], list[str], list[tuple[str, str]], list[str]]] = [
    ("flood", "flood", ["Flom", "Stormflo", "Översvämning"], ["Met", "Env"], [], []),
    ("aval-code", "avalanche", [], [], [("NO-VARSOM", "SNØSKRED")], []),
    ("aval", "avalanche", ["Snøskred", "Lavinfare"], [], [], [VARSOM]),
    ("slide", "landslide", ["Jordskred", "Flom"], ["Geo"], [], []),
]
KINDS = ("flood", "avalanche", "landslide")


def _level(name: str, boxes: dict[str, tuple[float, float, float, float]]) -> RegionSet:
    return RegionSet(
        [Region(code=c, name=c, level=name, geometry=sg.box(*b)) for c, b in boxes.items()]
    )


REGIONS = RegionHierarchy(
    [
        _level("kommune", {"0301": (5, 59, 11, 60), "4601": (5, 60, 11, 61)}),
        _level("fylke", {"03": (5, 59, 11, 60), "46": (5, 60, 11, 61)}),
        _level("land", {"NO": (5, 59, 11, 61)}),
    ],
    {"0301": "03", "4601": "46", "03": "NO", "46": "NO"},
)


def _recognizer() -> Recognizer:
    return Recognizer(
        [
            RecognitionRule(
                name=name,
                kind=kind,
                events=events,
                categories=cats,
                event_codes=[NamedValue(n, v) for n, v in codes],
                senders=senders,
            )
            for name, kind, events, cats, codes, senders in RULES
        ]
    )


def _issuers() -> Issuers:
    return Issuers(
        [
            Issuer(name="nve", senders=[NVE, VARSOM, MET_NO], kinds=KINDS, regions=["NO"]),
            Issuer(name="vestland", senders=[VEST], kinds=["avalanche"], regions=["46"]),
        ]
    )


def _policy_document() -> dict[str, Any]:
    """The same policy as a file states it (JSON form; TOML written from it below)."""
    phase = {"starts_at": "2026-01-01T00:00:00", "regions": ["NO"]}
    return {
        "timezone": "Europe/Oslo",
        "country": "NO",
        "kinds": {k: {"phases": [phase]} for k in KINDS},
        "recognition": [
            {"name": name, "kind": kind}
            | ({"events": events} if events else {})
            | ({"categories": cats} if cats else {})
            | ({"event_codes": [{"value_name": n, "value": v} for n, v in codes]} if codes else {})
            | ({"senders": senders} if senders else {})
            for name, kind, events, cats, codes, senders in RULES
        ],
        "issuers": [
            {"name": "nve", "senders": [NVE, VARSOM, MET_NO], "kinds": list(KINDS)}
            | {"regions": ["NO"]},
            {"name": "vestland", "senders": [VEST], "kinds": ["avalanche"], "regions": ["46"]},
        ],
        "location_rules": {k: {"include_ambiguous": True} for k in KINDS},
    }


def _toml(doc: dict[str, Any]) -> str:
    """A TOML text of the policy, written by hand (the oracle of the file form)."""

    def val(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v, ensure_ascii=False)

    lines = [f'timezone = "{doc["timezone"]}"', f'country = "{doc["country"]}"']
    for kind in KINDS:
        lines += [f"[[kinds.{kind}.phases]]", "starts_at = 2026-01-01T00:00:00",
                  'regions = ["NO"]']  # fmt: skip
    for section in ("recognition", "issuers"):
        for entry in doc[section]:
            lines.append(f"[[{section}]]")
            lines += [f"{k} = {val(v)}" for k, v in entry.items()]
    for kind in KINDS:
        lines += [f"[location_rules.{kind}]", "include_ambiguous = true"]
    return "\n".join(lines) + "\n"


def _targeter(recognition: Recognizer | None = None, issuers: Issuers | None = None) -> Targeter:
    rollout = RolloutPolicy.from_dict(_policy_document())
    return Targeter(
        REGIONS,
        rollout,
        recognition=_recognizer() if recognition is None else recognition,
        issuers=_issuers() if issuers is None else issuers,
        location_rules={k: KindRules(include_ambiguous=True) for k in KINDS},
    )


def _info(event: str, cats: list[str], codes: list[tuple[str, str]], area: Any) -> Info:
    return Info(
        language="nb-NO",
        categories=cats,
        event=event,
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        event_codes=[NamedValue(n, v) for n, v in codes],
        areas=[AlertArea.from_area("Område", area)],
    )


def _alert(
    event: str = "Flom",
    *,
    sender: str = NVE,
    cats: list[str] | None = None,
    codes: list[tuple[str, str]] | None = None,
    area: Any = None,
    ident: str = "N-1",
) -> Alert:
    area = Circle(8.0, 59.5, 1000.0) if area is None else area
    return Alert(
        identifier=ident,
        sender=sender,
        status="Actual",
        msg_type="Alert",
        scope="Public",
        infos=[_info(event, ["Met"] if cats is None else cats, codes or [], area)],
        sent=T0,
    )


def _devices() -> PositionIndex:
    return PositionIndex(Positions(["oslo", "bergen"], [8.0, 8.0], [59.5, 60.5], observed_at=T0))


# -- the oracle: a plain reading of the declared rules ----------------------------------------

#: Accented letters written apart (a base letter and a combining mark), as NFD writes them.
APART = {"ö": "o\u0308", "Ö": "O\u0308", "å": "a\u030a", "ä": "a\u0308", "é": "e\u0301"}
#: Spaces a feed writes between words: no-break, ideographic, figure, tab, line break.
SPACES = ["\u00a0", "\u3000", "\u2007", "\t", "\n "]
#: Characters that show nothing and say nothing: soft hyphen, zero-width space, word joiner.
INVISIBLE = ["\u00ad", "\u200b", "\u2060"]


def _plain(text: str) -> str:
    """Event text as the contract compares it, by hand: width, accents, case, spaces."""
    for composed, apart in APART.items():
        text = text.replace(apart, composed)
    for mark in INVISIBLE:
        text = text.replace(mark, "")
    # Fullwidth ASCII (U+FF01 to U+FF5E) is ASCII moved by 0xFEE0; U+3000 is a space.
    text = "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in text)
    return " ".join(text.replace("\u3000", " ").split()).lower()


def _plain_kind(
    event: str, cats: list[str], codes: list[tuple[str, str]], sender: str
) -> tuple[str | None, list[str]]:
    """The first rule's kind the block meets, and the rules it meets by event or code only."""
    near: list[str] = []
    for name, kind, events, rcats, rcodes, senders in RULES:
        ev = bool(events) and _plain(event) in {_plain(e) for e in events}
        code = any(
            n.strip(" \t\r\n") == rn and _plain(v) == _plain(rv)
            for n, v in codes
            for rn, rv in rcodes
        )
        met = (
            (not events or ev)
            and (not rcodes or code)
            and (not rcats or bool(set(rcats) & set(cats)))
            and (not senders or sender in senders)
        )
        if met:
            return kind, near
        if ev or code:
            near.append(name)
    return None, near


def _written(text: str, data: st.DataObject) -> str:
    """``text`` as some issuer writes it: per letter case, width, accents apart; odd spaces."""
    out = []
    for c in text:
        form = data.draw(st.sampled_from(["same", "upper", "lower", "wide", "apart"]))
        if form == "upper":
            c = c.upper()
        elif form == "lower":
            c = c.lower()
        elif form == "wide" and "!" <= c <= "~":
            c = chr(ord(c) + 0xFEE0)
        elif form == "apart":
            c = APART.get(c, c)
        if c == " ":
            c = data.draw(st.sampled_from([" ", *SPACES]))
        out.append(c)
        if data.draw(st.integers(0, 9)) == 0:
            out.append(data.draw(st.sampled_from(INVISIBLE)))
    pad = data.draw(st.sampled_from(["", " ", "\u00a0", "\n  "]))
    return pad + "".join(out) + pad


EVENTS = ["Flom", "Stormflo", "Översvämning", "Snøskred", "Lavinfare", "Jordskred",
          "Flom varsel", "Jordskjelv"]  # fmt: skip
CODES = [("NO-VARSOM", "SNØSKRED"), ("\n NO-VARSOM ", "snøskred"), ("no-varsom", "SNØSKRED"),
         ("NO-VARSOM", "Snø skred"), ("OTHER", "1")]  # fmt: skip


@settings(max_examples=50, deadline=None)
@given(
    data=st.data(),
    event=st.sampled_from(EVENTS),
    cats=st.lists(st.sampled_from(["Met", "Env", "Geo", "Other"]), min_size=1, max_size=3,
                  unique=True),
    codes=st.lists(st.sampled_from(CODES), max_size=2, unique=True),
    sender=st.sampled_from([NVE, VARSOM, "VARSOM@nve.no", f"mailto:{VARSOM}"]),
)  # fmt: skip
def test_events_as_issuers_write_them_get_the_kind_a_plain_reading_of_the_rules_gives(
    data: st.DataObject, event: str, cats: list[str], codes: list[tuple[str, str]], sender: str
) -> None:
    """Events and codes as issuers write them get the kind the plain reading gives.

    Fullwidth letters, accents apart, odd spaces and case are the rule's event; the first rule
    met decides; an alert no rule meets names each rule it met by event or code alone.
    """
    written = _written(event, data)
    codes = [(n, _written(v, data)) for n, v in codes]
    alert = _alert(written, sender=sender, cats=cats, codes=codes)
    kind, near = _plain_kind(written, cats, codes, sender)
    got = _recognizer().recognise(alert)
    assert (None if got is None else got.kind) == kind, (written, codes)
    if kind is None:
        looked = _recognizer().looked_at(alert)
        for name in near:
            assert f"rule {name!r}" in looked, looked
        assert ("nearly" in looked) == bool(near), looked


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_the_policy_file_declares_what_the_python_objects_do(fmt: str, tmp_path: Path) -> None:
    """The TOML and JSON files give the same rules and issuers, and decide alike."""
    path = tmp_path / f"norge.{fmt}"
    doc = _policy_document()
    path.write_text(_toml(doc) if fmt == "toml" else json.dumps(doc), encoding="utf-8")
    loaded = load_policy(path, catalog=REGIONS, pilot_recognition=False)
    assert loaded.recognition == _recognizer()
    assert loaded.issuers == _issuers()
    assert set(loaded.location_rules) == set(KINDS)
    alert = _alert("ＦＬＯＭ", cats=["Met", "Geo"])  # both flood and slide: the first wins
    assert loaded.recognition.recognise(alert) == _recognizer().recognise(alert)
    assert _recognizer().recognise(alert).rule == "flood"  # type: ignore[union-attr]


def test_two_rules_of_two_kinds_meeting_one_alert_the_first_decides_either_way() -> None:
    """Overlap is no error: the first rule in order wins, and the result names it."""
    alert = _alert("Flom", cats=["Geo", "Met"])
    forward = _recognizer()
    backward = Recognizer(reversed(forward.rules))
    assert (forward.recognise(alert).kind, forward.recognise(alert).rule) == ("flood", "flood")  # type: ignore[union-attr]
    assert (backward.recognise(alert).kind, backward.recognise(alert).rule) == (  # type: ignore[union-attr]
        "landslide",
        "slide",
    )
    result = _targeter(backward).target(alert, _devices(), T0)
    assert (result.kind, result.recognised_by) == ("landslide", "slide")


@pytest.mark.parametrize(
    ("alert", "said"),
    [
        (
            _alert("Flom", cats=["Other"]),
            "rule 'flood' (kind flood) takes info[0]'s event 'Flom' but needs category Env or "
            "Met (info[0] has Other)",
        ),
        (
            _alert("Snøskred", sender="VARSOM@nve.no"),
            "rule 'aval' (kind avalanche) takes info[0]'s event 'Snøskred' but needs sender "
            "'varsom@nve.no' (the alert's is 'VARSOM@nve.no', which is 'varsom@nve.no' written "
            "in another form: senders compare exactly)",
        ),
        (
            _alert("Stormflo", cats=["Geo"], codes=[("OTHER", "1")]),
            "rule 'flood' (kind flood) takes info[0]'s event 'Stormflo' but needs category",
        ),
        (
            _alert("Ras", cats=["Geo"], codes=[("NO-VARSOM", "snøskred")], sender=VARSOM),
            "",  # met by its code: recognised, no hint
        ),
    ],
    ids=["category", "sender-form", "with-another-code", "met"],
)
def test_an_unrecognised_alert_names_the_rule_it_nearly_met_the_field_and_the_value(
    alert: Alert, said: str
) -> None:
    """Not a silent "nobody": the reason names the rule, the condition and both values."""
    issuers = Issuers(
        [Issuer(name="nve", senders=[NVE, VARSOM, "VARSOM@nve.no"], kinds=KINDS, regions=["NO"])]
    )
    result = _targeter(issuers=issuers).target(alert, _devices(), T0)
    if not said:
        assert (result.verdict, result.kind) == (Verdict.DELIVER, "avalanche"), result.reason
        return
    assert result.verdict is Verdict.UNRECOGNISED_KIND
    assert said in result.reason, result.reason


@pytest.mark.parametrize("blank", ["\u3164", "\u2800", "\ufe0f", "\u180e", "\u00a0\u200b"])
def test_a_rule_event_or_code_that_shows_nothing_is_refused_at_its_index(blank: str) -> None:
    """Only spaces and invisible characters: refused, naming the field, index and code point."""
    with pytest.raises(InvalidInput, match=r"events\[1\] must not be blank") as err:
        RecognitionRule(name="r", kind="flood", events=["Flom", blank])
    assert f"U+{ord(blank[-1]):04X}" in str(err.value) or "\\u" in str(err.value)
    with pytest.raises(InvalidInput, match=r"event_codes\[0\] .* its value_name must show"):
        RecognitionRule(name="r", kind="flood", event_codes=[NamedValue(blank, "x")])
    with pytest.raises(InvalidInput, match=r"event_codes\[0\] .* its value must show"):
        RecognitionRule(name="r", kind="flood", event_codes=[NamedValue("NO-VARSOM", blank)])


def test_an_issuer_kind_that_is_no_kind_name_is_named_by_its_index() -> None:
    """The second of two kinds written with a capital: 'kinds[1]', not a bare 'kinds'."""
    with pytest.raises(InvalidInput, match=r"kinds\[1\] must be a kind name: .*'Avalanche'"):
        Issuer(name="nve", senders=[NVE], kinds=["flood", "Avalanche"], regions=["NO"])


@pytest.mark.parametrize(
    ("sender", "listed"),
    [("URN:OID:2.49.0.0.578.0", MET_NO), (f"mailto:{VEST}", VEST), ("Vest@Politiet.no", VEST)],
)
def test_a_sender_of_no_issuer_is_refused_naming_the_form_the_policy_lists(
    sender: str, listed: str
) -> None:
    """UNKNOWN_ISSUER, the reason naming the sender sent and the one declared."""
    result = _targeter().target(_alert("Snøskred", sender=sender), _devices(), T0)
    assert result.verdict is Verdict.UNKNOWN_ISSUER
    assert repr(sender) in result.reason and repr(listed) in result.reason


def test_an_issuer_sending_outside_its_regions_is_refused_naming_issuer_and_region() -> None:
    """County 46's police alerting an avalanche in 0301: NOT_AUTHORISED, nobody told."""
    outside = _alert("Snøskred", sender=VEST, codes=[("NO-VARSOM", "snøskred")])
    result = _targeter().target(outside, _devices(), T0)
    assert result.verdict is Verdict.NOT_AUTHORISED and result.recipients.size == 0
    assert "'vestland'" in result.reason and "0301" in result.reason
    inside = _alert("Snøskred", sender=VEST, codes=[("NO-VARSOM", "snøskred")], ident="N-2",
                    area=Circle(8.0, 60.5, 1000.0))  # fmt: skip
    told = _targeter().target(inside, _devices(), T0)
    assert told.verdict is Verdict.DELIVER and told.recipients.tolist() == ["bergen"]
    flood = _targeter().target(attrs.evolve(inside, identifier="N-3", infos=[
        attrs.evolve(inside.infos[0], event="Flom", event_codes=())]), _devices(), T0)  # fmt: skip
    assert flood.verdict is Verdict.NOT_AUTHORISED
    assert "'vestland'" in flood.reason and "may not issue flood" in flood.reason


def test_the_region_refusal_names_the_kind_too() -> None:
    outside = _alert("Snøskred", sender=VEST, codes=[("NO-VARSOM", "snøskred")])
    assert "it may issue avalanche only there" in _targeter().target(outside, _devices(), T0).reason


def test_a_foreign_policy_file_does_not_recognise_swedens_kinds(tmp_path: Path) -> None:
    """A policy of Norway recognises its own kinds only, unless asked for the pilot's rules.

    A Swedish one (``country = "SE"``, or no country: the default) ranks the pilot's after
    its own.
    """
    path = tmp_path / "norge.json"
    path.write_text(json.dumps(_policy_document()), encoding="utf-8")
    explosion = _alert("Explosion", cats=["Security"])
    loaded = load_policy(path, catalog=REGIONS)
    assert loaded.recognition.recognise(explosion) is None
    assert loaded.recognition.recognise(_alert("Flom")) is not None
    asked = load_policy(path, catalog=REGIONS, pilot_recognition=True)
    assert asked.recognition.recognise(explosion) is not None
    swedish = load_policy(Path("docs/examples/pilot_policy.toml"))
    assert swedish.recognition.recognise(explosion) is not None


def test_every_refusal_here_is_geotargets_own() -> None:
    """Bad declarations raise geotarget's errors, never a dependency's."""
    for bad in (
        lambda: RecognitionRule(name="r", kind="flood", events=["ＦＬＯＭ", 3]),
        lambda: Issuer(name="nve", senders=[NVE], kinds="flood", regions=["NO"]),
        lambda: Recognizer([_recognizer().rules[0], _recognizer().rules[0]]),
    ):
        with pytest.raises(GeotargetError):
            bad()


@pytest.mark.parametrize(
    ("value_name", "meant"),
    [
        ("GEOTARGET:KIND", "geotarget:kind"),
        ("Geotarget:Kind", "geotarget:kind"),
        ("\uff47\uff45\uff4f\uff54\uff41\uff52\uff47\uff45\uff54\uff1a\uff4b\uff49\uff4e\uff44",
         "geotarget:kind"),
        ("\uff2e\uff2f-VARSOM", "NO-VARSOM"),
        ("no-varsom", "NO-VARSOM"),
    ],
)  # fmt: skip
def test_a_value_name_differing_by_case_or_width_is_named_with_the_one_meant(
    value_name: str, meant: str
) -> None:
    """A valueName compares exactly (documented): refused, the reason naming the one meant.

    Oracle: the fullwidth forms are the plain letters moved by 0xFEE0, written out above.
    """
    plain = "".join(chr(ord(c) - 0xFEE0) if ord(c) > 0xFF00 else c for c in value_name)
    assert plain.lower() == meant.lower()
    alert = _alert(
        "Ras", cats=["Geo"], codes=[(value_name, "flood" if ":" in meant else "snøskred")]
    )
    result = _targeter().target(alert, _devices(), T0)
    assert result.verdict is Verdict.UNRECOGNISED_KIND
    assert f"{value_name!r} where a rule names {meant!r}" in result.reason, result.reason


#: ``nøds.no`` as mail systems write it (IDNA's ASCII form, by Python's own codec).
NODS, NODS_ACE = "varsel@nøds.no", "varsel@" + "nøds".encode("idna").decode() + ".no"


def test_a_sender_whose_domain_is_in_its_xn_form_is_named_with_the_one_listed() -> None:
    """UNKNOWN_ISSUER (senders compare exactly), the reason naming the address listed."""
    assert NODS_ACE == "varsel@xn--nds-0na.no"
    issuers = Issuers([Issuer(name="nods", senders=[NODS, VARSOM], kinds=KINDS, regions=["NO"])])
    result = _targeter(issuers=issuers).target(_alert(sender=NODS_ACE), _devices(), T0)
    assert result.verdict is Verdict.UNKNOWN_ISSUER
    assert f"the policy lists {NODS!r} of issuer 'nods'" in result.reason, result.reason
    told = _targeter(issuers=issuers).target(_alert(sender=NODS, ident="N-9"), _devices(), T0)
    assert told.verdict is Verdict.DELIVER, told.reason


def test_one_domain_in_both_forms_under_two_issuers_is_refused() -> None:
    """One mailbox would have two issuers' authority: refused, naming both forms."""
    with pytest.raises(InvalidPolicy, match=r"issuers\[1\]\.senders: .*'xn--' form") as err:
        Issuers(
            [
                Issuer(name="a", senders=[NODS], kinds=KINDS, regions=["NO"]),
                Issuer(name="b", senders=[NODS_ACE.upper()], kinds=KINDS, regions=["46"]),
            ]
        )
    assert repr(NODS) in str(err.value) and repr(NODS_ACE.upper()) in str(err.value)


GEOD = pyproj.Geod(ellps="WGS84")


@pytest.mark.parametrize(("past_m", "sent"), [(14.0, True), (24.0, True), (27.0, False)])
def test_a_county_circle_reaching_past_its_border_is_sent_iff_within_the_slack(
    past_m: float, sent: bool
) -> None:
    """A circle of 1 km and more reaching ``past_m`` into the county beside, slack 25 m.

    The documented rule (issuers.py, who_is_told.rst): a region the area reaches by no more
    than ``border_slack_m`` past the issuer's regions is not counted. Oracle: the border is
    the parallel at lat 60, so the circle reaches past it by its radius less the geodesic
    distance from its centre to the parallel along the meridian (pyproj).
    """
    lon, lat, _ = GEOD.fwd(8.0, 60.0, 0.0, 1000.0)
    _, _, to_border = GEOD.inv(lon, lat, lon, 60.0)
    area = Circle(lon, lat, to_border + past_m)
    alert = _alert("Snøskred", sender=VEST, codes=[("NO-VARSOM", "snøskred")], area=area)
    devices = PositionIndex(
        Positions(["south", "north"], [8.0, 8.0], [59.9999, 60.0001], observed_at=T0)
    )  # 'south' lies 11 m into county 03, inside the circle for the first two cases.
    _, _, south_m = GEOD.inv(lon, lat, 8.0, 59.9999)
    result = _targeter().target(alert, devices, T0)
    if sent:
        assert result.verdict is Verdict.DELIVER, result.reason
        assert result.recipients.tolist() == ["north"]  # never one past the border
        assert south_m <= area.radius_m  # in the area, yet not told
    else:
        assert result.verdict is Verdict.NOT_AUTHORISED, result.reason
        assert "'vestland'" in result.reason and "0301" in result.reason


def test_a_rule_that_never_applies_is_refused_in_a_file_and_kept_when_composing() -> None:
    """One author's list refuses a rule it shadows; composed rule sets keep it (documented).

    ``Recognizer(mine) + pilot.RECOGNITION`` ranks defaults after rules written to take some of
    their alerts: the first match wins, the shadowed rule recognises nothing.
    """
    flood = RecognitionRule(name="flood", kind="flood", events=["Flom"])
    slide = RecognitionRule(name="slide", kind="landslide", events=["Flom"], categories=["Geo"])
    with pytest.raises(InvalidPolicy, match="never applies"):
        Recognizer.from_dict({"recognition": [{"name": "flood", "kind": "flood",
                                               "events": ["Flom"]},
                                              {"name": "slide", "kind": "landslide",
                                               "events": ["Flom"], "categories": ["Geo"]}]})  # fmt: skip
    composed = Recognizer([flood]) + Recognizer([slide])
    got = composed.recognise(_alert("Flom", cats=["Geo"]))
    assert got is not None and (got.kind, got.rule) == ("flood", "flood")
