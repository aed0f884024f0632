"""Probe 15 of CAP signatures: base64 values altered after signing, keys and pinned files.

The oracles are xmlsec1 (Debian's ``xmlsec1`` package; ``--verify`` on the very bytes given to
geotarget) and XML-DSig's schema, which types every digest, signature and certificate value
``xs:base64Binary``: the base64 alphabet, ``=`` padding at the end and whitespace, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cap_helpers import BASE

from geotarget import cap
from geotarget.errors import InvalidSignature, InvalidType

signxml = pytest.importorskip("signxml", reason="the 'signing' extra (signxml) is not installed")
etree = pytest.importorskip("lxml.etree")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from test_signing_probe6 import pem_key  # noqa: E402
from test_signing_probe11 import certificate, sign, xmlsec1  # noqa: E402

NOW = datetime.now(timezone.utc)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def issuer() -> tuple[bytes, bytes]:
    """A document signed by signxml and the certificate it was signed with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pinned = certificate(key, "cap.polisen.se")
    return sign(key, [pinned]), pinned


def xmlsec1_verifies(doc: bytes, pinned: bytes, tmp_path: Path) -> bool:
    (tmp_path / "doc.xml").write_bytes(doc)
    (tmp_path / "cert.pem").write_bytes(pinned)
    return (
        xmlsec1(["--verify", "--pubkey-cert-pem", "cert.pem", "doc.xml"], tmp_path).returncode == 0
    )


def insert(doc: bytes, element: bytes, text: bytes, at: int = 10) -> bytes:
    """``doc`` with ``text`` inserted ``at`` characters into the first ``<ds:element>``'s value."""
    out, n = re.subn(
        rb"(<ds:" + element + rb">[^<]{" + str(at).encode() + rb"})", rb"\1" + text, doc, count=1
    )
    assert n == 1
    return out


@pytest.mark.parametrize(
    ("element", "text"),
    [
        (b"SignatureValue", b"!"),
        (b"SignatureValue", b"%%"),
        (b"SignatureValue", b"=="),  # padding in the middle
        (b"SignatureValue", "\u00e9".encode()),
        (b"X509Certificate", b"!"),
        (b"X509Certificate", b"-"),
        (b"DigestValue", b"*"),
    ],
    ids=["bang", "percent", "mid-padding", "non-ascii", "cert-bang", "cert-dash", "digest-star"],
)
def test_a_base64_value_altered_with_other_characters_is_refused_by_name(
    issuer: tuple[bytes, bytes], element: bytes, text: bytes, tmp_path: Path
) -> None:
    """A character outside base64 inserted after signing makes the signature malformed.

    signxml decoded base64 leniently, dropping what is not base64, so a ``<SignatureValue>``
    or an (unsigned) ``<X509Certificate>`` with ``!`` inserted verified where xmlsec1 refuses
    it and the schema forbids it: the signature verified was not the one received.
    """
    signed, pinned = issuer
    assert xmlsec1_verifies(signed, pinned, tmp_path)
    assert cap.verify_signature(signed, pinned).alert == cap.loads(BASE)
    altered = insert(signed, element, text)
    assert not xmlsec1_verifies(altered, pinned, tmp_path)
    with pytest.raises(
        InvalidSignature, match=rf"<{element.decode()}> is not base64 data .*xs:base64Binary"
    ):
        cap.verify_signature(altered, pinned)


@pytest.mark.parametrize(
    "text", [b"\n  ", b"<!-- relayed -->", b"\t\r\n"], ids=["newline", "comment", "tab"]
)
def test_whitespace_or_a_comment_in_a_base64_value_still_verifies(
    issuer: tuple[bytes, bytes], text: bytes, tmp_path: Path
) -> None:
    """Whitespace is part of ``xs:base64Binary``; a comment is no part of the value."""
    signed, pinned = issuer
    for element in (b"SignatureValue", b"X509Certificate"):
        altered = insert(signed, element, text, at=7)  # not at a 4-character boundary
        assert xmlsec1_verifies(altered, pinned, tmp_path)
        assert cap.verify_signature(altered, pinned).alert == cap.loads(BASE)


DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


def exc_template(prefixes: str) -> bytes:
    """BASE with a ds:-prefixed template whose SignedInfo is Exclusive C14N with a PrefixList."""
    signature = (
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="'
        f'{EXC}"><ec:InclusiveNamespaces xmlns:ec="{EXC}" PrefixList="{prefixes}"/>'
        "</ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="
        '"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="">'
        f'<ds:Transforms><ds:Transform Algorithm="{DS}enveloped-signature"/></ds:Transforms>'
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>'
        "</ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data>"
        "<ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
    return BASE.replace("</alert>", signature + "</alert>").encode()


@pytest.mark.parametrize("prefixes", ["#default", "ds #default", "#default ec"])
def test_an_exclusive_prefix_list_naming_the_default_namespace_verifies(
    prefixes: str, tmp_path: Path
) -> None:
    """Exc-C14N §3: ``#default`` in a PrefixList outputs the default namespace on the apex.

    A ``<ds:SignedInfo>`` below ``<alert xmlns="...cap:1.2">`` canonicalised so carries that
    ``xmlns`` in what is signed; lxml ignores ``#default``, so what xmlsec1 signed and
    verifies was called "changed after signing". The same document with its content changed
    still fails in both.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pinned = certificate(key, "cap.polisen.se")
    (tmp_path / "key.pem").write_bytes(pem_key(key))
    (tmp_path / "cert.pem").write_bytes(pinned)
    (tmp_path / "template.xml").write_bytes(exc_template(prefixes))
    made = xmlsec1(["--sign", "--privkey-pem", "key.pem,cert.pem", "template.xml"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert xmlsec1_verifies(made.stdout, pinned, tmp_path)
    assert cap.verify_signature(made.stdout, pinned).alert == cap.loads(BASE)
    altered = re.sub(rb"<event>[^<]*</event>", b"<event>Test</event>", made.stdout, count=1)
    assert altered != made.stdout
    assert not xmlsec1_verifies(altered, pinned, tmp_path)
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(altered, pinned)


def test_an_hmac_signature_is_refused_as_a_shared_secret_not_malformed(
    issuer: tuple[bytes, bytes],
) -> None:
    """An HMAC ``<SignatureMethod>`` proves only knowledge of a shared secret, never the issuer.

    It was reported as "malformed or not acceptable (Unsupported signature algorithm ...)".
    """
    hmac = signxml.XMLSigner(method=signxml.methods.enveloped, signature_algorithm="hmac-sha256")
    signed = etree.tostring(hmac.sign(etree.fromstring(BASE.encode()), key=b"shared secret"))
    with pytest.raises(InvalidSignature, match=r"HMAC_SHA256 is a keyed hash .* shared secret"):
        cap.verify_signature(signed, issuer[1])


def test_an_eddsa_signature_names_its_algorithm_as_unsupported() -> None:
    """RFC 9231's Ed25519 ``<SignatureMethod>``, made by hand with ``cryptography``.

    Neither signxml nor xmlsec1 1.2 verify EdDSA; the refusal names the algorithm's URI and
    what is supported, instead of calling the signature malformed.
    """
    eddsa = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed25519.polisen.se")])
    pinned = (
        x509.CertificateBuilder(name, name, key.public_key(), 1, NOW - DAY, NOW + DAY)
        .sign(key, None)  # Ed25519 signs with no separate hash
        .public_bytes(serialization.Encoding.PEM)
    )
    template = exc_template("ds").replace(
        b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", eddsa.encode()
    )
    root = etree.fromstring(template)
    signature = root.find(f"{{{DS}}}Signature")
    reference = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    signature.getparent().remove(signature)
    content = etree.tostring(root, method="c14n", exclusive=True)
    root.append(signature)
    reference.find(f"{{{DS}}}DigestValue").text = base64.b64encode(
        hashlib.sha256(content).digest()
    ).decode()
    info = etree.fromstring(etree.tostring(signature.find(f"{{{DS}}}SignedInfo")))
    signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(
        key.sign(etree.tostring(info, method="c14n", exclusive=True))
    ).decode()
    with pytest.raises(InvalidSignature, match=rf"{re.escape(eddsa)} is not one verified here"):
        cap.verify_signature(etree.tostring(root), pinned)


@pytest.mark.parametrize("empty", [b"", b"\n", "", "  \n", bytearray()], ids=repr)
def test_an_empty_pinned_certificate_is_named_empty(
    issuer: tuple[bytes, bytes], empty: str | bytes
) -> None:
    """An empty certificate file read and pinned is said to be empty, with its index.

    It was a DER "ShortData" parse error, or (a str) advice that a str is no file name.
    """
    with pytest.raises(InvalidType, match=r"certificate\[1\] is empty"):
        cap.verify_signature(issuer[0], [issuer[1], empty])


def test_thousands_of_certificates_added_to_keyinfo_cost_linear_work(
    issuer: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyInfo is unsigned: anyone relaying a document can stuff it with certificates.

    Naming the signer among the carried certificates compared each with each: 3,000 copies
    (2.9 MB, under the reader's 4 MiB) took about 25 s per document. The work is counted in
    certificate-name comparisons, which must grow linearly with the certificates carried.
    """
    signed, pinned = issuer
    der = base64.b64encode(x509.load_pem_x509_certificate(pinned).public_bytes(
        serialization.Encoding.DER
    ))  # fmt: skip
    carried = 600
    element = b"<ds:X509Certificate>" + der + b"</ds:X509Certificate>"
    stuffed = signed.replace(b"</ds:X509Data>", element * carried + b"</ds:X509Data>", 1)
    assert stuffed.count(b"<ds:X509Certificate>") > carried
    comparisons = 0
    compare = x509.Name.__eq__

    def counted(self: Any, other: object) -> bool:
        nonlocal comparisons
        comparisons += 1
        return bool(compare(self, other))

    monkeypatch.setattr(x509.Name, "__eq__", counted)
    assert cap.verify_signature(stuffed, pinned).alert == cap.loads(BASE)
    assert comparisons < 20 * carried


#: DER of the OIDs of the curves prime256v1 (NIST P-256) and SM2 (1.2.156.10197.1.301).
P256_OID = bytes.fromhex("06082a8648ce3d030107")
SM2_OID = bytes.fromhex("06082a811ccf5501822d")


def test_a_pinned_certificate_on_a_curve_cryptography_lacks_is_one_that_verifies_nothing(
    issuer: tuple[bytes, bytes],
) -> None:
    """A certificate whose key is on SM2 (China's national curve) among the pinned ones.

    Its key cannot be loaded, and ``cryptography``'s UnsupportedAlgorithm escaped
    :func:`cap.verify_signature` (and ``Targeter.receive``), even when another pinned
    certificate (a key rollover) made the signature. The certificate is a P-256 one with the
    curve's OID rewritten to SM2's (same length): it still reads as a certificate.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    der = x509.load_pem_x509_certificate(certificate(key, "sm2.example.cn")).public_bytes(
        serialization.Encoding.DER
    )
    assert der.count(P256_OID) == 1
    sm2 = der.replace(P256_OID, SM2_OID)
    signed, pinned = issuer
    assert cap.verify_signature(signed, [sm2, pinned]).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature, match=r"\(CN=sm2\.example\.cn\): this certificate's pub"):
        cap.verify_signature(signed, sm2)
