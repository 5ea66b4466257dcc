"""The catalogue of XDS messages: every problem an XDS rule reports, each with its IHE error code.

One entry per message (the idea of IPF's ``ValidationMessage``): a call site names the entry and
fills its fields, ``MISSING_ATTRIBUTE(obj_id, attr="XDSDocumentEntry.mimeType")``, and gets the
:class:`~profiles.xds.errors.XdsError` to report. The error codes themselves are defined in
``errors.py`` only. Append new entries at the end of their group; the write side's entries come
first, then the read side's (ITI-18, ITI-43).
"""
from __future__ import annotations

from dataclasses import dataclass

from profiles.authorization import Decision
from profiles.outcome import Problem

from .constants import SEVERITY_ERROR
from .errors import (XDS_DOCUMENT_UNIQUE_ID_ERROR, XDS_DUPLICATE_UNIQUE_ID, XDS_MISSING_DOCUMENT,
                     XDS_MISSING_DOCUMENT_METADATA, XDS_NON_IDENTICAL_HASH, XDS_NON_IDENTICAL_SIZE,
                     XDS_PATIENT_ID_DOES_NOT_MATCH, XDS_REGISTRY_ERROR, XDS_REGISTRY_METADATA_ERROR,
                     XDS_REPOSITORY_ERROR, XDS_REPOSITORY_METADATA_ERROR, XDS_RESULT_NOT_SINGLE_PATIENT,
                     XDS_STORED_QUERY_PARAM_NUMBER, XDS_TOO_MANY_RESULTS, XDS_UNKNOWN_COMMUNITY,
                     XDS_UNKNOWN_PATIENT_ID, XDS_UNKNOWN_REPOSITORY_ID, XDS_UNKNOWN_STORED_QUERY, XdsError,
                     XdsFailure)


@dataclass(frozen=True)
class Message:
    """A catalogue entry: the IHE ``code`` and the ``text`` (a ``str.format`` template)."""

    code: str
    text: str
    severity: str = SEVERITY_ERROR

    def __call__(self, location: str = "", **values: object) -> XdsError:
        return XdsError(self.code, self.text.format(**values), location or "", self.severity)

    def error(self, location: str = "", **values: object) -> XdsError:
        """The error this message reports, its text filled with ``values``; ``location``: the object."""
        return self(location, **values)

    def failure(self, location: str = "", **values: object) -> XdsFailure:
        return XdsFailure(self(location, **values))


M = XDS_REGISTRY_METADATA_ERROR

# -- structure of the SubmitObjectsRequest (ebrim.parse_submission) ---------------------------
EXPECTED_SUBMIT_OBJECTS = Message(M, "expected lcm:SubmitObjectsRequest")
NO_REGISTRY_OBJECT_LIST = Message(M, "SubmitObjectsRequest has no RegistryObjectList")
UNSUPPORTED_STANDALONE_CLASSIFICATION = Message(M, "unsupported standalone Classification node {node!r}")
UNEXPECTED_ELEMENT = Message(M, "unexpected element {name} in RegistryObjectList")
NO_SUBMISSION_SET = Message(M, "the submission has no SubmissionSet (RegistryPackage classified {node})")
MORE_THAN_ONE_SUBMISSION_SET = Message(M, "a submission carries exactly one SubmissionSet; found more")
UNCLASSIFIED_PACKAGE = Message(M, "RegistryPackage is classified neither as SubmissionSet nor as Folder (or as both)")
CLASSIFICATION_OF_OTHER_OBJECT = Message(M, "Classification {id} classifies {target}, not its parent {parent}")
IDENTIFIER_OF_OTHER_OBJECT = Message(M, "ExternalIdentifier {id} points to {target}, not its parent {parent}")
AT_MOST_ONCE = Message(M, "{attr} must occur at most once, found {count}")
EXACTLY_ONCE = Message(M, "{attr} must occur once, found {count}")
SINGLE_VALUED_SLOT = Message(M, "slot {name} must have a single value")
TOO_MANY_OBJECTS = Message(XDS_REGISTRY_ERROR, "the submission holds {count} objects, more than the limit of {limit} "
                                               "objects per submission (max_submission_objects)")

# -- IHE rules on the metadata (validate.py) ---------------------------------------------------
MISSING_ATTRIBUTE = Message(M, "{attr} is required and missing")
MISSING_IN_REGISTER = Message(M, "{attr} is required in Register Document Set-b and missing")
CODE_WITHOUT_VALUE = Message(M, "{attr} has no code (nodeRepresentation)")
CODE_WITHOUT_SCHEME = Message(M, "{attr} {code!r} has no codingScheme slot")
NOT_A_DTM = Message(M, "{attr} {value!r} is not an HL7 DTM (YYYY[MM[DD[hh[mm[ss]]]]])")
NOT_AN_OID = Message(M, "{attr} {value!r} is not an OID")
NOT_A_DOCUMENT_UNIQUE_ID = Message(M, "{attr} {value!r} is not an OID (or OID^extension) of at most 128 characters")
NOT_A_CX = Message(M, "{attr} {value!r} is not a CX id^^^&OID&ISO")
NOT_A_SHA1 = Message(M, "{attr} {value!r} is not 40 hexadecimal digits (SHA-1)")
NOT_A_SIZE = Message(M, "{attr} {value!r} is not a non-negative integer")
BAD_OBJECT_TYPE = Message(M, "{attr} {value!r} is neither stable nor on-demand")
EMPTY_AUTHOR = Message(M, "{kind}.author has none of authorPerson, authorInstitution, authorRole, "
                          "authorSpecialty, authorTelecommunication")
OBJECT_WITHOUT_ID = Message(M, "an object in the submission has no id")
ID_USED_TWICE = Message(M, "id {id!r} is used twice in the submission")
BAD_ASSOCIATION_TYPE = Message(M, "Association.associationType {value!r} is not an XDS association type")
ASSOCIATION_ENDS_MISSING = Message(M, "Association needs sourceObject and targetObject")
MISSING_SUBMISSION_SET_STATUS = Message(M, "HasMember from the SubmissionSet to a DocumentEntry needs the slot "
                                           "SubmissionSetStatus = Original or Reference")
PATIENT_ID_DIFFERS = Message(XDS_PATIENT_ID_DOES_NOT_MATCH,
                             "patientId {value!r} of {id} differs from the SubmissionSet's {expected!r}")
NOT_A_MEMBER = Message(M, "{kind} {id} is not linked to the SubmissionSet by a HasMember association")
UNSUPPORTED_ASSOCIATION = Message(M, "association type {type} is not supported")

# -- the registry's content (registry.py, inside the write transaction) --------------------------
UNKNOWN_PATIENT = Message(XDS_UNKNOWN_PATIENT_ID, "patient {pid!r} is not known to this community's MPI "
                                                  "(patient ids are MPI-PIDs under {mpi_oid})")
NON_IDENTICAL_HASH = Message(XDS_NON_IDENTICAL_HASH, "document {uid} is already registered with hash {old}, "
                                                     "this submission says {new}")
NON_IDENTICAL_SIZE = Message(XDS_NON_IDENTICAL_SIZE, "document {uid} is already registered with size {old}, "
                                                     "this submission says {new}")
UNIQUE_ID_IN_USE = Message(XDS_DUPLICATE_UNIQUE_ID, "uniqueId {uid} is already registered")
DOCUMENT_UNIQUE_ID_IN_USE = Message(XDS_DUPLICATE_UNIQUE_ID, "DocumentEntry.uniqueId {uid} is already registered "
                                                             "(and the resubmission gives no hash to compare)")
UNIQUE_ID_TWICE = Message(XDS_DUPLICATE_UNIQUE_ID, "DocumentEntry.uniqueId {uid} occurs twice in the submission")
ENTRY_UUID_IN_USE = Message(XDS_REGISTRY_ERROR, "an entryUUID of this submission is already registered")
HAS_MEMBER_TARGET_UNKNOWN = Message(XDS_REGISTRY_ERROR, "HasMember target {target} is neither in the submission "
                                                        "nor in the registry")
MEMBER_OF_OTHER_PATIENT = Message(XDS_PATIENT_ID_DOES_NOT_MATCH, "referenced document {target} belongs to another "
                                                                 "patient")
FOLDER_MEMBER_NOT_A_DOCUMENT = Message(XDS_REGISTRY_ERROR, "folder member {target} is not a DocumentEntry of the "
                                                           "submission or the registry")
FOLDER_MEMBER_OF_OTHER_PATIENT = Message(XDS_PATIENT_ID_DOES_NOT_MATCH, "document {target} and folder {folder} "
                                                                        "belong to different patients")
HAS_MEMBER_SOURCE_UNKNOWN = Message(XDS_REGISTRY_ERROR, "HasMember source {source} is neither the SubmissionSet "
                                                        "nor a Folder")
RELATIONSHIP_SOURCE_NOT_NEW = Message(XDS_REGISTRY_ERROR, "{type} source {source} must be a DocumentEntry of this "
                                                          "submission")
RELATIONSHIP_TARGET_UNKNOWN = Message(XDS_REGISTRY_ERROR, "{type} target {target} is not in the registry")
RELATIONSHIP_TARGET_OTHER_PATIENT = Message(XDS_PATIENT_ID_DOES_NOT_MATCH, "{type} target {target} belongs to "
                                                                           "patient {pid}")
RELATIONSHIP_TARGET_DEPRECATED = Message(XDS_REGISTRY_ERROR, "{type} target {target} is not Approved (it was "
                                                             "already replaced)")
REPLACED_TWICE = Message(XDS_REGISTRY_ERROR, "document {target} is replaced twice in one submission")
REPLACED_CONCURRENTLY = Message(XDS_REGISTRY_ERROR, "document {target} was replaced concurrently by another "
                                                    "submission")
REGISTERED_CONCURRENTLY = Message(XDS_DUPLICATE_UNIQUE_ID, "a uniqueId or entryUUID of this submission was "
                                                           "registered concurrently by another submission")
ALREADY_IN_REPOSITORY = Message(XDS_DUPLICATE_UNIQUE_ID, "a document of this submission is already stored in the "
                                                         "repository")
REGISTRY_INTERNAL_ERROR = Message(XDS_REGISTRY_ERROR, "the registry could not register the submission (internal "
                                                      "error, request id {request_id})")

# -- the repository's documents (repository.py, ITI-41) ------------------------------------------
DOCUMENT_ID_TWICE = Message(XDS_REPOSITORY_ERROR, "Document id {id} occurs twice")
DOCUMENT_WITHOUT_METADATA = Message(XDS_MISSING_DOCUMENT_METADATA, "Document {id} has no ExtrinsicObject "
                                                                   "(DocumentEntry) in the metadata")
ATTACHMENT_WITHOUT_DOCUMENT = Message(XDS_MISSING_DOCUMENT_METADATA, "MIME part <{cid}> is referenced by no "
                                                                     "xds:Document of the request")
METADATA_WITHOUT_DOCUMENT = Message(XDS_MISSING_DOCUMENT, "DocumentEntry {id} has no Document in the request")
HASH_MISMATCH = Message(XDS_REPOSITORY_METADATA_ERROR, "DocumentEntry.hash {value} of {id} does not match the "
                                                       "document (SHA-1 {actual})")
SIZE_MISMATCH = Message(XDS_REPOSITORY_METADATA_ERROR, "DocumentEntry.size {value} of {id} does not match the "
                                                       "document ({actual} bytes)")
OTHER_REPOSITORY = Message(XDS_REPOSITORY_METADATA_ERROR, "DocumentEntry.repositoryUniqueId {value} of {id} is not "
                                                          "this repository ({repository})")


# == the read side: ITI-18 Registry Stored Query, ITI-43 Retrieve Document Set =================

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
