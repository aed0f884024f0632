"""Threads sharing geotarget's objects get the answers one thread gets.

GEOS's prepared geometries are not thread-safe (libgeos/geos#825), and shapely releases the GIL
around their queries; geotarget runs every predicate on a shared geometry under one lock
(:mod:`geotarget._geos`). These tests make many threads take the *first* queries of fresh
objects at once and compare with a single thread's answers: a regression shows as a wrong
answer, an exception, or a crashed interpreter (the test process dies with a heap error --
``test_point_queries_on_one_fresh_polygon_from_many_threads`` did, every run, without the lock).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
import shapely.geometry as sg

from geotarget import Circle, Polygon, PositionIndex, Positions, Targeter, pilot
from geotarget.alerts import Message
from geotarget.ledger import MemoryLedger
from geotarget.regions import Region, RegionHierarchy, RegionSet
from geotarget.rollout import nationwide

THREADS = 8
AT = dt.datetime(2025, 5, 1, 12, tzinfo=dt.timezone.utc)


def _together(work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(k)`` in THREADS threads released at once; their answers (or exceptions)."""
    barrier = threading.Barrier(THREADS)
    out: list[Any] = [None] * THREADS

    def run(k: int) -> None:
        barrier.wait()
        try:
            out[k] = work(k)
        except Exception as err:  # reported below, with the thread's number
            out[k] = err

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [(k, o) for k, o in enumerate(out) if isinstance(o, Exception)]
    assert not failed, failed
    return out


def _ragged(cx: float, cy: float, r: float, n: int, seed: int) -> list[tuple[float, float]]:
    """A star-shaped ring of ``n`` vertices: many edges, so the point locator has work."""
    rng = np.random.default_rng(seed)
    a = np.sort(rng.uniform(0.0, 2 * np.pi, n))
    rad = r * rng.uniform(0.5, 1.0, n)
    return list(
        zip((cx + rad * np.cos(a)).tolist(), (cy + rad * np.sin(a) / 2).tolist(), strict=True)
    )


def _regions(seed: int) -> RegionSet:
    """A fresh set of 12 ragged regions side by side (nothing queried yet)."""
    regions = []
    for i in range(12):
        ring = _ragged(15.0 + i * 0.5, 60.0, 0.24, 2_000, seed + i)
        regions.append(Region(code=f"R{i:02d}", name=f"R{i}", level="l", geometry=sg.Polygon(ring)))
    return RegionSet(regions)


def test_first_locates_of_a_fresh_region_set_from_many_threads() -> None:
    """Eight threads locate at once in a region set nobody has queried: one thread's answers."""
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(14.7, 21.0, 20_000), rng.uniform(59.85, 60.15, 20_000)
    want = _regions(7).locate(lon, lat)
    fresh = _regions(7)
    for got in _together(lambda k: fresh.locate(lon, lat)):
        assert got.tolist() == want.tolist()


def test_point_queries_on_one_fresh_region_from_many_threads() -> None:
    """A fresh region (20,000 vertices) whose first point queries come from eight threads at once.

    Without the lock this aborted the interpreter in most runs (``tcache_thread_shutdown():
    unaligned tcache chunk detected``).
    """
    rng = np.random.default_rng(2)
    lon, lat = rng.uniform(17.7, 18.3, 2_000), rng.uniform(59.2, 59.4, 2_000)
    for trial in range(5):
        ring = _ragged(18.0, 59.3, 0.2, 20_000, trial)
        oracle = sg.Polygon(ring)
        shapely.prepare(oracle)  # a private copy, one thread
        want = shapely.intersects_xy(oracle, lon, lat).tolist()
        region = Region(code="R", name="R", level="l", geometry=sg.Polygon(ring))

        def query(k: int, region: Region = region) -> Any:
            return region.contains(lon, lat)

        for got in _together(query):
            assert got.tolist() == want


def test_one_targeter_shared_by_threads_answers_as_one_thread() -> None:
    """Fresh Targeters: one serves eight threads at once (polygon, circle and repeated areas)."""
    country = sg.Polygon(_ragged(17.0, 60.0, 3.0, 3_000, 11))
    hierarchy = RegionHierarchy(
        [RegionSet([Region(code="SE", name="Land", level="country", geometry=country)])], {}
    )
    rng = np.random.default_rng(5)
    n = 30_000
    positions = Positions(
        np.arange(n),
        rng.uniform(14.0, 20.0, n),
        rng.uniform(59.0, 61.0, n),
        accuracy_m=rng.uniform(3.0, 80.0, n),
        observed_at=np.full(n, np.datetime64("2025-05-01T11:59"), dtype="datetime64[us]"),
    )
    index = PositionIndex(positions)
    msg = Message(headline="x", description="x", area_description="x")
    shared_ring = _ragged(17.0, 60.0, 0.3, 800, 13)

    def alert(k: int) -> Any:
        make = pilot.explosion if k % 2 else pilot.tip_request
        area = (
            Polygon(shared_ring)  # equal areas: one cached plan serves several threads
            if k % 4 == 0
            else Polygon(_ragged(16.0 + k * 0.3, 60.0, 0.2, 400, k))
            if k % 4 == 1
            else Circle(16.0 + k * 0.3, 60.2, 5_000.0 + k)
        )
        return make(
            identifier=f"T{k}",
            sender="police@example.se",
            sent=AT,
            area=area,
            sv=msg,
            en=msg,
            onset=AT,
            expires=AT + dt.timedelta(hours=2),
        )

    def answer(targeter: Targeter, k: int) -> tuple[str, list[str]]:
        result = targeter.target(alert(k), index, AT)
        return result.verdict.value, sorted(map(str, result.recipients.tolist()))

    one = Targeter(hierarchy, nationwide("SE"), ledger=MemoryLedger())
    want = [answer(one, k) for k in range(THREADS)]
    assert any(recipients for _, recipients in want)
    shared = Targeter(hierarchy, nationwide("SE"), ledger=MemoryLedger())
    assert _together(lambda k: answer(shared, k)) == want


def test_first_queries_of_a_fresh_crowded_polygon_from_many_threads() -> None:
    """A star of long, thin spikes whose crossing grid eight threads ask for first, at once.

    The grid is built lazily by the first query that needs it (threads may race to build it,
    each the same), and its centres' undecided states and the points it leaves go to GEOS
    under the lock: every thread gets the single-threaded answer.
    """
    rng = np.random.default_rng(3)
    k = np.cos(np.radians(59.3))
    a = np.arange(600) * (2 * np.pi / 600)
    tips = np.c_[18.0 + 0.2 * np.cos(a + np.pi / 600) / k, 59.3 + 0.2 * np.sin(a + np.pi / 600)]
    waist = np.c_[18.0 + 1e-4 * np.cos(a) / k, 59.3 + 1e-4 * np.sin(a)]
    ring = np.empty((1200, 2))
    ring[0::2], ring[1::2] = waist, tips
    r = 0.2 * np.sqrt(rng.uniform(0.0, 1.0, 30_000))
    t = rng.uniform(0.0, 2 * np.pi, 30_000)
    lon, lat = 18.0 + r * np.cos(t) / k, 59.3 + r * np.sin(t)
    want = shapely.intersects_xy(sg.Polygon(ring), lon, lat).tolist()
    for _ in range(3):
        part = Polygon(ring.tolist())

        def query(j: int, part: Polygon = part) -> Any:
            return part.contains(lon, lat)

        for got in _together(query):
            assert got.tolist() == want
