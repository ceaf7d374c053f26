"""Markdown trees (e.g. the Code civil, one article per file).

With ``markup: strip`` (the default) a document's text is what the Markdown renders to: syntax
and embedded HTML removed by a real parser (:mod:`.markup`); ``markup: keep`` keeps the file as
written (``extra.markup`` says which). The title is the first heading, as text either way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import FileOptions, FileReader, first_line
from corpus_registry.registry.readers.markup import Markup, markdown_to_text

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)


class MarkdownOptions(FileOptions):
    glob: str | list[str] = "**/*.md"
    markup: Markup = "strip"


class MarkdownReader(FileReader):
    """One document per file; the title is the first ``#`` heading (``# Article 8``)."""

    kind: ClassVar[str] = "markdown"
    Options: ClassVar[type[MarkdownOptions]] = MarkdownOptions

    options: MarkdownOptions

    def read_file(self, file: Path, *, relpath: str) -> RawDocument:
        document = super().read_file(file, relpath=relpath)
        document.extra["markup"] = self.options.markup
        if self.options.markup == "strip":
            document.text = markdown_to_text(document.text)
            if document.title:
                document.title = markdown_to_text(document.title) or document.title
        return document

    def title(self, text: str) -> str | None:
        return markdown_title(text)


def markdown_title(text: str, *, limit: int = 200) -> str | None:
    """The first level-1 heading, else the first heading, else the first non-empty line.

    Headings inside fenced code blocks do not count (``# comment`` in a shell example).
    """
    prose = _FENCE.sub("", text)
    headings = [(len(m.group(1)), m.group(2).strip()) for m in _ATX_HEADING.finditer(prose)]
    for level, title in headings:
        if level == 1:
            return title[:limit]
    if headings:
        return headings[0][1][:limit]
    return first_line(text, limit=limit)
