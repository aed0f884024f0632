"""geotarget: decide which devices receive a geotargeted public-safety alert.

Start with an alert area and the devices in it (``lon`` first)::

    >>> from geotarget import Circle
    >>> Circle(lon=18.06528, lat=59.3325, radius_m=500.0).contains(18.0700, 59.3330)
    array(True)

The names listed below (``dir(geotarget)``) are the API's core: areas, alerts, rollout
policies, positions, the matcher and the ``Targeter``. Its other modules are imported on
their own: ``geotarget.sweden`` (Sweden's built-in regions), ``geotarget.pilot`` (the Swedish
Police pilot), ``geotarget.cap`` (reading and writing CAP 1.2), ``geotarget.dask`` and the
rest of the "What is inside" table of the README. From a checkout, ``python3 scripts/demo``
plays the pilot, and the ``geotarget`` command (``geotarget --help``) targets a CAP alert over
a positions file; docs/quickstart.rst shows both.

Importing geotarget is cheap and inert: it reads no files and builds no CRS objects, and it
loads none of its modules (nor numpy, shapely or pyproj) until a name is first used
(PEP 562), so the ``geotarget`` command can answer Ctrl-C while it loads.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING

from geotarget._version import __version__

if TYPE_CHECKING:
    from geotarget.alerts import (
        Alert,
        AlertArea,
        Certainty,
        Info,
        Message,
        MessageType,
        Severity,
        Status,
        TipChannel,
        Urgency,
    )
    from geotarget.areas import Area, Circle, Polygon
    from geotarget.errors import (
        DocumentError,
        DuplicateIdentifier,
        GeotargetError,
        InvalidAlert,
        InvalidArea,
        InvalidCAP,
        InvalidCoordinates,
        InvalidGeoJSON,
        InvalidInput,
        InvalidPolicy,
        InvalidPositions,
        InvalidRegions,
        InvalidType,
        MissingExtra,
        Problem,
        UnknownCode,
    )
    from geotarget.issuers import Issuer, Issuers
    from geotarget.kinds import RecognitionRule, Recognizer
    from geotarget.ledger import MemoryLedger, SQLiteLedger
    from geotarget.matcher import AreaIndex, LiveAreaIndex, PositionIndex
    from geotarget.policy import PolicyFile, load_policy
    from geotarget.positions import Location, LocationRule, Positions, StaleRule, parse_time
    from geotarget.regions import Region, RegionHierarchy, RegionSet
    from geotarget.rollout import KindRollout, Phase, RolloutDecision, RolloutPolicy
    from geotarget.targeting import KindRules, Outcome, Targeter, TargetingResult, Verdict

#: Where each public name is defined: loaded on first use by :func:`__getattr__`.
_WHERE = {
    "Alert": "geotarget.alerts",
    "AlertArea": "geotarget.alerts",
    "Area": "geotarget.areas",
    "AreaIndex": "geotarget.matcher",
    "Certainty": "geotarget.alerts",
    "Circle": "geotarget.areas",
    "ClusterError": "geotarget.errors",
    "DocumentError": "geotarget.errors",
    "DuplicateIdentifier": "geotarget.errors",
    "GeotargetError": "geotarget.errors",
    "Info": "geotarget.alerts",
    "InvalidAlert": "geotarget.errors",
    "InvalidArea": "geotarget.errors",
    "InvalidCAP": "geotarget.errors",
    "InvalidCoordinates": "geotarget.errors",
    "InvalidGeoJSON": "geotarget.errors",
    "InvalidInput": "geotarget.errors",
    "InvalidPolicy": "geotarget.errors",
    "InvalidPositions": "geotarget.errors",
    "InvalidRegions": "geotarget.errors",
    "InvalidSignature": "geotarget.errors",
    "InvalidType": "geotarget.errors",
    "Issuer": "geotarget.issuers",
    "Issuers": "geotarget.issuers",
    "KindRollout": "geotarget.rollout",
    "KindRules": "geotarget.targeting",
    "LiveAreaIndex": "geotarget.matcher",
    "Location": "geotarget.positions",
    "LocationRule": "geotarget.positions",
    "MemoryLedger": "geotarget.ledger",
    "Message": "geotarget.alerts",
    "MessageType": "geotarget.alerts",
    "MissingExtra": "geotarget.errors",
    "MissingSignature": "geotarget.errors",
    "Outcome": "geotarget.targeting",
    "Phase": "geotarget.rollout",
    "PolicyFile": "geotarget.policy",
    "Polygon": "geotarget.areas",
    "PositionIndex": "geotarget.matcher",
    "Positions": "geotarget.positions",
    "Problem": "geotarget.errors",
    "RecognitionRule": "geotarget.kinds",
    "Recognizer": "geotarget.kinds",
    "Region": "geotarget.regions",
    "RegionHierarchy": "geotarget.regions",
    "RegionSet": "geotarget.regions",
    "RolloutDecision": "geotarget.rollout",
    "RolloutPolicy": "geotarget.rollout",
    "SQLiteLedger": "geotarget.ledger",
    "Severity": "geotarget.alerts",
    "StaleRule": "geotarget.positions",
    "Status": "geotarget.alerts",
    "StoreBusy": "geotarget.errors",
    "StoreCorrupt": "geotarget.errors",
    "StoreError": "geotarget.errors",
    "StoreFull": "geotarget.errors",
    "StoreReadOnly": "geotarget.errors",
    "StoreUnavailable": "geotarget.errors",
    "Targeter": "geotarget.targeting",
    "TargetingResult": "geotarget.targeting",
    "TipChannel": "geotarget.alerts",
    "UnknownCode": "geotarget.errors",
    "Urgency": "geotarget.alerts",
    "Verdict": "geotarget.targeting",
    "load_policy": "geotarget.policy",
    "parse_time": "geotarget.positions",
}

__all__ = [
    "Alert",
    "AlertArea",
    "Area",
    "AreaIndex",
    "Certainty",
    "Circle",
    "ClusterError",
    "DocumentError",
    "DuplicateIdentifier",
    "GeotargetError",
    "Info",
    "InvalidAlert",
    "InvalidArea",
    "InvalidCAP",
    "InvalidCoordinates",
    "InvalidGeoJSON",
    "InvalidInput",
    "InvalidPolicy",
    "InvalidPositions",
    "InvalidRegions",
    "InvalidSignature",
    "InvalidType",
    "Issuer",
    "Issuers",
    "KindRollout",
    "KindRules",
    "LiveAreaIndex",
    "Location",
    "LocationRule",
    "MemoryLedger",
    "Message",
    "MessageType",
    "MissingExtra",
    "MissingSignature",
    "Outcome",
    "Phase",
    "PolicyFile",
    "Polygon",
    "PositionIndex",
    "Positions",
    "Problem",
    "RecognitionRule",
    "Recognizer",
    "Region",
    "RegionHierarchy",
    "RegionSet",
    "RolloutDecision",
    "RolloutPolicy",
    "SQLiteLedger",
    "Severity",
    "StaleRule",
    "Status",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "StoreFull",
    "StoreReadOnly",
    "StoreUnavailable",
    "Targeter",
    "TargetingResult",
    "TipChannel",
    "UnknownCode",
    "Urgency",
    "Verdict",
    "__version__",
    "load_policy",
    "parse_time",
]


def __dir__() -> list[str]:
    return __all__


#: The libraries geotarget cannot load without (pyproject.toml's ``dependencies``).
_NEEDS = ("attrs", "numpy", "pyproj", "shapely")


def _missing_library(name: str) -> str:
    """Why geotarget cannot load without the library ``name``, and what to run instead.

    A newcomer's ``python3 -m geotarget`` or ``from geotarget import Circle`` in a fresh
    checkout, with a Python geotarget is not installed in, imports the package from the
    current directory and then stops at its first library: say so, rather than call the
    installation broken.
    """
    import importlib.metadata  # (only on this failure: importing geotarget stays cheap)
    from pathlib import Path

    here = f"this Python ({sys.executable}) has no {name}, which geotarget needs"
    try:
        importlib.metadata.version("geotarget")
    except importlib.metadata.PackageNotFoundError:
        root = Path(__file__).resolve().parent.parent
        return (
            f"{here}, and geotarget is not installed in it (it was imported from {root}). "
            "From the checkout, 'python3 scripts/demo' makes .venv with what geotarget needs "
            "(then run .venv/bin/geotarget, or .venv/bin/python); 'python3 -m pip install -e .' "
            "installs geotarget into this Python instead"
        )
    return f"{here}: reinstall geotarget with its dependencies ('pip install -e .' from a checkout)"


def _first_missing() -> str | None:
    """The first of :data:`_NEEDS` this Python cannot find (imports none of them), or None."""
    for name in _NEEDS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # (a module set to None in sys.modules: blocked)
            found = False
        if not found:
            return name
    return None


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is not None:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as err:
            missing = err.name or ""
            if missing.partition(".")[0] in ("geotarget", ""):
                raise
            raise ModuleNotFoundError(_missing_library(missing), name=missing) from None
        value = getattr(loaded, name)
        globals()[name] = value  # once loaded, an ordinary attribute
        return value
    # The deprecated AlertKind (a kind is a name now); it warns when used.
    if name == "AlertKind":
        from geotarget import pilot

        return pilot.__getattr__(name)
    message = f"module {__name__!r} has no attribute {name!r}"
    if name.isidentifier() and not name.startswith("_"):
        try:
            submodule = importlib.util.find_spec(f"{__name__}.{name}") is not None
        except (ImportError, ValueError):
            submodule = False
        if submodule:  # geotarget.sweden before it is imported
            message += (
                f": geotarget.{name} is a module, not loaded by 'import geotarget'; "
                f"import it: import geotarget.{name} (or from geotarget import {name})"
            )
    raise AttributeError(message)
