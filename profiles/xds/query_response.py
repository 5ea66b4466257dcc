"""AdhocQueryResponse (ITI TF-2a 3.18.4.2): LeafClass or ObjectRef answers, and failures.

LeafClass returns each object's ebRIM element exactly as registered (the ``xml`` of its row), with
``status`` set from the registry (full URN, so a Deprecated entry says so) and ``home`` set to the
homeCommunityId. ObjectRef returns ``rim:ObjectRef id=... home=...``. Objects come in a fixed order:
SubmissionSets, Folders, DocumentEntries, Associations, each in registration order.
"""
from __future__ import annotations

from typing import Iterable

from lxml import etree

from . import constants as C
from .ebrim import error_list
from .errors import XdsError
from .query_ports import QueryResult

_QUERY_RESPONSE = f"{{{C.NS_QUERY}}}AdhocQueryResponse"
_NSMAP = {"query": C.NS_QUERY, "rim": C.NS_RIM}
_STATUS_PREFIX = "urn:oasis:names:tc:ebxml-regrep:StatusType:"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False, huge_tree=False)


def full_status(short: str) -> str:
    return short if short.startswith("urn:") else _STATUS_PREFIX + short


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


def query_response(result: QueryResult, return_type: str, home_community_id: str,
                   warnings: list[XdsError] | None = None):
    """A Success ``query:AdhocQueryResponse`` carrying ``result``."""
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
