"""``build``, ``push`` and ``pushes``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from corpus_registry.cli import AppContext, cli, echo_json, executor_options, json_option, pass_app, say
from corpus_registry.outputs import check_file, write_file
from corpus_registry.terminal import one_line


@cli.command()
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the release into: new, empty, or a release folder a build wrote (then "
                   "replaced once the new release is complete). Never a folder holding other files, nor the "
                   "folder of another pushed release.")
@click.option("--format", "formats", type=click.Choice(["parquet", "dolma"]), multiple=True,
              help="Output formats (repeatable; default: the spec's output.formats). Parquet is always "
                   "written; dolma adds the same rows in dolma's layout under dolma/documents/.")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
@click.option("--memory", metavar="SIZE",
              help="Memory budget of the build and its workers, e.g. 1GB or 512MiB: the candidates' text "
                   "fields and near dedup's signatures and LSH buckets then wait in files in a scratch folder "
                   "beside --out (deleted when done), tasks and caches are cut to the budget and idle workers let "
                   "go between phases; same output. "
                   "Default: no budget, everything in memory.")
@executor_options
@json_option
@pass_app
def build(app: AppContext, spec_path: Path, out_dir: Path, formats: tuple[str, ...], no_progress: bool,
          memory: str | None, workers: int, executor: str, ray_address: str | None, as_json: bool) -> None:
    """Build the release described by SPEC.yaml from the registry into --out.

    Writes Parquet shards (one config per language, share-alike apart), a dataset card, an
    attribution file, croissant.json, removed.parquet (every candidate not kept, and why), a
    funnel chart and a manifest listing every file with its sha256; records every document's
    fate. The release is written beside --out and moved into place at the end: a failed or refused
    build (a pushed version rebuilt differently) leaves --out as it was, and --out is checked
    before the work starts.
    """
    from corpus_registry.executors.worker_memory import skip_pandas_probe

    skip_pandas_probe()  # a build hands pyarrow no pandas object: its check need not import pandas (~35 MB)
    from corpus_registry.build.builder import build_release
    from corpus_registry.build.memory import parse_memory
    from corpus_registry.build.spec import load_spec, with_formats
    from corpus_registry.executors import get_executor

    budget = parse_memory(memory) if memory is not None else None
    spec = load_spec(spec_path)
    if formats:
        spec = with_formats(spec, list(formats))
    registry = app.registry()
    ex = get_executor(executor, workers=workers, ray_address=ray_address)
    try:
        result = build_release(registry, spec, out_dir=out_dir, progress=not no_progress, executor=ex,
                               memory=budget)
    finally:
        ex.close()
    if as_json:
        echo_json({"name": result.name, "version": result.version, "out_dir": str(result.out_dir),
                   "rows": result.rows, "registry_state": result.registry_state,
                   "manifest_sha256": result.manifest_sha256, "files": result.files,
                   "funnel": result.funnel.as_dict()["stages"], "seconds": round(result.seconds, 3),
                   "timings": result.timings})
        return
    say(f"Built {result.name} {result.version}: {result.rows:,} documents in {result.out_dir} "
        f"({result.seconds:.1f} s)\n")
    say(result.funnel.table())
    if result.funnel.tokens is not None:
        per_language = ", ".join(f"{lang} {n:,}" for lang, n in result.funnel.tokens.items())
        say(f"\n{sum(result.funnel.tokens.values()):,} tokens kept ({per_language})")
    say(f"\nregistry state {result.registry_state[:16]}…, manifest sha256 {result.manifest_sha256[:16]}…")


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repo", "repo_id", required=True, metavar="OWNER/NAME", help="Hub dataset repository.")
@click.option("--token", envvar="HF_TOKEN", help="Hub token [env HF_TOKEN; default: your `hf auth login`].")
@click.option("--endpoint", envvar="HF_ENDPOINT", help="Hub URL [env HF_ENDPOINT; default https://huggingface.co].")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--dry-run", is_flag=True, help="List what would be sent; send nothing.")
@json_option
@pass_app
def push(app: AppContext, folder: Path, repo_id: str, token: str | None, endpoint: str | None,
         private: bool, dry_run: bool, as_json: bool) -> None:
    """Push a built release FOLDER to the Hub as one commit, tagged with its version.

    Sends exactly the release's files (those its manifest lists, each checked against its
    sha256; other files in the folder are never sent), and only if the manifest is the one this
    registry recorded for the release. Re-pushing an unchanged release is a no-op; a new version
    is a new commit and tag. Every push is kept in the release's history (`pushes`).
    """
    from corpus_registry.build import publish

    result = publish.push(app.registry(), folder, repo_id=repo_id, token=token, endpoint=endpoint,
                          private=private, dry_run=dry_run)
    if as_json:
        echo_json(json.loads(json.dumps(result.__dict__ if hasattr(result, "__dict__") else
                                        {k: getattr(result, k) for k in result.__dataclass_fields__},
                                        default=str)))
        return
    if result.ignored:
        say(f"Not part of the release, not sent: {', '.join(map(one_line, result.ignored[:5]))}"
            + (f" and {len(result.ignored) - 5} more" if len(result.ignored) > 5 else ""), err=True)
    if result.dry_run:
        say(f"Dry run: would push {len(result.files)} files to {result.repo_id} as tag {result.tag}:")
        for f in result.files:
            say(f"  {f}")
    elif result.noop:
        say(f"{result.repo_id}@{result.tag} already holds this release: nothing to push.")
    else:
        say(f"Pushed {result.repo_id} commit {result.commit} tagged {result.tag}: {result.url}")


@cli.command()
@click.argument("name", metavar="RELEASE")
@click.argument("version", required=False)
@json_option
@pass_app
def pushes(app: AppContext, name: str, version: str | None, as_json: bool) -> None:
    """Every push of RELEASE (of one VERSION, or all), oldest first: repo, tag, commit, when.

    The history is append-only: a push record is never changed or deleted.
    """
    from corpus_registry.build.publish import push_history

    rows = push_history(app.registry(), name=name, version=version)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        say(f"No push of {one_line(name)}{' ' + one_line(version) if version else ''} recorded.")
        return
    for r in rows:
        what = "already there (no-op)" if r["noop"] else f"commit {r['commit']}"
        say(f"{r['pushed_at']}  {one_line(r['name'])} {one_line(r['version'])} -> {one_line(r['repo_id'])}@"
            f"{one_line(r['tag'])} {what} ({r['files']} files, {r['endpoint'] or 'endpoint not recorded'})")



@cli.command()
@click.argument("releases", metavar="RELEASE...", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True,
              help="Markdown on the template's sections, or JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of the terminal.")
@pass_app
def summary(app: AppContext, releases: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """The EU AI Act public summary of training content for the RELEASE folders.

    Follows the AI Office's template (24 July 2025): 1 general information, 2 list of data
    sources, 3 data processing aspects. Figures come from the releases' manifests and the
    registry; several releases are summarised together. Fields only a model provider can fill
    (provider, model, other training data) are marked as theirs.
    """
    from corpus_registry.build.summary import render_summary, training_summary

    if output is not None:
        check_file(output, what="summary")  # before the work: an unwritable path fails now
    text = render_summary(training_summary(app.registry(), list(releases)), fmt=fmt)
    if output is None:
        say(text, nl=False)
        return
    write_file(output, text)
    say(f"Wrote the training-content summary of {len(releases)} release(s) to {output}")
