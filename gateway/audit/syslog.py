"""Syslog transport of audit records to an Audit Record Repository (IHE ITI-20).

* ``tls://host:port`` -- RFC 5425: TLS (1.2 or newer, mutual with the gateway's client certificate
  when one is configured), octet-counting framing (``LEN SP MSG``).
* ``tcp://host:port`` -- RFC 6587 octet counting over plain TCP.
* ``udp://host:port`` -- RFC 5426: one message per datagram.

Each message is RFC 5424: ``<85>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG`` with
PRI 85 (facility 10 security/authorization, severity 5 notice), APP-NAME ``epd-gateway``, MSGID
``IHE+RFC-3881`` (IHE ITI TF-2 3.20.6.1: a DICOM/RFC 3881 audit message), and one structured-data
element ``[epd@32473 recordId="…" seq="…"]`` carrying the record's stable id (32473 is the private
enterprise number RFC 5612 reserves for documentation; an operator may configure their own), so a
repository that receives a record twice (at-least-once delivery) can drop the duplicate.
"""
from __future__ import annotations

import datetime as _dt
import os
import select
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

PRI = 85
APP_NAME = "epd-gateway"
MSGID = "IHE+RFC-3881"
SD_ID = "epd@32473"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SyslogTarget:
    scheme: str          # tls, tcp, udp
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> "SyslogTarget":
        parts = urlsplit(url)
        if parts.scheme not in ("tls", "tcp", "udp") or not parts.hostname or not parts.port:
            raise ValueError(f"EPD_AUDIT_SYSLOG must be tls://host:port, tcp://host:port or udp://host:port, "
                             f"not {url!r}")
        return cls(parts.scheme, parts.hostname, parts.port)


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_message(xml: str, *, record_id: str, seq: int, when: str | None = None, hostname: str | None = None,
                   procid: str | None = None) -> bytes:
    """One RFC 5424 syslog message carrying ``xml`` (an AuditMessage)."""
    when = when or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    host = (hostname or socket.gethostname() or "-")[:255].replace(" ", "_")
    proc = procid or str(os.getpid())
    sd = f'[{SD_ID} recordId="{_sd_escape(record_id)}" seq="{seq}"]'
    head = f"<{PRI}>1 {when} {host} {APP_NAME} {proc} {MSGID} {sd} "
    return head.encode("ascii", "replace") + BOM + xml.encode("utf-8")


def frame(message: bytes) -> bytes:
    """Octet-counting framing (RFC 5425 section 4.3, RFC 6587 section 3.4.1)."""
    return str(len(message)).encode("ascii") + b" " + message


@dataclass(frozen=True)
class TlsFiles:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


def client_context(files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=files.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.cert:
        ctx.load_cert_chain(files.cert, files.key)
    return ctx


class SyslogConnection:
    """One connection (or UDP socket) to the repository."""

    def __init__(self, target: SyslogTarget, tls: TlsFiles | None = None, timeout: float = 10.0) -> None:
        self.target = target
        self.tls = tls or TlsFiles()
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def connect(self) -> None:
        t = self.target
        if t.scheme == "udp":
            self.sock = socket.socket(socket.AF_INET6 if ":" in t.host else socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.connect((t.host, t.port))
            return
        raw = socket.create_connection((t.host, t.port), timeout=self.timeout)
        if t.scheme == "tls":
            try:
                raw = client_context(self.tls).wrap_socket(raw, server_hostname=t.host)
            except BaseException:
                raw.close()
                raise
        raw.settimeout(self.timeout)
        self.sock = raw

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def peer_closed(self) -> bool:
        """True if the repository closed the stream (it never sends data on a syslog connection)."""
        if self.sock is None:
            return True
        if self.target.scheme == "udp":
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if not readable:
                return False
            self.sock.setblocking(False)
            try:
                data = self.sock.recv(1)
            finally:
                self.sock.setblocking(True)
                self.sock.settimeout(self.timeout)
            return data == b""
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True

    def send(self, messages: list[bytes]) -> None:
        assert self.sock is not None
        if self.target.scheme == "udp":
            for m in messages:
                self.sock.send(m[:65000])
            return
        self.sock.sendall(b"".join(frame(m) for m in messages))

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
