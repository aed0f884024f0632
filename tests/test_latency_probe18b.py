"""Long thin polygons beside enabled territory: whether they reach it, and who is told.

A tip request over a strip that follows Stockholm county's border from outside it (a road
along a county line, a coastal band, a border strip) asks the plan whether the strip, grown
by the Targeter's ``snap_m``, reaches an enabled municipality. The strip's bounds hold many municipalities
it never comes near; the answer must be that of the strip's own distance. The oracle
measures in SWEREF 99 TM (EPSG:3006, within 0.1 % of geodesic distances here) with shapely
alone: the gap between the strip and the county, and where each device lies; the snap
distances sit 20 % either side of the gap.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely

from geotarget import Alert, Area, Circle, Polygon, PositionIndex, Positions, pilot, sweden
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter, Verdict

AT = dt.datetime(2024, 5, 20, 12, 0, tzinfo=dt.timezone.utc)
MSG = pilot.Message(headline="x", description="x", area_description="x")
TO_TM = pyproj.Transformer.from_crs(4326, 3006, always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs(3006, 4326, always_xy=True)
GAP_M = 1_500.0


def _tm(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_TM.transform(*xy.T)))


def _lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_LONLAT.transform(*xy.T)))


@pytest.fixture(scope="module")
def county() -> shapely.Geometry:
    return _tm(sweden.counties()["01"].geometry)


@pytest.fixture(scope="module")
def strip(county: shapely.Geometry) -> shapely.Geometry:
    """A band 300 m wide, GAP_M outside the county's border, along its northern half (TM)."""
    band = shapely.difference(shapely.buffer(county, GAP_M + 300.0), shapely.buffer(county, GAP_M))
    west, south, east, north = shapely.bounds(county).tolist()
    band = shapely.intersection(
        band, shapely.box(west - 5e3, (south + north) / 2, east + 5e3, north + 5e3)
    )
    band = max(shapely.get_parts(band), key=lambda p: p.area)
    band = shapely.polygons(shapely.get_exterior_ring(band))
    dense: shapely.Geometry = shapely.segmentize(band, 100.0)  # lon/lat edges ~ TM edges
    return dense


def _area(strip_tm: shapely.Geometry) -> Area:
    ring = shapely.get_exterior_ring(shapely.simplify(_lonlat(strip_tm), 0.0))
    return Area(Polygon(shapely.get_coordinates(ring)))


def _tip(area: Area, i: str) -> Alert:
    return pilot.tip_request(
        identifier=f"strip-{i}", sender="s@example.se", sent=AT, area=area, sv=MSG, en=MSG,
        onset=AT, expires=AT + dt.timedelta(hours=2),
    )  # fmt: skip


def test_a_strip_along_the_county_line_reaches_it_only_within_the_snap(
    county: shapely.Geometry, strip: shapely.Geometry
) -> None:
    counties = {r.code: _tm(r.geometry) for r in sweden.counties()}
    gap = float(shapely.distance(strip, county))
    assert GAP_M * 0.95 < gap < GAP_M * 1.05  # the oracle's own sanity
    # Fresh devices with 1 m accuracy in and around the strip, on both sides of the line.
    rng = np.random.default_rng(18)
    near = shapely.buffer(strip, 2.5 * gap)
    west, south, east, north = near.bounds
    x = rng.uniform(west, east, 40_000)
    y = rng.uniform(south, north, 40_000)
    keep = shapely.contains_xy(near, x, y)
    x, y = x[keep], y[keep]
    lon, lat = TO_LONLAT.transform(x, y)
    ids = np.arange(x.size)
    index = PositionIndex(Positions(ids, lon, lat, accuracy_m=np.ones(x.size), observed_at=AT))
    in_strip = shapely.contains_xy(shapely.buffer(strip, -5.0), x, y)
    assert in_strip.sum() > 50  # the oracle's own sanity
    area = _area(strip)
    for snap, reaches in ((0.8 * gap, False), (1.2 * gap, True)):
        targeter = Targeter(
            sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger(), snap_m=snap
        )
        got = targeter.target(_tip(area, f"{snap:.0f}"), index, AT, confirm=True)
        if not reaches:
            assert got.verdict is Verdict.AREA_OUTSIDE_ROLLOUT, got.reason
            assert len(got.recipients) == 0
            # Phase 2 adds Skåne and Västra Götaland, hundreds of kilometres away: phase 3.
            why = got.explain(int(ids[in_strip][0]))
            assert "does not receive" in why and "phase 3 enables it" in why, why
            continue
        assert got.verdict is Verdict.DELIVER, got.reason
        # A device in the strip is told iff no county covers it and Stockholm county is the
        # nearest one, within the snap (devices within 1 % of the snap are not judged).
        told = np.isin(ids, np.asarray(got.recipients, dtype=np.int64))
        assert not told[~in_strip & ~shapely.contains_xy(shapely.buffer(strip, 5.0), x, y)].any()
        gaps = np.array(
            [shapely.distance(c, shapely.points(x, y)) for c in counties.values()]
        )  # metres from each device to each county
        codes = np.array(list(counties))
        nearest = codes[np.argmin(gaps, axis=0)]
        own = gaps.min(axis=0)
        snapped = in_strip & (own > 1.0) & (nearest == "01") & (own < 0.99 * snap)
        not_snapped = in_strip & ((own < 0.0 + 1e-9) | (nearest != "01") | (own > 1.01 * snap))
        assert snapped.any() and not_snapped.any()  # the oracle's own sanity
        assert told[snapped].all()
        assert not told[not_snapped].any()
        assert "receives" in got.explain(int(ids[snapped][0]))
        assert "does not receive" in got.explain(int(ids[not_snapped][0]))


def test_the_area_of_chains_and_scatters_of_circles_is_their_union() -> None:
    """Overlapping chains, touching pairs and lone circles: one union, measured on its own.

    The oracle draws each rim with ``Geod.fwd`` (720 points, scaled out so the polygon holds
    the circle's area) and measures the union in a Lambert azimuthal equal-area frame.
    """
    rng = np.random.default_rng(181)
    geod = pyproj.Geod(ellps="WGS84")
    circles: list[tuple[float, float, float]] = []
    for k in range(12):  # chains of 2..40 circles, 3 km apart, 2-4 km radii: they overlap
        lon0, lat0 = 12.0 + 0.7 * k, 56.0 + 0.6 * k
        for j in range(2 + 3 * k + int(rng.integers(0, 3))):
            lon, lat, _ = geod.fwd(lon0, lat0, 60.0, 3_000.0 * j)
            circles.append((float(lon), float(lat), float(rng.uniform(2_000.0, 4_000.0))))
    for lon, lat in zip(rng.uniform(12.0, 20.0, 150), rng.uniform(60.5, 66.0, 150), strict=True):
        circles.append((float(lon), float(lat), float(rng.uniform(500.0, 1_500.0))))
    area = Area([Circle(lon, lat, r) for lon, lat, r in circles])
    az = np.linspace(0.0, 360.0, 720, endpoint=False)
    widen = np.sqrt((2 * np.pi / 720) / np.sin(2 * np.pi / 720))
    laea = pyproj.Transformer.from_crs(
        4326, "+proj=laea +lat_0=61 +lon_0=16 +ellps=WGS84", always_xy=True
    )
    rims: list[Any] = []
    for lon, lat, r in circles:
        x, y, _ = geod.fwd(np.full(720, lon), np.full(720, lat), az, np.full(720, r * widen))
        rims.append(shapely.polygons(np.column_stack(laea.transform(x, y))))
    expected = float(shapely.area(shapely.union_all(rims)))
    assert abs(area.area_m2 - expected) < 1e-4 * expected
