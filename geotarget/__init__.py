"""geotarget: decide which devices receive a geotargeted public-safety alert.

Importing geotarget is cheap and inert: it reads no files and builds no CRS objects, and it
loads none of its modules (nor numpy, shapely or pyproj) until a name is first used
(:pep:`562`), so the ``geotarget`` command can answer Ctrl-C while it loads.
"""

from __future__ import annotations

import importlib
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


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # once loaded, an ordinary attribute
        return value
    # The deprecated AlertKind (a kind is a name now); it warns when used.
    if name == "AlertKind":
        from geotarget import pilot

        return pilot.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
