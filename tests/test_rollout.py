"""Rollout policies: phases, decisions, explanations, timelines, diffs, canaries and files."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollout_helpers import DictCatalog, oracle_bucket
from strategies import KIND_NAMES, PILOT_KINDS, rollout_instants, rollout_policies

from geotarget.errors import (
    InvalidInput,
    InvalidPolicy,
    InvalidType,
    Problem,
    UnknownCode,
)
from geotarget.pilot import PILOT_START, announced_policy
from geotarget.rollout import (
    KindRollout,
    Phase,
    Reason,
    RegionCatalog,
    RolloutPolicy,
    canary_buckets,
    nationwide,
)

STHLM = ZoneInfo("Europe/Stockholm")
UTC = timezone.utc
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pilot_policy.toml"
CATALOG = DictCatalog()
CM, TIP, EXP = "crime_modus", "tip_request", "explosion"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in Europe/Stockholm."""
    return datetime(year, month, day, hour, minute, tzinfo=STHLM)


def phase(
    at: datetime, *codes: str, pct: float = 100.0, rollback: bool = False, illus: bool = False
) -> Phase:
    """A phase, briefly."""
    return Phase(
        starts_at=at, regions=set(codes), percentage=pct, rollback=rollback, illustrative=illus
    )


def example_later_phases() -> dict[str, list[Phase]]:
    """The illustrative later phases of docs/examples/pilot_policy.toml, in Python."""
    steps = [
        phase(local(2024, 9, 2), "01", "12", "14", illus=True),
        phase(local(2025, 1, 13), "01", "12", "14", "SE", illus=True),
    ]
    return {CM: steps, TIP: steps}


def paths(err: pytest.ExceptionInfo[InvalidPolicy]) -> list[str]:
    """The problem paths of a raised InvalidPolicy."""
    return [p.path for p in err.value.problems]


# --- Phase ---------------------------------------------------------------------------------


def test_phase_stores_its_start_as_utc() -> None:
    """A phase given in Stockholm time keeps the same instant, stored in UTC."""
    p = phase(local(2024, 4, 15), "01")
    assert p.starts_at == PILOT_START and p.starts_at.tzinfo is UTC
    assert p.regions == frozenset({"01"}) and p.percentage == 100.0 and p.rollback is False


def test_phase_rejects_a_naive_start() -> None:
    """A naive starts_at is an error naming the field, never silently UTC."""
    with pytest.raises(InvalidPolicy, match=r"starts_at: must be timezone-aware") as err:
        phase(datetime(2024, 4, 15), "01")
    assert paths(err) == ["starts_at"]


def test_phase_rejects_a_wall_time_skipped_by_dst() -> None:
    """02:30 on 2024-03-31 does not exist in Stockholm, so it is not a phase start."""
    with pytest.raises(InvalidPolicy, match="does not exist in Europe/Stockholm"):
        phase(local(2024, 3, 31, 2, 30), "01")


def test_phase_takes_an_ambiguous_wall_time_by_its_fold() -> None:
    """In Python a repeated wall time is explicit through fold: 0 is the first, 1 the second."""
    first = phase(datetime(2024, 10, 27, 2, 30, tzinfo=STHLM, fold=0), "01")
    second = phase(datetime(2024, 10, 27, 2, 30, tzinfo=STHLM, fold=1), "01")
    assert first.starts_at == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert second.starts_at == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)


def test_phase_collects_every_problem() -> None:
    """One error lists the bad start, the bad code and the bad percentage together."""
    with pytest.raises(InvalidPolicy) as err:
        Phase(starts_at=datetime(2024, 1, 1), regions={"0 1"}, percentage=120)
    assert paths(err) == ["starts_at", "regions", "percentage"]
    assert "'0 1' is not a region code" in str(err.value)
    assert "must lie in [0, 100] (got 120)" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"regions": []}, "must name at least one region"),
        ({"percentage": 12.345}, "steps of 0.01"),
        ({"percentage": -0.01}, "[0, 100]"),
        ({"percentage": float("nan")}, "[0, 100]"),
        ({"starts_at": datetime(1969, 12, 31, tzinfo=UTC)}, "must lie in [1970"),
    ],
)
def test_phase_value_rules(kwargs: dict[str, Any], message: str) -> None:
    """Each value rule of a phase is enforced with a message that states it."""
    args: dict[str, Any] = {"starts_at": PILOT_START, "regions": {"01"}, **kwargs}
    with pytest.raises(InvalidPolicy) as err:
        Phase(**args)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"regions": "01"},
        {"regions": [1]},
        {"percentage": True},
        {"percentage": "50"},
        {"rollback": 1},
        {"starts_at": date(2024, 4, 15)},
    ],
)
def test_phase_type_rules(kwargs: dict[str, Any]) -> None:
    """Arguments of the wrong type (a str for regions, a bool for a number) are InvalidType."""
    args: dict[str, Any] = {"starts_at": PILOT_START, "regions": {"01"}, **kwargs}
    with pytest.raises(InvalidType):
        Phase(**args)


def test_phase_percentage_is_normalised_to_hundredths() -> None:
    """0.29 and 0.2900000001 are the same percentage, so equal phases compare equal."""
    assert phase(PILOT_START, "01", pct=0.29) == phase(PILOT_START, "01", pct=0.2900000001)


def test_values_are_frozen() -> None:
    """Phases, rollouts and policies cannot be changed after construction."""
    policy = announced_policy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.killed = True  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.rollouts[0].phases[0].percentage = 5  # type: ignore[misc]


# --- KindRollout: rules between phases -----------------------------------------------------


def test_kind_rollout_collects_every_sequence_problem() -> None:
    """Out of order, duplicate start, a silent drop and a lowered percentage are all reported."""
    t = [local(2024, 5, d) for d in range(1, 6)]
    with pytest.raises(InvalidPolicy) as err:
        KindRollout(
            kind=CM,
            phases=[
                phase(t[1], "01", pct=50),
                phase(t[0], "01", "14", pct=50),  # before phases[0]
                phase(t[0], "01", "14", "12", pct=50),  # same start as phases[1]
                phase(t[3], "01", pct=50),  # drops 12, 14
                phase(t[4], "01", pct=10),  # lowers the percentage
            ],
        )
    assert paths(err) == ["phases[1]", "phases[2]", "phases[3]", "phases[4]"]
    text = str(err.value)
    assert "must be in time order" in text and "duplicate phase" in text
    assert "drops 12, 14, which phases[2] enables" in text
    assert "lowers percentage from 50 to 10" in text


def test_rollback_allows_dropping_regions_and_percentage() -> None:
    """A phase that says rollback=True may drop regions and lower the percentage."""
    r = KindRollout(
        kind=CM,
        phases=[
            phase(local(2024, 5, 1), "01", "14"),
            phase(local(2024, 6, 1), "01", pct=10, rollback=True),
        ],
    )
    assert r.phases[1].regions == {"01"}


def test_a_phase_that_changes_nothing_is_a_duplicate() -> None:
    """A phase repeating the regions and percentage of the one before is rejected."""
    with pytest.raises(InvalidPolicy, match="must change something"):
        KindRollout(
            kind=CM, phases=[phase(local(2024, 5, 1), "01"), phase(local(2024, 6, 1), "01")]
        )


def test_kind_rollout_needs_a_phase_and_a_well_formed_kind_name() -> None:
    """No phases is an error (leave the kind out to deny it); any well-formed name is a kind."""
    with pytest.raises(InvalidPolicy, match="at least one phase"):
        KindRollout(kind=CM, phases=[])
    assert KindRollout(kind="chemical_release", phases=[phase(PILOT_START, "01")]).kind == (
        "chemical_release"
    )
    for bad in ("Weather", "chemical release", "_x", "x" * 65, ""):
        with pytest.raises(
            InvalidInput,
            match=r"kind must be a kind name: 1 to 64 lower-case ASCII letters, digits or '_', "
            rf"starting with a letter \(got {re.escape(repr(bad))}\)",
        ):
            KindRollout(kind=bad, phases=[phase(PILOT_START, "01")])
    with pytest.raises(InvalidType, match="kind must be a kind name, a str"):
        KindRollout(kind=3, phases=[phase(PILOT_START, "01")])  # type: ignore[arg-type]


def test_policy_rejects_two_rollouts_for_one_kind_and_bad_settings() -> None:
    """Duplicate kinds, a bad country code, an unknown zone and a bad salt are all listed."""
    r = KindRollout(kind=CM, phases=[phase(PILOT_START, "01")])
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy(rollouts=[r, r], country="S E", timezone="Europe/Stokholm", salt="a/b")
    assert paths(err) == ["country", "timezone", "salt", "rollouts[1]"]
    assert "does not know" in str(err.value)


# --- decide --------------------------------------------------------------------------------


def test_pilot_policy_is_the_pilot() -> None:
    """Explosions nationwide, police information in Stockholm County, from week 16 of 2024."""
    assert local(2024, 4, 15) == PILOT_START and PILOT_START.astimezone(STHLM).isocalendar()[
        1:
    ] == (16, 1)
    policy = announced_policy()
    at = local(2024, 5, 1)
    assert policy.decide(EXP, at).regions == {"SE"}
    assert policy.decide(EXP, at).reason is Reason.NATIONWIDE
    for kind in (CM, TIP):
        d = policy.decide(kind, at)
        assert (d.reason, d.regions, d.phase_index, d.enabled) == (
            Reason.PHASE_ACTIVE,
            frozenset({"01"}),
            0,
            True,
        )


def test_phase_start_is_inclusive() -> None:
    """At the exact start the phase is active; a microsecond before it is not."""
    policy = announced_policy()
    before = policy.decide(CM, PILOT_START - timedelta(microseconds=1))
    assert (before.reason, before.regions, before.next_change) == (
        Reason.NOT_STARTED,
        frozenset(),
        PILOT_START,
    )
    assert not before.enabled
    assert policy.decide(CM, PILOT_START).reason is Reason.PHASE_ACTIVE


def test_decision_names_the_next_change_and_the_policy_version() -> None:
    """A decision says when the next phase starts and which policy version decided."""
    policy = announced_policy(later_phases=example_later_phases())
    d = policy.decide(TIP, local(2024, 6, 1))
    assert d.next_change == local(2024, 9, 2) and d.policy_hash == policy.policy_hash
    assert policy.decide(TIP, local(2025, 6, 1)).next_change is None
    assert policy.decide(TIP, local(2025, 6, 1)).reason is Reason.NATIONWIDE


def test_kill_switches_and_unnamed_kinds() -> None:
    """The global switch beats the kind's, which beats the phases; unnamed kinds are denied."""
    policy = RolloutPolicy(rollouts=[KindRollout(kind=CM, phases=[phase(PILOT_START, "01")])])
    at = local(2024, 5, 1)
    assert policy.decide(TIP, at).reason is Reason.KIND_NOT_IN_POLICY
    killed = policy.with_killed(kind=CM)
    assert killed.decide(CM, at).reason is Reason.KILLED
    assert killed.decide(CM, at).next_change is None
    assert killed.with_killed().decide(CM, at).reason is Reason.ALL_KILLED
    assert killed.with_killed().decide(TIP, at).reason is Reason.ALL_KILLED
    assert killed.with_killed(False, kind=CM) == policy
    with pytest.raises(UnknownCode, match="does not name 'tip_request'"):
        policy.with_killed(kind=TIP)


def test_canary_reason_and_percentage() -> None:
    """A phase below 100 % decides CANARY and carries its percentage."""
    policy = RolloutPolicy(
        rollouts=[KindRollout(kind=CM, phases=[phase(PILOT_START, "SE", pct=12.5)])]
    )
    d = policy.decide(CM, local(2024, 5, 1))
    assert (d.reason, d.percentage, d.enabled) == (Reason.CANARY, 12.5, True)


def test_decide_rejects_bad_arguments() -> None:
    """Malformed kind names and naive instants are InvalidInput; other types InvalidType."""
    policy = announced_policy()
    assert policy.decide("weather", PILOT_START).reason is Reason.KIND_NOT_IN_POLICY
    with pytest.raises(InvalidInput, match=r"kind must be a kind name: .* \(got 'Weather'\)"):
        policy.decide("Weather", PILOT_START)
    with pytest.raises(InvalidInput, match="at must be timezone-aware"):
        policy.decide(CM, datetime(2024, 5, 1))
    with pytest.raises(InvalidType):
        policy.decide(CM, "2024-05-01")  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        policy.decide(3, PILOT_START)  # type: ignore[arg-type]


def test_decision_covers_and_expands_through_a_catalog() -> None:
    """A decision enabling a county covers its municipalities, and expands to them."""
    d = announced_policy().decide(CM, local(2024, 5, 1))
    assert d.covers("0184", CATALOG) and not d.covers("1480", CATALOG)
    assert d.expand(CATALOG, "municipality") == {"0180", "0184"}
    assert (
        announced_policy().decide(CM, PILOT_START - timedelta(1)).expand(CATALOG, "county") == set()
    )
    assert "PHASE_ACTIVE (phase index 0); regions 01" in str(d)


def oracle_decision(policy: RolloutPolicy, kind: str, at: datetime) -> tuple[Any, ...]:
    """The slow, obvious answer: scan every phase; the latest one started wins."""
    r = policy.rollout(kind)
    if policy.killed:
        return (Reason.ALL_KILLED, frozenset(), None)
    if r is None:
        return (Reason.KIND_NOT_IN_POLICY, frozenset(), None)
    if r.killed:
        return (Reason.KILLED, frozenset(), None)
    started = [i for i, p in enumerate(r.phases) if p.starts_at <= at]
    if not started:
        return (Reason.NOT_STARTED, frozenset(), None)
    i = max(started, key=lambda j: r.phases[j].starts_at)
    p = r.phases[i]
    reason = (
        Reason.CANARY
        if p.percentage < 100
        else Reason.NATIONWIDE
        if "SE" in p.regions
        else Reason.PHASE_ACTIVE
    )
    return (reason, p.regions, i)


@settings(max_examples=300)
@given(policy=rollout_policies(), at=rollout_instants, kind=st.sampled_from(KIND_NAMES))
def test_decide_equals_a_linear_scan(policy: RolloutPolicy, at: datetime, kind: str) -> None:
    """decide() gives the reason, regions and phase of a scan over every phase."""
    d = policy.decide(kind, at)
    assert (d.reason, d.regions, d.phase_index) == oracle_decision(policy, kind, at)
    r = policy.rollout(kind)
    later = [p.starts_at for p in (r.phases if r else ()) if p.starts_at > at]
    if d.reason in (Reason.PHASE_ACTIVE, Reason.NATIONWIDE, Reason.CANARY, Reason.NOT_STARTED):
        assert d.next_change == (min(later) if later else None)
    else:
        assert d.next_change is None


@settings(max_examples=300)
@given(policy=rollout_policies(), t1=rollout_instants, t2=rollout_instants)
def test_time_moving_forward_never_removes_a_region_without_rollback(
    policy: RolloutPolicy, t1: datetime, t2: datetime
) -> None:
    """Later decisions keep every region and device share, unless a rollback phase started."""
    t1, t2 = min(t1, t2), max(t1, t2)
    for r in policy.rollouts:
        a, b = policy.decide(r.kind, t1), policy.decide(r.kind, t2)
        rolled_back = any(p.rollback and t1 < p.starts_at <= t2 for p in r.phases)
        if not rolled_back:
            assert a.regions <= b.regions
            assert a.percentage <= b.percentage or not a.regions


@settings(max_examples=200)
@given(policy=rollout_policies(), at=rollout_instants, kind=st.sampled_from(KIND_NAMES))
def test_a_kill_switch_dominates_every_phase(
    policy: RolloutPolicy, at: datetime, kind: str
) -> None:
    """With a kill switch on, nothing is enabled, whatever phase is active."""
    for killed in [policy.with_killed()] + (
        [policy.with_killed(kind=kind)] if policy.rollout(kind) else []
    ):
        d = killed.decide(kind, at)
        assert d.reason in (Reason.ALL_KILLED, Reason.KILLED) and not d.enabled
        assert d.regions == frozenset() and d.next_change is None
        assert not killed.in_canary(kind, np.arange(50), at).any()
        assert not killed.explain(kind, "0180", at, catalog=CATALOG).enabled


# --- explain -------------------------------------------------------------------------------


def test_explain_says_why_not_and_from_when() -> None:
    """The issue's sentence: not enabled in Västra Götaland until phase 2 starts."""
    policy = announced_policy(later_phases=example_later_phases())
    e = policy.explain(CM, "14", local(2024, 6, 1), catalog=CATALOG)
    assert str(e) == (
        "Crime modus alerts are not enabled in Västra Götalands län: phase 2, which adds it, "
        "starts 2024-09-02 00:00 Europe/Stockholm (illustrative date)."
    )
    assert (e.enabled, e.reason, e.change_at, e.change_phase_index) == (
        False,
        Reason.REGION_NOT_ENABLED,
        local(2024, 9, 2),
        1,
    )


def test_explain_handles_every_level_through_ancestors() -> None:
    """A municipality is enabled through its county; a police region through the country."""
    policy = announced_policy(later_phases=example_later_phases())
    e = policy.explain(TIP, "0184", local(2024, 6, 1), catalog=CATALOG)
    assert (e.enabled, e.via, e.reason) == (True, "01", Reason.PHASE_ACTIVE)
    assert str(e) == (
        "Tip request alerts are enabled in Solna as part of Stockholms län since 2024-04-15 00:00 "
        "Europe/Stockholm (phase 1)."
    )
    later = policy.explain(TIP, "0184", local(2025, 6, 1), catalog=CATALOG)
    assert (later.phase_index, later.since_phase_index, later.since) == (2, 0, PILOT_START)
    assert str(later).endswith("since 2024-04-15 00:00 Europe/Stockholm (phase 1).")
    e = policy.explain(TIP, "PR-VAST", local(2024, 10, 1), catalog=CATALOG)
    assert not e.enabled  # only 14 is enabled, not the whole police region
    assert e.enabled_within == ("14",)
    assert str(e) == (
        "Tip request alerts are not enabled in all of Polisregion Väst, only in Västra "
        "Götalands län: phase 3, which adds all of it as part of Sverige, starts 2025-01-13 "
        "00:00 Europe/Stockholm (illustrative date)."
    )
    e = policy.explain(EXP, "1480", local(2024, 6, 1), catalog=CATALOG)
    assert (e.enabled, e.via, e.reason) == (True, "SE", Reason.NATIONWIDE)


def test_explain_marks_an_illustrative_since_date_as_it_marks_the_next() -> None:
    """The "since" and "rolled it back on" dates carry "(illustrative date)" as the next does."""
    policy = announced_policy(later_phases=example_later_phases())
    e = policy.explain(CM, "14", local(2024, 10, 1), catalog=CATALOG)
    assert (e.enabled, e.since_phase_index, e.since_illustrative) == (True, 1, True)
    assert str(e) == (
        "Crime modus alerts are enabled in Västra Götalands län since 2024-09-02 00:00 "
        "Europe/Stockholm (illustrative date) (phase 2)."
    )
    real = policy.explain(CM, "01", local(2024, 10, 1), catalog=CATALOG)
    assert not real.since_illustrative and "(illustrative date)" not in str(real)
    back = RolloutPolicy(
        rollouts=[
            KindRollout(
                kind=CM,
                phases=[
                    phase(local(2024, 5, 1), "01", "12"),
                    phase(local(2024, 9, 2), "01", rollback=True, illus=True),
                ],
            )
        ]
    )
    e = back.explain(CM, "12", local(2024, 10, 1), catalog=CATALOG)
    assert "phase 2 rolled it back on 2024-09-02 00:00 Europe/Stockholm (illustrative date)" in (
        str(e)
    )


def test_explain_never_and_not_started() -> None:
    """A region no phase enables says so; before the start the reason is NOT_STARTED."""
    policy = announced_policy()
    e = policy.explain(CM, "0980", local(2024, 6, 1), catalog=CATALOG)
    assert str(e) == (
        "Crime modus alerts are not enabled in Gotland: no phase of the policy enables it."
    )
    e = policy.explain(CM, "0180", local(2024, 1, 1), catalog=CATALOG)
    assert e.reason is Reason.NOT_STARTED
    assert str(e).endswith(
        "phase 1, which adds it as part of Stockholms län, starts "
        "2024-04-15 00:00 Europe/Stockholm."
    )


def test_explain_rollbacks() -> None:
    """An enabled region says when a rollback drops it; afterwards it says when it was dropped."""
    r = KindRollout(
        kind=CM,
        phases=[
            phase(local(2024, 5, 1), "01", "14"),
            phase(local(2024, 6, 1), "01", rollback=True),
            phase(local(2024, 7, 1), "01", "12", "14"),
        ],
    )
    policy = RolloutPolicy(rollouts=[r])
    assert str(policy.explain(CM, "1480", local(2024, 5, 15), catalog=CATALOG)) == (
        "Crime modus alerts are enabled in Göteborg as part of Västra Götalands län since "
        "2024-05-01 00:00 Europe/Stockholm (phase 1); phase 2 rolls it back on 2024-06-01 00:00 "
        "Europe/Stockholm."
    )
    assert str(policy.explain(CM, "14", local(2024, 6, 15), catalog=CATALOG)) == (
        "Crime modus alerts are not enabled in Västra Götalands län: phase 2 rolled it back "
        "on 2024-06-01 00:00 Europe/Stockholm; phase 3, which adds it again, starts 2024-07-01 "
        "00:00 Europe/Stockholm."
    )
    final = attrs.evolve(policy, rollouts=[KindRollout(kind=CM, phases=r.phases[:2])])
    assert str(final.explain(CM, "14", local(2024, 6, 15), catalog=CATALOG)).endswith(
        "; no later phase enables it again."
    )


def test_the_from_when_of_a_canary_phase_says_it_enables_a_share() -> None:
    """The phase that enables a region only as a canary is named with its share of devices.

    Regression: "phase 2, which adds it, starts ..." read as if every device would be told.
    """
    r = KindRollout(
        kind=CM,
        phases=[
            phase(local(2024, 5, 1), "01", pct=10.0),
            phase(local(2024, 7, 1), "01", "14", pct=10.0),
        ],
    )
    policy = RolloutPolicy(rollouts=[r])
    got = policy.explain(CM, "14", local(2024, 6, 15), catalog=CATALOG)
    assert got.change_percentage == 10.0
    assert str(got) == (
        "Crime modus alerts are not enabled in Västra Götalands län: phase 2, which adds it "
        "for 10% of devices (canary), starts 2024-07-01 00:00 Europe/Stockholm."
    )
    full = attrs.evolve(policy, rollouts=[attrs.evolve(r, phases=[r.phases[0], phase(
        local(2024, 7, 1), "01", "14", pct=100.0)])])  # fmt: skip
    assert "which adds it, starts" in str(
        full.explain(CM, "14", local(2024, 6, 15), catalog=CATALOG)
    )


def test_explain_switches_and_canaries() -> None:
    """Kill switches, unnamed kinds and canaries each have their sentence."""
    at = local(2024, 6, 1)
    policy = announced_policy()
    assert str(policy.with_killed().explain(EXP, "01", at, catalog=CATALOG)) == (
        "Explosion alerts are not enabled in Stockholms län: the policy's global kill switch is on."
    )
    assert str(policy.with_killed(kind=EXP).explain(EXP, "01", at, catalog=CATALOG)).endswith(
        "the kill switch for this kind is on."
    )
    only = RolloutPolicy(rollouts=[KindRollout(kind=EXP, phases=[phase(PILOT_START, "01", pct=5)])])
    assert "does not name this kind" in str(only.explain(TIP, "01", at, catalog=CATALOG))
    e = only.explain(EXP, "01", at, catalog=CATALOG)
    assert (e.enabled, e.reason, e.percentage) == (True, Reason.CANARY, 5.0)
    assert "enabled in Stockholms län for 5% of devices (canary) since" in str(e)
    zero = RolloutPolicy(rollouts=[KindRollout(kind=EXP, phases=[phase(PILOT_START, "01", pct=0)])])
    assert not zero.explain(EXP, "01", at, catalog=CATALOG).enabled


def test_explain_rejects_unknown_regions() -> None:
    """A region code the catalog does not know is an UnknownCode, not a silent 'not enabled'."""
    with pytest.raises(UnknownCode, match="'9999'"):
        announced_policy().explain(CM, "9999", local(2024, 6, 1), catalog=CATALOG)


def test_explanation_text_marks_ambiguous_wall_times() -> None:
    """A change at a wall time that happens twice shows its UTC offset."""
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first 02:30
    r = KindRollout(kind=CM, phases=[phase(PILOT_START, "01"), phase(first, "01", "14")])
    e = RolloutPolicy(rollouts=[r]).explain(CM, "14", local(2024, 6, 1), catalog=CATALOG)
    assert str(e).endswith("starts 2024-10-27 02:30 (UTC+02:00) Europe/Stockholm.")


# --- timeline and diff ---------------------------------------------------------------------


def test_timeline_lists_steps_and_spans() -> None:
    """A timeline gives each phase's additions and rollbacks and each code's enabled span."""
    r = KindRollout(
        kind=CM,
        phases=[
            phase(local(2024, 5, 1), "01", pct=10),
            phase(local(2024, 6, 1), "01", "14", pct=50),
            phase(local(2024, 7, 1), "01", pct=50, rollback=True),
        ],
    )
    t = RolloutPolicy(rollouts=[r]).timeline(CM)
    assert [(s.added, s.removed) for s in t.steps] == [
        (frozenset({"01"}), frozenset()),
        (frozenset({"14"}), frozenset()),
        (frozenset(), frozenset({"14"})),
    ]
    assert [(s.region, s.start, s.end) for s in t.spans] == [
        ("01", local(2024, 5, 1), None),
        ("14", local(2024, 6, 1), local(2024, 7, 1)),
    ]
    assert t.enabled_from("14") == local(2024, 6, 1) and t.enabled_from("12") is None
    assert str(t).splitlines() == [
        "crime_modus (times in Europe/Stockholm)",
        "  phase 1  2024-05-01 00:00  enables 01 for 10% of devices",
        "  phase 2  2024-06-01 00:00  adds 14  -> 01, 14; percentage 10% -> 50%",
        "  phase 3  2024-07-01 00:00  no longer lists 14  -> 01",
    ]


def test_timeline_of_killed_and_unnamed_kinds() -> None:
    """The timeline says when a kill switch is on, and when the policy does not name the kind."""
    policy = RolloutPolicy(rollouts=[KindRollout(kind=CM, phases=[phase(PILOT_START, "01")])])
    assert str(policy.timeline(TIP)) == "tip_request: not in the policy, so denied everywhere"
    assert not policy.timeline(TIP).in_policy and policy.timeline(TIP).steps == ()
    killed = policy.with_killed(kind=CM).timeline(CM)
    assert killed.killed and "kill switch is ON" in str(killed)


def test_diff_of_equal_policies_is_empty() -> None:
    """Two equal policies have no diff, and it is falsy."""
    d = announced_policy().diff(announced_policy())
    assert not d and d.settings == () and d.schedule == ()
    assert str(d).endswith(": unchanged")


def test_diff_lists_kinds_regions_and_instants() -> None:
    """Adding phases, killing a kind and changing a setting each show up in the diff."""
    old = announced_policy()
    new = announced_policy(later_phases={CM: example_later_phases()[CM]}).with_killed(kind=TIP)
    d = old.diff(new)
    assert d and d.kinds == {CM, TIP}
    assert [s.path for s in d.settings] == ["kinds.tip_request.killed"]
    assert [(c.kind, c.start, c.end, c.added, c.removed) for c in d.schedule] == [
        (CM, local(2024, 9, 2), local(2025, 1, 13), frozenset({"12", "14"}), frozenset()),
        (CM, local(2025, 1, 13), None, frozenset({"12", "14", "SE"}), frozenset()),
    ]
    assert str(d).splitlines()[1:] == [
        "  kinds.tip_request.killed: false -> true",
        "  crime_modus from 2024-09-02 00:00 until 2025-01-13 00:00 Europe/Stockholm: + 12, 14",
        "  crime_modus from 2025-01-13 00:00 Europe/Stockholm onwards: + 12, 14, SE",
    ]
    back = new.diff(old)
    assert [c.removed for c in back.schedule] == [{"12", "14"}, {"12", "14", "SE"}]


def test_diff_of_percentages_kinds_and_settings() -> None:
    """Canary changes, kinds added and new settings are named."""
    base = RolloutPolicy(rollouts=[KindRollout(kind=CM, phases=[phase(PILOT_START, "01", pct=10)])])
    more = RolloutPolicy(
        rollouts=[
            KindRollout(kind=CM, phases=[phase(PILOT_START, "01", pct=20)]),
            KindRollout(kind=EXP, phases=[phase(PILOT_START, "SE")]),
        ],
        salt="v2",
    )
    d = base.diff(more)
    assert [str(s) for s in d.settings] == [
        "salt: 'geotarget' -> 'v2'",
        "kinds.explosion: not named -> named",
    ]
    assert "percentage 10% -> 20%" in str(d) and "explosion from 2024-04-15 00:00" in str(d)
    assert d.kinds == {CM, EXP}


@settings(max_examples=100)
@given(a=rollout_policies(), b=rollout_policies(), at=rollout_instants)
def test_diff_schedule_matches_decisions(a: RolloutPolicy, b: RolloutPolicy, at: datetime) -> None:
    """At any instant, the diff's window explains exactly how the two policies' regions differ."""
    d = a.diff(b)
    for kind in KIND_NAMES:
        ra, rb = a.rollout(kind), b.rollout(kind)
        old = ra.phases[i].regions if ra and (i := ra.active_index(at)) is not None else frozenset()
        new = rb.phases[j].regions if rb and (j := rb.active_index(at)) is not None else frozenset()
        windows = [
            c
            for c in d.schedule
            if c.kind is kind and c.start <= at and (c.end is None or at < c.end)
        ]
        assert len(windows) <= 1
        if windows:
            assert (windows[0].before, windows[0].after) == (old, new)
        else:
            assert old == new


# --- canary --------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    ids=st.lists(st.text(max_size=20), max_size=20)
    | st.lists(st.integers(-(2**63), 2**64 - 1), max_size=20)
    | st.lists(
        st.integers(-(2**63), 2**64 - 1)
        | st.integers(-(2**63), 2**64 - 1).map(str)
        | st.from_regex(r"\A[-+]?0*[0-9]{1,21}\Z"),
        max_size=20,
    ),
    salt=st.sampled_from(["geotarget", "pilot-2024"]),
    kind=st.sampled_from(KIND_NAMES),
)
def test_canary_buckets_equal_the_reference_definition(
    ids: list[Any], salt: str, kind: str
) -> None:
    """Vectorized buckets equal the documented per-id definition, for str and int ids."""
    got = canary_buckets(np.array(ids, dtype=object), kind=kind, salt=salt)
    assert got.tolist() == [oracle_bucket(i, salt, kind) for i in ids]


def test_canary_buckets_for_numpy_dtypes_agree() -> None:
    """int64, uint64 and int32 arrays, Python lists and object arrays give the same buckets."""
    ids = [0, 1, -1, 2**31 - 1, 123456789]
    want = [oracle_bucket(i, "geotarget", "explosion") for i in ids]
    for arr in (ids, np.array(ids, dtype=np.int64), np.array(ids, dtype=object)):
        assert canary_buckets(arr, kind=EXP).tolist() == want
    assert canary_buckets(np.array([2**64 - 1], dtype=np.uint64), kind=EXP).tolist() == [want[2]]
    assert canary_buckets(np.array(ids[:2] + ids[3:], dtype=np.int32), kind=EXP).tolist() == (
        want[:2] + want[3:]
    )
    text = ["a", "device-ä", ""]
    assert (
        canary_buckets(np.array(text), kind=EXP).tolist()
        == canary_buckets([t.encode() for t in text], kind=EXP).tolist()
    )
    grid = canary_buckets(np.arange(6).reshape(2, 3), kind=EXP)
    assert grid.shape == (2, 3) and grid.dtype == np.uint16


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (np.array([True]), "not booleans"),
        (np.array([1.5]), "strings or integers"),
        ([None], "NoneType"),
        ([2**64], "must lie in"),
    ],
)
def test_canary_rejects_other_ids(ids: Any, message: str) -> None:
    """Booleans, floats, mixes and out-of-range integers are InvalidType with a reason."""
    with pytest.raises(InvalidType, match=message):
        canary_buckets(ids, kind=EXP)


def test_canary_buckets_follow_device_identity() -> None:
    """7 and "7" are one device (canonical text), so one bucket; "007", "+7", "-0" are others.

    Regression: the canary hashed the string "7" as text and the integer 7 with splitmix64, so
    one device could be in a canary under one spelling and out under the other.
    """
    same = [7, "7", b"7", np.int64(7)]
    got = canary_buckets(np.array(same, dtype=object), kind=EXP).tolist()
    assert got == [got[0]] * 4
    assert canary_buckets(np.array(["7", "-12", "0"]), kind=EXP).tolist() == (
        canary_buckets(np.array([7, -12, 0]), kind=EXP).tolist()
    )
    assert (
        canary_buckets([str(2**64 - 1)], kind=EXP).tolist()
        == canary_buckets([-1], kind=EXP).tolist()
    )
    others = canary_buckets(["007", "+7", "-0", "7 ", "٧"], kind=EXP).tolist()
    assert others == [
        oracle_bucket(t, "geotarget", "explosion") for t in ["007", "+7", "-0", "7 ", "٧"]
    ]
    assert got[0] not in others[:1]  # "007" is hashed as text, not as 7
    mixed = canary_buckets([1, "a", "2"], kind=EXP).tolist()  # a mix is fine, as in identity
    assert mixed == [oracle_bucket(i, "geotarget", "explosion") for i in (1, "a", 2)]
    policy = RolloutPolicy(
        rollouts=[KindRollout(kind=CM, phases=[phase(PILOT_START, "01", pct=50)])]
    )
    at = local(2024, 5, 1)
    ints = np.arange(2000)
    assert (policy.in_canary(CM, ints, at) == policy.in_canary(CM, ints.astype(str), at)).all()


def test_canary_buckets_are_near_uniform() -> None:
    """Each tenth of the bucket range holds about a tenth of 200,000 integer ids."""
    counts = np.bincount(canary_buckets(np.arange(200_000), kind=CM) // 1000, minlength=10)
    assert counts.min() > 19_000 and counts.max() < 21_000


@settings(max_examples=200)
@given(
    p1=st.integers(0, 10000),
    p2=st.integers(0, 10000),
    ids=st.lists(st.text(max_size=8), min_size=1, max_size=30)
    | st.lists(st.integers(0, 2**40), min_size=1, max_size=30),
)
def test_raising_the_canary_never_drops_a_device(p1: int, p2: int, ids: list[Any]) -> None:
    """A device in the canary at one percentage is in at every higher percentage."""
    lo, hi = sorted((p1, p2))
    policy_at = {
        bp: RolloutPolicy(
            rollouts=[KindRollout(kind=CM, phases=[phase(PILOT_START, "01", pct=bp / 100)])]
        )
        for bp in (lo, hi)
    }
    at = local(2024, 5, 1)
    a = policy_at[lo].in_canary(CM, np.array(ids, dtype=object), at)
    b = policy_at[hi].in_canary(CM, np.array(ids, dtype=object), at)
    assert not (a & ~b).any()
    buckets = canary_buckets(np.array(ids, dtype=object), kind=CM)
    assert (a == (buckets < lo)).all()


def test_in_canary_is_all_or_nothing_outside_a_canary() -> None:
    """At 100 % every device is in; before the start, none is."""
    policy = announced_policy()
    ids = np.arange(1000)
    assert policy.in_canary(CM, ids, local(2024, 5, 1)).all()
    assert not policy.in_canary(CM, ids, local(2024, 1, 1)).any()


# --- constructors --------------------------------------------------------------------------


def test_later_phases_and_with_phase_agree() -> None:
    """announced_policy(later_phases=...) equals adding the same phases one at a time."""
    later = example_later_phases()
    stepwise = announced_policy()
    for kind, steps in later.items():
        for p in steps:
            stepwise = stepwise.with_phase(kind, p)
    assert stepwise == announced_policy(later_phases=later)
    assert stepwise.policy_hash == announced_policy(later_phases=later).policy_hash


def test_with_phase_reports_paths_in_the_policy() -> None:
    """A later phase that forgets Stockholm is refused with the path of the phase."""
    with pytest.raises(InvalidPolicy) as err:
        announced_policy().with_phase(CM, phase(local(2024, 9, 2), "14"))
    assert paths(err) == ["kinds.crime_modus.phases[1]"]
    with pytest.raises(InvalidPolicy) as err:
        announced_policy(later_phases={TIP: [phase(local(2024, 1, 2), "01", "14")]})
    assert paths(err) == ["kinds.tip_request.phases[1]"]


def test_later_phases_take_kind_names_any_kind_and_name_a_malformed_one() -> None:
    """later_phases is keyed by kind names: a new kind may join; a malformed key is a path."""
    from geotarget import pilot

    autumn = phase(local(2024, 9, 2), "01", "14")
    policy = announced_policy(later_phases={"chemical_release": [autumn]})
    assert policy.kinds == ("chemical_release", CM, EXP, TIP)
    assert [r.kind for r in policy.rollouts] == list(policy.kinds)
    assert all(type(k) is str for k in policy.kinds)
    with pytest.raises(InvalidPolicy) as err:
        announced_policy(later_phases={"Chemical": [autumn], CM: [autumn], "x y": [autumn]})
    assert [str(p) for p in err.value.problems] == [
        "later_phases['Chemical']: must be a kind name: 1 to 64 lower-case ASCII letters, digits "
        "or '_', starting with a letter (got 'Chemical')",
        "later_phases['x y']: must be a kind name: 1 to 64 lower-case ASCII letters, digits or "
        "'_', starting with a letter (got 'x y')",
    ]
    with pytest.warns(DeprecationWarning, match="AlertKind is deprecated"):
        old = pilot.AlertKind
    assert announced_policy(later_phases={old.CRIME_MODUS: [autumn]}) == announced_policy(
        later_phases={CM: [autumn]}
    )
    assert type(policy.decide(old.TIP_REQUEST, PILOT_START).kind) is str


def test_nationwide_enables_everything_always() -> None:
    """nationwide() enables the pilot's kinds (or those given) in the whole country from 1970 on."""
    policy = nationwide()
    assert policy.kinds == tuple(sorted(PILOT_KINDS))
    for kind in PILOT_KINDS:
        d = policy.decide(kind, datetime(1970, 1, 1, tzinfo=UTC))
        assert (d.reason, d.regions) == (Reason.NATIONWIDE, frozenset({"SE"}))
    other = nationwide("NO", starts_at=PILOT_START, kinds=[EXP], timezone="Europe/Oslo")
    assert other.kinds == (EXP,) and other.country == "NO"
    fourth = nationwide(kinds=["chemical_release", EXP])
    assert fourth.kinds == ("chemical_release", EXP)
    assert fourth.decide("chemical_release", PILOT_START).reason is Reason.NATIONWIDE
    with pytest.raises(InvalidPolicy) as err:
        nationwide(kinds=[EXP, "Chemical"])
    assert paths(err) == ["kinds[1]"]


# --- hashing, files ------------------------------------------------------------------------


def test_policy_hash_is_a_content_hash() -> None:
    """Equal content gives equal hashes whatever the input's zones or orders; any change differs."""
    a = announced_policy()
    b = RolloutPolicy(
        rollouts=list(
            reversed(
                [
                    KindRollout(kind=k, phases=[phase(PILOT_START.astimezone(STHLM), c)])
                    for k, c in ((EXP, "SE"), (CM, "01"), (TIP, "01"))
                ]
            )
        )
    )
    assert a == b and a.policy_hash == b.policy_hash and hash(a) == hash(b)
    assert a.policy_hash == hashlib.sha256(a.canonical_json().encode()).hexdigest()
    changed = {
        a.with_killed().policy_hash,
        a.with_killed(kind=CM).policy_hash,
        attrs.evolve(a, salt="other").policy_hash,
        attrs.evolve(a, timezone="UTC").policy_hash,
        a.with_phase(CM, phase(local(2024, 5, 1), "01", "14")).policy_hash,
    }
    assert len(changed) == 5 and a.policy_hash not in changed


def test_example_file_is_the_pilot_with_its_later_phases() -> None:
    """docs/examples/pilot_policy.toml reads back as the shipped pilot with its later phases."""
    from geotarget import sweden

    policy = RolloutPolicy.from_toml(EXAMPLE, catalog=CATALOG)
    assert policy == announced_policy(later_phases=example_later_phases())
    assert policy == sweden.pilot_policy()
    assert policy.policy_hash == sweden.pilot_policy().policy_hash
    assert RolloutPolicy.from_toml(EXAMPLE.read_text(encoding="utf-8")) == policy
    assert RolloutPolicy.from_toml(EXAMPLE.read_bytes()) == policy


def test_illustrative_is_kept_by_files_and_shown_in_text() -> None:
    """Illustrative phases round-trip, are written only when true, and text says so."""
    plain = announced_policy()
    marked = announced_policy(later_phases=example_later_phases())
    assert "illustrative" not in plain.canonical_json() and "illustrative" not in plain.to_toml()
    assert RolloutPolicy.from_toml(marked.to_toml()) == marked
    assert RolloutPolicy.from_json(marked.to_json()) == marked
    unmarked = announced_policy(
        later_phases={
            k: [attrs.evolve(p, illustrative=False) for p in v]
            for k, v in example_later_phases().items()
        }
    )
    assert unmarked != marked and unmarked.policy_hash != marked.policy_hash
    lines = str(marked.timeline(CM)).splitlines()
    assert not lines[1].endswith("(illustrative date)")
    assert lines[2].endswith("(illustrative date)") and lines[3].endswith("(illustrative date)")
    why = str(marked.explain(CM, "14", local(2024, 5, 1), catalog=CATALOG))
    assert why.endswith("starts 2024-09-02 00:00 Europe/Stockholm (illustrative date).")
    assert "illustrative" not in str(unmarked.explain(CM, "14", local(2024, 5, 1), catalog=CATALOG))
    with pytest.raises(InvalidPolicy, match=r"phases\[0\]\.illustrative: must be true or false"):
        RolloutPolicy.from_toml(
            '[[kinds.explosion.phases]]\nstarts_at = 2024-04-15T00:00:00Z\nregions = ["SE"]\n'
            'illustrative = "yes"\n'
        )


def test_to_toml_is_deterministic_and_readable() -> None:
    """The TOML form writes local times with offsets in the policy's zone, in a fixed layout."""
    text = announced_policy().to_toml()
    assert text == announced_policy().to_toml()
    assert "[[kinds.crime_modus.phases]]\nstarts_at = 2024-04-15T00:00:00+02:00\n" in text
    assert 'regions = ["01"]\npercentage = 100\nrollback = false\n' in text


@settings(max_examples=150)
@given(policy=rollout_policies())
def test_toml_and_json_round_trip(policy: RolloutPolicy) -> None:
    """from_toml(to_toml(p)) == p and from_json(to_json(p)) == p, with equal hashes."""
    for back in (
        RolloutPolicy.from_toml(policy.to_toml()),
        RolloutPolicy.from_json(policy.to_json()),
        RolloutPolicy.from_dict(json.loads(json.dumps(policy.to_dict()))),
    ):
        assert back == policy and back.policy_hash == policy.policy_hash


def test_civil_times_need_a_timezone_key() -> None:
    """A time without an offset is refused unless the document names its zone."""
    doc = '[[kinds.explosion.phases]]\nstarts_at = {}\nregions = ["SE"]\n'
    for value in ("2024-04-15T00:00:00", "2024-04-15", '"2024-04-15T00:00"'):
        with pytest.raises(InvalidPolicy, match='set timezone = "Europe/Stockholm"') as err:
            RolloutPolicy.from_toml(doc.format(value))
        assert paths(err) == ["kinds.explosion.phases[0].starts_at"]
        zoned = RolloutPolicy.from_toml('timezone = "Europe/Stockholm"\n' + doc.format(value))
        assert zoned.rollout(EXP).phases[0].starts_at == PILOT_START  # type: ignore[union-attr]
    offset = RolloutPolicy.from_toml(doc.format("2024-04-14T22:00:00Z"))
    assert offset.rollout(EXP).phases[0].starts_at == PILOT_START  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-03-31T02:30:00", "does not exist in Europe/Stockholm"),
        (
            "2024-10-27T02:30:00",
            "2024-10-27T02:30:00+02:00 (the first) or 2024-10-27T02:30:00+01:00",
        ),
        ('"2024-13-01T00:00:00Z"', "is not a valid date-time"),
        ('"tomorrow"', "is not a date-time"),
        ("02:30:00", "must be a date-time"),
        ("2024-03-31T02:30:00+01:00", None),
        ("2024-10-27T02:30:00+01:00", None),
    ],
)
def test_dst_rules_for_civil_times(value: str, message: str | None) -> None:
    """Wall times skipped or repeated by DST are refused; with an offset they are instants."""
    doc = f'timezone = "Europe/Stockholm"\n[[kinds.explosion.phases]]\nstarts_at = {value}\nregions = ["SE"]\n'
    if message is None:
        RolloutPolicy.from_toml(doc)
        return
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(doc)
    assert message in str(err.value)


def test_a_bad_document_lists_every_problem_with_its_path() -> None:
    """Validation collects all problems — types, times, order, drops, codes, kinds — at once."""
    doc = """
    timezone = "Europe/Stockholm"
    colour = "blue"
    [kinds.Weather]
    phases = [{starts_at = 2024-05-01T00:00:00, regions = ["SE"]}]
    [kinds.explosion]
    killed = "no"
    phases = [{starts_at = 2024-05-01T00:00:00, regions = ["SE"], percentage = 120}]
    [[kinds.tip_request.phases]]
    starts_at = 2024-06-01T00:00:00
    regions = ["01", "14"]
    [[kinds.tip_request.phases]]
    starts_at = 2024-05-01T00:00:00
    regions = ["01", "XX"]
    [[kinds.tip_request.phases]]
    starts_at = 2024-05-01T00:00:00
    regions = ["01", "01"]
    rollback = "yes"
    [[kinds.tip_request.phases]]
    starts_at = 2024-05-01
    regions = "01"
    shape = "circle"
    """
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(doc, catalog=CATALOG)
    assert [str(p) for p in err.value.problems] == [
        "colour: unknown key (valid: country, format_version, issuers, killed, kinds, "
        "location_rules, recognition, salt, timezone)",
        "kinds.Weather: must be keyed by a kind name: 1 to 64 lower-case ASCII letters, digits "
        "or '_', starting with a letter (got 'Weather')",
        "kinds.explosion.killed: must be true or false (got 'no')",
        "kinds.explosion.phases[0].percentage: must lie in [0, 100] (got 120)",
        "kinds.tip_request.phases[1].regions: unknown region code 'XX'",
        "kinds.tip_request.phases[1]: starts at 2024-05-01T00:00:00+02:00, before phases[0] "
        "(2024-06-01T00:00:00+02:00); phases must be in time order",
        "kinds.tip_request.phases[1]: drops 14, which phases[0] enables; phases list every "
        "enabled region, so repeat them, or set rollback = true to drop them",
        "kinds.tip_request.phases[2].regions: lists '01' more than once",
        "kinds.tip_request.phases[2].rollback: must be true or false (got 'yes')",
        "kinds.tip_request.phases[3].shape: unknown key (valid: illustrative, percentage, regions, rollback, starts_at)",
        "kinds.tip_request.phases[3].regions: must be an array of region code strings (got '01')",
    ]


def test_catalog_validation_of_a_built_policy() -> None:
    """validate(catalog) names unknown codes and codes outside the policy's country."""
    catalog = DictCatalog(
        {**CATALOG.table, "NO": ("country", "Norge", None), "03": ("county", "Oslo", "NO")}
    )
    announced_policy().validate(catalog)
    bad = announced_policy().with_phase(CM, phase(local(2024, 9, 2), "01", "03", "ZZ"))
    with pytest.raises(InvalidPolicy) as err:
        bad.validate(catalog)
    assert [str(p) for p in err.value.problems] == [
        "kinds.crime_modus.phases[1].regions: region '03' does not lie within the country 'SE'",
        "kinds.crime_modus.phases[1].regions: unknown region code 'ZZ'",
    ]
    with pytest.raises(InvalidPolicy, match="country: unknown region code 'DK'"):
        attrs.evolve(announced_policy(), country="DK").validate(catalog)


def test_json_documents() -> None:
    """JSON reads like TOML; duplicate keys, syntax errors and non-tables are problems."""
    policy = announced_policy()
    assert RolloutPolicy.from_json(policy.to_json().encode()) == policy
    with pytest.raises(InvalidPolicy, match="killed: duplicate key"):
        RolloutPolicy.from_json('{"killed": false, "killed": true}')
    with pytest.raises(InvalidPolicy, match="not valid JSON") as err:
        RolloutPolicy.from_json("policy.json")
    assert "pass pathlib.Path('policy.json')" in str(err.value)
    with pytest.raises(InvalidPolicy, match="must be a table of keys"):
        RolloutPolicy.from_json("[]")
    with pytest.raises(InvalidPolicy, match="format_version: must be 1"):
        RolloutPolicy.from_json('{"format_version": 2}')
    with pytest.raises(InvalidPolicy, match="phases: must list at least one phase"):
        RolloutPolicy.from_json('{"kinds": {"explosion": {"phases": []}}}')
    assert RolloutPolicy.from_json("{}") == RolloutPolicy()


def test_toml_syntax_errors_are_policy_problems() -> None:
    """Unreadable TOML is one InvalidPolicy problem, chained to the parser's error."""
    with pytest.raises(InvalidPolicy, match="not valid TOML") as err:
        RolloutPolicy.from_toml("killed = ")
    assert err.value.__cause__ is not None
    assert err.value.problems[0] == Problem("", err.value.problems[0].message)


def test_round_trip_keeps_microseconds_and_odd_zones() -> None:
    """Sub-second starts and policies shown in other zones survive both file forms."""
    r = KindRollout(
        kind=CM, phases=[phase(datetime(2024, 5, 1, 12, 0, 0, 250, tzinfo=UTC), "01", pct=0.01)]
    )
    policy = RolloutPolicy(rollouts=[r], timezone="Asia/Kolkata", salt="x.y:z-1")
    assert "starts_at = 2024-05-01T17:30:00.000250+05:30" in policy.to_toml()
    assert RolloutPolicy.from_toml(policy.to_toml()) == policy
    assert RolloutPolicy.from_json(policy.to_json()) == policy


# --- the real Swedish regions (when geotarget.sweden exists) --------------------------------


def test_protocol_is_satisfied_by_the_fake_catalog() -> None:
    """The test catalog type-checks as a RegionCatalog (a static check that mypy runs)."""
    catalog: RegionCatalog = CATALOG
    assert catalog.ancestors("0184") == ("01", "PR-STOCKHOLM", "SE")


def test_example_policy_against_the_real_swedish_regions() -> None:
    """With the built-in Swedish hierarchy, the example validates and Solna is explained."""
    sweden = pytest.importorskip("geotarget.sweden", reason="geotarget.sweden is not built yet")
    hierarchy = getattr(sweden, "hierarchy", None)
    if hierarchy is None:
        pytest.skip("geotarget.sweden has no hierarchy() yet")
    catalog = hierarchy()
    if not all(hasattr(catalog, m) for m in ("level_of", "name_of", "ancestors", "expand")):
        pytest.skip("the Swedish hierarchy does not provide the RegionCatalog methods yet")
    policy = RolloutPolicy.from_toml(EXAMPLE, catalog=catalog)
    e = policy.explain(CM, "0184", local(2024, 6, 1), catalog=catalog)
    assert e.enabled and e.via == "01"


# --- hostile input -----------------------------------------------------------------------------

ONE_PHASE = (
    '{{"kinds": {{"crime_modus": {{"phases": [{{"starts_at": "2024-04-15T00:00:00+02:00", '
    '"regions": ["01"], "percentage": {}}}]}}}}}}'
)


def test_a_str_is_always_text_and_a_path_is_always_a_file(tmp_path: Path) -> None:
    """``str`` is the document; ``pathlib.Path`` (any ``os.PathLike``) is read as a file."""
    policy = announced_policy()
    path = tmp_path / "policy.toml"
    path.write_text(policy.to_toml(), encoding="utf-8")
    assert RolloutPolicy.from_toml(path) == policy

    class Where:  # a minimal os.PathLike that is not a pathlib.Path
        def __fspath__(self) -> str:
            return str(path)

    assert RolloutPolicy.from_toml(Where()) == policy
    with pytest.raises(InvalidPolicy, match=r"pass pathlib\.Path"):
        RolloutPolicy.from_toml(str(path))  # a str is TOML text, never a file name
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + policy.to_json().encode())
    assert RolloutPolicy.from_json(bom) == policy


@pytest.mark.parametrize("reader", [RolloutPolicy.from_toml, RolloutPolicy.from_json])
def test_unreadable_policy_files_are_invalid_policy_naming_the_path(
    tmp_path: Path, reader: Any
) -> None:
    """Missing file, a directory, non-UTF-8 bytes: InvalidPolicy naming the path, not OSError."""
    cases = {
        tmp_path / "missing.toml": "No such file",
        tmp_path: "directory",
    }
    latin = tmp_path / "latin1.toml"
    latin.write_bytes('salt = "Malmö"\n'.encode("latin-1"))
    cases[latin] = "not UTF-8: byte 0xf6 at line 1"
    for path, reason in cases.items():
        with pytest.raises(InvalidPolicy) as info:
            reader(path)
        assert str(path) in str(info.value)
        assert reason in str(info.value)
    with pytest.raises(InvalidPolicy, match="not UTF-8"):
        reader(b"\xff\xfe")
    with pytest.raises(InvalidType, match="file path"):
        reader(42)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 50_000 + "1" + "}" * 50_000,
    ],
)
def test_deeply_nested_json_is_invalid_policy(text: str) -> None:
    """RecursionError from the parser becomes one InvalidPolicy."""
    with pytest.raises(InvalidPolicy, match="nested too deeply"):
        RolloutPolicy.from_json(text)


@pytest.mark.parametrize(
    "text",
    ["x = " + "[" * 100_000 + "]" * 100_000, "x = " + "{a = " * 5_000 + "1" + "}" * 5_000],
)
def test_deeply_nested_toml_is_invalid_policy(text: str) -> None:
    """RecursionError from tomllib becomes one InvalidPolicy."""
    with pytest.raises(InvalidPolicy, match="nested too deeply"):
        RolloutPolicy.from_toml(text)


def test_deeply_nested_parsed_data_is_invalid_policy() -> None:
    """from_dict with a value nested beyond the recursion limit: InvalidPolicy, not RecursionError."""
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidPolicy):
        RolloutPolicy.from_dict(
            {"kinds": {"crime_modus": {"phases": [{"starts_at": "x", "regions": deep}]}}}
        )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("1e400", "got inf"),
        ("1" + "0" * 400, "an integer of 401 digits"),
        ("-1" + "0" * 400, "an integer of 401 digits"),
        ("1" + "0" * 5000, "has 5001 digits"),
    ],
)
def test_huge_percentages_are_invalid_policy_with_their_path(value: str, shown: str) -> None:
    """1e400, 10**400 and an int past Python's digit limit: InvalidPolicy, never OverflowError."""
    with pytest.raises(InvalidPolicy) as info:
        RolloutPolicy.from_json(ONE_PHASE.format(value))
    assert shown in str(info.value)
    if "5001" not in shown:
        assert info.value.paths == ["kinds.crime_modus.phases[0].percentage"]
    toml = (
        "[[kinds.crime_modus.phases]]\nstarts_at = 2024-04-15T00:00:00+02:00\n"
        f'regions = ["01"]\npercentage = {value.replace("1e400", "inf")}\n'
    )
    with pytest.raises(InvalidPolicy):
        RolloutPolicy.from_toml(toml)
    if "5001" not in shown:
        with pytest.raises(InvalidPolicy, match="percentage"):
            Phase(
                starts_at=PILOT_START,
                regions={"01"},
                percentage=int(value.replace("1e400", "1" + "0" * 400)),
            )


@pytest.mark.parametrize("pct", [1e-9, 0.001, 0.005, 1e-300, 5e-324, 50.0000001])
def test_a_canary_finer_than_the_granularity_is_refused(pct: float) -> None:
    """Percentages are 0 or multiples of MIN_PERCENTAGE (0.01): 1e-9 % is refused, not rounded to 0."""
    from geotarget.rollout import MIN_PERCENTAGE

    assert MIN_PERCENTAGE == 0.01
    with pytest.raises(InvalidPolicy, match=r"steps of 0\.01"):
        Phase(starts_at=PILOT_START, regions={"01"}, percentage=pct)
    with pytest.raises(InvalidPolicy, match=r"phases\[0\]\.percentage: must be in steps of 0\.01"):
        RolloutPolicy.from_json(ONE_PHASE.format(repr(pct)))


@pytest.mark.parametrize("pct", [0, 0.01, 0.07, 33.33, 99.99, 100])
def test_percentages_on_the_granularity_are_kept_exactly(pct: float) -> None:
    """Multiples of 0.01 survive float noise (0.07 * 100 = 7.000000000000001)."""
    assert Phase(starts_at=PILOT_START, regions={"01"}, percentage=pct).percentage == pct


class _CountingCode(str):
    """A region code that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _CountingCode.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_reading_many_regions_is_not_quadratic() -> None:
    """The duplicate-region check compares codes O(n) times, not n² (100 phases x 20,000 hung)."""
    n = 2_000
    codes = [_CountingCode(f"R{j}") for j in range(n)]
    _CountingCode.comparisons = 0
    RolloutPolicy.from_dict(
        {
            "kinds": {
                "crime_modus": {"phases": [{"starts_at": "2024-04-15T00:00:00Z", "regions": codes}]}
            }
        }
    )
    assert _CountingCode.comparisons < 10 * n  # the quadratic check made about n² / 2 = 2,000,000


def test_a_policy_of_100_phases_by_2000_regions_round_trips() -> None:
    """A large policy (bounded here to 100 x 2,000) reads, writes and reads back equal."""
    phases = [
        {
            "starts_at": f"2024-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
            "regions": [f"R{j}" for j in range(2_000)],
            "percentage": i + 1,
        }
        for i in range(100)
    ]
    policy = RolloutPolicy.from_dict({"kinds": {"tip_request": {"phases": phases}}})
    assert len(policy.rollout("tip_request").phases) == 100  # type: ignore[union-attr]
    assert RolloutPolicy.from_toml(policy.to_toml()) == policy


@pytest.mark.parametrize(("old", "new"), [("PILOT_START", "PILOT_START"),
                                          ("pilot_policy", "announced_policy")])  # fmt: skip
def test_the_pilot_names_of_rollout_are_deprecated_aliases_of_pilot(old: str, new: str) -> None:
    """rollout.PILOT_START and rollout.pilot_policy warn and give geotarget.pilot's names."""
    import geotarget.rollout as rollout
    from geotarget import pilot

    assert old not in rollout.__all__ and old not in dir(rollout)
    with pytest.warns(DeprecationWarning, match=f"geotarget.rollout.{old} is deprecated: use "
                      f"geotarget.pilot.{new}"):  # fmt: skip
        value = getattr(rollout, old)
    assert value is getattr(pilot, new)
    with pytest.raises(AttributeError, match="has no attribute 'PILOT_END'"):
        rollout.PILOT_END  # noqa: B018


@pytest.mark.parametrize(
    "bad",
    [
        None,
        5,
        "phase",
        Phase(starts_at=datetime(2024, 4, 15, tzinfo=timezone.utc), regions=("01",)),
    ],
)
def test_phases_and_rollouts_that_are_not_a_sequence_are_a_type_error(bad: object) -> None:
    """One phase, a str, a number or None where a sequence belongs: InvalidType naming it."""
    with pytest.raises(InvalidType, match=r"^phases must be a sequence of Phase \(got "):
        KindRollout(kind="explosion", phases=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"^rollouts must be a sequence of KindRollout \(got "):
        RolloutPolicy(rollouts=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("catalog", [None, "SE", {"01": "Stockholms län"}])
def test_a_catalog_without_the_region_catalog_methods_is_a_type_error(catalog: object) -> None:
    """explain, validate and from_dict name what a catalog must have (AttributeError before).

    (None is "no catalog" where the catalog is optional: from_dict checks codes later then.)
    """
    policy = announced_policy()
    at = datetime(2024, 5, 1, tzinfo=UTC)
    match = r"^catalog must be a RegionCatalog, such as geotarget.sweden.hierarchy\(\)"
    with pytest.raises(InvalidType, match=match):
        policy.explain("tip_request", "01", at, catalog=catalog)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=match):
        policy.validate(catalog)  # type: ignore[arg-type]
    if catalog is not None:
        with pytest.raises(InvalidType, match=match):
            RolloutPolicy.from_dict(policy.to_dict(), catalog)  # type: ignore[arg-type]


def test_a_key_that_is_not_printable_is_named_escaped() -> None:
    """A problem's path names an odd key as JSON: printable ones as they are, others escaped.

    A lone surrogate is not printable (Unicode category Cs), so its key is written with
    JSON escapes, and the message stays valid UTF-8.
    """
    got = {}
    for key in ("colour", "färg", "f\ud800rg", "tab\tkey"):
        with pytest.raises(InvalidPolicy) as err:
            RolloutPolicy.from_dict({key: 1})
        got[key] = str(err.value.problems[0]).split(":")[0]
    assert got == {
        "colour": "colour",
        "färg": '"färg"',
        "f\ud800rg": '"f\\ud800rg"',
        "tab\tkey": '"tab\\tkey"',
    }
    for text in got.values():
        text.encode("utf-8")  # valid UTF-8 each
