"""The ``geotarget`` command: the demo, target/locate/preview, and one clear line on bad input."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from geotarget import Circle, Positions, cap, pilot
from geotarget._position_files import Report
from geotarget.cli import main

AT = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def run(*argv: str) -> tuple[int, str]:
    """Run the command in process; return its exit code and what it printed."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def write_alert(path: Path, lon: float = 18.06528, lat: float = 59.3325) -> Path:
    """Write an Explosion alert 500 m around a point as CAP XML."""
    msg = pilot.Message(headline="Explosion", description="Risk", area_description="Here")
    alert = pilot.explosion(
        identifier="cli-1",
        sender="polisen@example.se",
        sent=AT,
        area=Circle(lon, lat, 500.0),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    path.write_text(cap.dumps(alert), encoding="utf-8")
    return path


def test_demo_plays_the_whole_pilot() -> None:
    """The demo delivers the explosion and tips, blocks Göteborg with the reason, updates, cancels."""
    code, text = run("demo", "--devices", "30000")
    assert code == 0
    assert "1. Explosion" in text
    assert "DELIVER: explosion is enabled (NATIONWIDE, phase 1)" in text
    assert "Crime modus alerts are not enabled in Göteborg: phase 2" in text
    assert "starts 2024-09-02 00:00 Europe/Stockholm (illustrative date)" in text
    assert "BLOCKED (AREA_OUTSIDE_ROLLOUT): nobody is told" in text
    assert "CANCELLED: " in text
    assert "Cancel: everyone told about the explosion gets the all-clear" in text


def test_demo_draws_a_map(tmp_path: Path) -> None:
    """``--plot`` writes a PNG."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    png = tmp_path / "pilot.png"
    code, _ = run("demo", "--devices", "5000", "--plot", str(png))
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_target_writes_json(tmp_path: Path) -> None:
    """``target`` reads CAP and CSV and prints the result as JSON."""
    alert = write_alert(tmp_path / "alert.xml")
    csv = tmp_path / "positions.csv"
    csv.write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        "1,18.06528,59.3325,5,2024-05-20T12:00:00+00:00\n"
        "2,18.2,59.3325,5,2024-05-20T12:00:00+00:00\n",
        encoding="utf-8",
    )
    code, text = run(
        "target", "--alert", str(alert), "--positions", str(csv), "--at", AT.isoformat()
    )
    assert code == 0
    doc = json.loads(text)
    assert doc["verdict"] == "DELIVER"
    assert doc["recipients"] == ["1"]
    assert doc["counts"]["outside_area"] == 1
    assert doc["per_county"] == {"01": 1}
    # Phases are numbered from 1 in the JSON as in the reason's sentence.
    assert doc["phase"] == 1 and "phase 1)" in doc["reason"]
    assert doc["phase_illustrative"] is False


def test_target_defaults_to_the_shipped_pilot_and_numbers_phases_from_one(
    tmp_path: Path,
) -> None:
    """Without --policy, the shipped pilot decides: Göteborg tips in 2025 are phase 3 (illustrative)."""
    msg = pilot.Message(headline="Tips", description="Tips", area_description="Göteborg")
    at = dt.datetime(2025, 2, 3, 12, 0, tzinfo=dt.timezone.utc)
    alert = pilot.tip_request(
        identifier="cli-tips",
        sender="polisen@example.se",
        sent=at,
        area=Circle(11.97333, 57.70889, 500.0),
        sv=msg,
        en=msg,
        onset=at,
        expires=at + dt.timedelta(days=1),
    )
    path = tmp_path / "tips.xml"
    path.write_text(cap.dumps(alert), encoding="utf-8")
    csv = tmp_path / "positions.csv"
    csv.write_text("id,lon,lat\n1,11.97333,57.70889\n", encoding="utf-8")
    code, text = run(
        "target", "--alert", str(path), "--positions", str(csv), "--at", at.isoformat(),
        "--observed-at", at.isoformat(), "--accuracy-m", "10",
    )  # fmt: skip
    assert code == 0
    doc = json.loads(text)
    assert doc["verdict"] == "DELIVER" and doc["recipients"] == ["1"]
    assert doc["phase"] == 3 and "phase 3)" in doc["reason"]
    assert doc["phase_illustrative"] is True


def test_locate_names_every_level() -> None:
    """``locate`` prints the municipality, county, police region and country of a point."""
    code, text = run("locate", "18.06528", "59.3325")
    assert code == 0
    assert "municipality: 0180 Stockholm" in text
    assert "county: 01 Stockholms län" in text
    assert "country: SE Sverige" in text


def test_preview_summarises_and_draws(tmp_path: Path) -> None:
    """``preview`` prints the alert and its area, and draws it."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    alert = write_alert(tmp_path / "alert.xml")
    code, text = run("preview", str(alert), "--plot", str(tmp_path / "a.png"))
    assert code == 0
    assert "kind: explosion" in text
    assert "0.785 km²" in text
    assert (tmp_path / "a.png").is_file()


#: The cases of :func:`test_bad_input_gets_one_line_and_exit_2` run as a process of their own:
#: one of each command.
IN_A_PROCESS = {
    "alert file not found",
    "CAP document has",
    "lon must be a finite number >= -180 and <= 180 (got 200.0)",
}


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["preview", "missing.xml"], "alert file not found"),
        (["target", "--alert", "{bad}", "--positions", "p.csv"], "CAP document has"),
        (["target", "--alert", "{alert}", "--positions", "p.json"], "must be a .csv, .tsv"),
        (["target", "--alert", "{alert}", "--positions", "{nocols}"], "lacks column(s) lon, lat"),
        (
            ["target", "--alert", "{alert}", "--positions", "{csv}", "--at", "2024-05-20"],
            "--at must carry a UTC offset",
        ),
        (["locate", "200", "59"], "lon must be a finite number >= -180 and <= 180 (got 200.0)"),
        (["target", "--alert", "{swapped}", "--positions", "{csv}"], "swap"),
        (
            ["target", "--alert", "{alert}", "--positions", "{csv}"],
            "good.csv: has no observed_at column, so when its fixes were taken is unknown",
        ),
        (
            ["target", "--alert", "{alert}", "--positions", "{dated}", "--observed-at", "{at}"],
            "dated.csv: has an observed_at column, so --observed-at is not used",
        ),
        (
            ["target", "--alert", "{alert}", "--positions", "{csv}", "--observed-at", "noon"],
            "--observed-at must be an ISO 8601 date-time such as 2024-05-20T14:00:00+02:00 (or ...Z) (got 'noon')",
        ),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path, argv: list[str], fragment: str) -> None:
    """Bad files and arguments print one line on stderr, exit 2, and show no traceback.

    One case of each command runs ``python -m geotarget.cli`` as a process of its own (what a
    console shows); the others run the same ``main`` in this process (:func:`cli_here`).
    """
    bad = tmp_path / "bad.xml"
    bad.write_text("<alert>not cap</alert>", encoding="utf-8")
    nocols = tmp_path / "nocols.csv"
    nocols.write_text("id,x\n1,2\n", encoding="utf-8")
    good_csv = tmp_path / "good.csv"
    good_csv.write_text("id,lon,lat\n1,18.0,59.0\n", encoding="utf-8")
    (tmp_path / "p.txt").write_text("x", encoding="utf-8")
    (tmp_path / "p.json").write_text("x", encoding="utf-8")
    dated = tmp_path / "dated.csv"
    dated.write_text("id,lon,lat,observed_at\n1,18.0,59.0,2024-05-20T12:00:00+00:00\n")
    alert = write_alert(tmp_path / "alert.xml")
    subs = {
        "{bad}": str(bad),
        "{alert}": str(alert),
        "{nocols}": str(nocols),
        "{csv}": str(good_csv),
        "{dated}": str(dated),
        "{at}": AT.isoformat(),
        "{swapped}": str(write_alert(tmp_path / "swapped.xml", lon=59.3325, lat=18.06528)),
    }
    argv = [subs.get(a, a) for a in argv]
    if fragment in IN_A_PROCESS:
        done = subprocess.run(
            [sys.executable, "-m", "geotarget.cli", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
    else:
        done = cli_here(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert fragment in lines[0]


def test_target_reads_parquet_positions(tmp_path: Path) -> None:
    """``target`` reads positions from Parquet as well as CSV."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    alert = write_alert(tmp_path / "alert.xml")
    table = pa.table(
        {
            "id": ["near", "far"],
            "lon": [18.06528, 18.2],
            "lat": [59.3325, 59.3325],
            "accuracy_m": [5.0, 5.0],
            "observed_at": pa.array(
                [AT - dt.timedelta(minutes=5)] * 2, type=pa.timestamp("s", tz="UTC")
            ),
        }
    )
    pq.write_table(table, tmp_path / "positions.parquet")
    code, text = run(
        "target",
        "--alert",
        str(alert),
        "--positions",
        str(tmp_path / "positions.parquet"),
        "--at",
        AT.isoformat(),
    )
    assert code == 0
    assert json.loads(text)["recipients"] == ["near"]


# --- the files people have -------------------------------------------------------------------

NEAR = "18,06528"  # Sergels torg in decimal-comma form: inside the 500 m alert
FAR = "18,2"


def cli(*argv: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command in a subprocess, as a person would (``stdin``: what is piped in)."""
    return subprocess.run(
        [sys.executable, "-m", "geotarget", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def cli_here(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command in this process from ``cwd``: what :func:`cli` gives, in a tenth the time.

    The same ``main`` the ``geotarget`` command runs, its output and stderr captured, a usage
    error's exit code kept; a new interpreter costs seconds (numpy, GEOS, PROJ and the
    built-in regions' indexes), which this file's subprocess tests pay where the process
    itself is what they test (a traceback, a pipe, standard input).
    """
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err):
            try:
                code = main(list(argv), out=out)
            except SystemExit as stop:  # argparse's usage errors
                code = stop.code if isinstance(stop.code, int) else 2
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["geotarget", *argv], code, out.getvalue(), err.getvalue())


def cli_piped(*argv: str, cwd: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    """:func:`cli_here` with ``stdin`` piped in: standard input the read end of a real pipe.

    The bytes come through an ``os.pipe()`` as they do from a shell's ``|``, read by the same
    code; each test of standard input also runs :func:`cli` once, a real process reading its
    own standard input.
    """
    read, write = os.pipe()
    data = stdin.encode("utf-8")

    def feed() -> None:
        try:
            os.write(write, data)
        except BrokenPipeError:  # the command stopped reading (a refusal): as a shell's writer
            pass
        finally:
            os.close(write)

    writer = threading.Thread(target=feed)
    writer.start()
    saved = sys.stdin
    try:
        with open(read, encoding="utf-8") as piped:
            sys.stdin = piped
            return cli_here(*argv, cwd=cwd)
    finally:
        sys.stdin = saved
        writer.join(timeout=30)


def target_file(
    tmp_path: Path, name: str, data: bytes, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Target the Sergels torg alert over one positions file."""
    alert = write_alert(tmp_path / "alert.xml")
    (tmp_path / name).write_bytes(data)
    return cli_here(
        "target",
        "--alert",
        str(alert),
        "--positions",
        name,
        "--at",
        AT.isoformat(),
        *extra,
        cwd=tmp_path,
    )


EPOCH = str(int((AT - dt.timedelta(minutes=5)).timestamp()))  # five minutes before AT

#: A file without an accuracy column is read with --accuracy-m (never as exact fixes).
FILES_PEOPLE_HAVE = {
    # Swedish spreadsheet export: UTF-8 BOM, semicolons, decimal commas, epoch seconds, and an
    # extra column; phone-number ids with leading zeros; "007" and "7" are different devices.
    "swedish_excel": (
        "positions.csv",
        (
            "\ufeffID;Lon;Lat;accuracy_m;observed_at;speed_kmh\n"
            f"0701234567;{NEAR};59,3325;5;{EPOCH};3\n"
            f"007;{NEAR};59,3326;5;{EPOCH};0\n"
            f"7;{NEAR};59,3324;5;{EPOCH};\n"
            f"8;{FAR};59,3325;5;{EPOCH};\n"
        ).encode(),
        (),
        ["007", "0701234567", "7"],
    ),
    # A legacy Windows file (cp1252), tab-separated, ISO times with Z and with an offset.
    "cp1252_tabs": (
        "positions.txt",
        (
            "id\tlon\tlat\tobserved_at\n"
            "Åsa-ö\t18.06528\t59.3325\t2024-05-20T11:55:00Z\n"
            "Bo\t18.2\t59.3325\t2024-05-20T13:55:00+02:00\n"
        ).encode("cp1252"),
        ("--accuracy-m", "10"),
        ["Åsa-ö"],
    ),
    # Comma-separated with quoted decimal commas (every number's mark a comma, as the file's
    # one decimal mark must be), and ids with superscript digits.
    "quoted_decimal_comma": (
        "positions.csv",
        (
            "id,lon,lat,observed_at\n"
            f'"x²","{NEAR}","59,3325",{EPOCH}\n'
            f'"x2","{FAR}","59,3325",{EPOCH}\n'
            f'"²³","18,06528","59,3326","{EPOCH},5"\n'
        ).encode(),
        ("--accuracy-m", "10"),
        ["x²", "²³"],
    ),
    # Excel's dialect line "sep=;" before the header (CRLF line endings, a BOM), then an
    # old-Mac file (CR only) with the line "sep=," over comma-separated rows.
    "excel_sep_line": (
        "positions.csv",
        (
            "\ufeffsep=;\r\nid;lon;lat;observed_at\r\n"
            f"e1;{NEAR};59,3325;{EPOCH}\r\ne2;{FAR};59,3325;{EPOCH}\r\n"
        ).encode(),
        ("--accuracy-m", "10"),
        ["e1"],
    ),
    "excel_sep_comma_cr": (
        "positions.csv",
        f"sep=,\rid,lon,lat,observed_at\rc1,18.06528,59.3325,{EPOCH}\r".encode(),
        ("--accuracy-m", "10"),
        ["c1"],
    ),
    # UTF-16 big-endian with a BOM, CRLF, a header in odd case and spacing, a quoted id holding
    # the delimiter and a newline, ISO times with an offset and with Z, a trailing blank line.
    "utf16_be_odd_header": (
        "positions.csv",
        (
            "\ufeff ID ;Lon; LAT ;Observed_At\r\n"
            f'"a;b\r\nc";{NEAR};59,3325;2024-05-20T15:55:00+02:00\r\n'
            f"far;{FAR};59,3325;2024-05-20T13:55:00Z\r\n\r\n"
        ).encode("utf-16-be"),
        ("--accuracy-m", "10"),
        ["a;b\r\nc"],
    ),
    # Excel's "Unicode text": UTF-16 with a BOM, tab-separated.
    "utf16_excel": (
        "positions.txt",
        f"id\tlon\tlat\tobserved_at\nä1\t18.06528\t59.3325\t{EPOCH}\n".encode("utf-16"),
        ("--accuracy-m", "10"),
        ["ä1"],
    ),
    # latin-1 named explicitly (0x81 is undefined in cp1252, so detection alone refuses it).
    "explicit_latin1": (
        "positions.csv",
        f"id,lon,lat,observed_at\nid\x81,18.06528,59.3325,{EPOCH}\n".encode("latin-1"),
        ("--encoding", "latin-1", "--accuracy-m", "10"),
        ["id\x81"],
    ),
    # Naive local times, read in the zone the user names.
    "naive_with_timezone": (
        "positions.csv",
        b"id,lon,lat,observed_at\nn,18.06528,59.3325,2024-05-20 13:55:00\n",
        ("--timezone", "Europe/Stockholm", "--accuracy-m", "10"),
        ["n"],
    ),
    # An export from another system: device_id, latitude before longitude (the names, not the
    # order, decide), and lng in a second file.
    "latitude_longitude_export": (
        "positions.csv",
        (
            "Device_ID,Latitude,Longitude,observed_at\n"
            f"d1,59.3325,18.06528,{EPOCH}\nd2,59.3325,18.2,{EPOCH}\n"
        ).encode(),
        ("--accuracy-m", "10"),
        ["d1"],
    ),
    "lat_lng_export": (
        "positions.csv",
        f"id;lat;lng;observed_at\ng1;59,3325;{NEAR};{EPOCH}\ng2;59,3325;{FAR};{EPOCH}\n".encode(),
        ("--accuracy-m", "10"),
        ["g1"],
    ),
    # Excel in a Swedish locale with Swedish headers (cp1252, semicolons, decimal commas), and
    # the same with the older words for them; "long" as many exports abbreviate longitude.
    "swedish_headers": (
        "positioner.csv",
        f"Enhet;Latitud;Longitud;observed_at;id\nx;59,3325;18,06528;{EPOCH};s1\n"
        f"y;59,3325;18,2;{EPOCH};s2\n".encode("cp1252"),
        ("--accuracy-m", "10"),
        ["s1"],
    ),
    "swedish_old_headers": (
        "positioner.csv",
        f"id;Breddgrad;Längdgrad;observed_at\nå1;59,3325;{NEAR};{EPOCH}\nå2;59,3325;{FAR};{EPOCH}\n".encode(
            "cp1252"
        ),
        ("--accuracy-m", "10"),
        ["å1"],
    ),
    "lat_long_export": (
        "positions.csv",
        f"id,lat,long,observed_at\nl1,59.3325,{NEAR.replace(',', '.')},{EPOCH}\n".encode(),
        ("--accuracy-m", "10"),
        ["l1"],
    ),
    # A phone app's export: the radius in metres under the platforms' own names (iOS
    # horizontalAccuracy, Android accuracy). 'edge' is 600 m out with a 200 m radius: its disk
    # crosses the 500 m circle, and an Explosion fails open (read as exact, it was left out).
    "phone_accuracy_names": (
        "positions.csv",
        (
            "id,lon,lat,horizontalAccuracy,observed_at\n"
            f"in,18.06528,59.3325,10,{EPOCH}\nedge,18.07585,59.3325,200,{EPOCH}\n"
            f"out,18.07585,59.3325,50,{EPOCH}\n"
        ).encode(),
        (),
        ["in", "edge"],
    ),
    "android_accuracy_name": (
        "positions.csv",
        (
            f"device_id;latitude;longitude;Accuracy;observed_at\ne;59,3325;18,07585;200;{EPOCH}\n"
        ).encode(),
        (),
        ["e"],
    ),
    # No accuracy column: one radius for every fix, given explicitly. 'edge' is 600 m out:
    # its 200 m disk crosses the 500 m circle (read as exact, it was left out).
    "radius_for_every_row": (
        "positions.csv",
        f"id,lon,lat,observed_at\nin,18.06528,59.3325,{EPOCH}\nedge,18.07585,59.3325,{EPOCH}\n"
        f"out,18.0793,59.3325,{EPOCH}\n".encode(),
        ("--accuracy-m", "200"),
        ["in", "edge"],
    ),
    # No time column: the fixes' time is given explicitly.
    "undated_with_observed_at": (
        "positions.csv",
        b"id,lon,lat\nu,18.06528,59.3325\n",
        ("--observed-at", "2024-05-20T13:58:00+02:00", "--accuracy-m", "10"),
        ["u"],
    ),
}


@pytest.mark.parametrize("case", sorted(FILES_PEOPLE_HAVE))
def test_target_reads_the_files_people_have(tmp_path: Path, case: str) -> None:
    """Dialects, decimal commas, encodings, BOMs, epoch/ISO times: JSON on stdout, ids verbatim."""
    name, data, extra, recipients = FILES_PEOPLE_HAVE[case]
    done = target_file(tmp_path, name, data, *extra)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    doc = json.loads(done.stdout)
    assert sorted(doc["recipients"]) == sorted(recipients)
    assert all(isinstance(r, str) for r in doc["recipients"])
    summary = done.stderr.strip().splitlines()
    assert any(line.startswith("geotarget target: read ") for line in summary), done.stderr


def test_unknown_columns_are_reported_on_stderr(tmp_path: Path) -> None:
    """Extra columns are named in one warning line, not silently dropped."""
    name, data, extra, _ = FILES_PEOPLE_HAVE["swedish_excel"]
    done = target_file(tmp_path, name, data, *extra)
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "speed_kmh" in warnings[0]
    assert "semicolon-separated, decimal comma" in done.stderr
    assert "UTF-8 with BOM" in done.stderr


BAD_FILES = {
    "accuracy_under_two_names": (
        b"id,lon,lat,accuracy_m,accuracy,observed_at\na,18.06528,59.3325,5,5,1716206100\n",
        (),
        ["line 1: column accuracy_m appears twice (columns 4 and 5: 'accuracy_m' and 'accuracy')"],
    ),
    "one_column_under_two_names": (
        b"id,lat,lon,latitude,observed_at\na,59.3325,18.06528,59.3,1716206100\n",
        (),
        ["line 1: column lat appears twice (columns 2 and 4: 'lat' and 'latitude')"],
    ),
    "not_a_number": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,1716206100\nb,18.1,abc,1716206100\n",
        (),
        ["positions.csv: row 2 (line 3), column lat", "must be a number", "'abc'"],
    ),
    "nan_for_no_fix": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,1716206100\nb,NaN,NaN,1716206100\n",
        (),
        ["row 2 (line 3), column lon", "or empty for an unknown value", "'NaN'"],
    ),
    "na_accuracy": (
        b"id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,#N/A,1716206100\n",
        (),
        ["row 1 (line 2), column accuracy_m", "or empty for an unknown value", "'#N/A'"],
    ),
    "arabic_indic_digits": (
        "id,lon,lat,observed_at\na,١٨.٠٦,59.3325,1716206100\n".encode(),
        (),
        ["row 1 (line 2), column lon", "ASCII digits"],
    ),
    "naive_time": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,2024-05-20T13:55:00\n",
        (),
        ["row 1 (line 2), column observed_at", "has no UTC offset", "--timezone"],
    ),
    "epoch_milliseconds": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,1716206100000\n",
        (),
        ["column observed_at", "milliseconds"],
    ),
    "basic_iso_date_as_epoch": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,20240520\n",
        (),
        ["column observed_at", "a date?"],
    ),
    "year_1_at_plus_14": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,0001-01-01T00:00:00+14:00\n",
        (),
        ["column observed_at", "1970 to 9998"],
    ),
    # The same instants as wall times in a zone: converting them overflowed (exit 3).
    "naive_year_1_in_tokyo": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,0001-01-01T00:30:00\n",
        ("--timezone", "Asia/Tokyo"),
        ["row 1 (line 2), column observed_at", "lies outside the years 1970 to 9998"],
    ),
    "naive_year_9999_in_new_york": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,9999-12-31T23:30:00\n",
        ("--timezone", "America/New_York"),
        ["row 1 (line 2), column observed_at", "lies outside the years 1970 to 9998"],
    ),
    "undecodable": (
        b"id,lon,lat,observed_at\nid\x81,18.06528,59.3325,1716206100\n",
        (),
        ["positions.csv: line 2", "0x81", "--encoding"],
    ),
    "not_a_text_encoding": (
        b"id,lon,lat,observed_at\na,18.06528,59.3325,1716206100\n",
        ("--encoding", "rot13"),
        ["--encoding must name a text encoding", "rot13"],
    ),
    "utf16_without_bom": (
        "id\tlon\tlat\n1\t18.0\t59.0\n".encode("utf-16-le"),
        (),
        ["NUL bytes", "utf-16-le"],
    ),
    "duplicate_id": (
        b"id,lon,lat,observed_at\n007,18.0,59.0,1716206100\n7,18.0,59.0,1716206100\n007,18.0,59.0,1716206100\n",
        ("--accuracy-m", "0"),
        ["row 3 (line 4), column id", "'007'", "already at row 1 (line 2)"],
    ),
    "ragged_row": (
        b"id;lon;lat;observed_at\na;18,0;59,0;1716206100\nb;18,0;59,0\n",
        (),
        ["row 2 (line 3)", "has 3 fields, the header has 4"],
    ),
    "swapped_columns": (
        b"id,lon,lat,observed_at\na,59.3325,118.06,1716206100\n",
        ("--accuracy-m", "0"),
        ["column lat", "within [-90, 90]"],
    ),
    "empty_id": (
        b"id,lon,lat,observed_at\n ,18.0,59.0,1716206100\n",
        (),
        ["row 1 (line 2), column id", "must not be empty"],
    ),
    "one_coordinate_missing": (
        b"id,lon,lat,observed_at\na,18.0,,1716206100\n",
        ("--accuracy-m", "0"),
        ["row 1 (line 2), column lat", "give both"],
    ),
    "no_time_column": (
        b"id,lon,lat\na,18.0,59.0\n",
        (),
        ["no observed_at column", "add the column, or give --observed-at TIME for every row"],
    ),
    # No accuracy column: refused, naming the columns one of which may hold it (never read
    # as exact fixes, which left out a device whose disk crosses an Explosion's area).
    "no_accuracy_column": (
        b"id,lon,lat,hAcc,Accuracy (m),observed_at\na,18.0,59.0,5,5,1716206100\n",
        (),
        [
            "positions.csv: has no accuracy_m column, so how far each fix may lie from its "
            "device is unknown",
            "rename the one that holds it (its unknown columns: 'hAcc', 'Accuracy (m)')",
            "or, if none does, give --accuracy-m METRES for every row",
        ],
    ),
    "no_accuracy_column_nothing_to_rename": (
        b"id,lon,lat,observed_at\na,18.0,59.0,1716206100\n",
        (),
        ["has no accuracy_m column", "add the column, or give --accuracy-m METRES"],
    ),
    "accuracy_column_and_option": (
        b"id,lon,lat,horizontalAccuracy,observed_at\na,18.0,59.0,5,1716206100\n",
        ("--accuracy-m", "10"),
        ["positions.csv: has an accuracy_m column, so --accuracy-m is not used; leave it out"],
    ),
    "negative_accuracy_option": (
        b"id,lon,lat,observed_at\na,18.0,59.0,1716206100\n",
        ("--accuracy-m", "-5"),
        ["--accuracy-m must be a finite number >= 0 and <= 40075017 (got -5.0)"],
    ),
    "nan_accuracy_option": (
        b"id,lon,lat,observed_at\na,18.0,59.0,1716206100\n",
        ("--accuracy-m", "nan"),
        ["--accuracy-m must be a finite number >= 0 and <= 40075017, not NaN"],
    ),
    "accuracy_option_not_a_number": (
        b"id,lon,lat,observed_at\na,18.0,59.0,1716206100\n",
        ("--accuracy-m", "ten"),
        ["argument --accuracy-m: must be a number", "'ten'"],
    ),
    # The times under another name (Excel in Swedish: Tidpunkt): the refusal names it, so that
    # it is renamed rather than every fix stamped with one --observed-at (old fixes as new).
    "time_column_under_another_name": (
        "sep=;\nID;Longitud;Latitud;Noggrannhet;Tidpunkt\n0701234567;13,01;55,59;10;2024-05-20 16:00\n".encode(
            "cp1252"
        ),
        (),
        [
            "positions.csv: has no observed_at column, so when its fixes were taken is unknown; "
            "add the column, or rename the one that holds it (its unknown columns: "
            "'Noggrannhet', 'Tidpunkt'), or, if none does, give --observed-at TIME for every row"
        ],
    ),
    "timestamp_column": (
        b"id,lon,lat,accuracy_m,timestamp\na,18.0,59.0,5,2024-05-18T14:00:00Z\n",
        (),
        ["(its unknown columns: 'timestamp'), or, if none does, give --observed-at TIME"],
    ),
    "time_column_and_observed_at": (
        b"id,lon,lat,observed_at\na,18.0,59.0,1716206100\n",
        ("--observed-at", "2024-05-20T13:00+02:00"),
        ["has an observed_at column", "--observed-at is not used"],
    ),
    "bom_header_missing_column": (
        "\ufeffid;lon\n1;18\n".encode(),
        (),
        ["line 1: lacks column(s) lat", "has 'id', 'lon'"],
    ),
    "excel_sep_without_delimiter": (
        b"sep=\nid,lon,lat\na,18.0,59.0\n",
        (),
        ["positions.csv: line 1", "'sep=' must name one delimiter"],
    ),
    "excel_sep_then_bad_header": (
        b"sep=;\nid;lon\na;18\n",
        (),
        ["positions.csv: line 2: lacks column(s) lat", "has 'id', 'lon'"],
    ),
    "excel_sep_then_bad_cell": (
        f"sep=;\nid;lon;lat;observed_at\na;18,0;59,0;{EPOCH}\nb;1x;59,0;{EPOCH}\n".encode(),
        (),
        ["positions.csv: row 2 (line 4), column lon", "'1x'"],
    ),
    "header_only": (b"id,lon,lat,observed_at\n", (), ["has a header but no rows"]),
    "empty_file": (b"", (), ["is empty"]),
    "unknown_zone": (
        b"id,lon,lat,observed_at\na,18.0,59.0,1716206100\n",
        ("--timezone", "Mars/Olympus"),
        ["--timezone", "Mars/Olympus"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_positions_file_gets_one_line_naming_file_row_column(tmp_path: Path, case: str) -> None:
    """Every bad file: exit 2, one line on stderr naming file, row and column; no traceback."""
    data, extra, fragments = BAD_FILES[case]
    done = target_file(tmp_path, "positions.csv", data, *extra)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("geotarget target: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert done.stdout == ""


def test_a_directory_and_a_usage_error_are_one_line_too(tmp_path: Path) -> None:
    """A directory as --positions, and a missing required option, each give one line, exit 2."""
    alert = write_alert(tmp_path / "alert.xml")
    (tmp_path / "dir.csv").mkdir()
    done = cli_here("target", "--alert", str(alert), "--positions", "dir.csv", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "geotarget target: --positions must be a file (got the directory dir.csv)"
    ]
    done = cli_here("target", "--alert", str(alert), cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "--positions" in line and "--help" in line


@pytest.mark.parametrize("command", ["demo", "target", "locate", "preview", None])
def test_every_help_has_examples(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` of the command and of each subcommand shows runnable examples."""
    argv = [command, "--help"] if command else ["--help"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    examples = text.split("examples:", 1)[1]
    assert f"geotarget {command or ''}".strip() in examples


def test_locate_hints_at_swapped_coordinates(tmp_path: Path) -> None:
    """``locate LAT LON`` finds nothing and says the swapped point is in Sweden."""
    done = cli_here("locate", "59.3325", "18.06528", cwd=tmp_path)
    assert done.returncode == 1
    assert "lies in no Swedish region" in done.stdout
    assert "look swapped" in done.stdout
    assert "geotarget locate 18.06528 59.3325" in done.stdout
    far = cli_here("locate", "2.35", "48.85", cwd=tmp_path)  # Paris: nowhere near, and no hint
    assert far.returncode == 1
    assert "swapped" not in far.stdout


def test_preview_refuses_a_swapped_area(tmp_path: Path) -> None:
    """``preview`` of an area written lon,lat refuses it in one line, unless --anywhere."""
    swapped = write_alert(tmp_path / "swapped.xml", lon=59.3325, lat=18.06528)
    done = cli_here("preview", str(swapped), cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "lat and lon swapped" in line
    anywhere = cli_here("preview", str(swapped), "--anywhere", cwd=tmp_path)
    assert anywhere.returncode == 0, anywhere.stderr
    assert "area: 1 part(s)" in anywhere.stdout
    from geotarget import Polygon

    msg = pilot.Message(headline="Explosion", description="Risk", area_description="Here")
    ring = [(59.33, 18.06), (59.34, 18.06), (59.34, 18.08)]  # Sergels torg written lat,lon
    polygon = pilot.explosion(
        identifier="cli-2",
        sender="polisen@example.se",
        sent=AT,
        area=Polygon(ring),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=2),
    )
    (tmp_path / "polygon.xml").write_text(cap.dumps(polygon), encoding="utf-8")
    done = cli_here("preview", "polygon.xml", cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "polygon lies outside the service envelope" in line


def test_observed_at_is_read_exactly(tmp_path: Path) -> None:
    """Epoch seconds, Z, offsets and zone-local wall times become the same UTC instants."""
    from geotarget import _position_files

    f = tmp_path / "t.csv"
    f.write_text(
        "id;lon;lat;observed_at\n"
        "a;18,0;59,0;1716206100\n"
        "b;18,0;59,0;2024-05-20T11:55:00Z\n"
        "c;18,0;59,0;2024-05-20T13:55:00+02:00\n"
        "d;18,0;59,0;2024-05-20 13:55\n"
        "e;18,0;59,0;2024-01-15T12:55:00\n"
        "f;18,0;59,0;\n"
        "g;;;1716206100,25\n",
        encoding="utf-8",
    )
    positions, report = _position_files.read(f, timezone="Europe/Stockholm", accuracy_m=0.0)
    expected = np.array(
        [
            "2024-05-20T11:55:00",
            "2024-05-20T11:55:00",
            "2024-05-20T11:55:00",
            "2024-05-20T11:55:00",
            "2024-01-15T11:55:00",
            "NaT",
            "2024-05-20T11:55:00.250",
        ],
        dtype="datetime64[us]",
    )
    np.testing.assert_array_equal(positions.observed_at, expected)
    assert positions.ids.tolist() == list("abcdefg")
    assert np.isnan(positions.lon[6]) and np.isnan(positions.lat[6])
    assert report.rows == 7 and report.unknown_columns == ()


@pytest.mark.parametrize(
    ("wall", "rule"),
    [("2024-03-31 02:30", "skips"), ("2024-10-27 02:30", "shows twice")],
)
def test_local_times_a_dst_change_makes_unclear_are_refused(
    tmp_path: Path, wall: str, rule: str
) -> None:
    """With --timezone, a wall time skipped or repeated by a DST change is an error, not a guess."""
    from geotarget import _position_files
    from geotarget.errors import InvalidPositions

    f = tmp_path / "t.csv"
    f.write_text(f"id,lon,lat,observed_at\na,18.0,59.0,{wall}\n", encoding="utf-8")
    with pytest.raises(InvalidPositions, match=rule):
        _position_files.read(f, timezone="Europe/Stockholm")


def test_whole_columns_of_epochs_and_numbers_read_like_single_cells(tmp_path: Path) -> None:
    """The bulk path (plain numbers and epoch seconds) gives what the cell-by-cell path gives."""
    from geotarget import _position_files
    from geotarget.errors import InvalidPositions

    plain = tmp_path / "plain.csv"
    plain.write_text(
        "id;lon;lat;accuracy_m;observed_at\n"
        "a; 18,5 ;59,25;1e1;1716206100\n"
        "b;+18;59,;,5;1716206100,25\n"
        "c;;;;\n",
        encoding="utf-8",
    )
    mixed = tmp_path / "mixed.csv"  # one ISO time sends the whole column cell by cell
    mixed.write_text(
        plain.read_text(encoding="utf-8") + "d;18;59;1;2024-05-20T11:55:00Z\n", encoding="utf-8"
    )
    bulk, _ = _position_files.read(plain)
    cells, _ = _position_files.read(mixed)
    assert bulk.lon.tolist()[:2] == cells.lon.tolist()[:2] == [18.5, 18.0]
    assert bulk.lat.tolist()[:2] == cells.lat.tolist()[:2] == [59.25, 59.0]
    assert bulk.accuracy_m.tolist()[:2] == cells.accuracy_m.tolist()[:2] == [10.0, 0.5]
    np.testing.assert_array_equal(bulk.observed_at, cells.observed_at[:3])
    np.testing.assert_array_equal(
        bulk.observed_at,
        np.array(["2024-05-20T11:55:00", "2024-05-20T11:55:00.25", "NaT"], "datetime64[us]"),
    )
    huge = tmp_path / "huge.csv"
    huge.write_text("id,lon,lat,accuracy_m,observed_at\na,18,59,1e999,1716206100\n", "utf-8")
    with pytest.raises(
        InvalidPositions, match=r"row 1 \(line 2\), column accuracy_m: must be a finite"
    ):
        _position_files.read(huge)


def test_parquet_ids_keep_their_type_and_big_ones_are_refused(tmp_path: Path) -> None:
    """Text ids stay text ("007" and "7" differ); uint64 ids at or above 2**63 are an error."""
    pa = pytest.importorskip("pyarrow", reason="Parquet needs the geoparquet extra")
    import pyarrow.parquet as pq

    from geotarget import _position_files
    from geotarget.errors import InvalidPositions

    stamp = pa.array([AT] * 2, type=pa.timestamp("us", tz="Europe/Stockholm"))
    text = tmp_path / "text.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["007", "7"],
                "lon": [18.0, 18.1],
                "lat": [59.0, 59.0],
                "accuracy_m": [10.0, 10.0],
                "observed_at": stamp,
            }
        ),
        text,
    )
    positions, report = _position_files.read(text)
    assert positions.ids.tolist() == ["007", "7"]
    assert report.form == "Parquet"
    assert positions.observed_at.tolist()[0] == AT.astimezone(dt.timezone.utc).replace(tzinfo=None)
    big = tmp_path / "big.parquet"
    ids = pa.array([1, 2**63], type=pa.uint64())
    pq.write_table(
        pa.table({"id": ids, "lon": [18.0, 18.1], "lat": [59.0, 59.0], "observed_at": stamp}), big
    )
    with pytest.raises(
        InvalidPositions, match=r"big.parquet: row 2, column id: integer ids must be below 2\*\*63"
    ):
        _position_files.read(big)
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["a"],
                "lon": [18.0],
                "lat": [59.0],
                "observed_at": pa.array([dt.datetime(2024, 5, 20, 13, 55)]),
            }
        ),
        naive,
    )
    with pytest.raises(InvalidPositions, match="without a time zone"):
        _position_files.read(naive)
    local, _ = _position_files.read(naive, timezone="Europe/Stockholm", accuracy_m=10.0)
    assert local.observed_at.tolist() == [dt.datetime(2024, 5, 20, 11, 55)]


def test_csv_chunks_read_like_one_piece_and_errors_count_rows_across_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of 3 rows read like one piece; errors name a later chunk's row and line.

    Before the bad cell: a blank line (no row) and a quoted newline (one row, two lines).
    """
    from geotarget import _position_files
    from geotarget.errors import InvalidPositions

    rows = [f"d{i},18.{i:02d},59.5,{i},{1716206100 + i}" for i in range(10)]
    rows.insert(4, "")  # a blank line: no row
    rows.insert(6, '"multi\nline",18.5,59.5,1,2024-05-20T11:55:00Z')  # two lines, one row
    f = tmp_path / "p.csv"
    f.write_text("id,lon,lat,accuracy_m,observed_at\n" + "\n".join(rows) + "\n", "utf-8")
    whole, report = _position_files.read(f)
    monkeypatch.setattr(_position_files, "CHUNK_ROWS", 3)
    chunked, chunked_report = _position_files.read(f)
    assert report == chunked_report and report.rows == 11
    for column in ("ids", "lon", "lat", "accuracy_m", "observed_at"):
        np.testing.assert_array_equal(getattr(whole, column), getattr(chunked, column))
    assert chunked.ids.tolist()[5] == "multi\nline"
    # Row 10 is file line 13: header, 4 rows, a blank line, a two-line row, 3 more rows.
    bad = f.read_text("utf-8").replace("d8,18.08", "d8,18.o8")
    f.write_text(bad, "utf-8")
    with pytest.raises(InvalidPositions, match=r"p.csv: row 10 \(line 13\), column lon: .*'18.o8'"):
        _position_files.read(f)


def test_a_large_csv_is_read_in_memory_about_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading 20,000 rows (10 chunks) peaks below 6x the file's bytes (tracemalloc).

    It was 18x: a Python string per cell and a four-byte-a-character copy of the text. The
    ratio does not depend on the size while a chunk is a tenth of the file (100,000 rows in
    chunks of 10,000 peaked at the same 4.2x): 20,000 rows cost a fifth of the time.
    """
    f = tmp_path / "many.csv"
    f.write_text(
        "id,lon,lat,accuracy_m,observed_at\n"
        + "".join(
            f"dev-{i:07d},18.{i % 100000:05d},59.{i % 99991:05d},{i % 50}.5,{1716206100 + i % 600}\n"
            for i in range(20_000)
        ),
        "utf-8",
    )
    positions, report, peak = _read_traced(f, monkeypatch, chunk_rows=2_000)
    assert report.rows == positions.ids.size == 20_000
    assert peak < 6 * f.stat().st_size, (peak, f.stat().st_size)


def _read_traced(
    f: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> tuple[Positions, Report, int]:
    """``_position_files.read(f)`` in chunks of ``chunk_rows`` rows, and its peak traced memory."""
    import tracemalloc

    from geotarget import _position_files

    monkeypatch.setattr(_position_files, "CHUNK_ROWS", chunk_rows)
    tracemalloc.start()
    try:
        positions, report = _position_files.read(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return positions, report, peak


def test_a_wide_csv_is_read_in_memory_about_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of 100 other columns of short cells peaks below 6x its bytes, as a narrow one.

    A chunk's records were held whole until the chunk was split into columns: a Python string
    of about 50 bytes for each of its cells, 25 times the cell's 2 bytes in the file (a 34 MB
    export of 150 columns peaked at 900 MB). Only the known columns' cells are kept now.
    4,000 rows in chunks of 2,000 (a chunk half the file, as 20,000 in chunks of 10,000 were,
    which peaked at the same 2.2x), a fifth of the time.
    """
    f = tmp_path / "wide.csv"
    other = ",".join(["12"] * 100)
    f.write_text(
        "id,lon,lat,accuracy_m,observed_at," + ",".join(f"c{j}" for j in range(100)) + "\n"
        + "".join(f"dev-{i:07d},18.{i:05d},59.{i:05d},10,1716206100,{other}\n" for i in range(4_000)),
        "utf-8",
    )  # fmt: skip
    positions, report, peak = _read_traced(f, monkeypatch, chunk_rows=2_000)
    assert report.rows == positions.ids.size == 4_000
    assert len(report.unknown_columns) == 100
    assert peak < 6 * f.stat().st_size, (peak, f.stat().st_size)


@pytest.mark.parametrize(
    ("column", "cell", "limit"),
    [("id", "x" * 20_000, 256), ("lon", "1" * 20_000, 64), ("observed_at", " " * 20_000, 64)],
)
def test_one_long_cell_is_refused_before_it_costs_memory(
    tmp_path: Path, column: str, cell: str, limit: int
) -> None:
    """A 20,000-character cell among 10,000 rows: one line naming it, peak memory small.

    A column becomes a fixed-width array, 4 bytes a character of its longest cell for every
    row: this one cell would have asked for 800 MB (4 GB among 50,000 rows).
    """
    import tracemalloc

    from geotarget import _position_files
    from geotarget.errors import InvalidPositions

    rows = {"id": "dev-{i}", "lon": "18.0", "lat": "59.3", "observed_at": "1716206100"}
    lines = ["id,lon,lat,observed_at"]
    for i in range(10_000):
        values = {k: v.format(i=i) for k, v in rows.items()}
        if i == 8_000:
            values[column] = cell
        lines.append(",".join(values[k] for k in ("id", "lon", "lat", "observed_at")))
    f = tmp_path / "long.csv"
    f.write_text("\n".join(lines) + "\n", "utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(InvalidPositions) as err:
            _position_files.read(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"row 8001 (line 8002), column {column}: must be at most {limit} characters" in str(
        err.value
    )
    assert peak < 50 * 2**20, peak


def test_positions_refuse_an_id_longer_than_256_characters() -> None:
    """Positions itself names the row, for lists and for numpy text arrays alike."""
    import datetime as dt

    import numpy as np

    from geotarget import Positions
    from geotarget.errors import InvalidPositions

    now = dt.datetime(2024, 5, 20, 12, tzinfo=dt.timezone.utc)
    for ids in (["a", "b" * 257], np.array(["a", "b" * 257])):
        with pytest.raises(InvalidPositions, match=r"ids\[1\] must be at most 256 characters"):
            Positions(ids, [18.0, 18.0], [59.0, 59.0], observed_at=now)
    assert Positions(["a" * 256], [18.0], [59.0], observed_at=now).ids.dtype.itemsize == 1024


def test_the_summary_says_why_nobody_was_told(tmp_path: Path) -> None:
    """A summary of 0 new recipients says who was not told, or why the alert was refused."""
    undated = b"id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,\n"  # an unknown time: never trusted
    done = target_file(tmp_path, "undated.csv", undated)
    assert done.returncode == 0, done.stderr
    assert "DELIVER: 0 new recipient(s); not told: 1 with a stale or undated fix" in done.stderr
    fresh = f"id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,{EPOCH}\n".encode()
    told = target_file(tmp_path, "fresh.csv", fresh)
    assert "DELIVER: 1 new recipient(s)\n" in told.stderr
    assert "not told" not in told.stderr
    # The integrator's guide's document, its event renamed to one no rule knows.
    example = Path(__file__).parents[1] / "docs" / "examples" / "sos_explosion.xml"
    gas = example.read_text("utf-8").replace("<event>Explosion", "<event>Gasläcka")
    (tmp_path / "gas.xml").write_text(gas, "utf-8")
    refused = cli_here(
        "target", "--alert", "gas.xml", "--positions", "fresh.csv", "--at", AT.isoformat(),
        cwd=tmp_path,
    )  # fmt: skip
    summary = refused.stderr.strip().splitlines()[-1]
    assert summary.startswith("geotarget target: UNRECOGNISED_KIND: 0 new recipient(s): ")
    assert "Gasläcka" in summary


@pytest.mark.parametrize(
    ("lon", "lat", "near"),
    [("24.1466", "65.8481", "2583 Haparanda"), ("12.84", "55.60", "1280 Malmö")],
)
def test_locate_does_not_pull_a_point_abroad_into_sweden(
    tmp_path: Path, lon: str, lat: str, near: str
) -> None:
    """Tornio (Finland) and Danish Öresund water lie in no region, as locate says.

    It names the region within 2 km, and counts them there only when asked (--snap-m).
    """
    done = cli_here("locate", lon, lat, cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "lies in no Swedish region" in done.stdout
    assert f"within 2 km of {near}" in done.stdout
    assert "country: SE" not in done.stdout
    snapped = cli_here("locate", lon, lat, "--snap-m", "1500", cwd=tmp_path)
    assert snapped.returncode == 0
    assert f"municipality: {near}" in snapped.stdout


def test_locate_reads_ascii_numbers_with_a_decimal_point_or_comma(tmp_path: Path) -> None:
    """'18,0686' is Stockholm; Arabic-Indic digits (float() reads them) are refused."""
    done = cli_here("locate", "18,0686", "59,3293", cwd=tmp_path)
    assert done.returncode == 0 and "municipality: 0180 Stockholm" in done.stdout
    refused = cli("locate", "١٨.0686", "59.3293", cwd=tmp_path)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "argument lon" in line and "ASCII digits" in line
    underscored = cli_here("locate", "1_8", "59", cwd=tmp_path)  # float() reads it as 18
    assert underscored.returncode == 2 and "'1_8'" in underscored.stderr


@pytest.mark.parametrize(
    ("argv", "option"),
    [(("target", "--alert", "", "--positions", "d.csv"), "alert"),
     (("target", "--alert", "a.xml", "--positions", ""), "--positions"),
     (("target", "--alert", "a.xml", "--positions", "d.csv", "--policy", ""), "--policy"),
     (("preview", ""), "alert"),
     (("preview", "a.xml", "--policy", ""), "--policy")],
)  # fmt: skip
def test_an_empty_file_name_is_refused_not_read_as_the_current_directory(
    tmp_path: Path, argv: tuple[str, ...], option: str
) -> None:
    """``--policy "$UNSET"`` must not fall back to the pilot policy without an issuers table."""
    write_alert(tmp_path / "a.xml")
    (tmp_path / "d.csv").write_text(
        f"id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,{EPOCH}\n"
    )
    at = ("--at", AT.isoformat()) if argv[0] == "target" else ()
    done = cli_here(*argv, *at, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.endswith(f"{option} must name a file (got an empty name)")


def test_output_a_console_cannot_encode_is_escaped_not_an_internal_error(tmp_path: Path) -> None:
    """JSON stays whole and valid on a cp1252 stdout; locate's names are escaped on ASCII."""
    write_alert(tmp_path / "a.xml")
    ids = ["Łukasz-телефон", "emoji-😀", "Åsa"]
    rows = "".join(f"{i},18.06528,59.3325,10,{EPOCH}\n" for i in ids)
    (tmp_path / "d.csv").write_text("id,lon,lat,accuracy_m,observed_at\n" + rows, encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}
    argv = ["target", "--alert", "a.xml", "--positions", "d.csv", "--at", AT.isoformat()]
    done = subprocess.run(
        [sys.executable, "-m", "geotarget", *argv],
        capture_output=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout.decode("cp1252"))["recipients"]) == sorted(ids)
    env["PYTHONIOENCODING"] = "ascii"
    named = subprocess.run(
        [sys.executable, "-m", "geotarget", "locate", "11.97", "57.7"],
        capture_output=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert named.returncode == 0 and b"1480 G\\xf6teborg" in named.stdout


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("area.txt", "--plot must name a file whose suffix is its picture format, such as .png"),
     ("missing/area.png", "--plot cannot write")],
)  # fmt: skip
def test_preview_plot_to_a_bad_path_is_one_line(tmp_path: Path, name: str, fragment: str) -> None:
    """An unknown picture format or a missing folder: exit 2, one line, no internal error."""
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    alert = write_alert(tmp_path / "alert.xml")
    done = cli_here("preview", str(alert), "--plot", name, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("geotarget preview: ") and fragment in line
    assert "internal error" not in line


def test_policy_files_are_read_by_load_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--policy: preview needs no issuers, target does; a bad file is one line naming it."""
    alert = str(write_alert(tmp_path / "alert.xml"))
    (tmp_path / "p.csv").write_text("id,lon,lat\nx,18.06528,59.3325\n", encoding="utf-8")
    target = ["target", "--alert", alert, "--positions", str(tmp_path / "p.csv"),
              "--observed-at", AT.isoformat(), "--accuracy-m", "10", "--at", AT.isoformat()]  # fmt: skip
    rules = '[[kinds.explosion.phases]]\nstarts_at = 2024-04-15T00:00:00+02:00\nregions = ["SE"]\n'
    (tmp_path / "none.toml").write_text(rules, encoding="utf-8")
    assert run("preview", alert, "--policy", str(tmp_path / "none.toml"))[0] == 0
    capsys.readouterr()
    (tmp_path / "code.toml").write_text(
        'issuers = "any"\n' + rules.replace('["SE"]', '["99", "SE"]'), encoding="utf-8"
    )
    cases = {
        # an unknown region code is the file's problem too, named with it
        str(tmp_path / "code.toml"): "kinds.explosion.phases[0].regions: unknown region code '99'",
        str(
            tmp_path / "none.toml"
        ): 'issuers: missing: declare the issuers table, or issuers = "any"',
        str(tmp_path): "cannot read it: it is a directory",
        str(tmp_path / "gone.toml"): "cannot read it: No such file",
        str(tmp_path / "p.csv"): "its name must end in .toml or .json (got '.csv')",
    }
    for policy, fragment in cases.items():
        code, out = run(*target, "--policy", policy)
        lines = capsys.readouterr().err.splitlines()
        assert (code, out, len(lines)) == (2, "", 1), lines
        assert lines[0].startswith(f"geotarget target: policy file {policy!r} has 1 problem: ")
        assert fragment in lines[0]
    (tmp_path / "any.json").write_text(
        json.dumps({"issuers": "any", "kinds": {"explosion": {"phases": [
            {"starts_at": "2024-04-15T00:00:00+02:00", "regions": ["SE"]}]}}}),
        encoding="utf-8",
    )  # fmt: skip
    code, out = run(*target, "--policy", str(tmp_path / "any.json"))
    assert code == 0 and json.loads(out)["recipients"] == ["x"]


SWAPPED = "59.3325,18.06528"  # Sergels torg written lat,lon: outside Sweden, inside swapped
PARIS = "2.35,48.85"  # outside Sweden either way
HOME = "18.07,59.33"  # in Sweden


def _fixes(tmp_path: Path, **counts: int) -> str:
    """A positions file of so many fixes of each kind (SWAPPED, PARIS, HOME), ids numbered."""
    places = {"swapped": SWAPPED, "paris": PARIS, "home": HOME}
    rows = [p for kind, n in counts.items() for p in [places[kind]] * n]
    text = "".join(f"d{i},{p}\n" for i, p in enumerate(rows))
    (tmp_path / "p.csv").write_text("id,lon,lat\n" + text, encoding="utf-8")
    return str(tmp_path / "p.csv")


def _target_fixes(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    alert = str(write_alert(tmp_path / "alert.xml"))
    return cli_here(
        "target", "--alert", alert, "--positions", path, "--observed-at", AT.isoformat(),
        "--accuracy-m", "10", "--at", AT.isoformat(), cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("counts", "outside", "swapped"),
    [({"swapped": 2}, 2, 2), ({"swapped": 9, "paris": 1}, 10, 9),
     ({"swapped": 27, "paris": 3}, 30, 27), ({"swapped": 3, "home": 2}, 3, 3)],
    ids=["all", "90 %", "27 of 30", "3 of 5 outside"],
)  # fmt: skip
def test_a_file_of_swapped_fixes_is_refused_not_answered_nobody(
    tmp_path: Path, counts: dict[str, int], outside: int, swapped: int
) -> None:
    """More than half of the fixes outside Sweden, 90 % of those inside it swapped: exit 2.

    DESIGN: the service envelope turns swapped axes into a clear error instead of an empty
    result. The file was answered DELIVER with 0 recipients and a warning.
    """
    done = _target_fixes(tmp_path, _fixes(tmp_path, **counts))
    assert (done.returncode, done.stdout) == (2, "")
    total = sum(counts.values())
    assert done.stderr.strip().splitlines() == [
        f"geotarget target: p.csv: {outside} of {total} fixes lie outside Sweden (lon 10..24.5, "
        f"lat 55..69.5), and {swapped} of those would lie in it with lon and lat swapped: the "
        "file's lon and lat columns are the other way round; swap their names in its header "
        "(geotarget target answers for Sweden's regions only, so it refuses rather than tell "
        "nobody)"
    ]


@pytest.mark.parametrize(
    ("counts", "fragment"),
    [
        ({"paris": 2}, "2 of 2 fixes lie outside Sweden (lon 10..24.5, lat 55..69.5); are they "
         "WGS84 longitude and latitude in degrees?"),
        ({"swapped": 8, "paris": 2}, "10 of 10 fixes lie outside Sweden (lon 10..24.5, lat "
         "55..69.5); 8 of them would lie in it with lon and lat swapped: are the file's lon and "
         "lat columns the other way round?"),
        ({"swapped": 26, "paris": 4}, "30 of 30 fixes lie outside Sweden (lon 10..24.5, lat "
         "55..69.5); 26 of them would lie in it with lon and lat swapped"),
    ],
    ids=["Paris", "80 % swapped", "26 of 30 swapped"],
)  # fmt: skip
def test_weaker_evidence_of_swapped_fixes_is_a_warning(
    tmp_path: Path, counts: dict[str, int], fragment: str
) -> None:
    """Most fixes abroad, but fewer than 90 % of them in Sweden swapped: answered, with a warning.

    "0 new recipients" then says why.
    """
    done = _target_fixes(tmp_path, _fixes(tmp_path, **counts))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recipients"] == []
    assert f"geotarget target: warning: p.csv: {fragment}" in done.stderr
    assert "0 new recipient(s): no device's fix lies in the area" in done.stderr


@pytest.mark.parametrize("counts", [{"swapped": 2, "home": 2}, {"paris": 1, "home": 2}])
def test_half_of_the_fixes_abroad_or_fewer_is_normal(
    tmp_path: Path, counts: dict[str, int]
) -> None:
    """Devices abroad among devices at home: neither refused nor warned of, even if swapped."""
    done = _target_fixes(tmp_path, _fixes(tmp_path, **counts))
    assert done.returncode == 0, done.stderr
    assert "outside Sweden" not in done.stderr


@pytest.mark.parametrize(
    ("counts", "swapped"),
    [({"home": 700, "swapped": 300}, 300), ({"home": 990, "swapped": 10}, 10),
     ({"home": 980, "paris": 10, "swapped": 10}, 10), ({"home": 891, "swapped": 9}, None),
     ({"home": 991, "swapped": 10}, None), ({"home": 5, "paris": 5}, None)],
    ids=["30 %", "1 % and 10 rows", "beside Paris", "9 rows", "under 1 %", "Paris"],
)  # fmt: skip
def test_a_share_of_rows_swapped_among_fixes_at_home_is_warned_of(
    tmp_path: Path, counts: dict[str, int], swapped: int | None
) -> None:
    """Rows outside Sweden but inside it swapped: warned of from 1 % and 10 rows, by counts.

    A second source's rows with lon and lat the other way round, appended to a file of fixes at
    home, got no word: its devices were never told. The warning quotes no position.
    """
    done = _target_fixes(tmp_path, _fixes(tmp_path, **counts))
    assert done.returncode == 0, done.stderr
    total = sum(counts.values())
    warning = (
        f"geotarget target: warning: p.csv: {swapped} of {total:,} fixes lie outside Sweden "
        "(lon 10..24.5, lat 55..69.5) but would lie in it with lon and lat swapped: do some "
        "rows (a second source?) have their lon and lat the other way round? those devices "
        "are never told"
    )
    lines = done.stderr.splitlines()
    assert (warning in lines) == (swapped is not None), done.stderr
    assert "outside Sweden" not in done.stderr.replace(warning, "")
    assert "59.33" not in done.stderr and "18.06" not in done.stderr


def test_the_alert_can_come_from_standard_input(tmp_path: Path) -> None:
    """``-`` reads the alert from stdin (``curl ... | geotarget preview -``), for both commands.

    ``target`` gives the same answer as from the file; an error names "standard input".
    ``target --alert -`` runs as a process of its own reading its standard input; ``preview -``
    and the error read a real pipe in this process (:func:`cli_piped`).
    """
    alert = write_alert(tmp_path / "alert.xml")
    (tmp_path / "p.csv").write_text(
        f"id,lon,lat,accuracy_m,observed_at\nn,18.06528,59.3325,10,{EPOCH}\n"
    )
    document = alert.read_text()
    done = cli_piped("preview", "-", cwd=tmp_path, stdin=document)
    assert done.returncode == 0, done.stderr
    assert "kind: explosion" in done.stdout
    argv = ("--positions", "p.csv", "--at", AT.isoformat())
    from_stdin = cli("target", "--alert", "-", *argv, cwd=tmp_path, stdin=document)
    from_file = cli_here("target", "--alert", str(alert), *argv, cwd=tmp_path)
    assert from_stdin.returncode == from_file.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout)["recipients"] == ["n"]
    assert json.loads(from_stdin.stdout)["recipients"] == json.loads(from_file.stdout)["recipients"]
    bad = cli_piped("preview", "-", cwd=tmp_path, stdin="<alert>")
    assert bad.returncode == 2
    assert bad.stderr.startswith("geotarget preview: standard input: CAP document has")


def test_positions_can_come_from_standard_input(tmp_path: Path) -> None:
    """``--positions -`` reads CSV from stdin, sniffed as a .csv file is; errors name stdin.

    It was "file not found: -", though ``--alert -`` reads stdin. Both at once are refused.
    The first runs as a process of its own reading its standard input; the errors read a real
    pipe in this process (:func:`cli_piped`).
    """
    alert = write_alert(tmp_path / "alert.xml")
    text = f"id;lon;lat;accuracy_m;observed_at\nn;{NEAR};59,3325;8;{EPOCH}\nf;{FAR};59,3325;8;{EPOCH}\n"
    (tmp_path / "p.csv").write_text(text, encoding="utf-8")
    argv = ("target", "--alert", str(alert), "--at", AT.isoformat())
    piped = cli(*argv, "--positions", "-", cwd=tmp_path, stdin=text)
    from_file = cli_here(*argv, "--positions", "p.csv", cwd=tmp_path)
    assert piped.returncode == from_file.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["recipients"] == json.loads(from_file.stdout)["recipients"]
    assert json.loads(piped.stdout)["recipients"] == ["n"]
    assert "geotarget target: read 2 rows from standard input (CSV, UTF-8, semicolon-separated, " \
        "decimal comma)" in piped.stderr  # fmt: skip
    for data, line in (
        (text.replace(FAR, "18,x"), "geotarget target: standard input: row 2 (line 3), column "
         "lon: must be a number"),
        ("", "geotarget target: standard input: is empty; the first line must name the columns"),
        ("PAR1", "geotarget target: standard input: is not CSV text but a Parquet file, which is "
         "read from a file only: give its name"),
    ):  # fmt: skip
        done = cli_piped(*argv, "--positions", "-", cwd=tmp_path, stdin=data)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        (got,) = done.stderr.strip().splitlines()
        assert got.startswith(line), got
    both = cli_piped("target", "--alert", "-", "--positions", "-", cwd=tmp_path, stdin=text)
    assert (both.returncode, both.stdout) == (2, "")
    assert both.stderr.strip().splitlines() == [
        "geotarget target: --alert - and --positions - both name standard input, which holds "
        "one of them: give the other as a file"
    ]


@pytest.mark.parametrize("name", ["/dev/stdin", "positions", "positions.dat"])
def test_a_positions_path_without_a_known_suffix_names_the_suffixes_and_stdin(
    tmp_path: Path, name: str
) -> None:
    """/dev/stdin, a pipe (<(...) is /dev/fd/63) or a file named oddly: the line says what is read."""
    if not Path(name).is_absolute():
        (tmp_path / name).write_text("id,lon,lat\n", encoding="utf-8")
    elif not Path(name).exists():
        pytest.skip(f"{name} does not exist here (no standard input)")
    alert = write_alert(tmp_path / "alert.xml")
    done = cli_here(
        "target", "--alert", str(alert), "--positions", name, "--at", AT.isoformat(), cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (2, "")
    (line,) = done.stderr.strip().splitlines()
    what = "its suffix '.dat' is none of these" if name.endswith(".dat") else "it has no suffix"
    assert line == (
        "geotarget target: --positions must be a .csv, .tsv, .txt or .parquet file, or - to read "
        f"CSV from standard input (got {name}: {what})"
    )
    missing = cli_here(
        "target", "--alert", str(alert), "--positions", "gone.csv", "--at", AT.isoformat(),
        cwd=tmp_path,
    )  # fmt: skip
    assert missing.stderr.strip() == (
        "geotarget target: --positions file not found: gone.csv (- reads standard input)"
    )


def test_a_compressed_or_oversized_alert_is_refused_saying_why(tmp_path: Path) -> None:
    """A gzip file or a document over MAX_DOCUMENT_BYTES is refused saying why.

    The compressed one says to decompress it; the large one is not read whole. One line on
    stderr, exit 2, no traceback.
    """
    import gzip

    from geotarget.cap import MAX_DOCUMENT_BYTES

    alert = write_alert(tmp_path / "alert.xml")
    (tmp_path / "alert.xml.gz").write_bytes(gzip.compress(alert.read_bytes()))
    big = tmp_path / "big.xml"
    big.write_bytes(b"<alert>" + b" " * (2 * MAX_DOCUMENT_BYTES))
    for name, fragment in (
        ("alert.xml.gz", "alert.xml.gz: the alert is gzip-compressed"),
        ("big.xml", f"big.xml: the alert is more than {MAX_DOCUMENT_BYTES:,} bytes"),
    ):
        done = cli_here("preview", name, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert fragment in done.stderr


def test_an_empty_positions_name_is_not_the_current_directory(tmp_path: Path) -> None:
    """``--positions ""`` names no file; it is not 'the directory .'."""
    alert = write_alert(tmp_path / "alert.xml")
    code, _ = run("target", "--alert", str(alert), "--positions", "", "--at", AT.isoformat())
    assert code == 2
    done = cli_here(
        "target", "--alert", str(alert), "--positions", "", "--at", AT.isoformat(), cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith("--positions must name a file (got an empty name)")
    assert "Traceback" not in done.stderr


def test_the_unknown_columns_warning_is_bounded(tmp_path: Path) -> None:
    """A header of 50,000 unknown names: the warning lists twenty and counts the rest."""
    alert = write_alert(tmp_path / "alert.xml")
    names = ",".join(f"c{i}" for i in range(50_000))
    path = tmp_path / "wide.csv"
    path.write_text(f"id,lon,lat,{names}\na,18.06528,59.3325{',' * 50_000}\n", encoding="utf-8")
    done = cli_here(
        "target",
        "--alert",
        str(alert),
        "--positions",
        str(path),
        "--observed-at",
        AT.isoformat(),
        "--accuracy-m",
        "10",
        "--at",
        AT.isoformat(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and len(warnings[0]) < 1000
    assert "and 49,980 more" in warnings[0]


def test_an_alert_from_a_pipe_path_is_read_as_a_file_is(tmp_path: Path) -> None:
    """``/dev/stdin`` (``cat x | geotarget preview /dev/stdin``) or a FIFO: read, not "not found".

    A path that exists but is not a regular file (a pipe, a shell's ``<(...)``) is read as the
    file would be; one that cannot be read is named with why. Regression: "alert file not
    found: /dev/stdin".
    """
    example = Path(__file__).parents[1] / "docs" / "examples" / "sos_explosion.xml"
    text = example.read_text(encoding="utf-8")
    piped = cli("preview", "/dev/stdin", cwd=tmp_path, stdin=text)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == cli_here("preview", str(example), cwd=tmp_path).stdout
    fifo = tmp_path / "alert.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(text, encoding="utf-8"))
    writer.start()
    got = cli_here("preview", str(fifo), cwd=tmp_path)
    writer.join(timeout=30)
    assert got.returncode == 0, got.stderr
    locked = tmp_path / "locked.xml"
    locked.write_text(text, encoding="utf-8")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: nothing to refuse
        return
    got = cli_here("preview", str(locked), cwd=tmp_path)
    assert got.returncode == 2 and f"alert {locked} cannot be read" in got.stderr


def test_target_refusing_a_cap11_alert_does_not_offer_an_option_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``geotarget target`` reads strictly, has no --lenient, and its refusal says so."""
    alert = write_alert(tmp_path / "feed.xml")
    alert.write_text(
        alert.read_text(encoding="utf-8").replace("emergency:cap:1.2", "emergency:cap:1.1"),
        encoding="utf-8",
    )
    devices = tmp_path / "devices.csv"
    devices.write_text("id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,10,1716213600\n")
    argv = ["target", "--alert", str(alert), "--positions", str(devices)]
    code, out = run(*argv, "--at", AT.isoformat())
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert err.rstrip().endswith(
        "(geotarget target reads strictly, as a service must, and has no --lenient; "
        "'geotarget preview --lenient' lists what a lenient reading repairs, for the sender "
        "to fix)"
    ), err
    with pytest.raises(SystemExit) as usage:  # the option the message says target lacks
        run(*argv, "--lenient")
    assert usage.value.code == 2
    assert "unrecognized arguments: --lenient" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("lon", "lat", "radius_m"),
    [
        (24.15, 65.84, 3_000.0),
        (20.30, 67.85, 500.0),
        (13.0, 55.6, 40_000.0),
        (18.06528, 59.3325, 100.0),
    ],
)
def test_preview_map_axis_labels_do_not_overlap(
    monkeypatch: pytest.MonkeyPatch, lon: float, lat: float, radius_m: float
) -> None:
    """The map of an area in the north (Haparanda, Kiruna) keeps its longitude labels apart.

    There a degree of longitude is short, so the area is narrow on the map; its longitudes
    were labelled every 0.025° and ran into one another ("24.07524.10024.125"). A small area's
    ticks are whole coordinates, not offsets from "+5.933e1".
    """
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    import matplotlib.figure

    from geotarget import Circle, _plot
    from geotarget.areas import Area

    plt = _plot._pyplot()
    drawn: list[object] = []
    close = plt.close  # the real one: the test closes the figure it kept open
    monkeypatch.setattr(_plot, "_save", lambda fig, path: drawn.append(fig))
    monkeypatch.setattr(plt, "close", lambda fig: None)
    _plot.alert_map("map.png", Area([Circle(lon, lat, radius_m)]), title="t")
    (fig,) = drawn
    assert isinstance(fig, matplotlib.figure.Figure)
    try:
        fig.canvas.draw()  # lays the labels out: their extents are then the drawn ones
        for ax in fig.axes:
            for labels, centre in ((ax.get_xticklabels(), lon), (ax.get_yticklabels(), lat)):
                boxes = [t.get_window_extent() for t in labels if t.get_text()]
                assert len(boxes) >= 2
                for a, b in itertools.pairwise(boxes):
                    assert not a.overlaps(b), [t.get_text() for t in labels]
                # Each tick a whole coordinate, no offset ("+5.933e1") to add in one's head.
                for t in labels:
                    if t.get_text():
                        assert abs(float(t.get_text().replace("\u2212", "-")) - centre) < 2.0
            for axis in (ax.xaxis, ax.yaxis):
                assert axis.get_offset_text().get_text() == ""
    finally:
        close(fig)
