"""A newcomer's first hour: what the README and the quickstart claim, checked against the world.

Each claim is checked with an oracle of its own (pyproj's geodesics, shapely in the lon/lat
plane, the clock), not only that the snippet runs; and the first things a newcomer types next
(``python -m geotarget`` in a fresh checkout, ``geotarget.sweden`` after ``import geotarget``,
``help(geotarget)``) are answered with what to do, not a bare traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import doctest
import importlib.util
import io
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

import geotarget

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUICKSTART = ROOT / "docs" / "quickstart.rst"
#: Where the geotarget under test lives: a subprocess imports the same one.
PACKAGE_HOME = Path(geotarget.__file__).resolve().parents[1]
GEOD = pyproj.Geod(ellps="WGS84")
SERGELS_TORG = (18.06528, 59.3325)


def _needs(path: Path) -> str:
    if not path.is_file():
        pytest.skip(f"{path.name} is not beside the tests (installed-wheel run from elsewhere)")
    return path.read_text(encoding="utf-8")


def _geodesic_area_m2(lon: list[float], lat: list[float]) -> float:
    """The geodesic area of a ring, its edges densified straight in lon/lat."""
    xs: list[float] = []
    ys: list[float] = []
    ring = [*zip(lon, lat, strict=True), (lon[0], lat[0])]
    for (x0, y0), (x1, y1) in itertools.pairwise(ring):
        t = np.linspace(0.0, 1.0, 2000, endpoint=False)
        xs.extend(x0 + (x1 - x0) * t)
        ys.extend(y0 + (y1 - y0) * t)
    return abs(GEOD.polygon_area_perimeter(xs, ys)[0])


def test_the_readme_prints_what_its_comments_say_and_that_is_true() -> None:
    """Each ``print`` of the README's quickstart prints its comment, and pyproj agrees."""
    code = re.findall(r"```python\n(.*?)```", _needs(README), re.S)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    claims = [
        line.split("#", 1)[1].split(":", 1)[0].strip()
        for line in code.splitlines()
        if line.startswith("print(")
    ]
    assert out.getvalue().splitlines() == claims  # every line claimed, as printed

    lon = np.array([18.06528, 18.0700, 18.0900])
    lat = np.array([59.3325, 59.3330, 59.3325])
    dist = GEOD.inv(np.full(3, SERGELS_TORG[0]), np.full(3, SERGELS_TORG[1]), lon, lat)[2]
    in_circle = dist <= 500.0
    triangle = shapely.Polygon([(18.08, 59.33), (18.10, 59.33), (18.10, 59.34)])
    in_area = in_circle | shapely.covers(triangle, shapely.points(lon, lat))
    n = 20000  # the circle as a fine geodesic polygon: within 0.1 m² of its area
    rim = GEOD.fwd(
        np.full(n, SERGELS_TORG[0]),
        np.full(n, SERGELS_TORG[1]),
        np.linspace(0.0, 360.0, n, endpoint=False),
        np.full(n, 500.0),
    )
    circle_m2 = abs(GEOD.polygon_area_perimeter(rim[0], rim[1])[0])
    triangle_m2 = _geodesic_area_m2([18.08, 18.10, 18.10], [59.33, 59.33, 59.34])
    assert max(rim[0]) < 18.08  # the circle ends west of the triangle: their areas add up
    assert claims[0] == str(in_circle)
    assert claims[1] == f"{in_area} {round(circle_m2 + triangle_m2)}"
    assert claims[2] == "True"


def _quickstart_csv() -> list[list[str]]:
    text = _needs(QUICKSTART)
    block = text.split("$ cat devices.csv\n", 1)[1].split("    $ ", 1)[0]
    return [line.strip().split(";") for line in textwrap.dedent(block).splitlines()[1:]]


def test_the_quickstart_s_second_device_is_where_and_when_it_says() -> None:
    """The second fix: "taken at the same instant as the first's, 7.7 km east", as it is."""
    first, second = _quickstart_csv()
    taken = dt.datetime.fromisoformat(first[4])
    assert dt.datetime.fromtimestamp(int(second[4]), dt.timezone.utc) == taken
    lon, lat = (float(c.replace(",", ".")) for c in second[1:3])
    azimuth, _, metres = GEOD.inv(*SERGELS_TORG, lon, lat)
    assert round(metres / 1000, 1) == 7.7
    assert 85 < azimuth < 95  # east
    text = _needs(QUICKSTART)
    assert "7.7 km east of Sergels torg" in text
    # ... and the first lies at Sergels torg, inside the Explosion's 500 m: the one recipient.
    lon, lat = (float(c.replace(",", ".")) for c in first[1:3])
    assert GEOD.inv(*SERGELS_TORG, lon, lat)[2] <= 500.0
    assert re.search(r'"recipients": \[\s*"' + first[0] + r'"\s*\]', text)


def test_the_quickstart_s_answer_is_about_as_long_as_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The quickstart's "about 45 lines" of JSON: within a tenth of that."""
    from geotarget.cli import main

    assert "The JSON answer is indented, about 45 lines" in _needs(QUICKSTART)
    rows = ["id;lon;lat;accuracy_m;observed_at", *(";".join(r) for r in _quickstart_csv())]
    (tmp_path / "devices.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = io.StringIO()
    alert = ROOT / "docs" / "examples" / "sos_explosion.xml"
    monkeypatch.chdir(tmp_path)
    argv = ["target", "--alert", str(alert), "--positions", "devices.csv"]
    assert main([*argv, "--at", "2024-05-20T16:05+02:00"], out=out) == 0, capsys.readouterr()
    assert 40 <= len(out.getvalue().splitlines()) <= 50


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_HOME)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=PACKAGE_HOME,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


#: A Python without shapely (blocked), in which geotarget is installed or not (hidden).
WITHOUT_SHAPELY = """
import importlib.metadata, runpy, sys
sys.modules["shapely"] = None
if {hidden}:
    def version(name):
        raise importlib.metadata.PackageNotFoundError(name)
    importlib.metadata.version = version
"""


@pytest.mark.parametrize("installed", [False, True])
def test_python_m_geotarget_without_a_library_says_what_to_run(installed: bool) -> None:
    """``python3 -m geotarget`` in a checkout with a Python lacking shapely: one line, exit 3.

    It said "the installation is broken ... reinstall geotarget" of a geotarget never installed
    in that Python, only found in the current directory.
    """
    done = _run(
        WITHOUT_SHAPELY.format(hidden=not installed)
        + "sys.argv = ['geotarget', 'locate', '18', '59']\n"
        + "runpy.run_module('geotarget', run_name='__main__', alter_sys=True)\n"
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"geotarget: this Python ({sys.executable}) has no shapely")
    if installed:
        assert "reinstall geotarget with its dependencies" in line
    else:
        assert "geotarget is not installed in it" in line
        assert f"imported from {PACKAGE_HOME}" in line
        assert "python3 scripts/demo" in line and "-m pip install -e ." in line


def test_a_first_import_without_a_library_names_it_and_what_to_run() -> None:
    """``from geotarget import Circle`` without shapely: an ImportError saying what to do."""
    done = _run(
        WITHOUT_SHAPELY.format(hidden=True)
        + textwrap.dedent(
            """
            try:
                from geotarget import Circle
            except ImportError as err:
                print(type(err).__name__, err.name, err, sep="|")
            """
        )
    )
    kind, name, message = done.stdout.strip().split("|")
    assert (kind, name) == ("ModuleNotFoundError", "shapely"), done.stderr
    assert "has no shapely, which geotarget needs" in message
    assert "python3 scripts/demo" in message


def test_a_module_not_yet_imported_is_named_as_one_to_import() -> None:
    """``geotarget.sweden`` after ``import geotarget``: the message says to import it."""
    done = _run(
        """
        import geotarget
        for name in ("sweden", "nonesuch"):
            try:
                getattr(geotarget, name)
            except AttributeError as err:
                print(err)
        from geotarget import sweden
        print(hasattr(geotarget, "nonesuch"), geotarget.sweden is sweden)
        """
    )
    sweden, nonesuch, after = done.stdout.splitlines()
    assert "geotarget.sweden is a module" in sweden, done.stderr
    assert "import geotarget.sweden" in sweden
    assert nonesuch == "module 'geotarget' has no attribute 'nonesuch'"
    assert after == "False True"


def test_help_geotarget_starts_a_newcomer_and_names_only_what_exists() -> None:
    """The package docstring's example runs, and every module it names can be imported."""
    doc = geotarget.__doc__ or ""
    test = doctest.DocTestParser().get_doctest(doc, {}, "geotarget", None, 0)
    assert test.examples, "help(geotarget) shows an example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=lambda _: None)
    assert runner.summarize(verbose=False).failed == 0
    named = set(re.findall(r"``(geotarget\.\w+)``", doc))
    assert {"geotarget.sweden", "geotarget.pilot", "geotarget.cap"} <= named
    for module in named:
        assert importlib.util.find_spec(module) is not None, module


def test_every_top_level_name_the_docs_use_is_exported() -> None:
    """Each ``geotarget.X`` of the README and docs is a module or in ``geotarget.__all__``."""
    texts = [_needs(README), *(p.read_text(encoding="utf-8") for p in ROOT.glob("docs/*.rst"))]
    names = {n for t in texts for n in re.findall(r"\bgeotarget\.(\w+)", t)}
    assert {"Positions", "PositionIndex", "load_policy"} <= names  # (the scan finds them)
    for name in sorted(names):
        if name not in geotarget.__all__:
            assert importlib.util.find_spec(f"geotarget.{name}") is not None, name


@pytest.mark.parametrize("example", ["sos_explosion.xml", "polisen_tips.xml"])
def test_without_at_the_quickstart_s_alerts_are_expired_as_it_says(
    example: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The quickstart's "without it, it decides now, when both ... have long expired"."""
    from geotarget.cli import main

    text = " ".join(_needs(QUICKSTART).split())
    said = re.search(r"\(they expire (\S+) (\S+) and (\S+) (\S+)\) have long expired", text)
    assert said is not None
    xml = (ROOT / "docs" / "examples" / example).read_text(encoding="utf-8")
    expires = {dt.datetime.fromisoformat(e) for e in re.findall(r"<expires>(.*?)<", xml)}
    stockholm = {e.strftime("%Y-%m-%d %H:%M") for e in expires}
    assert stockholm & {f"{said[1]} {said[2]}", f"{said[3]} {said[4]}"} == stockholm
    assert max(expires) < dt.datetime.now(dt.timezone.utc)  # "long expired", by the clock
    rows = ["id;lon;lat;accuracy_m;observed_at", *(";".join(r) for r in _quickstart_csv())]
    (tmp_path / "devices.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    alert = ROOT / "docs" / "examples" / example
    assert main(["target", "--alert", str(alert), "--positions", "devices.csv"], out=out) == 0
    capsys.readouterr()
    answer = json.loads(out.getvalue())
    assert (answer["verdict"], answer["recipients"]) == ("EXPIRED", [])
