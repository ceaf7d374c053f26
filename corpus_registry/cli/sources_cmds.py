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
@click.option("--by", metavar="NAME",
              help="Who makes the licence decisions this sync records [env CORPUS_REGISTRY_REVIEWER; "
                   "default: your login name].")
@json_option
@pass_app
def sync(app: AppContext, catalogue: Path, by: str | None, as_json: bool) -> None:
    """Validate CATALOGUE (default sources.yaml) and add or update its sources.

    Nothing is written unless the whole file is valid. A changed licence or review: line (of a
    source or a document override) is recorded as a licence decision and takes effect at the
    next build.
    """
    result = api.sync_sources(app.registry(), catalogue_path=catalogue, by=by)
    if as_json:
        echo_json({**asdict(result), "decisions": [d.as_dict() for d in result.decisions]})
        return
    say(f"{len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged")
    for slug in result.added:
        say(f"  + {slug}")
    for slug in result.updated:
        say(f"  ~ {slug}")
    changes = [d for d in result.decisions if d.action != "register" or d.identifier is not None]
    if changes:
        say("Licence decisions recorded:")
        for d in changes:
            say(f"  {one_line(d.summary())}")


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
