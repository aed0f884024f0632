"""Probes of the policy file as operators edit it: each bad entry named at its field's path."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geotarget import kinds, load_policy, sweden
from geotarget.errors import InvalidPolicy
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer
from geotarget.rollout import KindRollout, Phase, RolloutPolicy


def test_issuer_missing_and_empty_fields_are_each_named_at_their_path() -> None:
    """An issuer table missing fields, or with empty lists, names every such field at once.

    Building the Issuer reported only the first, at the entry's path, in Python's words
    ("Issuer.__init__() missing 3 required keyword-only arguments"), so an operator fixed one
    field per run.
    """
    doc = """
    [[issuers]]
    name = "polisen-syd"

    [[issuers]]
    name = "polisen-vast"
    senders = []
    kinds = []
    regions = []
    """
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(doc)
    got = [(p.path, p.message) for p in err.value.problems]
    empty = "must name at least one (got an empty list)"
    assert got == [
        ("issuers[0].senders", "is required"),
        ("issuers[0].kinds", "is required"),
        ("issuers[0].regions", "is required"),
        ("issuers[1].senders", empty),
        ("issuers[1].kinds", empty),
        ("issuers[1].regions", empty),
    ]
    assert "__init__" not in str(err.value)


def test_recognition_rule_missing_name_and_kind_are_each_named_at_their_path() -> None:
    """A [[recognition]] table without name and kind gets one problem per field."""
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_toml('[[recognition]]\nevents = ["Brand"]\n')
    got = [(p.path, p.message) for p in err.value.problems]
    assert got == [("recognition[0].name", "is required"), ("recognition[0].kind", "is required")]
    assert "__init__" not in str(err.value)


BIG = "x" * 1_000_000
MANY = list(range(100_000))


def _phase(**fields: object) -> dict[str, object]:
    return {"starts_at": "2024-04-15T00:00:00Z", "regions": ["01"], **fields}


def _rollout(top: dict[str, object] | None = None, **fields: object) -> str:
    return json.dumps({"kinds": {"tip_request": {"phases": [_phase(**fields)]}}, **(top or {})})


def _issuer(**fields: object) -> str:
    entry = {"name": "a", "senders": ["a@x.se"], "kinds": ["tip_request"], "regions": ["01"]}
    return json.dumps({"issuers": [{**entry, **fields}]})


def _rule(**fields: object) -> str:
    return json.dumps(
        {"recognition": [{"name": "r", "kind": "tip_request", "events": ["x"], **fields}]}
    )


@pytest.mark.parametrize(
    ("reader", "doc", "path"),
    [
        (RolloutPolicy.from_json, _rollout({"format_version": BIG}), "format_version"),
        (RolloutPolicy.from_json, _rollout({"killed": BIG}), "killed"),
        (RolloutPolicy.from_json, _rollout({"timezone": BIG}), "timezone"),
        (RolloutPolicy.from_json, _rollout({"salt": BIG}), "salt"),
        (RolloutPolicy.from_json, _rollout({"country": BIG}), "country"),
        (RolloutPolicy.from_json, _rollout({BIG: 1}), "xxx"),
        (RolloutPolicy.from_json, json.dumps({"kinds": {BIG: {"phases": [_phase()]}}}), "kinds."),
        (RolloutPolicy.from_json, _rollout(starts_at=BIG), "phases[0].starts_at"),
        (RolloutPolicy.from_json, _rollout(starts_at=MANY), "phases[0].starts_at"),
        (RolloutPolicy.from_json, _rollout(regions=MANY), "phases[0].regions"),
        (RolloutPolicy.from_json, _rollout(regions=[BIG]), "phases[0].regions"),
        (RolloutPolicy.from_json, _rollout(percentage=BIG), "phases[0].percentage"),
        (RolloutPolicy.from_json, _rollout(rollback=BIG), "phases[0].rollback"),
        (RolloutPolicy.from_json, _rollout(illustrative=MANY), "phases[0].illustrative"),
        (Issuers.from_json, _issuer(name=BIG), "issuers[0].name"),
        (Issuers.from_json, _issuer(senders=[BIG + " "]), "issuers[0].senders"),
        (Issuers.from_json, _issuer(kinds=[BIG]), "issuers[0].kinds"),
        (Issuers.from_json, _issuer(acts_for=[BIG]), "issuers[0].acts_for"),
        (Issuers.from_json, _issuer(signature=BIG), "issuers[0].signature"),
        (Issuers.from_json, _issuer(certificates=[MANY]), "issuers[0].certificates[0]"),
        (Issuers.from_json, _issuer(certificates=[BIG]), "issuers[0].certificates[0]"),
        (Recognizer.from_json, _rule(name=BIG), "recognition[0].name"),
        (Recognizer.from_json, _rule(kind=BIG), "recognition[0].kind"),
        (Recognizer.from_json, _rule(events=[" "] * 100_000), "recognition[0].events"),
        (Recognizer.from_json, _rule(categories=[BIG]), "recognition[0].categories"),
        (Recognizer.from_json, _rule(event_codes=[{"value_name": BIG}]), "recognition[0]"),
        (Recognizer.from_json, _rule(senders=[BIG + " "]), "recognition[0].senders"),
        (
            kinds.location_rules_from_json,
            json.dumps({"location_rules": {"k": {"include_ambiguous": True, BIG: 1}}}),
            "location_rules.k.",
        ),
        (
            kinds.location_rules_from_json,
            json.dumps({"location_rules": {BIG: {}}}),
            "location_rules.",
        ),
    ],
)
def test_a_huge_value_is_quoted_briefly(reader: Any, doc: str, path: str) -> None:
    """A megabyte value is refused in a few hundred characters that still name the field.

    A certificate pasted into the wrong field, a generated list: the messages quoted the whole value, and its key in the path: one problem of a 4 MiB policy
    file became a megabyte log line.
    """
    with pytest.raises(InvalidPolicy) as err:
        reader(doc)
    text = str(err.value)
    assert len(text) < 1_000, text[:300]
    assert any(p.path.startswith(path) or path in p.path for p in err.value.problems), text


def test_a_region_code_that_lost_its_leading_zero_is_named_with_it() -> None:
    """A code that lost its leading zero suggests the code with it, in rollout and issuers.

    "180" (Stockholm's "0180" through a spreadsheet) suggested codes spelled alike ('1880',
    '1980', '2180').
    """
    hierarchy = sweden.hierarchy()
    doc = (
        'timezone = "Europe/Stockholm"\nissuers = [{name = "a", senders = ["a@x.se"], '
        'kinds = ["tip_request"], regions = ["180"]}]\n'
        '[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15\nregions = ["180", "1"]\n'
    )
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(doc, catalog=hierarchy)
    assert [p.message for p in err.value.problems] == [
        "unknown region code '1'; a leading zero lost? did you mean '01'?",
        "unknown region code '180'; a leading zero lost? did you mean '0180'?",
    ]
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_toml(doc, catalog=hierarchy)
    assert [p.message for p in err.value.problems] == [
        "'180' is not a region code of the hierarchy; a leading zero lost? did you mean '0180'?"
    ]


def test_event_texts_match_whatever_their_case_and_composition() -> None:
    """Greek "ΐ" (one code point) and its capital with tonos, "Ϊ́", are one letter for events.

    Case folding turns the precomposed small letter into three code points, while the capital
    folds to two that compose back to one: the texts compared unequal, so a rule written in
    small letters missed an event sent in capitals. Every letter is checked against Unicode's
    canonical caseless match.
    """
    rule = Recognizer.from_toml(
        '[[recognition]]\nname = "gr"\nkind = "explosion"\nevents = ["\u0390 \u03b0"]\n'
    ).rules[0]
    capital = "\u03aa\u0301 \u03ab\u0301"  # Ϊ́ Ϋ́, decomposed as keyboards send them
    assert kinds.normalise_event(capital) in rule.events

    def caseless(text: str) -> str:  # Unicode 15, section 3.13, D145
        nfd = unicodedata.normalize("NFD", text)
        return unicodedata.normalize("NFD", nfd.casefold())

    wrong = []
    for point in range(0x20, 0x30000):
        c = chr(point)
        if unicodedata.category(c) in ("Cs", "Cn", "Co"):
            continue
        for other in (c.upper(), c.lower(), unicodedata.normalize("NFD", c.upper())):
            same = caseless(c) == caseless(other)
            if same != (kinds.normalise_event(c) == kinds.normalise_event(other)):
                wrong.append(f"U+{point:04X}")
    assert wrong == []


def test_a_float32_percentage_is_read_as_the_step_it_shows() -> None:
    """np.float32(33.33), from a float32 column, is the step 33.33, as 33.33 is.

    It is 33.33000183... as a float64, more than the 1e-7 tolerance away from the step: it was
    refused as "must be in steps of 0.01 (got np.float32(33.33))". Every step of 0.01 is checked,
    in float32 and float16 where the type can tell the steps apart.
    """
    t = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    for step in range(10_001):
        want = step / 100
        got = Phase(starts_at=t, regions={"01"}, percentage=np.float32(want)).percentage
        assert got == want, step
    assert Phase(starts_at=t, regions={"01"}, percentage=np.float16(12.5)).percentage == 12.5
    with pytest.raises(InvalidPolicy, match=r"steps of 0\.01"):
        Phase(starts_at=t, regions={"01"}, percentage=np.float32(33.333))


def test_thousands_of_unknown_codes_get_ten_problems_and_a_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Postal codes pasted as regions: ten problems with hints, then one count.

    Each unknown code got its own problem, and its own search for close matches (half a
    millisecond each in the Swedish hierarchy): a 4 MiB file of codes took minutes and made a
    message of megabytes. The searches are counted here: one for each code shown.
    """
    import difflib

    searches = 0
    search = difflib.get_close_matches

    def counted(*args: Any, **kw: Any) -> Any:
        nonlocal searches
        searches += 1
        return search(*args, **kw)

    monkeypatch.setattr(difflib, "get_close_matches", counted)
    hierarchy = sweden.hierarchy()
    codes = [f"{n}45" for n in range(100, 5_100)] + ["0180", "01"]  # postal codes: "10045"
    phase = {"starts_at": "2024-04-15T00:00:00Z", "regions": codes}
    doc = json.dumps({"kinds": {"tip_request": {"phases": [phase]}}})
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(doc, catalog=hierarchy)
    problems = err.value.problems
    assert len(problems) == 11 and len(str(err.value)) < 2_000
    assert problems[-1].message.startswith(
        "and 4,990 more codes unknown or outside the country 'SE': "
    )
    assert searches <= 10
    searches = 0
    issuer = {"name": "a", "senders": ["a@x.se"], "kinds": ["tip_request"], "regions": codes}
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(json.dumps({"issuers": [issuer]}), catalog=hierarchy)
    problems = err.value.problems
    assert len(problems) == 11 and len(str(err.value)) < 2_000
    assert problems[-1].message.startswith(
        "and 4,990 more codes that are not region codes of the hierarchy: "
    )
    assert searches <= 10


def test_a_rule_behind_a_wider_rule_of_another_kind_is_refused() -> None:
    """A rule that can never apply, behind one of another kind matching all it matches.

    An operator adds "police explosions are crime modus" after "every Explosion is an
    explosion": the first rule wins every time, so the police's alerts went out as explosions
    (nationwide, failing open) with no word. The narrower rule first is fine, and so is a
    wider rule of the same kind behind it, or a rule overlapping only in part.
    """
    wide = '[[recognition]]\nname = "all"\nkind = "explosion"\nevents = ["Explosion"]\n'
    narrow = (
        '[[recognition]]\nname = "police"\nkind = "crime_modus"\nevents = ["EXPLOSION "]\n'
        'senders = ["polisen@polisen.se"]\ncategories = ["Security"]\n'
    )
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_toml(wide + narrow)
    assert [(p.path, p.message) for p in err.value.problems] == [
        (
            "recognition[1]",
            "rule 'police' (kind crime_modus) never applies: rule 'all' (recognition[0], kind "
            "explosion) is tried first and matches every alert it matches; put the narrower "
            "rule first",
        )
    ]
    assert [r.name for r in Recognizer.from_toml(narrow + wide).rules] == ["police", "all"]
    same = wide + narrow.replace('"crime_modus"', '"explosion"')
    assert len(Recognizer.from_toml(same).rules) == 2
    part = wide + narrow.replace('events = ["EXPLOSION "]', 'events = ["Explosion", "Sprängning"]')
    assert len(Recognizer.from_toml(part).rules) == 2
    codes = (
        '[[recognition]]\nname = "code"\nkind = "explosion"\n'
        'event_codes = [{value_name = "SOS", value = "EXPL"}]\n'
    )
    coded = narrow.replace(
        'events = ["EXPLOSION "]', 'event_codes = [{value_name = "SOS", value = "expl"}]'
    )
    with pytest.raises(InvalidPolicy, match=r"rule 'police' \(kind crime_modus\) never applies"):
        Recognizer.from_toml(codes + coded)


def test_a_region_code_written_as_a_number_is_named_with_its_index_and_quotes() -> None:
    """JSON ``"regions": ["01", 180]``: the element is named, and the code it would be.

    The problem was "must be an array of region code strings (got ['01', 180])", at the list:
    no word of which element, nor that 180 is Stockholm's "0180" without quotes and zero.
    """
    phase = {"starts_at": "2024-04-15T00:00:00Z", "regions": ["01", 180]}
    doc = json.dumps({"kinds": {"tip_request": {"phases": [phase]}}})
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(doc, catalog=sweden.hierarchy())
    assert [(p.path, p.message) for p in err.value.problems] == [
        (
            "kinds.tip_request.phases[0].regions[1]",
            "must be a region code string (got int 180); region codes are text, written in "
            "quotes: a leading zero lost? did you mean '0180'?",
        )
    ]
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(doc)
    (problem,) = err.value.problems
    assert problem.path == "kinds.tip_request.phases[0].regions[1]"
    assert problem.message.endswith('write it in quotes ("180", or "0180"?)')
    issuer = {"name": "a", "senders": ["a@x.se"], "kinds": ["tip_request"], "regions": [180]}
    with pytest.raises(InvalidPolicy, match=r'regions\[0\] must be a region code string .*"0180"'):
        Issuers.from_json(json.dumps({"issuers": [issuer]}))


def test_every_bad_key_of_a_location_table_is_listed_when_one_is_missing() -> None:
    """``location = { accuracy = nan }``: the missing max_age_s and the bad accuracy, both.

    A missing required key ended the table's checks, so the other keys' problems showed up
    only after the first was fixed.
    """
    doc = (
        "[location_rules.fire]\ninclude_ambiguous = true\n"
        "location = { accuracy = nan }\nstale = { margin_m = -5 }\n"
    )
    with pytest.raises(InvalidPolicy) as err:
        kinds.location_rules_from_toml(doc)
    assert [p.path for p in err.value.problems] == [
        "location_rules.fire.location.max_age_s",
        "location_rules.fire.location.accuracy",
        "location_rules.fire.stale.max_age_s",
        "location_rules.fire.stale.margin_m",
    ]
    assert "(got nan)" in err.value.problems[1].message
    assert "(got -5)" in err.value.problems[3].message


def test_a_loaded_policy_file_is_hashable() -> None:
    """Two loads of one file are equal with equal hashes: a service can cache by policy.

    ``hash(load_policy(...))`` raised TypeError ("unhashable type: 'mappingproxy'"), from its
    read-only location rules, though the class is frozen.
    """
    first = load_policy(Path("docs/examples/pilot_policy.toml"))
    again = load_policy(Path("docs/examples/pilot_policy.toml"))
    assert first == again and hash(first) == hash(again) and len({first, again}) == 1


def test_a_loaded_policy_file_pickles_and_copies_as_it_was() -> None:
    """A policy crosses to a worker process (pickle) and copies, still read-only.

    Its location rules were a mapping proxy, which neither pickles nor deep-copies: a service
    handing its policy to a process pool got "cannot pickle 'mappingproxy' object".
    """
    import copy
    import pickle

    first = load_policy(Path("docs/examples/pilot_policy.toml"))
    for again in (pickle.loads(pickle.dumps(first)), copy.deepcopy(first), copy.copy(first)):
        assert again == first and hash(again) == hash(first)
        assert dict(again.location_rules) == dict(first.location_rules)
        with pytest.raises(TypeError):
            again.location_rules["explosion"] = None  # type: ignore[index]


@pytest.mark.parametrize("reader", [RolloutPolicy.from_toml, RolloutPolicy.from_json])
def test_the_rollout_readers_read_a_file_up_to_four_mebibytes(reader: Any, tmp_path: Path) -> None:
    """A 256 MiB file named by mistake is refused after 4 MiB, as load_policy refuses it.

    The rollout's own readers read a file whole: /dev/zero ran the process out of memory.
    """
    big = tmp_path / "policy.toml"
    with open(big, "wb") as f:
        f.truncate(256 * 1024 * 1024)  # sparse: no disk used
    tracemalloc.start()
    try:
        with pytest.raises(InvalidPolicy, match=r"is larger than 4,194,304 bytes"):
            reader(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024


@pytest.mark.parametrize(
    ("reader", "name"),
    [
        (Issuers.from_toml, "operator.toml"),
        (Recognizer.from_toml, "operator.toml"),
        (kinds.location_rules_from_toml, "operator.toml"),
        (Issuers.from_json, "operator.json"),
        (Recognizer.from_json, "operator.json"),
        (kinds.location_rules_from_json, "operator.json"),
    ],
)
def test_a_section_reader_given_a_file_name_as_str_says_to_pass_a_path(
    reader: Any, name: str
) -> None:
    """``Recognizer.from_toml("operator.toml")`` reads the name as TOML: say to pass a Path.

    The rollout's reader said so; the section readers gave only the syntax error ("Expected '='
    after a key"), about a document the operator never wrote.
    """
    with pytest.raises(InvalidPolicy) as err:
        reader(name)
    assert str(err.value).endswith(f"(to read the file {name!r}, pass pathlib.Path({name!r}))")


@pytest.mark.parametrize("reader", [Issuers.from_toml, Recognizer.from_toml])
def test_a_section_reader_names_the_file_and_byte_that_is_not_utf8(
    reader: Any, tmp_path: Path
) -> None:
    """A Latin-1 policy file: the section readers name the file, the byte and its line.

    They said "not UTF-8 text: 'utf-8' codec can't decode byte 0xe9 in position 21: invalid
    continuation byte": no file name, an offset to count by hand.
    """
    path = tmp_path / "operator.toml"
    path.write_bytes('issuers = "any"\n# Polisen, Malm\xf6\n'.encode("latin-1"))
    with pytest.raises(InvalidPolicy) as err:
        reader(path)
    (problem,) = err.value.problems
    assert problem.message == (
        f"the policy file {str(path)!r}: not UTF-8: byte 0xf6 at line 2 (offset 31); policies "
        "are UTF-8 text"
    )


def test_an_issuers_unknown_region_gets_the_rollouts_hints() -> None:
    """An issuer's " 01", "pr-syd", "O1" or "Stockholm" is told what it is, as in the rollout.

    With a catalog, the rollout's reader named the code meant; the issuers reader said only
    "is not a region code of the hierarchy".
    """
    issuer = {
        "name": "syd",
        "senders": ["syd@polisen.se"],
        "kinds": ["tip_request"],
        "regions": [" 01", "pr-syd", "O1", "Stockholm"],
    }
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(json.dumps({"issuers": [issuer]}), catalog=sweden.hierarchy())
    hints = [p.message.partition("; ")[2] for p in err.value.problems]
    assert hints == [
        "codes have no surrounding spaces: did you mean '01'?",
        "letters that look like digits: did you mean '01'?",
        "'Stockholm' is a region's name, not its code: '0180' (Stockholm, municipality)",
        "codes are case-sensitive: did you mean 'PR-SYD'?",
    ]


def test_a_phase_from_a_pandas_timestamp_decides_as_its_file_does() -> None:
    """A pandas Timestamp start is stored as a plain datetime; nanoseconds are refused.

    ``Timestamp("2024-04-15 00:00:00.000000500")`` was kept with its nanoseconds: the policy
    said NOT_STARTED at 00:00:00, while its hash and its file said it starts then, and the
    policy read back from its own JSON was not equal to it.
    """
    pd = pytest.importorskip("pandas")
    at = dt.datetime(2024, 4, 15, tzinfo=dt.timezone.utc)
    whole = Phase(starts_at=pd.Timestamp("2024-04-15 02:00", tz="Europe/Stockholm"), regions={"01"})
    assert type(whole.starts_at) is dt.datetime and whole.starts_at == at
    policy = RolloutPolicy(rollouts=[KindRollout(kind="tip_request", phases=[whole])])
    assert RolloutPolicy.from_json(policy.to_json()) == policy
    with pytest.raises(InvalidPolicy, match="has 500 nanoseconds past the microsecond"):
        Phase(starts_at=pd.Timestamp("2024-04-15 00:00:00.000000500", tz="UTC"), regions={"01"})


@pytest.mark.parametrize(
    ("reader", "doc"),
    [(Issuers.from_json, '{"issuers": []}'), (Issuers.from_toml, "issuers = []\n")],
)
def test_an_empty_issuers_table_is_refused(reader: Any, doc: str) -> None:
    """``"issuers": []`` (a generator's empty list) would let no sender alert anybody.

    It was read as a table of no issuers: the policy loaded, and every alert was refused as
    UNKNOWN_ISSUER, however right its sender.
    """
    with pytest.raises(InvalidPolicy) as err:
        reader(doc)
    assert [p.path for p in err.value.problems] == ["issuers"]
    assert "must name at least one issuer" in err.value.problems[0].message


def test_a_targeters_issuer_with_an_unknown_region_gets_the_hints() -> None:
    """The Targeter checks its issuers' regions with the same hints as the policy readers.

    Built from Python, an issuer's "180" or "pr-syd" was told only "is not a region code of
    the hierarchy"; a lookup of "180" suggested '1880', '1980', '2180', not Stockholm's '0180'.
    """
    from geotarget import Targeter, pilot
    from geotarget.issuers import Issuer

    issuers = Issuers(
        [
            Issuer(
                name="syd",
                senders=["syd@polisen.se"],
                kinds=["tip_request"],
                regions=["180", "pr-syd"],
            )
        ]
    )
    with pytest.raises(InvalidPolicy) as err:
        Targeter(sweden.hierarchy(), pilot.pilot_policy(), issuers=issuers)
    assert [p.message.partition("; ")[2] for p in err.value.problems] == [
        "a leading zero lost? did you mean '0180'?",
        "codes are case-sensitive: did you mean 'PR-SYD'?",
    ]
    with pytest.raises(KeyError, match=r"a leading zero lost\? did you mean '0180'\?"):
        sweden.hierarchy().level_of("180")
