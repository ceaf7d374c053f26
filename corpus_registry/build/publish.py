"""Push a built release to the Hub and record where it went in the registry."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from corpus_registry.build.release import read_manifest
from corpus_registry.hub import PushResult, push_release
from corpus_registry.registry.db.models import Release, utcnow
from corpus_registry.registry.registry import Registry


def push(registry: Registry, folder: Path, *, repo_id: str, token: str | None = None,
         endpoint: str | None = None, private: bool = False, dry_run: bool = False,
         progress: bool = True) -> PushResult:
    """Push ``folder`` with :func:`corpus_registry.hub.push_release`; store repo, commit and tag."""
    result = push_release(folder, repo_id=repo_id, token=token, endpoint=endpoint, private=private,
                          dry_run=dry_run, progress=progress)
    if dry_run:
        return result
    manifest = read_manifest(folder)
    with registry.session() as s:
        rel = s.scalar(select(Release).where(Release.name == manifest["name"],
                                             Release.version == manifest["version"]))
        if rel is not None:
            rel.hub_repo, rel.hub_tag = repo_id, result.tag
            if result.commit:
                rel.hub_commit = result.commit
            rel.pushed_at = rel.pushed_at or utcnow()
    return result
