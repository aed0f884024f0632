"""Rewrite the Thrift footer of a Parquet file, to build files whose footer claims what it lacks.

A minimal reader and writer of Thrift's compact protocol (the encoding of Parquet's
``FileMetaData``), as a generic tree of ``[field id, type, value]`` lists, so that a test can
change one number of a footer pyarrow wrote and keep everything else byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

Struct = list[list[Any]]  # [[field id, compact type, value], ...]


def _varint(b: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        x = b[i]
        i += 1
        out |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return out, i


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _write_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    return _write_varint((n << 1) ^ (n >> 63))


def _read(b: bytes, i: int, t: int) -> tuple[Any, int]:
    if t in (1, 2):  # booleans: the type is the value
        return t == 1, i
    if t == 3:
        return struct.unpack("b", b[i : i + 1])[0], i + 1
    if t in (4, 5, 6):
        v, i = _varint(b, i)
        return _unzigzag(v), i
    if t == 7:
        return struct.unpack("<d", b[i : i + 8])[0], i + 8
    if t == 8:
        n, i = _varint(b, i)
        return bytes(b[i : i + n]), i + n
    if t in (9, 10):
        head = b[i]
        i += 1
        n, kind = head >> 4, head & 0x0F
        if n == 15:
            n, i = _varint(b, i)
        items = []
        for _ in range(n):
            v, i = _read(b, i, kind)
            items.append(v)
        return (kind, items), i
    if t == 12:
        return _read_struct(b, i)
    raise ValueError(f"unknown compact type {t}")


def _read_struct(b: bytes, i: int) -> tuple[Struct, int]:
    fields: Struct = []
    last = 0
    while True:
        head = b[i]
        i += 1
        if head == 0:
            return fields, i
        delta, t = head >> 4, head & 0x0F
        if delta:
            fid = last + delta
        else:
            v, i = _varint(b, i)
            fid = _unzigzag(v)
        value, i = _read(b, i, t)
        fields.append([fid, t, value])
        last = fid


def _write(v: Any, t: int) -> bytes:
    if t in (1, 2):
        return b""
    if t == 3:
        return struct.pack("b", v)
    if t in (4, 5, 6):
        return _zigzag(v)
    if t == 7:
        return struct.pack("<d", v)
    if t == 8:
        return _write_varint(len(v)) + bytes(v)
    if t in (9, 10):
        kind, items = v
        head = bytes([(len(items) << 4) | kind]) if len(items) < 15 else bytes([0xF0 | kind])
        count = b"" if len(items) < 15 else _write_varint(len(items))
        return head + count + b"".join(_write(x, kind) for x in items)
    return _write_struct(v)


def _write_struct(fields: Struct) -> bytes:
    out = bytearray()
    last = 0
    for fid, t, value in fields:
        kind = (1 if value else 2) if t in (1, 2) else t
        delta = fid - last
        if 0 < delta <= 15:
            out.append((delta << 4) | kind)
        else:
            out.append(kind)
            out += _zigzag(fid)
        out += _write(value, t)
        last = fid
    out.append(0)
    return bytes(out)


def field(fields: Struct, fid: int) -> list[Any]:
    """The ``[field id, type, value]`` entry of field ``fid`` (to read or assign its value)."""
    return next(f for f in fields if f[0] == fid)


def rewrite(data: bytes, change: Callable[[Struct], None]) -> bytes:
    """``data`` (a whole Parquet file) with its footer changed in place by ``change``."""
    (length,) = struct.unpack("<I", data[-8:-4])
    start = len(data) - 8 - length
    tree, end = _read_struct(data[start:-8], 0)
    assert end == length, "the footer is one FileMetaData"
    change(tree)
    footer = _write_struct(tree)
    return data[:start] + footer + struct.pack("<I", len(footer)) + b"PAR1"


def claim_rows(data: bytes, rows: int, *, columns: bool) -> bytes:
    """``data`` whose footer says the file and every row group hold ``rows`` rows.

    FileMetaData field 3 and RowGroup field 3; with ``columns``, every column chunk as many
    values too (ColumnMetaData field 5), so that the footer agrees with itself.
    """

    def change(tree: Struct) -> None:
        field(tree, 3)[2] = rows
        for group in field(tree, 4)[2][1]:
            field(group, 3)[2] = rows
            if columns:
                for chunk in field(group, 1)[2][1]:
                    field(field(chunk, 3)[2], 5)[2] = rows

    return rewrite(data, change)
