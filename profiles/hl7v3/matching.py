"""The PDQ match rule: which candidates match an ITI-47 query, and how well (``queryMatchObservation``).

The store selects candidates on the indexed criteria (names, birth date, gender, address,
identifiers); this module decides, on those candidates, the match and its score:
100 literal, 90 case/accent-insensitive (or the first given names), 80 first given name in fuzzy
mode, 70 prefix; telecom and mother's maiden name are checked here.
"""
from __future__ import annotations

from typing import Iterable

from profiles.hl7v3.mpi import Patient, PersonName, normalize
from profiles.hl7v3.ports import DemographicQuery, NameCriterion, SearchHit


def score(patient: Patient, q: DemographicQuery) -> int | None:
    """Match score of a candidate (None: not a match)."""
    d = patient.demographics
    if q.telecom and not any(normalize(t.value) == normalize(q.telecom) for t in d.telecoms):
        return None
    if q.mothers_maiden_name and normalize(d.mothers_maiden_name) != normalize(q.mothers_maiden_name):
        return None
    result = 100
    for crit in q.names:
        best = 0
        for n in d.names:
            best = max(best, name_score(n, crit))
        if best == 0:
            return None
        result = min(result, best)
    return result


def name_score(n: PersonName, crit: NameCriterion) -> int:
    def one(stored: str, wanted: str, prefix: bool) -> int:
        if not wanted:
            return 100
        if stored == wanted:
            return 100
        s, w = normalize(stored), normalize(wanted)
        if s == w:
            return 90
        if s.startswith(w + " "):   # first given name(s)
            return 90 if not prefix else 80
        if prefix and s.startswith(w):
            return 70
        return 0
    return min(one(n.family, crit.family, crit.prefix), one(n.given_text, crit.given, crit.prefix))


def rank(candidates: Iterable[Patient], q: DemographicQuery, limit: int | None = None) -> list[SearchHit]:
    """The matching candidates with their scores, best first (then by store key), at most ``limit``."""
    hits = []
    for patient in candidates:
        s = score(patient, q)
        if s is not None:
            hits.append(SearchHit(patient, s))
    hits.sort(key=lambda h: (-h.score, h.patient.key or 0))
    return hits if limit is None else hits[:limit]
