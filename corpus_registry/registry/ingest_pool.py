"""Ingest worker processes: spawned once, reused across sources, and never outliving their parent.

A worker asks the kernel to kill it when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on
Linux) and, everywhere, watches its parent's pid from a thread and exits when it changes: a
``kill -9`` of ``ingest --workers N`` leaves no worker behind, and a worker's open transaction is
rolled back by the database. Progress goes through a plain queue handed to each worker when it
starts (no manager process to leave behind either).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from corpus_registry.executors.worker_memory import no_heap_hoarding, skip_pandas_probe

PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5
_progress: Any = None  # the worker's end of the progress queue
_stop: Any = None  # set by the parent when another worker failed: stop at the next batch boundary


class Stopped(Exception):
    """A worker stopped because another one failed (its own error is the one reported)."""


def die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` does (kernel signal on Linux, a watchdog thread always)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog below still works
            pass
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="parent-watchdog", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _init(queue: Any, stop: Any, parent: int) -> None:
    global _progress, _stop
    _progress, _stop = queue, stop
    die_with_parent(parent)
    skip_pandas_probe()
    no_heap_hoarding()  # a batch's large buffers leave when it is done


def report(docs: int, nbytes: int) -> None:
    """In a worker: send a batch's progress to the parent; stop if another worker failed."""
    _progress.put((docs, nbytes))
    if _stop.is_set():
        raise Stopped("another worker failed")


class Pool:
    """Worker processes and their progress queue."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        ctx = mp.get_context("spawn")
        self.queue = ctx.SimpleQueue()
        self.stop = ctx.Event()
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init,
                                            initargs=(self.queue, self.stop, os.getpid()))

    @classmethod
    @contextmanager
    def maybe(cls, pool: Pool | None, workers: int) -> Iterator[Pool]:
        if pool is not None:
            yield pool
            return
        with cls(workers) as own:
            yield own

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.executor.shutdown(cancel_futures=True)
        self.queue.close()

    def map(self, task: Callable[..., Any], *args: Any, advance: Callable[[int, int], None] | None = None) -> list[Any]:
        """``task(*args, (i, workers))`` in every worker (``task`` a module-level function), results in
        partition order; ``advance`` gets the progress the tasks :func:`report`."""
        futures = [self.executor.submit(task, *args, (i, self.workers)) for i in range(self.workers)]
        return self._gather(futures, advance or (lambda docs, nbytes: None))

    def _gather(self, futures: list[Future[Any]], advance: Callable[[int, int], None]) -> list[Any]:
        """Wait for every future; on a failure, stop the others at their next batch boundary, wait
        for them, and raise the error of the first partition that failed (not the first to fail)."""
        self.stop.clear()
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                self._drain(advance)
                if any(f.exception() is not None for f in done):
                    self.stop.set()
                    wait(pending)
                    break
        except BaseException:
            self.stop.set()
            raise
        self._drain(advance)
        errors = [e for f in futures if f.done() and (e := f.exception()) is not None and not isinstance(e, Stopped)]
        if errors:
            raise errors[0]
        return [f.result() for f in futures]

    def _drain(self, advance: Callable[[int, int], None]) -> None:
        while not self.queue.empty():
            advance(*self.queue.get())
