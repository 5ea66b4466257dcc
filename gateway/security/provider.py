"""The development X-Assertion Provider: signed CH:XUA assertions for demos, tests and integrators.

NOT FOR PRODUCTION. The key pair lives in ``<data_dir>/xua-dev/`` (created on first use, the key
readable by its owner only). ``serve --demo`` trusts its certificate; otherwise it is trusted only
when the operator puts ``<data_dir>/xua-dev/provider.crt`` into ``EPD_XUA_TRUST``.

Roles as the CLI takes them (``epd-gateway xua issue``):

* HCP: ``--subject`` the professional's GLN; PAT: the patient's EPR-SPID; REP, PADM, DADM: their ids.
* ASS / TCU: ``--subject`` the assistant's GLN / the technical user's id, ``--principal-gln`` the
  responsible HCP. The assertion then says role HCP, Subject NameID = the responsible HCP, and
  ``Conditions/DelegationRestriction/Delegate`` + ``SubjectConfirmation`` = the assistant / technical
  user, as CH:XUA wants.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from gateway.security.signature import sign_assertion
from profiles.xua import constants as X

DEV_DIR = "xua-dev"
DEV_SUBJECT = "epd-gateway development X-Assertion Provider - NOT FOR PRODUCTION"
DEV_ISSUER = "urn:epd-gateway:development-xua-provider"
DEV_WARNING = ("WARNING: --demo trusts the development X-Assertion Provider (epd-gateway xua issue): "
               "anyone with this data directory can sign assertions. NOT FOR PRODUCTION.")

_S = "{%s}" % X.NS_SAML2
_NSMAP = {"saml2": X.NS_SAML2, "xsd": "http://www.w3.org/2001/XMLSchema", "xsi": X.NS_XSI}


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class DevelopmentProvider:
    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.dir = Path(data_dir) / DEV_DIR
        self.key_path = self.dir / "provider.key"
        self.cert_path = self.dir / "provider.crt"

    def exists(self) -> bool:
        return self.key_path.is_file() and self.cert_path.is_file()

    def ensure(self) -> tuple[bytes, bytes]:
        """(key PEM, certificate PEM), created on first use."""
        if not self.exists():
            self._create()
        return self.key_path.read_bytes(), self.cert_path.read_bytes()

    def certificate_pem(self) -> bytes:
        return self.ensure()[1]

    def _create(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        self.dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEV_SUBJECT[:64])])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        if self.exists():    # another process won the race
            return
        _atomic_write(self.key_path, key_pem, 0o600)
        _atomic_write(self.cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def issue(self, request: "AssertionRequest") -> bytes:
        key_pem, cert_pem = self.ensure()
        return issue_assertion(request, key_pem, cert_pem)


@dataclass
class AssertionRequest:
    role: str                       # HCP, ASS, TCU, PAT, REP, PADM, DADM
    subject: str                    # the user (see the module docstring)
    patient: str                    # EPR-SPID (bare or as CX)
    home_community_id: str          # urn:oid:...
    name: str | None = None
    purpose: str | None = None      # default NORM (TCU: AUTO)
    principal_gln: str | None = None
    principal_name: str | None = None
    organizations: list[str] = field(default_factory=list)   # OIDs (HCP, ASS, TCU)
    organization_names: list[str] = field(default_factory=list)
    minutes: float = 5
    issuer: str = DEV_ISSUER
    now: dt.datetime | None = None


def _time(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _name_id(parent: etree._Element, qualifier: str, value: str) -> etree._Element:
    el = etree.SubElement(parent, _S + "NameID", Format=X.NAMEID_PERSISTENT, NameQualifier=qualifier)
    el.text = value
    return el


def _attribute(statement: etree._Element, name: str, values: list[str], xsi_type: str = "xsd:string") -> None:
    attr = etree.SubElement(statement, _S + "Attribute", Name=name, NameFormat=X.ATTRNAME_FORMAT_URI)
    for v in values:
        av = etree.SubElement(attr, _S + "AttributeValue")
        av.set("{%s}type" % X.NS_XSI, xsi_type)
        av.text = v


def _coded(statement: etree._Element, name: str, local: str, code: str, system: str, system_name: str,
           display: str) -> None:
    attr = etree.SubElement(statement, _S + "Attribute", Name=name, NameFormat=X.ATTRNAME_FORMAT_URI)
    av = etree.SubElement(attr, _S + "AttributeValue")
    ce = etree.SubElement(av, "{%s}%s" % (X.NS_HL7, local), nsmap={None: X.NS_HL7},
                          code=code, codeSystem=system, codeSystemName=system_name, displayName=display)
    ce.set("{%s}type" % X.NS_XSI, "CE")


def build_assertion(req: AssertionRequest) -> etree._Element:
    """The unsigned assertion for ``req`` (ValueError for a request CH:XUA does not allow)."""
    role = req.role.upper()
    if role not in X.ROLE_NAMES:
        raise ValueError(f"unknown role {req.role!r} (one of {', '.join(X.ROLE_NAMES)})")
    purpose = (req.purpose or (X.AUTO if role == X.TCU else X.NORM)).upper()
    if purpose not in X.PURPOSES_BY_ROLE[role]:
        raise ValueError(f"purpose of use {purpose} is not allowed for {role} "
                         f"({'|'.join(sorted(X.PURPOSES_BY_ROLE[role]))})")
    delegated = role in (X.ASS, X.TCU)
    if delegated and not req.principal_gln:
        raise ValueError(f"role {role} needs --principal-gln (the responsible healthcare professional)")
    if not delegated and req.principal_gln:
        raise ValueError("--principal-gln is for ASS and TCU only")
    if role in X.ORGANISATIONS_REQUIRED and not req.organizations:
        raise ValueError(f"role {role} needs --organization OID")
    if role in X.ORGANISATIONS_FORBIDDEN and req.organizations:
        raise ValueError(f"role {role} carries no organization")
    spid = req.patient[: -len(X.RESOURCE_ID_SUFFIX)] if req.patient.endswith(X.RESOURCE_ID_SUFFIX) else req.patient
    now = req.now or dt.datetime.now(dt.timezone.utc)
    end = now + dt.timedelta(minutes=req.minutes)

    a = etree.Element(_S + "Assertion", nsmap={**_NSMAP, "del": X.NS_DELEGATION},
                      ID="_" + str(uuid.uuid4()), IssueInstant=_time(now), Version="2.0")
    etree.SubElement(a, _S + "Issuer").text = req.issuer
    subject = etree.SubElement(a, _S + "Subject")
    qualifier = X.QUALIFIER_BY_ROLE[role]
    _name_id(subject, qualifier, req.principal_gln if delegated else req.subject)
    delegate_q = X.Q_GLN if role == X.ASS else X.Q_TECHNICAL_USER
    if delegated:
        sc = etree.SubElement(subject, _S + "SubjectConfirmation", Method=X.CM_BEARER)
        _name_id(sc, delegate_q, req.subject)
        if req.name:
            data = etree.SubElement(sc, _S + "SubjectConfirmationData")
            _attribute(data, X.ATTR_SUBJECT_ID, [req.name])
    conditions = etree.SubElement(a, _S + "Conditions", NotBefore=_time(now), NotOnOrAfter=_time(end))
    audience = etree.SubElement(conditions, _S + "AudienceRestriction")
    etree.SubElement(audience, _S + "Audience").text = X.AUDIENCE_ALL_COMMUNITIES
    if delegated:
        cond = etree.SubElement(conditions, _S + "Condition")
        cond.set("{%s}type" % X.NS_XSI, "del:DelegationRestrictionType")
        _name_id(etree.SubElement(cond, "{%s}Delegate" % X.NS_DELEGATION), delegate_q, req.subject)
    authn = etree.SubElement(a, _S + "AuthnStatement", AuthnInstant=_time(now))
    ctx = etree.SubElement(etree.SubElement(authn, _S + "AuthnContext"), _S + "AuthnContextClassRef")
    ctx.text = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
    st = etree.SubElement(a, _S + "AttributeStatement")
    subject_name = (req.principal_name if delegated else req.name) or (req.principal_gln if delegated else req.subject)
    _attribute(st, X.ATTR_SUBJECT_ID, [subject_name])
    attr_role = X.HCP if delegated else role
    _coded(st, X.ATTR_ROLE, "Role", attr_role, X.ROLE_CODE_SYSTEM, "ch-ehealth-codesystem-role",
           X.ROLE_NAMES[attr_role])
    _coded(st, X.ATTR_PURPOSE_OF_USE, "PurposeOfUse", purpose, X.PURPOSE_CODE_SYSTEM,
           "ch-ehealth-codesystem-purposeOfUse", X.PURPOSE_NAMES[purpose])
    _attribute(st, X.ATTR_RESOURCE_ID, [spid + X.RESOURCE_ID_SUFFIX], "xsd:token")
    orgs = [o if o.startswith("urn:oid:") else "urn:oid:" + o for o in req.organizations]
    _attribute(st, X.ATTR_ORGANIZATION_ID, orgs, "xsd:anyURI")
    names = req.organization_names or [f"organization {o[len('urn:oid:'):]}" for o in orgs]
    _attribute(st, X.ATTR_ORGANIZATION, names)
    home = req.home_community_id if req.home_community_id.startswith("urn:oid:") else "urn:oid:" + req.home_community_id
    _attribute(st, X.ATTR_HOME_COMMUNITY_ID, [home], "xsd:anyURI")
    return a


def issue_assertion(req: AssertionRequest, key_pem: bytes, cert_pem: bytes) -> bytes:
    """The signed assertion's bytes."""
    a = build_assertion(req)
    sign_assertion(a, key_pem, cert_pem, inclusive_prefixes="del xsd")
    return etree.tostring(a, with_tail=False)
