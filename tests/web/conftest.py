"""A fresh web-test registry per test module and backend (SQLite and the real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corpus_registry.registry.registry import Registry

from tests.conftest import BACKENDS, _create_schema, _drop_schema, pg_schema_url
from tests.web.site import Site, make_site


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    backend = request.param
    folder = tmp_path_factory.mktemp(f"site-{backend}")
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'registry.db'}"
    else:
        request.getfixturevalue("pg_available")
        schema = _create_schema()
        url = pg_schema_url(schema)
    registry = Registry(url)
    registry.init(store=str(folder / "store"))
    yield make_site(registry, folder)
    registry.dispose()
    if schema:
        _drop_schema(schema)
