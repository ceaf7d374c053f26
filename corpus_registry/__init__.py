"""corpus_registry: a registry of openly licensed text and a builder of verifiable releases.

The Python API mirrors the CLI::

    from corpus_registry import Registry, sync_sources, ingest, build_release, parse_spec

    reg = Registry("registry.db"); reg.init()
    sync_sources(reg, catalogue_path=Path("sources.yaml"))
    ingest(reg)
    build_release(reg, parse_spec(yaml.safe_load(open("specs/fr.yaml"))), out_dir=Path("out/fr"))
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    AuditError,
    BuildError,
    ConfigError,
    CorpusRegistryError,
    HubError,
    LicenseError,
    NotFoundError,
    ReaderError,
    RegistryError,
)
from .registry import Registry, open_registry

try:
    __version__ = version("corpus-registry")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "AuditError",
    "BuildError",
    "ConfigError",
    "CorpusRegistryError",
    "HubError",
    "LicenseError",
    "NotFoundError",
    "ReaderError",
    "Registry",
    "RegistryError",
    "__version__",
    "open_registry",
]
