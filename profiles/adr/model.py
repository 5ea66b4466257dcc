"""The patient's access rights (CH:ADR / CH:PPQ): the official EPR policy stack as a data model.

The official stack (ehealthsuisse/ch-epr-adr-ppq, ``Privacy Policy Stack``) is XACML 2.0: fixed
*base policies* (01-12) grouped into *base policy sets* (101-113), and per patient *policy sets*
made from templates:

==== ==================================== ============================================ ===============
tmpl who (target)                           references                                   dates
==== ==================================== ============================================ ===============
201  the patient (PAT, subject-id = SPID)   105 full                                     --
202  any HCP (GLN) with purpose EMER        112/113 (or 101/102) emergency level         --
203  any HCP (GLN), purpose NORM/AUTO/      107/108/109 provide level                    --
     DICOM_AUTO (ASS and TCU arrive as HCP)
301  one HCP by GLN                         101/102 access level, or 106 exclusion list  end optional
302  a group of HCPs by organization-id     101/102                                      end required
303  a representative (REP) by id           105 full                                     end optional
304  one HCP by GLN, with delegation        103/104                                      end required
==== ==================================== ============================================ ===============

Community-wide (not per patient): 110 for the policy administrator (PADM: policies only) and 111
for the document administrator (DADM: documents of every level, no policies). Every combination is
deny-overrides. This module holds the data (levels, codes, the base policies, the per-patient
:class:`PolicySet`); :mod:`profiles.adr.engine` evaluates it. Transport- and storage-free.
"""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field, replace
from enum import Enum

# -- confidentiality ---------------------------------------------------------------------------

NORMAL = "normal"
RESTRICTED = "restricted"
SECRET = "secret"
LEVELS = (NORMAL, RESTRICTED, SECRET)          # in increasing confidentiality
_RANK = {lvl: i for i, lvl in enumerate(LEVELS)}

SNOMED = "2.16.840.1.113883.6.96"
EPR_CONF_OID = "2.16.756.5.30.1.127.3.4"
HL7_CONF_OID = "2.16.840.1.113883.5.25"
#: The annex 3 DocumentEntry.confidentialityCode values (the value set in force: SNOMED CT, the
#: secret code from its Swiss extension), the codes the rights write.
CONFIDENTIALITY_CODES = {
    NORMAL: ("17621005", SNOMED),
    RESTRICTED: ("263856008", SNOMED),
    SECRET: ("1141000195107", SNOMED),
}
_LEVEL_OF_CODE = {code: lvl for lvl, code in CONFIDENTIALITY_CODES.items()}
# the secret code under the EPR OID (IPF ``chadr/ConfidentialityCode``, older annex 3 releases) reads alike
_LEVEL_OF_CODE[("1141000195107", EPR_CONF_OID)] = SECRET
# HL7 v3 Confidentiality (non-Swiss submitters): N, R, V map onto the same three levels.
_LEVEL_OF_CODE.update({("N", HL7_CONF_OID): NORMAL, ("R", HL7_CONF_OID): RESTRICTED,
                       ("V", HL7_CONF_OID): SECRET})


def rank(level: str) -> int:
    return _RANK[level]


def level_of_code(code: str, scheme: str) -> str:
    """The level of one confidentialityCode; an unknown code counts as SECRET (fail closed)."""
    return _LEVEL_OF_CODE.get((code, scheme), SECRET)


def level_of_codes(codes) -> str:
    """The level of a document with these (code, scheme) pairs: the most confidential one; no code
    at all counts as SECRET (fail closed: XDS requires the attribute)."""
    levels = [level_of_code(c, s) for c, s in codes]
    return max(levels, key=rank) if levels else SECRET


def most_confidential(*levels: str) -> str:
    return max(levels, key=rank)


# -- subjects ----------------------------------------------------------------------------------

ROLE_OID = "2.16.756.5.30.1.127.3.10.6"
PURPOSE_OID = "2.16.756.5.30.1.127.3.10.5"
EPR_SPID_ROOT = "2.16.756.5.30.1.127.3.10.3"

HCP, ASS, TCU, PAT, REP, PADM, DADM = "HCP", "ASS", "TCU", "PAT", "REP", "PADM", "DADM"
ROLES = (HCP, ASS, TCU, PAT, REP, PADM, DADM)
NORM, EMER, AUTO, DICOM_AUTO = "NORM", "EMER", "AUTO", "DICOM_AUTO"
PURPOSES = (NORM, EMER, AUTO, DICOM_AUTO)

Q_SPID = "urn:e-health-suisse:2015:epr-spid"
Q_GLN = "urn:gs1:gln"
Q_REP = "urn:e-health-suisse:representative-id"
Q_PADM = "urn:e-health-suisse:policy-administrator-id"
Q_DADM = "urn:e-health-suisse:document-administrator-id"
#: Subject NameID qualifier per role (CH:XUA); ASS and TCU carry their principal's GLN.
QUALIFIER_OF_ROLE = {PAT: Q_SPID, HCP: Q_GLN, ASS: Q_GLN, TCU: Q_GLN, REP: Q_REP, PADM: Q_PADM, DADM: Q_DADM}


def plain_oid(value: str) -> str:
    """``urn:oid:1.2.3`` -> ``1.2.3`` (organisation ids arrive in either form)."""
    value = (value or "").strip()
    return value[len("urn:oid:"):] if value.lower().startswith("urn:oid:") else value


# -- actions -----------------------------------------------------------------------------------

class Action(str, Enum):
    READ = "read"                   # ITI-18, ITI-43 (document metadata and content)
    WRITE = "write"                 # ITI-41, ITI-42 (submit documents)
    UPDATE_METADATA = "update"      # ITI-57, ITI-92
    POLICY = "policy"               # CH:PPQ add, update, delete, query
    AUDIT_READ = "audit"            # ITI-81 patient audit records
    DELEGATE = "delegate"           # an HCP submits a 301 for another HCP (103/104)


# -- base policies (01-12) and base policy sets (101-113) --------------------------------------

P = "urn:e-health-suisse:2015:policies:"


@dataclass(frozen=True)
class BasePolicy:
    """One base policy: ``effect`` for ``action`` on documents of ``levels`` (None: any, or n/a)
    under ``purposes`` (None: any)."""

    urn: str
    effect: str                      # "Permit" | "Deny"
    actions: frozenset[Action] | None
    levels: frozenset[str] | None = None
    purposes: frozenset[str] | None = None


_RW = frozenset({NORM, EMER})
BASE_POLICIES: dict[str, BasePolicy] = {p.urn: p for p in (
    BasePolicy(P + "permit-reading-normal", "Permit", frozenset({Action.READ}), frozenset({NORMAL}), _RW),
    BasePolicy(P + "permit-reading-restricted", "Permit", frozenset({Action.READ}), frozenset({RESTRICTED}), _RW),
    BasePolicy(P + "permit-reading-secret", "Permit", frozenset({Action.READ}), frozenset({SECRET}), _RW),
    BasePolicy(P + "permit-writing-normal", "Permit", frozenset({Action.WRITE}), frozenset({NORMAL})),
    BasePolicy(P + "permit-writing-restricted", "Permit", frozenset({Action.WRITE}), frozenset({RESTRICTED})),
    BasePolicy(P + "permit-writing-secret", "Permit", frozenset({Action.WRITE}), frozenset({SECRET})),
    # managing policies includes granting access to others (what 103/104 give an HCP)
    BasePolicy(P + "full-policy-administration", "Permit", frozenset({Action.POLICY, Action.DELEGATE})),
    BasePolicy(P + "deny-all", "Deny", None),
    BasePolicy(P + "permit-reading-patient-audit", "Permit", frozenset({Action.AUDIT_READ})),
    BasePolicy(P + "update-metadata-normal", "Permit", frozenset({Action.UPDATE_METADATA}), frozenset({NORMAL}),
               frozenset({NORM})),
    BasePolicy(P + "update-metadata-restricted", "Permit", frozenset({Action.UPDATE_METADATA}),
               frozenset({RESTRICTED}), frozenset({NORM})),
    BasePolicy(P + "update-metadata-secret", "Permit", frozenset({Action.UPDATE_METADATA}), frozenset({SECRET}),
               frozenset({NORM})),
    # the delegation right of 103/104 (their "locally defined" policy), up to the set's own level
    BasePolicy(P + "delegation-normal", "Permit", frozenset({Action.DELEGATE}), frozenset({NORMAL}), _RW),
    BasePolicy(P + "delegation-restricted", "Permit", frozenset({Action.DELEGATE}), frozenset({NORMAL, RESTRICTED}),
               _RW),
)}


def _b(*names: str) -> tuple[str, ...]:
    return tuple(P + n for n in names)


@dataclass(frozen=True)
class BasePolicySet:
    number: int
    urn: str
    references: tuple[str, ...]       # base policies or base policy sets
    role: str | None = None           # 110 PADM, 111 DADM: "user role is restricted to"


ACCESS_NORMAL = P + "access-level:normal"
ACCESS_RESTRICTED = P + "access-level:restricted"
ACCESS_DELEGATION_NORMAL = P + "access-level:delegation-and-normal"
ACCESS_DELEGATION_RESTRICTED = P + "access-level:delegation-up-to-restricted"
ACCESS_FULL = P + "access-level:full"
EXCLUSION_LIST = P + "exclusion-list"
PROVIDE_RESTRICTED = P + "provide-level:restricted"
PROVIDE_NORMAL = P + "provide-level:normal"
PROVIDE_SECRET = P + "provide-level:secret"
POLICY_BOOTSTRAP = P + "policy-bootstrap"
DOC_ADMIN = P + "doc-admin"
EMERGENCY_NORMAL = P + "emergency-access-level:normal"
EMERGENCY_RESTRICTED = P + "emergency-access-level:restricted"

BASE_POLICY_SETS: dict[str, BasePolicySet] = {s.urn: s for s in (
    BasePolicySet(101, ACCESS_NORMAL, _b("permit-reading-normal", "update-metadata-normal")),
    BasePolicySet(102, ACCESS_RESTRICTED, _b("permit-reading-normal", "permit-reading-restricted",
                                             "update-metadata-normal", "update-metadata-restricted")),
    BasePolicySet(103, ACCESS_DELEGATION_NORMAL, (ACCESS_NORMAL, P + "delegation-normal")),
    BasePolicySet(104, ACCESS_DELEGATION_RESTRICTED, (ACCESS_RESTRICTED, P + "delegation-restricted")),
    BasePolicySet(105, ACCESS_FULL, _b(
        "permit-reading-normal", "permit-reading-restricted", "permit-reading-secret", "permit-writing-normal",
        "permit-writing-restricted", "permit-writing-secret", "full-policy-administration",
        "permit-reading-patient-audit", "update-metadata-normal", "update-metadata-restricted",
        "update-metadata-secret")),
    BasePolicySet(106, EXCLUSION_LIST, _b("deny-all")),
    BasePolicySet(107, PROVIDE_RESTRICTED, _b("permit-writing-restricted")),
    BasePolicySet(108, PROVIDE_NORMAL, _b("permit-writing-normal", "permit-writing-restricted")),
    BasePolicySet(109, PROVIDE_SECRET, _b("permit-writing-secret")),
    BasePolicySet(110, POLICY_BOOTSTRAP, _b("full-policy-administration"), role=PADM),
    BasePolicySet(111, DOC_ADMIN, _b(
        "permit-reading-normal", "permit-reading-restricted", "permit-reading-secret", "permit-writing-normal",
        "permit-writing-restricted", "permit-writing-secret", "update-metadata-normal",
        "update-metadata-restricted", "update-metadata-secret"), role=DADM),
    BasePolicySet(112, EMERGENCY_NORMAL, _b("permit-reading-normal")),
    BasePolicySet(113, EMERGENCY_RESTRICTED, _b("permit-reading-normal", "permit-reading-restricted")),
)}

# -- templates ---------------------------------------------------------------------------------

T_PATIENT, T_EMERGENCY, T_PROVIDE = 201, 202, 203
T_HCP, T_GROUP, T_REPRESENTATIVE, T_DELEGATION = 301, 302, 303, 304
TEMPLATES = (201, 202, 203, 301, 302, 303, 304)

#: What each template may reference (the Schematron's rule, docs/2_Relations.md).
ALLOWED_REFERENCES: dict[int, frozenset[str]] = {
    201: frozenset({ACCESS_FULL}),
    202: frozenset({EMERGENCY_NORMAL, EMERGENCY_RESTRICTED, ACCESS_NORMAL, ACCESS_RESTRICTED}),
    203: frozenset({PROVIDE_NORMAL, PROVIDE_RESTRICTED, PROVIDE_SECRET}),
    301: frozenset({ACCESS_NORMAL, ACCESS_RESTRICTED, EXCLUSION_LIST}),
    302: frozenset({ACCESS_NORMAL, ACCESS_RESTRICTED}),
    303: frozenset({ACCESS_FULL}),
    304: frozenset({ACCESS_DELEGATION_NORMAL, ACCESS_DELEGATION_RESTRICTED}),
}
#: Templates whose end date is required / allowed.
END_DATE_REQUIRED = frozenset({302, 304})
DATES_ALLOWED = frozenset({301, 302, 303, 304})

ACCESS_OF_LEVEL = {NORMAL: ACCESS_NORMAL, RESTRICTED: ACCESS_RESTRICTED}
EMERGENCY_OF_LEVEL = {NORMAL: EMERGENCY_NORMAL, RESTRICTED: EMERGENCY_RESTRICTED}
PROVIDE_OF_LEVEL = {NORMAL: PROVIDE_NORMAL, RESTRICTED: PROVIDE_RESTRICTED, SECRET: PROVIDE_SECRET}
LEVEL_OF_ACCESS = {ACCESS_NORMAL: NORMAL, ACCESS_RESTRICTED: RESTRICTED, EMERGENCY_NORMAL: NORMAL,
                   EMERGENCY_RESTRICTED: RESTRICTED, ACCESS_DELEGATION_NORMAL: NORMAL,
                   ACCESS_DELEGATION_RESTRICTED: RESTRICTED}
LEVEL_OF_PROVIDE = {v: k for k, v in PROVIDE_OF_LEVEL.items()}
EMERGENCY_LEVELS = (NORMAL, RESTRICTED, "off")


class PolicyError(ValueError):
    """A policy set that does not follow its template (PPQ answers UnknownPolicySetId / a fault)."""


@dataclass(frozen=True)
class PolicySet:
    """One patient-specific policy set made from a template.

    ``subject``: the GLN (301, 304), group OID (302, plain), representative id (303), the SPID (201);
    empty for 202/203 (any HCP). ``reference``: the base policy set it points to. ``start``/``end``:
    the validity (inclusive dates, ``None``: open).
    """

    policy_set_id: str
    template: int
    epr_spid: str
    reference: str
    subject: str = ""
    start: _dt.date | None = None
    end: _dt.date | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_policy_set(self)

    def valid_on(self, day: _dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    def with_changes(self, **kw) -> "PolicySet":
        return replace(self, **kw)


def check_policy_set(ps: PolicySet) -> None:
    """Refuse a policy set that its template does not allow (the Schematron of the stack)."""
    if ps.template not in ALLOWED_REFERENCES:
        raise PolicyError(f"unknown policy set template {ps.template}")
    if ps.reference not in ALLOWED_REFERENCES[ps.template]:
        raise PolicyError(f"template {ps.template} cannot reference {ps.reference}")
    if not ps.epr_spid:
        raise PolicyError("a policy set needs the patient's EPR-SPID")
    if not ps.policy_set_id:
        raise PolicyError("a policy set needs an id")
    needs_subject = ps.template in (201, 301, 302, 303, 304)
    if needs_subject and not ps.subject:
        raise PolicyError(f"template {ps.template} needs a subject (GLN, group OID or representative id)")
    if not needs_subject and ps.subject:
        raise PolicyError(f"template {ps.template} applies to any professional and names no subject")
    if ps.template == 201 and ps.subject != ps.epr_spid:
        raise PolicyError("template 201 grants the patient (subject-id = EPR-SPID) full access")
    if ps.template not in DATES_ALLOWED and (ps.start or ps.end):
        raise PolicyError(f"template {ps.template} has no validity dates")
    if ps.template in END_DATE_REQUIRED and ps.end is None:
        raise PolicyError(f"template {ps.template} requires an end date")
    if ps.start is not None and ps.end is None:
        raise PolicyError("a start date is allowed only together with an end date")
    if ps.start is not None and ps.end is not None and ps.start > ps.end:
        raise PolicyError("the start date is after the end date")


def new_policy_set_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


# -- constructors for the operator's and the patient's use cases (docs/3_UseCases.md) ----------

def patient_full_access(spid: str) -> PolicySet:
    return PolicySet(new_policy_set_id(), 201, spid, ACCESS_FULL, subject=spid)


def emergency_access(spid: str, level: str) -> PolicySet:
    return PolicySet(new_policy_set_id(), 202, spid, EMERGENCY_OF_LEVEL[level])


def provide_level(spid: str, level: str) -> PolicySet:
    return PolicySet(new_policy_set_id(), 203, spid, PROVIDE_OF_LEVEL[level])


def hcp_access(spid: str, gln: str, level: str, until: _dt.date | None = None,
               since: _dt.date | None = None) -> PolicySet:
    return PolicySet(new_policy_set_id(), 301, spid, ACCESS_OF_LEVEL[level], subject=gln, start=since, end=until)


def exclusion(spid: str, gln: str, until: _dt.date | None = None) -> PolicySet:
    return PolicySet(new_policy_set_id(), 301, spid, EXCLUSION_LIST, subject=gln, end=until)


def group_access(spid: str, oid: str, level: str, until: _dt.date, since: _dt.date | None = None) -> PolicySet:
    return PolicySet(new_policy_set_id(), 302, spid, ACCESS_OF_LEVEL[level], subject=plain_oid(oid),
                     start=since, end=until)


def representative(spid: str, rep_id: str, until: _dt.date | None = None) -> PolicySet:
    return PolicySet(new_policy_set_id(), 303, spid, ACCESS_FULL, subject=rep_id, end=until)


def delegation(spid: str, gln: str, level: str, until: _dt.date, since: _dt.date | None = None) -> PolicySet:
    ref = ACCESS_DELEGATION_NORMAL if level == NORMAL else ACCESS_DELEGATION_RESTRICTED
    return PolicySet(new_policy_set_id(), 304, spid, ref, subject=gln, start=since, end=until)


def opening_policy_sets(spid: str, emergency_level: str = NORMAL, provide: str = NORMAL) -> list[PolicySet]:
    """What opening a record creates: 201, 203 and (unless ``off``) 202."""
    out = [patient_full_access(spid), provide_level(spid, provide)]
    if emergency_level != "off":
        out.append(emergency_access(spid, emergency_level))
    return out


@dataclass(frozen=True)
class PatientRights:
    """Everything the decision needs about one patient: is the record open, and its policy sets."""

    epr_spid: str
    opened: bool
    policy_sets: tuple[PolicySet, ...] = field(default_factory=tuple)

    def of_template(self, template: int) -> list[PolicySet]:
        return [p for p in self.policy_sets if p.template == template]

    @property
    def emergency_level(self) -> str:
        sets = self.of_template(202)
        return LEVEL_OF_ACCESS[sets[0].reference] if sets else "off"

    @property
    def default_confidentiality(self) -> str:
        """The provide level of 203 as the lowest level of a new document (normal when none)."""
        sets = self.of_template(203)
        if not sets:
            return NORMAL
        return max((LEVEL_OF_PROVIDE[p.reference] for p in sets), key=rank)


CLOSED = PatientRights("", opened=False)
