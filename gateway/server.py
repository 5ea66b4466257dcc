"""The HTTP server: SOAP 1.2 endpoints on twisted.web, a health resource, and the process model.

* :class:`SoapEndpoint` -- one service URL: GET ``?wsdl`` / ``?xsd=PATH`` serves the WSDL and the
  schemas next to it; POST decodes the message (plain or MTOM), checks the envelope, mustUnderstand
  and wsa:Action, runs the handler for the action in the reactor's thread pool, and writes the
  reply (MTOM attachments streamed by a producer, never held in memory).
* :class:`HealthResource` -- ``GET /health``.
* :func:`build_site` / :func:`run` -- one listening socket, optionally shared by N worker
  processes (``python -m gateway.server --worker-fd N``), each building its own resource tree.

Request bodies: Twisted spools bodies over 100 KB to a temp file; :class:`GatewayRequest` refuses a
body past ``max_request_size`` as soon as the headers say so (413 + Sender fault, connection
closed), and while receiving when there is no Content-Length.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Mapping, Union
from urllib.parse import parse_qsl, quote

from lxml import etree
from twisted.internet import reactor as _reactor
from twisted.internet import tcp
from twisted.internet.interfaces import IPullProducer
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, resource, server
from zope.interface import implementer

from gateway.config import Settings
from gateway.soap.envelope import (NS_WSA, UNDERSTOOD_HEADER_NAMESPACES, SoapReply, SoapRequest,
                                   check_must_understand, fault_envelope, parse_envelope, serialize)
from gateway.soap.fault import SoapFault
from gateway.soap.message import PLAIN_CONTENT_TYPE, EncodedMessage, decode_message, encode_message, encode_reply
from gateway.pipeline import Pipeline, Transaction, legacy_transaction
from profiles.context import RequestContext

reactor: Any = _reactor
log = Logger(namespace="gateway.server")

WSA_UNSPECIFIED = "http://www.w3.org/2005/08/addressing/unspecified"

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


# ---------------------------------------------------------------------------------------------
# Request: early refusal of oversized bodies


class _Discard:
    """Stands in for ``request.content`` once a body is refused: swallows writes."""

    def write(self, data: bytes) -> None:
        pass

    def seek(self, *args: Any) -> int:
        return 0

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass


def _raw_fault_response(fault: SoapFault) -> bytes:
    body = serialize(fault_envelope(fault, WSA_UNSPECIFIED))
    reason = http.RESPONSES.get(fault.http_status, b"Error")
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (fault.http_status, reason, PLAIN_CONTENT_TYPE.encode(), len(body))) + body


class GatewayRequest(server.Request):
    """A ``Request`` that refuses bodies larger than the site's ``max_request_size`` unread."""

    _refused = False
    _body_received = 0

    def _limit(self) -> int | None:
        site = getattr(self.channel, "site", None)
        return getattr(site, "max_request_size", None)

    def _refuse(self) -> None:
        self._refused = True
        self.content = _Discard()  # type: ignore[assignment]
        limit = self._limit()
        fault = SoapFault("Sender", f"request body larger than the limit of {limit} bytes", http_status=413)
        if self.channel is not None and self.channel.transport is not None:
            self.channel.transport.write(_raw_fault_response(fault))
            self.channel.loseConnection()

    def gotLength(self, length: int | None) -> None:
        limit = self._limit()
        if length is not None and limit is not None and length > limit:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._body_received += len(data)
        limit = self._limit()
        if limit is not None and self._body_received > limit:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._refused:
            return  # already answered; the connection is closing
        super().requestReceived(command, path, version)


class _GatewaySite(server.Site):
    """A ``Site`` that knows how many connections it holds open (for :class:`_BalancedPort`)."""

    open_connections = 0

    def buildProtocol(self, addr):  # noqa: N802 (Twisted's name)
        proto = super().buildProtocol(addr)
        if proto is None:
            return None
        self.open_connections += 1
        lost = proto.connectionLost

        def connection_lost(reason, _lost=lost):
            self.open_connections -= 1
            return _lost(reason)

        proto.connectionLost = connection_lost
        return proto


class _BalancedPort(tcp.Port):
    """The listening socket shared by the worker processes, accepting so that load spreads.

    Every worker is woken for a new connection. Left alone, Twisted accepts as many as are queued
    and the worker that wakes first keeps winning: measured, one worker held all 8 keep-alive
    connections of a client while the other core idled. Here a worker accepts one connection per
    wake-up, and a worker that already holds connections first waits 0.5 ms per open connection
    (20 ms at most), so the least loaded worker takes the connection; the others find the queue
    empty. Nothing is refused: a waiting worker accepts whatever is still queued when it resumes.
    """

    _holding = False
    DELAY_PER_CONNECTION = 0.0005
    MAX_DELAY = 0.02

    def doRead(self):  # noqa: N802 (Twisted's name)
        load = getattr(self.factory, "open_connections", 0)
        if load and not self._holding:
            self._holding = True
            self.stopReading()
            self.reactor.callLater(min(self.MAX_DELAY, load * self.DELAY_PER_CONNECTION), self._resume)
            return
        self._holding = False
        self.numberAccepts = 1
        super().doRead()

    def _resume(self) -> None:
        if self.connected:
            self.startReading()


def build_site(root: resource.Resource, *, max_request_size: int | None = None) -> server.Site:
    """A ``Site`` for ``root`` using :class:`GatewayRequest`; no tracebacks ever reach clients."""
    # parsePOSTFormSubmission=False: twisted.web would otherwise run every POST's Content-Type through
    # the stdlib email header parser (8% of an ITI-41's CPU) and read a multipart/form-data body into
    # memory whole to fill request.args, which no endpoint here uses.
    site = _GatewaySite(root, parsePOSTFormSubmission=False)
    site.requestFactory = GatewayRequest
    site.displayTracebacks = False
    site.max_request_size = max_request_size  # type: ignore[attr-defined]
    return site


# ---------------------------------------------------------------------------------------------
# Response streaming


@implementer(IPullProducer)
class _ChunkProducer:
    """Writes an iterator of chunks to a request as the transport asks for more, then finishes."""

    def __init__(self, request: server.Request, chunks: Iterator[bytes],
                 on_done: Callable[[], None]) -> None:
        self.request = request
        self.chunks = chunks
        self.on_done = on_done
        self.stopped = False

    def start(self) -> None:
        self.request.registerProducer(self, False)

    def resumeProducing(self) -> None:
        if self.stopped:
            return
        try:
            chunk = next(self.chunks, None)
        except Exception:
            log.failure("error while streaming a response")
            self.stopProducing()
            self.request.unregisterProducer()
            self.request.loseConnection()
            return
        if chunk is None:
            self.stopped = True
            self.request.unregisterProducer()
            self.request.finish()
            self.on_done()
            return
        self.request.write(chunk)

    def stopProducing(self) -> None:
        if not self.stopped:
            self.stopped = True
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()
            self.on_done()


# ---------------------------------------------------------------------------------------------
# SOAP endpoint


@dataclass
class _Outcome:
    status: int
    message: EncodedMessage
    cleanup: Callable[[], None]
    extra_headers: tuple[tuple[str, str], ...] = ()


_SCHEMA_LOCATION_ATTRS = ("schemaLocation", "location")


class SoapEndpoint(resource.Resource):
    """A SOAP 1.2 service URL dispatching on wsa:Action.

    :param name: service name (logs, audit).
    :param handlers: wsa:Action -> handler (or :class:`Operation` to name the IHE transaction).
        A handler runs in a worker thread: ``handler(SoapRequest, RequestContext) -> SoapReply``;
        it may raise :class:`SoapFault`; any other exception becomes a ``Receiver`` fault "internal
        error" naming the request id (logged with its traceback, never sent).
    :param wsdl_path: the WSDL served at ``GET ?wsdl``; schemas (and other files) below its directory
        are served at ``GET ?xsd=RELATIVE/PATH``. Relative ``schemaLocation``/``location``
        references in served documents are rewritten to ``?xsd=`` URLs, and the
        ``soap12:address/@location`` to the URL the WSDL was fetched from.
    :param settings: :class:`gateway.config.Settings` (``max_request_size``, ``spool_threshold``).

    :param pipeline: the :class:`gateway.pipeline.Pipeline` every transaction runs through (security
        seam, authorization, use case, exactly one audit event per POST).
    :param spool_dir: where MTOM attachments past the threshold are spooled.

    A handler entry is a :class:`gateway.pipeline.Transaction`; a plain ``handler(SoapRequest, ctx)
    -> SoapReply`` (or :class:`Operation`) runs through the pipeline as an always-successful use case.
    """

    isLeaf = True

    def __init__(self, name: str, handlers: Mapping[str, HandlerEntry], wsdl_path: str | Path | None,
                 settings: Settings, pipeline: Pipeline | None = None, spool_dir: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.handlers: dict[str, Transaction] = {a: _as_transaction(e) for a, e in handlers.items()}
        self.wsdl_path = Path(wsdl_path).resolve() if wsdl_path else None
        self.settings = settings
        self.pipeline = pipeline or Pipeline()
        self.spool_dir: str | None = spool_dir

    # -- GET: WSDL and schemas -----------------------------------------------------------------
    def render_GET(self, request: server.Request) -> bytes:
        query = request.uri.partition(b"?")[2].decode("latin-1")
        args = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
        if self.wsdl_path is None or ("wsdl" not in args and "xsd" not in args):
            return self._plain(request, 404, b"not found\n")
        if "xsd" in args:
            rel = args["xsd"]
            base = self.wsdl_path.parent
            target = (base / rel).resolve()
            if not target.is_relative_to(base) or not target.is_file():
                return self._plain(request, 404, b"not found\n")
        else:
            target = self.wsdl_path
            if not target.is_file():
                return self._plain(request, 404, b"not found\n")
        try:
            data = self._rewrite_document(request, target)
        except SoapFault:
            data = target.read_bytes()
        request.setHeader(b"content-type", b"text/xml; charset=UTF-8")
        return data

    def _rewrite_document(self, request: server.Request, path: Path) -> bytes:
        from gateway.soap.xml import parse_xml
        doc = parse_xml(path.read_bytes())
        base_url = request.URLPath()
        own_url = str(base_url).split("?", 1)[0]
        root_dir = self.wsdl_path.parent  # type: ignore[union-attr]
        for el in doc.iter():
            if not isinstance(el.tag, str):
                continue
            local = etree.QName(el).localname
            if local in ("import", "include", "redefine"):
                for attr in _SCHEMA_LOCATION_ATTRS:
                    ref = el.get(attr)
                    if ref and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", ref):
                        target = (path.parent / ref).resolve()
                        if target.is_relative_to(root_dir):
                            rel = target.relative_to(root_dir).as_posix()
                            el.set(attr, f"{own_url}?xsd={quote(rel)}")
            elif local == "address" and el.get("location") is not None:
                el.set("location", own_url)
        return etree.tostring(doc, encoding="UTF-8", xml_declaration=True)

    @staticmethod
    def _plain(request: server.Request, status: int, body: bytes) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/plain; charset=UTF-8")
        return body

    # -- POST: SOAP ----------------------------------------------------------------------------
    def render_POST(self, request: server.Request) -> int | bytes:
        peer = request.getClientAddress()
        remote = getattr(peer, "host", None)
        headers = {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                   for k, v in request.requestHeaders.getAllRawHeaders()}
        ctx = RequestContext(remote_addr=remote, endpoint=self.name)
        limit = self.settings.max_request_size
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            fault = SoapFault("Sender", f"request body larger than the limit of {limit} bytes", http_status=413)
            self._write_outcome(request, self._audited_fault(ctx, fault, None))
            return server.NOT_DONE_YET
        content: BinaryIO = request.content
        d = deferToThread(self._process, ctx, headers, content, remote)
        d.addCallback(lambda outcome: self._write_outcome(request, outcome))
        d.addErrback(self._internal_error, request, ctx)
        return server.NOT_DONE_YET

    def _process(self, ctx: RequestContext, headers: dict[str, str], content: BinaryIO,
                 remote: str | None) -> _Outcome:
        """Everything between the body bytes and the reply bytes; runs in a worker thread."""
        action = ""
        message_id: str | None = None
        soap_request: SoapRequest | None = None
        try:
            content.seek(0, os.SEEK_END)
            size = content.tell()
            content.seek(0)
            limit = self.settings.max_request_size
            if size > limit:
                raise SoapFault("Sender", f"request body larger than the limit of {limit} bytes",
                                http_status=413)
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
            return self._fault_outcome(result.fault, message_id)
        try:
            message = encode_reply(result.reply, message_id or WSA_UNSPECIFIED, request_was_mtom=soap_request.mtom)
        except Exception:
            soap_request.close()
            log.failure("reply encoding failed: endpoint={endpoint} action={action} request_id={request_id}",
                        endpoint=self.name, action=action, request_id=ctx.request_id)
            return self._fault_outcome(SoapFault("Receiver", f"internal error (request id {ctx.request_id})"),
                                       message_id)
        return _Outcome(200, message, soap_request.close)

    def _audited_fault(self, ctx: RequestContext, fault: SoapFault, relates_to: str | None) -> "_Outcome":
        """A fault before any transaction was dispatched: still exactly one audit event."""
        from gateway.pipeline import AuditFailed
        try:
            self.pipeline.record_fault(ctx, fault)
        except AuditFailed:
            fault = SoapFault("Receiver", f"the request could not be audited (request id {ctx.request_id})")
        return self._fault_outcome(fault, relates_to)

    @staticmethod
    def _fault_outcome(fault: SoapFault, relates_to: str | None) -> _Outcome:
        message = encode_message(fault_envelope(fault, relates_to or WSA_UNSPECIFIED))
        extra: tuple[tuple[str, str], ...] = ()
        if fault.code == "VersionMismatch":
            extra = (("Upgrade", "SOAP/1.2"),)
        return _Outcome(fault.http_status, message, lambda: None, extra)

    def _write_outcome(self, request: server.Request, outcome: _Outcome) -> None:
        if request.finished or request._disconnected:  # type: ignore[attr-defined]
            outcome.cleanup()
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
            return
        _ChunkProducer(request, iter(outcome.message.chunks()), outcome.cleanup).start()

    def _internal_error(self, failure: Failure, request: server.Request, ctx: RequestContext) -> None:
        log.failure("unexpected error in endpoint {endpoint} request_id={request_id}", failure,
                    endpoint=self.name, request_id=ctx.request_id)
        if request.finished or request._disconnected:  # type: ignore[attr-defined]
            return
        try:
            fault = SoapFault("Receiver", f"internal error (request id {ctx.request_id})")
            self._write_outcome(request, self._fault_outcome(fault, None))
        except Exception:
            log.failure("could not write the internal error fault")


class HealthResource(resource.Resource):
    """``GET`` -> ``{"status": "ok", ...extra()}`` as JSON."""

    isLeaf = True

    def __init__(self, extra: Callable[[], Mapping[str, Any]] | None = None) -> None:
        super().__init__()
        self.extra = extra

    def render_GET(self, request: server.Request) -> bytes:
        data: dict[str, Any] = {"status": "ok"}
        if self.extra is not None:
            data.update(self.extra())
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(data).encode()


# ---------------------------------------------------------------------------------------------
# Process model


def _callable_ref(func: Callable[..., Any]) -> str:
    module = func.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is None or not spec.name:
            raise ValueError("build_root must be importable (run the program with python -m) for workers > 1")
        module = spec.name
    return f"{module}:{func.__qualname__}"


def _load_ref(ref: str) -> Callable[..., Any]:
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _start_logging() -> None:
    from twisted.logger import globalLogBeginner, textFileLogObserver
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stderr)], redirectStandardIO=False)


def _serve(fd: int, family: socket.AddressFamily, settings: Settings,
           build_root: Callable[[Settings], resource.Resource], *, shared: bool = False) -> None:
    """Serve on an inherited/adopted listening socket in this process until stopped.

    ``shared``: other worker processes serve the same socket (accept through :class:`_BalancedPort`).
    """
    root = build_root(settings)
    site = build_site(root, max_request_size=settings.max_request_size)
    if shared:
        port = _BalancedPort._fromListeningDescriptor(reactor, fd, family, site)
        port.startListening()
    else:
        reactor.adoptStreamPort(fd, family, site)
    reactor.run()


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def run(settings: Settings, build_root: Callable[[Settings], resource.Resource], workers: int | None = None,
        on_listening: Callable[[str, int], None] | None = None) -> int:
    """Bind one listening socket and serve it, in-process (1 worker) or from N worker processes.

    ``workers``: ``None`` takes ``settings.workers``; 0 means one per CPU. Workers are
    ``python -m gateway.server --worker-fd FD --build-root module:function`` children that inherit
    the socket and call ``build_root(settings)`` themselves (engines and pools are created after the
    process starts); ``build_root`` must therefore be importable. The parent forwards
    SIGTERM/SIGINT to them and returns when all have exited (first non-zero exit code, else 0).
    ``on_listening(host, port)`` runs once the socket listens (port 0 resolved).
    """
    if workers is None:
        workers = settings.workers
    if workers <= 0:
        workers = os.cpu_count() or 1
    sock = _bind(settings)
    host, port = sock.getsockname()[:2]
    if on_listening is not None:
        on_listening(host, port)
    elif settings.port == 0:
        print(f"listening on http://{host}:{port}/", flush=True)
    if workers == 1:
        _start_logging()
        _serve(sock.fileno(), sock.family, settings, build_root)
        sock.close()
        return 0
    env = dict(os.environ)
    env["EPD_WORKER_SETTINGS"] = json.dumps(dataclasses.asdict(settings))
    cmd = [sys.executable, "-m", "gateway.server", "--worker-fd", str(sock.fileno()),
           "--family", str(int(sock.family)), "--build-root", _callable_ref(build_root)]
    children = [subprocess.Popen(cmd, pass_fds=(sock.fileno(),), env=env) for _ in range(workers)]
    sock.close()
    return _supervise(children)


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    stopping = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        alive = {c.pid: c for c in children}
        while alive:
            try:
                pid, wstatus = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            child = alive.pop(pid, None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(wstatus)
            child.returncode = code
            if code not in (0, -signal.SIGTERM) and status == 0:
                status = code if code > 0 else 128 - code
            if not stopping:
                # A worker died on its own: take the others down too, the service manager restarts.
                print(f"worker {pid} exited with {code}; stopping the others", file=sys.stderr, flush=True)
                forward(signal.SIGTERM, None)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return status


def _worker_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.server", description="gateway worker process")
    parser.add_argument("--worker-fd", type=int, required=True)
    parser.add_argument("--family", type=int, default=int(socket.AF_INET))
    parser.add_argument("--build-root", required=True, help="module:function building the root resource")
    args = parser.parse_args(argv)
    settings = Settings(**json.loads(os.environ.get("EPD_WORKER_SETTINGS", "{}")))
    build_root = _load_ref(args.build_root)
    _start_logging()
    _serve(args.worker_fd, socket.AddressFamily(args.family), settings, build_root, shared=True)
    os.close(args.worker_fd)


if __name__ == "__main__":
    _worker_main()
