"""Normalisation is the contract between ingest, build and audit: it must be idempotent."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_registry.registry import documents
from corpus_registry.registry.documents import count_words, normalize_text, text_sha256

from tests.conftest import DATA

FILES = sorted(p for p in DATA.rglob("*") if p.suffix in {".txt", ".md"})


@pytest.mark.parametrize("path", FILES[:: max(1, len(FILES) // 60)], ids=lambda p: p.name)
def test_normalisation_is_idempotent_on_real_files(path) -> None:
    raw = path.read_bytes().decode("utf-8", errors="replace") if path.suffix else ""
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert "\r" not in once and "\ufeff" not in once and "\n\n\n" not in once


@pytest.mark.parametrize(
    "raw",
    ["  \ufeff Texte avec BOM après des blancs", "a \t\r\n \r\n\r\n\r\nb", "\u2028x\u2029y\x85z", "e\u0301te\u0301",
     "e\ufeff\u0301t\u00e9 au milieu\ufeff"],
)
def test_normalisation_edge_cases(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert text_sha256(once) == text_sha256(normalize_text(once))


def test_nfc_and_word_count() -> None:
    assert normalize_text("e\u0301te\u0301") == "été"
    assert count_words("L'été, à Paris : 3 jours.") == 6


# count_words and normalize_text take shortcuts (a code point table; rewrites skipped when a
# substring search finds nothing to rewrite): they must equal their plain regex definitions.
_ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
_LATIN1_TEXT = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=400)  # count_words' byte path
_LINES_TEXT = st.text(alphabet=st.sampled_from(list("ab é\t\r\n\u2028\u2029\x85\ufeff_1") + ["\U0001d400"]),
                      max_size=200)


def _reference_normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\ufeff", ""))
    text = re.sub(r"\r\n?|[\u2028\u2029\x85]", "\n", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(_ANY_TEXT, _LATIN1_TEXT, _LINES_TEXT))
def test_count_words_and_normalize_equal_their_definitions(text: str) -> None:
    assert count_words(text) == len(re.findall(r"\w+", text))
    assert normalize_text(text) == _reference_normalize(text)


@pytest.mark.parametrize("text", ["été au_bord de l'eau 42", "Ωmega été ab", "ab\U0001d400cd éé", " x  yz "])
def test_count_words_across_chunk_boundaries(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # a word cut by a chunk boundary counts once, whichever path (bytes or code points) each chunk takes
    for size in range(1, len(text) + 1):
        monkeypatch.setattr(documents, "CHUNK_CHARS", size)
        assert documents.count_words(text) == len(re.findall(r"\w+", text)), size
