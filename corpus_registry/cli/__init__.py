"""The ``corpus-registry`` command: a thin layer over the Python API.

Each command parses options, calls one library function and prints, always through :func:`say`
(or :func:`echo_json`): control characters from identifiers, titles or file names never reach the
terminal raw. Library errors are formatted here, once: one line (credentials masked), a hint,
exit 2 (the tool could not do its job; exit 1 is kept for "a check found violations", as in
``audit``); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

import click

from corpus_registry.errors import CorpusRegistryError
from corpus_registry.registry.registry import Registry, open_registry
from corpus_registry.terminal import clean, json_safe, mask, one_line

#: Exit statuses, the same for every command (shown at the end of each command's --help).
EXIT_VIOLATIONS, EXIT_FAILED = 1, 2
EXIT_HELP = "Exit status: 0 done; 2 could not run (a one-line error on stderr, --debug for the traceback)."


def say(text: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print for a person: control characters shown as escapes (newlines and tabs kept)."""
    click.echo(clean(text), err=err, nl=nl)


class AppContext:
    """What every command may need: the registry URL, opened lazily."""

    def __init__(self, db: str | None, debug: bool) -> None:
        self.db = db
        self.debug = debug

    def registry(self, *, check: bool = True) -> Registry:
        return open_registry(self.db, check=check)


class _Command(click.Command):
    """A command whose --help ends with the exit statuses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("epilog", EXIT_HELP)
        super().__init__(*args, **kwargs)


class _Group(click.Group):
    """Formats library errors once, at the edge; its commands and groups are of the same kinds."""

    command_class = _Command
    group_class = type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("epilog", EXIT_HELP)
        super().__init__(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CorpusRegistryError as e:
            if ctx.obj is not None and ctx.obj.debug:
                raise
            msg = f"Error: {one_line(mask(e))}"
            if e.hint:
                msg += f"\n  hint: {one_line(mask(e.hint))}"
            say(msg, err=True)
            ctx.exit(EXIT_FAILED)
        except click.ClickException as e:  # usage errors quote what was typed: shown escaped
            e.message = one_line(mask(e.message))  # type: ignore[misc]
            raise
        except (click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # the reader went away (`… | head`): stop quietly, as Unix tools do
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail again
            ctx.exit(141)
        except KeyboardInterrupt:
            say("Interrupted: work committed so far is kept; run the same command again to resume.", err=True)
            ctx.exit(130)
        except Exception as e:  # a bug: still one line, and never exit 1 (which means "violations found")
            if ctx.obj is not None and ctx.obj.debug:
                raise
            say(f"Error: unexpected {type(e).__name__}: {one_line(mask(e))}\n  hint: this is a bug in "
                "corpus-registry; run again with --debug for the traceback and report it", err=True)
            ctx.exit(EXIT_FAILED)


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
    """Print JSON; what JSON leaves raw but a terminal would obey is written as ``\\uXXXX``."""
    say(json_safe(json.dumps(data, indent=2, ensure_ascii=False, default=str)))


pass_app = click.make_pass_decorator(AppContext)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="CORPUS_REGISTRY_DB", metavar="URL|PATH",
              help="Registry database: a SQLite file path or a postgresql:// URL "
                   "[env CORPUS_REGISTRY_DB; default ./.corpus-registry/registry.db].")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="corpus-registry")
@click.pass_context
def cli(ctx: click.Context, db: str | None, debug: bool) -> None:
    """Register openly licensed text, build license-clean releases, audit their provenance.

    Every command exits 0 when done and 2 when it could not run (bad input, missing path,
    unreachable registry: one line on stderr); `audit` exits 1 when it found violations.
    """
    ctx.obj = AppContext(db, debug)


def main() -> None:
    _spawn_as_module()
    cli(prog_name="corpus-registry")


def _spawn_as_module() -> None:
    """Have spawned workers start as they do under ``python -m corpus_registry.cli``: they then skip
    re-running the ``corpus-registry`` script, which would import the whole CLI (~40 MB) into every
    worker of a build or an ingest, all counted in ``--memory``."""
    main_module = sys.modules.get("__main__")
    if main_module is not None and getattr(main_module, "__spec__", None) is None:
        main_module.__spec__ = importlib.util.find_spec("corpus_registry.cli.__main__")


# Command modules register themselves on ``cli``.
from corpus_registry.cli import (  # noqa: E402,F401
    audit_cmds,
    browse_cmds,
    build_cmds,
    registry_cmds,
    review_cmds,
    sources_cmds,
    web_cmds,
)

