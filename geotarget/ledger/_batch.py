"""Batches of device ids and delivery keys, vectorised; shared by every store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget import _sorted
from geotarget._validate import is_integer, iterable, surrogate_rows, typed, unmasked
from geotarget.errors import InvalidInput, InvalidType
from geotarget.ledger._model import Confirmation, DeviceIds, IdArray, shown

_I64 = np.iinfo(np.int64)


def split_canonical(
    values: IdArray,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], IdArray, npt.NDArray[np.int64]]:
    """Split ids into (ints, their positions, other strings, their positions).

    A string that is the canonical text of an ``int64`` (``"7"``, ``"-12"``, not ``"007"``,
    ``"-0"``, ``"+7"`` or ``"٧"``) is that integer, so ``7`` and ``"7"`` are one device.
    Strings are read through their code points, one column at a time (at most 20 columns): no
    per-id conversion, which for text ids cost more than the rest of a claim.
    """
    n = values.size
    every = np.arange(n, dtype=np.int64)
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False), every, np.array([], dtype=np.str_), every[:0]
    if n == 0:
        return np.array([], dtype=np.int64), every, values, every
    ints, is_int = _canonical_ints(values)
    if ints.size == 0:  # (the usual text ids: no copy of them)
        return ints, every[:0], values, every
    return ints, every[is_int], values[~is_int], every[~is_int]


#: ASCII ``-`` and ``0``; an int64's canonical text has at most 19 digits and a sign.
_MINUS, _ZERO = 45, 48
_MAX_CHARS = 20


def _canonical_ints(values: IdArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """(the ints, which ids are one) for an array of strings, by code-point arithmetic."""
    width = values.dtype.itemsize // 4
    cols = min(width, _MAX_CHARS)
    is_int = np.zeros(values.size, dtype=np.bool_)
    if width == 0:
        return np.array([], dtype=np.int64), is_int
    cp = np.ascontiguousarray(values, dtype=values.dtype).view(np.uint32).reshape(-1, width)
    head = cp[:, 0].copy()  # (one strided pass; the tests below run on contiguous memory)
    cand = np.flatnonzero(((head - np.uint32(_ZERO)) < 10) | (head == _MINUS))  # (wraps)
    # Lengths (to the last code point that is not NUL) of the candidates alone.
    size = np.char.str_len(values[cand])
    short = size <= _MAX_CHARS
    cand, size = cand[short], size[short]
    if cand.size == 0:
        return np.array([], dtype=np.int64), is_int
    # Column by column over the candidates (each column one contiguous vector).
    c = np.ascontiguousarray((cp if cand.size == values.size else cp[cand])[:, :cols].T)
    neg = c[0] == _MINUS
    length = size
    digits = length - neg
    digit = c - np.uint32(_ZERO)  # wraps below '0': a digit is a value under 10
    row = np.arange(cols)[:, None]
    body = (row < length) & (row >= neg)  # where the digits must be
    ok = ~((digit > 9) & body).any(axis=0) & (digits >= 1) & (digits <= 19)
    lead = digit[np.minimum(neg.view(np.uint8), cols - 1), np.arange(cand.size)]  # "-": 1 col
    ok &= (lead != 0) | ((digits == 1) & ~neg)  # no leading zero; "0" but not "-0"
    sel = np.flatnonzero(ok)
    # The magnitude in uint64 (19 digits stay below 2**64), Horner over the digit columns.
    mag = np.zeros(sel.size, dtype=np.uint64)
    if sel.size:
        digit, body = digit[:, sel], body[:, sel]
        ten = np.uint64(10)
        for j in range(cols):
            mag = np.where(body[j], mag * ten + digit[j], mag)
    neg = neg[sel]
    fits = mag <= np.where(neg, np.uint64(1 << 63), np.uint64((1 << 63) - 1))
    signed = mag[fits].astype(np.int64)  # 2**63 wraps to -2**63: its negation stays there
    ints = np.where(neg[fits], -signed, signed)
    ok = cand[sel[fits]]
    is_int[ok] = True
    return ints.astype(np.int64, copy=False), is_int


def _unique_first(values: IdArray) -> tuple[IdArray, npt.NDArray[np.int64] | None]:
    """The distinct values ascending, and each one's first position (``np.unique``'s answer).

    One stable sort and one comparison of neighbours (``np.unique`` costs about twice that on
    strings); only the comparison when they ascend already (a Targeter's batch does), and then
    None for the positions: each value is at its own.
    """
    if values.size == 0:
        return values, np.array([], dtype=np.int64)
    if _sorted.ascending(values):
        return values, None
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    keep = np.empty(values.size, dtype=np.bool_)
    keep[0] = True
    keep[1:] = ranked[1:] != ranked[:-1]  # the operator: numpy < 2 has no string ufunc
    if keep.all():  # the usual batch: no id twice, and no copy of the sorted ids
        return ranked, order.astype(np.int64, copy=False)
    return ranked[keep], order[keep].astype(np.int64, copy=False)


@attrs.frozen(eq=False)
class Payload:
    """A batch's distinct devices in store order: canonical ints ascending, then other strings.

    ``int_pos`` / ``str_pos`` are each device's first position in the caller's batch.
    """

    ints: npt.NDArray[np.int64]
    int_pos: npt.NDArray[np.int64]
    strs: IdArray
    str_pos: npt.NDArray[np.int64]

    @classmethod
    def of(cls, batch: IdArray) -> Payload:
        ints, ipos, strs, spos = split_canonical(batch)
        ui, fi = _unique_first(ints)
        us, fs = _unique_first(strs)
        int_pos = ipos if fi is None else ipos[fi]
        str_pos = spos if fs is None else spos[fs]
        return cls(ui, int_pos, us.astype(np.str_, copy=False), str_pos)

    def __len__(self) -> int:
        return int(self.ints.size + self.strs.size)

    def positions(self) -> npt.NDArray[np.int64]:
        """The first batch position of each payload device, in payload order."""
        return np.concatenate([self.int_pos, self.str_pos]).astype(np.int64, copy=False)

    def json(self) -> str:
        """The devices as one JSON array, ints then strings (ints as numbers, for SQLite)."""
        if self.strs.size == 0:
            return json_ints(self.ints)
        strs = json.dumps(self.strs.tolist())
        return strs if self.ints.size == 0 else f"{json_ints(self.ints)[:-1]},{strs[1:]}"

    def texts(self) -> list[str]:
        """The canonical text of each payload device."""
        strs: list[str] = self.strs.tolist()
        return list(map(str, self.ints.tolist())) + strs

    def without(self, ints: SortedRuns, strs: SortedRuns) -> Payload:
        """The payload minus devices known (sets of ints and of strings)."""
        keep_i = ~ints.contains(self.ints)
        keep_s = ~strs.contains(self.strs)
        return Payload(
            self.ints[keep_i], self.int_pos[keep_i], self.strs[keep_s], self.str_pos[keep_s]
        )


#: The 4-digit groups "0000" … "9999" and the same with leading zeros as spaces ("   0" …
#: "9999"), each as one little-endian uint32, and four spaces.
_GROUPS = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), dtype="<u4")
_HEADS = np.frombuffer("".join(f"{i:4d}" for i in range(10_000)).encode(), dtype="<u4")
_SPACES = np.frombuffer(b"    ", dtype="<u4")[0]
_SEPARATOR = np.frombuffer(b",   ", dtype="<u4")[0]
#: Batches from this size on are formatted column-wise (smaller ones by ``json.dumps``: the
#: crossover measured about 1,000 to 1,500 random 64-bit ids).
_FORMAT_AT_ONCE = 1024
#: 10 … 10**19: an integer of magnitude m has ``searchsorted(_TENS, m, "right") + 1`` digits.
_TENS = np.array([10**k for k in range(1, 20)], dtype=np.uint64)


def json_ints(ints: npt.NDArray[np.int64]) -> str:
    """The JSON array of ``ints``, large batches written without a Python int per id.

    From :data:`_FORMAT_AT_ONCE` ids on, each id takes a field of 20 characters right-aligned
    by spaces (JSON allows blanks between values), written column-wise: five divisions by
    10,000 of the whole column and two table look-ups per 4-digit group, about two thirds of
    ``json.dumps``'s time for 37,000 random 64-bit ids (whose decimal text Python writes one
    int at a time).
    """
    n = ints.size
    if n < _FORMAT_AT_ONCE:  # a handful of numpy passes cost more than Python's ints here
        return json.dumps(ints.tolist())
    u = ints.astype(np.int64, copy=False).view(np.uint64)
    negative = ints < 0
    magnitude = np.where(negative, -u, u)  # two's complement: -(-2**63) is 2**63 as uint64
    digits = np.searchsorted(_TENS, magnitude, side="right") + 1
    head = (20 - digits) // 4  # the group (of five, 4 characters each) of the first digit
    rows = np.empty((n, 6), dtype="<u4")
    rest = magnitude
    for group in range(4, -1, -1):
        rest, quad = np.divmod(rest, np.uint64(10_000))
        rows[:, group] = np.where(
            head < group, _GROUPS[quad], np.where(head == group, _HEADS[quad], _SPACES)
        )
    rows[:, 5] = _SEPARATOR
    text = rows.view(np.uint8).reshape(-1)
    signed = np.flatnonzero(negative)
    text[signed * 24 + 19 - digits[signed]] = ord("-")
    text[-4] = ord("]")
    return "[" + text[:-3].tobytes().decode("ascii")


def batch_positions(positions: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.int64]:
    """Distinct positions into a batch of ``size`` ids, ascending.

    All of them (every id new and none twice: a new incident's claim) are ``0 .. size-1``,
    without sorting.
    """
    if positions.size == size:
        return np.arange(size, dtype=np.int64)
    return np.sort(positions)


@attrs.frozen
class SortedRuns:
    """Distinct values of one kind (int64 or str) with a row number each, as sorted runs.

    Adding ``k`` values to a set of ``n`` costs amortised ``O(k log n)``, not ``O(n)``: one
    sorted array merged with every batch copied the whole set per claim, so a stream of small
    claims into a large incident cost time (and a transient copy) proportional to the
    incident (a 200-device claim into 1.2 million UUIDs: 65 ms). Runs are kept like a binary
    counter: each is more than twice as large as the next newer one, so there are at most
    ``log2(n) + 1``; a value is copied at most once per run when its batch is added, and
    after that only when the run holding it grows by at least half, so ``O(log n)`` times in
    all. Immutable: :meth:`added` returns a new set, so a reader holding the old one never
    sees a half-made merge.

    A run's row numbers are an array, or an int ``r`` when they are ``r, r + 1, ...`` in the
    run's order (a sorted batch given consecutive rows, as a claim's payload is): such a run
    holds its values alone until a merge writes its rows out.
    """

    #: (sorted values, their row numbers, the first of consecutive ones or None when the set
    #: keeps none), oldest first.
    runs: tuple[tuple[IdArray, npt.NDArray[np.int64] | int | None], ...] = ()

    @property
    def size(self) -> int:
        """The number of values."""
        return sum(int(v.size) for v, _ in self.runs)

    def find(self, values: IdArray) -> npt.NDArray[np.int64]:
        """The row number of each of ``values``, or -1 where absent."""
        out = np.full(values.shape, -1, dtype=np.int64)
        if values.size == 0:
            return out
        for run, rows in self.runs:
            if rows is None:
                raise TypeError("a set added to without row numbers answers contains() only")
            at = np.minimum(np.searchsorted(run, values), run.size - 1)
            hit = run[at] == values
            out[hit] = at[hit] + rows if isinstance(rows, int) else rows[at[hit]]
        return out

    def contains(self, values: IdArray) -> npt.NDArray[np.bool_]:
        """Which of ``values`` are in the set."""
        out = np.zeros(values.shape, dtype=np.bool_)
        for run, _ in self.runs:
            out |= _sorted.member(values, run)
        return out

    def added(self, values: IdArray, rows: npt.NDArray[np.int64] | int | None) -> SortedRuns:
        """The set with ``values`` (distinct, none in the set) at row numbers ``rows``.

        ``rows``: one per value, an int ``r`` for ``r, r + 1, ...`` in the given order, or
        None for a set that only answers :meth:`contains` (a merge then moves the values
        alone: a SQL store's memory of claimed devices, for instance).
        """
        if values.size == 0:
            return self
        if not _sorted.ascending(values):
            order = np.argsort(values, kind="stable")  # a claim's payload comes sorted
            values = values[order]
            rows = None if rows is None else _row_numbers(rows, values.size)[order]
        runs = [*self.runs, (values, rows)]
        # Merged while the newest is at least half the one before it (merging only when it
        # was as large let claims of shrinking sizes pile up runs: 5, 4, 3, 2, 1).
        while len(runs) > 1 and 2 * runs[-1][0].size >= runs[-2][0].size:
            (a, ra), (b, rb) = runs[-2], runs.pop()
            runs[-1] = _merged(a, ra, b, rb)
        return SortedRuns(tuple(runs))


def _merged(
    a: IdArray,
    ra: npt.NDArray[np.int64] | int | None,
    b: IdArray,
    rb: npt.NDArray[np.int64] | int | None,
) -> tuple[IdArray, npt.NDArray[np.int64] | None]:
    """Two sorted runs of distinct values (none in both) as one, with their row numbers.

    Two scatters per array (:func:`geotarget._sorted.merge_slots`). Most of a large merge's
    time is the fresh row-number arrays' first writes, so a set kept without row numbers
    (None) merges several times faster. Text is widened to the longer of the two, never
    truncated.
    """
    at, rest = _sorted.merge_slots(a, b)
    values = np.empty(rest.size, dtype=np.result_type(a, b))
    values[at] = b
    values[rest] = a
    if ra is None or rb is None:
        return values, None
    rows = np.empty(rest.size, dtype=np.int64)
    rows[at] = _row_numbers(rb, b.size)
    rows[rest] = _row_numbers(ra, a.size)
    return values, rows


def _row_numbers(rows: npt.NDArray[np.int64] | int, size: int) -> npt.NDArray[np.int64]:
    """A run's row numbers as an array (``rows``: the array, or the first of ``size``)."""
    if isinstance(rows, int):
        return np.arange(rows, rows + size, dtype=np.int64)
    return rows


def mixed_values(arr: IdArray) -> list[Any]:
    """The ids as Python values in input order, canonical ints as ints (for SQLite)."""
    if arr.dtype.kind in "iu":
        return arr.tolist()  # type: ignore[no-any-return]
    ints, ipos, _, _ = split_canonical(arr)
    out: list[Any] = arr.tolist()
    for i, v in zip(ipos.tolist(), ints.tolist(), strict=True):
        out[i] = v
    return out


def parse_keys(
    keys: DeviceIds,
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64], IdArray, IdArray]:
    """Distinct keys split: (keys, first positions, "incident version" groups, devices)."""
    # A masked key is one the caller left out (its push failed): never read by its data.
    unmasked("keys", keys)
    if isinstance(keys, (Set, Mapping)):
        # The answer's positions index the keys as given: a set's order is its hash order.
        raise InvalidType(
            "keys must be an ordered sequence of delivery keys (a list, tuple or numpy array), "
            f"not an unordered {type(keys).__name__}: the Confirmation's positions index the "
            "keys as given, and a set has no order the caller knows (pass list(...))"
        )
    if isinstance(keys, np.ndarray) and keys.dtype.kind == "U":
        arr = keys.reshape(-1)
    else:
        if isinstance(keys, (str, bytes)) or not iterable(keys):
            raise InvalidInput(
                f"keys must be a sequence of delivery keys, not one {type(keys).__name__}"
            )
        seq = keys.tolist() if isinstance(keys, np.ndarray) else list(keys)
        for i, k in enumerate(seq):
            if not isinstance(k, str):
                raise InvalidInput(f"keys[{i}] must be a delivery key str (got {typed(k)})")
        arr = np.array(seq, dtype=np.str_)
    if arr.size == 0:
        empty = np.array([], dtype=np.str_)
        return arr, np.array([], dtype=np.int64), empty, empty
    _, first = np.unique(arr, return_index=True)
    first = np.sort(first).astype(np.int64)
    lone = surrogate_rows(arr[first])
    if lone.any():  # no key holds one: no token, no id
        i = int(first[np.argmax(lone)])
        raise InvalidInput(
            f"keys[{i}] must be a delivery key 'incident version device' of text without a lone "
            f"surrogate (got {shown(str(arr[i]))})"
        )
    parts = np.char.partition(arr[first], " ")
    rest = np.char.partition(parts[:, 2], " ")
    head, version, device = parts[:, 0], rest[:, 0], rest[:, 2]
    bad = (np.char.str_len(head) == 0) | (np.char.str_len(version) == 0)
    bad |= np.char.str_len(device) == 0
    if bad.any():
        i = int(first[np.flatnonzero(bad)[0]])
        raise InvalidInput(
            f"keys[{i}] must be a delivery key 'incident version device' (got {shown(str(arr[i]))})"
        )
    return arr, first, np.char.add(np.char.add(head, " "), version), device


def confirmation(state: npt.NDArray[np.int8]) -> Confirmation:
    """From one code per input (0 confirmed now, 1 already, 2 unknown, -1 duplicate)."""
    return Confirmation(
        confirmed=np.flatnonzero(state == 0).astype(np.int64),
        already=np.flatnonzero(state == 1).astype(np.int64),
        unknown=np.flatnonzero(state == 2).astype(np.int64),
    )


#: The largest ``limit`` a store takes: a SQL store's 64-bit integer.
MAX_LIMIT = 2**63 - 1


def check_limit(limit: int | None) -> int | None:
    """None, or an int from 1 to :data:`MAX_LIMIT` (every store answers alike).

    A numpy integer is an int here (as a plain ``int``, which SQL drivers bind); a bool is not,
    nor a ``numpy.timedelta64`` (a subclass of ``numpy.integer``, with no ``int()``).
    """
    if limit is None:
        return None
    if not is_integer(limit) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be an int >= 1 and <= 2**63 - 1 (a store's 64-bit integer), or None "
            f"(got {shown(limit)})"
        )
    return int(limit)
