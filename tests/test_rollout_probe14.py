"""Rollout policies probed as operators write them: every item named, other formats named."""

from __future__ import annotations

import datetime as dt
import json
import sys
import zoneinfo
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from geotarget import load_policy, sweden
from geotarget.errors import InvalidPolicy
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer
from geotarget.rollout import Phase, RolloutPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (tomli is a dependency there)
    tomllib: Any = __import__("tomli")


def _problems(err: pytest.ExceptionInfo[InvalidPolicy]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in err.value.problems]


def _one_phase(regions: object) -> str:
    """A JSON policy of one tip_request phase listing ``regions``."""
    phase = {"starts_at": "2024-04-15", "regions": regions}
    return json.dumps(
        {"timezone": "Europe/Stockholm", "kinds": {"tip_request": {"phases": [phase]}}}
    )


# --- every item of a phase's regions is checked, not only the first that is no text ------------


@pytest.mark.parametrize("with_regions", [False, True])
def test_every_item_of_regions_that_is_no_code_is_named_at_its_index(with_regions: bool) -> None:
    """``[1, 14, "Skåne län", null, "01", "01"]``: each bad item at its own index, all at once.

    Before, only ``regions[0]`` was named; ``14``, ``null``, the name written where a code goes
    and the code listed twice came up one run at a time, after each fix.
    """
    regions: list[object] = [1, 14, "Skåne län", None, "01", "01"]
    catalog = sweden.hierarchy() if with_regions else None
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(_one_phase(regions), catalog=catalog)
    got = _problems(err)
    base = "kinds.tip_request.phases[0].regions"
    # the oracle: every item that is not a str, by index, as the document holds it
    not_text = [k for k, item in enumerate(regions) if not isinstance(item, str)]
    assert [path for path, _ in got if path != base] == [f"{base}[{k}]" for k in not_text]
    at_list = [message for path, message in got if path == base]
    assert any(m.startswith("'Skåne län' is not a region code") for m in at_list)
    assert any("'01' more than once" in m for m in at_list)
    if with_regions:  # the name gets the code it names, the number the code it lost
        assert any("'12' (Skåne län, county)" in m for m in at_list)
        assert "did you mean '01'?" in dict(got)[f"{base}[0]"]


def test_many_items_that_are_no_text_get_five_problems_and_a_count() -> None:
    regions = list(range(25))
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(_one_phase(regions))
    got = _problems(err)
    assert [path for path, _ in got[:5]] == [
        f"kinds.tip_request.phases[0].regions[{k}]" for k in range(5)
    ]
    assert len(got) == 6
    assert got[-1][1].startswith("and 20 more items that are not region code strings")


@pytest.mark.parametrize("regions", [[], [True], [None, None]])
def test_a_list_of_no_code_at_all_says_so_once(regions: list[object]) -> None:
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(_one_phase(regions))
    got = _problems(err)
    assert len(got) == max(1, len(regions))
    if not regions:
        assert got[0][1].startswith("must name at least one region")
    else:  # no placeholder code is reported as if written
        assert all("must be a region code string" in m for _, m in got)


# --- a policy in another format says which -----------------------------------------------------

_YAML = """\
# the pilot, as a ConfigMap holds it
timezone: Europe/Stockholm
kinds:
  explosion:
    phases:
      - starts_at: 2024-04-15T00:00:00
        regions: [SE]
"""
_JSON = '{"timezone": "Europe/Stockholm", "kinds": {"explosion": {"phases": []}}}'
_TOML = '# the pilot\ntimezone = "Europe/Stockholm"\n[kinds.explosion]\nkilled = false\n'


def test_the_oracle_texts_are_what_they_say() -> None:
    """The texts below are JSON, TOML and neither, by the standard library's own parsers."""
    assert isinstance(json.loads(_JSON), dict)
    assert isinstance(tomllib.loads(_TOML), dict)
    for text in (_YAML, _TOML):
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
    for text in (_YAML, _JSON):
        with pytest.raises(tomllib.TOMLDecodeError):
            tomllib.loads(text)


@pytest.mark.parametrize(
    ("reader", "text", "said"),
    [
        ("toml", _JSON, "it is JSON text, not TOML: read it as JSON"),
        ("json", _TOML, "it is TOML text, not JSON: read it as TOML"),
        ("json", _YAML, "line 2, 'timezone: Europe/Stockholm', is written as YAML"),
        ("toml", _YAML, "line 2, 'timezone: Europe/Stockholm', is written as YAML"),
        ("json", "---\n" + _YAML, "line 1, '---', is written as YAML"),
    ],
)
def test_a_policy_in_another_format_is_named_as_that_format(
    reader: str, text: str, said: str
) -> None:
    """Named as its format, not as a typo.

    Before: "Invalid statement", "Expecting value" -- or, for YAML opening with a comment,
    the hint that JSON has no comments and TOML has, as if the text were JSON.
    """
    with pytest.raises(InvalidPolicy) as err:
        getattr(RolloutPolicy, f"from_{reader}")(text)
    (problem,) = err.value.problems
    assert said in problem.message
    assert "JSON has no comments" not in problem.message


def test_a_yaml_line_in_a_toml_file_is_named_with_its_line() -> None:
    text = _TOML + '[[kinds.explosion.phases]]\nstarts_at: 2024-04-15T00:00:00\nregions = ["SE"]\n'
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text)
    (problem,) = err.value.problems
    row = text.splitlines().index("starts_at: 2024-04-15T00:00:00") + 1
    assert f"line {row}, 'starts_at: 2024-04-15T00:00:00', is written as YAML" in problem.message
    assert "key = value" in problem.message


def test_load_policy_of_a_toml_file_holding_json_says_to_name_it_json(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(_JSON, encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(path)
    assert "read it as JSON (a file named .json" in str(err.value)


@pytest.mark.parametrize(("reader", "text"), [("json", ""), ("toml", "{}"), ("json", '{"a": 1,}')])
def test_a_broken_document_of_its_own_format_is_not_named_another(reader: str, text: str) -> None:
    with pytest.raises(InvalidPolicy) as err:
        getattr(RolloutPolicy, f"from_{reader}")(text)
    assert "YAML" not in str(err.value)
    assert " text, not " not in str(err.value)


# --- a time zone name in another case -----------------------------------------------------------


def _iana_spelling(name: str) -> str | None:
    """The oracle: the name as the time zone database lists it, compared without case."""
    return {key.casefold(): key for key in zoneinfo.available_timezones()}.get(name.casefold())


@pytest.mark.parametrize(
    "name", ["europe/stockholm", "EUROPE/STOCKHOLM", "utc", "Europe/stockholm"]
)
def test_a_zone_name_in_another_case_names_the_spelling_of_the_database(name: str) -> None:
    meant = _iana_spelling(name)
    assert meant is not None and meant != name
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(f'timezone = "{name}"\n')
    (problem,) = err.value.problems
    assert problem.path == "timezone"
    assert f"did you mean {meant!r}?" in problem.message


def test_a_zone_name_in_another_case_is_refused_where_the_file_system_ignores_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name another case of a zone's is refused even where ``ZoneInfo`` would load it.

    On macOS and Windows ``ZoneInfo("europe/stockholm")`` loads: the same file was read there
    (with a policy_hash of its own) and refused on Linux. Simulated: a ZoneInfo that, as such a
    file system does, finds a zone whatever the case of its name.
    """
    real = zoneinfo.ZoneInfo

    def ignoring_case(key: str) -> zoneinfo.ZoneInfo:
        return real(_iana_spelling(key) or key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", ignoring_case)
    name = "eUROPE/sTOCKHOLM"  # (a name no other test asks for: the zone cache never saw it)
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(
            f'timezone = "{name}"\n[[kinds.explosion.phases]]\n'
            'starts_at = 2024-04-15\nregions = ["SE"]\n'
        )
    assert "did you mean 'Europe/Stockholm'?" in str(err.value)
    monkeypatch.undo()
    policy = RolloutPolicy.from_toml('timezone = "Europe/Stockholm"\n')
    assert policy.timezone == "Europe/Stockholm"


@pytest.mark.parametrize("name", ["Posix/Europe/Stockholm", "LOCALTIME", "Right/UTC"])
def test_a_machine_file_in_another_case_is_refused_as_no_zone(name: str) -> None:
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(f'timezone = "{name}"\n')
    assert "did you mean" not in str(err.value)


# --- a date-time with a bracketed zone (RFC 9557) -------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "2024-09-02T00:00+02:00[Europe/Stockholm]",  # Java's ZonedDateTime.toString()
        "2024-09-02T00:00:00+02:00[!Europe/Stockholm]",  # Temporal, the zone critical
        "2024-09-01T22:00:00Z[UTC]",
    ],
)
def test_a_date_time_with_a_bracketed_zone_says_to_write_it_without(written: str) -> None:
    """Before: only "is not a date-time: expected RFC 3339", which the part before it is."""

    def doc(starts_at: str) -> str:
        phase = {"starts_at": starts_at, "regions": ["01"]}
        return json.dumps({"kinds": {"tip_request": {"phases": [phase]}}})

    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(doc(written))
    (problem,) = err.value.problems
    before = written.partition("[")[0]
    assert problem.path == "kinds.tip_request.phases[0].starts_at"
    assert f"write the date-time without it, {before}," in problem.message
    # written as told, it is the instant the text names (the oracle: the standard library)
    rollout = RolloutPolicy.from_json(doc(before)).rollout("tip_request")
    assert rollout is not None
    (phase,) = rollout.phases
    assert phase.starts_at == dt.datetime.fromisoformat(before.replace("Z", "+00:00"))


# --- every bad item of an issuer's or a recognition rule's lists, not only the first -------------


def test_every_bad_item_of_an_issuers_lists_is_named() -> None:
    """``senders = ["polisen@polisen.se", 5, null]``: before, only ``senders[1]``."""
    senders: list[object] = ["polisen@polisen.se", 5, None, 7]
    kinds: list[object] = ["tip_request", 3, "explosion", 4]
    issuer = {"name": "polisen", "senders": senders, "kinds": kinds, "regions": ["SE"]}
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(json.dumps({"issuers": [issuer]}))
    got = _problems(err)
    for field, values in (("senders", senders), ("kinds", kinds)):
        said = " ".join(m for path, m in got if path == f"issuers[0].{field}")
        wanted = [k for k, v in enumerate(values) if not isinstance(v, str)]  # the oracle
        named = [k for k in range(len(values)) if f"{field}[{k}] must be a str" in said]
        assert named == wanted, said


def test_every_bad_item_of_a_recognition_rules_lists_is_named() -> None:
    categories = ["Security", "security", "Polis", "Safety"]
    rule = {"name": "tips", "kind": "tip_request", "events": ["Tips"], "categories": categories}
    with pytest.raises(InvalidPolicy) as err:
        Recognizer.from_json(json.dumps({"recognition": [rule]}))
    said = [m for path, m in _problems(err) if path == "recognition[0].categories"]
    cap = {"CBRNE", "Env", "Fire", "Geo", "Health", "Infra", "Met", "Other", "Rescue"}
    cap |= {"Safety", "Security", "Transport"}  # CAP 1.2's categories, the oracle
    wanted = [k for k, c in enumerate(categories) if c not in cap]
    assert [k for k in range(len(categories)) if any(f"[{k}]" in m for m in said)] == wanted


def test_many_bad_items_of_a_list_field_get_five_problems_and_a_count() -> None:
    issuer = {"name": "p", "senders": list(range(40)), "kinds": ["tip_request"], "regions": ["SE"]}
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(json.dumps({"issuers": [issuer]}))
    said = [m for path, m in _problems(err) if path == "issuers[0].senders"]
    assert len(said) == 6
    assert said[-1] == "and 35 more items with a problem"


def test_one_bad_item_keeps_the_message_of_the_whole_list() -> None:
    issuer = {
        "name": "p",
        "senders": ["a@b.se", "c d"],
        "kinds": ["tip_request"],
        "regions": ["SE"],
    }
    with pytest.raises(InvalidPolicy) as err:
        Issuers.from_json(json.dumps({"issuers": [issuer]}))
    (problem,) = err.value.problems
    assert problem.path == "issuers[0].senders"
    assert "senders[1] must not contain ' '" in problem.message


# --- a required key misspelt is said to be, not only "required" ----------------------------------


def _close(a: str, b: str) -> bool:
    """The oracle of a misspelling: one edit apart, or equal but for case."""
    if a.casefold() == b.casefold():
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    short, long_ = sorted((a, b), key=len)
    if len(short) == len(long_):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    return any(long_[:k] + long_[k + 1 :] == short for k in range(len(long_)))


@pytest.mark.parametrize(
    ("reader", "text", "path", "written", "meant"),
    [
        (
            RolloutPolicy.from_toml,
            '[[kinds.explosion.phases]]\nstart_at = 2024-04-15T00:00:00Z\nregions = ["SE"]\n',
            "kinds.explosion.phases[0].starts_at",
            "start_at",
            "starts_at",
        ),
        (
            RolloutPolicy.from_toml,
            '[[kinds.explosion.phases]]\nstarts_at = 2024-04-15T00:00:00Z\nRegions = ["SE"]\n',
            "kinds.explosion.phases[0].regions",
            "Regions",
            "regions",
        ),
        (
            RolloutPolicy.from_json,
            '{"kinds": {"explosion": {"phase": []}}}',
            "kinds.explosion.phases",
            "phase",
            "phases",
        ),
        (
            Issuers.from_toml,
            '[[issuers]]\nname = "p"\nsender = ["p@polisen.se"]\nkinds = ["explosion"]\n'
            'regions = ["SE"]\n',
            "issuers[0].senders",
            "sender",
            "senders",
        ),
        (
            Recognizer.from_toml,
            '[[recognition]]\nname = "r"\nkinds = "explosion"\nevents = ["Explosion"]\n',
            "recognition[0].kind",
            "kinds",
            "kind",
        ),
    ],
)
def test_a_required_key_missing_names_the_misspelling_written(
    reader: Any, text: str, path: str, written: str, meant: str
) -> None:
    """Before: "starts_at: is required", as if the operator had left it out."""
    assert _close(written, meant)
    with pytest.raises(InvalidPolicy) as err:
        reader(text)
    message = dict(_problems(err))[path]
    assert f"the table has '{written}', which is no key of it: {meant} misspelt?" in message


def test_a_required_key_missing_beside_unrelated_keys_gets_no_guess() -> None:
    text = '[[kinds.explosion.phases]]\nregions = ["SE"]\ncolour = "red"\n'
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text)
    assert not _close("colour", "starts_at")
    assert dict(_problems(err))["kinds.explosion.phases[0].starts_at"] == "is required"


@pytest.mark.parametrize(
    "text",
    ['{\n  timezone: "Europe/Stockholm"\n}', '{"timezone": "UTC",\n kinds: {}}', "[\n a: 1\n]"],
)
def test_a_json_key_without_quotes_is_not_taken_for_yaml(text: str) -> None:
    """A JavaScript object's key without quotes is JSON written wrong, not a YAML document."""
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # the oracle: not JSON
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(text)
    assert "YAML" not in str(err.value)


# --- load_policy: a hidden file whose whole name is the suffix ----------------------------------


@pytest.mark.parametrize(("name", "body"), [(".toml", 'issuers = "any"\n'), (".JSON", "{}")])
def test_a_policy_file_named_only_by_its_suffix_is_read_as_that_format(
    tmp_path: Path, name: str, body: str
) -> None:
    """A file named ``.toml`` is read as TOML.

    It is a hidden file to pathlib, with no suffix: it was refused as "got 'no suffix'" though
    its name ends in .toml.
    """
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    assert path.name.lower().endswith((".toml", ".json"))  # the oracle: what the rule says
    if name == ".toml":
        assert load_policy(path).rollout.kinds == ()
    else:  # read as JSON: its problem is the issuers it lacks, not its name
        with pytest.raises(InvalidPolicy) as err:
            load_policy(path)
        assert [p.path for p in err.value.problems] == ["issuers"]


# --- a percentage from a NUMERIC column (Decimal) or a Fraction ---------------------------------


@pytest.mark.parametrize(
    ("given", "hundredths"),
    [
        (Decimal("12.5"), 1250),
        (Decimal("33.33"), 3333),
        (Decimal("100.00"), 10000),
        (Decimal("-0"), 0),
        (Fraction(25, 2), 1250),
        (Decimal("33.333"), None),
        (Fraction(1, 3), None),
        (Decimal("NaN"), None),
        (Decimal("sNaN"), None),
        (Decimal("1E+400"), None),
        (Fraction(10**400), None),
    ],
)
def test_a_decimal_or_fraction_percentage_is_read_as_the_number_it_is(
    given: Decimal | Fraction, hundredths: int | None
) -> None:
    """Psycopg reads a NUMERIC column as Decimal: it was "must be a number (got Decimal ...)".

    The oracle: exact decimal arithmetic -- a percentage in [0, 100] whose hundredths are whole.
    """
    exact = Fraction(given) if not (isinstance(given, Decimal) and given.is_nan()) else None
    on_step = exact is not None and 0 <= exact <= 100 and (exact * 100).denominator == 1
    assert on_step == (hundredths is not None)
    start = dt.datetime(2024, 9, 2, tzinfo=dt.timezone.utc)
    if hundredths is not None:
        phase = Phase(starts_at=start, regions={"01"}, percentage=given)
        assert round(phase.percentage * 100) == hundredths
        assert phase == Phase(starts_at=start, regions={"01"}, percentage=hundredths / 100)
    else:
        with pytest.raises(InvalidPolicy) as err:
            Phase(starts_at=start, regions={"01"}, percentage=given)
        (problem,) = err.value.problems
        assert problem.path == "percentage"


def test_a_document_parsed_with_decimal_numbers_is_read() -> None:
    """``json.loads(text, parse_float=Decimal)`` keeps 33.33 exact; from_dict refused it."""
    text = (
        '{"kinds": {"tip_request": {"phases": [{"starts_at": "2024-09-02T00:00:00+02:00", '
        '"regions": ["01"], "percentage": 33.33}]}}}'
    )
    exact = RolloutPolicy.from_dict(json.loads(text, parse_float=Decimal))
    assert exact == RolloutPolicy.from_json(text)
    bad = json.loads(text.replace("33.33", "33.333"), parse_float=Decimal)
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_dict(bad)
    assert [p.path for p in err.value.problems] == ["kinds.tip_request.phases[0].percentage"]


# --- an offset without its colon or minutes (PostgreSQL's timestamptz text) -----------------------


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("2024-09-02 00:00:00+02", "2024-09-02 00:00:00+02:00"),  # SELECT starts_at::text
        ("2024-09-02T00:00:00+0200", "2024-09-02T00:00:00+02:00"),
        ("2024-09-01 21:00:00.25-01", "2024-09-01 21:00:00.25-01:00"),
    ],
)
def test_an_offset_without_its_minutes_says_how_to_write_it(written: str, meant: str) -> None:
    def doc(starts_at: str) -> str:
        phase = {"starts_at": starts_at, "regions": ["01"]}
        return json.dumps({"kinds": {"tip_request": {"phases": [phase]}}})

    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(doc(written))
    (problem,) = err.value.problems
    assert f"write {meant} (got '{written}')" in problem.message
    rollout = RolloutPolicy.from_json(doc(meant)).rollout("tip_request")
    assert rollout is not None  # written as told, the instant the standard library reads
    assert rollout.phases[0].starts_at == dt.datetime.fromisoformat(meant)


@pytest.mark.parametrize("written", ["2024-09-02+02", "2024-09-02T00:00:00+02:00+02", "x+02"])
def test_an_offset_hint_is_given_only_for_a_date_time_that_lacks_one(written: str) -> None:
    phase = {"starts_at": written, "regions": ["01"]}
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(json.dumps({"kinds": {"tip_request": {"phases": [phase]}}}))
    assert "writes with a colon" not in str(err.value)
