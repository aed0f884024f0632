"""Exact areas at real places no other test used, against an oracle of pyproj and shapely only.

Circles by ``pyproj.Geod.inv``; polygons by shapely ``covers`` on the lon/lat polygon; margins
and accuracy disks in an azimuthal-equidistant frame (pyproj) of the densified area, with a
tolerance band around each threshold where the oracle abstains.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely

from geotarget import Area, Circle, Location, LocationRule, Polygon, PositionIndex, Positions

GEOD = pyproj.Geod(ellps="WGS84")
NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
TOL_M = 1.0  # the oracle abstains within this of a threshold
Arr = npt.NDArray[np.float64]


def _frame(lon0: float, lat0: float) -> pyproj.Transformer:
    crs = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m")
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _project(geom: shapely.Geometry, tr: pyproj.Transformer) -> shapely.Geometry:
    dense = shapely.segmentize(geom, 0.0005)
    return shapely.transform(dense, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def _region(parts: Sequence[Circle | Polygon], tr: pyproj.Transformer) -> shapely.Geometry:
    """The area's union in the frame: circles by 1440 rim points, polygons grown by margin."""
    geoms: list[shapely.Geometry] = []
    for p in parts:
        if isinstance(p, Circle):
            az = np.linspace(0.0, 360.0, 1440, endpoint=False)
            n = az.size
            x, y, _ = GEOD.fwd(np.full(n, p.lon), np.full(n, p.lat), az, np.full(n, p.reach_m))
            geoms.append(shapely.Polygon(np.column_stack(tr.transform(x, y))))
        else:
            g = _project(shapely.Polygon(p.exterior, p.holes), tr)
            geoms.append(shapely.buffer(g, p.margin_m, quad_segs=256))
    return shapely.union_all(geoms)


def _oracle_query(
    parts: Sequence[Circle | Polygon], lon: Arr, lat: Arr, tr: pyproj.Transformer
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Whether each point is in the area, and where the oracle abstains (margins only)."""
    inside = np.zeros(lon.size, dtype=np.bool_)
    unsure = np.zeros(lon.size, dtype=np.bool_)
    for p in parts:
        if isinstance(p, Circle):
            _, _, d = GEOD.inv(np.full(lon.size, p.lon), np.full(lon.size, p.lat), lon, lat)
            inside |= np.asarray(d) <= p.reach_m
            continue
        shape = shapely.Polygon(p.exterior, p.holes)
        inside |= shapely.covers(shape, shapely.points(lon, lat))
        if p.margin_m > 0:
            x, y = tr.transform(lon, lat)
            d = shapely.distance(_project(shape, tr), shapely.points(x, y))
            inside |= d <= p.margin_m
            unsure |= np.abs(d - p.margin_m) < TOL_M
    return inside, unsure


def _oracle_classify(
    parts: Sequence[Circle | Polygon],
    lon: Arr,
    lat: Arr,
    r: Arr,
    tr: pyproj.Transformer,
) -> dict[str, npt.NDArray[np.bool_]]:
    """The states each disk surely cannot have (the oracle abstains within ``TOL_M``).

    As documented, a disk is surely held when one part holds it (a polygon's margin included:
    within 2 % of the margin of the grown boundary the matcher may answer AMBIGUOUS, GEOS
    drawing the grown polygon, so there the oracle abstains within 3 % of it), or when the
    parts' union with the polygons' margins left out does.
    """
    region = _region(parts, tr)
    x, y = tr.transform(lon, lat)
    disks = shapely.buffer(shapely.points(x, y), r, quad_segs=64)
    shrunk, grown = shapely.buffer(region, -TOL_M), shapely.buffer(region, TOL_M)
    bare = [p.with_margin(0.0) if isinstance(p, Polygon) else p for p in parts]
    held = shapely.covers(shapely.buffer(_region(bare, tr), -TOL_M), disks)
    for p in parts:
        band = max(TOL_M, 0.03 * p.margin_m) if isinstance(p, Polygon) else TOL_M
        held |= shapely.covers(shapely.buffer(_region([p], tr), -band), disks)
    meets = shapely.intersects(shrunk, disks)  # surely meets
    return {
        "INSIDE": ~shapely.covers(grown, disks),  # surely not held
        "AMBIGUOUS": held | ~shapely.intersects(grown, disks),
        "OUTSIDE": meets,
    }


def _states(area: Area | Polygon | Circle, lon: Arr, lat: Arr, acc: Arr) -> npt.NDArray[np.str_]:
    ids = list(range(lon.size))
    positions = Positions(ids, lon, lat, accuracy_m=acc, observed_at=NOW)
    rows, states = PositionIndex(positions).classify(area, LocationRule(), NOW)
    out = np.full(lon.size, "OUTSIDE", dtype="<U9")
    out[rows] = [Location(int(s)).name for s in states]
    return out


def _check(area: Area | Polygon | Circle, lon: Arr, lat: Arr, acc: Arr) -> None:
    parts = area.parts if isinstance(area, Area) else (area,)
    tr = _frame(float(lon.mean()), float(lat.mean()))
    positions = Positions(list(range(lon.size)), lon, lat, accuracy_m=acc, observed_at=NOW)
    index = PositionIndex(positions)
    got = np.zeros(lon.size, dtype=np.bool_)
    got[index.query(area)] = True
    want, unsure = _oracle_query(parts, lon, lat, tr)
    assert np.array_equal(got[~unsure], want[~unsure])
    assert index.count(area) == int(got.sum())
    disk = acc > 0
    states = _states(area, lon, lat, acc)
    assert np.array_equal(states[~disk] == "INSIDE", got[~disk])  # a point: as query
    assert not np.any(states[~disk] == "AMBIGUOUS")
    cannot = _oracle_classify(parts, lon[disk], lat[disk], acc[disk], tr)
    for name, wrong in cannot.items():
        bad = np.flatnonzero((states[disk] == name) & wrong)
        assert bad.size == 0, f"{bad.size} disks wrongly {name}"


def _cloud(
    seed: int, lon0: float, lat0: float, dlon: float, dlat: float, n: int, exact: Sequence[Any]
) -> tuple[Arr, Arr, Arr]:
    """``n`` devices around a place, accuracies from 0 to 50 km, and ``exact`` points twice.

    The exact points are vertices and points on edges; each twice: duplicated positions.
    """
    rng = np.random.default_rng(seed)
    ex = np.asarray(list(exact) * 2, dtype=np.float64).reshape(-1, 2)
    lon = np.concatenate([lon0 + rng.uniform(-dlon, dlon, n), ex[:, 0]])
    lat = np.concatenate([lat0 + rng.uniform(-dlat, dlat, n), ex[:, 1]])
    acc = rng.choice([0.0, 5.0, 50.0, 300.0, 2000.0, 50_000.0], lon.size)
    return lon, lat, acc


HAPARANDA = [(24.10, 65.80), (24.20, 65.80), (24.16, 65.83), (24.19, 65.86), (24.14, 65.88)]
TRERIKS = (20.5475, 69.0603)
GOTLAND = [(18.0, 57.3), (18.6, 57.3), (18.6, 57.8), (18.0, 57.8)]
GOTLAND_HOLE = [(18.0, 57.5), (18.3, 57.45), (18.3, 57.6)]  # touches the shell at a vertex
VANERN = [(12.3, 58.3), (14.2, 58.3), (14.2, 59.5), (12.3, 59.5)]
VANERN_LAKE = [(12.8, 58.6), (13.9, 58.6), (13.9, 59.3), (12.8, 59.3)]
SYDNEY = [(151.1, -33.95), (151.3, -33.95), (151.3, -33.8), (151.1, -33.8)]

PLACES: dict[str, tuple[Area | Polygon | Circle, tuple[float, float, float, float], list[Any]]] = {
    "haparanda-tornio": (Polygon(HAPARANDA), (24.15, 65.84, 0.1, 0.06), HAPARANDA),
    "haparanda-tornio-margin": (
        Polygon(HAPARANDA, margin_m=250.0),
        (24.15, 65.84, 0.1, 0.06),
        [*HAPARANDA, (24.15, 65.80)],
    ),
    "haparanda-circle-and-polygon": (
        Area([Circle(24.15, 65.84, 3000.0, margin_m=200.0), Polygon(HAPARANDA)]),
        (24.15, 65.84, 0.1, 0.06),
        HAPARANDA,
    ),
    "oresund-parts-touching-at-a-point": (
        Area(
            [
                Polygon([(12.6, 55.6), (12.7, 55.6), (12.7, 55.7)]),
                Polygon([(12.7, 55.7), (12.8, 55.7), (12.8, 55.8)]),
            ]
        ),
        (12.7, 55.7, 0.12, 0.12),
        [(12.7, 55.7), (12.7, 55.65), (12.75, 55.7)],
    ),
    "gotland-hole-touching-the-shell": (
        Polygon(GOTLAND, [GOTLAND_HOLE]),
        (18.3, 57.55, 0.35, 0.3),
        GOTLAND + GOTLAND_HOLE,
    ),
    "gotland-hole-with-margin-3km": (
        Polygon(GOTLAND, [GOTLAND_HOLE], margin_m=3000.0),
        (18.3, 57.55, 0.35, 0.3),
        GOTLAND + GOTLAND_HOLE,
    ),
    "vanern-lake-with-margin": (
        Polygon(VANERN, [VANERN_LAKE], margin_m=500.0),
        (13.25, 58.9, 1.1, 0.7),
        [*VANERN, *VANERN_LAKE, (13.0, 58.6), (12.8, 59.0)],
    ),
    "gotland-hole-under-another-parts-margin": (
        Area(
            [
                Polygon(GOTLAND, [GOTLAND_HOLE]),
                Polygon(
                    [(17.95, 57.48), (18.2, 57.48), (18.2, 57.52), (17.95, 57.52)], margin_m=2e3
                ),
                Circle(18.2, 57.52, 4000.0, margin_m=500.0),
            ]
        ),
        (18.3, 57.5, 0.35, 0.25),
        GOTLAND_HOLE,
    ),
    "svalbard-circles-with-margin": (
        Area([Circle(15.6, 78.2, 20000.0), Circle(16.3, 78.25, 15000.0, margin_m=3000.0)]),
        (15.9, 78.2, 1.2, 0.4),
        [(15.6, 78.2)],
    ),
    "kebnekaise-circle-with-margin": (
        Circle(18.5333, 67.9, 5000.0, margin_m=1000.0),
        (18.5333, 67.9, 0.2, 0.08),
        [(18.5333, 67.9)],
    ),
    "treriksroset-three-parts-at-a-point": (
        Area(
            [
                Polygon([TRERIKS, (20.7, 69.0), (20.7, 69.1)]),
                Polygon([TRERIKS, (20.7, 69.1), (20.4, 69.15)]),
                Polygon([TRERIKS, (20.4, 69.15), (20.7, 69.0)]),
            ]
        ),
        (20.55, 69.07, 0.2, 0.1),
        [TRERIKS, (20.7, 69.05)],
    ),
    "svalbard-78n-margin": (
        Polygon([(15.0, 78.0), (16.5, 78.0), (16.5, 78.4), (15.0, 78.4)], margin_m=800.0),
        (15.75, 78.2, 1.0, 0.3),
        [(15.0, 78.0), (16.0, 78.4)],
    ),
    "sydney-hole-and-margin": (
        Polygon(SYDNEY, [[(151.15, -33.9), (151.2, -33.9), (151.2, -33.85)]], margin_m=300.0),
        (151.2, -33.87, 0.15, 0.1),
        [*SYDNEY, (151.15, -33.9)],
    ),
    "fiji-at-180-margin": (
        Polygon([(179.5, -17.0), (180.0, -17.0), (180.0, -16.5), (179.5, -16.5)], margin_m=1e3),
        (179.75, -16.75, 0.24, 0.3),
        [(180.0, -16.7), (179.5, -17.0)],
    ),
}


@pytest.mark.parametrize("name", sorted(PLACES))
def test_a_real_place_equals_the_oracle(name: str) -> None:
    """Query, count and classify at a place, devices on its vertices and edges included."""
    area, (lon0, lat0, dlon, dlat), exact = PLACES[name]
    lon, lat, acc = _cloud(len(name), lon0, lat0, dlon, dlat, 1500, exact)
    _check(area, lon, lat, acc)


#: Land around a fjord about 590 m wide, 11 km long (Bohuslän), with a 500 m margin.
FJORD = Polygon(
    [
        (11.40, 58.25),
        (11.60, 58.25),
        (11.60, 58.35),
        (11.40, 58.35),
        (11.40, 58.30265),
        (11.50, 58.30265),
        (11.50, 58.29735),
        (11.40, 58.29735),
    ],
    margin_m=500.0,
)


@pytest.mark.parametrize("acc", [300.0, 400.0, 700.0])
def test_a_boat_in_a_fjord_narrower_than_twice_the_margin_is_inside(acc: float) -> None:
    """Every point of its disk is within the margin of one shore or the other: INSIDE."""
    lon, lat, r = np.array([11.45, 11.47]), np.array([58.30, 58.30]), np.array([acc, acc])
    tr = _frame(11.5, 58.3)
    assert _oracle_classify([FJORD], lon, lat, r, tr)["AMBIGUOUS"].all()  # surely held
    assert _states(FJORD, lon, lat, r).tolist() == ["INSIDE", "INSIDE"]


LAKE = [(14.50, 59.50), (14.5175, 59.50), (14.5175, 59.509), (14.50, 59.509)]


def test_a_disk_in_a_lake_narrower_than_twice_the_margin_is_inside() -> None:
    """A lake (hole) 1 km across inside a polygon with a 600 m margin holds a 500 m disk."""
    land = Polygon([(14.4, 59.45), (14.6, 59.45), (14.6, 59.55), (14.4, 59.55)], [LAKE])
    grown = land.with_margin(600.0)
    lon, lat = np.array([14.50875, 14.505]), np.array([59.5045, 59.5045])
    r = np.array([500.0, 550.0])
    tr = _frame(14.5, 59.5)
    assert _oracle_classify([grown], lon, lat, r, tr)["AMBIGUOUS"].all()
    assert _states(grown, lon, lat, r).tolist() == ["INSIDE", "INSIDE"]
    assert _states(land, lon, lat, r).tolist() == ["AMBIGUOUS", "AMBIGUOUS"]


SHELL = [(18.06 + 0.01 * np.cos(a), 59.33 + 0.005 * np.sin(a)) for a in np.arange(0, 6.28, 0.3)]
HOLE = [(18.058, 59.329), (18.062, 59.329), (18.062, 59.331), (18.058, 59.331)]


def test_a_compact_polygon_with_a_narrow_hole_and_margin_equals_the_oracle() -> None:
    """A small CAP-like polygon drawn around a point, with a hole inside its margin."""
    area = Polygon(SHELL, [HOLE], margin_m=250.0)
    lon, lat = np.array([18.06]), np.array([59.33])
    assert _states(area, lon, lat, np.array([200.0])).tolist() == ["INSIDE"]


def test_margins_over_narrow_water_never_hold_or_miss_wrongly() -> None:
    """Near a lake and a hole inside the margin: no disk INSIDE or OUTSIDE wrongly."""
    land = Polygon([(14.4, 59.45), (14.6, 59.45), (14.6, 59.55), (14.4, 59.55)], [LAKE])
    _check(land.with_margin(600.0), *_cloud(3, 14.51, 59.505, 0.03, 0.02, 1500, LAKE))
    compact = Polygon(SHELL, [HOLE], margin_m=250.0)
    _check(compact, *_cloud(5, 18.06, 59.33, 0.02, 0.01, 1500, [*HOLE, SHELL[0]]))
    _check(FJORD, *_cloud(6, 11.45, 58.30, 0.1, 0.03, 1500, FJORD.exterior))


@pytest.mark.parametrize("n", [0, 1, 2])
def test_snapshots_of_zero_one_and_two_devices(n: int) -> None:
    """Both devices of a pair at the same place are found; empty snapshots find nobody."""
    lon, lat = [24.15] * n, [65.84] * n
    index = PositionIndex(
        Positions(list(range(n)), lon, lat, accuracy_m=[10.0] * n, observed_at=NOW)
    )
    for area in (
        Polygon(HAPARANDA, margin_m=100.0),
        Circle(24.15, 65.84, 1000.0),
        Area([Polygon(HAPARANDA), Circle(24.15, 65.84, 9.0)]),
    ):
        assert index.query(area).tolist() == list(range(n))
        assert index.count(area) == n
        rows, states = index.classify(area, LocationRule(), NOW)
        assert rows.tolist() == list(range(n))
        assert states.tolist() == [int(Location.INSIDE)] * n
        assert index.query(area, observed_before=NOW).tolist() == []
        later = NOW + dt.timedelta(seconds=1)
        assert index.query(area, observed_before=later).tolist() == list(range(n))
