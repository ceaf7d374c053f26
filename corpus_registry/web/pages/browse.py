"""Reading the registry: home, sources (with facets), a source, documents, a document, search."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from corpus_registry.build import releases
from corpus_registry.registry import browse, decisions, lookup
from corpus_registry.registry.search import MAX_TERMS, search_documents, terms
from corpus_registry.web import contributions
from corpus_registry.web.caches import FACETS, source_table
from corpus_registry.web.http import Call, HTTPProblem, Result


def _page_args(call: Call, *, numeric: bool = True) -> tuple[Any, int]:
    after = call.params.get("after") or None
    if after is not None and numeric and not (after.isdigit() and len(after) < 19):
        raise ValueError("after: not a cursor of this list (use the `next` of the previous page)")
    try:
        limit = int(call.params.get("limit") or 50)
    except ValueError as e:
        raise ValueError("limit: not a number") from e
    if not 1 <= limit <= browse.MAX_PAGE:
        raise ValueError(f"limit: must be between 1 and {browse.MAX_PAGE}")
    return (int(after) if numeric and after is not None else after), limit


def home(call: Call) -> Result:
    table = _source_table(call, {})
    latest = sorted(releases.list_releases(call.registry), key=lambda r: r.built, reverse=True)[:10]
    data: dict[str, Any] = {"totals": table["totals"], "releases": latest, "sources": table["sources"][:20]}
    if call.visitor.can("review", call.web.settings):
        data["pending"] = contributions.pending_counts(call.registry)
    return Result(data, "home.html")


def sources(call: Call) -> Result:
    selected = {facet: call.params.get(facet, "").strip()[:512] for facet in FACETS}
    return Result(_source_table(call, selected), "sources.html")


def _source_table(call: Call, selected: dict[str, str]) -> dict[str, Any]:
    """The sources table for these facets, computed once per facet choice and registry state."""
    counts = call.web.caches.counts()
    key = ("sources", tuple(counts.fingerprint), counts.computed, tuple(sorted(selected.items())))
    table = call.web.caches.memo(key, lambda: source_table(
        counts.rows, browse.list_source_summaries(call.registry), selected), size=256)
    return {**table, "counted": dt.datetime.fromtimestamp(counts.computed, dt.timezone.utc).isoformat(
        timespec="seconds")}


def source(call: Call) -> Result:
    slug = call.path["slug"]
    record = browse.source_record(call.registry, slug)
    record["decisions"] = [d.as_dict() for d in decisions.history(call.registry, source=slug)]
    counts = call.web.caches.counts()
    languages: dict[str, list[int]] = {}
    for row in counts.rows:
        if row.source == slug:
            entry = languages.setdefault(row.language, [0, 0])
            entry[0] += row.documents
            entry[1] += row.words
    after, limit = _page_args(call, numeric=False)
    page = browse.list_documents(call.registry, browse.DocumentQuery(source=slug, after=after, limit=limit))
    record["languages"] = [{"language": k, "documents": d, "words": w}
                           for k, (d, w) in sorted(languages.items(), key=lambda kv: -kv[1][0])]
    record["documents"] = page
    built = tuple((r.name, r.version, r.built) for r in releases.list_releases(call.registry))
    record["releases"] = call.web.caches.memo(  # a scan of the releases' fates: once per set of builds
        ("containing", slug, built, tuple(call.web.caches.counts().fingerprint)),
        lambda: releases.releases_containing(call.registry, source=slug), size=256)
    return Result({"source": record}, "source.html")


def documents(call: Call) -> Result:
    filters = {k: v for k, v in call.params.items() if k in browse.DocumentQuery.model_fields and v != ""}
    query = browse.DocumentQuery.model_validate(filters)
    page = browse.list_documents(call.registry, query)
    return Result({"filters": query.filters(), "page": page,
                   "tiers": ["public_domain", "attribution", "share_alike", "review", "rejected"]},
                  "documents.html")


def document(call: Call) -> Result:
    source_slug, identifier = call.path["source"], call.path["identifier"]
    doc = lookup.exact_document(call.registry, source=source_slug, identifier=identifier)
    record = lookup.record(call.registry, doc, with_text=False)
    record["fates"] = releases.document_fates(call.registry, source=source_slug, identifier=identifier)
    kept = {(f.release, f.version) for f in record["fates"] if f.status == "kept"}
    record["releases_containing"] = [r for r in releases.list_releases(call.registry) if (r.name, r.version) in kept]
    if call.visitor.can("review", call.web.settings):
        record["takedowns"] = contributions.takedowns(call.registry, source=source_slug, identifier=identifier)
    return Result({"document": record}, "document.html")


def text(call: Call) -> Response:
    doc = lookup.exact_document(call.registry, source=call.path["source"], identifier=call.path["identifier"])
    record = lookup.record(call.registry, doc, with_text=True)
    if record.get("text") is None:
        raise HTTPProblem(404, "the text of this document is not in the document store")
    return Response(record["text"], media_type="text/plain; charset=utf-8")


def search(call: Call) -> Result:
    q = (call.params.get("q") or "")[:512]
    after, limit = _page_args(call)
    page = search_documents(call.registry, query=q, after=after, limit=limit)
    return Result({"q": q, "terms": terms(q), "max_terms": MAX_TERMS, "page": page}, "search.html")
