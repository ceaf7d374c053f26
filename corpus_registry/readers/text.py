"""Plain text files, one document per file (Genesis, UDHR, any folder of ``.txt``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from corpus_registry.documents import RawDocument
from corpus_registry.readers.base import FileOptions, FileReader, default_identifier, first_line


class TextOptions(FileOptions):
    glob: str | list[str] = "**/*.txt"


class TextReader(FileReader):
    """One document per file; the title is the first non-empty line (200 characters at most)."""

    kind: ClassVar[str] = "text"
    Options: ClassVar[type[TextOptions]] = TextOptions

    def read_file(self, file: Path, *, relpath: str) -> RawDocument:
        text, encoding = self.decode(file, relpath=relpath)
        return RawDocument(
            identifier=default_identifier(relpath),
            text=text,
            title=first_line(text),
            path=relpath,
            extra={"encoding": encoding},
        )
