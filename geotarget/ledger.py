"""Exactly-once delivery: who has already received each incident.

A delivery is keyed by ``(incident, device)``: an incident is what a person experiences as one
alert (a CAP alert and its Updates share it), so an Update that widens the area reaches only the
devices that have not been told yet, and a restart does not tell anyone twice.

Two ledgers implement the :class:`DeliveryLedger` protocol:

* :class:`MemoryLedger` — in process, for tests, demos and single-process services.
* :class:`SQLiteLedger` — durable (stdlib ``sqlite3``, WAL journal, ``synchronous=FULL``): a batch
  is committed whole or not at all, so a crash mid-batch leaves no partial batch and loses nothing
  that was acknowledged.

Device ids are ``str`` or ``int`` (numpy arrays of either are accepted); ``1`` and ``"1"`` are
different devices. Device positions never enter a ledger.
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


def _ids(device_ids: Iterable[DeviceId] | npt.NDArray[Any]) -> list[DeviceId]:
    """Device ids as a list of Python ``str``/``int``, validated, duplicates removed in order."""
    seq = device_ids.tolist() if isinstance(device_ids, np.ndarray) else list(device_ids)
    for i, d in enumerate(seq):
        if isinstance(d, bool) or not isinstance(d, (str, int)):
            raise InvalidType(f"device_ids[{i}] must be a str or an int (got {d!r})")
    return list(dict.fromkeys(seq))


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
        self, incident: str, device_ids: Iterable[DeviceId], *, alert_id: str, at: datetime
    ) -> list[DeviceId]:
        """Record deliveries for the devices not yet told about ``incident``; return those.

        The returned ids, in input order, are the ones the caller must now deliver to; the
        others already received the incident (under this or an earlier alert version).
        """
        ...

    def delivered(self, incident: str, device_ids: Iterable[DeviceId]) -> npt.NDArray[np.bool_]:
        """Whether each device has already received ``incident``."""
        ...

    def recipients(self, incident: str) -> list[DeviceId]:
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
    >>> ledger.claim("inc-1", ["a", "b"], alert_id="v1", at=t)
    ['a', 'b']
    >>> ledger.claim("inc-1", ["b", "c"], alert_id="v2", at=t)
    ['c']
    >>> ledger.recipients("inc-1")
    ['a', 'b', 'c']

    .. versionadded:: 0.1.0
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_incident: dict[str, dict[DeviceId, tuple[str, datetime]]] = {}

    def claim(
        self, incident: str, device_ids: Iterable[DeviceId], *, alert_id: str, at: datetime
    ) -> list[DeviceId]:
        """See :meth:`DeliveryLedger.claim`."""
        key = _incident(incident)
        ids = _ids(device_ids)
        when = _aware(at)
        with self._lock:
            seen = self._by_incident.setdefault(key, {})
            new = [d for d in ids if d not in seen]
            for d in new:
                seen[d] = (alert_id, when)
        return new

    def delivered(self, incident: str, device_ids: Iterable[DeviceId]) -> npt.NDArray[np.bool_]:
        """See :meth:`DeliveryLedger.delivered`."""
        seq = device_ids.tolist() if isinstance(device_ids, np.ndarray) else list(device_ids)
        with self._lock:
            seen = self._by_incident.get(_incident(incident), {})
            return np.fromiter((d in seen for d in seq), dtype=np.bool_, count=len(seq))

    def recipients(self, incident: str) -> list[DeviceId]:
        """See :meth:`DeliveryLedger.recipients`."""
        with self._lock:
            return list(self._by_incident.get(_incident(incident), {}))


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
        self, incident: str, device_ids: Iterable[DeviceId], *, alert_id: str, at: datetime
    ) -> list[DeviceId]:
        """See :meth:`DeliveryLedger.claim`."""
        key = _incident(incident)
        ids = _ids(device_ids)
        when = _aware(at).isoformat()
        if not ids:
            return []
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS batch (pos INTEGER, device ANY) STRICT"
                )
                cur.execute("DELETE FROM batch")
                cur.executemany("INSERT INTO batch VALUES (?, ?)", enumerate(ids))
                (base,) = cur.execute(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM deliveries WHERE incident = ?", (key,)
                ).fetchone()
                new = [
                    row[0]
                    for row in cur.execute(
                        "SELECT device FROM batch b WHERE NOT EXISTS (SELECT 1 FROM deliveries d"
                        " WHERE d.incident = ? AND d.device = b.device) ORDER BY pos",
                        (key,),
                    )
                ]
                cur.executemany(
                    "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                    ((key, d, base + i, alert_id, when) for i, d in enumerate(new)),
                )
                cur.execute("DELETE FROM batch")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return new

    def delivered(self, incident: str, device_ids: Iterable[DeviceId]) -> npt.NDArray[np.bool_]:
        """See :meth:`DeliveryLedger.delivered`."""
        key = _incident(incident)
        seq = device_ids.tolist() if isinstance(device_ids, np.ndarray) else list(device_ids)
        done = set(self._devices(key))
        return np.fromiter((d in done for d in seq), dtype=np.bool_, count=len(seq))

    def recipients(self, incident: str) -> list[DeviceId]:
        """See :meth:`DeliveryLedger.recipients`."""
        return self._devices(_incident(incident))

    def _devices(self, key: str) -> list[DeviceId]:
        with self._lock:
            rows = self._db.execute(
                "SELECT device FROM deliveries WHERE incident = ? ORDER BY seq", (key,)
            ).fetchall()
        return [r[0] for r in rows]
