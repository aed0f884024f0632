r"""Private: the records of CSV text as the csv module reads them, without its field size limit.

The csv module refuses a field longer than ``csv.field_size_limit()`` (131,072 characters by
default): "field larger than field limit". That limit is one setting for the whole process, so
a library must not raise it (another thread's reader, or the application's own, would change
with it). A positions file may well hold such a cell in a column the reader ignores (a free-text
note, an embedded image), so :class:`Records` reads a record the csv module refuses so by the
same grammar in Python, and hands the rest of the text back to the csv module at the next line.

The grammar is the csv module's with ``strict=True``, ``quotechar='"'`` and ``doublequote``, over
the lines :func:`lines` gives: CR, LF and CRLF end a line; outside quotes a line's end ends the
record; a field that begins with a quote runs to the quote closing it (``""`` is a quote), which
must be followed by the delimiter or the line's end; a quote anywhere else is text. A blank line
is an empty record.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from typing import Any

#: One line of text with its ending (CRLF, LF or CR), or the last line without one.
LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def closing_quote(text: str, start: int) -> int:
    """Where the quote closing the field whose quote is at ``start`` is, or -1 if none does.

    The closing quote is one not followed by another: ``""`` is a quote in the field's text.
    (Found by ``str.find``, not a regular expression: the ``re`` module keeps a backtracking
    point for each ``""`` it repeats over, some 75 bytes a character of a field of quotes,
    such as a JSON object quoted in a cell.)
    """
    i = start + 1
    while True:
        q = text.find('"', i)
        if q < 0 or not text.startswith('""', q):
            return q
        i = q + 2


#: The csv module's message for a field longer than its limit.
_OVER_LIMIT = "field larger than field limit"


def lines(text: str, pos: int = 0) -> Iterator[str]:
    """The lines of ``text`` from character ``pos`` on, with their endings, without copying it.

    (``io.StringIO`` would hold a second copy at four bytes a character; ``splitlines``
    also splits at form feeds and other characters a CSV field may hold.)
    """
    return (m.group() for m in LINE.finditer(text, pos))


def over_limit(err: csv.Error) -> bool:
    """Whether the csv module refused a field for its length (:class:`Records` reads it)."""
    return str(err).startswith(_OVER_LIMIT)


def line_offset(text: str, pos: int, count: int) -> int:
    """The offset of the line ``count`` lines after the one beginning at ``pos``."""
    end = pos
    for m in itertools.islice(LINE.finditer(text, pos), count):
        end = m.end()
    return end


def breaks(text: str, start: int, end: int) -> int:
    """The line ends (CR, LF or CRLF) in ``text[start:end]``."""
    crlf = text.count("\r\n", start, end)
    return text.count("\n", start, end) + text.count("\r", start, end) - crlf


class Records:
    """The csv module's records of ``text`` from ``pos`` (a line's start) on, without its limit.

    ``base`` lines of the file lie before ``pos``; :attr:`line_num` counts the lines read from
    the file's start, as ``csv.reader``'s ``line_num`` does. The first record is read in Python
    (the csv module refused it), the next ones by the csv module until it refuses another.
    Errors are :class:`csv.Error` with the csv module's messages.
    """

    def __init__(self, text: str, delimiter: str, pos: int, base: int) -> None:
        self._text = text
        self._delimiter = delimiter
        self._pos = pos  # where the csv module's reader begins, or the next record read here
        self._base = base  # the lines before self._pos
        self._unquoted = re.compile(f"[^{re.escape(delimiter)}\r\n]*")
        self._csv: Any = None  # the csv module's reader from self._pos on, between long fields
        self.line_num = base

    def __iter__(self) -> Records:
        return self

    def __next__(self) -> list[str]:
        if self._csv is not None:
            try:
                record: list[str] = next(self._csv)
            except csv.Error as err:
                if not over_limit(err):
                    self.line_num = self._base + self._csv.line_num
                    raise
                # The record after the last one read begins a line: read it here.
                self._pos = line_offset(self._text, self._pos, self.line_num - self._base)
                self._base = self.line_num
                self._csv = None
            else:
                self.line_num = self._base + self._csv.line_num
                return record
        record = self._record()
        self._base = self.line_num
        self._csv = csv.reader(lines(self._text, self._pos), delimiter=self._delimiter, strict=True)
        return record

    def _record(self) -> list[str]:
        """The record beginning at ``self._pos``, read by the csv module's grammar."""
        text, pos, n = self._text, self._pos, len(self._text)
        if pos >= n:
            raise StopIteration
        self.line_num += 1
        fields: list[str] = []
        if text[pos] not in "\r\n":  # (a blank line is an empty record)
            while True:
                if text.startswith('"', pos):
                    close = closing_quote(text, pos)
                    if close < 0:  # never closed: the csv module reads to the text's end
                        self.line_num += breaks(text, pos, n) - text.endswith(("\r", "\n"))
                        raise csv.Error("unexpected end of data")
                    self.line_num += breaks(text, pos, close + 1)
                    fields.append(text[pos + 1 : close].replace('""', '"'))
                    pos = close + 1
                    if pos < n and text[pos] not in (self._delimiter, "\r", "\n"):
                        raise csv.Error(f"'{self._delimiter}' expected after '\"'")
                else:
                    m = self._unquoted.match(text, pos)
                    assert m is not None  # it matches the empty text
                    fields.append(m.group())
                    pos = m.end()
                if pos < n and text[pos] == self._delimiter:
                    pos += 1
                    continue
                break
        # pos is at the line's end (CR, LF, CRLF) or the text's.
        self._pos = min(n, pos + (2 if text.startswith("\r\n", pos) else 1))
        return fields
