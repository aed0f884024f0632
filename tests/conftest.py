"""Shared fixtures: versions in the report header, shared data, Hypothesis profiles, PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, settings

# CI draws the same examples on every run (derandomize): a red CI is a reproducible regression,
# never a lucky draw; the random search runs in the dev and thorough profiles.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# scripts/min_versions.py run by hand on the whole suite (--all) or on test paths: fewer
# examples, as reproducibly as "ci".
settings.register_profile(
    "min",
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# The oldest lane (scripts/min_versions.py, run by scripts/test: the wheel at the declared
# minimum versions on Python 3.10) tests that the oldest set-up works, not the properties (the
# main run does): a few fixed examples each, reproducibly.
settings.register_profile(
    "deps",
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# A long run to do once by hand (e.g. before a release): HYPOTHESIS_PROFILE=thorough.
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under the "deps" profile, cap a test's own ``@settings(max_examples=N)`` at the profile's.

    The oldest lane (scripts/min_versions.py) checks that the wheel works at the minimum
    versions, not the properties: a test that asks for more examples than the profile's 5 (a
    property test that the main run gives its full count) runs the profile's 5 there, each
    still drawn by the test's own strategies and settings otherwise (its health checks,
    deadline). Only tests decorated with ``@settings``/``@given`` are capped; settings built
    inside a test (a state machine's) keep what they ask. Every other profile leaves the
    tests' settings alone. (It replaces the settings Hypothesis keeps on the test function,
    ``_hypothesis_internal_use_settings``; a Hypothesis without it leaves the counts as they are.)
    """
    if PROFILE != "deps":
        return
    cap = settings.get_profile("deps").max_examples
    for item in items:
        test: Any = getattr(item, "obj", None)
        test = getattr(test, "__func__", test)  # a method: its function
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        hypothesis_test = getattr(test, "is_hypothesis_test", False)
        if hypothesis_test and isinstance(own, settings) and own.max_examples > cap:
            test._hypothesis_internal_use_settings = settings(own, max_examples=cap)


#: ../shared/data beside the clone (CI lays it there); override with GEOTARGET_SHARED_DATA.
SHARED_DATA = Path(
    os.environ.get("GEOTARGET_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


#: CI (``CI=true``) fails tests that need the shared data when it is missing, instead of
#: skipping them; a run that leaves it out on purpose (scripts/test's wheel run) sets this to 1.
ALLOW_MISSING = os.environ.get("GEOTARGET_SHARED_DATA_OPTIONAL") == "1"


def _spatialindex_version() -> str:
    """The version of libspatialindex, when the optional ``rtree`` peer is installed."""
    try:
        import rtree
    except ImportError:
        return "not installed (rtree is a benchmark peer only)"
    return str(rtree.core.rt.SIDX_Version().decode())


def pytest_report_header() -> list[str]:
    """Print the versions of the native libraries the results depend on."""
    return [
        f"geotarget natives: GEOS {shapely.geos_version_string}, PROJ {pyproj.proj_version_str}, "
        f"numpy {np.__version__}, libspatialindex {_spatialindex_version()}",
        f"shared data: {SHARED_DATA} ({'present' if SHARED_DATA.is_dir() else 'absent'})",
    ]


def missing_shared_data(folder: Path, *, ci: bool, allow_missing: bool) -> str | None:
    """What to do without the reference data: ``"fail"``, ``"skip"``, or None when present."""
    if folder.is_dir():
        return None
    return "fail" if ci and not allow_missing else "skip"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder.

    Without it, tests that need it skip with a clear reason locally, and FAIL in CI (``CI=true``)
    unless ``GEOTARGET_SHARED_DATA_OPTIONAL=1`` says the run leaves it out on purpose.
    """
    action = missing_shared_data(
        SHARED_DATA, ci=os.environ.get("CI") == "true", allow_missing=ALLOW_MISSING
    )
    reason = f"reference data not found at {SHARED_DATA} (CI lays ../shared beside the clone)"
    if action == "fail":
        pytest.fail(
            f"{reason}; in CI it must be there (set GEOTARGET_SHARED_DATA_OPTIONAL=1 "
            "only for a run that leaves it out on purpose)"
        )
    if action == "skip":
        pytest.skip(reason)
    return SHARED_DATA


#: A libpq DSN of a PostgreSQL server the tests may use (``scripts/test`` starts a throw-away one).
POSTGRES_DSN = os.environ.get("GEOTARGET_TEST_POSTGRES_DSN", "")


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema, dropped afterwards.

    Without ``GEOTARGET_TEST_POSTGRES_DSN`` the test skips, with a reason; in CI (``CI=true``)
    it fails instead, so a missing server can never pass unnoticed.
    """
    if not POSTGRES_DSN:
        reason = (
            "GEOTARGET_TEST_POSTGRES_DSN is not set: run `python3 scripts/pg <pytest command>` "
            "to start a throw-away PostgreSQL"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_DSN} options='-c search_path={schema}'"
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def private_postgres() -> Iterator[Any]:
    """A private throw-away PostgreSQL server (scripts/_pg.py), started; stopped at the end.

    Fails in CI (``CI=true``) where PostgreSQL is not installed, skips elsewhere.
    """
    import importlib.util

    where = Path(__file__).resolve().parents[1] / "scripts" / "_pg.py"
    spec = importlib.util.spec_from_file_location("_geotarget_pg", where)
    assert spec is not None and spec.loader is not None
    _pg: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_pg)
    if _pg.bindir() is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    with _pg.started() as db:
        yield db


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A private throw-away PostgreSQL server (scripts/_pg.py) that the test may stop and start."""
    with private_postgres() as db:
        yield db


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A Dask LocalCluster of two worker processes, one per test module, and its client.

    For ``tests/test_dask*.py``; fails in CI (``CI=true``) and skips locally when it cannot
    start.
    """
    try:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    except Exception as err:  # pragma: no cover - depends on the machine
        if os.environ.get("CI") == "true":
            pytest.fail(f"a Dask LocalCluster is required in CI and could not start: {err!r}")
        pytest.skip(f"no Dask LocalCluster here: {err!r}")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Any]:
    """``mount(size)``: a fresh tmpfs of ``size`` (e.g. ``"8m"``) under ``tmp_path``, its path.

    For disk-full tests: a file system the test can truly fill (``posix_fallocate``) and free
    again, with no loop device. Mounting needs root (CI runs as root); when it is impossible
    the test skips with the reason locally and FAILS in CI (``CI=true``). Unmounted afterwards.
    """
    import subprocess

    mounted: list[Path] = []

    def mount(size: str) -> Path:
        place = tmp_path / f"tmpfs-{len(mounted)}"
        place.mkdir()
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(place)],
                capture_output=True,
                text=True,
            )
            why = done.stderr.strip() or f"exit status {done.returncode}"
        except OSError as err:  # no mount(8) on this machine
            done, why = None, str(err)
        if done is None or done.returncode != 0:
            reason = f"cannot mount a {size} tmpfs here (it needs root): {why}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"a small tmpfs is required in CI (it runs as root): {reason}")
            pytest.skip(reason)
        mounted.append(place)
        return place

    try:
        yield mount
    finally:
        for place in mounted:
            subprocess.run(["umount", "-l", str(place)], check=False)
