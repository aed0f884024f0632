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
    "Vänern, mid-lake": (13.30, 58.90),
    "Hjälmaren": (15.75, 59.25),
    "Siljan": (14.85, 60.88),
    "Storsjön, off Östersund": (14.45, 63.12),
    "Kosterhavet, territorial sea": (10.95, 58.88),
    "Bay of Bothnia, territorial sea off Haparanda": (23.90, 65.70),
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


#: The pilot's illustrative phase 3: tip requests in the whole country (beyond_border false).
NATIONWIDE = dt.datetime(2025, 2, 3, 12, 0, tzinfo=dt.timezone.utc)

#: A Swedish point and a foreign one across a border, about 1-8 km apart; which side each lies
#: on is checked against Lantmäteriet's detailed boundaries in tests/test_sweden.py.
BORDERS = {
    "Öresund: 1 km inside Sweden / 560 m into Denmark": ((12.88, 55.60), (12.84, 55.60)),
    "Torneälven: Haparanda's bank / Tornio": ((24.13, 65.835), (24.1466, 65.8481)),
    "Koster: inside / 300 m beyond the 12-nm line": ((10.64397, 58.89161), (10.63388, 58.89294)),
}


def _across(kind: str, ident: str, at: dt.datetime, place: str) -> Any:
    """An alert covering both points of ``BORDERS[place]``; the result over a device at each."""
    from pyproj import Geod

    (sx, sy), (fx, fy) = BORDERS[place]
    geod = Geod(ellps="WGS84")
    azimuth, _, dist = geod.inv(sx, sy, fx, fy)
    cx, cy, _ = geod.fwd(sx, sy, azimuth, dist / 2)
    make = pilot.explosion if kind == "explosion" else pilot.tip_request
    alert = make(
        identifier=ident, sender="polisen@polisen.se", sent=at,
        area=Circle(cx, cy, dist / 2 + 500.0), sv=MSG, en=MSG, onset=at,
        expires=at + dt.timedelta(hours=2),
    )  # fmt: skip
    index = PositionIndex(
        Positions(["sweden", "abroad"], [sx, fx], [sy, fy], accuracy_m=[5.0, 5.0], observed_at=at)
    )
    return Targeter(sweden.hierarchy(), pilot.pilot_policy(), recognition=pilot.RECOGNITION).target(
        alert, index, at
    )


@pytest.mark.parametrize("place", sorted(BORDERS))
def test_a_nationwide_tip_request_stops_at_the_border(place: str) -> None:
    """A tip request (beyond_border false) over a border tells only the Swedish side."""
    from geotarget.targeting import Outcome

    result = _across("tip", f"tip-border-{sorted(BORDERS).index(place)}", NATIONWIDE, place)
    assert result.verdict is Verdict.DELIVER, result.reason
    assert result.recipients.tolist() == ["sweden"]
    assert result.counts[Outcome.BEYOND_BORDER] == 1
    assert "beyond the country's territory" in result.explain("abroad")


@pytest.mark.parametrize("place", sorted(BORDERS))
def test_an_explosion_does_not_stop_at_the_border(place: str) -> None:
    """An Explosion (beyond_border true: life safety) tells both sides of a border."""
    result = _across("explosion", f"exp-border-{sorted(BORDERS).index(place)}", AT, place)
    assert result.verdict is Verdict.DELIVER, result.reason
    assert sorted(result.recipients.tolist()) == ["abroad", "sweden"]


def test_a_first_phase_tip_request_reaches_sandhamn_not_uppsala(targeter: Targeter) -> None:
    """Stockholm County's archipelago (Sandhamn, Värmdö) is enabled; Uppsala County is not."""
    lon, lat = 18.91, 59.285
    result = targeter.target(_alert("tip", "tip-sandhamn", lon, lat), _devices(lon, lat), AT)
    assert result.verdict is Verdict.DELIVER, result.reason
    assert sorted(result.recipients.tolist()) == ["here", "north-500m"]
    assert set(result.per_county) == {"01"}
    lon, lat = 17.64, 59.86
    result = targeter.target(_alert("tip", "tip-uppsala", lon, lat), _devices(lon, lat), AT)
    assert result.verdict is Verdict.AREA_OUTSIDE_ROLLOUT
    assert result.recipients.size == 0
