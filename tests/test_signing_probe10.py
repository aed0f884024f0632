"""Probe 10 of CAP signatures: signatures as other tools write them (xmlsec1, Java, NAADS).

The oracle is never geotarget's verifier: signatures are built by hand from the XML-DSig recipe
with the canonical ``<SignedInfo>`` written out as text (so no canonicaliser is trusted), the
digest taken over :func:`xml.etree.ElementTree.canonicalize` (the standard library's, not
lxml's), and the signature value made with ``cryptography``. Where xmlsec1 (Debian's
``xmlsec1`` package, on libxml2) is installed, it signs and verifies too.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cap_helpers import BASE, explosion

from geotarget import cap
from geotarget.errors import InvalidSignature

signxml = pytest.importorskip("signxml", reason="the 'signing' extra (signxml) is not installed")
etree = pytest.importorskip("lxml.etree")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

NOW = datetime.now(timezone.utc)
DS = "http://www.w3.org/2000/09/xmldsig#"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
INCLUSIVE = [C14N10, C14N10 + "#WithComments", "http://www.w3.org/2006/12/xml-c14n11"]
EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
XMLSEC1 = shutil.which("xmlsec1")


def make_cert(key: Any, name: str = "cap.polisen.se") -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    out: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return out


def pem_key(key: Any) -> bytes:
    out: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return out


def der_b64(cert: bytes) -> str:
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def issuer() -> tuple[Any, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, make_cert(key)


def java_style(doc: str, key: Any, cert: bytes, c14n: str) -> bytes:
    """Sign ``doc`` as NAADS and Java's XML-DSig do: ``<Signature>`` in the default namespace.

    The ``<SignedInfo>`` is written in its canonical form (every element in the default
    namespace, which is the only namespace in scope inside ``<Signature>``: inclusive
    canonicalisation outputs exactly this text), and its bytes are what the key signs. The
    reference digest is over the standard library's canonical form of the unsigned alert,
    which is what the enveloped-signature transform leaves.
    """
    body = doc.split("?>", 1)[1].strip()
    digest = base64.b64encode(hashlib.sha256(ET.canonicalize(body).encode()).digest()).decode()
    inner = (
        f'<CanonicalizationMethod Algorithm="{c14n}"></CanonicalizationMethod><SignatureMethod '
        'Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"></SignatureMethod>'
        f'<Reference URI=""><Transforms><Transform Algorithm="{DS}enveloped-signature">'
        '</Transform></Transforms><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#'
        f'sha256"></DigestMethod><DigestValue>{digest}</DigestValue></Reference>'
    )
    canonical = f'<SignedInfo xmlns="{DS}">{inner}</SignedInfo>'
    value = key.sign(canonical.encode(), padding.PKCS1v15(), hashes.SHA256())
    signature = (
        f'<Signature xmlns="{DS}"><SignedInfo>{inner}</SignedInfo><SignatureValue>'
        f"{base64.b64encode(value).decode()}</SignatureValue><KeyInfo><X509Data>"
        f"<X509Certificate>{der_b64(cert)}</X509Certificate></X509Data></KeyInfo></Signature>"
    )
    return doc.replace("</alert>", signature + "</alert>").encode()


@pytest.mark.parametrize("c14n", INCLUSIVE)
def test_a_default_namespace_signature_with_inclusive_c14n_verifies(
    issuer: tuple[Any, bytes], c14n: str
) -> None:
    """``<Signature xmlns="...xmldsig#">`` with inclusive C14N, as NAADS and Java write it.

    lxml 6 (libxml2 2.14) canonicalises an element below the document's root with a spurious
    ``xmlns=""`` on its default-namespace grandchildren, so the ``<SignedInfo>`` of every such
    signature canonicalised to other bytes than were signed: a valid signature was reported
    as "changed after signing". An alteration of the alert still fails.
    """
    doc = java_style(BASE, *issuer, c14n)
    assert b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>' in doc
    assert cap.verify_signature(doc, issuer[1]).alert == cap.loads(BASE)
    altered = doc.replace(b"<severity>Severe</severity>", b"<severity>Minor</severity>")
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(altered, issuer[1])
    written = cap.dumps(explosion())  # what geotarget's writer writes, signed the same way
    assert cap.verify_signature(java_style(written, *issuer, c14n), issuer[1]).alert == (
        cap.loads(written)
    )


def xmlsec_template(doc: str, c14n: str, prefix: str) -> bytes:
    p = prefix
    xmlns = f"xmlns:{p[:-1]}" if p else "xmlns"
    signature = (
        f'<{p}Signature {xmlns}="{DS}"><{p}SignedInfo><{p}CanonicalizationMethod Algorithm="{c14n}"'
        f'/><{p}SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        f'<{p}Reference URI=""><{p}Transforms><{p}Transform Algorithm="{DS}enveloped-signature"/>'
        f'</{p}Transforms><{p}DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        f"<{p}DigestValue/></{p}Reference></{p}SignedInfo><{p}SignatureValue/><{p}KeyInfo>"
        f"<{p}X509Data><{p}X509Certificate/></{p}X509Data></{p}KeyInfo></{p}Signature>"
    )
    return doc.replace("</alert>", signature + "</alert>").encode()


def xmlsec1(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    assert XMLSEC1 is not None
    return subprocess.run([XMLSEC1, *args], capture_output=True, cwd=tmp_path, check=False)


@pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 (Debian package xmlsec1) is not installed")
@pytest.mark.parametrize("prefix", ["", "ds:"])
@pytest.mark.parametrize("c14n", [*INCLUSIVE, EXCLUSIVE])
def test_what_xmlsec1_signs_and_verifies_verifies_here(
    issuer: tuple[Any, bytes], tmp_path: Path, c14n: str, prefix: str
) -> None:
    """xmlsec1 signs geotarget's own document; both verifiers agree, before and after a change."""
    (tmp_path / "key.pem").write_bytes(pem_key(issuer[0]))
    (tmp_path / "cert.pem").write_bytes(issuer[1])
    written = cap.dumps(explosion())
    (tmp_path / "template.xml").write_bytes(xmlsec_template(written, c14n, prefix))
    made = xmlsec1(["--sign", "--privkey-pem", "key.pem,cert.pem", "template.xml"], tmp_path)
    assert made.returncode == 0, made.stderr
    doc = made.stdout
    altered = re.sub(rb"<event>[^<]*</event>", b"<event>Test</event>", doc, count=1)
    assert altered != doc
    for data, good in ((doc, True), (altered, False)):
        (tmp_path / "signed.xml").write_bytes(data)
        check = xmlsec1(["--verify", "--pubkey-cert-pem", "cert.pem", "signed.xml"], tmp_path)
        assert (check.returncode == 0) is good, check.stderr
        if good:
            assert cap.verify_signature(data, issuer[1]).alert == cap.loads(written)
        else:
            with pytest.raises(InvalidSignature, match="changed after signing"):
                cap.verify_signature(data, issuer[1])
