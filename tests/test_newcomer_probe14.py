"""A newcomer's first hour, and the command line as scripts use it (probe 14).

The oracle is the command's own words (its ``--help``, the docs), pyproj's geodesic for where
an area lies, and what the command writes; never the helpers that compute its answer.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geotarget.cli import main

ROOT = Path(__file__).resolve().parents[1]
ALERT = ROOT / "docs" / "examples" / "sos_explosion.xml"

needs_examples = pytest.mark.skipif(
    not ALERT.is_file(), reason="docs/examples is not beside the tests (installed-wheel run)"
)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The command run as ``geotarget ARGV``: its exit code, stdout and stderr."""
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue(), capsys.readouterr().err


def _alert(tmp_path: Path, circle: str | None = None, **times: dt.datetime) -> Path:
    """The guide's Explosion with another circle (CAP's ``lat,lon km``) or other times."""
    xml = ALERT.read_text(encoding="utf-8")
    if circle is not None:
        xml = xml.replace("59.3325,18.06528 0.5", circle)
    for element, when in times.items():
        xml = re.sub(
            f"<{element}>[^<]*</{element}>", f"<{element}>{when.isoformat()}</{element}>", xml
        )
    path = tmp_path / "alert.xml"
    path.write_text(xml, encoding="utf-8")
    return path


# --- fixes taken after the decision time, without --at ------------------------------------


@needs_examples
def test_fixes_after_now_are_not_said_to_be_after_an_at_nobody_gave(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``--at`` the command decides at the present; the warning says so, not "--at".

    It said the fixes "were taken more than 5 minutes after --at 2026-...T12:39:40.869675+00:00
    ...: is --at right?" to someone who gave no ``--at``: a script author went looking for an
    option the command line did not hold, when the file's times (or a clock) were off.
    """
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    alert = _alert(tmp_path, sent=now - dt.timedelta(hours=1), expires=now + dt.timedelta(days=2))
    ahead = (now + dt.timedelta(days=1)).isoformat()
    devices = tmp_path / "devices.csv"
    devices.write_text(
        f"id,lon,lat,accuracy_m,observed_at\na,18.06528,59.3325,5,{ahead}\n", encoding="utf-8"
    )
    code, _, err = _cli(["target", "--alert", str(alert), "--positions", str(devices)], capsys)
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if "minutes after" in line]
    assert "--at" not in line.replace("no --at was given", ""), line
    assert "no --at was given" in line, line
    # Given, it is named as given.
    at = now.isoformat()
    argv = ["target", "--alert", str(alert), "--positions", str(devices), "--at", at]
    code, _, err = _cli(argv, capsys)
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if "minutes after" in line]
    assert f"after --at {at}" in line and "is --at right?" in line, line


# --- an area across the 180th meridian ----------------------------------------------------


def _geodesic_lon_span(lon: float, lat: float, radius_m: float) -> tuple[float, float]:
    """West and east ends of a circle's rim (pyproj's geodesic), wrapped into -180..180."""
    from pyproj import Geod

    azimuths = np.linspace(0.0, 360.0, 36_001)
    rim_lon, _, _ = Geod(ellps="WGS84").fwd(
        np.full(azimuths.size, lon), np.full(azimuths.size, lat), azimuths,
        np.full(azimuths.size, radius_m),
    )  # fmt: skip
    relative = (np.asarray(rim_lon) - lon + 540.0) % 360.0 - 180.0  # continuous about lon
    west, east = lon + relative.min(), lon + relative.max()
    return ((west + 180.0) % 360.0) - 180.0, ((east + 180.0) % 360.0) - 180.0


@needs_examples
def test_preview_of_an_area_across_180_degrees_gives_its_own_longitudes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 20 km circle over Fiji's 180° meridian: its longitudes and a map of it, not the world.

    ``preview --anywhere`` (the help's example for a foreign alert) said "lon -180.00000…
    180.00000", an area around the whole Earth, and drew two dots at the ends of a world
    map; an alert of Fiji, New Zealand's Chatham Islands or the Aleutians is 40 km wide.
    """
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    from geotarget import _plot

    lon, lat, radius_m = 179.95, -17.0, 20_000.0
    west, east = _geodesic_lon_span(lon, lat, radius_m)
    assert west > 0 > east  # the oracle's circle does cross 180°
    alert = _alert(tmp_path, circle=f"{lat},{lon} {radius_m / 1000}")
    drawn: list[Any] = []
    plt = _plot._pyplot()
    close = plt.close
    monkeypatch.setattr(_plot, "_save", lambda fig, path: drawn.append(fig))
    monkeypatch.setattr(plt, "close", lambda fig: None)
    argv = ["preview", str(alert), "--anywhere", "--plot", str(tmp_path / "fiji.png")]
    code, out, err = _cli(argv, capsys)
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.strip().startswith("area:")]
    found = re.search(r"lon (-?[\d.]+)…(-?[\d.]+)", line)
    assert found, line
    assert float(found[1]) == pytest.approx(west, abs=2e-5), line
    assert float(found[2]) == pytest.approx(east, abs=2e-5), line
    assert "180°" in line, line  # said to cross it: west > east is no slip
    (fig,) = drawn
    try:
        (ax,) = fig.axes
        left, right = ax.get_xlim()
        # The map shows the circle, west to east across 180° (drawn continuously), and little
        # more: not -180..180.
        assert left <= west < east + 360.0 <= right
        assert right - left < 3 * (east + 360.0 - west)
        fig.canvas.draw()
        shown = [
            float(t.get_text().replace("\u2212", "-")) for t in ax.get_xticklabels() if t.get_text()
        ]
        assert shown and all(-180.0 <= v <= 180.0 for v in shown), shown  # longitudes, wrapped
        bottom, top = ax.get_ylim()
        assert -90.0 <= bottom < lat < top <= 90.0
    finally:
        close(fig)


@needs_examples
def test_preview_map_of_a_polar_cap_keeps_to_latitudes_that_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 50 km circle around the North Pole is drawn within lat -90..90, lon -180..180.

    The map's margin was 15 % of the widest span, 360° of longitude here: its latitude axis
    ran to 144°N and its longitude labels ran into one another.
    """
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    from geotarget import _plot

    alert = _alert(tmp_path, circle="89.9,0 50")
    drawn: list[Any] = []
    plt = _plot._pyplot()
    close = plt.close
    monkeypatch.setattr(_plot, "_save", lambda fig, path: drawn.append(fig))
    monkeypatch.setattr(plt, "close", lambda fig: None)
    argv = ["preview", str(alert), "--anywhere", "--plot", str(tmp_path / "pole.png")]
    code, out, err = _cli(argv, capsys)
    assert code == 0, err
    assert "lon -180.00000…180.00000, lat 89.45" in out and "meridian" not in out, out
    (fig,) = drawn
    try:
        (ax,) = fig.axes
        bottom, top = ax.get_ylim()
        left, right = ax.get_xlim()
        # The cap reaches 50 km from the pole: about 0.45° of latitude.
        assert bottom < 89.55 and top == pytest.approx(90.0)
        assert bottom > 80.0  # the cap, not a third of the hemisphere
        assert left >= -180.0 and right <= 180.0
        fig.canvas.draw()
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [t.get_window_extent() for t in labels if t.get_text()]
            assert all(not a.overlaps(b) for a, b in itertools.pairwise(boxes))
    finally:
        close(fig)


# --- locate's hint for a point given lat first --------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (59.9139, 10.7522),  # Oslo: in the envelope of Sweden, 80 km beyond its border
        (60.1699, 24.9384),  # Helsinki: beyond the envelope's east (24.5°): no hint
        (56.1629, 10.2039),  # Aarhus, Denmark: across the Kattegat
    ],
)
def test_locate_hints_at_a_swap_only_where_the_swapped_point_is_in_sweden(
    lat: float, lon: float, capsys: pytest.CaptureFixture[str]
) -> None:
    """A city abroad given lat first gets no hint that the swapped point "is in Sweden".

    ``geotarget locate 59.9139 10.7522`` (Oslo, as a map copies it: lat first) said "hint: lon
    and lat look swapped; the point lon 10.7522, lat 59.9139 is in Sweden: geotarget locate
    10.7522 59.9139", and that command answered "lies in no Swedish region": the hint looked
    at Sweden's rectangle only. The command's own answer for the hinted point is the oracle.
    """
    code, out, err = _cli(["locate", str(lat), str(lon)], capsys)
    assert code == 1, err
    hinted = re.search(r"geotarget locate (\S+) (\S+)", out)
    if hinted:
        again, said, err = _cli(["locate", hinted[1], hinted[2]], capsys)
        assert again == 0, f"hinted {hinted[0]!r}, which answered: {said}{err}"
    # Given lon first it lies in no Swedish region either: the hint would have sent them there.
    code, out, _ = _cli(["locate", str(lon), str(lat)], capsys)
    assert code == 1 and "no Swedish region" in out, out


def test_locate_still_hints_at_a_swap_that_lands_in_sweden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Stockholm given lat first is hinted, naming where the swapped point lies; it answers."""
    code, out, err = _cli(["locate", "59.3293", "18.0686"], capsys)
    assert code == 1, err
    hinted = re.search(r"geotarget locate (\S+) (\S+)", out)
    assert hinted and "swapped" in out, out
    again, said, err = _cli(["locate", hinted[1], hinted[2]], capsys)
    assert again == 0 and "0180 Stockholm" in said, said + err
    assert "Stockholm" in out  # named in the hint, so it is no guess


# --- preview says when each block is in effect ---------------------------------------------


@needs_examples
def test_preview_says_from_when_until_when_each_block_is_in_effect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each info block's start (effective, else onset, else sent) and its expires, or none.

    ``preview`` showed no time but ``sent``: an alert starting in an hour, or one without
    ``expires`` (in effect until cancelled), read as one in effect now; and a block without a
    headline ended its line in ": ". The document's own times are the oracle.
    """
    xml = ALERT.read_text(encoding="utf-8")
    sv, en = xml.split("<info>")[1:]
    sv_new = sv.replace(
        "<expires>", "<onset>2024-05-20T17:00:00+02:00</onset><expires>", 1
    ).replace("<headline>Explosion vid Sergels torg</headline>", "")
    en_new = re.sub("<expires>[^<]*</expires>", "", en)
    path = tmp_path / "alert.xml"
    path.write_text(xml.replace(sv, sv_new).replace(en, en_new), encoding="utf-8")
    code, out, err = _cli(["preview", str(path)], capsys)
    assert code == 0, err
    lines = out.splitlines()
    first = lines.index("  [sv-SE] Explosion")  # no headline: no ": " after the event
    assert lines[first + 1] == (
        "    in effect from 2024-05-20T17:00:00+02:00 (onset) until 2024-05-20T18:00:00+02:00"
    )
    second = lines.index("  [en-US] Explosion: Explosion at Sergels torg")
    assert lines[second + 1] == (
        "    in effect from 2024-05-20T16:00:00+02:00 (sent) until cancelled (it has no expires)"
    )
    # A Cancel is in effect as it arrives: its blocks are given no window of their own.
    references = "<references>larm@sosalarm.se,SOS-1,2024-05-20T15:00:00+02:00</references>"
    cancel = xml.replace("<msgType>Alert", "<msgType>Cancel").replace(
        "<scope>Public</scope>", f"<scope>Public</scope>{references}"
    )
    path.write_text(cancel, encoding="utf-8")
    code, out, err = _cli(["preview", str(path)], capsys)
    assert code == 0 and "Actual Cancel" in out, err
    assert "in effect" not in out, out


# --- a short option no command has ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["target", "-a", "alert.xml", "-p", "d.csv"], ["-a (did you mean", "--alert", "-p ("]),
        (["-V"], ["-V (did you mean --version?)"]),
    ],
)
def test_a_short_option_no_command_has_is_named_beside_the_missing_one(
    argv: list[str], named: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``target -a alert.xml`` said only "--alert, --positions are required", of a -a it left out.

    The missing options were named, the ``-a`` and ``-p`` given for them were not (the long
    options a script misspells were: ``--alerts (did you mean --alert?)``).
    """
    with pytest.raises(SystemExit) as exited:  # (argparse's exit, in process)
        main(argv, out=io.StringIO())
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert (exited.value.code, captured.out) == (2, ""), line
    assert "the following arguments are required" in line and "unrecognized: " in line, line
    for text in named:
        assert text in line.split("unrecognized: ", 1)[1], line


# --- --observed-at beside --timezone -----------------------------------------------------------


@needs_examples
def test_observed_at_without_offset_beside_timezone_says_which_times_timezone_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--observed-at 2024-05-20T16:00 --timezone Europe/Stockholm`` names what --timezone reads.

    The refusal said only that --observed-at must carry a UTC offset, as if --timezone, given
    for it ("read observed_at times without a UTC offset in this zone", says its help), were
    not there. Given an offset, the pair is read as ever.
    """
    alert = tmp_path / "alert.xml"
    alert.write_bytes(ALERT.read_bytes())
    devices = tmp_path / "ids.csv"
    devices.write_text("id,lon,lat\na,18.06528,59.3325\n", encoding="utf-8")
    argv = ["target", "--alert", str(alert), "--positions", str(devices), "--accuracy-m", "5"]
    argv += ["--at", "2024-05-20T16:05+02:00", "--timezone", "Europe/Stockholm"]
    code, out, err = _cli([*argv, "--observed-at", "2024-05-20T16:00"], capsys)
    (line,) = err.splitlines()
    assert (code, out) == (2, ""), err
    assert "--observed-at must carry a UTC offset" in line and "'2024-05-20T16:00'" in line
    assert "--timezone reads the times of a file's observed_at column" in line, line
    code, out, err = _cli([*argv, "--observed-at", "2024-05-20T16:00+02:00"], capsys)
    assert code == 0 and '"recipients": [\n    "a"\n  ]' in out, err


@needs_examples
def test_preview_of_an_area_split_at_180_degrees_as_the_gotchas_ask_is_one_area(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two polygons either side of 180° (the gotchas' way to write one across it): 0.4° wide.

    The document's own corners are the oracle: lon 179.8 to 180, and -180 to -179.8.
    """
    two = (
        "<polygon>-17.1,179.8 -17.1,180 -16.9,180 -16.9,179.8 -17.1,179.8</polygon>"
        "<polygon>-17.1,-180 -17.1,-179.8 -16.9,-179.8 -16.9,-180 -17.1,-180</polygon>"
    )
    xml = ALERT.read_text(encoding="utf-8").replace("<circle>59.3325,18.06528 0.5</circle>", two)
    path = tmp_path / "alert.xml"
    path.write_text(xml, encoding="utf-8")
    code, out, err = _cli(["preview", str(path), "--anywhere"], capsys)
    assert code == 0, err
    assert "area: 2 part(s), " in out, out
    assert "lon 179.80000…-179.80000 (across the 180° meridian), lat -17.10000…-16.90000" in out


# --- the demo's durable ledger --------------------------------------------------------------


def test_the_demo_says_it_keeps_its_deliveries_in_the_ledger_file_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo --ledger d.db`` names the file in its set-up, and the file is an SQLite database.

    The demo printed the same lines with ``--ledger`` as without: nothing said the durable
    ledger asked for was used, or where. The oracle is Python's own ``sqlite3``.
    """
    import sqlite3

    store = tmp_path / "d.db"
    code, out, err = _cli(["demo", "--devices", "200", "--ledger", str(store)], capsys)
    assert code == 0, err
    setup = out.split("\n\n")[1]  # "Set-up (once per service):" and its lines
    assert f"  delivery ledger: {store}, an SQLite database" in setup, setup
    with sqlite3.connect(store) as db:  # the file the line names holds the demo's tables
        tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    assert tables[0] > 0
    code, out, err = _cli(["demo", "--devices", "200"], capsys)
    assert code == 0 and "delivery ledger" not in out, err


def test_locate_with_a_snap_too_short_still_names_the_region_nearby(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tornio's side of the border with ``--snap-m 100``: Haparanda is named, as without it.

    Without ``--snap-m`` the answer named the region within 2 km; with one too short it said
    only "lies in no Swedish region", as if nothing were near. The command's own answer with
    a longer snap is the oracle.
    """
    code, out, err = _cli(["locate", "24.16", "65.84", "--snap-m", "100"], capsys)
    assert code == 1, err
    assert "2583 Haparanda" in out and "farther than --snap-m 100" in out, out
    code, out, err = _cli(["locate", "24.16", "65.84", "--snap-m", "2000"], capsys)
    assert code == 0 and "municipality: 2583 Haparanda" in out, out + err
