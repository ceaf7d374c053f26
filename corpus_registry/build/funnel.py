"""The funnel: documents and words entering and leaving every build stage, per language.

Every drop in a build goes through :meth:`Funnel.record`, so the numbers always add up:
a stage's ``out`` is the next stage's ``in``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


class Funnel:
    def __init__(self) -> None:
        self.stages: list[str] = []
        # stage -> language -> [docs_in, docs_out, words_in, words_out]
        self._counts: dict[str, dict[str, list[int]]] = {}
        self.reasons: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def stage(self, name: str) -> None:
        if name not in self._counts:
            self.stages.append(name)
            self._counts[name] = defaultdict(lambda: [0, 0, 0, 0])

    def record(self, stage: str, language: str, words: int, *, kept: bool, reason: str | None = None,
               docs: int = 1) -> None:
        """``docs`` documents (``words`` words in all) of ``language`` enter ``stage``; kept or dropped."""
        c = self._counts[stage][language]
        c[0] += docs
        c[2] += words
        if kept:
            c[1] += docs
            c[3] += words
        elif reason:
            self.reasons[stage][reason] += docs

    def totals(self, stage: str) -> tuple[int, int, int, int]:
        rows = self._counts[stage].values()
        return tuple(sum(r[i] for r in rows) for i in range(4))  # type: ignore[return-value]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stages": []}
        for name in self.stages:
            d_in, d_out, w_in, w_out = self.totals(name)
            out["stages"].append({
                "stage": name,
                "docs_in": d_in, "docs_out": d_out, "words_in": w_in, "words_out": w_out,
                "reasons": dict(sorted(self.reasons.get(name, {}).items())),
                "by_language": {
                    lang: {"docs_in": c[0], "docs_out": c[1], "words_in": c[2], "words_out": c[3]}
                    for lang, c in sorted(self._counts[name].items())
                },
            })
        return out

    def table(self) -> str:
        """A plain-text table for the terminal and the dataset card."""
        lines = [f"{'stage':<24} {'docs in':>9} {'docs out':>9} {'kept %':>7} {'words out':>13}"]
        first = self.totals(self.stages[0])[0] if self.stages else 0
        for name in self.stages:
            d_in, d_out, _w_in, w_out = self.totals(name)
            pct = 100.0 * d_out / first if first else 0.0
            lines.append(f"{name:<24} {d_in:>9,} {d_out:>9,} {pct:>6.1f}% {w_out:>13,}")
        return "\n".join(lines)

    def chart(self, path: Path, *, title: str) -> None:
        """Draw documents and words kept after each stage as a horizontal bar chart (PNG)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = self.stages
        docs = [self.totals(s)[1] for s in names]
        words = [self.totals(s)[3] for s in names]
        fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.6))
        for ax, values, label in ((axes[0], docs, "documents kept"), (axes[1], words, "words kept")):
            ax.barh(range(len(names)), values, color="#4c72b0")
            ax.set_yticks(range(len(names)), names)
            ax.invert_yaxis()
            ax.set_xlabel(label)
            top = max(values, default=0) or 1
            for i, v in enumerate(values):
                ax.text(v + top * 0.01, i, f"{v:,}", va="center", fontsize=8)
            ax.set_xlim(0, top * 1.25)
        axes[1].set_yticklabels([])
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
