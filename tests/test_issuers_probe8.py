"""Issuers and recognition rules as an operator writes them (round 8): lookalike senders.

Inputs no earlier test used: a policy whose sender was pasted with a homoglyph (a Cyrillic
``і`` or ``о``, a Greek ``ο`` in a Latin address). Senders compare exactly, so such a policy
would refuse the real sender at alert time and trust the lookalike: it is refused when read.
Oracle: :mod:`unicodedata`'s character names, by plain Python, and the policy file's own text.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from geotarget import Circle, PositionIndex, Positions, load_policy, pilot, sweden
from geotarget.alerts import NamedValue
from geotarget.errors import InvalidInput, InvalidPolicy
from geotarget.issuers import Issuer
from geotarget.kinds import RecognitionRule
from geotarget.targeting import Targeter, Verdict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib: Any = pytest.importorskip("tomli")

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pilot_policy.toml"
NATIONAL = "polisen@polisen.se"
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
MSG = pilot.Message(headline="Rubrik", description="Beskrivning", area_description="Område")

#: Lookalikes of the national police's sender: one letter of another script in a Latin part.
LOOKALIKES = [
    "polisen@pol\u0456sen.se",  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
    "p\u043elisen@polisen.se",  # CYRILLIC SMALL LETTER O, in the local part
    "polisen@polisen.s\u0435",  # CYRILLIC SMALL LETTER IE, in the top-level domain
    "polisen@p\u03bflisen.se",  # GREEK SMALL LETTER OMICRON
    "mailto:polisen@pol\u0456sen.se",
]


def _scripts_of_a_part(sender: str) -> list[set[str]]:
    """The oracle: per part between '@', '.', '/', ':', the scripts of its letters by name."""
    out = []
    part: set[str] = set()
    for c in sender + ".":
        if c in "@./:":
            out.append(part)
            part = set()
        elif c.isalpha():
            part.add(unicodedata.name(c).split(" ")[0])
    return out


@pytest.mark.parametrize("sender", LOOKALIKES)
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_a_lookalike_issuer_sender_is_refused_when_the_policy_is_read(
    sender: str, fmt: str, tmp_path: Path
) -> None:
    """The national police's sender pasted with a homoglyph: refused at its path, not loaded.

    Loaded, the policy would answer UNKNOWN_ISSUER to the real police's every alert (an
    authorised sender refused in an emergency) and trust the lookalike's.
    """
    assert any(len(s & {"LATIN", "CYRILLIC", "GREEK"}) > 1 for s in _scripts_of_a_part(sender))
    text = EXAMPLE.read_text(encoding="utf-8")
    assert f'senders = ["{NATIONAL}"]' in text
    text = text.replace(f'senders = ["{NATIONAL}"]', f"senders = [{json.dumps(sender)}]")
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    if fmt == "json":
        data = tomllib.loads(text)
        path = tmp_path / "policy.json"
        path.write_text(json.dumps(data, default=str), encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(path, catalog=sweden.hierarchy())
    message = str(err.value)
    assert "issuers[0].senders" in message
    assert repr(sender) in message
    odd = next(c for c in sender if c.isalpha() and not unicodedata.name(c).startswith("LATIN"))
    assert f"U+{ord(odd):04X}" in message
    assert "lookalike" in message


@pytest.mark.parametrize("sender", LOOKALIKES)
def test_a_lookalike_sender_is_refused_by_the_api_and_in_a_rule(sender: str) -> None:
    with pytest.raises(InvalidInput, match=r"senders\[1\] .*lookalike"):
        Issuer(name="p", senders=["syd@polisen.se", sender], kinds=["explosion"], regions=["SE"])
    with pytest.raises(InvalidInput, match=r"senders\[0\] .*lookalike"):
        RecognitionRule(name="r", kind="explosion", events=["Explosion"], senders=[sender])


@pytest.mark.parametrize(
    "sender",
    [
        "\u043f\u043e\u043b\u0438\u0446\u0438\u044f@\u043c\u0432\u0434.\u0440\u0444",  # Cyrillic
        "info@\u8b66\u5bdfjp.example",  # Latin with Han in one label, as Japanese write
        "r\u00e4ddning@r\u00e4ddningstj\u00e4nst.se",  # Latin with accents
        "\u03b5\u03bb\u03b1\u03c3@police.gr",  # a Greek local part, a Latin domain
        "https://www.smhi.se/varningar",
    ],
)
def test_an_address_in_one_script_per_part_is_still_accepted(sender: str) -> None:
    assert all(len(s & {"LATIN", "CYRILLIC", "GREEK"}) <= 1 for s in _scripts_of_a_part(sender))
    assert sender in Issuer(name="x", senders=[sender], kinds=["explosion"], regions=["SE"]).senders
    rule = RecognitionRule(name="r", kind="explosion", events=["Explosion"], senders=[sender])
    assert sender in rule.senders


def _explosion_from(sender: str, identifier: str) -> Any:
    """``target()`` under the shipped example policy: a 500 m Explosion from ``sender``.

    One device at the circle's centre.
    """
    pf = load_policy(EXAMPLE, catalog=sweden.hierarchy())
    assert pf.issuers is not None
    targeter = Targeter(
        sweden.hierarchy(), pf.rollout, recognition=pf.recognition, issuers=pf.issuers,
        location_rules=pf.location_rules,
    )  # fmt: skip
    alert = pilot.explosion(
        identifier=identifier, sender=sender, sent=T0,
        area=Circle(lon=18.06, lat=59.33, radius_m=500), sv=MSG, en=MSG, onset=T0,
        expires=T0 + dt.timedelta(hours=2),
    )  # fmt: skip
    index = PositionIndex(
        Positions(["a"], np.array([18.06]), np.array([59.33]), accuracy_m=np.ones(1),
                  observed_at=T0)
    )  # fmt: skip
    return targeter.target(alert, index, T0)


def test_the_example_policys_national_police_still_reach_the_public(tmp_path: Path) -> None:
    """The check refuses no sender of the shipped example: its explosion reaches the phone."""
    result = _explosion_from(NATIONAL, "SE-POL-8")
    assert result.verdict is Verdict.DELIVER, result.reason
    assert result.recipients.tolist() == ["a"]


def _letter_scripts_of_words(text: str) -> list[set[str]]:
    """The oracle: per run of letters, the scripts of its letters by their Unicode names."""
    out: list[set[str]] = [set()]
    for c in text:
        if c.isalpha() and not c.isdigit():
            out[-1].add(unicodedata.name(c).split(" ")[0])
        else:
            out.append(set())
    return out


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("events", '["R\u00e4j\u00e4hdys", "Explosi\u043en"]', "events[1]"),  # Cyrillic o
        ("events", '["Risk f\u00f6r expl\u03bfsion"]', "events[0]"),  # Greek omicron
        (
            "event_codes",
            '[{ value_name = "SOS\u0410larm:event", value = "EXPL" }]',  # Cyrillic A
            "event_codes[0].value_name",
        ),
        (
            "event_codes",
            '[{ value_name = "SOSAlarm:event", value = "\u0415XPL" }]',  # Cyrillic IE
            "event_codes[0].value",
        ),
    ],
)
def test_a_rule_whose_event_or_code_is_a_lookalike_is_refused(
    key: str, value: str, path: str, tmp_path: Path
) -> None:
    """A rule written with a homoglyph would never match the alert it means: refused."""
    text = EXAMPLE.read_text(encoding="utf-8")
    rule = '[[recognition]]\nname = "fi:explosion"\nkind = "explosion"\n'
    old = rule + 'events = ["R\u00e4j\u00e4hdys", "R\u00e4j\u00e4hdysvaara"]'
    assert old in text
    text = text.replace(old, f"{rule}{key} = {value}")
    assert any(len(s & {"LATIN", "CYRILLIC", "GREEK"}) > 1 for s in _letter_scripts_of_words(text))
    file = tmp_path / "policy.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file, catalog=sweden.hierarchy())
    message = str(err.value)
    assert f"recognition[1].{key}" in message
    assert path in message
    assert "lookalike" in message


@pytest.mark.parametrize(
    "event",
    [
        "\u0412\u0437\u0440\u044b\u0432",  # Cyrillic
        "\u0388\u03ba\u03c1\u03b7\u03be\u03b7",  # Greek
        "Explosion / \u0412\u0437\u0440\u044b\u0432",  # two scripts, each word in one
        "Str\u00e5lning \u00f6ver 100 \u00b5Sv/h",  # the micro sign is no Greek letter
        "\u03b1-particle",
        "\u7206\u767a",
    ],
)
def test_an_event_in_one_script_per_word_is_still_a_rule(event: str) -> None:
    assert all(
        len(s & {"LATIN", "CYRILLIC", "GREEK"}) <= 1 for s in _letter_scripts_of_words(event)
    )
    rule = RecognitionRule(name="r", kind="explosion", events=[event])
    assert len(rule.events) == 1


def test_the_api_refuses_a_lookalike_event_or_code_at_its_index() -> None:
    with pytest.raises(InvalidInput, match=r"events\[1\] .*lookalike"):
        RecognitionRule(name="r", kind="explosion", events=["Explosion", "Expl\u043esion"])
    with pytest.raises(InvalidInput, match=r"event_codes\[0\]\.value .*lookalike"):
        RecognitionRule(
            name="r", kind="explosion", event_codes=[NamedValue("SOSAlarm:event", "\u0415XPL")]
        )


def _sos_targeter() -> Targeter:
    pf = load_policy(EXAMPLE, catalog=sweden.hierarchy())
    assert pf.issuers is not None
    return Targeter(
        sweden.hierarchy(), pf.rollout, recognition=pf.recognition, issuers=pf.issuers,
        location_rules=pf.location_rules,
    )  # fmt: skip


def _sos_alert(value_name: str, value: str, ident: str) -> Any:
    """SOS Alarm's explosion with only its own event code (no geotarget:kind, no known event)."""
    alert = pilot.explosion(
        identifier=ident, sender="larm@sosalarm.se", sent=T0,
        area=Circle(lon=18.06, lat=59.33, radius_m=500), sv=MSG, en=MSG, onset=T0,
        expires=T0 + dt.timedelta(hours=2),
    )  # fmt: skip
    info = attrs.evolve(
        alert.infos[0], event="H\u00e4ndelse", event_codes=[NamedValue(value_name, value)]
    )
    return attrs.evolve(alert, infos=[info])


@pytest.mark.parametrize("value_name", ["sosalarm:event", "SOSALARM:EVENT", "SosAlarm:Event"])
def test_an_event_code_whose_value_name_differs_only_by_case_is_named_in_the_reason(
    value_name: str,
) -> None:
    """Refused as documented (valueNames compare exactly), and the reason says which rule's."""
    text = EXAMPLE.read_text(encoding="utf-8")
    written = 'value_name = "SOSAlarm:event", value = "EXPL"'
    assert written in text  # the oracle: the name as the policy file writes it
    assert value_name != "SOSAlarm:event" and value_name.lower() == "sosalarm:event"
    targeter = _sos_targeter()
    index = PositionIndex(
        Positions(["a"], np.array([18.06]), np.array([59.33]), accuracy_m=np.ones(1),
                  observed_at=T0)
    )  # fmt: skip
    result = targeter.target(_sos_alert(value_name, "EXPL", f"S-{value_name}"), index, T0)
    assert result.verdict is Verdict.UNRECOGNISED_KIND
    assert f"{value_name!r} where a rule names 'SOSAlarm:event'" in result.reason
    exact = targeter.target(_sos_alert("SOSAlarm:event", "expl", "S-exact"), index, T0)
    assert exact.verdict is Verdict.DELIVER, exact.reason
    other = targeter.target(_sos_alert(value_name, "BRAND", f"S-o-{value_name}"), index, T0)
    assert other.verdict is Verdict.UNRECOGNISED_KIND
    assert "where a rule names" not in other.reason  # another value: no near miss


def test_an_alert_from_a_lookalike_sender_is_refused_saying_why() -> None:
    """An upstream writes the national police's sender with a Cyrillic i: UNKNOWN_ISSUER.

    The reason names the letter of another script, not only "belongs to no issuer".
    """
    head, _, domain = NATIONAL.partition("@")
    fake = head + "@" + domain.replace("i", "\u0456", 1)  # a Cyrillic i
    assert fake != NATIONAL
    result = _explosion_from(fake, "SE-POL-9")
    assert result.verdict is Verdict.UNKNOWN_ISSUER, result.reason
    assert result.recipients.tolist() == []
    assert "Cyrillic" in result.reason and "U+0456" in result.reason, result.reason
    assert "lookalike" in result.reason, result.reason
