"""The ports of the XDS write side (ITI-41, ITI-42): what the registration use cases need of the
world, as small Protocol classes that gateway/store implements (the read side's are in
``query_ports.py``).

* :class:`Registry`: opens the one short write transaction (:class:`RegistryTransaction`) in
  which the registry's checks run and the plan is written; commit when the block ends normally,
  rollback when it raises.
* :class:`DocumentBlobs`: makes a document's bytes durable before the transaction, and removes
  what a failed submission left behind.
* :class:`~profiles.xds.registry.PatientIndex`: the MPI check, on the transaction's own
  connection (``RegistryTransaction.patients``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ContextManager, Iterable, Protocol

from .registry import PatientIndex, RegistrationPlan, RegistryReader
from .repository import DocumentContent


@dataclass(frozen=True)
class RepositoryDocument:
    """The repository's record of one stored document."""
    repository_unique_id: str
    unique_id: str
    sha1: str
    sha256: str
    size: int
    mime_type: str


class RegistryTransaction(RegistryReader, Protocol):
    """The registry inside one write transaction."""

    patients: PatientIndex

    def apply(self, plan: RegistrationPlan) -> None: ...
    def add_repository_documents(self, rows: list[RepositoryDocument]) -> None: ...
    def repository_unique_ids_stored(self, repository_unique_id: str, unique_ids: Iterable[str]) -> set[str]: ...
    def record_audit(self, event) -> bool:
        """Store the audit event (``profiles.audit.AuditEvent``) in this transaction: it commits or
        rolls back with the change (``profiles.audit.record_with_change``). False: no audit here."""
        ...


class Registry(Protocol):
    def transaction(self) -> ContextManager[RegistryTransaction]: ...

    def referenced_blobs(self, keys: Iterable[str]) -> set[str]:
        """Which of these blob keys a committed repository record refers to."""
        ...


class DocumentBlobs(Protocol):
    def store(self, content: DocumentContent) -> tuple[str, bool]:
        """Make ``content`` durable; returns (blob key, created): ``created`` is False when the same
        bytes were already stored."""
        ...

    def delete(self, key: str) -> None: ...
