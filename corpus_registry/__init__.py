"""corpus_registry: a registry of openly licensed text and a builder of verifiable releases.

The Python API mirrors the CLI::

    from pathlib import Path
    from corpus_registry import Registry, sync_sources, ingest, build_release, load_spec, audit

    reg = Registry("registry.db"); reg.init()
    sync_sources(reg, catalogue_path=Path("sources.yaml"))
    ingest(reg)
    build_release(reg, load_spec(Path("specs/fr.yaml")), out_dir=Path("out/fr"))
    assert audit(reg, "out/fr").ok
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from corpus_registry import audit as _audit_package  # noqa: F401 (light: a docstring)
from corpus_registry.errors import (
    AuditError,
    BuildError,
    ConfigError,
    CorpusRegistryError,
    HubError,
    LicenseError,
    NotFoundError,
    OutputError,
    ReaderError,
    RegistryError,
)

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from corpus_registry.registry.ingest import ingest
    from corpus_registry.registry.registry import Registry, open_registry
    from corpus_registry.registry.withdraw import withdraw


def audit(*args: Any, **kwargs: Any) -> Any:
    """:func:`corpus_registry.audit.auditor.audit` (imported on the first call).

    Bound here, after the ``audit`` subpackage is imported, so that the subpackage does not
    shadow it; a thin wrapper, so that importing the package stays light (a build's worker
    processes import it and use none of it)."""
    from corpus_registry.audit.auditor import audit as run

    return run(*args, **kwargs)


#: Public functions, imported on first use so that ``import corpus_registry`` stays light.
_LAZY = {
    "Registry": "corpus_registry.registry.registry",
    "open_registry": "corpus_registry.registry.registry",
    "ingest": "corpus_registry.registry.ingest",
    "withdraw": "corpus_registry.registry.withdraw",
    "build_release": "corpus_registry.build.builder",
    "load_policy": "corpus_registry.audit.policy",
    "load_spec": "corpus_registry.build.spec",
    "parse_spec": "corpus_registry.build.spec",
    "push": "corpus_registry.build.publish",
    "render_summary": "corpus_registry.build.summary",
    "show": "corpus_registry.registry.lookup",
    "stats": "corpus_registry.registry.lookup",
    "sync_sources": "corpus_registry.registry.sources",
    "training_summary": "corpus_registry.build.summary",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'corpus_registry' has no attribute {name!r}")


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
    "OutputError",
    "ReaderError",
    "Registry",
    "RegistryError",
    "__version__",
    "audit",
    "build_release",
    "ingest",
    "load_policy",
    "load_spec",
    "open_registry",
    "parse_spec",
    "push",
    "render_summary",
    "show",
    "stats",
    "sync_sources",
    "training_summary",
    "withdraw",
]
