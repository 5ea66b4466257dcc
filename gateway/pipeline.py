"""The transaction pipeline: every transaction, whatever its endpoint, passes the same stations.

::

    transport (HTTP/TLS, limits)                       gateway.server / gateway.http
      -> SOAP envelope, WS-Addressing, MTOM            gateway.soap
      -> dispatch on wsa:Action to a Transaction       SoapEndpoint
      -> security header -> Principal                  Pipeline.security (XUA fills this seam)
      -> RequestContext                                profiles.context
      -> parse: wire -> request model                  Transaction.parse
      -> authorization policy (decision before;        Transaction.policy (profiles.authorization)
         its result filter is applied inside reads)
      -> use case in profiles/: (ctx, request) -> Outcome   Transaction.use_case (ports bound in app.py)
      -> exactly one audit event from the Outcome      profiles.audit.audit_event -> Pipeline.audit
         (a write use case stores its Success's event inside its own database transaction,
         profiles.audit.record_with_change, and the pipeline records no second one)
      -> wire reply                                    Transaction.render

:meth:`Pipeline.run` never raises: it returns a :class:`PipelineResult` holding the reply or the
SOAP fault, and the audit event it recorded (logs and metrics are taken from it at the endpoint).
A fault before dispatch (broken envelope, unknown action) is recorded through
:meth:`Pipeline.record_fault`, so every POST leaves exactly one event.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from gateway.soap.envelope import NS_WSSE, SoapReply, SoapRequest
from gateway.soap.fault import SoapFault
from profiles.audit import AuditEvent, audit_event
from profiles.authorization import ALLOW_ALL, AuthorizationPolicy, Decision
from profiles.context import Principal, RequestContext
from profiles.outcome import Outcome

log = logging.getLogger("gateway.pipeline")

#: What a transaction demands of the security seam.
SECURITY_NONE = "none"   # nothing (tests, health)
SECURITY_TLS = "tls"     # the TLS client identity alone (PIX, PDQ, XCPD)
SECURITY_XUA = "xua"     # a verified CH:XUA assertion (ITI-18/41/42/43/38/39/57)


@dataclass(frozen=True)
class Transaction:
    """One IHE transaction as the pipeline runs it.

    ``parse(SoapRequest) -> request model`` (raises :class:`SoapFault` for what the protocol answers
    with a fault); ``use_case(ctx, request) -> Outcome`` (the profile's use case with its ports
    bound); ``render(outcome, SoapRequest) -> SoapReply``; ``policy``: the authorization policy;
    ``refuse(ctx, request, decision) -> Outcome``: the answer to a denied request in the protocol's
    own terms (``None``: a Sender fault); ``security``: what the security seam demands.
    """

    name: str
    parse: Callable[[SoapRequest], Any]
    use_case: Callable[[RequestContext, Any], Outcome]
    render: Callable[[Outcome, SoapRequest], SoapReply]
    policy: AuthorizationPolicy = ALLOW_ALL
    refuse: Callable[[RequestContext, Any, Decision], Outcome] | None = None
    security: str = SECURITY_NONE


class SecurityHeader(Protocol):
    """The security seam: turns a request's security header (and TLS identity) into a Principal.

    ``understood``: the header namespaces it processes (a header block of another namespace marked
    mustUnderstand is a MustUnderstand fault). ``authenticate`` raises :class:`SoapFault` with the
    WS-Security fault codes (``wsse:SecurityTokenUnavailable``, ``wsse:FailedCheck``...).
    """

    understood: frozenset[str]

    def authenticate(self, request: SoapRequest, transaction: Transaction,
                     ctx: RequestContext) -> Principal: ...


class AnonymousSecurity:
    """Verifies nothing: every caller is anonymous (only its TLS subject, if any, is kept).

    It does not claim the WS-Security namespace, so a ``wsse:Security`` header marked
    mustUnderstand is refused with a MustUnderstand fault rather than passed unchecked.
    """

    understood: frozenset[str] = frozenset()

    def authenticate(self, request: SoapRequest, transaction: Transaction, ctx: RequestContext) -> Principal:
        return ctx.principal


class AuditSink(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class NullAuditSink:
    def record(self, event: AuditEvent) -> None:
        return None


class MemoryAuditSink:
    """Keeps the events in a list (tests, in-process profiling)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@dataclass
class PipelineResult:
    reply: SoapReply | None
    fault: SoapFault | None
    event: AuditEvent
    ctx: RequestContext


WSSE_NS = NS_WSSE


class Pipeline:
    """The stations from the security header to the wire reply, shared by every endpoint."""

    def __init__(self, security: SecurityHeader | None = None, audit: AuditSink | None = None) -> None:
        self.security: SecurityHeader = security or AnonymousSecurity()
        self.audit: AuditSink = audit or NullAuditSink()

    def run(self, transaction: Transaction, request: SoapRequest, ctx: RequestContext) -> PipelineResult:
        ctx = replace(ctx, transaction=transaction.name)
        try:
            ctx, outcome, reply = self._transact(transaction, request, ctx)
        except _Ended as ended:
            if ended.recorded is not None:   # the change committed with its record; only the reply failed
                return PipelineResult(None, ended.fault, ended.recorded, ended.ctx)
            return self._faulted(ended.ctx, ended.fault)
        if outcome.recorded is not None:   # stored by the use case inside its change's transaction
            return PipelineResult(reply, None, outcome.recorded, ctx)
        try:
            return PipelineResult(reply, None, self._record(audit_event(ctx, outcome=outcome)), ctx)
        except AuditFailed:
            return self._unaudited(ctx)

    def _transact(self, transaction: Transaction, request: SoapRequest, ctx: RequestContext):
        outcome = None
        try:
            ctx = ctx.with_principal(self.security.authenticate(request, transaction, ctx))
            model = transaction.parse(request)
            decision = transaction.policy.decide(ctx, model)
            if decision.allowed:
                outcome = transaction.use_case(ctx, model)
            elif transaction.refuse is not None:
                outcome = transaction.refuse(ctx, model, decision)
            else:
                raise SoapFault("Sender", decision.reason or "not authorized")
            return ctx, outcome, transaction.render(outcome, request)
        except SoapFault as fault:
            raise _Ended(ctx, fault, outcome) from None
        except Exception:
            log.exception("transaction %s failed (request id %s)", transaction.name, ctx.request_id)
            raise _Ended(ctx, SoapFault("Receiver", f"internal error (request id {ctx.request_id})"),
                         outcome) from None

    def _faulted(self, ctx: RequestContext, fault: SoapFault) -> PipelineResult:
        try:
            return PipelineResult(None, fault, self.record_fault(ctx, fault), ctx)
        except AuditFailed:
            return self._unaudited(ctx)

    @staticmethod
    def _unaudited(ctx: RequestContext) -> PipelineResult:
        fault = SoapFault("Receiver", f"the transaction could not be audited (request id {ctx.request_id})")
        return PipelineResult(None, fault, audit_event(ctx, fault_code=fault.code, fault_reason=fault.reason), ctx)

    def record_fault(self, ctx: RequestContext, fault: SoapFault) -> AuditEvent:
        return self._record(audit_event(ctx, fault_code=fault.code, fault_reason=fault.reason))

    def _record(self, event: AuditEvent) -> AuditEvent:
        """Hand the event to the sink. A sink that fails raises :class:`AuditFailed`: no answer leaves
        unaudited (the endpoint answers with a Receiver fault)."""
        try:
            self.audit.record(event)
        except Exception as exc:
            log.exception("audit sink failed for request id %s", event.request_id)
            raise AuditFailed(event.request_id) from exc
        return event


class _Ended(Exception):
    def __init__(self, ctx: RequestContext, fault: SoapFault, outcome: Outcome | None = None) -> None:
        self.ctx = ctx
        self.fault = fault
        #: the event a use case stored with its committed change (the transaction's one record)
        self.recorded: AuditEvent | None = outcome.recorded if outcome is not None else None


class AuditFailed(Exception):
    """The audit sink could not record a transaction's event; the transaction's answer is withheld."""


def legacy_transaction(name: str, handler: Callable[[SoapRequest, RequestContext], SoapReply]) -> Transaction:
    """A plain ``handler(SoapRequest, ctx) -> SoapReply`` run through the pipeline (test endpoints):
    parse hands over the SOAP request, the reply is always a Success."""
    def parse(req: SoapRequest) -> SoapRequest:
        return req

    def use_case(ctx: RequestContext, req: SoapRequest) -> Outcome:
        from profiles.outcome import SUCCESS
        return Outcome(handler(req, ctx), SUCCESS)

    def render(outcome: Outcome, req: SoapRequest) -> SoapReply:
        if not isinstance(outcome.reply, SoapReply):
            raise TypeError(f"handler for {name} returned {type(outcome.reply).__name__}, not SoapReply")
        return outcome.reply

    return Transaction(name, parse, use_case, render)
