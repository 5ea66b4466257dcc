"""Request limits enforced by the transport, before any endpoint sees a request.

* Body size: :class:`GatewayRequest` refuses a body past the site's ``max_request_size`` as soon as
  the headers say so (413 + Sender fault, connection closed), and while receiving when there is no
  Content-Length. :func:`request_too_large` is the one place that fault is built (the SOAP
  endpoint uses it too, for the size it measures).
* Header time: :class:`GatewayChannel` closes a connection that has not completed its request
  headers within ``header_timeout`` seconds of its first byte (of its opening, for the first
  request), however slowly it trickles bytes (Twisted's idle timeout is reset by every byte, so a
  slowloris client could otherwise hold a connection for ever).
"""
from __future__ import annotations

from typing import Any

from twisted.web import http, server

from gateway.soap.envelope import fault_envelope, serialize
from gateway.soap.fault import SoapFault
from gateway.soap.message import PLAIN_CONTENT_TYPE

WSA_UNSPECIFIED = "http://www.w3.org/2005/08/addressing/unspecified"


def request_too_large(limit: int | None) -> SoapFault:
    """The fault for a request body past ``limit`` bytes (HTTP 413, Sender)."""
    return SoapFault("Sender", f"request body larger than the limit of {limit} bytes", http_status=413)


def raw_fault_response(fault: SoapFault, *, close: bool = True) -> bytes:
    """A complete HTTP response carrying ``fault``, for writing straight to a transport."""
    body = serialize(fault_envelope(fault, WSA_UNSPECIFIED))
    reason = http.RESPONSES.get(fault.http_status, b"Error")
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (fault.http_status, reason, PLAIN_CONTENT_TYPE.encode(), len(body),
               b"Connection: close\r\n" if close else b"")) + body


class _Discard:
    """Stands in for ``request.content`` once a body is refused: swallows writes."""

    def write(self, data: bytes) -> None:
        pass

    def seek(self, *args: Any) -> int:
        return 0

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass


class GatewayRequest(server.Request):
    """A ``Request`` that refuses bodies larger than the site's ``max_request_size`` unread."""

    _refused = False
    _body_received = 0

    def _limit(self) -> int | None:
        site = getattr(self.channel, "site", None)
        return getattr(site, "max_request_size", None)

    def _refuse(self) -> None:
        self._refused = True
        self.content = _Discard()  # type: ignore[assignment]
        if self.channel is not None and self.channel.transport is not None:
            self.channel.transport.write(raw_fault_response(request_too_large(self._limit())))
            self.channel.loseConnection()

    def gotLength(self, length: int | None) -> None:
        limit = self._limit()
        if length is not None and limit is not None and length > limit:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._body_received += len(data)
        limit = self._limit()
        if limit is not None and self._body_received > limit:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._refused:
            return  # already answered; the connection is closing
        super().requestReceived(command, path, version)


_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                    b"Content-Length: 32\r\nConnection: close\r\n\r\nrequest headers took too long.\r\n")


class GatewayChannel(http.HTTPChannel):
    """An ``HTTPChannel`` with a deadline for the request headers (``site.header_timeout``).

    The deadline runs from the connection's opening for its first request, and from the first byte
    of each later request on a kept-alive connection (an idle kept-alive connection is Twisted's
    idle timeout's business). Past it: 408, connection closed (aborted if the peer does not read).
    """

    _header_deadline: Any = None
    _awaiting_headers = True

    def _header_timeout(self) -> float | None:
        return getattr(getattr(self, "site", None), "header_timeout", None)

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's name)
        super().connectionMade()
        self._start_header_deadline()

    def _start_header_deadline(self) -> None:
        timeout = self._header_timeout()
        if timeout and self._header_deadline is None:
            self._header_deadline = self.callLater(timeout, self._headers_too_slow)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            if self._header_deadline.active():
                self._header_deadline.cancel()
            self._header_deadline = None

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._awaiting_headers and self._header_deadline is None:
            self._start_header_deadline()
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:  # noqa: N802
        self._awaiting_headers = False
        self._cancel_header_deadline()
        super().allHeadersReceived()

    def requestDone(self, request: Any) -> None:  # noqa: N802
        self._awaiting_headers = True   # the next request's deadline starts with its first byte
        super().requestDone(request)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport is None or not self._awaiting_headers:
            return
        self._log.info("closing {peer}: request headers not complete within {timeout} s",
                       peer=str(self.transport.getPeer()), timeout=self._header_timeout())
        self.transport.write(_REQUEST_TIMEOUT)
        self.timeoutConnection()       # Twisted's own: lose the connection, abort it if it lingers

    def connectionLost(self, reason: Any) -> None:  # noqa: N802
        self._cancel_header_deadline()
        super().connectionLost(reason)
