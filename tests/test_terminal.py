"""What reaches a terminal: control characters escaped, secrets masked; the CLI prints only that way."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from corpus_registry.terminal import clean, json_safe, mask, one_line

from tests.conftest import REPO

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def test_escapes_are_visible() -> None:
    title = "Le titre\x1b[2J\x1b]0;pwned\x07\r\n## Faux\u202egnp.exe\tfin"
    assert clean(title) == "Le titre\\x1b[2J\\x1b]0;pwned\\x07\\r\n## Faux\\u202egnp.exe\tfin"
    assert one_line(title) == "Le titre\\x1b[2J\\x1b]0;pwned\\x07\\r\\n## Faux\\u202egnp.exe\\tfin"
    assert clean("accents é, 漢字, emoji 🙂") == "accents é, 漢字, emoji 🙂"


@given(st.text())
def test_nothing_raw_gets_through(text: str) -> None:
    assert not RAW.search(clean(text))
    line = one_line(text)
    assert not RAW.search(line) and "\n" not in line and "\t" not in line
    if not RAW.search(text) and "\n" not in text and "\t" not in text:
        assert line == text  # ordinary text is left alone


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=20))
def test_json_stays_the_same_json(data: object) -> None:
    text = json.dumps(data, ensure_ascii=False)
    safe = json_safe(text)
    assert json.loads(safe) == data and not RAW.search(safe)


def test_credentials_are_masked() -> None:
    assert mask("cannot reach the Hub at https://alice:s3cr3t@hub.example.org/api") == (
        "cannot reach the Hub at https://alice:***@hub.example.org/api")
    assert mask("postgresql://bob:pw@db:5432/x?sslmode=require&password=pw2") == (
        "postgresql://bob:***@db:5432/x?sslmode=require&password=***")
    assert mask("postgresql://postgres@127.0.0.1/test") == "postgresql://postgres@127.0.0.1/test"  # no secret
    assert mask("https://ghp_0123456789abcdefghij@github.com") == "https://***@github.com"
    assert mask("token hf_AbCdEfGhIjKlMnOp refused") == "token hf_*** refused"
    assert mask("https://huggingface.co/datasets/a/b") == "https://huggingface.co/datasets/a/b"


def test_the_cli_prints_only_through_say() -> None:
    """One helper for every CLI output path: no module of the CLI calls click.echo or print itself."""
    offenders = []
    for path in sorted((REPO / "corpus_registry" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "say":
                continue
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name in ("echo", "secho", "print") and not _inside_say(tree, node):
                    offenders.append(f"{Path(path).name}:{node.lineno}")
    assert offenders == []


def _inside_say(tree: ast.AST, call: ast.Call) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "say":
            return any(n is call for n in ast.walk(node))
    return False


def test_hostile_metadata_reaches_the_terminal_escaped(registry, tmp_path: Path) -> None:
    """Item 9: a title and a text with escape sequences and forged lines, shown by `show`, `stats`
    and in errors, never raw."""
    from click.testing import CliRunner

    from corpus_registry.cli import cli
    from corpus_registry.registry.ingest import ingest
    from corpus_registry.registry.sources import sync_sources

    title = "Innocent\x1b[2J\x1b]0;owned\x07\nlicense:        CC0-1.0\u202e"
    body = "Un texte ordinaire avec assez de mots pour être un document.\x1b[31m rouge\x9b2J"
    (tmp_path / "docs.jsonl").write_text(json.dumps({"id": "doc-1", "text": body, "title": title, "lang": "fr"}))
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - slug: hostile\n    name: Hostile\n    collection: OpenWeb\n    license: CC0-1.0\n"
        "    reader: {kind: jsonl, path: docs.jsonl, title_field: title, language_field: lang}\n")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    ingest(registry, progress=False, workers=1)
    runner = CliRunner()
    for args in (["show", "doc-1"], ["show", "doc-1", "--json"], ["stats"], ["sources", "list"],
                 ["show", "no-such\x1b[2J\ndoc"]):
        r = runner.invoke(cli, ["--db", registry.url, *args])
        assert not RAW.search(r.output), (args, r.output)
        assert "Traceback" not in r.output
    r = runner.invoke(cli, ["--db", registry.url, "show", "doc-1"])
    lines = r.output.splitlines()
    assert [line for line in lines if line.startswith("title:")] == [
        "title:           Innocent\\x1b[2J\\x1b]0;owned\\x07\\nlicense:        CC0-1.0\\u202e"]
    assert sum(line.startswith("license:") for line in lines) == 1  # no forged field line
    assert "\\x1b[31m rouge\\x9b2J" in r.output
    r = runner.invoke(cli, ["--db", registry.url, "show", "doc-1", "--json"])
    assert json.loads(r.output)["title"] == title  # JSON keeps the value exactly, escaped
    r = runner.invoke(cli, ["--db", registry.url, "show", "no-such\x1b[2J\ndoc"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) <= 2 and "no-such\\x1b[2J\\ndoc" in r.output


def test_a_bad_usage_value_is_escaped_too() -> None:
    from click.testing import CliRunner

    from corpus_registry.cli import cli

    r = CliRunner().invoke(cli, ["audit", "--format", "x\x1b[2J"])
    assert r.exit_code == 2 and not RAW.search(r.output) and "x\\x1b[2J" in r.output
