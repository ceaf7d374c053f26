"""What a process of this package does about its own memory where it is counted: each worker
of a build counts in the build's budget, idle or not, and so does the build's own process.

- pyarrow imports pandas on the first ``pa.array`` of a Python list, to check whether it was handed
  a pandas object (~35 MB and half a second in every process). Workers (and a build) are never
  handed one, so :func:`skip_pandas_probe` has pyarrow settle that question without importing it.
- glibc keeps freed memory in its heap for reuse: :func:`give_back` returns it (after each of a
  worker's tasks, between a build's phases), and :func:`no_heap_hoarding` has arrays of a megabyte
  or more go straight back when freed.
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
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def skip_pandas_probe() -> None:
    """In a process that hands pyarrow no pandas object (a worker, the ``build`` command): pyarrow's
    one-time pandas check answered "absent" without importing pandas (pandas itself can still be
    imported and used directly later)."""
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


def no_heap_hoarding() -> None:
    """Have glibc map every allocation of a megabyte or more on its own, returned to the system
    when freed: by default the threshold rises with each large array freed (up to 32 MB), and
    arrays under it stay in the heap after use."""
    give_back()
    if _libc:
        _libc.mallopt(_M_MMAP_THRESHOLD, 1 << 20)


def run_and_give_back(fn: Callable[[T], R], task: T) -> R:
    """``fn(task)``, then the memory it freed returned to the system (a worker's task wrapper)."""
    try:
        return fn(task)
    finally:
        give_back()
