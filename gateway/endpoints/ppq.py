"""``POST /ppq``: the Policy Repository (CH:PPQ-1 Add/Update/DeletePolicy, CH:PPQ-2 PolicyQuery) as
pipeline Transactions over the policy store (the same store as ``epd-gateway policy``).

Only PAT, REP and PADM are let in (the policy's decision); each acts on the patients whose policies
it may manage (the engine's ``Action.POLICY``: the patient itself by 201, a representative by 303,
the policy administrator by 110). An update or delete of a policy set the caller may not manage is
answered exactly like one of an unknown id (``UnknownPolicySetId`` fault).
"""
from __future__ import annotations

from lxml import etree

from gateway.pipeline import SECURITY_XUA, Pipeline, Transaction
from gateway.soap.envelope import SoapReply, SoapRequest
from gateway.soap.fault import SoapFault
from profiles.adr import engine as E
from profiles.adr import model as M
from profiles.adr import ppq as Q
from profiles.authorization import PERMIT, Decision, deny
from profiles.context import RequestContext
from profiles.outcome import Outcome


class PpqPolicy:
    """The decision before any PPQ use case: PAT, REP and PADM only."""

    def decide(self, ctx: RequestContext, request) -> Decision:
        if ctx.role not in Q.PPQ_ROLES or not ctx.caller_id:
            return deny("CH:PPQ is open to patients, their representatives and policy administrators only")
        return PERMIT

    def result_filter(self, ctx: RequestContext) -> None:
        return None


def may_manage(rights) -> Q.MayManage:
    """``(ctx, spid) -> bool`` from a :class:`gateway.access.RightsSource`."""
    def check(ctx: RequestContext, spid: str) -> bool:
        if ctx.patient_epr_spid and ctx.patient_epr_spid != spid:
            return False
        return E.allowed(rights.for_spid(spid), E.Subject.of(ctx.principal), M.Action.POLICY, None, rights.today())
    return check


def _unknown(exc: Q.UnknownPolicySetId) -> SoapFault:
    detail = etree.Element("{%s}UnknownPolicySetId" % Q.NS_EPR, nsmap={"epr": Q.NS_EPR})
    detail.set("message", f"unknown policy set id {exc.policy_set_id}")
    return SoapFault("Sender", f"unknown policy set id {exc.policy_set_id}", detail=detail)


def _parse(parser):
    def parse(req: SoapRequest):
        try:
            return parser(req.body)
        except Q.PpqError as exc:
            raise SoapFault("Sender", str(exc)) from None
    return parse


def _render(action: str):
    def render(outcome: Outcome, req: SoapRequest) -> SoapReply:
        return SoapReply(outcome.reply, Q.RESPONSE_ACTION[action])
    return render


def ppq_transactions(policies, rights, issuer: str = "") -> dict[str, Transaction]:
    """``{wsa:Action: Transaction}`` for PPQ-1 and PPQ-2 over ``policies`` (a
    :class:`gateway.store.policies.PolicyStore`) and ``rights`` (a :class:`gateway.access.RightsSource`)."""
    manage = may_manage(rights)
    policy = PpqPolicy()
    out: dict[str, Transaction] = {}
    for action, operation in Q.OPERATION.items():
        def use_case(ctx, request, _repo=policies):
            try:
                return Q.handle_ppq1(ctx, request, _repo, manage)
            except Q.UnknownPolicySetId as exc:
                raise _unknown(exc) from None
        out[action] = Transaction("PPQ-1", _parse(lambda body, op=operation: Q.parse_ppq1(op, body)), use_case,
                                  _render(action), policy=policy, security=SECURITY_XUA)
    out[Q.ACTION_QUERY] = Transaction(
        "PPQ-2", _parse(Q.parse_ppq2), lambda ctx, request: Q.handle_ppq2(ctx, request, policies, manage, issuer),
        _render(Q.ACTION_QUERY), policy=policy, security=SECURITY_XUA)
    return out


def build_ppq_endpoint(settings, policies, rights, pipeline: Pipeline | None = None):
    from gateway.server import SoapEndpoint
    return SoapEndpoint("ppq", ppq_transactions(policies, rights, settings.home_community_id), None, settings,
                        pipeline=pipeline)
