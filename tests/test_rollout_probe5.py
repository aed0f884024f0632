"""Probes of rollout policies as operators review them (round 5): timelines, diffs, boundaries.

Oracles of their own: the municipalities each phase covers, expanded by hand in plain Python
over the shipped hierarchy's parent links; the policy text read by hand; instants computed
with :mod:`zoneinfo` directly.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from geotarget import sweden
from geotarget.errors import InvalidPolicy
from geotarget.rollout import KindRollout, Phase, RolloutPolicy

STHLM = ZoneInfo("Europe/Stockholm")
UTC = dt.timezone.utc
TIP = "tip_request"


def _policy(*phases: tuple[dt.datetime, list[str], float, bool]) -> RolloutPolicy:
    steps = [
        Phase(starts_at=t, regions=codes, percentage=pct, rollback=back)
        for t, codes, pct, back in phases
    ]
    return RolloutPolicy(rollouts=[KindRollout(kind=TIP, phases=steps)])


def _day(month: int, day: int = 1, year: int = 2024) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=STHLM)


# --- the oracle: municipalities covered, by hand ------------------------------------------


@cache
def _chains() -> dict[str, tuple[str, ...]]:
    """Municipality -> itself and every region it lies in, walked up the parent links."""
    h = sweden.hierarchy()
    chains = {}
    for m in sweden.municipalities().codes:
        chain, code = [m], m
        while (up := h.parent(code)) is not None:
            chain.append(up)
            code = up
        chains[m] = tuple(chain)
    return chains


def _munis(codes: set[str] | frozenset[str] | list[str] | tuple[str, ...]) -> set[str]:
    """Every municipality lying in (or being) one of ``codes``."""
    wanted = set(codes)
    return {m for m, chain in _chains().items() if wanted & set(chain)}


def _codes_pool() -> list[str]:
    h = sweden.hierarchy()
    counties = sorted(h.region_set("county").codes)
    munis = sorted(_chains())
    return ["SE", *sorted(h.region_set("police_region").codes), *counties, *munis[::7]]


# --- the lead: a county that replaces its municipality is no rollback -------------------------


def test_a_county_replacing_its_municipality_keeps_stockholm_enabled_in_timeline_and_diff() -> None:
    """Phase 2 lists the county 01 instead of its municipality 0180 (Stockholm).

    The timeline said "adds 01; rolls back 0180" and the diff "+ 01; - 0180": a reader was told
    Stockholm loses the alert, while 01 contains it. Oracle: municipalities covered, by hand.
    """
    h = sweden.hierarchy()
    policy = _policy((_day(5), ["0180"], 100, False), (_day(9), ["01"], 100, True))
    assert _munis({"0180"}) <= _munis({"01"})  # the oracle: nothing of phase 1 is lost

    told = policy.timeline(TIP, catalog=h)
    assert str(told).splitlines()[2] == (
        "  phase 2  2024-09-01 00:00  adds 01; 0180 stays enabled within 01  -> 01"
    )
    cov = told.steps[1].coverage
    assert cov is not None and cov.lost == frozenset() and cov.loses == frozenset()
    assert cov.kept == (("0180", ("01",)),) and cov.gained == {"01"}
    # Stockholm's span does not end; Solna (never listed) is enabled from phase 2 on.
    assert [(s.region, s.end) for s in told.spans if s.region == "0180"] == [("0180", None)]
    assert told.enabled_from("0180") == _day(5) and told.enabled_from("0184") == _day(9)

    # Without the hierarchy the text cannot know, and does not claim a loss.
    blind = str(policy.timeline(TIP)).splitlines()[2]
    assert "rolls back" not in blind and "no longer lists 0180" in blind

    old = _policy((_day(5), ["0180"], 100, False))
    new = _policy((_day(5), ["01"], 100, False))
    assert (
        str(old.diff(new, catalog=h))
        .splitlines()[1]
        .endswith(": + 01; 0180 stays enabled within 01")
    )
    assert str(new.diff(old, catalog=h)).splitlines()[1].endswith(": - 01 except 0180")
    blind_diff = str(old.diff(new)).splitlines()[1]
    assert "- 0180" not in blind_diff and blind_diff.endswith("no longer lists 0180")


def test_a_rollback_to_the_country_and_back_to_parts_is_told_per_municipality() -> None:
    """Police region -> its counties listed one by one -> one municipality: what is lost."""
    h = sweden.hierarchy()
    parts = sorted(h.expand(["PR-STOCKHOLM"], "county"))  # 01 and 09 (Gotland)
    policy = _policy(
        (_day(3), ["PR-STOCKHOLM"], 100, False),
        (_day(4), parts, 100, True),
        (_day(5), ["0980"], 100, True),
    )
    lines = str(policy.timeline(TIP, catalog=h)).splitlines()
    assert lines[2] == (
        f"  phase 2  2024-04-01 00:00  PR-STOCKHOLM stays enabled through its parts "
        f"{', '.join(parts)}  -> {', '.join(parts)}"
    )
    # Gotland's only municipality 0980 covers the county 09 all alone: 09 is kept, 01 is lost.
    assert _munis({"0980"}) == _munis({"09"})
    assert (
        lines[3]
        == "  phase 3  2024-05-01 00:00  rolls back 01; 09 stays enabled through its parts 0980  -> 0980"
    )


def _random_policy(rng: random.Random, pool: list[str]) -> RolloutPolicy:
    phases: list[tuple[dt.datetime, list[str], float, bool]] = []
    prev: tuple[frozenset[str], float] | None = None
    for i in range(rng.randint(1, 5)):
        codes = frozenset(rng.sample(pool, rng.randint(1, 4)))
        pct = rng.choice([0.0, 10.0, 100.0, 100.0])
        if prev == (codes, pct):
            continue
        phases.append((_day(1 + 2 * i), sorted(codes), pct, True))
        prev = (codes, pct)
    return _policy(*phases)


_PHRASES = re.compile(
    r"(?P<verb>adds|rolls back|no longer lists|also lists|\+|-) (?P<codes>[^;]*?)"
    r"(?: except (?P<except>[^;]*?))?(?:, already enabled .*?)?(?: for [\d.]+% of devices.*?)?"
    r"(?:  -> .*)?$"
)


def _claims(text: str) -> list[tuple[str, set[str], set[str]]]:
    """(verb, codes, except codes) of each phrase of a timeline step or a diff line."""
    out: list[tuple[str, set[str], set[str]]] = []
    for part in text.split("; "):
        if part.startswith("percentage "):
            continue
        if re.search(r" stays? enabled ", part):
            out.append(("stays", set(part.split(" stay")[0].split(", ")), set()))
            continue
        m = _PHRASES.match(part)
        assert m, part
        codes = set(m["codes"].split(", "))
        out.append((m["verb"], codes, set(m["except"].split(", ")) if m["except"] else set()))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_timeline_and_diff_claims_agree_with_municipalities_covered(seed: int) -> None:
    """Every "rolls back"/"-" loses what it names, every "stays" loses nothing (per municipality).

    With the hierarchy: the municipalities a step loses are exactly those named as rolled
    back (less their "except" parts). Without it: "rolls back" and "-" are said only where
    every municipality of the code is lost, or nobody was reached before.
    """
    h = sweden.hierarchy()
    rng = random.Random(seed)
    pool = _codes_pool()
    policy, other = _random_policy(rng, pool), _random_policy(rng, pool)

    def reached(phase: Phase | None) -> set[str]:
        return set() if phase is None or phase.percentage == 0 else _munis(phase.regions)

    mine, theirs = policy.rollout(TIP), other.rollout(TIP)
    assert mine is not None and theirs is not None
    phases = mine.phases
    for catalog in (h, None):
        steps = str(policy.timeline(TIP, catalog=catalog)).splitlines()[2:]
        for prev, cur, line in zip(phases[:-1], phases[1:], steps, strict=True):
            what = line.split("  ", 3)[3]
            lost = reached(prev) - reached(cur)
            said_lost: set[str] = set()
            for verb, codes, kept in _claims(what):
                if verb == "rolls back":
                    assert prev.percentage == 0 or (_munis(codes) - _munis(kept)) <= lost, line
                    said_lost |= _munis(codes) - _munis(kept)
                elif verb == "stays":
                    assert not (_munis(codes) & lost), line
            if catalog is not None and cur.percentage > 0 and prev.percentage > 0:
                assert said_lost == lost, line

    # Spans (with the hierarchy): a listed code is in a span iff all of it is reached then.
    told = policy.timeline(TIP, catalog=h)
    listed = {c for p in phases for c in p.regions}
    for p in phases:
        for at in (p.starts_at - dt.timedelta(microseconds=1), p.starts_at):
            live = {s.region for s in told.spans if s.start <= at and (s.end is None or at < s.end)}
            i = mine.active_index(at)
            now = reached(None if i is None else phases[i])
            assert live == {c for c in listed if _munis({c}) <= now}, at

    # Diffs: the windows of two random versions, by the same rule.
    for catalog in (h, None):
        for change in policy.diff(other, catalog=catalog).schedule:
            line = change.describe("Europe/Stockholm").split(": ", 1)[1]
            at = change.start
            ia, ib = mine.active_index(at), theirs.active_index(at)
            pa = None if ia is None else mine.phases[ia]
            pb = None if ib is None else theirs.phases[ib]
            lost = reached(pa) - reached(pb)
            said_lost = set()
            for verb, codes, kept in _claims(line):
                if verb == "-":
                    assert (
                        pa is None or pa.percentage == 0 or (_munis(codes) - _munis(kept) <= lost)
                    ), line
                    said_lost |= _munis(codes) - _munis(kept)
                elif verb == "stays":
                    assert not (_munis(codes) & lost), line
            if catalog is not None and pa and pb and pa.percentage and pb.percentage:
                assert said_lost == lost, line


def test_timeline_with_a_hierarchy_refuses_codes_it_does_not_know() -> None:
    """A phase enabling a code the catalogue lacks cannot be told on the map: its path is named."""
    policy = _policy((_day(5), ["01"], 100, False), (_day(6), ["01", "2599"], 100, False))
    with pytest.raises(InvalidPolicy, match=r"kinds\.tip_request\.phases\[1\]\.regions.*2599"):
        policy.timeline(TIP, catalog=sweden.hierarchy())
    with pytest.raises(InvalidPolicy, match=r"2599"):
        _policy((_day(5), ["01"], 100, False)).diff(policy, catalog=sweden.hierarchy())
    assert "adds 2599" in str(policy.timeline(TIP))  # without one, codes are text


# --- the Targeter at each phase boundary, across the October change ---------------------------


def test_targeter_at_each_phase_boundary_across_the_october_fold() -> None:
    """Phases at both 02:30s of 2024-10-27, a 0 % pause and a resume: the instant decides.

    The phase in force at ``t`` is the last with ``start <= t``, whatever zone ``t`` is given
    in (UTC, Stockholm's second 02:30 with ``fold=1``, New York). Oracle: the phase index by
    comparing UTC instants by hand; the devices, all in county 02, are told only while a
    phase enables 02 for a share above 0.
    """
    import numpy as np
    from targeting_helpers import exact_rules, make_alert, make_regions, positions

    from geotarget import Circle, PositionIndex
    from geotarget.ledger import MemoryLedger
    from geotarget.targeting import Targeter, Verdict

    first = dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    starts = [first, second, second + dt.timedelta(hours=1), second + dt.timedelta(hours=2)]
    specs = [({"01"}, 100.0, False), ({"01", "02"}, 100.0, False)]
    specs += [({"01", "02"}, 0.0, True), ({"01", "02"}, 100.0, False)]
    phases = [
        Phase(starts_at=t, regions=r, percentage=pct, rollback=back)
        for t, (r, pct, back) in zip(starts, specs, strict=True)
    ]
    policy = RolloutPolicy(rollouts=[KindRollout(kind="crime_modus", phases=phases)], country="XX")
    assert str(policy.timeline("crime_modus")).splitlines()[1:3] == [
        "  phase 1  2024-10-27 02:30 (UTC+02:00)  enables 01",
        "  phase 2  2024-10-27 02:30 (UTC+01:00)  adds 02  -> 01, 02",
    ]
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(18.4, 18.6, 40), rng.uniform(59.45, 59.55, 40)  # all in county 02
    area = Circle(lon=18.5, lat=59.5, radius_m=20_000)  # within county 02 only
    # every device lies well inside the circle (an equirectangular bound, by hand)
    far = np.hypot((lon - 18.5) * np.cos(np.radians(59.6)), lat - 59.5) * 111_320
    assert far.max() < 10_000
    zones = [UTC, STHLM, ZoneInfo("America/New_York")]
    for start in starts:
        for at in (start - dt.timedelta(microseconds=1), start):
            for tz in zones:
                t = at.astimezone(tz)
                active = max((i for i, s in enumerate(starts) if s <= at), default=None)
                regions, pct, _ = specs[active] if active is not None else (set(), 0.0, False)
                want = "02" in regions and pct > 0
                targeter = Targeter(
                    make_regions(), policy, ledger=MemoryLedger(), location_rules=exact_rules()
                )
                alert = make_alert(
                    "crime_modus", area, sent=(at - dt.timedelta(minutes=5)).replace(microsecond=0)
                )
                got = targeter.target(
                    alert, PositionIndex(positions(lon, lat, observed_at=[at] * 40)), t
                )
                if active is None:
                    assert got.verdict is Verdict.KIND_NOT_ENABLED, (t, got.reason)
                    continue
                assert got.rollout is not None and got.rollout.phase_index == active, t
                if want:
                    assert got.verdict is Verdict.DELIVER and len(got.recipients) == 40, t
                elif pct == 0:
                    assert got.verdict is Verdict.KIND_NOT_ENABLED, (t, got.reason)
                else:  # phase 1: the area lies outside 01; the second 02:30 is named as such
                    assert got.verdict is Verdict.AREA_OUTSIDE_ROLLOUT, t
                    assert got.reason.endswith(
                        "phase 2 enables it there from 2024-10-27 02:30 (UTC+01:00) "
                        "Europe/Stockholm"
                    ), got.reason


# --- a phase that "ends" -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["ends_at", "until", "End"])
def test_a_phase_given_an_end_is_told_how_phases_end(key: str) -> None:
    """An operator gives a phase an end (before its start, too): phases have none.

    The problem named only an unknown key; it now says how a phase ends (the next phase).
    """
    text = f"""
        timezone = "Europe/Stockholm"
        [[kinds.tip_request.phases]]
        starts_at = 2024-05-01
        {key} = 2024-04-01
        regions = ["01"]
    """
    with pytest.raises(InvalidPolicy) as err:
        RolloutPolicy.from_toml(text)
    (problem,) = err.value.problems
    assert problem.path == f"kinds.tip_request.phases[0].{key}"
    assert problem.message.startswith("unknown key (valid: illustrative, percentage, regions")
    assert "it lasts until the next phase of its kind starts" in problem.message
    assert "percentage = 0 to pause" in problem.message


# --- a date that becomes decided -----------------------------------------------------------


def test_diff_names_a_phase_date_that_becomes_decided_or_illustrative() -> None:
    """The pilot's phase 2 date is decided: the new version only drops ``illustrative``.

    The diff was truthy (the hash changes) yet said "no change in what is enabled, where or
    when", leaving the reviewer nothing to check.
    """
    shipped = sweden.pilot_policy()
    decided = RolloutPolicy.from_toml(
        shipped.to_toml().replace("illustrative = true", "illustrative = false", 1)  # crime_modus
    )
    d = shipped.diff(decided)
    assert d and d.kinds == {"crime_modus"}
    assert [(s.path, s.before, s.after) for s in d.settings] == [
        ("kinds.crime_modus.phases[1].illustrative", True, False)
    ]
    assert str(d).splitlines()[1:] == [
        "  kinds.crime_modus.phases[1]: illustrative date -> decided date"
    ]
    back = str(decided.diff(shipped)).splitlines()[1:]
    assert back == ["  kinds.crime_modus.phases[1]: decided date -> illustrative date"]
