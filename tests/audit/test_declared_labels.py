"""The audit judges what a dataset declares: the policy applies to the label a row carries and to the
registry's licence (the stricter wins), labels are read at any depth (dolma / Common Pile files
without options), a declared label missing on a row is named with its file and line, and the
report shows the declared and registered licence mix side by side."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from corpus_registry.audit.auditor import audit
from corpus_registry.audit.policy import load_policy
from corpus_registry.audit.report import render_html, render_json, render_text
from corpus_registry.cli import cli
from corpus_registry.errors import AuditError
from corpus_registry.registry.lookup import show
from corpus_registry.registry.registry import Registry

from tests.audit.test_audit import PD_POLICY, copy_release, edit_rows, small_sqlite_release

COMMON_PILE_CC0 = "Creative Commons Zero - Public Domain - https://creativecommons.org/publicdomain/zero/1.0/"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    """The small registry of the audit tests and its release (read only here)."""
    reg, release = small_sqlite_release(tmp_path_factory.mktemp("declared"))
    yield reg, release
    reg.dispose()


def public_domain_rows(release: Path) -> list[dict]:
    return [r for f in sorted((release / "data").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()
            if r["license"] == "CC-PDM-1.0"]


def test_a_relabelled_row_fails_under_a_policy_that_denies_its_label(shared: tuple[Registry, Path],
                                                                      tmp_path: Path) -> None:
    reg, release = shared
    copy = copy_release(release, tmp_path / "relabelled")
    hit: dict[str, str] = {}

    def relabel(rows: list[dict]) -> list[dict] | None:
        i = next((i for i, r in enumerate(rows) if r["license"] == "CC-PDM-1.0"), None)
        if i is None:
            return None
        hit["identifier"] = rows[i]["identifier"]
        rows[i]["license"] = "CC-BY-NC-4.0"
        return rows

    edit_rows(copy, relabel)
    report = audit(reg, copy, policy=load_policy(PD_POLICY), progress=False)
    assert not report.ok
    (p,) = [p for p in report.problems if p.kind == "policy_violation" and p.identifier == hit["identifier"]]
    assert "labelled CC-BY-NC-4.0" in p.message and "denied" in p.message
    pairs = {(m["declared"], m["registered"]): m["documents"] for m in report.license_pairs}
    assert pairs[("CC-BY-NC-4.0", "CC-PDM-1.0")] == 1
    assert "CC-BY-NC-4.0" in report.card["carried"]  # what the rows carry: their labels
    assert {m["license"] for m in report.declared_mix} >= {"CC-BY-NC-4.0", "CC-PDM-1.0"}
    text = render_text(report)
    assert "DECLARED BY THE ROW" in text and "REGISTERED" in text
    line = next(line for line in text.splitlines() if line.strip().startswith("CC-BY-NC-4.0"))
    assert "rejected" in line and "CC-PDM-1.0" in line and "public_domain" in line
    assert '"license_pairs"' in render_json(report)
    assert 'id="declared-vs-registered"' in render_html(report)
    # with the default policy the NC label still fails: a rejected tier passes no policy
    assert any(p.kind == "policy_violation" and p.identifier == hit["identifier"]
               for p in audit(reg, copy, progress=False).problems)
    r = CliRunner().invoke(cli, ["--db", reg.url, "audit", str(copy), "--policy", str(PD_POLICY), "--no-progress"])
    assert r.exit_code == 1 and "FAIL" in r.output


def write_dolma(path: Path, records: list[dict]) -> Path:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def dolma(reg: Registry, release: Path, licences: list[str | None]) -> list[dict]:
    """Public-domain registered texts in dolma's layout, labelled ``licences`` under ``metadata``."""
    rows = public_domain_rows(release)[:len(licences)]
    return [{"id": r["identifier"], "text": r["text"], "source": "common-pile", "added": "2025-06-01",
             "metadata": {} if lic is None else {"license": lic}} for r, lic in zip(rows, licences)]


def test_dolma_files_are_audited_by_their_nested_labels_without_options(shared: tuple[Registry, Path],
                                                                        tmp_path: Path) -> None:
    reg, release = shared
    path = write_dolma(tmp_path / "cp-0000.json.gz", dolma(reg, release, ["CC-BY-NC-4.0", COMMON_PILE_CC0]))
    report = audit(reg, path, progress=False)
    assert not report.ok
    assert report.problem_counts.get("policy_violation") == 1 and "licence_mismatch" in report.problem_counts
    assert {(m["declared"], m["declared_tier"]) for m in report.license_pairs} == {
        ("CC-BY-NC-4.0", "rejected"), ("CC0-1.0", "public_domain")}
    only_cc0 = write_dolma(tmp_path / "cc0.jsonl", dolma(reg, release, [COMMON_PILE_CC0]))
    report = audit(reg, only_cc0, progress=False)
    assert report.problem_counts == {"licence_mismatch": 1}, report.problem_counts  # CC0 is not the PD mark
    assert report.ok


def test_a_declared_label_missing_on_a_row_is_named(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    path = write_dolma(tmp_path / "cp.jsonl", dolma(reg, release, ["CC0-1.0", None, "  "]))
    report = audit(reg, path, progress=False)
    missing = [p for p in report.problems if p.kind == "missing_licence_label"]
    assert [Path(p.where or "").name for p in missing] == ["cp.jsonl:2", "cp.jsonl:3"]
    assert "metadata.license" in missing[0].message and not report.ok


def test_license_field_option_reads_any_depth_in_parquet_and_jsonl(shared: tuple[Registry, Path],
                                                                   tmp_path: Path) -> None:
    reg, release = shared
    rows = public_domain_rows(release)[:2]
    table = pa.Table.from_pylist([{"text": r["text"], "id": r["identifier"],
                                   "info": {"rights": {"licence": lic}}} for r, lic in zip(rows, ["CC-BY-NC-4.0", "PD"])])
    pq.write_table(table, tmp_path / "nested.parquet")
    report = audit(reg, tmp_path / "nested.parquet", progress=False, license_field="info.rights.licence")
    assert {m["declared"] for m in report.license_pairs} == {"CC-BY-NC-4.0", "CC-PDM-1.0"}
    assert report.problem_counts.get("policy_violation") == 1
    assert audit(reg, tmp_path / "nested.parquet", progress=False).license_pairs[0]["declared"] == "(none)"
    with pytest.raises(AuditError, match="no field 'info.nothing'"):
        audit(reg, tmp_path / "nested.parquet", progress=False, license_field="info.nothing")
    r = CliRunner().invoke(cli, ["--db", reg.url, "audit", str(tmp_path / "nested.parquet"), "--no-progress",
                                 "--license-field", "info.rights.licence", "--format", "json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["problem_counts"]["policy_violation"] == 1
    r = CliRunner().invoke(cli, ["--db", reg.url, "audit", str(tmp_path / "nested.parquet"), "--no-progress",
                                 "--license-field", "info..licence"])
    assert r.exit_code == 2 and "--license-field" in r.output and "Traceback" not in r.output


def test_labels_in_other_spellings_match_the_registry(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    rows = public_domain_rows(release)[:1]
    spelt = [{"id": r["identifier"], "text": r["text"], "license": "Public Domain"} for r in rows]
    path = write_dolma(tmp_path / "spelt.jsonl", spelt)
    report = audit(reg, path, progress=False)
    assert report.ok and report.problem_counts == {}, report.problem_counts
    assert show(reg, rows[0]["identifier"], with_text=False)["license"] == "CC-PDM-1.0"
