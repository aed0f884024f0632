r"""Private: read the positions files people have — CSV in any common dialect, or Parquet.

The rules (the command's ``--help`` and ``docs/quickstart.rst`` repeat them):

* **Columns** ``id``, ``lon``, ``lat`` (required), ``accuracy_m`` and ``observed_at``
  (required unless one value is given for every row) and ``tester`` (optional), matched
  case-insensitively, in any Unicode normalisation form, without the characters that show
  nothing (a zero-width space, a soft hyphen, a direction mark); ``latitude``, ``longitude``,
  ``lng``, ``long`` and ``device_id`` name ``lat``, ``lon``, ``lon``, ``lon`` and ``id`` (and the
  Swedish ``latitud``, ``longitud``, ``breddgrad``, ``längdgrad`` name ``lat`` and ``lon``),
  ``accuracy``,
  ``horizontal_accuracy`` and ``horizontalAccuracy`` (what Android and iOS call the radius in
  metres) name ``accuracy_m``. Other columns are reported (the command prints one warning line
  naming them) and ignored.
* **Encoding**: UTF-8 (a BOM is fine), UTF-16 or UTF-32 with a BOM, else cp1252 (Windows' Western
  European code page, a superset of latin-1's printable range); or exactly the ``encoding``
  given, a character encoding by the CAP reader's rule (:func:`geotarget._validate.charset`:
  not ``hex``, ``idna``, ``utf-7``, ``undefined``...). A given encoding that plainly is not the
  file's is refused, not read into other ids: one that reads cp1252's typography as a C1
  control character (``latin-1`` reads ``–`` as U+0096), ``utf-16`` or ``utf-32`` for
  big-endian text without a BOM (Python's codec reads it byte-swapped). A single-byte one
  (``cp1252``, ``latin-1``) for text that is UTF-8 throughout reads it as given (``å`` as
  ``Ã¥``), and :attr:`Report.notes` says so.
* **Dialect**: the delimiter is whichever of ``,`` ``;`` and tab the header line uses most, or
  the one an Excel dialect line ``sep=;`` before the header names. Lines end in LF, CRLF or
  CR; a file whose lines end in NEL or U+2028 (text converted from EBCDIC) is refused naming it.
  A Ctrl-Z ending the text (DOS's end-of-file mark, which Windows' ``copy a.csv+b.csv`` appends)
  ends it. A row that ends before the header's last columns, when those are ``tester`` or
  ignored ones, has them empty (Excel leaves out the delimiters of the empty cells ending rows
  of a block whose last column is empty), and :attr:`Report.notes` says so; a row lacking
  another column is refused, and so is a short last row without a line end (cut short?).
* **Decimal mark**: a file's numbers (``lon``, ``lat``, ``accuracy_m``, epoch ``observed_at``)
  use one decimal mark, a point or a comma (``59,3325``), whichever its numbers show; a number
  with the other mark (``"1,500"`` in a file of decimal points, ``1.500`` in a file of decimal
  commas) is refused, since it is most likely a thousands separator; so is a number with two
  marks (``1,500.5``, ``1.500.000``). An ``accuracy_m`` such as ``1,500`` or ``1.500`` (one to
  three digits, a mark, three digits) may be a grouped thousand: it is read as a decimal only
  when another number in the file shows that mark as its decimal mark, else refused. A
  longitude or latitude is never a grouped thousand (it would be beyond 180 degrees), so its
  mark always counts as the decimal mark. (ISO 8601 times may write either mark.)
* **Ids** are text, taken verbatim (only surrounding spaces are stripped): ``0701234567`` stays
  ``0701234567``, and ``007`` and ``7`` are two devices; Excel's text formula
  ``="0701234567"`` is its text. (A Parquet integer column stays int, and so does a decimal
  one of scale 0, as databases export whole numbers; a UUID column is its canonical text,
  lower-case ``8-4-4-4-12`` hex, as the CSV of it holds.) Two ids that are one text in two
  Unicode normalisation forms (``café`` in NFC and NFD) are refused as one device twice.
* **observed_at**: epoch seconds (``1716206400`` or ``1716206400.5``, from 2001-09-09 to
  year 5138, so that milliseconds and ``20240520`` are refused) or ISO 8601 with an offset
  (``2024-05-20T14:00:00+02:00``, ``...Z``), also followed by its zone's name in brackets as
  Java's ``ZonedDateTime`` writes it (``2024-05-20T14:00+02:00[Europe/Stockholm]``, RFC 9557:
  read by its offset, which must be the zone's at that instant). A time without an offset is an
  error unless a ``timezone`` is given to read it in. A date alone (``2024-05-20``) is refused,
  not read as midnight. An empty cell is an unknown time (never invented). A file without the
  column needs an explicit ``observed_at`` for every row.
* **accuracy_m**: the 68 % radius in metres that phones report. A file without the column
  needs an explicit ``accuracy_m`` for every row (0 for exact fixes): a fix is never taken as
  exact unless told, since an Explosion tells a device whose accuracy disk crosses its area.
  Both refusals name the file's unknown columns (``hAcc``, ``timestamp``), one of which most
  likely holds the values.
* **Quotes** open a quoted field only right after the delimiter or at the line's start, as
  RFC 4180 and the csv module read them: a cell quoted after a space (``a, "dev1"``) is
  refused, an id as one that would keep its quotes.
* **Damage is refused**, not guessed at: ids in scientific notation (``4.6701E+10``, a
  spreadsheet's rounding of a long number), long numeric ids a spreadsheet rounded to 15
  significant digits (``89460123456789000000``: in a column of numbers, every id of 16 digits or
  more ends in zeros past its 15th digit, six such zeros or more in all), a column of ids that
  are all integers written as floats (``7.0``), ``\N`` (PostgreSQL's text format, MySQL's
  ``INTO OUTFILE``), a file mixing UTF-8 and cp1252, DOS code page 850 or Mac Roman text (lines
  ending in CR alone, or its letters between letters: "PŠr") read as cp1252, a file cut inside a
  character, and a compressed file, workbook or Parquet file given as CSV; and a file whose size
  or modification time changed while it was read (an export still being written:
  :func:`unchanged`). A Parquet file is opened once (:func:`opened_parquet`): one renamed over
  it meanwhile is not read.
* **Parquet** timestamps of any unit are read from their integers (nanoseconds floored to the
  microsecond) within the years 1970 to 9998; dictionary-encoded and ``string_view`` text is
  text, and a run-end-encoded Arrow column is its values; float16 degrees are refused, and so
  are epoch seconds in float32 or float16 (128 seconds apart or worse); a NaN in a float
  ``observed_at`` or ``tester`` column is missing, as a null is (and as the empty cell
  pandas' ``to_csv`` writes for it is); a known column of an Arrow extension type (a
  pandas ``Period``, whose stored integers count wall-clock periods) is refused, but for UUID
  ids and ``bool8`` testers (:func:`check_extensions`); only the known columns are read. The
  footer is checked first (:func:`check_parquet_footer`): a row count that its columns or the
  file's size belie is refused before pyarrow allocates arrays of that many rows.
* **Rounded coordinates** are read as written, but :attr:`Report.notes` says so when at least
  10 fixes all lie on a grid of 0.001 degrees or coarser (in ``lon`` or in ``lat``) whose
  rounding may have moved a fix farther than its ``accuracy_m``: a spreadsheet column shown
  with two decimals exports ``59.33`` for ``59.3325``
  (:meth:`~geotarget.Positions.rounding_note`).
* **An accuracy of 0** in the ``accuracy_m`` column reads a fix as exact, as documented, but
  among fixes with a radius :attr:`Report.notes` says so: Android's ``Location.getAccuracy()``
  gives 0 for a location without an accuracy.
* **Cells of any length** in an ignored column are read: a record the csv module refuses for
  a field beyond its limit (a process-wide setting, left alone) is read by
  :mod:`geotarget._csv_records`. A known column's cell has its own length rule.
* Every problem is one :class:`~geotarget.errors.InvalidInput` naming the file, the row (data
  rows count from 1; CSV also gives the line, the header being line 1) and the column. A
  quote that never closes is reported at the line and column where it opens. A message quotes
  the one cell that breaks its rule, never a whole record (a record's cells together are a
  device's position): an unclosed quote's field is shown up to the next delimiter; a cell
  holding two decimal numbers, or two whole numbers of five digits or more (most likely a
  position, in degrees or metres), is described, not quoted, and so is a
  first line of numbers (a file without a header line).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import inspect
import itertools
import math
import operator
import os
import re
import stat
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from geotarget._csv_records import Records, closing_quote, line_offset, over_limit
from geotarget._csv_records import breaks as _breaks
from geotarget._csv_records import lines as _lines
from geotarget._validate import _ISO_DATETIME, charset, iso_datetime, pair_text
from geotarget._validate import shown as _shown
from geotarget.errors import GeotargetError, InvalidInput, InvalidPositions, MissingExtra

if TYPE_CHECKING:
    from geotarget.positions import Positions

KNOWN = ("id", "lon", "lat", "accuracy_m", "observed_at", "tester")
REQUIRED = ("id", "lon", "lat")
#: Other names of known columns, as exports from other systems spell them: read as that column
#: (a file naming one column twice, under two names, is refused).
ALIASES = {
    "latitude": "lat",
    "longitude": "lon",
    "lng": "lon",
    "long": "lon",
    # Swedish (and Spanish) exports: Excel in a Swedish locale names them so.
    "latitud": "lat",
    "longitud": "lon",
    "breddgrad": "lat",
    "längdgrad": "lon",
    "device_id": "id",
    # Both phone platforms report a 68 % radius in metres under these names (Android's
    # Location.getAccuracy, iOS's CLLocation.horizontalAccuracy): the same quantity as
    # accuracy_m. Unit-less dilutions of precision (hdop) are not aliased.
    "accuracy": "accuracy_m",
    "horizontal_accuracy": "accuracy_m",
    "horizontalaccuracy": "accuracy_m",
}
DELIMITERS = (",", ";", "\t")
#: Epoch seconds at or above this (year 5138) are refused: most likely milliseconds.
MAX_EPOCH_S = 1e11
#: Finer units epoch numbers at or above MAX_EPOCH_S are most likely in, by magnitude: the
#: unit, its divisor to seconds, and the bound below which it is named (0: any beyond).
_EPOCH_UNITS = (
    ("milliseconds", "1000", 1e14),
    ("microseconds", "1000000", 1e17),
    ("nanoseconds", "1000000000", 0.0),
)
#: Epoch seconds below this (2001-09-09) are refused: most likely a date such as 20240520.
MIN_EPOCH_S = 1e9
#: Whole parts of Excel's date serial numbers (days since 1899-12-30) from 1980 to 2100, as a
#: spreadsheet writes a date-time cell it was not told to format: named as such when refused.
EXCEL_SERIALS = (29_221, 73_051)
#: How often ``progress`` is called while reading, in rows.
PROGRESS_EVERY = 100_000

#: Why a positions file without rows is refused (the rule its refusal states).
NO_ROWS = (
    "a positions file holds at least one device: an empty export (a query that matched "
    "nobody, a failed job) would answer that nobody is in any alert's area"
)

#: CSV rows are converted to arrays in chunks of this many rows, so that memory stays about
#: the size of the arrays (not of millions of Python strings).
CHUNK_ROWS = 65_536
#: ``--positions -``: CSV read from standard input, which errors name so.
STDIN = "-"
STDIN_NAME = "standard input"

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)
_EPOCH = re.compile(r"\d{1,30}(?:[.,]\d{1,9})?", re.ASCII)
#: A number in scientific notation, as a spreadsheet shows epoch seconds in a narrow column.
_SCIENTIFIC_EPOCH = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d{1,3}", re.ASCII)
#: A date-time with its zone after a space, as BigQuery (``2024-05-20 12:00:00 UTC``) and
#: Snowflake (``2024-05-20 12:00:00.000 +0000``) export timestamps: refused (not ISO 8601),
#: with a hint.
_SPACED_ZONE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s+"
    r"(?:UTC|GMT|Z|[+-]\d{2}(?::?\d{2})?)",
    re.ASCII | re.IGNORECASE,
)


def _joined_zone(text: str) -> str:
    """A time whose zone stands apart (:data:`_SPACED_ZONE`) written with it joined, in ISO 8601.

    The same instant: ``2024-05-20 14:00:00 UTC`` is ``2024-05-20T14:00:00Z``, ``... +0200``
    is ``...+02:00``.
    """
    stamp, zone = text.rsplit(None, 1)
    stamp = stamp.strip().replace(" ", "T", 1).replace(",", ".")
    zone = zone.upper()
    if zone in ("UTC", "GMT", "Z"):
        return f"{stamp}Z"
    digits = zone[1:].replace(":", "")
    return f"{stamp}{zone[0]}{digits[:2]}:{digits[2:] or '00'}"


#: A calendar date alone (a spreadsheet's Date column): no time of day, refused.
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: Words spreadsheets and data tools write for a missing number; an empty cell says that here.
_MISSING_WORDS = frozenset(
    {"nan", "-nan", "na", "n/a", "#n/a", "null", "none", "nil", "-", "?", "inf", "-inf", "infinity"}
)
#: What R's ``write.csv`` and ``write.table`` write for a missing value (any type) by default.
_R_NA = "NA"
_R_NA_HINT = '; R\'s write.csv writes NA for a missing value: give it na = ""'


def _missing_hint(text: str) -> str:
    """How the tool that wrote a missing-value word writes an empty cell, or ``""``."""
    return _R_NA_HINT if text == _R_NA else ""


#: Words for a missing time (pandas' ``NaT`` too; PostgreSQL's ``infinity`` is no such word).
_MISSING_TIMES = (_MISSING_WORDS - {"inf", "-inf", "infinity"}) | {"nat"}
#: NULL as PostgreSQL's text format (``COPY ... TO`` without ``CSV``) and MySQL's ``SELECT ...
#: INTO OUTFILE`` write it, both of which also escape backslashes and tabs: not CSV.
#: ``COPY ... (FORMAT csv, HEADER)`` writes NULL as an empty cell; in MySQL, ``IFNULL(col, '')``
#: does (its ``ESCAPED BY ''`` writes the word NULL, which is refused as a number too).
_PG_NULL = "\\N"
_PG_NULL_RULE = (
    "is NULL as PostgreSQL's text format and MySQL's SELECT ... INTO OUTFILE write it, which "
    "is not CSV; export NULL as an empty cell: COPY ... (FORMAT csv, HEADER) in PostgreSQL, "
    "IFNULL(column, '') in MySQL"
)
#: Flags as tools write them: Excel in Swedish writes SANT/FALSKT, PostgreSQL t/f, pandas
#: 1.0/0.0 for a 0/1 column with a missing value (1,0/0,0 with ``to_csv(decimal=",")``).
_TRUE = frozenset({"1", "1.0", "1,0", "true", "yes", "y", "ja", "t", "sant"})
_FALSE = frozenset({"0", "0.0", "0,0", "false", "no", "n", "nej", "f", "falskt", ""})
_EPOCH0 = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: The command's way out of times without a zone (other readers replace these texts).
ZONE_FLAG = ", or say which zone such times are in with --timezone (e.g. Europe/Stockholm)"
NAIVE_TIMESTAMPS = (
    "timestamps without a time zone; say which zone they are in with --timezone "
    "(e.g. Europe/Stockholm)"
)


#: What a zone-less INT96 observed_at column holds depends on its writer: Spark and Hive store
#: UTC instants, Impala wall-clock times (Spark's spark.sql.parquet.int96TimestampConversion
#: exists for that difference). "--timezone Europe/Stockholm" read Spark's times 1-2 h off.
INT96_HINT = (
    "; they are INT96 timestamps, the legacy type of Spark, Hive and Impala: Spark and Hive "
    "write them as UTC instants (give --timezone UTC), Impala as wall-clock times (give the "
    "zone they were taken in)"
)


@attrs.frozen
class Where:
    """Names a data row (0-based index ``i``) as people count it: file, row from 1, CSV line.

    ``first`` is the index of the first row in the file when ``i`` counts within a chunk
    (``lines`` then holds the chunk's lines).
    """

    name: str
    lines: Sequence[int] | npt.NDArray[np.int64] | None = None
    first: int = 0

    def row(self, i: int) -> str:
        line = f" (line {self.lines[i]})" if self.lines is not None else ""
        return f"row {self.first + i + 1}{line}"

    def __call__(self, i: int) -> str:
        return f"{self.name}: {self.row(i)}"


@attrs.frozen
class Report:
    """What was read: for the command's summary line."""

    path: Path
    rows: int
    form: str
    unknown_columns: tuple[str, ...]
    #: A Parquet file's observed_at is stored as INT96 (Spark's, Hive's and Impala's legacy
    #: timestamps, which pyarrow reads without a zone).
    int96_times: bool = False
    #: What the file holds that is valid but most likely not what it means, one sentence each
    #: without the file's name (the command prints each as a warning): its coordinates rounded
    #: more coarsely than their accuracy (:meth:`~geotarget.Positions.rounding_note`).
    notes: tuple[str, ...] = ()


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


#: The most column names an error or warning lists (a header may have 200,000).
MAX_NAMES = 20


def names_text(names: Sequence[str]) -> str:
    """Column names, quoted and comma-separated, at most :data:`MAX_NAMES` of them."""
    shown = ", ".join(_show(str(n).strip()) for n in names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return shown + (f" and {more:,} more" if more > 0 else "")


def _cell_text(value: str) -> str:
    """A cell for a message: quoted, or described when it holds two numbers (a position).

    Where one number or time belongs, such a cell (``59.3326,18.0654``, ``POINT (18.06 59.33)``)
    is most likely a position: described, never quoted, as :func:`geotarget.parse_time` does
    (:func:`~geotarget._validate.pair_text`).
    """
    pair = pair_text(value)
    return _show(value) if pair is None else pair


#: A cell quoted after a space (``a, "18.07"``, as a writer putting a space after each
#: delimiter quotes it): the csv module, as RFC 4180, reads such a quote as text.
_SPACE_QUOTED = re.compile(r'\s+".*"\s*', re.DOTALL)
SPACE_QUOTED_HINT = (
    "; its quotes follow a space, so they are text, not a quoted field's (a quoted field "
    "begins right after the delimiter): write no space after the delimiter"
)


def _problem(where: str, column: str, rule: str, value: str) -> InvalidPositions:
    if _SPACE_QUOTED.fullmatch(value) and not rule.endswith(SPACE_QUOTED_HINT):
        rule += SPACE_QUOTED_HINT
    return InvalidPositions(f"{where}, column {column}: {rule} (got {_cell_text(value)})")


#: A number that may be a grouped thousand: one to three digits (not starting with 0), a mark,
#: exactly three digits (``1,500``, ``12.000``). Read as a decimal only by the file's mark.
_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}", re.ASCII)
_MARK_NAME = {".": "decimal point", ",": "decimal comma"}
_GROUPED_RULE = (
    "may be a number with a thousands separator ({int}) or a decimal ({dec}), and no other "
    "number in the file has a decimal mark that says which; write it without the separator "
    "(or with a fourth decimal)"
)


@attrs.define
class Marks:
    """The one decimal mark a file's numbers use, learnt while its columns are read.

    One instance reads one file: :meth:`note` takes each number column (chunk by chunk),
    :meth:`finish` ends the file. Whether a file is refused does not depend on the order in
    which its cells are seen; which cell the error names does (the first found).
    """

    mark: str | None = None
    #: Where the mark was first seen: "row 2 (line 3), column lon: '18.06'" (file not named).
    seen: str = ""
    #: The row ("row 2 (line 3)") and column of that cell: a message about another cell of
    #: the same row names its column only, never quoting it (a row's lon and lat are the
    #: device's position; a message quotes the one cell that breaks its rule).
    seen_row: str = ""
    seen_column: str = ""
    #: The first grouped-looking accuracy cell seen before the mark was known:
    #: (its mark, its row, its place, column, raw text).
    pending: tuple[str, str, str, str, str] | None = None

    @property
    def comma(self) -> bool:
        """Whether the file's numbers use a decimal comma."""
        return self.mark == ","

    def note(
        self, cells: Sequence[str], column: str, where: Where, *, grouped_ok: bool = False
    ) -> None:
        """Check the marks of a column's number cells (each valid, with at most one mark).

        ``grouped_ok``: the column's cells may be grouped thousands (``accuracy_m``).
        """
        joined = "\n".join(cells)
        used = [m for m in ".," if m in joined]
        if not used or (len(used) == 1 and used[0] == self.mark):
            return  # no mark, or only the file's: the common case, one scan in C
        if len(used) == 1 and self.mark is None and self.pending is None and not grouped_ok:
            # The first cell showing the mark (once a file): found cell by cell, since a cell
            # may hold a line break (quoted) and so the line breaks of ``joined`` do not count
            # rows.
            i = next(k for k, raw in enumerate(cells) if used[0] in raw)
            self._learn(used[0], where.row(i), column, cells[i])
            return
        for i, raw in enumerate(cells):
            if "." in raw or "," in raw:
                self.cell(raw, column, where, i, grouped_ok=grouped_ok)

    def cell(
        self, raw: str, column: str, where: Where, i: int, *, grouped_ok: bool = False
    ) -> None:
        """Check one number cell (row ``i`` of ``where``)."""
        text = raw.strip()
        mark = "." if "." in text else "," if "," in text else None
        if mark is None:
            return
        if grouped_ok and _GROUPED.fullmatch(text):
            if self.mark is None:
                if self.pending is None:
                    self.pending = (mark, where.row(i), where(i), column, raw)
                elif self.pending[0] != mark:
                    self._refuse_grouped(*self.pending[2:])
                return
        elif self.mark is None:
            self._learn(mark, where.row(i), column, raw)
            return
        if mark != self.mark:
            raise _problem(where(i), column, self._other_rule(mark, where.row(i)), raw)

    def finish(self) -> None:
        """End of file: a grouped-looking cell that no other number explains is refused."""
        if self.pending is not None and self.mark is None:
            self._refuse_grouped(*self.pending[2:])

    def _learn(self, mark: str, place: str, column: str, raw: str) -> None:
        self.mark, self.seen = mark, f"{place}, column {column}: {_show(raw.strip())}"
        self.seen_row, self.seen_column = place, column
        if self.pending is not None:
            other, row, pending_place, pending_column, pending_raw = self.pending
            self.pending = None
            if other != mark:
                rule = self._other_rule(other, row)
                raise _problem(pending_place, pending_column, rule, pending_raw)

    def _other_rule(self, mark: str, row: str) -> str:
        """The rule a cell of ``row`` with ``mark`` breaks (the evidence not quoted in its row)."""
        assert self.mark is not None
        seen = f"in column {self.seen_column} of this row" if row == self.seen_row else self.seen
        return (
            f"has a {_MARK_NAME[mark]}, but this file's numbers have a {_MARK_NAME[self.mark]} "
            f"({seen}): a thousands separator? numbers must be written without one, and "
            "all with one decimal mark"
        )

    def _refuse_grouped(self, place: str, column: str, raw: str) -> None:
        digits = raw.strip().replace(",", "").replace(".", "")
        decimal = raw.strip().replace(",", ".")
        rule = _GROUPED_RULE.format(int=digits, dec=float(decimal))
        raise _problem(place, column, rule, raw)


# ---------------------------------------------------------------------------------------------
# Cells → columns
# ---------------------------------------------------------------------------------------------


def _bulk(cells: Sequence[str], allowed: str) -> npt.NDArray[np.float64] | None:
    """The column as floats, converted in bulk, when every cell is empty or plainly numeric.

    A cell passes when it holds only ``allowed`` characters (checked by stripping them, in C)
    and converts; the decimal comma becomes a point and an empty cell NaN. None sends the caller
    to its cell-by-cell path, which names the first bad cell and the rule.
    """
    if not cells:
        return None
    arr = np.char.strip(np.asarray(cells, dtype=np.str_))
    if (np.char.str_len(np.char.strip(arr, allowed)) != 0).any():
        return None
    arr = np.char.replace(arr, ",", ".")
    try:
        values = np.where(arr == "", "nan", arr).astype(np.float64)
    except ValueError:
        return None
    return None if np.isinf(values).any() else values


#: Degrees in scientific notation: the mantissa's decimals and the exponent.
_SCIENTIFIC_DEGREES = re.compile(r"[+-]?\d+(?:[.,](\d*))?[eE]([+-]?\d{1,3})", re.ASCII)
#: The power of ten of the coarsest last digit read of degrees in scientific notation: 1e-4°,
#: about 11 m, as many a file writes decimal degrees.
_SCIENTIFIC_STEP = -4


def _coarse_scientific(cells: Sequence[str], column: str, where: Where) -> None:
    """Refuse degrees a spreadsheet rounded by showing (and exporting) them in scientific notation.

    LibreOffice saves a cell as shown: ``1.81E+01`` for 18.06528 in a column formatted so, a
    device 6 km from where it is.
    """
    if not any("e" in c or "E" in c for c in cells):
        return
    for i, raw in enumerate(cells):
        if (m := _SCIENTIFIC_DEGREES.fullmatch(raw.strip())) is None:
            continue
        power = int(m.group(2)) - len(m.group(1) or "")
        if power > _SCIENTIFIC_STEP:
            step = 10.0**power
            raise _problem(
                where(i),
                column,
                f"is written in scientific notation to {step:g} of a degree (about "
                f"{step * 111_320:,.0f} m), as a spreadsheet shows a number in a column "
                "formatted so and saves it as shown: write the full decimal degrees",
                raw,
            )


def _numbers(
    cells: Sequence[str], column: str, where: Where, marks: Marks | None = None
) -> npt.NDArray[np.float64]:
    """Numbers with the file's decimal mark (see :class:`Marks`); empty cells are NaN."""
    values = _bulk(cells, "0123456789+-.,eE")
    if values is None:
        values = _cell_numbers(cells, column, where)
    if column in ("lon", "lat"):
        _coarse_scientific(cells, column, where)
    (Marks() if marks is None else marks).note(
        cells, column, where, grouped_ok=column == "accuracy_m"
    )
    return values


#: Degrees written as a map or GPS shows them: minutes and seconds (``59°19'57"N``,
#: ``59 19.95``), a hemisphere letter (``18.065E``, ``N 59.3325``), a degree sign, or a
#: typographic minus (U+2212, as Apple Numbers and word processors write one).
_MINUTES = re.compile(
    r"[NSEWÖVnsewöv]?\s*[+-]?\d+(?:[.,]\d+)?(?:[\s°º:'′\"″]+\d+(?:[.,]\d+)?)+"
    r"[\s°º'′\"″]*[NSEWÖVnsewöv]?"
)
_HEMISPHERE = re.compile(r"[NSEWÖVnsewöv]\s*[+-]?[\d.,]+°?|[+-]?[\d.,]+°?\s*[NSEWÖVnsewöv]")


def _degrees_hint(text: str) -> str:
    """A hint for a longitude or latitude written as degrees but not as a decimal number."""
    if text.startswith('"') and text.endswith('"'):
        return ""  # quoted after a space (_problem says so), not seconds of arc
    if _MINUTES.fullmatch(text) or any(c in text for c in "'′\"″"):
        return (
            "; degrees, minutes and seconds are not read: convert them to decimal degrees "
            "(48°07'02\" is 48 + 7/60 + 2/3600), west and south negative"
        )
    if _HEMISPHERE.fullmatch(text):
        return (
            "; a hemisphere letter is not read: write decimal degrees, east and north "
            "positive, west and south negative (-)"
        )
    if "°" in text or "º" in text:
        return "; write the degrees without the degree sign"
    if "\u2212" in text or "\u2013" in text:
        return "; write the minus sign as the ASCII hyphen-minus (-)"
    return ""


#: A radius written with its unit (``12 m``, ``40 ft``, ``0.5km``) or a bound (``<10``, ``±5``).
_WITH_UNIT = re.compile(r"[+-]?[\d.,]+(?:[eE][+-]?\d+)?\s*([^\d\s.,+-][^\d]*)", re.ASCII | re.I)
_METRES = {"m", "m.", "meter", "meters", "metre", "metres", "meter(s)", "metres."}
_BOUND = re.compile(r"(?:[<>~\u2264\u2265\u2248\u00b1]|\+/-|\+-)=?\s*[\d.,]+(?:\s*m)?")


def _accuracy_hint(text: str) -> str:
    """A hint for a radius written with its unit or as a bound rather than as metres alone."""
    if _BOUND.fullmatch(text):
        return "; write the radius in metres as the number alone, without '<', '~' or '\u00b1'"
    if (unit := _WITH_UNIT.fullmatch(text)) is None:
        return ""
    if unit.group(1).lower() in _METRES:
        return "; write the metres as the number alone, without the unit"
    return (
        f"; the column is in metres: convert {unit.group(1)!r} to metres and write the number "
        "alone, without the unit"
    )


def _cell_numbers(cells: Sequence[str], column: str, where: Where) -> npt.NDArray[np.float64]:
    """Numbers cell by cell, naming the first bad cell and the rule."""
    out = np.empty(len(cells), dtype=np.float64)
    for i, raw in enumerate(cells):
        text = raw.strip()
        if not text:
            out[i] = np.nan
            continue
        if text == _PG_NULL:
            raise _problem(where(i), column, _PG_NULL_RULE, raw)
        if text.lower() in _MISSING_WORDS:
            # A fix's accuracy is never unknown (an empty one is refused in a row with a fix).
            rule = (
                "must be a number of metres, or empty for an unknown value only in a row "
                "without a fix (whose lon and lat are empty too): a fix needs its accuracy"
                if column == "accuracy_m"
                else "must be a number, or empty for an unknown value (a row without a fix "
                "leaves both lon and lat empty)"
            )
            raise _problem(where(i), column, rule + _missing_hint(text), raw)
        if not _NUMBER.fullmatch(text):
            raise _problem(
                where(i),
                column,
                "must be a number written with ASCII digits and a decimal point or comma, "
                "without thousands separators"
                + (_degrees_hint(text) if column in ("lon", "lat") else "")
                + (_accuracy_hint(text) if column == "accuracy_m" else ""),
                raw,
            )
        out[i] = float(text.replace(",", "."))
        if math.isinf(out[i]):
            raise _problem(where(i), column, "must be a finite number", raw)
    return out


def _parse_time(text: str, zone: zoneinfo.ZoneInfo | None) -> dt.datetime:
    """One observed_at cell as an aware datetime; ``ValueError`` says which rule it breaks."""
    if _EPOCH.fullmatch(text):
        # The digits as written, cut to the microsecond as an ISO time's fraction is: a float
        # of 1e10 seconds and more is coarser than a microsecond (64059207044.5111364 read as a
        # float was 3 µs later than written).
        whole, _, fraction = text.replace(",", ".").partition(".")
        seconds = int(whole)
        if seconds >= MAX_EPOCH_S:
            # Which finer unit the digits are most likely in, by magnitude: milliseconds
            # (1973 to 5138), microseconds (Java's Instant, Postgres' epoch * 1e6) or
            # nanoseconds (pandas' int64 times): each needs its own divisor.
            unit, divisor = next(
                (u, d) for u, d, below in _EPOCH_UNITS if seconds < below or below == 0
            )
            raise ValueError(
                f"epoch seconds must be below {MAX_EPOCH_S:.0e} (year 5138); "
                f"{unit}? divide by {divisor}"
            )
        if seconds < MIN_EPOCH_S:
            if EXCEL_SERIALS[0] <= seconds < EXCEL_SERIALS[1]:
                raise ValueError(
                    f"epoch seconds must be at least {MIN_EPOCH_S:.0e} (2001-09-09); this looks "
                    "like a spreadsheet's date serial number (days since 1899-12-30): format "
                    "the column as a date-time before exporting, written as ISO 8601 "
                    "(2024-05-20T14:00:00+02:00, or without the offset and with --timezone)"
                )
            raise ValueError(
                f"epoch seconds must be at least {MIN_EPOCH_S:.0e} (2001-09-09); a date? "
                "write it as ISO 8601, e.g. 2024-05-20T14:00:00+02:00"
            )
        micro = int(fraction[:6].ljust(6, "0"))
        return _EPOCH0 + dt.timedelta(seconds=seconds, microseconds=micro)
    if text == _PG_NULL:
        raise ValueError(_PG_NULL_RULE)
    if _SCIENTIFIC_EPOCH.fullmatch(text):
        raise ValueError(
            "must be epoch seconds written as whole digits, not in scientific notation: a "
            "spreadsheet shows a long number so in a narrow column and exports what it "
            "shows, often rounded (1.72E+09 stands for any time in 116 days); format the "
            "column as a number without decimals, or as an ISO 8601 date-time, before exporting"
        )
    if text.lower() in _MISSING_TIMES:
        raise ValueError(
            "must be epoch seconds or an ISO 8601 date-time, or empty for an unknown time "
            f"(a fix of unknown time is never current){_missing_hint(text)}"
        )
    if not text.isascii():
        raise ValueError("must be epoch seconds or ISO 8601 written with ASCII digits")
    if (bracket := BRACKETED_ZONE.fullmatch(text)) is not None:
        return _bracketed(*bracket.groups())
    if _DATE_ONLY.fullmatch(text):
        raise ValueError(
            "is a date without a time of day, so when that day the fix was taken is unknown "
            "(it is never invented); write the time, e.g. 2024-05-20T14:00:00+02:00"
        )
    try:
        value = iso_datetime(text)
    except ValueError as err:
        rule = str(err)
        if rule.startswith("must be "):
            rule = f"must be epoch seconds or {rule.removeprefix('must be ')}"
        if _SPACED_ZONE.fullmatch(text):
            rule += (
                "; its zone stands apart from the time, as BigQuery ('... UTC') and Snowflake "
                "('... +0000') export timestamps: write the offset right after the time, "
                f"as {_joined_zone(text)}"
            )
        raise ValueError(rule) from None
    if value.tzinfo is None:
        if zone is None:
            raise ValueError(
                "has no UTC offset: write one (2024-05-20T14:00:00+02:00 or ...Z)" + ZONE_FLAG
            )
        value = value.replace(tzinfo=zone)
        try:
            back = value.astimezone(dt.timezone.utc).astimezone(zone)
        except OverflowError:  # e.g. 0001-01-01T00:30 in Asia/Tokyo: the year 0 in UTC
            raise ValueError("lies outside the years 1970 to 9998") from None
        if back.replace(tzinfo=None) != value.replace(tzinfo=None):
            raise ValueError(f"is a wall time that {zone.key} skips (a DST change); fix it")
        if value.replace(fold=1).utcoffset() != value.utcoffset():
            raise ValueError(
                f"is a wall time that {zone.key} shows twice (a DST change); write its offset"
            )
    try:
        utc = value.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError("lies outside the years 1970 to 9998") from None
    if not _EPOCH0 <= utc < dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc):
        raise ValueError("lies outside the years 1970 to 9998")
    return utc


#: A date-time followed by a time zone's name in brackets, as Java's ``ZonedDateTime`` writes
#: one (``2024-05-20T14:00+02:00[Europe/Stockholm]``; RFC 9557): its offset says the instant.
BRACKETED_ZONE = re.compile(r"(.*?(?:[Zz]|[+-]\d{2}(?::?\d{2})?))\[!?([^\[\]=]{1,80})\]", re.ASCII)


def _bracketed(head: str, name: str) -> dt.datetime:
    """An ISO 8601 date-time with an offset followed by its zone's name in brackets, in UTC."""
    value = _parse_time(head, None)  # "[!Europe/Stockholm]" (critical): the same rule
    zone_agrees(iso_datetime(head), name)
    return value


def zone_agrees(value: dt.datetime, name: str) -> None:
    """Check the zone ``name`` written in brackets after the aware ``value`` (RFC 9557).

    The instant is the offset's, as RFC 9557 says; the zone must be one the time zone
    database knows and show that offset at that instant (``+01:00[Europe/Stockholm]`` in July
    is refused: one of the two is wrong, and which is unknown). ``ValueError`` names the rule.
    """
    try:
        from geotarget.rollout._time import zone

        tz = zone(name)
    except ValueError as err:
        raise ValueError(f"has a time zone in brackets that {err}") from None
    offset = value.utcoffset()
    shown = value.astimezone(tz).utcoffset()
    if offset != shown:

        def hours(delta: dt.timedelta | None) -> str:
            minutes = int((delta or dt.timedelta()) // dt.timedelta(minutes=1))
            return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

        raise ValueError(
            f"has the UTC offset {hours(offset)}, which {tz.key} does not show at that instant "
            f"(it shows {hours(shown)}): the offset or the zone in brackets is wrong"
        )


#: Days in each month of a common year.
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_US_PER_S = 1_000_000


def _epoch_column(texts: npt.NDArray[np.str_]) -> npt.NDArray[np.datetime64] | None:
    """Stripped cells that are all epoch seconds within range (or empty), in bulk; else None.

    A cell fits when :data:`_EPOCH` (the per-cell rule) reads it: 1 to 30 digits, then
    optionally a decimal mark and 1 to 9 digits; checked for all cells at once as an array of
    code points. Read as :func:`_parse_time` reads one: the whole seconds and the fraction's
    first six digits as written (further digits cut, as an ISO time's are), in integers.
    """
    if not texts.size:
        return None
    codes = texts.view(np.uint32).reshape(texts.size, texts.dtype.itemsize // 4)
    lengths = np.char.str_len(texts)
    inside = np.arange(codes.shape[1]) < lengths[:, None]
    mark = (codes == ord(".")) | (codes == ord(","))
    if not ((codes - np.uint32(48) <= 9) | mark | ~inside).all():
        return None
    marks = mark.sum(axis=1)
    at = np.where(marks > 0, np.argmax(mark, axis=1), lengths)  # where the whole part ends
    if not ((marks <= 1) & (at <= 30) & ((at >= 1) | (lengths == 0))).all():
        return None
    fraction = np.where(marks > 0, lengths - at - 1, 1)
    if not ((fraction >= 1) & (fraction <= 9)).all():
        return None
    known = lengths > 0
    digits = codes.astype(np.int64) - ord("0")
    column = np.arange(codes.shape[1])
    # Leading zeros aside, a whole part of more than 12 digits is beyond the range: the sum
    # below stays far from 2**63 when it is left out (and then refused by the per-cell rule).
    lead = np.argmax((digits != 0) | (column >= at[:, None]), axis=1)
    if not (at - lead <= 12).all():
        return None
    whole = np.zeros(texts.size, dtype=np.int64)
    for c in range(int(at.max(initial=0))):
        take = (c >= lead) & (c < at)
        whole = np.where(take, whole * 10 + digits[:, c], whole)
    if not ((whole[known] >= MIN_EPOCH_S) & (whole[known] < MAX_EPOCH_S)).all():
        return None
    micro = np.zeros(texts.size, dtype=np.int64)
    rows = np.arange(texts.size)
    for k in range(6):  # the fraction's first six digits; shorter ones end in zeros
        place = at + 1 + k
        digit = digits[rows, np.minimum(place, codes.shape[1] - 1)]
        micro = micro * 10 + np.where((place < lengths) & (marks > 0), digit, 0)
    us = whole * _US_PER_S + micro
    return np.where(known, us.astype("datetime64[us]"), np.datetime64("NaT", "us"))


def _iso_layout(codes: npt.NDArray[np.uint32], template: str) -> npt.NDArray[np.int64] | None:
    """Rows of code points all in the ISO layout of ``template`` (with an offset), in UTC µs.

    ``codes`` holds one cell a row, each as long as ``template``. A cell fits when it has a
    digit wherever ``template`` has one, the same character elsewhere (an offset may have
    either sign), and names a valid date-time and offset within the years 1970 to 9998. None
    when any cell does not fit: the caller then reads them by :func:`_parse_time`, which names
    the rule broken.
    """
    m = _ISO_DATETIME.fullmatch(template)
    if m is None or m.group(4) is None or m.group(8) is None:
        return None  # a date alone, or no offset: read cell by cell (refused or in a zone)
    digits = codes - np.uint32(48)  # code points below '0' wrap around to large values
    literal = np.ones(len(template), dtype=np.bool_)
    for g in (1, 2, 3, 4, 5, 6, 7):
        if m.group(g) is not None:
            literal[m.start(g) : m.end(g)] = False
    zone = m.group(8)
    z0 = m.start(8)
    if zone not in ("Z", "z"):  # ±hh, ±hhmm or ±hh:mm: the sign, hours and minutes vary
        literal[z0 : z0 + 3] = False
        if len(zone) > 3:
            literal[len(template) - 2 :] = False
        signs = codes[:, z0]
        if not ((signs == ord("+")) | (signs == ord("-"))).all():
            return None
    expected = np.array([ord(c) for c in template], dtype=np.uint32)
    if not (codes[:, literal] == expected[literal]).all():
        return None
    numeric = ~literal
    if zone not in ("Z", "z"):
        numeric[z0] = False
    if not (digits[:, numeric] <= 9).all():
        return None

    def number(start: int, end: int) -> npt.NDArray[np.int64]:
        value = np.zeros(codes.shape[0], dtype=np.int64)
        for c in range(start, end):
            value = value * 10 + digits[:, c]
        return value

    year, month, day = number(*m.span(1)), number(*m.span(2)), number(*m.span(3))
    hour, minute = number(*m.span(4)), number(*m.span(5))
    second = number(*m.span(6)) if m.group(6) is not None else 0
    if not ((year >= 1).all() and ((month >= 1) & (month <= 12)).all()):
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _MONTH_DAYS[month - 1] + (leap & (month == 2))
    if not (
        ((day >= 1) & (day <= last)).all()
        and (hour <= 23).all()
        and (minute <= 59).all()
        and (np.asarray(second) <= 59).all()
    ):
        return None  # datetime's rules (no 24:00, no leap second): named by _parse_time
    micro = np.zeros(codes.shape[0], dtype=np.int64)
    if m.group(7) is not None:  # cut to the microsecond, as iso_datetime does
        start, end = m.span(7)
        kept = min(end - start, 6)
        micro = number(start, start + kept) * 10 ** (6 - kept)
    offset = np.zeros(codes.shape[0], dtype=np.int64)
    if zone not in ("Z", "z"):
        hours = number(z0 + 1, z0 + 3)
        minutes = number(len(template) - 2, len(template)) if len(zone) > 3 else 0
        if not ((hours <= 23).all() and (np.asarray(minutes) <= 59).all()):
            return None
        offset = (hours * 60 + minutes) * 60
        offset = np.where(codes[:, z0] == ord("-"), -offset, offset)
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    days = months.astype("datetime64[D]").astype(np.int64) + day - 1
    utc = (((days * 24 + hour) * 60 + minute) * 60 + second - offset) * _US_PER_S + micro
    if not ((utc >= _FIRST_US) & (utc < _END_US)).all():
        return None
    return np.asarray(utc, dtype=np.int64)


def _iso_column(texts: npt.NDArray[np.str_]) -> npt.NDArray[np.datetime64] | None:
    """Stripped cells that are all ISO 8601 with an offset in a few fixed layouts, in bulk.

    The cells of each length are checked against the layout of the first of them
    (:func:`_iso_layout`), all at once as an array of code points. None when any cell does not
    fit (another layout, an invalid date, a time without an offset, epoch seconds): the caller
    reads the cells one by one.
    """
    read = _by_layout(texts, _iso_layout)
    if read is None:
        return None
    known, micro = read
    return np.where(known, micro.astype("datetime64[us]"), np.datetime64("NaT", "us"))


def _by_layout(
    texts: npt.NDArray[np.str_],
    layout: Callable[[npt.NDArray[np.uint32], str], npt.NDArray[np.int64] | None],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]] | None:
    """Which cells are not empty, and each one's microseconds as ``layout`` reads them.

    The cells of each length are read at once, as an array of code points, by
    ``layout(codes, template)`` in the layout of the first of them (a few layouts: a loop over
    them). None when every cell is empty or ``layout`` refuses the cells of some length.
    """
    lengths = np.char.str_len(texts) if texts.size else np.zeros(0, dtype=np.int64)
    known = lengths > 0
    if not known.any():
        return None
    codes = texts.view(np.uint32).reshape(texts.size, texts.dtype.itemsize // 4)
    micro = np.zeros(texts.size, dtype=np.int64)
    for length in np.unique(lengths[known]).tolist():
        rows = np.flatnonzero(lengths == length)
        got = layout(codes[rows, :length], str(texts[rows[0]]))
        if got is None:
            return None
        micro[rows] = got
    return known, micro


#: The naive datetime of the epoch, for placing wall hours in a zone.
_EPOCH_WALL = dt.datetime(1970, 1, 1)
_HOUR_US = 3_600 * _US_PER_S


def _zoned_column(
    texts: npt.NDArray[np.str_], zone: zoneinfo.ZoneInfo
) -> npt.NDArray[np.datetime64] | None:
    """Stripped cells that are all ISO 8601 wall times without an offset, read in ``zone``.

    The cells of each length are read in the layout of the first of them (:func:`_iso_layout`,
    as if written in UTC); then each distinct wall hour is placed in the zone once: an hour
    whose start and end have one UTC offset, whichever of a repeated time they name, holds
    no change of the zone's offset, and its times are that offset from UTC. None when any
    cell does not fit, an hour holds a change of offset (a DST change's skipped or repeated
    hour) or an instant lies outside the years 1970 to 9998: the caller then reads every cell
    by :func:`_parse_time`, which gives the same instants and names the rule a cell breaks.
    """
    read = _by_layout(texts, _wall_layout)
    if read is None:
        return None
    known, wall = read
    hours, inverse = np.unique(wall[known] // _HOUR_US, return_inverse=True)
    offsets = np.empty(hours.size, dtype=np.int64)
    for k, hour in enumerate(hours.tolist()):
        start = _EPOCH_WALL + dt.timedelta(hours=hour)
        ends = (start, start + dt.timedelta(microseconds=_HOUR_US - 1))
        seen = {t.replace(tzinfo=zone, fold=fold).utcoffset() for t in ends for fold in (0, 1)}
        offset = seen.pop()
        if seen or offset is None:
            return None  # the zone's offset changes in this hour: cell by cell
        offsets[k] = offset // dt.timedelta(microseconds=1)
    utc = wall[known] - offsets[inverse.reshape(-1)]
    if not ((utc >= _FIRST_US) & (utc < _END_US)).all():
        return None
    out = np.full(texts.size, np.datetime64("NaT", "us"))
    out[known] = utc.astype("datetime64[us]")
    return out


def _wall_layout(codes: npt.NDArray[np.uint32], template: str) -> npt.NDArray[np.int64] | None:
    """:func:`_iso_layout` of wall times without an offset, as if written in UTC (or None)."""
    m = _ISO_DATETIME.fullmatch(template)
    if m is None or m.group(4) is None or m.group(8) is not None:
        return None  # a date alone, or a time with an offset among them
    utc_mark = np.full((codes.shape[0], 1), ord("Z"), dtype=np.uint32)
    return _iso_layout(np.hstack([codes, utc_mark]), template + "Z")


def _times(
    cells: Sequence[str],
    column: str,
    where: Where,
    zone: zoneinfo.ZoneInfo | None,
    marks: Marks | None = None,
) -> npt.NDArray[np.datetime64]:
    """A column of observed_at cells as UTC microseconds (empty cells NaT).

    Columns all of epoch seconds, or all of ISO 8601 date-times with an offset in a few
    layouts, are read in bulk (:func:`_epoch_column`, :func:`_iso_column`); any other column
    is read cell by cell by :func:`_parse_time` (:func:`_cell_times`), which gives the same
    instants and names the cell and rule of a refusal.
    """
    marks = Marks() if marks is None else marks
    texts = np.char.strip(np.asarray(cells, dtype=np.str_)) if cells else np.array([], "U1")
    stamps = _epoch_column(texts)
    if stamps is not None:
        marks.note(cells, column, where)
        return stamps
    stamps = _iso_column(texts)
    if stamps is not None:
        return stamps
    if zone is not None:  # wall times, as spreadsheets write them, in --timezone
        stamps = _zoned_column(texts, zone)
        if stamps is not None:
            return stamps
    return _cell_times(texts, cells, column, where, zone, marks)


def _cell_times(
    texts: npt.NDArray[np.str_],
    cells: Sequence[str],
    column: str,
    where: Where,
    zone: zoneinfo.ZoneInfo | None,
    marks: Marks,
) -> npt.NDArray[np.datetime64]:
    """The stripped ``texts`` of ``cells`` read by :func:`_parse_time`, naming a refused cell."""
    # Cell by cell, each distinct text parsed once (fixes often share a timestamp).
    distinct, first, inverse = np.unique(texts, return_index=True, return_inverse=True)
    values = np.full(distinct.size, np.datetime64("NaT"), dtype="datetime64[us]")
    epochs: list[int] = []  # the first row of each epoch-seconds text with a decimal mark
    for k, text in enumerate(distinct.tolist()):
        if not text:
            continue  # an unknown time stays unknown
        try:
            utc = _parse_time(text, zone)
        except ValueError as err:
            i = int(first[k])
            raise _problem(where(i), column, str(err), cells[i]) from None
        values[k] = np.datetime64(utc.replace(tzinfo=None), "us")
        if ("." in text or "," in text) and _EPOCH.fullmatch(text):
            epochs.append(int(first[k]))
    for i in sorted(epochs):  # the file's mark?
        marks.cell(cells[i], column, where, i)
    return values[inverse.reshape(-1)]


def _flags(cells: Sequence[str], column: str, where: Where) -> npt.NDArray[np.bool_]:
    """A tester column's cells as booleans, all at once (an empty cell is false)."""
    if not cells:
        return np.zeros(0, dtype=np.bool_)
    texts = np.char.lower(np.char.strip(np.asarray(cells, dtype=np.str_)))
    out = np.isin(texts, sorted(_TRUE))
    bad = ~(out | np.isin(texts, sorted(_FALSE)))
    if bad.any():
        i = int(np.argmax(bad))
        rule = "must be 1/0, true/false, t/f, yes/no, y/n, ja/nej or sant/falskt (or empty)"
        text = str(texts[i])
        rule += _missing_hint(cells[i].strip())
        raise _problem(where(i), column, _PG_NULL_RULE if text == "\\n" else rule, cells[i])
    return np.asarray(out, dtype=np.bool_)


#: A number in a spreadsheet's scientific notation (``4.6701E+10``, ``4,6701E+10``): what Excel
#: shows, and saves as CSV, for a long number such as a phone number in a General cell. Its
#: digits beyond the sixth are gone, so it names no device (and several devices alike).
_SCIENTIFIC = re.compile(r"[+-]?\d(?:[.,]\d+)?[eE][+-]\d{1,3}", re.ASCII)
#: The same, as one line of the ids joined by newlines (to scan a whole column at once).
_SCIENTIFIC_LINE = re.compile(r"^" + _SCIENTIFIC.pattern + r"$", re.ASCII | re.MULTILINE)
#: An integer written as a float (``7.0``): pandas writes an integer column so once one value
#: is missing. When every id reads so, the device ids ``7`` were turned into ``7.0``.
_FLOAT_INT = re.compile(r"-?\d+[.,]0", re.ASCII)


def _unformula(text: str) -> str:
    """``="0701234567"`` (a text formula written so that Excel keeps leading zeros) as its text."""
    if text.startswith('="') and text.endswith('"') and len(text) >= 3 and '"' not in text[2:-1]:
        return text[2:-1].strip()
    return text


#: The footer psql's aligned and unaligned outputs end with: ``(1 row)``, ``(20 rows)``.
_PSQL_FOOTER = re.compile(r"\(\d+ rows?\)")
_PSQL_FOOTER_RULE = (
    "is psql's count of rows, which its unaligned output (-A -F ,) ends with, not a device; "
    "export with psql --csv, or \\copy (...) TO 'file' CSV HEADER"
)


def _text_ids(cells: Sequence[str], where: Where) -> npt.NDArray[np.str_]:
    """Ids as text, stripped; refused: empty, PostgreSQL NULL, NUL, scientific notation (see above).

    The column is scanned once as one joined text (in C); only a suspicious column is walked
    id by id to name the first bad one.
    """
    _check_lengths("id", cells, where)
    ids = [c.strip() for c in cells]
    joined = "\n".join(ids)
    if '="' in joined:
        ids = [_unformula(v) if v.startswith('="') else v for v in ids]
        joined = "\n".join(ids)
    suspicious = (
        not all(ids)
        or "\\N" in joined
        or "\x00" in joined
        or '"' in joined
        or " row" in joined
        or (
            any(sign in joined for sign in ("E+", "E-", "e+", "e-"))
            and _SCIENTIFIC_LINE.search(joined) is not None
        )
    )
    del joined
    if suspicious:
        for i, v in enumerate(ids):
            if not v:
                raise _problem(where(i), "id", "must not be empty", cells[i])
            if v == _PG_NULL:
                raise _problem(where(i), "id", _PG_NULL_RULE, cells[i])
            if where.lines is not None and _SPACE_QUOTED.fullmatch(cells[i]):  # (CSV)
                # Not an id with quotes in it (a quoted cell writes them """a"""): the
                # device's id would be another's, its quotes kept, silently.
                raise _problem(
                    where(i), "id", "would be read with its quotes" + SPACE_QUOTED_HINT, cells[i]
                )
            if _PSQL_FOOTER.fullmatch(v):
                raise _problem(
                    where(i),
                    "id",
                    _PSQL_FOOTER_RULE,
                    cells[i],
                )
            if "\x00" in v:  # numpy's text arrays cut trailing NULs: 'a\0' and 'a' would collide
                raise _problem(where(i), "id", "must not hold NUL characters", cells[i])
            if _SCIENTIFIC.fullmatch(v):
                raise _problem(
                    where(i),
                    "id",
                    "is a number in scientific notation, as a spreadsheet shows a long number "
                    "such as a phone number: its last digits are lost; format the column as "
                    "text before exporting",
                    cells[i],
                )
    return np.array(ids, dtype=np.str_) if ids else np.array([], dtype=np.str_)


#: Significant digits a spreadsheet keeps of a number: Excel (and LibreOffice Calc and Google
#: Sheets) writes a longer integer with zeros in place of its further digits.
SPREADSHEET_DIGITS = 15
#: Zeros past the 15th digit, summed over a column's long numeric ids, from which they are
#: taken for a spreadsheet's rounding: ids of random digits all end so once in 10**6 files.
_ROUNDED_ZEROS = 6


def _spreadsheet_rounded(ids: npt.NDArray[Any], where: Where) -> None:
    """Refuse long numeric ids that a spreadsheet rounded to 15 significant digits.

    An id of 16 digits or more (an ICCID, a 64-bit database key) that passed through a
    spreadsheet as a number comes back with zeros after its 15th digit (a column formatted as
    a number with no decimals, so not in scientific notation): ``89460123456789012345`` is
    written ``89460123456789000000``. It names no device, or two devices become one. Refused
    in a column of numbers (every id digits alone) when every id of 16 digits or more ends so,
    none begins with 0 (a spreadsheet writes no leading zero), and their zeros past the 15th
    digit are at least :data:`_ROUNDED_ZEROS`.
    """
    width = ids.dtype.itemsize // 4 if ids.dtype.kind == "U" else 0
    if width <= SPREADSHEET_DIGITS or not ids.size:
        return  # no id longer than 15 characters: the common case, no scan
    first = str(ids[0])
    if not (first.isascii() and first.isdigit()):
        return  # a column of text ids (UUIDs, names): no number a spreadsheet held
    if len(first) > SPREADSHEET_DIGITS and first[SPREADSHEET_DIGITS:].strip("0"):
        return  # a long id with its own digits past the 15th: not rounded, nor are the rest
    # The ids' code points, one row an id, padded with NULs (no id holds one), not copied.
    codes = np.ascontiguousarray(ids).view(np.uint32).reshape(ids.size, width)
    if codes.max() > ord("9") or np.count_nonzero(codes < ord("0")) != np.count_nonzero(codes == 0):
        return  # not every id is a number (a code point other than a digit or the padding)
    long = np.flatnonzero(codes[:, SPREADSHEET_DIGITS] != 0)
    tail = codes[long, SPREADSHEET_DIGITS:]
    if (
        not long.size
        or (codes[long, 0] == 48).any()
        or not ((tail == 48) | (tail == 0)).all()
        or int(np.count_nonzero(tail)) < _ROUNDED_ZEROS
    ):
        return
    i = int(long[0])
    raise _problem(
        where(i),
        "id",
        f"ends in zeros after its {SPREADSHEET_DIGITS}th digit, as all {long.size:,} ids of "
        f"more than {SPREADSHEET_DIGITS} digits here do: a spreadsheet writes a long number so "
        f"(Excel keeps {SPREADSHEET_DIGITS} significant digits), and the digits it lost name "
        "the device (or two devices became one); export the ids from their source again, or "
        "import the column as text (not as a number) before saving as CSV",
        str(ids[i]),
    )


def _float_ids(ids: npt.NDArray[Any], where: Where) -> None:
    """Refuse a text id column in which every id is an integer written as a float (``7.0``).

    Or with a decimal comma (``7,0``: pandas' ``to_csv(decimal=",")``, as a Swedish export is
    written). And one whose long numeric ids a spreadsheet rounded
    (:func:`_spreadsheet_rounded`).
    """
    _spreadsheet_rounded(ids, where)
    if ids.dtype.kind != "U" or not ids.size:
        return
    if not (np.char.endswith(ids, ".0") | np.char.endswith(ids, ",0")).all():
        return
    if all(_FLOAT_INT.fullmatch(v) for v in ids.tolist()):
        raise _problem(
            where(0),
            "id",
            "every id is an integer written as a float (pandas writes 7 as 7.0, or 7,0 with "
            "decimal=',', once an id column has a missing value), so no id names its device; "
            "write them as integers",
            str(ids[0]),
        )


#: A longitude and a latitude both this large are no projected metres: SWEREF 99 TM, RT90,
#: UTM and Web Mercator's coordinates of Sweden stay below it (Web Mercator's easting does
#: everywhere but beyond 89.8 degrees east or west). Degrees times 10**7 (E7) or 10**6, or
#: Garmin's semicircles, exceed it from 1 and 10 degrees on.
_SCALED_DEGREES = 10_000_000.0


def _nmea(value: float, limit: float) -> bool:
    """Whether ``value`` is in degrees or reads as NMEA's degrees-and-minutes (DDMM.mmmm)."""
    size = abs(float(value))
    return size <= limit or (size < limit * 100.0 and size % 100.0 < 60.0)


def _check(
    ids: npt.NDArray[Any],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    accuracy: npt.NDArray[np.float64] | None,
    where: Where,
) -> None:
    """The row rules, checked here so that errors name the file's rows (vectorised)."""
    from geotarget.positions import (
        _MAX_ACCURACY_M,
        _TWO_FORMS,
        _escaped,
        _normal_form_twins,
        _sorted_repeats,
    )

    if ids.size > 1:
        order = np.argsort(ids, kind="stable")
        dup = _sorted_repeats(ids, order)  # (no second copy of the ids)
        if dup.size:
            earlier, second = sorted(order[dup[0] : dup[0] + 2].tolist())
            raise InvalidPositions(
                f"{where(second)}, column id: ids must be unique (got {str(ids[second])!r}, "
                f"already at {where.row(earlier)}): a file holds one row per device; a log of "
                "several fixes of each device? keep each device's latest fix"
            )
        twins = _normal_form_twins(ids) if ids.dtype.kind == "U" else None
        if twins is not None:
            earlier, second = twins
            raise InvalidPositions(
                f"{where(second)}, column id: ids must be unique (got {_escaped(ids[second])}, "
                f"and {_escaped(ids[earlier])} at {where.row(earlier)}: {_TWO_FORMS}"
            )

    def first(mask: npt.NDArray[np.bool_]) -> int | None:
        hits = np.flatnonzero(mask)
        return int(hits[0]) if hits.size else None

    nan_x, nan_y = np.isnan(lon), np.isnan(lat)
    if (i := first(nan_x != nan_y)) is not None:
        column = "lon" if nan_x[i] else "lat"
        raise InvalidPositions(
            f"{where(i)}, column {column}: is empty (or NaN) while "
            f"{'lat' if column == 'lon' else 'lon'} is not; give both (a fix) or neither (no fix)"
        )
    fix = ~nan_x
    for name, values, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if (i := first(fix & ~(np.abs(values) <= limit))) is not None:
            hint = ""
            if abs(values[i]) in (999.0, 9999.0, 99999.0, 999999.0):
                hint = (  # a placeholder some exports write for "no fix"
                    "; a placeholder for no fix? leave both lon and lat empty for a row "
                    "without a fix"
                )
            elif name == "lat" and abs(lon[i]) <= 90.0 and abs(lat[i]) <= 180.0:
                hint = "; are lon and lat swapped?"
            elif _nmea(lon[i], 180.0) and _nmea(lat[i], 90.0):
                # 4807.038 for 48°07.038': not metres (a SWEREF 99 TM northing has 7 digits).
                hint = (
                    "; degrees and minutes written together (DDMM.mmmm, as NMEA sentences and "
                    "GPS loggers write them, 4807.038 for 48°07.038')? convert them to "
                    "decimal degrees (48 + 07.038/60)"
                )
            elif min(abs(lon[i]), abs(lat[i])) >= _SCALED_DEGREES:
                # Both beyond any grid's metres in Sweden (and most places): degrees scaled to
                # integers. (SWEREF 99 TM's northing was named for Google's 593325000.)
                hint = (
                    "; degrees written as integers? degrees times 10,000,000 (E7, as Google's "
                    "location history writes latitudeE7), times 1,000,000 (microdegrees) or "
                    "Garmin's semicircles (times 2**31/180, as FIT files hold them): convert "
                    "them to decimal degrees"
                )
            elif not (abs(lon[i]) <= 180.0 or abs(lat[i]) <= 90.0):
                # Both beyond degrees: metres, as Swedish authorities' data often is. The lat
                # is not quoted: with the lon quoted, it is the device's position.
                hint = (
                    ", and lat lies beyond [-90, 90] too: metres in a projected system such as "
                    "SWEREF 99 TM (EPSG:3006)? convert them to WGS84 longitude and latitude "
                    "in degrees"
                )
            raise InvalidPositions(
                f"{where(i)}, column {name}: must lie within [-{limit:g}, {limit:g}] degrees "
                f"(got {float(values[i])!r}){hint}"
            )
    if accuracy is not None and (i := first(fix & ~(accuracy >= 0.0))) is not None:
        what = "is empty" if np.isnan(accuracy[i]) else f"is {float(accuracy[i])!r}"
        # iOS's CLLocation.horizontalAccuracy (read as accuracy_m) is negative for a location
        # that is no fix: its coordinates are not to be used.
        invalid = (
            "; a negative accuracy is how iOS marks a location that is no fix "
            "(horizontalAccuracy -1): leave such a row's lon and lat empty"
            if accuracy[i] < 0
            else ""
        )
        raise InvalidPositions(
            f"{where(i)}, column accuracy_m: must be a number of metres >= 0 for a row with a "
            f"fix ({what}){invalid}"
        )
    if accuracy is not None and (i := first(fix & (accuracy > _MAX_ACCURACY_M))) is not None:
        raise InvalidPositions(
            f"{where(i)}, column accuracy_m: must be at most {_MAX_ACCURACY_M:,.0f} m (the "
            f"Earth's circumference) for a row with a fix (is {float(accuracy[i])!r}); a "
            "placeholder for an unknown accuracy? give each fix its real radius"
        )


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def _text_line(text: str, end: int) -> int:
    """The line (from 1) of character ``end`` of ``text``, as the CSV reader counts lines.

    CR, LF and CRLF each end one line (:func:`_lines`, which feeds the csv module), so an old
    Mac file (CR only) counts its lines as its rows do.
    """
    crlf = text.count("\r\n", 0, end)
    return text.count("\n", 0, end) + text.count("\r", 0, end) - crlf + 1


def _line_of(data: bytes, offset: int, codec: str) -> int:
    r"""The line (from 1) of byte ``offset`` of ``data`` in ``codec``, as the CSV reader counts.

    The bytes before it are decoded (damage replaced), so that a line break is counted as a
    character, whatever bytes the codec writes it with (``\r\x00\n\x00`` in UTF-16).
    """
    before = data[:offset].decode(codec, "replace")
    return _text_line(before, len(before))


#: What an Arrow IPC (Feather) file is told: the positions are read from Parquet.
_AS_PARQUET = (
    "write the table as Parquet (pyarrow.parquet.write_table, or a frame's to_parquet or "
    "write_parquet) with the suffix .parquet"
)
_ARROW_IPC = f"an Arrow IPC (Feather) file, which is not read; {_AS_PARQUET}"

#: What to do with a report or a picture of the positions given as the positions.
_EXPORT_TABLE = "export the positions' table itself as CSV"
#: Files that are no text, by their first bytes, and what to do instead.
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed; decompress it first (gunzip)"),
    (b"BZh", "bzip2-compressed; decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first (unxz)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; decompress it first (unzstd)"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx or .ods workbook?); save or extract it as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls); save it as CSV"),
    (b"PAR1", "a Parquet file; give it the suffix .parquet"),
    (b"ARROW1", _ARROW_IPC),  # (Feather V2 is this format; V1's "FEA1" is long gone)
    (b"FEA1", _ARROW_IPC),
    (b"SQLite format 3\x00", "a SQLite database (a GeoPackage?); export its table as CSV"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; extract it first (7z x)"),
    (b"Rar!\x1a\x07", "a RAR archive; extract it first (unrar x)"),
    # Files saved under a wrong name: a report or a screenshot of the data, not the data.
    (b"%PDF-", f"a PDF document; {_EXPORT_TABLE}"),
    (b"\x89PNG\r\n\x1a\n", f"a PNG image; {_EXPORT_TABLE}"),
    (b"\xff\xd8\xff", f"a JPEG image; {_EXPORT_TABLE}"),
    (b"GIF87a", f"a GIF image; {_EXPORT_TABLE}"),
    (b"GIF89a", f"a GIF image; {_EXPORT_TABLE}"),
)


def _not_text(data: bytes, name: str) -> None:
    """Refuse a compressed file, an archive, a workbook, Parquet, a PDF or an image given as CSV."""
    for magic, what in _NOT_TEXT:
        if data.startswith(magic):
            if name == STDIN_NAME and magic == b"PAR1":
                what = "a Parquet file, which is read from a file only: give its name"
            raise InvalidInput(f"{name}: is not CSV text but {what}")


def _bom(data: bytes) -> str | None:
    """The Unicode encoding a byte-order mark at the start of ``data`` names, or None."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"  # before UTF-16: UTF-32 LE's mark begins with UTF-16 LE's
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    return "UTF-8" if data.startswith(codecs.BOM_UTF8) else None


def _bom_order(data: bytes) -> str | None:
    """The codec of the byte order a UTF-16 or UTF-32 mark names (``utf-16-be``...), or None."""
    for mark, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16: UTF-32 LE's mark begins with it
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(mark):
            return codec
    return None


def _error_offset(data: bytes, codec: str, err: UnicodeDecodeError) -> int:
    """Where in ``data`` a decoding error lies.

    Python's UTF-8-with-BOM codec counts its positions after the mark.
    """
    if codecs.lookup(codec).name == "utf-8-sig" and data.startswith(codecs.BOM_UTF8):
        return int(err.start) + len(codecs.BOM_UTF8)
    return int(err.start)


def _wide_text(data: bytes) -> str | None:
    """The UTF-16 or UTF-32 form whose NUL bytes a file's start shows (ASCII text), or None.

    A header line of ASCII names, written in UTF-16 without a BOM, has a NUL after each
    character (little-endian) or before it (big-endian); UTF-32 three of them. A NUL elsewhere
    (one in a UTF-8 cell) names no form. (Big-endian text was told to give utf-16-le.)
    """
    head = data[: min(len(data), 64) // 4 * 4]
    if len(head) < 4:
        return None
    for form, size, text_at in (
        ("UTF-32-LE", 4, 0),
        ("UTF-32-BE", 4, 3),
        ("UTF-16-LE", 2, 0),
        ("UTF-16-BE", 2, 1),
    ):
        units = [head[k : k + size] for k in range(0, len(head), size)]
        if all(
            u[text_at] != 0 and not any(b for j, b in enumerate(u) if j != text_at) for u in units
        ):
            return form
    return None


def decode(data: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    """The text of a file and the name of its encoding, by the module's rule."""
    _not_text(data, name)
    if encoding is not None:
        info = charset(encoding)
        if info is None:  # unknown, no text codec (rot13), or no charset (idna, utf-7, undefined)
            raise InvalidInput(
                "--encoding must name a text encoding such as utf-8 or cp1252 "
                f"(got {_shown(encoding)})"
            )
        bom = _bom(data)
        if bom is not None and not info.name.startswith(bom.lower()):
            # A byte-order mark names its encoding: read otherwise, the header is mojibake.
            raise InvalidInput(
                f"{name}: begins with a {bom} byte-order mark, but --encoding {encoding} was "
                f"given: leave --encoding out (the mark says {bom}) or give --encoding "
                f"{bom.lower()}"
            )
        order = _bom_order(data)
        if order is not None and info.name.endswith(("-le", "-be")) and info.name != order:
            # utf-16-le on a big-endian file: every character byte-swapped.
            said = f"{bom} {'little' if order.endswith('-le') else 'big'}-endian"
            raise InvalidInput(
                f"{name}: begins with a {said} byte-order mark, but --encoding {encoding} was "
                f"given: leave --encoding out (the mark says {said}) or give --encoding "
                f"{str(bom).lower()} or {order}"
            )
        wide = _wide_text(data) if bom is None and info.name in ("utf-16", "utf-32") else None
        if wide is not None and wide.endswith("-BE"):  # Python's codec reads no mark as LE
            raise InvalidInput(
                f"{name}: has no byte-order mark, and its first line is {wide} text (NUL bytes "
                f"before each character), which --encoding {encoding} reads byte-swapped: "
                f"give --encoding {wide.lower()}"
            )
        wide_codec = info.name.startswith(("utf-16", "utf-32"))
        if wide_codec and bom is None and data and b"\0" not in data:
            # Every ASCII character (the header's names, digits, delimiters) is one byte and
            # NULs in UTF-16 or UTF-32: a file without a NUL is another encoding's text, which
            # the codec would read as a line of CJK characters, not refused.
            raise InvalidInput(
                f"{name}: holds no NUL byte, so it is no {info.name.upper()} text (its ASCII "
                f"characters, the header's names among them, would each have one): --encoding "
                f"{encoding} is not the file's encoding; leave --encoding out to have it detected"
            )
        try:
            text = data.decode(info.name)
        except UnicodeDecodeError as err:
            at = _error_offset(data, info.name, err)
            if _cut_short(err) and info.name.startswith("utf"):
                raise _cut_short_error(
                    name, data, at, info.name, info.name.removesuffix("-sig").upper()
                ) from None
            raise InvalidInput(
                f"{name}: line {_line_of(data, at, info.name)}: byte {data[at]:#04x} is not "
                f"{info.name} (--encoding {encoding})"
            ) from None
        except (ValueError, LookupError, TypeError) as err:  # any other codec failure
            # (UnicodeError, which is a ValueError, from a codec that names no byte.)
            raise InvalidInput(
                f"{name}: is not readable as {info.name} (--encoding {encoding}): "
                f"{str(err) or type(err).__name__}"
            ) from None
        _c1_refused(data, text, info.name, name, encoding)
        return text.removeprefix("\ufeff"), info.name
    bom = _bom(data)
    if bom == "UTF-8":
        form = ("utf-8-sig", "UTF-8 with BOM")
    elif bom is not None:  # UTF-16 or UTF-32: Python's codec reads the mark's byte order
        form = (bom.lower(), bom)
    else:
        if b"\x00" in data:
            nul_line = _line_of(data, data.index(b"\x00"), "latin-1")
            wide = _wide_text(data)
            hint = f" ({wide} without a BOM? give --encoding {wide.lower()})" if wide else ""
            raise InvalidInput(
                f"{name}: line {nul_line}: holds NUL bytes, so it is no UTF-8 or cp1252 text{hint}"
            )
        try:
            return data.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError as err:
            utf8 = _UTF8_MULTIBYTE.search(data)
            if utf8 is not None and _cut_short(err):
                raise _cut_short_error(name, data, err.start, "utf-8", "UTF-8") from None
            if utf8 is not None:  # read as cp1252, the UTF-8 text would become mojibake
                raise InvalidInput(
                    f"{name}: line {_line_of(data, err.start, 'utf-8')}: byte "
                    f"{data[err.start]:#04x} is not UTF-8, but line "
                    f"{_line_of(data, utf8.start(), 'utf-8')} is UTF-8 "
                    f"({utf8.group().decode()!r}): the file mixes two encodings (rows "
                    "appended by another program?); convert it to one, or say which it is "
                    "with --encoding"
                ) from None
            form = ("cp1252", "cp1252")
    try:
        text = data.decode(form[0]).removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        at = _error_offset(data, form[0], err)
        byte = data[at : at + 1]
        if bom is not None and _cut_short(err):
            raise _cut_short_error(name, data, at, form[0], bom) from None
        if form[0] == "utf-8-sig":  # a UTF-8 file, by its mark: the byte is another encoding's
            raise InvalidInput(
                f"{name}: line {_line_of(data, at, form[0])}: byte {byte[0]:#04x} is not UTF-8 (in "
                f"cp1252 it is {byte.decode('cp1252', 'replace')!r}), but the file begins with "
                "a UTF-8 byte-order mark: it mixes two encodings (rows appended by another "
                "program?); convert it to one"
            ) from None
        if bom is not None:  # UTF-16 or UTF-32 by its mark: its units, and what is wrong
            shown = " ".join(f"{b:#04x}" for b in data[at : max(int(err.end), at + 1)][:4])
            why = str(err.reason)
            if "surrogate" in why:
                why += " (a lone half of a character: was the file cut or joined from parts?)"
            raise InvalidInput(
                f"{name}: line {_line_of(data, at, form[0])}: bytes {shown} are not {bom}, the "
                f"encoding the file's byte-order mark names: {why}; say which encoding it is "
                "with --encoding"
            ) from None
        if form[0] != "cp1252":
            hint = ""
        elif _mac_lines(data):
            hint = (
                f" (in Mac Roman, as Excel for Mac's 'Comma Separated Values' writes with lines "
                f"ending in CR alone, it is {byte.decode('mac_roman')!r}: --encoding mac_roman?)"
            )
        elif _MAC_LETTER.search(data.decode("cp1252", "replace")):  # "PŠr" elsewhere in it
            hint = (
                f" (in Mac Roman, as Numbers and TextEdit write 'Western (Mac OS Roman)', it is "
                f"{byte.decode('mac_roman')!r}: --encoding mac_roman?)"
            )
        else:
            hint = (
                f" (in DOS code page 850, as Excel's 'CSV (MS-DOS)' writes, it is "
                f"{byte.decode('cp850')!r}: --encoding cp850?)"
            )
        raise InvalidInput(
            f"{name}: line {_line_of(data, at, form[0])}: byte {byte[0]:#04x} is neither "
            f"UTF-8 nor {form[1]}; say which encoding it is with --encoding{hint}"
        ) from None
    if form[0] == "cp1252" and _mac_lines(data) and (mac := _NON_ASCII.search(text)) is not None:
        # Lines ending in CR alone are the classic Mac's, which Excel for Mac still writes in
        # its 'Comma Separated Values' format, in Mac Roman: every byte beyond ASCII then
        # means another character in cp1252 ("Pär" reads "PŠr"), and an id read so is
        # another device's.
        line = _text_line(text, mac.start())
        raise InvalidInput(
            f"{name}: line {line}: {mac.group()!r} looks like Mac Roman text (Excel for Mac's "
            "'Comma Separated Values', whose lines end in CR alone, as this file's do) read as "
            f"cp1252: in mac_roman it is {mac.group().encode('cp1252').decode('mac_roman')!r}; "
            "say which encoding the file is in with --encoding mac_roman (or cp1252)"
        )
    if form[0] == "cp1252" and (dos := _DOS_LETTER.search(text)) is not None:
        line = _text_line(text, dos.start())
        raise InvalidInput(
            f"{name}: line {line}: {dos.group()!r} looks like DOS code page 850 text (Excel's "
            f"'CSV (MS-DOS)') read as cp1252: in cp850 it is "
            f"{dos.group().encode('cp1252').decode('cp850')!r}; say which encoding the file "
            "is in with --encoding cp850 (or cp1252)"
        )
    if form[0] == "cp1252" and (mac := _MAC_LETTER.search(text)) is not None:
        line = _text_line(text, mac.start())
        raise InvalidInput(
            f"{name}: line {line}: {mac.group()!r} looks like Mac Roman text (Numbers' and "
            "TextEdit's 'Western (Mac OS Roman)') read as cp1252: in mac_roman it is "
            f"{mac.group().encode('cp1252').decode('mac_roman')!r}; say which encoding the file "
            "is in with --encoding mac_roman (or cp1252)"
        )
    return text, form[1]


def _single_byte(codec: str) -> bool:
    """Whether ``codec`` reads every byte as one character (cp1252, latin-1, cp850...)."""
    if codecs.lookup(codec).name.startswith("utf"):  # UTF-8 replaces each bad byte alone
        return False
    try:
        return len(bytes(range(256)).decode(codec, "replace")) == 256
    except (ValueError, LookupError, TypeError):  # (a codec without the replace handler)
        return False


#: The C1 control characters that are cp1252's typography (en dash, curly quotes, euro sign,
#: ellipsis) read by the ISO 8859 family, whose byte is the character's code point. (0x81,
#: 0x8d, 0x8f, 0x90 and 0x9d are no cp1252 character: latin-1 is the way to read those.)
_C1 = re.compile("[\x80\x82-\x8c\x8e\x91-\x9c\x9e\x9f]")


def _c1_refused(data: bytes, text: str, codec: str, name: str, encoding: str) -> None:
    """Refuse text that ``--encoding`` read with a C1 control character: ids would differ.

    No text means one (U+0080 to U+009F), but ISO 8859 reads cp1252's typography as one, which
    Windows writes and MySQL's ``latin1`` is (``–`` reads U+0096); or it is U+0085 (NEL), with
    which text converted from EBCDIC ends its lines. Only one that is a cp1252 character.
    """
    if not _single_byte(codec):
        return
    c1 = _C1.search(text)
    if c1 is None:
        return
    byte = c1.group().encode(codec, "replace")
    try:
        windows = f"; in cp1252 it is {byte.decode('cp1252')!r}: --encoding cp1252?"
    except UnicodeDecodeError:  # (0x81, 0x8d, 0x8f, 0x90, 0x9d: no cp1252 character)
        windows = ""
    nel = (
        " (U+0085 is NEL, with which text converted from EBCDIC ends its lines: convert them to LF)"
        if c1.group() == "\x85"
        else ""
    )
    if utf8_read_otherwise(data, encoding) is not None:  # ('Å' is C3 85 in UTF-8)
        windows, nel = "; the file is UTF-8 text throughout: leave --encoding out", ""
    raise InvalidInput(
        f"{name}: line {_text_line(text, c1.start())}: byte {byte[0]:#04x} is a control "
        f"character in {codec} (U+{ord(c1.group()):04X}), which no text holds{nel}; "
        f"--encoding {encoding} is most likely not the file's encoding{windows}"
    )


def utf8_read_otherwise(data: bytes, encoding: str) -> str | None:
    """A note when a single-byte ``--encoding`` read text that is UTF-8 throughout, or None.

    Each character beyond ASCII then reads as two or three (``å`` as ``Ã¥``), and an id read
    so is another device's. Not refused: the text may be that encoding's too (``Ã¥`` is two
    cp1252 characters), and an explicit encoding is the way to read it so; but said.
    """
    codec = charset(encoding)
    if codec is None or not _single_byte(codec.name):
        return None
    utf8 = _UTF8_MULTIBYTE.search(data)
    if utf8 is None:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # not UTF-8 throughout: its bytes are the single-byte encoding's own
    char = utf8.group().decode("utf-8")
    shown = " ".join(f"{b:#04x}" for b in utf8.group())
    return (
        f"line {_line_of(data, utf8.start(), codec.name)} is UTF-8 text ({char!r} is written "
        f"in UTF-8's bytes {shown}), read as --encoding {encoding} says: "
        f"{utf8.group().decode(codec.name, 'replace')!r}; an id read so is another device's: "
        "if the file is UTF-8, leave --encoding out (or give --encoding utf-8)"
    )


def _cut_short(err: UnicodeDecodeError) -> bool:
    """Whether a codec failed because the text ends inside a character (a file cut short)."""
    return err.reason in ("unexpected end of data", "truncated data")


def _cut_short_error(name: str, data: bytes, at: int, codec: str, form: str) -> InvalidInput:
    """The refusal of a file of ``form`` text whose last character is cut at byte ``at``.

    Its bytes are not another encoding's (the file is refused as mixing two, or told to name
    one with --encoding): the file was cut short, and its last row with it.
    """
    shown = " ".join(f"{b:#04x}" for b in data[at:][:4])
    return InvalidInput(
        f"{name}: line {_line_of(data, at, codec)}: ends inside a {form} character (bytes "
        f"{shown}, the start of one): the file was cut short (an interrupted copy, download "
        "or export?), and its last row with it; read the whole file again"
    )


def _mac_lines(data: bytes) -> bool:
    """Whether every line of ``data`` ends in CR alone (a classic Mac's text), none in LF."""
    return b"\r" in data and b"\n" not in data


#: A character beyond ASCII with the letters beside it (never digits: a message quotes it, and
#: digits beside it may be a device's coordinates).
_NON_ASCII = re.compile(r"[^\W\d_]?[^\x00-\x7f][^\W\d_]?")

#: In cp1252 text, a letter, one of „ † ” ™ ‚ and a letter: these typographic marks never sit
#: inside a word, but they are the bytes of ä å ö Ö é in DOS code page 850, which Excel's
#: "CSV (MS-DOS)" writes ("Pär" saved so reads as "P„r" in cp1252).
_DOS_LETTER = re.compile(
    "[A-Za-z\u00c0-\u00ff][\u201e\u2020\u201d\u2122\u201a][A-Za-z\u00c0-\u00ff]"
)

#: In cp1252 text, a letter, one of Š Œ Ž € … š Ÿ and a small letter: the bytes of Mac Roman's
#: ä å é Ä Ö ö ü, which Swedish words hold and these marks and letters never sit so in
#: ("Pär" and "Göran" saved in Mac Roman read "PŠr" and "Gšran"). Lines ending in LF, as
#: today's Mac applications write them, are not caught by the CR-alone rule above.
_MAC_LETTER = re.compile(
    "[A-Za-z\u00c0-\u00ff][\u0160\u0152\u017d\u20ac\u2026\u0161\u0178][a-z\u00df-\u00ff]"
)

#: A UTF-8 encoded character beyond ASCII (a lead byte and its continuation bytes). In cp1252
#: text such pairs are mojibake (``Ã¥``), so a file holding one and bytes that are not UTF-8
#: mixes encodings.
_UTF8_MULTIBYTE = re.compile(
    # Exactly the well-formed multi-byte sequences (RFC 3629 §4): no overlong forms
    # (E0 80 80), no surrogates (ED A0 80), nothing past U+10FFFF (F4 90 80 80).
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)

_QUOTED = re.compile(r'"[^"]*"')


#: A line's text, without its end. (Matched where a line begins: ``re.split`` with a
#: ``maxsplit`` would copy the rest of the text, as long as the file, to find one line.)
_LINE_TEXT = re.compile(r"[^\r\n]*")


def _delimiter(text: str) -> str:
    """The delimiter the header line uses most, outside quoted names (``"lat, deg"``)."""
    first = _LINE_TEXT.match(text)
    assert first is not None  # it matches the empty text
    header = _QUOTED.sub("", first.group())
    counts = [header.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))] if max(counts) else ","


_SEP_LINE = re.compile(r"sep=(.?)[ \t]*(?:\r\n?|\n|$)", re.IGNORECASE)


def _excel_sep(text: str, name: str) -> str | None:
    """The delimiter a first line ``sep=;`` (Excel's dialect line) names, or None without one."""
    m = _SEP_LINE.match(text)
    if m is None:
        return None
    delim = m.group(1)
    if not delim or delim == '"' or delim.isalnum():
        raise InvalidInput(
            f"{name}: line 1: 'sep=' must name one delimiter character such as ';' "
            f"(got {_show(m.group(0).rstrip())})"
        )
    return delim


def column_key(raw: object) -> str | None:
    """The known column a header names, or None.

    Case, surrounding spaces, characters that show nothing (:data:`_INVISIBLE`) and Unicode
    normalisation (``längdgrad`` in NFD, as macOS may write it) aside.

    An alias (:data:`ALIASES`: ``latitude``, ``longitude``, ``lng``, ``long``, the Swedish
    ``latitud``, ``longitud``, ``breddgrad``, ``längdgrad``, ``device_id``, ``accuracy``,
    ``horizontal_accuracy``, ``horizontalAccuracy``) names its column.
    """
    key = unicodedata.normalize("NFC", _INVISIBLE.sub("", str(raw))).strip().lower()
    key = ALIASES.get(key, key)
    return key if key in KNOWN else None


#: Characters that show nothing, in a header name copied from a web page or a wiki (a zero-width
#: space, a word joiner, a soft hyphen, a byte order mark of a joined file) or written by a
#: right-to-left locale's export (left-to-right and right-to-left marks): no part of a name.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")


def twice(where: str, key: str, header: Sequence[object], first: int, second: int) -> InvalidInput:
    """The error for a header naming column ``key`` at both positions (0-based)."""
    return InvalidInput(
        f"{where}: column {key} appears twice (columns {first + 1} and {second + 1}: "
        f"{str(header[first]).strip()!r} and {str(header[second]).strip()!r}); keep one"
    )


def _header_text(header: Sequence[str]) -> str:
    """A header's names for an error, or, for a line of data, its size: never a device's row.

    A first line holding a decimal number, or two numbers, is taken for a row of data (a file
    without a header line): its fields together may be a device's position (``18.0653917``,
    or ``674032`` and ``6580822`` in SWEREF 99 TM metres), so none is quoted.
    """
    decimals = numbers = 0
    for raw in header:
        text = str(raw).strip()
        if _NUMBER.fullmatch(text) or pair_text(text) is not None:
            numbers += 1
            decimals += "." in text or "," in text
    if not decimals and numbers < 2:
        return names_text(header) or "nothing"
    return (
        f"{len(header):,} fields, {numbers:,} of them number{'' if numbers == 1 else 's'}, not "
        "quoted: a row of data? a row is a device's position"
    )


def _columns(
    header: Sequence[str], name: str, line: int | None = 1
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Known column → index, and the unknown columns' names.

    ``line``: the header's line in a CSV file; None for a Parquet file's schema.
    """
    at = f"{name}: line {line}" if line is not None else name
    known: dict[str, int] = {}
    unknown = []
    for j, raw in enumerate(header):
        key = column_key(raw)
        if key is not None:
            if key in known:
                raise twice(at, key, header, known[key], j)
            known[key] = j
        else:
            unknown.append(raw.strip() or f"(unnamed column {j + 1})")
    missing = [c for c in REQUIRED if c not in known]
    if missing:
        found = _header_text(header)
        raise InvalidInput(
            f"{at}: lacks column(s) {', '.join(missing)} (has {found}); "
            f"the {'first line' if line == 1 else 'line after sep='} must name the columns: "
            f"{', '.join(KNOWN)} (latitude, longitude, lng, long, latitud, longitud and "
            f"device_id are read as lat, lon, lon, lon, lat, lon and id){_no_lon_lat(header)}"
            f"{_lookalikes(header, missing)}"
        )
    return known, tuple(unknown)


#: Names of a column of whole geometries (WKT ``POINT(18.07 59.33)``, WKB hex), as PostGIS,
#: BigQuery, QGIS and GDAL's CSV driver export them.
_GEOMETRY_NAMES = frozenset(
    {"geometry", "geom", "the_geom", "wkb_geometry", "wkt", "geog", "geography", "st_astext"}
)


#: A column of degrees times 10**7 as Google's location history (Takeout) names it:
#: ``latitudeE7``, ``longitudeE7`` (and ``lat_e7``, ``lng_e7``), in lower case.
_E7_NAME = re.compile(r"(?:lat|lng|lon|long|latitude|longitude)[ _.-]?e7")


#: Delimiters other tools write that the header's count does not find: named by ``sep=``.
_OTHER_DELIMITERS = ("|", ":", "^", "~")


#: A unit, datum or format written after a column's name: ``Lat (deg)``, ``lon_deg``,
#: ``Latitude [°]``, ``lat_wgs84``.
_NAME_UNIT = re.compile(
    r"(?:\s*(?:\(.*\)|\[.*\]|°|[ _.-]?(?:deg|degrees|grader|grad|dd|wgs ?84|epsg:?4326)))+$",
    re.IGNORECASE,
)
#: What a column's name may begin with besides its quantity: ``GPS Latitude``, ``pos_lon``,
#: ``position_lat`` (Garmin FIT), ``geolocation_lon``. (The longer words first: ``pos`` took
#: the start of ``position_lat`` and left ``ition_lat``.)
_NAME_PREFIX = re.compile(r"^(?:(?:position|location|gps|geo|pos|loc|fix)[ _.-]*)+", re.IGNORECASE)
#: Other languages' names of the columns (German, Danish/Norwegian, Finnish, French, Dutch).
_FOREIGN_NAMES = {
    "breite": "lat",
    "breitengrad": "lat",
    "länge": "lon",
    "laenge": "lon",
    "längengrad": "lon",
    "breddegrad": "lat",
    "lengdegrad": "lon",
    "længdegrad": "lon",
    "leveysaste": "lat",
    "pituusaste": "lon",
    "leveys": "lat",
    "pituus": "lon",
    "lengtegraad": "lon",
    "breedtegraad": "lat",
    "device": "id",
    "deviceid": "id",
    "device id": "id",
    "device-id": "id",
}


def _lookalikes(header: Sequence[str], missing: Sequence[str]) -> str:
    """A hint naming the header's columns that look like the ``missing`` ones, by name only.

    ``Lat (deg)``, ``longitude_deg``, ``GPS Latitude``, German ``Breite``: never read as the
    column (``Lat (rad)`` would be radians), but named, so that the right one is renamed.
    """
    found: dict[str, list[str]] = {}
    for raw in header:
        name = str(raw).strip()
        core = _NAME_PREFIX.sub("", _NAME_UNIT.sub("", name)).strip()
        key = column_key(core) or _FOREIGN_NAMES.get(core.lower())
        if key in missing and not re.search(r"\brad", name, re.IGNORECASE):  # not radians
            found.setdefault(str(key), []).append(name)
    if not found:
        return ""
    said = "; ".join(
        f"{' or '.join(repr(n) for n in names)} may be {key}" for key, names in found.items()
    )
    return (
        f"; {said}: rename the column{'s' if len(found) > 1 else ''} if so "
        "(lon and lat in WGS84 degrees)"
    )


#: Names of a column holding a point as one text ("59.3326,18.0654"), as map apps, Google
#: Sheets and web forms export it.
_PAIR_NAMES = frozenset(
    {
        "latlng", "latlon", "lat_lng", "lat_lon", "lat/lng", "lat/lon", "lat,lng", "lat,lon",
        "lnglat", "lonlat", "lng_lat", "lon_lat", "lng/lat", "lon/lat",
        "coordinates", "coords", "coordinate", "koordinater", "position", "location", "point",
    }
)  # fmt: skip


def _e7_hint(header: Sequence[str]) -> str:
    """A hint naming columns of degrees times 10**7 (``latitudeE7``), or ``""``."""
    scaled = [str(n).strip() for n in header if _E7_NAME.fullmatch(str(n).strip().lower())]
    if not scaled:
        return ""
    return (
        f"; {' and '.join(repr(n) for n in scaled[:2])} hold degrees times 10,000,000 (E7, as "
        "Google's location history writes them): divide them by 10,000,000 into columns lon "
        "and lat (WGS84 degrees)"
    )


def _no_lon_lat(header: Sequence[str]) -> str:
    """A hint for a header without lon and lat that holds points otherwise (names only)."""
    if len(header) == 1:
        for d in _OTHER_DELIMITERS:
            parts = [column_key(n) for n in str(header[0]).split(d)]
            if all(c in parts for c in REQUIRED):
                return (
                    f"; its names are separated by {d!r}, which is not read unless named: "
                    f"add a first line sep={d} (as Excel writes one), or write the file with "
                    "commas, semicolons or tabs"
                )
    names = {str(n).strip().lower() for n in header}
    if {"lon", "lat"} & {column_key(n) for n in header}:
        return ""
    scaled = _e7_hint(header)
    if scaled:
        return scaled
    geometry = sorted(names & _GEOMETRY_NAMES)
    if geometry:
        return (
            f"; a geometry column ({geometry[0]!r}) is not read: write the points' longitude "
            "and latitude in degrees (EPSG:4326) as columns lon and lat, e.g. PostGIS's "
            f"ST_X({geometry[0]}) AS lon, ST_Y({geometry[0]}) AS lat"
        )
    pairs = sorted(names & _PAIR_NAMES)
    if pairs:
        order = (
            ", latitude first"
            if pairs[0].startswith("lat")
            else ", longitude first"
            if pairs[0].startswith(("lon", "lng"))
            else ""
        )
        return (
            f"; column {pairs[0]!r} looks like both coordinates in one cell{order}: split it "
            "into columns lon and lat (WGS84 degrees)"
        )
    if {"x", "y"} <= names:
        return (
            "; columns x and y are not read as lon and lat: they may be metres in a projected "
            "system (SWEREF 99 TM's easting and northing); if they are WGS84 degrees, name "
            "them lon (x) and lat (y)"
        )
    for east, north in _GRID_NAMES:
        if {east, north} <= names:
            return (
                f"; columns {east!r} and {north!r} are an easting and a northing, metres in a "
                "projected system such as SWEREF 99 TM (EPSG:3006), not degrees: convert them "
                "to WGS84 longitude and latitude in degrees, as columns lon and lat"
            )
    return ""


#: Names of a grid position's columns (easting, northing), as Lantmäteriet's and other
#: Swedish GIS exports (SWEREF 99 TM, RT90) write them, in English and Swedish.
_GRID_NAMES = (
    ("e", "n"),
    ("easting", "northing"),
    ("east", "north"),
    ("öst", "nord"),
    ("östlig", "nordlig"),
    ("ostlig", "nordlig"),
    ("sweref99_e", "sweref99_n"),
    ("e_sweref99tm", "n_sweref99tm"),
)


def _title_line(header: Sequence[str], text: str, line: int) -> str:
    """A hint when ``header`` (on ``line``) is one name or none and a later line names the columns.

    Apple Numbers' CSV export writes each table's name on a line of its own before its header
    ("Include table names"), people put a title or a comment line first, and a sheet whose
    first row is empty exports an empty line (``;;;`` in Excel); the columns are named on a
    later line. Only names are looked at (and nothing is quoted).
    """
    names = sum(1 for n in header if str(n).strip())
    if names > 1:
        return ""
    what = (
        "a title, as Apple Numbers writes a table's name before its header, or a comment"
        if names
        else "empty: a sheet whose first rows are empty exports them so"
    )
    if names and str(header[0]).lstrip().startswith("#TYPE "):
        what = (
            "the type line Windows PowerShell's Export-Csv and ConvertTo-Csv write unless given "
            "-NoTypeInformation"
        )
    later = [row.rstrip("\r\n") for row in itertools.islice(_lines(text), line, line + 3)]
    for at, row in enumerate(later, start=line + 1):
        for d in DELIMITERS:
            keys = {column_key(n.strip().strip('"')) for n in row.split(d)}
            if all(c in keys for c in REQUIRED):
                return f"; line {at} names them: delete the line(s) before it ({what})"
    return ""


def _unclosed(line: str, delim: str) -> tuple[int, str] | None:
    """The field (0-based) whose opening quote ``line`` does not close, and its text, or None."""
    field, j, n = 0, 0, len(line)
    while j <= n:
        if j < n and line[j] == '"':  # a quoted field: find its closing quote
            k = j + 1
            while True:
                k = line.find('"', k)
                if k < 0:
                    return field, line[j:].rstrip("\r\n")
                if line.startswith('""', k):
                    k += 2
                    continue
                break
            j = k + 1
        nxt = line.find(delim, j)
        if nxt < 0:
            return None
        field, j = field + 1, nxt + 1
    return None


def _stray_quote(text: str, pos: int, delim: str) -> tuple[int, int, int, str] | None:
    """The quoted field of the record at ``pos`` that text follows after its closing quote.

    Returns its field (0-based), the offsets of its opening quote and of its closing quote,
    and its text up to the next delimiter or line end; None when no field is so.
    """
    field, n = 0, len(text)
    unquoted = re.compile(f"[^{re.escape(delim)}\r\n]*")
    while True:
        # (The closing quote by str.find: a regular expression kept a point a doubled quote.)
        close = closing_quote(text, pos) if text.startswith('"', pos) else None
        if close is not None and close >= 0:
            end = close + 1
            if end < n and text[end] not in (delim, "\r", "\n"):
                rest = unquoted.match(text, end)
                assert rest is not None  # it matches the empty text
                return field, pos, close, text[pos : rest.end()]
            pos = end
        elif close is not None:
            return None  # never closed
        else:
            rest = unquoted.match(text, pos)
            assert rest is not None
            pos = rest.end()
        if not text.startswith(delim, pos):
            return None  # the record's end
        field, pos = field + 1, pos + 1


_LEADING_SPACE = re.compile("[ \t\r\n\ufeff]*")


def _markup(text: str) -> str | None:
    """What a text that is no CSV table is (JSON, HTML, XML), by its first character, or None.

    Only asked once its first line has failed as a header: such a text fails there as CSV with
    a message about quotes or columns, quoting what its first line holds (a JSON Lines file's
    first device). The message names the form, never the content.
    """
    space = _LEADING_SPACE.match(text)
    assert space is not None  # it matches the empty text
    # (Not text.lstrip(), which would copy the whole text.)
    head = text[space.end() : space.end() + 16].lower()
    if head.startswith(("{", "[")):
        return (
            "JSON (GeoJSON, JSON Lines or an API's answer?), not CSV; write its points as CSV "
            f"with the columns {', '.join(KNOWN)} (a GeoJSON Point's coordinates are lon, lat)"
        )
    if head.startswith(("<!doctype html", "<html")):
        return (
            "an HTML page (a web server's error or login page?), not CSV: the export that "
            "should have answered did not"
        )
    if head.startswith("<"):
        return (
            "XML (a CAP alert? --alert takes that), not CSV; positions are CSV with the columns "
            f"{', '.join(KNOWN)}"
        )
    return None


def _csv_error(
    err: csv.Error,
    text: str,
    name: str,
    delim: str,
    start: int,
    header: Sequence[str] | None,
    line_num: int,
) -> InvalidInput:
    """The error for a CSV record the csv module refused (``start``: the line it begins on).

    A quote that never closes makes the csv module read on to the end of the file (or to its
    field size limit) and fail there; the error names the line and column where it opened.
    Text after a quoted field's closing quote is named at that field.
    """
    if str(err).endswith("expected after '\"'"):
        at = line_offset(text, 0, start - 1)
        stray = _stray_quote(text, at, delim)
        if stray is not None:
            j, opens, closes, cell = stray
            line = start + _breaks(text, at, opens)
            closing = line + _breaks(text, opens, closes)
            lines = f", which opens on this line and closes on line {closing}"
            return InvalidInput(
                f"{name}: line {line}, {_field_name(header, j)}: text follows the closing "
                "quote of a quoted field (a field that begins with a quote ends at its closing "
                f"quote, then the delimiter {delim!r} or the line's end; a quote inside a field "
                f'is written twice, ""){lines if closing != line else ""} '
                f"(got {_cell_text(cell)})"
            )
    first = next(itertools.islice(_lines(text), start - 1, None), "")
    opened = _unclosed(first, delim)
    if opened is None:
        return InvalidInput(f"{name}: line {line_num}: not readable as CSV: {err}")
    j, field = opened
    # Up to the next delimiter: the rest of the line is the rest of the record (a device's
    # lon and lat, its time), and the line and column already say where the quote opens.
    cut = field.find(delim, 1)
    if cut > 0:
        field = field[: cut + 1] + "…"
    return InvalidInput(
        f"{name}: line {start}, {_field_name(header, j)}: unclosed quote: the quoted field that "
        f'opens here never ends (a quote inside a field is written twice, "") '
        f"(got {_cell_text(field)})"
    )


def _field_name(header: Sequence[str] | None, j: int) -> str:
    """Field ``j`` (0-based) of a record: its column's name, or its number in the header."""
    if header is not None and j < len(header):
        return f"column {header[j].strip() or j + 1}"
    return f"field {j + 1}"


#: What :func:`read_csv` hands over per chunk: the known columns' cells, each data row's
#: first line, and the index of the chunk's first row in the file.
Take = Callable[[dict[str, list[str]], list[int], int], None]


#: Line ends no CSV reader ends a line at (RFC 4180's is CRLF; LF and CR are read too).
_OTHER_LINE_ENDS = (
    ("\x85", "NEL (U+0085, as text converted from EBCDIC ends its lines)"),
    ("\u2028", "U+2028 LINE SEPARATOR"),
    ("\u2029", "U+2029 PARAGRAPH SEPARATOR"),
)


#: DOS's end-of-file mark (Ctrl-Z), ending a text as ``copy /a`` writes it.
_DOS_EOF = "\x1a"


_WHOLE = re.compile(r"\s*[-+]?[0-9]+")
_FRACTION = re.compile(r"[0-9]+\s*")


def _decimal_comma_hint(record: Sequence[str], named: int, delim: str) -> str:
    """A hint when a comma-separated row's extra fields are numbers' decimal commas, or ``""``.

    ``59,33`` unquoted in a comma-separated file is two fields, ``59`` and ``33``: a row with
    more fields than the header, each extra one explained by a whole number followed by digits
    (a number with its decimal comma taken for the delimiter), the pairs not overlapping.
    """
    extra = len(record) - named
    if delim != "," or extra <= 0:
        return ""
    splits = k = 0
    while k < len(record) - 1 and splits < extra:
        if _WHOLE.fullmatch(record[k]) and _FRACTION.fullmatch(record[k + 1]):
            splits += 1
            k += 1
        k += 1
    if splits < extra:
        return ""
    return (
        "; numbers written with a decimal comma? in a comma-separated file 59,33 is two "
        'fields: quote such numbers ("59,33"), write them with a decimal point, or separate '
        'the columns with ";"'
    )


def _line_end_hint(text: str) -> str:
    """A hint naming a line end in ``text`` that ends no CSV line, or ``""``."""
    for char, what in _OTHER_LINE_ENDS:
        if char in text:
            return (
                f"; it holds {what}, which ends no line of CSV (only LF, CRLF and CR do): "
                "the lines it ends run on; convert them to LF"
            )
    return ""


def read_csv(
    path: Path,
    take: Take,
    *,
    encoding: str | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_rows: int | None = None,
    data: bytes | None = None,
) -> tuple[npt.NDArray[np.int64], Report]:
    """Read ``path`` in chunks of ``chunk_rows`` (default :data:`CHUNK_ROWS`) data rows.

    Each chunk is handed to ``take``.

    Returns every data row's first line and what was read. Only one chunk's cells of the known
    columns are held at a time (a record's other cells are dropped as it is read: a wide
    export's many short cells would cost a Python string each), so memory is the file's bytes
    and text, one chunk and what ``take`` keeps.
    ``data`` is the text's bytes when they come from standard input (``path`` is ``-``).
    """
    name = STDIN_NAME if data is not None else path.name
    if data is None:
        data = path.read_bytes()
    text, enc = decode(data, name, encoding)
    misread = None if encoding is None else utf8_read_otherwise(data, encoding)
    del data
    if text.endswith(_DOS_EOF):
        # DOS's end-of-file mark, which Windows' copy appends when it joins files
        # (copy a.csv+b.csv all.csv): the text ends there, as it did for DOS.
        text = text[: -len(_DOS_EOF)]
    chunk = CHUNK_ROWS if chunk_rows is None else chunk_rows
    sep = _excel_sep(text, name)
    delim = _delimiter(text) if sep is None else sep
    reader: Any = csv.reader(_lines(text), delimiter=delim, strict=True)
    rows = 0
    line_parts: list[npt.NDArray[np.int64]] = []

    def flush(records: list[tuple[str, ...]], lines: list[int]) -> None:
        nonlocal rows
        columns = list(zip(*records, strict=True))
        records.clear()
        cells = {key: list(columns[k]) for k, key in enumerate(known)}
        del columns
        take(cells, lines, rows)
        line_parts.append(np.asarray(lines, dtype=np.int64))
        rows += len(lines)

    start = 1  # the line the record being read begins on
    header: list[str] | None = None
    sep_line = sep is not None  # Excel's "sep=;" line, before the header
    known: dict[str, int] = {}
    pick: Callable[[list[str]], tuple[str, ...]] = tuple  # a record's known cells, in order
    unknown: tuple[str, ...] = ()
    width = named = optional = 0
    short: list[tuple[int, int]] = []  # rows (and lines) lacking their last empty cells
    unnamed_data = False  # whether a row has data under the header's empty last names
    records: list[tuple[str, ...]] = []
    lines: list[int] = []
    while True:  # once more after a field longer than the csv module's limit
        try:
            if sep_line:
                next(reader)  # the header is the next line
                sep_line = False
                start = reader.line_num + 1
            if header is None:
                header = next(reader, None)
                if header is None:
                    raise InvalidInput(f"{name}: is empty; the first line must name the columns")
                # A delimiter ending the header line (as Excel writes a sheet with an empty
                # last column) names no column: the empty names at its end count only if a
                # row has data under them.
                width = named = len(header)
                while named and not header[named - 1].strip():
                    named -= 1
                try:
                    known, unknown = _columns(header[:named], name, reader.line_num)
                except InvalidInput as err:
                    if (what := _markup(text)) is not None:
                        raise InvalidInput(f"{name}: is {what}") from None
                    if title := _title_line(header[:named], text, reader.line_num):
                        raise InvalidInput(f"{err}{title}") from None
                    raise
                pick = operator.itemgetter(*known.values())  # (id, lon and lat: a tuple)
                # The last columns a row may lack: tester and ignored ones.
                optional = named
                kept = {j for key, j in known.items() if key != "tester"}
                while optional and optional - 1 not in kept:
                    optional -= 1
                start = reader.line_num + 1
            for record in reader:
                line, start = start, reader.line_num + 1
                if not "".join(record).strip():
                    continue  # blank lines and rows of empty cells (spreadsheet exports)
                if len(record) > named:
                    if not "".join(record[named:]).strip():
                        del record[named:]  # a delimiter ending the line: no field, no data
                    elif len(record) >= width and not "".join(record[width:]).strip():
                        # Data under the header's empty last names (named < width here):
                        # ignored, and named in the unknown columns' warning.
                        unnamed_data = True
                        del record[named:]
                if optional <= len(record) < named:
                    # Excel leaves out the delimiters of the empty cells ending a row (for a
                    # block of rows whose last column is empty): the cells it lacks are empty.
                    # Only cells of tester and ignored columns, which a row may well leave
                    # empty; a row lacking another is refused (cut, or broken off another).
                    short.append((rows + len(lines) + 1, line))
                    record.extend([""] * (named - len(record)))
                if len(record) != named:
                    ending = " and a delimiter ending it" if named < width else ""
                    count = len(record)
                    other = [
                        d
                        for d in DELIMITERS
                        if count == 1 and d != delim and record[0].count(d) == named - 1
                    ]
                    hint = (
                        f"; it holds {named - 1} {other[0]!r}: written with another delimiter "
                        "(rows appended by another program?)"
                        if other
                        else f"; it {_PSQL_FOOTER_RULE}"
                        if count == 1 and _PSQL_FOOTER.fullmatch(record[0].strip())
                        else _decimal_comma_hint(record, named, delim)
                        or _line_end_hint("".join(record))
                        or (
                            "; the file ends in it without a line end: was the file cut short "
                            "(an interrupted copy, download or export)? read the whole file "
                            "again"
                            if count < named
                            and not text.endswith(("\n", "\r"))
                            and reader.line_num == _breaks(text, 0, len(text)) + 1
                            else ""
                        )
                    )
                    raise InvalidInput(
                        f"{name}: row {rows + len(lines) + 1} (line {line}): has {count} "
                        f"field{'' if count == 1 else 's'}, the header has {named}{ending} "
                        f"(delimiter {delim!r}){hint}"
                    )
                records.append(pick(record))
                lines.append(line)
                if progress is not None and (rows + len(lines)) % PROGRESS_EVERY == 0:
                    progress(rows + len(lines))
                if len(lines) == chunk:
                    flush(records, lines)
                    lines = []
            break
        except csv.Error as err:
            if header is None and (what := _markup(text)) is not None:
                raise InvalidInput(f"{name}: is {what}") from None
            if not over_limit(err) or isinstance(reader, Records):
                raise _csv_error(err, text, name, delim, start, header, reader.line_num) from None
            # The csv module's limit is the whole process's: read on without it, in Python
            # from the line the record begins on (geotarget._csv_records).
            reader = Records(text, delim, line_offset(text, 0, start - 1), start - 1)
    if lines:
        flush(records, lines)
    if not rows:
        if hint := _line_end_hint(text):  # the header's line runs on through the rows
            raise InvalidInput(f"{name}: has a header but no rows{hint}")
        raise InvalidInput(f"{name}: has a header but no rows; {NO_ROWS}")
    if unnamed_data:
        unknown += tuple(f"(unnamed column {j + 1})" for j in range(named, width))
    notes: tuple[str, ...] = () if misread is None else (misread,)
    if short:
        row, line = short[-1]
        if row == rows and not text.endswith(("\n", "\r")):  # the text ends inside it
            raise InvalidInput(
                f"{name}: row {row} (line {line}): lacks the header's last column(s), and the "
                "file ends in it without a line end: was the file cut short (an interrupted "
                "copy, download or export)? read the whole file again, or end the row with the "
                "delimiters of its empty cells"
            )
        row, line = short[0]
        many = len(short) != 1
        notes += (
            f"{len(short):,} row{'s' if many else ''} (the first: row {row}, line {line}) "
            f"{'end' if many else 'ends'} before the header's last column(s), as Excel writes "
            "rows whose last cells are empty: their missing cells are read as empty",
        )
    kind = {",": "comma", ";": "semicolon", "\t": "tab"}.get(delim, repr(delim))
    form = f"CSV, {enc}, {kind}-separated"  # read() adds the decimal mark
    return np.concatenate(line_parts), Report(path, rows, form, unknown, notes=notes)


# ---------------------------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------------------------


def _parquet_cells(column: Any, kind: str, where: Where) -> list[str]:
    """A column's cells as text ("" for a null); a string cell that is no UTF-8 refused.

    Parquet's string type promises UTF-8, but a writer handed bytes (a Latin-1 export) may
    store others: pyarrow would fail converting the cell, so it is named instead.
    """
    try:
        return ["" if v is None else str(v) for v in column.to_pylist()]
    except UnicodeDecodeError:
        import pyarrow as pa

        raw = column.cast(pa.large_binary()).to_pylist()
        for i, v in enumerate(raw):
            try:
                None if v is None else v.decode("utf-8")
            except UnicodeDecodeError:
                shown = v.decode("utf-8", "replace")
                raise _problem(where(i), kind, "must be UTF-8 text", shown) from None
        raise


def _parquet_header(
    names: Sequence[str],
    name: str,
    geometry: dict[str, str | None] | None = None,
    schema: Any = None,
) -> None:
    """Refuse a Parquet schema without the required columns, in Parquet's words.

    (:func:`_columns` speaks of a CSV file's first line.) A geometry column (GeoParquet, as
    GeoPandas writes it) gets a hint: the reader takes coordinates from ``lon``/``lat``.
    """
    keys = {column_key(n) for n in names}
    missing = [c for c in REQUIRED if c not in keys]
    if not missing:
        return
    found = names_text(names) or "nothing"
    aliases = ", ".join(f"{a} as {k}" for a, k in sorted(ALIASES.items()))
    raise InvalidInput(
        f"{name}: lacks column(s) {', '.join(missing)} (has {found}); the columns are "
        f"{', '.join(KNOWN)}, in any case ({aliases})"
        f"{table_hints(names, missing, geometry, schema)}"
    )


def geometry_columns(schema: Any) -> dict[str, str | None]:
    """A table's geometry columns, each with its CRS as ``AUTHORITY:CODE`` where it says one.

    From the GeoParquet ``geo`` metadata (its columns and their PROJJSON ids) and from fields
    of a GeoArrow extension type (``geoarrow.wkb``, ``geoarrow.point``); metadata that is not
    JSON of that shape names none.
    """
    import json

    found: dict[str, str | None] = {}
    try:
        geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
        for column, spec in geo.get("columns", {}).items():
            crs = spec.get("crs", {}) if isinstance(spec, dict) else {}
            ident = crs.get("id", {}) if isinstance(crs, dict) else {}
            code = f"{ident.get('authority')}:{ident.get('code')}" if ident else None
            found[str(column)] = code
    except (ValueError, AttributeError, TypeError):
        pass
    for field in schema:
        if str(getattr(field.type, "extension_name", "")).startswith("geoarrow."):
            found.setdefault(field.name, None)
    return found


def table_hints(
    names: Sequence[str],
    missing: Sequence[str],
    geometry: dict[str, str | None] | None = None,
    schema: Any = None,
) -> str:
    """Hints for a table (Parquet, Arrow) lacking the ``missing`` columns.

    A GeoParquet geometry column (``geometry``: :func:`geometry_columns`, else by its name),
    columns that look like the missing ones (``Lat (deg)``), columns of degrees times 10**7
    (``latitudeE7``) and, from the ``schema``'s pandas metadata, ids that pandas kept as a
    range index (no column) are named.
    """
    hint = ""
    geometry = dict(geometry or {})
    if not geometry:
        geometry = {
            str(n): None
            for n in names
            if str(n).strip().lower() in ("geometry", "geom", "wkb_geometry")
        }
    if {"lon", "lat"} & set(missing) and geometry:
        column, crs = next(iter(geometry.items()))
        other = crs not in (None, "EPSG:4326", "OGC:CRS84")
        hint = (
            f" (a GeoParquet geometry column is not read: {column!r}"
            f"{f', in {crs},' if crs else ''} here; write the points' longitude and latitude "
            "as columns lon and lat, e.g. GeoPandas' gdf.geometry.x and .y in EPSG:4326"
            f"{', after gdf.to_crs(4326)' if other else ''})"
        )
    scaled = _e7_hint(names) if {"lon", "lat"} & set(missing) else ""
    ranged = _range_index_hint(schema, missing)
    return f"{hint}{_lookalikes(names, missing)}{scaled}{_pandas_hint(names, missing)}{ranged}"


def _range_index_hint(schema: Any, missing: Sequence[str]) -> str:
    """A hint for ids that pandas wrote as a range index: its metadata only, no column.

    ``df.set_index("id").to_parquet()`` of ids ``0 .. n - 1`` (evenly spaced: pandas 3 makes
    them a ``RangeIndex``) stores ``{"kind": "range", "name": "id", ...}`` in the schema's
    ``pandas`` metadata and no column; other ids beside them are written as a column.
    """
    import json

    if schema is None or "id" not in missing:
        return ""
    try:
        meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
        ranges = [
            c.get("name")
            for c in meta.get("index_columns", [])
            if isinstance(c, dict) and c.get("kind") == "range"
        ]
    except (ValueError, AttributeError, TypeError):
        return ""
    named = next((n for n in ranges if isinstance(n, str) and column_key(n) == "id"), None)
    if named is None:
        return ""
    return (
        f"; the ids are a pandas index ({named!r}) that pandas kept as a range (start, stop, "
        "step) in its metadata, not as a column: write them as one (df.reset_index() before "
        "to_parquet)"
    )


#: A pandas frame's unnamed index, as pandas writes it to Arrow and Parquet.
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
#: A column label of a pandas frame with several levels, as Arrow names it: "('pos', 'lon')".
_PANDAS_LEVELS = re.compile(r"\('[^']*'(?:, '[^']*')+\)")


def _pandas_hint(names: Sequence[str], missing: Sequence[str]) -> str:
    """A hint for a pandas frame whose ids are its unnamed index, or whose labels have levels.

    ``df.set_index("id")`` then ``reset_index(drop=True)`` elsewhere, or ids kept as an unnamed
    index, reach Arrow as ``__index_level_0__``; ``pd.concat({...}, axis=1)`` or an
    aggregation's labels reach it as the text of their tuples, ``"('pos', 'lon')"``.
    """
    texts = [str(n) for n in names]
    if "id" in missing and any(_PANDAS_INDEX.fullmatch(n) for n in texts):
        return (
            "; a pandas frame's unnamed index is written as '__index_level_0__' and not read "
            "as the ids: if it holds them, name it id first (df.rename_axis('id'))"
        )
    levelled = next((n for n in texts if _PANDAS_LEVELS.fullmatch(n)), None)
    if levelled is not None:
        return (
            f"; a pandas frame's column labels of several levels ({levelled}) are not column "
            "names: flatten them first (df.columns = df.columns.get_level_values(-1))"
        )
    return ""


#: A Parquet file may hold this many rows whatever its size (about 150 MB once read)...
PARQUET_FREE_ROWS = 1_000_000
#: ... and beyond them at most this many rows a byte of the file. Positions of distinct
#: devices take 5 to 30 bytes a row (a unique id, and coordinates that barely compress); even
#: every device at one point with sequential ids takes 0.75. Run-length, dictionary and delta
#: encodings can make millions of rows of a kilobyte, each about 150 bytes once read.
PARQUET_ROWS_PER_BYTE = 4


def check_parquet_footer(
    metadata: Any, size: int | None, name: str, error: type[InvalidInput] = InvalidInput
) -> None:
    """Refuse a Parquet footer that claims more rows than its file can hold, before reading.

    pyarrow sizes its arrays by the row groups' row counts: a 2 kB file whose footer says 2**31
    rows had it allocate 8 GB and more (or fail with ArrowMemoryError). A row group whose row
    count differs from a flat column's value count contradicts itself; a file of more than
    :data:`PARQUET_FREE_ROWS` rows and more than :data:`PARQUET_ROWS_PER_BYTE` rows a byte is
    refused as damaged or built to exhaust memory (``size``: the file's bytes; None when
    unknown, which checks only the first rule). ``metadata``: ``pq.read_metadata``'s;
    ``error``: the class raised (the regions reader's is InvalidRegions).
    """
    schema = metadata.schema
    flat = [j for j in range(metadata.num_columns) if schema.column(j).max_repetition_level == 0]
    rows = 0
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        for j in flat:
            chunk = group.column(j)
            if chunk.num_values != group.num_rows:
                raise error(
                    f"{name}: its footer contradicts itself: row group {i} says it holds "
                    f"{group.num_rows:,} rows, but its column {chunk.path_in_schema} holds "
                    f"{chunk.num_values:,} values; the file is damaged (write it again)"
                )
        rows += group.num_rows
    if size is not None and rows > max(PARQUET_FREE_ROWS, PARQUET_ROWS_PER_BYTE * size):
        raise error(
            f"{name}: its footer says it holds {rows:,} rows in {size:,} bytes, more than "
            f"{PARQUET_FREE_ROWS:,} rows and more than {PARQUET_ROWS_PER_BYTE} rows a byte of "
            "the file (no file of positions or regions compresses so far): a damaged file, or "
            "one built to exhaust memory, is refused (geotarget's limit)"
        )


#: The most bytes a value of a positions column may take uncompressed in a Parquet page: a text
#: id of the most characters, 4 UTF-8 bytes each, and its 4-byte length, with room for the
#: pages' headers and statistics (a number, time or flag takes far less).
PARQUET_VALUE_BYTES = 1_100
#: The bytes a column chunk may take uncompressed beyond that, whatever its values.
PARQUET_CHUNK_SLACK = 1 << 20


def check_parquet_sizes(metadata: Any, columns: Sequence[str], name: str) -> None:
    """Refuse a column chunk whose footer says it decompresses to more than its values can be.

    Compression, Parquet's own included, shrinks a column of one long value repeated some
    ten-thousandfold: a 90 kB file of 10,000 rows each holding a 100,000-character id had
    pyarrow allocate gigabytes before the first cell was looked at. Only the ``columns``
    read are checked (an unknown column is never decompressed).
    """
    wanted = set(columns)
    schema = metadata.schema
    leaves = [
        j for j in range(metadata.num_columns) if schema.column(j).path.split(".", 1)[0] in wanted
    ]
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        for j in leaves:
            chunk = group.column(j)
            allowed = chunk.num_values * PARQUET_VALUE_BYTES + PARQUET_CHUNK_SLACK
            if chunk.total_uncompressed_size > allowed:
                raise InvalidInput(
                    f"{name}: its footer says column {_show(chunk.path_in_schema)} of row "
                    f"group {i} holds {chunk.total_uncompressed_size:,} bytes uncompressed for "
                    f"{chunk.num_values:,} values, more than {PARQUET_VALUE_BYTES:,} bytes a "
                    "value (the longest id takes about 1 kB): a damaged file, or one built to "
                    "exhaust memory, is refused before reading (geotarget's limit)"
                )


def dictionary_columns(schema: Any, columns: Sequence[str]) -> list[str]:
    """The ``columns`` of text or bytes, to read as dictionaries (``read_dictionary``).

    A dictionary page's value is written out once a row only when decoded, which
    :func:`_dictionary_decoded` does once it has checked the values' lengths: pyarrow would
    decode it while reading, and a kilobyte file could name a long value millions of times.
    """
    import pyarrow as pa

    wanted = set(columns)
    return [
        f.name
        for f in schema
        if f.name in wanted
        and (
            pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
            or pa.types.is_binary(f.type)
            or pa.types.is_large_binary(f.type)
        )
    ]


def page_checksums(pq: Any) -> dict[str, bool]:
    """``pq.read_table``'s option to verify pages' CRC checksums, where pyarrow has it (15+).

    A page without a checksum is read as before; one whose bytes belie it is an error.
    """
    params = inspect.signature(pq.read_table).parameters
    return {"page_checksum_verification": True} if "page_checksum_verification" in params else {}


@contextlib.contextmanager
def opened_parquet(path: str | os.PathLike[str]) -> Iterator[tuple[Any, int]]:
    """``path`` opened once for every read of it (footer, schema, pages), and its size in bytes.

    Opened by name for each read, a file that an exporter renames its next snapshot over in
    between (as writers that never leave a file half-written do) would have one file's footer
    checked and another's pages read: the checks made before reading (row counts, sizes,
    columns) would not hold for what is read. An open file stays the file it was.
    Pass the file to ``pq.read_schema``, ``pq.read_metadata`` and ``pq.read_table``. Raises
    ``OSError`` for a file that cannot be opened, and for a named pipe without opening it
    (opening one waits for a writer, and Parquet is read from its end: its footer).
    """
    import pyarrow as pa

    try:
        pipe = stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:  # (opening it names the failure)
        pipe = False
    if pipe:
        raise OSError(  # (the caller names the file)
            "it is a named pipe, but a Parquet file is read from its end (its footer) first: "
            "write the pipe's bytes to a file and give that"
        )
    with pa.OSFile(os.fspath(path)) as f:
        yield f, f.size()


def read_parquet(path: Path) -> tuple[dict[str, Any], Report]:
    """The known columns (as pyarrow arrays) and what was read."""
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise MissingExtra("geoparquet", "reading --positions .parquet") from err
    with opened_parquet(path) as (f, size):
        return _read_parquet(pq, f, size, path)


def _read_parquet(pq: Any, f: Any, size: int, path: Path) -> tuple[dict[str, Any], Report]:
    """:func:`read_parquet` of the file ``f`` opened at ``path``, of ``size`` bytes."""
    head = f.read(16)
    if not head.startswith(b"PAR1"):
        for start, what in _NOT_TEXT:
            if head.startswith(start):
                raise InvalidInput(f"{path.name}: is not a Parquet file but {what}")
        raise InvalidInput(
            f"{path.name}: is not a Parquet file (it does not begin with PAR1; a CSV file? "
            "give it the suffix .csv)"
        )

    def unreadable(err: Exception) -> InvalidInput:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return InvalidInput(f"{path.name}: not a readable Parquet file: {first}")

    try:
        schema = pq.read_schema(f)
        names = schema.names
        footer = pq.read_metadata(f)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise unreadable(err) from None
    check_parquet_footer(footer, size, path.name)
    _parquet_header(names, path.name, geometry_columns(schema), schema)
    known, unknown = _columns(names, path.name, None)
    check_extensions(schema, known, path.name)
    check_parquet_sizes(footer, [names[j] for j in known.values()], path.name)
    try:
        # Only the known columns are read: an unknown one costs no memory (a compressed
        # free-text column may be many times the file's size).
        # A page's CRC, when the writer stored one (parquet-mr and Spark do), is checked: a
        # damaged page of degrees would otherwise be read as other positions, silently.
        wanted = [names[j] for j in known.values()]
        table = pq.read_table(
            f,
            columns=wanted,
            read_dictionary=dictionary_columns(schema, wanted),
            **page_checksums(pq),
        )
    except (OSError, ValueError) as err:
        raise unreadable(err) from None
    cols = {key: table.column(k).combine_chunks() for k, key in enumerate(known)}
    if table.num_rows == 0:
        raise InvalidInput(f"{path.name}: has no rows; {NO_ROWS}")
    int96 = "observed_at" in known and names[known["observed_at"]] in int96_columns(footer)
    return cols, Report(path, table.num_rows, "Parquet", unknown, int96)


def int96_columns(footer: Any) -> set[str]:
    """The names of the top-level columns a Parquet file stores as INT96 (from its footer).

    Arrow reads them as timestamps without a zone, whatever their writer meant.
    """
    leaves = footer.schema
    return {
        leaves.column(k).path.split(".")[0]
        for k in range(len(leaves))
        if leaves.column(k).physical_type == "INT96"
    }


#: The instants an observed_at may name, in microseconds since the epoch: 1970-01-01 up to
#: (not including) 9999-01-01, the range of the CSV reader.
_FIRST_US = 0
_END_US = (dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc) - _EPOCH0) // dt.timedelta(
    microseconds=1
)


def readable_times(observed_at: npt.NDArray[np.datetime64]) -> int | None:
    """The first row whose time the Parquet readers refuse (outside 1970 to 9998), or None.

    NaT (no time) is read back as it is written: not refused.
    """
    us = observed_at.astype("datetime64[us]")
    raw = us.view(np.int64)
    bad = ~np.isnat(us) & ((raw < _FIRST_US) | (raw >= _END_US))
    return int(np.flatnonzero(bad)[0]) if bad.any() else None


def _instants(
    col: Any, where: Where, zone: zoneinfo.ZoneInfo | None = None
) -> npt.NDArray[np.datetime64]:
    """An Arrow timestamp column as UTC microseconds, nulls NaT.

    Worked in integers of the column's own unit, never by an Arrow cast or ``to_pylist``: a
    cast from ``ns`` with sub-microsecond digits (as pandas writes) fails, an unsafe one wraps
    out-of-range values around, and ``to_pylist`` of such nanoseconds needs pandas.
    Nanoseconds are floored to the microsecond (as the CSV reader cuts fraction digits); an
    instant outside the CSV reader's years (1970 to 9998) is refused. A column without a zone
    holds wall times: they are read in ``zone`` by the CSV reader's rules (DST gaps and
    repeated hours refused).
    """
    import pyarrow as pa

    unit = col.type.unit
    raw = np.asarray(
        col.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    known = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    # Wall times may lie up to a day beyond the instants' range; _times decides exactly.
    slack = 0 if col.type.tz is not None else 86_400_000_000
    first, end = _FIRST_US - slack, _END_US + slack
    if unit == "ns":
        micro = raw // 1000  # floor: sub-microsecond digits are cut, as in the CSV reader
        bad = known & ((micro < first) | (micro >= end))
    else:  # compared in the column's unit (no overflow), then scaled exactly
        scale = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
        bad = known & ((raw < -(-first // scale)) | (raw >= -(-end // scale)))
        micro = np.where(bad, 0, raw) * scale
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = f"{np.datetime64(int(raw[i]), unit)}"  # numpy's range is all of int64's
        shown += "Z" if col.type.tz is not None else " (no zone)"
        raise _problem(where(i), "observed_at", "lies outside the years 1970 to 9998", shown)
    stamps = np.where(known, micro.astype("datetime64[us]"), np.datetime64("NaT", "us"))
    if col.type.tz is not None:
        return stamps
    cells = np.where(known, np.datetime_as_string(stamps, unit="us"), "")
    return _times(cells.tolist(), "observed_at", where, zone)


#: What each column's values are, for the refusal of a column of lists, records or bytes.
_HOLDS = {
    "lon": "degrees (numbers, or numbers as text)",
    "lat": "degrees (numbers, or numbers as text)",
    "accuracy_m": "metres (numbers, or numbers as text)",
    "observed_at": "timestamps, epoch seconds or ISO 8601 text",
    "tester": "booleans (or 1/0, or true/false as text)",
}


def _composite(t: Any) -> bool:
    """Whether an Arrow type (an extension type's storage) holds lists, records, maps or bytes.

    Such a value is no one number, time or flag; read as text it would be quoted whole in a
    refusal (``{'x': 18.0653, 'y': 59.3326}``, a WKB point's bytes): a device's position.
    """
    import pyarrow as pa

    while isinstance(t, pa.ExtensionType):
        t = t.storage_type
    return bool(
        pa.types.is_nested(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


#: Arrow extension types a known column may have whose stored values are what the column holds.
_READ_EXTENSIONS = {"id": ("arrow.uuid",), "tester": ("arrow.bool8",)}


def check_extensions(schema: Any, known: dict[str, int], name: str) -> None:
    """Refuse a known column of an Arrow extension type whose stored values mean another thing.

    An extension type (a registered one, or one whose name only its field's metadata keeps, as
    a Parquet file pandas wrote is read without pandas) stores its values as a plain type: a
    pandas ``Period`` as an ``int64`` count of periods since 1970 in wall-clock time, without a
    zone. Read as that storage, 14:00 in Stockholm became 14:00 UTC (periods of seconds read as
    epoch seconds). A column of lists, records or bytes is refused by what it holds.
    """
    for key, j in known.items():
        field = schema.field(j)
        t = field.type
        ext = getattr(t, "extension_name", None)
        if ext is None:
            raw = (field.metadata or {}).get(b"ARROW:extension:name")
            ext = None if raw is None else raw.decode("utf-8", "replace")
        else:
            t = t.storage_type
        if ext is None or ext in _READ_EXTENSIONS.get(key, ()) or _composite(t):
            continue
        hint = (
            "; a pandas Period is a span of wall-clock time without a zone: convert it with "
            ".dt.to_timestamp().dt.tz_localize(zone)"
            if ext == "pandas.period"
            else ""
        )
        raise InvalidPositions(
            f"{name}, column {key}: is of the Arrow extension type {_show(ext)} (stored as {t}): "
            "its stored values are that type's own encoding, so they are not read as "
            f"{_HOLDS.get(key, 'ids (text or integers)')}; write the column as a plain type{hint}"
        )


def _parquet_column(
    kind: str,
    col: Any,
    where: Where,
    zone: zoneinfo.ZoneInfo | None,
    marks: Marks | None = None,
) -> Any:
    """One Arrow column as numpy by the module's rules (``marks``: the file's decimal mark)."""
    try:
        return _parquet_column_as_numpy(kind, col, where, zone, marks)
    except OverflowError:  # a date or duration Python cannot hold, met converting a value
        raise _unrepresentable(kind, col, where) from None


def _unrepresentable(key: str, values: Any, where: Where) -> InvalidPositions:
    """The error for a value Arrow holds and Python cannot (``date64`` of year 10**8)."""
    row = 0
    for i in range(len(values)):
        try:
            values[i].as_py()
        except OverflowError:
            row = i
            break
    # Not quoted: its text is what could not be made (and no value of such a type is needed).
    return InvalidPositions(
        f"{where(row)}, column {key}: holds a {values.type} value beyond what Python's "
        f"datetime module can hold (dates of the years 1 to 9999); {_WANTED[key]}"
    )


_WANTED = {  # what a column holds, for a column of a type that is none of it
    "id": "ids are text or integers",
    "lon": "degrees are numbers",
    "lat": "degrees are numbers",
    "accuracy_m": "metres are numbers",
    "observed_at": "write each fix's time as a timestamp with a time zone "
    "(pyarrow.timestamp('us', tz='UTC'))",
    "tester": "testers are true or false",
}


def _parquet_column_as_numpy(
    kind: str,
    col: Any,
    where: Where,
    zone: zoneinfo.ZoneInfo | None,
    marks: Marks | None = None,
) -> Any:
    """:func:`_parquet_column`, but for values Python cannot hold."""
    import pyarrow as pa
    import pyarrow.compute as pc

    is_ree = getattr(pa.types, "is_run_end_encoded", None)  # (pyarrow 13)
    if is_ree is not None and is_ree(col.type):  # an encoding of one value a row, not a list
        col = _run_end_decoded(kind, col, where)
    if pa.types.is_dictionary(col.type):  # pandas' category, Polars' Categorical, DuckDB's ENUM
        col = _dictionary_decoded(kind, col, where)
    if pa.types.is_string_view(col.type):  # Polars' and DuckDB's string type
        col = col.cast(pa.string())
    t = col.type
    if kind in ("observed_at", "tester") and t in (pa.float32(), pa.float64()):
        # NaN is a float column's missing value (pandas makes a 0/1 or an epoch column with a
        # gap float, and to_csv writes its NaN as an empty cell): unknown, as a null is.
        col = pc.if_else(pc.is_nan(col), pa.scalar(None, t), col)
    if kind == "observed_at" and (t == pa.float32() or pa.types.is_float16(t)):
        # A float32 has 24 bits of mantissa: epoch seconds of today lie 128 s apart in it, so
        # 12:00:00 was read as 11:58:56, each fix's time moved by up to a minute, silently.
        raise InvalidPositions(
            f"{where.name}, column observed_at: must not be epoch seconds in {t}, which holds a "
            "time of this century only to the nearest 128 seconds or worse: write them as "
            "integers, float64 or timestamps"
        )
    if kind != "id" and _composite(t):
        raise InvalidPositions(
            f"{where.name}, column {kind}: must hold {_HOLDS[kind]}, one value a row (got type "
            f"{t}; its values are not quoted: a list, record or binary value in a position "
            "file may well be a position)"
        )
    if kind in ("lon", "lat") and pa.types.is_float16(t):
        raise InvalidPositions(
            f"{where.name}, column {kind}: must be degrees in float64 or float32, not float16 "
            "(it holds a longitude of 18 only to 0.0156 degrees, about a kilometre)"
        )
    if kind == "id":
        if getattr(t, "extension_name", None) == "arrow.uuid":  # DuckDB's, PostgreSQL's UUID
            return _uuid_ids(col, where)
        if pa.types.is_decimal(t) and t.scale == 0:  # NUMERIC(p, 0), Snowflake's NUMBER(38, 0)
            col, t = _decimal_integers(col, where), pa.int64()
        if pa.types.is_integer(t):
            if col.null_count:
                raise _null_id(col, where)
            values = col.to_numpy(zero_copy_only=False)
            # Compared as uint64 on both sides (numpy < 2 compares uint64 with a Python int
            # through float64, where 2**63 - 1 and 2**63 are equal).
            top = np.uint64(np.iinfo(np.int64).max)
            if values.dtype.kind == "u" and values.size and values.max() > top:
                i = int(np.argmax(values > top))
                raise _problem(where(i), "id", "integer ids must be below 2**63", str(values[i]))
            return values.astype(np.int64)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            if col.null_count:
                raise _null_id(col, where)
            return _text_ids(_parquet_cells(col, kind, where), where)
        if len(col) == 0:  # an empty frame's columns are null or float (pandas): no id is wrong
            return np.empty(0, dtype=np.str_)
        hint = (
            "; floats hold integers exactly only up to 2**53 (pandas turns an integer column "
            "with a missing value into floats: write it as Int64 or text)"
            if pa.types.is_floating(t)
            else f"; a decimal of scale {t.scale} has a fractional part, which no device's id "
            "has: write the ids as integers (a decimal of scale 0) or as text"
            if pa.types.is_decimal(t)
            else "; binary values are bytes, not text: where they are UTF-8 text, cast the "
            "column to string first (pyarrow.compute.cast(column, pyarrow.string()); Spark "
            "wrote them so without spark.sql.parquet.binaryAsString)"
            if pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
            or pa.types.is_fixed_size_binary(t)
            or pa.types.is_binary_view(t)  # (Polars' Binary)
            else ""
        )
        raise InvalidPositions(
            f"{where.name}, column id: must hold text or integers (got type {t}){hint}"
        )
    if kind in ("lon", "lat", "accuracy_m") and pa.types.is_decimal(t):
        # A typed decimal (NUMERIC columns) has no thousands separator to guess at. Read
        # through its exact text, correctly rounded as the same number in a CSV file is
        # (Arrow's own cast to float64 may land an ulp away).
        text = pc.cast(col, pa.string()).fill_null("nan").to_numpy(zero_copy_only=False)
        return np.asarray(text.astype(np.float64), dtype=np.float64)
    if kind in ("lon", "lat", "accuracy_m") and (pa.types.is_integer(t) or pa.types.is_floating(t)):
        # (Not a safe cast: an integer beyond 2**53, a sentinel such as Java's Long.MAX_VALUE,
        # becomes the nearest float, which the range rules then refuse naming its row.)
        return np.asarray(
            pc.cast(col, pa.float64(), safe=False)
            .fill_null(math.nan)
            .to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
    if kind == "observed_at" and pa.types.is_timestamp(t):
        if t.tz is None and zone is None:
            raise InvalidPositions(f"{where.name}, column observed_at: {NAIVE_TIMESTAMPS}")
        return _instants(col, where, zone)
    if kind == "tester" and pa.types.is_boolean(t):
        return np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)
    return _from_cells(kind, _parquet_cells(col, kind, where), where, zone, marks)


def _null_id(col: Any, where: Where) -> InvalidPositions:
    """The refusal of an id column's first null: a missing id, not an empty text."""
    import pyarrow.compute as pc

    i = int(pc.index(pc.is_null(col), True).as_py())
    return InvalidPositions(
        f"{where(i)}, column id: must not be missing (got null: every fix needs the id of its "
        "device)"
    )


#: A UUID's 16 bytes at the places of its hex digits in the canonical text (8-4-4-4-12).
_UUID_DIGITS = np.r_[0:8, 9:13, 14:18, 19:23, 24:36]


def _uuid_ids(col: Any, where: Where) -> npt.NDArray[np.str_]:
    """A UUID id column (Arrow's ``arrow.uuid``, Parquet's UUID) as its canonical text.

    Lower-case hex in groups of 8-4-4-4-12, as DuckDB, PostgreSQL, Python's ``str(uuid)`` and
    Java's ``UUID.toString`` write it in CSV, so that a file of the same devices in either
    format names the same devices. Built from the 16 bytes in bulk; a null is an empty id.
    """
    storage = col.storage
    if storage.null_count:
        raise _null_id(storage, where)
    n = len(storage)
    if not n:
        return np.empty(0, dtype=np.str_)
    data = np.frombuffer(storage.buffers()[1], dtype=np.uint8)
    raw = data[storage.offset * 16 : (storage.offset + n) * 16].reshape(n, 16)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = digits[raw >> 4]
    hexed[:, 1::2] = digits[raw & 15]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGITS] = hexed
    return np.asarray(text.view("S36").reshape(n).astype(np.str_))


def _decimal_integers(col: Any, where: Where) -> Any:
    """A decimal id column of scale 0 (whole numbers, as databases export them) as int64.

    Read as an integer column is, so that the ids are the integers their CSV export writes;
    one beyond a signed 64-bit integer is refused naming its row, as a uint64 one is.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(col, pa.int64())
    except pa.ArrowInvalid:  # (rare: found value by value)
        i, value = next(
            (k, v) for k, v in enumerate(col.to_pylist()) if v is not None and abs(v) >= 2**63
        )
        rule = "integer ids must lie within a signed 64-bit integer (give longer ids as text)"
        raise _problem(where(i), "id", rule, str(value)) from None


def _dictionary_decoded(kind: str, col: Any, where: Where) -> Any:
    """A dictionary-encoded column decoded, once no row names a value too long for its column.

    Decoding writes each row's value out: one 100,000-character value named by 10,000 rows,
    a kilobyte in a Parquet file or an Arrow table, would take gigabytes. A value of more than
    4 bytes a character the column allows is refused at the first row naming it, before.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from geotarget.positions import _MAX_ID_CHARS

    col = _unviewed(col)  # Polars' Categorical and Enum: a dictionary of string views
    words = col.dictionary
    t = words.type
    while isinstance(t, pa.ExtensionType):
        t = t.storage_type
    if not (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    ):
        return col.dictionary_decode()  # fixed-width values: as large as the rows' indices
    if isinstance(words, pa.ExtensionArray):
        words = words.storage
    limit = _MAX_ID_CHARS if kind == "id" else _MAX_VALUE_CHARS
    sizes = pc.binary_length(words.cast(pa.large_binary())).to_numpy(zero_copy_only=False)
    long = np.flatnonzero(sizes > 4 * limit)
    if long.size:
        named = pc.is_in(col.indices, value_set=pa.array(long, type=col.indices.type))
        rows = np.flatnonzero(named.fill_null(False).to_numpy(zero_copy_only=False))
        if rows.size:
            i = int(rows[0])
            value = words[col.indices[i].as_py()].as_py()
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            rule = f"must be at most {limit} characters long (this one has {len(text):,})"
            raise _problem(where(i), kind, rule, text)
    return col.dictionary_decode()


def _unviewed(values: Any) -> Any:
    """Arrow ``values`` of string or binary views (or a dictionary of them) as large ones.

    The same values, in a type that pyarrow's take and run-end decoding have kernels for (they
    have none for views: ``ArrowNotImplementedError``). Polars hands a ``Categorical`` or an
    ``Enum`` over as a dictionary of string views.
    """
    import pyarrow as pa

    if pa.types.is_dictionary(values.type):
        words = _unviewed(values.dictionary)
        if words is not values.dictionary:
            return pa.DictionaryArray.from_arrays(values.indices, words)
        return values
    if pa.types.is_string_view(values.type):
        return values.cast(pa.large_string())
    if pa.types.is_binary_view(values.type):
        return values.cast(pa.large_binary())
    return values


def _run_end_decoded(kind: str, col: Any, where: Where) -> Any:
    """A run-end-encoded Arrow column as the plain column of its values (dictionaries decoded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _unviewed(col.values)  # (the runs of the whole array: a slice keeps its offset)
    if pa.types.is_dictionary(values.type):  # (Arrow decodes no run of dictionary values)
        values = values.dictionary_decode()
    whole = pa.RunEndEncodedArray.from_arrays(col.run_ends, values)
    try:
        return pc.run_end_decode(whole.slice(col.offset, len(col)))
    except pa.ArrowNotImplementedError:
        raise InvalidPositions(
            f"{where.name}, column {kind}: must hold {_HOLDS.get(kind, 'text or integers')}, "
            f"one value a row (got type {col.type}, whose runs Arrow cannot decode)"
        ) from None


#: The longest cell of a number, time or flag column: the longest valid one (an ISO date-time
#: with nine fraction digits and an offset) is 35 characters. Cells are checked before a column
#: becomes a fixed-width numpy array, 4 bytes a character of its *longest* cell for every row.
_MAX_VALUE_CHARS = 64


def _check_lengths(kind: str, cells: Sequence[str], where: Where) -> None:
    """Refuse a cell longer than its column allows, before the column becomes an array."""
    from geotarget.positions import _MAX_ID_CHARS

    limit = _MAX_ID_CHARS if kind == "id" else _MAX_VALUE_CHARS
    lengths = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells))
    if lengths.size and int(lengths.max()) > limit:
        i = int(np.flatnonzero(lengths > limit)[0])
        rule = f"must be at most {limit} characters long (this one has {int(lengths[i]):,})"
        raise _problem(where(i), kind, rule, cells[i])


def _from_cells(
    kind: str,
    cells: Sequence[str],
    where: Where,
    zone: zoneinfo.ZoneInfo | None,
    marks: Marks | None = None,
) -> Any:
    if kind == "id":
        return _text_ids(cells, where)
    _check_lengths(kind, cells, where)
    if kind == "observed_at":
        return _times(cells, kind, where, zone, marks)
    if kind == "tester":
        return _flags(cells, kind, where)
    return _numbers(cells, kind, where, marks)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def _zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if name is None:
        return None
    try:
        from geotarget.rollout._time import zone

        return zone(name)
    except ValueError as err:
        raise InvalidInput(f"--timezone {err}") from None


def lacking(name: str, column: str, unknown: Sequence[str], fill: str) -> InvalidInput:
    """The error for a file without ``column``: what to do, and its unknown columns' names.

    The unknown columns come first among the ways out: one of them (``hAcc``, ``timestamp``)
    most likely holds the values, and renaming it keeps them; ``fill`` (the option, such as
    ``--accuracy-m METRES``) gives one value to every row.
    """
    what = {
        "accuracy_m": "how far each fix may lie from its device is unknown (a fix is never "
        "taken as exact unless told)",
        "observed_at": "when its fixes were taken is unknown",
    }[column]
    rename = (
        f", or rename the one that holds it (its unknown columns: {names_text(unknown)}), or, "
        "if none does,"
        if unknown
        else ", or"
    )
    return InvalidInput(
        f"{name}: has no {column} column, so {what}; add the column{rename} give {fill} for "
        f"every row{_unit_hint(unknown) if column == 'accuracy_m' else ''}"
    )


#: Words of a column's name that say it may hold each fix's time (``timestamp``, ``Fix Time``,
#: ``fix_time_ms``, ``observedAt``); a name is cut into words at what is not a letter or a
#: digit and where a lower-case letter meets a capital, so ``validated`` or ``candidate``
#: (which hold "date") is none.
_TIME_WORDS = frozenset(
    {"time", "times", "timestamp", "timestamps", "datetime", "date", "epoch", "ts", "observed"}
)
#: Words that name the fix's time when ``at`` follows them (``recorded_at``, ``seenAt``).
_AT_WORDS = frozenset({"fix", "seen", "located", "recorded", "captured", "measured", "sampled"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _time_name(column: str) -> bool:
    """Whether ``column``'s name says it may hold each fix's time (see :data:`_TIME_WORDS`)."""
    words = [w.lower() for w in _WORD.findall(column)]
    pairs = itertools.pairwise(words)
    return bool(_TIME_WORDS.intersection(words)) or any(
        a in _AT_WORDS and b == "at" for a, b in pairs
    )


def _times_set_aside(name: str, unknown: Sequence[str]) -> None:
    """Refuse --observed-at for a file with an unknown column that may hold each row's time.

    Its own times under another name were set aside unread, with a warning, and --observed-at
    taken for every row: a fix days old read as current.
    """
    likely = [c for c in unknown if _time_name(c)]
    if likely:
        raise InvalidInput(
            f"{name}: has no observed_at column but {names_text(likely)}, which may hold when "
            "each fix was taken: --observed-at would give every row one time instead; rename "
            "the column observed_at and leave --observed-at out, or, if it holds something "
            "else, drop it"
        )


#: Units a column of distances may be named in other than metres, and the metres in one.
_UNITS = {
    **dict.fromkeys(("ft", "feet", "foot"), ("feet", "0.3048")),
    **dict.fromkeys(("yd", "yds", "yard", "yards"), ("yards", "0.9144")),
    **dict.fromkeys(("mi", "mile", "miles"), ("miles", "1609.344")),
    **dict.fromkeys(("nmi",), ("nautical miles", "1852")),
    **dict.fromkeys(("km", "kilometre", "kilometres", "kilometer", "kilometers"), ("km", "1000")),
    **dict.fromkeys(("cm", "centimetres", "centimeters"), ("cm", "0.01")),
    **dict.fromkeys(("mm", "millimetres", "millimeters"), ("mm", "0.001")),
}
#: A name's words: ``accuracy_ft``, ``hAccFt``, ``Accuracy (FEET)``.
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _unit_hint(unknown: Sequence[str]) -> str:
    """A hint for an unknown column named in another unit than metres, or ``""``.

    Renamed ``accuracy_m`` as it is, a column of feet (iOS's and US fleet tools' unit) would be
    read as metres: every radius 3.28 times too large, silently.
    """
    for raw in unknown:
        for word in _NAME_WORDS.findall(str(raw)):
            if (unit := _UNITS.get(word.lower())) is not None:
                return (
                    f"; if {str(raw)!r} holds it, its name says {unit[0]}, not metres: "
                    f"multiply its values by {unit[1]} before naming it accuracy_m"
                )
    return ""


def _repeated_header(cells: dict[str, list[str]], where: Where) -> InvalidInput | None:
    """The error for a data row that names the columns again, or None (asked after a refusal).

    Files joined with their headers (``cat a.csv b.csv``, an export appended to another) hold
    the header again as a row, whose ``lon`` cell is then refused as a number. Two tools'
    exports joined may name the columns in another order, under which the rows after it would
    be misread: that header line is named as one too.
    """
    rows = len(next(iter(cells.values()), []))
    for i in range(rows):
        names = [column_key(cells[key][i].lstrip("\ufeff")) for key in cells]
        if names == list(cells):
            return InvalidInput(
                f"{where(i)}: repeats the header line (files joined with their headers, as "
                "cat a.csv b.csv joins them?): keep one header line, at the top"
            )
        if None not in names and sorted(map(str, names)) == sorted(cells):
            return InvalidInput(
                f"{where(i)}: is a header line naming the columns in another order "
                f"({', '.join(map(str, names))}) than the first ({', '.join(cells)}): files "
                "joined with their headers, from two exports? the rows after it are not read "
                "under the first header's columns; join the files by column names, with one "
                "header line at the top"
            )
    return None


def _dir_hint(path: Path) -> str:
    """What a directory given as the positions is, by the files in it (their names only)."""
    try:
        names = [p.name for p in itertools.islice(path.iterdir(), 10_000)]
    except OSError:
        return ""
    suffixes = {Path(n).suffix.lower() for n in names}
    # Spark writes part files and _SUCCESS; Hive-style partitions are folders named key=value.
    if ".parquet" in suffixes or "_SUCCESS" in names or any("=" in n for n in names):
        return (
            ": a dataset of Parquet parts, as Spark, Hive or pandas' partition_cols write one? "
            "write it as one file (pyarrow.parquet.write_table(pyarrow.dataset.dataset(DIR, "
            "partitioning='hive').to_table(), 'devices.parquet')): one part alone leaves the "
            "others' devices out"
        )
    if suffixes & {".csv", ".tsv", ".txt"}:
        return (
            ": join its files into one, with a single header line (one of them alone leaves "
            "the others' devices out)"
        )
    return ""


def one_time(value: object, name: str, rows: int) -> npt.NDArray[np.datetime64]:
    """One observed_at for every row (``name``: the option or argument giving it), as a column.

    A timezone-aware ``datetime`` within the years a file's observed_at cells may name (1970
    to 9998), else :class:`InvalidInput` naming ``name``.
    """
    from geotarget._validate import shown

    if not isinstance(value, dt.datetime) or value != value:  # (pandas' NaT is a datetime)
        raise InvalidInput(
            f"{name} must be one timezone-aware datetime for every row (got {shown(value)})"
        )
    if value.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    try:
        utc = value.astimezone(dt.timezone.utc)
    except OverflowError:  # year 1 at +14:00, 9999-12-31 at -14:00
        utc = _EPOCH0 - dt.timedelta(days=1)
    if not _EPOCH0 <= utc < dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc):
        raise InvalidInput(  # the years a file's observed_at cells may name
            f"{name} lies outside the years 1970 to 9998 (got {value.isoformat()})"
        )
    stamp = np.datetime64(utc.replace(tzinfo=None), "us")
    return np.full(rows, stamp, dtype="datetime64[us]")


def accuracy_option(value: float, name: str) -> float:
    """One accuracy radius for every row (``name``: the option or argument giving it)."""
    from geotarget._validate import number
    from geotarget.positions import _MAX_ACCURACY_M

    return number(name, value, ge=0.0, le=_MAX_ACCURACY_M)


#: What says a file is the one reading began with, unchanged: device, inode, size, mtime.
FileState = tuple[int, int, int, int]


def file_state(path: Path) -> FileState | None:
    """The state :func:`unchanged` compares, or None for what is no regular file (a pipe)."""
    try:
        st = path.stat()
    except OSError:  # the read that follows names the failure
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def unchanged(path: Path, before: FileState | None, name: str) -> None:
    """Refuse a file whose size or modification time changed since ``before``.

    An exporter still writing the file (or a job rewriting it in place) while it is read would
    have its first rows read and the rest missed, the last row perhaps cut inside a number
    (``59.3`` of ``59.3325``): a position read wrong, or devices left out, silently. A file
    replaced whole (renamed over it, a new inode) was read whole, as it was then.
    """
    if before is None:
        return
    now = file_state(path)
    if now is None or now[:2] != before[:2] or now[2:] == before[2:]:
        return
    size = "its size" if now[2] != before[2] else "its modification time"
    raise InvalidInput(
        f"{name}: changed while it was being read ({size} changed): a file still being "
        "written would be read in part; read it once its writer has finished (a writer that "
        "writes to another name and renames the file when done is never read in part)"
    )


def _refuse_endless(path: Path) -> None:
    """Refuse a device or a socket: read whole, ``/dev/zero`` or a serial port has no end.

    A named pipe is read (its writer ends it); a device would be read until memory ran out.
    """
    try:
        mode = path.stat().st_mode
    except OSError:  # the read that follows names the failure
        return
    kind = (
        "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else None
    )
    if kind is not None:
        raise InvalidInput(
            f"--positions must be a file (got {kind}, {path}: read whole it may never end); "
            "give a file, a named pipe or - (standard input)"
        )


def read(
    path: Path,
    *,
    encoding: str | None = None,
    timezone: str | None = None,
    observed_at: dt.datetime | None = None,
    accuracy_m: float | None = None,
    progress: Callable[[int], None] | None = None,
    data: bytes | None = None,
) -> tuple[Any, Report]:
    """Read a positions file into :class:`~geotarget.Positions`; see the module's rules.

    ``observed_at`` dates every row of a file without an ``observed_at`` column, and is refused
    for a file with one; ``accuracy_m`` (metres) is likewise every fix's radius in a file
    without an ``accuracy_m`` column. ``data``: the bytes of CSV text read from standard input
    (``path`` is then ``-``, and errors name "standard input"). Every failure is an
    :class:`InvalidInput` naming file, row and column.
    """
    name = STDIN_NAME if data is not None else path.name
    if accuracy_m is not None:
        accuracy_m = accuracy_option(accuracy_m, "--accuracy-m")
    if data is None and not path.exists():
        raise InvalidInput(f"--positions file not found: {path} (- reads standard input)")
    if data is None and path.is_dir():
        raise InvalidInput(
            f"--positions must be a file (got the directory {path}){_dir_hint(path)}"
        )
    suffix = ".csv" if data is not None else path.suffix.lower()
    if data is None and suffix in (".csv", ".tsv", ".txt", ".parquet"):
        _refuse_endless(path)  # (a name without those suffixes is refused for it below)
    before = None if data is not None else file_state(path)
    zone = _zone(timezone)
    columns: dict[str, Any] = {}
    marks = Marks()  # the file's one decimal mark
    if suffix == ".parquet":
        if encoding is not None:  # as --observed-at for a file with the column: not used
            raise InvalidInput(
                f"{name}: is a Parquet file, whose text is UTF-8 by its format, so --encoding "
                "is not used; leave it out"
            )
        raw, report = read_parquet(path)
        where = Where(name)

        for key, col in sorted(raw.items(), key=lambda kc: KNOWN.index(kc[0])):
            try:
                columns[key] = _parquet_column(key, col, where, zone, marks)
            except InvalidPositions as err:
                if key == "observed_at" and report.int96_times and zone is None:
                    raise InvalidPositions(f"{err}{INT96_HINT}") from None
                raise
        marks.finish()
    elif suffix in (".csv", ".tsv", ".txt"):
        parts: dict[str, list[Any]] = {}

        def take(cells: dict[str, list[str]], lines: list[int], first: int) -> None:
            chunk = Where(name, lines, first)
            try:
                # lon and lat first: their marks decide
                for key in sorted(cells, key=KNOWN.index):
                    column = _from_cells(key, cells[key], chunk, zone, marks)
                    parts.setdefault(key, []).append(column)
            except InvalidPositions:
                again = _repeated_header(cells, chunk)
                if again is not None:
                    raise again from None
                raise

        lines, report = read_csv(path, take, encoding=encoding, progress=progress, data=data)
        marks.finish()
        if marks.comma:
            report = attrs.evolve(report, form=report.form + ", decimal comma")
        where = Where(name, lines)
        for key, chunks in parts.items():
            columns[key] = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        del parts
    else:
        needed = "id, lon, lat, accuracy_m, observed_at"  # a file without the last two is refused
        packed = {
            ".gz": "decompress it first",
            ".bz2": "decompress it first",
            ".xz": "decompress it first",
            ".zst": "decompress it first",
            ".zip": "extract it first",
            ".xlsx": "save it as CSV first",
            ".xls": "save it as CSV first",
            ".ods": "save it as CSV first",
            ".json": f"write it as CSV with the columns {needed}",
            ".geojson": f"write its points as CSV with the columns {needed}",
            ".ndjson": f"write it as CSV with the columns {needed}",
            ".jsonl": f"write it as CSV with the columns {needed}",
            ".xml": "a CAP alert goes to --alert; positions are CSV or Parquet",
            ".xlsm": "save it as CSV first",
            ".xlsb": "save it as CSV first",
            ".numbers": "export it as CSV first",
            ".gpx": f"a GPS track, one device's points; write the devices' latest fixes as CSV "
            f"with the columns {needed}",
            ".kml": f"write its points as CSV with the columns {needed}",
            ".kmz": f"write its points as CSV with the columns {needed}",
            ".gpkg": "a GeoPackage (a SQLite database); export its table as CSV",
            ".sqlite": "a SQLite database; export its table as CSV",
            ".db": "a database file; export its table as CSV",
            ".geoparquet": "a Parquet file is read with the suffix .parquet; rename it",
            ".parq": "a Parquet file is read with the suffix .parquet; rename it",
            ".pq": "a Parquet file is read with the suffix .parquet; rename it",
            ".feather": f"Arrow IPC (Feather) is not read; {_AS_PARQUET}",
            ".arrow": f"Arrow IPC (Feather) is not read; {_AS_PARQUET}",
            ".ipc": f"Arrow IPC (Feather) is not read; {_AS_PARQUET}",
        }.get(suffix)
        if packed:
            raise InvalidInput(
                f"--positions must be a .csv, .tsv, .txt or .parquet file (got {path.name}: "
                f"{packed})"
            )
        what = f"its suffix {path.suffix!r} is none of these" if suffix else "it has no suffix"
        head = b""
        if data is None and path.is_file():  # (never a device or pipe: read, it is used up)
            with contextlib.suppress(OSError), path.open("rb") as f:
                head = f.read(16)
            what += next(
                (f"; it is {kind}" for magic, kind in _NOT_TEXT if head.startswith(magic)), ""
            )
        raise InvalidInput(  # /dev/stdin, a pipe (<(...) is /dev/fd/63), a file named data
            f"--positions must be a .csv, .tsv, .txt or .parquet file, or - to read CSV from "
            f"standard input (got {path}: {what})"
        )
    unchanged(path, before, name)  # every cell read: from the file as it was when opened
    if "observed_at" in columns and observed_at is not None:
        raise InvalidInput(
            f"{name}: has an observed_at column, so --observed-at is not used; leave it out"
        )
    if "observed_at" not in columns:
        if observed_at is None:
            raise lacking(name, "observed_at", report.unknown_columns, "--observed-at TIME")
        _times_set_aside(name, report.unknown_columns)
        columns["observed_at"] = one_time(observed_at, "--observed-at", report.rows)
    if "accuracy_m" in columns and accuracy_m is not None:
        raise InvalidInput(
            f"{name}: has an accuracy_m column, so --accuracy-m is not used; leave it out"
        )
    if "accuracy_m" not in columns:
        if accuracy_m is None:
            raise lacking(name, "accuracy_m", report.unknown_columns, "--accuracy-m METRES")
        columns["accuracy_m"] = np.where(np.isnan(columns["lon"]), np.nan, accuracy_m)
    _float_ids(columns["id"], where)
    positions = snapshot(columns, where, name)
    rounding = positions.rounding_note()
    if rounding is not None:
        report = attrs.evolve(report, notes=(*report.notes, rounding))
    if accuracy_m is None and (zero := _zero_accuracy_note(positions, where)) is not None:
        report = attrs.evolve(report, notes=(*report.notes, zero))
    return positions, report


def _zero_accuracy_note(positions: Any, where: Where) -> str | None:
    """A note when a file's ``accuracy_m`` column holds 0 for a fix, which reads it as exact.

    No phone reports an exact fix, and Android's ``Location.getAccuracy()`` (the ``accuracy``
    a backend stores) gives 0.0 for a location without an accuracy: read as exact, a fix whose
    radius is unknown, perhaps kilometres, tells its device only if its point lies in the area.
    Valid (0 is how an exact fix is written), so not refused: said, with its rows, when other
    fixes of the file have a radius (a column of zeros alone is a file of exact fixes, meant).
    """
    zero = positions.has_fix & (positions.accuracy_m == 0.0)
    rows = np.flatnonzero(zero)
    fixes = int(np.count_nonzero(positions.has_fix))
    if not rows.size or rows.size == fixes:
        return None
    many = rows.size != 1
    return (
        f"{rows.size:,} of {fixes:,} fixes (the first at {where.row(int(rows[0]))}) "
        f"{'have' if many else 'has'} accuracy_m 0 and {'are' if many else 'is'} read as "
        "exact, but a phone never reports an exact fix: Android's Location.getAccuracy() gives "
        "0 for a location without an accuracy; if theirs is unknown, give them the radius of "
        "their source (or leave their lon and lat empty)"
    )


def snapshot(columns: dict[str, Any], where: Where, name: str) -> Positions:
    """The :class:`~geotarget.positions.Positions` of a reader's columns, or its refusal.

    The id array is the reader's own, dropped once read, so the snapshot keeps it uncopied.
    The reader's rules, which name rows as the file counts them, are checked only once
    ``Positions`` refuses (it checks the same and more): good ids are sorted once, not twice.
    A rule only ``Positions`` checks is named with its rows counted from 0.
    """
    from geotarget.positions import Positions, _own_ids

    try:
        with _own_ids():
            return Positions(
                columns["id"],
                columns["lon"],
                columns["lat"],
                accuracy_m=columns.get("accuracy_m"),
                observed_at=columns["observed_at"],
                tester=columns.get("tester"),
            )
    except GeotargetError as err:
        if columns["id"].size:
            _check(columns["id"], columns["lon"], columns["lat"], columns.get("accuracy_m"), where)
        raise InvalidPositions(f"{name}: {err} (rows counted from 0)") from None
