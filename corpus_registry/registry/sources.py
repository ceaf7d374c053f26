"""Register sources: upsert the validated catalogue into the registry, list what is registered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus_registry.errors import ConfigError, CorpusRegistryError
from corpus_registry.registry import decisions, licences
from corpus_registry.registry.catalogue import Catalogue, SourceSpec, load_catalogue
from corpus_registry.registry.db.models import Document, Source
from corpus_registry.registry.readers import READERS, get_reader
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.standing import OPEN, REVIEW, load_standings, source_verdict


@dataclass(frozen=True, slots=True)
class SyncResult:
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    decisions: list[decisions.DecisionRecord] = field(default_factory=list)  # the licence decisions it made


def _fields(spec: SourceSpec, base_dir: Path) -> dict[str, Any]:
    info = licences.parse(spec.license)
    tier = licences.Tier.REVIEW if spec.review and info.tier.open else info.tier
    return {
        "name": spec.name,
        "collection": spec.collection.value,
        "origin_url": spec.origin_url,
        "license": info.expression,
        "license_tier": tier.value,
        "review": spec.review,
        "attribution": spec.attribution,
        "rights_holder": spec.rights_holder,
        "retrieved": spec.retrieved.isoformat() if spec.retrieved else None,
        "reader_kind": spec.reader.kind,
        "reader_options": spec.reader_options(),
        "overrides": {k: v.model_dump(exclude_none=True) for k, v in spec.documents.items()},
        "base_dir": str(base_dir.resolve()),
    }


def _licence_of(override: dict[str, Any]) -> tuple[str | None, str | None]:
    return override.get("license"), override.get("review")


@dataclass(frozen=True, slots=True)
class _Said:
    """What the catalogue said about a source's licence at the previous sync."""

    license: str
    review: str | None
    overrides: dict[str, Any]


def _catalogue_decisions(session: Session, *, src: Source, old: _Said | None, values: dict[str, Any],
                         where: str, by: str) -> list[int]:
    """Record what changed in the catalogue's licence lines as decisions: the source's licence or
    ``review:`` line, and each document override's ``license`` / ``review``. Lines that did not
    change since the last sync record nothing, so they never undo a reviewer's later decision."""
    made: list[int] = []

    def decide(identifier: str | None, action: str, sets: str | None, review: str | None, why: str) -> None:
        row = decisions.record(session, source_id=src.id, identifier=identifier, action=action, via="catalogue",
                               by=by, reason=review or why, sets_license=sets,
                               to_status=REVIEW if review else OPEN)
        made.append(row.id)

    old_pair = (old.license, old.review) if old is not None else (None, None)
    new_pair = (values["license"], values["review"])
    if old is None:
        decide(None, "register", values["license"], values["review"], f"registered from {where}")
    elif new_pair != old_pair:
        action = ("relabel" if old_pair[0] != new_pair[0] else "review" if new_pair[1] else "clear")
        decide(None, action, values["license"], values["review"],
               f"{where}: licence {old_pair[0]} → {new_pair[0]}" if action == "relabel"
               else f"{where}: review line removed")
    before = {} if old is None else (old.overrides or {})
    after = values["overrides"]
    for ident in sorted(set(before) | set(after)):
        was, now = _licence_of(before.get(ident, {})), _licence_of(after.get(ident, {}))
        if was == now:
            continue
        action = "relabel" if was[0] != now[0] else "review" if now[1] else "clear"
        why = (f"{where}: licence override {was[0] or 'none'} → {now[0] or 'none'}" if action == "relabel"
               else f"{where}: review line removed")
        decide(ident, action, now[0], now[1], why)
    return made


def sync_sources(registry: Registry, *, catalogue_path: Path, by: str | None = None) -> SyncResult:
    """Validate ``sources.yaml`` completely, then upsert every source in one transaction.

    A changed licence or ``review:`` line (of a source or of a document override) is a decision,
    recorded as made by ``by`` (default: ``$CORPUS_REGISTRY_REVIEWER`` or the login name)."""
    catalogue: Catalogue = load_catalogue(catalogue_path)
    base_dir = catalogue_path.parent
    for spec in catalogue.sources:  # reader options are checked before anything is written
        cls = READERS.get(spec.reader.kind)
        if spec.markup is not None and cls is not None and "markup" not in cls.Options.model_fields:
            carry = ", ".join(sorted(k for k, r in READERS.items() if "markup" in r.Options.model_fields))
            raise ConfigError(
                f"{catalogue_path}: sources[{spec.slug}].markup: a {spec.reader.kind} reader carries no markup",
                hint=f"remove 'markup'; readers that can carry markup: {carry}", file=str(catalogue_path),
                field=f"sources[{spec.slug}].markup")
        try:
            get_reader(spec.reader.kind, base_dir=base_dir, options=spec.reader_options()).check_inside()
        except CorpusRegistryError as e:
            raise ConfigError(
                f"{catalogue_path}: sources[{spec.slug}].reader: {e}", file=str(catalogue_path),
                field=f"sources[{spec.slug}].reader", hint=e.hint,
            ) from e
    who = decisions.reviewer(by)
    where = catalogue_path.name
    added, updated, unchanged = [], [], []
    made: list[int] = []
    with registry.session() as s:
        existing = {src.slug: src for src in s.scalars(select(Source))}
        for spec in catalogue.sources:
            values = _fields(spec, base_dir)
            src = existing.get(spec.slug)
            if src is None:
                src = Source(slug=spec.slug, **values)
                s.add(src)
                s.flush()
                made += _catalogue_decisions(s, src=src, old=None, values=values, where=where, by=who)
                added.append(spec.slug)
            elif any(getattr(src, k) != v for k, v in values.items()):
                old = _Said(src.license, src.review, dict(src.overrides or {}))
                for k, v in values.items():
                    setattr(src, k, v)
                s.flush()
                made += _catalogue_decisions(s, src=src, old=old, values=values, where=where, by=who)
                updated.append(spec.slug)
            else:
                unchanged.append(spec.slug)
    return SyncResult(added=added, updated=updated, unchanged=unchanged,
                      decisions=decisions.decisions_by_id(registry, made))


@dataclass(frozen=True, slots=True)
class SourceRow:
    slug: str
    name: str
    collection: str
    license: str
    license_tier: str
    review: str | None
    reader_kind: str
    documents: int


def list_sources(registry: Registry) -> list[SourceRow]:
    """Registered sources with the licence, tier and review their current decisions give them."""
    with registry.session() as s:
        counts = dict(
            s.execute(
                select(Document.source_id, func.count())
                .where(Document.is_current.is_(True))
                .group_by(Document.source_id)
            ).all()
        )
        standings = load_standings(s.connection())
        rows = []
        for src in s.scalars(select(Source).order_by(Source.slug)):
            verdict = source_verdict(standings.sources[src.id])
            rows.append(SourceRow(
                slug=src.slug, name=src.name, collection=src.collection, license=verdict.license,
                license_tier=verdict.tier.value, review=verdict.review, reader_kind=src.reader_kind,
                documents=counts.get(src.id, 0)))
        return rows

