"""the registry on the web: accounts, sessions, API tokens, proposals, takedown requests, rate-limit
events; full-text search on documents (SQLite FTS5 / PostgreSQL GIN); indexes for a document's fates

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: the words of identifier, title and creator (ASCII punctuation made spaces), kept by PostgreSQL in the
#: generated column documents.search_words (corpus_registry.registry.search) and indexed
PG_DOCUMENT_WORDS = (
    "to_tsvector('simple'::regconfig, translate(coalesce(identifier, '') || ' ' || coalesce(title, '')"
    " || ' ' || coalesce(creator, ''), '!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~', '" + " " * 32 + "'))"
)
_FTS_COLUMNS = "identifier, title, creator"
SQLITE_SEARCH = [
    # an external-content index: the words live in the index, the text stays in documents
    f"CREATE VIRTUAL TABLE documents_fts USING fts5({_FTS_COLUMNS}, content='documents', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN"
    f" INSERT INTO documents_fts(rowid, {_FTS_COLUMNS}) VALUES (new.id, new.identifier, new.title, new.creator);"
    " END",
    "CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN"
    f" INSERT INTO documents_fts(documents_fts, rowid, {_FTS_COLUMNS})"
    " VALUES ('delete', old.id, old.identifier, old.title, old.creator); END",
    "CREATE TRIGGER documents_fts_update AFTER UPDATE OF identifier, title, creator ON documents BEGIN"
    f" INSERT INTO documents_fts(documents_fts, rowid, {_FTS_COLUMNS})"
    " VALUES ('delete', old.id, old.identifier, old.title, old.creator);"
    f" INSERT INTO documents_fts(rowid, {_FTS_COLUMNS}) VALUES (new.id, new.identifier, new.title, new.creator);"
    " END",
    "INSERT INTO documents_fts(documents_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"]),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "web_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_web_api_tokens_user_id", "web_api_tokens", ["user_id"])
    op.create_table(
        "web_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_slug", sa.String(length=128), nullable=False),
        sa.Column("document_identifier", sa.String(length=512), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.String(length=2048), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("proposed_by", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["proposed_by"], ["web_users.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["web_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_proposals_status", "web_proposals", ["status", "id"])
    op.create_table(
        "web_takedowns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_slug", sa.String(length=128), nullable=False),
        sa.Column("document_identifier", sa.String(length=512), nullable=True),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.Integer(), nullable=True),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("withdrawn_documents", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["filed_by"], ["web_users.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["web_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_takedowns_status", "web_takedowns", ["status", "id"])
    op.create_table(
        "web_rate_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_rate_events_key", "web_rate_events", ["key", "at"])
    # a document page lists the document's fate in every release; a release page filters fates by stage
    op.create_index("ix_release_documents_document", "release_documents", ["document_id"])
    op.create_index("ix_release_documents_stage", "release_documents", ["release_id", "stage", "document_id"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    else:
        op.execute(f"ALTER TABLE documents ADD COLUMN search_words tsvector GENERATED ALWAYS AS ({PG_DOCUMENT_WORDS})"
                   " STORED")
        op.execute("CREATE INDEX ix_documents_search ON documents USING gin (search_words)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS documents_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS documents_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_documents_search")
        op.execute("ALTER TABLE documents DROP COLUMN IF EXISTS search_words")
    op.drop_index("ix_release_documents_stage", table_name="release_documents")
    op.drop_index("ix_release_documents_document", table_name="release_documents")
    for table in ("web_rate_events", "web_takedowns", "web_proposals", "web_api_tokens", "web_sessions",
                  "web_users"):
        op.drop_table(table)
