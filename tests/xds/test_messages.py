"""The XDS message catalogue: every entry carries an IHE error code of errors.py and a template
whose fields a call site can fill; no XDS call site on the write side builds free-text errors."""
from __future__ import annotations

import re
import string
from pathlib import Path

from profiles.xds import errors as E
from profiles.xds import messages as M

CODES = {v for k, v in vars(E).items() if k.startswith("XDS_") and isinstance(v, str)}
ENTRIES = {k: v for k, v in vars(M).items() if isinstance(v, M.Message)}
ROOT = Path(__file__).resolve().parents[2]


def test_every_entry_has_an_ihe_code_and_a_wellformed_template():
    assert len(ENTRIES) > 40
    for name, entry in ENTRIES.items():
        assert entry.code in CODES, name
        fields = [f for _, f, _, _ in string.Formatter().parse(entry.text) if f]
        filled = entry("loc", **{f.split("!")[0]: "v" for f in fields})
        assert filled.code == entry.code and filled.location == "loc" and "{" not in filled.context, name


def test_error_code_literals_live_in_errors_py_only():
    """Write-side modules name the catalogue (or errors.py), never a code literal or a free-text XdsError."""
    for rel in ("profiles/xds/ebrim.py", "profiles/xds/validate.py", "profiles/xds/registry.py",
                "profiles/xds/register.py", "profiles/xds/provide_register.py", "profiles/xds/messages.py",
                "gateway/endpoints/xds.py", "gateway/store/registry.py"):
        text = (ROOT / rel).read_text()
        literals = set(re.findall(r"""["'](XDS[A-Za-z]+)["']""", text))
        assert not literals & CODES, (rel, literals & CODES)
        if rel != "profiles/xds/messages.py":
            assert "XdsError(" not in text, rel
