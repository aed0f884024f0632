"""A small benchmark harness: best-of timings, peer comparisons and regression gates.

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool) -> Report``. ``benchmarks/run.py``
runs them, prints a markdown table, writes JSON and markdown to ``benchmarks/results/``, and in
``--gate`` mode fails when a ratio falls below half its bar (a regression gate that tolerates a
noisy machine; the full bar is reported, not enforced).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timing:
    """The best time per call of one implementation on one scenario."""

    scenario: str
    impl: str
    seconds: float
    unit_count: int | None = None  # e.g. points processed per call, for throughput
    note: str = ""
    unit: str = "s"  # what ``seconds`` holds when it is not a time, e.g. "B/device"


@dataclass
class Gate:
    """``ours`` must be at least ``bar`` times faster than ``peer`` on ``scenario``.

    ``lower_is_better=False`` turns it into a bound on a quantity that is not a time (e.g. bytes per
    device, where ratio = peer / ours as well).
    """

    scenario: str
    ours: str
    peer: str
    bar: float
    description: str = ""


@dataclass
class Report:
    """What a benchmark module measured."""

    timings: list[Timing] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, timing: Timing) -> Timing:
        """Record a timing and return it."""
        self.timings.append(timing)
        return timing

    def seconds(self, scenario: str, impl: str) -> float:
        """The recorded time of ``impl`` on ``scenario``."""
        for t in self.timings:
            if t.scenario == scenario and t.impl == impl:
                return t.seconds
        raise KeyError(f"no timing for {impl!r} on {scenario!r}")

    def ratio(self, gate: Gate) -> float:
        """How many times faster ``ours`` is than ``peer``."""
        return self.seconds(gate.scenario, gate.peer) / self.seconds(gate.scenario, gate.ours)


def best_of(fn: Callable[[], object], *, repeat: int = 5, number: int = 1) -> float:
    """Best wall-clock seconds per call of ``fn`` over ``repeat`` rounds of ``number`` calls."""
    fn()  # warm-up: caches, lazy transformers, prepared geometries
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            best = min(best, (time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best
