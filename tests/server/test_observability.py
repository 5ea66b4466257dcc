"""One structured log line per request and Prometheus metrics over all workers (issue 14 items 17, 18).

The log line and the metrics are taken where the reply is written, from the pipeline's audit event:
its IHE outcome (or fault code), never document content, names or other patient data."""
from __future__ import annotations

import io
import json
import logging
import time

import pytest
import requests
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from app import start_echo
from gateway.clients.soap import SoapClient, SoapFaultError
from support.server import make_server

pytestmark = pytest.mark.integration
NS = "urn:test"
SECRET = "Muster-Anna-1980-secret-body"
FIELDS = {"time", "level", "logger", "event", "request_id", "message_id", "action", "transaction", "endpoint",
          "status", "outcome", "duration_ms", "bytes_in", "bytes_out", "pid"}


def _body(text: str = SECRET) -> etree._Element:
    el = etree.Element(f"{{{NS}}}echo", nsmap={None: NS})
    el.text = text
    return el


def _request_lines(srv, message_id: str, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        lines = []
        for line in list(srv.output):
            if line.startswith("{"):
                data = json.loads(line)
                if data.get("event") == "request" and data.get("message_id") == message_id:
                    lines.append(data)
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _metrics(srv) -> dict[tuple, float]:
    text = requests.get(srv.url("/metrics"), timeout=10).text
    out: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    srv = start_echo(tmp_path_factory.mktemp("obs"), workers=2, log_format="json")
    yield srv
    srv.stop()


def test_one_json_line_per_request_without_content(two_workers):
    client = SoapClient(two_workers.echo_url, timeout=10)
    client.call("urn:test:echo", _body(), message_id="urn:uuid:log-ok")
    with pytest.raises(SoapFaultError):
        client.call("urn:test:fault", _body(), message_id="urn:uuid:log-fault")
    [ok] = _request_lines(two_workers, "urn:uuid:log-ok")
    assert FIELDS <= set(ok), set(ok) ^ FIELDS
    assert (ok["action"], ok["endpoint"], ok["status"], ok["outcome"], ok["transaction"]) == \
        ("urn:test:echo", "echo", 200, "Success", "TEST-1")
    assert ok["bytes_in"] > len(SECRET) and ok["bytes_out"] > len(SECRET) and ok["duration_ms"] >= 0
    assert ok["level"] == "info" and isinstance(ok["pid"], int) and ok["request_id"]
    [fault] = _request_lines(two_workers, "urn:uuid:log-fault")
    assert (fault["status"], fault["outcome"]) == (400, "fault:Sender")
    assert not any(SECRET in line for line in two_workers.output)


def test_metrics_count_every_worker(two_workers):
    before = _metrics(two_workers)
    key = ("epd_requests_total", (("action", "urn:test:echo"), ("endpoint", "echo"), ("outcome", "Success")))
    pids: set[str] = set()
    sent = 0
    while sent < 12 or (len(pids) < 2 and sent < 400):
        client = SoapClient(two_workers.echo_url, timeout=10)
        client.session.headers["Connection"] = "close"      # new connections: either worker serves
        pids.add(client.call("urn:test:echo", _body("x"), message_id=f"urn:uuid:m-{sent}").body.get("pid"))
        sent += 1
    assert len(pids) == 2, pids
    for _ in range(6):                                       # whichever worker answers the scrape
        after = _metrics(two_workers)
        assert after[key] - before.get(key, 0) == sent
    latency = ("epd_request_duration_seconds_count", (("action", "urn:test:echo"), ("endpoint", "echo")))
    assert after[latency] - before.get(latency, 0) == sent
    assert ("epd_request_size_bytes_count", (("endpoint", "echo"),)) in after
    assert ("epd_response_size_bytes_count", (("endpoint", "echo"),)) in after
    assert after[("epd_open_connections", ())] >= 1          # the scrape's own connection at least


def test_unknown_actions_share_one_label(two_workers):
    for i in range(3):
        with pytest.raises(SoapFaultError):
            SoapClient(two_workers.echo_url, timeout=10).call(f"urn:attacker:{i}", _body("x"))
    labels = {dict(k[1]).get("action") for k in _metrics(two_workers) if k[0] == "epd_requests_total"}
    assert "other" in labels and not any(a and a.startswith("urn:attacker") for a in labels)


def test_log_level_warning_drops_request_lines(tmp_path):
    srv = start_echo(tmp_path, log_level="warning", log_format="json")
    try:
        SoapClient(srv.echo_url, timeout=10).call("urn:test:echo", _body("x"), message_id="urn:uuid:quiet")
        with pytest.raises(SoapFaultError):
            SoapClient(srv.echo_url, timeout=10).call("urn:test:boom", _body("x"))
        deadline = time.monotonic() + 20            # the error of boom is logged (level error)...
        while not any('"level":"error"' in line for line in srv.output):
            assert time.monotonic() < deadline, "".join(srv.output)
            time.sleep(0.05)
        assert _request_lines(srv, "urn:uuid:quiet", timeout=0) == []   # ...the info lines are not
    finally:
        srv.stop()


def test_metrics_start_from_zero_after_a_restart(tmp_path):
    srv = start_echo(tmp_path, workers=1)
    key = ("epd_requests_total", (("action", "urn:test:echo"), ("endpoint", "echo"), ("outcome", "Success")))
    try:
        SoapClient(srv.echo_url, timeout=10).call("urn:test:echo", _body("x"))
        assert _metrics(srv)[key] == 1
    finally:
        srv.stop()
    srv = start_echo(tmp_path, workers=1)                   # same data directory
    try:
        assert _metrics(srv).get(key, 0) == 0
    finally:
        srv.stop()


def test_text_format_on_a_terminal_json_otherwise():
    from gateway.http.observe import RequestRecord
    from gateway.logs import configure

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    record = RequestRecord("rid-1", "urn:uuid:m", "urn:a", True, "ITI-41", "xds-repository", 200, "Success",
                           0.0123, 100, 200)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        for stream, check in ((Tty(), lambda s: s.startswith("20") and "ITI-41 -> 200 Success 12.3 ms" in s),
                              (io.StringIO(), lambda s: json.loads(s)["outcome"] == "Success")):
            configure("info", "auto", stream)
            logging.getLogger("gateway.access").info("x", extra={"request": record})
            assert check(stream.getvalue().strip()), stream.getvalue()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_gateway_request_line_and_stored_bytes(tmp_path):
    from gateway.clients.submission import DocumentSpec, provide_and_register_request
    from gateway.soap.attachments import OutgoingAttachment
    from profiles.xds import constants as C
    gw = make_server(tmp_path / "d")
    pid = gw.add_patient("761337610411353650", "Muster", "Anna")
    gw.start(workers=2)
    try:
        data = b"%PDF-1.4 " + b"z" * 5000
        doc = DocumentSpec(data, mime_type="application/pdf", title="Discharge letter Muster")
        body, parts = provide_and_register_request(pid, [doc])
        reply = SoapClient(gw.repository_url, timeout=30).call(
            C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True,
            message_id="urn:uuid:gw-41")
        assert reply.body.get("status").endswith(":Success")
        [line] = _request_lines(gw, "urn:uuid:gw-41")
        assert (line["transaction"], line["endpoint"], line["outcome"], line["status"]) == \
            ("ITI-41", "xds-repository", "Success", 200)
        text = "".join(gw.output)
        for secret in ("Muster", "Anna", "761337610411353650", pid.split("^")[0], "Discharge letter"):
            assert secret not in text, secret
        m = _metrics(gw)
        assert m[("epd_documents_stored_bytes", ())] == len(data)
        assert m[("epd_documents_stored", ())] == 1
        assert ("epd_db_pool_checked_out", ()) in m
        assert m[("epd_requests_total", (("action", C.ACTION_ITI41), ("endpoint", "xds-repository"),
                                         ("outcome", "Success")))] == 1
    finally:
        gw.stop()


from hypothesis import example, given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=200, deadline=None)
@example(message_id="a\nforged line\r", action="x\ny\u2028z", request_id="ab")
@given(message_id=st.one_of(st.none(), st.text(max_size=600)), action=st.text(max_size=300),
       request_id=st.text(alphabet="0123456789abcdef", min_size=1, max_size=32))
def test_json_request_line_is_valid_json_whatever_the_client_sent(message_id, action, request_id):
    from gateway.http.observe import RequestRecord
    from gateway.logs import JsonFormatter, TextFormatter
    rec = RequestRecord(request_id, message_id, action, False, "", "pix", 400, "fault:Sender", 0.001, 10, 20)
    line = JsonFormatter.format_request(rec)
    assert line.isascii() and len(line.splitlines()) == 1
    data = json.loads(line)
    assert FIELDS <= set(data)
    assert data["message_id"] == (None if message_id is None else message_id[:256])
    assert data["action"] == action[:256] and data["request_id"] == request_id
    text = TextFormatter.format_request(rec)
    assert len(text.splitlines()) == 1 and "\n" not in text and "\r" not in text
