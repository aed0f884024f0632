"""Rollout policies probed as operators write them: every item named, other formats named."""

from __future__ import annotations

import json

import pytest

from geotarget import sweden
from geotarget.errors import InvalidPolicy
from geotarget.rollout import RolloutPolicy


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


def test_many_items_that_are_no_text_get_ten_problems_and_a_count() -> None:
    regions = list(range(25))
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_json(_one_phase(regions))
    got = _problems(err)
    assert len(got) == 11
    assert got[-1][1].startswith("and 15 more items that are not region code strings")


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
