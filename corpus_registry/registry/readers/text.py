"""Plain text files, one document per file (Genesis, UDHR, any folder of ``.txt``)."""

from __future__ import annotations

from typing import ClassVar

from corpus_registry.registry.readers.base import FileOptions, FileReader


class TextOptions(FileOptions):
    glob: str | list[str] = "**/*.txt"


class TextReader(FileReader):
    """One document per file; the title is the first non-empty line (200 characters at most)."""

    kind: ClassVar[str] = "text"
    Options: ClassVar[type[TextOptions]] = TextOptions
