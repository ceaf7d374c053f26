"""Fuzzing audit targets (issue 12): random and mutated real release folders and files. No exception
escapes but the project's one-line errors, and any change to a release folder is a violation."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus_registry.audit.auditor import audit
from corpus_registry.build.builder import build_release
from corpus_registry.build.spec import parse_spec
from corpus_registry.errors import CorpusRegistryError
from corpus_registry.registry.registry import Registry

from tests.audit.test_consistency import CATALOGUE, SPEC
from tests.fuzzing import bounded, json_values, mutated, sqlite_registry


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    tmp = tmp_path_factory.mktemp("fuzz-audit")
    reg = sqlite_registry(tmp, CATALOGUE)
    build_release(reg, parse_spec(SPEC), out_dir=tmp / "release", progress=False)
    yield reg, tmp / "release"
    reg.dispose()


def files_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def tree(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in files_of(folder)}


def audited(reg: Registry, target: Any) -> Any:
    """The report, or None when the audit stopped with one of the project's one-line errors."""
    try:
        return audit(reg, target, progress=False, max_problems=20)
    except CorpusRegistryError as e:
        assert "\n" not in str(e), str(e)
        return None


@st.composite
def file_mutation(draw: st.DrawFn, names: list[str]) -> tuple[str, str, Any]:
    name = draw(st.sampled_from(names))
    action = draw(st.sampled_from(["flip", "truncate", "delete", "append", "copy", "garbage"]))
    if action == "flip":
        return name, action, (draw(st.floats(0, 1)), draw(st.binary(min_size=1, max_size=64)))
    if action == "truncate":
        return name, action, draw(st.floats(0, 1))
    if action == "garbage":
        return draw(st.sampled_from(["data/fr/x.parquet", "data/x.jsonl", "data/fr/train-00009-of-00010.parquet",
                                     "manifest.json", "README.md", "ATTRIBUTION.md"])), action, draw(st.binary(max_size=300))
    return name, action, draw(st.binary(max_size=64))


def apply(folder: Path, name: str, action: str, arg: Any) -> None:
    path = folder / name
    if action == "flip" and path.is_file():
        data = bytearray(path.read_bytes())
        at = int(arg[0] * max(0, len(data) - 1))
        data[at:at + len(arg[1])] = arg[1]
        path.write_bytes(bytes(data))
    elif action == "truncate" and path.is_file():
        path.write_bytes(path.read_bytes()[: int(arg * path.stat().st_size)])
    elif action == "delete":
        path.unlink(missing_ok=True)
    elif action == "append" and path.is_file():
        path.write_bytes(path.read_bytes() + arg)
    elif action == "copy" and path.is_file():
        shutil.copy(path, path.with_name("copy-" + path.name))
    elif action == "garbage":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(arg)


@bounded(150)
@given(st.data())
def test_mutated_release_folders(built: tuple[Registry, Path], data: st.DataObject) -> None:
    reg, release = built
    names = files_of(release)
    mutations = data.draw(st.lists(file_mutation(names), min_size=1, max_size=3))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "release"
        shutil.copytree(release, copy)
        for mutation in mutations:
            apply(copy, *mutation)
        report = audited(reg, copy)
        if tree(copy) != tree(release):  # a changed release is a violation; an added file at least a warning
            assert report is None or not report.ok or set(report.problem_counts) == {"file_extra"}, (
                mutations, report.problem_counts)


@bounded(150)
@given(st.data())
def test_mutated_manifests(built: tuple[Registry, Path], data: st.DataObject) -> None:
    reg, release = built
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    changed = data.draw(mutated(manifest, keys=["files", "shards", "shard_rows", "counts", "license_mix", "format",
                                                "name", "version", "../../etc/passwd", "data/fr/x.parquet"]))
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "release"
        shutil.copytree(release, copy)
        text = json.dumps(changed, indent=2) + "\n"
        (copy / "manifest.json").write_text(text, encoding="utf-8")
        report = audited(reg, copy)
        if json.loads(text) != manifest:
            assert report is None or not report.ok, (changed, report.problem_counts)


rows = st.lists(st.dictionaries(
    st.sampled_from(["text", "id", "identifier", "source", "license", "licence", "sha256", "language", "word_count",
                     "x"]), json_values, max_size=6), max_size=6)


@bounded(200)
@given(rows, st.sampled_from(["jsonl", "parquet", "raw"]), st.binary(max_size=200))
def test_random_data_files(built: tuple[Registry, Path], records: list[dict[str, Any]], kind: str, raw: bytes) -> None:
    reg, _ = built
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "jsonl":
            path = Path(tmp) / "rows.jsonl"
            path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
        elif kind == "parquet":
            path = Path(tmp) / "rows.parquet"
            try:
                pq.write_table(pa.Table.from_pylist(records), path)
            except (pa.ArrowException, OverflowError, TypeError, ValueError):
                return  # not a table pyarrow can write
        else:
            path = Path(tmp) / "rows.parquet"
            path.write_bytes(raw)
        audited(reg, path)
        audited(reg, tmp)
