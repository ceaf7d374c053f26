"""Open a registry database (SQLite by default, PostgreSQL by URL) and keep it migrated.

Alembic is imported only when a migration is looked at (~12 MB a process): ingest and build workers
open the registry without ever needing it."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from corpus_registry.errors import RegistryError

if TYPE_CHECKING:
    from alembic.config import Config

ENV_DB = "CORPUS_REGISTRY_DB"
DEFAULT_HOME = Path(".corpus-registry")


def resolve_url(url: str | None = None) -> str:
    """The registry URL: explicit, else ``$CORPUS_REGISTRY_DB``, else ``./.corpus-registry/registry.db``."""
    url = url or os.environ.get(ENV_DB)
    if not url:
        url = str(DEFAULT_HOME / "registry.db")
    if "://" not in url:  # a plain path means a SQLite file
        path = Path(url).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # LIFO: a thread's next session gets the connection it just returned, whose page cache is warm
        # (FIFO handed out the pool's connections in turn: each batch of an ingest found a cache the
        # other connection's writes had made stale, and each connection kept its own)
        engine = create_engine(url, connect_args={"timeout": 60}, pool_use_lifo=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("corpus_registry.migrations")))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def known_revision(revision: str) -> bool:
    """Whether this version's migrations know ``revision`` (a newer corpus-registry may have
    migrated the database past what this one can read)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(_alembic_config()).get_revision(revision) is not None
    except (CommandError, KeyError, ValueError):
        return False


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as e:
        raise RegistryError(
            f"cannot open the registry at {engine.url.render_as_string(hide_password=True)}: "
            f"{e.__class__.__name__}: {str(e).splitlines()[0]}",
            hint="check --db / CORPUS_REGISTRY_DB and that the database server is running",
        ) from e


def _migrate(engine: Engine, action: Callable[[Config], None]) -> None:
    """Run an Alembic command in one transaction. SQLite rebuilds tables to alter them, which
    its foreign-key checks would refuse, so they are off for the migration (and back on after)."""
    cfg = _alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            with conn.begin():
                cfg.attributes["connection"] = conn
                action(cfg)
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    except SQLAlchemyError as e:
        raise RegistryError(f"migration failed: {str(e).splitlines()[0]}") from e


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (idempotent)."""
    from alembic import command

    _migrate(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    _migrate(engine, lambda cfg: command.downgrade(cfg, revision))
