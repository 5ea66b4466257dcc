"""The patient's default confidentiality applied to a document being provided.

The patient's provide level (template 203) is the lowest confidentiality a new document gets: a
less restrictive confidentialityCode from the provider is raised to it (the provider cannot lower
it). The document's metadata model is changed (its confidentialityCode classifications and the
index of codes the rules read), and the registry renders what it stores from the model, so the
registered metadata says what the rights engine decided on.
"""
from __future__ import annotations

from profiles.adr import model as M
from profiles.xds import constants as C
from profiles.xds.metadata import Classification, Code, DocumentEntry, LocalizedString

DISPLAY = {M.NORMAL: "Normal", M.RESTRICTED: "Restricted", M.SECRET: "Secret"}
CLASSIFICATION_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"


def raise_confidentiality(doc: DocumentEntry, level: str) -> bool:
    """Give ``doc`` the single confidentialityCode of ``level`` when its own is less restrictive.
    Returns True when the document was changed."""
    current = M.level_of_codes([(c.code, c.scheme) for c in doc.confidentiality_codes])
    if doc.confidentiality_codes and M.rank(current) >= M.rank(level):
        return False
    code, scheme = M.CONFIDENTIALITY_CODES[level]
    doc.confidentiality_codes = [Code(code, scheme, DISPLAY[level])]
    existing = [c for c in doc.classifications if c.scheme == C.DE_CONFIDENTIALITY_CODE]
    keep = existing[0] if existing else Classification(
        id=f"{doc.entry_uuid}-confidentiality", scheme=C.DE_CONFIDENTIALITY_CODE, classified_object=doc.entry_uuid,
        object_type=CLASSIFICATION_TYPE)
    keep.node_representation = code
    keep.slots = {"codingScheme": [scheme]}
    keep.names = [LocalizedString(DISPLAY[level])]
    doc.classifications = [c for c in doc.classifications if c.scheme != C.DE_CONFIDENTIALITY_CODE] + [keep]
    return True
