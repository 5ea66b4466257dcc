"""A tiny gateway app for the integration tests, served by the one launcher (``support.server``):
``start_echo(tmp_path, workers=N)``, i.e. ``python -m gateway.process --app tests.server.app:build_root``.

Service ``/echo`` (WSDL ``tests/server/wsdl/echo.wsdl``):
- ``urn:test:echo``: echoes the body (plus ``pid`` and ``transaction`` attributes) and every
  attachment the request referenced, as MTOM when the request was MTOM or had attachments;
- ``urn:test:file``: replies with the server-side file named in ``<file path="..."/>`` as an MTOM
  attachment (streamed from disk);
- ``urn:test:boom``: the handler raises a RuntimeError;
- ``urn:test:fault``: the handler raises a SoapFault with a custom subcode;
- ``urn:test:audit``: replies with the audit records seen so far in this process.
``/health``: the health resource with the worker pid.
Settings from the environment: ``EPD_MAX_REQUEST_SIZE`` (:data:`MAX_REQUEST_SIZE` here),
``EPD_SPOOL_THRESHOLD`` (256 KiB), any other ``EPD_*``.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from lxml import etree
from twisted.web.resource import Resource

from gateway.config import Settings
from gateway.pipeline import Pipeline
from gateway.server import HealthResource, Operation, SoapEndpoint
from gateway.soap.envelope import NS_XOP, OutgoingAttachment, SoapFault, SoapReply, SoapRequest, xop_include
from profiles.context import RequestContext

WSDL = Path(__file__).parent / "wsdl" / "echo.wsdl"
NS = "urn:test"
_audit: list[tuple[str, str, str, str | None]] = []
_audit_lock = threading.Lock()


def echo(req: SoapRequest, ctx: RequestContext) -> SoapReply:
    body = req.body
    body.set("pid", str(os.getpid()))
    body.set("transaction", ctx.transaction)
    body.set("request-id", ctx.request_id)
    body.set("tls-subject", ctx.principal.tls_subject or "")
    body.set("tls-subject", ctx.principal.tls_subject or "")
    attachments = []
    for include in body.iter(f"{{{NS_XOP}}}Include"):
        att = req.resolve_include(include)
        assert not isinstance(att, bytes)
        if att.spool_path:
            attachments.append(OutgoingAttachment(att.content_id, att.content_type, path=att.spool_path))
        else:
            attachments.append(OutgoingAttachment(att.content_id, att.content_type, data=att.read()))
        include.getparent().set("sha1", att.sha1)
    return SoapReply(body=body, action="urn:test:echoResponse", attachments=attachments)


def send_file(req: SoapRequest, ctx: RequestContext) -> SoapReply:
    path = req.body.get("path")
    if not path or not os.path.isfile(path):
        raise SoapFault("Sender", "no such file")
    resp = etree.Element(f"{{{NS}}}fileResponse", nsmap={None: NS})
    doc = etree.SubElement(resp, f"{{{NS}}}Document")
    doc.append(xop_include("file-1@test"))
    return SoapReply(body=resp, action="urn:test:fileResponse",
                     attachments=[OutgoingAttachment("file-1@test", "application/octet-stream", path=path)])


def boom(req: SoapRequest, ctx: RequestContext) -> SoapReply:
    raise RuntimeError("SECRET-TRACEBACK-MARKER should never reach the client")


def fault(req: SoapRequest, ctx: RequestContext) -> SoapReply:
    raise SoapFault("Sender", "custom refusal", subcode=f"{{{NS}}}Custom")


def audit_log(req: SoapRequest, ctx: RequestContext) -> SoapReply:
    resp = etree.Element(f"{{{NS}}}audit", nsmap={None: NS}, pid=str(os.getpid()))
    with _audit_lock:
        for request_id, action, outcome, detail in _audit:
            etree.SubElement(resp, f"{{{NS}}}record", requestId=request_id, action=action,
                             outcome=outcome, detail=detail or "")
    return SoapReply(body=resp, action="urn:test:auditResponse")


class RecordingSink:
    """The pipeline's audit sink: one record per POST, kept for ``urn:test:audit``."""

    def record(self, event) -> None:
        outcome = "success" if event.fault_code is None else f"fault:{event.fault_code}"
        with _audit_lock:
            _audit.append((event.request_id, event.action or "", outcome, event.fault_reason))


def build_root(settings: Settings) -> Resource:
    root = Resource()
    endpoint = SoapEndpoint("echo", {
        "urn:test:echo": Operation(echo, "TEST-1"),
        "urn:test:file": send_file,
        "urn:test:boom": boom,
        "urn:test:fault": fault,
        "urn:test:audit": audit_log,
    }, WSDL, settings, pipeline=Pipeline(audit=RecordingSink()))
    root.putChild(b"echo", endpoint)
    root.putChild(b"health", HealthResource(lambda: {"pid": os.getpid()}))
    return root


APP = "tests.server.app:build_root"
MAX_REQUEST_SIZE = 2 << 20
SPOOL_THRESHOLD = 256 << 10


def start_echo(data_dir: Path, workers: int = 1, *, verify: bool | str = True,
               cert: tuple[str, str] | None = None, **settings: object):
    """This app as a real server on 127.0.0.1 (port 0), started and answering (``verify``/``cert``:
    what the start-up check presents when the settings turn TLS on)."""
    from support.server import make_server
    settings = {"max_request_size": MAX_REQUEST_SIZE, "spool_threshold": SPOOL_THRESHOLD, **settings}
    srv = make_server(data_dir, app=APP, **settings)
    srv.verify, srv.cert = verify, cert
    return srv.start(workers=workers)
