"""Audits of real releases built from a small fresh registry (the Code civil under etalab-2.0, two
public-domain Gutenberg books): a clean release passes, each kind of tampering is named, a
withdrawal is flagged in old releases and left out of new builds, and the Hub copy audits like
the local folder."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from corpus_registry.audit.auditor import INLINE_BELOW, AuditReport, audit
from corpus_registry.audit.policy import Policy, load_policy
from corpus_registry.audit.report import render_json, render_text
from corpus_registry.audit.targets import plan_slices, resolve_target, slice_batches
from corpus_registry.build.builder import build_release
from corpus_registry.build.release import SCHEMA, read_manifest
from corpus_registry.build.spec import parse_spec
from corpus_registry.cli import cli
from corpus_registry.errors import AuditError, ConfigError, DecisionError, NotFoundError
from corpus_registry.executors import LocalExecutor
from corpus_registry.registry.db.models import Document, Source, Withdrawal
from corpus_registry.registry.documents import normalize_text
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from corpus_registry.registry.withdraw import withdraw

from tests.conftest import DATA, REPO

CODE_CIVIL = "legifrance-code-civil"
# The small registry: the Code civil (etalab-2.0, attribution required), two public-domain
# Gutenberg books, and two UDHR translations whose registered texts are not a fixed point of
# normalize_text (an audit must still recognise them verbatim).
CATALOGUE = f"""
sources:
  - slug: {CODE_CIVIL}
    name: Code civil (Légifrance, base LEGI)
    collection: OpenGovernment
    license: etalab-2.0
    attribution: "Légifrance (DILA), base LEGI"
    reader:
      kind: markdown
      path: {DATA / "legifrance-code-civil" / "code-civil"}
      allow_outside: true
      glob: "**/*.md"
  - slug: gutenberg-en
    name: Project Gutenberg — two English books
    collection: OpenCulture
    license: public-domain
    reader:
      kind: gutenberg
      path: {DATA / "gutenberg-en-de-es-it"}
      allow_outside: true
      glob: "en/*/*.txt"
  - slug: nltk-udhr
    name: UDHR in Bengali and Hindi (their files start with blanks before a BOM)
    collection: OpenGovernment
    license: public-domain
    reader:
      kind: text
      path: {DATA / "nltk-udhr" / "udhr"}
      allow_outside: true
      glob: ["bn_*.txt", "hi_*.txt"]
"""
SPEC = {"name": "audit-small", "version": "1.0.0",
        "select": {"license_tiers": ["public_domain", "attribution"]},
        "dedup": {"exact": True, "near": False}}
FOREIGN_TEXT = DATA / "nltk-udhr" / "udhr" / "fr_French_Francais-Latin1.txt"
PD_POLICY = REPO / "specs" / "policy-public-domain-only.yaml"


def make_small_registry(reg: Registry, folder: Path) -> Registry:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.yaml").write_text(CATALOGUE, encoding="utf-8")
    sync_sources(reg, catalogue_path=folder / "sources.yaml")
    ingest(reg, progress=False)
    return reg


def build(reg: Registry, out: Path, **spec: object) -> Path:
    build_release(reg, parse_spec({**SPEC, **spec}), out_dir=out, progress=False)
    return out


@pytest.fixture
def small(registry: Registry, tmp_path: Path) -> tuple[Registry, Path]:
    """A fresh registry on each backend and a release built from it."""
    reg = make_small_registry(registry, tmp_path / "catalogue")
    return reg, build(reg, tmp_path / "release")


def small_sqlite_release(tmp: Path) -> tuple[Registry, Path]:
    """The small registry in a SQLite file under ``tmp``, and a release built from it."""
    reg = Registry(f"sqlite:///{tmp / 'registry.db'}")
    reg.init(store=str(tmp / "store"))
    make_small_registry(reg, tmp / "catalogue")
    return reg, build(reg, tmp / "release")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    """One SQLite registry and release for the tests that only read the registry."""
    reg, release = small_sqlite_release(tmp_path_factory.mktemp("audit-shared"))
    yield reg, release
    reg.dispose()


sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


def run(reg: Registry, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", reg.url, *args], catch_exceptions=False)
    return result.exit_code, result.output


def shards(folder: Path) -> list[Path]:
    return sorted((folder / "data").rglob("*.parquet"))


def edit_rows(folder: Path, change: Callable[[list[dict]], list[dict] | None]) -> None:
    """Rewrite the first shard whose rows ``change`` modifies (returns new rows, or None to skip)."""
    for shard in shards(folder):
        rows = pq.read_table(shard).to_pylist()
        new = change(rows)
        if new is not None:
            pq.write_table(pa.Table.from_pylist(new, schema=SCHEMA), shard)
            return
    raise AssertionError("no shard was changed")


def copy_release(release: Path, dest: Path) -> Path:
    shutil.copytree(release, dest)
    return dest


def first_code_civil(rows: list[dict]) -> int | None:
    return next((i for i, r in enumerate(rows) if r["source"] == CODE_CIVIL), None)


def kinds(report: AuditReport) -> dict[str, int]:
    return dict(report.problem_counts)


# -- a clean release ----------------------------------------------------------------------


def test_clean_release_audits_clean_and_matches_manifest(small: tuple[Registry, Path]) -> None:
    reg, release = small
    manifest = read_manifest(release)
    report = audit(reg, release, progress=False)
    assert report.ok and report.problem_counts == {}, render_text(report)
    assert report.kind == "release"
    assert report.rows == report.known == manifest["counts"]["kept"]
    assert report.license_mix == manifest["license_mix"]
    assert {m["license"] for m in report.license_mix} == {"etalab-2.0", "CC-PDM-1.0"}
    etalab = next(m["documents"] for m in report.license_mix if m["license"] == "etalab-2.0")
    assert report.attribution == {"file": "ATTRIBUTION.md", "required": etalab, "credited": etalab, "missing": 0}
    assert sum(v["documents"] for v in report.by_source.values()) == report.rows
    assert set(report.by_language) == {"fr", "en", "bn", "hi"}

    code, out = run(reg, "audit", str(release), "--no-progress")
    assert code == 0, out
    assert "PASS" in out and "etalab-2.0" in out


def test_same_release_as_jsonl_glob_and_single_shard(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    jsonl = tmp_path / "rows.jsonl"
    with jsonl.open("w", encoding="utf-8") as f:
        for shard in shards(release):
            for row in pq.read_table(shard).to_pylist():
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    manifest = read_manifest(release)
    as_jsonl = audit(reg, jsonl, progress=False)
    # No card or attribution file beside a bare JSONL: the credit check cannot pass.
    assert kinds(as_jsonl) == {"no_attribution_file": 1}
    assert as_jsonl.license_mix == manifest["license_mix"]
    assert as_jsonl.kind == "files"

    globbed = audit(reg, f"{release}/data/*/*.parquet", progress=False)
    assert globbed.ok, render_text(globbed)
    assert globbed.license_mix == manifest["license_mix"]
    assert globbed.attribution["file"] == "ATTRIBUTION.md"  # found at the release root

    one = shards(release)[0]
    single = audit(reg, one, progress=False)
    assert single.rows == pq.ParquetFile(one).metadata.num_rows
    assert kinds(single) in ({}, {"manifest_mismatch": 1})


# -- each kind of tampering is named ------------------------------------------------------


def test_altered_text_is_named(small: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = small
    copy = copy_release(release, tmp_path / "altered")
    hit: dict[str, str] = {}

    def alter(rows: list[dict]) -> list[dict] | None:
        i = first_code_civil(rows)
        if i is None:
            return None
        hit["identifier"] = rows[i]["identifier"]
        rows[i]["text"] += "\n\nCet alinéa a été ajouté après la publication."
        return rows

    edit_rows(copy, alter)
    report = audit(reg, copy, progress=False)
    assert kinds(report) == {"text_altered": 1, "shard_modified": 1}
    (p,) = [p for p in report.problems if p.kind == "text_altered"]
    assert (p.source, p.identifier, p.severity) == (CODE_CIVIL, hit["identifier"], "error")
    assert report.license_mix == read_manifest(release)["license_mix"]  # still counted as its document

    code, out = run(reg, "audit", str(copy), "--no-progress")
    assert code == 1
    assert "text_altered" in out and hit["identifier"] in out and "FAIL" in out


def relabel_first_code_civil(release: Path, licence: str = "CC0-1.0") -> str:
    """Relabel the first Code civil row of ``release`` (a more permissive licence); return its identifier."""
    hit: dict[str, str] = {}

    def relabel(rows: list[dict]) -> list[dict] | None:
        i = first_code_civil(rows)
        if i is None:
            return None
        hit["identifier"] = rows[i]["identifier"]
        rows[i]["license"] = licence
        return rows

    edit_rows(release, relabel)
    return hit["identifier"]


def test_relabelled_licence_is_laundering(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    copy = copy_release(release, tmp_path / "relabelled")
    hit = {"identifier": relabel_first_code_civil(copy)}
    report = audit(reg, copy, progress=False)
    # the rows now carry a licence the manifest does not list
    assert kinds(report) == {"licence_laundering": 1, "shard_modified": 1, "manifest_mismatch": 1,
                             "card_licence_mismatch": 1}  # the card names its licences, not this one
    (p,) = [p for p in report.problems if p.kind == "licence_laundering"]
    assert (p.identifier, p.license, p.registry_license) == (hit["identifier"], "CC0-1.0", "etalab-2.0")

    code, out = run(reg, "audit", str(copy), "--no-progress")
    assert code == 1 and "licence_laundering" in out and hit["identifier"] in out


def test_row_from_outside_the_registry_is_named(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    copy = copy_release(release, tmp_path / "foreign")
    text = normalize_text(FOREIGN_TEXT.read_bytes().decode("latin-1"))

    def add(rows: list[dict]) -> list[dict]:
        extra = dict(rows[0], identifier="udhr-fr", source="somewhere-else", license="CC-BY-4.0", text=text,
                     sha256=None, word_count=None)
        return [*rows, extra]

    edit_rows(copy, add)
    report = audit(reg, copy, progress=False)
    # the card lists its licences (etalab-2.0, other): a CC-BY-4.0 row is one it does not declare
    assert kinds(report) == {"unknown_document": 1, "shard_modified": 1, "manifest_mismatch": 1,
                             "row_count_mismatch": 2, "card_licence_mismatch": 1}  # the shard's rows and the release's
    (p,) = [p for p in report.problems if p.kind == "unknown_document"]
    assert (p.identifier, p.source, p.license) == ("udhr-fr", "somewhere-else", "CC-BY-4.0")
    assert report.unknown == 1 and report.known == report.rows - 1
    assert list(report.unknown_by_license) == ["CC-BY-4.0"]
    assert report.by_source["somewhere-else"]["documents"] == 1

    code, out = run(reg, "audit", str(copy), "--no-progress")
    assert code == 1 and "unknown_document" in out and "udhr-fr" in out
    # A policy that accepts unknown documents judges them by their own licence column instead.
    lenient = Policy(allow_unknown_documents=True)
    errors = {p.kind for p in audit(reg, copy, policy=lenient, progress=False).problems if p.severity == "error"}
    assert errors == {"shard_modified", "manifest_mismatch", "row_count_mismatch"}  # the release's, not the row's
    strict = Policy(allow_unknown_documents=True, tiers=["public_domain"])
    assert "CC-BY-4.0" in str([p.message for p in audit(reg, copy, policy=strict, progress=False).problems
                               if p.kind == "policy_violation" and p.identifier == "udhr-fr"])


def test_withdrawal_flags_old_releases_and_leaves_new_builds(small: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = small
    rows = [r for s in shards(release) for r in pq.read_table(s).to_pylist() if r["source"] == CODE_CIVIL]
    target = rows[3]["identifier"]

    code, out = run(reg, "withdraw", f"{CODE_CIVIL}/{target}", "--reason", "takedown request #12")
    assert code == 0 and "1 document" in out, out
    with reg.session() as s:
        statuses = set(s.scalars(select(Document.status).where(Document.identifier == target)))
        withdrawals = s.execute(select(Withdrawal.document_identifier, Withdrawal.reason, Withdrawal.sha256)).all()
        text = s.scalar(select(Document.sha256).where(Document.identifier == target))
    assert statuses == {"withdrawn"}
    # the document, and its text under any identifier
    assert sorted(withdrawals, key=lambda w: w[2] or "") == [(target, "takedown request #12", None),
                                                             (target, "takedown request #12", text)]

    report = audit(reg, release, progress=False)
    assert kinds(report) == {"withdrawn": 1}
    (p,) = report.problems
    assert (p.identifier, p.source) == (target, CODE_CIVIL) and "takedown request #12" in p.message
    code, out = run(reg, "audit", str(release), "--no-progress")
    assert code == 1 and target in out and "withdrawn" in out

    # The next build leaves it out at its "withdrawn" stage; that release audits clean.
    rebuilt = build(reg, tmp_path / "rebuilt", version="1.0.1")
    manifest = read_manifest(rebuilt)
    stage = next(s for s in manifest["counts"]["funnel"] if s["stage"] == "withdrawn")
    assert stage["docs_in"] - stage["docs_out"] == 1
    kept = {r["identifier"] for s in shards(rebuilt) for r in pq.read_table(s).to_pylist()}
    assert target not in kept and manifest["counts"]["kept"] == read_manifest(release)["counts"]["kept"] - 1
    assert audit(reg, rebuilt, progress=False).ok


@sqlite_only
def test_withdraw_a_source(small: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = small
    assert withdraw(reg, source="gutenberg-en", reason="rights holder objected").count == 2
    again = withdraw(reg, source="gutenberg-en", reason="rights holder objected")  # idempotent
    assert again.count == 2 and again.texts == 2
    assert [(r.name, r.version, r.pushed) for r in again.releases] == [("audit-small", "1.0.0", False)]
    with reg.session() as s:
        assert s.scalar(select(Source.status).where(Source.slug == "gutenberg-en")) == "withdrawn"
        assert s.execute(select(Withdrawal.document_identifier, Withdrawal.reason)
                         .where(Withdrawal.sha256.is_(None))).all() == [(None, "rights holder objected")]
        assert len(s.scalars(select(Withdrawal.sha256).where(Withdrawal.sha256.is_not(None))).all()) == 2
    report = audit(reg, release, progress=False)
    assert kinds(report) == {"withdrawn": 2}
    assert {p.source for p in report.problems} == {"gutenberg-en"}
    rebuilt = build(reg, tmp_path / "rebuilt", version="1.0.1")
    assert {r["source"] for s in shards(rebuilt) for r in pq.read_table(s).to_pylist()} == {
        CODE_CIVIL, "nltk-udhr"}


@sqlite_only
def test_withdraw_arguments(small: tuple[Registry, Path]) -> None:
    reg, _ = small
    with pytest.raises(ValueError):
        withdraw(reg, reason="x")
    with pytest.raises(ValueError):
        withdraw(reg, ref="a", source="b", reason="x")
    with pytest.raises(DecisionError):
        withdraw(reg, source="gutenberg-en", reason="  ")
    with pytest.raises(NotFoundError):
        withdraw(reg, source="no-such-source", reason="x")
    code, out = run(reg, "withdraw", "no-such-document", "--reason", "x")
    assert code == 2 and out.startswith("Error: no document 'no-such-document'")
    code, out = run(reg, "withdraw", "--reason", "x")
    assert code == 2 and "IDENTIFIER or --source" in out


# -- dataset-level checks -----------------------------------------------------------------


def test_attribution_file_and_card(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    copy = copy_release(release, tmp_path / "uncredited")
    lines = (copy / "ATTRIBUTION.md").read_text(encoding="utf-8").splitlines()
    dropped = next(line for line in lines if line.startswith("- `"))
    (copy / "ATTRIBUTION.md").write_text("\n".join(line for line in lines if line != dropped) + "\n",
                                         encoding="utf-8")
    report = audit(reg, copy, progress=False)
    assert kinds(report) == {"missing_attribution": 1, "file_modified": 1}
    assert f"`{report.problems[0].identifier}`" in dropped

    (copy / "ATTRIBUTION.md").unlink()
    report = audit(reg, copy, progress=False)
    assert kinds(report) == {"no_attribution_file": 1, "file_modified": 1}
    assert report.attribution["missing"] == report.attribution["required"] > 0

    card = copy / "README.md"
    text = card.read_text(encoding="utf-8")
    assert "license:\n- etalab-2.0\n- other\n" in text  # etalab-2.0, and CC-PDM-1.0 as other
    card.write_text(text.replace("license:\n- etalab-2.0\n- other\n", "license: cc0-1.0\n", 1), encoding="utf-8")
    report = audit(reg, copy, progress=False)
    assert "card_licence_laundering" in kinds(report)
    assert report.card["declared"] == ["cc0-1.0"]


def test_policy_public_domain_only(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    report = audit(reg, release, policy=load_policy(PD_POLICY), progress=False)
    etalab = next(m["documents"] for m in report.license_mix if m["license"] == "etalab-2.0")
    assert kinds(report) == {"policy_violation": etalab}
    assert all(p.registry_license == "etalab-2.0" for p in report.problems)
    code, out = run(reg, "audit", str(release), "--policy", str(PD_POLICY), "--format", "json",
                    "--no-progress", "--max-problems", "5")
    assert code == 1
    data = json.loads(out[: out.rindex("}") + 1])
    assert data["ok"] is False and data["problem_counts"] == {"policy_violation": etalab}
    assert len(data["problems"]) == 5 and data["policy"]["name"] == "public-domain-only"


def test_json_output_and_attribution_export(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    out_file, credits = tmp_path / "report.json", tmp_path / "credits.md"
    code, out = run(reg, "audit", str(release), "--format", "json", "--output", str(out_file),
                    "--attribution", str(credits), "--no-progress")
    assert code == 0, out
    data = json.loads(out_file.read_text(encoding="utf-8"))
    assert data["ok"] is True and data["errors"] == 0
    assert data["license_mix"] == read_manifest(release)["license_mix"]
    exported = credits.read_text(encoding="utf-8")
    assert exported == (release / "ATTRIBUTION.md").read_text(encoding="utf-8")


# -- clear one-line errors ----------------------------------------------------------------


def test_errors_are_one_line(shared: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = shared
    code, out = run(reg, "audit", str(tmp_path / "nowhere"), "--no-progress")
    assert code == 2 and out.startswith("Error: ") and "no such file or folder" in out

    no_text = tmp_path / "no-text.jsonl"
    no_text.write_text('{"id": "a", "text": "Un texte."}\n{"id": "b", "license": "CC0-1.0"}\n', encoding="utf-8")
    code, out = run(reg, "audit", str(no_text), "--no-progress")
    assert code == 2 and "no-text.jsonl:2: no text" in out

    null_text = tmp_path / "null-text.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["Un texte.", None]}), null_text)
    with pytest.raises(AuditError, match=r"null-text.parquet row 2: no text"):
        audit(reg, null_text, progress=False)

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(AuditError, match="cannot read as Parquet"):
        audit(reg, broken, progress=False)

    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text("name: strict\ntiers: [public_domain]\nshare_alike: false\n", encoding="utf-8")
    code, out = run(reg, "audit", str(release), "--policy", str(bad_policy), "--no-progress")
    assert code == 2 and "policy.yaml: share_alike: Extra inputs are not permitted" in out
    bad_policy.write_text("tiers: [public_domain\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_policy(bad_policy)
    bad_policy.write_text("tiers: [review]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="tiers"):
        load_policy(bad_policy)
    bad_policy.write_text("allow: [not-a-licence]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="allow"):
        load_policy(bad_policy)

    with pytest.raises(AuditError, match="--revision applies to Hub targets only"):
        audit(reg, release, revision="1.0.0", progress=False)


def test_policy_semantics() -> None:
    pd_only = load_policy(PD_POLICY)
    assert pd_only.check("CC0-1.0") is None
    assert pd_only.check("CC0-1.0 OR MIT") is None  # one passing branch is enough
    assert "MIT" in (pd_only.check("CC0-1.0 AND MIT") or "")  # every part must pass
    assert pd_only.check("CC-PDM-1.0", tier="review") is not None  # held for review in the registry
    no_gpl = Policy(deny=["GPL-3.0-only"])
    assert no_gpl.check("GPL-3.0-only OR MIT") is None
    assert "denied" in (no_gpl.check("GPL-3.0-only") or "")
    only = Policy(allow=["etalab-2.0", "CC0-1.0"])
    assert only.check("etalab-2.0") is None and "allow-list" in (only.check("MIT") or "")
    assert Policy().check("LicenseRef-Unknown") is not None


# -- the Hub copy audits like the local folder --------------------------------------------


def test_hub_release_audits_like_the_local_folder(shared: tuple[Registry, Path], hub) -> None:
    from corpus_registry.hub import push_release

    reg, release = shared
    repo = f"tester/audit-{uuid.uuid4().hex[:8]}"
    push_release(release, repo_id=repo, endpoint=hub.url, progress=False)
    local = audit(reg, release, progress=False)
    remote = audit(reg, f"hf://datasets/{repo}", revision="1.0.0", endpoint=hub.url, progress=False)
    assert remote.kind == "hub" and remote.revision == "1.0.0" and remote.commit
    volatile = ("target", "kind", "revision", "commit", "seconds", "rows_per_s")

    def strip(r: AuditReport) -> dict[str, Any]:
        return {k: v for k, v in r.to_dict().items() if k not in volatile}

    assert strip(remote) == strip(local)
    assert remote.files == local.files

    code, out = run(reg, "audit", "--hub", repo, "--revision", "1.0.0", "--no-progress")
    assert code == 0 and "PASS" in out, out
    code, out = run(reg, "audit", "--hub", repo, "--revision", "9.9.9", "--no-progress")
    assert code == 2 and "no revision '9.9.9'" in out
    code, out = run(reg, "audit", "--hub", "tester/no-such-repo", "--no-progress")
    assert code == 2 and "no such dataset repository" in out
    code, out = run(reg, "audit", "--hub", repo, "--endpoint", "http://127.0.0.1:9", "--no-progress")
    assert code == 2 and "cannot reach the Hub at http://127.0.0.1:9" in out and "Traceback" not in out


# -- any number of workers, any executor: the same report ---------------------------------


def plant_problems(reg: Registry, release: Path, dest: Path) -> Path:
    """A copy of ``release`` with one problem of each row-level kind: an altered text (three times,
    far apart, so its anchors are numbered across tasks), a relabelled licence, a row from outside
    the registry, a credit removed; and one of its documents withdrawn from ``reg``."""
    copy = copy_release(release, dest)
    fr = next(s for s in shards(copy) if first_code_civil(pq.read_table(s).to_pylist()) is not None)
    rows = pq.read_table(fr).to_pylist()
    assert len(rows) > 400 and all(r["source"] == CODE_CIVIL for r in rows)
    altered = dict(rows[0], text=rows[0]["text"] + "\n\nCet alinéa a été ajouté après la publication.")
    foreign = dict(rows[1], identifier="udhr-fr", source="somewhere-else", license="CC-BY-4.0", sha256=None,
                   word_count=None, text=normalize_text(FOREIGN_TEXT.read_bytes().decode("latin-1")))
    rows[0] = altered
    rows[5] = dict(rows[5], license="CC0-1.0")
    rows = [*rows[:300], altered, foreign, *rows[300:], altered]
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), fr, row_group_size=100)
    uncredited = rows[40]["identifier"]
    lines = (copy / "ATTRIBUTION.md").read_text(encoding="utf-8").splitlines()
    (copy / "ATTRIBUTION.md").write_text("\n".join(x for x in lines if f"`{uncredited}`" not in x) + "\n",
                                         encoding="utf-8")
    withdraw(reg, ref=f"{CODE_CIVIL}/{rows[200]['identifier']}", reason="takedown request #7")
    return copy


def as_jsonl(folder: Path, dest: Path, *, copies: int = 1) -> Path:
    """The rows of ``folder``'s shards (``copies`` times over) as JSONL, with blank lines here and there."""
    rows = [r for s in shards(folder) for r in pq.read_table(s).to_pylist()]
    with dest.open("w", encoding="utf-8") as f:
        for n in range(copies * len(rows)):
            f.write(json.dumps(rows[n % len(rows)], ensure_ascii=False) + ("\n\n" if n % 7 == 3 else "\n"))
    return dest


def comparable(report: AuditReport) -> dict[str, Any]:
    """The JSON report without its timings."""
    data = json.loads(render_json(report))
    del data["seconds"], data["rows_per_s"]
    return data


class CountingExecutor(LocalExecutor):
    """The real local executor (spawned worker processes), counting the tasks it is given."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.tasks = 0

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        listed = list(tasks)
        self.tasks += len(listed)
        return super().map(fn, listed)


def test_any_number_of_workers_gives_the_same_report(small: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, release = small
    planted = plant_problems(reg, release, tmp_path / "planted")
    jsonl = as_jsonl(planted, tmp_path / "planted.jsonl")
    ex = CountingExecutor(2)
    try:
        for target, policy, cap in ((planted, None, 1000), (planted, load_policy(PD_POLICY), 3), (jsonl, None, 2)):
            one = audit(reg, target, policy=policy, max_problems=cap, collect_attribution=True, progress=False)
            before = ex.tasks
            two = audit(reg, target, policy=policy, max_problems=cap, collect_attribution=True, progress=False,
                        executor=ex, inline_below=0, batch_size=50)
            assert ex.tasks - before >= 6  # small tasks, spread over two worker processes
            assert comparable(two) == comparable(one)
            assert two.attribution_entries == one.attribution_entries and one.attribution_entries
        # The planted problems are all there (the last report is the JSONL's, capped at 2 per kind).
        planted_report = audit(reg, planted, progress=False)
        assert kinds(planted_report) == {"text_altered": 3, "licence_laundering": 1, "unknown_document": 1,
                                         "withdrawn": 1, "missing_attribution": 1, "shard_modified": 1,
                                         "manifest_mismatch": 1, "duplicate_row": 2, "file_modified": 1,
                                         "row_count_mismatch": 2, "card_licence_mismatch": 1}
        altered = [p.anchor for p in planted_report.problems if p.kind == "text_altered"]
        assert altered[1:] == [f"{altered[0]}-2", f"{altered[0]}-3"]
        assert kinds(two) == {"text_altered": 3, "licence_laundering": 1, "unknown_document": 1, "withdrawn": 1,
                              "no_attribution_file": 1, "duplicate_row": 2}
        lines = jsonl.read_text(encoding="utf-8").splitlines()
        where = [f"{jsonl}:{n}" for n, line in enumerate(lines, start=1) if "ajouté après la publication" in line]
        assert len(where) == 3  # line numbers count the blank lines
        assert [p.where for p in two.problems if p.kind == "text_altered"] == where[:2]
        # A small target is checked in this process whatever the executor.
        before = ex.tasks
        assert comparable(audit(reg, planted, executor=ex, progress=False)) == comparable(planted_report)
        assert ex.tasks == before
        # An unreadable row deep in the file fails the same way from a worker.
        deep = len(lines) - 20  # past the first batches (the slice has ~550 rows since markup is stripped)
        assert deep > 500
        lines[deep] = '{"id": "cut short", "text": "Un te'
        broken = tmp_path / "broken.jsonl"
        broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for kwargs in ({}, {"executor": ex, "inline_below": 0, "batch_size": 50}):
            with pytest.raises(AuditError, match=f"/broken.jsonl:{deep + 1}: not a JSON object") as info:
                audit(reg, broken, progress=False, **kwargs)
            assert info.value.fields == {"file": str(broken), "row": deep + 1}
    finally:
        ex.close()


def force_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the CLI spread even a small target over worker processes."""
    monkeypatch.setattr(sys.modules["corpus_registry.audit.auditor"], "INLINE_BELOW", 0)


@sqlite_only
def test_cli_workers_give_the_same_report_and_exit_code(small: tuple[Registry, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reg, release = small
    planted = plant_problems(reg, release, tmp_path / "planted")
    big = as_jsonl(planted, tmp_path / "big.jsonl", copies=20)  # three tasks of 5,000 lines
    force_workers(monkeypatch)
    outputs = {}
    for workers in ("1", "2"):
        code, out = run(reg, "audit", str(big), "--workers", workers, "--format", "json", "--no-progress")
        data = json.loads(out[: out.rindex("}") + 1])
        assert code == 1 and data["ok"] is False
        del data["seconds"], data["rows_per_s"]
        outputs[workers] = data
    assert outputs["2"] == outputs["1"]
    assert outputs["1"]["problem_counts"]["text_altered"] == 3 * 20
    assert [p["anchor"] for p in outputs["1"]["problems"] if p["kind"] == "text_altered"][-1].endswith("-60")
    assert INLINE_BELOW == 100_000  # the threshold the CLI uses when not forced


def test_slices_cover_every_row_once(tmp_path: Path) -> None:
    """However a file is cut, its slices give back every row once, in order, with its position."""
    texts = [f"Ligne {i} : « texte »" for i in range(103)]
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(103)], "text": texts}), parquet, row_group_size=7)
    big_group = tmp_path / "one-group.parquet"
    pq.write_table(pa.table({"text": texts}), big_group)
    raw = "".join(json.dumps({"text": t}, ensure_ascii=False) + ("\r\n" if i % 5 else "\n\n")
                  for i, t in enumerate(texts)).rstrip("\n")  # CRLF, blank lines, no final newline
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_bytes(raw.encode("utf-8"))
    gz = tmp_path / "rows.jsonl.gz"
    gz.write_bytes(gzip.compress(raw.encode("utf-8")))
    target = resolve_target([parquet, big_group, jsonl, gz])

    def rows(parts: int | None, size: int) -> list[tuple[str, str]]:
        slices = plan_slices(target, parts=parts, min_rows=size, max_rows=4 * size)
        return [(b.where(i), b.text[i]) for s in slices for b in slice_batches(s, batch_size=size) for i in range(len(b))]

    whole = rows(None, 1000)
    assert len(whole) == 4 * 103 and [t for _, t in whole] == texts * 4
    assert whole[7][0].endswith("rows.parquet row 8")
    assert [w.rsplit("/", 1)[1] for w, _ in whole[206:212]] == [  # blank lines are counted, not read
        "rows.jsonl:1", "rows.jsonl:3", "rows.jsonl:4", "rows.jsonl:5", "rows.jsonl:6", "rows.jsonl:7"]
    for parts, size in ((8, 3), (40, 1), (3, 10), (1, 1000)):
        assert rows(parts, size) == whole, (parts, size)
    assert len(plan_slices(target, parts=40, min_rows=2, max_rows=8)) > 30


def test_fast_normalisation_agrees_with_normalize_text() -> None:
    from corpus_registry.audit.auditor import _normalized

    samples = ["", " ", "\ufeffBOM", "a\ufeffb", "a\r\nb", "a  \nb", "a\t\nb", "a\n\n\nb", "e\u0301", "x\u2028y", "x\x85y",
               " lead", "trail ", "ok\n\nok", "Ça va ? Oui.\n\nDeux paragraphes."]
    for path in sorted(DATA.rglob("*.txt"))[:12] + sorted(DATA.rglob("*.md"))[:40]:
        raw = path.read_bytes().decode("latin-1")[:20_000]
        samples += [raw, raw[:500], normalize_text(raw), normalize_text(raw)[:300]]
    for text in samples:
        assert _normalized(text) == normalize_text(text), repr(text[:80])
