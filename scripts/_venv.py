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


def ensure_venv(venv: Path, *install: str) -> Path:
    """Create ``venv`` if needed, bring pip up to date and install ``install`` into it."""
    if not bin_of(venv, "python").exists():
        run(sys.executable, "-m", "venv", venv)
    python = bin_of(venv, "python")
    run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    if install:
        run(python, "-m", "pip", "install", "--quiet", *install)
    return python
