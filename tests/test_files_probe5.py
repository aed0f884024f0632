"""Position files, fifth probe: what operators' exports hold that is valid but wrong.

Each test writes a file the way a real tool writes it (Excel in a Swedish locale, pandas,
pyarrow) and checks what the command and the reader make of it against an oracle of its own:
the true positions the test started from, pyproj's geodesic distances, plain Python.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Geod

from geotarget import Circle, Positions, cap, pilot
from geotarget._position_files import read
from geotarget.cli import main
from geotarget.errors import InvalidInput, InvalidPositions

UTC = dt.timezone.utc
AT = dt.datetime(2024, 4, 15, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
GEOD = Geod(ellps="WGS84")
#: Sergels torg (places_wgs84.csv), the centre of the alert and of the devices around it.
CENTRE = (18.06528, 59.3325)


def _true_positions(n: int, seed: int = 61) -> list[tuple[float, float]]:
    """``n`` devices within about 1.5 km of Sergels torg, at full precision."""
    rng = np.random.default_rng(seed)
    lon = CENTRE[0] + rng.uniform(-0.025, 0.025, n)
    lat = CENTRE[1] + rng.uniform(-0.012, 0.012, n)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _excel_sv(rows: list[tuple[str, str, str, str]]) -> bytes:
    """Excel "CSV UTF-8 (kommaavgränsad)" in a Swedish locale: BOM, ';', decimal comma, CRLF."""
    lines = ["id;lat;lon;accuracy_m;observed_at"]
    lines += [f"{i};{lat};{lon};{acc};2024-04-15 13:58" for i, lon, lat, acc in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def _shown(value: float, decimals: int) -> str:
    """A cell formatted to show ``decimals`` decimals, as Swedish Excel writes it."""
    return f"{value:.{decimals}f}".replace(".", ",")


def _alert(tmp_path: Path) -> Path:
    msg = pilot.Message(headline="Explosion", description="Risk", area_description="Here")
    alert = pilot.explosion(
        identifier="probe5-1",
        sender="polisen@example.se",
        sent=AT,
        area=Circle(*CENTRE, 500.0),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    path = tmp_path / "alert.xml"
    path.write_text(cap.dumps(alert), encoding="utf-8")
    return path


def _target(tmp_path: Path, positions: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["target", "--alert", str(_alert(tmp_path)), "--positions", str(positions)]
    with contextlib.redirect_stderr(err):
        code = main(
            [*argv, "--at", AT.isoformat(), "--timezone", "Europe/Stockholm", *extra], out=out
        )
    return code, (json.loads(out.getvalue()) if out.getvalue() else {}), err.getvalue()


def _half_diagonal_m(points: list[tuple[float, float]], half_lon: float, half_lat: float) -> float:
    """The farthest a rounding to the grid moved any of ``points`` (pyproj, to every corner)."""
    far = 0.0
    for lon, lat in points:
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                _, _, d = GEOD.inv(lon, lat, lon + sx * half_lon, lat + sy * half_lat)
                far = max(far, d)
    return far


def _shift_in(text: str) -> float:
    found = re.search(r"moves a fix by up to ([\d,]+) m", text)
    assert found, text
    return float(found.group(1).replace(",", ""))


# --- coordinates a spreadsheet rounded as it showed them ---------------------------------------


def test_an_excel_export_of_coordinates_shown_with_two_decimals_is_warned_of(
    tmp_path: Path,
) -> None:
    """Swedish Excel wrote lat/lon formatted ``0,00``: 59,33 for 59,3325, and nothing said so.

    The devices' true positions are known here; the file claims 5 m. The command read it
    without a word, and its answer was the rounded file's: devices moved by up to about 600 m
    in or out of a 500 m Explosion. It now warns, on stderr and in the JSON's warnings, naming
    the grid, the farthest the rounding moves a fix (pyproj's distance from a grid point to
    its cell's corners) and how many fixes claim less — never a position.
    """
    true = _true_positions(40)
    rounded = [(round(lon, 2), round(lat, 2)) for lon, lat in true]
    path = tmp_path / "export.csv"
    path.write_bytes(
        _excel_sv([(str(i), _shown(x, 2), _shown(y, 2), "5") for i, (x, y) in enumerate(true)])
    )
    code, answer, err = _target(tmp_path, path)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "grid" in line]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(
        "geotarget target: warning: export.csv: every fix's lon and lat lie on a grid of 0.01 "
        "degrees (2 decimals)"
    ), line
    assert "more than the accuracy_m of 40 of 40 fixes" in line
    assert abs(_shift_in(line) - _half_diagonal_m(rounded, 0.005, 0.005)) <= 2.0
    assert "59.3" not in line and "59,3" not in line and "18.0" not in line  # no position
    assert [w for w in answer["warnings"] if "grid" in str(w)] == [line.split("warning: ", 1)[1]]

    # The same devices exported with all their decimals: no such warning.
    precise = tmp_path / "precise.csv"
    precise.write_bytes(
        _excel_sv([(str(i), _shown(x, 6), _shown(y, 6), "5") for i, (x, y) in enumerate(true)])
    )
    code, answer, err = _target(tmp_path, precise)
    assert code == 0, err
    assert "grid" not in err and not [w for w in answer["warnings"] if "grid" in str(w)]


@pytest.mark.parametrize(
    ("decimals", "accuracy", "warned"),
    [
        (3, "30", True),  # 0.001 degrees moves a fix up to about 63 m here: more than 30 m
        (3, "100", False),  # ... within a 100 m accuracy: the rounding is no news
        (1, "1000", True),  # 0.1 degrees: up to about 6 km
        (4, "0", False),  # 0.0001 degrees moves a fix at most 6 m: not looked for
        (0, "50000", True),  # whole degrees: up to about 65 km
    ],
)
def test_rounding_is_warned_of_only_beyond_the_accuracy_the_file_claims(
    tmp_path: Path, decimals: int, accuracy: str, warned: bool
) -> None:
    """The grid is compared with the file's own accuracy_m, fix by fix."""
    true = _true_positions(25, seed=decimals)
    rounded = [(round(lon, decimals), round(lat, decimals)) for lon, lat in true]
    path = tmp_path / "p.csv"
    path.write_bytes(
        _excel_sv(
            [
                (str(i), _shown(x, decimals), _shown(y, decimals), accuracy)
                for i, (x, y) in enumerate(true)
            ]
        )
    )
    _, report = read(path, timezone="Europe/Stockholm")
    if not warned:
        assert report.notes == ()
        return
    (note,) = report.notes
    grid = "whole degrees" if decimals == 0 else f"{10.0**-decimals:g} degrees ({decimals} decimal"
    assert note.startswith(f"every fix's lon and lat lie on a grid of {grid}"), note
    half = 0.5 * 10.0**-decimals
    expected = _half_diagonal_m(rounded, half, half)
    assert expected - 1.0 <= _shift_in(note) <= expected * 1.005 + 1.0  # (whole metres)
    assert "more than the accuracy_m of 25 of 25 fixes" in note


def test_a_few_hand_written_rows_are_not_warned_of_but_ten_fixes_are(tmp_path: Path) -> None:
    """Rows such as ``59.3, 18.1`` in a small hand-written file are meant as written.

    Rows without a fix do not count toward the ten fixes the rule needs.
    """
    head = "id,lon,lat,accuracy_m,observed_at\n"
    fixes = [f"f{i},18.{i},59.3,5,2024-04-15T12:00:00Z\n" for i in range(9)]
    no_fix = [f"n{i},,,,\n" for i in range(5)]
    small = tmp_path / "small.csv"
    small.write_text(head + "".join(fixes + no_fix), encoding="utf-8")
    assert read(small)[1].notes == ()
    ten = tmp_path / "ten.csv"
    ten.write_text(head + "".join([*fixes, "f9,18.9,59.4,5,2024-04-15T12:00:00Z\n", *no_fix]))
    (note,) = read(ten)[1].notes
    assert note.startswith("every fix's lon and lat lie on a grid of 0.1 degrees (1 decimal)")
    assert "of 10 of 10 fixes" in note


def test_a_latitude_column_alone_rounded_is_named_alone(tmp_path: Path) -> None:
    """Only the lat column was formatted ``0.00``; lon kept its decimals (en-US Excel)."""
    true = _true_positions(30, seed=7)
    lines = ["id,lon,lat,accuracy_m,observed_at"]
    lines += [f"d{i},{x:.6f},{y:.2f},8,2024-04-15T12:00:00Z" for i, (x, y) in enumerate(true)]
    path = tmp_path / "p.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig")
    (note,) = read(path)[1].notes
    assert note.startswith("every fix's lat lies on a grid of 0.01 degrees (2 decimals),"), note
    rounded = [(x, round(y, 2)) for x, y in true]
    assert abs(_shift_in(note) - _half_diagonal_m(rounded, 0.0, 0.005)) <= 2.0


def test_rounded_float32_parquet_and_an_accuracy_option_are_warned_of(tmp_path: Path) -> None:
    """Pandas' ``df.round(3).astype("float32")`` to Parquet, read with ``--accuracy-m 10``.

    float32 holds 59.333 as 59.33300018...: still the 0.001 grid. The radius the command was
    given for every fix is the accuracy the rounding contradicts.
    """
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    true = _true_positions(20, seed=3)
    table = pa.table(
        {
            "id": [f"p{i}" for i in range(len(true))],
            "lon": pa.array([round(x, 3) for x, _ in true], pa.float32()),
            "lat": pa.array([round(y, 3) for _, y in true], pa.float32()),
            "observed_at": pa.array(
                [dt.datetime(2024, 4, 15, 11, 58, tzinfo=UTC)] * len(true),
                pa.timestamp("us", "UTC"),
            ),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    code, answer, err = _target(tmp_path, path, "--accuracy-m", "10")
    assert code == 0, err
    (warning,) = [w for w in answer["warnings"] if "grid" in str(w)]
    assert str(warning).startswith(
        "p.parquet: every fix's lon and lat lie on a grid of 0.001 degrees (3 decimals)"
    )
    assert "more than the accuracy_m of 20 of 20 fixes" in str(warning)
    code, answer, err = _target(tmp_path, path, "--accuracy-m", "100")
    assert code == 0, err
    assert not [w for w in answer["warnings"] if "grid" in str(w)]


def test_a_library_caller_learns_of_rounding_from_the_snapshot() -> None:
    """Positions built in code (or by geotarget.dask.read_parquet) answer the same note."""
    true = _true_positions(12, seed=5)
    now = dt.datetime(2024, 4, 15, 12, tzinfo=UTC)
    ids = [str(i) for i in range(len(true))]
    rounded = Positions(
        ids,
        [round(x, 2) for x, _ in true],
        [round(y, 2) for _, y in true],
        accuracy_m=[5.0] * 11 + [5000.0],
        observed_at=now,
    )
    note = rounded.rounding_note()
    assert note is not None and "more than the accuracy_m of 11 of 12 fixes" in note
    precise = Positions(ids, [x for x, _ in true], [y for _, y in true], observed_at=now)
    assert precise.rounding_note() is None


# --- coordinates under other names and in other units -----------------------------------------


@pytest.mark.parametrize(
    ("lat_name", "lon_name"),
    [
        ("position_lat", "position_long"),  # Garmin's FIT SDK FitCSVTool
        ("location_lat", "location_lon"),
        ("geolocation_latitude", "geolocation_longitude"),
    ],
)
def test_columns_named_with_a_long_prefix_are_pointed_out(
    tmp_path: Path, lat_name: str, lon_name: str
) -> None:
    """``position_lat`` was not named as the lat it may be: ``pos`` took ``position``'s start.

    The prefix rule strips ``pos`` and ``loc``; ``position_lat`` left ``ition_lat`` and no
    hint, though the rule names ``position`` and ``location`` among its prefixes.
    """
    path = tmp_path / "p.csv"
    path.write_text(f"id,{lat_name},{lon_name},accuracy_m\na,1,2,5\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    assert f"{lat_name!r} may be lat; {lon_name!r} may be lon: rename the columns" in str(err.value)
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a"], lat_name: [1.0], lon_name: [2.0]}), parquet)
    with pytest.raises(InvalidInput) as err:
        read(parquet, observed_at=AT, accuracy_m=5.0)
    assert f"{lat_name!r} may be lat; {lon_name!r} may be lon" in str(err.value)


def test_google_e7_columns_are_named_with_their_divisor(tmp_path: Path) -> None:
    """Google's location history names its integer degrees ``latitudeE7``/``longitudeE7``."""
    lat, lon = CENTRE[1], CENTRE[0]
    e7 = (round(lat * 10**7), round(lon * 10**7))
    path = tmp_path / "records.csv"
    path.write_text(f"id,latitudeE7,longitudeE7,accuracy\nphone,{e7[0]},{e7[1]},12\n")
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    text = str(err.value)
    assert "'latitudeE7' and 'longitudeE7' hold degrees times 10,000,000" in text
    assert str(e7[0]) not in text  # a position is never quoted
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "records.parquet"
    pq.write_table(pa.table({"id": ["a"], "latitudeE7": [e7[0]], "longitudeE7": [e7[1]]}), parquet)
    with pytest.raises(InvalidInput) as err:
        read(parquet, observed_at=AT, accuracy_m=5.0)
    assert "'latitudeE7' and 'longitudeE7' hold degrees times 10,000,000" in str(err.value)


def _semicircles(degrees: float) -> int:
    return round(degrees * 2**31 / 180)


@pytest.mark.parametrize(
    ("lon", "lat", "integers"),
    [
        (round(CENTRE[0] * 10**7), round(CENTRE[1] * 10**7), True),  # E7 under lon/lat
        (round(CENTRE[0] * 10**6), round(CENTRE[1] * 10**6), True),  # microdegrees
        (_semicircles(CENTRE[0]), _semicircles(CENTRE[1]), True),  # Garmin FIT, renamed
        (674_032, 6_580_822, False),  # SWEREF 99 TM of Sergels torg (pyproj below)
        (2_011_015, 8_275_000, False),  # Web Mercator, about Stockholm
        (2_358_000, 10_396_000, False),  # Web Mercator of Kiruna: a northing beyond 10**7
    ],
)
def test_degrees_scaled_to_integers_are_not_called_projected_metres(
    tmp_path: Path, lon: int, lat: int, integers: bool
) -> None:
    """Google's E7 degrees under lon/lat were called "metres in ... SWEREF 99 TM".

    Converting 593325000 from SWEREF 99 TM, as the hint said, gives nonsense: no projected
    grid's metres in Sweden reach 10,000,000 in both coordinates. Scaled integers are now
    named as such; metres keep their hint.
    """
    if not integers:
        from pyproj import Transformer

        back = Transformer.from_crs(3006 if lon < 10**6 else 3857, 4326, always_xy=True)
        x, y = back.transform(lon, lat)
        assert 10 < x < 25 and 55 < y < 69  # these metres are in Sweden
    path = tmp_path / "p.csv"
    path.write_text(f"id,lon,lat,accuracy_m\na,{lon},{lat},5\n", encoding="utf-8")
    with pytest.raises(InvalidPositions) as err:
        read(path, observed_at=AT)
    text = str(err.value)
    assert text.startswith("p.csv: row 1 (line 2), column lon: must lie within [-180, 180]")
    assert ("degrees written as integers?" in text) is integers, text
    assert ("metres in a projected system" in text) is not integers, text


# --- refusals that gave the wrong advice, or none ----------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_text_without_a_bom_is_told_its_own_byte_order(tmp_path: Path, codec: str) -> None:
    """Big-endian UTF-16 (Java's ``UTF-16BE`` writer) was told to give ``--encoding utf-16-le``.

    That advice read every character with its bytes swapped. The hint names the form the
    header's NUL bytes show, and that form reads the file.
    """
    path = tmp_path / "p.csv"
    path.write_bytes("id,lon,lat,accuracy_m\r\nPär,18.5,59.5,5\r\n".encode(codec))
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    assert str(err.value).endswith(
        f"holds NUL bytes, so it is no UTF-8 or cp1252 text ({codec.upper()} without a BOM? "
        f"give --encoding {codec})"
    )
    positions, _ = read(path, observed_at=AT, encoding=codec)
    assert positions.ids.tolist() == ["Pär"]


@pytest.mark.parametrize(
    "first", ["", ";;;", "\t"], ids=["empty line", "Excel's empty row", "tab row"]
)
def test_an_empty_first_row_before_the_header_names_the_header_line(
    tmp_path: Path, first: str
) -> None:
    """A sheet whose first row is empty exports an empty line (``;;;``) before the header.

    The refusal said the file "lacks column(s) id, lon, lat (has nothing)", not that line 2
    names them; a title line before the header was already told so.
    """
    path = tmp_path / "p.csv"
    path.write_bytes(f"{first}\r\nid;lon;lat;accuracy_m\r\na;18,5;59,5;5\r\n".encode("utf-8-sig"))
    with pytest.raises(InvalidInput) as err:
        read(path, observed_at=AT)
    assert "; line 2 names them: delete the line(s) before it (empty:" in str(err.value)


def test_a_log_of_fixes_per_device_is_told_to_keep_the_latest(tmp_path: Path) -> None:
    """A GPS logger's or a tracking system's log repeats a device's id, one row per fix."""
    path = tmp_path / "log.csv"
    path.write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        "truck7,18.0651,59.3321,5,2024-04-15T11:58:00Z\n"
        "truck7,18.0662,59.3330,5,2024-04-15T11:59:00Z\n"
    )
    with pytest.raises(InvalidPositions) as err:
        read(path)
    text = str(err.value)
    assert text.startswith("log.csv: row 2 (line 3), column id: ids must be unique (got 'truck7'")
    assert "keep each device's latest fix" in text
    assert "18.06" not in text and "59.33" not in text


@pytest.mark.parametrize("word", ["NULL", "N/A", "NaT", "#N/A", "None"])
def test_a_time_written_as_missing_is_told_to_leave_the_cell_empty(
    tmp_path: Path, word: str
) -> None:
    """lon, lat and accuracy_m written as ``NULL`` were told "or empty"; observed_at was not."""
    path = tmp_path / "p.csv"
    path.write_text(f"id,lon,lat,accuracy_m,observed_at\na,18.5,59.5,5,{word}\n")
    with pytest.raises(InvalidPositions) as err:
        read(path)
    assert "column observed_at: must be epoch seconds or an ISO 8601 date-time, or empty for " in (
        str(err.value)
    )
    assert str(err.value).endswith(f"(got {word!r})")
    path.write_text("id,lon,lat,accuracy_m,observed_at\na,18.5,59.5,5,\n")
    positions, _ = read(path)
    assert np.isnat(positions.observed_at[0])


@pytest.mark.parametrize(
    ("columns", "hint"),
    [
        (
            {"Lat (deg)": [59.3], "Lon (deg)": [18.0]},
            "'Lat (deg)' may be lat; 'Lon (deg)' may be lon",
        ),
        ({"latitudeE7": [593325000], "longitudeE7": [180652800]}, "hold degrees times 10,000,000"),
        ({"geometry": [b"\x01"]}, "a GeoParquet geometry column is not read"),
    ],
)
def test_the_librarys_parquet_reader_points_out_what_the_command_does(
    tmp_path: Path, columns: dict[str, list[Any]], hint: str
) -> None:
    """geotarget.dask.read_parquet said only "lacks column(s) lon, lat" for these columns."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from geotarget.dask import read_parquet

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a"], **columns}), path)
    with pytest.raises(InvalidInput) as err:
        read_parquet(path, observed_at=AT, accuracy_m=5.0)
    assert str(err.value).startswith("p.parquet: lacks column(s) lon, lat (has 'id', ")
    assert hint in str(err.value)
