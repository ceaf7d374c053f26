"""The ``corpus-registry`` command: a thin layer over the Python API.

Each command parses options, calls one library function and prints. Library errors are
formatted here, once: one line, a hint, exit 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
from typing import Any

import click

from corpus_registry.errors import CorpusRegistryError
from corpus_registry.registry.registry import Registry, open_registry


class AppContext:
    """What every command may need: the registry URL, opened lazily."""

    def __init__(self, db: str | None, debug: bool) -> None:
        self.db = db
        self.debug = debug

    def registry(self, *, check: bool = True) -> Registry:
        return open_registry(self.db, check=check)


class _Group(click.Group):
    """Formats library errors once, at the edge."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CorpusRegistryError as e:
            if ctx.obj is not None and ctx.obj.debug:
                raise
            msg = f"Error: {e}"
            if e.hint:
                msg += f"\n  hint: {e.hint}"
            click.echo(msg, err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted: work committed so far is kept; run the same command again to resume.",
                       err=True)
            ctx.exit(130)


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def _default_workers() -> int:
    from corpus_registry.executors import default_workers

    return default_workers()


workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=_default_workers, show_default="all cores",
    help="Worker processes [env CORPUS_REGISTRY_WORKERS]; the output is the same for any number.")


def executor_options(f: Any) -> Any:
    """``--workers``, ``--executor local|ray`` and ``--ray-address``, for commands that can scale out."""
    f = click.option("--ray-address", metavar="ADDRESS",
                     help="An existing Ray cluster (default: start a local one).")(f)
    f = click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="Run the per-document work here (local processes) or on Ray; same output.")(f)
    return workers_option(f)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


pass_app = click.make_pass_decorator(AppContext)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="CORPUS_REGISTRY_DB", metavar="URL|PATH",
              help="Registry database: a SQLite file path or a postgresql:// URL "
                   "[env CORPUS_REGISTRY_DB; default ./.corpus-registry/registry.db].")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="corpus-registry")
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool) -> None:
    """Register openly licensed text, build license-clean releases, audit their provenance."""
    ctx.obj = AppContext(db, debug)


def main() -> None:
    cli(prog_name="corpus-registry")


# Command modules register themselves on ``cli``.
from corpus_registry.cli import audit_cmds, build_cmds, registry_cmds, review_cmds, sources_cmds  # noqa: E402,F401

