"""Index snapshots used as a backend service uses them: copied, pickled, weakly held, swapped.

The earlier probes checked the answers; these check the snapshots as objects: a copy sent to a
worker process (pickle) or made with :func:`copy.deepcopy` holds no more memory than the
original and stays immutable, a snapshot can be weakly referenced (per-snapshot caches,
``weakref.finalize`` to learn it was freed), a :class:`LiveAreaIndex` holder can be copied, and
an index built from unusual arrays (float32, big-endian, strided views, read-only) answers as
brute force does. Oracles: ``pyproj.Geod.inv`` per device and ``shapely.covers`` per device.
Memory is bounded with :mod:`tracemalloc`; nothing is timed.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import pickle
import tracemalloc
import weakref

import numpy as np
import numpy.typing as npt
import pyproj
import pytest

from geotarget import (
    AreaIndex,
    Circle,
    LiveAreaIndex,
    Location,
    LocationRule,
    PositionIndex,
    Positions,
)

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
GEOD = pyproj.Geod(ellps="WGS84")
Floats = npt.NDArray[np.float64]


def _cloud(n: int, seed: int = 1) -> tuple[Floats, Floats]:
    rng = np.random.default_rng(seed)
    return rng.uniform(17.9, 18.2, n), rng.uniform(59.2, 59.4, n)


def _in_circle(circle: Circle, lon: Floats, lat: Floats) -> npt.NDArray[np.int32]:
    """Rows within the circle's radius by ``Geod.inv`` (boundary inside)."""
    _, _, dist = GEOD.inv(np.full(lon.size, circle.lon), np.full(lon.size, circle.lat), lon, lat)
    return np.flatnonzero(np.asarray(dist) <= circle.radius_m).astype(np.int32)


# --- copies of a PositionIndex ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["pickle2", "pickle5", "deepcopy"])
def test_a_copied_position_index_holds_no_more_memory_than_the_original(how: str) -> None:
    """A copy's arrays take what :attr:`PositionIndex.nbytes` says, not 20 bytes a device more.

    (The slot columns are views of padded blocks; copied as plain attributes each became an
    array of its own, and a copy sent to a worker process held 57 % more than the original.)
    """
    n = 100_000
    lon, lat = _cloud(n)
    positions = Positions(np.arange(n), lon, lat, observed_at=NOW)
    index = PositionIndex(positions)

    def copy_of() -> PositionIndex:
        if how == "deepcopy":
            return copy.deepcopy(index)
        other: PositionIndex = pickle.loads(pickle.dumps(index, protocol=int(how[-1])))
        return other

    # The snapshot's own columns, measured the same way.
    gc.collect()
    tracemalloc.start()
    try:
        alone = (
            copy.deepcopy(positions)
            if how == "deepcopy"
            else pickle.loads(pickle.dumps(positions, protocol=2 if how == "pickle2" else 5))
        )
        positions_bytes = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del alone
    gc.collect()
    tracemalloc.start()
    try:
        other = copy_of()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held - positions_bytes <= index.nbytes * 1.05 + 64_000
    circle = Circle(18.05, 59.3, 3_000.0)
    assert other.query(circle).tolist() == _in_circle(circle, lon, lat).tolist()
    assert other.count(circle) == index.count(circle)


def test_a_copied_position_index_stays_immutable() -> None:
    """No array of an unpickled or deep-copied index can be written (they came back writeable)."""
    lon, lat = _cloud(2_000)
    fix = np.ones(lon.size, dtype=bool)
    fix[::7] = False
    positions = Positions(
        np.arange(lon.size), np.where(fix, lon, np.nan), np.where(fix, lat, np.nan), observed_at=NOW
    )
    index = PositionIndex(positions)
    for other in (pickle.loads(pickle.dumps(index, protocol=2)), copy.deepcopy(index)):
        arrays = [
            value
            for holder in (other, other._leaves)
            for name in type(holder).__slots__
            if name != "__weakref__"
            for value in [getattr(holder, name, None)]
            if isinstance(value, np.ndarray)
        ]
        assert len(arrays) >= 10
        assert not any(a.flags.writeable for a in arrays)


# --- weak references and holders ---------------------------------------------------------------


def test_snapshots_can_be_weakly_referenced_and_are_freed_when_dropped() -> None:
    """Snapshots take ``weakref.finalize`` and weak-keyed caches (TypeError before).

    Dropping the last reference frees them, old AreaIndex snapshots included once a newer one
    replaced them in a LiveAreaIndex.
    """
    lon, lat = _cloud(5_000)
    index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=NOW))
    freed: list[str] = []
    weakref.finalize(index, freed.append, "positions")
    cache: weakref.WeakKeyDictionary[PositionIndex, int] = weakref.WeakKeyDictionary()
    cache[index] = index.count(Circle(18.05, 59.3, 2_000.0))
    live = LiveAreaIndex(AreaIndex({"a": Circle(18.05, 59.3, 1_000.0)}))
    first = live.snapshot
    weakref.finalize(first, freed.append, "areas")
    live.add("b", Circle(18.1, 59.3, 1_000.0))
    live.remove("a")
    del index, first
    gc.collect()
    assert sorted(freed) == ["areas", "positions"]
    assert len(cache) == 0
    assert live.match_one(18.1, 59.3) == ("b",)


def test_a_live_area_index_can_be_copied_and_pickled() -> None:
    """``copy.deepcopy`` and pickle of a LiveAreaIndex work (TypeError before: its lock).

    The copy is an independent holder of the same snapshot, with a lock of its own.
    """
    live = LiveAreaIndex(AreaIndex({"fire": Circle(18.07, 59.33, 1_000.0)}))
    for other in (copy.deepcopy(live), pickle.loads(pickle.dumps(live)), copy.copy(live)):
        assert isinstance(other, LiveAreaIndex)
        assert other.match_one(18.07, 59.33) == ("fire",)
        other.add("flood", Circle(18.08, 59.33, 1_000.0))
        assert other.match_one(18.075, 59.33) == ("fire", "flood")
        assert live.match_one(18.075, 59.33) == ("fire",)


# --- indexes built from unusual arrays agree with brute force and with each other -----------


def _layouts(lon: Floats, lat: Floats) -> dict[str, tuple[npt.NDArray[np.floating], ...]]:
    both = np.empty((lon.size, 3))
    both[:, 0], both[:, 2] = lon, lat
    frozen_x, frozen_y = lon.copy(), lat.copy()
    frozen_x.flags.writeable = frozen_y.flags.writeable = False
    return {
        "big-endian": (lon.astype(">f8"), lat.astype(">f8")),
        "strided view": (both[:, 0], both[:, 2]),
        "reversed view": (lon[::-1].copy()[::-1], lat[::-1].copy()[::-1]),
        "read-only": (frozen_x, frozen_y),
        "float32": (lon.astype(np.float32), lat.astype(np.float32)),
        "float32 big-endian": (lon.astype(">f4"), lat.astype(">f4")),
    }


@pytest.mark.parametrize("layout", list(_layouts(np.zeros(1), np.zeros(1))))
def test_unusual_arrays_give_the_brute_force_answer(layout: str) -> None:
    """query, count, classify (no accuracy) and AreaIndex.match agree with ``Geod.inv``."""
    lon, lat = _cloud(3_000, seed=4)
    x, y = _layouts(lon, lat)[layout]
    as_float = (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    circle = Circle(18.05, 59.3, 4_000.0)
    truth = _in_circle(circle, *as_float).tolist()
    index = PositionIndex(Positions(np.arange(lon.size), x, y, observed_at=NOW))
    assert index.query(circle).tolist() == truth
    assert index.count(circle) == len(truth)
    rows, states = index.classify(circle, LocationRule(), NOW)
    assert rows.tolist() == truth
    assert set(states.tolist()) <= {int(Location.INSIDE)}
    points, keys = AreaIndex({"c": circle}).match(x, y)
    assert points.tolist() == truth
    assert set(keys.tolist()) <= {"c"}
