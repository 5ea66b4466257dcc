"""The XML signature of a SAML 2.0 assertion, with python-xmlsec (libxmlsec1).

Only one shape is accepted, the one CH:XUA uses: an enveloped ``ds:Signature``, a direct child of the
Assertion, with exc-c14n as canonicalization, exactly one ``ds:Reference`` whose URI is ``#`` + the
Assertion's own ID, exactly the transforms enveloped-signature then exc-c14n (an
``InclusiveNamespaces`` prefix list allowed), RSA (or ECDSA) with SHA-256 or stronger, a SHA-256 or
stronger digest. SHA-1, MD5 and anything else are refused before libxmlsec1 sees the signature.

:func:`verify_signature` works on a *standalone* assertion document (the caller has cut the
assertion out of the envelope and re-parsed it): the only ID registered for libxmlsec1 is the root's,
so the reference can resolve to nothing but the root, and the root is what the caller then reads.
"""
from __future__ import annotations

from dataclasses import dataclass

import xmlsec
from cryptography import x509
from lxml import etree

from profiles.xua.constants import NS_DS

_DS = "{%s}" % NS_DS
NS_EC = "http://www.w3.org/2001/10/xml-exc-c14n#"

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

#: signature algorithms accepted -> xmlsec transform
SIGNATURE_METHODS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": xmlsec.constants.TransformRsaSha256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": xmlsec.constants.TransformRsaSha384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": xmlsec.constants.TransformRsaSha512,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": xmlsec.constants.TransformEcdsaSha256,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": xmlsec.constants.TransformEcdsaSha384,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": xmlsec.constants.TransformEcdsaSha512,
}
DIGEST_METHODS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": xmlsec.constants.TransformSha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": xmlsec.constants.TransformSha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": xmlsec.constants.TransformSha512,
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


class SignatureProblem(Exception):
    """``kind``: ``"unsigned"``, ``"shape"`` (not the one accepted shape), ``"algorithm"`` (a weak or
    unknown algorithm), ``"invalid"`` (does not verify)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class SignatureShape:
    """What the structural check found: the signature element and the certificate it names."""

    signature: etree._Element
    certificate: x509.Certificate | None


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def check_shape(root: etree._Element) -> SignatureShape:
    """The one accepted signature shape on the assertion ``root``, or :class:`SignatureProblem`."""
    assertion_id = root.get("ID") or ""
    signatures = [c for c in _children(root) if c.tag == _DS + "Signature"]
    if not signatures:
        raise SignatureProblem("unsigned", "the assertion is not signed")
    if len(signatures) > 1 or sum(1 for _ in root.iter(_DS + "Signature")) != 1:
        raise SignatureProblem("shape", "the assertion carries more than one signature")
    sig = signatures[0]
    parts = _children(sig)
    names = [etree.QName(p).localname for p in parts]
    if names[:2] != ["SignedInfo", "SignatureValue"] or any(n != "KeyInfo" for n in names[2:]) \
            or len(names) > 3 or any(p.tag.split("}")[0][1:] != NS_DS for p in parts):
        raise SignatureProblem("shape", "the signature has elements other than SignedInfo, SignatureValue, "
                               "KeyInfo (a ds:Object is not accepted)")
    signed_info = parts[0]
    si = _children(signed_info)
    si_names = [etree.QName(p).localname for p in si]
    if si_names != ["CanonicalizationMethod", "SignatureMethod", "Reference"]:
        raise SignatureProblem("shape", "SignedInfo must hold CanonicalizationMethod, SignatureMethod and "
                               "exactly one Reference")
    c14n, method, reference = si
    if c14n.get("Algorithm") != EXC_C14N:
        raise SignatureProblem("algorithm", f"canonicalization {c14n.get('Algorithm')!r} is not exc-c14n")
    c14n_children = _children(c14n)
    if len(c14n_children) > 1 or any(c.tag != "{%s}InclusiveNamespaces" % NS_EC for c in c14n_children):
        raise SignatureProblem("shape", "unexpected content in CanonicalizationMethod")
    if method.get("Algorithm") not in SIGNATURE_METHODS or _children(method):
        raise SignatureProblem("algorithm", f"signature algorithm {method.get('Algorithm')!r} is not accepted "
                               "(RSA or ECDSA with SHA-256 or stronger)")
    if reference.get("URI") != "#" + assertion_id or not assertion_id:
        raise SignatureProblem("shape", "the signature's Reference URI is not the assertion's own ID")
    if set(reference.attrib) - {"URI", "Id", "Type"}:
        raise SignatureProblem("shape", "unexpected Reference attributes")
    ref_parts = _children(reference)
    if [etree.QName(p).localname for p in ref_parts] != ["Transforms", "DigestMethod", "DigestValue"]:
        raise SignatureProblem("shape", "the Reference must hold Transforms, DigestMethod and DigestValue")
    transforms, digest, _value = ref_parts
    algorithms = [t.get("Algorithm") for t in _children(transforms)]
    if algorithms != [ENVELOPED, EXC_C14N] or any(t.tag != _DS + "Transform" for t in _children(transforms)):
        raise SignatureProblem("shape", "the Reference's transforms must be exactly enveloped-signature "
                               f"and exc-c14n, not {algorithms}")
    env_t, exc_t = _children(transforms)
    extra = _children(env_t) + [c for c in _children(exc_t) if c.tag != "{%s}InclusiveNamespaces" % NS_EC]
    if extra or len(_children(exc_t)) > 1:
        raise SignatureProblem("shape", "unexpected content in a Transform")
    if digest.get("Algorithm") not in DIGEST_METHODS:
        raise SignatureProblem("algorithm", f"digest algorithm {digest.get('Algorithm')!r} is not accepted "
                               "(SHA-256 or stronger)")
    certificate = None
    if len(parts) == 3:
        certs = parts[2].findall(f"{_DS}X509Data/{_DS}X509Certificate")
        if len(certs) > 1:
            raise SignatureProblem("shape", "KeyInfo must name at most one certificate")
        if certs:
            import base64
            try:
                der = base64.b64decode("".join(certs[0].itertext()).encode(), validate=False)
                certificate = x509.load_der_x509_certificate(der)
            except Exception:
                raise SignatureProblem("shape", "KeyInfo holds an unreadable X509Certificate") from None
    return SignatureShape(sig, certificate)


def verify_signature(root: etree._Element, shape: SignatureShape, cert_pem: bytes) -> None:
    """Verify the signature of the assertion ``root`` with the key of ``cert_pem``; raises
    :class:`SignatureProblem` (``invalid``). Only the root's ID is registered: the reference
    resolves to the root or to nothing."""
    ctx = xmlsec.SignatureContext()
    try:
        ctx.register_id(root, "ID")
        ctx.key = xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
        for t in (xmlsec.constants.TransformEnveloped, xmlsec.constants.TransformExclC14N,
                  *DIGEST_METHODS.values()):
            ctx.enable_reference_transform(t)
        for t in (xmlsec.constants.TransformExclC14N, *SIGNATURE_METHODS.values()):
            ctx.enable_signature_transform(t)
        ctx.verify(shape.signature)
    except (xmlsec.Error, xmlsec.VerificationError) as exc:
        raise SignatureProblem("invalid", f"the assertion's signature does not verify ({exc})") from None


def sign_assertion(assertion: etree._Element, key_pem: bytes, cert_pem: bytes, *,
                   signature_method: str = RSA_SHA256, digest_method: str = SHA256,
                   inclusive_prefixes: str | None = None) -> etree._Element:
    """Sign ``assertion`` in place (enveloped, exc-c14n; any existing ds:Signature replaced), the
    signature placed after saml2:Issuer as the SAML schema wants; the certificate in KeyInfo."""
    for old in assertion.findall(_DS + "Signature"):
        assertion.remove(old)
    sig_transform = {v: k for k, v in SIGNATURE_METHODS.items()}
    digest_transform = {v: k for k, v in DIGEST_METHODS.items()}
    sig_t = next(t for t, uri in sig_transform.items() if uri == signature_method)
    dig_t = next(t for t, uri in digest_transform.items() if uri == digest_method)
    sig = xmlsec.template.create(assertion, xmlsec.constants.TransformExclC14N, sig_t, ns="ds")
    issuer = assertion.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
    if issuer is not None:
        issuer.addnext(sig)
    else:
        assertion.insert(0, sig)
    ref = xmlsec.template.add_reference(sig, dig_t, uri="#" + assertion.get("ID"))
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    exc = xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    if inclusive_prefixes:
        etree.SubElement(exc, "{%s}InclusiveNamespaces" % NS_EC, nsmap={"ec": NS_EC}).set(
            "PrefixList", inclusive_prefixes)
    key_info = xmlsec.template.ensure_key_info(sig)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
    ctx = xmlsec.SignatureContext()
    ctx.register_id(assertion, "ID")
    key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    ctx.key = key
    ctx.sign(sig)
    return assertion
