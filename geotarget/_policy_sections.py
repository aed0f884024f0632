"""Private: the ``recognition``, ``issuers`` and ``location_rules`` sections of a policy.

They sit beside the rollout (``kinds``, ``timezone``...) in the same TOML or JSON file; the
rollout reader ignores them and these readers ignore the rollout. Every problem is collected
with its path and raised as one :class:`~geotarget.errors.InvalidPolicy`.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from geotarget import rollout as _rollout
from geotarget._kind_rules import KindRules, rules_from_table
from geotarget.alerts import NamedValue
from geotarget.errors import GeotargetError, InvalidPolicy, Problem
from geotarget.issuers import _ISSUERS_WHAT as ISSUERS
from geotarget.issuers import (
    Issuer,
    Issuers,
    _pem_shown,
    catalog_checks,
    region_problems,
    table_problems,
)
from geotarget.kinds import _LOCATION_RULES_WHAT as LOCATION_RULES
from geotarget.kinds import _RECOGNITION_WHAT as RECOGNITION
from geotarget.kinds import RecognitionRule, Recognizer, mixed_words
from geotarget.rollout import _io

#: Largest policy document or certificate file read, in bytes.
MAX_BYTES = _io.MAX_BYTES
_RULE_KEYS = ("name", "kind", "events", "categories", "event_codes", "senders")
_ISSUER_KEYS = (
    "name", "senders", "kinds", "regions", "acts_for", "signature", "certificates",
)  # fmt: skip


def load(source: str | bytes | os.PathLike[str], fmt: str, what: str) -> Mapping[str, Any]:
    """Parse a TOML or JSON policy (text or a path) into plain data.

    ``what`` names the section being read in an :class:`InvalidPolicy` ("issuers section").
    """
    try:
        return _load(source, fmt)
    except InvalidPolicy as err:  # the file's and the parser's problems, under the section
        raise InvalidPolicy(err.problems, what=what) from None


def _load(source: str | bytes | os.PathLike[str], fmt: str) -> Mapping[str, Any]:
    where = f"the {fmt} bytes"
    if isinstance(source, os.PathLike):
        where = f"the policy file {os.fspath(source)!r}"
        raw = _io.read_file(source, where, MAX_BYTES)
    elif isinstance(source, str):  # as the rollout's reader takes it: a BOM dropped
        raw = _io.text_of(source, f"the {fmt} text").encode("utf-8")
    elif isinstance(source, bytes):
        raw = source
    else:
        raise InvalidPolicy(
            [
                Problem(
                    "", f"source must be {fmt} text or a pathlib.Path (got {type(source).__name__})"
                )
            ]
        )
    text = _io.decode(raw, where)  # a BOM is fine; not UTF-8 names the file, byte and line
    # A file name given as str is read as the document: the syntax error says to pass a Path
    data = _io.document(text, fmt, reader="reading a TOML policy", hint=_io.path_hint(source))
    if not isinstance(data, Mapping):
        raise InvalidPolicy([Problem("", f"a policy must be a table (got {type(data).__name__})")])
    return data


def base_of(source: object) -> Path:
    """The directory certificate paths are relative to: the policy file's, else the cwd."""
    return Path(source).parent if isinstance(source, os.PathLike) else Path(".")


def _unknown(table: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> list[Problem]:
    return [
        Problem(_io.key_path(path, k), _io.unknown_key(k, allowed, path))
        for k in table
        if k not in allowed
    ]


def _table_array(data: Mapping[str, Any], key: str) -> tuple[list[Any], list[Problem]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        # A single table is [key] where [[key]] was meant (TOML), or an object where an
        # array of them was (JSON): named so, not by the parser's type.
        got = (
            f"a single table {_io.brief(dict(value))}; write [[{key}]] in TOML, "
            "or [{...}] in JSON"
            if isinstance(value, Mapping)
            else f"{type(value).__name__} {_io.brief(value)}"
        )
        return [], [Problem(key, f"must be an array of tables (got {got})")]
    return value, []


def _not_an_array(value: object, of: str) -> str:
    """Why ``value`` is not the array of ``of`` a key takes: the value, and how to write one.

    A single table or text is the item an array was meant to hold (``certificates =
    "cert.pem"``, ``event_codes = { value_name = ..., value = ... }``): named so, with the
    array that holds it.
    """
    if isinstance(value, Mapping):
        got = f"a single table {_io.brief(dict(value))}; write [{{ ... }}] around it"
    elif isinstance(value, str) and "-----BEGIN" in value:  # never its content: a key?
        got = f"a single PEM text, {_pem_shown(value)}; write [ ... ] around it"
    elif isinstance(value, str):
        got = f"a single text {_io.brief(value)}; write [{_io.brief(value)}]"
    else:
        got = f"{type(value).__name__} {_io.brief(value)}"
    return f"must be an array of {of} (got {got})"


def _entries(
    raw: list[Any], name: str, keys: tuple[str, ...], problems: list[Problem]
) -> Iterator[tuple[str, Mapping[str, Any], list[Problem]]]:
    """Each table of the array ``name``: its path, the table and its unknown keys' problems.

    A problem for an entry that is not a table (then skipped) or for an unknown key is
    appended to ``problems``.
    """
    for i, entry in enumerate(raw):
        path = f"{name}[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(Problem(path, f"must be a table (got {type(entry).__name__})"))
            continue
        bad = _unknown(entry, keys, path)
        problems += bad
        yield path, entry, bad


def _field_problems(cls: type, fields: Mapping[str, Any], path: str) -> list[Problem]:
    """Each given field's own problems (its converter's or validator's), every one at once.

    An entry with three bad fields gets three problems, each at its field's path, not the
    first one at the entry's; a list with several bad items (``senders = ["a@b.se", 5,
    null]``) a problem for each (:data:`MOST_ITEMS`, then a count), not for its first. What
    spans several fields (``__attrs_post_init__``: a missing name, an issuer without regions)
    is left to building ``cls`` itself, once no field has a problem of its own.
    """
    out = []
    for f in attrs.fields(cls):
        if f.name not in fields:
            continue
        try:
            _check_field(f, fields[f.name])
        except GeotargetError as err:
            where = f"{path}.{f.name}"
            items = _item_problems(f, fields[f.name], where)
            out += items if len(items) > 1 else [Problem(where, str(err))]
        except (TypeError, ValueError):  # left to building the class, which reports it
            pass
    return out


#: Items of one list field named one by one; past them, a count.
MOST_ITEMS = 5


def _check_field(f: Any, value: object) -> None:
    """Convert and validate ``value`` as the field ``f`` would (its errors propagate)."""
    converted = value if f.converter is None else f.converter(value)
    if f.validator is not None:
        f.validator(None, f, converted)


def _item_problems(f: Any, value: object, where: str) -> list[Problem]:
    """The problems of each item of a list field, each checked alone ([] for no list).

    A converter stops at the first bad item; checked as a list of one, every item names its
    own problem, with its index in the list (``senders[2]``, not ``senders[0]``).
    """
    if not isinstance(value, list) or len(value) < 2:
        return []
    found: list[Problem] = []
    bad = 0
    for k, item in enumerate(value):
        try:
            _check_field(f, [item])
        except GeotargetError as err:
            bad += 1
            if len(found) < MOST_ITEMS:
                message = str(err).replace(f"{f.name}[0]", f"{f.name}[{k}]")
                found.append(Problem(where, message))
        except (TypeError, ValueError):
            continue
    if bad > MOST_ITEMS:
        found.append(Problem(where, f"and {bad - MOST_ITEMS:,} more items with a problem"))
    return found


def _required(
    entry: Mapping[str, Any],
    path: str,
    keys: tuple[str, ...],
    allowed: tuple[str, ...],
    lists: tuple[str, ...] = (),
) -> list[Problem]:
    """A problem at ``path.<key>`` for each of ``keys`` missing, and each of ``lists`` empty.

    A missing key whose misspelling the entry holds (``sender`` for ``senders``) is told so;
    ``allowed``: the entry's keys.

    Each at its field's path and all at once, like a field's own problem; building the class
    would report only the first, at the entry's path, in Python's words
    (``__init__() missing 3 required keyword-only arguments``).
    """
    out = [
        Problem(f"{path}.{k}", "is required" + _io.misspelt(k, entry, allowed))
        for k in keys
        if k not in entry
    ]
    out += [
        Problem(f"{path}.{k}", "must name at least one (got an empty list)")
        for k in lists
        if isinstance(entry.get(k), list) and not entry[k]
    ]
    return out


def _document(data: object, what: str) -> None:
    """A parsed policy is a table (mapping) of sections; anything else is refused."""
    if not isinstance(data, Mapping):
        raise InvalidPolicy(
            [Problem("", f"a policy must be a table (got {type(data).__name__})")], what=what
        )


def _duplicates(data: Mapping[str, Any], key: str) -> list[Problem]:
    """Keys given twice within the section ``key`` of a JSON document, and ``key`` itself.

    JSON would keep the last silently: an issuer's second ``regions`` would widen its
    territory unseen by a reviewer reading the first.
    """
    top = [Problem(key, _io.TWICE) for k in getattr(data, "duplicates", ()) if k == key]
    return top + _io.duplicate_problems(data.get(key), key)


def recognizer(data: Mapping[str, Any]) -> Recognizer:
    """The ``recognition`` array as a :class:`Recognizer` (empty when absent)."""
    _document(data, RECOGNITION)
    raw, problems = _table_array(data, "recognition")
    problems[:0] = _duplicates(data, "recognition")
    rules: list[tuple[int, RecognitionRule]] = []  # with each rule's index in the file
    for path, entry, bad in _entries(raw, "recognition", _RULE_KEYS, problems):
        codes: list[NamedValue] = []
        raw_codes = entry.get("event_codes", [])
        codes_ok = isinstance(raw_codes, list)
        if not codes_ok:
            problems.append(Problem(f"{path}.event_codes", _not_an_array(raw_codes, "tables")))
            raw_codes = []
        for j, code in enumerate(raw_codes):
            cpath = f"{path}.event_codes[{j}]"
            if (
                not isinstance(code, Mapping)
                or set(code) != {"value_name", "value"}
                or not all(isinstance(v, str) for v in code.values())
            ):
                problems.append(
                    Problem(
                        cpath,
                        f"must be a table with str value_name and value (got {_io.brief(code)})",
                    )
                )
                continue
            lookalikes = [
                Problem(f"{cpath}.{k}", m)
                for k in ("value_name", "value")
                if (m := mixed_words(k, code[k]))
            ]
            if lookalikes:  # at the code's own path, both at once
                problems += lookalikes
                continue
            try:  # a character XML cannot carry: at the code's own path, as a policy problem
                codes.append(NamedValue(code["value_name"], code["value"]))
            except GeotargetError as err:
                problems.append(Problem(cpath, str(err)))
        fields = {k: v for k, v in entry.items() if k != "event_codes"}
        own = _field_problems(RecognitionRule, fields, path) + _required(
            entry, path, ("name", "kind"), _RULE_KEYS
        )
        problems += own
        if bad or own or not codes_ok or len(codes) != len(raw_codes):
            continue
        try:
            index = int(path.removeprefix("recognition[").removesuffix("]"))
            rules.append((index, RecognitionRule(**fields, event_codes=codes)))
        except GeotargetError as err:
            problems.append(Problem(path, str(err)))
    # The rules that were read are compared all the same: a bad field of one rule does not
    # hide that another never applies.
    problems += _shadowed(rules)
    if problems:
        raise InvalidPolicy(problems, what=RECOGNITION)
    return Recognizer([rule for _, rule in rules])


#: Pairs of rules :func:`_shadowed` compares at most (a few thousand rules, every pair).
MOST_PAIRS = 2_000_000


def _covers(
    mine: frozenset[Any] | tuple[Any, ...], theirs: frozenset[Any] | tuple[Any, ...]
) -> bool:
    """Whether a condition ``mine`` is met by everything that meets ``theirs``."""
    return not mine or (bool(theirs) and set(theirs) <= set(mine))


def _shadows(first: RecognitionRule, later: RecognitionRule) -> bool:
    """Whether ``first`` matches every alert ``later`` matches (so ``later`` never applies)."""
    return (
        _covers(first.events, later.events)
        and _covers(first.categories, later.categories)
        and _covers(first.event_codes, later.event_codes)
        and _covers(first.senders, later.senders)
    )


def _shadowed(rules: list[tuple[int, RecognitionRule]]) -> list[Problem]:
    """A problem for each rule that never applies, and whose alerts other kinds would take.

    ``rules`` pairs each rule read with its index in the file. Rules are tried in order, the
    first met wins: a rule after rules that together match every alert it matches — one
    rule, or several (one takes its alerts of one event, another those of the other) —
    never applies. When they name its kind that changes nothing; when one of them names
    another kind, the operator's rule silently never recognises its kind, and its alerts are
    told as the other kind (another rollout, other location rules). The narrower rule must
    come first. Past :data:`MOST_PAIRS` pairs, later rules are not compared.
    """
    problems: list[Problem] = []
    pairs = 0
    for j, (at, later) in enumerate(rules):
        pairs += j
        if pairs > MOST_PAIRS:
            return problems
        takers = _taken_together(rules[:j], later)
        if takers is None:  # too many shapes to try: one rule that matches them all, if any
            one = next((i for i in range(j) if _shadows(rules[i][1], later)), None)
            takers = [] if one is None else [one]
        if not any(rules[k][1].kind != later.kind for k in takers):
            continue
        if len(takers) == 1:
            where, first = rules[takers[0]]
            problems.append(
                Problem(
                    f"recognition[{at}]",
                    f"rule {later.name!r} (kind {later.kind}) never applies: rule "
                    f"{first.name!r} (recognition[{where}], kind {first.kind}) is tried "
                    "first and matches every alert it matches; put the narrower rule first",
                )
            )
            continue
        named = [
            f"{rules[k][1].name!r} (recognition[{rules[k][0]}], kind {rules[k][1].kind})"
            for k in takers[:5]
        ]
        more = f" and {len(takers) - 5} more" if len(takers) > 5 else ""
        problems.append(
            Problem(
                f"recognition[{at}]",
                f"rule {later.name!r} (kind {later.kind}) never applies: rules "
                f"{', '.join(named)}{more} are tried first and together match every alert it "
                "matches; put the narrower rule first",
            )
        )
    return problems


#: The most alerts of distinct shape (event, category, event code, sender) one rule is
#: checked with by :func:`_taken_together` (and 64 times as many shapes times the earlier
#: rules that could take them); a rule of more is checked against one earlier rule at a time.
MOST_SHAPES = 4096

_ELSE = object()  # an event, event code or sender that no rule names


def _kinds_of_value(allowed: tuple[Any, ...], named: list[Any], other: Any) -> tuple[Any, ...]:
    """One value of each kind a block may hold in one condition, as the rules see it.

    The values the rules name are told apart; all others are alike to every rule, so one of
    them stands for the rest. ``allowed``: the values the later rule allows (empty: any,
    and ``other`` stands for those no rule names).
    """
    seen = dict.fromkeys(named)
    if not allowed:
        return (*seen, other)
    rest = [v for v in allowed if v not in seen]
    return (*(v for v in allowed if v in seen), *rest[:1])


def _taken_together(
    earlier: list[tuple[int, RecognitionRule]], later: RecognitionRule
) -> list[int] | None:
    """The earlier rules that take the alerts ``later`` matches, if they take every one.

    Empty when some alert ``later`` matches is matched by no earlier rule (``later``
    applies to it); else the earlier rules that match first some alert ``later`` matches, by
    index in ``earlier``. None when there are more blocks to try than :data:`MOST_SHAPES`
    allows.

    A block ``later`` matches has one of its events (any event, when it names none), a
    category among its categories (a block has at least one), one of its event codes (any or
    none, when it names none) and one of its senders (any, when it names none). Which rules a
    block meets depends only on which of the values rules name it has (:func:`_kinds_of_value`).
    Whether every such block is taken, blocks of one category and at most one event code
    settle: a block carrying more meets every rule the part of it ``later`` needs meets. Which
    rule takes it does not: a block may carry a second category or event code that ``later``
    does not ask for but an earlier rule of another kind does (a ``Met`` and ``Fire`` block
    taken by a ``Fire`` rule before a ``Met`` one). The rule that takes a block also takes the
    block of only the value ``later`` needs and the one the taker needs, in each of the two
    conditions, so the takers are found among blocks of at most two categories and two event
    codes (:func:`_first_takers`).
    """
    events, categories = frozenset(later.events), later.categories
    codes, senders = frozenset(later.event_codes), later.senders

    def some(theirs: Any, mine: frozenset[Any]) -> bool:
        return not theirs or not mine or not mine.isdisjoint(theirs)

    # Only a rule that meets what ``later`` requires, each condition by some value, can take
    # a block of one category and code: usually a few, so the blocks are tried against those.
    strict = [
        (k, rule)
        for k, (_, rule) in enumerate(earlier)
        if some(rule.events, events)
        and some(rule.categories, categories)
        and some(rule.event_codes, codes)
        and some(rule.senders, senders)
    ]
    takers = _first_takers(strict, later, MOST_SHAPES, second=False)
    if not takers:  # some block is left to ``later`` (or too many to try)
        return takers
    if any(earlier[k][1].kind != later.kind for k in takers):
        return takers  # another kind takes some of its alerts already: it is refused
    # A block has one event and the alert one sender, but may carry several categories and
    # event codes: a rule asking for others than ``later`` does takes one that carries both.
    # It comes before the rule that takes the block of only what ``later`` needs (which meets
    # this block too), so no later one than those is tried.
    loose = [
        (k, rule)
        for k, (_, rule) in enumerate(earlier[: takers[-1] + 1])
        if some(rule.events, events) and some(rule.senders, senders)
    ]
    wider = _first_takers(loose, later, MOST_SHAPES * 16, second=True)
    return takers if wider is None else wider


def _first_takers(
    candidates: list[tuple[int, RecognitionRule]],
    later: RecognitionRule,
    most: int,
    *,
    second: bool,
) -> list[int] | None:
    """The candidates that first meet some block ``later`` matches, by index in ``earlier``.

    Empty when a block meets none; None past ``most`` blocks. ``second``: the blocks carry,
    beside a category and an event code ``later`` takes (or no code, where it names none), a
    second category and code (or none) that a candidate names.
    """
    from geotarget.alerts._values import Category

    named = [rule for _, rule in candidates]
    named_categories = [c for r in named for c in sorted(r.categories)]
    named_codes = [c for r in named for c in r.event_codes]
    events = _kinds_of_value(later.events, [e for r in named for e in r.events], _ELSE)
    categories = _kinds_of_value(tuple(later.categories or Category), named_categories, None)
    codes = _kinds_of_value(later.event_codes, named_codes, None)
    senders = _kinds_of_value(
        tuple(sorted(later.senders)), [s for r in named for s in sorted(r.senders)], _ELSE
    )
    size = (len(candidates) + 7) // 8

    def bits(positions: list[int]) -> int:
        """An int with these bits set, built in one pass (``|=`` would copy it each time)."""
        mask = bytearray(size)
        for k in positions:
            mask[k >> 3] |= 1 << (k & 7)
        return int.from_bytes(mask, "little")

    def accepting(values: tuple[Any, ...], condition: Any) -> list[int]:
        """Per value, the candidates whose ``condition`` it meets, as the bits of an int."""
        anything: list[int] = []
        by_value: dict[Any, list[int]] = {}
        for k, (_, rule) in enumerate(candidates):
            wanted = condition(rule)
            if not wanted:
                anything.append(k)
            for v in wanted:
                by_value.setdefault(v, []).append(k)
        every = bits(anything)
        return [every | bits(by_value[v]) if v in by_value else every for v in values]

    def with_second(firsts: list[int], values: list[Any], condition: Any) -> list[int]:
        """Each first value's set, joined with each named value's (a block meets either's)."""
        if not second:
            return firsts
        extra = accepting(tuple(dict.fromkeys(values)), condition)
        return list(dict.fromkeys(a | b for a in firsts for b in (0, *extra)))

    masks = [
        accepting(events, lambda r: r.events),
        with_second(
            accepting(categories, lambda r: r.categories), named_categories, lambda r: r.categories
        ),
        with_second(
            accepting(codes, lambda r: r.event_codes), named_codes, lambda r: r.event_codes
        ),
        accepting(senders, lambda r: r.senders),
    ]
    shapes = len(masks[0]) * len(masks[1]) * len(masks[2]) * len(masks[3])
    if shapes > most or shapes * len(candidates) > most * 64:
        return None
    # The first candidate a block meets is the lowest bit its four conditions' sets share:
    # a few big-integer operations a block, not a walk through the candidates.
    takers: set[int] = set()
    for e, c, k, s in itertools.product(*masks):
        both = e & c & k & s
        if not both:
            return []
        takers.add(candidates[(both & -both).bit_length() - 1][0])
    return sorted(takers)


def location_rules(data: Mapping[str, Any]) -> dict[str, KindRules]:
    """The ``location_rules`` table as rules per kind name (empty when absent)."""
    from geotarget.alerts._values import KIND_NAME, KIND_NAME_RULE

    _document(data, LOCATION_RULES)
    twice = _duplicates(data, "location_rules")
    raw = data.get("location_rules", {})
    if not isinstance(raw, Mapping):
        raise InvalidPolicy(
            [
                *twice,
                Problem(
                    "location_rules",
                    f"must be a table of [location_rules.<kind>] tables (got {type(raw).__name__})",
                ),
            ],
            what=LOCATION_RULES,
        )
    problems: list[Problem] = twice
    found: dict[str, KindRules] = {}
    for kind, table in raw.items():
        if not isinstance(kind, str):  # (a dict from Python; TOML and JSON keys are text)
            problems.append(
                Problem(f"location_rules.{kind!r}", f"must be keyed by a kind name (got {kind!r})")
            )
            continue
        path = _io.key_path("location_rules", kind)  # as the rollout's paths show it
        if not KIND_NAME.fullmatch(kind):
            problems.append(
                Problem(
                    path, f"must be keyed by a kind name: {KIND_NAME_RULE} (got {_io.brief(kind)})"
                )
            )
            continue
        rules, more = rules_from_table(table, path)
        problems += more
        if rules is not None:
            found[kind] = rules
    if problems:
        raise InvalidPolicy(problems, what=LOCATION_RULES)
    return found


def _certificate(text: object, base: Path, path: str) -> str:
    if not isinstance(text, str):
        raise InvalidPolicy(
            [Problem(path, f"must be a PEM text or a file path (got {_io.brief(text)})")]
        )
    if "-----BEGIN" in text:
        return text
    file = base / text
    # A name as long as a file name may be is shown whole; a longer text pasted where a path
    # goes (a certificate cut off from its BEGIN line) only by its start.
    shown = str(file) if len(text) <= 255 else _io.brief(text)
    try:
        data = _io.read_file(file, f"certificate file {shown}", MAX_BYTES)
    except InvalidPolicy as err:  # missing, unreadable or too large: at the entry's path
        raise InvalidPolicy([Problem(path, p.message) for p in err.problems]) from None
    data = data.removeprefix(b"\xef\xbb\xbf")  # a BOM, as a Windows editor saves text
    try:
        pem = data.decode("ascii")
    except UnicodeDecodeError as err:
        raise InvalidPolicy([Problem(path, _not_pem_text(data, err.start, shown))]) from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        # At the entry's own path, and without the file's content (it may be anything: a
        # private key or a password file named by mistake).
        raise InvalidPolicy(
            [
                Problem(
                    path,
                    f"certificate file {shown} holds no PEM certificate ('-----BEGIN "
                    f"CERTIFICATE-----' not found in its {len(pem):,} characters)",
                )
            ]
        )
    return pem


def _not_pem_text(data: bytes, start: int, shown: str) -> str:
    """Why a certificate file whose byte ``start`` is not ASCII is no PEM text.

    A DER certificate (binary: an ASN.1 SEQUENCE, byte 0x30 then its length) is named as such,
    with the command that writes it as PEM.
    """
    if data[:1] == b"\x30" and data[1:2] in (b"\x81", b"\x82", b"\x83"):
        return (
            f"certificate file {shown} holds binary data, not PEM text: a DER certificate? "
            f"Write it as PEM with: openssl x509 -inform der -in {shown} -out cert.pem"
        )
    return (
        f"certificate file {shown} is not PEM text: byte {data[start]:#04x} at offset {start} "
        "is not ASCII (PEM certificates are ASCII text starting '-----BEGIN CERTIFICATE-----')"
    )


def _texts(value: object) -> frozenset[str]:
    """The str items of a list, as a set (the others are reported at their own path)."""
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


_NOT_TEXT = re.compile(r"regions\[(\d+)\] must be a region code string ")


def _with_codes(
    problems: list[Problem], fields: Mapping[str, Any], path: str, catalog: Any
) -> list[Problem]:
    """``problems`` with a region code written as a number hinted by the ``catalog``'s codes.

    Without the catalog, ``regions = [14]`` can only guess ``"14", or "014"?``; with it, the
    hint names the code that exists (``"14"``, or ``"0180"`` for ``180``).
    """
    regions = fields.get("regions")
    if catalog is None or not isinstance(regions, list):
        return problems
    out = []
    for p in problems:
        m = _NOT_TEXT.match(p.message) if p.path == f"{path}.regions" else None
        if m is not None and int(m.group(1)) < len(regions):
            k = int(m.group(1))
            p = Problem(p.path, f"regions[{k}] {_io.not_a_code_text(regions[k], catalog)}")
        out.append(p)
    return out


#: What an operator writes for "every sender" besides "any" (case and spaces aside).
_ANY_WORDS = frozenset({"any", "all", "*", "anyone", "everyone", "alla"})


def issuers(data: Mapping[str, Any], base: str | os.PathLike[str], catalog: Any = None) -> Issuers:
    """The ``issuers`` entry as :class:`Issuers`; a document without one is an error.

    Every problem at once: an entry's own fields, what the entries break together (a name
    or a sender given twice, ``acts_for`` naming no issuer) and, with a ``catalog``, region
    codes it does not know — those of the entries that could be read too, so that an
    operator does not fix one kind of problem per run.
    """
    _document(data, ISSUERS)
    twice = _duplicates(data, "issuers")
    if "issuers" not in data:
        raise InvalidPolicy(
            [
                Problem(
                    "issuers",
                    'missing: declare the issuers table, or issuers = "any" to accept every '
                    "sender (never assumed)",
                )
            ],
            what=ISSUERS,
        )
    if data["issuers"] == "any":
        if twice:
            raise InvalidPolicy(twice, what=ISSUERS)
        return Issuers.any()
    raw, problems = _table_array(data, "issuers")
    if problems:
        given = data["issuers"]
        meant = isinstance(given, str) and given.strip().casefold() in _ANY_WORDS
        problems[0] = Problem(
            "issuers",
            problems[0].message.replace(
                "must be an array of tables", 'must be "any" or an array of issuer tables', 1
            )
            + ('; to accept every sender write issuers = "any", in lower case' if meant else ""),
        )
    elif not raw:  # (JSON's "issuers": [], a generator's empty list): nobody could send
        problems.append(
            Problem(
                "issuers",
                "must name at least one issuer: an empty table lets no sender alert anybody; "
                'write issuers = "any" to accept every sender',
            )
        )
    problems[:0] = twice
    found = []
    for path, entry, bad in _entries(raw, "issuers", _ISSUER_KEYS, problems):
        before = len(problems)
        fields = {k: v for k, v in entry.items() if k not in ("signature", "certificates")}
        signature = entry.get("signature", "optional")
        if signature not in ("required", "optional"):
            problems.append(
                Problem(
                    f"{path}.signature",
                    f'must be "required" or "optional" (got {_io.brief(signature)})',
                )
            )
        certs_raw = entry.get("certificates", [])
        certs = []
        if not isinstance(certs_raw, list):
            problems.append(
                Problem(f"{path}.certificates", _not_an_array(certs_raw, "PEM texts or file paths"))
            )
        else:
            for j, c in enumerate(certs_raw):
                try:
                    certs.append(_certificate(c, Path(base), f"{path}.certificates[{j}]"))
                except InvalidPolicy as err:
                    problems += err.problems
        problems += _with_codes(_field_problems(Issuer, fields, path), fields, path, catalog)
        problems += _required(entry, path, _ISSUER_KEYS[:4], _ISSUER_KEYS, _ISSUER_KEYS[1:4])
        if signature == "required" and isinstance(certs_raw, list) and not certs_raw:
            problems.append(
                Problem(
                    f"{path}.signature",
                    '"required" needs at least one pinned certificate in certificates (got none)',
                )
            )
        if bad or len(problems) > before:
            continue
        try:
            found.append(
                Issuer(**fields, signature_required=signature == "required", certificates=certs)
            )
        except GeotargetError as err:
            problems.append(Problem(path, str(err)))
    entries = [(i, e) for i, e in enumerate(raw) if isinstance(e, Mapping)]
    table = None
    if problems:  # the entries that were read are still compared with each other
        rows = [
            (
                i,
                e["name"] if isinstance(e.get("name"), str) else None,
                _texts(e.get("senders")),
                _texts(e.get("acts_for")),
            )
            for i, e in entries
        ]
        problems += table_problems(rows)
    else:
        try:
            table = Issuers(found)
        except InvalidPolicy as err:
            problems += err.problems
    if catalog is not None:
        exists, hint = catalog_checks(catalog)
        for i, e in entries:
            problems += region_problems(i, _texts(e.get("regions")), exists, hint)
    else:  # a text no code is written as, in the rollout reader's words (the catalog's else)
        problems += [
            Problem(f"issuers[{i}].regions", _rollout._malformed_code(code))
            for i, e in entries
            for code in sorted(_texts(e.get("regions")))
            if _rollout._malformed_code(code)
        ]
    if problems:
        raise InvalidPolicy(problems, what=ISSUERS)
    assert table is not None
    return table
