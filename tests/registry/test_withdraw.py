"""A withdrawal follows the text: the same *Boule de suif* under another identifier or source, and
the edition a recorded build found to be its near-duplicate, are withdrawn with it (unless
``--only-this``); a copy registered later ships under no identifier; every built or pushed
release holding the text is listed; audits flag the text whatever its identifier."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from corpus_registry.audit.auditor import audit
from corpus_registry.build import publish
from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.spec import parse_spec
from corpus_registry.cli import cli
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.lookup import show
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from corpus_registry.registry.withdraw import withdraw

from tests.conftest import DATA
from tests.hubserver import HubServer

SPEC = {"name": "boule", "version": "1", "select": {"languages": ["fr"]},
        "dedup": {"exact": True, "near": True, "threshold": 0.8}}


def write_catalogue(folder: Path, *, copies: bool = False, later: bool = False) -> Path:
    body = f"""
sources:
  - slug: gutenberg-fr
    name: Boule de suif (Project Gutenberg 10746)
    collection: OpenCulture
    license: public-domain
    reader: {{allow_outside: true, kind: gutenberg, path: {DATA / 'gutenberg-fr'}, glob: "pg10746*/*.txt"}}
  - slug: gutenberg-variants
    name: Boule de suif, another file of etext 10746
    collection: OpenCulture
    license: public-domain
    reader: {{allow_outside: true, kind: gutenberg, path: {DATA / 'gutenberg-variants'}, glob: "pg10746/*.txt"}}
  - slug: udhr
    name: UDHR in French
    collection: OpenGovernment
    license: public-domain
    reader: {{allow_outside: true, kind: text, path: {DATA / 'nltk-udhr' / 'udhr'}, glob: "fr_*.txt"}}
"""
    for slug, on in (("copies", copies), ("later", later)):
        if on:
            body += f"""  - slug: {slug}
    name: the same text, registered again
    collection: OpenWeb
    license: CC0-1.0
    reader: {{allow_outside: true, kind: jsonl, path: {folder / slug}}}
"""
    path = folder / "sources.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def add_copy(reg: Registry, folder: Path, slug: str, identifier: str, **flags: bool) -> None:
    """Register the Gutenberg text of *Boule de suif* verbatim under ``slug/identifier``."""
    text = show(reg, "gutenberg-fr/pg10746")["text"]
    (folder / slug).mkdir(parents=True, exist_ok=True)
    (folder / slug / "copy.jsonl").write_text(json.dumps({"id": identifier, "text": text}) + "\n", encoding="utf-8")
    sync_sources(reg, catalogue_path=write_catalogue(folder, **flags))
    ingest(reg, [slug], progress=False)


def kept(result: BuildResult) -> set[str]:
    return {f"{r['source']}/{r['identifier']}" for f in (result.out_dir / "data").rglob("*.parquet")
            for r in pq.read_table(f).to_pylist()}


@pytest.fixture
def boule(registry: Registry, tmp_path: Path, hub: HubServer) -> tuple[Registry, BuildResult, str]:
    sync_sources(registry, catalogue_path=write_catalogue(tmp_path))
    ingest(registry, progress=False)
    first = build_release(registry, parse_spec(SPEC), out_dir=tmp_path / "first", progress=False)
    # the two files of etext 10746 differ by a few bytes: near dedup keeps one
    assert kept(first) == {"gutenberg-fr/pg10746", "udhr/fr_French_Francais-Latin1"}
    repo = f"tester/boule-{uuid.uuid4().hex[:8]}"
    publish.push(registry, first.out_dir, repo_id=repo, endpoint=hub.url, progress=False)
    add_copy(registry, tmp_path, "copies", "boule-de-suif", copies=True)
    return registry, first, repo


def test_withdrawal_follows_the_text_and_names_the_releases(boule: tuple[Registry, BuildResult, str],
                                                           tmp_path: Path) -> None:
    reg, first, repo = boule
    result = withdraw(reg, ref="pg10746", reason="rights-holder request #5", by="Ana",
                      evidence="https://example.org/requests/5")
    why = {c.key: c.why for c in result.documents}
    assert set(why) == {"gutenberg-fr/pg10746", "gutenberg-variants/pg10746/10746", "copies/boule-de-suif"}
    assert why["gutenberg-fr/pg10746"] == "named"
    assert why["copies/boule-de-suif"].startswith("same text")
    assert why["gutenberg-variants/pg10746/10746"].startswith("near-duplicate of gutenberg-fr/pg10746")
    assert "in release boule 1" in why["gutenberg-variants/pg10746/10746"]
    assert [(r.name, r.version, r.hub_repo, r.hub_tag, r.pushed, r.documents) for r in result.releases] == [
        ("boule", "1", repo, "1", True, ["gutenberg-fr/pg10746"])]
    assert result.texts == 2  # the named text (the copy is the same text) and its near-duplicate

    # a copy registered after the withdrawal, under yet another identifier, is withdrawn on arrival
    add_copy(reg, tmp_path, "later", "suif", copies=True, later=True)
    assert show(reg, "later/suif", with_text=False)["status"] == "withdrawn"
    again = build_release(reg, parse_spec({**SPEC, "version": "2"}), out_dir=tmp_path / "again", progress=False)
    assert kept(again) == {"udhr/fr_French_Francais-Latin1"}
    assert again.registry_state != first.registry_state

    # the released copy fails its audit; so does any dataset holding the text under another name
    report = audit(reg, first.out_dir, progress=False)
    assert report.problem_counts.get("withdrawn") == 1
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(json.dumps({"id": "unrelated-name", "text": show(reg, "later/suif")["text"],
                                   "license": "CC0-1.0"}) + "\n", encoding="utf-8")
    report = audit(reg, foreign, progress=False)
    assert not report.ok and report.problem_counts.get("withdrawn") == 1
    assert "rights-holder request #5" in next(p.message for p in report.problems if p.kind == "withdrawn")
    # each covered document has its decision in the history, saying what it follows
    followed = show(reg, "copies/boule-de-suif", with_text=False)["decisions"]
    assert [(d["action"], d["by"]) for d in followed] == [("register", followed[0]["by"]), ("withdraw", "Ana")]
    assert "follows the withdrawal: same text" in followed[-1]["reason"]
    # withdrawing again records the copy that arrived since, and nothing twice
    assert withdraw(reg, ref="pg10746", reason="rights-holder request #5", by="Ana").count == 4
    assert [d["action"] for d in show(reg, "later/suif", with_text=False)["decisions"]] == ["register", "withdraw"]
    assert len(show(reg, "copies/boule-de-suif", with_text=False)["decisions"]) == 2


def test_only_this_withdraws_one_identifier(boule: tuple[Registry, BuildResult, str], tmp_path: Path) -> None:
    reg, first, _ = boule
    result = withdraw(reg, ref="copies/boule-de-suif", reason="duplicate registration", only_this=True, by="Ana")
    assert [c.key for c in result.documents] == ["copies/boule-de-suif"] and result.texts == 0
    assert result.releases == []  # the copy was never released
    again = build_release(reg, parse_spec({**SPEC, "version": "2"}), out_dir=tmp_path / "again", progress=False)
    assert kept(again) == kept(first)
    assert audit(reg, first.out_dir, progress=False).ok


def test_cli_prints_what_follows_and_where_it_was_released(boule: tuple[Registry, BuildResult, str]) -> None:
    reg, _, repo = boule
    r = CliRunner().invoke(cli, ["--db", reg.url, "withdraw", "gutenberg-variants/pg10746/10746",
                                 "--reason", "takedown", "--by", "Ana"])
    assert r.exit_code == 0, r.output
    assert "3 documents" in r.output
    assert "+ gutenberg-fr/pg10746: near-duplicate" in r.output and "+ copies/boule-de-suif: same text" in r.output
    assert f"boule 1: pushed to {repo} at tag 1" in r.output
    r = CliRunner().invoke(cli, ["--db", reg.url, "withdraw", "pg10746", "--reason", "x", "--evidence", "not a url"])
    assert r.exit_code == 2 and "not an http(s) URL" in r.output
