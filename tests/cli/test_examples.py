"""examples/: the clean submission passes ``valuesets check`` and the real gateway accepts it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from lxml import etree

from profiles.xds import constants as C
from support.gateway_proc import make_gateway, post_raw

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "provide-and-register.xml"
EXAMPLES_README = (REPO / "examples" / "README.md").read_text(encoding="utf-8")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_the_example_passes_valuesets_check_as_the_readme_says():
    assert "examples/provide-and-register.xml" in (REPO / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/epd-gateway valuesets check examples/provide-and-register.xml" in EXAMPLES_README
    done = _cli("valuesets", "check", "examples/provide-and-register.xml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: no errors")
    strict = _cli("valuesets", "check", "--mpi-oid", "2.16.756.5.30.1.999.1.1", str(EXAMPLE))
    assert strict.returncode == 0, strict.stdout


def test_the_example_is_accepted_by_the_gateway_after_the_documented_patient_add(tmp_path):
    command = re.search(r"epd-gateway (patient add [^\n]*\\\n[^\n]*)", EXAMPLES_README).group(1)
    argv = command.replace("\\\n", " ").split()
    gw = make_gateway(tmp_path / "data")
    gw.cli(*argv)
    gw.start("--workers", "1")
    try:
        status, ctype, body = post_raw(gw.repository_url, EXAMPLE.read_bytes())
    finally:
        gw.stop()
    assert status == 200, body
    rr = etree.fromstring(body).find(".//{%s}RegistryResponse" % C.NS_RS)
    assert rr is not None and rr.get("status") == C.RESPONSE_SUCCESS, body.decode()
