"""The first query of every Swedish municipality's polygon against the polygon peer.

The matcher benchmark gates the ten most populous municipalities and reports ten drawn at
random; this script measures all of them (Lantmäteriet's polygons from the shared data, each
municipality as one fresh area object per round), to show how the ratio to the peer
(``STRtree`` bbox + prepared ``contains_xy``, timed the same way) depends on the devices in the
polygon's bounds::

    python benchmarks/compare_municipalities.py [rounds]

Per municipality the best of ``rounds`` interleaved first queries of each side; prints the
distribution of the ratios over all municipalities and per band of candidates (devices in the
polygon's bounds). A municipality whose ring Lantmäteriet draws self-intersecting is skipped and
named (geotarget refuses such a polygon unless it is repaired; the peer would not notice).
"""

from __future__ import annotations

import statistics
import sys

import bench_matcher as bm
import numpy as np
import shapely
from _harness import medians
from _population import municipality_polygons

import geotarget
from geotarget import PositionIndex, Positions, sweden
from geotarget.errors import InvalidArea

#: Bands of candidates (devices in the polygon's bounds) the ratios are summarised by.
BANDS = ((0, 2_000), (2_000, 10_000), (10_000, 50_000), (50_000, 10**9))


def main(argv: list[str]) -> None:
    """Measure and print."""
    rounds = int(argv[0]) if argv else 5
    print("geotarget from", geotarget.__file__)
    lon, lat = sweden.synthetic_population(1_200_000, seed=13)
    index = PositionIndex(Positions(np.arange(lon.size), lon, lat, observed_at=bm._NOW))
    peers = bm.Peers(lon, lat)
    impls = bm._polygon_impls(index, peers)
    rows: list[tuple[float, str, float, float, int]] = []
    skipped: list[str] = []
    for code in sorted(municipality_polygons()):
        try:
            area = bm.municipality_areas([code])[0]
        except InvalidArea:
            skipped.append(code)
            continue
        got = medians([area], rounds, impls, bm._check)
        ours, peer = got["geotarget"][0], got[bm.POLY_PEER][0]
        candidates = len(peers.tree.query(shapely.box(*area.to_shapely().bounds)))
        rows.append((peer / ours, code, ours, peer, candidates))
    print(f"{len(rows)} municipalities, {rounds} rounds; skipped (self-intersecting): {skipped}")
    _summary("all", rows)
    for lo, hi in BANDS:
        band = f"{lo:,}-{hi:,}" if hi < BANDS[-1][1] else f"{lo:,} or more"
        _summary(f"{band} candidates", [r for r in rows if lo <= r[4] < hi])
    rows.sort()
    print("slowest ratios:", ", ".join(f"{c} {x:.2f}x ({n:,})" for x, c, _, _, n in rows[:5]))


def _summary(label: str, rows: list[tuple[float, str, float, float, int]]) -> None:
    if not rows:
        return
    ratios = sorted(r[0] for r in rows)
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    ours = statistics.median(r[2] for r in rows)
    peer = statistics.median(r[3] for r in rows)
    median = statistics.median(ratios)
    print(
        f"{label:>24}: {len(rows):3d} municipalities, ratio median {median:.2f}x "
        f"(quartiles {q[0]:.2f}x-{q[2]:.2f}x, min {ratios[0]:.2f}x), "
        f">=2x {sum(x >= 2 for x in ratios) / len(ratios):.0%}, "
        f">=3x {sum(x >= 3 for x in ratios) / len(ratios):.0%}; "
        f"median first query {ours * 1e6:.0f} us against {peer * 1e6:.0f} us"
    )


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
