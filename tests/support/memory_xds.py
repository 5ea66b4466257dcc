"""In-memory ports of the XDS read side (no database): a registry of rows, the MPI as a set, a
repository as a dict. Straightforward Python over lists, for the use-case unit tests."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from profiles.xds import constants as C
from profiles.xds.query_model import DocumentCriteria, FolderCriteria, Selector, SubmissionSetCriteria
from profiles.xds.query_ports import AssociationRow, DocumentRow, FolderRow, SubmissionSetRow

_EXTRINSIC = ('<rim:ExtrinsicObject xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="{id}" '
              'objectType="{ot}"/>')
_PACKAGE = '<rim:RegistryPackage xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="{id}"/>'
_ASSOC = ('<rim:Association xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="{id}" '
          'associationType="{type}" sourceObject="{source}" targetObject="{target}"/>')


def doc_row(uuid: str, patient: str, *, status: str = "Approved", seq: int = 0, unique_id: str | None = None,
            class_code=None, conf=(), submission_set: str = "ss") -> DocumentRow:
    return DocumentRow(entry_uuid=uuid, lid=uuid, version=1, unique_id=unique_id or "1.2.3." + str(seq),
                       patient_id=patient, status=status, object_type=C.DOC_ENTRY_STABLE, class_code=class_code,
                       type_code=None, format_code=None, practice_setting_code=None, facility_type_code=None,
                       creation_time=None, service_start_time=None, service_stop_time=None,
                       repository_unique_id="1.2.3", submission_set=submission_set, seq=seq,
                       xml=_EXTRINSIC.format(id=uuid, ot=C.DOC_ENTRY_STABLE), confidentiality_codes=tuple(conf))


def ss_row(uuid: str, patient: str, *, seq: int = 0) -> SubmissionSetRow:
    return SubmissionSetRow(uuid, "1.2.9." + str(seq), patient, "Approved", None, None, seq, _PACKAGE.format(id=uuid))


def assoc_row(uuid: str, type_: str, source: str, target: str, *, seq: int = 0, ss: str = "ss") -> AssociationRow:
    return AssociationRow(uuid, type_, source, target, "Approved", ss, seq,
                          _ASSOC.format(id=uuid, type=type_, source=source, target=target))


def _order(rows):
    return sorted(rows, key=lambda r: (r.seq, r.entry_uuid))


@dataclass
class MemoryRegistry:
    """``RegistryQueryPort`` over lists. DocumentEntry criteria on what a row carries (patient, status,
    object type, classCode, confidentiality, entry uuids); others raise NotImplementedError."""

    documents_: list[DocumentRow] = field(default_factory=list)
    submission_sets_: list[SubmissionSetRow] = field(default_factory=list)
    folders_: list[FolderRow] = field(default_factory=list)
    associations_: list[AssociationRow] = field(default_factory=list)
    calls: int = 0

    def _doc_matches(self, d: DocumentRow, c: DocumentCriteria) -> bool:
        if (c.type_codes, c.practice_setting_codes, c.facility_type_codes, c.format_codes, c.event_codes,
                c.author_persons, c.reference_ids) != (None, None, None, None, (), (), None):
            raise NotImplementedError("criterion not modelled in memory")
        return ((c.patient_id is None or d.patient_id == c.patient_id)
                and (c.statuses is None or d.status in c.statuses)
                and (c.object_types is None or d.object_type in c.object_types)
                and (c.class_codes is None or d.class_code in c.class_codes)
                and all(any(code in group for code in d.confidentiality_codes) for group in c.confidentiality_codes)
                and c.creation_time.contains(d.creation_time) and c.service_start_time.contains(d.service_start_time)
                and c.service_stop_time.contains(d.service_stop_time)
                and (c.entry_uuids is None or d.entry_uuid in c.entry_uuids))

    def find_documents(self, criteria: DocumentCriteria, limit: int | None) -> list[DocumentRow]:
        self.calls += 1
        rows = _order(d for d in self.documents_ if self._doc_matches(d, criteria))
        return rows[:limit] if limit is not None else rows

    def find_submission_sets(self, criteria: SubmissionSetCriteria, limit: int | None) -> list[SubmissionSetRow]:
        self.calls += 1
        rows = _order(s for s in self.submission_sets_ if s.patient_id == criteria.patient_id
                      and (criteria.statuses is None or s.status in criteria.statuses))
        return rows[:limit] if limit is not None else rows

    def find_folders(self, criteria: FolderCriteria, limit: int | None) -> list[FolderRow]:
        self.calls += 1
        rows = _order(f for f in self.folders_ if f.patient_id == criteria.patient_id)
        return rows[:limit] if limit is not None else rows

    @staticmethod
    def _select(rows, selector: Selector):
        attr = {"uuid": "entry_uuid", "unique_id": "unique_id", "lid": "lid"}[selector.by]
        wanted = set(selector.values)
        return _order(r for r in rows if getattr(r, attr, None) in wanted)

    def documents(self, selector: Selector) -> list[DocumentRow]:
        self.calls += 1
        return self._select(self.documents_, selector)

    def submission_sets(self, selector: Selector) -> list[SubmissionSetRow]:
        self.calls += 1
        return [] if selector.by == "lid" else self._select(self.submission_sets_, selector)

    def folders(self, selector: Selector) -> list[FolderRow]:
        self.calls += 1
        return self._select(self.folders_, selector)

    def associations(self, *, sources: Iterable[str] | None = None, targets: Iterable[str] | None = None,
                     either: Iterable[str] | None = None, types: Iterable[str] | None = None,
                     limit: int | None = None) -> list[AssociationRow]:
        self.calls += 1
        src, tgt, eth = (set(x) if x is not None else None for x in (sources, targets, either))
        type_set = set(types) if types is not None else None
        rows = _order(a for a in self.associations_
                      if (src is None or a.source in src) and (tgt is None or a.target in tgt)
                      and (eth is None or a.source in eth or a.target in eth)
                      and (type_set is None or a.type in type_set))
        return rows[:limit] if limit is not None else rows

    def associations_by_uuid(self, uuids: Iterable[str]) -> list[AssociationRow]:
        self.calls += 1
        wanted = set(uuids)
        return _order(a for a in self.associations_ if a.entry_uuid in wanted)


@dataclass
class MemorySession:
    registry: MemoryRegistry
    known: set[str]

    def is_known_patient(self, pid: str) -> bool:
        return pid in self.known


@dataclass
class MemoryQueryStore:
    """``RegistryQueryStore``: one session per query over the same lists; counts the sessions opened."""

    registry: MemoryRegistry
    known: set[str] = field(default_factory=set)
    sessions: int = 0
    broken: bool = False

    @contextmanager
    def session(self) -> Iterator[MemorySession]:
        if self.broken:
            raise RuntimeError("database is gone (secret connection detail)")
        self.sessions += 1
        yield MemorySession(self.registry, self.known)


@dataclass
class MemoryRepository:
    """``RepositoryReader``: (repositoryUniqueId, uniqueId) -> (mimeType, handle)."""

    documents: dict[tuple[str, str], tuple[str, object]] = field(default_factory=dict)

    def find(self, repository_unique_id: str, document_unique_id: str):
        return self.documents.get((repository_unique_id, document_unique_id))
