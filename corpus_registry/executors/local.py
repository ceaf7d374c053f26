"""The executor protocol, and the local executor: inline with one worker, else spawned processes."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Protocol, TypeVar

from corpus_registry.config import env_int
from corpus_registry.executors.worker_memory import run_and_give_back, skip_pandas_probe

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    name: str
    workers: int

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``tasks``, results in task order, at most a few tasks ahead in memory."""
        ...

    def close(self) -> None: ...


def default_workers() -> int:
    """All cores by default; ``$CORPUS_REGISTRY_WORKERS`` overrides (0 or unset: all cores)."""
    return env_int("CORPUS_REGISTRY_WORKERS", 0) or os.cpu_count() or 1


AHEAD_PER_WORKER = 2  # tasks handed out but not yet returned, per worker: one running, one waiting


def _ahead(pool: ProcessPoolExecutor, fn: Callable[[T], R], tasks: Iterable[T], *, ahead: int) -> Iterator[R]:
    """``pool.map`` that holds at most ``ahead`` tasks (and their results) at once, not all of them:
    a build's tasks together carry every candidate's row. The first ``ahead`` are submitted before
    this returns, so the workers start while the caller does other work."""
    pending: deque[Future[R]] = deque()
    source = iter(tasks)
    for task in source:
        pending.append(pool.submit(run_and_give_back, fn, task))
        if len(pending) >= ahead:
            break

    def results() -> Iterator[R]:
        try:
            while pending:
                result = pending.popleft().result()
                for task in source:  # refill one for each result taken
                    pending.append(pool.submit(run_and_give_back, fn, task))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()

    return results()


class LocalExecutor:
    """Runs inline with one worker, else in spawned worker processes on this machine."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        if self.workers == 1:
            return map(fn, tasks)
        return _ahead(self._start(), fn, tasks, ahead=AHEAD_PER_WORKER * self.workers)

    def warm_up(self, module: str) -> None:
        """Start the workers now and have each import ``module`` while the caller does other work
        (a spawned worker spends about half a second importing before its first task)."""
        if self.workers > 1:
            pool = self._start()
            for _ in range(self.workers):
                pool.submit(importlib.import_module, module)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=skip_pandas_probe)
        return self._pool

    def release(self) -> None:
        """Let the workers go while the caller works alone (their memory counts in a budget, idle or
        not); the next :meth:`map` starts fresh ones."""
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
