"""Full-text search on a document's identifier, title and creator.

SQLite answers from an FTS5 index (``documents_fts``, kept in step with ``documents`` by triggers);
PostgreSQL from a GIN index on the same words (``documents.search_words``, a generated column). Both index the words of
``identifier title creator`` split on anything that is not a letter or a digit, case-insensitively
(accents count). The user's text never reaches SQL or the full-text query syntax as such: it is cut
into words, each word becomes a quoted prefix term, and all must match. Results come in document
order (keyset-paginated like every list).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import and_, bindparam, column, literal_column, select, table, text

from corpus_registry.registry.browse import ROW_COLUMNS, DocumentRow, Page, row_of
from corpus_registry.registry.db.models import Document, Source
from corpus_registry.registry.registry import Registry

MAX_TERMS = 8
_FTS = table("documents_fts", column("rowid"))
_WORD_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Mn", "Mc"}

#: The PostgreSQL expression the GIN index is built on; queries must repeat it exactly.
#: PostgreSQL keeps each document's words in a generated column (``documents.search_words``, GIN-indexed;
#: see the web's migration): identifier, title and creator with ASCII punctuation made spaces, so that its
#: parser sees words, not paths, hosts or e-mail addresses.
PG_WORDS_COLUMN = "search_words"
def words(text: str) -> list[str]:
    """``text`` (NFC) cut into runs of letters, decimal digits and combining marks, lower-cased: what
    both indexes call a word (other numbers such as ``¼`` or ``²``, punctuation and symbols separate)."""
    out, word = [], []
    for ch in unicodedata.normalize("NFC", text or ""):
        if unicodedata.category(ch) in _WORD_CATEGORIES:
            word.append(ch)
        elif word:
            out.append("".join(word).lower())
            word = []
    if word:
        out.append("".join(word).lower())
    return out


def terms(query: str) -> list[str]:
    """The words of ``query`` that are searched for (at most :data:`MAX_TERMS`)."""
    return words(query[:2048])[:MAX_TERMS]


def search_documents(registry: Registry, *, query: str, after: int | None = None, limit: int = 50
                     ) -> Page[DocumentRow]:
    """Current documents whose identifier, title or creator contain every word of ``query`` (as a
    word prefix). An empty query (no letters or digits) matches nothing."""
    words = terms(query)
    if not words:
        return Page([], None)
    q: Any = select(Document.id, *ROW_COLUMNS).join(Source, Source.id == Document.source_id)
    if registry.dialect == "sqlite":
        match = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
        q = (q.join(_FTS, _FTS.c.rowid == Document.id)
             .where(literal_column("documents_fts").op("MATCH")(bindparam("match", match))))
        order: Any = _FTS.c.rowid
    else:
        tsquery = " & ".join(w + ":*" for w in words)
        q = q.where(text(f"documents.{PG_WORDS_COLUMN} @@ to_tsquery('simple'::regconfig, :tsq)")
                    .bindparams(tsq=tsquery))
        order = Document.id if _common(registry, tsquery) else Document.id + 0
    q = q.where(and_(Document.is_current.is_(True)))
    if after is not None:
        q = q.where(Document.id > after)
    with registry.session() as s:
        rows = s.execute(q.order_by(order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([row_of(r[1:]) for r in rows], str(rows[-1][0]) if more else None)


def _common(registry: Registry, tsquery: str) -> bool:
    """Whether PostgreSQL should walk the documents in key order testing each (the query matches so
    many that a page is found soon) rather than read every match from the index and sort them (a
    rare word). Walking costs about ``50 × documents / matches`` rows, reading ``matches``: they
    cross near ``sqrt(50 × documents)``. The match count is the planner's estimate from the column's
    statistics; ``id + 0`` in the query is what keeps the planner itself from walking."""
    with registry.engine.connect() as conn:
        plan: Any = conn.execute(text(f"EXPLAIN (FORMAT JSON) SELECT id FROM documents WHERE {PG_WORDS_COLUMN} @@ "
                                 "to_tsquery('simple'::regconfig, :tsq)"), {"tsq": tsquery}).scalar()
        documents = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'documents'::regclass")).scalar()
    matches = float(plan[0]["Plan"]["Plan Rows"])
    return matches * matches > 50 * max(float(documents or 0), 1.0)
