"""The ``filters:`` section of a build spec, validated, and the filter chain built from it.

One strict pydantic model per filter (unknown keys are errors that name the field) with an
``enabled`` switch; :func:`build_filters` turns the enabled entries into fresh filter instances.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from corpus_registry.build.filters.base import QualityFilter
from corpus_registry.build.filters.basic import DigitRatioFilter, LengthFilter
from corpus_registry.build.filters.gopher import RepetitionFilter, SymbolRatioFilter
from corpus_registry.build.filters.markup import MarkupFilter
from corpus_registry.build.filters.ocr import OcrNoiseFilter

__all__ = [
    "DigitRatioConfig",
    "FilterConfig",
    "LengthConfig",
    "MarkupConfig",
    "OcrNoiseConfig",
    "RepetitionConfig",
    "SymbolRatioConfig",
    "build_filters",
]


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


class MarkupConfig(_Strict):
    max_tag_ratio: float = Field(default=0.01, ge=0, le=1)


#: An n-gram size (the filter's n-grams start at 2; past 64 words a "repeat" means nothing) and
#: its threshold, a share of the document's characters.
NgramSize = Annotated[int, Field(ge=2, le=64)]
Share = Annotated[float, Field(ge=0, le=1)]


class RepetitionConfig(_Strict):
    dup_line_frac: float | None = Field(default=0.3, ge=0, le=1)
    dup_para_frac: float | None = Field(default=0.3, ge=0, le=1)
    dup_line_char_frac: float | None = Field(default=0.2, ge=0, le=1)
    dup_para_char_frac: float | None = Field(default=0.2, ge=0, le=1)
    top_ngram_char_frac: dict[NgramSize, Share] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16}
    )
    dup_ngram_char_frac: dict[NgramSize, Share] = Field(
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
    markup: MarkupConfig = Field(default_factory=MarkupConfig)
    repetition: RepetitionConfig = Field(default_factory=RepetitionConfig)
    ocr_noise: OcrNoiseConfig = Field(default_factory=OcrNoiseConfig)


def build_filters(config: FilterConfig | None = None) -> list[QualityFilter]:
    """Fresh filter instances (zeroed counters) for the enabled entries, cheapest first."""
    config = config or FilterConfig()
    classes: dict[str, type[QualityFilter]] = {
        "length": LengthFilter,
        "symbol_ratio": SymbolRatioFilter,
        "digit_ratio": DigitRatioFilter,
        "markup": MarkupFilter,
        "repetition": RepetitionFilter,
        "ocr_noise": OcrNoiseFilter,
    }
    filters: list[QualityFilter] = []
    for field_name, cls in classes.items():
        section: _Strict = getattr(config, field_name)
        if section.enabled:
            filters.append(cls(**section.model_dump(exclude={"enabled"})))
    return filters
