"""What an audit reads: a release folder, Parquet/JSONL files (a folder or glob of them) or a Hub
dataset repo, resolved to local files and streamed in bounded batches.

Parquet is read record batch by record batch (only the columns an audit needs), JSONL line by
line; a Hub repo is downloaded at the asked revision (``snapshot_download``, files land in the
Hub cache on disk) and then read like a local folder. Nothing holds a whole dataset in memory.

To spread an audit over workers, :func:`plan_slices` cuts the files into :class:`Slice` s, in row
order: Parquet at row-group boundaries (rows ``[start, stop)``), JSONL at line boundaries (bytes
``[start, stop)`` and the number of the first line, found by one scan of the file). A slice is a
few numbers: whoever audits it reads its rows itself, so texts never travel between processes.
A gzipped JSONL file cannot be entered in the middle and stays one slice.

Licence labels are read where :mod:`corpus_registry.audit.labels` finds them (a ``license`` column,
a named dotted path, or dolma's ``metadata.license`` in ``*.json.gz`` / ``*.jsonl`` / Parquet files);
a file whose labels are in a named or recognised field promises one on every row
(:attr:`Batch.license_field`).
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from corpus_registry.audit.labels import LICENSE_COLUMNS, jsonl_license_field, parquet_license_field
from corpus_registry.build.markdown import CODE_SPAN, code_span_text, unescape
from corpus_registry.build.release import ATTRIBUTION, CARD, CROISSANT, DOLMA_DIR, MANIFEST, REMOVED
from corpus_registry.errors import AuditError
from corpus_registry.registry.readers.parquet import DAMAGED
from corpus_registry.registry.readers.records import columns_for, get_field

#: Columns an audit reads, with the names other datasets commonly give them.
COLUMNS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "identifier": ("identifier", "id"),
    "source": ("source",),
    "license": LICENSE_COLUMNS,
    "sha256": ("sha256",),
    "language": ("language", "lang"),
    "word_count": ("word_count",),
    "token_count": ("token_count",),
}
DATA_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json.gz")
HUB_PATTERNS = ("*.parquet", "*.jsonl", "*.jsonl.gz", "*.json.gz", CARD, ATTRIBUTION, MANIFEST, CROISSANT, REMOVED)
_HF_URL = re.compile(r"^hf://datasets/(?P<repo>[^/@\s]+/[^/@\s]+)(?:@(?P<rev>[^/\s]+))?(?:/(?P<path>.*))?$")
_CREDIT = re.compile(rf"^\s*[-*]\s+(?P<span>{CODE_SPAN})")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_GZ_BYTES_PER_ROW = 150  # a guess for .jsonl.gz files (not scanned): ~600-byte rows, 4x compression


@dataclass(slots=True)
class Target:
    """A resolved audit target: the data files, plus the card/attribution/manifest beside them."""

    label: str
    kind: str  # release | files | hub
    files: list[Path]
    root: Path | None = None
    revision: str | None = None
    commit: str | None = None
    display: dict[Path, str] = field(default_factory=dict)
    whole: bool = True  # False: part of a Hub repo was fetched (a sub-path), so its release cannot be checked

    def _meta(self, name: str) -> Path | None:
        if self.root is None:
            return None
        path = self.root / name
        return path if path.is_file() else None

    @property
    def card(self) -> Path | None:
        return self._meta(CARD)

    @property
    def attribution(self) -> Path | None:
        return self._meta(ATTRIBUTION)

    @property
    def manifest(self) -> Path | None:
        return self._meta(MANIFEST)

    @property
    def croissant(self) -> Path | None:
        return self._meta(CROISSANT)

    def name_of(self, path: Path) -> str:
        """How a file is named in the report: relative to the target root when there is one."""
        if path in self.display:
            return self.display[path]
        if self.root is not None:
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return str(path)



@dataclass(slots=True)
class Batch:
    """Up to ``batch_size`` rows of one file, column-wise; absent columns are None."""

    file: str
    start: int  # 1-based number of the first row in its file
    text: list[str]
    identifier: list[Any] | None = None
    source: list[Any] | None = None
    license: list[Any] | None = None
    sha256: list[Any] | None = None
    language: list[Any] | None = None
    word_count: list[Any] | None = None
    token_count: list[Any] | None = None
    lines: list[int] | None = None  # JSONL: the line number of each row
    license_field: str | None = None  # the field that must hold every row's licence label, if the file has one

    def where(self, i: int) -> str:
        """``file row N`` (Parquet) or ``file:LINE`` (JSONL) of the i-th row of the batch."""
        if self.lines is not None:
            return f"{self.file}:{self.lines[i]}"
        return f"{self.file} row {self.start + i}"

    def __len__(self) -> int:
        return len(self.text)


def resolve_target(target: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                   revision: str | None = None, endpoint: str | None = None,
                   token: str | None = None) -> Target:
    """Turn what the user named into local files (downloading a Hub repo first)."""
    items = [target] if isinstance(target, (str, os.PathLike)) else list(target)
    if not items:
        raise AuditError("nothing to audit", hint="name a release folder, Parquet/JSONL files or hf://datasets/OWNER/NAME")
    if len(items) == 1 and str(items[0]).startswith("hf://"):
        return _hub_target(str(items[0]), revision=revision, endpoint=endpoint, token=token)
    if revision is not None:
        raise AuditError("--revision applies to Hub targets only",
                         hint="use hf://datasets/OWNER/NAME or --hub OWNER/NAME with --revision")
    if len(items) == 1 and Path(items[0]).is_dir():
        return _folder_target(Path(items[0]), label=str(items[0]))
    files: list[Path] = []
    for item in items:
        text = str(item)
        if text.startswith("hf://"):
            raise AuditError(f"{text}: audit one Hub repo at a time, without local files beside it")
        path = Path(text)
        if path.is_dir():
            files += _data_files(path)
        elif path.is_file():
            files.append(path)
        elif glob.has_magic(text):
            matched = sorted(Path(p) for p in glob.glob(text, recursive=True)
                             if _is_data(Path(p)) and not _side_file(Path(p)))
            if not matched:
                raise AuditError(f"{text}: no Parquet or JSONL file matches this pattern")
            files += matched
        else:
            raise AuditError(f"{text}: no such file or folder",
                             hint="name a release folder, Parquet/JSONL files or hf://datasets/OWNER/NAME")
    for f in files:
        if _side_file(f):
            raise AuditError(f"{f}: a release's list of the candidates it removed, not rows to audit",
                             hint=f"audit the release folder {f.parent}: its {REMOVED} is checked against the manifest")
        if not _is_data(f):
            raise AuditError(f"{f}: not a Parquet or JSONL file (expected {', '.join(DATA_SUFFIXES)})")
    files = list(dict.fromkeys(files))
    return Target(label=" ".join(map(str, items)), kind="files", files=files, root=_release_root(files))


def _is_data(path: Path) -> bool:
    return path.is_file() and path.name.endswith(DATA_SUFFIXES)


def _side_file(path: Path) -> bool:
    """A release's removed.parquet or its dolma copy of the rows: checked with the manifest, not
    audited as rows (the dolma copy holds the shards' rows again). A release folder is known by its
    manifest, card or croissant.json (a folder that lost its manifest is still one)."""
    for folder in (path.parent, *list(path.parents)[1:4]):
        if any((folder / name).is_file() for name in (MANIFEST, CARD, CROISSANT)):
            relative = path.relative_to(folder).as_posix()
            return relative == REMOVED or relative.startswith(f"{DOLMA_DIR}/")
    return False


#: Where a build writes its shards: ``data/<config>/train-00000-of-00001.parquet``.
_SHARD_LAYOUT = re.compile(r"^data/[^/]+/[^/]+-\d{5}-of-\d{5}\.parquet$")


def _data_files(folder: Path, *, required: bool = True) -> list[Path]:
    files = sorted(p for p in folder.rglob("*")
                   if _is_data(p) and not _side_file(p)
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files and required:
        raise AuditError(f"{folder}: no Parquet or JSONL files in this folder",
                         hint="a release folder holds data/<config>/*.parquet")
    return files


def _folder_target(folder: Path, *, label: str, kind: str | None = None) -> Target:
    """A folder's data files; a release folder (a manifest, a card, or the shard layout a build
    writes) may hold none: its manifest says what is missing."""
    release = (folder / MANIFEST).is_file() or (folder / CARD).is_file()
    files = _data_files(folder, required=not release)
    if not release:
        release = any(_SHARD_LAYOUT.match(f.relative_to(folder).as_posix()) for f in files)
    return Target(label=label, kind=kind or ("release" if release else "files"), files=files, root=folder)


def our_card(card: Path) -> bool:
    """Whether a dataset card was written by corpus-registry (its YAML header's ``tags``)."""
    meta = card_header(card)
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return isinstance(tags, list) and "corpus-registry" in tags


def check_readable(files: list[Path]) -> None:
    """Fail now (the audit could not run) on a data file that cannot be opened at all."""
    for f in files:
        try:
            with open(f, "rb"):
                pass
        except OSError as e:
            raise AuditError(f"{f}: cannot read ({e.strerror or type(e).__name__})", file=str(f),
                             hint="check the file's permissions") from e


def _release_root(files: list[Path]) -> Path | None:
    """The release folder the files come from (nearest ancestor holding a manifest), if any."""
    if not files:
        return None
    common = Path(os.path.commonpath([f.resolve().parent for f in files]))
    for folder in (common, *list(common.parents)[:3]):
        if (folder / MANIFEST).is_file():
            return folder
    return None


def parse_hub_url(url: str) -> tuple[str, str | None, str | None]:
    """``hf://datasets/OWNER/NAME[@REV][/PATH]`` → (repo_id, revision, path)."""
    m = _HF_URL.match(url.rstrip("/"))
    if not m:
        raise AuditError(f"{url}: not a Hub dataset URL",
                         hint="use hf://datasets/OWNER/NAME (optionally @REVISION and /PATH)")
    return m["repo"], m["rev"], m["path"]


def _hub_target(url: str, *, revision: str | None, endpoint: str | None, token: str | None) -> Target:
    repo_id, url_rev, sub = parse_hub_url(url)
    if url_rev and revision and url_rev != revision:
        raise AuditError(f"{url}: names revision {url_rev!r} but --revision says {revision!r}")
    revision = revision or url_rev
    root = download_repo(repo_id, revision=revision, endpoint=endpoint, token=token, subpath=sub)
    if not sub:  # a release of ours: fetch whatever else its manifest lists (the funnel chart...)
        listed = _listed_files(root)
        if listed:
            download_repo(repo_id, revision=revision, endpoint=endpoint, token=token, patterns=listed)
    folder = root / sub if sub else root
    if not folder.is_dir():
        raise AuditError(f"{url}: no folder {sub!r} in the repo at {revision or 'main'}")
    target = _folder_target(folder, label=url, kind="hub")
    target.root = root  # card, attribution and manifest live at the top of the repo
    target.revision, target.commit = revision, root.name
    target.whole = not sub
    return target


def _listed_files(root: Path) -> list[str]:
    """The files a downloaded release manifest lists that the first download did not fetch."""
    from corpus_registry.hub import is_release_path, manifest_files

    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith("corpus-registry-release/"):
        return []
    return sorted(p for p, sha in manifest_files(manifest).items()
                  if sha is not None and is_release_path(p) and not (root / p).exists())


def download_repo(repo_id: str, *, revision: str | None, endpoint: str | None, token: str | None,
                  subpath: str | None = None, patterns: list[str] | None = None) -> Path:
    """Download the data files and card of a Hub dataset repo at ``revision`` (or the files named
    by ``patterns``); the local folder."""
    if not _REPO_ID.match(repo_id):
        raise AuditError(f"{repo_id!r} is not a Hub repo id", hint="use OWNER/NAME")
    from huggingface_hub import constants, snapshot_download

    from corpus_registry.hub import hub_errors

    if patterns is None:
        prefix = f"{subpath.strip('/')}/" if subpath else ""
        patterns = list(HUB_PATTERNS[3:]) + [prefix + p for p in HUB_PATTERNS[:3]]
    with hub_errors(endpoint or constants.ENDPOINT, repo_id, revision=revision):
        path = snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns,
                                 endpoint=endpoint, token=token, library_name="corpus-registry")
    return Path(str(path))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class Credits:
    """Who an attribution file credits: (source, identifier) under ``## source — name`` headings,
    each identifier in the code span that opens its list item (ATTRIBUTION.md's format)."""

    def __init__(self, name: str, pairs: set[tuple[str, str]], loose: set[str]) -> None:
        self.name, self.pairs, self.loose = name, pairs, loose

    def credits(self, slug: str, identifier: str) -> bool:
        return (slug, identifier) in self.pairs or identifier in self.loose


def read_credits(path: Path) -> Credits:
    pairs: set[tuple[str, str]] = set()
    loose: set[str] = set()
    section: str | None = None
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("## "):
                section = unescape(line[3:].split(" — ")[0]).strip() or None
                continue
            m = _CREDIT.match(line)
            if m:
                identifier = code_span_text(m["span"])
                if section:
                    pairs.add((section, identifier))
                else:
                    loose.add(identifier)
    return Credits(path.name, pairs, loose)


def card_header(card: Path) -> Any:
    """The YAML header of a dataset card (None if it has none or it does not parse)."""
    try:
        text = card.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        return yaml.safe_load(text[3:end])
    except (yaml.YAMLError, RecursionError, ValueError):
        return None


def card_licences(card: Path) -> list[str] | None:
    """The ``license:`` of a dataset card's YAML header, as a list of Hub ids (None if absent)."""
    meta = card_header(card)
    value = meta.get("license") if isinstance(meta, dict) else None
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return sorted({str(v).strip().lower() for v in values})


@dataclass(frozen=True, slots=True)
class Slice:
    """Part of one data file, read where it is audited: Parquet rows or JSONL bytes ``[start, stop)``."""

    path: str
    name: str  # how the report names the file
    start: int = 0
    stop: int | None = None  # None: to the end of the file
    line: int = 1  # JSONL: the number of the line that begins at byte ``start``
    rows: int = 0  # rows (Parquet) or lines (JSONL) it holds: a guess for .jsonl.gz, 0 if unknown
    bytes: int = 0  # uncompressed bytes it holds (a guess for .jsonl.gz), to size the work


class _Unit(NamedTuple):
    """The smallest piece a file may be cut into: a row group (or part of one), or a run of lines."""

    start: int
    rows: int
    bytes: int
    line: int = 1


def plan_slices(target: Target, *, parts: int | None = None, min_rows: int = 1, max_rows: int = 1 << 62
                ) -> list[Slice]:
    """The files of ``target`` in row order, as about ``parts`` slices (one per file when None).

    ``parts=None`` reads nothing but Parquet footers. Otherwise each file is profiled first
    (Parquet metadata; one scan of each JSONL file for its line offsets), and slices hold the
    total rows over ``parts``, clamped to ``[min_rows, max_rows]``, cut where a file may be cut: at
    row groups (one larger than ``2 * min_rows`` rows every ``min_rows`` rows), and JSONL every
    ``min_rows`` lines.
    """
    if parts is None:
        return [Slice(str(f), target.name_of(f), rows=(parquet_rows(f) or 0) if f.name.endswith(".parquet") else 0) for f in target.files]
    profiles = [(f, _units(f, split=min_rows)) for f in target.files]
    total = sum(u.rows for _, units in profiles for u in units)
    size = min(max(math.ceil(total / max(1, parts)), min_rows), max_rows)
    slices: list[Slice] = []
    for path, units in profiles:
        name = target.name_of(path)
        first, rows, size_bytes = 0, 0, 0
        for i, unit in enumerate(units):
            rows += unit.rows
            size_bytes += unit.bytes
            if rows >= size or i == len(units) - 1:
                stop = units[i + 1].start if i + 1 < len(units) else None
                slices.append(Slice(str(path), name, units[first].start, stop, units[first].line, rows, size_bytes))
                first, rows, size_bytes = i + 1, 0, 0
        if not units:  # an empty (or unreadable) file: still read, for its errors
            slices.append(Slice(str(path), name))
    return slices


def parquet_rows(path: Path) -> int | None:
    """A Parquet file's row count from its footer; None if it is missing or unreadable."""
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except DAMAGED:
        return None


def _units(path: Path, *, split: int) -> list[_Unit]:
    """Where ``path`` may be cut; an unreadable file is left whole (reading it raises the error)."""
    if path.name.endswith(".parquet"):
        try:
            meta = pq.ParquetFile(path).metadata
        except DAMAGED:
            return []
        units, start = [], 0
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            n, per_row = group.num_rows, group.total_byte_size / max(1, group.num_rows)
            step = n if n <= 2 * split else split
            units += [_Unit(start + k, min(step, n - k), int(per_row * min(step, n - k))) for k in range(0, n, step)]
            start += n
        return units
    if path.name.endswith(".gz"):
        size = path.stat().st_size
        return [_Unit(0, max(1, size // _GZ_BYTES_PER_ROW), 4 * size)]
    return _line_units(path, every=split)


def _line_units(path: Path, *, every: int) -> list[_Unit]:
    """Lines 1, 1 + N, 1 + 2N... (N = ``every``) of a JSONL file, with their byte offsets: one scan."""
    starts, lines = [0], [1]
    line, pos, last = 1, 0, b"\n"  # line: the number of the line holding byte ``pos``
    try:
        with path.open("rb") as f:
            while block := f.read(1 << 23):
                newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
                # the line after newlines[j] is number line + j + 1: cut where that is 1 (mod N)
                for j in range((-line) % every, newlines.size, every):
                    starts.append(pos + int(newlines[j]) + 1)
                    lines.append(line + j + 1)
                line += int(newlines.size)
                pos += len(block)
                last = block[-1:]
    except OSError:
        return []
    if len(starts) > 1 and starts[-1] >= pos:  # a cut at the very end: no line begins there
        starts.pop()
        lines.pop()
    ends = [*lines[1:], line + 1 if last != b"\n" else line]
    return [_Unit(s, e - n, stop - s, n) for s, n, e, stop in zip(starts, lines, ends, [*starts[1:], pos])]


def slice_batches(s: Slice, *, batch_size: int = 5000, license_field: str | None = None) -> Iterator[Batch]:
    """The rows of one slice, in batches of at most ``batch_size`` rows (licence labels from
    ``license_field`` when given)."""
    path = Path(s.path)
    if path.name.endswith(".parquet"):
        yield from _parquet_batches(path, name=s.name, batch_size=batch_size, start=s.start, stop=s.stop,
                                    license_field=license_field)
    else:
        yield from _jsonl_batches(path, name=s.name, batch_size=batch_size, start=s.start, stop=s.stop,
                                  line=s.line, license_field=license_field)


def _pick(names: Sequence[str]) -> dict[str, str]:
    """Audit field → column name in this file."""
    present = set(names)
    return {f: next(c for c in cands if c in present) for f, cands in COLUMNS.items()
            if any(c in present for c in cands)}


def _parquet_batches(path: Path, *, name: str, batch_size: int, start: int = 0,
                     stop: int | None = None, license_field: str | None = None) -> Iterator[Batch]:
    try:
        pf = pq.ParquetFile(path)
        columns = _pick(pf.schema_arrow.names)
        if "text" not in columns:
            raise AuditError(f"{name}: no 'text' column (columns: {', '.join(pf.schema_arrow.names)})",
                             hint="an audit needs each row's text to hash it", file=name)
        declared = parquet_license_field(pf.schema_arrow, columns, license_field, name=name)
        nested = None
        if declared is not None:
            columns.pop("license", None)
            nested = columns_for([declared], pf.schema_arrow.names)[0]
        read = list(dict.fromkeys([*columns.values(), *([nested] if nested else [])]))
        groups, offset, pos = [], 0, None  # the row groups holding [start, stop); pos: row of the first
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if offset + n > start and (stop is None or offset < stop):
                groups.append(g)
                pos = offset if pos is None else pos
            offset += n
        if pos is None:
            return
        for rb in pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=read):
            lo = max(0, start - pos)
            hi = rb.num_rows if stop is None else min(rb.num_rows, stop - pos)
            first = pos + lo + 1  # 1-based number of the batch's first row in the file
            pos += rb.num_rows
            if hi <= lo:
                continue
            if (lo, hi) != (0, rb.num_rows):
                rb = rb.slice(lo, hi - lo)
            text_col = rb.column(columns["text"])
            if not (pa.types.is_string(text_col.type) or pa.types.is_large_string(text_col.type)):
                raise AuditError(f"{name}: column 'text' holds {text_col.type}, not strings", file=name)
            if text_col.null_count:
                bad = first + text_col.is_null().to_pylist().index(True)
                raise AuditError(f"{name} row {bad}: no text (null)", file=name, row=bad,
                                 hint="every row needs its text; drop empty rows before auditing")
            cols: dict[str, Any] = {f: rb.column(c).to_pylist() for f, c in columns.items()}
            if declared is not None and nested is not None:
                cols["license"] = [get_field({nested: v}, declared)[1] for v in rb.column(nested).to_pylist()]
            yield Batch(file=name, start=first, license_field=declared, **cols)
            if stop is not None and pos >= stop:
                return
    except (OSError, pa.ArrowException, ValueError) as e:  # a damaged page can fail to decode, too
        raise AuditError(f"{name}: cannot read as Parquet ({_first_line(e)})", file=name) from e


def _open_text(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _jsonl_batches(path: Path, *, name: str, batch_size: int, start: int = 0, stop: int | None = None,
                   line: int = 1, license_field: str | None = None) -> Iterator[Batch]:
    declared = jsonl_license_field(path, license_field)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    pos = start
    try:
        with _open_text(path) as stream:
            if start:
                stream.seek(start)
            for number, raw in enumerate(stream, start=line):
                if stop is not None and pos >= stop:
                    break
                pos += len(raw)
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise AuditError(f"{name}:{number}: not a JSON object ({_first_line(e)})", file=name,
                                     row=number) from e
                if not isinstance(record, dict):
                    raise AuditError(f"{name}:{number}: expected a JSON object, got {type(record).__name__}",
                                     file=name, row=number)
                text = record.get("text")
                if not isinstance(text, str):
                    what = "no text" if text is None else f"'text' is {type(text).__name__}, not a string"
                    raise AuditError(f"{name}:{number}: {what}", file=name, row=number,
                                     hint="every row needs its text in a 'text' field")
                rows.append(record)
                lines.append(number)
                if len(rows) >= batch_size:
                    yield _records_batch(rows, lines, name=name, license_field=declared)
                    rows, lines = [], []
    except (OSError, EOFError) as e:
        raise AuditError(f"{name}: cannot read ({_first_line(e)})", file=name) from e
    if rows:
        yield _records_batch(rows, lines, name=name, license_field=declared)


def _records_batch(rows: list[dict[str, Any]], lines: list[int], *, name: str,
                   license_field: str | None = None) -> Batch:
    """Column-wise view of JSON records; records may differ in which fields they carry."""
    cols: dict[str, Any] = {}
    for f, cands in COLUMNS.items():
        if f == "text" or (f == "license" and license_field is not None):
            continue
        values = [next((r[c] for c in cands if c in r), None) for r in rows]
        if any(v is not None for v in values):
            cols[f] = values
    if license_field is not None:
        cols["license"] = [get_field(r, license_field)[1] for r in rows]
    return Batch(file=name, start=lines[0], text=[r["text"] for r in rows], lines=lines,
                 license_field=license_field, **cols)
