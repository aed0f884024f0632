"""Shared set-up for ``scripts/test`` and ``scripts/demo``: a project virtualenv, made from scratch.

Needs nothing but Python 3 (>= 3.10) and access to the package registry.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bin_of(venv: Path, name: str) -> Path:
    """The path of an executable inside a virtualenv."""
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def run(*cmd: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
    """Run a command, echoing it; exit with its code when it fails."""
    printable = " ".join(str(c) for c in cmd)
    print(f"\n$ {printable}", flush=True)
    t0 = time.perf_counter()
    try:
        done = subprocess.run([str(c) for c in cmd], cwd=cwd, env={**os.environ, **(env or {})})
    except KeyboardInterrupt:  # Ctrl-C: the command got it too; one line, not a traceback
        print(f"\ninterrupted: {printable}", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    if done.returncode != 0:
        print(f"\nFAILED ({done.returncode}): {printable}", file=sys.stderr, flush=True)
        raise SystemExit(done.returncode)
    print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)


#: The oldest Python geotarget supports (``requires-python`` in pyproject.toml).
OLDEST = (3, 10)


def _version_of(python: Path) -> tuple[int, int] | None:
    """The (major, minor) of a virtualenv's Python; None if it does not run."""
    try:
        done = subprocess.run(
            [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    parts = done.stdout.split()
    if done.returncode != 0 or len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _has_pip(python: Path) -> bool:
    """Whether a virtualenv's Python can import pip.

    ``python3 -m venv`` on a Python without ``ensurepip`` (Debian and Ubuntu before their
    ``python3-venv`` package is installed) stops after making ``bin/python``, leaving a
    virtualenv without pip.
    """
    try:
        done = subprocess.run([str(python), "-c", "import pip"], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def ensure_venv(venv: Path, *install: str) -> Path:
    """Create ``venv`` if needed, bring pip up to date and install ``install`` into it.

    Refuses a Python older than :data:`OLDEST` before it changes anything, and makes the
    virtualenv again when the one there runs such a Python (left by an earlier run with
    one), does not run at all (its Python was removed) or has no pip (its creation stopped
    part-way).
    """
    if sys.version_info[:2] < OLDEST:
        need = ".".join(map(str, OLDEST))
        print(
            f"geotarget needs Python {need} or newer; this is {sys.version.split()[0]} "
            f"({sys.executable}). Run this script with a newer one, e.g. python{need} "
            f"{Path(sys.argv[0]).as_posix()}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    python = bin_of(venv, "python")
    if python.exists():
        found = _version_of(python)
        if found is None or found < OLDEST:
            why = "does not run" if found is None else f"runs Python {found[0]}.{found[1]}"
            print(f"{venv} {why}: making it again", flush=True)
            run(sys.executable, "-m", "venv", "--clear", venv)
        elif not _has_pip(python):  # every pip step failed: "No module named pip"
            print(
                f"{venv} has no pip (an earlier 'python3 -m venv' stopped before installing "
                "it): making it again",
                flush=True,
            )
            run(sys.executable, "-m", "venv", "--clear", venv)
    else:
        run(sys.executable, "-m", "venv", venv)
    run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    if install:
        run(python, "-m", "pip", "install", "--quiet", *install)
    return python
