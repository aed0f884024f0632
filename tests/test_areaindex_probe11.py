"""AreaIndex probed as a service uses it: hundreds of alert areas of very different sizes.

Street-sized circles next to county- and country-sized polygons, squares sharing edges and
corners, polygons with holes and margins, one area under two ids, snapshots changed by
``with_areas``/``without``, and the memory of building the index. Oracles: ``pyproj.Geod.inv``
per (device, circle), ``shapely.covers`` per (device, polygon), and for polygons with a margin
the per-area :meth:`PositionIndex.query` answer.
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from geotarget import Area, AreaIndex, Circle, Polygon, PositionIndex, Positions

GEOD = pyproj.Geod(ellps="WGS84")
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def _part_oracle(part: Circle | Polygon, lon: Floats, lat: Floats) -> Bools:
    if isinstance(part, Circle):
        _, _, d = GEOD.inv(np.full(lon.size, part.lon), np.full(lon.size, part.lat), lon, lat)
        return np.asarray(d) <= part.radius_m + part.margin_m
    assert part.margin_m == 0.0
    shape = shapely.Polygon(part.exterior, part.holes)
    return np.asarray(shapely.covers(shape, shapely.points(lon, lat)))


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
                inside |= _part_oracle(part, lon, lat)
            rows = np.flatnonzero(inside).astype(np.intp)
        pairs.extend((int(r), key) for r in rows)
    return sorted(pairs)


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
    small = _street_circles(1000, seed=3)
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
