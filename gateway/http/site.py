"""The ``Site`` of a worker process and the accept that spreads connections over the workers.

* :class:`GatewaySite` counts the connections it holds open and refuses those past
  ``max_connections`` (503, closed at once).
* :class:`BalancedPort` is the listening socket shared by the worker processes. Every worker is
  woken for a new connection; left alone, Twisted accepts as many as are queued and the worker
  that wakes first keeps winning (measured: one worker held all 8 keep-alive connections of a
  client while the other core idled). Here each worker publishes its number of open connections
  in a small shared table (:class:`WorkerLoads`); a worker accepts at once when no other worker
  holds fewer connections than it does, and otherwise steps back for :attr:`BalancedPort.DEFER`
  (2 ms) so that a less loaded worker takes the connection, then accepts whatever is still queued.
  The wait is bounded whatever the number of connections held: idle connections cost a new one
  at most one step back (the former per-connection wait grew with them, 2.78 s behind 500 idle
  connections).
"""
from __future__ import annotations

import mmap
import os
from typing import Any, Callable

from twisted.internet import protocol, tcp
from twisted.web import resource, server

from gateway.http.limits import GatewayChannel, GatewayRequest

_SLOT = 8


class WorkerLoads:
    """Open connections per worker, in a file every worker maps (one signed 64-bit slot each)."""

    def __init__(self, path: str, workers: int, index: int) -> None:
        self.index = index
        self.workers = workers
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, workers * _SLOT)
        finally:
            os.close(fd)
        self._slots = memoryview(self._map).cast("q")

    @staticmethod
    def create(path: str, workers: int) -> None:
        with open(path, "wb") as fh:
            fh.write(b"\0" * (workers * _SLOT))

    def publish(self, count: int) -> None:
        self._slots[self.index] = count

    def fewest_elsewhere(self) -> int | None:
        others = [self._slots[i] for i in range(self.workers) if i != self.index]
        return min(others) if others else None


class _Refuse(protocol.Protocol):
    """Answers a connection past the cap with 503 and closes it."""

    def connectionMade(self) -> None:  # noqa: N802
        self.transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                             b"Content-Length: 25\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
                             b"too many open connections")
        self.transport.loseConnection()


class GatewaySite(server.Site):
    """A ``Site`` that knows how many connections it holds open and caps them."""

    protocol = GatewayChannel
    open_connections = 0
    max_connections: int | None = None
    header_timeout: float | None = None
    max_request_size: int | None = None
    loads: WorkerLoads | None = None
    #: called with the number of open connections whenever it changes (metrics)
    on_connections: Callable[[int], None] | None = None

    def log(self, request) -> None:
        """No Twisted access line: the SOAP endpoints log one structured line per request."""

    def buildProtocol(self, addr):  # noqa: N802 (Twisted's name)
        if self.max_connections is not None and self.open_connections >= self.max_connections:
            refuse = _Refuse()
            refuse.factory = self
            return refuse
        proto = super().buildProtocol(addr)
        if proto is None:
            return None
        self._count(+1)
        lost = proto.connectionLost

        def connection_lost(reason, _lost=lost):
            self._count(-1)
            return _lost(reason)

        proto.connectionLost = connection_lost
        return proto

    def _count(self, delta: int) -> None:
        self.open_connections += delta
        if self.loads is not None:
            self.loads.publish(self.open_connections)
        if self.on_connections is not None:
            self.on_connections(self.open_connections)


class BalancedPort(tcp.Port):
    """The listening socket shared by the worker processes (see the module doc)."""

    DEFER = 0.002
    _deferred = False
    #: the site whose load counts, when ``factory`` wraps it (TLS); else ``factory`` itself
    gateway_site: GatewaySite | None = None

    def doRead(self):  # noqa: N802 (Twisted's name)
        site = self.gateway_site or self.factory
        loads: WorkerLoads | None = getattr(site, "loads", None)
        mine = getattr(site, "open_connections", 0)
        if not self._deferred and loads is not None:
            fewest = loads.fewest_elsewhere()
            cap = getattr(site, "max_connections", None)
            at_cap = cap is not None and mine >= cap
            if fewest is not None and (fewest < mine or at_cap):
                self._deferred = True
                self.stopReading()
                self.reactor.callLater(self.DEFER, self._resume)
                return
        self._deferred = False
        self.numberAccepts = 1
        super().doRead()

    def _resume(self) -> None:
        if self.connected:
            self.startReading()


def build_site(root: resource.Resource, *, max_request_size: int | None = None,
               header_timeout: float | None = None, max_connections: int | None = None,
               observer: Any = None) -> GatewaySite:
    """A ``Site`` for ``root`` with the gateway's request and channel; no tracebacks reach clients.

    ``observer``: a :class:`gateway.http.observe.RequestObserver` the SOAP endpoints report each
    request to (one log line, the metrics), or ``None``.
    """
    # parsePOSTFormSubmission=False: twisted.web would otherwise run every POST's Content-Type through
    # the stdlib email header parser (8% of an ITI-41's CPU) and read a multipart/form-data body into
    # memory whole to fill request.args, which no endpoint here uses.
    site = GatewaySite(root, parsePOSTFormSubmission=False)
    site.requestFactory = GatewayRequest
    site.displayTracebacks = False
    site.max_request_size = max_request_size
    site.header_timeout = header_timeout
    site.max_connections = max_connections
    site.observer = observer  # type: ignore[attr-defined]
    return site
