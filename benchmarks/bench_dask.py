"""Targeting over a partitioned Parquet dataset on a local Dask cluster, against one process.

Full mode only (``python benchmarks/run.py --only dask``; the sizes from ``GEOTARGET_DASK_N``,
default ``10000000,50000000``): quick mode prints why it is skipped, so CI stays fast. Per size:
synthetic Swedish devices (:func:`geotarget.sweden.synthetic_population`) written with
:func:`geotarget.dask.write_partitioned` (0.25° cells) under ``/tmp``; a ``LocalCluster`` of two
worker processes with one thread each (this machine has 2 cores); then, for a 1 km Explosion at
Sergels torg and a Stockholm-municipality tip request:

* ``dask, cold``: the first alert, building the indexes of the partitions it touches;
* ``dask, resident``: later alerts (new identifiers: new incidents), indexes resident on the workers
  (median of several), each stat-ing the files it reads (the others at most once a second);
* ``dask, resident, every file stat-ed``: the same with the dataset's ``recheck_s = 0`` (as an
  alert that comes more than ``recheck_s`` after the last one: 5 samples, Explosion only);
* ``single process``: the in-memory ``Targeter`` over one ``PositionIndex`` of the same devices;
* ``full scan``: ``dask.dataframe.read_parquet`` + a bounding-box filter + ``shapely.contains_xy``
  (a peer that counts devices whose point is in the area, without rules or ledger).

Also: the share of partitions read, index build time and bytes per device on the workers.
The issue's goal: resident 1 km Explosion over 50 M within 3× the single-process time (medians
of 11 alternating samples each), reading under 1 % of the partitions: two gates in the report,
shown in full mode (``run.py`` fails on a gate in quick mode only, where this module does not run).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Gate, Report, Timing

from geotarget import Area, Circle, PositionIndex, Positions, alerts, pilot, sweden
from geotarget.rollout import nationwide
from geotarget.targeting import Targeter

AT = dt.datetime(2024, 5, 20, 12, 0, tzinfo=dt.timezone.utc)
SERGELS_TORG = (18.06528, 59.3325)
CELL_DEG = 0.25
MSG = pilot.Message(headline="x", description="x", area_description="x")


def _positions(n: int) -> Positions:
    lon, lat = sweden.synthetic_population(n, seed=7)
    rng = np.random.default_rng(8)
    stamp = np.datetime64(AT.replace(tzinfo=None), "us")
    ages = (rng.exponential(600.0, n) * 1e6).astype("timedelta64[us]")
    return Positions(
        np.arange(n, dtype=np.int64),
        lon,
        lat,
        accuracy_m=np.clip(rng.lognormal(np.log(12.0), 0.8, n), 3.0, 2000.0),
        observed_at=stamp - ages,
    )


def _alerts(kind: str, area: Area, count: int, prefix: str = "") -> list[alerts.Alert]:
    build = pilot.explosion if kind == "explosion" else pilot.tip_request
    return [
        build(
            identifier=f"{prefix}{kind}-{i}",
            sender="bench@example.se",
            sent=AT,
            area=area,
            sv=MSG,
            en=MSG,
            onset=AT,
            expires=AT + dt.timedelta(hours=2),
        )
        for i in range(count)
    ]


def _clock() -> float:
    return time.perf_counter()


def run(quick: bool) -> Report:
    """Measure the Dask path against one process and a full scan (full mode only)."""
    report = Report()
    if quick:
        print(
            "# dask: skipped in quick mode (10 M devices and a local cluster take minutes); "
            "run `python benchmarks/run.py --only dask`",
            file=sys.stderr,
        )
        return report
    from bench_matcher import stockholm_area

    sizes = [int(s) for s in os.environ.get("GEOTARGET_DASK_N", "10000000,50000000").split(",")]
    areas = {
        "1 km Explosion at Sergels torg": ("explosion", Area([Circle(*SERGELS_TORG, 1000.0)])),
        "tip request over Stockholm municipality": ("tip", stockholm_area()),
    }
    regions = sweden.hierarchy()
    for n in sizes:
        _one_size(report, n, areas, regions)
        gc.collect()
    return report


def _one_size(report: Report, n: int, areas: dict[str, tuple[str, Area]], regions: Any) -> None:
    import dask.dataframe as dd
    import shapely
    from distributed import Client, LocalCluster

    from geotarget.dask import DaskTargeter, write_partitioned

    root = Path(f"/tmp/geotarget-bench-dask-{n}")
    shutil.rmtree(root, ignore_errors=True)
    positions = _positions(n)
    t0 = _clock()
    ds = write_partitioned(positions, root, cell_deg=CELL_DEG)
    report.add(Timing(f"{n:,} devices", "write_partitioned (0.25° cells)", _clock() - t0, n))
    t0 = _clock()
    index = PositionIndex(positions)
    report.add(Timing(f"{n:,} devices", "single process: PositionIndex build", _clock() - t0, n))
    single = Targeter(regions, nationwide())
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=0
    )
    client = Client(cluster)
    try:
        dist = DaskTargeter(Targeter(regions, nationwide()), ds, client)
        for label, (kind, area) in areas.items():
            scenario = f"{label}, {n:,} devices"
            # Resident and single-process samples alternate; the gate compares their medians,
            # so more samples (cheap for the 1 km alert) make it robust to a busy machine.
            batch = _alerts(kind, area, 12 if kind == "explosion" else 6)
            t0 = _clock()
            dist.target(batch[0], AT, confirm=True)
            t_cold = _clock() - t0
            read = dict(dist.last_stats)
            warm, ones = [], []
            for a in batch[1:]:  # new identifiers: new incidents, nobody told yet
                t0 = _clock()
                got = dist.target(a, AT, confirm=True)
                warm.append(_clock() - t0)
                t0 = _clock()
                mine = single.target(a, index, AT, confirm=True)
                ones.append(_clock() - t0)
                assert set(got.recipients.tolist()) == set(mine.recipients.tolist())
                assert dict(got.counts) == dict(mine.counts)
            full = []
            if kind == "explosion":
                # As an alert seconds after the last one: every file of the dataset stat-ed
                # too (overlapped with the workers), not only the files the alert reads.
                dist.dataset.recheck_s = 0.0
                for a in _alerts("explosion", area, 5, prefix="full-check-"):
                    t0 = _clock()
                    dist.target(a, AT, confirm=True)
                    full.append(_clock() - t0)
                dist.dataset.recheck_s = 1.0
            note = f"{len(mine.recipients):,} recipients"
            share = read["partitions_read"] / read["partitions"]
            report.add(Timing(scenario, "dask, cold (first alert)", t_cold, n, note))
            report.add(Timing(scenario, "dask, resident", statistics.median(warm), n, note))
            if full:
                report.add(
                    Timing(
                        scenario,
                        "dask, resident, every file stat-ed",
                        statistics.median(full),
                        n,
                        note,
                    )
                )
            report.add(Timing(scenario, "single process Targeter", statistics.median(ones), n))
            report.add(
                Timing(
                    scenario,
                    "share of partitions read",
                    100.0 * share,
                    unit="%",
                    note=f"{int(read['partitions_read'])} of {int(read['partitions'])}",
                )
            )
            report.extra[scenario] = {
                **read,
                "cold_s": t_cold,
                "resident_s": warm,
                "single_s": ones,
                "resident_full_check_s": full,
            }
            # The peer: a full scan of the dataset with a box filter and contains_xy.
            shape = area.to_shapely()
            shapely.prepare(shape)
            w, s, e, no = shape.bounds
            t0 = _clock()
            df = dd.read_parquet(str(root), columns=["lon", "lat"])
            pts = df[(df.lon >= w) & (df.lon <= e) & (df.lat >= s) & (df.lat <= no)].compute()
            inside = int(shapely.contains_xy(shape, pts.lon.values, pts.lat.values).sum())
            report.add(
                Timing(
                    scenario,
                    "full scan (dask.dataframe + contains_xy)",
                    _clock() - t0,
                    n,
                    f"{inside:,} points inside",
                )
            )
            if kind == "explosion":
                report.add(Timing(scenario, "3x single process", 3 * statistics.median(ones), n))
                report.gates.append(
                    Gate(
                        scenario,
                        "dask, resident",
                        "3x single process",
                        1.0,
                        "resident within 3x the single-process Targeter",
                    )
                )
                report.add(Timing(scenario, "1 % of partitions", 1.0, unit="%"))
                report.gates.append(
                    Gate(
                        scenario,
                        "share of partitions read",
                        "1 % of partitions",
                        1.0,
                        "reads under 1 % of the partitions",
                    )
                )
        dist.warm()
        res = dist.resident()
        report.add(Timing(f"{n:,} devices", "workers: index build, summed", res["build_s"], n))
        report.add(
            Timing(
                f"{n:,} devices",
                "workers: resident bytes per device (index + columns)",
                res["bytes"] / max(res["devices"], 1.0),
                unit="B/device",
            )
        )
        report.add(
            Timing(
                f"{n:,} devices",
                "single process: index bytes per device",
                index.nbytes / n,
                unit="B/device",
            )
        )
        report.extra[f"{n:,} devices"] = {"partitions": len(ds.partitions), **res}
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)
