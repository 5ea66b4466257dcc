"""The value syntax of stored-query parameters (ITI TF-2a 3.18.4.1.2.3.5): strings in single quotes
(``''`` escapes a quote), numbers bare, lists in parentheses; codes as ``code^^scheme``; authorPerson
patterns as ebRS LIKE.
"""
from __future__ import annotations

import re

from .query_model import Code

def split_values(text: str) -> list[str]:
    """The values of one ``rim:Value``: ``'a'``, ``('a','b')``, ``123`` or ``(1,2)``.

    Raises ValueError on unbalanced quotes or parentheses.
    """
    s = (text or "").strip()
    if s.startswith("("):
        if not s.endswith(")"):
            raise ValueError(f"list value {s!r} lacks its closing parenthesis")
        s = s[1:-1]
        items: list[str] = []
        i, n = 0, len(s)
        while i < n:
            while i < n and s[i] in " \t\r\n":
                i += 1
            if i >= n:
                break
            value, i = _one_value(s, i)
            items.append(value)
            while i < n and s[i] in " \t\r\n":
                i += 1
            if i < n:
                if s[i] != ",":
                    raise ValueError(f"expected ',' in list value ({s})")
                i += 1
                if i >= n or not s[i:].strip():
                    raise ValueError(f"empty list item in ({s})")
        return items
    if not s:
        return []
    value, i = _one_value(s, 0)
    if s[i:].strip():
        raise ValueError(f"unexpected text after value in {s!r}")
    return [value]


def _one_value(s: str, i: int) -> tuple[str, int]:
    n = len(s)
    if s[i] == "'":
        out: list[str] = []
        i += 1
        while True:
            j = s.find("'", i)
            if j < 0:
                raise ValueError(f"unterminated quoted string in {s!r}")
            out.append(s[i:j])
            if j + 1 < n and s[j + 1] == "'":      # '' is an escaped quote
                out.append("'")
                i = j + 2
                continue
            return "".join(out), j + 1
    j = i
    while j < n and s[j] not in ", \t\r\n)":
        j += 1
    return s[i:j], j


def parse_code(value: str) -> Code | None:
    """``code^^scheme`` (HL7 CE with empty display) -> (code, scheme); None if either is missing."""
    parts = value.split("^")
    if len(parts) < 3 or not parts[0] or not parts[2] or len(parts) > 3:
        return None
    return parts[0], parts[2]


def author_pattern_matches(pattern: str, value: str) -> bool:
    """ebRS LIKE (``%``, ``_``), case-sensitive, over the whole value: the reference semantics."""
    rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


