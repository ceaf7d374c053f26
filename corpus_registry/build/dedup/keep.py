"""The one keep rule every dedup stage applies, and the result type the stages return.

Kept apart from the stages so that exact and near dedup (and the builder, which ranks documents
it signs on workers) cannot drift to different rules: the most permissive licence tier (a CC0
copy is kept over an identical CC-BY-SA one), then the better text (:mod:`.quality`: the accented
copy over its accent-stripped twin, the cleanly decoded one over one with U+FFFD or mojibake), then
the earliest date, then the most words, then the smallest key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from corpus_registry.build.dedup.quality import text_quality
from corpus_registry.build.filters import BuildDoc
from corpus_registry.registry.licences import Tier

__all__ = ["DedupResult", "Duplicate", "keep_rank", "tier_rank"]

Rank = tuple[int, float, bool, str, int, str]


def tier_rank(tier: str | Tier | None) -> int:
    """Position of a licence tier, most permissive first; an unknown tier comes after every tier."""
    try:
        return Tier(tier).rank if tier is not None else len(Tier)
    except ValueError:
        return len(Tier)


def keep_rank(*, tier: str | Tier | None = None, quality: float = 0.0, date: str | None, word_count: int,
              key: str) -> Rank:
    """Sort key of the keep rule: the smallest rank in a duplicate group is kept."""
    return (tier_rank(tier), -quality, date is None, date or "", -word_count, key)


def _doc_rank(doc: BuildDoc, *, measure: bool = True) -> Rank:
    """``measure=False`` leaves the text unmeasured (identical texts, as in exact dedup, score alike)."""
    quality = doc.quality if doc.quality is not None else text_quality(doc.text, doc.language) if measure else 0.0
    return keep_rank(tier=doc.tier, quality=quality, date=doc.date, word_count=doc.word_count, key=doc.key)


class Duplicate(NamedTuple):
    """Why a document was dropped: the key it duplicates and their (estimated) similarity."""

    kept_key: str
    similarity: float


@dataclass(slots=True)
class DedupResult:
    """Outcome of a dedup stage: kept keys (sorted) and, per dropped key, what it duplicates."""

    kept_keys: list[str]
    duplicate_of: dict[str, Duplicate]
    stats: dict[str, int] = field(default_factory=dict)
