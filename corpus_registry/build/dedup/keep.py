"""The one keep rule every dedup stage applies, and the result type the stages return.

Kept apart from the stages so that exact and near dedup (and the builder, which ranks documents
it signs on workers) cannot drift to different rules: the most permissive licence tier (a CC0
copy is kept over an identical CC-BY-SA one), then the earliest date, then the most words, then
the smallest key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from corpus_registry.build.filters import BuildDoc
from corpus_registry.registry.licences import Tier

__all__ = ["DedupResult", "Duplicate", "keep_rank", "tier_rank"]

Rank = tuple[int, bool, str, int, str]


def tier_rank(tier: str | Tier | None) -> int:
    """Position of a licence tier, most permissive first; an unknown tier comes after every tier."""
    try:
        return Tier(tier).rank if tier is not None else len(Tier)
    except ValueError:
        return len(Tier)


def keep_rank(*, tier: str | Tier | None = None, date: str | None, word_count: int, key: str) -> Rank:
    """Sort key of the keep rule: the smallest rank in a duplicate group is kept."""
    return (tier_rank(tier), date is None, date or "", -word_count, key)


def _doc_rank(doc: BuildDoc) -> Rank:
    return keep_rank(tier=doc.tier, date=doc.date, word_count=doc.word_count, key=doc.key)


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
