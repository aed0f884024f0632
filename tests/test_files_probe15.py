"""Position files, fifteenth probe: files as other tools write them, read end to end.

Spreadsheet exports (LibreOffice, Google Sheets, Excel), database exports (PostgreSQL
``copy``, DuckDB ``COPY TO``, BigQuery) and files joined from two exports. Oracles are the
values written, plain Python and the tools' own writers, never the readers.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from geotarget.cli import main

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
HEADER = "id,lon,lat,accuracy_m,observed_at\n"
FIX = "18.06528,59.3325"  # Sergels torg, inside the example's 500 m circle

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)


def _target(
    path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, object] | None, str]:
    """``geotarget target`` over the example alert and ``path``: code, JSON (or None), stderr."""
    out = io.StringIO()
    argv = ["target", "--alert", str(ALERT), "--positions", str(path), "--at", AT, *extra]
    code = main(argv, out=out)
    text = out.getvalue()
    return code, (json.loads(text) if code == 0 else None), capsys.readouterr().err


def _refused(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code, doc, err = _target(path, capsys)
    assert code != 0 and doc is None, (code, doc)
    assert "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------------------------
# A radius written with its unit or as a bound is refused saying so, never read otherwise
# ---------------------------------------------------------------------------------------------


@needs_examples
@pytest.mark.parametrize(
    ("cell", "hint"),
    [
        ("12 m", "write the metres as the number alone, without the unit"),
        ("12m", "write the metres as the number alone, without the unit"),
        ("12 metres", "write the metres as the number alone, without the unit"),
        ("40 ft", "convert 'ft' to metres"),
        ("0.5km", "convert 'km' to metres"),
        ("<10", "without '<', '~' or '\u00b1'"),
        ("\u00b110", "without '<', '~' or '\u00b1'"),
        ("~10", "without '<', '~' or '\u00b1'"),
    ],
)
def test_an_accuracy_written_with_its_unit_or_a_bound_is_refused_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, hint: str
) -> None:
    """A GPS app's "12 m" or "±10" was told only that thousands separators are not read."""
    path = tmp_path / "units.csv"
    path.write_text(
        HEADER + f"a,{FIX},8,2024-05-20T16:00:00+02:00\nb,{FIX},{cell},2024-05-20T16:00:00+02:00\n",
        encoding="utf-8",
    )
    err = _refused(path, capsys)
    assert "units.csv: row 2 (line 3), column accuracy_m:" in err, err
    assert hint in err and repr(cell) in err, err


@needs_examples
@pytest.mark.parametrize("cell", ["abc", "1 234", "1\u00a0234,5"])
def test_an_accuracy_neither_with_a_unit_nor_a_bound_gets_no_unit_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    path = tmp_path / "plain.csv"
    path.write_text(HEADER + f'a,{FIX},"{cell}",2024-05-20T16:00:00+02:00\n', encoding="utf-8")
    err = _refused(path, capsys)
    assert "column accuracy_m: must be a number" in err, err
    assert "unit" not in err and "'<'" not in err, err


# ---------------------------------------------------------------------------------------------
# Epoch seconds a spreadsheet showed (and exported) in scientific notation
# ---------------------------------------------------------------------------------------------


@needs_examples
@pytest.mark.parametrize("cell", ["1.72E+09", "1,72E+09", "1.716213600E+09", "1.7162136e9"])
def test_epoch_seconds_in_scientific_notation_are_refused_as_rounded_by_a_spreadsheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    """They were refused as "must be epoch seconds or an ISO 8601 date-time": they are seconds.

    The oracle: 1.72E+09 is any second from 1.715e9 to 1.725e9, 116 days wide.
    """
    low, high = 1.715e9, 1.725e9
    assert (high - low) / 86400 == pytest.approx(115.7, abs=0.1)
    path = tmp_path / "sheet.csv"
    quoted = f'"{cell}"' if "," in cell else cell
    path.write_text(HEADER + f"a,{FIX},8,{quoted}\n", encoding="utf-8")
    err = _refused(path, capsys)
    assert "sheet.csv: row 1 (line 2), column observed_at:" in err, err
    assert "not in scientific notation" in err and repr(cell) in err, err


@needs_examples
def test_whole_epoch_seconds_and_milliseconds_are_still_told_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)
    seconds = int(at.timestamp())
    path = tmp_path / "epoch.csv"
    path.write_text(HEADER + f"a,{FIX},8,{seconds}\n", encoding="utf-8")
    code, doc, _ = _target(path, capsys)
    assert code == 0 and doc is not None, doc
    assert doc["recipients"] == ["a"], doc
    path.write_text(HEADER + f"a,{FIX},8,{seconds * 1000}\n", encoding="utf-8")
    assert "milliseconds? divide by 1000" in _refused(path, capsys)


# ---------------------------------------------------------------------------------------------
# Two exports joined, the second naming the columns in another order
# ---------------------------------------------------------------------------------------------


@needs_examples
def test_a_header_line_in_another_column_order_midway_is_named_as_a_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cat`` of an export by lon,lat and one by lat,lon was told "lon ... (got 'lat')"."""
    first = HEADER + f"a,{FIX},8,2024-05-20T16:00:00+02:00\n"
    second = "id,lat,lon,accuracy_m,observed_at\nb,59.3325,18.06528,8,2024-05-20T16:00:00+02:00\n"
    path = tmp_path / "joined.csv"
    path.write_text(first + second, encoding="utf-8")
    err = _refused(path, capsys)
    assert "joined.csv: row 2 (line 3): is a header line naming the columns in another order" in (
        err
    ), err
    assert "(id, lat, lon, accuracy_m, observed_at)" in err, err
    # The same header again is still named as a repeat.
    path.write_text(first + HEADER + f"b,{FIX},8,2024-05-20T16:00:00+02:00\n", encoding="utf-8")
    assert "repeats the header line" in _refused(path, capsys)


@needs_examples
def test_columns_in_any_order_under_one_header_still_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latlon.csv"
    path.write_text(
        "observed_at,lat,id,accuracy_m,lon\n2024-05-20T16:00:00+02:00,59.3325,a,8,18.06528\n",
        encoding="utf-8",
    )
    code, doc, _ = _target(path, capsys)
    assert code == 0 and doc is not None, doc
    assert doc["recipients"] == ["a"], doc


# ---------------------------------------------------------------------------------------------
# Database exports: what reads, read as written
# ---------------------------------------------------------------------------------------------


@needs_examples
@pytest.mark.parametrize(
    "cell",
    [
        "2024-05-20 16:00:00+02",  # PostgreSQL \copy ... CSV HEADER, TimeZone Europe/Stockholm
        "2024-05-20 14:00:00+00",  # DuckDB COPY TO ... (FORMAT CSV)
        "2024-05-20T14:00:00.000000+0000",  # polars write_csv
    ],
)
def test_database_export_times_with_their_offsets_read_as_their_instants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    path = tmp_path / "pg.csv"
    path.write_text(
        HEADER + f"007,{FIX},8,{cell}\n7,{FIX},8,2024-05-20T13:00:00Z\n", encoding="utf-8"
    )
    code, doc, _ = _target(path, capsys)
    # 007 is current (14:00 UTC, five minutes before --at); 7 is an hour old, stale but
    # included: a cell read hours off would make 007 stale too. Ids stay text.
    assert code == 0 and doc is not None, doc
    assert sorted(doc["recipients"]) == ["007", "7"], doc  # type: ignore[call-overload]
    counts = doc["counts"]
    assert counts["inside"] == 1 and counts["stale_included"] == 1, counts  # type: ignore[index]


def test_duckdb_parquet_and_csv_exports_read_the_same(tmp_path: Path) -> None:
    """DuckDB ``COPY TO`` as Parquet and as CSV: the same devices, ids kept as text."""
    duckdb = pytest.importorskip("duckdb")
    from geotarget._position_files import read

    select = (
        "SELECT * FROM (VALUES ('007', 18.06528::DOUBLE, 59.3325::DOUBLE, 8.5::DOUBLE, "
        "TIMESTAMPTZ '2024-05-20 14:00:00+00'), ('7', -0.0::DOUBLE, 51.5::DOUBLE, 1e1::DOUBLE, "
        "TIMESTAMPTZ '2024-05-20 13:59:59.5+00')) t(id, lon, lat, accuracy_m, observed_at)"
    )
    con = duckdb.connect()
    con.sql("SET TimeZone='Europe/Stockholm'")
    got = []
    for name, fmt in (("d.parquet", "(FORMAT PARQUET)"), ("d.csv", "(FORMAT CSV, HEADER)")):
        con.sql(f"COPY ({select}) TO '{tmp_path / name}' {fmt}")
        positions, _ = read(tmp_path / name)
        got.append(
            (
                [str(i) for i in positions.ids],
                positions.lon.tolist(),
                positions.lat.tolist(),
                positions.accuracy_m.tolist(),
                positions.observed_at.astype("datetime64[us]").tolist(),
            )
        )
    expected = (
        ["007", "7"],
        [18.06528, -0.0],
        [59.3325, 51.5],
        [8.5, 10.0],
        [dt.datetime(2024, 5, 20, 14), dt.datetime(2024, 5, 20, 13, 59, 59, 500000)],
    )
    assert got == [expected, expected]


# ---------------------------------------------------------------------------------------------
# --observed-at beside a column that holds each row's own time under another name
# ---------------------------------------------------------------------------------------------


@needs_examples
@pytest.mark.parametrize(
    "column", ["time", "timestamp", "observed_at_ms", "Fix Time", "recorded_at", "ts"]
)
def test_observed_at_is_refused_beside_a_column_of_the_rows_own_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str
) -> None:
    """A fix 19 days old, its time under ``time``, was read as taken at --observed-at.

    The column was set aside with a warning, and the device told as if it were current.
    """
    path = tmp_path / "dated.csv"
    path.write_text(
        f"id,lon,lat,accuracy_m,{column}\na,{FIX},8,2024-05-01T00:00:00Z\n", encoding="utf-8"
    )
    code, doc, err = _target(path, capsys, "--observed-at", "2024-05-20T16:00:00+02:00")
    assert code != 0 and doc is None, doc
    assert f"dated.csv: has no observed_at column but {column!r}" in err, err
    assert "rename the column observed_at and leave --observed-at out" in err, err


def test_observed_at_is_refused_beside_a_parquet_column_of_times(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from geotarget._position_files import read
    from geotarget.errors import InvalidInput

    path = tmp_path / "dated.parquet"
    stamps = pa.array([dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)], pa.timestamp("us", "UTC"))
    table = {"id": ["a"], "lon": [18.06528], "lat": [59.3325], "accuracy_m": [8.0]}
    pq.write_table(pa.table({**table, "event_timestamp": stamps}), path)
    at = dt.datetime(2024, 5, 20, 14, tzinfo=dt.timezone.utc)
    with pytest.raises(InvalidInput, match="has no observed_at column but 'event_timestamp'"):
        read(path, observed_at=at)


@needs_examples
def test_observed_at_still_dates_a_file_whose_other_columns_hold_no_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "undated.csv"
    path.write_text(f"id,lon,lat,accuracy_m,note,model\na,{FIX},8,hi,Pixel 8\n", encoding="utf-8")
    code, doc, _ = _target(path, capsys, "--observed-at", "2024-05-20T16:00:00+02:00")
    assert code == 0 and doc is not None and doc["recipients"] == ["a"], doc
    assert doc["counts"]["inside"] == 1, doc  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# psql's unaligned output (psql -A -F , -c 'SELECT ...' > positions.csv) ends with its footer
# ---------------------------------------------------------------------------------------------


@needs_examples
@pytest.mark.parametrize("footer", ["(1 row)", "(2 rows)", "(120 rows)"])
@pytest.mark.parametrize("padded", [False, True])
def test_psqls_row_count_footer_is_refused_not_read_as_a_device_without_a_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], footer: str, padded: bool
) -> None:
    """The footer of psql is named as one, padded with delimiters or alone on its line.

    Padded (as a spreadsheet saves the file again) it was read as a device named "(1 row)"
    without a fix ("not told: 1"); alone on its line, as psql writes it, it was refused as
    "has 1 field" without saying what it is.
    """
    path = tmp_path / "psql.csv"
    line = footer + (",,,," if padded else "")
    path.write_text(HEADER + f"a,{FIX},8,2024-05-20 14:00:00+00\n{line}\n", encoding="utf-8")
    err = _refused(path, capsys)
    where = ", column id: " if padded else ": has 1 field, the header has 5 (delimiter ','); it "
    assert f"psql.csv: row 2 (line 3){where}is psql's count of rows" in err, err
    assert "psql --csv" in err, err


@needs_examples
def test_ids_with_rows_in_them_and_rows_without_a_fix_still_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        HEADER + f"2 rows,{FIX},8,2024-05-20 14:00:00+00\n(2 rows) b,,,,\n", encoding="utf-8"
    )
    code, doc, _ = _target(path, capsys)
    assert code == 0 and doc is not None and doc["recipients"] == ["2 rows"], doc
    assert doc["counts"]["no_fix"] == 1, doc  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Degrees a spreadsheet saved as shown in scientific notation
# ---------------------------------------------------------------------------------------------


@needs_examples
@pytest.mark.parametrize(
    ("lon", "lat", "column", "metres"),
    [
        ("1.8E+01", "59.3325", "lon", "111,320"),
        ("18.06528", "5.93E+01", "lat", "11,132"),
        ("1.8065E+01", "59.3325", "lon", "111"),
    ],
)
def test_degrees_rounded_by_scientific_notation_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lon: str, lat: str, column: str, metres: str
) -> None:
    """``1.8E+01`` was read as 18.0: the device at Sergels torg 3.6 km west of it, left out.

    The oracle: the mantissa's last digit times its power of ten, in metres of a degree.
    """
    path = tmp_path / "sheet.csv"
    path.write_text(HEADER + f"a,{lon},{lat},8,2024-05-20T16:00:00+02:00\n", encoding="utf-8")
    err = _refused(path, capsys)
    assert f"sheet.csv: row 1 (line 2), column {column}: is written in scientific notation" in err
    assert f"(about {metres} m)" in err, err


@needs_examples
def test_degrees_in_scientific_notation_to_eleven_metres_or_finer_still_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fine.csv"
    path.write_text(
        HEADER + "a,1.806528E+01,5.93325e1,8,2024-05-20T16:00:00+02:00\n"
        "b,1.80653E1,5.93325e+01,8,2024-05-20T16:00:00+02:00\n",
        encoding="utf-8",
    )
    code, doc, _ = _target(path, capsys)
    assert code == 0 and doc is not None, doc
    assert sorted(doc["recipients"]) == ["a", "b"], doc  # type: ignore[call-overload]
