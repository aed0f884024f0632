"""Sphinx configuration: numpydoc, autodoc, an API reference generated from each ``__all__``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import geotarget  # noqa: E402

project = "geotarget"
author = "geotarget developers"
copyright = "2026, geotarget developers"
release = geotarget.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
autodoc_typehints = "none"
autodoc_member_order = "bysource"
html_theme = "alabaster"
html_static_path = ["_static"]
exclude_patterns = ["_build", "_scripts"]
nitpicky = False
suppress_warnings = ["ref.python"]

#: Public modules, in the order the reference shows them.
API_MODULES = [
    "geotarget.areas",
    "geotarget.alerts",
    "geotarget.kinds",
    "geotarget.issuers",
    "geotarget.pilot",
    "geotarget.cap",
    "geotarget.regions",
    "geotarget.sweden",
    "geotarget.rollout",
    "geotarget.positions",
    "geotarget.matcher",
    "geotarget.targeting",
    "geotarget.ledger",
    "geotarget.dask",
    "geotarget.errors",
    "geotarget.cli",
]


def _write_api_reference() -> None:
    """Write one page per public module listing exactly the names in its ``__all__``."""
    out = HERE / "api" / "_autogen"
    out.mkdir(parents=True, exist_ok=True)
    present = [m for m in API_MODULES if importlib.util.find_spec(m) is not None]
    for name in present:
        module = importlib.import_module(name)
        lines = [name, "=" * len(name), "", f".. automodule:: {name}", "   :no-members:", ""]
        for attr in module.__all__:
            obj = getattr(module, attr)
            if inspect.isclass(obj):
                kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
                lines += [f".. {kind}:: {name}.{attr}", "   :members:", ""]
            elif callable(obj) and not hasattr(obj, "__origin__"):
                lines += [f".. autofunction:: {name}.{attr}", ""]
            else:
                lines += [f".. autodata:: {name}.{attr}", "   :no-value:", ""]
        (out / f"{name}.rst").write_text("\n".join(lines), encoding="utf-8")
    toc = ["API reference", "=============", "", "Generated from each module's ``__all__``.", ""]
    toc += [".. toctree::", "   :maxdepth: 1", ""] + [f"   _autogen/{m}" for m in present]
    (HERE / "api" / "index.rst").write_text("\n".join(toc) + "\n", encoding="utf-8")


def _draw_pictures() -> None:
    """Run every ``_scripts/*.py``'s ``main(outdir)`` to draw the pictures into ``_generated``."""
    outdir = HERE / "_generated"
    outdir.mkdir(exist_ok=True)
    for script in sorted((HERE / "_scripts").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_docs_{script.stem}", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main(outdir)


_write_api_reference()
_draw_pictures()
