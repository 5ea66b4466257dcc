"""Hypothesis strategies: a patient's choices, callers, and their translation to policy sets."""
from __future__ import annotations

import datetime as _dt

from hypothesis import strategies as st

from profiles.adr import model as M
from profiles.context import Principal

from .reference_model import Caller, Choices, Grant

TODAY = _dt.date(2026, 6, 15)
SPID = "761337610000000019"
OTHER_SPID = "761337610000000026"
GLNS = ("7601000000019", "7601000000026", "7601000000033")
GROUPS = ("2.999.10", "2.999.20")
REPS = ("rep-1", "rep-2")
ADMINS = ("padm-1", "dadm-1")
USER_IDS = GLNS + REPS + ADMINS + (SPID, OTHER_SPID, "tcu-1")
ROLES = ("HCP", "ASS", "TCU", "PAT", "REP", "PADM", "DADM")
PURPOSES = ("NORM", "EMER", "AUTO", "DICOM_AUTO")
ACTIONS = ("read", "write", "update", "policy", "audit", "delegate")
LEVELS = ("normal", "restricted", "secret")

_day = st.sampled_from((None, -30, -1, 0, 1, 30)).map(lambda d: None if d is None else TODAY + _dt.timedelta(days=d))
_kind = st.sampled_from(("hcp", "exclude", "group", "rep", "delegate"))
_subject = {"group": st.sampled_from(GROUPS), "rep": st.sampled_from(REPS), "gln": st.sampled_from(GLNS)}
_grant_level = st.sampled_from(("normal", "restricted"))
_required_end = st.sampled_from((-1, 0, 10))
_emergency = st.sampled_from(("normal", "restricted", "off"))
_provide = st.sampled_from(("normal", "restricted", "secret"))
_opened = st.sampled_from((True, True, True, False))
_role = st.sampled_from(ROLES + (None,))
_user = st.sampled_from(USER_IDS + (None,))
_purpose = st.sampled_from(PURPOSES + (None,))
_orgs = st.lists(st.sampled_from(GROUPS + ("2.999.99",)), max_size=2, unique=True)
_acting = st.sampled_from((None,) + GLNS + ("tcu-1",))


@st.composite
def grants(draw):
    kind = draw(_kind)
    subject = draw(_subject.get(kind, _subject["gln"]))
    level = draw(_grant_level)
    end = draw(_day)
    if kind in ("group", "delegate") and end is None:
        end = TODAY + _dt.timedelta(days=draw(_required_end))
    start = draw(_day) if end is not None else None
    if start is not None and start > end:
        start, end = end, start
    return Grant(kind, subject, level if kind in ("hcp", "group", "delegate") else "normal", start, end)


_grants = st.lists(grants(), max_size=6)


@st.composite
def choices(draw, spid=SPID, opened=None):
    gs = draw(_grants)
    # at most one set per template, patient and subject (what the store keeps)
    seen, unique = set(), []
    for g in gs:
        key = (g.kind, g.subject)
        if key not in seen:
            seen.add(key)
            unique.append(g)
    return Choices(spid=spid, opened=draw(_opened) if opened is None else opened, emergency=draw(_emergency),
                   provide=draw(_provide), grants=tuple(unique))


@st.composite
def callers(draw):
    role = draw(_role)
    user = draw(_user)
    purpose = draw(_purpose)
    orgs = tuple(draw(_orgs))
    acting = draw(_acting) if role in ("ASS", "TCU") else None
    return Caller(role, user, purpose, orgs, acting)


def principal(c: Caller, urn_orgs: bool = False) -> Principal:
    return Principal(user_id=c.user_id, role=c.role, purpose_of_use=c.purpose, acting_id=c.acting_id,
                     organisation_ids=tuple(("urn:oid:" + o) if urn_orgs else o for o in c.organisations),
                     patient_epr_spid=SPID)


def policy_sets(c: Choices) -> list[M.PolicySet]:
    """The patient's choices as policy sets, the way the CLI and PPQ create them."""
    if not c.opened:
        return []
    out = M.opening_policy_sets(c.spid, c.emergency, c.provide)
    for g in c.grants:
        if g.kind == "hcp":
            out.append(M.hcp_access(c.spid, g.subject, g.level, until=g.end, since=g.start))
        elif g.kind == "exclude":
            out.append(M.PolicySet(M.new_policy_set_id(), 301, c.spid, M.EXCLUSION_LIST, subject=g.subject,
                                   start=g.start, end=g.end))
        elif g.kind == "group":
            out.append(M.group_access(c.spid, g.subject, g.level, until=g.end, since=g.start))
        elif g.kind == "rep":
            out.append(M.PolicySet(M.new_policy_set_id(), 303, c.spid, M.ACCESS_FULL, subject=g.subject,
                                   start=g.start, end=g.end))
        elif g.kind == "delegate":
            out.append(M.delegation(c.spid, g.subject, g.level, until=g.end, since=g.start))
    return out


def rights(c: Choices) -> M.PatientRights:
    return M.PatientRights(c.spid, opened=c.opened, policy_sets=tuple(policy_sets(c)))


ACTION_OF = {"read": M.Action.READ, "write": M.Action.WRITE, "update": M.Action.UPDATE_METADATA,
             "policy": M.Action.POLICY, "audit": M.Action.AUDIT_READ, "delegate": M.Action.DELEGATE}


def requests():
    """Every (action, level) pair the model knows."""
    for a in ACTIONS:
        for lvl in ((None,) if a in ("policy", "audit") else LEVELS):
            yield a, lvl
