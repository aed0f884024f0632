"""The PostgreSQL store: shared by every instance of a service; COPY-based claims."""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget.errors import (
    InvalidInput,
    MissingExtra,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
)
from geotarget.ledger._batch import Payload
from geotarget.ledger._model import IdArray, canonical_text, shown
from geotarget.ledger._sql import _INHERITED, COLUMNS, SCHEMA, SqlStore, missing_columns

_ADMIT_LOCK = 0x67746C65  # "gtle": one admission at a time, across every instance
_SCHEMA_LOCK = 0x67747363
#: Every table, index and sequence the store's schema makes (``CREATE ... IF NOT EXISTS``).
_OBJECTS = [
    *(re.search(r"IF NOT EXISTS (\w+)", stmt).group(1) for stmt in SCHEMA),  # type: ignore[union-attr]
    "gt_batch_seq",
]
#: Errors the server reports that psycopg makes OperationalError, by SQLSTATE class (a full
#: disk, 53100, is named before): what to say instead of "the server cannot be reached".
_SERVER_REFUSED: dict[str, tuple[type[StoreError], str]] = {
    "53": (
        StoreUnavailable,
        "the server lacks a resource for it, or it passed a limit set for the server, role, "
        "database or session (memory, connections, temp_file_limit with work_mem)",
    ),
    "54": (StoreError, "it passed one of the server's own limits"),
    "58": (StoreUnavailable, "the server failed a read or write of its own files"),
}


def _sqlstate(err: Exception) -> str:
    """The SQLSTATE the server sent with ``err`` ('' for an error of the client or network)."""
    return str(getattr(err, "sqlstate", None) or "")


_BATCH_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS gt_batch (pos BIGINT GENERATED ALWAYS AS"
    ' IDENTITY, device TEXT COLLATE "C" NOT NULL) ON COMMIT DELETE ROWS'
)
#: Rows per COPY chunk of a claim: small enough that the server starts early, large enough that
#: each write is one round of libpq's buffer.
_COPY_ROWS = 1_000


class _Watchdog:
    """Shuts a connection's socket down when a transaction outlives its deadline.

    libpq waits for the server's answer without a limit: a server that stopped answering (a
    frozen host, a network that drops packets) held the caller for ever, and ``lock_timeout``
    and ``statement_timeout`` are the server's own clocks, which a frozen server does not run.
    One thread per handle, started at the first transaction, sleeps until the armed deadline;
    past it, it shuts the socket down, so libpq's wait ends with an error at once.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._deadline: float | None = None
        self._fd = -1
        self._pid = 0
        self._stopped = False
        #: Whether the last armed deadline passed (its connection was shut down).
        self.fired = False

    def arm(self, fd: int, seconds: float) -> None:
        with self._cond:
            if self._pid != os.getpid():  # (first use, or a forked child: a fork copies no thread)
                self._pid = os.getpid()
                threading.Thread(
                    target=self._run, name="geotarget-pg-watchdog", daemon=True
                ).start()
            self._fd, self._deadline, self.fired = fd, time.monotonic() + seconds, False
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._deadline = None

    def stop(self) -> None:
        with self._cond:
            self._stopped, self._deadline = True, None
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._deadline, self.fired = None, True
                try:
                    with socket.socket(fileno=os.dup(self._fd)) as sock:
                        sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # (already closed: nothing waits on it)
                    pass


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as err:
        raise MissingExtra("postgres", "PostgresLedger") from err
    return psycopg


#: 10**0 … 10**19: every int64's magnitude has at most 19 digits, and 10**19 fits a uint64.
_POW10 = np.array([10**k for k in range(20)], dtype=np.uint64)


def _text_order(ints: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """The order of ``ints`` by their decimal text, without writing the texts.

    As ``sorted`` orders ``str(i)`` (code points, which is also PostgreSQL's ``"C"`` collation
    and UTF-8's byte order): ``-`` sorts before every digit, and two digit strings compare as
    their values scaled to 19 digits, the shorter first when one is the other's prefix.
    """
    neg = ints < 0
    raw = ints.view(np.uint64)
    magnitude = np.where(neg, ~raw + np.uint64(1), raw)  # two's complement: |INT64_MIN| too
    digits = np.maximum(np.searchsorted(_POW10, magnitude, side="right"), 1)
    scaled = magnitude * _POW10[19 - digits]  # below 10**19: no overflow
    order: npt.NDArray[np.intp] = np.lexsort((digits, scaled, ~neg))
    return order


def _copy_text(values: list[str]) -> str:
    """Device texts as COPY text lines (one per line, escaped when needed)."""
    data = "\n".join(values) + "\n"
    if "\x00" in data:
        i = next(i for i, v in enumerate(values) if "\x00" in v)
        raise InvalidInput(f"device_ids[{i}] must not contain NUL (got {shown(values[i])})")
    if "\\" in data or "\t" in data or "\r" in data or data.count("\n") != len(values):
        data = "".join(
            v.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")
            + "\n"
            for v in values
        )
    return data


def _said(err: Exception) -> str:
    """What the server or libpq said of ``err``, without the server's DETAIL and CONTEXT.

    Those quote the data a statement was handling: a COPY's line (a device id, with its place
    in the batch), a key that conflicted. Device ids are personal data: never in a message.
    """
    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return str(primary).strip()
    return str(err).strip()  # (libpq's own: a connection failure, the watchdog's)


#: The libpq options whose value is one of a few words (those of libpq 17, the newest):
#: libpq refuses another only when it connects, as a connection failure.
_OPTION_WORDS = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby"
    ),
    "load_balance_hosts": ("disable", "random"),
    "sslcertmode": ("disable", "allow", "require"),
    "sslnegotiation": ("postgres", "direct"),
    "ssl_min_protocol_version": ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
    "ssl_max_protocol_version": ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
}  # fmt: skip
#: The libpq options whose value is a whole number that libpq reads on every connection
#: (those of TCP keepalives it reads only over TCP, and a Unix socket ignores).
_OPTION_NUMBERS = ("connect_timeout",)


def _check_option(name: str, value: str) -> None:
    """Refuse a value libpq would refuse only when it connects (as "cannot be reached").

    Only options whose values are no secret are named with their value: the words of
    :data:`_OPTION_WORDS`, whole numbers, and ``hostaddr``'s numeric addresses.
    """
    words = _OPTION_WORDS.get(name)
    if words is not None and value.casefold() not in {w.casefold() for w in words}:
        raise InvalidInput(
            f"dsn: {name} must be one of {', '.join(map(repr, words))} (got {shown(value)}); "
            "libpq refuses it only when it connects, which reads as a server not up"
        )
    if name in _OPTION_NUMBERS and value.strip() and not value.strip().lstrip("-").isdigit():
        raise InvalidInput(
            f"dsn: {name} must be a whole number (got {shown(value)}); libpq refuses it only "
            "when it connects, which reads as a server not up"
        )
    if name == "hostaddr" and value:
        import ipaddress

        for one in value.split(","):
            if not one.strip():
                continue  # (an empty entry: that host's name is looked up instead)
            try:
                ipaddress.ip_address(one.strip())
            except ValueError:
                raise InvalidInput(
                    f"dsn: hostaddr must be numeric IP addresses (IPv4 or IPv6), separated by "
                    f"',' for several hosts (got {shown(one)}); a host name goes in host="
                ) from None


def _check_dsn(dsn: str) -> None:
    """Refuse a DSN libpq cannot read, before connecting (never quoting it: it may hold a password).

    Its syntax, and its ports: libpq refuses ``port=notaport`` only when it connects, as a
    connection failure, which a service takes for a server not up yet and retries for ever.
    """
    from psycopg import conninfo

    try:
        info = conninfo.conninfo_to_dict(dsn)
    except Exception as err:  # psycopg.ProgrammingError: libpq's parser, which quotes the DSN
        # An option's name is shown (it is no secret); any other piece of the DSN is not.
        named = re.match(r'invalid (connection option|URI query parameter):? "(\w+)"', str(err))
        why = (
            f"{named[1]} {named[2]!r} is not one libpq knows"
            if named
            else "libpq's message is not shown, as it quotes the DSN, which may hold a password"
        )
        raise InvalidInput(
            "dsn is not a connection string libpq can read (key=value pairs such as "
            f"'host=db dbname=geotarget', or a postgresql:// URI): {why}"
        ) from None
    for name, value in info.items():
        _check_option(name, str(value))
    for port in str(info.get("port") or "").split(","):
        if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise InvalidInput(
                f"dsn: its port must be a whole number from 1 to 65535, or several separated "
                f"by ',' for several hosts (got {shown(port)}); libpq cannot connect to it"
            )


class PostgresLedger(SqlStore):
    """A delivery store in PostgreSQL, shared by every instance of a service.

    The same protocol and semantics as :class:`~geotarget.ledger.SQLiteLedger`. Claims stream
    the batch with ``COPY`` into a temporary table and record the new devices with one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``: processes claiming overlapping
    devices for one incident at once get disjoint sets (the primary key decides), and a claim
    holds a share lock on its incident's row, so a Cancel (which takes the row for update)
    waits for claims in flight and every later claim sees it. Confirmations lock the pending
    rows they confirm in key order and report only what their ``UPDATE`` changed, so two
    instances confirming the same delivery never both report it confirmed. Tested on
    PostgreSQL 15; a confirm is linear in its batch from PostgreSQL 14 on (which hashes the
    ``= ANY`` array of keys; 12 and 13 may scan it for every claim row of the incident).

    The first open of a schema creates the store's tables (its role needs CREATE on the
    schema); every later open only uses them, so a service may run as a role that may only
    read and write them (SELECT, INSERT, UPDATE and DELETE on the tables, USAGE and UPDATE on
    their sequences, TEMP on the database). A role that may only read, or a read-only server
    (a hot standby, ``default_transaction_read_only``), reads the store (``preview()``,
    ``incident()``) and is refused every write with :class:`~geotarget.errors.StoreReadOnly`,
    nothing applied.

    .. versionadded:: 0.1.0

    Parameters
    ----------
    dsn : str
        A libpq connection string or URI, e.g. ``"host=/run/pg dbname=geotarget"``.
    lock_timeout : float, default 5.0
        Seconds to wait for a lock before raising :class:`~geotarget.errors.StoreBusy`.
    connect_timeout : float, default 5.0
        Seconds to wait for the server before raising
        :class:`~geotarget.errors.StoreUnavailable`.
    query_timeout : float, default 30.0
        Seconds one operation may wait for the server's answers (a server that stopped
        answering, a network that drops packets) before raising
        :class:`~geotarget.errors.StoreUnavailable`; its connection is then replaced at the
        next operation. Longer than ``lock_timeout``: lock waits end first, as ``StoreBusy``.
        It is also the server's bound on this handle's sessions (``statement_timeout`` and
        ``idle_in_transaction_session_timeout``, unless the role or database sets a shorter
        one): a process that stops dead inside a transaction (a paused VM, a frozen host)
        holds its locks, and so keeps other instances' claims and Cancels of its incident
        waiting, for that long at most.

    Raises
    ------
    MissingExtra
        psycopg 3 is not installed: ``pip install -e '.[postgres]'`` from a checkout.
    InvalidInput
        A ``dsn`` libpq cannot read (its syntax, or a port that is not a number from 1 to
        65535), or a timeout out of range: a mistake no retry mends, never the DSN's text
        (it may hold a password).
    StoreUnavailable
        The server cannot be reached, or refused the DSN's role, password or database
        (also raised by any later operation while it is down;
        a connection lost while idle, by a server restart for instance, is replaced at the
        next operation, which then runs as usual if the server is back).
    """

    _for_share = " FOR SHARE"
    _for_update = " FOR UPDATE"
    _next_id = "nextval(pg_get_serial_sequence('gt_incidents', 'id'))"
    _whole_columns = ", pg_relation_filenode('gt_claims'), pg_relation_filenode('gt_incidents')"

    def __init__(
        self,
        dsn: str,
        *,
        lock_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        query_timeout: float = 30.0,
    ) -> None:
        if not isinstance(dsn, str) or not dsn:
            raise InvalidInput(f"dsn must be a non-empty str (got {shown(dsn)})")
        for name, value in (
            ("lock_timeout", lock_timeout),
            ("connect_timeout", connect_timeout),
            ("query_timeout", query_timeout),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 < value <= 600)
            ):
                raise InvalidInput(
                    f"{name} must be a number of seconds in (0, 600] (got {shown(value)})"
                )
        super().__init__()
        self._pg = _psycopg()
        _check_dsn(dsn)
        self.dsn = dsn
        self._lock_timeout = float(lock_timeout)
        self._connect_timeout = float(connect_timeout)
        self._query_timeout = float(query_timeout)
        self._watchdog = _Watchdog()
        self._lock = threading.Lock()
        self._closed = False
        self._conn: Any = None
        #: Per incident id: whether the next claim tries a plain COPY first (until one conflicts).
        self._optimistic: dict[int, bool] = {}
        #: The files of the claims' and incidents' tables at this handle's last claim.
        self._filenodes: tuple[Any, ...] | None = None
        #: Whether the session's first transaction is still to check the schema (see _make).
        self._unchecked = True
        with self._lock:
            self._connect()
            try:
                with self._tx_locked():
                    pass  # (its first transaction makes the schema: see _make)
            except BaseException:
                conn: Any = self._conn  # (set by _connect, or replaced by _begin's reconnect)
                conn.close()  # the handle is never returned: nothing else would close it
                raise

    def _make(self, cur: Any) -> None:
        """Make the store's schema unless it is there (the first transaction of each session).

        Made once, by a role that may create them; a role that may only read and write them
        (or a read-only server) opens a store already made. Checked again on each new session:
        a database dropped and created again (or restored without the store) gets its tables
        back at the next call, as a new handle would make them, instead of failing every call.
        """
        if self._made(cur):
            self._check_columns(cur)
            return
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        for stmt in SCHEMA:
            cur.execute(
                stmt.format(
                    serial_pk="BIGSERIAL PRIMARY KEY",
                    device_type='TEXT COLLATE "C"',
                    without_rowid="",
                )
            )
        cur.execute("CREATE SEQUENCE IF NOT EXISTS gt_batch_seq")
        self._check_columns(cur)  # (a table of the store's name made before is kept as it was)

    @staticmethod
    def _check_columns(cur: Any) -> None:
        """Refuse a table of one of the store's names without the columns this build uses.

        Another program's table, or an early build's, in the ``search_path``: every call
        would otherwise fail with "column ... does not exist".
        """
        rows = cur.execute(
            "SELECT o.name, a.attname FROM unnest(%s::text[]) AS o(name)"
            " JOIN pg_attribute a ON a.attrelid = to_regclass(o.name)"
            " WHERE a.attnum > 0 AND NOT a.attisdropped",
            (sorted(COLUMNS),),
        ).fetchall()
        have: dict[str, set[str]] = {}
        for table, column in rows:
            have.setdefault(str(table), set()).add(str(column))
        for table in sorted(COLUMNS):
            missing = sorted(COLUMNS[table] - have.get(table, set()))
            if missing:
                raise StoreCorrupt(
                    missing_columns(
                        "PostgreSQL store",
                        table,
                        missing,
                        "give the store a schema of its own (search_path)",
                    )
                )

    @staticmethod
    def _made(cur: Any) -> bool:
        """Whether every object of the store's schema exists (in the ``search_path``)."""
        (missing,) = cur.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS o(name) WHERE to_regclass(o.name) IS NULL",
            (_OBJECTS,),
        ).fetchone()
        return int(missing) == 0

    def _connect(self) -> None:
        pg = self._pg
        try:
            conn = pg.connect(self.dsn, connect_timeout=max(1, round(self._connect_timeout)))
        except pg.Error as err:
            raise self._error(err, "connect") from err
        self._watchdog.arm(conn.pgconn.socket, self._query_timeout)  # (BEGIN re-arms)
        try:
            conn.execute(f"SET lock_timeout = {int(self._lock_timeout * 1000)}")
            # The server's own bound on a session of this handle that stops mid-transaction (a
            # paused VM, a frozen host, SIGSTOP): its watchdog stops with it, and the locks
            # its transaction holds (its incident's row, the devices it inserted) kept every
            # other instance's claims, and a Cancel, failing as StoreBusy for as long as it
            # stayed frozen. Past query_timeout idle in a transaction, or in one statement (a
            # COPY waiting for the rest of its rows), the server ends it: this handle's own
            # watchdog would have failed that call by then. A shorter bound set for the role
            # or the database is kept.
            conn.execute(
                "SELECT set_config(name, %s, false) FROM pg_settings WHERE name IN"
                " ('idle_in_transaction_session_timeout', 'statement_timeout')"
                " AND (setting::bigint = 0 OR setting::bigint > %s::bigint)",
                (str(int(self._query_timeout * 1000)), int(self._query_timeout * 1000)),
            )
            conn.commit()
            # The claims' staging table, made here unless the session is read-only (a hot
            # standby, a database or role read-only by default): that one still reads the
            # store, and a claim then fails as the server says why (StoreReadOnly).
            self._batch_table = False
            try:
                conn.execute(_BATCH_TABLE)
                conn.commit()
                self._batch_table = True
            except pg.errors.ReadOnlySqlTransaction:
                conn.rollback()
        except pg.Error as err:
            conn.close()  # a connection that could not be set up is not kept, nor leaked
            raise self._error(err, "connect") from err
        finally:
            self._watchdog.disarm()
        # A new session: the server may have crashed since the last one and lost its latest
        # claims (they commit lazily), or the database was restored. What this handle
        # remembers of them would keep it from claiming those devices again for ever.
        self._forget_all()
        self._optimistic.clear()
        self._filenodes = None
        self._unchecked = True  # (the schema, at this session's first transaction)
        self._conn = conn

    def _error(self, err: Exception, action: str, committing: bool = False) -> StoreError:
        pg = self._pg
        errors = pg.errors
        if isinstance(err, errors.DiskFull):
            cls: type[StoreError] = StoreFull
            why = "the disk is full"
        elif isinstance(err, errors.ReadOnlySqlTransaction):
            cls, why = StoreReadOnly, "the server is read-only"
        elif isinstance(err, errors.InsufficientPrivilege):
            cls, why = (
                StoreReadOnly,
                "the role lacks a privilege the store needs (to read and write its tables and "
                "sequences and to make a temporary table; to create the tables, on the first "
                "open of a schema without them)",
            )
        elif isinstance(err, (errors.LockNotAvailable, errors.DeadlockDetected)):
            cls, why = StoreBusy, "a lock was held past lock_timeout"
        elif isinstance(err, errors.QueryCanceled):
            cls, why = (
                StoreUnavailable,
                "the server cancelled a statement: it ran past statement_timeout (the store "
                f"sets it to query_timeout, {self._query_timeout:g} s, unless the role or "
                "database sets a shorter one: raise that one for a batch this large), or an "
                "administrator cancelled it",
            )
        elif isinstance(err, (errors.AdminShutdown, errors.CrashShutdown)):
            cls, why = (
                StoreUnavailable,
                "the server ended the session (it is shutting down or restarting, or an "
                "administrator terminated the session's backend); the next call reconnects",
            )
        elif isinstance(err, errors.IdleInTransactionSessionTimeout):
            cls, why = (
                StoreUnavailable,
                "the server ended the session, which waited inside a transaction past "
                "idle_in_transaction_session_timeout (query_timeout unless the role or database "
                "sets a shorter one): was this process paused? The next call reconnects",
            )
        elif isinstance(err, pg.OperationalError) and _sqlstate(err)[:2] in _SERVER_REFUSED:
            # The server answered: it is not out of reach (psycopg makes these classes
            # OperationalError, as it does a connection lost).
            cls, why = _SERVER_REFUSED[_sqlstate(err)[:2]]
        elif isinstance(err, pg.OperationalError) and action == "connect":
            # (libpq's text says which: no server at the address, or its refusal of the role,
            # password or database, as "FATAL: ..."; a database created later may pass too.)
            cls, why = StoreUnavailable, "the server cannot be reached or refused the connection"
        elif isinstance(err, pg.OperationalError):
            cls, why = StoreUnavailable, "the server cannot be reached"
        else:
            cls, why = StoreError, "PostgreSQL failed"
        if committing and cls is StoreUnavailable:
            # The COMMIT was sent: the server may have applied it before the connection went.
            return cls(
                f"PostgreSQL store: {action} failed: {why} ({_said(err)}) while "
                "committing, so it may have been applied; repeating it applies nothing twice "
                "(devices it claimed come back through redeliver() once their lease runs out)"
            )
        return cls(f"PostgreSQL store: {action} failed: {why} ({_said(err)}); nothing was applied")

    def _forked(self) -> None:
        super()._forked()
        self._lock = threading.Lock()
        self._watchdog = _Watchdog()
        if self._conn is not None:  # the parent's session: never used nor closed here
            _INHERITED.append(self._conn)
            self._conn = None  # (the next transaction connects)

    def close(self) -> None:
        """Close the connection.

        Every later call on this handle raises :class:`~geotarget.errors.StoreUnavailable`
        (it does not reconnect); closing again does nothing.
        """
        with self._lock:
            self._closed = True
            self._watchdog.stop()
            if self._conn is not None:
                self._conn.close()

    @contextmanager
    def _tx_locked(self, durable: bool = True, writes: bool = True) -> Iterator[Any]:
        pg = self._pg
        if self._closed:
            raise StoreUnavailable(
                "PostgreSQL store: a transaction failed: the store is closed (close() was "
                "called on this handle; open a new PostgresLedger); nothing was applied"
            )
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._connect()
        committing = False
        watchdog = self._watchdog
        try:
            with ExitStack() as stack:
                stack.callback(watchdog.disarm)
                watchdog.arm(self._conn.pgconn.socket, self._query_timeout)
                conn = self._begin(stack)
                cur = stack.enter_context(conn.cursor())
                unchecked = self._unchecked
                if unchecked:
                    self._make(cur)
                if not durable:
                    cur.execute("SET LOCAL synchronous_commit = off")
                yield cur
                committing = writes  # (what fails from here on is the COMMIT)
            if unchecked and self._conn is conn:
                self._unchecked = False
        except pg.Error as err:
            why: Exception = err
            if watchdog.fired:
                why = pg.OperationalError(
                    f"no answer within query_timeout, {self._query_timeout:g} s: is the server "
                    "frozen or the network down?"
                )
            raise self._error(why, "a transaction", committing) from err

    def _begin(self, stack: ExitStack) -> Any:
        """Start a transaction in ``stack``; return its connection.

        A connection that went while it was idle (the server restarted, the backend was
        terminated, a proxy dropped it) shows only when it is next used: here, at ``BEGIN``.
        That is the transaction's first statement, so nothing of it was sent, and it starts
        again once on a new connection (:class:`~geotarget.errors.StoreUnavailable` if there
        is none), instead of failing the first call after every restart.
        """
        try:
            stack.enter_context(self._conn.transaction())
        except self._pg.OperationalError:
            if self._watchdog.fired:
                raise
            self._conn.close()
            self._connect()
            self._watchdog.arm(self._conn.pgconn.socket, self._query_timeout)
            stack.enter_context(self._conn.transaction())
        return self._conn

    @contextmanager
    def _tx(self, durable: bool = False) -> Iterator[Any]:
        with self._lock, self._tx_locked(durable) as cur:
            yield cur

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock, self._tx_locked(True, writes=False) as cur:
            yield cur

    def _source(self, ids: IdArray) -> tuple[str, Any]:
        return (
            "(SELECT (u.ord - 1) AS pos, u.device FROM unnest(?::text[]) WITH ORDINALITY"
            " AS u(device, ord))",
            canonical_text(ids).tolist(),
        )

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _replaced_whole(self, cur: Any, marks: tuple[Any, ...]) -> bool:
        # A restore that keeps the sessions (pg_restore --clean, or a TRUNCATE and a reload,
        # into the live schema) gives the tables new files: a handle whose session goes on
        # would remember devices the restored tables do not hold, and leave them out of every
        # claim, never offered again. (VACUUM FULL or CLUSTER of them also does: the handle
        # then only forgets once what it remembered.) The files are read with the incident's
        # row (see _whole_columns), in the same round trip.
        del cur
        seen, self._filenodes = self._filenodes, marks
        return seen is not None and seen != marks

    def _serialise_admissions(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_ADMIT_LOCK,))

    def _insert_claims(
        self,
        cur: Any,
        incident_id: int,
        version_id: int,
        payload: Payload,
        lease_us: int,
        rekey: bool,
    ) -> npt.NDArray[np.int64]:
        (number,) = cur.execute("SELECT nextval('gt_batch_seq')").fetchone()
        if self._optimistic.get(incident_id, True):
            # Straight into the table, sorted (one lock order for every claimer): no
            # speculative insertion per row. A device claimed before stops it at once; then the
            # savepoint is rolled back and the batch takes the ON CONFLICT path.
            tail = f"\t{incident_id}\t0\t{version_id}\t0\t{number}\t{lease_us}\n"
            if payload.strs.size == 0:
                # Integers only: ordered by their text without writing it twice, and nothing
                # in a decimal text to escape (a third of the claim's time in Python, before).
                order = _text_order(payload.ints)
                pairs = zip(payload.ints[order].tolist(), order.tolist(), strict=True)
            else:
                texts = payload.texts()
                by_text = sorted(range(len(texts)), key=texts.__getitem__)
                escaped = _copy_text([texts[i] for i in by_text]).split("\n")[:-1]
                pairs = zip(escaped, by_text, strict=True)
            try:
                with (
                    cur.connection.transaction(),
                    cur.copy(
                        "COPY gt_claims (device, pos, incident_id, kind, version_id, state, batch,"
                        " lease_us) FROM STDIN"
                    ) as copy,
                ):
                    # In chunks: the server inserts (most of a claim's time, in its own
                    # process) while the next chunk's lines are written here.
                    for _ in range(0, len(payload), _COPY_ROWS):
                        chunk = itertools.islice(pairs, _COPY_ROWS)
                        copy.write("".join([f"{device}\t{pos}{tail}" for device, pos in chunk]))
                return np.arange(len(payload), dtype=np.int64)
            except (self._pg.errors.UniqueViolation, self._pg.errors.DeadlockDetected):
                self._optimistic[incident_id] = False
        if not self._batch_table:  # (dropped with this transaction if it fails)
            cur.execute(_BATCH_TABLE)
        with cur.copy("COPY gt_batch (device) FROM STDIN") as copy:
            copy.write(_copy_text(payload.texts()))
        (base,) = cur.execute("SELECT min(pos) FROM gt_batch").fetchone()
        # Sorted by device, so concurrent claimers lock conflicting keys in one order.
        # A device whose delivery is pending on another version (held) is claimed again
        # when ``rekey``: its row moves to this version and batch.
        held = " AND NOT (c.state = 0 AND c.version_id <> %s)" if rekey else ""
        on_conflict = (
            "DO UPDATE SET version_id = excluded.version_id, batch = excluded.batch,"
            " pos = excluded.pos, lease_us = excluded.lease_us"
            " WHERE gt_claims.state = 0 AND gt_claims.version_id <> excluded.version_id"
            if rekey
            else "DO NOTHING"
        )
        rows = cur.execute(
            "INSERT INTO gt_claims (incident_id, kind, device, version_id, state, batch, pos,"
            " lease_us) SELECT %s, 0, b.device, %s, 0, %s, b.pos - %s, %s FROM gt_batch b"
            " WHERE NOT EXISTS (SELECT 1 FROM gt_claims c WHERE c.incident_id = %s"
            f" AND c.kind = 0 AND c.device = b.device{held})"  # an anti-join skips the claimed
            f" ORDER BY b.device ON CONFLICT (incident_id, kind, device) {on_conflict}"
            " RETURNING pos",
            (
                incident_id,
                version_id,
                number,
                base,
                lease_us,
                incident_id,
                *((version_id,) if rekey else ()),
            ),
        ).fetchall()
        cur.execute("DELETE FROM gt_batch")
        return np.array([r[0] for r in rows], dtype=np.int64)

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
        # The answer is what this transaction changed. At READ COMMITTED a plain read taken
        # before the UPDATE can be stale: two instances confirming the same keys both read them
        # pending, the second UPDATE waits for the first and changes nothing, yet both said
        # "confirmed". So the pending rows are locked first: a row another transaction holds is
        # waited for, then checked again as that transaction left it (confirmed by it, or moved
        # to another version: no longer matched, so not locked here). The UPDATE then changes
        # exactly the rows locked, and only the rows it returns are reported confirmed. The keys
        # left are read afterwards, in a snapshot taken after those waits: confirmed by anyone,
        # "already"; else unknown (never claimed, or claimed only since this confirm began).
        #
        # Deadlocks: rows are locked in one order, (kind, device) under the column's "C"
        # collation (the row locking runs above the ORDER BY's sort), so two confirms of
        # overlapping keys take their common rows in the same order: one waits for the other,
        # neither waits for both. The UPDATE names only the devices locked here, so it takes no
        # row out of that order; rows already confirmed are only read, never locked. A claim
        # locks existing rows (an Update re-keying held deliveries) in device order too, and
        # otherwise only inserts rows; redelivery locks with SKIP LOCKED, so it never waits for
        # a confirm; a Cancel locks the incident's row, which a confirm never locks.
        #
        # Plans: the keys are one ``device = ANY(array)`` condition beside the primary key's
        # (incident, kind), with no join. Joined to ``unnest(array)`` instead, the planner, which
        # expects about one claim row of a new incident (its id is past the statistics), chose a
        # nested loop comparing every claim row with every key: quadratic, 12 s for 20,000 keys.
        # Both plans of this condition are linear: an index probe per key, or one pass over the
        # incident's rows of that kind testing each against the array, which is hashed
        # (PostgreSQL 14+) when the array is known at planning. Hence ``prepare=False``: each
        # statement is planned with its array, never as a generic prepared plan, where a filter
        # would search the array linearly for every row (quadratic again).
        texts = canonical_text(devices).tolist()
        where = {t: i for i, t in enumerate(texts)}
        match = f"incident_id = %s AND kind IN (0, 1) AND device = ANY(%s::text[]) AND {cond}"
        locked = cur.execute(
            self._q(f"SELECT device FROM gt_claims WHERE {match} AND state = 0")
            + f" ORDER BY kind, device{self._for_update}",
            (incident_id, texts, arg),
            prepare=False,
        ).fetchall()
        done: list[Any] = []
        if locked:
            done = cur.execute(
                self._q(
                    f"UPDATE gt_claims SET state = 1, confirmed_us = %s WHERE {match}"
                    " AND state = 0 RETURNING device"
                ),
                (at_us, incident_id, [r[0] for r in locked], arg),
                prepare=False,
            ).fetchall()
            codes[np.array([where[r[0]] for r in done], dtype=np.intp)] = 0
        if len(done) < len(texts):
            rest = [texts[i] for i in np.flatnonzero(codes == 2).tolist()]
            already = cur.execute(
                self._q(f"SELECT device FROM gt_claims WHERE {match} AND state = 1"),
                (incident_id, rest, arg),
                prepare=False,
            ).fetchall()
            codes[np.array([where[r[0]] for r in already], dtype=np.intp)] = 1

    def _redeliver_rows(
        self, cur: Any, at_us: int, until_us: int, limit: int | None
    ) -> list[tuple[str, str, int, str]]:
        rows = cur.execute(
            "UPDATE gt_claims c SET lease_us = %s FROM ("
            " SELECT c2.incident_id, c2.kind, c2.device, i.incident, t.token"
            " FROM gt_incidents i JOIN gt_claims c2 ON c2.incident_id = i.id"
            " JOIN gt_tokens t ON t.id = c2.version_id"
            " LEFT JOIN gt_tokens cv ON cv.token = i.version"
            " WHERE i.state IN (0, 1) AND c2.kind >= i.state AND c2.state = 0"
            " AND c2.lease_us <= %s"
            # An alert delivery pending on a version no longer current is held, not due.
            " AND (c2.kind = 1 OR i.version IS NULL OR c2.version_id = cv.id)"
            " ORDER BY c2.incident_id, c2.kind, c2.batch, c2.pos LIMIT %s"
            " FOR UPDATE OF c2 SKIP LOCKED) s"
            " WHERE c.incident_id = s.incident_id AND c.kind = s.kind AND c.device = s.device"
            " RETURNING s.incident, s.token, c.kind, c.device, c.batch, c.pos",
            (until_us, at_us, limit),
        ).fetchall()
        rows.sort(key=lambda r: (r[0], r[2], r[4], r[5]))
        return [(r[0], r[1], int(r[2]), r[3]) for r in rows]
