"""Input limits of the HL7 V3 profiles (issue 14 item 2): what one message may carry.

Configurable (``Settings.hl7_*``, ``EPD_HL7_*``); past a limit the message is answered AE with a
catalogued detail naming the limit (:mod:`profiles.hl7v3.messages_catalogue`) and nothing is stored.
Checked on the parsed model, before any port is called.
"""
from __future__ import annotations

from dataclasses import dataclass

from profiles.hl7v3.messages_catalogue import M
from profiles.hl7v3.mpi import Demographics


@dataclass(frozen=True)
class Hl7v3Limits:
    max_name_part_length: int = 255      # a name part, address part, telecom value, mother's maiden name
    max_identifier_length: int = 255     # the extension of an identifier (the mpi_local_id column's size)
    max_identifiers_per_person: int = 20  # Patient.id + asOtherIDs/id of one person
    max_repetitions: int = 20            # names, addresses, telecoms of one person
    max_parameter_values: int = 20       # values of one query parameter (all its occurrences together)


DEFAULT_LIMITS = Hl7v3Limits()


def check_text(value: str, what: str, location: str, limits: Hl7v3Limits) -> None:
    if value and len(value) > limits.max_name_part_length:
        raise M.TEXT_TOO_LONG.error(location, what=what, limit=limits.max_name_part_length)


def check_demographics(d: Demographics, base: str, limits: Hl7v3Limits) -> None:
    """Every text of ``d`` within the part length, every repetition within its count."""
    for what, items in (("names", d.names), ("addresses", d.addresses), ("telecoms", d.telecoms)):
        if len(items) > limits.max_repetitions:
            raise M.TOO_MANY_ENTRIES.error(base, what=what, limit=limits.max_repetitions)
    for i, n in enumerate(d.names, 1):
        loc = f"{base}/hl7:name[{i}]"
        for what, value in (("family", n.family), ("prefix", n.prefix), ("suffix", n.suffix)):
            check_text(value, f"name part {what}", loc, limits)
        for g in n.given:
            check_text(g, "name part given", loc, limits)
        if len(n.given) > limits.max_repetitions:
            raise M.TOO_MANY_ENTRIES.error(loc, what="given names", limit=limits.max_repetitions)
    for i, a in enumerate(d.addresses, 1):
        loc = f"{base}/hl7:addr[{i}]"
        for line in a.street_lines:
            check_text(line, "address line", loc, limits)
        if len(a.street_lines) > limits.max_repetitions:
            raise M.TOO_MANY_ENTRIES.error(loc, what="address lines", limit=limits.max_repetitions)
        for what, value in (("city", a.city), ("postal code", a.postal_code), ("state", a.state),
                            ("country", a.country)):
            check_text(value, what, loc, limits)
    for i, t in enumerate(d.telecoms, 1):
        check_text(t.value, "telecom", f"{base}/hl7:telecom[{i}]", limits)
    check_text(d.mothers_maiden_name, "mother's maiden name", f"{base}/hl7:personalRelationship", limits)


def check_identifier_length(extension: str, location: str, limits: Hl7v3Limits) -> None:
    if len(extension or "") > limits.max_identifier_length:
        raise M.ID_TOO_LONG.error(location, limit=limits.max_identifier_length)
