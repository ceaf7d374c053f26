"""Push a built release to the Hub, after checking it against the registry, and keep the history."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from corpus_registry.errors import BuildError, NotFoundError
from corpus_registry.hub import PushResult, push_release, read_release
from corpus_registry.registry.db.models import Release, ReleasePush, utcnow
from corpus_registry.registry.registry import Registry
from corpus_registry.terminal import mask


def push(registry: Registry, folder: Path, *, repo_id: str, token: str | None = None,
         endpoint: str | None = None, private: bool = False, dry_run: bool = False,
         progress: bool = True) -> PushResult:
    """Push the release in ``folder`` with :func:`corpus_registry.hub.push_release`.

    Exactly the release's own files are sent (those its manifest lists, each checked against its
    sha256 by :func:`~corpus_registry.hub.read_release`; anything else in the folder is left out,
    ``result.ignored``), and only if the manifest is the one the registry recorded for that name
    and version. Every push, a no-op too, is added to the release's push history (``release_pushes``,
    append-only); the release row keeps the latest repo, commit and tag.
    """
    release = read_release(folder)
    with registry.session() as s:
        rel = s.scalar(select(Release).where(Release.name == release.name, Release.version == release.version))
        if rel is None:
            raise NotFoundError(f"{folder}: release {release.name} {release.version} is not in the registry at "
                                f"{registry.display_url}",
                                hint="push a release built with this registry (--db), or build it here first")
        if rel.manifest_sha256 != release.manifest_sha256:
            raise BuildError(f"{folder}: its manifest.json is not the one the registry recorded for "
                             f"{release.name} {release.version}; the folder is not that build",
                             hint="build the release again and push the folder the build writes")
        release_id = rel.id
    result = push_release(release, repo_id=repo_id, token=token, endpoint=endpoint, private=private,
                          dry_run=dry_run, progress=progress)
    if dry_run:
        return result
    if endpoint is None:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    with registry.session() as s:
        rel = s.get(Release, release_id)
        assert rel is not None
        rel.hub_repo, rel.hub_tag = repo_id, result.tag
        if result.commit:
            rel.hub_commit = result.commit
        rel.pushed_at = rel.pushed_at or utcnow()
        s.add(ReleasePush(release_id=release_id, repo_id=repo_id, endpoint=mask(endpoint.rstrip("/")),
                          tag=result.tag, commit=result.commit, manifest_sha256=release.manifest_sha256,
                          files=len(release.files), bytes=sum(release.files.values()), noop=result.noop))
    return result


def push_history(registry: Registry, *, name: str, version: str | None = None) -> list[dict[str, object]]:
    """Every push of release ``name`` (of one ``version``, or all), oldest first."""
    query = (select(Release.name, Release.version, ReleasePush).join(Release, Release.id == ReleasePush.release_id)
             .where(Release.name == name).order_by(ReleasePush.id))
    if version is not None:
        query = query.where(Release.version == version)
    with registry.session() as s:
        return [{"name": n, "version": v, "repo_id": p.repo_id, "endpoint": p.endpoint, "tag": p.tag,
                 "commit": p.commit, "manifest_sha256": p.manifest_sha256, "files": p.files, "bytes": p.bytes,
                 "noop": p.noop, "pushed_at": p.pushed_at.isoformat(timespec="seconds")}
                for n, v, p in s.execute(query)]
