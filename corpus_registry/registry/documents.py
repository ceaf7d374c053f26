"""The document as it flows through the pipeline, and the text normalisation every stage shares.

Readers yield :class:`RawDocument`; ingest turns it into registry rows. Normalisation is
defined once here so that the sha256 computed at ingest, at build and at audit always agree.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

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
    Each rewrite runs only when a substring search finds something to rewrite: most texts need
    none, and a search costs a fraction of a regular expression's scan.
    """
    if "\ufeff" in text:  # before NFC: a BOM between a letter and its accent would block composition
        text = text.replace("\ufeff", "")
    text = unicodedata.normalize("NFC", text)
    if "\r" in text or "\u2028" in text or "\u2029" in text or "\x85" in text:
        text = _NEWLINES.sub("\n", text)
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_WS.sub("\n", text)
    if "\n\n\n" in text:
        text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip()


#: long texts are encoded, hashed and counted this many characters at a time (no whole-text copies)
CHUNK_CHARS = 1 << 20


def text_sha256(normalized: str) -> str:
    """sha256 hex digest of already normalised text (UTF-8)."""
    return text_digest(normalized)[0]


def text_digest(normalized: str) -> tuple[str, int]:
    """``(sha256 hex digest, UTF-8 size in bytes)`` of a text, encoded a chunk at a time: a 100 MB
    text costs 1 MB of bytes, not a 100 MB copy (the digest is the digest of the whole encoding)."""
    digest = hashlib.sha256()
    size = 0
    for start in range(0, len(normalized), CHUNK_CHARS):
        data = normalized[start : start + CHUNK_CHARS].encode("utf-8")
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size


def count_words(text: str) -> int:
    """Unicode word count: runs of word characters (``\\w+``: alphanumerics and ``_``), language-neutral.

    Counted on the code points with a table of the Basic Multilingual Plane (8x faster than the
    regular expression, which stays for text beyond it), a chunk at a time (a word cut by a chunk
    boundary is counted once)."""
    total = 0
    word_before = False
    for start in range(0, len(text), CHUNK_CHARS):
        chunk = text[start : start + CHUNK_CHARS]
        count, first_is_word, last_is_word = _chunk_words(chunk)
        total += count - (1 if word_before and first_is_word else 0)
        word_before = last_is_word
    return total


def _chunk_words(chunk: str) -> tuple[int, bool, bool]:
    """Words in ``chunk``, and whether its first and last characters are word characters.

    Text within Latin-1 (most European text) is mapped byte for byte to ``a`` (word) or space and
    the word starts counted by ``bytes.count``, a third of the cost of the code-point table."""
    try:
        marks = chunk.encode("latin-1").translate(_latin1_marks())
    except UnicodeEncodeError:
        pass
    else:
        if not marks:
            return 0, False, False
        first, last = marks[0] == 97, marks[-1] == 97  # b"a"
        return marks.count(b" a") + first, first, last
    codes = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if not codes.size:
        return 0, False, False
    if int(codes.max()) > 0xFFFF:
        return (len(_WORD.findall(chunk)), _WORD.match(chunk[0]) is not None,
                _WORD.match(chunk[-1]) is not None)
    word = _word_table()[codes]
    return int(word[0]) + int(np.count_nonzero(word[1:] > word[:-1])), bool(word[0]), bool(word[-1])


@functools.cache
def _word_table() -> np.ndarray:
    """Per BMP code point, 1 where ``\\w`` matches it."""
    return np.fromiter((_WORD.match(chr(cp)) is not None for cp in range(0x10000)), dtype=np.int8, count=0x10000)


@functools.cache
def _latin1_marks() -> bytes:
    """``bytes.translate`` table: ``a`` for the Latin-1 code points ``\\w`` matches, space for the others."""
    return bytes(97 if _WORD.match(chr(cp)) else 32 for cp in range(256))
