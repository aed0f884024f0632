"""The SQLite store: one file, WAL, set-based statements over a JSON batch."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget.errors import (
    InvalidInput,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
)
from geotarget.ledger._model import IdArray
from geotarget.ledger._sql import SCHEMA, SqlStore

#: RETURNING arrived in SQLite 3.35; before it, claims select the new devices then insert them.
HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
#: The oldest SQLite supported (Ubuntu 20.04 ships 3.31.1): UPSERT, row values, JSON1.
MIN_SQLITE = (3, 31, 0)

_CODES = {
    "SQLITE_BUSY": StoreBusy,
    "SQLITE_LOCKED": StoreBusy,
    "SQLITE_READONLY": StoreReadOnly,
    "SQLITE_FULL": StoreFull,
    "SQLITE_NOTADB": StoreCorrupt,
    "SQLITE_CORRUPT": StoreCorrupt,
    "SQLITE_CANTOPEN": StoreUnavailable,
    "SQLITE_PERM": StoreReadOnly,
    "SQLITE_IOERR": StoreUnavailable,
}
_MESSAGES = (
    ("locked", StoreBusy),
    ("readonly", StoreReadOnly),
    ("read-only", StoreReadOnly),
    ("disk is full", StoreFull),
    ("not a database", StoreCorrupt),
    ("malformed", StoreCorrupt),
    ("unable to open", StoreUnavailable),
    ("disk i/o", StoreUnavailable),
)


def _store_error(err: sqlite3.Error, path: Path, action: str) -> StoreError:
    name = getattr(err, "sqlite_errorname", "") or ""
    cls: type[StoreError] | None = None
    for code, c in _CODES.items():
        if name.startswith(code):
            cls = c
            break
    if cls is None:
        text = str(err).lower()
        cls = next((c for m, c in _MESSAGES if m in text), StoreError)
    if cls is StoreUnavailable and (
        not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))
    ):
        cls = StoreReadOnly  # SQLite says "unable to open" when it cannot create -wal / -shm
    why = {
        StoreBusy: "another connection held its lock past the busy timeout",
        StoreReadOnly: "it cannot be written (read-only file, directory or database)",
        StoreFull: "the disk or database is full",
        StoreCorrupt: "the file is not a SQLite database",
        StoreUnavailable: "it cannot be opened",
    }.get(cls, "SQLite failed")
    return cls(f"SQLite store {str(path)!r}: {action} failed: {why} ({err}); nothing was applied")


class SQLiteLedger(SqlStore):
    """A durable delivery store in one SQLite file, shared by the processes of one machine.

    Every operation is one ``BEGIN IMMEDIATE`` transaction, so writers from every process
    serialise on the file and a crash (even ``SIGKILL``) leaves no operation half-applied.
    Claims are set-based: the batch goes to SQLite as one JSON array and one
    ``INSERT … SELECT … FROM json_each(?) ON CONFLICT DO NOTHING RETURNING`` records the new
    devices (SQLite before 3.35, which lacks ``RETURNING``, selects the new devices first in the
    same transaction). Works on SQLite 3.31 and later (no ``STRICT`` tables).

    Parameters
    ----------
    path : str or Path
        The database file (created if missing). ``":memory:"`` is refused: use
        :class:`~geotarget.ledger.MemoryLedger`.
    synchronous : {"FULL", "NORMAL"}, default "FULL"
        SQLite's durability level; ``"NORMAL"`` survives process crashes but may lose the last
        commits on power loss.
    busy_timeout : float, default 5.0
        Seconds to wait for another writer's lock before raising
        :class:`~geotarget.errors.StoreBusy`.

    Raises
    ------
    StoreError
        A subclass naming the cause: the directory is missing (``StoreUnavailable``), the file
        or directory is read-only (``StoreReadOnly``), the file is not a database
        (``StoreCorrupt``), another writer holds the lock (``StoreBusy``), the disk is full
        (``StoreFull``).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from datetime import datetime, timezone
    >>> from geotarget.ledger import SQLiteLedger
    >>> t = datetime(2024, 4, 15, 12, 0, tzinfo=timezone.utc)
    >>> db = SQLiteLedger(pathlib.Path(tempfile.mkdtemp()) / "deliveries.db")
    >>> got = db.claim("polisen/1", [1, 2, 3], version="polisen/1", at=t)
    >>> got.keys().tolist()
    ['polisen/1 polisen/1 1', 'polisen/1 polisen/1 2', 'polisen/1 polisen/1 3']
    >>> db.claim("polisen/1", ["2", 4], version="polisen/1", at=t).devices.tolist()
    ['4']
    >>> db.confirm(got.keys()[:2], at=t).confirmed.tolist()
    [0, 1]
    >>> db.close()

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Pending claims with delivery keys and leases, durable incidents, canonical text ids.
    """

    def __init__(
        self, path: str | Path, *, synchronous: str = "FULL", busy_timeout: float = 5.0
    ) -> None:
        if str(path) == ":memory:":
            raise InvalidInput("path must be a file, not ':memory:' (use MemoryLedger instead)")
        if synchronous not in ("FULL", "NORMAL"):
            raise InvalidInput(f"synchronous must be one of 'FULL', 'NORMAL' (got {synchronous!r})")
        if (
            isinstance(busy_timeout, bool)
            or not isinstance(busy_timeout, (int, float))
            or not (0 <= busy_timeout <= 600)
        ):
            raise InvalidInput(
                f"busy_timeout must be a number of seconds in [0, 600] (got {busy_timeout!r})"
            )
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreUnavailable(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs SQLite >= "
                f"{'.'.join(map(str, MIN_SQLITE))}"
            )
        self.path = Path(path)
        parent = self.path.resolve().parent
        if not parent.is_dir():
            raise StoreUnavailable(
                f"SQLite store {str(self.path)!r}: the directory {str(parent)!r} does not exist"
            )
        if not self.path.exists() and not os.access(parent, os.W_OK):
            raise StoreReadOnly(
                f"SQLite store {str(self.path)!r}: cannot create it, the directory "
                f"{str(parent)!r} is not writable"
            )
        self._lock = threading.Lock()
        self._json = True
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
        except sqlite3.Error as err:
            raise _store_error(err, self.path, "open") from err
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreReadOnly(
                    f"SQLite store {str(self.path)!r}: cannot switch to WAL (journal_mode "
                    f"{mode!r}): is the directory writable?"
                )
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            with self._tx() as cur:
                for stmt in SCHEMA:
                    cur.execute(stmt.format(without_rowid=" WITHOUT ROWID"))
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS gt_meta (name TEXT PRIMARY KEY, value INTEGER)"
                )
                cur.execute("INSERT OR IGNORE INTO gt_meta VALUES ('batch', 0)")
        except sqlite3.Error as err:
            self._db.close()
            raise _store_error(err, self.path, "open") from err
        except BaseException:
            self._db.close()
            raise
        try:
            self._db.execute("SELECT count(*) FROM json_each('[1]')").fetchone()
        except sqlite3.OperationalError:  # pragma: no cover - JSON1 is in every build we know
            self._json = False

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                cur.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise _store_error(err, self.path, "a transaction") from err
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back itself
                self._db.execute("ROLLBACK")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            try:
                self._db.execute("BEGIN")
                yield self._db.cursor()
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise _store_error(err, self.path, "a read") from err
            except BaseException:
                self._rollback()
                raise

    def _source(self, values: list[str]) -> tuple[str, Any]:
        if self._json:
            return (
                "(SELECT key AS pos, CAST(value AS TEXT) AS device FROM json_each(?))",
                json.dumps(values),
            )
        self._fill_temp(values)  # pragma: no cover
        return "(SELECT pos, device FROM temp.gt_batch WHERE ? IS NULL)", None  # pragma: no cover

    def _fill_temp(self, values: list[Any]) -> None:  # pragma: no cover - builds without JSON1
        self._db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS gt_batch (pos INTEGER PRIMARY KEY, device TEXT)"
        )
        self._db.execute("DELETE FROM temp.gt_batch")
        self._db.executemany(
            "INSERT INTO temp.gt_batch VALUES (?, CAST(? AS TEXT))", enumerate(values)
        )

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
        cur.execute("UPDATE gt_meta SET value = value + 1 WHERE name = 'batch'")
        (number,) = cur.execute("SELECT value FROM gt_meta WHERE name = 'batch'").fetchone()
        # ints travel as JSON numbers and become their canonical text inside SQLite
        src, param = self._source(batch.tolist())
        args = (incident, kind, version, state, number, lease_us, at_us, param)
        insert = (
            "INSERT INTO gt_claims (incident, kind, device, version, state, batch, pos, lease_us,"
            " attempts, claimed_us) SELECT ?, ?, s.device, ?, ?, ?, s.pos, ?, 0, ?"
            f" FROM {src} AS s WHERE true ON CONFLICT (incident, kind, device) DO NOTHING"
        )
        if HAS_RETURNING and not self._force_select:
            rows = cur.execute(insert + " RETURNING pos", args).fetchall()
        else:
            src2, param2 = self._source(batch.tolist())
            rows = cur.execute(
                f"SELECT min(s.pos) FROM {src2} AS s WHERE NOT EXISTS (SELECT 1 FROM gt_claims c"
                " WHERE c.incident = ? AND c.kind = ? AND c.device = s.device)"
                " GROUP BY s.device",
                (param2, incident, kind),
            ).fetchall()
            cur.execute(insert, args)
        return np.array([r[0] for r in rows], dtype=np.int64)

    #: Tests set this to exercise the path SQLite < 3.35 takes.
    _force_select = False

    def _redeliver_rows(
        self, cur: Any, at_us: int, until_us: int, limit: int | None
    ) -> list[tuple[str, str, int, str]]:
        pick = (
            "SELECT c.incident, c.kind, c.device FROM gt_claims c"
            " JOIN gt_incidents i ON i.incident = c.incident"
            " WHERE c.state = 0 AND c.lease_us <= ? AND (c.kind = 1 OR i.state = 0)"
            " ORDER BY c.incident, c.kind, c.batch, c.pos" + (" LIMIT ?" if limit else "")
        )
        args: tuple[Any, ...] = (at_us,) if not limit else (at_us, limit)
        rows = cur.execute(
            "SELECT c.incident, c.version, c.kind, c.device, c.batch, c.pos FROM gt_claims c"
            f" WHERE (c.incident, c.kind, c.device) IN ({pick})",
            args,
        ).fetchall()
        cur.execute(
            "UPDATE gt_claims SET lease_us = ?, attempts = attempts + 1"
            f" WHERE (incident, kind, device) IN ({pick})",
            (until_us, *args),
        )
        rows.sort(key=lambda r: (r[0], r[2], r[4], r[5]))
        return [(r[0], r[1], r[2], r[3]) for r in rows]
