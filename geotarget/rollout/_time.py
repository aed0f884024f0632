"""Private time helpers for rollout policies: instants, civil times in a zone, DST rules, text.

The rules (documented on the rollout docs page):

* Every instant is timezone-aware. Phases store their start in UTC.
* A civil (wall-clock) time is turned into an instant only with a named IANA zone. A wall time
  that does not exist in the zone (skipped when the clocks jump forward) is rejected; one that
  exists twice (when the clocks fall back) is rejected too, because only an explicit UTC offset
  says which of the two is meant.
* Text shows instants in the policy's zone, like ``2024-09-02 00:00 Europe/Stockholm``; a wall
  time that happens twice carries its offset, like ``2024-10-27 02:30 (UTC+01:00)``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import functools
import os
import re
import zoneinfo

UTC = dt.timezone.utc

#: Earliest and latest accepted phase starts (UTC); far from datetime's overflow edges.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(9999, 1, 1, tzinfo=UTC)

_ZONE_KEY = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<off>[Zz]|[+-]\d{2}:\d{2})?)?",
    re.ASCII,  # \d is any Unicode digit otherwise: int() reads "0\u0661" as 1, silently
)


#: A date-time followed by a zone in brackets, ``2024-04-15T00:00+02:00[Europe/Stockholm]``.
_ZONE_SUFFIX = re.compile(r"(?P<time>[^\[\]]+?)(?P<zone>\[[^\[\]]*\])")

#: A date-time whose UTC offset lacks the colon, or the minutes: ``...00:00:00+02``, ``+0200``.
_SHORT_OFFSET = re.compile(r"(?P<time>.+?\d)(?P<off>[+-]\d{2}(?:\d{2})?)", re.ASCII)


#: Names a system's zone directory holds that are not IANA zones of their own: ``localtime``
#: (a link to the machine's zone), ``posixrules``, and the ``posix/`` and ``right/`` copies
#: (``right/`` counts leap seconds, so its wall times are off by about half a minute).
_NOT_IANA = re.compile(r"(?:localtime|posixrules)|(?:posix|right)/.*")


@functools.lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA zone ``name``; raise ``ValueError`` with a readable message if unknown.

    Names that the time zone directory holds but that are no zone of their own are refused:
    ``localtime`` would make a policy's civil dates depend on the machine reading it.
    """
    if not isinstance(name, str) or not _ZONE_KEY.fullmatch(name):
        raise ValueError(
            f"must be an IANA time zone name such as 'Europe/Stockholm' (got {_brief(name)})"
            + _meant_zone(name)
        )
    stored = _stored_spelling(name)  # (None: no zone directory holds it)
    if _NOT_IANA.fullmatch(name) or _NOT_IANA.fullmatch(stored or name):
        raise ValueError(
            f"must be an IANA time zone name such as 'Europe/Stockholm' (got {_brief(name)}, which "
            "is not an IANA zone: it names a file of this machine's time zone directory, "
            "whose meaning differs from machine to machine)"
        )
    if stored is not None and stored != name:  # a file system that ignores case found it
        raise ValueError(_other_case(name, stored))
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as err:
        if stored is None:  # the tzdata package's zones, whose names no directory lists
            spelled = {key.casefold(): key for key in zoneinfo.available_timezones()}
            meant = spelled.get(name.casefold())
            if meant is not None and meant != name and not _NOT_IANA.fullmatch(meant):
                raise ValueError(_other_case(name, meant)) from err
        raise ValueError(
            f"must be an IANA time zone name such as 'Europe/Stockholm' (got {_brief(name)}, "
            f"which the time zone database does not know){_meant_zone(name)}"
        ) from err


_OFFSET_TEXT = re.compile(r"(?:UTC|GMT)?\s*(?:[+-]\d{1,2}(?::?\d\d)?|Z)", re.IGNORECASE)


def _meant_zone(name: object) -> str:
    """``"; did you mean 'Europe/Stockholm'?"`` for a zone name written wrong, else ``""``.

    Spaces or a line break around a name (a value pasted from a document), a city without
    its area (``Stockholm``), a letter wrong (``Europe/Stokholm``). Only for names of a zone
    name's length: the search is over the whole database.
    """
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        return ""
    bare = name.strip()
    if _OFFSET_TEXT.fullmatch(bare):
        return (
            "; that is a UTC offset, not a zone: a zone also knows when the clocks change, so "
            "write the zone whose civil time is meant, such as 'Europe/Stockholm' "
            "(or 'UTC')"
        )
    known = {z for z in zoneinfo.available_timezones() if not _NOT_IANA.fullmatch(z)}
    if bare != name and bare in known:
        return f"; it has spaces or a line break around it: write {bare!r}"
    cities = sorted(z for z in known if z.casefold().endswith("/" + bare.casefold()))
    if not cities and re.fullmatch(r"[A-Z]{2,5}", bare):  # CEST, MEZ: no zone's name
        return (
            "; that is an abbreviation, not a zone (CEST and CET are the summer and winter "
            "time of one zone): write the zone, such as 'Europe/Stockholm'"
        )
    meant = cities
    if not meant and "/" in bare:  # an area and a city, one of them misspelt
        meant = difflib.get_close_matches(bare, sorted(known), n=3, cutoff=0.85)
    if not meant:
        return ""
    return f"; did you mean {' or '.join(map(repr, meant[:3]))}?"


def _other_case(name: str, meant: str) -> str:
    return (
        f"must be an IANA time zone name, spelled as the time zone database spells it (got "
        f"{_brief(name)}: did you mean {meant!r}?); zone names are case-sensitive, and a "
        "file system that ignores case would read the name on one machine and refuse it on "
        "another"
    )


def _stored_spelling(name: str) -> str | None:
    """How the zone directory (:data:`zoneinfo.TZPATH`) spells the file ``name`` names.

    Compared without case, folder by folder: macOS and Windows file systems ignore case, so
    ``ZoneInfo("europe/stockholm")`` loads there and fails on Linux. None when no directory
    holds it (the ``tzdata`` package's zones, looked up by case-sensitive module names).
    """
    for root in zoneinfo.TZPATH:
        folder, spelled = root, []
        for part in name.split("/"):
            try:
                entries = os.listdir(folder)
            except OSError:
                break
            found = part if part in entries else None
            if found is None:
                found = next((e for e in entries if e.casefold() == part.casefold()), None)
            if found is None:
                break
            spelled.append(found)
            folder = os.path.join(folder, found)
        else:
            if os.path.isfile(folder):
                return "/".join(spelled)
    return None


def in_range(value: dt.datetime) -> bool:
    """Whether an aware datetime lies in ``[EARLIEST, LATEST)``, without overflowing."""
    offset = value.utcoffset()
    assert offset is not None
    try:
        utc = value.replace(tzinfo=None) - offset
    except OverflowError:
        return False
    return EARLIEST.replace(tzinfo=None) <= utc < LATEST.replace(tzinfo=None)


def is_aware(value: dt.datetime) -> bool:
    """Whether ``value`` has a UTC offset."""
    return value.tzinfo is not None and value.utcoffset() is not None


def wall_time_problem(value: dt.datetime) -> str | None:
    """Why an aware datetime is not a real clock reading in its own zone, or None.

    A ``ZoneInfo`` datetime at 02:30 on the night clocks jump from 02:00 to 03:00 gets an offset
    from Python anyway; it names no real instant, so it is refused.
    """
    tz = value.tzinfo
    assert tz is not None
    if type(tz) is dt.timezone:  # a fixed offset (UTC among them): every wall time exists
        return None
    try:
        back = value.astimezone(UTC).astimezone(tz)
    except OverflowError:  # at the ends of datetime's range; the range check reports it
        return None
    if back.replace(tzinfo=None) != value.replace(tzinfo=None):
        return (
            f"{value.replace(tzinfo=None).isoformat()} does not exist in {tz} "
            "(the clocks jump forward over it); give an instant that exists"
        )
    return None


def civil_to_instant(wall: dt.datetime, tz_name: str) -> dt.datetime:
    """Return the instant of a naive wall-clock time in zone ``tz_name``.

    Raises ``ValueError`` when the wall time does not exist there or exists twice.
    """
    tz = zone(tz_name)
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    text = wall.isoformat()
    if wall_time_problem(first) is not None:
        raise ValueError(
            f"{text} does not exist in {tz_name} (the clocks jump forward over it); "
            "write an instant that exists, with an explicit UTC offset if in doubt"
        )
    a, b = (_iso_offset(first.utcoffset()), _iso_offset(second.utcoffset()))
    raise ValueError(
        f"{text} is ambiguous in {tz_name} (it happens twice as the clocks fall back); "
        f"write it with an explicit offset: {text}{a} (the first) or {text}{b} (the second)"
    )


def parse_instant(value: object, tz_name: str | None) -> dt.datetime:
    """Read an instant from a policy document value; raise ``ValueError`` saying why not.

    Accepts an aware ``datetime``, an RFC 3339 string with an offset (``Z`` or ``+02:00``), and
    — only when ``tz_name`` is given — a naive ``datetime``, a ``date`` (midnight) or a string
    without an offset, all read as wall-clock time in that zone.
    """
    if isinstance(value, str):
        value = _parse_text(value)
    if isinstance(value, dt.datetime):
        if is_aware(value):
            problem = wall_time_problem(value)
            if problem is not None:
                raise ValueError(problem)
            return value
        if tz_name is None:
            raise ValueError(
                f"{value.isoformat()} has no UTC offset; write it with one"
                f'{_stockholm_example(value)} or set timezone = "Europe/Stockholm" '
                "at the top of the policy"
            )
        return civil_to_instant(value, tz_name)
    if isinstance(value, dt.date):
        wall = dt.datetime(value.year, value.month, value.day)
        if tz_name is None:
            raise ValueError(
                f"the date {value.isoformat()} has no time zone; write an instant with a UTC "
                'offset or set timezone = "Europe/Stockholm" at the top of the policy'
            )
        return civil_to_instant(wall, tz_name)
    raise ValueError(
        "must be a date-time such as 2024-04-15T00:00:00+02:00 "
        f"(got {type(value).__name__} {_brief(value)}){_epoch_hint(value)}"
    )


def _stockholm_example(wall: dt.datetime) -> str:
    """`` (e.g. <wall><offset>, ...)``: the wall time with its offset in Stockholm, if it has one.

    The offset is the one Stockholm's clocks show at that wall time (+01:00 in winter, +02:00
    in summer), so the example is the instant the operator most likely means; a wall time the
    clocks skip or repeat gets no example (its error says why once the zone is set).
    """
    try:
        instant = civil_to_instant(wall, "Europe/Stockholm")
    except ValueError:
        return ""
    return f" (e.g. {wall.isoformat()}{_iso_offset(instant.utcoffset())} in Europe/Stockholm)"


def _epoch_hint(value: object) -> str:
    """``"; ..."`` for a number that reads as Unix time in seconds or milliseconds, else "".

    A generator or a database export writes an instant as a number; the policy takes
    RFC 3339 text, so the instant it would be is named, in UTC, for the operator to write.
    Seconds from 1e8 (1973) to 1e11 (year 5138), milliseconds from there to 1e14; an
    integer of eight digits that is a date, ``20250601``, is that date.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if type(value) is int and 19700101 <= value <= 99981231:  # YYYYMMDD, a spreadsheet's
        text = str(value)
        try:
            day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return ""
        return (
            f"; as a date written without dashes it is {day.isoformat()}: write {day.isoformat()}"
        )
    if 1e8 <= value < 1e11:
        unit, seconds = "seconds", value
    elif 1e11 <= value < 1e14:
        unit, seconds = "milliseconds", value / 1000
    else:  # (NaN too)
        return ""
    instant = utc_text(dt.datetime.fromtimestamp(seconds, UTC))
    return (
        f"; as Unix time in {unit} it is {instant}: write that instant as text, with its "
        "offset (or its wall time in the policy's timezone)"
    )


def out_of_range(text: str) -> str | None:
    """What a date-time written in RFC 3339's shape names that does not exist, or None.

    ``2025-02-29`` (no leap year), ``2025-04-31``, month 13, hour 24, minute 60, second 60 (a
    leap second, which Python's date-times have not) and offsets past 23:59: each is said as
    it is, where a parser says only "invalid date" or "out of range".
    """
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day = (int(v) for v in m["date"].split("-"))
    if not 1 <= month <= 12:
        return f"month {month:02d} does not exist (months run from 01 to 12)"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        leap = f", as {year:04d} is no leap year" if (month, day) == (2, 29) else ""
        return f"{year:04d}-{month:02d} has {days} days, so there is no day {day:02d}{leap}"
    if m["h"] is not None:
        hour, minute, second = int(m["h"]), int(m["m"]), int(m["s"] or 0)
        if hour == 24:
            end = dt.date(year, month, day) + dt.timedelta(days=1) if year < 9999 else None
            then = f": the end of {m['date']} is {end.isoformat()}T00:00:00" if end else ""
            return f"hour 24 does not exist (hours run from 00 to 23){then}"
        if hour > 23:
            return f"hour {hour:02d} does not exist (hours run from 00 to 23)"
        if minute > 59:
            return f"minute {minute:02d} does not exist (minutes run from 00 to 59)"
        if second == 60:
            return (
                "second 60, a leap second, cannot be written: a phase starts at a second from "
                "00 to 59 (Python's date-times, like POSIX time, have no leap seconds)"
            )
        if second > 60:
            return f"second {second:02d} does not exist (seconds run from 00 to 59)"
    off = m["off"]
    if off is not None and off not in ("Z", "z") and (int(off[1:3]) > 23 or int(off[4:6]) > 59):
        return f"the UTC offset {off} does not exist (at most 23 hours and 59 minutes)"
    return None


def _parse_text(text: str) -> dt.datetime | dt.date:
    m = _RFC3339.fullmatch(text.strip())
    bracketed = _ZONE_SUFFIX.fullmatch(text.strip())
    if m is None and bracketed is not None and _RFC3339.fullmatch(bracketed["time"]):
        raise ValueError(
            f"ends in a time zone in brackets, {bracketed['zone']} (RFC 9557, as Java's "
            "ZonedDateTime and JavaScript's Temporal write one), which a policy does not read: "
            f"write the date-time without it, {bracketed['time']}, with its UTC offset or "
            f"with the policy's timezone key (got {_brief(text)})"
        )
    short = _SHORT_OFFSET.fullmatch(text.strip()) if m is None else None
    lacking = None if short is None else _RFC3339.fullmatch(short["time"])
    if short is not None and lacking is not None and lacking["h"] and not lacking["off"]:
        offset = f"{short['off'][:3]}:{short['off'][3:] or '00'}"
        raise ValueError(
            f"has the UTC offset {short['off']}, which RFC 3339 writes with a colon and its "
            f"minutes (PostgreSQL's text of a timestamptz leaves them out): write "
            f"{short['time']}{offset} (got {_brief(text)})"
        )
    if m is None:
        raise ValueError(
            "is not a date-time: expected RFC 3339 like 2024-04-15T00:00:00+02:00 "
            f"(got {_brief(text)})"
        )
    digits = m["f"] or ""
    if digits[6:].strip("0"):  # RFC 3339 allows any precision; an instant here has 6 digits
        raise ValueError(
            f"has {len(digits)} digits of a second, finer than a microsecond: a phase starts at "
            f"a whole microsecond, so digits past the sixth must be 0 (got {_brief(text)})"
        )
    try:
        date = dt.date.fromisoformat(m["date"])
        if m["h"] is None:
            return date
        frac = digits[:6].ljust(6, "0")
        wall = dt.datetime(
            date.year,
            date.month,
            date.day,
            int(m["h"]),
            int(m["m"]),
            int(m["s"] or 0),
            int(frac or 0),
        )
        off = m["off"]
        if off is None:
            return wall
        if off in ("Z", "z"):
            return wall.replace(tzinfo=UTC)
        sign = 1 if off[0] == "+" else -1
        hours, minutes = int(off[1:3]), int(off[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad UTC offset {off}")
        return wall.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))
    except ValueError as err:
        missing = out_of_range(text)
        if missing is not None:
            raise ValueError(f"is not a valid date-time: {missing} (got {_brief(text)})") from err
        raise ValueError(f"is not a valid date-time ({err}) (got {_brief(text)})") from err


def _brief(value: object) -> str:
    from geotarget.rollout._io import brief  # (here: _io imports this module)

    return brief(value)


def _iso_offset(offset: dt.timedelta | None) -> str:
    assert offset is not None
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    hours, rest = divmod(abs(total), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def _wall(value: dt.datetime, sep: str) -> str:
    """``YYYY-MM-DD{sep}hh:mm:ss`` of a datetime's fields: four-digit years, as RFC 3339 has.

    (``strftime("%Y")`` writes the year 5 as ``5`` on Linux.)
    """
    v = value
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}{sep}{v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def utc_text(value: dt.datetime) -> str:
    """The canonical text of an instant: UTC, ``Z``, microseconds only when present."""
    try:
        u = value.astimezone(UTC)
    except OverflowError:  # an instant at the ends of datetime's range: show it as given
        return value.isoformat()
    text = _wall(u, "T")
    if u.microsecond:
        text += f".{u.microsecond:06d}"
    return text + "Z"


def local_iso(value: dt.datetime, tz_name: str) -> str:
    """RFC 3339 text in zone ``tz_name`` with its offset, e.g. ``2024-04-15T00:00:00+02:00``.

    Falls back to UTC (``Z``) for the rare historical offsets with seconds, which RFC 3339
    and TOML cannot write.
    """
    local = value.astimezone(zone(tz_name))
    offset = local.utcoffset()
    assert offset is not None
    if offset.total_seconds() % 60:
        return utc_text(value)
    text = _wall(local, "T")
    if local.microsecond:
        text += f".{local.microsecond:06d}"
    return text + _iso_offset(offset)


def human(value: dt.datetime, tz_name: str, *, with_zone: bool = True) -> str:
    """``2024-09-02 00:00 Europe/Stockholm``; seconds only when present; offset when ambiguous."""
    local = value.astimezone(zone(tz_name))
    text = _wall(local, " ")[:-3]
    if local.second or local.microsecond:
        text += f":{local.second:02d}"
        if local.microsecond:
            text += f".{local.microsecond:06d}"
    twin = local.replace(fold=1 - local.fold)
    if twin.utcoffset() != local.utcoffset() and wall_time_problem(twin) is None:
        text += f" (UTC{_iso_offset(local.utcoffset())})"
    return f"{text} {tz_name}" if with_zone else text
