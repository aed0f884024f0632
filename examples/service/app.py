"""A reference ASGI service embedding geotarget: alerts in, pending deliveries, confirmations.

One process holds one :class:`~geotarget.targeting.Targeter` (the planner: who is in the area)
and one delivery store (:mod:`geotarget.ledger`, shared by every process of the service). The
latest snapshot of device positions is an immutable :class:`~geotarget.matcher.PositionIndex`
swapped atomically. Endpoints:

``POST /alerts``      a CAP 1.2 document: admitted into the store (Alert, Update or Cancel);
                      returns the pending deliveries (or retractions) to push.
``POST /positions``   a batch of fixes (JSON columns): becomes the current snapshot; returns the
                      pending deliveries of every active alert for the devices in it.
``POST /confirm``     ``{"keys": [...]}``: the deliveries the push service accepted.
``POST /redeliver``   pending deliveries whose lease ran out (call it every few seconds).
``GET  /explain``     ``?incident=&device=``: why a device does or does not receive an alert.

Each endpoint takes ``?at=`` (ISO 8601 with an offset) for reproducible runs; it defaults to
now. A store failure answers 503 with the :class:`~geotarget.errors.StoreError` message, and the
service keeps answering what does not need the store (``/explain``).

Until ``Targeter`` adopts the store's protocol itself, the planner runs with a throw-away
:class:`~geotarget.ledger.MemoryLedger` per call, so it reports everyone covered; the store then
decides who is new (claims), exactly once across processes.

Run: ``GEOTARGET_STORE=/var/lib/geotarget/deliveries.db uvicorn examples.service.app:app``
(``GEOTARGET_STORE`` may also be a PostgreSQL DSN starting with ``postgresql://`` or
``host=``).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from geotarget import PositionIndex, Positions, Targeter, cap, sweden
from geotarget.errors import GeotargetError, StoreError
from geotarget.ledger import (
    Claims,
    DeliveryLedger,
    Incident,
    MemoryLedger,
    PostgresLedger,
    SQLiteLedger,
    Transition,
)
from geotarget.regions import RegionHierarchy
from geotarget.rollout import RolloutPolicy
from geotarget.targeting import Verdict

LEASE = dt.timedelta(seconds=30)

#: Fault injection for the crash tests: ``GEOTARGET_SERVICE_CRASH=claimed`` kills the process
#: with SIGKILL right after a claim committed (before anything was pushed), ``confirmed`` right
#: after a confirmation committed (before the caller heard of it).
CRASH_AT = os.environ.get("GEOTARGET_SERVICE_CRASH", "")


def _crash_point(step: str) -> None:
    if step == CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)


def _deliveries(claims: list[Claims]) -> list[dict[str, str]]:
    return [
        {"key": k, "device": d, "kind": c.kind.value}
        for c in claims
        for k, d in zip(c.keys().tolist(), c.devices.tolist(), strict=True)
    ]


def _at(request: Request) -> dt.datetime:
    raw = request.query_params.get("at")
    if raw is None:
        return dt.datetime.now(dt.timezone.utc)
    at = dt.datetime.fromisoformat(raw)
    if at.tzinfo is None:
        raise GeotargetError(f"at must carry a UTC offset (got {raw!r})")
    return at


class Service:
    """The state of one service process: planner, current positions and the store."""

    def __init__(
        self, store: DeliveryLedger, regions: RegionHierarchy, policy: RolloutPolicy
    ) -> None:
        self.store = store
        self.planner = Targeter(regions, policy, ledger=MemoryLedger())
        self._plan_lock = threading.Lock()
        self.index: PositionIndex | None = None  # swapped whole, never mutated
        self._alerts: dict[tuple[str, str | None], Any] = {}  # parsed CAP, per version

    def forget_except(self, current: set[tuple[str, str | None]]) -> None:
        """Drop parsed alerts of versions no longer current (bounds the cache)."""
        for key in [k for k in self._alerts if k not in current]:
            del self._alerts[key]

    def alert_of(self, incident: Incident) -> Any:
        """The incident's current alert, parsed once per version."""
        key = (incident.key, incident.version)
        alert = self._alerts.get(key)
        if alert is None:
            alert = self._alerts[key] = incident.alert
        return alert

    def resume(self) -> int:
        """After a restart: load each active incident's claimed devices (speed only)."""
        active = self.store.load_active()
        for incident in active:
            self.store.warm(incident.key)
        return len(active)

    def covered(self, alert: Any, index: PositionIndex, at: dt.datetime) -> Any:
        """Everyone the planner would tell now (its own ledger is thrown away each call)."""
        with self._plan_lock:
            self.planner.ledger = MemoryLedger()
            return self.planner.target(alert, index, at)

    def deliver(
        self,
        incident: str,
        version: str,
        alert: Any,
        at: dt.datetime,
        index: PositionIndex | None,
    ) -> dict[str, Any]:
        """Plan ``alert`` over ``index`` and claim the covered devices.

        Callers pass the index they hold (the batch they received, or the current snapshot read
        once): another request may swap :attr:`index` meanwhile.
        """
        if index is None:
            return {"verdict": None, "reason": "no positions yet", "deliveries": []}
        result = self.covered(alert, index, at)
        out: dict[str, Any] = {"verdict": result.verdict.value, "reason": result.reason}
        if result.verdict is not Verdict.DELIVER:
            out["deliveries"] = []
            return out
        claims = self.store.claim(incident, result.recipients, version=version, at=at, lease=LEASE)
        if len(claims):
            _crash_point("claimed")
        out["claim_status"] = claims.status.value
        out["deliveries"] = _deliveries([claims])
        return out


def create_app(
    store: DeliveryLedger,
    regions: RegionHierarchy | None = None,
    policy: RolloutPolicy | None = None,
) -> Starlette:
    """The ASGI app over ``store`` (Swedish regions and the pilot policy by default)."""
    service = Service(
        store,
        regions if regions is not None else sweden.hierarchy(),
        policy if policy is not None else sweden.pilot_policy(),
    )

    async def alerts(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(await run_in_threadpool(submit_alert, body, _at(request)))

    def submit_alert(document: bytes, at: dt.datetime) -> dict[str, Any]:
        alert = cap.loads(document)
        adm = store.admit(alert, at=at, lease=LEASE)
        body: dict[str, Any] = {
            "transition": adm.transition.value,
            "incident": adm.incident.key if adm.incident else None,
            "version": adm.version,
            "deliveries": [],
        }
        if adm.transition is Transition.RETRACTED and adm.retraction is not None:
            body["deliveries"] = _deliveries([adm.retraction])
        elif adm.transition in (Transition.STARTED, Transition.UPDATED, Transition.SAME):
            assert adm.incident is not None
            body |= service.deliver(adm.incident.key, adm.version, alert, at, service.index)
        return body

    async def positions(request: Request) -> Response:
        data = await request.json()
        return JSONResponse(await run_in_threadpool(submit_positions, data, _at(request)))

    def submit_positions(data: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
        snapshot = Positions(
            data["ids"],
            np.asarray(data["lon"], dtype=np.float64),
            np.asarray(data["lat"], dtype=np.float64),
            accuracy_m=np.asarray(data["accuracy_m"], dtype=np.float64),
            observed_at=[dt.datetime.fromisoformat(t) for t in data["observed_at"]],
        )
        index = PositionIndex(snapshot)
        service.index = index  # the atomic swap; this request keeps using its own batch
        found: list[dict[str, Any]] = []
        active = store.load_active()
        service.forget_except({(i.key, i.version) for i in active})
        for incident in active:
            alert = service.alert_of(incident)
            if alert is None or incident.version is None:
                continue
            got = service.deliver(incident.key, incident.version, alert, at, index)
            found += got["deliveries"]
        return {"deliveries": found}

    async def confirm(request: Request) -> Response:
        data = await request.json()
        done = await run_in_threadpool(store.confirm, data["keys"], at=_at(request))
        _crash_point("confirmed")
        return JSONResponse(
            {
                "confirmed": int(done.confirmed.size),
                "already": int(done.already.size),
                "unknown": int(done.unknown.size),
            }
        )

    async def redeliver(request: Request) -> Response:
        return JSONResponse({"deliveries": _deliveries(store.redeliver(_at(request), lease=LEASE))})

    async def explain(request: Request) -> Response:
        incident = store.incident(request.query_params["incident"])
        alert = incident.alert if incident is not None else None
        if alert is None or service.index is None:
            return PlainTextResponse("unknown incident or no positions yet", status_code=404)
        result = service.covered(alert, service.index, _at(request))
        return PlainTextResponse(result.explain(request.query_params["device"]))

    async def store_failed(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=503)

    async def bad_input(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=400)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.resume()
        yield
        store.close()

    return Starlette(
        routes=[
            Route("/alerts", alerts, methods=["POST"]),
            Route("/positions", positions, methods=["POST"]),
            Route("/confirm", confirm, methods=["POST"]),
            Route("/redeliver", redeliver, methods=["POST"]),
            Route("/explain", explain, methods=["GET"]),
        ],
        exception_handlers={StoreError: store_failed, GeotargetError: bad_input},
        lifespan=lifespan,
    )


def store_from_env() -> DeliveryLedger:
    """The store named by ``GEOTARGET_STORE``: a PostgreSQL DSN or a SQLite file path."""
    where = os.environ.get("GEOTARGET_STORE", "deliveries.db")
    if where.startswith(("postgresql://", "postgres://", "host=")):
        return PostgresLedger(where)
    return SQLiteLedger(where)


def app() -> Starlette:
    """``uvicorn --factory examples.service.app:app``."""
    return create_app(store_from_env())
