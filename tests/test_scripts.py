"""The set-up scripts a newcomer runs first (``scripts/demo``, and ``scripts/_venv.run`` under all).

Only their own logic: installing into ``.venv`` is what CI itself does through ``scripts/test``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name: str, path: Path) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def venv_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return _load("_venv", SCRIPTS / "_venv.py")


def test_the_demo_runs_in_the_callers_directory(
    venv_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python3 /path/scripts/demo --plot map.png`` writes ``map.png`` where it was asked.

    (It ran ``geotarget demo`` from the checkout's root, so a relative path landed there while
    the demo said "map written to map.png".)
    """
    demo = _load("demo_script", SCRIPTS / "demo")
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(demo, "ensure_venv", lambda *a, **k: None)
    monkeypatch.setattr(demo, "run", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(sys, "argv", ["demo", "--plot", "map.png"])
    monkeypatch.chdir(tmp_path)
    demo.main()
    ((args, kwargs),) = calls
    assert [str(a) for a in args[1:]] == ["demo", "--plot", "map.png"]
    assert Path(kwargs["cwd"]).resolve() == tmp_path.resolve()


def test_ctrl_c_during_a_step_is_one_line_and_exit_130(
    venv_module: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Interrupting ``scripts/test`` or ``scripts/demo`` prints one line, not a traceback."""

    def interrupted(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(venv_module.subprocess, "run", interrupted)
    with pytest.raises(SystemExit) as ended:
        venv_module.run("pytest", "-q")
    assert ended.value.code == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted: pytest -q" and "Traceback" not in err


def test_a_python_older_than_supported_is_refused_before_anything_changes(
    venv_module: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``python3.9 scripts/demo`` says which Python it needs and creates no ``.venv``."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(venv_module, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(venv_module.sys, "version_info", (3, 9, 18, "final", 0))
    with pytest.raises(SystemExit) as ended:
        venv_module.ensure_venv(tmp_path / ".venv", "-e", ".")
    assert ended.value.code == 2
    assert "needs Python 3.10 or newer" in capsys.readouterr().err
    assert calls == [] and not (tmp_path / ".venv").exists()


@pytest.mark.parametrize(("prints", "remade"), [("3 9", True), ("", True), ("3 12", False)])
def test_a_virtualenv_of_an_old_or_missing_python_is_made_again(
    venv_module: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prints: str,
    remade: bool,
) -> None:
    """A ``.venv`` left by Python 3.9 (or whose Python is gone) is made again, with ``--clear``.

    (It was kept, so every later run failed in pip: "3.9.18 not in '>=3.10'".)
    """
    if sys.platform == "win32":  # pragma: no cover
        pytest.skip("a shell script stands in for the virtualenv's Python")
    venv = tmp_path / ".venv"
    python = venv_module.bin_of(venv, "python")
    python.parent.mkdir(parents=True)
    status = 0 if prints else 1
    python.write_text(f"#!/bin/sh\necho {prints}\nexit {status}\n")
    python.chmod(0o755)
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(venv_module, "run", lambda *a, **k: calls.append(tuple(map(str, a))))
    assert venv_module.ensure_venv(venv) == python
    clear = (sys.executable, "-m", "venv", "--clear", str(venv))
    assert (clear in calls) is remade
    assert calls[-1][1:4] == ("-m", "pip", "install")


@pytest.mark.parametrize(
    ("raised", "said"),
    [
        (SystemExit(130), "the run above was interrupted"),
        (KeyboardInterrupt(), "the run above was interrupted"),
        (SystemExit(1), "the run above failed"),
    ],
)
def test_the_background_run_says_whether_the_run_above_failed_or_was_interrupted(
    venv_module: ModuleType,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    said: str,
) -> None:
    """Ctrl-C during ``scripts/test``'s main run is not reported as a failure of it."""
    script = _load("test_script", SCRIPTS / "test")
    with pytest.raises(type(raised)), script.beside(sys.executable, "-c", "print('beside')"):
        raise raised
    out = capsys.readouterr().out
    assert said in out and "did not run" in out
