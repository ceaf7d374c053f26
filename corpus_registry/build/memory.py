"""A build's memory budget (``build --memory 1GB``): parsed once, with an error that says why."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from corpus_registry.errors import ConfigError
from corpus_registry.executors.worker_memory import give_back, no_heap_hoarding

_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1 << 10, "M": 1000**2, "MB": 1000**2, "MIB": 1 << 20,
          "G": 1000**3, "GB": 1000**3, "GIB": 1 << 30, "T": 1000**4, "TB": 1000**4, "TIB": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
MINIMUM = 10**6  # below a megabyte no build can run


def parse_memory(text: str) -> int:
    """Bytes of a size such as ``1GB``, ``512MiB`` or ``2000000`` (decimal units, ``iB`` binary ones)."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(f"--memory {text!r} is not a size",
                          hint="write a number and a unit, e.g. 1GB, 512MB, 2GiB")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < MINIMUM:
        raise ConfigError(f"--memory {text!r} is less than 1 MB, too little for any build",
                          hint="give at least 1MB; 1GB builds millions of documents")
    return size


def return_freed_memory() -> None:
    """Have Arrow's allocator hand freed memory back to the system at once rather than after
    seconds of decay (jemalloc keeps it for reuse): within a budget, what was freed must leave."""
    try:
        pa.jemalloc_set_decay_ms(0)
    except (NotImplementedError, pa.ArrowNotImplementedError):  # built without jemalloc: nothing kept
        pass
    no_heap_hoarding()


def between_phases(executor: Any, *, budget: int | None) -> None:
    """What a phase of the build freed goes back to the system before the next one starts: Arrow's
    pool and the C heap (which keeps freed arrays below its mmap threshold, up to 32 MB each); and,
    within a ``budget``, the executor's idle workers if it can let them go (the next phase starts
    fresh ones)."""
    pa.default_memory_pool().release_unused()
    give_back()
    release = getattr(executor, "release", None) if budget is not None else None
    if release is not None:
        release()
