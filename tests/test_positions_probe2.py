"""Positions files from more tools: Excel for Mac, MySQL, and files cut short.

Each file is written here as its tool writes it (bytes by hand, or Python's codecs); what it
must read as, or the refusal it must get, is written out by hand.
"""

from __future__ import annotations

import codecs
import datetime as dt
import struct
from pathlib import Path

import numpy as np
import pytest

from geotarget._position_files import read
from geotarget.errors import GeotargetError, InvalidInput, InvalidPositions

EPOCH = "1713182400"  # 2024-04-15T12:00:00Z
#: Excel for Mac's "Comma Separated Values": Mac Roman, every line ending in CR alone.
MAC_ROWS = f"id;lon;lat;accuracy_m;observed_at\rPär;18,07;59,33;12;{EPOCH}\rBo;18;59;7;{EPOCH}\r"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_excel_for_macs_csv_is_not_read_as_cp1252(tmp_path: Path) -> None:
    """Mac Roman 'Pär' (P 0x8A r) read as cp1252 was the id 'PŠr': another device, silently."""
    path = _write(tmp_path, "p.csv", MAC_ROWS.encode("mac_roman"))
    assert path.read_bytes().count(b"\n") == 0
    with pytest.raises(InvalidInput) as info:
        read(path)
    assert str(info.value) == (
        "p.csv: line 2: 'PŠr' looks like Mac Roman text (Excel for Mac's 'Comma Separated "
        "Values', whose lines end in CR alone, as this file's do) read as cp1252: in mac_roman "
        "it is 'Pär'; say which encoding the file is in with --encoding mac_roman (or cp1252)"
    )
    assert read(path, encoding="mac_roman")[0].ids.tolist() == ["Pär", "Bo"]
    assert read(path, encoding="cp1252")[0].ids.tolist() == ["PŠr", "Bo"]  # as told


@pytest.mark.parametrize(
    ("name", "shown", "meant"),
    [
        ("Bjørn", "j¿r", "jør"),  # beyond 0x9F too: ø is 0xBF in Mac Roman, ¿ in cp1252
        ("Zoë", "o‘", "oë"),  # at the end of an id; no digit beside it is quoted
    ],
)
def test_any_mac_roman_letter_in_a_cr_file_is_named(
    tmp_path: Path, name: str, shown: str, meant: str
) -> None:
    """Every byte beyond ASCII is another letter in Mac Roman than in cp1252."""
    text = f"id,lon,lat,accuracy_m,observed_at\rAsa,18,59,7,{EPOCH}\r{name},18,59,7,{EPOCH}\r"
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", text.encode("mac_roman")))
    assert str(info.value).startswith(f"p.csv: line 3: {shown!r} looks like Mac Roman text")
    assert f"in mac_roman it is {meant!r}" in str(info.value)


def test_a_mac_roman_byte_cp1252_leaves_undefined_names_mac_roman(tmp_path: Path) -> None:
    """Å is 0x81 in Mac Roman, undefined in cp1252: the hint was cp850's 'ü'."""
    text = f"id;lon;lat;accuracy_m;observed_at\rÅsa;18;59;7;{EPOCH}\r"
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", text.encode("mac_roman")))
    assert str(info.value) == (
        "p.csv: line 2: byte 0x81 is neither UTF-8 nor cp1252; say which encoding it is with "
        "--encoding (in Mac Roman, as Excel for Mac's 'Comma Separated Values' writes with "
        "lines ending in CR alone, it is 'Å': --encoding mac_roman?)"
    )


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_cp1252_with_lf_line_ends_is_still_cp1252(tmp_path: Path, eol: str) -> None:
    """Only lines ending in CR alone say Mac: Windows' cp1252 files read as before."""
    text = f"id;lon;lat;accuracy_m;observed_at{eol}Pär;18;59;7;{EPOCH}{eol}Bjørn;18;59;7;{EPOCH}"
    got = read(_write(tmp_path, "p.csv", text.encode("cp1252")))[0]
    assert got.ids.tolist() == ["Pär", "Bjørn"]


def test_utf8_and_ascii_files_with_cr_line_ends_read_as_before(tmp_path: Path) -> None:
    """UTF-8 is tried first; an ASCII file is the same text in every one of these encodings."""
    utf8 = read(_write(tmp_path, "u.csv", MAC_ROWS.encode()))[0]
    assert utf8.ids.tolist() == ["Pär", "Bo"]
    ascii_ = read(_write(tmp_path, "a.csv", MAC_ROWS.replace("ä", "a").encode("mac_roman")))[0]
    assert ascii_.ids.tolist() == ["Par", "Bo"]


@pytest.mark.parametrize(
    ("header", "row", "column"),
    [
        # MySQL's SELECT ... INTO OUTFILE ... FIELDS TERMINATED BY ',' ENCLOSED BY '"'
        ('"id","lon","lat","accuracy_m","observed_at"', f'"a",18,59,\\N,{EPOCH}', "accuracy_m"),
        ('"id","lon","lat","accuracy_m","observed_at"', '"a",\\N,\\N,7,\\N', "lon"),
    ],
)
def test_mysql_outfile_nulls_are_refused_naming_mysqls_way_out(
    tmp_path: Path, header: str, row: str, column: str
) -> None:
    r"""MySQL writes NULL as ``\N`` too: the refusal told its user to use PostgreSQL's COPY."""
    with pytest.raises(GeotargetError) as info:
        read(_write(tmp_path, "p.csv", f"{header}\n{row}\n".encode()))
    assert str(info.value) == (
        f"p.csv: row 1 (line 2), column {column}: is NULL as PostgreSQL's text format and "
        "MySQL's SELECT ... INTO OUTFILE write it, which is not CSV; export NULL as an empty "
        "cell: COPY ... (FORMAT csv, HEADER) in PostgreSQL, IFNULL(column, '') in MySQL "
        "(got '\\\\N')"
    )


_ROWS = f"id,lon,lat,accuracy_m,observed_at\nPär,18,59,7,{EPOCH}\nÖrjan,18,59,7,{EPOCH}\n"
_CUT = "ends inside a {} character (bytes {}, the start of one): the file was cut short"


@pytest.mark.parametrize(
    ("data", "encoding", "line", "form", "shown"),
    [
        # UTF-8 cut inside 'Ö' (C3 96): was "mixes two encodings (rows appended by ...)".
        ((_ROWS + "Öl").encode()[:-2], None, 4, "UTF-8", "0xc3"),
        ((_ROWS + "€").encode()[:-1], None, 4, "UTF-8", "0xe2 0x82"),
        (codecs.BOM_UTF8 + (_ROWS + "Öl").encode()[:-2], None, 4, "UTF-8", "0xc3"),
        ((_ROWS + "Öl").encode()[:-2], "utf-8", 4, "UTF-8", "0xc3"),
        # UTF-16 and UTF-32 cut inside a code unit: was "say which encoding it is".
        (codecs.BOM_UTF16_LE + _ROWS.encode("utf-16-le")[:-1], None, 3, "UTF-16", "0x0a"),
        (codecs.BOM_UTF32_BE + _ROWS.encode("utf-32-be")[:-3], None, 3, "UTF-32", "0x00"),
        (_ROWS.encode("utf-16-le")[:-1], "utf-16-le", 3, "UTF-16-LE", "0x0a"),
    ],
    ids=["utf-8", "utf-8-3-bytes", "utf-8-bom", "utf-8-named", "utf-16", "utf-32", "utf-16-le"],
)
def test_a_file_cut_inside_a_character_is_named_cut_short(
    tmp_path: Path, data: bytes, encoding: str | None, line: int, form: str, shown: str
) -> None:
    """Not two encodings, not a wrong --encoding: the file's end is missing."""
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", data), encoding=encoding)
    assert str(info.value) == (
        f"p.csv: line {line}: {_CUT.format(form, shown)} (an interrupted copy, download or "
        "export?), and its last row with it; read the whole file again"
    )


def test_a_cp1252_file_ending_in_a_utf8_lead_byte_is_still_cp1252(tmp_path: Path) -> None:
    """'é' is 0xE9, a UTF-8 lead byte: a cp1252 file ending in it is not UTF-8 cut short.

    (Its last line has no line break, as Google Sheets writes CSV.)
    """
    text = f"lon,lat,accuracy_m,observed_at,id\n18,59,7,{EPOCH},Renée\n18,59,7,{EPOCH},André"
    got = read(_write(tmp_path, "p.csv", text.encode("cp1252")))
    assert got[0].ids.tolist() == ["Renée", "André"]
    assert got[1].form == "CSV, cp1252, comma-separated"


@pytest.mark.parametrize(
    ("header", "row", "delim", "hint"),
    [
        ("id;lon;lat;observed_at", f"b,18.5,59,{EPOCH}", ";", "; it holds 3 ',': written with"),
        ("id,lon,lat,observed_at", f"b;18.5;59;{EPOCH}", ",", "; it holds 3 ';': written with"),
        ("id,lon,lat,observed_at", "b", ",", ""),  # nothing to say but the counts
    ],
)
def test_a_row_of_one_field_says_field_and_names_the_other_delimiter(
    tmp_path: Path, header: str, row: str, delim: str, hint: str
) -> None:
    """'has 1 fields' read as a typo; a row written with the other delimiter is now named so."""
    good = f"a{delim}18{delim}59{delim}{EPOCH}"
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", f"{header}\n{good}\n{row}\n".encode()), accuracy_m=5.0)
    assert str(info.value).startswith(
        f"p.csv: row 2 (line 3): has 1 field, the header has 4 (delimiter {delim!r}){hint}"
    )
    if hint:
        assert str(info.value).endswith(" another delimiter (rows appended by another program?)")
    else:
        assert str(info.value).endswith(f"(delimiter {delim!r})")


def test_a_parquet_page_its_checksum_belies_is_refused(tmp_path: Path) -> None:
    """Spark and parquet-mr store each page's CRC: a damaged page was read, 56 km off."""
    pa = pytest.importorskip("pyarrow", minversion="15", reason="page CRCs need pyarrow 15")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "lon": [18.07, 18.08, 18.09],
            "lat": [59.33, 59.34, 59.35],
            "accuracy_m": [5.0, 5.0, 5.0],
            "observed_at": [int(EPOCH)] * 3,
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, write_page_checksum=True, compression="none", use_dictionary=False)
    data = bytearray(path.read_bytes())
    at = data.index(struct.pack("<d", 18.08))
    data[at + 6] ^= 0x01  # one bit: 18.08 becomes 19.08
    assert struct.unpack("<d", data[at : at + 8]) == (19.08,)
    path.write_bytes(bytes(data))
    assert pq.read_table(path).column("lon").to_pylist()[1] == 19.08  # what was read
    with pytest.raises(InvalidInput) as info:
        read(path)
    assert str(info.value) == (
        "p.parquet: not a readable Parquet file: could not verify page integrity, CRC checksum "
        "verification failed for page_ordinal 0"
    )
    # A file written without checksums (pyarrow's default) reads as before.
    pq.write_table(table, path)
    assert read(path)[0].lon.tolist() == [18.07, 18.08, 18.09]


def test_int96_times_name_what_their_writers_meant(tmp_path: Path) -> None:
    """Spark's INT96 times are UTC instants: "--timezone Europe/Stockholm" read them 2 h off."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    noon = dt.datetime(2024, 4, 15, 12, tzinfo=dt.timezone.utc)
    table = pa.table(
        {
            "id": ["a"],
            "lon": [18.07],
            "lat": [59.33],
            "accuracy_m": [5.0],
            "observed_at": pa.array([noon], pa.timestamp("us", tz="UTC")),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path, use_deprecated_int96_timestamps=True)  # as Spark writes
    assert pq.read_metadata(path).schema.column(4).physical_type == "INT96"
    with pytest.raises(InvalidPositions) as info:
        read(path)
    assert str(info.value) == (
        "p.parquet, column observed_at: timestamps without a time zone; say which zone they "
        "are in with --timezone (e.g. Europe/Stockholm); they are INT96 timestamps, the legacy "
        "type of Spark, Hive and Impala: Spark and Hive write them as UTC instants (give "
        "--timezone UTC), Impala as wall-clock times (give the zone they were taken in)"
    )
    assert read(path, timezone="UTC")[0].observed_at.tolist() == [noon.replace(tzinfo=None)]
    # Zone-less times of another physical type keep the plain refusal.
    pq.write_table(table.set_column(4, "observed_at", pa.array([noon.replace(tzinfo=None)])), path)
    with pytest.raises(InvalidPositions) as info:
        read(path)
    assert str(info.value).endswith("with --timezone (e.g. Europe/Stockholm)")


@pytest.mark.parametrize(
    ("header", "hint"),
    [
        (
            "id,geom,accuracy_m,observed_at",
            "; a geometry column ('geom') is not read: write the points' longitude and latitude "
            "in degrees (EPSG:4326) as columns lon and lat, e.g. PostGIS's ST_X(geom) AS lon, "
            "ST_Y(geom) AS lat",
        ),
        (
            "device_id,WKT,accuracy,observed_at",
            "; a geometry column ('wkt') is not read: write the points' longitude and latitude "
            "in degrees (EPSG:4326) as columns lon and lat, e.g. PostGIS's ST_X(wkt) AS lon, "
            "ST_Y(wkt) AS lat",
        ),
        (
            "id,x,y,accuracy_m,observed_at",
            "; columns x and y are not read as lon and lat: they may be metres in a projected "
            "system (SWEREF 99 TM's easting and northing); if they are WGS84 degrees, name them "
            "lon (x) and lat (y)",
        ),
        ("id,lon,geom,observed_at", ""),  # lon is there: the missing lat is the whole story
    ],
)
def test_a_header_with_points_in_other_columns_says_how_to_write_them(
    tmp_path: Path, header: str, hint: str
) -> None:
    """WKT POINT(lon lat) and x/y exports were refused with the bare list of column names."""
    row = f'a,"POINT(18.07 59.33)",5,{EPOCH}' if "x" not in header else f"a,18.07,59.33,5,{EPOCH}"
    with pytest.raises(InvalidInput) as info:
        read(_write(tmp_path, "p.csv", f"{header}\n{row}\n".encode()))
    message = str(info.value)
    assert message.startswith("p.csv: line 1: lacks column(s) ")
    assert message.endswith("lat, lon, lon, lon, lat, lon and id)" + hint)
    assert "18.07" not in message and "59.33" not in message


_APART = (
    "must be epoch seconds or an ISO 8601 date-time such as 2024-05-20T14:00:00+02:00 (or ...Z); "
    "its zone stands apart from the time, as BigQuery ('... UTC') and Snowflake ('... +0000') "
    "export timestamps: write the offset right after the time, as "
)


@pytest.mark.parametrize(
    ("cell", "joined"),
    [
        ("2024-04-15 12:00:00 UTC", "2024-04-15T12:00:00Z"),  # BigQuery's CSV export
        ("2024-04-15 12:00:00.123456 UTC", "2024-04-15T12:00:00.123456Z"),
        ("2024-04-15 12:00:00.000 +0000", "2024-04-15T12:00:00.000+00:00"),  # Snowflake's
        ("2024-04-15 12:00:00.000 Z", "2024-04-15T12:00:00.000Z"),
        ("2024-04-15 14:00 +02:00", "2024-04-15T14:00+02:00"),
        ("2024-04-15 14:00:00 -0530", "2024-04-15T14:00:00-05:30"),
        ("2024-04-15 12:00:00 CEST", None),  # a zone's abbreviation says no offset: plain
        ("15/04/2024 12:00 UTC", None),
    ],
)
def test_a_zone_apart_from_the_time_is_refused_saying_where_it_goes(
    tmp_path: Path, cell: str, joined: str | None
) -> None:
    """Still refused (not ISO 8601; with --timezone too): the hint writes the value so.

    The hint's value is the same instant as the cell's (it named another, 12:00Z, for a cell
    of 14:00 UTC), and it reads.
    """
    text = f"id,lon,lat,accuracy_m,observed_at\na,18.07,59.33,5,{cell}\n"
    for zone in (None, "Europe/Stockholm"):
        with pytest.raises(InvalidPositions) as info:
            read(_write(tmp_path, "p.csv", text.encode()), timezone=zone)
        message = str(info.value)
        assert message.startswith("p.csv: row 1 (line 2), column observed_at: must be epoch ")
        assert message.endswith(f" (got {cell!r})")
        assert (_APART in message) == (joined is not None)
        if joined is not None:
            assert message.endswith(f"{_APART}{joined} (got {cell!r})")
            fixed = text.replace(cell, joined)
            got = read(_write(tmp_path, "q.csv", fixed.encode()))[0]
            assert got.observed_at[0] == np.datetime64(
                dt.datetime.fromisoformat(joined.replace("Z", "+00:00"))
                .astimezone(dt.timezone.utc)
                .replace(tzinfo=None),
                "us",
            )


def test_ios_invalid_fixes_are_refused_saying_how_to_write_them(tmp_path: Path) -> None:
    """An accuracy of -1 is how iOS (horizontalAccuracy) writes no fix: the refusal says so."""
    text = (
        "device_id,latitude,longitude,horizontalAccuracy,observed_at\n"
        f"a,59.33,18.07,5,{EPOCH}\nb,0,0,-1,{EPOCH}\n"
    )
    with pytest.raises(InvalidPositions) as info:
        read(_write(tmp_path, "p.csv", text.encode()))
    assert str(info.value) == (
        "p.csv: row 2 (line 3), column accuracy_m: must be a number of metres >= 0 for a row "
        "with a fix (is -1.0); a negative accuracy is how iOS marks a location that is no fix "
        "(horizontalAccuracy -1): leave such a row's lon and lat empty"
    )
    emptied = text.replace("b,0,0,-1", "b,,,-1")  # as the hint says: no fix, read as such
    got = read(_write(tmp_path, "p.csv", emptied.encode()))[0]
    assert got.has_fix.tolist() == [True, False]
    with pytest.raises(InvalidPositions) as info:  # empty is no negative: no iOS hint
        read(_write(tmp_path, "p.csv", text.replace("-1", "").encode()))
    assert str(info.value).endswith("for a row with a fix (is empty)")
