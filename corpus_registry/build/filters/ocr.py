"""Damage a scanner or a wrong decoder leaves behind: garbage tokens, broken case, mojibake."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from corpus_registry.build.filters.base import BuildDoc, FilterResult, QualityFilter, _view

__all__ = ["OcrNoiseFilter", "count_damage", "count_noise", "count_noise_many"]

# Signs of bad OCR or bad decoding, counted per whitespace token.
_REPLACEMENT = "\ufffd"
# UTF-8 read as Latin-1/cp1252 ("Ã©", "â€™"), and C1 controls (cp1252 read as Latin-1: "\x92")
_MOJIBAKE = re.compile(
    r"[ÃÂâ\x80-\x9f](?:(?<=[ÃÂ])[\x80-\xbf]|(?<=â)[€\x80-\x9f]|(?<=[\x80-\x9f]))"
)
_UPPER_SET, _LOWER_SET, _LETTER_SET = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ", "A-Za-zß-öø-ÿ"
_CONSONANT_SET = "b-df-hj-np-tv-xzB-DF-HJ-NP-TV-XZ"
# an upper-case letter right after a lower-case one
_ODD_CASE = re.compile(f"[{_UPPER_SET}](?<=[{_LOWER_SET}].)")
_LETTER_DIGIT = re.compile(f"[0-9](?<=[{_LETTER_SET}][0-9])")  # a digit right after a letter
_LONE_CONSONANT = re.compile(f" [{_CONSONANT_SET}](?!\\S)")
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


# count_noise_many: each BMP code point's category (the character classes of the patterns above,
# made exclusive), then per (previous, this, next) category: the noise signs counted at this
# position, and whether a whitespace token starts here. _EDGE: the separator around each text.
_OTHER, _VOWEL, _LOWER, _UPPER_VOWEL, _UPPER, _UPPER_WIDE, _DIGIT, _BLANK, _SPACE, _JUNK, _EDGE = range(11)
_BATCH_CHARS = 1 << 20
_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(category per BMP code point, per category triple: the noise signs counted + 2³² if a token
    starts there)."""
    global _TABLES
    if _TABLES is None:
        every = "".join(map(chr, range(0x10000)))

        def has(chars: str) -> np.ndarray:
            mask = np.zeros(0x10000, dtype=bool)
            mask[[m.start() for m in re.finditer(f"[{chars}]", every)]] = True
            return mask

        upper, lower, letter, consonant = has(_UPPER_SET), has(_LOWER_SET), has(_LETTER_SET), has(_CONSONANT_SET)
        category = np.full(0x10000, _OTHER, dtype=np.uint16)
        category[lower] = _VOWEL
        category[lower & consonant] = _LOWER
        category[upper & letter] = _UPPER_VOWEL
        category[upper & letter & consonant] = _UPPER
        category[upper & ~letter] = _UPPER_WIDE
        category[has("0-9")] = _DIGIT
        category[has(r"\s")] = _SPACE  # what \S and str.split() see as whitespace
        category[ord(" ")] = _BLANK
        category[has(re.escape(_JUNK_BYTES.decode("latin-1") + _JUNK_WIDE))] = _JUNK
        category[0] = _EDGE
        prev, this, after = (a.ravel() for a in np.meshgrid(*[np.arange(11)] * 3, indexing="ij"))
        lowers, letters, gaps = [_VOWEL, _LOWER], [_VOWEL, _LOWER, _UPPER_VOWEL, _UPPER], [_BLANK, _SPACE, _EDGE]
        noise = ((this == _JUNK).astype(np.uint8)
                 + (np.isin(prev, lowers) & np.isin(this, [_UPPER_VOWEL, _UPPER, _UPPER_WIDE]))  # _ODD_CASE
                 + (np.isin(prev, letters) & (this == _DIGIT))  # _LETTER_DIGIT
                 + ((prev == _BLANK) & np.isin(this, [_LOWER, _UPPER]) & np.isin(after, gaps)))  # _LONE_CONSONANT
        starts = ~np.isin(this, gaps) & np.isin(prev, gaps)
        _TABLES = category, noise.astype(np.int64) | (starts.astype(np.int64) << 32)
    return _TABLES


def count_noise_many(texts: Sequence[str]) -> tuple[list[int], list[int | None]]:
    """(:func:`count_noise`, ``len(text.split())``) of each text, counted on all of them at once with
    numpy, from each code point's category and its neighbours', where the regular expressions take a
    pass each per text. The token count is None for a text with markup (its noise is counted with
    the markup set aside, its tokens with it: count them on the text)."""
    if any("\x00" in t for t in texts):  # the separator: the rare text holding it is counted alone
        return [count_noise(t) for t in texts], [len(t.split()) for t in texts]
    noise: list[int] = []
    tokens: list[int | None] = []
    start = 0
    while start < len(texts):
        stop, size = start + 1, len(texts[start])
        while stop < len(texts) and size + len(texts[stop]) <= _BATCH_CHARS:
            size += len(texts[stop])
            stop += 1
        batch = texts[start:stop]
        marked = ["<" in t or "://" in t or "www." in t for t in batch]
        n, words = _count_batch([_MARKUP.sub(" ", t) if m else t for t, m in zip(batch, marked)])
        noise += n
        tokens += [None if m else w for w, m in zip(words, marked)]
        start = stop
    return noise, tokens


def _count_batch(texts: list[str]) -> tuple[list[int], list[int]]:
    category, counts = _tables()
    # every text between separators, two at the end: an empty last text still has a span
    cps = np.frombuffer(("\x00" + "\x00".join(texts) + "\x00\x00").encode("utf-32-le", "surrogatepass"),
                        dtype=np.uint32)
    kinds = category[cps & 0xFFFF]
    if int(cps.max()) > 0xFFFF:
        kinds[cps > 0xFFFF] = _OTHER
    triple = kinds[:-2] * 121 + kinds[1:-1] * 11 + kinds[2:]  # centred on each character but the edges
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    first = np.cumsum(lengths + 1) - lengths - 1  # each text's first character, in ``triple``
    # each text's span runs to the next one's: the separator between them counts nothing
    per_text = np.add.reduceat(counts[triple], first)
    return (per_text & 0xFFFFFFFF).tolist(), (per_text >> 32).tolist()


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
