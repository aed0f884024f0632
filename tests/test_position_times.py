"""A positions file's observed_at column: read in bulk exactly as cell by cell.

The reader (:func:`geotarget._position_files.read`) reads a column of one ISO 8601 layout, or of
epoch seconds, in bulk; the oracle is the per-cell parser
(:func:`geotarget._position_files._parse_time`) applied to each cell, with the reader's
documented choice of the cell a refusal names (in each chunk, the refused text first in sorted
order, at its first row).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zoneinfo
from decimal import Decimal
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from geotarget import _position_files
from geotarget._position_files import (
    _EPOCH,
    Marks,
    Where,
    _parse_time,
    _problem,
    read,
)
from geotarget.errors import InvalidPositions

_NAT = int(np.iinfo(np.int64).min)
ZONES = (None, "Europe/Stockholm", "America/St_Johns")


def _oracle(cells: list[str], zone: str | None, chunk: int) -> list[int] | str:
    """UTC microseconds of every cell (NaT's integer when empty), or the refusal's message."""
    tz = None if zone is None else zoneinfo.ZoneInfo(zone)
    marks = Marks()
    out: list[int] = []
    for start in range(0, len(cells), chunk):
        part = cells[start : start + chunk]
        texts = [c.strip() for c in part]
        where = Where("t.csv", [start + k + 2 for k in range(len(part))], start)
        for text in sorted(set(texts)):
            if not text:
                continue
            try:
                _parse_time(text, tz)
            except ValueError as err:
                i = texts.index(text)
                return str(_problem(where(i), "observed_at", str(err), part[i]))
        try:
            for i, text in enumerate(texts):  # epoch seconds: the file's one decimal mark
                if ("." in text or "," in text) and _EPOCH.fullmatch(text):
                    marks.cell(part[i], "observed_at", where, i)
        except InvalidPositions as err:
            return str(err)
        for text in texts:
            if not text:
                out.append(_NAT)
                continue
            utc = _parse_time(text, tz).replace(tzinfo=None)
            out.append(int(np.datetime64(utc, "us").astype(np.int64)))
    return out


def _read(cells: list[str], zone: str | None, chunk: int) -> list[int] | str:
    """What the reader makes of a file of these observed_at cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "lon", "lat", "observed_at"])
    writer.writerows([f"d{i}", "18", "59", cell] for i, cell in enumerate(cells))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
        with mock.patch.object(_position_files, "CHUNK_ROWS", chunk):
            try:
                positions, _ = read(path, timezone=zone, accuracy_m=10.0)
            except InvalidPositions as err:
                return str(err)
    stamps = positions.observed_at.astype(np.int64)
    return [int(v) for v in stamps.tolist()]


def _two(value: int) -> str:
    return f"{value:02d}"


Layout = tuple[str, bool, int, str, str]


@st.composite
def _layouts(draw: st.DrawFn) -> Layout:
    """A way to write times: separator, seconds?, fraction digits, fraction mark, zone form."""
    return (
        draw(st.sampled_from(["T", "T", " ", "t"])),
        draw(st.integers(0, 9)) != 0,
        draw(st.sampled_from([0, 0, 3, 6, 1, 2, 4, 5, 7, 8, 9, 10])),
        draw(st.sampled_from([".", ","])),
        draw(st.sampled_from(["Z", "+hh:mm", "+hh:mm", "+hhmm", "+hh", "z", "", "Z"])),
    )


def _ends(low: int, high: int) -> st.SearchStrategy[int]:
    """A value within [low, high], often one of its ends."""
    return st.one_of(st.integers(low, high), st.sampled_from([low, high]))


#: The ends of the instants an observed_at may name (UTC; the last is the first refused).
_BOUNDS = (dt.datetime(1970, 1, 1), dt.datetime(9999, 1, 1))


def _write(fields: dict[str, int], layout: Layout, fraction: str, sign: str) -> str:
    """A time's fields (valid or not) written in ``layout``."""
    sep, seconds, digits, mark, zone = layout
    f = {k: f"{v:02d}" for k, v in fields.items()}
    text = f"{fields['year']:04d}-{f['month']}-{f['day']}{sep}{f['hour']}:{f['minute']}"
    if seconds:
        text += f":{f['second']}"
        if digits:
            text += mark + fraction
    if zone in ("Z", "z", ""):
        return text + zone
    if zone == "+hh":
        return f"{text}{sign}{f['offset_h']}"
    colon = ":" if zone == "+hh:mm" else ""
    return f"{text}{sign}{f['offset_h']}{colon}{f['offset_m']}"


@st.composite
def _iso(draw: st.DrawFn, layout: Layout, kind: str = "valid") -> str:
    """One time in ``layout``, of a ``kind``.

    ``valid``: within the years, often at the ends of its fields (February 29 of leap years);
    ``bound``: a unit of the layout before, at or after either end of the years 1970 to 9998
    (in UTC, written in any offset); ``broken``: a field breaks its rule (24:00, a leap
    second, February 29 of a common year, an offset of 24 hours, month 13...).
    """
    _, seconds, digits, _, zone = layout
    sign = draw(st.sampled_from("+-"))
    fraction = draw(st.text("0123456789", min_size=digits, max_size=digits))
    offset = (
        draw(st.one_of(_ends(0, 14), st.integers(15, 23))),
        draw(st.sampled_from([0, 30, 45, 59])),
    )
    if zone in ("Z", "z", ""):
        offset = (0, 0)
    elif zone == "+hh":
        offset = (offset[0], 0)
    if kind == "bound":
        unit = dt.timedelta(seconds=1 if seconds else 60)
        if seconds and digits:
            unit = dt.timedelta(microseconds=10 ** max(0, 6 - digits))
        at = draw(st.sampled_from(_BOUNDS)) + draw(st.sampled_from([-1, 0, 1])) * unit
        minutes = (offset[0] * 60 + offset[1]) * (-1 if sign == "-" else 1)
        local = at + dt.timedelta(minutes=minutes)
        fraction = f"{local.microsecond:06d}"[:digits].ljust(digits, "0")
        fields = {
            "year": local.year,
            "month": local.month,
            "day": local.day,
            "hour": local.hour,
            "minute": local.minute,
            "second": local.second,
        }
    else:
        year = draw(st.one_of(st.integers(1971, 2100), st.sampled_from([1971, 2000, 2024, 9997])))
        month = draw(_ends(1, 12))
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        last = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        fields = {
            "year": year,
            "month": month,
            "day": draw(_ends(1, last)),
            "hour": draw(_ends(0, 23)),
            "minute": draw(_ends(0, 59)),
            "second": draw(_ends(0, 59)),
        }
    fields["offset_h"], fields["offset_m"] = offset
    if kind == "broken":
        if fields["month"] == 2 and fields["day"] == 28 and not leap:
            fields["day"] = 29  # February 29 of a common year
        else:
            name = draw(
                st.sampled_from(
                    ["month", "day", "hour", "minute", "second"]
                    + (["offset_h", "offset_m"] if zone not in ("Z", "z", "", "+hh") else [])
                    + (["offset_h"] if zone == "+hh" else [])
                )
            )
            fields[name] = draw(
                st.sampled_from(
                    {
                        "month": [0, 13, 19],
                        "day": [0, last + 1, 32],
                        "hour": [24, 25],
                        "minute": [60, 99],
                        "second": [60, 61],
                        "offset_h": [24, 99],
                        "offset_m": [60, 99],
                    }[name]
                )
            )
    return _write(fields, layout, fraction, sign)


@st.composite
def _epoch(draw: st.DrawFn, kind: str = "valid") -> str:
    """Epoch seconds, of a ``kind``.

    ``valid``: within range with 0 to 9 fraction digits, some zero-padded; ``broken``: also at
    or beyond the ends of the range, with 10 fraction digits or 31 digits, or a comma.
    """
    ends = [1_000_000_000, 99_999_999_999]
    broken = kind != "valid"
    whole = draw(
        st.one_of(
            st.integers(1_000_000_000, 2_000_000_000),
            st.integers(1_000_000_000, 99_999_999_999),
            st.sampled_from([*ends, 999_999_999, 100_000_000_000] if broken else ends),
        )
    )
    digits = draw(st.sampled_from([0, 0, 1, 3, 6, 7, 9] + ([10] if broken else [])))
    mark = draw(st.sampled_from([".", ","] if broken else ["."]))
    fraction = draw(st.text("0123456789", min_size=digits, max_size=digits))
    # Zeros in front: 30 digits at most.
    width = draw(st.sampled_from([0, 0, 0, 0, 30] + ([31] if broken else [])))
    text = str(whole).zfill(width)
    return f"{text}{mark}{fraction}" if digits else text


#: Cells of other forms: refused (with their hints) or read cell by cell.
_ODD = st.sampled_from(
    [
        "",
        " ",
        "2024-05-20",  # a date alone
        "20240520",  # a date as a number
        "1716206400000",  # milliseconds
        "45432.5",  # an Excel serial date
        "05/20/2024 14:00",  # a US date
        "\\N",
        "nan",
        "1716206400.",
        "2024-03-31T02:30:00",  # a wall time Stockholm skips
        "2024-10-27T02:30:00",  # a wall time Stockholm shows twice
        "2024-03-31 03:30",
        "2024-05-20T14:00:00+02:00",
        "2024-05-20T14:00:00Z",
        " 2024-05-20T14:00:00.5+0200 ",
        "2024-05-20T14:00:00,123456789-14:00",
        "1970-01-01T00:00:00Z",
        "9999-01-01T00:00:00Z",
        "9998-12-31T23:59:59.999999999Z",
        "1969-12-31T23:59:59.999999Z",
        "9998-12-31T23:59:59.999999Z",
        "9999-01-01T00:00:00+01:00",
        "0001-01-01T00:30:00+14:00",
        "2024-02-29T12:00:00Z",
        "2023-02-29T12:00:00Z",
        "2024-05-20T24:00:00Z",
        "2024-06-30T23:59:60Z",
        "２０２４-05-20T14:00:00Z",
        "2024-05-20T14:00:00+02:00 ",
        "59.3326,18.0654",
    ]
)


@st.composite
def _columns(draw: st.DrawFn) -> list[str]:
    """An observed_at column of one layout (or epoch seconds), a few cells spoilt.

    A spoilt cell is in the column's layout but broken or at the ends of the years, or of
    another form (:data:`_ODD`, another layout, epoch seconds).
    """
    n = draw(st.integers(1, 12))
    epochs = draw(st.integers(0, 3)) == 0
    layout = draw(_layouts())
    cell = _epoch() if epochs else _iso(layout)
    cells = [draw(cell) for _ in range(n)]
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["broken", "broken", "broken", "bound", "other"]))
        if kind == "other":
            spoilt = draw(st.one_of(_ODD, _epoch("broken"), _iso(draw(_layouts()), "broken")))
        elif epochs:
            spoilt = draw(_epoch("broken"))
        else:
            spoilt = draw(_iso(layout, kind))
        cells[draw(st.integers(0, n - 1))] = spoilt
    return cells


@given(_columns(), st.sampled_from(ZONES), st.integers(1, 13))
def test_the_reader_gives_what_the_per_cell_parser_gives(
    cells: list[str], zone: str | None, chunk: int
) -> None:
    """The same instants, or the same refusal naming the same cell."""
    want = _oracle(cells, zone, chunk)
    event("refused" if isinstance(want, str) else "read")
    assert _read(cells, zone, chunk) == want


@pytest.mark.parametrize(
    "cells",
    [
        ["2024-05-20T14:00:00+02:00", "2024-05-20T14:00:01-05:30", "", "2024-05-20T14:00:02+0200"],
        ["2024-05-20 14:00:00.123456789Z", "2024-05-20 14:00:00.5Z", "2024-05-20 14:00Z"],
        ["2024-02-29T23:59:59,999+02", "9998-12-31T23:59:59.999999Z", "1970-01-01T00:00:00Z"],
        ["2000-02-29T00:00:00-14:00", "1969-12-31T23:00:00-01:00", "9999-01-01T00:59:59+01:00"],
        ["1716206400", "1716206400.5", "", "64059207044.5111364", "99999999999.99999"],
    ],
)
def test_columns_of_fixed_layouts_are_read_without_the_per_cell_parser(
    cells: list[str],
) -> None:
    """The bulk paths read these columns entirely (no cell parsed alone), as the cells read."""
    want = _oracle(cells, None, len(cells))
    with mock.patch.object(_position_files, "_parse_time", side_effect=AssertionError):
        got = _read(cells, None, len(cells))
    assert got == want


_EPOCHS_AS_WRITTEN = [
    "64059207044.5111364",  # a float of it is 64059207044.51113891...: read so, 3 µs late
    "99999999999.9999999",  # a float of it is 1e11, which was refused as "must be below 1e11"
    "1716206400.9999999",  # rounded, the next second; cut, as ISO times are, the same one
    "1716206400.123456789",
    "1716206400.0000015",
    "1716206400.5",
    "1716206400",
    "0001716206400.25",
]


@pytest.mark.parametrize("bulk", [True, False], ids=["in-bulk", "cell-by-cell"])
def test_epoch_seconds_are_read_as_written_cut_to_the_microsecond(bulk: bool) -> None:
    """The digits as written, beyond the sixth cut, as an ISO time's fraction is (the docs).

    The oracle is decimal arithmetic on the text; an ISO cell makes the column one the reader
    reads cell by cell.
    """
    want = [int(Decimal(cell) * 1_000_000) for cell in _EPOCHS_AS_WRITTEN]  # (positive: floor)
    cells = _EPOCHS_AS_WRITTEN if bulk else [*_EPOCHS_AS_WRITTEN, "2024-05-20T14:00:00.9999999Z"]
    got = _read(cells, None, len(cells))
    assert got[: len(want)] == want
    if not bulk:  # the ISO fraction's digits are cut likewise
        assert got[-1] == int(Decimal(1716213600) * 1_000_000) + 999_999


def test_epoch_seconds_in_bulk_are_cut_as_one_cell_is() -> None:
    """The whole part and the fraction are integers: no float loses a microsecond."""
    cell = "64059207044.5111364"
    assert _read([cell, "1716206400"], None, 2)[0] == 64_059_207_044_511_136


@pytest.mark.parametrize("cell", ["1716206400.", "1716206400.1234567891", "0" * 31 + "1"])
def test_epoch_seconds_the_cell_rule_refuses_are_refused_in_a_column_of_epochs(cell: str) -> None:
    """A mark without digits, or ten fraction digits, was read when all cells were epochs."""
    got = _read(["1716206400", cell], None, 2)
    assert got == (
        "t.csv: row 2 (line 3), column observed_at: must be epoch seconds or an ISO 8601 "
        f"date-time such as 2024-05-20T14:00:00+02:00 (or ...Z) (got {_position_files._show(cell)})"
    )


@pytest.mark.parametrize(
    ("cell", "rule"),
    [
        ("2024-05-20T24:00:00Z", "is not a valid date-time (hour must be in 0..23)"),
        ("2024-06-30T23:59:60Z", "is not a valid date-time (second must be in 0..59)"),
        ("2023-02-29T12:00:00Z", "is not a valid date-time (day is out of range for month)"),
        ("2024-05-20T14:00:00+24:00", "has a UTC offset out of range (+24:00)"),
        ("1969-12-31T23:59:59Z", "lies outside the years 1970 to 9998"),
        ("9999-01-01T00:00:00Z", "lies outside the years 1970 to 9998"),
        ("2024-13-20T14:00:00Z", "is not a valid date-time (month must be in 1..12)"),
        ("2024-04-31T14:00:00Z", "is not a valid date-time (day is out of range for month)"),
        ("2100-02-29T14:00:00Z", "is not a valid date-time (day is out of range for month)"),
        ("2024-05-20T14:60:00Z", "is not a valid date-time (minute must be in 0..59)"),
        ("2024-05-20T14:00:00-02:60", "has a UTC offset out of range (-02:60)"),
    ],
)
def test_a_bad_cell_in_a_column_of_one_layout_is_named_as_before(cell: str, rule: str) -> None:
    """One bad cell among good ones of its layout: refused with the per-cell rule."""
    cells = ["2024-05-20T14:00:00Z"] * 3 + [cell]
    got = _read(cells, None, 4)
    assert got == f"t.csv: row 4 (line 5), column observed_at: {rule} (got {cell!r})"


def test_wall_times_in_a_zone_are_still_read_cell_by_cell() -> None:
    """Times without an offset are not read in bulk: a DST change is refused as before."""
    cells = ["2024-03-31T01:30:00", "2024-03-31T02:30:00"]
    got = _read(cells, "Europe/Stockholm", 2)
    assert isinstance(got, str) and "a wall time that Europe/Stockholm skips" in got
    first = dt.datetime(2024, 3, 31, 0, 30)
    assert _read(cells[:1], "Europe/Stockholm", 1) == [
        int(np.datetime64(first, "us").astype(np.int64))
    ]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("20240520T140000Z", "2024-05-20T14:00:00Z"),
        ("20240520T1400+0200", "2024-05-20T14:00:00+02:00"),
        ("20240520t140000.5-05", "2024-05-20T14:00:00-05:00"),
    ],
)
def test_a_time_in_iso_8601_basic_format_is_refused_naming_that_format(
    cell: str, written: str
) -> None:
    """``20240520T140000Z`` is ISO 8601 (its basic format), which geotarget does not read.

    The refusal said only "must be ... an ISO 8601 date-time", which the cell is.
    """
    got = _read(["2024-05-20T14:00:00Z", cell], None, 2)
    assert isinstance(got, str) and got.startswith("t.csv: row 2 (line 3), column observed_at:")
    assert "written in ISO 8601's basic format, without '-' and ':'" in got
    assert f"write {written} (got {cell!r})" in got
