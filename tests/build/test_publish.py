"""push (issue 12, items 8 and 9): exactly the release's own files, checked against the manifest and
the registry's record; every push kept in an append-only history; no secret echoed."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from corpus_registry.build.publish import push, push_history
from corpus_registry.cli import cli
from corpus_registry.errors import BuildError, HubError, NotFoundError
from corpus_registry.registry.db.models import Release, ReleasePush
from corpus_registry.registry.registry import Registry

from tests.build.test_release_folder import build, udhr  # noqa: F401 - the fixture


def repo_name(reg: Registry, what: str) -> str:
    return f"tester/{what}-{reg.dialect}-{time.time_ns()}"


def test_only_the_release_files_are_sent(udhr: Registry, tmp_path: Path, hub) -> None:  # noqa: F811
    out = tmp_path / "out"
    build(udhr, out)
    listed = json.loads((out / "manifest.json").read_text())["files"]
    (out / "credentials.txt").write_text("hf_SECRETSECRETSECRET")
    (out / "notes").mkdir()
    (out / "notes" / "todo.md").write_text("x")
    (out / "README.md~").write_text("backup")
    repo = repo_name(udhr, "exact")
    result = push(udhr, out, repo_id=repo, endpoint=hub.url, progress=False)
    assert result.ignored == ["README.md~", "credentials.txt", "notes/todo.md"]
    remote = set(HfApi(endpoint=hub.url).list_repo_files(repo, repo_type="dataset")) - {".gitattributes"}
    assert remote == {*listed, "manifest.json"} == set(result.files)


def test_the_folder_must_match_manifest_and_record(udhr: Registry, tmp_path: Path, hub) -> None:  # noqa: F811
    out = tmp_path / "out"
    build(udhr, out)
    card = out / "README.md"
    original = card.read_bytes()
    card.write_text("# edited\n")
    with pytest.raises(HubError, match="README.md: sha256 differs from manifest.json"):
        push(udhr, out, repo_id=repo_name(udhr, "x"), endpoint=hub.url, dry_run=True)
    card.write_bytes(original)
    with udhr.session() as s:  # the registry recorded another build of this version
        s.execute(update(Release).values(manifest_sha256="0" * 64))
    with pytest.raises(BuildError, match="is not the one the registry recorded for udhr 1.0.0"):
        push(udhr, out, repo_id=repo_name(udhr, "x"), endpoint=hub.url, dry_run=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["name"] = "never-built"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NotFoundError, match="release never-built 1.0.0 is not in the registry"):
        push(udhr, out, repo_id=repo_name(udhr, "x"), endpoint=hub.url, dry_run=True)
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(HubError, match="lists '../../etc/passwd', which is not a file name a release has"):
        push(udhr, out, repo_id=repo_name(udhr, "x"), endpoint=hub.url, dry_run=True)


def test_every_push_is_kept(udhr: Registry, tmp_path: Path, hub) -> None:  # noqa: F811
    out = tmp_path / "out"
    result = build(udhr, out)
    first, second = repo_name(udhr, "one"), repo_name(udhr, "two")
    push(udhr, out, repo_id=first, endpoint=hub.url, progress=False)
    push(udhr, out, repo_id=first, endpoint=hub.url, progress=False)  # a no-op, recorded as such
    push(udhr, out, repo_id=second, endpoint=hub.url, progress=False)
    push(udhr, out, repo_id=second, endpoint=hub.url, dry_run=True)  # not a push
    history = push_history(udhr, name="udhr")
    assert [(h["repo_id"], h["noop"]) for h in history] == [(first, False), (first, True), (second, False)]
    assert {h["manifest_sha256"] for h in history} == {result.manifest_sha256}
    assert all(h["commit"] and h["endpoint"] == hub.url and h["files"] == len(result.files) for h in history)
    with udhr.session() as s:  # the release row keeps the latest
        assert s.scalar(select(Release.hub_repo)) == second
    r = CliRunner().invoke(cli, ["--db", udhr.url, "pushes", "udhr", "1.0.0"])
    assert r.exit_code == 0 and r.output.count(" udhr 1.0.0 -> ") == 3 and "already there (no-op)" in r.output
    # append-only: the database itself refuses to change or delete a push record
    for statement in (update(ReleasePush).values(repo_id="rewritten"), delete(ReleasePush)):
        with pytest.raises(SQLAlchemyError, match="append-only"), udhr.engine.begin() as conn:
            conn.execute(statement)
    assert len(push_history(udhr, name="udhr")) == 3


def test_credentials_in_the_endpoint_are_never_echoed(udhr: Registry, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "out"
    build(udhr, out)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://alice:s3cr3t-pw@127.0.0.1:{port}"
    with pytest.raises(HubError) as caught:
        push(udhr, out, repo_id="tester/x", endpoint=endpoint, token="hf_abcdefghijklmnop", progress=False)
    assert "s3cr3t" not in str(caught.value) and f"http://alice:***@127.0.0.1:{port}" in str(caught.value)
    r = CliRunner().invoke(cli, ["--db", udhr.url, "push", str(out), "--repo", "tester/x", "--endpoint", endpoint,
                                 "--token", "hf_abcdefghijklmnop"])
    assert r.exit_code == 2 and "s3cr3t" not in r.output and "hf_abcdefghijklmnop" not in r.output
    assert r.output.startswith(f"Error: cannot reach the Hub at http://alice:***@127.0.0.1:{port}")
    with udhr.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM release_pushes")).scalar() == 0
