"""A small benchmark harness: best-of timings, peer comparisons and regression gates.

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool) -> Report``. ``benchmarks/run.py``
runs them, prints a markdown table, writes JSON and markdown to ``benchmarks/results/``, and in
``--quick`` mode fails when a ratio falls below its bar: the gates hold the real bar. A noisy
machine is handled by how ratios are measured, not by loosening them: scenarios that compare
against peers interleave the implementations (ours, then the peers, then the peers, then ours,
...) over many fresh inputs and compare medians (:func:`first_and_warm`, :func:`medians`).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


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


def first_and_warm(make: Callable[[], T], call: Callable[[T], Any]) -> tuple[float, float, Any]:
    """Seconds of the first and of the second call of ``call`` on a fresh ``make()`` object.

    ``make`` runs before the clock starts (building an area object or a peer's prepared
    geometry); garbage collection is off while timing. Returns both times and the first answer.
    """
    obj = make()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        answer = call(obj)
        t1 = time.perf_counter()
        call(obj)
        t2 = time.perf_counter()
    finally:
        if gc_was_enabled:
            gc.enable()
    return t1 - t0, t2 - t1, answer


def medians(
    places: Sequence[T],
    rounds: int,
    impls: dict[str, Callable[[T], tuple[float, float, Any]]],
    check: Callable[[str, Any, Any], None] | None = None,
) -> dict[str, tuple[float, float]]:
    """Per implementation, the median over places of its best (first, warm) seconds per place.

    Every sample is a real first query: each round builds a fresh object per implementation and
    place. The implementations run interleaved: for each place every implementation runs once,
    in an order that alternates from round to round (forwards, then backwards), so a slow
    spell of a shared machine hits them alike and each runs as often after itself as after the
    others. A place's time is its best over ``rounds`` fresh objects
    (a preempted run is only ever slower, never faster); the scenario's time is the median over
    places. ``check(name, answer, reference)`` compares each answer with the first
    implementation's on the first round.
    """
    names = list(impls)
    first: dict[str, list[list[float]]] = {n: [[] for _ in places] for n in names}
    warm: dict[str, list[list[float]]] = {n: [[] for _ in places] for n in names}
    for r in range(rounds):
        for i, place in enumerate(places):
            # Each place alternates the order from round to round, so every implementation runs
            # as often right after itself as right after the others.
            order = names if (r + i) % 2 == 0 else names[::-1]
            answers: dict[str, Any] = {}
            for name in order:
                f, w, answers[name] = impls[name](place)
                first[name][i].append(f)
                warm[name][i].append(w)
            if check is not None and r == 0:
                for name in names[1:]:
                    if answers[name] is not None:  # None: the implementation checked itself
                        check(name, answers[name], answers[names[0]])
    return {
        n: (
            statistics.median(min(ts) for ts in first[n]),
            statistics.median(min(ts) for ts in warm[n]),
        )
        for n in names
    }
