"""The ``dedup:`` section of a build spec, validated, and the near-dedup stage built from it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from corpus_registry.build.dedup.near import NearDedup

__all__ = ["DedupConfig"]


class DedupConfig(BaseModel):
    """The ``dedup:`` section of a build spec (exact and near stages, near-dup parameters)."""

    model_config = ConfigDict(extra="forbid")

    exact: bool = True
    near: bool = True
    threshold: float = Field(default=0.8, gt=0, le=1)
    num_perm: int = Field(default=256, ge=16, le=1024)
    ngram: int = Field(default=5, ge=1, le=20)
    seed: int = Field(default=1, ge=0)

    def near_dedup(self) -> NearDedup:
        """A fresh :class:`NearDedup` with these parameters."""
        return NearDedup(
            threshold=self.threshold, num_perm=self.num_perm, ngram=self.ngram, seed=self.seed
        )
