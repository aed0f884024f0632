"""Rollout and policy-file inputs beyond the sweeps: digits, zone names, duplicate keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from geotarget import load_policy
from geotarget.errors import InvalidInput, InvalidPolicy, InvalidType
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer, location_rules_from_json, location_rules_from_toml
from geotarget.rollout import RolloutPolicy, canary_buckets

UTC = timezone.utc


def _phase_doc(starts_at: str, zone: str | None = None) -> str:
    head: dict[str, object] = {} if zone is None else {"timezone": zone}
    return json.dumps(
        {**head, "kinds": {"explosion": {"phases": [{"starts_at": starts_at, "regions": ["SE"]}]}}}
    )


@pytest.mark.parametrize(
    "text",
    [
        "2024-04-01T0\u0661:00:00Z",  # ARABIC-INDIC DIGIT ONE in the hour: int() reads 1
        "2024-04-01T00:0\u0665:00Z",  # ... FIVE in the minutes
        "2024-04-01T00:00:00.\u0665Z",  # in the fraction
        "2024-04-01T00:00:00+0\u0662:00",  # in the offset
        "2024-04-01T00:00:00+\u0660\u0661:00",
        "\u0662\u0660\u0662\u0664-04-01T00:00:00Z",  # in the date
    ],
)
def test_a_time_with_non_ascii_digits_is_refused_not_read_as_another_instant(text: str) -> None:
    """RFC 3339 digits are ASCII: a Unicode digit is a refused date-time, never a shifted start.

    Python's regular expressions and ``int()`` read any Unicode digit: an ARABIC-INDIC DIGIT
    ONE after a 0 was the hour 1.
    """
    with pytest.raises(InvalidPolicy, match="is not a date-time") as err:
        RolloutPolicy.from_json(_phase_doc(text))
    assert err.value.paths == ["kinds.explosion.phases[0].starts_at"]
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(_phase_doc(text.removesuffix("Z"), "Europe/Stockholm"))
    assert err.value.paths == ["kinds.explosion.phases[0].starts_at"]
    # The same text in ASCII digits is read.
    ascii_text = "".join(str(int(c)) if c.isdigit() else c for c in text)
    policy = RolloutPolicy.from_json(_phase_doc(ascii_text))
    assert policy.rollout("explosion") is not None


@pytest.mark.parametrize(
    "name", ["localtime", "posixrules", "posix/Europe/Stockholm", "right/Europe/Stockholm"]
)
def test_a_zone_name_that_is_no_iana_zone_is_refused(name: str) -> None:
    """Names of the zone directory that are no IANA zone are refused, naming the rule.

    ``localtime`` is the machine's zone (a link in the zone directory), ``right/`` counts leap
    seconds: the policy's civil dates would mean different instants on different machines, or
    half a minute off.
    """
    doc = f'timezone = "{name}"\n[[kinds.explosion.phases]]\nstarts_at = 2024-04-15\nregions = ["SE"]\n'
    with pytest.raises(InvalidPolicy, match=r"timezone: must be an IANA time zone name") as err:
        RolloutPolicy.from_toml(doc)
    assert "timezone" in err.value.paths
    with pytest.raises(InvalidPolicy, match="must be an IANA time zone name"):
        RolloutPolicy(timezone=name)
    # Real IANA names, old-style ones included, stay accepted.
    for ok in ("Europe/Stockholm", "CET", "UTC", "Etc/GMT-1"):
        RolloutPolicy(timezone=ok)
        start = RolloutPolicy.from_toml(doc.replace(name, ok)).rollout("explosion")
        assert start is not None and start.phases[0].starts_at < datetime(2024, 4, 16, tzinfo=UTC)


_ISSUER = '{"name": "syd", "senders": ["syd@polisen.se"], "kinds": ["tip_request"], '


@pytest.mark.parametrize(
    ("document", "path"),
    [
        # An issuer's second "regions" silently widened its territory to the whole country.
        (
            '{"issuers": [' + _ISSUER + '"regions": ["PR-SYD"], "regions": ["SE"]}]}',
            "issuers[0].regions",
        ),
        ('{"issuers": [' + _ISSUER + '"regions": ["12"], "name": "x"}]}', "issuers[0].name"),
        ('{"issuers": "any", "issuers": [' + _ISSUER + '"regions": ["12"]}]}', "issuers"),
        (
            '{"recognition": [{"name": "r", "kind": "explosion", "events": ["Explosion"], '
            '"events": ["Brand"]}]}',
            "recognition[0].events",
        ),
        (
            '{"recognition": [{"name": "r", "kind": "explosion", "events": ["Explosion"], '
            '"event_codes": [{"value_name": "SOS", "value": "A", "value": "B"}]}]}',
            "recognition[0].event_codes[0].value",
        ),
        (
            '{"location_rules": {"explosion": {"include_ambiguous": true, '
            '"include_ambiguous": false}}}',
            "location_rules.explosion.include_ambiguous",
        ),
        (
            '{"location_rules": {"explosion": {"include_ambiguous": true}, '
            '"explosion": {"include_ambiguous": false}}}',
            "location_rules.explosion",
        ),
        (
            '{"location_rules": {"explosion": {"include_ambiguous": true, '
            '"location": {"max_age_s": 60, "max_age_s": 86400}}}}',
            "location_rules.explosion.location.max_age_s",
        ),
    ],
)
def test_a_json_key_given_twice_in_a_section_is_a_problem_not_the_last_one_silently(
    document: str, path: str, tmp_path: Path
) -> None:
    """JSON keeps the last of two equal keys; every section reader reports them, as the rollout's.

    Before, only the rollout's keys were checked: the recognition, issuers and location rules
    sections took the last value, which a reviewer reading the first would not see.
    """
    readers: dict[str, Callable[[str], object]] = {
        "issuers": Issuers.from_json,
        "recognition": Recognizer.from_json,
        "location_rules": location_rules_from_json,
    }
    with pytest.raises(InvalidPolicy, match="duplicate key: given twice") as err:
        readers[path.split("[")[0].split(".")[0]](document)
    assert path in err.value.paths
    # The whole-file reader reports it once, with the rest of the file's problems.
    file = tmp_path / "policy.json"
    whole = json.loads(document)
    rest = {"issuers": "any"} if "issuers" not in whole else {}
    file.write_text(document[:-1] + "," + json.dumps(rest)[1:] if rest else document)
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file, pilot_recognition=False)
    assert err.value.paths.count(path) == 1


def test_each_key_once_is_read_as_before() -> None:
    """The same sections with every key once are read (the check adds no false alarm)."""
    table = Issuers.from_json('{"issuers": [' + _ISSUER + '"regions": ["PR-SYD"]}]}')
    assert [sorted(i.regions) for i in table.issuers] == [["PR-SYD"]]
    rules = location_rules_from_json(
        '{"location_rules": {"explosion": {"include_ambiguous": true, '
        '"location": {"max_age_s": 60}}}}'
    )
    assert rules["explosion"].include_ambiguous is True


@pytest.mark.parametrize(
    ("ids", "index"),
    [(["a", "\ud800"], 1), ([7, "\udc00"], 1), (np.array(["ok", "x\ud800y"]), 1)],
)
def test_a_device_id_with_a_lone_surrogate_is_invalid_input_not_a_unicode_error(
    ids: object, index: int
) -> None:
    """Such a text is no device id (positions and the ledger refuse it): canary hashing names it.

    It escaped as the ``UnicodeEncodeError`` of ``str.encode``.
    """
    policy = RolloutPolicy.from_toml(
        '[[kinds.crime_modus.phases]]\nstarts_at = 2024-04-01T00:00:00Z\nregions = ["01"]\n'
        "percentage = 50\n"
    )
    at = datetime(2024, 5, 1, tzinfo=UTC)
    for call in (
        lambda: canary_buckets(ids, kind="crime_modus"),
        lambda: policy.in_canary("crime_modus", ids, at),
    ):
        with pytest.raises(InvalidInput, match=rf"device_ids\[{index}\] must be valid Unicode"):
            call()


@pytest.mark.parametrize("ids", [(i for i in ["a"]), {"a", "b"}, {"a": 1}, None, 1.5], ids=type)
def test_device_ids_that_are_no_id_and_no_sequence_are_named_whole_not_as_their_first(
    ids: object,
) -> None:
    """A generator or a set is one object to numpy: it was named as ``device_ids[0]``."""
    policy = RolloutPolicy.from_toml(
        '[[kinds.crime_modus.phases]]\nstarts_at = 2024-04-01T00:00:00Z\nregions = ["01"]\n'
        "percentage = 50\n"
    )
    at = datetime(2024, 5, 1, tzinfo=UTC)
    for call in (
        lambda: canary_buckets(ids, kind="crime_modus"),
        lambda: policy.in_canary("crime_modus", ids, at),
    ):
        with pytest.raises(InvalidType, match=r"^device_ids must be a device id \(a str or an int"):
            call()


@pytest.mark.parametrize("seconds", ["315569520001", "86399999999999", "86399999999998.9"])
def test_a_duration_beyond_what_a_rule_takes_is_a_policy_problem_at_its_path(seconds: str) -> None:
    """The reader's bound is the rules' (10,000 years), so every problem keeps its path.

    A ``max_age_s`` between 10,000 years and the old stated bound (``timedelta.max``) passed
    the reader and escaped as the ``InvalidPositions`` of ``LocationRule``, with no path,
    dropping the other problems of the file.
    """
    doc = (
        "[location_rules.fire]\ninclude_ambiguous = true\n"
        f"location = {{ max_age_s = {seconds} }}\n"
        f"stale = {{ max_age_s = {seconds}, margin_m = 10 }}\nmax_recipients = 0\n"
    )
    with pytest.raises(InvalidPolicy) as err:
        location_rules_from_toml(doc)
    assert err.value.paths == [
        "location_rules.fire.max_recipients",
        "location_rules.fire.location.max_age_s",
        "location_rules.fire.stale.max_age_s",
    ]
    assert "<= 315569520000" in str(err.value)
    # The bound itself, 10,000 years, is taken.
    rules = location_rules_from_toml(
        doc.replace(seconds, "315569520000").replace("max_recipients = 0", "")
    )
    assert rules["fire"].location.max_age == timedelta(days=3_652_425)


@pytest.mark.parametrize("version", ["1.0", "1e0", "true", '"1"'])
def test_format_version_is_the_integer_1_not_an_equal_value_of_another_type(version: str) -> None:
    """``format_version = 1.0`` compared equal to 1 and was read; the key is the integer 1."""
    doc = f'{{"format_version": {version}, "kinds": {{}}}}'
    with pytest.raises(InvalidPolicy, match=r"format_version: must be 1 \(got ") as err:
        RolloutPolicy.from_json(doc)
    assert err.value.paths == ["format_version"]
    assert RolloutPolicy.from_json('{"format_version": 1, "kinds": {}}') == RolloutPolicy()
