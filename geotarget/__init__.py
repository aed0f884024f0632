"""geotarget: decide which devices receive a geotargeted public-safety alert.

Importing geotarget is cheap and inert: it reads no files and builds no CRS objects.
"""

from __future__ import annotations

from geotarget._version import __version__
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
    # The deprecated AlertKind (a kind is a name now); it warns when used.
    if name == "AlertKind":
        from geotarget import pilot

        return pilot.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
