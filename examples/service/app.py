"""A reference ASGI service embedding geotarget: alerts in, pending deliveries, confirmations.

One process holds ONE :class:`~geotarget.targeting.Targeter` over the delivery store shared by
every process of the service (:mod:`geotarget.ledger`): incidents, claims and confirmations live
in the store, so any process may take any request, and a restarted one resumes the active
alerts at once. The latest snapshot of device positions is an immutable
:class:`~geotarget.matcher.PositionIndex` swapped atomically (one assignment). Endpoints:

``POST /alerts``      a CAP 1.2 document (Alert, Update or Cancel) as received:
                      ``Targeter.receive`` over the current snapshot (strict reading, axis
                      order, signature where the issuer must sign, kind recognition, the
                      issuer's authority); returns the verdict, its reason, the kind, the rule
                      that recognised it, the issuer, and the pending deliveries (or
                      retractions) to push. A sender that got no answer re-sends: the same
                      version again claims only what is not claimed yet.
``POST /positions``   a batch of fixes (JSON columns): returns the pending deliveries of every
                      active alert for the devices in it (``Targeter.on_positions``), then
                      becomes the current snapshot (not when the store refused the batch).
``POST /confirm``     ``{"keys": [...]}``: the deliveries the push service accepted.
``POST /redeliver``   pending deliveries whose lease ran out (call it every few seconds).
``GET  /explain``     ``?incident=&device=``: why a device does or does not receive an alert
                      (``Targeter.preview``: changes nothing).

Each endpoint takes ``?at=`` (ISO 8601 with an offset) for reproducible runs; it defaults to
now. A request the service cannot read answers 400 naming the field and the rule (not JSON, a
missing or non-list column, a bool among coordinates: never a 500), a body larger than the
service reads answers 413 before it is buffered (:data:`MAX_ALERT_BODY`,
:data:`MAX_POSITIONS_BODY`). A store failure answers 503 with the
:class:`~geotarget.errors.StoreError` message (nothing of the request was applied), and the
service keeps answering what does not need the store.

The Targeter is built as the integrator's guide recommends, from ONE policy file (TOML or JSON,
by its ``.toml`` or ``.json`` suffix) read by :func:`geotarget.load_policy`: its rollout, its
``[[recognition]]`` rules (then the pilot's defaults, :data:`geotarget.pilot.RECOGNITION`), its
``[location_rules.<kind>]`` tables (the location rules that register a kind beyond the pilot's,
or replace a pilot kind's) and its ``[[issuers]]`` table — who may issue which kinds where, and
which issuer ``acts_for`` which (an Update or Cancel from another sender is refused unless its
issuer acts for the incident's) — each checked against the regions when the service starts. A
file without an issuer table is refused (write ``issuers = "any"`` to accept every sender): the
service never assumes it. An alert from a sender no issuer lists, or outside its issuer's kinds
or regions, reaches nobody; the answer says why.

Run: ``GEOTARGET_STORE=/var/lib/geotarget/deliveries.db GEOTARGET_POLICY=policy.toml uvicorn
--factory examples.service.app:app`` (``GEOTARGET_STORE`` may also be a PostgreSQL DSN starting
with ``postgresql://`` or ``host=``; ``GEOTARGET_POLICY`` defaults to the example pilot policy,
``docs/examples/pilot_policy.toml``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from geotarget import PositionIndex, Positions, Targeter, cap, load_policy, parse_time, sweden
from geotarget.errors import GeotargetError, InvalidInput, StoreError
from geotarget.ledger import Claims, DeliveryLedger, PostgresLedger, SQLiteLedger
from geotarget.regions import RegionHierarchy

LEASE = dt.timedelta(seconds=30)

#: The largest ``POST /alerts`` body read: geotarget reads no larger CAP document.
MAX_ALERT_BODY = cap.MAX_DOCUMENT_BYTES
#: The largest JSON body read by ``POST /positions`` and ``/confirm`` (``GEOTARGET_MAX_BODY``
#: bytes; default 256 MiB, about 2 million fixes as JSON columns).
MAX_POSITIONS_BODY = int(os.environ.get("GEOTARGET_MAX_BODY", str(256 * 2**20)))


class _TooLarge(Exception):
    """A request body over the service's limit (answered 413)."""


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused once it passes ``limit`` bytes (never buffered whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"request body is {int(declared):,} bytes: at most {limit:,} are read")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"request body is over {limit:,} bytes: at most {limit:,} are read")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_object(request: Request, required: tuple[str, ...]) -> dict[str, Any]:
    """The body as a JSON object whose ``required`` members are lists."""
    body = await _body(request, MAX_POSITIONS_BODY)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InvalidInput(f"request body must be a JSON object ({err})") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"request body must be a JSON object (got {type(data).__name__})")
    for name in required:
        if name not in data:
            raise InvalidInput(f"request body lacks {name!r} (needs {', '.join(required)})")
        if not isinstance(data[name], list):
            raise InvalidInput(f"{name} must be a JSON list (got {type(data[name]).__name__})")
    return data


def _numbers(column: list[Any]) -> list[Any]:
    """A JSON column with null (no value) as NaN; everything else as sent."""
    if not isinstance(column, list):
        raise InvalidInput(f"a column must be a JSON list (got {type(column).__name__})")
    return [math.nan if v is None else v for v in column] if None in column else column


def _param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise InvalidInput(f"query parameter {name!r} is required")
    return value


#: The policy file read when ``GEOTARGET_POLICY`` names none: the example pilot policy.
EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "docs" / "examples" / "pilot_policy.toml"


#: Fault injection for the crash tests (SIGKILL, no clean-up): ``claiming`` while a claim runs
#: (a timer fires during the store call: before or after its commit), ``claimed`` right after a
#: claim committed (before anything was pushed), ``confirming`` while a confirmation runs,
#: ``confirmed`` right after it committed (before the caller heard of it).
CRASH_AT = os.environ.get("GEOTARGET_SERVICE_CRASH", "")


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Crashing:
    """A store that kills its process at :data:`CRASH_AT` (the fault tests only)."""

    def __init__(self, inner: DeliveryLedger) -> None:
        self.inner = inner

    def _during(self, step: str) -> None:
        if step == CRASH_AT:
            threading.Timer(0.002, _kill).start()

    def claim(self, *args: Any, **kw: Any) -> Any:
        self._during("claiming")
        got = self.inner.claim(*args, **kw)
        if CRASH_AT == "claimed" and len(got):
            _kill()
        return got

    def confirm(self, *args: Any, **kw: Any) -> Any:
        self._during("confirming")
        got = self.inner.confirm(*args, **kw)
        if CRASH_AT == "confirmed":
            _kill()
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


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
    return parse_time(raw, field="at")


def _instants(raw: list[str]) -> npt.NDArray[np.datetime64]:
    """ISO 8601 instants with a UTC offset, as UTC ``datetime64[us]``; one parse per distinct text.

    A batch's fixes share few distinct times (seconds, within the batch's window), so this is
    far cheaper than a ``datetime`` per fix.
    """
    try:
        texts, inverse = np.unique(np.asarray(raw, dtype=np.str_), return_inverse=True)
    except ValueError as err:  # nested lists of several lengths
        raise InvalidInput(f"observed_at must be a list of ISO 8601 texts ({err})") from None
    out = np.empty(texts.size, dtype="datetime64[us]")
    for i, text in enumerate(texts.tolist()):
        try:
            at = parse_time(text, field="observed_at")
        except InvalidInput:
            row = int(np.flatnonzero(inverse.reshape(-1) == i)[0])
            raise InvalidInput(
                f"observed_at[{row}] must be an ISO 8601 instant with a UTC offset (got {text!r})"
            ) from None
        out[i] = np.datetime64(at.astimezone(dt.timezone.utc).replace(tzinfo=None), "us")
    return out[inverse.reshape(-1)]


def _empty_index() -> PositionIndex:
    return PositionIndex(
        Positions([], [], [], observed_at=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
    )


def create_app(
    store: DeliveryLedger,
    regions: RegionHierarchy | None = None,
    policy: Path | None = None,
) -> Starlette:
    """The ASGI app over ``store``: Swedish regions and ``policy`` (a policy file) by default.

    ``policy`` defaults to ``GEOTARGET_POLICY``, else :data:`EXAMPLE_POLICY`.
    """
    ledger: Any = _Crashing(store) if CRASH_AT else store
    regions = regions if regions is not None else sweden.hierarchy()
    if policy is None:
        policy = Path(os.environ.get("GEOTARGET_POLICY", EXAMPLE_POLICY))
    # Checked against the regions; a file without an issuer table is refused (write
    # issuers = "any" to accept every sender): the service never assumes it.
    loaded = load_policy(policy, catalog=regions, issuers_required=True)
    targeter = Targeter(
        regions,
        loaded.rollout,
        location_rules=loaded.location_rules,
        recognition=loaded.recognition,
        issuers=loaded.issuers,
        ledger=ledger,
        lease=LEASE,
    )
    current = {"index": _empty_index()}  # swapped whole (one assignment), never mutated

    async def alerts(request: Request) -> Response:
        body = await _body(request, MAX_ALERT_BODY)
        return JSONResponse(await run_in_threadpool(submit_alert, body, _at(request)))

    def submit_alert(document: bytes, at: dt.datetime) -> dict[str, Any]:
        result = targeter.receive(document, current["index"], at)
        return {
            "verdict": result.verdict.value,
            "reason": result.reason,
            "incident": result.incident,
            "alert": result.alert_id,
            "kind": result.kind,
            "recognised_by": result.recognised_by,
            "issuer": result.issuer,
            "deliveries": _deliveries([result.claims]) if result.claims is not None else [],
        }

    async def positions(request: Request) -> Response:
        data = await _json_object(request, ("ids", "lon", "lat", "observed_at"))
        return JSONResponse(await run_in_threadpool(submit_positions, data, _at(request)))

    def submit_positions(data: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
        # The JSON lists go to Positions as they are (null: no fix, NaN): it refuses a bool or
        # a text among coordinates naming the column (a float64 cast read true as longitude 1).
        snapshot = Positions(
            data["ids"],
            _numbers(data["lon"]),
            _numbers(data["lat"]),
            accuracy_m=None if data.get("accuracy_m") is None else _numbers(data["accuracy_m"]),
            observed_at=_instants(data["observed_at"]),
        )
        index = PositionIndex(snapshot)
        found = targeter.on_positions(snapshot, at)  # this request uses its own batch
        # The atomic swap, last: a batch the store refused (503) changes nothing, not even the
        # snapshot, and is sent again.
        current["index"] = index
        return {
            "deliveries": [
                {"key": d.key, "device": str(d.device_id), "kind": "alert"} for d in found
            ]
        }

    async def confirm(request: Request) -> Response:
        data = await _json_object(request, ("keys",))
        done = await run_in_threadpool(targeter.confirm, data["keys"], _at(request))
        return JSONResponse(
            {
                "confirmed": int(done.confirmed.size),
                "already": int(done.already.size),
                "unknown": int(done.unknown.size),
            }
        )

    async def redeliver(request: Request) -> Response:
        at = _at(request)
        return JSONResponse(
            {"deliveries": _deliveries(await run_in_threadpool(targeter.redeliver, at))}
        )

    async def explain(request: Request) -> Response:
        device = _param(request, "device")
        incident = await run_in_threadpool(store.incident, _param(request, "incident"))
        alert = incident.alert if incident is not None else None
        if alert is None:
            return PlainTextResponse("unknown incident", status_code=404)
        result = targeter.preview(alert, current["index"], _at(request))
        return PlainTextResponse(result.explain(device))

    async def store_failed(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=503)

    async def bad_input(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=400)

    async def too_large(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=413)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Speed only: remember each active incident's claimed devices, so the first Update
        # after a restart sends only new devices to the store.
        try:
            for incident in store.load_active():
                store.warm(incident.key)
        except StoreError:
            pass  # the store is down: serve what does not need it, and recover when it is back
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
        exception_handlers={
            StoreError: store_failed,
            GeotargetError: bad_input,
            _TooLarge: too_large,
        },
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
