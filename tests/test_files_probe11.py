"""Position files, eleventh probe: files as real systems hand them over, while they change.

Oracles are plain Python (the csv module, os) and pyarrow read directly, never the readers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import pytest

from geotarget._position_files import read
from geotarget.errors import InvalidInput, InvalidPositions

HEADER = "id,lon,lat,accuracy_m,observed_at\n"


def _rows(n: int, start: int = 0) -> str:
    """``n`` CSV rows of devices around Stockholm, as an exporter writes them."""
    return "".join(
        f"dev{i:07d},18.{i % 9000 + 1000:04d},59.{i % 7000 + 2000:04d},{i % 50 + 5},"
        f"2026-05-04T12:{i % 60:02d}:00Z\n"
        for i in range(start, start + n)
    )


def _reordered(text: str) -> str:
    """The CSV ``text`` with its columns as id, observed_at, accuracy_m, lon, lat."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [r[0], r[4], r[3], r[1], r[2]] for r in csv.reader(io.StringIO(text))
    )
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# A file its writer changes while it is read
# ---------------------------------------------------------------------------------------------


def test_a_csv_file_its_exporter_appends_to_while_it_is_read_is_refused(tmp_path: Path) -> None:
    # An export job still writing: the rows read so far end where the writer had got to, the
    # last perhaps cut inside a number. The reader's progress calls come while it reads.
    # Its columns in the order of the backend's events, latitude last: the row being written
    # is cut inside its latitude, 59.3 of 59.3325 (3.6 km to the south).
    path = tmp_path / "positions.csv"
    first = _reordered(HEADER + _rows(100_000))
    path.write_text(first + "dev0100000,2026-05-04T12:00:00Z,12,18.0712,59.3", encoding="utf-8")

    def writer_goes_on(rows: int) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write("325\n" + _reordered(_rows(5, 100_001)))

    with pytest.raises(InvalidInput, match=r"positions\.csv: changed while it was being read"):
        read(path, progress=writer_goes_on)
    # The oracle: what the file holds once written is more than was read.
    with path.open(newline="", encoding="utf-8") as f:
        assert sum(1 for _ in csv.reader(f)) == 1 + 100_006
    # Read again once written, it is read whole, its last rows as written.
    positions, report = read(path)
    assert report.rows == len(positions) == 100_006
    assert positions.lat[100_000] == 59.3325


def test_a_csv_file_rewritten_in_place_to_the_same_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "positions.csv"
    path.write_text(HEADER + _rows(100_000), encoding="utf-8")
    written = path.read_bytes()

    def rewritten(rows: int) -> None:  # truncated and written again, by a job run again
        with path.open("wb") as f:
            f.write(written.replace(b"dev0000000,", b"dev9999999,"))
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    with pytest.raises(InvalidInput, match=r"changed while it was being read \(its modification"):
        read(path, progress=rewritten)


def test_a_csv_file_replaced_whole_while_it_is_read_is_read_as_it_was(tmp_path: Path) -> None:
    # A writer that writes another file and renames it over this one (as it should): the file
    # opened is read whole, as it was; no refusal.
    path = tmp_path / "positions.csv"
    path.write_text(HEADER + _rows(100_000), encoding="utf-8")

    def replaced(rows: int) -> None:
        new = tmp_path / "positions.csv.tmp"
        new.write_text(HEADER + _rows(3, 500_000), encoding="utf-8")
        new.replace(path)

    positions, _ = read(path, progress=replaced)
    assert len(positions) == 100_000
    assert positions.ids[0] == "dev0000000"


def _parquet(path: Path, n: int = 20) -> Any:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "id": [f"dev{i}" for i in range(n)],
            "lon": [18.0 + i / 1000 for i in range(n)],
            "lat": [59.3 + i / 1000 for i in range(n)],
            "accuracy_m": [10.0] * n,
            "observed_at": [1_777_896_000] * n,
        }
    )
    pq.write_table(table, path)
    return pq


@pytest.mark.parametrize("reader", ["command", "library"])
def test_a_parquet_file_rewritten_while_it_is_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    # The footer checked and the pages read must be one file's: a job rewriting the file in
    # place between them hands over another file's rows (or a half-written one's).
    path = tmp_path / "positions.parquet"
    pq = _parquet(path)
    read_table = pq.read_table

    def writer_rewrites(*args: Any, **kwargs: Any) -> Any:
        table = read_table(*args, **kwargs)
        source = io.BytesIO()
        pq.write_table(read_table(path).slice(0, 5), source)
        path.write_bytes(source.getvalue())  # in place: the same inode, another size
        return table

    from geotarget._positions_arrow import read_parquet

    monkeypatch.setattr(pq, "read_table", writer_rewrites)
    reading = read if reader == "command" else read_parquet
    with pytest.raises(InvalidInput, match=r"positions\.parquet: changed while it was being read"):
        reading(path)
    monkeypatch.undo()
    # The oracle: pyarrow reads the file as it is now.
    assert pq.read_table(path).num_rows == 5


# ---------------------------------------------------------------------------------------------
# Cells quoted after a space
# ---------------------------------------------------------------------------------------------

#: A writer that puts a space after each delimiter and quotes text (hand-made exports, report
#: tools): the id column last, as an event's fields come.
SPACED = (
    "observed_at, lon, lat, accuracy_m, id\n"
    '2026-05-04T12:00:00Z, 18.0712, 59.3325, 12, "dev1"\n'
    '2026-05-04T12:00:00Z, 18.0713, 59.3326, 12, "dev2"\n'
)


def test_an_id_quoted_after_a_space_is_refused_not_read_with_its_quotes(tmp_path: Path) -> None:
    # The oracle: the csv module, as RFC 4180, keeps a quote after a space as text; the ids
    # would be '"dev1"' and '"dev2"', which name no device the backend knows.
    rows = list(csv.reader(io.StringIO(SPACED)))
    assert rows[1][4] == ' "dev1"'
    path = tmp_path / "spaced.csv"
    path.write_text(SPACED, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert "row 1 (line 2), column id: would be read with its quotes" in message
    assert "write no space after the delimiter" in message
    # An id holding quotes, written as a quoted field writes them, is still read verbatim.
    path.write_text(
        'id,lon,lat,accuracy_m,observed_at\n"""dev1""",18.07,59.33,10,2026-05-04T12:00:00Z\n',
        encoding="utf-8",
    )
    positions, _ = read(path)
    assert positions.ids.tolist() == [next(csv.reader(['"""dev1"""']))[0]] == ['"dev1"']


@pytest.mark.parametrize(
    ("column", "cells"),
    [
        ("lon", ('"18.0712"', "59.3325", "12", "2026-05-04T12:00:00Z")),
        ("observed_at", ("18.0712", "59.3325", "12", '"2026-05-04T12:00:00Z"')),
        ("accuracy_m", ("18.0712", "59.3325", '"12"', "2026-05-04T12:00:00Z")),
    ],
)
def test_a_number_or_time_quoted_after_a_space_is_named_for_its_quotes(
    tmp_path: Path, column: str, cells: tuple[str, ...]
) -> None:
    path = tmp_path / "spaced.csv"
    path.write_text(
        "id, lon, lat, accuracy_m, observed_at\n" + "dev1, " + ", ".join(cells) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert f"column {column}:" in message
    assert "its quotes follow a space" in message
    assert "degrees, minutes and seconds" not in message  # a quote here is no second of arc


# ---------------------------------------------------------------------------------------------
# Lines ended by what ends no CSV line
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("end", "named"), [("\x85", "NEL"), ("\u2028", "U+2028")])
@pytest.mark.parametrize("header_end", ["same", "lf"])
def test_lines_ended_by_nel_or_a_line_separator_are_named_not_called_empty(
    tmp_path: Path, end: str, named: str, header_end: str
) -> None:
    # A mainframe's export converted from EBCDIC ends its lines in NEL (U+0085); a CSV reader
    # ends none there. The oracle: the csv module reads one record where splitlines sees rows.
    rows = [
        "id,lon,lat,accuracy_m,observed_at",
        "a,18.07,59.33,10,2026-05-04T12:00:00Z",
        "b,18.08,59.34,10,2026-05-04T12:00:00Z",
    ]
    text = rows[0] + ("\n" if header_end == "lf" else end) + end.join(rows[1:]) + end
    assert len(text.splitlines()) == 3
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert len(records) == (1 if header_end == "same" else 2)
    path = tmp_path / "mainframe.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert f"it holds {named}" in message
    assert "convert them to LF" in message
    assert "an empty export" not in message  # the file is not empty


# ---------------------------------------------------------------------------------------------
# Header names holding what shows nothing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "\u200bid,lon,lat,accuracy_m,observed_at",  # a zero-width space, copied from a wiki
        "id,\u200flon,lat\u200e,accuracy_m,observed_at",  # RTL and LTR marks
        "id,lon,lat,accuracy\ufeff_m,observed_at",  # a byte order mark inside a joined file
        "id,lon,lat,accu\u00adracy_m,observed_at",  # a soft hyphen
        "id,la\u0308ngdgrad,breddgrad,accuracy_m,observed_at",  # NFD, as macOS may write it
        "ID\u2060,LON,LAT,ACCURACY_M,OBSERVED_AT",  # a word joiner
    ],
)
def test_header_names_read_as_they_show(tmp_path: Path, header: str) -> None:
    import unicodedata

    # The oracle: each name, as it shows (its invisible characters left out, in NFC), is one
    # the documented rules name.
    shown = [
        unicodedata.normalize("NFC", "".join(c for c in name if unicodedata.category(c) != "Cf"))
        for name in next(csv.reader([header]))
    ]
    assert {n.lower() for n in shown} <= {
        "id", "lon", "lat", "accuracy_m", "observed_at", "längdgrad", "breddgrad"
    }  # fmt: skip
    path = tmp_path / "copied.csv"
    path.write_text(header + "\ndev1,18.07,59.33,10,2026-05-04T12:00:00Z\n", encoding="utf-8")
    positions, report = read(path)
    assert report.unknown_columns == ()
    assert (positions.ids.tolist(), positions.lon.tolist(), positions.lat.tolist()) == (
        ["dev1"],
        [18.07],
        [59.33],
    )
    assert positions.accuracy_m.tolist() == [10.0]


# ---------------------------------------------------------------------------------------------
# An accuracy column in another unit
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "unit", "factor"),
    [
        ("accuracy_ft", "feet", 0.3048),  # the international foot, by definition
        ("hAccFt", "feet", 0.3048),
        ("Horizontal Accuracy (FEET)", "feet", 0.3048),
        ("accuracy_km", "km", 1000),
        ("radius_yd", "yards", 0.9144),
    ],
)
def test_a_file_lacking_accuracy_m_is_not_told_to_rename_feet_as_metres(
    tmp_path: Path, column: str, unit: str, factor: float
) -> None:
    # Renamed as the refusal said, a column of feet would be read as metres: radii 3.28 times
    # what they are. The refusal says which unit the name says, and the factor to metres.
    path = tmp_path / "fleet.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(
            [
                ["id", "lon", "lat", column, "observed_at"],
                ["a", 18.07, 59.33, 33, "2026-05-04T12:00Z"],
            ]
        )
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert f"its name says {unit}, not metres: multiply its values by {factor:g}" in message
    pa = pytest.importorskip("pyarrow")
    from geotarget._positions_arrow import positions_from_arrow

    table = pa.table({"id": ["a"], "lon": [18.07], "lat": [59.33], column: [33.0]})
    with pytest.raises(InvalidInput, match=f"multiply its values by {factor:g}"):
        positions_from_arrow(table, observed_at=dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc))


@pytest.mark.parametrize("column", ["hAcc", "accuracy_metres", "hacc_m", "timestamp_ms"])
def test_a_column_named_in_metres_or_without_a_unit_gets_no_unit_hint(
    tmp_path: Path, column: str
) -> None:
    path = tmp_path / "fleet.csv"
    path.write_text(f"id,lon,lat,{column},observed_at\na,18.07,59.33,3,2026-05-04T12:00Z\n")
    with pytest.raises(InvalidInput, match=f"its unknown columns: '{column}'") as err:
        read(path)
    assert "multiply" not in str(err.value)


# ---------------------------------------------------------------------------------------------
# An accuracy of 0 among real radii: Android's "no accuracy"
# ---------------------------------------------------------------------------------------------


def test_zero_accuracies_among_real_radii_are_pointed_out(tmp_path: Path) -> None:
    # A backend storing Android's Location.getAccuracy(): 0.0 where the location has none.
    path = tmp_path / "android.csv"
    path.write_text(
        "id,lon,lat,accuracy,observed_at\n"
        "a,18.0712,59.3325,12.5,2026-05-04T12:00:00Z\n"
        "b,18.0713,59.3326,0.0,2026-05-04T12:00:00Z\n"
        "c,18.0714,59.3327,3.9,2026-05-04T12:00:00Z\n"
        "d,18.0715,59.3328,0,2026-05-04T12:00:00Z\n"
        "e,,,,2026-05-04T12:00:00Z\n",
        encoding="utf-8",
    )
    with path.open(newline="", encoding="utf-8") as f:
        zeros = [i + 1 for i, r in enumerate(csv.DictReader(f)) if r["accuracy"] in ("0", "0.0")]
    assert zeros == [2, 4]
    positions, report = read(path)
    assert positions.accuracy_m.tolist()[:4] == [12.5, 0.0, 3.9, 0.0]  # read as written
    (note,) = report.notes
    assert note.startswith("2 of 4 fixes (the first at row 2 (line 3)) have accuracy_m 0")
    assert "Location.getAccuracy()" in note


def test_a_file_of_exact_fixes_alone_gets_no_zero_accuracy_note(tmp_path: Path) -> None:
    path = tmp_path / "sirens.csv"
    path.write_text(
        HEADER + "a,18.0712,59.3325,0,2026-05-04T12:00:00Z\nb,18.08,59.34,0,2026-05-04T12:00:00Z\n",
        encoding="utf-8",
    )
    assert read(path)[1].notes == ()
    path.write_text(
        "id,lon,lat,observed_at\na,18.0712,59.3325,2026-05-04T12:00:00Z\n", encoding="utf-8"
    )
    assert read(path, accuracy_m=0.0)[1].notes == ()  # the option says so: exact


# ---------------------------------------------------------------------------------------------
# DOS's end-of-file mark
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("last_line_end", ["\r\n", ""])
def test_files_joined_by_windows_copy_end_at_its_ctrl_z(tmp_path: Path, last_line_end: str) -> None:
    # `copy part1.csv+part2.csv all.csv` joins in ASCII mode and appends Ctrl-Z (0x1A).
    part1 = HEADER.replace("\n", "\r\n") + "a,18.0712,59.3325,12,2026-05-04T12:00:00Z\r\n"
    part2 = "b,18.0713,59.3326,15,2026-05-04T12:00:00Z" + last_line_end
    path = tmp_path / "all.csv"
    path.write_bytes((part1 + part2).encode("ascii") + b"\x1a")
    # The oracle: the csv module reads the two rows and a last record of the Ctrl-Z.
    with path.open(newline="", encoding="ascii") as f:
        records = list(csv.reader(f))
    assert records[1][0] == "a"
    assert records[-1] in (["\x1a"], ["b", "18.0713", "59.3326", "15", "2026-05-04T12:00:00Z\x1a"])
    positions, report = read(path)
    assert report.rows == 2
    assert positions.ids.tolist() == ["a", "b"]
    assert positions.accuracy_m.tolist() == [12.0, 15.0]


# ---------------------------------------------------------------------------------------------
# Ids that are one text in two Unicode forms
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("caf\u00e9-7", "cafe\u0301-7"),  # NFC and NFD, as a macOS-side export writes it
        ("\u00c5sa", "\u212bsa"),  # Å and the ANGSTROM SIGN
        ("\u212a9", "K9"),  # the KELVIN SIGN, whose NFC is ASCII's K
    ],
)
def test_ids_that_are_one_text_in_two_unicode_forms_are_refused(
    tmp_path: Path, one: str, other: str
) -> None:
    import unicodedata

    from geotarget import Positions
    from geotarget.errors import InvalidPositions

    # The oracle: distinct as written, one text by Unicode's canonical equivalence.
    assert one != other
    assert unicodedata.normalize("NFC", one) == unicodedata.normalize("NFC", other)
    path = tmp_path / "merged.csv"
    path.write_text(
        HEADER
        + "z,18.0700,59.3300,10,2026-05-04T12:00:00Z\n"
        + f"{one},18.0712,59.3325,12,2026-05-04T12:00:00Z\n"
        + f"{other},18.0999,59.3001,15,2026-05-04T12:05:00Z\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidPositions, match="ids must be unique") as err:
        read(path)
    assert ascii(one) in str(err.value) and ascii(other) in str(err.value)
    now = dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc)
    with pytest.raises(InvalidPositions, match="one text in two Unicode forms"):
        Positions(
            [other, "y", one], [18.0, 18.1, 18.2], [59.0] * 3, accuracy_m=[1.0] * 3, observed_at=now
        )


def test_ids_differing_in_case_or_in_form_alone_stay_verbatim(tmp_path: Path) -> None:
    from geotarget import Positions

    now = dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc)
    ids = ["ABC", "abc", "cafe\u0301", "Zoe\u0308"]  # NFD ids alone are no duplicates
    positions = Positions(ids, [18.0] * 4, [59.0] * 4, accuracy_m=[1.0] * 4, observed_at=now)
    assert positions.ids.tolist() == ids


@pytest.mark.parametrize(
    "ids",
    [
        [1, None],
        ["a", None],
    ],
    ids=["int64", "string"],
)
def test_a_null_id_in_an_arrow_table_is_named_missing_not_empty(ids: list[Any]) -> None:
    """A null is no empty text: "must not be empty (got '')" named a value the table lacks."""
    import pyarrow as pa

    from geotarget._positions_arrow import positions_from_arrow

    t0 = dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc)
    table = pa.table(
        {
            "id": pa.array(ids),
            "lon": [18.0, 18.1],
            "lat": [59.0, 59.1],
            "observed_at": pa.array([t0, t0], pa.timestamp("us", tz="UTC")),
        }
    )
    with pytest.raises(InvalidPositions, match=r"row 2, column id: must not be missing \(got null"):
        positions_from_arrow(table)


def test_binary_ids_are_told_how_to_read_them_as_text() -> None:
    """Older Spark and Impala write string ids as Parquet binary: the refusal says the way out."""
    import pyarrow as pa

    from geotarget._positions_arrow import positions_from_arrow

    t0 = dt.datetime(2026, 5, 4, 12, tzinfo=dt.timezone.utc)
    table = pa.table(
        {
            "id": pa.array([b"a", b"b"], pa.binary()),
            "lon": [18.0, 18.1],
            "lat": [59.0, 59.1],
            "accuracy_m": [10.0, 10.0],
            "observed_at": pa.array([t0, t0], pa.timestamp("us", tz="UTC")),
        }
    )
    with pytest.raises(InvalidPositions, match=r"got type binary\); binary values are bytes") as e:
        positions_from_arrow(table)
    assert "pyarrow.compute.cast(column, pyarrow.string())" in str(e.value)
    fixed = table.set_column(0, "id", table["id"].cast(pa.string()))
    assert positions_from_arrow(fixed).ids.tolist() == ["a", "b"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_the_reader_refuses_a_device_before_reading_it(tmp_path: Path) -> None:
    """The library's reader, not only the command: /dev/zero read whole never ends.

    (A ``.csv`` name linked to it was read until the process ran out of memory.) A name
    without a positions suffix (``/dev/stdin``) is refused for that, as before.
    """
    link = tmp_path / "fixes.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(InvalidInput, match=r"must be a file \(got a character device, "):
        read(link)
    with pytest.raises(InvalidInput, match=r"it has no suffix"):
        read(Path("/dev/zero"))
