"""Device positions: a validated, immutable columnar snapshot, and the rule that classifies them.

A :class:`Positions` snapshot holds one row per device as numpy columns: ``ids`` (unique str or
int), ``lon`` and ``lat`` (WGS84 degrees), ``accuracy_m`` (the 68 % radius phones report),
``observed_at`` (UTC, ``datetime64[us]``) and ``tester``. Bad rows are rejected with their row
numbers named; nothing is ever dropped silently.

``observed_at`` is **required**: a column (one time per row) or one timezone-aware ``datetime``
for the whole snapshot. Without it no fix has an age, so no rule could tell a current fix from a
stale one; a snapshot without it is refused rather than silently treated as "nobody located".

A device **without a fix** has ``lon`` and ``lat`` both NaN. It is a valid row: queries and
:meth:`geotarget.PositionIndex.classify` never list it (it has no position, so it is near no
area); a pipeline that reports it, as the targeting pipeline does (``Outcome.NO_FIX``), finds
it with :attr:`Positions.has_fix`. Any other NaN, infinity or out-of-range coordinate is an
error.

A :class:`LocationRule` turns a fix into one of four :class:`Location` states for an area:
``INSIDE`` (the device's accuracy disk lies within the area), ``AMBIGUOUS`` (the disk crosses
the boundary), ``OUTSIDE`` (the disk is disjoint from the area) or ``UNKNOWN`` (a fix older than
``max_age``). :meth:`geotarget.PositionIndex.classify` applies it.

:func:`parse_time` reads a time written as ISO 8601 text (an ``observed_at`` or an ``at`` that
arrives as text) exactly as the command and the position-file reader do, on every Python.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import enum
import functools
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence, ValuesView
from collections.abc import Set as AbstractSet
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget import _sorted
from geotarget._validate import (
    FIRST_US,
    LAST_US,
    YEARS_RULE,
    BoolArray,
    FloatArray,
    as_float,
    aware_us,
    bools_among_numbers,
    coarse_degrees,
    is_integer,
    is_number,
    iterable,
    nul_rows,
    only_numbers,
    pair_text,
    shown,
    surrogate_rows,
    typed,
    unmasked,
    utc_us,
)
from geotarget.errors import InvalidInput, InvalidPositions, InvalidType

__all__ = ["Location", "LocationRule", "Positions", "StaleRule", "parse_time"]


def __dir__() -> list[str]:
    return __all__


#: How many offending rows an error message lists before it says "and N more".
_SHOW_ROWS = 5
#: The longest text id (characters). Text ids are a fixed-width numpy array, 4 bytes a
#: character of the *longest* id for every row: one 10,000-character id in a million rows
#: would ask for 40 GB. Push tokens and UUIDs are well under this.
_MAX_ID_CHARS = 256


#: Set while a reader of geotarget's own builds a snapshot from a text id array it made and
#: then drops (:func:`_own_ids`): that array is kept, not copied. A caller's array is copied
#: (it may change after validation), and a million ids of 256 characters are a gigabyte.
_OWN_IDS: contextvars.ContextVar[bool] = contextvars.ContextVar("geotarget_own_ids", default=False)


@contextlib.contextmanager
def _own_ids() -> Iterator[None]:
    """Within: :class:`Positions` keeps a native text id array as given (private glue)."""
    token = _OWN_IDS.set(True)
    try:
        yield
    finally:
        _OWN_IDS.reset(token)


class Location(enum.IntEnum):
    """Where a device is relative to an area, under a :class:`LocationRule`.

    The values are the wire values stored in the ``int8`` state arrays that
    :meth:`geotarget.PositionIndex.classify` returns.

    Examples
    --------
    >>> from geotarget import Location
    >>> Location(1).name, int(Location.AMBIGUOUS)
    ('INSIDE', 2)

    .. versionadded:: 0.1.0
    """

    #: The accuracy disk is disjoint from the area.
    OUTSIDE = 0
    #: The accuracy disk lies within the area (for an exact fix: the point is inside).
    INSIDE = 1
    #: The accuracy disk crosses the boundary: the device may or may not be inside.
    AMBIGUOUS = 2
    #: No fix, or the fix is older than the rule's ``max_age``.
    UNKNOWN = 3


#: The largest accuracy_m: the Earth's equatorial circumference in metres. A disk that wide
#: covers the Earth already; a larger (corrupt) value only overflowed the distance bounds.
_MAX_ACCURACY_M = 40_075_017.0

#: The longest max_age (10,000 years): beyond every fix a snapshot holds (years 1 to 9999),
#: and ``at - max_age`` stays within numpy's microsecond range (no overflow, no wrap).
_MAX_AGE = dt.timedelta(days=3_652_425)


def _age_bounded(value: dt.timedelta) -> dt.timedelta:
    if value > _MAX_AGE:
        raise InvalidPositions(
            f"max_age must be at most {_MAX_AGE.days:,} days (10,000 years; for no limit "
            f"write max_age=None) (got {shown(value)})"
        )
    return value


def _max_age(value: object) -> dt.timedelta | None:
    if value is None:
        return None
    if not isinstance(value, dt.timedelta):
        raise InvalidType(
            "max_age must be a datetime.timedelta or None "
            f"(got {type(value).__name__} {shown(value)})"
        )
    if value < dt.timedelta(0):
        raise InvalidPositions(f"max_age must be >= 0 (got {shown(value)})")
    return _age_bounded(value)


def _bounded(name: str, value: object, upper: int) -> float:
    """``value`` as a float in ``[0, upper]``; a bool, a non-number or NaN is refused."""
    rule = f"{name} must be a finite number >= 0 and <= {upper}"
    if not is_number(value):
        raise InvalidType(f"{rule} (got {typed(value)})")
    x = as_float(value)
    if not (0.0 <= x <= upper):
        raise InvalidPositions(f"{rule} (got {shown(value)})")
    return x


def _accuracy(value: object) -> float:
    return _bounded("accuracy", value, 10)


@attrs.frozen
class LocationRule:
    """How a device's fix is classified against an area.

    Parameters
    ----------
    max_age : datetime.timedelta or None, default None
        Fixes older than this at the classification time are :attr:`Location.UNKNOWN` (so are
        fixes with no ``observed_at``). ``None``: any age is accepted. A fix observed after the
        classification time (clock skew) counts as current. At most 10,000 years.
    accuracy : float, default 1.0
        The radius of a device's uncertainty disk, as a multiple of its reported
        ``accuracy_m`` (``0 <= accuracy <= 10``). ``1.0`` uses the 68 % radius as phones report
        it; ``2.0`` is about a 95 % disk for a two-dimensional normal error; ``0.0`` treats every
        fix as an exact point (then nothing is :attr:`Location.AMBIGUOUS`, and ``INSIDE`` equals
        :meth:`geotarget.Area.contains`).

    Examples
    --------
    >>> import datetime as dt
    >>> from geotarget import LocationRule
    >>> LocationRule(max_age=dt.timedelta(minutes=30), accuracy=2.0).accuracy
    2.0

    .. versionadded:: 0.1.0
    """

    max_age: dt.timedelta | None = attrs.field(default=None, converter=_max_age)
    accuracy: float = attrs.field(default=1.0, converter=_accuracy)


def _stale_age(value: object) -> dt.timedelta:
    if not isinstance(value, dt.timedelta):
        raise InvalidType(
            f"max_age must be a datetime.timedelta (got {type(value).__name__} {shown(value)})"
        )
    if value <= dt.timedelta(0):
        raise InvalidPositions(f"max_age must be > 0 (got {shown(value)})")
    return _age_bounded(value)


def _stale_margin(value: object) -> float:
    return _bounded("margin_m", value, 50_000)


@attrs.frozen(kw_only=True)
class StaleRule:
    """Whether, and how far, an old fix still places a device in an area.

    A fix older than the kind's :attr:`LocationRule.max_age` is *stale*. Under a stale rule a
    stale fix at most :attr:`max_age` old counts for a device whose fix point (its accuracy
    ignored) lies in the alert area grown by :attr:`margin_m` metres: the distance its owner
    may have moved since. Older fixes never count.

    Parameters
    ----------
    max_age : datetime.timedelta
        The oldest fix still used, ``> 0`` and at most 10,000 years.
    margin_m : float
        How far the area is grown for stale fixes, in metres (``0 <= margin_m <= 50000``).
        For a circle: geodesic distance to the centre ``<= radius + margin``; for a polygon:
        within ``margin_m`` of it, as :class:`geotarget.Polygon`'s ``margin_m``.

    Examples
    --------
    >>> import datetime as dt
    >>> from geotarget import StaleRule
    >>> StaleRule(max_age=dt.timedelta(hours=24), margin_m=1000.0).margin_m
    1000.0
    >>> StaleRule(max_age=dt.timedelta(hours=24), margin_m=-1.0)
    Traceback (most recent call last):
    ...
    geotarget.errors.InvalidPositions: margin_m must be a finite number >= 0 and <= 50000 (got -1.0)

    .. versionadded:: 0.1.0
    """

    max_age: dt.timedelta = attrs.field(converter=_stale_age)
    margin_m: float = attrs.field(converter=_stale_margin)


# ---------------------------------------------------------------------------------------------
# Column validation
# ---------------------------------------------------------------------------------------------


def _rows_text(bad: npt.NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(i)) for i in bad[:_SHOW_ROWS])
    more = f" and {bad.size - _SHOW_ROWS} more" if bad.size > _SHOW_ROWS else ""
    return f"row{'s' if bad.size != 1 else ''} {shown}{more}"


def _check_rows(name: str, bad_mask: BoolArray, rule: str, values: npt.NDArray[Any]) -> None:
    if bad_mask.any():
        bad = np.flatnonzero(bad_mask)
        raise InvalidPositions(
            f"{name} must be {rule} (got {values[bad[0]].item()!r} at {_rows_text(bad)})"
        )


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _check_id_lengths(lengths: npt.NDArray[Any], ids: Any) -> None:
    """Refuse text ids longer than :data:`_MAX_ID_CHARS`, naming the first such row."""
    if lengths.size and int(lengths.max()) > _MAX_ID_CHARS:
        row = int(np.flatnonzero(lengths > _MAX_ID_CHARS)[0])
        raise InvalidPositions(
            f"ids[{row}] must be at most {_MAX_ID_CHARS} characters (got {int(lengths[row]):,}: "
            f"{str(ids[row])[:40]!r}...)"
        )


def _ordered(name: str, value: object) -> None:
    """Refuse an unordered container or a one-shot iterator as a column.

    A column pairs with the others by position: a set's order is its hash order, so its values
    would be paired with other devices' rows without a word. An iterator (a generator, ``map``)
    is read once and has no length: numpy reads it as one object, not as its values.
    """
    if isinstance(value, (AbstractSet, Mapping)):
        raise InvalidType(
            f"{name} must be an ordered sequence or array (a list, tuple or numpy array), one "
            f"value per id, not an unordered {type(value).__name__} (its order is arbitrary, so "
            "values would pair with other devices' rows)"
        )
    if isinstance(value, (Iterator, ValuesView)) or (
        isinstance(value, Iterable)
        and not isinstance(value, (Sequence, np.ndarray))
        and not hasattr(value, "__len__")
    ):
        what = "a one-shot iterator" if isinstance(value, Iterator) else "an iterable only"
        raise InvalidType(
            f"{name} must be a sequence or array (a list, tuple or numpy array), one value per "
            f"id, not {what} (got {type(value).__name__}; pass list(...))"
        )


def _labels(value: object) -> Any:
    """The index of a pandas-like ``Series`` (the labels pandas pairs its rows by), else None.

    Recognised without importing pandas: an ``index`` with a callable ``equals`` and a length.
    A pandas ``Index`` itself (``df.index`` as the ids) has no ``index``: its rows are positions.
    """
    index = getattr(value, "index", None)
    if callable(getattr(index, "equals", None)) and hasattr(index, "__len__"):
        return index
    return None


def _aligned(columns: Mapping[str, object]) -> None:
    """Refuse pandas ``Series`` columns whose indexes differ: they would pair other devices' rows.

    ``Positions`` pairs its columns by position, as numpy does; pandas pairs Series by their
    index labels. ``ids`` from a frame and ``lon`` from a sorted or filtered copy of it hold
    the same labels in another order: read by position, a device would get another's
    coordinates (still in the territory, so nothing else shows it). Labels are not quoted (an
    index may be ``(lon, lat)``); columns of other lengths are left to the length rule.
    """
    first: tuple[str, Any] | None = None
    for name, value in columns.items():
        index = _labels(value)
        if index is None:
            continue
        if first is None:
            first = (name, index)
            continue
        base_name, base = first
        if len(index) != len(base) or base.equals(index):
            continue
        row = next((i for i, (a, b) in enumerate(zip(base, index, strict=True)) if a != b), None)
        at = "" if row is None else f"first at row {row}; "
        raise InvalidPositions(
            f"{name} must have the index of {base_name}: both are pandas Series, but their "
            f"index labels differ ({at}labels not quoted), and Positions pairs columns by "
            f"position, not by label as pandas does, so one device's {name} would go to "
            "another; take every column from one frame in one row order, or pass .to_numpy() "
            "of columns already in the same order"
        )


def _arrow_column(name: str, value: object) -> None:
    """Refuse a pyarrow ``Array`` or ``ChunkedArray`` where its items would be read one by one.

    Its items are Arrow scalars (``StringScalar``, ``TimestampScalar``), no ``str`` or
    ``datetime``: refused saying what reads a table's columns by their types and zones.
    """
    if type(value).__module__.split(".", 1)[0] == "pyarrow":
        raise InvalidType(
            f"{name} must be a sequence, numpy array or pandas or Polars column, not a pyarrow "
            f"{type(value).__name__} (its items are Arrow scalars); read a pyarrow table with "
            "geotarget.dask.positions_from_arrow, which reads each column by its Arrow type "
            "and time zone"
        )


def _ids(value: object) -> npt.NDArray[Any]:
    """The ids validated (see :class:`Positions`), as an ``int64`` or ``str_`` array."""
    return _id_array(value)[0]


def _id_array(value: object) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp]]:
    """:func:`_ids`, and the permutation that sorts them (numpy's order: the uniqueness check's)."""
    if isinstance(value, str) or not iterable(value):
        raise InvalidType(f"ids must be a sequence of str or int ids (got {shown(value, 80)})")
    _not_bytes("ids", value)
    _ordered("ids", value)
    _arrow_column("ids", value)
    ndim = getattr(value, "ndim", 1)
    if not isinstance(value, np.ndarray) and isinstance(ndim, int) and ndim != 1:
        # A table (a pandas DataFrame: df[["id"]]) iterates over its column labels, not its
        # rows: read as a list, its ids would be the names of its columns.
        shape = getattr(value, "shape", None)
        raise InvalidPositions(
            f"ids must be one-dimensional, one id per device (got a {type(value).__name__}"
            f"{f' of shape {tuple(shape)}' if shape is not None else ''}, which has {ndim} "
            "dimensions: pass one column of it, such as df['id'])"
        )
    unmasked("ids", value, InvalidPositions)
    if isinstance(value, np.ndarray):
        arr = value
        if arr.dtype.kind == "U" and not (_OWN_IDS.get() and arr.dtype.isnative):
            # The snapshot's own copy, in native byte order: the caller's array (or the array a
            # view of it belongs to) may change after validation, and is not frozen here.
            arr = np.array(arr, dtype=arr.dtype.newbyteorder("="))
    else:
        seq = list(value)
        kinds = {type(i) for i in seq}
        if any(issubclass(k, uuid.UUID) for k in kinds):
            # A UUID is its canonical text, as the Parquet and Arrow readers read a UUID column
            # (and as psycopg and SQLAlchemy hand over a PostgreSQL uuid column: UUID objects).
            seq = [str(v) if isinstance(v, uuid.UUID) else v for v in seq]
            kinds = {type(i) for i in seq}
        if kinds and all(issubclass(k, str) for k in kinds):  # (np.str_, StrEnum too)
            given = np.fromiter(map(len, seq), dtype=np.int64, count=len(seq))
            _check_id_lengths(given, seq)
            arr = np.array(seq, dtype=np.str_)
            # numpy drops trailing NULs ("a\x00" would become the id "a"): refuse them here.
            cut = np.flatnonzero(np.char.str_len(arr) != given)
            if cut.size:
                raise InvalidPositions(
                    f"ids must be texts without NUL (got {shown(seq[cut[0]])} at {_rows_text(cut)})"
                )
        elif kinds and all(
            issubclass(k, (int, np.integer)) and not issubclass(k, (bool, np.bool_, np.timedelta64))
            for k in kinds
        ):
            try:
                arr = np.array(seq, dtype=np.int64)
            except OverflowError:
                big = np.flatnonzero([not _I64_MIN <= int(v) <= _I64_MAX for v in seq])
                raise _too_big(int(seq[big[0]]), big) from None
        elif not kinds:
            arr = np.array([], dtype=np.int64)
        else:
            raise _mixed_ids(seq)
    if arr.ndim != 1:
        raise InvalidPositions(f"ids must be one-dimensional (got shape {arr.shape})")
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size:
            # astype(int64) would wrap 2**63 to -2**63: another device's id, without a word
            big = np.flatnonzero(arr > np.uint64(_I64_MAX))
            if big.size:
                raise _too_big(int(arr[big[0]]), big)
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "U":
        lengths = np.char.str_len(arr)
        _check_id_lengths(lengths, arr)
        _check_rows("ids", lengths == 0, "non-empty strings", arr)
        _check_rows("ids", nul_rows(arr), "texts without NUL", arr)
        _check_rows("ids", surrogate_rows(arr), "valid Unicode (no lone surrogate)", arr)
    elif arr.dtype.kind == "O":
        # An object array (a column of a mixed pandas frame's ``.values``) is read as the list
        # of the same ids is: all str or all int, else named by their types.
        return _id_array(arr.tolist())
    else:
        raise InvalidType(f"ids must be str or int ids (got {_dtype_text(arr)})")
    # (Not a stable sort: ids are distinct or refused, and quicksort costs a third as much.)
    order = np.argsort(arr)
    if arr.size > 1:
        dup = _sorted_repeats(arr, order)
        if dup.size:
            first = arr[order[dup[0]]].item()
            rows = np.flatnonzero(arr == arr[order[dup[0]]])
            raise InvalidPositions(
                f"ids must be unique (got {shown(first)} at {_rows_text(rows)}; "
                f"{dup.size} duplicate{'s' if dup.size != 1 else ''} in all)"
            )
        if arr.dtype.kind == "U":
            _check_normal_forms(arr)
    return arr, order


def _too_big(first: int, rows: npt.NDArray[np.intp]) -> InvalidPositions:
    """The error for int ids beyond int64 (an unsigned 64-bit id of 2**63 or more among them)."""
    return InvalidPositions(
        f"ids must fit in a signed 64-bit integer, -2**63 to 2**63 - 1 (got {shown(first)} at "
        f"{_rows_text(rows)}): give longer ids as text"
    )


def _not_bytes(name: str, value: object) -> None:
    """Refuse ``bytes``, a ``bytearray`` or a ``memoryview`` of one where a column belongs.

    numpy and ``list`` read them as their bytes, small integers: ``bytearray(b"abc")`` as ids
    were the devices 97, 98 and 99, and as ``lon`` the longitudes 97, 98 and 99, without a word.
    """
    base = value
    while isinstance(base, memoryview):
        base = base.obj
    if isinstance(base, (bytes, bytearray)):
        raise InvalidType(
            f"{name} must be a sequence or array, one value per id, not {type(value).__name__} "
            "(read as a column, its bytes would be small integers); decode text first, and "
            "give a column as a list or numpy array"
        )


def _dtype_text(arr: npt.NDArray[Any]) -> str:
    """An array's dtype for a message; records and bytes say what to pass instead."""
    names = arr.dtype.names
    if names:  # the whole record array given where one of its columns belongs
        return (
            f"a structured array of the fields {', '.join(names)}; pass one field, such as "
            f"values[{names[0]!r}]"
        )
    if arr.dtype.kind == "S":
        return f"dtype {arr.dtype}, bytes; decode them, np.char.decode(values, 'utf-8')"
    return f"dtype {arr.dtype}"


def _escaped(value: object) -> str:
    r"""An id for a message with its characters beyond ASCII escaped (``'caf\xe9'``)."""
    text = ascii(str(value))
    return text if len(text) <= _SHOW_CHARS else f"{text[:_SHOW_CHARS]}…"


#: Why two ids that are one text in two normalisation forms are refused, and what to do.
_TWO_FORMS = (
    "one text in two Unicode forms, canonically equivalent as NFC and NFD are: one device "
    "written by two systems?); write every id in one form (NFC)"
)


def _check_normal_forms(arr: npt.NDArray[np.str_]) -> None:
    """Refuse two distinct ids that are one text in two Unicode normalisation forms.

    ``"café"`` with a precomposed é (NFC, as most systems write it) and with an e and a
    combining accent (NFD, as macOS's file names and some iOS text hold it) show alike and are
    the same text by Unicode's canonical equivalence: one device written by two systems, which
    would be counted, told and charged twice. Ids stay verbatim; only this is refused.
    """
    twins = _normal_form_twins(arr)
    if twins is not None:
        first, second = twins
        raise InvalidPositions(
            f"ids must be unique (got {_escaped(arr[first])} at row {first} and "
            f"{_escaped(arr[second])} at row {second}, {_TWO_FORMS}"
        )


def _normal_form_twins(arr: npt.NDArray[np.str_]) -> tuple[int, int] | None:
    """The first two rows whose distinct ids are one text in two normalisation forms, or None.

    Only ids holding a character beyond ASCII (found in bulk) are normalised, one by one.
    """
    import unicodedata

    if not arr.dtype.itemsize:
        return None
    flat = arr.view(np.uint32)
    if int(flat.max(initial=0)) <= 0x7F:  # (one pass: ids are ASCII nearly always)
        return None
    codes = flat.reshape(arr.size, -1)
    wide = np.flatnonzero(codes.max(axis=1) > 0x7F)
    if not wide.size:
        return None
    texts = arr[wide].tolist()
    normal = [unicodedata.normalize("NFC", t) for t in texts]
    changed = [k for k, (t, n) in enumerate(zip(texts, normal, strict=True)) if t != n]
    if not changed:
        return None  # every id already NFC: distinct ids have distinct NFC forms
    rows_of: dict[str, list[int]] = {}
    for k, n in enumerate(normal):
        rows_of.setdefault(n, []).append(int(wide[k]))
    for k in changed:
        rows = rows_of[normal[k]]
        if len(rows) < 2 and normal[k].isascii():  # (the Kelvin sign's K is ASCII's K)
            rows = [*rows, *np.flatnonzero(arr == normal[k]).tolist()]
        if len(rows) >= 2:
            first, second = sorted(rows)[:2]
            return first, second
    return None


def _id_family(value: object) -> str | None:
    """``"str"`` or ``"int"`` for an id's type (numpy's included), None for any other."""
    if isinstance(value, (str, np.str_)):
        return "str"
    if is_integer(value):
        return "int"
    return None


def _mixed_ids(seq: Sequence[object]) -> InvalidType:
    """The error for ids that are not all str or all int: the first row that breaks the rule."""
    other = next((i for i, v in enumerate(seq) if _id_family(v) is None), None)
    if other is not None:
        value = seq[other]
        if (
            value is None
            or type(value).__name__ in ("NAType", "NaTType")
            or (isinstance(value, (float, np.floating)) and value != value)
        ):
            # None, pandas' NA (a nullable column's gap) or NaN: no id, not an id of a type
            return InvalidType(
                f"ids must not be missing: every device needs its id (got {typed(value)} at "
                f"row {other}; drop the rows without an id, or give them theirs)"
            )
        return InvalidType(f"ids must all be str or all be int (got {typed(value)} at row {other})")
    first = _id_family(seq[0])
    k = next(i for i, v in enumerate(seq) if _id_family(v) != first)
    return InvalidType(
        f"ids must all be str or all be int (got {first} at row 0 and {_id_family(seq[k])} at "
        f"row {k}: write them all as text)"
    )


#: The bytes of ids :func:`_sorted_repeats` gathers at a time.
_REPEAT_BYTES = 1 << 20


def _sorted_repeats(arr: npt.NDArray[Any], order: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Places ``k`` in the sorted order (``arr[order]``) whose value repeats at ``k + 1``.

    Compared a block of the order at a time: the whole array gathered in sorted order is a
    second copy of it, and text ids are as wide as the longest (one id of 256 characters
    among a million makes that copy a gigabyte).
    """
    hits = []
    step = max(1, _REPEAT_BYTES // max(arr.dtype.itemsize, 1))
    for start in range(0, arr.size - 1, step):
        block = arr[order[start : start + step + 1]]
        same = np.flatnonzero(block[1:] == block[:-1])
        if same.size:
            hits.append(same + start)
    return np.concatenate(hits) if hits else np.empty(0, dtype=np.intp)


def _not_per_id(name: str, arr: npt.NDArray[Any], n: int) -> InvalidPositions:
    """The error for a column whose shape is not one value per id (a lone value named so)."""
    got = "a single value" if arr.ndim == 0 else f"shape {arr.shape}"
    return InvalidPositions(f"{name} must have one value per id, shape ({n},) (got {got})")


def _column(name: str, value: object, n: int, *, degrees: bool = False) -> FloatArray:
    if isinstance(value, (bool, np.bool_)):
        raise InvalidType(f"{name} must be numbers, not a bool (got {shown(value)})")
    _not_bytes(name, value)
    _ordered(name, value)
    unmasked(name, value, InvalidPositions)
    try:
        arr = np.asarray(value)
    except ValueError:  # nested sequences of several lengths
        raise InvalidPositions(
            f"{name} must be a flat sequence of numbers, one per id (got nested sequences of "
            "different lengths)"
        ) from None
    if arr.dtype.kind == "O" and arr.ndim == 1:
        _check_none(name, arr)
        arr = _object_numbers(name, arr, degrees=degrees)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise InvalidType(f"{name} must be numbers (got {_dtype_text(arr)})")
    if bools_among_numbers(value, arr):
        raise InvalidType(f"{name} must be numbers, not booleans (got a bool among them)")
    if degrees:
        coarse_degrees(name, arr)
    if arr.shape != (n,):
        raise _not_per_id(name, arr, n)
    return np.array(arr, dtype=np.float64)


def _check_none(name: str, arr: npt.NDArray[Any]) -> None:
    """Refuse ``None`` among a column's numbers, saying that a missing value is NaN."""
    none = np.fromiter((v is None for v in arr), dtype=np.bool_, count=arr.size)
    if none.any():
        missing = (
            "a device without a fix has lon and lat both NaN"
            if name in ("lon", "lat")
            else "a row without a fix may have NaN"
        )
        raise InvalidType(
            f"{name} must be numbers, not None: {missing} (got None at "
            f"{_rows_text(np.flatnonzero(none))})"
        )


def _object_numbers(name: str, arr: npt.NDArray[Any], *, degrees: bool) -> FloatArray:
    """A 1-D object array of numbers as float64, read as the list of the same numbers is.

    Such arrays come from a mixed pandas frame's ``.values`` and from ``dtype=object``
    columns: ints and floats (numpy's too) are numbers; a bool, a text, a ``Decimal`` or any
    other object is refused naming its row (described, not quoted, unless a plain scalar).
    """
    if not only_numbers(arr):
        i = next(k for k, v in enumerate(arr.tolist()) if not only_numbers((v,)))
        raise InvalidType(f"{name} must be numbers (got {typed(arr[i])} at row {i})")
    if degrees and any(type(v) is np.float16 for v in arr):
        coarse_degrees(name, np.zeros(0, dtype=np.float16))
    try:
        return np.asarray(arr.astype(np.float64), dtype=np.float64)
    except OverflowError:  # a Python int beyond a double's range
        i = next(k for k, v in enumerate(arr) if not np.isfinite(as_float(v)))
        raise InvalidPositions(
            f"{name} must be finite numbers (got {shown(arr[i])}, beyond a double's range, at "
            f"row {i})"
        ) from None


def _observed(value: object, n: int) -> npt.NDArray[np.datetime64]:
    _ordered("observed_at", value)
    _arrow_column("observed_at", value)
    unmasked("observed_at", value, InvalidPositions)
    if isinstance(value, memoryview):  # (no buffer holds datetime64: numbers, or bytes)
        value = np.asarray(value)  # read as a list, a 2-D one raised NotImplementedError
    if isinstance(value, np.ndarray) and value.dtype.kind == "M":
        unit = np.datetime_data(value.dtype)[0]
        if unit in ("Y", "M", "W", "D"):
            raise InvalidPositions(
                f"observed_at must be instants, not dates (got dtype {value.dtype}, which holds "
                "no time of day: when that day a fix was taken is unknown, and it is never "
                "invented as midnight); give the times, e.g. as datetime64[s]"
            )
        arr = _utc_column(value)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        raise _epoch_numbers(f"dtype {value.dtype}", "values")
    elif _frame_numbers(value):
        dtype = getattr(value, "dtype", None)
        raise _epoch_numbers(f"a {type(value).__name__} of dtype {dtype}", "values.to_numpy()")
    elif (frame_times := _frame_times(value)) is not None:
        arr = _utc_column(frame_times)
    elif (zoned := _zoned_series(value)) is not None:
        arr = _utc_column(zoned)
    else:
        if _frame_objects(value):
            # A pandas Series or Index of datetime objects (fixes across a DST change keep
            # two offsets, which no datetime64 dtype holds): read as the list of them is.
            value = list(value)  # type: ignore[call-overload]
        if (
            isinstance(value, (str, bytes))
            or not isinstance(value, Sequence | np.ndarray)
            or not iterable(value)
        ):
            raise InvalidType(
                "observed_at must be one timezone-aware datetime, a sequence of them, a numpy "
                "datetime64 array or a timezone-aware pandas Series or DatetimeIndex or Polars "
                "Series "
                f"(got {typed(value)}{_one_time_hint(value)})"
            )
        items = list(value)
        out = np.empty(len(items), dtype="datetime64[us]")
        for i, t in enumerate(items):
            if t is None or (isinstance(t, dt.datetime) and t != t):  # pandas' NaT: unknown too
                out[i] = np.datetime64("NaT")
            elif isinstance(t, dt.datetime):
                tz, offset = t.tzinfo, t.utcoffset()
                if tz is None or offset is None:
                    raise InvalidPositions(
                        f"observed_at must be timezone-aware (got naive {shown(t)} at row {i})"
                    )
                if type(tz) is not dt.timezone and not _real_reading(t, tz, offset):
                    from geotarget.rollout._time import wall_time_problem

                    problem = wall_time_problem(t)
                    raise InvalidPositions(
                        f"observed_at must be real clock readings: at row {i}, {problem}"
                    )
                out[i] = utc_us(t, "observed_at", f" at row {i}")
            elif _gap(t):
                out[i] = np.datetime64("NaT")
            else:
                # (A container is described, not quoted: most likely a (lon, lat) pair.)
                raise InvalidType(
                    f"observed_at must hold timezone-aware datetimes or None "
                    f"(got {typed(t)} at row {i})"
                )
        arr = out
    if arr.shape != (n,):
        raise _not_per_id("observed_at", arr, n)
    return arr.astype("datetime64[us]")


def _gap(value: object) -> bool:
    """Whether ``value`` is a missing value other than None and NaT: pandas' NA, NaN, numpy's NaT.

    pandas writes a gap in a column of objects as any of them (``pd.NA`` after a nullable
    merge, NaN after a reindex); an unknown time, as a null in an Arrow or Polars column is.
    """
    if isinstance(value, (float, np.floating)):
        return bool(value != value)
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return type(value).__name__ == "NAType"


def _epoch_numbers(got: str, column: str) -> InvalidType:
    """The error for a column of bare numbers as ``observed_at`` (epoch seconds or milliseconds)."""
    return InvalidType(
        "observed_at must be timezone-aware datetimes or numpy datetime64 in UTC (got "
        f"{got}: bare numbers, and seconds and milliseconds cannot be told apart; convert "
        f"epoch seconds with {column}.astype('datetime64[s]'), epoch milliseconds with "
        f"{column}.astype('datetime64[ms]'))"
    )


def _frame_numbers(value: object) -> bool:
    """Whether ``value`` is a pandas or Polars column of numbers (epoch times, most likely).

    Recognised without importing either: not a numpy array, a ``to_numpy`` method, and a
    dtype of numpy's kind ``i``, ``u`` or ``f`` (pandas' own and nullable dtypes, Arrow-backed
    too) or one whose ``is_numeric()`` says so (Polars').
    """
    dtype = getattr(value, "dtype", None)
    if isinstance(value, np.ndarray) or not callable(getattr(value, "to_numpy", None)):
        return False
    if getattr(dtype, "kind", None) in ("i", "u", "f"):
        return True
    numeric = getattr(dtype, "is_numeric", None)
    return callable(numeric) and numeric() is True


def _real_reading(t: dt.datetime, tz: dt.tzinfo, offset: dt.timedelta) -> bool:
    """Whether a zone's datetime is a wall time its clocks show (not one a DST change skips).

    02:30 on the night Stockholm's clocks jump from 02:00 to 03:00 names no instant: Python
    reads it at one of the two offsets, an hour off the other. It is real iff the zone's
    offset at the instant it stands for is the offset it carries. (A pandas ``Timestamp`` is
    an instant by construction: pandas keeps such a wall time at an offset it states.)
    """
    if getattr(t, "nanosecond", None) is not None:  # a pandas Timestamp
        return True
    try:
        return t.astimezone(dt.timezone.utc).astimezone(tz).utcoffset() == offset
    except OverflowError:  # at the ends of datetime's range: utc_us refuses it, saying so
        return True


def _one_time_hint(value: object) -> str:
    """How to give ``value``, a single time that is not an aware ``datetime``, for a message."""
    if isinstance(value, str):
        return "; read ISO 8601 text with geotarget.parse_time(text), which keeps its offset"
    if isinstance(value, np.datetime64):
        return (
            "; a numpy datetime64 is read as UTC in an array of one per row: "
            "np.full(len(ids), value)"
        )
    if isinstance(value, dt.date):
        return "; a date holds no time of day, and none is invented: give the instant"
    if is_number(value):
        return (
            "; bare numbers are refused, as seconds and milliseconds cannot be told apart: "
            "datetime.fromtimestamp(secs, timezone.utc) reads epoch seconds"
        )
    return ""


def _frame_times(value: object) -> npt.NDArray[np.datetime64] | None:
    """A pandas-like column of datetimes (a ``Series``, ``DatetimeIndex``) as ``datetime64`` UTC.

    Read without importing pandas: an object (not a numpy array) with a ``to_numpy`` method and
    a ``datetime64`` dtype. A timezone-aware one (its dtype has a ``tz``) holds UTC instants, and
    ``to_numpy`` in its own unit returns them; a naive one is refused, as naive datetimes are.
    ``None`` for anything else.
    """
    dtype = getattr(value, "dtype", None)
    if (
        isinstance(value, np.ndarray)
        or getattr(dtype, "kind", None) != "M"
        or not callable(getattr(value, "to_numpy", None))
    ):
        return None
    kind = type(value).__name__
    # pandas' Arrow-backed dtype (``timestamp[us, tz=UTC][pyarrow]``, as ``dtype_backend=
    # "pyarrow"`` reads a file) keeps its zone and unit on the Arrow type it wraps.
    stamp = getattr(dtype, "pyarrow_dtype", dtype)
    if str(stamp).startswith(("date32", "date64")):  # Arrow's dates (a date-only column)
        raise InvalidPositions(
            f"observed_at must be instants, not dates (got a {kind} of dtype {dtype}, which "
            "holds no time of day: when that day a fix was taken is unknown, and it is never "
            "invented as midnight); give the times"
        )
    if getattr(stamp, "tz", None) is None:
        localize = ".dt.tz_localize" if hasattr(value, "dt") else ".tz_localize"
        raise InvalidPositions(
            f"observed_at must be timezone-aware (got a naive {kind} of dtype {dtype}; "
            f"say its zone, e.g. observed_at{localize}('UTC') if it holds UTC times, or "
            f"{localize}('Europe/Stockholm'))"
        )
    unit = getattr(stamp, "unit", "ns")
    if unit not in ("s", "ms", "us", "ns"):
        unit = "ns"
    arr = np.asarray(value.to_numpy(dtype=f"datetime64[{unit}]"))  # type: ignore[attr-defined]
    if arr.dtype.kind != "M":  # pragma: no cover - a to_numpy that ignored the dtype
        raise InvalidType(f"observed_at must be datetimes (got {kind} of dtype {dtype})")
    return arr


def _zoned_series(value: object) -> npt.NDArray[np.datetime64] | None:
    """A Polars-like column of datetimes (its dtype has a ``time_zone``) as ``datetime64`` UTC.

    Read without importing Polars: not a numpy array, a dtype with ``time_unit`` and
    ``time_zone``, and a ``to_numpy`` that gives the UTC instants of a zoned column (nulls
    NaT). A column without a zone (``time_zone`` None) holds wall times: refused, as naive
    datetimes are. ``None`` for anything else.
    """
    dtype = getattr(value, "dtype", None)
    if (
        isinstance(value, np.ndarray)
        or not hasattr(dtype, "time_zone")
        or not hasattr(dtype, "time_unit")
        or not callable(getattr(value, "to_numpy", None))
    ):
        return None
    if getattr(dtype, "time_zone", None) is None:
        raise InvalidPositions(
            f"observed_at must be timezone-aware (got a {type(value).__name__} of dtype {dtype}, "
            "without a time zone; say its zone, e.g. observed_at.dt.replace_time_zone('UTC') "
            "if it holds UTC times, or ('Europe/Stockholm'))"
        )
    arr = np.asarray(value.to_numpy())  # type: ignore[attr-defined]
    if arr.dtype.kind != "M":  # pragma: no cover - a to_numpy that gave no datetimes
        raise InvalidType(f"observed_at must be datetimes (got {type(value).__name__} {dtype})")
    return arr


def _frame_objects(value: object) -> bool:
    """Whether ``value`` is a pandas-like column of Python objects (a ``Series``, an ``Index``).

    Recognised without importing pandas: not a numpy array, an object dtype, a ``to_numpy``
    method and a length.
    """
    return (
        not isinstance(value, np.ndarray)
        and getattr(getattr(value, "dtype", None), "kind", None) == "O"
        and callable(getattr(value, "to_numpy", None))
        and hasattr(value, "__len__")
    )


def _tester(value: object, n: int) -> BoolArray:
    _ordered("tester", value)
    unmasked("tester", value, InvalidPositions)
    arr = np.asarray(value)
    if arr.dtype.kind == "O" and arr.ndim == 1:  # (pandas' "boolean" with NA, [True, None])
        flags = arr.tolist()
        if all(type(v) in (bool, np.bool_) for v in flags):
            arr = np.array(flags, dtype=np.bool_)
        else:
            i = next(k for k, v in enumerate(flags) if type(v) not in (bool, np.bool_))
            raise InvalidType(
                f"tester must be booleans, one per id (got {typed(flags[i])} at row {i})"
            )
    if arr.size == 0 and arr.ndim == 1:  # ([] reads as float64: no value to be anything else)
        arr = np.zeros(0, dtype=np.bool_)
    if arr.dtype != np.bool_:
        raise InvalidType(f"tester must be booleans (got dtype {arr.dtype})")
    if arr.shape != (n,):
        raise _not_per_id("tester", arr, n)
    return np.array(arr, dtype=np.bool_)


#: The arrays of a :class:`Positions` that are read-only, by attribute name.
_COLUMNS = ("ids", "lon", "lat", "accuracy_m", "observed_at", "tester", "_id_rank")


def _frozen(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    arr.flags.writeable = False
    return arr


# ---------------------------------------------------------------------------------------------
# Positions
# ---------------------------------------------------------------------------------------------


@attrs.frozen(eq=False, init=False, slots=False)
class Positions:
    """A validated, immutable snapshot of device positions, one row per device.

    Parameters
    ----------
    ids : sequence of str or sequence of int
        One unique id per device: all ``str`` (non-empty, at most 256 characters, valid
        Unicode without NUL) or all ``int``. Stored as a numpy ``str_`` or ``int64`` array
        (text ids cost 4 bytes a character of the longest id, for every row), and each
        row's place in id order is kept (4 bytes a row). Ids are kept verbatim, and compared
        so (``"ABC"`` and ``"abc"`` are two devices), but two that are one text in two Unicode
        normalisation forms (``"café"`` in NFC and NFD) are refused as not unique. A
        ``uuid.UUID`` id (as database drivers hand over a ``uuid`` column) is its
        canonical text, ``str(u)``, as the Parquet and Arrow readers read a UUID column.
        ``bytes``, a ``bytearray`` or a ``memoryview`` of one is refused (as a column, its
        bytes would be read as small integers).

        .. versionchanged:: 0.1.0
           UUID ids are read as their text (they were refused); a ``bytearray`` or
           ``memoryview`` of bytes is refused (its bytes were read as int ids).
    lon, lat : array_like of float
        WGS84 degrees (an object array is read as the list of its numbers). ``lon`` and
        ``lat`` **both NaN** means the device has no fix: the row is kept, never matched and
        never listed by a classification (:attr:`has_fix` finds it).
    accuracy_m : array_like of float, optional
        The reported horizontal accuracy (68 % radius) in metres, finite, ``>= 0`` and at most
        the Earth's circumference (40,075,017 m) for every row with a fix (ignored, and may be
        NaN, for rows without). Default: 0 (exact fixes).
    observed_at : datetime, sequence of datetime, numpy datetime64 array or pandas Series
        **Required.** When each fix was observed: one timezone-aware ``datetime`` for the whole
        snapshot, or a column of timezone-aware ``datetime`` objects (``None``, pandas'
        ``NaT`` or ``NA``, NaN or numpy's ``NaT`` for unknown, as a null in an Arrow-backed or
        Polars column is) or
        a ``datetime64`` array read as **UTC** (``NaT`` for unknown; dates alone,
        ``datetime64[D]``, are refused: no time of day is invented), or a timezone-aware
        pandas ``Series`` or ``DatetimeIndex`` (any zone, Arrow-backed too; ``NaT`` for
        unknown; a naive one is refused: ``.dt.tz_localize`` says its zone), or a ``Series``
        of ``datetime`` objects (as fixes with two UTC offsets are held), or a Polars
        ``Series`` of ``Datetime`` with a time zone (nulls unknown; one without a zone is
        refused). A fix of unknown
        time is never current (unless a rule accepts any age). Naive datetimes and bare
        numbers (epoch seconds) are rejected; convert epoch seconds with
        ``secs.astype("datetime64[s]")``.
        Every instant must lie within the years 1 to 9999 in UTC (as :func:`parse_time`
        reads). Stored as ``datetime64[us]`` UTC.

        .. versionchanged:: 0.1.0
           Required (it was optional, and its absence made every fix unknown); one
           ``datetime`` may stand for the whole snapshot.
    tester : array_like of bool, optional
        Devices flagged as testers (they receive Test and Exercise alerts). Default: all False.

    Raises
    ------
    InvalidPositions
        For duplicate ids, columns of the wrong length, one of lon/lat NaN, infinite or
        out-of-range coordinates, negative or non-finite accuracy, naive datetimes, a missing
        ``observed_at`` or one outside the years 1 to 9999 in UTC, or pandas ``Series`` columns
        whose indexes differ (columns pair by position, not by label). The message names the
        offending rows.
    InvalidType
        For columns of the wrong type (e.g. booleans as coordinates, mixed str and int ids,
        ``None`` among numbers, an unordered set, frozenset or dict, whose values would pair
        with the wrong rows, or a one-shot iterator such as a generator: pass ``list(...)``).

    Examples
    --------
    >>> import datetime as dt
    >>> import numpy as np
    >>> from geotarget import Positions
    >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    >>> p = Positions(["a", "b", "c"], [18.07, 18.08, np.nan], [59.33, 59.34, np.nan],
    ...               accuracy_m=[10.0, 25.0, np.nan], observed_at=now)
    >>> len(p), p.has_fix.tolist()
    (3, [True, True, False])
    >>> Positions(["a", "a"], [18.0, 18.1], [59.0, 59.1], observed_at=now)
    Traceback (most recent call last):
    ...
    geotarget.errors.InvalidPositions: ids must be unique (got 'a' at rows 0, 1; 1 duplicate in all)
    >>> Positions(["a"], [18.0], [59.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geotarget.errors.InvalidPositions: observed_at is required: pass one timezone-aware datetime ...

    .. versionadded:: 0.1.0
    """

    ids: npt.NDArray[Any]
    lon: FloatArray
    lat: FloatArray
    accuracy_m: FloatArray
    observed_at: npt.NDArray[np.datetime64]
    tester: BoolArray
    #: Each row's place among the ids sorted (numpy's order: ints ascending, text by code
    #: point), kept from the uniqueness check: 4 bytes a row (:meth:`id_order`).
    _id_rank: npt.NDArray[np.signedinteger[Any]] = attrs.field(init=False, repr=False)

    def __init__(
        self,
        ids: Sequence[str] | Sequence[int] | Sequence[uuid.UUID] | npt.NDArray[Any],
        lon: Any,
        lat: Any,
        *,
        accuracy_m: Any = None,
        observed_at: Any = None,
        tester: Any = None,
    ) -> None:
        _aligned(
            {
                "ids": ids,
                "lon": lon,
                "lat": lat,
                "accuracy_m": accuracy_m,
                "observed_at": observed_at,
                "tester": tester,
            }
        )
        id_arr, order = _id_array(ids)
        n = id_arr.size
        x = _column("lon", lon, n, degrees=True)
        y = _column("lat", lat, n, degrees=True)
        nan_x = np.isnan(x)
        nan_y = np.isnan(y)
        if np.any(nan_x != nan_y):
            # Which one is NaN, per row; the other coordinate is not quoted (it is half of a
            # device's position, and the message is logged; the rule is about the NaN).
            groups = [
                f"{which} at {_rows_text(np.flatnonzero(rows))}"
                for which, rows in (
                    ("lon NaN and lat a number", nan_x & ~nan_y),
                    ("lon a number and lat NaN", ~nan_x & nan_y),
                )
                if rows.any()
            ]
            raise InvalidPositions(
                f"lon and lat must be both NaN (no fix) or both numbers (got {'; '.join(groups)})"
            )
        no_fix = nan_x & nan_y
        _check_rows("lon", ~no_fix & ~(np.abs(x) <= 180.0), "finite and within [-180, 180]", x)
        _check_rows("lat", ~no_fix & ~(np.abs(y) <= 90.0), "finite and within [-90, 90]", y)
        if accuracy_m is None:
            acc = np.where(no_fix, np.nan, 0.0)
        else:
            acc = _column("accuracy_m", accuracy_m, n)
            _check_rows(
                "accuracy_m",
                ~no_fix & ~((acc >= 0.0) & (acc <= _MAX_ACCURACY_M)),
                f"finite, >= 0 and <= {_MAX_ACCURACY_M:,.0f} (the Earth's circumference) for "
                "every row with a fix",
                acc,
            )
        if observed_at is None:
            raise InvalidPositions(
                "observed_at is required: pass one timezone-aware datetime for the whole "
                "snapshot (observed_at=datetime.now(timezone.utc)) or one time per row (got none)"
            )
        if isinstance(observed_at, dt.datetime):
            if observed_at != observed_at:  # pandas' NaT: no time, for every fix
                raise InvalidPositions(
                    "observed_at must be a time: one for the whole snapshot, or one per row "
                    "with NaT for the fixes of unknown time (got NaT for the whole snapshot: no "
                    "fix would have an age, and nobody would be located)"
                )
            stamp = aware_us(observed_at, "observed_at")
            obs = np.full(n, stamp, dtype="datetime64[us]")
        else:
            obs = _observed(observed_at, n)
        test = np.zeros(n, dtype=np.bool_) if tester is None else _tester(tester, n)
        self.__attrs_init__(
            _frozen(id_arr), _frozen(x), _frozen(y), _frozen(acc), _frozen(obs), _frozen(test)
        )
        rank = np.empty(n, dtype=np.int32 if n < 1 << 31 else np.int64)
        rank[order] = np.arange(n, dtype=rank.dtype)
        object.__setattr__(self, "_id_rank", _frozen(rank))

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled or deep-copied, the columns come back writeable: read-only again, as the
        # snapshot's are (an index built on a copy must not see it changed in place).
        for name in _COLUMNS:
            if isinstance(state.get(name), np.ndarray):
                state[name].flags.writeable = False
        self.__dict__.update(state)

    def __len__(self) -> int:
        return int(self.ids.size)

    def __repr__(self) -> str:
        # Positions are personal data: the repr shows counts, never ids or coordinates.
        n, fix, testers = len(self), int(self.has_fix.sum()), int(self.tester.sum())
        return (
            f"<Positions: {n:,} device{'' if n == 1 else 's'}, {fix:,} with a fix, "
            f"{testers:,} tester{'' if testers == 1 else 's'}>"
        )

    @property
    def has_fix(self) -> BoolArray:
        """Whether each row has a fix (``lon`` and ``lat`` not NaN)."""
        return ~np.isnan(self.lon)

    def id_order(self, rows: npt.ArrayLike) -> npt.NDArray[np.intp] | None:
        """Positions into ``rows`` that put their ids in ascending order, or None.

        None when their ids ascend already (a snapshot built in id order, for instance). One
        gather and one stable sort of integer keys (each row's place in the snapshot's id
        order, kept from the uniqueness check), by 16-bit digits from a few thousand rows up:
        linear in the rows, a small share of a sort of the ids themselves, and no string
        comparison. Rows given twice keep their order.

        Parameters
        ----------
        rows : array_like of int
            Row indices into the snapshot, 1-D.

        Returns
        -------
        numpy.ndarray of intp or None
            ``rows[perm]`` has ascending ids; None: ``rows`` has already.

        Raises
        ------
        InvalidType
            If ``rows`` is not a 1-D array of integers.
        InvalidInput
            If a row lies outside the snapshot (the first is named).

        Examples
        --------
        >>> import datetime as dt
        >>> from geotarget import Positions
        >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
        >>> p = Positions(["c", "a", "b"], [18.0] * 3, [59.0] * 3, observed_at=now)
        >>> p.id_order([0, 1, 2]).tolist()
        [1, 2, 0]
        >>> p.id_order([1, 2]) is None
        True

        .. versionadded:: 0.1.0
        """
        return self._id_order_of(self._rows_checked(rows))

    def _id_order_of(self, rows: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.intp] | None:
        """:meth:`id_order` of rows already checked."""
        rank = self._id_rank.take(rows)
        if _sorted.ascending(rank):
            return None
        # The ranks lie below the snapshot's size: a radix sort's keys (16-bit digits, stable).
        return _sorted.order(rank, len(self)).astype(np.intp, copy=False)

    def sorted_ids(self, rows: npt.ArrayLike) -> npt.NDArray[Any]:
        """The ids of ``rows``, ascending.

        The rows are ordered by the place of their ids (:meth:`id_order`: the snapshot's
        ranks of its ids, kept from its uniqueness check, sorted by 16-bit digits), then their
        ids gathered: for 37,000 rows that costs about two fifths of gathering integer ids and
        sorting them as they are (``benchmarks/compare_id_order.py``). A few thousand rows or
        fewer, integer ids are sorted as gathered, which then costs less. Stores of deliveries
        take sorted ids without sorting them again.

        Parameters
        ----------
        rows : array_like of int
            Row indices into the snapshot, 1-D.

        Returns
        -------
        numpy.ndarray
            The ids, of the snapshot's id dtype.

        Raises
        ------
        InvalidType
            If ``rows`` is not a 1-D array of integers.
        InvalidInput
            If a row lies outside the snapshot (the first is named).

        Examples
        --------
        >>> import datetime as dt
        >>> from geotarget import Positions
        >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
        >>> p = Positions([7, 3, 5], [18.0] * 3, [59.0] * 3, observed_at=now)
        >>> p.sorted_ids([0, 2]).tolist()
        [5, 7]

        .. versionadded:: 0.1.0
        """
        checked = self._rows_checked(rows)
        if self.ids.dtype.kind == "i" and checked.size < _sorted.RADIX_FROM:
            ids = self.ids.take(checked)
            if not _sorted.ascending(ids):
                ids.sort()
            return ids
        perm = self._id_order_of(checked)
        return self.ids.take(checked if perm is None else checked.take(perm))

    def _rows_checked(self, rows: npt.ArrayLike) -> npt.NDArray[np.integer[Any]]:
        """``rows`` as a 1-D integer array of rows of this snapshot (as given when it is one)."""
        rule = "rows must be a 1-D array of integer row indices"
        try:
            arr = rows if isinstance(rows, np.ndarray) else np.asarray(rows)
        except (ValueError, TypeError, RecursionError):  # ragged nesting
            raise InvalidType(
                f"{rule} (got a ragged {type(rows).__name__} {shown(rows, 60)})"
            ) from None
        if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size):
            raise InvalidType(
                f"{rule} (got {arr.ndim}-D {arr.dtype}: {type(rows).__name__} {shown(rows, 60)})"
            )
        if arr.size:
            low, high = int(arr.min()), int(arr.max())
            if low < 0 or high >= len(self):
                bad = low if low < 0 else high
                raise InvalidInput(
                    f"rows must lie in the snapshot, 0 to {len(self) - 1} (got row {bad})"
                )
        return arr if arr.dtype.kind in "iu" else arr.astype(np.intp)

    @functools.cached_property
    def no_fix_rows(self) -> npt.NDArray[np.intp]:
        """The rows without a fix, sorted (computed once per snapshot).

        A device without a fix is near no area, so the pipeline reports these rows for every
        alert (as ``Outcome.NO_FIX``) without scanning the snapshot again.

        .. versionadded:: 0.1.0
        """
        return _frozen(np.flatnonzero(np.isnan(self.lon)))

    def rows_of(
        self, ids: Sequence[str] | Sequence[int] | Sequence[uuid.UUID] | npt.NDArray[Any]
    ) -> npt.NDArray[np.intp]:
        """Return the row index of each id.

        An id is its text, as in the delivery stores and retractions: ``7`` finds the id
        ``"7"`` and ``"7"`` the id ``7`` (``"007"`` is another device), so the text ids a
        result's ``retract`` gives find their rows in a snapshot of int ids.

        .. versionchanged:: 0.1.0
           A text id finds an int id of the same text, and an int id a text id: either was
           an unknown id.

        Raises
        ------
        UnknownCode
            If an id is not in the snapshot (the first missing id is named).
        InvalidType
            If ``ids`` is not a sequence of str ids or of int ids.

        Examples
        --------
        >>> from geotarget import Positions
        >>> import datetime as dt
        >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
        >>> p = Positions([7, 3, 5], [18.0, 18.1, 18.2], [59.0, 59.1, 59.2], observed_at=now)
        >>> p.rows_of([5, 7]).tolist()
        [2, 0]
        """
        from geotarget.errors import UnknownCode

        want = given = _ids(ids)  # a sequence of str or int ids, or InvalidType/InvalidPositions
        if want.size and (want.dtype.kind == "U") != (self.ids.dtype.kind == "U"):
            # Identity is the id's text (geotarget.ledger._batch.split_canonical): compared in
            # the snapshot's own kind (numpy cannot order str against int).
            if self.ids.dtype.kind == "U":
                want = want.astype(np.str_)  # an int64's canonical text
            else:
                from geotarget.ledger._batch import split_canonical

                ints, at, _, other = split_canonical(want)
                if other.size:  # no int's canonical text ("007", "a"): in no int snapshot
                    missing = want[int(other.min())].item()
                    raise UnknownCode(
                        f"ids must be in the snapshot (got unknown id {shown(missing)})"
                    )
                want = np.empty(want.size, dtype=np.int64)
                want[at] = ints
        order = np.argsort(self.ids, kind="stable")
        srt = self.ids[order]
        pos = np.searchsorted(srt, want)
        pos_c = np.minimum(pos, max(srt.size - 1, 0))
        found = (pos < srt.size) & (srt[pos_c] == want) if srt.size else np.zeros(want.shape, bool)
        if not np.all(found):
            missing = given[np.flatnonzero(~found)[0]].item()
            raise UnknownCode(f"ids must be in the snapshot (got unknown id {shown(missing)})")
        return np.asarray(order[pos_c], dtype=np.intp)

    def age_seconds(self, at: dt.datetime) -> FloatArray:
        """Seconds between each fix's ``observed_at`` and ``at`` (NaN where unknown).

        Parameters
        ----------
        at : datetime.datetime
            Timezone-aware.
        """
        t = aware_us(at)
        return np.asarray((t - self.observed_at) / np.timedelta64(1, "s"), dtype=np.float64)

    def rounding_note(self) -> str | None:
        """A note when the fixes' coordinates are rounded more coarsely than their accuracy.

        A spreadsheet exports a number as its cell shows it: a column formatted ``0.00``
        writes 59.33 for 59.3325, about 300 m off, while ``accuracy_m`` still claims 5 m.
        Nothing in such a snapshot is invalid, so it is not refused; this finds it (the command
        prints the note as a warning). It answers one sentence when

        * the snapshot has at least 10 fixes (a few hand-written rows with values like
          ``59.3`` are meant as written),
        * every fix's ``lon``, or every fix's ``lat``, is a multiple of 1, 0.1, 0.01 or 0.001
          degrees (the coarsest that holds is named; rounding to 0.0001 degrees moves a fix by
          at most 6 m, so finer grids are not looked for), and
        * the distance that rounding may have moved a fix (half the grid cell's diagonal
          there, on the WGS84 ellipsoid) exceeds the ``accuracy_m`` of at least one fix,

        and None otherwise. The note gives counts and distances only, never a position.

        .. versionadded:: 0.1.0

        Examples
        --------
        >>> import datetime as dt
        >>> from geotarget import Positions
        >>> now = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
        >>> lon = [18.01 + 0.01 * i for i in range(10)]
        >>> p = Positions([str(i) for i in range(10)], lon, [59.33] * 10,
        ...               accuracy_m=[5.0] * 10, observed_at=now)
        >>> print(p.rounding_note())  # doctest: +ELLIPSIS
        every fix's lon and lat lie on a grid of 0.01 degrees (2 decimals), ... up to 626 m, ...
        >>> Positions(["a"], [18.0], [59.0], observed_at=now).rounding_note() is None
        True
        """
        found = _detect_rounding(self)
        return None if found is None else str(found)


# ---------------------------------------------------------------------------------------------
# Coordinates rounded to a coarse grid
# ---------------------------------------------------------------------------------------------

#: The grids :meth:`Positions.rounding_note` looks for, in decimals of a degree: whole degrees to
#: 0.001° (111 m of latitude). Rounding to 0.0001° moves a fix by at most 6 m.
_ROUNDING_DECIMALS = (0, 1, 2, 3)
#: :meth:`Positions.rounding_note` says nothing of fewer fixes than this: a hand-written file
#: of a few rows at ``59.3, 18.1`` is meant as written. (Ten values of a column written with
#: six decimals all on a 0.001° grid by chance: a chance of one in 10**30.)
_ROUNDING_MIN_FIXES = 10
#: A coordinate within this many degrees of a grid point lies on it: a float32 column's
#: rounding (half a unit in the last place is at most 7.6e-6 degrees up to 180) is not a
#: decimal.
_GRID_TOLERANCE = 1e-5


def _grid_decimals(values: FloatArray) -> int | None:
    """The fewest decimals (of :data:`_ROUNDING_DECIMALS`) that write every value, or None."""

    def on_grid(part: FloatArray, decimals: int) -> bool:
        scaled = part * 10.0**decimals
        return bool(np.all(np.abs(scaled - np.rint(scaled)) <= _GRID_TOLERANCE * 10.0**decimals))

    for decimals in _ROUNDING_DECIMALS:  # (a few rows first: most files are on no grid)
        if on_grid(values[:1024], decimals) and on_grid(values, decimals):
            return decimals
    return None


@attrs.frozen
class _Rounding:
    """A snapshot's coordinates rounded to a coarse grid (:meth:`Positions.rounding_note`).

    ``str()`` is the note (counts and distances only, never a position).
    """

    #: The decimals every fix's ``lon`` (``lat``) is written with at most; None: finer.
    lon_decimals: int | None
    lat_decimals: int | None
    #: The fixes looked at, and how many of them claim an ``accuracy_m`` below the distance
    #: the rounding may have moved them.
    fixes: int
    contradicted: int
    #: The farthest the rounding may have moved a fix (half a grid cell's diagonal), metres.
    max_shift_m: float

    def __str__(self) -> str:
        def step(decimals: int) -> str:
            if decimals == 0:
                return "whole degrees"
            return f"{10.0**-decimals:g} degrees ({decimals} decimal{'s' * (decimals > 1)})"

        x, y = self.lon_decimals, self.lat_decimals
        if x is not None and y is not None:
            axes = (
                f"every fix's lon and lat lie on a grid of {step(x)}"
                if x == y
                else f"every fix's lon lies on a grid of {step(x)} and its lat on one of {step(y)}"
            )
        elif x is not None:
            axes = f"every fix's lon lies on a grid of {step(x)}"
        else:
            axes = f"every fix's lat lies on a grid of {step(y or 0)}"
        return (
            f"{axes}, as a spreadsheet exports a column formatted to show fewer decimals than "
            f"it holds: rounding to that grid moves a fix by up to {self.max_shift_m:,.0f} m, "
            f"more than the accuracy_m of {self.contradicted:,} of {self.fixes:,} fixes, so "
            "a device near an area's edge may be told or left out wrongly; export lon and lat "
            "with all their decimals (six or more)"
        )


def _detect_rounding(positions: Positions) -> _Rounding | None:
    """What :meth:`Positions.rounding_note` says, as fields (None: nothing to say)."""
    fix = positions.has_fix
    fixes = int(fix.sum())
    if fixes < _ROUNDING_MIN_FIXES:
        return None
    lon, lat = positions.lon[fix], positions.lat[fix]
    lon_decimals, lat_decimals = _grid_decimals(lon), _grid_decimals(lat)
    if lon_decimals is None and lat_decimals is None:
        return None
    half_x = 0.0 if lon_decimals is None else 0.5 * 10.0**-lon_decimals
    half_y = 0.0 if lat_decimals is None else 0.5 * 10.0**-lat_decimals
    # The length of a degree of latitude at each fix and of longitude at its grid cell's edge
    # nearer the equator, where it is longest (WGS84, to a metre): "up to" is not too short.
    phi = np.radians(lat)
    edge = np.radians(np.maximum(np.abs(lat) - half_y, 0.0))
    degree_y = 111_132.954 - 559.822 * np.cos(2.0 * phi) + 1.175 * np.cos(4.0 * phi)
    degree_x = 111_412.84 * np.cos(edge) - 93.5 * np.cos(3.0 * edge)
    shift = np.hypot(half_x * np.maximum(degree_x, 0.0), half_y * degree_y)
    contradicted = int((positions.accuracy_m[fix] < shift).sum())
    if not contradicted:
        return None
    return _Rounding(lon_decimals, lat_decimals, fixes, contradicted, float(shift.max()))


#: The longest text a :func:`parse_time` message quotes whole.
_SHOW_CHARS = 80


def parse_time(text: str, *, field: str = "time", offset_required: bool = True) -> dt.datetime:
    """Read an ISO 8601 date-time the way geotarget reads it everywhere, on every Python.

    This is the reader of the command's ``--at`` and ``--observed-at``, of ``observed_at`` in
    position files and of the reference service's ``?at=``: use it for the times your service
    receives as text, so that they are read as geotarget reads them. Python 3.10's
    ``datetime.fromisoformat`` reads far fewer forms than 3.11's; this reads the
    same forms on both: the extended format, a date alone or with ``T`` (or a space) and
    ``hh:mm[:ss[.fff]]`` (1 to 9 fraction digits, a comma allowed, cut to the microsecond), then
    ``Z`` or an offset ``+hh:mm``, ``+hhmm`` or ``+hh``, perhaps followed by the zone's name in
    brackets as Java's ``ZonedDateTime`` writes it (``2024-05-20T14:00+02:00[Europe/Stockholm]``,
    RFC 9557: the offset says the instant, and must be the zone's then). Basic format
    (``20240520T1400Z``), week dates, ``24:00`` and digits other than ASCII are refused.

    .. versionadded:: 0.1.0

    Parameters
    ----------
    text : str
        The date-time as written.
    field : str, default "time"
        What the text is, named by the error message (``"at"``, ``"observed_at[3]"``).
    offset_required : bool, default True
        Refuse a time without a UTC offset (it names no instant). When false, such a time is
        returned naive, for the caller to place in a zone.

    Returns
    -------
    datetime.datetime
        Timezone-aware with the offset written (``Z`` is UTC), or naive when none is written
        and ``offset_required`` is false.

    Raises
    ------
    InvalidInput
        Naming ``field``, the rule and the text: not ISO 8601 as above, an offset out of range,
        a date that does not exist, no offset when one is required, or an instant outside the
        years 1 to 9999 in UTC (``0001-01-01T00:00+14:00`` lies in the year 0 there): the
        range :class:`Positions` and :class:`~geotarget.Targeter` take.

        .. versionchanged:: 0.1.0
           An instant outside the years 1 to 9999 in UTC is refused (it was returned, and
           refused later with an ``OverflowError``).
    InvalidType
        When ``text`` is not a ``str``.

    Examples
    --------
    >>> at = parse_time("2024-05-20T14:00+02:00")
    >>> at.isoformat(), at.utcoffset()
    ('2024-05-20T14:00:00+02:00', datetime.timedelta(seconds=7200))
    >>> parse_time("2024-05-20 12:00:00,5Z").isoformat()
    '2024-05-20T12:00:00.500000+00:00'
    >>> parse_time("2024-05-20T14:00", offset_required=False)
    datetime.datetime(2024, 5, 20, 14, 0)
    >>> from geotarget.errors import InvalidInput
    >>> for text in ["2024-05-20T14:00", "20/05/2024 14:00"]:
    ...     try:
    ...         parse_time(text, field="at")
    ...     except InvalidInput as err:
    ...         print(err)  # doctest: +NORMALIZE_WHITESPACE
    at must carry a UTC offset, e.g. 2024-05-20T14:00+02:00 (got '2024-05-20T14:00')
    at must be an ISO 8601 date-time such as 2024-05-20T14:00:00+02:00 (or ...Z)
        (got '20/05/2024 14:00')
    """
    from geotarget._validate import iso_datetime

    if not isinstance(field, str):
        raise InvalidType(f"field must be a str (got {type(field).__name__})")
    if not isinstance(text, str):
        raise InvalidType(f"{field} must be ISO 8601 text (got {typed(text)})")
    from geotarget._position_files import BRACKETED_ZONE, zone_agrees

    bracket = BRACKETED_ZONE.fullmatch(text)
    try:
        value = iso_datetime(text if bracket is None else bracket.group(1))
    except ValueError as err:
        raise InvalidInput(f"{field} {err} (got {_shown_text(text)})") from None
    if offset_required and value.tzinfo is None:
        raise InvalidInput(
            f"{field} must carry a UTC offset, e.g. 2024-05-20T14:00+02:00 "
            f"(got {_shown_text(text)})"
        )
    if value.tzinfo is not None:
        try:
            value.astimezone(dt.timezone.utc)  # the instant has a datetime in UTC
        except OverflowError:
            raise InvalidInput(f"{field} {YEARS_RULE} (got {_shown_text(text)})") from None
    if bracket is not None:
        try:
            zone_agrees(value, bracket.group(2))
        except (ValueError, OverflowError) as err:
            rule = str(err) if isinstance(err, ValueError) else YEARS_RULE
            raise InvalidInput(f"{field} {rule} (got {_shown_text(text)})") from None
    return value


def _shown_text(value: object) -> str:
    """``value`` for a message, a long one cut with its length said; a pair described.

    A container, or a text of two decimal numbers, is most likely a position: described
    (:func:`~geotarget._validate.typed`, :func:`~geotarget._validate.pair_text`), not quoted.
    """
    pair = pair_text(value)
    if pair is not None:
        return pair
    shown = repr(value)
    if len(shown) <= _SHOW_CHARS:
        return shown
    size = f" ({len(value)} characters)" if isinstance(value, (str, bytes)) else ""
    return f"{shown[:_SHOW_CHARS]}…{size}"


def _utc_column(arr: npt.NDArray[np.datetime64]) -> npt.NDArray[np.datetime64]:
    """A ``datetime64`` column as ``datetime64[us]``, every instant within :data:`YEARS_RULE`.

    numpy's cast to microseconds wraps a coarse value past its range around without a word
    (``datetime64`` seconds of 2**62 became 1970): a value that does not cast back is refused,
    as is one outside the years a ``datetime`` holds (so ages and ``.item()`` never overflow).
    """
    us = arr.astype("datetime64[us]")
    known = ~np.isnat(arr)
    bad = known & ((us < FIRST_US) | (us > LAST_US))
    if np.datetime_data(arr.dtype)[0] not in ("ns", "ps", "fs", "as"):  # coarser: may wrap
        bad |= known & (us.astype(arr.dtype) != arr)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = np.datetime_as_string(arr[rows[0]])
        raise InvalidPositions(f"observed_at {YEARS_RULE} (got {shown} at {_rows_text(rows)})")
    return us


def _current_mask(positions: Positions, rule: LocationRule, at: dt.datetime) -> BoolArray:
    """Rows whose fix exists and is not older than ``rule.max_age`` at ``at`` (private glue)."""
    fix = positions.has_fix
    if rule.max_age is None:
        return fix
    cutoff = aware_us(at) - np.timedelta64(rule.max_age // dt.timedelta(microseconds=1), "us")
    return fix & (positions.observed_at >= cutoff)
