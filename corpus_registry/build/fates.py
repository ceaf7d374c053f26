"""Every candidate's fate in a build, by row number: which stage dropped it, why, and what it
duplicates. Numpy arrays, so that a million documents cost a few bytes each."""

from __future__ import annotations

import numpy as np


class Fates:
    """Every candidate's fate by row number: the stage that dropped it (-1: kept so far), why, and
    the row it duplicates (-1: none) with their similarity. Filled a page at a time while the
    candidates are read (:meth:`page`), then sealed (:meth:`seal`)."""

    def __init__(self, size: int, stages: list[str], *, reasons: list[str] | None = None,
                 codes: dict[str, int] | None = None) -> None:
        self.stages = stages
        self.reasons: list[str] = [] if reasons is None else reasons
        self._codes: dict[str, int] = {} if codes is None else codes
        self.stage = np.full(size, -1, dtype=np.int16)
        self.reason = np.full(size, -1, dtype=np.int32)
        self.duplicate_of = np.full(size, -1, dtype=row_type(size))
        self.similarity = np.full(size, np.nan)
        self._pages: list[Fates] = []

    def page(self, size: int) -> Fates:
        """The fates of the next ``size`` rows, sharing this one's reasons (stages and reasons only:
        no metadata stage finds a duplicate)."""
        page = Fates(0, self.stages, reasons=self.reasons, codes=self._codes)
        page.stage = np.full(size, -1, dtype=np.int16)
        page.reason = np.full(size, -1, dtype=np.int32)
        self._pages.append(page)
        return page

    def seal(self) -> None:
        """Join the pages into one array per field."""
        if self._pages:
            self.stage = np.concatenate([p.stage for p in self._pages])
            self.reason = np.concatenate([p.reason for p in self._pages])
            self.duplicate_of = np.full(len(self.stage), -1, dtype=row_type(len(self.stage)))
            self.similarity = np.full(len(self.stage), np.nan)
            self._pages = []

    def drop(self, rows: np.ndarray | list[int], stage: str, reason: str) -> None:
        code = self._codes.setdefault(reason, len(self._codes))
        if code == len(self.reasons):
            self.reasons.append(reason)
        self.stage[rows] = self.stages.index(stage)
        self.reason[rows] = code

    def alive(self) -> np.ndarray:
        """The rows no stage dropped, ascending (in 4 bytes each below 2³¹ rows)."""
        return np.flatnonzero(self.stage < 0).astype(row_type(len(self.stage)), copy=False)

    def stage_names(self) -> np.ndarray:
        """Each row's dropping stage as an object array (None where kept)."""
        return np.array([*self.stages, None], dtype=object)[self.stage]

    def reason_texts(self) -> np.ndarray:
        """Each row's drop reason as an object array (None where kept)."""
        return np.array([*self.reasons, None], dtype=object)[self.reason]


def row_type(size: int) -> type[np.signedinteger]:  # type: ignore[type-arg]
    """The smallest integer type that numbers ``size`` rows (4 bytes a row below 2³¹ rows)."""
    return np.int32 if size < 2**31 else np.int64
