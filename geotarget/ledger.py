"""Exactly-once delivery: who has already received each incident.

A delivery is keyed by ``(incident, device)``: an incident is what a person experiences as one
alert (a CAP alert and its Updates share it), so an Update that widens the area reaches only the
devices that have not been told yet, and a restart does not tell anyone twice.

Two ledgers implement the :class:`DeliveryLedger` protocol:

* :class:`MemoryLedger` — in process, for tests, demos and single-process services.
* :class:`SQLiteLedger` — durable (stdlib ``sqlite3``, WAL journal, ``synchronous=FULL``): a batch
  is committed whole or not at all, so a crash mid-batch leaves no partial batch and loses nothing
  that was acknowledged.

Device ids are ``str`` or ``int`` (numpy arrays of either are accepted). A device's identity is
its **canonical text**: ``str(i)`` for an int, the string itself for a str. So ``1`` and ``"1"``
are one device across calls (one call's ids are all ``str`` or all ``int``), while ``"007"`` and
``7`` are two. :meth:`DeliveryLedger.claim` returns ids as given; :meth:`DeliveryLedger.recipients`
returns canonical text (``str``), ready for retraction. Device positions never enter a ledger.

.. versionchanged:: 0.2.0
   ``1`` and ``"1"`` are the same device (they were two).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from geotarget.errors import InvalidInput, InvalidType

__all__ = ["DeliveryLedger", "MemoryLedger", "SQLiteLedger"]


def __dir__() -> list[str]:
    return __all__


DeviceId = str | int
IdArray = npt.NDArray[Any]


def _from_list(seq: list[Any]) -> IdArray:
    kinds = set()
    for i, d in enumerate(seq):
        if isinstance(d, bool) or not isinstance(d, (str, int)):
            raise InvalidType(f"device_ids[{i}] must be a str or an int (got {d!r})")
        kinds.add(str if isinstance(d, str) else int)
    if len(kinds) > 1:
        raise InvalidType("device_ids must be all str or all int (got both)")
    if kinds == {str}:
        return np.array(seq, dtype=np.str_)
    return np.array(seq, dtype=np.int64)


def _ids(device_ids: Iterable[DeviceId] | IdArray) -> IdArray:
    """Device ids as a numpy ``int64`` or ``str_`` array, validated, duplicates removed in order.

    numpy arrays of integers or strings pass without a Python loop; anything else is checked
    element by element.
    """
    if isinstance(device_ids, np.ndarray) and device_ids.dtype.kind in "iu":
        arr = device_ids.astype(np.int64, copy=False).reshape(-1)
    elif isinstance(device_ids, np.ndarray) and device_ids.dtype.kind == "U":
        arr = device_ids.reshape(-1)
    else:
        seq = device_ids.tolist() if isinstance(device_ids, np.ndarray) else list(device_ids)
        arr = _from_list(seq)
    if arr.size > 1:
        _, first = np.unique(arr, return_index=True)
        if first.size != arr.size:
            arr = arr[np.sort(first)]
    return arr


def _member(values: IdArray, sorted_ids: IdArray | None) -> npt.NDArray[np.bool_]:
    """Whether each value is in a sorted id array (of the same kind)."""
    if sorted_ids is None or sorted_ids.size == 0 or values.size == 0:
        return np.zeros(values.shape, dtype=np.bool_)
    if values.dtype.kind != sorted_ids.dtype.kind:
        return np.zeros(values.shape, dtype=np.bool_)
    at = np.searchsorted(sorted_ids, values)
    at = np.minimum(at, sorted_ids.size - 1)
    return np.asarray(sorted_ids[at] == values, dtype=np.bool_)


def _canonical_int_mask(ids: IdArray) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """For str ids: which are the canonical text of an int64 (``"12"``, ``"-3"``; not ``"012"``).

    Returns the mask and those ids' int values. Vectorized (numpy string ufuncs); only
    digit-only strings are converted, and a conversion counts only if it reads back to the same
    text, so ``"007"``, ``"-0"`` and ``"+1"`` stay strings.
    """
    body = np.strings.lstrip(ids, "-")
    neg = np.strings.startswith(ids, "-")
    ok = np.strings.isdigit(body) & (np.strings.str_len(body) <= 19)
    ok &= np.strings.str_len(body) == np.strings.str_len(ids) - neg.astype(np.int64)
    idx = np.flatnonzero(ok)
    values = np.zeros(idx.size, dtype=np.int64)
    if idx.size:
        cand = ids[idx]
        short = np.strings.str_len(body[idx]) <= 18
        values[short] = cand[short].astype(np.int64)
        for k in np.flatnonzero(~short).tolist():  # 19 digits: rare; may not fit int64
            v = int(cand[k])
            if -(2**63) <= v < 2**63:
                values[k] = v
            else:
                ok[idx[k]] = False
        back = values.astype(np.str_) == cand
        ok[idx[~back]] = False
        values = values[back & ok[idx]]
    return ok, values


def _canonical_text(ids: IdArray) -> IdArray:
    """Device ids as their canonical text (``str_``): ``str(i)`` for ints, strs unchanged."""
    return ids if ids.dtype.kind == "U" else ids.astype(np.str_)


class _IdSet:
    """A set of device identities: canonical ints (int64, sorted) and other strs (sorted)."""

    __slots__ = ("ints", "strs")

    def __init__(self) -> None:
        self.ints: IdArray = np.empty(0, dtype=np.int64)
        self.strs: IdArray = np.empty(0, dtype=np.str_)

    def member(self, ids: IdArray) -> npt.NDArray[np.bool_]:
        if ids.dtype.kind in "iu":
            return _member(ids, self.ints)
        out = np.zeros(ids.shape, dtype=np.bool_)
        if not ids.size:
            return out
        as_int, values = _canonical_int_mask(ids)
        out[as_int] = _member(values, self.ints)
        out[~as_int] = _member(ids[~as_int], self.strs)
        return out

    def add(self, ids: IdArray) -> None:
        """Add ids not yet in the set (the caller checked with :meth:`member`)."""
        if ids.dtype.kind in "iu":
            self.ints = _insert(self.ints, ids.astype(np.int64, copy=False))
            return
        as_int, values = _canonical_int_mask(ids)
        if values.size:
            self.ints = _insert(self.ints, values)
        rest = ids[~as_int]
        if rest.size:
            self.strs = _insert(self.strs, rest)


def _insert(done: IdArray, new: IdArray) -> IdArray:
    add = np.sort(new)
    if not done.size:
        return add
    # Widen the string width first: np.insert would truncate longer ids.
    done = done.astype(np.result_type(done, add), copy=False)
    return np.insert(done, np.searchsorted(done, add), add)


def _incident(incident: str) -> str:
    if not isinstance(incident, str) or not incident:
        raise InvalidInput(f"incident must be a non-empty str (got {incident!r})")
    return incident


def _aware(at: datetime) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"at must be a timezone-aware datetime (got {at!r})")
    return at


@runtime_checkable
class DeliveryLedger(Protocol):
    """What the targeting pipeline needs from a ledger.

    Every method is atomic: a concurrent caller sees a batch either wholly recorded or not at
    all.
    """

    def claim(
        self,
        incident: str,
        device_ids: Iterable[DeviceId] | IdArray,
        *,
        alert_id: str,
        at: datetime,
    ) -> IdArray:
        """Record deliveries for the devices not yet told about ``incident``; return those.

        The returned ids (a numpy array, in input order) are the ones the caller must now
        deliver to; the others already received the incident (under this or an earlier alert
        version). Ids of one call are all ``str`` or all ``int``.
        """
        ...

    def delivered(self, incident: str, device_ids: Iterable[DeviceId]) -> npt.NDArray[np.bool_]:
        """Whether each device has already received ``incident``."""
        ...

    def recipients(self, incident: str) -> IdArray:
        """Every device that received ``incident``, in delivery order (for retraction)."""
        ...


class MemoryLedger:
    """An in-process :class:`DeliveryLedger` (thread-safe; lost when the process ends).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> from geotarget.ledger import MemoryLedger
    >>> ledger = MemoryLedger()
    >>> t = datetime(2024, 4, 15, 12, 0, tzinfo=timezone.utc)
    >>> ledger.claim("inc-1", ["a", "b"], alert_id="v1", at=t).tolist()
    ['a', 'b']
    >>> ledger.claim("inc-1", ["b", "c"], alert_id="v2", at=t).tolist()
    ['c']
    >>> ledger.recipients("inc-1").tolist()
    ['a', 'b', 'c']

    .. versionadded:: 0.1.0
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per incident: the delivered ids in delivery order (chunks) and as a set (for lookups).
        self._chunks: dict[str, list[IdArray]] = {}
        self._sets: dict[str, _IdSet] = {}

    def claim(
        self,
        incident: str,
        device_ids: Iterable[DeviceId] | IdArray,
        *,
        alert_id: str,
        at: datetime,
    ) -> IdArray:
        """See :meth:`DeliveryLedger.claim`."""
        key = _incident(incident)
        ids = _ids(device_ids)
        _aware(at)
        with self._lock:
            done = self._sets.get(key)
            new = ids if done is None else ids[~done.member(ids)]
            if new.size:
                if done is None:
                    done = self._sets[key] = _IdSet()
                done.add(new)
                self._chunks.setdefault(key, []).append(new)
        return new

    def delivered(
        self, incident: str, device_ids: Iterable[DeviceId] | IdArray
    ) -> npt.NDArray[np.bool_]:
        """See :meth:`DeliveryLedger.delivered`."""
        ids = _ids_keep_order(device_ids)
        with self._lock:
            done = self._sets.get(_incident(incident))
            return np.zeros(ids.shape, np.bool_) if done is None else done.member(ids)

    def recipients(self, incident: str) -> IdArray:
        """See :meth:`DeliveryLedger.recipients`."""
        with self._lock:
            chunks = self._chunks.get(_incident(incident), [])
            if not chunks:
                return np.array([], dtype=np.str_)
            return np.concatenate([_canonical_text(c) for c in chunks])


def _ids_keep_order(device_ids: Iterable[DeviceId] | IdArray) -> IdArray:
    """Like :func:`_ids` but keeping duplicates (one answer per input)."""
    if isinstance(device_ids, np.ndarray) and device_ids.dtype.kind in "iuU":
        return device_ids.reshape(-1)
    seq = device_ids.tolist() if isinstance(device_ids, np.ndarray) else list(device_ids)
    return _from_list(seq) if seq else np.array([], dtype=np.str_)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    incident TEXT NOT NULL,
    device ANY NOT NULL,
    seq INTEGER NOT NULL,
    alert_id TEXT NOT NULL,
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (incident, device)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_by_seq ON deliveries (incident, seq);
"""


class SQLiteLedger:
    """A durable :class:`DeliveryLedger` in one SQLite file.

    Each :meth:`claim` is one ``BEGIN IMMEDIATE`` transaction: concurrent processes serialise on
    it, and a crash (even ``SIGKILL``) mid-batch leaves the batch wholly absent. With
    ``synchronous=FULL`` (the default) a returned claim survives power loss too.

    Parameters
    ----------
    path : str or Path
        The database file (created if missing). ``":memory:"`` is refused: use
        :class:`MemoryLedger`.
    synchronous : {"FULL", "NORMAL"}, default "FULL"
        SQLite's durability level; ``"NORMAL"`` survives process crashes but may lose the last
        commits on power loss, in exchange for speed.

    .. versionadded:: 0.1.0
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if str(path) == ":memory:":
            raise InvalidInput("path must be a file, not ':memory:' (use MemoryLedger instead)")
        if synchronous not in ("FULL", "NORMAL"):
            raise InvalidInput(f"synchronous must be one of 'FULL', 'NORMAL' (got {synchronous!r})")
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim(
        self,
        incident: str,
        device_ids: Iterable[DeviceId] | IdArray,
        *,
        alert_id: str,
        at: datetime,
    ) -> IdArray:
        """See :meth:`DeliveryLedger.claim`."""
        key = _incident(incident)
        ids = _ids(device_ids)
        when = _aware(at).isoformat()
        if not ids.size:
            return ids
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS batch (pos INTEGER, device ANY) STRICT"
                )
                cur.execute("DELETE FROM batch")
                texts = _canonical_text(ids).tolist()
                cur.executemany("INSERT INTO batch VALUES (?, ?)", enumerate(texts))
                (base,) = cur.execute(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM deliveries WHERE incident = ?", (key,)
                ).fetchone()
                new_pos = [
                    row[0]
                    for row in cur.execute(
                        "SELECT pos FROM batch b WHERE NOT EXISTS (SELECT 1 FROM deliveries d"
                        " WHERE d.incident = ? AND d.device = b.device) ORDER BY pos",
                        (key,),
                    )
                ]
                new = [texts[i] for i in new_pos]
                cur.executemany(
                    "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                    ((key, d, base + i, alert_id, when) for i, d in enumerate(new)),
                )
                cur.execute("DELETE FROM batch")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return ids[np.array(new_pos, dtype=np.intp)]

    def delivered(
        self, incident: str, device_ids: Iterable[DeviceId] | IdArray
    ) -> npt.NDArray[np.bool_]:
        """See :meth:`DeliveryLedger.delivered`."""
        ids = _ids_keep_order(device_ids)
        done = _IdSet()
        done.add(self.recipients(incident))
        return done.member(ids)

    def recipients(self, incident: str) -> IdArray:
        """See :meth:`DeliveryLedger.recipients`."""
        key = _incident(incident)
        with self._lock:
            rows = self._db.execute(
                "SELECT device FROM deliveries WHERE incident = ? ORDER BY seq", (key,)
            ).fetchall()
        if not rows:
            return np.array([], dtype=np.str_)
        return np.array([str(r[0]) for r in rows], dtype=np.str_)
