"""The first query of new circles at places the gated benchmark does not use.

``bench_matcher`` gates 500 m, 1 km and 10 km circles at ten towns (``_population.PLACES``).
This script times the same first queries, against the same exact peer (``STRtree`` bbox +
``Geod.inv`` on the candidates, timed the same way), at twenty other Swedish towns and at
places drawn from the devices themselves (population-weighted: mostly small places and the
countryside, where a circle holds a handful of devices)::

    python benchmarks/compare_places.py [rounds] [random places]

Per place and radius the best of ``rounds`` interleaved first queries of each side (a fresh
area object each); prints the distribution of the ratios per radius and the slowest places.
"""

from __future__ import annotations

import statistics
import sys

import bench_matcher as bm
import numpy as np
import shapely
from _harness import medians
from _population import PLACES, circle_window

import geotarget
from geotarget import PositionIndex, Positions, sweden

#: Towns that are not among the gated ten (``_population.PLACES``): (lon, lat) of their centres.
TOWNS = {
    "Umeå": (20.263, 63.826),
    "Luleå": (22.155, 65.584),
    "Sundsvall": (17.306, 62.391),
    "Gävle": (17.141, 60.675),
    "Karlstad": (13.504, 59.380),
    "Växjö": (14.806, 56.879),
    "Skellefteå": (20.951, 64.750),
    "Varberg": (12.250, 57.106),
    "Kalmar": (16.362, 56.663),
    "Kristianstad": (14.156, 56.031),
    "Östersund": (14.636, 63.176),
    "Falun": (15.626, 60.607),
    "Halmstad": (12.857, 56.674),
    "Borås": (12.940, 57.721),
    "Skövde": (13.845, 58.391),
    "Visby": (18.295, 57.640),
    "Kiruna": (20.225, 67.856),
    "Nyköping": (17.007, 58.753),
    "Eskilstuna": (16.510, 59.371),
    "Trollhättan": (12.288, 58.283),
}
RADII = (500.0, 1_000.0, 10_000.0)


def main(argv: list[str]) -> None:
    """Measure and print."""
    rounds = int(argv[0]) if argv else 5
    drawn = int(argv[1]) if len(argv) > 1 else 30
    print("geotarget from", geotarget.__file__)
    lon, lat = sweden.synthetic_population(1_200_000, seed=13)
    index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=bm._NOW))
    peers = bm.Peers(lon, lat)
    for town, (x, y) in TOWNS.items():  # (a tenth of a degree: another town)
        assert all(abs(x - gx) + abs(y - gy) > 0.1 for gx, gy in PLACES), town
    rng = np.random.default_rng(2026)
    picks = rng.choice(lon.size, drawn, replace=False)
    # Beside a device, not on it: a centre exactly on a device is no likelier than elsewhere.
    randoms = {
        f"device {i}": (float(lon[i]) + 0.001, float(lat[i]) + 0.0007) for i in picks.tolist()
    }
    for label, places in (("other towns", TOWNS), ("drawn from the devices", randoms)):
        print(f"{label}: {len(places)} places, {rounds} rounds")
        for radius in RADII:
            impls = bm._circle_impls(index, peers, radius, quick=True)
            rows: list[tuple[float, str, int]] = []
            for name, place in places.items():
                got = medians([place], rounds, impls, bm._check)
                ours, peer = got["geotarget"][0], got[bm.EXACT_PEER][0]
                box = shapely.box(*circle_window(*place, radius))
                rows.append((peer / ours, name, len(peers.tree.query(box))))
            _summary(f"{radius:,.0f} m", rows)


def _summary(label: str, rows: list[tuple[float, str, int]]) -> None:
    ratios = sorted(r[0] for r in rows)
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    slowest = ", ".join(f"{n} {x:.2f}x ({c:,})" for x, n, c in sorted(rows)[:3])
    print(
        f"{label:>9}: ratio median {statistics.median(ratios):.2f}x "
        f"(quartiles {q[0]:.2f}x-{q[2]:.2f}x, min {ratios[0]:.2f}x), "
        f">=2x {sum(x >= 2 for x in ratios) / len(ratios):.0%}; median candidates "
        f"{statistics.median(r[2] for r in rows):,.0f}; slowest (candidates): {slowest}"
    )


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
