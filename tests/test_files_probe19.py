"""Position files and the delivery store as an operator meets them, nineteenth probe.

Positions: pandas' Swedish export (``decimal=","``) of an id column that became floats, an
``--encoding`` of UTF-16 given for a UTF-8 file, and files written by the csv module in every
dialect at once (header aliases in any order, extra columns holding delimiters, quotes and line
breaks, UTF-16, CRLF, offsets of several zones). The delivery store: a SQLite store whose
claiming process is killed with SIGKILL between batches. Oracles are the values written and
this file's own bookkeeping, never geotarget's readers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geotarget._position_files import read
from geotarget.cli import main
from geotarget.errors import InvalidInput, InvalidPositions
from geotarget.ledger import SQLiteLedger

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"
AT = "2024-05-20T16:05+02:00"
UTC = dt.timezone.utc

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)


# -- pandas' decimal-comma floats as ids -------------------------------------------------------

#: What ``df.to_csv(sep=";", decimal=",", index=False)`` writes for an integer id column that
#: became float64 (pandas does so once the column has a missing value), as pandas 2 writes it.
PANDAS_SWEDISH = (
    "id;lon;lat;accuracy_m;observed_at\n"
    "7,0;18,06528;59,3325;8,5;2024-05-20T16:00:00+02:00\n"
    "12,0;18,2;59,3325;9,0;2024-05-20T16:00:00+02:00\n"
)


def test_float_ids_with_a_decimal_comma_are_refused_as_with_a_point(tmp_path: Path) -> None:
    """Ids ``7,0`` and ``12,0`` (pandas' decimal=",") are refused as ``7.0`` and ``12.0`` are."""
    comma = tmp_path / "comma.csv"
    comma.write_text(PANDAS_SWEDISH, encoding="utf-8")
    point = tmp_path / "point.csv"
    point.write_text(
        PANDAS_SWEDISH.replace(",", ".").replace(";", ","), encoding="utf-8"
    )  # the same file as pandas writes it by default
    for path, shown in ((comma, "'7,0'"), (point, "'7.0'")):
        with pytest.raises(InvalidPositions) as err:
            read(path)
        text = str(err.value)
        assert f"{path.name}: row 1 (line 2), column id:" in text
        assert "integer written as a float" in text and text.endswith(f"(got {shown})")


def test_text_ids_ending_in_comma_zero_are_read_unless_all_are_floats(tmp_path: Path) -> None:
    """Only a column of nothing but float-written integers is refused: ``7,0`` beside ``x`` is text."""
    path = tmp_path / "mixed.csv"
    path.write_text(
        PANDAS_SWEDISH.replace("12,0;", "x;") + '"3,5";18,1;59,3;1;2024-05-20T14:00Z\n',
        encoding="utf-8",
    )
    positions, _ = read(path)
    assert [str(i) for i in positions.ids] == ["7,0", "x", "3,5"]
    assert positions.accuracy_m.tolist() == [8.5, 9.0, 1.0]


@needs_examples
def test_the_command_refuses_pandas_swedish_float_ids_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command exits 2 with one line naming file, row, column and value; nothing on stdout."""
    path = tmp_path / "export.csv"
    path.write_text(PANDAS_SWEDISH, encoding="utf-8")
    out = io.StringIO()
    argv = ["target", "--alert", str(ALERT), "--positions", str(path), "--at", AT]
    assert main(argv, out=out) == 2
    err = capsys.readouterr().err
    assert out.getvalue() == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "export.csv: row 1 (line 2), column id:" in err and "'7,0'" in err


# -- --encoding utf-16 for a file that is not -------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "UTF-16BE", "utf-32", "utf_32_le"])
def test_a_wide_encoding_given_for_a_file_without_nul_bytes_is_named(
    encoding: str, tmp_path: Path
) -> None:
    """UTF-8 text read as UTF-16 or UTF-32 is refused naming --encoding, not as a CJK header."""
    path = tmp_path / "devices.csv"
    path.write_text(PANDAS_SWEDISH.replace("7,0", "a").replace("12,0", "b"), encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, encoding=encoding)
    text = str(err.value)
    assert text.startswith("devices.csv: holds no NUL byte")
    assert f"--encoding {encoding} is not the file's encoding" in text
    assert "lacks column" not in text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32-be"])
def test_a_wide_file_with_the_encoding_given_is_still_read(encoding: str, tmp_path: Path) -> None:
    """A real UTF-16 or UTF-32 file (BOM or not, as the codec writes) reads with --encoding."""
    path = tmp_path / "devices.csv"
    text = PANDAS_SWEDISH.replace("7,0", "å1").replace("12,0", "ö2")
    path.write_bytes(text.encode(encoding))
    positions, _ = read(path, encoding=encoding)
    assert [str(i) for i in positions.ids] == ["å1", "ö2"]
    assert positions.lon.tolist() == [18.06528, 18.2]


# -- a file cut short inside its last row -------------------------------------------------------

_CUT = "id;lon;lat;accuracy_m;observed_at\r\na;18,06;59,33;8;2024-05-20T14:00Z\r\nb;18,07;59"


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        (_CUT, True),  # an interrupted download: the last row stops mid-cell, no line end
        (_CUT + "\r\n", False),  # a row short of cells, ended: not cut, not said to be
        (_CUT.replace("\r\nb;", '\r\nb;"x\r\ny";'), True),  # its last cell spans lines
    ],
)
def test_a_last_row_short_of_cells_without_a_line_end_is_said_cut_short(
    text: str, cut: bool, tmp_path: Path
) -> None:
    """The refusal of a short last row says the file may be cut short only when it ends there."""
    path = tmp_path / "devices.csv"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(InvalidInput) as err:
        read(path)
    message = str(err.value)
    assert message.startswith("devices.csv: row 2 (line 3): has ")
    assert ("was the file cut short" in message) is cut
    assert "59" not in message.split("(delimiter")[0]  # no cell is quoted: a position


# -- one id in two Unicode forms, named at the file's rows --------------------------------------


def test_ids_in_two_unicode_forms_are_named_at_the_file_s_rows_and_lines(tmp_path: Path) -> None:
    """``Pär`` written NFC on line 3 and NFD on line 5 (after a blank line): row 3 (line 5)."""
    nfc, nfd = "P\u00e4r", "Pa\u0308r"
    path = tmp_path / "merged.csv"
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        "z,18.07,59.33,10,2026-05-04T12:00:00Z\n"
        f"{nfc},18.0712,59.3325,12,2026-05-04T12:00:00Z\n"
        "\n"
        f"{nfd},18.0999,59.3001,15,2026-05-04T12:05:00Z\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidPositions) as err:
        read(path)
    text = str(err.value)
    assert text.startswith("merged.csv: row 3 (line 5), column id: ids must be unique")
    assert "row 2 (line 3)" in text and "counted from 0" not in text
    assert ascii(nfc) in text and ascii(nfd) in text


# -- a report, a picture or an archive given as positions ----------------------------------------

#: The first bytes each format's specification fixes, then bytes as such a file goes on.
_NOT_CSV = {
    "a PDF document": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n",
    "a PNG image": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(1, 120)),
    "a JPEG image": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(1, 120)),
    "a GIF image": b"GIF89a\x01\x00\x01\x00\x80" + bytes(range(1, 120)),
    "a 7-Zip archive": b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(range(1, 120)),
    "a RAR archive": b"Rar!\x1a\x07\x01\x00" + bytes(range(1, 120)),
}


@pytest.mark.parametrize("what", sorted(_NOT_CSV))
def test_a_report_picture_or_archive_given_as_csv_is_named_as_such(
    what: str, tmp_path: Path
) -> None:
    """Named for what it is, not refused as text of another encoding (a PNG: "cp850?")."""
    path = tmp_path / "devices.csv"
    path.write_bytes(_NOT_CSV[what])
    with pytest.raises(InvalidInput) as err:
        read(path)
    assert str(err.value).startswith(f"devices.csv: is not CSV text but {what};")
    assert "--encoding" not in str(err.value)


@needs_examples
def test_the_command_names_a_screenshot_given_as_positions_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PNG saved as devices.csv: exit 2, one line on stderr, nothing on stdout."""
    path = tmp_path / "devices.csv"
    path.write_bytes(_NOT_CSV["a PNG image"])
    out = io.StringIO()
    argv = ["target", "--alert", str(ALERT), "--positions", str(path), "--at", AT]
    assert main(argv, out=out) == 2
    err = capsys.readouterr().err
    assert out.getvalue() == "" and err.count("\n") == 1
    assert "devices.csv: is not CSV text but a PNG image" in err


# -- memory: the text is held once ------------------------------------------------------------


def test_a_long_file_s_text_is_held_once_not_copied_to_find_its_header(tmp_path: Path) -> None:
    """Reading allocates under 1.75 times the file's text: the header line is found in place.

    One emoji in a note makes Python hold the whole text at 4 bytes a character; finding the
    delimiter by splitting off the first line copied all the rest too (2 times the text).
    """
    path = tmp_path / "notes.csv"
    rows = [f"d{i},18.{i:06d},59.{i:06d},10,2024-05-20T14:00:00Z,{'n' * 800}" for i in range(5000)]
    text = "\n".join(
        ["id,lon,lat,accuracy_m,observed_at,note", *rows, "e,18,59,1,1716213600,\U0001f600"]
    )
    path.write_text(text + "\n", encoding="utf-8")
    text_bytes = 4 * len(text)  # (every character as wide as the widest)
    tracemalloc.start()
    try:
        positions, _ = read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(positions) == 5001
    assert peak < 1.75 * text_bytes, (peak, text_bytes)


# -- every dialect at once, against the values written ---------------------------------------

_ALIASES = {
    "id": ["id", "ID", " Id ", "device_id", "DEVICE_ID"],
    "lon": ["lon", "Lon", "LONGITUDE", "lng", "long ", "longitud", "Längdgrad"],
    "lat": ["lat", "LAT", "Latitude", "latitud", "Breddgrad"],
    "accuracy_m": ["accuracy_m", "accuracy", "horizontalAccuracy", "Accuracy_M"],
    "observed_at": ["observed_at", "Observed_At"],
}
_ID_TEXT = st.text(alphabet="0123456789åÖé-_ab", min_size=1, max_size=12)
_ROW = st.tuples(
    st.one_of(
        st.none(), st.tuples(st.integers(-1_800_000, 499_999), st.integers(-900_000, 900_000))
    ),
    st.integers(0, 500_000),  # accuracy in centimetres (lon < 50: never read as swapped)
    st.integers(1_000_000_000, 4_000_000_000),  # epoch seconds
    st.integers(0, 999_999),  # microseconds
    st.sampled_from([0, 60, 120, -300, 330]),  # the offset written, in minutes
    st.sampled_from(["x", "a;b,c", 'q"q', "two\nlines", "", "ünï"]),  # an extra column's text
)


@settings(max_examples=30, deadline=None)
@given(
    ids=st.lists(_ID_TEXT, min_size=1, max_size=12, unique=True),
    rows=st.lists(_ROW, min_size=12, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
    comma=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
    eol=st.sampled_from(["\n", "\r\n"]),
    quote_all=st.booleans(),
    order=st.permutations(["id", "lon", "lat", "accuracy_m", "observed_at", "note"]),
    names=st.tuples(*(st.sampled_from(v) for v in _ALIASES.values())),
    ending=st.sampled_from(["", "\n", "\n\n"]),
)
def test_files_in_any_dialect_read_as_written(
    ids: list[str],
    rows: list[tuple[tuple[int, int] | None, int, int, int, int, str]],
    delimiter: str,
    comma: bool,
    encoding: str,
    eol: str,
    quote_all: bool,
    order: list[str],
    names: tuple[str, ...],
    ending: str,
) -> None:
    """Header aliases in any order, extra cells, quoting, encodings and offsets read as written."""
    comma = comma and delimiter != ","
    header = dict(zip(_ALIASES, names, strict=True)) | {"note": "note"}
    buf = io.StringIO()
    writer = csv.writer(
        buf,
        delimiter=delimiter,
        lineterminator=eol,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow([header[c] for c in order])
    want = []
    for device, (fix, acc_cm, epoch, us, offset, note) in zip(ids, rows, strict=False):
        instant = dt.datetime.fromtimestamp(epoch, UTC) + dt.timedelta(microseconds=us)
        local = instant.astimezone(dt.timezone(dt.timedelta(minutes=offset))).isoformat()
        lon = lat = acc = float("nan")
        if fix is not None:
            lon, lat, acc = fix[0] / 10_000, fix[1] / 10_000, acc_cm / 100

        def number(x: float) -> str:
            shown = "" if np.isnan(x) else repr(x)
            return shown.replace(".", ",") if comma else shown

        cells = {
            "id": device,
            "lon": number(lon),
            "lat": number(lat),
            "accuracy_m": number(acc),
            "observed_at": local,
            "note": note,
        }
        writer.writerow([cells[c] for c in order])
        want.append((device, lon, lat, acc, np.datetime64(instant.replace(tzinfo=None), "us")))
    text = buf.getvalue().removesuffix(eol) + ending.replace("\n", eol)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return  # (cp1252 has every letter here, but keep the test honest if that changes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "devices.csv"
        path.write_bytes(data)
        positions, report = read(path)
    assert report.rows == len(want)
    assert report.unknown_columns == ("note",)
    assert [str(i) for i in positions.ids] == [w[0] for w in want]
    for got, k in ((positions.lon, 1), (positions.lat, 2), (positions.accuracy_m, 3)):
        np.testing.assert_array_equal(np.asarray(got), np.array([w[k] for w in want]))
    assert np.asarray(positions.observed_at).tolist() == [w[4].tolist() for w in want]


# -- the delivery store killed mid-sequence ---------------------------------------------------

_CLAIMER = r"""
import datetime as dt, os, sys
from geotarget.ledger import SQLiteLedger
T = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
store = SQLiteLedger(sys.argv[1])
batch = 0
while True:
    devices = [f"{batch:05d}-{i:04d}" for i in range(1000)]
    claims = store.claim("s@x/A", devices, version="s@x/A", at=T, lease=dt.timedelta(seconds=30))
    os.write(1, f"claimed {batch} {len(claims)}\n".encode())
    store.confirm(claims.keys()[::2], at=T)
    os.write(1, f"confirmed {batch}\n".encode())
    batch += 1
"""


def test_a_store_killed_between_claims_keeps_each_batch_whole(tmp_path: Path) -> None:
    """After SIGKILL, every batch claimed is there whole; half of those confirmed come back."""
    db = tmp_path / "deliveries.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", _CLAIMER, str(db)], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stdout is not None
        said = [child.stdout.readline().split() for _ in range(9)]
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        said += [line.split() for line in child.stdout.read().splitlines()]
    claimed = {int(s[1]) for s in said if s[0] == "claimed"}
    confirmed = {int(s[1]) for s in said if s[0] == "confirmed"}
    assert all(int(s[2]) == 1000 for s in said if s[0] == "claimed")

    t = dt.datetime(2026, 5, 4, 21, 30, tzinfo=UTC)
    store = SQLiteLedger(db)
    try:
        due = [d for c in store.redeliver(t + dt.timedelta(minutes=5)) for d in c.devices.tolist()]
        per_batch: dict[int, int] = {}
        for device in due:
            per_batch[int(device[:5])] = per_batch.get(int(device[:5]), 0) + 1
        last = max(claimed)
        for batch in claimed:
            # The batch being confirmed when killed is whole either way: all or half due.
            whole = {500} if batch in confirmed else {1000} if batch != last else {500, 1000}
            assert per_batch.pop(batch) in whole, batch
        # A claim committed but not yet reported: one batch more, whole and unconfirmed.
        assert list(per_batch.values()) in ([], [1000]), per_batch
        keys = [f"s@x/A s@x/A {d}" for d in due]
        assert len(store.confirm(keys, at=t).confirmed) == len(due)
        assert store.redeliver(t + dt.timedelta(hours=1)) == []
    finally:
        store.close()
