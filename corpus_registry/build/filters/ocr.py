"""Damage a scanner or a wrong decoder leaves behind: garbage tokens, broken case, mojibake."""

from __future__ import annotations

import re

from corpus_registry.build.filters.base import BuildDoc, FilterResult, QualityFilter, _view

__all__ = ["OcrNoiseFilter", "count_damage", "count_noise"]

# Signs of bad OCR or bad decoding, counted per whitespace token.
_REPLACEMENT = "\ufffd"
# UTF-8 read as Latin-1/cp1252 ("Ã©", "â€™"), and C1 controls (cp1252 read as Latin-1: "\x92")
_MOJIBAKE = re.compile(
    r"[ÃÂâ\x80-\x9f](?:(?<=[ÃÂ])[\x80-\xbf]|(?<=â)[€\x80-\x9f]|(?<=[\x80-\x9f]))"
)
# an upper-case letter right after a lower-case one
_ODD_CASE = re.compile(r"[A-ZÀ-ÖØ-Þ](?<=[a-zß-öø-ÿ].)")
_LETTER_DIGIT = re.compile(r"[0-9](?<=[A-Za-zß-öø-ÿ][0-9])")  # a digit right after a letter
_LONE_CONSONANT = re.compile(r" [b-df-hj-np-tv-xzB-DF-HJ-NP-TV-XZ](?!\S)")
# markup and addresses are not OCR noise (``<a href='/affichCodeArticle.do?cidTexte=...'>``)
_MARKUP = re.compile(r"<[^<>\n]*>|(?:https?://|www\.)\S*")


# Character sets as their Latin-1 bytes plus the characters beyond Latin-1, counted with
# ``bytes.translate`` and ``str.count`` (one pass in C each; a regular expression's character class
# costs several times more per character). A mojibake sequence starts with one of Ã Â € \x80-\x9f:
_HINT_BYTES = bytes([ord("Ã"), ord("Â"), *range(0x80, 0xA0)])
# OCR junk: | ~ ^ { } \ ¦ ¬ ¤ ¢ and ■ □ ▪ ◆ ★
_JUNK_BYTES = "|~^{}\\¦¬¤¢".encode("latin-1")
_JUNK_WIDE = "■□▪◆★"


def count_damage(text: str) -> int:
    """Replacement characters (U+FFFD) and mojibake sequences: signs of a wrong decoding."""
    if text.isascii():
        return 0
    damage = text.count(_REPLACEMENT)
    if _mojibake_hint(text):
        damage += len(_MOJIBAKE.findall(text))
    return damage


def _mojibake_hint(text: str) -> bool:
    """Whether a (non-ASCII) text holds a character a mojibake sequence starts with."""
    data = text.encode("latin-1", "ignore")
    return len(data.translate(None, _HINT_BYTES)) != len(data) or "€" in text


def count_junk(text: str) -> int:
    """How many characters of ``text`` are OCR junk."""
    if text.isascii():
        data = text.encode("ascii")
        return len(data) - len(data.translate(None, _JUNK_BYTES))
    data = text.encode("latin-1", "ignore")
    return len(data) - len(data.translate(None, _JUNK_BYTES)) + sum(text.count(c) for c in _JUNK_WIDE)


def count_noise(text: str) -> int:
    """OCR-noise signs (junk characters, lone consonants, odd case, digits glued to letters),
    markup and addresses set aside: the measure the filter below applies."""
    if "<" in text or "://" in text or "www." in text:
        text = _MARKUP.sub(" ", text)
    noise = count_junk(text) + len(_LONE_CONSONANT.findall(text)) + len(_ODD_CASE.findall(text))
    if any(d in text for d in "0123456789"):
        noise += len(_LETTER_DIGIT.findall(text))
    return noise


class OcrNoiseFilter(QualityFilter):
    """Badly scanned or badly decoded text: garbage tokens, broken case, encoding damage.

    Noise per token: odd casing inside a word (``tHe``), a digit glued after a letter (``f0x``),
    OCR junk characters (``| ~ ^ { } ¦ ¬ ■``...) and lone consonants (``l``, ``t``: fragments of
    split words; lone vowels are real words in many languages). HTML tags and URL-like tokens are
    set aside first: they are markup, not noise. Replacement characters (U+FFFD) and mojibake
    (UTF-8 read as Latin-1: ``Ã©``, ``â€™``; C1 control characters, as when cp1252 is read as
    Latin-1) are counted apart: a small share already means the text was decoded wrongly.
    Case, digit and consonant rules look at Latin letters only; a text in a script written
    without spaces counts one token per 8 characters.
    """

    name = "ocr_noise"

    def __init__(
        self,
        *,
        max_noise_token_ratio: float = 0.1,
        max_replacement_ratio: float = 0.01,
        max_mojibake_ratio: float = 0.01,
    ) -> None:
        super().__init__()
        self.max_noise_token_ratio = max_noise_token_ratio
        self.max_replacement_ratio = max_replacement_ratio
        self.max_mojibake_ratio = max_mojibake_ratio

    def filter(self, doc: BuildDoc) -> FilterResult:
        text = doc.text
        view = _view(text)
        if not view.tokens:
            return False, "no_words"
        # scripts written without spaces (Chinese, Japanese, Thai) count one token per 8 chars
        tokens = max(len(view.tokens), len(text) // 8)
        if not text.isascii():
            if text.count(_REPLACEMENT) / tokens > self.max_replacement_ratio:
                return False, "replacement_chars"
            if (
                _mojibake_hint(text)
                and len(_MOJIBAKE.findall(text)) / tokens > self.max_mojibake_ratio
            ):
                return False, "mojibake"
        digits = view.digits
        if "<" in text or "://" in text or "www." in text:
            text = _MARKUP.sub(" ", text)
        noise = count_junk(text) + len(_LONE_CONSONANT.findall(text))
        noise += len(_ODD_CASE.findall(text))
        if digits:
            noise += len(_LETTER_DIGIT.findall(text))
        if noise / tokens > self.max_noise_token_ratio:
            return False, "ocr_noise_tokens"
        return True
