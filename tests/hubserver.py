"""A loopback Hugging Face Hub for tests: the subset of the Hub HTTP protocol that
huggingface_hub 2.x and datasets 5.x use to create a dataset repo, commit files (small files
inline, Parquet through the LFS "basic" transfer), tag commits and load the data back.

Why our own: the project's tests must push and load with the *real* clients, with no internet
and no mocks. Stdlib only, in memory, one thread per request in the test process, bound to
127.0.0.1. Adapted from ``shared/reference/minihub.py``.

The clients read their configuration when first imported, so the environment must be set
*before* anything imports ``huggingface_hub`` or ``datasets``. The reliable pattern, at the top
of ``tests/conftest.py`` (module level, not in a fixture)::

    from tests.hubserver import session_hub
    HUB = session_hub()  # one server for the session; exports hub_env() into os.environ

    @pytest.fixture(scope="session")
    def hub() -> HubServer:
        return HUB

In-process code may pass ``endpoint=hub.url`` to ``HfApi``/``hf_hub_download``; ``datasets``
has no such argument, so load datasets in a fresh subprocess with ``env=os.environ.copy()``.
A second, short-lived server (``with HubServer(require_token="hf_x") as url:``) works
in-process for anything that takes an explicit ``endpoint``.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["OFFLINE_VARS", "HubServer", "hub_env", "session_hub"]

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
"""Variables that must be *unset* for the clients to talk to the server."""

LOOPBACK = ("127.0.0.1", "localhost")  # ThreadingHTTPServer is IPv4
MAX_BODY = 256 * 1024 * 1024  # bytes per request; tests push kilobytes
REQUEST_TIMEOUT = 30.0  # seconds a client may keep a socket idle
LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".zip", ".gz", ".npy", ".png")
KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}
REPO_API = r"/api/(?P<kind>models|datasets|spaces)/(?P<rid>[^/]+/[^/]+)"
REPO_WEB = r"/(?:(?P<kind>datasets|spaces)/)?(?P<rid>[^/]+/[^/]+)"
USER = "tester"


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file, as the Hub reports it for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass(frozen=True)
class _File:
    data: bytes
    lfs_oid: str | None = None  # sha256 when stored through LFS

    def entry(self, path: str) -> dict[str, Any]:
        """The JSON the Hub returns for this file in tree and paths-info listings."""
        if self.lfs_oid is None:
            return {
                "type": "file",
                "path": path,
                "size": len(self.data),
                "oid": git_blob_sha1(self.data),
            }
        pointer = (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.lfs_oid}\n"
            f"size {len(self.data)}\n"
        ).encode()
        return {
            "type": "file",
            "path": path,
            "size": len(self.data),
            "oid": git_blob_sha1(pointer),
            "lfs": {"oid": self.lfs_oid, "size": len(self.data), "pointerSize": len(pointer)},
        }

    @property
    def oid(self) -> str:
        """What ``preupload`` reports as the remote oid (sha256 for LFS, git sha1 otherwise)."""
        return self.lfs_oid or git_blob_sha1(self.data)


@dataclass
class _Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, _File]


@dataclass
class _Repo:
    kind: str
    rid: str
    private: bool = False
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=_now)

    def resolve(self, rev: str) -> _Commit | None:
        sha = self.branches.get(rev) or self.tags.get(rev)
        if sha is None and re.fullmatch(r"[0-9a-f]{40}", rev):
            sha = rev
        return self.commits.get(sha) if sha else None

    def url_prefix(self) -> str:
        return "" if self.kind == "model" else f"{self.kind}s/"


@dataclass
class _State:
    require_token: bool | str
    repos: dict[tuple[str, str], _Repo] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    counter: int = 0

    def commit(
        self, repo: _Repo, branch: str, files: dict[str, _File], title: str, message: str = ""
    ) -> _Commit:
        self.counter += 1
        parent = repo.branches.get(branch)
        seed = json.dumps([repo.rid, parent, title, self.counter, sorted(files)]).encode()
        new = _Commit(hashlib.sha1(seed).hexdigest(), parent, title, message, _now(), files)
        repo.commits[new.oid] = new
        repo.branches[branch] = new.oid
        self.writes.append(f"commit {repo.rid}@{branch} {new.oid[:8]} {title}")
        return new


class _HubError(Exception):
    """Raised inside a handler to answer with a Hub-style error."""

    def __init__(self, status: int, message: str, code: str | None = None, **payload: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.payload = status, message, code, payload


def _card_data(commit: _Commit) -> dict[str, Any] | None:
    readme = commit.files.get("README.md")
    if readme is None:
        return None
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", readme.data.decode("utf-8", "replace"), re.DOTALL)
    if not match:
        return None
    import yaml  # a dependency of huggingface_hub

    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT
    state: _State  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ---------- plumbing ----------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise _HubError(413, f"request body over {MAX_BODY} bytes")
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return b""
        chunks, total = [], 0
        while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
            total += size
            if total > MAX_BODY:
                raise _HubError(413, f"request body over {MAX_BODY} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

    def _dispatch(self, method: str) -> None:
        self.method = method
        url = urlsplit(self.path)
        state = self.state
        with state.lock:
            state.requests.append((method, self.path))
            try:
                self.body = self._read_body()
                self._check_token(url.path)
                for methods, pattern, name in _ROUTES:
                    if method in methods and (match := re.fullmatch(pattern, url.path)):
                        handler: Callable[..., None] = getattr(self, name)
                        return handler(match, parse_qs(url.query))
                raise _HubError(404, f"hubserver: unsupported {method} {url.path}")
            except _HubError as e:
                headers = {"X-Error-Message": e.message}
                if e.code:
                    headers["X-Error-Code"] = e.code
                if e.status == 413:
                    self.close_connection = True  # the unread body would poison the connection
                self._send(e.status, {"error": e.message, **e.payload}, headers)
            except Exception as e:  # noqa: BLE001 - a server bug: answer 500, never hang the client
                traceback.print_exc(file=sys.stderr)
                self._send(500, {"error": repr(e)})

    def _check_token(self, path: str) -> None:
        wanted = self.state.require_token
        if not wanted or path.startswith("/_lfs/"):  # LFS hrefs act like pre-signed URLs
            return
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise _HubError(401, "Invalid username or password.")
        if isinstance(wanted, str) and auth[7:].strip() != wanted:
            raise _HubError(401, "Invalid credentials in Authorization header")

    def _send(
        self,
        status: int,
        payload: Any = None,
        headers: dict[str, Any] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = (
            raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        )
        self.send_response(status)
        if raw is None and payload is not None:
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.method != "HEAD":
            self.wfile.write(data)

    def _json(self) -> Any:
        return json.loads(self.body or b"{}")

    def _base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def _repo(self, match: re.Match[str]) -> _Repo:
        kind = KINDS[match["kind"] or "models"]
        repo = self.state.repos.get((kind, match["rid"]))
        if repo is None:
            raise _HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _rev(self, repo: _Repo, rev: str | None) -> _Commit:
        name = unquote(rev or "main")
        commit = repo.resolve(name)
        if commit is None:
            raise _HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
        return commit

    # ---------- account and repos ----------
    def whoami(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        self._send(
            200,
            {
                "type": "user",
                "name": USER,
                "fullname": "Tester",
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"role": "write", "displayName": "test"},
                },
            },
        )

    def agent_harnesses(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        self._send(200, {"standardEnvVars": [], "harnesses": {}})

    def validate_yaml(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        self._send(200, {"errors": [], "warnings": []})

    def create_repo(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        spec = self._json()
        kind = spec.get("type") or "model"
        rid = f"{spec.get('organization') or USER}/{spec['name']}"
        url = f"{self._base()}/{'' if kind == 'model' else kind + 's/'}{rid}"
        if (kind, rid) in self.state.repos:  # the real Hub also sends the url with its 409
            raise _HubError(409, "You already created this repo", url=url)
        repo = _Repo(
            kind, rid, private=spec.get("visibility") == "private" or bool(spec.get("private"))
        )
        self.state.repos[(kind, rid)] = repo
        self.state.writes.append(f"create {kind} {rid}")
        attributes = _File(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n")
        self.state.commit(repo, "main", {".gitattributes": attributes}, "initial commit")
        self._send(200, {"url": url, "name": rid, "id": rid})

    def delete_repo(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        spec = self._json()
        key = (spec.get("type") or "model", f"{spec.get('organization') or USER}/{spec['name']}")
        if self.state.repos.pop(key, None) is None:
            raise _HubError(404, "Repository not found", "RepoNotFound")
        self.state.writes.append(f"delete {key[0]} {key[1]}")
        self._send(200, {})

    def repo_info(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(match)
        commit = self._rev(repo, match["rev"])
        self._send(
            200,
            {
                "id": repo.rid,
                "_id": repo.rid,
                "author": repo.rid.split("/")[0],
                "sha": commit.oid,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "createdAt": repo.created,
                "lastModified": commit.date,
                "cardData": _card_data(commit),
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            },
        )

    # ---------- reading a revision ----------
    def tree(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        commit = self._rev(self._repo(match), match["rev"])
        sub = unquote(match["sub"] or "").strip("/")
        if sub and not any(p == sub or p.startswith(sub + "/") for p in commit.files):
            raise _HubError(404, f"{sub} does not exist", "EntryNotFound")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        base = sub + "/" if sub else ""
        files, folders = [], set()
        for path in sorted(commit.files):
            if not path.startswith(base):
                continue
            parts = path[len(base) :].split("/")
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                folders.add(base + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                files.append(commit.files[path].entry(path))
        dirs = [
            {"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest()}
            for d in sorted(folders)
        ]
        self._send(200, dirs + files)

    def paths_info(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        commit = self._rev(self._repo(match), match["rev"])
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = self._json().get("paths", [])
        else:
            paths = parse_qs(self.body.decode()).get("paths", [])
        out: list[dict[str, Any]] = []
        for path in (p.strip("/") for p in paths):
            if path in commit.files:
                out.append(commit.files[path].entry(path))
            elif path == "" or any(f.startswith(path + "/") for f in commit.files):
                out.append(
                    {
                        "type": "directory",
                        "path": path,
                        "oid": hashlib.sha1(path.encode()).hexdigest(),
                    }
                )
        self._send(200, out)

    def refs(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(match)

        def listing(kind: str, refs: dict[str, str]) -> list[dict[str, str]]:
            return [
                {"name": k, "ref": f"refs/{kind}/{k}", "targetCommit": v} for k, v in refs.items()
            ]

        self._send(
            200,
            {
                "branches": listing("heads", repo.branches),
                "tags": listing("tags", repo.tags),
                "converts": [],
                "pullRequests": [],
            },
        )

    def commits(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(match)
        commit: _Commit | None = self._rev(repo, match["rev"])
        out = []
        while commit is not None:
            out.append(
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": commit.message,
                    "date": commit.date,
                    "authors": [{"user": USER}],
                }
            )
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self._send(200, out)

    def resolve(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        commit = self._rev(self._repo(match), match["rev"])
        path = unquote(match["path"])
        stored = commit.files.get(path)
        if stored is None:
            raise _HubError(
                404, f"{path} does not exist on {unquote(match['rev'])}", "EntryNotFound"
            )
        data = stored.data
        etag = stored.lfs_oid or git_blob_sha1(data)
        headers: dict[str, Any] = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if stored.lfs_oid:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": len(data)})
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", (self.headers.get("Range") or "").strip())
        if wanted is None:
            return self._send(200, raw=data, headers=headers)
        if wanted[1] == "":
            start, end = max(0, len(data) - int(wanted[2] or 0)), len(data) - 1
        else:
            start, end = (
                int(wanted[1]),
                min(int(wanted[2]) if wanted[2] else len(data) - 1, len(data) - 1),
            )
        if start >= len(data) > 0:
            return self._send(416, raw=b"", headers={"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(206, raw=data[start : end + 1], headers=headers)

    # ---------- writing ----------
    def preupload(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(match)
        head = repo.resolve(unquote(match["rev"]))
        out = []
        for spec in self._json()["files"]:
            sample = base64.b64decode(spec.get("sample", ""))
            lfs = (
                spec["size"] > 10 * 1024 * 1024
                or b"\0" in sample
                or spec["path"].endswith(LFS_SUFFIXES)
            )
            previous = head.files.get(spec["path"]) if head else None
            out.append(
                {
                    "path": spec["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": previous.oid if previous else None,
                }
            )
        self._send(200, {"files": out, "commitOid": head.oid if head else None})

    def commit(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(match)
        branch = unquote(match["rev"])
        lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        header: dict[str, Any] = next(
            (line["value"] for line in lines if line["key"] == "header"), {}
        )
        if branch not in repo.branches:
            self._rev(repo, branch)
            raise _HubError(400, "Can only commit to a branch")
        parent = repo.commits[repo.branches[branch]]
        if header.get("parentCommit") and header["parentCommit"] != parent.oid:
            raise _HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(parent.files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = _File(base64.b64decode(value["content"]))
            elif key == "lfsFile":
                if value["oid"] not in self.state.lfs:
                    raise _HubError(400, f"LFS object {value['oid']} was not uploaded")
                files[value["path"]] = _File(self.state.lfs[value["oid"]], value["oid"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise _HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for path in [p for p in files if p.startswith(prefix)]:
                    del files[path]
        new = self.state.commit(
            repo, branch, files, header.get("summary", ""), header.get("description", "")
        )
        self._send(
            200,
            {
                "success": True,
                "commitOid": new.oid,
                "pullRequestUrl": None,
                "commitUrl": f"{self._base()}/{repo.url_prefix()}{repo.rid}/commit/{new.oid}",
                "commitMessage": new.title,
            },
        )

    def create_ref(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(match)
        spec = self._json()
        if match["ref"] == "tag":
            name, refs, commit = spec["tag"], repo.tags, self._rev(repo, match["name"])
        else:
            name, refs = unquote(match["name"]), repo.branches
            commit = self._rev(repo, spec.get("startingPoint"))
        if name in refs:
            raise _HubError(
                409, f"{'Tag' if refs is repo.tags else 'Branch'} {name} already exists"
            )
        refs[name] = commit.oid
        self.state.writes.append(f"{match['ref']} {repo.rid} {name} -> {commit.oid[:8]}")
        self._send(200, {})

    def delete_ref(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        repo = self._repo(match)
        refs = repo.tags if match["ref"] == "tag" else repo.branches
        name = unquote(match["name"])
        if refs.pop(name, None) is None:
            raise _HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
        self.state.writes.append(f"delete {match['ref']} {repo.rid} {name}")
        self._send(200, {})

    def xet_token(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        raise _HubError(
            404,
            "hubserver does not speak Xet: set HF_HUB_DISABLE_XET=1 before importing "
            "huggingface_hub (see hub_env)",
        )

    # ---------- LFS (basic transfer) ----------
    def lfs_batch(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        self._repo(match)
        spec = self._json()
        objects = []
        for obj in spec["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if spec["operation"] == "upload" and obj["oid"] not in self.state.lfs:
                href = f"{self._base()}/_lfs/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href}, "verify": {"href": href + "/verify"}}
            objects.append(entry)
        self._send(
            200,
            {"transfer": "basic", "objects": objects},
            {"Content-Type": "application/vnd.git-lfs+json"},
        )

    def lfs_put(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        if hashlib.sha256(self.body).hexdigest() != match["oid"]:
            raise _HubError(400, "sha256 mismatch")
        self.state.lfs[match["oid"]] = self.body
        self.state.writes.append(f"lfs {match['oid'][:12]} {len(self.body)} bytes")
        self._send(200, {})

    def lfs_verify(self, match: re.Match[str], query: dict[str, list[str]]) -> None:
        self._send(200 if match["oid"] in self.state.lfs else 404, {})


_Route = tuple[tuple[str, ...], str, str]
_ROUTES: list[_Route] = [
    (("GET",), r"/api/whoami-v2", "whoami"),
    (("GET",), r"/api/agent-harnesses", "agent_harnesses"),
    (("POST",), r"/api/validate-yaml", "validate_yaml"),
    (("POST",), r"/api/repos/create", "create_repo"),
    (("DELETE",), r"/api/repos/delete", "delete_repo"),
    (("GET", "HEAD"), REPO_API + r"(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
    (("GET",), REPO_API + r"/tree/(?P<rev>[^/]+)(?P<sub>/.*)?", "tree"),
    (("POST",), REPO_API + r"/paths-info/(?P<rev>[^/]+)", "paths_info"),
    (("GET",), REPO_API + r"/refs", "refs"),
    (("GET",), REPO_API + r"/commits/(?P<rev>[^/]+)", "commits"),
    (("POST",), REPO_API + r"/preupload/(?P<rev>[^/]+)", "preupload"),
    (("POST",), REPO_API + r"/commit/(?P<rev>[^/]+)", "commit"),
    (("POST",), REPO_API + r"/(?P<ref>tag|branch)/(?P<name>[^/]+)", "create_ref"),
    (("DELETE",), REPO_API + r"/(?P<ref>tag|branch)/(?P<name>[^/]+)", "delete_ref"),
    (("GET",), REPO_API + r"/xet-(?:read|write)-token/.*", "xet_token"),
    (("POST",), REPO_WEB + r"\.git/info/lfs/objects/batch", "lfs_batch"),
    (("PUT",), r"/_lfs/(?P<oid>[0-9a-f]{64})", "lfs_put"),
    (("POST",), r"/_lfs/(?P<oid>[0-9a-f]{64})/verify", "lfs_verify"),
    (("GET", "HEAD"), REPO_WEB + r"/(?:resolve|raw)/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
]


class HubServer:
    """An in-memory Hub on 127.0.0.1, serving from a daemon thread.

    ``with HubServer() as url:`` starts and stops it; ``HubServer().start()`` keeps it for the
    session. ``require_token=True`` answers 401 to requests without ``Authorization: Bearer``;
    a string also rejects any other token. ``writes`` lists every change made to the store
    (repo created, commit, tag, LFS object), so a test can prove a call wrote nothing.
    """

    def __init__(
        self, *, require_token: bool | str = False, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"hubserver binds loopback addresses only, not {host!r}")
        self._state = _State(require_token=require_token)
        handler = type("Handler", (_Handler,), {"state": self._state})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._httpd.server_address[1]}"

    def start(self) -> HubServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="hubserver", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> str:
        self.start()
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def writes(self) -> list[str]:
        """One line per change to the store, oldest first."""
        with self._state.lock:
            return list(self._state.writes)

    def writes_to(self, repo_id: str) -> list[str]:
        """The writes that name ``repo_id`` (LFS uploads are not tied to a repo)."""
        return [w for w in self.writes if f" {repo_id}" in w]


def hub_env(
    url: str, *, home: str | os.PathLike[str], token: str | None = "hf_test_token"
) -> dict[str, str]:
    """The environment that points huggingface_hub and datasets at ``url``.

    Apply it before they are imported (they read it at import time) and also unset
    ``OFFLINE_VARS``. ``home`` becomes HF_HOME (caches and the token file; keep it per session).
    """
    env = {
        "HF_ENDPOINT": url,
        "HF_HOME": os.fspath(home),
        "HF_HUB_DISABLE_XET": "1",  # the server speaks LFS only
        "HF_HUB_DISABLE_TELEMETRY": "1",  # no user-agent look-ups against the endpoint
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ETAG_TIMEOUT": "10",
        "HF_HUB_DOWNLOAD_TIMEOUT": "30",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    return env


_SESSION: HubServer | None = None


def session_hub() -> HubServer:
    """Start the session's server once and export its ``hub_env`` into ``os.environ``.

    Call it at module level in ``tests/conftest.py`` (or first thing in a test module) so that
    it runs before anything imports huggingface_hub or datasets; raises if they were imported
    already with another endpoint, since they would then talk to the wrong host.
    """
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    hub = HubServer().start()
    home = tempfile.mkdtemp(prefix="corpus-registry-hf-")
    os.environ.update(hub_env(hub.url, home=home))
    for name in OFFLINE_VARS:
        os.environ.pop(name, None)
    atexit.register(shutil.rmtree, home, True)
    atexit.register(hub.stop)
    _SESSION = hub
    stale = _imported_endpoints()
    if any(endpoint != hub.url for endpoint in stale.values()):
        raise RuntimeError(
            f"{', '.join(stale)} imported before session_hub() set HF_ENDPOINT={hub.url}: "
            "call session_hub() at the top of tests/conftest.py, before any Hub client import"
        )
    return hub


def _imported_endpoints() -> dict[str, str]:
    found: dict[str, str] = {}
    readers: dict[str, Callable[[Any], str]] = {
        "huggingface_hub.constants": lambda m: m.ENDPOINT,
        "datasets.config": lambda m: m.HF_ENDPOINT,
    }
    for name, read in readers.items():
        if (module := sys.modules.get(name)) is not None:
            found[name] = read(module).rstrip("/")
    return found


if __name__ == "__main__":  # python tests/hubserver.py [PORT]: a standalone server for manual tries
    server = HubServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(server.url, flush=True)
    try:
        server.start()._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        server.stop()
