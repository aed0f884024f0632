"""Probes of the rollout on the real Swedish hierarchy, across the 2025 and 2026 DST days.

Police regions, counties and municipalities in one policy, canaries of 0 % and 100 %, and
"from when" for every municipality.

Round 19. The oracle reads the declared phases with :mod:`zoneinfo` and the hierarchy's
``ancestors`` alone, and scans them in plain Python; it shares no code with geotarget's rollout.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import zoneinfo
from pathlib import Path

import pytest

import geotarget
from geotarget import sweden
from geotarget.errors import InvalidPolicy
from geotarget.rollout import Reason, RolloutPolicy

STHLM = zoneinfo.ZoneInfo("Europe/Stockholm")
UTC = dt.timezone.utc

# Civil starts (Europe/Stockholm) and the codes each phase lists: a police region first, then a
# municipality and a county of other police regions, then the country. Phase 1 starts on the
# day the clocks jump forward in 2025, phase 2 on the day they fall back, phase 3 at 03:00 on
# the night they fall back in 2026 (an hour after the repeated 02:00-03:00).
PHASES = (
    (dt.datetime(2025, 3, 30), ("PR-SYD",)),
    (dt.datetime(2025, 10, 26), ("PR-SYD", "0180", "03")),
    (dt.datetime(2026, 10, 25, 3), ("PR-SYD", "0180", "03", "SE")),
)


def _toml() -> str:
    lines = ['timezone = "Europe/Stockholm"', 'country = "SE"']
    for start, codes in PHASES:
        listed = ", ".join(f'"{c}"' for c in codes)
        lines += ["[[kinds.tip_request.phases]]", f"starts_at = {start.isoformat()}"]
        lines += [f"regions = [{listed}]"]
    lines += ["[[kinds.paused.phases]]", "starts_at = 2025-01-01", 'regions = ["01"]']
    lines += ["percentage = 0"]
    lines += ["[[kinds.full.phases]]", "starts_at = 2025-01-01", 'regions = ["01"]']
    lines += ["percentage = 100"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def hierarchy():  # type: ignore[no-untyped-def]
    return sweden.hierarchy()


@pytest.fixture(scope="module")
def policy(hierarchy):  # type: ignore[no-untyped-def]
    return RolloutPolicy.from_toml(_toml(), catalog=hierarchy)


def _starts() -> list[dt.datetime]:
    # The oracle's instants: wall clock in Stockholm (none of these is skipped or repeated).
    return [start.replace(tzinfo=STHLM).astimezone(UTC) for start, _ in PHASES]


def _oracle_from(code: str, hierarchy) -> dt.datetime | None:  # type: ignore[no-untyped-def]
    covering = {code, *hierarchy.ancestors(code)}
    for start, (_, codes) in zip(_starts(), PHASES, strict=True):
        if covering & set(codes):
            return start
    return None


def test_phase_starts_are_stockholm_civil_times_across_dst(policy) -> None:  # type: ignore[no-untyped-def]
    got = [p.starts_at for p in policy.rollout("tip_request").phases]
    assert got == _starts()
    # Summer time began at 02:00 on 2025-03-30, after midnight: midnight is still UTC+1.
    assert got[0] == dt.datetime(2025, 3, 29, 23, tzinfo=UTC)
    # Summer time ends at 03:00 on 2025-10-26, after midnight: midnight is still UTC+2.
    assert got[1] == dt.datetime(2025, 10, 25, 22, tzinfo=UTC)
    # 03:00 on 2026-10-25 is after the repeated hour: UTC+1.
    assert got[2] == dt.datetime(2026, 10, 25, 2, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/Sao_Paulo", "Europe/London"])
def test_boundaries_exactly_at_start_in_any_zone(policy, zone: str) -> None:  # type: ignore[no-untyped-def]
    tz = zoneinfo.ZoneInfo(zone)
    for index, start in enumerate(_starts()):
        at = start.astimezone(tz)
        just_before = at - dt.timedelta(microseconds=1)
        now = policy.decide("tip_request", at)
        before = policy.decide("tip_request", just_before)
        assert now.phase_index == index
        assert sorted(now.regions) == sorted(PHASES[index][1])
        assert before.phase_index == (None if index == 0 else index - 1)
        assert before.next_change == start
    assert policy.decide("tip_request", _starts()[2]).reason is Reason.NATIONWIDE


def test_from_when_for_every_municipality(policy, hierarchy) -> None:  # type: ignore[no-untyped-def]
    before_all = dt.datetime(2025, 1, 1, tzinfo=UTC)
    municipalities = sorted(hierarchy.expand({"SE"}, "municipality"))
    assert len(municipalities) == 290
    for code in municipalities:
        expected = _oracle_from(code, hierarchy)
        e = policy.explain("tip_request", code, before_all, catalog=hierarchy)
        assert (e.enabled, e.change_at) == (False, expected), code
        after = policy.explain("tip_request", code, expected, catalog=hierarchy)
        assert (after.enabled, after.since) == (True, expected), code


def test_police_region_county_and_municipality_levels(policy, hierarchy) -> None:  # type: ignore[no-untyped-def]
    summer = dt.datetime(2025, 6, 1, 12, tzinfo=STHLM)
    # Skåne (a county of Region Syd) is enabled through its police region.
    skane = policy.explain("tip_request", "12", summer, catalog=hierarchy)
    assert skane.enabled and skane.via == "PR-SYD"
    # Region Stockholm as a whole only when the country is: phase 2 enables a part of it.
    region = policy.explain("tip_request", "PR-STOCKHOLM", summer, catalog=hierarchy)
    assert not region.enabled and region.change_at == _starts()[2]
    assert "phase 2 enables it in Stockholm" in str(region)


def test_canary_of_zero_and_hundred_percent(policy) -> None:  # type: ignore[no-untyped-def]
    at = dt.datetime(2025, 6, 1, tzinfo=STHLM)
    ids = [f"device-{i}" for i in range(200)]
    assert not policy.in_canary("paused", ids, at).any()
    assert policy.in_canary("full", ids, at).all()
    assert policy.decide("full", at).reason is Reason.PHASE_ACTIVE
    assert policy.decide("never_named", at).reason is Reason.KIND_NOT_IN_POLICY
    assert not policy.in_canary("never_named", ids, at).any()


def test_typod_codes_and_keys_are_named(hierarchy) -> None:  # type: ignore[no-untyped-def]
    typo = _toml().replace('"0180"', '"0108"', 1).replace("[[kinds.paused", "[[kinds.Paused")
    with pytest.raises(InvalidPolicy) as info:
        RolloutPolicy.from_toml(typo, catalog=hierarchy)
    text = str(info.value)
    assert "kinds.tip_request.phases[1].regions: unknown region code '0108'" in text
    assert "got 'Paused'" in text


@pytest.mark.parametrize(
    ("wall", "offset"),
    [("2025-01-13T00:00:00", "+01:00"), ("2025-07-01T08:00:00", "+02:00")],
)
def test_offset_suggested_for_a_wall_time_is_its_stockholm_offset(wall: str, offset: str) -> None:
    doc = f'[[kinds.a.phases]]\nstarts_at = {wall}\nregions = ["01"]\n'
    with pytest.raises(InvalidPolicy, match="has no UTC offset") as info:
        RolloutPolicy.from_toml(doc)
    suggested = re.search(r"e\.g\. (\S+) in Europe/Stockholm\)", str(info.value))
    assert suggested is not None
    # The oracle: the suggestion, read back, is the wall time in Stockholm.
    meant = dt.datetime.fromisoformat(wall).replace(tzinfo=STHLM)
    assert dt.datetime.fromisoformat(suggested.group(1)) == meant
    assert suggested.group(1) == wall + offset


def test_two_phases_in_the_repeated_hour_of_2026(hierarchy) -> None:  # type: ignore[no-untyped-def]
    # 02:30 happens twice on 2026-10-25; the file tells the two apart by their offsets.
    doc = (
        'timezone = "Europe/Stockholm"\n'
        '[[kinds.a.phases]]\nstarts_at = 2026-10-25T02:30:00+02:00\nregions = ["0180"]\n'
        "[[kinds.a.phases]]\nstarts_at = 2026-10-25T02:30:00+01:00\n"
        'regions = ["0180", "PR-NORD"]\n'
    )
    policy = RolloutPolicy.from_toml(doc, catalog=hierarchy)
    # Same-zone subtraction ignores fold, so the oracle compares in UTC.
    first = dt.datetime(2026, 10, 25, 2, 30, tzinfo=STHLM, fold=0).astimezone(UTC)
    second = dt.datetime(2026, 10, 25, 2, 30, tzinfo=STHLM, fold=1).astimezone(UTC)
    assert second - first == dt.timedelta(hours=1)
    between = dt.datetime(2026, 10, 25, 2, 45, tzinfo=STHLM, fold=0).astimezone(UTC)
    assert policy.decide("a", between).phase_index == 0
    assert policy.decide("a", second).phase_index == 1
    lulea = policy.explain("a", "2580", between, catalog=hierarchy)
    assert (lulea.enabled, lulea.change_at) == (False, second)
    assert "02:30 (UTC+01:00) Europe/Stockholm" in str(lulea)
    assert RolloutPolicy.from_toml(policy.to_toml()) == policy


def test_targeter_tells_a_municipality_from_its_phase_start_on(hierarchy) -> None:  # type: ignore[no-untyped-def]
    from geotarget import Circle, PositionIndex, Positions, pilot
    from geotarget.targeting import Targeter, Verdict

    tip_only = _toml().split("[[kinds.paused")[0]
    targeter = Targeter(
        hierarchy,
        RolloutPolicy.from_toml(tip_only, catalog=hierarchy),
        recognition=pilot.RECOGNITION,
    )
    msg = pilot.Message(headline="Test", description="Test.", area_description="Test")
    # Central Stockholm (0180, listed from phase 2) and Solna (0184, only with the country).
    places = {"0180": (18.0686, 59.3293), "0184": (18.00, 59.36)}
    count = 0
    for code, (lon, lat) in places.items():
        assert hierarchy.locate([lon], [lat], "municipality").tolist() == [code]  # the premise
        start = _oracle_from(code, hierarchy)
        assert start is not None
        for at, told in ((start - dt.timedelta(seconds=1), False), (start, True)):
            count += 1
            alert = pilot.tip_request(
                identifier=f"probe19-{count}", sender="polisen@polisen.se", sent=at,
                area=Circle(lon, lat, 500.0), sv=msg, en=msg, onset=at,
                expires=at + dt.timedelta(hours=1),
            )  # fmt: skip
            devices = Positions(["d"], [lon], [lat], accuracy_m=[5.0], observed_at=at)
            result = targeter.target(alert, PositionIndex(devices), at)
            assert (result.verdict is Verdict.DELIVER) is told, (code, at, result.reason)
            assert result.recipients.tolist() == (["d"] if told else [])
            if not told:
                local = start.astimezone(STHLM).strftime("%Y-%m-%d %H:%M")
                assert f"from {local} Europe/Stockholm" in str(result.reason)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("[kinds.tip_request]", "[kinds.tip_reqest]", "kinds.tip_reqest"),
        ('kind = "explosion"', 'kind = "explosoin"', "recognition["),
    ],
)
def test_a_misspelt_kind_name_is_named_with_the_kind_meant(old: str, new: str, path: str) -> None:
    """A rollout table or a recognition rule under a kind's name mistyped: which kind, said."""
    text = (Path(__file__).parents[1] / "docs" / "examples" / "pilot_policy.toml").read_text()
    assert text.count(old) >= 1
    text = text.replace(old, new)
    if old.startswith("[kinds."):
        text = text.replace("[[kinds.tip_request.", "[[kinds.tip_reqest.")
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "policy.toml"
        file.write_text(text)
        with pytest.raises(InvalidPolicy) as err:  # read, it is refused as a Targeter refuses it
            geotarget.load_policy(file, catalog=sweden.hierarchy())
    meant = old.split("kinds.")[-1].rstrip("]") if old.startswith("[") else "explosion"
    line = next(x for x in str(err.value).splitlines() if path in x)
    assert f"(did you mean {meant!r}? it is registered: this name may be misspelt)" in line
