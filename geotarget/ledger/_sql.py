"""What the SQLite and PostgreSQL stores share: the schema, the lifecycle transaction, queries.

Every statement is written with ``?`` placeholders; the PostgreSQL store turns them into ``%s``.
Every public operation is one transaction: on any failure it is rolled back whole.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from geotarget.errors import InvalidInput
from geotarget.ledger import _lifecycle
from geotarget.ledger._model import (
    Admission,
    Claims,
    ClaimStatus,
    Confirmation,
    DeliveryKind,
    DeviceIds,
    IdArray,
    Incident,
    IncidentState,
    canonical_text,
    check_token,
    device_batch,
    empty_claims,
    from_micros,
    lease_micros,
    micros,
)

DEFAULT_LEASE = timedelta(seconds=60)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gt_incidents (
        incident TEXT PRIMARY KEY,
        state SMALLINT NOT NULL,
        version TEXT,
        sent_us BIGINT,
        sender TEXT,
        status TEXT,
        document TEXT,
        cancel_version TEXT,
        changed_us BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS gt_versions (
        version TEXT PRIMARY KEY,
        incident TEXT NOT NULL,
        document TEXT,
        sent_us BIGINT,
        seen_us BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS gt_early_cancels (
        version TEXT PRIMARY KEY,
        cancel_version TEXT NOT NULL,
        at_us BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS gt_claims (
        incident TEXT NOT NULL,
        kind SMALLINT NOT NULL,
        device TEXT NOT NULL,
        version TEXT NOT NULL,
        state SMALLINT NOT NULL,
        batch BIGINT NOT NULL,
        pos BIGINT NOT NULL,
        lease_us BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        claimed_us BIGINT NOT NULL,
        confirmed_us BIGINT,
        PRIMARY KEY (incident, kind, device)
    ){without_rowid}""",
]

_KIND = {0: DeliveryKind.ALERT, 1: DeliveryKind.RETRACTION}
_STATE = {0: ClaimStatus.CLAIMED, 1: ClaimStatus.CANCELLED, 2: ClaimStatus.EXPIRED}


class SqlStore(abc.ABC):
    """The operations of a SQL delivery store; subclasses supply the connection and batches."""

    #: ``" FOR SHARE"`` / ``" FOR UPDATE"`` on PostgreSQL; SQLite serialises writers instead.
    _for_share = ""
    _for_update = ""

    # -- what a backend supplies ---------------------------------------------------------------

    @abc.abstractmethod
    def _tx(self) -> AbstractContextManager[Any]:
        """A write transaction yielding a cursor; a failure rolls it back and raises StoreError."""

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A read-only snapshot yielding a cursor."""

    @abc.abstractmethod
    def _insert_claims(
        self,
        cur: Any,
        incident: str,
        kind: int,
        version: str,
        batch: IdArray,
        state: int,
        lease_us: int,
        at_us: int,
    ) -> npt.NDArray[np.int64]:
        """Insert the batch's devices not yet claimed; return their positions in the batch."""

    @abc.abstractmethod
    def _source(self, values: list[str]) -> tuple[str, Any]:
        """A SQL row source ``(pos, device)`` over a list of device texts, and its parameter."""

    @abc.abstractmethod
    def _redeliver_rows(
        self, cur: Any, at_us: int, until_us: int, limit: int | None
    ) -> list[tuple[str, str, int, str]]:
        """Renew the lease of due pending deliveries; return (incident, version, kind, device)."""

    def _q(self, sql: str) -> str:
        return sql

    def _serialise_admissions(self, cur: Any) -> None:
        """Make admissions one at a time (SQLite's write lock already does)."""
        del cur

    # -- delivery protocol --------------------------------------------------------------------

    @overload
    def claim(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        version: str,
        at: datetime,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claims: ...

    @overload
    def claim(
        self, incident: str, device_ids: DeviceIds, *, alert_id: str, at: datetime
    ) -> IdArray: ...

    def claim(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        version: str | None = None,
        at: datetime,
        lease: timedelta = DEFAULT_LEASE,
        alert_id: str | None = None,
    ) -> Claims | IdArray:
        """Claim the devices not yet claimed for ``incident``, as pending deliveries.

        In one transaction: the claim is refused (an empty result with a status saying why)
        when the incident is cancelled or expired, or when ``version`` is not its current
        version; otherwise each device of ``device_ids`` never claimed for the incident (by any
        process) is claimed, pending until confirmed, offered again after ``lease``.

        Parameters
        ----------
        incident : str
            The incident key (no whitespace).
        device_ids : sequence of str or int, or numpy array
            The devices in the area; ``1`` and ``"1"`` are the same device.
        version : str
            The version id of the alert being delivered (no whitespace).
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            How long the caller has to push and confirm before the deliveries are offered again.
        alert_id : str, optional
            The 0.1 form, instead of ``version``: returns the newly claimed ids as an array and
            records them as confirmed at once (at-most-once). Kept until ``Targeter`` uses the
            pending protocol.

        Returns
        -------
        Claims
            The newly claimed devices with their delivery keys (or an array, for ``alert_id``).
        """
        legacy = alert_id is not None
        vid = check_token("version" if not legacy else "alert_id", alert_id if legacy else version)
        got = self._claim(incident, device_ids, vid, at, lease, confirmed=legacy, strict=not legacy)
        return got.ids() if legacy else got

    def _claim(
        self,
        incident: str,
        device_ids: DeviceIds,
        version: str,
        at: datetime,
        lease: timedelta,
        *,
        confirmed: bool,
        strict: bool,
    ) -> Claims:
        key = check_token("incident", incident)
        at_us = micros("at", at)
        lease_us = lease_micros(lease)
        batch = device_batch(device_ids)
        with self._tx() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO gt_incidents (incident, state, changed_us) VALUES (?, 0, ?)"
                    " ON CONFLICT (incident) DO NOTHING"
                ),
                (key, at_us),
            )
            state, current = cur.execute(
                self._q("SELECT state, version FROM gt_incidents WHERE incident = ?")
                + self._for_share,
                (key,),
            ).fetchone()
            status = _STATE[int(state)]
            if status is ClaimStatus.CLAIMED and strict and current not in (None, version):
                status = ClaimStatus.SUPERSEDED
            if status is not ClaimStatus.CLAIMED or batch.size == 0:
                return empty_claims(key, version, DeliveryKind.ALERT, status)
            positions = self._insert_claims(
                cur, key, 0, version, batch, 1 if confirmed else 0, at_us + lease_us, at_us
            )
        return Claims(
            incident=key,
            version=version,
            kind=DeliveryKind.ALERT,
            status=ClaimStatus.CLAIMED,
            source=batch,
            positions=np.sort(positions),
            lease_until=None if confirmed else from_micros(at_us + lease_us),
        )

    def confirm(self, keys: DeviceIds, *, at: datetime) -> Confirmation:
        """Mark the deliveries named by their keys as confirmed (pushed); never twice.

        Parameters
        ----------
        keys : sequence of str
            Delivery keys, as :meth:`Claims.keys` gave them.
        at : datetime
            Now, timezone-aware.

        Returns
        -------
        Confirmation
            Which keys were confirmed now, which before (a no-op), which name no delivery.
        """
        at_us = micros("at", at)
        arr = _keys(keys)
        state = np.full(arr.size, -1, dtype=np.int8)
        if arr.size == 0:
            return _confirmation(state)
        _, first = np.unique(arr, return_index=True)
        head, _, rest = _partition(arr[first])
        version, _, device = _partition(rest)
        bad = (np.char.str_len(head) == 0) | (np.char.str_len(version) == 0)
        bad |= np.char.str_len(device) == 0
        if bad.any():
            i = int(first[np.flatnonzero(bad)[0]])
            raise InvalidInput(
                f"keys[{i}] must be a delivery key 'incident version device' (got {arr[i]!r})"
            )
        groups = np.char.add(np.char.add(head, " "), version)
        with self._tx() as cur:
            for g in np.unique(groups).tolist():
                inc, ver = g.split(" ")
                sel = np.flatnonzero(groups == g)
                codes = self._confirm(cur, inc, ver, None, device[sel].tolist(), at_us)
                state[first[sel]] = codes
        return _confirmation(state)

    def confirm_devices(
        self,
        incident: str,
        device_ids: DeviceIds,
        *,
        at: datetime,
        kind: DeliveryKind = DeliveryKind.ALERT,
    ) -> Confirmation:
        """Like :meth:`confirm`, naming the devices of one incident instead of keys.

        Parameters
        ----------
        incident : str
            The incident key.
        device_ids : sequence of str or int, or numpy array
            The devices pushed to.
        at : datetime
            Now, timezone-aware.
        kind : DeliveryKind, default ALERT
            Confirm the alert's deliveries, or its retraction's.

        Returns
        -------
        Confirmation
            Positions into ``device_ids``.
        """
        key = check_token("incident", incident)
        at_us = micros("at", at)
        batch = canonical_text(device_batch(device_ids))
        state = np.full(batch.size, -1, dtype=np.int8)
        if batch.size:
            _, first = np.unique(batch, return_index=True)
            first = np.sort(first)
            with self._tx() as cur:
                state[first] = self._confirm(
                    cur,
                    key,
                    None,
                    0 if kind is DeliveryKind.ALERT else 1,
                    batch[first].tolist(),
                    at_us,
                )
        return _confirmation(state)

    def _confirm(
        self,
        cur: Any,
        incident: str,
        version: str | None,
        kind: int | None,
        devices: list[str],
        at_us: int,
    ) -> npt.NDArray[np.int8]:
        src, param = self._source(devices)
        cond = "c.version = ?" if version is not None else "c.kind = ?"
        arg = version if version is not None else kind
        rows = cur.execute(
            self._q(
                f"SELECT s.pos, c.state FROM {src} AS s JOIN gt_claims c ON c.incident = ?"
                f" AND c.kind IN (0, 1) AND c.device = s.device AND {cond}"
            ),
            (param, incident, arg),
        ).fetchall()
        codes = np.full(len(devices), 2, dtype=np.int8)
        if rows:
            got = np.array(rows, dtype=np.int64).reshape(-1, 2)
            codes[got[:, 0]] = np.where(got[:, 1] == 1, 1, 0)
        src, param = self._source(devices)
        cur.execute(
            self._q(
                "UPDATE gt_claims SET state = 1, confirmed_us = ? WHERE incident = ? AND state = 0"
                f" AND kind IN (0, 1) AND {cond.removeprefix('c.')}"
                f" AND device IN (SELECT s.device FROM {src} AS s)"
            ),
            (at_us, incident, arg, param),
        )
        return codes

    def due(self, at: datetime, *, limit: int | None = None) -> list[Claims]:
        """Pending deliveries whose lease has run out by ``at`` (read only; see redeliver).

        Alert deliveries of an incident that is no longer active are not due; retractions are
        due until confirmed.

        Parameters
        ----------
        at : datetime
            Now, timezone-aware.
        limit : int, optional
            At most this many deliveries.

        Returns
        -------
        list of Claims
            One per (incident, version, kind).
        """
        at_us = micros("at", at)
        lim = _limit(limit)
        with self._read() as cur:
            rows = cur.execute(
                self._q(
                    "SELECT c.incident, c.version, c.kind, c.device FROM gt_claims c"
                    " JOIN gt_incidents i ON i.incident = c.incident"
                    " WHERE c.state = 0 AND c.lease_us <= ? AND (c.kind = 1 OR i.state = 0)"
                    " ORDER BY c.incident, c.kind, c.batch, c.pos"
                    + (" LIMIT ?" if lim is not None else "")
                ),
                (at_us,) if lim is None else (at_us, lim),
            ).fetchall()
        return _group(rows, None)

    def redeliver(
        self, at: datetime, *, lease: timedelta = DEFAULT_LEASE, limit: int | None = None
    ) -> list[Claims]:
        """Take the due pending deliveries and renew their lease, atomically.

        Each due delivery is returned by exactly one caller (two instances calling at once get
        disjoint sets), with the same key as when it was claimed.

        Parameters
        ----------
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            The new lease.
        limit : int, optional
            At most this many deliveries.

        Returns
        -------
        list of Claims
            One per (incident, version, kind), with ``lease_until = at + lease``.
        """
        at_us = micros("at", at)
        until = at_us + lease_micros(lease)
        with self._tx() as cur:
            rows = self._redeliver_rows(cur, at_us, until, _limit(limit))
        return _group(sorted(rows, key=lambda r: tuple(r[:3])), from_micros(until))

    def retract(
        self, incident: str, *, version: str, at: datetime, lease: timedelta = DEFAULT_LEASE
    ) -> Claims:
        """Cancel the incident and offer a retraction to every device ever claimed for it.

        In one transaction: the incident becomes CANCELLED (no claim succeeds afterwards, in any
        process), and every device claimed for it, pending or confirmed, gets a pending
        retraction keyed by the first Cancel's version. Calling it again returns the same
        retractions.

        Parameters
        ----------
        incident : str
            The incident key.
        version : str
            The Cancel's version id.
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            How long to push and confirm the retractions before they are offered again.

        Returns
        -------
        Claims
            The retractions (kind RETRACTION).
        """
        key = check_token("incident", incident)
        vid = check_token("version", version)
        at_us = micros("at", at)
        lease_us = lease_micros(lease)
        with self._tx() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO gt_incidents (incident, state, changed_us) VALUES (?, 0, ?)"
                    " ON CONFLICT (incident) DO NOTHING"
                ),
                (key, at_us),
            )
            return _SqlTx(self, cur).retract(key, vid, at_us, lease_us)

    def recipients(self, incident: str) -> npt.NDArray[np.str_]:
        """Every device claimed for ``incident`` (pending or confirmed), in claim order.

        Returns
        -------
        numpy.ndarray of str
            Canonical text ids.
        """
        key = check_token("incident", incident)
        with self._read() as cur:
            rows = cur.execute(
                self._q(
                    "SELECT device FROM gt_claims WHERE incident = ? AND kind = 0"
                    " ORDER BY batch, pos"
                ),
                (key,),
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.str_)

    def delivered(self, incident: str, device_ids: DeviceIds) -> npt.NDArray[np.bool_]:
        """Whether each device was claimed for ``incident`` (one answer per input).

        Returns
        -------
        numpy.ndarray of bool
        """
        ids = canonical_text(device_batch(device_ids))
        return np.isin(ids, self.recipients(incident))

    # -- incidents ------------------------------------------------------------------------------

    def admit(self, alert: Any, *, at: datetime, lease: timedelta = DEFAULT_LEASE) -> Admission:
        """Apply one Alert, Update or Cancel to the stored incidents, atomically.

        The rules are issue 10's: identity by (sender, identifier), references join an
        incident, the newest ``sent`` is current, a Cancel ends the incident and retracts, a
        Cancel that arrives first is remembered, a version id re-used with other content is a
        conflict. See :class:`~geotarget.ledger.Transition` for each outcome.

        Parameters
        ----------
        alert : Alert
            A message of type Alert, Update or Cancel.
        at : datetime
            Now, timezone-aware.
        lease : timedelta, default 60 s
            The lease of the retractions a Cancel makes.

        Returns
        -------
        Admission
        """
        at_us = micros("at", at)
        lease_us = lease_micros(lease)
        with self._tx() as cur:
            self._serialise_admissions(cur)
            return _lifecycle.admit(_SqlTx(self, cur), alert, at_us, lease_us)

    def expire(self, incident: str, *, at: datetime) -> bool:
        """Mark an active incident EXPIRED; its pending alert deliveries are no longer due.

        Returns
        -------
        bool
            Whether the incident was active.
        """
        key = check_token("incident", incident)
        at_us = micros("at", at)
        with self._tx() as cur:
            cur.execute(
                self._q(
                    "UPDATE gt_incidents SET state = 2, changed_us = ? WHERE incident = ?"
                    " AND state = 0"
                ),
                (at_us, key),
            )
            return bool(cur.rowcount)

    def incident(self, incident: str) -> Incident | None:
        """The stored incident, or None."""
        key = check_token("incident", incident)
        with self._read() as cur:
            row = _SqlTx(self, cur).incident_row(key, lock=False)
        return None if row is None else row.incident(key)

    def load_active(self) -> list[Incident]:
        """Every active incident with a current alert, by key: what a new Targeter resumes."""
        with self._read() as cur:
            rows = cur.execute(
                self._q(
                    f"SELECT incident, {_ROW_COLUMNS} FROM gt_incidents WHERE state = 0"
                    " AND document IS NOT NULL ORDER BY incident"
                )
            ).fetchall()
        return [_lifecycle.Row(*r[1:]).incident(r[0]) for r in rows]


_ROW_COLUMNS = "state, version, sent_us, sender, status, document, cancel_version, changed_us"


class _SqlTx:
    """The lifecycle's view of one SQL transaction."""

    def __init__(self, store: SqlStore, cur: Any) -> None:
        self.store = store
        self.cur = cur

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        return self.cur.execute(self.store._q(sql), args).fetchone()

    def version(self, vid: str) -> tuple[str, str | None] | None:
        row = self._one("SELECT incident, document FROM gt_versions WHERE version = ?", (vid,))
        return None if row is None else (row[0], row[1])

    def incident_row(self, key: str, lock: bool = True) -> _lifecycle.Row | None:
        row = self._one(
            f"SELECT {_ROW_COLUMNS} FROM gt_incidents WHERE incident = ?"
            + (self.store._for_update if lock else ""),
            (key,),
        )
        return None if row is None else _lifecycle.Row(*row)

    def early_cancelled(self, vids: list[str]) -> bool:
        return any(
            self._one("SELECT 1 FROM gt_early_cancels WHERE version = ?", (v,)) for v in vids
        )

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
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident) DO UPDATE SET"
                " state = excluded.state, version = excluded.version,"
                " sent_us = excluded.sent_us, sender = excluded.sender,"
                " status = excluded.status, document = excluded.document,"
                " cancel_version = excluded.cancel_version, changed_us = excluded.changed_us"
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
            ),
        )

    def remember_cancels(self, vids: list[str], cancel_vid: str, at_us: int) -> None:
        for v in vids:
            self.cur.execute(
                self.store._q(
                    "INSERT INTO gt_early_cancels (version, cancel_version, at_us)"
                    " VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING"
                ),
                (v, cancel_vid, at_us),
            )

    def retract(self, key: str, cancel_vid: str, at_us: int, lease_us: int) -> Claims:
        q = self.store._q
        self.incident_row(key)  # lock it: waits for claims in flight (PostgreSQL)
        self.cur.execute(
            q(
                "UPDATE gt_incidents SET cancel_version = COALESCE(cancel_version, ?),"
                " changed_us = CASE WHEN state = 1 THEN changed_us ELSE ? END, state = 1"
                " WHERE incident = ?"
            ),
            (cancel_vid, at_us, key),
        )
        (vid,) = self._one("SELECT cancel_version FROM gt_incidents WHERE incident = ?", (key,))
        self.cur.execute(
            q(
                "INSERT INTO gt_claims (incident, kind, device, version, state, batch, pos,"
                " lease_us, attempts, claimed_us, confirmed_us)"
                " SELECT incident, 1, device, ?, 0, batch, pos, ?, 0, ?, NULL FROM gt_claims"
                " WHERE incident = ? AND kind = 0 ORDER BY device"
                " ON CONFLICT (incident, kind, device) DO NOTHING"
            ),
            (vid, at_us + lease_us, at_us, key),
        )
        rows = self.cur.execute(
            q(
                "SELECT device, lease_us FROM gt_claims WHERE incident = ? AND kind = 1"
                " ORDER BY batch, pos"
            ),
            (key,),
        ).fetchall()
        devices = np.array([r[0] for r in rows], dtype=np.str_)
        return Claims(
            incident=key,
            version=vid,
            kind=DeliveryKind.RETRACTION,
            status=ClaimStatus.CANCELLED,
            source=devices,
            positions=np.arange(devices.size, dtype=np.int64),
            lease_until=from_micros(max((r[1] for r in rows), default=at_us + lease_us)),
        )


def _keys(keys: DeviceIds) -> npt.NDArray[np.str_]:
    if isinstance(keys, np.ndarray) and keys.dtype.kind == "U":
        return keys.reshape(-1)
    if isinstance(keys, (str, bytes)):
        raise InvalidInput("keys must be a sequence of delivery keys, not one str")
    seq = keys.tolist() if isinstance(keys, np.ndarray) else list(keys)
    for i, k in enumerate(seq):
        if not isinstance(k, str):
            raise InvalidInput(f"keys[{i}] must be a delivery key str (got {k!r})")
    return np.array(seq, dtype=np.str_)


def _partition(arr: npt.NDArray[np.str_]) -> tuple[IdArray, IdArray, IdArray]:
    parts = np.char.partition(arr, " ")
    return parts[:, 0], parts[:, 1], parts[:, 2]


def _confirmation(state: npt.NDArray[np.int8]) -> Confirmation:
    return Confirmation(
        confirmed=np.flatnonzero(state == 0).astype(np.int64),
        already=np.flatnonzero(state == 1).astype(np.int64),
        unknown=np.flatnonzero(state == 2).astype(np.int64),
    )


def _limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be an int >= 1 or None (got {limit!r})")
    return limit


def _group(rows: list[Any], lease_until: datetime | None) -> list[Claims]:
    """Rows of (incident, version, kind, device), ordered, as one Claims per group."""
    out: list[Claims] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or tuple(rows[i][:3]) != tuple(rows[start][:3]):
            inc, ver, kind = rows[start][:3]
            devices = np.array([r[3] for r in rows[start:i]], dtype=np.str_)
            out.append(
                Claims(
                    incident=inc,
                    version=ver,
                    kind=_KIND[int(kind)],
                    status=ClaimStatus.CLAIMED,
                    source=devices,
                    positions=np.arange(devices.size, dtype=np.int64),
                    lease_until=lease_until,
                )
            )
            start = i
    return out


def iter_chunks(values: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most ``size``."""
    for i in range(0, len(values), size):
        yield values[i : i + size]


__all__ = ["DEFAULT_LEASE", "SCHEMA", "IncidentState", "SqlStore"]
