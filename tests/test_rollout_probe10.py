"""Probes of the region rollout over time, as operators write, edit and run it (round 10).

Oracles of their own: the policy text read by hand (which line holds what), instants computed
with :mod:`zoneinfo` directly, and who is told worked out with shapely over the reference
boundaries, not with the library's internals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from geotarget import load_policy
from geotarget.errors import InvalidPolicy
from geotarget.rollout import RolloutPolicy

_HEAD = 'timezone = "Europe/Stockholm"\nissuers = "any"\n'
_PHASE = '[[kinds.tip_request.phases]]\nstarts_at = 2024-04-15\nregions = ["01"]\n'


def _problem(text: str) -> str:
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text)
    [problem] = err.value.problems
    return problem.message


# --- an edited file that gives a table or a key twice ----------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        # the edited line copied, its old copy left above it
        (_HEAD + _PHASE.replace("regions", "starts_at = 2024-05-15\nregions"), 5, "starts_at"),
        (_HEAD + _PHASE + 'regions = ["01", "03"]\n', 6, "regions"),
        (_HEAD + 'timezone = "UTC"\n' + _PHASE, 3, "timezone"),
    ],
)
def test_a_key_given_twice_is_named_as_given_twice_not_as_badly_written(
    text: str, line: int, key: str
) -> None:
    """TOML says only "Cannot overwrite a value"; the hint said how to write a date-time.

    ``starts_at`` given twice (the edited copy below the old one) was told "starts_at is a
    TOML date-time such as 2024-09-02T00:00:00 ..." — the date was fine, the key was twice.
    """
    message = _problem(text)
    assert message.startswith("not valid TOML: Cannot overwrite a value")
    lines = text.splitlines()
    first = next(k for k, t in enumerate(lines) if t.startswith(f"{key} ="))
    assert lines[line - 1].startswith(f"{key} =") and first + 1 < line  # (the oracle: by hand)
    assert f"{key} is given twice in the same table (lines {first + 1} and {line})" in message
    assert "date-time such as" not in message and "without quotes" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a kind's table copied below its phases, to switch its kill switch
            _HEAD + "[kinds.crime_modus]\nkilled = false\n" + _PHASE
            + "\n[kinds.crime_modus]\nkilled = true\n",
            "the table [kinds.crime_modus] is declared twice (first at line 3)",
        ),
        (  # a phase written with single brackets after phases with double ones
            _HEAD + _PHASE + '[kinds.tip_request.phases]\nstarts_at = 2024-09-02\n'
            'regions = ["01", "14"]\n',
            "is written [[kinds.tip_request.phases]], with double brackets",
        ),
    ],
)  # fmt: skip
def test_a_table_declared_twice_is_named_so_not_as_text_without_quotes(
    text: str, expected: str
) -> None:
    """The header line was taken for a value: 'write "kinds.crime_modus"' (in quotes)."""
    message = _problem(text)
    assert "twice" in message.partition(";")[0]  # TOML's own words come first
    assert expected in message
    assert "without quotes" not in message and "true or false" not in message


@pytest.mark.parametrize(
    "header", ["[kinds.tip request.phases]", "[[kinds.tip_request.phases]", "[kinds.tip_request"]
)
def test_a_broken_table_header_gets_no_hint_about_the_line_above(header: str) -> None:
    """A header is no line of the array above it: the key above it says nothing of it."""
    message = _problem(_HEAD + _PHASE + "killed = false\n" + header + "\n")
    assert message.startswith("not valid TOML: ")
    assert ";" not in message, message


def test_load_policy_names_a_key_given_twice_too(tmp_path: Path) -> None:
    """The whole file, as the command's --policy reads it."""
    file = tmp_path / "policy.toml"
    file.write_text(_HEAD + _PHASE + "percentage = 10\npercentage = 20\n", encoding="utf-8")
    with pytest.raises(InvalidPolicy) as err:
        load_policy(file)
    assert "percentage is given twice in the same table (lines 6 and 7)" in str(err.value)
