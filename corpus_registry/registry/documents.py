"""The document as it flows through the pipeline, and the text normalisation every stage shares.

Readers yield :class:`RawDocument`; ingest turns it into registry rows. Normalisation is
defined once here so that the sha256 computed at ingest, at build and at audit always agree.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_TRAILING_WS = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class RawDocument:
    """One document as a reader yields it: text plus whatever provenance the reader knows.

    ``license`` is None when the document carries the source's licence; ``extra`` keeps reader
    specific metadata (for instance the Gutenberg etext number or the detected encoding).
    """

    identifier: str
    text: str
    title: str | None = None
    creator: str | None = None
    date: str | None = None
    url: str | None = None
    path: str | None = None
    license: str | None = None
    language: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def normalize_text(text: str) -> str:
    """NFC, ``\\n`` newlines, no BOMs, no trailing blanks on lines, at most one empty line in a row.

    Idempotent: normalising normalised text changes nothing (so hashes agree at every stage).
    """
    if "\ufeff" in text:  # before NFC: a BOM between a letter and its accent would block composition
        text = text.replace("\ufeff", "")
    text = unicodedata.normalize("NFC", text)
    text = _NEWLINES.sub("\n", text)
    text = _TRAILING_WS.sub("\n", text)
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip()


def text_sha256(normalized: str) -> str:
    """sha256 hex digest of already normalised text (UTF-8)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def count_words(text: str) -> int:
    """Unicode word count (runs of word characters); cheap and language-neutral."""
    return len(_WORD.findall(text))
