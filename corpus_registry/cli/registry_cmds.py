"""``init``, ``ingest``, ``stats``, ``show`` and ``demo``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from corpus_registry.cli import (
    EXIT_VIOLATIONS,
    AppContext,
    cli,
    echo_json,
    executor_options,
    json_option,
    pass_app,
    say,
)
from corpus_registry.errors import StoreError
from corpus_registry.registry import lookup
from corpus_registry.registry import sources as sources_api
from corpus_registry.registry.catalogue import bundled_sample
from corpus_registry.registry.decisions import describe
from corpus_registry.registry.ingest import ingest as run_ingest
from corpus_registry.registry.langid import BACKENDS, DEFAULT_BACKEND, backend_name
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.verify import active_sources, describe_damage, repair_source, verify_store
from corpus_registry.terminal import mask, one_line


@cli.command()
@click.option("--store", metavar="PATH|URL",
              help="Document store for texts (folder or fsspec URL). Default: beside a SQLite "
                   "registry, or ./.corpus-registry/store.")
@pass_app
def init(app: AppContext, store: str | None) -> None:
    """Create the registry database, or upgrade it to the latest schema."""
    registry = app.registry(check=False)
    registry.init(store=store)
    say(f"Registry ready at {registry.display_url} (document store: {mask(registry.store.url)})")


@cli.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--langid", type=click.Choice(sorted(BACKENDS)), default=None,
              help=f"Language identification backend (default: {DEFAULT_BACKEND}, chosen by measurement).")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
@click.option("--repair", is_flag=True,
              help="Only rewrite the texts of these sources that are missing or damaged in the document "
                   "store (see `verify`), read again from the source; nothing else changes.")
@click.option("--break-lock", is_flag=True,
              help="Clear the lock of an ingest of the same source whose process is gone (e.g. on another "
                   "machine) before starting. Dead processes on this machine are noticed without it.")
@executor_options
@json_option
@pass_app
def ingest(app: AppContext, sources: tuple[str, ...], langid: str | None, no_progress: bool, repair: bool,
           break_lock: bool, workers: int, executor: str, ray_address: str | None, as_json: bool) -> None:
    """Ingest the named SOURCEs (default: all registered sources).

    Idempotent: unchanged documents are skipped, changed texts become new versions. An
    interrupted ingest keeps what it committed; run it again to resume. Identifiers are checked
    for duplicates before anything is written; one ingest per source runs at a time. With
    --repair, texts the store lost or damaged are rewritten from the source (exit 2 if some
    cannot be). With --executor ray, each source's files, runs of lines or row groups become Ray
    tasks that commit their own batches (a task that dies is retried, nothing is written twice);
    the registry ends up the same.
    """
    if repair:
        _repair(app.registry(), sources, progress=not no_progress, as_json=as_json)
        return
    if executor == "ray":
        from corpus_registry.registry.ray_ingest import ray_ingest

        results = ray_ingest(app.registry(), list(sources), langid=langid, address=ray_address,
                             workers=workers, progress=not no_progress, break_lock=break_lock)
    else:
        results = run_ingest(app.registry(), list(sources), langid=backend_name(langid),
                             progress=not no_progress, workers=workers, break_lock=break_lock)
    if as_json:
        echo_json([asdict(r) | {"docs_per_s": r.docs_per_s} for r in results])
        return
    for r in results:
        say(f"{r.source}: {r.seen} documents read, {r.added} added, {r.updated} new versions, "
            f"{r.unchanged} unchanged ({r.bytes / 1e6:.1f} MB, {r.docs_per_s:.0f} docs/s)")
        notes = _skip_notes(r.skipped)
        if notes:
            say(f"{r.source}: " + "; ".join(notes))


_SKIPS = {  # reader counter -> (singular, plural)
    "skipped_binary": ("binary file skipped (not text)", "binary files skipped (not text)"),
    "skipped_symlink_outside": ("symlink leading outside the source skipped",
                                "symlinks leading outside the source skipped"),
    "skipped_empty": ("empty document skipped", "empty documents skipped"),
    "replaced_bytes": ("invalid UTF-8 sequence replaced by U+FFFD", "invalid UTF-8 sequences replaced by U+FFFD"),
}


def _skip_notes(skipped: dict[str, int]) -> list[str]:
    notes = []
    for key, n in sorted(skipped.items()):
        if key == "files_with_replaced_bytes" or not n:
            continue
        one, many = _SKIPS.get(key, (key.replace("_", " "), key.replace("_", " ")))
        note = f"{n} {one if n == 1 else many}"
        if key == "replaced_bytes":
            files = skipped.get("files_with_replaced_bytes", 0)
            note += f" in {files} file{'s' if files != 1 else ''}"
        notes.append(note)
    return notes


def _repair(registry: Registry, sources: tuple[str, ...], *, progress: bool, as_json: bool) -> None:
    slugs = list(sources) or active_sources(registry)
    reports = [repair_source(registry, slug, progress=progress) for slug in slugs]
    unrepaired = [d for r in reports for d in r.unrepaired]
    if as_json:
        echo_json([asdict(r) for r in reports])
    else:
        for r in reports:
            say(f"{r.source}: {r.damaged} damaged or missing text(s), {r.repaired} rewritten from the source"
                + (f", {len(r.unrepaired)} not found in it" if r.unrepaired else ""))
        for line in describe_damage(unrepaired)[:50]:
            say(f"  not repaired: {one_line(line)}")
    if unrepaired:
        raise StoreError(f"{len(unrepaired)} damaged text(s) are no longer in their source and could not be "
                         "rewritten", hint="restore the store from a backup, or withdraw the documents named above")


def _print_stats(data: dict[str, Any]) -> None:
    t = data["totals"]
    say(f"Registry {data['registry']}: {t['documents']} documents, {t['words']:,} words, "
        f"{t['bytes'] / 1e6:.1f} MB ({t['withdrawn']} withdrawn)")
    rows = data["by_source"]
    if not rows:
        return
    w = max(len(r["slug"]) for r in rows)
    say(f"\n{'SOURCE':<{w}}  {'DOCS':>5} {'WORDS':>10}  {'LICENCE':<12} {'TIERS':<28} LANGUAGES")
    for r in rows:
        langs = " ".join(one_line(x) for x in r["languages"][:6]) + (" …" if len(r["languages"]) > 6 else "")
        say(f"{one_line(r['slug']):<{w}}  {r['documents']:>5} {r['words']:>10,}  {one_line(r['license']):<12} "
            f"{' '.join(r['tiers']):<28} {langs}")
    say("\nBy licence tier: " + ", ".join(
        f"{r['license_tier']} {r['documents']} docs / {r['words']:,} words" for r in data["by_license_tier"]))
    say("By language: " + ", ".join(f"{one_line(r['language'])} {r['documents']}" for r in data["by_language"]))


@cli.command()
@json_option
@pass_app
def stats(app: AppContext, as_json: bool) -> None:
    """Documents, words and bytes per source, language and licence tier."""
    data = lookup.stats(app.registry())
    if as_json:
        echo_json(data)
    else:
        _print_stats(data)


@cli.command()
@click.argument("ref", metavar="IDENTIFIER")
@click.option("--no-text", is_flag=True, help="Only the provenance record.")
@json_option
@pass_app
def show(app: AppContext, ref: str, no_text: bool, as_json: bool) -> None:
    """A document's provenance record and text (IDENTIFIER, SOURCE/IDENTIFIER or sha256 prefix)."""
    record = lookup.show(app.registry(), ref, with_text=not no_text)
    if as_json:
        echo_json(record)
        return
    text = record.pop("text", None)
    history = record.pop("decisions", [])
    for key, value in record.items():
        if value not in (None, [], {}):
            say(f"{key + ':':<16} {one_line(value)}")
    if history:
        say("licence decisions (oldest first):")
        for d in history:
            say(f"  {one_line(describe(d))}")
    if text is not None:
        say("\n" + text)


VERIFY_EXIT = ("Exit status: 0 every text reads back as registered; 1 missing or damaged texts found (listed); "
               "2 could not run (a one-line error on stderr, --debug for the traceback).")


@cli.command(epilog=VERIFY_EXIT)
@click.option("--source", metavar="SOURCE", help="Only the texts of this source's documents.")
@click.option("--no-progress", is_flag=True, help="Do not draw a progress bar.")
@json_option
@pass_app
def verify(app: AppContext, source: str | None, no_progress: bool, as_json: bool) -> None:
    """Check the document store: every text a document refers to is read back and hashed.

    Lists each document whose text is missing or damaged (a deleted, truncated or edited store
    shard); `ingest --repair SOURCE` rewrites them from the source.
    """
    report = verify_store(app.registry(), source=source, progress=not no_progress)
    if as_json:
        echo_json({**asdict(report), "clean": report.clean})
    else:
        lines = describe_damage(report.damaged)
        for line in lines[:200]:
            say(f"DAMAGED {one_line(line)}")
        if len(lines) > 200:
            say(f"… and {len(lines) - 200} more (--json lists all)")
        sources = sorted({doc.split("/", 1)[0] for d in report.damaged for doc in d.documents})
        say(f"Store {mask(report.store)}: {report.texts:,} texts in {report.shards:,} shards checked, "
            f"{len(report.damaged):,} missing or damaged"
            + (f"; repair with `corpus-registry ingest --repair {' '.join(sources)}`" if sources else ""))
    if not report.clean:
        click.get_current_context().exit(EXIT_VIOLATIONS)


@cli.command()
@click.option("--catalogue", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The sources catalogue to register. Default: ./sources.yaml if there is one, else the "
                   "sample bundled with corpus-registry.")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
@pass_app
def demo(app: AppContext, catalogue: Path | None, no_progress: bool) -> None:
    """Initialise the registry, register and ingest the bundled sample sources, print a summary."""
    specs = Path("specs")
    if catalogue is None:
        catalogue = Path("sources.yaml")
        if not catalogue.is_file():
            sample = bundled_sample()
            catalogue, specs = sample / "sources.yaml", sample / "specs"
    registry = app.registry(check=False)
    registry.init()
    say(f"Registry: {registry.display_url}")
    say(f"Catalogue: {catalogue}")
    result = sources_api.sync_sources(registry, catalogue_path=catalogue)
    say(f"Sources: {len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged")
    for r in run_ingest(registry, progress=not no_progress):
        say(f"  ingested {r.source}: {r.seen} documents ({r.added} new, {r.unchanged} unchanged)")
    say()
    _print_stats(lookup.stats(registry))
    say("\nNext: `corpus-registry show pg800` (a book's provenance and text), "
        f"`corpus-registry build {specs / 'fr.yaml'} --out out/fr` (the French slice), "
        "`corpus-registry audit out/fr`.")
