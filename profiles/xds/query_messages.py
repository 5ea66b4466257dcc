"""The messages of the XDS read side (ITI-18 Registry Stored Query, ITI-43 Retrieve Document Set).

One catalogue: every error the read side reports is one of these entries, each with its IHE error code
(ITI TF-3 Table 4.2.4.1-2) and its text (a :meth:`str.format` template naming the values it reports).
Call sites build the :class:`~.errors.XdsError` through the entry (``UNKNOWN_STORED_QUERY.error(query_id,
query_id=query_id)``), never from a literal code and text.

Same shape as the write side's ``profiles/xds/messages.py`` (each entry: IHE code and text); the two
catalogues are to be folded into one per profile.
"""
from __future__ import annotations

from dataclasses import dataclass

from profiles.authorization import Decision
from profiles.outcome import Problem

from .constants import SEVERITY_ERROR
from .errors import (XDS_DOCUMENT_UNIQUE_ID_ERROR, XDS_REGISTRY_ERROR, XDS_REPOSITORY_ERROR,
                     XDS_RESULT_NOT_SINGLE_PATIENT, XDS_STORED_QUERY_PARAM_NUMBER, XDS_TOO_MANY_RESULTS,
                     XDS_UNKNOWN_COMMUNITY, XDS_UNKNOWN_REPOSITORY_ID, XDS_UNKNOWN_STORED_QUERY, XdsError,
                     XdsFailure)


@dataclass(frozen=True)
class Message:
    """One catalogue entry: the IHE error ``code`` and the ``text`` template of its codeContext."""

    code: str
    text: str
    severity: str = SEVERITY_ERROR

    def error(self, location: str = "", **values: object) -> XdsError:
        """The error this message reports, its text filled with ``values``; ``location``: the object."""
        return XdsError(self.code, self.text.format(**values), location, self.severity)

    def failure(self, location: str = "", **values: object) -> XdsFailure:
        return XdsFailure(self.error(location, **values))


# -- ITI-18: the AdhocQueryRequest ------------------------------------------------------------------
NOT_AN_ADHOC_QUERY_REQUEST = Message(XDS_REGISTRY_ERROR, "the body is not a query:AdhocQueryRequest")
NO_RESPONSE_OPTION = Message(XDS_REGISTRY_ERROR, "AdhocQueryRequest has no ResponseOption")
UNSUPPORTED_RETURN_TYPE = Message(XDS_REGISTRY_ERROR, "ResponseOption returnType {return_type!r} is not "
                                                      "supported (LeafClass or ObjectRef)")
NO_ADHOC_QUERY = Message(XDS_REGISTRY_ERROR, "AdhocQueryRequest has no rim:AdhocQuery")
UNKNOWN_STORED_QUERY = Message(XDS_UNKNOWN_STORED_QUERY, "unknown stored query id {query_id!r}")
MALFORMED_VALUE = Message(XDS_REGISTRY_ERROR, "parameter {param}: {reason}")
TOO_MANY_VALUES = Message(XDS_REGISTRY_ERROR, "parameter {param} has more than {limit} values; this registry "
                                              "takes at most {limit} values per stored-query parameter "
                                              "(limit max_query_parameter_values)")

# -- ITI-18: the parameters against the catalogue (TF-2a 3.18.4.1.2.3.7) ---------------------------
PARAM_MISSING = Message(XDS_STORED_QUERY_PARAM_NUMBER, "{query}: required parameter {param} is missing")
PARAM_REPEATED = Message(XDS_STORED_QUERY_PARAM_NUMBER,
                         "{query}: parameter {param} is given {count} times; it may occur once")
PARAM_SINGLE_VALUED = Message(XDS_STORED_QUERY_PARAM_NUMBER,
                              "{query}: parameter {param} takes a single value, got {count}")
PARAM_WITHOUT_VALUE = Message(XDS_STORED_QUERY_PARAM_NUMBER, "{query}: parameter {param} has no value")
ALTERNATIVES_BOTH = Message(XDS_STORED_QUERY_PARAM_NUMBER,
                            "{query}: {present} are alternatives; give only one of them")
ALTERNATIVES_NONE = Message(XDS_STORED_QUERY_PARAM_NUMBER, "{query}: one of {group} is required")

# -- ITI-18: malformed values (XDSRegistryError naming the parameter) ------------------------------
BAD_PATIENT_ID = Message(XDS_REGISTRY_ERROR,
                         "{query}: parameter {param}: {value!r} is not a patient id ID^^^&OID&ISO ({reason})")
BAD_STATUS = Message(XDS_REGISTRY_ERROR, "{query}: parameter {param}: {value!r} is not a status "
                                         "({prefix}Approved, ...)")
BAD_CODE = Message(XDS_REGISTRY_ERROR, "{query}: parameter {param}: {value!r} is not a code with its coding "
                                       "scheme (code^^scheme)")
BAD_TIME = Message(XDS_REGISTRY_ERROR, "{query}: parameter {param}: {value!r} is not an HL7 DTM "
                                       "(YYYY[MM[DD[hh[mm[ss]]]]], UTC)")
BAD_ENTRY_TYPE = Message(XDS_REGISTRY_ERROR, "{query}: parameter {param}: {value!r} is neither {stable} "
                                             "(stable) nor {on_demand} (on-demand)")
EMPTY_VALUE = Message(XDS_REGISTRY_ERROR, "{query}: parameter {param}: '' is empty")
UNSUPPORTED_METADATA_LEVEL = Message(XDS_REGISTRY_ERROR, "{query}: $MetadataLevel {value!r} is not supported; "
                                                         "the Swiss EPR registry serves metadata level 1 only")

# -- ITI-18: execution -----------------------------------------------------------------------------
TOO_MANY_RESULTS = Message(XDS_TOO_MANY_RESULTS, "the query matches {count} objects; this registry returns at "
                                                 "most {limit}. Narrow the query.")
RESULT_NOT_SINGLE_PATIENT = Message(XDS_RESULT_NOT_SINGLE_PATIENT,
                                    "{query}: the objects found belong to {count} patients; a LeafClass answer "
                                    "carries the metadata of one patient only (ask for ObjectRef)")
#: the transaction's authorization policy refused the whole request (its decision's code, when it has one)
QUERY_NOT_AUTHORIZED = Message(XDS_REGISTRY_ERROR, "{reason}")
QUERY_FAILED = Message(XDS_REGISTRY_ERROR, "the registry could not run the query (internal error, request id "
                                           "{request_id})")

# -- ITI-43 ----------------------------------------------------------------------------------------
NOT_A_RETRIEVE_REQUEST = Message(XDS_REPOSITORY_ERROR, "expected xds:RetrieveDocumentSetRequest")
INCOMPLETE_DOCUMENT_REQUEST = Message(XDS_REPOSITORY_ERROR,
                                      "DocumentRequest needs RepositoryUniqueId and DocumentUniqueId")
NO_DOCUMENT_REQUEST = Message(XDS_REPOSITORY_ERROR, "RetrieveDocumentSetRequest has no DocumentRequest")
TOO_MANY_DOCUMENTS = Message(XDS_REPOSITORY_ERROR,
                             "RetrieveDocumentSetRequest asks for {count} documents; this repository returns at "
                             "most {limit} documents per request (limit max_retrieve_documents)")
UNKNOWN_COMMUNITY = Message(XDS_UNKNOWN_COMMUNITY, "homeCommunityId {requested} is not this community ({home})")
UNKNOWN_REPOSITORY = Message(XDS_UNKNOWN_REPOSITORY_ID,
                             "repositoryUniqueId {requested} is not this repository ({repository})")
RETRIEVE_NOT_AUTHORIZED = Message(XDS_REPOSITORY_ERROR, "{reason}")
#: an unknown document, and a document the caller may not read (indistinguishable by design)
UNKNOWN_DOCUMENT = Message(XDS_DOCUMENT_UNIQUE_ID_ERROR, "document {unique_id} is not in this repository")


def problems(errors: tuple[XdsError, ...] | list[XdsError]) -> tuple[Problem, ...]:
    """XDS errors as an Outcome's problems (code, codeContext, location, severity)."""
    return tuple(Problem(e.code, e.context, e.location, "Error" if e.severity == SEVERITY_ERROR else "Warning")
                 for e in errors)


def denied(message: Message, decision: Decision) -> XdsError:
    """The error a request refused by the authorization policy is answered with: the decision's code
    (or the message's) and its reason."""
    error = message.error(reason=decision.reason or "the request is not authorized")
    return XdsError(decision.code or error.code, error.context, error.location, error.severity)
