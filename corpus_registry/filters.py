"""Quality filters: small named stages that drop low-quality documents and say why.

Each filter implements ``filter(doc) -> bool | (bool, reason)`` (datatrove style); the base class
counts kept/dropped documents and words, per language, and every drop reason, so the build funnel
explains itself. Thresholds default to the Gopher rules (Rae et al. 2021, table A1, as in
datatrove) where Gopher has one; the rest were set so that whole real books and the French Code
civil pass while synthetic spam and OCR garbage do not (see tests/test_filters.py).

Every per-document computation is a handful of C-level passes over the text (``str.count``,
``str.split``, precompiled single-class regexes, one bigram ``Counter``) and the costlier checks
run only when a cheap bound says they could fail: the whole default chain handles ~12,000
documents of ~200 words per second on one core (``bench/dedup.py``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BuildDoc",
    "DigitRatioFilter",
    "FilterConfig",
    "FilterResult",
    "LengthFilter",
    "OcrNoiseFilter",
    "QualityFilter",
    "RepetitionFilter",
    "SymbolRatioFilter",
    "build_filters",
]


@dataclass(slots=True)
class BuildDoc:
    """The minimal record filters and dedup see; the builder makes one per candidate document.

    ``key`` is stable and unique (e.g. ``"source-slug/identifier"``) and breaks ties
    deterministically; ``text`` is already normalised (:func:`corpus_registry.documents.normalize_text`);
    ``word_count`` is :func:`corpus_registry.documents.count_words` of it.
    """

    key: str
    text: str
    sha256: str
    word_count: int
    language: str
    date: str | None = None


FilterResult = bool | tuple[bool, str]

_ASCII_DIGITS = b"0123456789"
_ASCII_SYMBOLS = b"#$%&*+<=>@[\\]^_`{|}~"


class _TextView:
    """Measures of one text that several filters need, each computed at most once."""

    __slots__ = ("_digits", "_encoded", "_tokens", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens: list[str] | None = None
        self._encoded: bytes | None = None
        self._digits = -1

    @property
    def tokens(self) -> list[str]:
        """Whitespace tokens (punctuation attached)."""
        if self._tokens is None:
            self._tokens = self.text.split()
        return self._tokens

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = self.text.encode("utf-8", "surrogatepass")
        return self._encoded

    @property
    def digits(self) -> int:
        """ASCII digits 0-9 (other scripts' digits are not counted)."""
        if self._digits < 0:
            data = self.encoded
            self._digits = len(data) - len(data.translate(None, _ASCII_DIGITS))
        return self._digits


_last_view = _TextView("")


def _view(text: str) -> _TextView:
    """The measures of ``text``, shared by the filters that look at the same document in turn."""
    global _last_view
    view = _last_view
    if view.text is not text:
        view = _last_view = _TextView(text)
    return view


class QualityFilter(ABC):
    """Base of every filter: runs ``filter`` and keeps the counters the build funnel reports."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.kept = 0
        self.dropped = 0
        self.kept_words = 0
        self.dropped_words = 0
        self.reasons: Counter[str] = Counter()
        self._by_language: dict[str, list[int]] = {}  # kept, dropped, kept words, dropped words

    @abstractmethod
    def filter(self, doc: BuildDoc) -> FilterResult:
        """True to keep ``doc``; False or ``(False, reason)`` to drop it."""

    def __call__(self, doc: BuildDoc) -> bool:
        result = self.filter(doc)
        if isinstance(result, tuple):
            keep, reason = result
        else:
            keep, reason = result, self.name
        counts = self._by_language.get(doc.language)
        if counts is None:
            counts = self._by_language[doc.language] = [0, 0, 0, 0]
        if keep:
            self.kept += 1
            self.kept_words += doc.word_count
            counts[0] += 1
            counts[2] += doc.word_count
        else:
            self.dropped += 1
            self.dropped_words += doc.word_count
            self.reasons[reason] += 1
            counts[1] += 1
            counts[3] += doc.word_count
        return keep

    def stats(self) -> dict[str, object]:
        """Counters so far: kept/dropped documents and words, drop reasons, per-language split."""
        return {
            "name": self.name,
            "kept": self.kept,
            "dropped": self.dropped,
            "kept_words": self.kept_words,
            "dropped_words": self.dropped_words,
            "reasons": dict(sorted(self.reasons.items())),
            "by_language": {
                lang: dict(zip(("kept", "dropped", "kept_words", "dropped_words"), counts))
                for lang, counts in sorted(self._by_language.items())
            },
        }


class LengthFilter(QualityFilter):
    """Too short to teach anything, or too long to be one document (a dump, a concatenation)."""

    name = "length"

    def __init__(self, *, min_words: int | None = 50, max_words: int | None = None) -> None:
        super().__init__()
        self.min_words = min_words
        self.max_words = max_words

    def filter(self, doc: BuildDoc) -> FilterResult:
        if self.min_words is not None and doc.word_count < self.min_words:
            return False, "too_few_words"
        if self.max_words is not None and doc.word_count > self.max_words:
            return False, "too_many_words"
        return True


_BULLETS = "•●○◦▪▫‣∙■□➢►▶✓✔➤"
_ANY_BULLET = re.compile(f"[{_BULLETS}]")
_BULLET_LINE = re.compile(rf"^[ \t]*[{_BULLETS}]", re.MULTILINE)
_ELLIPSIS_LINE_END = re.compile(r"(?:\.\.\.|…)[ \t]*$", re.MULTILINE)
_PUNCT = r"!-/:-@\[-`{-~«»“”„‘’‚‹›–—―…¡¿·•"
# a character, other than a digit or "_", that can make a token letterless: a symbol
_SYMBOL = re.compile(rf"[^\s\w{_PUNCT}]")
# A whitespace token with no letter in it; group 1 is set when it is punctuation only (French
# spacing puts ":", ";", "?", "«" between blanks): such tokens are not words and do not count.
_NON_ALPHA_TOKEN = re.compile(rf"(?<!\S)(?:([{_PUNCT}]+)|(?:[^\s\w]|[\d_])+)(?!\S)")


class SymbolRatioFilter(QualityFilter):
    """Gopher symbol rules: markup, lists, link farms and number dumps rather than prose.

    Words are :func:`~corpus_registry.documents.count_words` runs, as Gopher counts words without
    punctuation. Drops when ``#`` or ellipses per word exceed ``max_symbol_word_ratio``; when
    whitespace tokens without a letter (``1789``, ``$$``; bare punctuation aside) exceed
    ``max_non_alpha_words`` per word (Gopher: 80 % of words must hold a letter); when more than ``max_bullet_lines`` of lines start with a bullet character (``-`` and
    ``*`` are not bullets here: dialogue dashes and Markdown would trip them), or more than
    ``max_ellipsis_lines`` end with an ellipsis.
    """

    name = "symbol_ratio"

    def __init__(
        self,
        *,
        max_symbol_word_ratio: float | None = 0.1,
        max_non_alpha_words: float | None = 0.2,
        max_bullet_lines: float | None = 0.9,
        max_ellipsis_lines: float | None = 0.3,
    ) -> None:
        super().__init__()
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_non_alpha_words = max_non_alpha_words
        self.max_bullet_lines = max_bullet_lines
        self.max_ellipsis_lines = max_ellipsis_lines

    def filter(self, doc: BuildDoc) -> FilterResult:
        text = doc.text
        words = max(doc.word_count, 1)
        ellipses = text.count("...") + text.count("…")
        if self.max_symbol_word_ratio is not None:
            if text.count("#") / words > self.max_symbol_word_ratio:
                return False, "too_many_hashes"
            if ellipses / words > self.max_symbol_word_ratio:
                return False, "too_many_ellipses"
        if self.max_non_alpha_words is not None and self._too_many_non_alpha(text, words):
            return False, "too_many_non_alpha_words"
        lines = text.count("\n") + 1
        if (
            self.max_bullet_lines is not None
            and not text.isascii()  # every bullet character is outside ASCII
            and _ANY_BULLET.search(text)
            and len(_BULLET_LINE.findall(text)) / lines > self.max_bullet_lines
        ):
            return False, "too_many_bullet_lines"
        if (
            self.max_ellipsis_lines is not None
            and ellipses / lines > self.max_ellipsis_lines  # cheap bound first
            and len(_ELLIPSIS_LINE_END.findall(text)) / lines > self.max_ellipsis_lines
        ):
            return False, "too_many_ellipsis_lines"
        return True

    def _too_many_non_alpha(self, text: str, words: int) -> bool:
        """Letterless tokens (bare punctuation aside) per word (``count_words``) over the limit?"""
        assert self.max_non_alpha_words is not None
        limit = self.max_non_alpha_words * words
        view = _view(text)
        # Every letterless token holds a digit, a symbol or "_": count those first (cheap) and
        # look at tokens only when they could reach the limit.
        if text.isascii():
            data = view.encoded
            suspects = view.digits + len(data) - len(data.translate(None, _ASCII_SYMBOLS))
        else:
            suspects = view.digits + text.count("_") + len(_SYMBOL.findall(text))
        if suspects <= limit:
            return False
        matches = _NON_ALPHA_TOKEN.findall(text)
        return len(matches) - sum(1 for m in matches if m) > limit


class DigitRatioFilter(QualityFilter):
    """Tables, listings and page-number soup: too many digits among the non-space characters.

    0.3 keeps legal text (the Code civil cites article numbers and dates) and drops number dumps.
    Digits are ASCII 0-9.
    """

    name = "digit_ratio"

    def __init__(self, *, max_digit_fraction: float = 0.3) -> None:
        super().__init__()
        self.max_digit_fraction = max_digit_fraction

    def filter(self, doc: BuildDoc) -> FilterResult:
        text = doc.text
        digits = _view(text).digits
        if not digits:
            return True
        chars = len(text) - text.count(" ") - text.count("\n")
        if chars > 0 and digits / chars > self.max_digit_fraction:
            return False, "too_many_digits"
        return True


def _duplicate_items(items: Sequence[str]) -> tuple[int, int]:
    """(number, total characters) of items that repeat an earlier item."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _ngrams(tokens: list[str], n: int) -> Iterator[tuple[str, ...]]:
    return zip(*(tokens[i:] for i in range(n)))


def _gram_chars(gram: tuple[str, ...]) -> int:
    return sum(map(len, gram)) + len(gram) - 1


def _dup_ngram_chars(tokens: list[str], n: int) -> int:
    """Characters of tokens (and their joining space) covered by a repeat of some n-gram.

    A repeat is any occurrence but the first; overlapping repeats count each token once
    (Gopher). Every token that a repeated (n+1)-gram covers is also covered by a repeated n-gram,
    so the result can only shrink as n grows.
    """
    seen: set[tuple[str, ...]] = set()
    covered = bytearray(len(tokens))
    ones = b"\x01" * n
    for i, gram in enumerate(_ngrams(tokens, n)):
        if gram in seen:
            covered[i : i + n] = ones
        else:
            seen.add(gram)
    return sum(len(token) + 1 for token, c in zip(tokens, covered) if c)


class RepetitionFilter(QualityFilter):
    """Gopher repetition rules: boilerplate, spam and generation loops repeat lines and n-grams.

    Lines and paragraphs: share of non-blank lines (paragraphs) that repeat an earlier one, and
    share of characters they hold. Words (whitespace tokens, punctuation attached): the most
    frequent 2/3/4-gram's share of characters, and the share of characters inside repeats of
    5..10-grams (datatrove's reading of Gopher: the first occurrence does not count). Character
    shares are of ``len(text)``, as in datatrove; defaults are Gopher's table A1.

    Bigram counts bound everything else, so the usual document costs one ``Counter``: an n-gram
    occurs at most as often as its most frequent bigram and is made only of tokens from repeated
    bigrams, and repeated 5..10-grams cover no more than the repeats of bigrams do.
    """

    name = "repetition"

    def __init__(
        self,
        *,
        dup_line_frac: float | None = 0.3,
        dup_para_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        dup_para_char_frac: float | None = 0.2,
        top_ngram_char_frac: dict[int, float] | None = None,
        dup_ngram_char_frac: dict[int, float] | None = None,
    ) -> None:
        super().__init__()
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        top = {2: 0.20, 3: 0.18, 4: 0.16} if top_ngram_char_frac is None else top_ngram_char_frac
        dup = (
            {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
            if dup_ngram_char_frac is None
            else dup_ngram_char_frac
        )
        if any(n < 2 for n in (*top, *dup)):
            raise ValueError("repetition n-gram sizes start at 2")
        self.top_ngram_char_frac = dict(sorted(top.items()))
        self.dup_ngram_char_frac = dict(sorted(dup.items()))

    def filter(self, doc: BuildDoc) -> FilterResult:
        text = doc.text
        if not text:
            return False, "no_words"
        verdict = self._lines_and_paragraphs(text)
        if verdict is not True:
            return verdict
        tokens = _view(text).tokens
        if len(tokens) < 2 or not (self.top_ngram_char_frac or self.dup_ngram_char_frac):
            return True
        total = len(text)
        bigrams = Counter(pairwise(tokens))
        repeated = [(gram, count) for gram, count in bigrams.items() if count > 1]
        if not repeated:
            return True  # no bigram repeats, so no n-gram does
        top_count = max(count for _, count in repeated)
        longest = max(max(len(a), len(b)) for (a, b), _ in repeated)
        for n, limit in self.top_ngram_char_frac.items():
            if n == 2:
                count = top_count
                chars = max(_gram_chars(gram) for gram, c in repeated if c == top_count)
            else:
                bound = top_count * (n * longest + n - 1)
                if len(tokens) < n or bound <= limit * total:
                    continue
                gram, count = Counter(_ngrams(tokens, n)).most_common(1)[0]
                chars = _gram_chars(gram)
            if count > 1 and chars * count > limit * total:
                return False, f"top_{n}gram_char_frac"
        if self.dup_ngram_char_frac:
            # chars (with joining spaces) of all but the first occurrence of repeated bigrams
            repeat_chars = sum((c - 1) * (len(a) + len(b) + 2) for (a, b), c in repeated)
            if repeat_chars > min(self.dup_ngram_char_frac.values()) * total:
                return self._duplicate_ngrams(tokens, total)
        return True

    def _lines_and_paragraphs(self, text: str) -> FilterResult:
        if "\n" not in text:
            return True
        total = len(text)
        # normalised text has no trailing blanks, so a blank line is an empty one
        paragraphs = text.split("\n\n")
        blank = paragraphs.count("")
        unique = len(set(paragraphs)) - (1 if blank else 0)
        if len(paragraphs) - blank > unique:
            kept = [p for p in paragraphs if p]
            count, chars = _duplicate_items(kept)
            if self.dup_para_frac is not None and count / len(kept) > self.dup_para_frac:
                return False, "dup_para_frac"
            if self.dup_para_char_frac is not None and chars / total > self.dup_para_char_frac:
                return False, "dup_para_char_frac"
        lines = text.split("\n")
        blank = lines.count("")
        unique = len(set(lines)) - (1 if blank else 0)
        if len(lines) - blank > unique:
            kept = [line for line in lines if line]
            count, chars = _duplicate_items(kept)
            if self.dup_line_frac is not None and count / len(kept) > self.dup_line_frac:
                return False, "dup_line_frac"
            if self.dup_line_char_frac is not None and chars / total > self.dup_line_char_frac:
                return False, "dup_line_char_frac"
        return True

    def _duplicate_ngrams(self, tokens: list[str], total: int) -> FilterResult:
        tightest = min(self.dup_ngram_char_frac.values())
        for i, (n, limit) in enumerate(self.dup_ngram_char_frac.items()):
            if len(tokens) <= n:
                break
            share = _dup_ngram_chars(tokens, n) / total
            if share > limit:
                return False, f"dup_{n}gram_char_frac"
            if i == 0 and share <= tightest:
                break  # shares only shrink as n grows
        return True


# Signs of bad OCR or bad decoding, counted per whitespace token.
_REPLACEMENT = "\ufffd"
# UTF-8 read as Latin-1/cp1252 ("Ã©", "â€™"), and C1 controls (cp1252 read as Latin-1: "\x92")
_MOJIBAKE = re.compile(
    r"[ÃÂâ\x80-\x9f](?:(?<=[ÃÂ])[\x80-\xbf]|(?<=â)[€\x80-\x9f]|(?<=[\x80-\x9f]))"
)
_MOJIBAKE_HINT = re.compile(r"[ÃÂ€\x80-\x9f]")  # one character class: a fast scan
# an upper-case letter right after a lower-case one
_ODD_CASE = re.compile(r"[A-ZÀ-ÖØ-Þ](?<=[a-zß-öø-ÿ].)")
_LETTER_DIGIT = re.compile(r"[0-9](?<=[A-Za-zß-öø-ÿ][0-9])")  # a digit right after a letter
_JUNK_CHAR = re.compile(r"[|~^{}\\¦¬■□▪◆★¤¢]")
_LONE_CONSONANT = re.compile(r" [b-df-hj-np-tv-xzB-DF-HJ-NP-TV-XZ](?!\S)")
# markup and addresses are not OCR noise (``<a href='/affichCodeArticle.do?cidTexte=...'>``)
_MARKUP = re.compile(r"<[^<>\n]*>|(?:https?://|www\.)\S*")


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
                _MOJIBAKE_HINT.search(text)
                and len(_MOJIBAKE.findall(text)) / tokens > self.max_mojibake_ratio
            ):
                return False, "mojibake"
        digits = view.digits
        if "<" in text or "://" in text or "www." in text:
            text = _MARKUP.sub(" ", text)
        noise = len(_JUNK_CHAR.findall(text)) + len(_LONE_CONSONANT.findall(text))
        noise += len(_ODD_CASE.findall(text))
        if digits:
            noise += len(_LETTER_DIGIT.findall(text))
        if noise / tokens > self.max_noise_token_ratio:
            return False, "ocr_noise_tokens"
        return True


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class LengthConfig(_Strict):
    min_words: int | None = Field(default=50, ge=0)
    max_words: int | None = Field(default=None, ge=1)


class SymbolRatioConfig(_Strict):
    max_symbol_word_ratio: float | None = Field(default=0.1, ge=0)
    max_non_alpha_words: float | None = Field(default=0.2, ge=0, le=1)
    max_bullet_lines: float | None = Field(default=0.9, ge=0, le=1)
    max_ellipsis_lines: float | None = Field(default=0.3, ge=0, le=1)


class DigitRatioConfig(_Strict):
    max_digit_fraction: float = Field(default=0.3, ge=0, le=1)


class RepetitionConfig(_Strict):
    dup_line_frac: float | None = Field(default=0.3, ge=0, le=1)
    dup_para_frac: float | None = Field(default=0.3, ge=0, le=1)
    dup_line_char_frac: float | None = Field(default=0.2, ge=0, le=1)
    dup_para_char_frac: float | None = Field(default=0.2, ge=0, le=1)
    top_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16}
    )
    dup_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )


class OcrNoiseConfig(_Strict):
    max_noise_token_ratio: float = Field(default=0.1, ge=0, le=1)
    max_replacement_ratio: float = Field(default=0.01, ge=0)
    max_mojibake_ratio: float = Field(default=0.01, ge=0)


class FilterConfig(BaseModel):
    """The ``filters:`` section of a build spec: one switchable entry per filter, in run order."""

    model_config = ConfigDict(extra="forbid")

    length: LengthConfig = Field(default_factory=LengthConfig)
    symbol_ratio: SymbolRatioConfig = Field(default_factory=SymbolRatioConfig)
    digit_ratio: DigitRatioConfig = Field(default_factory=DigitRatioConfig)
    repetition: RepetitionConfig = Field(default_factory=RepetitionConfig)
    ocr_noise: OcrNoiseConfig = Field(default_factory=OcrNoiseConfig)


def build_filters(config: FilterConfig | None = None) -> list[QualityFilter]:
    """Fresh filter instances (zeroed counters) for the enabled entries, cheapest first."""
    config = config or FilterConfig()
    classes: dict[str, type[QualityFilter]] = {
        "length": LengthFilter,
        "symbol_ratio": SymbolRatioFilter,
        "digit_ratio": DigitRatioFilter,
        "repetition": RepetitionFilter,
        "ocr_noise": OcrNoiseFilter,
    }
    filters: list[QualityFilter] = []
    for field_name, cls in classes.items():
        section: _Strict = getattr(config, field_name)
        if section.enabled:
            filters.append(cls(**section.model_dump(exclude={"enabled"})))
    return filters
