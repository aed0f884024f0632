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

An ``<alert>`` may carry several signatures: Canada's NAADS adds its own after the issuer's, and
any relay may do the same. Each is verified on its own (its enveloped-signature transform removes
that signature only, so an earlier signature no longer verifies once a later one was added), and
the document is accepted when one of them, made with a pinned certificate, verifies. A signature
counts only when its single reference is ``URI=""`` (the whole document, whose root the strict
reader has read as the ``<alert>``) with the enveloped-signature transform and at most a
canonicalisation besides: a reference to an element by ``Id``, an XPath filter or any other
transform never makes the document trusted, so the content verified is always the alert read.

What is verified is what XML-DSig and xmlsec1 verify, where signxml alone differs: a
``<SignedInfo>`` is canonicalised as a document of its own (lxml 6.2 adds a spurious
``xmlns=""`` below an element it canonicalises in place), ``URI=""`` leaves comments out even
before a ``#WithComments`` canonicalisation and takes in the processing instructions outside
``<alert>`` (signxml's form, without them, verifies too), an ``<InclusiveNamespaces>`` in the
``<CanonicalizationMethod>`` is allowed (``#default`` in its PrefixList too, which lxml
ignores), and a key value in the unsigned ``<KeyInfo>`` is compared with the pinned
certificate's key here, for any algorithm. A pinned certificate whose key usage forbids signing
data (a CA's, an encryption certificate) verifies nothing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
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
#: The base64 elements of a ``<KeyInfo>``'s ``<X509Data>`` (may be empty by the schema).
_CARRIED = frozenset({"X509Certificate", "X509CRL", "X509SKI", "X509Digest"})


#: At most this many ``<Signature>`` children of ``<alert>`` are verified (an issuer's and those
#: of the relays after it; NAADS documents carry two). Each costs a parse and canonicalisation
#: of the whole document per pinned certificate, so a document with more is refused unverified.
MAX_SIGNATURES = 8

#: The fewest bits of an RSA key that verifies a signature (NIST SP 800-131A).
MIN_RSA_BITS = 2048

#: The only transforms a CAP signature's reference may list (XML-DSig's URIs for them).
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_C14N = frozenset(
    {"http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
     "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
     "http://www.w3.org/2006/12/xml-c14n11",
     "http://www.w3.org/2006/12/xml-c14n11#WithComments",
     "http://www.w3.org/2001/10/xml-exc-c14n#",
     "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"}
)  # fmt: skip
#: Short names of the transforms, for refusals listing several.
_SHORT = {ENVELOPED: "enveloped-signature"} | {
    uri: uri.rsplit("/", 1)[-1].replace("REC-", "") for uri in _C14N
}


def _modules() -> tuple[Any, Any, Any]:
    try:
        import signxml
        import signxml.exceptions
        from cryptography import x509
        from lxml import etree
    except ImportError as err:
        raise MissingExtra("signing", "verifying CAP XML signatures") from err
    return signxml, etree, x509


def _certificates(certificate: object, x509: Any) -> list[Any]:
    """The pinned certificates: PEM or DER, each of them but those that issued another one."""
    items: list[object]
    if isinstance(certificate, (bytearray, memoryview)):
        certificate = bytes(certificate)
    if isinstance(certificate, (str, bytes)):
        items = [certificate]
    elif isinstance(certificate, Iterable) and not isinstance(certificate, Mapping):
        items = [bytes(c) if isinstance(c, (bytearray, memoryview)) else c for c in certificate]
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
        if not data.strip():
            raise InvalidType(
                f"certificate[{k}] is empty (got {item[:40]!r}): an empty certificate file? "
                "Pin the issuer's certificate, PEM or DER"
            )
        if b"-----BEGIN" in data:
            form, load = "PEM", x509.load_pem_x509_certificates  # all of a bundle
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
            raise InvalidType(
                f"certificate[{k}] is not a {form} X.509 certificate{_what_instead(data)}: {err}"
            ) from err
    # The chain rule holds across the pinned certificates, not only within one PEM text: the
    # signer's certificate and its intermediate CA's given as two items (two files of the
    # issuer table) must not pin the CA's key as a signer either.
    return _signers(out)


def _unusable(cert: Any) -> str | None:
    """Why ``cert``'s public key cannot verify anything here, if ``cryptography`` cannot load it.

    An RSA key under :data:`MIN_RSA_BITS` bits verifies nothing either. A key on a curve it
    does not know (SM2, an EC key with explicit parameters) raised
    ``cryptography``'s UnsupportedAlgorithm out of :func:`geotarget.cap.verify_signature` and
    ``Targeter.receive``; it is one pinned certificate that verifies nothing, the others
    (a key rollover) still may.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError) as err:
        return (
            f"this certificate's public key cannot verify signatures here ({err}): pin a "
            "certificate with an RSA, EC (NIST P-256, P-384, P-521...) or DSA key"
        )
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        # As SHA-1 is refused: xmlsec1 and signxml check no key size.
        return (
            f"this certificate's RSA key has {key.key_size} bits, fewer than the "
            f"{MIN_RSA_BITS} that still protect a signature (NIST SP 800-131A disallows "
            "smaller keys for signing since 2014): the issuer must sign with a new key"
        )
    return None


#: What a PEM block other than a certificate is, and what to pin instead.
_PEM_BLOCKS = {
    "PUBLIC KEY": "a bare public key; pinning needs the issuer's X.509 certificate "
    "(-----BEGIN CERTIFICATE-----), which says whose key it is and until when",
    "RSA PUBLIC KEY": "a bare public key; pinning needs the issuer's X.509 certificate "
    "(-----BEGIN CERTIFICATE-----)",
    "PKCS7": "a PKCS#7 bundle; extract its certificates first (openssl pkcs7 -print_certs)",
    "TRUSTED CERTIFICATE": "OpenSSL's trusted-certificate form; write it as a plain "
    "certificate first (openssl x509 -in it.pem -out plain.pem)",
    "CERTIFICATE REQUEST": "a certificate signing request, not the certificate issued for it",
}


def _what_instead(data: bytes) -> str:
    """What ``data`` holds instead of a certificate, when that can be told (else "")."""
    labels = [
        m.decode("ascii", "replace") for m in re.findall(rb"-----BEGIN ([^-]{1,40})-----", data)
    ]
    if not labels:
        text = b"".join(data.split())
        if len(text) >= 64 and re.fullmatch(rb"[A-Za-z0-9+/]+={0,2}", text):
            return (
                " (it is base64 text without the -----BEGIN CERTIFICATE----- and "
                "-----END CERTIFICATE----- lines around it: add them, or pass the decoded DER)"
            )
        return ""
    if "CERTIFICATE" in labels:
        return ""
    label = labels[0]
    known = _PEM_BLOCKS.get(label)
    if known is None and label.endswith("PRIVATE KEY"):
        known = "a private key, which must never be pinned or shared: pin the issuer's certificate"
    return f" (it holds a PEM {label} block: {known or 'not a certificate'})"


def _signers(certs: list[Any]) -> list[Any]:
    """The pinned certificates that may have signed: not those that issued another one.

    A PEM file often holds the signer's certificate followed by its chain (intermediate and
    root CAs), and an issuer table may list the chain's files beside the signer's. Pinning is
    trusting exactly the signer's certificate: a CA's key that could sign alerts itself would
    defeat it. So a certificate that issued another pinned certificate is its chain and is not
    pinned; unrelated certificates (a key rollover) all are.
    """
    if len(certs) < 2:
        return certs
    # Linear in the certificates (names hashed, not compared pairwise): a signature's unsigned
    # KeyInfo may carry thousands of them, and comparing each with each took minutes.
    issued: dict[Any, set[Any]] = {}
    for cert in certs:
        issued.setdefault(cert.issuer, set()).add(cert.subject)
    signers = [cert for cert in certs if not issued.get(cert.subject, set()) - {cert.subject}]
    return signers or certs


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


def _why(err: Exception, carries_it: bool = False, inclusive: bool = False) -> str:
    """Say what a signxml failure means for a CAP document.

    ``carries_it``: the signature's KeyInfo carries the very certificate tried, so a signature
    value that does not verify was not made with another key: what it signs was changed.
    ``inclusive``: its ``<SignedInfo>`` is canonicalised inclusively, taking in the namespace
    declarations in scope, those of ``<alert>`` too: a prefix of the alert renamed after
    signing (``<cap:alert xmlns:cap=...>`` for ``<alert xmlns=...>``) changes it.
    """
    from signxml import exceptions as sx

    detail = str(err).strip()
    if isinstance(err, sx.InvalidDigest):
        return f"the signed content was changed after signing ({detail})"
    if isinstance(err, sx.InvalidCertificate):
        # signxml's advice names its own API; here the time is verify_signature's at=.
        detail = re.sub(r"\s*Use SignatureConfiguration\(.*", "", detail, flags=re.S)
        return f"the certificate is not acceptable ({detail}; at= sets the time to check)"
    if isinstance(err, sx.InvalidSignature) and carries_it:
        return (
            "the signature value does not verify with this certificate's public key, although "
            "the signature carries this very certificate: its <SignedInfo> or <SignatureValue> "
            "was changed after signing (pretty-printing or re-indenting the document after "
            "signing does this; whitespace is part of what XML-DSig signs)"
            + (
                ", or a namespace declaration of the <alert> around it was (a prefix added, "
                "renamed or removed): its inclusive canonicalisation signs those too"
                if inclusive
                else ""
            )
        )
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
    hmac = re.search(r"Unsupported signature algorithm SignatureMethod\.(HMAC\w*)", detail)
    if hmac is not None:
        return (
            f"its algorithm {hmac.group(1)} is a keyed hash made with a shared secret, not a "
            "signature by the issuer's private key: anyone holding the secret could have made "
            "it, and no certificate verifies it; the issuer must sign with RSA or ECDSA"
        )
    unknown = re.search(r"Unrecognized (SignatureMethod|DigestAlgorithm): (\S+)", detail)
    if unknown is not None:
        return (
            f"its {unknown.group(1)} {unknown.group(2)} is not one verified here: signatures "
            "verify with RSA (PKCS#1 v1.5 or PSS), ECDSA or DSA keys and a SHA-2 or SHA-3 "
            "hash of 224 bits or more; EdDSA (Ed25519, Ed448) is not supported by signxml"
        )
    return f"the signature is malformed or not acceptable ({detail})"


def _base64_fault(signature: Any, etree: Any) -> str | None:
    """Why a base64 value of ``signature`` is not base64 data, if one is not.

    XML-DSig types them ``xs:base64Binary``: only the base64 alphabet, padding at the end and
    whitespace. signxml decoded them leniently, skipping any other character, so a
    ``<SignatureValue>`` with ``!`` or ``%`` inserted after signing verified where xmlsec1
    refuses it; and it failed with a TypeError on an empty value (``b64decode(None)``).
    Comments and processing instructions inside are no part of the value (xmlsec1 reads around
    them).
    """
    for element in signature.iter(f"{{{DSIG}}}*", f"{{{DSIG11}}}*"):
        name = etree.QName(element).localname
        if name not in _BASE64 and name not in _CARRIED:
            continue
        text = "".join("".join(element.xpath("text()")).split())
        if not text:
            if name in _BASE64 and not element.xpath("*"):
                return (
                    f"it is malformed: its <{name}> is empty, where XML-DSig requires base64 data"
                )
            continue
        try:
            base64.b64decode(text, validate=True)
        except ValueError:
            shown = text if len(text) <= 40 else f"{text[:20]}...{text[-20:]}"
            return (
                f"it is malformed: its <{name}> is not base64 data ({shown!r}): XML-DSig's "
                "xs:base64Binary allows only A-Z, a-z, 0-9, '+', '/', '=' padding at the end "
                "and whitespace"
            )
    return None


def _form(signature: Any) -> str | None:
    """Why ``signature`` cannot be an enveloped signature of the whole ``<alert>``, if it cannot.

    Checked on the signature as found, before any cryptography: a reference elsewhere would let
    a valid signature over other content (a wrapping attack) stand for the alert.
    """
    references = signature.findall(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}Reference")
    if len(references) != 1:
        return (
            f"it has {len(references)} <Reference> elements where CAP 1.2 §3.3.4.1 (an "
            'enveloped signature of the <alert>) needs exactly one, URI=""'
        )
    (reference,) = references
    uri = reference.get("URI")
    if uri is not None and uri.startswith("#xpointer("):
        return (
            f"its <Reference> has URI={uri!r}, an XPointer, which is not verified here (signxml "
            'does not resolve XPointers): CAP signatures reference the whole document as URI=""'
        )
    if uri != "":
        where = "no URI" if uri is None else f"URI={uri!r}"
        return (
            f'its <Reference> has {where}, not the whole document (URI=""): such a signature '
            "covers other content than the <alert> and cannot make it trusted"
        )
    algorithms = [
        t.get("Algorithm") for t in reference.findall(f"{{{DSIG}}}Transforms/{{{DSIG}}}Transform")
    ]
    if ENVELOPED not in algorithms:
        return (
            "its <Reference> lacks the enveloped-signature transform "
            f"({ENVELOPED}): it is not an enveloped signature"
        )
    other = [a for a in algorithms if a != ENVELOPED and a not in _C14N]
    if other:
        return (
            f"its <Reference> lists the transform {other[0]!r}: only the enveloped-signature "
            "transform and a canonicalisation are accepted, so the content verified is exactly "
            "the <alert>"
        )
    # XML-DSig's own order: the enveloped-signature transform takes the document's nodes, so
    # it comes first, once; a canonicalisation after it gives octets, which a second one
    # would have to parse back (signxml failed with "Type 'bytes' cannot be serialized").
    if algorithms[0] != ENVELOPED or algorithms.count(ENVELOPED) > 1 or len(algorithms) > 2:
        listed = ", ".join(_SHORT.get(a, str(a)) for a in algorithms[:4])
        listed += f", ... ({len(algorithms)} in all)" if len(algorithms) > 4 else ""
        return (
            f"its <Reference> lists the transforms {listed}: an enveloped signature lists the "
            "enveloped-signature transform first and once, then at most one canonicalisation"
        )
    return None


class _Empty(ValueError):
    """A base64 element of a signature that is empty."""


def _base64(element: Any, etree: Any) -> bytes:
    text = "".join((element.text or "").split())
    if not text:
        raise _Empty(etree.QName(element).localname)
    return base64.b64decode(text, validate=True)


def _key_value(signature: Any, cert: Any, etree: Any) -> str | None:
    """Why a public key the signature's ``<KeyInfo>`` carries is not the pinned one, if so.

    KeyInfo is not covered by the signature and is never trusted: the signature was verified
    with the pinned certificate's key. A ``<KeyValue>`` or ``<DEREncodedKeyValue>`` naming
    another key (or none that reads) contradicts it, and is refused, whatever the algorithm
    (signxml compared RSA, DSA and ECDSA with its listed curves only, and crashed otherwise).
    """
    from cryptography.exceptions import UnsupportedAlgorithm

    pinned = cert.public_key()
    for element in signature.findall(f"{{{DSIG}}}KeyInfo/*"):
        if element.tag not in (f"{{{DSIG}}}KeyValue", f"{{{DSIG11}}}DEREncodedKeyValue"):
            continue
        name = etree.QName(element).localname
        try:
            same = _same_key(element, pinned, etree)
        except _Empty as err:
            return (
                f"the signature is malformed: its <{err}> is empty, where XML-DSig requires "
                "base64 data"
            )
        except (ValueError, LookupError, UnsupportedAlgorithm) as err:
            return (
                f"the signature is malformed: the <{name}> its <KeyInfo> carries does not read "
                f"as a public key ({err or type(err).__name__})"
            )
        if not same:
            return (
                f"the <{name}> its <KeyInfo> carries is another public key than the pinned "
                "certificate's, although the signature value verifies with the pinned "
                "certificate: the (unsigned) KeyInfo was changed or names another signer"
            )
    return None


def _same_key(element: Any, pinned: Any, etree: Any) -> bool:
    """Whether a ``<KeyValue>`` or ``<DEREncodedKeyValue>`` is ``pinned`` (ValueError: unread)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def spki(key: Any) -> bytes:
        der: bytes = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return der

    if element.tag == f"{{{DSIG11}}}DEREncodedKeyValue":
        return spki(serialization.load_der_public_key(_base64(element, etree))) == spki(pinned)
    children = [c for c in element if isinstance(c.tag, str)]
    if len(children) != 1:
        raise ValueError(f"it holds {len(children)} elements where XML-DSig needs one key value")
    (value,) = children

    def number(name: str) -> int | None:
        found = value.find(f"{{{DSIG}}}{name}")
        return None if found is None else int.from_bytes(_base64(found, etree), "big")

    if value.tag == f"{{{DSIG}}}RSAKeyValue":
        if not isinstance(pinned, rsa.RSAPublicKey):
            return False
        ours = pinned.public_numbers()
        return (number("Modulus"), number("Exponent")) == (ours.n, ours.e)
    if value.tag == f"{{{DSIG}}}DSAKeyValue":
        # (cryptography deprecates its DSA names: a DSA key's numbers have a group.)
        numbers = pinned.public_numbers() if hasattr(pinned, "public_numbers") else None
        group = getattr(numbers, "parameter_numbers", None)
        if numbers is None or group is None:
            return False
        given = {"P": group.p, "Q": group.q, "G": group.g, "Y": numbers.y}
        read = {name: number(name) for name in given}  # Y is required; P, Q and G optional
        return read["Y"] is not None and all(read[k] in (None, v) for k, v in given.items())
    if value.tag == f"{{{DSIG11}}}ECKeyValue":
        curve = value.find(f"{{{DSIG11}}}NamedCurve")
        uri = "" if curve is None else (curve.get("URI") or "")
        if not uri.startswith("urn:oid:"):
            raise ValueError(f"its <ECKeyValue> names no curve as urn:oid:... (got {uri!r})")
        point = value.find(f"{{{DSIG11}}}PublicKey")
        if point is None:
            raise ValueError("its <ECKeyValue> lacks <PublicKey>")
        named = ec.get_curve_for_oid(x509.ObjectIdentifier(uri[len("urn:oid:") :]))
        key = ec.EllipticCurvePublicKey.from_encoded_point(named(), _base64(point, etree))
        return spki(key) == spki(pinned)
    raise ValueError(f"a <{etree.QName(value).localname}> is no key value geotarget reads")


def _unfit(signature: Any, cert: Any, signxml: Any) -> str | None:
    """Why ``cert``'s key cannot have made ``signature``, when its kind is not the algorithm's.

    An RSA signature checked against an EC certificate (a rollover from RSA to ECDSA, the
    wrong certificate pinned) is a signature by another key; signxml called it "DER encoded
    key value does not match specified signature algorithm", which read as a malformed
    signature although the document carries no such value.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    method = signature.find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}SignatureMethod")
    try:
        algorithm = signxml.algorithms.SignatureMethod(method.get("Algorithm"))
    except (AttributeError, ValueError):
        return None  # no algorithm signxml knows: signxml says so
    name = str(algorithm.name)
    needed = next((kind for prefix, kind in _KEY_KINDS if name.startswith(prefix)), None)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kind = "RSA"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind = "EC"
    else:  # DSA (whose names cryptography deprecates), Ed25519, Ed448...
        kind = type(key).__name__.lstrip("_").removesuffix("PublicKey")
    pss = cert.public_key_algorithm_oid.dotted_string == _PSS_KEY
    if kind == "RSA" and name.startswith("RSA_") and pss:
        return (
            f"the signature's algorithm {name} is RSA PKCS#1 v1.5, and this certificate's key "
            "is an RSASSA-PSS key (RFC 4055 §1.2: it signs with RSA-PSS only; xmlsec1 does not "
            "even load it): the issuer must sign with RSA-PSS (sha256-rsa-MGF1, RFC 6931 "
            "§2.3.10) or get a certificate of an rsaEncryption key"
        )
    if needed is None or kind == needed:
        return None
    return (
        f"the signature's algorithm {name} is for {needed} keys, and this certificate's key "
        f"is {kind}: signed with another key (a key rollover, or another certificate must be "
        "pinned)"
    )


def _ecdsa_value(signature: Any, cert: Any) -> str | None:
    """Why an ECDSA ``<SignatureValue>`` cannot be one for ``cert``'s curve, by its length.

    XML-DSig 1.1 §6.4.3 (RFC 4051 §3.3): the value is r and s, each as many bytes as the
    curve's order needs, one after the other: 64 bytes on P-256, 96 on P-384, 132 on P-521.
    A DER-encoded value (an ASN.1 SEQUENCE, as OpenSSL and Java's Signature API produce it),
    or r and s with their leading zero bytes dropped, never verifies (xmlsec1 refuses it
    too); it was reported as a <SignedInfo> changed after signing.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    method = signature.find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}SignatureMethod")
    algorithm = "" if method is None else str(method.get("Algorithm"))
    key = cert.public_key()
    if "#ecdsa-" not in algorithm or not isinstance(key, ec.EllipticCurvePublicKey):
        return None
    value = base64.b64decode(_value(signature))
    size = 2 * ((key.curve.key_size + 7) // 8)
    if len(value) == size:
        return None
    der = len(value) > 8 and value[0] == 0x30 and value[1] in (len(value) - 2, 0x81)
    return (
        f"its ECDSA <SignatureValue> is {len(value)} bytes, where XML-DSig (RFC 4051 §3.3) "
        f"writes r and s as {size} bytes on this certificate's curve {key.curve.name}"
        + (
            ": it is DER-encoded (an ASN.1 SEQUENCE, as OpenSSL and Java's Signature API "
            "produce it); the signer must write r and s concatenated instead"
            if der
            else ": a value for another curve, or r and s without their leading zero bytes"
        )
    )


#: The OID of an RSASSA-PSS key (id-RSASSA-PSS, RFC 4055), in a certificate's SubjectPublicKeyInfo.
_PSS_KEY = "1.2.840.113549.1.1.10"

#: The key kind each family of signxml's signature methods needs, by the method's name.
_KEY_KINDS = (("ECDSA_", "EC"), ("DSA_", "DSA"), ("RSA_", "RSA"), ("SHA", "RSA"))  # SHA*: PSS


def _not_for_signing(cert: Any, x509: Any) -> str | None:
    """Why ``cert``'s key may not verify a document's signature, when its key usage says so.

    RFC 5280 §4.2.1.3: a certificate whose key usage extension is present but asserts neither
    digitalSignature nor nonRepudiation (contentCommitment) is not for verifying signatures on
    data: a CA's certificate (keyCertSign, cRLSign) or an encryption certificate
    (keyEncipherment). Pinning one (an issuer's intermediate CA listed among its certificates,
    or its TLS encryption certificate) would let that key sign alerts; xmlsec1 and signxml
    check no key usage of a certificate given as the key. No extension: any use.
    """
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as err:  # a malformed extension: cryptography reads it lazily
        return f"this certificate's key usage extension does not read ({err})"
    if usage.digital_signature or usage.content_commitment:
        return None
    allowed = [
        name
        for name in ("key_encipherment", "data_encipherment", "key_agreement", "key_cert_sign",
                     "crl_sign")
        if getattr(usage, name)
    ]  # fmt: skip
    return (
        "this certificate's key usage ("
        + (", ".join(allowed) or "none")
        + ") does not allow verifying signatures on data (digital_signature or "
        "content_commitment, RFC 5280 §4.2.1.3): it is a CA's or an encryption certificate, "
        "not the signer's; pin the certificate the issuer signs alerts with"
    )


def _issued_by(carried: Mapping[Any, list[Any]], cert: Any) -> str:
    """A hint when a certificate the signature carries was issued by the pinned ``cert``.

    The pinned certificate is trusted as the signer itself, never as a CA: a signature made
    with a certificate it issued (the issuer's intermediate or root CA pinned, the signer's
    own certificate not) does not verify with its key, and the operator must be told why.
    ``carried``: the certificates of the signature's KeyInfo by their issuer's name.
    """
    from cryptography.exceptions import InvalidSignature as BadSignature
    from cryptography.exceptions import UnsupportedAlgorithm

    for found in carried.get(cert.subject, ()):
        try:
            if found == cert:
                continue
            found.verify_directly_issued_by(cert)
        except (ValueError, TypeError, UnsupportedAlgorithm, BadSignature):
            continue  # a certificate that does not read, or that the pinned one did not issue
        return (
            f"; the signature carries {found.subject.rfc4514_string()}, a certificate this "
            "pinned one issued: a pinned certificate is trusted as the signer itself, not as "
            "a CA of the signer, so pin the signer's own certificate (its PEM file may hold "
            "its chain after it)"
        )
    return ""


def _carried(signature: Any, x509: Any) -> list[Any]:
    """The certificates the signature's (unsigned) KeyInfo carries that read, in order.

    Decoded once per signature: KeyInfo is unsigned, so anyone relaying a document can stuff
    it with thousands of certificates, and decoding them again for each pinned certificate
    made the work grow with their product.
    """
    carried = []
    for element in signature.iterfind(
        f"{{{DSIG}}}KeyInfo/{{{DSIG}}}X509Data/{{{DSIG}}}X509Certificate"
    ):
        try:
            carried.append(x509.load_der_x509_certificate(base64.b64decode(element.text or "")))
        except ValueError:
            continue
    return carried


def _signer(carried: list[Any]) -> Any | None:
    """The signer's certificate among those the signature carries, if any.

    An ``<X509Data>`` may carry the signer's chain in any order (xmlsec1 writes the files it is
    given in their order, CA first when its bundle comes first): the signer's is the first
    certificate that issued none of the others, not merely the first one.
    """
    return _signers(carried)[0] if carried else None


def _describe(index: int, signature: Any, carried: Any | None) -> str:
    """``signature[i]`` with its Id and the certificate its (unsigned) KeyInfo carries."""
    out = f"signature[{index}]"
    if signature.get("Id") is not None:
        out += f" (Id={signature.get('Id')!r})"
    if carried is not None:
        out += f" [its KeyInfo carries {carried.subject.rfc4514_string()}]"
    return out


def verify(
    raw: bytes, certificate: str | bytes | Iterable[str | bytes], *, at: datetime | None
) -> bytes:
    """Verify ``raw``'s enveloped signatures; return the signed content (canonical XML bytes).

    Each ``<Signature>`` child of ``<alert>`` is tried on its own with each pinned certificate;
    the first that verifies gives the content. Raises :class:`InvalidSignature` naming, for
    each signature, why none of the pinned certificates verifies it.
    """
    signxml, etree, x509 = _modules()
    if at is not None and (not isinstance(at, datetime) or at.utcoffset() is None):
        raise InvalidType(f"at must be a timezone-aware datetime (got {at!r})")
    certs = _certificates(certificate, x509)
    config = signxml.SignatureConfiguration(
        location="./",  # a child of <alert>: enveloped at the top, as CAP 1.2 §3.3.4.1 says
        expect_references=1,
        verification_time=(at or datetime.now(timezone.utc)),
        # A key value the (unsigned) KeyInfo carries is compared with the pinned certificate
        # here (_key_value), not by signxml: signxml compares only the key types it pairs with
        # an algorithm, and raised NotImplementedError for RSA-PSS or KeyError for a curve it
        # does not list, where the signature itself verified.
        ignore_ambiguous_key_info=True,
    )
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=False,
    )
    try:
        document = etree.fromstring(raw, parser)
        signatures = document.findall(f"{{{DSIG}}}Signature")
    except etree.LxmlError as err:
        raise InvalidSignature(
            f"the signed document does not parse for verification: {err}"
        ) from err
    if len(signatures) > MAX_SIGNATURES:
        raise InvalidSignature(
            f"the <alert> carries {len(signatures)} XML-DSig <Signature> elements, more than "
            f"the {MAX_SIGNATURES} verified at most (an issuer's and its relays'): refused "
            "without verifying any"
        )
    around = _around(document)
    reasons = []
    for i, signature in enumerate(signatures):
        chain = _carried(signature, x509)
        carried = _signer(chain)
        by_issuer: dict[Any, list[Any]] = {}
        for found in chain:
            by_issuer.setdefault(found.issuer, []).append(found)
        name = _describe(i, signature, carried)
        form = _form(signature) or _base64_fault(signature, etree)
        if form is not None:
            reasons.append(f"{name}: {form}")
            continue
        for k, cert in enumerate(certs):
            against = f"{name} with certificate[{k}] ({cert.subject.rfc4514_string()})"
            unfit = (
                _unusable(cert)
                or _unfit(signature, cert, signxml)
                or _ecdsa_value(signature, cert)
                or _not_for_signing(cert, x509)
            )
            if unfit is not None:
                reasons.append(f"{against}: {unfit}{_issued_by(by_issuer, cert)}")
                continue
            try:
                result = _verify_one(
                    signxml, i, around, raw, x509_cert=cert, parser=parser, expect_config=config
                )
            except (signxml.exceptions.SignXMLException, etree.LxmlError, ValueError) as err:
                # ValueError: an algorithm URI signxml does not know, malformed base64...
                why = _why(err, cert == carried, _inclusive(signature))
                if isinstance(err, signxml.exceptions.InvalidDigest) and len(signatures) > 1:
                    # (InvalidDigest is an InvalidSignature: the value verified, the content not)
                    others = ", ".join(f"signature[{j}]" for j in range(len(signatures)) if j != i)
                    why += (
                        f"; its digest covers the other signatures ({others}): one added after "
                        "it (a relay's) is such a change, so pin the relay's certificate"
                    )
                elif isinstance(err, signxml.exceptions.InvalidSignature):
                    why += _issued_by(by_issuer, cert)
                reasons.append(f"{against}: {why}")
                continue
            except TypeError as err:
                # signxml decodes an empty base64 element as b64decode(None).
                why = _base64_fault(signature, etree) or (
                    f"the signature is malformed or not acceptable ({err})"
                )
                reasons.append(f"{against}: {why}")
                continue
            mismatch = _key_value(signature, cert, etree)
            if mismatch is not None:
                reasons.append(f"{against}: {mismatch}")
                continue
            signed = result.signed_xml
            checked = result.signature_xml
            if checked is None or _value(checked) != _value(signature):
                # signxml verified another signature than the one asked for: never trust it.
                reasons.append(f"{against}: could not be verified on its own")
                continue
            if signed is None or signed.tag != f"{{{CAP12}}}alert":
                reasons.append(
                    f"{against}: the signature does not cover the whole <alert> "
                    f"(it covers {getattr(signed, 'tag', 'data that is not XML')!r}); CAP 1.2 "
                    "§3.3.4.1 allows only an enveloped signature of the <alert>"
                )
                continue
            data: bytes = result.signed_data
            return data
    raise InvalidSignature(
        f"none of the document's {len(signatures)} XML signature"
        + ("s" if len(signatures) != 1 else "")
        + " verifies against the pinned certificate"
        + ("s" if len(certs) > 1 else "")
        + " (each signature is checked on its own; one made with a pinned certificate is "
        "enough): " + "; ".join(reasons)
    )


def _inclusive(signature: Any) -> bool:
    """Whether ``signature``'s ``<SignedInfo>`` is canonicalised inclusively (not exclusive)."""
    method = signature.find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}CanonicalizationMethod")
    return method is not None and "exc-c14n" not in str(method.get("Algorithm"))


def _value(signature: Any) -> str:
    value = signature.find(f"{{{DSIG}}}SignatureValue")
    return "".join("".join(value.xpath("text()") if value is not None else []).split())


def _around(document: Any) -> tuple[bytes, bytes] | None:
    """The canonical form of the processing instructions before and after ``<alert>``, if any.

    A same-document reference (``URI=""``) is the whole document without its comments
    (XML-DSig 1.0 §4.3.3.3), so a processing instruction outside the ``<alert>`` (the
    ``<?xml-stylesheet ...?>`` many feeds carry) is part of what it signs, each one before the
    root element followed by a line break and each one after preceded by one (Canonical XML
    1.0 §2.3). None when there is none.
    """
    from lxml import etree

    def canonical(node: Any) -> bytes:
        data = f" {node.text}" if node.text else ""
        return f"<?{node.target}{data}?>".encode()

    def pis(nodes: Any) -> list[Any]:
        return [n for n in nodes if isinstance(n, etree._ProcessingInstruction)]

    before = pis(reversed(list(document.itersiblings(preceding=True))))
    after = pis(document.itersiblings())
    if not before and not after:
        return None
    return (
        b"".join(canonical(n) + b"\n" for n in before),
        b"".join(b"\n" + canonical(n) for n in after),
    )


def _verify_one(
    signxml: Any, index: int, around: tuple[bytes, bytes] | None, raw: bytes, **kw: Any
) -> Any:
    """Verify the ``index``-th signature, with the processing instructions around ``<alert>``.

    xmlsec1 and Java sign them as XML-DSig says; signxml (as WMO's CAP composer signs with it)
    leaves them out, its signer dropping them and its verifier never seeing them. A signature
    whose digest covers the ``<alert>`` either way verifies: what is verified and returned is
    the ``<alert>``, and an instruction outside it is no part of the alert.
    """
    if around is None:
        return _verifier(signxml, index, None).verify(raw, **kw)
    try:
        return _verifier(signxml, index, around).verify(raw, **kw)
    except signxml.exceptions.InvalidDigest:
        return _verifier(signxml, index, None).verify(raw, **kw)


def _verifier(signxml: Any, index: int, around: tuple[bytes, bytes] | None) -> Any:
    """A signxml verifier that checks the ``index``-th ``<Signature>`` child of ``<alert>``.

    signxml looks for the first signature only; verifying the ``index``-th one on its own (the
    enveloped-signature transform removing that one and keeping the others) is what lets a
    relay's signature, added after the issuer's, verify.
    """

    class _Nth(signxml.XMLVerifier):  # type: ignore[misc]
        def _get_signature(self, root: Any) -> Any:
            if root.tag == f"{{{DSIG}}}Signature":
                return root
            found = root.findall(f"./{{{DSIG}}}Signature")
            if index >= len(found):
                raise signxml.exceptions.InvalidInput(f"there is no signature[{index}]")
            # A comment or processing instruction in <SignatureValue> (outside <SignedInfo>,
            # so signed by nothing) is no part of its base64 value, which xmlsec1 reads around
            # it: signxml read the text before the first one only, failing with
            # b64decode(None) or a cut value.
            for value in found[index].iterfind(f"{{{DSIG}}}SignatureValue"):
                _drop_comments(value, ".//comment() | .//processing-instruction()")
            return found[index]

        def validate_schema(self, signature: Any) -> None:
            # signxml's schemas lack Exclusive C14N's, so the <InclusiveNamespaces> its
            # <CanonicalizationMethod> may hold (a strict wildcard there) failed validation:
            # it is validated without it (signxml still reads its PrefixList).
            copy = _copy(signature)
            for method in copy.iterfind(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}CanonicalizationMethod"):
                for inclusive in method.findall(f"{{{_EXC_C14N}}}InclusiveNamespaces"):
                    method.remove(inclusive)
            super().validate_schema(copy)

        def _apply_transforms(self, payload: Any, **kw: Any) -> Any:
            # URI="" is the document *without its comments* (XML-DSig 1.0 §4.3.3.3), even when
            # a canonicalisation #WithComments follows: signxml kept them, so a signature
            # xmlsec1 or Java made that way failed as soon as the alert held a comment.
            _drop_comments(payload)
            out = super()._apply_transforms(payload, **kw)
            if around is not None and isinstance(out, bytes):
                out = around[0] + out + around[1]
            return out

        def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> Any:
            listed = nodes if isinstance(nodes, list) else [nodes]
            apexes = [_apex(node) for node in listed]
            if "#default" in (inclusive_ns_prefixes or ()) and "exc-c14n" in algorithm.value:
                base = super()._c14n
                return b"".join(
                    _default_included(apex, base(apex, algorithm, inclusive_ns_prefixes))
                    for apex in apexes
                )
            return super()._c14n(apexes, algorithm, inclusive_ns_prefixes=inclusive_ns_prefixes)

    return _Nth()


#: Exclusive XML Canonicalization's namespace (its ``<InclusiveNamespaces PrefixList="...">``).
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def _copy(element: Any) -> Any:
    """A copy of ``element`` as the root of a document of its own."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False, remove_pis=False
    )
    return etree.fromstring(etree.tostring(element, with_tail=False), parser)


def _drop_comments(root: Any, nodes: str = ".//comment()") -> None:
    """Remove the comments inside ``root`` (a copy signxml made), keeping the text around them.

    ``nodes``: the XPath of what is removed (the comments, or also processing instructions).
    """
    from lxml import etree

    if not isinstance(root, etree._Element):
        return
    for comment in root.xpath(nodes):
        parent = comment.getparent()
        before = comment.getprevious()
        if comment.tail:
            if before is not None:
                before.tail = (before.tail or "") + comment.tail
            else:
                parent.text = (parent.text or "") + comment.tail
        parent.remove(comment)


def _default_included(apex: Any, canonical: bytes) -> bytes:
    """``apex``'s Exclusive C14N with ``#default`` in its PrefixList, as the spec outputs it.

    Exclusive XML Canonicalization §3: ``#default`` in an ``<InclusiveNamespaces>`` PrefixList
    makes the default namespace in scope output as inclusive canonicalisation would, on the
    apex element even when it does not use it. lxml ignores ``#default``, so a
    ``<ds:SignedInfo>`` below ``<alert xmlns="...cap:1.2">`` that xmlsec1 (or Java) signed so
    never verified. The declaration is added to the apex's start tag when lxml left it out and
    every element below is prefixed (an unprefixed one is left to lxml, unchanged).
    """
    default = apex.nsmap.get(None)
    if (
        not isinstance(default, str)
        or not default
        or apex.prefix is None
        or any(e.prefix is None for e in apex.iterdescendants() if isinstance(e.tag, str))
    ):
        return canonical
    name = f"<{apex.prefix}:{apex.tag.split('}')[-1]}".encode()
    if not canonical.startswith(name):
        return canonical
    value = (
        default.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        .replace("\t", "&#x9;").replace("\n", "&#xA;").replace("\r", "&#xD;")
    )  # fmt: skip
    return name + f' xmlns="{value}"'.encode() + canonical[len(name) :]


def _apex(node: Any) -> Any:
    """``node`` as the root of a document of its own, for canonicalising it (its SignedInfo).

    lxml (6.2 with libxml2 2.14, at least) canonicalises an element that is not its
    document's root wrongly with inclusive Canonical XML 1.0 and 1.1: an element two levels
    or more below it, in the default namespace, gets a spurious ``xmlns=""``. A
    ``<Signature>`` in the default namespace (``<Signature xmlns="...xmldsig#">``, as NAADS,
    USGS and Java's XML-DSig write it) then never verified with inclusive canonicalisation:
    the ``<Transforms>`` and ``<DigestValue>`` of its ``<SignedInfo>`` are two levels down.
    The element serialised on its own carries every namespace in scope where it was (which is
    what inclusive canonicalisation of it outputs), and canonicalised as a root it is right.
    """
    from lxml import etree

    if not isinstance(node, etree._Element) or node.getparent() is None:
        return node
    return _copy(node)
