"""In-memory implementations of the XDS write ports (profiles.xds.ports): the registration use
cases run against them without a database, in microseconds."""
from __future__ import annotations

import copy
import hashlib
from contextlib import contextmanager

from profiles.xds.errors import XdsFailure
from profiles.xds import messages as M
from profiles.xds.registry import StoredDocument, StoredFolder


class MemoryPatients:
    def __init__(self, *known: str) -> None:
        self.known = set(known)

    def is_known_mpi_pid(self, pid: str) -> bool:
        return pid in self.known


class MemoryRegistry:
    """The Registry port: a transaction works on a copy of the state, committed when the block ends."""

    def __init__(self, patients: MemoryPatients, audit: bool = False) -> None:
        self.patients = patients
        #: with ``audit``: the events ``record_audit`` stored, committed with the transaction's change
        self.audit: list | None = [] if audit else None
        self.documents: dict[str, StoredDocument] = {}     # entryUUID -> entry
        self.texts: dict[str, str] = {}                    # entryUUID -> stored ebRIM text
        self.folders: dict[str, StoredFolder] = {}
        self.packages: set[str] = set()                    # uniqueIds of submission sets and folders
        self.associations: dict[str, tuple[str, str, str]] = {}
        self.repository: dict[tuple[str, str], object] = {}
        self.unique_ids: dict[str, tuple] = {}             # the claimed DocumentEntry uniqueIds
        self.transactions = 0

    @contextmanager
    def transaction(self):
        tx = MemoryTx(self, copy.deepcopy(self._state()))
        yield tx
        self._restore(tx.state)
        self.transactions += 1

    def _state(self):
        return dict(documents=self.documents, texts=self.texts, folders=self.folders, packages=self.packages,
                    associations=self.associations, repository=self.repository, unique_ids=self.unique_ids,
                    audit=self.audit)

    def _restore(self, state) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def referenced_blobs(self, keys):
        used = {r.sha256 for r in self.repository.values()}
        return {k for k in keys if k in used}


class MemoryTx:
    def __init__(self, registry: MemoryRegistry, state: dict) -> None:
        self.state = state
        self.patients = registry.patients

    # -- RegistryReader
    def documents_by_uuid(self, uuids):
        return {u: self.state["documents"][u] for u in uuids if u in self.state["documents"]}

    def claim_document_unique_ids(self, claims):
        registered = self.state.setdefault("unique_ids", {})
        out = {u: registered[u] for u in claims if u in registered}
        registered.update({u: c for u, c in claims.items() if u not in out})
        return out

    def folders_by_uuid(self, uuids):
        return {u: self.state["folders"][u] for u in uuids if u in self.state["folders"]}

    def package_unique_ids_in_use(self, unique_ids):
        docs = {d.unique_id for d in self.state["documents"].values()}
        return {u for u in unique_ids if u in self.state["packages"] or u in docs}

    def associations_exist(self, uuids):
        return {u for u in uuids if u in self.state["associations"]}

    def folders_containing(self, doc_uuids):
        out: dict[str, list[str]] = {}
        for _id, (kind, source, target) in self.state["associations"].items():
            if target in doc_uuids and source in self.state["folders"]:
                out.setdefault(target, []).append(source)
        return out

    def folder_texts(self, uuids):
        return {u: self.state["texts"][u] for u in uuids if u in self.state["texts"]}

    # -- writing
    def apply(self, plan) -> None:
        st = self.state
        for uuid in plan.deprecate:
            old = st["documents"][uuid]
            if old.status != "Approved":
                raise XdsFailure(M.REPLACED_CONCURRENTLY(uuid, target=uuid))
            st["documents"][uuid] = StoredDocument(old.entry_uuid, old.unique_id, old.patient_id, "Deprecated",
                                                   old.lid, old.version, old.hash, old.size)
        for d in plan.documents:
            st["documents"][d.entry_uuid] = StoredDocument(d.entry_uuid, d.unique_id, d.patient_id, "Approved", d.lid,
                                                           int(d.version), d.hash, int(d.size) if d.size else None)
            st["texts"][d.entry_uuid] = plan.xml(d)
        ss = plan.submission.submission_set
        st["packages"].add(ss.unique_id)
        st["texts"][ss.entry_uuid] = plan.xml(ss)
        for f in plan.folders:
            st["folders"][f.entry_uuid] = StoredFolder(f.entry_uuid, f.unique_id, f.patient_id, "Approved")
            st["packages"].add(f.unique_id)
            st["texts"][f.entry_uuid] = plan.xml(f)
        for a in plan.associations:
            st["associations"][a.entry_uuid] = (a.type, a.source, a.target)
            st["texts"][a.entry_uuid] = plan.xml(a)
        st["texts"].update(plan.folder_texts)

    def add_repository_documents(self, rows) -> None:
        for r in rows:
            key = (r.repository_unique_id, r.unique_id)
            if key in self.state["repository"]:
                raise XdsFailure(M.ALREADY_IN_REPOSITORY())
            self.state["repository"][key] = r

    def repository_unique_ids_stored(self, repository_unique_id, unique_ids):
        return {u for u in unique_ids if (repository_unique_id, u) in self.state["repository"]}

    def record_audit(self, event) -> bool:
        if self.state["audit"] is None:
            return False
        self.state["audit"].append(event)
        return True


class MemoryBlobs:
    """The DocumentBlobs port: content-addressed bytes in a dict; ``stored`` counts the writes."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.stored = 0

    def store(self, content):
        data = bytes(content.handle)
        key = hashlib.sha256(data).hexdigest()
        self.stored += 1
        created = key not in self.blobs
        self.blobs[key] = data
        return key, created

    def delete(self, key: str) -> None:
        self.blobs.pop(key, None)
