"""Where a build writes: ``--out``, staged beside it and moved into place at the end.

``--out`` may be new, empty, or a release folder a build wrote (every file listed in its manifest,
unchanged: :func:`~.release.check_own_release`); never a folder holding anything else, and never
the folder of a pushed release, which is the only local copy of a published version: another
version or other content never replaces it (the same release may be rebuilt: the folder is kept).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from corpus_registry.build.release import MANIFEST, check_own_release
from corpus_registry.build.spec import BuildSpec
from corpus_registry.errors import BuildError, OutputError
from corpus_registry.outputs import StagedFolder
from corpus_registry.registry.db.models import Release, ReleasePush
from corpus_registry.registry.registry import Registry

__all__ = ["out_folder", "place", "pushed_to"]


def pushed_to(session: Session, release: Release) -> str | None:
    """Where ``release`` was pushed (``repo@tag``), if it ever was."""
    pushed = release.hub_commit is not None or bool(
        session.scalar(select(exists().where(ReleasePush.release_id == release.id))))
    return f"{release.hub_repo}@{release.hub_tag or release.version}" if pushed else None


def _pushed(registry: Registry, name: object, version: object) -> str | None:
    with registry.session() as s:
        rel = s.scalar(select(Release).where(Release.name == str(name), Release.version == str(version)))
        return None if rel is None else pushed_to(s, rel)


def out_folder(registry: Registry, spec: BuildSpec, out_dir: Path) -> StagedFolder:
    """The staged folder a build of ``spec`` writes into; refused now, before any work, if
    ``out_dir`` may not be replaced by it."""

    def replaceable(folder: Path) -> None:
        manifest = check_own_release(folder)
        name, version = manifest.get("name"), manifest.get("version")
        if (name, version) != (spec.name, spec.version):
            where = _pushed(registry, name, version)
            if where:
                raise OutputError(f"{folder}: holds release {name} {version}, pushed to {where}: the local copy "
                                  "of a published version is never replaced", path=str(folder),
                                  hint="choose another --out")

    return StagedFolder(out_dir, owned=replaceable)


def place(registry: Registry, spec: BuildSpec, staged: StagedFolder, *, manifest_sha256: str) -> Path:
    """Move the written release into place, or keep the destination when it already holds exactly
    this release (the same manifest, so the same files); where the release now is. A pushed
    version is never replaced by other content, whether or not the build is recorded."""
    path = staged.dest / MANIFEST
    try:
        current = path.read_bytes() if path.is_file() else None
        manifest = json.loads(current) if current is not None else None
    except (OSError, ValueError):
        current = manifest = None
    if current is not None and hashlib.sha256(current).hexdigest() == manifest_sha256:
        staged.discard()
        return staged.dest
    if isinstance(manifest, dict) and (manifest.get("name"), manifest.get("version")) == (spec.name, spec.version):
        where = _pushed(registry, spec.name, spec.version)
        if where:
            raise BuildError(f"release {spec.name} {spec.version} was already built differently and pushed to "
                             f"{where}; --out is left as it was",
                             hint="a pushed version is immutable: bump `version` in the spec")
    staged.commit()
    return staged.dest
