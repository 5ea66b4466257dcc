"""The conformance plan passes against our gateway, and fails against an endpoint that misbehaves."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conformance.xds import Target, run_plan
from support.gateway_proc import REPO, make_gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = make_gateway(tmp_path_factory.mktemp("conf"))
    g.pid = g.add_patient("761337610411353650")
    g.start("--workers", "1")
    yield g
    g.stop()


def test_plan_passes_against_the_gateway(gw):
    results = run_plan(Target(gw.repository_url, gw.registry_url, gw.pid, "2.16.756.5.30.1.999.1.2"))
    assert [r for r in results if not r.passed] == []
    assert len(results) == 8


def test_plan_reports_failures(gw):
    """Aimed at the wrong repositoryUniqueId, the retrieval cases must fail: the plan can fail."""
    results = run_plan(Target(gw.repository_url, gw.registry_url, gw.pid, "1.2.3.4.5"))
    failed = {r.name for r in results if not r.passed}
    assert "ITI-41/ITI-43 MTOM round trip, two documents" in failed


def test_cli_exit_status(gw):
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "conformance", "--repository", gw.repository_url,
                          "--registry", gw.registry_url, "--patient-id", gw.pid,
                          "--repository-unique-id", "2.16.756.5.30.1.999.1.2"],
                         cwd=REPO, env=gw.env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "8 passed, 0 failed" in out.stdout
