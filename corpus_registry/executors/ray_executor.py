"""Run per-document work on Ray: pure functions as Ray Data batch maps, rows grouped by a shuffle.

The output does not depend on the engine because the engine never decides anything:

- :meth:`RayExecutor.map` makes a Ray Dataset of ``(index, pickled task)`` rows and maps the
  pure function over it, one task per batch. Tasks and results travel pickled, so Arrow never
  re-types them: tuples, ``None`` and numpy signatures come back exactly as the function
  returned them. The dataset runs with ``preserve_order`` and results still pass through a
  reorder buffer keyed by task index, so their order never depends on scheduling.
- :meth:`RayExecutor.map_groups` groups rows by key columns with Ray Data's shuffle and maps a
  pure function over each whole group (the build's near dedup pairs LSH buckets this way:
  :mod:`corpus_registry.build.dedup.distributed`).

Ray is imported lazily: the rest of the package never needs it. A local instance listens on
loopback only and sends no usage statistics. On an existing cluster (``address``) every node
needs this package installed and must reach the document store and the output folder (a shared
filesystem or an fsspec URL).
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

from corpus_registry.errors import BuildError, CorpusRegistryError
from corpus_registry.executors.local import default_workers

if TYPE_CHECKING:
    from ray.data import DataContext

__all__ = ["RayExecutor"]

T = TypeVar("T")
R = TypeVar("R")

_MIN_WINDOW = 64  # tasks per Ray dataset in map(): enough to amortise its start (~0.5 s)
_WINDOW_PER_WORKER = 16


class RayExecutor:
    """Runs the per-document work of a build on Ray (a local instance, or ``address``'s cluster).

    ``workers`` bounds the tasks running at once (and the CPUs of a local instance). A Ray
    already initialised in this process is reused and left running by :meth:`close`.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        import ray

        self.address = address
        self._owns_ray = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                             ignore_reinit_error=True)
                else:
                    with _loopback_only():
                        ray.init(address="local", num_cpus=max(1, workers or default_workers()),
                                 include_dashboard=False, log_to_driver=False,
                                 logging_level=logging.WARNING, ignore_reinit_error=True)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise BuildError(f"cannot start or reach {where}: {_first_line(e)}",
                                 hint="check --ray-address, or leave it out to start a local instance"
                                 ) from e
            self._owns_ray = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, workers or cpus)
        _quiet_ray_data_console()

    def map(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        """``fn`` over ``tasks`` as Ray Data batch maps; results in task order.

        Tasks are taken lazily, a window at a time (one dataset per window), so that only a
        window of tasks is held, never the whole build's.
        """
        return self._map(fn, iter(tasks), max(_MIN_WINDOW, _WINDOW_PER_WORKER * self.workers))

    def _map(self, fn: Callable[[T], R], tasks: Iterator[T], window: int) -> Iterator[R]:
        while batch := list(itertools.islice(tasks, window)):
            yield from self._map_window(fn, batch)

    def _map_window(self, fn: Callable[[T], R], tasks: list[T]) -> Iterator[R]:
        import ray.data

        count = len(tasks)
        rows = [{"index": i, "task": pickle.dumps(t, protocol=5)} for i, t in enumerate(tasks)]
        tasks.clear()
        source = ray.data.from_items(rows, override_num_blocks=count)  # one block per task
        rows.clear()  # the tasks live in Ray's object store now
        _configure(source.context)
        udf: Any = _call_pickled
        results = source.map_batches(udf, fn_kwargs={"fn": fn}, batch_size=1, batch_format="numpy",
                                     compute=ray.data.TaskPoolStrategy(size=min(self.workers, count)))
        pending: dict[int, bytes] = {}
        expected = 0
        for row in _rows_or_error(results.iter_rows()):
            pending[int(row["index"])] = row["result"]
            while expected in pending:  # reorder buffer: empty unless Ray returned rows out of order
                ok, value = pickle.loads(pending.pop(expected))
                if not ok:
                    raise value  # the library error the task raised, as the local executor would
                yield value
                expected += 1
        if expected != count:
            raise BuildError(f"Ray returned {expected + len(pending)} results for {count} tasks",
                             hint="run again; if it persists, use --executor local")

    def map_groups(self, tables: list[pa.Table], *, by: list[str],
                   fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
        """Group the rows of ``tables`` by the ``by`` columns with a Ray Data shuffle (every group lands
        whole in one call) and yield ``fn``'s numpy batches, in no particular order."""
        import ray.data

        ds = ray.data.from_arrow(tables)
        _configure(ds.context)
        # (the ignores: with pandas-stubs installed, Ray's signatures name pandas types numpy batches never are)
        grouped = ds.groupby(by).map_groups(fn, batch_format="numpy")  # type: ignore[arg-type]
        yield from _rows_or_error(grouped.iter_batches(batch_size=None, batch_format="numpy"))  # type: ignore[misc]

    def close(self) -> None:
        """Shut down the local Ray instance this executor started (never one it joined)."""
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False


def _call_pickled(batch: dict[str, np.ndarray], *, fn: Callable[[Any], Any]) -> dict[str, np.ndarray]:
    """Runs on a Ray worker: unpickle each task, call ``fn``, pickle ``(True, result)``.

    A library error (one with a hint for the user) travels back as ``(False, error)``: Ray Data
    would otherwise flatten it into a traceback string. Any other exception fails the task.
    """
    results = []
    for task in batch["task"]:
        try:
            value: tuple[bool, Any] = (True, fn(pickle.loads(task)))
        except CorpusRegistryError as e:
            value = (False, e)
        results.append(pickle.dumps(value, protocol=5))
    out = np.empty(len(results), dtype=object)
    out[:] = results
    return {"index": batch["index"], "result": out}


def _configure(ctx: DataContext) -> None:
    """Settings for one of our datasets (its own copy of the context; the global one is untouched)."""
    from ray.data.context import ShuffleStrategy

    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False  # the build draws its own progress bars
    ctx.print_on_execution_start = False
    if "RAY_DATA_DEFAULT_SHUFFLE_STRATEGY" not in os.environ:
        # Task-based sort shuffle: no aggregator actors to start, which dominates small and
        # medium builds (≈3 s instead of ≈10 s for 100k rows on 2 cores).
        ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED


def _rows_or_error(rows: Iterable[T]) -> Iterator[T]:
    """``rows``, with a failed Ray task raised as the library error it carries, or a BuildError."""
    it = iter(rows)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except Exception as e:
            if isinstance(e, CorpusRegistryError):
                raise
            raise BuildError(f"a Ray task failed: {_first_line(e)}",
                             hint="rerun with --debug for the worker's traceback") from e
        yield row


def _first_line(e: BaseException) -> str:
    """The original error line of a Ray task failure (its text is the worker's traceback)."""
    text = str(e).split("\n\nThe above exception was the direct cause")[0]
    lines = [line for line in text.splitlines() if line.strip() and not line[0].isspace()]
    return lines[-1].strip() if lines else type(e).__name__


@contextmanager
def _loopback_only() -> Iterator[None]:
    """While a local instance starts: bind it to loopback, and switch off usage statistics.

    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is Ray's own "local only" switch (its node address
    becomes 127.0.0.1); the processes Ray starts inherit both variables, and the driver-side
    constant is patched too in case Ray was imported before. Both are restored afterwards.
    """
    from ray._private import ray_constants

    saved_env = {k: os.environ.get(k) for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED")}
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _quiet_ray_data_console() -> None:
    """Ray Data's per-dataset INFO lines stay in its log file, not on the user's terminal."""
    import ray.data  # noqa: F401  (configures the "ray.data" logger)

    for handler in logging.getLogger("ray.data").handlers:
        if handler.get_name() == "console":
            handler.setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
