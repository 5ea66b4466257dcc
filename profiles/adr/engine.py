"""The decision engine: a request (subject, action, document level) against a patient's policy sets.

XACML 2.0 semantics restricted to what the official EPR stack uses: a policy set applies when its
target matches (subject attributes, the patient, the current date); it then yields the combined
effect of the base policies it references (deny-overrides all the way down); the patient's policy
sets and the community's (110 for PADM, 111 for DADM) are combined deny-overrides. Only an explicit
Permit allows; NotApplicable and Indeterminate deny.

Beyond XACML, four guards the stack gets from CH:XUA and the issue's rules: a TCU never reads
nor does anything but provide (the stack excludes it only through its purpose of use), a closed record (never opened) allows
nothing, an excluded GLN is refused also as the acting assistant of another HCP, and an anonymous or unknown subject is NotApplicable everywhere.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from profiles.adr import model as M
from profiles.adr.model import Action, PatientRights, PolicySet

PERMIT, DENY, NOT_APPLICABLE = "Permit", "Deny", "NotApplicable"


@dataclass(frozen=True)
class Subject:
    """The XACML subject attributes, as the assertion states them.

    ``role``: the EPR role of the *user* (ASS/TCU kept distinct here; in XACML terms they are HCP
    with their principal's GLN as ``subject_id``); ``subject_id``: GLN (HCP/ASS/TCU: the responsible
    HCP), EPR-SPID (PAT), representative id (REP), PADM/DADM id; ``organisation_ids``: plain OIDs.
    """

    role: str | None
    subject_id: str | None
    purpose: str | None
    organisation_ids: tuple[str, ...] = ()
    acting_id: str | None = None      # ASS/TCU: the assistant's GLN / technical user's id

    @property
    def xacml_role(self) -> str | None:
        return M.HCP if self.role in (M.ASS, M.TCU) else self.role

    @property
    def qualifier(self) -> str | None:
        return M.QUALIFIER_OF_ROLE.get(self.role or "")

    @classmethod
    def of(cls, principal) -> "Subject":
        """From a :class:`profiles.context.Principal` (its ``user_id`` is already the principal's
        GLN for ASS/TCU)."""
        return cls(role=principal.role, subject_id=principal.user_id, purpose=principal.purpose_of_use,
                   organisation_ids=tuple(M.plain_oid(o) for o in principal.organisation_ids),
                   acting_id=principal.acting_id)


def _target_matches(ps: PolicySet, s: Subject, spid: str, today: _dt.date) -> bool:
    if ps.epr_spid != spid or not ps.valid_on(today):
        return False
    role, q = s.xacml_role, s.qualifier
    t = ps.template
    if t == M.T_PATIENT:
        return role == M.PAT and q == M.Q_SPID and s.subject_id == ps.subject
    if t == M.T_EMERGENCY:
        return role == M.HCP and q == M.Q_GLN and s.purpose == M.EMER
    if t == M.T_PROVIDE:
        return role == M.HCP and q == M.Q_GLN and s.purpose in (M.NORM, M.AUTO, M.DICOM_AUTO)
    if t == M.T_HCP and ps.reference == M.EXCLUSION_LIST:
        # an excluded professional is refused also when acting as the assistant of another one
        return role == M.HCP and q == M.Q_GLN and ps.subject in (s.subject_id, s.acting_id)
    if t in (M.T_HCP, M.T_DELEGATION):
        return role == M.HCP and q == M.Q_GLN and s.subject_id == ps.subject
    if t == M.T_GROUP:
        return role == M.HCP and ps.subject in s.organisation_ids
    if t == M.T_REPRESENTATIVE:
        return role == M.REP and q == M.Q_REP and s.subject_id == ps.subject
    return False


def _combine(effects) -> str:
    """deny-overrides"""
    seen_permit = False
    for e in effects:
        if e == DENY:
            return DENY
        if e == PERMIT:
            seen_permit = True
    return PERMIT if seen_permit else NOT_APPLICABLE


def _policy_effect(urn: str, s: Subject, action: Action, level: str | None) -> str:
    if urn in M.BASE_POLICY_SETS:
        return _set_effect(urn, s, action, level)
    p = M.BASE_POLICIES[urn]
    if p.actions is not None and action not in p.actions:
        return NOT_APPLICABLE
    if p.levels is not None and (level is None or level not in p.levels):
        return NOT_APPLICABLE
    if p.purposes is not None and s.purpose not in p.purposes:
        return NOT_APPLICABLE
    return p.effect


def _set_effect(urn: str, s: Subject, action: Action, level: str | None) -> str:
    bps = M.BASE_POLICY_SETS[urn]
    if bps.role is not None and s.role != bps.role:
        return NOT_APPLICABLE
    return _combine(_policy_effect(r, s, action, level) for r in bps.references)


#: Community-wide policy sets: they apply to every open record.
COMMUNITY_SETS = (M.POLICY_BOOTSTRAP, M.DOC_ADMIN)


def evaluate(rights: PatientRights, s: Subject, action: Action, level: str | None, today: _dt.date,
             *, without_templates: frozenset[int] = frozenset()) -> str:
    """The XACML decision (Permit, Deny, NotApplicable) for one request.

    ``level``: the document's confidentiality level (None for actions on no document: POLICY,
    AUDIT_READ). ``without_templates``: leave these templates out (to tell an emergency-only permit).
    """
    if not rights.opened or not s.role or not s.subject_id:
        return NOT_APPLICABLE
    if s.role == M.TCU and action is not Action.WRITE:
        return DENY                 # a technical user uploads (203), nothing else
    effects = [_set_effect(urn, s, action, level) for urn in COMMUNITY_SETS]
    for ps in rights.policy_sets:
        if ps.template in without_templates or not _target_matches(ps, s, rights.epr_spid, today):
            continue
        effects.append(_policy_effect(ps.reference, s, action, level))
    return _combine(effects)


def allowed(rights: PatientRights, s: Subject, action: Action, level: str | None, today: _dt.date) -> bool:
    return evaluate(rights, s, action, level, today) == PERMIT


@dataclass(frozen=True)
class ReadAccess:
    """What one subject may read of one patient's record: the levels, and those it reads only in
    emergency mode (template 202; the patient is notified of these reads)."""

    levels: frozenset[str]
    emergency_only: frozenset[str]

    def may_read(self, level: str) -> bool:
        return level in self.levels


def read_access(rights: PatientRights, s: Subject, today: _dt.date) -> ReadAccess:
    """One decision per confidentiality subset (as CH:ADR asks for ITI-18: normal, restricted,
    secret)."""
    levels = frozenset(lvl for lvl in M.LEVELS if allowed(rights, s, Action.READ, lvl, today))
    emergency = frozenset()
    if s.purpose == M.EMER and levels:
        without = frozenset(lvl for lvl in levels if evaluate(
            rights, s, Action.READ, lvl, today, without_templates=frozenset({M.T_EMERGENCY})) == PERMIT)
        emergency = levels - without
    return ReadAccess(levels, emergency)


@dataclass(frozen=True)
class ProvideDecision:
    """The answer for one document to be provided: ``allowed`` and the ``level`` it is stored with
    (the patient's default confidentiality raises a lower level of the provider's)."""

    allowed: bool
    level: str
    raised: bool


def provide_decision(rights: PatientRights, s: Subject, provided_level: str, today: _dt.date) -> ProvideDecision:
    level = M.most_confidential(provided_level, rights.default_confidentiality)
    return ProvideDecision(allowed(rights, s, Action.WRITE, level, today), level, level != provided_level)
