"""The package as a whole: a declared public surface, documented names, an inert import."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import geotarget

PUBLIC_MODULES = [
    "geotarget",
    "geotarget.alerts",
    "geotarget.areas",
    "geotarget.cap",
    "geotarget.cli",
    "geotarget.dask",
    "geotarget.errors",
    "geotarget.issuers",
    "geotarget.kinds",
    "geotarget.ledger",
    "geotarget.matcher",
    "geotarget.pilot",
    "geotarget.policy",
    "geotarget.positions",
    "geotarget.regions",
    "geotarget.rollout",
    "geotarget.sweden",
    "geotarget.targeting",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_names_exist_and_are_documented(name: str) -> None:
    """Every name in a public module's __all__ exists and has a docstring (or is data)."""
    module = importlib.import_module(name)
    assert module.__doc__
    for attr in module.__all__:
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name}.{attr} has no docstring"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_dir_is_the_public_surface(name: str) -> None:
    """dir(module) lists exactly __all__: nothing private leaks."""
    module = importlib.import_module(name)
    assert sorted(dir(module)) == sorted(module.__all__)
    assert not [a for a in module.__all__ if a.startswith("_") and a != "__version__"]


def test_top_level_reexports_are_sorted_and_unique() -> None:
    """The top-level __all__ is sorted and has no duplicates."""
    assert geotarget.__all__ == sorted(set(geotarget.__all__))


def test_import_is_inert() -> None:
    """Importing geotarget opens no data files and imports no pyproj (so builds no CRS)."""
    code = textwrap.dedent(
        """
        import sys
        opened = []
        def hook(event, args):
            if event == "open" and isinstance(args[0], str):
                opened.append(args[0])
        sys.addaudithook(hook)
        import geotarget
        data = [p for p in opened if not p.endswith((".py", ".pyc", ".so", ".pth"))
                and "__pycache__" not in p and not p.endswith("/")]
        import os
        data = [p for p in data if not os.path.isdir(p)]
        print("pyproj" in sys.modules, data)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert out.stdout.strip() == "False []", out.stdout + out.stderr


def test_installed_package_is_under_test() -> None:
    """In the wheel run (GEOTARGET_EXPECT_INSTALLED=1) the tests import the installed wheel."""
    if os.environ.get("GEOTARGET_EXPECT_INSTALLED") != "1":
        pytest.skip("source-tree run; the wheel run sets GEOTARGET_EXPECT_INSTALLED=1")
    assert "site-packages" in Path(geotarget.__file__).parts
    assert (Path(geotarget.__file__).parent / "py.typed").is_file()


def test_the_pilot_policy_ships_inside_the_package() -> None:
    """The pilot TOML is package data beside the imported package (in the wheel run: the wheel)."""
    from importlib import resources

    from geotarget import sweden

    shipped = resources.files("geotarget").joinpath(sweden.PILOT_POLICY_FILE)
    assert shipped.is_file()
    assert Path(str(shipped)).parent == Path(geotarget.__file__).parent / "data" / "sweden"
    assert sweden.pilot_policy().rollout("tip_request") is not None


@pytest.mark.parametrize("name", ["geotarget.rollout", "geotarget.cap", "geotarget.alerts"])
def test_package_classes_say_where_they_are_defined(name: str) -> None:
    """Rollout, cap and alerts are packages: each public class's __module__ is its file."""
    module = importlib.import_module(name)
    assert hasattr(module, "__path__"), f"{name} should be a package"
    for attr in module.__all__:
        obj = getattr(module, attr)
        if not inspect.isclass(obj):
            continue
        assert obj.__module__ == name or obj.__module__.startswith(f"{name}._"), obj
        home = importlib.import_module(obj.__module__)
        assert getattr(home, obj.__qualname__) is obj
        source = inspect.getsourcefile(obj)
        assert source is not None and Path(source).resolve() == Path(home.__file__ or "").resolve()


#: numpydoc sections that are lists of names: a directive inside one renders as literal text.
_LIST_SECTIONS = {
    "Parameters",
    "Other Parameters",
    "Returns",
    "Yields",
    "Raises",
    "Warns",
    "Attributes",
    "Methods",
    "See Also",
}


def _public_docstrings() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            out.append((f"{name}.{attr}", inspect.getdoc(obj) or ""))
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if member.startswith("_"):
                        continue
                    fn = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                    fn = fn.fget if isinstance(fn, property) else fn
                    if inspect.isfunction(fn) and fn.__doc__:
                        out.append((f"{name}.{attr}.{member}", inspect.cleandoc(fn.__doc__)))
    return out


def test_versionadded_is_not_inside_a_list_section() -> None:
    """``.. versionadded::`` ending a Parameters/Returns/... section renders as literal text.

    numpydoc reads it as one more parameter (``.. versionadded:: 0.1.0`` in bold); it belongs
    before the first section or inside Notes/Examples.
    """
    bad = []
    for where, doc in _public_docstrings():
        lines = doc.splitlines()
        section = None
        for i, line in enumerate(lines):
            if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"} and line.strip():
                section = line.strip()
            if line.strip().startswith(".. versionadded::") and section in _LIST_SECTIONS:
                bad.append(f"{where} (in {section})")
    assert not bad, "versionadded inside a list section: " + ", ".join(bad)


#: A Sphinx version directive and the version it names.
_VERSION_DIRECTIVE = re.compile(r"\.\.\s+(versionadded|versionchanged|deprecated)::\s*(\S+)")


def _release(version: str) -> tuple[int, ...]:
    """The release numbers of a PEP 440 version, three at least: ``0.1.0.dev0`` → ``(0, 1, 0)``."""
    m = re.match(r"\d+(?:\.\d+)*", version)
    assert m, f"not a version: {version!r}"
    numbers = tuple(int(n) for n in m.group().split("."))
    return numbers + (0,) * (3 - len(numbers))


def test_release_numbers() -> None:
    """The comparison the directive test relies on."""
    assert _release("0.1.0.dev0") == _release("0.1") == (0, 1, 0)
    assert _release("0.2.0") > _release("0.1.0.dev0")
    assert _release("0.10") > _release("0.9.9")


def test_no_version_directive_names_a_version_after_the_package() -> None:
    """``versionadded``/``versionchanged``/``deprecated`` never name a version not yet made.

    The package is ``0.1.0.dev0``, the making of 0.1.0: every directive in ``geotarget/`` and
    ``docs/`` says 0.1.0 or earlier, so a docstring cannot promise a release that is not next.
    """
    root = Path(__file__).resolve().parents[1]
    own = _release(geotarget.__version__)
    sources = sorted((root / "geotarget").rglob("*.py")) + sorted(
        p for p in (root / "docs").rglob("*.rst") if not {"_build", "api"} & set(p.parts)
    )
    seen, ahead = 0, []
    for path in sources:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in _VERSION_DIRECTIVE.finditer(line):
                seen += 1
                if _release(m.group(2)) > own:
                    ahead.append(f"{path.relative_to(root)}:{number}: {m.group(1)} {m.group(2)}")
    assert seen > 50, seen  # the scan finds the package's directives
    assert not ahead, f"directives naming a version after {geotarget.__version__}: {ahead}"
