"""The in-process store: numpy arrays per incident, one lock, nothing on disk."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget.errors import InvalidInput, StoreUnavailable
from geotarget.ledger import _lifecycle
from geotarget.ledger._batch import (
    Payload,
    SortedRuns,
    batch_positions,
    split_canonical,
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
    at_micros,
    canonical_text,
    check_token,
    device_batch,
    from_micros,
    stored_claims,
)
from geotarget.ledger._store import StoreBase, claim_status


class _Column:
    """One column of a side: one value for every row while they share it, else an array.

    A claim's rows share their state, lease and version (and the next claim into the incident
    often does too), so a new incident's claims keep none of those per device until a
    confirmation, a redelivery or a differing claim writes them out; reading gives a read-only
    view either way. The array, once made, grows by doubling.
    """

    __slots__ = ("_array", "_dtype", "_value")

    def __init__(self, dtype: Any) -> None:
        self._dtype = np.dtype(dtype)
        self._value: Any = None  # the rows' shared value (None: none yet, or an array)
        self._array: npt.NDArray[Any] | None = None

    def view(self, n: int) -> npt.NDArray[Any]:
        """The first ``n`` rows (read-only while they share one value)."""
        if self._array is not None:
            return self._array[:n]
        value = np.zeros((), dtype=self._dtype) if self._value is None else self._value
        return np.broadcast_to(value, (n,))

    def _write_out(self, n: int, cap: int) -> npt.NDArray[Any]:
        """The column as an array of at least ``cap`` rows, its first ``n`` kept."""
        if self._array is None:
            self._array = np.empty(cap, dtype=self._dtype)
            if n:
                self._array[:n] = self._value
        elif cap > self._array.size:
            grown = np.empty(max(2 * self._array.size, cap), dtype=self._dtype)
            grown[:n] = self._array[:n]
            self._array = grown
        return self._array

    def append(self, n: int, values: Any, k: int) -> None:
        """Rows ``n .. n + k`` get ``values`` (one value for all, or ``k`` of them)."""
        if np.ndim(values) == 0 and self._array is None:
            value = np.asarray(values, dtype=self._dtype)
            if n == 0 or self._value == value:
                self._value = value
                return
        self._write_out(n, n + k)[n : n + k] = values

    def write(self, n: int, where: Any, value: Any) -> None:
        """Rows ``where`` (an index or mask into the first ``n``) get one ``value``."""
        if self._array is None and self._value == np.asarray(value, dtype=self._dtype):
            return
        self._write_out(n, n)[:n][where] = value


class _Side:
    """The claims of one (incident, kind) for one id type.

    Rows in the order they were claimed: the ids in an array that grows by doubling (a claim
    appends its rows: amortised ``O(k)``), found through :class:`SortedRuns` (amortised ``O(k
    log n)``); state, lease and version as :class:`_Column`; the claim order ``seq`` as the
    first of consecutive numbers while it is one (a claim's payload is), else an array. A new
    incident's claims keep their ids alone: 8 bytes a device, not ~40.
    """

    __slots__ = ("_cols", "_ids", "_index", "_n", "_seq", "_seq0")

    def __init__(self, dtype: Any) -> None:
        self._ids: IdArray = np.empty(0, dtype=dtype)
        self._cols = {
            "state": _Column(np.int8),
            "lease": _Column(np.int64),
            "version": _Column(np.int32),
        }
        self._seq0: int | None = None  # seq[i] == _seq0 + i while not None
        self._seq = _Column(np.int64)
        self._n = 0
        self._index = SortedRuns()

    @property
    def ids(self) -> IdArray:
        return self._ids[: self._n]

    @property
    def state(self) -> npt.NDArray[np.int8]:
        return self._cols["state"].view(self._n)

    @property
    def lease(self) -> npt.NDArray[np.int64]:
        return self._cols["lease"].view(self._n)

    @property
    def seq(self) -> npt.NDArray[np.int64]:
        if self._seq0 is not None:
            return np.arange(self._seq0, self._seq0 + self._n, dtype=np.int64)
        return self._seq.view(self._n)

    @property
    def version(self) -> npt.NDArray[np.int32]:
        return self._cols["version"].view(self._n)

    def seq_of(self, where: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """``seq`` of the rows a mask selects (consecutive numbers: no array of them all)."""
        if self._seq0 is not None:
            return self._seq0 + np.flatnonzero(where).astype(np.int64)
        return self._seq.view(self._n)[where]

    def set_state(self, where: Any, state: int) -> None:
        """Rows ``where`` (an index or mask) get ``state``."""
        self._cols["state"].write(self._n, where, state)

    def set_lease(self, where: Any, lease: int) -> None:
        """Rows ``where`` (an index or mask) get ``lease``."""
        self._cols["lease"].write(self._n, where, lease)

    def find(self, values: IdArray) -> npt.NDArray[np.int64]:
        """Row of each value, or -1."""
        return self._index.find(values)

    def rekey(
        self, rows: npt.NDArray[np.int64], lease: int, seq: npt.NDArray[np.int64], version: int
    ) -> None:
        """Rows ``rows`` (pending on another version) are claimed again: version, lease, order."""
        self._cols["version"].write(self._n, rows, version)
        self._cols["lease"].write(self._n, rows, lease)
        if self._seq0 is not None:  # write out the consecutive numbers so far
            out = self._seq._write_out(0, self._n)
            out[: self._n] = np.arange(self._seq0, self._seq0 + self._n, dtype=np.int64)
            self._seq0 = None
        self._seq._write_out(self._n, self._n)[rows] = seq

    def add(
        self,
        values: IdArray,
        state: int | npt.NDArray[np.int8],
        lease: int | npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64] | int,
        version: int | npt.NDArray[np.int32],
    ) -> None:
        """Append new (absent, distinct) values as rows.

        ``state``, ``lease``, ``version``: one value for all rows, or one per row (rows moved
        from a merged incident's table). ``seq``: the rows' claim order, or an int ``s`` for
        ``s, s + 1, ...``.
        """
        n, k = self._n, values.size
        ids = self._ids
        if n == 0:  # a new table (a new incident's first claim): the batch is the table
            ids = values
        else:
            wide = np.result_type(ids, values) if ids.dtype.kind == "U" else ids.dtype
            if n + k > ids.size or wide != ids.dtype:
                cap = max(2 * ids.size, n + k) if n + k > ids.size else ids.size
                grown = np.empty(cap, dtype=wide)
                grown[:n] = ids[:n]
                ids = grown
            ids[n : n + k] = values
        for name, value in (("state", state), ("lease", lease), ("version", version)):
            self._cols[name].append(n, value, k)
        if isinstance(seq, int) and (n == 0 or self._seq0 == seq - n):
            self._seq0 = seq - n
        else:
            if self._seq0 is not None:  # write out the consecutive numbers so far
                self._seq.append(0, np.arange(self._seq0, self._seq0 + n, dtype=np.int64), n)
                self._seq0 = None
            self._seq.append(n, np.arange(seq, seq + k) if isinstance(seq, int) else seq, k)
        self._ids, self._n = ids, n + k
        self._index = self._index.added(values, n)


@attrs.define
class _Table:
    """The claims of one (incident, kind)."""

    ints: _Side = attrs.field(factory=lambda: _Side(np.int64))
    strs: _Side = attrs.field(factory=lambda: _Side(np.str_))

    def sides(self) -> Iterator[_Side]:
        yield self.ints
        yield self.strs

    def text(
        self, masks: list[npt.NDArray[np.bool_]] | None = None
    ) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Canonical text, seq and version of the rows ``masks`` select (all: None), by seq."""
        texts, seqs, vers = [], [], []
        for i, side in enumerate(self.sides()):
            m = masks[i] if masks is not None else np.ones(side.ids.size, dtype=np.bool_)
            texts.append(canonical_text(side.ids[m]))
            seqs.append(side.seq_of(m))
            vers.append(side.version[m])
        seq = np.concatenate(seqs)
        order = np.argsort(seq, kind="stable")
        return (
            np.concatenate(texts).astype(np.str_)[order],
            seq[order],
            np.concatenate(vers)[order],
        )


class MemoryLedger(StoreBase):
    """An in-process delivery store (thread-safe; everything is lost when the process ends).

    The same protocol and semantics as :class:`~geotarget.ledger.SQLiteLedger`, for tests,
    demos and single-process services that accept losing state on restart. Claims and
    confirmations are vectorised over sorted numpy arrays.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from geotarget.ledger import MemoryLedger
    >>> store = MemoryLedger()
    >>> t = datetime(2024, 4, 15, 12, 0, tzinfo=timezone.utc)
    >>> store.claim("inc-1", ["a", "b"], version="v1", at=t).devices.tolist()
    ['a', 'b']
    >>> store.claim("inc-1", ["b", "c"], version="v1", at=t).devices.tolist()
    ['c']
    >>> store.confirm(["inc-1 v1 a"], at=t).confirmed.tolist()
    [0]
    >>> [c.devices.tolist() for c in store.redeliver(t + timedelta(minutes=2))]
    [['b', 'c']]

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       Pending claims with delivery keys and leases, durable-store semantics, canonical ids.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._closed = False
        self._tables: dict[tuple[str, int], _Table] = {}
        self._rows: dict[str, _lifecycle.Row] = {}
        self._versions: dict[str, tuple[str, str | None]] = {}
        self._early: dict[str, list[str]] = {}  # a version id -> the Cancels that named it
        self._remembered: dict[str, str] = {}  # a remembered Cancel's id -> its document
        self._holds: dict[str, int] = {}  # a version the blast-radius guard held -> when
        self._refused: dict[str, str] = {}  # an Update refused at the gate -> its document
        self._version_names: list[str] = []
        self._version_index: dict[str, int] = {}
        self._batch = 0

    def close(self) -> None:
        """Close the store: every later call raises :class:`~geotarget.errors.StoreUnavailable`."""
        with self._lock:
            self._closed = True

    @contextmanager
    def _open(self) -> Iterator[None]:
        """The store's lock, once it is known to be open."""
        with self._lock:
            if self._closed:
                raise StoreUnavailable(
                    "memory store: the call failed: the store is closed (close() was called); "
                    "nothing was applied"
                )
            yield

    def _vindex(self, version: str) -> int:
        i = self._version_index.get(version)
        if i is None:
            i = self._version_index[version] = len(self._version_names)
            self._version_names.append(version)
        return i

    def _row(self, key: str, at_us: int) -> _lifecycle.Row:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = _lifecycle.Row(0, None, None, None, None, None, None, at_us)
        return row

    @contextmanager
    def _writing(self, durable: bool = False) -> Iterator[None]:
        with self._open():
            yield None

    def _claim(
        self, key: str, version: str, batch: IdArray, at_us: int, lease_us: int
    ) -> tuple[ClaimStatus, npt.NDArray[np.int64]]:
        with self._open():
            row = self._row(key, at_us)
            status = claim_status(row.state, row.version, version)
            if status is ClaimStatus.CLAIMED and row.version == version and row.released != version:
                self._rows[key] = attrs.evolve(row, released=version)
            if status is not ClaimStatus.CLAIMED or batch.size == 0:
                return status, np.array([], dtype=np.int64)
            rekey = row.version is not None  # held deliveries exist only once one is current
            return status, self._insert(key, 0, version, batch, 0, at_us + lease_us, rekey)

    def _insert(
        self,
        key: str,
        kind: int,
        version: str,
        batch: IdArray,
        state: int,
        lease_us: int,
        rekey: bool = False,
    ) -> npt.NDArray[np.int64]:
        table = self._tables.get((key, kind))
        if table is None:  # (not setdefault: a table is ten arrays, built only when new)
            table = self._tables[(key, kind)] = _Table()
        self._batch += 1
        base = self._batch << 32
        if batch.size >= 1 << 32:
            raise InvalidInput(f"device_ids must hold fewer than 2**32 ids (got {batch.size:,})")
        payload = Payload.of(batch)
        v = self._vindex(version)
        new_pos = []
        rank = 0  # the store order: canonical ints ascending, then strings (as SQL stores)
        for side, values, pos in (
            (table.ints, payload.ints, payload.int_pos),
            (table.strs, payload.strs, payload.str_pos),
        ):
            idx = side.find(values)
            fresh = idx < 0
            if values.size and fresh.all():  # (a new incident's: no copies, consecutive order)
                side.add(values, state, lease_us, base + rank, v)
                new_pos.append(pos)
                rank += int(values.size)
                continue
            took = fresh
            if rekey and not fresh.all():
                # Pending on a version no longer current (held): claimed again, under this one.
                rows = np.maximum(idx, 0)
                held = ~fresh & (side.state[rows] == 0) & (side.version[rows] != v)
                if held.any():
                    at = np.flatnonzero(held)
                    side.rekey(idx[at], lease_us, base + rank + at.astype(np.int64), v)
                    took = fresh | held
            if fresh.any():
                order = rank + np.flatnonzero(fresh).astype(np.int64)
                side.add(values[fresh], state, lease_us, base + order, v)
            if took.any():
                new_pos.append(pos[took])
            rank += int(values.size)
        if not new_pos:
            return np.array([], dtype=np.int64)
        return batch_positions(np.concatenate(new_pos), batch.size)

    def _locate(
        self, table: _Table | None, devices: IdArray
    ) -> list[tuple[_Side, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """For each side: (side, positions into devices, row index or -1)."""
        if table is None:
            return []
        ints, ipos, strs, spos = split_canonical(devices)
        return [
            (table.ints, ipos, table.ints.find(ints)),
            (table.strs, spos, table.strs.find(strs)),
        ]

    def _confirm(
        self,
        tx: Any,
        key: str,
        version: str | None,
        kind: int | None,
        devices: IdArray,
        at_us: int,
    ) -> npt.NDArray[np.int8]:
        codes = np.full(devices.size, 2, dtype=np.int8)
        kinds = [kind] if kind is not None else [0, 1]
        v = self._version_index.get(version, -1) if version is not None else None
        for k in kinds:
            for side, pos, idx in self._locate(self._tables.get((key, k)), devices):
                if side.ids.size == 0:
                    continue
                hit = idx >= 0
                if v is not None:
                    hit &= np.where(hit, side.version[np.maximum(idx, 0)] == v, False)
                rows = idx[hit]
                codes[pos[hit]] = np.where(side.state[rows] == 1, 1, 0)
                side.set_state(rows, 1)
        del tx, at_us
        return codes

    def _version_incident(self, tx: Any, version: str) -> str | None:
        del tx
        found = self._versions.get(version)
        return None if found is None else found[0]

    def _moved(self, tx: Any, incident: str, into: str) -> bool:
        del tx
        return _lifecycle.moved(self._rows.get(incident), self._rows.get(into))

    def _replaced(self, tx: Any, incident: str, version: str, current: bool = False) -> bool:
        del tx
        return _lifecycle.replaced(
            self._versions.get(version),
            self._rows.get(incident),
            incident,
            version,
            current=current,
        )

    def _due_rows(self, at_us: int, limit: int | None) -> list[tuple[str, int, Any, Any, Any]]:
        """(incident, kind, texts, versions, row masks per side) of due deliveries, in order.

        The order of the SQL stores: incidents as the store first knew them (its rows are
        never removed, so the dict keeps that order), alerts before retractions, claim order
        within; a ``limit`` takes the first deliveries of that order.
        """
        out = []
        left = limit
        known = {key: i for i, key in enumerate(self._rows)}
        tables = sorted(self._tables.items(), key=lambda kt: (known[kt[0][0]], kt[0][1]))
        for (key, kind), table in tables:
            row = self._rows[key]
            if kind == 0 and row.state != 0:
                continue
            masks = [(s.state == 0) & (s.lease <= at_us) for s in table.sides()]
            if kind == 0 and row.version is not None:
                # Held: pending on a version an Update replaced (see DeliveryLedger.due).
                current = self._version_index.get(row.version, -1)
                masks = [
                    m & (s.version == current) for m, s in zip(masks, table.sides(), strict=True)
                ]
            texts, seqs, vers = table.text(masks)
            if left is not None:
                texts, vers = texts[:left], vers[:left]
                cut = seqs[: texts.size].max() if texts.size else -1
                masks = [m & (s.seq <= cut) for m, s in zip(masks, table.sides(), strict=True)]
                left -= int(texts.size)
            if texts.size:
                out.append((key, kind, texts, vers, masks))
            if left is not None and left <= 0:
                break
        return out

    def _claims(
        self, due: list[tuple[str, int, Any, Any, Any]], lease_until: datetime | None
    ) -> list[Claims]:
        out = []
        for key, kind, texts, vers, _ in due:
            for v in np.unique(vers).tolist():
                out.append(
                    stored_claims(
                        key,
                        self._version_names[v],
                        DeliveryKind.ALERT if kind == 0 else DeliveryKind.RETRACTION,
                        ClaimStatus.CLAIMED,
                        texts[vers == v],
                        lease_until,
                    )
                )
        out.sort(key=lambda c: (c.incident, c.version, c.kind.value))
        return out

    def _due(self, at_us: int, limit: int | None) -> list[Claims]:
        with self._open():
            return self._claims(self._due_rows(at_us, limit), None)

    def _versions_of(self, key: str) -> list[tuple[str, str | None]]:
        with self._open():
            return [(v, d) for v, (inc, d) in self._versions.items() if inc == key]

    def _pending(self, key: str, kind: int) -> list[Claims]:
        with self._open():
            table = self._tables.get((key, kind))
            if table is None:
                return []
            masks = [s.state == 0 for s in table.sides()]
            texts, _, vers = table.text(masks)
            return self._claims([(key, kind, texts, vers, masks)], None) if texts.size else []

    def _redeliver(self, at_us: int, until_us: int, limit: int | None) -> list[Claims]:
        with self._open():
            due = self._due_rows(at_us, limit)
            for key, kind, _, _, masks in due:
                for side, m in zip(self._tables[(key, kind)].sides(), masks, strict=True):
                    side.set_lease(m, until_us)
            return self._claims(due, from_micros(until_us))

    def _retract(self, key: str, cancel_vid: str, at_us: int, lease_us: int) -> Claims:
        with self._open():  # re-entrant: admit() calls it under the lock
            return self._retract_locked(key, cancel_vid, at_us, lease_us)

    def _retract_locked(self, key: str, cancel_vid: str, at_us: int, lease_us: int) -> Claims:
        row = self._row(key, at_us)
        vid = row.cancel_version or cancel_vid
        self._rows[key] = attrs.evolve(
            row,
            state=1,
            cancel_version=vid,
            changed_us=row.changed_us if row.state == 1 else at_us,
        )
        told = self._tables.get((key, 0))
        back = self._tables.setdefault((key, 1), _Table())
        if told is not None:
            v = self._vindex(vid)
            for src, dst in zip(told.sides(), back.sides(), strict=True):
                fresh = dst.find(src.ids) < 0
                if fresh.any():
                    dst.add(src.ids[fresh], 0, at_us + lease_us, src.seq[fresh], v)
        # Only those not confirmed: a Cancel re-sent (or a second one) re-offers no retraction
        # a device was told (exactly once, as for the alert).
        pending = [s.state == 0 for s in back.sides()]
        texts, _, _ = back.text(pending)
        lease = max(
            (int(s.lease[m].max()) for s, m in zip(back.sides(), pending, strict=True) if m.any()),
            default=0,
        )
        return stored_claims(
            key,
            vid,
            DeliveryKind.RETRACTION,
            ClaimStatus.CANCELLED,
            texts,
            from_micros(lease or at_us + lease_us),
        )

    def recipients(self, incident: str) -> npt.NDArray[np.str_]:
        """See :meth:`geotarget.ledger.DeliveryLedger.recipients`."""
        key = check_token("incident", incident)
        with self._open():
            table = self._tables.get((key, 0))
            if table is None:
                return np.array([], dtype=np.str_)
            texts, _, _ = table.text()
            return texts

    def delivered(self, incident: str, device_ids: DeviceIds) -> npt.NDArray[np.bool_]:
        """See :meth:`geotarget.ledger.DeliveryLedger.delivered`."""
        key = check_token("incident", incident)
        ids = device_batch(device_ids)
        out = np.zeros(ids.size, dtype=np.bool_)
        with self._open():
            for _, pos, idx in self._locate(self._tables.get((key, 0)), ids):
                out[pos] = idx >= 0
        return out

    def _admit(
        self,
        alert: Any,
        at_us: int,
        lease_us: int,
        may_act_for: Callable[[str, str], bool] | None,
    ) -> Admission:
        with self._open():
            return _lifecycle.admit(_MemoryTx(self), alert, at_us, lease_us, may_act_for)

    def lookup_version(self, version: str) -> tuple[str, str | None] | None:
        """See :meth:`geotarget.ledger.DeliveryLedger.lookup_version`."""
        vid = check_token("version", version)
        with self._open():
            return self._versions.get(vid)

    def remembered_cancel(self, version: str) -> str | None:
        """See :meth:`geotarget.ledger.DeliveryLedger.remembered_cancel`."""
        vid = check_token("version", version)
        with self._open():
            return self._remembered.get(vid)

    def cancels_naming(self, version: str) -> list[str]:
        """See :meth:`geotarget.ledger.DeliveryLedger.cancels_naming`."""
        vid = check_token("version", version)
        with self._open():
            return _MemoryTx(self).early_cancels([vid])

    def hold(self, version: str, *, at: datetime) -> None:
        """See :meth:`geotarget.ledger.DeliveryLedger.hold`."""
        vid = check_token("version", version)
        at_us = at_micros(at)
        with self._open():
            self._holds.setdefault(vid, at_us)

    def held(self, version: str) -> bool:
        """See :meth:`geotarget.ledger.DeliveryLedger.held`."""
        vid = check_token("version", version)
        with self._open():
            return vid in self._holds

    def refuse(
        self,
        alert: Any,
        *,
        at: datetime,
        may_act_for: Callable[[str, str], bool] | None = None,
    ) -> Admission:
        """Record an Update refused before it reached the incidents, for the versions it names.

        A :class:`~geotarget.targeting.Targeter` records it when its gate refuses an Update
        (its issuer may not send its kind, or over its area; or its kind is not recognised):
        the Update changes no incident, but it is a message of its chain as its issuer sees
        it, and the issuer's next message may name only it. An Update or Cancel naming it then
        names, through it, the versions it names (:meth:`refused`), in every process over the
        store. Recording it again changes nothing (the first document is kept). An Update
        that arrived before it may have named it already (its id a version never seen of that
        Update's incident): the refused Update then links that incident and those of the
        versions it names, one chain (:attr:`~geotarget.ledger.IncidentState.MERGED`), under
        the authority rule ``may_act_for`` states, as :meth:`admit` would; a cancelled part
        cancels the chain, its retractions due at once. It never becomes a version: nobody is
        told.

        Every store of geotarget has it (the SQLite and PostgreSQL stores keep it in their
        tables); it is not part of the :class:`~geotarget.ledger.DeliveryLedger` protocol: a
        Targeter over a store of your own without it records no refusal.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        alert : Alert
            The refused Update.
        at : datetime.datetime
            When (timezone-aware).
        may_act_for : callable, optional
            ``may_act_for(sender, owner)``, as for :meth:`admit`.

        Returns
        -------
        Admission
            ``NOT_AUTHORISED``; ``incident`` and ``merged`` name the incidents it linked.

        Raises
        ------
        InvalidType
            If ``alert`` is not an :class:`~geotarget.alerts.Alert`.
        InvalidInput
            If it is not an Update naming at least one earlier message.
        """
        check_token("version", _lifecycle.refused_record(alert)[0])
        at_us = at_micros(at)
        with self._open():
            return _lifecycle.link_refused(_MemoryTx(self), alert, at_us, may_act_for)

    def refused(self, version: str) -> str | None:
        """The CAP document :meth:`refuse` recorded under ``version``, or None (read only).

        .. versionadded:: 0.1.0

        Parameters
        ----------
        version : str
            A version id, ``"{sender}/{identifier}"``.

        Returns
        -------
        str or None
            The first document recorded; None when no refused Update has this version id.
        """
        vid = check_token("version", version)
        with self._open():
            return self._refused.get(vid)

    def expire(self, incident: str, *, at: datetime, version: str | None = None) -> bool:
        """See :meth:`geotarget.ledger.DeliveryLedger.expire`."""
        key = check_token("incident", incident)
        at_us = at_micros(at)
        if version is not None:
            check_token("version", version)
        with self._open():
            row = self._rows.get(key)
            if row is None or row.state != 0 or (version is not None and row.version != version):
                return False
            self._rows[key] = attrs.evolve(row, state=2, changed_us=at_us)
            return True

    def incident(self, incident: str) -> Incident | None:
        """See :meth:`geotarget.ledger.DeliveryLedger.incident`."""
        key = check_token("incident", incident)
        with self._open():
            row = self._rows.get(key)
        return None if row is None else row.incident(key)

    def warm(self, incident: str) -> int:
        """See :meth:`geotarget.ledger.DeliveryLedger.warm` (nothing to load in memory)."""
        return int(self.recipients(incident).size)

    def load_active(self) -> list[Incident]:
        """See :meth:`geotarget.ledger.DeliveryLedger.load_active`."""
        with self._open():
            return [
                row.incident(key)
                for key, row in sorted(self._rows.items())
                if row.state == IncidentState.ACTIVE.value and row.document is not None
            ]


class _MemoryTx:
    """The lifecycle's view of the memory store (under its lock)."""

    def __init__(self, store: MemoryLedger) -> None:
        self.s = store

    def version(self, vid: str) -> tuple[str, str | None] | None:
        return self.s._versions.get(vid)

    def incident_row(self, key: str) -> _lifecycle.Row | None:
        return self.s._rows.get(key)

    def early_cancels(self, vids: list[str]) -> list[str]:
        return [self.s._remembered[c] for v in vids for c in self.s._early.get(v, ())]

    def legacy_cancels(self, vids: list[str]) -> list[str]:
        return []  # (a memory store is never one an earlier build wrote)

    def documents(self, key: str) -> list[tuple[str, str]]:
        return [(v, d) for v, (inc, d) in self.s._versions.items() if inc == key and d is not None]

    def put_version(
        self, vid: str, incident: str, document: str | None, sent_us: int | None, at_us: int
    ) -> None:
        old = self.s._versions.get(vid)
        if old is None or old[1] is None:
            self.s._versions[vid] = (old[0] if old else incident, document)

    def put_incident(self, key: str, row: _lifecycle.Row) -> None:
        self.s._rows[key] = row

    def remember_cancels(self, vids: list[str], cancel_vid: str, document: str, at_us: int) -> None:
        for v in vids:
            named = self.s._early.setdefault(v, [])
            if cancel_vid not in named:
                named.append(cancel_vid)
        self.s._remembered.setdefault(cancel_vid, document)

    def remembered(self, vid: str) -> str | None:
        return self.s._remembered.get(vid)

    def refused(self, vid: str) -> str | None:
        return self.s._refused.get(vid)

    def put_refused(self, vid: str, document: str, at_us: int) -> None:
        self.s._refused.setdefault(vid, document)

    def retract(self, key: str, cancel_vid: str, at_us: int, lease_us: int) -> Claims:
        return self.s._retract_locked(key, cancel_vid, at_us, lease_us)

    def renew(self, key: str) -> None:
        pass  # (no handle remembers claims by the incident's row)

    def reclaim(self, vids: list[str], incident: str) -> None:
        for v in vids:
            old = self.s._versions.get(v)
            if old is not None and old[1] is None:
                self.s._versions[v] = (incident, None)

    def merge(self, other: str, into: str, at_us: int) -> None:
        s = self.s
        for v, (inc, doc) in list(s._versions.items()):
            if inc == other:
                s._versions[v] = (into, doc)
        for kind in (0, 1):
            src = s._tables.pop((other, kind), None)
            if src is None:
                continue
            dst = s._tables.get((into, kind))
            if dst is None:
                s._tables[(into, kind)] = src
                continue
            for a, b in zip(src.sides(), dst.sides(), strict=True):
                if a.ids.size == 0:
                    continue
                at = b.find(a.ids)
                fresh = at < 0
                if fresh.any():
                    b.add(
                        a.ids[fresh],
                        a.state[fresh],
                        a.lease[fresh],
                        a.seq_of(fresh),
                        a.version[fresh],
                    )
                both = np.flatnonzero(~fresh)
                told = both[a.state[both] == 1]  # confirmed there: confirmed here too
                if told.size:
                    b.set_state(at[told], 1)
        row = s._rows[other]
        s._rows[other] = attrs.evolve(row, state=IncidentState.MERGED.value, changed_us=at_us)
