"""One ISO 8601 reader for the CLI, position files and the service, the same on every Python."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geotarget._validate import iso_datetime

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=offsets
    ),
    st.sampled_from(["T", " "]),
    st.sampled_from(["auto", "minutes", "seconds", "milliseconds", "microseconds"]),
)
def test_reads_back_what_isoformat_writes(value: dt.datetime, sep: str, timespec: str) -> None:
    """Every form ``datetime.isoformat`` writes (with an offset) reads back to the same value."""
    text = value.isoformat(sep=sep, timespec=timespec)
    want = dt.datetime.fromisoformat(text)  # the same text on 3.10 and 3.11
    assert iso_datetime(text) == want
    assert iso_datetime(text).utcoffset() == want.utcoffset()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2024-05-20T14:00:00Z", dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)),
        ("2024-05-20t14:00z", dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)),
        ("2024-05-20T14:00+0200", dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)),
        ("2024-05-20T14:00+02", dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)),
        ("2024-05-20T14:00:00,5-01:30", dt.datetime(2024, 5, 20, 15, 30, 0, 500000,
                                                    tzinfo=dt.timezone.utc)),
        ("2024-05-20T14:00:00.1234567Z", dt.datetime(2024, 5, 20, 14, 0, 0, 123456,
                                                     tzinfo=dt.timezone.utc)),
        ("2024-05-20", dt.datetime(2024, 5, 20)),
        ("2024-05-20 14:00", dt.datetime(2024, 5, 20, 14)),
    ],
)  # fmt: skip
def test_forms_read_on_every_python(text: str, want: dt.datetime) -> None:
    """Forms 3.10's fromisoformat refuses (Z, ±hhmm, long fractions) read everywhere."""
    assert iso_datetime(text) == want
    assert (iso_datetime(text).tzinfo is None) == (want.tzinfo is None)


@pytest.mark.parametrize(
    "text",
    [
        "20240520T140000Z",  # basic format: 3.11's fromisoformat reads it, 3.10's does not
        "2024-W21-1",
        "2024-05-20T14",
        "2024-05-20T14:00:00+24:00",
        "2024-05-20T24:00Z",
        "2024-02-30T00:00Z",
        "２０２４-05-20T14:00Z",
        "2024-05-20T14:00:00.Z",
        "",
    ],
)
def test_other_forms_are_refused_on_every_python(text: str) -> None:
    """Refused with the rule, never read differently by the Python that runs it."""
    with pytest.raises(ValueError, match=r"ISO 8601|out of range|valid date-time"):
        iso_datetime(text)
