"""Private validators shared by the public value classes.

Every function raises an exception from :mod:`geotarget.errors` whose message names the field,
states the rule and shows the value.
"""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import json
import math
import numbers
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from geotarget.errors import InvalidCoordinates, InvalidInput, InvalidPositions, InvalidType

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def iterable(value: object) -> TypeGuard[Iterable[Any]]:
    """Whether ``value`` can be walked value by value: an Iterable, but not a 0-d numpy array.

    ``isinstance(np.array(1.0), Iterable)`` is True (ndarray defines ``__iter__``), yet
    iterating a 0-d array raises ``TypeError``: a collection check that stops at
    ``isinstance`` lets one through to crash in ``list(...)`` instead of being refused.
    """
    return isinstance(value, Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0)


def _code_points(arr: npt.NDArray[np.str_]) -> npt.NDArray[np.uint32]:
    """The code points of a ``str_`` array, one row per text (trailing NULs are padding)."""
    width = arr.dtype.itemsize // 4
    return np.ascontiguousarray(arr).view(np.uint32).reshape(-1, width)


def nul_rows(arr: npt.NDArray[np.str_]) -> npt.NDArray[np.bool_]:
    """Per text of a ``str_`` array, whether it holds a NUL before its last character.

    numpy keeps such NULs (only trailing ones are padding), and stores that read texts as C
    strings (SQLite, PostgreSQL) would cut the text at them or refuse it: device ids must not
    hold any. A text holds one iff it has fewer code points that are not NUL than its length,
    so when the two totals agree no text does: two passes without a temporary of the code
    points' size (a claim's 37,000 ids' masks cost more in fresh pages than in arithmetic).
    """
    if arr.dtype.itemsize == 0 or arr.size == 0:
        return np.zeros(arr.shape, dtype=np.bool_)
    cp = _code_points(arr)
    size = np.char.str_len(arr).reshape(-1)
    if np.count_nonzero(cp) == int(size.sum()):
        return np.zeros(arr.shape, dtype=np.bool_)
    out: npt.NDArray[np.bool_] = ((cp == 0) & (np.arange(cp.shape[1]) < size[:, None])).any(axis=1)
    return out.reshape(arr.shape)


#: A lone surrogate (U+D800 to U+DFFF) in one text: not valid Unicode, never UTF-8.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def surrogate_rows(arr: npt.NDArray[np.str_]) -> npt.NDArray[np.bool_]:
    """Per text of a ``str_`` array, whether it holds a lone surrogate (U+D800 to U+DFFF).

    Such a text is not valid Unicode: it cannot be written as UTF-8 (a store, a file, a JSON
    reply), so device ids must not hold any. (Texts below U+D800 throughout, as ASCII ids
    are, are answered by one pass.)
    """
    if arr.dtype.itemsize == 0 or arr.size == 0:
        return np.zeros(arr.shape, dtype=np.bool_)
    cp = _code_points(arr)
    if int(cp.max()) < 0xD800:
        return np.zeros(arr.shape, dtype=np.bool_)
    out: npt.NDArray[np.bool_] = np.any((cp >= 0xD800) & (cp <= 0xDFFF), axis=1)
    return out.reshape(arr.shape)


def file_path(name: str, value: object) -> Path:
    """``value`` as a :class:`~pathlib.Path`: a ``str`` or path-like naming a file or folder.

    Raises InvalidType for anything else (bytes paths included) and InvalidInput for a NUL
    character, which no file name can hold (``open`` would raise ``ValueError``).
    """
    if not isinstance(value, (str, os.PathLike)) or isinstance(os.fspath(value), bytes):
        raise InvalidType(
            f"{name} must be a file path (str or pathlib.Path) (got {type(value).__name__})"
        )
    path = Path(value)
    if "\0" in str(path):
        raise InvalidInput(f"{name} must not contain a NUL character (got {str(path)!r})")
    return path


#: Python codecs (by ``codecs.lookup(...).name``) that are not character encodings a file or
#: document can be written in: they decode escape sequences, domain names or nothing at all.
#: (Codecs that are not text encodings at all, such as ``hex``, ``rot13`` or ``zlib``, fail
#: the codec's own ``_is_text_encoding`` test.) The CAP reader and the positions files share
#: this rule.
NOT_CHARSETS = frozenset(
    {"idna", "punycode", "raw-unicode-escape", "undefined", "unicode-escape", "utf-7"}
)


def charset(name: str) -> codecs.CodecInfo | None:
    """The codec of ``name`` if it is a character encoding text is written in, else None.

    None for a name Python does not know, a bytes-to-bytes or text-to-text codec (``hex``,
    ``rot13``) and the pseudo-encodings of :data:`NOT_CHARSETS` (``idna``, ``utf-7``); rare
    real character encodings (``hz``, ``palmos``, ``cp037``) are codecs like any other.
    """
    try:
        info = codecs.lookup(name)
    except (LookupError, UnicodeError, ValueError):  # unknown; a lone surrogate; a NUL
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in NOT_CHARSETS:
        return None
    return info


def number(
    name: str,
    value: object,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    error: type[InvalidInput] = InvalidInput,
) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``, the rule and the value."""
    rule = "a finite number"
    if gt is not None:
        rule += f" > {_plain(gt)}"
    if ge is not None:
        rule += f" >= {_plain(ge)}"
    if le is not None:
        rule += f" {'and ' if gt is not None or ge is not None else ''}<= {_plain(le)}"
    if isinstance(value, (bool, np.bool_)):
        raise InvalidType(f"{name} must be {rule}, not a bool (got {value!r})")
    if not is_number(value):
        raise InvalidType(f"{name} must be {rule} (got {typed(value)})")
    try:
        x = float(value)
    except OverflowError:  # an int beyond float's range, such as 10**400
        raise error(f"{name} must be {rule} (got {shown(value)})") from None
    if math.isnan(x):
        raise error(f"{name} must be {rule}, not NaN (got {value!r})")
    if math.isinf(x):
        raise error(f"{name} must be {rule}, not infinite (got {value!r})")
    if (
        (gt is not None and not x > gt)
        or (ge is not None and not x >= ge)
        or (le is not None and not x <= le)
    ):
        raise error(f"{name} must be {rule} (got {value!r})")
    return x


def as_float(value: int | float | np.integer[Any] | np.floating[Any]) -> float:
    """``float(value)``, an int beyond float's range (``10**400``) as an infinity of its sign.

    For range checks that then refuse it with their own rule, instead of ``OverflowError``.
    """
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _number_type(t: type) -> bool:
    return issubclass(t, (int, float, np.integer, np.floating)) and not issubclass(
        t, (bool, np.bool_, np.timedelta64)
    )


class ReadOnly(Mapping[str, Any]):
    """A read-only mapping (a module constant's, a value object's), picklable and deep-copyable.

    (A ``MappingProxyType`` is read-only too, but neither pickles nor deep-copies.)
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)


def is_number(value: object) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    """Whether ``value`` is an int or a float (numpy's too), not a bool nor a ``timedelta64``.

    numpy's ``timedelta64`` is an integer type to ``isinstance``, but ``int()`` and ``float()``
    of one raise TypeError: it is a duration, never a number geotarget reads.
    """
    return _number_type(type(value))


def is_integer(value: object) -> TypeGuard[int | np.integer[Any]]:
    """Whether ``value`` is an int (numpy's too), not a bool nor a ``timedelta64``."""
    return is_number(value) and isinstance(value, (int, np.integer))


def only_numbers(values: Iterable[object]) -> bool:
    """Whether every value is a number (:func:`is_number`).

    One set of the values' types, so a long ring costs one C-level pass: numpy would read
    ``True`` as 1.0 and ``"18.0"`` (through shapely) as 18.0 without a word.
    """
    return all(_number_type(t) for t in set(map(type, values)))


def bools_among_numbers(value: object, arr: npt.NDArray[Any]) -> bool:
    """Whether a list or tuple that numpy read as numbers (``arr``) held a bool.

    numpy reads ``[True, 18.0]`` as ``[1.0, 18.0]``: a bool among numbers must be refused
    before it becomes a coordinate, an accuracy or a weight.
    """
    if not isinstance(value, (list, tuple)) or arr.dtype.kind not in "iuf":
        return False
    flat = value if arr.ndim <= 1 else np.asarray(value, dtype=object).reshape(-1)
    return not only_numbers(flat)


def coarse_degrees(name: str, arr: npt.NDArray[Any]) -> None:
    """Refuse degrees in float16: its step near 18° is 0.0156° (about a kilometre)."""
    if arr.dtype == np.float16:
        raise InvalidType(
            f"{name} must be degrees in float64 or float32, not float16 (got dtype float16: it "
            "holds a longitude of 18 only to 0.0156 degrees, about a kilometre)"
        )


#: The characters Unicode says a text is shown without (Default_Ignorable_Code_Point, in
#: DerivedCoreProperties.txt) that are no format character (Cf): the combining grapheme
#: joiner, the Hangul fillers (U+3164, pasted as an "invisible" name), Khmer's inherent
#: vowels, Mongolian's and the emoji variation selectors, the reserved U+FFF0 to U+FFF8 and
#: U+E0000 to U+E0FFF; and U+2800 BRAILLE PATTERN BLANK, a cell without dots, shown as a space.
_SHOWN_AS_NOTHING = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2800, 0x2800),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0xE0000, 0xE0FFF),
)  # fmt: skip


def _shown_as_nothing(ch: str) -> bool:
    if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs"):
        return True
    code = ord(ch)
    return any(first <= code <= last for first, last in _SHOWN_AS_NOTHING)


def shows_nothing(text: str) -> bool:
    """Whether a text shows nothing: only spaces, line breaks and invisible characters.

    A zero-width space or a byte-order mark pasted from another program is no text to show;
    nor is a control character, a Hangul filler, a variation selector or a blank braille
    cell (:data:`_SHOWN_AS_NOTHING`). The empty text shows nothing.
    """
    return all(_shown_as_nothing(ch) for ch in text)


def blank_shown(text: str) -> str:
    """A text that shows nothing, for a message: its repr, and more where that shows nothing.

    The characters repr shows as they are (a Hangul filler is a letter) are named by code
    point and name, the first three.
    """
    named = [
        f"U+{ord(c):04X} {unicodedata.name(c, 'unassigned')}"
        for c in dict.fromkeys(text)
        if c.isprintable() and not c.isspace()
    ]
    return shown(text) + (f": {', '.join(named[:3])}" if named else "")


#: The most characters :func:`shown` gives a value: a text id of 256 characters is quoted whole,
#: a megabyte pasted into one field is cut (a message goes into a log line).
SHOWN_CHARS = 300


def cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``): after the last whole word that fits.

    A word boundary at or past half of ``limit`` is taken; a text with none there (a long
    token, a URL, a base64 blob) is cut at ``limit``. The cut never splits a character from
    the combining marks, joiners or variation selectors that follow it (a decomposed "å", an
    emoji sequence).
    """
    end = limit
    space = max(text.rfind(" ", 0, limit + 1), text.rfind("\n", 0, limit + 1))
    if space >= limit // 2:
        end = space
    while 0 < end < len(text) and (
        unicodedata.category(text[end]) in ("Mn", "Mc", "Me")  # (variation selectors are Mn)
        or text[end] in "\u200c\u200d"
        or text[end - 1] == "\u200d"
    ):
        end -= 1
    return len(text[:end].rstrip()) or end


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A value for a message; a huge int shows its size, not hundreds of digits.

    The size comes from the bit length, never from ``str``: CPython refuses to convert an int of
    more than 4,300 digits to text (``sys.int_max_str_digits``). A container holding one, whose
    ``repr`` fails the same way, is named by its type. Any other value's ``repr`` longer than
    ``limit`` (:data:`SHOWN_CHARS`) characters is cut visibly at its last whole word within
    ``limit`` (:func:`cut_point`), followed by ``...`` and its length.

    >>> shown("x" * 1000)[-30:]
    'xxxxxxxx... (1,002 characters)'
    """
    if isinstance(value, (int, np.integer)) and is_number(value) and abs(int(value)) >= 10**20:
        magnitude = abs(int(value))
        digits = int(magnitude.bit_length() * math.log10(2)) + 1  # exact or one too many
        if 10 ** (digits - 1) > magnitude:
            digits -= 1
        return f"an integer of {digits:,} digits"
    try:
        text = repr(value)
    except ValueError:  # a container holding a huge int: its repr refuses too
        return f"<a {type(value).__name__} holding a number too long to show as text>"
    if len(text) <= limit:
        return text
    return f"{text[: cut_point(text[: limit + 5], limit - 3)]}... ({len(text):,} characters)"


#: Two decimal numbers in one text (``59.3326,18.0654``, ``59,3326 18,0654``): most likely a
#: position written as text, never quoted (see :func:`pair_text`).
_PAIR_TEXT = re.compile(r"\d[.,]\d+\D+\d+[.,]\d", re.ASCII)

#: Two whole numbers of five digits or more, apart (``674032 6580822``, ``674032;6580822``):
#: most likely a projected position in metres (SWEREF 99 TM), or microdegrees. A time's
#: groups are shorter, and an epoch time's fraction follows a point, which does not part them.
_METRE_PAIR_TEXT = re.compile(r"\d{5}[\s,;:|/]+\d{5}", re.ASCII)


def pair_text(value: object) -> str | None:
    """A text of two numbers described for a message, or None for any other value.

    Where one number or time belongs, a text of two decimal numbers is most likely a position
    ("lat,lon", as CAP and map apps write it), and one of two whole numbers of five digits or
    more, apart, a position in metres ("674032 6580822", SWEREF 99 TM easting and northing): a
    message names its size, never quotes it (a message is logged). A lone number, a time (one
    fraction at most, after a point) is quoted as usual.
    """
    if isinstance(value, str) and _PAIR_TEXT.search(value):
        return (
            f"a text of {len(value):,} characters holding two decimal numbers, not quoted: it "
            "may be a position"
        )
    if isinstance(value, str) and _METRE_PAIR_TEXT.search(value):
        return (
            f"a text of {len(value):,} characters holding two numbers of five digits or more, "
            "not quoted: it may be a position in metres"
        )
    return None


def typed(value: object) -> str:
    """A value of the wrong type for a message: its type, then its repr or, for a container, size.

    A container is described (``tuple of 2 values``), never quoted: where one number or time
    belongs it is most likely a (lon, lat) pair or a row's other values, a device's position,
    and a message is logged. So is a record of a structured array (``void of 3 values``). A
    plain scalar (text, a real number, a time) is quoted (``str '18.07'``); any other object
    is named by its type only (``Point, not quoted``): its repr may be a position too (a
    shapely ``Point``'s is, as is a ``complex``'s).
    """
    kind = type(value).__name__
    if isinstance(value, np.ndarray) and (value.ndim or value.dtype.names is not None):
        return f"{kind} of {value.size:,} value{'' if value.size == 1 else 's'}"
    if isinstance(value, np.void):  # (a record: its fields; else its bytes)
        size = len(value.dtype.names or ()) or value.dtype.itemsize
        return f"{kind} of {size:,} value{'' if size == 1 else 's'}"
    if isinstance(value, (Sequence, Mapping, AbstractSet)) and not isinstance(value, (str, bytes)):
        size = len(value)
        return f"{kind} of {size:,} value{'' if size == 1 else 's'}"
    pair = pair_text(value)
    if pair is not None:
        return f"{kind}, {pair}"
    if value is None or isinstance(value, _QUOTED):
        return f"{kind} {shown(value)}"
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufmM":  # (one number or time)
        return f"{kind} {shown(value)}"
    return f"{kind}, not quoted"


#: The types :func:`typed` quotes: plain scalars, none of which can hold a position pair.
_QUOTED = (
    str,
    bytes,
    bool,
    numbers.Real,
    decimal.Decimal,
    dt.date,
    dt.time,
    dt.timedelta,
    np.bool_,
    np.integer,
    np.floating,
    np.datetime64,
    np.timedelta64,
    np.str_,
    np.bytes_,
)


def _plain(x: float) -> str:
    """Format a bound as people write it: ``1000000``, ``0.5``, ``-90``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def lon_lat(lon_name: str, lon: object, lat_name: str, lat: object) -> tuple[float, float]:
    """Validate one (lon, lat) pair of scalars."""
    x = number(lon_name, lon, ge=-180.0, le=180.0, error=InvalidCoordinates)
    y = number(lat_name, lat, ge=-90.0, le=90.0, error=InvalidCoordinates)
    return x, y


def unmasked(name: str, value: object, error: type[InvalidInput] = InvalidInput) -> None:
    """Refuse a numpy masked array with masked entries (``error`` naming ``name``).

    numpy reads a masked array by its data, masked entries included: a masked "no fix" would
    be read as whatever coordinates, time or id its hidden data holds. A masked array with no
    entry masked is read as its data.
    """
    if isinstance(value, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(value).reshape(-1)
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            n = int(mask.sum())
            raise error(
                f"{name} must have no masked entries: geotarget does not read numpy masks, "
                f"fill them first (NaN for a device without a fix) (got {n} masked, the first "
                f"at {name}[{first}])"
            )


def _as_float_array(name: str, value: Any) -> FloatArray:
    """Real numbers as float64; strings, complex numbers, ragged lists and huge ints refused."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidType(f"{name} must be numbers in degrees, not a bool (got {value!r})")
    if isinstance(value, (str, bytes)):
        raise InvalidType(f"{name} must be numbers in degrees, not text (got {typed(value)})")
    unmasked(name, value, InvalidCoordinates)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RecursionError) as err:  # ragged nesting
        raise InvalidCoordinates(
            f"{name} must be a number or a rectangular array of numbers (got a ragged or "
            f"unreadable {type(value).__name__}: {str(err).splitlines()[0][:120]})"
        ) from None
    if arr.dtype == np.bool_ or bools_among_numbers(value, arr):
        raise InvalidType(f"{name} must be numbers in degrees, not booleans (got a bool)")
    if arr.dtype.kind in "iuf":
        coarse_degrees(name, arr)
        return np.asarray(arr, dtype=np.float64)
    if arr.dtype.kind == "O":
        for v in arr.reshape(-1):  # only object arrays (None, huge ints, mixed types) walk
            if isinstance(v, (bool, np.bool_)) or not isinstance(
                v, (int, float, np.integer, np.floating)
            ):
                raise InvalidType(
                    f"{name} must be numbers in degrees (got {type(v).__name__} {shown(v, 60)})"
                )
        try:
            return np.asarray(arr.astype(np.float64), dtype=np.float64)
        except OverflowError:
            raise InvalidCoordinates(
                f"{name} must be finite degrees (got an integer beyond float's range)"
            ) from None
    what = {
        "c": "complex numbers",
        "U": "text",
        "S": "bytes",
        "M": "datetimes",
        "m": "durations",
    }.get(arr.dtype.kind, "values")
    raise InvalidType(f"{name} must be numbers in degrees (got {what}, dtype {arr.dtype})")


def lon_lat_arrays(lon: Any, lat: Any) -> tuple[FloatArray, FloatArray]:
    """Validate longitude and latitude arrays (or scalars) of the same shape.

    Returns float64 arrays. Raises :class:`InvalidCoordinates` naming the first offending
    element and how many there are.
    """
    x = _as_float_array("lon", lon)
    y = _as_float_array("lat", lat)
    if x.shape != y.shape:
        raise InvalidCoordinates(
            f"lon and lat must have the same shape (got lon {x.shape} and lat {y.shape})"
        )
    for name, arr, limit in (("lon", x, 180.0), ("lat", y, 90.0)):
        bad = ~(np.abs(arr) <= limit)  # also catches NaN
        if bad.any():
            flat = arr.reshape(-1)
            idx = int(np.flatnonzero(bad.reshape(-1))[0])
            val = float(flat[idx])
            n = int(bad.sum())
            what = "finite" if not math.isfinite(val) else f"within [-{limit:g}, {limit:g}]"
            where = f"[{idx}]" if arr.ndim else ""
            raise InvalidCoordinates(
                f"{name} must be {what} degrees (got {val!r} at {name}{where}; "
                f"{n} bad value{'s' if n != 1 else ''} in all)"
            )
    return x, y


#: The ISO 8601 date-times geotarget reads, the same on every Python version (3.10's
#: ``datetime.fromisoformat`` reads far fewer forms than 3.11's): extended format, a date
#: alone or with ``T`` (or a space) and ``hh:mm[:ss[.f…]]`` (1–9 fraction digits, a comma
#: allowed, rounded down to the microsecond), then optionally ``Z`` or an offset ``±hh[:mm]``
#: / ``±hhmm``.
_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"([Zz]|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)


#: ISO 8601's basic format (``20240520T140000Z``), named in the refusal: not read.
_ISO_BASIC = re.compile(
    r"(\d{4})(\d{2})(\d{2})[Tt](\d{2})(\d{2})(\d{2})?(?:[.,]\d+)?([Zz]|[+-]\d{2}(?:\d{2})?)?",
    re.ASCII,
)


def iso_datetime(text: str) -> dt.datetime:
    """Read an ISO 8601 date-time (:data:`_ISO_DATETIME`); naive when it has no offset.

    Raises ``ValueError`` naming the rule; callers add the field and the value.
    """
    m = _ISO_DATETIME.fullmatch(text)
    if m is None:
        hint = ""
        basic = _ISO_BASIC.fullmatch(text.strip())
        if basic:
            y, mo, d, h, mi, sec, zone = basic.groups()
            zone = (zone or "").upper()
            if len(zone) > 1:
                zone = f"{zone[:3]}:{zone[3:] or '00'}"
            hint = (
                "; this one is written in ISO 8601's basic format, without '-' and ':', "
                f"which geotarget does not read: write {y}-{mo}-{d}T{h}:{mi}:{sec or '00'}{zone}"
            )
        raise ValueError(
            "must be an ISO 8601 date-time such as 2024-05-20T14:00:00+02:00 (or ...Z)" + hint
        )
    year, month, day, hour, minute, second, frac, zone = m.groups()
    tz: dt.tzinfo | None = None
    if zone in ("Z", "z"):
        tz = dt.timezone.utc
    elif zone:
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"has a UTC offset out of range ({zone})")
        offset = dt.timedelta(hours=hours, minutes=minutes)
        tz = dt.timezone(-offset if zone[0] == "-" else offset)
    try:
        return dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError as err:
        raise ValueError(f"is not a valid date-time ({err})") from None


def aware_us(at: object, name: str = "at") -> np.datetime64:
    """Return a timezone-aware datetime as ``datetime64[us]`` UTC."""
    if not isinstance(at, dt.datetime):
        raise InvalidType(f"{name} must be a timezone-aware datetime (got {typed(at)})")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidPositions(f"{name} must be timezone-aware (got naive {shown(at)})")
    if type(at.tzinfo) is not dt.timezone:  # a zone's wall time may be one its clocks skip
        from geotarget.rollout._time import wall_time_problem

        problem = wall_time_problem(at)
        if problem is not None:  # Python would read it an hour later than its wall time says
            raise InvalidPositions(f"{name} must be a real clock reading: {problem}")
    return utc_us(at, name)


#: The rule every instant geotarget reads keeps to: a ``datetime`` in UTC exists for it.
YEARS_RULE = "must lie within the years 1 to 9999 in UTC"
FIRST_US = np.datetime64("0001-01-01T00:00:00.000000", "us")
LAST_US = np.datetime64("9999-12-31T23:59:59.999999", "us")
_FIRST_INT, _LAST_INT = int(FIRST_US.astype(np.int64)), int(LAST_US.astype(np.int64))
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ONE_US = dt.timedelta(microseconds=1)


def utc_us(at: dt.datetime, name: str, where: str = "") -> np.datetime64:
    """An aware datetime as ``datetime64[us]`` UTC; one that has no UTC datetime is refused.

    ``0001-01-01T00:00+14:00`` is a datetime, but its instant lies in the year 0 in UTC (and
    ``9999-12-31T23:59-14:00``'s in the year 10000): converting it overflows.
    """
    us = (at - _EPOCH) // _ONE_US  # exact integer microseconds (a fifth of astimezone's cost)
    if not _FIRST_INT <= us <= _LAST_INT:
        raise InvalidPositions(f"{name} {YEARS_RULE} (got {at.isoformat()}{where})")
    return np.datetime64(us, "us")


class KeyTwice(ValueError):
    """JSON text with a key given twice in one object (:func:`json_unique`).

    ``key`` is that key, ``where`` the object's place in words: `` (at features[3].properties)``
    or `` (the document itself)``.
    """

    def __init__(self, key: str, where: str) -> None:
        super().__init__(f"the key {key!r} is given twice in one object{where}")
        self.key, self.where = key, where


def json_unique(text: str | bytes) -> Any:
    """``json.loads`` of ``text``, refusing a key given twice in an object (:class:`KeyTwice`).

    JSON readers differ in which of two values they keep (RFC 8259: names should be unique),
    so a document naming one twice means two things. Read once; read a second time only to
    name where the first such object is. Raises ``ValueError`` (and ``RecursionError``) as
    ``json.loads`` does.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _KeyTwice:
        doc = json.loads(text, object_pairs_hook=_marked_twice)
        where, key = _first_twice(doc, "")
        raise KeyTwice(key, where) from None


class _KeyTwice(ValueError):
    """A JSON object with a key given twice (found by :func:`_unique_keys`)."""


class _Twice(dict[str, Any]):
    """A JSON object with a key given twice, and that key (:func:`_marked_twice`)."""

    key = ""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook``: the object, refused if a key is given twice."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _KeyTwice
    return obj


def _marked_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Like :func:`_unique_keys`, but marks the object (read again only to name where it is)."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    twice = _Twice(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            twice.key = key
            break
        seen.add(key)
    return twice


def _first_twice(value: dict[str, Any] | list[Any], path: str) -> tuple[str, str]:
    """`` (at features[3].properties)`` and the key of the first object marked :class:`_Twice`.

    ``("", "")`` when ``value`` holds none.
    """
    if isinstance(value, _Twice):
        return (f" (at {path})" if path else " (the document itself)"), value.key
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for k, v in items:
        if isinstance(v, (dict, list)):
            at = f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}" if path else f"{k}"
            found = _first_twice(v, at)
            if found[1]:
                return found
    return "", ""
