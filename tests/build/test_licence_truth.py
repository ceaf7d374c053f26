"""A build ships only what today's licence decisions allow, without re-ingesting: a source relabel,
a per-document override, a review line added or cleared and a withdrawal each change what ships
and the registry-state digest, on SQLite and PostgreSQL. The manifest lists the decisions the
kept documents rest on, and the CLI's review commands record who decided, why and on what."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from corpus_registry.audit.auditor import audit
from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.release import read_manifest
from corpus_registry.build.spec import parse_spec
from corpus_registry.cli import cli
from corpus_registry.errors import DecisionError, NotFoundError, RegistryError
from corpus_registry.registry import decisions
from corpus_registry.registry.db.models import Decision, Document
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.lookup import show
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import list_sources, sync_sources
from corpus_registry.registry.withdraw import withdraw

from tests.conftest import DATA

UDHR = DATA / "nltk-udhr" / "udhr"
SPEC = {"name": "truth", "version": "1", "select": {"license_tiers": ["public_domain", "attribution"]},
        "filters": {"length": {"min_words": 50}}, "dedup": {"exact": True, "near": False}}
EVIDENCE = "https://www.ohchr.org/en/human-rights/universal-declaration/translations"


def catalogue(tmp_path: Path, *, by_license: str = "CC BY 4.0", by_documents: str = "") -> Path:
    """Two sources of real UDHR translations: three public domain, three under an attribution
    licence written the way people write it (the normaliser maps it)."""
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
sources:
  - slug: udhr-pd
    name: UDHR, public domain
    collection: OpenGovernment
    license: public-domain
    reader: {{allow_outside: true, kind: text, path: {UDHR}, glob: ["fr_*.txt", "en_*.txt", "de_*.txt"]}}
  - slug: udhr-by
    name: UDHR, attribution
    collection: OpenGovernment
    license: {by_license}
    reader: {{allow_outside: true, kind: text, path: {UDHR}, glob: ["es_*.txt", "it_*.txt", "nl_*.txt"]}}
{by_documents}""", encoding="utf-8")
    return path


def build(reg: Registry, tmp_path: Path, name: str) -> BuildResult:
    return build_release(reg, parse_spec(SPEC), out_dir=tmp_path / name, progress=False)


def shipped(result: BuildResult) -> dict[str, str]:
    """source/identifier → the licence column of every row shipped."""
    rows = [r for f in sorted((result.out_dir / "data").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return {f"{r['source']}/{r['identifier']}": r["license"] for r in rows}


@pytest.fixture
def udhr(registry: Registry, tmp_path: Path) -> tuple[Registry, BuildResult]:
    sync_sources(registry, catalogue_path=catalogue(tmp_path), by="catalogue author")
    ingest(registry, progress=False)
    first = build(registry, tmp_path, "first")
    assert shipped(first) == {**{f"udhr-pd/{i}": "CC-PDM-1.0" for i in (
        "de_German_Deutsch-Latin1", "en_English-Latin1", "fr_French_Francais-Latin1")},
        **{f"udhr-by/{i}": "CC-BY-4.0" for i in ("es_Spanish-Latin1", "it_Italian-Latin1", "nl_Dutch_Nederlands-Latin1")}}
    return registry, first


def test_a_source_relabelled_to_nc_ships_nothing(udhr: tuple[Registry, BuildResult], tmp_path: Path) -> None:
    reg, first = udhr
    result = sync_sources(reg, catalogue_path=catalogue(tmp_path, by_license="CC-BY-NC-4.0"), by="Ana")
    (d,) = result.decisions
    assert (d.source, d.action, d.by, d.from_license, d.to_license, d.to_tier) == (
        "udhr-by", "relabel", "Ana", "CC-BY-4.0", "CC-BY-NC-4.0", "rejected")
    assert {r.slug: r.license_tier for r in list_sources(reg)}["udhr-by"] == "rejected"
    second = build(reg, tmp_path, "second")  # no re-ingest
    assert set(shipped(second)) == {k for k in shipped(first) if k.startswith("udhr-pd/")}
    assert second.registry_state != first.registry_state
    funnel = {s["stage"]: s for s in read_manifest(second.out_dir)["counts"]["funnel"]}
    assert funnel["licence"]["docs_in"] - funnel["licence"]["docs_out"] == 3
    # the release built before the decision now fails its audit, row by row
    report = audit(reg, first.out_dir, progress=False)
    assert not report.ok and report.problem_counts["policy_violation"] == 3
    # and the stored standing shown to people follows the decision too
    record = show(reg, "udhr-by/es_Spanish-Latin1", with_text=False)
    assert (record["license"], record["license_tier"]) == ("CC-BY-NC-4.0", "rejected")
    with reg.session() as s:
        assert set(s.scalars(select(Document.license_tier).where(Document.license == "CC-BY-NC-4.0"))) == {"rejected"}


def test_override_review_and_clearance_each_take_effect(udhr: tuple[Registry, BuildResult], tmp_path: Path) -> None:
    reg, first = udhr
    override = "    documents:\n      es_Spanish-Latin1: {license: cc-by-nc-4.0}\n"
    sync_sources(reg, catalogue_path=catalogue(tmp_path, by_documents=override), by="Ana")
    relabelled = build(reg, tmp_path, "override")
    assert "udhr-by/es_Spanish-Latin1" not in shipped(relabelled) and len(shipped(relabelled)) == 5
    assert relabelled.registry_state != first.registry_state

    review = "    documents:\n      it_Italian-Latin1: {review: \"translator's rights not established\"}\n"
    sync_sources(reg, catalogue_path=catalogue(tmp_path, by_documents=review), by="Ana")
    held = build(reg, tmp_path, "review")
    assert set(shipped(first)) - set(shipped(held)) == {"udhr-by/it_Italian-Latin1"}  # es is back
    assert held.registry_state not in (first.registry_state, relabelled.registry_state)
    queue = decisions.review_queue(reg)
    assert [(i.id, i.reason) for i in queue] == [("udhr-by/it_Italian-Latin1", "translator's rights not established")]

    decided = decisions.clear(reg, source="udhr-by", identifier="it_Italian-Latin1", by="Bea",
                              reason="the OHCHR publishes it for reuse", evidence=EVIDENCE)
    assert (decided.action, decided.from_status, decided.to_status, decided.to_tier) == (
        "clear", "review", "cleared", "attribution")
    cleared = build(reg, tmp_path, "cleared")
    assert shipped(cleared) == shipped(first)
    assert cleared.registry_state != held.registry_state
    assert cleared.registry_state == first.registry_state  # the same licences as at first: the same state
    rests_on = read_manifest(cleared.out_dir)["decisions"]
    mine = [d for d in rests_on if d["identifier"] == "it_Italian-Latin1"]
    assert [(d["by"], d["action"], d["reason"], d["evidence"]) for d in mine] == [
        ("Bea", "clear", "the OHCHR publishes it for reuse", EVIDENCE)]
    assert {d["source"] for d in rests_on if d["identifier"] is None} == {"udhr-pd", "udhr-by"}

    # the unchanged catalogue (still holding the review line) does not undo the reviewer's decision
    again = sync_sources(reg, catalogue_path=catalogue(tmp_path, by_documents=review), by="Ana")
    assert again.decisions == [] and again.unchanged == ["udhr-pd", "udhr-by"]
    assert shipped(build(reg, tmp_path, "after-resync")) == shipped(first)
    history = decisions.history(reg, source="udhr-by", identifier="it_Italian-Latin1")
    assert [(d.action, d.by) for d in history] == [("register", "catalogue author"), ("review", "Ana"),
                                                   ("clear", "Bea")]


def test_a_withdrawal_changes_what_ships_and_the_digest(udhr: tuple[Registry, BuildResult], tmp_path: Path) -> None:
    reg, first = udhr
    result = withdraw(reg, ref="udhr-pd/en_English-Latin1", reason="takedown request #3", by="Ana")
    assert [r.name for r in result.releases] == ["truth"]
    after = build(reg, tmp_path, "after")
    assert set(shipped(first)) - set(shipped(after)) == {"udhr-pd/en_English-Latin1"}
    assert after.registry_state != first.registry_state
    assert [d.action for d in decisions.history(reg, source="udhr-pd", identifier="en_English-Latin1")] == [
        "register", "withdraw"]


def test_reject_and_clear_validate_what_they_record(udhr: tuple[Registry, BuildResult], tmp_path: Path) -> None:
    reg, _ = udhr
    with pytest.raises(DecisionError, match="needs a reason"):
        decisions.reject(reg, source="udhr-by", identifier="nl_Dutch_Nederlands-Latin1", reason="  ", by="Ana")
    with pytest.raises(DecisionError, match="not an http"):
        decisions.reject(reg, source="udhr-by", reason="x", evidence="javascript:alert(1)", by="Ana")
    with pytest.raises(DecisionError, match="control character"):
        decisions.reject(reg, source="udhr-by", reason="bad\x00reason", by="Ana")
    with pytest.raises(NotFoundError):
        decisions.clear(reg, source="udhr-by", identifier="no-such-document", reason="x", by="Ana")
    with pytest.raises(NotFoundError):
        decisions.clear(reg, source="no-such-source", reason="x", by="Ana")
    with pytest.raises(DecisionError, match="rejected, so clearing it"):
        decisions.clear(reg, source="udhr-by", license="CC-BY-NC-4.0", reason="x", by="Ana")
    assert [d.action for d in decisions.history(reg, source="udhr-by")] == ["register"]  # nothing half-written
    rejected = decisions.reject(reg, source="udhr-by", reason="the rights holder says no", by="Ana")
    assert rejected.to_tier == "rejected" and {r.slug: r.license_tier for r in list_sources(reg)}["udhr-by"] == "rejected"
    # a document a person clears stands even though its source is rejected (document > source)
    decisions.clear(reg, source="udhr-by", identifier="nl_Dutch_Nederlands-Latin1", license="CC0 1.0 Universal",
                    reason="the Dutch text was dedicated to the public domain", evidence=EVIDENCE, by="Bea")
    kept = shipped(build(reg, tmp_path, "rejected"))
    assert kept["udhr-by/nl_Dutch_Nederlands-Latin1"] == "CC0-1.0"
    assert not any(k.startswith("udhr-by/") and k != "udhr-by/nl_Dutch_Nederlands-Latin1" for k in kept)


def test_decisions_are_append_only_in_the_database(udhr: tuple[Registry, BuildResult]) -> None:
    reg, _ = udhr
    for statement in ("UPDATE decisions SET reason = 'rewritten'", "DELETE FROM decisions"):
        with pytest.raises(RegistryError, match="append-only"), reg.session() as s:
            s.execute(text(statement))
    with reg.session() as s:
        assert s.scalar(select(Decision.reason).where(Decision.identifier.is_(None)).limit(1)) == \
            "registered from sources.yaml"


def test_review_cli_records_who_cleared_and_show_prints_it(udhr: tuple[Registry, BuildResult], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reg, _ = udhr
    runner = CliRunner()
    review = "    documents:\n      it_Italian-Latin1: {review: \"translator's rights not established\"}\n"
    r = runner.invoke(cli, ["--db", reg.url, "sources", "sync", str(catalogue(tmp_path, by_documents=review)),
                            "--by", "Ana"])
    assert r.exit_code == 0 and "Ana (catalogue) review udhr-by/it_Italian-Latin1" in r.output, r.output
    r = runner.invoke(cli, ["--db", reg.url, "review", "list"])
    assert r.exit_code == 0 and "udhr-by/it_Italian-Latin1" in r.output and "rights not established" in r.output
    r = runner.invoke(cli, ["--db", reg.url, "review", "list", "--json"])
    assert [i["id"] for i in json.loads(r.output)] == ["udhr-by/it_Italian-Latin1"]
    r = runner.invoke(cli, ["--db", reg.url, "review", "clear", "it_Italian-Latin1", "--reason", "x",
                            "--evidence", "ftp://example.org/x", "--by", "Bea"])
    assert r.exit_code == 2 and r.output.startswith("Error: evidence") and "Traceback" not in r.output
    monkeypatch.setenv(decisions.ENV_REVIEWER, "Bea Reviewer")
    r = runner.invoke(cli, ["--db", reg.url, "review", "clear", "it_Italian-Latin1", "--reason",
                            "the OHCHR publishes every translation for reuse", "--evidence", EVIDENCE])
    assert r.exit_code == 0 and "Bea Reviewer (review) clear udhr-by/it_Italian-Latin1" in r.output, r.output
    r = runner.invoke(cli, ["--db", reg.url, "show", "udhr-by/it_Italian-Latin1", "--no-text"])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    cleared = next(line for line in lines if " clear udhr-by/it_Italian-Latin1" in line)
    assert "Bea Reviewer" in cleared and "publishes every translation for reuse" in cleared and EVIDENCE in cleared
    assert any("Ana (catalogue) review" in line for line in lines)
    r = runner.invoke(cli, ["--db", reg.url, "review", "list"])
    assert "Nothing waits on a review" in r.output
    r = runner.invoke(cli, ["--db", reg.url, "review", "reject", "--source", "udhr-by", "--reason",
                            "the rights holder objected", "--json"])
    data = json.loads(r.output)
    assert (data["source"], data["identifier"], data["to_status"], data["by"]) == (
        "udhr-by", None, "rejected", "Bea Reviewer")
    r = runner.invoke(cli, ["--db", reg.url, "review", "reject", "--reason", "x"])
    assert r.exit_code == 2 and "--source" in r.output


def test_exact_dedup_keeps_the_cc0_copy(registry: Registry, tmp_path: Path) -> None:
    """The same UDHR text registered twice: first (by key, date and length alike) under CC-BY-SA,
    then under CC0. The release keeps the CC0 copy."""
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
sources:
  - slug: a-share-alike
    name: UDHR under CC BY-SA
    collection: OpenGovernment
    license: CC BY-SA 4.0
    reader: {{allow_outside: true, kind: text, path: {UDHR}, glob: "fr_*.txt"}}
  - slug: z-cc0
    name: the same UDHR under CC0
    collection: OpenGovernment
    license: CC0
    reader: {{allow_outside: true, kind: text, path: {UDHR}, glob: "fr_*.txt"}}
""", encoding="utf-8")
    sync_sources(registry, catalogue_path=path)
    ingest(registry, progress=False)
    spec = {**SPEC, "select": {"license_tiers": ["public_domain", "attribution", "share_alike"]}}
    for near in (False, True):
        result = build_release(registry, parse_spec({**spec, "version": str(int(near)),
                                                     "dedup": {"exact": True, "near": near}}),
                               out_dir=tmp_path / f"near-{near}", progress=False)
        assert shipped(result) == {"z-cc0/fr_French_Francais-Latin1": "CC0-1.0"}


def test_a_source_held_for_review_is_one_item_of_the_queue(udhr: tuple[Registry, BuildResult],
                                                          tmp_path: Path) -> None:
    reg, first = udhr
    path = catalogue(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    license: CC BY 4.0\n", "    license: CC BY 4.0\n    review: the translations' rights are not established\n"),
        encoding="utf-8")
    sync_sources(reg, catalogue_path=path, by="Ana")
    (item,) = decisions.review_queue(reg)
    assert (item.id, item.documents, item.reason) == ("udhr-by", 3, "the translations' rights are not established")
    assert set(shipped(build(reg, tmp_path, "held"))) == {k for k in shipped(first) if k.startswith("udhr-pd/")}
    decisions.clear(reg, source="udhr-by", identifier="nl_Dutch_Nederlands-Latin1", reason="OHCHR text",
                    evidence=EVIDENCE, by="Bea")
    assert [(i.id, i.documents) for i in decisions.review_queue(reg)] == [("udhr-by", 2)]
    decisions.clear(reg, source="udhr-by", reason="OHCHR publishes them all for reuse", evidence=EVIDENCE, by="Bea")
    assert decisions.review_queue(reg) == []
    assert shipped(build(reg, tmp_path, "cleared")) == shipped(first)
