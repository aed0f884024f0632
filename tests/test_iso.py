"""One ISO 8601 reader for the CLI, position files and the service, the same on every Python.

The private ``_validate.iso_datetime`` is the implementation; ``geotarget.parse_time`` its
public face, naming the field and the text in its errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import geotarget
import geotarget.positions
from geotarget._validate import iso_datetime
from geotarget.errors import InvalidInput, InvalidType

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


# --- the public name: geotarget.parse_time ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2024-05-20T14:00:00Z", dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)),
        ("2024-05-20 16:00+02:00", dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)),
        ("2024-05-20T14:00+0200", dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)),
        ("2024-05-20T14:00:00,25-01", dt.datetime(2024, 5, 20, 15, 0, 0, 250000,
                                                  tzinfo=dt.timezone.utc)),
    ],
)  # fmt: skip
def test_parse_time_reads_instants(text: str, want: dt.datetime) -> None:
    """The public reader reads what the private one reads, with the offset kept."""
    got = geotarget.parse_time(text)
    assert got == want and got.utcoffset() == iso_datetime(text).utcoffset()
    assert geotarget.parse_time is geotarget.positions.parse_time


def test_parse_time_without_an_offset_only_when_asked() -> None:
    """A time without an offset names no instant: refused by default, naive when allowed."""
    assert geotarget.parse_time("2024-05-20", offset_required=False) == dt.datetime(2024, 5, 20)
    naive = geotarget.parse_time("2024-05-20T14:00", field="at", offset_required=False)
    assert naive == dt.datetime(2024, 5, 20, 14) and naive.tzinfo is None
    with pytest.raises(InvalidInput) as info:
        geotarget.parse_time("2024-05-20T14:00", field="at")
    assert str(info.value) == (
        "at must carry a UTC offset, e.g. 2024-05-20T14:00+02:00 (got '2024-05-20T14:00')"
    )


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("20/05/2024", "must be an ISO 8601 date-time such as 2024-05-20T14:00:00+02:00 (or ...Z)"),
        ("2024-05-20T14:00+24:00", "has a UTC offset out of range (+24:00)"),
        ("2024-02-30T00:00Z", "is not a valid date-time (day is out of range for month)"),
        ("２０２４-05-20T14:00Z", "must be an ISO 8601 date-time"),
    ],
)
def test_parse_time_refusals_name_the_field_the_rule_and_the_text(text: str, rule: str) -> None:
    """InvalidInput (a ValueError too): '<field> <rule> (got <text>)'."""
    with pytest.raises(InvalidInput) as info:
        geotarget.parse_time(text, field="observed_at[3]")
    message = str(info.value)
    assert message.startswith(f"observed_at[3] {rule}"), message
    assert message.endswith(f"(got {text!r})"), message
    assert isinstance(info.value, ValueError)


def test_parse_time_refuses_what_is_not_text_and_bounds_what_it_quotes() -> None:
    """Not a str: InvalidType naming the field; a huge text is quoted cut, with its length."""
    with pytest.raises(InvalidType, match=r"^at must be ISO 8601 text \(got int 1716206100\)$"):
        geotarget.parse_time(1716206100, field="at")  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match="at must be ISO 8601 text"):
        geotarget.parse_time(dt.datetime(2024, 5, 20), field="at")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as info:
        geotarget.parse_time("2024-05-20T14:00Z" + "x" * 1_000_000)
    assert len(str(info.value)) < 300
    assert str(info.value).startswith("time must be an ISO 8601 date-time")
    assert "(1000017 characters)" in str(info.value)


def _outcome(read: Any) -> tuple[dt.datetime | None, str | None, type[Exception] | None]:
    """What a reader does with one text: its value, or its error message and type."""
    try:
        return read(), None, None
    except ValueError as err:
        return None, str(err), type(err)


@given(st.text(max_size=40))
def test_parse_time_is_the_private_reader_with_field_and_value(text: str) -> None:
    """Any text: the same value as iso_datetime, or InvalidInput naming field, rule and text."""
    want, rule, _ = _outcome(lambda: iso_datetime(text))
    got, message, error = _outcome(
        lambda: geotarget.parse_time(text, field="when", offset_required=False)
    )
    if rule is None:
        assert want is not None and got == want and got.tzinfo == want.tzinfo
    else:
        assert error is InvalidInput and message is not None
        shown = repr(text)
        if len(shown) <= 80:  # quoted whole
            assert message == f"when {rule} (got {shown})"
        else:  # quoted cut, with its length
            assert message == f"when {rule} (got {shown[:80]}… ({len(text)} characters))"
