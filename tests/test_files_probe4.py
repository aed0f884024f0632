"""A newcomer's files, fourth probe: position files as other tools and people write them.

Each test states the input a real system produced, what geotarget did with it and what it
should do; oracles are worked out by hand or with the csv module and plain Python.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from geotarget._position_files import read
from geotarget.errors import InvalidInput, InvalidPositions

AT = dt.datetime(2024, 5, 20, tzinfo=dt.timezone.utc)
#: 2024-05-20T14:00:00Z in epoch seconds, worked out by hand (19 863 days * 86 400 + 50 400).
SECONDS = 19_863 * 86_400 + 14 * 3600


@pytest.mark.parametrize(
    ("digits", "unit", "divisor"),
    [
        (f"{SECONDS}000", "milliseconds", "1000"),  # JavaScript's Date.now(), Kafka, Spark
        (f"{SECONDS}000000", "microseconds", "1000000"),  # Postgres epoch * 1e6, Java Instant
        (f"{SECONDS}123456789", "nanoseconds", "1000000000"),  # pandas' int64 times
    ],
)
def test_epoch_times_in_a_finer_unit_name_that_unit_and_its_divisor(
    tmp_path: Path, digits: str, unit: str, divisor: str
) -> None:
    """Epoch microseconds and nanoseconds were told "milliseconds? divide by 1000".

    Following that advice left a microsecond time 1000 times too large, refused again; the
    refusal now names the unit the magnitude points to and the divisor that makes seconds.
    """
    assert int(digits) // int(divisor) == SECONDS  # the advice, followed, gives the instant
    path = tmp_path / "devices.csv"
    path.write_text(f"id,lon,lat,accuracy_m,observed_at\np1,18.0,59.3,5,{digits}\n", "utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path)
    text = str(err.value)
    assert "column observed_at" in text and repr(digits) in text
    assert f"{unit}? divide by {divisor} " in text


@pytest.mark.parametrize(
    ("lat", "lon", "column", "got"),
    [
        ("6719.2830", "01452.6610", "lon", "1452.661"),  # a GPGGA sentence's fields, Jämtland
        ("5536.1200", "13.0010", "lat", "5536.12"),  # a logger converting only the longitude
        ("59.8586", "01738.3890", "lon", "1738.389"),  # ... or only the latitude
    ],
)
def test_nmea_degrees_and_minutes_are_not_called_metres(
    tmp_path: Path, lat: str, lon: str, column: str, got: str
) -> None:
    """A GPS logger's NMEA fields (``6719.2830`` for 67°19.283') were called SWEREF 99 metres.

    The refusal's hint sent the operator to reproject metres that are no metres; it now says
    degrees and minutes are written together and how to make decimal degrees of them. A
    SWEREF 99 TM easting and northing (seven-digit northings) still get the metres hint.
    """
    path = tmp_path / "logger.csv"
    path.write_text(f"id,lat,lon,accuracy_m\ng1,{lat},{lon},5\n", "utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path, observed_at=AT)
    text = str(err.value)
    assert f"column {column}: must lie within" in text and f"(got {got})" in text
    assert "DDMM.mmmm" in text and "SWEREF" not in text
    other = lon if column == "lat" else lat
    assert other not in text  # the other coordinate, the rest of the position, is not quoted


def test_sweref_99_tm_metres_keep_their_hint(tmp_path: Path) -> None:
    """Sergels torg in SWEREF 99 TM (E 674 032, N 6 580 822) is still named as metres."""
    path = tmp_path / "sweref.csv"
    path.write_text("id,lat,lon,accuracy_m\ns1,6580822,674032,5\n", "utf-8")
    with pytest.raises(InvalidPositions, match=r"SWEREF 99 TM \(EPSG:3006\)") as err:
        read(path, observed_at=AT)
    assert "DDMM" not in str(err.value)


@pytest.mark.parametrize(
    ("title", "delim", "lat", "lon"),
    [
        ("Table 1", ",", "59.3325", "18.0653"),  # Numbers in English
        ("Tabell 1", ";", "59,3325", "18,0653"),  # Numbers in Swedish: semicolons, decimal comma
        ("# export 2024-05-20 14:00", "\t", "59.3325", "18.0653"),  # a comment line, then TSV
    ],
)
def test_a_title_line_before_the_header_says_which_line_names_the_columns(
    tmp_path: Path, title: str, delim: str, lat: str, lon: str
) -> None:
    """Apple Numbers' CSV export puts the table's name on a line before the header.

    The refusal said the first line must name the columns and listed them, while line 2 did;
    it now names that line and says to delete the title. Without it, the file reads as written.
    """
    header = delim.join(["id", "lat", "lon", "accuracy_m"])
    row = delim.join(["n1", f'"{lat}"' if delim == "," and "," in lat else lat, lon, "5"])
    path = tmp_path / "Numbers.csv"
    path.write_text(f"{title}\n{header}\n{row}\n", "utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    text = str(err.value)
    assert text.startswith("Numbers.csv: line 1: lacks column(s) id, lon, lat")
    assert "; line 2 names them: delete the line(s) before it" in text
    assert lat not in text and lon not in text
    path.write_text(f"{header}\n{row}\n", "utf-8")
    positions, _ = read(path, observed_at=AT)
    assert positions.lat.tolist() == [59.3325] and positions.lon.tolist() == [18.0653]


def test_a_first_line_of_one_unknown_name_without_a_header_after_it_gets_no_title_hint(
    tmp_path: Path,
) -> None:
    """A one-column file of something else is not told that a later line names the columns."""
    path = tmp_path / "ids.csv"
    path.write_text("msisdn\n0701234567\nid,lat\n", "utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    assert "names them" not in str(err.value)


@pytest.mark.parametrize(
    ("cell", "hint"),
    [
        ("59°19'57\"N", "degrees, minutes and seconds are not read"),  # a map app's copy
        ("59°19′57″N", "degrees, minutes and seconds are not read"),  # prime marks, Wikipedia
        ("59 19 57", "degrees, minutes and seconds are not read"),  # a surveyor's sheet
        ("N 59 19.950", "degrees, minutes and seconds are not read"),  # Garmin's hddd mm.mmm
        ("59:19:57.5", "degrees, minutes and seconds are not read"),
        ("59.3325N", "a hemisphere letter is not read"),
        ("N59.3325", "a hemisphere letter is not read"),
        ("59.3325 n", "a hemisphere letter is not read"),
        ("59.3325°", "write the degrees without the degree sign"),
        ("\u221259.3325", "write the minus sign as the ASCII hyphen-minus"),  # Numbers' minus
    ],
)
def test_degrees_written_as_a_map_shows_them_are_refused_saying_how_to_write_them(
    tmp_path: Path, cell: str, hint: str
) -> None:
    """Latitudes copied from a map or a GPS screen were refused as not ASCII-digit numbers.

    The rule was right but said nothing of the form used, and minutes written as a decimal
    fraction would give a wrong place: the refusal now names the form and how to convert it.
    """
    path = tmp_path / "copied.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(["id", "lat", "lon", "accuracy_m"])
        csv.writer(f).writerow(["c1", cell, "18.0653", "5"])
    with pytest.raises(InvalidPositions) as err:
        read(path, observed_at=AT)
    text = str(err.value)
    assert text.startswith("copied.csv: row 1 (line 2), column lat: must be a number")
    assert hint in text and text.endswith(f"(got {cell!r})")
    assert "18.0653" not in text
    if hint.startswith("degrees, minutes"):  # the example is no device's place
        assert "(48°07'02\" is 48 + 7/60 + 2/3600)" in text


def test_an_accuracy_with_a_space_gets_no_degrees_hint(tmp_path: Path) -> None:
    """``1 500`` metres (a Swedish spreadsheet's grouping) is not taken for minutes."""
    path = tmp_path / "acc.csv"
    path.write_text("id,lat,lon,accuracy_m\nc1,59.3325,18.0653,1\u00a0500\n", "utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path, observed_at=AT)
    assert "column accuracy_m" in str(err.value) and "degrees" not in str(err.value)


@pytest.mark.parametrize(
    ("east", "north"),
    [("E", "N"), ("Easting", "Northing"), ("Östlig", "Nordlig"), ("east", "north")],
)
def test_easting_and_northing_columns_are_named_as_metres(
    tmp_path: Path, east: str, north: str
) -> None:
    """A Lantmäteriet-style export of SWEREF 99 TM metres under E and N, or Swedish names.

    The refusal named only the missing lon and lat (x and y got a hint, these names none);
    it now says the columns are grid metres to convert, and does not quote them.
    """
    pyproj = pytest.importorskip("pyproj")
    e, n = 674032.0, 6580822.0  # Sergels torg, by pyproj below (so the sample is metres)
    lon, lat = pyproj.Transformer.from_crs(3006, 4326, always_xy=True).transform(e, n)
    assert (round(lon, 2), round(lat, 2)) == (18.06, 59.33)
    path = tmp_path / "grid.csv"
    path.write_text(f"id,{east},{north},accuracy_m\ng1,{e:.0f},{n:.0f},5\n", "utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    text = str(err.value)
    assert "lacks column(s) lon, lat" in text
    assert f"columns {east.lower()!r} and {north.lower()!r} are an easting and a northing" in text
    assert "674032" not in text and "6580822" not in text


@pytest.mark.parametrize(
    ("ids", "shown", "meant"),
    [
        (["Pär-iPhone", "Åke"], "byte 0x81", "'Å'"),  # Å is no cp1252 byte: named as such
        (["Göran", "Lövgren"], "'Gšr'", "'Gör'"),
        (["kaféet", "x"], "'fŽe'", "'fée'"),
    ],
)
def test_mac_roman_with_lf_line_ends_is_not_read_as_cp1252(
    tmp_path: Path, ids: list[str], shown: str, meant: str
) -> None:
    """Numbers' or TextEdit's "Western (Mac OS Roman)" CSV, its lines ending in LF.

    Only a file whose lines end in CR alone was taken for Mac Roman: with LF line ends
    "Pär" read as the id "PŠr" without a word, another device than the one meant. It is now
    refused naming Mac Roman, and read as written with that encoding given.
    """
    path = tmp_path / "numbers.csv"
    rows = "".join(f"{i},59.3,18.0,5\n" for i in ids)
    path.write_bytes(("id,lat,lon,accuracy_m\n" + rows).encode("mac_roman"))
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    text = str(err.value)
    assert text.startswith("numbers.csv: line ") and shown in text and meant in text
    assert "Mac Roman" in text and "--encoding mac_roman" in text
    positions, _ = read(path, observed_at=AT, encoding="mac_roman")
    assert positions.ids.tolist() == ids


def test_cp1252_names_with_the_marks_outside_words_still_read(tmp_path: Path) -> None:
    """cp1252's own Š, Œ, € and … where they are written (starting a name, alone) still read."""
    ids = ["Šárka", "Œuvre", "5 €", "väntar…"]
    path = tmp_path / "win.csv"
    rows = "".join(f"{i},59.3,18.0,5\n" for i in ids)
    path.write_bytes(("id,lat,lon,accuracy_m\n" + rows).encode("cp1252"))
    positions, report = read(path, observed_at=AT)
    assert positions.ids.tolist() == ids and "cp1252" in report.form
