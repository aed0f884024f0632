"""AreaIndex probed as a service uses it: hundreds of alert areas of very different sizes.

Street-sized circles next to county- and country-sized polygons, squares sharing edges and
corners, polygons with holes and margins, one area under two ids, snapshots changed by
``with_areas``/``without``, and the memory of building the index. Oracles: ``pyproj.Geod.inv``
per (device, circle) for the devices within the circle's reach in latitude, ``shapely.covers``
per (device, polygon), and for polygons with a margin the per-area
:meth:`PositionIndex.query` answer.
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from test_areaindex_probe8 import GEOD, _part_oracle

from geotarget import Area, AreaIndex, Circle, Polygon, PositionIndex, Positions

Floats = npt.NDArray[np.float64]


def _oracle(
    areas: Mapping[str, Area | Circle | Polygon], lon: Floats, lat: Floats
) -> list[tuple[int, str]]:
    """(device, area) pairs: geodesic/shapely per part; ``PositionIndex.query`` with margins."""
    index: PositionIndex | None = None
    pairs: list[tuple[int, str]] = []
    for key in sorted(areas):
        area = areas[key]
        parts = area.parts if isinstance(area, Area) else (area,)
        if any(isinstance(p, Polygon) and p.margin_m > 0.0 for p in parts):
            if index is None:
                now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
                index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=now))
            rows: npt.NDArray[np.intp] = np.sort(np.asarray(index.query(area), dtype=np.intp))
        else:
            inside = np.zeros(lon.size, dtype=np.bool_)
            for part in parts:
                inside |= _within(part, lon, lat)
            rows = np.flatnonzero(inside).astype(np.intp)
        pairs.extend((int(r), key) for r in rows)
    return sorted(pairs)


def _within(part: Circle | Polygon, lon: Floats, lat: Floats) -> npt.NDArray[np.bool_]:
    """The part oracle's answer, asked of a circle only for devices it could reach.

    A geodesic is at least as long as the meridian arc between its ends' parallels, and a
    degree of latitude is at least 110,574 m of it: a device farther in latitude from the
    centre than the reach over 110,000 m a degree is outside (``Geod.inv`` for 500 circles
    times every device took seconds).
    """
    if not isinstance(part, Circle):
        return _part_oracle(part, lon, lat)
    near = np.flatnonzero(np.abs(lat - part.lat) <= (part.radius_m + part.margin_m) / 110_000.0)
    out = np.zeros(lon.size, dtype=np.bool_)
    out[near] = _part_oracle(part, lon[near], lat[near])
    return out


def _pairs(index: AreaIndex, lon: Floats, lat: Floats) -> list[tuple[int, str]]:
    rows, keys = index.match(lon, lat)
    return list(zip(rows.tolist(), keys.tolist(), strict=True))


def _retained(areas: Mapping[str, Area | Circle | Polygon]) -> tuple[int, AreaIndex]:
    """Bytes still allocated after building an index of ``areas`` (held by the index)."""
    tracemalloc.start()
    try:
        index = AreaIndex(areas)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current, index


def _street_circles(n: int, seed: int) -> dict[str, Area | Circle | Polygon]:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(11.5, 23.5, n)
    lat = rng.uniform(55.5, 68.5, n)
    return {f"street{i:04d}": Circle(float(lon[i]), float(lat[i]), 200.0) for i in range(n)}


def _rim_points(areas: Mapping[str, Area | Circle | Polygon], seed: int) -> tuple[Floats, Floats]:
    """Vertices and edge midpoints of every ring (holes too), and points on circle rims."""
    rng = np.random.default_rng(seed)
    chunks: list[Floats] = []
    for area in areas.values():
        for part in area.parts if isinstance(area, Area) else (area,):
            if isinstance(part, Polygon):
                for ring in (part.exterior, *part.holes):
                    r = np.asarray(ring, dtype=np.float64)
                    chunks += [r, (r + np.roll(r, 1, axis=0)) / 2.0]
            else:
                az = rng.uniform(-180.0, 180.0, 4)
                reach = np.full(4, part.radius_m + part.margin_m)
                lo, la, _ = GEOD.fwd(np.full(4, part.lon), np.full(4, part.lat), az, reach)
                chunks.append(np.column_stack([lo, la]))
    pts = np.concatenate(chunks)
    return pts[:, 0].copy(), pts[:, 1].copy()


def test_country_sized_areas_among_street_circles_keep_the_index_small() -> None:
    # A national alert and two county alerts while a thousand local ones are active: each big
    # area filled every cell of the coarse grid sized for the small ones (a million entries
    # and their single-point tuples each, ~65 MB an area, ~90 s for ten).
    small = _street_circles(500, seed=3)
    big: dict[str, Area | Circle | Polygon] = {
        f"county{j}": Polygon([(11.0 + 0.5 * j, 55.0), (24.0, 55.0), (24.0, 69.0), (11.0, 69.0)])
        for j in range(3)
    }
    alone, _ = _retained(small)
    both, index = _retained({**small, **big})
    assert both <= 1.5 * alone + 8_000_000, (alone, both)
    rng = np.random.default_rng(4)
    lon = np.concatenate([rng.uniform(10.5, 24.5, 3000), _rim_points({**small, **big}, 5)[0]])
    lat = np.concatenate([rng.uniform(54.5, 69.5, 3000), _rim_points({**small, **big}, 5)[1]])
    assert _pairs(index, lon, lat) == _oracle({**small, **big}, lon, lat)


def _mixed_areas() -> dict[str, Area | Circle | Polygon]:
    """A service's afternoon: shared-edge squares, holes, margins, twins, one national area."""
    rng = np.random.default_rng(7)
    areas: dict[str, Area | Circle | Polygon] = {}
    for i in range(6):  # squares sharing edges and corners, like neighbouring districts
        for j in range(6):
            x, y = 17.5 + i * 0.05, 59.0 + j * 0.03
            areas[f"sq{i}{j}"] = Polygon(
                [(x, y), (x + 0.05, y), (x + 0.05, y + 0.03), (x, y + 0.03)]
            )
    for k in range(20):  # a polygon with a hole each (the devices in the hole are outside)
        cx, cy = float(rng.uniform(12.0, 20.0)), float(rng.uniform(56.0, 64.0))
        areas[f"holed{k:02d}"] = Polygon(
            [
                (cx - 0.1, cy - 0.05),
                (cx + 0.1, cy - 0.05),
                (cx + 0.1, cy + 0.05),
                (cx - 0.1, cy + 0.05),
            ],
            [
                [
                    (cx - 0.03, cy - 0.02),
                    (cx + 0.03, cy - 0.02),
                    (cx + 0.03, cy + 0.02),
                    (cx - 0.03, cy + 0.02),
                ]
            ],
        )
    for k in range(60):
        lon, lat = float(rng.uniform(12.0, 20.0)), float(rng.uniform(56.0, 64.0))
        areas[f"circle{k:02d}"] = Circle(lon, lat, float(rng.uniform(10.0, 20_000.0)))
    for k in range(8):
        cx, cy = float(rng.uniform(12.0, 20.0)), float(rng.uniform(56.0, 64.0))
        tri = [(cx, cy), (cx + 0.05, cy), (cx, cy + 0.05)]
        areas[f"margin{k}"] = Polygon(tri, margin_m=float(rng.uniform(1.0, 3000.0)))
    areas["twin_a"] = areas["circle03"]  # the same area under two alert ids
    areas["twin_b"] = Circle(17.6, 59.05, 4000.0)
    areas["twin_c"] = Circle(17.6, 59.05, 4000.0)
    areas["multi"] = Area([areas["circle01"], areas["holed01"], areas["sq00"]])
    areas["national"] = Polygon([(11.0, 55.0), (24.0, 55.0), (24.0, 69.0), (11.0, 69.0)])
    return areas


def test_many_kinds_of_areas_and_their_snapshots_match_the_oracle() -> None:
    areas = _mixed_areas()
    rng = np.random.default_rng(8)
    rim_lon, rim_lat = _rim_points(areas, 9)
    lon = np.concatenate([rng.uniform(10.5, 24.5, 4000), rng.uniform(17.4, 17.9, 4000), rim_lon])
    lat = np.concatenate([rng.uniform(54.5, 69.5, 4000), rng.uniform(58.95, 59.25, 4000), rim_lat])
    index = AreaIndex(areas)
    expected = _oracle(areas, lon, lat)
    assert _pairs(index, lon, lat) == expected
    by_row: dict[int, list[str]] = {}
    for row, key in expected:
        by_row.setdefault(row, []).append(key)
    for row in range(0, lon.size, 7):
        assert index.match_one(float(lon[row]), float(lat[row])) == tuple(by_row.get(row, []))
    # An operator cancels the circles and the national alert, replaces one holed area by a
    # circle and adds a new one: the snapshot answers as a fresh index of those areas does.
    gone = [k for k in areas if k.startswith("circle") or k == "national"]
    change: dict[str, Area | Circle | Polygon] = {
        "holed00": Circle(15.0, 60.0, 9000.0),
        "new": Circle(17.65, 59.1, 2500.0),
    }
    later = index.without(*gone).with_areas(change)
    rest = {k: v for k, v in areas.items() if k not in gone} | change
    assert _pairs(later, lon, lat) == _oracle(rest, lon, lat)
    assert _pairs(index, lon, lat) == expected  # the old snapshot is untouched


def _candidate_pairs(
    index: AreaIndex, lon: Floats, lat: Floats, monkeypatch: pytest.MonkeyPatch
) -> int:
    """How many (device, area part) candidate pairs the coarse grid hands on: the work done.

    Counted, not timed (no wall clock in unit tests): every candidate pair is looked up in a
    fine raster, and those in its band tested exactly.
    """
    from geotarget._index.buckets import Buckets

    seen = [0]
    codes = Buckets._codes

    def counting(self: Buckets, x: Any, y: Any, pts: Any, lo: Any, cnt: Any) -> Any:
        seen[0] += int(cnt.sum())
        return codes(self, x, y, pts, lo, cnt)

    monkeypatch.setattr(Buckets, "_codes", counting)
    try:
        index.match(lon, lat)
    finally:
        monkeypatch.setattr(Buckets, "_codes", codes)
    return seen[0]


def test_an_area_on_another_continent_does_not_slow_the_city_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1,500 local alerts in Stockholm and one for a ship off New Zealand: the coarse grid,
    # stretched over both at 1024 cells a side, put the whole city in a few cells, so every
    # device there had all 1,500 circles as candidates (matching took ~20 times as long).
    rng = np.random.default_rng(12)
    city: dict[str, Area | Circle | Polygon] = {
        f"local{i:04d}": Circle(
            float(rng.uniform(17.8, 18.3)), float(rng.uniform(59.2, 59.45)), 300.0
        )
        for i in range(1500)
    }
    far = {**city, "ship": Circle(170.0, -40.0, 1000.0)}
    lon = rng.uniform(17.8, 18.3, 60_000)
    lat = rng.uniform(59.2, 59.45, 60_000)
    near_index, far_index = AreaIndex(city), AreaIndex(far)
    assert _pairs(far_index, lon, lat) == _pairs(near_index, lon, lat)
    assert _pairs(far_index, lon[:300], lat[:300]) == _oracle(far, lon[:300], lat[:300])
    assert _pairs(far_index, np.array([170.0]), np.array([-40.0])) == [(0, "ship")]
    near = _candidate_pairs(near_index, lon, lat, monkeypatch)
    far_pairs = _candidate_pairs(far_index, lon, lat, monkeypatch)
    assert far_pairs <= 2 * near + 1_000, (near, far_pairs)


def test_building_many_small_circles_peaks_near_what_the_index_keeps() -> None:
    # Every part's summed-area table (8 bytes a cell, only needed while the coarse grid is
    # built) stayed alive until all parts were done: 5,000 circles peaked at 270 MB to keep 80.
    areas = _street_circles(1500, seed=21)
    tracemalloc.start()
    try:
        index = AreaIndex(areas)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 1.5 * kept + 8_000_000, (kept, peak)
    assert len(index) == 1500
