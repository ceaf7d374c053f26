"""Every Markdown output quotes untrusted text as text: titles, creators, attributions and source
names holding newlines and ``## ``, ``|``, raw HTML, backticks or links change nothing around them,
and the tool's own fresh release passes its own audit. Checked with Hypothesis, by parsing what
was written with markdown-it (CommonMark + GFM tables, raw HTML on so that any would show)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from corpus_registry.audit.auditor import audit
from corpus_registry.build.builder import build_release
from corpus_registry.build.card import validate_card
from corpus_registry.build.markdown import code, escape, link, one_line, url
from corpus_registry.build.spec import parse_spec
from corpus_registry.build.summary import render_summary, training_summary
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.readers import decode_bytes
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.conftest import DATA

MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
NASTY = ["\n## Injected heading\n", "| cell | break |", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
         "`tick`", "``double``", "[link](javascript:alert(1))", "![img](https://evil.example/x.png)", "&lt;b&gt;",
         "---", "\u2028# separator", "*em* _em_ **b**", "back\\slash", "$x^2$", "<!-- hidden -->", "\r\n# crlf",
         "~~strike~~", "{{ jinja }}", "{% raw %}", "1. list", "- item", "> quote", "\t    indented", "\x07bell",
         "\u202eevil\u202c", "https://autolink.example", "[ref]: https://x.example", "\\", "|", "#", "   ", "\x85",
         "\ufeffbom", "'quote\"", "<https://x.example>", "===", "```", "~~~", "@misc{x,", "}", "%", "—"]
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=10)
HOSTILE = st.lists(st.one_of(st.sampled_from(NASTY), TEXT), min_size=1, max_size=4).map("".join)
WORST = "".join(NASTY[:12])


def _plain(text: str) -> str:
    """Text as a reader sees it: runs of white space as one space."""
    return " ".join(text.split())


def _inline_text(token: Token, *, links: bool = False) -> str:
    """The visible text of an inline token; fails on any construct but text and code (and links
    to the web, with ``links``: an injected link would still change the visible text)."""
    parts = []
    allowed = ("text", "text_special", "code_inline", *(("link_open", "link_close") if links else ()))
    for child in token.children or []:
        assert child.type in allowed, (child.type, token.content)
        if child.type == "link_open":
            assert str(child.attrs["href"]).startswith(("https://", "http://")), child.attrs
        parts.append(child.content)
    return "".join(parts)


# -- the escaping functions themselves ---------------------------------------------------------


@given(HOSTILE)
@example(WORST)
@settings(max_examples=300, deadline=None)
def test_escaped_text_renders_as_itself(value: str) -> None:
    for doc in (f"A {escape(value)} Z", str(escape(value))):  # mid-line, and where a block could start
        tokens = MD.parse(doc)
        if not one_line(value) and doc == str(escape(value)):
            assert tokens == []
            continue
        assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], doc
        expected = f"A {one_line(value)} Z" if doc.startswith("A ") else one_line(value)
        assert _plain(_inline_text(tokens[1])) == _plain(expected)


@given(HOSTILE)
@example(WORST)
@settings(max_examples=300, deadline=None)
def test_code_spans_and_table_cells_hold_their_text(value: str) -> None:
    tokens = MD.parse(f"A {code(value)} Z")
    spans = [c.content for c in tokens[1].children if c.type == "code_inline"]
    assert spans == ([one_line(value)] if one_line(value) else [])
    table = MD.parse(f"| a | b |\n|---|---|\n| {escape(value)} | {code(value, cell=True)} |\n")
    cells = [t for t in table if t.type == "inline"][2:]
    assert len(cells) == 2
    assert _plain(_inline_text(cells[0])) == _plain(one_line(value))
    assert _inline_text(cells[1]) == one_line(value)


@given(HOSTILE, HOSTILE)
@example("javascript:alert(1)", "[x](y)")
@example("https://ok.example/a b<c>|d`e", "T")
@settings(max_examples=200, deadline=None)
def test_urls_and_links_only_link_to_the_web_or_the_release(target: str, text: str) -> None:
    for rendered in (url(target), link(text, target), link(text, "README.md#licences", local=True),
                     link(text, target, local=True)):
        tokens = MD.parse(f"A {rendered} Z")
        assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
        for child in tokens[1].children:
            assert child.type in ("text", "text_special", "link_open", "link_close"), child.type
            if child.type == "link_open":
                href = child.attrs["href"]
                assert str(href).startswith(("http://", "https://")) or href in ("README.md#licences", target), href
                assert not str(href).startswith(("-", ".", "/", "javascript")), href


# -- a whole release built from hostile metadata ---------------------------------------------------

UDHR = DATA / "nltk-udhr" / "udhr"
TEXTS = ["en_English-Latin1.txt", "fr_French_Francais-Latin1.txt", "de_German_Deutsch-Latin1.txt"]
IDENTIFIERS = ["doc-1", "doc`2|x", "doc 3"]
CARD_SECTIONS = ["Dataset structure", "How to load", "Sources and licences", "Funnel", "Limitations", "Citation",
                 "How to verify"]


def _headings(tokens: list[Token], level: str) -> list[str]:
    return [_inline_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == level]


def _no_html(tokens: list[Token]) -> None:
    for t in tokens:
        assert t.type != "html_block", t.content
        for c in t.children or []:
            assert c.type != "html_inline", c.content


def _tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Every table as rows of cell texts (header row first)."""
    tables: list[list[list[str]]] = []
    for i, t in enumerate(tokens):
        if t.type == "table_open":
            tables.append([])
        elif t.type == "tr_open":
            tables[-1].append([])
        elif t.type == "inline" and i and tokens[i - 1].type in ("th_open", "td_open"):
            tables[-1][-1].append(_plain(_inline_text(t, links=True)))
    return tables


def _build(folder: Path, meta: dict[str, Any]) -> tuple[Registry, Path]:
    lines = []
    for ident, name, title, creator in zip(IDENTIFIERS, TEXTS, meta["titles"], meta["creators"]):
        text, _ = decode_bytes((UDHR / name).read_bytes(), path=name, encoding="auto")
        lines.append({"id": ident, "text": text, "title": title, "creator": creator})
    (folder / "docs.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    catalogue = {"sources": [{"slug": "hostile", "name": meta["name"], "collection": "OpenCulture",
                              "license": "CC-BY-4.0", "attribution": meta["attribution"],
                              "reader": {"kind": "jsonl", "path": "docs.jsonl", "title_field": "title",
                                         "creator_field": "creator"}}]}
    (folder / "sources.yaml").write_text(yaml.safe_dump(catalogue, allow_unicode=True), encoding="utf-8")
    registry = Registry(f"sqlite:///{folder / 'registry.db'}")
    registry.init(store=str(folder / "store"))
    sync_sources(registry, catalogue_path=folder / "sources.yaml")
    ingest(registry, progress=False, workers=1)
    spec = parse_spec({"name": "hostile", "version": "1", "pretty_name": meta["pretty"],
                       "description": meta["description"], "creator": meta["creator"],
                       "select": {"license_tiers": ["attribution"]}, "dedup": {"near": False}})
    out = folder / "out"
    build_release(registry, spec, out_dir=out, progress=False)
    return registry, out


METADATA = st.fixed_dictionaries({
    "titles": st.lists(HOSTILE, min_size=3, max_size=3), "creators": st.lists(HOSTILE, min_size=3, max_size=3),
    "attribution": HOSTILE, "name": HOSTILE, "pretty": HOSTILE, "description": HOSTILE, "creator": HOSTILE})


@given(METADATA)
@example({"titles": [WORST, "<b>x</b>\n\n## y", "|a|b|\n|-|-|"], "creators": ["`", "\n---\n", "[x](javascript:y)"],
          "attribution": WORST, "name": "Name\n## Not a heading | x", "pretty": "P\n---\nlicense: mit",
          "description": "D\n\n# H\n\n<script>x</script>", "creator": "Me} @misc{evil,"})
@example({"titles": ["a", "\x12", "c"], "creators": ["\x01", "b", "c"], "attribution": "\x12", "name": "n",
          "pretty": "p", "description": "d", "creator": "c"})  # only controls: shown as a dash, not an empty cell
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_release_of_hostile_metadata_renders_safely_and_passes_its_own_audit(meta: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry, out = _build(Path(tmp), meta)
        try:
            report = audit(registry, out, progress=False)
            assert report.problem_counts == {}, [p.message for p in report.problems]

            card = (out / "README.md").read_text(encoding="utf-8")
            assert validate_card(card) == []
            body = card.split("\n---\n", 1)[1]
            tokens = MD.parse(body)
            _no_html(tokens)
            pretty = one_line(meta["pretty"].strip()) if meta["pretty"].strip() else "hostile"  # else the name
            assert [_plain(h) for h in _headings(tokens, "h1")] == [_plain(f"{pretty} (1)")]
            assert _headings(tokens, "h2") == CARD_SECTIONS
            assert _headings(tokens, "h3") == ["Data fields", "Tokens", "Licences", "Sources"]
            sources = next(t for t in _tables(tokens) if t[0][0] == "source")
            assert all(len(row) == 7 for row in sources)
            assert sources[1][0] == _plain(f"hostile {one_line(meta['name'].strip())}")
            assert sources[1][6] == (_plain(one_line(meta["attribution"].strip())) or "—")
            from huggingface_hub import DatasetCard

            assert _plain(DatasetCard(card).data.pretty_name or "") == _plain(pretty)

            credits = MD.parse((out / "ATTRIBUTION.md").read_text(encoding="utf-8"))
            _no_html(credits)
            assert _headings(credits, "h1") == ["Attribution"]
            assert [_plain(h) for h in _headings(credits, "h2")] == [_plain(f"hostile — {one_line(meta['name'].strip())}")]
            items = [_plain(_inline_text(credits[i + 2])) for i, t in enumerate(credits) if t.type == "list_item_open"]
            expected = []
            for ident, title in sorted(zip(IDENTIFIERS, meta["titles"]), key=lambda p: p[0]):
                expected.append(_plain(f"{ident}{' — ' + one_line(title) if title else ''} (CC-BY-4.0)"))
            assert items == expected

            summary = render_summary(training_summary(registry, [out]))
            tokens = MD.parse(summary)
            _no_html(tokens)
            assert _headings(tokens, "h2") == ["1. General information", "2. List of data sources",
                                               "3. Data processing aspects"]
        finally:
            registry.dispose()
