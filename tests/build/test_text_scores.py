"""The text scores the keep rule and the OCR filter use (accents, junk, mojibake) are counted with
``bytes.translate`` and ``str.count`` rather than regular expressions, and the keep rule's noise and
tokens with numpy on a whole batch of texts, for speed; they must count exactly what the regular
expressions and ``str.split`` count, on any text and language."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from corpus_registry.build.dedup.quality import DIACRITICS, accent_coverage, text_qualities, text_quality
from corpus_registry.build.filters.ocr import count_damage, count_junk, count_noise, count_noise_many
from tests.texts import read_body

_JUNK_CHAR = re.compile(r"[|~^{}\\¦¬■□▪◆★¤¢]")
_MOJIBAKE_HINT = re.compile(r"[ÃÂ€\x80-\x9f]")
_MOJIBAKE = re.compile(r"[ÃÂâ\x80-\x9f](?:(?<=[ÃÂ])[\x80-\xbf]|(?<=â)[€\x80-\x9f]|(?<=[\x80-\x9f]))")
_ASCII_LETTERS = bytes(range(ord("a"), ord("z") + 1)) + bytes(range(ord("A"), ord("Z") + 1))


def _accents_by_counting(text: str, language: str) -> float:
    """accent_coverage as first written: one ``str.count`` per letter and case."""
    spec = DIACRITICS.get(language.split("-")[0].lower())
    if spec is None:
        return 1.0
    letters, expected = spec
    if text.isascii():
        return 0.0
    data = text.encode("ascii", "ignore")
    ascii_letters = len(data) - len(data.translate(None, _ASCII_LETTERS))
    cases = [c for letter in letters for c in (letter, letter.upper())
             if c == letter or (len(letter.upper()) == 1 and letter.upper() != letter)]
    accented = sum(text.count(c) for c in cases)
    total = ascii_letters + accented
    return accented / total / expected if total else 1.0


def _damage_by_regex(text: str) -> int:
    if text.isascii():
        return 0
    damage = text.count("\ufffd")
    if _MOJIBAKE_HINT.search(text):
        damage += len(_MOJIBAKE.findall(text))
    return damage


# every character the sets name, their neighbours, letters in both cases, spaces of several kinds
_ALPHABET = st.sampled_from(sorted(
    set("".join(letters for letters, _ in DIACRITICS.values())) | set("".join(DIACRITICS["fr"][0]).upper())
    | set("|~^{}\\¦¬■□▪◆★¤¢ÃÂâ€\ufffd") | {chr(c) for c in range(0x7B, 0x100)} | set("abcxyzIB019 ")
    | set("\u00a0\u2009\u3000\t\nœŒłŁıİ’«»")))
_LANGUAGES = st.sampled_from([*DIACRITICS, "en", "la", "fr-FR", "TR"])


@given(text=st.text(_ALPHABET, max_size=60), language=_LANGUAGES)
def test_counted_with_bytes_as_with_character_classes(text: str, language: str) -> None:
    assert count_junk(text) == len(_JUNK_CHAR.findall(text))
    assert count_damage(text) == _damage_by_regex(text)
    assert accent_coverage(text, language) == _accents_by_counting(text, language)


def _quality_as_first_written(text: str, language: str) -> float:
    tokens = max(len(text.split()), len(text) // 8, 1)
    return round(_accents_by_counting(text, language) - 10 * (_damage_by_regex(text) / tokens)
                 - count_noise(text) / tokens, 3) + 0.0


@given(text=st.text(_ALPHABET, max_size=60), language=_LANGUAGES)
def test_text_quality_as_first_written(text: str, language: str) -> None:
    assert text_quality(text, language) == _quality_as_first_written(text, language)


def test_counted_alike_on_a_real_book() -> None:
    text = read_body("gutenberg-fr/pg10746-boule-de-suif/10746-8.txt", "latin-1")
    assert accent_coverage(text, "fr") == _accents_by_counting(text, "fr") > 1
    assert count_junk(text) == len(_JUNK_CHAR.findall(text))
    assert count_damage(text) == _damage_by_regex(text)
    for language in ("fr", "de", "en", "pl"):
        assert text_quality(text, language) == _quality_as_first_written(text, language)
    for paragraph in text.split("\n\n")[:300]:
        assert text_quality(paragraph, "fr") == _quality_as_first_written(paragraph, "fr")


# the batch counter's edge cases too: markup set aside, separators, code points beyond the BMP, NUL
_BATCH_ALPHABET = st.sampled_from(sorted(set("aAbBzZyYéÉÿßøØ×÷1 \t\n\u00a0\u2009\u3000|■<>:/w.x\x00\U0001f600")))


@given(texts=st.lists(st.text(_BATCH_ALPHABET, max_size=40), max_size=8))
def test_noise_and_tokens_of_a_batch_as_of_each_text(texts: list[str]) -> None:
    noise, tokens = count_noise_many(texts)
    assert noise == [count_noise(t) for t in texts]
    assert all(n is None or n == len(t.split()) for t, n in zip(texts, tokens))
    assert text_qualities(texts, ["fr"] * len(texts)) == [text_quality(t, "fr") for t in texts]


def test_a_batch_of_real_paragraphs_scores_as_each_alone() -> None:
    paragraphs = [p for p in read_body("gutenberg-fr/pg10746-boule-de-suif/10746-8.txt", "latin-1").split("\n\n")
                  if p.strip()][:400]
    languages = ["fr", "de", None, "en"] * 100
    assert text_qualities(paragraphs, languages) == [text_quality(p, lang) for p, lang in zip(paragraphs, languages)]
    noise, tokens = count_noise_many(paragraphs)
    assert noise == [count_noise(p) for p in paragraphs]
    assert [n for n in tokens if n is not None] == [len(p.split()) for p, n in zip(paragraphs, tokens) if n is not None]
    assert tokens.count(None) < 5
