"""Position files, twelfth probe: files as people and real systems write them.

Oracles are plain Python (bytes.decode, the csv module) and pyarrow read directly, never the
readers.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest

from geotarget._position_files import read
from geotarget.errors import InvalidInput, InvalidPositions

ROWS = (
    "id;lon;lat;accuracy_m;observed_at;namn\r\n"
    "Pär–1;18,07;59,33;5;2026-05-04T12:00:00Z;Göran\r\n"
    "Åsa;18,08;59,34;7;2026-05-04T12:00:00Z;Åsa\r\n"
)


# ---------------------------------------------------------------------------------------------
# An --encoding that is not the file's
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "iso-8859-15", "cp850", "mac_roman"])
def test_utf8_text_given_a_single_byte_encoding_is_read_so_but_said(
    tmp_path: Path, encoding: str
) -> None:
    # pandas and Google Sheets write UTF-8 without a BOM; a script that always passes the
    # encoding of last year's export read its ids as other text ('Pär' as 'PÃ¤r'), silently.
    # The encoding given is the way to read such bytes so (they may be its text): it is kept,
    # and the summary says what it did.
    data = ROWS.encode("utf-8")
    assert data.decode(encoding) != ROWS  # the oracle: read so, the text is another
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    if encoding in ("latin-1", "iso-8859-15"):  # '–' (E2 80 93) holds a C1 control in these
        with pytest.raises(InvalidInput) as err:
            read(path, encoding=encoding)
        assert "line 2: byte 0x80 is a control character" in str(err.value)
        assert str(err.value).endswith("the file is UTF-8 text throughout: leave --encoding out")
        assert "NEL" not in str(err.value)
        return
    positions, report = read(path, encoding=encoding)
    assert positions.ids.tolist() == [
        line.split(";")[0] for line in data.decode(encoding).splitlines()[1:]
    ]
    (note,) = report.notes
    assert note.startswith("line 2 is UTF-8 text ('ä' is written in UTF-8's bytes 0xc3 0xa4)")
    misread = "ä".encode().decode(encoding)
    assert f"read as --encoding {encoding} says: {misread!r}" in note
    assert "leave --encoding out" in note
    positions, report = read(path)  # without --encoding: UTF-8, as written
    assert positions.ids.tolist() == [line.split(";")[0] for line in data.decode().splitlines()[1:]]
    assert report.notes == ()
    positions, report = read(path, encoding="utf-8")
    assert positions.ids.tolist()[1] == "Åsa"
    assert report.notes == ()


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "cp850", "mac_roman"])
def test_a_single_byte_file_given_its_own_encoding_still_reads(
    tmp_path: Path, encoding: str
) -> None:
    text = ROWS.replace("–", "-")  # (cp850 and Mac Roman have no en dash)
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    positions, report = read(path, encoding=encoding)
    assert list(positions.ids) == ["Pär-1", "Åsa"]
    assert report.notes == ()


@pytest.mark.parametrize("encoding", ["latin-1", "iso-8859-1", "iso-8859-15"])
def test_cp1252_typography_read_as_iso_8859_control_characters_is_refused(
    tmp_path: Path, encoding: str
) -> None:
    # Windows writes cp1252, and MySQL's "latin1" is cp1252; ISO 8859 reads its en dash
    # (0x96) as the control character U+0096: the id 'Pär–1' became another.
    data = ROWS.encode("cp1252")
    assert "\x96" in data.decode(encoding)  # the oracle
    path = tmp_path / "mysql.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as err:
        read(path, encoding=encoding)
    message = str(err.value)
    assert "line 2: byte 0x96 is a control character" in message
    assert "U+0096" in message
    assert "in cp1252 it is '–': --encoding cp1252?" in message
    positions, _ = read(path, encoding="cp1252")
    assert list(positions.ids) == ["Pär–1", "Åsa"]
    positions, _ = read(path)  # and without --encoding
    assert list(positions.ids) == ["Pär–1", "Åsa"]


def test_a_byte_cp1252_leaves_undefined_is_still_read_as_latin_1_names_it(tmp_path: Path) -> None:
    # 0x81 is no cp1252 character (detection refuses it): latin-1 is the way to read it.
    data = ROWS.replace("–", "-").encode("cp1252").replace(b"r-1", b"r\x811")
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    positions, _ = read(path, encoding="latin-1")
    assert list(positions.ids) == ["P\u00e4r\x811", "\u00c5sa"]


def test_an_iso_8859_file_without_control_characters_still_reads(tmp_path: Path) -> None:
    text = ROWS.replace("–", "-") + "Zoë;18,09;59,35;7;2026-05-04T12:00:00Z;€\r\n"
    path = tmp_path / "latin.csv"
    path.write_bytes(text.encode("iso-8859-15"))
    positions, _ = read(path, encoding="iso-8859-15")
    assert list(positions.ids) == ["Pär-1", "Åsa", "Zoë"]


@pytest.mark.parametrize("form", ["utf-16", "utf-32"])
def test_big_endian_text_without_a_bom_given_utf16_or_32_names_its_byte_order(
    tmp_path: Path, form: str
) -> None:
    # Java's "UTF-16BE" writes no BOM; Python's utf-16 codec reads such text little-endian.
    data = ROWS.encode(f"{form}-be")
    assert not data.startswith((codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE))
    path = tmp_path / "java.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as err:
        read(path, encoding=form)
    message = str(err.value)
    assert f"{form.upper()}-BE text" in message
    assert f"give --encoding {form}-be" in message
    positions, _ = read(path, encoding=f"{form}-be")
    assert list(positions.ids) == ["Pär–1", "Åsa"]
    little = tmp_path / "little.csv"
    little.write_bytes(ROWS.encode(f"{form}-le"))
    positions, _ = read(little, encoding=form)  # little-endian: Python's reading is right
    assert list(positions.ids) == ["Pär–1", "Åsa"]


# ---------------------------------------------------------------------------------------------
# Rows Excel writes without the delimiters of their empty last cells
# ---------------------------------------------------------------------------------------------

EXCEL_HEADER = "id;lon;lat;accuracy_m;observed_at;tester;anteckning\r\n"


def _excel_rows(n: int) -> list[str]:
    """Rows whose tester and note are empty, written with and without their last delimiters.

    Excel writes the delimiters of a block of rows whose last cells are empty only for some of
    them (StataCorp's FAQ "How Excel writes empty cells"): the rest end after their last value.
    """
    rows = []
    for i in range(n):
        full = f"d{i:03d};18,{i:04d};59,{i:04d};{i % 40 + 5};2026-05-04T12:{i % 60:02d}:00Z"
        rows.append(full + (";;" if i < 16 else "") + "\r\n")
    return rows


def test_rows_lacking_their_empty_tester_and_note_cells_read_as_excel_wrote_them(
    tmp_path: Path,
) -> None:
    rows = _excel_rows(40)
    rows.insert(20, "t;18,5;59,5;10;2026-05-04T12:00:00Z;ja\r\n")  # lacks only the note
    text = EXCEL_HEADER + "".join(rows)
    # The oracle: the csv module's records, padded with empty cells to the header's width.
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    width = len(records[0])
    assert {len(r) for r in records[1:]} == {5, 6, 7}
    padded = [r + [""] * (width - len(r)) for r in records[1:]]
    path = tmp_path / "excel.csv"
    path.write_bytes(text.encode("cp1252"))
    positions, report = read(path)
    assert positions.ids.tolist() == [r[0] for r in padded]
    assert positions.lon.tolist() == [float(r[1].replace(",", ".")) for r in padded]
    assert positions.lat.tolist() == [float(r[2].replace(",", ".")) for r in padded]
    assert positions.accuracy_m.tolist() == [float(r[3]) for r in padded]
    assert positions.tester.tolist() == [r[5] == "ja" for r in padded]
    assert report.unknown_columns == ("anteckning",)
    (note,) = report.notes
    assert note.startswith("25 rows (the first: row 17, line 18) end before the header's last")
    assert "Excel" in note


def test_a_row_lacking_a_known_column_or_cut_short_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    rows = _excel_rows(20)
    lacking = EXCEL_HEADER + "".join(rows) + "x;18,5;59,5;10\r\n"  # no time: not Excel's
    path.write_bytes(lacking.encode())
    with pytest.raises(InvalidInput, match=r"row 21 \(line 22\): has 4 fields, the header has 7"):
        read(path)
    broken = EXCEL_HEADER + "".join(rows) + "rest of a note\r\n"  # a line broken off the last
    path.write_bytes(broken.encode())
    with pytest.raises(InvalidInput, match=r"row 21 \(line 22\): has 1 field, the header has 7"):
        read(path)
    cut = EXCEL_HEADER + "".join(rows).removesuffix("\r\n")  # cut in the last row's note
    path.write_bytes(cut.encode())
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert message.startswith("excel.csv: row 20 (line 21): lacks the header's last column(s)")
    assert "cut short" in message
    path.write_bytes((cut + "\r\n").encode())  # whole: read
    positions, _ = read(path)
    assert positions.ids.size == 20


# ---------------------------------------------------------------------------------------------
# Files of other formats, under their own suffixes or another's
# ---------------------------------------------------------------------------------------------


def _parquet_bytes(tmp_path: Path) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "made.parquet"
    pq.write_table(pa.table({"id": ["a"], "lon": [18.07], "lat": [59.33]}), path)
    return path.read_bytes()


def _feather_bytes(tmp_path: Path) -> bytes:
    pa = pytest.importorskip("pyarrow")
    feather = pytest.importorskip("pyarrow.feather")
    path = tmp_path / "made.feather"
    feather.write_feather(pa.table({"id": ["a"], "lon": [18.07], "lat": [59.33]}), path)
    return path.read_bytes()


def _sqlite_bytes(tmp_path: Path) -> bytes:
    import sqlite3

    path = tmp_path / "made.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE fixes (id TEXT, lon REAL, lat REAL)")
    db.close()
    return path.read_bytes()


GPX = (
    b'<?xml version="1.0"?><gpx version="1.1"><trk><trkseg><trkpt lat="59.33" lon="18.07">'
    b"<time>2026-05-04T12:00:00Z</time></trkpt></trkseg></trk></gpx>"
)


@pytest.mark.parametrize(
    ("suffix", "kind", "said"),
    [
        (".gpx", "gpx", "a GPS track, one device's points; write the devices' latest fixes as CSV"),
        (".kml", "gpx", "write its points as CSV with the columns id, lon, lat"),
        (".geoparquet", "parquet", "a Parquet file is read with the suffix .parquet; rename it"),
        (".pq", "parquet", "a Parquet file is read with the suffix .parquet; rename it"),
        (".feather", "feather", "Arrow IPC (Feather) is not read; write the table as Parquet"),
        (".arrow", "feather", "Arrow IPC (Feather) is not read; write the table as Parquet"),
        (".gpkg", "sqlite", "a GeoPackage (a SQLite database); export its table as CSV"),
        (".dat", "parquet", "its suffix '.dat' is none of these; it is a Parquet file; give it"),
        (".dat", "feather", "its suffix '.dat' is none of these; it is an Arrow IPC (Feather)"),
    ],
)
def test_a_file_of_another_format_is_named_for_what_it_is(
    tmp_path: Path, suffix: str, kind: str, said: str
) -> None:
    data = {
        "gpx": lambda: GPX,
        "parquet": lambda: _parquet_bytes(tmp_path),
        "feather": lambda: _feather_bytes(tmp_path),
        "sqlite": lambda: _sqlite_bytes(tmp_path),
    }[kind]()
    path = tmp_path / f"fixes{suffix}"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as err:
        read(path)
    assert said in str(err.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("feather", "an Arrow IPC (Feather) file, which is not read; write the table as Parquet"),
        ("sqlite", "a SQLite database (a GeoPackage?); export its table as CSV"),
    ],
)
def test_an_arrow_or_sqlite_file_named_csv_or_parquet_says_what_it_is(
    tmp_path: Path, suffix: str, kind: str, said: str
) -> None:
    data = _feather_bytes(tmp_path) if kind == "feather" else _sqlite_bytes(tmp_path)
    path = tmp_path / f"fixes{suffix}"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as err:
        read(path)
    what = "not CSV text" if suffix == ".csv" else "not a Parquet file"
    assert str(err.value).startswith(f"fixes{suffix}: is {what} but {said}")


# ---------------------------------------------------------------------------------------------
# pandas in a Swedish locale
# ---------------------------------------------------------------------------------------------


def test_a_tester_column_pandas_wrote_with_decimal_commas_reads_as_its_flags(
    tmp_path: Path,
) -> None:
    # A 0/1 column with a gap is float in pandas: to_csv(decimal=",") writes 1,0 and 0,0.
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "lon": [18.0686, 18.07, 18.08, 18.09],
            "lat": [59.3293, 59.33, 59.34, 59.35],
            "accuracy_m": [12.5, 5.0, 7.0, 9.0],
            "observed_at": pd.to_datetime(["2026-05-04T12:00:00Z"] * 4),
            "tester": [1, None, 0, 1],
        }
    )
    assert frame["tester"].dtype.kind == "f"
    text = frame.to_csv(sep=";", decimal=",", index=False)
    assert ";1,0\n" in text and ";0,0\n" in text  # the oracle: what pandas wrote
    path = tmp_path / "pandas.csv"
    path.write_text(text, encoding="utf-8")
    positions, report = read(path)
    assert positions.tester.tolist() == [v == 1 for v in frame["tester"]]
    assert positions.lon.tolist() == frame["lon"].tolist()
    assert report.form.endswith("decimal comma")
    bad = text.replace(";0,0\n", ";0,5\n")  # no flag
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(InvalidPositions, match=r"row 3 \(line 4\), column tester: must be 1/0"):
        read(path)


# ---------------------------------------------------------------------------------------------
# R's write.csv
# ---------------------------------------------------------------------------------------------

R_CSV = (
    '"","id","lon","lat","accuracy_m","observed_at","tester"\n'
    '"1","a",18.07,59.33,5,"2026-05-04 12:00:00",TRUE\n'
    '"2","b",,,,"2026-05-04 12:00:00",FALSE\n'
)


@pytest.mark.parametrize(
    ("cells", "column"),
    [("NA,NA,NA", "lon"), (',,,"2026-05-04 12:00:00",NA', "tester"), (",,,NA", "observed_at")],
)
def test_r_write_csv_missing_values_are_refused_saying_how_r_writes_empty_cells(
    tmp_path: Path, cells: str, column: str
) -> None:
    # write.csv(frame) writes NA for a missing value of any type, unless given na = "".
    text = R_CSV.replace(',,,,"2026-05-04 12:00:00",FALSE', "," + cells)
    if column != "tester":
        text = text.replace('"2","b",NA,NA,NA', '"2","b",NA,NA,NA,"2026-05-04 12:00:00",FALSE')
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path, timezone="UTC")
    message = str(err.value)
    assert f"row 2 (line 3), column {column}:" in message
    assert 'R\'s write.csv writes NA for a missing value: give it na = ""' in message
    path.write_text(R_CSV, encoding="utf-8")  # na = "": read
    positions, report = read(path, timezone="UTC")
    assert positions.ids.tolist() == ["a", "b"]
    assert positions.has_fix.tolist() == [True, False]
    assert positions.tester.tolist() == [True, False]
    assert report.unknown_columns == ("(unnamed column 1)",)
