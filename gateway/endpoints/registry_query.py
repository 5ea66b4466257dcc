"""ITI-18 Registry Stored Query on the registry endpoint (``POST /xds/registry``, wsa:Action
``urn:ihe:iti:2007:RegistryStoredQuery``): a thin :class:`~gateway.pipeline.Transaction`.

parse: AdhocQueryRequest -> ``query_request.read_query_request`` (the request model, or the errors it
is refused with) -> use case ``profiles.xds.registry_query.stored_query`` (ports wired once in
``gateway/app.py``) -> render: the AdhocQueryResponse. Every IHE error is an AdhocQueryResponse with
status Failure, never a SOAP fault.

A LeafClass Success leaves as :class:`~gateway.soap.envelope.RawXml`: text spliced from the stored
metadata (``query_response.leaf_class_text``), never parsed into a tree on the way out.
"""
from __future__ import annotations

from gateway.config import Settings
from gateway.pipeline import SECURITY_XUA, Transaction
from gateway.soap.envelope import RawXml, SoapReply, SoapRequest
from gateway.store.registry_query import SqlQueryStore
from profiles.authorization import ALLOW_ALL, AuthorizationPolicy
from profiles.context import RequestContext
from profiles.outcome import Outcome
from profiles.xds.constants import ACTION_ITI18_RESPONSE
from profiles.xds.query_catalogue import RETURN_OBJECT_REF
from profiles.xds.query_request import read_query_request
from profiles.xds.query_response import failure_response, leaf_class_text, query_response
from profiles.xds.registry_query import (TRANSACTION, QueryReply, RegistryQueryConfig, StoredQueryPorts,
                                         refuse_query, stored_query)


def query_config(settings: Settings) -> RegistryQueryConfig:
    return RegistryQueryConfig(mpi_oid=settings.mpi_oid, home_community_id=settings.home_community_id,
                               max_results=settings.max_query_results)


def stored_query_ports(settings: Settings, store: SqlQueryStore,
                       policy: AuthorizationPolicy = ALLOW_ALL) -> StoredQueryPorts:
    return StoredQueryPorts(store=store, config=query_config(settings), policy=policy)


def render_body(reply: QueryReply, *, raw: bool):
    """The AdhocQueryResponse for ``reply``: a Failure with its errors; a LeafClass Success as ``RawXml``
    text when ``raw`` (and the stored elements allow it); else an element."""
    if reply.failed:
        return failure_response(list(reply.errors))
    if raw and reply.return_type != RETURN_OBJECT_REF:
        text = leaf_class_text(reply.result, reply.home_community_id)
        if text is not None:
            return RawXml(text)
    return query_response(reply.result, reply.return_type, reply.home_community_id)


def render(outcome: Outcome[QueryReply], request: SoapRequest) -> SoapReply:
    return SoapReply(body=render_body(outcome.reply, raw=True), action=ACTION_ITI18_RESPONSE)


def stored_query_transaction(settings: Settings, ports: StoredQueryPorts) -> Transaction:
    """The ITI-18 transaction the registry endpoint registers for ``ACTION_ITI18``."""
    max_values = settings.max_query_parameter_values

    def parse(request: SoapRequest):
        return read_query_request(request.body, max_values=max_values)

    def use_case(ctx: RequestContext, request) -> Outcome[QueryReply]:
        return stored_query(ctx, request, ports)

    def refuse(ctx: RequestContext, request, decision) -> Outcome[QueryReply]:
        return refuse_query(ctx, request, decision, ports)

    return Transaction(TRANSACTION, parse, use_case, render, policy=ports.policy, refuse=refuse,
                       security=SECURITY_XUA)
