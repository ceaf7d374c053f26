"""Among duplicates the keep rule prefers the better text (after the licence tier): the accented copy
over its 7-bit accent-stripped twin, the cleanly decoded one over one full of U+FFFD.

The bundled data holds no *Le Horla*; its real case is the same one: *Boule de suif* (PG #10746) as
Project Gutenberg ships it twice, ``10746-8.txt`` (Latin-1, accented) and ``10746.txt`` (7-bit,
every accent stripped: "Pendant plusieurs jours de suite des lambeaux d'armee en deroute").
"""

from __future__ import annotations

import textwrap
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus_registry.build.builder import build_release
from corpus_registry.build.dedup import keep_rank
from corpus_registry.build.dedup.quality import accent_coverage, text_quality
from corpus_registry.build.spec import parse_spec
from corpus_registry.registry.readers import decode_bytes, strip_boilerplate
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.sources import sync_sources

from tests.texts import DATA

ACCENTED = DATA / "gutenberg-fr" / "pg10746-boule-de-suif" / "10746-8.txt"
STRIPPED = DATA / "gutenberg-variants" / "pg10746" / "10746.txt"


def _body(path: Path) -> str:
    text, _ = decode_bytes(path.read_bytes(), path=path.name)
    return strip_boilerplate(text).text


def _strip_accents(text: str) -> str:
    return unicodedata.normalize("NFC", "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)))


def test_quality_sees_stripped_accents_damage_and_noise() -> None:
    accented, stripped = _body(ACCENTED), _body(STRIPPED)
    assert "armée en déroute" in accented and "armee en deroute" in stripped
    assert accent_coverage(accented, "fr") > 1.5 and accent_coverage(stripped, "fr") == 0
    assert text_quality(accented, "fr") > text_quality(stripped, "fr") + 1
    assert text_quality(_strip_accents(accented), "fr") == text_quality(stripped, "fr") == 0
    # decoded with the wrong codec: U+FFFD where each accent was
    damaged = ACCENTED.read_bytes().decode("utf-8", errors="replace")
    assert text_quality(damaged, "fr") < text_quality(stripped, "fr") < text_quality(accented, "fr")
    # languages written without diacritics: every clean copy scores alike, the date rule decides
    alice = _body(DATA / "gutenberg-en-de-es-it" / "en" / "pg11-alice" / "11-0.txt")
    assert text_quality(alice, "en") == text_quality(_strip_accents(alice), "en") == 1.0
    noisy = " ".join(w[:2] + "|" + w[2:] if i % 4 == 0 else w for i, w in enumerate(alice.split()))
    assert text_quality(noisy, "en") < 0.9
    # the score is a pure function of text and language: same input, same score
    assert text_quality(accented, "fr") == text_quality(accented, "fr-FR") == text_quality(accented, "FR")


def _source(tmp_path: Path, files: dict[str, str]) -> Path:
    """One gutenberg source in ``tmp_path`` holding ``files`` (relative path -> text, written in UTF-8)."""
    folder = tmp_path / "books"
    for relpath, text in files.items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_text(text, encoding="utf-8")
    catalogue = tmp_path / "sources.yaml"
    catalogue.write_text(textwrap.dedent(f"""\
        sources:
          - slug: boule
            name: Boule de suif, twice
            collection: OpenCulture
            license: public-domain
            reader: {{kind: gutenberg, path: {folder}}}
            url_template: https://www.gutenberg.org/ebooks/10746
        """), encoding="utf-8")
    return catalogue


@pytest.mark.parametrize("twin", ["pg-7bit", "stripped-in-test", "some-u-fffd"])
def test_the_accented_copy_is_kept(backend: str, make_db_url, tmp_path: Path, twin: str) -> None:
    accented = ACCENTED.read_bytes().decode("latin-1")
    other = {"pg-7bit": STRIPPED.read_bytes().decode("ascii"),
             "stripped-in-test": _strip_accents(accented),
             # a few bad bytes: 200 "é" lost to U+FFFD, still a near duplicate
             "some-u-fffd": accented.replace("é", "\ufffd", 200)}[twin]
    # the twin's key sorts first: today's tie-break (same tier, no dates) would keep it
    catalogue = _source(tmp_path, {"a-twin/10746.txt": other, "b-accented/10746-8.txt": accented})
    assert keep_rank(date=None, word_count=1, key="boule/a-twin/10746") < keep_rank(
        date=None, word_count=1, key="boule/b-accented/10746-8")
    reg = Registry(make_db_url(backend))
    reg.init(store=str(tmp_path / "store"))
    sync_sources(reg, catalogue_path=catalogue)
    ingest(reg, progress=False)
    spec = parse_spec({"name": "boule", "version": "1", "select": {"languages": ["fr"]},
                       "filters": {"ocr_noise": {"enabled": False}},  # let the damaged copy reach dedup
                       "dedup": {"exact": True, "near": True}})
    result = build_release(reg, spec, out_dir=tmp_path / "out", progress=False)
    rows = pq.read_table(next((tmp_path / "out" / "data" / "fr").glob("*.parquet"))).to_pylist()
    assert [r["identifier"] for r in rows] == ["b-accented/10746-8"]
    assert "Pendant plusieurs jours de suite des lambeaux d'armée en déroute" in rows[0]["text"]
    assert rows[0]["url"] == "https://www.gutenberg.org/ebooks/10746"
    removed = pq.read_table(tmp_path / "out" / "removed.parquet").to_pylist()
    assert [(r["identifier"], r["stage"], r["duplicate_of"]) for r in removed] == [
        ("a-twin/10746", "near_dedup", "boule/b-accented/10746-8")]
    assert result.rows == 1
    reg.dispose()
