"""The decision engine against the plain reference model: every role x purpose x confidentiality x
policy combination (in memory; the store-backed share is in test_store_reference.py)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.adr import engine as E
from profiles.adr import model as M

from . import reference_model as R
from .scenarios import ACTION_OF, LEVELS, TODAY, callers, choices, principal, requests, rights

#: Scenarios per half (two halves so that xdist runs them side by side); each checks ~25 decisions.
#: With the 400 of test_store_reference.py: 10,000 scenarios in all.
CASES = 4800


def check_against_reference(c, who, urn_orgs):
    r = rights(c)
    s = E.Subject.of(principal(who, urn_orgs))
    for action, level in requests():
        expected = R.may(c, who, action, level, TODAY)
        got = E.allowed(r, s, ACTION_OF[action], level, TODAY)
        assert got == expected, (action, level, c, who)
    access = E.read_access(r, s, TODAY)
    for level in LEVELS:
        assert access.may_read(level) == R.may(c, who, "read", level, TODAY)
        assert (level in access.emergency_only) == R.emergency_only(c, who, level, TODAY), (level, c, who)
    for provided in LEVELS:
        d = E.provide_decision(r, s, provided, TODAY)
        if c.opened:
            assert d.level == R.stored_level(c, provided)
        assert d.allowed == R.may(c, who, "write", d.level, TODAY)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=choices(), who=callers(), urn_orgs=st.booleans())
def test_every_decision_matches_the_reference_model(c, who, urn_orgs):
    check_against_reference(c, who, urn_orgs)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=choices(opened=True), who=callers(), urn_orgs=st.booleans())
def test_every_decision_on_open_records_matches_the_reference_model(c, who, urn_orgs):
    check_against_reference(c, who, urn_orgs)


def test_secret_never_reaches_a_professional_even_with_every_grant():
    spid = "761337610000000017"
    sets = M.opening_policy_sets(spid, "restricted") + [
        M.hcp_access(spid, "7601000000001", "restricted"),
        M.group_access(spid, "2.999.1", "restricted", until=TODAY),
        M.delegation(spid, "7601000000001", "restricted", until=TODAY)]
    r = M.PatientRights(spid, True, tuple(sets))
    for role in ("HCP", "ASS", "TCU"):
        for purpose in ("NORM", "EMER", "AUTO"):
            s = E.Subject(role, "7601000000001", purpose, ("2.999.1",))
            assert not E.allowed(r, s, M.Action.READ, M.SECRET, TODAY)


def test_exclusion_beats_emergency_and_grants():
    spid = "761337610000000017"
    gln = "7601000000001"
    sets = M.opening_policy_sets(spid, "restricted") + [M.hcp_access(spid, gln, "restricted"),
                                                        M.exclusion(spid, gln)]
    r = M.PatientRights(spid, True, tuple(sets))
    for purpose in ("NORM", "EMER"):
        s = E.Subject("HCP", gln, purpose)
        assert E.read_access(r, s, TODAY).levels == frozenset()
        assert not E.allowed(r, s, M.Action.WRITE, M.NORMAL, TODAY)
    # another HCP in emergency reads up to the emergency level, and is told apart as emergency-only
    acc = E.read_access(r, E.Subject("HCP", "7601000000002", "EMER"), TODAY)
    assert acc.levels == {M.NORMAL, M.RESTRICTED} and acc.emergency_only == acc.levels


def test_policy_sets_that_break_their_template_are_refused():
    import datetime as dt
    import pytest
    spid = "761337610000000017"
    with pytest.raises(M.PolicyError):
        M.PolicySet("urn:uuid:1", 301, spid, M.ACCESS_FULL, subject="7601000000001")   # 301 -> 105
    with pytest.raises(M.PolicyError):
        M.PolicySet("urn:uuid:1", 302, spid, M.ACCESS_NORMAL, subject="2.999")          # no end date
    with pytest.raises(M.PolicyError):
        M.PolicySet("urn:uuid:1", 201, spid, M.ACCESS_FULL, subject="761337610000000024")
    with pytest.raises(M.PolicyError):
        M.PolicySet("urn:uuid:1", 202, spid, M.EMERGENCY_NORMAL, subject="7601000000001")
    with pytest.raises(M.PolicyError):
        M.PolicySet("urn:uuid:1", 301, spid, M.ACCESS_NORMAL, subject="7601000000001",
                    start=dt.date(2026, 2, 1), end=dt.date(2026, 1, 1))


def test_confidentiality_codes_map_to_levels_and_unknown_fails_closed():
    assert M.level_of_codes([("17621005", M.SNOMED)]) == M.NORMAL
    assert M.level_of_codes([("263856008", M.SNOMED)]) == M.RESTRICTED
    assert M.level_of_codes([("1141000195107", M.EPR_CONF_OID)]) == M.SECRET
    assert M.level_of_codes([("17621005", M.SNOMED), ("263856008", M.SNOMED)]) == M.RESTRICTED
    assert M.level_of_codes([("17621005", "1.2.3")]) == M.SECRET
    assert M.level_of_codes([]) == M.SECRET


def test_the_confidentiality_codes_the_rights_write_are_annex3_codes():
    """Finding (issue 10 wiring): the secret code was written under 2.16.756.5.30.1.127.3.4, while
    annex 3's DocumentEntry.confidentialityCode value set has 1141000195107 under SNOMED CT, so a
    document raised to the patient's default confidentiality "secret" was refused by the annex 3
    validation. Every code the rights write is in the value set; both spellings read as secret."""
    from profiles.ch.valuesets import ValueSets
    vs = ValueSets.load(None)
    for level, (code, scheme) in M.CONFIDENTIALITY_CODES.items():
        assert vs.contains("confidentialityCode", code, scheme), (level, code, scheme)
    assert M.level_of_codes([("1141000195107", M.SNOMED)]) == M.SECRET
    assert M.level_of_codes([("1141000195107", M.EPR_CONF_OID)]) == M.SECRET
