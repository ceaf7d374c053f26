"""Takedowns: withdraw a document or a whole source from every future release — and its text.

A withdrawal follows the text, not just one identifier: unless ``only_this``, it also covers every
registered document with the same sha256 (any source, any version) and every document a recorded
build clustered with it as a duplicate or near-duplicate, and so on until nothing new is found.
Each covered document gets ``status = "withdrawn"`` (all its versions), a :class:`Withdrawal` row
saying why it follows (``origin``) and a ``withdraw`` decision in the history; each covered text
gets a text row (``sha256``), so a copy registered later under another identifier is left out of
builds and flagged by audits too. The result lists every built or pushed release that contains
one of the texts, so the takedown can be carried to them. Withdrawing the same thing again
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from corpus_registry.errors import DecisionError
from corpus_registry.registry import decisions
from corpus_registry.registry.db.models import Document, Release, ReleaseDocument, Source, Withdrawal
from corpus_registry.registry.lookup import find_document
from corpus_registry.registry.registry import Registry

_CHUNK = 5000  # values per IN (...) list

Subject = tuple[int, str]  # source id, identifier


@dataclass(frozen=True, slots=True)
class Covered:
    """A document the withdrawal covers, and why (``named``, or how it follows the named one)."""

    source: str
    identifier: str
    why: str

    @property
    def key(self) -> str:
        return f"{self.source}/{self.identifier}"


@dataclass(frozen=True, slots=True)
class ReleaseHit:
    """A built release holding a withdrawn text: where it is, and which documents it kept."""

    name: str
    version: str
    out_dir: str | None
    hub_repo: str | None
    hub_tag: str | None
    hub_commit: str | None
    documents: list[str]

    @property
    def pushed(self) -> bool:
        return self.hub_commit is not None


@dataclass(slots=True)
class WithdrawResult:
    """What a withdrawal covers: documents, texts, and the releases that already contain them."""

    target: str
    reason: str
    documents: list[Covered] = field(default_factory=list)
    texts: int = 0
    releases: list[ReleaseHit] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many documents (identifiers) the withdrawal covers."""
        return len(self.documents)

    def as_dict(self) -> dict[str, Any]:
        return {"withdrawn": self.target, "reason": self.reason, "documents": self.count, "texts": self.texts,
                "covered": [{"document": c.key, "why": c.why} for c in self.documents],
                "releases": [{"name": r.name, "version": r.version, "out_dir": r.out_dir, "hub_repo": r.hub_repo,
                              "hub_tag": r.hub_tag, "pushed": r.pushed, "documents": r.documents}
                             for r in self.releases]}


def withdraw(registry: Registry, *, ref: str | None = None, source: str | None = None, reason: str,
             only_this: bool = False, by: str | None = None, evidence: str | None = None) -> WithdrawResult:
    """Withdraw the document ``ref`` (identifier, SOURCE/IDENTIFIER or sha256 prefix) or every
    document of the source ``source``, with the same texts and their recorded near-duplicates
    unless ``only_this``; what it covers and which releases hold those texts."""
    if (ref is None) == (source is None):
        raise ValueError("withdraw one document (ref=...) or one source (source=...), not both or neither")
    reason = (reason or "").strip()
    if not reason:
        raise DecisionError("a withdrawal needs a reason (it is recorded and shown by audits)")
    who = decisions.reviewer(by)
    with registry.session() as s:
        slugs = dict(s.execute(select(Source.id, Source.slug)).all())
        if ref is not None:
            doc = find_document(registry, ref)
            seed_source, seed_ident = doc.source_id, doc.identifier
            seeds: set[Subject] = {(seed_source, seed_ident)}
            target = f"{slugs[seed_source]}/{seed_ident}"
        else:
            seed_source = decisions.source_id(s, source or "")
            seed_ident = None
            seeds = {(sid, ident) for sid, ident in s.execute(
                select(Document.source_id, Document.identifier).where(Document.source_id == seed_source).distinct())}
            target = f"source {source}"
        why = {subject: "named" for subject in seeds}
        texts = _texts(s, seeds)
        if not only_this:
            _follow(s, why, texts, slugs)
        result = WithdrawResult(target=target, reason=reason, texts=0 if only_this else len(texts))
        result.documents = sorted((Covered(slugs[sid], ident, w) for (sid, ident), w in why.items()),
                                  key=lambda c: (c.why != "named", c.source, c.identifier))
        _mark(s, why, seed_source=seed_source if seed_ident is None else None, reason=reason,
              seed=(seed_source, seed_ident), texts=set() if only_this else texts, by=who, evidence=evidence)
        result.releases = _releases(s, why, slugs)
    return result


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _subject_filter(subjects: set[Subject]) -> list[Any]:
    """WHERE clauses selecting the rows of ``subjects``, a chunk of identifiers per source each."""
    by_source: dict[int, list[str]] = {}
    for sid, ident in subjects:
        by_source.setdefault(sid, []).append(ident)
    return [and_(Document.source_id == sid, Document.identifier.in_(chunk))
            for sid, idents in sorted(by_source.items()) for chunk in _chunks(sorted(idents))]


def _rows(session: Session, subjects: set[Subject]) -> dict[int, Subject]:
    """Row id → subject, for every version of ``subjects``."""
    out: dict[int, Subject] = {}
    for where in _subject_filter(subjects):
        out.update((i, (sid, ident)) for i, sid, ident in session.execute(
            select(Document.id, Document.source_id, Document.identifier).where(where)))
    return out


def _texts(session: Session, subjects: set[Subject]) -> set[str]:
    found: set[str] = set()
    for where in _subject_filter(subjects):
        found.update(session.scalars(select(Document.sha256).where(where).distinct()))
    return found


def _follow(session: Session, why: dict[Subject, str], texts: set[str], slugs: dict[int, str]) -> None:
    """Add to ``why`` every document sharing a text with a covered one, or clustered with one by a
    recorded build, until nothing new is found (``texts`` grows with what they cover)."""
    frontier = set(why)
    seen_texts: set[str] = set()
    while frontier:
        rows = _rows(session, frontier)
        new: dict[Subject, str] = {}
        fresh_texts = sorted(texts - seen_texts)
        seen_texts |= set(fresh_texts)
        for chunk in _chunks(fresh_texts):
            for sid, ident, sha in session.execute(select(Document.source_id, Document.identifier, Document.sha256)
                                                   .where(Document.sha256.in_(chunk))):
                if (sid, ident) not in why and (sid, ident) not in new:
                    new[(sid, ident)] = f"same text ({sha[:12]}…) as a withdrawn document"
        ids = sorted(rows)
        for chunk in _chunks(ids):
            pairs = session.execute(
                select(ReleaseDocument.document_id, ReleaseDocument.duplicate_of, ReleaseDocument.similarity,
                       ReleaseDocument.stage, Release.name, Release.version)
                .join(Release, Release.id == ReleaseDocument.release_id)
                .where(ReleaseDocument.duplicate_of.is_not(None),
                       or_(ReleaseDocument.document_id.in_(chunk), ReleaseDocument.duplicate_of.in_(chunk)))).all()
            partners: dict[int, tuple[int, float | None, str | None, str, str]] = {}
            for a, b, sim, stage, name, version in pairs:
                if b is not None:
                    partners[b if a in rows else a] = (a if a in rows else b, sim, stage, name, version)
            for part in _chunks(sorted(partners)):
                for pid, sid, ident in session.execute(select(Document.id, Document.source_id, Document.identifier)
                                                       .where(Document.id.in_(part))):
                    if (sid, ident) in why or (sid, ident) in new:
                        continue
                    origin, sim, stage, name, version = partners[pid]
                    osid, oident = rows[origin]
                    kind = "exact duplicate" if stage == "exact_dedup" else "near-duplicate"
                    new[(sid, ident)] = (f"{kind} of {slugs[osid]}/{oident} (similarity {sim or 0:.2f}) "
                                         f"in release {name} {version}")
        why.update(new)
        texts |= _texts(session, set(new))
        frontier = set(new)


def _mark(session: Session, why: dict[Subject, str], *, seed_source: int | None, reason: str,
          seed: tuple[int, str | None], texts: set[str], by: str, evidence: str | None) -> None:
    """Set every covered document's status, and record the withdrawal rows and decisions (each once)."""
    for where in _subject_filter(set(why)):
        session.execute(update(Document).where(where).values(status="withdrawn")
                        .execution_options(synchronize_session=False))
    existing = {(sid, ident, sha, r) for sid, ident, sha, r in session.execute(
        select(Withdrawal.source_id, Withdrawal.document_identifier, Withdrawal.sha256, Withdrawal.reason))}
    known_texts = {sha for _, _, sha, _ in existing if sha}
    rows: list[Withdrawal] = []
    seed_sid, seed_ident = seed
    if seed_source is not None:
        source_was = session.scalar(select(Source.status).where(Source.id == seed_source))
        session.execute(update(Source).where(Source.id == seed_source).values(status="withdrawn"))
        if (seed_source, None, None, reason) not in existing:
            rows.append(Withdrawal(source_id=seed_source, document_identifier=None, reason=reason))
        if source_was != "withdrawn":
            decisions.record(session, source_id=seed_source, identifier=None, action="withdraw", via="withdraw",
                             by=by, reason=reason, evidence=evidence)
    for (sid, ident), w in sorted(why.items()):
        named = w == "named"
        if (named and seed_source is not None) or (sid, ident, None, reason) in existing:
            continue  # covered by the source's own row, or withdrawn for this reason already
        rows.append(Withdrawal(source_id=sid, document_identifier=ident, reason=reason, origin=None if named else w))
        decisions.record(session, source_id=sid, identifier=ident, action="withdraw", via="withdraw", by=by,
                         reason=reason if named else f"{reason} (follows the withdrawal: {w})", evidence=evidence)
    rows += [Withdrawal(source_id=seed_sid, document_identifier=seed_ident, sha256=sha, reason=reason,
                        origin="the text of a withdrawn document") for sha in sorted(texts - known_texts)]
    session.add_all(rows)


def _releases(session: Session, why: dict[Subject, str], slugs: dict[int, str]) -> list[ReleaseHit]:
    """Every recorded release that kept one of the covered documents (any version)."""
    rows = _rows(session, set(why))
    kept: dict[int, set[str]] = {}
    for chunk in _chunks(sorted(rows)):
        for rid, did in session.execute(select(ReleaseDocument.release_id, ReleaseDocument.document_id)
                                        .where(ReleaseDocument.status == "kept", ReleaseDocument.document_id.in_(chunk))):
            sid, ident = rows[did]
            kept.setdefault(rid, set()).add(f"{slugs[sid]}/{ident}")
    if not kept:
        return []
    return [ReleaseHit(r.name, r.version, r.out_dir, r.hub_repo, r.hub_tag, r.hub_commit, sorted(kept[r.id]))
            for r in session.scalars(select(Release).where(Release.id.in_(sorted(kept)))
                                     .order_by(Release.name, Release.version))]

