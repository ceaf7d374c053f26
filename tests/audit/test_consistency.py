"""Audit verdicts (issue 12, items 10 and 11): any disagreement between a release's files, rows,
manifest and the registry's record of it is a violation (exit 1); an audit that cannot run exits 2.
Each tampering is done to a copy of a real release built from the UDHR, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from corpus_registry.audit.auditor import audit
from corpus_registry.build.builder import build_release
from corpus_registry.build.spec import parse_spec
from corpus_registry.cli import cli
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.conftest import DATA

# One title of the Code civil (61 articles, etalab-2.0: attribution required), in shards of 12 rows.
CATALOGUE = f"""
sources:
  - slug: code-civil
    name: Code civil, titre VII (Légifrance, base LEGI)
    collection: OpenGovernment
    license: etalab-2.0
    attribution: "Légifrance (DILA), base LEGI"
    reader:
      kind: markdown
      path: {DATA / "legifrance-code-civil" / "code-civil" / "livre-ier-des-personnes" / "titre-vii-de-la-filiation"}
      allow_outside: true
      glob: "**/*.md"
"""
SPEC = {"name": "civil-audit", "version": "1.0.0", "filters": {"length": {"min_words": 5}},
        "dedup": {"near": False}, "output": {"max_rows_per_shard": 12}}


@pytest.fixture
def release(registry: Registry, tmp_path: Path) -> tuple[Registry, Path]:
    (tmp_path / "sources.yaml").write_text(CATALOGUE, encoding="utf-8")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    ingest(registry, progress=False, workers=1)
    out = tmp_path / "release"
    build_release(registry, parse_spec(SPEC), out_dir=out, progress=False)
    return registry, out


def shards(folder: Path) -> list[Path]:
    return sorted((folder / "data").rglob("*.parquet"))


def rewrite(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    pq.write_table(change(pq.read_table(path)), path)


def drop_row(f: Path) -> None:
    rewrite(shards(f)[0], lambda t: t.slice(1))


def duplicate_row(f: Path) -> None:
    rewrite(shards(f)[0], lambda t: pa.concat_tables([t, t.slice(0, 1)]))


def extra_shard(f: Path) -> None:
    s = shards(f)[0]
    shutil.copy(s, s.with_name("train-extra.parquet"))


def missing_shard(f: Path) -> None:
    shards(f)[1].unlink()


def flip_bytes(f: Path) -> None:
    s = shards(f)[0]
    data = bytearray(s.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = bytes(64)
    s.write_bytes(bytes(data))


def truncate_shard(f: Path) -> None:
    s = shards(f)[0]
    s.write_bytes(s.read_bytes()[: s.stat().st_size // 2])


def forge_manifest(f: Path) -> None:
    """Drop a row and edit the manifest to match: only the registry's record can tell."""
    s = shards(f)[0]
    rewrite(s, lambda t: t.slice(1))
    name = s.relative_to(f).as_posix()
    manifest = json.loads((f / "manifest.json").read_text())
    sha = hashlib.sha256(s.read_bytes()).hexdigest()
    manifest["shards"][name] = manifest["files"][name] = sha
    manifest["shard_rows"][name] -= 1
    manifest["counts"]["kept"] -= 1
    mix = manifest["license_mix"][0]
    mix["documents"] -= 1
    (f / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def edit_manifest_sha(f: Path) -> None:
    manifest = json.loads((f / "manifest.json").read_text())
    name = next(iter(manifest["shards"]))
    manifest["shards"][name] = manifest["files"][name] = "0" * 64
    (f / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def no_manifest(f: Path) -> None:
    (f / "manifest.json").unlink()


def killed_build(f: Path) -> None:
    """What a build killed before this version left: shards, no card, no manifest, the last shard
    (truncated) removed."""
    for name in ("manifest.json", "README.md", "ATTRIBUTION.md", "funnel.png"):
        (f / name).unlink()
    shards(f)[-1].unlink()


def edit_card(f: Path) -> None:
    card = f / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + "\nEdited by hand.\n", encoding="utf-8")


TAMPERING: dict[str, tuple[Callable[[Path], None], set[str]]] = {
    "dropped row": (drop_row, {"shard_modified", "row_count_mismatch", "manifest_mismatch"}),
    "duplicated row": (duplicate_row, {"duplicate_row", "shard_modified", "row_count_mismatch"}),
    "extra unlisted shard": (extra_shard, {"shard_extra", "duplicate_row"}),
    "missing shard, others remain": (missing_shard, {"shard_missing", "shards_incomplete"}),
    "damaged shard": (flip_bytes, {"shard_modified"}),
    "truncated shard": (truncate_shard, {"shard_modified", "shard_unreadable"}),
    "manifest edited to match": (forge_manifest, {"release_record_mismatch"}),
    "manifest sha256 edited": (edit_manifest_sha, {"shard_modified", "release_record_mismatch"}),
    "no manifest.json": (no_manifest, {"manifest_missing"}),
    "killed build": (killed_build, {"manifest_missing", "shards_incomplete"}),
    "card edited": (edit_card, {"file_modified"}),
}


def run(reg: Registry, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", reg.url, "audit", *args, "--no-progress", "--format", "json"])
    return result.exit_code, result.output


def test_every_disagreement_is_a_violation(release: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, folder = release
    assert len(shards(folder)) >= 4 and {s.parent.name for s in shards(folder)} == {"fr"}
    code, out = run(reg, str(folder))
    assert code == 0, out
    for what, (tamper, expected) in TAMPERING.items():
        copy = tmp_path / what.replace(" ", "-").replace(",", "")
        shutil.copytree(folder, copy)
        tamper(copy)
        code, out = run(reg, str(copy))
        assert code == 1, (what, out)
        data = json.loads(out[: out.rindex("}") + 1])
        found = set(data["problem_counts"])
        assert expected <= found, (what, found)
        assert all(p["severity"] == "error" for p in data["problems"] if p["kind"] in expected), what
        assert "Traceback" not in out


def test_a_subset_of_the_files_is_checked_against_the_whole_release(release: tuple[Registry, Path]) -> None:
    reg, folder = release
    report = audit(reg, [str(s) for s in shards(folder)[:2]], progress=False)
    assert report.ok and report.rows == 24, report.problem_counts
    shards(folder)[-1].unlink()
    report = audit(reg, [str(s) for s in shards(folder)[:2]], progress=False)
    assert set(report.problem_counts) == {"shard_missing", "shards_incomplete"}


def test_an_audit_that_cannot_run_exits_2(release: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, folder = release
    code, out = run(reg, str(tmp_path / "nowhere"))
    assert code == 2 and out.startswith("Error: ") and "no such file or folder" in out
    r = CliRunner().invoke(cli, ["--db", "postgresql://nobody@127.0.0.1:1/none", "audit", str(folder), "--no-progress"])
    assert r.exit_code == 2 and r.output.startswith("Error: cannot open the registry") and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["--db", reg.url, "audit", str(folder), "-o", str(tmp_path / "no" / "r.html"),
                                 "--format", "html", "--no-progress"])
    assert r.exit_code == 2 and "the folder" in r.output and "does not exist" in r.output
    r = CliRunner().invoke(cli, ["--db", reg.url, "audit", str(folder), "--attribution", str(tmp_path),
                                 "--no-progress"])
    assert r.exit_code == 2 and "is a directory" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = run(reg, str(empty))
    assert code == 2 and "no Parquet or JSONL files" in out


def test_reports_are_written_whole(release: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, folder = release
    page = tmp_path / "report.html"
    credits = tmp_path / "credits.md"
    r = CliRunner().invoke(cli, ["--db", reg.url, "audit", str(folder), "-o", str(page), "--format", "html",
                                 "--attribution", str(credits), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") and credits.is_file()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left beside them


def test_exit_codes_are_in_help() -> None:
    r = CliRunner().invoke(cli, ["audit", "--help"])
    text = " ".join(r.output.split())
    assert "Exit status: 0 clean" in text and "1 violations found" in text and "2 could not run" in text
    r = CliRunner().invoke(cli, ["build", "--help"])
    assert "Exit status: 0 done; 2 could not run" in " ".join(r.output.split())
