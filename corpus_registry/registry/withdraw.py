"""Takedowns: withdraw a document or a whole source from every future release.

A withdrawal sets ``status = "withdrawn"`` on every version of the document (or of every document
of the source, and on the source itself) and records a :class:`Withdrawal` row with the reason.
Builds drop non-active documents at their ``withdrawn`` stage; audits of releases built earlier
flag the rows as withdrawn. Withdrawing the same thing again changes nothing.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select, update

from corpus_registry.errors import NotFoundError
from corpus_registry.registry.db.models import Document, Source, Withdrawal
from corpus_registry.registry.lookup import find_document
from corpus_registry.registry.registry import Registry


def withdraw(registry: Registry, *, ref: str | None = None, source: str | None = None, reason: str) -> int:
    """Withdraw the document ``ref`` (identifier, SOURCE/IDENTIFIER or sha256 prefix) or every
    document of the source ``source``; return how many documents the withdrawal covers."""
    if (ref is None) == (source is None):
        raise ValueError("withdraw one document (ref=...) or one source (source=...), not both or neither")
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a withdrawal needs a reason (it is recorded and shown by audits)")
    if ref is not None:
        doc = find_document(registry, ref)
        source_id, identifier = doc.source_id, doc.identifier
    else:
        source_id, identifier = _source_id(registry, source or ""), None
    with registry.session() as s:
        covered = Document.source_id == source_id
        if identifier is not None:
            covered = and_(covered, Document.identifier == identifier)
        s.execute(update(Document).where(covered).values(status="withdrawn")
                  .execution_options(synchronize_session=False))
        if identifier is None:
            s.execute(update(Source).where(Source.id == source_id).values(status="withdrawn"))
        same = select(Withdrawal.id).where(
            Withdrawal.source_id == source_id, Withdrawal.reason == reason,
            Withdrawal.document_identifier.is_(None) if identifier is None
            else Withdrawal.document_identifier == identifier)
        if s.scalar(same.limit(1)) is None:
            s.add(Withdrawal(source_id=source_id, document_identifier=identifier, reason=reason))
        count = s.scalar(select(func.count(func.distinct(Document.identifier))).where(covered))
    return int(count or 0)


def _source_id(registry: Registry, slug: str) -> int:
    with registry.session() as s:
        source_id = s.scalar(select(Source.id).where(Source.slug == slug))
    if source_id is None:
        raise NotFoundError(f"no source {slug!r} in the registry",
                            hint="run `corpus-registry sources list` to see registered sources")
    return source_id
