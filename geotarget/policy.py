"""The policy file: one TOML or JSON file an operator edits, read at once into its four parts.

A policy file holds the **rollout** (``kinds``, ``timezone``...:
:class:`~geotarget.rollout.RolloutPolicy`), the **recognition rules** (``[[recognition]]``:
:class:`~geotarget.kinds.Recognizer`), the **issuers** (``[[issuers]]`` or ``issuers = "any"``:
:class:`~geotarget.issuers.Issuers`) and the **location rules** (``[location_rules.<kind>]``:
:func:`~geotarget.kinds.location_rules_from_dict`). :func:`load_policy` reads the file once,
parses it once and builds all four with those readers' own rules, listing every problem of
every part in one :class:`~geotarget.errors.InvalidPolicy`; nothing is returned from a file
with a problem. ``docs/examples/pilot_policy.toml`` is an example.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from geotarget import _policy_sections
from geotarget._kind_rules import meant_kind
from geotarget._validate import ReadOnly
from geotarget.errors import InvalidPolicy, InvalidType, Problem
from geotarget.issuers import Issuers
from geotarget.kinds import Recognizer, location_rules_from_dict
from geotarget.rollout import RolloutPolicy, _io

if TYPE_CHECKING:
    from geotarget.rollout import RegionCatalog
    from geotarget.targeting import KindRules

__all__ = ["PolicyFile", "load_policy"]


def __dir__() -> list[str]:
    return __all__


#: The format of a policy file, by its suffix (any case).
_FORMATS = {".toml": "TOML", ".json": "JSON"}

_T = TypeVar("_T")


def _frozen_rules(rules: Mapping[str, KindRules]) -> Mapping[str, KindRules]:
    if not isinstance(rules, Mapping):
        raise InvalidType(
            "location_rules must be a mapping of kind name to KindRules "
            f"(got {type(rules).__name__})"
        )
    return ReadOnly(rules)


@attrs.frozen
class PolicyFile:
    """What one policy file says, read by :func:`load_policy`: pass its parts to a Targeter.

    .. versionadded:: 0.1.0

    Attributes
    ----------
    rollout : RolloutPolicy
        Which kinds are enabled where, from when.
    recognition : Recognizer
        The file's ``[[recognition]]`` rules, then (by default) the pilot's
        (:data:`geotarget.pilot.RECOGNITION`).
    issuers : Issuers or None
        Who may issue which kinds where. None only when the file has no ``issuers`` entry and
        :func:`load_policy` was told it is not required (then a
        :class:`~geotarget.targeting.Targeter` given None accepts every sender).
    location_rules : mapping of str to KindRules
        The ``[location_rules.<kind>]`` tables per kind name, in file order (read-only).

    Examples
    --------
    >>> from pathlib import Path
    >>> from geotarget import Targeter, load_policy, sweden
    >>> policy = load_policy(Path("docs/examples/pilot_policy.toml"))
    >>> sorted(r.kind for r in policy.rollout.rollouts)
    ['crime_modus', 'explosion', 'tip_request']
    >>> targeter = Targeter(sweden.hierarchy(), policy.rollout,
    ...                     recognition=policy.recognition, issuers=policy.issuers,
    ...                     location_rules=policy.location_rules)
    """

    rollout: RolloutPolicy
    recognition: Recognizer
    issuers: Issuers | None
    location_rules: Mapping[str, KindRules] = attrs.field(converter=_frozen_rules)

    # A mapping proxy is not hashable: ``location_rules`` is hashed as its items, so a
    # PolicyFile is hashable (equal files, equal hashes), as a frozen attrs class promises.

    def __hash__(self) -> int:
        rules = tuple(self.location_rules.items())
        return hash((self.rollout, self.recognition, self.issuers, rules))

    def __attrs_post_init__(self) -> None:
        from geotarget.targeting import KindRules

        wanted: list[tuple[str, object, type | tuple[type, ...]]] = [
            ("rollout", self.rollout, RolloutPolicy),
            ("recognition", self.recognition, Recognizer),
            ("issuers", self.issuers, (Issuers, type(None))),
        ]
        wanted += [(f"location_rules[{k!r}]", v, KindRules) for k, v in self.location_rules.items()]
        for name, value, kind in wanted:
            if not isinstance(value, kind):
                raise InvalidType(f"{name} must be {_names(kind)} (got {type(value).__name__})")


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("None" if k is type(None) else k.__name__ for k in kinds)


def load_policy(
    path: str | os.PathLike[str],
    *,
    catalog: RegionCatalog | None = None,
    issuers_required: bool = True,
    pilot_recognition: bool | None = None,
) -> PolicyFile:
    """Read a policy file — rollout, recognition rules, issuers, location rules — at once.

    The file is read once (at most 4 MiB, UTF-8, a BOM is fine) and parsed once: TOML for a
    ``.toml`` suffix, JSON for ``.json`` (any case; other suffixes are refused, never guessed).
    Each part is then built by its own reader with that reader's rules
    (:meth:`RolloutPolicy.from_dict <geotarget.rollout.RolloutPolicy.from_dict>`,
    :meth:`Recognizer.from_dict <geotarget.kinds.Recognizer.from_dict>`,
    :meth:`Issuers.from_dict <geotarget.issuers.Issuers.from_dict>` with certificate paths
    relative to the file's directory, :func:`~geotarget.kinds.location_rules_from_dict`), so
    the result equals what the four ``from_toml``/``from_json`` readers give for the same file.
    Unlike calling them one by one, the problems of every part are listed together.

    .. versionadded:: 0.1.0

    Parameters
    ----------
    path : str or path-like
        The policy file. Here a ``str`` is a file name (the ``from_toml`` readers read a ``str``
        as the document itself).
    catalog : RegionCatalog, optional
        The regions (e.g. :func:`geotarget.sweden.hierarchy`): region codes of the rollout and
        of the issuers that it does not know are problems too. Without it they are checked
        when a :class:`~geotarget.targeting.Targeter` is built.
    issuers_required : bool, default True
        A file without an ``issuers`` entry is refused (write ``issuers = "any"`` to accept
        every sender: it is never assumed). When false, such a file gives ``issuers`` None —
        for tools that do not decide who may send, such as a preview.
    pilot_recognition : bool, optional
        Rank the pilot's recognition rules (:data:`geotarget.pilot.RECOGNITION`) after the
        file's, as the integrator's guide recommends for the Swedish pilot; when false, only
        the file's. By default, only for a policy of Sweden (its ``country`` is ``"SE"``, the
        default): the pilot's kinds live with Sweden, and a policy of another country
        recognises only the kinds it declares (not Sweden's Explosion, which its issuers
        could then only be refused).

    Returns
    -------
    PolicyFile
        The four parts.

    Raises
    ------
    InvalidPolicy
        The file is missing, a directory, unreadable, larger than 4 MiB, not UTF-8, not valid
        TOML or JSON (each naming the file), or its suffix is neither ``.toml`` nor ``.json``;
        or listing every problem of its parts, each with its path
        (``kinds.tip_request.phases[2].regions``, ``issuers``, ``location_rules.fire.stale``),
        and a ``[location_rules.<kind>]`` table of a kind that no other part of the file names
        — not the rollout, no recognition rule, no issuer — whose rules apply to no alert (a
        kind's name mistyped: the kind meant would keep the pilot's rules); and, in the
        Targeter's words, what a :class:`~geotarget.targeting.Targeter` built of the parts
        would refuse: a kind of the rollout, of a recognition rule or of an issuer without
        location rules (``kinds.tip_reqest``: "did you mean 'tip_request'?"), a recognition
        rule's sender that is no issuer's or whose issuer may not issue the rule's kind, and
        a pinned certificate that verifies nothing. Region codes are checked only with
        ``catalog``.
    InvalidType
        When ``path`` is not a ``str`` or path-like, or a flag is not a bool.
    MissingExtra
        For a TOML file on Python 3.10 without ``tomli`` (the ``toml`` extra).

    Examples
    --------
    >>> from pathlib import Path
    >>> policy = load_policy(Path("docs/examples/pilot_policy.toml"))
    >>> [rule.name for rule in policy.recognition.rules][:2]  # the file's rules first
    ['sos:explosion-code', 'fi:explosion']
    >>> [issuer.name for issuer in policy.issuers.issuers][:2]
    ['polisen-nationellt', 'polisen-stockholm']
    >>> sorted(policy.location_rules)
    ['crime_modus', 'explosion', 'tip_request']
    >>> load_policy(Path("docs/examples/pilot_policy.yaml"))
    Traceback (most recent call last):
    ...
    geotarget.errors.InvalidPolicy: policy file 'docs/examples/pilot_policy.yaml' has 1 problem:
      - its name must end in .toml or .json (got '.yaml')
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidType(
            f"path must be a file path (str or pathlib.Path) (got {type(path).__name__})"
        )
    for name, flag, default in (
        ("issuers_required", issuers_required, ""),
        ("pilot_recognition", pilot_recognition, " or None (by the policy's country)"),
    ):
        if not isinstance(flag, bool) and not (default and flag is None):
            raise InvalidType(
                f"{name} must be True or False{default} (got {type(flag).__name__} {flag!r})"
            )
    file = Path(path)
    data = _document(file)
    if pilot_recognition is None:
        pilot_recognition = data.get("country", "SE") == "SE"
    problems: list[Problem] = []

    def part(read: Callable[[], _T]) -> _T | None:
        try:
            return read()
        except InvalidPolicy as err:
            problems.extend(err.problems)
            return None

    rollout = part(lambda: RolloutPolicy.from_dict(data, catalog))
    recognition = part(lambda: Recognizer.from_dict(data))
    issuers = None
    if issuers_required or "issuers" in data:
        issuers = part(lambda: Issuers.from_dict(data, base=file.parent, catalog=catalog))
    location_rules = part(lambda: location_rules_from_dict(data))
    if pilot_recognition and recognition is not None:
        from geotarget import pilot

        recognition = recognition + pilot.RECOGNITION
    kinds = _kinds_named(data, rollout, recognition, issuers, pilot_recognition)
    if location_rules is not None and kinds is not None:
        problems += _unused_rules(location_rules, *kinds)
    if rollout is not None and recognition is not None and location_rules is not None:
        problems += _targeter_problems(rollout, recognition, issuers, location_rules)
    if problems:  # a top-level key given twice is the rollout's problem and its section's
        raise InvalidPolicy(list(dict.fromkeys(problems)), what=_what(file))
    assert rollout is not None and recognition is not None and location_rules is not None
    return PolicyFile(rollout, recognition, issuers, location_rules)


def _raw_kinds(value: object, key: str) -> set[str]:
    """The kind names the entries of a section that could not be read write under ``key``."""
    if not isinstance(value, list):
        return set()
    out: set[str] = set()
    for entry in value:
        named = entry.get(key) if isinstance(entry, Mapping) else None
        out |= {named} if isinstance(named, str) else set()
        out |= {k for k in named if isinstance(k, str)} if isinstance(named, list) else set()
    return out


def _kinds_named(
    data: Mapping[str, Any],
    rollout: RolloutPolicy | None,
    recognition: Recognizer | None,
    issuers: Issuers | None,
    pilot_recognition: bool,
) -> tuple[tuple[str, ...], set[str]] | None:
    """The rollout's kinds, and the kinds any part names besides the location rules.

    From each part as read; from what a part that could not be read writes, so that a
    mistyped table is named beside that part's problems (never wrongly: more names only
    keep more tables). None when the rollout names no kinds to compare with.
    """
    raw = data.get("kinds")
    if rollout is not None:
        rollout_kinds = rollout.kinds
    elif isinstance(raw, Mapping):
        rollout_kinds = tuple(sorted(k for k in raw if isinstance(k, str)))
    else:  # no kinds to compare with: the rollout's own problem says so
        return None
    named = set(rollout_kinds)
    if recognition is not None:
        named |= {rule.kind for rule in recognition.rules}
    else:
        from geotarget import pilot

        named |= _raw_kinds(data.get("recognition"), "kind")
        named |= {rule.kind for rule in pilot.RECOGNITION.rules} if pilot_recognition else set()
    if issuers is not None:
        named |= {kind for issuer in issuers.issuers for kind in issuer.kinds}
    else:  # not read, or not there
        named |= _raw_kinds(data.get("issuers"), "kinds")
    return rollout_kinds, named


def _unused_rules(
    location_rules: Mapping[str, KindRules], rollout_kinds: tuple[str, ...], named: set[str]
) -> list[Problem]:
    """A problem for each ``[location_rules.<kind>]`` table of a kind no other part names.

    Its rules could apply to no alert: the rollout denies every kind it does not name, and
    no recognition rule recognises the kind nor may any issuer issue it. Such a table is a
    kind's name mistyped (``tip_requests``), and the kind meant silently keeps the pilot's
    rules (a Targeter gives a kind without a table :data:`geotarget.pilot.KIND_RULES`), or
    a kind not yet rolled out that nothing else names either. A table of a kind some part
    names, not the rollout yet, is a kind prepared before its rollout: kept.
    """
    problems = []
    for kind in location_rules:
        if kind in named:
            continue
        meant = meant_kind(kind, rollout_kinds, location_rules, "has no table")
        problems.append(
            Problem(
                f"location_rules.{kind}",
                f"no other part of the file names kind {kind!r}: the rollout does not (its "
                f"kinds: {', '.join(rollout_kinds) or 'none'}), no recognition rule "
                f"recognises it and no issuer may issue it, so these rules apply to no "
                f"alert{meant}; name the kind in the rollout ([kinds.{kind}]), or correct "
                "or remove the table",
            )
        )
    return problems


def _targeter_problems(
    rollout: RolloutPolicy,
    recognition: Recognizer,
    issuers: Issuers | None,
    location_rules: Mapping[str, KindRules],
) -> list[Problem]:
    """What a Targeter built of these parts would refuse, at the file's paths.

    The Targeter's own checks (:func:`geotarget._intake.config_problems`): kinds of the
    rollout, of recognition rules and of issuers without location rules (a kind's name
    mistyped is named with the kind meant), recognition rules' senders that are no issuer's
    or whose issuer may not issue the rule's kind, and pinned certificates that verify
    nothing. The Targeter's paths of the rollout (``policy.kinds.x``) are the file's
    (``kinds.x``); its problems of ``location_rules`` keys are left to :func:`_unused_rules`,
    which refuses more.
    """
    from geotarget import pilot
    from geotarget._intake import config_problems
    from geotarget.targeting import KindRules

    found, _ = config_problems(
        None,  # (region codes: checked by the readers against the catalog, if given)
        rollout.kinds,
        recognition,
        Issuers.any() if issuers is None else issuers,
        location_rules,
        pilot.KIND_RULES,
        KindRules,
    )
    return [
        Problem(p.path.removeprefix("policy."), p.message)
        for p in found
        if not p.path.startswith("location_rules[")
    ]


def _what(file: Path) -> str:
    return f"policy file {str(file)!r}"


def _refused(file: Path, message: str) -> InvalidPolicy:
    return InvalidPolicy([Problem("", message)], what=_what(file))


def _document(file: Path) -> Mapping[str, Any]:
    """The file's document as plain data: read once, decoded once, parsed once."""
    where = f"the policy file {str(file)!r}"
    try:
        is_dir = file.is_dir()
    except (OSError, ValueError) as err:  # a folder on the way that may not be looked into
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise _refused(file, f"cannot read it: {reason}") from None
    if is_dir:
        raise _refused(file, "cannot read it: it is a directory, not a file")
    # By the end of the name: a hidden file ``.toml`` has no suffix to pathlib, but ends so.
    fmt = next((f for end, f in _FORMATS.items() if file.name.lower().endswith(end)), None)
    if fmt is None:
        # "-" is standard input to the command's --alert and --positions, not to a policy,
        # which names files beside it (certificates) relative to its own place.
        stdin = (
            "; a policy is read from a file, not from standard input" if str(file) == "-" else ""
        )
        raise _refused(
            file,
            f"its name must end in .toml or .json (got {file.suffix or 'no suffix'!r}){stdin}",
        )
    try:
        raw = _io.read_file(file, "it", _policy_sections.MAX_BYTES)
        text = _io.decode(raw, where)
        data = _io.document(text, fmt, reader="load_policy()", hint=f" ({where})")
    except InvalidPolicy as err:  # the same problems, under the file's name
        raise InvalidPolicy(err.problems, what=_what(file)) from None
    if not isinstance(data, Mapping):
        raise _refused(file, f"a policy must be a table of keys (got {type(data).__name__})")
    return data
