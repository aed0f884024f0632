"""Probes of a policy file as a second country's operator writes and edits it.

Each test checks one answer against an oracle of its own: plain Python over the rules'
values, enumerating every info block of a small vocabulary, never the library's internals.
"""

from __future__ import annotations

import itertools
import random
import re
from datetime import datetime, timezone
from typing import Any

import pytest

from geotarget.alerts import Alert, Info, NamedValue
from geotarget.errors import InvalidPolicy
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer

# --- recognition rules that overlap -----------------------------------------------------------


def _alert(event: str, categories: list[str], codes: list[tuple[str, str]], sender: str) -> Alert:
    info = Info(
        language="sv-SE",
        categories=categories,
        event=event,
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        event_codes=[NamedValue(n, v) for n, v in codes],
    )
    return Alert(
        identifier="R-1",
        sender=sender,
        status="Actual",
        msg_type="Alert",
        scope="Public",
        infos=[info],
        sent=datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc),
    )


def test_a_rule_whose_alerts_carrying_a_second_category_another_kind_takes_is_refused() -> None:
    """Smoke from a fire and from a chemical release: the narrower rule written last.

    ``smoke-cbrne`` (chemical_release) is met by every alert ``smoke-chemical`` (the same
    kind) meets, so it never applies; and an alert carrying ``CBRNE`` and ``Fire`` as CAP
    allows goes to ``smoke-fire`` (wildfire), tried first. The documented rule refuses a
    rule that never applies when one of the rules that take its alerts names another kind:
    the check tried blocks of one category only, which no wildfire rule takes, and let it
    through.
    """
    rules = [
        {"name": "smoke-fire", "kind": "wildfire", "events": ["Rökutveckling"],
         "categories": ["Fire"]},
        {"name": "smoke-chemical", "kind": "chemical_release", "events": ["Rökutveckling"],
         "categories": ["Env", "CBRNE"]},
        {"name": "smoke-cbrne", "kind": "chemical_release", "events": ["Rökutveckling"],
         "categories": ["CBRNE"]},
    ]  # fmt: skip
    # The oracle's claim, shown: the alert the last rule means is told as a wildfire.
    both = _alert("Rökutveckling", ["CBRNE", "Fire"], [], "rtj@example.no")
    order = [r for r in rules if r["name"] != "smoke-cbrne"]
    got = Recognizer.from_dict({"recognition": order}).recognise(both)
    assert got is not None and got.kind == "wildfire"
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_dict({"recognition": rules})
    (problem,) = err.value.problems
    assert problem.path == "recognition[2]"
    assert "'smoke-cbrne'" in problem.message and "'smoke-fire'" in problem.message
    assert "never applies" in problem.message


def test_a_rule_whose_alerts_carrying_a_second_event_code_another_kind_takes_is_refused() -> None:
    """The same with event codes: a block may carry a second code an earlier rule asks for."""
    rules = [
        {"name": "code-flood", "kind": "flood",
         "event_codes": [{"value_name": "DSB", "value": "FLOM"}]},
        {"name": "tsunami-any", "kind": "tsunami", "events": ["Tsunami"]},
        {"name": "tsunami-code", "kind": "tsunami", "events": ["Tsunami"],
         "event_codes": [{"value_name": "DSB", "value": "TSUNAMI"}]},
    ]  # fmt: skip
    both = _alert("Tsunami", ["Geo"], [("DSB", "TSUNAMI"), ("DSB", "FLOM")], "dsb@example.no")
    got = Recognizer.from_dict({"recognition": rules[:2]}).recognise(both)
    assert got is not None and got.kind == "flood"
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_dict({"recognition": rules})
    (problem,) = err.value.problems
    assert problem.path == "recognition[2]"
    assert "'code-flood'" in problem.message


_EVENTS = ["Flom", "Skogbrann", "Tsunami"]
_CATEGORIES = ["Met", "Fire", "Geo"]
_CODES = [("DSB", "1"), ("DSB", "2"), ("SOS", "1")]
_SENDERS = ["dsb@example.no", "politi@example.no"]
_KINDS = ["flood", "wildfire"]


def _random_rule(i: int, rng: random.Random) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": f"r{i}", "kind": rng.choice(_KINDS)}
    events = rng.sample(_EVENTS, rng.randint(0, 2))
    codes = rng.sample(_CODES, rng.randint(0, 2))
    if not events and not codes:
        events = [rng.choice(_EVENTS)]
    if events:
        rule["events"] = events
    if codes:
        rule["event_codes"] = [{"value_name": n, "value": v} for n, v in codes]
    if categories := rng.sample(_CATEGORIES, rng.randint(0, 2)):
        rule["categories"] = categories
    if senders := rng.sample(_SENDERS, rng.randint(0, 1)):
        rule["senders"] = senders
    return rule


# Every block of the vocabulary, and values no rule names: an event, a category, a code and
# a sender; up to two categories and two codes (an earlier rule asks for at most one more).
_BLOCKS = [
    (event, categories, codes, sender)
    for event in [*_EVENTS, "Annet"]
    for n in (1, 2)
    for categories in itertools.combinations([*_CATEGORIES, "Safety"], n)
    for m in (0, 1, 2)
    for codes in itertools.combinations([*_CODES, ("X", "9")], m)
    for sender in [*_SENDERS, "annen@example.no"]
]


def _meets(rule: dict[str, Any], block: tuple[Any, ...]) -> bool:
    event, categories, codes, sender = block
    wanted = {(c["value_name"], c["value"]) for c in rule.get("event_codes", [])}
    return (
        ("events" not in rule or event in rule["events"])
        and ("categories" not in rule or bool(set(rule["categories"]) & set(categories)))
        and (not wanted or bool(wanted & set(codes)))
        and ("senders" not in rule or sender in rule["senders"])
    )


def _never_applies_to_another_kind(rules: list[dict[str, Any]]) -> set[int]:
    """The rules that no block reaches and some of whose blocks another kind's rule takes."""
    out = set()
    for j, rule in enumerate(rules):
        takers = []
        for block in (b for b in _BLOCKS if _meets(rule, b)):
            first = next((i for i in range(j) if _meets(rules[i], block)), None)
            if first is None:
                break
            takers.append(first)
        else:
            if any(rules[t]["kind"] != rule["kind"] for t in takers):
                out.add(j)
    return out


def test_rules_refused_as_never_applying_are_those_a_brute_force_over_blocks_finds() -> None:
    rng = random.Random(20261207)
    for _ in range(300):
        rules = [_random_rule(i, rng) for i in range(rng.randint(2, 5))]
        try:
            Recognizer.from_dict({"recognition": rules})
            refused: set[int] = set()
        except InvalidPolicy as err:
            refused = {int(p.path.removeprefix("recognition[").rstrip("]")) for p in err.problems}
        assert refused == _never_applies_to_another_kind(rules), rules


# --- refusals name the field, the value and the rule --------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("certs/dsb.pem", "a single text 'certs/dsb.pem'; write ['certs/dsb.pem']"),
        (None, "NoneType None"),
        ({"path": "certs/dsb.pem"}, "a single table {'path': 'certs/dsb.pem'}"),
    ],
)
def test_certificates_not_written_as_an_array_name_the_value_written(
    value: object, shown: str
) -> None:
    """``certificates = "certs/dsb.pem"``, as a tool writing one certificate does.

    The refusal said only "must be an array": neither what was written nor how to write it.
    """
    entry = {"name": "dsb", "senders": ["dsb@example.no"], "kinds": ["flood"],
             "regions": ["NO"], "signature": "required", "certificates": value}  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_dict({"issuers": [entry]})
    (problem,) = err.value.problems
    assert problem.path == "issuers[0].certificates"
    assert "must be an array of PEM texts or file paths" in problem.message
    assert f"(got {shown}" in problem.message


def test_a_single_pem_text_where_an_array_goes_is_refused_without_its_content() -> None:
    """A private key pasted as the value is named by its label line only, never its body."""
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0Bsecret\n-----END PRIVATE KEY-----\n"
    entry = {"name": "dsb", "senders": ["dsb@example.no"], "kinds": ["flood"],
             "regions": ["NO"], "signature": "required", "certificates": pem}  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_dict({"issuers": [entry]})
    assert "'-----BEGIN PRIVATE KEY-----'" in str(err.value)
    assert "MIIE" not in str(err.value) and "secret" not in str(err.value)


def test_event_codes_written_as_one_table_name_the_table_and_the_array_to_write() -> None:
    """JSON's ``"event_codes": {...}`` where ``[{...}]`` goes, as a generator writes one code."""
    rule = {"name": "flom", "kind": "flood",
            "event_codes": {"value_name": "DSB", "value": "FLOM"}}  # fmt: skip
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_dict({"recognition": [rule]})
    (problem,) = err.value.problems
    assert problem.path == "recognition[0].event_codes"
    assert "(got a single table {'value_name': 'DSB', 'value': 'FLOM'}" in problem.message


# --- the API an operator's tool calls ---------------------------------------------------------


def _table() -> Issuers:
    from geotarget.issuers import Issuer

    return Issuers(
        [Issuer(name="dsb", senders=["dsb@example.no"], kinds=["flood"], regions=["NO"])]
    )


@pytest.mark.parametrize(
    ("call", "field", "shown"),
    [
        (lambda t: t.issuer_of(["dsb@example.no"]), "sender", "list ['dsb@example.no']"),
        (lambda t: t.issuer_of(None), "sender", "NoneType None"),
        (lambda t: Issuers.any().issuer_of(7), "sender", "int 7"),  # type: ignore[arg-type]
        (lambda t: t.may_act_for({"dsb@example.no"}, "dsb@example.no"), "sender", "set"),
        (lambda t: t.may_act_for("dsb@example.no", b"dsb@example.no"), "owner", "bytes"),
    ],
)
def test_a_sender_that_is_not_text_is_refused_naming_the_argument(
    call: Any, field: str, shown: str
) -> None:
    """A tool passing a list of senders, or None for a missing one, is told which argument.

    It got Python's TypeError ("unhashable type") or a silent None: no field, value or rule.
    """
    from geotarget.errors import InvalidType

    wanted = f"{field} must be a CAP sender as a str (got {shown}"
    with pytest.raises(InvalidType, match="^" + re.escape(wanted)):
        call(_table())


@pytest.mark.parametrize("method", ["block_kinds", "looked_at", "recognise"])
def test_recognizer_methods_given_no_alert_say_so(method: str) -> None:
    from geotarget.errors import InvalidType

    with pytest.raises(InvalidType, match=r"^alert must be an Alert \(got str\)"):
        getattr(Recognizer(), method)("<alert>...</alert>")


def test_issuer_problems_given_no_predicate_say_what_it_takes() -> None:
    from geotarget.errors import InvalidType

    with pytest.raises(InvalidType, match=r"^region_exists must be a predicate"):
        _table().problems(None)


# --- a second country's names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "char", "index"),
    [("brannvesen-østfold", "'ø' (U+00F8)", 11), ("räddningstjänsten", "'ä' (U+00E4)", 1),
     ("dsb vest", "' ' (U+0020)", 3)],
)  # fmt: skip
def test_an_issuer_or_rule_name_with_a_letter_outside_ascii_names_the_letter(
    name: str, char: str, index: int
) -> None:
    """The rule said "letters", and ``ø`` is a letter: the refusal contradicted its own rule.

    Names are ASCII (they go into results, logs and ``acts_for``); the refusal says so, and
    names the character that is not allowed and where it is.
    """
    doc: dict[str, Any] = {
        "issuers": [{"name": name, "senders": ["brann@example.no"], "kinds": ["wildfire"],
                     "regions": ["NO"]}],
        "recognition": [{"name": name, "kind": "wildfire", "events": ["Skogbrann"]}],
    }  # fmt: skip
    for reader, path in ((Issuers.from_dict, "issuers[0].name"),
                         (Recognizer.from_dict, "recognition[0].name")):  # fmt: skip
        with pytest.raises(InvalidPolicy) as err:
            reader(doc)
        (problem,) = err.value.problems
        assert problem.path == path
        assert "1 to 64 ASCII letters, digits" in problem.message
        assert f"{char} at index {index} is not allowed" in problem.message
        assert name[index] == char[1]  # the oracle: the character named is the one written


def test_a_name_of_allowed_characters_too_long_says_its_length() -> None:
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_dict({"recognition": [{"name": "r" * 65, "kind": "flood",
                                               "events": ["Flom"]}]})  # fmt: skip
    assert "it has 65 characters" in str(err.value)
