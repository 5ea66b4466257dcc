"""The DICOM audit message schema (shipped as package data), for validating every record."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from lxml import etree


@lru_cache(maxsize=1)
def audit_schema() -> etree.RelaxNG:
    data = resources.files("profiles.atna").joinpath("data/audit-message.rng").read_bytes()
    return etree.RelaxNG(etree.fromstring(data))


def schema_errors(message: etree._Element) -> list[str]:
    """The schema violations of ``message`` (empty: valid)."""
    schema = audit_schema()
    if schema.validate(message):
        return []
    return [f"{e.line}: {e.message}" for e in schema.error_log]
