"""Private: rollout policies as documents — JSON, TOML and the canonical form that is hashed.

The document (JSON shown; TOML has the same keys)::

    {"format_version": 1, "timezone": "Europe/Stockholm", "country": "SE", "salt": "geotarget",
     "killed": false,
     "kinds": {"crime_modus": {"killed": false,
                               "phases": [{"starts_at": "2024-04-15T00:00:00+02:00",
                                           "regions": ["01"], "percentage": 100,
                                           "rollback": false}]}}}

Only ``kinds.<kind>.phases[i].starts_at`` and ``.regions`` are required. A phase may say
``illustrative = true`` (its date is not decided); it is written only when true. Reading
collects every problem with its path and raises one :class:`~geotarget.errors.InvalidPolicy`;
nothing is built from a document with problems.
"""

from __future__ import annotations

import contextlib
import decimal
import difflib
import functools
import importlib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from geotarget._validate import LONE_SURROGATE
from geotarget.alerts import _values
from geotarget.alerts._values import KIND_NAME, KIND_NAME_RULE
from geotarget.errors import InvalidPolicy, InvalidType, MissingExtra, Problem
from geotarget.rollout import _decision, _time

if TYPE_CHECKING:
    from geotarget.rollout import Phase, RegionCatalog, RolloutPolicy

FORMAT_VERSION = 1
# "recognition", "issuers" and "location_rules" are read by geotarget._policy_sections, not by
# the rollout.
_TOP_KEYS = (
    "format_version", "timezone", "country", "salt", "killed", "kinds", "recognition", "issuers",
    "location_rules",
)  # fmt: skip
_KIND_KEYS = ("killed", "phases")
_PHASE_KEYS = ("starts_at", "regions", "percentage", "rollback", "illustrative")
_PHASE_KEYS_SET = frozenset(_PHASE_KEYS)
_BARE_KEY = re.compile(r"[A-Za-z0-9_\-]+")

# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def to_dict(policy: RolloutPolicy, *, canonical: bool = False) -> dict[str, Any]:
    """The JSON form; ``canonical`` writes instants in UTC and nothing else differs."""
    tz = policy.timezone

    def instant(t: Any) -> str:
        return _time.utc_text(t) if canonical else _time.local_iso(t, tz)

    return {
        "format_version": FORMAT_VERSION,
        "timezone": tz,
        "country": policy.country,
        "salt": policy.salt,
        "killed": policy.killed,
        "kinds": {
            r.kind: {
                "killed": r.killed,
                "phases": [_phase_dict(p, instant) for p in r.phases],
            }
            for r in policy.rollouts
        },
    }


def _phase_dict(p: Phase, instant: Callable[[Any], str]) -> dict[str, Any]:
    out = {
        "starts_at": instant(p.starts_at),
        "regions": sorted(p.regions),
        "percentage": _number(p.percentage),
        "rollback": p.rollback,
    }
    if p.illustrative:  # only when true: policies without such phases keep their hash
        out["illustrative"] = True
    return out


def canonical_json(policy: RolloutPolicy) -> str:
    """Sorted keys, no whitespace, UTC instants: the bytes that ``policy_hash`` hashes."""
    return json.dumps(
        to_dict(policy, canonical=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def to_json(policy: RolloutPolicy) -> str:
    """Indented JSON with a final newline."""
    return json.dumps(to_dict(policy), indent=2, ensure_ascii=False) + "\n"


_PLAIN = re.compile(r"[A-Za-z0-9_\-.:/+ ]*")


def _toml_str(s: str) -> str:
    if _PLAIN.fullmatch(s):  # region codes, zones, salts: nothing to escape
        return f'"{s}"'
    out = []
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_bool(b: bool) -> str:
    return "true" if b else "false"


def to_toml(policy: RolloutPolicy) -> str:
    """Deterministic TOML: every field written, instants with their offset in ``timezone``."""
    data = to_dict(policy)
    lines = [
        "# geotarget rollout policy. Each phase lists every region enabled while it is active;",
        "# a phase starts at starts_at (inclusive) and lasts until the next one starts.",
        f"format_version = {FORMAT_VERSION}",
        f"timezone = {_toml_str(data['timezone'])}",
        f"country = {_toml_str(data['country'])}",
        f"salt = {_toml_str(data['salt'])}",
        f"killed = {_toml_bool(data['killed'])}",
    ]
    for kind, body in data["kinds"].items():
        lines += ["", f"[kinds.{kind}]", f"killed = {_toml_bool(body['killed'])}"]
        for phase in body["phases"]:
            regions = ", ".join(_toml_str(c) for c in phase["regions"])
            lines += [
                "",
                f"[[kinds.{kind}.phases]]",
                f"starts_at = {phase['starts_at']}",
                f"regions = [{regions}]",
                f"percentage = {phase['percentage']!r}",
                f"rollback = {_toml_bool(phase['rollback'])}",
            ]
            if phase.get("illustrative"):
                lines.append("illustrative = true  # the date is illustrative, not decided")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class _Object(dict[str, Any]):
    """A JSON object that remembers keys it saw twice (JSON would silently keep the last)."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    seen: set[str] = set()
    twice = []
    for key, _ in pairs:
        if key in seen:
            twice.append(key)
        seen.add(key)
    obj.duplicates = tuple(twice)
    return obj


def _problem(message: str) -> InvalidPolicy:
    return InvalidPolicy([Problem("", message)])


#: Byte order marks of the Unicode encodings that are not UTF-8, longest first.
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _wide_encoding(data: bytes) -> str | None:
    """``"UTF-16"`` or ``"UTF-32"`` when ``data`` is text in one of them, else None.

    Known by a byte order mark, or without one by the zero bytes beside each ASCII
    character: UTF-8 text has no zero byte (TOML and JSON allow none).
    """
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return name
    head = data[:4096]
    if b"\x00" not in head:
        return None
    if head[:2].count(0) == 1 and head[2:4].count(0) in (0, 1):
        return "UTF-16"
    if head[:4].count(0) == 3:
        return "UTF-32"
    return None


def decode(data: bytes, where: str) -> str:
    """A policy's UTF-8 bytes as text (a BOM is fine); not UTF-8 is an :class:`InvalidPolicy`.

    UTF-16 and UTF-32 text (with a byte order mark or without) is named as such: Windows
    PowerShell 5 writes UTF-16 with ``>`` and ``Out-File``, whose bytes otherwise read as a
    stray byte 0xff, or as TOML with a zero byte after every letter.
    """
    wide = _wide_encoding(data)
    if wide is not None:
        how = (
            " (as Windows PowerShell's '>' and Out-File write it; Out-File -Encoding utf8 "
            "writes UTF-8)"
            if wide == "UTF-16"
            else ""
        )
        raise _problem(
            f"{where}: not UTF-8 but {wide} text{how}; policies are UTF-8 text: save it as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")  # a BOM from a Windows editor is fine
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise _problem(
            f"{where}: not UTF-8: byte {data[err.start]:#04x} at line {line} "
            f"(offset {err.start}); policies are UTF-8 text"
        ) from None


def text_of(text: str, where: str) -> str:
    """A policy given as ``str``: a leading BOM dropped (as from bytes), no lone surrogate.

    A lone surrogate is a byte that was not UTF-8, kept by ``errors="surrogateescape"`` (how
    Python reads a file or standard input under a C locale): named as the bytes would be.
    """
    text = text.removeprefix("\ufeff")
    bad = LONE_SURROGATE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise _problem(
            f"{where}: not UTF-8: {bad.group()!r} at line {line} (a byte that was not UTF-8, "
            "read with errors='surrogateescape'?); policies are UTF-8 text: pass the file's "
            "path or bytes"
        )
    return text


def read_file(path: str | os.PathLike[str], name: str, limit: int | None = None) -> bytes:
    """A file's bytes, at most ``limit``; one that cannot be read is an :class:`InvalidPolicy`.

    ``name`` is how the messages call the file (``"the policy file 'p.toml'"``, ``"it"``).
    Missing, a directory, unreadable or a NUL in the name (``open`` raises ``ValueError``).
    A named pipe (FIFO) or a socket is refused before it is opened: opening a pipe nobody
    writes to waited for ever (a policy, or a certificate it names, is a file).
    """
    import stat

    mode = 0
    with contextlib.suppress(OSError, ValueError):  # (open() says why it cannot)
        mode = os.stat(path).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        what = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket"
        raise _problem(
            f"cannot read {name}: it is {what}, not a file (it is read only when "
            "something writes to it, maybe never): give the file itself"
        )
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise _problem(f"cannot read {name}: {reason}") from None
    if limit is not None and len(data) > limit:
        raise _problem(f"{name} is larger than {limit:,} bytes")
    return data


#: Largest policy document or certificate file read, in bytes (every reader of a file).
MAX_BYTES = 4 * 1024 * 1024


def _text(source: str | bytes | os.PathLike[str], what: str) -> str:
    """The document's text: a ``str`` is the text, ``bytes`` its UTF-8, a path-like a file.

    A file is read up to :data:`MAX_BYTES`, as every policy reader reads one: a log file or
    ``/dev/zero`` named by mistake is refused, not read until memory runs out.
    """
    if isinstance(source, os.PathLike):
        where = f"the policy file {os.fspath(source)!r}"
        return decode(read_file(source, where, MAX_BYTES), where)
    if isinstance(source, bytes):
        return decode(source, f"the {what} bytes")
    if isinstance(source, str):
        return text_of(source, f"the {what} text")
    raise InvalidType(
        f"source must be {what} text (str or bytes) or a file path (pathlib.Path) "
        f"(got {type(source).__name__})"
    )


def path_hint(source: object) -> str:
    """For a ``str`` that looks like a file name: how to read the file (else ``""``)."""
    return _path_hint(source)


def _path_hint(source: object) -> str:
    if (
        isinstance(source, str)
        and "\n" not in source
        and source.strip().endswith((".toml", ".json"))
    ):
        return f" (to read the file {source!r}, pass pathlib.Path({source!r}))"
    return ""


def parse(
    text: str,
    fmt: str,
    *,
    reader: str = "reading a TOML policy",
    hint: str = "",
    json_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """Parse policy text as ``fmt`` (``"JSON"`` or ``"TOML"``) into plain data.

    Shared by every policy reader. ``reader`` is what needs ``tomli`` on Python 3.10 (named by
    :class:`MissingExtra`); ``hint`` ends a syntax error's message; ``json_hook`` is
    ``json.loads``'s ``object_pairs_hook``. A failure is one :class:`InvalidPolicy` problem.
    """
    loads: Callable[[str], Any]
    syntax_error: type[ValueError]
    if fmt == "JSON":
        loads = functools.partial(json.loads, object_pairs_hook=json_hook)
        syntax_error = json.JSONDecodeError
    else:
        name = "tomllib" if sys.version_info >= (3, 11) else "tomli"
        try:
            toml = importlib.import_module(name)
        except ImportError as err:
            raise MissingExtra("toml", f"{reader} on Python 3.10") from err
        loads, syntax_error = toml.loads, toml.TOMLDecodeError
    try:
        return loads(text)
    except syntax_error as err:
        row = getattr(err, "lineno", None)  # (JSON's errors name their line)
        if row is None and (at := _AT_LINE.search(str(err))) is not None:
            row = int(at[1])
        unquoted = (
            _line_end_hint(text, fmt)
            or _format_hint(text, fmt, row)
            or _typographic_hint(text, row, fmt)
        )
        if not unquoted and fmt == "TOML":
            unquoted = _unquoted_text_hint(text, str(err))
        elif not unquoted and isinstance(err, json.JSONDecodeError):
            unquoted = _json_hint(err)
        raise _problem(f"not valid {fmt}: {err}{unquoted}{hint}") from err
    except RecursionError:
        raise _problem(_TOO_DEEP) from None
    except ValueError as err:  # e.g. an integer beyond Python's 4,300-digit conversion limit
        raise _problem(f"not valid {fmt}: {err}") from None


_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_LONE_CR = re.compile(r"\r(?!\n)")


def _line_end_hint(text: str, fmt: str) -> str:
    """``"; ..."`` when TOML text ends lines in a lone carriage return, else ``""``.

    Classic Mac OS editors (and some exports from them) end lines in CR alone. TOML takes
    only LF or CRLF as a line end, so the parser sees the whole file as one line: it says
    "Expected newline ... (at line 1, column 30)" of a file that looks right.
    """
    cr = _LONE_CR.search(text) if fmt == "TOML" else None
    if cr is None:
        return ""
    line = text.count("\n", 0, cr.start()) + 1
    return (
        f"; line {line} ends in a lone carriage return (CR, as classic Mac OS editors end "
        "lines), which TOML does not take as a line end: save the file with LF or CRLF "
        "line endings"
    )


#: A line of YAML: a key and a colon (``timezone: Europe/Stockholm``, ``- regions: [SE]``), or the
#: ``---`` that starts a document. Neither TOML nor JSON has such a line.
_YAML_LINE = re.compile(r"\s*(?:-\s+)?[A-Za-z_][\w\-]*\s*:(?:\s|$)|---\s*")


def _format_hint(text: str, fmt: str, row: int | None) -> str:
    """``"; ..."`` when text that is not ``fmt`` is another format a policy is read from.

    JSON given to the TOML reader (or a ``.toml`` file holding JSON), TOML given to the JSON
    reader, and YAML given to either (a Kubernetes ConfigMap's, an Ansible variable file's)
    fail on their first line; the parser's words ("Invalid statement", "Expecting value")
    and the hints for a stray comment or quote would send the operator looking for a typo.
    """
    other = "TOML" if fmt == "JSON" else "JSON"
    try:
        if other == "JSON":
            data = json.loads(text)
        else:
            data = importlib.import_module(
                "tomllib" if sys.version_info >= (3, 11) else "tomli"
            ).loads(text)
    except (ValueError, ImportError, RecursionError):  # (TOMLDecodeError is a ValueError)
        data = None
    if isinstance(data, Mapping) and data:
        return (
            f"; it is {other} text, not {fmt}: read it as {other} (a file named "
            f".{other.lower()}, or the from_{other.lower()} reader)"
        )
    lines = text.splitlines()
    first = next((k for k, v in enumerate(lines) if v.strip() and v.strip()[0] != "#"), None)
    if fmt == "JSON":  # within a JSON object, a key without quotes (as JavaScript writes it)
        candidates = [] if first is None or lines[first].lstrip()[:1] in "{[" else [first]
    else:
        candidates = [row - 1] if row is not None and 0 < row <= len(lines) else []
        candidates += [] if first is None else [first]
    for k in candidates:
        if _YAML_LINE.match(lines[k]):
            shown = brief(lines[k].strip())
            how = "key: value" if ":" in lines[k] else "the start of a YAML document"
            return (
                f"; line {k + 1}, {shown}, is written as YAML ({how}): a policy is TOML, "
                "whose keys are written key = value with text in quotes (timezone = "
                '"Europe/Stockholm"), or JSON'
            )
    return ""


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')
# A number with a leading zero (01, 0180) standing alone: not a part of a date or a time.
_ZERO_LED = re.compile(r"(?<![\w:.+\-])0\d+(?![\w:.\-])")
_BARE_WORD = re.compile(r"(?<![\w.\-@])[A-Za-z][\w\-./@+]*")
_INLINE_KEY = re.compile(r"[\w\-]+\s*=")  # the keys of an inline table: { value_name = ... }
_TOML_WORDS = frozenset({"true", "false", "inf", "nan"})
#: Keys of every policy section whose values are text, or arrays or tables of text.
_TEXT_KEYS = frozenset(
    {
        "timezone", "country", "salt", "regions", "issuers", "name", "kind", "events",
        "categories", "event_codes", "senders", "kinds", "acts_for", "signature", "certificates",
    }
)  # fmt: skip
#: Keys whose values are true or false.
_BOOL_KEYS = frozenset(
    {"killed", "rollback", "illustrative", "include_ambiguous", "include_no_fix", "beyond_border"}
)


#: Keys whose values are instants (TOML date-times).
_TIME_KEYS = frozenset({"starts_at"})
#: A date and a time of hours and minutes only (``2024-09-02 00:00``, ``2024-09-02T00:00+02:00``):
#: TOML 1.0 needs the seconds.
_NO_SECONDS = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d)(?!:)(\S*)")


def _time_hint(key: str, value: str) -> str:
    """``"; ..."`` for a TOML syntax error in a date-time: what does not exist, or how to write."""
    missing = _time.out_of_range(value)
    if missing is not None:
        return f"; {key} {brief(value)} is written as a date-time, but {missing}"
    example = "2024-09-02T00:00:00"
    short = _NO_SECONDS.fullmatch(value)
    if short is not None:
        example = f"{short[1]}T{short[2]}:00{short[3]}"
        return f"; TOML date-times need seconds: write {example} (got {brief(value)})"
    return (
        f"; {key} is a TOML date-time such as {example} (wall-clock time in the policy's "
        f"timezone) or {example}+02:00 (got {brief(value)})"
    )


#: Quotation marks of typeset text, which no TOML or JSON reader takes for quotes.
_TYPOGRAPHIC = "\u201c\u201d\u201e\u201f\u2018\u2019\u201a\u201b\u00ab\u00bb\u2039\u203a"
_TYPOGRAPHIC_TEXT = re.compile(f"[{_TYPOGRAPHIC}]([^{_TYPOGRAPHIC}\n]*)[{_TYPOGRAPHIC}]")


def _json_hint(err: json.JSONDecodeError) -> str:
    """``"; ..."`` for a comment or a trailing comma where JSON's parser stopped, else "".

    Editors accept both in JSON-like files (JSONC), and an operator comments a policy as a
    TOML file is commented; JSON itself has neither.
    """
    rest = err.doc[err.pos : err.pos + 2]
    if rest in ("//", "/*") or rest[:1] == "#":
        return (
            "; JSON has no comments: remove it, or write the policy as TOML, whose # comments "
            "the readers take"
        )
    if rest[:1] == "'":
        return (
            '; JSON strings are written in double quotes ("01"), never single ones: Python '
            "prints a dict so, json.dumps writes JSON"
        )
    before = err.doc[: err.pos].rstrip()
    if rest[:1] in ("]", "}") and before.endswith(","):
        line = err.doc.count("\n", 0, len(before) - 1) + 1
        return f"; JSON allows no comma before {rest[:1]}: remove the one at line {line}"
    return ""


def _typographic_hint(text: str, row: int | None, fmt: str) -> str:
    """``"; ..."`` when the error's line quotes text with typographic quotes (“01”), else "".

    A policy pasted through a word processor, a wiki or a chat app gets its straight quotes
    turned into typographic ones, which the parser reads as no quotes at all; the TOML hint
    would otherwise say the text was written "without quotes".
    """
    lines = text.splitlines()
    if row is None or not 0 < row <= len(lines):
        return ""
    line = _STRINGS.sub('""', lines[row - 1])
    if fmt == "TOML":
        line = line.partition("#")[0]  # (a comment may quote as it likes)
    found = _TYPOGRAPHIC_TEXT.search(line)
    if found is None:
        return ""
    straight = json.dumps(found[1], ensure_ascii=False)
    return (
        f"; {found[0]} is in typographic quotes, which {fmt} does not read as quotes: write "
        f"{straight} with straight quotes (a word processor or chat app may have changed them)"
    )


def _unquoted_text_hint(text: str, message: str) -> str:
    """``"; ..."`` when the TOML error's line holds text written without quotes, else "".

    ``regions = [01]`` is "Unclosed array" to the TOML parser (a number may not start with 0),
    and ``timezone = Europe/Stockholm`` an "Invalid value": both are text, written in quotes.
    """
    at = _AT_LINE.search(message)
    lines = text.splitlines()
    if at is None or not 0 < int(at[1]) <= len(lines):
        return ""
    row = int(at[1]) - 1
    twice = _twice_hint(lines, row, message)
    if twice is not None:  # a table or a key given twice: its text is not what is wrong
        return twice
    key, eq, value = lines[row].partition("=")
    if not eq:  # within an array written over several lines: its key is on a line above
        start = next((k for k in range(row - 1, -1, -1) if "=" in lines[k]), None)
        if start is None or not _open_array(lines[start:row]):
            return ""  # a [table] header, or a line of no value: nothing to quote
        key, value = lines[start].partition("=")[0], lines[row]
    key = key.strip().strip('"')
    if key in _TIME_KEYS:
        return _time_hint(key, value.partition("#")[0].strip())
    if key not in _TEXT_KEYS | _BOOL_KEYS:
        return ""
    value = _INLINE_KEY.sub("", _STRINGS.sub('""', value).partition("#")[0])
    token = _ZERO_LED.search(value) if key in _TEXT_KEYS else None
    if token is None:
        token = next((w for w in _BARE_WORD.finditer(value) if w[0] not in _TOML_WORDS), None)
    if token is None:
        return ""
    if key in _BOOL_KEYS:
        return f"; {key} is true or false (got {token[0]})"
    return (
        f'; {token[0]} is text written without quotes: write "{token[0]}" (region codes, '
        "zones, names and senders are TOML strings)"
    )


def _open_array(lines: list[str]) -> bool:
    """Whether the value begun on ``lines[0]`` (after its ``=``) is an array still open.

    Brackets are counted outside strings and comments: the line after those lines is then
    within the array (a region code on a line of its own), not a new statement.
    """
    depth = 0
    for k, line in enumerate(lines):
        value = line.partition("=")[2] if k == 0 else line
        value = _STRINGS.sub('""', value).partition("#")[0]
        depth += value.count("[") - value.count("]")
    return depth > 0


#: A table header, ``[kinds.tip_request]`` or ``[[kinds.tip_request.phases]]``, and its name.
_HEADER = re.compile(r"\s*(\[\[?)\s*([^\[\]#=]+?)\s*\]\]?\s*(?:#.*)?")


def _statement_key(line: str) -> str | None:
    """The key of a ``key = value`` line, spaces and quotes as written removed, or None."""
    key, eq, _ = line.partition("=")
    key = "".join(key.split()).replace('"', "").replace("'", "")
    return key if eq and key and not key.startswith(("[", "#")) else None


def _twice_hint(lines: list[str], row: int, message: str) -> str | None:
    """``"; ..."`` for TOML's errors of a table or a key given twice, else None.

    "Cannot declare ('kinds', 'tip_request') twice" and "Cannot overwrite a value" are all
    TOML says of a table header copied twice or a key written twice in one table (an edited
    line whose old copy stayed); JSON readers name such a key as a problem of its own.
    """
    line = lines[row]
    header = _HEADER.fullmatch(line)
    if header is not None:
        if "twice" not in message:
            return ""  # (a key with a value already, such as kinds = {}: no table replaces it)
        name = "".join(header[2].split())
        earlier = [
            (k, h[1])
            for k in range(row)
            if (h := _HEADER.fullmatch(lines[k])) is not None and "".join(h[2].split()) == name
        ]
        if header[1] == "[" and any(brackets == "[[" for _, brackets in earlier):
            return (
                f"; [{name}] follows [[{name}]] tables: each entry of an array of tables, "
                f"such as a phase, is written [[{name}]], with double brackets"
            )
        where = f" (first at line {earlier[0][0] + 1})" if earlier else ""
        return (
            f"; the table [{name}] is declared twice{where}: a table is declared once, so "
            "keep one header and put its keys below it (only [[double bracket]] tables, "
            "such as phases, repeat)"
        )
    key = _statement_key(line)
    if key is None or "Cannot overwrite" not in message:
        return None
    for k in range(row - 1, -1, -1):
        if _HEADER.fullmatch(lines[k]) is not None:
            break  # the table's header: the key was not given before in this table
        if _statement_key(lines[k]) == key:
            return (
                f"; {key} is given twice in the same table (lines {k + 1} and {row + 1}): "
                "TOML allows one value a key, so delete the one that is not meant"
            )
    return None


def document(text: str, fmt: str, *, reader: str, hint: str = "") -> Any:
    """Parse a whole policy document, every section, as ``fmt`` (``"JSON"`` or ``"TOML"``).

    JSON objects remember keys given twice (the rollout reports them); see :func:`parse`.
    """
    hook = _json_object if fmt == "JSON" else None
    return parse(text, fmt, reader=reader, hint=hint, json_hook=hook)


def from_json(
    source: str | bytes | os.PathLike[str], catalog: RegionCatalog | None
) -> RolloutPolicy:
    """Read the JSON form."""
    text = _text(source, "JSON")
    data = parse(text, "JSON", hint=_path_hint(source), json_hook=_json_object)
    return from_data(data, catalog)


def from_toml(
    source: str | bytes | os.PathLike[str], catalog: RegionCatalog | None
) -> RolloutPolicy:
    """Read the TOML form (``tomllib``, or ``tomli`` before Python 3.11)."""
    text = _text(source, "TOML")
    data = parse(text, "TOML", reader="RolloutPolicy.from_toml()", hint=_path_hint(source))
    return from_data(data, catalog)


#: The longest value or key a problem quotes; longer ones are cut, saying how long they are.
BRIEF = 60


def brief(value: object, limit: int = BRIEF) -> str:
    """A value for a message, at most about ``limit`` characters, however large the value.

    A policy file of megabytes (a certificate pasted into the wrong field, a generated list)
    would otherwise put the whole value into the message, and the message into a log line.

    A text is quoted up to its last whole word within ``limit`` (or cut at ``limit`` when it
    has no word boundary past half of it), the quotes closed, then ``...`` and its length.

    >>> brief("Polisen efterfrågar tips om en vit skåpbil som setts vid Sergels torg i natt")
    "'Polisen efterfrågar tips om en vit skåpbil som setts vid'... (76 characters)"
    """
    return _values.brief(value, limit)


def _key(prefix: str, key: object) -> str:
    text, cut = str(key), ""
    if len(text) > BRIEF:  # a path names where the problem is; a cut key still does
        text, cut = _values.cut_words(text, BRIEF - 3).removesuffix("..."), "..."
    printable = text.isprintable()  # (a lone surrogate is not: category Cs)
    part = text if _BARE_KEY.fullmatch(text) else json.dumps(text, ensure_ascii=not printable)
    part += cut  # (outside the quotes: the key goes on, it does not end in dots)
    return f"{prefix}.{part}" if prefix else part


#: The path of ``key`` within ``prefix``, as every section reader writes it.
key_path = _key


#: The problem of a key given twice in one object (any section reader says it so).
TWICE = "duplicate key: given twice in the same object"


#: Keys an operator may write to end a phase (schedulers of other tools have them).
_END_KEYS = frozenset(
    {"end", "end_at", "end_date", "ends", "ends_at", "ends_on", "expires", "expires_at"}
    | {"stop", "stop_at", "stops_at", "until", "finish", "finishes_at", "duration"}
)


def unknown_key(key: object, allowed: tuple[str, ...], path: str) -> str:
    """The problem of ``key``, not one of ``allowed``, in the table at ``path``."""
    text = f"unknown key (valid: {', '.join(sorted(allowed))})" + top_level_hint(key, path)
    if "starts_at" in allowed and isinstance(key, str) and key.strip().lower() in _END_KEYS:
        text += (
            "; a phase has no end of its own: it lasts until the next phase of its kind "
            "starts, so to end it add a phase starting then (with rollback = true to drop "
            "regions, or percentage = 0 to pause them)"
        )
    elif key in (*_PHASE_KEYS, "phases") and allowed in (_KIND_KEYS, _TOP_KEYS):
        # a phase's keys in its kind's table, or phases at the top level (no kind named)
        where = f"[[{path}.phases]]" if allowed == _KIND_KEYS else "[[kinds.<kind>.phases]]"
        text += f"; a phase's keys (starts_at, regions...) go in a {where} table, one per phase"
    return text


def misspelt(required: str, table: Mapping[Any, Any], allowed: tuple[str, ...]) -> str:
    """``" (the table has 'start_at' ...)"`` for a ``required`` key missing from ``table``.

    When a key of the table that is none of ``allowed`` is close to it (``start_at``,
    ``Regions``), else ``""``: "starts_at is required" alone reads as if it were left out.
    """
    unknown = [k for k in table if isinstance(k, str) and k not in allowed]
    close = difflib.get_close_matches(required, unknown, n=1, cutoff=0.75)
    if not close:
        close = [k for k in unknown if k.casefold() == required.casefold()][:1]
    if not close:
        return ""
    return f" (the table has {brief(close[0])}, which is no key of it: {required} misspelt?)"


def top_level_hint(key: object, path: str) -> str:
    """For a key of the top level found in a table at ``path``: ``"; ..."`` saying so, else "".

    ``issuers = "any"`` appended at the end of a TOML file lands in its last table: in TOML, a
    key below a ``[table]`` header belongs to that table.
    """
    if not path or key not in _TOP_KEYS:
        return ""
    return (
        f"; {key} is a key of the policy's top level: in TOML a key below a [table] or "
        "[[table]] header belongs to that table, so write top-level keys above the first header"
    )


def _check_keys(
    table: Mapping[str, Any], allowed: tuple[str, ...], path: str, bad: Callable[[str, str], None]
) -> None:
    for key in getattr(table, "duplicates", ()):
        bad(_key(path, key), TWICE)
    for key in table:
        if key not in allowed:
            bad(_key(path, key), unknown_key(key, allowed, path))


def duplicate_problems(value: object, path: str) -> list[Problem]:
    """Every key given twice in a JSON object within ``value`` (at ``path``), with its path.

    JSON keeps the last of two equal keys silently; :func:`document` remembers them
    (``_Object.duplicates``). Walks without recursion, so any depth the parser read is fine.
    """
    out: list[Problem] = []
    stack: list[tuple[str, object]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, Mapping):
            for key in getattr(item, "duplicates", ()):
                out.append(Problem(_key(where, key), TWICE))
            stack.extend((_key(where, k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return out


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


#: A number as text: ``"50"``, ``" 12.5 "``, ``"50%"`` (a spreadsheet's cell, a generator's str).
_NUMBER_TEXT = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(%?)\s*")


def quoted(value: object, want: str) -> str:
    """``"; ..."`` when ``value`` is text spelling the ``want``-ed bool or number, else ``""``.

    ``rollback = "false"`` was told "must be true or false (got 'false')", and
    ``percentage = "50"`` "must be a number (got '50')": the value seems to be what the rule
    asks for, and the quotes, which make it text, are what is wrong.
    ``want`` is ``"bool"`` or ``"number"``.
    """
    if not isinstance(value, str):
        return ""
    if want == "bool":
        word = value.strip().lower()
        if word not in ("true", "false"):
            return ""
        return f"; that is text, in quotes: write {word} without quotes"
    m = _NUMBER_TEXT.fullmatch(value)
    if m is None:
        return ""
    percent = " and without %" if m[2] else ""
    return f"; that is text, in quotes: write the number {m[1]} without quotes{percent}"


def _bool_problem(value: object) -> str:
    return f"must be true or false (got {brief(value)}){quoted(value, 'bool')}"


_TOO_DEEP = "nested too deeply: a policy is at most a few levels of tables and arrays"


def from_data(data: object, catalog: RegionCatalog | None) -> RolloutPolicy:
    """Build a policy from parsed JSON/TOML, collecting every problem with its path."""
    if catalog is not None:
        catalog = _decision.check_catalog(catalog)
    try:
        return _from_data(data, catalog)
    except RecursionError:  # showing a value nested thousands deep in a message
        raise _problem(_TOO_DEEP) from None


def _from_data(data: object, catalog: RegionCatalog | None) -> RolloutPolicy:
    from geotarget import rollout as _r

    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(path, message))

    if not isinstance(data, Mapping):
        raise InvalidPolicy(
            [Problem("", f"a policy must be a table of keys (got {type(data).__name__})")]
        )
    _check_keys(data, _TOP_KEYS, "", bad)
    version = data.get("format_version", FORMAT_VERSION)
    if type(version) is not int or version != FORMAT_VERSION:  # not 1.0, true or "1"
        bad(
            "format_version",
            f"must be {FORMAT_VERSION} (got {brief(version)}){quoted(version, 'number')}",
        )
    tz_given = "timezone" in data
    tz_name = data.get("timezone", _r._DEFAULT_TIMEZONE)
    country = data.get("country", "SE")
    salt = data.get("salt", _r.DEFAULT_SALT)
    problems += _r._policy_field_problems(country, tz_name, salt)
    tz_ok = not any(p.path == "timezone" for p in problems)
    killed = data.get("killed", False)
    if not _is_bool(killed):
        bad("killed", _bool_problem(killed))
    kinds = data.get("kinds", {})
    if not isinstance(kinds, Mapping):
        bad("kinds", f"must be a table of alert kinds (got {type(kinds).__name__})")
        kinds = {}
    _check_keys(kinds, tuple(kinds), "kinds", bad)  # duplicates only
    rollouts = []
    for key, body in kinds.items():
        path = _key("kinds", key)
        before = len(problems)
        kind = None
        if isinstance(key, str) and KIND_NAME.fullmatch(key):
            kind = key
        else:
            bad(path, f"must be keyed by a kind name: {KIND_NAME_RULE} (got {brief(key)})")
        if not isinstance(body, Mapping):
            phases_given = isinstance(body, list) and any(
                isinstance(b, Mapping) and not _PHASE_KEYS_SET.isdisjoint(b) for b in body
            )  # [[kinds.x]] for [[kinds.x.phases]], or "x": [{...}] for "x": {"phases": [...]}
            bad(
                path,
                f"must be a table with keys killed and phases (got {type(body).__name__})"
                + top_level_hint(key, "kinds")  # `timezone = ...` below a [kinds] header
                + (
                    f"; its phases go in an array under the key phases: write each as "
                    f'[[{path}.phases]] in TOML, or "phases": [{{...}}] in JSON'
                    if phases_given
                    else ""
                ),
            )
            continue
        _check_keys(body, _KIND_KEYS, path, bad)
        kind_killed = body.get("killed", False)
        if not _is_bool(kind_killed):
            bad(f"{path}.killed", _bool_problem(kind_killed))
        raw_phases = body.get("phases")
        if not isinstance(raw_phases, list):
            if raw_phases is None:
                what = "missing"
            elif isinstance(raw_phases, Mapping):  # [kinds.x.phases] for [[kinds.x.phases]]
                what = (
                    f"got a single table {brief(dict(raw_phases))}; write "
                    f"[[{path}.phases]] in TOML, or [{{...}}] in JSON"
                )
            else:
                what = f"got {type(raw_phases).__name__} {brief(raw_phases)}"
            bad(
                f"{path}.phases",
                f"must be an array of phase tables ({what})" + misspelt("phases", body, _KIND_KEYS),
            )
            raw_phases = []
        elif not raw_phases:
            bad(f"{path}.phases", "must list at least one phase (to deny a kind, leave it out)")
        parsed: list[tuple[int, Phase]] = []
        for i, raw in enumerate(raw_phases):
            phase_path = f"{path}.phases[{i}]"
            zone = tz_name if tz_given else None
            phase = _phase(raw, phase_path, zone, tz_ok, bad, catalog, country)
            if phase is not None:
                parsed.append((i, phase))
        problems += _r._sequence_problems(
            parsed, f"{path}.phases", country, catalog, tz_name if tz_ok else None
        )
        problems[before:] = sorted(problems[before:], key=lambda p: _phase_number(p.path, path))
        if kind is not None and len(problems) == before:
            rollouts.append(
                _r.KindRollout(kind=kind, phases=[p for _, p in parsed], killed=kind_killed)
            )
    if catalog is not None and not any(p.path == "country" for p in problems):
        problems[:0] = _country_problems(country, catalog)
    if problems:
        raise InvalidPolicy(problems)
    return _r.RolloutPolicy(
        rollouts=rollouts, killed=killed, country=country, timezone=tz_name, salt=salt
    )


#: A percentage's types: JSON's and TOML's numbers, and ``json.loads(parse_float=Decimal)``'s.
_NUMBERS = (int, float, decimal.Decimal)


def _phase_number(path: str, kind_path: str) -> int:
    """The phase index in ``path`` (-1 for the kind's own keys), to list problems in order."""
    m = re.match(re.escape(kind_path) + r"\.phases\[(\d+)\]", path)
    return int(m.group(1)) if m else -1


def _phase(
    raw: object,
    path: str,
    tz_name: str | None,
    tz_ok: bool,
    bad: Callable[[str, str], None],
    catalog: RegionCatalog | None,
    country: object,
) -> Phase | None:
    from geotarget import rollout as _r

    if not isinstance(raw, Mapping):
        bad(path, f"must be a table with starts_at and regions (got {type(raw).__name__})")
        return None
    _check_keys(raw, _PHASE_KEYS, path, bad)
    ok = True
    starts_at = None
    if "starts_at" not in raw:
        bad(f"{path}.starts_at", "is required" + misspelt("starts_at", raw, _PHASE_KEYS))
        ok = False
    else:
        try:
            starts_at = _time.parse_instant(raw["starts_at"], tz_name if tz_ok else None)
        except ValueError as err:
            message = str(err)
            if tz_name is not None and not tz_ok and "set timezone" in message:
                message = (
                    "cannot be read: it has no UTC offset and the policy's timezone is invalid"
                )
            bad(f"{path}.starts_at", message)
            ok = False
    regions = raw.get("regions")
    texts: list[str] = []  # the items written as text; every other item is a problem of its own
    if regions is None:
        bad(
            f"{path}.regions",
            'is required: an array of region codes such as ["01"]'
            + misspelt("regions", raw, _PHASE_KEYS),
        )
        ok = False
    elif not isinstance(regions, list):
        bad(f"{path}.regions", f"must be an array of region code strings (got {brief(regions)})")
        ok = False
    else:
        texts = [c for c in regions if isinstance(c, str)]
        others = [k for k, c in enumerate(regions) if not isinstance(c, str)]
        for k in others[:_MOST_ITEMS]:  # each at its index, and the text codes checked too
            bad(f"{path}.regions[{k}]", not_a_code_text(regions[k], catalog))
        if len(others) > _MOST_ITEMS:
            rest = others[_MOST_ITEMS:]
            bad(
                f"{path}.regions",
                f"and {len(rest):,} more items that are not region code strings, at "
                f"{', '.join(f'regions[{k}]' for k in rest[:3])}{', …' if len(rest) > 3 else ''}",
            )
        ok = ok and not others
        twice = sorted(c for c, n in Counter(texts).items() if n > 1)  # linear, not n²
        if twice:
            bad(
                f"{path}.regions",
                f"lists {', '.join(map(brief, twice[:5]))}{' ...' if len(twice) > 5 else ''} "
                "more than once",
            )
            ok = False
        if catalog is not None and isinstance(country, str):
            codes = frozenset(c for c in texts if _r._CODE.fullmatch(c))
            for problem in _region_problems(codes, country, catalog, f"{path}.regions"):
                bad(problem.path, problem.message)  # the phase stays usable for order checks
    percentage = raw.get("percentage", 100)
    if _is_bool(percentage) or not isinstance(percentage, _NUMBERS):
        bad(
            f"{path}.percentage",
            f"must be a number in [0, 100] (got {brief(percentage)})"
            + quoted(percentage, "number"),
        )
        ok = False
    rollback = raw.get("rollback", False)
    if not _is_bool(rollback):
        bad(f"{path}.rollback", _bool_problem(rollback))
        ok = False
    illustrative = raw.get("illustrative", False)
    if not _is_bool(illustrative):
        bad(f"{path}.illustrative", _bool_problem(illustrative))
        ok = False
    number_ok = not _is_bool(percentage) and isinstance(percentage, _NUMBERS)
    try:
        phase = _r.Phase(  # placeholders stand in for values already reported
            starts_at=starts_at or _time.EARLIEST,
            regions=texts if texts or regions == [] else ["X"],
            percentage=percentage if number_ok else 100,
            rollback=rollback is True,
            illustrative=illustrative is True,
        )
    except InvalidPolicy as err:
        reported = {"starts_at"} if starts_at is None else set()
        hints = {}  # a malformed code may still be a region's name ("Stockholms län")
        if catalog is not None:
            for code in texts:
                if (
                    not _r._CODE.fullmatch(code)
                    and not _r._several(code)  # (its own hint names the codes it holds)
                    and (hint := _unknown_hint(code, catalog))
                ):
                    hints[f"{brief(code)} is not a region code"] = hint
        for p in err.problems:
            if p.path not in reported:
                extra = next((h for k, h in hints.items() if p.message.startswith(k)), "")
                bad(f"{path}.{p.path}" if p.path else path, p.message + extra)
        return None
    return phase if ok else None


def not_a_code_text(item: object, catalog: Any = None) -> str:
    """The problem of a region code written as a number (``180``) or another non-text.

    A number is most likely a code that lost its quotes, and with them its leading zero: the
    catalog (when given) says which code it would be.
    """
    text = f"must be a region code string (got {type(item).__name__} {brief(item)})"
    if type(item) is not int or not 0 <= item < 10**20:
        return text
    code = str(item)
    if catalog is not None:
        zero = zero_lost_hint(code, lambda c: knows(catalog, c))
        if zero is not None:
            return f"{text}; region codes are text, written in quotes: {zero}"
        if knows(catalog, code):
            return f'{text}; region codes are text: write it in quotes, "{code}"'
        return f"{text}; region codes are text, written in quotes"
    return f'{text}; region codes are text: write it in quotes ("{code}", or "0{code}"?)'


def zero_lost_hint(code: str, exists: Callable[[str], bool]) -> str | None:
    """``"a leading zero lost? did you mean '0180'?"`` for an unknown all-digit code, or None.

    A code that went through a spreadsheet or a number (``180`` for Stockholm's ``"0180"``,
    ``1`` for ``"01"``) has lost its leading zeros; close matches by spelling
    (``'1880', '1980', '2180'``) would point the operator elsewhere.
    """
    if not (code.isascii() and code.isdigit()):
        return None
    padded = [z + code for z in ("0", "00", "000") if exists(z + code)]
    if not padded:
        return None
    return f"a leading zero lost? did you mean {' or '.join(repr(c) for c in padded)}?"


def knows(catalog: Any, code: str) -> bool:
    """Whether ``catalog`` knows ``code``, without the cost of a hint for an unknown one.

    A :class:`~geotarget.regions.RegionHierarchy` is asked with ``in``: its ``level_of``
    searches its codes for close matches to name in the error, half a millisecond a code.
    """
    regions = sys.modules.get("geotarget.regions")  # (not loaded: no hierarchy to ask)
    if regions is not None and isinstance(catalog, regions.RegionHierarchy):
        return code in catalog
    try:
        catalog.level_of(code)
    except (KeyError, ValueError):
        return False
    return True


def unknown_hint(code: str, catalog: RegionCatalog) -> str:
    """The hint for a code ``catalog`` does not know (``"; did you mean …"``), or ``""``."""
    return _unknown_hint(code, catalog) or ""


def _unknown_hint(code: str, catalog: RegionCatalog) -> str | None:
    """None if ``catalog`` knows ``code``; else its hint (``"; did you mean …"``) or ``""``.

    A digit code that is known with leading zeros says so (:func:`zero_lost_hint`); otherwise
    the hint is what the catalog's error says after its first ``"; "`` (a
    :class:`~geotarget.regions.RegionHierarchy` names the region a name belongs to, the code in
    other case, or close matches).
    """
    try:
        catalog.level_of(code)
    except KeyError as err:
        zero = zero_lost_hint(code, lambda c: knows(catalog, c))
        if zero is not None:
            return f"; {zero}"
        _, sep, hint = str(err).partition("; ")
        return f"; {hint}" if sep and hint else ""
    return None


def _country_problems(country: str, catalog: RegionCatalog) -> list[Problem]:
    hint = _unknown_hint(country, catalog)
    if hint is not None:
        return [Problem("country", f"unknown region code {brief(country)}{hint}")]
    try:
        above = list(catalog.ancestors(country))
    except KeyError:
        above = []
    if above:  # a county as the country: enabling it would read "nationwide"
        return [
            Problem(
                "country",
                f"must be the catalog's country, a region within no other (got {country!r}, "
                f"a {catalog.level_of(country)} within {above[-1]!r})",
            )
        ]
    return []


#: Codes of one list checked one by one (a hint for each); the rest are only counted.
MOST_CODES = 10
#: Items of one list that are not text named one by one (a hint for each); the rest counted.
_MOST_ITEMS = 5


def more_codes(codes: list[str], what: str) -> str:
    """``"and 3,990 more codes unknown or outside the country 'SE': 'Z00010', …"``."""
    sample = ", ".join(brief(c) for c in codes[:3])
    return f"and {len(codes):,} more codes {what}: {sample}{', …' if len(codes) > 3 else ''}"


def _region_problems(
    regions: frozenset[str], country: str, catalog: RegionCatalog, path: str
) -> list[Problem]:
    """Problems of the codes of one list; past :data:`MOST_CODES` bad ones, a count.

    A hint for a code costs a search of the catalog's codes (about half a millisecond): a list
    of thousands of postal codes pasted as regions gets ten problems and a count, not seconds
    of searching and a message of megabytes.
    """
    if knows(catalog, country):
        bad = [c for c in sorted(regions) if not _region_fits(c, country, catalog)]
    else:  # the country problem says so once; each code is checked only for being known
        bad = [c for c in sorted(regions) if not knows(catalog, c)]
    problems = []
    for code in bad[:MOST_CODES]:
        hint = _unknown_hint(code, catalog)
        if hint is not None:
            problems.append(Problem(path, f"unknown region code {brief(code)}{hint}"))
        else:
            problems.append(
                Problem(path, f"region {code!r} does not lie within the country {country!r}")
            )
    if len(bad) > MOST_CODES:
        what = f"unknown or outside the country {country!r}"
        problems.append(Problem(path, more_codes(bad[MOST_CODES:], what)))
    return problems


def _region_fits(code: str, country: str, catalog: RegionCatalog) -> bool:
    """Whether ``catalog`` knows ``code`` and it lies within ``country`` (no hint sought)."""
    if not knows(catalog, code):
        return False
    try:
        return code == country or country in catalog.ancestors(code)
    except KeyError:
        return False


def catalog_problems(
    policy: RolloutPolicy, catalog: RegionCatalog, kinds: Collection[str] | None = None
) -> list[Problem]:
    """Every region code of ``policy`` (of ``kinds`` only, when given) checked, with paths.

    Phases repeat the codes of the phases before: each distinct code is asked of the
    catalog once, and only a phase holding a code that does not fit is told in detail.
    """
    catalog = _decision.check_catalog(catalog)
    problems = _country_problems(policy.country, catalog)
    fits: dict[str, bool] = {}
    for r in policy.rollouts:
        if kinds is not None and r.kind not in kinds:
            continue
        for i, p in enumerate(r.phases):
            for code in p.regions - fits.keys():
                fits[code] = _region_fits(code, policy.country, catalog)
            if all(fits[code] for code in p.regions):
                continue
            path = f"kinds.{r.kind}.phases[{i}].regions"
            problems += _region_problems(p.regions, policy.country, catalog, path)
    return problems
