"""CH:XUA names and codes (Annex 5, IHE ITI TF-2 3.40; checked against IPF's ``NameQualifier`` /
``PurposeOfUse`` and husky's ``ChEprAssertionValidator``, see docs/decisions/007-xua-faults.md)."""
from __future__ import annotations

NS_SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DELEGATION = "urn:oasis:names:tc:SAML:2.0:conditions:delegation"
NS_HL7 = "urn:hl7-org:v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"

# -- attribute names ---------------------------------------------------------------------------
ATTR_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ATTR_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
ATTR_PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
ATTR_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ATTR_ORGANIZATION = "urn:oasis:names:tc:xspa:1.0:subject:organization"
ATTR_ORGANIZATION_ID = "urn:oasis:names:tc:xspa:1.0:subject:organization-id"
ATTR_HOME_COMMUNITY_ID = "urn:ihe:iti:xca:2010:homeCommunityId"
ATTRNAME_FORMAT_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

# -- code systems --------------------------------------------------------------------------------
ROLE_CODE_SYSTEM = "2.16.756.5.30.1.127.3.10.6"
PURPOSE_CODE_SYSTEM = "2.16.756.5.30.1.127.3.10.5"
EPR_SPID_OID = "2.16.756.5.30.1.127.3.10.3"
RESOURCE_ID_SUFFIX = f"^^^&{EPR_SPID_OID}&ISO"

# -- roles ----------------------------------------------------------------------------------------
HCP, ASS, TCU, PAT, REP, PADM, DADM = "HCP", "ASS", "TCU", "PAT", "REP", "PADM", "DADM"
ROLE_NAMES = {HCP: "Healthcare professional", ASS: "Assistant", TCU: "Technical user", PAT: "Patient",
              REP: "Representative", PADM: "Policy Administrator", DADM: "Document Administrator"}
#: the codes the role attribute may carry: ASS and TCU arrive as HCP with a Delegate
ROLE_ATTRIBUTE_CODES = frozenset({HCP, PAT, REP, PADM, DADM})

# -- purposes of use ---------------------------------------------------------------------------
NORM, EMER, AUTO, DICOM_AUTO = "NORM", "EMER", "AUTO", "DICOM_AUTO"
PURPOSE_NAMES = {NORM: "Normal Access", EMER: "Emergency Access", AUTO: "Automatic Upload",
                 DICOM_AUTO: "DICOM Automatic Upload"}
PURPOSES_BY_ROLE = {
    HCP: frozenset({NORM, EMER}),
    ASS: frozenset({NORM, EMER}),
    TCU: frozenset({AUTO, DICOM_AUTO}),
    PAT: frozenset({NORM}),
    REP: frozenset({NORM}),
    PADM: frozenset({NORM}),
    DADM: frozenset({NORM}),
}

# -- Subject NameID qualifiers -------------------------------------------------------------------
Q_EPR_SPID = "urn:e-health-suisse:2015:epr-spid"
Q_GLN = "urn:gs1:gln"
Q_REPRESENTATIVE = "urn:e-health-suisse:representative-id"
Q_POLICY_ADMIN = "urn:e-health-suisse:policy-administrator-id"
Q_DOCUMENT_ADMIN = "urn:e-health-suisse:document-administrator-id"
Q_TECHNICAL_USER = "urn:e-health-suisse:technical-user-id"
#: the Subject NameID's qualifier per (effective) role; for ASS/TCU it names the responsible HCP
QUALIFIER_BY_ROLE = {HCP: Q_GLN, ASS: Q_GLN, TCU: Q_GLN, PAT: Q_EPR_SPID, REP: Q_REPRESENTATIVE,
                     PADM: Q_POLICY_ADMIN, DADM: Q_DOCUMENT_ADMIN}
#: the Delegate NameID's qualifier -> the role derived from it (the role attribute says HCP)
DELEGATE_ROLE_BY_QUALIFIER = {Q_GLN: ASS, Q_TECHNICAL_USER: TCU}

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
AUDIENCE_ALL_COMMUNITIES = "urn:e-health-suisse:token-audience:all-communities"

#: organisations: required for these roles (the eHealth Suisse TCU sample has none: TCU may omit them)
ORGANISATIONS_REQUIRED = frozenset({HCP, ASS})
#: ... and must be absent for these
ORGANISATIONS_FORBIDDEN = frozenset({PAT, REP, PADM, DADM})
