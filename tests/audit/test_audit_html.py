"""The HTML audit report is one self-contained page that a real browser (headless Chromium) renders
with its licence-mix chart and every problem, each at an anchor of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from corpus_registry.registry.registry import Registry

from tests.audit.test_audit import (
    CODE_CIVIL,
    build,
    copy_release,
    make_small_registry,
    relabel_first_code_civil,
    run,
)

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
    pytest.skip("chromium is not installed")
    raise AssertionError("unreachable")


def browse(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1200,1600", *extra,
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )


@pytest.fixture
def tampered_report(registry: Registry, tmp_path: Path) -> tuple[Path, str]:
    """An HTML report of a release with one relabelled row; returns the page and that row's id."""
    reg = make_small_registry(registry, tmp_path / "catalogue")
    release = build(reg, tmp_path / "release")
    copy = copy_release(release, tmp_path / "tampered")
    hit = {"identifier": relabel_first_code_civil(copy)}
    page = tmp_path / "report.html"
    code, out = run(reg, "audit", str(copy), "--format", "html", "--output", str(page), "--no-progress")
    assert code == 1, out
    return page, hit["identifier"]


def test_html_is_self_contained(tampered_report: tuple[Path, str]) -> None:
    page, identifier = tampered_report
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)  # nothing fetched from elsewhere
    assert "<style>" in html and '<svg id="licence-mix-chart"' in html
    anchor = re.search(r'<tr id="([^"]+)" class="problem error" data-kind="licence_laundering"', html)
    assert anchor and identifier.replace("/", "-") in anchor[1]
    assert f'href="#{anchor[1]}"' in html  # each problem links to itself


def test_html_renders_in_headless_chromium(tampered_report: tuple[Path, str], tmp_path: Path) -> None:
    page, identifier = tampered_report
    dom = browse(page, tmp_path, "--dump-dom").stdout
    assert 'id="licence-mix-chart"' in dom and "<rect" in dom
    problems = re.findall(r'<tr id="([^"]+)" class="problem (error|warning)" data-kind="([a-z_]+)"', dom)
    assert {(severity, kind) for _, severity, kind in problems} == {("error", "licence_laundering"),
                                                                     ("error", "shard_modified"),
                                                                     ("error", "manifest_mismatch"),
                                                                     ("warning", "card_licence_mismatch")}
    assert identifier in dom and "FAIL" in dom and "etalab-2.0" in dom and CODE_CIVIL in dom

    shot = tmp_path / "report.png"
    browse(page, tmp_path, f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 20_000
    with Image.open(shot) as img:
        assert img.size == (1200, 1600)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # text, bars and tables, not a blank page
    # The tier colours of the chart's bars are on screen.
    present = {rgb for _, rgb in colours}
    assert (0x15, 0x65, 0xC0) in present and (0x2E, 0x7D, 0x32) in present


def test_clean_report_says_so(registry: Registry, tmp_path: Path) -> None:
    reg = make_small_registry(registry, tmp_path / "catalogue")
    release = build(reg, tmp_path / "release")
    page = tmp_path / "clean.html"
    code, out = run(reg, "audit", str(release), "--format", "html", "-o", str(page), "--no-progress")
    assert code == 0, out
    html = page.read_text(encoding="utf-8")
    assert 'id="no-problems"' in html and 'class="verdict pass"' in html
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in (release / "data").rglob("*.parquet"))
    assert f"<b>{rows:,}</b>rows" in html
