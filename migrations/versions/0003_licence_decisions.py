"""licence decisions: an append-only decision history, the licence a record declared, withdrawals
that follow a text, identifiers in NFC

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Data, in the same transaction as the schema:
- identifiers become NFC (documents, withdrawals, the catalogue's per-document overrides); a
  document registered under both an NFC and an NFD spelling becomes one document whose versions
  are ordered by registration time (any withdrawn version withdraws all of it);
- ``documents.declared_license`` is set where a document's licence differs from its source's
  without a catalogue override (its record declared it);
- the history starts with what the registry already holds: one decision per source (its licence
  and review), per catalogue override of a licence or review, and per withdrawal, made by
  ``migration 0003``.
"""
from __future__ import annotations

import datetime as dt
import json
import unicodedata
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BY = "migration 0003"
_APPEND_ONLY = "decisions are append-only: record a new decision instead"


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch_op:
        batch_op.add_column(sa.Column("declared_license", sa.String(length=512), nullable=True))
    with op.batch_alter_table("withdrawals") as batch_op:
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.Text(), nullable=True))
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=256), nullable=False),
        sa.Column("via", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=512), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_license", sa.String(length=512), nullable=True),
        sa.Column("to_license", sa.String(length=512), nullable=True),
        sa.Column("sets_license", sa.String(length=512), nullable=True),
        sa.Column("from_tier", sa.String(length=32), nullable=True),
        sa.Column("to_tier", sa.String(length=32), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.String(length=2048), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decisions_subject", "decisions", ["source_id", "identifier", "id"])
    _append_only()
    conn = op.get_bind()
    _nfc_identifiers(conn)
    _declared_licences(conn)
    _first_decisions(conn)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decisions_append_only ON decisions")
        op.execute("DROP TRIGGER IF EXISTS decisions_no_truncate ON decisions")
        op.execute("DROP FUNCTION IF EXISTS decisions_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS decisions_no_update")
        op.execute("DROP TRIGGER IF EXISTS decisions_no_delete")
    op.drop_index("ix_decisions_subject", table_name="decisions")
    op.drop_table("decisions")
    with op.batch_alter_table("withdrawals") as batch_op:
        batch_op.drop_column("origin")
        batch_op.drop_column("sha256")
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_column("declared_license")


def _append_only() -> None:
    """The database itself refuses to change or delete a decision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$")
        op.execute("CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions "
                   "FOR EACH ROW EXECUTE FUNCTION decisions_append_only()")
        op.execute("CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions "
                   "FOR EACH STATEMENT EXECUTE FUNCTION decisions_append_only()")
    else:
        for event, name in (("UPDATE", "decisions_no_update"), ("DELETE", "decisions_no_delete")):
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON decisions "
                       f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _nfc_identifiers(conn: sa.Connection) -> None:
    docs = sa.table("documents", sa.column("id"), sa.column("source_id"), sa.column("identifier"),
                    sa.column("version"), sa.column("is_current"), sa.column("status"), sa.column("created_at"))
    rows = conn.execute(sa.select(docs.c.id, docs.c.source_id, docs.c.identifier)).all()
    stray = [(i, sid, ident) for i, sid, ident in rows if ident != _nfc(ident)]
    if stray:
        groups = {(sid, _nfc(ident)) for _, sid, ident in stray}
        for sid, target in sorted(groups):
            members = conn.execute(
                sa.select(docs.c.id, docs.c.identifier, docs.c.status, docs.c.created_at)
                .where(docs.c.source_id == sid)
                .order_by(docs.c.created_at, docs.c.id)).all()
            members = [m for m in members if _nfc(m.identifier) == target]
            withdrawn = any(m.status == "withdrawn" for m in members)
            for m in members:  # out of the way of the unique (source, identifier, version) first
                conn.execute(sa.update(docs).where(docs.c.id == m.id).values(identifier=target, version=-m.id))
            for number, m in enumerate(members, start=1):
                conn.execute(sa.update(docs).where(docs.c.id == m.id).values(
                    version=number, is_current=number == len(members),
                    status="withdrawn" if withdrawn else m.status))
    withdrawals = sa.table("withdrawals", sa.column("id"), sa.column("document_identifier"))
    for wid, ident in conn.execute(sa.select(withdrawals.c.id, withdrawals.c.document_identifier)
                                   .where(withdrawals.c.document_identifier.is_not(None))).all():
        if ident != _nfc(ident):
            conn.execute(sa.update(withdrawals).where(withdrawals.c.id == wid).values(document_identifier=_nfc(ident)))
    sources = sa.table("sources", sa.column("id"), sa.column("overrides", sa.JSON))
    for sid, overrides in conn.execute(sa.select(sources.c.id, sources.c.overrides)).all():
        if overrides and any(k != _nfc(k) for k in overrides):
            fixed: dict[str, Any] = {}
            for key, value in overrides.items():
                fixed.setdefault(_nfc(key), {}).update(value or {})
            conn.execute(sa.update(sources).where(sources.c.id == sid).values(overrides=fixed))


def _declared_licences(conn: sa.Connection) -> None:
    """A document whose licence differs from its source's, with no catalogue override saying so,
    had it from its own record."""
    sources = conn.execute(sa.text("SELECT id, license, overrides FROM sources")).all()
    docs = sa.table("documents", sa.column("source_id"), sa.column("identifier"), sa.column("license"),
                    sa.column("declared_license"))
    for sid, license_, overrides in sources:
        if isinstance(overrides, str):  # SQLite hands raw JSON to a text() query
            overrides = json.loads(overrides)
        overridden = sorted(k for k, v in (overrides or {}).items() if (v or {}).get("license"))
        query = (sa.update(docs).where(docs.c.source_id == sid, docs.c.license != license_)
                 .values(declared_license=docs.c.license))
        if overridden:
            query = query.where(docs.c.identifier.not_in(overridden))
        conn.execute(query)


def _tier(expression: str | None) -> str | None:
    if not expression:
        return None
    from corpus_registry.errors import CorpusRegistryError
    from corpus_registry.registry import licences

    try:
        return licences.parse(expression).tier.value
    except CorpusRegistryError:
        return "review"


def _first_decisions(conn: sa.Connection) -> None:
    """What the registry held before its history was recorded, as the history's first decisions."""
    decisions = sa.table(
        "decisions", *(sa.column(c) for c in (
            "created_at", "by", "via", "source_id", "identifier", "action", "from_license", "to_license",
            "sets_license", "from_tier", "to_tier", "from_status", "to_status", "reason", "evidence")))
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows: list[dict[str, Any]] = []

    def add(**values: Any) -> None:
        rows.append({"created_at": now, "by": BY, "via": "migration", "from_license": None, "from_tier": None,
                     "from_status": None, "evidence": None, **values})

    for sid, license_, tier, review, overrides in conn.execute(sa.text(
            "SELECT id, license, license_tier, review, overrides FROM sources ORDER BY id")).all():
        add(source_id=sid, identifier=None, action="register", to_license=license_, sets_license=license_,
            to_tier=tier, to_status="review" if review else "open",
            reason=review or "registered before decisions were recorded")
        if isinstance(overrides, str):
            overrides = json.loads(overrides)
        for ident, override in sorted((overrides or {}).items()):
            override = override or {}
            if not (override.get("license") or override.get("review")):
                continue
            set_ = override.get("license")
            add(source_id=sid, identifier=ident, action="review" if override.get("review") else "relabel",
                to_license=set_ or license_, sets_license=set_, to_tier="review" if override.get("review")
                else _tier(set_ or license_), to_status="review" if override.get("review") else "open",
                reason=override.get("review") or f"catalogue override: licence {set_}")
    for sid, ident, reason in conn.execute(sa.text(
            "SELECT source_id, document_identifier, reason FROM withdrawals ORDER BY id")).all():
        add(source_id=sid, identifier=ident, action="withdraw", to_license=None, sets_license=None, to_tier=None,
            from_status="active", to_status="withdrawn", reason=reason)
    if rows:
        conn.execute(sa.insert(decisions), rows)
