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


def _fake_python(venv_module: ModuleType, venv: Path, geotarget_file: Path) -> Path:
    """A shell script standing in for a virtualenv's Python 3.12 with pip and geotarget."""
    python: Path = venv_module.bin_of(venv, "python")
    python.parent.mkdir(parents=True)
    python.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        "  *version_info*) echo 3 12 ;;\n"
        "  *'import pip'*) exit 0 ;;\n"
        f"  *geotarget*) echo '{geotarget_file}' ;;\n"
        "  *) exit 3 ;;\n"
        "esac\n"
    )
    python.chmod(0o755)
    return python


def test_a_second_run_over_a_complete_virtualenv_installs_nothing(
    venv_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second ``scripts/demo`` needs no package registry: the stamp says all is there.

    (Every run reinstalled the package, so a second demo without network failed in pip:
    "hatchling>=1.25 ... none".) Another install, or a changed pyproject.toml, installs again.
    """
    if sys.platform == "win32":  # pragma: no cover
        pytest.skip("a shell script stands in for the virtualenv's Python")
    venv = tmp_path / ".venv"
    python = _fake_python(venv_module, venv, venv_module.ROOT / "geotarget" / "__init__.py")
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(venv_module, "run", lambda *a, **k: calls.append(tuple(map(str, a))))
    assert venv_module.ensure_venv(venv, "-e", ".[sweden,plot]") == python
    assert [c[3] for c in calls] == ["install", "install"]  # pip, then the package
    calls.clear()
    assert venv_module.ensure_venv(venv, "-e", ".[sweden,plot]") == python
    assert calls == []
    venv_module.ensure_venv(venv, "-e", ".[sweden,plot]", "--group", "dev")  # another install
    assert len(calls) == 2
    calls.clear()
    monkeypatch.setattr(venv_module, "_wanted", lambda install: "pyproject.toml changed")
    venv_module.ensure_venv(venv, "-e", ".[sweden,plot]")
    assert len(calls) == 2


def test_a_virtualenv_importing_another_checkout_is_installed_into_again(
    venv_module: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stamp is not enough: its geotarget must be this checkout's (a copied .venv is not)."""
    if sys.platform == "win32":  # pragma: no cover
        pytest.skip("a shell script stands in for the virtualenv's Python")
    venv = tmp_path / ".venv"
    _fake_python(venv_module, venv, tmp_path / "elsewhere" / "geotarget" / "__init__.py")
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(venv_module, "run", lambda *a, **k: calls.append(tuple(map(str, a))))
    venv_module.ensure_venv(venv, "-e", ".")
    venv_module.ensure_venv(venv, "-e", ".")
    assert len(calls) == 4


def test_a_path_the_output_cannot_encode_is_echoed_escaped_not_a_traceback(
    venv_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout in ``/tmp/Åsa projekt`` echoed to an ASCII stream (``PYTHONIOENCODING``).

    (``print`` raised UnicodeEncodeError: ``python3 scripts/demo`` ended in a traceback.)
    """
    import io

    raw = io.BytesIO()
    ascii_out = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(venv_module.sys, "stdout", ascii_out)
    done: subprocess.CompletedProcess[bytes] = subprocess.CompletedProcess(args=[], returncode=0)
    monkeypatch.setattr(venv_module.subprocess, "run", lambda *a, **k: done)
    venv_module.run("/tmp/Åsa projekt/.venv/bin/python", "-m", "pip", "--version")
    ascii_out.flush()
    echoed = raw.getvalue().decode("ascii")
    assert "/tmp/\\xc5sa projekt/.venv/bin/python -m pip --version" in echoed
