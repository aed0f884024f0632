"""Private: verify an enveloped XML-DSig signature of a CAP document with signxml.

Only :func:`geotarget.cap.verify_signature` calls this, and only with bytes the safe reader
(:mod:`geotarget.cap._xml`) has already accepted: no DOCTYPE, no entity declaration, bounded
size, depth and element count. lxml then parses them again, with a parser that resolves no
entity, loads no DTD, touches no network and refuses huge trees, and signxml itself refuses
any DTD or entity. No cryptography is implemented here: signxml checks the reference digest
and the signature value with the ``cryptography`` package.

CAP 1.2 §3.3.4.1: the ``<alert>`` element MAY have an *enveloped* signature, as described by
XML-Signature and Syntax Processing; other XML signature mechanisms MUST NOT be used. So the
signature is looked for as a child of ``<alert>`` only (``location="./"``), exactly one
reference is accepted, and it must cover the whole ``<alert>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any

from geotarget.cap._read import CAP12, DSIG
from geotarget.errors import InvalidSignature, InvalidType, MissingExtra

#: XML-DSig 1.1's namespace (``DEREncodedKeyValue``, ``ECKeyValue``).
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
#: The XML-DSig elements whose base64 content signxml decodes: the schema lets each be empty
#: (xs:base64Binary allows ""), and signxml then fails with a TypeError (``b64decode(None)``).
_BASE64 = frozenset(
    {"SignatureValue", "DigestValue", "Modulus", "Exponent", "P", "Q", "G", "Y", "J", "Seed",
     "PgenCounter", "PublicKey", "DEREncodedKeyValue"}
)  # fmt: skip


def _modules() -> tuple[Any, Any, Any]:
    try:
        import signxml
        import signxml.exceptions
        from cryptography import x509
        from lxml import etree
    except ImportError as err:
        raise MissingExtra("signing", "verifying CAP XML signatures") from err
    return signxml, etree, x509


def _certificates(certificate: str | bytes | Sequence[str | bytes], x509: Any) -> list[Any]:
    """The pinned certificates: PEM (every certificate of a PEM bundle) or DER."""
    items: list[object]
    if isinstance(certificate, (str, bytes)):
        items = [certificate]
    elif isinstance(certificate, Sequence):
        items = list(certificate)
    else:
        raise InvalidType(_not_a_certificate("certificate", certificate))
    if not items:
        raise InvalidType(
            "certificate must be one PEM certificate or a sequence of them (got none)"
        )
    out = []
    for k, item in enumerate(items):
        if not isinstance(item, (str, bytes)):
            raise InvalidType(_not_a_certificate(f"certificate[{k}]", item))
        data = item.encode("ascii", "replace") if isinstance(item, str) else item
        if b"-----BEGIN" in data:
            form, load = "PEM", x509.load_pem_x509_certificates  # every one of a bundle
        elif isinstance(item, bytes):
            form, load = "DER", lambda der: [x509.load_der_x509_certificate(der)]
        else:
            raise InvalidType(
                f"certificate[{k}] is not a PEM X.509 certificate: a str is the certificate's "
                "PEM text (-----BEGIN CERTIFICATE-----...), not a file name; pass the file's "
                "bytes, Path(name).read_bytes(), PEM or DER"
            )
        try:
            out.extend(load(data))
        except ValueError as err:
            raise InvalidType(f"certificate[{k}] is not a {form} X.509 certificate: {err}") from err
    return out


def _not_a_certificate(name: str, value: object) -> str:
    hint = (
        ": pass the file's bytes, Path(name).read_bytes() (PEM or DER)"
        if isinstance(value, PurePath)
        else ""
    )
    return (
        f"{name} must be a certificate as PEM (str or bytes) or DER (bytes), or a sequence of "
        f"them (got {type(value).__name__}){hint}"
    )


def _why(err: Exception) -> str:
    """Say what a signxml failure means for a CAP document."""
    from signxml import exceptions as sx

    detail = str(err).strip()
    if isinstance(err, sx.InvalidDigest):
        return f"the signed content was changed after signing ({detail})"
    if isinstance(err, sx.InvalidCertificate):
        # signxml's advice names its own API; here the time is verify_signature's at=.
        detail = re.sub(r"\s*Use SignatureConfiguration\(.*", "", detail, flags=re.S)
        return f"the certificate is not acceptable ({detail}; at= sets the time to check)"
    if isinstance(err, sx.InvalidSignature):
        return (
            "the signature value does not verify with this certificate's public key "
            "(signed with another key, or the signature itself was altered)"
        )
    forbidden = re.search(r"(?:Signature method|Digest algorithm) (\w+) forbidden", detail)
    if forbidden is not None:
        return (
            f"its algorithm {forbidden.group(1)} is refused: SHA-1 (and anything weaker) no "
            "longer protects a signature; the issuer must sign with SHA-256 or stronger "
            f"({detail})"
        )
    return f"the signature is malformed or not acceptable ({detail})"


def _empty_base64(raw: bytes, etree: Any, parser: Any) -> str | None:
    """The first element of the ``<alert>``'s signatures whose base64 value is empty, if any."""
    try:
        root = etree.fromstring(raw, parser)
    except etree.LxmlError:
        return None
    for signature in root.findall(f"{{{DSIG}}}Signature"):
        for element in signature.iter(f"{{{DSIG}}}*", f"{{{DSIG11}}}*"):
            name = etree.QName(element).localname
            if name in _BASE64 and not (element.text or "").strip() and not len(element):
                return str(name)
    return None


def verify(
    raw: bytes, certificate: str | bytes | Sequence[str | bytes], *, at: datetime | None
) -> bytes:
    """Verify ``raw``'s enveloped signature; return the signed content (canonical XML bytes).

    Raises :class:`InvalidSignature` with signxml's reason when no pinned certificate verifies.
    """
    signxml, etree, x509 = _modules()
    if at is not None and (not isinstance(at, datetime) or at.utcoffset() is None):
        raise InvalidType(f"at must be a timezone-aware datetime (got {at!r})")
    certs = _certificates(certificate, x509)
    config = signxml.SignatureConfiguration(
        location="./",  # a child of <alert>: enveloped at the top, as CAP 1.2 §3.3.4.1 says
        expect_references=1,
        verification_time=(at or datetime.now(timezone.utc)),
    )
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=False,
    )
    reasons = []
    for k, cert in enumerate(certs):
        try:
            result = signxml.XMLVerifier().verify(
                raw, x509_cert=cert, parser=parser, expect_config=config
            )
        except (signxml.exceptions.SignXMLException, etree.LxmlError, ValueError) as err:
            # ValueError: an algorithm URI signxml does not know, malformed base64...
            reasons.append(f"certificate[{k}] ({cert.subject.rfc4514_string()}): {_why(err)}")
            continue
        except TypeError as err:
            # signxml decodes an empty base64 element as b64decode(None).
            empty = _empty_base64(raw, etree, parser)
            why = (
                f"the signature is malformed: its <{empty}> is empty, where XML-DSig requires "
                "base64 data"
                if empty is not None
                else f"the signature is malformed or not acceptable ({err})"
            )
            reasons.append(f"certificate[{k}] ({cert.subject.rfc4514_string()}): {why}")
            continue
        signed = result.signed_xml
        if signed is None or signed.tag != f"{{{CAP12}}}alert":
            reasons.append(
                f"certificate[{k}]: the signature does not cover the whole <alert> "
                f"(it covers {getattr(signed, 'tag', 'data that is not XML')!r}); CAP 1.2 "
                "§3.3.4.1 allows only an enveloped signature of the <alert>"
            )
            continue
        data: bytes = result.signed_data
        return data
    raise InvalidSignature(
        "the XML signature does not verify against the pinned certificate"
        + ("s" if len(certs) > 1 else "")
        + ": "
        + "; ".join(reasons)
    )
