"""Markup left in the text: HTML/XML tags, comments and doctypes, from any reader.

A reader that knows its format strips markup at ingest (the Markdown reader does, by default); this
filter catches what slips through other readers (a JSONL field that holds HTML, a text file saved
from a web page) and what a source kept on purpose (``markup: keep``).
"""

from __future__ import annotations

import re

from corpus_registry.build.filters.base import BuildDoc, FilterResult, QualityFilter, _view

__all__ = ["MarkupFilter", "count_markup"]

# A tag needs a name right after "<" or "</" (so "a < b", "<>", "<<" and "<-" are not tags), then
# attributes, then ">"; a comment, a doctype or a CDATA section. Character entities (``&szlig;``,
# which the German Genesis writes for ß) are not tags: they are left to a reader that decodes them.
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<!--.*?-->|<![A-Za-z\[][^<>]*>", re.DOTALL)


def count_markup(text: str) -> int:
    """Tags, comments and doctypes in ``text``."""
    if "<" not in text:
        return 0
    return len(_TAG.findall(text))


class MarkupFilter(QualityFilter):
    """Too much markup: tag-like tokens (``<p>``, ``</a>``, ``<br/>``, ``<!-- -->``) above ``max_tag_ratio`` of the whitespace tokens. 0.01 drops a Légifrance article that still
    wraps its 60 words in ``<p>…</p>``; set 0 to drop any document with a single tag."""

    name = "markup"

    def __init__(self, *, max_tag_ratio: float = 0.01) -> None:
        super().__init__()
        self.max_tag_ratio = max_tag_ratio

    def filter(self, doc: BuildDoc) -> FilterResult:
        tags = count_markup(doc.text)
        if not tags:
            return True
        tokens = max(len(_view(doc.text).tokens), 1)
        if tags / tokens > self.max_tag_ratio:
            return False, "markup_tags"
        return True
