"""Streaming a reply: MTOM attachments go to the transport chunk by chunk, never held in memory."""
from __future__ import annotations

from typing import Callable, Iterator

from twisted.internet.interfaces import IPullProducer
from twisted.logger import Logger
from twisted.web import server
from zope.interface import implementer

log = Logger(namespace="gateway.http")


@implementer(IPullProducer)
class ChunkProducer:
    """Writes an iterator of chunks to a request as the transport asks for more, then finishes."""

    def __init__(self, request: server.Request, chunks: Iterator[bytes],
                 on_done: Callable[[], None]) -> None:
        self.request = request
        self.chunks = chunks
        self.on_done = on_done
        self.stopped = False

    def start(self) -> None:
        self.request.registerProducer(self, False)

    def resumeProducing(self) -> None:  # noqa: N802
        if self.stopped:
            return
        try:
            chunk = next(self.chunks, None)
        except Exception:
            log.failure("error while streaming a response")
            self.stopProducing()
            self.request.unregisterProducer()
            self.request.loseConnection()
            return
        if chunk is None:
            self.stopped = True
            self.request.unregisterProducer()
            self.request.finish()
            self.on_done()
            return
        self.request.write(chunk)

    def stopProducing(self) -> None:  # noqa: N802
        if not self.stopped:
            self.stopped = True
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()
            self.on_done()
