"""Executing a stored query (:mod:`.query_model`) over a :class:`~.query_ports.RegistryQueryPort`.

All candidate DocumentEntries pass through **one** authorization seam, the ``ResultFilter`` (see
:mod:`.query_ports`), before associations are chosen, so no association ever points the caller at a
document it may not see. ``XDSTooManyResults`` counts what the caller may see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from profiles.context import RequestContext

from . import constants as C
from . import messages as M
from .errors import XdsFailure
from .query_model import (ContentFilter, DocumentCriteria, FindDocuments, FindDocumentsByReferenceId, FindFolders,
                          FindSubmissionSets, FolderCriteria, GetAll, GetAssociations, GetDocuments,
                          GetDocumentsAndAssociations, GetFolderAndContents, GetFolders, GetFoldersForDocument,
                          GetRelatedDocuments, GetSubmissionSetAndContents, GetSubmissionSets, Selector, StoredQuery,
                          SubmissionSetCriteria)
from .query_ports import AllowAll, AssociationRow, DocumentRow, FolderRow, QueryResult, RegistryQueryPort, ResultFilter

def too_many(count: int, limit: int) -> XdsFailure:
    return M.TOO_MANY_RESULTS.failure(count=count if count <= limit else f"more than {limit}", limit=limit)


@dataclass
class _Run:
    port: RegistryQueryPort
    ctx: RequestContext
    result_filter: ResultFilter
    max_results: int

    # -- documents through the authorization seam ---------------------------------------------
    def allowed(self, rows: Sequence[DocumentRow]) -> list[DocumentRow]:
        """THE place where authorization filters query results (see ``query_ports.ResultFilter``)."""
        if not rows:
            return []
        return list(self.result_filter.allowed_documents(self.ctx, rows))

    def find_documents(self, criteria: DocumentCriteria) -> list[DocumentRow]:
        rows = self.port.find_documents(criteria, limit=self.max_results + 1)
        if len(rows) > self.max_results and not isinstance(self.result_filter, AllowAll):
            rows = self.port.find_documents(criteria, limit=None)   # count what the caller may see
        rows = self.allowed(rows)
        self.check(len(rows))
        return rows

    def documents(self, selector: Selector) -> list[DocumentRow]:
        return self.allowed(self.port.documents(selector))

    def check(self, count: int) -> None:
        if count > self.max_results:
            raise too_many(count, self.max_results)

    def result(self, **kw) -> QueryResult:
        res = QueryResult(**kw)
        self.check(res.count)
        return res


def run_query(query: StoredQuery, port: RegistryQueryPort, ctx: RequestContext, *,
              max_results: int, result_filter: ResultFilter | None = None) -> QueryResult:
    """Evaluate ``query``; raises ``XdsFailure`` (XDSTooManyResults) past ``max_results`` objects.

    The patient check against the MPI is the caller's (it knows the MPI); this function assumes the
    patient of a Find/GetAll query is known.
    """
    run = _Run(port, ctx, result_filter or AllowAll(), max_results)
    handler = _EXECUTORS[type(query)]
    return handler(run, query)


def _x_find_documents(run: _Run, q: FindDocuments) -> QueryResult:
    return run.result(documents=run.find_documents(q.criteria))


def _x_find_submission_sets(run: _Run, q: FindSubmissionSets) -> QueryResult:
    return run.result(submission_sets=run.port.find_submission_sets(q.criteria, limit=run.max_results + 1))


def _x_find_folders(run: _Run, q: FindFolders) -> QueryResult:
    return run.result(folders=run.port.find_folders(q.criteria, limit=run.max_results + 1))


def _by_seq(rows: Iterable[AssociationRow]) -> list[AssociationRow]:
    return sorted({a.entry_uuid: a for a in rows}.values(), key=lambda a: (a.seq, a.entry_uuid))


def _x_get_all(run: _Run, q: GetAll) -> QueryResult:
    docs = run.find_documents(q.content.criteria(patient_id=q.patient.canonical, statuses=q.document_statuses))
    sets = run.port.find_submission_sets(SubmissionSetCriteria(q.patient.canonical, q.submission_set_statuses),
                                         limit=run.max_results + 1)
    folders = run.port.find_folders(FolderCriteria(q.patient.canonical, q.folder_statuses),
                                    limit=run.max_results + 1)
    run.check(len(docs) + len(sets) + len(folders))
    ids = {o.entry_uuid for o in (*docs, *sets, *folders)}
    fetched = run.port.associations(sources=ids, limit=run.max_results + 1) if ids else []
    between = [a for a in fetched if a.target in ids]
    between_ids = {a.entry_uuid for a in between}
    # HasMember from a submission set to an association it carries (e.g. the SS's RPLC association)
    between += [a for a in fetched if a.target in between_ids]
    return run.result(documents=docs, submission_sets=sets, folders=folders, associations=_by_seq(between))


def _x_get_documents(run: _Run, q: GetDocuments) -> QueryResult:
    return run.result(documents=run.documents(q.selector))


def _x_get_folders(run: _Run, q: GetFolders) -> QueryResult:
    return run.result(folders=run.port.folders(q.selector))


def _hidden_documents(run: _Run, ids: set[str]) -> set[str]:
    """Of ``ids``, the DocumentEntries the caller may not see (they are not to be hinted at)."""
    if isinstance(run.result_filter, AllowAll) or not ids:
        return set()
    rows = run.port.documents(Selector("uuid", tuple(sorted(ids))))
    visible = {r.entry_uuid for r in run.allowed(rows)}
    return {r.entry_uuid for r in rows} - visible


def _x_get_associations(run: _Run, q: GetAssociations) -> QueryResult:
    assocs = run.port.associations(either=set(q.uuids), limit=run.max_results + 1)
    hidden = _hidden_documents(run, {a.source for a in assocs} | {a.target for a in assocs})
    return run.result(associations=[a for a in assocs if a.source not in hidden and a.target not in hidden])


def _x_get_documents_and_associations(run: _Run, q: GetDocumentsAndAssociations) -> QueryResult:
    docs = run.documents(q.selector)
    if not docs:
        return QueryResult()
    assocs = run.port.associations(either={d.entry_uuid for d in docs}, limit=run.max_results + 1)
    hidden = _hidden_documents(run, ({a.source for a in assocs} | {a.target for a in assocs})
                               - {d.entry_uuid for d in docs})
    assocs = [a for a in assocs if a.source not in hidden and a.target not in hidden]
    return run.result(documents=docs, associations=assocs)


def _x_get_submission_sets(run: _Run, q: GetSubmissionSets) -> QueryResult:
    hidden = _hidden_documents(run, set(q.uuids))
    members = [a for a in run.port.associations(targets=set(q.uuids) - hidden, types={C.ASSOC_HAS_MEMBER},
                                                limit=run.max_results + 1)]
    sets = run.port.submission_sets(Selector("uuid", tuple(sorted({a.source for a in members}))))
    set_ids = {s.entry_uuid for s in sets}
    return run.result(submission_sets=sets, associations=[a for a in members if a.source in set_ids])


def _contents(run: _Run, owner_id: str, content: ContentFilter, *, folders_too: bool
              ) -> tuple[list[DocumentRow], list[FolderRow], list[AssociationRow]]:
    """Members of a submission set or folder, DocumentEntries filtered, and the associations to keep."""
    hm = run.port.associations(sources={owner_id}, types={C.ASSOC_HAS_MEMBER}, limit=None)
    member_ids = {a.target for a in hm}
    docs = run.find_documents(content.criteria(entry_uuids=frozenset(member_ids))) if member_ids else []
    folders = run.port.folders(Selector("uuid", tuple(sorted(member_ids)))) if folders_too and member_ids else []
    member_assocs = (run.port.associations_by_uuid(member_ids - {d.entry_uuid for d in docs}
                                                   - {f.entry_uuid for f in folders})
                     if folders_too and member_ids else [])
    kept_ids = {d.entry_uuid for d in docs} | {f.entry_uuid for f in folders}
    # a member that is none of the kept objects is a DocumentEntry filtered out (or not visible)
    excluded = member_ids - kept_ids - {a.entry_uuid for a in member_assocs}
    member_assocs = [a for a in member_assocs if a.source not in excluded and a.target not in excluded]
    kept_ids |= {a.entry_uuid for a in member_assocs}
    assocs = [a for a in hm if a.target in kept_ids] + member_assocs
    return docs, folders, _by_seq(assocs)


def _x_get_submission_set_and_contents(run: _Run, q: GetSubmissionSetAndContents) -> QueryResult:
    sets = run.port.submission_sets(q.selector)
    if not sets:
        return QueryResult()
    ss = sets[0]
    docs, folders, assocs = _contents(run, ss.entry_uuid, q.content, folders_too=True)
    return run.result(submission_sets=[ss], documents=docs, folders=folders, associations=assocs)


def _x_get_folder_and_contents(run: _Run, q: GetFolderAndContents) -> QueryResult:
    folders = run.port.folders(q.selector)
    if not folders:
        return QueryResult()
    folder = folders[0]
    docs, _, assocs = _contents(run, folder.entry_uuid, q.content, folders_too=False)
    return run.result(folders=[folder], documents=docs, associations=assocs)


def _x_get_folders_for_document(run: _Run, q: GetFoldersForDocument) -> QueryResult:
    docs = run.documents(q.selector)
    if not docs:
        return QueryResult()
    hm = run.port.associations(targets={d.entry_uuid for d in docs}, types={C.ASSOC_HAS_MEMBER}, limit=None)
    folders = run.port.folders(Selector("uuid", tuple(sorted({a.source for a in hm})))) if hm else []
    return run.result(folders=folders)


def _x_get_related_documents(run: _Run, q: GetRelatedDocuments) -> QueryResult:
    docs = run.documents(q.selector)
    if not docs:
        return QueryResult()
    doc = docs[0]
    assocs = run.port.associations(either={doc.entry_uuid}, types=set(q.association_types),
                                   limit=run.max_results + 1)
    others = {a.target if a.source == doc.entry_uuid else a.source for a in assocs} - {doc.entry_uuid}
    related = run.documents(Selector("uuid", tuple(sorted(others)))) if others else []
    related_ids = {d.entry_uuid for d in related}
    assocs = [a for a in assocs if (a.target if a.source == doc.entry_uuid else a.source) in related_ids]
    if not assocs:
        return QueryResult()     # no related document: nothing, not even the document itself
    return run.result(documents=[doc] + related, associations=assocs)


_EXECUTORS: dict[type, Callable[[_Run, object], QueryResult]] = {
    FindDocuments: _x_find_documents,                     # type: ignore[dict-item]
    FindDocumentsByReferenceId: _x_find_documents,        # type: ignore[dict-item]
    FindSubmissionSets: _x_find_submission_sets,          # type: ignore[dict-item]
    FindFolders: _x_find_folders,                         # type: ignore[dict-item]
    GetAll: _x_get_all,                                   # type: ignore[dict-item]
    GetDocuments: _x_get_documents,                       # type: ignore[dict-item]
    GetFolders: _x_get_folders,                           # type: ignore[dict-item]
    GetAssociations: _x_get_associations,                 # type: ignore[dict-item]
    GetDocumentsAndAssociations: _x_get_documents_and_associations,  # type: ignore[dict-item]
    GetSubmissionSets: _x_get_submission_sets,            # type: ignore[dict-item]
    GetSubmissionSetAndContents: _x_get_submission_set_and_contents,  # type: ignore[dict-item]
    GetFolderAndContents: _x_get_folder_and_contents,     # type: ignore[dict-item]
    GetFoldersForDocument: _x_get_folders_for_document,   # type: ignore[dict-item]
    GetRelatedDocuments: _x_get_related_documents,        # type: ignore[dict-item]
}


