"""Markdown that quotes untrusted text safely: the Jinja2 environment of every Markdown output
(dataset card, ATTRIBUTION.md, the training-content summary).

Titles, creators, attributions and source names are data, not markup: a title holding a newline
and ``## ``, a ``|``, raw HTML or a backtick must read as that text and change nothing around it.
So every ``{{ value }}`` is escaped by default (the environment's ``finalize``): line breaks
become spaces, control and bidi-override characters go, and every character that can open an
inline construct (emphasis, code, links, HTML, entities, table cells, maths) is backslash-escaped,
as are the characters that would open a block at the start of a line. Filters that build
Markdown on purpose (``code``, ``url``, ``link``, ``yaml``…) return :class:`Md`, which is
written as is.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import yaml


class Md(str):
    """Text that is already Markdown: written as is by the templates."""

    __slots__ = ()


_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
# C0/C1 controls (tab and line breaks are handled above), bidi overrides and isolates
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_INLINE = re.compile(r"([\\`*_\[\]<>|~$&])")
# what opens a block at the start of a line: ATX heading, quote, list item, setext underline
_BLOCK_START = re.compile(r"^(#{1,6}(?=\s|$)|>|[-+](?=\s|$)|\d{1,9}[.)](?=\s|$)|=+(?=\s*$)|-+(?=\s*$))")


# anything one_line or escape would change (a value without any is written as it is: the usual case)
_PLAIN = re.compile(r"(?:[^\W_]|[ ,.'/:;()@#=+?%!-])*")


def one_line(value: object) -> str:
    """``value`` as one line of plain text: breaks and tabs become spaces, invisible controls go."""
    text = str(value)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", _BREAKS.sub(" ", text.replace("\t", " ")))
    return text.strip()


def escape(value: object) -> Md:
    """Plain text as inline Markdown that renders as exactly that text (on one line)."""
    if value is None:
        return Md("")
    if isinstance(value, Md):
        return value
    text = str(value)
    if _PLAIN.fullmatch(text) and text == text.strip() and not _BLOCK_START.match(text) \
            and unicodedata.is_normalized("NFC", text):
        return Md(text)
    text = _INLINE.sub(r"\\\1", one_line(text))
    return Md(_BLOCK_START.sub(lambda m: m[0][:-1] + "\\" + m[0][-1], text))


def code(value: object, *, cell: bool = False) -> Md:
    """An inline code span holding ``value`` verbatim (a fence longer than any backtick run in it).
    ``cell``: inside a table, where GFM needs ``|`` escaped even in code."""
    text = one_line(value)
    if not text:
        return Md("")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " ") else ""
    if cell:
        text = text.replace("|", "\\|")
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def code_span_text(span: str) -> str:
    """The text of a code span written by :func:`code` (CommonMark's rule: one space stripped from
    each side when both sides have one)."""
    fence = len(span) - len(span.lstrip("`"))
    inner = span[fence:len(span) - fence]
    if len(inner) >= 2 and inner[0] == " " and inner[-1] == " " and inner.strip(" "):
        inner = inner[1:-1]
    return inner


_SIMPLE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/%-]*)?")

#: A code span at the start of a list item: what ATTRIBUTION.md writes before each identifier.
CODE_SPAN = r"(?P<fence>`+)(?P<body>.+?)(?P=fence)(?!`)"


def safe_url(value: object) -> str | None:
    """``value`` as an http(s) URL with every character Markdown could misread percent-encoded,
    or None when it is not one (``javascript:``, relative paths, spaces in the host…)."""
    if value is None:
        return None
    text = one_line(value)
    if _SIMPLE_URL.fullmatch(text):
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in parts.netloc:
        return None
    return quote(text, safe=":/?#@!$&'*+,;=%~-._[]")


def url(value: object) -> Md:
    """An autolink ``<https://…>`` for an http(s) URL; any other value as escaped text."""
    link = safe_url(value)
    return Md(f"<{link}>") if link else escape(value)


_LOCAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*)*"
                    r"(#[A-Za-z0-9_-]+)?")


def link(text: object, target: object, local: bool = False) -> Md:
    """``[text](target)`` for an http(s) target, or with ``local`` a file of the release
    (``removed.parquet``, ``README.md#licences``); escaped text alone otherwise."""
    dest = safe_url(target)
    if dest is None and local and isinstance(target, str) and _LOCAL.fullmatch(target):
        dest = target
    return Md(f"[{escape(text)}](<{dest}>)") if dest else escape(text)


def fence_for(text: str) -> Md:
    """A code fence longer than any backtick run in ``text`` (at least three backticks)."""
    return Md("`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1))


def unescape(text: str) -> str:
    """Undo :func:`escape`'s backslash escapes (for readers of the files it wrote)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def yaml_block(data: Any) -> Md:
    """A YAML document with one scalar per line (strings made one line, no folding): no line of
    it can read as the ``---`` that ends a card's header."""

    def flat(node: Any) -> Any:
        if isinstance(node, str):
            return one_line(node)
        if isinstance(node, dict):
            return {flat(k): flat(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [flat(v) for v in node]
        return node

    return Md(yaml.safe_dump(flat(data), sort_keys=False, allow_unicode=True, width=1 << 30).rstrip("\n"))


_BIBTEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "#": r"\#", "&": r"\&",
           "$": r"\$", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def bibtex(value: object) -> Md:
    """A BibTeX field value (inside braces), its special characters escaped."""
    return Md("".join(_BIBTEX.get(c, c) for c in one_line(value)))


def number(value: object) -> Md:
    """An integer with thousands separators (1,234,567), or a float with one decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return escape(value)
    return Md(f"{value:,}" if isinstance(value, int) else f"{value:,.1f}")


def _finalize(value: object) -> object:
    return value if isinstance(value, Md) else escape(value)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The templates of ``corpus_registry/build/templates``, with Markdown escaping by default."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("corpus_registry.build", "templates"),
        autoescape=False,  # Markdown, not HTML: escaping is finalize's job (every {{ }} goes through it)
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(md=escape, code=code, code_cell=lambda v: code(v, cell=True), url=url, link=link,
                       yaml=yaml_block, bibtex=bibtex, num=number,
                       or_dash=or_dash, raw=Md)  # raw: text the code itself wrote as Markdown
    return env


def or_dash(value: object) -> Md:
    """``value`` escaped, or a dash where nothing visible is left (empty, or only controls)."""
    return escape(value) if value is not None and one_line(value) else Md("—")


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a file of the templates folder) with ``context``."""
    return environment().get_template(template).render(**context)
