"""What the registry accepts in a document's identifier and metadata: the same on every backend.

SQLite stores any string; PostgreSQL refuses NUL characters in text and values longer than their
column. Checking here, before a batch is written, gives one error naming the document on both
(rather than a row SQLite keeps and PostgreSQL rejects with a driver message naming nothing).

- identifier: NFC (ingest normalises it), not empty, at most 512 characters, no control
  characters (C0, C1, DEL), line or paragraph separators, or lone surrogates;
- title, creator, date, url, path, licence: no NUL and no lone surrogate (neither backend can
  store them), within their column's length; other control characters are kept and escaped
  wherever they are shown;
- the text itself lives in the Parquet store, not in a database row: it may hold NULs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache

from sqlalchemy import String

from corpus_registry.errors import ReaderError
from corpus_registry.registry.db.models import Document

IDENTIFIER_MAX = 512
_BAD_IDENTIFIER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_BAD_VALUE = re.compile("[\x00\ud800-\udfff]")
_HINT = "fix the record in the source (or the reader's options) and ingest again"


@cache
def _limits() -> dict[str, int]:
    """Each metadata column's length limit (String(n) columns; Text ones have none)."""
    return {c.name: c.type.length for c in Document.__table__.columns  # type: ignore[attr-defined]
            if isinstance(c.type, String) and c.type.length}


def shown(identifier: str, width: int = 80) -> str:
    """An identifier as an error quotes it: at most ``width`` characters."""
    return repr(identifier if len(identifier) <= width else identifier[:width] + "…")


def check_identifier(identifier: str, *, source: str, where: str = "record") -> str:
    """``identifier`` in NFC, or ReaderError naming the document and what is wrong with it."""
    ident = unicodedata.normalize("NFC", identifier)
    problem = None
    if not ident.strip():
        problem = "it is empty"
    elif len(ident) > IDENTIFIER_MAX:
        problem = f"it is {len(ident):,} characters long (at most {IDENTIFIER_MAX})"
    elif (bad := _BAD_IDENTIFIER.search(ident)) is not None:
        what = "lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "control character"
        problem = f"it holds the {what} U+{ord(bad.group()):04X}"
    if problem is not None:
        raise ReaderError(f"{source}: document {shown(ident)} ({where}): invalid identifier: {problem}",
                          hint=_HINT, source=source, identifier=ident)
    return ident


def check_metadata(identifier: str, meta: Mapping[str, object], *, source: str, where: str = "record") -> None:
    """ReaderError naming the document when a metadata value cannot be stored on every backend."""
    limits = _limits()
    for name, value in meta.items():
        if not isinstance(value, str):
            continue
        problem = None
        if (bad := _BAD_VALUE.search(value)) is not None:
            problem = "a NUL character" if bad.group() == "\x00" else f"the lone surrogate U+{ord(bad.group()):04X}"
            problem = f"holds {problem}"
        elif name in limits and len(value) > limits[name]:
            problem = f"is {len(value):,} characters long (at most {limits[name]})"
        if problem is not None:
            raise ReaderError(f"{source}: document {shown(identifier)} ({where}): its {name} {problem}",
                              hint=_HINT, source=source, identifier=identifier, field=name)
