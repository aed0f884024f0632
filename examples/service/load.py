"""Load the reference service on a Unix socket; print throughput and latency percentiles.

``python -m examples.service.load [--store PATH_OR_DSN] [--batches 200] [--devices 2000]
[--alerts 20] [--clients 4]``: starts one uvicorn process, posts ``--alerts`` Explosion alerts
(circles around Stockholm) and ``--batches`` position batches of ``--devices`` fixes each
(some inside the alerts), from ``--clients`` threads at once, confirms every delivery, and
prints requests per second and p50 / p95 / p99 latency per endpoint. Bounded: it stops after
the given counts or ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import numpy as np

from geotarget import Circle, alerts, cap

ROOT = Path(__file__).resolve().parents[2]
AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)


def _alert(i: int) -> str:
    msg = alerts.Message(
        headline="Explosionsrisk", description="Lämna området.", area_description=f"Område {i}"
    )
    rng = np.random.default_rng(i)
    lon, lat = CENTRE[0] + rng.uniform(-0.1, 0.1), CENTRE[1] + rng.uniform(-0.05, 0.05)
    return cap.dumps(
        alerts.explosion(
            identifier=f"LOAD-{i}",
            sender="polisen@polisen.se",
            sent=AT,
            area=Circle(lon, lat, 1500.0),
            sv=msg,
            en=msg,
            onset=AT,
            expires=AT + dt.timedelta(hours=6),
        )
    )


def _batch(b: int, n: int) -> dict[str, Any]:
    rng = np.random.default_rng(1000 + b)
    ids = rng.choice(200_000, size=n, replace=False)
    return {
        "ids": [f"dev{i}" for i in ids.tolist()],
        "lon": (CENTRE[0] + rng.normal(0, 0.06, n)).tolist(),
        "lat": (CENTRE[1] + rng.normal(0, 0.03, n)).tolist(),
        "accuracy_m": rng.uniform(5, 50, n).tolist(),
        "observed_at": [AT.isoformat()] * n,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the load; print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="gt-load-"))
    store = args.store or str(tmp / "deliveries.db")
    sock = str(tmp / "svc.sock")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "examples.service.app:app",
            "--uds",
            sock,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "GEOTARGET_STORE": store},
    )
    lat: dict[str, list[float]] = {}
    told = 0
    try:
        while not Path(sock).exists():
            if proc.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.05)
        client = httpx2.Client(
            transport=httpx2.HTTPTransport(uds=sock), base_url="http://service", timeout=120
        )
        deadline = time.perf_counter() + args.max_seconds
        at = {"at": (AT + dt.timedelta(minutes=1)).isoformat()}

        def call(path: str, **kw: Any) -> Any:
            t0 = time.perf_counter()
            r = client.post(path, params=at, **kw)
            lat.setdefault(path, []).append(time.perf_counter() - t0)
            r.raise_for_status()
            return r.json()

        def confirm(deliveries: list[dict[str, str]]) -> int:
            if deliveries:
                call("/confirm", json={"keys": [d["key"] for d in deliveries]})
            return len(deliveries)

        call("/positions", json=_batch(0, args.devices))
        t_start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            for got in pool.map(lambda i: call("/alerts", content=_alert(i)), range(args.alerts)):
                told += confirm(got.get("deliveries", []))

            def one(b: int) -> int:
                if time.perf_counter() > deadline:
                    return 0
                return confirm(call("/positions", json=_batch(b, args.devices))["deliveries"])

            told += sum(pool.map(one, range(1, args.batches + 1)))
        elapsed = time.perf_counter() - t_start
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    total = sum(len(v) for v in lat.values())
    print(
        f"{total} requests in {elapsed:.1f} s ({total / elapsed:.1f} req/s), "
        f"{told} deliveries confirmed, {args.clients} clients, store {store}"
    )
    for path, v in sorted(lat.items()):
        p50, p95, p99 = np.percentile(np.array(v) * 1e3, [50, 95, 99])
        print(
            f"  {path:11s} n={len(v):5d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
