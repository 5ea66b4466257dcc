"""Attachments: MIME parts kept out of the XML tree, spooled to disk past a threshold.

An inbound :class:`Attachment` is filled while the multipart body streams through the decoder
(:class:`PartSink`): small parts stay in memory, larger ones go to a temporary file, and size,
SHA-1 and SHA-256 are computed on the way so that nobody rereads a 100 MB document to hash it.
An :class:`OutgoingAttachment` is what a handler (or the client) sends: bytes, or a path that the
encoder streams from disk.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import weakref
from dataclasses import dataclass, field
from typing import BinaryIO

DEFAULT_SPOOL_THRESHOLD = 1 << 20


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@dataclass(eq=False)
class Attachment:
    """A received MIME part (an MTOM attachment, or the root part itself).

    ``content_id`` is without the angle brackets. The data lives in memory (``_data``) or in the
    temporary file ``spool_path``; the file is removed by :meth:`close` (the server calls it when the
    response is written) or, failing that, when the object is garbage collected. A consumer that
    wants to keep the file (e.g. the repository moving it into the blob store) may ``os.link`` /
    copy it before.
    """

    content_id: str
    content_type: str
    size: int = 0
    sha1: str = ""
    sha256: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    spool_path: str | None = None
    _data: bytes | None = field(default=None, repr=False)

    def open(self) -> BinaryIO:
        """A fresh readable binary stream over the content, positioned at the start."""
        if self.spool_path is not None:
            return open(self.spool_path, "rb")
        return io.BytesIO(self._data or b"")

    def read(self) -> bytes:
        """The whole content (avoid for large parts: prefer :meth:`open`)."""
        if self.spool_path is None:
            return self._data or b""
        with self.open() as fh:
            return fh.read()

    @property
    def in_memory(self) -> bool:
        return self.spool_path is None

    def close(self) -> None:
        """Remove the spool file, if any. The attachment is unusable afterwards."""
        if self.spool_path is not None:
            _unlink(self.spool_path)


class PartSink:
    """Receives the bytes of one MIME part; spools to disk past ``threshold`` bytes; hashes as it goes."""

    def __init__(self, threshold: int = DEFAULT_SPOOL_THRESHOLD, spool_dir: str | None = None) -> None:
        self.threshold = threshold
        self.spool_dir = spool_dir
        self._buf = bytearray()
        self._file: BinaryIO | None = None
        self._path: str | None = None
        self._sha1 = hashlib.sha1()
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        if not data:
            return
        self._sha1.update(data)
        self._sha256.update(data)
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._buf += data
        if len(self._buf) > self.threshold:
            fd, self._path = tempfile.mkstemp(prefix="epd-part-", dir=self.spool_dir)
            self._file = os.fdopen(fd, "wb")
            self._file.write(self._buf)
            self._buf = bytearray()

    def discard(self) -> None:
        """Drop what was received (on a parse error)."""
        if self._file is not None:
            self._file.close()
        if self._path is not None:
            _unlink(self._path)
        self._buf = bytearray()

    def finish(self, content_id: str, content_type: str, headers: dict[str, str]) -> Attachment:
        """Close the sink and return the attachment holding its content."""
        att = Attachment(content_id=content_id, content_type=content_type, size=self.size,
                         sha1=self._sha1.hexdigest(), sha256=self._sha256.hexdigest(), headers=headers)
        if self._file is not None:
            self._file.close()
            att.spool_path = self._path
            weakref.finalize(att, _unlink, self._path)
        else:
            att._data = bytes(self._buf)
        self._buf = bytearray()
        return att


@dataclass
class OutgoingAttachment:
    """An attachment to send: ``data`` in memory, or ``path`` streamed from disk (never loaded whole)."""

    content_id: str
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    path: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.path is None):
            raise ValueError("OutgoingAttachment needs exactly one of data or path")
        self.content_id = self.content_id.strip().removeprefix("<").removesuffix(">")

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        return os.stat(self.path).st_size  # type: ignore[arg-type]
