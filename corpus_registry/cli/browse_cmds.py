"""``documents list``, ``explain`` and ``releases list | show | diff``: what the web pages show, for scripts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click
from pydantic import ValidationError

from corpus_registry.build import releases as api
from corpus_registry.cli import AppContext, cli, echo_json, json_option, pass_app, say
from corpus_registry.registry import browse, lookup
from corpus_registry.registry.licences import Tier
from corpus_registry.registry.search import search_documents
from corpus_registry.terminal import one_line


@cli.group()
def documents() -> None:
    """List the registry's documents, filtered, a page at a time."""


@documents.command("list")
@click.option("--source", metavar="SLUG", help="Only this source's documents (ordered by identifier).")
@click.option("--language", metavar="CODE", help="Only documents in this language (e.g. fr).")
@click.option("--tier", type=click.Choice([t.value for t in Tier]), help="Only documents of this licence tier.")
@click.option("--license", "license_", metavar="SPDX", help="Only documents under this licence expression.")
@click.option("--status", type=click.Choice(["active", "withdrawn"]), help="Only active or withdrawn documents.")
@click.option("--search", "query", metavar="WORDS",
              help="Full-text search on identifier, title and creator (every word, as a prefix); "
                   "the other filters do not apply.")
@click.option("--limit", type=click.IntRange(1, browse.MAX_PAGE), default=50, show_default=True,
              help="Documents per page.")
@click.option("--after", metavar="CURSOR", help="Start after this cursor (printed at the end of the previous page).")
@json_option
@pass_app
def documents_list(app: AppContext, source: str | None, language: str | None, tier: str | None,
                   license_: str | None, status: str | None, query: str | None, limit: int, after: str | None,
                   as_json: bool) -> None:
    """One page of current documents, with their licence, tier, status and words.

    The last line names the cursor of the next page (--after); a million documents page as fast as ten.
    """
    registry = app.registry()
    if query is not None:
        if after is not None and not after.isdigit():
            raise click.BadParameter("a search cursor is a number", param_hint="--after")
        page = search_documents(registry, query=query, after=int(after) if after else None, limit=limit)
    else:
        try:
            q = browse.DocumentQuery(source=source, language=language, license_tier=tier,  # type: ignore[arg-type]
                                     license=license_, status=status, after=after, limit=limit)
        except ValidationError as e:
            raise click.BadParameter(e.errors()[0]["msg"].removeprefix("Value error, ")) from e
        page = browse.list_documents(registry, q)
    if as_json:
        echo_json(page.as_dict())
        return
    if not page.items:
        say("No documents match.")
        return
    w = min(60, max(len(one_line(f"{d.source}/{d.identifier}")) for d in page.items))
    say(f"{'DOCUMENT':<{w}}  {'LANG':<5} {'TIER':<13} {'STATUS':<9} {'WORDS':>8}  LICENCE")
    for d in page.items:
        say(f"{one_line(d.source + '/' + d.identifier):<{w}}  {d.language:<5} {d.license_tier:<13} {d.status:<9} "
            f"{d.word_count:>8,}  {one_line(d.license)}")
    if page.next:
        say(f"\nnext page: --after {one_line(page.next)}")


def _fate_line(f: api.Fate) -> str:
    where = f"{f.release}@{f.version}"
    if f.status == "kept":
        return f"{where}: kept (version {f.document_version})"
    line = f"{where}: dropped at {f.stage}: {one_line(f.reason)}"
    if f.duplicate_of:
        line += f" — duplicates {one_line(f.duplicate_of['source'] + '/' + f.duplicate_of['identifier'])}"
        if f.similarity is not None:
            line += f" (similarity {f.similarity})"
    return line


@cli.command()
@click.argument("ref", metavar="IDENTIFIER")
@click.option("--release", "release_ref", metavar="NAME@VERSION", help="Only this release.")
@json_option
@pass_app
def explain(app: AppContext, ref: str, release_ref: str | None, as_json: bool) -> None:
    """Why a document is or is not in each release: kept, or the stage that dropped it, the reason
    and the document it duplicates (IDENTIFIER, SOURCE/IDENTIFIER or sha256 prefix)."""
    registry = app.registry()
    doc = lookup.find_document(registry, ref)
    release = api.parse_ref(release_ref) if release_ref else None
    slug = lookup.record(registry, doc, with_text=False)["source"]
    fates = api.document_fates(registry, source=slug, identifier=doc.identifier, release=release)
    if as_json:
        echo_json({"source": slug, "identifier": doc.identifier, "status": doc.status, "license": doc.license,
                   "license_tier": doc.license_tier, "fates": [asdict(f) for f in fates]})
        return
    say(f"{one_line(slug + '/' + doc.identifier)} ({one_line(doc.license)}, {doc.license_tier}, {doc.status})")
    if not fates:
        say("  in no built release" + (f" named {release_ref}" if release_ref else ""))
    for f in fates:
        say("  " + _fate_line(f))


@cli.group("releases")
def releases_group() -> None:
    """The built releases: list them, show one, compare two versions."""


@releases_group.command("list")
@json_option
@pass_app
def releases_list(app: AppContext, as_json: bool) -> None:
    """Every built release with its counts and where it was pushed."""
    rows = api.list_releases(app.registry())
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    if not rows:
        say("No release built yet: `corpus-registry build SPEC.yaml --out DIR`.")
        return
    w = max(len(r.ref) for r in rows)
    say(f"{'RELEASE':<{w}}  {'BUILT':<19} {'CANDIDATES':>10} {'KEPT':>9}  PUSHED")
    for r in rows:
        pushed = f"{r.hub_repo}@{r.hub_tag}" if r.hub_repo else "-"
        say(f"{r.ref:<{w}}  {r.built:<19} {r.candidates:>10,} {r.kept:>9,}  {pushed}")


@releases_group.command("show")
@click.argument("ref", metavar="NAME@VERSION")
@json_option
@pass_app
def releases_show(app: AppContext, ref: str, as_json: bool) -> None:
    """A release's counts, funnel (with the reasons of every drop) and licence mix."""
    name, version = api.parse_ref(ref)
    data = api.release_summary(app.registry(), name, version)
    if as_json:
        echo_json(data)
        return
    say(f"{name}@{version}: {data['kept']:,} of {data['candidates']:,} candidates kept, "
               f"{data['kept_words']:,} words (built {data['built']})")
    if data["hub_repo"]:
        say(f"pushed to {data['hub_repo']} tag {data['hub_tag']} commit {data['hub_commit']}")
    say(f"registry state {data['registry_state']}")
    if data["previous_version"]:
        say(f"previous version {data['previous_version']} "
                   f"(`corpus-registry releases diff {ref}`)")
    say(f"\n{'STAGE':<24} {'IN':>9} {'OUT':>9}  DROPPED BECAUSE")
    for s in data["funnel"]:
        reasons = ", ".join(f"{r} {n:,}" for r, n in s.get("reasons", {}).items())
        say(f"{s['stage']:<24} {s['docs_in']:>9,} {s['docs_out']:>9,}  {reasons}")
    say(f"\nLicence mix ({data['license_mix_from']}):")
    for m in data["license_mix"]:
        say(f"  {m['license']:<24} {m['tier']:<14} {m['documents']:>9,} docs {m['words']:>12,} words")


@releases_group.command("diff")
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--against", metavar="VERSION", help="The version to compare with (default: the previous one).")
@click.option("--change", type=click.Choice(["added", "removed"]), default=None,
              help="List the documents of this change (default: counts only, and both lists' first page).")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="Documents listed.")
@click.option("--after", type=click.IntRange(min=0), help="Start the list after this cursor.")
@json_option
@pass_app
def releases_diff(app: AppContext, ref: str, against: str | None, change: str | None, limit: int,
                  after: int | None, as_json: bool) -> None:
    """Documents added to and removed from a release since a version, and why (their fate on the
    other side, or not a candidate there); matched by source and identifier."""
    name, version = api.parse_ref(ref)
    registry = app.registry()
    counts = api.diff_counts(registry, name, version, against=against)
    if counts["against"] is None:
        if as_json:
            echo_json(counts)
        else:
            say(f"{ref} is the first version of {name}: nothing to compare with.")
        return
    changes = [change] if change else ["added", "removed"]
    lists: dict[str, Any] = {c: api.diff_releases(registry, name, version, against=counts["against"], change=c,
                                                  after=after, limit=limit)["page"] for c in changes}
    if as_json:
        echo_json({**counts, "lists": lists})
        return
    say(f"{name} {version} against {counts['against']}:")
    for c in ("added", "removed"):
        say(f"  {c}: {counts[c]['documents']:,}")
        for g in counts[c]["why"]:
            why = "not a candidate" if g["status"] is None else f"{g['status']} at {g['stage']} ({g['reason']})"
            say(f"    {g['documents']:>8,}  {why}")
    for c, page in lists.items():
        if page["items"]:
            say(f"\n{c}:")
        for item in page["items"]:
            why = ("not a candidate" if item["other_status"] is None
                   else f"{item['other_status']} at {item['other_stage']}: {item['other_reason']}")
            say(f"  {one_line(item['source'] + '/' + item['identifier'])}  ({one_line(why)})")
        if page["next"]:
            say(f"  next page: --change {c} --after {page['next']}")
