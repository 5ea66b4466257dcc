"""AdhocQueryResponse (ITI TF-2a 3.18.4.2): LeafClass or ObjectRef answers, and failures.

LeafClass returns each object's ebRIM element exactly as registered (the ``xml`` of its row), with
``status`` set from the registry (full URN, so a Deprecated entry says so) and ``home`` set to the
homeCommunityId. ObjectRef returns ``rim:ObjectRef id=... home=...``. Objects come in a fixed order:
SubmissionSets, Folders, DocumentEntries, Associations, each in registration order.

A LeafClass answer is put together as text: each stored element with ``status`` and ``home`` written
into its root start tag (:func:`set_root_attributes`), then the whole response parsed **once** (the
SOAP layer takes an element). Parsing each stored element on its own and moving it into the response
tree (namespace reconciliation of every node) cost about twice as much; the infoset is the same.
"""
from __future__ import annotations

import re
from typing import Iterable

from lxml import etree

from . import constants as C
from .ebrim import error_list
from .errors import XdsError
from .query_ports import QueryResult

_QUERY_RESPONSE = f"{{{C.NS_QUERY}}}AdhocQueryResponse"
_NSMAP = {"query": C.NS_QUERY, "rim": C.NS_RIM}
_STATUS_PREFIX = "urn:oasis:names:tc:ebxml-regrep:StatusType:"
_LEAF_HEAD = (f'<query:AdhocQueryResponse xmlns:query="{C.NS_QUERY}" xmlns:rim="{C.NS_RIM}" '
              f'status="{C.RESPONSE_SUCCESS}"><rim:RegistryObjectList>')
_LEAF_TAIL = "</rim:RegistryObjectList></query:AdhocQueryResponse>"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False, huge_tree=False)


def full_status(short: str) -> str:
    return short if short.startswith("urn:") else _STATUS_PREFIX + short


_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
#: the root start tag: name, attributes (each quoted with " or '), end
_START_TAG = re.compile(r"""\s*(?:<\?xml[^>]*\?>\s*)?<([^\s/>?!=]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)(\s*/?>)""")
_ATTR = re.compile(r"""(\s+)([^\s=/>]+)(\s*=\s*)("[^"]*"|'[^']*')""")


def set_root_attributes(xml: str, attrs: dict[str, str]) -> str:
    """``xml`` (one element, as stored) with the unprefixed attributes ``attrs`` set on its root start tag.

    Same infoset as ``el.set(name, value)`` on the parsed root: an attribute present keeps its place and
    gets the new value, a new one is appended. Raises ValueError if ``xml`` does not start with an
    element start tag (an XML declaration before it is dropped).
    """
    m = _START_TAG.match(xml)
    if m is None:
        raise ValueError("not an element")
    todo = dict(attrs)

    def repl(a: re.Match) -> str:
        name = a.group(2)
        if name in todo:
            return f'{a.group(1)}{name}{a.group(3)}"{todo.pop(name).translate(_ESCAPE)}"'
        return a.group(0)

    attributes = _ATTR.sub(repl, m.group(2))
    added = "".join(f' {name}="{value.translate(_ESCAPE)}"' for name, value in todo.items())
    return f"<{m.group(1)}{attributes}{added}{m.group(3)}{xml[m.end():]}"


def _leaf(xml: str, status: str, home: str):
    el = etree.fromstring(xml.encode("utf-8"), _PARSER)
    el.set("status", full_status(status))
    el.set("home", home)
    return el


def _rows(result: QueryResult) -> Iterable:
    yield from result.submission_sets
    yield from result.folders
    yield from result.documents
    yield from result.associations


def leaf_class_text(result: QueryResult, home_community_id: str) -> bytes | None:
    """The LeafClass ``AdhocQueryResponse`` as UTF-8 text built from the stored metadata text
    (``status`` and ``home`` set on each root start tag), or None when a stored element cannot be
    taken that way (the caller then builds it as a tree)."""
    parts = [_LEAF_HEAD]
    try:
        for row in _rows(result):
            parts.append(set_root_attributes(row.xml, {"status": full_status(row.status), "home": home_community_id}))
    except ValueError:
        return None
    parts.append(_LEAF_TAIL)
    return "".join(parts).encode("utf-8")


def query_response(result: QueryResult, return_type: str, home_community_id: str,
                   warnings: list[XdsError] | None = None):
    """A Success ``query:AdhocQueryResponse`` carrying ``result``."""
    if return_type != "ObjectRef" and not warnings:
        text = leaf_class_text(result, home_community_id)
        if text is not None:
            try:
                return etree.fromstring(text, _PARSER)
            except etree.XMLSyntaxError:   # a stored element the text path cannot take
                pass
    resp = etree.Element(_QUERY_RESPONSE, nsmap=_NSMAP, status=C.RESPONSE_SUCCESS)
    if warnings:
        resp.append(error_list(warnings))
    rol = etree.SubElement(resp, C.rim("RegistryObjectList"))
    if return_type == "ObjectRef":
        tag = C.rim("ObjectRef")
        for row in _rows(result):
            etree.SubElement(rol, tag, id=row.entry_uuid, home=home_community_id)
    else:
        for row in _rows(result):
            rol.append(_leaf(row.xml, row.status, home_community_id))
    return resp


def failure_response(errors: list[XdsError]):
    """A Failure ``query:AdhocQueryResponse`` with the errors and an empty RegistryObjectList."""
    resp = etree.Element(_QUERY_RESPONSE, nsmap=_NSMAP, status=C.RESPONSE_FAILURE)
    resp.append(error_list(errors))
    etree.SubElement(resp, C.rim("RegistryObjectList"))
    return resp


def empty_response():
    """Success with no objects (for instance: a patient unknown to the MPI)."""
    return query_response(QueryResult(), "ObjectRef", "")
