"""The executor protocol, and the local executor: inline with one worker, else spawned processes."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

from corpus_registry.config import env_int

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


class LocalExecutor:
    """Runs inline with one worker, else in spawned worker processes on this machine."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        if self.workers == 1:
            return map(fn, tasks)
        return self._start().map(fn, tasks)

    def warm_up(self, module: str) -> None:
        """Start the workers now and have each import ``module`` while the caller does other work
        (a spawned worker spends about half a second importing before its first task)."""
        if self.workers > 1:
            pool = self._start()
            for _ in range(self.workers):
                pool.submit(importlib.import_module, module)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
