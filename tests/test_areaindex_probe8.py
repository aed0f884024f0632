"""AreaIndex and LiveAreaIndex probed with areas the other tests rarely use.

Hundreds of overlapping areas around Fiji (across the antimeridian), identical areas under two
ids, polygons touching a pole or ±180, multi-part areas mixing circles and polygons, devices on
vertices and rims, float32 batches, empty batches, areas added and removed while readers
match. Oracles: ``pyproj.Geod.inv`` per circle and ``shapely.covers`` on the lon/lat polygon
per polygon (edges straight in lon/lat, boundary inside; a point on the antimeridian in either
spelling, -180 or 180), per area per device.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import threading
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pyproj
import pytest
import shapely

from geotarget import Area, AreaIndex, Circle, LiveAreaIndex, Polygon, PositionIndex, Positions
from geotarget.errors import InvalidInput, InvalidType

GEOD = pyproj.Geod(ellps="WGS84")
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def _part_oracle(part: Circle | Polygon, lon: Floats, lat: Floats) -> Bools:
    if isinstance(part, Circle):
        _, _, d = GEOD.inv(np.full(lon.size, part.lon), np.full(lon.size, part.lat), lon, lat)
        return np.asarray(d) <= part.radius_m + part.margin_m
    assert part.margin_m == 0.0
    shape = shapely.Polygon(part.exterior, part.holes)
    held: Bools = np.asarray(shapely.covers(shape, shapely.points(lon, lat)), dtype=np.bool_)
    # Lon -180 and 180 are one meridian: a point on it is held in either spelling.
    seam: Bools = np.abs(lon) == 180.0
    twin: Bools = np.asarray(shapely.covers(shape, shapely.points(-lon, lat)), dtype=np.bool_)
    return held | (seam & twin)


def _oracle(
    areas: Mapping[str, Area | Circle | Polygon], lon: Floats, lat: Floats
) -> list[tuple[int, str]]:
    pairs: list[tuple[int, str]] = []
    for key in sorted(areas):
        area = areas[key]
        inside = np.zeros(lon.size, dtype=np.bool_)
        for part in area.parts if isinstance(area, Area) else (area,):
            inside |= _part_oracle(part, lon, lat)
        pairs.extend((int(r), key) for r in np.flatnonzero(inside))
    return sorted(pairs)


def _pairs(index: AreaIndex | LiveAreaIndex, lon: object, lat: object) -> list[tuple[int, str]]:
    rows, keys = index.match(lon, lat)
    return list(zip(rows.tolist(), keys.tolist(), strict=True))


FIJI_WEST = Polygon([(177.0, -19.0), (180.0, -19.0), (180.0, -16.0), (177.0, -16.0)])
FIJI_EAST = Polygon([(-180.0, -19.0), (-178.0, -19.0), (-178.0, -16.0), (-180.0, -16.0)])
CHUKOTKA = Polygon([(170.0, 64.0), (180.0, 64.0), (180.0, 72.0), (172.0, 70.0)])
NORTH_CAP = Polygon([(-180.0, 85.0), (0.0, 85.0), (180.0, 85.0), (180.0, 90.0), (-180.0, 90.0)])
SOUTH_CAP = Polygon(
    [(-180.0, -90.0), (180.0, -90.0), (180.0, -80.0), (0.0, -80.0), (-180.0, -80.0)]
)
TO_THE_POLE = Polygon([(0.0, 80.0), (10.0, 90.0), (-10.0, 90.0)])
WITH_HOLE = Polygon(
    [(175.0, 60.0), (180.0, 60.0), (180.0, 70.0), (175.0, 70.0)],
    holes=[[(176.0, 62.0), (179.0, 62.0), (179.0, 68.0), (176.0, 68.0)]],
)
POLYGONS = [FIJI_WEST, FIJI_EAST, CHUKOTKA, NORTH_CAP, SOUTH_CAP, TO_THE_POLE, WITH_HOLE]
EDGE_AREAS: dict[str, Area | Circle | Polygon] = {
    "fiji-w": FIJI_WEST,
    "fiji-e": FIJI_EAST,
    "fiji": Area([FIJI_WEST, FIJI_EAST]),
    "fiji-again": Area([FIJI_EAST, FIJI_WEST]),
    "chukotka": CHUKOTKA,
    "north-cap": NORTH_CAP,
    "south-cap": SOUTH_CAP,
    "to-the-pole": TO_THE_POLE,
    "with-hole": WITH_HOLE,
    "mixed": Area([FIJI_WEST, Circle(-179.5, -17.0, 50_000.0), CHUKOTKA]),
    "polar-circle": Circle(180.0, 89.99, 1_000_000.0),
    "south-circle": Circle(-180.0, -85.0, 1_000_000.0),
    "chukotka-circle": Circle(179.5, 66.0, 700_000.0),
}


def _edge_points() -> tuple[Floats, Floats]:
    """Vertices, points along every edge, rims, random points near each area; ±180 mirrored."""
    rng = np.random.default_rng(8)
    lon: list[float] = []
    lat: list[float] = []
    for p in POLYGONS:
        for ring in (p.exterior, *p.holes):
            r = np.array(ring, dtype=np.float64)
            nxt = np.roll(r, -1, axis=0)
            for t in (0.0, 0.5, 0.25, 1.0 / 3.0, 0.1):
                m = r + t * (nxt - r)
                lon += m[:, 0].tolist()
                lat += m[:, 1].tolist()
        west, south, east, north = p.bounds
        lon += rng.uniform(max(west - 1, -180), min(east + 1, 180), 400).tolist()
        lat += rng.uniform(max(south - 1, -90), min(north + 1, 90), 400).tolist()
    for c in (a for a in EDGE_AREAS.values() if isinstance(a, Circle)):
        n = 300
        x, y, _ = GEOD.fwd(
            np.full(n, c.lon),
            np.full(n, c.lat),
            rng.uniform(-180, 180, n),
            c.radius_m + rng.uniform(-50.0, 50.0, n),
        )
        lon += np.asarray(x).tolist()
        lat += np.asarray(y).tolist()
    x = np.array(lon)
    y = np.array(lat)
    on_180 = np.abs(x) == 180.0
    return np.r_[x, -x[on_180]], np.r_[y, y[on_180]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_areas_at_the_poles_and_the_antimeridian_match_the_oracle(dtype: type) -> None:
    """Every (device, area) pair is the oracle's, float32 batches read as their float64 values."""
    lon, lat = _edge_points()
    x: npt.NDArray[np.floating] = lon.astype(dtype)
    y: npt.NDArray[np.floating] = lat.astype(dtype)
    want = _oracle(EDGE_AREAS, x.astype(np.float64), y.astype(np.float64))
    index = AreaIndex(EDGE_AREAS)
    assert _pairs(index, x, y) == want
    by_row: dict[int, list[str]] = {}
    for r, k in want:
        by_row.setdefault(r, []).append(k)
    for i in range(0, x.size, 7):
        assert index.match_one(float(x[i]), float(y[i])) == tuple(by_row.get(i, [])), i


def test_position_index_query_of_edge_areas_matches_the_oracle() -> None:
    """PositionIndex.query over a float32 snapshot agrees with the oracle for each edge area."""
    lon, lat = _edge_points()
    positions = Positions(
        [f"d{i}" for i in range(lon.size)],
        lon.astype(np.float32),
        lat.astype(np.float32),
        observed_at=dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc),
    )
    index = PositionIndex(positions)
    x = np.asarray(positions.lon, dtype=np.float64)
    y = np.asarray(positions.lat, dtype=np.float64)
    for key, area in EDGE_AREAS.items():
        want = sorted({r for r, _ in _oracle({key: area}, x, y)})
        assert index.query(area).tolist() == want, key
        assert index.count(area) == len(want), key


def _fiji_areas() -> dict[str, Area | Circle | Polygon]:
    """300 overlapping areas around Fiji: circles, polygons to ±180, mixed, and duplicates."""
    rng = np.random.default_rng(62)
    areas: dict[str, Area | Circle | Polygon] = {}
    for i in range(300):
        cx = float((179.0 + rng.normal(0.0, 1.0) + 180.0) % 360.0 - 180.0)
        cy = float(-17.0 + rng.normal(0.0, 0.7))
        kind = i % 4
        if kind == 0:
            areas[f"c{i:03d}"] = Circle(cx, cy, float(rng.uniform(1_000, 120_000)))
        elif kind == 1:
            dx, dy = rng.uniform(0.05, 0.8, 2).tolist()
            x0, x1 = (
                (max(cx - dx, 170.0), min(cx + dx, 180.0))
                if cx > 0
                else (
                    max(cx - dx, -180.0),
                    cx + dx,
                )
            )
            ring = [(x0, cy - dy), (x1, cy - dy), (x1, cy + dy), ((x0 + x1) / 2, cy + 1.3 * dy)]
            areas[f"p{i:03d}"] = Polygon([*ring, (x0, cy + dy)])
        elif kind == 2:
            tri = Polygon([(178.0, cy), (179.5, cy), (179.0, cy + 0.5)])
            areas[f"m{i:03d}"] = Area([Circle(cx, cy, float(rng.uniform(1_000, 40_000))), tri])
        else:
            areas[f"d{i:03d}"] = areas[f"c{i - 3:03d}"]  # the same circle under a second id
    return areas


def _fiji_points(areas: Mapping[str, Area | Circle | Polygon]) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(63)
    lon = (179.0 + rng.normal(0.0, 1.2, 3000) + 180.0) % 360.0 - 180.0
    lat = -17.0 + rng.normal(0.0, 0.9, 3000)
    extra_lon: list[float] = []
    extra_lat: list[float] = []
    for area in list(areas.values())[:60]:
        for p in area.parts if isinstance(area, Area) else (area,):
            if isinstance(p, Circle):
                x, y, _ = GEOD.fwd(
                    np.full(8, p.lon),
                    np.full(8, p.lat),
                    rng.uniform(-180, 180, 8),
                    np.full(8, p.radius_m),
                )
                extra_lon += np.asarray(x).tolist()
                extra_lat += np.asarray(y).tolist()
            else:
                extra_lon += [v[0] for v in p.exterior]
                extra_lat += [v[1] for v in p.exterior]
    return np.r_[lon, extra_lon], np.r_[lat, extra_lat]


def test_hundreds_of_overlapping_areas_across_the_antimeridian() -> None:
    """300 overlapping areas, a quarter of them another id's very circle: the oracle's pairs."""
    areas = _fiji_areas()
    lon, lat = _fiji_points(areas)
    got = _pairs(AreaIndex(areas), lon, lat)
    assert got == _oracle(areas, lon, lat)
    assert len(got) > 10_000
    by_key: dict[str, list[int]] = {}
    for r, k in got:
        by_key.setdefault(k, []).append(r)
    twins = [k for k in areas if k.startswith("d")]
    assert all(by_key.get(k) == by_key.get(f"c{int(k[1:]) - 3:03d}") for k in twins)
    assert sum(len(by_key.get(k, [])) for k in twins) > 1000


def test_live_index_readers_see_whole_snapshots_while_areas_come_and_go() -> None:
    """Every reader's answer equals the oracle's for the very snapshot it read."""
    areas = _fiji_areas()
    lon, lat = _fiji_points(areas)
    lon, lat = lon[:600], lat[:600]
    keys = list(areas)
    live = LiveAreaIndex(AreaIndex({k: areas[k] for k in keys[:40]}))
    stop = threading.Event()
    failures: list[int] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            snapshot = live.snapshot
            if _pairs(snapshot, lon, lat) != _oracle(dict(snapshot.areas), lon, lat):
                failures.append(len(snapshot))
            reads[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    rng = np.random.default_rng(64)
    try:
        for _ in range(40):
            key = keys[int(rng.integers(len(keys)))]
            if key in live.snapshot and rng.random() < 0.5:
                live.remove(key)
            else:  # added, or replaced by another id's area
                live.add(key, areas[keys[int(rng.integers(len(keys)))]])
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert reads[0] > 0
    final = dict(live.snapshot.areas)
    assert _pairs(live, lon, lat) == _oracle(final, lon, lat)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_batches_match_nothing(dtype: type) -> None:
    """An empty batch of either float width is two empty arrays, whatever the areas."""
    rows, keys = AreaIndex(EDGE_AREAS).match(np.zeros(0, dtype), np.zeros(0, dtype))
    assert rows.size == 0
    assert keys.size == 0


# --- fixes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["alert\x00", "a\x00b", "\x00"])
def test_a_key_with_a_nul_character_is_refused(key: str) -> None:
    """A key holding NUL is InvalidInput naming it, in every way a key comes in.

    match returns the keys as a numpy str array, which drops trailing NULs: AreaIndex with
    "alert" plus a NUL matched a device to "alert" (another alert's id, or none at all), while
    match_one gave the key with its NUL; "alert" and "alert" plus NUL were one key in match.
    """
    circle = Circle(18.0, 59.0, 1000.0)
    with pytest.raises(InvalidInput, match=r"without NUL characters \(got '.*\\x00"):
        AreaIndex({key: circle})
    with pytest.raises(InvalidInput, match="without NUL characters"):
        AreaIndex({"a": circle}).with_area(key, circle)
    with pytest.raises(InvalidInput, match="without NUL characters"):
        AreaIndex().with_areas({key: circle})
    live = LiveAreaIndex()
    with pytest.raises(InvalidInput, match="without NUL characters"):
        live.add(key, circle)
    assert len(live.snapshot) == 0


def test_keys_come_back_as_given() -> None:
    """Both match and match_one return each key exactly as it was given (trailing spaces too)."""
    circle = Circle(18.0, 59.0, 1000.0)
    keys = ["a", "a ", " a", "å", "a\t"]
    index = AreaIndex(dict.fromkeys(keys, circle))
    _, got = index.match([18.0], [59.0])
    assert got.tolist() == sorted(keys)
    assert index.match_one(18.0, 59.0) == tuple(sorted(keys))


@pytest.mark.parametrize(
    ("initial", "hint"),
    [
        ({"fire": Circle(18.0, 59.0, 1000.0)}, "; wrap a mapping of areas in AreaIndex(...)"),
        ([("fire", Circle(18.0, 59.0, 1000.0))], ""),
        (Circle(18.0, 59.0, 1000.0), ""),
    ],
)
def test_live_index_refuses_an_initial_that_is_no_snapshot(initial: object, hint: str) -> None:
    """LiveAreaIndex(initial) takes an AreaIndex or None, else InvalidType naming the type.

    A mapping of areas was kept as the snapshot: every later match (in the readers' threads)
    raised AttributeError, and add said "'dict' object has no attribute 'with_area'".
    """
    name = type(initial).__name__
    with pytest.raises(InvalidType, match=rf"^initial must be an AreaIndex or None \(got {name}\)"):
        LiveAreaIndex(initial)  # type: ignore[arg-type]
    with pytest.raises(InvalidType) as caught:
        LiveAreaIndex(initial)  # type: ignore[arg-type]
    assert str(caught.value).endswith(f"(got {name}){hint}")


def test_an_area_index_pickles_and_copies_with_its_answers() -> None:
    """An AreaIndex crosses to a worker process (pickle) and copies, answering as before.

    Its read-only view of the areas is a mappingproxy, which pickle refuses: sending the index
    to a process pool, or copy.deepcopy, raised "TypeError: cannot pickle 'mappingproxy'".
    """
    lon, lat = _edge_points()
    index = AreaIndex(EDGE_AREAS)
    want = _pairs(index, lon, lat)
    assert want == _oracle(EDGE_AREAS, lon, lat)
    for other in (
        pickle.loads(pickle.dumps(index)),
        copy.deepcopy(index),
        copy.copy(index),
        pickle.loads(pickle.dumps(LiveAreaIndex(index).snapshot)),
    ):
        assert isinstance(other, AreaIndex)
        assert dict(other.areas) == dict(index.areas)
        assert list(other) == list(index)
        assert _pairs(other, lon, lat) == want
        assert other.match_one(float(lon[0]), float(lat[0])) == index.match_one(
            float(lon[0]), float(lat[0])
        )
    assert pickle.loads(pickle.dumps(AreaIndex())).match_one(18.0, 59.0) == ()
