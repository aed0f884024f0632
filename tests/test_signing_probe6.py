"""Probe 6 of CAP signatures: several signatures (issuer, then a relay), certificate forms.

Keys and certificates are generated with ``cryptography``. Besides signxml's signer, some
signatures are built by hand here from the XML-DSig recipe (lxml's exclusive C14N, SHA-256,
``cryptography``'s RSA), so the verifier is checked against a producer that shares no code with
it.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cap_helpers import BASE

from geotarget import InvalidType, cap
from geotarget.errors import InvalidSignature

signxml = pytest.importorskip("signxml", reason="the 'signing' extra (signxml) is not installed")
etree = pytest.importorskip("lxml.etree")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

NOW = datetime.now(timezone.utc)
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


def make_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(key: Any, name: str, *, issuer: tuple[Any, str] | None = None) -> bytes:
    signer, issuer_name = issuer if issuer is not None else (key, name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(signer, hashes.SHA256())
    )
    out: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return out


def pem_key(key: Any) -> bytes:
    out: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return out


class _Sha1Signer(signxml.XMLSigner):  # type: ignore[misc,name-defined]
    """signxml's signer with SHA-1 allowed, as USGS and NAADS issuers still sign."""

    def check_deprecated_methods(self) -> None:
        pass


def signxml_sign(doc: bytes, key: Any, cert: bytes | list[str], sha1: bool = False) -> bytes:
    """Append an enveloped signature to <alert> with signxml (after any already there)."""
    root = etree.fromstring(doc)
    if sha1:
        signer = _Sha1Signer(
            method=signxml.methods.enveloped,
            signature_algorithm="rsa-sha1",
            digest_algorithm="sha1",
        )
    else:
        signer = signxml.XMLSigner(method=signxml.methods.enveloped)
    signed = signer.sign(root, key=pem_key(key), cert=cert)
    out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return out


def hand_sign(doc: bytes, key: Any, cert: bytes) -> bytes:
    """Append an enveloped RSA-SHA256 signature built from the XML-DSig recipe, not signxml.

    The reference digest is SHA-256 over the exclusive C14N of <alert> as it is before the
    signature is appended (that is what the enveloped-signature transform gives back), the
    signature value RSA PKCS#1 v1.5 over the exclusive C14N of <SignedInfo> in place.
    """
    root = etree.fromstring(doc)
    digest = base64.b64encode(
        hashlib.sha256(etree.tostring(root, method="c14n", exclusive=True)).digest()
    )
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    signature = etree.fromstring(
        f'<ds:Signature xmlns:ds="{DS}" Id="relay"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{EXC}"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        '<ds:Reference URI=""><ds:Transforms>'
        f'<ds:Transform Algorithm="{DS}enveloped-signature"/>'
        f'<ds:Transform Algorithm="{EXC}"/></ds:Transforms>'
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        f"<ds:DigestValue>{digest.decode()}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
        f"{base64.b64encode(der).decode()}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        "</ds:Signature>"
    )
    root.append(signature)
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    value = key.sign(
        etree.tostring(signed_info, method="c14n", exclusive=True),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


@pytest.fixture(scope="module")
def issuer() -> tuple[Any, bytes]:
    key = make_key()
    return key, make_cert(key, "polisen.se")


@pytest.fixture(scope="module")
def relay() -> tuple[Any, bytes]:
    key = make_key()
    return key, make_cert(key, "relay.example")


def test_the_pinned_certificate_may_be_der_or_a_pem_bundle(issuer: tuple[Any, bytes]) -> None:
    """DER (a ``.cer`` file's bytes) is accepted; every certificate of a PEM bundle is pinned.

    DER bytes were refused as "not PEM", and a bundle (a CA first, then the issuer) pinned only
    its first certificate, silently, so the document failed.
    """
    doc = signxml_sign(BASE.encode(), *issuer)
    der = x509.load_pem_x509_certificate(issuer[1]).public_bytes(serialization.Encoding.DER)
    assert cap.verify_signature(doc, der).alert == cap.loads(BASE)
    bundle = make_cert(make_key(), "Some CA") + b"\n" + issuer[1]
    assert cap.verify_signature(doc, bundle).alert == cap.loads(BASE)
    assert cap.verify_signature(doc, [bundle.decode()]).alert == cap.loads(BASE)
    with pytest.raises(InvalidType, match=r"certificate\[0\] is not a DER X\.509 certificate"):
        cap.verify_signature(doc, der[:-5])


def test_a_certificate_file_name_says_to_read_the_file(
    issuer: tuple[Any, bytes], tmp_path: Path
) -> None:
    """A Path raised a bare TypeError ("not iterable"); a file name as str was "not PEM"."""
    doc = signxml_sign(BASE.encode(), *issuer)
    path = tmp_path / "issuer.pem"
    path.write_bytes(issuer[1])
    with pytest.raises(InvalidType, match=r"got PosixPath\): pass the file's bytes"):
        cap.verify_signature(doc, path)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"not a file name; pass the file's bytes"):
        cap.verify_signature(doc, str(path))
    assert cap.verify_signature(doc, path.read_bytes()).alert == cap.loads(BASE)


def test_an_expired_certificate_names_at_not_signxmls_api(issuer: tuple[Any, bytes]) -> None:
    """The advice "Use SignatureConfiguration(...)" from signxml named an API the caller never sees."""
    doc = signxml_sign(BASE.encode(), *issuer)
    with pytest.raises(InvalidSignature, match=r"has expired.*at= sets the time") as caught:
        cap.verify_signature(doc, issuer[1], at=NOW + timedelta(days=60))
    assert "SignatureConfiguration" not in str(caught.value)
    with pytest.raises(InvalidSignature, match=r"not yet valid.*at= sets the time"):
        cap.verify_signature(doc, issuer[1], at=NOW - timedelta(days=60))
