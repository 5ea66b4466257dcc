"""Keeping the data directory consistent with the database: orphan blobs and spool left-overs.

* :func:`check` -- what ``epd-gateway db check [--repair]`` reports: unreferenced blobs and spool
  files past the grace age (removed with ``repair``), repository rows whose blob is missing (never
  repairable here: the document is lost, the operator restores it from a backup).
* :class:`Sweeper` -- the periodic sweep of ``serve``: at start-up and every ``sweep_interval``
  seconds, in a thread of each worker; an ``flock`` on ``blobs/.sweep.lock`` lets one worker sweep
  while the others skip that round (two at once would be safe too, see :mod:`gateway.store.blobs`).
* :func:`build_root` -- ``gateway.app.build_root`` plus the sweeper: what ``serve`` runs in every
  worker process.
"""
from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from twisted.logger import Logger

from gateway.config import Settings
from gateway.store.blobs import BlobStore, SweepReport

log = Logger(namespace="gateway.sweep")

LOCK_NAME = ".sweep.lock"


def _engine(settings: Settings):
    from gateway.store.db import make_engine
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        return make_engine(url)
    return make_engine(url, pool_size=1, max_overflow=0)   # one connection is plenty for a sweep


def _referenced(engine):
    from gateway.store.registry import SqlRegistryStore
    return SqlRegistryStore(engine).referenced_blobs


@dataclass
class MissingBlob:
    repository_unique_id: str
    unique_id: str
    sha256: str


@dataclass
class CheckResult:
    report: SweepReport
    missing: list[MissingBlob] = field(default_factory=list)
    repaired: bool = False

    @property
    def unrepaired(self) -> bool:
        """Anything found and still there: exit status 1 of ``db check``."""
        if self.missing:
            return True
        if self.repaired:
            return (len(self.report.removed_blobs) < len(self.report.orphans)
                    or len(self.report.removed_spool) < len(self.report.spool))
        return bool(self.report.orphans or self.report.spool)


def missing_blobs(engine, blobs: BlobStore) -> list[MissingBlob]:
    from gateway.store.registry_tables import repository_documents as r
    out = []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.c.repository_unique_id, r.c.unique_id, r.c.sha256)
                            .order_by(r.c.repository_unique_id, r.c.unique_id))
        for repo, uid, sha256 in rows:
            if not blobs.exists(sha256):
                out.append(MissingBlob(repo, uid, sha256))
    return out


def check(settings: Settings, *, repair: bool = False, min_age_s: float | None = None) -> CheckResult:
    blobs = BlobStore(settings.blob_dir)
    grace = settings.orphan_grace if min_age_s is None else min_age_s
    engine = _engine(settings)
    try:
        referenced = _referenced(engine)
        report = blobs.sweep(referenced, grace) if repair else blobs.find_orphans(referenced, grace)
        return CheckResult(report, missing_blobs(engine, blobs), repaired=repair)
    finally:
        engine.dispose()


class Sweeper:
    """One worker's periodic sweep (``run_once`` in a thread; the reactor is never blocked)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.blobs = BlobStore(settings.blob_dir)
        self._engine = None
        self._loop = None

    def run_once(self) -> SweepReport | None:
        """Sweep unless another process is sweeping; returns the report (None: skipped)."""
        lock_path = Path(self.settings.blob_dir) / LOCK_NAME
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            if self._engine is None:
                self._engine = _engine(self.settings)
            report = self.blobs.sweep(_referenced(self._engine), self.settings.orphan_grace)
        finally:
            os.close(fd)     # releases the flock
        if report.removed_blobs or report.removed_spool or report.restored:
            log.info("orphan sweep: removed {blobs} blob(s) and {spool} spool file(s), {bytes} bytes; "
                     "put back {restored} blob(s) set aside by an interrupted sweep",
                     blobs=len(report.removed_blobs), spool=len(report.removed_spool),
                     bytes=report.bytes_freed, restored=len(report.restored))
        return report

    def _tick(self):
        from twisted.internet.threads import deferToThread
        d = deferToThread(self.run_once)
        d.addErrback(lambda f: log.failure("orphan sweep failed (tried again next round)", f))
        return d

    def start(self, reactor=None) -> None:
        """At start-up (once the reactor runs) and then every ``sweep_interval`` seconds."""
        if self.settings.sweep_interval <= 0:
            return
        from twisted.internet.task import LoopingCall
        if reactor is None:
            from twisted.internet import reactor
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor
        reactor.callWhenRunning(self._loop.start, self.settings.sweep_interval, now=True)
        reactor.addSystemEventTrigger("before", "shutdown", self.stop)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def build_root(settings: Settings):
    """The resource tree of a worker (``gateway.app.build_root``), with the orphan sweep started."""
    from gateway.app import build_root as app_root
    root = app_root(settings)
    Sweeper(settings).start()
    return root
