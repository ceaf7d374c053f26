"""The registry: one database (SQLite or PostgreSQL) plus the document store it points to."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from corpus_registry.errors import RegistryError
from corpus_registry.registry.db import engine as db
from corpus_registry.registry.db.models import Setting
from corpus_registry.registry.store import DocumentStore

STORE_KEY = "store_url"


class Registry:
    """A handle on a registry database. Cheap to create; opens connections lazily."""

    def __init__(self, url: str | None = None) -> None:
        self.url = db.resolve_url(url)
        self.engine: Engine = db.make_engine(self.url)

    def __repr__(self) -> str:
        return f"Registry({self.display_url!r})"

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def init(self, *, store: str | None = None) -> None:
        """Create or upgrade the schema and fix the document store location. Safe to repeat.

        A registry migrated by a newer corpus-registry is left untouched."""
        revision = db.current_revision(self.engine)
        if revision is not None and not db.known_revision(revision):
            raise self._newer(revision)
        db.upgrade(self.engine)
        with self.session() as s:
            current = s.get(Setting, STORE_KEY)
            if current is None:
                s.add(Setting(key=STORE_KEY, value=store or self._default_store()))
            elif store and store != current.value:
                raise RegistryError(
                    f"this registry already uses the document store {current.value}",
                    hint="omit --store, or move the store and update the registry setting",
                )
        self.__dict__.pop("store", None)

    def _default_store(self) -> str:
        if self.url.startswith("sqlite:///"):
            return str(Path(self.url[len("sqlite:///") :]).parent / "store")
        return str((db.DEFAULT_HOME / "store").resolve())

    def check(self) -> None:
        """Raise a helpful error unless the schema is at the latest migration."""
        current = db.current_revision(self.engine)
        head = db.head_revision()
        if current is None:
            raise RegistryError(
                f"no registry at {self.display_url}", hint="run `corpus-registry init` first"
            )
        if not db.known_revision(current):
            raise self._newer(current)
        if current != head:
            raise RegistryError(
                f"the registry at {self.display_url} is at schema {current}, this version needs {head}",
                hint="run `corpus-registry init` to upgrade it",
            )

    def _newer(self, current: str) -> RegistryError:
        return RegistryError(
            f"the registry at {self.display_url} is at schema {current}, newer than this corpus-registry "
            f"knows (its latest is {db.head_revision()}): upgrade corpus-registry",
            hint="pip install --upgrade corpus-registry (a newer version migrated this registry; nothing was changed)",
        )

    @contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """Hold the lock named ``what`` on this registry for the block, or fail at once with a
        RegistryError if another process holds it (one build of a release version at a time).

        PostgreSQL: a session advisory lock; a SQLite file: ``flock`` on a file in
        ``<database>.locks/`` saying who holds it. Either is released when its process dies."""
        key = hashlib.sha256(f"{self.url}\0{what}".encode()).digest()
        busy = RegistryError(f"another process is running `{what}` on this registry",
                             hint="wait for it to finish, then run the command again")
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                number = int.from_bytes(key[:8], "big", signed=True)
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": number}).scalar()
                conn.commit()
                if not got:
                    raise busy
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": number})
                    conn.commit()
            return
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            yield
            return
        import fcntl

        folder = Path(f"{database}.locks")
        try:
            folder.mkdir(exist_ok=True)
            fd = os.open(folder / f"{key.hex()[:24]}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RegistryError(f"cannot create a lock file in {folder} ({e.strerror})") from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                busy.message += f" ({holder})" if holder else ""
                raise busy from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)

    @cached_property
    def store(self) -> DocumentStore:
        with self.session() as s:
            setting = s.get(Setting, STORE_KEY)
        if setting is None:
            raise RegistryError("the registry has no document store", hint="run `corpus-registry init`")
        return DocumentStore(setting.value)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except SQLAlchemyError as e:
            session.rollback()
            raise RegistryError(f"database error: {str(e).splitlines()[0]}") from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def open_registry(url: str | None = None, *, check: bool = True) -> Registry:
    """Open the registry at ``url`` (or the default); by default verify it is initialised."""
    registry = Registry(url)
    if check:
        registry.check()
    return registry
