"""The SQLite store: one file, WAL, set-based statements over a JSON batch."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget import _sorted
from geotarget._validate import file_path
from geotarget.errors import (
    InvalidInput,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
)
from geotarget.ledger._batch import Payload, mixed_values
from geotarget.ledger._model import Admission, IdArray, shown
from geotarget.ledger._sql import (
    _DUE_FROM,
    _DUE_WHERE,
    _INHERITED,
    SCHEMA,
    Logged,
    SqlStore,
    missing_columns,
    schema_columns,
)
from geotarget.ledger._store import _on_disk

#: The oldest SQLite supported (Ubuntu 20.04 ships 3.31.1). The store uses UPSERT (3.24), row
#: values (3.15), ``json_each`` (JSON1, built in since 3.38 and in every distribution's build
#: before) and ``WITHOUT ROWID`` (3.8.2); no ``STRICT`` tables and no ``RETURNING`` (3.35).
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


def _store_error(err: sqlite3.Error, path: Path, action: str, busy_timeout: float) -> StoreError:
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
    limit = _file_size_limit(path) if cls in (StoreUnavailable, StoreFull) else None
    if limit is not None:
        # A write past RLIMIT_FSIZE fails with EFBIG, which SQLite reports as a disk I/O error.
        cls = StoreFull
        why = (
            "a file of the store reached the process's file size limit "
            f"({limit:,} bytes: ulimit -f)"
        )
    elif cls in (StoreUnavailable, StoreFull) and (free := _free_bytes(path)) is not None:
        # Opening needs room for the WAL index (-shm): on a full file system SQLite says
        # "disk I/O error" (SQLITE_IOERR_SHMSIZE), which reads as a failing disk.
        cls = StoreFull
        why = (
            f"the disk or database is full: the file system holding it has {free:,} bytes "
            "free; free space there (what the store holds is kept)"
        )
    elif cls is StoreUnavailable and name.startswith("SQLITE_IOERR"):
        why = "the file system failed a read or write"
    elif cls is StoreCorrupt and (
        name.startswith("SQLITE_CORRUPT") or "malformed" in str(err).lower()
    ):
        # A database, damaged: not "not a database", which sends one to check the path.
        why = (
            "the database file is damaged: restore it from a backup made with SQLite's backup "
            "API ('sqlite3 FILE \".backup COPY\"', or VACUUM INTO), or start a new store; a "
            "copy of the file alone taken while a process was writing it, or a file put back "
            "beside the -wal and -shm files of another (remove them with it), is damaged so"
        )
    else:
        why = {
            StoreBusy: (
                f"another connection held its lock past the busy timeout (busy_timeout, "
                f"{busy_timeout:g} s): try again, or give SQLiteLedger a longer busy_timeout"
            ),
            StoreReadOnly: "it cannot be written (read-only file, directory or database)",
            StoreFull: "the disk or database is full",
            StoreCorrupt: "the file is not a SQLite database",
            StoreUnavailable: "it cannot be opened",
        }.get(cls, "SQLite failed")
    return cls(f"SQLite store {str(path)!r}: {action} failed: {why} ({err}); nothing was applied")


def _may(path: Path, mode: int) -> bool:
    """Whether this process may access ``path`` in ``mode`` (as its effective user)."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _check_reachable(path: Path) -> None:
    """Raise StoreUnavailable when a directory on ``path`` may not be searched by this user.

    Path's own checks raise a bare PermissionError there.
    """
    try:
        os.stat(path)
    except PermissionError as err:
        raise StoreUnavailable(
            f"SQLite store {str(path)!r}: a directory on its path cannot be searched by this "
            f"process's user ({err.strerror}): give that user access to the directory"
        ) from err
    except OSError:
        pass  # (missing, or not a directory: the checks that follow name it)


def _not_a_file(path: Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a directory, else None.

    A device (``/dev/null``), a named pipe or a socket opens, then fails every read or write
    with "disk I/O error", which reads as a store down for now; it is a mistake in the path.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # (missing: a new store; unreachable: named by the checks before)
    kinds = (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), None)


#: The most bytes SQLite writes at once: a write-ahead log frame of the largest page (64 KiB)
#: and its header. A file of the store this close to the file size limit hit it.
_LARGEST_WRITE = 65_536 + 24


def _free_bytes(path: Path) -> int | None:
    """The bytes free on the file system of ``path`` when too few for one write, else None."""
    try:
        st = os.statvfs(path.absolute().parent)
    except (AttributeError, OSError):  # (not POSIX, or the directory is gone)
        return None
    free = st.f_bavail * st.f_frsize
    return free if free < _LARGEST_WRITE else None


def _file_size_limit(path: Path) -> int | None:
    """The process's file size limit (``ulimit -f``) when a file of the store has reached it."""
    try:
        import resource
    except ImportError:  # (not POSIX: no such limit)
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    for suffix in ("", "-wal", "-journal"):
        try:
            size = os.path.getsize(f"{path}{suffix}")
        except OSError:
            continue
        if size + _LARGEST_WRITE > limit:
            return limit
    return None


#: The store's format, in ``gt_meta``: 1 has the claim log. A file of a later format (whose
#: claims this build might not see) is refused at open. (Builds before the format was written
#: do not check it: a file with a claim log must not be opened by them.)
FORMAT = 1

#: The claims of an incident without claim rows (a new alert's first send and its Updates)
#: until a write needs them as rows: a row per batch, the canonical int ids as little-endian
#: int64 ascending, the other ids as a JSON array ascending. An incident has either log rows
#: (at most MAX_LOG_ROWS) and no claim rows, or no log rows: a write that makes claim rows
#: folds all of the incident's log first.
_LOG_TABLE = """CREATE TABLE IF NOT EXISTS gt_claim_log (
    batch INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    version_id INTEGER NOT NULL,
    lease_us INTEGER NOT NULL,
    ints BLOB NOT NULL,
    strs TEXT NOT NULL
)"""
_LOG_INDEX = "CREATE INDEX IF NOT EXISTS gt_claim_log_incident ON gt_claim_log (incident_id)"
_LOG_INT = np.dtype("<i8")
_META_TABLE = "CREATE TABLE IF NOT EXISTS gt_meta (name TEXT PRIMARY KEY, value INTEGER)"
#: The store's statements as this build runs them on SQLite.
_STATEMENTS = [
    *(
        stmt.format(serial_pk="INTEGER PRIMARY KEY", device_type="", without_rowid=" WITHOUT ROWID")
        for stmt in SCHEMA
    ),
    _META_TABLE,
    _LOG_TABLE,
    _LOG_INDEX,
]


#: The columns of each table of the store, as this build reads them.
_COLUMNS = schema_columns([*SCHEMA, _META_TABLE, _LOG_TABLE])
#: Every table and index of the store's schema (``CREATE ... IF NOT EXISTS``): a file holding
#: them all (and ``gt_meta``'s rows) opens without a write.
_OBJECTS = frozenset(
    re.search(r"IF NOT EXISTS (\w+)", stmt).group(1)  # type: ignore[union-attr]
    for stmt in [*SCHEMA, _LOG_TABLE, _LOG_INDEX]
) | {"gt_meta"}
_NO_POS = np.array([], dtype=np.int64)
_OF_INCIDENT = "incident_id = (SELECT id FROM gt_incidents WHERE incident = ?)"
#: The log rows due at ``?``: of an active incident (a cancelled one has none: its Cancel folded
#: them), leased until then or earlier.
_DUE_LOG_WHERE = (
    "i.state = 0 AND l.lease_us <= ? AND (i.version IS NULL"
    " OR l.version_id = (SELECT v.id FROM gt_tokens v WHERE v.token = i.version))"
)
_DUE_LOG = f"gt_claim_log l JOIN gt_incidents i ON i.id = l.incident_id WHERE {_DUE_LOG_WHERE}"
_INSERT_ROWS = (
    "INSERT INTO gt_claims (incident_id, kind, device, version_id, state, batch, pos, lease_us)"
    " SELECT ?, 0, value, ?, 0, ?, key, ? FROM json_each(?) WHERE true"
    " ON CONFLICT (incident_id, kind, device) DO NOTHING"
)
#: The same, also claiming again a device whose delivery is pending on another version (held).
_REKEY_ROWS = _INSERT_ROWS.replace(
    "DO NOTHING",
    "DO UPDATE SET version_id = excluded.version_id, batch = excluded.batch,"
    " pos = excluded.pos, lease_us = excluded.lease_us"
    " WHERE gt_claims.state = 0 AND gt_claims.version_id <> excluded.version_id",
)


#: An incident's claims stay log rows for this many batches; the next claim folds them (each
#: claim checks the batch against every log row of the incident).
MAX_LOG_ROWS = 8


def _log_payload(ints: bytes, strs: str) -> Payload:
    """The devices of one claim log row, in claim order."""
    return Payload(
        np.frombuffer(ints, dtype=_LOG_INT).astype(np.int64),
        _NO_POS,
        np.array(json.loads(strs), dtype=np.str_),
        _NO_POS,
    )


#: WAL frames (pages) from which the store's thread copies the WAL into the database (SQLite's
#: own automatic threshold: about 4 MB).
CHECKPOINT_FRAMES = 1000
#: WAL frames from which a commit checkpoints on the caller's thread (SQLite's automatic
#: checkpoint, raised from its default 1,000): only should the store's thread fall behind,
#: and then it copies only what that thread has not.
FALLBACK_FRAMES = 4 * CHECKPOINT_FRAMES
#: The WAL file's header (https://www.sqlite.org/fileformat2.html#walformat), big-endian:
#: magic, format version, page size, checkpoint sequence and the two salts. A frame's 24-byte
#: header repeats the salts at its bytes 8 to 15 while it belongs to the current log (SQLite
#: writes new salts when it starts the log over).
_WAL_HEADER = struct.Struct(">IIIIII")
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_VERSION = 3007000
_WAL_HEADER_BYTES = 32
_FRAME_HEADER_BYTES = 24


def _commit(cur: sqlite3.Cursor) -> None:
    """``COMMIT`` the transaction of ``cur``."""
    cur.execute("COMMIT")


class _Checkpointer:
    """Copies a store's WAL into its database file on a thread and a connection of its own.

    SQLite checkpoints inside the commit that takes the WAL past 1,000 frames: it copies about
    4 MB into the database and syncs it, 6–7 ms, on whichever call commits then (a tip
    request's claim log row is ~75 frames: every twelfth such claim). The store raises that
    threshold to :data:`FALLBACK_FRAMES` and calls :meth:`after_commit` after each of its
    commits, which starts a ``PASSIVE`` checkpoint here while the WAL holds
    :data:`CHECKPOINT_FRAMES` frames or more: it waits for no reader or writer, and none waits
    for it. Commits while it runs append frames it does not copy, and keep the next writer
    from starting the WAL over; the first commit after it then starts another, which has
    little to copy, so the WAL soon starts over and grows no further. A failed checkpoint is
    left to the next one, or to the fallback on the caller's thread, whose errors SQLite
    reports.

    Whether the WAL is that large is read from the ``-wal`` file itself (its header's salts,
    repeated by the frame at that position while it belongs to the current log), not from the
    WAL index (``-shm``): SQLite holds POSIX locks on the index and the database file, which a
    process that opened and closed either would drop for all its connections; it holds none
    on the ``-wal`` file.
    """

    __slots__ = ("_db", "_path_wal", "_pid", "_pool", "_running", "last", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._path_wal = f"{path}-wal"
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._db: sqlite3.Connection | None = None
        self._running: Future[None] | None = None
        #: The last checkpoint's ``(busy, frames in the WAL, frames copied)``, or None.
        self.last: tuple[int, int, int] | None = None

    def holds(self, frames: int) -> bool:
        """Whether the current WAL holds at least ``frames`` frames (False if unreadable)."""
        try:
            fd = os.open(self._path_wal, os.O_RDONLY)
        except OSError:
            return False
        try:
            head = os.read(fd, _WAL_HEADER.size)
            if len(head) < _WAL_HEADER.size:
                return False
            magic, version, page, _, _, _ = _WAL_HEADER.unpack(head)
            if magic not in _WAL_MAGIC or version != _WAL_VERSION:
                return False
            os.lseek(fd, _WAL_HEADER_BYTES + (frames - 1) * (_FRAME_HEADER_BYTES + page), 0)
            frame = os.read(fd, _FRAME_HEADER_BYTES)
        except OSError:
            return False
        finally:
            os.close(fd)
        return len(frame) == _FRAME_HEADER_BYTES and frame[8:16] == head[16:24]

    def after_commit(self) -> None:
        """Start a checkpoint if the WAL is large and none is running (the store's lock held).

        Raises nothing: it runs after a commit, which stands whatever happens here.
        """
        running = self._running
        # (A forked child's copy of its parent's running checkpoint never ends: not its own.)
        if running is not None and not running.done() and self._pid == os.getpid():
            return
        if not self.holds(CHECKPOINT_FRAMES):
            return
        try:
            if self._pool is None or self._pid != os.getpid():  # a fork copies no thread
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="geotarget-sqlite-wal")
                self._pid, self._db = os.getpid(), None
            self._running = self._pool.submit(self._checkpoint)
        except RuntimeError:  # the interpreter is shutting down: the commit itself stands
            return

    def wait(self) -> None:
        """Return once no checkpoint is running."""
        if self._running is not None and self._pid == os.getpid():
            self._running.result()

    def _checkpoint(self) -> None:
        """One ``PASSIVE`` checkpoint, on this thread's own connection."""
        with contextlib.suppress(sqlite3.Error):
            if self._db is None:
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            busy, frames, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.last = (int(busy), int(frames), int(copied))

    def close(self) -> None:
        """Wait for the running checkpoint; close the thread's connection."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.shutdown()
            if self._db is not None:
                self._db.close()
        self._pool = self._db = None


def _check_log(path: Path) -> None:
    """Refuse to open a store whose database file is gone while its write-ahead log is there.

    Everything written to a store since its last checkpoint is in its ``-wal`` file (all of
    it, for a store that never grew past :data:`CHECKPOINT_FRAMES` frames) until a clean close
    copies it into the database file. A database file moved, renamed or removed after a crash
    leaves that log behind, which SQLite, making the file anew, discards: the store's
    incidents, claims and Cancels would be gone without a word. (A store's database file is
    never empty while its log exists: the switch to WAL writes its header first.)
    """
    wal = Path(f"{path}-wal")
    try:
        logged = wal.stat().st_size
        if logged <= _WAL_HEADER_BYTES or (path.exists() and path.stat().st_size > 0):
            return
    except OSError:
        return  # (no log; or unreadable: the checks that follow name it)
    raise StoreCorrupt(
        f"SQLite store {str(path)!r}: its write-ahead log {str(wal)!r} ({logged:,} bytes) is "
        "there without the database file it belongs to, which was moved, renamed or removed "
        "after a crash or while a process had the store open: the log holds what was written "
        "to the store since its last checkpoint (possibly everything), and opening would "
        "discard it. Move the database file back beside it, or move both together; to start "
        "a new store here, remove the -wal and -shm files; nothing was written"
    )


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class SQLiteLedger(SqlStore):
    """A durable delivery store in one SQLite file, shared by the processes of one machine.

    Every operation is one ``BEGIN IMMEDIATE`` transaction, so writers from every process
    serialise on the file and a crash (even ``SIGKILL``) leaves no operation half-applied.

    The claims of an incident that has no claim rows yet — a new alert's first send, and its
    Updates until something else needs its claims — are a claim log, one row per batch: the
    new devices' int ids as one binary array, other ids as one JSON array, checked against the
    incident's earlier log rows by binary search. A 37,000-device first send then writes about
    300 kB in one statement instead of 37,000 rows (under a millisecond against about 12 ms).
    Reads (``due``, ``recipients``, ``warm``) read the log beside the rows and never write; the
    first write that needs the claims as rows (a confirmation, a redelivery of them, a
    retraction, a claim after eight logged batches) turns the incident's log into rows inside
    its own transaction, so that cost moves from the alert's first send to its first
    confirmation. Other claims are set-based: the batch goes to SQLite as one JSON array and
    one ``INSERT … SELECT … FROM json_each(?) ON CONFLICT DO NOTHING`` records the new
    devices. Needs SQLite 3.31 or later with JSON1 (no ``STRICT`` tables, no ``RETURNING``).
    A file written by this version holds claims an earlier build would not read: do not open
    it with one.

    When a :class:`~geotarget.targeting.Targeter` admits a message, the admission's statements
    run on the caller's thread and its ``COMMIT`` (the ``fsync``) on a worker thread of the
    store's own (started on first use, stopped by :meth:`close`), while the Targeter matches
    the alert's area: SQLite releases the GIL while it waits for the disk. (An admission that
    waits for no ``fsync``, under ``synchronous="NORMAL"``, commits on the caller's thread:
    the hand-over would cost more than it saves.) The Targeter claims
    nobody and returns nothing before that commit has succeeded; a failed one raises its
    ``StoreError`` from ``target()``, the admission undone. The store's lock is held until the
    commit ends, so other calls on the store wait for it (the worker runs the ``COMMIT`` and
    releases the lock, nothing more: the log's size is read on the caller's thread, which the
    worker would otherwise interrupt for the GIL). :meth:`admit` itself commits before
    it returns. Another thread of the store's, with a connection of its own, copies the
    write-ahead log into the database (SQLite's checkpoint, which SQLite would otherwise run
    inside the commit that takes the log past 1,000 pages: ~7 ms on that caller's thread after
    a dozen large claims) once the log holds 1,000 pages; the store's own commits do so only
    past 4,000 pages, should that thread fall behind.

    Parameters
    ----------
    path : str or Path
        The database file (created if missing). ``":memory:"`` is refused: use
        :class:`~geotarget.ledger.MemoryLedger`.
    synchronous : {"AUTO", "FULL", "NORMAL"}, default "AUTO"
        When commits reach the disk. ``"AUTO"``: lifecycle changes (admit, retract, expire) at
        once (``synchronous=FULL``), claims and confirmations lazily (``NORMAL``: a power loss
        may forget the latest ones, whose devices are then offered again under the same key,
        which the delivery guarantee allows; a process crash loses nothing). ``"FULL"``: every
        commit at once. ``"NORMAL"``: every commit lazily, lifecycle changes too (a power loss
        may then undo a Cancel: for tests and throw-away stores).
    busy_timeout : float, default 5.0
        Seconds to wait for another writer's lock before raising
        :class:`~geotarget.errors.StoreBusy`.

    Raises
    ------
    InvalidInput
        A ``path`` that cannot name the store's file: empty, ``":memory:"``, a SQLite URI, a
        directory or a name ending with a separator, a path under a file, a device, a named
        pipe or a socket; or a bad ``synchronous`` or ``busy_timeout``.
    StoreError
        A subclass naming the cause: the directory is missing, or this process's user may
        not search a directory on the path or read the file (``StoreUnavailable``); the
        file or directory is read-only for it (``StoreReadOnly``); the file is not a database
        (``StoreCorrupt``), another writer holds the lock while a new file's schema is made
        (``StoreBusy``; a store already made opens with reads only, so an instance starting
        while another writes does not wait), the disk is full (``StoreFull``).

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
    .. versionchanged:: 0.1.0
       Pending claims with delivery keys and leases, durable incidents, canonical text ids.
    """

    def __init__(
        self, path: str | Path, *, synchronous: str = "AUTO", busy_timeout: float = 5.0
    ) -> None:
        given = path
        path = file_path("path", path)
        if os.fspath(given) == "":  # Path("") is "." (the working directory)
            raise InvalidInput("path must name the store's file (got '')")
        if str(path) == ":memory:":
            raise InvalidInput("path must be a file, not ':memory:' (use MemoryLedger instead)")
        if str(path).startswith("file:"):
            # SQLite reads such a name as a URI ("file:x.db?mode=memory" is a database in
            # memory, "file:x.db" the file x.db): not the file the checks below look at.
            raise InvalidInput(
                f"path must be a file path, not a SQLite URI (got {str(path)!r}: SQLite reads a "
                "name beginning with 'file:' as a URI; pass the file's path, an absolute one "
                "for a file so named, or use MemoryLedger for a store in memory)"
            )
        _check_reachable(path)
        if path.is_dir():
            raise InvalidInput(
                f"path must name the store's file, not a directory (got {str(path)!r}, a "
                f"directory; e.g. {str(path / 'ledger.db')!r})"
            )
        what = _not_a_file(path)
        if what is not None:
            raise InvalidInput(
                f"path must name the store's file, a regular file or none yet (got "
                f"{str(path)!r}, {what}: SQLite cannot keep a store there)"
            )
        if os.fspath(given).endswith(("/", os.sep)):  # (Path drops the separator)
            raise InvalidInput(
                f"path must name the store's file, not a directory (got {os.fspath(given)!r}: "
                f"it ends with a separator; e.g. {str(path / 'ledger.db')!r})"
            )
        if synchronous not in ("AUTO", "FULL", "NORMAL"):
            raise InvalidInput(
                f"synchronous must be one of 'AUTO', 'FULL', 'NORMAL' (got {shown(synchronous)})"
            )
        self._sync_mode = synchronous
        self._sync_now = ""
        #: The schema cookie at this handle's last claim (see _replaced_whole).
        self._cookie: int | None = None
        if (
            isinstance(busy_timeout, bool)
            or not isinstance(busy_timeout, (int, float))
            or not (0 <= busy_timeout <= 600)
        ):
            raise InvalidInput(
                f"busy_timeout must be a number of seconds in [0, 600] (got {shown(busy_timeout)})"
            )
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreUnavailable(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs SQLite >= "
                f"{'.'.join(map(str, MIN_SQLITE))}"
            )
        self.path = Path(path)
        parent = self.path.resolve().parent
        if parent.exists() and not parent.is_dir():  # a mistake, not a mount that is late
            raise InvalidInput(
                f"path must name a file in a directory (got {str(self.path)!r}: "
                f"{str(parent)!r} is a file, not a directory)"
            )
        if not parent.is_dir():
            raise StoreUnavailable(
                f"SQLite store {str(self.path)!r}: the directory {str(parent)!r} does not exist"
            )
        if not self.path.exists() and not os.access(parent, os.W_OK):
            raise StoreReadOnly(
                f"SQLite store {str(self.path)!r}: cannot create it, the directory "
                f"{str(parent)!r} is not writable"
            )
        if self.path.exists() and not _may(self.path, os.R_OK):
            raise StoreUnavailable(
                f"SQLite store {str(self.path)!r}: the file cannot be read by this process's "
                "user (permission denied): give that user read and write access to it"
            )
        if self.path.exists() and not _may(self.path, os.W_OK):
            # SQLite would open it for reading only: reads answered, and every write failed.
            raise StoreReadOnly(
                f"SQLite store {str(self.path)!r}: the file cannot be written (a read-only "
                "file or file system, or no write permission for this process's user)"
            )
        _check_log(self.path)
        super().__init__()
        self._lock = threading.Lock()
        self._closed = False
        self._worker: ThreadPoolExecutor | None = None
        self._worker_pid = 0
        self._wal: _Checkpointer | None = None
        self._busy_timeout = float(busy_timeout)
        self._inherited = False
        #: The file opened, as (device, inode) of its absolute path, once the store is set up.
        self._identity: tuple[int, int] | None = None
        self._absolute = self.path.absolute()
        try:
            self._db = self._connect()
        except sqlite3.Error as err:
            raise _store_error(err, self.path, "open", self._busy_timeout) from err
        try:
            self._check_tables()  # (before the switch to WAL, which writes the file's header)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreReadOnly(
                    f"SQLite store {str(self.path)!r}: cannot switch to WAL (journal_mode "
                    f"{mode!r}): is the directory writable?"
                )
            # A store already made opens with reads only: an instance (re)starting while
            # another holds the write lock (a long claim) does not wait for it.
            if not self._made():
                self._make()
        except sqlite3.Error as err:
            self._db.close()
            raise _store_error(err, self.path, "open", self._busy_timeout) from err
        except BaseException:
            self._db.close()
            raise
        try:
            self._db.execute("SELECT count(*) FROM json_each('[1]')").fetchone()
        except sqlite3.OperationalError as err:
            self._db.close()
            raise StoreUnavailable(
                f"SQLite {sqlite3.sqlite_version} was built without JSON1 (json_each): the store "
                "needs it"
            ) from err
        self._identity = _identity(self._absolute)
        self._wal = _Checkpointer(self.path)

    def _made(self) -> bool:
        """Whether every object and setting of the store's schema exists (plain reads).

        Raises StoreUnavailable for a file of a later format than :data:`FORMAT`.
        """
        names = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if not names >= _OBJECTS:
            return False
        meta = dict(self._db.execute("SELECT name, value FROM gt_meta").fetchall())
        if "format" in meta:
            self._check_format(meta["format"])
        return meta.keys() >= {"batch", "format"}

    def _check_tables(self) -> None:
        """Refuse another program's database, or tables of the store's names it cannot use.

        Plain reads, before anything is written: a file some other program made (a
        GeoPackage, an app's database given by mistake) must not get the store's tables
        added to it, and a table of one of the store's names without the columns this build
        uses (made by another program, or by an early build of geotarget) would open and then
        fail every call.
        """
        rows = self._db.execute(
            "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        ).fetchall()
        tables = {str(name) for name, kind in rows if kind == "table"}
        others = sorted(tables - _COLUMNS.keys())
        if others and "gt_incidents" not in tables:
            listed = ", ".join(map(repr, others[:5])) + (", …" if len(others) > 5 else "")
            raise StoreCorrupt(
                f"SQLite store {str(self.path)!r}: the file is a database of another program "
                f"({len(others):,} table(s) of its own: {listed}; no delivery store): give the "
                "store a file of its own; nothing was written to it"
            )
        for name, kind in sorted(rows):
            if name not in _COLUMNS:
                continue
            if kind != "table":
                raise StoreCorrupt(
                    f"SQLite store {str(self.path)!r}: {name!r} is a {kind} in the file, where "
                    "the store keeps a table of that name: the file was made by another "
                    "program; give the store a file of its own; nothing was written to it"
                )
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({name})")}
            missing = sorted(_COLUMNS[name] - have)
            if missing:
                raise StoreCorrupt(
                    missing_columns(
                        f"SQLite store {str(self.path)!r}",
                        name,
                        missing,
                        "give the store a new file",
                    )
                )
        if "gt_meta" in tables:
            for (found,) in self._db.execute("SELECT value FROM gt_meta WHERE name = 'format'"):
                self._check_format(found)

    def _check_format(self, found: object) -> None:
        """Refuse a file whose ``gt_meta`` format is not one this build reads."""
        if not isinstance(found, int) or isinstance(found, bool):
            raise StoreCorrupt(
                f"SQLite store {str(self.path)!r}: its format in gt_meta is {shown(found)}, "
                "not a format number geotarget writes: the file was made by another program; "
                "give the store a file of its own"
            )
        if found > FORMAT:
            raise StoreUnavailable(
                f"SQLite store {str(self.path)!r}: its format is {found!r}, newer than "
                f"this geotarget reads ({FORMAT}): open it with the geotarget that "
                "wrote it, or a later one"
            )

    def _make(self) -> None:
        """Create what is missing of the store's schema (one write transaction)."""
        with self._tx(durable=True) as cur:
            for stmt in _STATEMENTS:  # (device: no affinity, so integers stay integers)
                cur.execute(stmt)
            cur.execute("INSERT OR IGNORE INTO gt_meta VALUES ('batch', 0)")
            cur.execute("INSERT OR IGNORE INTO gt_meta VALUES ('format', ?)", (FORMAT,))
            (found,) = cur.execute("SELECT value FROM gt_meta WHERE name = 'format'").fetchone()
            self._check_format(found)

    def _connect(self) -> sqlite3.Connection:
        """A new connection to the file, set up as the store uses it."""
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout
        )
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            # The store's thread checkpoints; commits here only past the fallback.
            db.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_FRAMES}")
        except BaseException:
            db.close()
            raise
        return db

    def _forked(self) -> None:
        super()._forked()
        self._lock = threading.Lock()
        self._inherited = True  # (the next call opens the child's own connection)

    def close(self) -> None:
        """Close the database connection (after any admission's commit or checkpoint running).

        Every later call on this handle raises :class:`~geotarget.errors.StoreUnavailable`;
        closing again does nothing.
        """
        with self._lock:
            self._closed = True
            if not self._inherited:  # (the parent's: never closed here)
                self._db.close()
        if self._worker is not None:
            self._worker.shutdown()
        wal, self._wal = self._wal, None
        if wal is not None:
            wal.close()

    def _check_open(self, what: str) -> None:
        """Raise StoreUnavailable if :meth:`close` was called (the lock held).

        In a forked child, first opens the child's own connection (see :func:`_after_fork`).
        """
        if self._closed:
            raise StoreUnavailable(
                f"SQLite store {str(self.path)!r}: {what} failed: the store is closed (close() "
                "was called on this handle; open a new SQLiteLedger); nothing was applied"
            )
        if self._identity is not None and _identity(self._absolute) != self._identity:
            # Removed (a clean-up job) or replaced by another file: what this handle would
            # write goes to a file no other handle, and no restart, would ever see.
            raise StoreUnavailable(
                f"SQLite store {str(self.path)!r}: {what} failed: the file this handle opened "
                "was removed or replaced while it was open, so nothing written now would be "
                "seen by another handle or after a restart; nothing was applied: restore the "
                "file, or open a new SQLiteLedger (a new file has no incidents and no claims)"
            )
        if self._inherited:
            own = self._connect()
            _INHERITED.append(self._db)  # the parent's: never used nor closed here
            self._db, self._sync_now, self._inherited = own, "", False

    @contextmanager
    def _tx(self, durable: bool = False) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._undone_on_error("a transaction"):
            self._check_open("a transaction")
            cur = self._begin(durable)
            yield cur
            cur.execute("COMMIT")
            if self._wal is not None:
                self._wal.after_commit()

    @contextmanager
    def _undone_on_error(self, what: str) -> Iterator[None]:
        """Roll back on any exception (the lock held); SQLite's errors as StoreError."""
        try:
            yield
        except sqlite3.Error as err:
            self._rollback()
            raise _store_error(err, self.path, what, self._busy_timeout) from err
        except BaseException:
            self._rollback()
            raise

    def _begin(self, durable: bool) -> sqlite3.Cursor:
        """``BEGIN IMMEDIATE`` at the transaction's ``synchronous`` level (the lock held)."""
        cur = self._db.cursor()
        want = self._sync_mode if self._sync_mode != "AUTO" else "FULL" if durable else "NORMAL"
        if want != self._sync_now:
            cur.execute(f"PRAGMA synchronous={want}")
            self._sync_now = want
        cur.execute("BEGIN IMMEDIATE")
        return cur

    def _admit_behind(
        self,
        alert: Any,
        at_us: int,
        lease_us: int,
        may_act_for: Callable[[str, str], bool] | None,
    ) -> tuple[Admission, Callable[[], None]]:
        """The admission's statements here, its ``COMMIT`` (the ``fsync``) on a worker thread.

        SQLite releases the GIL while it commits, so the caller computes meanwhile (see
        :func:`geotarget.ledger._store.admit_behind`). The store's lock is held from ``BEGIN``
        until the commit ends (the worker releases it): every other call waits for it. The
        worker runs the ``COMMIT`` and nothing else; ``on_disk``, on the caller's thread,
        reads the log's size and starts a checkpoint if it is large. (A thread that wants the
        GIL back slows the one computing each time that one lets go of it: the worker's own
        reading of the log's size, five system calls, cost a new 1 km Explosion's
        ``target()`` about 0.2 ms in the median of all calls.) A commit that waits for no
        ``fsync`` (``synchronous="NORMAL"``) is made here: handing it to the worker cost more
        than it took (3.6 against 3.2 ms a new 1 km Explosion's ``target()``).
        """
        self._lock.acquire()
        try:
            with self._undone_on_error("a transaction"):
                self._check_open("a transaction")
                cur = self._begin(durable=True)
                out = self._admit_in(cur, alert, at_us, lease_us, may_act_for)
        except BaseException:
            self._lock.release()
            raise
        if self._sync_now != "FULL":
            self._commit_and_release(cur)
            self._admitted(out)
            return out, _on_disk
        try:
            done = self._committer().submit(self._commit_behind, cur)
        except RuntimeError:  # no worker (the interpreter is shutting down): commit here
            self._commit_and_release(cur)
            self._admitted(out)
            return out, _on_disk
        checked: list[bool] = []

        def on_disk() -> None:
            done.result()  # the commit's StoreError, each time it is asked
            if not checked:  # (the worker released the lock: taken again for the log's size)
                checked.append(True)
                with self._lock:
                    if self._wal is not None and not self._closed:
                        self._wal.after_commit()
            self._admitted(out)  # (forgetting twice is harmless)

        return out, on_disk

    def _commit_behind(self, cur: sqlite3.Cursor) -> None:
        """On the worker: the admission's ``COMMIT`` (rolled back on failure); the lock released.

        Nothing else runs here: every return to Python after a system call takes the GIL
        back from the thread computing (see :meth:`_admit_behind`).
        """
        try:
            with self._undone_on_error("a transaction"):
                _commit(cur)
        finally:
            self._lock.release()

    def _commit_and_release(self, cur: sqlite3.Cursor) -> None:
        """Commit the transaction of ``cur`` (rolled back on failure) and release the lock."""
        try:
            with self._undone_on_error("a transaction"):
                cur.execute("COMMIT")
            if self._wal is not None:
                self._wal.after_commit()
        finally:
            self._lock.release()

    def _committer(self) -> ThreadPoolExecutor:
        """The worker thread that commits admissions, started on first use.

        Started anew in a process forked from the one that started it: a fork copies no thread.
        """
        if self._worker is None or self._worker_pid != os.getpid():
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="geotarget-sqlite-commit")
            self._worker_pid = os.getpid()
        return self._worker

    def _rollback(self) -> None:
        if not self._closed and not self._inherited and self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back itself
                self._db.execute("ROLLBACK")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._undone_on_error("a read"):
            self._check_open("a read")
            self._db.execute("BEGIN")
            yield self._db.cursor()
            self._db.execute("COMMIT")

    def _text(self, column: str) -> str:
        return f"CAST({column} AS TEXT)"

    def _source(self, ids: IdArray) -> tuple[str, Any]:
        # Canonical integer ids travel as JSON numbers and are stored as SQLite integers.
        return (
            "(SELECT key AS pos, value AS device FROM json_each(?))",
            json.dumps(mixed_values(ids)),
        )

    def _insert_claims(
        self,
        cur: Any,
        incident_id: int,
        version_id: int,
        payload: Payload,
        lease_us: int,
        rekey: bool,
    ) -> npt.NDArray[np.int64]:
        cur.execute("UPDATE gt_meta SET value = value + 1 WHERE name = 'batch'")
        (number,) = cur.execute("SELECT value FROM gt_meta WHERE name = 'batch'").fetchone()
        has_rows, logged = cur.execute(
            "SELECT EXISTS (SELECT 1 FROM gt_claims WHERE incident_id = ? AND kind = 0),"
            " (SELECT count(*) FROM gt_claim_log WHERE incident_id = ?)",
            (incident_id, incident_id),
        ).fetchone()
        if logged and rekey:  # (not for a new incident's first claim: nothing logged yet)
            # Logged claims of another version may be held: claimed again, as rows.
            (other,) = cur.execute(
                "SELECT count(*) FROM gt_claim_log WHERE incident_id = ? AND version_id <> ?",
                (incident_id, version_id),
            ).fetchone()
            logged = MAX_LOG_ROWS if other else logged
        if not has_rows and logged < MAX_LOG_ROWS:
            return self._log_claims(cur, incident_id, version_id, number, payload, lease_us, logged)
        self._fold(cur, "incident_id = ?", (incident_id,))
        cur.execute(
            _REKEY_ROWS if rekey else _INSERT_ROWS,
            (incident_id, version_id, number, lease_us, payload.json()),
        )
        n = cur.rowcount
        if n == len(payload):
            return np.arange(n, dtype=np.int64)
        if n == 0:
            return np.array([], dtype=np.int64)
        # Some were claimed before: read back which rows this batch wrote (no RETURNING needed).
        rows = cur.execute(
            "SELECT pos FROM gt_claims WHERE incident_id = ? AND kind = 0 AND batch = ?",
            (incident_id, number),
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def _log_claims(
        self,
        cur: Any,
        incident_id: int,
        version_id: int,
        number: int,
        payload: Payload,
        lease_us: int,
        logged: int,
    ) -> npt.NDArray[np.int64]:
        """Claim into an incident without claim rows: one more log row, of the new devices.

        Those claimed before are in the incident's ``logged`` log rows (sorted: a binary search
        each). The first claim's ids go to SQLite as the payload's own memory, not copied.
        """
        ints, strs = payload.ints.astype(_LOG_INT, copy=False), payload.strs
        new = np.arange(len(payload), dtype=np.int64)
        if logged:
            fresh_i = np.ones(ints.size, dtype=np.bool_)
            fresh_s = np.ones(strs.size, dtype=np.bool_)
            for old_ints, old_strs in cur.execute(
                "SELECT ints, strs FROM gt_claim_log WHERE incident_id = ?", (incident_id,)
            ).fetchall():
                fresh_i &= ~_sorted.member(ints, np.frombuffer(old_ints, dtype=_LOG_INT))
                if strs.size and old_strs != "[]":
                    old = np.array(json.loads(old_strs), dtype=np.str_)
                    fresh_s &= ~_sorted.member(strs, old)
            new = np.flatnonzero(np.concatenate([fresh_i, fresh_s]))
            ints, strs = ints[fresh_i], strs[fresh_s]
        if new.size:
            cur.execute(
                "INSERT INTO gt_claim_log (batch, incident_id, version_id, lease_us, ints, strs)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    number,
                    incident_id,
                    version_id,
                    lease_us,
                    np.ascontiguousarray(ints).data.cast("B"),
                    json.dumps(strs.tolist()),
                ),
            )
        return new

    def _replaced_whole(self, cur: Any, marks: tuple[Any, ...]) -> bool:
        # SQLite's backup API (the CLI's ".restore", what a StoreCorrupt message advises)
        # writes the backup into the open file, which keeps its inode: the handle's check of
        # the file's identity passes it. It raises the schema cookie, which the store's own
        # writes never do (its tables are made once): a handle that remembered claims sees a
        # cookie it has not seen, and may remember devices the backup does not hold, which it
        # would leave out of every claim, never offered again. (An operator's ANALYZE or new
        # index raises it too: the handle then only forgets once what it remembered.)
        del marks
        (cookie,) = cur.execute("PRAGMA schema_version").fetchone()
        seen, self._cookie = self._cookie, int(cookie)
        return seen is not None and seen != self._cookie

    def _renumbered(self, cur: Any, old: int, new: int) -> None:
        cur.execute("UPDATE gt_claim_log SET incident_id = ? WHERE incident_id = ?", (new, old))

    def _fold(self, cur: Any, where: str, args: tuple[Any, ...]) -> None:
        """Turn the claim log's rows matching ``where`` into claim rows, in batch order."""
        rows = cur.execute(
            "SELECT batch, incident_id, version_id, lease_us, ints, strs FROM gt_claim_log"
            f" WHERE {where} ORDER BY batch",
            args,
        ).fetchall()
        for number, incident_id, version_id, lease_us, ints, strs in rows:
            text = _log_payload(ints, strs).json()
            cur.execute(_INSERT_ROWS, (incident_id, version_id, number, lease_us, text))
        if rows:
            cur.execute(f"DELETE FROM gt_claim_log WHERE {where}", args)

    def _settle(self, cur: Any, incident: str | None, due_by: int | None = None) -> None:
        where, args = ("true", ()) if incident is None else (_OF_INCIDENT, (incident,))
        if due_by is not None:  # each active incident with a due log row, whole (as claimed)
            where += f" AND incident_id IN (SELECT l.incident_id FROM {_DUE_LOG})"
            args = (*args, due_by)
        self._fold(cur, where, args)

    def _logged(self, cur: Any, incident: str | None, due_by: int | None = None) -> list[Logged]:
        # Only the rows asked for are read: an ended incident's log (never folded unless a
        # confirmation comes for it) costs due() nothing.
        where, args = ("true", ()) if incident is None else ("i.incident = ?", (incident,))
        if due_by is not None:
            where, args = f"{where} AND {_DUE_LOG_WHERE}", (*args, due_by)
        rows = cur.execute(
            "SELECT l.incident_id, i.incident, t.token, l.batch, l.lease_us, l.ints, l.strs"
            " FROM gt_claim_log l JOIN gt_incidents i ON i.id = l.incident_id"
            f" JOIN gt_tokens t ON t.id = l.version_id WHERE {where} ORDER BY l.batch",
            args,
        ).fetchall()
        return [
            Logged(iid, key, version, batch, lease_us, _log_payload(ints, strs))
            for iid, key, version, batch, lease_us, ints, strs in rows
        ]

    def _redeliver_rows(
        self, cur: Any, at_us: int, until_us: int, limit: int | None
    ) -> list[tuple[str, str, int, str]]:
        pick = (
            f"SELECT c.incident_id, c.kind, c.device FROM {_DUE_FROM} WHERE {_DUE_WHERE}"
            " ORDER BY c.incident_id, c.kind, c.batch, c.pos" + (" LIMIT ?" if limit else "")
        )
        args: tuple[Any, ...] = (at_us,) if not limit else (at_us, limit)
        rows = cur.execute(self._due_sql(limit), args).fetchall()
        cur.execute(
            f"UPDATE gt_claims SET lease_us = ? WHERE (incident_id, kind, device) IN ({pick})",
            (until_us, *args),
        )
        return [(r[0], r[1], int(r[2]), r[3]) for r in rows]
