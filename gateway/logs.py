"""Logging of a gateway process: stderr, one JSON object per line, or a human format on a terminal.

``log_level`` (``EPD_LOG_LEVEL``: debug, info, warning, error) sets the level of every logger,
Twisted's included (they are bridged into the standard ``logging`` module); ``log_format``
(``EPD_LOG_FORMAT``: json, text, auto) the format, ``auto`` meaning text on a terminal and JSON
otherwise. The access log (logger ``gateway.access``) writes one line per SOAP request with the
fields of :class:`gateway.http.observe.RequestRecord`.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import IO

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, pid, and a request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        req = getattr(record, "request", None)
        if req is not None:
            data = {"time": _iso(req.time), "level": record.levelname.lower(), "logger": record.name,
                    "event": "request", **req.fields()}
        else:
            data = {"time": _iso(record.created), "level": record.levelname.lower(), "logger": record.name,
                    "message": record.getMessage(), "pid": record.process}
            if record.exc_info:
                data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """For a person at a terminal: ``time level [pid] message``; a request on one readable line."""

    def format(self, record: logging.LogRecord) -> str:
        req = getattr(record, "request", None)
        if req is not None:
            line = (f"{_iso(req.time)} {record.levelname:<7} [{req.pid}] {req.endpoint} "
                    f"{req.transaction or req.action or '-'} -> {req.status} {req.outcome} "
                    f"{req.duration * 1000:.1f} ms in={req.bytes_in} out={req.bytes_out} id={req.request_id}")
            if req.message_id:
                line += f" msg={req.message_id}"
            return line
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
