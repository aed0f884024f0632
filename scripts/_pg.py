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


@contextmanager
def cluster() -> Iterator[str]:
    """Start a throw-away cluster; yield its DSN; stop it by PID and remove it at the end."""
    bins = bindir()
    if bins is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="gt-pg-"))
    data = root / "data"
    pid: int | None = None
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(bins / "initdb"),
                    "-D",
                    str(data),
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
        subprocess.run(
            _as_postgres(
                [
                    str(bins / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-k {root} -c listen_addresses='' -c max_connections=50",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        yield f"host={root} port=5432 user=postgres dbname=postgres"
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)  # "fast" shutdown
                for _ in range(300):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)
