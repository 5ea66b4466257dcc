"""Swiss EPR metadata rules: annex 3 value sets (EPDV-EDI / ODEP-DFI) and the CH identifier rules.

Only the Swiss checks live here; the generic IHE checks (required attributes, cardinalities, CX
syntax, uuid/uniqueId rules) are ``profiles/xds/validate.py``'s, which calls ``validate_submission``.
No I/O: the model of ``profiles/xds/metadata.py`` and a loaded ``ValueSets`` in, errors out. The
same function serves the registry (ITI-41/42), the conformance suite and the client, so an HIS can
validate before it sends (``validate_element`` takes the lxml SubmitObjectsRequest directly).

Every problem of a submission is reported (nothing stops at the first one). Each is a ``Finding``
naming the object (its id), the attribute, the offending value and the expected value set (title +
OID + version); ``validate_submission`` turns them into ``XdsError`` (XDSRegistryMetadataError,
``location`` = the object's id).

Decisions (docs/decisions/003-annex3-valuesets-as-data.md):
* a value is valid only as the (code, codingScheme) pair listed in the set; a listed code under
  another scheme is refused;
* the classCode -> typeCode pairing of the release's ``_maps.classCodeToTypeCode`` is enforced (it
  is annex 3's own grouping of document types under document classes, chapter "typeCode");
  checked only when both codes are themselves valid, so one wrong code yields one error;
* coded slots (authorRole, authorSpecialty, originalProviderRole) use ``CODE^^^&OID&ISO``;
  deletionStatus is the bare code (``urn:e-health-suisse:2019:deletionStatus:...``);
* sourcePatientInfo PID-8: the annex codes (female/male/other/unknown) and their one-to-one HL7 v2
  table 0001 equivalents M/F/O/U (PID-8 is a v2 field); anything else is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from profiles.xds import constants as C
from profiles.xds.errors import XDS_REGISTRY_METADATA_ERROR, XDS_UNKNOWN_PATIENT_ID, XdsError
from profiles.xds.metadata import Author, Code, DocumentEntry, Submission, SubmissionSet

from .identifiers import (CX, EPR_SPID_OID, GLN_OID, NAVS13_OID, is_epr_spid, is_gln, looks_like_navs13,
                          patient_identifier_problem)
from .valuesets import ValueSets

SLOT_REFERENCE_ID_LIST = C.SLOT_REFERENCE_ID_LIST

# HL7 v2 table 0001 -> annex 3 PID-8 code (FHIR AdministrativeGender), one-to-one.
PID8_V2_EQUIVALENTS = {"M": "male", "F": "female", "O": "other", "U": "unknown"}

# sourcePatientInfo fields that carry patient identifiers (CX, repeatable with ~).
_PID_ID_FIELDS = ("PID-2", "PID-3", "PID-4", "PID-18")

DE = "DocumentEntry"
SS = "SubmissionSet"
FOL = "Folder"
ASSOC = "Association"


@dataclass(frozen=True)
class Finding:
    """One Swiss-rule violation of one attribute of one object."""
    object_kind: str            # DocumentEntry / SubmissionSet / Folder / Association
    object_id: str              # entryUUID or symbolic id: also the error's location
    attribute: str              # e.g. "classCode", "author.authorRole", "sourcePatientInfo.PID-8"
    value: str                  # the offending value as received
    message: str                # what is wrong
    expected: str = ""          # the expected value set (title, OID, version) or form
    code: str = XDS_REGISTRY_METADATA_ERROR

    @property
    def context(self) -> str:
        text = f"{self.object_kind} {self.object_id}: {self.attribute} {self.value!r}: {self.message}"
        if self.expected:
            text += f"; expected {self.expected}"
        return text

    def to_error(self) -> XdsError:
        return XdsError(self.code, self.context, self.object_id)


class _Checker:
    def __init__(self, vs: ValueSets, allow_folders: bool, mpi_oid: str | None):
        self.vs = vs
        self.allow_folders = allow_folders
        self.mpi_oid = mpi_oid
        self.out: list[Finding] = []

    def add(self, kind: str, oid: str, attr: str, value: str, message: str, expected: str = "",
            code: str = XDS_REGISTRY_METADATA_ERROR) -> None:
        self.out.append(Finding(kind, oid, attr, value, message, expected, code))

    # ------------------------------------------------------------ coded values

    def code(self, kind: str, obj_id: str, attr: str, vs_name: str, c: Code | None) -> bool:
        """Check a classification code (nodeRepresentation + codingScheme). True when valid."""
        if c is None:
            return False                  # presence is the generic IHE check's business
        vs = self.vs.get(vs_name)
        if vs.contains(c.code, c.scheme):
            return True
        value = c.key()
        if vs.has_code(c.code):
            want = " or ".join(sorted(vs.expected_schemes(c.code)))
            self.add(kind, obj_id, attr, value,
                     f"code {c.code} is in the value set under codingScheme {want}, not {c.scheme or '(none)'}",
                     vs.describe())
        else:
            self.add(kind, obj_id, attr, value, "code is not in the annex 3 value set", vs.describe())
        return False

    def plain(self, kind: str, obj_id: str, attr: str, vs_name: str, value: str | None) -> None:
        """A schemeless value (mimeType, languageCode)."""
        if not value:
            return
        vs = self.vs.get(vs_name)
        if not vs.contains(value):
            self.add(kind, obj_id, attr, value, "value is not in the annex 3 value set", vs.describe())

    def coded_slot(self, kind: str, obj_id: str, attr: str, vs_name: str, value: str) -> None:
        """A ``CODE^^^&OID&ISO`` slot value (authorRole, authorSpecialty, originalProviderRole)."""
        vs = self.vs.get(vs_name)
        parsed = _parse_coded(value)
        if parsed is None:
            self.add(kind, obj_id, attr, value, "must be coded as CODE^^^&OID&ISO", vs.describe())
            return
        code, scheme = parsed
        if vs.contains(code, scheme):
            return
        if vs.has_code(code):
            want = " or ".join(sorted(vs.expected_schemes(code)))
            self.add(kind, obj_id, attr, value,
                     f"code {code} is in the value set under OID {want}, not {scheme}", vs.describe())
        else:
            self.add(kind, obj_id, attr, value, "code is not in the annex 3 value set", vs.describe())

    # ------------------------------------------------------------ identifiers

    def patient_cx(self, kind: str, obj_id: str, attr: str, value: str, *, must_be_mpi: bool = False) -> None:
        for item in _repetitions(value):
            ident, oid = _cx_id_oid(item)
            problem = _patient_id_problem(ident, oid)
            if problem:
                self.add(kind, obj_id, attr, item, problem)
            elif must_be_mpi and self.mpi_oid and oid != self.mpi_oid:
                self.add(kind, obj_id, attr, item,
                         "the patientId must be the community's MPI-PID",
                         f"assigning authority &{self.mpi_oid}&ISO", code=XDS_UNKNOWN_PATIENT_ID)

    def person(self, kind: str, obj_id: str, attr: str, value: str) -> None:
        """XCN (authorPerson, legalAuthenticator): GLN check digit, no EPR-SPID / NAVS13."""
        parts = value.split("^")
        ident = parts[0]
        oid = _hd_oid(parts[8]) if len(parts) > 8 else ""
        self._party_id(kind, obj_id, attr, value, ident, oid)

    def organisation(self, kind: str, obj_id: str, attr: str, value: str) -> None:
        """XON (authorInstitution): XON.10 (or legacy XON.3) under XON.6 = GLN must be a valid GLN."""
        parts = value.split("^")
        oid = _hd_oid(parts[5]) if len(parts) > 5 else ""
        ident = parts[9] if len(parts) > 9 and parts[9] else (parts[2] if len(parts) > 2 else "")
        self._party_id(kind, obj_id, attr, value, ident, oid)

    def recipient(self, kind: str, obj_id: str, attr: str, value: str) -> None:
        """intendedRecipient: XON|XCN|XTN."""
        fields = value.split("|")
        if fields[0]:
            self.organisation(kind, obj_id, attr, value if len(fields) == 1 else fields[0])
        if len(fields) > 1 and fields[1]:
            self.person(kind, obj_id, attr, fields[1])

    def _party_id(self, kind, obj_id, attr, value, ident, oid) -> None:
        if oid == EPR_SPID_OID:
            self.add(kind, obj_id, attr, value, "the EPR-SPID may not be stored in registry or repository metadata")
        elif oid == NAVS13_OID:
            self.add(kind, obj_id, attr, value, "an AHV/AVS number (NAVS13) may not be used as an identifier in the EPR")
        elif oid == GLN_OID and not is_gln(ident):
            self.add(kind, obj_id, attr, value,
                     f"{ident!r} is not a valid GLN (13 digits, GS1 check digit)", f"a GLN under &{GLN_OID}&ISO")

    # ------------------------------------------------------------ objects

    def authors(self, kind: str, obj_id: str, authors: Iterable[Author], role_set: str) -> None:
        for a in authors:
            if a.person:
                self.person(kind, obj_id, "author.authorPerson", a.person)
            for inst in a.institutions:
                self.organisation(kind, obj_id, "author.authorInstitution", inst)
            for role in a.roles:
                self.coded_slot(kind, obj_id, "author.authorRole", role_set, role)
            for spec in a.specialties:
                self.coded_slot(kind, obj_id, "author.authorSpecialty", "authorSpeciality", spec)

    def document(self, d: DocumentEntry) -> None:
        i = d.entry_uuid
        if not (d.title or "").strip():
            self.add(DE, i, "title", d.title or "", "a DocumentEntry title is required in the Swiss EPR")
        class_ok = self.code(DE, i, "classCode", "classCode", d.class_code)
        type_ok = self.code(DE, i, "typeCode", "typeCode", d.type_code)
        if class_ok and type_ok and not self.vs.type_allowed_for_class(
                d.class_code.code, d.class_code.scheme, d.type_code.code, d.type_code.scheme):
            allowed = sorted(c for c, _ in self.vs.types_for_class(d.class_code.code, d.class_code.scheme))
            self.add(DE, i, "typeCode", d.type_code.key(),
                     f"typeCode {d.type_code.code} does not belong to classCode {d.class_code.code}",
                     f"one of {', '.join(allowed)} (annex 3 classCode/typeCode pairing, "
                     f"map {self.vs.class_type_map_version})")
        self.code(DE, i, "formatCode", "formatCode", d.format_code)
        self.code(DE, i, "healthcareFacilityTypeCode", "healthcareFacilityTypeCode", d.healthcare_facility_type_code)
        self.code(DE, i, "practiceSettingCode", "practiceSettingCode", d.practice_setting_code)
        conf = d.confidentiality_codes
        if len(conf) != 1:
            vs = self.vs.get("confidentialityCode")
            self.add(DE, i, "confidentialityCode", ", ".join(c.key() for c in conf),
                     f"exactly one confidentialityCode is required, found {len(conf)}",
                     f"one code of {vs.describe()}")
        for c in conf:
            self.code(DE, i, "confidentialityCode", "confidentialityCode", c)
        for c in d.event_codes:
            self.code(DE, i, "eventCodeList", "eventCodeList", c)
        self.plain(DE, i, "mimeType", "mimeType", d.mime_type)
        self.plain(DE, i, "languageCode", "languageCode", d.language_code)
        self.authors(DE, i, d.authors, "authorRole")
        if d.legal_authenticator:
            self.person(DE, i, "legalAuthenticator", d.legal_authenticator)
        # Swiss extra metadata
        opr = d.slots.get(C.SLOT_ORIGINAL_PROVIDER_ROLE, [])
        if len(opr) > 1:
            self.add(DE, i, C.SLOT_ORIGINAL_PROVIDER_ROLE, ", ".join(opr), "must have a single value")
        for v in opr:
            self.coded_slot(DE, i, C.SLOT_ORIGINAL_PROVIDER_ROLE, "originalProviderRole", v)
        dst = d.slots.get(C.SLOT_DELETION_STATUS, [])
        if len(dst) > 1:
            self.add(DE, i, C.SLOT_DELETION_STATUS, ", ".join(dst), "must have a single value")
        ds_vs = self.vs.get("deletionStatus")
        for v in dst:
            if not ds_vs.has_code(v):
                msg = ("the deletionStatus slot carries the bare code, not a CX" if "^" in v
                       else "code is not in the annex 3 value set")
                self.add(DE, i, C.SLOT_DELETION_STATUS, v, msg, ds_vs.describe())
        # identifiers
        if d.patient_id:
            self.patient_cx(DE, i, "patientId", d.patient_id, must_be_mpi=True)
        if d.source_patient_id:
            self.patient_cx(DE, i, "sourcePatientId", d.source_patient_id)
        for entry in d.source_patient_info:
            self.source_patient_info(i, entry)
        for ref in d.reference_ids:
            ident, oid = _cx_id_oid(ref)
            problem = _patient_id_problem(ident, oid)
            if problem:
                self.add(DE, i, "referenceIdList", ref, problem)
        self.other_slots(DE, i, d.slots, _DE_CHECKED_SLOTS)

    def source_patient_info(self, obj_id: str, entry: str) -> None:
        field, _, value = entry.partition("|")
        field = field.strip().upper()
        attr = f"sourcePatientInfo.{field}"
        if field in _PID_ID_FIELDS:
            self.patient_cx(DE, obj_id, attr, value)
        elif field == "PID-19":
            if looks_like_navs13(value) or NAVS13_OID in value:
                self.add(DE, obj_id, attr, value,
                         "an AHV/AVS number (NAVS13) may not be used as a patient identifier")
        elif field == "PID-8":
            vs = self.vs.get("sourcePatientInfoPID8")
            v = value.strip()
            if not (vs.contains(v) or (v.upper() in PID8_V2_EQUIVALENTS and v == v.upper())):
                self.add(DE, obj_id, attr, value, "administrative sex is not in the annex 3 value set",
                         vs.describe() + " or its HL7 v2 equivalents M/F/O/U")
        elif EPR_SPID_OID in value:
            self.add(DE, obj_id, attr, value, "the EPR-SPID may not be stored in registry or repository metadata")

    def other_slots(self, kind: str, obj_id: str, slots: dict[str, list[str]], checked: frozenset) -> None:
        """Catch-all: the EPR-SPID / AHV assigning authority in any other slot of the object."""
        for name, values in slots.items():
            if name in checked:
                continue
            for v in values:
                if f"&{EPR_SPID_OID}&" in v:
                    self.add(kind, obj_id, name, v, "the EPR-SPID may not be stored in registry or repository metadata")
                elif f"&{NAVS13_OID}&" in v:
                    self.add(kind, obj_id, name, v, "an AHV/AVS number (NAVS13) may not appear in EPR metadata")

    def submission_set(self, s: SubmissionSet) -> None:
        i = s.entry_uuid
        self.code(SS, i, "contentTypeCode", "contentTypeCode", s.content_type_code)
        self.authors(SS, i, s.authors, "submissionSetAuthorRole")
        if s.patient_id:
            self.patient_cx(SS, i, "patientId", s.patient_id, must_be_mpi=True)
        for r in s.intended_recipients:
            self.recipient(SS, i, "intendedRecipient", r)
        self.other_slots(SS, i, s.slots, _SS_CHECKED_SLOTS)

    def folders_and_associations(self, sub: Submission) -> None:
        folder_ids = {f.entry_uuid for f in sub.folders} | set(sub.classified_folders)
        ss_id = sub.submission_set.entry_uuid if sub.submission_set is not None else None
        if not self.allow_folders:
            for f in sub.folders:
                self.add(FOL, f.entry_uuid, "Folder", f.unique_id or f.entry_uuid,
                         "Folders are not permitted in the Swiss EPR")
            for a in sub.associations:
                # A HasMember whose source is not the submission set can only come from a Folder
                # (one in this submission or one already registered).
                from_folder = a.source in folder_ids or (
                    a.type == C.ASSOC_HAS_MEMBER and ss_id is not None and a.source != ss_id)
                if from_folder or a.target in folder_ids:
                    self.add(ASSOC, a.entry_uuid, "Association", f"{a.source} -> {a.target}",
                             "associations to or from Folders are not permitted in the Swiss EPR")
        else:
            for f in sub.folders:
                if f.patient_id:
                    self.patient_cx(FOL, f.entry_uuid, "patientId", f.patient_id, must_be_mpi=True)
                self.other_slots(FOL, f.entry_uuid, f.slots, frozenset())


_DE_CHECKED_SLOTS = frozenset({"sourcePatientId", "sourcePatientInfo", "legalAuthenticator", SLOT_REFERENCE_ID_LIST,
                               C.SLOT_ORIGINAL_PROVIDER_ROLE, C.SLOT_DELETION_STATUS})
_SS_CHECKED_SLOTS = frozenset({"intendedRecipient"})


def _repetitions(value: str) -> list[str]:
    return [v for v in value.split("~") if v] if "~" in value else [value]


def _hd_oid(hd: str) -> str:
    parts = hd.split("&")
    return parts[1] if len(parts) > 1 else ""


def _cx_id_oid(value: str) -> tuple[str, str]:
    """The id and assigning-authority OID of a CX, leniently (syntax is the generic check's job)."""
    parts = value.split("^")
    return parts[0], (_hd_oid(parts[3]) if len(parts) > 3 else "")


def _patient_id_problem(ident: str, oid: str) -> str | None:
    problem = patient_identifier_problem(CX(id=ident, oid=oid))
    if problem:
        return problem
    if is_epr_spid(ident):
        return "an EPR-SPID (under whatever assigning authority) may not be stored in registry or repository metadata"
    return None


def _parse_coded(value: str) -> tuple[str, str] | None:
    """``CODE^^^&OID&ISO`` (a namespace before the first & is tolerated) -> (code, OID)."""
    parts = value.split("^")
    if len(parts) != 4 or not parts[0] or parts[1] or parts[2]:
        return None
    hd = parts[3].split("&")
    if len(hd) != 3 or hd[2] != "ISO" or not hd[1]:
        return None
    return parts[0], hd[1]


# ---------------------------------------------------------------------------- public API

def check_submission(sub: Submission, vs: ValueSets, *, allow_folders: bool = False,
                     mpi_oid: str | None = None) -> list[Finding]:
    """Every Swiss/annex 3 violation of ``sub`` as structured findings (document order)."""
    ch = _Checker(vs, allow_folders, mpi_oid)
    if sub.submission_set is not None:
        ch.submission_set(sub.submission_set)
    for d in sub.documents:
        ch.document(d)
    ch.folders_and_associations(sub)
    return ch.out


def validate_submission(sub: Submission, vs: ValueSets, *, allow_folders: bool = False,
                        mpi_oid: str | None = None) -> list[XdsError]:
    """The Swiss/annex 3 checks of ITI-41/42 as XdsErrors (all of them, never only the first).

    ``mpi_oid``: when given, every patientId must be an MPI-PID of this assigning authority
    (XDSUnknownPatientId otherwise).
    """
    return [f.to_error() for f in check_submission(sub, vs, allow_folders=allow_folders, mpi_oid=mpi_oid)]


def validate_element(sor, vs: ValueSets, *, allow_folders: bool = False,
                     mpi_oid: str | None = None) -> list[XdsError]:
    """Parse an ``lcm:SubmitObjectsRequest`` element and validate it: the structural errors of the
    parse followed by the Swiss ones (for clients and the conformance suite)."""
    from profiles.xds.ebrim import parse_submission
    sub, errors = parse_submission(sor)
    return list(errors) + validate_submission(sub, vs, allow_folders=allow_folders, mpi_oid=mpi_oid)


def find_submit_objects_request(root):
    """The SubmitObjectsRequest inside a SOAP envelope / ProvideAndRegisterDocumentSetRequest, or
    ``root`` itself; None when there is none."""
    tag = "{%s}SubmitObjectsRequest" % C.NS_LCM
    if root.tag == tag:
        return root
    return next(root.iter(tag), None)
