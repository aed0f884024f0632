"""Errors reading positions files name the file, line, column, value and rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from geotarget._position_files import read
from geotarget.errors import InvalidInput, InvalidPositions

AT = dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("rows", [50, 20_000])
def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path: Path, rows: int) -> None:
    """Not at the end of the file, nor where the csv module's field limit ran out."""
    path = tmp_path / "q.csv"
    body = "".join(f"{i},18.0,59.3\n" for i in range(3, rows))
    path.write_text('id,lon,lat\n1,18.0,59.3\n2,"18.0,59.3\n' + body, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert str(err.value) == (
        "q.csv: line 3, column lon: unclosed quote: the quoted field that opens here never "
        'ends (a quote inside a field is written twice, "") (got \'"18.0,…\')'
    )


def test_an_unclosed_quote_shows_one_cell_not_the_rest_of_its_record(tmp_path: Path) -> None:
    """What follows an unclosed quote is shown up to the next delimiter, not the whole record.

    The rest of the line is the rest of the fix (its lon and lat, then its time): a message
    quoting it quoted a device's position, and the line and column already say where.
    """
    path = tmp_path / "q.csv"
    path.write_text('id;lat;lon\n"phone-1;59.3326471;18.0653917\n', encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert str(err.value).endswith("(got '\"phone-1;…')"), str(err.value)
    path.write_text('id,lon,lat\n"phone-1\n', encoding="utf-8")  # no delimiter after it
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert str(err.value).endswith("(got '\"phone-1')"), str(err.value)


def test_an_unclosed_quote_after_a_sep_line_and_in_the_header(tmp_path: Path) -> None:
    """Lines count the Excel sep= line; a header's field is numbered."""
    path = tmp_path / "q.csv"
    path.write_text('sep=;\nid;lon;lat\na;18;59\nb;18;"59\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"q.csv: line 4, column lat: unclosed quote"):
        read(path, observed_at=AT, accuracy_m=10.0)
    path.write_text('id;"lon;lat\na;18;59\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"q.csv: line 1, field 2: unclosed quote"):
        read(path, observed_at=AT, accuracy_m=10.0)


def test_a_closed_quoted_field_over_two_lines_is_still_read(tmp_path: Path) -> None:
    """A quoted field may hold a line break; only one that never ends is refused."""
    path = tmp_path / "q.csv"
    path.write_text('id,lon,lat\n"a\nb",18.0,59.3\n', encoding="utf-8")
    positions, _ = read(path, observed_at=AT, accuracy_m=10.0)
    assert positions.ids.tolist() == ["a\nb"]


@pytest.mark.parametrize("zone", [None, "Europe/Stockholm"])
def test_a_date_without_a_time_of_day_is_refused(tmp_path: Path, zone: str | None) -> None:
    """2024-05-20 is not local midnight: when the fix was taken is never invented."""
    path = tmp_path / "d.csv"
    path.write_text("id;lon;lat;observed_at\n0701234567;18,06;59,33;2024-05-20\n")
    with pytest.raises(InvalidPositions) as err:
        read(path, timezone=zone)
    assert str(err.value) == (
        "d.csv: row 1 (line 2), column observed_at: is a date without a time of day, so when "
        "that day the fix was taken is unknown (it is never invented); write the time, e.g. "
        "2024-05-20T14:00:00+02:00 (got '2024-05-20')"
    )


def test_a_parquet_date_column_is_refused_as_a_date(tmp_path: Path) -> None:
    """A Parquet date32 observed_at is a date without a time of day, too."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    table = pa.table(
        {"id": ["a"], "lon": [18.0], "lat": [59.3], "observed_at": [dt.date(2024, 5, 20)]}
    )
    pq.write_table(table, path)
    with pytest.raises(InvalidPositions, match="column observed_at: is a date without a time"):
        read(path, timezone="Europe/Stockholm")


def test_a_parquet_column_named_twice_is_not_at_a_line(tmp_path: Path) -> None:
    """Parquet has no lines: the message names the file and the columns."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a"], "lon": [18.0], "lat": [59.3], "Lat": [59.3]}), path)
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert str(err.value) == (
        "p.parquet: column lat appears twice (columns 3 and 4: 'lat' and 'Lat'); keep one"
    )


def test_a_no_fix_placeholder_latitude_gets_no_swap_hint(tmp_path: Path) -> None:
    """-999 is a placeholder; swapping could not bring it within range."""
    path = tmp_path / "p.csv"
    path.write_text("id,lon,lat\na,18.0,-999\n", encoding="utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert "swapped" not in str(err.value)
    assert "a placeholder for no fix?" in str(err.value)
    path.write_text("id,lon,lat\na,18.0,-150\n", encoding="utf-8")
    with pytest.raises(InvalidPositions, match="are lon and lat swapped"):
        read(path, observed_at=AT, accuracy_m=10.0)


def test_a_wide_header_gives_a_bounded_error(tmp_path: Path) -> None:
    """200,000 unknown names: the one-line error lists twenty and counts the rest."""
    path = tmp_path / "p.csv"
    path.write_text(",".join(f"c{i}" for i in range(200_000)) + "\n1\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert len(str(err.value)) < 1000
    assert "'c19' and 199,980 more" in str(err.value)


def test_a_parquet_nan_longitude_is_not_called_empty_alone(tmp_path: Path) -> None:
    """A NaN is named as such (with empty) in the half-a-fix error."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a"], "lon": [float("nan")], "lat": [59.3]}), path)
    with pytest.raises(InvalidPositions, match=r"column lon: is empty \(or NaN\) while lat"):
        read(path, observed_at=AT, accuracy_m=10.0)


def test_a_utf8_file_with_a_bom_and_a_cp1252_row_is_named_at_its_byte(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" with a row appended in cp1252: the byte and its line, and what to do.

    Python's UTF-8-with-BOM decoder counts positions after the mark: the error must not name
    the byte three before it (an ASCII digit, on the line above), nor suggest an --encoding
    that the mark then refuses.
    """
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbfid;lon;lat\r\na;18,06528;59,3325\r\n\xd6sten;18,06528;59,3325\r\n"
    )
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert str(err.value) == (
        "bom.csv: line 3: byte 0xd6 is not UTF-8 (in cp1252 it is 'Ö'), but the file begins "
        "with a UTF-8 byte-order mark: it mixes two encodings (rows appended by another "
        "program?); convert it to one"
    )
    with pytest.raises(InvalidInput, match=r"^bom.csv: line 3: byte 0xd6 is not utf-8-sig"):
        read(path, observed_at=AT, encoding="utf-8-sig")


def test_an_accuracy_beyond_the_earth_is_named_at_its_row_and_line(tmp_path: Path) -> None:
    """99999999, a placeholder some exports write, is refused like every other cell: row, line."""
    path = tmp_path / "acc.csv"
    path.write_text("id;lon;lat;accuracy_m\nphone-1;18,06;59,33;8\nphone-2;18,06;59,33;99999999\n")
    with pytest.raises(InvalidPositions) as err:
        read(path, observed_at=AT)
    assert str(err.value).startswith(
        "acc.csv: row 2 (line 3), column accuracy_m: must be at most 40,075,017 m (the Earth's "
        "circumference) for a row with a fix (is 99999999.0)"
    )
    path.write_text("id;lon;lat;accuracy_m\nphone-1;18,06;59,33;40075017\n")
    assert read(path, observed_at=AT)[0].accuracy_m.tolist() == [40_075_017.0]


def test_parquet_decimal_columns_are_numbers(tmp_path: Path) -> None:
    """NUMERIC columns (Spark, Oracle, PostgreSQL) arrive as Arrow decimals: read as numbers.

    ``1.500`` in a typed decimal has no thousands separator for the text rules to guess at.
    """
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import decimal

    import pyarrow.parquet as pq

    d = decimal.Decimal
    path = tmp_path / "dec.parquet"
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "lon": pa.array([d("18.065280"), d("18.5"), None], pa.decimal128(9, 6)),
            "lat": pa.array([d("59.3325"), d("59.5"), None], pa.decimal256(40, 6)),
            "accuracy_m": pa.array([d("1.500"), d("12.000"), None], pa.decimal128(6, 3)),
        }
    )
    pq.write_table(table, path)
    positions, _ = read(path, observed_at=AT)
    assert positions.lon[:2].tolist() == [18.06528, 18.5]
    assert positions.lat[:2].tolist() == [59.3325, 59.5]
    assert positions.accuracy_m[:2].tolist() == [1.5, 12.0]
    assert positions.has_fix.tolist() == [True, True, False]
    # Float coordinates teach the text rules no decimal mark: the decimal column alone.
    floats = table.set_column(1, "lon", pa.array([18.06528, 18.5, None]))
    pq.write_table(floats.set_column(2, "lat", pa.array([59.3325, 59.5, None])), path)
    assert read(path, observed_at=AT)[0].accuracy_m[:2].tolist() == [1.5, 12.0]


def test_a_file_without_accuracy_is_refused_naming_its_other_columns(tmp_path: Path) -> None:
    """No accuracy_m: refused, naming the unknown columns (one may hold it) and the option.

    Read as exact fixes, a device whose accuracy disk crosses an Explosion's area was left out.
    The option's radius goes to every row with a fix, in CSV and Parquet alike.
    """
    path = tmp_path / "p.csv"
    path.write_text("id,lon,lat,hAcc,uncertainty_m\na,18.0,59.3,5,5\nb,,,,\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    assert str(err.value) == (
        "p.csv: has no accuracy_m column, so how far each fix may lie from its device is "
        "unknown (a fix is never taken as exact unless told); add the column, or rename the one "
        "that holds it (its unknown columns: 'hAcc', 'uncertainty_m'), or, if none does, give "
        "--accuracy-m METRES for every row"
    )
    positions, _ = read(path, observed_at=AT, accuracy_m=75.0)
    assert positions.accuracy_m[0] == 75.0 and positions.accuracy_m[1] != positions.accuracy_m[1]
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a"], "lon": [18.0], "lat": [59.3], "hacc": [5.0]}), parquet)
    with pytest.raises(InvalidInput, match=r"or rename the one that holds it \(its unknown col"):
        read(parquet, observed_at=AT)
    assert read(parquet, observed_at=AT, accuracy_m=0)[0].accuracy_m.tolist() == [0.0]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_encoding_errors_count_lines_as_the_csv_reader_does(tmp_path: Path, eol: str) -> None:
    """Every message names line 3 for the third line, whether lines end in LF, CRLF or CR.

    Encoding errors counted LF bytes only: an old Mac file (CR only) was all "line 1", and a
    UTF-16 file's line breaks are not single bytes. The CSV reader's own rows agree.
    """
    head = f"id,lon,lat,accuracy_m,observed_at{eol}a,18.0,59.3,5,1716213600{eol}"
    tail = f",18.0,59.3,5,1716213600{eol}"
    path = tmp_path / "p.csv"
    cases: list[tuple[bytes, str | None, str]] = [
        (head.encode() + b"b\x81" + tail.encode(), None, "line 3: byte 0x81 is neither UTF-8"),
        (
            head.encode() + f"Pär{tail}".encode() + f"Åsa{tail}".encode("cp1252"),
            None,
            "line 4: byte 0xc5 is not UTF-8, but line 3 is UTF-8 ('ä')",
        ),
        (head.encode() + b"b\xff" + tail.encode(), "utf-8", "line 3: byte 0xff is not utf-8"),
        (
            (head + "b").encode("utf-16") + b"\x00\xd8b\x00" + tail.encode("utf-16-le"),
            None,
            "line 3: bytes 0x00 0xd8 are not UTF-16, the encoding the file's byte-order mark "
            "names: illegal UTF-16 surrogate (a lone half of a character: was the file cut or "
            "joined from parts?); say which encoding it is with --encoding",
        ),
        (  # an odd number of bytes: half a character at the end (was "byte 0x0a is neither")
            head.encode("utf-16") + b"\n",
            None,
            "line 3: ends inside a UTF-16 character (bytes 0x0a, the start of one): the file "
            "was cut short",
        ),
        (head.encode() + b"b\x00" + tail.encode(), None, "line 3: holds NUL bytes"),
        (  # lines ending in CR alone are a Mac's (Mac Roman), CRLF and LF DOS's (cp850)
            (head + f"P\u201er{tail}").encode("cp1252"),
            None,
            f"line 3: 'P„r' looks like {'Mac Roman' if eol == chr(13) else 'DOS code page 850'}",
        ),
        (f"{head}b,18.o,59.3,5,1716213600{eol}".encode(), None, "row 2 (line 3), column lon"),
    ]
    for data, encoding, fragment in cases:
        path.write_bytes(data)
        with pytest.raises(InvalidInput) as err:
            read(path, encoding=encoding)
        assert f"p.csv: {fragment}" in str(err.value)


# --- Parquet footers that claim more than the file holds -----------------------------------


def _small_parquet(tmp_path: Path) -> bytes:
    """Ten devices as a Parquet file's bytes."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    path = tmp_path / "small.parquet"
    pq.write_table(
        pa.table(
            {
                "id": [f"d{i}" for i in range(10)],
                "lon": [18.06] * 10,
                "lat": [59.33] * 10,
                "accuracy_m": [5.0] * 10,
                "observed_at": pa.array([AT] * 10),
            }
        ),
        path,
    )
    return path.read_bytes()


@pytest.mark.parametrize("columns", [False, True])
def test_a_parquet_footer_claiming_billions_of_rows_is_refused_before_reading(
    tmp_path: Path, columns: bool
) -> None:
    """A 2 kB file whose footer says 2**31 rows: an InvalidInput, not an 8 GB allocation.

    pyarrow sized its arrays by the row group's claim: "internal error (ArrowMemoryError:
    malloc of size 8589934592 failed)", exit 3 (or 8 GB and more, where malloc succeeds).
    """
    from _parquet_footer import claim_rows

    path = tmp_path / "claims.parquet"
    path.write_bytes(claim_rows(_small_parquet(tmp_path), 2**31, columns=columns))
    size = path.stat().st_size
    with pytest.raises(InvalidInput) as err:
        read(path)
    if columns:  # the footer agrees with itself: its claim is refused by the file's size
        assert str(err.value) == (
            f"claims.parquet: its footer says it holds 2,147,483,648 rows in {size:,} bytes, "
            "more than 1,000,000 rows and more than 4 rows a byte of the file (no file of "
            "positions or regions compresses so far): a damaged file, or one built to exhaust "
            "memory, is refused (geotarget's limit)"
        )
    else:
        assert str(err.value) == (
            "claims.parquet: its footer contradicts itself: row group 0 says it holds "
            "2,147,483,648 rows, but its column id holds 10 values; the file is damaged "
            "(write it again)"
        )


def test_a_parquet_file_that_decompresses_to_millions_of_rows_a_kilobyte_is_refused(
    tmp_path: Path,
) -> None:
    """Run-length and delta encodings make 2,000,000 rows of a few kilobytes.

    Read, they took about 140 bytes of memory a row: 2.7 GB from a 455 kB file, and a 4 MB one
    exhausts the machine. The footer's row count is checked against the file's size first.
    """
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import numpy as np
    import pyarrow.parquet as pq

    n = 2_000_000
    path = tmp_path / "bomb.parquet"
    pq.write_table(
        pa.table(
            {
                "id": np.arange(n),
                "lon": np.full(n, 18.06),
                "lat": np.full(n, 59.33),
                "accuracy_m": np.full(n, 5.0),
            }
        ),
        path,
        use_dictionary=["lon", "lat", "accuracy_m"],
        column_encoding={"id": "DELTA_BINARY_PACKED"},
        compression="zstd",
    )
    size = path.stat().st_size
    assert n > 4 * size
    with pytest.raises(InvalidInput, match=r"bomb.parquet: its footer says it holds 2,000,000 "):
        read(path, observed_at=AT)
    # Below the limit it is read (all ten devices of a small file, whatever they compress to).
    small = tmp_path / "small.parquet"
    small.write_bytes(_small_parquet(tmp_path))
    assert len(read(small)[0]) == 10


@pytest.mark.parametrize(
    ("text", "fields", "numbers"),
    [
        # sqlite3's .mode csv writes no header unless .headers on; COPY ... CSV without HEADER.
        ("0701234567,18.0653917,59.3326471,10,1716206400\n", 5, 5),
        # Excel in Swedish, the header row deleted.
        ("0701234567;18,0653917;59,3326471;10;2024-05-20 14:00\n", 5, 4),
        # SWEREF 99 TM metres: integers, as precise as degrees with five decimals.
        ("k1;674032;6580822;10\n", 4, 3),
    ],
)
def test_a_file_without_a_header_line_is_refused_without_quoting_its_first_row(
    tmp_path: Path, text: str, fields: int, numbers: int
) -> None:
    """A first line of data is no header: the refusal says so, and never quotes it.

    It quoted the line's fields as column names: the first device's id, lon, lat and time,
    its whole record, in a message that is logged.
    """
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert message.startswith(
        f"p.csv: line 1: lacks column(s) id, lon, lat (has {fields} fields, {numbers} of them "
        "numbers, not quoted: a row of data? a row is a device's position); the first line must "
        "name the columns: id, lon, lat, "
    ), message
    assert "0701234567" not in message and "674032" not in message
    assert "18.06" not in message and "18,06" not in message  # no coordinate
    # A header of names is still quoted: they are no personal data.
    path.write_text("id,lon,note\n1,18.06,x\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) lat \(has 'id', 'lon', 'note'\)"):
        read(path)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        # "lat,lon" as map apps copy a place, pasted into one cell.
        ("id;lon;lat;accuracy_m;observed_at\na;59.3326471,18.0653917;;10;1716206400\n", "lon"),
        ("id;lon;lat;accuracy_m;observed_at\na;18,06;59,33;59,3326471 18,0653917;1716206400\n",
         "accuracy_m"),
        # The columns shifted by one: the time column holds the position.
        ("id;lon;lat;accuracy_m;observed_at\na;;;;59.3326471,18.0653917\n", "observed_at"),
        ('id,lon,lat,accuracy_m,observed_at\na,"POINT (18.0653917 59.3326471)",,10,1716206400\n',
         "lon"),
    ],
)  # fmt: skip
def test_a_cell_holding_a_position_is_described_not_quoted(
    tmp_path: Path, text: str, column: str
) -> None:
    """Two decimal numbers where one number or time belongs: most likely a position.

    The message quoted the cell, as :func:`geotarget.parse_time` no longer does: a device's
    position in a message that is logged.
    """
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path)
    message = str(err.value)
    assert message.startswith(f"p.csv: row 1 (line 2), column {column}: "), message
    assert message.endswith(
        "characters holding two decimal numbers, not quoted: it may be a position)"
    ), message
    assert "3326471" not in message and "0653917" not in message


def test_an_unclosed_quote_before_a_position_does_not_quote_it(tmp_path: Path) -> None:
    """The field shown up to the next delimiter may hold "lat,lon" in a semicolon file."""
    path = tmp_path / "p.csv"
    path.write_text('id;lon;lat\na;"59.3326471,18.0653917;\nb;18;59\n', encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert message.startswith("p.csv: line 2, column lon: unclosed quote: "), message
    assert "3326471" not in message and "0653917" not in message


def test_text_after_a_closing_quote_is_named_at_its_field(tmp_path: Path) -> None:
    """A field that begins with a quote ends there; text after it names line, column, cell.

    The error said only "line 2: not readable as CSV: ';' expected after '"'" (which field of
    a wide line?), and for a quoted field over two lines it said the quote never closed.
    """
    path = tmp_path / "q.csv"
    rule = (
        "text follows the closing quote of a quoted field (a field that begins with a quote "
        "ends at its closing quote, then the delimiter {delim!r} or the line's end; a quote "
        'inside a field is written twice, "")'
    )
    path.write_text(
        'id;lon;lat;note\na;18;59;x\nb;18;59;"Kungsgatan" 12\nc;18;59;y\n', encoding="utf-8"
    )
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert str(err.value) == (
        f"q.csv: line 3, column note: {rule.format(delim=';')} (got '\"Kungsgatan\" 12')"
    )
    path.write_text('id,lon,lat,note\na,18,59,"two\nlines" x,\n', encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT, accuracy_m=10.0)
    assert str(err.value) == (
        f"q.csv: line 2, column note: {rule.format(delim=',')}, which opens on this line and "
        "closes on line 3 (got '\"two\\nlines\" x')"
    )
    path.write_text('id,lon,lat\n"dev-1"2,18,59\n', encoding="utf-8")  # the first field
    with pytest.raises(InvalidInput, match=r"^q.csv: line 2, column id: text follows the clos"):
        read(path, observed_at=AT, accuracy_m=10.0)


def test_a_parquet_date_python_cannot_hold_is_named_with_its_row(tmp_path: Path) -> None:
    """``--positions`` of a Parquet file whose date64 ``observed_at`` is beyond the year 9999.

    It raised a bare ``OverflowError`` from pyarrow's conversion (the Arrow reader of
    ``geotarget.dask`` named it already).
    """
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    from geotarget import _position_files
    from geotarget.errors import InvalidPositions

    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.07, 18.08],
            "lat": [59.33, 59.34],
            "accuracy_m": [5.0, 5.0],
            "observed_at": pa.array([1_716_206_400_000, 2**62], pa.date64()),
        }
    )
    path = tmp_path / "f.parquet"
    pq.write_table(table, path)
    with pytest.raises(InvalidPositions) as err:
        _position_files.read(path)
    assert str(err.value).startswith(
        "f.parquet: row 2, column observed_at: holds a date"
    )  # (Parquet stores date64 as date32)
    assert "beyond what Python" in str(err.value)
