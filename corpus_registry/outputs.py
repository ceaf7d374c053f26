"""Writing outputs without losing anything: every command that writes a file or a folder goes here.

An output is written beside its destination, in a hidden temporary sibling in the same folder
(so that the final move is one rename on the same file system), and moved into place only once
it is complete: an interrupted or failed command leaves the destination as it was. Destinations
are checked before the work starts (:func:`check_file`, :class:`StagedFolder`), so long work
never ends on "cannot write". Nothing is deleted that the tool did not write: a folder is
replaced only when the caller's ``owned`` check says every file in it is the tool's own, and the
old folder is set aside until the new one is committed, so a failure puts it back.

Temporary siblings are named ``.NAME.partial-HOST-PID-RANDOM`` (and ``.NAME.old-…`` for a folder
being replaced): a later run on the same host removes those of processes that are gone (a
killed build), and puts back an old folder whose replacement never arrived.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from corpus_registry.errors import OutputError

__all__ = ["StagedFolder", "check_file", "replacing_file", "write_file"]

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _sibling(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{kind}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def check_file(path: Path, *, what: str = "output file") -> Path:
    """Fail now, before any work, unless a file can be written at ``path``: its folder exists and
    takes a new file, and ``path`` is not a folder. Writes nothing that stays."""
    path = Path(path)
    if path.name in ("", ".", "..") or path.is_dir():
        raise OutputError(f"{path}: is a folder; the {what} must be a file path", path=str(path),
                          hint="name a file, e.g. report.html")
    folder = path.parent
    if not folder.is_dir():
        problem = "does not exist" if not folder.exists() else "is not a folder"
        raise OutputError(f"{path}: the folder {folder} {problem}", path=str(path),
                          hint="create the folder first, or choose another path")
    probe = _sibling(path, "probe")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {folder} ({_why(e)})", path=str(path),
                          hint="choose a folder you can write to") from e
    return path


@contextmanager
def replacing_file(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` for the caller to write; moved onto ``path`` when the block
    ends without error, removed otherwise (``path`` is then untouched)."""
    path = Path(path)
    tmp = _sibling(path, "partial")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({_why(e)})", path=str(path)) from e
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_file(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary sibling."""
    with replacing_file(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


class StagedFolder:
    """A folder written beside ``dest`` and moved into place at the end (``build --out``).

    Creating it is the check that ``dest`` can be written, before any work. ``dest`` may be new,
    an empty folder, or a folder that ``owned(folder)`` accepts: it raises :class:`OutputError`
    unless every file in the folder is the tool's own (it runs again just before the swap, in
    case the folder changed meanwhile). A symbolic link is followed to its target folder.

    Use it as a context manager: write into :attr:`path`, then :meth:`commit` (or :meth:`discard`
    to keep ``dest`` as it is); the replaced folder is deleted when the block ends, and on an
    error everything is put back as it was (:meth:`rollback`). ``commit`` is called at the end of
    the block if the caller did neither.
    """

    def __init__(self, dest: Path, *, owned: Callable[[Path], object]) -> None:
        self.given = Path(dest)
        self.dest = self.given.resolve()
        self.owned = owned
        self._backup: Path | None = None
        self._created: list[Path] = []
        self._state = "open"
        here = Path.cwd().resolve()
        if self.dest == here or self.dest in here.parents:
            raise OutputError(f"{dest}: is the current folder or one that holds it; a release replaces "
                              "the whole folder", path=str(dest), hint="choose a new folder, e.g. out/NAME")
        if self.dest.exists() and not self.dest.is_dir():
            raise OutputError(f"{dest}: exists and is not a folder", path=str(dest),
                              hint="choose a new or empty folder")
        _clean_stale(self.dest)
        if self._occupied():
            owned(self.dest)
        try:
            for folder in reversed([p for p in self.dest.parents if not p.exists()]):
                folder.mkdir()
                self._created.append(folder)
            self.path = _sibling(self.dest, "partial")
            self.path.mkdir()
        except OSError as e:
            self._remove_created()
            raise OutputError(f"{dest}: cannot write there ({_why(e)})", path=str(dest),
                              hint="choose a folder you can write to") from e

    def _occupied(self) -> bool:
        try:
            return self.dest.is_dir() and any(self.dest.iterdir())
        except OSError as e:
            raise OutputError(f"{self.given}: cannot read the folder ({_why(e)})", path=str(self.given)) from e

    def commit(self) -> None:
        """Move the written folder into place; the folder it replaces is set aside until the end."""
        if self._state != "open":
            return
        try:
            if os.path.lexists(self.dest):
                if self._occupied():
                    self.owned(self.dest)
                backup = _sibling(self.dest, "old")
                os.rename(self.dest, backup)
                self._backup = backup
            os.rename(self.path, self.dest)
        except OSError as e:
            if self._backup is not None and not os.path.lexists(self.dest):
                os.rename(self._backup, self.dest)
                self._backup = None
            raise OutputError(f"{self.given}: cannot move the new folder into place ({_why(e)})",
                              path=str(self.given)) from e
        self._state = "committed"

    def discard(self) -> None:
        """Keep ``dest`` as it is (for instance: it already holds exactly what was written)."""
        if self._state == "open":
            self._state = "discarded"

    def rollback(self) -> None:
        """Undo: the written folder is removed and a replaced folder put back."""
        if self._state == "committed":
            os.rename(self.dest, self.path)
            if self._backup is not None:
                os.rename(self._backup, self.dest)
                self._backup = None
        self._remove(self.path)
        self._remove_created()
        self._state = "rolled back"

    def _finish(self) -> None:
        if self._backup is not None:
            self._remove(self._backup)
            self._backup = None
        self._remove(self.path)

    @staticmethod
    def _remove(folder: Path) -> None:
        """Remove a folder this object created (workers may still be closing files in it)."""
        for _ in range(3):
            if not os.path.lexists(folder):
                return
            shutil.rmtree(folder, ignore_errors=True)

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break

    def __enter__(self) -> StagedFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if error is not None:
            self.rollback()
            return
        try:
            self.commit()
        except BaseException:
            self.rollback()
            raise
        self._finish()


_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>partial|old)-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]{8}$")


def _clean_stale(dest: Path) -> None:
    """Remove the temporary siblings of ``dest`` left by dead processes of this host; put back a
    folder that was set aside for a replacement that never arrived."""
    import psutil

    try:
        siblings = list(dest.parent.iterdir()) if dest.parent.is_dir() else []
    except OSError:
        return
    for path in siblings:
        m = _STALE.match(path.name)
        if not m or m["name"] != dest.name or m["host"] != _HOST or psutil.pid_exists(int(m["pid"])):
            continue
        if m["kind"] == "old" and not os.path.lexists(dest):
            os.rename(path, dest)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
