"""A newcomer's first hour, continued: the pilot's constructors and the command, as first used."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry

from geotarget import Circle, Polygon, pilot
from geotarget.alerts import TipChannel
from geotarget.cli import main
from geotarget.errors import InvalidAlert, InvalidPolicy, InvalidType
from geotarget.rollout import Phase

T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.timezone.utc)
TEXT = pilot.Message(headline="Vittnen sökes", description="Såg du något?", area_description="C")


def _tips(channels: Any) -> Any:
    return pilot.tip_request(
        identifier="SE-POL-7", sender="polisen@polisen.se", sent=T0,
        area=Circle(17.9283, 59.3880, 800.0), sv=TEXT, en=TEXT, onset=T0,
        expires=T0 + dt.timedelta(days=3), tip_channels=channels,
    )  # fmt: skip


def _once(channels: Iterable[TipChannel]) -> Iterable[TipChannel]:
    """The channels as a one-shot iterable (a generator function)."""
    yield from channels


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda c: (x for x in c), id="generator"),
        pytest.param(lambda c: filter(None, c), id="filter"),
        pytest.param(lambda c: iter(tuple(c)), id="iterator"),
        pytest.param(_once, id="function"),
    ],
)
def test_tip_channels_given_once_are_all_in_the_tip_request(make: Any) -> None:
    """A one-shot iterable of channels gives the same alert as a list: no channel is lost.

    tip_request() checked the iterable for at least one channel by reading it, then built the
    alert from the same, now exhausted, iterable: a tip request without any channel.
    """
    given = _tips(make(pilot.POLICE_TIP_CHANNELS))
    assert given.tip_channels == pilot.POLICE_TIP_CHANNELS
    assert given == _tips(list(pilot.POLICE_TIP_CHANNELS))
    assert given.infos[1].contact == (
        "Send tips to the police: 114 14 or https://polisen.se/lagg-fram-tips"
    )


@pytest.mark.parametrize("channels", [None, "114 14", 11414])
def test_tip_channels_that_are_no_sequence_are_named(channels: object) -> None:
    """The refusal names tip_channels and what it must hold, not "expected a sequence"."""
    with pytest.raises(InvalidType, match=r"^tip_channels must be a sequence of TipChannel"):
        _tips(channels)


def test_a_later_phase_that_is_not_a_phase_is_named_by_the_callers_key_and_index() -> None:
    """announced_policy names later_phases['explosion'][0], as the caller wrote it.

    The refusal said "phases[1] must be a Phase (got type)": no kind, and an index counting
    the pilot's own first phase, not the caller's.
    """
    wrong: dict[str, Any] = {"explosion": [Phase], "tip_request": ["01"]}  # the class; a code
    with pytest.raises(InvalidPolicy) as caught:
        pilot.announced_policy(later_phases=wrong)
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("later_phases['explosion'][0]", "must be a Phase (got type)"),
        ("later_phases['tip_request'][0]", "must be a Phase (got str)"),
    ]


def test_a_missing_expiry_is_shown_as_a_time_not_a_repr() -> None:
    """The refusal of a pilot alert without expires shows onset as ISO 8601."""
    with pytest.raises(InvalidAlert, match=r"got onset 2026-05-04T09:00:00\+00:00, expires None\)"):
        pilot.explosion(
            identifier="SE-POL-1", sender="polisen@polisen.se", sent=T0,
            area=Circle(18.06528, 59.3325, 500.0), sv=TEXT, en=TEXT, onset=T0,
            expires=None,  # type: ignore[arg-type]
        )  # fmt: skip


# --- the command ----------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
AT = "2024-05-20T16:05+02:00"


def run(*argv: str) -> tuple[int, str]:
    """Run the command in process; return its exit code and what it printed on stdout."""
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def _alert_of_status(tmp_path: Path, status: str) -> str:
    """The docs' Explosion at Sergels torg with another ``<status>``."""
    text = (EXAMPLES / "sos_explosion.xml").read_text(encoding="utf-8")
    path = tmp_path / f"{status.lower()}.xml"
    path.write_text(text.replace("<status>Actual</status>", f"<status>{status}</status>"))
    return str(path)


@pytest.mark.parametrize(
    ("status", "header", "rows"),
    [
        ("Test", "id;lon;lat;accuracy_m;observed_at", ["7;18,06528;59,3325;8;1716213600"]),
        (
            "Exercise",
            "id;lon;lat;accuracy_m;observed_at;tester",
            ["7;18,06528;59,3325;8;1716213600;0", "8;18,06528;59,3325;8;1716213600;nej"],
        ),
    ],
    ids=["test-without-the-column", "exercise-all-false"],
)
def test_a_drill_over_a_file_without_testers_says_the_file_names_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str, header: str, rows: list[str]
) -> None:
    """A Test or Exercise alert over a file that names no tester says so beside "nobody".

    It reaches testers only; the summary said "not told: 1 not a tester" and nothing of the
    file's missing (or all-false) tester column.
    """
    positions = tmp_path / "devices.csv"
    positions.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    alert = _alert_of_status(tmp_path, status)
    code, out = run("target", "--alert", alert, "--positions", str(positions), "--at", AT)
    err = capsys.readouterr().err
    assert code == 0 and json.loads(out)["recipients"] == []
    assert (
        f"geotarget target: warning: devices.csv: no device is a tester (it has no tester column, "
        f"or the column is false in every row), so this {status} alert, which reaches testers "
        "only, tells nobody: mark the testers in a tester column (1/0)\n"
    ) in err
    assert err.endswith(
        f"not told: {len(rows)} not {'a tester' if len(rows) == 1 else 'testers'}\n"
    )


@pytest.mark.parametrize(
    ("status", "tester"), [("Test", "1"), ("Actual", "0")], ids=["a-tester", "actual"]
)
def test_no_tester_warning_when_a_tester_is_named_or_the_alert_is_public(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str, tester: str
) -> None:
    """A file naming one tester, or an Actual alert, gets no such warning."""
    positions = tmp_path / "devices.csv"
    positions.write_text(
        "id;lon;lat;accuracy_m;observed_at;tester\n"
        f"7;18,06528;59,3325;8;1716213600;{tester}\n8;18,06528;59,3325;8;1716213600;0\n",
        encoding="utf-8",
    )
    alert = _alert_of_status(tmp_path, status)
    code, _ = run("target", "--alert", alert, "--positions", str(positions), "--at", AT)
    assert code == 0
    assert "tester" not in capsys.readouterr().err.split("DELIVER")[0]


@pytest.mark.parametrize(
    ("argv", "named", "example"),
    [
        (["18.0686", "59.3293N"], "lat", "59.3293"),
        (["18.0686", "N59"], "lat", "59.3293"),
        (["18E", "59.3293"], "lon", "18.0686"),
    ],
)
def test_a_coordinate_that_is_not_a_number_is_shown_an_example_of_its_own_axis(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str, example: str
) -> None:
    """The refusal of a latitude shows a latitude as its example (it showed the longitude)."""
    with pytest.raises(SystemExit) as stopped:  # a usage error: argparse's exit, code 2
        run("locate", *argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert (
        f"argument {named}: must be a number with a decimal point or comma, e.g. {example} (" in err
    )


@pytest.mark.parametrize("folder", ["store", "store/"])
def test_a_ledger_that_names_a_folder_is_named_as_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """``demo --ledger FOLDER`` names --ledger, before the demo plays (it named "path")."""
    (tmp_path / "store").mkdir()
    monkeypatch.chdir(tmp_path)
    code, out = run("demo", "--devices", "10", "--ledger", folder)
    assert (code, out) == (2, "")
    assert capsys.readouterr().err == (
        f"geotarget demo: --ledger must name a file, not a folder (got the folder {folder}; "
        f"e.g. {Path(folder) / 'deliveries.db'})\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["store"]
    assert not any((tmp_path / "store").iterdir())


# --- the docs' claims, against an oracle ------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_gotchas_say_which_way_a_degree_buffer_is_stretched() -> None:
    """A buffer in degrees at 60°N is twice as tall as wide on the ground, as the page says.

    The page said "twice as wide as it is tall": the other way round. The oracle measures the
    buffer's extents with ``pyproj.Geod``.
    """
    geod = pyproj.Geod(ellps="WGS84")
    west, south, east, north = shapely.Point(18.0, 60.0).buffer(0.01, quad_segs=64).bounds
    wide = geod.inv(west, 60.0, east, 60.0)[2]
    tall = geod.inv(18.0, south, 18.0, north)[2]
    assert tall / wide == pytest.approx(2.0, rel=0.01)
    page = " ".join((DOCS / "gotchas.rst").read_text(encoding="utf-8").split())
    assert "buffer drawn in degrees is, on the ground at 60°N, an ellipse twice as tall" in page
    assert "twice as wide as it is tall" not in page


def _vertices(path: Path) -> int:
    """The vertices of a GeoJSON FeatureCollection's geometries, rings' closing points included."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return sum(
        int(shapely.get_num_coordinates(shapely.geometry.shape(f["geometry"])))
        for f in doc["features"]
    )


def test_the_regions_page_counts_the_vertices_that_were_simplified(shared_data: Path) -> None:
    """The page's "N vertices ... simplified to M" are the SWEREF 99 TM file's and the shipped.

    It said 121,996, the WGS84 file's count, for the file the build simplifies (121,580, the
    count the same page gives for it a few paragraphs earlier).
    """
    from geotarget import _regions_io

    page = " ".join((DOCS / "regions.rst").read_text(encoding="utf-8").split())
    found = re.search(
        r"Tolerance: 60 m\.\*\* The ([\d,]+) vertices of Lantmäteriet's data( \(.*?\))? were "
        r"simplified to ([\d,]+) as one coverage",
        page,
    )
    assert found, "the regions page no longer states what was simplified"
    simplified, shipped = (int(found[k].replace(",", "")) for k in (1, 3))
    sweden = shared_data / "sweden"
    assert simplified == _vertices(sweden / "kommuner_lantmateriet_sweref99tm.geojson")
    wgs84 = _vertices(sweden / "kommuner_lantmateriet_wgs84.geojson")
    assert found[2] == f" (its SWEREF 99 TM file; the WGS84 file has {wgs84:,})"
    data = Path(_regions_io.__file__).parent / "data" / "sweden" / "kommuner.npz"
    with np.load(data) as arrays:
        _, polygons = _regions_io.unpack_polygons(dict(arrays), str(data))
    assert shipped == int(shapely.get_num_coordinates(polygons).sum())
    assert f"Lantmäteriet's {simplified:,} vertices become" in page


@pytest.mark.parametrize(
    ("typed", "near"),
    [("tagret", "target"), ("Target", "target"), ("preveiw", "preview"), ("lcoate", "locate")],
)
def test_a_misspelt_command_is_named_with_the_nearest_one(
    capsys: pytest.CaptureFixture[str], typed: str, near: str
) -> None:
    """``geotarget tagret`` says "did you mean target?", as a misspelt option names its nearest."""
    with pytest.raises(SystemExit) as stopped:
        run(typed, "--alert", "a.xml")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"geotarget: argument command: invalid choice: '{typed}'")
    assert err.endswith(f"; did you mean {near}? (see 'geotarget --help')\n")


def test_a_word_near_no_command_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    """A word like no command is refused with the list of commands alone."""
    with pytest.raises(SystemExit):
        run("xyz")
    assert "did you mean" not in capsys.readouterr().err


def _chord_bounds_apart(radius_m: float) -> tuple[float, float]:
    """How far apart the areas page's chord bounds are at ``radius_m``, and the upper one's excess.

    The oracle: a point ``radius_m`` from (18°E, 60°N) along the geodesic (``pyproj.Geod``), its
    straight-line distance through ECEF from pyproj's own EPSG:4979 → EPSG:4978 transform, and
    the page's bounds ``c <= s <= 2 R_min asin(c / 2 R_min)``, ``R_min = a (1 - e²)``.
    """
    geod = pyproj.Geod(ellps="WGS84")
    to_ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    lon, lat, _ = geod.fwd(18.0, 60.0, 45.0, radius_m)
    here = np.array(to_ecef.transform(18.0, 60.0, 0.0))
    there = np.array(to_ecef.transform(lon, lat, 0.0))
    chord = float(np.linalg.norm(there - here))
    r_min = geod.a * (1.0 - geod.es)
    upper = 2.0 * r_min * float(np.arcsin(chord / (2.0 * r_min)))
    return upper - chord, upper - radius_m


def test_the_circle_pages_state_how_far_apart_the_chord_bounds_are() -> None:
    """A millimetre at 10 km, a metre at 100 km, a kilometre at 1,000 km, as measured.

    The areas page said "2e-5 m apart at 10 km and 21 m apart at 1,000 km", and the design page
    "2e-5 m wide": those are how far the upper bound lies above the geodesic distance, not how
    far apart the bounds are (the band ``Geod.inv`` decides is 50 times wider). The matching
    page said "2 cm at 100 km".
    """
    for radius_m, apart_m in ((1e3, 1e-6), (10e3, 1e-3), (100e3, 1.0), (1000e3, 1000.0)):
        apart, _ = _chord_bounds_apart(radius_m)
        assert apart == pytest.approx(apart_m, rel=0.05), radius_m
    assert _chord_bounds_apart(10e3)[1] == pytest.approx(2e-5, rel=0.25)
    assert _chord_bounds_apart(1000e3)[1] == pytest.approx(20.0, rel=0.15)
    areas, design, matching = (
        " ".join((DOCS / page).read_text(encoding="utf-8").split())
        for page in ("areas.rst", "design.rst", "matching.rst")
    )
    assert (
        "The two bounds are ``c³ / (24 R_min²)`` apart: a millimetre at 10 km, a metre at 100 km, "
        "a kilometre at 1,000 km. The upper bound is the close one (2e-5 m above ``s`` at 10 km, "
        "about 20 m at 1,000 km)"
    ) in areas
    assert "their band is provably correct and a millimetre wide at 10 km" in design
    assert (
        "a band a few micrometres wide at 1 km, a millimetre at 10 km, a metre at 100 km"
        in matching
    )
    for page in (areas, design, matching):
        assert "2e-5 m apart" not in page and "2e-5 m wide" not in page
        assert "2 cm at 100 km" not in page


def _file_of(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "devices.csv"
    path.write_text("id,lon,lat,accuracy_m,observed_at\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(("nulls", "fixes"), [(30, 100), (60, 100), (1, 2)])
def test_fixes_at_lon_0_lat_0_are_named_as_a_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nulls: int, fixes: int
) -> None:
    """Rows at exactly lon 0, lat 0 (an unknown position written as zeros) get a warning.

    Under half of the fixes, nothing was said: those devices were counted as fixes in the Gulf
    of Guinea; over half, the warning asked "are they WGS84 longitude and latitude in
    degrees?", which the file's real fixes are.
    """
    rows = [f"z{i},0,{'-0.0' if i % 2 else '0'},0,1716213600" for i in range(nulls)]
    rows += [f"s{i},18.06528,59.3325,8,1716213600" for i in range(fixes - nulls)]
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, out = run(
        "target", "--alert", alert, "--positions", str(_file_of(tmp_path, rows)), "--at", AT
    )
    err = capsys.readouterr().err
    assert code == 0 and len(json.loads(out)["recipients"]) == fixes - nulls
    assert (
        f"geotarget target: warning: devices.csv: {nulls:,} of {fixes:,} fixes lie exactly at "
        "lon 0, lat 0, where unknown positions are often written: if these devices have no fix, "
        "leave their lon and lat empty (they are counted as fixes far outside every Swedish "
        "alert area)\n"
    ) in err
    assert "WGS84" not in err and "outside Sweden" not in err


def test_swapped_rows_among_lon_0_lat_0_rows_are_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Placeholders at lon 0, lat 0 do not hide a file whose real fixes are swapped.

    Counted among the fixes outside Sweden, they kept the swapped share under the refusal's
    90 %: the file was answered (nobody told), with a warning.
    """
    rows = [f"z{i},0,0,0,1716213600" for i in range(50)]
    rows += [f"s{i},59.3325,18.06528,8,1716213600" for i in range(50)]
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, out = run(
        "target", "--alert", alert, "--positions", str(_file_of(tmp_path, rows)), "--at", AT
    )
    assert (code, out) == (2, "")
    assert capsys.readouterr().err.startswith(
        "geotarget target: devices.csv: 50 of 50 fixes lie outside Sweden (lon 10..24.5, lat "
        "55..69.5), and 50 of those would lie in it with lon and lat swapped: the file's lon and "
        "lat columns are the other way round"
    )


def test_no_placeholder_warning_without_fixes_at_lon_0_lat_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fixes near lon 0, lat 0, or at lon 0 alone, are no placeholder."""
    rows = ["a,0,0.000001,0,1716213600", "b,0.000001,0,0,1716213600"]
    rows += [f"s{i},18.06528,59.3325,8,1716213600" for i in range(8)]
    alert = str(EXAMPLES / "sos_explosion.xml")
    code, _ = run(
        "target", "--alert", alert, "--positions", str(_file_of(tmp_path, rows)), "--at", AT
    )
    assert code == 0
    assert "lon 0, lat 0" not in capsys.readouterr().err


def test_the_margin_error_bound_the_pages_quote_is_under_two_millimetres() -> None:
    """A 10 km (and a 0.1°) square at 60°N with a 1 km margin: a bound of 1.6 to 1.8 mm.

    The pages said "a millimetre". The oracle is the areas page's own formula, ``margin ·
    (ρ / 6,335 km)² / 2 + 1 mm``, with ``ρ`` measured by ``pyproj.Geod`` from the square's centre
    to its farthest corner, plus the margin; the library's bound agrees with it.
    """
    geod = pyproj.Geod(ellps="WGS84")
    east, _, _ = geod.fwd(18.0, 60.0, 90.0, 10_000.0)
    _, north, _ = geod.fwd(18.0, 60.0, 0.0, 10_000.0)
    for corners in (
        [(18.0, 60.0), (east, 60.0), (east, north), (18.0, north)],
        [(18.0, 60.0), (18.1, 60.0), (18.1, 60.1), (18.0, 60.1)],
    ):
        lons, lats = zip(*corners, strict=True)
        mid_lon, mid_lat = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2
        rho = max(geod.inv(mid_lon, mid_lat, x, y)[2] for x, y in corners) + 1000.0
        formula = 1000.0 * (rho / 6_335_000.0) ** 2 / 2 + 1e-3
        bound = Polygon(corners, margin_m=1000.0).margin_error_bound_m
        assert bound == pytest.approx(formula, rel=0.05)
        assert 1.5e-3 < bound < 2e-3
    areas, gotchas = (
        " ".join((DOCS / page).read_text(encoding="utf-8").split())
        for page in ("areas.rst", "gotchas.rst")
    )
    assert "under two millimetres for a 10 km polygon with a 1 km margin" in areas
    assert "(under two millimetres for a 0.1° polygon with a 1 km margin)" in gotchas
