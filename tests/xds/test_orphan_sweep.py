"""Orphan blobs and spool left-overs are swept, and never a blob a submission is about to commit
(issue 14, item 3). Storage tests run on SQLite and PostgreSQL (``db_url``)."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.store.blobs import BlobStore
from gateway.store.db import make_engine
from gateway.store.registry import SqlRegistryStore
from support.db import truncate_all
from support.gateway_proc import make_gateway

REPO = Path(__file__).resolve().parents[2]
HOUR = 3600
OLD = time.time() - 2 * HOUR          # an mtime past the default grace age of an hour
SPOOLED = b"part of an upload that never finished"


def _age(path: Path, when: float = OLD) -> None:
    os.utime(path, (when, when))


def _blob(store: BlobStore, content: bytes, old: bool = True) -> str:
    key, _sha1, _size, _created = store.put(io.BytesIO(content))
    if old:
        _age(store.path(key))
    return key


def _spool(store: BlobStore, name: str, old: bool = True) -> Path:
    p = store.tmp / name
    p.write_bytes(SPOOLED)
    if old:
        _age(p)
    return p


def _reference(url: str, key: str, unique_id: str) -> None:
    """Commit the repository row that references blob ``key`` (what ITI-41 does after the blob)."""
    engine = make_engine(url)
    try:
        with SqlRegistryStore(engine).transaction() as tx:
            tx.add_repository_documents([dict(repository_unique_id="2.16.756.5.30.1.999.1.2", unique_id=unique_id,
                                              sha1=hashlib.sha1(key.encode()).hexdigest(), sha256=key, size=1,
                                              mime_type="text/plain")])
    finally:
        engine.dispose()


@pytest.fixture
def world(db_url, tmp_path):
    store = BlobStore(tmp_path / "blobs")
    engine = make_engine(db_url)
    registry = SqlRegistryStore(engine)
    yield store, registry, db_url
    engine.dispose()


def test_sweep_removes_old_orphans_and_spool_files_only(world):
    store, registry, url = world
    kept = _blob(store, b"referenced document")
    _reference(url, kept, "2.25.1")
    orphan = _blob(store, b"orphan of a killed submission")
    young = _blob(store, b"written a moment ago, its row not yet committed", old=False)
    old_part, old_in = _spool(store, "epd-part-abc123"), _spool(store, "in-xyz789")
    young_part = _spool(store, "epd-part-live", old=False)
    report = store.sweep(registry.referenced_blobs, min_age_s=HOUR)
    assert store.exists(kept) and store.exists(young)
    assert not store.exists(orphan)
    assert not old_part.exists() and not old_in.exists() and young_part.exists()
    assert report.removed_blobs == [orphan]
    assert report.bytes_freed == len(b"orphan of a killed submission") + 2 * len(SPOOLED)
    assert sorted(p.name for p in report.removed_spool) == ["epd-part-abc123", "in-xyz789"]
    assert report.young_unreferenced == 1 and report.young_spool == 1


def test_find_orphans_reports_without_removing(world):
    store, registry, url = world
    orphan = _blob(store, b"orphan")
    part = _spool(store, "epd-part-1")
    report = store.find_orphans(registry.referenced_blobs, min_age_s=HOUR)
    assert report.orphans == [orphan] and [p.name for p in report.spool] == ["epd-part-1"]
    assert store.exists(orphan) and part.exists()


def test_a_blob_reused_by_a_new_submission_is_not_swept(world):
    """An old orphan with the same content as a new submission: put() finds it stored (nothing is
    written) and the submission commits its row a moment later; the sweep in between must keep it."""
    store, registry, url = world
    key = _blob(store, b"same bytes as a document killed earlier")
    again, _sha1, _size, created = store.put(io.BytesIO(b"same bytes as a document killed earlier"))
    assert again == key and not created
    store.sweep(registry.referenced_blobs, min_age_s=HOUR)     # before the row commits
    assert store.exists(key)
    _reference(url, key, "2.25.2")


def test_a_blob_adopted_from_the_spool_is_young(world, tmp_path):
    store, registry, url = world
    spooled = store.tmp / "epd-part-done"
    spooled.write_bytes(b"a large attachment, received an hour ago, committed now")
    _age(spooled)
    key = hashlib.sha256(spooled.read_bytes()).hexdigest()
    store.adopt(str(spooled), key)
    store.sweep(registry.referenced_blobs, min_age_s=HOUR)
    assert store.exists(key)


def test_a_row_committed_while_the_sweep_runs_keeps_its_blob(world):
    """The race: the sweep saw the blob unreferenced, the submission commits, the sweep must not
    delete. The sweep checks again after taking the blob out of sight."""
    store, registry, url = world
    key = _blob(store, b"committed during the sweep")
    calls = []

    def referenced(keys):
        keys = list(keys)
        calls.append(keys)
        if len(calls) == 2:             # between the first look and the removal
            _reference(url, key, "2.25.3")
        return registry.referenced_blobs(keys)

    store.sweep(referenced, min_age_s=HOUR)
    assert len(calls) >= 2
    assert store.exists(key)


def test_a_blob_touched_while_the_sweep_runs_is_kept(world):
    store, registry, url = world
    key = _blob(store, b"reused during the sweep")
    calls = []

    def referenced(keys):
        keys = list(keys)
        calls.append(keys)
        if len(calls) == 1:              # a submission reuses the blob right after the first look
            store.put(io.BytesIO(b"reused during the sweep"))
        return registry.referenced_blobs(keys)

    store.sweep(referenced, min_age_s=HOUR)
    assert store.exists(key)


def test_two_sweepers_at_once(world):
    store, registry, url = world
    kept = [_blob(store, f"kept {i}".encode()) for i in range(20)]
    for i, k in enumerate(kept):
        _reference(url, k, f"2.25.10{i}")
    orphans = [_blob(store, f"orphan {i}".encode()) for i in range(60)]
    for i in range(10):
        _spool(store, f"epd-part-{i}")
    errors: list[BaseException] = []
    reports = []
    barrier = threading.Barrier(3)

    def sweep():
        try:
            barrier.wait()
            reports.append(store.sweep(registry.referenced_blobs, min_age_s=HOUR))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(store.exists(k) for k in kept)
    assert not any(store.exists(k) for k in orphans)
    assert sorted(k for r in reports for k in r.removed_blobs) == sorted(orphans)   # each removed once
    assert list(store.tmp.iterdir()) == []


def test_a_sweeper_killed_mid_removal_loses_nothing(world):
    """A blob taken out of sight by a sweeper that then died is put back if referenced."""
    store, registry, url = world
    key = _blob(store, b"referenced, set aside by a dead sweeper")
    _reference(url, key, "2.25.4")
    orphan = _blob(store, b"unreferenced, set aside by a dead sweeper")
    for k in (key, orphan):
        aside = store.tmp / f"sweep-{k}-{int(OLD)}-dead"
        os.rename(store.path(k), aside)
        _age(aside)
    store.sweep(registry.referenced_blobs, min_age_s=HOUR)
    assert store.exists(key) and not store.exists(orphan)
    assert list(store.tmp.iterdir()) == []


# -- epd-gateway db check [--repair] ----------------------------------------------------------


def _cli(data_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPD_")}
    env.update(PYTHONPATH=str(REPO), EPD_DATA_DIR=str(data_dir), EPD_DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_db_check_reports_and_repairs(db_url, tmp_path):
    data = tmp_path / "data"
    store = BlobStore(data / "blobs")
    kept = _blob(store, b"kept")
    _reference(db_url, kept, "2.25.5")
    orphan = _blob(store, b"orphan")
    young = _blob(store, b"young orphan", old=False)
    part = _spool(store, "epd-part-left-over")
    lost = hashlib.sha256(b"a document whose blob was lost").hexdigest()
    _reference(db_url, lost, "2.25.6")

    done = _cli(data, db_url, "db", "check")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert orphan in out and "2.25.6" in out and "epd-part-left-over" in out
    assert kept not in out and young not in out
    assert store.exists(orphan) and part.exists()          # a check alone changes nothing

    done = _cli(data, db_url, "db", "check", "--repair")
    assert done.returncode == 1, done.stdout                  # the lost blob cannot be repaired
    assert not store.exists(orphan) and not part.exists() and store.exists(kept) and store.exists(young)
    assert "2.25.6" in done.stdout

    engine = sa.create_engine(db_url)
    with engine.begin() as c:
        c.execute(sa.text("delete from repo_document where unique_id = '2.25.6'"))
    engine.dispose()
    done = _cli(data, db_url, "db", "check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_db_check_min_age_zero_counts_young_orphans(db_url, tmp_path):
    data = tmp_path / "data"
    store = BlobStore(data / "blobs")
    young = _blob(store, b"young orphan", old=False)
    assert _cli(data, db_url, "db", "check").returncode == 0
    done = _cli(data, db_url, "db", "check", "--min-age", "0", "--repair")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not store.exists(young)


# -- serve: at start-up and periodically ------------------------------------------------------


def _wait_gone(paths, timeout=60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(p.exists() for p in paths):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("workers,backend", [("1", "sqlite"), ("2", "sqlite"), ("2", "postgresql")])
def test_serve_sweeps_at_start_up_and_periodically(tmp_path, workers, backend, request):
    data = tmp_path / "data"
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        truncate_all(url)
    gw = make_gateway(data, url, sweep_interval="1")
    gw.cli("db", "upgrade")
    store = BlobStore(data / "blobs")
    orphan = store.path(_blob(store, b"left by a kill -9"))
    part = _spool(store, "epd-part-killed")
    young = store.path(_blob(store, b"young", old=False))
    gw.start("--workers", workers)
    try:
        assert _wait_gone([orphan, part]), gw.output
        later = store.path(_blob(store, b"orphaned while the gateway runs"))
        later_part = _spool(store, "epd-part-later")
        assert _wait_gone([later, later_part]), gw.output
        assert young.exists()
    finally:
        gw.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_after_kill9_during_submissions_the_restarted_gateway_leaves_only_referenced_blobs(tmp_path, backend,
                                                                                         request):
    """The issue's scenario: a burst of ITI-41, kill -9, restart. Whatever the kill left (orphan
    blobs, spool files), the start-up sweep removes it and db check finds nothing."""
    import random

    from gateway.clients.soap import SoapClient
    from gateway.clients.submission import DocumentSpec, provide_and_register_request
    from gateway.soap.attachments import OutgoingAttachment
    from profiles.xds import constants as C

    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("pg_template_url")
        truncate_all(url)
    data = tmp_path / "data"
    gw = make_gateway(data, url, spool_threshold="4096")
    pid = gw.add_patient("761337610411353650")
    gw.start("--workers", "1")
    stop = threading.Event()

    def submit():
        client = SoapClient(gw.repository_url, timeout=10)
        while not stop.is_set():
            docs = [DocumentSpec(random.randbytes(random.choice([300, 200_000])), mime_type="application/pdf")]
            body, parts = provide_and_register_request(pid, docs)
            try:
                client.call(C.ACTION_ITI41, body, [OutgoingAttachment(c, m, data=d) for c, m, d in parts], mtom=True)
            except Exception:
                return

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    gw.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    db_url = url or f"sqlite:///{data.resolve()}/epd-gateway.sqlite"
    gw.env["EPD_ORPHAN_GRACE"] = "0"          # nothing is in flight now: every orphan counts
    gw.start("--workers", "1")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = _cli(data, db_url, "db", "check", "--min-age", "0")
            if done.returncode == 0:
                break
            time.sleep(0.2)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        gw.stop()
    store = BlobStore(data / "blobs")
    engine = sa.create_engine(db_url)
    with engine.connect() as c:
        rows = {r[0] for r in c.execute(sa.text("select sha256 from repo_document"))}
    engine.dispose()
    assert set(store.all_keys()) == rows
    assert [p.name for p in store.tmp.iterdir()] == []


# -- a failed submission removes the blobs it created, never one another submission reuses ----


def test_a_failed_submission_discards_the_blobs_it_created(world):
    store, registry, url = world
    key, _sha1, _size, created = store.put(io.BytesIO(b"refused submission"))
    assert created
    assert store.discard_created([key], registry.referenced_blobs) == [key]
    assert not store.exists(key)


@pytest.mark.parametrize("same_process", [True, False])
def test_a_failed_submission_keeps_a_blob_another_submission_reused(world, same_process):
    """Submission A stores X and fails; meanwhile B (this worker or another) sent the same bytes,
    found X stored and is about to commit its row: A's clean-up must leave X."""
    store, registry, url = world
    other = store if same_process else BlobStore(store.root)
    key, _sha1, _size, created = store.put(io.BytesIO(b"the same letter, sent twice"))
    assert created
    again, _sha1, _size, created_again = other.put(io.BytesIO(b"the same letter, sent twice"))
    assert again == key and not created_again
    assert store.discard_created([key], registry.referenced_blobs) == []
    assert store.exists(key)
    _reference(url, key, "2.25.7")


def test_a_failed_submission_keeps_a_blob_committed_meanwhile(world):
    store, registry, url = world
    key, *_ = store.put(io.BytesIO(b"committed by another submission"))
    _reference(url, key, "2.25.8")
    assert store.discard_created([key], registry.referenced_blobs) == []
    assert store.exists(key)


def test_of_writers_racing_for_one_blob_exactly_one_creates_it(tmp_path):
    for round_ in range(20):
        stores = [BlobStore(tmp_path / "race") for _ in range(4)]
        content = f"raced {round_}".encode()
        barrier = threading.Barrier(len(stores))
        results = []

        def write(s):
            barrier.wait()
            results.append(s.put(io.BytesIO(content))[3])

        threads = [threading.Thread(target=write, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(True) == 1, results


def test_the_repository_clean_up_after_a_refusal_keeps_a_reused_blob(world):
    """ITI-41's own clean-up of a refused submission (the use case's blob port) goes through
    discard_created."""
    from gateway.store.blobs import DocumentBlobs
    store, registry, url = world
    port = DocumentBlobs(store, registry.referenced_blobs)
    key, _sha1, _size, created = store.put(io.BytesIO(b"refused here, accepted there"))
    assert created
    store.put(io.BytesIO(b"refused here, accepted there"))     # another submission reuses it
    port.delete(key)
    assert store.exists(key)
    lone, *_ = store.put(io.BytesIO(b"refused, nobody else"))
    port.delete(lone)
    assert not store.exists(lone)
