"""croissant.json: the release described in the Croissant format (MLCommons, version 1.1), from its
manifest, so that Croissant loaders, dataset search engines and ``mlcroissant`` read it.

- distribution: every shard (and the fates file, and a dolma copy) as a FileObject with the
  manifest's sha256; one FileSet per Hub config (its ``data_files`` globs);
- one RecordSet per config, plus ``removed`` (the fates); every column described from
  :data:`~corpus_registry.build.release.COLUMN_DOCS`, each row a ``sc:CreativeWork`` whose fields
  map to schema.org properties (``license`` is the row's licence, ``sha256`` its checksum,
  ``source`` and ``url`` its provenance);
- the responsible-AI (RAI) facts: how the data was collected and processed, its licences, what is
  known about personal and sensitive information, its limitations and intended uses.

The JSON is written by hand rather than through ``mlcroissant``'s classes, which would cost a
build about a second of imports; the tests check every release with ``mlcroissant`` (validation
and records read back equal to the shards).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from corpus_registry.build.card import card_metadata, citation, licence_url
from corpus_registry.build.release import CROISSANT, REMOVED, REMOVED_DOCS, REMOVED_SCHEMA, column_docs

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
#: The JSON-LD context of Croissant 1.1, as ``mlcroissant`` writes it.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
PARQUET = "application/x-parquet"
DOLMA = "application/jsonlines+gzip"


def data_type(type_: pa.DataType) -> str:
    """The Croissant data type of an Arrow type."""
    if pa.types.is_integer(type_):
        return "sc:Integer"
    if pa.types.is_floating(type_):
        return "sc:Float"
    if pa.types.is_boolean(type_):
        return "sc:Boolean"
    if pa.types.is_date(type_) or pa.types.is_timestamp(type_):
        return "sc:Date"
    return "sc:Text"


def _field(record_set: str, name: str, type_: pa.DataType, description: str, source: dict[str, Any],
           role: str | None = None) -> dict[str, Any]:
    field: dict[str, Any] = {"@type": "cr:Field", "@id": f"{record_set}/{name}", "name": name,
                             "description": description, "dataType": data_type(type_)}
    if role:
        field["equivalentProperty"] = role
    field["source"] = {**source, "extract": {"column": name}}
    return field


def croissant(manifest: dict[str, Any]) -> dict[str, Any]:
    """The Croissant description of a release (its ``files`` hold the fates and dolma files so far)."""
    spec, counts = manifest["spec"], manifest["counts"]
    files: dict[str, str] = manifest.get("files") or {}
    meta = card_metadata(manifest)
    distribution: list[dict[str, Any]] = [
        {"@type": "cr:FileObject", "@id": path, "name": path, "description": "A shard of the kept rows.",
         "contentUrl": path, "encodingFormat": PARQUET, "sha256": sha}
        for path, sha in sorted(manifest["shards"].items())]
    for path, sha in sorted(files.items()):
        kind = ("Every candidate the build did not keep, with the stage and reason that removed it."
                if path == REMOVED else "The same rows in dolma's layout (gzipped JSON lines).")
        distribution.append({"@type": "cr:FileObject", "@id": path, "name": path, "description": kind,
                             "contentUrl": path, "encodingFormat": PARQUET if path == REMOVED else DOLMA,
                             "sha256": sha})
    record_sets = []
    for config, info in manifest["configs"].items():
        file_set = f"files/{config}"
        distribution.append({"@type": "cr:FileSet", "@id": file_set, "name": file_set,
                             "description": f"The shards of config {config}.", "encodingFormat": PARQUET,
                             "includes": info["data_files"]})
        record_sets.append({
            "@type": "cr:RecordSet", "@id": config, "name": config, "dataType": "sc:CreativeWork",
            "description": (f"Config {config}: {info['rows']:,} documents, one per row "
                            f"(load_dataset(REPO, {config!r}))."),
            "key": [{"@id": f"{config}/source"}, {"@id": f"{config}/identifier"}],
            "field": [_field(config, name, type_, doc.description, {"fileSet": {"@id": file_set}}, doc.role)
                      for name, type_, doc in column_docs(tokenizer=manifest.get("tokenizer"))],
        })
    if REMOVED in files:
        record_sets.append({
            "@type": "cr:RecordSet", "@id": "removed", "name": "removed",
            "description": (f"The {manifest['removed']['rows']:,} candidates the build did not keep "
                            "(not a Hub config): kept + removed = the candidates selected, at every stage."),
            "field": [_field("removed", f.name, f.type, REMOVED_DOCS[f.name], {"fileObject": {"@id": REMOVED}})
                      for f in REMOVED_SCHEMA],
        })
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": spec["name"],
        "alternateName": meta["pretty_name"],
        "description": spec.get("description") or (
            f"{counts['kept']:,} openly licensed documents in {len(manifest['languages'])} languages, "
            "each row with its licence, its origin and the sha256 of its text; built by corpus-registry."),
        "conformsTo": CONFORMS_TO,
        "citeAs": citation(manifest),
        "version": spec["version"],
        "license": [licence_url(m["license"]) or m["license"] for m in manifest["license_mix"]],
        "inLanguage": manifest["languages"],
        "keywords": [*meta["tags"], *meta["task_categories"]],
        "isAccessibleForFree": True,
    }
    if spec.get("hub_repo"):
        doc["url"] = f"https://huggingface.co/datasets/{spec['hub_repo']}"
    if spec.get("creator"):
        doc["creator"] = {"@type": "sc:Organization", "name": spec["creator"]}
    doc.update(_rai(manifest))
    doc["distribution"] = distribution
    doc["recordSet"] = record_sets
    return doc


def _rai(manifest: dict[str, Any]) -> dict[str, Any]:
    """The responsible-AI fields, from what the registry and the build know."""
    spec, stages = manifest["spec"], manifest["counts"]["funnel"]
    sources = "; ".join(f"{s['name']} ({s['slug']}, {s['license']}, {s['documents']:,} documents)"
                        for s in manifest["sources"])
    mix = "; ".join(f"{m['license']} ({m['tier']}): {m['documents']:,} documents" for m in manifest["license_mix"])
    drops = "; ".join(f"{s['stage']}: {s['docs_in'] - s['docs_out']:,}" for s in stages
                      if s["stage"] not in ("selected", "kept") and s["docs_in"] != s["docs_out"])
    tiers = ", ".join(spec["select"]["license_tiers"])
    return {
        "rai:dataCollection": (
            "Documents were read from registered, openly licensed sources and ingested into a "
            "corpus-registry registry with their licence (SPDX), origin and language; no web crawling "
            f"and no user data. Sources: {sources}."),
        "rai:dataCollectionType": ["Secondary data", "Public domain and openly licensed text"],
        "rai:dataPreprocessingProtocol": [
            "Unicode NFC normalisation, \\n line ends, byte-order marks removed; sha256 of the normalised text.",
            f"Licence selection: tiers {tiers}; documents under licence review, rejected or withdrawn never enter.",
            "Quality filters, exact deduplication (sha256) and near deduplication (MinHash LSH); "
            f"documents removed per stage: {drops or 'none'}.",
        ],
        "rai:dataUseCases": ["Pretraining and evaluation of language models on openly licensed text."],
        "rai:personalSensitiveInformation": [
            "Not screened for personal or sensitive information: the sources are public-domain or openly "
            "licensed publications (books, legal and public-sector texts), which may still name people."],
        "rai:dataLimitations": [
            f"Licences are the registry's best knowledge, not legal advice; licence mix: {mix}.",
            "Languages were identified automatically; quality filters and near deduplication are heuristics.",
        ],
        "rai:dataBiases": ["The text reflects its sources: historical and legal documents over-represent "
                           "some periods, places and registers and may hold outdated views."],
    }


def write_croissant(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Write croissant.json (deterministic: the same manifest gives the same bytes)."""
    text = json.dumps(croissant(manifest), indent=2, ensure_ascii=False) + "\n"
    (out_dir / CROISSANT).write_text(text, encoding="utf-8")
