#!/usr/bin/env python3
"""Test the oldest supported set-up: ``python3 scripts/min_versions.py [--wheel W] [--python P]``.

Reads the lower bounds of ``[project].dependencies`` and of the extras in :data:`EXTRAS` from
pyproject.toml, pins each to its series (``numpy>=1.24`` → ``numpy==1.24.*``,
``pyarrow>=14`` → ``pyarrow==14.0.*``, ``lxml>=5.2.1`` → ``lxml==5.2.1``), installs the package
with them into a throw-away virtualenv ``.venv-min`` (the test group unpinned), checks what got
installed and runs the tests (``-x -q``). A core dependency without a lower bound fails.

``scripts/test`` runs it as the oldest lane: ``--wheel`` installs the built wheel (not the
source tree) and the tests run from outside the source tree against it, so they import what a
user installs; ``--python`` names the interpreter (Python 3.10, the oldest supported, when the
machine has it). The tests are the files in :data:`CORE`, which exercise every pinned dependency
and the installed package, without the tests marked ``slow`` and with Hypothesis' ``deps``
profile (5 fixed examples a property; tests/conftest.py caps a test's own
``@settings(max_examples=N)`` at those 5 under this profile): this run checks the wheel, the
oldest Python and the oldest versions; the main run checks the properties, every test file
with the data, at their full counts. ``--all`` runs the whole suite with the ``min`` profile,
and test paths run just those. The ``postgres`` and ``signing`` extras are pinned too: under
``CI=true`` the PostgreSQL and signature tests fail rather than skip without them.

The ``plot`` extra is left out: matplotlib's minimum predates today's pyparsing, whose
deprecation warnings the suite turns into errors; its tests skip here and run in the main run.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _venv import ROOT, bin_of, ensure_venv, run

EXTRAS = ("sweden", "geoparquet", "postgres", "signing", "toml")

#: The tests scripts/test runs at the minimum versions: together they touch every pinned
#: dependency (shapely, pyproj, numpy, attrs, tzdata; pyarrow through GeoParquet region files;
#: psycopg through the ledger; signxml, lxml and cryptography through CAP signatures).
#: The CLI's tests are left out: each starts a Python process, and the library calls they make
#: are the ones below. test_package checks the installed package itself (``--wheel``).
CORE = (
    "tests/test_areas.py",
    "tests/test_positions.py",
    "tests/test_matcher.py",
    "tests/test_regions.py",
    "tests/test_sweden.py",
    "tests/test_rollout.py",
    "tests/test_cap.py",
    "tests/test_cap_signing.py",
    "tests/test_intake.py",
    "tests/test_ledger.py",
    "tests/test_ledger_ids.py",
    "tests/test_targeting.py",
    "tests/test_dependencies.py",
    "tests/test_package.py",
)
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*(?:;(.*))?$")


def _pyproject() -> dict[str, object]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def pin(requirement: str, python: tuple[int, int] = sys.version_info[:2]) -> tuple[str, str] | None:
    """``(name, pinned spec)`` for a requirement's lower bound; None if a marker excludes it.

    >>> pin("numpy>=1.24")
    ('numpy', 'numpy==1.24.*')
    >>> pin("rtree>=1.4.1")
    ('rtree', 'rtree==1.4.1')
    >>> pin("pyarrow>=14")
    ('pyarrow', 'pyarrow==14.0.*')
    >>> pin("tomli>=2; python_version < '3.0'") is None
    True
    """
    m = _REQ.match(requirement)
    if not m:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    name, spec, marker = m.group(1), m.group(2), m.group(3)
    if marker and not _marker_applies(marker, python):
        return None
    lower = re.search(r">=\s*([0-9][0-9.]*)", spec)
    if not lower:
        raise SystemExit(
            f"{name} has no lower bound in pyproject.toml ({requirement!r}): declare the oldest "
            "version that works, so that this run can test it"
        )
    version = lower.group(1)
    if "." not in version:  # "pyarrow>=14" promises 14.0, not whichever 14.x is newest
        version += ".0"
    return name, f"{name}=={version}.*" if version.count(".") == 1 else f"{name}=={version}"


def _marker_applies(marker: str, python: tuple[int, int]) -> bool:
    m = re.fullmatch(r"\s*python_version\s*<\s*['\"](\d+)\.(\d+)['\"]\s*", marker)
    if m:
        return python < (int(m.group(1)), int(m.group(2)))
    raise SystemExit(f"scripts/min_versions.py cannot evaluate the marker {marker!r}")


def pins(python: tuple[int, int] = sys.version_info[:2]) -> dict[str, str]:
    """Every core and extra requirement's name → its pinned minimum, on Python ``python``."""
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    reqs = list(project["dependencies"])
    for extra in EXTRAS:
        reqs += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for req in reqs:
        pinned = pin(req, python)
        if pinned is not None:
            out[pinned[0].lower()] = pinned[1]
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every test, 'min' profile")
    parser.add_argument("--wheel", type=Path, help="install this wheel, not the source tree")
    parser.add_argument("--python", default=sys.executable, help="the virtualenv's Python")
    parser.add_argument("tests", nargs="*", help="test paths (default: CORE)")
    args = parser.parse_args(argv)
    if args.all:
        tests, profile = ["tests"], "min"
    elif args.tests:
        tests, profile = args.tests, "min"
    else:
        tests, profile = [*CORE, "-m", "not slow"], "deps"
    found = subprocess.run(
        [args.python, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    major, minor = (int(v) for v in found.stdout.split())
    pinned = pins((major, minor))
    print(f"Declared minimum versions, on Python {major}.{minor}:", flush=True)
    print("  " + "\n  ".join(pinned.values()), flush=True)
    venv = ROOT / ".venv-min"
    shutil.rmtree(venv, ignore_errors=True)
    run(args.python, "-m", "venv", venv)
    extras = f"[{','.join(EXTRAS)}]"
    target = [f"{args.wheel.resolve()}{extras}"] if args.wheel else ["-e", f".{extras}"]
    with tempfile.TemporaryDirectory(prefix="geotarget-min-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(pinned.values()) + "\n", encoding="utf-8")
        py = ensure_venv(venv, "-c", str(constraints), *target, "--group", "test")
    check = (
        "import importlib.metadata as m, re, sys\n"
        "bad = []\n"
        "for line in sys.argv[1:]:\n"
        "    name, want = line.split('==')\n"
        "    have = m.version(name)\n"
        "    base = want.removesuffix('.*')\n"
        "    series = have == base or have.startswith(base + '.')\n"
        "    ok = series if want.endswith('*') else have == want\n"
        "    print(f'  {name} {have}', '' if ok else f'(wanted {want})')\n"
        "    bad += [] if ok else [name]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    run(py, "-c", check, *pinned.values())
    env = {"HYPOTHESIS_PROFILE": profile}
    if args.wheel is None:
        run(py, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider", env=env)
    else:
        # From outside the source tree, which would shadow the installed package.
        paths = [str(ROOT / t) if t.startswith("tests") else t for t in tests]
        with tempfile.TemporaryDirectory(prefix="geotarget-wheel-run-") as outside:
            run(
                bin_of(venv, "pytest"), *paths, "-x", "-q", "-p", "no:cacheprovider",
                "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
                env={**env, "GEOTARGET_EXPECT_INSTALLED": "1"}, cwd=Path(outside),
            )  # fmt: skip
    print("\nThe declared minimum versions pass the tests.")


if __name__ == "__main__":
    main(sys.argv[1:])
