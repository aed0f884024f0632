"""Time the area scenarios of ``bench_matcher`` against whichever geotarget is importable.

For before/after comparisons of the matcher across commits: the benchmark code is this tree's,
the library is the first ``geotarget`` on ``PYTHONPATH``::

    PYTHONPATH=/path/to/old/checkout python benchmarks/compare_area_queries.py 7 before.json
    PYTHONPATH=. python benchmarks/compare_area_queries.py 7 after.json

All implementations (geotarget, the exact circle peer, the polygonised one) are interleaved
over the ten places for the given number of rounds; prints first/warm medians and ratios.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import bench_matcher as bm
import numpy as np
from _harness import medians
from _population import PLACES

import geotarget
from geotarget import PositionIndex, Positions, sweden


def main(argv: list[str]) -> None:
    """Measure and print; write the medians as JSON when a path is given."""
    rounds = int(argv[0]) if argv else 5
    print("geotarget from", geotarget.__file__)
    lon, lat = sweden.synthetic_population(1_200_000, seed=13)
    t0 = time.perf_counter()
    index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=bm._NOW))
    out: dict[str, object] = {
        "build_s": time.perf_counter() - t0,
        "nbytes_per_device": index.nbytes / lon.size,
    }
    peers = bm.Peers(lon, lat)
    for label, radius in (("500 m", 500.0), ("1 km", 1000.0), ("10 km", 10000.0)):
        out[label] = medians(
            PLACES, rounds, bm._circle_impls(index, peers, radius, False), bm._check
        )
    out["municipality"] = medians(
        bm.municipality_areas(), rounds, bm._polygon_impls(index, peers), bm._check
    )
    for key, value in out.items():
        if not isinstance(value, dict):
            print(key, value)
            continue
        first, warm = value["geotarget"]
        peers_text = " | ".join(
            f"{p}: {t[0] * 1e3:.3f} / {t[1] * 1e3:.3f} ms "
            f"({t[0] / first:.2f}x / {t[1] / warm:.2f}x)"
            for p, t in value.items()
            if p != "geotarget"
        )
        print(f"{key:13s} geotarget {first * 1e3:.3f} / {warm * 1e3:.3f} ms | {peers_text}")
    if len(argv) > 1:
        Path(argv[1]).write_text(json.dumps(out, indent=1), "utf-8")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
