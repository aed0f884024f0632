"""Probe 11 of CAP signatures: the certificates real signers use, and xmlsec1's signatures.

The oracles are xmlsec1 (Debian's ``xmlsec1`` package; ``--verify`` on the very bytes given to
geotarget) where installed, RFC 5280 on what a certificate's key usage allows, and the chain
built here with ``cryptography``: which certificate issued which is known, not inferred.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cap_helpers import BASE

from geotarget import cap
from geotarget.errors import InvalidSignature

signxml = pytest.importorskip("signxml", reason="the 'signing' extra (signxml) is not installed")
etree = pytest.importorskip("lxml.etree")
x509 = pytest.importorskip("cryptography.x509")

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from test_signing_probe6 import pem_key  # noqa: E402

NOW = datetime.now(timezone.utc)
DS = "http://www.w3.org/2000/09/xmldsig#"
XMLSEC1 = shutil.which("xmlsec1")
_NO_USAGE = {
    "digital_signature": False, "content_commitment": False, "key_encipherment": False,
    "data_encipherment": False, "key_agreement": False, "key_cert_sign": False,
    "crl_sign": False, "encipher_only": False, "decipher_only": False,
}  # fmt: skip


def certificate(
    key: Any,
    name: str,
    *,
    issuer: tuple[Any, str] | None = None,
    usage: dict[str, bool] | None = None,
    server_auth: bool = False,
    ca: bool = False,
    around: datetime = NOW,
) -> bytes:
    """A certificate of ``key``: self-signed, or issued by ``issuer`` (its key and name)."""
    signer, issuer_name = issuer if issuer is not None else (key, name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(around - timedelta(days=1))
        .not_valid_after(around + timedelta(days=30))
    )
    if usage is not None:
        builder = builder.add_extension(x509.KeyUsage(**{**_NO_USAGE, **usage}), critical=True)
    if server_auth:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    out: bytes = builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return out


def sign(key: Any, chain: list[bytes]) -> bytes:
    """BASE signed by ``key`` with signxml, its KeyInfo carrying ``chain`` (signer first)."""
    signed = signxml.XMLSigner(method=signxml.methods.enveloped).sign(
        etree.fromstring(BASE.encode()), key=pem_key(key), cert=[c.decode() for c in chain]
    )
    out: bytes = etree.tostring(signed)
    return out


@pytest.fixture(scope="module")
def key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    "usage",
    [
        {"key_cert_sign": True, "crl_sign": True},
        {"key_encipherment": True},
        {"key_agreement": True},
    ],
    ids=["ca", "encryption", "agreement"],
)
def test_a_certificate_whose_key_usage_forbids_signing_data_is_refused(
    key: Any, usage: dict[str, bool]
) -> None:
    """RFC 5280 §4.2.1.3: without digitalSignature or nonRepudiation, not a signer's certificate.

    A CA's certificate (an issuer's intermediate listed among its certificates) or an
    encryption certificate signed alerts as if it were the signer's: signxml and xmlsec1 check
    no key usage of a certificate given as the key. The certificates real CAP issuers sign
    with (IPAWS, Pelmorex, WMO members: TLS certificates with digitalSignature and serverAuth)
    still verify.
    """
    pinned = certificate(key, "not-a-signer", usage=usage, ca="key_cert_sign" in usage)
    with pytest.raises(InvalidSignature, match=r"key usage \(.*\) does not allow verifying sig"):
        cap.verify_signature(sign(key, [pinned]), pinned)
    for fine in (
        certificate(key, "tls", usage={"digital_signature": True, "key_encipherment": True}),
        certificate(key, "tls", usage={"digital_signature": True}, server_auth=True),
        certificate(key, "nr", usage={"content_commitment": True}),
        certificate(key, "no-extension"),
    ):
        assert cap.verify_signature(sign(key, [fine]), fine).alert == cap.loads(BASE)


@pytest.mark.parametrize(
    ("ca_key", "ca_usage"),
    [
        ("ec", {"key_cert_sign": True, "crl_sign": True, "digital_signature": True}),
        ("rsa", {"key_cert_sign": True, "crl_sign": True, "digital_signature": True}),
        ("rsa", {"key_cert_sign": True, "crl_sign": True}),
    ],
    ids=["ec-ca", "rsa-ca", "rsa-ca-certsign-only"],
)
def test_pinning_the_signers_ca_says_to_pin_the_signer(
    key: Any, ca_key: str, ca_usage: dict[str, bool]
) -> None:
    """The signer's chain in its KeyInfo, the intermediate or root CA pinned instead of it.

    A pinned certificate is the signer itself, never a CA (docs/cap.rst): the refusal is right,
    but said only "signed with another key", where the document carries a certificate the
    pinned one issued. The reason now names it; pinning the signer (alone or with its chain in
    one PEM text) verifies.
    """

    def new_key() -> Any:
        if ca_key == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    root_key, inter_key = new_key(), new_key()
    root = certificate(root_key, "Root CA", usage=ca_usage, ca=True)
    inter = certificate(inter_key, "Alerts CA", issuer=(root_key, "Root CA"), usage=ca_usage)
    leaf = certificate(key, "cap.polisen.se", issuer=(inter_key, "Alerts CA"))
    doc = sign(key, [leaf, inter])
    for pinned, carried in ((inter, "CN=cap.polisen.se"), (root, "CN=Alerts CA")):
        with pytest.raises(
            InvalidSignature, match=f"carries {carried}, a certificate this pinned one issued"
        ):
            cap.verify_signature(doc, pinned)
    unrelated = certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048), "x")
    with pytest.raises(InvalidSignature) as caught:
        cap.verify_signature(doc, unrelated)
    assert "pinned one issued" not in str(caught.value)
    for pinned in (leaf, leaf + inter + root):
        assert cap.verify_signature(doc, pinned).alert == cap.loads(BASE)


def xmlsec1(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    """Run xmlsec1: skipped locally without it; in CI (``CI=true``, .ci/run installs it) a failure."""
    if XMLSEC1 is None:
        if os.environ.get("CI") == "true":
            pytest.fail("xmlsec1 is required in CI: .ci/run installs Debian's xmlsec1 package")
        pytest.skip("xmlsec1 (Debian package xmlsec1) is not installed")
    return subprocess.run([XMLSEC1, *args], capture_output=True, cwd=tmp_path, check=False)


@pytest.mark.parametrize("key_info", [True, False], ids=["x509data", "no-keyinfo"])
@pytest.mark.parametrize(
    "curve", [None, ec.SECP256R1(), ec.SECP384R1()], ids=["rsa", "p256", "p384"]
)
def test_xmlsec1_signatures_verify_here_whatever_the_key_and_encoding(
    tmp_path: Path, key: Any, curve: Any, key_info: bool
) -> None:
    """xmlsec1 signs with RSA, ECDSA P-256 or P-384, with or without ``<KeyInfo>``.

    Re-encoding the signed document as UTF-16 (with its declaration saying so) changes no
    character of it, so xmlsec1 and geotarget both still verify it; a comment a relay adds
    inside the alert is no part of ``URI=""``; an added ``<info>`` is.
    """
    signer = key if curve is None else ec.generate_private_key(curve)
    algorithm = "rsa-sha256" if curve is None else f"ecdsa-sha{curve.key_size}"
    (tmp_path / "key.pem").write_bytes(pem_key(signer))
    pinned = certificate(signer, "cap.polisen.se", usage={"digital_signature": True})
    (tmp_path / "cert.pem").write_bytes(pinned)
    info = "<KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo>" if key_info else ""
    template = BASE.replace(
        "</alert>",
        f'<Signature xmlns="{DS}"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.'
        'org/TR/2001/REC-xml-c14n-20010315"/><SignatureMethod Algorithm="http://www.w3.org/2001'
        f'/04/xmldsig-more#{algorithm}"/><Reference URI=""><Transforms><Transform Algorithm="'
        f'{DS}enveloped-signature"/></Transforms><DigestMethod Algorithm="http://www.w3.org/'
        '2001/04/xmlenc#sha256"/><DigestValue/></Reference></SignedInfo><SignatureValue/>'
        f"{info}</Signature></alert>",
    )
    (tmp_path / "template.xml").write_text(template, encoding="utf-8")
    made = xmlsec1(["--sign", "--privkey-pem", "key.pem,cert.pem", "template.xml"], tmp_path)
    assert made.returncode == 0, made.stderr
    text = made.stdout.decode()
    utf16 = text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    commented = text.replace("<status>", "<!-- relayed by SOS Alarm --><status>").encode()
    second = "<info>" + BASE.split("<info>")[1].split("</info>")[0] + "</info>"
    added = text.replace("</info>", "</info>" + second, 1).encode()
    for data, good in ((made.stdout, True), (utf16, True), (commented, True), (added, False)):
        (tmp_path / "signed.xml").write_bytes(data)
        check = xmlsec1(["--verify", "--pubkey-cert-pem", "cert.pem", "signed.xml"], tmp_path)
        assert (check.returncode == 0) is good, check.stderr
        if good:
            assert cap.verify_signature(data, pinned).alert == cap.loads(BASE)
        else:
            with pytest.raises(InvalidSignature, match="changed after signing"):
                cap.verify_signature(data, pinned)


@pytest.mark.parametrize(
    "inserted",
    [r"<ds:SignatureValue><!-- relayed -->\1", r"<ds:SignatureValue>\1<!-- relayed -->",
     r"<ds:SignatureValue>\1<?relay id=7?>"],
    ids=["comment-first", "comment-within", "instruction-within"],
)  # fmt: skip
def test_a_comment_in_the_signature_value_is_not_part_of_it(
    tmp_path: Path, key: Any, inserted: str
) -> None:
    """A comment or instruction a relay adds inside ``<SignatureValue>``, after signing.

    ``<SignatureValue>`` is outside ``<SignedInfo>``, so nothing signs it, and its value is its
    base64 text, which xmlsec1 reads around the comment (the oracle, on the same bytes).
    signxml read the text before the first comment only: a comment first failed with "the
    signature is malformed (argument should be a bytes-like object or ASCII string, not
    'NoneType')", one within as a signature value that does not verify. A value that is only a
    comment is named empty.
    """
    pinned = certificate(key, "cap.polisen.se")
    signed = sign(key, [pinned]).decode()
    doc = re.sub(r"<ds:SignatureValue>(.{40})", inserted, signed, count=1).encode()
    assert doc != signed.encode()
    assert cap.verify_signature(doc, pinned).alert == cap.loads(BASE)
    if XMLSEC1 is not None:
        (tmp_path / "cert.pem").write_bytes(pinned)
        (tmp_path / "signed.xml").write_bytes(doc)
        check = xmlsec1(["--verify", "--pubkey-cert-pem", "cert.pem", "signed.xml"], tmp_path)
        assert check.returncode == 0, check.stderr
    altered = doc.replace(b"<severity>Severe</severity>", b"<severity>Minor</severity>")
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(altered, pinned)
    empty = re.sub(r"<ds:SignatureValue>[^<]*", "<ds:SignatureValue><!-- x -->", signed).encode()
    with pytest.raises(InvalidSignature, match=r"its <SignatureValue> is empty"):
        cap.verify_signature(empty, pinned)


def test_the_signers_ca_given_as_another_pinned_item_never_signs(key: Any) -> None:
    """The signer's certificate and its CA's as two items (two files of an issuer table).

    A PEM text holding the chain pinned only the signer (docs/cap.rst: "a CA's key never signs
    alerts in the signer's name"), but the same two certificates as two items pinned the CA
    too: a document the CA's key signed verified. The CA here may sign (digitalSignature), so
    its key usage does not refuse it; what it issued does. Unrelated certificates (a rollover)
    are all still pinned.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    usage = {"key_cert_sign": True, "crl_sign": True, "digital_signature": True}
    ca = certificate(ca_key, "Alerts CA", usage=usage, ca=True)
    leaf = certificate(key, "cap.polisen.se", issuer=(ca_key, "Alerts CA"))
    by_ca = etree.tostring(
        signxml.XMLSigner(
            method=signxml.methods.enveloped, signature_algorithm="ecdsa-sha256"
        ).sign(etree.fromstring(BASE.encode()), key=pem_key(ca_key), cert=ca.decode())
    )
    by_leaf = sign(key, [leaf, ca])
    for pinned in ([leaf, ca], [ca, leaf], [leaf.decode(), ca.decode()], [leaf + ca]):
        with pytest.raises(InvalidSignature):
            cap.verify_signature(by_ca, pinned)
        assert cap.verify_signature(by_leaf, pinned).alert == cap.loads(BASE)
    assert cap.verify_signature(by_ca, ca).alert == cap.loads(BASE)  # pinned alone: the signer
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = certificate(other_key, "cap2.polisen.se")
    by_other = sign(other_key, [other])
    for doc in (by_leaf, by_other):  # a rollover: both keys sign
        assert cap.verify_signature(doc, [leaf, other, ca]).alert == cap.loads(BASE)


@pytest.mark.parametrize("ca_first", [False, True], ids=["signer-first", "ca-first"])
def test_a_carried_chain_in_any_order_names_the_signer(key: Any, ca_first: bool) -> None:
    """The signer's chain in ``<X509Data>``, its CA first (as xmlsec1 writes a bundle given first).

    The first certificate was taken as the signer's: a document re-indented after signing was
    then "signed with another key" and said to carry the CA, where it carries the pinned
    certificate itself and what changed is its whitespace.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(ca_key, "Alerts CA", usage={"key_cert_sign": True}, ca=True)
    leaf = certificate(key, "cap.polisen.se", issuer=(ca_key, "Alerts CA"))
    doc = sign(key, [ca, leaf] if ca_first else [leaf, ca])
    assert cap.verify_signature(doc, leaf).alert == cap.loads(BASE)
    reindented = doc.replace(b"<ds:SignedInfo>", b"<ds:SignedInfo>\n  ", 1)
    with pytest.raises(InvalidSignature) as caught:
        cap.verify_signature(reindented, leaf)
    assert "[its KeyInfo carries CN=cap.polisen.se]" in str(caught.value)
    assert "pretty-printing or re-indenting the document after signing" in str(caught.value)


def test_receive_never_delivers_a_document_the_issuer_tables_ca_signed() -> None:
    """An issuer table listing the signer's certificate and its CA's as two files.

    ``Targeter.receive`` delivered a document the CA's key signed (the CA pinned as a signer
    of its own); it is now ``BAD_SIGNATURE``, and the signer's document is delivered.
    """
    from test_gate_probe10 import A_AREA, KINDS, LATER, NATIONAL, REGIONS, _alert, _index
    from test_intake import sign as sign_doc

    from geotarget import Issuer, Issuers, Targeter, pilot
    from geotarget.rollout import nationwide
    from geotarget.targeting import Verdict

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    usage = {"key_cert_sign": True, "digital_signature": True}
    ca = certificate(ca_key, "SOS CA", usage=usage, ca=True, around=LATER)
    leaf = certificate(key, "sos.example.se", issuer=(ca_key, "SOS CA"), around=LATER)
    issuer = Issuer(
        name="sos", senders=[NATIONAL], kinds=KINDS, regions=["XX"], signature_required=True,
        certificates=[leaf.decode(), ca.decode()],
    )  # fmt: skip
    document = cap.dumps(_alert("explosion", A_AREA, "G1", NATIONAL)).encode()
    spots = _index({"home": (17.25, 59.5)})
    for signer, pem, verdict in ((ca_key, ca, Verdict.BAD_SIGNATURE), (key, leaf, Verdict.DELIVER)):
        t = Targeter(REGIONS, nationwide("XX"), recognition=pilot.RECOGNITION,
                     issuers=Issuers([issuer]))  # fmt: skip
        got = t.receive(sign_doc(document, signer, pem), spots, LATER)
        assert got.verdict is verdict, got.reason
