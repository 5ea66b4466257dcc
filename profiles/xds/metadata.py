"""The XDS metadata model (ITI TF-3 4.2.3), apart from its ebRIM wire form (see ``ebrim.py``).

Objects keep the ebRIM element they were read from (``element``) so that a LeafClass answer
returns the metadata exactly as registered; the typed fields serve validation and indexing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Code:
    code: str
    scheme: str
    display: str = ""

    def key(self) -> str:
        return f"{self.code}^^{self.scheme}"


@dataclass
class Author:
    person: str = ""
    institutions: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    specialties: list[str] = field(default_factory=list)
    telecoms: list[str] = field(default_factory=list)


@dataclass
class RegistryObject:
    entry_uuid: str                       # id attribute (symbolic until registered)
    element: Any = None                   # lxml element (the wire form, ids resolved on register)
    slots: dict[str, list[str]] = field(default_factory=dict)
    title: str | None = None
    comments: str | None = None
    home_community_id: str | None = None
    status: str | None = None
    lid: str | None = None
    version: str | None = None

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name)
        return values[0] if values else None


@dataclass
class DocumentEntry(RegistryObject):
    object_type: str = ""
    mime_type: str = ""
    unique_id: str = ""
    patient_id: str = ""
    source_patient_id: str = ""
    source_patient_info: list[str] = field(default_factory=list)
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    practice_setting_code: Code | None = None
    healthcare_facility_type_code: Code | None = None
    confidentiality_codes: list[Code] = field(default_factory=list)
    event_codes: list[Code] = field(default_factory=list)
    authors: list[Author] = field(default_factory=list)
    language_code: str | None = None
    creation_time: str | None = None
    service_start_time: str | None = None
    service_stop_time: str | None = None
    hash: str | None = None
    size: str | None = None
    repository_unique_id: str | None = None
    legal_authenticator: str | None = None
    uri: str | None = None
    reference_ids: list[str] = field(default_factory=list)
    limited_metadata: bool = False
    # the external identifiers' and classifications' own ids (validated for uniqueness)
    inner_ids: list[str] = field(default_factory=list)


@dataclass
class SubmissionSet(RegistryObject):
    unique_id: str = ""
    source_id: str = ""
    patient_id: str = ""
    submission_time: str | None = None
    content_type_code: Code | None = None
    authors: list[Author] = field(default_factory=list)
    intended_recipients: list[str] = field(default_factory=list)
    limited_metadata: bool = False
    inner_ids: list[str] = field(default_factory=list)


@dataclass
class Folder(RegistryObject):
    unique_id: str = ""
    patient_id: str = ""
    codes: list[Code] = field(default_factory=list)
    last_update_time: str | None = None
    inner_ids: list[str] = field(default_factory=list)


@dataclass
class Association(RegistryObject):
    type: str = ""
    source: str = ""
    target: str = ""


@dataclass
class Submission:
    """A SubmitObjectsRequest: one submission set and what it carries."""
    submission_set: SubmissionSet | None
    documents: list[DocumentEntry] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    # ids of RegistryPackages classified as SubmissionSet / Folder by a standalone Classification
    classified_submission_sets: set[str] = field(default_factory=set)
    classified_folders: set[str] = field(default_factory=set)

    def objects(self) -> list[RegistryObject]:
        out: list[RegistryObject] = []
        if self.submission_set is not None:
            out.append(self.submission_set)
        out.extend(self.documents)
        out.extend(self.folders)
        out.extend(self.associations)
        return out
