"""Rollout as users write it: pauses, partial coverage and "from when", against oracles."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from rollout_helpers import MINI_SWEDEN, DictCatalog
from strategies import KIND_NAMES, rollout_instants, rollout_policies

from geotarget.rollout import RolloutPolicy

STHLM = ZoneInfo("Europe/Stockholm")
CATALOG = DictCatalog()


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A wall-clock time in Europe/Stockholm."""
    return datetime(year, month, day, hour, tzinfo=STHLM)


def pause_policy() -> RolloutPolicy:
    """Stockholm County, paused by a 0 % phase in February, back with Västra Götaland in March."""
    return RolloutPolicy.from_toml(
        """
        timezone = "Europe/Stockholm"
        [[kinds.tip_request.phases]]
        starts_at = 2025-01-01
        regions = ["01"]
        [[kinds.tip_request.phases]]
        starts_at = 2025-02-01
        regions = ["01"]
        percentage = 0
        rollback = true
        [[kinds.tip_request.phases]]
        starts_at = 2025-03-01
        regions = ["01", "14"]
        """,
        catalog=CATALOG,
    )


def test_a_zero_percent_phase_ends_the_enabled_run() -> None:
    """Before a 0 % pause, the region is enabled until the pause, not until a later rollback."""
    e = pause_policy().explain("tip_request", "0180", local(2025, 1, 15), catalog=CATALOG)
    assert (e.enabled, e.change_at, e.change_phase_index) == (True, local(2025, 2, 1), 1)
    assert str(e) == (
        "Tip request alerts are enabled in Stockholm as part of Stockholms län since 2025-01-01 "
        "00:00 Europe/Stockholm (phase 1); phase 2 rolls it back on 2025-02-01 00:00 "
        "Europe/Stockholm."
    )


def test_a_zero_percent_pause_says_from_when() -> None:
    """During a 0 % pause the explanation names the phase that enables the region again."""
    e = pause_policy().explain("tip_request", "01", local(2025, 2, 15), catalog=CATALOG)
    assert (e.enabled, e.change_at, e.change_phase_index) == (False, local(2025, 3, 1), 2)
    assert str(e) == (
        "Tip request alerts are not enabled for any device in Stockholms län: the canary of "
        "phase 2 is 0% of devices; phase 3, which adds it again, starts 2025-03-01 00:00 "
        "Europe/Stockholm."
    )


def test_after_a_pause_enabled_since_the_end_of_the_pause() -> None:
    """After the pause, the region is enabled since the phase that ended it, not the first one."""
    e = pause_policy().explain("tip_request", "0184", local(2025, 3, 15), catalog=CATALOG)
    assert (e.enabled, e.since, e.since_phase_index) == (True, local(2025, 3, 1), 2)


def test_a_partly_enabled_region_names_the_enabled_parts() -> None:
    """A police region or the country with one enabled county says so, and when all of it is."""
    e = pause_policy().explain("tip_request", "SE", local(2025, 3, 15), catalog=CATALOG)
    assert (e.enabled, e.enabled_within) == (False, ("01", "14"))
    assert str(e) == (
        "Tip request alerts are not enabled in all of Sverige, only in Stockholms län, Västra "
        "Götalands län: no phase of the policy enables all of it."
    )
    whole = pause_policy().explain("tip_request", "09", local(2025, 3, 15), catalog=CATALOG)
    assert whole.enabled_within == ()  # Gotland's county holds no enabled code


def _oracle(policy: RolloutPolicy, kind: str, region: str, at: datetime) -> tuple[object, ...]:
    """Enabled now, since and next flip, from decide() at each phase start (no explain code)."""
    chain = {region, *CATALOG.ancestors(region)}

    def whole(code: str, listed: frozenset[str]) -> bool:
        # Enabled as a whole: listed, or every one of its parts is (documented rule).
        parts = [c for c, row in MINI_SWEDEN.items() if row[2] == code]
        return code in listed or (bool(parts) and all(whole(c, listed) for c in parts))

    def on(t: datetime) -> bool:
        d = policy.decide(kind, t)
        return d.enabled and (bool(chain & d.regions) or whole(region, d.regions))

    rollout = policy.rollout(kind)
    starts = [] if rollout is None else [p.starts_at for p in rollout.phases]
    now = on(at)
    past = [s for s in starts if s <= at]
    if policy.killed or rollout is None or rollout.killed:
        return (now, None, None)
    states = [on(s) for s in past]  # the state during each phase started so far
    since = None
    k = len(states) - 1
    while k >= 0 and states[k] == now:
        k -= 1
    if now or k >= 0:  # the current run began at phase k + 1 (not before the first phase)
        since = past[k + 1] if past else None
    change = next((s for s in starts if s > at and on(s) != now), None)
    return (now, since, change)


@settings(max_examples=60)
@given(
    policy=rollout_policies(),
    kind=st.sampled_from(KIND_NAMES),
    region=st.sampled_from(sorted(MINI_SWEDEN)),
    at=rollout_instants,
)
def test_explain_agrees_with_decisions_at_every_phase_start(
    policy: RolloutPolicy, kind: str, region: str, at: datetime
) -> None:
    """enabled, since and change_at equal what decide() says at each phase start."""
    e = policy.explain(kind, region, at, catalog=CATALOG)
    assert (e.enabled, e.since, e.change_at) == _oracle(policy, kind, region, at)
    d = policy.decide(kind, at)
    want = (
        ()
        if e.enabled or not d.enabled
        else tuple(sorted(c for c in d.regions if region in CATALOG.ancestors(c)))
    )
    assert e.enabled_within == want


def test_decide_at_dst_and_leap_day_boundaries_from_other_zones() -> None:
    """Phases at DST changes and on 29 February start at their instant, asked from any zone."""
    policy = RolloutPolicy.from_toml(
        """
        timezone = "Europe/Stockholm"
        [[kinds.crime_modus.phases]]
        starts_at = 2025-03-30T03:00:00     # the first wall time after the spring gap
        regions = ["01"]
        [[kinds.crime_modus.phases]]
        starts_at = 2025-10-26T03:00:00     # the first 03:00 after the fall-back hour
        regions = ["01", "14"]
        [[kinds.crime_modus.phases]]
        starts_at = 2028-02-29
        regions = ["01", "14", "SE"]
        """
    )
    new_york = ZoneInfo("America/New_York")
    start = datetime(2025, 3, 29, 21, tzinfo=new_york)  # 01:00Z, 03:00 CEST
    assert policy.decide("crime_modus", start).phase_index == 0
    assert policy.decide("crime_modus", start - timedelta(microseconds=1)).phase_index is None
    second_0230 = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=STHLM)  # 01:30Z, still phase 1
    assert policy.decide("crime_modus", second_0230).phase_index == 0
    assert policy.decide("crime_modus", local(2025, 10, 26, 3)).phase_index == 1
    leap = policy.decide("crime_modus", datetime(2028, 2, 28, 23, tzinfo=ZoneInfo("UTC")))
    assert leap.reason.value == "NATIONWIDE"
    assert RolloutPolicy.from_toml(policy.to_toml()) == policy


def test_an_area_outside_the_rollout_says_from_when_it_is_enabled_there() -> None:
    """next_change is the phase that enables the area's region, not a phase elsewhere; or None."""
    import datetime as dt

    from geotarget import Circle, PositionIndex, Positions, pilot, sweden
    from geotarget.targeting import Targeter, Verdict

    policy = RolloutPolicy.from_toml(
        """
        timezone = "Europe/Stockholm"
        [[kinds.tip_request.phases]]
        starts_at = 2024-04-15
        regions = ["01"]
        [[kinds.tip_request.phases]]
        starts_at = 2024-06-03
        regions = ["01", "12"]          # Skåne: not Göteborg
        [[kinds.tip_request.phases]]
        starts_at = 2024-09-02
        regions = ["01", "12", "14"]    # Västra Götaland: Göteborg
        [[kinds.crime_modus.phases]]
        starts_at = 2024-04-15
        regions = ["01"]
        [[kinds.crime_modus.phases]]
        starts_at = 2024-06-03
        regions = ["01", "12"]
        """
    )
    at = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)
    targeter = Targeter(sweden.hierarchy(), policy, recognition=pilot.RECOGNITION)
    msg = pilot.Message(headline="Test", description="Test.", area_description="Test")
    index = PositionIndex(Positions(["a"], [11.97], [57.71], accuracy_m=[5.0], observed_at=at))
    got = {}
    for make in (pilot.tip_request, pilot.crime_modus):
        alert = make(
            identifier=f"gbg-{make.__name__}", sender="polisen@polisen.se", sent=at,
            area=Circle(11.97, 57.71, 1_000.0), sv=msg, en=msg, onset=at,
            expires=at + dt.timedelta(days=200),
        )  # fmt: skip
        result = targeter.target(alert, index, at)
        assert result.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
        got[make.__name__] = result
    assert got["tip_request"].next_change == local(2024, 9, 2)
    assert "phase 3 enables it there from 2024-09-02 00:00 Europe/Stockholm" in (
        got["tip_request"].reason
    )
    assert got["crime_modus"].next_change is None
    assert "no later phase of the policy enables it there" in got["crime_modus"].reason


def test_regions_named_by_name_or_in_the_wrong_case_get_the_code() -> None:
    """A policy naming "Stockholms län", "Göteborg" or "se" is refused with the code to write."""
    import pytest

    from geotarget import sweden
    from geotarget.errors import InvalidPolicy, UnknownCode

    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(
            """
            timezone = "Europe/Stockholm"
            country = "se"
            [[kinds.tip_request.phases]]
            starts_at = 2024-04-15
            regions = ["Stockholms län", "Göteborg", "pr-syd"]
            """,
            catalog=sweden.hierarchy(),
        )
    text = str(err.value)
    assert "country: unknown region code 'se'; codes are case-sensitive: did you mean 'SE'?" in text
    assert (
        "'Stockholms län' is a region's name, not its code: '01' (Stockholms län, county)" in text
    )
    assert "'Göteborg' is a region's name, not its code: '1480' (Göteborg, municipality)" in text
    assert "unknown region code 'pr-syd'; codes are case-sensitive: did you mean 'PR-SYD'?" in text
    with pytest.raises(UnknownCode, match=r"'Skåne län' is a region's name, not its code: '12'"):
        pause_policy().explain(
            "tip_request", "Skåne län", local(2025, 3, 1), catalog=sweden.hierarchy()
        )


@settings(max_examples=60)
@given(policy=rollout_policies(), kind=st.sampled_from(KIND_NAMES), at=rollout_instants)
def test_timeline_spans_agree_with_decisions(
    policy: RolloutPolicy, kind: str, at: datetime
) -> None:
    """A code is inside one of its spans at ``at`` iff decide() enables it then (0 % enables none)."""
    live = policy.with_killed(False)
    if live.rollout(kind) is not None:
        live = live.with_killed(False, kind=kind)  # the timeline shows phases, not switches
    d = live.decide(kind, at)
    want = d.regions if d.enabled else frozenset()
    spans = policy.timeline(kind).spans
    got = {s.region for s in spans if s.start <= at and (s.end is None or at < s.end)}
    assert got == want


def test_a_skipped_wall_time_is_refused_not_read_an_hour_later() -> None:
    """decide/explain and Targeter.target refuse 02:30 on the spring-forward night, up front."""
    import datetime as dt

    import pytest

    from geotarget import Circle, PositionIndex, Positions, pilot, sweden
    from geotarget.errors import InvalidInput
    from geotarget.targeting import Targeter, Verdict

    policy = RolloutPolicy.from_toml(
        """
        timezone = "Europe/Stockholm"
        [[kinds.explosion.phases]]
        starts_at = 2025-03-30T03:00:00
        regions = ["SE"]
        """
    )
    skipped = datetime(2025, 3, 30, 2, 30, tzinfo=STHLM)  # Python reads it as 03:30 CEST
    with pytest.raises(InvalidInput, match=r"^at must be a real clock reading: 2025-03-30T02:30"):
        policy.decide("explosion", skipped)
    with pytest.raises(InvalidInput, match="does not exist in Europe/Stockholm"):
        policy.explain("explosion", "01", skipped, catalog=CATALOG)
    assert policy.decide("explosion", skipped + timedelta(hours=1)).phase_index == 0
    targeter = Targeter(sweden.hierarchy(), policy, recognition=pilot.RECOGNITION)
    sent = dt.datetime(2025, 3, 30, 1, tzinfo=dt.timezone.utc)
    msg = pilot.Message(headline="Test", description="Test.", area_description="Test")
    alert = pilot.explosion(
        identifier="dst-1", sender="polisen@polisen.se", sent=sent, area=Circle(18.07, 59.33, 500.0),
        sv=msg, en=msg, onset=sent, expires=sent + dt.timedelta(hours=2),
    )  # fmt: skip
    index = PositionIndex(Positions(["a"], [18.07], [59.33], accuracy_m=[5.0], observed_at=sent))
    with pytest.raises(InvalidInput, match="does not exist in Europe/Stockholm"):
        targeter.target(alert, index, skipped.replace(minute=45))
    result = targeter.target(alert, index, sent)  # the refused call recorded nothing
    assert result.verdict is Verdict.DELIVER and result.recipients.tolist() == ["a"]


def test_a_phase_with_no_regions_says_how_to_schedule_a_pause() -> None:
    """An empty phase is refused with the way to write a scheduled pause, and that way works."""
    import pytest

    from geotarget.errors import InvalidPolicy

    text = """
        timezone = "Europe/Stockholm"
        [[kinds.tip_request.phases]]
        starts_at = 2025-01-01
        regions = ["01"]
        [[kinds.tip_request.phases]]
        starts_at = 2025-02-01
        regions = []
        rollback = true
        """
    with pytest.raises(InvalidPolicy, match=r"percentage = 0 and rollback = true"):
        RolloutPolicy.from_toml(text)
    paused = RolloutPolicy.from_toml(
        text.replace("regions = []", 'regions = ["01"]\npercentage = 0')
    )
    assert not paused.decide("tip_request", local(2025, 2, 15)).enabled


def test_a_device_across_the_border_of_the_rollout_is_told_why_not() -> None:
    """An area across the 01/03 county border: the device on the 03 side names what is enabled."""
    import datetime as dt

    from geotarget import Circle, PositionIndex, Positions, pilot, sweden
    from geotarget.targeting import Outcome, Targeter

    at = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)
    targeter = Targeter(sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION)
    msg = pilot.Message(headline="Test", description="Test.", area_description="Test")
    # Märsta (Sigtuna, 01) and Knivsta (03), 10 km apart across the county border.
    index = PositionIndex(
        Positions(["sigtuna", "knivsta"], [17.86, 17.79], [59.62, 59.73], accuracy_m=[5.0, 5.0],
                  observed_at=at)
    )  # fmt: skip
    alert = pilot.tip_request(
        identifier="border-1", sender="polisen@polisen.se", sent=at,
        area=Circle(17.83, 59.67, 9_000.0), sv=msg, en=msg, onset=at,
        expires=at + dt.timedelta(hours=2),
    )  # fmt: skip
    result = targeter.target(alert, index, at)
    assert result.recipients.tolist() == ["sigtuna"]
    assert result.outcome_of("knivsta") is Outcome.OUTSIDE_ROLLOUT
    # The whole sentence: it names the device (it once named the enabled regions instead).
    assert result.explain("knivsta") == (
        "device 'knivsta' does not receive alert border-1: it is covered by the alert area (in "
        "it, or counted in by this kind's rules for an uncertain or old fix) but in a region "
        "where this kind is not enabled (it is enabled in 01 only; Tip request alerts are not "
        "enabled in Knivsta: phase 3, which adds it as part of Sverige, starts 2025-01-13 00:00 "
        "Europe/Stockholm (illustrative date))"
    )
