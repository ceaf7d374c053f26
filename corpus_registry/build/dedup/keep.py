"""The one keep rule every dedup stage applies, and the result type the stages return.

Kept apart from the stages so that exact and near dedup (and the builder, which ranks documents
it signs on workers) cannot drift to different rules: earliest date, then most words, then key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from corpus_registry.build.filters import BuildDoc

__all__ = ["DedupResult", "Duplicate", "keep_rank"]


def keep_rank(*, date: str | None, word_count: int, key: str) -> tuple[bool, str, int, str]:
    """Sort key of the keep rule: the smallest rank in a duplicate group is kept."""
    return (date is None, date or "", -word_count, key)


def _doc_rank(doc: BuildDoc) -> tuple[bool, str, int, str]:
    return keep_rank(date=doc.date, word_count=doc.word_count, key=doc.key)


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
