"""Releases that speak the ecosystem's standards: croissant.json read by mlcroissant, a dataset card
the Hub's metadata vocabularies accept, removed.parquet beside the rows, and the EU AI Act
training-content summary, each checked against the release's own manifest and shards."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from corpus_registry.audit.auditor import audit
from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.card import hub_licence_fields, size_category, validate_card
from corpus_registry.build.release import COLUMN_DOCS, REMOVED, SCHEMA, read_manifest
from corpus_registry.build.spec import load_spec
from corpus_registry.build.summary import render_summary, training_summary
from corpus_registry.cli import cli
from corpus_registry.registry.registry import Registry

from tests.build.test_build import ALL_SPEC, FR_SPEC, rows_of

logging.getLogger("absl").setLevel(logging.ERROR)  # mlcroissant's warnings go through absl


@pytest.fixture(scope="module")
def fr_release(demo_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build_release(demo_registry, load_spec(FR_SPEC), out_dir=tmp_path_factory.mktemp("fr"), progress=False)


@pytest.fixture(scope="module")
def all_release(demo_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build_release(demo_registry, load_spec(ALL_SPEC), out_dir=tmp_path_factory.mktemp("all"), progress=False)


def _plain(value: object) -> object:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _croissant_records(folder: Path, record_set: str) -> list[dict]:
    import mlcroissant as mlc

    dataset = mlc.Dataset(jsonld=str(folder / "croissant.json"))
    prefix = f"{record_set}/"
    return [{k.removeprefix(prefix): _plain(v) for k, v in r.items()} for r in dataset.records(record_set)]


# -- croissant.json ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["fr_release", "all_release"])
def test_croissant_validates_and_its_records_are_the_shards(which: str, fr_release: BuildResult,
                                                           all_release: BuildResult) -> None:
    import mlcroissant as mlc

    release = fr_release if which == "fr_release" else all_release
    folder = release.out_dir
    manifest = read_manifest(folder)
    dataset = mlc.Dataset(jsonld=str(folder / "croissant.json"))  # raises on any validation error
    issues = dataset.metadata.ctx.issues
    assert not issues.errors
    assert all("datePublished" in w for w in issues.warnings), issues.warnings  # no build date: reproducible
    doc = json.loads((folder / "croissant.json").read_text(encoding="utf-8"))
    described = {d["contentUrl"]: d["sha256"] for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
    assert {p: described[p] for p in manifest["shards"]} == manifest["shards"]
    assert described[REMOVED] == manifest["files"][REMOVED]
    assert {rs["@id"] for rs in doc["recordSet"]} == {*manifest["configs"], "removed"}
    for key in ("rai:dataCollection", "rai:personalSensitiveInformation", "rai:dataLimitations", "license"):
        assert doc[key], key
    fields = {f["name"]: f for f in doc["recordSet"][0]["field"]}
    assert set(fields) == set(SCHEMA.names) and all(f["description"] for f in fields.values())
    assert fields["license"]["equivalentProperty"] == "sc:license"
    assert fields["sha256"]["equivalentProperty"] == "sc:sha256"
    assert fields["word_count"]["dataType"] == "sc:Integer"

    # every record set is checked against its FileSet; records are read back for a few (mlcroissant
    # takes about two seconds per record set: the all-languages release has forty)
    for config, info in manifest["configs"].items():
        file_set = next(d for d in doc["distribution"] if d["@id"] == f"files/{config}")
        assert file_set["includes"] == info["data_files"]
    for config in [c for c in manifest["configs"] if c in ("default", "fr", "en")]:
        shard_rows = rows_of(folder, config) if config != "default" else [
            r for c in manifest["configs"] if c != "default" for r in rows_of(folder, c)]
        records = _croissant_records(folder, config)
        key = lambda r: (r["source"], r["identifier"])  # noqa: E731
        assert sorted(records, key=key) == sorted(shard_rows, key=key), config
    removed = pq.read_table(folder / REMOVED).to_pylist()
    records = _croissant_records(folder, "removed")
    assert records == removed


def test_every_column_is_described_once() -> None:
    assert list(COLUMN_DOCS) == SCHEMA.names  # a column added to the schema needs its meaning here


# -- the dataset card ---------------------------------------------------------------------------


def test_size_categories() -> None:
    assert size_category(0) == "n<1K"
    assert size_category(999) == "n<1K"
    assert size_category(1_000) == "1K<n<10K"
    assert size_category(999_999_999) == "100M<n<1B"
    assert size_category(1_000_000_000) == "1B<n<10B"  # not n>1T
    assert size_category(10**12 - 1) == "100B<n<1T"
    assert size_category(10**12) == "n>1T"


def test_hub_licence_fields() -> None:
    def mix(*names: str) -> list[dict]:
        return [{"license": n} for n in names]

    assert hub_licence_fields(mix("CC-BY-4.0", "etalab-2.0")) == {"license": ["cc-by-4.0", "etalab-2.0"]}
    assert hub_licence_fields(mix("CC-PDM-1.0")) == {
        "license": ["other"], "license_name": "cc-pdm-1.0",
        "license_link": "https://spdx.org/licenses/CC-PDM-1.0.html"}
    both = hub_licence_fields(mix("CC-PDM-1.0", "MIT AND CC-BY-4.0", "CC0-1.0"))
    assert both["license"] == ["cc0-1.0", "other"] and both["license_name"] == "cc-pdm-1.0-and-mit-and-cc-by-4.0"
    assert both["license_link"] == "README.md#licences"


def _sections(card: str) -> list[str]:
    return [line[3:] for line in card.splitlines() if line.startswith("## ")]


def test_french_card_lists_both_licences_and_passes_the_schema(fr_release: BuildResult) -> None:
    from huggingface_hub import DatasetCard

    text = (fr_release.out_dir / "README.md").read_text(encoding="utf-8")
    assert validate_card(text) == []
    data = DatasetCard(text).data.to_dict()
    assert data["license"] == ["etalab-2.0", "other"] and data["license_name"] == "cc-pdm-1.0"
    assert data["multilinguality"] == ["monolingual"] and data["language_creators"] == ["found"]
    assert data["source_datasets"] == ["original"] and data["size_categories"] == ["n<1K"]
    assert _sections(text) == ["Dataset structure", "How to load", "Sources and licences", "Funnel",
                               "Limitations", "Citation", "How to verify"]
    assert "### Data fields" in text and "| `sha256` | `string` |" in text
    loads = [line for line in text.splitlines() if line.startswith("load_dataset(")]
    assert loads == [f"load_dataset('OWNER/corpus-registry-demo-fr', {c!r}, revision='1.0.0', split='train')"
                     for c in ("default", "fr")]
    assert "[CC-PDM-1.0](<https://spdx.org/licenses/CC-PDM-1.0.html>)" in text
    assert "@misc{corpus_registry_demo_fr_1_0_0," in text


def test_all_languages_card_sizes_right(all_release: BuildResult) -> None:
    from huggingface_hub import DatasetCard

    text = (all_release.out_dir / "README.md").read_text(encoding="utf-8")
    assert validate_card(text) == []
    data = DatasetCard(text).data.to_dict()
    manifest = read_manifest(all_release.out_dir)
    assert data["size_categories"] == [size_category(manifest["counts"]["kept"])] == ["n<1K"]
    assert data["multilinguality"] == ["multilingual"] and data["language"] == manifest["languages"]
    assert len([line for line in text.splitlines() if line.startswith("load_dataset(")]) == len(manifest["configs"])


def test_validate_card_names_what_the_hub_rejects() -> None:
    card = ("---\nlicense: other\nlanguage: [fr, klingon]\nsize_categories: [huge]\nmultilinguality: [mono]\n"
            "configs:\n- config_name: x\n  data_files: 3\n---\n# x\n")
    problems = validate_card(card)
    assert any("klingon" in p for p in problems) and any("huge" in p for p in problems)
    assert any("mono" in p for p in problems) and any("license_name" in p for p in problems)
    assert any("data_files" in p for p in problems)


# -- removed.parquet ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["fr_release", "all_release"])
def test_removed_and_kept_add_up_to_the_funnel(which: str, fr_release: BuildResult, all_release: BuildResult,
                                               demo_registry: Registry) -> None:
    release = fr_release if which == "fr_release" else all_release
    manifest = read_manifest(release.out_dir)
    removed = pq.read_table(release.out_dir / REMOVED).to_pylist()
    funnel = manifest["counts"]["funnel"]
    selected = funnel[0]["docs_in"]
    assert len(removed) + manifest["counts"]["kept"] == selected == manifest["counts"]["candidates"]
    by_stage = Counter(r["stage"] for r in removed)
    for stage in funnel:
        assert by_stage.get(stage["stage"], 0) == stage["docs_in"] - stage["docs_out"], stage["stage"]
        reasons = Counter(r["reason"] for r in removed if r["stage"] == stage["stage"])
        assert dict(reasons) == stage["reasons"], stage["stage"]
        for lang, c in stage["by_language"].items():
            n = sum(1 for r in removed if r["stage"] == stage["stage"] and r["language"] == lang)
            assert n == c["docs_in"] - c["docs_out"], (stage["stage"], lang)
    assert manifest["removed"] == {"path": REMOVED, "rows": len(removed), "by_stage": dict(by_stage)}
    kept = {(r["source"], r["identifier"]) for c in manifest["configs"] for r in rows_of(release.out_dir, c)}
    assert not kept & {(r["source"], r["identifier"]) for r in removed}
    dups = [r for r in removed if r["stage"] in ("exact_dedup", "near_dedup")]
    assert dups and all(tuple(r["duplicate_of"].split("/", 1)) in kept and 0 < r["similarity"] <= 1 for r in dups)
    assert all(r["duplicate_of"] is None and r["similarity"] is None for r in removed if r not in dups)
    for config in manifest["configs"].values():  # not a Hub config
        assert all(not g.endswith(REMOVED) and g.startswith("data/") for g in config["data_files"])
    assert audit(demo_registry, release.out_dir, progress=False).problem_counts == {}


def test_audit_checks_removed_and_croissant(demo_registry: Registry, fr_release: BuildResult, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fr_release.out_dir, copy)
    table = pq.read_table(copy / REMOVED)
    pq.write_table(table.slice(1), copy / REMOVED)  # a removed document dropped from the list
    report = audit(demo_registry, copy, progress=False)
    assert report.problem_counts == {"shard_modified": 1, "manifest_mismatch": 1}
    messages = " ".join(p.message for p in report.problems)
    assert "removed.parquet differs from its sha256" in messages and "the funnel in manifest.json" in messages

    shutil.copy(fr_release.out_dir / REMOVED, copy / REMOVED)
    doc = json.loads((copy / "croissant.json").read_text(encoding="utf-8"))
    doc["distribution"][0]["sha256"] = "0" * 64
    (copy / "croissant.json").write_text(json.dumps(doc), encoding="utf-8")
    report = audit(demo_registry, copy, progress=False)
    assert report.problem_counts == {"file_modified": 1, "manifest_mismatch": 1}  # its own sha, its description


# -- the EU training-content summary -------------------------------------------------------------


def _check_summary(summary: dict, manifests: list[dict]) -> None:
    general = summary["1_general_information"]["1.3_modalities_size_and_characteristics"]
    text = general["modalities"]["text"]
    assert text["documents"] == sum(m["counts"]["kept"] for m in manifests)
    assert text["words"] == sum(m["counts"]["kept_words"] for m in manifests)
    assert text["bytes"] == sum(m["counts"]["kept_bytes"] for m in manifests)
    assert text["training_data_size"]["range"] == "Less than 1 billion tokens"
    assert text["training_data_size"]["tokens_at_most"] == text["bytes"]
    assert sum(c["documents"] for c in text["types_of_content"]) == text["documents"]
    languages = Counter()
    for m in manifests:
        kept = next(s for s in m["counts"]["funnel"] if s["stage"] == "kept")
        languages.update({lang: c["docs_out"] for lang, c in kept["by_language"].items()})
    assert {row["language"]: row["documents"] for row in general["languages"]} == dict(languages)
    assert set(languages) == {lang for m in manifests for lang in m["languages"]}
    dates = [s.get("retrieved") or s.get("registered") for m in manifests for s in m["sources"]]
    latest = max(dates)
    assert general["latest_date_of_data_collection"] == f"{latest[5:7]}/{latest[:4]}"
    licences = Counter()
    for m in manifests:
        licences.update({r["license"]: r["documents"] for r in m["license_mix"]})
    assert {r["license"]: r["documents"] for r in general["other_characteristics"]["licences"]} == dict(licences)

    sources = summary["2_list_of_data_sources"]["2.1_publicly_available_datasets"]
    per_source = Counter()
    for m in manifests:
        per_source.update({s["slug"]: s["documents"] for s in m["sources"]})
    listed = {r["slug"]: r["documents"] for r in sources["large_datasets"]}
    assert all(per_source[slug] == n for slug, n in listed.items())
    assert sum(listed.values()) + sources["other_datasets"]["documents"] == sum(per_source.values())
    assert all(r["share"] > 0.03 for r in sources["large_datasets"])

    processing = summary["3_data_processing_aspects"]
    drops = Counter()
    for m in manifests:
        drops.update({s["stage"]: s["docs_in"] - s["docs_out"] for s in m["counts"]["funnel"]})
    removed = processing["3.3_other_information"]["removed_by_stage"]
    assert removed["licence"] == drops["licence"] and removed["language"] == drops["language"]
    assert removed["near_duplicates"] == drops["near_dedup"] and removed["exact_duplicates"] == drops["exact_dedup"]
    assert removed["filtered"] == sum(n for s, n in drops.items() if s.startswith("filter:"))
    for funnel, m in zip(processing["3.3_other_information"]["funnels"], manifests):
        assert funnel["kept"] == m["counts"]["kept"] and funnel["removed"] == m["removed"]["rows"]
        assert funnel["candidates"] == funnel["kept"] + funnel["removed"]
    rights = processing["3.1_respect_of_reservations_of_rights"]
    assert rights["left_out_by_licence"] == drops["licence"]
    assert rights["left_out_pending_licence_review"] == sum(
        s["reasons"].get("tier:review", 0) for m in manifests for s in m["counts"]["funnel"] if s["stage"] == "licence")
    provider = summary["1_general_information"]["1.2_model_identification"]["versioned_model_names"]
    assert provider["value"] is None and provider["filled_by"] == "model provider"


def test_summary_figures_equal_the_manifests(demo_registry: Registry, fr_release: BuildResult,
                                             all_release: BuildResult) -> None:
    fr, everything = read_manifest(fr_release.out_dir), read_manifest(all_release.out_dir)
    for folders, manifests in (([fr_release.out_dir], [fr]), ([all_release.out_dir], [everything]),
                               ([fr_release.out_dir, all_release.out_dir], [fr, everything])):
        summary = training_summary(demo_registry, folders)
        _check_summary(summary, manifests)
        assert [r["registry"] for r in summary["releases"]] == ["recorded"] * len(folders)
        assert json.loads(render_summary(summary, fmt="json")) == summary
        md = render_summary(summary, fmt="md")
        assert _sections(md) == ["1. General information", "2. List of data sources", "3. Data processing aspects"]
        assert md.count("*to be completed by the model provider*") >= 10


def test_summary_cli(demo_registry: Registry, fr_release: BuildResult, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["--db", demo_registry.url, "summary", str(fr_release.out_dir), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["1_general_information"]["1.3_modalities_size_and_characteristics"][
        "modalities"]["text"]["documents"] == fr_release.rows
    out = tmp_path / "summary.md"
    r = runner.invoke(cli, ["--db", demo_registry.url, "summary", str(fr_release.out_dir), "-o", str(out)])
    assert r.exit_code == 0 and out.read_text(encoding="utf-8").startswith("# Public summary of training content")
    r = runner.invoke(cli, ["--db", demo_registry.url, "summary", str(tmp_path)])
    assert r.exit_code != 0 and r.output.startswith("Error: ") and "not a release folder" in r.output
    assert len(r.output.strip().splitlines()) == 2  # the error and its hint, no traceback
    r = runner.invoke(cli, ["--db", demo_registry.url, "summary", str(fr_release.out_dir), "-o",
                            str(tmp_path / "no" / "such" / "dir.md")])
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output
    assert not list(tmp_path.glob("**/.*.tmp"))
    old = tmp_path / "old"  # a release from before the fates file, or a hand-edited manifest
    old.mkdir()
    manifest = read_manifest(fr_release.out_dir)
    del manifest["counts"]["funnel"]
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    r = runner.invoke(cli, ["--db", demo_registry.url, "summary", str(old)])
    assert r.exit_code != 0 and "not the manifest of a release this version builds" in r.output
    (old / "manifest.json").write_text("[1, 2]", encoding="utf-8")
    r = runner.invoke(cli, ["--db", demo_registry.url, "summary", str(old)])
    assert r.exit_code != 0 and "not a release manifest (no 'name')" in r.output
