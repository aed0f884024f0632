"""The reference service under load: it must sustain three times the pilot's position rate.

The pilot's rate (``docs/delivery.rst``, "The pilot's rate"; ``examples/service/load.py``):
1.2 million devices, one fix every 10 minutes each: 2,000 fixes/s, one batch of 2,000 fixes a
second. The bar: one service process (uvicorn on a Unix socket, SQLite store, 15 active alerts —
three times the pilot's five — an Update every 10 batches, every delivery confirmed) takes
position batches, unpaced from two clients, at least three times as fast as the pilot sends
them: at most 1/3 s per batch of 2,000 fixes, on average over the run. The timing is the whole
request loop over HTTP (matching, claims, confirmations), from the first batch to the last
answer; the alerts posted first (which build the region plans) are not timed.

Bounded: 30 batches in ``--quick`` (about 10 s on a loaded 2-core machine, plus the service's
start), 120 otherwise, and at most 60 s of batches either way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from _harness import Gate, Report, Timing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/ beside benchmarks/

from examples.service import load

MULTIPLE = 3


def run(quick: bool) -> Report:
    """Time position batches through the service against three times the pilot's rate."""
    report = Report()
    batches = 30 if quick else 120
    got = load.run(
        rate=0,
        batches=batches,
        devices=load.PILOT_BATCH,
        n_alerts=15,
        updates_every=10,
        clients=2,
        max_seconds=60,
    )
    per_batch = got["seconds"] / max(got["batches"], 1)
    p = {
        path: np.percentile(np.array(v) * 1e3, [50, 95, 99]).round(1).tolist()
        for path, v in got["latency"].items()
    }
    scenario = (
        f"position batches of {load.PILOT_BATCH:,} fixes through the service "
        f"({got['batches']} batches, 15 alerts)"
    )
    pos = p.get("/positions", [0.0, 0.0, 0.0])
    times = got["fixes_per_s"] / load.PILOT_FIXES_PER_S
    report.add(
        Timing(
            scenario,
            "reference service (SQLite)",
            per_batch,
            load.PILOT_BATCH,
            f"{got['fixes_per_s']:,.0f} fixes/s = {times:.1f}x the pilot; /positions p50 "
            f"{pos[0]} ms, p95 {pos[1]} ms, p99 {pos[2]} ms",
        )
    )
    budget = load.PILOT_BATCH / (MULTIPLE * load.PILOT_FIXES_PER_S)
    report.add(
        Timing(
            scenario,
            f"{MULTIPLE}x the pilot's rate",
            budget,
            load.PILOT_BATCH,
            f"{MULTIPLE * load.PILOT_FIXES_PER_S:,} fixes/s",
        )
    )
    report.gates.append(
        Gate(
            scenario,
            "reference service (SQLite)",
            f"{MULTIPLE}x the pilot's rate",
            1.0,
            f"sustains ≥ {MULTIPLE}x the pilot's {load.PILOT_FIXES_PER_S:,} fixes/s",
        )
    )
    report.extra["latency_ms_p50_p95_p99"] = p
    report.extra["requests"] = got["requests"]
    report.extra["deliveries"] = got["deliveries"]
    return report
