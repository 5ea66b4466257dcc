"""Document blobs on disk, content-addressed by SHA-256, written durably (temp file, fsync, rename).

A blob becomes visible under its final name only once its bytes are on disk; the registry rows that
reference it are committed afterwards, so a crash leaves at worst an orphan blob (and, killed during
an upload, spool files ``tmp/epd-part-*`` / ``tmp/in-*``), which :meth:`BlobStore.sweep` removes.
Pluggable: anything with ``put``/``open``/``path``/``delete`` serves.

The sweep never removes a blob a submission in flight is about to commit:

* only files older than a grace age (``orphan_grace``, an hour by default) are candidates, and a
  submission makes its blob young before it commits: ``put``/``adopt`` of content already stored
  (an orphan of an earlier, killed submission, say) refresh the file's mtime instead of writing;
* a candidate unreferenced at the first look is first renamed out of sight (``tmp/sweep-*``; one
  rename, so of two sweepers only one gets it), then looked at again: younger now, or referenced
  now, it is put back, else removed. A submission that refreshed the blob before the rename is
  seen by the second look at the mtime; one that came after the rename found no blob and wrote it
  anew. A sweeper killed between the rename and the second look leaves a ``sweep-*`` file that the
  next sweep puts back when it is referenced.

A refused submission removes the blobs it created at once (:meth:`BlobStore.discard_created`), with
the same care: a blob is published by a hard link (of two writers of the same bytes exactly one
creates it), its mtime is remembered, and it is removed only while that mtime is unchanged (another
submission reusing it refreshes the mtime, always forward) and no row references it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

CHUNK = 1 << 16

#: temp files of the store itself (``in-``), of the MTOM spool (``epd-part-``, gateway.soap.attachments),
#: and blobs set aside by a sweep (``sweep-``)
SPOOL_PREFIXES = ("in-", "epd-part-")
ASIDE_PREFIX = "sweep-"
DEFAULT_GRACE_S = 3600.0

#: referenced(keys) -> the subset of keys some committed row references
ReferencedBatch = Callable[[Iterable[str]], "set[str]"]


@dataclass
class SweepReport:
    """What a look at the store found (and, for :meth:`BlobStore.sweep`, removed)."""

    orphans: list[str] = field(default_factory=list)        # unreferenced blobs past the grace age
    spool: list[Path] = field(default_factory=list)          # spool/temp files past the grace age
    young_unreferenced: int = 0                              # unreferenced, younger: maybe in flight
    young_spool: int = 0
    removed_blobs: list[str] = field(default_factory=list)
    removed_spool: list[Path] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)        # set aside by a dead sweeper, put back
    bytes_freed: int = 0


class BlobStore:
    #: how many blobs created by this process are remembered for :meth:`discard_created`
    CREATED_MEMORY = 4096

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._created: "OrderedDict[str, int]" = OrderedDict()
        self._created_lock = threading.Lock()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put(self, stream: BinaryIO, expected_sha256: str | None = None) -> tuple[str, str, int, bool]:
        """Store ``stream``; returns (sha256, sha1, size, created). ``created`` is False when the
        same content was already stored (nothing is written then)."""
        h256, h1, size = hashlib.sha256(), hashlib.sha1(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="in-")
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    h256.update(chunk)
                    h1.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = h256.hexdigest()
            final = self.path(digest)
            if _refresh(final):          # already stored: make it young, the sweep keeps it
                os.unlink(tmp_name)
                return digest, h1.hexdigest(), size, False
            created = self._publish(tmp_name, digest)
            return digest, h1.hexdigest(), size, created
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise

    def adopt(self, path: str, sha256: str) -> tuple[str, bool]:
        """Take a spooled file whose SHA-256 is already known into the store without copying it
        (hard link when it lives on the same file system, streamed copy otherwise)."""
        final = self.path(sha256)
        if _refresh(final):
            return sha256, False
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="in-")
        os.close(fd)
        os.unlink(tmp_name)
        try:
            os.link(path, tmp_name)
        except OSError:
            with open(path, "rb") as src:
                digest, _sha1, _size, created = self.put(src)
            if digest != sha256:
                raise ValueError("spooled attachment changed while it was stored")
            return digest, created
        try:
            with open(tmp_name, "rb+") as fh:
                os.fsync(fh.fileno())
            os.utime(tmp_name)   # the link keeps the spool file's mtime: the blob is new now
            return sha256, self._publish(tmp_name, sha256)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise

    def _publish(self, tmp_name: str, key: str) -> bool:
        """Give the durable temp file its final name; False when another writer was first (its
        blob, the same bytes, is then made young). Records the new blob's mtime for
        :meth:`discard_created`."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        mtime_ns = os.stat(tmp_name).st_mtime_ns
        try:
            os.link(tmp_name, final)     # never over another writer's blob (unlike a rename)
        except FileExistsError:
            os.unlink(tmp_name)
            _refresh(final)
            return False
        os.unlink(tmp_name)
        _fsync_dir(final.parent)
        with self._created_lock:
            self._created[key] = mtime_ns
            while len(self._created) > self.CREATED_MEMORY:
                self._created.popitem(last=False)
        return True

    def discard_created(self, keys: Iterable[str], referenced: ReferencedBatch) -> list[str]:
        """Remove blobs this store created for a submission that failed, unless meanwhile another
        submission reused one (it refreshed the blob's mtime: ``put``/``adopt`` of the same bytes)
        or committed a row for it. Returns the keys removed. A key this store does not remember
        creating is left to :meth:`sweep`."""
        removed = []
        for key in keys:
            with self._created_lock:
                created_ns = self._created.pop(key, None)
            if created_ns is None:
                continue
            final = self.path(key)
            aside = self.tmp / f"{ASIDE_PREFIX}{key}-{int(time.time())}-{os.urandom(4).hex()}"
            try:
                os.rename(final, aside)
            except FileNotFoundError:
                continue
            try:
                if aside.stat().st_mtime_ns != created_ns or key in referenced([key]):
                    self._put_back(aside, final)
                    continue
                aside.unlink()
                removed.append(key)
            except BaseException:
                self._put_back(aside, final)
                raise
        return removed

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def delete(self, sha256: str) -> None:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            pass

    def all_keys(self) -> Iterable[str]:
        for p in self.root.glob("??/??/*"):
            if p.is_file():
                yield p.name

    def sweep_orphans(self, referenced: "set[str] | Callable[[str], bool]", min_age_s: float = 0.0) -> int:
        """Delete blobs nobody references, and spool files, older than ``min_age_s``; returns how
        many blobs went. (Compatibility wrapper around :meth:`sweep`.)"""
        if isinstance(referenced, (set, frozenset)):
            ref_set = referenced

            def batch(keys):
                return {k for k in keys if k in ref_set}
        else:
            def batch(keys):
                return {k for k in keys if referenced(k)}
        return len(self.sweep(batch, min_age_s=min_age_s).removed_blobs)

    # -- orphans ---------------------------------------------------------------------------------
    def _spool_files(self) -> Iterable[Path]:
        for p in self.tmp.iterdir():
            if p.name.startswith(SPOOL_PREFIXES) and p.is_file():
                yield p

    def _set_aside(self) -> Iterable[tuple[Path, str, float]]:
        """``sweep-<key>-<unix time set aside>-<random>`` files."""
        for p in self.tmp.glob(ASIDE_PREFIX + "*"):
            parts = p.name[len(ASIDE_PREFIX):].split("-")
            if len(parts) >= 2 and len(parts[0]) == 64 and parts[1].isdigit():
                yield p, parts[0], float(parts[1])

    def find_orphans(self, referenced: ReferencedBatch, min_age_s: float = DEFAULT_GRACE_S,
                     batch: int = 500) -> SweepReport:
        """Unreferenced blobs and spool files past ``min_age_s`` (nothing is removed)."""
        report = SweepReport()
        now = time.time()
        for p in self._spool_files():
            age = _age(p, now)
            if age is None:
                continue
            if age >= min_age_s:
                report.spool.append(p)
            else:
                report.young_spool += 1
        pending: list[tuple[str, float]] = []

        def flush() -> None:
            refs = referenced([k for k, _ in pending])
            for key, age in pending:
                if key in refs:
                    continue
                if age >= min_age_s:
                    report.orphans.append(key)
                else:
                    report.young_unreferenced += 1
            pending.clear()

        for key in self.all_keys():
            age = _age(self.path(key), now)
            if age is None:
                continue
            pending.append((key, age))
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
        return report

    def sweep(self, referenced: ReferencedBatch, min_age_s: float = DEFAULT_GRACE_S) -> SweepReport:
        """Remove unreferenced blobs and spool files older than ``min_age_s`` (see the module
        docstring for why a submission in flight never loses its blob). Safe to run in several
        processes at once. Returns what was found and removed."""
        restored = self._recover_set_aside(referenced)
        report = self.find_orphans(referenced, min_age_s)
        report.restored = restored
        for p in report.spool:
            try:
                if (_age(p) or 0) < min_age_s:   # written to since the look: an upload after all
                    continue
                size = p.stat().st_size
                p.unlink()
            except FileNotFoundError:            # its request finished, or another sweeper
                continue
            report.removed_spool.append(p)
            report.bytes_freed += size
        for key in report.orphans:
            size = self._remove_if_orphan(key, referenced, min_age_s)
            if size is not None:
                report.removed_blobs.append(key)
                report.bytes_freed += size
        return report

    def _remove_if_orphan(self, key: str, referenced: ReferencedBatch, min_age_s: float) -> int | None:
        final = self.path(key)
        aside = self.tmp / f"{ASIDE_PREFIX}{key}-{int(time.time())}-{os.urandom(4).hex()}"
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return None                          # another sweeper took it
        try:
            st = aside.stat()
            if time.time() - st.st_mtime < min_age_s or key in referenced([key]):
                self._put_back(aside, final)
                return None
            aside.unlink()
            return st.st_size
        except BaseException:
            self._put_back(aside, final)
            raise

    @staticmethod
    def _put_back(aside: Path, final: Path) -> None:
        try:
            os.link(aside, final)
        except FileExistsError:                  # written anew meanwhile: same bytes
            pass
        aside.unlink(missing_ok=True)
        _fsync_dir(final.parent)

    def _recover_set_aside(self, referenced: ReferencedBatch, min_age_s: float = 60.0) -> list[str]:
        """Blobs a killed sweeper set aside: back when referenced, else gone. A live sweeper holds
        one for the time of a query, so only files set aside a minute ago are looked at."""
        restored = []
        now = time.time()
        stale = [(p, k) for p, k, when in self._set_aside() if now - when >= min_age_s]
        if not stale:
            return restored
        refs = referenced([k for _, k in stale])
        for p, key in stale:
            if key in refs:
                self.path(key).parent.mkdir(parents=True, exist_ok=True)
                self._put_back(p, self.path(key))
                restored.append(key)
            else:
                p.unlink(missing_ok=True)
        return restored


def _refresh(path: Path) -> bool:
    """Make ``path`` young: its mtime now, and always later than before (by at least 1 µs, so that
    :meth:`BlobStore.discard_created` sees the change even within one tick of a coarse clock);
    False when it does not exist."""
    try:
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, max(time.time_ns(), st.st_mtime_ns + 1000)))
        return True
    except FileNotFoundError:
        return False


def _age(path: Path, now: float | None = None) -> float | None:
    try:
        return (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)



class DocumentBlobs:
    """The ``profiles.xds.ports.DocumentBlobs`` port over a :class:`BlobStore`: a document arrives as
    its bytes (inline base64) or as the transport's attachment (``open()``, ``sha256``, and
    ``spool_path`` when it was spooled to disk, which is then linked in rather than copied)."""

    def __init__(self, blobs: BlobStore, referenced: ReferencedBatch | None = None) -> None:
        self.blobs = blobs
        self.referenced = referenced or (lambda keys: set())

    def store(self, content) -> tuple[str, bool]:
        handle = content.handle
        if isinstance(handle, (bytes, bytearray)):
            import io
            sha256, _sha1, _size, created = self.blobs.put(io.BytesIO(handle))
            return sha256, created
        if getattr(handle, "spool_path", None) is not None:
            return self.blobs.adopt(handle.spool_path, handle.sha256)
        with handle.open() as fh:
            sha256, _sha1, _size, created = self.blobs.put(fh)
        return sha256, created

    def delete(self, key: str) -> None:
        """A blob this submission created and no longer needs: removed unless another submission
        reused it meanwhile (:meth:`BlobStore.discard_created`)."""
        self.blobs.discard_created([key], self.referenced)
