"""A document's licence standing today, evaluated from the registry's current decisions.

The latest licence decision about a source, and the latest about a document if there is one, are
their *standings* (:class:`Standing`); a document's verdict (:class:`Verdict`: licence, tier and
why it is held back) follows from them and from the licence its own record declared:

- the licence is the document's own decision's (an override), else its record's, else its source's;
- a document a person rejected is rejected; one a person cleared has its licence's tier;
- one held for review is in review (unless its licence is worse than that);
- otherwise a rejected source rejects it; a record claiming a more permissive licence than its
  source's goes to review (licence laundering); a document carrying its source's licence
  follows the source's review;
- otherwise its licence's tier decides.

Builds, audits, ``show`` and the review queue all call :func:`evaluate` (or
:meth:`Standings.verdict`), so the same decisions give the same verdict everywhere, and a
decision takes effect at the next build without re-ingesting anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, or_, select

from corpus_registry.errors import LicenseError
from corpus_registry.registry import licences
from corpus_registry.registry.db.models import Decision, Source, Withdrawal
from corpus_registry.registry.licences import Tier

OPEN, REVIEW, CLEARED, REJECTED = "open", "review", "cleared", "rejected"
#: The standings a licence decision can leave a source or document in.
STATUSES = (OPEN, REVIEW, CLEARED, REJECTED)
#: Decision actions that change a licence standing (a withdrawal does not: it is its own axis).
LICENCE_ACTIONS = ("register", "relabel", "review", "clear", "reject")


@dataclass(frozen=True, slots=True)
class Standing:
    """Where the latest licence decision about a source or a document left it."""

    license: str | None  # the licence it sets (a document's None: its record's or its source's)
    status: str  # open | review | cleared | rejected
    reason: str = ""
    decision_id: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A document's licence today: the licence, its tier, and why it is held back (None: it is not)."""

    license: str
    tier: Tier
    review: str | None = None


def _tier(expression: str) -> Tier:
    try:
        return licences.parse(expression).tier
    except LicenseError:
        return Tier.REVIEW


def _laundering(declared: str, source_license: str) -> bool:
    try:
        return licences.more_permissive(declared, source_license)
    except LicenseError:
        return True


def source_verdict(source: Standing) -> Verdict:
    """The verdict on a source itself (what its documents without their own licence get)."""
    return evaluate(declared=None, source=source)


def evaluate(*, declared: str | None, source: Standing, document: Standing | None = None) -> Verdict:
    """The verdict on one document (see the module docstring for the rules, in order)."""
    assert source.license is not None, "a source standing always names a licence"
    if document is not None and document.license:
        license_, origin = document.license, "document"
    elif declared:
        license_, origin = declared, "record"
    else:
        license_, origin = source.license, "source"
    tier = _tier(license_)
    held = None if tier.open else f"licence {license_} is {tier.value}"
    status = document.status if document is not None else OPEN
    if status == REJECTED:
        return Verdict(license_, Tier.REJECTED, f"rejected: {document.reason}" if document else "rejected")
    if status == CLEARED:
        return Verdict(license_, tier, held)
    if status == REVIEW:
        assert document is not None
        return Verdict(license_, Tier.REVIEW if tier.open else tier, document.reason or "held for review")
    if source.status == REJECTED:
        return Verdict(license_, Tier.REJECTED, f"source rejected: {source.reason}")
    if origin == "record" and _laundering(license_, source.license):
        return Verdict(license_, Tier.REVIEW if tier.open else tier,
                       f"record claims {license_}, more permissive than the source's {source.license}")
    if origin == "source" and source.status == REVIEW:
        return Verdict(license_, Tier.REVIEW if tier.open else tier, source.reason or "source held for review")
    return Verdict(license_, tier, held)


@dataclass(slots=True)
class Standings:
    """Every current standing of a registry (or of some of its sources), read in one go."""

    sources: dict[int, Standing]
    documents: dict[tuple[int, str], Standing]
    slugs: dict[int, str] = field(default_factory=dict)
    source_status: dict[int, str] = field(default_factory=dict)  # active | withdrawn
    _cache: dict[tuple[int, str | None], Verdict] = field(default_factory=dict)

    def source(self, source_id: int) -> Standing:
        return self.sources[source_id]

    def verdict(self, source_id: int, identifier: str, declared: str | None) -> Verdict:
        """The verdict on one document; documents without their own decision share a cache."""
        own = self.documents.get((source_id, identifier))
        if own is not None:
            return evaluate(declared=declared, source=self.sources[source_id], document=own)
        key = (source_id, declared)
        verdict = self._cache.get(key)
        if verdict is None:
            verdict = self._cache[key] = evaluate(declared=declared, source=self.sources[source_id])
        return verdict

    def decision_ids(self, source_id: int, identifier: str) -> list[int]:
        """The decisions a document's verdict rests on: its source's, then its own."""
        ids = [self.sources[source_id].decision_id]
        own = self.documents.get((source_id, identifier))
        if own is not None:
            ids.append(own.decision_id)
        return [i for i in ids if i is not None]


def _standing(row: Decision) -> Standing:
    return Standing(license=row.sets_license, status=row.to_status or OPEN, reason=row.reason or "",
                    decision_id=row.id)


def latest_decisions(conn: Connection, *, source_ids: Iterable[int] | None = None,
                     identifiers: Iterable[str] | None = None) -> list[Decision]:
    """The latest licence decision of every subject (of ``source_ids``; of the sources and of only
    the documents ``identifiers`` when given), as detached rows."""
    latest = (select(func.max(Decision.id))
              .where(Decision.action.in_(LICENCE_ACTIONS))
              .group_by(Decision.source_id, Decision.identifier))
    if source_ids is not None:
        latest = latest.where(Decision.source_id.in_(list(source_ids)))
    if identifiers is not None:
        latest = latest.where(or_(Decision.identifier.is_(None), Decision.identifier.in_(sorted(set(identifiers)))))
    rows = conn.execute(select(Decision.__table__).where(Decision.id.in_(latest)).order_by(Decision.id))
    return [Decision(**row._mapping) for row in rows]


def load_standings(conn: Connection, *, source_ids: Iterable[int] | None = None,
                   identifiers: Iterable[str] | None = None) -> Standings:
    """The standings of every source (or of ``source_ids``) and of their documents that have one
    (or of those among ``identifiers``: an ingest batch needs its own documents' only).

    A source registered before decisions were recorded (none about it) stands as its catalogue
    entry says."""
    wanted = None if source_ids is None else list(source_ids)
    query = select(Source.id, Source.slug, Source.license, Source.review, Source.status)
    if wanted is not None:
        query = query.where(Source.id.in_(wanted))
    standings = Standings(sources={}, documents={})
    for sid, slug, license_, review, status in conn.execute(query):
        standings.sources[sid] = Standing(license_, REVIEW if review else OPEN, review or "")
        standings.slugs[sid] = slug
        standings.source_status[sid] = status
    for row in latest_decisions(conn, source_ids=wanted, identifiers=identifiers):
        if row.source_id not in standings.sources:
            continue
        if row.identifier is None:
            current = standings.sources[row.source_id]
            standings.sources[row.source_id] = Standing(row.sets_license or current.license,
                                                        row.to_status or OPEN, row.reason or "", row.id)
        else:
            standings.documents[(row.source_id, row.identifier)] = _standing(row)
    return standings


def withdrawn_texts(conn: Connection) -> dict[str, str]:
    """sha256 → reason, for every text withdrawn under any identifier (present or future)."""
    out: dict[str, str] = {}
    for sha, reason in conn.execute(select(Withdrawal.sha256, Withdrawal.reason)
                                    .where(Withdrawal.sha256.is_not(None)).order_by(Withdrawal.id)):
        if sha is not None:
            out.setdefault(sha, reason)
    return out
