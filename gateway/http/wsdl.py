"""The WSDL of a SOAP endpoint and the schemas beside it, served at ``?wsdl`` and ``?xsd=PATH``.

Relative ``schemaLocation``/``location`` references in a served document are rewritten to
``?xsd=`` URLs of the endpoint, and ``soap12:address/@location`` to the endpoint's URL: under
``public_url`` when one is configured (behind a proxy), else the URL the document was fetched from.
Only files below the WSDL's directory are served.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, quote

from lxml import etree
from twisted.web import server

from gateway.soap.fault import SoapFault

_SCHEMA_LOCATION_ATTRS = ("schemaLocation", "location")
_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def public_endpoint_url(public_url: str, path: bytes | str) -> str:
    """The endpoint at ``path`` under ``public_url`` (``https://epd.example/gw`` + ``/pix``)."""
    if isinstance(path, bytes):
        path = path.decode("latin-1")
    return public_url.rstrip("/") + "/" + path.lstrip("/")


class ServiceDescription:
    """The documents of one endpoint: its WSDL at ``wsdl_path`` and everything below its folder."""

    def __init__(self, wsdl_path: str | Path, public_url: str = "") -> None:
        self.wsdl_path = Path(wsdl_path).resolve()
        self.public_url = public_url

    def render(self, request: server.Request) -> bytes | None:
        """The document a GET asks for, or ``None`` (404) for anything else."""
        query = request.uri.partition(b"?")[2].decode("latin-1")
        args = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
        if "xsd" in args:
            base = self.wsdl_path.parent
            target = (base / args["xsd"]).resolve()
            if not target.is_relative_to(base) or not target.is_file():
                return None
        elif "wsdl" in args:
            target = self.wsdl_path
            if not target.is_file():
                return None
        else:
            return None
        try:
            return self._rewrite(self.endpoint_url(request), target)
        except SoapFault:
            return target.read_bytes()

    def endpoint_url(self, request: server.Request) -> str:
        if self.public_url:
            return public_endpoint_url(self.public_url, request.path)
        return str(request.URLPath()).split("?", 1)[0]

    def _rewrite(self, own_url: str, path: Path) -> bytes:
        from gateway.soap.xml import parse_xml
        doc = parse_xml(path.read_bytes())
        root_dir = self.wsdl_path.parent
        for el in doc.iter():
            if not isinstance(el.tag, str):
                continue
            local = etree.QName(el).localname
            if local in ("import", "include", "redefine"):
                for attr in _SCHEMA_LOCATION_ATTRS:
                    ref = el.get(attr)
                    if ref and not _ABSOLUTE.match(ref):
                        target = (path.parent / ref).resolve()
                        if target.is_relative_to(root_dir):
                            rel = target.relative_to(root_dir).as_posix()
                            el.set(attr, f"{own_url}?xsd={quote(rel)}")
            elif local == "address" and el.get("location") is not None:
                el.set("location", own_url)
        return etree.tostring(doc, encoding="UTF-8", xml_declaration=True)
