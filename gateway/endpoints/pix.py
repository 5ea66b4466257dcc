"""The PIX V3 Manager endpoint (``POST /pix``): ITI-44 Patient Identity Feed and ITI-45 PIX Query.

Thin: the SOAP layer hands the body's first child to :class:`profiles.hl7v3.pix.PixManager`,
which answers every HL7 V3 problem with an AE/AR acknowledgement; only a broken envelope is a
SOAP fault (the SOAP layer's business).
"""
from __future__ import annotations

from gateway.config import Settings
from gateway.resources import WSDL_DIR  # the IHE WSDLs and schemas, served at ?wsdl
from gateway.server import Operation, SoapEndpoint
from gateway.soap.envelope import SoapReply, SoapRequest
from gateway.store.mpi import MpiStore
from profiles.context import RequestContext
from profiles.hl7v3.messages import (ACK, ACTION_PREFIX, ADD, DUPLICATES_RESOLVED, PIX_QUERY, PIX_RESPONSE,
                                     REVISE, ResponseContext)
from profiles.hl7v3.pix import PixManager


ACTION_ADD = ACTION_PREFIX + ADD
ACTION_REVISE = ACTION_PREFIX + REVISE
ACTION_MERGE = ACTION_PREFIX + DUPLICATES_RESOLVED
ACTION_ACK = ACTION_PREFIX + ACK
ACTION_PIX_QUERY = ACTION_PREFIX + PIX_QUERY
ACTION_PIX_RESPONSE = ACTION_PREFIX + PIX_RESPONSE


def response_context(settings: Settings) -> ResponseContext:
    """Our device and organisation in response wrappers: the community's OID."""
    return ResponseContext(device_oid=settings.home_community_oid, organization_oid=settings.home_community_oid)


def build_pix_endpoint(settings: Settings, mpi_store: MpiStore) -> SoapEndpoint:
    manager = PixManager(mpi_store, response_context(settings))

    def feed(interaction: str):
        def handler(req: SoapRequest, ctx: RequestContext) -> SoapReply:
            return SoapReply(manager.feed(req.body, expected=(interaction,)), ACTION_ACK)
        return handler

    def query(req: SoapRequest, ctx: RequestContext) -> SoapReply:
        return SoapReply(manager.query(req.body), ACTION_PIX_RESPONSE)

    return SoapEndpoint("pix", {
        ACTION_ADD: Operation(feed(ADD), "ITI-44"),
        ACTION_REVISE: Operation(feed(REVISE), "ITI-44"),
        ACTION_MERGE: Operation(feed(DUPLICATES_RESOLVED), "ITI-44"),
        ACTION_PIX_QUERY: Operation(query, "ITI-45"),
    }, WSDL_DIR / "pix.wsdl", settings)
