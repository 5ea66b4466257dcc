"""The conformance plan passes against our gateway, and fails against an endpoint that misbehaves."""
from __future__ import annotations

import http.server
import subprocess
import sys
import threading

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


class _NoAddressingHandler(http.server.BaseHTTPRequestHandler):
    """An endpoint that answers every POST with a Success RegistryResponse but no wsa headers."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
                b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
                b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/></s:Body></s:Envelope>')
        self.send_response(200)
        self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_plan_fails_an_endpoint_without_wsa_action():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoAddressingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/xds"
        results = {r.name: r for r in run_plan(Target(url, url, "P1^^^&2.16.756.5.30.1.999.1.1&ISO", "1.2.3"))}
    finally:
        server.shutdown()
        server.server_close()
    for name in ("ITI-41/ITI-43 MTOM round trip, two documents", "ITI-41 XDSUnknownPatientId",
                 "ITI-42 XDSNonIdenticalHash"):
        assert not results[name].passed
        assert "wsa:Action" in results[name].detail, results[name].detail
