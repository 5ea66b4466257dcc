"""Document blobs on disk, content-addressed by SHA-256, written durably (temp file, fsync, rename).

A blob becomes visible under its final name only once its bytes are on disk; the registry rows that
reference it are committed afterwards, so a crash leaves at worst an orphan blob, which
``sweep_orphans`` removes. Pluggable: anything with ``put``/``open``/``path``/``delete`` serves.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterable

CHUNK = 1 << 16


class BlobStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

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
            if final.exists():
                os.unlink(tmp_name)
                return digest, h1.hexdigest(), size, False
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            _fsync_dir(final.parent)
            return digest, h1.hexdigest(), size, True
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
        if final.exists():
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
        with open(tmp_name, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_name, final)
        _fsync_dir(final.parent)
        return sha256, True

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

    def sweep_orphans(self, referenced: set[str] | callable, min_age_s: float = 0.0) -> int:
        """Delete blobs nobody references (and stale temp files). Returns how many went."""
        is_ref = referenced.__contains__ if isinstance(referenced, set) else referenced
        now = time.time()
        removed = 0
        for p in list(self.tmp.glob("in-*")):
            if now - p.stat().st_mtime >= max(min_age_s, 3600):
                p.unlink(missing_ok=True)
        for key in list(self.all_keys()):
            p = self.path(key)
            if now - p.stat().st_mtime < min_age_s:
                continue
            if not is_ref(key):
                p.unlink(missing_ok=True)
                removed += 1
        return removed


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

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

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
        self.blobs.delete(key)
