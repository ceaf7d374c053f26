"""Markup to plain text: Markdown through a real parser, HTML through a real HTML-to-text renderer.

A trainer wants the words a reader sees, not ``<p>``, ``<a href=…>`` or ``**``. Markdown is parsed
with ``markdown-it-py`` (CommonMark, raw HTML allowed through, as the Légifrance articles carry
``<p>``, ``<br/>`` and links inside their Markdown) and the HTML it renders is turned into text by
``inscriptis``, which lays out blocks, line breaks, lists and tables the way a browser would and
drops scripts, styles and comments. So the same two libraries handle Markdown syntax and the HTML
embedded in it, and link targets, attributes and tags never reach the text.

Text that markup *quotes* stays: a code span `` `<p>` `` or an escaped ``\\<p\\>`` is content, and
comes out as ``<p>``. A tag CommonMark refuses (malformed, as some Légifrance links are) is handed to
the HTML parser anyway, which reads it as a browser would.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Literal

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

__all__ = ["MARKUP_MODES", "Markup", "has_markup", "html_to_text", "markdown_to_text", "text_without_markup"]

Markup = Literal["keep", "strip"]
MARKUP_MODES: tuple[Markup, ...] = ("keep", "strip")
# "<", a tag name, anything but angle brackets, ">": what an HTML parser takes for a tag
_LOOSE_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
# C0 controls but tab and newlines, DEL, lone surrogates and the two non-characters XML forbids
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@functools.cache
def _markdown() -> MarkdownIt:
    # CommonMark with raw HTML passed through (to be rendered as text below), plus tables and
    # strikethrough, which GitHub-flavoured sources use.
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    # Escapes (``\<``) stay tokens of their own so that the text rule below never sees them.
    md.disable("text_join")
    md.add_render_rule("text", _render_text)
    md.add_render_rule("text_special", lambda self, tokens, idx, options, env: escapeHtml(tokens[idx].content))
    return md


def _render_text(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
                 env: EnvType) -> str:
    """Plain text, escaped, except tag-like runs that CommonMark refused as HTML but a browser would
    not: Légifrance writes ``<a … title='Code de l'action sociale'>`` (a quote inside a quoted
    attribute), which CommonMark leaves as text. They go to the HTML parser as they are."""
    content = tokens[idx].content
    if "<" not in content:
        return escapeHtml(content)
    out: list[str] = []
    last = 0
    for match in _LOOSE_TAG.finditer(content):
        out.append(escapeHtml(content[last:match.start()]))
        out.append(match.group())
        last = match.end()
    out.append(escapeHtml(content[last:]))
    return "".join(out)


@functools.cache
def _config() -> ParserConfig:
    # "strict": block elements separated as a browser would, no invented indentation;
    # links shown by their text only.
    return ParserConfig(css=CSS_PROFILES["strict"], display_links=False, display_images=False)


def html_to_text(html: str) -> str:
    """The text a browser would show for ``html`` (a fragment or a document), blocks on their own
    lines; empty for markup without text."""
    if _CONTROL.search(html):  # libxml2 refuses them; they are not text either
        html = _CONTROL.sub("", html)
    if not html.strip():
        return ""
    return get_text(html, _config()).strip()


def markdown_to_text(markdown: str) -> str:
    """The text of a Markdown document: syntax removed, embedded HTML rendered as text."""
    if not markdown.strip():
        return ""
    return html_to_text(_markdown().render(markdown))


def has_markup(text: str) -> bool:
    """True when ``text`` holds a tag-like run or a character entity."""
    return ("<" in text and _LOOSE_TAG.search(text) is not None) or ("&" in text and _ENTITY.search(text) is not None)


def text_without_markup(text: str) -> str:
    """A plain text file that carries HTML fragments (a page saved as text: ``<h3>``, ``</P>``,
    ``&szlig;``), as text: rendered by the HTML parser with its line breaks kept. A text without
    tags or entities is returned as it is, so plain texts never pass through the HTML parser."""
    if not has_markup(text):
        return text
    return html_to_text(text.replace("\n", "<br>\n"))
