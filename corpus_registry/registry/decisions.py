"""The licence-decision history: who decided what about a source or a document, when, from what
to what, why and on what evidence.

Every decision is one row of an append-only table (the database refuses to change or delete one),
written by :func:`record` and nothing else: ``sources sync`` when the catalogue changes a licence
or a ``review:`` line, a reviewer clearing or rejecting (:func:`clear`, :func:`reject`), a
withdrawal. The latest licence decision about a subject is its standing; builds and audits
evaluate documents from the standings (:mod:`corpus_registry.registry.standing`), so a decision
takes effect at the next build.

The public functions take keyword arguments only and name a subject by source slug and, for a
document, its identifier (``identifier=None``: the source itself)::

    history(registry, source="nltk-genesis", identifier="finnish")
    review_queue(registry)
    clear(registry, source="nltk-genesis", identifier="finnish", reason="…", evidence="https://…", by="ana")
    reject(registry, source="nltk-genesis", identifier="lolcat", reason="…", by="ana")
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import unicodedata
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from corpus_registry.errors import DecisionError, NotFoundError
from corpus_registry.registry import licences
from corpus_registry.registry.db.models import Decision, Document, Source, utcnow
from corpus_registry.registry.licences import Tier
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.standing import (
    CLEARED,
    LICENCE_ACTIONS,
    OPEN,
    REJECTED,
    REVIEW,
    Standing,
    Standings,
    evaluate,
    load_standings,
    source_verdict,
)

__all__ = [
    "ACTIONS",
    "ENV_REVIEWER",
    "DecisionRecord",
    "ReviewItem",
    "clear",
    "decisions_by_id",
    "describe",
    "history",
    "record",
    "reject",
    "review_queue",
    "reviewer",
    "source_id",
]

ENV_REVIEWER = "CORPUS_REGISTRY_REVIEWER"
#: What a decision does: the licence actions (they set a standing) and ``withdraw``.
ACTIONS = (*LICENCE_ACTIONS, "withdraw")
MAX_REASON = 4000
MAX_NAME = 256
MAX_URL = 2048
_CHUNK = 5000  # values per IN (...) list


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision, as the history shows it."""

    id: int
    at: dt.datetime
    by: str
    via: str  # catalogue | review | withdraw | migration …: how it was made
    source: str
    identifier: str | None  # None: the decision is about the source
    action: str  # register | relabel | review | clear | reject | withdraw
    from_license: str | None
    to_license: str | None
    from_tier: str | None
    to_tier: str | None
    from_status: str | None  # open | review | cleared | rejected (withdrawals: active → withdrawn)
    to_status: str | None
    reason: str
    evidence: str | None

    @property
    def subject(self) -> str:
        """``SOURCE/IDENTIFIER`` for a document, ``SOURCE`` for a source."""
        return self.source if self.identifier is None else f"{self.source}/{self.identifier}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat(timespec="seconds")
        return data

    def summary(self) -> str:
        """One line: when, who, what, from → to, why."""
        return describe(self.as_dict())


def describe(d: dict[str, Any]) -> str:
    """One line for a decision (as :meth:`DecisionRecord.as_dict` gives it): when, who, what,
    from → to, why, evidence."""
    subject = d["source"] if d["identifier"] is None else f"{d['source']}/{d['identifier']}"
    change = []
    for what, prefix in (("license", ""), ("status", ""), ("tier", "tier ")):
        before, after = d[f"from_{what}"], d[f"to_{what}"]
        if after and before != after:
            change.append(f"{prefix}{before or '—'} → {after}")
    evidence = f" [{d['evidence']}]" if d["evidence"] else ""
    return (f"{str(d['at'])[:16].replace('T', ' ')} {d['by']} ({d['via']}) {d['action']} {subject}: "
            f"{'; '.join(change) or 'no change'}: {d['reason']}{evidence}")


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A source or document held for a person's review, and why."""

    source: str
    identifier: str | None  # None: the source itself (``documents`` of it wait on it)
    license: str
    reason: str
    label: str | None = None  # the licence label as the record wrote it, when it could not be mapped
    since: dt.datetime | None = None
    documents: int = 1

    @property
    def id(self) -> str:
        """What ``corpus-registry review clear|reject`` takes: ``SOURCE/IDENTIFIER`` (or ``--source SOURCE``)."""
        return self.source if self.identifier is None else f"{self.source}/{self.identifier}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.id
        data["since"] = self.since.isoformat(timespec="seconds") if self.since else None
        return data


# -- inputs ----------------------------------------------------------------------------------------

def _clean(text: str | None, *, what: str, limit: int, multiline: bool = False) -> str:
    value = (text or "").strip()
    if not value:
        raise DecisionError(f"a decision needs a {what}", hint=f"give the {what}: it is recorded for good")
    if len(value) > limit:
        raise DecisionError(f"the {what} is {len(value)} characters long (at most {limit})")
    allowed = "\n\t" if multiline else ""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs") and c not in allowed), None)
    if bad is not None:
        raise DecisionError(f"the {what} holds the control character U+{ord(bad):04X}")
    return unicodedata.normalize("NFC", value)


def reviewer(by: str | None = None) -> str:
    """Who decides: ``by``, else ``$CORPUS_REGISTRY_REVIEWER``, else the login name (else the
    numeric user id, on a system that has no name for it)."""
    name = by if by is not None and by.strip() else os.environ.get(ENV_REVIEWER)
    if not name or not name.strip():
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown user"
    return _clean(name, what="reviewer name", limit=MAX_NAME)


def _evidence(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    value = url.strip()
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.netloc or len(value) > MAX_URL
            or any(c.isspace() or unicodedata.category(c) == "Cc" for c in value)):
        raise DecisionError(f"evidence {value[:100]!r} is not an http(s) URL of at most {MAX_URL} characters",
                            hint="link the page that shows the licence (e.g. https://…)")
    return value


# -- the one writer --------------------------------------------------------------------------------

def record(session: Session, *, source_id: int, identifier: str | None, action: str, via: str, by: str,
           reason: str, sets_license: str | None = None, to_status: str | None = None,
           evidence: str | None = None) -> Decision:
    """Append one decision about a source (``identifier=None``) or a document, and bring the
    documents it concerns up to date; every decision of the registry is written here.

    A licence action sets the subject's standing: ``sets_license`` (a source's licence; a
    document's override, None for none) and ``to_status`` (open, review, cleared, rejected).
    ``withdraw`` records a takedown (the withdrawal itself is :mod:`~corpus_registry.registry.withdraw`'s)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown decision action {action!r}")
    identifier = None if identifier is None else unicodedata.normalize("NFC", identifier)
    conn = session.connection()
    standings = load_standings(conn, source_ids=[source_id])
    if source_id not in standings.sources:
        raise NotFoundError(f"no source with id {source_id} in the registry")
    before = _verdict(session, standings, source_id, identifier)
    row = Decision(created_at=utcnow(), by=_clean(by, what="reviewer name", limit=MAX_NAME), via=via,
                   source_id=source_id, identifier=identifier, action=action,
                   reason=_clean(reason, what="reason", limit=MAX_REASON, multiline=True),
                   evidence=_evidence(evidence), from_license=before.license, from_tier=before.tier.value)
    if action == "withdraw":
        row.from_status, row.to_status = "active", "withdrawn"
    else:
        if to_status not in (OPEN, REVIEW, CLEARED, REJECTED):
            raise ValueError(f"a licence decision leaves its subject open, review, cleared or rejected, not {to_status!r}")
        if sets_license is not None:
            sets_license = licences.canonical(sets_license)
        elif identifier is None:
            raise ValueError("a decision about a source sets its licence")
        previous = (standings.sources[source_id] if identifier is None
                    else standings.documents.get((source_id, identifier)))
        row.from_status = previous.status if previous is not None else OPEN
        if action == "register" and identifier is None:  # a new source: nothing stood before
            row.from_license = row.from_tier = row.from_status = None
        row.sets_license, row.to_status = sets_license, to_status
        new = Standing(sets_license, to_status, row.reason)
        if identifier is None:
            standings.sources[source_id] = new
        else:
            standings.documents[(source_id, identifier)] = new
        after = _verdict(session, standings, source_id, identifier)
        row.to_license, row.to_tier = after.license, after.tier.value
    session.add(row)
    session.flush()
    if action != "withdraw":
        refresh(session, source_id=source_id, identifier=identifier)
    return row


def _verdict(session: Session, standings: Standings, source_id: int, identifier: str | None):  # type: ignore[no-untyped-def]
    """A subject's verdict now: the source's own, or the document's (as its current version declares)."""
    if identifier is None:
        return source_verdict(standings.sources[source_id])
    declared = session.scalar(select(Document.declared_license).where(
        Document.source_id == source_id, Document.identifier == identifier, Document.is_current.is_(True)))
    return evaluate(declared=declared, source=standings.sources[source_id],
                    document=standings.documents.get((source_id, identifier)))


def refresh(session: Session, *, source_id: int, identifier: str | None = None) -> int:
    """Re-evaluate the stored standing (licence, tier, review) of a source's documents, or of one
    document, from the current decisions; how many statements it ran.

    Documents are updated in groups (one statement per licence their records declare), then the
    documents with a decision of their own one by one, so a source of any size costs a few
    statements."""
    standings = load_standings(session.connection(), source_ids=[source_id])
    source = standings.sources[source_id]
    subject = Document.source_id == source_id
    statements = 0

    def apply(where: Any, declared: str | None, own: Standing | None) -> None:
        nonlocal statements
        v = evaluate(declared=declared, source=source, document=own)
        match = Document.declared_license.is_(None) if declared is None else Document.declared_license == declared
        session.execute(update(Document).where(where, match)
                        .values(license=v.license, license_tier=v.tier.value, review=v.review)
                        .execution_options(synchronize_session=False))
        statements += 1

    def declared_of(where: Any) -> list[str | None]:
        return list(session.scalars(select(Document.declared_license).where(where).distinct()))

    own = {ident: s for (sid, ident), s in standings.documents.items() if sid == source_id}
    if identifier is None:
        for declared in declared_of(subject):
            apply(subject, declared, None)
        targets = sorted(own)
    else:
        targets = [identifier]
    for ident in targets:
        where = subject & (Document.identifier == ident)
        for declared in declared_of(where):
            apply(where, declared, own.get(ident))
    return statements


# -- the API ---------------------------------------------------------------------------------------

def source_id(session: Session, slug: str) -> int:
    """The id of the source ``slug``; :class:`NotFoundError` with a hint when there is none."""
    sid = session.scalar(select(Source.id).where(Source.slug == slug))
    if sid is None:
        raise NotFoundError(f"no source {slug!r} in the registry",
                            hint="run `corpus-registry sources list` to see registered sources")
    return sid


def _records(session: Session, rows: list[Decision]) -> list[DecisionRecord]:
    slugs = dict(session.execute(select(Source.id, Source.slug)).all())
    return [DecisionRecord(
        id=r.id, at=r.created_at, by=r.by, via=r.via, source=slugs[r.source_id], identifier=r.identifier,
        action=r.action, from_license=r.from_license, to_license=r.to_license, from_tier=r.from_tier,
        to_tier=r.to_tier, from_status=r.from_status, to_status=r.to_status, reason=r.reason,
        evidence=r.evidence) for r in rows]


def history(registry: Registry, *, source: str, identifier: str | None = None) -> list[DecisionRecord]:
    """Decisions about a document and about its source (``identifier=None``: about the source
    and every one of its documents), oldest first."""
    with registry.session() as s:
        sid = source_id(s, source)
        query = select(Decision).where(Decision.source_id == sid)
        if identifier is not None:
            ident = unicodedata.normalize("NFC", identifier)
            query = query.where(or_(Decision.identifier.is_(None), Decision.identifier == ident))
        return _records(s, list(s.scalars(query.order_by(Decision.id))))


def decisions_by_id(registry: Registry, ids: list[int]) -> list[DecisionRecord]:
    """The decisions with these ids (a release's manifest lists those its documents rest on)."""
    if not ids:
        return []
    with registry.session() as s:
        rows: list[Decision] = []
        wanted = sorted(set(ids))
        for i in range(0, len(wanted), _CHUNK):
            rows += s.scalars(select(Decision).where(Decision.id.in_(wanted[i:i + _CHUNK])))
        return _records(s, sorted(rows, key=lambda r: r.id))


def review_queue(registry: Registry, *, limit: int | None = None) -> list[ReviewItem]:
    """Every source and current, active document held for review, sources first.

    A document that waits only on its source's review is counted in the source's item rather than
    listed on its own: clearing the source clears it."""
    items: list[ReviewItem] = []
    with registry.session() as s:
        conn = s.connection()
        standings = load_standings(conn)
        current = (Document.is_current.is_(True), Document.status == "active")
        groups = s.execute(select(Document.source_id, Document.declared_license, func.count())
                           .where(*current).group_by(Document.source_id, Document.declared_license)).all()
        waiting: dict[int, int] = {}
        queued_groups: list[tuple[int, str]] = []
        for sid, declared, n in groups:
            v = evaluate(declared=declared, source=standings.sources[sid])
            if v.tier is not Tier.REVIEW:
                continue
            if declared is None:
                waiting[sid] = waiting.get(sid, 0) + n
            else:
                queued_groups.append((sid, declared))
        docs: dict[tuple[int, str], ReviewItem] = {}
        for sid, declared in queued_groups:
            for ident, extra, created in s.execute(
                    select(Document.identifier, Document.extra, Document.created_at)
                    .where(*current, Document.source_id == sid, Document.declared_license == declared)):
                if (sid, ident) in standings.documents:
                    continue  # judged below, with its own decision
                v = evaluate(declared=declared, source=standings.sources[sid])
                docs[(sid, ident)] = ReviewItem(source=standings.slugs[sid], identifier=ident, license=v.license,
                                                reason=v.review or "", label=(extra or {}).get("license_raw"),
                                                since=created)
        decided: list[tuple[tuple[int, str], int | None]] = []
        for (sid, ident), declared, extra in _current_rows(s, list(standings.documents), current):
            own = standings.documents[(sid, ident)]
            v = evaluate(declared=declared, source=standings.sources[sid], document=own)
            if declared is None and sid in waiting and v.tier is not Tier.REVIEW:
                waiting[sid] -= 1  # held by its source, but decided on its own
            if v.tier is Tier.REVIEW:
                docs[(sid, ident)] = ReviewItem(source=standings.slugs[sid], identifier=ident, license=v.license,
                                                reason=v.review or "", label=(extra or {}).get("license_raw"))
                decided.append(((sid, ident), own.decision_id))
        held = [(sid, st) for sid, st in sorted(standings.sources.items(), key=lambda kv: standings.slugs[kv[0]])
                if source_verdict(st).tier is Tier.REVIEW]
        since = _created(s, [i for _, i in decided] + [st.decision_id for _, st in held])
        for key, decision_id in decided:
            docs[key] = replace(docs[key], since=since.get(decision_id or -1))
        for sid, st in held:
            v = source_verdict(st)
            items.append(ReviewItem(source=standings.slugs[sid], identifier=None, license=v.license,
                                    reason=v.review or "", since=since.get(st.decision_id or -1),
                                    documents=waiting.get(sid, 0)))
        items += [docs[k] for k in sorted(docs, key=lambda k: (standings.slugs[k[0]], k[1]))]
    return items if limit is None else items[:limit]


def _current_rows(session: Session, subjects: list[tuple[int, str]], current: tuple[Any, ...]
                  ) -> list[tuple[tuple[int, str], str | None, dict[str, Any] | None]]:
    """(subject, declared licence, extra) of the current, active version of each subject that has one."""
    by_source: dict[int, list[str]] = {}
    for sid, ident in subjects:
        by_source.setdefault(sid, []).append(ident)
    out = []
    for sid, idents in sorted(by_source.items()):
        for i in range(0, len(idents), _CHUNK):
            out += [((sid, ident), declared, extra) for ident, declared, extra in session.execute(
                select(Document.identifier, Document.declared_license, Document.extra)
                .where(*current, Document.source_id == sid, Document.identifier.in_(idents[i:i + _CHUNK])))]
    return out


def _created(session: Session, ids: list[int | None]) -> dict[int, dt.datetime]:
    wanted = sorted({i for i in ids if i is not None})
    out: dict[int, dt.datetime] = {}
    for i in range(0, len(wanted), _CHUNK):
        out.update((decision, created) for decision, created in session.execute(
            select(Decision.id, Decision.created_at).where(Decision.id.in_(wanted[i:i + _CHUNK]))))
    return out


def _decide(registry: Registry, *, source: str, identifier: str | None, action: str, to_status: str,
            license: str | None, reason: str, evidence: str | None, by: str) -> DecisionRecord:
    who = reviewer(by)
    with registry.session() as s:
        sid = source_id(s, source)
        ident = None if identifier is None else unicodedata.normalize("NFC", identifier)
        standings = load_standings(s.connection(), source_ids=[sid])
        if ident is not None:
            declared = s.execute(select(Document.declared_license).where(
                Document.source_id == sid, Document.identifier == ident, Document.is_current.is_(True))).first()
            if declared is None:
                raise NotFoundError(f"no document {source}/{ident} in the registry",
                                    hint="see `corpus-registry review list` for what waits on a decision")
            current = standings.documents.get((sid, ident))
            sets = license if license is not None else (current.license if current else None)
            if action == "clear":
                v = evaluate(declared=declared[0], source=standings.sources[sid],
                             document=Standing(licences.canonical(sets) if sets else None, CLEARED))
                _clearable(v.license, v.tier, f"{source}/{ident}")
        else:
            sets = license if license is not None else standings.sources[sid].license
            if action == "clear":
                v = source_verdict(Standing(licences.canonical(sets or ""), CLEARED))
                _clearable(v.license, v.tier, source)
        row = record(s, source_id=sid, identifier=ident, action=action, via="review", by=who, reason=reason,
                     sets_license=sets, to_status=to_status, evidence=evidence)
        return _records(s, [row])[0]


def _clearable(license_: str, tier: Tier, subject: str) -> None:
    if not tier.open:
        raise DecisionError(f"{subject}: its licence {license_} is {tier.value}, so clearing it would not let it "
                            "into a release", hint="pass --license SPDX with the licence the evidence shows")


def clear(registry: Registry, *, source: str, identifier: str | None = None, license: str | None = None,
          reason: str, evidence: str | None = None, by: str | None) -> DecisionRecord:
    """A person clears a source or document held for review, optionally under another licence
    (``license``, any spelling :func:`~corpus_registry.registry.licences.normalize` knows).
    ``by`` None: ``$CORPUS_REGISTRY_REVIEWER`` or the login name."""
    return _decide(registry, source=source, identifier=identifier, action="clear", to_status=CLEARED,
                   license=license, reason=reason, evidence=evidence, by=by or "")


def reject(registry: Registry, *, source: str, identifier: str | None = None, license: str | None = None,
           reason: str, evidence: str | None = None, by: str | None) -> DecisionRecord:
    """A person rejects a source or document: it never enters a release until a later decision."""
    return _decide(registry, source=source, identifier=identifier, action="reject", to_status=REJECTED,
                   license=license, reason=reason, evidence=evidence, by=by or "")
