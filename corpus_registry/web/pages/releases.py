"""Releases: the list, one release (funnel, licence mix, per-document fates), the diff of two versions."""

from __future__ import annotations

from typing import Any

from corpus_registry.build import releases
from corpus_registry.web.http import Call, Result


def release_list(call: Call) -> Result:
    return Result({"releases": releases.list_releases(call.registry)}, "releases.html")


def _funnel_bars(funnel: list[dict[str, Any]]) -> list[dict[str, Any]]:
    top = max((s["docs_in"] for s in funnel), default=0) or 1
    return [{**s, "bar": round(600 * s["docs_out"] / top, 1)} for s in funnel]


def release(call: Call) -> Result:
    name, version = call.path["name"], call.path["version"]
    built = _built(call, name, version)

    def kept_mix() -> tuple[list[dict[str, Any]], str]:
        kept = call.web.caches.kept(f"license_mix:{name}:{version}:{built}",
                                    lambda: list(releases.license_mix(call.registry, name, version)))
        return kept[0], kept[1]

    summary = call.web.caches.memo(("summary", name, version, built),
                                   lambda: releases.release_summary(call.registry, name, version, license_mix=kept_mix))
    filters = {k: v for k, v in call.params.items() if k in releases.FateQuery.model_fields and v != ""}
    query = releases.FateQuery.model_validate(filters)
    page = releases.release_fates(call.registry, name, version, query)
    funnel = summary["funnel"]
    stages = [s["stage"] for s in funnel]
    reasons = sorted({r for s in funnel for r in s.get("reasons", {})})
    languages = sorted(funnel[0]["by_language"]) if funnel else []
    mix_total = sum(m["documents"] for m in summary["license_mix"]) or 1
    mix = [{**m, "bar": round(600 * m["documents"] / mix_total, 1)} for m in summary["license_mix"]]
    return Result({"release": {**summary, "funnel": _funnel_bars(funnel), "license_mix": mix},
                   "fates": page, "filters": query.filters(),
                   "choices": {"stages": stages, "reasons": reasons, "languages": languages}}, "release.html")


def _built(call: Call, name: str, version: str) -> str:
    """The build time of a release: a rebuilt version is a new cache key."""
    for row in releases.list_releases(call.registry):
        if row.name == name and row.version == version:
            return row.built
    return ""


def diff(call: Call) -> Result:
    name, version = call.path["name"], call.path["version"]
    against = call.params.get("against") or None
    change = call.params.get("change") or "added"
    after = call.params.get("after") or None
    if after is not None and not (after.isdigit() and len(after) < 19):
        raise ValueError("after: not a cursor of this list (use the `next` of the previous page)")
    built = _built(call, name, version)
    others = {r.version: r.built for r in releases.list_releases(call.registry) if r.name == name}
    counts = call.web.caches.kept(f"diff:{name}:{version}:{built}:{against}:{others.get(against or '')}",
                                  lambda: releases.diff_counts(call.registry, name, version, against=against))
    listing = releases.diff_releases(call.registry, name, version, against=against, change=change,
                                     after=int(after) if after else None)
    return Result({"counts": counts, **listing}, "diff.html")
