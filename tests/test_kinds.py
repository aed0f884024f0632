"""Kinds are data: recognition rules map what issuers send to a kind, first match wins."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
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
        "recognition[1]",
        "recognition[2].event_codes[0]",
        "recognition[3]",
    ]
    assert "categories[0]" in err.value.problems[1].message


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
        st.lists(st.sampled_from([*CODES, NamedValue("sos", "expl")]), max_size=2),
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
            mine = {(c.value_name, norm(c.value)) for c in i.event_codes}
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
