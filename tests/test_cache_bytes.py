"""Caches bounded by bytes: RegionSet unions and the Targeter's parsed alerts (issue 13)."""

from __future__ import annotations

import itertools

import pytest
import shapely
from targeting_helpers import T0, make_alert, make_regions

from geotarget import Circle, Polygon, cap, regions
from geotarget import targeting as targeting_module
from geotarget._evaluation import alert_bytes, area_bytes
from geotarget.ledger import Incident, IncidentState
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter


def test_union_cache_is_bounded_by_bytes_and_keeps_the_grid_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Evicting unions never drops the grid index or STRtree; answers stay right after eviction."""
    rs = make_regions().region_set("municipality")
    rs.locate(17.5, 59.5)  # builds the grid index (and whatever else locating needs)
    kept = {k: v for k, v in rs._lazy.items() if k != "unions"}
    assert "index" in kept
    one = area_bytes(rs.union(["0101"]))
    monkeypatch.setattr(regions, "UNION_CACHE_BYTES", 2 * one + one // 2)
    codes = rs.codes
    combos = [c for k in (1, 2, 3) for c in itertools.combinations(codes, k)]
    for combo in combos * 2:
        area = rs.union(combo)
        want = shapely.union_all([rs[c].geometry for c in combo])
        got = shapely.union_all([p.shape for p in area.parts if isinstance(p, Polygon)])
        assert shapely.equals(got, want)
        unions = rs._lazy["unions"]
        assert sum(size for _, size in unions.values()) <= regions.UNION_CACHE_BYTES
        for k, v in kept.items():
            assert rs._lazy[k] is v  # the index and the tree survive every eviction
    assert 1 <= len(rs._lazy["unions"]) <= 2


def test_union_larger_than_the_cache_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A union bigger than the whole budget is answered but not cached."""
    rs = make_regions().region_set("municipality")
    monkeypatch.setattr(regions, "UNION_CACHE_BYTES", 10)
    area = rs.union(["0101", "0102"])
    assert len(area.parts) >= 1
    assert rs._lazy.get("unions", {}) == {}


def _incident(i: int, version: str = "v1") -> Incident:
    alert = make_alert("explosion", Circle(17.5, 59.5, 500.0 + i), ident=f"a{i}")
    return Incident(
        key=f"k{i}",
        state=IncidentState.ACTIVE,
        version=version,
        document=cap.dumps(alert),
        changed_at=T0,
    )


def test_alert_cache_is_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsed alerts are kept least recently used first within ALERT_CACHE_BYTES."""
    t = Targeter(make_regions(), nationwide("XX"))
    first = _incident(0)
    alert = first.alert
    assert alert is not None
    size = alert_bytes(first.document, alert)
    monkeypatch.setattr(targeting_module, "ALERT_CACHE_BYTES", 3 * size + size // 2)
    incidents = [_incident(i) for i in range(8)]
    for inc in incidents:
        got, _ = t._current(inc)
        assert got.identifier == inc.alert.identifier  # type: ignore[union-attr]
        assert t._alert_bytes == sum(v[2] for v in t._alerts.values())
        assert t._alert_bytes <= targeting_module.ALERT_CACHE_BYTES  # type: ignore[attr-defined]
    assert list(t._alerts) == ["k5", "k6", "k7"]
    # A hit is served from the cache (the same object) and becomes the most recent.
    cached = t._alerts["k5"][1]
    assert t._current(incidents[5])[0] is cached
    assert list(t._alerts) == ["k6", "k7", "k5"]
    # A new version of an incident replaces its entry.
    newer = _incident(6, version="v2")
    assert t._current(newer)[0] is not t._alerts.get("k5", (None, None))[1]
    assert t._alerts["k6"][0] == "v2"
    assert t._alert_bytes == sum(v[2] for v in t._alerts.values())


def test_alert_bigger_than_the_cache_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """An alert larger than the whole budget is parsed each time, never cached."""
    t = Targeter(make_regions(), nationwide("XX"))
    monkeypatch.setattr(targeting_module, "ALERT_CACHE_BYTES", 100)
    inc = _incident(1)
    assert t._current(inc)[0].identifier == "a1"
    assert t._alerts == {}
    assert t._alert_bytes == 0
