"""Kinds are data: recognition rules map what issuers send to a kind, first match wins."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget import InvalidInput, InvalidPolicy, InvalidType, pilot
from geotarget.alerts import KIND_CODE, Alert, Info, NamedValue
from geotarget.kinds import (
    KIND_CODE_RULE,
    Kind,
    Recognition,
    RecognitionRule,
    Recognizer,
    normalise_event,
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


def test_upstream_explosion_in_english_and_swedish_is_recognised_by_the_pilot_rule() -> None:
    """'Explosion', 'EXPLOSION ' and 'Risk för  explosion' all name the pilot rule."""
    for event in ("Explosion", " EXPLOSION ", "Risk för  explosion", "Explosionsrisk"):
        got = pilot.RECOGNITION.recognise(alert(info(event)))
        assert got == Recognition("explosion", "pilot:explosion"), event


def test_police_information_needs_category_security() -> None:
    """'Tips' under Health is not a police tip request; under Security it is."""
    assert pilot.RECOGNITION.recognise(alert(info("Tips", categories=("Health",)))) is None
    got = pilot.RECOGNITION.recognise(alert(info("Tips", language="sv-SE")))
    assert got == Recognition("tip_request", "pilot:tip_request")
    got = pilot.RECOGNITION.recognise(alert(info("Brottsmodus")))
    assert got == Recognition("crime_modus", "pilot:crime_modus")


def test_the_kind_code_ranks_first_over_every_rule() -> None:
    """An event code geotarget:kind=tip_request wins over an 'Explosion' event."""
    block = info("Explosion", codes=(NamedValue(KIND_CODE, "tip_request"),))
    assert pilot.RECOGNITION.recognise(alert(block)) == Recognition("tip_request", KIND_CODE_RULE)


def test_pilot_constructors_are_recognised_with_and_without_their_code() -> None:
    """A pilot alert is read by its code; with the code stripped, by its event text."""
    from geotarget import Circle

    text = pilot.Message(headline="h", description="d", area_description="a")
    made = pilot.crime_modus(identifier="C-1", sender="p@example.se", sent=T0,
                             area=Circle(18.0, 59.3, 500.0), sv=text, en=text, onset=T0,
                             expires=T0.replace(hour=23))  # fmt: skip
    assert pilot.RECOGNITION.recognise(made) == Recognition("crime_modus", KIND_CODE_RULE)
    stripped = Alert(**{
        **{f: getattr(made, f) for f in ("identifier", "sender", "sent", "status", "msg_type",
                                          "scope")},
        "infos": [Info(**{**_fields(i), "event_codes": ()}) for i in made.infos],
    })  # fmt: skip
    assert pilot.RECOGNITION.recognise(stripped) == Recognition("crime_modus", "pilot:crime_modus")


def _fields(i: Info) -> dict[str, Any]:
    import attrs

    return {f.name: getattr(i, f.name) for f in attrs.fields(Info) if f.init}


def test_conditions_are_all_met_by_one_block() -> None:
    """A rule needs event, category, code and sender together in one info block."""
    rule = RecognitionRule(name="r", kind="explosion", events=["Blast"], categories=["Fire"],
                           event_codes=[NamedValue("SOS", "EXP")], senders=["a@x.se"])  # fmt: skip
    rec = Recognizer([rule])
    good = info("blast", categories=("Fire",), codes=(NamedValue("SOS", " exp "),))
    assert rec.recognise(alert(good, sender="a@x.se")) == Recognition("explosion", "r")
    assert rec.recognise(alert(good, sender="b@x.se")) is None
    split = (info("blast", categories=("Fire",)), info("other", codes=(NamedValue("SOS", "EXP"),)))
    assert rec.recognise(alert(*split, sender="a@x.se")) is None
    wrong_name = info("blast", categories=("Fire",), codes=(NamedValue("sos", "EXP"),))
    assert rec.recognise(alert(wrong_name, sender="a@x.se")) is None


def test_event_code_names_compare_without_surrounding_whitespace() -> None:
    """A pretty-printed ``<valueName>`` (newline, indentation) matches; its case still counts."""
    from cap_helpers import BASE

    from geotarget import cap

    rec = Recognizer([RecognitionRule(name="sos", kind="explosion",
                                      event_codes=[NamedValue("SOSAlarm:event", "EXPL")])])  # fmt: skip
    for name in ("SOSAlarm:event", " SOSAlarm:event\t", "\n        SOSAlarm:event\n      "):
        code = f"<eventCode><valueName>{name}</valueName><value> expl </value></eventCode>"
        doc = BASE.replace("<event>Explosion</event>", "<event>Händelse</event>").replace(
            "<certainty>Likely</certainty>", "<certainty>Likely</certainty>" + code
        )
        assert rec.recognise(cap.loads(doc)) == Recognition("explosion", "sos"), repr(name)
    other_case = info("Händelse", codes=(NamedValue("sosalarm:event", "EXPL"),))
    assert rec.recognise(alert(other_case)) is None


def test_rule_conditions_no_document_can_meet_are_refused() -> None:
    """A sender CAP forbids, or a blank event code, would never match: refused, not kept."""
    for bad in ("", "larm sos", "a,b", "a<b", "a&b", "a\tb"):
        with pytest.raises(InvalidInput, match=r"senders\[1\] must be a CAP sender"):
            RecognitionRule(name="r", kind="explosion", events=["x"], senders=["a@x.se", bad])
    for code in (NamedValue(" ", "EXPL"), NamedValue("SOS", " \n "), NamedValue("", "")):
        with pytest.raises(InvalidInput, match=r"event_codes\[0\] must have a non-blank"):
            RecognitionRule(name="r", kind="explosion", event_codes=[code])
    with pytest.raises(
        InvalidPolicy, match=r"recognition\[0\]\.senders: senders\[0\] must be a CAP"
    ):
        Recognizer.from_toml(
            '[[recognition]]\nname = "r"\nkind = "explosion"\nevents = ["x"]\n'
            'senders = ["SOS Alarm"]\n'
        )


def test_first_matching_rule_wins_and_join_keeps_order() -> None:
    """Rules are tried in order; a file's rules joined before the defaults rank first."""
    mine = Recognizer([RecognitionRule(name="mine", kind="crime_modus", events=["Explosion"])])
    assert (mine + pilot.RECOGNITION).recognise(alert(info("Explosion"))).rule == "mine"  # type: ignore[union-attr]
    assert (pilot.RECOGNITION + mine).recognise(alert(info("Explosion"))).rule == "pilot:explosion"  # type: ignore[union-attr]


def test_unrecognised_alert_says_what_was_looked_at() -> None:
    """looked_at names the events with languages, categories, event codes and sender."""
    a = alert(info("Storm", categories=("Met",), codes=(NamedValue("OET", "OET-112"),)))
    assert pilot.RECOGNITION.recognise(a) is None
    assert pilot.RECOGNITION.looked_at(a) == (
        "event 'Storm' (en), categories Met, eventCodes OET=OET-112, sender 'larm@example.se'; "
        "3 rules"
    )


def test_bad_rules_are_refused_with_the_field() -> None:
    """Bad names, kinds, categories, blank events and event-less rules are refused."""
    with pytest.raises(InvalidInput, match="kind must be a kind name"):
        RecognitionRule(name="r", kind="Explosion!", events=["x"])
    with pytest.raises(InvalidInput, match=r"categories\[0\] must be a CAP category"):
        RecognitionRule(name="r", kind="explosion", events=["x"], categories=["Bomb"])
    with pytest.raises(InvalidInput, match="must set events or event_codes"):
        RecognitionRule(name="r", kind="explosion", categories=["Fire"])
    with pytest.raises(InvalidInput, match="blank"):
        RecognitionRule(name="r", kind="explosion", events=["  "])
    with pytest.raises(InvalidInput, match="built-in"):
        RecognitionRule(name=KIND_CODE_RULE, kind="explosion", events=["x"])
    with pytest.raises(InvalidType, match="events must be a list"):
        RecognitionRule(name="r", kind="explosion", events="Explosion")
    with pytest.raises(InvalidInput, match="label"):
        Kind("explosion", " ")


def test_duplicate_rule_names_are_listed_with_paths() -> None:
    """Two rules of one name: recognition[1].name."""
    r = RecognitionRule(name="same", kind="explosion", events=["x"])
    with pytest.raises(InvalidPolicy) as err:
        Recognizer([r, r])
    assert [p.path for p in err.value.problems] == ["recognition[1].name"]


def test_rules_are_read_from_the_policy_file_with_paths_in_errors() -> None:
    """[[recognition]] tables become rules; every bad entry is reported with its path."""
    rec = Recognizer.from_toml(
        """
        [[kinds.explosion.phases]]
        starts_at = 2024-04-15T00:00:00+02:00
        regions = ["SE"]

        [[recognition]]
        name = "sos"
        kind = "explosion"
        event_codes = [{value_name = "SOS", value = "EXPL"}]
        senders = ["larm@sosalarm.se"]
        """
    )
    assert rec.rules[0].event_codes == (NamedValue("SOS", "expl"),)
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_json(
            '{"recognition": [{"name": "a", "kind": "explosion", "colour": 1, "events": ["x"]},'
            ' {"name": "b", "kind": "explosion", "categories": ["Nope"], "events": ["x"]},'
            ' {"name": "c", "kind": "explosion", "event_codes": [{"value_name": "X"}]},'
            ' {"kind": "explosion", "events": ["x"]}]}'
        )
    paths = [p.path for p in err.value.problems]
    assert paths == [
        "recognition[0].colour",
        "recognition[1].categories",
        "recognition[2].event_codes[0]",
        "recognition[3].name",
    ]
    assert "categories[0]" in err.value.problems[1].message
    # Every bad field of one rule at once, each at its own path; the rule's own check (events
    # or event_codes) only once its fields are fine.
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_json(
            '{"recognition": [{"name": "bad name!", "kind": "Not-a-kind", "events": [" "],'
            ' "categories": ["Nope"], "senders": ["a b"]}, {"name": "e", "kind": "explosion"}]}'
        )
    assert [p.path for p in err.value.problems] == [
        "recognition[0].name", "recognition[0].kind", "recognition[0].events",
        "recognition[0].categories", "recognition[0].senders", "recognition[1]",
    ]  # fmt: skip
    assert "must set events or event_codes" in err.value.problems[5].message


@given(st.text(max_size=30))
def test_normalise_event_is_idempotent_and_ignores_case_and_spacing(text: str) -> None:
    """normalise_event(normalise_event(t)) == normalise_event(t) == that of its upper case."""
    once = normalise_event(text)
    assert normalise_event(once) == once
    assert once == once.strip() and "  " not in once
    assert normalise_event(f"  {text.upper()}\t") == normalise_event(text.upper())


# --- the property: the recognizer agrees with a plain re-statement of the rules ----------------

WORDS = ["Explosion", "Tips", "Gas leak", "Brottsmodus"]
CATS = ["Security", "Safety", "Fire"]
CODES = [NamedValue("SOS", "EXPL"), NamedValue("SOS", "TIPS"), NamedValue("OET", "OET-112")]
SENDERS = ["a@x.se", "b@x.se"]
KIND_NAMES = ["explosion", "crime_modus", "tip_request"]


def spaced(word: str) -> st.SearchStrategy[str]:
    """``word`` in random case with random surrounding and inner whitespace."""
    return st.tuples(
        st.lists(st.booleans(), min_size=len(word), max_size=len(word)),
        st.sampled_from(["", " ", "\t", "  "]),
        st.sampled_from(["", " ", "\n"]),
    ).map(
        lambda t: (
            t[1]
            + "".join(
                c.upper() if up else c.lower() for c, up in zip(word, t[0], strict=True)
            ).replace(" ", "  ")
            + t[2]
        )
    )


rules_st = st.lists(
    st.builds(
        lambda n, kind, ev, cats, codes, snd: RecognitionRule(
            name=f"r{n}",
            kind=kind,
            events=ev or (["Explosion"] if not codes else []),
            categories=cats,
            event_codes=codes,
            senders=snd,
        ),
        st.integers(0, 10**6),
        st.sampled_from(KIND_NAMES),
        st.lists(st.sampled_from(WORDS), max_size=2),
        st.lists(st.sampled_from(CATS), max_size=2),
        st.lists(st.sampled_from(CODES), max_size=2),
        st.lists(st.sampled_from(SENDERS), max_size=1),
    ),
    max_size=4,
    unique_by=lambda r: r.name,
)
infos_st = st.lists(
    st.builds(
        lambda ev, cats, codes: info(ev, categories=tuple(cats), codes=tuple(codes)),
        st.sampled_from(WORDS).flatmap(spaced),
        st.lists(st.sampled_from(CATS), min_size=1, max_size=2),
        st.lists(
            st.sampled_from([*CODES, NamedValue("sos", "expl"), NamedValue("\n SOS ", "expl")]),
            max_size=2,
        ),
    ),
    min_size=1,
    max_size=2,
)


def oracle(rules: list[RecognitionRule], infos: list[Info], sender: str) -> tuple[str, str] | None:
    """The first rule whose conditions one block meets, restated with str.lower/split."""

    def norm(text: str) -> str:
        return " ".join(text.split()).lower()

    for rule in rules:
        if rule.senders and sender not in rule.senders:
            continue
        for i in infos:
            if rule.events and norm(i.event) not in {norm(e) for e in rule.events}:
                continue
            if rule.categories and not set(rule.categories) & set(i.categories):
                continue
            mine = {(c.value_name.strip(), norm(c.value)) for c in i.event_codes}
            if rule.event_codes and not mine & {(c.value_name, norm(c.value))
                                                 for c in rule.event_codes}:  # fmt: skip
                continue
            return rule.kind, rule.name
    return None


@given(rules_st, infos_st, st.sampled_from(SENDERS))
def test_recognition_agrees_with_a_restatement_of_the_rules(
    rules: list[RecognitionRule], infos: list[Info], sender: str
) -> None:
    """recognise() returns exactly the first rule the oracle finds (or None)."""
    got = Recognizer(rules).recognise(alert(*infos, sender=sender))
    expected = oracle(rules, infos, sender)
    assert (None if got is None else (got.kind, got.rule)) == expected


# --- a kind of one's own, end to end ---------------------------------------------------------

#: A policy of one's own (the synthetic country XX of targeting_helpers): a fourth kind, rolled
#: out in county 01, recognised from what a rescue service sends, issued by that service there.
FOURTH_KIND_POLICY = """
country = "XX"
timezone = "UTC"

[[kinds.chemical_release.phases]]
starts_at = 2024-01-01T00:00:00Z
regions = ["01"]

[[kinds.explosion.phases]]
starts_at = 2024-01-01T00:00:00Z
regions = ["XX"]

[[recognition]]
name = "rtj:chemical"
kind = "chemical_release"
events = ["Chemical release", "Kemikalieutsläpp"]
categories = ["CBRNE"]

[[issuers]]
name = "rtj"
senders = ["rtj@example.se"]
kinds = ["chemical_release"]
regions = ["01"]
"""

CHEMICAL_CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{ident}</identifier>
  <sender>rtj@example.se</sender>
  <sent>2024-05-20T13:50:00+02:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>sv-SE</language>
    <category>CBRNE</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>{code}
    <expires>2024-05-20T16:00:00+02:00</expires>
    <headline>Gasmoln, håll fönster stängda</headline>
    <area>
      <areaDesc>Industriområdet</areaDesc>
      <circle>59.5,17.25 1.0</circle>
    </area>
  </info>
</alert>
"""


def chemical_cap(ident: str, *, event: str = "Kemikalieutsläpp", kind: str | None = None) -> bytes:
    """The rescue service's document; with ``kind``, it carries a geotarget:kind event code."""
    code = (
        f"\n    <eventCode><valueName>{KIND_CODE}</valueName><value>{kind}</value></eventCode>"
        if kind is not None
        else ""
    )
    return CHEMICAL_CAP.format(ident=ident, event=event, code=code).encode()


def fourth_kind_targeter(**kw: Any) -> Any:
    """A Targeter over the synthetic regions, built from FOURTH_KIND_POLICY as the guide says."""
    from targeting_helpers import make_regions

    from geotarget.issuers import Issuers
    from geotarget.rollout import RolloutPolicy
    from geotarget.targeting import KindRules, Targeter

    kw.setdefault("location_rules", {"chemical_release": KindRules(include_ambiguous=True)})
    return Targeter(
        make_regions(),
        RolloutPolicy.from_toml(FOURTH_KIND_POLICY),
        recognition=Recognizer.from_toml(FOURTH_KIND_POLICY) + pilot.RECOGNITION,
        issuers=Issuers.from_toml(FOURTH_KIND_POLICY),
        **kw,
    )


def chemical_devices() -> Any:
    """One device 200 m from the release, one 3 km away (both in county 01), fresh fixes."""
    from geotarget import PositionIndex, Positions

    at = datetime(2024, 5, 20, 12, 0, tzinfo=timezone.utc)
    positions = Positions(
        ["near", "far"], [17.2535, 17.30], [59.5, 59.5], accuracy_m=[5.0, 5.0], observed_at=at
    )
    return PositionIndex(positions)


AT = datetime(2024, 5, 20, 12, 0, tzinfo=timezone.utc)


def test_a_fourth_kind_defined_by_a_policy_reaches_its_devices_through_receive() -> None:
    """chemical_release: registered by the policy file, recognised, authorised, delivered."""
    from geotarget import cap
    from geotarget.targeting import Verdict

    targeter = fourth_kind_targeter()
    result = targeter.receive(chemical_cap("RTJ-1"), chemical_devices(), AT)
    assert (result.verdict, result.kind, result.recognised_by, result.issuer) == (
        Verdict.DELIVER, "chemical_release", "rtj:chemical", "rtj"
    )  # fmt: skip
    assert result.recipients.tolist() == ["near"]
    assert result.rollout is not None and result.rollout.kind == "chemical_release"
    # The kind written as an event code reads back as the same kind, through the built-in rule.
    coded = chemical_cap("RTJ-2", event="Gasmoln", kind="chemical_release")
    alert = cap.loads(coded)
    assert alert.kind == "chemical_release" and cap.loads(cap.dumps(alert)) == alert
    again = targeter.receive(coded, chemical_devices(), AT)
    assert (again.verdict, again.kind, again.recognised_by) == (
        Verdict.DELIVER, "chemical_release", KIND_CODE_RULE
    )  # fmt: skip
    assert again.recipients.tolist() == ["near"]


def test_an_unregistered_kind_reaches_nobody_with_a_reason_naming_it() -> None:
    """A geotarget:kind the policy does not register is UNRECOGNISED_KIND, and says so."""
    from geotarget.targeting import Verdict

    targeter = fourth_kind_targeter()
    result = targeter.receive(chemical_cap("RTJ-3", event="Strålning", kind="radiation"),
                              chemical_devices(), AT)  # fmt: skip
    assert result.verdict is Verdict.UNRECOGNISED_KIND
    assert result.recipients.tolist() == []
    assert result.reason == (
        "kind 'radiation' (recognised by rule 'geotarget:kind') is not registered: the policy "
        "has no location rules for it (registered kinds: chemical_release, crime_modus, "
        "explosion, tip_request); it reaches nobody and changes nothing"
    )
    assert targeter.active_incidents == ()


def test_a_malformed_kind_in_a_document_is_refused_with_its_path() -> None:
    """A geotarget:kind that is not a kind name is InvalidCAP naming the event code and rule."""
    from geotarget import InvalidCAP

    with pytest.raises(InvalidCAP, match=r"info\[0\].*must be a kind name: 1 to 64 lower-case "
                       r"ASCII letters.*\(got 'Chemical Release'\)"):  # fmt: skip
        fourth_kind_targeter().receive(
            chemical_cap("RTJ-4", kind="Chemical Release"), chemical_devices(), AT
        )


def test_a_policy_kind_without_location_rules_is_refused_when_the_targeter_is_built() -> None:
    """Registering a kind means giving it rules: the problems name the kind and the fix."""
    with pytest.raises(InvalidPolicy) as err:
        fourth_kind_targeter(location_rules={})
    assert [p.path for p in err.value.problems] == [
        "policy.kinds.chemical_release", "recognition[0].kind", "issuers[0].kinds"
    ]  # fmt: skip
    assert "location_rules={'chemical_release': KindRules(...)}" in str(err.value)
    from geotarget.targeting import KindRules

    with pytest.raises(InvalidPolicy) as err:
        fourth_kind_targeter(location_rules={"Chemical": KindRules(include_ambiguous=True)})
    assert str(err.value.problems[0]) == (
        "location_rules['Chemical']: key must be a kind name: 1 to 64 lower-case ASCII letters, "
        "digits or '_', starting with a letter (got 'Chemical')"
    )


@settings(max_examples=40, deadline=None)
@given(
    registered=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), max_size=3),
    data=st.data(),
)
def test_an_alert_of_any_kind_name_is_delivered_iff_that_kind_is_registered(
    registered: list[str], data: st.DataObject
) -> None:
    """A geotarget:kind code reaches devices exactly when the Targeter has rules for the kind."""
    import datetime as dt

    from targeting_helpers import T0, make_regions

    from geotarget import Circle, PositionIndex, Positions
    from geotarget.alerts import AlertArea
    from geotarget.rollout import nationwide
    from geotarget.targeting import KindRules, Targeter, Verdict

    names = list(dict.fromkeys(registered))
    kind = data.draw(
        st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)
        | st.sampled_from([k.name for k in pilot.KINDS] + names),
        label="kind",
    )
    rules = {k: KindRules(include_ambiguous=True) for k in names}
    rolled_out = names or ["explosion"]
    policy = nationwide("XX", kinds=rolled_out)
    targeter = Targeter(make_regions(), policy, location_rules=rules)
    block = Info(language="en", categories=["Other"], event="Something", urgency="Immediate",
                 severity="Severe", certainty="Observed", event_codes=[NamedValue(KIND_CODE, kind)],
                 areas=[AlertArea.from_area("here", Circle(17.25, 59.5, 500.0))])  # fmt: skip
    message = Alert(identifier="K-1", sender="x@example.se", sent=T0, status="Actual",
                    msg_type="Alert", scope="Public", infos=[block])  # fmt: skip
    index = PositionIndex(Positions(["d"], [17.25], [59.5], observed_at=T0))
    result = targeter.target(message, index, T0 + dt.timedelta(minutes=1))
    # The oracle: registered = the pilot's kinds (default rules) and the ones given here.
    known = {k.name for k in pilot.KINDS} | set(names)
    if kind not in known:
        assert result.verdict is Verdict.UNRECOGNISED_KIND
        assert f"kind {kind!r}" in result.reason and result.recipients.tolist() == []
    elif kind in rolled_out:
        assert (result.verdict, result.kind, result.recipients.tolist()) == (
            Verdict.DELIVER, kind, ["d"]
        )  # fmt: skip
    else:  # a pilot kind this policy does not roll out: denied by the rollout
        assert result.verdict is Verdict.KIND_NOT_ENABLED
