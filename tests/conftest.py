"""Shared fixtures: real registries on SQLite and on the real PostgreSQL server.

PostgreSQL tests use a fresh schema per registry on ``$CORPUS_REGISTRY_TEST_PG`` (default
postgresql://postgres@127.0.0.1:5432/test). When the server is unreachable they fail in CI
(``CI`` or ``CORPUS_REGISTRY_REQUIRE_PG`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# In CI every property test draws the same examples (derandomized, no example database): a landing
# fails only for a change, never for a lucky draw; locally they keep exploring.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The loopback Hub must be configured before anything imports huggingface_hub or datasets.
from tests.hubserver import HubServer, session_hub

HUB = session_hub()

from corpus_registry.registry.ingest import ingest  # noqa: E402
from corpus_registry.registry.registry import Registry  # noqa: E402
from corpus_registry.registry.sources import sync_sources  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
CATALOGUE = REPO / "sources.yaml"
PG_URL = os.environ.get("CORPUS_REGISTRY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_error() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as e:  # noqa: BLE001 - any failure means "unreachable"
        return f"{type(e).__name__}: {e}"
    return None


@pytest.fixture(scope="session")
def pg_available() -> bool:
    err = _pg_error()
    if err is None:
        return True
    if os.environ.get("CI") or os.environ.get("CORPUS_REGISTRY_REQUIRE_PG"):
        pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_URL}: {err}")
    pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {err}")
    return False


def pg_schema_url(schema: str) -> str:
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def _create_schema() -> str:
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def make_db_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    """Factory: ``make_db_url(backend)`` → a URL to an empty database of that backend."""
    schemas: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / ('r-' + uuid.uuid4().hex[:6] + '.db')}"
        request.getfixturevalue("pg_available")
        schemas.append(_create_schema())
        return pg_schema_url(schemas[-1])

    yield make
    for schema in schemas:
        _drop_schema(schema)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def registry(backend: str, make_db_url, tmp_path: Path) -> Iterator[Registry]:
    """An initialised, empty registry on each backend."""
    reg = Registry(make_db_url(backend))
    reg.init(store=str(tmp_path / f"store-{backend}"))
    yield reg
    reg.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def demo_registry(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The bundled sample sources registered and ingested once per backend (read-only for tests)."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"demo-{backend}")
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'registry.db'}"
    else:
        request.getfixturevalue("pg_available")
        schema = _create_schema()
        url = pg_schema_url(schema)
    reg = Registry(url)
    reg.init(store=str(tmp / "store"))
    sync_sources(reg, catalogue_path=CATALOGUE)
    ingest(reg, progress=False)
    yield reg
    reg.dispose()
    if schema:
        _drop_schema(schema)


@pytest.fixture(scope="session")
def hub() -> HubServer:
    """The session's loopback Hub server (HF_ENDPOINT etc. already point at it)."""
    return HUB
