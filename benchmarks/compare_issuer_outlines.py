"""An issuer's own county outline, rounded or moved by metres: the time ``target()`` takes.

A county's police issuer sends police information over its own region's outline, written to
four decimals or taken from a map a few metres off: the outline reaches slivers of the
neighbouring counties, which the border slack (``Targeter(border_slack_m=25)``) lets through
without telling anyone there. Deciding that is the plan phase's work, and it must not take
seconds (it took 11.4 s for Stockholm county at four decimals before 0.1.0's fix)::

    python benchmarks/compare_issuer_outlines.py [county ...]

Per county (the built-in ones by default) and variant, the first ``target()`` of a new alert
on a warmed ``Targeter`` with a one-device index, its plan time and verdict; beside it the
check a user would write with shapely alone: the county, in SWEREF 99 TM (EPSG:3006), buffered
by the slack, covers the outline. The peer decides only "within the slack of home", not which
regions the slivers are in, nor who is told.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from typing import Any

import numpy as np
import pyproj
import shapely

from geotarget import Area, Polygon, PositionIndex, Positions, pilot, sweden
from geotarget.errors import GeotargetError
from geotarget.issuers import Issuer, Issuers
from geotarget.ledger import MemoryLedger
from geotarget.targeting import Targeter

AT = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)  # tip requests nationwide
MSG = pilot.Message(headline="x", description="x", area_description="x")
SLACK_M = 25.0
TO_TM = pyproj.Transformer.from_crs(4326, 3006, always_xy=True)
VARIANTS = {
    "4 decimals": lambda xy: np.round(xy, 4),
    "moved 5 m east": lambda xy: xy + np.array([5.0 / (111_320.0 * np.cos(np.radians(62))), 0]),
}


def _tm(geom: Any) -> Any:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_TM.transform(*xy.T)))


def _area(geom: Any) -> Area:
    parts = [
        Polygon(
            shapely.get_coordinates(p.exterior),
            holes=[shapely.get_coordinates(h) for h in p.interiors],
        )
        for p in shapely.get_parts(geom)
    ]
    return Area(parts)


def main(argv: list[str]) -> None:
    """Measure and print."""
    counties = sweden.counties()
    codes = argv or list(counties.codes)
    index = PositionIndex(Positions([1], [18.06], [59.33], accuracy_m=[0.0], observed_at=AT))
    print("| county | variant | parts | target() | plan | verdict | shapely: buffer + covers |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    totals: list[float] = []
    for code in codes:
        sender = f"county-{code}@polisen.example"
        issuers = Issuers(
            [Issuer(name=code, senders=[sender], kinds=["tip_request"], regions=[code])]
        )
        targeter = Targeter(
            sweden.hierarchy(), sweden.pilot_policy(), ledger=MemoryLedger(), issuers=issuers,
            border_slack_m=SLACK_M,
        )  # fmt: skip
        targeter.warm()
        home = shapely.make_valid(_tm(counties[code].geometry))
        for name, move in VARIANTS.items():
            outline = shapely.transform(counties[code].geometry, move)
            try:
                area = _area(outline)
            except GeotargetError as err:  # a rounding that makes a ring cross itself
                print(f"| {code} | {name} | | refused: {type(err).__name__} | | | |")
                continue
            alert = pilot.tip_request(
                identifier=f"{code}-{name}".replace(" ", "-"), sender=sender, sent=AT,
                area=area, sv=MSG, en=MSG, onset=AT, expires=AT + dt.timedelta(hours=2),
            )  # fmt: skip
            t0 = time.perf_counter()
            got = targeter.target(alert, index, AT, confirm=True)
            took = time.perf_counter() - t0
            totals.append(took)
            t0 = time.perf_counter()
            within = shapely.covers(shapely.buffer(home, SLACK_M, quad_segs=64), _tm(outline))
            peer = time.perf_counter() - t0
            print(
                f"| {code} | {name} | {len(area.parts)} | {took * 1e3:.0f} ms "
                f"| {got.timings['plan'] * 1e3:.0f} ms | {got.verdict.name} "
                f"| {peer * 1e3:.0f} ms ({'within' if within else 'beyond'}) |"
            )
    if totals:
        print(
            f"\ntarget(): median {statistics.median(totals) * 1e3:.0f} ms, "
            f"slowest {max(totals) * 1e3:.0f} ms over {len(totals)} alerts"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
