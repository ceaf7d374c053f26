"""``sources sync`` and ``sources list``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from corpus_registry.cli import AppContext, cli, echo_json, json_option, pass_app, say
from corpus_registry.registry import sources as api
from corpus_registry.terminal import one_line


@cli.group()
def sources() -> None:
    """Register sources from a catalogue (sources.yaml) and list them."""


@sources.command("sync")
@click.argument("catalogue", type=click.Path(dir_okay=False, path_type=Path), default="sources.yaml")
@json_option
@pass_app
def sync(app: AppContext, catalogue: Path, as_json: bool) -> None:
    """Validate CATALOGUE (default sources.yaml) and add or update its sources.

    Nothing is written unless the whole file is valid.
    """
    result = api.sync_sources(app.registry(), catalogue_path=catalogue)
    if as_json:
        echo_json(asdict(result))
        return
    say(f"{len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged")
    for slug in result.added:
        say(f"  + {slug}")
    for slug in result.updated:
        say(f"  ~ {slug}")


@sources.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List registered sources with their licence tier and document count."""
    rows = api.list_sources(app.registry())
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    if not rows:
        say("No sources registered yet: run `corpus-registry sources sync sources.yaml`.")
        return
    w = max(len(r.slug) for r in rows)
    say(f"{'SOURCE':<{w}}  {'COLLECTION':<15} {'TIER':<13} {'DOCS':>6}  LICENCE")
    for r in rows:
        say(f"{one_line(r.slug):<{w}}  {r.collection:<15} {r.license_tier:<13} {r.documents:>6}  {one_line(r.license)}")
