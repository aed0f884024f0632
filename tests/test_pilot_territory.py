"""End to end on the built-in Swedish territory: lakes, Saltsjön and the territorial sea are told.

Issue 10's acceptance: under the pilot policy a device inside an Explosion area anywhere on
Swedish territory (land, lakes, territorial sea) is told, and a Stockholm-first tip request
reaches devices on Stockholm's waters. The places are water (lake or sea) that the earlier
generalised land outlines left in no region.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from geotarget import Circle, PositionIndex, Positions, pilot, sweden
from geotarget.targeting import Targeter, Verdict

AT = dt.datetime(2024, 5, 20, 12, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="Test", description="Test.", area_description="Test")

#: Water on Swedish territory: (lon, lat, what).
WATERS = {
    "Vättern, mid-lake off Hjo": (14.55, 58.55),
    "Riddarfjärden (Mälaren), central Stockholm": (18.055, 59.3235),
    "Saltsjön off Stadsgården": (18.095, 59.3215),
    "Mälaren off Ekerö": (17.75, 59.40),
    "Baltic territorial sea south of Öland": (16.40, 56.10),
    "Baltic territorial sea west of Gotland": (18.00, 57.50),
}
STOCKHOLM_WATERS = [k for k in WATERS if "Stockholm" in k or "Saltsjön" in k or "Ekerö" in k]


@pytest.fixture(scope="module")
def targeter() -> Targeter:
    """The pilot on the built-in Swedish hierarchy."""
    return Targeter(sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION)


def _devices(lon: float, lat: float) -> PositionIndex:
    """A device at the point, one 500 m north of it, one 5 km east of it: fresh, exact fixes."""
    dlat = 500.0 / 111_200.0
    dlon = 5_000.0 / (111_200.0 * np.cos(np.radians(lat)))
    return PositionIndex(
        Positions(
            ["here", "north-500m", "east-5km"],
            [lon, lon, lon + dlon],
            [lat, lat + dlat, lat],
            accuracy_m=[5.0, 5.0, 5.0],
            observed_at=AT,
        )
    )


def _alert(kind: Any, ident: str, lon: float, lat: float) -> Any:
    make = pilot.explosion if kind == "explosion" else pilot.tip_request
    return make(
        identifier=ident, sender="polisen@polisen.se", sent=AT, area=Circle(lon, lat, 1_000.0),
        sv=MSG, en=MSG, onset=AT, expires=AT + dt.timedelta(hours=2),
    )  # fmt: skip


@pytest.mark.parametrize("place", sorted(WATERS))
def test_an_explosion_on_swedish_water_is_told(targeter: Targeter, place: str) -> None:
    """An Explosion 1 km circle on a lake or the territorial sea tells the devices inside it."""
    lon, lat = WATERS[place]
    result = targeter.target(
        _alert("explosion", f"exp-{sorted(WATERS).index(place)}", lon, lat), _devices(lon, lat), AT
    )
    assert result.verdict is Verdict.DELIVER, result.reason
    assert sorted(result.recipients.tolist()) == ["here", "north-500m"]


@pytest.mark.parametrize("place", STOCKHOLM_WATERS)
def test_a_stockholm_tip_request_reaches_stockholm_waters(targeter: Targeter, place: str) -> None:
    """In the Stockholm-first phase a tip request on Saltsjön or Mälaren (county 01) is told."""
    lon, lat = WATERS[place]
    result = targeter.target(
        _alert("tip", f"tip-{sorted(WATERS).index(place)}", lon, lat), _devices(lon, lat), AT
    )
    assert result.verdict is Verdict.DELIVER, result.reason
    assert sorted(result.recipients.tolist()) == ["here", "north-500m"]
    assert set(result.per_county) == {"01"}


def test_a_tip_request_on_vattern_is_outside_the_first_phase(targeter: Targeter) -> None:
    """Vättern lies in Jönköping county, not yet enabled for tip requests: nobody, with a reason."""
    lon, lat = WATERS["Vättern, mid-lake off Hjo"]
    result = targeter.target(_alert("tip", "tip-vattern", lon, lat), _devices(lon, lat), AT)
    assert result.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert result.recipients.size == 0


def test_the_open_baltic_beyond_the_territorial_sea_is_not_swedish(targeter: Targeter) -> None:
    """Between Gotland and Latvia, beyond 12 nautical miles, an Explosion reaches no territory."""
    lon, lat = 19.9, 57.0
    result = targeter.target(_alert("explosion", "exp-baltic", lon, lat), _devices(lon, lat), AT)
    assert result.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert result.recipients.size == 0
