"""Per-kind location rules, territory and the border, failing early, plan caching (issue 10)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from targeting_helpers import T0, make_alert, make_regions, policy, positions

from geotarget import (
    Circle,
    LocationRule,
    Polygon,
    PositionIndex,
    Positions,
    StaleRule,
)
from geotarget.errors import InvalidInput, InvalidPolicy, InvalidType
from geotarget.pilot import KIND_RULES
from geotarget.regions import RegionHierarchy
from geotarget.rollout import nationwide
from geotarget.targeting import KindRules, Outcome, Targeter, Verdict

GEOD = pyproj.Geod(ellps="WGS84")
SERGELS_TORG = (18.06528, 59.3325)


@pytest.fixture(scope="module")
def regions() -> RegionHierarchy:
    """The small synthetic hierarchy of :mod:`targeting_helpers`."""
    return make_regions()


def east_of(lon: float, lat: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` due east of (lon, lat), geodesically."""
    x, y, _ = GEOD.fwd(lon, lat, 90.0, metres)
    return float(x), float(y)


# --- 4. who is inside: stale fixes, no fix, the border --------------------------------------


def test_explosion_reaches_a_phone_whose_fix_is_61_minutes_old(regions: RegionHierarchy) -> None:
    """At Sergels torg a 61-minute-old fix gets the Explosion but not a tip request."""
    pos = positions(
        [SERGELS_TORG[0]], [SERGELS_TORG[1]], observed_at=[T0 - dt.timedelta(minutes=61)]
    )
    area = Circle(*SERGELS_TORG, 500.0)
    t = Targeter(regions, nationwide("XX"))
    boom = t.target(make_alert("explosion", area, ident="e"), PositionIndex(pos), T0)
    assert boom.recipients.tolist() == ["d0"]
    assert boom.outcome_of("d0") is Outcome.STALE_INCLUDED
    assert "stale fix this kind still accepts" in boom.explain("d0")
    tips = t.target(make_alert("tip_request", area, ident="t"), PositionIndex(pos), T0)
    assert tips.recipients.tolist() == []
    assert tips.outcome_of("d0") is Outcome.STALE_LOCATION


def test_stale_fixes_use_the_area_grown_by_the_margin_and_the_age_bound(
    regions: RegionHierarchy,
) -> None:
    """Stale fixes count within margin_m of the area and up to stale.max_age; older never."""
    two_h = T0 - dt.timedelta(hours=2)
    lon = [*east_of(17.5, 59.5, 1900.0)[:1], east_of(17.5, 59.5, 2100.0)[0], 17.5, 17.5, 17.5]
    pos = positions(
        lon,
        [59.5] * 5,
        observed_at=[two_h, two_h, T0 - dt.timedelta(hours=25), None, T0],
    )
    result = Targeter(regions, nationwide("XX")).target(
        make_alert("explosion", Circle(17.5, 59.5, 1000.0)), PositionIndex(pos), T0
    )
    assert result.recipients.tolist() == ["d0", "d4"]
    assert [result.outcome_of(f"d{i}") for i in range(5)] == [
        Outcome.STALE_INCLUDED,
        Outcome.OUTSIDE_AREA,
        Outcome.STALE_LOCATION,
        Outcome.STALE_LOCATION,  # no observation time: never current, never stale-accepted
        Outcome.INSIDE,
    ]
    assert sum(result.counts.values()) == 5


def test_stale_margin_around_a_polygon(regions: RegionHierarchy) -> None:
    """For a polygon, a stale fix counts within margin_m of it (the polygon margin semantics)."""
    square = Polygon([(17.50, 59.50), (17.52, 59.50), (17.52, 59.51), (17.50, 59.51)])
    near = east_of(17.52, 59.505, 800.0)
    far = east_of(17.52, 59.505, 1200.0)
    old = T0 - dt.timedelta(hours=3)
    pos = positions([near[0], far[0]], [near[1], far[1]], observed_at=[old, old])
    result = Targeter(regions, nationwide("XX")).target(
        make_alert("explosion", square), PositionIndex(pos), T0
    )
    assert result.recipients.tolist() == ["d0"]


def _stale_oracle(
    lon: np.ndarray,
    lat: np.ndarray,
    age_h: np.ndarray,
    c: Circle,
    fresh_h: float,
    stale_h: float,
    margin: float,
) -> set[str]:
    """Brute force: geodesic distance per device, plain loop, the written rule."""
    out = set()
    for i, (x, y, a) in enumerate(zip(lon.tolist(), lat.tolist(), age_h.tolist(), strict=True)):
        d = GEOD.inv(c.lon, c.lat, x, y)[2]
        if (a <= fresh_h and d <= c.radius_m) or (
            fresh_h < a <= stale_h and d <= c.radius_m + margin
        ):
            out.add(f"d{i}")
    return out


@settings(max_examples=40, deadline=None)
@given(
    radius=st.floats(200.0, 5000.0),
    margin=st.floats(0.0, 3000.0),
    seed=st.integers(0, 2**31),
)
def test_stale_rule_equals_a_brute_force_oracle(
    regions: RegionHierarchy, radius: float, margin: float, seed: int
) -> None:
    """Recipients equal a loop over devices with pyproj distances."""
    rng = np.random.default_rng(seed)
    n = 600
    c = Circle(17.5, 59.5, radius)
    lon = 17.5 + rng.normal(0.0, 0.06, n)
    lat = 59.5 + rng.normal(0.0, 0.03, n)
    age_h = rng.choice([0.0, 0.5, 1.0, 1.5, 5.0, 12.0, 13.0], n)
    observed = np.datetime64(T0.replace(tzinfo=None), "us") - (age_h * 3600e6).astype(
        "timedelta64[us]"
    )
    rules = {
        "explosion": KindRules(
            location=LocationRule(max_age=dt.timedelta(hours=1), accuracy=0.0),
            include_ambiguous=True,
            stale=StaleRule(max_age=dt.timedelta(hours=12), margin_m=margin),
            beyond_border=True,
        )
    }
    pos = positions(lon, lat, observed_at=observed)
    result = Targeter(regions, nationwide("XX"), location_rules=rules).target(
        make_alert("explosion", c), PositionIndex(pos), T0, confirm=True
    )
    assert set(result.recipients.tolist()) == _stale_oracle(lon, lat, age_h, c, 1.0, 12.0, margin)


def test_no_fix_is_told_only_when_the_kind_says_so(regions: RegionHierarchy) -> None:
    """A device without a fix is NO_FIX, or NO_FIX_INCLUDED (told) under include_no_fix."""
    pos = positions([17.5, np.nan], [59.5, np.nan])
    alert = make_alert("explosion", Circle(17.5, 59.5, 1000.0))
    default = Targeter(regions, nationwide("XX")).target(alert, PositionIndex(pos), T0)
    assert default.recipients.tolist() == ["d0"]
    assert default.outcome_of("d1") is Outcome.NO_FIX
    rules = {"explosion": KindRules(include_ambiguous=True, include_no_fix=True)}
    told = Targeter(regions, nationwide("XX"), location_rules=rules).target(
        alert, PositionIndex(pos), T0
    )
    assert told.recipients.tolist() == ["d0", "d1"]
    assert told.outcome_of("d1") is Outcome.NO_FIX_INCLUDED
    assert all(not r.include_no_fix for r in KIND_RULES.values())


def test_beyond_the_border_is_a_per_kind_choice(regions: RegionHierarchy) -> None:
    """Across the border in the area: told for an Explosion, BEYOND_BORDER for police info."""
    across = east_of(19.0, 59.5, 300.0)  # beyond the synthetic country's east edge
    pos = positions([18.999, across[0]], [59.5, across[1]])
    area = Circle(19.0, 59.5, 1000.0)
    t = Targeter(regions, nationwide("XX"))
    boom = t.target(make_alert("explosion", area, ident="e"), PositionIndex(pos), T0)
    assert boom.recipients.tolist() == ["d0", "d1"]
    assert boom.per_county == {"02": 1, "none": 1}  # beyond the border: in no county
    tips = t.target(make_alert("tip_request", area, ident="t"), PositionIndex(pos), T0)
    assert tips.recipients.tolist() == ["d0"]
    assert tips.outcome_of("d1") is Outcome.BEYOND_BORDER


def test_beyond_border_under_a_regional_rollout(regions: RegionHierarchy) -> None:
    """With only county 02 enabled, the border device is told, a device in 01 is not."""
    across = east_of(19.0, 59.5, 300.0)
    pos = positions([18.999, across[0], 17.99], [59.5, across[1], 59.5])
    pol = policy({"explosion": [(T0 - dt.timedelta(days=1), ("02",))]})
    result = Targeter(regions, pol).target(
        make_alert("explosion", Circle(18.5, 59.5, 40_000.0)),
        PositionIndex(pos),
        T0,
        confirm=True,
    )
    assert result.recipients.tolist() == ["d0", "d1"]
    assert result.outcome_of("d2") is Outcome.OUTSIDE_ROLLOUT


def test_kind_rules_must_be_consistent() -> None:
    """A stale rule shorter than the fresh one, or without a fresh bound, cannot exist."""
    with pytest.raises(InvalidInput, match=r"stale.max_age must be >= location.max_age"):
        KindRules(
            include_ambiguous=True,
            stale=StaleRule(max_age=dt.timedelta(minutes=30), margin_m=100.0),
        )
    with pytest.raises(InvalidInput, match=r"stale needs location\.max_age"):
        KindRules(
            location=LocationRule(),
            include_ambiguous=True,
            stale=StaleRule(max_age=dt.timedelta(hours=2), margin_m=100.0),
        )
    with pytest.raises(TypeError, match="include_no_fix must be a bool"):
        KindRules(include_ambiguous=True, include_no_fix=1)  # type: ignore[arg-type]


# --- 5. territory: the pre-filter grows the area by snap_m ------------------------------------


def test_area_on_the_water_within_snap_of_an_enabled_region_is_not_refused(
    regions: RegionHierarchy,
) -> None:
    """A circle just off the coast whose device snaps into a region is targeted, not refused."""
    centre = east_of(19.0, 59.5, 1500.0)  # the circle's west rim is 500 m off the region
    device = east_of(19.0, 59.5, 700.0)
    pos = positions([device[0]], [device[1]])
    alert = make_alert("tip_request", Circle(centre[0], centre[1], 1000.0))
    snapping = Targeter(regions, nationwide("XX"), snap_m=1000.0)
    result = snapping.target(alert, PositionIndex(pos), T0)
    assert result.verdict is Verdict.DELIVER
    assert result.recipients.tolist() == ["d0"]
    assert result.per_county == {"02": 1}
    far = east_of(19.0, 59.5, 5000.0)
    away = make_alert("tip_request", Circle(far[0], far[1], 1000.0), ident="far")
    refused = snapping.target(away, PositionIndex(pos), T0)
    assert refused.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert "grown by snap_m=1000 m" in refused.reason


def test_area_outside_rollout_iff_no_enabled_region_is_met(regions: RegionHierarchy) -> None:
    """AREA_OUTSIDE_ROLLOUT for an area in county 01 with only 02 enabled; DELIVER when it reaches."""
    pol = policy({"tip_request": [(T0 - dt.timedelta(days=1), ("02",))]})
    t = Targeter(regions, pol)
    pos = PositionIndex(positions([17.5], [59.5]))
    inside_01 = make_alert("tip_request", Circle(17.5, 59.5, 1000.0), ident="a")
    assert t.target(inside_01, pos, T0).verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    reaching = make_alert("tip_request", Circle(17.99, 59.5, 1000.0), ident="b")
    assert t.target(reaching, pos, T0).verdict is Verdict.DELIVER


# --- 6. fail early -----------------------------------------------------------------------------


def test_policy_naming_an_unknown_region_is_refused_at_construction(
    regions: RegionHierarchy,
) -> None:
    """Targeter(...) lists every unknown code and bad rule at once, with its path."""
    pol = policy(
        {
            "tip_request": [(T0, ("0101", "9999"))],
            "crime_modus": [(T0, ("NOPE",))],
        }
    )
    with pytest.raises(InvalidPolicy) as err:
        Targeter(
            regions,
            pol,
            location_rules={"not-a-kind": KIND_RULES["explosion"]},
        )
    text = str(err.value)
    assert len(err.value.problems) == 3, text
    assert "9999" in text and "NOPE" in text and "not-a-kind" in text
    assert any(p.startswith("policy.kinds.tip_request.phases[0]") for p in err.value.paths)
    assert "location_rules['not-a-kind']" in err.value.paths


# --- 7. the plan cache -------------------------------------------------------------------------


def test_plans_are_keyed_on_the_area(regions: RegionHierarchy) -> None:
    """Two areas under one decision get two plans: a plan is never reused for another area."""
    t = Targeter(regions, nationwide("XX"))
    decision = t.policy.decide("explosion", T0)
    first_area = make_alert("explosion", Circle(17.5, 59.5, 1000.0)).area
    assert first_area is not None
    one = t._plan("explosion", first_area, decision)
    other_area = make_alert("explosion", Circle(18.5, 59.5, 1000.0)).area
    assert other_area is not None
    two = t._plan("explosion", other_area, decision)
    assert one.area != two.area and two.area == other_area
    same = make_alert("explosion", Circle(17.5, 59.5, 1000.0), ident="x").area
    assert same is not None
    assert t._plan("explosion", same, decision) is one  # equal value: reused


def test_the_plan_cache_is_bounded_by_bytes_least_recently_used_first(
    regions: RegionHierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plans are evicted oldest-used first once their estimated bytes pass the budget."""
    import geotarget.targeting as targeting
    from geotarget import Area
    from geotarget._evaluation import plan_bytes

    t = Targeter(regions, nationwide("XX"))
    decision = t.policy.decide("explosion", T0)
    square = Area([Polygon([(17.4, 59.4), (17.6, 59.4), (17.6, 59.6), (17.4, 59.6)])])
    big = t._plan("explosion", square, decision)
    small = t._plan("explosion", Area([Circle(17.5, 59.5, 1000.0)]), decision)
    assert plan_bytes(big) > 10 * plan_bytes(small) > 0
    budget = plan_bytes(big) + 3 * plan_bytes(small)
    monkeypatch.setattr(targeting, "PLAN_CACHE_BYTES", budget)
    t = Targeter(regions, nationwide("XX"))
    first = t._plan("explosion", square, decision)
    for i in range(50):
        t._plan("explosion", Area([Circle(17.5, 59.5, 1000.0 + i)]), decision)
        assert t._plan_bytes <= budget
        assert t._plan_bytes == sum(size for _, size in t._plans.values())
    assert t._plan("explosion", square, decision) is not first  # evicted: rebuilt
    recent = t._plan("explosion", Area([Circle(17.5, 59.5, 1049.0)]), decision)
    assert t._plan("explosion", Area([Circle(17.5, 59.5, 1049.0)]), decision) is recent
    monkeypatch.setattr(targeting, "PLAN_CACHE_BYTES", plan_bytes(small) // 2)
    t = Targeter(regions, nationwide("XX"))
    t._plan("explosion", square, decision)
    assert t._plans == {} and t._plan_bytes == 0  # larger than the whole cache: not kept


def test_nationwide_kind_beyond_the_border_needs_no_region_lookup(
    regions: RegionHierarchy,
) -> None:
    """Streaming a nationwide Explosion locates no device; a police kind locates each one."""
    t = Targeter(regions, nationwide("XX"))
    calls: list[int] = []
    real = t._finest_set

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def locate_index(self, lon: object, lat: object, **kw: object) -> object:
            calls.append(np.size(lon))  # type: ignore[arg-type]
            return real.locate_index(lon, lat, **kw)  # type: ignore[arg-type]

    area = Circle(17.5, 59.5, 1000.0)
    here = PositionIndex(positions([17.5], [59.5]))
    t.target(make_alert("explosion", area, ident="e"), here, T0)
    t.target(make_alert("tip_request", area, ident="t"), here, T0)
    t._finest_set = Counting()  # type: ignore[assignment]
    later = T0 + dt.timedelta(minutes=1)
    batch = Positions(["walker"], [17.501], [59.5], observed_at=later)
    got = t.on_positions(batch, later)
    assert sorted(d.alert_id for d in got) == ["e", "t"]
    assert calls == [1]  # only the tip request looked the walker up


@pytest.mark.parametrize(
    ("west", "south", "east", "north"),
    [
        (17.95, 59.28, 18.15, 59.38),  # inside Stockholm County: decided from the box
        (17.3, 59.5, 17.9, 59.9),  # over the Stockholm/Uppsala county border: located
        (19.3, 59.2, 19.7, 59.45),  # out to sea: some devices in no region
    ],
)
@pytest.mark.parametrize("kind", ["tip_request", "explosion"])
def test_a_box_of_devices_in_one_county_gets_the_outcomes_and_counts_of_locating_each(
    west: float,
    south: float,
    east: float,
    north: float,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With thousands of devices, deciding them by their box equals locating every one.

    The box is the classification's (leaf boxes and tested devices), joined for an Explosion
    by the stale fixes its grown-area query adds (some fixes are hours old); the Explosion is
    enabled nationwide, so only its per-county counts come from the box.
    """
    import geotarget._evaluation as evaluation
    import geotarget.targeting as targeting
    from geotarget import sweden

    rng = np.random.default_rng(11)
    n = 6000
    hours = np.where(rng.random(n) < 0.1, 3.0, 0.0)
    fleet = Positions(
        np.arange(n),
        rng.uniform(west, east, n),
        rng.uniform(south, north, n),
        accuracy_m=rng.uniform(0.0, 300.0, n),
        observed_at=np.datetime64(T0.replace(tzinfo=None), "us")
        - (hours * 3600e6).astype("timedelta64[us]"),
    )
    index = PositionIndex(fleet)
    # A polygon inside the devices' box: the stale margin reaches fixes outside the area.
    dx, dy = (east - west) / 8, (north - south) / 8
    ring = [(west + dx, south + dy), (east - dx, south + dy), (east - dx, north - dy)]
    ring.append((west + dx, north - dy))
    alert = make_alert(kind, Polygon(ring))
    results = []
    for smallest in (evaluation.BOX_MIN_DEVICES, 10**9):  # the box, then every device located
        monkeypatch.setattr(evaluation, "BOX_MIN_DEVICES", smallest)
        monkeypatch.setattr(targeting, "BOX_MIN_DEVICES", smallest)
        t = Targeter(sweden.hierarchy(), sweden.pilot_policy())
        results.append(t.target(alert, index, T0, confirm=True))  # past the 100 km² guard
    boxed, located = results
    assert boxed.verdict is located.verdict is Verdict.DELIVER, (boxed.reason, located.reason)
    assert boxed.counts == located.counts
    assert boxed.per_county == located.per_county
    np.testing.assert_array_equal(boxed.recipients, located.recipients)
    for device in rng.choice(n, 50, replace=False).tolist():
        assert boxed.explain(device) == located.explain(device)


@pytest.mark.parametrize("given", ["explosion", 5, ("explosion", KIND_RULES["explosion"])])
def test_location_rules_that_are_not_a_mapping_are_a_type_error(
    regions: RegionHierarchy, given: object
) -> None:
    """A str, a number or a pair where a mapping belongs: InvalidType, not AttributeError."""
    with pytest.raises(InvalidType, match=r"^location_rules must be a mapping of kind name"):
        Targeter(regions, nationwide("XX"), location_rules=given)  # type: ignore[arg-type]


@pytest.mark.parametrize("ledger", [5, "deliveries.db", object()])
def test_a_ledger_without_the_store_methods_is_refused_when_the_targeter_is_built(
    regions: RegionHierarchy, ledger: object
) -> None:
    """Not at the first alert, deep in target() (it was accepted and failed there)."""
    with pytest.raises(InvalidType, match=r"^ledger must be a DeliveryLedger .* without admit"):
        Targeter(regions, nationwide("XX"), ledger=ledger)  # type: ignore[arg-type]


def test_county_level_must_be_a_level_of_the_regions(regions: RegionHierarchy) -> None:
    """A typo is refused (it silently counted per finest region); the default falls back."""
    with pytest.raises(InvalidInput, match=r"^county_level must be a level of the regions \("):
        Targeter(regions, nationwide("XX"), county_level="countie")
    with pytest.raises(InvalidType, match=r"^county_level must be a str \(got list\)"):
        Targeter(regions, nationwide("XX"), county_level=["county", "x"])  # type: ignore[arg-type]
    for level in regions.levels:
        Targeter(regions, nationwide("XX"), county_level=level)
