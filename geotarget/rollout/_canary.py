"""Private canary hashing: every device id gets a stable bucket in ``0 … 9999``.

The definition (also in ``tests/conformance/rollout/README.md`` for other implementations):

* ``H(text)`` is the 8-byte BLAKE2b digest (``digest_size=8``, no key) of the UTF-8 bytes of
  ``text``, read as a big-endian unsigned integer.
* **Identity first.** A string (or ``bytes``, read as the UTF-8 bytes of a string) that is the
  canonical decimal text of an integer in ``[-2**63, 2**64)`` — ASCII digits, an optional leading
  ``-``, no leading zero, not ``-0`` — *is* that integer: device identity is the canonical text
  (:mod:`geotarget.ledger`), so ``7`` and ``"7"`` are one device with one bucket, while
  ``"007"``, ``"+7"`` and ``"-0"`` are strings.
* **String ids**: ``h = H(f"{salt}/{kind}/{id}")``.
* **Integer ids** (``-2**63 <= id < 2**64``, taken modulo ``2**64``):
  ``h = splitmix64(id ^ H(f"{salt}/{kind}"))``, where ``splitmix64(z)`` adds
  ``0x9E3779B97F4A7C15`` and applies the finaliser ``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
  z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31`` (all modulo ``2**64``).
* ``bucket = ((h >> 32) * 10000) >> 32`` — the top 32 bits scaled to ``0 … 9999``.

A device is in a canary of ``p`` percent iff ``bucket < round(p * 100)``, so raising ``p`` never
drops a device that was in, and the sample for each kind is independent of the other kinds.

Integer ids are hashed with numpy arithmetic, with no Python loop. String ids call ``hashlib``
once per id (there is no vectorized BLAKE2b in numpy or the standard library), after a check
of their first byte for the canonical-integer rule: about a microsecond per id, against about
4 ns per integer id (``benchmarks/bench_rollout.py``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt

from geotarget._validate import is_integer, shown, unmasked
from geotarget.alerts._values import brief
from geotarget.errors import InvalidInput, InvalidType

BUCKETS = 10_000

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U64 = (1 << 64) - 1
_INT_STARTS = frozenset(b"-0123456789"[k : k + 1] for k in range(11))


def _digest64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def seed(salt: str, kind: str) -> int:
    """The 64-bit seed of integer ids for one salt and kind."""
    return _digest64(f"{salt}/{kind}".encode())


def splitmix64(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 step (add the golden gamma, then finalise), modulo 2**64, vectorized."""
    with np.errstate(over="ignore"):
        z = z + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        out: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
        return out


def hashes(device_ids: Any, salt: str, kind: str) -> npt.NDArray[np.uint64]:
    """The 64-bit hash of every id, in the shape of ``device_ids``."""
    unmasked("device_ids", device_ids)  # a masked id would be hashed by its hidden data
    # A list like [1, "a"] would silently become strings in np.asarray: keep Python objects.
    arr = device_ids if isinstance(device_ids, np.ndarray) else np.asarray(device_ids, dtype=object)
    if arr.ndim == 0 and arr.dtype.kind == "O":
        one = arr.item()
        if not (isinstance(one, (str, bytes)) or is_integer(one)):
            # numpy holds a generator, a set or a mapping as one object: name it, not "[0]"
            raise InvalidType(
                "device_ids must be a device id (a str or an int) or a sequence or array of "
                f"them (got {type(one).__name__} {brief(one, 60)})"
            )
    if arr.dtype.kind == "b":
        raise InvalidType("device_ids must be strings or integers, not booleans (got dtype bool)")
    if arr.dtype.kind in "iu":
        u = arr.astype(np.int64).view(np.uint64) if arr.dtype.kind == "i" else arr
        return splitmix64(u.astype(np.uint64) ^ np.uint64(seed(salt, kind)))
    if arr.dtype.kind in "USTO":
        flat = arr.reshape(-1).tolist()
        if arr.dtype.kind == "O":
            return _object_hashes(flat, salt, kind).reshape(arr.shape)
        return _text_hashes(flat, salt, kind).reshape(arr.shape)
    raise InvalidType(f"device_ids must be strings or integers (got dtype {arr.dtype})")


def _int_hashes(values: list[int], salt: str, kind: str) -> npt.NDArray[np.uint64]:
    u = np.array([v & _U64 for v in values], dtype=np.uint64)
    return splitmix64(u ^ np.uint64(seed(salt, kind)))


def canonical_int(text: str) -> int | None:
    """The integer whose canonical decimal text ``text`` is (in ``[-2**63, 2**64)``), or None.

    >>> [canonical_int(t) for t in ["7", "-12", "0", "007", "-0", "+7", "7 ", "x"]]
    [7, -12, 0, None, None, None, None, None]
    """
    body = text[1:] if text[:1] == "-" else text
    if not body or len(body) > 20 or not (body.isascii() and body.isdigit()):
        return None
    if (body[0] == "0" and len(body) > 1) or text == "-0":
        return None
    value = int(text)
    return value if -(1 << 63) <= value <= _U64 else None


def _text_hashes(
    ids: list[Any], salt: str, kind: str, where: list[int] | None = None
) -> npt.NDArray[np.uint64]:
    """Hashes of str and bytes ids; ``where`` maps each to its index in ``device_ids``."""
    base = hashlib.blake2b(f"{salt}/{kind}/".encode(), digest_size=8)
    out = bytearray()
    at_int: list[int] = []
    ints: list[int] = []
    for k, i in enumerate(ids):  # one hashlib call per id: see the module docstring
        try:
            data = i.encode() if isinstance(i, str) else i
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8, and no device id either
            raise InvalidInput(
                f"device_ids[{k if where is None else where[k]}] must be valid Unicode (it "
                f"holds a lone surrogate) (got {i!r})"
            ) from None
        if data[:1] in _INT_STARTS:
            value = canonical_int(data.decode("utf-8", errors="replace"))
            if value is not None:  # the same device as the integer: hashed as one below
                at_int.append(k)
                ints.append(value)
                out += bytes(8)
                continue
        h = base.copy()
        h.update(data)
        out += h.digest()
    got = np.frombuffer(bytes(out), dtype=">u8").astype(np.uint64)
    if ints:
        got[np.array(at_int, dtype=np.int64)] = _int_hashes(ints, salt, kind)
    return got


def _object_hashes(ids: list[Any], salt: str, kind: str) -> npt.NDArray[np.uint64]:
    """Hashes of a list of str, bytes and int ids (a mix is fine: identity is canonical text)."""
    is_text = [isinstance(i, (str, bytes)) for i in ids]
    is_int = [is_integer(i) for i in ids]
    other = [k for k in range(len(ids)) if not is_text[k] and not is_int[k]]
    if other:
        k = other[0]
        raise InvalidType(
            f"device_ids must be strings or integers (got {type(ids[k]).__name__} {ids[k]!r} "
            f"at device_ids[{k}])"
        )
    if all(is_text):
        return _text_hashes(ids, salt, kind)
    at_int = [k for k, yes in enumerate(is_int) if yes]
    values = [int(ids[k]) for k in at_int]
    bad = [k for k, v in zip(at_int, values, strict=True) if not -(1 << 63) <= v <= _U64]
    if bad:
        raise InvalidType(
            "integer device_ids must lie in [-2**63, 2**64) "
            f"(got {shown(int(ids[bad[0]]))} at device_ids[{bad[0]}])"
        )
    out = np.zeros(len(ids), dtype=np.uint64)
    out[np.array(at_int, dtype=np.int64)] = _int_hashes(values, salt, kind)
    at_text = [k for k, yes in enumerate(is_text) if yes]
    if at_text:
        texts = [ids[k] for k in at_text]
        out[np.array(at_text, dtype=np.int64)] = _text_hashes(texts, salt, kind, at_text)
    return out


def buckets(device_ids: Any, salt: str, kind: str) -> npt.NDArray[np.uint16]:
    """Every id's bucket in ``0 … 9999``, in the shape of ``device_ids``."""
    h = hashes(device_ids, salt, kind)
    scaled = ((h >> np.uint64(32)) * np.uint64(BUCKETS)) >> np.uint64(32)
    return np.asarray(scaled, dtype=np.uint16)
