"""one ingest per source at a time: the running ingest run is the source's lock, and says who holds it

Adds ``host``, ``pid`` and ``process_started`` (who runs the ingest) and ``skipped`` (what the readers
refused: binary files, symlinks leading outside, replaced bytes) to ``ingest_runs``, and a unique index
on ``source_id`` over the runs whose status is ``running``. Runs left ``running`` by an older version
(killed ingests, nobody to ask) become ``interrupted`` first.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("process_started", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("skipped", sa.JSON(), nullable=True))
    op.execute("UPDATE ingest_runs SET status = 'interrupted' WHERE status = 'running'")
    op.create_index("ux_ingest_runs_running", "ingest_runs", ["source_id"], unique=True,
                    sqlite_where=RUNNING, postgresql_where=RUNNING)


def downgrade() -> None:
    op.drop_index("ux_ingest_runs_running", table_name="ingest_runs")
    with op.batch_alter_table("ingest_runs") as batch_op:
        for column in ("skipped", "process_started", "pid", "host"):
            batch_op.drop_column(column)
