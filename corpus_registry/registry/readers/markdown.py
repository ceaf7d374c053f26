"""Markdown trees (e.g. the Code civil, one article per file), text kept as written."""

from __future__ import annotations

import re
from typing import ClassVar

from corpus_registry.registry.readers.base import FileOptions, FileReader, first_line

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)


class MarkdownOptions(FileOptions):
    glob: str | list[str] = "**/*.md"


class MarkdownReader(FileReader):
    """One document per file; the title is the first ``#`` heading (``# Article 8``)."""

    kind: ClassVar[str] = "markdown"
    Options: ClassVar[type[MarkdownOptions]] = MarkdownOptions

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
