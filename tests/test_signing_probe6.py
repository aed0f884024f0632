"""Probe 6 of CAP signatures: several signatures (issuer, then a relay), certificate forms.

Keys and certificates are generated with ``cryptography``. Besides signxml's signer, some
signatures are built by hand here from the XML-DSig recipe (lxml's exclusive C14N, SHA-256,
``cryptography``'s RSA), so the verifier is checked against a producer that shares no code with
it.
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


@pytest.mark.parametrize("relay_signs", [signxml_sign, hand_sign])
def test_a_relays_signature_after_the_issuers_verifies_with_the_relays_certificate(
    issuer: tuple[Any, bytes], relay: tuple[Any, bytes], relay_signs: Any
) -> None:
    """NAADS-like: the issuer signs, a relay appends its own signature over the whole document.

    Only the first signature was checked, so with the relay's certificate pinned the document
    failed although the relay's signature is valid. The issuer's signature no longer verifies
    (its digest now covers the relay's signature), and the error says so for each signature.
    """
    doc = relay_signs(signxml_sign(BASE.encode(), *issuer), *relay)
    assert len(re.findall(rb"<ds:Signature[ >]", doc)) == 2
    assert cap.verify_signature(doc, relay[1]).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature) as caught:
        cap.verify_signature(doc, issuer[1])
    message = str(caught.value)
    assert re.search(r"signature\[0\].*CN=polisen\.se.*changed after signing", message)
    assert re.search(r"signature\[1\].*CN=relay\.example.*another key", message)


def test_a_sha1_issuer_signature_does_not_hide_a_relays_sha256_one(
    issuer: tuple[Any, bytes], relay: tuple[Any, bytes]
) -> None:
    """The shape of Canada's NAADS feed: the issuer signs with RSA-SHA1, the relay after it.

    With the issuer's certificate pinned, SHA-1 is refused and the message asks for SHA-256.
    """
    doc = hand_sign(signxml_sign(BASE.encode(), *issuer, sha1=True), *relay)
    assert cap.verify_signature(doc, [issuer[1], relay[1]]).alert == cap.loads(BASE)
    alone = signxml_sign(BASE.encode(), *issuer, sha1=True)
    with pytest.raises(InvalidSignature, match=r"RSA_SHA1 is refused.*sign with SHA-256"):
        cap.verify_signature(alone, issuer[1])


def test_a_valid_signature_over_other_content_never_makes_the_alert_trusted(
    issuer: tuple[Any, bytes], relay: tuple[Any, bytes]
) -> None:
    """A wrapping attempt: the pinned key's genuine signature over content inside its <Object>.

    The document's own signature is by an unpinned key; a second signature, by the pinned key
    and cryptographically valid (signxml verifies it on its own), references ``#object`` (an
    alert copied into the signature) instead of the document. It must not count.
    """
    doc = signxml_sign(BASE.encode().replace(b"Severe", b"Minor"), *relay)
    enveloping = signxml.XMLSigner(method=signxml.methods.enveloping).sign(
        etree.fromstring(BASE.encode()), key=pem_key(issuer[0]), cert=issuer[1]
    )
    oracle = signxml.XMLVerifier().verify(enveloping, x509_cert=issuer[1])
    assert oracle.signed_xml.tag == f"{{{DS}}}Object"  # a valid signature by the pinned key
    root = etree.fromstring(doc)
    root.append(enveloping)
    wrapped = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert cap.loads(wrapped).infos[0].severity == "Minor"
    with pytest.raises(InvalidSignature, match=r"signature\[1\].*URI='#object'.*cannot make it"):
        cap.verify_signature(wrapped, issuer[1])


def test_the_pinned_certificate_may_be_der_or_a_pem_bundle(issuer: tuple[Any, bytes]) -> None:
    """DER (a ``.cer`` file's bytes) is accepted; unrelated certificates of one PEM are pinned.

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


def test_the_pinned_certificate_is_checked_not_the_chain_the_signature_carries(
    issuer: tuple[Any, bytes],
) -> None:
    """A signature carrying its chain: the signer's certificate pinned verifies, the CA's not.

    The message names the certificate the signature carries, which tells the operator that a
    CA certificate was pinned where the signer's is needed.
    """
    ca_key = make_key()
    ca = make_cert(ca_key, "Issuing CA")
    leaf_key = make_key()
    leaf = make_cert(leaf_key, "cap.polisen.se", issuer=(ca_key, "Issuing CA"))
    doc = signxml_sign(BASE.encode(), leaf_key, [leaf.decode(), ca.decode()])
    assert doc.count(b"<ds:X509Certificate>") == 2
    assert cap.verify_signature(doc, leaf).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature, match=r"KeyInfo carries CN=cap\.polisen\.se.*CN=Issuing"):
        cap.verify_signature(doc, ca)


def test_an_expired_certificate_names_at_not_signxmls_api(issuer: tuple[Any, bytes]) -> None:
    """The advice "Use SignatureConfiguration(...)" from signxml named an API the caller never sees."""
    doc = signxml_sign(BASE.encode(), *issuer)
    with pytest.raises(InvalidSignature, match=r"has expired.*at= sets the time") as caught:
        cap.verify_signature(doc, issuer[1], at=NOW + timedelta(days=60))
    assert "SignatureConfiguration" not in str(caught.value)
    with pytest.raises(InvalidSignature, match=r"not yet valid.*at= sets the time"):
        cap.verify_signature(doc, issuer[1], at=NOW - timedelta(days=60))


def test_a_document_with_a_flood_of_signatures_is_refused_before_verifying(
    issuer: tuple[Any, bytes],
) -> None:
    """Each signature is verified on its own, once per pinned certificate; a flood is refused.

    Copies of a signature cost a parse and canonicalisation of the whole document each (a
    600 kB document with 300 of them took seconds); more than eight are refused unverified.
    Eight (the limit) are still all tried.
    """
    doc = signxml_sign(BASE.encode(), *issuer)
    found = re.search(rb"<ds:Signature.*</ds:Signature>", doc, re.S)
    assert found is not None
    flood = doc.replace(b"</alert>", found.group(0) * 8 + b"</alert>")
    with pytest.raises(InvalidSignature, match=r"carries 9 XML-DSig <Signature> elements, more"):
        cap.verify_signature(flood, issuer[1])
    eight = doc.replace(b"</alert>", found.group(0) * 7 + b"</alert>")
    with pytest.raises(InvalidSignature, match=r"signature\[7\].*changed after signing"):
        cap.verify_signature(eight, issuer[1])


@pytest.mark.parametrize("ca_first", [False, True])
def test_a_pem_file_with_the_signers_chain_pins_the_signer_not_its_cas(ca_first: bool) -> None:
    """A ``fullchain.pem`` (the signer, then the CA that issued it) pins the signer only.

    The leaf's signature verifies whichever comes first; a document signed with the CA's key
    does not, although the CA's certificate is in the file: pinning trusts exactly the signer.
    """
    ca_key = make_key()
    ca = make_cert(ca_key, "Issuing CA")
    leaf_key = make_key()
    leaf = make_cert(leaf_key, "cap.polisen.se", issuer=(ca_key, "Issuing CA"))
    fullchain = ca + leaf if ca_first else leaf + ca
    by_leaf = signxml_sign(BASE.encode(), leaf_key, leaf)
    assert cap.verify_signature(by_leaf, fullchain).alert == cap.loads(BASE)
    by_ca = signxml_sign(BASE.encode(), ca_key, ca)
    oracle = signxml.XMLVerifier().verify(by_ca, x509_cert=ca)  # a valid signature by the CA
    assert oracle.signed_xml is not None
    with pytest.raises(InvalidSignature) as caught:
        cap.verify_signature(by_ca, fullchain)
    assert "certificate[0] (CN=cap.polisen.se)" in str(caught.value)
    assert "CN=Issuing CA)" not in str(caught.value)


def test_pinned_certificates_may_come_in_any_collection(issuer: tuple[Any, bytes]) -> None:
    """A set, a generator, a bytearray (as read into a buffer) pin as a list does; a dict not."""
    doc = signxml_sign(BASE.encode(), *issuer)
    pem = issuer[1]
    for pinned in ({pem}, (p for p in [pem]), bytearray(pem), [memoryview(pem)], frozenset([pem])):
        assert cap.verify_signature(doc, pinned).alert == cap.loads(BASE)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match=r"or a sequence of them \(got dict\)"):
        cap.verify_signature(doc, {pem: "issuer"})


def test_a_document_pretty_printed_after_signing_is_named_as_such(
    issuer: tuple[Any, bytes],
) -> None:
    """Re-indenting after signing (as WMO's Seychelles sample shows) was blamed on another key.

    The signature carries the pinned certificate itself, so its value failing means what it
    signs changed, not the key. A signature by another key keeps the plain reason.
    """
    doc = signxml_sign(BASE.encode(), *issuer)
    parser = etree.XMLParser(remove_blank_text=True)
    pretty = etree.tostring(etree.fromstring(doc, parser), pretty_print=True)
    assert b"\n    <ds:SignedInfo>" in pretty or b"\n  <ds:SignedInfo>" in pretty
    with pytest.raises(InvalidSignature, match=r"carries this very certificate.*pretty-printing"):
        cap.verify_signature(pretty, issuer[1])
    other = make_cert(make_key(), "polisen.se")
    with pytest.raises(InvalidSignature, match=r"signed with another key") as caught:
        cap.verify_signature(doc, other)
    assert "very certificate" not in str(caught.value)


@pytest.mark.parametrize(
    "transform",
    [
        '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116">'
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"/>'
        "</ds:Transform>",
        '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
        "<ds:XPath>self::text()</ds:XPath></ds:Transform>",
    ],
)
def test_a_reference_with_another_transform_is_refused_by_name(
    issuer: tuple[Any, bytes], transform: str
) -> None:
    """A reference with an XSLT or XPath-filter transform is refused naming the transform.

    signxml skips transforms it does not know, so a signer that used one covered other bytes
    than the whole alert; it was reported as a content change after signing.
    """
    doc = signxml_sign(BASE.encode(), *issuer)
    enveloped = f'<ds:Transform Algorithm="{DS}enveloped-signature"/>'.encode()
    assert enveloped in doc
    odd = doc.replace(enveloped, enveloped + transform.encode())
    with pytest.raises(InvalidSignature, match=r"lists the transform 'http://www\.w3\.org/TR/1999"):
        cap.verify_signature(odd, issuer[1])
