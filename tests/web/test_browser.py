"""The site in a real browser — Debian's Chromium driven by Playwright, JavaScript turned off — served
by the real ``corpus-registry serve``: a reviewer signs in, a visitor files a takedown request, the
reviewer accepts it, the document page tells its fate in each release. Screenshots are kept under
``$CORPUS_REGISTRY_TEST_ARTIFACTS`` (default ``.test-artifacts/web``) and checked pixel by pixel."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from tests.audit.test_audit_html import chromium
from tests.conftest import REPO
from tests.web.site import PASSWORD, RELEASE, Site

pytestmark = pytest.mark.parametrize("site", ["sqlite"], indirect=True)

ARTIFACTS = Path(os.environ.get("CORPUS_REGISTRY_TEST_ARTIFACTS", REPO / ".test-artifacts")) / "web"
HEADER = (0x0D, 0x2A, 0x4A)  # the site's header band
KEPT = (0x2E, 0x7D, 0x32)
DROPPED = (0xC6, 0x28, 0x28)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions"]


@pytest.fixture
def server(site: Site, tmp_path: Path) -> Iterator[str]:
    """``corpus-registry serve`` on a free loopback port, stopped (by its pid) at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = Path(sys.executable).parent / "corpus-registry"
    proc = subprocess.Popen([str(command), "--db", site.registry.url, "serve", "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not start: {proc.stdout.read().decode() if proc.stdout else ''}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour))


def count(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 24) -> int:
    """How many of the image's pixels are close to ``colour``."""
    pixels = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return sum(n for n, p in pixels if near(p, colour, tolerance))


def share(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 24) -> float:
    """The share of the image's pixels close to ``colour``."""
    return count(image, colour, tolerance) / (image.width * image.height)


def changed_pixels(a: Image.Image, b: Image.Image) -> int:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return sum(n for n, level in (diff.getcolors(maxcolors=256) or []) if level > 24)


def shoot(page, name: str, *, selector: str | None = None) -> Image.Image:  # noqa: ANN001
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if selector:
        page.locator(selector).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=False)
    image = Image.open(path)
    image.load()
    return image


def test_reviewer_takedown_and_fates_in_chromium(site: Site, server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            run_scenario(browser, server)
        finally:
            browser.close()


def run_scenario(browser, base: str) -> None:  # noqa: ANN001
    viewport = {"width": 1280, "height": 900}
    reviewer = browser.new_context(java_script_enabled=False, viewport=viewport).new_page()
    visitor = browser.new_context(java_script_enabled=False, viewport=viewport).new_page()
    document_url = f"{base}/documents/hostile/q%3Fx%3D1%23frag"

    # the reviewer signs in through the form
    reviewer.goto(f"{base}/login")
    reviewer.fill("input[name=name]", "reviewer")
    reviewer.fill("input[name=password]", PASSWORD)
    reviewer.click("#login-form button[type=submit]")
    assert reviewer.url == f"{base}/"
    assert reviewer.inner_text("#who") == "reviewer" and reviewer.is_visible("#nav-review")
    home = shoot(reviewer, "01-home-signed-in")
    assert home.size == (1280, 900)
    assert share(home.crop((0, 0, 1280, 40)), HEADER) > 0.6  # the header band is drawn

    # the reviewer clears a document held for review, from the queue
    reviewer.goto(f"{base}/review")
    reviewer.click("#queue-documents a[href='/documents/nltk-genesis/finnish']")
    assert "Held for review" in reviewer.inner_text("#review-actions")
    held = shoot(reviewer, "01b-held-for-review", selector="#review-actions")
    reviewer.fill("#clear-form input[name=reason]", "The 1938 revision is out of copyright.")
    reviewer.fill("#clear-form input[name=evidence]", "https://example.org/finnish-1938")
    reviewer.click("#clear-form button[type=submit]")
    assert reviewer.inner_text("#done") == "Done: cleared."
    assert "Held for review" not in reviewer.inner_text("#review-actions")
    row = reviewer.locator("#decisions tr.decision-clear")
    assert "reviewer" in row.inner_text() and "The 1938 revision is out of copyright." in row.inner_text()
    cleared = shoot(reviewer, "01c-cleared", selector="#decisions tr.decision-clear")
    assert count(cleared, (0x1B, 0x1F, 0x24), 60) > 100  # the row's text is drawn
    assert count(held, (0xEF, 0x6C, 0x00), 60) > 40  # "held for review" in the review orange
    reviewer.goto(f"{base}/review")
    assert "nltk-genesis/finnish" not in reviewer.inner_text("#queue-documents")

    # the document page before: active, kept in both releases
    reviewer.goto(document_url)
    assert reviewer.inner_text("#doc-identifier") == "q?x=1#frag"
    assert reviewer.inner_text("#doc-status") == "active"
    before = shoot(reviewer, "02-document-before")
    assert count(shoot(reviewer, "02-status-active", selector="#doc-status"), DROPPED, 60) == 0

    # a visitor follows the page's takedown link and files the request
    visitor.goto(document_url)
    visitor.click("#takedown-link")
    assert visitor.input_value("input[name=identifier]") == "q?x=1#frag"
    visitor.fill("input[name=contact]", "rights@example.org")
    visitor.fill("textarea[name=reason]", "This text is mine and was published without a licence.")
    visitor.click("#takedown-form button[type=submit]")
    takedown_id = visitor.inner_text("#takedown-id")
    filed = shoot(visitor, "03-takedown-filed")
    assert share(filed.crop((0, 0, 1280, 40)), HEADER) > 0.6

    # the reviewer finds it in the queue and accepts it
    reviewer.goto(f"{base}/review")
    reviewer.click(f"a[href='/takedowns/{takedown_id}']")
    assert "rights@example.org" in reviewer.inner_text("main")
    reviewer.fill("form[action$='/accept'] input[name=reason]", "The rights holder asked; no licence was given.")
    reviewer.click("form[action$='/accept'] button[type=submit]")
    assert reviewer.inner_text("#takedown-status") == "accepted"
    releases = reviewer.inner_text("#containing-releases")
    assert f"{RELEASE} 1.0.0" in releases and f"{RELEASE} 1.1.0" in releases
    shoot(reviewer, "04-takedown-accepted")

    # the document page after: withdrawn, and its fate in each release is still told
    reviewer.goto(document_url)
    assert reviewer.inner_text("#doc-status") == "withdrawn"
    fates = reviewer.locator("#fates tbody tr")
    assert fates.count() == 2
    first = fates.nth(0).inner_text()
    assert RELEASE in first and "1.0.0" in first and "kept" in first
    after = shoot(reviewer, "05-document-after")
    # the header is the same (but for a caret's few pixels), the record (status) changed
    assert changed_pixels(before.crop((0, 0, 1280, 40)), after.crop((0, 0, 1280, 40))) <= 16
    assert changed_pixels(before, after) > 500
    status = shoot(reviewer, "06-status-withdrawn", selector="#doc-status")
    assert count(status, DROPPED, 60) > 40  # the word is drawn in the withdrawn red
    kept_cell = shoot(reviewer, "07-fate-kept", selector="#fates tbody tr:first-child .fate-status")
    assert count(kept_cell, KEPT, 60) > 40 and count(kept_cell, DROPPED, 60) == 0

    # a dropped document's fate names the stage and links the document it duplicates
    reviewer.goto(f"{base}/documents/hostile/plain-1")
    row = reviewer.locator("#fates tbody tr").nth(0)
    assert "dropped" in row.inner_text() and "exact_dedup" in row.inner_text()
    dropped_cell = shoot(reviewer, "08-fate-dropped", selector="#fates tbody tr:first-child .fate-status")
    assert count(dropped_cell, DROPPED, 60) > 40 and count(dropped_cell, KEPT, 60) == 0
    row.locator("a", has_text="hostile/copy-of-plain-1").click()
    assert reviewer.inner_text("#doc-identifier") == "copy-of-plain-1"
