"""The ``geotarget`` command: ``demo``, ``target``, ``locate``, ``preview`` and ``check``.

``geotarget demo`` plays the Swedish Police pilot on 1.2 million synthetic devices. The other
commands work on files. Bad input gets one clear line on stderr and exit code 2 — never a
traceback. Commands that need Swedish regions need the ``sweden`` extra; ``--plot`` needs the
``plot`` extra.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import datetime as dt
import difflib
import errno
import io
import itertools
import json
import os
import re
import select
import signal
import stat
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from geotarget._demo import CONTROL as _CONTROL
from geotarget._demo import Out
from geotarget._demo import one_line as _one_line
from geotarget._version import __version__
from geotarget.errors import DocumentError, GeotargetError, InvalidInput, InvalidPolicy

__all__ = ["main"]


def __dir__() -> list[str]:
    return __all__


def _sweden() -> Any:
    from geotarget import sweden

    return sweden


# --- demo ------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    """The pilot as a story in scenes (:mod:`geotarget._demo`)."""
    from geotarget import _demo

    for option, name in (("--plot", args.plot), ("--ledger", args.ledger)):
        if name is not None:  # "" (an unset variable) was no plot, or a memory ledger
            _named(option, name, output=True)
    if args.plot and args.ledger and _same_file(args.plot, args.ledger):
        # The map replaced the ledger's database at the end, its -wal and -shm files left
        # beside the picture: the durable ledger asked for was gone, and the demo said nothing.
        raise InvalidInput(
            f"--plot {args.plot} and --ledger {args.ledger} name the same file: the map would "
            "replace the ledger's database; give each a name of its own"
        )
    if args.plot:
        _check_plot(args.plot)  # before the run, not after it
    try:
        _check_ledger(args.ledger)
    except OSError as err:  # a folder that may not be looked into
        raise InvalidInput(f"--ledger {_printable(args.ledger)}: {_why(err)}") from None
    return _demo.run(args, out)


def _same_file(first: str, second: str) -> bool:
    """Whether two names name one file (``m.png`` and ``./m.png``, a link and its file)."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)  # (hard links)
    except (OSError, ValueError):  # a name that names no file yet
        return False


def _check_ledger(ledger: str | None) -> None:
    """Refuse a ``demo --ledger`` that names a folder, a special file or an earlier run's ledger.

    A named pipe or a device (``--ledger /dev/null``, meant as "keep no ledger") reached
    SQLite, which said "the file system failed a read or write (disk I/O error)": no fault of
    the file system, and no word of what to give instead.
    """
    if ledger and Path(ledger).is_dir():  # the store said "path must name ..."
        raise InvalidInput(
            f"--ledger must name a file, not a folder (got the folder {ledger}; e.g. "
            f"{Path(ledger) / 'deliveries.db'})"
        )
    special = _special(ledger) if ledger else None
    if ledger and special:
        raise InvalidInput(
            f"--ledger must name a regular file (got {_printable(ledger)}, {special}): the "
            "ledger is an SQLite database, with files of its own beside it; leave --ledger "
            "out to keep the ledger in memory"
        )
    if ledger and Path(ledger).is_file() and Path(ledger).stat().st_size:
        # The demo plays the same alerts every time: a second run over the first one's ledger
        # met its own cancelled incident and broke the story (an internal error).
        raise InvalidInput(
            f"--ledger {ledger} already exists (an earlier demo's ledger?); the demo plays "
            "the same alerts each time, and that ledger has already delivered and cancelled "
            "them: give a new file name, or delete the file"
        )


def _check_plot(path: str) -> None:
    """Refuse a ``--plot`` file that cannot be written, before any work or output.

    :func:`geotarget._plot.check_path` checks the suffix and the folder; this opens the file
    as the plot will write it (an existing one is not truncated, a new one is removed again),
    so that a folder without write permission, a read-only file or file system fails here: the
    demo ran to its end, and ``preview`` printed its summary, before refusing them.
    """
    from geotarget import _plot

    _plot.check_path(path)
    special = _special(path)
    if special:  # "File or stream is not seekable", or a suffix refused that it has
        raise InvalidInput(
            f"--plot must name a regular file (got {_printable(path)}, {special}): the map is "
            "drawn into a new file beside it and renamed over it"
        )
    # A link's target is what the map replaces (geotarget._demo.draw_replacing): it is checked
    # as the file written. A link to a picture not drawn yet (latest.png -> maps/today.png)
    # was refused with "File exists", the link being there; one whose folder is gone said so.
    real = os.path.realpath(path)
    linked = os.path.islink(path)
    if linked:
        try:
            _plot.check_path(real)
        except InvalidInput as err:
            raise InvalidInput(f"{err} ({_printable(path)} is a link to it)") from None
    target = Path(real)
    try:
        if target.exists():
            with target.open("r+b"):
                pass
        else:
            with target.open("xb"):
                pass
            target.unlink()
    except OSError as err:
        shown = f"{path!r} (a link to {real!r})" if linked else repr(path)
        raise InvalidInput(f"--plot cannot write {shown}: {err.strerror or err}") from None


def _special(name: str) -> str | None:
    """What special file ``name`` names, a link followed (``"a named pipe"``), or None.

    None also for a regular file, a folder, and a name that names nothing (yet).
    """
    try:
        mode = os.stat(name).st_mode
    except (OSError, ValueError):
        return None
    kinds = (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    what = next((text for test, text in kinds if test(mode)), None)
    if what is None:
        return None
    real = os.path.realpath(name)
    return what if real == os.path.abspath(name) else f"{what}: a link to {_printable(real)}"


# --- target ----------------------------------------------------------------------------------


def _stderr() -> TextIO:
    """Where the summary and errors go: standard error, or nowhere when it is closed.

    Python sets ``sys.stderr`` to None when the command starts with it closed (``2>&-``), and
    ``print(file=None)`` writes to standard output: the summary and errors went into the JSON
    answer's stream, and ``sys.stderr.isatty()`` was an internal error.
    """
    return sys.stderr if sys.stderr is not None else io.StringIO()


def _named(option: str, name: str, *, output: bool = False) -> None:
    """Refuse an empty file name (``--policy "$UNSET"``): ``Path("")`` is the directory ``.``.

    And a path written the Windows way where ``/`` alone separates folders
    (:func:`_windows_path`); ``output``: the command writes the file (``--plot``, ``--ledger``).
    """
    if not name:
        raise InvalidInput(f"{option} must name a file (got an empty name)")
    _windows_path(option, name, output=output)
    if name != STDIN and not os.path.isabs(name):
        _here(option, name)
    _unexpanded(option, name, output=output)
    if not output and name != STDIN:
        _dangling(option, name)


def _dangling(option: str, name: str) -> None:
    """Refuse an input named through a link that leads to nothing, saying where it leads.

    A link kept to the newest export (``latest.csv -> exports/2024-05-19.csv``) whose file a
    clean-up removed, or a folder linked into a share not mounted (``data -> /mnt/share``),
    was "file not found: latest.csv" (the policy file's "No such file or directory"), though
    ``ls`` lists it. The first link of the name (a folder's, or the file's own) that leads to
    nothing is named, with where it leads.
    """
    parts = Path(name).parts
    for end in range(1, len(parts) + 1):
        prefix = os.path.join(*parts[:end])
        try:
            if not os.path.islink(prefix) or os.path.exists(prefix):
                continue
            os.stat(prefix)
        except OSError as err:
            link = "" if prefix == os.path.normpath(name) else f": {_name(prefix)}"
            if err.errno == errno.ELOOP:
                raise InvalidInput(
                    f"{option} {_name(name)}{link} is a link whose links lead round in a loop, "
                    "to no file (ls -l shows where each leads)"
                ) from None
            if err.errno != errno.ENOENT:
                return  # (said where the file is read)
        except ValueError:  # (a NUL: said where the file is read)
            return
        else:  # (it exists now: read as ever)
            continue
        raise InvalidInput(
            f"{option} {_name(name)}{link} is a link to {_name(os.path.realpath(prefix))}, "
            "which does not exist (moved or deleted, or on a disk or share not mounted?)"
        )


def _unexpanded(option: str, name: str, *, output: bool) -> None:
    """Refuse a name whose ``~`` or ``$VARIABLE`` no shell expanded, naming no file there is.

    A shell expands them only unquoted; a program's argument list, a service's unit file or a
    quoted ``'$HOME/d.csv'`` passes them as they are: an input was "not found: ~/d.csv", with
    no word on why, and ``--ledger ~/l.db`` said "the directory '/srv/~' does not exist". A
    name whose folder (or file, for an input) of that spelling exists is that file.
    """
    parts = name.split("/")
    last = len(parts) if not output else len(parts) - 1  # an output's own name may be new
    found = next(
        (
            i
            for i, part in enumerate(parts[:last])
            if (i == 0 and part.startswith("~")) or _VARIABLE.search(part)
        ),
        None,
    )
    if found is None:
        return
    prefix = "/".join(parts[: found + 1])
    try:
        if os.path.lexists(prefix):  # a folder or file spelt so
            return
    except (OSError, ValueError):  # (said where the file is used)
        return
    variable = _VARIABLE.search(parts[found])
    what = variable[0] if variable and not (found == 0 and parts[0].startswith("~")) else "~"
    full = os.path.expandvars(os.path.expanduser(name))
    example = f", e.g. {_name(full)}" if full != name and "$" not in full else ""
    raise InvalidInput(
        f"{option} {_name(name)}: {what} was not expanded (a shell expands it only unquoted; "
        f"a program or a service's unit file passes it as it is), and no '{_name(prefix)}' "
        f"exists here: give the full path{example}"
    )


#: A shell variable in a name: ``$HOME``, ``${DATA_DIR}``.
_VARIABLE = re.compile(r"\$(\{\w+\}|[A-Za-z_]\w*)")


def _here(option: str, name: str) -> None:
    """Refuse a relative name when the current folder no longer exists.

    A shell left in a folder that was then deleted or replaced (a release folder a deployment
    swapped, a temporary folder cleaned up) runs the command there: an input was "not found"
    though ``ls`` in a new shell shows it, ``--plot`` "cannot write 'm.png': No such file or
    directory", and ``demo --ledger`` said only "No such file or directory", naming no option.
    """
    try:
        os.getcwd()
    except FileNotFoundError:
        raise InvalidInput(
            f"{option} {name}: the current folder no longer exists (deleted or replaced after "
            "the shell went into it), so a relative name names no file: cd into the folder "
            "again, or give the full path"
        ) from None


def _windows_path(option: str, name: str, *, output: bool) -> None:
    r"""Refuse a name written as a Windows path (``maps\m.png``, ``C:\data\d.csv``) here.

    Where ``/`` alone separates folders, a backslash is a character of a file's name:
    ``--plot C:\maps\m.png`` drew the map into a new file of that name in the current folder
    and said "map written to C:\maps\m.png", and ``--ledger`` made its store so; an input
    named so was "not found" without a word on why. A name that exists is that file, and is
    taken; one that does not is refused, with the name written with ``/``.
    """
    if "\\" not in name or os.altsep is not None:  # (Windows: / and \ both separate)
        return
    try:
        if os.path.lexists(name):  # a file named with a backslash, as this system allows
            return
    except (OSError, ValueError):  # (said where the file is used)
        return
    slashed = name.replace("\\", "/")
    drive = re.match(r"([A-Za-z]):/", slashed)
    # A drive is no folder here (WSL mounts drive C: as /mnt/c).
    example = f"/mnt/{drive[1].lower()}/{slashed[3:]} under WSL" if drive else slashed
    if output:
        raise InvalidInput(
            f"{option} {name} is a Windows path: here a backslash is no folder separator but "
            "part of a file's name, so this would write one new file of that whole name; "
            f"write the folders with /, e.g. {example}"
        )
    raise InvalidInput(
        f"{option} file not found: {name} (a Windows path? here a backslash is no folder "
        f"separator: write the folders with /, e.g. {example})"
    )


def _printable(name: str | os.PathLike[str]) -> str:
    r"""A file name (or text) as the report shows it: bytes that are no UTF-8 as ``\xe5``.

    A name that is not UTF-8 (a Latin-1 file system, a Windows share) reaches Python with each
    such byte as a lone surrogate (``surrogateescape``), which a UTF-8 output refuses to write:
    the report ended in an internal error, or (where the output escapes surrogates) the JSON
    answer held bytes that are no UTF-8. The name is shown with those bytes escaped, the same on
    standard output, in the JSON and on standard error.

    Each run of such bytes is decoded on its own, whatever the file system's encoding: under a
    locale that is not UTF-8 (``LC_ALL=C`` where Python's UTF-8 mode is off) every byte of
    ``Jämtland``'s ``ä`` is such a byte, and a text with another non-ASCII character (``län``)
    could not be encoded back as a whole: its names were shown as ``\udcc3\udca4``.
    """
    text = os.fspath(name)
    if not _SURROGATE.search(text):
        return text
    text = _ESCAPED_BYTES.sub(lambda m: _bytes_text(bytes(ord(c) - 0xDC00 for c in m[0])), text)
    # A surrogate no byte became (from a program's own text): escaped as such.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def _readable(line: str) -> str:
    r"""A line for standard error with each file name this run was given :func:`_printable`.

    The library's messages hold such a name (``J\udce4mt.csv: line 1: ...``), or a part of it
    (its folder), or quote it with ``repr`` (``policy file 'J\udce4mt.toml'``, ``--plot cannot
    write 'J\udce4mt.png'``), which writes a byte that is no UTF-8 as the text ``\udce4``:
    each is shown as :func:`_printable` shows a name (``J\xe4mt.toml``), as the lines the
    command words itself do. (Not for the JSON, whose names are printable already.)
    """
    for part in _byte_names:
        shown = _name(part)
        line = line.replace(repr(part)[1:-1], shown).replace(part, shown)
    return _printable(line)


def _name(name: str | os.PathLike[str]) -> str:
    r"""A file's name as a line shows it: :func:`_printable`, control characters escaped.

    A newline in a name (``$'d\nx.csv'``) split the one line that says why the command ended,
    or the summary's, in two (the error's two parts joined as ``d x.csv``, a name the file does
    not have), and an escape character wrote to the terminal; each is shown as ``\n``,
    ``\x1b``.
    """
    return _one_line(_printable(name))


def _unbroken(text: str) -> str:
    """``text`` with this run's file names that hold control characters shown by :func:`_name`."""
    for part in _byte_names:
        if _CONTROL.search(part):
            text = text.replace(part, _name(part))
    return text


#: What of :data:`geotarget._demo.CONTROL` ``json.dumps`` leaves as it is (it escapes C0 itself).
_JSON_CONTROL = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


#: The parts (folders, the file's own name) of this run's file names that hold bytes that
#: are no UTF-8 (lone surrogates) or control characters, longest first: :func:`_readable`
#: shows them.
_byte_names: list[str] = []


def _note_names(args: argparse.Namespace) -> None:
    """Note the parts of the file names in ``args`` that :func:`_readable` must show."""
    parts = {
        part
        for option in ("alert", "positions", "policy", "plot", "ledger")
        if isinstance(name := getattr(args, option, None), str)
        for part in Path(name).parts
        if _SURROGATE.search(part) or _CONTROL.search(part)
    }
    _byte_names[:] = sorted(parts, key=len, reverse=True)


def _bytes_text(raw: bytes) -> str:
    r"""Bytes of a name as text: UTF-8 where they are, each other byte as ``\xe4``."""
    return raw.decode("utf-8", "backslashreplace")


#: A lone surrogate: what a byte that is no UTF-8 becomes in a file name or an argument.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: A run of the lone surrogates Python's ``surrogateescape`` makes of bytes (U+DC80..U+DCFF).
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def _unicode(stream: TextIO) -> bool:
    """Whether ``stream`` writes every character (a Unicode encoding, or none: in memory)."""
    encoding = getattr(stream, "encoding", None)
    if encoding is None:
        return True
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def _escaping(encoding: str) -> str | None:
    """The encoding a stream of ``encoding``, which cannot write every character, escapes in.

    A text encoding escapes what it lacks (``backslashreplace``). A codec that cannot write
    text so (``PYTHONIOENCODING=idna``, ``undefined``: codecs, not a console's encodings) made
    every line fail, even the error line on stderr: the command ended with no output and
    Python's own exit code 1, which is ``locate``'s "in no region". Such a stream writes ASCII,
    escaping the rest. (None: the stream's own encoding.)
    """
    try:
        "geotarget: Göteborg\n".encode(encoding, "backslashreplace")
    except (LookupError, UnicodeError, TypeError, ValueError):
        return "ascii"
    return None


def _read_positions(args: argparse.Namespace, at: dt.datetime) -> Any:
    """Read ``--positions`` by the rules of :mod:`geotarget._position_files`; report on stderr."""
    from geotarget import _position_files

    _named("--positions", args.positions)
    path = Path(args.positions)
    stream = args.positions == _position_files.STDIN
    # (A name of another suffix is refused for that, /dev/stdin included.)
    read = path.suffix.lower() in (".csv", ".tsv", ".txt", ".parquet")
    special = _special(args.positions) if read and not stream else None
    if special and "pipe" not in special:  # (a named pipe ends when its writer closes it)
        # A device, /dev/zero say, was read until the memory ran out (the process killed).
        raise InvalidInput(
            f"--positions must name a file of positions (got {_printable(path)}, {special}: "
            "a device may be read without end); - reads standard input"
        )
    # Escaped as every line names a file (the progress line is written as it is, on a terminal).
    label = _position_files.STDIN_NAME if stream else _name(path.name)
    tty = _stderr().isatty()
    shown = []  # whether a progress line, without its newline, is on the terminal

    def progress(rows: int) -> None:
        _checkpoint()  # after each chunk: a Ctrl-C the number conversion swallowed stops here
        if tty:
            print(f"\r  reading {label}: {rows:,} rows", end="", file=_stderr(), flush=True)
            shown.append(True)

    observed = _observed_at(args.observed_at, args.timezone)
    try:
        positions, report = _position_files.read(
            path,
            encoding=args.encoding,
            timezone=args.timezone,
            observed_at=observed,
            accuracy_m=args.accuracy_m,
            progress=progress,
            data=_stdin("--positions") if stream else None,
        )
    except BrokenPipeError:  # (standard error's progress line: not the file's fault)
        raise
    except OSError as err:  # the file's (or its folder's) permissions, a failing disk
        raise InvalidInput(f"--positions {_printable(path)} cannot be read: {_why(err)}") from None
    finally:  # the progress line ends, so that the summary or an error starts a line of its own
        if shown:
            print(file=_stderr())
    notes = []
    if report.unknown_columns:
        notes.append(
            f"warning: {label}: ignored unknown column(s) "
            f"{_position_files.names_text(report.unknown_columns)} "
            f"(known: {', '.join(_position_files.KNOWN)})"
        )
    rows = f"{report.rows:,} row{'' if report.rows == 1 else 's'}"
    notes.append(f"read {rows} from {label} ({report.form})")
    notes.extend(f"warning: {label}: {note}" for note in report.notes)
    null = _null_island(label, positions.lon, positions.lat)
    if null:
        notes.append(null)
    outside = _outside_sweden(label, positions.lon, positions.lat)
    if outside:
        notes.append(outside)
    fixes_at = np.where(positions.has_fix, positions.observed_at, np.datetime64("NaT", "us"))
    later = _after(label, fixes_at, at, given=args.at is not None)
    if later:
        notes.append(later)
    unusable = _unusable(label, positions.has_fix, positions.observed_at)
    if unusable:
        notes.append(unusable)
    return positions, notes


def _observed_at(text: str | None, timezone: str | None) -> dt.datetime | None:
    """``--observed-at`` read (None when not given), which needs its own UTC offset.

    Given without one beside ``--timezone``, it was refused as any time without an offset is,
    and the ``--timezone`` given for it went unmentioned: that option reads the file's
    ``observed_at`` cells, and a file read with ``--observed-at`` has none.
    """
    if text is None:
        return None
    from geotarget.positions import parse_time

    local = parse_time(text, field="--observed-at", offset_required=False).tzinfo is None
    if local and timezone is not None:
        raise InvalidInput(
            f"--observed-at must carry a UTC offset, e.g. 2024-05-20T14:00+02:00 (got "
            f"{_shown(text)}): --timezone reads the times of a file's observed_at column, "
            "not --observed-at"
        )
    return _parse_at(text, "--observed-at")


def _unusable(name: str, has_fix: Any, observed: Any) -> str | None:
    """A warning when no row of a file could place a device: no fix, or no fix with a time.

    (The summary counts them among those not told; a file of none says why in one line.)
    """
    if not has_fix.size:
        return None
    if not has_fix.any():
        return (
            f"warning: {name}: none of its {has_fix.size:,} rows has a fix (lon and lat are "
            "empty in every row): no device can be told"
        )
    dated = has_fix & ~np.isnat(observed)
    if not dated.any():
        return (
            f"warning: {name}: none of its {int(has_fix.sum()):,} fixes has a time (observed_at "
            "is empty in every row with a fix): an undated fix is never current, so no device "
            "can be told"
        )
    return None


#: How much later than ``--at`` a fix may be taken before the summary warns (phones' clocks).
_SKEW = dt.timedelta(minutes=5)


def _after(name: str, observed: Any, at: dt.datetime, *, given: bool = True) -> str | None:
    """A warning when fixes were taken well after ``--at``: they count as current fixes.

    (A fix from after the decision time is read as clock skew; a whole file of them means
    ``--at`` is in the past of the file, e.g. an old alert replayed over today's positions.)
    ``given``: whether ``--at`` was given; without it the decision time is the present, and
    the warning said "after --at ...: is --at right?" to someone who gave none.
    """
    try:
        utc = (at + _SKEW).astimezone(dt.timezone.utc)
    except OverflowError:  # --at at the end of the years: the Targeter refuses it, saying so
        return None
    limit = np.datetime64(utc.replace(tzinfo=None), "us")
    late = observed > limit  # NaT compares False
    count = int(late.sum())
    if not count:
        return None
    latest = observed[late].max().item().replace(tzinfo=dt.timezone.utc).astimezone(at.tzinfo)
    when, ask = (
        (f"--at {at.isoformat()}", "is --at right?")
        if given
        else (
            f"now, {at.isoformat(timespec='seconds')} (no --at was given)",
            "are the file's times, and this machine's clock, right?",
        )
    )
    return (
        f"warning: {name}: {count:,} of {observed.size:,} devices' fixes were taken more than "
        f"{_SKEW.seconds // 60} minutes after {when} (the latest at {latest.isoformat()}); they "
        f"count as current fixes, not as where the devices were then: {ask}"
    )


def _at_null_island(lon: Any, lat: Any) -> Any:
    """Whether each fix lies exactly at lon 0, lat 0, where systems put an unknown position."""
    return (lon == 0.0) & (lat == 0.0)


def _null_island(name: str, lon: Any, lat: Any) -> str | None:
    """A warning when fixes lie exactly at lon 0, lat 0 ("null island", in the Gulf of Guinea).

    A database column ``NOT NULL DEFAULT 0``, or a phone API's empty location, writes an unknown
    position so. Such a device is then counted outside the area, not as a device without a fix,
    and :func:`_outside_sweden` blamed its rows on wrong units ("are they WGS84 ...?"); they
    are left out of that check and named here, with counts only.
    """
    count = int(_at_null_island(lon, lat).sum())
    if not count:
        return None
    fixes = int((~np.isnan(lon)).sum())
    return (
        f"warning: {name}: {count:,} of {fixes:,} fixes lie exactly at lon 0, lat 0, where "
        "unknown positions are often written: if these devices have no fix, leave their lon "
        "and lat empty (they are counted as fixes far outside every Swedish alert area)"
    )


#: The share (in per cent) of the fixes outside Sweden that must lie in it with lon and lat
#: swapped for a file to be refused as swapped (when more than half of its fixes lie outside).
_SWAPPED_PERCENT = 90
#: When at most half of the fixes lie outside Sweden, the file is warned of when at least this
#: share (in per cent) of all its fixes, and at least :data:`_PART_SWAPPED_ROWS` of them, lie
#: outside but would lie in it with lon and lat swapped: rows of a second source with its
#: columns the other way round, whose devices are never told. (Sweden's envelope swapped is
#: mostly the Arabian Sea and Oman: that many devices there are not roaming.)
_PART_SWAPPED_PERCENT = 1
_PART_SWAPPED_ROWS = 10


def _outside_sweden(name: str, lon: Any, lat: Any) -> str | None:
    """A warning when most fixes lie outside Sweden's envelope (swapped columns, wrong units).

    When the evidence is clear — more than half of the fixes outside, and at least
    :data:`_SWAPPED_PERCENT` % of those inside with lon and lat swapped — the file is refused
    (``InvalidInput``): its columns are the other way round, and targeting it would answer
    "nobody" for every alert. Sweden's envelope is the service envelope DESIGN.md names.
    When at most half lie outside, a share of the rows swapped into Sweden
    (:data:`_PART_SWAPPED_PERCENT`, :data:`_PART_SWAPPED_ROWS`) is warned of, with counts only.
    """
    west, south, east, north = _sweden().SWEDEN_ENVELOPE
    has = ~np.isnan(lon) & ~_at_null_island(lon, lat)  # those are named on their own
    x, y = lon[has], lat[has]
    if not x.size:
        return None
    out = ~_in_envelope(x, y)
    outside = int(out.sum())
    swapped = int(_in_envelope(y[out], x[out]).sum())
    envelope = f"Sweden (lon {west:g}..{east:g}, lat {south:g}..{north:g})"
    if 2 * outside <= x.size:  # some devices abroad are normal; most of a file abroad is not
        if swapped < _PART_SWAPPED_ROWS or 100 * swapped < _PART_SWAPPED_PERCENT * x.size:
            return None
        return (  # ... but not a share of them that lies in Sweden with lon and lat swapped
            f"warning: {name}: {swapped:,} of {x.size:,} fixes lie outside {envelope} but "
            "would lie in it with lon and lat swapped: do some rows (a second source?) have "
            "their lon and lat the other way round? those devices are never told"
        )
    if 100 * swapped >= _SWAPPED_PERCENT * outside:  # in integers: 27 of 30 is 90 %
        raise InvalidInput(
            f"{name}: {outside:,} of {x.size:,} fixes lie outside {envelope}, and {swapped:,} "
            "of those would lie in it with lon and lat swapped: the file's lon and lat columns "
            "are the other way round; swap their names in its header (geotarget target answers "
            "for Sweden's regions only, so it refuses rather than tell nobody)"
        )
    why = (
        f"{swapped:,} of them would lie in it with lon and lat swapped: are the file's lon and "
        "lat columns the other way round?"
        if 2 * swapped > outside
        else "are they WGS84 longitude and latitude in degrees?"
    )
    return f"warning: {name}: {outside:,} of {x.size:,} fixes lie outside {envelope}; {why}"


def _parse_at(text: str | None, flag: str = "--at") -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.timezone.utc)
    from geotarget.positions import parse_time

    return parse_time(text, field=flag)


def _stdin(option: str, size: int = -1) -> bytes:
    """Up to ``size`` bytes of standard input, which ``option`` names with ``-``.

    Python sets ``sys.stdin`` to None when the command starts with it closed (``<&-``, a
    service without one): that is said, not an internal error.
    """
    if sys.stdin is None:
        raise InvalidInput(
            f"{option} - reads standard input, which is closed: give a file name instead"
        )
    if sys.stdin.isatty():  # typed at a prompt: it waited for input without a word
        what = "the alert" if option in ("alert", "--alert") else "the positions (CSV)"
        eof = "Ctrl-Z and Enter" if sys.platform == "win32" else "Ctrl-D"
        command = "preview" if option == "alert" else "target"
        _complain(
            f"geotarget {command}: {option} - reads {what} from standard input, here the terminal: "
            f"paste it, then press {eof} on a new line (or give a file name; Ctrl-C stops)"
        )
    if size < 0:  # (a bounded read ends anyway)
        _endless_device(option)
    try:
        return _read_all(sys.stdin.buffer, size)
    except OSError as err:  # opened for writing only (0>file), a failing disk: "Bad file ..."
        raise InvalidInput(f"{option} - cannot be read (standard input): {_why(err)}") from None


def _endless_device(option: str) -> None:
    """Refuse a standard input that is a device other than a terminal or ``/dev/null``.

    ``--positions - < /dev/zero`` (or ``/dev/urandom``, a serial port) was read until the
    memory ran out and the process was killed; a device has no end to wait for.
    """
    try:
        given, null = os.fstat(sys.stdin.fileno()), os.stat(os.devnull)
    except (OSError, ValueError, AttributeError):  # (no file under it: a test's stream)
        return
    device = stat.S_ISCHR(given.st_mode) or stat.S_ISBLK(given.st_mode)
    if device and given.st_rdev != null.st_rdev and not sys.stdin.isatty():
        raise InvalidInput(
            f"{option} - reads standard input, which is a device here, not a file or a pipe: "
            "a device may be read without end; redirect a file or a pipe into it"
        )


def _read_all(stream: Any, size: int = -1) -> bytes:
    """Up to ``size`` bytes of ``stream`` (all, when negative): to its end, waiting for them.

    A standard input its parent made non-blocking (``O_NONBLOCK`` on a pipe shared with a
    Node.js or CI runner's process; the flag belongs to the pipe, not the process) made one
    read return only what had arrived so far, or None: ``--positions -`` read part of the file
    and targeted, or refused, that part; ``--alert -`` was an internal error. Each read here
    that finds nothing yet waits until there is something, and the end of the input is only
    the read that returns no bytes.
    """
    # The file under the buffer: its read() is None when nothing has come yet (the buffer's
    # read1() returns b"" then, as at the end). Nothing reads standard input before this.
    raw = getattr(stream, "raw", None)
    reader = raw if isinstance(raw, io.RawIOBase) else stream
    chunks: list[bytes] = []
    total = 0
    while size < 0 or total < size:
        want = _CHUNK if size < 0 else min(_CHUNK, size - total)
        try:
            chunk = reader.read(want)
        except BlockingIOError:
            chunk = None
        if chunk is None:  # nothing yet, on a non-blocking file: wait until its writer writes
            select.select([reader.fileno()], [], [])
            continue
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


#: How much :func:`_read_all` reads at once.
_CHUNK = 1 << 20


#: The ALERT argument that reads the document from standard input.
STDIN = "-"


def _alert_bytes(name: str, option: str = "alert") -> tuple[str, bytes]:
    """The bytes of the alert argument (a file, or ``-``: standard input) and its label.

    ``option`` names the argument in messages as the command's help does (``--alert`` for
    ``target``, whose summary line names ``--positions`` the same way).

    At most one byte more than a CAP document may have is read, so a huge input costs no more
    than the reader's refusal of it; a gzip-compressed file is refused with what to do.
    """
    from geotarget.cap._xml import MAX_DOCUMENT_BYTES

    _named(option, name)
    if name == STDIN:
        label = "standard input"
        data = _stdin(option, MAX_DOCUMENT_BYTES + 1)
    else:
        path = Path(name)
        label = _printable(path)
        try:  # a file, or a pipe: /dev/stdin, a shell's <(...) as /dev/fd/63
            if path.is_dir():
                raise InvalidInput(f"{option} must be a file (got the directory {label})")
            if not path.exists():
                raise InvalidInput(
                    f"{option} file not found: {label} (use - to read standard input)"
                )
            with path.open("rb") as f:
                data = f.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as e:  # (is_dir() too, in a folder that may not be looked into)
            raise InvalidInput(f"{option} {label} cannot be read: {_why(e)}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            f"{label}: the alert is more than {MAX_DOCUMENT_BYTES:,} bytes, the most a CAP "
            "document may have (geotarget.cap.MAX_DOCUMENT_BYTES)"
        )
    if data[:2] == b"\x1f\x8b":
        raise InvalidInput(
            f"{label}: the alert is gzip-compressed (it starts with gzip's magic bytes 1f 8b); "
            "decompress it first, e.g. gunzip -c ALERT.xml.gz | geotarget ... -"
        )
    # The CAP reader would quote the text before the root element: a positions file's first
    # row, a device's id and position, in a message; or call a web server's error page an
    # attack (its DOCTYPE), and an empty download "no element found".
    what = _not_cap(data, "--positions" if option == "--alert" else "geotarget target --positions")
    if what is not None:
        raise InvalidInput(f"{label}: CAP document has 1 problem: {what}")
    return label, data


def _not_cap(data: bytes, where: str) -> str | None:
    """What an input given as the alert is when it is plainly no CAP document, or None.

    A table (CSV, Parquet), JSON (one line of it holds commas: it was called "a CSV table's
    first line"), an HTML page (what ``curl -s "$FEED_URL"`` passes on when the server
    answers with an error: the CAP reader refused its DOCTYPE as an entity attack, or named
    a tag HTML leaves unclosed) and nothing at all (``curl -sf``'s output on an HTTP error:
    "no element found"). The text is not quoted, but for an HTML page's title. A table's
    first line counts only when it holds no ``<`` and a delimiter (a CAP document in UTF-16
    or EBCDIC is left to the CAP reader, whose errors name its encoding). ``where``: the
    option that takes a positions file.
    """
    not_quoted = "its text is not quoted: a row may be a device's position"
    if data.startswith(b"PAR1"):
        return f"it is not XML but a Parquet file (a positions file? it goes to {where}); " + (
            not_quoted
        )
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")[:4096]
    if not head:
        return (
            "it is empty (a download that failed? curl -f passes nothing on when the server "
            "answers with an error): a CAP alert is XML, starting with <alert> or an XML "
            "declaration"
        )
    if head[:1] in (b"{", b"["):
        return (
            "it is not XML but JSON (a feed's JSON, GeoJSON, or positions written as JSON?): "
            f"CAP 1.2 is XML, starting with <alert> or an XML declaration; {not_quoted}"
        )
    if head[:14].lower().startswith((b"<!doctype html", b"<html")):
        title = re.search(rb"<title[^>]*>([^<]{1,200})</title", head, re.IGNORECASE)
        named = ""
        if title:
            text = " ".join(title[1].decode("utf-8", "replace").split())[:80]
            named = f", titled {_one_line(text)!r}" if text else ""
        return (
            f"it is not XML but an HTML page{named} (a web server's error or login page, "
            "where the alert should have been?): fetch the CAP document itself (curl -f "
            "fails on an error rather than pass its page on)"
        )
    line = head.split(b"\n", 1)[0].split(b"\r", 1)[0]
    if line.startswith(b"<") or b"<" in line or b"\x00" in line:
        return None
    if any(d in line for d in (b",", b";", b"\t")):
        return (
            "it is not XML but delimited text, a CSV table's first line (a positions file? it "
            f"goes to {where}); {not_quoted}"
        )
    return None


def _read_alert(
    name: str, *, envelope: Any = None, lenient: bool = False, command: str = "preview"
) -> tuple[Any, str, bytes]:
    """The alert argument read strictly (or leniently): a :class:`cap.Parsed`, label, bytes.

    ``name`` is a file or ``-`` (standard input), which the label names in error messages;
    ``command`` is the command reading it, whose hint a refusal carries (:func:`_naming`).
    """
    from geotarget import cap

    label, data = _alert_bytes(name, "--alert" if command == "target" else "alert")
    with _naming(label, lenient=lenient, command=command):
        return cap.read(data, envelope=envelope, lenient=lenient), label, data


#: What a command says of a document only a lenient reading takes, in place of the reader's
#: "(loads_lenient repairs this)", which names a Python function. ``preview --lenient``
#: repairs it; ``target`` has no ``--lenient``: it reads strictly, as a service must.
_LENIENT_HINTS = {
    "preview": "(this command reads strictly; 'geotarget preview --lenient' repairs this)",
    "target": "(geotarget target reads strictly, as a service must, and has no --lenient; "
    "'geotarget preview --lenient' lists what a lenient reading repairs, for the sender to "
    "fix)",
}


@contextlib.contextmanager
def _naming(path: Path | str, *, lenient: bool = False, command: str = "preview") -> Iterator[None]:
    """Name the file in front of a document error raised while reading it.

    The reader's hint "loads_lenient repairs this" becomes ``command``'s
    (:data:`_LENIENT_HINTS`), or nothing when the read was lenient.
    """
    try:
        yield
    except DocumentError as err:
        hint = _LENIENT_HINTS[command]
        message = str(err).replace("(loads_lenient repairs this)", "" if lenient else hint)
        raise InvalidInput(f"{path}: {message}") from None


#: Exit code of ``target`` when the message is refused before any device is looked at.
_REFUSED = 4

#: Exit code when the output's reader stops early: 128 + SIGPIPE, as a shell reports it.
_CLOSED_PIPE = 141

#: Exit code when the command is interrupted (Ctrl-C): 128 + SIGINT, as a shell reports it.
_INTERRUPTED = 130


#: Outcomes of devices in the alert area that are not told, as the summary names them.
_NOT_TOLD = {
    "beyond_border": "beyond the border",
    "outside_rollout": "outside the rollout",
    "stale_location": "with a stale or undated fix",
    "no_fix": "without a fix",
    "ambiguous_excluded": "with a fix too uncertain",
    "outside_canary": "outside the canary",
    "not_a_tester": "not testers",
}


#: What to do about an alert no recognition rule recognises (its event is not the pilot's).
_RECOGNISE = (
    "to target it, add a [[recognition]] rule matching its event to a policy file (a copy of "
    "docs/examples/pilot_policy.toml, say) and give that file with --policy"
)


def _summary(result: Any, unrecognised: bool = False) -> str:
    """The stderr summary: verdict and new recipients, with why or who was not told.

    A refusal gives its reason, a delivery the devices not told by outcome, so that
    "0 new recipient(s)" is never left unexplained; ``unrecognised`` (no recognition rule
    recognises the alert) adds what to do about it.
    """
    from geotarget.targeting import Verdict

    line = f"{result.verdict.value}: {len(result.recipients):,} new recipient(s)"
    if result.verdict is Verdict.UNRECOGNISED_KIND and unrecognised:
        return f"{line}: {result.reason}; {_RECOGNISE}"
    if result.verdict is Verdict.BLAST_RADIUS:
        return f"{line}: {result.reason} (geotarget target --confirm)"
    if result.verdict is Verdict.UNKNOWN_REFERENCE:  # "remembered": by this run's ledger only
        return (
            f"{line}: {result.reason}; but geotarget target keeps no ledger between runs: "
            "a later run does not remember it, and delivers the versions it names"
        )
    if result.verdict is not Verdict.DELIVER:
        return f"{line}: {result.reason}"
    counts = {o.name.lower(): n for o, n in result.counts.items()}
    missed = [
        f"{counts[k]:,} {'not a tester' if k == 'not_a_tester' and counts[k] == 1 else what}"
        for k, what in _NOT_TOLD.items()
        if counts.get(k)
    ]
    if missed:
        return f"{line}; not told: {', '.join(missed)}"
    if not len(result.recipients) and not result.already_delivered:
        return f"{line}: no device's fix lies in the area"
    return line


def _targeter(path: str | None) -> Any:
    """The Targeter ``target`` uses: of the policy file at ``path``, or of the shipped pilot.

    The file's recognition rules rank before the pilot's; its ``[location_rules.<kind>]``
    tables register its kinds (over the pilot's defaults). It is read with Sweden's regions,
    so its unknown codes are its problems, named with it; what only a Targeter checks is the
    file's problem too. Without a file: the pilot policy, the pilot's rules and any sender.
    """
    from geotarget import load_policy, pilot
    from geotarget.issuers import Issuers
    from geotarget.targeting import Targeter

    hierarchy = _sweden().hierarchy()
    if path is None:
        return Targeter(
            hierarchy,
            _sweden().pilot_policy(),
            recognition=pilot.RECOGNITION,
            issuers=Issuers.any(),
        )
    loaded = load_policy(path, catalog=hierarchy)  # issuers: not None
    try:
        return Targeter(
            hierarchy,
            loaded.rollout,
            location_rules=loaded.location_rules,
            recognition=loaded.recognition,
            issuers=loaded.issuers,
        )
    except InvalidPolicy as err:
        raise InvalidPolicy(err.problems, what=f"policy file {path!r}") from None


def _check(args: argparse.Namespace, out: TextIO) -> int:
    """``geotarget check``: refuse what ``target --policy`` would refuse, or summarise the file."""
    _named("policy", args.policy)
    targeter = _targeter(args.policy)
    policy, issuers = targeter.policy, targeter.issuers
    report = Out(out)
    report(_one_line(f"policy file {args.policy!r}: OK (policy_hash {policy.policy_hash})"))
    for rollout in policy.rollouts:
        killed = " (killed)" if rollout.killed or policy.killed else ""
        report(f"  kind {rollout.kind}{killed}: {len(rollout.phases)} phase(s)")
    kinds = sorted({rule.kind for rule in targeter.recognition.rules})
    report(f"  {len(targeter.recognition.rules)} recognition rule(s), of {', '.join(kinds)}")
    who = (
        "any sender (no issuers table)"
        if issuers.any_sender
        else f"{len(issuers.issuers)} issuer(s): "
        + ", ".join(_one_line(i.name) for i in issuers.issuers)
    )
    report(f"  {who}")
    return 0


def _target(args: argparse.Namespace, out: TextIO) -> int:
    from geotarget import PositionIndex
    from geotarget.targeting import Verdict

    if args.alert == STDIN and args.positions == STDIN:
        raise InvalidInput(
            "--alert - and --positions - both name standard input, which holds one of them: "
            "give the other as a file"
        )
    # Sweden's envelope turns a document written lon,lat into a clear error, not an empty result
    # (read first, so a broken document is the error reported; receive() reads the same bytes
    # again, with the regions' own bounds).
    parsed, label, data = _read_alert(
        args.alert, envelope=_sweden().SWEDEN_ENVELOPE, command="target"
    )
    at = _parse_at(args.at)
    # The policy before the positions: a typo in it is reported at once, not after a file of
    # millions of rows has been read.
    if args.policy is not None:
        _named("--policy", args.policy)
    targeter = _targeter(args.policy)
    policy, recognition, issuers = targeter.policy, targeter.recognition, targeter.issuers
    positions, notes = _read_positions(args, at)
    # The regions' bounds turn a document written lon,lat into a clear error.
    with _naming(label, command="target"):
        result = targeter.receive(data, PositionIndex(positions), at, confirm=args.confirm)
    testers = _no_tester(args, parsed.alert.status.value, positions.tester, result)
    if testers:
        notes.append(testers)
    file_warnings = [n.removeprefix("warning: ") for n in notes if n.startswith("warning: ")]
    doc = {
        "alert": result.alert_id,
        "incident": result.incident,
        "at": result.at.isoformat(),
        "verdict": result.verdict.value,
        "reason": result.reason,
        "kind": result.kind,
        "recognised_by": result.recognised_by,
        "issuer": result.issuer if not issuers.any_sender else "any (no issuers table)",
        "signature": result.signature,
        # The alert's warnings, then the positions file's (also on stderr): a program that
        # reads only the JSON learns of rows no device is told for (swapped columns, say).
        "warnings": [f"{w.path}: {w.message}" for w in result.warnings] + file_warnings,
        # In --at's offset, as "at" is (the policy's instants are UTC).
        "next_change": result.next_change.astimezone(result.at.tzinfo).isoformat()
        if result.next_change
        else None,
        "policy_hash": result.rollout.policy_hash if result.rollout else policy.policy_hash,
        # Numbered from 1, as in every sentence ("phase 1"); rollout.phase_index counts from 0.
        "phase": result.rollout.phase_index + 1
        if result.rollout and result.rollout.phase_index is not None
        else None,
        "phase_illustrative": _illustrative(policy, result),
        "recipients": [_jsonable(d) for d in result.recipients.tolist()],
        "counts": {o.name.lower(): n for o, n in result.counts.items()},
        "per_county": dict(result.per_county),
        "area_km2": result.area_km2,
        "timings_s": dict(result.timings),
    }
    # JSON escapes what the stream cannot encode (a redirect on a cp1252 console, say).
    # One write: json.dump() wrote each token on its own, a million writes for as many
    # recipients, each through the output's checks.
    # NaN or Infinity is no JSON (a strict reader refuses the whole answer): a bug, said as such.
    # C1 controls and controls of writing direction as JSON's \u escapes, as C0 ones are: the
    # same text to any JSON reader, and none drives a terminal the answer is shown on.
    answer = json.dumps(doc, indent=2, ensure_ascii=not _unicode(out), allow_nan=False)
    out.write(_JSON_CONTROL.sub(lambda m: f"\\u{ord(m[0]):04x}", answer) + "\n")
    # A kind no rule recognises: say how to recognise it (a newcomer's own alert, say "Gasläcka").
    notes.append(_summary(result, recognition.recognise(parsed.alert) is None))
    for note in notes:  # after the JSON, so a failure leaves one line on stderr
        if not _note(f"geotarget target: {note}"):
            break
    refused = {
        Verdict.UNRECOGNISED_KIND,
        Verdict.UNKNOWN_ISSUER,
        Verdict.NOT_AUTHORISED,
        Verdict.BAD_SIGNATURE,
    }
    return _REFUSED if result.verdict in refused else 0


def _note(line: str) -> bool:
    """Write a line of the summary on standard error; False when it cannot be written.

    The summary follows the JSON answer, which holds all it says: a standard error that
    cannot take it (``2>/dev/full``, a log pipe whose reader has gone) turned an answer
    written whole into exit code 2 (or 141), a refusal's 4 lost, where a closed standard
    error (``2>&-``) kept the verdict's code. The rest of the summary is dropped, and Python's
    flush at exit is kept from writing to standard error again. A pipe that is standard
    output too (``2>&1 | head``) is the answer's reader gone: that ends as ever (141).
    """
    try:
        print(_one_line(_readable(line)), file=_stderr(), flush=True)
    except BrokenPipeError:
        if _same_stream(sys.stdout, sys.stderr):
            raise
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
        return False
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
        return False
    return True


def _same_stream(first: TextIO | None, second: TextIO | None) -> bool:
    """Whether two standard streams write to one file (``2>&1``)."""
    if first is None or second is None:
        return False
    try:
        a, b = os.fstat(first.fileno()), os.fstat(second.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _no_tester(args: argparse.Namespace, status: str, tester: Any, result: Any) -> str | None:
    """A warning when a Test or Exercise alert found devices in its area but no tester at all.

    Such an alert reaches testers only; a file without a ``tester`` column (or with it false in
    every row) makes every device a non-tester, and the answer "nobody" said only "not told:
    N not testers", not that the file names no tester.
    """
    from geotarget.targeting import Outcome

    missed = result.counts.get(Outcome.NOT_A_TESTER, 0)
    if not missed or bool(np.any(tester)):
        return None
    from geotarget import _position_files

    stream = args.positions == _position_files.STDIN
    label = _position_files.STDIN_NAME if stream else _printable(Path(args.positions).name)
    return (
        f"warning: {label}: no device is a tester (it has no tester column, or the column is "
        f"false in every row), so this {status} alert, which reaches testers only, tells "
        "nobody: mark the testers in a tester column (1/0)"
    )


def _illustrative(policy: Any, result: Any) -> bool | None:
    """Whether the deciding phase's date is illustrative (None when no phase decided)."""
    d = result.rollout
    if d is None or d.phase_index is None:
        return None
    rollout = policy.rollout(d.kind)
    return bool(rollout is not None and rollout.phases[d.phase_index].illustrative)


def _jsonable(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


# --- locate and preview ----------------------------------------------------------------------


def _locate(args: argparse.Namespace, out: TextIO) -> int:
    from geotarget._validate import lon_lat, number

    # Named as the help names them: the arguments lon and lat, the option --snap-m (the
    # regions' own check said "snap_m", a name the command does not have).
    lon, lat = lon_lat("lon", args.lon, "lat", args.lat)
    number("--snap-m", args.snap_m, ge=0.0, le=100_000.0)
    hierarchy = _sweden().hierarchy()
    found = False
    for level in hierarchy.levels:
        code = str(hierarchy.locate(np.array([lon]), np.array([lat]), level, snap_m=args.snap_m)[0])
        if code:
            found = True
            print(f"{level}: {code} {hierarchy.region(code).name}", file=out)
    if not found:
        print(f"lon {lon}, lat {lat} lies in no Swedish region", file=out)
        near = str(hierarchy.locate(np.array([lon]), np.array([lat]), snap_m=NEAR_M)[0])
        if near:  # (with a --snap-m too short, it said nothing of the region 1 km away)
            farther = f" and farther than --snap-m {args.snap_m:g} from it" if args.snap_m else ""
            print(
                f"  it lies within {NEAR_M / 1000:g} km of {near} {hierarchy.region(near).name}, "
                f"beyond Sweden's border or territorial sea{farther}; --snap-m METRES counts "
                "it there",
                file=out,
            )
        # Swapped, the point must lie in a region, not just in Sweden's rectangle: Oslo given
        # lat first was told "the point lon 10.7522, lat 59.9139 is in Sweden", which it is not.
        swapped = (
            str(hierarchy.locate(np.array([lat]), np.array([lon]))[0])
            if bool(_in_envelope(lat, lon)) and not bool(_in_envelope(lon, lat))
            else ""
        )
        if swapped:
            print(
                f"  hint: lon and lat look swapped; the point lon {lat}, lat {lon} is in "
                f"{swapped} {hierarchy.region(swapped).name}: geotarget locate {lat} {lon}  "
                "(longitude first)",
                file=out,
            )
        return 1
    return 0


#: How far ``locate`` looks for a region to name beside a point that lies in none.
NEAR_M = 2000.0


def _ascii_float(text: str, example: str = "18.0686", unit: str = "") -> float:
    """A number as people type it: ASCII digits (float() reads '١٨' as 18), point or comma.

    ``example`` is the number the refusal shows (a longitude by default), ``unit`` what it
    counts (" of metres").
    """
    if not text.isascii() or "_" in text:  # (float() reads "1_8" as 18 too)
        raise argparse.ArgumentTypeError(
            f"must be a number written with ASCII digits and a decimal point (got {_shown(text)})"
        )
    number = text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
    try:  # (a decimal comma, as Swedish locales write it; the message quotes what was typed)
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number{unit} with a decimal point or comma, e.g. {example} "
            f"(got {_shown(text)})"
        ) from None
    if value in (float("inf"), float("-inf")) and "inf" not in number.lower():
        # 1e999 or 400 digits: the refusal said "(got inf)", a value nobody typed.
        raise argparse.ArgumentTypeError(
            f"must be a number{unit} such as {example} (got {_shown(text)}, too large to be "
            "held as a number: it reads as infinity)"
        )
    return value


def _metres(text: str) -> float:
    """A distance argument in metres (``--accuracy-m``, ``--snap-m``): :func:`_ascii_float`.

    Its refusal shows a distance, not the longitude a coordinate's shows.
    """
    return _ascii_float(text, example="25 or 12.5", unit=" of metres")


def _longitude(text: str) -> float:
    """The ``lon`` argument of ``locate``: :func:`_coordinate`, its example a longitude."""
    return _coordinate(text, "18.0686")


def _latitude(text: str) -> float:
    """The ``lat`` argument of ``locate``: :func:`_coordinate`, its example a latitude.

    (It showed the longitude 18.0686 as the example of a latitude.)
    """
    return _coordinate(text, "59.3293")


def _coordinate(text: str, example: str) -> float:
    """A longitude or latitude argument: :func:`_ascii_float`, and a pair pasted into one.

    A point copied from a map ("59.8586, 17.6389": a map copies latitude first) is two numbers
    in one argument; the refusal says so and gives the command with two arguments, longitude
    first (the numbers the other way round when only that order lies in Sweden). ``example``
    is the number a refusal shows.
    """
    try:
        return _ascii_float(text, example=example)
    except argparse.ArgumentTypeError:
        pair = _pair(text)
        if pair is None and not (text.endswith(",") and _pair(text + "0")):
            raise
    if pair is None:  # "17.6389," of "17.6389, 59.8586" split at the space
        raise argparse.ArgumentTypeError(
            f"ends with a comma (got {_shown(text)}): separate longitude and latitude with a "
            "space, not a comma"
        )
    a, b = pair
    if bool(_in_envelope(float(b), float(a))) and not bool(_in_envelope(float(a), float(b))):
        a, b = b, a  # latitude first, as maps write it
    raise argparse.ArgumentTypeError(
        f"holds two numbers (got {_shown(text)}): give longitude and latitude as two arguments, "
        f"longitude first: geotarget locate {a} {b}"
    )


def _pair(text: str) -> tuple[str, str] | None:
    """The two numbers of a "lon,lat"-like text, written with a decimal point; else None."""
    for sep in (";", None, ","):  # None: any whitespace ("17.6 59.8", "17,6 59,8")
        parts = [part.strip() for part in text.split(sep)]
        if len(parts) != 2:
            continue
        try:
            numbers = [_ascii_float(part) for part in parts]
        except argparse.ArgumentTypeError:
            continue
        return str(numbers[0]), str(numbers[1])
    return None


def _whole(low: int, high: int | None) -> Any:
    """An argument type: a whole number within ``low`` … ``high`` (no upper bound if None)."""

    def parse(text: str) -> int:
        # Digits only, as the message says: int() would also take " 5", "1_000" and "５".
        value = None
        if text.isascii() and text.isdigit():
            try:
                value = int(text)
            except ValueError:  # beyond Python's 4,300-digit limit
                value = None
        if value is None or value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(
                f"must be a whole number {bounds}, written with digits only (got {text!r})"
            )
        return value

    return parse


def _in_envelope(lon: Any, lat: Any) -> Any:
    """Whether each point lies in Sweden's envelope (numbers or arrays)."""
    west, south, east, north = _sweden().SWEDEN_ENVELOPE
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _preview(args: argparse.Namespace, out: TextIO) -> int:
    from geotarget import load_policy, pilot
    from geotarget.alerts import MessageType

    # Sweden's envelope refuses an area written lon,lat (outside Sweden, inside it swapped).
    envelope = None if args.anywhere else _sweden().SWEDEN_ENVELOPE
    if args.plot is not None:
        _named("--plot", args.plot, output=True)
    parsed, _, _ = _read_alert(args.alert, envelope=envelope, lenient=args.lenient)
    alert = parsed.alert
    if args.plot:  # refused before anything is printed
        if alert.area is None:
            raise InvalidInput("--plot needs an alert with an area geometry")
        _check_plot(args.plot)
    report = Out(out)

    def say(line: str) -> None:  # the document's texts, shown on one line each, inert
        report(_one_line(line))

    recognition, registered = pilot.RECOGNITION, set(pilot.KIND_RULES)
    if args.policy is not None:  # the file's recognition rules first, and the kinds it registers
        _named("--policy", args.policy)
        loaded = load_policy(args.policy, catalog=_sweden().hierarchy(), issuers_required=False)
        recognition = loaded.recognition
        registered |= set(loaded.location_rules)
    recognised = recognition.recognise(alert)
    kind = (
        f"{recognised.kind} (rule {recognised.rule})"
        if recognised is not None
        else f"unrecognised (looked at {recognition.looked_at(alert)}); {_RECOGNISE}"
    )
    if recognised is not None and recognised.kind not in registered:
        kind += (
            f"; not registered: no location rules (add a [location_rules.{recognised.kind}] "
            "table to the policy file)"
        )
    say(f"{alert.identifier} from {alert.sender}, sent {alert.sent.isoformat()}")
    say(f"  {alert.status.value} {alert.msg_type.value}, kind: {kind}")
    for info in alert.infos:
        # Each block's window: a preview that left it out could not tell an alert that is in
        # effect now from one that starts tomorrow, or one that never ends (no expires).
        say(f"  [{info.language}] {info.event}" + (f": {info.headline}" if info.headline else ""))
        if alert.msg_type not in (MessageType.ALERT, MessageType.UPDATE):  # Cancel, Ack, Error
            continue
        starts = ((info.effective, "effective"), (info.onset, "onset"), (alert.sent, "sent"))
        start, since = next((t, name) for t, name in starts if t is not None)
        until = info.expires.isoformat() if info.expires else "cancelled (it has no expires)"
        say(f"    in effect from {start.isoformat()} ({since}) until {until}")
    for repair in parsed.repairs:
        say(f"  repaired: {repair}")
    for warning in parsed.warnings:
        say(f"  warning: {warning}")
    area = alert.area
    if area is None:
        say("  no area geometry")
    else:
        from geotarget import _plot  # (no matplotlib: that is loaded to draw)

        w, e, across = _plot.lon_range(area)  # (bounds: -180…180 for an area across 180°)
        _, s, _, n = area.bounds
        say(
            f"  area: {len(area.parts)} part(s), {area.area_m2 / 1e6:,.3f} km², "
            f"lon {w:.5f}…{e:.5f}{' (across the 180° meridian)' if across else ''}, "
            f"lat {s:.5f}…{n:.5f}"
        )
    if args.plot and area is not None:
        from geotarget import _demo, _plot

        label = recognised.kind if recognised is not None else "unrecognised"
        # A "$" (CAP allows it in an identifier) is text, not matplotlib's mathtext: an
        # identifier "SOS$\\frac$1" was an internal error, "SOS$_2$" drew a subscript.
        title = f"{alert.identifier} ({label})".replace("$", r"\$")
        # Ctrl-C included: no half-written picture is left behind, nor an earlier one cut short.
        _demo.draw_replacing(args.plot, lambda into: _plot.alert_map(into, area, title=title))
        say(f"  map written to {_name(args.plot)}")
    return 0


# --- entry point -----------------------------------------------------------------------------


_POSITIONS_RULES = """\
positions files:
  columns   id, lon, lat, accuracy_m, observed_at [, tester], named on the first
            line (any case; latitude, longitude, lng, long and device_id are read as
            lat, lon, lon, lon and id, Swedish latitud and longitud as lat and lon,
            accuracy and horizontalAccuracy as accuracy_m); other columns are
            ignored with a warning on stderr
  accuracy  accuracy_m in metres, the 68 % radius phones report; a file without
            it needs --accuracy-m METRES (0: exact fixes), never assumed exact
  CSV       comma, semicolon or tab separated (found from the header line, or named
            by an Excel first line such as sep=;); decimal comma or point, one
            for the whole file (no thousands separators: "1,500" among decimal
            points is refused); UTF-8 (BOM fine), UTF-16 or UTF-32 with a BOM,
            else cp1252, or --encoding
  ids       text, kept verbatim but for the whitespace around it (spaces, tabs,
            line breaks, no-break spaces: stripped, in quotes too): 0701234567 stays
            0701234567; 007 and 7 differ; Excel's ="0701234567" is its text; ids a
            spreadsheet turned into numbers (4.6701E+10, 7.0, 7,0) are refused: export
            the column as text
  tester    1/0, true/false, t/f, yes/no, y/n, ja/nej or sant/falskt (empty: false)
  refused   compressed files, workbooks (.xlsx), PDFs, images, PostgreSQL's \\N, a
            file mixing UTF-8 and cp1252 lines, Excel's MS-DOS CSV (give --encoding
            cp850)
  rounding  a file of 10 or more fixes whose every lon (or lat) lies on a grid of
            0.001 degrees or coarser, as a spreadsheet exports a column shown with
            few decimals, is warned of when that rounding (in Sweden up to about
            64 m at 0.001 degrees, 640 m at 0.01) exceeds a fix's accuracy_m
  times     observed_at as epoch seconds or ISO 8601 with an offset (a zone in
            brackets after it, as Java writes, is checked against it); without an
            offset, only with --timezone; a file without observed_at needs
            --observed-at TIME
  Parquet   the same columns; integer ids stay integers; needs the geoparquet
            extra (pip install -e '.[geoparquet]' from a checkout)
  stdin     --positions - reads CSV (or TSV) from standard input, sniffed as a .csv
            file is (not with --alert -); other files need one of the suffixes
            .csv, .tsv, .txt or .parquet
"""


_JSON_RULES = """

runs:
  ledger    none is kept between runs: each run targets its alert afresh (every
            device in the area is a new recipient; a Cancel or an Update is not
            remembered by a later run); a service keeps one (the integrator's guide)

JSON output:
  (one object on stdout, in its encoding: UTF-8 as a rule, another Unicode one as
  PYTHONIOENCODING names, else ASCII with \\u escapes; control characters and
  controls of writing direction always as \\u escapes; never NaN or Infinity;
  every field is always there, null where it does not apply)
  alert     the alert's identifier (text)
  incident  the incident's key sender/identifier, or null: a message of no incident
  at        the instant decided at, ISO 8601 in --at's offset (UTC without --at)
  verdict   DELIVER, KIND_NOT_ENABLED, UNRECOGNISED_KIND, UNKNOWN_ISSUER,
            BAD_SIGNATURE, AREA_OUTSIDE_ROLLOUT, NO_AREA, NOT_YET_ACTIVE, EXPIRED,
            CANCELLED, BLAST_RADIUS, NOT_AN_ALERT, NOT_PUBLIC, NOT_AUTHORISED,
            SUPERSEDED or UNKNOWN_REFERENCE; exit code 4 for UNRECOGNISED_KIND,
            UNKNOWN_ISSUER, NOT_AUTHORISED and BAD_SIGNATURE, else 0
  reason    one sentence on the verdict
  kind      the kind recognised, or null; recognised_by: the rule that did, or null
  issuer    the issuers table's name of the sender's issuer ("any (no issuers
            table)" when the policy takes any sender), or null
  signature "verified" when the alert's signature was verified, else null
  next_change  when the verdict may change (a phase start, the onset), ISO 8601
            in --at's offset, or null
  policy_hash  the rollout's SHA-256, in hex (RolloutPolicy.policy_hash: its phases,
            kill switches, salt and zone; not a --policy file's [[recognition]] rules,
            issuers or [location_rules], so files differing only there share it)
  phase     the deciding rollout phase, numbered from 1 as in "reason" ("phase 1"),
            or null; phase_illustrative is true when that phase's date is
            illustrative (null without a phase)
  recipients  the ids of the devices to tell, in id order, as the file holds them:
            text, or integers from a Parquet integer id column (signed 64-bit, beyond
            the 2**53 a double holds exactly: read them as 64-bit integers)
  counts    devices by outcome, each outcome named (0 included) when the devices
            were looked at, {} when not (every verdict but DELIVER): outside_area,
            inside, ambiguous_included, ambiguous_excluded, no_fix, no_fix_included,
            stale_location, stale_included, outside_rollout, outside_canary,
            not_a_tester, beyond_border
  per_county  new recipients by county code ("01"); "none": in no county
  area_km2  the alert area's geodesic area in km2, or null (no area looked at)
  timings_s  seconds spent per step, for information: the steps may change
  warnings  the alert's warnings, each after its element's path, then the positions
            file's (swapped or unknown columns, rounded coordinates, fixes
            abroad...), each after the file's name, as stderr shows them too
"""


class _Output:
    """The stream a command writes its report to; a write that fails names the output.

    ``> /dev/full`` or a full disk raised ``OSError`` out of a ``print``, reported as
    "[Errno 28] No space left on device", which did not say what could not be written. A
    closed pipe (``BrokenPipeError``) passes through: :func:`main` ends quietly on it.
    """

    def __init__(self, stream: TextIO | None, name: str) -> None:
        self._stream = stream  # None: started with stdout closed (">&-")
        self._name = name

    def write(self, text: str) -> int:
        _checkpoint()  # a Ctrl-C a library swallowed stops the report before its next line
        if _SURROGATE.search(text):  # a name given in bytes that are no UTF-8 (the demo's map)
            text = _printable(text)
        with self._naming():
            return _write_all(self._open(), text)

    def flush(self) -> None:
        _checkpoint()
        with self._naming():
            self._open().flush()

    def __getattr__(self, attribute: str) -> Any:  # encoding, isatty, ...
        return getattr(self._stream, attribute)

    def _open(self) -> TextIO:
        if self._stream is None:  # Python sets sys.stdout to None when fd 1 is closed
            raise InvalidInput(f"cannot write the report to {self._name}: it is closed")
        return self._stream

    @contextlib.contextmanager
    def _naming(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as err:
            raise InvalidInput(
                f"cannot write the report to {self._name}: {err.strerror or err}"
            ) from None


def _write_all(stream: TextIO, text: str) -> int:
    """Write all of ``text`` to ``stream``'s file, or raise: never a part of it, silently.

    Python's own standard streams fail a command's output in two ways this avoids:

    - Under ``python -u`` or ``PYTHONUNBUFFERED`` (set in many container images, so that logs
      come at once) the text layer writes straight to the file and does not look at how much
      of a write the file took: when the reader went away (``| head``, a consumer that
      crashed) or the disk filled up part-way, the file took part of the JSON answer, the rest
      was dropped, and the command exited 0 with a truncated answer.
    - A file its parent made non-blocking (``O_NONBLOCK`` on a pipe shared with a Node.js or
      CI runner's process) refused a write whenever its reader was a little behind: the
      command failed with "write could not complete without blocking", and Python's flush at
      exit printed that again as "Exception ignored ...", exit status 120.

    Such a stream's bytes go to its file here until the file has taken them all, waiting
    while a non-blocking one is full; a write that fails raises as ever (a closed pipe, a
    full disk). A stream that is no file of Python's (in memory, a test's capture) writes as
    ever.
    """
    raw = _raw_file(stream)
    if raw is None:
        return stream.write(text)
    stream.flush()  # (what was written before, by a print of another module, goes first)
    lines = text.replace("\n", os.linesep) if os.linesep != "\n" else text  # as sys.stdout
    view = memoryview(_encoder(stream).encode(lines))
    while view:
        taken = raw.write(view)
        if taken is None:  # a non-blocking file that is full: wait until its reader reads
            select.select([], [raw.fileno()], [])
            continue
        if not taken:
            raise OSError(errno.EIO, "the output took none of the bytes written")
        view = view[taken:]
    return len(text)


def _encoder(stream: TextIO) -> codecs.IncrementalEncoder:
    """The one encoder of the text :func:`_write_all` writes to ``stream``'s file.

    One per stream, as the stream's own: an encoding with a byte-order mark
    (``PYTHONIOENCODING=utf-16``, ``utf-8-sig``) wrote the mark before every write, so a
    preview's every line and the JSON answer began with one (U+FEFF inside the text). The mark
    comes once, at the start, and not at all on a file already written to (as Python's own
    text streams do).
    """
    errors = stream.errors or "strict"
    known = _encoders.get(stream)
    if known is not None and known[:2] == (stream.encoding, errors):
        return known[2]
    encoder = codecs.getincrementalencoder(stream.encoding)(errors)
    with contextlib.suppress(OSError, ValueError):
        if known is not None or (stream.seekable() and stream.buffer.tell() != 0):
            encoder.setstate(0)  # (a mark is due only at a file's start)
    _encoders[stream] = (stream.encoding, errors, encoder)  # (anew after a reconfigure())
    return encoder


#: The encoding, errors and encoder of each stream :func:`_write_all` writes to.
_encoders: weakref.WeakKeyDictionary[TextIO, tuple[str, str, codecs.IncrementalEncoder]] = (
    weakref.WeakKeyDictionary()
)


def _raw_file(stream: TextIO) -> io.RawIOBase | None:
    """The file under a text stream of Python's (its buffer's ``raw``, or its buffer), or None."""
    if not isinstance(stream, io.TextIOWrapper):
        return None
    buffer = stream.buffer
    raw = buffer if isinstance(buffer, io.RawIOBase) else getattr(buffer, "raw", None)
    return raw if isinstance(raw, io.RawIOBase) else None


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit code 2, like every other failure.

    Options are never abbreviated (``allow_abbrev=False``, for the subcommands' parsers too).

    An option that takes one value refuses to be given twice (:class:`_Once` is the default
    action, of the subcommands' parsers too).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: argparse read "--c" as --confirm (the blast-radius guard overridden
        # by a stray option) and "--time" as --timezone; an option is spelt out, or refused.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.register("action", None, _Once)
        self.register("action", "store", _Once)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> Any:
        # Kept for error(): a missing required option is often one misspelt (--alerts).
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _print_message(self, message: str, file: Any = None) -> None:
        """Write ``--help``, ``--version`` or a usage error; an output that fails is said.

        argparse ignored a failed write: ``geotarget --help > /dev/full`` (or a full disk)
        wrote nothing and exited 0. Help and version that cannot be written to standard
        output end as a report does (one line on stderr, exit 2; a reader that has gone,
        141). A usage error that cannot be written to standard error keeps its exit code 2.
        """
        if not message:
            return
        stream = file or sys.stderr  # (standard output closed: the help goes to stderr)
        if stream is None:
            return
        try:
            _write_all(stream, _readable(message))
            stream.flush()
        except BrokenPipeError:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            if stream is sys.stdout:
                raise SystemExit(_CLOSED_PIPE) from None
        except (OSError, ValueError) as err:
            if stream is sys.stdout:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
                why = err.strerror if isinstance(err, OSError) and err.strerror else err
                _complain(f"{self.prog}: cannot write to standard output: {why}")
                raise SystemExit(2) from None

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            unknown = self.unknown(getattr(self, "_given", []))
            if unknown:  # "--alert is required" alone, to someone who typed --alerts
                message += f"; unrecognized: {', '.join(unknown)}"
            positional = [
                a.metavar or a.dest
                for a in self._actions
                if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
            ]
            dashed = [
                arg
                for arg in getattr(self, "_given", [])
                if arg.startswith("-")
                and not arg.startswith("--")
                and arg != "-"
                and arg.split("=", 1)[0] not in self._option_string_actions
            ]
            if dashed and any(str(name) in message for name in positional):
                # "preview -a.xml": the file's name was read as an option
                message += (
                    f"; {_shown(dashed[0])} begins with '-' and so was read as an option: for a "
                    f"file, write ./{dashed[0]}, or put -- before it"
                )
        elif message.endswith(": expected one argument"):
            message += self.dashed(message, getattr(self, "_given", []))
        elif message.startswith("argument command: invalid choice"):
            given = getattr(self, "_given", [])
            words = [arg for arg in given if not arg.startswith("-")]
            near = self.command_near(given)
            early = self.before_command(given)
            if early:  # "geotarget --at TIME target ...": TIME was read as the command
                message += early
            elif words[:1] == ["help"]:  # git's and pip's way to ask: "geotarget help target"
                commands = list(self.get_default("commands") or ())
                asked = next((w for w in words[1:2] if w in commands), "COMMAND")
                message += f"; help is an option: {self.prog} {asked} --help"
            elif near:  # "tagret": as a misspelt option is named with the nearest one
                message += f"; did you mean {near}?"
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    def before_command(self, given: Sequence[str]) -> str:
        """A hint when a command's option was given before the command, else ``""``.

        ``geotarget --at TIME target ...`` read TIME as the command ("invalid choice"), and
        ``geotarget --confirm target ...`` was told that target does not know ``--confirm``.
        """
        commands = self.get_default("commands") or {}
        for arg in given:
            if not arg.startswith("-") or arg == "--":
                break
            name = arg.split("=", 1)[0]
            owners = [
                command
                for command, parser in commands.items()
                if name in parser._option_string_actions and name not in ("-h", "--help")
            ]
            if owners:
                meant = next((word for word in given if word in owners), owners[0])
                return (
                    f"; {name} is an option of {' and '.join(owners)}: give it after the "
                    f"command ({self.prog} {meant} {name} ...)"
                )
        return ""

    def dashed(self, message: str, given: Sequence[str]) -> str:
        """A hint when an option's value begins with ``-`` (a file named ``-a.xml``).

        argparse reads such a value as an option and said only "expected one argument",
        though the value was there; ``--alert=-a.xml`` (or ``./-a.xml``, for a file) gives it.
        """
        option = message.removeprefix("argument ").split(":", 1)[0].split("/")[0]
        action = self._option_string_actions.get(option)
        for first, value in itertools.pairwise(given):
            if first != option or not value.startswith("-") or value == "-":
                continue
            if value.split("=", 1)[0] in self._option_string_actions:
                return ""  # another option: the value is missing indeed
            file = action is not None and "." in str(action.metavar or "")  # FILE.png
            write = f"{option}={value}" if len(value) <= 40 else f"{option}=VALUE"
            if file and len(value) <= 40:
                write += f" or, for a file, {option} ./{value}"
            return (
                f" (got {_shown(value)}, which begins with '-' and so was read as an option: "
                f"write {write})"
            )
        return ""

    def command_near(self, given: Sequence[str]) -> str | None:
        """The command nearest to the first word of ``given`` that is no option, if any is near."""
        commands = list(self.get_default("commands") or ())  # set by _parser()
        word = next((arg for arg in given if not arg.startswith("-")), None)
        if word is None:
            return None
        near = difflib.get_close_matches(word.lower(), commands, n=1, cutoff=0.6)
        return near[0] if near else None

    def unknown(self, given: Sequence[str]) -> list[str]:
        """The long options in ``given`` this parser lacks, each with the nearest it has."""
        known = sorted(o for o in self._option_string_actions if o.startswith("--"))
        positional = {a.dest for a in self._actions if not a.option_strings}
        found = []
        for arg in given:
            name = arg.split("=", 1)[0]
            if re.fullmatch("-[A-Za-z]", name) and name not in self._option_string_actions:
                # A short option no command has (-a for --alert, -V for --version): it was left
                # out, and "--alert is required" said nothing of the -a given for it.
                near = [k for k in known if k.startswith("-" + name.lower())]
                options = " or ".join([", ".join(near[:-1]), near[-1]] if near[:-1] else near)
                found.append(f"{arg} (did you mean {options}?)" if near else arg)
                continue
            if name.startswith("--") and name != "--" and name not in known:
                if name[2:] in positional:  # locate --lon 18 --lat 59
                    found.append(f"{arg} ({name[2:]} is given by its place, without {name})")
                    continue
                near = [k for k in known if k.startswith(name)]  # an abbreviation: --al
                near = near or [k for k in known if name.startswith(k + "-")]  # --at-time: --at
                near = near or difflib.get_close_matches(name, known, n=1)  # --confrim
                options = " or ".join([", ".join(near[:-1]), near[-1]] if near[:-1] else near)
                found.append(f"{arg} (did you mean {options}?)" if near else arg)
        return found


class _Once(argparse.Action):
    """Store an option's one value, and refuse the option given twice.

    argparse keeps the last of repeated values silently: ``--positions a.csv --positions
    b.csv`` would read b.csv alone, and a second ``--at`` in a pasted command would win
    unseen. Every option that takes one value uses this action.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given: set[str] = vars(namespace).setdefault("_given_once", set())
        if self.dest in given:
            first = getattr(namespace, self.dest)
            raise argparse.ArgumentError(
                self,
                f"given twice ({_shown(first)} and {_shown(values)}); give it once",
            )
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def _shown(value: object) -> str:
    """An argument's value as an error message shows it (quoted, at most 40 characters)."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _sub(sub: Any, name: str, help: str, examples: str, rules: str = "") -> Any:
    return sub.add_parser(
        name,
        help=help,
        description=help[:1].upper() + help[1:] + ".",
        epilog=rules + "examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="geotarget",
        description="Decide which devices receive a geotargeted alert.",
        epilog="examples:\n"
        "  geotarget demo --devices 200000\n"
        "  geotarget target --alert alert.xml --positions devices.csv --at 2024-05-20T14:00+02:00\n"
        "  geotarget locate 18.0686 59.3293\n"
        "  geotarget preview alert.xml --plot alert.png\n"
        "  geotarget check policy.toml\n"
        "\nRun 'geotarget COMMAND --help' for a command's options.\n"
        "\nexit codes:\n"
        "  0    done (target: the JSON says the verdict)\n"
        "  1    locate: the point lies in no region\n"
        "  2    bad input: a file, an argument or the alert, or more than the memory free\n"
        "       holds; or an output that cannot be written (a full disk, a closed stdout);\n"
        "       one line on stderr\n"
        "  3    internal error (a bug: please report it), or an installation whose libraries\n"
        "       cannot be loaded; one line on stderr\n"
        "  4    target refused the message before looking at any device (unrecognised\n"
        "       kind, unknown issuer, not authorised, bad signature); the JSON says why\n"
        "  130  interrupted (Ctrl-C); one line on stderr\n"
        "  141  whoever read the output stopped early (e.g. '| head')\n"
        "\nSIGTERM (kill, timeout) and SIGHUP (a closed terminal) stop a command as Ctrl-C\n"
        "does, one line on stderr, and the process then ends by that signal as if uncaught.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Without it, "geotarget --version" was told "the following arguments are required: command".
    parser.add_argument(
        "--version", action="version", version=f"geotarget {__version__}", help="show the version"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    parser.set_defaults(commands=sub.choices)
    demo = _sub(
        sub,
        "demo",
        "play the Swedish Police pilot on synthetic devices",
        "  geotarget demo\n"
        "  geotarget demo --devices 100000 --seed 7\n"
        "  geotarget demo --plot pilot.png --ledger deliveries.db\n",
    )
    demo.add_argument(
        "--devices",
        type=_whole(0, 20_000_000),
        default=1_200_000,
        help=(
            "number of devices, 0 to 20000000 (default 1200000); the demo holds about 0.2 GB "
            "of memory a million devices"
        ),
    )
    demo.add_argument(
        "--seed", type=_whole(0, None), default=2024, help="population seed, >= 0 (default 2024)"
    )
    demo.add_argument("--plot", metavar="FILE.png", help="draw the map (needs the plot extra)")
    demo.add_argument(
        "--ledger", metavar="FILE.db", help="a new file for a durable SQLite delivery ledger"
    )
    demo.set_defaults(run=_demo)
    target = _sub(
        sub,
        "target",
        "target a CAP alert over a positions file (JSON on stdout, a summary on stderr)",
        "  geotarget target --alert alert.xml --positions devices.csv --at 2024-05-20T14:00+02:00\n"
        "  geotarget target --alert alert.xml --positions fixes.csv --timezone Europe/Stockholm\n"
        "  geotarget target --alert alert.xml --positions ids.csv \\\n"
        "      --observed-at 2024-05-20T13:55+02:00 --accuracy-m 50 --policy pilot.toml\n"
        "  geotarget target --alert alert.xml --positions devices.parquet > result.json\n",
        _POSITIONS_RULES + _JSON_RULES + "\n",
    )
    target.add_argument(
        "--alert", required=True, metavar="ALERT.xml", help="a CAP 1.2 alert (- reads stdin)"
    )
    target.add_argument(
        "--positions",
        required=True,
        metavar="FILE.csv|FILE.parquet",
        help="device positions (see 'positions files' below; - reads CSV from stdin)",
    )
    target.add_argument(
        "--policy",
        metavar="POLICY.toml|POLICY.json",
        help="policy: rollout, [[recognition]] rules, issuers and [location_rules.<kind>] "
        "tables (a kind the rollout names needs location rules: the pilot's kinds have "
        "defaults) (default: the pilot policy shipped as geotarget/data/sweden/"
        "pilot_policy.toml, the pilot's recognition rules and any sender)",
    )
    target.add_argument("--at", metavar="TIME", help="ISO 8601 with offset (default: now, in UTC)")
    target.add_argument(
        "--observed-at",
        metavar="TIME",
        help="when the fixes of a file without an observed_at column were taken (ISO 8601 "
        "with offset)",
    )
    target.add_argument(
        "--accuracy-m",
        type=_metres,
        metavar="METRES",
        help="the accuracy (68 %% radius in metres, as phones report it) of every fix of a "
        "file without an accuracy_m column; 0 reads them as exact",
    )
    target.add_argument(
        "--timezone",
        metavar="ZONE",
        help="read observed_at times without a UTC offset in this IANA zone, e.g. "
        "Europe/Stockholm (default: refuse them)",
    )
    target.add_argument(
        "--encoding",
        metavar="NAME",
        help="the CSV's text encoding, e.g. utf-8, cp1252, latin-1 (default: detected)",
    )
    target.add_argument("--confirm", action="store_true", help="override the blast-radius guard")
    target.set_defaults(run=_target)
    locate = _sub(
        sub,
        "locate",
        "which Swedish regions hold a point (longitude first)",
        "  geotarget locate 18.0686 59.3293        # Stockholm: lon, then lat\n"
        "  geotarget locate 24.1466 65.8481        # Tornio, Finland: in no region\n"
        "  geotarget locate 11.9668 57.7059 --snap-m 500\n",
    )
    locate.add_argument("lon", type=_longitude, help="longitude in degrees (east is positive)")
    locate.add_argument("lat", type=_latitude, help="latitude in degrees")
    locate.add_argument(
        "--snap-m",
        type=_metres,
        default=0.0,
        metavar="METRES",
        help="count a point in no region in the nearest one within this distance (default 0: "
        "the regions are legal territory, water and territorial sea included, so a point in "
        "none lies abroad or beyond the 12-nautical-mile line)",
    )
    locate.set_defaults(run=_locate)
    preview = _sub(
        sub,
        "preview",
        "summarise a CAP alert and draw its area",
        "  geotarget preview alert.xml\n"
        "  geotarget preview alert.xml --plot alert.png\n"
        "  geotarget preview chemical.xml --policy operator.toml\n"
        "  geotarget preview foreign-alert.xml --anywhere\n"
        "  geotarget preview cap11-feed.xml --lenient --anywhere\n",
    )
    preview.add_argument("alert", metavar="ALERT.xml", help="a CAP 1.2 alert (- reads stdin)")
    preview.add_argument("--plot", metavar="FILE.png", help="draw the area (needs the plot extra)")
    preview.add_argument(
        "--policy",
        metavar="POLICY.toml|POLICY.json",
        help="recognise the kind by this policy's [[recognition]] rules (then the pilot's) and "
        "its [location_rules.<kind>] tables (default: the pilot's)",
    )
    preview.add_argument(
        "--lenient",
        action="store_true",
        help="read the document as geotarget.cap.loads_lenient does: repair what is safe (CAP "
        "1.1, elements out of order, a 'Z' time, an unclosed polygon...) and list each repair",
    )
    preview.add_argument(
        "--anywhere",
        action="store_true",
        help="do not refuse an area outside Sweden that looks written lon,lat",
    )
    preview.set_defaults(run=_preview)
    check = _sub(
        sub,
        "check",
        "check a policy file as 'target --policy' reads it (a summary on stdout)",
        "  geotarget check pilot_policy.toml\n  geotarget check operator.json\n",
        "Every problem 'target --policy' would refuse the file for is listed at once, exit\n"
        "code 2: its rollout, [[recognition]] rules, issuers and [location_rules.<kind>]\n"
        "tables, region codes against Sweden's regions, kinds without location rules,\n"
        "recognition rules whose senders are no issuer's, pinned certificates. Exit code 0:\n"
        "the file is good to deploy.\n\n",
    )
    check.add_argument("policy", metavar="POLICY.toml|POLICY.json", help="the policy file")
    check.set_defaults(run=_check)
    return parser


class _Stopped(BaseException):
    """Raised by the handler of a signal that ends the command (:data:`_STOPS`).

    A ``BaseException``, as ``KeyboardInterrupt`` is: what cleans up after Ctrl-C (the demo's
    ledger, a half-written map) cleans up after it too, and no ``except Exception`` takes it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals that end the command as Ctrl-C does, cleaning up first: ``kill``, ``timeout``,
#: ``docker stop`` and a service manager send SIGTERM, a closed terminal SIGHUP. Without a
#: handler Python died at once, and a ``demo --ledger`` left its half-played ledger behind
#: (the next run over that name was refused as "an earlier demo's ledger").
_STOPS = ("SIGTERM", "SIGHUP")


#: The signals (Ctrl-C's SIGINT, :data:`_STOPS`) received while the command runs, in order.
_caught: list[int] = []


def _checkpoint() -> None:
    """Stop here if a signal came whose exception some library swallowed.

    numpy's cast of text to numbers (the positions reader converts each column so) runs the
    signal's handler and then drops the ``KeyboardInterrupt`` it raised: a Ctrl-C pressed while
    a column was converted was lost, and the command ran on to print a full answer, exit 0.
    The handlers note each signal; the command stops at its next report line, progress line
    or end, as it would have at once. While an exception is handled (the signal's own, not
    swallowed: a clean-up that ends the demo's progress line), it does not stop again.
    """
    if _caught and sys.exc_info()[0] is None:
        signum = _caught[0]
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Stopped(signum)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Turn :data:`_STOPS` into :class:`_Stopped` while the command runs; note every signal.

    Only signals left at their default action are taken (``nohup`` ignores SIGHUP: it stays
    ignored; an embedding program's own handler stays its own; SIGINT when Python's own
    handler raises ``KeyboardInterrupt``), in the main thread only, and the previous handlers
    are restored after. Each signal is noted for :func:`_checkpoint`.
    """
    previous: dict[int, Any] = {}

    def stop(signum: int, frame: Any) -> None:
        _caught.append(signum)
        raise _Stopped(signum)

    def interrupt(signum: int, frame: Any) -> None:
        _caught.append(signum)
        raise KeyboardInterrupt

    _caught.clear()
    if threading.current_thread() is threading.main_thread():
        for name in _STOPS:
            number = getattr(signal, name, None)  # (Windows has no SIGHUP)
            if number is not None and signal.getsignal(number) is signal.SIG_DFL:
                previous[number] = signal.signal(number, stop)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _caught.clear()


def _die_of(signum: int) -> int:
    """End the process by ``signum`` at its default action, as if no handler had caught it.

    Whoever sent it (a shell, ``timeout``, a service manager) sees the process killed by that
    signal (a shell's 128 + its number), as before the cleanup; 128 + its number is returned
    only where the signal does not end the process.
    """
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # pragma: no cover (the signal ended the process)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``geotarget`` command; return its exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.
    out : text stream, optional
        Where reports go; defaults to ``sys.stdout``.

    Returns
    -------
    int
        0 on success, 1 when ``locate`` finds no region, 2 on bad input (one line on stderr,
        no traceback; an alert that looks written lat/lon the wrong way round is bad input, and
        so is more than the memory free holds: ``demo --devices``, a positions file) and on
        an output that cannot be written (a full disk, standard output closed),
        3 on an internal error (one line on stderr; also when ``python -m geotarget`` or the
        command cannot load a library it needs), 4 when ``target`` refuses the message
        before looking at any device (its kind is unrecognised, its sender no issuer, outside
        its authority, or a required signature is missing or bad; the JSON still says why),
        130 when interrupted (Ctrl-C: one line on stderr, no traceback), 141 when whoever
        reads the output stops early (``geotarget target ... | head``: nothing more is
        written, as for a command that SIGPIPE ends). SIGTERM and SIGHUP (when not ignored)
        end the command as Ctrl-C does (the demo's new ledger and a half-written map are
        removed, one line on stderr), and then the process dies of that signal, as it would
        without the cleanup; this happens only when ``out`` is None (the command itself).
    """
    _complained.clear()
    _byte_names.clear()
    try:
        if out is None:  # text the console cannot encode is escaped, not a crash mid-output
            for stream in (sys.stdout, sys.stderr):
                if isinstance(stream, io.TextIOWrapper) and not _unicode(stream):
                    stream.reconfigure(
                        encoding=_escaping(stream.encoding), errors="backslashreplace"
                    )
        with _stop_signals() if out is None else contextlib.nullcontext():
            return _main(argv, out)
    except _Stopped as stop:  # (also a signal that came as the handlers were restored)
        return _die_of(stop.signum)
    except KeyboardInterrupt:
        # A Ctrl-C outside the command's own handlers: a second one, pressed as the first one's
        # line was written or the handlers restored, ended in a traceback.
        if not _complained:
            _complain("geotarget: interrupted")
        return _INTERRUPTED


#: Whether the line that says why the command ended was written (by :func:`_complain`).
_complained: list[bool] = []


def _main(argv: Sequence[str] | None, out: TextIO | None) -> int:
    """:func:`main` after its set-up: parse the arguments, run the command, report its end."""
    try:
        args, extra = _parser().parse_known_args(argv)
    except KeyboardInterrupt:  # Ctrl-C before a command was read
        _complain("geotarget: interrupted")
        return _INTERRUPTED
    except _Stopped as stop:
        _complain(f"geotarget: {_signal_name(stop.signum)}")
        raise
    _note_names(args)
    if extra:  # named by the command they were given to, with its --help
        command = args.commands[args.command]
        named = [(command.unknown([a]) or [a])[0] for a in extra]  # --confrim (did you mean ...?)
        # An option the command has is in extra only when given before the command.
        early = [a for a in extra if a.split("=", 1)[0] in command._option_string_actions]
        if early:
            name = early[0].split("=", 1)[0]
            command.error(
                f"unrecognized arguments: {' '.join(named)}; {name} is an option of "
                f"{args.command}: give it after the command (geotarget {args.command} {name} ...)"
            )
        command.error(f"unrecognized arguments: {' '.join(named)}{_split_time(args, extra)}")
    try:
        output = _Output(out or sys.stdout, "the output" if out else "standard output")
        code: int = args.run(args, output)
        output.flush()  # a closed pipe or a full disk shows here, not at the interpreter's exit
    except KeyboardInterrupt:
        # Ctrl-C (SIGINT): one line, as for every other stop, and a shell's exit status.
        _complain(f"geotarget {args.command}: interrupted")
        return _INTERRUPTED
    except _Stopped as stop:  # cleaned up as for Ctrl-C; main() dies of the signal
        _complain(f"geotarget {args.command}: {_signal_name(stop.signum)}")
        raise
    except BrokenPipeError:
        # The reader has gone (`| head`): stop quietly, and keep Python's own flush at exit
        # from writing to the closed pipe again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _CLOSED_PIPE
    except (GeotargetError, OSError) as err:
        text = str(err) if isinstance(err, GeotargetError) else _os_text(err)
        text = _unbroken(text)  # (a name's newline is no line of the message)
        lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
        rest = [line.removeprefix("- ") for line in lines[1:]]
        message = f"{lines[0]} {'; '.join(rest)}" if rest else lines[0]
        _complain(f"geotarget {args.command}: {message}")
        return 2
    except MemoryError as err:  # no bug: the machine cannot hold what the command was given
        detail = f" ({err})" if str(err) else ""
        _complain(
            f"geotarget {args.command}: out of memory{detail}: the memory free cannot hold what "
            "the command was given; give it less (fewer --devices, a smaller --positions file) "
            "or run it where more memory is free"
        )
        return 2
    except Exception as err:  # a bug: still one line, with its own exit code
        _complain(
            f"geotarget {args.command}: internal error ({type(err).__name__}: {err}); "
            "please report it with the command that caused it"
        )
        return 3
    return code


def _why(err: OSError) -> str:
    """What went wrong in an ``OSError``, as its system says it ("Permission denied")."""
    return err.strerror or str(err)


def _os_text(err: OSError) -> str:
    r"""An ``OSError`` no command named as one line: its file(s), then why.

    ``str(err)`` read "[Errno 13] Permission denied: 'noaccess/d.csv'": an errno only a
    programmer reads, the name in Python's quotes, a name in bytes that are no UTF-8 as
    ``\udce5`` (a file that could not be read at all, "[Errno 5] Input/output error", was
    not named). Now "noaccess/d.csv: Permission denied", as other commands say it.
    """
    names = [
        _name(os.fsdecode(name))
        for name in (err.filename, err.filename2)
        if isinstance(name, (str, bytes, os.PathLike))
    ]
    return f"{' -> '.join(names)}: {_why(err)}" if names else _why(err)


def _complain(line: str) -> None:
    """Print the one line that says why the command ended on standard error, if it can be.

    A standard error that cannot be written (a pipe whose reader has gone: ``2>&1 | head``)
    is not a second failure: its ``BrokenPipeError`` escaped from the handler that reported
    the first, and the exit code was Python's 1 (``locate``'s "in no region"), not the
    command's own. Python's flush at exit is kept from writing to it again.
    """
    _complained.append(True)
    try:
        print(_one_line(_readable(line)), file=_stderr(), flush=True)
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())


#: A time of day, as a time copied from a log follows its date after a space: 16:05+02:00.
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?", re.I)


def _split_time(args: argparse.Namespace, extra: Sequence[str]) -> str:
    """A hint when an option's date and time were split at a space (``--at 2024-05-20 16:05``).

    A time copied from a log or a database (``2024-05-20 16:05:00+02:00``) and pasted without
    quotes is two arguments: the date went to the option, the time was "unrecognized". The
    hint gives the option's value with ``T`` in place of the space.
    """
    time = extra[0] if extra and _TIME_OF_DAY.fullmatch(extra[0]) else None
    for option in ("at", "observed_at"):
        date = getattr(args, option, None)
        if time and isinstance(date, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            flag = "--" + option.replace("_", "-")
            return (
                f" (the date and time of {flag} split at a space? write {flag} {date}T{time}, "
                "or quote the value)"
            )
    return ""


def _signal_name(signum: int) -> str:
    """What the stderr line says of a stop by a signal: ``stopped by SIGTERM``."""
    try:
        return f"stopped by {signal.Signals(signum).name}"
    except ValueError:  # pragma: no cover (only _STOPS are handled)
        return f"stopped by signal {signum}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
