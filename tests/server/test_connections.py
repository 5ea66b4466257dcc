"""Connections that hold a worker without completing a request (issue 14 item 4): a connection that
has not completed its request headers within ``header_timeout`` is closed however it trickles;
connections past ``max_connections`` per worker are refused; other requests go on meanwhile.
(The latency target, 1,000 idle or trickling connections, is measured in bench/connections_bench.py.)"""
from __future__ import annotations

import http.client
import socket
import time

import pytest

from app import start_echo

pytestmark = pytest.mark.integration


def _health(srv) -> int:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _closed_by_server(sock: socket.socket) -> bytes | None:
    """What the server sent before closing, or None if the connection is still open."""
    sock.setblocking(False)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return data
    finally:
        sock.setblocking(True)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    srv = start_echo(tmp_path_factory.mktemp("limits"), workers=1, header_timeout=1, max_connections=20)
    yield srv
    srv.stop()


def test_trickling_headers_are_cut_off(limited):
    sock = socket.create_connection((limited.host, limited.port), timeout=10)
    try:
        request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\nX-Pad: " + b"a" * 400
        answer = None
        for byte in request:              # one byte every 50 ms: each one would reset an idle timer
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                answer = b""
                break
            time.sleep(0.05)
            answer = _closed_by_server(sock)
            if answer is not None:
                break
        assert answer is not None, "the server kept a connection whose headers never completed"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
        assert _health(limited) == 200
    finally:
        sock.close()


def test_silent_connection_is_closed(limited):
    sock = socket.create_connection((limited.host, limited.port), timeout=30)
    try:
        sock.settimeout(30)
        data = sock.recv(65536)          # nothing sent: the header deadline runs from the opening
        assert data == b"" or data.startswith(b"HTTP/1.1 408")
    finally:
        sock.close()


def test_a_slow_but_complete_request_is_served(limited):
    sock = socket.create_connection((limited.host, limited.port), timeout=10)
    try:
        for part in (b"GET /health HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            sock.sendall(part)
            time.sleep(0.1)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


def test_connections_past_the_cap_are_refused(limited):
    held = []
    try:
        for _ in range(20):
            conn = http.client.HTTPConnection(limited.host, limited.port, timeout=10)
            conn.request("GET", "/health")       # keep-alive: the connection stays open afterwards
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            held.append(conn)
        conn = http.client.HTTPConnection(limited.host, limited.port, timeout=10)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            assert resp.status == 503
            resp.read()
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            pass                                # closed before the answer could be read: refused too
        finally:
            conn.close()
        held.pop().close()                       # room again: a new connection is served
        deadline = time.monotonic() + 10
        while True:
            try:
                if _health(limited) == 200:
                    break
            except (ConnectionResetError, http.client.RemoteDisconnected):
                pass
            assert time.monotonic() < deadline, "no connection served after one was closed"
            time.sleep(0.05)
    finally:
        for conn in held:
            conn.close()
