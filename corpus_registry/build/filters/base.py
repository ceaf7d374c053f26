"""The filter contract: the document record, the result type, and the counting base class.

Every filter in this package subclasses :class:`QualityFilter` and implements only ``filter``;
the counters live here once, so each drop has a named reason and the build funnel adds up.
:func:`_view` shares per-text measures (tokens, UTF-8 bytes, digit count) between the filters
that look at the same document in turn, so a chain pays for each measure once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["BuildDoc", "FilterResult", "QualityFilter"]


@dataclass(slots=True)
class BuildDoc:
    """The minimal record filters and dedup see; the builder makes one per candidate document.

    ``key`` is stable and unique (e.g. ``"source-slug/identifier"``) and breaks ties
    deterministically; ``text`` is already normalised (:func:`corpus_registry.registry.documents.normalize_text`);
    ``word_count`` is :func:`corpus_registry.registry.documents.count_words` of it; ``tier`` is its
    licence tier (the dedup keep rule prefers the most permissive copy); ``quality`` is the keep rule's
    text score (:func:`corpus_registry.build.dedup.quality.text_quality`) when already measured.
    """

    key: str
    text: str
    sha256: str
    word_count: int
    language: str
    date: str | None = None
    tier: str | None = None
    quality: float | None = None


FilterResult = bool | tuple[bool, str]

_ASCII_DIGITS = b"0123456789"


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
