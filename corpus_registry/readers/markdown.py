"""Markdown trees (e.g. the Code civil, one article per file), text kept as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from corpus_registry.documents import RawDocument
from corpus_registry.readers.base import FileOptions, FileReader, default_identifier, first_line

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)


class MarkdownOptions(FileOptions):
    glob: str | list[str] = "**/*.md"


class MarkdownReader(FileReader):
    """One document per file; the title is the first ``#`` heading (``# Article 8``)."""

    kind: ClassVar[str] = "markdown"
    Options: ClassVar[type[MarkdownOptions]] = MarkdownOptions

    def read_file(self, file: Path, *, relpath: str) -> RawDocument:
        text, encoding = self.decode(file, relpath=relpath)
        return RawDocument(
            identifier=default_identifier(relpath),
            text=text,
            title=markdown_title(text),
            path=relpath,
            extra={"encoding": encoding},
        )


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
