"""Ingest runs: one at a time per source, who holds a source, and what became of dead runs.

A source's ``running`` run *is* its ingest lock: a unique index on ``ingest_runs(source_id)`` over
the running runs lets the database (SQLite or PostgreSQL, same rule) refuse a second one. The row
says who holds it (host, pid, start time), so the loser of a race is told exactly that, and a run
whose process has died on this host is found and marked ``interrupted`` by the next ingest or
``stats``. A holder on another host cannot be checked from here: ``ingest --break-lock`` clears it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

import psutil
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from corpus_registry.errors import RegistryError
from corpus_registry.registry.db.models import IngestRun, Source, utcnow
from corpus_registry.registry.registry import Registry

RUNNING = "running"
INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class Me:
    """This process, as a run records it."""

    host: str
    pid: int
    started: float

    @classmethod
    def now(cls) -> Me:
        return cls(host=socket.gethostname(), pid=os.getpid(), started=_process_started(os.getpid()) or 0.0)


def _process_started(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def alive(run: IngestRun, *, host: str) -> bool | None:
    """True/False when the run's process can be checked from this host, None when it cannot
    (another host, or a run recorded without a pid)."""
    if run.pid is None or run.host != host:
        return None
    started = _process_started(run.pid)
    if started is None:
        return False
    # the same pid started later is another process (pids are reused); 1 s for clock rounding
    return run.process_started is None or abs(started - run.process_started) < 1.0


def mark_stale_runs(session: Session) -> list[int]:
    """Mark ``interrupted`` every running run whose process on this host is gone; their ids
    (``finished_at`` stays empty: nobody saw them end)."""
    host = socket.gethostname()
    stale = [run.id for run in session.scalars(select(IngestRun).where(IngestRun.status == RUNNING))
             if alive(run, host=host) is False]
    if stale:
        session.execute(update(IngestRun).where(IngestRun.id.in_(stale)).values(status=INTERRUPTED))
    return stale


def start_run(registry: Registry, source: Source, *, workers: int, break_lock: bool = False) -> int:
    """Record a running run of ``source`` (its ingest lock) and return its id; a RegistryError
    naming the holder when another live ingest of the source runs."""
    me = Me.now()
    for _attempt in range(3):
        with registry.session() as s:
            mark_stale_runs(s)
            if break_lock:
                s.execute(update(IngestRun).where(IngestRun.source_id == source.id, IngestRun.status == RUNNING)
                          .values(status=INTERRUPTED))
        try:
            with registry.session() as s:
                run = IngestRun(source_id=source.id, workers=max(1, workers), status=RUNNING,
                                host=me.host, pid=me.pid, process_started=me.started)
                s.add(run)
                s.flush()
                return run.id
        except RegistryError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
        with registry.session() as s:
            holder = s.scalar(select(IngestRun).where(IngestRun.source_id == source.id,
                                                      IngestRun.status == RUNNING))
        if holder is not None and alive(holder, host=me.host) is not False:
            raise locked_error(source.slug, holder)
        # the holder died or finished between the two statements: try again
    raise RegistryError(f"{source.slug}: could not take the ingest lock (it changed hands repeatedly)",
                        hint="run the ingest again", source=source.slug)


def locked_error(slug: str, holder: IngestRun) -> RegistryError:
    since = holder.started_at.replace(tzinfo=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    who = f"pid {holder.pid} on {holder.host}" if holder.pid is not None else "an unknown process"
    return RegistryError(
        f"{slug}: another ingest of this source is running ({who}, since {since}, run {holder.id}); "
        "nothing was read or written",
        hint=f"wait for it to finish; if that process is gone (another machine, or killed), clear the lock "
             f"with `corpus-registry ingest {slug} --break-lock`",
        source=slug, run=holder.id, host=holder.host, pid=holder.pid)


def finish_run(session: Session, run_id: int, *, status: str, skipped: dict[str, int]) -> None:
    """Close a run: its status and what the readers skipped. Its counts were added batch by batch
    as they committed (:func:`count_batch`), so a failed run records what it did commit."""
    session.execute(update(IngestRun).where(IngestRun.id == run_id).values(
        status=status, skipped=dict(sorted(skipped.items())) or None, finished_at=utcnow()))


def count_batch(session: Session, run_id: int, *, seen: int, added: int, updated: int, unchanged: int,
                nbytes: int) -> None:
    """Add one batch's counts to its run, in the batch's own transaction: a run that fails or is
    killed still records exactly what it committed."""
    session.execute(update(IngestRun).where(IngestRun.id == run_id).values(
        seen=IngestRun.seen + seen, added=IngestRun.added + added, updated=IngestRun.updated + updated,
        unchanged=IngestRun.unchanged + unchanged, bytes=IngestRun.bytes + nbytes))
