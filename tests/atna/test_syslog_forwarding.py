"""Forwarding to a real syslog daemon (rsyslog) over TLS: the outbox drains, outages lose nothing."""
from __future__ import annotations

import time

import pytest

from gateway.audit.forwarder import Forwarder, ForwarderSettings
from gateway.audit.store import AuditStore
from gateway.audit.syslog import SyslogTarget, TlsFiles, format_message, frame
from gateway.store.db import make_engine, upgrade
from profiles.atna.messages import AuditSite
from profiles.audit import audit_event
from profiles.context import RequestContext
from profiles.outcome import SUCCESS, AuditFacts, Outcome
from support.pki import FileCA as CertificateAuthority
from support.rsyslog import Rsyslog

SITE = AuditSite("2.16.756.5.30.1.999.1", "test")


def _event(i):
    return audit_event(RequestContext(transaction="ITI-43"),
                       outcome=Outcome(None, SUCCESS, (), AuditFacts(document_unique_ids=(f"1.2.{i}",))))


def test_rfc5424_format():
    m = format_message("<AuditMessage/>", record_id="abc", seq=7, when="2026-12-01T12:00:00.000Z",
                       hostname="gw", procid="42")
    assert m == (b'<85>1 2026-12-01T12:00:00.000Z gw epd-gateway 42 IHE+RFC-3881 [epd@32473 recordId="abc" seq="7"] '
                 b'\xef\xbb\xbf<AuditMessage/>')
    assert frame(b"hello") == b"5 hello"
    with pytest.raises(ValueError):
        SyslogTarget.parse("http://x:1")
    assert SyslogTarget.parse("tls://127.0.0.1:6514") == SyslogTarget("tls", "127.0.0.1", 6514)


@pytest.fixture
def pki(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    return ca, ca.issue("localhost"), ca.issue("epd-gateway client", server=False)


@pytest.mark.integration
def test_outage_loses_nothing(tmp_path, pki):
    ca, server, client = pki
    daemon = Rsyslog(tmp_path / "rsyslog", tls=server, ca=ca.path).start()
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    upgrade(url)
    engine = make_engine(url)
    store = AuditStore(engine, SITE)
    fwd = Forwarder(store, ForwarderSettings(SyslogTarget("tls", "127.0.0.1", daemon.port),
                                             TlsFiles(str(ca.path), str(client.cert), str(client.key)),
                                             confirm_after=0.5, backoff_min=0.2, backoff_max=1.0),
                    tmp_path / "audit-forward.lock").start()
    try:
        first = [store.append(_event(i)) for i in range(30)]
        for r in first:
            fwd.notify(r)
        got = daemon.wait_for({r.record_id for r in first})
        assert {r.record_id for r in first} <= set(got)
        daemon.stop()                                   # the repository goes down mid-run
        second = []
        for i in range(30, 60):
            second.append(store.append(_event(i)))
            fwd.notify()
            time.sleep(0.02)
        time.sleep(1.0)
        assert store.count_pending() >= 1              # queued while it is down
        daemon.start()                                  # ... and comes back on the same port
        all_records = first + second
        got = daemon.wait_for({r.record_id for r in all_records}, timeout=60)
        missing = {r.record_id for r in all_records} - set(got)
        assert missing == set()
        for r in all_records:                           # none altered
            assert got[r.record_id] == r.message
        deadline = time.monotonic() + 10
        while store.count_pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.count_pending() == 0
        assert store.verify() == (60, [])
    finally:
        fwd.stop()
        daemon.stop()
        engine.dispose()


@pytest.mark.integration
def test_untrusted_client_certificate_is_refused(tmp_path, pki):
    ca, server, _client = pki
    other = CertificateAuthority(tmp_path / "other", name="another CA")
    stranger = other.issue("stranger", server=False)
    daemon = Rsyslog(tmp_path / "rsyslog", tls=server, ca=ca.path).start()
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    upgrade(url)
    engine = make_engine(url)
    store = AuditStore(engine, SITE)
    fwd = Forwarder(store, ForwarderSettings(SyslogTarget("tls", "127.0.0.1", daemon.port),
                                             TlsFiles(str(ca.path), str(stranger.cert), str(stranger.key)),
                                             confirm_after=0.3, backoff_min=0.2, backoff_max=0.5),
                    tmp_path / "audit-forward.lock").start()
    try:
        rec = store.append(_event(1))
        fwd.notify()
        time.sleep(3)
        assert rec.record_id not in daemon.records()
        assert store.count_pending() == 1              # kept in the outbox, not lost
    finally:
        fwd.stop()
        daemon.stop()
        engine.dispose()
