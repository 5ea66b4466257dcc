"""A plain reference model of the patient's access rights, written apart from the engine.

It reads the rights as the issue and the official stack's documentation (docs/2_Relations.md) state
them, as a few direct rules over a flat description of the patient's choices -- no policy sets, no
targets, no combining algorithms. The property tests check the engine (through the policy store and
the filters) against it.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

ORDER = {"normal": 0, "restricted": 1, "secret": 2}


@dataclass(frozen=True)
class Grant:
    kind: str                 # "hcp" (301), "exclude" (301 exclusion), "group" (302), "rep" (303), "delegate" (304)
    subject: str              # GLN, group OID (plain), representative id
    level: str = "normal"     # normal | restricted (hcp, group, delegate)
    start: _dt.date | None = None
    end: _dt.date | None = None

    def valid(self, today: _dt.date) -> bool:
        return (self.start is None or self.start <= today) and (self.end is None or today <= self.end)


@dataclass(frozen=True)
class Choices:
    """What the patient decided."""

    spid: str
    opened: bool = True
    emergency: str = "normal"          # normal | restricted | off
    provide: str = "normal"            # normal | restricted | secret (203: 108 / 107 / 109)
    grants: tuple[Grant, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Caller:
    role: str | None
    user_id: str | None
    purpose: str | None
    organisations: tuple[str, ...] = ()   # plain OIDs
    acting_id: str | None = None


def may(c: Choices, who: Caller, action: str, level: str | None, today: _dt.date) -> bool:
    """action: read | write | update | policy | audit | delegate."""
    if not c.opened or not who.role or not who.user_id:
        return False
    live = [g for g in c.grants if g.valid(today)]
    role = who.role
    professional = role in ("HCP", "ASS", "TCU")
    # the exclusion list beats everything, emergency included (also the excluded one as assistant)
    if professional and any(g.kind == "exclude" and g.subject in (who.user_id, who.acting_id) for g in live):
        return False
    if action == "delegate" and role in ("PAT", "REP", "PADM"):
        action = "policy"                             # whoever manages the policies may grant access
    reading = action in ("read", "delegate")
    if reading and who.purpose not in ("NORM", "EMER"):
        return False
    if action == "update" and who.purpose != "NORM":
        return False
    if role in ("PAT", "REP"):
        if role == "PAT" and who.user_id != c.spid:
            return False
        if role == "REP" and not any(g.kind == "rep" and g.subject == who.user_id for g in live):
            return False
        return True                                   # everything, every level, policies, audit trail
    if role == "PADM":
        return action == "policy"                     # policies, no documents
    if role == "DADM":
        return action in ("read", "write", "update")  # documents of every level, no policies
    if not professional:
        return False
    if role == "TCU":
        # a technical user uploads under 203 (purpose AUTO) and never reads
        return action == "write" and who.purpose in ("NORM", "AUTO", "DICOM_AUTO") and _provides(c, level)
    if action == "write":
        return who.purpose in ("NORM", "AUTO", "DICOM_AUTO") and _provides(c, level)
    if action in ("policy", "audit") or level is None or level == "secret":
        return False                                  # secret never reaches a professional
    mine = [g for g in live if (g.kind in ("hcp", "delegate") and g.subject == who.user_id)
            or (g.kind == "group" and g.subject in who.organisations)]
    if action == "delegate":
        mine = [g for g in mine if g.kind == "delegate"]
    best = max((ORDER[g.level] for g in mine), default=-1)
    if action == "read" and who.purpose == "EMER" and c.emergency != "off":
        best = max(best, ORDER[c.emergency])
    return ORDER[level] <= best


def _provides(c: Choices, level: str | None) -> bool:
    allowed = {"normal": ("normal", "restricted"), "restricted": ("restricted",), "secret": ("secret",)}
    return level in allowed[c.provide]


def emergency_only(c: Choices, who: Caller, level: str, today: _dt.date) -> bool:
    """Readable only because of the emergency setting."""
    if not may(c, who, "read", level, today):
        return False
    return not may(Choices(c.spid, c.opened, "off", c.provide, c.grants), who, "read", level, today)


def stored_level(c: Choices, provided: str) -> str:
    """The patient's default confidentiality raises a less restrictive code of the provider."""
    return max(provided, c.provide, key=ORDER.__getitem__)
