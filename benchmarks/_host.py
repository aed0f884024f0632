"""How fast this machine is against the one the issues' time budgets were stated on.

Issue 13 states budgets in seconds (``target()`` of a new 1 km Explosion in 1.5 ms; an
adversarial area "well under a second", here 0.5 s; …) beside what it measured on the same
machine, among them the tool a user would otherwise pick: an STRtree of 1.2 M devices from
``sweden.synthetic_population``, its candidates in the box of a fresh circle, then
``Geod.inv`` on them, median over ten Swedish cities: 0.25 ms for 500 m, 0.52 ms for 1 km,
**7.2 ms for 10 km**. A budget in seconds is a statement about that machine. On another, it is
the same budget times how much longer that same peer query takes there: :func:`host_factor`,
measured in the run beside what it scales.

The yardstick is the 10 km query. Its ~20,000 ``Geod.inv`` calls measure the host; a small
circle's few hundred measure mostly per-call setup, which the issue's table does not describe
and ours may not share: the recorded full run's host (``benchmarks/recorded/matcher``) took
7.37 ms for 10 km, the issue's 7.2 ms within 2 %, but 0.37 ms for 1 km against 0.52 ms and
0.10 ms for 500 m against 0.25 ms.

So a budget gate compares geotarget with the issue's bar in the issue's own terms, a ratio to
the peer in one run: on a host twice as slow as the issue's the budget doubles, on one twice
as fast it halves (the gate is then stricter than the bare number). CI hosts differ by more
than 4x in speed (a clean-clone run on one took 10 min, on another 26), and a bar in seconds
alone would be a different bar on each. The bare budget is reported beside the scaled one.
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import shapely
from _population import PLACES, circle_window

from geotarget import sweden

#: Issue 13's peer on its own machine: STRtree + ``Geod.inv``, a fresh 10 km circle, 1.2 M
#: devices, median over ten cities (the issue's table, "10 km circle (~15 k in)").
REFERENCE_S = 7.2e-3
#: The yardstick's circle and devices, as the issue measured them.
RADIUS_M = 10_000.0
DEVICES = 1_200_000
#: The ten towns of the matcher's scenarios (Sweden's ten largest urban areas).


@dataclass(frozen=True)
class HostFactor:
    """The yardstick's time here and the factor a budget in seconds is scaled by."""

    seconds: float
    factor: float

    def budget(self, seconds: float) -> float:
        """``seconds`` on the issue's machine, on this one."""
        return seconds * self.factor

    def note(self, seconds: float, what: str) -> str:
        """The note of a scaled budget's row: the bare budget and the factor."""
        return f"{what}: {_fmt(seconds)} on the issue's machine x host factor {self.factor:.2f}"


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:g} ms" if seconds < 1.0 else f"{seconds:g} s"


@functools.cache
def _peer() -> tuple[Any, Any, Any]:
    """The yardstick's devices and their STRtree, built once per process."""
    lon, lat = sweden.synthetic_population(DEVICES, seed=7)
    points: Any = shapely.points(lon, lat)
    return lon, lat, shapely.STRtree(points)


def host_factor(rounds: int = 5) -> HostFactor:
    """Time the yardstick here: median over the ten towns of the best of ``rounds`` first queries.

    Each query is on a fresh box object (the peer caches nothing): the STRtree's candidates,
    sorted, then ``Geod.inv`` from the centre on each and the ones within 10 km kept.
    """
    import gc
    import time

    lon, lat, tree = _peer()
    geod = pyproj.Geod(ellps="WGS84")
    best = [math.inf] * len(PLACES)
    was = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds + 1):  # the first round warms up
            for i, (x, y) in enumerate(PLACES):
                box = shapely.box(*circle_window(x, y, RADIUS_M))
                t0 = time.perf_counter()
                c = np.sort(tree.query(box))
                _, _, d = geod.inv(np.full(c.size, x), np.full(c.size, y), lon[c], lat[c])
                c[np.asarray(d) <= RADIUS_M]
                took = time.perf_counter() - t0
                if r:
                    best[i] = min(best[i], took)
    finally:
        if was:
            gc.enable()
    seconds = statistics.median(best)
    return HostFactor(seconds, seconds / REFERENCE_S)


class Budgets:
    """A module's budgets in seconds, reported scaled by the host factor beside the bare number.

    The yardstick is timed when the module starts and again when it ends (:meth:`close`); the
    smaller factor of the two scales every budget (the host at its fastest: the stricter
    budget). Each budget row keeps its name, so a gate names it as before; the bare number is
    reported beside it as ``"<name>, as stated"`` (not gated).
    """

    def __init__(self) -> None:
        self.start = host_factor()
        self._pending: list[tuple[str, str, float, int | None, str]] = []

    def add(
        self,
        scenario: str,
        impl: str,
        seconds: float,
        unit_count: int | None = None,
        note: str = "",
    ) -> None:
        """A budget of ``seconds`` on the issue's machine, reported when the module closes."""
        self._pending.append((scenario, impl, seconds, unit_count, note))

    def close(self, report: Any) -> HostFactor:
        """Time the yardstick again and add every budget to ``report``; return the factor used."""
        from _harness import Timing

        end = host_factor()
        used = min(self.start, end, key=lambda h: h.factor)
        for scenario, impl, seconds, unit_count, note in self._pending:
            what = note or "the issue's bar"
            report.add(
                Timing(scenario, impl, used.budget(seconds), unit_count, used.note(seconds, what))
            )
            report.add(
                Timing(
                    scenario,
                    f"{impl}, as stated",
                    seconds,
                    unit_count,
                    "the issue's machine; not gated",
                )
            )
        report.add(
            Timing(
                "host speed",
                "yardstick: STRtree + Geod.inv, fresh 10 km circle (issue 13: 7.2 ms)",
                used.seconds,
                note=(
                    f"host factor {used.factor:.2f} (module start {self.start.factor:.2f}, "
                    f"end {end.factor:.2f}): the budgets above are scaled by it"
                ),
            )
        )
        report.extra["host factor"] = used.factor
        return used
