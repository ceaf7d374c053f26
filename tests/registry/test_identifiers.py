"""Identifiers and metadata (issue 12, item 14): the same limits and one-line errors on SQLite and
PostgreSQL, checked before anything of the batch is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from corpus_registry.cli import cli
from corpus_registry.errors import NotFoundError, ReaderError
from corpus_registry.registry import lookup
from corpus_registry.registry.db.models import Document
from corpus_registry.registry.fields import IDENTIFIER_MAX, check_identifier
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from corpus_registry.registry.unique_ids import SeenKeys

TEXT = "Un texte assez long pour être un document, avec quelques mots de plus."


def _source(registry: Registry, tmp_path: Path, *records: dict[str, object]) -> None:
    rows = [{"id": "good", "text": TEXT}, *records]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - slug: s\n    name: S\n    collection: OpenWeb\n    license: CC0-1.0\n"
        "    reader: {kind: jsonl, path: d.jsonl, title_field: title, creator_field: creator, url_field: url}\n")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")


def _documents(registry: Registry) -> int:
    with registry.session() as s:
        return s.scalar(select(func.count()).select_from(Document)) or 0


@pytest.mark.parametrize(("record", "message"), [
    ({"id": "x" * (IDENTIFIER_MAX + 1)}, r"document 'x{80}…' \(d\.jsonl\): invalid identifier: "
                                         r"it is 513 characters long \(at most 512\)"),
    ({"id": "a\x00b"}, r"document 'a\\x00b' \(d\.jsonl\): invalid identifier: it holds the control character U\+0000"),
    ({"id": "\x1b[31mred"}, r"invalid identifier: it holds the control character U\+001B"),
    ({"id": "a\u2028b"}, r"invalid identifier: it holds the control character U\+2028"),
    ({"id": "a\x7fb"}, r"invalid identifier: it holds the control character U\+007F"),
    ({"id": "a\ud800b"}, r"invalid identifier: it holds the lone surrogate U\+D800"),
    ({"id": "s", "title": "x\udfffy"}, r"document 's' \(d\.jsonl\): its title holds the lone surrogate U\+DFFF"),
    ({"id": "t", "title": "Le\x00titre"}, r"document 't' \(d\.jsonl\): its title holds a NUL character"),
    ({"id": "c", "creator": "Hugo\x00"}, r"document 'c' \(d\.jsonl\): its creator holds a NUL character"),
    ({"id": "u", "url": "https://example.org/" + "p" * 3000}, r"its url is 3,020 characters long \(at most 2048\)"),
])
def test_the_same_refusal_on_every_backend(registry: Registry, tmp_path: Path, record: dict[str, object],
                                           message: str) -> None:
    _source(registry, tmp_path, {"text": TEXT + " Deux.", **record})
    with pytest.raises(ReaderError, match=message) as e:
        ingest(registry, progress=False)
    assert str(e.value).startswith("s: document ")
    assert e.value.hint and "ingest again" in e.value.hint
    assert _documents(registry) == 0  # checked before the batch was written
    r = CliRunner().invoke(cli, ["--db", registry.url, "ingest", "--no-progress", "--workers", "1"])
    assert r.exit_code == 2 and "Traceback" not in r.output and r.output.count("\n") == 2, r.output
    assert r.output.startswith("Error: s: document ") and "\x00" not in r.output and "\x1b" not in r.output


def test_what_every_backend_can_store_is_kept(registry: Registry, tmp_path: Path) -> None:
    long_id, decomposed = "é" * IDENTIFIER_MAX, "Cafe\u0301"
    _source(registry, tmp_path,
            {"id": long_id, "text": TEXT + " Long."},
            {"id": decomposed, "text": TEXT + " NFC.", "title": "Titre\ten deux\nlignes"},
            {"id": "nul", "text": TEXT + " Avec un\x00NUL dans le texte."})
    ingest(registry, progress=False)
    assert _documents(registry) == 4
    assert lookup.show(registry, f"s/{long_id}", with_text=False)["identifier"] == long_id
    rec = lookup.show(registry, "s/Café")  # stored in NFC, found in any form
    assert rec["identifier"] == "Café" and rec["title"] == "Titre\ten deux\nlignes"
    assert lookup.show(registry, "s/Cafe\u0301", with_text=False)["identifier"] == "Café"
    assert "un\x00NUL" in lookup.show(registry, "s/nul")["text"]  # the text lives in the store, not a row
    for ref in ("s/a\x00b", "a\x00b", "s/\ud800"):
        with pytest.raises(NotFoundError):
            lookup.show(registry, ref)
    with pytest.raises(NotFoundError):
        lookup.exact_document(registry, source="s", identifier="a\x00b")


def test_check_identifier_normalises_to_nfc() -> None:
    assert check_identifier("Cafe\u0301", source="s") == "Café"
    with pytest.raises(ReaderError, match="lone surrogate U\\+D800"):
        check_identifier("a\ud800", source="s")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1) | st.integers(min_value=0, max_value=50),
                max_size=12_000), st.lists(st.integers(min_value=0, max_value=3000), max_size=20))
def test_seen_keys_answer_as_a_set_does(keys: list[int], cuts: list[int]) -> None:
    """The compact memory of a worker's identifiers (sorted runs, merged as they fill), given keys a
    batch at a time, names the first key of each batch met before exactly as a plain set would, across
    merges of its runs, and never forgets one."""
    seen, plain = SeenKeys(), set()
    bounds = sorted({0, len(keys), *(min(c, len(keys)) for c in cuts)})
    for lo, hi in zip(bounds, bounds[1:]):
        batch = keys[lo:hi]
        expected = None
        for at, key in enumerate(batch):
            if key in plain and expected is None:
                expected = at
            plain.add(key)
        assert seen.add_all(np.array(batch, dtype=np.uint64)) == expected
    for key in list(plain)[:200]:
        assert seen.add_all(np.array([key], dtype=np.uint64)) == 0
    fresh = [k + 51 for k in range(40) if k + 51 not in plain]
    assert seen.add_all(np.array(fresh, dtype=np.uint64)) is None