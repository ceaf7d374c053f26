"""Cheap whole-document checks that need no tokenising: length and digit share."""

from __future__ import annotations

from corpus_registry.build.filters.base import BuildDoc, FilterResult, QualityFilter, _view

__all__ = ["DigitRatioFilter", "LengthFilter"]


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
