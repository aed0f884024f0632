"""The reference data in ../shared: tests that need it fail in CI without it, skip locally."""

from __future__ import annotations

import os
import re
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


def _run_shared_data_tests(
    tmp_path: Path, paths: list[str], *options: str, **env: str
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if k not in ("CI", "GEOTARGET_SHARED_DATA_OPTIONAL")
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *paths,
            "-m",
            "shared_data",
            "-q",
            "-p",
            "no:cacheprovider",
            # Plain asserts: the runs are judged by their outcomes, and rewriting the asserts
            # of every test module costs most of a whole-suite collection (~10 s).
            "--assert=plain",
            *options,
        ],
        cwd=ROOT,
        env={**base, "GEOTARGET_SHARED_DATA": str(tmp_path / "absent"), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _count(summary: str, word: str) -> int:
    """The number before ``word`` in pytest's last line (``"2 failed, 3 errors in 1.0s"``)."""
    found = re.search(rf"(\d+) {word}\b", summary)
    return int(found.group(1)) if found else 0


def test_ci_fails_the_shared_data_tests_when_the_folder_is_missing(tmp_path: Path) -> None:
    """With CI=true and no ../shared, the shared_data tests fail (not skip); opting out skips.

    The first run collects the whole suite, so every shared_data test anywhere is among those
    that must fail (without tracebacks: the reason is in the short summary, ``-rfE``). The
    opt-out run takes just the files those tests are in, and must skip each one of them.
    """
    ci = _run_shared_data_tests(tmp_path, ["tests"], "--tb=no", "-rfE", CI="true")
    assert ci.returncode == 1, ci.stdout[-2000:]
    assert "in CI it must be there" in ci.stdout
    last = ci.stdout.splitlines()[-1]
    assert " skipped" not in last
    failing = _count(last, "failed") + _count(last, "errors?")
    files = sorted(
        {
            line.split()[1].split("::")[0]
            for line in ci.stdout.splitlines()
            if line.startswith(("FAILED ", "ERROR "))
        }
    )
    assert failing > 0 and files, ci.stdout[-2000:]
    optional = _run_shared_data_tests(
        tmp_path, files, CI="true", GEOTARGET_SHARED_DATA_OPTIONAL="1"
    )
    assert optional.returncode == 0, optional.stdout[-2000:]
    last = optional.stdout.splitlines()[-1]
    assert "skipped" in last
    assert "failed" not in last
    assert _count(last, "skipped") == failing, (ci.stdout[-2000:], last)
