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
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cap_helpers import BASE, explosion

from geotarget import cap
from geotarget.errors import InvalidCAP, InvalidSignature

signxml = pytest.importorskip("signxml", reason="the 'signing' extra (signxml) is not installed")
etree = pytest.importorskip("lxml.etree")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from test_signing_probe6 import make_cert as _signed_cert  # noqa: E402
from test_signing_probe6 import pem_key  # noqa: E402

NOW = datetime.now(timezone.utc)
DS = "http://www.w3.org/2000/09/xmldsig#"
DS11 = "http://www.w3.org/2009/xmldsig11#"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
INCLUSIVE = [C14N10, C14N10 + "#WithComments", "http://www.w3.org/2006/12/xml-c14n11"]
EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
XMLSEC1 = shutil.which("xmlsec1")


def make_cert(key: Any, name: str = "cap.polisen.se") -> bytes:
    """A self-signed certificate of ``key`` (probe 6's, under this probe's default name)."""
    return _signed_cert(key, name)


def der_b64(cert: bytes) -> str:
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def issuer() -> tuple[Any, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, make_cert(key)


def java_style(doc: str, key: Any, cert: bytes, c14n: str, transform: str = "") -> bytes:
    """Sign ``doc`` as NAADS and Java's XML-DSig do: ``<Signature>`` in the default namespace.

    The ``<SignedInfo>`` is written in its canonical form (every element in the default
    namespace, which is the only namespace in scope inside ``<Signature>``: inclusive
    canonicalisation outputs exactly this text), and its bytes are what the key signs. The
    reference digest is over the standard library's canonical form of the unsigned alert,
    which is what the enveloped-signature transform leaves (a same-document reference,
    ``URI=""``, is the document without its comments, XML-DSig 1.0 §4.3.3.3, whatever
    canonicalisation ``transform`` names after it).
    """
    body = doc.split("?>", 1)[1].strip()
    digest = base64.b64encode(hashlib.sha256(ET.canonicalize(body).encode()).digest()).decode()
    inner = (
        f'<CanonicalizationMethod Algorithm="{c14n}"></CanonicalizationMethod><SignatureMethod '
        'Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"></SignatureMethod>'
        f'<Reference URI=""><Transforms><Transform Algorithm="{DS}enveloped-signature">'
        + (f'</Transform><Transform Algorithm="{transform}">' if transform else "")
        + '</Transform></Transforms><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#'
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
    """Run xmlsec1: skipped locally without it; in CI (``CI=true``, .ci/run installs it) a failure."""
    if XMLSEC1 is None:
        if os.environ.get("CI") == "true":
            pytest.fail("xmlsec1 is required in CI: .ci/run installs Debian's xmlsec1 package")
        pytest.skip("xmlsec1 (Debian package xmlsec1) is not installed")
    return subprocess.run([XMLSEC1, *args], capture_output=True, cwd=tmp_path, check=False)


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


def with_key_value(doc: bytes, key_value: bytes) -> bytes:
    """``doc`` with ``key_value`` added to its signature's (unsigned) ``<KeyInfo>``."""
    out = doc.replace(b"</ds:X509Data>", b"</ds:X509Data>" + key_value, 1)
    assert out != doc
    return out


def ec_key_value(key: Any, oid: str) -> bytes:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return (
        f'<ds:KeyValue><dsig11:ECKeyValue xmlns:dsig11="{DS11}"><dsig11:NamedCurve '
        f'URI="urn:oid:{oid}"/><dsig11:PublicKey>{base64.b64encode(point).decode()}'
        "</dsig11:PublicKey></dsig11:ECKeyValue></ds:KeyValue>"
    ).encode()


def test_a_signature_carrying_its_key_value_verifies_whatever_its_algorithm(
    issuer: tuple[Any, bytes],
) -> None:
    """RSA-PSS, or a curve signxml does not list, with a matching ``<KeyValue>`` in KeyInfo.

    signxml's own signer writes the KeyValue with ``always_add_key_value=True``; signxml's
    verifier then compared it with the pinned key only for the algorithms it pairs with a key
    type, and raised a bare NotImplementedError for RSA-PSS (``sha256-rsa-MGF1``) and a
    KeyError for a Brainpool curve: out of verify_signature and Targeter.receive, for
    signatures that verify (the oracle: signxml told to ignore the KeyValue).
    """
    key, cert = issuer
    pss = signxml.XMLSigner(
        method=signxml.methods.enveloped, signature_algorithm="sha256-rsa-MGF1"
    ).sign(etree.fromstring(BASE.encode()), key=pem_key(key), cert=cert, always_add_key_value=True)
    doc = etree.tostring(pss)
    assert b"<ds:RSAKeyValue>" in doc
    oracle = signxml.SignatureConfiguration(ignore_ambiguous_key_info=True)
    signxml.XMLVerifier().verify(doc, x509_cert=cert, expect_config=oracle)
    assert cap.verify_signature(doc, cert).alert == cap.loads(BASE)

    brainpool = ec.generate_private_key(ec.BrainpoolP256R1())
    bp_cert = make_cert(brainpool)
    signed = signxml.XMLSigner(
        method=signxml.methods.enveloped, signature_algorithm="ecdsa-sha256"
    ).sign(etree.fromstring(BASE.encode()), key=pem_key(brainpool), cert=bp_cert)
    doc = with_key_value(etree.tostring(signed), ec_key_value(brainpool, "1.3.36.3.3.2.8.1.1.7"))
    signxml.XMLVerifier().verify(doc, x509_cert=bp_cert, expect_config=oracle)
    assert cap.verify_signature(doc, bp_cert).alert == cap.loads(BASE)


def test_a_key_value_added_to_keyinfo_is_refused_by_name_never_a_crash(
    issuer: tuple[Any, bytes],
) -> None:
    """Anyone relaying a document can add to its (unsigned) KeyInfo: refused, with the reason.

    A curve signxml does not list raised KeyError, a DER key of another type than the pinned
    one NotImplementedError; another RSA key's value gave signxml's advice to call
    ``verify(ignore_ambiguous_key_info=True)``, an API the caller never sees.
    """
    key, cert = issuer
    doc = signxml.XMLSigner(method=signxml.methods.enveloped).sign(
        etree.fromstring(BASE.encode()), key=pem_key(key), cert=cert
    )
    signed = etree.tostring(doc)
    other_ec = ec.generate_private_key(ec.SECP256R1())
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    spki = other_ec.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    n = other_rsa.public_key().public_numbers().n
    modulus = base64.b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode()
    cases = {
        ec_key_value(other_ec, "1.2.3.4"): r"<KeyValue> its <KeyInfo> carries does not read as a "
        r"public key \(.*elliptic curve",
        f'<dsig11:DEREncodedKeyValue xmlns:dsig11="{DS11}">{base64.b64encode(spki).decode()}'
        "</dsig11:DEREncodedKeyValue>".encode(): r"<DEREncodedKeyValue> its <KeyInfo> carries "
        r"is another public key than the pinned certificate's",
        f"<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>{modulus}</ds:Modulus><ds:Exponent>AQAB"
        "</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>".encode(): r"<KeyValue> its <KeyInfo> "
        r"carries is another public key.*the \(unsigned\) KeyInfo was changed",
    }
    for key_value, reason in cases.items():
        with pytest.raises(InvalidSignature, match=reason) as caught:
            cap.verify_signature(with_key_value(signed, key_value), cert)
        assert "ignore_ambiguous_key_info" not in str(caught.value)


def test_a_certificate_of_another_key_kind_is_reported_as_another_key(
    issuer: tuple[Any, bytes],
) -> None:
    """An RSA signature against an EC certificate (an issuer rolling over to ECDSA) and back.

    signxml's reason, "DER encoded key value does not match specified signature algorithm",
    made the operator look for a malformed signature, where the document holds no such value:
    it is a signature by another key than the pinned certificate's, as for two RSA keys.
    """
    key, cert = issuer
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_cert = make_cert(ec_key)
    by_rsa = etree.tostring(
        signxml.XMLSigner(method=signxml.methods.enveloped).sign(
            etree.fromstring(BASE.encode()), key=pem_key(key), cert=cert
        )
    )
    by_ec = etree.tostring(
        signxml.XMLSigner(
            method=signxml.methods.enveloped, signature_algorithm="ecdsa-sha256"
        ).sign(etree.fromstring(BASE.encode()), key=pem_key(ec_key), cert=ec_cert)
    )
    for doc, pinned, reason in (
        (by_rsa, ec_cert, r"RSA_SHA256 is for RSA keys, and this certificate's key is EC"),
        (by_ec, cert, r"ECDSA_SHA256 is for EC keys, and this certificate's key is RSA"),
    ):
        with pytest.raises(InvalidSignature, match=reason + ": signed with another key") as caught:
            cap.verify_signature(doc, pinned)
        assert "malformed" not in str(caught.value)
        assert "DER encoded" not in str(caught.value)
    assert cap.verify_signature(by_ec, [cert, ec_cert]).alert == cap.loads(BASE)  # a rollover


@pytest.mark.parametrize("transform", [INCLUSIVE[1], EXCLUSIVE + "WithComments"])
def test_a_reference_canonicalised_with_comments_leaves_the_comments_out(
    issuer: tuple[Any, bytes], transform: str
) -> None:
    """``URI=""`` then a ``#WithComments`` canonicalisation, over an alert holding comments.

    A same-document reference is the document without its comments (XML-DSig 1.0 §4.3.3.3:
    a later transform cannot bring them back), as xmlsec1 and Java sign it. signxml digested
    the comments too, so such a valid signature failed as "changed after signing". Comments
    still change freely, and a change to the text around one still fails.
    """
    commented = BASE.replace(
        "<event>Explosion</event>", "<!-- from SOS Alarm --><event>Explo<!-- x -->sion</event>"
    )
    doc = java_style(commented, *issuer, INCLUSIVE[1], transform)
    assert cap.verify_signature(doc, issuer[1]).alert == cap.loads(BASE)
    edited = doc.replace(b"from SOS Alarm", b"edited by a relay")
    assert cap.verify_signature(edited, issuer[1]).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(doc.replace(b"Explo<!-- x -->sion", b"Explo<!-- x -->sive"), issuer[1])


def test_inclusive_namespaces_in_the_canonicalization_method_are_accepted(
    issuer: tuple[Any, bytes],
) -> None:
    """``<CanonicalizationMethod>`` (exclusive) naming a ``PrefixList``, as SAML-style signers do.

    Exclusive C14N's ``<InclusiveNamespaces>`` sits in a strict wildcard of the XML-DSig
    schema, and signxml's schemas do not declare it: such a signature was refused as
    malformed before anything was checked. The canonical ``<SignedInfo>`` is written by hand:
    ``ds`` is visibly used, and ``x`` is declared on ``<alert>`` and listed, so both appear.
    """
    key, cert = issuer
    doc = BASE.replace(
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">',
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" xmlns:x="urn:x">',
    )
    body = doc.split("?>", 1)[1].strip()
    digest = base64.b64encode(hashlib.sha256(ET.canonicalize(body).encode()).digest()).decode()
    inner = (
        f'<ds:CanonicalizationMethod Algorithm="{EXCLUSIVE}"><ec:InclusiveNamespaces xmlns:ec='
        f'"{EXCLUSIVE}" PrefixList="x"></ec:InclusiveNamespaces></ds:CanonicalizationMethod>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256">'
        '</ds:SignatureMethod><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="'
        f'{DS}enveloped-signature"></ds:Transform><ds:Transform Algorithm="{EXCLUSIVE}">'
        '</ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/'
        f'xmlenc#sha256"></ds:DigestMethod><ds:DigestValue>{digest}</ds:DigestValue>'
        "</ds:Reference>"
    )
    canonical = f'<ds:SignedInfo xmlns:ds="{DS}" xmlns:x="urn:x">{inner}</ds:SignedInfo>'
    value = base64.b64encode(key.sign(canonical.encode(), padding.PKCS1v15(), hashes.SHA256()))
    signature = (
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>{inner}</ds:SignedInfo><ds:SignatureValue>'
        f"{value.decode()}</ds:SignatureValue></ds:Signature>"
    )
    signed = doc.replace("</alert>", signature + "</alert>").encode()
    assert cap.verify_signature(signed, cert).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(signed.replace(b"Severe", b"Extreme"), cert)


STYLESHEET = '<?xml-stylesheet type="text/xsl" href="https://example.org/cap.xsl"?>'


def test_a_stylesheet_instruction_outside_the_alert_is_signed_as_xml_dsig_says(
    issuer: tuple[Any, bytes],
) -> None:
    """``<?xml-stylesheet?>`` before ``<alert>``, as NWS and WMO's national services write.

    ``URI=""`` is the whole document without comments (XML-DSig 1.0 §4.3.3.3), so xmlsec1 and
    Java digest the instructions outside the root element too (the standard library's
    canonical form has them); signxml left them out, so such a valid signature failed as
    "changed after signing". A document signed the signxml way, its stylesheet added after
    signing (WMO's CAP composer), still verifies: the alert is covered either way.
    """
    doc = BASE.replace("?>\n<alert", f"?>\n{STYLESHEET}\n<alert") + "<?generator cap-1?>\n"
    signed = java_style(doc, *issuer, C14N10)
    assert cap.verify_signature(signed, issuer[1]).alert == cap.loads(BASE)
    for dropped in (STYLESHEET.encode(), b"<?generator cap-1?>"):
        with pytest.raises(InvalidSignature, match="changed after signing"):
            cap.verify_signature(signed.replace(dropped, b""), issuer[1])
    by_signxml = signxml.XMLSigner(method=signxml.methods.enveloped).sign(
        etree.fromstring(BASE.encode()), key=pem_key(issuer[0]), cert=issuer[1]
    )
    composed = STYLESHEET.encode() + b"\n" + etree.tostring(by_signxml)
    assert cap.verify_signature(composed, issuer[1]).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(composed.replace(b"Severe", b"Minor"), issuer[1])


def test_a_naads_shaped_signature_is_refused_naming_its_schema_fault(
    issuer: tuple[Any, bytes],
) -> None:
    """NAADS's signature as published: ``Id="NAADS Signature"``, an ``<Object xmlns="">``.

    Both are outside what the signature covers, and both break the XML-DSig schema (an xs:ID
    has no space; Object belongs to the XML-DSig namespace): refused as malformed, naming the
    Id, as the CAP page says, although the signature value and digest are right.
    """
    doc = java_style(BASE, *issuer, C14N10)
    assert cap.verify_signature(doc, issuer[1]).alert == cap.loads(BASE)
    naads = doc.replace(b"<Signature xmlns=", b'<Signature Id="NAADS Signature" xmlns=').replace(
        b"</KeyInfo></Signature>",
        b'</KeyInfo><Object xmlns=""><SignatureProperties/></Object></Signature>',
    )
    with pytest.raises(InvalidSignature, match=r"Id='NAADS Signature'.*malformed.*xs:ID"):
        cap.verify_signature(naads, issuer[1])


def test_pinning_something_other_than_a_certificate_says_what_it_is(
    issuer: tuple[Any, bytes],
) -> None:
    """A public key, a PKCS#7 bundle, a bare base64 certificate: each named, with what to do.

    cryptography's reason alone ("Unable to load PEM file ... MalformedFraming", an ASN.1
    tag) left the operator to guess that the issuer had sent its bare public key.
    """
    from cryptography.hazmat.primitives.serialization import pkcs7

    from geotarget import InvalidType

    key, cert = issuer
    doc = etree.tostring(
        signxml.XMLSigner(method=signxml.methods.enveloped).sign(
            etree.fromstring(BASE.encode()), key=pem_key(key), cert=cert
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bundle = pkcs7.serialize_certificates(
        [x509.load_pem_x509_certificate(cert)], serialization.Encoding.PEM
    )
    cases = {
        public: r"PEM PUBLIC KEY block: a bare public key; pinning needs the issuer's X\.509",
        bundle: r"PEM PKCS7 block: a PKCS#7 bundle; extract its certificates",
        pem_key(key): r"PEM PRIVATE KEY block: a private key, which must never be pinned",
        der_b64(cert).encode(): r"base64 text without the -----BEGIN CERTIFICATE-----",
    }
    for pinned, reason in cases.items():
        with pytest.raises(InvalidType, match=r"certificate\[0\] is not a .*" + reason):
            cap.verify_signature(doc, pinned)
    assert cap.verify_signature(doc, public + cert).alert == cap.loads(BASE)  # a certificate too


@pytest.mark.parametrize(
    "ns", ["http://www.w3.org/2000/09/xmldsig", "http://www.w3.org/2000/09/xmldsig#/", ""]
)
def test_a_signature_in_a_near_miss_namespace_names_the_xml_dsig_one(ns: str) -> None:
    """A ``<Signature>`` in another namespace than XML-DSig's is refused naming the right one."""
    declared = f' xmlns="{ns}"' if ns else ' xmlns=""'
    doc = cap.dumps(explosion()).replace(
        "</alert>", f"<Signature{declared}><SignedInfo/></Signature></alert>"
    )
    for read in (cap.loads, lambda d: cap.read(d.encode())):
        with pytest.raises(InvalidCAP) as caught:
            read(doc)
        message = str(caught.value)
        assert "XML-DSig namespace http://www.w3.org/2000/09/xmldsig#" in message, message
