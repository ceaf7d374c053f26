"""Where a build writes: beside --out, moved into place at the end; nothing lost, nothing outside.

Issue 12, items 1, 2, 5 (paths), 15 (concurrent builds) and 20, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select, update

from corpus_registry.build.builder import build_release
from corpus_registry.build.publish import push
from corpus_registry.build.spec import parse_spec
from corpus_registry.cli import cli
from corpus_registry.errors import BuildError, OutputError
from corpus_registry.registry.db.models import Document, Release, ReleaseDocument
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.conftest import DATA

SPEC = {"name": "udhr", "version": "1.0.0", "dedup": {"near": False}}
CATALOGUE = f"""
sources:
  - slug: nltk-udhr
    name: UDHR
    collection: OpenGovernment
    license: public-domain
    reader: {{allow_outside: true, kind: text, path: {DATA / "nltk-udhr" / "udhr"}, glob: "*.txt"}}
"""


@pytest.fixture
def udhr(registry: Registry, tmp_path: Path) -> Registry:
    """A fresh registry (each backend) holding the 40 UDHR translations."""
    (tmp_path / "sources.yaml").write_text(CATALOGUE, encoding="utf-8")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    ingest(registry, progress=False, workers=1)
    return registry


def build(reg: Registry, out: Path, **spec: object):  # type: ignore[no-untyped-def]
    return build_release(reg, parse_spec({**SPEC, **spec}), out_dir=out, progress=False)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def releases(reg: Registry) -> int:
    with reg.session() as s:
        return int(s.scalar(select(func.count()).select_from(Release)) or 0)


def test_user_files_are_never_deleted(udhr: Registry, tmp_path: Path) -> None:
    """Item 1: a folder holding a manifest.json of its own and other files is refused, untouched."""
    out = tmp_path / "v"
    (out / "src").mkdir(parents=True)
    (out / "manifest.json").write_text("{}")
    (out / "src" / "app.js").write_text("x")
    before = tree(out)
    with pytest.raises(OutputError, match="not a corpus-registry release manifest"):
        build(udhr, out)
    assert tree(out) == before and not [p for p in os.listdir(tmp_path) if p.startswith(".v.")]
    assert releases(udhr) == 0
    r = CliRunner().invoke(cli, ["--db", udhr.url, "build", str(write_spec(tmp_path)), "--out", str(out)])
    assert r.exit_code == 2 and r.output.startswith(f"Error: {out}: its manifest.json is not a corpus-registry")
    assert tree(out) == before


def write_spec(folder: Path, **spec: object) -> Path:
    path = folder / "spec.yaml"
    path.write_text(json.dumps({**SPEC, **spec}), encoding="utf-8")
    return path


def test_only_a_release_the_tool_wrote_is_replaced(udhr: Registry, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = build(udhr, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {p for p in tree(out) if p != "manifest.json"}
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out.")]  # nothing left beside it
    again = build(udhr, out, version="1.0.1")  # a release folder it wrote: replaced
    assert again.out_dir == out and json.loads((out / "manifest.json").read_text())["version"] == "1.0.1"
    assert first.manifest_sha256 != again.manifest_sha256
    original = tree(out)
    for intruder, problem in ((out / "notes.txt", "holds notes.txt, which is not part of the release"),
                              (out / "data" / "x" / "y.parquet", "holds data/x/, which is not part"),
                              (out / "README.md", "README.md was changed after the build")):
        intruder.parent.mkdir(parents=True, exist_ok=True)
        intruder.write_text("mine")
        before = tree(out)
        with pytest.raises(OutputError, match=problem):
            build(udhr, out, version="1.0.2")
        assert tree(out) == before
        rel = intruder.relative_to(out).as_posix()
        if rel in original:
            intruder.write_bytes(original[rel])
        else:
            intruder.unlink()
            if intruder.parent.name == "x":
                intruder.parent.rmdir()
    (out / "README.md").unlink()  # a file of the release removed by hand: what is left is still the tool's
    build(udhr, out, version="1.0.2")
    assert (out / "README.md").is_file()


def test_a_refused_rebuild_of_a_pushed_version_leaves_the_folder(udhr: Registry, tmp_path: Path, hub) -> None:
    """Item 2: the only local copy of what is on the Hub survives the refused rebuild."""
    out = tmp_path / "pushed"
    build(udhr, out)
    push(udhr, out, repo_id=f"tester/folder-{udhr.dialect}-{time.time_ns()}", endpoint=hub.url, progress=False)
    before = tree(out)
    with pytest.raises(BuildError, match="already built differently and pushed to tester/folder-.*left as it was"):
        build(udhr, out, filters={"length": {"min_words": 1200}})
    assert tree(out) == before
    same = build(udhr, out)  # the same build: allowed, and the folder is kept as it is
    assert tree(out) == before and same.out_dir == out
    with pytest.raises(OutputError, match="holds release udhr 1.0.0, pushed to tester/folder-"):
        build(udhr, out, version="2.0.0")  # another version never replaces the pushed folder
    assert tree(out) == before
    # a build that is not recorded cannot replace it either
    with pytest.raises(BuildError, match="already built differently and pushed"):
        build_release(udhr, parse_spec({**SPEC, "filters": {"length": {"min_words": 1200}}}), out_dir=out,
                      progress=False, record=False)
    assert tree(out) == before


def test_an_unwritable_destination_fails_before_the_work(udhr: Registry, tmp_path: Path) -> None:
    """Item 20: not after all the filtering; nothing recorded."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write there"):
        build(udhr, tmp_path / "file" / "out")
    assert releases(udhr) == 0
    r = CliRunner().invoke(cli, ["--db", udhr.url, "build", str(write_spec(tmp_path)), "--out",
                                 str(tmp_path / "file" / "out"), "--no-progress"])
    assert r.exit_code == 2 and "cannot write there (Not a directory)" in r.output and "Traceback" not in r.output
    assert (tmp_path / "file").read_text() == "x"


def test_a_language_code_never_names_a_path_outside_out(udhr: Registry, tmp_path: Path) -> None:
    """Item 5: a registry filled before codes were validated: the build refuses, writes nothing."""
    with udhr.session() as s:
        s.execute(update(Document).where(Document.identifier.like("fr_%")).values(language="../../pwn"))
    with pytest.raises(BuildError, match=r"document nltk-udhr/fr_French.* has language '\.\./\.\./pwn'"):
        build(udhr, tmp_path / "deep" / "out")
    assert sorted(p.name for p in tmp_path.rglob("*") if "pwn" in p.name) == []
    assert not (tmp_path / "deep").exists()
    with udhr.session() as s:
        assert s.scalar(select(func.count()).select_from(ReleaseDocument)) == 0


def test_cli_errors_are_one_line_exit_2(udhr: Registry, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nversion: '1'\nfilters:\n  repetition:\n    top_ngram_char_frac: {1: 0.2}\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["--db", udhr.url, "build", str(spec), "--out", str(out), "--no-progress"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "top_ngram_char_frac[1] (the key): Input should be greater than or equal to 2" in r.output
    spec.write_text("name: x\nversion: '1'\n")
    r = CliRunner().invoke(cli, ["--db", udhr.url, "build", str(spec), "--out", str(out), "--no-progress"],
                           env={"CORPUS_REGISTRY_WORKERS": "two"})
    assert r.exit_code == 2 and "CORPUS_REGISTRY_WORKERS='two' is not a whole number" in r.output
    assert not out.exists()
    r = CliRunner().invoke(cli, ["--db", udhr.url, "ingest", "--no-progress"], env={"CORPUS_REGISTRY_BATCH_DOCS": "1e3"})
    assert r.exit_code == 2 and "CORPUS_REGISTRY_BATCH_DOCS='1e3'" in r.output and "Traceback" not in r.output


def test_two_builds_of_one_version_at_once(udhr: Registry, tmp_path: Path) -> None:
    """Item 15: the second gets a one-line error at once, not a raw UniqueViolation at the end."""
    (tmp_path / "spec.yaml").write_text(json.dumps(SPEC))
    code = ("import sys, time; from pathlib import Path; from corpus_registry import Registry, build_release, "
            "load_spec; reg = Registry(sys.argv[1]); spec = load_spec(Path(sys.argv[2]));"
            "import corpus_registry.build.builder as b; slow = b._decide_and_write\n"
            "def wait(*a, **k):\n    print('working', flush=True); time.sleep(8); return slow(*a, **k)\n"
            "b._decide_and_write = wait; build_release(reg, spec, out_dir=Path(sys.argv[3]), progress=False)")
    first = subprocess.Popen([sys.executable, "-c", code, udhr.url, str(tmp_path / "spec.yaml"), str(tmp_path / "a")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "working"
        r = CliRunner().invoke(cli, ["--db", udhr.url, "build", str(tmp_path / "spec.yaml"), "--out",
                                     str(tmp_path / "b"), "--no-progress"])
        assert r.exit_code == 2, r.output
        assert r.output.splitlines()[0] == "Error: another process is running `build udhr 1.0.0` on this registry" + (
            f" (pid {first.pid} on {os.uname().nodename})" if udhr.dialect == "sqlite" else "")
        assert not (tmp_path / "b").exists()
    finally:
        assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    assert releases(udhr) == 1 and (tmp_path / "a" / "manifest.json").is_file()
    build(udhr, tmp_path / "b")  # once the first is done, the lock is free


def test_a_unique_violation_is_one_line(udhr: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should another process record the version without the lock (between this build's look-up of
    the release and its insert), the loser still gets one line, and nothing is written."""
    import corpus_registry.build.builder as builder

    real = builder._stage_release

    def racing(session, spec, *args, **kwargs):  # type: ignore[no-untyped-def]
        def other_build_commits(*_: object) -> None:
            other = Registry(udhr.url)
            with other.session() as s:
                s.add(Release(name=spec.name, version=spec.version, spec={}, registry_state="x"))
            other.dispose()

        event.listen(session, "before_flush", other_build_commits, once=True)
        return real(session, spec, *args, **kwargs)

    monkeypatch.setattr(builder, "_stage_release", racing)
    with pytest.raises(BuildError, match="was recorded by another build while this one ran; nothing was written"):
        build(udhr, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".out")]


def test_shards_are_written_while_the_fates_are_recorded(udhr: Registry, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording the fates (3M rows: ~17 s) does not hold up the shards: here it waits until a shard is
    on disk before it starts, which never happens when it runs before the shards are handed out (the
    build then stops at the 60 s wait); and the release recorded is whole."""
    import corpus_registry.build.builder as builder

    real = builder._stage_release
    seen: list[int] = []

    def after_a_shard(*args, **kwargs):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not seen:
            seen.extend(1 for _ in tmp_path.glob(".out.partial-*/data/*/*.parquet"))
            time.sleep(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(builder, "_stage_release", after_a_shard)
    result = build(udhr, tmp_path / "out")
    assert seen, "no shard was written while the fates were being recorded"
    with udhr.session() as s:
        recorded = s.scalar(select(func.count()).select_from(ReleaseDocument)
                            .where(ReleaseDocument.release_id == result.release_id))
    assert recorded == result.funnel.as_dict()["stages"][0]["docs_in"] > 0


def test_exclusive_lock_is_held_across_processes_and_released(udhr: Registry) -> None:
    code = "import sys; from corpus_registry import Registry\nwith Registry(sys.argv[1]).exclusive('job'): print('got')"
    with udhr.exclusive("job"):
        p = subprocess.run([sys.executable, "-c", code, udhr.url], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and "another process is running `job` on this registry" in p.stderr
    p = subprocess.run([sys.executable, "-c", code, udhr.url], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "got"
