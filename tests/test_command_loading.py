"""The command answers Ctrl-C while it loads; ``import geotarget`` loads nothing heavy.

Ctrl-C is simulated deterministically: an import hook raises KeyboardInterrupt when numpy,
the first heavy module anything of geotarget needs, is looked for.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import geotarget

ROOT = Path(__file__).resolve().parents[1]

_HOOK = """
import runpy, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            raise KeyboardInterrupt

sys.meta_path.insert(0, Interrupt())
sys.argv = ["geotarget", "locate", "18.07", "59.33"]
"""


@pytest.mark.parametrize(
    "run",
    [
        'runpy.run_module("geotarget", run_name="__main__", alter_sys=True)',
        "from geotarget._command import main\nraise SystemExit(main())",
    ],
    ids=["python -m geotarget", "console script"],
)
def test_ctrl_c_while_the_package_loads_is_one_line(run: str) -> None:
    """Interrupted before any geotarget module past the package: exit 130, one line."""
    done = subprocess.run(
        [sys.executable, "-c", _HOOK + run], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "geotarget: interrupted\n", "")


def test_the_console_script_is_the_guarded_entry_point() -> None:
    """``[project.scripts]`` names the entry that loads the command inside its handler."""
    from test_dependencies import _project

    assert _project()["scripts"]["geotarget"] == "geotarget._command:main"


def test_importing_the_package_loads_no_module_until_a_name_is_used() -> None:
    """``import geotarget`` loads neither numpy nor its own modules; a name loads its module."""
    code = (
        "import sys, geotarget\n"
        "print(sorted(m for m in ('numpy', 'shapely', 'pyproj', 'geotarget.areas') "
        "if m in sys.modules))\n"
        "geotarget.Circle\n"
        "print('geotarget.areas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]


def test_every_public_name_resolves_to_its_module() -> None:
    """Each name of ``__all__`` is the object its defining module exports, and listed."""
    import importlib

    for name in geotarget.__all__:
        value = getattr(geotarget, name)
        if name == "__version__":
            continue
        module = importlib.import_module(geotarget._WHERE[name])
        assert value is getattr(module, name), name
    assert sorted(dir(geotarget)) == sorted(geotarget.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        geotarget.Nothing  # noqa: B018
