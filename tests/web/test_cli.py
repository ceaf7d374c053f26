"""The CLI equivalents of the pages, for scripts: documents list, explain, releases, users, serve."""

from __future__ import annotations

import json

from click.testing import CliRunner

from corpus_registry.cli import cli

from tests.web.site import PASSWORD, RELEASE, Site


def run(site: Site, *args: str, stdin: str | None = None) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["--db", site.registry.url, *args], input=stdin)
    return r.exit_code, r.output


def test_documents_list_pages_filters_and_searches(site: Site) -> None:
    code, out = run(site, "documents", "list", "--source", "hostile", "--limit", "3", "--json")
    assert code == 0, out
    first = json.loads(out)
    assert [d["identifier"] for d in first["items"]] == ["a/b/c", "copy-of-plain-1", "court"]
    code, out = run(site, "documents", "list", "--source", "hostile", "--after", first["next"], "--json")
    rest = [d["identifier"] for d in json.loads(out)["items"]]
    assert rest == ["dots/../up", "plain-1", "q?x=1#frag", "space and %41", "xss-title"]
    code, out = run(site, "documents", "list", "--tier", "review")
    assert code == 0 and "nltk-genesis/finnish" in out and "nltk-genesis/lolcat" in out and "hostile" not in out
    code, out = run(site, "documents", "list", "--search", "chemin")
    assert code == 0 and "hostile/a/b/c" in out
    code, out = run(site, "documents", "list", "--limit", "2")
    assert "next page: --after" in out
    code, out = run(site, "documents", "list", "--source", "nope")
    assert code == 2 and "no source 'nope'" in out


def test_explain_says_why(site: Site) -> None:
    code, out = run(site, "explain", "hostile/plain-1")
    assert code == 0, out
    assert f"{RELEASE}@1.0.0: dropped at exact_dedup: exact duplicate — duplicates hostile/copy-of-plain-1" in out
    code, out = run(site, "explain", "hostile/dots/../up", "--release", f"{RELEASE}@1.1.0", "--json")
    data = json.loads(out)
    assert [(f["status"], f["stage"], f["reason"]) for f in data["fates"]] == [
        ("dropped", "filter:length", "too_few_words")]
    code, out = run(site, "explain", "nltk-genesis/lolcat")
    assert "dropped at licence: tier:review" in out
    code, out = run(site, "explain", "hostile/court", "--release", "nope")
    assert code == 2 and "NAME@VERSION" in out


def test_releases_list_show_diff(site: Site) -> None:
    code, out = run(site, "releases", "list")
    assert code == 0 and f"{RELEASE}@1.0.0" in out and f"{RELEASE}@1.1.0" in out
    code, out = run(site, "releases", "show", f"{RELEASE}@1.0.0")
    assert code == 0 and "exact_dedup" in out and "Licence mix (manifest)" in out and "CC-BY-4.0" in out
    code, out = run(site, "releases", "diff", f"{RELEASE}@1.1.0")
    assert code == 0, out
    assert "removed: 1" in out and "dropped at filter:length (too_few_words)" in out and "hostile/dots/../up" in out
    code, out = run(site, "releases", "diff", f"{RELEASE}@1.0.0", "--against", "1.1.0", "--json")
    data = json.loads(out)
    assert data["added"]["documents"] == 1 and data["lists"]["added"]["items"][0]["identifier"] == "dots/../up"
    code, out = run(site, "releases", "diff", f"{RELEASE}@1.0.0")
    assert "first version" in out
    code, out = run(site, "releases", "show", "web-test@9")
    assert code == 2 and "no release web-test@9" in out


def test_users_commands(site: Site) -> None:
    code, out = run(site, "users", "add", "cli-user", "--role", "reviewer", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0 and "Added cli-user (reviewer)" in out
    code, out = run(site, "users", "add", "cli-user", "--role", "reviewer", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 2 and "already exists" in out
    code, out = run(site, "users", "add", "bad name", "--role", "reviewer", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 2 and "invalid user name" in out
    code, out = run(site, "users", "add", "short", "--role", "reviewer", "--password-stdin", stdin="abc\n")
    assert code == 2 and "too short" in out
    code, out = run(site, "users", "set-role", "cli-user", "contributor")
    assert code == 0
    code, out = run(site, "users", "token", "cli-user")
    token = out.strip()
    assert token.startswith("crt_")
    assert site.api().get("/api/account", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    code, out = run(site, "users", "disable", "cli-user")
    assert site.api().get("/api/account", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    code, out = run(site, "users", "list", "--json")
    users = {u["name"]: u for u in json.loads(out)}
    assert users["cli-user"] == {**users["cli-user"], "role": "contributor", "disabled": True}


def test_serve_refuses_an_uninitialised_registry(tmp_path) -> None:  # noqa: ANN001
    r = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "serve"])
    assert r.exit_code == 2 and "corpus-registry init" in r.output
