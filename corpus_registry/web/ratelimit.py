"""Counting events per key in a sliding window, in the registry database, so that every server
process behind a load balancer sees the same counts (failed logins, filed takedown requests)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from corpus_registry.registry.db.models import utcnow
from corpus_registry.registry.registry import Registry
from corpus_registry.web.models import RateEvent


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``events`` per ``window`` seconds."""

    events: int
    window: int


LOGIN_PER_NAME = Limit(5, 15 * 60)
LOGIN_PER_ADDRESS = Limit(30, 15 * 60)
TAKEDOWNS_PER_ADDRESS = Limit(20, 60 * 60)
PROPOSALS_PER_USER = Limit(60, 60 * 60)


def retry_after(registry: Registry, key: str, limit: Limit) -> int:
    """Seconds to wait before ``key`` may act again (0: now)."""
    since = utcnow() - dt.timedelta(seconds=limit.window)
    with registry.session() as s:
        n, first = s.execute(select(func.count(), func.min(RateEvent.at))
                             .where(RateEvent.key == key[:160], RateEvent.at >= since)).one()
    if n < limit.events or first is None:
        return 0
    return max(1, int((first - since).total_seconds()) + 1)


def record(registry: Registry, key: str, limit: Limit) -> None:
    """Count one event for ``key`` (and forget this key's events older than the window)."""
    now = utcnow()
    with registry.session() as s:
        s.execute(delete(RateEvent).where(RateEvent.key == key[:160],
                                          RateEvent.at < now - dt.timedelta(seconds=limit.window)))
        s.add(RateEvent(key=key[:160], at=now))


def forget(registry: Registry, key: str) -> None:
    with registry.session() as s:
        s.execute(delete(RateEvent).where(RateEvent.key == key[:160]))
