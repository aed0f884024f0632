"""Private: positions from Arrow tables and Parquet files, and writing them partitioned by cell.

Columns and their rules are those of the command's Parquet reader
(:mod:`geotarget._position_files`): ``id``, ``lon``, ``lat`` required, ``accuracy_m`` and
``observed_at`` too unless one value is given for every row, ``tester`` optional, matched
case-insensitively. Every problem is an
:class:`~geotarget.errors.InvalidPositions` (or :class:`~geotarget.errors.InvalidInput` for an
unreadable file or a missing column) naming the source, the row (counted from 1) and the column.

**Zero copy.** A ``float64`` column without nulls in one chunk is viewed, not converted
(``to_numpy(zero_copy_only=True)``); :class:`~geotarget.Positions` then takes its own frozen copy,
so the snapshot never aliases a buffer its writer could change.

**The partition key** (:func:`write_partitioned`). A device with a fix goes to the cell
``(ix, iy) = (floor((lon + 180) / cell_deg), floor((lat + 90) / cell_deg))`` of a fixed grid,
named by the Morton (Z-order) code of ``(ix, iy)``: the directory ``cell=<code>`` (Hive-style
partitioning), so neighbouring cells have nearby names. Devices without a fix go to
``cell=nofix``. Each file's Parquet key-value metadata ``geotarget`` holds its rows, the bounds
of its fixes, its largest ``accuracy_m`` and how many rows have no fix: a reader prunes with a
footer read, and an alert touches only the cells its area (grown by the largest accuracy radius
and the stale margin) meets.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget._index.leaves import spread_bits
from geotarget._position_files import (
    KNOWN,
    NAIVE_TIMESTAMPS,
    REQUIRED,
    ZONE_FLAG,
    Marks,
    Where,
    _dictionary_decoded,
    _float_ids,
    _parquet_column,
    accuracy_option,
    check_extensions,
    check_parquet_footer,
    check_parquet_sizes,
    column_key,
    dictionary_columns,
    file_state,
    geometry_columns,
    int96_columns,
    lacking,
    one_time,
    opened_parquet,
    page_checksums,
    readable_times,
    snapshot,
    table_hints,
    twice,
    unchanged,
)
from geotarget._validate import as_float, is_number, shown
from geotarget.errors import (
    InvalidInput,
    InvalidPositions,
    InvalidType,
    MissingExtra,
    StoreError,
    StoreFull,
    StoreReadOnly,
)
from geotarget.positions import Positions

#: The key of the partition metadata in a Parquet file's key-value metadata.
META_KEY = b"geotarget"
#: The partition of the devices without a fix.
NO_FIX_CELL = "nofix"
#: The smallest cell size: 360° / 1e-7 columns still fit the 32 bits of a column in a cell's key.
MIN_CELL_DEG = 1e-7
#: Most partition files one dataset may be written as: each is a file, a task and an index on
#: a worker, so a cell size far below the devices' spacing (a file per device) is refused.
MAX_PARTITIONS = 100_000


def _pa() -> Any:
    try:
        import pyarrow as pa
    except ImportError as err:  # pragma: no cover - pyarrow is in every extra that needs it
        raise MissingExtra("dask", "reading positions from Arrow") from err
    return pa


def positions_from_arrow(
    table: Any,
    *,
    source: str = "table",
    observed_at: dt.datetime | None = None,
    accuracy_m: float | None = None,
) -> Positions:
    """A :class:`~geotarget.Positions` snapshot from a ``pyarrow.Table``.

    Also from what other backends hand over for one: a ``pyarrow.RecordBatch`` or
    ``RecordBatchReader`` (DuckDB's ``.arrow()``), or any object with the Arrow PyCapsule
    stream interface ``__arrow_c_stream__`` (a Polars or pandas DataFrame, a DuckDB relation),
    read whole first; a GeoPandas GeoDataFrame through its ``to_arrow`` (its geometry column is
    not read: give ``lon`` and ``lat`` columns).

    ``source`` names the table in error messages (a file name). ``observed_at`` dates every
    row of a table without an ``observed_at`` column, and is refused for a table with one;
    ``accuracy_m`` (metres, ``0`` for exact fixes) is likewise every fix's radius in a table
    without an ``accuracy_m`` column, which is refused without it (as by the command: a fix is
    never taken as exact unless told).
    """
    pa = _pa()
    if accuracy_m is not None:
        accuracy_m = accuracy_option(accuracy_m, "accuracy_m")
    if not isinstance(table, pa.Table):
        table = _as_table(table, source)
    known: dict[str, int] = {}
    for j, raw in enumerate(table.column_names):
        key = column_key(raw)
        if key is not None:
            if key in known:
                raise twice(source, key, table.column_names, known[key], j)
            known[key] = j
    missing = [c for c in REQUIRED if c not in known]
    if missing:
        found = ", ".join(repr(c) for c in table.column_names) or "nothing"
        hints = table_hints(
            table.column_names, missing, geometry_columns(table.schema), table.schema
        )
        raise InvalidInput(
            f"{source}: lacks column(s) {', '.join(missing)} (has {found}); "
            f"the columns are: {', '.join(KNOWN)}{hints}"
        )
    check_extensions(table.schema, known, source)
    where = Where(source)
    unknown = [str(n) for n in table.column_names if column_key(n) is None]
    columns: dict[str, Any] = {}
    marks = Marks()  # the decimal mark of numbers written as text
    for key, j in sorted(known.items(), key=lambda kj: KNOWN.index(kj[0])):
        col = table.column(j)
        try:
            columns[key] = _column(key, col, where, marks)
        except InvalidPositions as err:  # the command's --timezone is no option here
            text = str(err).replace(ZONE_FLAG, "").replace(NAIVE_TIMESTAMPS, _NAIVE)
            if key == "observed_at" and _INT96_MARK in (table.schema.field(j).metadata or {}):
                text += _INT96_ARROW
            raise InvalidPositions(text) from None
    marks.finish()
    if "observed_at" in columns and observed_at is not None:
        raise InvalidInput(f"{source}: has an observed_at column, so observed_at is not used")
    if "observed_at" not in columns:
        if observed_at is None:
            raise lacking(source, "observed_at", unknown, "observed_at")
        columns["observed_at"] = one_time(observed_at, "observed_at", table.num_rows)
    if "accuracy_m" in columns and accuracy_m is not None:
        raise InvalidInput(f"{source}: has an accuracy_m column, so accuracy_m is not used")
    if "accuracy_m" not in columns:
        if accuracy_m is None:
            raise lacking(source, "accuracy_m", unknown, "accuracy_m")
        columns["accuracy_m"] = np.where(np.isnan(columns["lon"]), np.nan, accuracy_m)
    _float_ids(columns["id"], where)  # the command's rule: "7.0", "8.0" name no device
    return snapshot(columns, where, source)  # (Arrow's ids became text here: ours to keep)


def _as_table(value: object, source: str) -> Any:
    """A table handed over as batches or an Arrow stream, read whole (see positions_from_arrow)."""
    pa = _pa()
    what = (
        "a pyarrow.Table, RecordBatch or RecordBatchReader, or a frame with the Arrow stream "
        "interface (__arrow_c_stream__: Polars, pandas, DuckDB)"
    )
    if hasattr(type(value), "__arrow_c_stream__"):
        _naive_objects(value, source)
    try:
        if hasattr(value, "geometry") and hasattr(value, "crs") and hasattr(value, "to_arrow"):
            # A GeoPandas GeoDataFrame: pandas' Arrow stream cannot hold its column of shapely
            # geometries ("a column of mixed types"); its own to_arrow writes it as WKB, a
            # geometry column then named as such (its lon and lat columns read as any frame's).
            value = value.to_arrow()
        if isinstance(value, pa.RecordBatch):
            return pa.Table.from_batches([value])
        if isinstance(value, pa.RecordBatchReader):
            return value.read_all()
        if hasattr(type(value), "__arrow_c_stream__") and hasattr(
            pa.RecordBatchReader, "from_stream"
        ):
            return pa.RecordBatchReader.from_stream(value).read_all()
    except (pa.ArrowException, ValueError, TypeError) as err:  # a type Arrow cannot hold
        names = [str(c) for c in getattr(value, "columns", ())]
        if "Duplicate column names" in str(err) and len(set(names)) < len(names):
            # A pandas frame naming a column twice (two columns renamed alike, pd.concat):
            # named as the command names a file's, not as "a column of mixed types".
            second = next(j for j, n in enumerate(names) if n in names[:j])
            first = names.index(names[second])
            raise twice(source, names[second], names, first, second) from None
        if "non-struct type" in str(err):  # a stream of one column's values, not of records
            raise InvalidInput(
                f"{source}: must be a table of the columns {', '.join(KNOWN)} (got a "
                f"{type(value).__name__}: one column's values, not a table; pass the frame or "
                "table that holds the columns)"
            ) from None
        # pyarrow's text may quote a value (a coordinate): only the column it names is kept.
        column = re.search(r"for column (.{1,80}?) with type", str(err))
        if column and column_key(column.group(1)) is None:
            known = _known_part(value)
            if known is not None:  # an ignored column Arrow cannot hold: ignored, as in a file
                return _as_table(known, source)
        where = f" (column {column.group(1)!r})" if column else ""
        raise InvalidInput(
            f"{source}: could not be read as an Arrow table{where}: {type(err).__name__}, "
            "most likely a column of mixed types (values not quoted: they may be positions)"
        ) from None
    # A Polars LazyFrame, a Dask or Spark frame: a query, not yet its rows.
    run = next((m for m in ("collect", "compute", "toArrow") if hasattr(value, m)), None)
    lazy = f"; a query of a table: take its rows first, with .{run}()" if run else ""
    raise InvalidInput(f"{source}: must be {what} (got {type(value).__name__}{lazy})")


def _known_part(frame: object) -> object | None:
    """A frame's known columns alone (``frame[labels]``), or None if it has no other ones.

    A column the reader ignores (a note of numbers and texts, Python objects) may be one
    Arrow cannot hold; a file's unknown columns are never read, and a frame's need not be.
    """
    labels = list(getattr(frame, "columns", ()))
    keep = [c for c in labels if column_key(c) is not None]
    if not keep or len(keep) == len(labels):
        return None
    try:
        known: object = frame[keep]  # type: ignore[index]
        return known
    except (KeyError, TypeError, ValueError):  # not a pandas-like frame: its own error stands
        return None


def _naive_objects(frame: object, source: str) -> None:
    """Refuse a naive ``datetime`` in a frame's ``observed_at`` column of Python objects.

    Arrow types such a column (pandas' ``object`` dtype: times gathered from several sources)
    by its first value: after a timezone-aware one, it reads a naive one as UTC, 12:00 in
    Stockholm as 14:00 there, without a word. (Naive values alone give a column without a zone,
    refused as such.) Only an object column is looked at, value by value, as Arrow reads it.
    """
    for label in getattr(frame, "columns", ()):
        if column_key(label) != "observed_at":
            continue
        col = frame[label]  # type: ignore[index]
        if getattr(getattr(col, "dtype", None), "kind", None) != "O" or not callable(
            getattr(col, "to_numpy", None)
        ):
            continue
        for i, v in enumerate(col.to_numpy()):
            if isinstance(v, dt.datetime) and v == v and v.utcoffset() is None:  # (not NaT)
                raise InvalidPositions(
                    f"{Where(source)(i)}, column observed_at: must be a timezone-aware "
                    f"datetime, as Arrow would read a naive one among aware ones as UTC "
                    f"(got a naive {type(v).__name__}; say its zone, e.g. with "
                    "datetime.replace(tzinfo=...) or pandas' tz_localize)"
                )


_NAIVE = "timestamps without a time zone; store them with one (pyarrow.timestamp('us', tz='UTC'))"


def _column(key: str, col: Any, where: Where, marks: Marks | None = None) -> Any:
    """One column as numpy: zero-copy for float64 without nulls, else the CLI reader's rules."""
    pa = _pa()
    if (
        key in ("lon", "lat", "accuracy_m")
        and col.type == pa.float64()
        and col.null_count == 0
        and col.num_chunks == 1
    ):
        return col.chunk(0).to_numpy(zero_copy_only=True)
    if col.num_chunks == 1:
        return _parquet_column(key, col.chunk(0), where, None, marks)
    if pa.types.is_dictionary(col.type):
        # Each chunk decoded on its own (its values' lengths checked first): joining them as
        # they are unifies their dictionaries, 0.8 s for 1.2 M distinct ids read from Parquet.
        parts, start = [], 0
        for chunk in col.chunks:
            at = attrs.evolve(where, first=where.first + start)
            parts.append(_dictionary_decoded(key, chunk, at))
            start += len(chunk)
        col = pa.chunked_array(parts, type=parts[0].type)
    try:
        whole = col.combine_chunks()
    except pa.ArrowNotImplementedError:  # chunks Arrow cannot join (runs of extension values)
        raise InvalidPositions(
            f"{where.name}, column {key}: holds chunks of type {col.type}, which Arrow cannot "
            "join into one column; give it as one chunk, or as a column of a plain type"
        ) from None
    return _parquet_column(key, whole, where, None, marks)


def read_table(path: Path, name: str | None = None) -> Any:
    """Read one Parquet file as a ``pyarrow.Table``; an unreadable file is InvalidInput.

    ``name`` names the file in errors (default: its name).
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover
        raise MissingExtra("dask", "reading Parquet positions") from err
    before = file_state(path)
    try:
        with opened_parquet(path) as (f, size):
            table = _read_table(pq, f, size, name or path.name)
    except OSError as err:  # cannot be opened: missing, refused
        raise _unreadable(err, name or path.name) from None
    # The footer checked and the pages read are one file's, not a rewrite's in progress.
    unchanged(path, before, name or path.name)
    return table


def _read_table(pq: Any, f: Any, size: int, name: str) -> Any:
    """:func:`read_table` of the file ``f``, opened once, of ``size`` bytes."""
    try:
        schema = pq.read_schema(f)
        footer = pq.read_metadata(f)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise _unreadable(err, name) from None
    # Before any array is allocated by the footer's row counts.
    check_parquet_footer(footer, size, name)
    # Only the columns positions are made of: an unknown one costs no memory.
    keys = [column_key(n) for n in schema.names]
    if not set(REQUIRED) <= set(keys):  # refused by the caller, naming every column
        return schema.empty_table()
    first: dict[str, int] = {}
    for j, key in enumerate(keys):  # (pyarrow reads no column whose name is given twice)
        if key is not None and first.setdefault(key, j) != j:
            raise twice(name, key, schema.names, first[key], j)
    wanted = [n for n, k in zip(schema.names, keys, strict=True) if k is not None]
    check_parquet_sizes(footer, wanted, name)
    try:
        table = pq.read_table(
            f,
            columns=wanted,
            read_dictionary=dictionary_columns(schema, wanted),
            **page_checksums(pq),  # a damaged page whose CRC the writer stored is refused
        )
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise _unreadable(err, name) from None
    return _int96_marked(table, footer)


#: Field metadata marking a column Parquet stored as INT96 (it reaches Arrow without a zone).
_INT96_MARK = b"geotarget:int96"
#: What positions_from_arrow adds to its refusal of such an observed_at column.
_INT96_ARROW = (
    "; they are INT96 timestamps, the legacy type of Spark, Hive and Impala, which carry no "
    "zone: write zone-aware ones (Spark: spark.sql.parquet.outputTimestampType="
    "TIMESTAMP_MICROS, which stores UTC instants)"
)


def _int96_marked(table: Any, footer: Any) -> Any:
    """``table`` with its columns Parquet stored as INT96 marked (:data:`_INT96_MARK`)."""
    int96 = int96_columns(footer)
    for j, field in enumerate(table.schema):
        if field.name in int96:
            marked = field.with_metadata({**(field.metadata or {}), _INT96_MARK: b"1"})
            table = table.set_column(j, marked, table.column(j))
    return table


def _unreadable(err: Exception, name: str) -> InvalidInput:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return InvalidInput(f"{name}: not a readable Parquet file: {first}")


def read_parquet(
    path: Path | str,
    *,
    observed_at: dt.datetime | None = None,
    accuracy_m: float | None = None,
) -> Positions:
    """Positions from one Parquet (or GeoParquet with lon/lat columns) file."""
    p = Path(path)
    return positions_from_arrow(
        read_table(p), source=p.name, observed_at=observed_at, accuracy_m=accuracy_m
    )


# ---------------------------------------------------------------------------------------------
# The partition key and partitioned writing
# ---------------------------------------------------------------------------------------------


def _spread(v: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Spread the low 32 bits of ``v`` to the even bits (for a Morton code)."""
    out: npt.NDArray[np.uint64] = np.bitwise_and(v, np.uint64(0xFFFFFFFF))
    spread_bits(out, np.empty_like(out))
    return out


def cell_of(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], cell_deg: float
) -> npt.NDArray[np.uint64]:
    """The Morton code of each point's grid cell (points with a fix only)."""
    ix = np.floor((np.asarray(lon) + 180.0) / cell_deg).astype(np.uint64)
    iy = np.floor((np.asarray(lat) + 90.0) / cell_deg).astype(np.uint64)
    return np.asarray(_spread(ix) | (_spread(iy) << np.uint64(1)), dtype=np.uint64)


@attrs.frozen(kw_only=True)
class PartitionMeta:
    """What a partition file says about itself (its ``geotarget`` Parquet metadata)."""

    rows: int
    no_fix: int
    # Of the fixes; None: no fix. Not in the repr: for one device, they are its position.
    bounds: tuple[float, float, float, float] | None = attrs.field(repr=False)
    max_accuracy_m: float
    snapshot: str

    def to_json(self) -> bytes:
        return json.dumps(attrs.asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes, name: str) -> PartitionMeta:
        try:
            d = json.loads(raw)
            b = d["bounds"]
            meta = cls(
                rows=int(d["rows"]),
                no_fix=int(d["no_fix"]),
                bounds=None if b is None else (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                max_accuracy_m=float(d["max_accuracy_m"]),
                snapshot=str(d["snapshot"]),
            )
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise InvalidInput(
                f"{name}: its geotarget partition metadata is unreadable ({shown(err)})"
            ) from None
        problem = meta._problem()
        if problem is not None:
            # Its counts, never its bounds: for a file of one device they are its position
            # (and the message is logged wherever the dataset is listed).
            raise InvalidInput(
                f"{name}: its geotarget partition metadata is unusable: {problem} (got rows "
                f"{meta.rows}, no_fix {meta.no_fix}, max_accuracy_m {shown(meta.max_accuracy_m)}; "
                "bounds not quoted: for a file of one device they are its position)"
            )
        return meta

    def _problem(self) -> str | None:
        """The first rule the values break (a reader prunes by them), or None."""
        if not 0 <= self.no_fix <= self.rows:
            return "rows must be >= 0 and no_fix within [0, rows]"
        if not (math.isfinite(self.max_accuracy_m) and self.max_accuracy_m >= 0.0):
            return "max_accuracy_m must be a finite number of metres >= 0"
        if self.bounds is not None:
            w, s, e, n = self.bounds
            if not (-180.0 <= w <= e <= 180.0 and -90.0 <= s <= n <= 90.0):
                # Which comparisons fail, not the values (see from_json); NaN fails its own.
                broken = [
                    text
                    for text, ok in (
                        ("west >= -180", w >= -180.0),
                        ("west <= east", w <= e),
                        ("east <= 180", e <= 180.0),
                        ("south >= -90", s >= -90.0),
                        ("south <= north", s <= n),
                        ("north <= 90", n <= 90.0),
                    )
                    if not ok
                ]
                return (
                    "bounds must be [west, south, east, north] degrees with west <= east "
                    f"and south <= north (fails {', '.join(broken)})"
                )
        elif self.rows > self.no_fix:
            return "bounds must be given when some rows have a fix"
        return None


def _cell_deg(value: object) -> float:
    if not is_number(value):  # (numpy's numbers too; bools and timedelta64 are not numbers)
        raise InvalidInput(
            f"cell_deg must be a number > 0 and <= 90 (got {type(value).__name__} {shown(value)})"
        )
    x = as_float(value)
    if not (0.0 < x <= 90.0) or math.isnan(x):
        raise InvalidInput(f"cell_deg must be a number > 0 and <= 90 (got {shown(value)})")
    if x < MIN_CELL_DEG:
        raise InvalidInput(
            f"cell_deg must be at least {MIN_CELL_DEG!r} degrees (about 1 cm), so that a cell's "
            f"column and row fit the 32 bits each has in its Morton code (got {shown(value)})"
        )
    return x


def write_partitioned(
    positions: Positions, root: Path | str, *, cell_deg: float = 0.1
) -> dict[str, PartitionMeta]:
    """Write ``positions`` as a Parquet dataset under ``root``, one file per grid cell.

    Returns the metadata written, per partition directory name. A fix observed outside the
    years 1970 to 9998 (a phone whose clock was reset) is refused before anything is
    written: the readers refuse it, so one such row made every alert reading its cell fail.
    """
    _pa()  # the extra, before anything is created
    if not isinstance(positions, Positions):
        raise InvalidType(f"positions must be Positions (got {type(positions).__name__})")
    size = _cell_deg(cell_deg)
    row = readable_times(positions.observed_at)
    if row is not None:  # before anything is created: a dataset that could not be read back
        raise InvalidPositions(
            f"positions, row {row}, column observed_at: lies outside the years 1970 to 9998 "
            f"(got {np.datetime_as_string(positions.observed_at[row], unit='us')}Z): the Parquet "
            "readers (geotarget.dask, read_parquet, geotarget target --positions) refuse such "
            "a time, so the dataset could not be read; correct the row or drop it (nothing "
            "was written)"
        )
    out = Path(root)
    try:
        if out.is_symlink():  # a link to the data's directory: the dataset goes there
            out = Path(os.path.realpath(out))  # (renamed onto the link, it failed ENOTDIR)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            what = "has files" if out.is_dir() else "is a file"
            raise InvalidInput(f"root must be a new or empty directory (got {out}, which {what})")
        if out.is_dir() and os.path.ismount(out):
            raise InvalidInput(
                f"root must be a new or empty directory that is not a mount point (got {out}): "
                "the dataset is written beside root and renamed onto it, which a file "
                "system's top directory refuses; give a new directory under it"
            )
        if any(p.exists() and not p.is_dir() for p in out.parents):
            raise InvalidInput(f"root must be a new or empty directory (got {out}: under a file)")
        out.parent.mkdir(parents=True, exist_ok=True)
        # Written beside root, then renamed onto it: a reader never lists half a dataset.
        tmp = out.parent / f".{out.name}-{uuid.uuid4().hex}"  # hidden from readers
        tmp.mkdir()  # the umask's permissions, as root would have had
    except OSError as err:
        raise InvalidInput(
            f"root must be a new or empty directory that can be created (got {out}: "
            f"{err.strerror or err})"
        ) from None
    try:
        written = _write_cells(positions, tmp, size)
        os.replace(tmp, out)  # onto a new or empty directory
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise _store_error(out, err) from err
        raise
    return written


def _store_error(out: Path, err: OSError) -> StoreError:
    """An OSError while writing a dataset, as the StoreError its errno names."""
    kind: type[StoreError] = StoreError
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        kind = StoreFull
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        kind = StoreReadOnly
    return kind(f"writing the positions dataset {out} failed, nothing was written: {err}")


def _write_cells(positions: Positions, out: Path, size: float) -> dict[str, PartitionMeta]:
    """Write the partition files of ``positions`` under the directory ``out``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    snapshot = uuid.uuid4().hex
    fix = positions.has_fix
    fix_rows = np.flatnonzero(fix)
    codes = cell_of(positions.lon[fix_rows], positions.lat[fix_rows], size)
    order = np.argsort(codes, kind="stable")
    fix_rows, codes = fix_rows[order], codes[order]
    starts: Any = (
        np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1]))) if codes.size else []
    )
    groups: list[tuple[str, npt.NDArray[np.intp]]] = []
    first = np.asarray(starts, dtype=np.intp)
    ends = np.append(first[1:], codes.size).astype(np.intp) if codes.size else first
    if first.size > MAX_PARTITIONS:  # before any file is written
        raise InvalidInput(
            f"cell_deg={shown(size)} would write {first.size:,} partitions, one per occupied cell "
            f"(at most {MAX_PARTITIONS:,}: each is a file, a task and an index on a worker); "
            "choose a larger cell_deg, such as the default 0.1"
        )
    for a, b in zip(first.tolist(), ends.tolist(), strict=True):
        groups.append((str(int(codes[a])), fix_rows[a:b]))
    no_fix_rows = np.flatnonzero(~fix)
    if no_fix_rows.size or not groups:  # an empty snapshot is one empty file, not no file
        groups.append((NO_FIX_CELL, no_fix_rows))
    written: dict[str, PartitionMeta] = {}
    for cell, rows in groups:
        lon, lat = positions.lon[rows], positions.lat[rows]
        has = ~np.isnan(lon)
        acc = positions.accuracy_m[rows]
        meta = PartitionMeta(
            rows=int(rows.size),
            no_fix=int((~has).sum()),
            bounds=(
                (
                    float(lon[has].min()),
                    float(lat[has].min()),
                    float(lon[has].max()),
                    float(lat[has].max()),
                )
                if has.any()
                else None
            ),
            max_accuracy_m=float(acc[has].max()) if has.any() else 0.0,
            snapshot=snapshot,
        )
        table = pa.table(
            {
                "id": positions.ids[rows],
                "lon": lon,
                "lat": lat,
                "accuracy_m": acc,
                "observed_at": pa.array(positions.observed_at[rows], pa.timestamp("us", tz="UTC")),
                "tester": positions.tester[rows],
            }
        ).replace_schema_metadata({META_KEY: meta.to_json()})
        name = f"cell={cell}"
        (out / name).mkdir()
        pq.write_table(table, out / name / "part-0.parquet")
        written[name] = meta
    return written


def partition_meta(path: Path, name: str | None = None) -> PartitionMeta | None:
    """The ``geotarget`` metadata of one partition file (a footer read), None if it has none.

    ``name`` names the file in errors (default: its name). Metadata that the footer's own row
    count and column statistics contradict (the file was rewritten by a tool that kept the
    old key-value metadata, such as ``pq.write_table`` of a table read from it) is not
    trusted: None, so the file is read for every alert, as one without metadata.
    """
    import pyarrow.parquet as pq

    name = name or path.name
    try:
        md = pq.read_metadata(path)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InvalidInput(f"{name}: not a readable Parquet file: {first}") from None
    kv: Mapping[bytes, bytes] = md.metadata or {}
    raw = kv.get(META_KEY)
    if raw is None:
        return None
    meta = PartitionMeta.from_json(raw, name)
    return meta if _footer_agrees(meta, md) else None


_FLOATS = ("DOUBLE", "FLOAT")


def _footer_agrees(meta: PartitionMeta, md: Any) -> bool:
    """Whether the footer's row count and lon/lat/accuracy statistics fit the metadata.

    Parquet writers keep NaN out of min/max, so a column's statistics cover the rows with a
    fix. A column chunk without statistics cannot be checked: the metadata is not trusted.
    Nor is metadata counting fewer rows without a fix than ``lon``, ``lat`` or ``accuracy_m``
    has nulls (a rewrite that took fixes away, or left a fix without its radius): a pruned
    file's devices would be counted ``OUTSIDE_AREA`` rather than ``NO_FIX``, and a kind that
    tells devices without a fix would skip them. (A NaN written instead of a null is not in
    the statistics: only reading the column would tell.)
    """
    if md.num_rows != meta.rows:
        return False
    columns = {column_key(md.schema.column(j).path): j for j in range(md.num_columns)}
    b = meta.bounds
    inf = math.inf
    limits = {  # the values each column's statistics must lie within
        "lon": (inf, -inf) if b is None else (b[0], b[2]),
        "lat": (inf, -inf) if b is None else (b[1], b[3]),
        # A row without a fix keeps any accuracy; a file with such rows is read every time.
        "accuracy_m": (-inf, meta.max_accuracy_m if meta.no_fix == 0 else inf),
    }
    for key, (low, high) in limits.items():
        j = columns.get(key)
        if j is None:
            continue  # lon and lat are refused when read; no accuracy column: exact fixes
        nulls = 0
        for g in range(md.num_row_groups):
            chunk = md.row_group(g).column(j)
            stats = chunk.statistics
            if chunk.num_values and (
                stats is None or chunk.physical_type not in _FLOATS or not stats.has_null_count
            ):
                return False  # cannot be checked (text compares as text)
            if stats is None:
                continue  # an empty row group
            nulls += stats.null_count
            if not stats.has_min_max:
                continue  # every value NaN or null: no fix in this row group
            if float(stats.min) < low or float(stats.max) > high:
                return False
        if nulls > meta.no_fix:  # each null is a row without a fix (or refused when read)
            return False
    return True
