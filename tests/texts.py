"""Reading bundled books for tests that must not depend on the readers (a rough PG body cut)."""

from __future__ import annotations

import re
from pathlib import Path

from corpus_registry.build.filters import BuildDoc
from corpus_registry.registry.documents import count_words, normalize_text, text_sha256

DATA = Path(__file__).resolve().parents[1] / "data"
_START = re.compile(r"^\*\*\* ?START OF.*$|^\*END\*THE SMALL PRINT.*$", re.MULTILINE)
_END = re.compile(r"^\*\*\* ?END OF.*$|^End of (?:the )?Project Gutenberg.*$", re.MULTILINE | re.IGNORECASE)


def read_body(path: str, encoding: str) -> str:
    """The normalised text of ``data/<path>`` between the Project Gutenberg start and end markers."""
    text = (DATA / path).read_bytes().decode(encoding)
    start = _START.search(text)
    if start:
        text = text[start.end() :]
    end = _END.search(text)
    return normalize_text(text[: end.start()] if end else text)


def make_doc(key: str, text: str, *, date: str | None = None, language: str = "fr") -> BuildDoc:
    """A :class:`BuildDoc` of ``text`` as the builder would pass it (normalised, hashed, counted)."""
    norm = normalize_text(text)
    return BuildDoc(key=key, text=norm, sha256=text_sha256(norm), word_count=count_words(norm),
                    language=language, date=date)
