"""A Targeter given location rules under a mistyped kind name (probe 12).

``location_rules={"tip_requests": KindRules(include_ambiguous=True)}`` beside a rollout naming
``tip_request`` built a Targeter whose ``tip_request`` silently kept the pilot's rules (which
exclude ambiguous devices): the operator's rules applied to no alert. ``load_policy`` refuses
such a table of a policy file; the Targeter's own argument is refused alike.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from geotarget import LocationRule, StaleRule, load_policy, pilot, sweden
from geotarget.errors import InvalidInput, InvalidPolicy
from geotarget.targeting import KindRules, Targeter

DOCS_POLICY = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pilot_policy.toml"


def test_rules_under_a_mistyped_kind_are_refused_naming_the_kind_meant() -> None:
    policy = pilot.announced_policy()
    assert "tip_request" in policy.kinds and not pilot.KIND_RULES["tip_request"].include_ambiguous
    with pytest.raises(InvalidPolicy) as err:
        Targeter(
            sweden.hierarchy(),
            policy,
            location_rules={"tip_requests": KindRules(include_ambiguous=True)},
        )
    (problem,) = err.value.problems
    assert problem.path == "location_rules['tip_requests']"
    assert "did you mean 'tip_request'?" in problem.message
    assert "keeps the pilot's location rules" in problem.message


def test_rules_of_the_kind_itself_or_of_kinds_named_nowhere_else_are_kept() -> None:
    policy = pilot.announced_policy()
    wide = KindRules(include_ambiguous=True)
    t = Targeter(sweden.hierarchy(), policy, location_rules={"tip_request": wide})
    assert t.rules["tip_request"] is wide
    # One mapping of rules serving several deployments: a kind this rollout does not name,
    # and whose name is near none of its kinds, is kept.
    t = Targeter(sweden.hierarchy(), policy, location_rules={"chemical_leak": wide})
    assert t.rules["chemical_leak"] is wide
    # Both the kind and a near name given rules: the near one is another kind, kept.
    t = Targeter(
        sweden.hierarchy(), policy, location_rules={"tip_request": wide, "tip_requests": wide}
    )
    assert t.rules["tip_requests"] is wide


def test_a_max_age_of_zero_without_a_stale_rule_is_refused_as_reaching_nobody(
    tmp_path: Path,
) -> None:
    """``max_age_s = 0`` (no limit, in many configurations) made every fix stale: nobody told.

    Only a fix taken at the alert's very instant was current. Refused in code and in a
    policy file; with a stale rule, 0 is kept (the stale rule then decides who is told).
    """
    with pytest.raises(InvalidInput, match=r"location\.max_age must be > 0 without a stale rule"):
        KindRules(location=LocationRule(max_age=dt.timedelta(0)), include_ambiguous=True)
    kept = KindRules(
        location=LocationRule(max_age=dt.timedelta(0)),
        include_ambiguous=True,
        stale=StaleRule(max_age=dt.timedelta(hours=1), margin_m=0.0),
    )
    assert kept.location.max_age == dt.timedelta(0)
    text = (DOCS_POLICY).read_text(encoding="utf-8")
    marker = "[location_rules.crime_modus]"
    head, tail = text.split(marker)
    tail = tail.replace("max_age_s = 3600", "max_age_s = 0", 1)
    (tmp_path / "p.toml").write_text(head + marker + tail, encoding="utf-8")
    with pytest.raises(InvalidPolicy, match=r"location_rules\.crime_modus: location\.max_age"):
        load_policy(tmp_path / "p.toml")
