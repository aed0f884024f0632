"""A throw-away PostgreSQL cluster for the tests and benchmarks: ``with cluster() as dsn: ...``.

``initdb`` into a new temporary directory, ``postgres`` listening only on a Unix socket in that
directory (no TCP), the DSN handed back, and at the end the server stopped by its PID and the
directory removed, even when the body failed. As root (CI), every PostgreSQL program runs as the
``postgres`` user (PostgreSQL refuses root), with the directory chowned to it.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "GEOTARGET_TEST_POSTGRES_DSN"


def bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian layout, or initdb on PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def install() -> None:
    """Install PostgreSQL from Debian's packages (needs root and apt-get)."""
    if bindir() is not None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
        check=True,
        env=env,
    )


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class Cluster:
    """A throw-away cluster in ``root``: :meth:`start` and :meth:`stop` (by PID) at will."""

    def __init__(self, bins: Path, root: Path) -> None:
        self.bins = bins
        self.root = root
        self.data = root / "data"
        self.pid: int | None = None
        self.dsn = f"host={root} port=5432 user=postgres dbname=postgres"

    def init(self) -> None:
        """Create the cluster with initdb (trust for the local socket only, UTF-8, C locale)."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(self.bins / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        """Start the server on a Unix socket in ``root`` (no TCP) and wait until it accepts."""
        subprocess.run(
            _as_postgres(
                [
                    str(self.bins / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-k {self.root} -c listen_addresses='' -c max_connections=50",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def stop(self) -> None:
        """Stop the server by its PID ("fast" shutdown, SIGKILL after 30 s)."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
            for _ in range(300):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def started() -> Iterator[Cluster]:
    """A new cluster, started; stopped by PID and removed at the end, even on failure."""
    bins = bindir()
    if bins is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    db = Cluster(bins, Path(tempfile.mkdtemp(prefix="gt-pg-")))

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # run the cleanup below on SIGTERM too

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if main else None
    try:
        db.init()
        db.start()
        yield db
    finally:
        db.stop()
        shutil.rmtree(db.root, ignore_errors=True)
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def cluster() -> Iterator[str]:
    """Start a throw-away cluster; yield its DSN; stop it by PID and remove it at the end."""
    with started() as db:
        yield db.dsn
