"""Registry Stored Query (ITI-18, ITI TF-2a 3.18): the public face of the stored-query modules.

The logic lives in one module per concept, all transport- and SQL-free:

* :mod:`.query_catalogue` -- the fourteen queries: ids and every parameter (kind, multiplicity, groups);
* :mod:`.query_model` -- the typed criteria and one frozen dataclass per query, :class:`QueryRequest`;
* :mod:`.query_values` -- the value syntax (quoted strings, lists, ``code^^scheme``, LIKE patterns);
* :mod:`.query_request` -- reading an AdhocQueryRequest into the model, checked against the catalogue;
* :mod:`.query_execution` -- evaluating a query over a :class:`~.query_ports.RegistryQueryPort`, through
  the authorization seam (``ResultFilter``);
* :mod:`.query_ports` -- the ports (registry reads, MPI check, result filter) and the result rows;
* :mod:`.registry_query` -- the ITI-18 use case: ``(RequestContext, request, ports) -> Outcome``;
* :mod:`.query_response` -- the AdhocQueryResponse (LeafClass, ObjectRef, Failure);
* :mod:`.messages` -- every error of the read side, with its IHE code.

This module re-exports their public names, so ``from profiles.xds import stored_queries as S`` keeps
working (``S.FIND_DOCUMENTS``, ``S.parse_query_request``...). It holds no logic of its own and imports
nothing that imports it.
"""
from __future__ import annotations

from .query_catalogue import (CATALOGUE, FIND_DOCUMENTS, FIND_DOCUMENTS_BY_REFERENCE_ID, FIND_FOLDERS,  # noqa: F401
                              FIND_SUBMISSION_SETS, GET_ALL, GET_ASSOCIATIONS, GET_DOCUMENTS,
                              GET_DOCUMENTS_AND_ASSOCIATIONS, GET_FOLDER_AND_CONTENTS, GET_FOLDERS,
                              GET_FOLDERS_FOR_DOCUMENT, GET_RELATED_DOCUMENTS, GET_SUBMISSION_SET_AND_CONTENTS,
                              GET_SUBMISSION_SETS, QUERY_IDS, QUERY_NAMES, RETURN_LEAF_CLASS, RETURN_OBJECT_REF,
                              STATUS_PREFIX, ParamKind, ParamSpec, QuerySpec, ReturnType)
from .query_execution import run_query, too_many  # noqa: F401
from .query_model import (ALL_ENTRY_TYPES, DEFAULT_ENTRY_TYPES, Code, CodeSet, ContentFilter,  # noqa: F401
                          DocumentCriteria, FindDocuments, FindDocumentsByReferenceId, FindFolders,
                          FindSubmissionSets, FolderCriteria, GetAll, GetAssociations, GetDocuments,
                          GetDocumentsAndAssociations, GetFolderAndContents, GetFolders, GetFoldersForDocument,
                          GetRelatedDocuments, GetSubmissionSetAndContents, GetSubmissionSets, PatientRef,
                          QueryRequest, Selector, SelectorField, StoredQuery, SubmissionSetCriteria, TimeRange)
from .query_request import (DEFAULT_MAX_PARAMETER_VALUES, RefusedQuery, parse_query_request,  # noqa: F401
                            read_query_request)
from .query_values import author_pattern_matches, parse_code, split_values  # noqa: F401
