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
                      version again claims only what is not claimed yet. ``next_change``
                      (ISO 8601, or null): when an alert that reached nobody yet may reach
                      people (its effective time or onset, the phase that enables its kind or
                      its regions);
                      ``POST /redeliver`` then delivers it. ``?confirm=true`` sends one the
                      blast-radius guard held (``BLAST_RADIUS``: its area or recipients over
                      its kind's limits), as ``Targeter.receive(confirm=True)``: POST the same
                      document again with it.
``POST /positions``   a batch of fixes (JSON columns of one length): ``{"ids": [...], "lon":
                      [...], "lat": [...], "accuracy_m": [...], "observed_at": [...]}`` — ids
                      texts or integers, WGS84 degrees (null: no fix), the horizontal
                      accuracy in metres, ISO 8601 texts with a UTC offset
                      (``"2024-05-20T16:00:00+02:00"``); all five required (a fix is
                      never taken as exact: no ``accuracy_m``, a 400), and optionally
                      ``"tester": [true, false, ...]``, the devices that receive Test and
                      Exercise alerts (without it none does: such an alert reaches nobody);
                      no other member taken (``hAcc``: a 400 naming it, never ignored); returns
                      ``{"deliveries": [{"key", "device", "kind"}, ...]}``, the pending
                      deliveries of every active alert for the devices in it
                      (``Targeter.on_positions``; not from a fix older than one this
                      process took of the same device: a batch held up on its way; a fix
                      stamped more than :data:`AHEAD_TAKEN` after it arrived counts as
                      observed on arrival), then becomes the current snapshot (not when
                      the store refused the batch).
``POST /confirm``     ``{"keys": ["<incident> <version> <device>", ...]}``: the deliveries the
                      push service accepted; returns ``{"confirmed", "already", "unknown"}``
                      counts. Keys of at most :data:`MAX_CONFIRM_VERSIONS` alert versions
                      a request (a 400 beyond).
``POST /redeliver``   pending deliveries whose lease ran out — at most ``?limit=`` of them
                      (default and largest :data:`REDELIVER_LIMIT`; an answer that full
                      means more may be due: call again) — and those of alerts whose onset
                      or enabling phase has come since they were posted
                      (``Targeter.retarget``): call it every few seconds. Its body is
                      empty (or an empty JSON object): ``{"limit": 5}`` is a 400, its
                      parameters are in the query.
``GET  /explain``     ``?incident=&device=``: why a device does or does not receive an alert
                      (``Targeter.preview`` of its newest fix kept: changes nothing); the
                      incident by its key or the id of any version of it (an Update's, a
                      Cancel's: ``sender/identifier``); 404 for an unknown incident, or a
                      device of no batch kept (write a ``+`` of an id as ``%2B``: a query
                      reads it as a space, which the 404 names).
``GET  /ready``      for a load balancer's or an orchestrator's probe (changes nothing):
                      ``{"status": "ready", "active_incidents": N}`` once the store answers a
                      read, else 503 naming the :class:`~geotarget.errors.StoreError` (the
                      store down, or not opened yet); the process listens only once it has
                      started, and stops listening as it stops.

Each endpoint takes ``?at=`` (ISO 8601 with an offset, its ``+`` written ``%2B``: a query reads
``+`` as a space, which the 400 names) for reproducible runs; it defaults to
now. A request the service cannot read answers 400 naming the field, the value and the rule,
never a 500: a query parameter the endpoint does not take or given twice, not JSON (or not
UTF-8: the first other byte named, and a ``charset`` the header gives; a CAP document not in
UTF-8 whose encoding only that ``charset`` names, not its XML declaration), a query's
percent-escape that is not UTF-8 (``?device=%E5``), a member
named twice in one object (readers differ on which value counts: none is taken), a missing or
non-list column (``accuracy_m`` included), a member the endpoint does not take, a value of the
wrong JSON type in a column (a bool or a text among coordinates, a list anywhere: ``lon[3] must
be a number or null (got true)``), ``NaN`` or ``Infinity`` (not JSON, though Python writes
them), an integer of more digits than Python converts (4,300), a number past a float's range
(``1e999``, ``2**1024``), one coordinate of a fix null (the other a number), an id past 64
bits, a time :func:`geotarget.parse_time` refuses (naive, or outside the years 1 to 9999 in
UTC), a malformed delivery key. A scalar value is quoted as JSON and cut after
:data:`SHOWN_CHARS` characters, its size said; a list or an object is described, never quoted
(``ids[1] must be a text or an integer id (got a JSON object of 5 members: "id", "lon", "lat",
...)``): where a scalar belongs it is most likely a position pair or a whole fix (records sent
instead of columns), and whoever reads a 400 logs it. A lone coordinate is quoted (``lat[0] must
be a number or null (got "59.3")``): it places nobody; a text of two decimal numbers
(``"59.3326,18.0654"``, a pair written as text), or of two whole numbers of five digits or more
(``"674032 6580822"``, metres), is described by its size. No answer is longer than
:data:`MAX_MESSAGE`. A body sent with a ``Content-Encoding`` (``gzip``: an HTTP client's
compression) answers 415 naming it, with ``Accept-Encoding: identity``, before it is read: send
it uncompressed. A form upload (``Content-Type: multipart/...``, ``curl -F``) answers 415 before
it is read, and so does a CAP document sent as a form's ``application/x-www-form-urlencoded``
(what ``curl -d`` sends: it drops the file's line ends, changing the alert's text and breaking a
signature): send the body itself (``curl --data-binary @FILE``); JSON is read whatever its
``Content-Type`` (a JSON body sent by ``curl -d`` loses only white space). A body larger than
the service reads answers 413 before it is buffered (:data:`MAX_ALERT_BODY`,
:data:`MAX_POSITIONS_BODY`); one that would take the bodies held at once past
:data:`MAX_INFLIGHT` answers 503 with ``Retry-After`` (busy: nothing applied, send it again),
and one larger than :data:`MAX_INFLIGHT` itself 413. A body that has not arrived within
:data:`BODY_SECONDS` answers 408 and its connection is closed, as does every answer sent before
the body was read whole (``Connection: close``: a 400 of the query, a 413, a 415, a 503 busy),
the rest of it not read. What a ``/confirm``'s keys take
as the store reads them (4 bytes a character of the longest key, for every key) is held in that
budget too. A client that hangs up mid-body is one line at INFO on the ``examples.service``
logger (no traceback); under uvicorn that logger writes where uvicorn's own log does, at its
``--log-level``, each message on one line (unless a ``--log-config`` or the root logger gives it
handlers of its own). A store failure answers 503 with the :class:`~geotarget.errors.StoreError`
message, and ``Retry-After`` (:data:`STORE_RETRY_AFTER`) when it may pass: the store down, busy,
read-only or full, not corrupt (nothing of the request was applied, but for a ``/positions``
batch over several active alerts whose claim failed at a later alert: the message names the
claims made before it, which ``/redeliver`` offers once their lease runs out), and the service
keeps answering what does not need the store; a service started while its store cannot
be opened (PostgreSQL down, the SQLite file's directory not mounted yet) logs why, does the
same, and opens the store at the first request once it can (one line in the log). A SQLite
store file removed while the service runs answers 503 until a file is at its path again
(restored from a backup, or made by an instance started meanwhile), which the next request
opens (one line in the log); no new empty store is made in its place. Nothing of a request's
positions is
ever logged, nor quoted in an answer as a pair. uvicorn's access log writes each request line,
``/explain``'s ``?device=`` included (a device id, no position; its answer, inside or outside,
is not logged): run uvicorn with ``--no-access-log`` where device ids must not reach the log
either. The service keeps the latest batch of positions as its snapshot until the next batch
replaces it, and its latest batches, at most :data:`RETAINED_FIXES` fixes: ``/alerts`` targets
each device's newest fix over them and the latest batch, kept or not (by ``observed_at``;
``/explain`` explains that fix), so an
alert reaches at once every device whose latest fix this process took (and so does one whose time
came, through ``/redeliver``), a batch taken while the alert was being targeted included (the
alert streams it once live, or the batch streams again); any other device in its area is told
by ``on_positions`` when its next fix arrives, through any instance. Nothing else of a request
is kept once it is answered.

An error answer is its message as plain text, or, when the request's ``Accept`` prefers
``application/problem+json`` or ``application/json`` to ``text/plain`` (not ``*/*`` alone), RFC
9457 problem details: ``type``, ``title``, ``status``, ``detail`` (the message), ``instance``
(the path), ``error`` (the :mod:`geotarget.errors` class, or the service's own name:
``TooLarge``, ``Busy``, ``Slow``, ``Encoded``, ``UnsupportedMediaType``, ``NotFound``,
``MethodNotAllowed``, ``InternalError``, ``Stopped``) and, for a message ``FIELD must RULE (got
VALUE)`` (or ``FIELD is not ...``, ``FIELD has ...``: a time refused),
``field`` (``lat[1]``), ``rule`` and ``value`` (as the message shows it). An alert version id
re-used for other content (``DuplicateIdentifier``) is a 409 naming the first difference as
``field``, with its value first stored as ``stored`` and in this request as ``received``, an
unknown path a 404 naming the endpoints (an endpoint's path with a trailing slash too, naming
the endpoint: never a redirect; a target in absolute form, ``http://host/ready``, is its path),
a method an endpoint does not take a 405
with ``Allow``, a fault of the service a 500 naming only the exception's class (its message may
quote anything; the log has the traceback).

A rolling restart: on ``SIGTERM`` uvicorn stops taking connections and waits for the requests
running; past its ``--timeout-graceful-shutdown`` (none by default: it waits) it cancels them,
and each answers 503 (``Stopped``, ``Retry-After``, ``Connection: close``) saying whether
anything of it may have been applied (nothing while its body was still arriving), to be sent
again to another instance: the store holds what was applied, so nothing is told twice, and the
deliveries the stopped instance claimed are offered by ``POST /redeliver`` once their lease runs
out. The other instances over the same store carry on. Give ``--timeout-graceful-shutdown`` a
few seconds less than the supervisor waits before it kills the process (Kubernetes'
``terminationGracePeriodSeconds``, systemd's ``TimeoutStopSec``): a killed process answers
nothing, its clients' connections simply closed. Each instance reads the time (the leases it
grants and the ones it finds run out) from its machine's clock: keep the clocks of the machines
running instances synchronised (NTP) to well within the lease (30 s). An instance whose clock
runs a lease ahead of another's offers again through ``POST /redeliver``, at once, the
deliveries the other has just claimed and pushed: those devices are told twice.

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

Install Starlette and uvicorn, the ``service`` dependency group of ``pyproject.toml``, with
geotarget, from the checkout's root (pip 25.1 or later): ``pip install -e . --group service``.
Run, from the checkout's root: ``GEOTARGET_STORE=/var/lib/geotarget/deliveries.db
GEOTARGET_POLICY=policy.toml uvicorn --factory examples.service.app:app``
(``GEOTARGET_STORE`` may also be a PostgreSQL DSN: a ``postgresql://`` URL or libpq's
keyword form, ``host=db dbname=alerts``; a URL of another scheme is refused; without it the
store is the SQLite file ``deliveries.db`` in the working directory, created if missing;
``GEOTARGET_POLICY`` defaults to the example pilot policy,
``docs/examples/pilot_policy.toml``). A mistake in the configuration (the policy file, a
``GEOTARGET_*`` number, a store that is not one, a ``GEOTARGET_STORE`` starting or ending with
white space, a ``GEOTARGET_STORE`` or ``GEOTARGET_POLICY`` set but empty, a ``GEOTARGET_*``
variable nothing reads, such as a misspelt one, a ``GEOTARGET_SERVICE_CRASH``, the crash tests'
fault injection, naming no step of :data:`CRASH_AT`) stops the service before it listens: its
message on standard error, exit status 1, no traceback. Under ``uvicorn --workers N`` each
worker is one process of the service as above (one Targeter, its own snapshot, the shared
store); a mistake stops every worker and uvicorn's supervisor, whose exit status is then 0
(uvicorn passes no worker's status on): read its standard error, or run one uvicorn per
process under a supervisor that sees each status. The policy file is read when a process
starts: an edit takes effect as each process starts again (uvicorn's ``SIGHUP`` replaces its
workers; where an edit is a mistake, uvicorn keeps each running worker, the message on
standard error). A single uvicorn process does not reload: on ``SIGHUP`` it keeps serving
with the policy it read at start and logs whether the file as it is now would start a process
(its problems if not); restart it to apply an edit. ``docs/delivery.rst`` shows the bodies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import os
import re
import signal
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import anyio.to_thread
import numpy as np
import numpy.typing as npt
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geotarget import (
    Alert,
    PositionIndex,
    Positions,
    Targeter,
    Verdict,
    cap,
    load_policy,
    parse_time,
    sweden,
)
from geotarget.errors import (
    DuplicateIdentifier,
    GeotargetError,
    InvalidInput,
    StoreBusy,
    StoreError,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
)
from geotarget.ledger import (
    Claims,
    DeliveryLedger,
    IncidentState,
    PostgresLedger,
    SQLiteLedger,
)
from geotarget.regions import RegionHierarchy
from geotarget.targeting import Delivery

LEASE = dt.timedelta(seconds=30)

#: What the environment variables the service reads got wrong (``GEOTARGET_MAX_BODY=256M``):
#: :func:`create_app` refuses to build the app while one is here, naming it, and ``app()``
#: exits with that message. (Read when the module is imported: a value that is not a whole
#: number must not stop the import with a traceback, nor be replaced by the default unsaid.)
_ENV_PROBLEMS: list[str] = []


def _env_whole(name: str, default: int, unit: str) -> int:
    """The environment variable ``name``: a whole number of ``unit`` from 1, else ``default``.

    A value that is not one is recorded in :data:`_ENV_PROBLEMS` (the default is returned
    meanwhile, never used to serve: the service does not start).
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) >= 1:
        return int(text)
    _ENV_PROBLEMS.append(
        f"{name} must be a whole number of {unit} from 1, digits only (got {raw[:40]!r})"
    )
    return default


#: The largest ``POST /alerts`` body read: geotarget reads no larger CAP document.
MAX_ALERT_BODY = cap.MAX_DOCUMENT_BYTES
#: The largest JSON body read by ``POST /positions`` and ``/confirm`` (``GEOTARGET_MAX_BODY``
#: bytes; default 256 MiB, about 2 million fixes as JSON columns).
MAX_POSITIONS_BODY = _env_whole("GEOTARGET_MAX_BODY", 256 * 2**20, "bytes")
#: The most request body bytes the process holds at once, over every request being read or
#: answered (``GEOTARGET_MAX_INFLIGHT`` bytes; default twice :data:`MAX_POSITIONS_BODY`): a
#: body that would pass it answers 503 with ``Retry-After`` before more of it is read. What a
#: request costs grows with its body (a JSON batch parsed takes about seven times its bytes),
#: so this bounds the memory of concurrent large requests, which nothing else did.
MAX_INFLIGHT = _env_whole("GEOTARGET_MAX_INFLIGHT", 2 * MAX_POSITIONS_BODY, "bytes")

#: The most seconds a request's body may take to arrive (``GEOTARGET_BODY_SECONDS``; default
#: sixty): then the request answers 408 and its connection is closed, giving back the bytes it
#: held of :data:`MAX_INFLIGHT`. Without it a client that stopped sending (its host gone
#: without closing the connection, a stalled proxy) held its connection and its bytes for as
#: long as the process ran: two such large batches left every later one "busy", and enough
#: of them used up the process's file descriptors.
BODY_SECONDS = _env_whole("GEOTARGET_BODY_SECONDS", 60, "seconds")

#: The paths of the service's endpoints.
_PATHS = ("/alerts", "/positions", "/confirm", "/redeliver", "/explain", "/ready")
#: The service's endpoints, as an unknown path's 404 names them.
ENDPOINTS = (
    "POST /alerts, POST /positions, POST /confirm, POST /redeliver, GET /explain and GET /ready"
)

#: The ``GEOTARGET_*`` variables the service reads.
SERVICE_VARIABLES = (
    "GEOTARGET_STORE",
    "GEOTARGET_POLICY",
    "GEOTARGET_MAX_BODY",
    "GEOTARGET_MAX_INFLIGHT",
    "GEOTARGET_BODY_SECONDS",
    "GEOTARGET_SERVICE_CRASH",
)
#: The ``GEOTARGET_*`` variables other tools of the project read (tests, benchmarks, the
#: throw-away PostgreSQL cluster): set beside the service, they are not its mistakes.
OTHER_TOOLS_VARIABLES = (
    "GEOTARGET_TEST_POSTGRES_DSN",
    "GEOTARGET_SHARED_DATA",
    "GEOTARGET_SHARED_DATA_OPTIONAL",
    "GEOTARGET_DASK_N",
    "GEOTARGET_DASK_EXAMPLES",
    "GEOTARGET_EXPECT_INSTALLED",
)


def _env_unknown(environ: Mapping[str, str]) -> list[str]:
    """The ``GEOTARGET_*`` names (any case) in ``environ`` that nothing of the project reads.

    A misspelt name (``_STORAGE`` or ``_DSN`` for ``_STORE``, ``_MAXBODY``, any name in lower
    case) was ignored without a word: the service then ran on its default, e.g. its own SQLite
    file ``deliveries.db`` instead of the PostgreSQL store every instance shares (each device
    told by each instance).
    """
    known = {*SERVICE_VARIABLES, *OTHER_TOOLS_VARIABLES}
    return sorted(
        name for name in environ if name.upper().startswith("GEOTARGET_") and name not in known
    )


def _env_empty(environ: Mapping[str, str]) -> list[str]:
    """What is wrong with ``GEOTARGET_STORE`` or ``GEOTARGET_POLICY`` set to no text at all.

    (A variable expanded from an unset one in a unit or compose file, ``GEOTARGET_POLICY=$P``.)
    Empty, the policy was the directory ``.`` ("policy file '.' ... is a directory") and the
    store "path must name the store's file (got '')", neither naming the variable; and
    neither is taken as unset: the service would run the example pilot policy, or a store of
    its own in its working directory.
    """
    what = {
        "GEOTARGET_STORE": "a SQLite file path or a PostgreSQL DSN",
        "GEOTARGET_POLICY": "the policy file (.toml or .json)",
    }
    return [
        f"{name} is set but empty (or only white space): it must name {what[name]}; an empty"
        " value is not taken as unset"
        for name in what
        if name in environ and not environ[name].strip()
    ]


_ENV_PROBLEMS.extend(_env_empty(os.environ))
_UNKNOWN_VARIABLES = _env_unknown(os.environ)
if _UNKNOWN_VARIABLES:
    _ENV_PROBLEMS.append(
        f"the environment sets {', '.join(_UNKNOWN_VARIABLES[:5])}"
        f"{' and more' if len(_UNKNOWN_VARIABLES) > 5 else ''}, which the service does not"
        f" read (a misspelt name is not ignored: the service would run on its default); it"
        f" reads {', '.join(SERVICE_VARIABLES[:-1])}"
    )


#: The most deliveries whose lease ran out one ``POST /redeliver`` offers (and its
#: ``?limit=``'s largest value): each is leased again to that caller, who must push them within
#: the lease, and the answer holds them all.
REDELIVER_LIMIT = 10_000

#: Where the service says what it did not answer (a client gone mid-body): one line, at INFO.
LOG = logging.getLogger("examples.service")

#: The most characters of a request value a 400 message quotes; the rest is cut, its size said.
SHOWN_CHARS = 80
#: The longest message an error answer carries (characters): a bound, whatever the cause.
MAX_MESSAGE = 8_000


class _TooLarge(Exception):
    """A request body over the service's limit (answered 413)."""


class _Gone(Exception):
    """The client hung up before its body arrived: nobody is left to answer."""


class _Slow(Exception):
    """The body did not arrive within :data:`BODY_SECONDS` (answered 408, connection closed)."""


class _Encoded(Exception):
    """A body sent with a content coding (gzip, ...): answered 415, nothing of it read."""


class _WrongType(Exception):
    """A body whose ``Content-Type`` wraps or alters it (a form): answered 415, none of it read."""


class _Busy(Exception):
    """The bodies of other requests hold the process's budget (answered 503, Retry-After)."""


class _InFlight:
    """The request body bytes held by the requests being read or answered, within a budget.

    Only the event loop's thread takes and gives (the handlers' async parts): no lock.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @contextmanager
    def hold(self, request: Request) -> Iterator[_Held]:
        """A request's share: what :func:`_body` takes for it, given back when it is answered."""
        held = _Held(self, request)
        try:
            yield held
        finally:
            self.used -= held.size


class _Held:
    """The body bytes one request holds of an :class:`_InFlight` budget."""

    def __init__(self, budget: _InFlight, request: Request) -> None:
        self.budget = budget
        self.request = request
        self.size = 0

    def up_to(self, size: int) -> None:
        """Hold ``size`` bytes in all (more than now), or raise :class:`_Busy`.

        :class:`_TooLarge` for a size over the whole budget: it could never be held.
        """
        more = size - self.size
        if more <= 0:
            return
        budget = self.budget
        if size > budget.limit:  # (never, even alone: not "busy", which says send it again)
            raise _TooLarge(
                f"request body is over {budget.limit:,} bytes, the most the service holds at once"
                " (GEOTARGET_MAX_INFLIGHT): nothing of it was applied"
            )
        if budget.used + more > budget.limit:
            where = f"{self.request.method} {self.request.url.path}"
            raise _Busy(
                f"{where}: the service is busy: other requests hold {budget.used - self.size:,}"
                f" bytes of bodies, this one needs {size:,}, and at most {budget.limit:,} are"
                " held at once (GEOTARGET_MAX_INFLIGHT); nothing of it was applied: send it"
                " again"
            )
        budget.used += more
        self.size = size


#: What ``curl -d`` and an HTML form send: taken for JSON (``curl -d @batch.json``: the line
#: ends it drops are JSON white space), not for a CAP document (its text changes).
_FORM = "application/x-www-form-urlencoded"


def _media_type(request: Request, what: str, document: bool) -> None:
    """Refuse a ``Content-Type`` that wraps or alters the body (:class:`_WrongType`).

    Form parts (``multipart/...``) always, a form's type for a ``document`` (CAP XML); any
    other type, or none, is read as sent.

    A form upload (``curl -F alert=@alert.xml``) was read as the document and answered "the
    text '--1e42...' comes before the root element", or for JSON "Expecting value: line 1
    column 1", naming neither the header nor the cure. ``curl -d @alert.xml`` drops the
    file's line ends: the alert went out with its description's lines run together, and a
    signature over the document no longer matched.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    where = f"{request.method} {request.url.path}"
    if media.startswith("multipart/"):
        raise _WrongType(
            f"{where}: Content-Type {_shown(media)} is not taken: a form upload (curl -F, an"
            f" HTML form) wraps the body in form parts; send the {what} itself as the body"
            " (curl --data-binary @FILE); nothing of it was read"
        )
    if document and media == _FORM:
        raise _WrongType(
            f"{where}: Content-Type {_FORM} is not taken for a {what}: it is what curl -d"
            " sends, and curl -d drops the file's line ends (the alert's text changes, and a"
            " signature over it no longer matches); send it with curl --data-binary @FILE -H"
            " 'Content-Type: application/xml'; nothing of it was read"
        )


async def _body(request: Request, limit: int, held: _Held, what: str = "JSON") -> bytes:
    """The request body, refused once it passes ``limit`` bytes (never buffered whole).

    Its bytes are ``held`` as they arrive (not as declared: a client that declares much and
    sends little holds little): a body the budget cannot hold is refused with :class:`_Busy`
    before more of it is read. ``what`` the body is: ``JSON``, or ``CAP document`` (see
    :func:`_media_type`).
    """
    where = f"{request.method} {request.url.path}"
    _media_type(request, what, document=what != "JSON")
    codings = [
        c.strip().lower() for v in request.headers.getlist("content-encoding") for c in v.split(",")
    ]
    if any(c not in ("", "identity") for c in codings):
        # (A gzip body was read as the text it is not: "request body must be a JSON object
        # ('utf-8' codec can't decode byte 0x8b ...)", which named neither the header nor the
        # coding. Decoding it would let a small body take a thousand times its bytes.)
        raise _Encoded(
            f"{where}: Content-Encoding {_shown(', '.join(codings))} is not taken: send the"
            " body uncompressed (no Content-Encoding, or identity); nothing of it was read"
        )
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit():  # (str.isdigit() alone takes "²")
        digits = declared.lstrip("0") or "0"
        if len(digits) > 18:  # (and no int() of thousands of digits)
            raise _TooLarge(f"request body is over {limit:,} bytes: at most {limit:,} are read")
        if int(digits) > limit:
            raise _TooLarge(f"request body is {int(digits):,} bytes: at most {limit:,} are read")
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(f"request body is over {limit:,} bytes: at most {limit:,} are read")
            held.up_to(size)
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), BODY_SECONDS)
    except ClientDisconnect:
        raise _Gone(f"{where}: the client hung up after {size:,} bytes of its body") from None
    except asyncio.TimeoutError:
        raise _Slow(
            f"{where}: the body did not arrive within {BODY_SECONDS:,} seconds "
            f"(GEOTARGET_BODY_SECONDS; {size:,} bytes came): nothing of it was applied; send it"
            " again"
        ) from None
    request.state.body_read = True  # (see _unread)
    return b"".join(chunks)


#: What :func:`_no_body` read of a body that is not JSON.
_NOT_JSON = object()
#: The most body bytes an endpoint that takes no body reads, to tell an empty one.
_EMPTY_BODY_READ = 1024


async def _no_body(request: Request, held: _Held, query: str) -> None:
    """Refuse a body other than none or an empty JSON object (the parameters are in ``query``).

    ``POST /redeliver`` did not read its body: ``{"limit": 1}`` (an HTTP client's ``json=``)
    or ``limit=1`` (``curl -d``) was ignored without a word, and the caller was leased the
    default number of deliveries where it asked for one, each withheld from the push service
    until its lease ran out; an unknown query parameter is refused for the same reason.
    """
    where = f"{request.method} {request.url.path}"
    try:
        body = await _body(request, _EMPTY_BODY_READ, held)
    except _TooLarge:
        body = None
    if body is not None and not body.strip():
        return
    data: Any = _NOT_JSON  # (JSON's null is JSON: "got null", never "not JSON")
    if body is not None:
        with suppress(InvalidInput):
            data = _json(body, _charset(request))
    if data == {}:
        return
    if isinstance(data, dict):
        named = ", ".join(_shown(name) for name in list(data)[:SHOWN_MEMBERS])
        more = f" and {len(data) - SHOWN_MEMBERS:,} more" if len(data) > SHOWN_MEMBERS else ""
        got = f"the body's member(s) {named}{more} are refused, not ignored"
    elif body is None:
        got = f"got a body of more than {_EMPTY_BODY_READ:,} bytes"
    elif data is _NOT_JSON:
        got = f"got a body of {len(body):,} bytes that is not JSON"
    else:
        got = f"got {_shown(data)}"
    raise InvalidInput(
        f"{where} takes its parameters in the query ({query}), not in its body, which must be"
        f" empty or an empty JSON object: {got}; nothing was applied"
    )


class _BigNumber(str):
    """A JSON integer past Python's int conversion limit, kept as its digits (to be named)."""


class _NotJson(str):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's JSON reader takes them, JSON has none.

    Kept as its text, so that the column it is in refuses it, naming its row, as any value of
    another type (:func:`_column`). Read as a float, ``NaN`` for both coordinates was a device
    without a fix, without a word (``json.dumps`` writes a NaN coordinate so: a fix lost on
    its way, never the ``null`` the service takes for no fix).
    """


def _integer(text: str) -> int | _BigNumber:
    try:
        return int(text)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        return _BigNumber(text)


def _big_number_at(data: Any) -> tuple[str, _BigNumber] | None:
    """Where the first :class:`_BigNumber` in ``data`` is (``lon[3]``, ``a.b``), and it."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _BigNumber):
            return path or "request body", value
        if isinstance(value, dict):
            items = [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(items))  # depth first, in document order
    return None


#: Two decimal numbers in one text: most likely a position written as text ("lat,lon", as CAP
#: and map apps write it), which :func:`_shown` describes instead of quoting.
_PAIR_TEXT = re.compile(r"\d[.,]\d+\D+\d+[.,]\d", re.ASCII)
#: Two whole numbers of five digits or more, apart: most likely a position in metres (an
#: easting and northing in SWEREF 99 TM, "674032 6580822"), described as well.
_METRE_PAIR_TEXT = re.compile(r"\d{5}[\s,;:|/]+\d{5}", re.ASCII)


def _shown(value: object) -> str:
    """A JSON value for a message: a scalar as JSON, cut after :data:`SHOWN_CHARS`, its size said.

    A list or an object is described (its JSON type and size, an object's first member
    names), never quoted: where a scalar belongs it is most likely a position pair
    (``[18.07, 59.33]``) or a whole fix (``{"id", "lon", "lat", ...}``: records sent instead
    of columns), and whoever reads a 400 logs it. Plain text (no ``np.str_(...)``), a lone
    surrogate escaped (the answer is UTF-8).
    """
    if isinstance(value, _BigNumber):
        return f"{value[:20]}… ({len(value.lstrip('-')):,} digits)"
    if isinstance(value, _NotJson):
        return f"{value}, not JSON: RFC 8259 has no NaN nor Infinity; null is no value"
    if isinstance(value, str) and _PAIR_TEXT.search(value):  # ("59.3326,18.0654")
        return (
            f"a text of {len(value):,} characters holding two decimal numbers, not quoted: it "
            "may be a position"
        )
    if isinstance(value, str) and _METRE_PAIR_TEXT.search(value):  # ("674032 6580822")
        return (
            f"a text of {len(value):,} characters holding two numbers of five digits or more, "
            "not quoted: it may be a position in metres"
        )
    if isinstance(value, list):
        return f"a JSON list of {len(value):,} value{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        names = ", ".join(_shown(str(name)) for name in list(value)[:SHOWN_MEMBERS])
        more = f" and {len(value) - SHOWN_MEMBERS:,} more" if len(value) > SHOWN_MEMBERS else ""
        count = f"{len(value):,} member{'' if len(value) == 1 else 's'}"
        return _plain(f"a JSON object of {count}{': ' if value else ''}{names}{more}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**SHOWN_CHARS:
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[:20]}… ({len(digits):,} digits)"
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        cut = json.dumps(value[:SHOWN_CHARS], ensure_ascii=False)
        return _plain(f'{cut[:-1]}…" ({len(value):,} characters)')
    return _plain(json.dumps(value, ensure_ascii=False, default=str))


def _plain(text: str) -> str:
    """``text`` bounded by :data:`MAX_MESSAGE` and encodable as UTF-8 (surrogates escaped)."""
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE]}… (cut: {len(text):,} characters)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: The media types an error answer comes in: RFC 9457 problem details (JSON), or the message
#: as plain text. Which one is chosen by the request's ``Accept`` (see :func:`_wants_problem`).
PROBLEM_TYPE = "application/problem+json"
_ERROR_TYPES = (PROBLEM_TYPE, "application/json", "text/plain")


def _accepted(accept: str, media_type: str) -> float:
    """The quality ``accept`` (an ``Accept`` header) gives ``media_type``: 0 when it names none.

    The most specific range that matches counts (``text/plain`` over ``text/*`` over
    ``*/*``, RFC 9110 12.5.1); a range's parameters other than ``q`` are ignored.
    """
    kind = media_type.split("/")[0]
    best, quality = -1, 0.0
    for item in accept.split(","):
        parts = [part.strip() for part in item.split(";")]
        name = parts[0].lower()
        rank = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(name)
        if rank is None or rank < best:
            continue
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
                q = q if math.isfinite(q) else 0.0
        if rank > best or q > quality:
            best, quality = rank, q
    return quality


def _wants_problem(request: Request) -> bool:
    """Whether the request's ``Accept`` prefers JSON to plain text for an error answer.

    ``application/problem+json`` or ``application/json`` named with a higher quality than
    ``text/plain`` gets RFC 9457 problem details; no ``Accept``, ``*/*`` alone (what curl and
    most HTTP clients send) or a tie gets the message as plain text, as before.
    """
    accept = request.headers.get("accept", "")
    if not accept:
        return False
    problem, json_, text = (_accepted(accept, media_type) for media_type in _ERROR_TYPES)
    return max(problem, json_) > text


#: ``FIELD must RULE (got VALUE)``: the shape of geotarget's and the service's 400 messages,
#: read into a problem's ``field``, ``rule`` and ``value`` members (``detail`` is the whole).
#: Also ``FIELD is not ...`` and ``FIELD has ...`` (a time :func:`geotarget.parse_time` refuses:
#: ``observed_at[0] has a UTC offset out of range (+24:00) (got ...)``), which had none.
_FIELD_RULE_VALUE = re.compile(
    r"(?:query parameter )?'?(?P<field>request body|[A-Za-z_][\w.]*(?:\[\d+\])?)'?"
    r" (?P<rule>(?:must|is not|has) .+?)"
    r" \(got (?P<value>.*)\)",
    re.DOTALL,
)

#: A value "at row N" (geotarget's position messages): the row goes to the field, ``lat[0]``.
_AT_ROW = re.compile(r"(?P<value>.*) at row (?P<row>[0-9]+)", re.DOTALL)

_TITLES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    408: "Request Timeout",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _problem(
    request: Request,
    status: int,
    message: str,
    error: str,
    headers: Mapping[str, str] | None = None,
    members: Mapping[str, str] | None = None,
) -> Response:
    """An error answer: ``message`` as plain text, or as RFC 9457 problem details.

    Problem details (``application/problem+json``, when the request's ``Accept`` prefers JSON:
    :func:`_wants_problem`) carry ``type`` (``about:blank``: the status says it), ``title``,
    ``status``, ``detail`` (the message), ``instance`` (the path, never the query: a
    ``?device=`` is a device id), ``error`` (what failed: a :mod:`geotarget.errors` class
    name such as ``InvalidInput`` or ``StoreFull``, or the service's own: ``TooLarge``,
    ``Busy``, ``Slow``, ``Encoded``, ``UnsupportedMediaType``, ``NotFound``,
    ``MethodNotAllowed``, ``InternalError``, ``Stopped``) and, for a message
    of the form ``FIELD must RULE (got VALUE)``, its ``field``, ``rule`` and ``value`` (the
    value as the message shows it: a scalar quoted, a list or an object described), or the
    ``members`` given.
    """
    message = _plain(message)
    if _unread(request):
        headers = {**(headers or {}), "Connection": "close"}
    if not _wants_problem(request):
        return PlainTextResponse(message, status_code=status, headers=headers)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": message,
        "instance": request.url.path,
        "error": error,
    }
    found = _FIELD_RULE_VALUE.fullmatch(message)
    if found is not None:
        field, value = found["field"], found["value"]
        row = _AT_ROW.fullmatch(value)
        if row is not None and "[" not in field:  # ("lat ... (got 95.3 at row 0)")
            field, value = f"{field}[{row['row']}]", row["value"]
        body.update(field=field, rule=found["rule"], value=value)
    body.update(members or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


def _unread(request: Request) -> bool:
    """Whether the request announced a body that was not read whole before its answer.

    An answer given before the body was read (a 413 of its ``Content-Length``, a 415 of its
    coding, a 503 of the budget, a 400 of the query) kept the connection open: uvicorn then
    read the rest of the body, up to the gigabyte announced, to discard it, and a request
    pipelined behind it waited for all of it. Such an answer now says ``Connection: close``
    (RFC 9112 section 9.6): the rest is not read, and the client sends its next request on a
    new connection.
    """
    if getattr(request.state, "body_read", False):
        return False
    length = request.headers.get("content-length", "").strip()
    return "transfer-encoding" in request.headers or length.lstrip("0") != ""


class _Twice(Exception):
    """A JSON object holding one member name more than once (the name is the argument)."""

    def refusal(self) -> InvalidInput:
        """The 400 naming the member."""
        return InvalidInput(
            f"request body has the member {_shown(self.args[0])} more than once (a JSON "
            "object's member names must be unique: readers differ on which value counts, so "
            "none is taken)"
        )


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members as a dict; a name given twice raises :class:`_Twice`.

    Readers differ on which value of a repeated name counts (Python's keeps the last, others
    the first, RFC 8259 §4 leaves it open): taking either would act on a value the client may
    not have meant, so neither is taken.
    """
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        raise _Twice(next(name for name, _ in pairs if name in seen or seen.add(name)))
    return data


def _charset(request: Request) -> str:
    """The ``charset`` parameter of the request's ``Content-Type``, lower case, or ``""``."""
    for param in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


def _not_unicode(err: UnicodeDecodeError, charset: str) -> InvalidInput:
    """The 400 for a JSON body that is not in the Unicode encoding it starts in (UTF-8).

    It said "request body must be a JSON object ('utf-8' codec can't decode byte 0xe4 in
    position 11: ...)" of a JSON object in Latin-1: a rule the body kept. Only the byte is
    shown (the bytes around it may be coordinates).
    """
    sent = ""
    if charset and charset.replace("-", "").replace("_", "") not in ("utf8", "utf16", "utf32"):
        sent = f"; its Content-Type's charset={_shown(charset)} is not converted"
    byte = err.object[err.start : err.start + 1]
    return InvalidInput(
        "request body must be a JSON object in UTF-8 (RFC 8259 section 8.1: send it in"
        f" UTF-8{sent})"
        f" (got byte 0x{byte.hex().upper()} at offset {err.start:,}, not"
        f" {err.encoding.upper()}: {err.reason})"
    )


#: An XML declaration naming an encoding, at the start of a document (after a byte order mark).
_XML_ENCODING = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml[^>]*?\bencoding\s*=", re.ASCII)


def _charset_undeclared(document: bytes, charset: str) -> None:
    """Refuse a CAP document not in UTF-8 whose encoding only its ``Content-Type`` names.

    ``Content-Type: application/xml; charset=iso-8859-1`` over a Latin-1 document without an
    XML declaration answered "the document is not valid UTF-8, the encoding XML assumes for a
    document that declares none": true of the document, silent on the charset the client did
    send, which the service does not apply (it reads the bytes as they are, as a signature
    over them was made). Now the 400 names that charset and where the encoding belongs.
    """
    if not charset or charset.replace("-", "").replace("_", "") in ("utf8", "utf16", "utf32"):
        return
    if document[:2] in (b"\xff\xfe", b"\xfe\xff") or _XML_ENCODING.match(document):
        return  # (its own byte order mark or declaration says: the parser reads that)
    try:
        document.decode()
    except UnicodeDecodeError as err:
        raise InvalidInput(
            "request body must name its encoding in the CAP document's XML declaration,"
            f' <?xml version="1.0" encoding={_shown(charset)}?>, or be UTF-8: the Content-Type\'s'
            f" charset={_shown(charset)} is not applied (the document's bytes are read as they"
            f" are, as a signature over them was made) (got byte"
            f" 0x{err.object[err.start]:02X} at offset {err.start:,}, not UTF-8: {err.reason})"
        ) from None


def _json(body: bytes, charset: str = "") -> Any:
    """The body as JSON; an integer past Python's conversion limit is named where it is.

    A member name given twice in one object is refused, naming it (see :func:`_members`).
    ``charset`` is the request's (:func:`_charset`), named when the body is not UTF-8.
    """
    try:
        return json.loads(body, object_pairs_hook=_members, parse_constant=_NotJson)
    except UnicodeDecodeError as err:
        raise _not_unicode(err, charset) from None
    except RecursionError:
        # (It said "request body must be a JSON object (maximum recursion depth exceeded while
        # decoding a JSON array from a unicode string)": Python's words, no field, no rule.)
        raise InvalidInput(
            "request body must be JSON whose arrays and objects nest less deep than Python's"
            f" reader goes, below its recursion limit of {sys.getrecursionlimit():,} levels"
            " (got deeper nesting; a batch's columns and a /confirm's keys are flat lists)"
        ) from None
    except json.JSONDecodeError as err:
        if not body.strip(b" \t\r\n"):
            # (It said "(Expecting value: line 1 column 1 (char 0))": Python's words for what
            # an HTTP/1.0 client sends, its body not framed by a Content-Length.)
            raise InvalidInput(
                f"request body must be a JSON object (got {len(body):,} bytes, none of them"
                " JSON: a body is framed by its Content-Length or Transfer-Encoding: chunked, and"
                " an HTTP/1.0 request without Content-Length has none)"
            ) from None
        if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            # (A CAP document sent here, not to POST /alerts, said only "Expecting value:
            # line 1 column 1 (char 0)". Not quoted: it is read by nobody as JSON.)
            raise InvalidInput(
                "request body must be a JSON object (got a document starting with '<', as XML"
                " does: a CAP document is sent to POST /alerts)"
            ) from None
        raise InvalidInput(
            f"request body must be a JSON object ({_plain(str(err)[:200])})"
        ) from None
    except _Twice as twice:
        raise twice.refusal() from None
    except ValueError:  # an integer of more digits than int() converts (4,300 by default)
        try:  # again, only now: a Python call an int
            data = json.loads(
                body, parse_int=_integer, object_pairs_hook=_members, parse_constant=_NotJson
            )
        except _Twice as twice:
            raise twice.refusal() from None
    found = _big_number_at(data)
    if found is None:  # (the limit is per process: another thread may have changed it)
        raise InvalidInput("request body must be JSON whose integers int() converts")
    where, number = found
    limit = sys.get_int_max_str_digits()
    raise InvalidInput(
        f"{where} must be a JSON number of at most {limit:,} digits (got {_shown(number)})"
    )


#: The most unknown members a 400 message names; the rest are counted.
SHOWN_MEMBERS = 10


def _json_object(
    body: bytes,
    required: tuple[str, ...],
    why: dict[str, str] | None = None,
    charset: str = "",
    optional: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The body as a JSON object with the ``required`` members, and of ``optional`` only.

    A missing member is named, with ``why[name]`` when given; an unknown member is refused,
    not ignored (a column under another name, such as ``hAcc`` for ``accuracy_m``, would
    otherwise be dropped without a word), all of them named, sorted.
    """
    data = _json(body, charset)
    if not isinstance(data, dict):
        raise InvalidInput(f"request body must be a JSON object (got {_shown(data)})")
    for name in required:
        if name not in data:
            reason = f": {why[name]}" if why and name in why else ""
            raise InvalidInput(f"request body lacks {name!r} (needs {', '.join(required)}){reason}")
    takes = required + optional
    unknown = sorted(set(data) - set(takes))
    if unknown:
        named = ", ".join(_shown(name) for name in unknown[:SHOWN_MEMBERS])
        if len(unknown) > SHOWN_MEMBERS:
            named += f" and {len(unknown) - SHOWN_MEMBERS:,} more"
        raise InvalidInput(
            f"request body has unknown member(s) {named} (takes only {', '.join(takes)}; "
            "an unknown member is refused, not ignored: rename it if it is one of these)"
        )
    return data


#: The members of a ``POST /positions`` body, all required, no other taken but ``tester``.
_POSITION_COLUMNS = ("ids", "lon", "lat", "accuracy_m", "observed_at")
#: The optional member of a ``POST /positions`` body: which devices are testers (booleans).
_TESTER = "tester"
_POSITION_WHY = {
    "accuracy_m": "a fix is never taken as exact; give each fix's horizontal accuracy in "
    "metres (the 68 % radius phones report), 0 only for a fix known to be exact",
}

_NONE = type(None)
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _column(data: dict[str, Any], name: str, kinds: tuple[type, ...], rule: str) -> list[Any]:
    """``data[name]``: a JSON list whose every value is one of ``kinds`` (flat, by that).

    One pass over the types in C; the first value of another type is named with its row:
    ``lon[3] must be a number or null (got true)``.
    """
    column = data[name]
    if not isinstance(column, list):
        raise InvalidInput(f"{name} must be a JSON list (got {_shown(column)})")
    if not set(map(type, column)) <= set(kinds):
        row = next(i for i, v in enumerate(column) if type(v) not in kinds)
        raise InvalidInput(f"{name}[{row}] must be {rule} (got {_shown(column[row])})")
    return column


def _ids(data: dict[str, Any]) -> list[Any]:
    """The ``ids`` column: texts or integers (Positions checks the rest, naming the rows)."""
    ids = _column(data, "ids", (str, int), "a text or an integer id")
    ints = [v for v in ids if type(v) is int] if any(type(v) is int for v in ids[:1]) else []
    if ints and (min(ints) < _I64_MIN or max(ints) > _I64_MAX):
        row = next(i for i, v in enumerate(ids) if type(v) is int and not _I64_MIN <= v <= _I64_MAX)
        raise InvalidInput(
            f"ids[{row}] must be an integer within a signed 64 bits, or a text "
            f"(got {_shown(ids[row])})"
        )
    return ids


def _numbers(data: dict[str, Any], name: str) -> npt.NDArray[np.float64]:
    """A column of numbers, null (no value) as NaN, as float64: a bool or a text is refused.

    So is a number past a float's range (about 1.8e308), naming its row: an integer of 309
    digits or more, or a number such as ``1e999``, which Python's JSON reader reads as
    infinity. (``2**1024`` answered 500, and ``1e999`` was refused as "got inf", a value the
    client never sent.)
    """
    column = _column(data, name, (float, int, _NONE), "a number or null")
    try:
        values = np.array(
            [math.nan if v is None else v for v in column] if None in column else column,
            dtype=np.float64,
        )
    except OverflowError:  # an integer past a float's range
        row = next(i for i, v in enumerate(column) if type(v) is int and not _holds_float(v))
        raise InvalidInput(f"{name}[{row}] {_PAST_FLOAT} (got {_shown(column[row])})") from None
    past = np.isinf(values)  # (JSON has no infinity: each is a number past the range)
    if past.any():
        row = int(np.flatnonzero(past)[0])
        raise InvalidInput(
            f"{name}[{row}] {_PAST_FLOAT} (got a number past ±1.8e308, which JSON readers take"
            f" for {'-' if values[row] < 0 else ''}infinity)"
        )
    return values


#: What :func:`_numbers` says of a number a float64 does not hold.
_PAST_FLOAT = "must be a number a float holds"


def _holds_float(value: int) -> bool:
    """Whether the integer ``value`` converts to a float (it rounds to one below 2**1024)."""
    try:
        float(value)
    except OverflowError:
        return False
    return True


#: A delivery key as :meth:`~geotarget.ledger.Claims.keys` writes it: "incident version
#: device", three non-empty parts, no NUL and no lone surrogate anywhere.
_KEY = re.compile("[^ \x00\ud800-\udfff]+ [^ \x00\ud800-\udfff]+ [^\x00\ud800-\udfff]+")
_KEY_RULE = "a delivery key 'incident version device' (three parts, no NUL)"


#: The most alert versions (``incident version`` pairs) the keys of one ``POST /confirm`` may
#: name: the store confirms each version with its own queries, in one write transaction that
#: every other writer waits for. A push service confirms the keys of a few alerts at a time.
MAX_CONFIRM_VERSIONS = 1_000


def _keys(data: dict[str, Any]) -> list[str]:
    """The ``keys`` of a ``/confirm``: delivery keys of at most :data:`MAX_CONFIRM_VERSIONS`."""
    keys = _column(data, "keys", (str,), _KEY_RULE)
    versions = set()
    for row, key in enumerate(keys):
        if _KEY.fullmatch(key) is None:
            raise InvalidInput(f"keys[{row}] must be {_KEY_RULE} (got {_shown(key)})")
        versions.add(key[: key.index(" ", key.index(" ") + 1)])
    if len(versions) > MAX_CONFIRM_VERSIONS:
        raise InvalidInput(
            f"keys name {len(versions):,} alert versions ('incident version' pairs): at most "
            f"{MAX_CONFIRM_VERSIONS:,} in one request (a push service confirms the keys of a few "
            "alerts; split the keys by alert); nothing was applied"
        )
    return keys


def _fixed_width(keys: list[str], limit: int) -> int:
    """The bytes ``keys`` take as the store reads them, or :class:`_TooLarge` past ``limit``.

    The store reads keys as one fixed-width text array, 4 bytes a character of the *longest*
    key for every key: one key of 20 million characters among 2 million short ones would
    take 160 TB. The request holds this in the service's budget, as it holds its body.
    """
    if not keys:
        return 0
    lengths = list(map(len, keys))
    longest = max(lengths)
    size = 4 * len(keys) * longest
    if size > limit:
        raise _TooLarge(
            f"keys: {len(keys):,} keys, the longest of {longest:,} characters "
            f"(keys[{lengths.index(longest)}]), take {size:,} bytes as the store reads them (4 "
            "bytes a character of the longest key, for every key), more than the "
            f"{limit:,} the service holds at once (GEOTARGET_MAX_INFLIGHT): nothing was "
            "applied; send fewer keys at once (a long one in a request of its own)"
        )
    return size


def _query(request: Request, name: str) -> str | None:
    """The query parameter ``name``, or None; one given more than once is refused.

    Readers differ on which of ``?at=A&at=B`` counts (Starlette's the last, many proxies and
    frameworks the first), as for a JSON member named twice: neither is taken.
    """
    values = request.query_params.getlist(name)
    if len(values) > 1:
        shown = ", ".join(_shown(v) for v in values[:3])
        more = f" and {len(values) - 3:,} more" if len(values) > 3 else ""
        raise InvalidInput(
            f"query parameter {name!r} is given {len(values):,} times ({shown}{more}): give it"
            " once (readers differ on which value counts, so none is taken)"
        )
    return values[0] if values else None


def _takes(request: Request, names: tuple[str, ...]) -> None:
    """Refuse a query parameter the endpoint does not take, naming every one, sorted.

    Not ignored: ``?time=`` for ``?at=`` would otherwise run at the present instead of the
    instant asked, and ``?limt=`` take the default limit, without a word.
    """
    for pair in request.scope.get("query_string", b"").split(b"&"):
        name, _, value = pair.partition(b"=")
        for part, what in ((name, "name"), (value, "value")):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode()
            except UnicodeDecodeError as err:
                # (Starlette decoded it with U+FFFD: "incident "\ufffd" is unknown to the
                # store", or an unknown parameter "\ufffd", naming a character nobody sent.)
                field = unquote_to_bytes(name).decode(errors="backslashreplace")
                raise InvalidInput(
                    f"query parameter '{field}' must be UTF-8, percent-encoded (RFC"
                    f" 3986 section 2.5) (got byte 0x{err.object[err.start]:02X} at offset"
                    f" {err.start:,} of its {what}, not UTF-8: {err.reason})"
                ) from None
    unknown = sorted(set(request.query_params.keys()) - set(names))
    if unknown:
        named = ", ".join(_shown(name) for name in unknown[:SHOWN_MEMBERS])
        if len(unknown) > SHOWN_MEMBERS:
            named += f" and {len(unknown) - SHOWN_MEMBERS:,} more"
        takes = ", ".join(names)
        raise InvalidInput(
            f"{request.method} {request.url.path} has unknown query parameter(s) {named} (takes"
            f" only {takes}; an unknown parameter is refused, not ignored)"
        )


def _limit(request: Request) -> int:
    """``?limit=`` of ``POST /redeliver``: 1 to :data:`REDELIVER_LIMIT`, by default that."""
    raw = _query(request, "limit")
    if raw is None:
        return REDELIVER_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and 1 <= int(raw) <= REDELIVER_LIMIT):
        raise InvalidInput(
            f"query parameter 'limit' must be a whole number from 1 to {REDELIVER_LIMIT:,} "
            f"(got {_shown(raw)})"
        )
    return int(raw)


def _confirmed(request: Request) -> bool:
    """``?confirm=`` of ``POST /alerts``: ``true`` sends an alert the blast-radius guard holds."""
    raw = _query(request, "confirm")
    if raw is None or raw == "false":
        return False
    if raw != "true":
        raise InvalidInput(
            "query parameter 'confirm' must be true (send an alert the blast-radius guard"
            f" holds, BLAST_RADIUS, anyway) or false, the default (got {_shown(raw)})"
        )
    return True


def _plus_hint(request: Request, name: str) -> str:
    """What a 404 adds when the query wrote ``?name=`` with a ``+``, which a query reads as a space.

    A device id in the international form of a phone number (``?device=+46701234567``) was
    answered "device ' 46701234567' has no position", naming neither the ``+`` nor its cure.
    """
    if b"+" not in request.scope.get("query_string", b""):
        return ""
    value = _query(request, name) or ""
    if " " not in value:
        return ""
    return (
        f"; a '+' in a URL query is read as a space: if the {name} is"
        f" {_shown(value.replace(' ', '+'))}, write its '+' as %2B"
    )


def _param(request: Request, name: str) -> str:
    value = _query(request, name)
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
_CRASH_STEPS = ("claiming", "claimed", "confirming", "confirmed")
if CRASH_AT and CRASH_AT not in _CRASH_STEPS:
    # (Any other value wrapped the store and never fired: a crash test passed without a crash.)
    _ENV_PROBLEMS.append(
        f"GEOTARGET_SERVICE_CRASH must be one of {', '.join(_CRASH_STEPS)} (the crash tests'"
        f" fault injection: the process kills itself there), or unset (got {CRASH_AT[:40]!r})"
    )


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


def _streamed(found: list[Delivery]) -> list[dict[str, str]]:
    """The deliveries :meth:`~geotarget.Targeter.on_positions` made, as the service answers."""
    return [{"key": d.key, "device": str(d.device_id), "kind": "alert"} for d in found]


#: An ISO 8601 time whose offset's ``+`` a URL query turned into a space (``21:30:00 02:00``).
_PLUS_AS_SPACE = re.compile(r".*T[0-9:.,]+ [0-9]{2}(:?[0-9]{2})?", re.ASCII | re.DOTALL)


def _at(request: Request) -> dt.datetime:
    raw = _query(request, "at")
    if raw is None:
        return dt.datetime.now(dt.timezone.utc)
    if _PLUS_AS_SPACE.fullmatch(raw):
        # (It answered "must be ... such as 2024-05-20T14:00:00+02:00" to a client that had
        # written just that: a URL query reads '+' as a space.)
        raise InvalidInput(
            "at must be an ISO 8601 date-time with its offset's '+' written %2B in the URL (a"
            " '+' in a query is a space): ?at=2024-05-20T14:00:00%2B02:00, or Z for UTC"
            f" (got {_shown(raw)})"
        )
    return parse_time(raw, field="at")


def _instants(raw: list[str]) -> npt.NDArray[np.datetime64]:
    """ISO 8601 instants with a UTC offset, as UTC ``datetime64[us]``.

    ``raw`` is a flat list of texts (see :func:`_column`). Texts in the layout devices send,
    ``2024-05-20T14:00:00[.fff]`` then ``Z`` or ``+hh:mm``, are read all at once
    (:func:`_iso_bulk`); any other batch one parse per distinct text by
    :func:`geotarget.parse_time`, which reads the same instants from those texts and names the
    row and the rule of a time it refuses. The distinct texts are found with a dict, never a
    fixed-width text array: that takes 4 bytes a character of the *longest* text for every
    row, and one text of 20 million characters among 2 million short ones asked for 160 TB.
    """
    bulk = _iso_bulk(raw)
    if bulk is not None:
        return bulk
    codes: dict[str, int] = {}
    inverse = np.fromiter(
        (codes.setdefault(text, len(codes)) for text in raw), dtype=np.intp, count=len(raw)
    )
    out = np.empty(len(codes), dtype="datetime64[us]")
    for i, text in enumerate(codes):
        try:
            at = parse_time(text, field="observed_at")
        except InvalidInput:
            row = int(np.flatnonzero(inverse == i)[0])
            parse_time(raw[row], field=f"observed_at[{row}]")  # raises, naming the row
            raise
        # (parse_time refuses an instant outside the years 1 to 9999 in UTC: no overflow.)
        out[i] = np.datetime64(at.astimezone(dt.timezone.utc).replace(tzinfo=None), "us")
    return out[inverse]


#: The longest and shortest text :func:`_iso_bulk` reads: ``2024-05-20T14:00:00Z`` and
#: ``2024-05-20T14:00:00.123456789+02:00``.
_ISO_SHORTEST, _ISO_LONGEST = 20, 35
#: The microseconds of 0001-01-01 and 10000-01-01 from the epoch: the years geotarget takes.
_FIRST_US = int(np.datetime64("0001-01-01", "us").astype(np.int64))
_END_US = int(np.datetime64("9999-12-31", "us").astype(np.int64)) + 86_400 * 10**6
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _iso_bulk(raw: list[str]) -> npt.NDArray[np.datetime64] | None:
    """``raw`` read at once, if every text is ``YYYY-MM-DDThh:mm:ss[.f]`` then ``Z`` or ``±hh:mm``.

    A phone stamps each fix to the millisecond: a batch's texts are as many as its fixes, and
    one :func:`geotarget.parse_time` each (its share of the batch's time grew with it, then
    took most of it: a re-sent snapshot of a million fixes, tens of seconds). Here the texts
    of each length and zone form are read as an array of code points: a loop over the few
    layouts, never over the fixes. None when a text is of another form or names no valid
    instant within the years 1 to 9999 in UTC: :func:`_instants` then reads them one by one,
    as before (the same instants; a refusal named).
    """
    if not raw:
        return None
    lengths = np.fromiter(map(len, raw), dtype=np.intp, count=len(raw))
    if lengths.min() < _ISO_SHORTEST or lengths.max() > _ISO_LONGEST:
        return None
    try:
        texts = np.array(raw, dtype=f"S{_ISO_LONGEST}")  # (a byte a character)
    except UnicodeEncodeError:
        return None  # (a character other than ASCII: not in the layout)
    # One row a character position: each is read whole, as one contiguous run of the texts.
    codes = np.ascontiguousarray(texts.view(np.uint8).reshape(len(raw), _ISO_LONGEST).T)
    utc = np.empty(len(raw), dtype=np.int64)
    zulu = codes[lengths - 1, np.arange(len(raw))] == ord("Z")
    layouts = lengths * 2 + zulu  # (each length and zone form: a few)
    kinds = np.unique(layouts).tolist()
    for layout in kinds:
        rows = np.flatnonzero(layouts == layout) if len(kinds) > 1 else None
        length, z = divmod(layout, 2)
        try:
            got = _iso_layout(codes, rows, length, 1 if z else 6)
        except _NotLayout:
            return None
        utc[slice(None) if rows is None else rows] = got
    return utc.astype("datetime64[us]")


class _NotLayout(Exception):
    """A text :func:`_iso_layout` does not read (:func:`geotarget.parse_time` reads it, or not)."""


def _iso_layout(
    codes: npt.NDArray[np.uint8], rows: npt.NDArray[np.intp] | None, length: int, zone: int
) -> npt.NDArray[np.int64]:
    """The texts at ``rows`` (all: None) of ``codes``, ``length`` long, ``zone`` its zone's length.

    ``codes`` holds a row a character position (a column a text); ``zone`` is 1 (``Z``) or 6
    (``±hh:mm``). In UTC microseconds; :class:`_NotLayout` when a
    text is not in the layout or names no valid instant by :func:`geotarget.parse_time`'s
    rules (a date that exists, hours to 23, minutes and seconds to 59, an offset's hours to
    23, a fraction of 1 to 9 digits cut to the microsecond, the years 1 to 9999 in UTC). Read
    column by column.
    """
    end = length - zone  # where the date-time ends and its zone begins
    fraction = list(range(20, end))
    if end < 19 or len(fraction) > 9 or (end > 19 and not fraction):
        raise _NotLayout

    def column(c: int) -> npt.NDArray[np.uint8]:
        return codes[c] if rows is None else codes[c, rows]

    def holds(ok: npt.NDArray[np.bool_]) -> None:
        if not ok.all():
            raise _NotLayout

    literal = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}
    if fraction:
        literal[19] = "."
    if zone == 6:
        literal[length - 3] = ":"
    for at, char in literal.items():
        holds(column(at) == ord(char))
    if zone == 6:
        holds((column(end) == ord("+")) | (column(end) == ord("-")))

    def number(*columns: int) -> npt.NDArray[np.int64]:
        value = np.zeros(codes.shape[1] if rows is None else len(rows), dtype=np.int64)
        for c in columns:
            digit = column(c) - np.uint8(ord("0"))  # (below "0" wraps to a large number)
            holds(digit <= 9)
            value = value * 10 + digit
        return value

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    hour, minute, second = number(11, 12), number(14, 15), number(17, 18)
    holds((year >= 1) & (month >= 1) & (month <= 12))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in = _MONTH_DAYS[month - 1] + (leap & (month == 2))
    holds((day >= 1) & (day <= days_in) & (hour <= 23) & (minute <= 59) & (second <= 59))
    micro: npt.NDArray[np.int64] | int = 0
    if fraction:
        kept = fraction[:6]
        micro = number(*kept) * 10 ** (6 - len(kept))
        number(*fraction[6:])  # (digits, cut)
    offset: npt.NDArray[np.int64] | int = 0
    if zone == 6:
        hours, minutes = number(length - 5, length - 4), number(length - 2, length - 1)
        holds((hours <= 23) & (minutes <= 59))
        offset = np.where(column(end) == ord("-"), -60, 60) * (hours * 60 + minutes)
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    days = months.astype("datetime64[D]").astype(np.int64) + day - 1
    utc = (((days * 24 + hour) * 60 + minute) * 60 + second - offset) * 10**6 + micro
    holds((utc >= _FIRST_US) & (utc < _END_US))
    return np.asarray(utc, dtype=np.int64)


#: How far after its batch arrived a fix may be stamped (a phone's clock a little ahead) and
#: still count as observed when it says; a fix stamped later counts as observed on arrival.
AHEAD_TAKEN = np.timedelta64(60, "s")


def _ahead_taken_now(
    observed_at: npt.NDArray[np.datetime64], at: dt.datetime
) -> npt.NDArray[np.datetime64]:
    """``observed_at`` of a batch that arrived at ``at``, none more than :data:`AHEAD_TAKEN` after.

    A fix cannot be observed after it arrived: one stamped later (a phone whose clock is
    wrong, local time sent as UTC, a year mistyped) counts as observed at ``at``. Taken as
    stamped, it was that device's newest fix over every later one until it was no longer
    kept (a million fixes later, minutes to days): each later fix was "older", and told
    nobody (``POST /positions`` takes only a device's newest fix), and ``POST /alerts`` and
    ``GET /explain`` went by it, wherever it was.
    """
    now = np.datetime64(at.astimezone(dt.timezone.utc).replace(tzinfo=None), "us")
    ahead = observed_at > now + AHEAD_TAKEN
    if not ahead.any():
        return observed_at
    LOG.info(
        "%d fix(es) of a batch were stamped more than %s s after it arrived (device clocks"
        " ahead?): taken as observed when it arrived",
        int(ahead.sum()),
        AHEAD_TAKEN.astype(int),
    )
    return np.where(ahead, now, observed_at)


def _device_rows(ids: npt.NDArray[Any], device: str) -> npt.NDArray[np.intp]:
    """The rows of ``ids`` (a batch's) that are ``device`` (a ``?device=`` text), by its text.

    As the stores identify devices: ``"7"`` is the integer id 7, ``"007"``, ``"+7"`` and
    ``" 7"`` are not.
    """
    if ids.dtype.kind != "i":
        return np.flatnonzero(ids == device)
    if not re.fullmatch(r"-?[0-9]{1,19}", device, re.ASCII) or str(int(device)) != device:
        return np.empty(0, dtype=np.intp)
    value = int(device)
    if not _I64_MIN <= value <= _I64_MAX:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(ids == value)


#: The most fixes of its latest batches a process keeps, so that ``POST /alerts`` reaches at
#: once every device whose latest fix the process took (at the pilot's 2,000 fixes a second,
#: about eight minutes of them), not only the devices of the latest batch.
RETAINED_FIXES = 1_000_000
#: The longest text id (characters) of a batch that is kept: numpy holds text ids at the width
#: of the longest, for every row, so one long id would take each kept fix's share past bounds
#: (such a batch counts while it is the latest).
RETAINED_ID_CHARS = 64


class _Retained:
    """The latest batches of fixes a process took, at most ``limit`` fixes in all, newest last.

    :meth:`latest` merges them into each device's latest fix, for ``POST /alerts``: before, an
    alert reached at once only the devices of the latest batch, so a device that reported
    from inside the area a second earlier, in another batch, was told only at its next fix
    (at the pilot's cadence, minutes later). Threads add and read: one lock, held only to
    take or give a batch (never while merging).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._batches: deque[Positions] = deque()
        self._size = 0
        #: Batches kept so far: a merge of the kept batches is one of this generation's.
        self.generation = 0
        #: Each kept batch's rows in the order of its ids (by ``id()`` of the batch), made at
        #: the first :meth:`newer` that needs it: 8 bytes a fix, no copy of the ids.
        self._orders: dict[int, npt.NDArray[np.intp]] = {}
        #: Each kept batch's newest ``observed_at`` (by ``id()``): only a batch with a fix
        #: newer than the oldest of a new batch is searched (in a stream in order, none).
        self._newest: dict[int, np.datetime64] = {}

    def add(self, batch: Positions) -> None:
        """Keep ``batch`` (an accepted one), dropping the oldest batches past :attr:`limit`."""
        ids = batch.ids
        if not 0 < len(batch) <= self.limit:
            return
        if ids.dtype.kind == "U" and ids.dtype.itemsize > 4 * RETAINED_ID_CHARS:
            return
        newest = batch.observed_at.astype("datetime64[us]").max()
        with self._lock:
            self._batches.append(batch)
            self._newest[id(batch)] = newest
            self._size += len(batch)
            self.generation += 1
            while self._size > self.limit:
                gone = self._batches.popleft()
                self._size -= len(gone)
                self._orders.pop(id(gone), None)
                self._newest.pop(id(gone), None)

    def newer(self, batch: Positions) -> npt.NDArray[np.bool_]:
        """The rows of ``batch`` whose device has a newer fix (``observed_at``) in a kept batch.

        A batch that arrives late (an operator's queue held it) may hold a device's older
        fix: inside the area, while its newer fix, already taken, is outside. ``POST
        /positions`` streams only the other rows (``/alerts`` and ``/explain`` go by the newer
        fix). One search of the batch's ids in each kept batch holding a fix newer than the
        batch's oldest (none in a stream in order), by its ids' order, made once.
        """
        newer = np.zeros(len(batch), dtype=bool)
        if not len(batch):
            return newer
        seen = batch.observed_at.astype("datetime64[us]")
        oldest = seen.min()
        with self._lock:
            kept = [
                (b, self._orders.get(id(b)))
                for b in self._batches
                if b is not batch and self._newest[id(b)] > oldest
            ]
        for other, order in kept:
            ids, want = other.ids, batch.ids
            if (ids.dtype.kind == "i") != (want.dtype.kind == "i"):
                # (Identity is the id's text: 7 is "7". Rare: one operator sends one kind.)
                if ids.dtype.kind == "i":
                    ids, order = ids.astype(str), None
                else:
                    want = want.astype(str)
            if order is None:
                order = np.argsort(ids, kind="stable")
                if ids is other.ids:
                    with self._lock:  # (not for a batch dropped meanwhile: its id is reused)
                        if any(b is other for b in self._batches):
                            self._orders[id(other)] = order
            at = np.minimum(np.searchsorted(ids, want, sorter=order), ids.size - 1)
            rows = order[at]
            hit = np.flatnonzero(ids[rows] == want)
            newer[hit] |= other.observed_at[rows[hit]].astype("datetime64[us]") > seen[hit]
        return newer

    def fix_of(self, device: str, current: Positions) -> Positions | None:
        """``device``'s latest fix over the kept batches and ``current``, as a snapshot of one.

        By ``observed_at``, a tie to the later batch, as :meth:`latest` merges them (``current``,
        the latest batch, is looked at last; it is not kept when too large). None when no
        batch holds the device. For ``GET /explain``: the device's own fix is all its answer
        depends on, so the batches are searched, not merged.
        """
        with self._lock:
            batches = list(self._batches)
        if not batches or batches[-1] is not current:
            batches.append(current)
        found = [(b, _device_rows(b.ids, device)) for b in batches]
        found = [(b, rows) for b, rows in found if rows.size]
        if not found:
            return None
        seen = np.concatenate([b.observed_at[rows].astype("datetime64[us]") for b, rows in found])
        which = np.repeat(np.arange(len(found)), [rows.size for _, rows in found])
        at = np.concatenate([rows for _, rows in found])
        last = int(np.lexsort((seen,))[-1])  # stable: a tie goes to the later batch
        return _rows(found[int(which[last])][0], at[last : last + 1])

    def latest(self, current: Positions) -> tuple[Positions, Positions | None]:
        """Each device's latest fix over the kept batches and ``current``, and the rest.

        By ``observed_at``, a tie to the later batch, as :meth:`fix_of` finds one device's:
        ``current`` (the latest batch) counts also when it is not kept (over :attr:`limit`
        fixes, or ids too long). Its rows whose ids are longer than :data:`RETAINED_ID_CHARS`
        are the rest (None when there are none): no kept batch holds such an id, and merged
        they would widen every id (numpy holds text ids at the width of the longest). One
        vectorized merge: ids as the store identifies devices (an integer id is its decimal
        text where a batch of text ids is kept too: ``7`` is ``"7"``).
        """
        with self._lock:
            batches = list(self._batches)
        rest = None
        if not batches or batches[-1] is not current:
            # (Before, a batch not kept was left out here though it was the latest: an alert
            # reached none of its devices at once, while /explain explained their fixes.)
            ids = current.ids
            if ids.dtype.kind == "U" and ids.dtype.itemsize > 4 * RETAINED_ID_CHARS:
                long = np.char.str_len(ids) > RETAINED_ID_CHARS
                rest = _rows(current, np.flatnonzero(long))
                current = _rows(current, np.flatnonzero(~long), f"U{RETAINED_ID_CHARS}")
            if len(current) or not batches:
                batches.append(current)
        return _merged(batches), rest


def _merged(batches: list[Positions]) -> Positions:
    """Each device's latest fix over ``batches`` (oldest first), by ``observed_at``.

    A tie goes to the later batch. One vectorized merge: ids as the store identifies devices
    (an integer id is its decimal text where a batch of text ids is there too: ``7`` is
    ``"7"``). One batch is returned as it is.
    """
    if len(batches) == 1:
        return batches[0]
    texts = any(b.ids.dtype.kind != "i" for b in batches)
    ids = np.concatenate(
        [b.ids.astype(str) if texts and b.ids.dtype.kind == "i" else b.ids for b in batches]
    )
    seen = np.concatenate([b.observed_at.astype("datetime64[us]") for b in batches])
    order = np.lexsort((seen, ids))  # by id, then by time; stable (a tie: the later batch)
    ranked = ids[order]
    last = np.ones(ranked.size, dtype=bool)
    last[:-1] = ranked[1:] != ranked[:-1]
    rows = order[last]
    return Positions(
        ids[rows],
        np.concatenate([b.lon for b in batches])[rows],
        np.concatenate([b.lat for b in batches])[rows],
        accuracy_m=np.concatenate([b.accuracy_m for b in batches])[rows],
        observed_at=seen[rows],
        tester=np.concatenate([b.tester for b in batches])[rows],
    )


def _rows(batch: Positions, rows: npt.NDArray[np.intp], ids: str | None = None) -> Positions:
    """The fixes of ``batch`` at ``rows``, its ids cast to the numpy type ``ids`` if given."""
    return Positions(
        batch.ids[rows] if ids is None else batch.ids[rows].astype(ids),
        batch.lon[rows],
        batch.lat[rows],
        accuracy_m=batch.accuracy_m[rows],
        observed_at=batch.observed_at[rows],
        tester=batch.tester[rows],
    )


class _Overlaps:
    """A batch of positions and an alert taken at once: one of the two tells each device.

    ``POST /alerts`` (and ``POST /redeliver``, for an alert whose time came) targets the
    snapshot it reads first, then makes its incident live for ``on_positions``; ``POST
    /positions`` streams its batch to the incidents live when it starts, then swaps it in. A
    batch that arrived in between, while the alert was read, checked and its snapshot merged
    (a second or more over a million fixes kept), was in neither: a device inside the area
    whose latest fix the process had taken was told nothing until its next fix (at the
    pilot's cadence, minutes), though ``GET /explain`` said it received the alert. Now each
    covers the other: a targeting is :meth:`watching` the batches swapped in meanwhile and
    streams them once its incident is live, and a batch whose streaming overlapped the end of
    a targeting streams again once swapped in (the store claims each device once: a device
    told by both is told once). Only the event of an overlap costs anything: no lock is held
    while anything is matched or stored.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: The batches (their fresh rows) swapped in since each targeting in progress began.
        self.watchers: dict[int, list[Positions]] = {}
        self._next = 0
        #: Targetings that made an incident live (``Verdict.DELIVER``): a batch streamed before
        #: one of them ended, and swapped in after, streams again.
        self.live = 0

    @contextmanager
    def watching(self) -> Iterator[list[Positions]]:
        """The batches swapped in while the block runs (read the snapshot inside it)."""
        since: list[Positions] = []
        with self.lock:
            token = self._next
            self._next += 1
            self.watchers[token] = since
        try:
            yield since
        finally:
            with self.lock:
                del self.watchers[token]

    def made_live(self) -> None:
        """A targeting in :meth:`watching` made its incident live (call it inside the block)."""
        with self.lock:
            self.live += 1

    def swapped(self, fresh: Positions) -> None:
        """A batch was swapped in (call it holding :attr:`lock`): every watcher gets it."""
        for since in self.watchers.values():
            since.append(fresh)


class _Merged:
    """The snapshot alerts targeted at once target, merged once for all of them.

    Each alert merged the kept batches into each device's latest fix and indexed them for
    itself: over a million kept fixes, a second or two and a few hundred MB each. Alerts
    arriving together (a feed re-sending its queue after a reconnect, a sender retrying one
    that has not answered yet, the Updates of a busy incident) each made their own, one after
    another: the last of eight answered after all eight merges, the process's memory
    growing by each. Now, while a targeting is :meth:`using` it, the merge of the batches as
    they are is shared: the first makes it, the others wait for it; a batch swapped in
    forgets it (:meth:`forget`), and so does the end of the last targeting using it (its
    memory is not held between alerts).
    """

    def __init__(self) -> None:
        self._making = threading.Lock()  # one merge at a time: the others wait for it
        self._lock = threading.Lock()  # the fields below
        self._users = 0
        self._generation = -1
        self._index: PositionIndex | None = None
        self._made: tuple[PositionIndex, Positions | None] | None = None

    @contextmanager
    def using(self) -> Iterator[None]:
        """A targeting runs (:meth:`get` inside it shares the merge of the others running)."""
        with self._lock:
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if not self._users:
                    self._generation, self._index, self._made = -1, None, None

    def get(
        self,
        generation: int,
        index: PositionIndex,
        merge: Callable[[], tuple[PositionIndex, Positions | None]],
    ) -> tuple[PositionIndex, Positions | None]:
        """The merge of the kept batches of ``generation`` and the latest batch's ``index``."""
        with self._making:
            with self._lock:
                if self._generation == generation and self._index is index and self._made:
                    return self._made
            made = merge()
            with self._lock:
                if self._users:
                    self._generation, self._index, self._made = generation, index, made
            return made

    def forget(self) -> None:
        """A batch was swapped in: the merge is of the batches before it (its memory freed)."""
        with self._lock:
            self._generation, self._index, self._made = -1, None, None


def _newest_of(since: list[Positions], retained: _Retained) -> Positions:
    """Each device's newest fix over ``since``, but where a kept batch has a newer one."""
    fixes = _merged(since)
    older = retained.newer(fixes)
    return _rows(fixes, np.flatnonzero(~older)) if older.any() else fixes


#: The scope key a request's handler sets once it hands the request's work to a thread (what it
#: applies from then on is not known to an answer cut off by a stop).
_APPLYING = "examples.service.applying"
#: The most seconds the service, stopping, waits for the requests uvicorn cancelled to answer
#: before it closes the store (they answer at once: they wait for nothing).
STOPPING_SECONDS = 2.0


async def _applying(request: Request, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in a worker thread, the request marked as applying (store writes)."""
    request.scope[_APPLYING] = True
    return await run_in_threadpool(func, *args)


class _Requests:
    """The HTTP requests the process is answering (only the event loop's thread counts)."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: asyncio.Event | None = None

    def start(self) -> None:
        self.count += 1

    def end(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self, seconds: float) -> None:
        """Return once no request is being answered, or after ``seconds``."""
        if self.count == 0:
            return
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), seconds)
        except asyncio.TimeoutError:
            LOG.warning("stopping with %d request(s) not answered", self.count)


class _AnswersWhenStopped:
    """A request cancelled as the service stops answers 503 saying so, not a bare 500.

    uvicorn, stopping (``SIGTERM``: a rolling restart, a deploy), waits for the requests
    running, and past ``--timeout-graceful-shutdown`` cancels them. Such a request answered
    uvicorn's bare ``500 Internal Server Error`` (a fault of the service, said the status, and
    nothing of whether the request was applied) with the cancellation's traceback in the log,
    or nothing at all, the connection closed, when the process ended first. Now it answers 503
    (``error``: ``Stopped``; ``Connection: close``) saying whether anything of it may have been
    applied, and to send it again to another instance, and the log has one line.
    """

    def __init__(self, app: ASGIApp, requests: _Requests) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        self.requests.start()
        try:
            await self.app(scope, receive, sending)
        except asyncio.CancelledError:
            if started:
                raise
            request = Request(scope)
            asked = f"{request.method} {_shown(request.url.path)}"
            if scope.get(_APPLYING):
                what = (
                    "what it applied is not known; send it again, to another instance: what"
                    " the store already holds is not applied twice (a device already claimed"
                    " is not offered again), and the deliveries this instance claimed are"
                    f" offered by POST /redeliver once their lease ({LEASE.seconds} s) runs out"
                )
            else:
                what = "nothing of it was applied; send it again, to another instance"
            LOG.warning("%s was cut off as the service stopped: answered 503", asked)
            answer = _problem(
                request,
                503,
                f"{asked}: the service instance was stopped before it answered (its shutdown's"
                f" grace period, uvicorn's --timeout-graceful-shutdown, ran out): {what}",
                "Stopped",
                {"Connection": "close", "Retry-After": "1"},
            )
            await answer(scope, receive, send)
            # (Not raised on: uvicorn, which cancelled the request, stops; raised, it logged a
            # traceback and answered a bare 500 instead.)
        finally:
            self.requests.end()


#: A request target's scheme and authority in absolute form (``http://host:port``).
_ABSOLUTE_FORM = re.compile(r"https?://[^/?#]*", re.IGNORECASE)
_ABSOLUTE_FORM_BYTES = re.compile(rb"https?://[^/?#]*", re.IGNORECASE)


class _OriginForm:
    """A request target in absolute form (``GET http://host/ready``) is read as its path.

    RFC 9112 section 3.2.2: "a server MUST accept the absolute-form in requests" (what a
    client sends through a forward proxy). uvicorn hands the whole target on as the path: the
    service answered 404 for ``"/http://host/ready"``, and an alert POSTed to
    ``http://host/alerts`` reached nobody. The scheme and authority are dropped (the service
    answers for one host), the path and the query kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = _ABSOLUTE_FORM.match(scope.get("path", ""))
            if found is not None:
                scope = dict(scope)
                scope["path"] = scope["path"][found.end() :] or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    cut = _ABSOLUTE_FORM_BYTES.match(raw)
                    scope["raw_path"] = (raw[cut.end() :] or b"/") if cut is not None else raw
        await self.app(scope, receive, send)


#: What :func:`create_app`'s log line says was not streamed after a claim (no position).
_TAKEN_MEANWHILE = "a batch of positions taken while an alert was targeted was"
_LONG_IDS = f"the latest batch's fixes of ids over {RETAINED_ID_CHARS} characters were"


def _empty_index() -> PositionIndex:
    return PositionIndex(
        Positions([], [], [], observed_at=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
    )


def create_app(
    store: DeliveryLedger,
    regions: RegionHierarchy | None = None,
    policy: Path | None = None,
    max_inflight: int | None = None,
) -> Starlette:
    """The ASGI app over ``store``: Swedish regions and ``policy`` (a policy file) by default.

    ``policy`` defaults to ``GEOTARGET_POLICY``, else :data:`EXAMPLE_POLICY`;
    ``max_inflight`` (bytes) to :data:`MAX_INFLIGHT`.
    """
    if _ENV_PROBLEMS:
        raise InvalidInput("; ".join(_ENV_PROBLEMS))
    budget = _InFlight(MAX_INFLIGHT if max_inflight is None else max_inflight)
    in_flight = _Requests()
    ledger: Any = _Crashing(store) if CRASH_AT else store
    regions = regions if regions is not None else sweden.hierarchy()
    if policy is None:
        policy = Path(os.environ.get("GEOTARGET_POLICY", EXAMPLE_POLICY))
    # Checked against the regions; a file without an issuer table is refused (write
    # issuers = "any" to accept every sender): the service never assumes it.
    loaded = _policy(policy, regions)
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
    retained = _Retained(RETAINED_FIXES)
    overlaps = _Overlaps()
    merges = _Merged()

    async def alerts(request: Request) -> Response:
        _takes(request, ("at", "confirm"))
        at = _at(request)  # (the query is read first: a bad one is refused before the body)
        confirm = _confirmed(request)
        with budget.hold(request) as held:
            body = await _body(request, MAX_ALERT_BODY, held, "CAP document")
            _charset_undeclared(body, _charset(request))
            return JSONResponse(await _applying(request, submit_alert, body, at, confirm))

    def submit_alert(document: bytes, at: dt.datetime, confirm: bool) -> dict[str, Any]:
        with overlaps.watching() as since, merges.using():
            # Every device's latest fix this process took, not only the latest batch's.
            index, rest = targeted()
            result = targeter.receive(document, index, at, confirm=confirm)
            if result.verdict is Verdict.DELIVER:
                overlaps.made_live()
        told = _deliveries([result.claims]) if result.claims is not None else []
        if rest is not None and result.verdict is Verdict.DELIVER:
            told += _streamed(streamed_after(rest, at, _LONG_IDS))
        if since and result.verdict is Verdict.DELIVER:
            told += overlapped(since, at)
        reason = result.reason
        if result.verdict is Verdict.BLAST_RADIUS:
            # (The library's "confirm to send anyway" named a call the service did not offer:
            # a held alert could not be sent, and a held Update kept its incident dark.)
            reason += " (through this service: POST the same document to /alerts?confirm=true)"
        elif "retarget() delivers it" in reason:
            # (A version that became current without being delivered: the library names the
            # call that delivers it, which this service makes at each POST /redeliver.)
            reason += " (through this service: at the next POST /redeliver)"
        return {
            "verdict": result.verdict.value,
            "reason": reason,
            "incident": result.incident,
            "alert": result.alert_id,
            "kind": result.kind,
            "recognised_by": result.recognised_by,
            "issuer": result.issuer,
            "next_change": None if result.next_change is None else result.next_change.isoformat(),
            "deliveries": told,
        }

    async def positions(request: Request) -> Response:
        _takes(request, ("at",))
        at = _at(request)
        with budget.hold(request) as held:
            body = await _body(request, MAX_POSITIONS_BODY, held)
            data = _json_object(
                body, _POSITION_COLUMNS, _POSITION_WHY, _charset(request), (_TESTER,)
            )
            del body  # (the parsed batch is what the request holds now)
            return JSONResponse(await _applying(request, submit_positions, data, at))

    def submit_positions(data: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
        # Each column is checked value by value for its JSON types first (a bool or a text
        # among coordinates, a list anywhere: a float64 cast read true as longitude 1), then
        # Positions checks the rows (ranges, lengths, unique ids), naming them.
        ids = _ids(data)
        lon, lat, accuracy = (_numbers(data, name) for name in ("lon", "lat", "accuracy_m"))
        observed_at = _ahead_taken_now(
            _instants(_column(data, "observed_at", (str,), "an ISO 8601 text with a UTC offset")),
            at,
        )
        # The lengths first: Positions makes text ids one fixed-width array (4 bytes a
        # character of the longest id, for every row) before it compares them.
        # Testers receive Test and Exercise alerts (none without the column: no way else to
        # name them, so such an alert reached nobody, its answer "0 new recipients").
        tester = (
            np.array(_column(data, _TESTER, (bool,), "true or false"), dtype=np.bool_)
            if _TESTER in data
            else np.zeros(len(ids), dtype=np.bool_)
        )
        columns = {
            "lon": lon,
            "lat": lat,
            "accuracy_m": accuracy,
            "observed_at": observed_at,
            _TESTER: tester,
        }
        for name, column in columns.items():
            if column.size != len(ids):
                raise InvalidInput(
                    f"{name} has {column.size:,} value{'' if column.size == 1 else 's'}, ids "
                    f"{len(ids):,}: "
                    "every column holds one value per fix, in the order of ids"
                )
        # A null is NaN from here on (JSON has no NaN): the nulls are named before Positions
        # names NaNs the client never sent ("got lon a number and lat NaN at row 0").
        half = np.isnan(lon) != np.isnan(lat)
        if half.any():
            row = int(np.flatnonzero(half)[0])
            name, other = ("lat", "lon") if np.isnan(lat[row]) else ("lon", "lat")
            raise InvalidInput(
                f"{name}[{row}] must be a number where {other}[{row}] is one, or null with it"
                " for a row without a fix: a fix has both (got null)"
            )
        unsaid = np.isnan(accuracy) & ~np.isnan(lon) & ~np.isnan(lat)
        if unsaid.any():
            # (Positions, given NaN for it, said "got nan" of the null the client sent.)
            row = int(np.flatnonzero(unsaid)[0])
            raise InvalidInput(
                f"accuracy_m[{row}] must be a number for a row with a fix, null only where lon"
                " and lat are null too: a fix is never taken as exact (got null)"
            )
        snapshot = Positions(
            ids, lon, lat, accuracy_m=accuracy, observed_at=observed_at, tester=tester
        )
        index = PositionIndex(snapshot)
        # This request uses its own batch, but for the fixes older than one the process took
        # of the same device (a batch held up on its way): before, a device whose newer fix
        # was outside the area was told from the older one, inside.
        stale = retained.newer(snapshot)
        fresh = _rows(snapshot, np.flatnonzero(~stale)) if stale.any() else snapshot
        with overlaps.lock:
            live = overlaps.live
        found = targeter.on_positions(fresh, at)
        # The atomic swap, last: a batch the store refused (503) changes nothing, not even the
        # snapshot, and is sent again.
        with overlaps.lock:
            current["index"] = index
            retained.add(snapshot)
            overlaps.swapped(fresh)
            again = overlaps.live != live
        merges.forget()
        if again:
            # An alert made live while this batch streamed may have read the snapshot before
            # it: streamed again now, its incident is live (see _Overlaps).
            found += streamed_after(fresh, at, _TAKEN_MEANWHILE)
        return {"deliveries": _streamed(found)}

    def streamed_after(fixes: Positions, at: dt.datetime, what: str) -> list[Delivery]:
        # ``fixes`` streamed once the request has claimed (an alert's devices, a batch's, the
        # leases run out): the deliveries made so far are answered whatever this adds. A store
        # failure here leaves these devices to their next fix and is logged (no position);
        # raised, it answered 503 "nothing was applied" of claims made, their deliveries held
        # back from the push service until their lease ran out.
        try:
            return targeter.on_positions(fixes, at)
        except StoreError as err:
            LOG.warning("%s not streamed (its devices are told at their next fix): %s", what, err)
            return []

    def overlapped(since: list[Positions], at: dt.datetime) -> list[dict[str, str]]:
        # The batches swapped in while an alert was targeted, over a snapshot read before them,
        # streamed now that its incident is live (see _Overlaps).
        fixes = _newest_of(since, retained)
        return _streamed(streamed_after(fixes, at, _TAKEN_MEANWHILE)) if len(fixes) else []

    async def confirm(request: Request) -> Response:
        _takes(request, ("at",))
        at = _at(request)
        with budget.hold(request) as held:
            body = await _body(request, MAX_POSITIONS_BODY, held)
            # In a worker thread: checking each of a million keys takes over a second of
            # Python, which on the event loop held every other request (an alert, a probe of
            # GET /ready) until it was done.
            keys, width = await run_in_threadpool(read_keys, body, _charset(request))
            held.up_to(held.size + width)
            del body
            done = await _applying(request, targeter.confirm, keys, at)
        return JSONResponse(
            {
                "confirmed": int(done.confirmed.size),
                "already": int(done.already.size),
                "unknown": int(done.unknown.size),
            }
        )

    def read_keys(body: bytes, charset: str) -> tuple[list[str], int]:
        # A /confirm's keys, and the bytes they take as the store reads them (_fixed_width).
        keys = _keys(_json_object(body, ("keys",), charset=charset))
        return keys, _fixed_width(keys, budget.limit)

    async def redeliver(request: Request) -> Response:
        _takes(request, ("at", "limit"))
        at, limit = _at(request), _limit(request)
        with budget.hold(request) as held:
            await _no_body(request, held, "?limit=, ?at=")
        return JSONResponse({"deliveries": await _applying(request, take_due, at, limit)})

    def take_due(at: dt.datetime, limit: int) -> list[dict[str, str]]:
        # The leases that ran out (at most ``limit``), then the alerts whose time or phase has
        # come since target() admitted them (Targeter.retarget: nothing else delivers those),
        # over each device's latest fix as POST /alerts targets them, as are delivered ones
        # whose reach a later phase or info block widened. (Before, over the latest batch,
        # then the kept fixes: a device whose newer fix, in an earlier batch, was outside the
        # area was told from the older fix of the latest one.) The merge (a second or two
        # over a million fixes) is made only when retarget targets an incident (it is called
        # every time: it also marks the incidents long expired), not every few seconds while
        # an alert waits for its onset.
        due = targeter.redeliver(at, limit=limit)
        rest: list[Positions | None] = []

        def snapshot() -> PositionIndex:
            index, latest_rest = targeted()
            rest.append(latest_rest)
            return index

        with overlaps.watching() as since, merges.using():
            try:
                came = targeter.retarget(snapshot, at)
            except StoreError as err:
                if not due:
                    raise
                # The leases taken are answered: raised, the 503 said "nothing was applied"
                # of deliveries leased to this caller, held back for another lease.
                LOG.warning(
                    "POST /redeliver: %d delivery(ies) leased are answered; the alerts whose"
                    " time came are not targeted now (the next call does): %s",
                    len(due),
                    err,
                )
                came = []
            if any(r.verdict is Verdict.DELIVER for r in came):
                overlaps.made_live()
        due += [r.claims for r in came if r.claims is not None]
        out = _deliveries(due)
        if came and rest and rest[0] is not None:
            out += _streamed(streamed_after(rest[0], at, _LONG_IDS))
        if came and since:
            out += overlapped(since, at)
        return out

    def targeted() -> tuple[PositionIndex, Positions | None]:
        # What POST /alerts and retarget target: each device's latest fix over the kept
        # batches and the latest one (an index of its own unless that batch is all of them),
        # and the latest batch's fixes of ids too long to merge (on_positions tells those).
        # Made once for the alerts targeted at once (see _Merged).
        index = current["index"]

        def merge() -> tuple[PositionIndex, Positions | None]:
            merged, rest = retained.latest(index.positions)
            return (index if merged is index.positions else PositionIndex(merged)), rest

        return merges.get(retained.generation, index, merge)

    async def explain(request: Request) -> Response:
        _takes(request, ("incident", "device", "at"))
        device = _param(request, "device")
        # (?at= first, as every endpoint reads its query before anything else: a bad one was
        # answered 404 for an unknown incident, or 503 while the store was down.)
        at = _at(request)
        alert = await run_in_threadpool(current_alert, _param(request, "incident"))
        if alert is None:
            return _problem(
                request,
                404,
                f"incident {_shown(_param(request, 'incident'))} is unknown to the store, as an"
                " incident's key or a version's id (no Alert or Update of it was received):"
                f" nothing to explain{_plus_hint(request, 'incident')}",
                "NotFound",
            )
        index = current["index"]
        # In a worker thread, as every other request's work: over a million devices a preview
        # took most of a second, which on the event loop stopped every other request.
        answer = await run_in_threadpool(why, alert, device, index.positions, at)
        if answer is None:
            return _problem(
                request,
                404,
                f"device {_shown(device)} has no position among the fixes this process keeps"
                f" (its latest POST /positions batches, at most {retained.limit:,} fixes):"
                " nothing to explain; ids are matched by their text as the batch gave them"
                f" (7 is not 007){_plus_hint(request, 'device')}",
                "NotFound",
            )
        return PlainTextResponse(answer)

    def current_alert(key: str) -> Alert | None:
        # The current version of the incident ``key`` names: by its key, or by the id of any
        # version of it (an Update's, a Cancel's: "any version of the chain identifies the
        # incident"), or of an incident merged into it. (An Update's id was answered 404 "no
        # alert of it was received", of an Update the store held; a merged incident's key
        # explained the version it had when it was merged.)
        incident = store.incident(key)
        if incident is None or incident.state is IncidentState.MERGED:
            found = store.lookup_version(key)
            if found is not None:
                incident = store.incident(found[0])
        return incident.alert if incident is not None else None

    def why(alert: Alert, device: str, latest: Positions, at: dt.datetime) -> str | None:
        # The device's newest fix over the kept batches, as POST /alerts targets it: before,
        # only the latest batch was looked at, so a device that reported a second earlier in
        # another batch had "no position". Looked up first (not a preview of every device,
        # then a 400 naming the library's "device_id" for a device not there).
        fix = retained.fix_of(device, latest)
        if fix is None:
            return None
        return targeter.preview(alert, PositionIndex(fix), at).explain(device)

    async def ready(request: Request) -> Response:
        # For a load balancer's or Kubernetes' probe: changes nothing (POST /redeliver, the
        # one endpoint without a body, leases deliveries to its caller; GET /explain needs an
        # incident and a device). The store answering a read is what it checks: a store down
        # (or not opened yet) is a 503 naming the StoreError, as every endpoint that needs it.
        _takes(request, ("at",))
        _at(request)
        active = await run_in_threadpool(store.load_active)
        return JSONResponse({"status": "ready", "active_incidents": len(active)})

    async def store_failed(request: Request, exc: Exception) -> Response:
        # A failure that may pass says when to try again, as the service's other 503s do
        # (Busy, Stopped): a client or proxy honouring Retry-After otherwise had no hint.
        # Not a corrupt store's: sending the request again does not mend it.
        passing = {"Retry-After": STORE_RETRY_AFTER} if isinstance(exc, _PASSING) else None
        return _problem(request, 503, str(exc), type(exc).__name__, passing)

    async def bad_input(request: Request, exc: Exception) -> Response:
        return _problem(request, 400, str(exc), type(exc).__name__)

    async def conflict(request: Request, exc: Exception) -> Response:
        # RFC 9110 15.5.10: the request conflicts with what the store holds (an alert version
        # id re-used for other content); a 400 said the request itself was malformed.
        assert isinstance(exc, DuplicateIdentifier)
        return _problem(
            request,
            409,
            str(exc),
            "DuplicateIdentifier",
            members={
                "field": exc.field,
                "rule": "an identifier is unique per sender (CAP 1.2): a new version takes a"
                " new identifier",
                "stored": exc.stored,
                "received": exc.received,
            },
        )

    async def too_large(request: Request, exc: Exception) -> Response:
        return _problem(request, 413, str(exc), "TooLarge")

    async def encoded(request: Request, exc: Exception) -> Response:
        # RFC 9110 15.5.16: 415 for a content coding not taken, saying which are.
        return _problem(request, 415, str(exc), "Encoded", {"Accept-Encoding": "identity"})

    async def wrong_type(request: Request, exc: Exception) -> Response:
        return _problem(request, 415, str(exc), "UnsupportedMediaType")

    async def busy(request: Request, exc: Exception) -> Response:
        return _problem(request, 503, str(exc), "Busy", {"Retry-After": "1"})

    async def slow(request: Request, exc: Exception) -> Response:
        # The rest of the body may still come: the connection is closed, not read further.
        return _problem(request, 408, str(exc), "Slow", {"Connection": "close"})

    async def gone(request: Request, exc: Exception) -> Response:
        # Routine (a phone losing its network): one line, no traceback, nothing of the body.
        LOG.info("%s", exc)
        return Response(status_code=400)  # nobody reads it: the server drops it

    async def no_route(request: Request, exc: Exception) -> Response:
        # Starlette's own answers ("Not Found", "Method Not Allowed"), which named neither
        # what was asked nor what the service takes, in plain text whatever the Accept.
        status = getattr(exc, "status_code", 500)
        asked = f"{request.method} {_shown(request.url.path)}"
        if status == 405:
            allow = getattr(exc, "headers", None) or {}
            return _problem(
                request,
                405,
                f"{asked}: {request.url.path} takes only {allow.get('Allow', 'other methods')}",
                "MethodNotAllowed",
                dict(allow),
            )
        if status == 404:
            path = request.url.path
            hint = ""
            if path != "/" and path.rstrip("/") in _PATHS:
                # (Starlette redirected /alerts/ to /alerts with a 307 and an empty body: a
                # feed posting there, curl without -L, saw no answer and its alert went to
                # nobody, and behind a TLS proxy the redirect named plain http://.)
                hint = f" ({path.rstrip('/')} is one: without the trailing slash)"
            return _problem(
                request,
                404,
                f"{asked}: no such endpoint{hint}; the service has {ENDPOINTS}; nothing was"
                " applied",
                "NotFound",
            )
        return _problem(request, status, str(getattr(exc, "detail", "")), "HTTPException")

    async def failed(request: Request, exc: Exception) -> Response:
        # A fault of the service (a bug): the traceback goes to the log (Starlette raises it
        # on), the answer names only the exception's class: its message may quote anything.
        return _problem(
            request,
            500,
            f"{request.method} {_shown(request.url.path)} failed inside the service"
            f" ({type(exc).__name__}; its log has the cause): what it applied is not known",
            "InternalError",
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Speed only: remember each active incident's claimed devices, so the first Update
        # after a restart sends only new devices to the store.
        try:
            for incident in store.load_active():
                store.warm(incident.key)
        except StoreError:
            pass  # the store is down: serve what does not need it, and recover when it is back
        # The regions' lookup indexes, built in the background: the first alert after a start
        # (a restart, a rolling deploy) otherwise waits for them, seconds on a loaded machine.
        threading.Thread(target=targeter.warm, name="geotarget-warm", daemon=True).start()
        with _hangup_keeps_serving(policy, regions):
            yield
        # uvicorn stops: past its --timeout-graceful-shutdown it cancelled the requests still
        # running, each of which answers 503 (_AnswersWhenStopped) on its next turn of the
        # event loop. Wait for those answers (briefly: they need no store) before closing the
        # store; uvicorn ends the process once this returns. The store is closed off the event
        # loop: closing waits for the store calls still running in worker threads (a request
        # cancelled while its claim waited for a lock), and on the loop it stopped the loop
        # from closing the connections of the answers just sent: their clients, reading to
        # the close (Connection: close), waited for the store call's timeouts (5 s, up to 30 s
        # on PostgreSQL), past the grace period, and the supervisor's kill answered nothing.
        await in_flight.wait_idle(STOPPING_SECONDS)
        await anyio.to_thread.run_sync(store.close)

    service = Starlette(
        routes=[
            Route("/alerts", alerts, methods=["POST"]),
            Route("/positions", positions, methods=["POST"]),
            Route("/confirm", confirm, methods=["POST"]),
            Route("/redeliver", redeliver, methods=["POST"]),
            Route("/explain", explain, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
        ],
        exception_handlers={
            StoreError: store_failed,
            DuplicateIdentifier: conflict,
            GeotargetError: bad_input,
            _TooLarge: too_large,
            _Encoded: encoded,
            _WrongType: wrong_type,
            _Busy: busy,
            _Slow: slow,
            _Gone: gone,
            HTTPException: no_route,
            Exception: failed,
        },
        middleware=[Middleware(_OriginForm), Middleware(_AnswersWhenStopped, requests=in_flight)],
        lifespan=lifespan,
    )
    # A path with a trailing slash (or without one) that is not an endpoint is a 404 naming
    # the endpoint, never a redirect (see no_route).
    service.router.redirect_slashes = False
    return service


@contextmanager
def _hangup_keeps_serving(policy: Path, regions: RegionHierarchy) -> Iterator[None]:
    """While a single uvicorn process serves, ``SIGHUP`` keeps it serving and checks the policy.

    uvicorn reloads on ``SIGHUP`` only under ``--workers N`` (its supervisor replaces each
    worker, keeping the old one where the new one fails to start). A single process, as the
    run command the docs give starts it, left ``SIGHUP`` at its default and died of it at once,
    without a line in its log: ``systemctl reload`` or ``kill -HUP`` after an edit of the
    policy file stopped the service, the requests in flight cut off, and an edit that was a
    mistake then kept it from starting again. Now the process keeps serving with the policy it
    started with and logs whether the file as it is now would start a process (its problems if
    not): restart the process to apply an edit.

    Only where ``SIGHUP`` is at its default (``nohup`` and an embedding program keep their
    own), in the main thread (uvicorn's event loop; not a test client's), and not in a worker
    of ``uvicorn --workers N``, whose supervisor reloads.
    """
    signum = getattr(signal, "SIGHUP", None)  # (Windows has none)
    if (
        signum is None
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signum) is not signal.SIG_DFL
        or _uvicorn_worker()
    ):
        yield
        return

    def check() -> None:
        try:
            loaded = _policy(policy, regions)
            Targeter(
                regions,
                loaded.rollout,
                location_rules=loaded.location_rules,
                recognition=loaded.recognition,
                issuers=loaded.issuers,
            )
        except (GeotargetError, OSError) as err:
            LOG.error(
                "SIGHUP: still serving with the policy read at start (one uvicorn process does "
                "not reload; uvicorn --workers N does); the policy file %s as it is now would "
                "not start a process: %s",
                policy,
                _plain(" ".join(line.strip() for line in str(err).splitlines())),  # one line
            )
            return
        LOG.warning(
            "SIGHUP: still serving with the policy read at start (one uvicorn process does not "
            "reload; uvicorn --workers N does); the policy file %s as it is now is valid: "
            "restart the process to apply it",
            policy,
        )

    def hangup(number: int, frame: Any) -> None:
        # (checked in a thread: the event loop, which this handler interrupts, goes on serving)
        threading.Thread(target=check, name="policy check on SIGHUP", daemon=True).start()

    previous = signal.signal(signum, hangup)
    try:
        yield
    finally:
        signal.signal(signum, previous)


#: A URL: ``scheme://``. Only PostgreSQL's are DSNs; any other (``sqlite:///...``,
#: SQLAlchemy's ``postgresql+psycopg://...``) is refused, never taken as a relative file path.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: libpq's keyword/value DSN (``dbname=alerts user=svc``, ``host=db port=5432``): it starts
#: with a lower-case keyword and ``=``. Taken as a file path it made a new SQLite file named
#: after the DSN, a store no other instance shares (every device told by each instance).
_CONNINFO = re.compile(r"\s*[a-z_]+\s*=")


def store_from_env() -> DeliveryLedger:
    """The store named by ``GEOTARGET_STORE``: a PostgreSQL DSN or a SQLite file path.

    A PostgreSQL DSN is a ``postgresql://`` or ``postgres://`` URL or libpq's keyword/value
    form (``host=db dbname=alerts``); a URL of another scheme is refused
    (:class:`~geotarget.errors.InvalidInput`, naming only its scheme: a DSN may hold a
    password); anything else is a SQLite file path (one that starts with a word and ``=`` is
    written ``./name=...``).
    """
    where = os.environ.get("GEOTARGET_STORE", "deliveries.db")
    if where != where.strip():
        # (" postgresql://..." was taken as a relative file path, and "deliveries.db\n", a
        # line end kept from a secret or a file, made a new SQLite file of that name: a store
        # no other instance shares.)
        raise InvalidInput(
            "GEOTARGET_STORE must not start or end with white space (a space, a tab or a line"
            " end, as a value copied from a file or a secret keeps): its value is not shown, it"
            " may hold a password; remove the white space"
        )
    try:
        if where.startswith(("postgresql://", "postgres://")) or _CONNINFO.match(where):
            return PostgresLedger(where)
        url = _URL.match(where)
        if url is None:
            return SQLiteLedger(where)  # (a device, a pipe or a socket: InvalidInput)
    except InvalidInput as err:
        # (The stores name their parameter, "path" or "dsn": the operator set the variable.)
        raise InvalidInput(f"GEOTARGET_STORE: {err}") from None
    raise InvalidInput(
        f"GEOTARGET_STORE must be a SQLite file path or a PostgreSQL DSN (postgresql://..."
        f" or host=... dbname=...), not a {url.group()} URL (the rest not shown: it may"
        " hold a password); write a SQLite store as a plain path, e.g. /var/lib/geotarget/"
        "deliveries.db"
    )


class _OpenedLater:
    """The service's store: opened at the first call once it can be, and again when replaced.

    A service started while its store could not be opened (server down, no volume) gets one
    without a store: every call first opens it, once: until that succeeds a call raises the
    :class:`~geotarget.errors.StoreError` of its attempt (the service answers 503 naming it)
    and the service serves what needs no store; the log says in one line when it is opened.

    A SQLite store whose file was removed (a clean-up job, a volume swapped) answers 503 as
    its handle refuses the file gone; once a file is at its path again (restored from a
    backup, or made by an instance started meanwhile: another file, which the handle refused
    as "removed or replaced" for as long as the process ran, every request a 503 until a
    restart), the next call opens it, closes the old handle, and the log says so in one line.
    Never while no file is there: a new empty store is not made in its place.
    """

    def __init__(
        self, open_store: Callable[[], DeliveryLedger], opened: DeliveryLedger | None = None
    ) -> None:
        self._open = open_store
        self._lock = threading.Lock()
        self._inner: DeliveryLedger | None = None
        self._file: Path | None = None
        self._identity: tuple[int, int] | None = None
        if opened is not None:
            self._opened(opened)

    def _opened(self, inner: DeliveryLedger) -> None:
        self._inner = inner
        self._file = inner.path if isinstance(inner, SQLiteLedger) else None
        self._identity = _file_identity(self._file)

    def _store(self) -> DeliveryLedger:
        with self._lock:
            if self._inner is None:
                self._opened(self._open())
                # (The start logged "cannot be opened yet; answering 503 until it can", and
                # nothing said when it could: an operator read the log for an outage that
                # had ended.)
                where = f": {self._file}" if self._file is not None else ""  # (a DSN: no)
                LOG.warning("the store is open now%s; answering what needs it", where)
            elif self._file is not None:
                now = _file_identity(self._file)
                if now is not None and now != self._identity:
                    old = self._inner
                    self._opened(self._open())  # (a StoreError: this call answers 503)
                    LOG.warning(
                        "the store's file %s was removed or replaced while the service ran: it"
                        " is opened again (what the old file held and the new one lacks is"
                        " gone: a restored backup's older claims tell again)",
                        self._file,
                    )
                    old.close()
            assert self._inner is not None
            return self._inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not callable(getattr(DeliveryLedger, name, None)):
            raise AttributeError(name)

        def call(*args: Any, **kw: Any) -> Any:
            return getattr(self._store(), name)(*args, **kw)

        return call

    def close(self) -> None:
        with self._lock:
            if self._inner is not None:
                self._inner.close()


def _file_identity(path: Path | None) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, or None (no path, or no file there)."""
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _policy(path: Path, regions: RegionHierarchy) -> Any:
    """The policy file at ``path`` by :func:`geotarget.load_policy`, checked against ``regions``.

    A file the process may not get at is the policy file's problem (``InvalidPolicy``), as a
    missing one is: one message at start and exit status 1.
    """
    return load_policy(path, catalog=regions, issuers_required=True)


#: Store failures at start that may pass (a server down, a volume not mounted yet, a read-only
#: mount, a held lock, a full disk): the service starts and opens the store once it can. Any
#: other (a file that is not a database, a DSN libpq cannot parse) is a mistake in the
#: configuration, and the service does not start.
_PASSING = (StoreUnavailable, StoreReadOnly, StoreBusy, StoreFull)
#: The ``Retry-After`` (seconds) of a 503 for a store failure that may pass (:data:`_PASSING`):
#: the stores' own connect and lock timeouts (5 s), so a retry finds the store back or waits
#: out the lock no sooner than the failed request did.
STORE_RETRY_AFTER = "5"


def app() -> Starlette:
    """``uvicorn --factory examples.service.app:app``.

    A store that cannot be opened yet (PostgreSQL down, the SQLite file's directory not there)
    does not stop the service: it logs why, answers 503 naming the cause on what needs the
    store, and opens it at the first request once it can. A mistake in the configuration (a
    policy file that is missing or wrong, a ``GEOTARGET_*`` value the service cannot use, a
    store that is not one) stops it: its message on standard error, exit status 1, no
    traceback.
    """
    store: DeliveryLedger | None = None
    _log_with_uvicorn()
    try:
        if _ENV_PROBLEMS:  # (before the store is opened: a refused start creates no file)
            raise InvalidInput("; ".join(_ENV_PROBLEMS))
        # The policy file too: a missing or wrong one made the store's file, then stopped.
        policy = Path(os.environ.get("GEOTARGET_POLICY", EXAMPLE_POLICY))
        _policy(policy, sweden.hierarchy())
        try:
            store = store_from_env()
            if isinstance(store, SQLiteLedger):  # (opened again if its file is replaced)
                store = _OpenedLater(store_from_env, store)
        except _PASSING as err:
            LOG.error("the store cannot be opened yet; answering 503 until it can: %s", err)
            store = _OpenedLater(store_from_env)
        return create_app(store, policy=policy)
    except GeotargetError as err:
        if store is not None:
            store.close()
        message = f"examples.service: cannot start: {_plain(str(err))}"
        if _uvicorn_worker():
            _stop_uvicorn_workers(message)
        raise SystemExit(message) from None


def _one_line(record: logging.LogRecord) -> bool:
    """A logging filter: the record's message on one line (a store's message may hold several).

    A log read line by line (journald, a log shipper) took each further line for an entry of
    its own, without a level or a time: libpq's "connection refused" has a second line.
    """
    message = record.getMessage()
    if "\n" in message or "\r" in message:
        record.msg = " ".join(part.strip() for part in message.splitlines() if part.strip())
        record.args = None
    return True


def _log_with_uvicorn() -> None:
    """The service's logger (:data:`LOG`): one line a message, written where uvicorn writes.

    Under uvicorn, where nothing else configured logging (no handler on the root logger, no
    ``--log-config`` giving the service's logger one), the logger gets uvicorn's handlers and
    the level of ``--log-level``. It had none: its INFO lines (a client that hung up
    mid-body, fixes stamped ahead of their arrival), which the docs promise, never appeared,
    whatever the level, and its warnings and errors came through Python's last resort, without
    a level. Outside uvicorn (no handler on its logger), nothing changes.
    """
    if not any(getattr(f, "__name__", "") == _one_line.__name__ for f in LOG.filters):
        LOG.addFilter(_one_line)
    server = logging.getLogger("uvicorn")
    if LOG.handlers or logging.getLogger().handlers or not server.handlers:
        return
    for handler in server.handlers:
        LOG.addHandler(handler)
    LOG.setLevel(logging.getLogger("uvicorn.error").getEffectiveLevel())
    LOG.propagate = False


#: The exit status uvicorn gives a process that failed to start (``uvicorn.config``'s
#: ``STARTUP_FAILURE``): its ``--workers`` supervisor stops, rather than start the worker again.
_STARTUP_FAILURE = 3


def _uvicorn_worker() -> bool:
    """Whether this process is a worker of ``uvicorn --workers N`` (its parent supervises it)."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    return (
        parent is not None and parent.pid == os.getppid() and "uvicorn._subprocess" in sys.modules
    )


def _stop_uvicorn_workers(message: str) -> None:
    """Stop ``uvicorn --workers N`` on a configuration mistake, instead of a restart loop.

    Its supervisor started each worker that stopped again, forever, the message on standard
    error twice a second and the socket bound, answering nothing: a mistake looked like a
    running service. Now the worker exits with uvicorn's start-up failure status, and where
    the supervisor does not stop on it by itself (older uvicorn) first asks it to stop
    (SIGTERM: it stops its other workers and removes its Unix socket).
    uvicorn's supervisor itself then exits with status 0 (it passes no worker's status on):
    its standard error says why.
    """
    print(message, file=sys.stderr, flush=True)
    if not _supervisor_stops_itself():
        os.kill(os.getppid(), signal.SIGTERM)
    raise SystemExit(_STARTUP_FAILURE)


def _supervisor_stops_itself() -> bool:
    """Whether uvicorn's ``--workers`` supervisor stops by itself on a start-up failure.

    Newer uvicorn stops when a worker exits with :data:`_STARTUP_FAILURE`, and on ``SIGHUP``
    (a reload: every worker replaced, as after an edit of the policy file) keeps each old
    worker serving whose replacement failed to start. There the worker must not stop the
    supervisor: a reload after a mistaken edit stopped the whole running service, every
    healthy worker with it, where uvicorn would have kept them.
    """
    try:
        from uvicorn.supervisors import multiprocess
    except ImportError:  # (not under uvicorn's supervisor: nothing else to stop)
        return True
    return getattr(multiprocess, "STARTUP_FAILURE", None) == _STARTUP_FAILURE
