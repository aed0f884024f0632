"""Signed CAP: enveloped XML-DSig verified against a pinned certificate (the ``signing`` extra).

Keys and self-signed certificates are generated here with ``cryptography``; documents are
signed with signxml's signer, so the verifier is checked against an independent producer.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cap_helpers import BASE, SWEDEN

from geotarget import InvalidCAP, InvalidType, cap
from geotarget.errors import InvalidSignature, MissingSignature

signxml = pytest.importorskip("signxml", reason="the 'signing' extra (signxml) is not installed")
etree = pytest.importorskip("lxml.etree")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

NOW = datetime.now(timezone.utc)


def make_key(kind: str = "rsa") -> Any:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(key: Any, name: str = "polisen.se", days: int = 30, start: int = -1) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + timedelta(days=start))
        .not_valid_after(NOW + timedelta(days=start + days))
        .sign(key, hashes.SHA256())
    )
    out: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return out


def pem_key(key: Any) -> bytes:
    out: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return out


def sign(doc: bytes, key: Any, cert: bytes, **kw: Any) -> bytes:
    """Sign ``doc`` with an enveloped signature appended to <alert>, as CAP 1.2 §3.3.4.1 says."""
    root = etree.fromstring(doc)
    algorithm = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    signed = signxml.XMLSigner(
        method=signxml.methods.enveloped, signature_algorithm=algorithm, **kw
    ).sign(root, key=pem_key(key), cert=cert)
    out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return out


@pytest.fixture(scope="module")
def issuer() -> tuple[Any, bytes]:
    key = make_key()
    return key, make_cert(key)


@pytest.fixture(scope="module")
def signed(issuer: tuple[Any, bytes]) -> bytes:
    key, cert = issuer
    return sign(BASE.encode("utf-8"), key, cert)


def test_a_signed_document_verifies_and_reads_the_same_alert(
    signed: bytes, issuer: tuple[Any, bytes]
) -> None:
    """A document signed by the pinned key verifies; the alert is the one the document holds."""
    parsed = cap.verify_signature(signed, issuer[1])
    assert parsed.alert == cap.loads(BASE)
    assert parsed.warnings == cap.read(BASE).warnings
    assert cap.verify_signature(signed, issuer[1].decode("ascii")).alert == parsed.alert
    assert b"<ds:Signature" in signed or b"<Signature" in signed


def test_an_ecdsa_signature_verifies_too() -> None:
    """ECDSA P-256 signatures verify like RSA ones."""
    key = make_key("ec")
    cert = make_cert(key)
    assert cap.verify_signature(sign(BASE.encode(), key, cert), cert).alert == cap.loads(BASE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<severity>Severe</severity>", b"<severity>Minor</severity>"),
        (b"59.3325,18.06528 0.5", b"59.3325,18.06528 5"),
        (b"<headline>Explosion vid Sergels torg</headline>", b"<headline>Lugnt</headline>"),
    ],
)
def test_a_document_altered_after_signing_fails(
    signed: bytes, issuer: tuple[Any, bytes], old: bytes, new: bytes
) -> None:
    """Changing any signed element after signing breaks the digest: InvalidSignature says so."""
    altered = signed.replace(old, new)
    assert altered != signed
    cap.loads(altered)  # still a perfectly valid CAP document
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(altered, issuer[1])


def test_a_signature_by_another_key_fails(signed: bytes) -> None:
    """A certificate other than the signer's does not verify, even with the same name."""
    other = make_cert(make_key(), name="polisen.se")
    with pytest.raises(InvalidSignature, match="does not verify with this certificate"):
        cap.verify_signature(signed, other)


def test_any_of_several_pinned_certificates_may_have_signed(
    signed: bytes, issuer: tuple[Any, bytes]
) -> None:
    """With several pinned certificates (key rollover), the signer's one is enough."""
    other = make_cert(make_key(), name="old.polisen.se")
    assert cap.verify_signature(signed, [other, issuer[1]]).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature, match=r"certificate\[0\].*certificate\[1\]"):
        cap.verify_signature(signed, [other, other])


def test_a_missing_signature_fails_where_required(issuer: tuple[Any, bytes]) -> None:
    """An unsigned document raises MissingSignature (an InvalidSignature), naming the element."""
    with pytest.raises(MissingSignature, match="no XML-DSig <Signature>"):
        cap.verify_signature(BASE.encode(), issuer[1])
    assert issubclass(MissingSignature, InvalidSignature)
    assert issubclass(InvalidSignature, ValueError)


def test_the_certificate_must_be_valid_at_the_time_asked(signed: bytes) -> None:
    """A pinned certificate outside its validity period fails, unless verified at a time inside it."""
    key = make_key()
    expired = make_cert(key, days=10, start=-40)
    doc = sign(BASE.encode(), key, expired)
    with pytest.raises(InvalidSignature, match="certificate is not acceptable"):
        cap.verify_signature(doc, expired)
    then = NOW - timedelta(days=35)
    assert cap.verify_signature(doc, expired, at=then).alert == cap.loads(BASE)


def test_a_signature_moved_off_the_alert_or_unsigned_content_fails(
    signed: bytes, issuer: tuple[Any, bytes]
) -> None:
    """Content added beside the signature is not CAP; a duplicated signature is refused."""
    sig = re.search(rb"<ds:Signature.*</ds:Signature>", signed, re.S)
    assert sig is not None
    twice = signed.replace(b"</alert>", sig.group(0) + b"</alert>")
    with pytest.raises(InvalidSignature):
        cap.verify_signature(twice, issuer[1])
    wrapped = signed.replace(b"</info>", b"</info><info>" + b"x" * 3 + b"</info>", 1)
    with pytest.raises(InvalidCAP):
        cap.verify_signature(wrapped, issuer[1])


@pytest.mark.parametrize(
    ("pattern", "repl", "element"),
    [
        (rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", b"<ds:SignatureValue/>",
         "SignatureValue"),
        (rb"</ds:X509Data>", b"</ds:X509Data><ds:KeyValue><ds:RSAKeyValue><ds:Modulus/>"
         b"<ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>", "Modulus"),
        (rb"</ds:X509Data>", b"</ds:X509Data><dsig11:DEREncodedKeyValue "
         b'xmlns:dsig11="http://www.w3.org/2009/xmldsig11#"></dsig11:DEREncodedKeyValue>',
         "DEREncodedKeyValue"),
    ],
)  # fmt: skip
def test_an_empty_base64_value_in_the_signature_is_an_invalid_signature(
    signed: bytes, issuer: tuple[Any, bytes], pattern: bytes, repl: bytes, element: str
) -> None:
    """An empty ``<SignatureValue/>``, or an empty key value added to the (unsigned) KeyInfo.

    The schema lets base64 content be empty; signxml then raised a TypeError (``b64decode`` of
    None) out of :func:`cap.verify_signature` and ``Targeter.receive``. Anyone relaying a
    signed document can add such a KeyValue, since KeyInfo is not covered by the signature.
    """
    broken = re.sub(pattern, repl, signed, count=1)
    assert broken != signed
    with pytest.raises(InvalidSignature, match=rf"<{element}> is empty"):
        cap.verify_signature(broken, issuer[1])


def test_only_validated_bytes_reach_lxml(issuer: tuple[Any, bytes], signed: bytes) -> None:
    """Hostile XML is refused by the safe reader before signxml/lxml see it."""
    bomb = b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaa">]>' + signed.split(b"?>", 1)[1]
    with pytest.raises(InvalidCAP, match="DOCTYPE"):
        cap.verify_signature(bomb, issuer[1])
    with pytest.raises(InvalidCAP, match="encoding"):
        cap.verify_signature(re.sub(rb"encoding=.UTF-8.", b"encoding='hex'", signed), issuer[1])
    with pytest.raises(InvalidType, match="bytes as received"):
        cap.verify_signature(signed.decode(), issuer[1])  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"not a PEM X\.509 certificate"):
        cap.verify_signature(
            signed, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
    with pytest.raises(InvalidCAP):
        cap.verify_signature(signed.replace(b"59.3325,18.06528", b"18.06528,59.3325"), issuer[1],
                             envelope=SWEDEN)  # fmt: skip


@pytest.mark.shared_data
def test_real_signed_documents(shared_data: Path) -> None:
    """Real signatures: the corrupted one never verifies; the others fail only as explained.

    Nobody here pins these issuers' certificates, so each document is tried against the
    certificate it carries itself (which proves integrity, not authority), at a time inside
    that certificate's validity:

    * ``wmo_sc_invalid_signature.xml``: its SignatureValue is not even base64: refused.
    * ``wmo_sc_valid.xml``: signed over a whitespace-stripped form and pretty-printed after
      signing (WMO's capvalidator strips blank text before verifying); as distributed, its
      bytes do not match the signature, and geotarget does not rewrite what it verifies.
    * ``google_earthquake-iso8859-1.xml`` (USGS): RSA-SHA1, refused by default.
    * ``google_canada_signed.xml``: two signatures, RSA-SHA1, an ``Id`` that is not an xs:ID.
    """
    folder = shared_data / "cap"

    def outcome(name: str) -> str:
        data = (folder / name).read_bytes()
        m = re.search(rb"<(?:\w+:)?X509Certificate>([^<]+)</", data)
        if m is None:  # the USGS document carries only an RSAKeyValue
            pem, at = make_cert(make_key()), None
        else:
            body = base64.encodebytes(base64.b64decode(m.group(1)))
            pem = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
            at = x509.load_pem_x509_certificate(pem).not_valid_before_utc + timedelta(days=1)
        try:
            cap.verify_signature(data, pem, at=at)
        except InvalidSignature as err:
            return str(err)
        return "verified"

    assert "not a valid value of the atomic type 'xs:base64Binary'" in outcome(
        "wmo_sc_invalid_signature.xml"
    )
    assert "does not verify with this certificate's public key" in outcome("wmo_sc_valid.xml")
    assert "RSA_SHA1 forbidden" in outcome("google_earthquake-iso8859-1.xml")
    assert "xs:ID" in outcome("google_canada_signed.xml")


def test_without_the_signing_extra_the_error_names_it(
    monkeypatch: pytest.MonkeyPatch, signed: bytes, issuer: tuple[Any, bytes]
) -> None:
    """Without signxml installed, verify_signature raises MissingExtra naming 'signing'."""
    import sys

    from geotarget.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "signxml", None)
    with pytest.raises(MissingExtra, match=r"pip install -e '\.\[signing\]' from a geotarget"):
        cap.verify_signature(signed, issuer[1])


def test_the_verification_time_must_be_aware(signed: bytes, issuer: tuple[Any, bytes]) -> None:
    """A naive `at` is refused, never taken as UTC or local time."""
    with pytest.raises(InvalidType, match="timezone-aware"):
        cap.verify_signature(signed, issuer[1], at=datetime(2026, 5, 4))
    with pytest.raises(InvalidType, match="got none"):
        cap.verify_signature(signed, [])
