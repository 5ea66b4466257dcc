"""The claims of a CH:XUA assertion: read them from a *verified* assertion and check the Swiss rules.

:func:`read_claims` takes the very ``saml2:Assertion`` element whose signature was verified (the
gateway hands over nothing else: see ``gateway.security.xua``) and returns :class:`XuaClaims` with
a :class:`profiles.context.Principal`, or raises :class:`XuaError`:

* ``MALFORMED``: the assertion lacks a required element or has two where one is allowed;
* ``INVALID_CLAIMS``: a claim breaks a CH:XUA rule: an ASS/TCU code in the role attribute, a
  purpose of use not allowed for the role, a Subject NameID qualifier not the role's, a
  resource-id that is no EPR-SPID, a Delegate with a role other than HCP...

The time window is checked apart (:meth:`XuaClaims.check_time`): a verified assertion is cached and
reused during its life, its time window is checked on every use.

ASS and TCU: the role attribute says ``HCP`` and the Subject NameID is the responsible HCP's GLN;
``Conditions/DelegationRestriction/Delegate`` names the one acting: an assistant by GLN (-> ASS), a
technical user by ``urn:e-health-suisse:technical-user-id`` (-> TCU). The Principal then has
``role`` ASS/TCU, ``user_id`` the responsible HCP, ``acting_id`` the delegate.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Iterable

from lxml import etree

from profiles.ch.identifiers import epr_spid_problem
from profiles.context import Principal
from profiles.xua import constants as X
from profiles.xua.errors import EXPIRED, INVALID_CLAIMS, MALFORMED, NOT_YET_VALID, XuaError

_S = "{%s}" % X.NS_SAML2
_DEL = "{%s}" % X.NS_DELEGATION
_HL7 = "{%s}" % X.NS_HL7
_XSI_TYPE = "{%s}type" % X.NS_XSI

# Syntax only: the eHealth Suisse samples use OIDs such as 3.3.3.1 and GLNs whose GS1 check digit
# does not hold; the assertion provider is trusted for the values, the syntax keeps junk out.
_OID = re.compile(r"^[0-9]+(\.[0-9]+)+$")
_GLN = re.compile(r"^[0-9]{13}$")


def is_oid(value: str) -> bool:
    return bool(_OID.match(value)) and len(value) <= 64


def is_gln(value: str) -> bool:
    return bool(_GLN.match(value))


_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class XuaClaims:
    """What a verified assertion says. ``principal`` carries no TLS subject (the gateway adds it)."""

    assertion_id: str
    issuer: str
    issue_instant: dt.datetime
    not_before: dt.datetime
    not_on_or_after: dt.datetime
    audiences: tuple[str, ...]
    principal: Principal

    def check_time(self, now: dt.datetime, skew_seconds: float = 60) -> None:
        """Raise ``EXPIRED`` once ``now`` is past NotOnOrAfter + skew, ``NOT_YET_VALID`` before
        NotBefore - skew."""
        skew = dt.timedelta(seconds=skew_seconds)
        if now >= self.not_on_or_after + skew:
            raise XuaError(EXPIRED, f"the assertion expired at {self.not_on_or_after.isoformat()}")
        if now < self.not_before - skew:
            raise XuaError(NOT_YET_VALID, f"the assertion is valid only from {self.not_before.isoformat()}")


def parse_datetime(text: str | None, what: str) -> dt.datetime:
    """An xs:dateTime with a time zone (any number of fraction digits) as an aware datetime."""
    m = _DATETIME.match((text or "").strip())
    if m is None:
        raise XuaError(MALFORMED, f"{what}: {text!r} is not an xs:dateTime with a time zone")
    base, fraction, zone = m.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    try:
        value = dt.datetime.fromisoformat(f"{base}.{micro}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        raise XuaError(MALFORMED, f"{what}: {text!r} is not a valid date and time") from None
    return value.astimezone(dt.timezone.utc)


def _one(parent: etree._Element, tag: str, what: str, *, required: bool = True) -> etree._Element | None:
    found = parent.findall(tag)
    if len(found) > 1:
        raise XuaError(MALFORMED, f"the assertion has {len(found)} {what} elements, one is allowed")
    if not found:
        if required:
            raise XuaError(MALFORMED, f"the assertion has no {what}")
        return None
    return found[0]


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    return "".join(t for t in el.itertext()).strip()


def _name_id(parent: etree._Element, what: str, *, required: bool = True) -> tuple[str, str] | None:
    el = _one(parent, _S + "NameID", f"{what} NameID", required=required)
    if el is None:
        return None
    value = _text(el)
    if not value:
        raise XuaError(MALFORMED, f"the {what} NameID is empty")
    return (el.get("NameQualifier") or "").strip(), value


def _attributes(assertion: etree._Element) -> dict[str, list[etree._Element]]:
    """Attribute name -> its AttributeValue elements (each name at most once)."""
    statements = assertion.findall(_S + "AttributeStatement")
    if not statements:
        raise XuaError(MALFORMED, "the assertion has no AttributeStatement")
    out: dict[str, list[etree._Element]] = {}
    for statement in statements:
        for attr in statement.findall(_S + "Attribute"):
            name = (attr.get("Name") or "").strip()
            if not name:
                raise XuaError(MALFORMED, "an Attribute without Name")
            if name in out:
                raise XuaError(MALFORMED, f"the attribute {name} appears twice")
            out[name] = attr.findall(_S + "AttributeValue")
    return out


def _single_value(attrs: dict[str, list[etree._Element]], name: str, what: str) -> etree._Element:
    values = attrs.get(name)
    if not values:
        raise XuaError(MALFORMED, f"the assertion has no {what} attribute ({name})")
    if len(values) > 1:
        raise XuaError(INVALID_CLAIMS, f"the {what} attribute has {len(values)} values, one is allowed")
    return values[0]


def _coded(value: etree._Element, local: str, code_system: str, what: str) -> str:
    coded = value.find(_HL7 + local)
    if coded is None:
        raise XuaError(MALFORMED, f"the {what} attribute holds no hl7:{local} element")
    code = (coded.get("code") or "").strip()
    system = (coded.get("codeSystem") or "").strip()
    if system != code_system:
        raise XuaError(INVALID_CLAIMS, f"the {what} code system is {system!r}, expected {code_system}")
    if not code:
        raise XuaError(MALFORMED, f"the {what} has no code")
    return code


def _strip_oid(value: str) -> str:
    return value[len("urn:oid:"):] if value.lower().startswith("urn:oid:") else value


def _delegate(conditions: etree._Element) -> tuple[str, str] | None:
    """The Delegate NameID (qualifier, value) of a DelegationRestriction condition, if any."""
    found: tuple[str, str] | None = None
    for cond in conditions.findall(_S + "Condition"):
        xsi_type = cond.get(_XSI_TYPE) or ""
        prefix, _, local = xsi_type.rpartition(":")
        ns = cond.nsmap.get(prefix or None)
        if local != "DelegationRestrictionType" or ns != X.NS_DELEGATION:
            raise XuaError(INVALID_CLAIMS, f"unsupported assertion condition {xsi_type!r}")
        delegates = cond.findall(_DEL + "Delegate")
        if len(delegates) != 1 or found is not None:
            raise XuaError(INVALID_CLAIMS, "the assertion must name at most one Delegate")
        found = _name_id(delegates[0], "Delegate")
    for child in conditions:
        if isinstance(child.tag, str) and child.tag not in (_S + "Condition", _S + "AudienceRestriction",
                                                            _S + "OneTimeUse", _S + "ProxyRestriction"):
            raise XuaError(INVALID_CLAIMS, f"unsupported assertion condition {child.tag}")
    return found


def read_claims(assertion: etree._Element, *, assertion_bytes: bytes | None = None,
                audiences: Iterable[str] = (X.AUDIENCE_ALL_COMMUNITIES,)) -> XuaClaims:
    """The claims of the (verified) ``saml2:Assertion`` element; raises :class:`XuaError`.

    ``assertion_bytes``: kept opaque in the Principal (forwarding, audit). ``audiences``: an
    AudienceRestriction is accepted when it names one of these (it is not required).
    """
    if assertion.tag != _S + "Assertion":
        raise XuaError(MALFORMED, f"expected saml2:Assertion, got {assertion.tag}")
    for _node in assertion.iter(etree.Comment, etree.ProcessingInstruction):
        # exc-c14n drops comments from the digest: text around a comment would be read unsigned
        raise XuaError(MALFORMED, "comments and processing instructions are not allowed in an assertion")
    if assertion.get("Version") != "2.0":
        raise XuaError(MALFORMED, f"SAML Version {assertion.get('Version')!r}, 2.0 expected")
    assertion_id = (assertion.get("ID") or "").strip()
    if not assertion_id:
        raise XuaError(MALFORMED, "the assertion has no ID")
    issue_instant = parse_datetime(assertion.get("IssueInstant"), "IssueInstant")
    issuer = _text(_one(assertion, _S + "Issuer", "Issuer"))
    if not issuer:
        raise XuaError(MALFORMED, "the assertion's Issuer is empty")

    subject = _one(assertion, _S + "Subject", "Subject")
    qualifier, user_id = _name_id(subject, "Subject")  # type: ignore[misc]
    confirmation_id: tuple[str, str] | None = None
    acting_name: str | None = None
    for sc in subject.findall(_S + "SubjectConfirmation"):
        nid = _name_id(sc, "SubjectConfirmation", required=False)
        if nid is not None:
            if confirmation_id is not None:
                raise XuaError(INVALID_CLAIMS, "more than one SubjectConfirmation names a user")
            confirmation_id = nid
            data = sc.find(_S + "SubjectConfirmationData")
            if data is not None:
                for attr in data.findall(_S + "Attribute"):
                    if attr.get("Name") == X.ATTR_SUBJECT_ID:
                        acting_name = _text(attr.find(_S + "AttributeValue")) or None

    conditions = _one(assertion, _S + "Conditions", "Conditions")
    not_before = parse_datetime(conditions.get("NotBefore"), "Conditions/@NotBefore")
    not_on_or_after = parse_datetime(conditions.get("NotOnOrAfter"), "Conditions/@NotOnOrAfter")
    if not_on_or_after <= not_before:
        raise XuaError(INVALID_CLAIMS, "NotOnOrAfter is not after NotBefore")
    accepted = set(audiences)
    found_audiences: list[str] = []
    for restriction in conditions.findall(_S + "AudienceRestriction"):
        names = [_text(a) for a in restriction.findall(_S + "Audience")]
        found_audiences.extend(names)
        if not accepted.intersection(names):
            raise XuaError(INVALID_CLAIMS, f"the assertion is meant for {names}, not for this community")
    delegate = _delegate(conditions)

    attrs = _attributes(assertion)
    role_attr = _coded(_single_value(attrs, X.ATTR_ROLE, "role"), "Role", X.ROLE_CODE_SYSTEM, "role")
    if role_attr not in X.ROLE_ATTRIBUTE_CODES:
        if role_attr in (X.ASS, X.TCU):
            raise XuaError(INVALID_CLAIMS, f"role {role_attr} is not carried in the role attribute: an "
                           "assistant or technical user comes as HCP with a DelegationRestriction/Delegate")
        raise XuaError(INVALID_CLAIMS, f"unknown EPR role {role_attr!r}")
    role = role_attr
    acting_id: str | None = None
    if delegate is not None:
        if role_attr != X.HCP:
            raise XuaError(INVALID_CLAIMS, f"a Delegate is allowed only with role HCP, not {role_attr}")
        d_qualifier, acting_id = delegate
        derived = X.DELEGATE_ROLE_BY_QUALIFIER.get(d_qualifier)
        if derived is None:
            raise XuaError(INVALID_CLAIMS, f"the Delegate's NameQualifier {d_qualifier!r} is neither "
                           f"{X.Q_GLN} (assistant) nor {X.Q_TECHNICAL_USER} (technical user)")
        if derived == X.ASS and not is_gln(acting_id):
            raise XuaError(INVALID_CLAIMS, f"the assistant's GLN {acting_id!r} is not a GLN")
        if confirmation_id is not None and confirmation_id != delegate:
            raise XuaError(INVALID_CLAIMS, "the SubjectConfirmation names another user than the Delegate")
        role = derived
    elif confirmation_id is not None and confirmation_id != (qualifier, user_id):
        raise XuaError(INVALID_CLAIMS, "a SubjectConfirmation names another user, without a Delegate")

    expected_q = X.QUALIFIER_BY_ROLE[role]
    if qualifier != expected_q:
        raise XuaError(INVALID_CLAIMS, f"the Subject NameID qualifier for role {role} must be {expected_q}, "
                       f"not {qualifier!r}")
    if expected_q == X.Q_GLN and not is_gln(user_id):
        raise XuaError(INVALID_CLAIMS, f"the responsible HCP's GLN {user_id!r} is not a GLN")

    purpose = _coded(_single_value(attrs, X.ATTR_PURPOSE_OF_USE, "purpose of use"), "PurposeOfUse",
                     X.PURPOSE_CODE_SYSTEM, "purpose of use")
    if purpose not in X.PURPOSES_BY_ROLE[role]:
        allowed = "|".join(sorted(X.PURPOSES_BY_ROLE[role]))
        raise XuaError(INVALID_CLAIMS, f"purpose of use {purpose} is not allowed for role {role} ({allowed})")

    resource = _text(_single_value(attrs, X.ATTR_RESOURCE_ID, "resource-id"))
    if not resource.endswith(X.RESOURCE_ID_SUFFIX):
        raise XuaError(INVALID_CLAIMS, f"the resource-id {resource!r} is not an EPR-SPID "
                       f"(…{X.RESOURCE_ID_SUFFIX})")
    spid = resource[: -len(X.RESOURCE_ID_SUFFIX)]
    problem = epr_spid_problem(spid)
    if problem:
        raise XuaError(INVALID_CLAIMS, f"the resource-id's EPR-SPID {spid!r}: {problem}")

    user_name = _text(_single_value(attrs, X.ATTR_SUBJECT_ID, "subject-id")) or None
    home = _text(_single_value(attrs, X.ATTR_HOME_COMMUNITY_ID, "homeCommunityId"))
    if not home.startswith("urn:oid:") or not is_oid(home[len("urn:oid:"):]):
        raise XuaError(INVALID_CLAIMS, f"the homeCommunityId {home!r} is not urn:oid:OID")

    org_ids = tuple(_strip_oid(_text(v)) for v in attrs.get(X.ATTR_ORGANIZATION_ID, ()) if _text(v))
    org_names = tuple(_text(v) for v in attrs.get(X.ATTR_ORGANIZATION, ()) if _text(v))
    if role in X.ORGANISATIONS_REQUIRED and not org_ids:
        raise XuaError(INVALID_CLAIMS, f"role {role} requires the organization-id attribute")
    if role in X.ORGANISATIONS_FORBIDDEN and (org_ids or org_names):
        raise XuaError(INVALID_CLAIMS, f"role {role} carries no organization")
    for oid in org_ids:
        if not is_oid(oid):
            raise XuaError(INVALID_CLAIMS, f"organization-id {oid!r} is not an OID")

    principal = Principal(
        user_id=user_id, user_name=user_name, role=role,
        acting_id=acting_id, acting_name=acting_name if acting_id else None,
        organisation_ids=org_ids, organisation_names=org_names, purpose_of_use=purpose,
        patient_epr_spid=spid, home_community_id=home, assertion_id=assertion_id,
        assertion=assertion_bytes)
    return XuaClaims(assertion_id=assertion_id, issuer=issuer, issue_instant=issue_instant,
                     not_before=not_before, not_on_or_after=not_on_or_after,
                     audiences=tuple(found_audiences), principal=principal)


def with_tls_subject(claims: XuaClaims, tls_subject: str | None) -> Principal:
    """The claims' Principal with the TLS client subject of the connection it came over."""
    return replace(claims.principal, tls_subject=tls_subject)
