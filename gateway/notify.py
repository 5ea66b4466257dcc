"""Notices to patients: an emergency access to their record (CH:ADR template 202).

Pluggable: anything with ``send(notice, address)`` is a notifier. :class:`SmtpNotifier` mails the
patient's address from the MPI (``EPD_NOTIFY_SMTP=smtp://host:port``, ``EPD_NOTIFY_FROM``);
:class:`MemoryNotifier` keeps them (tests). Every access is recorded in the policy store whether
or not the notice could be delivered (``epd-gateway notifications list`` shows both).
"""
from __future__ import annotations

import datetime as _dt
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True)
class EmergencyAccessNotice:
    epr_spid: str
    occurred_at: _dt.datetime
    transaction: str
    user_id: str              # the professional's GLN
    user_name: str
    organisation: str
    documents: tuple[str, ...]

    def subject(self) -> str:
        return "Emergency access to your electronic patient record"

    def text(self) -> str:
        who = f"{self.user_name} (GLN {self.user_id})" if self.user_name else f"GLN {self.user_id}"
        org = f" of {self.organisation}" if self.organisation else ""
        docs = "\n".join(f"  - {d}" for d in self.documents)
        return (f"On {self.occurred_at.isoformat(timespec='seconds')} {who}{org} accessed your electronic "
                f"patient record (EPR-SPID {self.epr_spid}) in emergency mode ({self.transaction}).\n\n"
                f"Documents:\n{docs}\n\n"
                "You can change or switch off emergency access in your access settings.\n")


class Notifier(Protocol):
    def send(self, notice: EmergencyAccessNotice, address: str | None) -> None:
        """Deliver ``notice`` to ``address`` (None: the patient has none); raise on failure."""


class NoAddress(Exception):
    pass


class MemoryNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[EmergencyAccessNotice, str | None]] = []

    def send(self, notice: EmergencyAccessNotice, address: str | None) -> None:
        self.sent.append((notice, address))


class SmtpNotifier:
    """Plain SMTP (``smtp://host:port``, default port 25; ``smtps://`` for implicit TLS)."""

    def __init__(self, url: str, sender: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"EPD_NOTIFY_SMTP must be smtp://host:port, not {url!r}")
        if not sender:
            raise ValueError("EPD_NOTIFY_FROM (the notices' From: address) is required with EPD_NOTIFY_SMTP")
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.tls = parts.scheme == "smtps"
        self.sender, self.timeout = sender, timeout

    def send(self, notice: EmergencyAccessNotice, address: str | None) -> None:
        if not address:
            raise NoAddress(f"no e-mail address for EPR-SPID {notice.epr_spid} in the MPI")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, address, notice.subject()
        msg.set_content(notice.text())
        cls = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        with cls(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(msg)


def notifier_from_settings(settings) -> Notifier | None:
    """The configured notifier, None when ``notify_smtp`` is empty (accesses are recorded only)."""
    if not settings.notify_smtp:
        return None
    return SmtpNotifier(settings.notify_smtp, settings.notify_from)
