"""Targeting test helpers: a small synthetic region hierarchy, pilot alerts, fresh positions.

The hierarchy is made of shapely boxes so that the tests do not depend on the built-in Swedish
boundaries: four municipalities (``0101`` … ``0202``) in two counties (``01``, ``02``), one police
region and one country ``XX`` covering lon 17–19, lat 59–60. Everything outside is beyond the
border.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely.geometry as sg
from strategies import PILOT_KINDS

from geotarget import LocationRule, Positions, pilot
from geotarget.alerts import Alert, MessageType, Reference, Status
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import KindRollout, Phase, RolloutPolicy
from geotarget.targeting import KindRules, TargetingResult

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
SENDER = "polisen@example.se"

# Two counties side by side, two municipalities each, one police region, one country.
MUNIS = {
    "0101": (17.0, 59.0, 17.5, 60.0),
    "0102": (17.5, 59.0, 18.0, 60.0),
    "0201": (18.0, 59.0, 18.5, 60.0),
    "0202": (18.5, 59.0, 19.0, 60.0),
}


def make_regions() -> RegionHierarchy:
    """A small hierarchy: 4 municipalities → counties 01, 02 → police region → country XX."""

    def rs(level: str, boxes: dict[str, tuple[float, float, float, float]]) -> RegionSet:
        return RegionSet(
            [
                Region(code=c, name=f"Region {c}", level=level, geometry=sg.box(*b))
                for c, b in boxes.items()
            ]
        )

    return RegionHierarchy(
        [
            rs("municipality", MUNIS),
            rs("county", {"01": (17.0, 59.0, 18.0, 60.0), "02": (18.0, 59.0, 19.0, 60.0)}),
            rs("police_region", {"PR-X": (17.0, 59.0, 19.0, 60.0)}),
            rs("country", {"XX": (17.0, 59.0, 19.0, 60.0)}),
        ],
        {
            "0101": "01",
            "0102": "01",
            "0201": "02",
            "0202": "02",
            "01": "PR-X",
            "02": "PR-X",
            "PR-X": "XX",
        },
    )


def policy(
    regions_by_kind: dict[str, list[tuple[dt.datetime, tuple[str, ...]]]], **kw: Any
) -> RolloutPolicy:
    """A policy from (start, regions) phases per kind."""
    return RolloutPolicy(
        rollouts=[
            KindRollout(kind=k, phases=[Phase(starts_at=t, regions=r) for t, r in phases])
            for k, phases in regions_by_kind.items()
        ],
        country="XX",
        **kw,
    )


def message(text: str) -> pilot.Message:
    """A one-language message."""
    return pilot.Message(headline=text, description=text, area_description="here")


def make_alert(
    kind: str,
    area: Any,
    *,
    ident: str = "a1",
    sent: dt.datetime = T0,
    msg_type: MessageType = MessageType.ALERT,
    refs: tuple[Reference, ...] = (),
    status: Status = Status.ACTUAL,
    hours: float = 2.0,
) -> Alert:
    """A pilot alert of ``kind`` over ``area``."""
    build = {
        "explosion": pilot.explosion,
        "crime_modus": pilot.crime_modus,
        "tip_request": pilot.tip_request,
    }[kind]
    return build(
        identifier=ident,
        sender=SENDER,
        sent=sent,
        area=area,
        sv=message("sv"),
        en=message("en"),
        onset=sent,
        expires=sent + dt.timedelta(hours=hours),
        msg_type=msg_type,
        references=refs,
        status=status,
    )


def positions(lon: Any, lat: Any, **kw: Any) -> Positions:
    """Fresh, exact positions with ids d0, d1 and so on."""
    n = len(lon)
    kw.setdefault("observed_at", [T0] * n)
    return Positions([f"d{i}" for i in range(n)], lon, lat, **kw)


def exact_rules() -> dict[str, KindRules]:
    """Rules that treat fixes as exact points, so the oracle is plain Area.contains."""
    return {
        k: KindRules(location=LocationRule(accuracy=0.0), include_ambiguous=False)
        for k in PILOT_KINDS
    }


def ref(alert: Alert) -> Reference:
    """A reference to ``alert``."""
    return Reference(sender=alert.sender, identifier=alert.identifier, sent=alert.sent)


def assert_same_result(a: TargetingResult, b: TargetingResult) -> None:
    """Two targetings gave the same answer: everything but the timings and explanations.

    (The Dask path against the in-memory Targeter, ``tests/test_dask*.py``.)
    """
    assert a.verdict is b.verdict
    assert a.reason == b.reason
    assert a.recipients.tolist() == b.recipients.tolist()  # in id order, both
    assert sorted(a.no_longer_covered.tolist()) == sorted(b.no_longer_covered.tolist())
    assert dict(a.counts) == dict(b.counts)
    assert a.already_delivered == b.already_delivered
    assert dict(a.per_county) == dict(b.per_county)
    assert (a.kind, a.recognised_by, a.issuer) == (b.kind, b.recognised_by, b.issuer)
    assert (a.claims is None) == (b.claims is None)
    if a.claims is not None and b.claims is not None:
        assert sorted(a.claims.keys().tolist()) == sorted(b.claims.keys().tolist())


def without_area(alert: Alert) -> Alert:
    """The same message with no area geometry in any info block (a text-only Update)."""
    import re

    from geotarget import cap

    text = re.sub(r"\s*<area>.*?</area>", "", cap.dumps(alert), flags=re.S)
    out = cap.loads(text)
    assert out.area is None
    return out
