"""Swiss EPR identifiers: EPR-SPID, AHV/AVS number (NAVS13), GLN, and the CX form they travel in.

Facts from ../shared/epr/epr-identifiers.md: EPR-SPID is 18 digits ``76133761`` + 9 digits + a GS1
mod-10 check digit, under OID 2.16.756.5.30.1.127.3.10.3; NAVS13 is 13 digits ``756`` + 9 digits + a
GS1 check digit under 2.16.756.5.32 and may never be an identifier in the record; GLN is 13 digits
(GS1) under 2.51.1.3.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

EPR_SPID_OID = "2.16.756.5.30.1.127.3.10.3"
NAVS13_OID = "2.16.756.5.32"
GLN_OID = "2.51.1.3"
EPR_ROLE_OID = "2.16.756.5.30.1.127.3.10.6"

_EPR_SPID_RE = re.compile(r"^76133761[0-9]{10}$")
_NAVS13_RE = re.compile(r"^756[0-9]{10}$")
_NAVS13_DOTTED_RE = re.compile(r"^756\.[0-9]{4}\.[0-9]{4}\.[0-9]{2}$")
_GLN_RE = re.compile(r"^[0-9]{13}$")
_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def gs1_check_digit(data: str) -> int:
    """GS1 mod-10 check digit of ``data`` (digits without the check digit)."""
    total = 0
    for i, ch in enumerate(reversed(data)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _gs1_valid(value: str) -> bool:
    return gs1_check_digit(value[:-1]) == int(value[-1])


def is_epr_spid(value: str) -> bool:
    return bool(_EPR_SPID_RE.match(value)) and _gs1_valid(value)


def epr_spid_problem(value: str) -> str | None:
    """Why ``value`` is not a valid EPR-SPID, or None."""
    if not _EPR_SPID_RE.match(value or ""):
        return "an EPR-SPID is 18 digits starting with 76133761"
    if not _gs1_valid(value):
        return "EPR-SPID check digit is wrong"
    return None


def looks_like_navs13(value: str) -> bool:
    """True for anything shaped like an AHV/AVS number (with or without dots), valid or not."""
    value = (value or "").strip()
    return bool(_NAVS13_RE.match(value) or _NAVS13_DOTTED_RE.match(value))


def is_navs13(value: str) -> bool:
    value = (value or "").replace(".", "")
    return bool(_NAVS13_RE.match(value)) and _gs1_valid(value)


def is_gln(value: str) -> bool:
    return bool(_GLN_RE.match(value or "")) and _gs1_valid(value)


def is_oid(value: str) -> bool:
    return bool(_OID_RE.match(value or "")) and len(value) <= 64


@dataclass(frozen=True)
class CX:
    """An HL7 v2 CX identifier ``id^^^&OID&ISO`` (only the id and the universal id matter here)."""
    id: str
    oid: str
    namespace: str = ""

    def __str__(self) -> str:
        return f"{self.id}^^^{self.namespace}&{self.oid}&ISO"

    @classmethod
    def parse(cls, text: str) -> "CX":
        """Parse a CX; ValueError says what is wrong."""
        if text is None:
            raise ValueError("empty CX")
        parts = text.split("^")
        if len(parts) < 4 or not parts[0]:
            raise ValueError(f"not a CX (id^^^&OID&ISO): {text!r}")
        hd = parts[3].split("&")
        if len(hd) != 3 or hd[2] != "ISO" or not is_oid(hd[1]):
            raise ValueError(f"CX assigning authority must be &OID&ISO: {text!r}")
        if any(parts[1:3]):
            raise ValueError(f"CX components 2 and 3 must be empty: {text!r}")
        if len(parts) > 4 and any(p for p in parts[4:] if p):
            # CX.5 identifier type code is allowed by IHE; keep it lenient but refuse junk.
            if len(parts) > 5:
                raise ValueError(f"CX has too many components: {text!r}")
        return cls(id=parts[0], oid=hd[1], namespace=hd[0])


def patient_identifier_problem(cx: CX) -> str | None:
    """Swiss rule: EPR-SPID and AHV numbers are never patient identifiers in the record."""
    if cx.oid == NAVS13_OID or looks_like_navs13(cx.id):
        return "an AHV/AVS number (NAVS13) may not be used as a patient identifier"
    if cx.oid == EPR_SPID_OID:
        return "the EPR-SPID may not be stored in registry or repository metadata"
    return None
