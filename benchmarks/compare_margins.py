"""The first classification of municipality polygons drawn with a margin, and its water step.

``PositionIndex.classify`` decides most devices of a polygon's margin band by bounds on their
distance to the polygon's metric boundary from cells around them (``geotarget/_index/
margin.py``: whole leaves first, then devices), measuring each device's own distance only
near a threshold; and it decides a disk that a polygon's margin holds only over water
narrower than twice the margin (a boat in a fjord) on the metric polygon grown by the margin
near it (``geotarget/_index/classify.py``, ``_held_in_margin``). Over ``bench_targeting``'s
snapshot (``devices`` synthetic Swedish devices, 1.2 M by default, accuracies of a few metres
to 2 km), for fresh polygons of a few municipalities with margins of 50 m to 50 km, and for
Stockholm county as its municipalities' polygons with a 5 km margin, this prints the best of
``rounds`` first classifications (fresh polygon objects each), the part of it the water step
took, the disks it found held, and the point-segment distances the cell bounds measured::

    python benchmarks/compare_margins.py [rounds] [devices]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

import numpy as np
import shapely
from bench_targeting import AT, _positions

from geotarget import Area, Location, LocationRule, Polygon, PositionIndex, sweden
from geotarget._index import classify, margin

#: Stockholm, Göteborg (both on water), Kiruna (large), Upplands Väsby (small).
CODES = ("0180", "1480", "2584", "0114")
MARGINS = (50.0, 500.0, 5_000.0, 50_000.0)
#: Stockholm county (its municipalities' codes start so), with this margin.
COUNTY, COUNTY_MARGIN = "01", 5_000.0


def main(argv: list[str]) -> None:
    """Measure and print."""
    rounds = int(argv[0]) if argv else 3
    devices = int(argv[1]) if len(argv) > 1 else 1_200_000
    index = PositionIndex(_positions(devices))
    regions = sweden.municipalities()
    step = classify._held_in_margin
    decide = margin.decide
    spent: list[float] = []
    raised: list[int] = []
    pairs: list[int] = []

    def timed(part: Any, x: Any, y: Any, r: Any, rank: Any) -> None:
        before = int(np.count_nonzero(rank == 2))
        t0 = time.perf_counter()
        step(part, x, y, r, rank)
        spent.append(time.perf_counter() - t0)
        raised.append(int(np.count_nonzero(rank == 2)) - before)

    def counted(*args: Any, **kwargs: Any) -> Any:
        got = decide(*args, **kwargs)
        pairs.append(got[2])
        return got

    classify._held_in_margin = timed
    margin.decide = counted
    rule = LocationRule(max_age=dt.timedelta(hours=24))

    def row(label: str, margin_m: float, make: Any) -> None:
        best = (np.inf, 0.0, 0, 0)
        for k in range(rounds):
            area = make(k)
            spent.clear()
            raised.clear()
            pairs.clear()
            t0 = time.perf_counter()
            _, states = index.classify(area, rule, AT)
            total = time.perf_counter() - t0
            assert np.isin(states, [Location.INSIDE, Location.AMBIGUOUS, Location.UNKNOWN]).all()
            if total < best[0]:
                best = (total, sum(spent), sum(raised), sum(pairs))
        print(
            f"{label:>6} {margin_m:>8.0f} m {best[0] * 1e3:>12.1f} ms {best[1] * 1e3:>8.1f} ms "
            f"{best[2]:>10,} {best[3]:>14,}"
        )

    print(f"{devices:,} devices, best of {rounds}")
    print(
        f"{'code':>6} {'margin':>10} {'first classify':>15} {'water step':>11} {'held by it':>10}"
        f" {'cell pairs':>14}"
    )
    for code in CODES:
        largest = max(
            shapely.get_parts(regions.regions[regions.codes.index(code)].geometry),
            key=lambda g: g.area,
        )
        ring = shapely.get_coordinates(largest.exterior)
        holes = [shapely.get_coordinates(h) for h in largest.interiors]
        for margin_m in MARGINS:
            row(
                code,
                margin_m,
                lambda k, m=margin_m, ring=ring, holes=holes: Polygon(
                    ring + k * 1e-9, [h + k * 1e-9 for h in holes], margin_m=m
                ),
            )
    county = [
        shapely.get_coordinates(p.exterior)
        for c in regions.codes
        if c.startswith(COUNTY)
        for p in shapely.get_parts(regions.regions[regions.codes.index(c)].geometry)
    ]
    row(
        COUNTY,
        COUNTY_MARGIN,
        lambda k: Area([Polygon(c + k * 1e-9, margin_m=COUNTY_MARGIN) for c in county]),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
