"""Probe 17 of CAP signatures: keys, encodings and references as other signers write them.

The oracle is xmlsec1 (Debian's ``xmlsec1`` package, on OpenSSL): it signs the documents from
templates with keys generated here by ``cryptography``, and ``--verify`` is run on the very
bytes given to geotarget. Where geotarget's rule is stricter than xmlsec1's (a pinned CA, a
reference that is not ``URI=""`` with the enveloped-signature transform and one
canonicalisation), the test says so and checks that the refusal names the rule.
"""

from __future__ import annotations

import base64
import re
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
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402
from test_signing_probe6 import pem_key  # noqa: E402
from test_signing_probe11 import certificate, xmlsec1  # noqa: E402

DS = "http://www.w3.org/2000/09/xmldsig#"
MORE = "http://www.w3.org/2001/04/xmldsig-more#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
DIGESTS = {
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}
SENT = datetime(2026, 5, 4, 19, 30, tzinfo=timezone.utc)  # BASE's <sent>


def template(
    method: str,
    *,
    digest: str = "sha256",
    c14n: str = C14N,
    transforms: str = "",
    uri: str = "",
    doc: str = BASE,
) -> str:
    """``doc`` with an xmlsec1 signing template (``<Signature>`` in the default namespace)."""
    return doc.replace(
        "</alert>",
        f'<Signature xmlns="{DS}"><SignedInfo><CanonicalizationMethod Algorithm="{c14n}"/>'
        f'<SignatureMethod Algorithm="{MORE}{method}"/><Reference URI="{uri}"><Transforms>'
        f'<Transform Algorithm="{DS}enveloped-signature"/>{transforms}</Transforms>'
        f'<DigestMethod Algorithm="{DIGESTS[digest]}"/><DigestValue/></Reference></SignedInfo>'
        "<SignatureValue/><KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo>"
        "</Signature></alert>",
    )


def xmlsec1_sign(tmp_path: Path, tpl: str, key: Any, pinned: bytes, *chain: bytes) -> bytes:
    """``tpl`` signed by xmlsec1 with ``key``, its KeyInfo carrying ``pinned`` and ``chain``."""
    (tmp_path / "key.pem").write_bytes(pem_key(key))
    files = ["key.pem", "cert.pem"]
    (tmp_path / "cert.pem").write_bytes(pinned)
    for i, pem in enumerate(chain):
        (tmp_path / f"chain{i}.pem").write_bytes(pem)
        files.append(f"chain{i}.pem")
    (tmp_path / "template.xml").write_text(tpl, encoding="utf-8")
    made = xmlsec1(["--sign", "--privkey-pem", ",".join(files), "template.xml"], tmp_path)
    assert made.returncode == 0, made.stderr
    return made.stdout


def xmlsec1_verifies(tmp_path: Path, doc: bytes, pinned: bytes, *options: str) -> bool:
    """Whether xmlsec1 verifies ``doc`` with ``pinned``'s key (``--pubkey-cert-pem``) or so."""
    (tmp_path / "pinned.pem").write_bytes(pinned)
    (tmp_path / "signed.xml").write_bytes(doc)
    how = list(options) or ["--pubkey-cert-pem", "pinned.pem"]
    return xmlsec1(["--verify", *how, "signed.xml"], tmp_path).returncode == 0


def changed(doc: bytes) -> bytes:
    out = re.sub(rb"<event>[^<]*</event>", b"<event>Test</event>", doc, count=1)
    assert out != doc
    return out


@pytest.mark.parametrize(
    ("make", "method", "digest"),
    [
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ecdsa-sha512", "sha512"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=4096), "rsa-sha512",
         "sha512"),
    ],
    ids=["p521-ecdsa-sha512", "rsa4096-rsa-sha512"],
)  # fmt: skip
def test_keys_no_other_test_signs_with_verify_as_xmlsec1_says(
    tmp_path: Path, make: Any, method: str, digest: str
) -> None:
    """ECDSA on P-521 (r and s of 66 bytes each) and RSA 4096 with SHA-512, signed by xmlsec1."""
    key = make()
    pinned = certificate(key, "cap.polisen.se", usage={"digital_signature": True})
    signed = xmlsec1_sign(tmp_path, template(method, digest=digest), key, pinned)
    assert xmlsec1_verifies(tmp_path, signed, pinned)
    assert cap.verify_signature(signed, pinned).alert == cap.loads(BASE)
    assert not xmlsec1_verifies(tmp_path, changed(signed), pinned)
    with pytest.raises(InvalidSignature, match="changed after signing"):
        cap.verify_signature(changed(signed), pinned)


@pytest.fixture(scope="module")
def p384() -> tuple[Any, bytes]:
    key = ec.generate_private_key(ec.SECP384R1())
    return key, certificate(key, "cap.polisen.se", usage={"digital_signature": True})


def test_an_ecdsa_value_not_written_as_r_and_s_is_named(
    tmp_path: Path, p384: tuple[Any, bytes]
) -> None:
    """A DER-encoded ECDSA value, or r with its leading zero dropped, over the right SignedInfo.

    XML-DSig writes r and s as 48 bytes each on P-384; OpenSSL and Java's Signature API give a
    DER SEQUENCE, which signers who forget to convert put in ``<SignatureValue>``. Both xmlsec1
    and geotarget refuse it; geotarget said the ``<SignedInfo>`` was changed after signing
    ("pretty-printing..."), which sent the issuer looking in the wrong place.
    """
    key, pinned = p384
    signed = xmlsec1_sign(tmp_path, template("ecdsa-sha384", digest="sha384"), key, pinned)
    root = etree.fromstring(signed)
    info = etree.fromstring(etree.tostring(root.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo")))
    canonical = etree.tostring(info, method="c14n")
    for _ in range(2000):  # an r below 2**376, so that its leading byte is zero
        der = key.sign(canonical, ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(der)
        if r < 1 << 376:
            break
    assert r < 1 << 376
    value = root.find(f"{{{DS}}}Signature/{{{DS}}}SignatureValue")
    for given, says in (
        (r.to_bytes(48, "big") + s.to_bytes(48, "big"), None),
        (der, rf"is {len(der)} bytes, .* as 96 bytes .* secp384r1: it is DER-encoded"),
        (r.to_bytes(47, "big") + s.to_bytes(48, "big"), r"is 95 bytes, .*without their leading"),
    ):
        value.text = base64.b64encode(given).decode()
        doc = etree.tostring(root)
        assert xmlsec1_verifies(tmp_path, doc, pinned) is (says is None)
        if says is None:
            assert cap.verify_signature(doc, pinned).alert == cap.loads(BASE)
        else:
            with pytest.raises(InvalidSignature, match=says):
                cap.verify_signature(doc, pinned)


@pytest.mark.parametrize(
    ("transforms", "says"),
    [
        (f'<Transform Algorithm="{EXC}"/><Transform Algorithm="{C14N}"/>',
         "enveloped-signature, xml-exc-c14n#, xml-c14n-20010315: an enveloped signature lists"),
        (f'<Transform Algorithm="{DS}enveloped-signature"/>',
         "enveloped-signature, enveloped-signature: .* first and once"),
        (f'<Transform Algorithm="{EXC}"/>' * 300, r"[^.]*, \.\.\. \(301 in all\): an"),
    ],
    ids=["two-c14n", "enveloped-twice", "300-c14n"],
)  # fmt: skip
def test_transforms_beyond_one_canonicalisation_are_refused_by_the_rule(
    tmp_path: Path, p384: tuple[Any, bytes], transforms: str, says: str
) -> None:
    """xmlsec1 verifies these genuine signatures; geotarget's rule refuses them, saying so.

    The rule (an enveloped signature of the ``<alert>``: the enveloped-signature transform,
    then at most one canonicalisation) was written in the docs but not enforced: two
    canonicalisations reached signxml, which failed with "Type 'bytes' cannot be serialized"
    (reported as malformed), and a transform list of any length was handed to signxml.
    """
    key, pinned = p384
    tpl = template("ecdsa-sha384", digest="sha384", transforms=transforms)
    signed = xmlsec1_sign(tmp_path, tpl, key, pinned)
    assert xmlsec1_verifies(tmp_path, signed, pinned)
    with pytest.raises(InvalidSignature, match=f"its <Reference> lists the transforms {says}"):
        cap.verify_signature(signed, pinned)


def test_an_xpointer_to_the_whole_document_is_refused_as_unsupported(
    tmp_path: Path, p384: tuple[Any, bytes]
) -> None:
    """``URI="#xpointer(/)"`` is the whole document (comments kept): xmlsec1 verifies it.

    geotarget (signxml resolves no XPointer) refuses it, and said it "covers other content
    than the <alert>", which it does not; it now says what is not supported and what to use.
    """
    key, pinned = p384
    tpl = template("ecdsa-sha384", digest="sha384", uri="#xpointer(/)")
    signed = xmlsec1_sign(tmp_path, tpl, key, pinned)
    assert xmlsec1_verifies(tmp_path, signed, pinned)
    with pytest.raises(InvalidSignature, match=r"URI='#xpointer\(/\)', an XPointer, which is not"):
        cap.verify_signature(signed, pinned)


def cap_prefixed(doc: bytes) -> bytes:
    """``doc`` with its CAP elements written ``cap:`` (the same alert, another prefix)."""
    ns = b"urn:oasis:names:tc:emergency:cap:1.2"
    head, tail = doc.split(b"<Signature ", 1)
    head = re.sub(rb"<(/?)([a-zA-Z]+)([ >])", rb"<\1cap:\2\3", head)
    tail = tail.replace(b"</alert>", b"</cap:alert>")
    out = (head + b"<Signature " + tail).replace(
        b'<cap:alert xmlns="' + ns, b'<cap:alert xmlns:cap="' + ns
    )
    assert cap.loads(out) == cap.loads(BASE)
    return out


@pytest.mark.parametrize("c14n", [C14N, EXC], ids=["inclusive", "exclusive"])
def test_a_namespace_prefix_renamed_after_signing_fails_naming_why(
    tmp_path: Path, p384: tuple[Any, bytes], c14n: str
) -> None:
    """``<cap:alert xmlns:cap=...>`` for ``<alert xmlns=...>`` after signing: the same alert.

    Canonical XML keeps prefixes, so both verifiers refuse. With inclusive canonicalisation the
    ``<SignedInfo>`` (which takes in the alert's namespace declarations) no longer verifies;
    geotarget blamed only pretty-printing and now names the namespace declaration too.
    """
    key, pinned = p384
    tpl = template(
        "ecdsa-sha384", digest="sha384", c14n=c14n, transforms=f'<Transform Algorithm="{c14n}"/>'
    )
    signed = xmlsec1_sign(tmp_path, tpl, key, pinned)
    renamed = cap_prefixed(signed)
    assert not xmlsec1_verifies(tmp_path, renamed, pinned)
    says = "namespace declaration of the <alert>" if c14n == C14N else "changed after signing"
    with pytest.raises(InvalidSignature, match=says):
        cap.verify_signature(renamed, pinned)


def test_validity_is_checked_at_at_as_xmlsec1_checks_a_trusted_certificate(
    tmp_path: Path,
) -> None:
    """The pinned certificate must be valid at ``at`` (now by default), not at ``<sent>``.

    xmlsec1 with ``--trusted-pem`` and ``--verification-time`` gives the same verdicts: a
    certificate valid when the alert was sent but expired now verifies only as of then; one
    issued after ``<sent>`` and valid now verifies now (a signature carries no trusted time).
    """
    key = ec.generate_private_key(ec.SECP384R1())
    was = certificate(key, "was.polisen.se", around=SENT)  # SENT - 1 day .. SENT + 30 days
    new = certificate(key, "new.polisen.se", around=datetime.now(timezone.utc))
    then = ["--verification-time", SENT.strftime("%Y-%m-%d %H:%M:%S")]
    for pinned, now_ok, then_ok in ((was, False, True), (new, True, False)):
        signed = xmlsec1_sign(tmp_path, template("ecdsa-sha384", digest="sha384"), key, pinned)
        trusted = ["--trusted-pem", "pinned.pem"]
        assert xmlsec1_verifies(tmp_path, signed, pinned, *trusted) is now_ok
        assert xmlsec1_verifies(tmp_path, signed, pinned, *trusted, *then) is then_ok
        for at, ok in ((None, now_ok), (SENT, then_ok)):
            if ok:
                assert cap.verify_signature(signed, pinned, at=at).alert == cap.loads(BASE)
            else:
                with pytest.raises(InvalidSignature, match=r"the certificate is not accept.*at="):
                    cap.verify_signature(signed, pinned, at=at)


def test_a_chain_in_keyinfo_verifies_for_xmlsec1_from_the_root_here_from_the_signer(
    tmp_path: Path,
) -> None:
    """Root CA, intermediate CA, signer (P-384); xmlsec1 signs carrying signer and intermediate.

    xmlsec1 trusting the root builds the chain from KeyInfo and verifies. geotarget pins the
    signer itself: its certificate verifies, the root's and the intermediate's are refused
    naming the rule (their key usage is keyCertSign, and they issued a certificate carried).
    """
    ca_usage = {"key_cert_sign": True, "crl_sign": True}
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = certificate(root_key, "Root CA", usage=ca_usage, ca=True)
    mid_key = ec.generate_private_key(ec.SECP384R1())
    mid = certificate(mid_key, "Mid CA", issuer=(root_key, "Root CA"), usage=ca_usage, ca=True)
    key = ec.generate_private_key(ec.SECP384R1())
    leaf = certificate(
        key, "cap.polisen.se", issuer=(mid_key, "Mid CA"), usage={"digital_signature": True}
    )
    signed = xmlsec1_sign(tmp_path, template("ecdsa-sha384", digest="sha384"), key, leaf, mid)
    assert signed.count(b"<X509Certificate>") == 2
    assert xmlsec1_verifies(tmp_path, signed, root, "--trusted-pem", "pinned.pem")
    assert cap.verify_signature(signed, leaf).alert == cap.loads(BASE)
    assert cap.verify_signature(signed, leaf + mid + root).alert == cap.loads(BASE)
    for ca in (root, mid):
        with pytest.raises(InvalidSignature, match=r"key usage .*, a certificate this pinned one"):
            cap.verify_signature(signed, ca)


def test_carried_certificates_are_decoded_once_per_signature_whatever_is_pinned(
    tmp_path: Path, p384: tuple[Any, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyInfo is unsigned and may be stuffed; an issuer table may pin many certificates.

    Each carried certificate was decoded again for every pinned certificate that did not
    verify (to look for one it issued): 480 carried by each of 8 signatures against 20 pinned
    certificates took 6.6 of 13.7 s. The decodes must not grow with the certificates pinned.
    """
    key, pinned = p384
    signed = xmlsec1_sign(tmp_path, template("ecdsa-sha384", digest="sha384"), key, pinned)
    der = re.search(rb"<X509Certificate>([^<]+)</X509Certificate>", signed)
    assert der is not None
    carried = 200
    stuffed = signed.replace(
        b"</X509Data>", (b"<X509Certificate>" + der.group(1) + b"</X509Certificate>") * carried
        + b"</X509Data>"
    )  # fmt: skip
    others = [certificate(ec.generate_private_key(ec.SECP384R1()), f"k{i}") for i in range(12)]
    decodes = 0
    load = x509.load_der_x509_certificate

    def counted(data: bytes) -> Any:
        nonlocal decodes
        decodes += 1
        return load(data)

    monkeypatch.setattr(x509, "load_der_x509_certificate", counted)
    with pytest.raises(InvalidSignature, match=r"certificate\[11\]"):
        cap.verify_signature(stuffed, others)
    assert decodes <= 2 * (carried + 1)


#: An RSASSA-PSS key (SubjectPublicKeyInfo id-RSASSA-PSS, no parameters) and its self-signed
#: certificate, valid until 2126: made with ``openssl req -x509 -newkey rsa-pss`` (the
#: ``cryptography`` package cannot write such a certificate).
PSS_KEY = b"""-----BEGIN PRIVATE KEY-----
MIIEugIBADALBgkqhkiG9w0BAQoEggSmMIIEogIBAAKCAQEAmfFwvV4k3u+8H/qx
9v6VoXT4aDHLif76/ADMw+gpwS4+Ep5FXMyk6nsSKayqMgQCK+Coh+7mC3xavp7V
d0t8TFq8B0BhvWG11xvW+ENzvuMn1W65PReNWdbsYByuLja6AOjrNbEadW0KY+Si
iOCSbMs0fsDnvnr3TB+OmIkCMEsk+C6fgnB+DqCVlDPKxW1sghoHQSaJ2MZEt4Cp
e4qx2xjbR2yc4eKZNtjIonrXJ4Eii1brEeL+2JNrZbVIT4RWuc24SNgGTol9VRi7
k8B0g5L+9UTrwv8LZzLl3Y9wGzgN1QbN92pP8evmf5kY4n4jNQAQfg1pE+QmZ8CP
VcshOwIDAQABAoIBAAe9FeRHG8ZjOctHwHOAp8f2h9hBDJDS0w4hAiok/RhbeT5Z
W3ZHSVEKP8b9iY67GdrXz9EJhuHz7eHgPS3iiwyRkRsyNtec1lXKbfuL9IEXjTSS
/Nff27i076wDNRRYpvANxWktDn3xrdCIuUz1MRcr/ecTTnMKXm0itvnfBU+lG3Ci
ai7LxPpubfIMlI4zH/upSvxUJ/WQh74aNVuIy4wtAVNPRK7+Cg0fPKIW2yaZxnjC
XGUNYTQufu6D66m6DJxyE/UdkY8wfGRHY/WCvgJa7jNb/QfzV8WQbOF6aEZxt/eZ
3g6g6OCvBJhHHSL55GfUt+c7pR2fBTMzlzmnVLECgYEAxuH8QRhQVyZwj3tnPeoc
RyQTQGAyAJC33VcvS5LaBlavJYGGVnBfyd2kR+IGAATstxdpVJxcr+j1NqxHAsnz
CMtHNfHyoXe7LoWpe7i+xaz5vXcCIATpRBIt87NMjYlzhFFI3JhU0sGkhFXKxsY6
Ga8JDNKvSbBbUi0w06VeU6sCgYEAxid1Z1+FxOewjtIptfDnr4s6wBHv99bDRx5F
rOCiwR8euXCIclOdsU2G47kTQ0Pryy7ccRbvnjDMFQUMqO8nDhjmIgwuMK3GJHqs
z/ez+eTcvQ+YDAxiB3I4n84Ul4SE+ywuVMut/DDKwuwXfKWlfSGjRMpKZbD+/mfN
W+/x2LECgYBFpgh4J3KjQpPyu42pUh47D7gqOEXqisPJIOowNipiQ+MsaFLKXKo/
AH6yqcXeJdtcNzes6OFQvW16ixSHNoAFGWND0gpdX5fOsAJtkIJGqc//+PhmjDHA
o/kxuh3aB0PMF8dDcZlrAWOC8KSFvg/ExNaPhgza6obgnXDW/bet5wKBgF4jWtxs
fiGorLF9WMGOHJPCQnwDSYzl48oCsLlL0yaKgU86Dii6Xr1gBohjYapgN0JFFgdI
DTiLGDmYN4Z+b4B8BcEBJmSL+glUmosGs+Mxfkj3gpWewGenNQ1+mzvMglzNhYlV
ZmfcSkfGX/Ygv/ktpOJGdIfRSaNVbzORT8VRAoGAKmePKue8JKYy/FRn5OoleQCc
zGeKk0U9+d0/abXL36CxKVdumxsJz+TCJBzWNybSxE6trZyIrCjDLNd+Aov9ValA
c97z5DIejtev4YmWjYlbKx1oamAHNGrtCLVKrOZB3vJpitnZC/EGrYH0mxmDEJRX
lDcNgYmckhAXyG89CW0=
-----END PRIVATE KEY-----
"""
PSS_CERT = b"""-----BEGIN CERTIFICATE-----
MIIDfTCCAjCgAwIBAgIUKcBfXrgD02u/TIB+xTc238wO1CQwQgYJKoZIhvcNAQEK
MDWgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEF
AKIEAgIA3jAZMRcwFQYDVQQDDA5wc3MucG9saXNlbi5zZTAgFw0yNjEyMDcxNjMz
MzhaGA8yMTI2MTExMzE2MzMzOFowGTEXMBUGA1UEAwwOcHNzLnBvbGlzZW4uc2Uw
ggEgMAsGCSqGSIb3DQEBCgOCAQ8AMIIBCgKCAQEAmfFwvV4k3u+8H/qx9v6VoXT4
aDHLif76/ADMw+gpwS4+Ep5FXMyk6nsSKayqMgQCK+Coh+7mC3xavp7Vd0t8TFq8
B0BhvWG11xvW+ENzvuMn1W65PReNWdbsYByuLja6AOjrNbEadW0KY+SiiOCSbMs0
fsDnvnr3TB+OmIkCMEsk+C6fgnB+DqCVlDPKxW1sghoHQSaJ2MZEt4Cpe4qx2xjb
R2yc4eKZNtjIonrXJ4Eii1brEeL+2JNrZbVIT4RWuc24SNgGTol9VRi7k8B0g5L+
9UTrwv8LZzLl3Y9wGzgN1QbN92pP8evmf5kY4n4jNQAQfg1pE+QmZ8CPVcshOwID
AQABo1MwUTAdBgNVHQ4EFgQU3eW3+LZPe6IMtYb3vrRGV5KgWh8wHwYDVR0jBBgw
FoAU3eW3+LZPe6IMtYb3vrRGV5KgWh8wDwYDVR0TAQH/BAUwAwEB/zBCBgkqhkiG
9w0BAQowNaAPMA0GCWCGSAFlAwQCAQUAoRwwGgYJKoZIhvcNAQEIMA0GCWCGSAFl
AwQCAQUAogQCAgDeA4IBAQAxPKs2odf2QacxOV+Nhg2LXGbIyvWsYwaYPdsZM/TC
LkqrcpErTQtfuW3HIl7a0XQsmgBJk7l6C/1luj7eOvUNtFDcLSprm80bRgBJSft5
iGo0tBEhsghz1Tbg9zSvOU0xz1iBLwiqUXZOWBST0MePmQ4QV8gdRUVpFaqCv0oB
FtSPaDOK/JgRv910VSdXb5A37h3IZqzfvs9tl9vANFyerOjW0VRVh/TwFkY0fB0e
ysUhIv0hnCNnAnJS3Fzfj6Q0E0Vw85u1Eo3WxJRAwVDTwS/bqL9Z5DDdZmve8xSB
5/9IFZp7hCNAu4+U4VWLXZ9pcsPjmom2yWN6Vwy7pI/K
-----END CERTIFICATE-----
"""


@pytest.mark.parametrize("method", ["rsa-sha256", "sha256-rsa-MGF1"])
def test_an_rsassa_pss_key_verifies_only_rsa_pss_signatures(tmp_path: Path, method: str) -> None:
    """RFC 4055 §1.2: a certificate whose key is id-RSASSA-PSS vouches for RSA-PSS signatures only.

    ``cryptography`` lets such a key sign and verify PKCS#1 v1.5 too, so geotarget verified an
    rsa-sha256 signature by it; xmlsec1 (OpenSSL 3) does not even load the key. The PKCS#1 v1.5
    signature is refused naming the rule; the RSA-PSS one verifies (the oracle: signxml's own
    verifier).
    """
    signed = etree.tostring(
        signxml.XMLSigner(method=signxml.methods.enveloped, signature_algorithm=method).sign(
            etree.fromstring(BASE.encode()), key=PSS_KEY, cert=PSS_CERT.decode()
        )
    )
    assert not xmlsec1_verifies(tmp_path, signed, PSS_CERT)
    if method == "rsa-sha256":
        with pytest.raises(
            InvalidSignature, match=r"RSA_SHA256 is RSA PKCS#1 v1\.5, .* RSASSA-PSS"
        ):
            cap.verify_signature(signed, PSS_CERT)
    else:
        signxml.XMLVerifier().verify(signed, x509_cert=PSS_CERT.decode())
        assert cap.verify_signature(signed, PSS_CERT).alert == cap.loads(BASE)


@pytest.mark.shared_data
def test_the_real_signed_documents_get_xmlsec1s_verdict(shared_data: Path, tmp_path: Path) -> None:
    """WMO's Seychelles samples and NAADS's Canadian one, with each certificate they carry.

    None verifies with xmlsec1 (pretty-printed after signing; a SignatureValue that is not
    base64; NAADS's signature added over Environment Canada's, both RSA-SHA1), and none with
    geotarget, each at a time inside the certificate's validity.
    """
    for name in ("wmo_sc_valid.xml", "wmo_sc_invalid_signature.xml", "google_canada_signed.xml"):
        data = (shared_data / "cap" / name).read_bytes()
        found = re.findall(rb"<(?:\w+:)?X509Certificate>([^<]+)</", data)
        assert found
        for der in found:
            carried = x509.load_der_x509_certificate(base64.b64decode(der))
            pem = carried.public_bytes(serialization.Encoding.PEM)
            at = carried.not_valid_before_utc + timedelta(days=1)
            assert not xmlsec1_verifies(tmp_path, data, pem), name
            with pytest.raises(InvalidSignature):
                cap.verify_signature(data, pem, at=at)


def test_an_rsa_key_under_2048_bits_verifies_nothing(tmp_path: Path) -> None:
    """RSA 1024 signed by xmlsec1, which verifies it (it checks no key size), as signxml did.

    SHA-1 is refused as no longer protecting a signature; a 1024-bit RSA key, disallowed for
    signing by NIST SP 800-131A since 2014, verified. It is refused naming its size, by
    verify_signature and by an issuer table requiring signatures, where a 2048-bit one is not.
    """
    from geotarget.issuers import Issuer, Issuers

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pinned = certificate(weak, "legacy.polisen.se")
    signed = xmlsec1_sign(tmp_path, template("rsa-sha256"), weak, pinned)
    assert xmlsec1_verifies(tmp_path, signed, pinned)
    with pytest.raises(InvalidSignature, match="RSA key has 1024 bits, fewer than the 2048"):
        cap.verify_signature(signed, pinned)
    strong = certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048), "new")

    def table(pem: bytes) -> Issuers:
        return Issuers([Issuer(name="legacy", senders=["polisen@polisen.se"], kinds=["explosion"],
                               regions=["SE"], signature_required=True,
                               certificates=[pem.decode()])])  # fmt: skip

    (problem,) = table(pinned).certificate_problems()
    assert problem.path == "issuers[0].certificates[0]"
    assert "RSA key of 1024 bits" in problem.message
    assert table(strong).certificate_problems() == []


def test_an_issuers_signature_under_a_relays_says_what_changed_it(
    tmp_path: Path, p384: tuple[Any, bytes]
) -> None:
    """The issuer signs (P-384), a relay signs after it (RSA, ``--node-id``), both by xmlsec1.

    xmlsec1 verifies the relay's signature and not the issuer's, whose digest now covers the
    relay's. geotarget agrees; the issuer's refusal said only "the signed content was changed
    after signing", and now names the other signature and says to pin the relay's certificate.
    """
    key, pinned = p384
    first = xmlsec1_sign(tmp_path, template("ecdsa-sha384", digest="sha384"), key, pinned)
    relay_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    relay = certificate(relay_key, "relay.example")
    tpl = template("rsa-sha256", doc=first.decode())
    at = tpl.rindex("<Signature ")  # the relay's template, after the issuer's signature
    tpl = tpl[:at] + '<Signature Id="relay" ' + tpl[at + len("<Signature ") :]
    (tmp_path / "key.pem").write_bytes(pem_key(relay_key))
    (tmp_path / "cert.pem").write_bytes(relay)
    (tmp_path / "template.xml").write_text(tpl, encoding="utf-8")
    node = ["--node-id", "relay", "--id-attr:Id", "Signature"]
    made = xmlsec1(["--sign", "--privkey-pem", "key.pem,cert.pem", *node, "template.xml"], tmp_path)
    assert made.returncode == 0, made.stderr
    both = made.stdout
    assert xmlsec1_verifies(tmp_path, both, relay, "--pubkey-cert-pem", "pinned.pem", *node)
    assert not xmlsec1_verifies(tmp_path, both, pinned)
    assert cap.verify_signature(both, relay).alert == cap.loads(BASE)
    with pytest.raises(InvalidSignature, match=r"covers the other signatures \(signature\[1\]\)"):
        cap.verify_signature(both, pinned)
