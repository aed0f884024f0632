"""Probe 10 of kinds as data: what operators write in rules and what upstream feeds send.

Each test states its oracle in plain Python (unicodedata, the policy file's own words), never
the implementation's helpers.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone

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
