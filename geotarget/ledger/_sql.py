"""What the SQLite and PostgreSQL stores share: the schema, the operations, the lifecycle.

Statements are written with ``?`` placeholders; the PostgreSQL store turns them into ``%s``.
Every public operation is one transaction: on any failure it is rolled back whole.

Claims, confirmations and redelivery commit lazily where the store allows it (SQLite
``synchronous=NORMAL`` in WAL mode, PostgreSQL ``synchronous_commit=off``); lifecycle changes
(admit, retract, expire) commit durably, which also flushes every earlier lazy commit. See
:meth:`SqlStore._tx` for why the guarantee survives a power loss.

A claim row is narrow — integer incident and version ids, the device, its state, lease and
order — so claims are cheap to write. Each store handle also remembers the devices it has seen
claimed per incident (:attr:`SqlStore._known`): claims are never deleted, so that memory is a
subset of what the database holds, and a device in it can be left out of the next claim's
statement without asking the database again (an Update over a large incident then only sends
the devices not yet claimed). The database still decides every device it is sent. A server
that crashed may have lost its latest (lazily committed) claims: a PostgreSQL handle forgets
what it remembered whenever a new connection replaces a lost one.

The SQLite store keeps a new incident's claims as one log row per batch until a write needs
them as rows (:meth:`SqlStore._settle`); reads add them to the rows (:meth:`SqlStore._logged`).
"""

from __future__ import annotations

import abc
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget import _sorted
from geotarget.ledger import _lifecycle
from geotarget.ledger._batch import (
    Payload,
    SortedRuns,
    batch_positions,
)
from geotarget.ledger._model import (
    Admission,
    Claims,
    ClaimStatus,
    DeliveryKind,
    DeviceIds,
    IdArray,
    Incident,
    IncidentState,
    Transition,
    at_micros,
    canonical_text,
    check_token,
    device_batch,
    from_micros,
    stored_claims,
)
from geotarget.ledger._store import DEFAULT_LEASE as DEFAULT_LEASE  # targeting.py imports it here
from geotarget.ledger._store import StoreBase, claim_status

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gt_incidents (
        id {serial_pk},
        incident TEXT NOT NULL UNIQUE,
        state SMALLINT NOT NULL,
        version TEXT,
        sent_us BIGINT,
        sender TEXT,
        status TEXT,
        document TEXT,
        cancel_version TEXT,
        changed_us BIGINT NOT NULL,
        released TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS gt_versions (
        version TEXT PRIMARY KEY,
        incident TEXT NOT NULL,
        document TEXT,
        sent_us BIGINT,
        seen_us BIGINT NOT NULL
    )""",
    # The versions of an incident: a chain's versions are looked up by it (merges, and the
    # versions that name one arriving late).
    "CREATE INDEX IF NOT EXISTS gt_versions_incident ON gt_versions (incident)",
    # Read only: the first Cancel naming each version, as stores written by earlier builds kept it.
    """CREATE TABLE IF NOT EXISTS gt_early_cancels (
        version TEXT PRIMARY KEY,
        cancel_version TEXT NOT NULL,
        at_us BIGINT NOT NULL
    )""",
    # Every Cancel that named a version before it was known (the rule decides which may end it).
    """CREATE TABLE IF NOT EXISTS gt_early_cancel_refs (
        version TEXT NOT NULL,
        cancel_version TEXT NOT NULL,
        at_us BIGINT NOT NULL,
        PRIMARY KEY (version, cancel_version)
    )""",
    # A Cancel that named no known version: its document, so its id re-used is a conflict.
    """CREATE TABLE IF NOT EXISTS gt_remembered_cancels (
        version TEXT PRIMARY KEY,
        document TEXT NOT NULL,
        at_us BIGINT NOT NULL
    )""",
    # A version the blast-radius guard held: Targeter.retarget passes over it (any process).
    """CREATE TABLE IF NOT EXISTS gt_holds (
        version TEXT PRIMARY KEY,
        at_us BIGINT NOT NULL
    )""",
    # An Update the Targeter's gate refused: a message naming it names its references.
    """CREATE TABLE IF NOT EXISTS gt_refused (
        version TEXT PRIMARY KEY,
        document TEXT NOT NULL,
        at_us BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS gt_tokens (
        id {serial_pk},
        token TEXT NOT NULL UNIQUE
    )""",
    # ``kind`` is 4 bytes wide so that ``device`` starts 4-byte aligned in the primary key's
    # tuples: PostgreSQL then caches its offset instead of walking each tuple it compares to
    # find it (about a tenth of a claim's server time; an earlier SMALLINT column still works).
    """CREATE TABLE IF NOT EXISTS gt_claims (
        incident_id BIGINT NOT NULL,
        kind INTEGER NOT NULL,
        device {device_type} NOT NULL,
        version_id BIGINT NOT NULL,
        state SMALLINT NOT NULL,
        batch BIGINT NOT NULL,
        pos BIGINT NOT NULL,
        lease_us BIGINT NOT NULL,
        confirmed_us BIGINT,
        PRIMARY KEY (incident_id, kind, device)
    ){without_rowid}""",
]


def schema_columns(statements: list[str]) -> dict[str, frozenset[str]]:
    """Each table the ``CREATE TABLE`` statements make, and its columns.

    Read from the tables SQLite (the standard library's, in memory) makes of them, with the
    SQLite spelling of :data:`SCHEMA`'s placeholders; the names are the same in PostgreSQL.
    """
    db = sqlite3.connect(":memory:")
    try:
        for stmt in statements:
            db.execute(
                stmt.format(serial_pk="INTEGER PRIMARY KEY", device_type="", without_rowid="")
            )
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: frozenset(r[1] for r in db.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        db.close()


def missing_columns(store: str, table: str, missing: list[str], remedy: str) -> str:
    """The refusal of a table of one of the store's names without the columns it uses."""
    return (
        f"{store}: its table {table!r} has no column {', '.join(missing)}, which this "
        "geotarget uses: it was made by another program or an early build of geotarget, "
        f"whose store this one cannot read; {remedy}; nothing was written to it"
    )


#: The columns of each table of :data:`SCHEMA`, as this build reads them.
COLUMNS = schema_columns(SCHEMA)

_KIND = {0: DeliveryKind.ALERT, 1: DeliveryKind.RETRACTION}
_ROW_COLUMNS = (
    "state, version, sent_us, sender, status, document, cancel_version, changed_us, released"
)
# Due deliveries, read from the incidents outward so the claims of expired incidents (and the
# alert claims of cancelled ones) are never scanned: an active incident's claims of every kind,
# a cancelled incident's retractions (kind >= state picks exactly those).
# An alert delivery pending on a version that is no longer current is held, not due.
_DUE_FROM = "gt_incidents i LEFT JOIN gt_tokens cv ON cv.token = i.version CROSS JOIN gt_claims c"
_DUE_WHERE = (
    "i.state IN (0, 1) AND c.incident_id = i.id AND c.kind >= i.state AND c.state = 0"
    " AND c.lease_us <= ? AND (c.kind = 1 OR i.version IS NULL OR c.version_id = cv.id)"
)
_EMPTY_INT = np.array([], dtype=np.int64)


@attrs.frozen(eq=False)
class Logged:
    """One batch of claims a store keeps outside the claim rows (SQLite's claim log).

    Every device in it is a pending alert delivery (kind 0) of ``version``, leased until
    ``lease_us``.
    """

    incident_id: int
    incident: str
    version: str
    batch: int
    lease_us: int
    payload: Payload

    def devices(self, limit: int | None = None) -> list[str]:
        """The canonical text of each device (the first ``limit`` only), in claim order."""
        p = self.payload
        if limit is None or limit >= len(p):
            return p.texts()
        strs: list[str] = p.strs[: max(0, limit - p.ints.size)].tolist()
        return [*map(str, p.ints[:limit].tolist()), *strs]


_NO_RUNS = SortedRuns()


def _minus(runs: SortedRuns, values: IdArray) -> SortedRuns:
    """The set ``runs`` without ``values`` (ascending); row numbers are not kept."""
    if values.size == 0:
        return runs
    kept = tuple((v[~_sorted.member(v, values)], None) for v, _ in runs.runs)
    return SortedRuns(tuple(r for r in kept if r[0].size))


#: Every open SQL store of this process, for :func:`_after_fork`.
_OPEN: weakref.WeakSet[SqlStore] = weakref.WeakSet()
#: Connections a forked child inherited: kept, never used nor closed (their parent's).
_INHERITED: list[Any] = []


def _after_fork() -> None:
    """In a forked child: each store's locks are new and its connection is the parent's.

    A fork copies the parent's connection (its socket, or its SQLite file handles and locks)
    and its locks, perhaps held by a thread the child does not have. Used by two processes, a
    PostgreSQL connection interleaves their messages (each waits, for ever, for an answer the
    other read) and a SQLite connection believes in locks the child does not hold. So the
    child keeps the parent's connection untouched (closing it would end the parent's session)
    and opens its own at its first call.
    """
    for store in list(_OPEN):
        store._forked()


if hasattr(os, "register_at_fork"):  # (no fork on Windows)
    os.register_at_fork(after_in_child=_after_fork)


class SqlStore(StoreBase):
    """The operations of a SQL delivery store; subclasses supply the connection and batches.

    A handle carried into a process forked from the one that opened it (``multiprocessing``'s
    ``fork`` start, a pre-forking server) opens a connection of its own there at its first
    call; the parent's goes on serving the parent.
    """

    #: ``" FOR SHARE"`` / ``" FOR UPDATE"`` on PostgreSQL; SQLite serialises writers instead.
    _for_share = ""
    _for_update = ""
    #: A new id for an incident's row, larger than every id given before (see ``renew``).
    _next_id = "(SELECT MAX(id) + 1 FROM gt_incidents)"
    #: Further columns a claim reads with its incident's row, for :meth:`_replaced_whole`.
    _whole_columns = ""

    def __init__(self) -> None:
        #: Per incident: (the version the set is exact for, or None; claimed ints; strings).
        self._known: dict[str, tuple[str | None, SortedRuns, SortedRuns]] = {}
        #: Per incident: the id of the row the set was read for. A row renewed by an Actual
        #: message taking its key back (its claims moved to another incident) has a new id.
        self._known_ids: dict[str, int] = {}
        self._known_lock = threading.Lock()
        _OPEN.add(self)

    def _forked(self) -> None:
        """In a forked child (:func:`_after_fork`): new locks; the connection set aside."""
        self._known_lock = threading.Lock()

    # -- what a backend supplies ---------------------------------------------------------------

    @abc.abstractmethod
    def _tx(self, durable: bool = False) -> AbstractContextManager[Any]:
        """A write transaction yielding a cursor; a failure rolls it back and raises StoreError.

        ``durable``: the commit must be on disk before it returns (lifecycle changes). Claims and
        confirmations may commit lazily where the store allows it: the log is sequential, so a
        crash can only lose the latest lazy commits whole, never an earlier one while keeping a
        later one, and a durable commit flushes every lazy commit before it. Losing a claim or a
        confirmation only means the device is offered again under the same key, which the
        guarantee allows; losing a Cancel would not be, so lifecycle changes are durable.
        """

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A read-only snapshot yielding a cursor."""

    def _logged(self, cur: Any, incident: str | None, due_by: int | None = None) -> list[Logged]:
        """The claims of ``incident`` (None: all) that are not rows yet: none here.

        ``due_by``: only those due then (of an active incident, leased until then or earlier).
        The SQLite store overrides it to read its claim log; reads add these to the rows.
        """
        del cur, incident, due_by
        return []

    def _settle(self, cur: Any, incident: str | None, due_by: int | None = None) -> None:
        """Inside a write transaction: make claims of ``incident`` (None: all) rows.

        ``due_by``: only the incidents with a claim due then (active, leased until then or
        earlier: what a redelivery can take), each whole. A no-op here: the SQLite store
        overrides it to fold its claim log (see
        :class:`~geotarget.ledger.SQLiteLedger`).
        """
        del cur, incident, due_by

    @abc.abstractmethod
    def _insert_claims(
        self,
        cur: Any,
        incident_id: int,
        version_id: int,
        payload: Payload,
        lease_us: int,
        rekey: bool,
    ) -> npt.NDArray[np.int64]:
        """Insert the payload's devices not yet claimed; return their payload indices.

        Each new row is a pending (state 0) alert delivery (kind 0) leased until ``lease_us``.
        ``rekey``: a device whose delivery is pending on another version (held: an Update made
        ``version_id`` current) is claimed too, its row moved to this version and batch.
        """

    @abc.abstractmethod
    def _source(self, ids: IdArray) -> tuple[str, Any]:
        """A SQL row source ``(pos, device)`` over ids (in order), and its parameter."""

    @abc.abstractmethod
    def _redeliver_rows(
        self, cur: Any, at_us: int, until_us: int, limit: int | None
    ) -> list[tuple[str, str, int, str]]:
        """Renew the lease of due pending deliveries; return (incident, version, kind, device)."""

    def _text(self, column: str) -> str:
        """SQL for a device column as canonical text."""
        return column

    def _q(self, sql: str) -> str:
        return sql

    def _serialise_admissions(self, cur: Any) -> None:
        """Make admissions one at a time (SQLite's write lock already does)."""
        del cur

    def _replaced_whole(self, cur: Any, marks: tuple[Any, ...]) -> bool:
        """Inside a claim's transaction: whether the database may have been put back since.

        True when its content may be older than what this handle remembered: it then
        forgets every claimed device it remembered (:meth:`_forget_all`), as a PostgreSQL
        handle also does when a new connection replaces a lost one. ``marks``: the values
        of :attr:`_whole_columns` the claim read. Each store overrides it.
        """
        del cur, marks
        return False

    def _renumbered(self, cur: Any, old: int, new: int) -> None:
        """Inside a write transaction: incident row ``old`` is row ``new`` now, claims moved.

        The SQLite store overrides it to move its claim log too.
        """
        del cur, old, new

    # -- helpers -------------------------------------------------------------------------------

    def _ensure_incident(
        self, cur: Any, key: str, at_us: int
    ) -> tuple[int, int, str | None, tuple[Any, ...]]:
        """(id, state, current version, marks) of the incident, made active if new, share-locked.

        ``marks``: the values of :attr:`_whole_columns`.

        Read first: a claim's incident exists (its admission made it), so the insert runs
        only for a key no admission made, and then concurrent creators meet at its
        ``ON CONFLICT`` before the read is repeated.
        """
        select = (
            self._q(
                f"SELECT id, state, version{self._whole_columns} FROM gt_incidents"
                " WHERE incident = ?"
            )
            + self._for_share
        )
        row = cur.execute(select, (key,)).fetchone()
        if row is None:
            cur.execute(
                self._q(
                    "INSERT INTO gt_incidents (incident, state, changed_us) VALUES (?, 0, ?)"
                    " ON CONFLICT (incident) DO NOTHING"
                ),
                (key, at_us),
            )
            row = cur.execute(select, (key,)).fetchone()
        return int(row[0]), int(row[1]), row[2], tuple(row[3:])

    def _token(self, cur: Any, token: str) -> int:
        cur.execute(
            self._q("INSERT INTO gt_tokens (token) VALUES (?) ON CONFLICT (token) DO NOTHING"),
            (token,),
        )
        (tid,) = cur.execute(
            self._q("SELECT id FROM gt_tokens WHERE token = ?"), (token,)
        ).fetchone()
        return int(tid)

    def _forget(self, key: str) -> None:
        with self._known_lock:
            self._known.pop(key, None)
            self._known_ids.pop(key, None)

    def _forget_all(self) -> None:
        """Forget every claimed device remembered: the database may no longer hold them.

        Called when a new connection replaces a lost one. The server may have crashed, and
        claims commit lazily, so its latest claims may be gone (or the database was restored
        or made anew): a device remembered but no longer in the database would never be
        claimed again by this handle, nor offered by ``redeliver``.
        """
        with self._known_lock:
            self._known.clear()
            self._known_ids.clear()

    # -- delivery protocol --------------------------------------------------------------------

    def _writing(self, durable: bool = False) -> AbstractContextManager[Any]:
        return self._tx(durable)

    def _claim(
        self, key: str, version: str, batch: IdArray, at_us: int, lease_us: int
    ) -> tuple[ClaimStatus, npt.NDArray[np.int64]]:
        full = payload = Payload.of(batch)
        with self._known_lock:
            known = self._known.get(key)
        if known is not None:
            payload = full.without(known[1], known[2])
        with self._tx() as cur:
            # The first claim of the current version releases it for streaming. Written before
            # the share lock below, so concurrent claimers never upgrade a lock.
            cur.execute(
                self._q(
                    "UPDATE gt_incidents SET released = version WHERE incident = ?"
                    " AND state = 0 AND version = ? AND (released IS NULL OR released <> ?)"
                ),
                (key, version, version),
            )
            incident_id, state, current, marks = self._ensure_incident(cur, key, at_us)
            if self._replaced_whole(cur, marks):
                # Restored from a backup: claims remembered may be gone from the database.
                self._forget_all()
                known, payload = None, full
            status = claim_status(state, current, version)
            if status is not ClaimStatus.CLAIMED:
                self._forget(key)
                return status, _EMPTY_INT
            with self._known_lock:
                renewed = known is not None and self._known_ids.get(key) != incident_id
            if renewed:
                # Another row holds this key now (the claims remembered went with the old
                # one to another incident): what this handle knew of them no longer applies.
                self._forget(key)
                known, payload = None, full
            rekey = current is not None  # held deliveries exist only once one is current
            if rekey and known is not None and known[0] != version:
                # The set was made for another version: the devices held since (pending on
                # a version that is no longer current) are claimable again, so are sent.
                payload = full.without(*self._unheld(cur, key, incident_id, version, known))
            if len(payload) == 0:
                return status, _EMPTY_INT
            new = self._insert_claims(
                cur, incident_id, self._token(cur, version), payload, at_us + lease_us, rekey
            )
        self._remember(key, payload, version, incident_id)
        if new.size == batch.size:
            # Every id new, none twice: the answer is 0 .. n-1 (``new``, payload rows in the
            # order the server returned them, is not: a claim that re-keyed held devices
            # returned them first, and the rows of a batch not in store order are others').
            return status, np.arange(batch.size, dtype=np.int64)
        return status, batch_positions(payload.positions()[new], batch.size)

    def _remember(self, key: str, payload: Payload, version: str | None, incident_id: int) -> None:
        """After a commit: every device of the payload is claimed for ``key`` under ``version``.

        The set stays exact for its version (none of it held) only while every claim added
        to it is of that version; otherwise the next claim checks it (:meth:`_unheld`).
        ``incident_id``: the row it was claimed in (the set is dropped if the row changed).
        """
        with self._known_lock:
            if self._known_ids.setdefault(key, incident_id) != incident_id:
                self._known.pop(key, None)
                self._known_ids[key] = incident_id
            tag, ints, strs = self._known.get(key, (version, _NO_RUNS, _NO_RUNS))
            self._known[key] = (
                tag if tag == version else None,
                ints.added(payload.ints, None),  # (no row numbers: only contains())
                strs.added(payload.strs, None),
            )

    def _unheld(
        self,
        cur: Any,
        key: str,
        incident_id: int,
        version: str,
        known: tuple[str | None, SortedRuns, SortedRuns],
    ) -> tuple[SortedRuns, SortedRuns]:
        """Inside the claim's transaction: the known set minus the devices now held.

        Held: pending on a version other than ``version`` (the current one). Reads the
        incident's claims once per handle and new version; the set is then exact for it.
        """
        rows = cur.execute(
            self._q(
                "SELECT c.device FROM gt_claims c JOIN gt_tokens t ON t.id = c.version_id"
                " WHERE c.incident_id = ? AND c.kind = 0 AND c.state = 0 AND t.token <> ?"
            ),
            (incident_id, version),
        ).fetchall()
        values: list[Any] = [r[0] for r in rows]
        for g in self._logged(cur, key):
            if g.version != version:
                values += g.devices()
        held = Payload.of(device_batch(values))
        out = (_minus(known[1], held.ints), _minus(known[2], held.strs))
        with self._known_lock:
            self._known[key] = (version, *out)
            self._known_ids[key] = incident_id
        return out

    def _confirm(
        self,
        cur: Any,
        incident: str,
        version: str | None,
        kind: int | None,
        devices: IdArray,
        at_us: int,
    ) -> npt.NDArray[np.int8]:
        codes = np.full(devices.size, 2, dtype=np.int8)
        self._settle(cur, incident)
        row = cur.execute(
            self._q("SELECT id FROM gt_incidents WHERE incident = ?"), (incident,)
        ).fetchone()
        if row is None:
            return codes
        incident_id = int(row[0])
        if version is not None:
            tok = cur.execute(
                self._q("SELECT id FROM gt_tokens WHERE token = ?"), (version,)
            ).fetchone()
            if tok is None:
                return codes
            cond, arg = "version_id = ?", int(tok[0])
        else:
            cond, arg = "kind = ?", int(kind or 0)
        self._confirm_rows(cur, incident_id, cond, arg, devices, at_us, codes)
        return codes

    def _confirm_rows(
        self,
        cur: Any,
        incident_id: int,
        cond: str,
        arg: int,
        devices: IdArray,
        at_us: int,
        codes: npt.NDArray[np.int8],
    ) -> None:
        """Confirm the devices' pending deliveries of the incident matching ``cond``.

        Sets ``codes`` (one per device, 2 on entry): 0 confirmed by this call, 1 already.
        Here a read, then the update: right where writers are serialised for the whole
        transaction (SQLite's ``BEGIN IMMEDIATE``), so the read cannot go stale before the
        update. The PostgreSQL store overrides it.
        """
        src, param = self._source(devices)
        rows = cur.execute(
            self._q(
                # CROSS JOIN: SQLite keeps the batch as the outer loop and probes the key.
                f"SELECT s.pos, c.state FROM {src} AS s CROSS JOIN gt_claims c"
                f" WHERE c.incident_id = ? AND c.kind IN (0, 1) AND c.device = s.device"
                f" AND c.{cond}"
            ),
            (param, incident_id, arg),
        ).fetchall()
        if rows:
            got = np.array(rows, dtype=np.int64).reshape(-1, 2)
            codes[got[:, 0]] = np.where(got[:, 1] == 1, 1, 0)
            src, param = self._source(devices)
            cur.execute(
                self._q(
                    "UPDATE gt_claims SET state = 1, confirmed_us = ? WHERE incident_id = ?"
                    f" AND kind IN (0, 1) AND state = 0 AND {cond}"
                    f" AND device IN (SELECT s.device FROM {src} AS s)"
                ),
                (at_us, incident_id, arg, param),
            )

    def _version_incident(self, tx: Any, version: str) -> str | None:
        found = _SqlTx(self, tx).version(version)
        return None if found is None else found[0]

    def _moved(self, tx: Any, incident: str, into: str) -> bool:
        view = _SqlTx(self, tx)
        return _lifecycle.moved(
            view.incident_row(incident, lock=False), view.incident_row(into, lock=False)
        )

    def _replaced(self, tx: Any, incident: str, version: str, current: bool = False) -> bool:
        view = _SqlTx(self, tx)
        return _lifecycle.replaced(
            view.version(version),
            view.incident_row(incident, lock=False),
            incident,
            version,
            current=current,
        )

    def _due_sql(self, limit: int | None, order_keys: bool = False) -> str:
        """The due deliveries as (incident, version, kind, device) rows, in delivery order.

        ``order_keys``: each row begins with its (incident id, kind, batch, pos) too.
        """
        keys = "c.incident_id, c.kind, c.batch, c.pos, " if order_keys else ""
        return self._q(
            f"SELECT {keys}i.incident, t.token, c.kind, {self._text('c.device')} FROM {_DUE_FROM}"
            f" JOIN gt_tokens t ON t.id = c.version_id WHERE {_DUE_WHERE}"
            " ORDER BY c.incident_id, c.kind, c.batch, c.pos"
            + (" LIMIT ?" if limit is not None else "")
        )

    def _due(self, at_us: int, limit: int | None) -> list[Claims]:
        args = (at_us,) if limit is None else (at_us, limit)
        with self._read() as cur:
            logged = self._logged(cur, None, due_by=at_us)
            if not logged:
                return _group(cur.execute(self._due_sql(limit), args).fetchall(), None)
            rows = cur.execute(self._due_sql(limit, order_keys=True), args).fetchall()
        for g in logged:
            rows += [
                (g.incident_id, 0, g.batch, pos, g.incident, g.version, 0, device)
                for pos, device in enumerate(g.devices(limit))
            ]
        rows.sort(key=lambda r: r[:4])
        return _group([r[4:] for r in rows[:limit]], None)

    def _versions_of(self, key: str) -> list[tuple[str, str | None]]:
        with self._read() as cur:
            rows = cur.execute(
                self._q(
                    "SELECT version, document FROM gt_versions WHERE incident = ?"
                    " ORDER BY seen_us, version"
                ),
                (key,),
            ).fetchall()
        return [(str(v), None if d is None else str(d)) for v, d in rows]

    def _pending(self, key: str, kind: int) -> list[Claims]:
        with self._read() as cur:
            rows = cur.execute(
                self._q(
                    f"SELECT i.incident, t.token, c.kind, {self._text('c.device')}"
                    " FROM gt_incidents i CROSS JOIN gt_claims c"
                    " JOIN gt_tokens t ON t.id = c.version_id WHERE i.incident = ?"
                    " AND c.incident_id = i.id AND c.kind = ? AND c.state = 0"
                    " ORDER BY c.batch, c.pos"
                ),
                (key, kind),
            ).fetchall()
            logged = self._logged(cur, key) if kind == 0 else []
        for g in logged:  # (every logged claim is a pending alert delivery)
            rows += [(g.incident, g.version, 0, device) for device in g.devices()]
        return _group(rows, None)

    def _redeliver(self, at_us: int, until_us: int, limit: int | None) -> list[Claims]:
        with self._tx() as cur:
            self._settle(cur, None, due_by=at_us)
            rows = self._redeliver_rows(cur, at_us, until_us, limit)
        return _group(rows, from_micros(until_us))

    def _retract(self, key: str, version: str, at_us: int, lease_us: int) -> Claims:
        with self._tx(durable=True) as cur:
            self._ensure_incident(cur, key, at_us)
            out = _SqlTx(self, cur).retract(key, version, at_us, lease_us)
        self._forget(key)
        return out

    def recipients(self, incident: str) -> npt.NDArray[np.str_]:
        """See :meth:`geotarget.ledger.DeliveryLedger.recipients`."""
        key = check_token("incident", incident)
        with self._read() as cur:
            rows = cur.execute(
                self._q(
                    f"SELECT {self._text('c.device')} FROM gt_claims c"
                    " JOIN gt_incidents i ON i.id = c.incident_id"
                    " WHERE i.incident = ? AND c.kind = 0 ORDER BY c.batch, c.pos"
                ),
                (key,),
            ).fetchall()
            logged = self._logged(cur, key)
        devices = [r[0] for r in rows]
        for g in logged:  # (an incident's log is folded before any of its claims is a row)
            devices += g.devices()
        return np.array(devices, dtype=np.str_)

    def delivered(self, incident: str, device_ids: DeviceIds) -> npt.NDArray[np.bool_]:
        """See :meth:`geotarget.ledger.DeliveryLedger.delivered`."""
        ids = canonical_text(device_batch(device_ids))
        return np.isin(ids, self.recipients(incident))

    # -- incidents ------------------------------------------------------------------------------

    def _admit(
        self,
        alert: Any,
        at_us: int,
        lease_us: int,
        may_act_for: Callable[[str, str], bool] | None,
    ) -> Admission:
        with self._tx(durable=True) as cur:
            out = self._admit_in(cur, alert, at_us, lease_us, may_act_for)
        self._admitted(out)
        return out

    def _admit_in(
        self,
        cur: Any,
        alert: Any,
        at_us: int,
        lease_us: int,
        may_act_for: Callable[[str, str], bool] | None,
    ) -> Admission:
        """The admission's statements, inside the write transaction of ``cur``."""
        self._serialise_admissions(cur)
        return _lifecycle.admit(_SqlTx(self, cur), alert, at_us, lease_us, may_act_for)

    def _admitted(self, out: Admission) -> None:
        """After an admission's commit: forget the claims known of the incidents it changed.

        Those it ended, and those it merged and the one they joined (whose claims grew).
        """
        if out.incident is not None and (out.transition is Transition.RETRACTED or out.merged):
            self._forget(out.incident.key)
        for key in (*out.also_cancelled, *out.merged):  # ended beside it by the same message
            self._forget(key)

    def expire(self, incident: str, *, at: datetime, version: str | None = None) -> bool:
        """See :meth:`geotarget.ledger.DeliveryLedger.expire`."""
        key = check_token("incident", incident)
        at_us = at_micros(at)
        only = () if version is None else (check_token("version", version),)
        with self._tx(durable=True) as cur:
            cur.execute(
                self._q(
                    "UPDATE gt_incidents SET state = 2, changed_us = ? WHERE incident = ?"
                    " AND state = 0" + ("" if version is None else " AND version = ?")
                ),
                (at_us, key, *only),
            )
            changed = bool(cur.rowcount)
        self._forget(key)
        return changed

    def hold(self, version: str, *, at: datetime) -> None:
        """See :meth:`geotarget.ledger.DeliveryLedger.hold`."""
        vid = check_token("version", version)
        at_us = at_micros(at)
        with self._tx(durable=True) as cur:
            cur.execute(
                self._q(
                    "INSERT INTO gt_holds (version, at_us) VALUES (?, ?)"
                    " ON CONFLICT (version) DO NOTHING"
                ),
                (vid, at_us),
            )

    def held(self, version: str) -> bool:
        """See :meth:`geotarget.ledger.DeliveryLedger.held`."""
        vid = check_token("version", version)
        with self._read() as cur:
            found = cur.execute(
                self._q("SELECT 1 FROM gt_holds WHERE version = ?"), (vid,)
            ).fetchone()
        return found is not None

    def refuse(
        self,
        alert: Any,
        *,
        at: datetime,
        may_act_for: Callable[[str, str], bool] | None = None,
    ) -> Admission:
        """See :meth:`geotarget.ledger.MemoryLedger.refuse`."""
        check_token("version", _lifecycle.refused_record(alert)[0])
        at_us = at_micros(at)
        with self._tx(durable=True) as cur:
            self._serialise_admissions(cur)
            out = _lifecycle.link_refused(_SqlTx(self, cur), alert, at_us, may_act_for)
        self._admitted(out)
        return out

    def refused(self, version: str) -> str | None:
        """See :meth:`geotarget.ledger.MemoryLedger.refused`."""
        vid = check_token("version", version)
        with self._read() as cur:
            return _SqlTx(self, cur).refused(vid)

    def incident(self, incident: str) -> Incident | None:
        """See :meth:`geotarget.ledger.DeliveryLedger.incident`."""
        key = check_token("incident", incident)
        with self._read() as cur:
            row = _SqlTx(self, cur).incident_row(key, lock=False)
        return None if row is None else row.incident(key)

    def warm(self, incident: str) -> int:
        """See :meth:`geotarget.ledger.DeliveryLedger.warm`."""
        key = check_token("incident", incident)
        with self._read() as cur:
            found = cur.execute(
                self._q("SELECT version, id FROM gt_incidents WHERE incident = ?"), (key,)
            ).fetchone()
            if found is None:
                return 0
            current, incident_id = found[0], int(found[1])
            # Held deliveries (pending on a version no longer current) are claimable again:
            # not loaded, so the set is exact for the current version.
            rows = cur.execute(
                self._q(
                    "SELECT c.device, c.state = 0 AND i.version IS NOT NULL"
                    " AND t.token <> i.version FROM gt_claims c"
                    " JOIN gt_incidents i ON i.id = c.incident_id"
                    " JOIN gt_tokens t ON t.id = c.version_id WHERE i.incident = ? AND c.kind = 0"
                ),
                (key,),
            ).fetchall()
            logged = self._logged(cur, key)
        values = [r[0] for r in rows if not r[1]]
        ints = np.array([v for v in values if isinstance(v, int)], dtype=np.int64)
        strs = np.array([v for v in values if isinstance(v, str)], dtype=np.str_)
        self._forget(key)
        self._remember(key, Payload.of(ints), current, incident_id)
        self._remember(key, Payload.of(strs), current, incident_id)
        for g in logged:
            if current is None or g.version == current:
                self._remember(key, g.payload, current, incident_id)
        return len(rows) + sum(len(g.payload) for g in logged)

    def lookup_version(self, version: str) -> tuple[str, str | None] | None:
        """See :meth:`geotarget.ledger.DeliveryLedger.lookup_version`."""
        vid = check_token("version", version)
        with self._read() as cur:
            return _SqlTx(self, cur).version(vid)

    def remembered_cancel(self, version: str) -> str | None:
        """See :meth:`geotarget.ledger.DeliveryLedger.remembered_cancel`."""
        vid = check_token("version", version)
        with self._read() as cur:
            return _SqlTx(self, cur).remembered(vid)

    def cancels_naming(self, version: str) -> list[str]:
        """See :meth:`geotarget.ledger.DeliveryLedger.cancels_naming`."""
        vid = check_token("version", version)
        with self._read() as cur:
            return _SqlTx(self, cur).early_cancels([vid])

    def load_active(self) -> list[Incident]:
        """See :meth:`geotarget.ledger.DeliveryLedger.load_active`."""
        with self._read() as cur:
            rows = cur.execute(
                self._q(
                    f"SELECT incident, {_ROW_COLUMNS} FROM gt_incidents WHERE state = 0"
                    " AND document IS NOT NULL ORDER BY incident"
                )
            ).fetchall()
        # Forget the claimed devices of every other incident: one cancelled, expired or merged
        # by another process is never forgotten otherwise, and a Targeter lists the active
        # incidents on every batch. (Speed only: a device not remembered is asked of the
        # database, as after a restart.)
        active = {r[0] for r in rows}
        with self._known_lock:
            for key in [k for k in self._known if k not in active]:
                del self._known[key]
                self._known_ids.pop(key, None)
        return [_lifecycle.Row(*r[1:]).incident(r[0]) for r in rows]


class _SqlTx:
    """The lifecycle's view of one SQL transaction."""

    def __init__(self, store: SqlStore, cur: Any) -> None:
        self.store = store
        self.cur = cur
        # Rows this transaction wrote (put_incident sets every column): read back from here.
        # The transaction holds the row's lock from its write on, and retract() forgets it.
        self._written: dict[str, _lifecycle.Row] = {}
        #: The ids last given to early_cancels and the Cancels without a document it found.
        self._legacy: tuple[list[str], list[str]] | None = None

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        return self.cur.execute(self.store._q(sql), args).fetchone()

    def version(self, vid: str) -> tuple[str, str | None] | None:
        row = self._one("SELECT incident, document FROM gt_versions WHERE version = ?", (vid,))
        return None if row is None else (row[0], row[1])

    def incident_row(self, key: str, lock: bool = True) -> _lifecycle.Row | None:
        written = self._written.get(key)
        if written is not None:
            return written
        row = self._one(
            f"SELECT {_ROW_COLUMNS} FROM gt_incidents WHERE incident = ?"
            + (self.store._for_update if lock else ""),
            (key,),
        )
        return None if row is None else _lifecycle.Row(*row)

    def remembered(self, vid: str) -> str | None:
        row = self._one("SELECT document FROM gt_remembered_cancels WHERE version = ?", (vid,))
        return None if row is None else str(row[0])

    def refused(self, vid: str) -> str | None:
        row = self._one("SELECT document FROM gt_refused WHERE version = ?", (vid,))
        return None if row is None else str(row[0])

    def put_refused(self, vid: str, document: str, at_us: int) -> None:
        self.cur.execute(
            self.store._q(
                "INSERT INTO gt_refused (version, document, at_us) VALUES (?, ?, ?)"
                " ON CONFLICT (version) DO NOTHING"
            ),
            (vid, document, at_us),
        )

    def early_cancels(self, vids: list[str]) -> list[str]:
        out: list[str] = []
        legacy: list[str] = []
        for v in vids:
            # One query also finds the Cancels an early build kept without their document
            # (legacy_cancels, asked next with the same ids, reads them from here).
            self.cur.execute(
                self.store._q(
                    "SELECT r.document, x.cancel_version FROM"
                    " (SELECT cancel_version FROM gt_early_cancel_refs WHERE version = ?"
                    " UNION SELECT cancel_version FROM gt_early_cancels WHERE version = ?) x"
                    " LEFT JOIN gt_remembered_cancels r ON r.version = x.cancel_version"
                ),
                (v, v),
            )
            for document, cancel_vid in self.cur.fetchall():
                if document is not None:
                    out.append(str(document))
                else:
                    legacy.append(str(cancel_vid))
        self._legacy = (list(vids), legacy)
        return out

    def legacy_cancels(self, vids: list[str]) -> list[str]:
        if self._legacy is None or self._legacy[0] != vids:
            self.early_cancels(vids)
        assert self._legacy is not None
        return self._legacy[1]

    def documents(self, key: str) -> list[tuple[str, str]]:
        self.cur.execute(
            self.store._q(
                "SELECT version, document FROM gt_versions"
                " WHERE incident = ? AND document IS NOT NULL ORDER BY seen_us, version"
            ),
            (key,),
        )
        return [(str(r[0]), str(r[1])) for r in self.cur.fetchall()]

    def put_version(
        self, vid: str, incident: str, document: str | None, sent_us: int | None, at_us: int
    ) -> None:
        self.cur.execute(
            self.store._q(
                "INSERT INTO gt_versions (version, incident, document, sent_us, seen_us)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (version) DO UPDATE SET"
                " document = COALESCE(gt_versions.document, excluded.document),"
                " sent_us = COALESCE(gt_versions.sent_us, excluded.sent_us)"
            ),
            (vid, incident, document, sent_us, at_us),
        )

    def put_incident(self, key: str, row: _lifecycle.Row) -> None:
        self.cur.execute(
            self.store._q(
                f"INSERT INTO gt_incidents (incident, {_ROW_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident) DO UPDATE SET"
                " state = excluded.state, version = excluded.version,"
                " sent_us = excluded.sent_us, sender = excluded.sender,"
                " status = excluded.status, document = excluded.document,"
                " cancel_version = excluded.cancel_version, changed_us = excluded.changed_us,"
                " released = excluded.released"
            ),
            (
                key,
                row.state,
                row.version,
                row.sent_us,
                row.sender,
                row.status,
                row.document,
                row.cancel_version,
                row.changed_us,
                row.released,
            ),
        )
        self._written[key] = row

    def remember_cancels(self, vids: list[str], cancel_vid: str, document: str, at_us: int) -> None:
        self._legacy = None  # (what early_cancels found may change below)
        self.cur.execute(
            self.store._q(
                "INSERT INTO gt_remembered_cancels (version, document, at_us) VALUES (?, ?, ?)"
                " ON CONFLICT (version) DO NOTHING"
            ),
            (cancel_vid, document, at_us),
        )
        for v in vids:
            self.cur.execute(
                self.store._q(
                    "INSERT INTO gt_early_cancel_refs (version, cancel_version, at_us)"
                    " VALUES (?, ?, ?) ON CONFLICT (version, cancel_version) DO NOTHING"
                ),
                (v, cancel_vid, at_us),
            )

    def retract(self, key: str, cancel_vid: str, at_us: int, lease_us: int) -> Claims:
        q = self.store._q
        self._written.pop(key, None)  # its row changes below
        self.incident_row(key)  # lock it: waits for claims in flight (PostgreSQL)
        self.store._settle(self.cur, key)
        self.cur.execute(
            q(
                "UPDATE gt_incidents SET cancel_version = COALESCE(cancel_version, ?),"
                " changed_us = CASE WHEN state = 1 THEN changed_us ELSE ? END, state = 1"
                " WHERE incident = ?"
            ),
            (cancel_vid, at_us, key),
        )
        incident_id, vid = self._one(
            "SELECT id, cancel_version FROM gt_incidents WHERE incident = ?", (key,)
        )
        token = self.store._token(self.cur, vid)
        self.cur.execute(
            q(
                "INSERT INTO gt_claims (incident_id, kind, device, version_id, state, batch, pos,"
                " lease_us) SELECT incident_id, 1, device, ?, 0, batch, pos, ? FROM gt_claims"
                " WHERE incident_id = ? AND kind = 0 ORDER BY device"
                " ON CONFLICT (incident_id, kind, device) DO NOTHING"
            ),
            (token, at_us + lease_us, incident_id),
        )
        rows = self.cur.execute(
            q(
                f"SELECT {self.store._text('device')}, lease_us FROM gt_claims"
                " WHERE incident_id = ? AND kind = 1 AND state = 0 ORDER BY batch, pos"
            ),
            (incident_id,),
        ).fetchall()
        # Only those not confirmed: a Cancel re-sent (or a second one) re-offers no retraction
        # a device was told (exactly once, as for the alert).
        return stored_claims(
            key,
            vid,
            DeliveryKind.RETRACTION,
            ClaimStatus.CANCELLED,
            np.array([r[0] for r in rows], dtype=np.str_),
            from_micros(max((r[1] for r in rows), default=at_us + lease_us)),
        )

    def renew(self, key: str) -> None:
        self._written.pop(key, None)
        self.cur.execute(
            self.store._q(f"UPDATE gt_incidents SET id = {self.store._next_id} WHERE incident = ?"),
            (key,),
        )

    def refresh(self, key: str) -> None:
        """Give incident ``key``'s row a new identity, its deliveries moved with it.

        Every handle's memory of the devices claimed for ``key`` is then of another row, and
        read again at its next claim (see :func:`geotarget.ledger._lifecycle.admit`).
        """
        (old,) = self._one("SELECT id FROM gt_incidents WHERE incident = ?", (key,))
        self.renew(key)
        (new,) = self._one("SELECT id FROM gt_incidents WHERE incident = ?", (key,))
        self.cur.execute(
            self.store._q("UPDATE gt_claims SET incident_id = ? WHERE incident_id = ?"), (new, old)
        )
        self.store._renumbered(self.cur, int(old), int(new))

    def reclaim(self, vids: list[str], incident: str) -> None:
        self.cur.executemany(
            self.store._q(
                "UPDATE gt_versions SET incident = ? WHERE version = ? AND document IS NULL"
            ),
            [(incident, v) for v in vids],
        )

    def merge(self, other: str, into: str, at_us: int) -> None:
        q = self.store._q
        self._written.pop(other, None)  # its row changes below
        self.incident_row(other)  # lock both: waits for claims in flight (PostgreSQL)
        self.incident_row(into)
        self.store._settle(self.cur, other)
        self.store._settle(self.cur, into)
        (oid,) = self._one("SELECT id FROM gt_incidents WHERE incident = ?", (other,))
        (iid,) = self._one("SELECT id FROM gt_incidents WHERE incident = ?", (into,))
        # Its deliveries move with their versions, state, order and lease; a device claimed in
        # both keeps the joined incident's row, confirmed if either was.
        self.cur.execute(
            q(
                "INSERT INTO gt_claims (incident_id, kind, device, version_id, state, batch, pos,"
                " lease_us, confirmed_us) SELECT ?, kind, device, version_id, state, batch, pos,"
                " lease_us, confirmed_us FROM gt_claims WHERE incident_id = ?"
                " ON CONFLICT (incident_id, kind, device) DO UPDATE SET"
                " state = CASE WHEN excluded.state = 1 THEN 1 ELSE gt_claims.state END,"
                " confirmed_us = COALESCE(gt_claims.confirmed_us, excluded.confirmed_us)"
            ),
            (iid, oid),
        )
        self.cur.execute(q("DELETE FROM gt_claims WHERE incident_id = ?"), (oid,))
        self.cur.execute(q("UPDATE gt_versions SET incident = ? WHERE incident = ?"), (into, other))
        self.cur.execute(
            q("UPDATE gt_incidents SET state = ?, changed_us = ? WHERE incident = ?"),
            (IncidentState.MERGED.value, at_us, other),
        )


def _group(rows: list[Any], lease_until: datetime | None) -> list[Claims]:
    """Rows of (incident, version, kind, device) as one Claims per (incident, version, kind).

    Stable: within a group the rows keep their order.
    """
    groups: dict[tuple[str, str, int], list[str]] = {}
    for inc, ver, kind, device in rows:
        groups.setdefault((inc, ver, int(kind)), []).append(device)
    return [
        stored_claims(
            inc,
            ver,
            _KIND[kind],
            ClaimStatus.CLAIMED,
            np.array(devices, dtype=np.str_),
            lease_until,
        )
        for (inc, ver, kind), devices in sorted(groups.items())
    ]
