"""ITI-42 Register Document Set-b, the use case: (RequestContext, RegisterRequest, RegisterPorts) -> Outcome.

parse (ebRIM -> model, in the gateway) -> :func:`~profiles.xds.registry.check_submission` (no
database) -> one write transaction: :func:`~profiles.xds.registry.plan_checked` and the plan
written, and the Success's audit record with it (:func:`~profiles.audit.record_with_change`) ->
Outcome: the RegistryResponse's errors, Success or Failure, the audit facts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from profiles.audit import record_with_change
from profiles.context import RequestContext
from profiles.outcome import FAILURE, SUCCESS, AuditFacts, Outcome, Problem

from . import constants as C
from .errors import XdsError, XdsFailure
from .metadata import Submission
from .ports import Registry
from .registry import RegistryPolicy, check_submission, plan_checked

TRANSACTION = "ITI-42"


def now_dtm() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime())


@dataclass
class SubmissionRequest:
    """A parsed SubmitObjectsRequest: the model and the structural errors met while reading it."""
    submission: Submission
    errors: list[XdsError] = field(default_factory=list)


@dataclass
class RegisterPorts:
    registry: Registry
    policy: RegistryPolicy
    now: Callable[[], str] = now_dtm


def dedupe(errors: list[XdsError]) -> list[XdsError]:
    return list(dict.fromkeys(errors))


def problems_of(errors: list[XdsError]) -> tuple[Problem, ...]:
    return tuple(Problem(e.code, e.context, e.location,
                         "Warning" if e.severity == C.SEVERITY_WARNING else "Error") for e in errors)


def audit_facts(transaction: str, sub: Submission, **extra) -> AuditFacts:
    ss = sub.submission_set
    return AuditFacts(transaction=transaction,
                      patient_ids=(ss.patient_id,) if ss is not None and ss.patient_id else (),
                      document_unique_ids=tuple(d.unique_id for d in sub.documents if d.unique_id),
                      submission_set_unique_id=ss.unique_id if ss is not None and ss.unique_id else None,
                      **extra)


def registry_outcome(errors: list[XdsError], facts: AuditFacts) -> Outcome[list[XdsError]]:
    """The Outcome of a registration: the RegistryResponse's errors; Failure on any error (a
    submission is registered whole or not at all, so never PartialSuccess)."""
    errors = dedupe(errors)
    failed = any(e.severity == C.SEVERITY_ERROR for e in errors)
    return Outcome(errors, FAILURE if failed else SUCCESS, problems_of(errors), facts)


def checked(request: SubmissionRequest, policy: RegistryPolicy, *, for_register: bool) -> list[XdsError]:
    """The structural errors and every check that needs no database, reported together. A
    submission the parser already refused is still validated as far as it goes, so the submitter
    sees every error at once; a validator tripping over a half-parsed submission adds nothing."""
    if not request.errors:
        return check_submission(request.submission, policy, for_register=for_register)
    try:
        more = check_submission(request.submission, policy, for_register=for_register)
    except Exception:
        more = []
    return request.errors + more


def register(ctx: RequestContext, request: SubmissionRequest, ports: RegisterPorts) -> Outcome[list[XdsError]]:
    sub = request.submission
    errors = checked(request, ports.policy, for_register=True)
    repositories = tuple(dict.fromkeys(d.repository_unique_id for d in sub.documents if d.repository_unique_id))
    facts = audit_facts(TRANSACTION, sub, repository_unique_ids=repositories)
    if not errors:
        try:
            with ports.registry.transaction() as tx:
                tx.apply(plan_checked(sub, tx, tx.patients, ports.policy, now=ports.now()))
                # durable first: the success record commits (or rolls back) with the registration
                return record_with_change(tx, ctx, registry_outcome([], facts))
        except XdsFailure as failure:
            errors = failure.errors
    return registry_outcome(errors, facts)
