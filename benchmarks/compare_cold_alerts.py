"""Time ``target()`` of new alerts against whichever geotarget is importable.

For before/after comparisons of the whole pipeline across commits: the benchmark code is this
tree's (``bench_targeting``'s positions, places and 16-gon), the library is the first
``geotarget`` on ``PYTHONPATH``. Run it alternately for the two checkouts, several times each
(a host's speed drifts by tens of percent within minutes)::

    PYTHONPATH=/path/to/old/checkout python benchmarks/compare_cold_alerts.py
    PYTHONPATH=. python benchmarks/compare_cold_alerts.py

Each call targets a new alert with a new area (memory ledger, 1.2 M devices): 25 tip requests
over Stockholm municipality, 40 Explosions as 1 km circles and 40 as 1 km 16-gons, at four
towns. Prints each kind's best, lower quartile, median, mean and slowest in milliseconds.

``--ids`` chooses the devices' ids: ``random`` (distinct random int64s in no order, as
``bench_targeting``'s snapshot has), ``rows`` (0, 1, 2, ... in row order, as it had before) or
``text`` (16 hex digits after ``dev-``, in no order), the snapshot otherwise the same.
``--ledger sqlite`` claims in a new :class:`~geotarget.ledger.SQLiteLedger` (synchronous
``AUTO``, in a temporary directory) instead of a :class:`~geotarget.ledger.MemoryLedger`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import shapely
from _population import ring_16
from bench_targeting import AT, PLACES, _positions

import geotarget
from geotarget import Area, Circle, Polygon, PositionIndex, Positions, alerts, pilot, sweden
from geotarget.ledger import MemoryLedger, SQLiteLedger
from geotarget.targeting import Targeter


def with_ids(positions: Positions, ids: str) -> Positions:
    """The snapshot with the devices' ids ``ids`` (see the module docstring)."""
    if ids == "random":
        return positions
    if ids == "rows":
        new: np.ndarray = np.arange(len(positions), dtype=np.int64)
    else:  # the snapshot's own random ids, as text
        new = np.array([f"dev-{v:016x}" for v in positions.ids.tolist()])
    p = positions
    return Positions(new, p.lon, p.lat, accuracy_m=p.accuracy_m, observed_at=p.observed_at)


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", choices=("random", "rows", "text"), default="random")
    parser.add_argument("--ledger", choices=("memory", "sqlite"), default="memory")
    args = parser.parse_args()
    ids = args.ids
    index = PositionIndex(with_ids(_positions(1_200_000), ids))
    with tempfile.TemporaryDirectory(prefix="geotarget-") as tmp:
        ledger = MemoryLedger() if args.ledger == "memory" else SQLiteLedger(f"{tmp}/deliveries.db")
        targeter = Targeter(sweden.hierarchy(), sweden.pilot_policy(), ledger=ledger)
        try:
            _compare(index, targeter, f"(ids: {ids}, ledger: {args.ledger})")
        finally:
            ledger.close()


def _compare(index: PositionIndex, targeter: Targeter, label: str) -> None:
    """Time each kind of new alert with ``targeter``; print the figures under ``label``."""
    msg = pilot.Message(headline="x", description="x", area_description="x")
    muni = sweden.municipalities()["0180"].geometry
    rings = [shapely.get_coordinates(p.exterior) for p in shapely.get_parts(muni)]
    towns = [PLACES[0], PLACES[1], PLACES[2], PLACES[-1]]
    counter = iter(range(10**9))
    expires = AT + dt.timedelta(hours=2)

    def tip() -> alerts.Alert:
        i = next(counter)
        area = Area([Polygon(r + np.array([(i % 997) * 1e-9, 0.0])) for r in rings])
        return pilot.tip_request(
            identifier=f"tip-{i}", sender="b@example.se", sent=AT, area=area,
            sv=msg, en=msg, onset=AT, expires=expires,
        )  # fmt: skip

    def explosion(draw: Callable[[float, float, float], Circle | Polygon]) -> alerts.Alert:
        """A new 1 km Explosion at the next town, its area drawn by ``draw(lon, lat, r)``."""
        i = next(counter)
        _, lon, lat = towns[i % len(towns)]
        area = draw(lon + (i % 997) * 1e-6, lat, 1000.0 + (i % 991) * 1e-3)
        return pilot.explosion(
            identifier=f"e-{i}", sender="b@example.se", sent=AT, area=area,
            sv=msg, en=msg, onset=AT, expires=expires,
        )  # fmt: skip

    def circle() -> alerts.Alert:
        return explosion(Circle)

    def polygon() -> alerts.Alert:
        return explosion(lambda lon, lat, r: Polygon(ring_16(lon, lat, r)))

    kinds: list[tuple[str, Callable[[], alerts.Alert], int]] = [
        ("tip request", tip, 25),
        ("1 km Explosion", circle, 40),
        ("1 km Explosion as a 16-gon", polygon, 40),
    ]
    for _, make, _ in kinds:  # warm-up: lazy indexes, transformers
        targeter.target(make(), index, AT)
    gc.disable()
    print(geotarget.__file__, label)
    for name, make, n in kinds:
        took = []
        for _ in range(n):
            alert = make()
            t0 = time.perf_counter()
            got = targeter.target(alert, index, AT)
            took.append(time.perf_counter() - t0)
            assert got.verdict.value == "DELIVER", got.reason
        took.sort()
        print(
            f"{name}: best {took[0] * 1e3:.2f} ms, lower quartile {took[n // 4] * 1e3:.2f} ms, "
            f"median {statistics.median(took) * 1e3:.2f} ms, "
            f"mean {statistics.mean(took) * 1e3:.2f} ms, slowest {took[-1] * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
