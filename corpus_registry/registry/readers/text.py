"""Plain text files, one document per file (Genesis, UDHR, any folder of ``.txt``).

Text is kept as written by default (``markup: keep``): a ``<`` in a plain text is content. A source
whose files carry HTML fragments (NLTK's German Genesis was saved from a web page: ``<h3>``,
``</P>``, ``&szlig;``) says ``markup: strip``, and the files that hold tags or entities are read as
HTML, line breaks kept (:func:`.markup.text_without_markup`); the others are left as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import FileOptions, FileReader
from corpus_registry.registry.readers.markup import Markup, text_without_markup


class TextOptions(FileOptions):
    glob: str | list[str] = "**/*.txt"
    markup: Markup = "keep"


class TextReader(FileReader):
    """One document per file; the title is the first non-empty line (200 characters at most)."""

    kind: ClassVar[str] = "text"
    Options: ClassVar[type[TextOptions]] = TextOptions

    options: TextOptions

    def read_file(self, file: Path, *, relpath: str) -> RawDocument:
        document = super().read_file(file, relpath=relpath)
        if self.options.markup == "strip":
            text = text_without_markup(document.text)
            if text != document.text:
                document.text, document.title = text, self.title(text)
                document.extra["markup"] = "strip"
        return document
