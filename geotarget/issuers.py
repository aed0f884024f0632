"""Who may alert whom, where: the issuers a policy trusts, and what each may issue.

An :class:`Issuer` is a set of CAP ``<sender>`` values that act as one authority (a police
region, the national police, SOS Alarm). It may issue the kinds it names, within the regions it
names, may act (Update, Cancel) for the issuers it names, and may be required to sign its
alerts with a pinned certificate. :class:`Issuers` is the policy's table of them; a
:class:`~geotarget.targeting.Targeter` checks every message against it. The rules (the
contract, tested against a brute-force check):

* **Unknown sender.** A message whose ``sender`` belongs to no issuer reaches nobody
  (``Verdict.UNKNOWN_ISSUER``) and changes nothing — unless the table is :meth:`Issuers.any`,
  which a policy must declare explicitly (``issuers = "any"``): a policy file without an
  issuers table is an error, never a silent "anyone".
* **Kind.** An Alert or Update of a kind the issuer does not name reaches nobody
  (``Verdict.NOT_AUTHORISED``).
* **Region.** An Alert or Update may reach only the issuer's territory: every finest region of
  the hierarchy whose *interior* the alert area's interior meets (a shared border alone does
  not count) must lie within one of the issuer's regions; otherwise it reaches nobody
  (``Verdict.NOT_AUTHORISED``, naming the regions outside). A circle reaches a region iff the
  region is nearer to its centre than its radius (geodesic, as devices are matched, within a
  millimetre). A region the area reaches by no more than the Targeter's ``border_slack_m``
  (25 m by default) past the issuer's regions is not counted: the alert is sent, and nobody
  in that sliver is told. With ``border_slack_m=0`` a rim crossing a border by centimetres
  reaches the region beyond, whatever the circle's size. Parts of the area in no region
  (abroad, the open sea) do not count: whether devices there are told is the kind's
  ``beyond_border`` rule. An issuer naming the country code may alert anywhere.
* **Updates and Cancels** must come from the incident's issuer sender, or from a sender whose
  issuer ``acts_for`` the incident's issuer, and carry the incident's status; otherwise
  ``Verdict.NOT_AUTHORISED`` and nothing changes. (With :meth:`Issuers.any`, only the
  incident's own sender.)
* **Signatures.** An issuer with ``signature_required`` sends only signed documents; the
  intake :meth:`~geotarget.targeting.Targeter.receive` verifies them against its pinned
  certificates and refuses (``Verdict.BAD_SIGNATURE``) a missing or bad signature;
  :meth:`~geotarget.targeting.Targeter.target` and ``preview``, which get no bytes to verify,
  refuse a version of such an issuer the store does not hold yet.

The table is validated against the regions when a ``Targeter`` is built: unknown region codes,
kinds no recognition rule or rollout knows, ``acts_for`` naming no issuer — every problem is
listed with its path (``issuers[1].regions``).

Examples
--------
>>> from geotarget.issuers import Issuer, Issuers
>>> table = Issuers([
...     Issuer(name="national", senders=["polisen@polisen.se"],
...            kinds=["explosion", "crime_modus", "tip_request"], regions=["SE"]),
...     Issuer(name="stockholm", senders=["stockholm@polisen.se"],
...            kinds=["crime_modus", "tip_request"], regions=["01"], acts_for=[]),
... ])
>>> table.issuer_of("stockholm@polisen.se").name, table.issuer_of("x@example.se")
('stockholm', None)
>>> table.may_act_for("polisen@polisen.se", "stockholm@polisen.se")
False

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from geotarget._kind_rules import misspelt_kind
from geotarget._validate import iterable
from geotarget.alerts._values import check_cap_id
from geotarget.errors import GeotargetError, InvalidInput, InvalidPolicy, InvalidType, Problem
from geotarget.kinds import check_kind_name, mixed_script, name_hint
from geotarget.kinds import sender_key as sender_key  # (its home was here)
from geotarget.rollout import _several
from geotarget.rollout._io import (
    MOST_CODES,
    brief,
    knows,
    more_codes,
    not_a_code_text,
    unknown_hint,
    zero_lost_hint,
)

#: What the issuers section's :class:`~geotarget.errors.InvalidPolicy` names.
_ISSUERS_WHAT = "issuers section"

__all__ = ["Issuer", "Issuers"]


def __dir__() -> list[str]:
    return __all__


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}")
_NAME_RULE = "1 to 64 ASCII letters, digits, '_', '.', ':' or '-', starting with a letter or digit"


def _listed(field: str, value: object) -> list[str]:
    """``value`` as a list of str, in order, or InvalidType naming ``field`` and the item."""
    # A mapping (a TOML table, a JSON object) is refused, not walked by its keys: read so,
    # regions = { "01" = true, "SE" = false } would let the issuer alert all of Sweden.
    if isinstance(value, (str, bytes, Mapping)) or not iterable(value):
        what = "a table" if isinstance(value, Mapping) else type(value).__name__
        raise InvalidType(f"{field} must be a list of str (got {what} {brief(value)})")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidType(
                f"{field}[{i}] must be a str (got {type(item).__name__} {brief(item)})"
            )
    return items


def _sender_text(field: str, value: object) -> None:
    """InvalidType naming ``field`` when ``value`` is not a sender's text (a ``str``)."""
    if not isinstance(value, str):
        raise InvalidType(
            f"{field} must be a CAP sender as a str (got {type(value).__name__} {brief(value)})"
        )


def _names(field: str, value: object) -> frozenset[str]:
    return frozenset(_listed(field, value))


def _senders(value: object) -> frozenset[str]:
    items = _listed("senders", value)
    bad = []
    for i, s in enumerate(items):
        try:
            check_cap_id(f"senders[{i}]", s)
        except GeotargetError as err:
            bad.append(str(err))
    if bad:  # every one, in the order given
        raise InvalidInput(
            f"senders must be CAP senders, as a document's <sender> can be written: "
            f"{'; '.join(bad)}; no document could carry such a sender, so the issuer would "
            "never match it"
        )
    lookalikes = [m for i, s in enumerate(items) if (m := mixed_script(f"senders[{i}]", s))]
    if lookalikes:  # a document could carry it, but it is not the address the operator meant
        raise InvalidInput("; ".join(lookalikes))
    wild = [f"senders[{i}] {brief(s)}" for i, s in enumerate(items) if "*" in s]
    if wild:  # a document could carry it, but an operator who wrote it meant a pattern
        raise InvalidInput(
            f"senders must not contain '*' (got {', '.join(wild)}): senders compare exactly, "
            'with no wildcards; to accept every sender, write issuers = "any" (Issuers.any())'
        )
    return frozenset(items)


def _kinds(value: object) -> frozenset[str]:
    # Each as a plain str (the deprecated AlertKind member as its name, as Kind keeps it),
    # a bad one named by its index in the list given.
    return frozenset(
        check_kind_name(f"kinds[{i}]", k) for i, k in enumerate(_listed("kinds", value))
    )


def _regions(value: object) -> frozenset[str]:
    if isinstance(value, list):  # a code written as a number (180): say it is text
        for k, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidType(f"regions[{k}] {not_a_code_text(item)}")
    return _names("regions", value)


def _acts_for(value: object) -> frozenset[str]:
    return _names("acts_for", value)


def _pem_shown(item: object) -> str:
    """What a refusal shows of a text that is not a PEM certificate: never its content.

    A private key or a password file pasted where a certificate goes must not reach a log:
    only a PEM block's label line, else the value's type and length.
    """
    text = item.decode("ascii", "replace") if isinstance(item, bytes) else item
    if not isinstance(text, str):
        return brief(item)
    first = text.lstrip().split("\n", 1)[0].strip()
    if first.startswith("-----BEGIN ") and first.endswith("-----") and len(first) <= 80:
        return f"a PEM block {first!r}"
    return f"{type(item).__name__} of {len(text):,} characters, with no PEM block"


def _pems(value: object) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        value = [value]
    if isinstance(value, Mapping) or not iterable(value):
        raise InvalidType(f"certificates must be a list of PEM texts (got {brief(value)})")
    out = []
    for i, item in enumerate(value):
        text = item.decode("ascii", "replace") if isinstance(item, bytes) else item
        if not isinstance(text, str) or "-----BEGIN CERTIFICATE-----" not in text:
            raise InvalidInput(
                f"certificates[{i}] must be a PEM certificate ('-----BEGIN CERTIFICATE-----...') "
                f"(got {_pem_shown(item)})"
            )
        out.append(text)
    return tuple(out)


def _bool(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidType(
            f"{attribute.name} must be a bool (got {type(value).__name__} {brief(value)})"
        )


@attrs.frozen(kw_only=True)
class Issuer:
    """One issuing authority: its senders, the kinds it may issue, where, and for whom.

    .. versionadded:: 0.1.0

    Parameters
    ----------
    name : str
        Names it in results, errors and ``acts_for``: 1 to 64 ASCII letters, digits, ``_ . : -``.
    senders : iterable of str
        The CAP ``<sender>`` values that are this issuer (exact), at least one. There are no
        wildcards: a sender holding ``*`` is refused (:meth:`Issuers.any` accepts every one),
        and so is one mixing Latin, Cyrillic or Greek letters in one part of the address (a
        lookalike such as ``polisen@pol\u0456sen.se``, with a Cyrillic ``і``).
    kinds : iterable of str
        The kind names it may issue, at least one.
    regions : iterable of str
        Region codes of the hierarchy (any level; the country code for "anywhere") within
        which its alerts may reach devices, at least one.
    acts_for : iterable of str, default ()
        Names of issuers whose incidents it may Update and Cancel.
    signature_required : bool, default False
        Whether its documents must carry a valid XML-DSig signature by one of
        ``certificates`` (checked by :meth:`~geotarget.targeting.Targeter.receive`).
    certificates : sequence of str, default ()
        Its pinned certificates in PEM; at least one when a signature is required.

    Raises
    ------
    InvalidInput, InvalidType
        For a bad name, sender or kind name, an empty list, or a required signature without a
        certificate.
    """

    name: str = attrs.field()
    senders: frozenset[str] = attrs.field(converter=_senders)
    kinds: frozenset[str] = attrs.field(converter=_kinds)
    regions: frozenset[str] = attrs.field(converter=_regions)
    acts_for: frozenset[str] = attrs.field(default=(), converter=_acts_for)
    signature_required: bool = attrs.field(default=False, validator=_bool)
    certificates: tuple[str, ...] = attrs.field(default=(), converter=_pems)

    @name.validator
    def _check_name(self, _: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise InvalidInput(
                f"name must be an issuer name: {_NAME_RULE} (got {brief(value)}{name_hint(value)})"
            )

    def __attrs_post_init__(self) -> None:
        for field in ("senders", "kinds", "regions"):
            if not getattr(self, field):
                raise InvalidInput(f"issuer {self.name!r}: {field} must name at least one")
        if self.signature_required and not self.certificates:
            raise InvalidInput(
                f"issuer {self.name!r}: signature_required needs at least one pinned "
                "certificate (got none)"
            )


def table_problems(
    rows: Iterable[tuple[int, str | None, frozenset[str], frozenset[str]]],
) -> list[Problem]:
    """What the issuers of one table break together: names, senders and ``acts_for``.

    ``rows`` holds, for each issuer, its index in the table, its name, senders and
    ``acts_for`` (None and empty sets where an entry of a file could not be read, so that
    the others are still compared). Names are unique, a sender is one issuer's, and
    ``acts_for`` names issuers of the table.
    """
    problems: list[Problem] = []
    rows = list(rows)
    names: dict[str, int] = {}
    by_sender: dict[str, str | None] = {}
    by_key: dict[str, tuple[str, str | None, int]] = {}
    for i, name, senders, _ in rows:
        path = f"issuers[{i}]"
        if name is not None and name in names:
            problems.append(
                Problem(
                    f"{path}.name",
                    f"{name!r} is the name of issuers[{names[name]}] too; issuer names are unique",
                )
            )
        if name is not None:
            names.setdefault(name, i)
        for s in sorted(senders):
            if s in by_sender:
                owner = by_sender[s]
                whose = "another issuer" if owner is None else f"issuer {owner!r}"
                problems.append(
                    Problem(
                        f"{path}.senders",
                        f"sender {brief(s)} belongs to {whose} already; a sender is one issuer",
                    )
                )
            by_sender.setdefault(s, name)
        for s in sorted(senders):
            # The same address written in another form by another issuer: one mailbox (a
            # domain's case means nothing) with two issuers' authority, whichever form comes.
            other, owner, j = by_key.get(sender_key(s), (s, name, i))
            if other != s and j != i:
                whose = "another issuer" if owner is None else f"issuer {owner!r}"
                problems.append(
                    Problem(
                        f"{path}.senders",
                        f"sender {brief(s)} is {brief(other)} of {whose} written in another "
                        "form (case, a 'mailto:' or 'http(s)://' prefix, trailing dots or "
                        "slashes, invisible or fullwidth characters, a domain in its 'xn--' "
                        "form): one address would have two issuers; list it under one",
                    )
                )
        for s in senders:
            by_key.setdefault(sender_key(s), (s, name, i))
    listed = ", ".join(sorted(names)) or "none"
    known = set(names)  # (built once: built for each issuer, the table cost n² time)
    for i, _, _, acts_for in rows:
        for other in sorted(acts_for - known):
            whose = ""
            if other in by_sender:  # a sender written where an issuer's name goes
                owner = by_sender[other]
                who = "another issuer" if owner is None else f"issuer {owner!r}"
                whose = (
                    f" (it is a sender of {who}: acts_for lists issuers by name; issuers: {listed})"
                )
            problems.append(
                Problem(f"issuers[{i}].acts_for", f"{brief(other)} names no issuer{whose}")
            )
    return problems


def region_problems(
    i: int,
    regions: Iterable[str],
    region_exists: Any,
    region_hint: Any = None,
    path: str = "issuers",
) -> list[Problem]:
    """The codes of issuer ``i``'s ``regions`` that are no region of the hierarchy.

    ``region_exists`` is a predicate on codes; ``region_hint``, if given, the hint for an
    unknown code (``"; did you mean '01'?"``). Past :data:`MOST_CODES` codes, a count.
    """
    out: list[Problem] = []
    unknown = [c for c in sorted(regions) if not region_exists(c)]
    for code in unknown[:MOST_CODES]:  # then a count: a list of postal codes pasted
        several = _several(code)  # ("01, 03": two codes in one text, as the rollout says)
        if several:
            hint = several
        elif region_hint is not None:
            hint = region_hint(code)
        else:
            zero = zero_lost_hint(code, region_exists)
            hint = "" if zero is None else f"; {zero}"
        out.append(
            Problem(
                f"{path}[{i}].regions",
                f"{brief(code)} is not a region code of the hierarchy{hint}",
            )
        )
    if len(unknown) > MOST_CODES:
        what = "that are not region codes of the hierarchy"
        out.append(Problem(f"{path}[{i}].regions", more_codes(unknown[MOST_CODES:], what)))
    return out


def catalog_checks(catalog: Any) -> tuple[Any, Any]:
    """The predicate and the hint that check region codes against ``catalog``."""
    return (lambda code: knows(catalog, code)), (lambda code: unknown_hint(code, catalog))


class Issuers:
    """The policy's issuer table: who may issue what, where, and for whom.

    Parameters
    ----------
    issuers : iterable of Issuer
        Names unique; each sender belongs to one issuer only; ``acts_for`` names issuers of
        the table.

    Raises
    ------
    InvalidPolicy
        Listing every problem with its path (``issuers[2].senders``).

    Examples
    --------
    See the module docstring.

    .. versionadded:: 0.1.0
    """

    def __init__(self, issuers: Iterable[Issuer]) -> None:
        raw: object = issuers
        if isinstance(raw, (str, bytes)) or not iterable(raw):
            raise InvalidType(f"issuers must be an iterable of Issuer (got {brief(raw)})")
        items: tuple[Any, ...] = tuple(raw)
        problems: list[Problem] = []
        rows: list[tuple[int, str | None, frozenset[str], frozenset[str]]] = []
        for i, issuer in enumerate(items):
            if not isinstance(issuer, Issuer):
                problems.append(
                    Problem(f"issuers[{i}]", f"must be an Issuer (got {brief(issuer)})")
                )
                continue
            rows.append((i, issuer.name, issuer.senders, issuer.acts_for))
        problems += table_problems(rows)
        if problems:
            raise InvalidPolicy(problems, what=_ISSUERS_WHAT)
        self._issuers = items
        self._by_sender = {s: i for i in reversed(items) for s in i.senders}
        self._any = False

    @classmethod
    def any(cls) -> Issuers:
        """The explicit "any sender" table: no issuer check at all (``issuers = "any"``).

        Every sender may issue every kind anywhere, a place abroad of its own included (the
        rule that a part wholly abroad meet one on the territory is an issuer check too);
        Updates and Cancels still come only from the incident's own sender with its status.
        """
        table = cls(())
        table._any = True
        return table

    @property
    def any_sender(self) -> bool:
        """Whether this is the "any sender" table."""
        return self._any

    @property
    def issuers(self) -> tuple[Issuer, ...]:
        """The issuers, in the order given."""
        return self._issuers

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Issuers)
            and self._any == other._any
            and set(self._issuers) == set(other._issuers)
        )

    def __hash__(self) -> int:
        return hash((self._any, frozenset(self._issuers)))

    def __repr__(self) -> str:
        if self._any:
            return "Issuers.any()"
        return f"Issuers({[i.name for i in self._issuers]!r})"

    def issuer_of(self, sender: str) -> Issuer | None:
        """The issuer ``sender`` belongs to, or None.

        Raises
        ------
        InvalidType
            When ``sender`` is not a ``str``.
        """
        _sender_text("sender", sender)
        return self._by_sender.get(sender)

    def may_act_for(self, sender: str, owner: str) -> bool:
        """Whether ``sender`` may Update or Cancel an incident ``owner`` (a sender) started.

        The owner itself may; so may every sender of the owner's issuer and of an issuer that
        ``acts_for`` it.

        Raises
        ------
        InvalidType
            When ``sender`` or ``owner`` is not a ``str``.
        """
        _sender_text("sender", sender)
        _sender_text("owner", owner)
        if sender == owner:
            return True
        mine, theirs = self._by_sender.get(sender), self._by_sender.get(owner)
        if mine is None or theirs is None:
            return False
        return mine is theirs or theirs.name in mine.acts_for

    def problems(
        self,
        region_exists: Any,
        kinds: Iterable[str] | None = None,
        path: str = "issuers",
        *,
        region_hint: Any = None,
    ) -> list[Problem]:
        """Problems of the table against the regions and the known kinds (empty if none).

        ``region_exists`` is a predicate on region codes; ``kinds`` the kind names known;
        ``region_hint``, if given, the hint for an unknown code (``"; did you mean '01'?"``).
        """
        if not callable(region_exists):
            raise InvalidType(
                "region_exists must be a predicate on region codes, such as "
                f"hierarchy.__contains__ (got {type(region_exists).__name__})"
            )
        out: list[Problem] = []
        known = None if kinds is None else frozenset(kinds)
        for i, issuer in enumerate(self._issuers):
            out += region_problems(i, issuer.regions, region_exists, region_hint, path)
            if known is not None:
                for k in sorted(issuer.kinds - known):
                    out.append(
                        Problem(
                            f"{path}[{i}].kinds",
                            f"{brief(k)} is not a registered kind{misspelt_kind(k, known)} "
                            f"(registered: {', '.join(sorted(known)) or 'none'})",
                        )
                    )
        return out

    def certificate_problems(self, path: str = "issuers") -> list[Problem]:
        """Pinned certificates that are not PEM X.509 or verify nothing (empty if none).

        A certificate verifies nothing when ``cryptography`` cannot load its key, or when its
        key is RSA of fewer than 2048 bits (NIST SP 800-131A).

        Needs the ``signing`` extra only when some issuer requires a signature; without it
        that is the problem reported.
        """
        needed = [(i, x) for i, x in enumerate(self._issuers) if x.signature_required]
        if not needed:
            return []
        try:
            from cryptography import x509
        except ImportError:
            return [
                Problem(
                    f"{path}[{needed[0][0]}].signature",
                    "required, but the 'signing' extra (signxml, cryptography) is not "
                    "installed: pip install -e '.[signing]' from a geotarget checkout",
                )
            ]
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric import rsa

        from geotarget.cap._signing import MIN_RSA_BITS

        out = []
        for i, issuer in needed:
            for j, pem in enumerate(issuer.certificates):
                where = f"{path}[{i}].certificates[{j}]"
                try:  # every certificate of the text: verification pins them all
                    certs = x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
                except ValueError as err:
                    out.append(Problem(where, f"is not a PEM X.509 certificate ({err})"))
                    continue
                chain = {c.issuer for c in certs if c.issuer != c.subject}
                for k, cert in enumerate(certs):
                    which = f" (certificate {k + 1} of {len(certs)})" if len(certs) > 1 else ""
                    try:  # a key of a curve or an algorithm cryptography cannot use (SM2)
                        key = cert.public_key()
                    except (UnsupportedAlgorithm, ValueError) as err:
                        out.append(
                            Problem(
                                where,
                                f"holds a public key no signature can be verified with here"
                                f"{which}: {err}; pin the issuer's certificate of an RSA or "
                                "ECDSA key (P-256, P-384 or P-521)",
                            )
                        )
                        continue
                    if (
                        isinstance(key, rsa.RSAPublicKey)
                        and key.key_size < MIN_RSA_BITS
                        and cert.subject not in chain  # a CA of the text's signer is not pinned
                    ):
                        out.append(
                            Problem(
                                where,
                                f"holds an RSA key of {key.key_size} bits{which}, fewer than "
                                f"the {MIN_RSA_BITS} that verify a signature (NIST SP 800-131A): "
                                "the issuer must sign with a new key",
                            )
                        )
        return out

    # -- the policy file -------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        base: str | os.PathLike[str] = ".",
        catalog: Any = None,
    ) -> Issuers:
        """Read the ``issuers`` entry of a policy document (already parsed).

        ``issuers = "any"``, or an array of tables with ``name``, ``senders``, ``kinds``,
        ``regions`` and optionally ``acts_for``, ``signature`` (``"required"`` or
        ``"optional"``, the default) and ``certificates`` (PEM texts, or paths of PEM files,
        relative to ``base``). A document without ``issuers`` is an error. With a ``catalog``
        (a region hierarchy), region codes it does not know are problems too; without one, a
        text no code is written as (``"0181 "``, ``"01, 03"``), as the rollout's reader says.
        Every problem is listed with its path.
        """
        from geotarget import _policy_sections

        return _policy_sections.issuers(data, base, catalog)

    @classmethod
    def from_toml(cls, source: str | bytes | os.PathLike[str], catalog: Any = None) -> Issuers:
        """Read the ``issuers`` of a TOML policy (text, or a path: certificates relative to it).

        See :meth:`from_dict` for the rules and ``catalog``.
        """
        from geotarget import _policy_sections

        data = _policy_sections.load(source, "TOML", _ISSUERS_WHAT)
        return _policy_sections.issuers(data, _policy_sections.base_of(source), catalog)

    @classmethod
    def from_json(cls, source: str | bytes | os.PathLike[str], catalog: Any = None) -> Issuers:
        """Read the ``issuers`` of a JSON policy (text, or a path: certificates relative to it).

        See :meth:`from_dict` for the rules and ``catalog``.
        """
        from geotarget import _policy_sections

        data = _policy_sections.load(source, "JSON", _ISSUERS_WHAT)
        return _policy_sections.issuers(data, _policy_sections.base_of(source), catalog)
