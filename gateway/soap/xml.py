"""The hardened XML parser every inbound byte goes through.

* A DOCTYPE is refused outright (no DTD, hence no entity declarations: no billion laughs, no XXE).
* Entities are never resolved, nothing is loaded from the network or the file system.
* libxml2's resource limits stay on. The one exception: a single text node past 10 MB (inline
  base64 documents in ITI-41/43) makes the parser retry once with ``huge_tree`` -- still without
  any DTD, so the only thing the retry relaxes is the size of text and names.
"""
from __future__ import annotations

import io
import re
from typing import BinaryIO

from lxml import etree

from .fault import SoapFault

_CHUNK = 1 << 16
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_LEADING_WS = b" \t\r\n"


def _parser(huge: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, load_dtd=False, dtd_validation=False, no_network=True,
        huge_tree=huge, remove_comments=False, collect_ids=False,
    )


def _feed(source: BinaryIO, huge: bool) -> etree._Element:
    parser = _parser(huge)
    first = True
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        if first:
            # Tolerate whitespace before an XML declaration (seen in MTOM root parts).
            chunk = chunk.lstrip(_LEADING_WS)
            if not chunk:
                continue
            first = False
            head = chunk[:4096]
            root_start = re.search(rb"<[^?!]", head)
            if _DOCTYPE.search(head[: root_start.start()] if root_start else head):
                raise SoapFault("Sender", "XML with a DOCTYPE is not accepted")
        parser.feed(chunk)
    if first:
        raise SoapFault("Sender", "empty XML document")
    root = parser.close()
    return root


def _is_huge_text_error(exc: etree.XMLSyntaxError) -> bool:
    return "huge" in str(exc).lower() or "XML_PARSE_HUGE" in str(exc)


def parse_xml(data: bytes | bytearray | memoryview | BinaryIO) -> etree._Element:
    """Parse ``data`` (bytes or a binary file object) with the hardened parser; return the root.

    Raises :class:`SoapFault` (``Sender``) for malformed XML, a DOCTYPE, or an empty document.
    A file object must be seekable for the huge-text retry; otherwise that retry is a fault too.
    """
    source: BinaryIO = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        start = source.tell() if source.seekable() else None
    except (OSError, AttributeError):
        start = None
    try:
        try:
            root = _feed(source, huge=False)
        except etree.XMLSyntaxError as exc:
            if not _is_huge_text_error(exc) or start is None:
                raise
            source.seek(start)
            root = _feed(source, huge=True)
    except (etree.LxmlError, ValueError) as exc:
        raise SoapFault("Sender", f"malformed XML: {exc}") from None
    if root is None:
        raise SoapFault("Sender", "malformed XML: no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SoapFault("Sender", "XML with a DOCTYPE is not accepted")
    return root
