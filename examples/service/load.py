"""Load the reference service on a Unix socket; print throughput and latency percentiles.

``python -m examples.service.load [--store PATH_OR_DSN] [--rate 3] [--batches 180]
[--devices 2000] [--alerts 20] [--updates-every 20] [--clients 4] [--max-seconds 120]``:
starts one uvicorn process, posts ``--alerts`` Explosion alerts (circles around Stockholm),
then ``--batches`` position batches of ``--devices`` fixes each (some inside the alerts) — at
``--rate`` batches per second on a fixed schedule (open loop: a late batch does not delay the
schedule, it shows as lag), or as fast as the clients go with ``--rate 0`` — with an Update of
one alert (a wider circle) every ``--updates-every`` batches, from ``--clients`` threads;
confirms every delivery, and prints fixes per second, requests per second and p50 / p95 / p99
latency per endpoint. Bounded: it stops after the given counts or ``--max-seconds``.

The pilot's expected rate (see ``docs/delivery.rst``, "The pilot's rate"): 1.2 million devices,
one fix every 10 minutes each, is :data:`PILOT_FIXES_PER_S` = 2,000 fixes/s, arriving as one
batch of 2,000 fixes per second; a few alerts a day, at most one message a minute in a busy
incident, at most 5 active at once. ``--rate 3`` with the defaults is three times that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import httpx2
import numpy as np

from geotarget import Circle, alerts, cap

ROOT = Path(__file__).resolve().parents[2]
AT = dt.datetime(2026, 5, 4, 21, 30, tzinfo=dt.timezone.utc)
CENTRE = (18.06528, 59.3325)

#: The pilot: devices with the app, and the mean time between two fixes of one device.
PILOT_DEVICES = 1_200_000
PILOT_FIX_INTERVAL_S = 600
#: 2,000 fixes/s, as one batch of :data:`PILOT_BATCH` fixes a second.
PILOT_FIXES_PER_S = PILOT_DEVICES // PILOT_FIX_INTERVAL_S
PILOT_BATCH = 2_000


def _alert(i: int, version: int = 0) -> str:
    msg = alerts.Message(
        headline="Explosionsrisk", description="Lämna området.", area_description=f"Område {i}"
    )
    rng = np.random.default_rng(i)
    lon, lat = CENTRE[0] + rng.uniform(-0.1, 0.1), CENTRE[1] + rng.uniform(-0.05, 0.05)
    first = alerts.explosion(
        identifier=f"LOAD-{i}",
        sender="polisen@polisen.se",
        sent=AT,
        area=Circle(lon, lat, 1500.0),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=6),
    )
    if version == 0:
        return cap.dumps(first)
    update = alerts.explosion(
        identifier=f"LOAD-{i}-U{version}",
        sender="polisen@polisen.se",
        sent=AT + dt.timedelta(seconds=version),
        area=Circle(lon, lat, 1500.0 + 100.0 * version),
        sv=msg,
        en=msg,
        onset=AT,
        expires=AT + dt.timedelta(hours=6),
    )
    ref = alerts.Reference(sender=first.sender, identifier=first.identifier, sent=first.sent)
    return cap.dumps(attrs.evolve(update, msg_type=alerts.MessageType.UPDATE, references=(ref,)))


#: The most seconds the run waits for the service to listen, and then for ``GET /ready`` to
#: answer 200 (not 503: its store not answering yet).
START_SECONDS = 60.0
READY_SECONDS = 60.0


def _store_named(where: str) -> str:
    """``--store`` as the report shows it: a file path as given, a PostgreSQL DSN not at all.

    The report printed the DSN whole, its password included, to a terminal or a CI log (the
    service itself never shows one).
    """
    if "://" in where or re.match(r"\s*[a-z_]+\s*=", where):  # (as the service tells them)
        return "a PostgreSQL DSN (not shown: it may hold a password)"
    return where


def _delivered(answer: dict[str, Any], what: str) -> list[dict[str, str]]:
    """The deliveries of a ``POST /alerts`` answer, or a stop naming why the alert was not sent.

    An alert the service's policy does not deliver (``GEOTARGET_POLICY`` beside the run: its
    issuers or its rollout refuse the load's sender, kind or region) reached nobody, and the
    run measured batches that told nobody, reporting its numbers as if they were the load.
    """
    if answer.get("verdict") != "DELIVER":
        raise SystemExit(
            f"the service did not deliver {what}: {answer.get('verdict')}: {answer.get('reason')}"
            " (the run's alerts are Explosions from polisen@polisen.se around Stockholm: the"
            " service's policy, GEOTARGET_POLICY if set, must let them through); nothing was"
            " measured"
        )
    return list(answer.get("deliveries", []))


#: The devices the batches draw from (``--devices`` of them each, none twice in a batch).
POPULATION = 200_000


def _batch(b: int, n: int) -> dict[str, Any]:
    rng = np.random.default_rng(1000 + b)
    ids = rng.choice(POPULATION, size=n, replace=False)
    return {
        "ids": [f"dev{i}" for i in ids.tolist()],
        "lon": (CENTRE[0] + rng.normal(0, 0.06, n)).tolist(),
        "lat": (CENTRE[1] + rng.normal(0, 0.03, n)).tolist(),
        "accuracy_m": rng.uniform(5, 50, n).tolist(),
        "observed_at": [AT.isoformat()] * n,
    }


def run(
    *,
    store: str = "",
    rate: float = 3.0,
    batches: int = 180,
    devices: int = PILOT_BATCH,
    n_alerts: int = 20,
    updates_every: int = 20,
    clients: int = 4,
    max_seconds: float = 120.0,
) -> dict[str, Any]:
    """Run the load against a fresh service process; return the measurements.

    Returns a dict: ``batches`` and ``fixes`` posted in the timed part, ``seconds`` from the
    first scheduled batch to the last answer, ``fixes_per_s``, ``requests``, ``deliveries``
    confirmed, ``lag`` (seconds each batch started after its scheduled time, paced runs only)
    and ``latency``: per endpoint, the list of seconds per request.
    """
    tmp = Path(tempfile.mkdtemp(prefix="gt-load-"))
    where = store or str(tmp / "deliveries.db")
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
        env={**os.environ, "GEOTARGET_STORE": where},
    )
    lat: dict[str, list[float]] = {}
    lag: list[float] = []
    told = [0]
    guard = threading.Lock()
    client = httpx2.Client(
        transport=httpx2.HTTPTransport(uds=sock), base_url="http://service", timeout=120
    )
    try:
        until, last = time.perf_counter() + START_SECONDS, None
        while True:
            if proc.poll() is not None:
                raise SystemExit("the service did not start (its standard error says why)")
            try:
                answer = client.get("/ready")  # listens; its store answers
            except httpx2.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200:
                break
            if answer is not None and last is None:  # it listens: READY_SECONDS from now
                until = time.perf_counter() + READY_SECONDS
            if answer is not None:
                last = f"{answer.status_code}: {answer.text}"
            if time.perf_counter() > until:
                # (It said "did not answer in 60 s" where the service answered 503 all along,
                # naming its store's failure: a PostgreSQL server down, a refused password.)
                raise SystemExit(
                    f"the service did not listen in {START_SECONDS:g} s"
                    if last is None
                    else f"the service was not ready in {READY_SECONDS:g} s: GET /ready"
                    f" answered {last}"
                )
            time.sleep(0.05)
        deadline = time.perf_counter() + max_seconds
        at = {"at": (AT + dt.timedelta(minutes=1)).isoformat()}

        def call(path: str, **kw: Any) -> Any:
            t0 = time.perf_counter()
            r = client.post(path, params=at, **kw)
            took = time.perf_counter() - t0
            with guard:
                lat.setdefault(path, []).append(took)
            r.raise_for_status()
            return r.json()

        def confirm(deliveries: list[dict[str, str]]) -> None:
            if deliveries:
                call("/confirm", json={"keys": [d["key"] for d in deliveries]})
            with guard:
                told[0] += len(deliveries)

        call("/positions", json=_batch(0, devices))
        with ThreadPoolExecutor(clients) as pool:
            for i, got in enumerate(
                pool.map(lambda i: call("/alerts", content=_alert(i)), range(n_alerts))
            ):
                confirm(_delivered(got, f"alert LOAD-{i}"))
            posted = [0]
            t_start = time.perf_counter()

            def one(b: int) -> None:
                due = t_start + (b - 1) / rate if rate > 0 else time.perf_counter()
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                now = time.perf_counter()
                if now > deadline:
                    return
                if rate > 0:
                    with guard:
                        lag.append(now - due)
                confirm(call("/positions", json=_batch(b, devices))["deliveries"])
                with guard:
                    posted[0] += 1
                if updates_every and n_alerts and b % updates_every == 0:
                    k = b // updates_every
                    got = call("/alerts", content=_alert(k % n_alerts, k))
                    confirm(_delivered(got, f"the Update LOAD-{k % n_alerts}-U{k}"))

            list(pool.map(one, range(1, batches + 1)))
            elapsed = time.perf_counter() - t_start
    finally:
        client.close()  # (also when the run stops early: its connections, not left to gc)
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)  # its socket, and the store unless given
    fixes = posted[0] * devices
    return {
        "store": _store_named(where) if store else "a temporary SQLite file, removed",
        "rate": rate,
        "clients": clients,
        "alerts": n_alerts,
        "batches": posted[0],
        "fixes": fixes,
        "seconds": elapsed,
        "fixes_per_s": fixes / elapsed if elapsed > 0 else 0.0,
        "requests": sum(len(v) for v in lat.values()),
        "deliveries": told[0],
        "lag": lag,
        "latency": lat,
    }


def report(got: dict[str, Any]) -> str:
    """The measurements as the lines ``main`` prints."""
    paced = (
        f"{got['rate']:g} batches/s scheduled ({got['rate'] * PILOT_BATCH / PILOT_FIXES_PER_S:g}x"
        " the pilot's rate)"
        if got["rate"] > 0
        else "unpaced"
    )
    lines = [
        f"{got['batches']} batches, {got['fixes']:,} fixes in {got['seconds']:.1f} s: "
        f"{got['fixes_per_s']:,.0f} fixes/s ({got['fixes_per_s'] / PILOT_FIXES_PER_S:.1f}x the "
        f"pilot's {PILOT_FIXES_PER_S:,} fixes/s); {paced}; {got['requests']} requests "
        f"({got['requests'] / got['seconds']:.1f}/s), {got['deliveries']:,} deliveries "
        f"confirmed, {got['alerts']} alerts, {got['clients']} clients, store {got['store']}"
    ]
    if got["lag"]:
        p50, p95, p99 = np.percentile(np.array(got["lag"]) * 1e3, [50, 95, 99])
        lines.append(
            f"  start lag   n={len(got['lag']):5d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
            f"p99 {p99:7.1f} ms  max {max(got['lag']) * 1e3:.1f} ms"
        )
    for path, v in sorted(got["latency"].items()):
        p50, p95, p99 = np.percentile(np.array(v) * 1e3, [50, 95, 99])
        lines.append(
            f"  {path:11s} n={len(v):5d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
        )
    return "\n".join(lines)


def _whole(least: int, most: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``least`` (to ``most``), else a usage error."""

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least or (most is not None and value > most):
            upto = f" to {most:,}" if most is not None else ""
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {least}{upto} (got {text!r})"
            )
        return value

    return read


def _seconds(least: float, *, zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number above ``least`` (or equal to it with ``zero``)."""

    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < least or (value == least and not zero):
            above = f"{least:g} or more" if zero else f"more than {least:g}"
            raise argparse.ArgumentTypeError(f"must be a number, {above} (got {text!r})")
        return value

    return read


def main(argv: list[str] | None = None) -> int:
    """Run the load; print the numbers.

    A value the run cannot use is a usage error naming it (exit status 2) before the service
    starts: ``--clients 0`` was a ``ValueError`` traceback from the thread pool, ``--devices``
    past :data:`POPULATION` one from numpy, ``--rate -1`` an unpaced run without a word.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", default="")
    parser.add_argument(
        "--rate", type=_seconds(0.0, zero=True), default=3.0, help="batches/s; 0: unpaced"
    )
    parser.add_argument("--batches", type=_whole(1), default=180)
    parser.add_argument("--devices", type=_whole(1, POPULATION), default=PILOT_BATCH)
    parser.add_argument("--alerts", type=_whole(0), default=20)
    parser.add_argument("--updates-every", type=_whole(0), default=20)
    parser.add_argument("--clients", type=_whole(1), default=4)
    parser.add_argument("--max-seconds", type=_seconds(0.0, zero=False), default=120.0)
    args = parser.parse_args(argv)
    got = run(
        store=args.store,
        rate=args.rate,
        batches=args.batches,
        devices=args.devices,
        n_alerts=args.alerts,
        updates_every=args.updates_every,
        clients=args.clients,
        max_seconds=args.max_seconds,
    )
    print(report(got))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
