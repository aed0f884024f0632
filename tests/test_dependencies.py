"""The declared dependencies match the code: what is core, what is tested at its minimum."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _project() -> dict[str, Any]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"])


def _min_versions() -> Any:
    spec = importlib.util.spec_from_file_location(
        "min_versions", ROOT / "scripts" / "min_versions.py"
    )
    if spec is None or spec.loader is None:
        pytest.skip("scripts/min_versions.py is not beside the tests (an sdist without scripts)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rtree_is_not_a_core_dependency_and_the_library_never_imports_it() -> None:
    """The rtree package is a benchmark peer (bench/test groups), never imported by geotarget."""
    names = [r.split(">")[0].split(";")[0].strip().lower() for r in _project()["dependencies"]]
    assert "rtree" not in names
    code = (
        "import sys, datetime as dt, numpy as np\n"
        "import geotarget, geotarget.matcher, geotarget.targeting, geotarget.regions\n"
        "from geotarget import Circle, Positions, PositionIndex\n"
        "p = Positions(np.arange(3), [18.0, 18.1, 18.2], [59.0, 59.0, 59.0],\n"
        "              observed_at=dt.datetime.now(dt.timezone.utc))\n"
        "PositionIndex(p).query(Circle(18.0, 59.0, 1000.0))\n"
        "print('rtree' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_tzdata_is_required_everywhere() -> None:
    """The tzdata requirement has no platform marker: slim Linux images need it too."""
    tz = [r for r in _project()["dependencies"] if r.lower().startswith("tzdata")]
    assert tz and ";" not in tz[0]


def test_europe_stockholm_resolves_without_system_zone_files(tmp_path: Path) -> None:
    """With the system zone folders hidden (PYTHONTZPATH empty), the tzdata package answers."""
    pytest.importorskip("tzdata", reason="tzdata is a core dependency; install the package")
    code = (
        "import zoneinfo, datetime as dt\n"
        "assert zoneinfo.TZPATH == (), zoneinfo.TZPATH\n"
        "from geotarget.pilot import announced_policy\n"
        "z = zoneinfo.ZoneInfo('Europe/Stockholm')\n"
        "print(dt.datetime(2024, 7, 1, 12, tzinfo=z).utcoffset(), announced_policy().timezone)\n"
    )
    env = {**os.environ, "PYTHONTZPATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2:00:00", "Europe/Stockholm"]


def test_every_core_dependency_has_a_tested_lower_bound() -> None:
    """scripts/min_versions.py pins each declared minimum to its series."""
    mv = _min_versions()
    assert mv.pin("numpy>=1.24") == ("numpy", "numpy==1.24.*")
    assert mv.pin("rtree>=1.4.1") == ("rtree", "rtree==1.4.1")
    pins = mv.pins()
    for req in _project()["dependencies"]:
        name = req.split(">")[0].strip().lower()
        if ";" in req and mv.pin(req) is None:
            continue  # a marker excludes it on this Python (tomli before 3.11)
        assert name in pins, f"{req} is not pinned by the minimum-versions run"
    with pytest.raises(SystemExit, match="no lower bound"):
        mv.pin("tzdata")


def test_minimum_versions_cover_the_server_and_signing_extras_and_run_in_ci() -> None:
    """The extras the server and signature tests need are pinned, and scripts/test runs it.

    Under ``CI=true`` the PostgreSQL and signature tests fail, not skip, without their extras.
    """
    mv = _min_versions()
    assert mv.pin("pyarrow>=14") == ("pyarrow", "pyarrow==14.0.*")
    pins = mv.pins()
    for extra in ("postgres", "signing", "geoparquet"):
        for req in _project()["optional-dependencies"][extra]:
            name = re.split(r"[\[<>=;\s]", req, maxsplit=1)[0].lower()
            assert name in pins, f"{req} ({extra}) is not pinned by the minimum-versions run"
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    # run in the foreground, or beside the wheel's suite (which fails the run when it fails)
    assert re.search(
        r"^\s*(run|with beside)\(sys\.executable, ROOT / \"scripts\" / \"min_versions\.py\"",
        script,
        re.M,
    )
