"""Every check a Swiss EPR registry applies to a submission's metadata, in one call.

The structural ebRIM errors, the IHE rules (ITI TF-3 4.3.1) and the annex 3 / CH:EPR rules, as the
gateway applies them on ITI-41 and ITI-42 — for the ``valuesets check`` command, the conformance
suite and HIS integrators who want to validate before they send. (The registry additionally checks
what needs its data: the patient known to the MPI, uniqueIds, replaced documents.)
"""
from __future__ import annotations

from profiles.xds import constants as C
from profiles.xds.ebrim import parse_submission
from profiles.xds.errors import XdsError
from profiles.xds.validate import validate_submission as ihe_rules

from .annex3 import validate_submission as annex3_rules
from .valuesets import ValueSets


def is_provide_and_register(sor) -> bool:
    """True when the SubmitObjectsRequest sits in an ITI-41 ProvideAndRegisterDocumentSetRequest."""
    parent = sor.getparent()
    return parent is not None and parent.tag == "{%s}ProvideAndRegisterDocumentSetRequest" % C.NS_XDS


def check_submission_element(sor, vs: ValueSets, *, for_register: bool | None = None,
                             allow_folders: bool = False, mpi_oid: str | None = None) -> list[XdsError]:
    """All errors of a ``lcm:SubmitObjectsRequest`` element.

    ``for_register``: ITI-42 rules (hash, size, repositoryUniqueId required); ``None`` decides from
    the element's context (inside a ProvideAndRegisterDocumentSetRequest: ITI-41, else ITI-42).
    """
    if for_register is None:
        for_register = not is_provide_and_register(sor)
    sub, errors = parse_submission(sor)
    errors = list(errors)
    errors += ihe_rules(sub, for_register=for_register)
    errors += annex3_rules(sub, vs, allow_folders=allow_folders, mpi_oid=mpi_oid)
    return list(dict.fromkeys(errors))
