"""Where the gateway finds the IHE WSDLs and schemas it serves at ``?wsdl``.

They live in the project's top-level ``wsdl/`` folder. A checkout (or an editable install) serves
them from there; a regular install (wheel) carries them as data files under
``<prefix>/share/epd-gateway/wsdl`` (``[tool.setuptools.data-files]`` in pyproject.toml).
"""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1] / "wsdl"
_MARKER = "xds-repository.wsdl"


def wsdl_dir() -> Path:
    candidates = [_CHECKOUT]
    for prefix in dict.fromkeys((sysconfig.get_path("data"), sys.prefix, sys.base_prefix)):
        candidates.append(Path(prefix) / "share" / "epd-gateway" / "wsdl")
    for candidate in candidates:
        if (candidate / _MARKER).is_file():
            return candidate
    raise FileNotFoundError("the gateway's WSDLs are missing: looked in " + ", ".join(map(str, candidates)))


WSDL_DIR = wsdl_dir()
