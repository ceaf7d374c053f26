"""The funnel: documents and words entering and leaving every build stage, per language.

Every drop in a build goes through :meth:`Funnel.record`, so the numbers always add up:
a stage's ``out`` is the next stage's ``in``. The chart (:meth:`Funnel.chart`) draws what each
stage removed and why, and where each language's documents went, from :func:`chart_data` alone
(so a test can check the numbers it draws).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Funnel:
    def __init__(self) -> None:
        self.stages: list[str] = []
        # stage -> language -> [docs_in, docs_out, words_in, words_out]
        self._counts: dict[str, dict[str, list[int]]] = {}
        self.reasons: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        #: tokens of the kept rows per language, once counted (a build with a tokenizer)
        self.tokens: dict[str, int] | None = None

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
        if self.tokens is not None and out["stages"]:  # counted on the kept rows: the last stage's out
            last = out["stages"][-1]
            last["tokens_out"] = sum(self.tokens.values())
            for lang, c in last["by_language"].items():
                c["tokens_out"] = self.tokens.get(lang, 0)
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
        """Draw the funnel (PNG, or SVG for a ``.svg`` path): see :func:`draw_chart`."""
        draw_chart(chart_data(self.as_dict()["stages"], self.reasons_by_stage()), path, title=title)

    def reasons_by_stage(self) -> dict[str, dict[str, int]]:
        return {stage: dict(reasons) for stage, reasons in self.reasons.items()}


# -- the chart ---------------------------------------------------------------------------------

TOP_REASONS = 3  # reasons named per stage; the rest are summed as "N more reasons"
TOP_LANGUAGES = 12  # languages drawn one per bar; the rest share one bar
_STAGE_COLOURS = ["#dd8452", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd",
                  "#4c72b0", "#b07aa1"]
_KEPT, _CARRIED, _SHADES = "#55a868", "#e5e5e5", (1.0, 0.72, 0.5, 0.32)


@dataclass(frozen=True, slots=True)
class StageDrop:
    """One step of the waterfall: documents entering a stage, removed by it (by top reasons), left."""

    stage: str
    before: int
    removed: int
    after: int
    reasons: list[tuple[str, int]]  # largest first; sums to ``removed``


@dataclass(frozen=True, slots=True)
class LanguageFate:
    """Where one language's candidates went: removed per stage (stages in build order), kept."""

    language: str
    candidates: int
    removed: dict[str, int]
    kept: int


@dataclass(frozen=True, slots=True)
class ChartData:
    candidates: int
    kept: int
    steps: list[StageDrop]
    languages: list[LanguageFate]


def chart_data(stages: list[dict[str, Any]], reasons: dict[str, dict[str, int]] | None = None) -> ChartData:
    """The numbers the chart draws, from the funnel's stages (as in the manifest's ``counts.funnel``).

    Every stage between the first (``selected``) and the last (``kept``) is a step; its top
    :data:`TOP_REASONS` reasons are named and the others summed, so its segments add up to what it
    removed. Languages are ordered by candidates (then code); past :data:`TOP_LANGUAGES` they share
    one ``N more`` bar."""
    if not stages:
        return ChartData(0, 0, [], [])
    reasons = reasons if reasons is not None else {s["stage"]: s.get("reasons", {}) for s in stages}
    steps = []
    for s in stages[1:-1] if len(stages) > 2 else []:
        removed = s["docs_in"] - s["docs_out"]
        ranked = sorted(((r, n) for r, n in (reasons.get(s["stage"]) or {}).items() if n),
                        key=lambda rn: (-rn[1], rn[0]))
        named = ranked[:TOP_REASONS]
        if len(ranked) > TOP_REASONS:
            rest = ranked[TOP_REASONS:]
            named.append((f"{len(rest)} more reason{'s' if len(rest) > 1 else ''}", sum(n for _, n in rest)))
        unnamed = removed - sum(n for _, n in named)
        if unnamed > 0:
            named.append(("no reason given", unnamed))
        steps.append(StageDrop(s["stage"], s["docs_in"], removed, s["docs_out"], named))
    first, last = stages[0], stages[-1]
    fates = []
    for lang, c in first["by_language"].items():
        removed = {s["stage"]: s["by_language"].get(lang, {}).get("docs_in", 0)
                   - s["by_language"].get(lang, {}).get("docs_out", 0) for s in stages}
        kept = last["by_language"].get(lang, {}).get("docs_out", 0)
        fates.append(LanguageFate(lang, c["docs_in"], {k: v for k, v in removed.items() if v}, kept))
    fates.sort(key=lambda f: (-f.candidates, f.language))
    if len(fates) > TOP_LANGUAGES:
        others = fates[TOP_LANGUAGES - 1:]
        merged: dict[str, int] = {}
        for f in others:
            for stage, n in f.removed.items():
                merged[stage] = merged.get(stage, 0) + n
        order = [s["stage"] for s in stages]
        fates = [*fates[:TOP_LANGUAGES - 1],
                 LanguageFate(f"{len(others)} more", sum(f.candidates for f in others),
                              {k: merged[k] for k in order if k in merged}, sum(f.kept for f in others))]
    return ChartData(first["docs_in"], last["docs_out"], steps, fates)


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def draw_chart(data: ChartData, path: Path, *, title: str) -> None:
    """Two panels: a waterfall of the documents each stage removed (segments: its top reasons,
    named beside the bar) and, per language, the share of its candidates each stage removed and
    the share kept.

    Drawn with matplotlib's object API (no pyplot state) in its default style whatever the local
    settings, and saved without timestamps or version strings: the same numbers give the same bytes."""
    import matplotlib
    import matplotlib.style
    from matplotlib.figure import Figure

    colours = {s.stage: _STAGE_COLOURS[i % len(_STAGE_COLOURS)] for i, s in enumerate(data.steps)}
    for f in data.languages:  # a stage that removed nothing overall cannot remove a language's documents
        for stage in f.removed:
            colours.setdefault(stage, _STAGE_COLOURS[len(colours) % len(_STAGE_COLOURS)])
    rows_top = len(data.steps) + 2
    entries = 1 + len({stage for f in data.languages for stage in f.removed})  # the per-language legend
    rows_bottom = max(len(data.languages), round(entries * 0.75), 1)
    with matplotlib.style.context("default"), matplotlib.rc_context({"svg.hashsalt": "corpus-registry",
                                                                      "font.size": 9}):
        fig = Figure(figsize=(12, 0.34 * (rows_top + rows_bottom) + 3.2), dpi=100)
        top, bottom = fig.subplots(2, 1, height_ratios=[rows_top, rows_bottom + 1.2])
        fig.subplots_adjust(left=0.17, right=0.6, top=0.93, bottom=0.07, hspace=0.35)
        _draw_waterfall(top, data, colours)
        _draw_languages(bottom, data, colours)
        fig.suptitle(title, fontsize=11)
        if str(path).endswith(".svg"):
            fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
        else:
            fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def _draw_waterfall(ax: Any, data: ChartData, colours: dict[str, str]) -> None:
    labels = ["selected", *[s.stage for s in data.steps], "kept"]
    ax.barh(0, data.candidates, color="#4c72b0")
    ax.text(1.02, 0, f"{data.candidates:,} candidates", transform=ax.get_yaxis_transform(), va="center")
    for y, step in enumerate(data.steps, start=1):
        ax.barh(y, step.after, color=_CARRIED)
        left = step.after
        for (_reason, n), shade in zip(step.reasons, _SHADES):
            ax.barh(y, n, left=left, color=colours[step.stage], alpha=shade, edgecolor="white", linewidth=0.5)
            left += n
        named = ", ".join(f"{_short(r)} {n:,}" for r, n in step.reasons)
        text = f"−{step.removed:,}: {named}" if step.removed else "none removed"
        ax.text(1.02, y, _short(text, 60), transform=ax.get_yaxis_transform(), va="center")
    end = len(labels) - 1
    ax.barh(end, data.kept, color=_KEPT)
    share = 100.0 * data.kept / data.candidates if data.candidates else 0.0
    ax.text(1.02, end, f"{data.kept:,} kept ({share:.1f} %)", transform=ax.get_yaxis_transform(), va="center")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, max(data.candidates, 1))
    ax.set_xlabel("documents (grey: carried to the next stage; coloured: removed, by reason)")
    ax.set_title("What each stage removed, and why", loc="left", fontsize=10)


def _draw_languages(ax: Any, data: ChartData, colours: dict[str, str]) -> None:
    langs = data.languages
    if not langs:
        ax.set_axis_off()
        return
    from matplotlib.patches import Patch

    for y, f in enumerate(langs):
        total = f.candidates or 1
        ax.barh(y, 100.0 * f.kept / total, color=_KEPT)
        left = 100.0 * f.kept / total
        for stage, n in f.removed.items():
            width = 100.0 * n / total
            ax.barh(y, width, left=left, color=colours[stage])
            left += width
        ax.text(1.02, y, f"{f.kept:,} of {f.candidates:,} kept", transform=ax.get_yaxis_transform(), va="center")
    ax.set_yticks(range(len(langs)), [f.language for f in langs])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the language's candidates (%)")
    ax.set_title("Per language: kept, and removed by each stage", loc="left", fontsize=10)
    removing = {stage for f in langs for stage in f.removed}
    handles = [Patch(color=_KEPT, label="kept"),
               *(Patch(color=colour, label=f"removed by {stage}") for stage, colour in colours.items()
                 if stage in removing)]  # in build order
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.25, 1.0), fontsize=8, frameon=False)
