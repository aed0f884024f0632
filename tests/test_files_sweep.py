"""Positions files as real tools write them: read right, or refused naming file, row, column, value.

Every file is generated here the way its tool writes it (Excel in a Swedish locale, Google
Sheets, LibreOffice, pandas, PostgreSQL's ``COPY ... CSV HEADER``, pyarrow); what a file must
read as is written out by hand in each case, never computed by the reader's own helpers.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import gzip
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geotarget import Circle, cap, pilot
from geotarget._position_files import read
from geotarget.cli import main
from geotarget.errors import GeotargetError, InvalidInput

UTC = dt.timezone.utc
STOCKHOLM_SUMMER = dt.timezone(dt.timedelta(hours=2))
AT = dt.datetime(2024, 4, 15, 14, 0, tzinfo=STOCKHOLM_SUMMER)  # 12:00Z
EPOCH = "1713182400"  # 2024-04-15T12:00:00Z
NOON = np.datetime64("2024-04-15T12:00:00", "us")


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _rows(p: Any) -> list[tuple[Any, ...]]:
    """The snapshot as plain rows: (id, lon, lat, accuracy_m or None, observed_at or None)."""
    out = []
    for i in range(len(p)):
        acc = float(p.accuracy_m[i])
        t = p.observed_at[i]
        out.append(
            (
                p.ids[i].item(),
                float(p.lon[i]),
                float(p.lat[i]),
                None if np.isnan(acc) else acc,
                None if np.isnat(t) else str(t),
            )
        )
    return out


# --- accepted files: each read exactly as written -------------------------------------------

NOON_S = "2024-04-15T12:00:00.000000"

#: A file without an accuracy column is read with one radius for every fix (the command's
#: --accuracy-m), here 0: exact fixes.
ACCEPTED: dict[str, tuple[str, bytes, dict[str, Any], list[tuple[Any, ...]]]] = {
    # Excel, Swedish locale, "CSV (semikolonavgränsad)": cp1252, ';', decimal comma, CRLF,
    # å/ä/ö in an extra column, a trailing empty line.
    "excel_sv_cp1252": (
        "positioner.csv",
        (
            "id;lon;lat;accuracy_m;observed_at;Ägare\r\n"
            "0701234567;18,0686;59,3293;12,5;2024-04-15 14:00;Åsa Öberg\r\n"
            "+46 70 123 45 67;-0,0;-0;0;2024-04-15 14:00;Pär\r\n"
            "\r\n"
        ).encode("cp1252"),
        {"timezone": "Europe/Stockholm"},
        [
            ("0701234567", 18.0686, 59.3293, 12.5, NOON_S),
            ("+46 70 123 45 67", -0.0, -0.0, 0.0, NOON_S),
        ],
    ),
    # Excel "CSV UTF-8 (kommaavgränsad)": a BOM, then Excel's sep= line, ';', a trailing
    # delimiter on every line (an empty last column), CRLF.
    "excel_utf8_bom_sep_trailing_delimiter": (
        "p.csv",
        (
            "\ufeffsep=;\r\nid;lon;lat;observed_at;\r\n"
            "007;18,0686;59,3293;2024-04-15T12:00:00Z;\r\n"
            "7;+18,07;+59,33;2024-04-15T14:00:00+02:00;\r\n"
        ).encode(),
        {"accuracy_m": 0.0},
        [
            ("007", 18.0686, 59.3293, 0.0, NOON_S),
            ("7", 18.07, 59.33, 0.0, NOON_S),
        ],
    ),
    # Excel "Unicode text": UTF-16 LE with a BOM, tab-separated, CRLF.
    "excel_unicode_text": (
        "p.txt",
        codecs.BOM_UTF16_LE
        + (f"id\tLon\tLAT\tobserved_at\r\nä1\t18,5\t59,5\t{EPOCH}\r\n").encode("utf-16-le"),
        {"accuracy_m": 0.0},
        [("ä1", 18.5, 59.5, 0.0, NOON_S)],
    ),
    # UTF-32 with a BOM (Python's "utf-32", some .NET and Java exports): its little-endian BOM
    # begins with UTF-16's, and was read as UTF-16 ("lacks column(s) id, lon, lat").
    "utf32_le_bom": (
        "p.csv",
        codecs.BOM_UTF32_LE + "id;lon;lat\r\nö1;18,5;59,5\r\n".encode("utf-32-le"),
        {"observed_at": dt.datetime(2024, 4, 15, 12, tzinfo=UTC), "accuracy_m": 0.0},
        [("ö1", 18.5, 59.5, 0.0, NOON_S)],
    ),
    "utf32_be_bom": (
        "p.csv",
        codecs.BOM_UTF32_BE + f"id,lon,lat,observed_at\nx,18.5,59.5,{EPOCH}\n".encode("utf-32-be"),
        {"accuracy_m": 0.0},
        [("x", 18.5, 59.5, 0.0, NOON_S)],
    ),
    # Google Sheets: UTF-8 without BOM, ',' and '.', CRLF, no final newline, quoted fields
    # only where needed (an id holding a comma and one holding a newline).
    "google_sheets": (
        "p.csv",
        (
            b"id,lon,lat,accuracy_m,observed_at\r\n"
            b'"a,b",18.0686,59.3293,5,2024-04-15 12:00:00Z\r\n'
            b'"c\nd",18.07,59.33,1e1,2024-04-15T12:00:00.123Z'
        ),
        {},
        [
            ("a,b", 18.0686, 59.3293, 5.0, NOON_S),
            ("c\nd", 18.07, 59.33, 10.0, "2024-04-15T12:00:00.123000"),
        ],
    ),
    # LibreOffice: every text field quoted, numbers not, spaces around numbers.
    "libreoffice_quoted_text": (
        "p.csv",
        (
            '"id","lon","lat","observed_at"\n'
            f'"x", 18.5 ,"59.5",{EPOCH}\n'
            f'"y",18.25,59.25, {EPOCH}.5 \n'
        ).encode(),
        {"accuracy_m": 0.0},
        [
            ("x", 18.5, 59.5, 0.0, NOON_S),
            ("y", 18.25, 59.25, 0.0, "2024-04-15T12:00:00.500000"),
        ],
    ),
    # pandas DataFrame.to_csv() with its index (an unnamed first column), NaN written as
    # empty cells (no fix, unknown accuracy and time), and nanosecond times with an offset.
    "pandas_to_csv_index": (
        "p.csv",
        (
            b",id,lon,lat,accuracy_m,observed_at\n"
            b"0,a,18.123456789012344,59.0,3.0,2024-04-15 12:00:00.123456789+00:00\n"
            b"1,b,,,,\n"
        ),
        {},
        [
            ("a", 18.123456789012344, 59.0, 3.0, "2024-04-15T12:00:00.123456"),
            ("b", float("nan"), float("nan"), None, None),
        ],
    ),
    # PostgreSQL COPY (SELECT ...) TO STDOUT WITH CSV HEADER: timestamptz as
    # "2024-04-15 14:00:00+02", fractions trimmed, booleans t/f, NULL as an empty cell.
    "postgres_copy_csv": (
        "p.csv",
        (
            b"id,lon,lat,accuracy_m,observed_at,tester\n"
            b"1,18.0686,59.3293,5,2024-04-15 14:00:00+02,t\n"
            b"2,18.07,59.33,5,2024-04-15 12:00:00.25+00,f\n"
            b"3,,,,,f\n"
        ),
        {},
        [
            ("1", 18.0686, 59.3293, 5.0, NOON_S),
            ("2", 18.07, 59.33, 5.0, "2024-04-15T12:00:00.250000"),
            ("3", float("nan"), float("nan"), None, None),
        ],
    ),
    # Polars' DataFrame.write_csv: a zoned datetime as ...T12:00:00.000000+0000, booleans
    # true/false, null as an empty cell.
    "polars_write_csv": (
        "p.csv",
        (
            b"id,lon,lat,accuracy_m,observed_at,tester\n"
            b"p1,18.0686,59.3293,4.5,2024-04-15T12:00:00.000000+0000,true\n"
            b"p2,,,,,false\n"
        ),
        {},
        [
            ("p1", 18.0686, 59.3293, 4.5, NOON_S),
            ("p2", float("nan"), float("nan"), None, None),
        ],
    ),
    # DuckDB's COPY ... TO 'x.csv' (HEADER, DELIMITER ';'): TIMESTAMPTZ in the session's zone.
    "duckdb_copy": (
        "p.csv",
        b"id;lon;lat;observed_at\nd1;18.0686;59.3293;2024-04-15 14:00:00.5+02\n",
        {"accuracy_m": 0.0},
        [("d1", 18.0686, 59.3293, 0.0, "2024-04-15T12:00:00.500000")],
    ),
    # numpy's datetime64 text (nine fraction digits, no zone), read in the zone given.
    "numpy_naive_nanoseconds": (
        "p.csv",
        b"id,lon,lat,observed_at\nn,18,59,2024-04-15T14:00:00.000000000\n",
        {"timezone": "Europe/Stockholm", "accuracy_m": 0.0},
        [("n", 18.0, 59.0, 0.0, NOON_S)],
    ),
    # The hour that a DST change shows twice, disambiguated by an offset: the offset wins.
    "dst_overlap_with_offset": (
        "p.csv",
        b"id,lon,lat,observed_at\nw,18,59,2024-10-27 02:30+01:00\ns,18,59,2024-10-27 02:30+02:00\n",
        {"timezone": "Europe/Stockholm", "accuracy_m": 0.0},
        [
            ("w", 18.0, 59.0, 0.0, "2024-10-27T01:30:00.000000"),
            ("s", 18.0, 59.0, 0.0, "2024-10-27T00:30:00.000000"),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_ordinary_csv_files_read_exactly_as_written(tmp_path: Path, case: str) -> None:
    """Each tool's CSV reads as the ids, positions, accuracies and times it holds."""
    name, data, kwargs, expected = ACCEPTED[case]
    positions, _ = read(_write(tmp_path, name, data), **kwargs)
    got = _rows(positions)
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        assert row[0] == want[0]
        np.testing.assert_equal(row[1:3], want[1:3])
        assert np.signbit(row[1]) == np.signbit(want[1])  # -0 stays -0 (it is a place)
        assert row[3:] == want[3:]


# --- Parquet as pyarrow and pandas write it --------------------------------------------------

pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs the geoparquet extra")


def _parquet(tmp_path: Path, table: Any, **kwargs: Any) -> Path:
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, **kwargs)
    return path


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Stockholm", "+01:00"])
def test_parquet_timestamps_of_every_unit_and_zone_are_the_same_instant(
    tmp_path: Path, unit: str, zone: str
) -> None:
    """A zoned timestamp column reads as UTC whatever its unit and display zone."""
    noon = dt.datetime(2024, 4, 15, 12, 0, tzinfo=UTC)
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.0, 18.1],
            "lat": [59.0, 59.1],
            "observed_at": pa.array([noon, None], pa.timestamp(unit, tz=zone)),
        }
    )
    positions, _ = read(_parquet(tmp_path, table), accuracy_m=0.0)
    assert positions.observed_at[0] == NOON
    assert np.isnat(positions.observed_at[1])


def test_parquet_nanoseconds_as_pandas_writes_them_are_cut_to_microseconds(
    tmp_path: Path,
) -> None:
    """Sub-microsecond digits (pandas' datetime64[ns]) are cut, as in CSV: no Arrow crash."""
    ns = np.array(
        ["2024-04-15T12:00:00.123456789", "1970-01-01T00:00:00.000000999"], "datetime64[ns]"
    )
    table = pa.table(
        {
            "id": ["a", "b"],
            "lon": [18.0, 18.1],
            "lat": [59.0, 59.1],
            "observed_at": pa.array(ns.astype(np.int64), pa.timestamp("ns", tz="UTC")),
        }
    )
    positions, _ = read(_parquet(tmp_path, table), accuracy_m=0.0)
    assert [str(t) for t in positions.observed_at] == [
        "2024-04-15T12:00:00.123456",
        "1970-01-01T00:00:00.000000",
    ]


@pytest.mark.parametrize(
    ("unit", "value", "shown"),
    [
        ("us", -1, "1969-12-31T23:59:59.999999Z"),
        ("s", -315_619_200, "1960-01-01T00:00:00.000Z"),  # Parquet stores seconds as ms
        ("ms", 253_370_764_800_000, "9999-01-01T00:00:00.000Z"),
        ("ms", 10**18, "31690708-07-05T01:46:40.000Z"),  # an Arrow cast to us overflows
        ("ns", -(2**62), "1823-11-12T00:06:21.572612096Z"),
    ],
)
def test_parquet_times_outside_the_csv_years_are_refused_naming_the_row(
    tmp_path: Path, unit: str, value: int, shown: str
) -> None:
    """Parquet times obey CSV's years (1970 to 9998), without Arrow's overflow errors."""
    table = pa.table(
        {
            "id": ["ok", "bad"],
            "lon": [18.0, 18.1],
            "lat": [59.0, 59.1],
            "observed_at": pa.array([0, value], pa.timestamp(unit, tz="UTC")),
        }
    )
    with pytest.raises(GeotargetError) as info:
        read(_parquet(tmp_path, table))
    assert str(info.value) == (
        f"p.parquet: row 2, column observed_at: lies outside the years 1970 to 9998 (got {shown!r})"
    )


def test_parquet_categorical_and_view_strings_read_as_text(tmp_path: Path) -> None:
    """Categorical (pandas), dictionary (Arrow) and string_view columns are text like any other."""
    pd = pytest.importorskip("pandas", reason="pandas writes the categorical file")
    frame = pd.DataFrame(
        {
            "id": pd.Categorical([f"d{i}" for i in range(7)]),
            "lon": [18.0 + i / 10 for i in range(7)],
            "lat": [59.0] * 7,
            "observed_at": pd.Timestamp("2024-04-15 14:00", tz="Europe/Stockholm"),
            "tester": pd.Categorical(["t", "f", "t", "f", "f", "f", "t"]),
        }
    )
    frame.to_parquet(tmp_path / "p.parquet", row_group_size=3)  # three row groups
    positions, _ = read(tmp_path / "p.parquet", accuracy_m=0.0)
    assert positions.ids.tolist() == ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]
    assert positions.tester.tolist() == [True, False, True, False, False, False, True]
    assert (positions.observed_at == NOON).all()
    view = pa.table(
        {
            "id": pa.array(["a", "b"], pa.string_view()),
            "lon": pa.array([18.0, 18.5]).dictionary_encode(),
            "lat": [59.0, 59.5],
            "observed_at": pa.array(["2024-04-15T12:00:00Z", None], pa.string_view()),
        }
    )
    positions, _ = read(_parquet(tmp_path, view), accuracy_m=0.0)
    assert _rows(positions) == [
        ("a", 18.0, 59.0, 0.0, NOON_S),
        ("b", 18.5, 59.5, 0.0, None),
    ]


def test_arrow_chunks_with_different_dictionaries_read_as_one_column() -> None:
    """A chunked dictionary column (one dictionary a chunk) reads as its text."""
    from geotarget._positions_arrow import positions_from_arrow

    ids = pa.chunked_array(
        [pa.array(["a", "b"]).dictionary_encode(), pa.array(["c", "a2"]).dictionary_encode()]
    )
    table = pa.table(
        {
            "id": ids,
            "lon": [18.0, 18.1, 18.2, 18.3],
            "lat": [59.0] * 4,
            "observed_at": pa.array([0] * 4, pa.timestamp("s", tz="UTC")),
        }
    )
    assert positions_from_arrow(table, accuracy_m=0.0).ids.tolist() == ["a", "b", "c", "a2"]


@pytest.mark.parametrize("column", ["lon", "lat"])
def test_parquet_float16_degrees_are_refused_like_in_positions(tmp_path: Path, column: str) -> None:
    """float16 degrees (a kilometre's step) are refused, not widened to a wrong place."""
    values = {"lon": [18.06528, 18.1], "lat": [59.3325, 59.1]}
    values[column] = pa.array(np.array(values[column], np.float16))
    table = pa.table({"id": ["a", "b"], **values, "observed_at": [1713182400] * 2})
    with pytest.raises(GeotargetError, match=rf"^p\.parquet, column {column}: .*not float16"):
        read(_parquet(tmp_path, table))


# --- ids a tool has already damaged ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("id,lon,lat,observed_at\n4.6701E+10,18,59,{e}\n", "4.6701E+10"),  # Excel, en
        ("id;lon;lat;observed_at\n07;18;59;{e}\n4,67012E+11;18;59;{e}\n", "4,67012E+11"),  # sv
        ("id,lon,lat,observed_at\nA1,18,59,{e}\n1E+15,18,59,{e}\n", "1E+15"),
    ],
)
def test_ids_in_a_spreadsheets_scientific_notation_are_refused(
    tmp_path: Path, text: str, cell: str
) -> None:
    """``4.6701E+10`` lost a phone number's digits: refused naming the row, not a wrong id."""
    path = _write(tmp_path, "p.csv", text.format(e=EPOCH))
    with pytest.raises(GeotargetError) as info:
        read(path)
    row = 1 if text.count("\n") == 2 else 2
    assert str(info.value).startswith(f"p.csv: row {row} (line {row + 1}), column id: ")
    assert "scientific notation" in str(info.value)
    assert str(info.value).endswith(f"(got {cell!r})")


def test_ids_that_only_look_numeric_are_kept_verbatim(tmp_path: Path) -> None:
    """Hex-like, e-containing and phone-number ids stay text; one '7.0' among others is an id."""
    ids = ["1e5", "4E10", "E+10", "0x1E+5", "+46 70 123 45 67", "7.0", "007", "1.5E+3x"]
    ids += ["x\n1E+5", "a\\Nb", "\\N2"]  # hold a bad id's text, are none
    body = "".join(f'"{i}",18,59,{EPOCH}\n' for i in ids)
    positions, _ = read(
        _write(tmp_path, "p.csv", "id,lon,lat,observed_at\n" + body), accuracy_m=0.0
    )
    assert positions.ids.tolist() == ids


def test_a_column_of_float_written_integer_ids_is_refused(tmp_path: Path) -> None:
    """The ids ``1.0, 2.0`` of pandas (ints turned float) would name no device: refused."""
    pd = pytest.importorskip("pandas", reason="pandas writes the file")
    frame = pd.DataFrame(
        {
            "id": [1, None, 3],
            "lon": [18.0, 18.1, 18.2],
            "lat": [59.0] * 3,
            "accuracy_m": 5,
            "observed_at": EPOCH,
        }
    )
    frame.dropna().to_csv(tmp_path / "p.csv", index=False)
    assert (tmp_path / "p.csv").read_text().splitlines()[1].startswith("1.0,")
    with pytest.raises(GeotargetError) as info:
        read(tmp_path / "p.csv")
    assert str(info.value).startswith("p.csv: row 1 (line 2), column id: every id is an integer")
    assert str(info.value).endswith("(got '1.0')")


def test_a_nul_in_an_id_is_refused_not_cut(tmp_path: Path) -> None:
    """A NUL (after a BOM, so the file is text) would be cut by numpy and merge two ids."""
    data = codecs.BOM_UTF8 + f"id,lon,lat,observed_at\na\x00,18,59,{EPOCH}\n".encode()
    # Python 3.11's csv module reads the NUL (our check names the cell); 3.10's refuses the line.
    with pytest.raises(
        GeotargetError,
        match=r"row 1 \(line 2\), column id: must not hold NUL|line 2: not readable as CSV: "
        r"line contains NUL",
    ):
        read(_write(tmp_path, "p.csv", data))
    table = pa.table(
        {"id": ["b", "b\x00"], "lon": [18.0, 18.1], "lat": [59.0, 59.1], "observed_at": [EPOCH] * 2}
    )
    with pytest.raises(GeotargetError, match=r"^p\.parquet: row 2, column id: must not hold NUL"):
        read(_parquet(tmp_path, table))


# --- files that are not what their name says ------------------------------------------------


def test_utf8_rows_mixed_with_cp1252_rows_are_refused_not_turned_to_mojibake(
    tmp_path: Path,
) -> None:
    """A UTF-8 file with a cp1252 row appended is refused; read as cp1252, Å would become Ã…."""
    data = (
        f"id,lon,lat,observed_at\nÅsa,18,59,{EPOCH}\n".encode()
        + f"Örjan,18.1,59.1,{EPOCH}\n".encode("cp1252")
    )
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", data))
    assert str(info.value).startswith(
        "p.csv: line 3: byte 0xd6 is not UTF-8, but line 2 is UTF-8 ('Å'): the file mixes two "
        "encodings"
    )
    # Told which encoding, it is read exactly as that encoding says.
    positions, _ = read(tmp_path / "p.csv", encoding="cp1252", accuracy_m=0.0)
    assert positions.ids.tolist() == ["Ã…sa", "Örjan"]


def test_a_plain_cp1252_file_is_still_read(tmp_path: Path) -> None:
    """cp1252's Swedish letters (single bytes) are no UTF-8 sequence: still detected as cp1252."""
    text = f"id;lon;lat;observed_at;ort\nÅÄÖåäö é;18,5;59,5;{EPOCH};Göteborg «» £\n"
    positions, report = read(_write(tmp_path, "p.csv", text.encode("cp1252")), accuracy_m=0.0)
    assert positions.ids.tolist() == ["ÅÄÖåäö é"]
    assert "cp1252" in report.form


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "p.csv",
            gzip.compress(f"id,lon,lat,observed_at\na,18,59,{EPOCH}\n".encode(), mtime=0),
            "p.csv: is not CSV text but gzip-compressed; decompress it first (gunzip)",
        ),
        (
            "p.csv",
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
            "p.csv: is not CSV text but a ZIP archive (an .xlsx or .ods workbook?); save or "
            "extract it as CSV",
        ),
        (
            "p.csv",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64),
            "p.csv: is not CSV text but an old Excel workbook (.xls); save it as CSV",
        ),
        (
            "p.csv.gz",
            gzip.compress(b"id,lon,lat\n", mtime=0),
            "--positions must be a .csv, .tsv, .txt or .parquet file (got p.csv.gz: decompress "
            "it first)",
        ),
        (
            "p.xlsx",
            b"PK\x03\x04",
            "--positions must be a .csv, .tsv, .txt or .parquet file (got p.xlsx: save it as "
            "CSV first)",
        ),
        (
            "p.parquet",
            f"id,lon,lat,observed_at\na,18,59,{EPOCH}\n".encode(),
            "p.parquet: is not a Parquet file (it does not begin with PAR1; a CSV file? give "
            "it the suffix .csv)",
        ),
        (
            "p.parquet",
            gzip.compress(b"PAR1", mtime=0),
            "p.parquet: is not a Parquet file but gzip-compressed; decompress it first (gunzip)",
        ),
    ],
)
def test_compressed_files_workbooks_and_misnamed_files_say_what_they_are(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    """A gzip, a workbook or a CSV named .parquet is refused saying what it is and what to do."""
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, name, data))
    assert str(info.value) == message


def test_a_parquet_file_named_csv_says_so(tmp_path: Path) -> None:
    """Parquet bytes behind a .csv name are named as Parquet, not as undecodable text."""
    table = pa.table({"id": ["a"], "lon": [18.0], "lat": [59.0], "observed_at": [EPOCH]})
    pq.write_table(table, tmp_path / "p.csv")
    with pytest.raises(InvalidInput, match=r"^p\.csv: is not CSV text but a Parquet file"):
        read(tmp_path / "p.csv")


# --- dialect and messages --------------------------------------------------------------------


def test_quoted_header_names_holding_other_delimiters_do_not_pick_the_delimiter(
    tmp_path: Path,
) -> None:
    """The delimiter is counted outside quotes: ``"note, free text"`` does not make ',' win."""
    text = f'id;lon;lat;observed_at;"note, free text, more, commas"\na;18,5;59,5;{EPOCH};"x, y"\n'
    positions, report = read(_write(tmp_path, "p.csv", text), accuracy_m=0.0)
    assert _rows(positions) == [("a", 18.5, 59.5, 0.0, NOON_S)]
    assert report.unknown_columns == ("note, free text, more, commas",)
    tabs = f'"a;b;c;d"\tid\tlon\tlat\tobserved_at\nq\tt1\t18\t59\t{EPOCH}\n'
    positions, _ = read(_write(tmp_path, "p.csv", tabs), accuracy_m=0.0)
    assert positions.ids.tolist() == ["t1"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "p.csv",
            f"id,lon,lat,accuracy_m,observed_at\na,18,95,5,{EPOCH}\n",
            "p.csv: row 1 (line 2), column lat: must lie within [-90, 90] degrees (got 95.0); "
            "are lon and lat swapped?",
        ),
        (
            "p.csv",
            f"id,lon,lat,accuracy_m,observed_at\na,18,59,-1,{EPOCH}\n",
            "p.csv: row 1 (line 2), column accuracy_m: must be a number of metres >= 0 for a "
            "row with a fix (is -1.0); a negative accuracy is how iOS marks a location that is "
            "no fix (horizontalAccuracy -1): leave such a row's lon and lat empty",
        ),
        (
            "p.csv",
            "id,lon,lat,observed_at\na,18,59,2024-04-15T23:59:60Z\n",
            "p.csv: row 1 (line 2), column observed_at: is not a valid date-time (second must "
            "be in 0..59) (got '2024-04-15T23:59:60Z')",
        ),
        (
            "p.csv",
            "id,lon,lat,observed_at\na,18,59,2024-04-15 12:00 UTC\n",
            "p.csv: row 1 (line 2), column observed_at: must be epoch seconds or an ISO 8601 "
            "date-time such as 2024-05-20T14:00:00+02:00 (or ...Z); its zone stands apart from "
            "the time, as BigQuery ('... UTC') and Snowflake ('... +0000') export timestamps: "
            "write the offset right after the time, as 2024-04-15T12:00Z (got "
            "'2024-04-15 12:00 UTC')",
        ),
    ],
)
def test_refusals_show_the_value_as_written_not_a_numpy_repr(
    tmp_path: Path, name: str, data: str, message: str
) -> None:
    """Messages show ``95.0``, not ``np.float64(95.0)``, and read as one grammatical rule."""
    with pytest.raises(GeotargetError) as info:
        read(_write(tmp_path, name, data))
    assert str(info.value) == message


def test_parquet_wall_times_in_nanoseconds_read_without_pandas(tmp_path: Path) -> None:
    """Zone-less ns timestamps with --timezone need no pandas (pyarrow's to_pylist would)."""
    wall = np.array(
        ["2024-04-15T14:00:00.123456789", "2024-03-31T02:30:00", "NaT"], "datetime64[ns]"
    )
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "lon": [18.0, 18.1, 18.2],
            "lat": [59.0] * 3,
            "observed_at": pa.array(wall.astype(np.int64), pa.timestamp("ns"), mask=np.isnat(wall)),
        }
    )
    pq.write_table(table.take([0, 2]), tmp_path / "good.parquet")
    pq.write_table(table, tmp_path / "gap.parquet")
    script = (
        "import sys\n"
        "class NoPandas:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'pandas':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoPandas())\n"
        "from pathlib import Path\n"
        "from geotarget._position_files import read\n"
        "from geotarget.errors import GeotargetError\n"
        f"p, _ = read(Path({str(tmp_path / 'good.parquet')!r}), timezone='Europe/Stockholm',"
        " accuracy_m=0.0)\n"
        "print([str(t) for t in p.observed_at])\n"
        "try:\n"
        f"    read(Path({str(tmp_path / 'gap.parquet')!r}), timezone='Europe/Stockholm',"
        " accuracy_m=0.0)\n"
        "except GeotargetError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['2024-04-15T12:00:00.123456', 'NaT']",
        "gap.parquet: row 2, column observed_at: is a wall time that Europe/Stockholm skips (a "
        "DST change); fix it (got '2024-03-31T02:30:00.000000')",
    ]


# --- the command, end to end -----------------------------------------------------------------


def _alert(tmp_path: Path) -> Path:
    """An Explosion alert 500 m around Sergels torg (18.06528, 59.3325), active at AT."""
    msg = pilot.Message(headline="Explosion", description="Risk", area_description="Here")
    alert = pilot.explosion(
        identifier="sweep-1",
        sender="polisen@example.se",
        sent=AT,
        area=Circle(18.06528, 59.3325, 500.0),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    path = tmp_path / "alert.xml"
    path.write_text(cap.dumps(alert), encoding="utf-8")
    return path


def _target(tmp_path: Path, positions: Path, *extra: str) -> tuple[int, str, str]:
    """Run ``geotarget target`` in process; its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["target", "--alert", str(_alert(tmp_path)), "--positions", str(positions)]
    with contextlib.redirect_stderr(err):
        code = main([*argv, "--at", AT.isoformat(), *extra], out=out)
    return code, out.getvalue(), err.getvalue()


def test_the_command_targets_a_swedish_excel_export(tmp_path: Path) -> None:
    """cp1252, ';', decimal commas, local times and phone-number ids: the right recipients."""
    text = (
        "Telefon;Lat;Lon;accuracy_m;observed_at;Ägare\r\n"  # Telefon: an unknown column
        "x;59,3325;18,06528;10;2024-04-15 13:58;Åsa\r\n"
    )
    path = _write(
        tmp_path,
        "export.csv",
        text.replace("Telefon", "id").encode("cp1252")
        + "0701234567;59,3326;18,0653;10;2024-04-15 13:57;Pär\r\n".encode("cp1252")
        + "0046701234567;59,3325;18,2;10;2024-04-15 13:57;Öjvind\r\n".encode("cp1252"),
    )
    code, out, err = _target(tmp_path, path, "--timezone", "Europe/Stockholm")
    assert code == 0, err
    assert sorted(json.loads(out)["recipients"]) == ["0701234567", "x"]
    assert "export.csv (CSV, cp1252, semicolon-separated, decimal comma)" in err


def test_the_command_targets_a_pandas_parquet_file_in_nanoseconds(tmp_path: Path) -> None:
    """Pandas' Parquet (ns times with a zone, a categorical id, its index) targets right."""
    pd = pytest.importorskip("pandas", reason="pandas writes the file")
    frame = pd.DataFrame(
        {
            "id": pd.Categorical(["near", "far", "nofix"]),
            "Lon": [18.06528, 18.2, None],
            "LAT": [59.3325, 59.3325, None],
            "accuracy_m": [5.0, 5.0, None],
            "observed_at": pd.to_datetime(["2024-04-15 13:58:00.123456789"] * 3).tz_localize(
                "Europe/Stockholm"
            ),
        },
        index=[10, 11, 12],
    )
    frame.to_parquet(tmp_path / "fixes.parquet")
    code, out, err = _target(tmp_path, tmp_path / "fixes.parquet")
    assert code == 0, err
    assert json.loads(out)["recipients"] == ["near"]


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        (
            "p.csv",
            gzip.compress(b"id,lon,lat\n", mtime=0),
            "p.csv: is not CSV text but gzip-compressed",
        ),
        (
            "p.csv",
            f"id,lon,lat,observed_at\n4.6701E+10,18.06528,59.3325,{EPOCH}\n",
            "p.csv: row 1 (line 2), column id: is a number in scientific notation",
        ),
        (
            "p.csv",
            f"id,lon,lat,observed_at\nÅ,18,59,{EPOCH}\n".encode()
            + f"Ö,18,59,{EPOCH}\n".encode("cp1252"),
            "p.csv: line 3: byte 0xd6 is not UTF-8, but line 2 is UTF-8",
        ),
    ],
)
def test_the_command_refuses_damaged_files_in_one_line(
    tmp_path: Path, name: str, data: bytes | str, fragment: str
) -> None:
    """Refusals are one stderr line naming the file (and row, column), exit 2, no traceback."""
    code, out, err = _target(tmp_path, _write(tmp_path, name, data))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"geotarget target: {fragment}")


@pytest.mark.parametrize(
    ("header", "row", "column"),
    [
        ("id\tlon\tlat\taccuracy_m\tobserved_at", "a\t18\t59\t\\N\t" + EPOCH, "accuracy_m"),
        ("id\tlon\tlat\tobserved_at", "\\N\t18\t59\t" + EPOCH, "id"),
        ("id\tlon\tlat\tobserved_at", "a\t18\t59\t\\N", "observed_at"),
        ("id\tlon\tlat\tobserved_at\ttester", f"a\t18\t59\t{EPOCH}\t\\N", "tester"),
    ],
)
def test_postgresql_text_format_nulls_are_refused_with_the_export_to_use(
    tmp_path: Path, header: str, row: str, column: str
) -> None:
    r"""``\N`` (COPY's text format, not CSV) is refused naming COPY ... CSV, not taken as an id."""
    path = _write(tmp_path, "p.tsv", f"{header}\n{row}\n")
    with pytest.raises(GeotargetError) as info:
        read(path)
    assert str(info.value) == (
        f"p.tsv: row 1 (line 2), column {column}: is NULL as PostgreSQL's text format and "
        "MySQL's SELECT ... INTO OUTFILE write it, which is not CSV; export NULL as an empty "
        "cell: COPY ... (FORMAT csv, HEADER) in PostgreSQL, IFNULL(column, '') in MySQL "
        "(got '\\\\N')"
    )


def test_a_parquet_files_unknown_columns_are_not_read(tmp_path: Path) -> None:
    """A 16 MB free-text column the reader ignores costs no Arrow memory (peak < 4 MB)."""
    rng = np.random.default_rng(7)
    n = 2_000
    notes = [rng.bytes(8_000).hex() for _ in range(n)]  # 16 MB of incompressible text
    table = pa.table(
        {
            "id": [f"d{i}" for i in range(n)],
            "lon": np.full(n, 18.0),
            "lat": np.full(n, 59.0),
            "observed_at": pa.array(np.full(n, 1713182400), pa.timestamp("s", tz="UTC")),
            "note": notes,
        }
    )
    del notes
    pq.write_table(table, tmp_path / "wide.parquet", compression="none")
    del table
    script = (
        "from pathlib import Path\n"
        "import pyarrow as pa\n"
        "from geotarget._position_files import read\n"
        f"p, report = read(Path({str(tmp_path / 'wide.parquet')!r}), accuracy_m=0.0)\n"
        "print(len(p), report.unknown_columns, pa.default_memory_pool().max_memory())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    rows_text, unknown_text, peak_text = done.stdout.split()
    assert rows_text == str(n)
    assert unknown_text == "('note',)"
    assert int(peak_text) < 4_000_000, peak_text


def test_tester_flags_as_swedish_excel_postgresql_and_pandas_write_them(tmp_path: Path) -> None:
    """SANT/FALSKT (Excel in Swedish), t/f (PostgreSQL), 1.0/0.0 and True (pandas) are flags."""
    cells = ["SANT", "FALSKT", "t", "f", "1.0", "0.0", "True", "False", "ja", "nej", ""]
    want = [True, False, True, False, True, False, True, False, True, False, False]
    body = "".join(f"r{i};18;59;{EPOCH};{c}\r\n" for i, c in enumerate(cells))
    positions, _ = read(
        _write(tmp_path, "p.csv", "id;lon;lat;observed_at;tester\r\n" + body), accuracy_m=0.0
    )
    assert positions.tester.tolist() == want
    with pytest.raises(GeotargetError) as info:
        read(_write(tmp_path, "p.csv", f"id;lon;lat;observed_at;tester\r\nq;18;59;{EPOCH};2\r\n"))
    assert str(info.value) == (
        "p.csv: row 1 (line 2), column tester: must be 1/0, true/false, t/f, yes/no, y/n, "
        "ja/nej or sant/falskt (or empty) (got '2')"
    )


def test_excels_text_formula_ids_read_as_their_text(tmp_path: Path) -> None:
    """``="0701234567"`` (written so Excel keeps the zero) is the id 0701234567, as Excel shows."""
    text = (
        "id;lon;lat;observed_at\n"
        f'="0701234567";18;59;{EPOCH}\n'
        f'"=""007""";18;59;{EPOCH}\n'  # the same formula, quoted as a CSV writer quotes it
        f'=" x ";18;59;{EPOCH}\n'
        f'="a""b";18;59;{EPOCH}\n'  # not one text formula: kept as written
    )
    positions, _ = read(_write(tmp_path, "p.csv", text), accuracy_m=0.0)
    assert positions.ids.tolist() == ["0701234567", "007", "x", '="a""b"']
    twice = f'id,lon,lat,observed_at\n007,18,59,{EPOCH}\n="007",18,59,{EPOCH}\n'
    with pytest.raises(GeotargetError, match=r"row 2 \(line 3\), column id: ids must be unique"):
        read(_write(tmp_path, "p.csv", twice), accuracy_m=0.0)
    empty = f'id,lon,lat,observed_at\n="",18,59,{EPOCH}\n'
    with pytest.raises(GeotargetError, match=r"row 1 \(line 2\), column id: must not be empty"):
        read(_write(tmp_path, "p.csv", empty))


def test_a_parquet_file_without_lon_lat_is_refused_in_parquets_words(tmp_path: Path) -> None:
    """No 'first line' for Parquet; a GeoParquet geometry column gets a hint what to write."""
    point = bytes.fromhex("0101000000" + "0000000000103240" + "0000000000804d40")  # WKB
    table = pa.table({"id": ["a"], "geometry": [point]}).replace_schema_metadata(
        {b"geo": b'{"version": "1.0.0", "primary_column": "geometry", "columns": {}}'}
    )
    with pytest.raises(InvalidInput) as info:
        read(_parquet(tmp_path, table))
    message = str(info.value)
    assert message.startswith("p.parquet: lacks column(s) lon, lat (has 'id', 'geometry'); ")
    assert "line" not in message
    assert "a GeoParquet geometry column is not read" in message
    table = pa.table({"Device": ["a"], "X": [18.0], "Y": [59.0]})
    with pytest.raises(InvalidInput, match=r"^p\.parquet: lacks column\(s\) id, lon, lat \("):
        read(_parquet(tmp_path, table))


def test_a_delimiter_ending_every_data_line_adds_no_field(tmp_path: Path) -> None:
    """``a;18;59;T;`` under a header without the trailing ';' reads; a real extra value does not."""
    text = f"id;lon;lat;observed_at\r\na;18,5;59,5;{EPOCH};\r\nb;18;59;{EPOCH}; ;\r\n"
    positions, _ = read(_write(tmp_path, "p.csv", text), accuracy_m=0.0)
    assert _rows(positions) == [("a", 18.5, 59.5, 0.0, NOON_S), ("b", 18.0, 59.0, 0.0, NOON_S)]
    shifted = f"id;lon;lat;observed_at\na;18;59;{EPOCH};\nb;;18;59;{EPOCH}\n"
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", shifted))
    assert (
        str(info.value) == "p.csv: row 2 (line 3): has 5 fields, the header has 4 (delimiter ';')"
    )


@pytest.mark.parametrize("data_ends", [";", ""], ids=["rows-too", "header-only"])
def test_a_delimiter_ending_the_header_line_adds_no_column(tmp_path: Path, data_ends: str) -> None:
    """Excel's ``id;lon;...;observed_at;``: no "(unnamed column 6)" warning, rows read.

    (gotchas.rst promised it; the header's empty last name was reported as an unknown column.)
    Data under that empty name is still an unknown column, named in the warning.
    """
    text = (
        f"id;lon;lat;accuracy_m;observed_at;\r\na;18,5;59,5;8;{EPOCH}{data_ends}\r\n"
        f"b;18;59;8;{EPOCH}{data_ends}\r\n;;;;;\r\n"
    )
    positions, report = read(_write(tmp_path, "p.csv", text))
    assert _rows(positions) == [("a", 18.5, 59.5, 8.0, NOON_S), ("b", 18.0, 59.0, 8.0, NOON_S)]
    assert report.unknown_columns == ()
    for note in (";note", ";note;"):  # (and a delimiter ending the line after it)
        noted = text.replace(f"{EPOCH}{data_ends}\r\nb", f"{EPOCH}{note}\r\nb")
        positions, report = read(_write(tmp_path, "p.csv", noted))
        assert positions.ids.tolist() == ["a", "b"]
        assert report.unknown_columns == ("(unnamed column 6)",)
    ragged = text + f"c;18;59;8;{EPOCH};x;y\r\n"
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", ragged))
    assert str(info.value) == (
        "p.csv: row 3 (line 5): has 7 fields, the header has 5 and a delimiter ending it "
        "(delimiter ';')"
    )


def test_the_command_warns_of_no_column_a_trailing_header_delimiter_makes(tmp_path: Path) -> None:
    """The tester's Excel file: one summary line, no 'ignored unknown column(s)' warning."""
    path = _write(
        tmp_path,
        "p.csv",
        f"id;lon;lat;accuracy_m;observed_at;\r\na;18,06528;59,3325;8;{EPOCH};\r\n",
    )
    out, err = io.StringIO(), io.StringIO()
    argv = ["target", "--alert", str(_alert(tmp_path)), "--positions", str(path)]
    with contextlib.redirect_stderr(err):
        assert main([*argv, "--at", AT.isoformat()], out=out) == 0
    assert json.loads(out.getvalue())["recipients"] == ["a"]
    assert "unknown column" not in err.getvalue()


def test_parquet_float_ids_are_refused_with_the_reason_and_the_fix(tmp_path: Path) -> None:
    """Float ids (pandas' int column with a missing value) are refused saying why and how."""
    pd = pytest.importorskip("pandas", reason="pandas writes the file")
    frame = pd.DataFrame({"id": [1, None], "lon": [18.0, 18.1], "lat": [59.0, 59.1]})
    frame["observed_at"] = pd.Timestamp("2024-04-15 12:00", tz="UTC")
    frame.dropna().to_parquet(tmp_path / "p.parquet")
    with pytest.raises(GeotargetError) as info:
        read(tmp_path / "p.parquet")
    assert str(info.value) == (
        "p.parquet, column id: must hold text or integers (got type double); floats hold "
        "integers exactly only up to 2**53 (pandas turns an integer column with a missing value "
        "into floats: write it as Int64 or text)"
    )
    frame["id"] = frame["id"].astype("Int64")
    frame.dropna().to_parquet(tmp_path / "p.parquet")
    assert read(tmp_path / "p.parquet", accuracy_m=0.0)[0].ids.tolist() == [1]


def test_excels_ms_dos_csv_is_not_read_as_cp1252_mojibake(tmp_path: Path) -> None:
    """Excel's "CSV (MS-DOS)" (cp850): 'Pär' would read as 'P„r'; refused unless named."""
    text = f"id;lon;lat;observed_at;namn\r\nPär;18;59;{EPOCH};Öberg\r\nBo;18;59;{EPOCH};Asa\r\n"
    path = _write(tmp_path, "p.csv", text.encode("cp850"))
    with pytest.raises(InvalidInput) as info:
        read(path)
    assert str(info.value) == (
        "p.csv: line 2: 'P„r' looks like DOS code page 850 text (Excel's 'CSV (MS-DOS)') read "
        "as cp1252: in cp850 it is 'Pär'; say which encoding the file is in with --encoding "
        "cp850 (or cp1252)"
    )
    assert read(path, encoding="cp850", accuracy_m=0.0)[0].ids.tolist() == ["Pär", "Bo"]
    with pytest.raises(InvalidInput) as info:  # Å is a byte cp1252 leaves undefined
        read(
            _write(tmp_path, "p.csv", f"id,lon,lat,observed_at\nÅ,18,59,{EPOCH}\n".encode("cp850"))
        )
    assert str(info.value) == (
        "p.csv: line 2: byte 0x8f is neither UTF-8 nor cp1252; say which encoding it is with "
        "--encoding (in DOS code page 850, as Excel's 'CSV (MS-DOS)' writes, it is 'Å': "
        "--encoding cp850?)"
    )


def test_cp1252_typography_around_words_is_still_cp1252(tmp_path: Path) -> None:
    """„Quotes”, O’Brien, Anna–Karin, ™ and Š are cp1252 text, not a DOS code page."""
    text = f"id;lon;lat;observed_at;note\r\nx;18;59;{EPOCH};„Öberg” O’Brien Anna–Karin ™ Šárka\r\n"
    positions, report = read(_write(tmp_path, "p.csv", text.encode("cp1252")), accuracy_m=0.0)
    assert positions.ids.tolist() == ["x"]
    assert "cp1252" in report.form


def test_the_dask_reader_also_reads_only_the_known_columns(tmp_path: Path) -> None:
    """``geotarget.dask.read_parquet`` skips unknown columns yet names them all when refusing."""
    from geotarget._positions_arrow import read_table

    table = pa.table(
        {
            "id": ["a"],
            "Lon": [18.0],
            "lat": [59.0],
            "note": ["free text"],
            "observed_at": pa.array([0], pa.timestamp("s", tz="UTC")),
        }
    )
    assert read_table(_parquet(tmp_path, table)).column_names == ["id", "Lon", "lat", "observed_at"]
    from geotarget.dask import read_parquet as dask_read_parquet

    assert dask_read_parquet(tmp_path / "p.parquet", accuracy_m=0.0).ids.tolist() == ["a"]
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) lat \(has 'id', 'lon', 'note'\)"):
        dask_read_parquet(_parquet(tmp_path, pa.table({"id": ["a"], "lon": [1.0], "note": ["x"]})))


# --- every dialect combination, against the values written ----------------------------------

_ID_TEXT = st.text(
    alphabet=st.characters(
        codec="cp1252", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="\x00"
    ),
    min_size=1,
    max_size=12,
).filter(
    lambda s: (
        s.strip() == s
        and s[:2] != '="'
        and s != "\\N"
        and not re.fullmatch(r"[+-]?\d([.,]\d+)?[eE][+-]\d{1,3}|-?\d+\.0", s)
    )
)


@st.composite
def _dialect_files(draw: st.DrawFn) -> tuple[str, bytes, list[tuple[str, float, float, int]]]:
    """A CSV as some tool writes it, and the rows it holds."""
    rows = draw(
        st.lists(
            st.tuples(
                _ID_TEXT,
                st.floats(-180, 180, allow_nan=False),
                st.floats(-90, 90, allow_nan=False),
                st.integers(1_000_000_000, 4_000_000_000),
            ),
            min_size=1,
            max_size=6,
            unique_by=lambda r: r[0],
        )
    )
    delim = draw(st.sampled_from([",", ";", "\t"]))
    comma = delim != "," and draw(st.booleans())  # decimal comma (quoted if ',' delimits)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    trailing = draw(st.booleans())  # a delimiter ending every data line
    out = io.StringIO()
    if draw(st.booleans()):
        out.write(f"sep={delim}{newline}")
    out.write(delim.join(draw(st.permutations(["id", "lon", "lat", "observed_at"]))) + newline)
    header = out.getvalue().splitlines()[-1].split(delim)
    for ident, lon, lat, epoch in rows:
        cells = {
            "id": '"' + ident.replace('"', '""') + '"',
            "lon": repr(lon).replace(".", ",") if comma else repr(lon),
            "lat": repr(lat).replace(".", ",") if comma else repr(lat),
            "observed_at": str(epoch),
        }
        out.write(delim.join(cells[h] for h in header) + (delim if trailing else "") + newline)
    if draw(st.booleans()):
        out.write(newline)  # the trailing empty line of many exports
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    data = out.getvalue().encode(encoding)
    if encoding == "cp1252" and any(ord(c) > 127 for r in rows for c in r[0]):
        # cp1252's bytes may happen to form UTF-8 or cp850-like letters: name it, as the
        # reader asks a person to.
        return "cp1252", data, rows
    return "", data, rows


@given(_dialect_files())
def test_every_dialect_combination_reads_back_the_values_written(
    case: tuple[str, bytes, list[tuple[str, float, float, int]]],
) -> None:
    """Delimiter, decimal comma, line ending, sep= line, trailing delimiter, encoding: exact."""
    import tempfile

    encoding, data, rows = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_bytes(data)
        positions, report = read(path, encoding=encoding or None, accuracy_m=0.0)
    assert report.rows == len(rows)
    assert positions.ids.tolist() == [r[0] for r in rows]
    assert positions.lon.tolist() == [r[1] for r in rows]
    assert positions.lat.tolist() == [r[2] for r in rows]
    want = [np.datetime64(r[3], "s").astype("datetime64[us]") for r in rows]
    assert positions.observed_at.tolist() == [w.tolist() for w in want]


# --- the mixed-encodings check reads only well-formed UTF-8 ------------------------------------


@given(st.binary(min_size=2, max_size=4))
def test_the_utf8_sequence_pattern_is_exactly_pythons_decoder(data: bytes) -> None:
    """A match is one character UTF-8 decodes (no overlong form, surrogate or > U+10FFFF)."""
    from geotarget._position_files import _UTF8_MULTIBYTE

    try:
        one_char = len(data.decode("utf-8")) == 1
    except UnicodeDecodeError:
        one_char = False
    assert bool(_UTF8_MULTIBYTE.fullmatch(data)) == one_char


@pytest.mark.parametrize(
    "bad", [b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xf8\x88\x80"]
)
def test_malformed_utf8_look_alikes_are_read_as_cp1252_or_refused(
    tmp_path: Path, bad: bytes
) -> None:
    """Bytes shaped like UTF-8 but not UTF-8 (the fuzz test's E0 80 80) never crash."""
    path = tmp_path / "p.csv"
    path.write_bytes(b"id,lon,lat,observed_at\n" + bad + b",18.0,59.3,1716206400\n")
    with contextlib.suppress(GeotargetError):
        read(path)
