"""Exactness probes at places and with inputs no other test used, against pyproj and shapely.

Circles by ``pyproj.Geod.inv``/``fwd`` per device; polygons by shapely ``covers`` on the lon/lat
polygon. The areas: Kiruna, Treriksröset and Smygehuk, circles near the pole, and the claims
``docs/matching.rst`` makes about them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest

from geotarget import Area, Circle, Location, LocationRule, PositionIndex, Positions

GEOD = pyproj.Geod(ellps="WGS84")
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _state(area: Area, lon: float, lat: float, acc: float) -> str:
    positions = Positions([0], [lon], [lat], accuracy_m=[acc], observed_at=NOW)
    rows, states = PositionIndex(positions).classify(area, LocationRule(), NOW)
    return Location(int(states[0])).name if rows.size else "OUTSIDE"


def _lens(lat: float, reach_m: float) -> tuple[Area, float, float, float]:
    """Two circles, each centre on the other's rim, and a disk in their lens held by both only.

    The disk (radius 0.7 of the reach, at the midpoint of the centres) reaches beyond each
    circle alone (0.5 + 0.7 > 1) but not beyond their union (its nearest rim points, where the
    rims cross, are about 0.87 of the reach away): checked with ``Geod`` on its rim.
    """
    lon2, lat2, _ = GEOD.fwd(20.0, lat, 90.0, reach_m)
    area = Area([Circle(20.0, lat, reach_m), Circle(lon2, lat2, reach_m)])
    mlon, mlat, _ = GEOD.fwd(20.0, lat, 90.0, reach_m / 2.0)
    r = 0.7 * reach_m
    n = 720
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    rlon, rlat, _ = GEOD.fwd(np.full(n, mlon), np.full(n, mlat), az, np.full(n, r))
    held = np.zeros(n, dtype=np.bool_)
    for c in area.parts:
        assert isinstance(c, Circle)
        _, _, d = GEOD.inv(np.full(n, c.lon), np.full(n, c.lat), rlon, rlat)
        held |= np.asarray(d) <= c.reach_m
        _, _, centre = GEOD.inv(c.lon, c.lat, mlon, mlat)
        assert centre + r > c.reach_m  # no circle holds the disk alone
    assert held.all()  # together they do
    return area, float(mlon), float(mlat), r


def _documented_limits() -> list[tuple[float, float]]:
    """The (latitude, km) pairs beyond which matching.rst says a circle is left out of unions."""
    text = " ".join((DOCS / "matching.rst").read_text(encoding="utf-8").split())
    found = re.search(
        r"could leave it: over (\d+) km for a circle centred at (\d+)°, (\d+) km at (\d+)°", text
    )
    assert found, "matching.rst no longer states where circles near a pole are left out"
    km1, lat1, km2, lat2 = (float(g) for g in found.groups())
    return [(lat1, km1), (lat2, km2)]


@pytest.mark.parametrize("which", [0, 1])
def test_circles_near_the_pole_are_left_out_of_unions_where_the_docs_say(which: int) -> None:
    """A circle a little smaller than the documented size is united, a little larger is not.

    The docs said 475 km at 80° and 54 km at 89°, computed from the centre's latitude, where the
    rule reads the farthest: circles of 350 to 470 km at 80° were already left out, their
    disks held only together with another circle AMBIGUOUS.
    """
    lat, km = _documented_limits()[which]
    area, lon, mlat, r = _lens(lat, 0.97 * km * 1e3)
    assert _state(area, lon, mlat, r) == "INSIDE"
    area, lon, mlat, r = _lens(lat, 1.03 * km * 1e3)
    assert _state(area, lon, mlat, r) == "AMBIGUOUS"
