"""Logging of a gateway process: stderr, one JSON object per line, or a human format on a terminal.

``log_level`` (``EPD_LOG_LEVEL``: debug, info, warning, error) sets the level of every logger,
Twisted's included (they are bridged into the standard ``logging`` module); ``log_format``
(``EPD_LOG_FORMAT``: json, text, auto) the format, ``auto`` meaning text on a terminal and JSON
otherwise. The access log (logger ``gateway.access``) writes one line per SOAP request with the
fields of :class:`gateway.http.observe.RequestRecord`.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _encode_str
import logging
import sys
import time
from typing import IO

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}


def _iso(ts: float) -> str:
    """UTC, milliseconds: ``2026-12-01T23:40:00.123Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % (int(ts * 1000) % 1000)


_MAX_ID = 256     # a client-chosen id (wsa:MessageID) is cut to this in the log


def _js(value: str | None) -> str:
    if value is None:
        return "null"
    return _encode_str(value[:_MAX_ID])


_CONTROL = {c: "?" for c in (*range(0x20), 0x7f, 0x85, 0x2028, 0x2029)}


def _plain(value: str) -> str:
    """A client-chosen string for the text log: cut, control characters (newlines) replaced."""
    return value[:_MAX_ID].translate(_CONTROL)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, pid, and a request's fields."""

    @staticmethod
    def format_request(req) -> str:
        """The request line, built directly (a few microseconds; ``json.dumps`` of a dict costs more)."""
        return (f'{{"time":"{_iso(req.time)}","level":"info","logger":"gateway.access","event":"request",'
                f'"request_id":{_js(req.request_id)},"message_id":{_js(req.message_id)},'
                f'"action":{_js(req.action)},"transaction":{_js(req.transaction)},'
                f'"endpoint":{_js(req.endpoint)},"status":{int(req.status)},"outcome":{_js(req.outcome)},'
                f'"duration_ms":{round(req.duration * 1000, 3)},"bytes_in":{int(req.bytes_in)},'
                f'"bytes_out":{int(req.bytes_out)},"pid":{int(req.pid)}}}')

    def format(self, record: logging.LogRecord) -> str:
        req = getattr(record, "request", None)
        if req is not None:
            return self.format_request(req)
        else:
            data = {"time": _iso(record.created), "level": record.levelname.lower(), "logger": record.name,
                    "message": record.getMessage(), "pid": record.process}
            if record.exc_info:
                data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """For a person at a terminal: ``time level [pid] message``; a request on one readable line."""

    @staticmethod
    def format_request(req) -> str:
        line = (f"{_iso(req.time)} INFO    [{req.pid}] {req.endpoint} "
                f"{req.transaction or _plain(req.action or '-')} -> {req.status} {req.outcome} "
                f"{req.duration * 1000:.1f} ms in={req.bytes_in} out={req.bytes_out} id={req.request_id}")
        if req.message_id:
            line += f" msg={_plain(req.message_id)}"
        return line

    def format(self, record: logging.LogRecord) -> str:
        req = getattr(record, "request", None)
        if req is not None:
            return self.format_request(req)
        line = f"{_iso(record.created)} {record.levelname:<7} [{record.process}] {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def level_of(name: str) -> int:
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"log_level {name!r} is not one of {', '.join(sorted(LEVELS))}") from None


def configure(log_level: str = "info", log_format: str = "auto", stream: IO[str] | None = None) -> None:
    """Route ``logging`` and Twisted's logger to ``stream`` (stderr) in the chosen format."""
    stream = stream or sys.stderr
    fmt = log_format.strip().lower()
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    global _handler
    _handler = handler
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_of(log_level))
    logging.logProcesses = True
    global _bridged
    if not _bridged:            # Twisted's log goes to ``logging`` once per process
        from twisted.logger import STDLibLogObserver, globalLogBeginner
        globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
        _bridged = True


_bridged = False
_handler: logging.StreamHandler | None = None


def write_request(req) -> None:
    """Write one request line (the caller checked that ``gateway.access`` logs INFO).

    Straight to the configured handler's stream: the ``logging`` machinery (a LogRecord, the caller
    lookup) would cost more than the rest of the line. Before :func:`configure` (a test building
    an endpoint in-process), through ``logging`` as usual."""
    handler = _handler
    if handler is None or not isinstance(handler.formatter, (JsonFormatter, TextFormatter)):
        log = logging.getLogger("gateway.access")
        log.handle(log.makeRecord(log.name, logging.INFO, "", 0, "request %s", (req.request_id,), None,
                                  extra={"request": req}))
        return
    line = handler.formatter.format_request(req) + "\n"
    handler.acquire()
    try:
        handler.stream.write(line)
        handler.flush()
    except Exception:
        pass
    finally:
        handler.release()
