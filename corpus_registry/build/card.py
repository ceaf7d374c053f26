"""The dataset card (README.md) and attribution file of a release."""

from __future__ import annotations

from typing import Any

import yaml

from corpus_registry.build.release import ATTRIBUTION, FUNNEL_PNG, MANIFEST, SHARE_ALIKE_CONFIG
from corpus_registry.registry import licences

_SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


def size_category(n: int) -> str:
    for limit, label in _SIZES:
        if n < limit:
            return label
    return "n>1T"


def card_metadata(*, spec: dict[str, Any], configs: dict[str, list[str]], license_mix: list[dict[str, Any]],
                  languages: list[str], rows: int) -> dict[str, Any]:
    """The YAML header: Hub licence id(s), languages, configs (one per language + default)."""
    hub_ids = sorted({licences.hub_license_id(r["license"]) for r in license_mix})
    meta: dict[str, Any] = {"pretty_name": spec.get("pretty_name") or spec["name"]}
    if len(hub_ids) == 1 and hub_ids[0] != "other":
        meta["license"] = hub_ids[0]
    else:
        meta["license"] = "other"
        meta["license_name"] = "mixed-open-licences"
        meta["license_link"] = "README.md#licences"
    meta["language"] = languages
    meta["size_categories"] = [size_category(rows)]
    meta["task_categories"] = ["text-generation"]
    meta["tags"] = ["corpus-registry", "open-data", "provenance"]
    meta["configs"] = [
        {"config_name": name, "data_files": [{"split": "train", "path": globs}]}
        for name, globs in configs.items()
    ]
    return meta


def render_card(*, spec: dict[str, Any], manifest: dict[str, Any], meta: dict[str, Any],
                sources: list[dict[str, Any]], funnel_table: str) -> str:
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    name, version = spec["name"], spec["version"]
    lines = [
        "---", header.rstrip(), "---", "",
        f"# {meta['pretty_name']} ({version})", "",
        spec.get("description") or (
            f"Release `{name}` {version}, built by corpus-registry from openly licensed sources. "
            "Every row carries its licence, origin (source, url) and the sha256 of its text."),
        "",
        "## Configs", "",
        "| config | rows | files |", "|---|---:|---|",
    ]
    for cfg, info in manifest["configs"].items():
        lines.append(f"| `{cfg}` | {info['rows']:,} | {', '.join(f'`{g}`' for g in info['data_files'])} |")
    if SHARE_ALIKE_CONFIG in manifest["configs"]:
        lines += ["", f"Share-alike material is kept apart in the `{SHARE_ALIKE_CONFIG}` config: "
                      "works derived from it must be shared under the same licence."]
    lines += ["", "## Licences", "", "| licence | tier | documents | words |", "|---|---|---:|---:|"]
    for r in manifest["license_mix"]:
        lines.append(f"| {r['license']} | {r['tier']} | {r['documents']:,} | {r['words']:,} |")
    lines += ["", f"Documents whose licence requires attribution are listed in [`{ATTRIBUTION}`]({ATTRIBUTION})."]
    lines += ["", "## Sources", "", "| source | collection | licence | documents | attribution |",
              "|---|---|---|---:|---|"]
    for s in sources:
        attribution = (s.get("attribution") or "—").replace("|", "\\|")
        lines.append(f"| {s['slug']} ({s['name']}) | {s['collection']} | {s['license']} | "
                     f"{s['documents']:,} | {attribution} |")
    lines += ["", "## Funnel", "", "Documents and words through each stage of the build:", "",
              "```", funnel_table, "```", "", f"![funnel]({FUNNEL_PNG})", "",
              "## Verify", "",
              f"[`{MANIFEST}`]({MANIFEST}) holds the build spec, the registry state "
              f"(`{manifest['registry_state']}`), the counts per stage and the sha256 of every shard. "
              "Rebuilding the same spec on the same registry state gives byte-identical shards; "
              "`corpus-registry audit` checks a copy of this dataset row by row against the registry.", ""]
    return "\n".join(lines)


def render_attribution(entries: list[dict[str, Any]]) -> str:
    """ATTRIBUTION.md: every kept document whose licence requires credit, grouped by source."""
    lines = ["# Attribution", "",
             "The following documents are distributed under licences that require attribution.", ""]
    current = None
    for e in entries:
        if e["source"] != current:
            current = e["source"]
            lines += ["", f"## {e['source']} — {e['source_name']}", "",
                      f"Credit: {e['attribution'] or e['source_name']}", ""]
        title = f" — {e['title']}" if e.get("title") else ""
        url = f" <{e['url']}>" if e.get("url") else ""
        lines.append(f"- `{e['identifier']}`{title} ({e['license']}){url}")
    return "\n".join(lines).rstrip() + "\n"
