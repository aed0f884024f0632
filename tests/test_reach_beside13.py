"""Areas beside enabled territory: whether they reach it, against distances of their own.

Police information starts in Stockholm county. A tip request over a neighbouring county, or a
polygon a few kilometres from the county's border, asks the plan whether the area grown by the
Targeter's ``snap_m`` reaches an enabled municipality. The oracle measures the gap in SWEREF 99
TM (EPSG:3006, within 0.1 % of geodesic distances here) between the area and Stockholm
county, with shapely alone, and the snap distances sit 20 % either side of it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyproj
import pytest
import shapely

from geotarget import Alert, Area, Polygon, PositionIndex, Positions, pilot, sweden
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter, Verdict

AT = dt.datetime(2024, 5, 20, 12, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="x", description="x", area_description="x")
TO_TM = pyproj.Transformer.from_crs(4326, 3006, always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs(3006, 4326, always_xy=True)


def _tm(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_TM.transform(*xy.T)))


def _area(geom: shapely.Geometry) -> Area:
    parts = []
    for p in shapely.get_parts(geom):
        holes = [shapely.get_coordinates(h) for h in p.interiors]
        parts.append(Polygon(shapely.get_coordinates(p.exterior), holes=holes))
    return Area(parts)


def _shrunk(code: str, metres: float) -> tuple[Area, float]:
    """County ``code`` shrunk by ``metres`` (in EPSG:3006), and its gap to Stockholm county."""
    county = _tm(sweden.counties()[code].geometry)
    inner = shapely.segmentize(shapely.buffer(county, -metres), 100.0)  # lon/lat edges ~ TM edges
    inner = max(shapely.get_parts(inner), key=lambda p: p.area)
    lonlat = shapely.transform(inner, lambda xy: np.column_stack(TO_LONLAT.transform(*xy.T)))
    lonlat = shapely.simplify(lonlat, 0.0)  # drop repeated points
    gap = float(shapely.distance(_tm(lonlat), _tm(sweden.counties()["01"].geometry)))
    return _area(lonlat), gap


def _tip(area: Area, i: str) -> Alert:
    return pilot.tip_request(
        identifier=f"beside-{i}", sender="b@example.se", sent=AT, area=area, sv=MSG, en=MSG,
        onset=AT, expires=AT + dt.timedelta(hours=2),
    )  # fmt: skip


@pytest.fixture(scope="module")
def index() -> PositionIndex:
    lon, lat = sweden.synthetic_population(50_000, seed=3)
    return PositionIndex(
        Positions(np.arange(lon.size), lon, lat, accuracy_m=np.full(lon.size, 10.0), observed_at=AT)
    )


@pytest.mark.parametrize(("code", "metres"), [("03", 2_000.0), ("04", 5_000.0)])
def test_an_area_a_few_kilometres_beside_reaches_only_within_the_snap(
    index: PositionIndex, code: str, metres: float
) -> None:
    area, gap = _shrunk(code, metres)
    assert metres * 0.95 < gap < metres * 1.5  # the oracle's own sanity
    for snap, reaches in ((0.8 * gap, False), (1.2 * gap, True)):
        targeter = Targeter(
            sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger(), snap_m=snap
        )
        got = targeter.target(_tip(area, f"{code}-{snap:.0f}"), index, AT, confirm=True)
        if reaches:
            assert got.verdict is not Verdict.AREA_OUTSIDE_ROLLOUT, got.reason
        else:
            assert got.verdict is Verdict.AREA_OUTSIDE_ROLLOUT, got.reason


def test_a_county_sharing_a_border_with_the_enabled_one_reaches_it(index: PositionIndex) -> None:
    area = _area(sweden.counties()["03"].geometry)
    targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger())
    got = targeter.target(_tip(area, "03"), index, AT, confirm=True)
    assert got.verdict is Verdict.DELIVER, got.reason
    # Nobody in Uppsala county is on Stockholm county's territory: none is told.
    assert len(got.recipients) == 0
