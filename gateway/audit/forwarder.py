"""Forwarding the stored audit records (the outbox) to the Audit Record Repository.

One forwarder per data directory runs at a time: each worker process starts a :class:`Forwarder`
thread, which takes an ``flock`` on ``<data>/audit-forward.lock`` before it sends (the kernel drops
the lock of a process that dies, and another worker's forwarder takes over). The forwarder sends the
records in chain order, retries with exponential back-off while the repository is unreachable, and
drains the outbox once it is back.

At least once, never silently lost: plain syslog has no acknowledgement, so a record counts as
delivered only once the connection it was sent on has been seen alive ``confirm_after`` seconds
later; if the repository closed the connection meanwhile, everything sent on it that was not
confirmed is sent again on the next one (the repository drops duplicates by the record id in the
structured data, see :mod:`gateway.audit.syslog`). UDP gives no such signal: a datagram counts as
delivered when it leaves.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .store import AuditStore
from .syslog import SyslogConnection, SyslogTarget, TlsFiles, format_message

log = logging.getLogger("gateway.audit")


@dataclass
class ForwarderSettings:
    target: SyslogTarget
    tls: TlsFiles
    batch: int = 200
    confirm_after: float = 1.0
    idle_poll: float = 0.5
    backoff_min: float = 0.5
    backoff_max: float = 30.0


class Forwarder:
    def __init__(self, store: AuditStore, settings: ForwarderSettings, lock_path: str | os.PathLike) -> None:
        self.store = store
        self.settings = settings
        self.lock_path = Path(lock_path)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None
        self.sent_total = 0

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> "Forwarder":
        self._thread = threading.Thread(target=self._run, name="audit-forwarder", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self, _record=None) -> None:
        """A record was stored: send soon."""
        self.wake.set()

    def _take_lock(self) -> bool:
        if self._lock_fd is None:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _run(self) -> None:
        while not self.stopping.is_set():
            if self._take_lock():
                try:
                    self._forward()
                finally:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                return
            self.stopping.wait(5.0)   # another process forwards; take over if it dies

    # -- the loop ------------------------------------------------------------------------------
    def _forward(self) -> None:
        s = self.settings
        conn = SyslogConnection(s.target, s.tls)
        backoff = s.backoff_min
        sent_upto = 0                       # the last seq sent on this connection
        unconfirmed: list[tuple[int, float]] = []
        while not self.stopping.is_set():
            try:
                if conn.connected and conn.peer_closed():
                    log.warning("audit repository closed the connection; %d record(s) to send again",
                                len(unconfirmed))
                    conn.close()
                if not conn.connected:
                    sent_upto, unconfirmed = 0, []
                now = time.monotonic()
                due = [seq for seq, t in unconfirmed if now - t >= s.confirm_after]
                if due:
                    self.store.mark_sent(due)
                    unconfirmed = [(seq, t) for seq, t in unconfirmed if now - t < s.confirm_after]
                batch = [r for r in self.store.pending(s.batch + len(unconfirmed)) if r.seq > sent_upto][:s.batch]
                if not batch:
                    self.wake.wait(s.idle_poll if not unconfirmed else min(s.idle_poll, s.confirm_after / 2))
                    self.wake.clear()
                    continue
                if not conn.connected:
                    conn.connect()
                    log.info("audit repository %s://%s:%d connected", s.target.scheme, s.target.host,
                             s.target.port)
                conn.send([format_message(r.message, record_id=r.record_id, seq=r.seq) for r in batch])
                sent_upto = batch[-1].seq
                self.sent_total += len(batch)
                if s.target.scheme == "udp":
                    self.store.mark_sent([r.seq for r in batch])
                else:
                    t = time.monotonic()
                    unconfirmed.extend((r.seq, t) for r in batch)
                backoff = s.backoff_min
            except Exception as exc:
                log.warning("audit repository unreachable (%s); retrying in %.1f s", exc, backoff)
                conn.close()
                sent_upto, unconfirmed = 0, []
                self.stopping.wait(backoff)
                backoff = min(s.backoff_max, backoff * 2)
        conn.close()
