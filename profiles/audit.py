"""The one audit event of a transaction, built from its Outcome (or its fault) by one function.

The pipeline calls :func:`audit_event` exactly once per transaction, success and failure alike, and
hands the event to the audit sink (the ATNA issue turns it into a DICOM ``AuditMessage``, stored
with the change and forwarded). Transport-free: a fault arrives as its code and reason strings.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from typing import Protocol

from profiles.context import Principal, RequestContext
from profiles.outcome import EVENT_MAJOR_FAILURE, EVENT_SERIOUS_FAILURE, AuditFacts, Outcome, Problem


@dataclass(frozen=True)
class AuditEvent:
    time: _dt.datetime
    request_id: str
    transaction: str
    action: str | None
    endpoint: str | None
    remote_addr: str | None
    message_id: str | None
    principal: Principal
    event_outcome: int            # RFC 3881 EventOutcomeIndicator: 0, 4, 8, 12
    ihe_status: str | None        # Success / PartialSuccess / Failure / AA / AE / AR; None for a fault
    fault_code: str | None        # SOAP fault code (Sender, Receiver, MustUnderstand...) when faulted
    fault_reason: str | None
    problems: tuple[Problem, ...]
    facts: AuditFacts
    reply_to: str | None = None    # wsa:ReplyTo of the request
    to: str | None = None          # wsa:To of the request (our endpoint as the caller addressed it)


def audit_event(ctx: RequestContext, *, outcome: Outcome | None = None, fault_code: str | None = None,
                fault_reason: str | None = None, now: _dt.datetime | None = None) -> AuditEvent:
    """The audit event for ``ctx``'s transaction: from its ``outcome``, or from the fault that ended it
    (a Sender fault is a serious failure, a Receiver fault a major one)."""
    if (outcome is None) == (fault_code is None):
        raise ValueError("an audit event has either an outcome or a fault")
    time = now or _dt.datetime.now(_dt.timezone.utc)
    if outcome is not None:
        facts = outcome.audit
        if not facts.transaction:
            facts = replace(facts, transaction=ctx.transaction)
        return AuditEvent(time, ctx.request_id, ctx.transaction, ctx.action, ctx.endpoint, ctx.remote_addr,
                          ctx.message_id, ctx.principal, outcome.event_outcome, outcome.status, None, None,
                          outcome.problems, facts, ctx.reply_to, ctx.to)
    indicator = EVENT_MAJOR_FAILURE if fault_code == "Receiver" else EVENT_SERIOUS_FAILURE
    return AuditEvent(time, ctx.request_id, ctx.transaction, ctx.action, ctx.endpoint, ctx.remote_addr,
                      ctx.message_id, ctx.principal, indicator, None, fault_code, fault_reason, (),
                      AuditFacts(transaction=ctx.transaction), ctx.reply_to, ctx.to)


class AuditRecorder(Protocol):
    """A write transaction port that stores an audit event inside its own database transaction
    (``RegistryTransaction.record_audit``): True when stored (it commits or rolls back with the
    change), False when this deployment stores no audit records (the pipeline's sink decides)."""

    def record_audit(self, event: AuditEvent) -> bool: ...


def record_with_change(tx: AuditRecorder, ctx: RequestContext, outcome: Outcome) -> Outcome:
    """Durable first: the audit event of a successful change, stored through ``tx`` in the change's
    own database transaction, called as the transaction's last step before its commit. Returns the
    outcome marked :attr:`~profiles.outcome.Outcome.recorded` (the pipeline records no second event),
    or unchanged when ``tx`` stores no audit. A change that then fails to commit takes its record
    with it; the pipeline records the failure after the rollback."""
    event = audit_event(ctx, outcome=outcome)
    return replace(outcome, recorded=event) if tx.record_audit(event) else outcome
