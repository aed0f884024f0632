"""Issuer authority, end to end: the territory checked is the territory the devices told are in.

An issuer may alert only within its regions (docs/who_is_told.rst, section 2, rule 3): every
finest region whose interior the alert area's interior meets must be one of its own. Each test
builds the alert an operator would send near a border between two of the test regions (boxes:
municipality ``0101`` west of lon 17.5, ``0102`` east of it, both in county ``01``; county
``02`` east of lon 18.0), puts devices where a plain-Python oracle says the area reaches, and
compares the verdict and the devices told with that oracle. The oracle measures geodesic
distances on WGS84 with pyproj and reads region membership off the boxes; it shares nothing
with the library's own geometry.
"""

from __future__ import annotations

import datetime as dt

import attrs
import numpy as np
import pytest
from pyproj import Geod
from targeting_helpers import T0, exact_rules, make_alert, make_regions

from geotarget import Area, Circle, PositionIndex, Positions
from geotarget.issuers import Issuer, Issuers
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter, TargetingResult, Verdict

_GEOD = Geod(ellps="WGS84")
REGIONS = make_regions()
#: The border between municipalities 0101 (west) and 0102 (east): the meridian lon 17.5.
BORDER_LON = 17.5
WEST = "west@example.se"
#: Issuer 'west' may alert municipality 0101 only: 0102, across the border, is not its own.
TABLE = Issuers(
    [
        Issuer(name="west", senders=[WEST], kinds=["tip_request", "explosion"], regions=["0101"]),
        Issuer(
            name="national",
            senders=["polisen@example.se"],
            kinds=["tip_request", "explosion"],
            regions=["XX"],
        ),
    ]
)


def _distance_to_border(lon: float, lat: float) -> tuple[float, float]:
    """(geodesic metres from a point to the border meridian, the latitude of its foot there).

    The points here are placed along a geodesic leaving the border westwards at lat 59.5, so
    their foot lies near it: the meridian is sampled every 2e-5 degrees (2 m) around it, then
    every 2e-8 degrees (2 mm) around the nearest sample. The distance is smooth there, so the
    sampling errs by far less than a millimetre.
    """
    foot = 59.5
    for half in (0.02, 2e-5):
        lats = foot + np.linspace(-half, half, 2_001)
        d = np.asarray(_GEOD.inv(np.full_like(lats, lon), np.full_like(lats, lat),
                                 np.full_like(lats, BORDER_LON), lats)[2])  # fmt: skip
        foot = float(lats[int(np.argmin(d))])
    return float(d.min()), foot


def _just_across(lon: float, lat: float, foot_lat: float, within_m: float) -> tuple[float, float]:
    """A point of 0102, east of the border near its foot, ``within_m`` of ``(lon, lat)``."""
    az = _GEOD.inv(lon, lat, BORDER_LON, foot_lat)[0]
    spot = _GEOD.fwd(lon, lat, az, within_m)[:2]
    assert spot[0] > BORDER_LON and _GEOD.inv(lon, lat, *spot)[2] == pytest.approx(within_m)
    return float(spot[0]), float(spot[1])


def _targeted(area: Area, spots: dict[str, tuple[float, float]]) -> TargetingResult:
    """A tip request of issuer 'west' over ``area``, targeted over devices at ``spots``."""
    # Strict: no slack past the issuer's border (tests/test_border_slack13.py has the slack).
    t = Targeter(
        REGIONS, nationwide("XX"), location_rules=exact_rules(), issuers=TABLE,
        border_slack_m=0.0,
    )  # fmt: skip
    alert = attrs.evolve(make_alert("tip_request", area, ident="w1"), sender=WEST)
    ids = list(spots)
    index = PositionIndex(
        Positions(ids, [spots[i][0] for i in ids], [spots[i][1] for i in ids], observed_at=T0)
    )
    return t.target(alert, index, T0 + dt.timedelta(minutes=1))


# --- A circle of more than 30 km ----------------------------------------------------------------
#
# A circle of a large reach (a regional warning) whose rim crosses the border by centimetres:
# devices there are inside it by the exact geodesic rule, so it reaches 0102.


@pytest.mark.parametrize("radius_m", [31_000.0, 300_000.0, 1_000_000.0])
@pytest.mark.parametrize("turn_deg", [0.0, 0.022, 0.044])
@pytest.mark.parametrize("into_m", [0.01, 0.03, -0.02, -0.1])
def test_a_large_circle_reaching_across_the_border_is_the_issuer_s_only_when_the_oracle_says_so(
    radius_m: float, turn_deg: float, into_m: float
) -> None:
    centre = _GEOD.fwd(BORDER_LON, 59.5, 270.0 + turn_deg, radius_m - into_m)[:2]
    circle = Circle(float(centre[0]), float(centre[1]), radius_m)
    d, foot = _distance_to_border(circle.lon, circle.lat)
    reaches = d < radius_m - 0.002
    # Every case is decidable by the oracle: none within its sampling of the border.
    assert reaches or d > radius_m + 0.002, (d, radius_m)
    spots = (
        {"across": _just_across(circle.lon, circle.lat, foot, radius_m - 0.001)} if reaches else {}
    )
    got = _targeted(Area([circle]), spots)
    if reaches:
        assert got.verdict is Verdict.NOT_AUTHORISED, got.reason
        assert "0102" in got.reason
        assert got.recipients.size == 0 and got.claims is None
    elif radius_m < 40_000.0:
        # Within 0101 alone (lat 59 to 60, lon 17 to 17.5) and abroad: the issuer's own.
        assert got.verdict is Verdict.DELIVER, got.reason


# --- A polygon with a margin (the territory check on its own) -----------------------------------
#
# An alert area carries no margin (CAP has none), but the territory check takes any area: a
# wedge whose tip points at the border, grown by a margin whose round cap reaches just across
# it, between the vertices a buffer of the cap would have.


@pytest.mark.parametrize("margin_m", [5_000.0, 20_000.0])
@pytest.mark.parametrize("turn_deg", [0.0, 1.0, 1.3])
@pytest.mark.parametrize("side", [1.0, -1.0])
def test_a_margin_reaching_across_the_border_reaches_the_region_beyond(
    margin_m: float, turn_deg: float, side: float
) -> None:
    from geotarget import Polygon
    from geotarget._authority import Territory

    # Half the most a buffer's arc of 1/256 of a turn cuts inside its circle, across the
    # border (side 1) or short of it (side -1).
    into_m = side * margin_m * (1.0 - np.cos(np.pi / 256.0)) / 2.0
    tip = _GEOD.fwd(BORDER_LON, 59.5, 270.0, margin_m - into_m)[:2]
    north = _GEOD.fwd(*tip, 300.0 + turn_deg, 2000.0)[:2]
    south = _GEOD.fwd(*tip, 240.0 + turn_deg, 2000.0)[:2]
    wedge = Polygon([tip, north, south], margin_m=margin_m)
    d, foot = _distance_to_border(*tip)
    slack = wedge.margin_error_bound_m + 0.01
    if margin_m - slack <= d <= margin_m + slack:
        pytest.skip("within the margin's documented error bound of the border")
    reached = Territory(REGIONS.region_set("municipality")).reached(Area([wedge]))
    assert ("0102" in reached) == (d < margin_m)
    if d < margin_m:  # a point of 0102 inside the margin, as the matcher decides it
        across = _just_across(*tip, foot, margin_m - slack)
        assert wedge.contains(np.array([across[0]]), np.array([across[1]])).all()
