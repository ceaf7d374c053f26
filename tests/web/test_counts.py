"""The per-source counts: one scan, kept in the registry for the next server, recounted when the
registry changes (whoever changed it: the web or the CLI)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from corpus_registry.cli import cli
from corpus_registry.registry import browse

from tests.web.site import Site


def hostile_documents(client) -> int:  # noqa: ANN001
    return next(s["documents"] for s in client.get("/api/sources").json()["sources"] if s["slug"] == "hostile")


def test_counts_are_kept_and_follow_changes(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hostile_documents(site.client(counts_recheck_s=0)) == 8
    # a new server starts from the kept counts: no scan while nothing changed
    calls = []
    real = browse.facet_rows
    monkeypatch.setattr(browse, "facet_rows", lambda registry: calls.append(1) or real(registry))
    fresh = site.client(counts_recheck_s=0)
    assert hostile_documents(fresh) == 8 and calls == []
    # a withdrawal through the CLI changes the registry's fingerprint: the next request recounts
    r = CliRunner().invoke(cli, ["--db", site.registry.url, "withdraw", "hostile/court", "--reason", "test"])
    assert r.exit_code == 0, r.output
    assert hostile_documents(fresh) == 7 and calls == [1]
    assert hostile_documents(fresh) == 7 and calls == [1]  # once
    assert hostile_documents(site.client(counts_recheck_s=0)) == 7 and calls == [1]  # kept for the next server
