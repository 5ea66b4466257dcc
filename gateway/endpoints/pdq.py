"""The PDQ V3 Supplier endpoint (``POST /pdq``): ITI-47 query, continuation and cancel.

Thin, like the PIX endpoint: one Transaction per action over ``profiles.hl7v3.pdq``. Continuation
state lives in the database (``MpiStore`` is the QueryStatePort), so any gateway process can serve
the next batch of a query another one started.
"""
from __future__ import annotations

from functools import partial

from gateway.config import Settings
from gateway.endpoints.pix import ACTION_ACK, hl7v3_limits, renderer, response_context
from gateway.pipeline import SECURITY_TLS, Pipeline, Transaction
from gateway.resources import WSDL_DIR  # the IHE WSDLs and schemas, served at ?wsdl
from gateway.server import SoapEndpoint
from gateway.soap.envelope import SoapRequest
from profiles.hl7v3.messages import ACTION_CANCEL, ACTION_CONTINUE, ACTION_PREFIX, PDQ_QUERY, PDQ_RESPONSE
from profiles.hl7v3.outcomes import Hl7v3Ports
from profiles.hl7v3.pdq import ITI47, parse_continuation, parse_pdq_query, pdq_cancel, pdq_continue, pdq_query

ACTION_PDQ_QUERY = ACTION_PREFIX + PDQ_QUERY
ACTION_PDQ_RESPONSE = ACTION_PREFIX + PDQ_RESPONSE


def pdq_transactions(ports: Hl7v3Ports) -> dict[str, Transaction]:
    """``{wsa:Action: Transaction}`` of the PDQ V3 Supplier over ``ports``."""
    oid, limits = ports.mpi.mpi_oid, ports.limits

    def parse_query(req: SoapRequest):
        return parse_pdq_query(req.body, oid, limits)

    def parse_continue(req: SoapRequest):
        return parse_continuation(req.body)

    def parse_cancel(req: SoapRequest):
        return parse_continuation(req.body, cancel=True)

    return {
        ACTION_PDQ_QUERY: Transaction(ITI47, parse_query, partial(pdq_query, ports=ports),
                                      renderer(ACTION_PDQ_RESPONSE), security=SECURITY_TLS),
        ACTION_CONTINUE: Transaction(ITI47, parse_continue, partial(pdq_continue, ports=ports),
                                     renderer(ACTION_PDQ_RESPONSE), security=SECURITY_TLS),
        ACTION_CANCEL: Transaction(ITI47, parse_cancel, partial(pdq_cancel, ports=ports),
                                   renderer(ACTION_ACK), security=SECURITY_TLS),
    }


def build_pdq_endpoint(settings: Settings, ports, pipeline: Pipeline | None = None) -> SoapEndpoint:
    """``ports``: the :class:`Hl7v3Ports` (an MPI store alone is accepted and wrapped)."""
    if not isinstance(ports, Hl7v3Ports):
        ports = Hl7v3Ports(mpi=ports, responder=response_context(settings), states=ports,
                           limits=hl7v3_limits(settings))
    return SoapEndpoint("pdq", pdq_transactions(ports), WSDL_DIR / "pdq.wsdl", settings, pipeline=pipeline)
