"""Shared set-up for ``scripts/test`` and ``scripts/demo``: a project virtualenv, made from scratch.

Needs nothing but Python 3 (>= 3.10) and access to the package registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]


def say(text: str, file: TextIO | None = None) -> None:
    """Print ``text``, escaping what the stream's encoding cannot write (never a traceback).

    A checkout in ``/home/Łukasz`` echoed to a stream in ASCII or cp1252 (``PYTHONIOENCODING``,
    a redirected Windows console) stopped the script with a UnicodeEncodeError.
    """
    out = sys.stdout if file is None else file
    encoding = getattr(out, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding), file=out, flush=True)


def bin_of(venv: Path, name: str) -> Path:
    """The path of an executable inside a virtualenv."""
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def run(*cmd: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
    """Run a command, echoing it; exit with its code when it fails."""
    printable = " ".join(str(c) for c in cmd)
    say(f"\n$ {printable}")
    t0 = time.perf_counter()
    try:
        done = subprocess.run([str(c) for c in cmd], cwd=cwd, env={**os.environ, **(env or {})})
    except KeyboardInterrupt:  # Ctrl-C: the command got it too; one line, not a traceback
        say(f"\ninterrupted: {printable}", sys.stderr)
        raise SystemExit(130) from None
    if done.returncode != 0:
        say(f"\nFAILED ({done.returncode}): {printable}", sys.stderr)
        raise SystemExit(done.returncode)
    say(f"  ({time.perf_counter() - t0:.1f} s)")


#: The oldest Python geotarget supports (``requires-python`` in pyproject.toml).
OLDEST = (3, 10)


def _ask(python: Path, code: str, timeout: float = 60) -> str | None:
    """What a virtualenv's Python prints running ``code``; None if it fails or does not run."""
    try:
        done = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _version_of(python: Path) -> tuple[int, int] | None:
    """The (major, minor) of a virtualenv's Python; None if it does not run."""
    parts = (_ask(python, "import sys; print(*sys.version_info[:2])") or "").split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _has_pip(python: Path) -> bool:
    """Whether a virtualenv's Python can import pip.

    ``python3 -m venv`` on a Python without ``ensurepip`` (Debian and Ubuntu before their
    ``python3-venv`` package is installed) stops after making ``bin/python``, leaving a
    virtualenv without pip.
    """
    return _ask(python, "import pip") is not None


def ensure_venv(venv: Path, *install: str) -> Path:
    """Create ``venv`` if needed, bring pip up to date and install ``install`` into it.

    A virtualenv this function already installed ``install`` into, from this checkout's
    ``pyproject.toml`` as it is now (a stamp in it records that), is used as it is: a second
    ``scripts/demo`` needs no package registry.

    Refuses a Python older than :data:`OLDEST` before it changes anything, and makes the
    virtualenv again when the one there runs such a Python (left by an earlier run with
    one), does not run at all (its Python was removed) or has no pip (its creation stopped
    part-way).
    """
    if sys.version_info[:2] < OLDEST:
        need = ".".join(map(str, OLDEST))
        say(
            f"geotarget needs Python {need} or newer; this is {sys.version.split()[0]} "
            f"({sys.executable}). Run this script with a newer one, e.g. python{need} "
            f"{Path(sys.argv[0]).as_posix()}",
            sys.stderr,
        )
        raise SystemExit(2)
    python = bin_of(venv, "python")
    kept = python.exists()
    if kept:
        found = _version_of(python)
        if found is None or found < OLDEST:
            why = "does not run" if found is None else f"runs Python {found[0]}.{found[1]}"
            say(f"{venv} {why}: making it again")
            run(sys.executable, "-m", "venv", "--clear", venv)
            kept = False
        elif not _has_pip(python):  # every pip step failed: "No module named pip"
            say(
                f"{venv} has no pip (an earlier 'python3 -m venv' stopped before installing "
                "it): making it again"
            )
            run(sys.executable, "-m", "venv", "--clear", venv)
            kept = False
    else:
        run(sys.executable, "-m", "venv", venv)
    stamp = venv / STAMP
    key, wanted = " ".join(install), _wanted(install)
    if kept and _stamped(stamp).get(key) == wanted and _imports_this_checkout(python):
        say(f"\n{venv} already holds this install ({key or 'pip'}): nothing to install")
        return python
    run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    if install:
        run(python, "-m", "pip", "install", "--quiet", *install)
    stamp.write_text(json.dumps({**_stamped(stamp), key: wanted}, indent=1), encoding="utf-8")
    return python


#: The file in the virtualenv that records what :func:`ensure_venv` installed, and from what.
STAMP = "geotarget-installed.json"


def _wanted(install: tuple[str, ...]) -> str:
    """What an install depends on: the arguments, pyproject.toml's bytes and the checkout."""
    h = hashlib.sha256(" ".join(install).encode())
    h.update((ROOT / "pyproject.toml").read_bytes())
    h.update(str(ROOT).encode())
    return h.hexdigest()


def _stamped(stamp: Path) -> dict[str, str]:
    """The installs a virtualenv's stamp records (none when it is missing or unreadable)."""
    try:
        found = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _imports_this_checkout(python: Path) -> bool:
    """Whether the virtualenv's Python imports geotarget from this checkout."""
    printed = _ask(python, "import geotarget; print(geotarget.__file__)", timeout=120)
    if not printed or not printed.strip():
        return False
    return Path(printed.strip()).resolve().is_relative_to(ROOT.resolve())
