"""Time as the real world gives it: zone times per fix, pandas' times, far years, DST nights.

Oracles are plain Python ``datetime`` arithmetic in UTC (``astimezone``), never geotarget's own
helpers: an instant is what ``value.astimezone(timezone.utc)`` says, an age is the difference of
two such instants, and a fix is fresh iff that age is at most ``max_age``.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from geotarget import Circle, LocationRule, PositionIndex, Positions
from geotarget.alerts import Alert, Info, Reference
from geotarget.errors import InvalidPositions, InvalidType
from geotarget.rollout import RolloutPolicy

UTC = timezone.utc
STO = ZoneInfo("Europe/Stockholm")
#: 02:30 on the night Stockholm's clocks jump from 02:00 to 03:00: no such clock reading.
SKIPPED = datetime(2026, 3, 29, 2, 30, tzinfo=STO)


def _instant(t: datetime) -> datetime:
    return t.astimezone(UTC)


# --- a column of zone times --------------------------------------------------------------------


def _columns(times: list[Any]) -> list[Any]:
    """The forms a column of ``datetime`` objects comes in: a list, an object array, a Series."""
    forms: list[Any] = [list(times), np.array(times, dtype=object)]
    pd = pytest.importorskip("pandas")
    forms.append(pd.Series(times, dtype=object))
    return forms


@pytest.mark.parametrize("form", range(3))
@pytest.mark.parametrize("row", [0, 2])
def test_a_column_refuses_a_zone_wall_time_the_clocks_skip_naming_its_row(
    form: int, row: int
) -> None:
    """One ``observed_at`` at 02:30 on the spring night was refused; a column of them was not.

    Python reads that wall time at +01:00 (03:30 summer time): a column silently took it, so
    the same fix was refused alone and accepted among others.
    """
    ok = datetime(2026, 3, 29, 3, 30, tzinfo=STO)
    times = [ok, ok, ok]
    times[row] = SKIPPED
    with pytest.raises(InvalidPositions, match="must be a real clock reading"):
        Positions(["a"], [18.0], [59.0], observed_at=SKIPPED)
    column = _columns(times)[form]
    with pytest.raises(InvalidPositions) as err:
        Positions(["a", "b", "c"], [18.0] * 3, [59.0] * 3, observed_at=column)
    message = str(err.value)
    assert f"at row {row}," in message
    assert "2026-03-29T02:30:00 does not exist in Europe/Stockholm" in message


@pytest.mark.parametrize("form", range(3))
def test_a_column_of_zone_times_across_both_changes_keeps_each_instant(form: int) -> None:
    """The hour the clocks repeat is two instants (``fold``); the edges of the gap exist."""
    times = [
        datetime(2026, 10, 25, 2, 30, tzinfo=STO, fold=0),  # 00:30Z
        datetime(2026, 10, 25, 2, 30, tzinfo=STO, fold=1),  # 01:30Z
        datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=STO),  # the last winter instant
        datetime(2026, 3, 29, 3, 0, tzinfo=STO),  # the first summer one
        datetime(2028, 2, 29, 23, 59, 59, tzinfo=STO),  # a leap day
        None,
    ]
    n = len(times)
    column = _columns(times)[form]
    p = Positions([str(i) for i in range(n)], [18.0] * n, [59.0] * n, observed_at=column)
    got = [None if np.isnat(t) else t.item().replace(tzinfo=UTC) for t in p.observed_at]
    assert got == [None if t is None else _instant(t) for t in times]


def test_a_column_of_zone_times_at_the_ends_of_the_years_is_read_or_refused_by_its_instant() -> (
    None
):
    """A zone time whose instant lies in the year 0 is refused by the years rule, not crashed."""
    last = datetime(9999, 12, 31, 23, 30, tzinfo=STO)  # 22:30Z: its zone's clocks show it
    first = datetime(1, 1, 1, 0, 30, tzinfo=ZoneInfo("America/New_York"))  # LMT: 05:26:02Z
    p = Positions(["a", "b"], [18.0] * 2, [59.0] * 2, observed_at=[last, first])
    assert [t.item().replace(tzinfo=UTC) for t in p.observed_at] == [
        _instant(last),
        _instant(first),
    ]
    tokyo = datetime(1, 1, 1, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # the year 0 in UTC
    with pytest.raises(InvalidPositions, match=r"within the years 1 to 9999 in UTC .* at row 1"):
        Positions(["a", "b"], [18.0] * 2, [59.0] * 2, observed_at=[last, tokyo])


def test_a_column_of_pandas_timestamps_is_read_at_their_instants() -> None:
    """A pandas Timestamp at a wall time its zone skips is an instant (pandas states its offset)."""
    pd = pytest.importorskip("pandas")
    times = [
        pd.Timestamp(datetime(2026, 3, 29, 2, 30), tz="Europe/Stockholm"),  # 01:30Z
        pd.Timestamp("2026-10-25 02:30").tz_localize("Europe/Stockholm", ambiguous=False),
    ]
    p = Positions(["a", "b"], [18.0] * 2, [59.0] * 2, observed_at=pd.Series(times, dtype=object))
    assert [t.item().replace(tzinfo=UTC) for t in p.observed_at] == [_instant(t) for t in times]


def test_ages_across_the_autumn_change_are_told_from_instants_not_wall_clocks() -> None:
    """At 02:30 after the change (01:30Z), a fix at 02:30 before it is exactly an hour old.

    Wall-clock subtraction (Python's, between two times of one zone) would say 0 s; a fix at
    01:30 summer time (23:30Z the day before) is two hours old, not one.
    """
    at = datetime(2026, 10, 25, 2, 30, tzinfo=STO, fold=1)
    fixes = [
        datetime(2026, 10, 25, 2, 30, tzinfo=STO, fold=0),
        datetime(2026, 10, 25, 2, 29, 59, 999999, tzinfo=STO, fold=0),
        datetime(2026, 10, 25, 1, 30, tzinfo=STO),
        datetime(2026, 10, 25, 2, 45, tzinfo=STO, fold=1),  # after at: clock skew, current
    ]
    rule = LocationRule(max_age=timedelta(hours=1), accuracy=0.0)
    n = len(fixes)
    p = Positions(list(range(n)), [18.0] * n, [59.0] * n, observed_at=fixes)
    rows, states = PositionIndex(p).classify(Circle(18.0, 59.0, 10.0), rule, at)
    fresh = [_instant(at) - _instant(t) <= timedelta(hours=1) for t in fixes]
    assert fresh == [True, False, False, True]
    assert rows.tolist() == list(range(n))
    assert states.tolist() == [1 if f else 3 for f in fresh]


def test_fresh_and_stale_at_the_microsecond_in_any_offset_and_zone_match_utc_arithmetic() -> None:
    """Fresh or stale, to the microsecond, in any offset or zone, is UTC arithmetic's answer.

    Random fixes around ``at - max_age``, ``at`` and fixes in UTC, +05:30, -11:00 and
    Stockholm's zone on both DST nights and a leap day: ``classify``'s UNKNOWN rows and
    ``query(observed_before=)`` agree with ``datetime`` arithmetic in UTC.
    """
    rng = random.Random(9)
    zones = [UTC, STO, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))]
    bases = [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        datetime(2028, 2, 29, 23, 30, tzinfo=UTC),
    ]
    area = Circle(18.0, 59.0, 100.0)
    for _ in range(60):
        at_utc = rng.choice(bases) + timedelta(
            seconds=rng.randint(-7200, 7200), microseconds=rng.randint(0, 999_999)
        )
        at = at_utc.astimezone(rng.choice(zones))
        max_age = timedelta(seconds=rng.choice([0, 1, 3600, 5400]), microseconds=rng.choice([0, 1]))
        times: list[datetime | None] = []
        for _ in range(40):
            pick = rng.random()
            if pick < 0.1:
                times.append(None)
                continue
            if pick < 0.6:
                age = max_age + timedelta(microseconds=rng.choice([-1, 0, 1]))
            else:
                age = timedelta(seconds=rng.randint(-3 * 3600, 3 * 3600))
            times.append((at_utc - age).astimezone(rng.choice(zones)))
        n = len(times)
        index = PositionIndex(Positions(list(range(n)), [18.0] * n, [59.0] * n, observed_at=times))
        rows, states = index.classify(area, LocationRule(max_age=max_age, accuracy=0.0), at)
        stale = [t is None or at_utc - _instant(t) > max_age for t in times]
        assert rows.tolist() == list(range(n))
        assert states.tolist() == [3 if s else 1 for s in stale]
        before = index.query(area, observed_before=at_utc - max_age).tolist()
        assert before == [i for i, s in enumerate(stale) if s]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2026-05-01T12:00:00+02:00", "got str '2026-05-01T12:00:00+02:00'; read ISO 8601 text "
         "with geotarget.parse_time"),
        (np.datetime64("2026-05-01T12:00"), "a numpy datetime64 is read as UTC in an array"),
        (1_777_636_800, "got int 1777636800; bare numbers are refused, as seconds and "
         "milliseconds cannot be told apart"),
        (np.int64(1_777_636_800_000), "bare numbers are refused"),
        (date(2026, 5, 1), "a date holds no time of day"),
    ],
)  # fmt: skip
def test_one_time_that_is_no_aware_datetime_is_refused_saying_how_to_give_it(
    value: object, words: str
) -> None:
    """A snapshot's one ``observed_at`` as text, a numpy scalar, epoch seconds or a date.

    Each was refused as "a sequence of timezone-aware datetimes ... (got str)": not the value,
    nor that one datetime is taken, nor how to make one.
    """
    with pytest.raises(InvalidType) as err:
        Positions(["a"], [18.0], [59.0], observed_at=value)
    message = str(err.value)
    assert message.startswith("observed_at must be one timezone-aware datetime, a sequence")
    assert words in message


def test_nat_for_the_whole_snapshot_is_refused_as_no_time_not_as_a_naive_one() -> None:
    """One ``NaT`` for the snapshot is refused as no time; one per row marks an unknown time.

    It was refused as "naive NaT".
    """
    pd = pytest.importorskip("pandas")
    with pytest.raises(InvalidPositions) as err:
        Positions(["a"], [18.0], [59.0], observed_at=pd.NaT)
    assert "got NaT for the whole snapshot" in str(err.value)
    assert "naive" not in str(err.value)
    p = Positions(["a", "b"], [18.0] * 2, [59.0] * 2, observed_at=[pd.NaT, SKIPPED.replace(hour=4)])
    assert np.isnat(p.observed_at).tolist() == [True, False]


# --- pandas' Timestamps in alerts ----------------------------------------------------------------


def _info(**times: Any) -> Info:
    return Info(
        categories=["Safety"],
        event="Explosion",
        urgency="Immediate",
        severity="Severe",
        certainty="Observed",
        **times,
    )


def test_a_pandas_timestamp_at_a_skipped_wall_time_keeps_its_instant_in_an_alert() -> None:
    """A pandas Timestamp of 02:30 on the spring night keeps its instant (01:30Z) in an alert.

    pandas builds that wall time at +01:00 (the instant 01:30Z) but replaces its zone from
    the fields it normalised (03:30): the alert's times moved an hour later. The instant pandas means is its own ``astimezone(UTC)``; the alert keeps it, as a plain
    ``datetime`` at that offset, as it does for a ``ZoneInfo`` time.
    """
    pd = pytest.importorskip("pandas")
    t = pd.Timestamp(datetime(2026, 3, 29, 2, 30), tz="Europe/Stockholm")
    truth = _instant(t)
    assert truth == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    info = _info(effective=t, onset=t, expires=t + pd.Timedelta(hours=2))
    assert info.onset is not None and info.effective is not None and info.expires is not None
    assert _instant(info.onset) == truth and _instant(info.effective) == truth
    assert _instant(info.expires) == truth + timedelta(hours=2)
    assert type(info.onset) is datetime and info.onset.utcoffset() == t.utcoffset()
    alert = Alert(
        identifier="SE-1",
        sender="polisen@polisen.se",
        sent=t,
        status="Actual",
        msg_type="Alert",
        scope="Public",
        infos=[info],
    )
    assert _instant(alert.sent) == truth
    assert alert.is_active(truth) and not alert.is_active(truth - timedelta(microseconds=1))
    ref = Reference(sender="polisen@polisen.se", identifier="SE-0", sent=t)
    assert _instant(ref.sent) == truth


def test_pandas_timestamps_in_the_repeated_hour_keep_their_instants_in_an_alert() -> None:
    """Both 02:30s of the autumn night, as pandas localises them, are an hour apart."""
    pd = pytest.importorskip("pandas")
    wall = pd.Timestamp("2026-10-25 02:30")
    first = wall.tz_localize("Europe/Stockholm", ambiguous=True)  # summer time: 00:30Z
    second = wall.tz_localize("Europe/Stockholm", ambiguous=False)  # winter time: 01:30Z
    info = _info(onset=first, expires=second)
    assert info.onset is not None and info.expires is not None
    assert (_instant(info.onset), _instant(info.expires)) == (_instant(first), _instant(second))
    assert info.expires - info.onset == timedelta(hours=1)


# --- far years in the rollout's texts -------------------------------------------------------------


_POLICY = """
timezone = "Europe/Stockholm"
country = "SE"
[kinds.explosion]
phases = [{ starts_at = "2026-03-29T03:00", regions = ["01"] }]
"""


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (datetime(5, 6, 7, 8, 9, 10, tzinfo=UTC), "0005-06-07T08:09:10Z"),
        (
            datetime(999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-2))),
            "1000-01-01T01:00:00Z",
        ),
    ],
)
def test_a_decision_at_a_year_before_1000_writes_it_with_four_digits(
    at: datetime, text: str
) -> None:
    """A decision's text writes the year with four digits, as RFC 3339 does.

    ``str(decision)`` wrote the year 5 as ``5-06-07T08:09:10Z`` (``strftime("%Y")`` on Linux),
    which is no RFC 3339 time.
    """
    decision = RolloutPolicy.from_toml(_POLICY).decide("explosion", at)
    assert f"explosion at {text}: NOT_STARTED" in str(decision)
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == _instant(at)


@pytest.mark.parametrize(
    ("max_age", "said"),
    [
        (timedelta(seconds=1_000_001), "older than 1,000,001 s"),
        (timedelta(days=365_000), "older than 8,760,000 h"),  # 1,000 years
        (timedelta(minutes=90), "older than 90 min"),
        (timedelta(seconds=90, microseconds=250), "older than 90.00025 s"),
    ],
)
def test_explain_says_a_fix_s_age_limit_exactly(max_age: timedelta, said: str) -> None:
    """The age limit in an explanation was written with ``:g``, six significant digits.

    A limit of 1,000,001 s read "older than 1e+06 s", "8.76e+06 h" for 1,000 years. Oracle:
    the limit's own whole units.
    """
    from strategies import PILOT_KINDS
    from targeting_helpers import T0, make_alert, make_regions

    from geotarget.ledger import MemoryLedger
    from geotarget.rollout import nationwide
    from geotarget.targeting import KindRules, Targeter

    rule = LocationRule(max_age=max_age)
    rules = {k: KindRules(location=rule, include_ambiguous=True) for k in PILOT_KINDS}
    t = Targeter(make_regions(), nationwide("XX"), location_rules=rules, ledger=MemoryLedger())
    seen = [T0 - max_age - timedelta(microseconds=1), T0]
    fixes = Positions(
        ["old", "new"], [18.5, 18.0], [59.0, 59.0], accuracy_m=[5.0, 5.0], observed_at=seen
    )
    got = t.target(make_alert("explosion", Circle(18.0, 59.0, 500.0)), PositionIndex(fixes), T0)
    assert got.recipients.tolist() == ["new"]
    assert said in got.explain("old"), got.explain("old")
