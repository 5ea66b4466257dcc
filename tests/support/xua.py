"""Test helpers for CH:XUA: the eHealth Suisse samples re-signed with a test key, our own assertions,
SOAP envelopes carrying them."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from lxml import etree

from gateway.clients.soap import add_security_header
from gateway.security.provider import AssertionRequest, build_assertion
from gateway.security.signature import sign_assertion
from gateway.soap.envelope import build_envelope, parse_envelope, serialize
from profiles.xua.constants import NS_SAML2

from support.pki import Issued

SAMPLES = Path(__file__).resolve().parents[1] / "vectors" / "epr-by-example" / "XUA_samples"
SAML = "{%s}" % NS_SAML2
UTC = dt.timezone.utc

#: sample file -> (role, user_id, user_name, acting_id, acting_name, purpose, org ids)
SAMPLE_PRINCIPALS = {
    "1_Get_X-User_Assertion_Response-Healthcare_Provider.xml":
        ("HCP", "2000000090092", "Martina Musterarzt", None, None, "NORM", ("2.2.2.1", "2.2.2.2", "2.2.2.3")),
    "2_Get_X-User_Assertion_Response-Assistant.xml":
        ("ASS", "2000000090092", "Martina Musterarzt", "2000000090108", "Dagmar Musterassistent", "NORM",
         ("2.2.2.1", "2.2.2.2", "2.2.2.3")),
    "3_Get_X-User_Assertion_Response-Technical_User.xml":
        ("TCU", "2000000090201", "Max Musterverantwortlicher", "urn:oid:1.3.6.1.4.1.343", None, "AUTO", ()),
    "4_Get_X-User_Assertion_Response-Patient.xml":
        ("PAT", "305000", "Iris Musterpatient", None, None, "NORM", ()),
    "5_Get_X-User_Assertion_Response-Representative.xml":
        ("REP", "7602501e-425d-43e8-b4e8-eabd50869e95", "Peter Muster Stellvertreter", None, None, "NORM", ()),
    "6_Get_X-User_Assertion_Response-Policy-Administrator.xml":
        ("PADM", "f94e868c-f849-490c-9886-77a2b65ab62f", "Sabine Muster-Administrator", None, None, "NORM", ()),
    "7_Get_X-User_Assertion_Response-Document-Administrator.xml":
        ("DADM", "f94e868c-f849-490c-9886-77a2b65ab62f", "Sabine Muster-Administrator", None, None, "NORM", ()),
}
SAMPLE_SPID = "761337610411353650"
SAMPLE_HOME = "urn:oid:3.3.3.1"


def sample_assertion(name: str) -> etree._Element:
    """The sample's assertion element, unsigned (its original signature removed), standalone."""
    root = etree.parse(str(SAMPLES / name)).getroot()
    a = root.find(f".//{SAML}Assertion")
    return etree.fromstring(etree.tostring(a, with_tail=False))


def sample_instant(assertion: etree._Element) -> dt.datetime:
    """A moment inside the sample's validity window (one minute after NotBefore)."""
    from profiles.xua.claims import parse_datetime
    cond = assertion.find(SAML + "Conditions")
    return parse_datetime(cond.get("NotBefore"), "NotBefore") + dt.timedelta(minutes=1)


def resign(assertion: etree._Element, signer: Issued, **kw) -> bytes:
    sign_assertion(assertion, signer.key_pem, signer.cert_pem, inclusive_prefixes="del xsd", **kw)
    return etree.tostring(assertion, with_tail=False)


def make_assertion(signer: Issued, *, role: str = "HCP", subject: str = "7601000000019",
                   patient: str = "761337610411353650", home: str = "urn:oid:2.16.756.5.30.1.999.1",
                   **kw) -> bytes:
    kw.setdefault("organizations", ["2.16.756.5.30.1.999.7"] if role in ("HCP", "ASS") else [])
    if role in ("ASS", "TCU"):
        kw.setdefault("principal_gln", "7601000000026")
    req = AssertionRequest(role=role, subject=subject, patient=patient, home_community_id=home, **kw)
    return resign(build_assertion(req), signer)


def unsigned(signer_bytes: bytes) -> etree._Element:
    return etree.fromstring(signer_bytes)


def envelope_with(*assertions: bytes | etree._Element, body: etree._Element | None = None,
                  action: str = "urn:test:echo") -> etree._Element:
    """A SOAP 1.2 request envelope with each assertion in (one) wsse:Security header."""
    if body is None:
        body = etree.Element("{urn:test}echo")
    env = build_envelope(body, action, None, to="http://127.0.0.1/test")
    if assertions:
        sec = add_security_header(env, assertions[0])
        for extra in assertions[1:]:
            data = extra if isinstance(extra, bytes) else etree.tostring(extra)
            sec.append(etree.fromstring(data))
    return env


def soap_request(envelope: etree._Element):
    """The envelope through the gateway's own parser (bytes -> SoapRequest)."""
    from gateway.soap.xml import parse_xml
    return parse_envelope(parse_xml(serialize(envelope)), require_action=False)
