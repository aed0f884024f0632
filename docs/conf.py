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
    "sphinx.ext.viewcode",
    "numpydoc",
]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Docstring checks, warnings (errors under -W): what a reader relies on being right. A documented
# parameter the signature lacks (PR02) or one without a description (PR07), a Returns entry
# without a description (RT03), a See Also entry without one (SA04), sections out of order or
# unknown (GL07, GL06), double line breaks (GL03), a summary without its full stop (SS03).
# Left out: PR01 and RT01 (every parameter and return in a section) — attrs classes document
# their fields under "Attributes" and many one-line methods say what they return in the
# summary; numpydoc would also demand the parameters of Enum's metaclass call. GL02 (closing
# quotes on their own line) is layout, which ruff's formatter owns.
numpydoc_validation_checks = {"PR02", "PR07", "RT03", "SA04", "GL03", "GL06", "GL07", "SS03"}
# Module constants (UPPER_CASE) carry no docstring of their own: numpydoc would validate the
# docstring of their type (str, int, ...), which is not ours.
numpydoc_validation_exclude = {r"\.[A-Z][A-Z0-9_]*$"}
autodoc_typehints = "none"
autodoc_member_order = "bysource"
html_theme = "alabaster"
html_static_path = ["_static"]
exclude_patterns = ["_build", "_scripts"]
# Every cross-reference must resolve (-W turns a broken one into an error). The machine that
# builds the docs has no internet, so no intersphinx inventories: references to the standard
# library and to dependencies stay plain text, listed here by name (external types only).
nitpicky = True
nitpick_ignore = [
    ("py:class", "os.PathLike"),
    ("py:class", "pathlib.Path"),
    ("py:mod", "tomllib"),
]

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
    "geotarget.policy",
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


def _object_at(dotted: str) -> object:
    """The object a dotted name names (module, then attributes); ``_MISSING`` when none."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


_MISSING = object()
#: Every documented Python object's name → the object: built by the first missing reference.
_DOCUMENTED: dict[str, object] = {}


def _documented_name(dotted: str, documented: dict[str, object]) -> str | None:
    """Where the reference ``dotted`` is documented, when it names a public object.

    ``geotarget.Positions`` (a re-export) is documented as ``geotarget.positions.Positions``;
    ``geotarget.Polygon.margin_error_bound_m`` as ``geotarget.areas.Polygon.margin_error_bound_m``.
    The object the name reaches is looked up among the documented classes and functions, so a
    name that reaches nothing, or nothing documented, stays a broken reference.
    """
    if dotted in documented:
        return dotted
    head, _, tail = dotted.rpartition(".")
    for name in (dotted, head):
        if not name:
            continue
        obj = _object_at(name)
        if obj is _MISSING or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue  # data (a str, an int) would match any equal value: not by identity
        for known, value in documented.items():
            if value is obj:
                full = known if name == dotted else f"{known}.{tail}"
                if full in documented:
                    return full
    return None


def _resolve_within_geotarget(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve a reference to a re-exported or module-relative geotarget name (nitpicky).

    Docstrings write ``:class:`geotarget.Positions``` (the re-export users import) or
    ``:class:`InvalidPolicy``` (a name of the docstring's module); the reference documents each
    object once, under its public module. Everything else is left to Sphinx.
    """
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    if not _DOCUMENTED:  # once per build, after every page is read (not pickled with the env)
        for name, entry in domain.objects.items():
            _DOCUMENTED[name] = _object_at(name) if entry.objtype != "module" else None
    documented = _DOCUMENTED
    target = node["reftarget"].lstrip("~.")
    module = node.get("py:module") or "geotarget"
    cls = node.get("py:class")
    scopes = ([f"{module}.{cls}."] if cls else []) + [f"{module}.", "geotarget.", ""]
    for scope in scopes:
        full = _documented_name(scope + target, documented)
        if full is not None:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], full, node, contnode
            )
    # An attribute of a documented class that lists it under "Attributes" (attrs fields have no
    # target of their own): link to the class, once the class is known to have the attribute.
    if node["reftype"] == "attr":
        head, _, attr = target.rpartition(".")
        for scope in scopes:
            owner = _documented_name((scope + head).rstrip("."), documented)
            cls_obj = documented.get(owner) if owner else None
            if inspect.isclass(cls_obj) and _has_attribute(cls_obj, attr):
                return domain.resolve_xref(
                    env, node["refdoc"], app.builder, "class", owner, node, contnode
                )
    # A docstring shown under a second module (``pilot.pilot_policy`` is
    # ``sweden.pilot_policy``) refers to its own module's names: accept a name documented
    # under one object only, whatever the module.
    ends = [name for name in documented if name.endswith("." + target)]
    if ends and all(_same(documented[n], documented[ends[0]]) for n in ends):
        full = min(ends, key=len)
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], full, node, contnode
        )
    return None


def _same(a: object, b: object) -> bool:
    return a is b and a is not None and a is not _MISSING


def _has_attribute(cls: type, name: str) -> bool:
    """Whether ``cls`` has the attribute ``name``: attrs field, slot, property or annotation."""
    fields = getattr(cls, "__attrs_attrs__", ())
    return (
        any(f.name == name for f in fields)
        or hasattr(cls, name)
        or any(name in getattr(k, "__annotations__", {}) for k in cls.__mro__)
    )


def setup(app):  # type: ignore[no-untyped-def]
    """Register the resolver of re-exported and module-relative geotarget names."""
    app.connect("env-check-consistency", lambda app, env: _DOCUMENTED.clear())
    app.connect("missing-reference", _resolve_within_geotarget)


_write_api_reference()
_draw_pictures()
