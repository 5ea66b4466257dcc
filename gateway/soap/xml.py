"""The hardened XML parser every inbound byte goes through.

* A DOCTYPE is refused outright, wherever it stands in the prolog (behind comments and processing
  instructions of any length, across any chunk boundary, in UTF-8, UTF-16 or any ASCII-compatible
  encoding): no DTD reaches libxml2, hence no entity declarations: no billion laughs, no XXE. The
  prolog is scanned by :class:`_PrologScanner` before the parser sees the bytes; the parsed tree's
  docinfo is checked again afterwards.
* Entities are never resolved, nothing is loaded from the network or the file system.
* libxml2's resource limits stay on. The one exception: a single text node past 10 MB (inline
  base64 documents in ITI-41/43) makes the parser retry once with ``huge_tree``, and only for that
  error. The retry keeps the other limits itself: nesting depth (:data:`MAX_DEPTH`, libxml2's
  own default), attribute values (:data:`MAX_ATTRIBUTE`) and names (:data:`MAX_NAME`).
"""
from __future__ import annotations

import codecs
import io
from typing import BinaryIO

from lxml import etree

from .fault import SoapFault

_CHUNK = 1 << 16
_LEADING_WS = b" \t\r\n"
_WS = " \t\r\n"

#: libxml2's limits without XML_PARSE_HUGE, which the huge-text retry keeps.
MAX_DEPTH = 256
MAX_ATTRIBUTE = 10_000_000
MAX_NAME = 50_000

_TEXT_TOO_LONG = "Text node too long"


def _parser(huge: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, load_dtd=False, dtd_validation=False, no_network=True,
        huge_tree=huge, remove_comments=False, collect_ids=False,
    )


def _doctype_fault() -> SoapFault:
    return SoapFault("Sender", "XML with a DOCTYPE is not accepted")


class _PrologScanner:
    """Reads the prolog (XML declaration, comments, processing instructions, white space) as the
    bytes arrive and raises the DOCTYPE fault if a ``<!DOCTYPE`` comes before the root element.

    Only the few characters of markup a token boundary needs are kept, so a comment of any length
    costs no memory. The bytes are decoded as UTF-16 when the document starts with a UTF-16 byte
    order mark or a ``<`` in UTF-16, else as Latin-1 (every ASCII-compatible encoding, UTF-8
    included, spells the prolog's markup in the same bytes).
    """

    def __init__(self) -> None:
        self.done = False
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending = ""          # undecided markup at the end of what was fed so far
        self._state = "prolog"      # prolog | comment | pi
        self._head = b""            # the first bytes, until there are enough to tell the encoding

    def feed(self, chunk: bytes) -> None:
        if self.done:
            return
        if self._decoder is None:
            self._head += chunk
            if len(self._head) < 2:
                return
            chunk, self._head = self._head, b""
            self._decoder = codecs.getincrementaldecoder(self._encoding(chunk))(errors="replace")
        self._scan(self._pending + self._decoder.decode(chunk))

    @staticmethod
    def _encoding(head: bytes) -> str:
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
        if head[:2] == b"<\x00":
            return "utf-16-le"
        if head[:2] == b"\x00<":
            return "utf-16-be"
        return "latin-1"

    def _scan(self, text: str) -> None:  # noqa: C901 (one small state machine)
        i, n = 0, len(text)
        while i < n:
            if self._state == "comment":
                end = text.find("-->", i)
                if end < 0:
                    self._pending = text[max(i, n - 2):]
                    return
                i, self._state = end + 3, "prolog"
                continue
            if self._state == "pi":
                end = text.find("?>", i)
                if end < 0:
                    self._pending = text[max(i, n - 1):]
                    return
                i, self._state = end + 2, "prolog"
                continue
            ch = text[i]
            if ch in _WS or ch == "\ufeff":
                i += 1
                continue
            if ch != "<":
                self.done = True        # not markup: the parser reports what is wrong
                return
            rest = text[i:i + 9]
            if rest.startswith("<?"):
                i, self._state = i + 2, "pi"
            elif rest.startswith("<!--"):
                i, self._state = i + 4, "comment"
            elif rest.upper().startswith("<!DOCTYPE"):
                raise _doctype_fault()
            elif len(rest) < 9 and ("<!--".startswith(rest) or "<!DOCTYPE".startswith(rest.upper())
                                    or rest == "<"):
                self._pending = text[i:]  # a token cut by the chunk boundary
                return
            else:
                self.done = True        # the root element (or markup the parser refuses)
                return
        self._pending = ""


def _feed(source: BinaryIO, huge: bool) -> etree._Element:
    if huge:
        return _feed_huge(source)
    parser = _parser(False)
    scanner = _PrologScanner()
    started = False
    for chunk in _chunks(source):
        started = True
        scanner.feed(chunk)
        parser.feed(chunk)
    if not started:
        raise SoapFault("Sender", "empty XML document")
    return parser.close()


def _chunks(source: BinaryIO):
    """The source's chunks, white space before an XML declaration dropped (seen in MTOM root parts)."""
    first = True
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            return
        if first:
            chunk = chunk.lstrip(_LEADING_WS)
            if not chunk:
                continue
            first = False
        yield chunk


def _feed_huge(source: BinaryIO) -> etree._Element:
    """The retry for a text node past 10 MB: ``huge_tree``, with depth, attribute and name limits
    checked here as the elements arrive (``huge_tree`` would lift them all)."""
    parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False, load_dtd=False,
                                 dtd_validation=False, no_network=True, huge_tree=True,
                                 remove_comments=False, collect_ids=False)
    scanner = _PrologScanner()
    depth = 0
    started = False
    for chunk in _chunks(source):
        started = True
        scanner.feed(chunk)
        parser.feed(chunk)
        for event, el in parser.read_events():
            if event == "end":
                depth -= 1
                continue
            depth += 1
            if depth > MAX_DEPTH:
                raise SoapFault("Sender", f"malformed XML: nesting depth past {MAX_DEPTH}")
            if len(el.tag) > MAX_NAME:
                raise SoapFault("Sender", "malformed XML: name too long")
            for name, value in el.attrib.items():
                if len(value) > MAX_ATTRIBUTE or len(name) > MAX_NAME:
                    raise SoapFault("Sender", f"malformed XML: attribute value past {MAX_ATTRIBUTE} bytes")
    if not started:
        raise SoapFault("Sender", "empty XML document")
    return parser.close()


def _is_huge_text_error(exc: etree.XMLSyntaxError) -> bool:
    """Only libxml2's text-node size limit is retried (its depth, attribute, name and buffer
    errors also say "try XML_PARSE_HUGE": those stay refusals)."""
    return _TEXT_TOO_LONG in str(exc)


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
        raise _doctype_fault()
    return root
