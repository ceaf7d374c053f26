"""The public summary of training content (EU AI Act, Art. 53(1)(d)) for the text that one or more
releases hold, on the AI Office's template (Explanatory Notice and Template, 24 July 2025): its
three sections, 1 general information, 2 list of data sources, 3 data processing aspects.

Every figure comes from the releases' manifests (documents, words, bytes, languages, sources,
licences, the funnel) and from the registry (withdrawals, licence reviews, whether it recorded
each release). What only a model provider knows (who they are, the model, when it was placed on
the market, any other training data) is marked as theirs to fill. Several releases are summarised
together: their figures add up, as training on all of them would.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from corpus_registry.build.markdown import Md, render
from corpus_registry.build.release import MANIFEST, REMOVED, read_manifest, sha256_file
from corpus_registry.errors import BuildError
from corpus_registry.registry.db.models import Document, Release, Source, Withdrawal
from corpus_registry.registry.registry import Registry

TEMPLATE = ("Template for the Public Summary of Training Content for general-purpose AI models, "
            "Article 53(1)(d) of Regulation (EU) 2024/1689 (AI Office, 24 July 2025)")
PROVIDER = "to be completed by the model provider"
#: The template's size ranges for text, by the token count each one starts at.
TEXT_RANGES = [(0, "Less than 1 billion tokens"), (10**9, "1 billion to 10 trillion tokens"),
               (10**13, "More than 10 trillion tokens")]
#: A publicly available dataset above this share of the modality's data is listed individually.
LARGE_SHARE = 0.03
BYTES_PER_TOKEN = 4  # only to place a corpus of a billion bytes or more in a range, said as an estimate
CONTENT_TYPES = {
    "OpenCulture": "books and other cultural-heritage text in the public domain (fiction and non-fiction)",
    "OpenGovernment": "legal, administrative and other public-sector text",
    "OpenScience": "scientific text",
    "OpenWeb": "openly licensed web text",
    "OpenSource": "source code and software documentation",
    "OpenSemantic": "encyclopedic and semantic data",
}


def _provider(field: str) -> dict[str, Any]:
    return {"value": None, "filled_by": "model provider", "note": f"{field}: {PROVIDER}"}


def text_range(tokens: int) -> str:
    return next(label for start, label in reversed(TEXT_RANGES) if tokens >= start)


def _read(folder: Path) -> tuple[dict[str, Any], str]:
    if not (folder / MANIFEST).is_file():
        raise BuildError(f"{folder}: not a release folder (no {MANIFEST})",
                         hint="name folders written by `corpus-registry build`")
    try:
        manifest = read_manifest(folder)
    except (OSError, ValueError) as e:
        raise BuildError(f"{folder / MANIFEST}: unreadable ({e})",
                         hint="rebuild the release with `corpus-registry build`") from e
    missing = [k for k in _NEEDED if k not in manifest] if isinstance(manifest, dict) else ["name"]
    if missing:
        raise BuildError(f"{folder / MANIFEST}: not a release manifest (no {missing[0]!r})",
                         hint="rebuild the release with `corpus-registry build`")
    return manifest, sha256_file(folder / MANIFEST)


_NEEDED = ("name", "version", "spec", "registry_state", "counts", "license_mix", "languages", "sources")


def training_summary(registry: Registry, folders: list[Path]) -> dict[str, Any]:
    """The summary of the releases in ``folders`` as data (what ``--format json`` prints)."""
    if not folders:
        raise BuildError("no release to summarise", hint="name one or more release folders")
    releases: list[tuple[dict[str, Any], str]] = []
    for folder in folders:
        manifest, sha = _read(Path(folder))
        if any(m["name"] == manifest["name"] and m["version"] == manifest["version"] for m, _ in releases):
            raise BuildError(f"{folder}: release {manifest['name']} {manifest['version']} is named twice")
        releases.append((manifest, sha))
    manifests = [m for m, _ in releases]
    try:
        slugs = sorted({s["slug"] for m in manifests for s in m["sources"]})
        facts = _registry_facts(registry, releases, slugs)
        totals = _totals(manifests)
        return {
            "template": TEMPLATE,
            "scope": ("The training content these releases hold. A model provider adds the sections only they "
                      "can fill and any other training data; several releases add up as training on all of them."),
            "releases": facts["releases"],
            "1_general_information": _general(manifests, totals),
            "2_list_of_data_sources": _sources(manifests, totals),
            "3_data_processing_aspects": _processing(manifests, facts),
        }
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as e:
        names = ", ".join(str(Path(f) / MANIFEST) for f in folders)
        raise BuildError(f"{names}: not the manifest of a release this version builds ({type(e).__name__}: {e})",
                         hint="rebuild the release with this version of `corpus-registry build`") from e


def _totals(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    languages: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for m in manifests:
        kept = next(s for s in m["counts"]["funnel"] if s["stage"] == "kept")
        for lang, c in kept["by_language"].items():
            languages[lang][0] += c["docs_out"]
            languages[lang][1] += c["words_out"]
    bytes_ = [m["counts"].get("kept_bytes") for m in manifests]
    tokens = [m["counts"].get("kept_tokens") for m in manifests]
    return {
        "documents": sum(m["counts"]["kept"] for m in manifests),
        "words": sum(m["counts"]["kept_words"] for m in manifests),
        "bytes": sum(bytes_) if None not in bytes_ else None,  # type: ignore[arg-type]
        "tokens": sum(tokens) if None not in tokens else None,  # type: ignore[arg-type]
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1][1], kv[0]))),
    }


def _size(totals: dict[str, Any]) -> dict[str, Any]:
    """The template's range for the text: from the token count when the releases give one; else
    from the UTF-8 size, which bounds the tokens of any byte-level tokenizer from above."""
    if totals["tokens"] is not None:
        return {"range": text_range(totals["tokens"]), "tokens": totals["tokens"], "basis": "token counts"}
    if totals["bytes"] is None:
        return {"range": None, "basis": "unknown: the manifests give neither tokens nor bytes"}
    if totals["bytes"] < TEXT_RANGES[1][0]:
        return {"range": TEXT_RANGES[0][1], "tokens_at_most": totals["bytes"],
                "basis": "at most one token per UTF-8 byte"}
    estimate = totals["bytes"] // BYTES_PER_TOKEN
    return {"range": text_range(estimate), "tokens_estimated": estimate,
            "basis": f"estimated at {BYTES_PER_TOKEN} bytes per token"}


def _general(manifests: list[dict[str, Any]], totals: dict[str, Any]) -> dict[str, Any]:
    by_collection: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    dates = []
    for m in manifests:
        for s in m["sources"]:
            by_collection[s["collection"]][0] += s["documents"]
            by_collection[s["collection"]][1] += s.get("words", 0)
            if s.get("retrieved") or s.get("registered"):
                dates.append(s.get("retrieved") or s.get("registered"))
    words = totals["words"] or 1
    latest = max(dates) if dates else None
    return {
        "1.1_provider_identification": {
            "provider_name_and_contact_details": _provider("provider name and contact details"),
            "authorised_representative": _provider("authorised representative (providers established outside the Union)"),
        },
        "1.2_model_identification": {
            "versioned_model_names": _provider("versioned model name(s)"),
            "model_dependencies": _provider("model dependencies"),
            "date_of_placement_on_the_union_market": _provider("date of placement on the Union market"),
        },
        "1.3_modalities_size_and_characteristics": {
            "modalities": {
                "text": {
                    "present": True,
                    "training_data_size": _size(totals),
                    "documents": totals["documents"], "words": totals["words"], "bytes": totals["bytes"],
                    "types_of_content": [
                        {"collection": c, "content": CONTENT_TYPES.get(c, c), "documents": n, "words": w,
                         "share": round(w / words, 4)}
                        for c, (n, w) in sorted(by_collection.items(), key=lambda kv: (-kv[1][1], kv[0]))],
                },
                "image": {"present": False}, "audio": {"present": False}, "video": {"present": False},
                "other": {"present": False},
            },
            "latest_date_of_data_collection": (f"{latest[5:7]}/{latest[:4]}" if latest and len(latest) >= 7
                                               else latest),
            "continuous_training_on_data_collected_later": _provider("continuous training on data collected later"),
            "languages": [{"language": lang, "documents": n, "words": w, "share": round(w / words, 4)}
                          for lang, (n, w) in totals["languages"].items()],
            "other_characteristics": {"licences": _licences(manifests)},
        },
    }


def _licences(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    mix: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for m in manifests:
        for r in m["license_mix"]:
            mix[(r["license"], r["tier"])][0] += r["documents"]
            mix[(r["license"], r["tier"])][1] += r["words"]
    return [{"license": lic, "tier": tier, "documents": n, "words": w} for (lic, tier), (n, w) in sorted(mix.items())]


def _sources(manifests: list[dict[str, Any]], totals: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, dict[str, Any]] = {}
    for m in manifests:
        for s in m["sources"]:
            row = merged.setdefault(s["slug"], {k: s.get(k) for k in (
                "slug", "name", "origin_url", "collection", "license", "retrieved", "registered")}
                | {"documents": 0, "words": 0, "licences": set()})
            row["documents"] += s["documents"]
            row["words"] += s.get("words", 0)
            row["licences"].add(s["license"])
    words = totals["words"] or 1
    rows = []
    for row in sorted(merged.values(), key=lambda r: (-r["words"], r["slug"])):
        row["licences"] = sorted(row["licences"])
        row["share"] = round(row["words"] / words, 4)
        rows.append(row)
    public = [r for r in rows if r["origin_url"]]
    other = [r for r in rows if not r["origin_url"]]
    large = [r for r in public if r["words"] / words > LARGE_SHARE]
    small = [r for r in public if r["words"] / words <= LARGE_SHARE]
    none_known = "no: the registry records none in these releases"
    return {
        "2.1_publicly_available_datasets": {
            "used": bool(public), "modalities": ["text"] if public else [],
            "large_share_threshold": LARGE_SHARE,
            "large_datasets": large,
            "other_datasets": {"count": len(small), "documents": sum(r["documents"] for r in small),
                               "words": sum(r["words"] for r in small),
                               "share": round(sum(r["words"] for r in small) / words, 4),
                               "names": [r["name"] for r in small]},
        },
        "2.2_private_datasets_from_third_parties": {
            "2.2.1_commercially_licensed": {"used": none_known, "provider": _provider("other licensed datasets")},
            "2.2.2_other_third_parties": {"used": none_known, "provider": _provider("other private datasets")},
        },
        "2.3_crawled_and_scraped_data": {"used": "no: corpus-registry reads registered sources and crawls nothing",
                                         "provider": _provider("data crawled by or for the provider")},
        "2.4_user_data": {"used": none_known, "provider": _provider("user data")},
        "2.5_synthetic_data": {"used": none_known, "provider": _provider("synthetic data")},
        "2.6_other_sources": {"used": bool(other), "sources": other,
                              "provider": _provider("other training data")},
    }


def _processing(manifests: list[dict[str, Any]], facts: dict[str, Any]) -> dict[str, Any]:
    funnels = []
    for m in manifests:
        drops = [{"stage": s["stage"], "documents": s["docs_in"] - s["docs_out"],
                  "words": s["words_in"] - s["words_out"], "reasons": s["reasons"]}
                 for s in m["counts"]["funnel"] if s["stage"] not in ("selected", "kept")]
        funnels.append({"release": f"{m['name']} {m['version']}", "candidates": m["counts"]["candidates"],
                        "kept": m["counts"]["kept"], "removed": m.get("removed", {}).get("rows"),
                        "removed_file": REMOVED if m.get("removed") else None, "stages": drops})

    def dropped(stage: str) -> int:
        return sum(d["documents"] for f in funnels for d in f["stages"] if d["stage"] == stage)

    review = sum(d["reasons"].get("tier:review", 0) for f in funnels for d in f["stages"] if d["stage"] == "licence")
    return {
        "3.1_respect_of_reservations_of_rights": {
            "code_of_practice_signatory": _provider("signatory of the Code of Practice"),
            "licence_policy": [{"release": f"{m['name']} {m['version']}",
                                "licence_tiers": m["spec"]["select"]["license_tiers"],
                                "licences": m["spec"]["select"].get("licenses")} for m in manifests],
            "measures": ("Only documents whose licence the registry records (SPDX, per document) and classifies "
                         "as public domain or open enter a release; a document whose licence a person must "
                         "review, a rejected licence, or a licence label more permissive than its source's "
                         "(licence laundering) never does; withdrawals (opt-outs and takedown requests) are "
                         "honoured by every later build."),
            "left_out_pending_licence_review": review,
            "left_out_by_licence": dropped("licence"),
            "documents_under_review_in_the_registry": facts["under_review"],
            "withdrawals_recorded": facts["withdrawals"],
            "left_out_as_withdrawn": dropped("withdrawn"),
        },
        "3.2_removal_of_illegal_content": {
            "measures": ("Sources are chosen for their lawful, open licences; takedown requests are recorded as "
                         "withdrawals and leave every later release; no classifier for illegal content is run."),
            "provider": _provider("other measures of the provider"),
        },
        "3.3_other_information": {
            "removed_by_stage": {
                "licence": dropped("licence"), "withdrawn": dropped("withdrawn"), "language": dropped("language"),
                "filtered": sum(d["documents"] for f in funnels for d in f["stages"] if d["stage"].startswith("filter:")),
                "exact_duplicates": dropped("exact_dedup"), "near_duplicates": dropped("near_dedup"),
            },
            "funnels": funnels,
        },
    }


def _registry_facts(registry: Registry, releases: list[tuple[dict[str, Any], str]],
                    slugs: list[str]) -> dict[str, Any]:
    """What the registry adds: whether it built each release as it is, its withdrawals and the
    documents still under licence review in the releases' sources."""
    with registry.session() as s:
        out = []
        for manifest, sha in releases:
            rel = s.scalar(select(Release).where(Release.name == manifest["name"],
                                                 Release.version == manifest["version"]))
            recorded = "not recorded in this registry" if rel is None else (
                "recorded" if rel.manifest_sha256 == sha else "recorded with a different manifest")
            out.append({"name": manifest["name"], "version": manifest["version"], "manifest_sha256": sha,
                        "registry_state": manifest["registry_state"], "registry": recorded,
                        "hub": f"{rel.hub_repo}@{rel.hub_tag}" if rel is not None and rel.hub_repo else None})
        withdrawals = [
            {"source": slug, "identifier": ident, "reason": reason, "date": created.date().isoformat()}
            for slug, ident, reason, created in s.execute(
                select(Source.slug, Withdrawal.document_identifier, Withdrawal.reason, Withdrawal.created_at)
                .join(Source, Source.id == Withdrawal.source_id).where(Source.slug.in_(slugs))
                .order_by(Withdrawal.created_at, Withdrawal.id))]
        under_review = s.scalar(select(func.count()).select_from(Document).join(Source, Source.id == Document.source_id)
                                .where(Source.slug.in_(slugs), Document.is_current.is_(True),
                                       Document.license_tier == "review")) or 0
    return {"releases": out, "withdrawals": withdrawals, "under_review": int(under_review)}


def render_summary(summary: dict[str, Any], *, fmt: str = "md") -> str:
    """The summary as Markdown (the template's sections, for a web page) or as JSON."""
    if fmt == "json":
        return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    return render("summary.md.j2", s=summary, provider=Md(f"*{PROVIDER}*"))


