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

    module   owns
    base     BuildDoc, FilterResult, QualityFilter (the counters), the shared per-text measures
    basic    LengthFilter, DigitRatioFilter
    gopher   SymbolRatioFilter, RepetitionFilter
    markup   MarkupFilter (tags, comments and entities left in the text)
    ocr      OcrNoiseFilter
    config   FilterConfig and one model per filter, build_filters
"""

from __future__ import annotations

# ``X as X``: importable from the old single module though not in ``__all__`` (the per-filter
# config models, and the n-gram helper tests/test_filters.py checks).
from corpus_registry.build.filters.base import BuildDoc, FilterResult, QualityFilter
from corpus_registry.build.filters.basic import DigitRatioFilter, LengthFilter
from corpus_registry.build.filters.config import DigitRatioConfig as DigitRatioConfig
from corpus_registry.build.filters.config import FilterConfig, build_filters
from corpus_registry.build.filters.config import LengthConfig as LengthConfig
from corpus_registry.build.filters.config import MarkupConfig as MarkupConfig
from corpus_registry.build.filters.config import OcrNoiseConfig as OcrNoiseConfig
from corpus_registry.build.filters.config import RepetitionConfig as RepetitionConfig
from corpus_registry.build.filters.config import SymbolRatioConfig as SymbolRatioConfig
from corpus_registry.build.filters.gopher import RepetitionFilter, SymbolRatioFilter
from corpus_registry.build.filters.gopher import _dup_ngram_chars as _dup_ngram_chars
from corpus_registry.build.filters.markup import MarkupFilter
from corpus_registry.build.filters.ocr import OcrNoiseFilter

__all__ = [
    "BuildDoc",
    "DigitRatioFilter",
    "FilterConfig",
    "FilterResult",
    "LengthFilter",
    "MarkupFilter",
    "OcrNoiseFilter",
    "QualityFilter",
    "RepetitionFilter",
    "SymbolRatioFilter",
    "build_filters",
]
