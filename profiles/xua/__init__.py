"""CH:XUA (Swiss EPR, Annex 5 / ITI-40): the claims of an X-User Assertion and their rules.

Transport-free and crypto-free: :func:`profiles.xua.claims.read_claims` turns an assertion element
*whose signature the gateway has already verified* into a :class:`profiles.context.Principal`;
:mod:`profiles.xua.patient` checks the assertion's patient against a request's patient through the
MPI. Signature verification, trust and the WS-Security faults live in ``gateway.security``.
"""
from profiles.xua.claims import XuaClaims, read_claims  # noqa: F401
from profiles.xua.errors import XuaError  # noqa: F401
from profiles.xua.patient import PatientMismatch, check_patient, patient_matches  # noqa: F401
