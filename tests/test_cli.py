"""The CLI as a user meets it: help everywhere, JSON output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from corpus_registry.cli import cli

from tests.conftest import CATALOGUE, REPO


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out.extend(all_commands(cmd, (*prefix, name)))
    return out


@pytest.mark.parametrize("path", all_commands(cli), ids=lambda p: " ".join(p))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert cmd.help and len(cmd.help.strip()) > 20, f"{' '.join(path)} lacks help text"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{' '.join(path)} {param.opts[0]} lacks help"


def test_cli_end_to_end(registry, tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", registry.url]
    catalogue = tmp_path / "sources.yaml"
    # only the small sources, to keep the test quick
    text = CATALOGUE.read_text(encoding="utf-8").replace("path: data/", f"allow_outside: true\n      path: {REPO}/data/")
    catalogue.write_text(text, encoding="utf-8")
    r = runner.invoke(cli, [*db, "sources", "sync", str(catalogue), "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["added"]) == 6
    r = runner.invoke(cli, [*db, "ingest", "--no-progress", "nltk-udhr", "nltk-genesis"])
    assert r.exit_code == 0, r.output
    assert "nltk-udhr: 40 documents read, 40 added" in r.output
    r = runner.invoke(cli, [*db, "stats", "--json"])
    data = json.loads(r.output)
    assert data["totals"]["documents"] == 48
    r = runner.invoke(cli, [*db, "show", "nltk-genesis/french", "--json"])
    rec = json.loads(r.output)
    assert rec["language"] == "fr" and rec["license"] == "CC-PDM-1.0" and "Dieu" in rec["text"]
    r = runner.invoke(cli, [*db, "sources", "list"])
    assert "nltk-genesis" in r.output and "public_domain" in r.output
    # `show … | head`: the reader goes away after a few lines; the command stops quietly
    proc = subprocess.Popen([sys.executable, "-m", "corpus_registry.cli", *db, "show", "nltk-genesis/french"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.read(64)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 141) and not err, err.decode()  # 141 when a write meets the closed pipe


def test_errors_are_one_line_with_a_hint(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["--db", str(tmp_path / "nothing.db"), "stats"])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("Error: no registry at") and "corpus-registry init" in lines[1]
    assert "Traceback" not in r.output
    r = runner.invoke(cli, ["--db", str(tmp_path / "r.db"), "init"])
    assert r.exit_code == 0
    r = runner.invoke(cli, ["--db", str(tmp_path / "r.db"), "show", "pg800"])
    assert r.exit_code == 2 and r.output.startswith("Error: no document 'pg800'")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - slug: x\n    name: X\n    collection: OpenWeb\n    license: CC-BY-99\n"
                   "    reader: {kind: text, path: .}\n")
    r = runner.invoke(cli, ["--db", str(tmp_path / "r.db"), "sources", "sync", str(bad)])
    assert r.exit_code == 2
    assert "bad.yaml: sources[x].license" in r.output and "CC-BY-99" in r.output


def test_unreachable_postgres_is_a_clear_error() -> None:
    r = CliRunner().invoke(cli, ["--db", "postgresql://nobody@127.0.0.1:1/none", "stats"])
    assert r.exit_code == 2
    assert r.output.startswith("Error: cannot open the registry at postgresql")
    assert "Traceback" not in r.output
