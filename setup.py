"""Packaging beyond what pyproject.toml can say. All metadata is in pyproject.toml.

- Alembic's scripts live in the top-level ``migrations/`` folder and ship inside the wheel as the
  package ``corpus_registry.migrations``, so that an installed ``corpus-registry init`` can create
  and upgrade a registry.
- The bundled sample (``sources.yaml``, ``data/``, ``specs/``) is copied into the wheel as
  ``corpus_registry/sample/`` at build time, so that an installed ``corpus-registry demo`` runs
  without the source tree. The repository keeps one copy of each.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
MIGRATIONS = {"corpus_registry.migrations": "migrations", "corpus_registry.migrations.versions": "migrations/versions"}
SAMPLE = ("sources.yaml", "data", "specs")


class BuildWithSample(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the sample from the source tree
            return
        target = Path(self.build_lib) / "corpus_registry" / "sample"
        for name in SAMPLE:
            src, dst = HERE / name, target / name
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            elif src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(
    packages=[*find_packages(include=["corpus_registry", "corpus_registry.*"]), *MIGRATIONS],
    package_dir=MIGRATIONS,
    cmdclass={"build_py": BuildWithSample},
)
