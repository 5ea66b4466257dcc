"""HL7 datatype checks used by XDS metadata validation (ITI TF-3 Table 4.2.3.1.7-2)."""
from __future__ import annotations

import re

_DTM = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?$")
_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_UUID_URN = re.compile(r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_dtm(value: str | None) -> bool:
    """HL7 DTM at any precision from year to second, UTC, no fractions or offsets (XDS form)."""
    if not value or not _DTM.match(value):
        return False
    month = int(value[4:6]) if len(value) >= 6 else 1
    day = int(value[6:8]) if len(value) >= 8 else 1
    hour = int(value[8:10]) if len(value) >= 10 else 0
    minute = int(value[10:12]) if len(value) >= 12 else 0
    second = int(value[12:14]) if len(value) >= 14 else 0
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60


def pad_dtm(value: str | None, fill: str = "0") -> str | None:
    """DTM padded to 14 digits (for range comparisons as strings)."""
    if value is None or not is_dtm(value):
        return None
    if fill == "0":
        return (value + "0101000000"[len(value) - 4:]) if len(value) < 14 else value
    return value.ljust(14, fill)


def is_oid(value: str | None, max_len: int = 64) -> bool:
    return bool(value) and len(value) <= max_len and bool(_OID.match(value))


def is_document_unique_id(value: str | None) -> bool:
    """OID, or OID^extension (ITI TF-3 4.2.3.2.26), at most 128 characters in all."""
    if not value or len(value) > 128:
        return False
    root, _, ext = value.partition("^")
    if not is_oid(root):
        return False
    return "^" not in ext and (not _ or bool(ext))


def is_sha1(value: str | None) -> bool:
    return bool(value) and bool(_SHA1.match(value))


def is_uuid_urn(value: str | None) -> bool:
    return bool(value) and bool(_UUID_URN.match(value))


def is_cx_with_oid(value: str | None) -> bool:
    from profiles.ch.identifiers import CX
    try:
        CX.parse(value or "")
        return True
    except ValueError:
        return False
