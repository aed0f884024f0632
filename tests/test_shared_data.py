"""The reference data in ../shared: tests that need it fail in CI without it, skip locally."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import missing_shared_data

ROOT = Path(__file__).resolve().parents[1]


def test_the_rule_for_missing_reference_data(tmp_path: Path) -> None:
    """Present: run. Missing: fail in CI, unless the run says it leaves the data out; else skip."""
    assert missing_shared_data(tmp_path, ci=True, allow_missing=False) is None
    missing = tmp_path / "absent"
    assert missing_shared_data(missing, ci=True, allow_missing=False) == "fail"
    assert missing_shared_data(missing, ci=True, allow_missing=True) == "skip"
    assert missing_shared_data(missing, ci=False, allow_missing=False) == "skip"


def _run_shared_data_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if k not in ("CI", "GEOTARGET_SHARED_DATA_OPTIONAL")
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "-m",
            "shared_data",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env={**base, "GEOTARGET_SHARED_DATA": str(tmp_path / "absent"), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ci_fails_the_shared_data_tests_when_the_folder_is_missing(tmp_path: Path) -> None:
    """With CI=true and no ../shared, the shared_data tests fail (not skip); opting out skips."""
    ci = _run_shared_data_tests(tmp_path, CI="true")
    assert ci.returncode == 1, ci.stdout[-2000:]
    assert "in CI it must be there" in ci.stdout
    assert " skipped" not in ci.stdout.splitlines()[-1]
    optional = _run_shared_data_tests(tmp_path, CI="true", GEOTARGET_SHARED_DATA_OPTIONAL="1")
    assert optional.returncode == 0, optional.stdout[-2000:]
    assert "skipped" in optional.stdout.splitlines()[-1]
    assert "failed" not in optional.stdout.splitlines()[-1]
