"""Ingest on Ray: a source's slices (files, runs of lines, row groups) as Ray tasks.

It lives in the registry (which may use an executor, never the reverse: executors import no
job). The driver keeps what must stay single: the source's ingest lock and run record
(:mod:`corpus_registry.registry.ingest_runs`), the duplicate-identifier check over all slices, and
the final counts. Each task (:func:`corpus_registry.registry.ingest_tasks.ingest_slice`) opens the
registry and the store itself and commits its own batches, so every node needs this package, the
source's files at the same path, the registry's database and the document store (a shared folder
or an fsspec URL). A task whose process dies is run again by Ray (``max_retries``); batches its
first attempt committed are recognised and skipped, so no document is written twice. A library
error in a task (a bad record, a duplicate) is not retried: it stops the source's other tasks and
is reported as the local executor reports it. The registry ends up as a local ingest leaves it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from tqdm import tqdm

from corpus_registry.errors import ConfigError, CorpusRegistryError, RegistryError
from corpus_registry.executors.ray_executor import RayExecutor, _first_line
from corpus_registry.registry.db.models import Document, IngestRun, Source
from corpus_registry.registry.ingest import IngestStats, load_source, source_reader
from corpus_registry.registry.ingest_runs import finish_run, start_run
from corpus_registry.registry.ingest_tasks import Slice, check_identifiers, ingest_slice, plan_slices, scan_slice
from corpus_registry.registry.langid import get_identifier
from corpus_registry.registry.registry import Registry
from corpus_registry.terminal import one_line

MAX_RETRIES = 3  # a task whose worker or node dies runs again up to this many times
TASKS_PER_CPU = 4  # slices per CPU of the cluster: small enough to balance, few enough to amortise
#: test hook: a file path; the first task attempt to find it missing creates it and dies after its first batch
KILL_ONCE = "CORPUS_REGISTRY_TEST_KILL_ONCE"


def ray_ingest(
    registry: Registry,
    slugs: Sequence[str] | None = None,
    *,
    langid: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    break_lock: bool = False,
) -> list[IngestStats]:
    """Ingest the named sources (all active ones when none are named) with Ray tasks."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError("ingest --executor ray needs Ray", hint="pip install 'corpus-registry[ray]'") from e

    if not slugs:
        with registry.session() as s:
            slugs = list(s.scalars(select(Source.slug).where(Source.status == "active").order_by(Source.slug)))
    get_identifier(langid)  # an unknown backend fails here, before Ray starts
    ex = RayExecutor(address=address, workers=workers)
    try:
        scan_remote = ray.remote(_scan_task).options(num_cpus=1, max_retries=MAX_RETRIES)
        ingest_remote = ray.remote(_ingest_task).options(num_cpus=1, max_retries=MAX_RETRIES)
        return [_ingest_source(registry, slug, langid=langid, cpus=ex.workers, progress=progress,
                               break_lock=break_lock, scan_remote=scan_remote, ingest_remote=ingest_remote)
                for slug in slugs]
    finally:
        ex.close()


def _ingest_source(registry: Registry, slug: str, *, langid: str | None, cpus: int, progress: bool,
                   break_lock: bool, scan_remote: Any, ingest_remote: Any) -> IngestStats:
    source = load_source(registry, slug)
    reader = source_reader(source)
    run_id = start_run(registry, source, workers=cpus, break_lock=break_lock)
    started = time.perf_counter()
    status = "failed"
    stats = IngestStats(source=slug)
    env = _forwarded_env()
    try:
        slices = plan_slices(reader, max_tasks=TASKS_PER_CPU * cpus)
        keys = _gather(slug, slices, [scan_remote.remote(registry.url, slug, piece, env) for piece in slices],
                       what="scan")
        check_identifiers(source, keys)
        bar = tqdm(desc=slug, unit="doc", disable=None if progress else True, leave=False, dynamic_ncols=True)
        try:
            refs = [ingest_remote.remote(registry.url, slug, run_id, langid, piece, env) for piece in slices]
            parts = _gather(slug, slices, refs, what="ingest", bar=bar, progress=progress)
        finally:
            bar.close()
        _totals(registry, run_id, stats, parts)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        stats.seconds = time.perf_counter() - started
        with registry.session() as s:
            finish_run(s, run_id, status=status, skipped=stats.skipped)
    return stats


def _gather(slug: str, slices: list[Slice], refs: list[Any], *, what: str, bar: Any = None,
            progress: bool = False) -> list[Any]:
    """Wait for every task, reporting each as it ends; on a failure cancel the rest and raise the
    error of the first slice (in reading order) that failed."""
    import ray
    from ray.exceptions import RayError, TaskCancelledError

    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    errors: dict[int, CorpusRegistryError] = {}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            i = index[ref]
            try:
                ok, value = ray.get(ref)
            except TaskCancelledError:  # stopped because another task failed: that error is reported
                continue
            except RayError as e:  # the task died more than MAX_RETRIES times, or Ray failed
                ok, value = False, RegistryError(
                    f"{slug}: Ray {what} task {i + 1}/{len(refs)} ({_describe(slices[i])}) failed: {_first_line(e)}",
                    hint="committed batches are kept; run the ingest again to resume",
                    source=slug, task=i)
            if not ok:
                errors[i] = value
                if progress:
                    _say(f"{slug}: {what} task {i + 1}/{len(refs)} ({_describe(slices[i])}) failed: {value}")
                for other in pending:
                    ray.cancel(other)
                continue
            results[i] = value
            if bar is not None and isinstance(value, IngestStats):
                bar.update(value.seen)
                if progress:
                    resumed = value.skipped.get("resumed", 0)
                    _say(f"{slug}: task {i + 1}/{len(refs)} ({_describe(slices[i])}): {value.seen} document{'s' if value.seen != 1 else ''}, "
                              f"{value.added} added, {value.unchanged} unchanged"
                              + (f", {resumed} already committed by an earlier attempt" if resumed else ""))
    if errors:
        raise errors[min(errors)]
    return results


def _say(line: str) -> None:
    """One progress line on stderr, above the progress bar (control characters escaped)."""
    tqdm.write(one_line(line), file=sys.stderr)


def _describe(piece: Slice) -> str:
    start, stop = piece
    return f"units {start}.." if stop >= 2**62 else f"units {start}..{stop - 1}"


def _totals(registry: Registry, run_id: int, stats: IngestStats, parts: list[IngestStats]) -> None:
    """The run's counts as committed (retried tasks counted once) and its tasks' skips."""
    with registry.session() as s:
        run = s.get(IngestRun, run_id)
        assert run is not None
        stats.seen, stats.added, stats.updated = run.seen, run.added, run.updated
        stats.unchanged, stats.bytes = run.unchanged, run.bytes
        stats.languages = {lang: n for lang, n in s.execute(
            select(Document.language, func.count()).where(Document.ingest_run_id == run_id)
            .group_by(Document.language).order_by(Document.language)) if lang is not None}
    for part in parts:
        stats.metadata_updated += part.metadata_updated
        for key, n in part.skipped.items():
            if key != "resumed":
                stats.skipped[key] = stats.skipped.get(key, 0) + n


def _forwarded_env() -> dict[str, str]:
    """The driver's ``CORPUS_REGISTRY_*`` settings (batch size, test hooks), applied in each task."""
    return {k: v for k, v in os.environ.items() if k.startswith("CORPUS_REGISTRY_")}


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_registries: dict[str, Registry] = {}


def _registry(url: str) -> Registry:
    """One registry (engine, connection pool) per worker process and URL, reused by its tasks."""
    if url not in _registries:
        _registries[url] = Registry(url)
    return _registries[url]


def _scan_task(url: str, slug: str, piece: Slice, env: dict[str, str]) -> tuple[bool, Any]:
    """On a Ray worker: the identifier hashes of one slice."""
    with _environment(env):
        try:
            return True, scan_slice(load_source(_registry(url), slug), piece)
        except CorpusRegistryError as e:
            return False, e


def _ingest_task(url: str, slug: str, run_id: int, langid: str | None, piece: Slice,
                 env: dict[str, str]) -> tuple[bool, Any]:
    """On a Ray worker: ingest one slice, committing batch by batch."""
    with _environment(env):
        try:
            registry = _registry(url)
            source = load_source(registry, slug)
            return True, ingest_slice(registry, source, run_id, get_identifier(langid), piece, _kill_once_hook(env))
        except CorpusRegistryError as e:
            return False, e


def _kill_once_hook(env: dict[str, str]) -> Any:
    """Progress callback; with the test hook set, the first attempt anywhere dies after its first batch."""
    marker = env.get(KILL_ONCE)

    def advance(docs: int, nbytes: int) -> None:
        if marker:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.close(fd)
            os._exit(1)

    return advance
