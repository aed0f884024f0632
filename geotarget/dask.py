"""Targeting over a partitioned Parquet dataset of positions on a Dask cluster.

Needs the optional extra ``dask`` (``pip install -e '.[dask]'`` from a checkout:
``dask[distributed]`` and ``pyarrow``). The in-memory :class:`~geotarget.targeting.Targeter`
stays the one source of truth; this module decides *where its evaluation runs*:

1. :func:`write_partitioned` writes a snapshot as one Parquet file per grid cell (the key is
   described in the documentation page "Beyond one machine: Dask"); :class:`PartitionedPositions`
   lists a dataset by its file footers.
2. :class:`DaskTargeter` prunes the partitions whose fixes lie farther from the alert area than
   the largest accuracy radius (times the kind's ``accuracy``) or the kind's stale margin, builds
   one :class:`~geotarget.PositionIndex` per remaining partition *on a worker* and keeps it there
   (a held future, keyed by the file's path, size, modification time, inode and change time:
   a rewritten file is rebuilt, even one whose size and modification time were kept). Every
   device of a pruned partition is plainly outside the area.
3. The Targeter decides as in memory (gates, incident book, rollout, guards) and, when it
   evaluates the devices, each worker runs the Targeter's own evaluation (the same function:
   matcher, stale fixes, regions, testers, canary) on its resident partitions, with the
   Targeter's plan and decision, and sends back only the devices whose outcome is not
   OUTSIDE_AREA, with their outcomes. The Targeter then applies the guards, claims in its
   ledger and counts per county; the count of devices outside the area is completed with the
   devices never sent back. Devices without a fix, which a kind without ``include_no_fix``
   reports NO_FIX for every alert, are only counted (from the files' metadata, or by the
   worker that reads a file without it): no partition is read and no device sent back for
   them.

So the recipients, counts, verdict and claims are those of the in-memory Targeter over the whole
dataset. :meth:`TargetingResult.explain` knows the devices sent back only (any other device is
outside the area, or without a fix). Recipients come in id order, as the in-memory Targeter's
do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget import _geodesy, _sorted
from geotarget._evaluation import (
    Evaluated,
    Evaluator,
    Plan,
    before,
    boxes,
    evaluate,
    grown,
    new_regions,
)
from geotarget._kind_rules import KindRules
from geotarget._position_files import column_key
from geotarget._positions_arrow import (
    PartitionMeta,
    partition_meta,
    positions_from_arrow,
    read_table,
)
from geotarget._positions_arrow import (
    read_parquet as _read_parquet,
)
from geotarget._positions_arrow import (
    write_partitioned as _write_partitioned,
)
from geotarget._validate import as_float, file_path, is_number, number, shown
from geotarget.alerts import Alert, MessageType, Status
from geotarget.areas import Area
from geotarget.errors import (
    ClusterError,
    GeotargetError,
    InvalidInput,
    InvalidPositions,
    InvalidType,
    MissingExtra,
)
from geotarget.ledger import Incident
from geotarget.matcher import PositionIndex
from geotarget.positions import LocationRule, Positions
from geotarget.regions import RegionSet
from geotarget.rollout import RolloutDecision, RolloutPolicy
from geotarget.targeting import (
    Delivery,
    Outcome,
    Targeter,
    TargetingResult,
    Verdict,
    _ahead,
    _alert_type_error,
    _aware,
    _confirm,
    _in_effect,
    _not_public,
)

__all__ = [
    "DaskTargeter",
    "Partition",
    "PartitionedPositions",
    "positions_from_arrow",
    "read_parquet",
    "write_partitioned",
]


def __dir__() -> list[str]:
    return __all__


def read_parquet(
    path: Path | str,
    *,
    observed_at: dt.datetime | None = None,
    accuracy_m: float | None = None,
) -> Positions:
    """Read one Parquet (or GeoParquet with ``lon``/``lat`` columns) file into Positions.

    .. versionadded:: 0.1.0

    Columns ``id``, ``lon``, ``lat`` (required), ``accuracy_m`` and ``observed_at`` (required
    unless given for every row) and ``tester``, matched case-insensitively; float64 columns
    without nulls are read without a conversion copy.

    Parameters
    ----------
    path : path-like
        The Parquet file.
    observed_at : datetime.datetime, optional
        Dates every row of a file without an ``observed_at`` column (refused for one with it).
    accuracy_m : float, optional
        The accuracy radius in metres (``>= 0``; ``0`` for exact fixes) of every fix of a file
        without an ``accuracy_m`` column (refused for one with it). A file without the column
        is refused without it: a fix is never taken as exact unless told, as in the command.

    Raises
    ------
    InvalidInput
        For a directory (a dataset: open it with :class:`PartitionedPositions`), an
        unreadable file or a missing column, naming the file; for a file under a
        Hive-style directory naming a known column it lacks (``tester=true/``: a writer given
        the column as a partition column moved it out of the file), naming the key.
    InvalidPositions
        For a bad value, naming the file, the row (from 1) and the column.

    Examples
    --------
    >>> import datetime as dt, tempfile, pathlib
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from geotarget.dask import read_parquet
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.parquet"
    >>> pq.write_table(pa.table({"id": [1, 2], "lon": [18.0, 18.1], "lat": [59.3, 999.0]}), path)
    >>> at = dt.datetime(2025, 5, 1, tzinfo=dt.timezone.utc)
    >>> read_parquet(path, observed_at=at, accuracy_m=10.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geotarget.errors.InvalidPositions: p.parquet: row 2, column lat: ...
    """
    p = file_path("path", path)
    if p.is_dir():  # pyarrow says "No such file or directory" of a directory that exists
        raise InvalidInput(
            f"path must be one Parquet file (got the directory {p.name}): a dataset's "
            "directory (pandas, dask or Spark output, Hive partitions) is opened with "
            "PartitionedPositions(path), and targeted with a DaskTargeter"
        )
    if p.is_file():  # (anything else is refused naming the file when it is read)
        _no_hidden_column(p)
    return _read_parquet(p, observed_at=observed_at, accuracy_m=accuracy_m)


def write_partitioned(
    positions: Positions, root: Path | str, *, cell_deg: float = 0.1
) -> PartitionedPositions:
    """Write a snapshot as a Parquet dataset partitioned by grid cell, and open it.

    .. versionadded:: 0.1.0

    A device with a fix goes to ``root/cell=<code>/part-0.parquet``, ``<code>`` being the
    Morton code of its cell ``(floor((lon + 180) / cell_deg), floor((lat + 90) / cell_deg))``;
    devices without a fix go to ``root/cell=nofix``. Each file's ``geotarget`` metadata holds
    its rows, the bounds of its fixes, its largest ``accuracy_m`` and its no-fix count.

    The files are written to a hidden directory beside ``root`` and renamed onto it at the
    end: a failed write leaves nothing, and a reader never lists half a dataset.

    Parameters
    ----------
    positions : Positions
        The snapshot to write.
    root : path-like
        A new or empty directory, or a symbolic link to one (the dataset is written into the
        directory it names); not a mount point (the rename onto it is refused: give a
        directory under it).
    cell_deg : float, default 0.1
        The cell size in degrees (``1e-7 <= cell_deg <= 90``: a cell's column and row each
        fit 32 bits of its key): 0.1° is about 11 km × 5.5 km in Stockholm.

    Returns
    -------
    PartitionedPositions
        The dataset just written, listed.

    Raises
    ------
    InvalidType
        If ``positions`` is not a :class:`~geotarget.Positions` (a pandas or dask DataFrame:
        the message says how to turn it into one).
    InvalidInput
        If ``root`` holds files, is a file or a mount point or cannot be created, or
        ``cell_deg`` is out of range or so small that more than 100,000 cells hold devices (a
        file per cell).
    InvalidPositions
        If a fix was observed outside the years 1970 to 9998 (a phone whose clock was reset),
        which the Parquet readers refuse; nothing is written.
    StoreError
        If writing fails (:class:`~geotarget.errors.StoreFull` for a full disk); nothing is
        left behind.
    """
    if not isinstance(positions, Positions):
        raise InvalidType(
            f"positions must be Positions (got {type(positions).__name__}): a DataFrame's "
            "columns make one (Positions(df['id'], df['lon'], df['lat'], accuracy_m=..., "
            "observed_at=...)); a dask DataFrame too large for that is written with its "
            "to_parquet(path) and opened with PartitionedPositions(path)"
        )
    root = file_path("root", root)
    _write_partitioned(positions, root, cell_deg=cell_deg)  # (numpy's numbers too)
    return PartitionedPositions(root)


def _window_list(windows: object) -> list[Any]:
    """The boxes, from a list or tuple of them or a numpy array of shape (n, 4).

    (``shapely.bounds`` gives arrays: of one geometry a row, of an array of them a table.)
    """
    if isinstance(windows, np.ndarray) and windows.ndim == 2:
        return list(windows)
    if isinstance(windows, (str, bytes)) or not isinstance(windows, (list, tuple)):
        shape = f" of shape {windows.shape}" if isinstance(windows, np.ndarray) else ""
        raise InvalidType(
            "windows must be a list of (west, south, east, north) boxes, or an array of "
            f"shape (n, 4) (got {type(windows).__name__}{shape})"
        )
    return list(windows)


def _window(i: int, box: object) -> tuple[float, float, float, float]:
    """One window as four finite degrees, west <= east and south <= north."""
    if isinstance(box, np.ndarray) and box.ndim == 1:
        box = box.tolist()
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise InvalidInput(
            f"windows[{i}] must be (west, south, east, north) (got {shown(box, 60)})"
        )
    w, s, e, n = (number(f"windows[{i}][{j}]", v) for j, v in enumerate(box))
    if not (w <= e and s <= n):
        raise InvalidInput(
            f"windows[{i}] must have west <= east and south <= north (got {shown(box)})"
        )
    return w, s, e, n


def _partition_field(name: str, value: object) -> None:
    """Refuse a value that a :class:`Partition` field cannot hold (InvalidType naming it)."""
    if name == "path":
        ok = isinstance(value, Path)
        want = "a pathlib.Path"
    elif name == "stamp":
        ok = (
            isinstance(value, tuple)
            and len(value) == 4
            and all(isinstance(x, int) and not isinstance(x, bool) for x in value)
        )
        want = "a tuple of four ints (size, mtime_ns, inode, ctime_ns)"
    else:
        ok = value is None or isinstance(value, PartitionMeta)
        want = "a PartitionMeta or None"
    if not ok:
        raise InvalidType(f"{name} must be {want} (got {type(value).__name__} {shown(value, 40)})")


@attrs.frozen(kw_only=True, repr=False)
class Partition:
    """One file of a dataset, as its footer describes it.

    The repr shows the file and its counts, never the bounds of its fixes (for a file holding
    one device they are its position).

    .. versionadded:: 0.1.0

    Attributes
    ----------
    path : pathlib.Path
    stamp : tuple of int
        ``(size, mtime_ns, inode, ctime_ns)`` of the file when listed: the resident index is
        rebuilt when it changes. The inode and change time see a file replaced by one of the
        same size whose modification time was kept (``rsync -a``, ``cp -p``, ``tar x``, an
        object-store sync): a writer can set a file's ``mtime``, not its ``ctime``.
    meta : PartitionMeta or None
        The ``geotarget`` metadata (rows, bounds of the fixes, largest accuracy, no-fix count);
        None for a file written by another tool, which is then never pruned.
    """

    path: Path = attrs.field(validator=lambda _, a, v: _partition_field(a.name, v))
    stamp: tuple[int, int, int, int] = attrs.field(
        validator=lambda _, a, v: _partition_field(a.name, v)
    )
    meta: PartitionMeta | None = attrs.field(validator=lambda _, a, v: _partition_field(a.name, v))

    @property
    def rows(self) -> int | None:
        """Rows in the partition, if its metadata says."""
        return None if self.meta is None else self.meta.rows

    def __repr__(self) -> str:
        m = self.meta
        counts = (
            "no geotarget metadata"
            if m is None
            else f"{m.rows:,} devices, {m.no_fix:,} without a fix"
        )
        return f"<Partition {self.path}: {counts}>"


def _file_name(path: Path, root: Path | None = None) -> str:
    """A partition file as errors name it: its directory and name (``cell=…/part-0.parquet``).

    Given the dataset's ``root``, its path from there when that is longer: in a nested layout
    (``day=1/cell=…``, ``day=2/cell=…``) two files of one cell are then told apart.
    """
    if root is not None and path.is_relative_to(root):
        rel = path.relative_to(root)
        if len(rel.parts) > 2:
            return rel.as_posix()
    return f"{path.parent.name}/{path.name}"


_Stamp = tuple[int, int, int, int]


def _of(st: os.stat_result) -> _Stamp:
    """A file's stamp: size, modification time, inode and change time (ns).

    Size and ``mtime`` alone miss a file replaced by one of the same size whose ``mtime`` was
    kept (``rsync -a``, ``cp -p``): the inode (a new file renamed onto it) and ``ctime`` (a
    rewrite in place; no writer can set it) do not.
    """
    return int(st.st_size), int(st.st_mtime_ns), int(st.st_ino), int(st.st_ctime_ns)


def _stat(path: Path) -> os.stat_result:
    """``os.stat``, an error other than FileNotFoundError an InvalidInput naming the path.

    FileNotFoundError (a file or directory gone) the callers handle: the dataset is listed
    again. A permission refused (a partition another service wrote with a restrictive umask, a
    worker running as another user), a loop of symbolic links or an I/O error of a network
    file system: its devices cannot be read, and the caller is told which file, not handed
    an OSError that reads like a lost worker.
    """
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise _cannot_stat(path, err) from None


def _cannot_stat(path: Path, err: OSError, root: Path | None = None) -> InvalidInput:
    why = err.strerror or type(err).__name__
    return InvalidInput(
        f"{_file_name(path, root)}: the file system refused it ({why}): its devices cannot be read"
    )


def _stamp(path: Path) -> _Stamp:
    return _of(_stat(path))


_Stamps = dict[Path, _Stamp]

#: The names of a dataset's Parquet files (dask's ``read_parquet`` default
#: ``parquet_file_extension``), in any case.
_SUFFIXES = (".parquet", ".parq", ".pq")


def _is_parquet(path: Path) -> bool:
    """Whether a file begins as Parquet does (``PAR1``), read from its first four bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except FileNotFoundError:
        raise
    except OSError as err:
        raise _cannot_stat(path, err) from None


def _misnamed(path: Path, root: Path) -> InvalidInput:
    return InvalidInput(
        f"{_file_name(path, root)}: a Parquet file whose name does not end in "
        f"{', '.join(_SUFFIXES)} (as Hive names its files, 000000_0): name it so, or move it out "
        "of the dataset; its devices are not left out silently"
    )


def _walk(root: Path) -> tuple[list[Path], _Stamps, _Stamps]:
    """The Parquet files under ``root`` (sorted), and the stamps of its directories.

    A file is one by its name (:data:`_SUFFIXES`, as dask lists a dataset); any other file
    beginning as Parquet does is InvalidInput naming it, never left out.

    Directories are split into those holding directories (``root`` always among them) and
    the others (the leaves, which hold only files). Each directory is stat-ed before it is
    listed, so a change made while it is listed shows in its stamp the next time. Names
    starting with ``.`` or ``_`` are left out, directories included. Symbolic links to
    directories are followed (``pyarrow.dataset`` follows them: a partition directory linked
    from another store is part of the dataset), each directory listed once however many links
    reach it (a link to an ancestor lists nothing twice). A symbolic link to nothing (its
    store unmounted or removed) is InvalidInput naming it: its devices are not left out as if
    it were not there.
    """
    files: list[Path] = []
    inner: _Stamps = {}
    leaves: _Stamps = {}
    listed: set[tuple[int, int]] = set()  # (device, inode) of the directories listed
    todo = [root]
    while todo:
        directory = todo.pop()
        st = _stat(directory)
        if (st.st_dev, st.st_ino) in listed:
            continue
        listed.add((st.st_dev, st.st_ino))
        stamp = _of(st)
        subdirs = []
        try:
            entries = os.scandir(directory)
        except OSError as err:  # FileNotFoundError: removed meanwhile, listed again
            if isinstance(err, FileNotFoundError):
                raise
            raise _cannot_stat(directory, err, root) from None
        with entries:
            for entry in entries:
                if entry.name.startswith((".", "_")):
                    continue
                try:
                    if entry.is_dir():
                        subdirs.append(Path(entry.path))
                    elif entry.is_file():
                        if entry.name.lower().endswith(_SUFFIXES):
                            files.append(Path(entry.path))
                        elif _is_parquet(Path(entry.path)):
                            raise _misnamed(Path(entry.path), root)
                    elif entry.is_symlink() and not os.path.exists(entry.path):
                        # A partition whose store is gone: never skipped.
                        path = Path(entry.path)
                        raise InvalidInput(
                            f"{_file_name(path, root)}: a symbolic link to a missing file or "
                            f"directory ({os.readlink(path)}): its devices cannot be read"
                        )
                except OSError as err:  # a loop of links, a permission refused
                    if isinstance(err, FileNotFoundError):
                        raise
                    raise _cannot_stat(Path(entry.path), err, root) from None
        (inner if subdirs or directory == root else leaves)[directory] = stamp
        todo.extend(subdirs)
    files.sort()
    return files, inner, leaves


#: Table formats whose directory keeps the files of earlier versions beside the current
#: ones: (what marks the table's directory, its name, how it is exported).
_TABLES = (
    ("_delta_log", "a Delta Lake table", "spark.read.format('delta').load(path)"),
    (".hoodie", "an Apache Hudi table", "spark.read.format('hudi').load(path)"),
    ("metadata/version-hint.text", "an Apache Iceberg table", "spark.table(name)"),
)


def _no_table(root: Path) -> None:
    """Refuse a dataset inside a Delta Lake, Hudi or Iceberg table's directory.

    Such a directory holds the Parquet files of every version not yet vacuumed: an Update
    rewrites a file and leaves the old one, and only the table's log says which are current.
    Read as a dataset, a device moved since would be told where it was (or refused as in two
    partitions), and one deleted told still. Its directory and those above it are looked at
    (a branch of a partitioned table opened alone is one too).
    """
    for d in (root, *root.parents):
        for marker, what, export in _TABLES:
            if os.path.exists(d / marker):
                raise InvalidInput(
                    f"{d}: {what} (it holds {marker}): its directory keeps the Parquet files of "
                    "earlier versions beside the current ones, and only its log says which are "
                    f"current; write the current version out ({export}.write.parquet(...)) and "
                    "open that"
                )


def _no_hidden_column(path: Path, root: Path | None = None) -> None:
    """Refuse a file whose Hive-style directory names a known column the file lacks.

    ``pandas.to_parquet(partition_cols=["tester"])``, ``pyarrow.dataset.write_dataset`` and
    ``dask.dataframe.to_parquet(partition_on=...)`` move a partition column out of the files
    into directory names (``tester=true/``). This library reads a file's own columns only, so
    such a file would be read without the column: every device a non-tester (a TEST alert
    silently reaching nobody), or a required column reported missing without the reason.
    Every directory above the file is checked, those above ``root`` too: a branch of such a
    dataset opened alone (``tester=true/region=01``, or one file in it) lost the column as
    well. ``root``: the dataset's, to name the file from there (:func:`_file_name`).
    """
    names = path.absolute().parent.parts[1:]  # (root is absolute, and so are its files)
    keys: dict[str, str] = {}
    for part in names:
        if "=" in part:
            key = column_key(part.split("=", 1)[0])
            if key is not None:
                keys.setdefault(key, part.split("=", 1)[0])
    if not keys:
        return
    try:
        import pyarrow.parquet as pq

        held = {column_key(n) for n in pq.read_schema(path).names}
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        name = _file_name(path, root)
        raise InvalidInput(f"{name}: not a readable Parquet file: {first}") from None
    lost = sorted(k for k in keys if k not in held)
    if lost:
        named = ", ".join(keys[k] + "=" for k in lost)
        raise InvalidInput(
            f"{_file_name(path, root)}: lacks column(s) {', '.join(lost)}, which its "
            f"directories name as Hive partition key(s) ({named}): a writer given them as "
            "partition columns (pandas partition_cols, pyarrow partitioning, dask partition_on) "
            "moved them out of the files, and directory names are not read; write these "
            "columns into the files"
        )


def _changed(stamps: _Stamps) -> bool:
    """Whether any of these directories changed or vanished."""
    try:
        return any(_stamp(d) != stamp for d, stamp in stamps.items())
    except FileNotFoundError:
        return True


class PartitionedPositions:
    """A Parquet dataset of positions: every Parquet file under a directory.

    Parquet files are named ``*.parquet``, ``*.parq`` or ``*.pq`` (in any case), as dask
    lists a dataset; another file that begins as Parquet does (Hive's ``000000_0``) is
    refused, naming it, as its devices would otherwise be left out.

    Files and directories whose names start with ``.`` or ``_`` are left out, as
    ``pyarrow.dataset`` leaves them out: hidden files, and files still being written (Spark's
    and Hadoop's ``_temporary``, a writer's ``.part-0.parquet`` before its rename).
    Symbolic links to directories are followed (each directory listed once), and a symbolic
    link to nothing is refused, naming it: a partition whose store is unmounted is never
    silently left out.
    Directory names are not read: a file under a Hive-style directory naming a known column
    that the file lacks (``tester=true/``, as ``partition_cols=["tester"]`` writes it) is
    refused, naming the file and the key. A Delta Lake, Hudi or Iceberg table's directory is
    refused too: it keeps the files of the table's earlier versions beside the current ones.

    .. versionadded:: 0.1.0

    Files written by :func:`write_partitioned` carry the bounds that let an alert skip them;
    other files are always read. What is checked when:

    * before every alert (:class:`DaskTargeter`), the directories that hold directories (the
      root and, in a nested layout such as ``country=se/cell=…``, every level above the
      partition directories), **the files the alert reads** and the directories holding them
      are stat-ed (a file added beside one of them is read by that alert): a changed file has
      its footer read again (and its index rebuilt); a vanished file or a changed directory (a
      partition directory added or removed, at any depth) makes the dataset be listed again.
      For :func:`write_partitioned`'s layout that is the root, and each file read and its
      directory;
    * every other file, and every other partition directory (one holding only files), is
      stat-ed at most once per ``recheck_s`` seconds (then overlapped with the workers'
      evaluation of the alert), by :meth:`current`, and on :meth:`refresh`: a change to a file
      an alert skipped, such as a device with a far larger accuracy radius in a distant cell,
      is seen within ``recheck_s``, and so is a file added to (or renamed onto a file of) a
      partition directory holding no file the alert reads, which makes the dataset be listed
      again. Listing costs a directory read per directory and a stat per file, and a footer
      read per new or changed file only.

    Parameters
    ----------
    root : path-like
        A directory (searched recursively) or one Parquet file; a relative path is made
        absolute (the workers read the files by their paths, from their own directories).
    recheck_s : float or None, default 1.0
        The longest time between two stats of the files an alert does not read (``0``: before
        every alert; None: only on :meth:`refresh` and when the root directory changes).
        A writer may call :meth:`refresh` from its own thread while alerts are targeted.

    Raises
    ------
    InvalidInput
        If ``root`` does not exist or holds no Parquet file, holds one not named as one, a
        footer is unreadable (a symbolic link to a missing file or directory too), a file
        lacks a known column its Hive-style directory names, ``root`` lies in a Delta Lake,
        Hudi or Iceberg table's directory (which keeps earlier versions' files), or
        ``recheck_s`` is negative or not a number.
    """

    def __init__(self, root: Path | str, *, recheck_s: float | None = 1.0) -> None:
        # numpy's numbers too (a value read from a config array): not a bool, not NaN.
        if recheck_s is not None and (not is_number(recheck_s) or not recheck_s >= 0):
            raise InvalidInput(
                f"recheck_s must be a number of seconds >= 0 or None (got {shown(recheck_s)})"
            )
        # Absolute: the workers read the files by these paths, from their own directories.
        self.root = file_path("root", root).absolute()
        #: The longest time, in seconds, between two stats of every file (None: never).
        self.recheck_s = None if recheck_s is None else as_float(recheck_s)
        self._parts: list[Partition] = []
        self._inner: _Stamps = {}  # directories holding directories: stat-ed before every alert
        self._leaves: _Stamps = {}  # the other directories: stat-ed with every file
        self._table: dict[str, npt.NDArray[Any]] | None = None
        self._checked_at = 0.0  # time.monotonic() of the last stat of every file
        #: Incremented whenever the listing or a file changes.
        self.version = 0
        # Held while the listing changes, and by a DaskTargeter while an alert picks its
        # partitions from it (its own lock is this one): a writer's refresh() in another
        # thread never shifts the listing under an alert between pruning and picking.
        self._lock = threading.RLock()
        self.refresh()

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            state = dict(self.__dict__)
        del state["_lock"]  # (a lock cannot be pickled: the copy gets its own)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def refresh(self) -> tuple[Partition, ...]:
        """List the files again (footers only of new or changed files).

        Safe to call from a writer's thread while alerts are targeted over the dataset: it
        waits for an alert picking its partitions, and the next alert sees the new listing.

        Returns
        -------
        tuple of Partition
            The files, in path order.
        """
        with self._lock:
            return self._refresh()

    def _refresh(self) -> tuple[Partition, ...]:
        """List the dataset; again while a file or directory vanishes as it is listed.

        ``_MAX_RECHECKS`` times at most: a writer that keeps removing files (a compaction
        that deletes and rewrites them) fails the listing rather than holding it forever.
        """
        for _ in range(_MAX_RECHECKS):
            listed = self._listed()
            if listed is not None:
                return listed
        raise InvalidInput(
            f"the dataset {self.root} changed {_MAX_RECHECKS} times while it was listed (a "
            "file or directory removed as it was read); try again"
        )

    def _listed(self) -> tuple[Partition, ...] | None:
        """One listing of the dataset; None if a file or directory vanished meanwhile."""
        if not self.root.exists():
            raise InvalidInput(f"root not found: {self.root}")
        inner: _Stamps
        leaves: _Stamps
        _no_table(self.root)
        if self.root.is_file():
            files, inner, leaves = [self.root], {}, {}
        else:
            try:
                files, inner, leaves = _walk(self.root)
            except FileNotFoundError:  # a directory removed while listed: list again
                return None
        if not files:
            raise InvalidInput(
                f"root holds no .parquet file (nor .parq or .pq; names starting with . or _ "
                f"left out): {self.root}"
            )
        known = {p.path: p for p in self._parts}
        parts = []
        try:
            for f in files:
                stamp = _stamp(f)
                old = known.get(f)
                parts.append(
                    old
                    if old is not None and old.stamp == stamp
                    else Partition(path=f, stamp=stamp, meta=self._described(f))
                )
        except FileNotFoundError:  # a file removed while listed: list again
            return None
        # Nothing is kept of a listing that failed (a footer that cannot be read): had the
        # directories' new stamps been kept, the next alert would take the old listing for
        # current and miss every partition added with the bad one.
        if [(p.path, p.stamp) for p in parts] != [(p.path, p.stamp) for p in self._parts]:
            self.version += 1
        self._parts = parts
        self._inner, self._leaves = inner, leaves
        self._table = None
        self._checked_at = time.monotonic()
        return self.partitions

    def _described(self, path: Path) -> PartitionMeta | None:
        """A file's ``geotarget`` metadata, once its directories are known not to hide a column.

        A file removed since it was stat-ed (a compaction deleting it) raises FileNotFoundError,
        so the dataset is listed again, rather than an error calling it unreadable.
        """
        try:
            _no_hidden_column(path, self.root)
            return partition_meta(path, _file_name(path, self.root))
        except InvalidInput:
            if not os.path.lexists(path):
                raise FileNotFoundError(path) from None
            raise

    def current(self) -> tuple[Partition, ...]:
        """The files now: every file and directory stat-ed, changed files read again.

        The dataset is listed again if a directory changed (an entry added, removed or
        renamed onto) or a file vanished.

        Returns
        -------
        tuple of Partition
            The files, in path order.
        """
        with self._lock:
            if not self._check_root():
                if _changed(self._leaves):
                    self.refresh()
                    return self.partitions
                self._check(range(len(self._parts)))
                self._checked_at = time.monotonic()
            return self.partitions

    def _recheck_due(self) -> bool:
        """Whether the files an alert does not read are due for a stat."""
        return self.recheck_s is not None and (
            time.monotonic() - self._checked_at >= self.recheck_s
        )

    def _check_root(self) -> bool:
        """Stat the directories holding directories; list again if one changed (True then)."""
        if not _changed(self._inner):
            return False
        self.refresh()
        return True

    def _check_leaves(self, indices: Any) -> bool:
        """Stat the partition directories holding these files; list again if one changed.

        A file added beside a file an alert reads (a writer's next run into ``lan=01/``, or
        ``pyarrow.dataset.write_dataset(existing_data_behavior="overwrite_or_ignore")``) is
        then read by that alert, not ``recheck_s`` later. True if the dataset was listed again.
        """
        dirs = {self._parts[i].path.parent for i in indices}
        if not _changed({d: self._leaves[d] for d in dirs if d in self._leaves}):
            return False
        self.refresh()
        return True

    def _check(self, indices: Any) -> bool:
        """Stat these files (positions in :attr:`partitions`); True if any changed.

        A changed file has its footer read again; a vanished one lists the dataset again.
        """
        changed = False
        try:
            for i in indices:
                part = self._parts[i]
                stamp = _stamp(part.path)
                if stamp != part.stamp:
                    self._parts[i] = Partition(
                        path=part.path,
                        stamp=stamp,
                        meta=self._described(part.path),
                    )
                    self._table = None
                    self.version += 1
                    changed = True
        except FileNotFoundError:
            self.refresh()
            return True
        return changed

    @property
    def partitions(self) -> tuple[Partition, ...]:
        """The files as last listed, in path order."""
        return tuple(self._parts)

    @property
    def rows(self) -> int | None:
        """Devices in the dataset, if every file's metadata says (else None)."""
        if any(p.rows is None for p in self._parts):
            return None
        return sum(p.rows or 0 for p in self._parts)

    def _columns(self) -> dict[str, npt.NDArray[Any]]:
        """Per file: bounds (NaN: no fix), largest accuracy, no-fix count, no metadata."""
        if self._table is None:
            n = len(self._parts)
            bounds = np.full((n, 4), np.nan)
            acc = np.zeros(n)
            no_fix = np.zeros(n, dtype=np.int64)
            unknown = np.zeros(n, dtype=np.bool_)
            for i, p in enumerate(self._parts):
                m = p.meta
                if m is None:
                    unknown[i] = True  # unknown content: always read
                    continue
                no_fix[i] = m.no_fix
                if m.bounds is not None:
                    bounds[i] = m.bounds
                    acc[i] = m.max_accuracy_m
            self._table = {"bounds": bounds, "acc": acc, "no_fix": no_fix, "unknown": unknown}
        return self._table

    def near(
        self,
        windows: Sequence[tuple[float, float, float, float] | npt.NDArray[Any]] | npt.NDArray[Any],
        accuracy: float,
        stale_m: float,
        *,
        no_fix: bool = True,
    ) -> npt.NDArray[np.bool_]:
        """Which files may hold a device whose disk, or stale-grown point, meets a window.

        A file is skipped only if its fixes' bounds, grown by ``max(largest accuracy_m ×
        accuracy, stale_m)`` metres (converted to degrees at the bounds' farthest latitude),
        meet none of the windows, the bounds taken modulo 360° of longitude (a file beside
        the antimeridian is read for a window across it); files without metadata are always
        read.

        Parameters
        ----------
        windows : list of (west, south, east, north), or numpy.ndarray of shape (n, 4)
            Boxes around the area, in degrees (``shapely.bounds`` of an array of geometries
            is such an array).
        accuracy : float
            The kind's factor on ``accuracy_m`` (:class:`~geotarget.LocationRule`).
        stale_m : float
            The kind's stale margin in metres (0: none).
        no_fix : bool, default True
            Whether devices without a fix may be told (a kind with ``include_no_fix``): then
            every file holding such devices is read. When False they only count as NO_FIX
            (their number is in the files' metadata), and a file is read for its fixes only.

        Returns
        -------
        numpy.ndarray of bool
            Per file of :attr:`partitions`, whether to read it.
        """
        accuracy = number("accuracy", accuracy, ge=0.0)
        stale_m = number("stale_m", stale_m, ge=0.0)
        if not isinstance(no_fix, (bool, np.bool_)):  # "no" would read every no-fix file
            raise InvalidType(
                f"no_fix must be True or False (got {type(no_fix).__name__} {shown(no_fix, 40)})"
            )
        windows = [_window(i, w) for i, w in enumerate(_window_list(windows))]
        with self._lock:  # one listing's columns, whatever another thread refreshes
            t = self._columns()
        b = t["bounds"]
        always = t["unknown"] | ((t["no_fix"] > 0) & bool(no_fix))
        grow = np.maximum(t["acc"] * accuracy, stale_m) * (1.0 + 1e-6) + 1.0
        dlat = np.degrees(grow / _geodesy.R_MIN) + 1e-9
        far = np.maximum(np.abs(b[:, 1]), np.abs(b[:, 3])) + dlat
        polar = far >= 89.0
        dlon = np.degrees(grow / (_geodesy.A * np.cos(np.radians(np.minimum(far, 89.0))))) + 1e-9
        w, s, e, n = b[:, 0] - dlon, b[:, 1] - dlat, b[:, 2] + dlon, b[:, 3] + dlat
        # Grown past ±180°, the bounds wrap: compare them shifted by a turn either way too.
        hit = (polar | (e - w >= 360.0)) & ~np.isnan(b[:, 0])
        for bw, bs, be, bn in windows:
            lat_hit = (s <= bn) & (bs <= n)  # NaN bounds compare False
            for turn in (0.0, 360.0, -360.0):
                hit |= lat_hit & (w + turn <= be) & (bw <= e + turn)
        return np.asarray(hit | always, dtype=np.bool_)

    def __len__(self) -> int:
        return len(self._parts)

    def __repr__(self) -> str:
        return f"<PartitionedPositions {self.root}: {len(self)} files>"


# ---------------------------------------------------------------------------------------------
# Worker side: resident indexes and the devices near an area
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class _Resident:
    """A partition's index, kept on a worker by a held future."""

    index: PositionIndex
    nbytes: int
    build_s: float


@attrs.frozen
class _Refused:
    """A partition that could not be read: its error, *returned* by the worker's task.

    Not raised there: distributed logs every failed task's exception on the worker, and a
    bad row's message holds its values (a device's coordinates, its id). The client raises it.
    """

    name: str  # the file, as errors name it
    kind: type[GeotargetError]
    message: str

    def error(self) -> GeotargetError:
        """The error to raise on the client."""
        try:
            return self.kind(self.message)
        except Exception:  # pragma: no cover - an error class that takes other arguments
            return InvalidInput(self.message)


def _usable(resident: _Resident | _Refused) -> _Resident:
    """A resident index, or an error naming its file only (no value: it is logged there)."""
    if isinstance(resident, _Refused):  # pragma: no cover - the client asks only built ones
        raise InvalidInput(f"{resident.name}: could not be read ({resident.kind.__name__})")
    return resident


def _load(path: str, stamp: _Stamp, name: str | None = None) -> _Resident | _Refused:
    """Read one partition and index it (runs on a worker); a bad file is :class:`_Refused`.

    ``name``: the file as errors name it (its path from the dataset's root).
    """
    t0 = time.perf_counter()
    p = Path(path)
    name = _file_name(p) if name is None else name
    try:
        try:
            st = _stat(p)
        except FileNotFoundError:
            gone = (
                f"{name}: not found by the worker that reads it (removed before it was read, "
                "or not at this path on the worker's machine: the workers must read the "
                "dataset at the client's paths); list the dataset again"
            )
            raise InvalidInput(gone) from None
        # Against the listing: size and mtime only. A worker on another machine may read its
        # own copy of the dataset at the client's paths (another inode and change time).
        if _of(st)[:2] != tuple(stamp)[:2]:
            raise InvalidInput(
                f"{name}: changed since the dataset was listed; list the dataset again"
            )
        positions = positions_from_arrow(read_table(p, name), source=name)
        # pyarrow opens the file more than once: one replaced meanwhile may have been read
        # partly from each version. The same stamp after the read, every field of it (the
        # worker's own view of its file, inode and change time included), rules that out.
        try:
            after = _stat(p)
        except FileNotFoundError:
            after = None
        if after is None or _of(after) != _of(st):
            raise InvalidInput(f"{name}: changed while it was read; list the dataset again")
    except GeotargetError as err:
        return _Refused(name, type(err), str(err))
    index = PositionIndex(positions)
    cols = positions
    nbytes = index.nbytes + sum(
        int(a.nbytes)
        for a in (cols.ids, cols.lon, cols.lat, cols.accuracy_m, cols.observed_at, cols.tester)
    )
    return _Resident(index, nbytes, time.perf_counter() - t0)


def _take(positions: Positions, rows: npt.NDArray[Any]) -> Positions:
    return Positions(
        positions.ids[rows],
        positions.lon[rows],
        positions.lat[rows],
        accuracy_m=positions.accuracy_m[rows],
        observed_at=positions.observed_at[rows],
        tester=positions.tester[rows],
    )


def _near_rows(
    index: PositionIndex,
    areas: list[tuple[Area, LocationRule, Area | None]],
    at: dt.datetime,
) -> npt.NDArray[np.int32]:
    """Rows that a Targeter may give an outcome other than OUTSIDE_AREA for these areas."""
    positions = index.positions
    found = [np.asarray(positions.no_fix_rows, dtype=np.int32)]
    for area, rule, stale_area in areas:
        found.append(index.classify(area, rule, at)[0])
        if stale_area is not None and rule.max_age is not None:
            # Only stale fixes count in the grown area (a fresh fix there whose disk misses
            # the area is OUTSIDE_AREA); NaT is never fresh.
            found.append(index.query(stale_area, observed_before=before(at, rule.max_age)))
    return _sorted.unique(np.concatenate(found))


@attrs.frozen
class _PartEvaluation:
    """One partition's part of :func:`~geotarget._evaluation.evaluate`'s answer."""

    positions: Positions  # the devices sent back: outcome neither OUTSIDE_AREA nor NO_FIX
    outcomes: npt.NDArray[np.int8]  # theirs
    covered: npt.NDArray[np.int32]  # the covered ones, as rows of ``positions``
    covered_region: npt.NDArray[np.int32] | None
    timings: dict[str, float]
    no_fix: int  # devices with the outcome NO_FIX, counted and not sent back


def _evaluate_part(
    resident: _Resident,
    rules: KindRules,
    plan: Plan,
    status: Status,
    kind: str,
    decision: RolloutDecision,
    policy: RolloutPolicy,
    finest: RegionSet,
    snap_m: float,
    at: dt.datetime,
) -> _PartEvaluation:
    """The Targeter's evaluation of one resident partition (runs on a worker).

    The same function the in-memory Targeter calls; only the devices it does not find
    OUTSIDE_AREA are sent back, and of the devices it finds NO_FIX (without a fix, and a
    kind that does not tell them) only their number.
    """
    index = _usable(resident).index
    rows, outcomes, covered, covered_region, timings, _ = evaluate(
        rules, plan, status, kind, decision, policy, finest, snap_m, index, at
    )
    if covered_region is None and not (plan.nationwide and rules.beyond_border):
        # The devices near the area were decided together from their bounding box (one
        # region for all): the client counts per county from every partition's regions.
        covered_region = _regions_of(covered, index, finest, snap_m)
    keep = outcomes != np.int8(Outcome.OUTSIDE_AREA)
    no_fix = outcomes == np.int8(Outcome.NO_FIX)
    keep &= ~no_fix
    kept = rows[keep]
    local = np.searchsorted(kept, covered).astype(np.int32)
    if covered.size and (int(local.max()) >= kept.size or not np.array_equal(kept[local], covered)):
        raise AssertionError("a covered device has the outcome OUTSIDE_AREA")  # pragma: no cover
    return _PartEvaluation(
        _take(index.positions, kept),
        outcomes[keep],
        local,
        covered_region,
        timings,
        int(np.count_nonzero(no_fix)),
    )


def _regions_of(
    rows: npt.NDArray[np.int32], index: PositionIndex, finest: RegionSet, snap_m: float
) -> npt.NDArray[np.int32]:
    """The finest-region index of each row (-1: no fix, or beyond the border)."""
    lon, lat = index.positions.lon[rows], index.positions.lat[rows]
    if rows.size and not np.isnan(lon).any():
        where = finest.locate_box(
            float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())
        )
        if where is not None and where >= 0:  # every point of their box lies in this region
            return np.full(rows.size, where, dtype=np.int32)
    return new_regions(rows, None, index, finest, snap_m)


def _near_batch(
    batch: Positions,
    areas: list[tuple[Area, LocationRule, Area | None]],
    at: dt.datetime,
) -> npt.NDArray[np.int32]:
    """Rows of a streamed batch near any active area (runs on a worker)."""
    return _near_rows(PositionIndex(batch), areas, at)


def _stats(resident: _Resident | _Refused) -> tuple[int, int, float, str, int] | _Refused:
    """Devices, bytes, build seconds, the ids' dtype kind and the devices without a fix."""
    if isinstance(resident, _Refused):
        return resident
    positions = resident.index.positions
    return (
        len(resident.index),
        resident.nbytes,
        resident.build_s,
        positions.ids.dtype.kind,
        int(positions.no_fix_rows.size),
    )


def _sorted_ids(resident: _Resident | _Refused) -> npt.NDArray[Any]:
    """A partition's ids, sorted (runs on the worker that holds it)."""
    positions = _usable(resident).index.positions
    return positions.sorted_ids(np.arange(len(positions)))


#: Most ids one task merges to compare the partitions an alert reads: beyond it, the ids are
#: compared by ranges (each range merged by its own task), so that no worker receives every id
#: of a large alert's partitions (a county's, read on a cold cluster) at once.
_MERGE_IDS = 4_000_000
#: Sampled ids per range, for choosing the ranges' bounds (shared by the partitions as their
#: sizes: a large partition whose ids cluster is cut as finely as the others).
_SAMPLE = 64


def _id_sample(ids: npt.NDArray[Any], k: int) -> npt.NDArray[Any]:
    """``k`` evenly spaced ids of a partition's sorted ids (runs on the worker that sorted them)."""
    if ids.size <= k:
        return ids
    return ids[np.linspace(0, ids.size - 1, k).astype(np.intp)]


def _range_bounds(ranges: int, *samples: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``ranges - 1`` ids cutting the sampled ids into ranges of about as many ids each."""
    merged = np.sort(np.concatenate(samples))
    if not merged.size:  # pragma: no cover - only partitions holding devices are compared
        return merged
    return merged[np.linspace(0, merged.size, ranges + 1)[1:-1].astype(np.intp)]


def _cut(
    bounds: npt.NDArray[Any], ranges: int, *ids: npt.NDArray[Any]
) -> list[list[npt.NDArray[Any]]]:
    """Partitions' sorted ids cut at the bounds: per range, the pieces of every partition.

    Piece ``r`` of a partition holds its ids ``bounds[r-1] <= id < bounds[r]``; exactly
    ``ranges`` pieces each (some empty), so an id equal in two partitions falls in the same
    range of each. One task cuts every partition a worker holds (runs there: the pieces are
    views, nothing is copied or sent).
    """
    out: list[list[npt.NDArray[Any]]] = [[] for _ in range(ranges)]
    for a in ids:
        pieces = np.split(a, np.searchsorted(a, bounds, side="left"))
        for r, piece in enumerate(pieces + [a[:0]] * (ranges - len(pieces))):
            out[r].append(piece)
    return out


def _piece(cut: list[list[npt.NDArray[Any]]], r: int) -> npt.NDArray[Any]:
    """Range ``r`` of a :func:`_cut`, one array (a copy: only its ids travel to the merge)."""
    return np.concatenate(cut[r])


def _holds(resident: _Resident | _Refused, value: Any) -> bool:
    """Whether a partition holds the id ``value`` (runs on the worker that holds it)."""
    ids = _usable(resident).index.positions.ids
    return bool(ids.size) and bool((ids == value).any())


def _shared_ids(*ids: npt.NDArray[Any]) -> tuple[int, Any, int, int] | None:
    """Ids found twice among these arrays: None, or how many are and one.

    ``(count, the smallest such id, its first array, its second)``, the arrays as positions
    among the arguments (the same for an id twice in one array: the ranges of several
    partitions cut together). Runs on a worker; the answer is a value, never an error (an id
    in an exception would be logged there).
    """
    if sum(a.size for a in ids) < 2:
        return None
    where = np.concatenate([np.full(a.size, i, dtype=np.int32) for i, a in enumerate(ids)])
    merged = np.concatenate(ids)
    order = np.argsort(merged, kind="stable")
    merged, where = merged[order], where[order]
    same = np.flatnonzero(merged[1:] == merged[:-1])
    if not same.size:
        return None
    count = int(np.unique(merged[same]).size)
    first = int(same[0])
    return count, merged[first].item(), int(where[first]), int(where[first + 1])


def _empty_like(ids_kind: str) -> Positions:
    ids = np.empty(0, dtype=np.str_ if ids_kind == "U" else np.int64)
    return Positions(ids, np.empty(0), np.empty(0), observed_at=np.empty(0, dtype="datetime64[us]"))


def _concat(parts: list[Positions], names: list[str]) -> Positions:
    """The devices sent back by the partitions ``names``, as one snapshot.

    A device id sent back by two partitions (a device written to two cells, or moved by a
    writer that added it to its new cell before removing it from the old) is refused, naming
    the id and both files.
    """
    kinds = {p.ids.dtype.kind for p in parts if len(p)}
    if len(kinds) > 1:
        raise InvalidPositions(
            "ids must be all str or all int across the dataset's partitions (got both)"
        )
    if not kinds:
        return _empty_like("i")
    names = [n for n, p in zip(names, parts, strict=True) if len(p)]
    parts = [p for p in parts if len(p)]
    ids = np.concatenate([p.ids for p in parts])
    try:
        return Positions(
            ids,
            np.concatenate([p.lon for p in parts]),
            np.concatenate([p.lat for p in parts]),
            accuracy_m=np.concatenate([p.accuracy_m for p in parts]),
            observed_at=np.concatenate([p.observed_at for p in parts]),
            tester=np.concatenate([p.tester for p in parts]),
        )
    except InvalidPositions as err:  # each partition is valid: an id in two of them
        unique, counts = np.unique(ids, return_counts=True)
        twice = unique[counts > 1]
        if not twice.size:  # pragma: no cover - Positions refuses only duplicates here
            raise InvalidPositions(f"across the dataset's partitions: {err}") from None
        first = twice[0]
        files = [n for n, p in zip(names, parts, strict=True) if bool((p.ids == first).any())]
        raise InvalidPositions(
            f"ids must be unique across the dataset's partitions: {first.item()!r} is in "
            f"{' and '.join(files)} ({twice.size:,} id(s) in more than one partition among "
            "the devices near the area); the alert was admitted, nothing was claimed for it"
        ) from None


# ---------------------------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------------------------


#: Prunings in a row that may find a changed file before an alert gives up.
_MAX_RECHECKS = 20


def _after_admission(err: GeotargetError) -> GeotargetError:
    """``err``, raised once the Targeter admitted the alert, saying so."""
    text = f"{err}; the alert was admitted, nothing was claimed for it"
    try:
        return type(err)(text)
    except Exception:  # pragma: no cover - an error class that takes other arguments
        return InvalidInput(text)


def _alive(future: Any) -> bool:
    """Whether a held future still is (or will be) its value: not cancelled, lost or failed."""
    return future.status in ("pending", "finished")


def _cluster_failures() -> tuple[type[BaseException], ...]:
    """What the cluster raises when it loses work: a task cancelled or a worker gone."""
    from distributed.scheduler import KilledWorker

    return (concurrent.futures.CancelledError, KilledWorker, OSError, TimeoutError)


def _closed_client_errors() -> tuple[type[Exception], ...]:
    """What a call raises when its client closed meanwhile.

    A ``RuntimeError`` ("ConnectionPool is closed") or, sending a task, distributed's
    ``ClosedClientError`` (not a RuntimeError).
    """
    import distributed.client

    closed = getattr(distributed.client, "ClosedClientError", None)
    return (RuntimeError,) if closed is None else (RuntimeError, closed)


def _key(part: Partition) -> tuple[Path, _Stamp]:
    return part.path, part.stamp


@attrs.frozen
class _Asked:
    """The partitions an area needs, from one listing of the dataset."""

    area: Area
    version: int  # of the listing
    parts: list[Partition]
    futures: list[Any]  # their resident indexes
    total: int  # devices in the whole dataset
    no_fix_skipped: int  # devices without a fix in the partitions not asked (all NO_FIX)


class _Shipped(PositionIndex):
    """The Targeter's index argument: the devices the workers sent back, once evaluated.

    It has no spatial index of its own (the evaluation ran on the workers' indexes); the
    Targeter reads only its :attr:`positions`, after the evaluator filled them in.
    """

    __slots__ = ()

    def __init__(self) -> None:  # no index to build: nothing is queried on the client
        self._positions = _empty_like("i")
        self._no_fix = np.empty(0, dtype=np.int32)


class DaskTargeter:
    """Target alerts over a partitioned dataset on a Dask cluster, with a Targeter's answers.

    .. versionadded:: 0.1.0

    Parameters
    ----------
    targeter : Targeter
        Its rules, regions, policy, incident book and ledger decide everything; give it a
        :class:`~geotarget.ledger.PostgresLedger` when several machines deliver.
    dataset : PartitionedPositions
        The devices' positions, partitioned.
    client : distributed.Client
        A client of the cluster whose workers hold the indexes (they must be able to read the
        dataset's paths). Every call waits for the cluster: in an asyncio service, call them
        from another thread (``asyncio.to_thread``); an asynchronous client called from its
        own event loop is refused (:class:`~geotarget.errors.InvalidType`), since it would
        hand back coroutines and waiting would block the loop that serves them.
    timeout : float, default 60
        Seconds the workers' part of one step (building the indexes an alert reads,
        evaluating it, matching a batch of positions, sending the region set) may go without
        progress: when none of its tasks finishes within ``timeout`` seconds, the step raises
        :class:`~geotarget.errors.ClusterError`. A cluster without workers, or whose workers
        hang, fails instead of waiting forever; a long step that keeps finishing tasks (the
        first build of a large dataset's indexes) runs to its end.

    Notes
    -----
    Per partition, the index is built on first use and kept resident on a worker while this
    object lives (a held future); :meth:`resident` says how much. The Targeter's evaluation of
    an alert's devices runs on the workers, each on its partitions; the client receives only
    the devices not outside the area (and, for a kind that does not tell devices without a
    fix, not those either: their number), in one submit and one gather per alert. An id in
    two partitions that one alert reads fails that alert (compared on the workers once per set
    of files read together). A partition that cannot be read is reported by the worker as a
    value, and raised on the client: a task's exception is logged by the worker, and the
    message of a bad row holds its values. Before an alert,
    the files it reads are stat-ed: one whose size, modification time, inode or change time
    changed is rebuilt, a
    removed one dropped; the other files are stat-ed as the dataset's ``recheck_s`` says
    (:class:`PartitionedPositions`).
    Stream fresh positions through :meth:`on_positions` of this object: it matches them on
    the workers against the live incidents of the Targeter's ledger, wherever they were
    delivered.

    Examples
    --------
    See the documentation page "Beyond one machine: Dask".
    """

    def __init__(
        self,
        targeter: Targeter,
        dataset: PartitionedPositions,
        client: Any,
        *,
        timeout: float = 60.0,
    ) -> None:
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover
            raise MissingExtra("dask", "geotarget.dask") from err
        if not isinstance(targeter, Targeter):
            raise InvalidType(f"targeter must be a Targeter (got {type(targeter).__name__})")
        if not isinstance(dataset, PartitionedPositions):
            raise InvalidType(
                f"dataset must be PartitionedPositions (got {type(dataset).__name__}): the "
                "workers read a Parquet dataset by its files, so open its directory with "
                "PartitionedPositions(path) (a dask or pandas DataFrame: write it with its "
                "to_parquet(path) first; a Positions snapshot: write_partitioned(positions, path))"
            )
        if not isinstance(client, Client):
            raise InvalidType(f"client must be a distributed.Client (got {type(client).__name__})")
        self.timeout = number("timeout", timeout, gt=0.0)
        self.targeter = targeter
        self.dataset = dataset
        self.client = client
        # The dataset's own lock: an alert prunes and picks its partitions from one listing,
        # whatever a writer's refresh() or another DaskTargeter over the dataset does.
        self._lock = dataset._lock
        self._futures: dict[Path, tuple[_Stamp, Any]] = {}
        #: Per built partition (path, stamp): its devices and its ids' dtype kind.
        self._seen: dict[tuple[Path, _Stamp], tuple[int, str]] = {}
        #: Sets of built partitions (path, stamp) whose ids were compared: none in two.
        self._apart: list[frozenset[tuple[Path, _Stamp]]] = []
        self._finest: tuple[RegionSet, Any] | None = None
        self._synced = -1  # the dataset version the resident futures were last cleaned up for
        self._workers: tuple[int, float] | None = None  # (count, when asked)
        # Task keys: unique per object (uuid once) and per task (a counter), without a uuid4
        # per task (os.urandom) on the latency path.
        self._key_prefix = f"geotarget-evaluate-{uuid.uuid4().hex}"
        self._task_count = itertools.count()
        #: What the last :meth:`target` read: partitions in the dataset, partitions asked,
        #: devices shipped, seconds; empty after a call that evaluated no device (a Cancel, a
        #: gate, BLAST_RADIUS by area).
        self.last_stats: dict[str, float] = {}

    def _worker_count(self) -> int:
        """Workers to split a streamed batch among (asked of the scheduler every 30 s at most)."""
        now = time.monotonic()
        if self._workers is None or now - self._workers[1] >= 30.0:
            self._workers = (
                max(1, len(self.client.scheduler_info().get("workers", {}))),
                now,
            )
        return self._workers[0]

    def _open(self, then: str) -> None:
        """Refuse to start with a client that was closed (``then``: what that means).

        Or with an asynchronous client called from its own event loop: its methods then
        return coroutines (every call here waits for its answer), and waiting would block
        the loop that must deliver them.
        """
        status = getattr(self.client, "status", None)
        if status in ("closing", "closed"):
            raise ClusterError(
                f"the Dask client is {status}: give the DaskTargeter an open "
                f"distributed.Client ({then})"
            )
        if bool(getattr(self.client, "asynchronous", False)):
            raise InvalidType(
                "client must be usable synchronously in the calling thread (got a "
                "distributed.Client(asynchronous=True) called from its own event loop): "
                "DaskTargeter's calls wait for the cluster, so call them from another thread "
                f"(await asyncio.to_thread(dask_targeter.target, alert, at)) ({then})"
            )

    def _may_retry(self, err: ClusterError) -> bool:
        """Whether a step that failed with ``err`` is asked of the cluster once more.

        Work the cluster lost (a worker died while building an index) is; a closed client,
        or a step that made no progress for ``timeout`` seconds (bounded as documented), is
        not.
        """
        if getattr(self.client, "status", None) in ("closing", "closed"):
            return False
        return not isinstance(err.__cause__, (TimeoutError, asyncio.TimeoutError))

    @contextlib.contextmanager
    def _client_open(self, doing: str) -> Iterator[None]:
        """Calls on the client while ``doing``: its closing meanwhile raised as ClusterError.

        A client that loses its scheduler tries to reconnect for a while, then closes itself
        (or the application closes it); a call under way then fails with distributed's
        ``RuntimeError`` ("ConnectionPool is closed") or ``ClosedClientError`` rather than a
        comm error. Raised as they are while the client is still open.
        """
        try:
            yield
        except GeotargetError:
            raise
        except _closed_client_errors() as err:
            status = getattr(self.client, "status", None)
            if status not in ("closing", "closed"):
                raise
            raise ClusterError(
                f"the Dask client was {status} while {doing} (closed, or it lost its "
                f"scheduler): {type(err).__name__}: {err}"
            ) from err

    def _task_key(self) -> str:
        return f"{self._key_prefix}-{next(self._task_count)}"

    def _timed_out(self, doing: str) -> ClusterError:
        """The ClusterError for a step of the workers that made no progress within the timeout."""
        try:
            workers = len(self.client.scheduler_info().get("workers", {}))
        except Exception:  # the scheduler itself is gone: say what is known
            workers = -1
        have = "its workers could not be counted" if workers < 0 else f"it has {workers} workers"
        return ClusterError(
            f"the Dask cluster made no progress for timeout={self.timeout:g} s while {doing} "
            f"({have})"
        )

    def _gather(self, futures: list[Any], doing: str) -> list[Any]:
        """Gather while the step makes progress; the cluster's failures as ClusterError.

        A lost worker or its data, as the gather raises them; no task finishing for
        ``timeout`` seconds (no worker at all, or none that answers), as the timeout.
        """
        from distributed import wait

        pending = list(futures)
        while pending:
            try:
                with self.client.as_current():  # wait() asks for "the" client: this one
                    wait(pending, timeout=self.timeout)
                break
            except (TimeoutError, asyncio.TimeoutError) as err:
                still = [f for f in pending if f.status == "pending"]
                if len(still) == len(pending):  # not one finished in a whole timeout
                    raise self._timed_out(doing) from err
                pending = still
            except _cluster_failures():  # a lost task: the gather below raises it as before
                break
        try:
            return list(self.client.gather(futures))
        except GeotargetError:
            raise
        except _cluster_failures() as err:
            raise ClusterError(
                f"the Dask cluster failed while {doing}: {type(err).__name__}: {err}"
            ) from err

    # --- partitions ------------------------------------------------------------------------

    def _resident_future(self, part: Partition) -> Any:
        old = self._futures.get(part.path)
        if old is not None and old[0] == part.stamp and _alive(old[1]):
            return old[1]
        # Built again after a failure too: a cancelled future (client.restart()), a failed
        # read (perhaps transient) or an index lost with every worker that held it.
        fut = self.client.submit(
            _load,
            str(part.path),
            part.stamp,
            _file_name(part.path, self.dataset.root),
            # Not named by its path: the scheduler logs the keys of lost tasks, and a cell's
            # name on a fine grid is almost the position of the devices in it.
            key=f"geotarget-index-{self._key_prefix[len('geotarget-evaluate-') :]}-"
            f"{next(self._task_count)}",
            pure=False,
        )
        self._futures[part.path] = (part.stamp, fut)
        return fut

    def _sync(self) -> tuple[Partition, ...]:
        """Stat every file (:meth:`PartitionedPositions.current`) and release what went."""
        self.dataset.current()
        return self._release()

    def _release(self) -> tuple[Partition, ...]:
        """Drop the futures and descriptions of files no longer listed as they were."""
        parts = self.dataset.partitions
        if self._synced == self.dataset.version:
            return parts  # nothing changed since the last clean-up
        self._synced = self.dataset.version
        alive = {p.path for p in parts}
        for path in [p for p in self._futures if p not in alive]:
            del self._futures[path]  # releasing the future frees the worker's memory
        current = {_key(p) for p in parts}
        for key in [k for k in self._seen if k not in current]:
            del self._seen[key]
        # Files still listed as they were remain compared with each other.
        kept = {group & current for group in self._apart}
        self._apart = [g for g in kept if len(g) > 1 and not any(g < other for other in kept)]
        return parts

    def resident(self) -> dict[str, float]:
        """The resident indexes: partitions, devices, bytes and build seconds (summed).

        Gathers a few numbers per resident partition from the workers. An index still being
        built, or whose file could not be read, is not resident.

        Raises
        ------
        ClusterError
            If the client is closed, or the cluster fails or makes no progress.
        """
        self._open("nothing was described")
        with self._lock:
            futures = [f for _, f in self._futures.values() if f.status == "finished"]
        with self._client_open("describing the indexes"):
            got = self._gather(
                [self.client.submit(_stats, f, pure=False) for f in futures],
                "describing the indexes",
            )
        stats = [s for s in got if not isinstance(s, _Refused)]
        return {
            "partitions": float(len(stats)),
            "devices": float(sum(s[0] for s in stats)),
            "bytes": float(sum(s[1] for s in stats)),
            "build_s": float(sum(s[2] for s in stats)),
        }

    def warm(self) -> None:
        """Build every partition's index now (else each is built on its first alert).

        Raises
        ------
        InvalidPositions, InvalidInput
            For a partition that cannot be read, naming its file.
        ClusterError
            If the client is closed, or the cluster fails or makes no progress.
        """
        self._open("nothing was built")
        with self._client_open("building the indexes"):
            with self._lock:
                parts = self._sync()
                futures = [self._resident_future(p) for p in parts]
            got = self._gather(
                [self.client.submit(_stats, f, pure=False) for f in futures],
                "building the indexes",
            )
        self._refuse(list(zip(parts, futures, strict=True)), got)

    # --- alerts ----------------------------------------------------------------------------

    def _looking_for(self, kind: str, area: Area) -> tuple[Area, LocationRule, Area | None]:
        rules = self.targeter.rules[kind]
        stale = None if rules.stale is None else grown(area, rules.stale.margin_m)
        return area, rules.location, stale

    def _prepare(self, kind: str, area: Area) -> _Asked:
        """Prune; make sure the indexes of the partitions asked are built and described.

        A partition that cannot be read raises here (before the Targeter admits the alert),
        and so do partitions whose ids are of different types. A build refused because its
        file changed from the listing it was asked from is asked again from a new listing,
        ``_MAX_RECHECKS`` times at most: a writer that rewrites a file faster than a worker
        reads it fails the alert, naming the file, rather than holding it forever.
        """
        for _ in range(_MAX_RECHECKS):
            asked = self._prepare_once(kind, area)
            if isinstance(asked, _Asked):
                return asked
        raise InvalidInput(
            f"the dataset {self.dataset.root} changed {_MAX_RECHECKS} times while an alert's "
            f"indexes were built (the last time: {asked}); try again"
        )

    def _prepare_once(self, kind: str, area: Area) -> _Asked | GeotargetError:
        """One :meth:`_prepare` from one listing; the error if that listing went out of date."""
        rules = self.targeter.rules[kind]
        stale_m = 0.0 if rules.stale is None else rules.stale.margin_m
        no_fix = rules.include_no_fix
        windows = _windows(area)
        with self._lock:
            # Stat the root, the files this alert reads and their directories (not the
            # others: see PartitionedPositions); prune again while one of them changed.
            ds = self.dataset
            ds._check_root()
            for _ in range(_MAX_RECHECKS):
                near = ds.near(windows, rules.location.accuracy, stale_m, no_fix=no_fix)
                hit = np.flatnonzero(near).tolist()
                if not (ds._check_leaves(hit) or ds._check(hit)):
                    break
            else:
                raise InvalidInput(
                    f"the dataset {ds.root} changed {_MAX_RECHECKS} times while an alert "
                    "was pruned; try again"
                )
            self._release()
            version = ds.version
            parts = ds.partitions
            asked = [parts[i] for i in hit]
            futures = [self._resident_future(p) for p in asked]
            missing = [
                (p, f) for p, f in zip(asked, futures, strict=True) if _key(p) not in self._seen
            ]
        if missing:  # built now (or failed): one round trip, only for partitions not yet seen
            try:
                got = self._gather(
                    [self.client.submit(_stats, f, pure=False) for _, f in missing],
                    "building the indexes an alert reads",
                )
                self._refuse(missing, got)
            except GeotargetError as err:
                with self._lock:  # from a listing that is out of date? then list again
                    self._sync()
                    changed = self.dataset.version != version
                if changed:
                    return err
                raise
            with self._lock:
                for (p, _), st in zip(missing, got, strict=True):
                    self._seen[_key(p)] = (st[0], st[3])
        with self._lock:
            seen = {_key(p): self._seen[_key(p)] for p in asked if _key(p) in self._seen}
        if len(seen) < len({_key(p) for p in asked}):  # pragma: no cover - a concurrent _sync
            return InvalidInput(f"the dataset {self.dataset.root} was listed again meanwhile")
        first_of: dict[str, Path] = {}  # a file of each ids' dtype kind, in path order
        for (path, _), (rows, id_kind) in sorted(seen.items()):
            if rows:
                first_of.setdefault(id_kind, path)
        if len(first_of) > 1:
            root = self.dataset.root
            held = " and ".join(
                f"{_file_name(path, root)} holds {'text' if id_kind == 'U' else 'integers'}"
                for id_kind, path in sorted(first_of.items(), key=lambda kp: kp[1])
            )
            raise InvalidPositions(
                "ids must be all str or all int across the dataset's partitions an alert "
                f"reads: {held}"
            )
        # Files without metadata are always asked, so their row counts are in ``seen``.
        total = sum(p.rows if p.rows is not None else seen[_key(p)][0] for p in parts)
        # Partitions not asked have metadata (the others are always asked).
        skipped = sum(p.meta.no_fix for p in parts if p.meta is not None) - sum(
            p.meta.no_fix for p in asked if p.meta is not None
        )
        return _Asked(area, version, asked, futures, total, skipped)

    def _refuse(self, built: list[tuple[Partition, Any]], got: list[Any]) -> None:
        """Raise the error of the first partition the workers could not read.

        Its future is dropped, so the next alert that needs the file reads it again.
        """
        refused = [
            (p, f, st) for (p, f), st in zip(built, got, strict=True) if isinstance(st, _Refused)
        ]
        if not refused:
            return
        with self._lock:
            for p, f, _ in refused:
                held = self._futures.get(p.path)
                if held is not None and held[1] is f:
                    del self._futures[p.path]
        raise refused[0][2].error()

    def _finest_future(self, finest: RegionSet) -> Any:
        """The region set the rows are located in, sent once to a worker.

        The other workers fetch it from there as their tasks need it. Not sent to every
        worker (``broadcast=True``): distributed's scheduler then copies it from worker to
        worker, and a worker leaving during that copy failed the call with a bare
        ``Exception`` or made it retry the copy forever (a ``target()`` that never returned);
        its active memory manager drops the extra copies within seconds anyway.
        """
        with self._lock:
            if self._finest is None or self._finest[0] is not finest or not _alive(self._finest[1]):
                # Scattered data cannot be recomputed: lost with the workers, it is sent again.
                try:
                    sent = self.client.scatter(finest, hash=False, timeout=self.timeout)
                except (TimeoutError, asyncio.TimeoutError) as err:
                    raise self._timed_out("sending the region set") from err
                except KeyError as err:
                    # A worker that left once it was sent the set: the scheduler looks it up
                    # by address to record where the set is, and raises KeyError.
                    raise ClusterError(
                        "the Dask cluster failed while sending the region set: worker "
                        f"{err} left as it was sent the set"
                    ) from err
                except Exception as err:
                    # The scheduler gone (a CommClosedError), a worker closing as it is sent
                    # the set (a bare Exception("RuntimeError(...)")); not the client closed
                    # meanwhile (said so by _client_open).
                    closed = getattr(self.client, "status", None) in ("closing", "closed")
                    if closed and isinstance(err, _closed_client_errors()):
                        raise
                    raise ClusterError(
                        "the Dask cluster failed while sending the region set: "
                        f"{type(err).__name__}: {err}"
                    ) from err
                self._finest = (finest, sent)
            return self._finest[1]

    def _on_workers(
        self,
        prepared: _Asked | None,
        status: Status,
        kind: str,
        plan: Plan,
        decision: RolloutDecision,
        at: dt.datetime,
        retried: bool,
    ) -> tuple[_Asked, list[_PartEvaluation]]:
        """Every asked partition's evaluation, from the workers that hold their indexes.

        In the same gather, the ids of the asked partitions not yet compared with each other
        are compared (:meth:`_compare_ids`). When the cluster loses work (a worker dies with
        indexes or the region set, or while building one), asked once more: lost indexes are
        rebuilt and the region set is sent again. ``retried``: the call already lost work
        once (building the indexes before the admission), so a loss now is the second.
        """

        def prepare() -> _Asked:
            try:
                return self._prepare(kind, plan.area)
            except ClusterError:
                raise  # said admitted by the caller
            except GeotargetError as err:  # a file that cannot be read, listed anew
                raise _after_admission(err) from None

        asked = prepared
        if asked is None or asked.area != plan.area:
            try:
                asked = prepare()
            except ClusterError as err:
                if retried or not self._may_retry(err):
                    raise
                retried = True
                asked = prepare()
        rules = self.targeter.rules[kind]
        with self._lock:
            recheck = self.dataset._recheck_due()
        while True:
            try:
                finest = self._finest_future(self.targeter._finest_set)
            except ClusterError as err:  # lost as the evaluation would be: asked once more
                if retried or not self._may_retry(err):
                    raise
                retried = True
                asked = prepare()
                continue
            args = (rules, plan, status, kind, decision, self.targeter.policy, finest)
            pending = [
                self.client.submit(
                    _evaluate_part, f, *args, self.targeter.snap_m, at, key=self._task_key()
                )
                for f in asked.futures
            ]
            compared, comparing = self._compare_ids(asked)
            pending.extend(comparing)
            if recheck:
                # Due: stat the files the alert does not read while the workers evaluate;
                # if a file changed, the answer is dropped and asked again (the files it
                # reads were stat-ed by _prepare, just before).
                # A file found unreadable then fails the alert, which was admitted.
                recheck = False
                try:
                    with self._lock:
                        self._sync()
                        same = self.dataset.version == asked.version
                except GeotargetError as err:
                    self.client.cancel(pending)
                    raise _after_admission(err) from None
                if not same:
                    self.client.cancel(pending)
                    asked = prepare()
                    continue
            try:
                got = self._gather(pending, "evaluating the alert")
            except ClusterError:
                if retried:
                    raise
                retried = True
                with self._lock:
                    # The region set is sent again too: it may have gone with a worker that
                    # died, and its future says so only once the scheduler's word arrives.
                    self._finest = None
                asked = prepare()
                continue
            n = len(asked.futures)
            self._check_ids(compared, got[n:], asked)
            return asked, got[:n]

    def _compare_ids(self, asked: _Asked) -> tuple[list[Partition], list[Any]]:
        """Tasks comparing the ids of the asked partitions not yet compared with each other.

        An id in two partitions that one alert reads makes that alert fail, even when neither
        copy is near the area. Each such partition's ids are sorted on the worker holding it
        and merged on one worker, which answers with the number of shared ids and the
        smallest of them only. Partitions holding more than ``_MERGE_IDS`` ids together are
        compared by ranges of ids instead: bounds chosen from a sample of each partition's
        ids, the sorted ids of every partition a worker holds cut at them by one task on that
        worker, and each range's pieces (one per worker) merged by a task of its own (about
        ``_MERGE_IDS`` ids each), so no worker receives every id, and the tasks grow with the
        partitions plus the workers times the ranges, not with the partitions times the
        ranges. A set of files compared without a shared id is remembered (its files still
        listed as they were stay compared), so the cost, a transfer and a sort of the ids of
        the partitions asked together, is paid once per set of files an alert reads, not per
        alert.

        Returns the partitions compared and the merges' futures, one per range in the ids'
        order.
        """
        with self._lock:
            keys = frozenset(
                _key(p)
                for p in asked.parts
                if (p.rows if p.rows is not None else self._seen.get(_key(p), (1, ""))[0])
            )
            if len(keys) < 2 or any(keys <= group for group in self._apart):
                return [], []
        parts = [p for p in asked.parts if _key(p) in keys]
        futures = dict(zip((_key(p) for p in asked.parts), asked.futures, strict=True))
        residents = [futures[_key(p)] for p in parts]
        submit, key = self.client.submit, self._task_key
        with self._lock:
            sizes = [
                p.rows if p.rows is not None else self._seen.get(_key(p), (0, ""))[0] for p in parts
            ]
        rows = sum(sizes)
        ranges = max(1, -(-rows // _MERGE_IDS))
        if ranges == 1:
            ids = [submit(_sorted_ids, f, key=key()) for f in residents]
            return parts, [submit(_shared_ids, *ids, key=key())]
        # By ranges of ids: bounds from a sample of every partition (as many ids from each as
        # its share of the ids), the partitions of each worker cut at them there, and one
        # merge per range, of that range's pieces.
        groups = self._groups(residents, sizes)
        ids = list(residents)
        for where, members in groups:
            for i in members:
                ids[i] = submit(_sorted_ids, residents[i], key=key(), **where)
        samples = [
            submit(_id_sample, i, max(2, -(-_SAMPLE * ranges * n // rows)), key=key())
            for i, n in zip(ids, sizes, strict=True)
        ]
        bounds = submit(_range_bounds, ranges, *samples, key=key())
        cuts = [
            submit(_cut, bounds, ranges, *(ids[i] for i in members), key=key(), **where)
            for where, members in groups
        ]
        return parts, [
            submit(_shared_ids, *(submit(_piece, c, r, key=key()) for c in cuts), key=key())
            for r in range(ranges)
        ]

    def _groups(
        self, residents: list[Any], sizes: list[int]
    ) -> list[tuple[dict[str, Any], list[int]]]:
        """The partitions cut together: those of one worker; placement hints for their tasks.

        Grouped by the worker holding each resident index (asked of the scheduler once, for
        ``timeout`` seconds at most), so cutting them sends nothing. A partition whose index
        no worker holds (lost meanwhile, or the scheduler did not say) is grouped with others
        holding at most ``_MERGE_IDS`` ids together: no task receives more.
        """
        try:
            with self._client_open("comparing the ids of the partitions an alert reads"):
                scheduler: Any = self.client.scheduler  # (None once the client closed)
                who = dict(
                    self.client.sync(
                        scheduler.who_has,
                        keys=[f.key for f in residents],
                        callback_timeout=self.timeout,
                    )
                )
        except GeotargetError:
            raise
        except Exception:  # the scheduler did not say: the gather reports a failing cluster
            who = {}
        held: dict[str, list[int]] = {}
        loose: list[list[int]] = []
        loose_ids = 0
        for i, f in enumerate(residents):
            workers = sorted(who.get(f.key) or ())
            if workers:
                held.setdefault(workers[0], []).append(i)
                continue
            if not loose or loose_ids + sizes[i] > _MERGE_IDS:
                loose.append([])
                loose_ids = 0
            loose[-1].append(i)
            loose_ids += sizes[i]
        return [
            ({"workers": [w], "allow_other_workers": True}, members)
            for w, members in sorted(held.items())
        ] + [({}, members) for members in loose]

    def _check_ids(self, compared: list[Partition], got: list[Any], asked: _Asked) -> None:
        """Refuse an id found in two partitions; remember the pairs found apart.

        ``got``: the answer of each range of ids compared, in the ids' order (one range
        unless the partitions hold more than ``_MERGE_IDS`` ids). Compared by ranges, a
        range's pieces mix the partitions of a worker: the files holding the smallest shared
        id are then looked up in their resident indexes (``asked``'s).
        """
        if not compared:
            return
        found = [g for g in got if g is not None]
        shared = (sum(f[0] for f in found), *found[0][1:]) if found else None
        if shared is None:
            keys = frozenset(_key(p) for p in compared)
            with self._lock:
                self._apart = [g for g in self._apart if not g <= keys] + [keys]
            return
        count, first, a, b = shared
        if len(got) > 1:
            doing = "looking up the files of an id in two partitions"
            held = dict(zip((_key(p) for p in asked.parts), asked.futures, strict=True))
            residents = [held[_key(p)] for p in compared]
            with self._client_open(doing):
                holds = self._gather(
                    [self.client.submit(_holds, f, first, pure=False) for f in residents], doing
                )
            holders = np.flatnonzero(holds).tolist()
            if len(holders) < 2:  # pragma: no cover - a partition rewritten meanwhile
                raise InvalidPositions(
                    f"ids must be unique across the dataset's partitions: {shown(first)} is "
                    f"in two of them ({count:,} id(s) in more than one of the partitions the "
                    "alert reads); the alert was admitted, nothing was claimed for it"
                )
            a, b = holders[:2]
        root = self.dataset.root
        raise InvalidPositions(
            f"ids must be unique across the dataset's partitions: {shown(first)} is in "
            f"{_file_name(compared[a].path, root)} and {_file_name(compared[b].path, root)} "
            f"({count:,} "
            "id(s) in more than one of the partitions the alert reads); the alert was "
            "admitted, nothing was claimed for it"
        )

    def _evaluator(self, prepared: _Asked | None, done: dict[str, Any], retried: bool) -> Evaluator:
        """Evaluate on the workers; fill the stand-in index with the devices sent back."""

        def on_workers(
            status: Status,
            kind: str,
            plan: Plan,
            decision: RolloutDecision,
            index: PositionIndex,
            at: dt.datetime,
        ) -> Evaluated:
            if not isinstance(index, _Shipped):  # pragma: no cover - only target() calls this
                raise AssertionError("geotarget.dask evaluates into its own stand-in index")
            t0 = time.perf_counter()
            try:
                with self._client_open("evaluating the alert"):
                    asked, got = self._on_workers(
                        prepared, status, kind, plan, decision, at, retried
                    )
            except ClusterError as err:
                raise ClusterError(
                    f"{err}; the alert was admitted, nothing was claimed for it: target it again"
                ) from err.__cause__
            rules = self.targeter.rules[kind]
            positions = _concat(
                [g.positions for g in got],
                [_file_name(p.path, self.dataset.root) for p in asked.parts],
            )
            offsets = np.cumsum([0] + [len(g.positions) for g in got])
            located = not (plan.nationwide and rules.beyond_border)
            if any((g.covered_region is not None) != located for g in got):  # pragma: no cover
                raise AssertionError("the workers disagree on locating the covered devices")
            int32 = np.empty(0, dtype=np.int32)
            covered = np.concatenate(
                [int32]
                + [g.covered + np.int32(o) for g, o in zip(got, offsets[:-1].tolist(), strict=True)]
            ).astype(np.int32)
            regions = [g.covered_region for g in got if g.covered_region is not None]
            outcomes = np.concatenate([np.empty(0, dtype=np.int8)] + [g.outcomes for g in got])
            index._positions = positions
            done.update(
                partitions=float(len(self.dataset.partitions)),
                partitions_read=float(len(asked.futures)),
                devices_shipped=float(len(positions)),
                total=asked.total,
                no_fix=asked.no_fix_skipped + sum(g.no_fix for g in got),
                seconds=time.perf_counter() - t0,
            )
            return (
                np.arange(len(positions), dtype=np.int32),
                outcomes,
                covered,
                np.concatenate([int32, *regions]).astype(np.int32) if located else None,
                {
                    "match": sum(g.timings.get("match", 0.0) for g in got),
                    "rules": sum(g.timings.get("rules", 0.0) for g in got),
                },
                None,  # the devices' fixes stay on the workers; counts come from regions
            )

        return on_workers

    def _may_evaluate(
        self, alert: Alert, kind: str, area: Area, at: dt.datetime, confirm: bool
    ) -> bool:
        """Whether the Targeter's gates that need no ledger let ``alert`` reach its devices.

        An alert they stop (a Cancel, not public, refused by the intake — a sender of no
        issuer, an issuer not authorised for the kind or the area, info blocks of two kinds
        —, not yet active or expired, its kind not enabled, its area outside the rollout or
        over the kind's ``max_area_km2`` without ``confirm``, with its info blocks that begin
        later) reads no partition: it costs no index build, and a bad partition does not turn
        its verdict into an error. The intake is the Targeter's own (:meth:`Targeter.target`
        asks it the same, before the ledger); an alert whose axes look swapped raises its
        InvalidCAP here, as the Targeter would.
        """
        if alert.msg_type not in (MessageType.ALERT, MessageType.UPDATE):
            return False
        if _not_public(alert) is not None:
            return False
        gate = self.targeter._gate
        gate.check_axes(alert)
        refused, _ = gate.admit(alert, lambda: self.targeter._inherited_area(alert))
        if refused is not None or at < alert.onset:
            return False
        if alert.expires is not None and at >= alert.expires:
            return False
        decision = self.targeter.policy.decide(kind, at)
        if not decision.enabled:
            return False
        plan = self.targeter._plan(kind, area, decision, alert.sender)
        if not plan.reaches_enabled:
            return False
        limit = self.targeter.rules[kind].max_area_km2
        if confirm or limit is None:
            return True
        # As the Targeter's guard: the area of the blocks in effect and of those to begin.
        ahead = _ahead(alert, area, at)
        return (plan.area_km2 if ahead is None else ahead.area_m2 / 1e6) <= limit

    def target(self, alert: Alert, at: dt.datetime, *, confirm: bool = False) -> TargetingResult:
        """Decide who receives ``alert`` at ``at`` among the dataset's devices.

        As :meth:`Targeter.target` over the whole dataset: same verdict, recipients (as a
        set), counts, per-county counts, claims in the Targeter's ledger and incident book.
        The devices are evaluated on the workers, by the Targeter's own evaluation, each
        partition on the worker that holds its index; the client receives only the devices
        whose outcome is not OUTSIDE_AREA.

        Parameters
        ----------
        alert : Alert
            The alert, update or cancel.
        at : datetime.datetime
            Timezone-aware.
        confirm : bool, default False
            Send even if the blast-radius guard would block it (``True`` or ``False`` only).

        Returns
        -------
        TargetingResult
            ``timings["cluster"]`` is the time spent waiting for the workers' evaluation;
            ``timings["match"]`` and ``timings["rules"]`` are summed over the partitions.

        Raises
        ------
        InvalidInput
            For a naive ``at``, as :meth:`Targeter.target`.
        InvalidPositions, InvalidInput
            For a partition that cannot be read, naming its file (before anything is
            admitted or claimed), or that changed each time a worker read it (20 times in a
            row: a writer faster than the build); for an id in two partitions the alert
            reads, naming the id and both files (admitted, nothing claimed).
        ClusterError
            If the client is closed (nothing admitted), or the cluster lost the work twice (a
            worker died with it); the message says whether the alert was admitted. Nothing
            is claimed: target it again.
        """
        if not isinstance(alert, Alert):
            raise _alert_type_error(alert)
        at = _aware("at", at)  # as the Targeter checks it, before any worker sees it
        confirm = _confirm(confirm)
        self._open("nothing was admitted")
        self.last_stats = {}
        recognised = self.targeter.recognition.recognise(alert)
        kind = None if recognised is None else recognised.kind
        area = alert.area_at(at) if alert.area is not None else None  # its blocks in effect
        prepared = None
        retried = False  # work lost once already (asked once more; lost twice, it raises)
        if (
            kind is not None
            and area is not None
            and kind in self.targeter.rules
            and self._may_evaluate(alert, kind, area, at, confirm)
        ):
            while True:
                try:
                    prepared = self._prepare(kind, area)  # a bad partition fails before admission
                    break
                except ClusterError as err:
                    if retried or not self._may_retry(err):
                        raise ClusterError(f"{err}; nothing was admitted") from err.__cause__
                    retried = True  # a worker died building an index: asked once more
        done: dict[str, Any] = {}
        shipped = _Shipped()
        result = self.targeter._target(
            alert, shipped, at, confirm=confirm, evaluator=self._evaluator(prepared, done, retried)
        )
        if not result.counts:
            return result
        if not done:  # pragma: no cover - the Targeter counts only what it evaluated
            raise AssertionError(
                f"the Targeter counted devices for alert {shown(alert.identifier)} without "
                "evaluating them"
            )
        self.last_stats = {k: float(v) for k, v in done.items() if k not in ("total", "no_fix")}
        counts = dict(result.counts)
        no_fix = int(done["no_fix"])  # NO_FIX for every alert of the kind, never sent back
        counts[Outcome.NO_FIX] += no_fix
        counts[Outcome.OUTSIDE_AREA] += int(done["total"]) - len(shipped.positions) - no_fix
        return attrs.evolve(
            result, counts=counts, timings={**result.timings, "cluster": float(done["seconds"])}
        )

    def retarget(self, at: dt.datetime) -> list[TargetingResult]:
        """Target again each live incident whose current version has reached nobody yet.

        As :meth:`Targeter.retarget <geotarget.targeting.Targeter.retarget>` over the whole
        dataset: a version :meth:`target` admitted but could not deliver then (not yet
        active, its kind or the regions its area reaches enabled only by a later phase, or
        the cluster lost its evaluation) is targeted again at ``at`` by :meth:`target`, and
        so is a delivered one once a later phase or info block widens its reach (telling only
        devices never told). The
        incidents are those of the Targeter's ledger, delivered by any process over it. A
        version the blast-radius guard holds stays waiting, whatever the dataset holds now
        (fewer devices in its area): only ``target(alert, at, confirm=True)`` sends it. Call
        it every few seconds beside :meth:`Targeter.redeliver
        <geotarget.targeting.Targeter.redeliver>`.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        list of TargetingResult
            The results that delivered (``Verdict.DELIVER``), in incident order.

        Raises
        ------
        InvalidInput
            For a naive ``at``. As :meth:`target` for a partition that cannot be read (an id
            in two partitions is an :class:`~geotarget.errors.InvalidPositions`), once every
            other incident was targeted: a bad file near one incident does not hold back the
            others. The first such error is raised, naming its incident and how many others
            delivered meanwhile (their claims are made and pending: they come back through
            ``redeliver()``).
        ClusterError
            As :meth:`target`, at once: the incidents targeted before it keep their results
            (their claims are made); call it again.
        """
        at = _aware("at", at)
        self._open("nothing was targeted")
        out: list[TargetingResult] = []
        failed: list[tuple[str, InvalidInput]] = []
        # The incidents Targeter.retarget targets (marking expired those whose keep_expired is
        # over; passing over a version the guard holds): those that reached nobody yet, and
        # delivered ones whose reach a phase or an info block widened since.
        for inc, alert, delivered in self.targeter._retargetable(at):
            try:
                got = self.target(alert, at)
            except InvalidInput as err:  # a partition this incident reads: not the others'
                failed.append((inc.key, err))
                continue
            if got.verdict is Verdict.DELIVER:
                self.targeter._retargeted(inc, at)
                if not (delivered and got.recipients.size == 0):
                    out.append(got)
        if failed:
            key, first = failed[0]
            more = f" and {len(failed) - 1:,} other incident(s)" if len(failed) > 1 else ""
            said = (
                f"retargeting incident {shown(key)}{more}: {first}; {len(out):,} other "
                "incident(s) delivered meanwhile: their claims are made and pending, and come "
                "back through redeliver()"
            )
            try:
                raised = type(first)(said)
            except Exception:  # pragma: no cover - an error class that takes other arguments
                raised = InvalidInput(said)
            raise raised from first
        return out

    def _live_areas(
        self, live: list[Incident], at: dt.datetime
    ) -> list[tuple[Area, LocationRule, Area | None]]:
        """What the workers look for: the current area of each live incident evaluated at ``at``.

        Not those :meth:`Targeter.on_positions` skips whatever the batch holds: an alert not
        begun or expired (kept for ``keep_expired``), or whose kind is not enabled at ``at``.
        """
        looking = []
        for inc in live:
            alert, area = self.targeter._current(inc)
            if at < alert.onset or (alert.expires is not None and at >= alert.expires):
                continue
            area = _in_effect(alert, area, at)
            if area is None:
                continue  # between its info blocks' windows
            recognised = self.targeter.recognition.recognise(alert)
            kind = None if recognised is None else recognised.kind
            if kind is None or area is None or kind not in self.targeter.rules:
                continue  # pragma: no cover - a delivered version was recognised, with an area
            if not self.targeter.policy.decide(kind, at).enabled:
                continue
            looking.append(self._looking_for(kind, area))
        return looking

    def on_positions(self, positions: Positions, at: dt.datetime) -> list[Delivery]:
        """New deliveries for a batch of fresh positions, matched on the workers.

        The batch is split among the workers; each keeps the devices near the current area
        of a live incident of the Targeter's ledger (delivered by any process over the
        store, as :meth:`Targeter.on_positions` reads them: this works at once after a
        restart); the Targeter then evaluates those (as :meth:`Targeter.on_positions`) and
        claims in its ledger. The incidents matched are the ones the Targeter evaluates: when
        it evaluates the batch again for an Update applied meanwhile by another process (its
        first claim refused as superseded), the batch is matched again for the Update's area.

        Parameters
        ----------
        positions : Positions
            The batch of fresh fixes.
        at : datetime.datetime
            Timezone-aware.

        Returns
        -------
        list of Delivery
            The new pending deliveries, as :meth:`Targeter.on_positions` returns them.

        Raises
        ------
        InvalidInput
            For a naive ``at``, as :meth:`Targeter.on_positions`.
        ClusterError
            If the client is closed, or the cluster fails or makes no progress (nothing is
            claimed, unless the batch was being matched again for an Update applied
            meanwhile: the message then names the incidents and counts of the claims made
            before, which are pending and come back through ``redeliver()``).
        """
        if not isinstance(positions, Positions):
            raise InvalidType(f"positions must be Positions (got {type(positions).__name__})")
        at = _aware("at", at)
        self._open("nothing was claimed")
        asked = itertools.count()

        def near(live: list[Incident]) -> Positions:
            looking = self._live_areas(live, at)
            if not looking:  # no live incident: nothing to evaluate
                return _take(positions, np.empty(0, dtype=np.intp))
            doing = (
                "matching a batch of positions (nothing was claimed)"
                if next(asked) == 0
                else "matching a batch of positions again"  # the Targeter names the claims made
            )
            with self._client_open(doing):
                chunks = np.array_split(np.arange(len(positions)), self._worker_count())
                futures = [
                    self.client.submit(_near_batch, _take(positions, c), looking, at, pure=False)
                    for c in chunks
                    if c.size
                ]
                got = self._gather(futures, doing)
            used = [c for c in chunks if c.size]
            rows = [c[r] for c, r in zip(used, got, strict=True)]
            found = np.concatenate(rows) if rows else np.empty(0, dtype=np.intp)
            return _take(positions, np.sort(found))

        return self.targeter._on_positions(positions, at, near)


def _windows(area: Area) -> list[tuple[float, float, float, float]]:
    """Boxes around the area's parts, conservatively (a polygon's include its margin)."""
    return boxes(area)
