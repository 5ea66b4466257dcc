"""Ports of the stored-query logic: the registry it reads, and the authorization seam.

* :class:`RegistryQueryPort` -- what ``query_execution.run_query`` asks of the registry. A handful of
  set-oriented reads (no per-object calls), each answered by one or a few indexed SQL statements in
  ``gateway.store.registry_query.SqlRegistryQuery``. Rows come back in registration order (``seq``).
* :class:`ResultFilter` -- **the one place where authorization enters the query path.** Every
  DocumentEntry a stored query is about to return (or to follow an association to) is first handed,
  together with the caller's :class:`~profiles.context.RequestContext`, to
  ``ResultFilter.allowed_documents``; what it drops is never returned, and associations that would
  point at a dropped entry are dropped too (GetAssociations, GetDocumentsAndAssociations,
  GetSubmissionSetAndContents...). ``XDSTooManyResults`` counts what the caller may see. The default,
  :class:`AllowAll`, lets everything through; the authorization issue supplies a filter that reads the
  EPR access rights (role, purpose of use, confidentiality code...).

Transport- and SQL-free, like all of ``profiles/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ContextManager, Iterable, Protocol, Sequence, runtime_checkable

from profiles.context import RequestContext

from .query_model import DocumentCriteria, FolderCriteria, Selector, SubmissionSetCriteria

CodeValue = tuple[str, str]   # (code, codingScheme)


@dataclass(frozen=True)
class DocumentRow:
    """A registered DocumentEntry: the indexed attributes and the ebRIM ``xml`` as registered.

    ``status`` is the short form (``Approved``/``Deprecated``); ``confidentiality_codes`` are loaded for
    the authorization filter.
    """

    entry_uuid: str
    lid: str
    version: int
    unique_id: str
    patient_id: str
    status: str
    object_type: str
    class_code: CodeValue | None
    type_code: CodeValue | None
    format_code: CodeValue | None
    practice_setting_code: CodeValue | None
    facility_type_code: CodeValue | None
    creation_time: str | None
    service_start_time: str | None
    service_stop_time: str | None
    repository_unique_id: str | None
    submission_set: str
    seq: int
    xml: str
    confidentiality_codes: tuple[CodeValue, ...] = ()


@dataclass(frozen=True)
class SubmissionSetRow:
    entry_uuid: str
    unique_id: str
    patient_id: str
    status: str
    source_id: str | None
    submission_time: str | None
    seq: int
    xml: str


@dataclass(frozen=True)
class FolderRow:
    entry_uuid: str
    lid: str
    unique_id: str
    patient_id: str
    status: str
    last_update_time: str | None
    seq: int
    xml: str


@dataclass(frozen=True)
class AssociationRow:
    entry_uuid: str
    type: str
    source: str
    target: str
    status: str
    submission_set: str
    seq: int
    xml: str


@dataclass
class QueryResult:
    """What a stored query returns, by object kind (the response builder orders them)."""

    documents: list[DocumentRow] = field(default_factory=list)
    submission_sets: list[SubmissionSetRow] = field(default_factory=list)
    folders: list[FolderRow] = field(default_factory=list)
    associations: list[AssociationRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.documents) + len(self.submission_sets) + len(self.folders) + len(self.associations)

    def ids(self) -> list[str]:
        return [o.entry_uuid for o in (*self.submission_sets, *self.folders, *self.documents, *self.associations)]


@runtime_checkable
class RegistryQueryPort(Protocol):
    """Reads of the registry for ITI-18. ``limit``: at most that many rows (``None``: all).

    Every method returns rows ordered by registration (``seq``, then entryUUID).
    """

    def find_documents(self, criteria: DocumentCriteria, limit: int | None) -> list[DocumentRow]:
        """DocumentEntries matching every constraint of ``criteria``."""

    def find_submission_sets(self, criteria: SubmissionSetCriteria, limit: int | None) -> list[SubmissionSetRow]:
        """SubmissionSets matching ``criteria``."""

    def find_folders(self, criteria: FolderCriteria, limit: int | None) -> list[FolderRow]:
        """Folders matching ``criteria``."""

    def documents(self, selector: Selector) -> list[DocumentRow]:
        """DocumentEntries by entryUUID, uniqueId or logical id (every status)."""

    def submission_sets(self, selector: Selector) -> list[SubmissionSetRow]:
        """SubmissionSets by entryUUID or uniqueId."""

    def folders(self, selector: Selector) -> list[FolderRow]:
        """Folders by entryUUID, uniqueId or logical id."""

    def associations(self, *, sources: Iterable[str] | None = None, targets: Iterable[str] | None = None,
                     either: Iterable[str] | None = None, types: Iterable[str] | None = None,
                     limit: int | None = None) -> list[AssociationRow]:
        """Associations whose sourceObject is in ``sources``, targetObject in ``targets``, or either end
        in ``either`` (exactly one of the three), of one of ``types`` when given."""

    def associations_by_uuid(self, uuids: Iterable[str]) -> list[AssociationRow]:
        """Associations by their own entryUUID."""


@runtime_checkable
class ResultFilter(Protocol):
    """The authorization seam of the query path (see the module docstring)."""

    def allowed_documents(self, ctx: RequestContext, documents: Sequence[DocumentRow]) -> Sequence[DocumentRow]:
        """The subset of ``documents`` the caller of ``ctx`` may see, in the given order."""


class AllowAll:
    """The default ResultFilter: every document is visible (no authorization configured)."""

    def allowed_documents(self, ctx: RequestContext, documents: Sequence[DocumentRow]) -> Sequence[DocumentRow]:
        return documents


class PatientDirectory(Protocol):
    """The MPI as the stored queries need it: is a patient id (the id part of an MPI-PID) known?"""

    def is_known_mpi_pid(self, pid: str) -> bool: ...


class QuerySession(Protocol):
    """The reads of one stored query, all on one snapshot/connection: the registry and the MPI check."""

    registry: RegistryQueryPort

    def is_known_patient(self, pid: str) -> bool:
        """Is ``pid`` (the id part of an MPI-PID of this community) a patient of the MPI?"""


class RegistryQueryStore(Protocol):
    """What the ITI-18 use case reads through: one :class:`QuerySession` per query."""

    def session(self) -> ContextManager[QuerySession]: ...
