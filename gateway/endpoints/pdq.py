"""The PDQ V3 Supplier endpoint (``POST /pdq``): ITI-47 query, continuation and cancel.

Continuation state lives in the database (``MpiStore`` is the QueryStatePort), so any gateway
process can serve the next batch of a query another one started.
"""
from __future__ import annotations

from gateway.config import Settings
from gateway.endpoints.pix import ACTION_ACK, response_context
from gateway.resources import WSDL_DIR  # the IHE WSDLs and schemas, served at ?wsdl
from gateway.server import Operation, SoapEndpoint
from gateway.soap.envelope import SoapReply, SoapRequest
from gateway.store.mpi import MpiStore
from profiles.context import RequestContext
from profiles.hl7v3.messages import ACTION_CANCEL, ACTION_CONTINUE, ACTION_PREFIX, PDQ_QUERY, PDQ_RESPONSE
from profiles.hl7v3.pdq import PdqSupplier


ACTION_PDQ_QUERY = ACTION_PREFIX + PDQ_QUERY
ACTION_PDQ_RESPONSE = ACTION_PREFIX + PDQ_RESPONSE


def build_pdq_endpoint(settings: Settings, mpi_store: MpiStore) -> SoapEndpoint:
    supplier = PdqSupplier(mpi_store, mpi_store, response_context(settings))

    def query(req: SoapRequest, ctx: RequestContext) -> SoapReply:
        return SoapReply(supplier.query(req.body), ACTION_PDQ_RESPONSE)

    def cont(req: SoapRequest, ctx: RequestContext) -> SoapReply:
        return SoapReply(supplier.continue_query(req.body), ACTION_PDQ_RESPONSE)

    def cancel(req: SoapRequest, ctx: RequestContext) -> SoapReply:
        return SoapReply(supplier.cancel_query(req.body), ACTION_ACK)

    return SoapEndpoint("pdq", {
        ACTION_PDQ_QUERY: Operation(query, "ITI-47"),
        ACTION_CONTINUE: Operation(cont, "ITI-47"),
        ACTION_CANCEL: Operation(cancel, "ITI-47"),
    }, WSDL_DIR / "pdq.wsdl", settings)
