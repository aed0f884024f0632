"""The first classification of municipality polygons drawn with a margin, and its water step.

``PositionIndex.classify`` decides a disk that a polygon's margin holds only over water
narrower than twice the margin (a boat in a fjord) on the metric polygon grown by the margin
near it (``geotarget/_index/classify.py``, ``_held_in_margin``). Over ``bench_targeting``'s
snapshot (1.2 M devices, accuracies of a few metres to 2 km), for fresh polygons of a few
municipalities with margins of 50 m and 500 m, this prints the best of ``rounds`` first
classifications (a fresh polygon object each), the part of it that step took, and the disks
it found held::

    python benchmarks/compare_margins.py [rounds]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

import numpy as np
import shapely
from bench_targeting import AT, _positions

from geotarget import Location, LocationRule, Polygon, PositionIndex, sweden
from geotarget._index import classify

#: Stockholm, Göteborg (both on water), Kiruna (large), Upplands Väsby (small).
CODES = ("0180", "1480", "2584", "0114")
MARGINS = (50.0, 500.0)


def main(argv: list[str]) -> None:
    """Measure and print."""
    rounds = int(argv[0]) if argv else 3
    index = PositionIndex(_positions(1_200_000))
    regions = sweden.municipalities()
    step = classify._held_in_margin
    spent: list[float] = []
    raised: list[int] = []

    def timed(part: Any, x: Any, y: Any, r: Any, rank: Any) -> None:
        before = int(np.count_nonzero(rank == 2))
        t0 = time.perf_counter()
        step(part, x, y, r, rank)
        spent.append(time.perf_counter() - t0)
        raised.append(int(np.count_nonzero(rank == 2)) - before)

    classify._held_in_margin = timed
    rule = LocationRule(max_age=dt.timedelta(hours=24))
    print(f"{'code':>5} {'margin':>7} {'first classify':>15} {'water step':>11} {'held by it':>10}")
    for code in CODES:
        largest = max(
            shapely.get_parts(regions.regions[regions.codes.index(code)].geometry),
            key=lambda g: g.area,
        )
        ring = shapely.get_coordinates(largest.exterior)
        holes = [shapely.get_coordinates(h) for h in largest.interiors]
        for margin in MARGINS:
            best = (np.inf, 0.0, 0)
            for k in range(rounds):
                part = Polygon(ring + k * 1e-9, [h + k * 1e-9 for h in holes], margin_m=margin)
                spent.clear()
                raised.clear()
                t0 = time.perf_counter()
                _, states = index.classify(part, rule, AT)
                total = time.perf_counter() - t0
                assert np.isin(
                    states, [Location.INSIDE, Location.AMBIGUOUS, Location.UNKNOWN]
                ).all()
                if total < best[0]:
                    best = (total, sum(spent), sum(raised))
            print(
                f"{code:>5} {margin:>5.0f} m {best[0] * 1e3:>12.1f} ms {best[1] * 1e3:>8.1f} ms "
                f"{best[2]:>10,}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
