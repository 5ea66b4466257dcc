"""TLS and mutual TLS on the real server (subprocess on 127.0.0.1): the client certificate's subject in
the RequestContext, refusals without a client certificate and with one of another CA, TLS 1.2+ with
forward-secret AEAD suites only, the same with several worker processes; plain HTTP only on loopback."""
from __future__ import annotations

import socket
import ssl

import pytest
import requests
from lxml import etree

from gateway.clients.soap import SoapClient
from support.gateway_proc import make_gateway
from support.pki import TestCA

from server.app import start_echo

pytestmark = pytest.mark.integration
NS = "urn:test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = TestCA("gateway test CA")
    other = TestCA("another CA")
    server_cert, server_key = ca.issue("127.0.0.1", server=True).write(d, "server")
    client = ca.issue("his.spital.example", client=True)
    client_cert, client_key = client.write(d, "client")
    foreign_cert, foreign_key = other.issue("intruder.example", client=True).write(d, "foreign")
    (d / "ca.pem").write_bytes(ca.cert_pem)
    return {"dir": d, "ca": str(d / "ca.pem"), "server": (str(server_cert), str(server_key)),
            "client": (str(client_cert), str(client_key)), "foreign": (str(foreign_cert), str(foreign_key)),
            "client_subject": client.cert.subject.rfc4514_string()}


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def mtls_server(request, pki, tmp_path_factory):
    srv = start_echo(tmp_path_factory.mktemp("mtls"), workers=request.param, verify=pki["ca"], cert=pki["client"],
                     tls_cert=pki["server"][0], tls_key=pki["server"][1], tls_client_ca=pki["ca"])
    yield srv
    srv.stop()


def _echo(server, pki, cert):
    client = SoapClient(server.echo_url, timeout=10, verify=pki["ca"], cert=cert)
    body = etree.Element(f"{{{NS}}}echo", nsmap={None: NS})
    body.text = "tls"
    return client.call("urn:test:echo", body)


def test_mutual_tls_client_subject_reaches_the_request_context(mtls_server, pki):
    for _ in range(4):    # several connections: with 2 workers both serve TLS
        resp = _echo(mtls_server, pki, pki["client"])
        assert resp.body.text == "tls"
        assert resp.body.get("tls-subject") == pki["client_subject"]


def test_mutual_tls_refuses_a_client_without_certificate(mtls_server, pki):
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        _echo(mtls_server, pki, None)


def test_mutual_tls_refuses_a_certificate_of_another_ca(mtls_server, pki):
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        _echo(mtls_server, pki, pki["foreign"])


def _handshake(server, pki, *, maximum=None, ciphers=None) -> str:
    ctx = ssl.create_default_context(cafile=pki["ca"])
    ctx.load_cert_chain(*pki["client"])
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert tls.recv(12).startswith(b"HTTP/1.1 200")
            return tls.version()


def test_tls12_with_forward_secret_aead_is_accepted_weak_suites_refused(mtls_server, pki):
    assert _handshake(mtls_server, pki) in ("TLSv1.2", "TLSv1.3")
    assert _handshake(mtls_server, pki, maximum=ssl.TLSVersion.TLSv1_2,
                      ciphers="ECDHE-RSA-AES128-GCM-SHA256") == "TLSv1.2"
    for weak in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"):   # RSA key exchange, CBC
        with pytest.raises(ssl.SSLError):
            _handshake(mtls_server, pki, maximum=ssl.TLSVersion.TLSv1_2, ciphers=weak)


def test_tls_without_client_ca_needs_no_client_certificate(pki, tmp_path):
    srv = start_echo(tmp_path, workers=1, verify=pki["ca"], tls_cert=pki["server"][0], tls_key=pki["server"][1])
    try:
        resp = _echo(srv, pki, None)
        assert resp.body.get("tls-subject") == ""
        with pytest.raises(requests.exceptions.SSLError):   # the client checks the server too
            requests.get(srv.base + "/health", timeout=10)
    finally:
        srv.stop()


# -- serve: plain HTTP only on loopback --------------------------------------------------------------

def test_serve_refuses_a_non_loopback_host_without_tls(tmp_path):
    gw = make_gateway(tmp_path)
    done = gw.cli("serve", "--host", "0.0.0.0", "--port", "0", check=False)
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 in plain HTTP" in done.stderr


def test_serve_without_tls_warns_it_is_for_development(tmp_path):
    gw = make_gateway(tmp_path)
    gw.start("--workers", "1")
    try:
        assert gw.base_url.startswith("http://127.0.0.1:")
        assert any("for development only" in line for line in gw.output)
    finally:
        gw.stop()


def test_serve_with_incomplete_tls_settings_says_why(tmp_path, pki):
    gw = make_gateway(tmp_path, tls_cert=pki["server"][0])
    done = gw.cli("serve", "--port", "0", check=False)
    assert done.returncode == 2 and "EPD_TLS_CERT and EPD_TLS_KEY" in done.stderr
    gw = make_gateway(tmp_path, tls_client_ca=pki["ca"])
    done = gw.cli("serve", "--port", "0", check=False)
    assert done.returncode == 2 and "EPD_TLS_CLIENT_CA" in done.stderr


def test_serve_with_an_unreadable_or_empty_xua_trust_says_why(tmp_path):
    gw = make_gateway(tmp_path, xua_trust=str(tmp_path / "missing.pem"))
    done = gw.cli("serve", "--port", "0", check=False)
    assert done.returncode == 2 and "EPD_XUA_TRUST" in done.stderr and "cannot be read" in done.stderr
    (tmp_path / "empty.pem").write_text("no certificate here\n")
    gw = make_gateway(tmp_path, xua_trust=str(tmp_path / "empty.pem"))
    done = gw.cli("serve", "--port", "0", check=False)
    assert done.returncode == 2 and "EPD_XUA_TRUST" in done.stderr
