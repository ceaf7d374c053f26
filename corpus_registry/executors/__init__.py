"""Where per-document work runs: in this process, in local worker processes, or on Ray.

An executor only maps pure functions over picklable tasks and returns results in task order, so
the output of a build or an audit does not depend on which executor ran it, nor on how many
workers it had. :mod:`.local` defines the protocol; :mod:`.ray_executor` is imported only when
asked for, so Ray stays optional.
"""

from __future__ import annotations

from corpus_registry.errors import BuildError
from corpus_registry.executors.local import Executor, LocalExecutor, default_workers

__all__ = ["Executor", "LocalExecutor", "default_workers", "get_executor"]


def get_executor(name: str = "local", *, workers: int = 1, ray_address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        try:
            from corpus_registry.executors.ray_executor import RayExecutor
        except ImportError as e:
            raise BuildError("the ray executor needs Ray: pip install 'corpus-registry[ray]'") from e
        return RayExecutor(address=ray_address, workers=workers)
    raise BuildError(f"unknown executor {name!r}", hint="use --executor local or --executor ray")

