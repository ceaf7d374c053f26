"""token_count: a spec's tokenizer (a tokenizers JSON file trained here from the bundled texts, or a
Hub id in the local cache) counts every kept row's tokens; without one the column is null."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from corpus_registry.audit.auditor import audit
from corpus_registry.audit.report import render_text
from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.release import SCHEMA, read_manifest, sha256_file
from corpus_registry.build.spec import load_spec, parse_spec
from corpus_registry.build.tokens import count_tokens, load_tokenizer, resolve_tokenizer
from corpus_registry.cli import cli
from corpus_registry.errors import ConfigError
from corpus_registry.registry.registry import Registry
from tests.audit.test_audit import SPEC, make_small_registry
from tests.conftest import DATA

TRAINING = [*sorted((DATA / "gutenberg-fr").glob("*/*.txt"))[:3], *sorted((DATA / "nltk-udhr" / "udhr").glob("*.txt"))[:40]]


def train_tokenizer() -> Tokenizer:
    """A small BPE tokenizer trained on bundled texts, with a [CLS] … [SEP] template (special tokens
    that token_count must not count)."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False)
    texts = [p.read_bytes().decode("utf-8", "replace")[:200_000] for p in TRAINING]
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    return tok


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return train_tokenizer()


def rows(folder: Path) -> list[dict]:
    return [r for f in sorted((folder / "data").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def tokenized(tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path, BuildResult]]:
    """A small SQLite registry, and a release built by a spec naming the tokenizer's file by a path
    relative to the spec (the file asks for truncation at 16 tokens: a count must ignore it)."""
    tmp = tmp_path_factory.mktemp("tokens")
    saved = Tokenizer.from_str(tokenizer.to_str())
    saved.enable_truncation(max_length=16)
    (tmp / "spec" / "tok").mkdir(parents=True)
    saved.save(str(tmp / "spec" / "tok" / "tokenizer.json"))
    spec_path = tmp / "spec" / "small.yaml"
    spec_path.write_text(yaml.safe_dump({**SPEC, "tokenizer": "tok/tokenizer.json"}), encoding="utf-8")
    reg = Registry(f"sqlite:///{tmp / 'registry.db'}")
    reg.init(store=str(tmp / "store"))
    make_small_registry(reg, tmp / "catalogue")
    result = build_release(reg, load_spec(spec_path), out_dir=tmp / "release", progress=False)
    yield reg, spec_path, result
    reg.dispose()


def test_every_row_counts_what_the_tokenizer_gives(tokenizer: Tokenizer, tokenized: tuple) -> None:
    _reg, _spec, result = tokenized
    got = rows(result.out_dir)
    assert got and len(got) == result.rows
    assert len({r["language"] for r in got}) >= 3
    for r in got:
        expected = len(tokenizer.encode(r["text"], add_special_tokens=False).ids)
        assert r["token_count"] == expected, r["identifier"]
        assert expected > 16  # not truncated by the file's setting
        assert len(tokenizer.encode(r["text"]).ids) == expected + 2  # the template's [CLS] and [SEP] left out
    assert pq.read_schema(next((result.out_dir / "data").rglob("*.parquet"))) == SCHEMA


def test_manifest_card_and_croissant_give_tokens(tokenized: tuple) -> None:
    _reg, spec_path, result = tokenized
    out = result.out_dir
    manifest = read_manifest(out)
    got = rows(out)
    by_language: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for r in got:
        by_language[r["language"]] = by_language.get(r["language"], 0) + r["token_count"]
        by_source[r["source"]] = by_source.get(r["source"], 0) + r["token_count"]
    assert manifest["tokenizer"] == {"name": "tok/tokenizer.json", "kind": "file", "revision": None,
                                     "add_special_tokens": False,
                                     "sha256": sha256_file(spec_path.parent / "tok" / "tokenizer.json")}
    assert manifest["spec"]["tokenizer"] == "tok/tokenizer.json"
    counts = manifest["counts"]
    assert counts["kept_tokens"] == sum(by_language.values())
    assert counts["tokens_by_language"] == by_language
    assert {s["slug"]: s["tokens"] for s in manifest["sources"]} == by_source
    kept = counts["funnel"][-1]
    assert kept["stage"] == "kept" and kept["tokens_out"] == counts["kept_tokens"]
    assert {lang: c["tokens_out"] for lang, c in kept["by_language"].items()} == by_language
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "tok/tokenizer.json" in card and f"{counts['kept_tokens']:,}" in card
    for lang, n in by_language.items():
        assert f"| {lang} |" in card.replace("`", "") and f"{n:,}" in card
    croissant = json.loads((out / "croissant.json").read_text(encoding="utf-8"))
    fields = [f for rs in croissant["recordSet"] for f in rs.get("field", []) if f["name"] == "token_count"]
    assert fields and all(manifest["tokenizer"]["sha256"] in f["description"] for f in fields)
    assert all(f["dataType"] == "sc:Integer" for f in fields)


def test_rebuild_with_a_tokenizer_is_byte_identical(tokenized: tuple, tmp_path: Path) -> None:
    reg, spec_path, result = tokenized
    again = build_release(reg, load_spec(spec_path), out_dir=tmp_path / "again", progress=False)
    assert again.files == result.files


def test_two_workers_count_the_same_tokens(tokenized: tuple, tmp_path: Path) -> None:
    """Counted in spawned worker processes (each loads the file and checks its sha256): same files."""
    from corpus_registry.executors import LocalExecutor

    reg, spec_path, result = tokenized
    ex = LocalExecutor(2)
    try:
        again = build_release(reg, load_spec(spec_path), out_dir=tmp_path / "two", progress=False, executor=ex)
    finally:
        ex.close()
    assert again.files == result.files


def test_audit_accepts_a_tokenized_release(tokenized: tuple) -> None:
    """Its tokenizer file named relative to the spec, the audit cannot find it alone: a warning; given
    the file, every row's count is recounted and agrees."""
    reg, spec_path, result = tokenized
    report = audit(reg, result.out_dir, progress=False)
    assert report.ok and report.problem_counts == {"token_count_unchecked": 1}, render_text(report)
    assert report.rows == result.rows
    assert "--tokenizer" in next(p.message for p in report.problems if p.kind == "token_count_unchecked")
    report = audit(reg, result.out_dir, progress=False, tokenizer=str(spec_path.parent / "tok" / "tokenizer.json"))
    assert report.ok and report.problem_counts == {}, render_text(report)


def test_audit_recounts_token_count(tokenized: tuple, tokenizer: Tokenizer, tmp_path: Path) -> None:
    reg, spec_path, result = tokenized
    copy = tmp_path / "copy"
    shutil.copytree(result.out_dir, copy)
    shard = next((copy / "data").rglob("*.parquet"))
    table = pq.read_table(shard)
    counts = table["token_count"].to_pylist()
    counts[0] += 1
    pq.write_table(table.set_column(table.schema.get_field_index("token_count"), "token_count",
                                    pa.array(counts, pa.int64())), shard)
    path = str(spec_path.parent / "tok" / "tokenizer.json")
    code, out = run_audit(reg, str(copy), "--tokenizer", path)
    assert code == 1 and "token_count_mismatch" in out, out
    report = audit(reg, copy, progress=False, tokenizer=path)
    assert report.problem_counts["token_count_mismatch"] == 1
    bad = next(p for p in report.problems if p.kind == "token_count_mismatch")
    assert f"token_count {counts[0]} but the tokenizer gives {counts[0] - 1} tokens" in bad.message
    other = tmp_path / "other.json"
    retrained = Tokenizer.from_str(tokenizer.to_str())
    retrained.add_tokens(["zzzz-not-in-the-release"])
    retrained.save(str(other))
    code, out = run_audit(reg, str(result.out_dir), "--tokenizer", str(other))
    assert code == 2 and "is not that of the tokenizer the manifest names" in out, out


def run_audit(reg: Registry, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", reg.url, "audit", *args, "--no-progress"])
    return result.exit_code, result.output


def test_without_a_tokenizer_the_column_is_null(tokenized: tuple, tmp_path: Path) -> None:
    reg, _spec, _result = tokenized
    plain = build_release(reg, parse_spec({**SPEC, "version": "1.0.1"}), out_dir=tmp_path / "plain", progress=False)
    got = rows(plain.out_dir)
    assert got and all(r["token_count"] is None for r in got)
    assert pq.read_schema(next((plain.out_dir / "data").rglob("*.parquet"))) == SCHEMA
    manifest = read_manifest(plain.out_dir)
    assert manifest["tokenizer"] is None and manifest["counts"]["kept_tokens"] is None
    assert manifest["counts"]["tokens_by_language"] is None
    assert all(s["tokens"] is None for s in manifest["sources"])
    assert "tokens_out" not in manifest["counts"]["funnel"][-1]
    card = (plain.out_dir / "README.md").read_text(encoding="utf-8")
    assert "named no tokenizer" in card and "null" in card


def run_build(reg: Registry, spec: dict, folder: Path) -> tuple[int, str]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", reg.url, "build", str(path), "--out", str(folder / "out"),
                                      "--no-progress"])
    return result.exit_code, result.output


@pytest.mark.parametrize("name, problem", [
    ("missing/tokenizer.json", "no such file"),
    ("./nowhere.json", "no such file"),
    ("nobody-here/no-such-model", "neither a file nor a Hub model"),
    ("broken.json", "does not load as a tokenizers JSON file"),
])
def test_an_unusable_tokenizer_is_one_line_exit_2(tokenized: tuple, tmp_path: Path, name: str, problem: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    reg = tokenized[0]
    (tmp_path / "broken.json").write_text('{"version": "1.0", "model": 3}', encoding="utf-8")
    code, out = run_build(reg, {**SPEC, "version": "9.9.9", "tokenizer": name}, tmp_path)
    assert code == 2, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("Error: ") and len(lines) <= 2 and all("hint:" in line for line in lines[1:])
    assert "spec.yaml: tokenizer:" in lines[0] and problem in lines[0], out
    assert "Traceback" not in out and not (tmp_path / "out").exists()


def test_a_hub_id_is_found_in_the_local_cache_only(tokenizer: Tokenizer, tokenized: tuple, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub cache layout (models--OWNER--NAME/snapshots/COMMIT, refs/main): found without the network."""
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-bpe"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    tokenizer.save(str(repo / "snapshots" / commit / "tokenizer.json"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = resolve_tokenizer("someone/tiny-bpe", base_dir=tmp_path, origin="spec.yaml")
    assert ref.kind == "hub" and ref.revision == commit
    assert ref.manifest()["sha256"] == sha256_file(repo / "snapshots" / commit / "tokenizer.json")
    assert resolve_tokenizer(f"someone/tiny-bpe@{commit}", base_dir=None, origin="s").path == ref.path
    with pytest.raises(ConfigError, match=r"s: tokenizer: .*someone/other"):
        resolve_tokenizer("someone/other", base_dir=None, origin="s")
    reg = tokenized[0]
    built = build_release(reg, parse_spec({**SPEC, "version": "2.0.0", "tokenizer": "someone/tiny-bpe"}),
                          out_dir=tmp_path / "release", progress=False)
    manifest = read_manifest(built.out_dir)
    assert manifest["tokenizer"]["kind"] == "hub" and manifest["tokenizer"]["revision"] == commit
    assert "revision `" + commit in (built.out_dir / "README.md").read_text(encoding="utf-8")
    report = audit(reg, built.out_dir, progress=False)  # found in the cache by the manifest's Hub id
    assert report.ok and report.problem_counts == {}, render_text(report)


def test_a_folder_holding_tokenizer_json_will_do(tokenizer: Tokenizer, tmp_path: Path) -> None:
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    ref = resolve_tokenizer(str(tmp_path), base_dir=None, origin="spec")
    assert Path(ref.path) == tmp_path / "tokenizer.json" and ref.kind == "file"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=400), max_size=40), st.integers(1, 5000))
def test_batched_counts_equal_one_by_one(texts: list[str], chars: int) -> None:
    """However texts are cut into batches, each count is that text's own encoding (no specials)."""
    tok = _shared_tokenizer()
    got = count_tokens(tok, texts, batch_chars=chars)
    assert got == [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]


_TOKENIZER: list[Tokenizer] = []


def _shared_tokenizer() -> Tokenizer:
    if not _TOKENIZER:
        _TOKENIZER.append(train_tokenizer())
    return _TOKENIZER[0]


def test_loaded_tokenizer_never_truncates_or_pads(tokenizer: Tokenizer, tmp_path: Path) -> None:
    saved = Tokenizer.from_str(tokenizer.to_str())
    saved.enable_truncation(max_length=4)
    saved.enable_padding(length=64)
    saved.save(str(tmp_path / "t.json"))
    text = TRAINING[0].read_bytes().decode("utf-8", "replace")[:3000]
    loaded = load_tokenizer(str(tmp_path / "t.json"))
    assert count_tokens(loaded, [text, "a"]) == [len(tokenizer.encode(t, add_special_tokens=False).ids)
                                                 for t in (text, "a")]


def test_a_tokenizer_file_edited_between_builds_is_read_again(tokenizer: Tokenizer, tmp_path: Path) -> None:
    """Workers keep tokenizers by sha256: an edited file is never counted with the old one, and a file
    changed while a build runs stops it."""
    from corpus_registry.build.tokens import worker_tokenizer
    from corpus_registry.errors import BuildError

    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    first = resolve_tokenizer(str(path), base_dir=None, origin="spec")
    assert worker_tokenizer(first.path, first.sha256).get_vocab_size() == tokenizer.get_vocab_size()
    edited = Tokenizer.from_str(tokenizer.to_str())
    edited.add_tokens(["brand-new-token"])
    edited.save(str(path))
    second = resolve_tokenizer(str(path), base_dir=None, origin="spec")
    assert second.sha256 != first.sha256
    assert worker_tokenizer(second.path, second.sha256).get_vocab_size() == tokenizer.get_vocab_size() + 1
    with pytest.raises(BuildError, match="changed while the build ran"):
        worker_tokenizer(first.path, first.sha256)


def test_the_training_summary_sizes_by_tokens(tokenized: tuple) -> None:
    """The EU training-content summary takes its size range from the counted tokens."""
    from corpus_registry.build.summary import training_summary

    reg, _spec, result = tokenized
    summary = training_summary(reg, [result.out_dir])
    size = json.loads(json.dumps(summary, default=str))
    found = [v for v in _walk(size) if isinstance(v, dict) and v.get("basis") == "token counts"]
    assert found and found[0]["tokens"] == read_manifest(result.out_dir)["counts"]["kept_tokens"]


def _walk(node: object) -> Iterator[object]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from _walk(child)
