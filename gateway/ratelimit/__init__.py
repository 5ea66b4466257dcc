"""Rate limit on professionals' reads (annex 2 CTO 3.3): at most ``EPD_READ_LIMIT`` documents
retrieved per user per window (e.g. ``500/1h``), then the user is blocked for ``EPD_READ_BLOCK``
(e.g. ``1h``).

The counters live in the database (``ratelimit_usage``, one row per user), so every gateway process
counts the same reads. The window is fixed: it starts with the user's first read after the previous
window ended. A request that would take the user past the limit is refused (a SOAP fault saying so,
audited by the pipeline) and blocks the user until ``now + block``; while blocked every retrieve is
refused. ``epd-gateway ratelimit list`` shows the blocked users, ``ratelimit unblock --user GLN``
lifts a block.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.store.db import metadata, write_transaction

ratelimit_usage = sa.Table(
    "ratelimit_usage", metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> _dt.timedelta:
    """``90s``, ``15m``, ``1h``, ``2d`` (a bare number is seconds)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text or "")
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (e.g. 30m, 1h, 1d)")
    return _dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2) or "s"])


def parse_limit(text: str) -> tuple[int, _dt.timedelta]:
    """``500/1h`` -> (500, 1 hour)."""
    count, sep, window = (text or "").partition("/")
    if not sep or not count.strip().isdigit() or int(count) <= 0:
        raise ValueError(f"not a read limit: {text!r} (e.g. 500/1h)")
    return int(count), parse_duration(window)


def _aware(t):
    if t is not None and t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t


@dataclass(frozen=True)
class Charge:
    allowed: bool
    count: int
    blocked_until: _dt.datetime | None = None


@dataclass(frozen=True)
class Blocked:
    user_id: str
    blocked_until: _dt.datetime
    count: int


class ReadLimiter:
    """``limit`` documents per ``window`` per user, then blocked for ``block``."""

    def __init__(self, engine: Engine, limit: int, window: _dt.timedelta, block: _dt.timedelta) -> None:
        self.engine, self.limit, self.window, self.block = engine, limit, window, block

    @classmethod
    def from_settings(cls, engine: Engine, read_limit: str, read_block: str) -> "ReadLimiter | None":
        """None when ``read_limit`` is empty (no limit configured)."""
        if not read_limit:
            return None
        limit, window = parse_limit(read_limit)
        return cls(engine, limit, window, parse_duration(read_block) if read_block else window)

    def charge(self, user_id: str, documents: int, now: _dt.datetime | None = None) -> Charge:
        """Count ``documents`` reads for ``user_id``; refused (and blocked) past the limit."""
        now = now or _dt.datetime.now(_dt.timezone.utc)
        try:
            return self._charge(user_id, documents, now)
        except IntegrityError:          # the user's first reads, counted concurrently by two processes
            return self._charge(user_id, documents, now)

    def _charge(self, user_id: str, documents: int, now: _dt.datetime) -> Charge:
        with write_transaction(self.engine) as conn:
            q = sa.select(ratelimit_usage).where(ratelimit_usage.c.user_id == user_id)
            if self.engine.dialect.name == "postgresql":
                q = q.with_for_update()
            row = conn.execute(q).first()
            if row is None:
                conn.execute(ratelimit_usage.insert().values(user_id=user_id, window_start=now, count=0))
                start, count, blocked = now, 0, None
            else:
                start, count, blocked = _aware(row.window_start), row.count, _aware(row.blocked_until)
            if blocked is not None and now < blocked:
                return Charge(False, count, blocked)
            if blocked is not None or now >= start + self.window:
                start, count, blocked = now, 0, None
            count += documents
            if count > self.limit:
                blocked = now + self.block
                conn.execute(ratelimit_usage.update().where(ratelimit_usage.c.user_id == user_id).values(
                    window_start=start, count=count - documents, blocked_until=blocked))
                return Charge(False, count - documents, blocked)
            conn.execute(ratelimit_usage.update().where(ratelimit_usage.c.user_id == user_id).values(
                window_start=start, count=count, blocked_until=None))
            return Charge(True, count)


def blocked_users(engine: Engine, now: _dt.datetime | None = None) -> list[Blocked]:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ratelimit_usage).where(ratelimit_usage.c.blocked_until.is_not(None))
                            .order_by(ratelimit_usage.c.user_id))
        out = [Blocked(r.user_id, _aware(r.blocked_until), r.count) for r in rows]
    return [b for b in out if b.blocked_until > now]


def unblock(engine: Engine, user_id: str) -> bool:
    """Lift the block (and restart the count); False when the user was not blocked."""
    with write_transaction(engine) as conn:
        res = conn.execute(ratelimit_usage.update().where(ratelimit_usage.c.user_id == user_id,
                                                          ratelimit_usage.c.blocked_until.is_not(None))
                           .values(blocked_until=None, count=0))
        return res.rowcount > 0
