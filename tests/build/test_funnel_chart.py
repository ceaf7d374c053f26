"""The funnel chart: what each stage removed and why, and per language; drawn from the funnel's
numbers alone, the same bytes every time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus_registry.build.builder import BuildResult, build_release
from corpus_registry.build.funnel import TOP_LANGUAGES, TOP_REASONS, Funnel, chart_data, draw_chart
from corpus_registry.build.release import read_manifest
from corpus_registry.build.spec import parse_spec
from corpus_registry.registry.registry import Registry

from tests.audit.test_audit import SPEC, make_small_registry

BLUE, GREEN = (0x4C, 0x72, 0xB0), (0x55, 0xA8, 0x68)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildResult]:
    """A release of the small multilingual registry (licence, language, length and dedup drops)."""
    tmp = tmp_path_factory.mktemp("chart")
    reg = Registry(f"sqlite:///{tmp / 'registry.db'}")
    reg.init(store=str(tmp / "store"))
    make_small_registry(reg, tmp / "catalogue")
    spec = {**SPEC, "select": {"license_tiers": ["public_domain", "attribution"], "languages": ["fr", "en", "bn"]},
            "filters": {"length": {"min_words": 100}}}
    yield build_release(reg, parse_spec(spec), out_dir=tmp / "release", progress=False)
    reg.dispose()


def test_the_chart_draws_the_funnel_counts(built: BuildResult) -> None:
    stages = read_manifest(built.out_dir)["counts"]["funnel"]
    data = chart_data(stages)
    assert data.candidates == stages[0]["docs_in"] and data.kept == stages[-1]["docs_out"] == built.rows
    assert [s.stage for s in data.steps] == [s["stage"] for s in stages[1:-1]]
    before = data.candidates
    for step, stage in zip(data.steps, stages[1:-1]):
        assert (step.before, step.after) == (stage["docs_in"], stage["docs_out"]) and step.before == before
        assert step.removed == stage["docs_in"] - stage["docs_out"]
        assert sum(n for _, n in step.reasons) == step.removed  # the segments add up to what it removed
        named = [r for r, _ in step.reasons if not r.endswith(("more reason", "more reasons"))]
        assert all(stage["reasons"][r] == n for r, n in step.reasons if r in named)
        assert len(named) <= TOP_REASONS
        before = step.after
    assert before == data.kept
    removed = {s.stage: s.removed for s in data.steps}
    assert removed["language"] > 0 and removed["filter:length"] > 0  # this build removes at both
    first, last = stages[0]["by_language"], stages[-1]["by_language"]
    assert {f.language for f in data.languages} == set(first)
    for f in data.languages:
        assert f.candidates == first[f.language]["docs_in"]
        assert f.kept == last.get(f.language, {"docs_out": 0})["docs_out"]
        assert f.kept + sum(f.removed.values()) == f.candidates
        for stage in stages:
            c = stage["by_language"].get(f.language)
            assert f.removed.get(stage["stage"], 0) == (c["docs_in"] - c["docs_out"] if c else 0)


def test_the_release_chart_is_the_manifest_drawn(built: BuildResult, tmp_path: Path) -> None:
    """funnel.png holds exactly what the manifest's funnel says: drawn again from it, same bytes."""
    manifest = read_manifest(built.out_dir)
    again = tmp_path / "again.png"
    draw_chart(chart_data(manifest["counts"]["funnel"]), again,
               title=f"{manifest['name']} {manifest['version']}: build funnel")
    assert again.read_bytes() == (built.out_dir / "funnel.png").read_bytes()


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def _near(img: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return (np.abs(img - np.array(colour)).sum(axis=2) <= 6)


def test_the_image_shows_the_bars(built: BuildResult) -> None:
    png = built.out_dir / "funnel.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = _pixels(png)
    data = chart_data(read_manifest(built.out_dir)["counts"]["funnel"])
    rows = len(data.steps) + 2 + max(len(data.languages), 1)
    assert img.shape[1] == 1200 and img.shape[0] >= 34 * rows  # 12 in wide at 100 dpi, ~0.34 in per bar
    assert (img < 250).any(axis=2).mean() > 0.08  # not blank
    # the waterfall's first bar is the candidates, its last (the first green one) the kept: their lengths agree
    blue = _near(img, BLUE).sum(axis=1)
    green = _near(img, GREEN)
    top_green = int(np.flatnonzero(green.any(axis=1))[0])
    assert blue.max() > 300
    ratio = green[top_green + 3].sum() / blue.max()
    assert ratio == pytest.approx(data.kept / data.candidates, abs=0.01)


def _synthetic(languages: int, reasons: int) -> Funnel:
    f = Funnel()
    for stage in ("selected", "licence", "filter:x", "kept"):
        f.stage(stage)
    for i in range(languages):
        lang = f"l{i:02d}"
        for k in range(i + 1):  # language i: i + 1 candidates; the first dropped at licence, one kept
            drop = "licence" if k == 0 and i else None
            for stage in ("selected", "licence", "filter:x", "kept"):
                f.record(stage, lang, 10, kept=stage != drop, reason=f"r{k % reasons}" if stage == drop else None)
                if stage == drop:
                    break
    f.record("filter:x", "l00", 5, kept=False, reason=None)  # a drop without a reason
    return f


def test_top_reasons_and_languages_are_summed_past_the_limits() -> None:
    f = _synthetic(languages=TOP_LANGUAGES + 5, reasons=1)
    for n in range(TOP_REASONS + 2):
        f.reasons["licence"][f"extra{n}"] += 0  # reasons never used are not drawn
    data = chart_data(f.as_dict()["stages"], f.reasons_by_stage())
    assert len(data.languages) == TOP_LANGUAGES
    last = data.languages[-1]
    assert last.language == "6 more"
    assert sum(g.candidates for g in data.languages) == data.candidates
    filter_step = next(s for s in data.steps if s.stage == "filter:x")
    assert filter_step.reasons == [("no reason given", 1)]

    many = Funnel()
    many.stage("selected")
    many.stage("licence")
    many.stage("kept")
    for n in range(TOP_REASONS + 3):
        for _ in range(n + 1):
            many.record("selected", "fr", 1, kept=True)
            many.record("licence", "fr", 1, kept=False, reason=f"tier:{n}")
    many.record("selected", "fr", 1, kept=True)
    many.record("licence", "fr", 1, kept=True)
    many.record("kept", "fr", 1, kept=True)
    step = chart_data(many.as_dict()["stages"]).steps[0]
    assert [r for r, _ in step.reasons[:TOP_REASONS]] == [f"tier:{n}" for n in range(TOP_REASONS + 2, 2, -1)]
    assert step.reasons[-1] == ("3 more reasons", 1 + 2 + 3)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_same_numbers_same_bytes(tmp_path: Path, suffix: str) -> None:
    f = _synthetic(languages=4, reasons=2)
    one, two = tmp_path / f"one{suffix}", tmp_path / f"two{suffix}"
    f.chart(one, title="t")
    f.chart(two, title="t")
    assert one.read_bytes() == two.read_bytes() and one.stat().st_size > 5000
    if suffix == ".svg":
        text = one.read_text(encoding="utf-8")
        assert "<dc:date>" not in text and "What each stage removed" in text


def test_an_empty_funnel_still_draws(tmp_path: Path) -> None:
    Funnel().chart(tmp_path / "empty.png", title="nothing")
    assert (tmp_path / "empty.png").stat().st_size > 1000
