"""Edge inputs of the matcher against brute force: ``pyproj.Geod`` and shapely per point."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyproj
import pytest
import shapely

from geotarget import Area, Circle, Location, LocationRule, Polygon, PositionIndex, Positions

GEOD = pyproj.Geod(ellps="WGS84")
NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
EAST = Polygon([(179.9, -0.1), (180.0, -0.1), (180.0, 0.1), (179.9, 0.1)])
WEST = Polygon([(-180.0, -0.1), (-179.9, -0.1), (-179.9, 0.1), (-180.0, 0.1)])


def _classify(area: Area, lon: list[float], lat: list[float], acc: list[float]) -> list[str]:
    positions = Positions(list(range(len(lon))), lon, lat, accuracy_m=acc, observed_at=NOW)
    rows, states = PositionIndex(positions).classify(area, LocationRule(), NOW)
    out = ["OUTSIDE"] * len(lon)
    for row, state in zip(rows.tolist(), states.tolist(), strict=True):
        out[row] = Location(state).name
    return out


def _disk_leaves(area: Area, lon: float, lat: float, r: float) -> bool:
    """Whether some point of the disk's rim (brute force, 720 azimuths) lies outside ``area``."""
    az = np.linspace(0.0, 360.0, 720, endpoint=False)
    x, y, _ = GEOD.fwd(np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, r))
    inside = np.zeros(az.size, dtype=np.bool_)
    for part in area.parts:
        if isinstance(part, Circle):
            _, _, d = GEOD.inv(np.full(az.size, part.lon), np.full(az.size, part.lat), x, y)
            inside |= np.asarray(d) <= part.reach_m
        else:
            inside |= shapely.covers(part.shape, shapely.points(x, y))
    return not bool(inside.all())


@pytest.mark.parametrize(
    ("lon", "lat", "acc"),
    [(180.0, 0.0, 50.0), (-180.0, 0.05, 1000.0), (179.9999, -0.05, 300.0), (-179.99995, 0.0, 20.0)],
)
def test_disk_across_the_antimeridian_held_by_the_halves_is_inside(
    lon: float, lat: float, acc: float
) -> None:
    """A disk across 180° that the area's two halves (split there, as required) hold is INSIDE."""
    area = Area([EAST, WEST])
    assert not _disk_leaves(area, lon, lat, acc)
    assert _classify(area, [lon], [lat], [acc]) == ["INSIDE"]


def test_disk_across_the_antimeridian_reaching_out_stays_ambiguous() -> None:
    """A disk across 180° that reaches past the halves' edge is AMBIGUOUS, not INSIDE."""
    area = Area([EAST, WEST])
    assert _disk_leaves(area, 180.0, 0.0999, 50.0)
    assert _classify(area, [180.0, -180.0], [0.0999, 0.0999], [50.0, 50.0]) == ["AMBIGUOUS"] * 2


def test_circles_either_side_of_the_antimeridian_hold_a_disk_together() -> None:
    """Two circles each reaching across 180° hold together a disk that neither holds alone."""
    area = Area([Circle(179.99, 0.0, 2000.0), Circle(-179.99, 0.0, 2000.0)])
    for c in area.parts:
        assert isinstance(c, Circle)
        _, _, d = GEOD.inv(c.lon, c.lat, 180.0, 0.0)
        assert d + 1500.0 > c.reach_m  # neither alone
    assert not _disk_leaves(area, 180.0, 0.0, 1500.0)
    assert _classify(area, [180.0, -180.0, 180.0], [0.0, 0.0, 0.0], [1500.0, 1500.0, 2500.0]) == [
        "INSIDE",
        "INSIDE",
        "AMBIGUOUS",
    ]


def test_parts_touching_across_the_antimeridian_and_crossing_zero() -> None:
    """A part that spans 0° (it cannot be turned) is left out of the union, never wrongly held."""
    wide = Polygon([(-10.0, -0.1), (10.0, -0.1), (10.0, 0.1), (-10.0, 0.1)])
    area = Area([EAST, WEST, wide])
    assert _classify(area, [180.0, 0.0], [0.0, 0.0999], [50.0, 50.0]) == ["INSIDE", "AMBIGUOUS"]
