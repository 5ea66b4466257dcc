"""The XDS metadata model (ITI TF-3 4.2.3), apart from its ebRIM wire form (see ``ebrim.py``).

The model is plain data: no lxml element is kept inside it. ``ebrim.parse_submission`` reads a
SubmitObjectsRequest into it, the rules (``validate.py``, ``profiles.ch.annex3``, ``registry.py``)
run on it, and ``ebrim.render_object`` writes it back to ebRIM (the stored text a LeafClass answer
returns is rendered from the model at registration). Everything a LeafClass answer must return is
kept: every slot, the localized names and descriptions, every Classification and
ExternalIdentifier with its own ids and slots. The typed fields (``class_code``, ``hash``...) are
the XDS meaning of those parts; the model's methods change both together (``set_slot``).
"""
from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class LocalizedString:
    value: str
    lang: str | None = None       # xml:lang
    charset: str | None = None


@dataclass
class Classification:
    """An ebRIM Classification: external (``scheme`` + ``node_representation``) or internal (``node``)."""
    id: str
    scheme: str | None = None              # classificationScheme
    node: str | None = None                # classificationNode
    node_representation: str | None = None
    classified_object: str | None = None
    slots: dict[str, list[str]] = field(default_factory=dict)
    names: list[LocalizedString] = field(default_factory=list)
    descriptions: list[LocalizedString] = field(default_factory=list)
    object_type: str | None = None


@dataclass
class ExternalIdentifier:
    id: str
    scheme: str                            # identificationScheme
    value: str
    registry_object: str | None = None
    names: list[LocalizedString] = field(default_factory=list)
    descriptions: list[LocalizedString] = field(default_factory=list)
    slots: dict[str, list[str]] = field(default_factory=dict)
    object_type: str | None = None


@dataclass
class RegistryObject:
    entry_uuid: str                       # id attribute (symbolic until registered)
    slots: dict[str, list[str]] = field(default_factory=dict)
    names: list[LocalizedString] = field(default_factory=list)
    descriptions: list[LocalizedString] = field(default_factory=list)
    classifications: list[Classification] = field(default_factory=list)
    external_identifiers: list[ExternalIdentifier] = field(default_factory=list)
    home_community_id: str | None = None
    status: str | None = None
    lid: str | None = None
    version: str | None = None
    object_type_attr: str | None = None   # the objectType attribute as sent (packages, associations)

    @property
    def title(self) -> str | None:
        return self.names[0].value if self.names else None

    @property
    def comments(self) -> str | None:
        return self.descriptions[0].value if self.descriptions else None

    @property
    def inner_ids(self) -> list[str]:
        """The ids of the object's own Classifications and ExternalIdentifiers."""
        return [c.id for c in self.classifications] + [e.id for e in self.external_identifiers]

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name)
        return values[0] if values else None

    def set_slot(self, name: str, values: list[str]) -> None:
        """Replace (or add, after the others) the slot ``name``."""
        self.slots[name] = list(values)


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
    is_opaque: str | None = None
    content_version: str | None = None    # ContentVersionInfo/@versionName (rare in XDS, kept for LeafClass)

    def record_content(self, sha1: str, size: int, repository_unique_id: str) -> None:
        """The repository's attributes of the stored document (ITI-41): hash, size, repositoryUniqueId."""
        self.hash, self.size, self.repository_unique_id = sha1, str(size), repository_unique_id
        self.set_slot("hash", [sha1])
        self.set_slot("size", [str(size)])
        self.set_slot("repositoryUniqueId", [repository_unique_id])


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


@dataclass
class Folder(RegistryObject):
    unique_id: str = ""
    patient_id: str = ""
    codes: list[Code] = field(default_factory=list)
    last_update_time: str | None = None

    def touch(self, when: str) -> None:
        """A new member or a replaced member: lastUpdateTime is ``when`` (ITI TF-3 4.1.9)."""
        self.last_update_time = when
        self.set_slot("lastUpdateTime", [when])


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
