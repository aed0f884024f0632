"""Probe 10 of kinds as data: what operators write in rules and what upstream feeds send.

Each test states its oracle in plain Python (unicodedata, the policy file's own words), never
the implementation's helpers.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import Any

import pytest

from geotarget import InvalidInput, InvalidPolicy, pilot
from geotarget.alerts import KIND_CODE, Alert, Info, NamedValue
from geotarget.kinds import (
    RecognitionRule,
    Recognizer,
    location_rules_from_json,
    location_rules_from_toml,
)

T0 = datetime(2026, 5, 4, 19, 30, tzinfo=timezone.utc)


def alert(*infos: Info, sender: str = "larm@example.se") -> Alert:
    """An Actual Alert with the given info blocks."""
    return Alert(identifier="A-1", sender=sender, sent=T0, status="Actual", msg_type="Alert",
                 scope="Public", infos=infos)  # fmt: skip


def info(event: str, *, categories: tuple[str, ...] = ("Security",), language: str = "en",
         codes: tuple[NamedValue, ...] = ()) -> Info:  # fmt: skip
    """One info block."""
    return Info(language=language, categories=categories, event=event, urgency="Immediate",
                severity="Severe", certainty="Likely", event_codes=codes)  # fmt: skip


# --- a rule on the geotarget:kind code could never decide a kind ------------------------------


@pytest.mark.parametrize("value_name", [KIND_CODE, f"\n  {KIND_CODE}\t"])
def test_a_rule_on_the_kind_code_is_refused_as_it_could_never_decide(value_name: str) -> None:
    """An operator "renaming" another deployment's kind by its geotarget:kind code.

    The oracle, from the documented contract: a block carrying geotarget:kind is of the kind
    the code names, before any rule is tried, so a rule conditioned on that code never
    decides anything. It was kept, and the alerts it meant were of the code's kind.
    """
    remap = NamedValue(value_name, "chemical")
    with pytest.raises(InvalidInput, match=r"event_codes\[0\] must not name 'geotarget:kind'"):
        RecognitionRule(name="remap", kind="chemical_release", event_codes=[remap])
    # With another code beside it, the kind code is still a condition that never decides.
    with pytest.raises(InvalidInput, match=r"event_codes\[1\] must not name 'geotarget:kind'"):
        RecognitionRule(name="remap", kind="chemical_release",
                        event_codes=[NamedValue("SOS", "GAS"), remap])  # fmt: skip
    document = alert(info("Gasmoln", codes=(NamedValue(KIND_CODE, "chemical"),)))
    assert document.kind == "chemical"  # what any recognizer answers for it, rule or no rule
    policy = f"""
        [[recognition]]
        name = "remap"
        kind = "chemical_release"
        event_codes = [{{ value_name = "{value_name.strip()}", value = "chemical" }}]
    """
    with pytest.raises(InvalidPolicy, match=r"must not name 'geotarget:kind'.*could never"):
        Recognizer.from_toml(policy)


def test_other_codes_and_a_kind_code_in_the_document_still_work() -> None:
    """A rule on another code is unchanged; the kind code in a document still names its kind."""
    rule = RecognitionRule(name="sos", kind="explosion", event_codes=[NamedValue("SOS", "EXPL")])
    rules = Recognizer([rule])
    got = rules.recognise(alert(info("Händelse", codes=(NamedValue("SOS", "expl"),))))
    assert got is not None and (got.kind, got.rule) == ("explosion", "sos")
    coded = alert(info("Händelse", codes=(NamedValue(KIND_CODE, "tip_request"),)))
    got = rules.recognise(coded)
    assert got is not None and (got.kind, got.rule) == ("tip_request", KIND_CODE)


# --- marks of writing direction say nothing about an event ------------------------------------

#: The marks and controls of writing direction, by their Unicode names (the oracle).
DIRECTION = [
    "ARABIC LETTER MARK",
    "LEFT-TO-RIGHT MARK",
    "RIGHT-TO-LEFT MARK",
    "LEFT-TO-RIGHT EMBEDDING",
    "RIGHT-TO-LEFT EMBEDDING",
    "POP DIRECTIONAL FORMATTING",
    "LEFT-TO-RIGHT OVERRIDE",
    "RIGHT-TO-LEFT OVERRIDE",
    "LEFT-TO-RIGHT ISOLATE",
    "RIGHT-TO-LEFT ISOLATE",
    "FIRST STRONG ISOLATE",
    "POP DIRECTIONAL ISOLATE",
]


@pytest.mark.parametrize("mark", [unicodedata.lookup(n) for n in DIRECTION])
def test_a_direction_mark_in_an_event_does_not_hide_its_kind(mark: str) -> None:
    """An Arabic translation typed in an editor that wraps it in direction marks.

    Oracle: the text with the mark removed is the one the rule names, and a mark changes
    how a text is shown, not what it says (Unicode's bidirectional algorithm).
    """
    arabic = "انفجار"  # "explosion"
    rule = RecognitionRule(name="ar", kind="explosion", events=[arabic, f"{mark}Gas{mark}läcka"])
    rules = Recognizer([rule]) + pilot.RECOGNITION
    for event in (f"{mark}{arabic}", f"{arabic}{mark}", f"{arabic[:2]}{mark}{arabic[2:]}"):
        assert event.replace(mark, "") == arabic  # the oracle: the same text without it
        got = rules.recognise(alert(info(event, language="ar")))
        assert got is not None and (got.kind, got.rule) == ("explosion", "ar"), ascii(event)
    got = rules.recognise(alert(info("Gasläcka", language="sv-SE")))
    assert got is not None and got.rule == "ar"  # the mark in the rule's own text is dropped
    got = rules.recognise(alert(info(f"Explo{mark}sion", language="sv-SE")))
    assert got is not None and (got.kind, got.rule) == ("explosion", "pilot:explosion")
    # A joiner that changes how a script is written is not such a mark: it still counts.
    assert rules.recognise(alert(info(f"{arabic}\u200d"))) is None


# --- a count written as a float by a JSON writer ----------------------------------------------


@pytest.mark.parametrize("written", ["600000.0", "6e5", "6.0E5"])
def test_a_whole_recipient_count_written_as_a_float_is_that_count(written: str) -> None:
    """``json.dumps`` writes a count computed as a float ``600000.0``: JSON has one number.

    KindRules takes ``max_recipients=600000.0`` as 600,000 (its documented rule); the policy
    file refused the same number, so a generated JSON policy could not be loaded. Oracle:
    the float's value as a Python int, when it is whole; a fraction is still refused.
    """
    import json

    from geotarget.targeting import KindRules

    count = int(float(written))
    assert float(written).is_integer()
    assert KindRules(include_ambiguous=True, max_recipients=float(written)).max_recipients == count
    table: dict[str, object] = {"include_ambiguous": True, "max_recipients": float(written)}
    document = {"location_rules": {"chemical_release": table}}
    text = json.dumps(document)
    assert '"max_recipients": 600000.0' in text  # what a Python tool writes
    got = location_rules_from_json(text)["chemical_release"].max_recipients
    assert got == count and type(got) is int
    toml = (
        f"[location_rules.chemical_release]\ninclude_ambiguous = true\nmax_recipients = {written}"
    )
    got = location_rules_from_toml(toml)["chemical_release"].max_recipients
    assert got == count and type(got) is int
    for fraction in ("600000.5", "1e-3"):
        with pytest.raises(InvalidPolicy, match=r"max_recipients: must be an integer > 0"):
            location_rules_from_toml(toml.replace(written, fraction))


# --- the deprecated AlertKind, accepted as a kind name, is kept as the name -------------------


def test_a_rule_of_the_deprecated_alert_kind_says_the_kinds_name_in_reasons() -> None:
    """``RecognitionRule(kind=AlertKind.EXPLOSION)``: code written before kinds were names.

    The enum is documented as accepted wherever a kind name is; the rule kept the member,
    whose f-string is ``_AlertKind.EXPLOSION``, so the reason said "_AlertKind.EXPLOSION is
    enabled" and the explanation "(_AlertKind.EXPLOSION, recognised by rule ...)". Oracle: the
    kind's name, a plain str, wherever the kind is written.
    """
    import datetime as dt

    from targeting_helpers import make_regions

    from geotarget import Circle, PositionIndex, Positions
    from geotarget.alerts import AlertArea
    from geotarget.kinds import Kind
    from geotarget.rollout import nationwide
    from geotarget.targeting import Targeter, Verdict

    with pytest.warns(DeprecationWarning, match="AlertKind is deprecated"):
        member = pilot.AlertKind.EXPLOSION
    rule = RecognitionRule(name="sos:small", kind=member, events=["Smäll"])
    assert type(rule.kind) is str and rule.kind == "explosion"
    kind = Kind(member, "Explosion")
    assert type(kind.name) is str and f"{kind}" == "explosion"
    targeter = Targeter(make_regions(), nationwide("XX", kinds=["explosion"]),
                        recognition=Recognizer([rule]))  # fmt: skip
    block = Info(language="sv-SE", categories=["Safety"], event="Smäll", urgency="Immediate",
                 severity="Severe", certainty="Likely",
                 areas=[AlertArea.from_area("Torget", Circle(17.5, 59.5, 500.0))])  # fmt: skip
    message = Alert(identifier="S-1", sender="larm@example.se", sent=T0, status="Actual",
                    msg_type="Alert", scope="Public", infos=[block])  # fmt: skip
    devices = PositionIndex(Positions(["d"], [17.5], [59.5], observed_at=T0))
    result = targeter.target(message, devices, T0 + dt.timedelta(minutes=1))
    assert result.verdict is Verdict.DELIVER and result.recipients.tolist() == ["d"]
    assert type(result.kind) is str and result.kind == "explosion"
    assert result.reason.startswith("explosion is enabled (NATIONWIDE")
    assert "(explosion, recognised by rule 'sos:small')" in result.explain("d")
    assert "AlertKind" not in result.reason + result.explain("d")


# --- end to end: a policy file's kinds, rules, issuers and rollout against a plain model ------

MODEL_POLICY = """
country = "XX"
timezone = "UTC"

[[issuers]]
name = "national"
senders = ["polisen@polisen.se"]
kinds = ["explosion", "crime_modus", "tip_request"]
regions = ["XX"]

[[issuers]]
name = "c01"
senders = ["c01@polisen.se"]
kinds = ["crime_modus", "tip_request"]
regions = ["01"]

[[issuers]]
name = "rtj"
senders = ["rtj@rtj.se"]
kinds = ["chemical_release", "gas"]
regions = ["XX"]

[[kinds.explosion.phases]]
starts_at = 2024-01-01T00:00:00Z
regions = ["XX"]

[[kinds.crime_modus.phases]]
starts_at = 2024-01-01T00:00:00Z
regions = ["01"]

[[kinds.chemical_release.phases]]
starts_at = 2024-01-01T00:00:00Z
regions = ["02"]

[[kinds.gas.phases]]
starts_at = 2030-01-01T00:00:00Z
regions = ["XX"]

[[recognition]]
name = "rtj:chemical"
kind = "chemical_release"
events = ["Kemikalieutsläpp", "Chemical release"]
categories = ["CBRNE"]

[[recognition]]
name = "sos:gas"
kind = "gas"
event_codes = [{ value_name = "SOS", value = "GAS" }]
"""

#: Fixes are exact points (accuracy 0), so the model's "inside" is a geodesic distance.
EXACT = "include_ambiguous = false\nlocation = { max_age_s = 3600, accuracy = 0.0 }\n"
#: The model: the kind an event text names under the pilot's rules, and the category it needs.
PILOT_EVENTS = {
    "Explosion": ("explosion", None),
    "Explosionsrisk": ("explosion", None),
    "Risk för explosion": ("explosion", None),
    "Brottsmodus": ("crime_modus", "Security"),
    "Tips": ("tip_request", "Security"),
    "Kemikalieutsläpp": (None, None),  # the file's rule, below
    "Storm": (None, None),
    "Sprängning": (None, None),
}
ISSUED = {
    "polisen@polisen.se": ({"explosion", "crime_modus", "tip_request"}, {"01", "02"}),
    "c01@polisen.se": ({"crime_modus", "tip_request"}, {"01"}),
    "rtj@rtj.se": ({"chemical_release", "gas"}, {"01", "02"}),
}
ENABLED = {"explosion": {"01", "02"}, "crime_modus": {"01"}, "chemical_release": {"02"},
           "tip_request": set(), "gas": set()}  # fmt: skip
#: The counties each test area touches (county 01 west of lon 18, 02 east of it).
AREAS = {(17.5, 3000.0): {"01"}, (18.5, 3000.0): {"02"}, (18.0, 8000.0): {"01", "02"}}


def test_a_policy_files_kinds_decide_as_a_plain_model_of_the_contract_says(
    tmp_path: Any,
) -> None:
    """Issuer, recognition (event spelt as feeds spell it, category, codes), authority, rollout.

    The model restates the documented order in plain Python: an unknown sender; the
    ``geotarget:kind`` code, then the file's rules, then the pilot's (event texts compared
    without case, spacing, invisible characters or marks of direction); a kind without rules;
    the issuer's kinds and regions; the kind enabled nowhere yet; the area outside the enabled
    counties; and the recipients, by pyproj's geodesic distance and the county of the point.
    """
    import datetime as dt
    import random

    import numpy as np
    import pyproj
    from targeting_helpers import make_regions

    from geotarget import Circle, PositionIndex, Positions, load_policy
    from geotarget.alerts import AlertArea
    from geotarget.targeting import Targeter

    kinds = ("explosion", "crime_modus", "tip_request", "chemical_release", "gas")
    path = tmp_path / "policy.toml"
    path.write_text(
        MODEL_POLICY + "".join(f"\n[location_rules.{k}]\n{EXACT}" for k in kinds),
        encoding="utf-8",
    )
    policy = load_policy(path, pilot_recognition=True)  # (its country is XX, not SE)
    rng = random.Random(10)
    geod = pyproj.Geod(ellps="WGS84")
    n = 60
    lons = np.array([rng.uniform(17.3, 18.7) for _ in range(n)])
    lats = np.array([rng.uniform(59.45, 59.55) for _ in range(n)])
    ids = [f"d{i}" for i in range(n)]
    at = datetime(2024, 5, 20, 12, tzinfo=timezone.utc)
    devices = PositionIndex(Positions(ids, lons, lats, observed_at=at))

    def as_fed(text: str) -> str:
        """The text as a feed may write it: case, spacing, an invisible mark inside."""
        s = "".join(c.upper() if rng.random() < 0.3 else c for c in text)
        mark = rng.choice(["", "\u00ad", "\u200f", "\ufeff", "\u2066"])
        k = rng.randrange(1, len(s))
        s = s[:k] + mark + s[k:]
        s = s.replace(" ", rng.choice([" ", "  ", "\t", "\u00a0"]))
        return rng.choice(["", " ", "\n  "]) + s + rng.choice(["", " "])

    for trial in range(300):
        sender = rng.choice([*ISSUED, "someone@example.se"])
        text = rng.choice([*PILOT_EVENTS, "Chemical release"])
        category = rng.choice(["Safety", "Security", "CBRNE", "Met"])
        code_kind, gas = None, False
        codes: list[NamedValue] = []
        draw = rng.random()
        if draw < 0.15:
            code_kind = rng.choice(["explosion", "chemical_release", "radiation", "gas"])
            codes.append(NamedValue(KIND_CODE, code_kind))
        elif draw < 0.3:
            name = rng.choice(["SOS", " SOS\n", "sos"])
            codes.append(NamedValue(name, rng.choice(["GAS", " gas ", "GAS\u200b"])))
            gas = name.strip() == "SOS"
        (lon, radius), touched = rng.choice(list(AREAS.items()))
        block = Info(language="sv-SE", categories=[category], event=as_fed(text),
                     urgency="Immediate", severity="Severe", certainty="Likely",
                     event_codes=codes,
                     areas=[AlertArea.from_area("A", Circle(lon, 59.5, radius))])  # fmt: skip
        message = Alert(identifier=f"M-{trial}", sender=sender, sent=at, status="Actual",
                        msg_type="Alert", scope="Public", infos=[block])  # fmt: skip
        targeter = Targeter(make_regions(), policy.rollout, recognition=policy.recognition,
                            issuers=policy.issuers, location_rules=policy.location_rules)  # fmt: skip
        got = targeter.target(message, devices, at + dt.timedelta(minutes=1))
        # The model.
        pilot_kind, needs = PILOT_EVENTS.get(text, (None, None))
        if code_kind is not None:
            kind = code_kind
        elif text in ("Kemikalieutsläpp", "Chemical release") and category == "CBRNE":
            kind = "chemical_release"
        elif gas:
            kind = "gas"
        elif pilot_kind is not None and needs in (None, category):
            kind = pilot_kind
        else:
            kind = None
        if sender not in ISSUED:
            expected = "UNKNOWN_ISSUER"
        elif kind is None or kind not in kinds:
            expected = "UNRECOGNISED_KIND"
        elif kind not in ISSUED[sender][0] or not touched <= ISSUED[sender][1]:
            expected = "NOT_AUTHORISED"
        elif not ENABLED[kind]:
            expected = "KIND_NOT_ENABLED"
        elif not touched & ENABLED[kind]:
            expected = "AREA_OUTSIDE_ROLLOUT"
        else:
            expected = "DELIVER"
        assert got.verdict.value == expected, (trial, ascii(block.event), got.reason)
        if expected == "DELIVER":
            assert kind is not None
            _, _, metres = geod.inv(np.full(n, lon), np.full(n, 59.5), lons, lats)
            told = {
                ids[i]
                for i in range(n)
                if metres[i] <= radius and ("01" if lons[i] < 18.0 else "02") in ENABLED[kind]
            }
            assert set(got.recipients.tolist()) == told, trial


def test_an_issuer_given_the_deprecated_alert_kind_keeps_the_kind_s_name() -> None:
    """``Issuer(kinds=[AlertKind.EXPLOSION])`` keeps ``"explosion"``, a plain str, as Kind does."""
    from geotarget.issuers import Issuer

    with pytest.warns(DeprecationWarning, match="AlertKind is deprecated"):
        member = pilot.AlertKind.EXPLOSION
    issuer = Issuer(name="x", senders=["a@example.se"], kinds=[member], regions=["SE"])
    assert issuer.kinds == frozenset({"explosion"})
    assert all(type(k) is str for k in issuer.kinds)
    assert "AlertKind" not in repr(issuer)


@pytest.mark.parametrize("key", ["value_name", "value"])
def test_an_event_code_xml_cannot_carry_is_a_policy_problem_at_its_path(key: str) -> None:
    """A control character in a rule's event code (a TOML escape) is InvalidPolicy at its path.

    It escaped as a bare InvalidAlert with no path from ``Recognizer.from_toml`` (and so from
    ``load_policy``): the code was built outside the section's problem collection.
    """
    from geotarget.kinds import Recognizer

    code = {"value_name": "SAME", "value": "GAS"}
    code[key] += "\\u0001"
    text = (
        '[[recognition]]\nname = "x:gas"\nkind = "explosion"\n'
        f'event_codes = [{{value_name = "{code["value_name"]}", value = "{code["value"]}"}}]\n'
    )
    with pytest.raises(InvalidPolicy) as caught:
        Recognizer.from_toml(text)
    message = str(caught.value)
    assert "recognition[0].event_codes[0]" in message and key in message, message
    assert "XML 1.0" in message
