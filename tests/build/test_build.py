"""Building releases from the bundled demo registry, and pushing them to the loopback Hub."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.release import read_manifest
from corpus_registry.build.spec import load_spec, parse_spec
from corpus_registry.cli import cli
from corpus_registry.errors import BuildError, ConfigError
from corpus_registry.registry.db.models import Release, ReleaseDocument
from corpus_registry.registry.registry import Registry

from tests.conftest import REPO
from tests.registry.test_ingest import BOILERPLATE

FR_SPEC = REPO / "specs" / "fr.yaml"
ALL_SPEC = REPO / "specs" / "all.yaml"


def rows_of(out: Path, config: str) -> list[dict]:
    files = sorted((out / "data" / config).glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def fates(reg: Registry, result: BuildResult) -> dict[str, tuple]:
    from corpus_registry.registry.db.models import Document, Source

    with reg.session() as s:
        rows = s.execute(
            select(Source.slug, Document.identifier, ReleaseDocument.status, ReleaseDocument.stage,
                   ReleaseDocument.duplicate_of)
            .join(Document, Document.id == ReleaseDocument.document_id)
            .join(Source, Source.id == Document.source_id)
            .where(ReleaseDocument.release_id == result.release_id)
        ).all()
    return {f"{slug}/{ident}": (status, stage, dup) for slug, ident, status, stage, dup in rows}


@pytest.fixture(scope="module")
def fr_build(demo_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build_release(demo_registry, load_spec(FR_SPEC), out_dir=tmp_path_factory.mktemp("fr"),
                         progress=False)


def test_french_slice_rows(fr_build: BuildResult) -> None:
    rows = rows_of(fr_build.out_dir, "fr")
    assert rows and len(rows) == fr_build.rows
    assert {r["language"] for r in rows} == {"fr"}
    assert {r["open_type"] for r in rows} <= {"Public Domain", "Attribution"}
    assert {r["license"] for r in rows} == {"CC-PDM-1.0", "etalab-2.0"}
    for r in rows:
        for marker in BOILERPLATE:
            assert marker not in r["text"], (r["identifier"], marker)
    idents = {r["identifier"] for r in rows}
    # the two Project Gutenberg etexts of Le tour du monde leave exactly one document
    assert len(idents & {"pg800", "pg3456"}) == 1
    # accent-stripped and Latin-1 twins are gone too
    assert not idents & {"pg10746/10746", "pg799/799-8"}
    assert {"pg10746", "pg799", "pg4650", "pg5711"} <= idents
    assert all(r["word_count"] >= 50 for r in rows)
    manifest = read_manifest(fr_build.out_dir)
    assert set(manifest["configs"]) == {"default", "fr"}
    assert manifest["configs"]["fr"]["rows"] == len(rows)


def test_french_slice_has_no_markup_works_dates_and_a_url_everywhere(demo_registry: Registry,
                                                                     fr_build: BuildResult) -> None:
    """What a trainer checks: no HTML tag in any text, every row linked, novels dated by the work
    (not by Project Gutenberg's release), the accented twin kept."""
    import re

    from corpus_registry.registry.db.models import Document, Source

    rows = rows_of(fr_build.out_dir, "fr")
    tag = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
    assert [r["identifier"] for r in rows if tag.search(r["text"])] == []
    assert [r["identifier"] for r in rows if not r["url"]] == []
    civil = [r for r in rows if r["source"] == "legifrance-code-civil"]
    assert len(civil) > 400 and all("affichCodeArticle" not in r["text"] for r in civil)
    with demo_registry.session() as s:
        released = dict(s.execute(select(Document.identifier, Document.extra).join(Source)
                                  .where(Source.slug.like("gutenberg%"), Document.is_current.is_(True))).all())
    novels = {r["identifier"]: r for r in rows if r["source"].startswith("gutenberg")}
    assert len(novels) >= 7
    for ident, r in novels.items():
        assert r["date"] != released[ident]["distribution_date"], ident
    assert (novels["pg10746"]["date"], released["pg10746"]["distribution_date"]) == ("1880", "2004-01-01")
    assert "armée en déroute" in novels["pg10746"]["text"]  # the accented Boule de suif, not its 7-bit twin


def test_funnel_adds_up(fr_build: BuildResult) -> None:
    stages = fr_build.funnel.as_dict()["stages"]
    names = [s["stage"] for s in stages]
    assert names[:4] == ["selected", "licence", "withdrawn", "language"]
    assert names[-3:] == ["exact_dedup", "near_dedup", "kept"]
    assert any(n.startswith("filter:") for n in names)
    for prev, cur in zip(stages, stages[1:]):
        assert prev["docs_out"] == cur["docs_in"], (prev["stage"], cur["stage"])
        assert prev["words_out"] == cur["words_in"]
    assert stages[0]["docs_in"] == 899
    assert stages[-1]["docs_out"] == fr_build.rows
    near = next(s for s in stages if s["stage"] == "near_dedup")
    assert near["docs_in"] - near["docs_out"] >= 2  # Verne #3456/#800 and the accent/encoding twins
    assert stages[1]["reasons"].get("tier:review", 0) >= 1  # the doubtful Genesis translations
    card = (fr_build.out_dir / "README.md").read_text(encoding="utf-8")
    assert "near_dedup" in card and "![funnel](funnel.png)" in card
    png = fr_build.out_dir / "funnel.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_fates_are_recorded(demo_registry: Registry, fr_build: BuildResult) -> None:
    f = fates(demo_registry, fr_build)
    assert len(f) == 899
    assert sum(1 for v in f.values() if v[0] == "kept") == fr_build.rows
    verne = [f["gutenberg-fr/pg800"], f["gutenberg-fr/pg3456"]]
    assert sorted(v[0] for v in verne) == ["dropped", "kept"]
    dropped = next(v for v in verne if v[0] == "dropped")
    assert dropped[1] == "near_dedup" and dropped[2] is not None
    assert f["nltk-genesis/finnish"][:2] == ("dropped", "licence")
    assert f["nltk-udhr/de_German_Deutsch-Latin1"][:2] == ("dropped", "language")
    with demo_registry.session() as s:
        rel = s.get(Release, fr_build.release_id)
        assert rel is not None and rel.registry_state == fr_build.registry_state


def test_rebuild_is_byte_identical(demo_registry: Registry, fr_build: BuildResult, tmp_path: Path) -> None:
    again = build_release(demo_registry, load_spec(FR_SPEC), out_dir=tmp_path / "again", progress=False)
    assert again.files == fr_build.files
    assert set(again.files) >= {"README.md", "manifest.json", "ATTRIBUTION.md", "funnel.png"}
    with demo_registry.session() as s:  # recorded once, not twice
        assert s.scalar(select(func.count()).select_from(Release).where(Release.name == again.name)) == 1


def test_attribution_and_card(fr_build: BuildResult) -> None:
    attribution = (fr_build.out_dir / "ATTRIBUTION.md").read_text(encoding="utf-8")
    civil = [r for r in rows_of(fr_build.out_dir, "fr") if r["license"] == "etalab-2.0"]
    assert civil
    for r in civil:
        assert f"`{r['identifier']}`" in attribution
    assert "Légifrance (DILA)" in attribution
    assert "pg800" not in attribution and "pg3456" not in attribution  # public domain: no credit needed
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(fr_build.out_dir / "README.md")
    data = card.data.to_dict()
    assert data["language"] == ["fr"]
    # etalab-2.0 is a Hub licence; CC-PDM-1.0 is not: named and linked beside it
    assert data["license"] == ["etalab-2.0", "other"]
    assert data["license_name"] == "cc-pdm-1.0"
    assert data["license_link"] == "https://spdx.org/licenses/CC-PDM-1.0.html"
    assert {c["config_name"] for c in data["configs"]} == {"default", "fr"}
    assert "(<https://spdx.org/licenses/etalab-2.0.html>) | attribution |" in card.text


def test_all_languages_release(demo_registry: Registry, tmp_path: Path) -> None:
    result = build_release(demo_registry, load_spec(ALL_SPEC), out_dir=tmp_path / "all", progress=False)
    f = fates(demo_registry, result)
    for doubtful in ("finnish", "lolcat", "portuguese"):
        assert f[f"nltk-genesis/{doubtful}"][:2] == ("dropped", "licence")
    for cleared in ("english-kjv", "english-web", "french", "german", "swedish"):
        assert f[f"nltk-genesis/{cleared}"][0] == "kept", cleared
    udhr = {k: v for k, v in f.items() if k.startswith("nltk-udhr/")}
    assert len(udhr) == 40
    assert all(v[0] == "kept" for v in udhr.values()), {k: v for k, v in udhr.items() if v[0] != "kept"}
    manifest = read_manifest(result.out_dir)
    assert len(manifest["languages"]) >= 30
    assert "share_alike" not in manifest["configs"]  # no share-alike source in the demo


def test_share_alike_is_kept_apart(registry: Registry, tmp_path: Path) -> None:
    from corpus_registry.registry.ingest import ingest
    from corpus_registry.registry.sources import sync_sources

    lines = [{"id": f"sa-{i}", "text": f"Texte numéro {i}. " + " ".join(
        f"mot{i}x{j} phrase française ordinaire." for j in range(60))} for i in range(3)]
    (tmp_path / "sa.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - slug: wiki\n    name: Wiki\n    collection: OpenWeb\n    license: CC-BY-SA-4.0\n"
        "    attribution: Wiki contributors\n    reader: {kind: jsonl, path: sa.jsonl}\n")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    ingest(registry, progress=False)
    spec = parse_spec({"name": "sa", "version": "1", "select": {"license_tiers": ["share_alike"]},
                       "filters": {"repetition": {"enabled": False}, "ocr_noise": {"enabled": False}},
                       "dedup": {"near": False}})
    result = build_release(registry, spec, out_dir=tmp_path / "out", progress=False)
    manifest = read_manifest(result.out_dir)
    assert set(manifest["configs"]) == {"share_alike"}
    assert len(rows_of(result.out_dir, "share_alike")) == 3
    assert "kept apart in the `share_alike` config" in (result.out_dir / "README.md").read_text()


def test_bad_specs_and_empty_selection(demo_registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"select\.colour"):
        parse_spec({"name": "x", "version": "1", "select": {"colour": "red"}})
    with pytest.raises(ConfigError, match=r"select\.license_tiers"):
        parse_spec({"name": "x", "version": "1", "select": {"license_tiers": ["review"]}})
    with pytest.raises(ConfigError, match=r"select\.licenses.*bogus"):
        parse_spec({"name": "x", "version": "1", "select": {"licenses": ["bogus-2.0"]}})
    with pytest.raises(ConfigError, match="version"):
        parse_spec({"name": "x", "version": "latest"})
    with pytest.raises(BuildError, match="matches no document"):
        build_release(demo_registry, parse_spec({"name": "x", "version": "1", "select": {"sources": ["nope"]}}),
                      out_dir=tmp_path / "x", progress=False, record=False)
    with pytest.raises(BuildError, match=r"every one of the 40 candidates was dropped \(filter:length 40\)"):
        build_release(demo_registry, parse_spec({"name": "x", "version": "1", "select": {"sources": ["nltk-udhr"]},
                                                 "filters": {"length": {"min_words": 1_000_000}}}),
                      out_dir=tmp_path / "z", progress=False)
    with pytest.raises(BuildError, match="no document passes"):
        build_release(demo_registry, parse_spec({"name": "x", "version": "1", "select": {"languages": ["tlh"]}}),
                      out_dir=tmp_path / "y", progress=False, record=False)


def test_cli_build_then_push_and_load(demo_registry: Registry, hub, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "fr"
    r = runner.invoke(cli, ["--db", demo_registry.url, "build", str(FR_SPEC), "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "near_dedup" in r.output and "Built corpus-registry-demo-fr 1.0.0" in r.output
    repo = f"tester/fr-{demo_registry.dialect}"
    r = runner.invoke(cli, ["--db", demo_registry.url, "push", str(out), "--repo", repo, "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "Dry run" in r.output and "data/fr/train-00000-of-00001.parquet" in r.output
    r = runner.invoke(cli, ["--db", demo_registry.url, "push", str(out), "--repo", repo])
    assert r.exit_code == 0, r.output
    assert "tagged 1.0.0" in r.output
    r = runner.invoke(cli, ["--db", demo_registry.url, "push", str(out), "--repo", repo])
    assert "nothing to push" in r.output
    with demo_registry.session() as s:
        rel = s.scalar(select(Release).where(Release.name == "corpus-registry-demo-fr"))
        assert rel is not None and rel.hub_repo == repo and rel.hub_tag == "1.0.0" and rel.hub_commit
    expected = sorted((r["identifier"], r["sha256"]) for r in rows_of(out, "fr"))
    code = (
        "import json, datasets\n"
        f"ds = datasets.load_dataset({repo!r}, 'fr', revision='1.0.0', split='train')\n"
        "print(json.dumps(sorted([r['identifier'], r['sha256']] for r in ds)))\n"
        "print(json.dumps(ds.column_names))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got, columns = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    assert [tuple(x) for x in got] == expected
    # Common Corpus's order (token_count between word_count and text, as there)
    assert columns[:11] == ["identifier", "collection", "open_type", "license", "date", "title", "creator",
                            "language", "word_count", "token_count", "text"]


def test_two_workers_build_identical_files(demo_registry: Registry, fr_build: BuildResult, tmp_path: Path) -> None:
    from corpus_registry.executors import LocalExecutor

    ex = LocalExecutor(2)
    try:
        result = build_release(demo_registry, load_spec(FR_SPEC), out_dir=tmp_path / "w2", progress=False,
                               executor=ex, record=False)
    finally:
        ex.close()
    assert result.files == fr_build.files


@pytest.mark.parametrize("select", [{"languages": ["fr"]}, {"sources": ["nltk-udhr"]}],
                         ids=["most-blobs", "few-blobs"])
def test_same_documents_give_the_same_build_on_both_backends(make_db_url, tmp_path: Path, select: dict) -> None:
    """The registry state and the files depend on the documents, not on the database holding them
    (nor on how the build found their texts: a scan of every blob, or a lookup of a few)."""
    from corpus_registry.registry.ingest import ingest_source
    from corpus_registry.registry.sources import sync_sources

    spec = parse_spec({"name": "both", "version": "1", "select": select})
    results = []
    for backend in ("sqlite", "postgresql"):
        reg = Registry(make_db_url(backend))
        try:
            reg.init(store=str(tmp_path / f"store-{backend}"))
            sync_sources(reg, catalogue_path=REPO / "sources.yaml")
            for slug in ("legifrance-code-civil", "nltk-udhr"):
                ingest_source(reg, slug, progress=False)
            results.append(build_release(reg, spec, out_dir=tmp_path / backend, progress=False))
        finally:
            reg.dispose()
    sqlite_build, pg_build = results
    assert sqlite_build.rows > 10
    assert sqlite_build.registry_state == pg_build.registry_state
    # the manifest also lists the licence decisions the documents rest on, with when they were made
    assert {k: v for k, v in sqlite_build.files.items() if k != "manifest.json"} == \
        {k: v for k, v in pg_build.files.items() if k != "manifest.json"}
    manifests = [read_manifest(r.out_dir) for r in results]
    when = [[d.pop("at") for d in m["decisions"]] for m in manifests]
    assert manifests[0] == manifests[1] and len(when[0]) == len(manifests[0]["sources"])  # their registrations


def test_a_pushed_version_is_not_rebuilt_differently(demo_registry: Registry, tmp_path: Path) -> None:
    """The refusal comes after the fates were rewritten: the transaction rolls all of it back."""
    spec = {"name": "immutable", "version": "1", "select": {"sources": ["nltk-udhr"]}}
    first = build_release(demo_registry, parse_spec(spec), out_dir=tmp_path / "a", progress=False)
    with demo_registry.session() as s:
        s.get(Release, first.release_id).hub_commit = "0" * 40
    before = fates(demo_registry, first)
    assert len(before) == 40
    narrower = {**spec, "select": {**spec["select"], "languages": ["fr", "en"]}}
    with pytest.raises(BuildError, match="already built differently and pushed"):
        build_release(demo_registry, parse_spec(narrower), out_dir=tmp_path / "b", progress=False)
    assert fates(demo_registry, first) == before
    with demo_registry.session() as s:
        rel = s.get(Release, first.release_id)
        assert rel.manifest_sha256 == first.manifest_sha256 and rel.spec == parse_spec(spec).canonical()
    same = build_release(demo_registry, parse_spec(spec), out_dir=tmp_path / "c", progress=False)
    assert same.release_id == first.release_id and same.manifest_sha256 == first.manifest_sha256
