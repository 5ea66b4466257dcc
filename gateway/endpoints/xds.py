"""The XDS.b endpoints: Document Repository (ITI-41, ITI-43) and Document Registry (ITI-42, ITI-18).

ITI-41 and ITI-42 are :class:`gateway.pipeline.Transaction` objects: ``parse`` (SoapRequest ->
the request model: ebRIM read into the metadata model, each xds:Document resolved to its MTOM part
or inline bytes), the use case in profiles/ (``profiles.xds.provide_register``,
``profiles.xds.register``) with its ports bound once in ``gateway/app.py``, and ``render``
(Outcome -> RegistryResponse). A wrong body element is a Sender fault; everything else is
answered in the IHE way (a RegistryResponse with its RegistryErrorList).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from lxml import etree

from gateway.config import Settings
from gateway.pipeline import SECURITY_XUA, Transaction
from gateway.resources import WSDL_DIR  # the IHE WSDLs and schemas, served at ?wsdl
from gateway.server import SoapEndpoint
from gateway.soap.attachments import Attachment
from gateway.soap.envelope import SoapReply, SoapRequest
from gateway.soap.fault import SoapFault
from gateway.store.blobs import BlobStore
from gateway.store.registry import SqlRegistryStore
from profiles.context import RequestContext
from profiles.outcome import FAILURE, PARTIAL_SUCCESS, SUCCESS, Outcome
from profiles.xds import constants as C
from profiles.xds import messages as M
from profiles.xds.ebrim import count_objects, parse_submission, registry_response
from profiles.xds.errors import XdsError
from profiles.xds.provide_register import ProvideAndRegisterPorts, ProvideAndRegisterRequest, provide_and_register
from profiles.xds.register import RegisterPorts, SubmissionRequest, register
from profiles.xds.repository import DocumentContent

_WIRE_STATUS = {SUCCESS: C.RESPONSE_SUCCESS, FAILURE: C.RESPONSE_FAILURE, PARTIAL_SUCCESS: C.RESPONSE_PARTIAL}
_ITI41_BODY = "{%s}ProvideAndRegisterDocumentSetRequest" % C.NS_XDS
_ITI42_BODY = "{%s}SubmitObjectsRequest" % C.NS_LCM
_DOCUMENT = "{%s}Document" % C.NS_XDS


# ------------------------------------------------------------------ parse: wire -> request model

def read_submission(sor, max_objects: int | None) -> SubmissionRequest:
    sub, errors = parse_submission(sor, max_objects=max_objects)
    return SubmissionRequest(sub, errors)


def read_provide_and_register(body, resolve: Callable[[etree._Element], "Attachment | bytes"], *,
                              max_objects: int | None = None,
                              attachments: dict[str, Attachment] | None = None) -> ProvideAndRegisterRequest:
    """The ITI-41 request model from an ``xds:ProvideAndRegisterDocumentSetRequest``: the
    submission, each xds:Document's size and digests (computed while the transport spooled it), and
    the MIME parts of ``attachments`` that no xds:Document refers to."""
    if body.tag != _ITI41_BODY:
        raise SoapFault("Sender", "ITI-41 expects xds:ProvideAndRegisterDocumentSetRequest in the Body")
    sor = body.find(_ITI42_BODY)
    sub, errors = parse_submission(sor, max_objects=max_objects)
    request = ProvideAndRegisterRequest(sub, errors)
    doc_elements = body.findall(_DOCUMENT)
    if max_objects is not None and len(doc_elements) > max_objects:
        request.errors = [M.TOO_MANY_OBJECTS(count=len(doc_elements), limit=max_objects)]
        return request
    if max_objects is not None and count_objects(sor) > max_objects:
        return request                      # refused whole: no attachment is even looked at
    referenced: set[int] = set()
    for doc_el in doc_elements:
        doc_id = doc_el.get("id") or ""
        if doc_id in request.documents:
            request.errors.append(M.DOCUMENT_ID_TWICE(doc_id, id=doc_id))
            continue
        content = resolve(doc_el)
        if isinstance(content, bytes):
            request.documents[doc_id] = DocumentContent(doc_id, len(content), hashlib.sha1(content).hexdigest(),
                                                        hashlib.sha256(content).hexdigest(), content)
        else:
            referenced.add(id(content))
            request.documents[doc_id] = DocumentContent(doc_id, content.size, content.sha1, content.sha256, content)
    request.unreferenced_parts = [cid for cid, att in (attachments or {}).items() if id(att) not in referenced]
    return request


def parse_iti41(settings: Settings) -> Callable[[SoapRequest], ProvideAndRegisterRequest]:
    def parse(req: SoapRequest) -> ProvideAndRegisterRequest:
        return read_provide_and_register(req.body, req.resolve_include, max_objects=settings.max_submission_objects,
                                         attachments=req.attachments)
    return parse


def parse_iti42(settings: Settings) -> Callable[[SoapRequest], SubmissionRequest]:
    def parse(req: SoapRequest) -> SubmissionRequest:
        if req.body.tag != _ITI42_BODY:
            raise SoapFault("Sender", "ITI-42 expects lcm:SubmitObjectsRequest in the Body")
        return read_submission(req.body, settings.max_submission_objects)
    return parse


# ------------------------------------------------------------------ render: Outcome -> wire

def render_registry_response(action: str) -> Callable[[Outcome, SoapRequest], SoapReply]:
    def render(outcome: Outcome, req: SoapRequest) -> SoapReply:
        return SoapReply(registry_response(list(outcome.reply), status=_WIRE_STATUS[outcome.status]), action)
    return render


def iti41_transaction(settings: Settings, ports: ProvideAndRegisterPorts) -> Transaction:
    return Transaction("ITI-41", parse_iti41(settings), lambda ctx, request: provide_and_register(ctx, request, ports),
                       render_registry_response(C.ACTION_ITI41_RESPONSE), security=SECURITY_XUA)


def iti42_transaction(settings: Settings, ports: RegisterPorts) -> Transaction:
    return Transaction("ITI-42", parse_iti42(settings), lambda ctx, request: register(ctx, request, ports),
                       render_registry_response(C.ACTION_ITI42_RESPONSE), security=SECURITY_XUA)


# ------------------------------------------------------------------ the write use cases without SOAP

@dataclass
class XdsService:
    settings: Settings
    store: SqlRegistryStore
    blobs: BlobStore
    provide_ports: ProvideAndRegisterPorts
    register_ports: RegisterPorts

    # -- the write use cases called without SOAP (demo data, tests): the errors, empty on Success
    def register(self, sor) -> list[XdsError]:
        request = read_submission(sor, self.settings.max_submission_objects)
        return register(RequestContext(transaction="ITI-42"), request, self.register_ports).reply

    def provide_and_register(self, body, resolve: Callable[[etree._Element], "Attachment | bytes"]) -> list[XdsError]:
        request = read_provide_and_register(body, resolve, max_objects=self.settings.max_submission_objects)
        return provide_and_register(RequestContext(transaction="ITI-41"), request, self.provide_ports).reply


def build_repository_endpoint(service: XdsService, extra_handlers: dict | None = None, pipeline=None, *,
                              iti41: Transaction | None = None, spool_dir: str | None = None) -> SoapEndpoint:
    """``POST /xds/repository``: ITI-41 (``iti41``, default: over the service's ports) and
    ``extra_handlers`` (ITI-43, ``gateway.endpoints.retrieve.retrieve_transaction``)."""
    handlers: dict = {C.ACTION_ITI41: iti41 or iti41_transaction(service.settings, service.provide_ports)}
    handlers.update(extra_handlers or {})
    return SoapEndpoint("xds-repository", handlers, WSDL_DIR / "xds-repository.wsdl", service.settings,
                        pipeline=pipeline, spool_dir=spool_dir)


def build_registry_endpoint(service: XdsService, extra_handlers: dict | None = None, pipeline=None, *,
                            iti42: Transaction | None = None, spool_dir: str | None = None) -> SoapEndpoint:
    """``POST /xds/registry``: ITI-42 (``iti42``, default: over the service's ports) and ``extra_handlers`` (ITI-18)."""
    handlers: dict = {C.ACTION_ITI42: iti42 or iti42_transaction(service.settings, service.register_ports)}
    handlers.update(extra_handlers or {})
    return SoapEndpoint("xds-registry", handlers, WSDL_DIR / "xds-registry.wsdl", service.settings,
                        pipeline=pipeline, spool_dir=spool_dir)
