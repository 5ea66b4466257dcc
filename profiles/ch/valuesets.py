"""The annex 3 value sets (EPDV-EDI / ODEP-DFI, annex 3) as versioned data.

The value sets are not code: they are read at start from a JSON release file (by default the one
packaged in ``profiles/ch/data/annex3-valuesets.json``, converted from CH Term; see its ``_meta``).
An operator installs a newer annex release by pointing ``valuesets_file`` at a newer file; no code
changes. The file format is::

    {"_meta": {...release information...},
     "<name>": {"valueSetOid": ..., "version": ..., "title": ..., "codes": [{"system", "code", ...}]},
     "_maps": {"classCodeToTypeCode": {"version": ..., "mappings": [{"source": {...}, "target": {...}}]}}}

Lookups are frozensets and dicts built once at load; ``contains`` is a set membership test.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterator, Mapping

PACKAGED_FILE = "annex3-valuesets.json"

# Value sets whose XDS attribute is a plain string without a coding scheme (MIME type, BCP 47 tag,
# the PID-8 component of sourcePatientInfo).
SCHEMELESS = frozenset({"mimeType", "languageCode", "sourcePatientInfoPID8"})
# ... of which these are case-insensitive by their own standards (RFC 2045 5.1, BCP 47 2.1.1).
CASE_INSENSITIVE = frozenset({"mimeType", "languageCode"})

# The sets the annex 3 validator needs; a release file without one of them is refused at load.
REQUIRED_SETS = (
    "classCode", "typeCode", "formatCode", "confidentialityCode", "healthcareFacilityTypeCode",
    "practiceSettingCode", "mimeType", "languageCode", "authorRole", "authorSpeciality",
    "contentTypeCode", "submissionSetAuthorRole", "eventCodeList", "deletionStatus",
    "originalProviderRole", "sourcePatientInfoPID8",
)

CLASS_TYPE_MAP = "classCodeToTypeCode"


class ValueSetError(ValueError):
    """The value-set file cannot be used (unreadable, malformed, a required set missing)."""


@dataclass(frozen=True)
class ValueSet:
    name: str                                   # key in the release file, e.g. "classCode"
    oid: str
    title: str
    version: str
    url: str | None
    xds_attribute: str
    codes: tuple[Mapping[str, Any], ...]
    schemeless: bool = False
    case_insensitive: bool = False
    # derived lookups
    pairs: frozenset = field(default=frozenset(), repr=False)          # {(code, scheme)}
    code_set: frozenset = field(default=frozenset(), repr=False)       # {code} (lower-case if case-insensitive)
    schemes_by_code: Mapping[str, frozenset] = field(default_factory=dict, repr=False)
    schemes: frozenset = field(default=frozenset(), repr=False)

    def __len__(self) -> int:
        return len(self.codes)

    def describe(self) -> str:
        """``title (OID oid, version v)``: how an error message names the expected value set."""
        return f"{self.title} (OID {self.oid}, version {self.version})"

    def contains(self, code: str | None, scheme: str | None = None) -> bool:
        if code is None:
            return False
        if self.schemeless or scheme is None:
            return (code.lower() if self.case_insensitive else code) in self.code_set
        return (code, scheme) in self.pairs

    def has_code(self, code: str | None) -> bool:
        if code is None:
            return False
        return (code.lower() if self.case_insensitive else code) in self.code_set

    def expected_schemes(self, code: str) -> frozenset:
        return self.schemes_by_code.get(code, frozenset())

    def display(self, code: str, lang: str = "en") -> str:
        for c in self.codes:
            if c.get("code") == code:
                d = c.get("display")
                if isinstance(d, dict):
                    return d.get(lang) or c.get("fhirDisplay") or ""
                return d or c.get("fhirDisplay") or ""
        return ""


def _build_value_set(name: str, raw: Mapping[str, Any]) -> ValueSet:
    if not isinstance(raw, Mapping):
        raise ValueSetError(f"value set {name!r}: expected an object")
    codes = raw.get("codes")
    if not isinstance(codes, list) or not codes:
        raise ValueSetError(f"value set {name!r}: 'codes' must be a non-empty list")
    schemeless = name in SCHEMELESS
    folded = name in CASE_INSENSITIVE
    pairs: set[tuple[str, str]] = set()
    code_set: set[str] = set()
    by_code: dict[str, set[str]] = {}
    for i, c in enumerate(codes):
        if not isinstance(c, Mapping) or not isinstance(c.get("code"), str) or not c.get("code"):
            raise ValueSetError(f"value set {name!r}: code #{i} has no 'code'")
        code = c["code"]
        system = c.get("system") or ""
        pairs.add((code, system))
        code_set.add(code.lower() if folded else code)
        by_code.setdefault(code, set()).add(system)
    oid = raw.get("valueSetOid") or ""
    if not oid:
        raise ValueSetError(f"value set {name!r}: 'valueSetOid' is missing")
    return ValueSet(
        name=name, oid=oid, title=raw.get("title") or name, version=str(raw.get("version") or ""),
        url=raw.get("valueSetUrl"), xds_attribute=raw.get("xdsAttribute") or name,
        codes=tuple(codes), schemeless=schemeless, case_insensitive=folded, pairs=frozenset(pairs), code_set=frozenset(code_set),
        schemes_by_code={k: frozenset(v) for k, v in by_code.items()},
        schemes=frozenset(s for _, s in pairs),
    )


class ValueSets:
    """One annex 3 release: every value set of the file, plus the classCode/typeCode pairing."""

    def __init__(self, data: Mapping[str, Any], source: str = "<memory>", sha256: str = ""):
        if not isinstance(data, Mapping):
            raise ValueSetError(f"{source}: the value-set file must hold a JSON object")
        self.source = source
        self.sha256 = sha256
        self.meta: Mapping[str, Any] = data.get("_meta") or {}
        self._sets: dict[str, ValueSet] = {}
        for name, raw in data.items():
            if name.startswith("_"):
                continue
            if isinstance(raw, Mapping) and "codes" in raw:
                self._sets[name] = _build_value_set(name, raw)
        missing = [n for n in REQUIRED_SETS if n not in self._sets]
        if missing:
            raise ValueSetError(f"{source}: required annex 3 value sets missing: {', '.join(missing)}")
        self.maps: Mapping[str, Any] = data.get("_maps") or {}
        self.class_type_map_version: str | None = None
        self._class_types: dict[tuple[str, str], frozenset] | None = None
        cm = self.maps.get(CLASS_TYPE_MAP)
        # The pairing is enforced when the release carries the map, unless it says it is not normative.
        if isinstance(cm, Mapping) and cm.get("mappings") and cm.get("normative", True) is not False:
            table: dict[tuple[str, str], set[tuple[str, str]]] = {}
            for m in cm["mappings"]:
                try:
                    src = (m["source"]["code"], m["source"].get("system") or "")
                    tgt = (m["target"]["code"], m["target"].get("system") or "")
                except (KeyError, TypeError) as exc:
                    raise ValueSetError(f"{source}: malformed {CLASS_TYPE_MAP} mapping {m!r}") from exc
                table.setdefault(src, set()).add(tgt)
            self._class_types = {k: frozenset(v) for k, v in table.items()}
            self.class_type_map_version = str(cm.get("version") or "")

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "ValueSets":
        """Load a release file; ``None`` (or "") loads the packaged release."""
        if path:
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError as exc:
                raise ValueSetError(f"cannot read value-set file {path}: {exc}") from exc
            source = str(path)
        else:
            ref = resources.files("profiles.ch").joinpath("data", PACKAGED_FILE)
            raw = ref.read_bytes()
            source = f"packaged:{PACKAGED_FILE}"
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ValueSetError(f"{source}: not valid JSON: {exc}") from exc
        return cls(data, source=source, sha256=hashlib.sha256(raw).hexdigest())

    # ------------------------------------------------------------------ identity

    @property
    def version(self) -> str:
        """The release this instance enforces, e.g. ``CH Term 3.3.0 (788e193, 2026-04-07)``.

        An explicit ``_meta.release`` wins; otherwise it is built from the CH Term version, the
        source commit and its date.
        """
        meta = self.meta
        if meta.get("release"):
            return str(meta["release"])
        ig = str(meta.get("igVersion") or meta.get("latestPublishedIgVersion") or "").split(" ")[0]
        commit = str(meta.get("commit") or "")[:7]
        date = str(meta.get("commitDate") or "")
        inner = ", ".join(p for p in (commit, date) if p)
        head = f"CH Term {ig}".strip() if ig else "annex 3 value sets"
        return f"{head} ({inner})" if inner else head

    # ------------------------------------------------------------------ lookups

    def names(self) -> list[str]:
        return list(self._sets)

    def __iter__(self) -> Iterator[ValueSet]:
        return iter(self._sets.values())

    def __contains__(self, name: str) -> bool:
        return name in self._sets

    def get(self, name: str) -> ValueSet:
        try:
            return self._sets[name]
        except KeyError:
            raise KeyError(f"no value set {name!r} in {self.source} (have: {', '.join(self._sets)})") from None

    def contains(self, name: str, code: str | None, scheme: str | None = None) -> bool:
        """Is ``code`` (with ``scheme``, when the attribute has one) a member of value set ``name``?

        ``scheme=None`` tests the code alone; for MIME types and language tags the scheme is ignored.
        """
        return self.get(name).contains(code, scheme)

    def describe(self, name: str) -> str:
        return self.get(name).describe()

    @property
    def enforces_class_type_pairing(self) -> bool:
        return self._class_types is not None

    def type_allowed_for_class(self, class_code: str, class_scheme: str,
                               type_code: str, type_scheme: str) -> bool:
        """The annex 3 classCode -> typeCode pairing; True when the release carries no pairing."""
        if self._class_types is None:
            return True
        allowed = self._class_types.get((class_code, class_scheme))
        if allowed is None:
            return False
        return (type_code, type_scheme) in allowed

    def types_for_class(self, class_code: str, class_scheme: str) -> frozenset:
        if self._class_types is None:
            return frozenset()
        return self._class_types.get((class_code, class_scheme), frozenset())

    def summary(self) -> list[dict[str, Any]]:
        """One row per value set: name, title, OID, version, code count (``valuesets show``)."""
        return [{"name": v.name, "title": v.title, "oid": v.oid, "version": v.version, "codes": len(v)}
                for v in self]
