"""CSV records without the csv module's field size limit, checked against the csv module itself."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from geotarget._csv_records import Records, lines
from geotarget._position_files import read
from geotarget.errors import InvalidInput, InvalidPositions

#: CSV text made of what matters to the grammar: delimiters, quotes, line ends, text.
_TEXT = st.text(alphabet=st.sampled_from(["a", "b", " ", ",", ";", "\t", '"', "\r", "\n"]))


def _read_all(reader: Iterator[list[str]]) -> list[object]:
    """Every record with the line count after it, then the error (its message) or the end."""
    out: list[object] = []
    try:
        for record in reader:
            out.append((record, reader.line_num))  # type: ignore[attr-defined]
    except csv.Error as err:
        out.append((str(err), reader.line_num))  # type: ignore[attr-defined]
    return out


@contextmanager
def _csv_limit(limit: int) -> Iterator[None]:
    """The csv module's field size limit set to ``limit`` for the block (in this test only)."""
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


@given(text=_TEXT, delimiter=st.sampled_from([",", ";", "\t"]), limit=st.sampled_from([0, 2]))
@example(text='a,"b\r\nc"",d",e\r\n\r\nf', delimiter=",", limit=0)
@example(text='"a"b,c\n', delimiter=",", limit=0)
@example(text='"""', delimiter=",", limit=0)  # an escaped quote, not a closing one
@example(text='x,"a""""b"\n', delimiter=",", limit=0)
@example(text='a,"b\n\nc', delimiter=",", limit=0)
@example(text="a\r\rb\n", delimiter=",", limit=0)
def test_records_are_the_csv_modules_whatever_the_field_size_limit(
    text: str, delimiter: str, limit: int
) -> None:
    """With the csv module's limit at 0 (every field read in Python) or 2 (most), the same records.

    The same lines counted after each, and the same error (message and line) where the csv
    module, unlimited, stops.
    """
    expected = _read_all(csv.reader(lines(text), delimiter=delimiter, strict=True))
    with _csv_limit(limit):
        got = _read_all(Records(text, delimiter, 0, 0))
    assert got == expected


def test_records_resume_after_a_given_line() -> None:
    """From the offset of line 3, lines count on from the two before it."""
    text = "h1\nh2\n" + '"x' + "y" * 10 + '",z\nlast\n'
    with _csv_limit(4):
        got = _read_all(Records(text, ",", 6, 2))
    assert got == [(["x" + "y" * 10, "z"], 3), (["last"], 4)]


def test_a_cell_longer_than_the_csv_modules_limit_is_read_and_the_limit_left_alone(
    tmp_path: Path,
) -> None:
    """A 200,000-character note (quoted, over three lines, and bare) is ignored like any other.

    The csv module refused it ("field larger than field limit (131072)"); raising its limit
    would change every other reader in the process. Later rows' lines count the note's lines.
    """
    limit = csv.field_size_limit()
    note = "x" * 100_000
    path = tmp_path / "p.csv"
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at,note\n"
        "a,18.0,59.3,5,1716213600,short\n"
        f'b,18.1,59.3,5,1716213600,"{note}\n{note}\r\n""quoted"""\n'
        f"c,18.2,59.3,5,1716213600,{note * 2}\n"
        "d,18.3,59.3,5,1716213600,\n",
        encoding="utf-8",
    )
    positions, report = read(path)
    assert positions.ids.tolist() == ["a", "b", "c", "d"]
    assert positions.lon.tolist() == [18.0, 18.1, 18.2, 18.3]
    assert report.unknown_columns == ("note",)
    assert csv.field_size_limit() == limit
    path.write_text(path.read_text(encoding="utf-8").replace("d,18.3", "d,18.o"), encoding="utf-8")
    with pytest.raises(InvalidPositions, match=r"p\.csv: row 4 \(line 7\), column lon: "):
        read(path)
    assert csv.field_size_limit() == limit


def test_a_long_cell_in_a_known_column_and_an_unclosed_quote_are_still_named(
    tmp_path: Path,
) -> None:
    """Past the csv module's limit, a known column's cell gets its length rule; a quote its line."""
    path = tmp_path / "p.csv"
    path.write_text(
        f"id,lon,lat,accuracy_m,observed_at\na,18.0,59.3,5,1716213600\n{'7' * 200_000},18.0,59.3"
        ",5,1716213600\n",
        encoding="utf-8",
    )
    with pytest.raises(
        InvalidPositions, match=r"row 2 \(line 3\), column id: must be at most 256 characters"
    ):
        read(path)
    path.write_text(
        'id,lon,lat,accuracy_m,observed_at,note\na,18.0,59.3,5,1716213600,"never closed\n'
        + "b,18.0,59.3,5,1716213600,x\n" * 20_000,
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput, match=r"p\.csv: line 2, column note: unclosed quote"):
        read(path)
