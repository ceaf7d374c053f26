"""Push a built release folder to the Hugging Face Hub: one commit per release, tagged with
its version, so that ``load_dataset(repo, config, revision=version)`` gives back exactly the
shards the manifest describes.

A version is immutable: pushing the same release again is a no-op, pushing different content
under an existing version is refused. The release is sent as a single ``create_commit``
(not ``upload_folder``, which with Xet splits large folders into several commits) on top of the
head we inspected, so a concurrent push fails instead of interleaving.

Hub, HTTP and connection errors are converted here into :class:`HubError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus_registry.errors import HubError
from corpus_registry.terminal import mask

if TYPE_CHECKING:
    from huggingface_hub import CommitOperation, HfApi

__all__ = ["PushResult", "ReleaseFolder", "is_release_path", "manifest_files", "push_release", "read_release"]

REPO_TYPE = "dataset"
MANIFEST = "manifest.json"
CARD = "README.md"
OWNED_FILES = ("ATTRIBUTION.md", "funnel.png")
"""Optional files a release owns: removed from the repo when a newer release lacks them."""
DATA_PREFIX = "data/"
TOKEN_HINT = "run `hf auth login` or set HF_TOKEN to a token with write access"
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass(frozen=True)
class PushResult:
    """What a push did (or, with ``dry_run``, would do).

    ``commit`` is the commit the tag points to (``None`` for a dry run that would create one);
    ``files`` and ``sizes`` are the release files committed or to be sent; ``deleted`` are files
    of older releases the commit removes; ``ignored`` are files in the folder that are not part of
    the release (never sent); ``manifest_sha256`` names the release pushed.
    """

    repo_id: str
    commit: str | None
    tag: str
    url: str
    files: list[str]
    noop: bool
    dry_run: bool
    sizes: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    manifest_sha256: str = ""


class _ManifestHead(BaseModel):
    """The manifest fields a push relies on; the builder writes many more."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    shards: dict[str, str] = Field(min_length=1)
    files: dict[str, str] | None = None


@dataclass(frozen=True)
class ReleaseFolder:
    """A release folder that passed validation: its manifest, the files it owns, and the others."""

    path: Path
    name: str
    version: str
    manifest: bytes
    files: dict[str, int]  # path in repo (posix, relative) -> size in bytes: exactly what is sent
    ignored: list[str] = field(default_factory=list)  # files in the folder that are not the release's

    @property
    def manifest_sha256(self) -> str:
        return _digest(self.manifest)


#: What a file of a release may be called: relative, posix, no hidden or parent segments.
_RELEASE_PATH = re.compile(r"^(?!\.)[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*(/(?!\.)[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*)*$")


def is_release_path(path: str) -> bool:
    """Whether ``path`` can name a file of a release: relative, posix, no hidden or ``..`` segment,
    no wildcard: a manifest cannot make anyone read or send a file outside the release folder."""
    return bool(_RELEASE_PATH.match(path)) and path != MANIFEST


def manifest_files(manifest: dict[str, Any]) -> dict[str, str | None]:
    """The files a release manifest says are the release's own, but the manifest itself (path →
    sha256): its ``files`` listing, or, for a manifest written before it had one, its shards plus
    the card, attribution file and funnel chart (whose sha256 it does not give: None)."""
    files = manifest.get("files")
    if isinstance(files, dict):
        return {str(k): str(v) for k, v in files.items()}
    listed: dict[str, str | None] = {CARD: None, **dict.fromkeys(OWNED_FILES)}
    shards = manifest.get("shards")
    if isinstance(shards, dict):
        listed.update({str(k): str(v) for k, v in shards.items()})
    return listed


def read_release(folder: Path) -> ReleaseFolder:
    """Validate a release folder without touching the network.

    The release is exactly the files its manifest lists (:func:`manifest_files`) plus the
    manifest: each must be a regular file inside the folder with the sha256 the manifest gives,
    the card must be there, and ``data/`` must hold nothing the manifest does not list. Any other
    file in the folder is left out (``ignored``): it is never sent.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise HubError(
            f"release folder {folder} does not exist",
            hint="run `corpus-registry build` first",
            folder=str(folder),
        )
    if not manifest_path.is_file():
        raise HubError(
            f"{folder} has no {MANIFEST}: run `corpus-registry build` first",
            hint="push takes the folder written by `corpus-registry build`",
            folder=str(folder),
        )
    try:
        raw = manifest_path.read_bytes()
        data = json.loads(raw)
        head = _ManifestHead.model_validate(data)
    except OSError as e:
        raise HubError(f"{manifest_path}: cannot read ({e.strerror})", file=str(manifest_path)) from e
    except (ValueError, ValidationError) as e:
        raise HubError(
            f"{manifest_path}: not a release manifest ({_first_problem(e)})",
            hint="rebuild the release with `corpus-registry build`",
            file=str(manifest_path),
        ) from e
    if not _TAG.fullmatch(head.version) or ".." in head.version or head.version.endswith(".lock"):
        raise HubError(
            f"{manifest_path}: version {head.version!r} cannot be a git tag",
            hint="use a version such as 1.0.0 or v1.0.0",
            file=str(manifest_path),
            field="version",
        )
    listed = manifest_files(data)
    if head.files is not None:
        missing = sorted(set(head.shards) - set(head.files))
        if missing:
            raise HubError(f"{manifest_path}: shard {missing[0]} is not in its 'files' listing",
                           hint="rebuild the release", file=str(manifest_path))
    present = _folder_files(folder)
    files: dict[str, int] = {}
    for path, sha256 in sorted(listed.items()):
        if not is_release_path(path):
            raise HubError(f"{manifest_path}: lists {path!r}, which is not a file name a release has",
                           hint="rebuild the release", file=str(manifest_path))
        if path not in present:
            if sha256 is None and path != CARD:
                continue  # an optional file of an older manifest
            what = "the dataset card" if path == CARD else "listed in " + MANIFEST
            raise HubError(
                f"{folder}: {path} ({what}) is missing from the folder",
                hint="rebuild the release",
                folder=str(folder),
                shard=path,
            )
        if sha256 is not None and _sha256(folder / path) != sha256.lower():
            raise HubError(
                f"{folder / path}: sha256 differs from {MANIFEST}; "
                "the folder changed after the build",
                hint="rebuild the release",
                file=str(folder / path),
            )
        files[path] = present[path]
    unlisted = sorted(p for p in present if p.startswith(DATA_PREFIX) and p not in listed)
    if unlisted:
        raise HubError(
            f"{folder}: {unlisted[0]} is not listed in {MANIFEST} ({len(unlisted)} such file(s))",
            hint="remove stray files from data/ or rebuild",
            folder=str(folder),
        )
    files[MANIFEST] = len(raw)
    ignored = sorted(p for p in present if p not in files)
    return ReleaseFolder(folder, head.name, head.version, raw, files, ignored)


def push_release(
    folder: Path | ReleaseFolder,
    *,
    repo_id: str,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    dry_run: bool = False,
    progress: bool = True,
) -> PushResult:
    """Push ``folder`` to the dataset repo ``repo_id`` as one commit tagged with its version.

    ``token`` defaults to huggingface_hub's login (``HF_TOKEN`` or ``hf auth login``);
    ``endpoint`` to ``HF_ENDPOINT``. ``private`` applies when the repo is created. ``dry_run``
    only reads from the Hub and reports what would be sent. ``folder`` may be a
    :class:`ReleaseFolder` already read (and checked against the registry) by the caller.
    """
    release = folder if isinstance(folder, ReleaseFolder) else read_release(folder)
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if token is None and not dry_run:
        raise HubError(
            "no Hugging Face token: run `hf auth login` or set HF_TOKEN", hint=TOKEN_HINT
        )
    endpoint = endpoint.rstrip("/") if endpoint else None
    api = HfApi(endpoint=endpoint, token=token, library_name="corpus-registry")
    tag = release.version
    url = mask(f"{api.endpoint}/datasets/{repo_id}/tree/{quote(tag, safe='')}")

    def result(
        commit: str | None,
        *,
        noop: bool = False,
        files: dict[str, int] | None = None,
        deleted: list[str] | None = None,
    ) -> PushResult:
        sent = release.files if files is None else files
        return PushResult(
            repo_id=repo_id,
            commit=commit,
            tag=tag,
            url=url,
            files=sorted(sent),
            noop=noop,
            dry_run=dry_run,
            sizes=dict(sent),
            deleted=deleted or [],
            ignored=release.ignored,
            manifest_sha256=release.manifest_sha256,
        )

    with hub_errors(api.endpoint, repo_id):
        remote = _RemoteState.read(api, repo_id)
        if tag in remote.tags:
            _check_same_release(api, repo_id, tag, release)
            return result(remote.tags[tag], noop=True, files={})
        if dry_run:
            return result(None, deleted=remote.stale(release))
        if not remote.exists:
            api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
            remote = _RemoteState.read(api, repo_id)
        deleted = remote.stale(release)
        with _progress_bars(progress):
            info = api.create_commit(
                repo_id,
                repo_type=REPO_TYPE,
                operations=_operations(release, deleted),
                commit_message=f"Release {release.name} {tag}",
                commit_description=f"{MANIFEST} sha256 {_digest(release.manifest)}",
                parent_commit=remote.head,
            )
        api.create_tag(
            repo_id,
            repo_type=REPO_TYPE,
            tag=tag,
            revision=info.oid,
            tag_message=f"Release {release.name} {tag}",
        )
    return result(info.oid, deleted=deleted)


@dataclass(frozen=True)
class _RemoteState:
    exists: bool
    head: str | None  # commit of main, if any
    tags: dict[str, str]
    files: list[str]  # files at head

    @classmethod
    def read(cls, api: HfApi, repo_id: str) -> _RemoteState:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        except RepositoryNotFoundError as e:
            if _status(e) != 404:  # 401 is reported as "not found" too: keep it a token error
                raise
            return cls(exists=False, head=None, tags={}, files=[])
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        files = api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head) if head else []
        return cls(True, head, {t.name: t.target_commit for t in refs.tags}, files)

    def stale(self, release: ReleaseFolder) -> list[str]:
        """Files of an older release that the new one no longer has."""
        owned = [p for p in self.files if p.startswith(DATA_PREFIX) or p in OWNED_FILES]
        return sorted(p for p in owned if p not in release.files)


def _check_same_release(api: HfApi, repo_id: str, tag: str, release: ReleaseFolder) -> None:
    """A tag that exists must hold this very manifest; anything else is a version clash."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    with tempfile.TemporaryDirectory(prefix="corpus-registry-") as cache:
        try:
            path = hf_hub_download(
                repo_id,
                MANIFEST,
                repo_type=REPO_TYPE,
                revision=tag,
                cache_dir=cache,
                endpoint=api.endpoint,
                token=api.token,
            )
        except RemoteEntryNotFoundError as e:
            raise HubError(
                f"{repo_id} has a tag {tag} without {MANIFEST}: it is not a release of ours",
                hint="choose another version",
                repo_id=repo_id,
                tag=tag,
            ) from e
        remote = Path(path).read_bytes()
    if remote != release.manifest:
        raise HubError(
            f"{repo_id} already has version {tag} with a different {MANIFEST}: a released version "
            "is immutable",
            hint="bump the version in the build spec and rebuild",
            repo_id=repo_id,
            tag=tag,
        )


def _operations(release: ReleaseFolder, deleted: list[str]) -> list[CommitOperation]:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    ops: list[CommitOperation] = [CommitOperationDelete(path_in_repo=p) for p in deleted]
    ops += [
        CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(release.path / p))
        for p in sorted(release.files)
    ]
    return ops


@contextmanager
def hub_errors(endpoint: str, repo_id: str, *, revision: str | None = None) -> Iterator[None]:
    """Turn Hub client exceptions into one-line HubErrors that say what to do (push and audit alike)."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = mask(endpoint)  # an endpoint URL may carry credentials: never repeat them
    try:
        yield
    except HubError:
        raise
    except RevisionNotFoundError as e:
        raise HubError(f"hf://datasets/{repo_id}: no revision {revision!r}",
                       hint="check the tag or branch name (a release is tagged with its version)",
                       repo_id=repo_id, revision=revision) from e
    except RepositoryNotFoundError as e:
        raise HubError(f"hf://datasets/{repo_id}: no such dataset repository (or no access to it)",
                       hint="check OWNER/NAME, HF_ENDPOINT and your token", repo_id=repo_id) from e
    except HfHubHTTPError as e:
        status = _status(e)
        if status in (401, 403):
            raise HubError(
                f"the Hub at {endpoint} refused the token for {repo_id} (HTTP {status})",
                hint=TOKEN_HINT,
                repo_id=repo_id,
                endpoint=endpoint,
                status=status,
            ) from e
        detail = mask(e.server_message or str(e).strip().splitlines()[0])
        raise HubError(
            f"the Hub at {endpoint} answered HTTP {status} for {repo_id}: {detail}",
            repo_id=repo_id,
            endpoint=endpoint,
            status=status,
        ) from e
    except OfflineModeIsEnabled as e:
        raise HubError(
            "HF_HUB_OFFLINE is set: the Hub cannot be reached", hint="unset HF_HUB_OFFLINE"
        ) from e
    except HFValidationError as e:
        raise HubError(
            f"invalid repo id {repo_id!r}: {mask(e)}", hint="use OWNER/NAME", repo_id=repo_id
        ) from e
    except LocalEntryNotFoundError as e:  # hf_hub_download's way of saying the network failed
        raise HubError(f"cannot reach the Hub at {endpoint}: {mask(e)}", endpoint=endpoint) from e
    except Exception as e:
        if isinstance(e, _transport_errors()):
            raise HubError(
                f"cannot reach the Hub at {endpoint}: {mask(e)}",
                hint="check the network and HF_ENDPOINT",
                endpoint=endpoint,
            ) from e
        raise


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level errors of whichever HTTP stack the installed client uses."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (
        ("httpx2", "TransportError"),
        ("httpx", "TransportError"),
        ("requests.exceptions", "ConnectionError"),
        ("requests.exceptions", "Timeout"),
    ):
        error = getattr(sys.modules.get(module), name, None)
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    from huggingface_hub.utils.tqdm import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    if enabled or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _folder_files(folder: Path) -> dict[str, int]:
    """Every regular file under ``folder`` (symbolic links not followed), by posix path → size."""
    files = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(folder).as_posix()] = path.stat().st_size
    return files


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _first_problem(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'top level'}: {first['msg']}"
    return str(error).splitlines()[0]
