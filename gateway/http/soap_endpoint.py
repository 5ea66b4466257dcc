"""One SOAP 1.2 service URL on twisted.web, dispatching on wsa:Action into the pipeline.

GET ``?wsdl`` / ``?xsd=PATH`` serves the service description (:mod:`gateway.http.wsdl`); POST
decodes the message (plain or MTOM), checks the envelope, mustUnderstand and wsa:Action, runs the
transaction through the :class:`gateway.pipeline.Pipeline` in the reactor's thread pool, and
writes the reply (MTOM attachments streamed by a producer, never held in memory). Where the reply
is written, the site's observer (:mod:`gateway.http.observe`) takes the one log line and the
metrics of the request from the pipeline's audit event.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Mapping, Union

from lxml import etree
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server

from gateway.config import Settings
from gateway.http.limits import WSA_UNSPECIFIED, request_too_large
from gateway.http.observe import RequestRecord
from gateway.http.producer import ChunkProducer
from gateway.http.wsdl import ServiceDescription
from gateway.pipeline import Pipeline, Transaction, legacy_transaction
from gateway.soap.envelope import (NS_WSA, UNDERSTOOD_HEADER_NAMESPACES, SoapReply, SoapRequest,
                                   check_must_understand, fault_envelope, parse_envelope)
from gateway.soap.fault import SoapFault
from gateway.soap.message import EncodedMessage, decode_message, encode_message, encode_reply
from profiles.audit import AuditEvent
from profiles.context import RequestContext

log = Logger(namespace="gateway.server")

Handler = Callable[[SoapRequest, RequestContext], SoapReply]


@dataclass(frozen=True)
class Operation:
    """A handler table entry with the IHE transaction it implements (goes into the context)."""

    handler: Handler
    transaction: str = ""


HandlerEntry = Union[Transaction, Handler, Operation]


def _as_transaction(entry: HandlerEntry) -> Transaction:
    if isinstance(entry, Transaction):
        return entry
    if isinstance(entry, Operation):
        return legacy_transaction(entry.transaction, entry.handler)
    return legacy_transaction("", entry)


@dataclass
class _Outcome:
    status: int
    message: EncodedMessage
    cleanup: Callable[[], None]
    extra_headers: tuple[tuple[str, str], ...] = ()
    event: AuditEvent | None = None
    ctx: RequestContext | None = None


def _body_size(content: BinaryIO) -> int:
    try:
        content.seek(0, os.SEEK_END)
        size = content.tell()
        content.seek(0)
        return size
    except (OSError, ValueError, AttributeError):
        return 0


class SoapEndpoint(resource.Resource):
    """A SOAP 1.2 service URL dispatching on wsa:Action.

    :param name: service name (logs, audit, metrics).
    :param handlers: wsa:Action -> :class:`gateway.pipeline.Transaction`; a plain ``handler(SoapRequest,
        ctx) -> SoapReply`` (or :class:`Operation`) runs through the pipeline as an always-successful
        use case. Transactions run in a worker thread; any exception other than :class:`SoapFault`
        becomes a ``Receiver`` fault "internal error" naming the request id (logged with its
        traceback, never sent).
    :param wsdl_path: the WSDL served at ``GET ?wsdl``; schemas (and other files) below its directory
        are served at ``GET ?xsd=RELATIVE/PATH`` (:class:`gateway.http.wsdl.ServiceDescription`; the
        advertised address is under ``settings.public_url`` when set).
    :param settings: :class:`gateway.config.Settings` (``max_request_size``, ``spool_threshold``,
        ``public_url``).
    :param pipeline: the :class:`gateway.pipeline.Pipeline` every transaction runs through (security
        seam, authorization, use case, exactly one audit event per POST).
    :param spool_dir: where MTOM attachments past the threshold are spooled (next to the blob store,
        so that documents are linked in, not copied); ``None``: the system's temp directory.
    """

    isLeaf = True

    def __init__(self, name: str, handlers: Mapping[str, HandlerEntry], wsdl_path: str | Path | None,
                 settings: Settings, pipeline: Pipeline | None = None, spool_dir: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.handlers: dict[str, Transaction] = {a: _as_transaction(e) for a, e in handlers.items()}
        self.wsdl_path = Path(wsdl_path).resolve() if wsdl_path else None
        self.description = (ServiceDescription(self.wsdl_path, settings.public_url)
                            if self.wsdl_path is not None else None)
        self.settings = settings
        self.pipeline = pipeline or Pipeline()
        self.spool_dir: str | None = spool_dir

    # -- GET: WSDL and schemas -----------------------------------------------------------------
    def render_GET(self, request: server.Request) -> bytes:  # noqa: N802
        data = self.description.render(request) if self.description is not None else None
        if data is None:
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"text/plain; charset=UTF-8")
            return b"not found\n"
        request.setHeader(b"content-type", b"text/xml; charset=UTF-8")
        return data

    # -- POST: SOAP ----------------------------------------------------------------------------
    def render_POST(self, request: server.Request) -> int:  # noqa: N802
        started = time.monotonic()
        peer = request.getClientAddress()
        remote = getattr(peer, "host", None)
        headers = {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                   for k, v in request.requestHeaders.getAllRawHeaders()}
        from gateway.security.tls import peer_principal
        ctx = RequestContext(remote_addr=remote, endpoint=self.name, principal=peer_principal(request))
        content: BinaryIO = request.content
        size = _body_size(content)
        d = deferToThread(self._process, ctx, headers, content, remote, size)
        d.addCallback(lambda outcome: self._write_outcome(request, outcome, started, size))
        d.addErrback(self._internal_error, request, ctx, started, size)
        return server.NOT_DONE_YET

    def _process(self, ctx: RequestContext, headers: dict[str, str], content: BinaryIO,
                 remote: str | None, size: int | None = None) -> _Outcome:
        """Everything between the body bytes and the reply bytes; runs in a worker thread."""
        if size is None:
            size = _body_size(content)
        action = ""
        message_id: str | None = None
        soap_request: SoapRequest | None = None
        try:
            limit = self.settings.max_request_size
            if size > limit:
                raise request_too_large(limit)
            decoded = decode_message(headers.get("content-type"), content,
                                     threshold=self.settings.spool_threshold, spool_dir=self.spool_dir,
                                     max_size=limit)
            try:
                soap_request = parse_envelope(decoded.envelope, attachments=decoded.attachments,
                                              remote_addr=remote, raw_headers=headers,
                                              mtom=decoded.mtom, require_action=False)
            except BaseException:
                decoded.close()
                raise
            message_id = soap_request.message_id
            ctx = dataclasses.replace(ctx, message_id=message_id, action=soap_request.action or None,
                                      reply_to=soap_request.reply_to, to=soap_request.to)
            check_must_understand(soap_request.header, UNDERSTOOD_HEADER_NAMESPACES | self.pipeline.security.understood)
            action = soap_request.action
            if not action:
                raise SoapFault("Sender", "wsa:Action header missing",
                                subcode=f"{{{NS_WSA}}}MessageAddressingHeaderRequired")
            transaction = self.handlers.get(action)
            if transaction is None:
                detail = etree.Element(f"{{{NS_WSA}}}ProblemAction", nsmap={"wsa": NS_WSA})
                etree.SubElement(detail, f"{{{NS_WSA}}}Action").text = action
                raise SoapFault("Sender", f"action {action!r} is not supported by {self.name}",
                                subcode=f"{{{NS_WSA}}}ActionNotSupported", detail=detail)
        except SoapFault as fault:
            if soap_request is not None:
                soap_request.close()
            return self._audited_fault(ctx, fault, message_id)
        except Exception:
            if soap_request is not None:
                soap_request.close()
            log.failure("request failed: endpoint={endpoint} action={action} request_id={request_id}",
                        endpoint=self.name, action=action, request_id=ctx.request_id)
            return self._audited_fault(ctx, SoapFault("Receiver", f"internal error (request id {ctx.request_id})"),
                                       message_id)
        result = self.pipeline.run(transaction, soap_request, ctx)
        if result.fault is not None:
            soap_request.close()
            return self._fault_outcome(result.fault, message_id, result.event, result.ctx)
        try:
            message = encode_reply(result.reply, message_id or WSA_UNSPECIFIED, request_was_mtom=soap_request.mtom)
        except Exception:
            soap_request.close()
            log.failure("reply encoding failed: endpoint={endpoint} action={action} request_id={request_id}",
                        endpoint=self.name, action=action, request_id=ctx.request_id)
            return self._fault_outcome(SoapFault("Receiver", f"internal error (request id {ctx.request_id})"),
                                       message_id, result.event, result.ctx)
        return _Outcome(200, message, soap_request.close, event=result.event, ctx=result.ctx)

    def _audited_fault(self, ctx: RequestContext, fault: SoapFault, relates_to: str | None) -> _Outcome:
        """A fault before any transaction was dispatched: still exactly one audit event."""
        from gateway.pipeline import AuditFailed
        event = None
        try:
            event = self.pipeline.record_fault(ctx, fault)
        except AuditFailed:
            fault = SoapFault("Receiver", f"the request could not be audited (request id {ctx.request_id})")
        return self._fault_outcome(fault, relates_to, event, ctx)

    @staticmethod
    def _fault_outcome(fault: SoapFault, relates_to: str | None, event: AuditEvent | None = None,
                       ctx: RequestContext | None = None) -> _Outcome:
        message = encode_message(fault_envelope(fault, relates_to or WSA_UNSPECIFIED))
        extra: tuple[tuple[str, str], ...] = ()
        if fault.code == "VersionMismatch":
            extra = (("Upgrade", "SOAP/1.2"),)
        return _Outcome(fault.http_status, message, lambda: None, extra, event, ctx)

    def _write_outcome(self, request: server.Request, outcome: _Outcome, started: float, size: int) -> None:
        observer = getattr(getattr(request.channel, "site", None), "observer", None)
        if request.finished or request._disconnected:  # type: ignore[attr-defined]
            outcome.cleanup()
            self._observe(observer, outcome, started, size, 0)
            return
        request.setResponseCode(outcome.status)
        request.setHeader(b"content-type", outcome.message.content_type.encode("latin-1"))
        request.setHeader(b"content-length", str(outcome.message.length).encode())
        for k, v in outcome.extra_headers:
            request.setHeader(k.encode(), v.encode())
        body = outcome.message.body
        if not isinstance(body, bytes) and getattr(body, "in_memory", False) and outcome.message.length <= 1 << 16:
            body = b"".join(outcome.message.chunks())  # a small MTOM reply: no producer round trips
        if isinstance(body, bytes):
            request.write(body)
            request.finish()
            outcome.cleanup()
            self._observe(observer, outcome, started, size, outcome.message.length)
            return

        def done() -> None:
            outcome.cleanup()
            self._observe(observer, outcome, started, size, outcome.message.length)
        ChunkProducer(request, iter(outcome.message.chunks()), done).start()

    def _observe(self, observer, outcome: _Outcome, started: float, size: int, sent: int) -> None:
        if observer is None or not observer.enabled:
            return
        event, ctx = outcome.event, outcome.ctx
        if event is not None:
            ihe = event.ihe_status or (f"fault:{event.fault_code}" if event.fault_code else "")
            if outcome.status >= 400 and event.fault_code is None:
                ihe = f"fault:{'Sender' if outcome.status < 500 else 'Receiver'}"
        else:
            ihe = f"fault:{'Sender' if outcome.status < 500 else 'Receiver'}"
        action = (ctx.action if ctx is not None else None) or ""
        try:
            observer.observe(RequestRecord(
                request_id=ctx.request_id if ctx is not None else "",
                message_id=ctx.message_id if ctx is not None else None,
                action=action, known_action=action in self.handlers,
                transaction=(ctx.transaction if ctx is not None else "") or "",
                endpoint=self.name, status=outcome.status, outcome=ihe,
                duration=time.monotonic() - started, bytes_in=size, bytes_out=sent))
        except Exception:
            log.failure("could not log/measure request")

    def _internal_error(self, failure: Failure, request: server.Request, ctx: RequestContext,
                        started: float, size: int) -> None:
        log.failure("unexpected error in endpoint {endpoint} request_id={request_id}", failure,
                    endpoint=self.name, request_id=ctx.request_id)
        if request.finished or request._disconnected:  # type: ignore[attr-defined]
            return
        try:
            fault = SoapFault("Receiver", f"internal error (request id {ctx.request_id})")
            self._write_outcome(request, self._fault_outcome(fault, None, None, ctx), started, size)
        except Exception:
            log.failure("could not write the internal error fault")
