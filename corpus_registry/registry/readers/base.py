"""What every reader shares: the ``Reader`` interface, option models, file discovery.

A reader turns one source's files into a stream of :class:`RawDocument`, one at a time (or a
bounded batch for columnar formats), so ingest never holds a corpus in memory. Readers count
what they yield and what they skip in ``stats`` so the ingest funnel can show it.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.encoding import (
    AUTO,
    HEAD_BYTES,
    Decoded,
    binary_kind,
    canonical_encoding,
    decode_text,
)
from corpus_registry.registry.readers.urls import check_url_template, render_url


class ReaderOptions(BaseModel):
    """Options every reader accepts. ``path`` is resolved against the sources file's folder and
    must stay inside it (symlinks resolved) unless ``allow_outside`` says otherwise;
    ``url_template`` (written at the source level in ``sources.yaml``) gives a URL to every
    document the reader finds none for (:mod:`.urls`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    skip_empty: bool = False
    allow_outside: bool = False
    url_template: str | None = None

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else check_url_template(value)


class FileSetOptions(ReaderOptions):
    """Options of readers that visit the files under ``path`` (or ``path`` itself if a file).

    ``glob`` selects files (one pattern or several), ``exclude`` drops files whose relative
    path matches one of its patterns (matched from the right: ``SOURCE.md`` drops it anywhere).
    """

    glob: str | list[str] = "**/*"
    exclude: list[str] = Field(default_factory=list)
    follow_symlinks: bool = False  # read files whose real path is outside ``path`` (else: skipped, counted)


class FileOptions(FileSetOptions):
    """Options of readers that decode text files; ``encodings`` overrides per relative path."""

    encoding: str = AUTO
    encodings: dict[str, str] = Field(default_factory=dict)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value != AUTO:
            canonical_encoding(value)
        return value

    @field_validator("encodings")
    @classmethod
    def _known_encodings(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            canonical_encoding(name)
        return value


class Reader(ABC):
    """A streaming source of documents; construct through :func:`get_reader`."""

    kind: ClassVar[str]
    Options: ClassVar[type[ReaderOptions]]

    def __init__(self, options: ReaderOptions, *, base_dir: Path) -> None:
        self.options = options
        self.base_dir = base_dir
        self.root = options.path if options.path.is_absolute() else base_dir / options.path
        self.stats: Counter[str] = Counter()
        self.partition: tuple[int, int] = (0, 1)

    def partitioned(self, index: int, count: int) -> Reader:
        """Read only partition ``index`` of ``count`` (files, lines or rows dealt round-robin),
        so ``count`` workers can share a source without reading the same unit twice."""
        if not 0 <= index < count:
            raise ValueError(f"partition {index} of {count}")
        self.partition = (index, count)
        return self

    def _mine(self, unit: int) -> bool:
        """True when the ``unit``-th file/line/row (0-based) belongs to this reader's partition."""
        index, count = self.partition
        return count == 1 or unit % count == index

    @abstractmethod
    def read(self) -> Iterator[RawDocument]:
        """Yield the source's documents (of this partition) in a deterministic order."""

    def identifiers(self) -> Iterator[tuple[str, str]]:
        """``(identifier, where)`` of this partition's documents, in reading order, reading as
        little as the reader can (file names, an id column): ingest checks them for duplicates
        before it writes anything. Readers override it to skip the texts."""
        for document in self.read():
            yield document.identifier, document.path or "record"

    @abstractmethod
    def describe(self) -> str:
        """One line for humans, e.g. ``gutenberg: 9 files under data/gutenberg-fr``."""

    def check_inside(self) -> None:
        """ConfigError unless ``path`` (symlinks resolved) is inside the sources file's folder, or the
        source allows it with ``allow_outside: true``."""
        if self.options.allow_outside:
            return
        folder = self.base_dir.resolve()
        if not self.root.resolve().is_relative_to(folder):
            raise ConfigError(
                f"{self.kind} reader: option 'path': {self.options.path} is outside {folder} "
                "(the folder of the sources file)",
                hint="move the data under that folder, or set 'allow_outside: true' in the reader options",
                field="path", reader=self.kind)

    def _require_root(self) -> None:
        if not self.root.exists():
            raise ReaderError(
                f"{self.kind}: {self.options.path} not found (resolved to {self.root})",
                hint="fix 'path' in the source's reader options; relative paths start at "
                "the folder of the sources file",
                file=str(self.root),
            )

    def _keep(self, document: RawDocument, *, where: str) -> bool:
        """Apply ``skip_empty`` (an empty document is an error unless the user allowed it) and
        ``url_template`` (to a document without a URL of its own)."""
        if document.text.strip():
            self.stats["documents"] += 1
            if document.url is None and self.options.url_template is not None:
                document.url = render_url(self.options.url_template, document, where=where)
            return True
        if self.options.skip_empty:
            self.stats["skipped_empty"] += 1
            return False
        raise ReaderError(
            f"{where}: document {document.identifier!r} is empty",
            hint="set 'skip_empty: true' in the reader options to skip empty documents",
            file=where,
        )


class FileSetReader(Reader):
    """A reader over the files under ``path`` (or ``path`` itself), visited in sorted order."""

    options: FileSetOptions

    def files(self) -> list[tuple[Path, str]]:
        """``(absolute path, POSIX path relative to root)`` in sorted order."""
        self._require_root()
        if self.root.is_file():
            return [(self.root, self.root.name)]
        patterns = [self.options.glob] if isinstance(self.options.glob, str) else self.options.glob
        found: dict[str, Path] = {}
        outside: set[str] = set()
        real_root = self.root.resolve()
        for pattern in patterns:
            for file in self.root.glob(pattern):
                relpath = file.relative_to(self.root).as_posix()
                if not file.is_file() or self._excluded(relpath):
                    continue
                if not self.options.follow_symlinks and not file.resolve().is_relative_to(real_root):
                    outside.add(relpath)  # a symlink (of the file or a folder on its way) leading outside
                    continue
                found[relpath] = file
        if outside and self.partition[0] == 0:  # counted once, however many partitions list the files
            self.stats["skipped_symlink_outside"] += len(outside)
        return [(found[relpath], relpath) for relpath in sorted(found)]

    def _excluded(self, relpath: str) -> bool:
        pure = PurePosixPath(relpath)
        return any(pure.match(pattern) for pattern in self.options.exclude)

    def describe(self) -> str:
        try:
            count = len(self.files())
        except ReaderError:
            return f"{self.kind}: {self.options.path} (not found)"
        noun = "file" if count == 1 else "files"
        return f"{self.kind}: {count} {noun} under {self.options.path}"

    def _resolve_encodings(self, encodings: dict[str, str], relpaths: list[str]) -> dict[str, str]:
        """Per-file encodings keyed by relative path; a key without ``/`` may also name a
        file by its base name when exactly one file has it (``swedish.txt``)."""
        resolved: dict[str, str] = {}
        known = set(relpaths)
        by_name: dict[str, list[str]] = {}
        for relpath in relpaths:
            by_name.setdefault(PurePosixPath(relpath).name, []).append(relpath)
        for key, encoding in encodings.items():
            if key in known:
                resolved[key] = encoding
                continue
            matches = by_name.get(key, []) if "/" not in key else []
            if len(matches) != 1:
                found = "matches several files" if matches else "matches no file"
                example = matches[0] if matches else (relpaths[0] if relpaths else "dir/a.txt")
                raise ReaderError(
                    f"{self.kind}: encodings key {key!r} {found} under {self.options.path}",
                    hint=f"keys are paths relative to 'path' in POSIX form, e.g. {example!r}",
                    field="encodings",
                )
            resolved.setdefault(matches[0], encoding)
        return resolved


class FileReader(FileSetReader):
    """A reader with one document per file."""

    options: FileOptions

    def __init__(self, options: FileOptions, *, base_dir: Path) -> None:
        super().__init__(options, base_dir=base_dir)
        self._encodings: dict[str, str] = dict(options.encodings)

    def read(self) -> Iterator[RawDocument]:
        files = self.files()
        self._encodings = self._resolve_encodings(
            self.options.encodings, [relpath for _, relpath in files]
        )
        self.prepare(files)
        for unit, (file, relpath) in enumerate(self._text_files(files)):
            if not self._mine(unit):
                continue
            self.stats["files"] += 1
            document = self.read_file(file, relpath=relpath)
            if self._keep(document, where=relpath):
                yield document

    def identifiers(self) -> Iterator[tuple[str, str]]:
        files = self.files()
        self._encodings = self._resolve_encodings(self.options.encodings, [relpath for _, relpath in files])
        self.prepare(files)
        for unit, (file, relpath) in enumerate(self._text_files(files)):
            if self._mine(unit):
                yield self.identifier_for(file, relpath=relpath), relpath

    def _text_files(self, files: list[tuple[Path, str]]) -> Iterator[tuple[Path, str]]:
        """The files that are text: one that starts like an image, an archive or other binary data
        is skipped and counted (``skipped_binary``), never ingested as text."""
        for file, relpath in files:
            try:
                with file.open("rb") as f:
                    head = f.read(HEAD_BYTES)
            except OSError as e:
                raise ReaderError(f"{relpath}: cannot read ({e.strerror})", file=str(file)) from e
            if binary_kind(head, encoding=self._encodings.get(relpath, self.options.encoding)) is not None:
                if self.partition[0] == 0:
                    self.stats["skipped_binary"] += 1
                continue
            yield file, relpath

    def prepare(self, files: list[tuple[Path, str]]) -> None:
        """Hook run once with the file list before reading (nothing by default)."""

    def identifier_for(self, file: Path, *, relpath: str) -> str:
        """The document identifier of ``file``, without reading its text."""
        return default_identifier(relpath)

    def read_file(self, file: Path, *, relpath: str) -> RawDocument:
        """Turn one file into one document: its decoded text, titled by :meth:`title`."""
        decoded = self.decode(file, relpath=relpath)
        extra: dict[str, object] = {"encoding": decoded.encoding}
        if decoded.replaced:
            extra["replaced_bytes"] = decoded.replaced
        return RawDocument(
            identifier=self.identifier_for(file, relpath=relpath),
            text=decoded.text,
            title=self.title(decoded.text),
            path=relpath,
            extra=extra,
        )

    def title(self, text: str) -> str | None:
        """The document's title: its first non-empty line unless a reader knows better."""
        return first_line(text)

    def decode(self, file: Path, *, relpath: str) -> Decoded:
        """The file's text and the encoding used (per-file override, then reader default); invalid
        UTF-8 sequences replaced are counted in ``stats`` (``replaced_bytes``, ``files_with_replaced_bytes``)."""
        encoding = self._encodings.get(relpath, self.options.encoding)
        try:
            data = file.read_bytes()
        except OSError as e:
            raise ReaderError(f"{relpath}: cannot read ({e.strerror})", file=str(file)) from e
        decoded = decode_text(data, path=relpath, encoding=encoding)
        del data  # the bytes of a long file are not kept beside its text
        if decoded.replaced:
            self.stats["replaced_bytes"] += decoded.replaced
            self.stats["files_with_replaced_bytes"] += 1
        return decoded


def default_identifier(relpath: str) -> str:
    """``genesis/finnish.txt`` -> ``genesis/finnish``: the relative path without extension."""
    return PurePosixPath(relpath).with_suffix("").as_posix()


_TITLE_START = re.compile(r"[^\s\ufeff]")
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_TITLE_END = re.compile(r"[\s\ufeff]+$")


def first_line(text: str, *, limit: int = 200) -> str | None:
    """First non-empty line, stripped and cut to ``limit`` characters (a fallback title).

    Found by searching, not by splitting the text into lines: a text of one 100 MB line costs
    ``limit`` characters, not a copy of itself."""
    found = _TITLE_START.search(text)
    if found is None:
        return None
    start = found.start()
    brk = _LINE_BREAK.search(text, start)
    end = brk.start() if brk else len(text)
    if end - start > limit and _TITLE_START.search(text, start + limit, end):
        return text[start : start + limit]  # the line goes on past the cut: its first ``limit`` characters
    return _TITLE_END.sub("", text[start : min(end, start + limit)])
