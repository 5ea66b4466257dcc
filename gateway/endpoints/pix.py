"""The PIX V3 Manager endpoint (``POST /pix``): ITI-44 Patient Identity Feed and ITI-45 PIX Query.

Thin: one :class:`gateway.pipeline.Transaction` per action. ``parse`` reads the body's first child
into the profile's request model, the use case (``profiles.hl7v3.pix``, ports bound once in
``gateway.app``) answers every HL7 V3 problem with an AE/AR acknowledgement, ``render`` puts the
reply in the SOAP envelope; only a broken envelope is a SOAP fault (the SOAP layer's business).
"""
from __future__ import annotations

from functools import partial

from gateway.config import Settings
from gateway.pipeline import SECURITY_TLS, Pipeline, Transaction
from gateway.resources import WSDL_DIR  # the IHE WSDLs and schemas, served at ?wsdl
from gateway.server import SoapEndpoint
from gateway.soap.envelope import SoapReply, SoapRequest
from profiles.hl7v3.limits import Hl7v3Limits
from profiles.hl7v3.messages import (ACK, ACTION_PREFIX, ADD, DUPLICATES_RESOLVED, PIX_QUERY, PIX_RESPONSE,
                                     REVISE, ResponseContext)
from profiles.hl7v3.outcomes import Hl7v3Ports
from profiles.hl7v3.pix import ITI44, ITI45, parse_feed, parse_pix_query, patient_identity_feed, pix_query
from profiles.outcome import Outcome

ACTION_ADD = ACTION_PREFIX + ADD
ACTION_REVISE = ACTION_PREFIX + REVISE
ACTION_MERGE = ACTION_PREFIX + DUPLICATES_RESOLVED
ACTION_ACK = ACTION_PREFIX + ACK
ACTION_PIX_QUERY = ACTION_PREFIX + PIX_QUERY
ACTION_PIX_RESPONSE = ACTION_PREFIX + PIX_RESPONSE


def response_context(settings: Settings) -> ResponseContext:
    """Our device and organisation in response wrappers: the community's OID."""
    return ResponseContext(device_oid=settings.home_community_oid, organization_oid=settings.home_community_oid)


def hl7v3_limits(settings: Settings) -> Hl7v3Limits:
    return Hl7v3Limits(max_name_part_length=settings.hl7_max_name_part_length,
                       max_identifier_length=settings.hl7_max_identifier_length,
                       max_identifiers_per_person=settings.hl7_max_identifiers_per_person,
                       max_repetitions=settings.hl7_max_repetitions,
                       max_parameter_values=settings.hl7_max_parameter_values)


def renderer(action: str):
    """``render`` of an HL7 V3 transaction: the reply element in the body, ``action`` as wsa:Action."""
    def render(outcome: Outcome, req: SoapRequest) -> SoapReply:
        return SoapReply(outcome.reply, action)
    return render


def pix_transactions(ports: Hl7v3Ports) -> dict[str, Transaction]:
    """``{wsa:Action: Transaction}`` of the PIX V3 Manager over ``ports``."""
    oid, limits = ports.mpi.mpi_oid, ports.limits

    def feed(interaction: str) -> Transaction:
        def parse(req: SoapRequest):
            return parse_feed(req.body, (interaction,), oid, limits)
        return Transaction(ITI44, parse, partial(patient_identity_feed, ports=ports), renderer(ACTION_ACK),
                           security=SECURITY_TLS)

    def parse_query(req: SoapRequest):
        return parse_pix_query(req.body, oid, limits)

    return {
        ACTION_ADD: feed(ADD),
        ACTION_REVISE: feed(REVISE),
        ACTION_MERGE: feed(DUPLICATES_RESOLVED),
        ACTION_PIX_QUERY: Transaction(ITI45, parse_query, partial(pix_query, ports=ports),
                                      renderer(ACTION_PIX_RESPONSE), security=SECURITY_TLS),
    }


def build_pix_endpoint(settings: Settings, ports, pipeline: Pipeline | None = None) -> SoapEndpoint:
    """``ports``: the :class:`Hl7v3Ports` (an MPI store alone is accepted and wrapped)."""
    if not isinstance(ports, Hl7v3Ports):
        ports = Hl7v3Ports(mpi=ports, responder=response_context(settings), states=ports,
                           limits=hl7v3_limits(settings))
    return SoapEndpoint("pix", pix_transactions(ports), WSDL_DIR / "pix.wsdl", settings, pipeline=pipeline)
