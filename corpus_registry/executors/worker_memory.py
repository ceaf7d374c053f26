"""What a worker process this package spawns does about its own memory: it is counted in a build's
budget, once per worker, so what a worker holds without need is paid for twice or more.

- pyarrow imports pandas on the first ``pa.array`` of a Python list, to check whether it was handed
  a pandas object (~35 MB and half a second in every process). Workers are never handed one, so
  :func:`skip_pandas_probe` has pyarrow settle that question without importing it.
- glibc keeps freed memory in its heap for reuse; :func:`give_back` returns it after each task, so
  an idle worker does not hold its largest task's memory until the next one.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_libc: Any = None


def skip_pandas_probe() -> None:
    """In a freshly spawned worker: pyarrow's one-time pandas check answered "absent" without
    importing pandas (a worker that imports pandas later can still use it directly)."""
    if "pandas" in sys.modules:  # already paid for
        return
    import pyarrow as pa

    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])  # pyarrow asks once per process, here
    finally:
        sys.meta_path.remove(blocker)


class _NoPandas(importlib.abc.MetaPathFinder):
    """An import finder under which ``import pandas`` fails, as if it were not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not imported in a worker", name=name)
        return None


def give_back() -> None:
    """Return the freed heap memory to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim  # noqa: B018  # not glibc: no such function
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


def run_and_give_back(fn: Callable[[T], R], task: T) -> R:
    """``fn(task)``, then the memory it freed returned to the system (a worker's task wrapper)."""
    try:
        return fn(task)
    finally:
        give_back()
