"""Language codes (issue 12, item 5): checked with langcodes wherever they enter, never a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from corpus_registry.build.spec import parse_spec
from corpus_registry.cli import cli
from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry.catalogue import load_catalogue
from corpus_registry.registry.db.models import Document
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.languages import canonical_language
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.conftest import CATALOGUE, REPO


@pytest.mark.parametrize(("given", "stored"), [
    ("fr", "fr"), ("FR", "fr"), ("fra", "fr"), ("fre", "fr"), ("en_US", "en-US"), ("pt-br", "pt-BR"),
    ("zh-hant", "zh-Hant"), ("tl", "tl"), ("sh", "sh"), ("und", "und"), (" de ", "de"),
])
def test_valid_codes_are_stored_in_one_form(given: str, stored: str) -> None:
    assert canonical_language(given) == stored


@pytest.mark.parametrize("bad", ["../../pwn", "fr/../../x", "xx", "english", "", "-", "fr-", "a" * 20, "f\x00r",
                                 "fr\\..", ".", 3, None])
def test_anything_else_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not a language code"):
        canonical_language(bad)


def test_a_catalogue_override_is_checked_at_sync(registry: Registry, tmp_path: Path) -> None:
    text = CATALOGUE.read_text(encoding="utf-8").replace("path: data/", f"allow_outside: true\n      path: {REPO}/data/")
    bad = tmp_path / "sources.yaml"
    bad.write_text(text.replace("        language: en", "        language: ../../pwn"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\[nltk-genesis\]\.documents\.lolcat\.language: "
                                          r"'\.\./\.\./pwn' is not a language code"):
        load_catalogue(bad)
    r = CliRunner().invoke(cli, ["--db", registry.url, "sources", "sync", str(bad)])
    assert r.exit_code == 2 and "lolcat.language" in r.output and "Traceback" not in r.output
    with registry.session() as s:
        assert s.scalar(select(Document.id)) is None


def test_a_reader_language_field_is_checked(registry: Registry, tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "Un texte assez long pour être un document.", "lang": "fr"},
            {"id": "b", "text": "Another text, long enough to be a document.", "lang": "../../pwn"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - slug: s\n    name: S\n    collection: OpenWeb\n    license: CC0-1.0\n"
        "    reader: {kind: jsonl, path: d.jsonl, language_field: lang}\n    documents: {a: {language: fra}}\n")
    sync_sources(registry, catalogue_path=tmp_path / "sources.yaml")
    with pytest.raises(ReaderError, match=r"s: document 'b': its language field: '\.\./\.\./pwn' is not a language code"):
        ingest(registry, progress=False, workers=1)
    rows[1]["lang"] = "en"
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    ingest(registry, progress=False, workers=1)
    with registry.session() as s:
        assert s.scalar(select(Document.language).where(Document.identifier == "a")) == "fr"  # the override, canonical


def test_a_spec_language_is_checked() -> None:
    assert parse_spec({"name": "x", "version": "1", "select": {"languages": ["FRA", "en_GB"]}}).select.languages == [
        "en-GB", "fr"]
    with pytest.raises(ConfigError, match=r"select\.languages: '\.\./x' is not a language code"):
        parse_spec({"name": "x", "version": "1", "select": {"languages": ["../x"]}})
