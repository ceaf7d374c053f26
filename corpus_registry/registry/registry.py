"""The registry: one database (SQLite or PostgreSQL) plus the document store it points to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
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
        """Create or upgrade the schema and fix the document store location. Safe to repeat."""
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
        if current != head:
            raise RegistryError(
                f"the registry at {self.display_url} is at schema {current}, this version needs {head}",
                hint="run `corpus-registry init` to upgrade it",
            )

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
