"""The dataset card (README.md) and the attribution file of a release, from its manifest.

The card's YAML header is what the Hub indexes (licences, languages, sizes, configs); its body is
what a person reads: the fields, how to load each config, the sources and licences, the funnel,
the limitations, how to cite and how to verify. Both are rendered from Jinja2 templates
(``templates/card.md.j2``, ``templates/attribution.md.j2``) that escape every value they quote.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from corpus_registry.build.markdown import Md, bibtex, fence_for, one_line, render
from corpus_registry.build.release import (
    ATTRIBUTION,
    CROISSANT,
    FUNNEL_PNG,
    MANIFEST,
    REMOVED,
    SHARE_ALIKE_CONFIG,
    column_docs,
)
from corpus_registry.registry import licences

#: The Hub's size categories, by the row count each one starts at.
SIZE_CATEGORIES = [(0, "n<1K"), (10**3, "1K<n<10K"), (10**4, "10K<n<100K"), (10**5, "100K<n<1M"),
                   (10**6, "1M<n<10M"), (10**7, "10M<n<100M"), (10**8, "100M<n<1B"), (10**9, "1B<n<10B"),
                   (10**10, "10B<n<100B"), (10**11, "100B<n<1T"), (10**12, "n>1T")]
_HUB_DATASET = "https://huggingface.co/datasets/"
#: The licence ids a Hub card may declare (the Hub documentation's list, "Licenses").
HUB_LICENCES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0
cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl
gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql
eupl-1.2 ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 gemma unknown other
""".split())


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` label for ``n`` rows."""
    return next(label for start, label in reversed(SIZE_CATEGORIES) if n >= start)


def licence_url(expression: str) -> str | None:
    """The SPDX page of a single SPDX licence (None for a compound expression or a LicenseRef)."""
    info = licences.parse(expression)
    if len(info.keys) != 1 or info.keys[0].startswith("LicenseRef-"):
        return None
    return f"https://spdx.org/licenses/{info.keys[0]}.html"


def hub_licence_fields(license_mix: list[dict[str, Any]]) -> dict[str, Any]:
    """``license`` as the rows' Hub licence ids; licences the Hub does not know are ``other``,
    named by ``license_name`` (their SPDX ids) and ``license_link`` (their text, or the card's
    licence table when there are several)."""
    expressions = sorted({m["license"] for m in license_mix})
    known = sorted({h for h in map(licences.hub_license_id, expressions) if h != "other"})
    unknown = [e for e in expressions if licences.hub_license_id(e) == "other"]
    if not unknown:
        return {"license": known}
    name = "-and-".join(e.lower() for e in unknown) if len(unknown) <= 3 else "mixed-open-licences"
    link = licence_url(unknown[0]) if len(unknown) == 1 else None
    return {"license": [*known, "other"], "license_name": name.replace(" ", "-"),
            "license_link": link or "README.md#licences"}


def _source_datasets(sources: list[dict[str, Any]]) -> list[str]:
    """Hub datasets the release extends (``extended|OWNER/NAME``); ``original`` for the other sources."""
    out: set[str] = set()
    for s in sources:
        origin = s.get("origin_url") or ""
        repo = origin[len(_HUB_DATASET):].strip("/").split("/")[:2] if origin.startswith(_HUB_DATASET) else []
        out.add(f"extended|{'/'.join(repo)}" if len(repo) == 2 else "original")
    return sorted(out)


def card_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    """The YAML header: what the Hub indexes and shows (its dataset card metadata)."""
    spec = manifest["spec"]
    languages = manifest["languages"]
    meta: dict[str, Any] = {"pretty_name": spec.get("pretty_name") or spec["name"]}
    meta.update(hub_licence_fields(manifest["license_mix"]))
    meta["language"] = languages
    meta["multilinguality"] = ["monolingual" if len(languages) == 1 else "multilingual"]
    meta["language_creators"] = ["found"]
    meta["source_datasets"] = _source_datasets(manifest["sources"])
    meta["size_categories"] = [size_category(manifest["counts"]["kept"])]
    meta["task_categories"] = ["text-generation"]
    meta["task_ids"] = ["language-modeling"]
    meta["tags"] = ["corpus-registry", "open-data", "provenance"]
    meta["configs"] = [{"config_name": name, "data_files": [{"split": "train", "path": info["data_files"]}]}
                       for name, info in manifest["configs"].items()]
    return meta


def render_card(manifest: dict[str, Any], *, funnel_table: str) -> str:
    """The whole README.md of a release, from its manifest (``files`` need not be filled yet)."""
    spec = manifest["spec"]
    meta = card_metadata(manifest)
    repo = spec.get("hub_repo") or f"OWNER/{spec['name']}"
    loads = [f"load_dataset({repo!r}, {config!r}, revision={spec['version']!r}, split='train')"
             for config in manifest["configs"]]
    removed = manifest.get("removed") or {}
    bib = citation(manifest)
    tokenizer = manifest.get("tokenizer")
    kept = (manifest["counts"]["funnel"] or [{}])[-1].get("by_language", {})
    tokens_by_language = [{"language": lang, "documents": kept.get(lang, {}).get("docs_out", 0),
                           "words": kept.get(lang, {}).get("words_out", 0), "tokens": n}
                          for lang, n in (manifest["counts"].get("tokens_by_language") or {}).items()]
    return render(
        "card.md.j2",
        meta=meta, spec=spec, manifest=manifest,
        description=[p for p in (spec.get("description") or "").split("\n\n") if p.strip()],
        fields=[(name, str(type_), doc.description)
                for name, type_, doc in column_docs(tokenizer=manifest.get("tokenizer"))],
        licences=[{**m, "url": licence_url(m["license"])} for m in manifest["license_mix"]],
        repo=repo, hub_repo=spec.get("hub_repo"), load_lines=Md("\n".join(loads)),
        load_fence=fence_for("\n".join(loads)),
        funnel_table=Md(funnel_table), funnel_fence=fence_for(funnel_table),
        removed=removed, limitations=_limitations(manifest), tokenizer=tokenizer,
        tokens_by_language=tokens_by_language, citation=Md(bib), citation_fence=fence_for(bib),
        share_alike=SHARE_ALIKE_CONFIG in manifest["configs"], share_alike_config=SHARE_ALIKE_CONFIG,
        files={"attribution": ATTRIBUTION, "manifest": MANIFEST, "croissant": CROISSANT, "removed": REMOVED,
               "funnel": FUNNEL_PNG},
    )


def citation(manifest: dict[str, Any]) -> str:
    """A BibTeX entry for the release (values escaped for BibTeX)."""
    spec = manifest["spec"]
    title = spec.get("pretty_name") or spec["name"]
    key = "".join(c if c.isalnum() else "_" for c in f"{spec['name']}_{spec['version']}")
    fields: list[tuple[str, str]] = [("title", bibtex(f"{title} ({spec['version']})"))]
    if spec.get("creator"):
        fields.append(("author", bibtex(spec["creator"])))
    if spec.get("hub_repo"):  # OWNER/NAME, validated by the spec: nothing to escape
        fields.append(("howpublished", f"\\url{{https://huggingface.co/datasets/{spec['hub_repo']}}}"))
    fields.append(("version", bibtex(spec["version"])))
    fields.append(("note", bibtex(f"{manifest['counts']['kept']:,} openly licensed documents from "
                                  f"{len(manifest['sources'])} sources, built by corpus-registry; "
                                  f"registry state {manifest['registry_state']}")))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}"


def _limitations(manifest: dict[str, Any]) -> list[str]:
    """What a user should know before relying on the release, drawn from its own spec and funnel."""
    spec, stages = manifest["spec"], {s["stage"]: s for s in manifest["counts"]["funnel"]}
    out = [
        "Languages were identified automatically, one label per document; mixed-language documents "
        f"carry their main language (minimum language score: {spec['select']['min_language_score']}).",
        "Quality filters are heuristics (" + ", ".join(s[len("filter:"):] for s in stages if s.startswith("filter:"))
        + "): they drop some good documents and keep some poor ones; removed.parquet lists every drop.",
    ]
    if spec["dedup"]["near"]:
        out.append(f"Near duplicates were found with MinHash LSH at a Jaccard threshold of "
                   f"{spec['dedup']['threshold']}: estimated, so a few pairs above it may remain.")
    review = stages.get("licence", {}).get("reasons", {}).get("tier:review", 0)
    if review:
        out.append(f"{review:,} documents whose licence a person has yet to confirm were left out; "
                   "licences are the registry's best knowledge, not legal advice.")
    else:
        out.append("Licences are the registry's best knowledge, not legal advice.")
    out.append("Texts were not screened for personal or sensitive information beyond the choice of "
               "sources; historical and legal texts may hold outdated or offensive views.")
    return out


def render_attribution(entries: list[dict[str, Any]]) -> str:
    """ATTRIBUTION.md: every kept document whose licence requires credit, grouped by source
    (each entry: source, source_name, attribution, identifier, title, license, url)."""
    groups: list[dict[str, Any]] = []
    for e in entries:
        if not groups or groups[-1]["source"] != e["source"]:
            groups.append({"source": e["source"], "name": e["source_name"],
                           "credit": e["attribution"] if one_line(e["attribution"] or "") else e["source_name"], "entries": []})
        groups[-1]["entries"].append(e)
    return render("attribution.md.j2", groups=groups)


@lru_cache(maxsize=1)
def _hub_resources() -> dict[str, Any]:
    """The Hub metadata vocabularies that ``datasets`` ships (read offline)."""
    folder = resources.files("datasets.utils") / "resources"
    return {name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
            for name in ("size_categories", "multilingualities", "creators", "languages")}


def validate_card(text: str) -> list[str]:
    """What the Hub would reject or ignore in a dataset card, checked offline: the header parses
    with ``huggingface_hub``'s ``DatasetCard``; licence ids, languages, size categories,
    multilinguality, language creators and configs use the Hub's vocabularies. Empty when valid."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    try:
        data = DatasetCard(text).data.to_dict()
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        return [f"the card does not parse: {e}"]
    vocab = _hub_resources()
    problems = []

    def check(field: str, allowed: Any) -> None:
        values = data.get(field)
        for v in values if isinstance(values, list) else [values]:
            if v is None or v not in allowed:
                problems.append(f"{field}: {v!r} is not one of the Hub's values")

    check("license", HUB_LICENCES)
    check("language", vocab["languages"])
    check("size_categories", vocab["size_categories"])
    check("multilinguality", vocab["multilingualities"])
    check("language_creators", vocab["creators"]["language"])
    if "other" in (data.get("license") or []) and not (data.get("license_name") and data.get("license_link")):
        problems.append("license: other needs license_name and license_link")
    for config in data.get("configs") or []:
        try:
            MetadataConfigs._raise_if_data_files_field_not_valid(config)
        except ValueError:
            problems.append(f"configs: {config.get('config_name')!r} has invalid data_files")
    return problems

