"""The Gopher quality rules (Rae et al. 2021, table A1, as in datatrove): symbols and repetition.

Both filters are built to be cheap on the usual document: counts by C-level ``str`` methods and
single-class regexes first, and the costly token and n-gram passes only when a bound says the
document could fail.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import pairwise

from corpus_registry.build.filters.base import BuildDoc, FilterResult, QualityFilter, _view

__all__ = ["RepetitionFilter", "SymbolRatioFilter"]

_ASCII_SYMBOLS = b"#$%&*+<=>@[\\]^_`{|}~"

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

    Words are :func:`~corpus_registry.registry.documents.count_words` runs, as Gopher counts words without
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
