"""XDS.b client for HIS integrators: ITI-41 / ITI-43 against a Document Repository, ITI-42 / ITI-18
against a Document Registry.

::

    from gateway.clients.submission import DocumentSpec, provide_and_register_request
    from gateway.clients.xds import XdsClient

    xds = XdsClient("https://gw.example/xds/repository", "https://gw.example/xds/registry")
    body, parts = provide_and_register_request(mpi_pid, [DocumentSpec(pdf_bytes)])
    response = xds.provide_and_register(body, parts)          # rs:RegistryResponse (lxml)
    response, docs = xds.retrieve([(repository_unique_id, document_unique_id)])

Two transports, chosen per transaction:

* ITI-41 and ITI-43 carry documents as MTOM/XOP attachments. zeep can neither send XOP attachments
  nor stream large ones, so these go through the project's own :class:`gateway.clients.soap.SoapClient`
  (streamed uploads, large response parts spooled to disk).
* ITI-42 and ITI-18 are plain SOAP 1.2 and go through **zeep**, which loads the registry's WSDL
  (``registry_url + "?wsdl"``; every schema import is relative and served by the gateway, so the
  WSDL loads with nothing but the registry URL reachable).

All four methods take and return lxml elements: the caller builds ebRIM with
:mod:`gateway.clients.submission` (or its own code) and reads the response with XPath. A SOAP fault
raises :class:`~gateway.clients.soap.SoapFaultError`; a reply that is no SOAP message (or carries the
wrong wsa:Action) raises :class:`~gateway.clients.soap.SoapTransportError`. An XDS-level refusal is
*not* an exception: it is a ``RegistryResponse`` with status Failure and its ``RegistryErrorList``
(see :func:`response_status` / :func:`registry_errors`).
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union
from urllib.parse import urlsplit

import requests
from lxml import etree
from zeep.transports import Transport

from gateway.clients.soap import ConfiguredSession, SoapClient, SoapFaultError, SoapResponse, SoapTransportError
from gateway.clients.submission import retrieve_request
from gateway.soap.attachments import DEFAULT_SPOOL_THRESHOLD, OutgoingAttachment
from gateway.soap.envelope import NS_SOAP12, NS_WSA, cid_from_href, read_fault
from gateway.soap.fault import SoapFault
from gateway.soap.xml import parse_xml
from profiles.xds import constants as C

__all__ = ["XdsClient", "RetrievedDocument", "AttachmentSpec", "response_status", "registry_errors",
           "SoapFaultError", "SoapTransportError", "SameOriginTransport"]

#: (content_id, mime_type, bytes or path) -- what :func:`provide_and_register_request` returns
AttachmentSpec = tuple[str, str, Union[bytes, str, os.PathLike]]

REGISTRY_SERVICE = "DocumentRegistry_Service"
REGISTRY_PORT = "DocumentRegistry_Port_Soap12"
OP_ITI42 = "DocumentRegistry_RegisterDocumentSet-b"
OP_ITI18 = "DocumentRegistry_RegistryStoredQuery"

_X = "{%s}" % C.NS_XDS
# required child elements of each zeep operation's input, skipped when zeep builds the envelope
_REQUIRED_CHILDREN = {OP_ITI42: ("RegistryObjectList",), OP_ITI18: ("ResponseOption", "AdhocQuery")}


@dataclass
class RetrievedDocument:
    """One document of an ITI-43 response.

    ``content`` is ``bytes`` for a small document, or the :class:`~pathlib.Path` of a file the
    caller now owns (documents larger than the client's ``spool_threshold`` are never held in memory;
    the file lies in ``download_dir`` or a fresh temporary directory).
    """

    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    content: Union[bytes, Path]
    home_community_id: str | None = None

    def read_bytes(self) -> bytes:
        return self.content.read_bytes() if isinstance(self.content, Path) else self.content


def response_status(response: etree._Element) -> str:
    """The ``status`` of a ``RegistryResponse`` / ``AdhocQueryResponse`` (a Retrieve response's
    inner ``RegistryResponse`` is found too)."""
    if response.tag == _X + "RetrieveDocumentSetResponse":
        response = response.find("{%s}RegistryResponse" % C.NS_RS)
    return response.get("status", "") if response is not None else ""


def registry_errors(response: etree._Element) -> list[dict[str, str]]:
    """``RegistryError`` entries of a response as dicts (errorCode, codeContext, severity, location)."""
    out = []
    for err in response.iter("{%s}RegistryError" % C.NS_RS):
        out.append({"errorCode": err.get("errorCode", ""), "codeContext": err.get("codeContext", ""),
                    "severity": err.get("severity", C.SEVERITY_ERROR), "location": err.get("location", "")})
    return out


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:120] or "document"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    return parts.scheme.lower(), f"{host}:{port}"


class SameOriginTransport(Transport):
    """A zeep transport that loads WSDL/XSD documents only from ``origin_url``'s scheme://host:port.

    Stands in for zeep's ``forbid_external`` (which also refuses same-origin imports): a WSDL
    served by a peer may import its own schemas, nothing else (no other host: SSRF; no ``file:``).
    """

    def __init__(self, origin_url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.origin = _origin(origin_url)

    def load(self, url: str) -> bytes:
        if not url or _origin(url) != self.origin:
            from zeep.exceptions import ExternalReferenceForbidden
            raise ExternalReferenceForbidden(url)
        return super().load(url)


class XdsClient:
    """ITI-41/43 (MTOM, own SOAP client) and ITI-42/18 (zeep) against one repository and one registry.

    :param repository_url: the Document Repository endpoint (``.../xds/repository``).
    :param registry_url: the Document Registry endpoint (``.../xds/registry``); its ``?wsdl`` is
        loaded by zeep on the first ITI-42/ITI-18 call.
    :param timeout: seconds, for connecting and for each transaction.
    :param session: a ``requests.Session`` to share (TLS client certificate, proxies, pooling).
    :param verify, cert: TLS settings as in ``requests``.
    :param spool_threshold: retrieved documents larger than this are spooled to disk.
    :param download_dir: where spooled retrieved documents are moved (default: a new temp directory
        per :meth:`retrieve` call).
    :param assertion: a signed X-User Assertion (bytes or element) sent in ``wsse:Security`` with
        every transaction (set :meth:`use_assertion` to renew it).
    :param require_action: refuse a reply without a wsa:Action header (IHE requires it; by default a
        reply without one is taken, a wrong one is always refused). The conformance plan sets it.
    """

    def __init__(self, repository_url: str, registry_url: str, timeout: float = 60, *,
                 session: requests.Session | None = None, verify: bool | str = True,
                 cert: str | tuple[str, str] | None = None,
                 spool_threshold: int = DEFAULT_SPOOL_THRESHOLD,
                 download_dir: str | os.PathLike | None = None, require_action: bool = False,
                 assertion=None) -> None:
        self.repository_url = repository_url
        self.assertion = assertion   # a signed X-User Assertion (CH:XUA) for every transaction
        self.require_action = require_action
        self.registry_url = registry_url
        self.timeout = timeout
        self.session = session or ConfiguredSession()
        if session is None:
            self.session.verify = verify
            self.session.cert = cert
        self.download_dir = Path(download_dir) if download_dir else None
        self.repository = SoapClient(repository_url, timeout, session=self.session,
                                     spool_threshold=spool_threshold, verify=verify, cert=cert,
                                     assertion=assertion)
        self._zeep = None

    # ------------------------------------------------------------------ lifecycle
    def use_assertion(self, assertion) -> None:
        """Send ``assertion`` (CH:XUA) from now on (``None``: none)."""
        self.assertion = assertion
        self.repository.assertion = assertion

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "XdsClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ ITI-41
    def provide_and_register(self, body_element: etree._Element,
                             attachments: Sequence[AttachmentSpec] = ()) -> etree._Element:
        """ITI-41 Provide and Register Document Set-b, sent as MTOM; returns ``rs:RegistryResponse``.

        ``body_element`` is an ``xds:ProvideAndRegisterDocumentSetRequest`` whose ``xds:Document``
        elements hold ``xop:Include href="cid:..."`` (or inline base64); ``attachments`` are the
        parts those hrefs name, as (content_id, mime_type, bytes or file path). Files are streamed,
        not loaded. ``body_element`` is moved into the SOAP envelope (pass a copy to keep it).
        """
        if body_element.tag != _X + "ProvideAndRegisterDocumentSetRequest":
            raise ValueError("ITI-41 needs an xds:ProvideAndRegisterDocumentSetRequest element")
        outgoing = []
        for cid, mime, content in attachments:
            if isinstance(content, (bytes, bytearray, memoryview)):
                outgoing.append(OutgoingAttachment(cid, mime, data=bytes(content)))
            else:
                outgoing.append(OutgoingAttachment(cid, mime, path=os.fspath(content)))
        resp = self.repository.call(C.ACTION_ITI41, body_element, outgoing, mtom=True)
        try:
            body = self._expect(resp, C.ACTION_ITI41_RESPONSE, "{%s}RegistryResponse" % C.NS_RS)
        finally:
            resp.close()
        return body

    # ------------------------------------------------------------------ ITI-43
    def retrieve(self, items: Sequence[tuple[str, str]], home_community_id: str | None = None
                 ) -> tuple[etree._Element, list[RetrievedDocument]]:
        """ITI-43 Retrieve Document Set for (repositoryUniqueId, documentUniqueId) pairs.

        Returns the response's ``rs:RegistryResponse`` (Success, PartialSuccess with errors for the
        documents not found, or Failure) and the documents found, in response order.
        """
        body = retrieve_request(list(items), home_community_id)
        resp = self.repository.call(C.ACTION_ITI43, body, mtom=True)
        try:
            root = self._expect(resp, C.ACTION_ITI43_RESPONSE, _X + "RetrieveDocumentSetResponse")
            registry_response = root.find("{%s}RegistryResponse" % C.NS_RS)
            if registry_response is None:
                raise SoapTransportError("RetrieveDocumentSetResponse without rs:RegistryResponse",
                                         resp.http_status)
            docs = [self._document(dr, resp, i) for i, dr in enumerate(root.findall(_X + "DocumentResponse"))]
        finally:
            resp.close()   # removes spool files not moved out by _document
        return registry_response, docs

    def _document(self, dr: etree._Element, resp: SoapResponse, index: int) -> RetrievedDocument:
        def text(local: str) -> str | None:
            el = dr.find(_X + local)
            return el.text.strip() if el is not None and el.text else None

        uid = text("DocumentUniqueId") or ""
        doc_el = dr.find(_X + "Document")
        if doc_el is None:
            raise SoapTransportError(f"DocumentResponse for {uid} without Document", resp.http_status)
        include = doc_el.find("{%s}Include" % C.NS_XOP)
        content: Union[bytes, Path]
        if include is None:  # inline base64 (a repository that answers without MTOM)
            content = base64.b64decode("".join(doc_el.itertext()))
        else:
            cid = cid_from_href(include.get("href", ""))
            att = resp.attachments.get(cid)
            if att is None:
                raise SoapTransportError(f"Document {uid}: attachment cid:{cid} missing from the reply",
                                         resp.http_status)
            if att.in_memory:
                content = att.read()
            else:
                target_dir = self.download_dir or Path(tempfile.mkdtemp(prefix="epd-retrieve-"))
                target_dir.mkdir(parents=True, exist_ok=True)
                target = target_dir / f"{index:03d}-{_safe_name(uid)}"
                shutil.move(att.spool_path, target)   # the attachment's own cleanup then finds nothing
                content = target
        return RetrievedDocument(repository_unique_id=text("RepositoryUniqueId") or "",
                                 document_unique_id=uid, mime_type=text("mimeType") or "",
                                 content=content, home_community_id=text("HomeCommunityId"))

    # ------------------------------------------------------------------ ITI-42 / ITI-18 (zeep)
    def register(self, submit_objects_request_element: etree._Element) -> etree._Element:
        """ITI-42 Register Document Set-b via zeep; returns ``rs:RegistryResponse``.

        ``submit_objects_request_element`` (an ``lcm:SubmitObjectsRequest``, e.g. from
        :func:`gateway.clients.submission.submit_objects_request` with ``for_register=True``) is
        moved into the envelope.
        """
        if submit_objects_request_element.tag != "{%s}SubmitObjectsRequest" % C.NS_LCM:
            raise ValueError("ITI-42 needs an lcm:SubmitObjectsRequest element")
        return self._zeep_call(OP_ITI42, submit_objects_request_element, C.ACTION_ITI42_RESPONSE,
                               "{%s}RegistryResponse" % C.NS_RS)

    def stored_query(self, adhoc_query_request_element: etree._Element) -> etree._Element:
        """ITI-18 Registry Stored Query via zeep; returns ``query:AdhocQueryResponse``."""
        if adhoc_query_request_element.tag != "{%s}AdhocQueryRequest" % C.NS_QUERY:
            raise ValueError("ITI-18 needs a query:AdhocQueryRequest element")
        return self._zeep_call(OP_ITI18, adhoc_query_request_element, C.ACTION_ITI18_RESPONSE,
                               "{%s}AdhocQueryResponse" % C.NS_QUERY)

    @property
    def zeep_client(self):
        """The zeep client on the registry's WSDL (loaded on first use, through ``self.session``).

        zeep settings: ``strict=False, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True``
        and ``forbid_external=False`` **with** :class:`SameOriginTransport`. zeep 4.3's
        ``forbid_external=True`` refuses every http(s) ``xsd:import``/``include`` reached from the
        entry document, same-origin ones included, so a served WSDL whose schemas sit at
        ``?xsd=...`` cannot load at all (``ExternalReferenceForbidden``). The transport enforces
        the intent of that setting instead: only documents on the registry URL's own
        scheme://host:port are fetched; any other URL (another host, ``file:``) is refused.

        No ``WsAddressingPlugin`` in ``plugins``: zeep 4 applies it by itself to every operation
        whose WSDL input carries wsam:/wsaw:Action (all of ours;
        ``zeep.wsdl.bindings.soap.SoapBinding._create``). Listing it again puts a second
        wsa:Action/MessageID/To into the header, which WS-Addressing forbids.
        """
        if self._zeep is None:
            import zeep
            settings = zeep.Settings(strict=False, xml_huge_tree=False, forbid_dtd=True,
                                     forbid_entities=True, forbid_external=False)
            transport = SameOriginTransport(self.registry_url, session=self.session, timeout=self.timeout,
                                            operation_timeout=self.timeout)
            self._zeep = zeep.Client(self.registry_url + "?wsdl", transport=transport, settings=settings,
                                     service_name=REGISTRY_SERVICE, port_name=REGISTRY_PORT)
        return self._zeep

    def _zeep_call(self, operation: str, body_element: etree._Element, response_action: str,
                   response_tag: str) -> etree._Element:
        """Send an lxml body through zeep's message pipeline.

        Why not ``client.service.<op>(**kwargs)``: zeep only takes raw lxml for ``xsd:any``
        content (``_value_1`` / ``AnyObject``), and ``lcm:SubmitObjectsRequest`` is strictly typed;
        this client takes and returns lxml elements, which would otherwise have to be converted to
        zeep objects and back (the served WSDL's schemas expand the ``rim:Identifiable``
        substitution group, so zeep can type ExtrinsicObject, RegistryPackage... when an
        integrator calls ``client.service`` directly: README, "Calling the gateway with zeep").
        So: ``client.create_message`` builds the envelope for the
        operation (SOAP 1.2 from the binding, WS-Addressing Action/MessageID/To from the WSDL's
        wsam:Action, plugins, WS-Security if configured) around an empty request (its required
        children passed as ``zeep.xsd.SkipValue``), the Body's content is replaced by our element, and ``client.transport.post_xml`` posts it to the port's
        address. The reply is parsed with the gateway's hardened parser and returned as lxml, its
        fault (if any) raised as :class:`SoapFaultError`.
        """
        client = self.zeep_client
        from zeep.xsd import SkipValue
        # the required children are skipped (not rendered, not validated): the Body is replaced below
        envelope = client.create_message(client.service, operation,
                                         **{name: SkipValue for name in _REQUIRED_CHILDREN[operation]})
        body = envelope.find("{%s}Body" % NS_SOAP12)
        for child in list(body):
            body.remove(child)
        body.append(body_element)
        if self.assertion is not None:
            from gateway.clients.soap import add_security_header
            add_security_header(envelope, self.assertion)
        action = envelope.findtext("{%s}Header/{%s}Action" % (NS_SOAP12, NS_WSA))
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        address = client.wsdl.services[REGISTRY_SERVICE].ports[REGISTRY_PORT].binding_options["address"]
        http = client.transport.post_xml(address, envelope, headers)
        return self._read_plain(http, response_action, response_tag)

    # ------------------------------------------------------------------ replies
    def _read_plain(self, http: requests.Response, action: str, tag: str) -> etree._Element:
        ctype = http.headers.get("Content-Type", "")
        if "xml" not in ctype.lower():
            raise SoapTransportError(f"HTTP {http.status_code}: not a SOAP 1.2 reply ({ctype or 'no content type'})",
                                     http.status_code)
        try:
            envelope = parse_xml(http.content)
        except SoapFault as exc:
            raise SoapTransportError(f"HTTP {http.status_code}: {exc.reason}", http.status_code) from None
        fault = read_fault(envelope)
        if fault is not None:
            raise SoapFaultError(fault.code, fault.reason, fault.subcode, http.status_code, fault.detail, envelope)
        got = envelope.findtext("{%s}Header/{%s}Action" % (NS_SOAP12, NS_WSA))
        body = envelope.find("{%s}Body" % NS_SOAP12)
        first = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        return self._check(first, got, action, tag, http.status_code)

    def _expect(self, resp: SoapResponse, action: str, tag: str) -> etree._Element:
        return self._check(resp.body, resp.action, action, tag, resp.http_status)

    def _check(self, body: etree._Element | None, got_action: str | None, action: str, tag: str,
               status: int) -> etree._Element:
        if got_action is None and self.require_action:
            raise SoapTransportError(f"reply without wsa:Action, expected {action!r}", status)
        if got_action is not None and got_action.strip() != action:
            raise SoapTransportError(f"reply has wsa:Action {got_action!r}, expected {action!r}", status)
        if body is None or body.tag != tag:
            found = body.tag if body is not None else "an empty Body"
            raise SoapTransportError(f"reply carries {found}, expected {tag}", status)
        return body
