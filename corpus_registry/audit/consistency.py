"""Whether a dataset's files, rows, manifest and the registry's record of it agree.

Row checks say whether each document may be in the dataset; these say whether the dataset is the
one it claims to be. Every disagreement is a violation (exit 1): a shard listed but missing, a
data file the manifest does not list, a file whose sha256 differs, a shard whose row count
differs, a release folder without a manifest (a killed build), an incomplete set of
``…-0000N-of-0000M`` shards, a manifest the registry recorded differently. Duplicated rows are
found from the keys the row checks return (:func:`duplicate_groups`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from corpus_registry.audit.targets import DATA_SUFFIXES, Target, card_header, our_card
from corpus_registry.build.release import MANIFEST, sha256_file
from corpus_registry.hub import is_release_path, manifest_files
from corpus_registry.registry.db.models import Release
from corpus_registry.registry.registry import Registry

__all__ = ["check_release", "check_shard_sets", "duplicate_groups"]

Report = Callable[[str, str], None]  # (kind, message)
_NUMBERED = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.parquet$")


def check_shard_sets(target: Target, report: Report) -> None:
    """Numbered shards (``train-00001-of-00003.parquet``) must come as complete sets: one missing
    beside those audited is the trace of a killed write or a lost file, whatever the dataset."""
    groups: dict[tuple[Path, str, int], set[int]] = {}
    for f in target.files:
        m = _NUMBERED.match(f.name)
        if m:
            groups.setdefault((f.parent, m["stem"], int(m["total"])), set()).add(int(m["index"]))
    for (folder, stem, total), seen in sorted(groups.items()):
        missing = [i for i in range(total) if i not in seen and not (folder / f"{stem}-{i:05d}-of-{total:05d}.parquet").is_file()]
        if missing or max(seen) >= total:
            where = target.name_of(folder) if folder != target.root else "."
            names = ", ".join(f"{stem}-{i:05d}-of-{total:05d}.parquet" for i in missing[:3]) or "(index past the total)"
            report("shards_incomplete", f"{where}/: {total - len(missing)} of {total} numbered shards; missing {names}"
                   + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))


def is_release_folder(target: Target) -> bool:
    """A folder that is (or was meant to be) a release of ours: our card; or a local folder with a
    manifest.json, or with our shard layout and no valid card of another dataset (what a killed
    build leaves); or a Hub repo holding a manifest of ours. Another dataset, with its own card,
    is not held to a manifest it does not have."""
    if target.root is None or not target.whole:
        return False
    card = target.card
    if card is not None and our_card(card):
        return True
    if target.manifest is not None:
        if target.kind != "hub":
            return True
        try:
            parse_manifest(target.manifest.read_bytes())
            return True
        except (OSError, ValueError):
            return False
    foreign_card = card is not None and isinstance(card_header(card), dict)
    return not foreign_card and target.kind == "release"


def check_release(target: Target, report: Report, *, registry: Registry,
                  rows_of: Callable[[Path], int | None], license_mix: list[dict[str, Any]]) -> None:
    """The release-level checks of a release folder (or a Hub repo holding one of ours)."""
    if not is_release_folder(target):
        return
    root = target.root
    assert root is not None
    path = root / MANIFEST
    if target.manifest is None:
        report("manifest_missing", f"{MANIFEST} is missing: nothing says which files and rows this release holds "
               "(an interrupted build leaves such a folder)")
        return
    try:
        raw = path.read_bytes()
        manifest = parse_manifest(raw)
    except (OSError, ValueError) as e:
        report("manifest_invalid", f"{MANIFEST} cannot be read as a release manifest ({_why(e)})")
        return
    listed = manifest_files(manifest)
    unsafe = sorted(name for name in listed if not is_release_path(name))
    if unsafe:
        report("manifest_invalid", f"{MANIFEST} lists {unsafe[0]!r}, which cannot be a file of the release")
        listed = {name: sha for name, sha in listed.items() if name not in unsafe}
    for name, sha in sorted(listed.items()):
        file = root / name
        is_shard = name.endswith(DATA_SUFFIXES)
        if not file.is_file():
            if sha is None and not is_shard:
                continue  # an optional file of a manifest written before files were listed
            report("shard_missing" if is_shard else "file_modified", f"{name} is listed in {MANIFEST} but missing")
        elif sha is not None and sha256_file(file) != str(sha).lower():
            report("shard_modified" if is_shard else "file_modified", f"{name} differs from its sha256 in {MANIFEST}")
    for f in target.files:
        name = target.name_of(f)
        if name not in listed:
            report("shard_extra", f"{name} is a data file the manifest does not list")
    for f in sorted(root.rglob("*")):
        name = f.relative_to(root).as_posix()
        if f.is_file() and name not in listed and name != MANIFEST and not name.endswith(DATA_SUFFIXES):
            report("file_extra", f"{name} is not part of the release (a push leaves it out)")
    _check_rows(manifest, root, report, rows_of)
    audited = {target.name_of(f) for f in target.files}
    expected = manifest.get("license_mix")
    every_shard = all(name in audited for name in manifest.get("shards") or {})
    if expected is not None and every_shard and expected != license_mix:  # a subset has a mix of its own
        report("manifest_mismatch", f"{MANIFEST} lists {_mix_summary(expected)}; rows carry {_mix_summary(license_mix)}")
    _check_record(manifest, raw, registry, report)


#: What the checks read from a manifest, and the type each must have.
_SHAPES: dict[str, type] = {"name": str, "version": str, "shards": dict, "shard_rows": dict, "files": dict,
                            "counts": dict, "license_mix": list}


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """A manifest of ours, or ValueError saying what is wrong with it."""
    import json

    data = json.loads(raw)
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("corpus-registry-release/"):
        raise ValueError("not a corpus-registry release manifest")
    for key, kind in _SHAPES.items():
        if key in data and not isinstance(data[key], kind):
            raise ValueError(f"'{key}' is not a {kind.__name__}")
    if not all(isinstance(v, str) for v in {**data.get("shards", {}), **data.get("files", {})}.values()):
        raise ValueError("a sha256 is not a string")
    if not all(isinstance(v, int) for v in data.get("shard_rows", {}).values()):
        raise ValueError("a row count is not a number")
    if not all(isinstance(m, dict) for m in data.get("license_mix", [])):
        raise ValueError("'license_mix' holds something else than entries")
    return data


def _check_rows(manifest: dict[str, Any], root: Path, report: Report, rows_of: Callable[[Path], int | None]) -> None:
    """Each shard's rows against ``shard_rows``, and all of them against ``counts.kept``."""
    total = 0
    complete = True
    for name, expected in sorted((manifest.get("shard_rows") or {}).items()):
        rows = rows_of(root / name)
        if rows is None:
            complete = False  # missing or unreadable: reported already
            continue
        total += rows
        if rows != expected:
            report("row_count_mismatch", f"{name} holds {rows:,} rows; {MANIFEST} says {expected}")
    counts = manifest.get("counts")
    kept = counts.get("kept") if isinstance(counts, dict) else None
    if complete and manifest.get("shard_rows") and kept is not None and kept != total:
        report("row_count_mismatch", f"the shards hold {total:,} rows; {MANIFEST} says the release kept {kept}")


def _check_record(manifest: dict[str, Any], raw: bytes, registry: Registry, report: Report) -> None:
    """The manifest against the registry's record of the release it names."""
    import hashlib

    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        report("manifest_invalid", f"{MANIFEST} names no release (name and version)")
        return
    with registry.session() as s:
        recorded = s.scalar(select(Release.manifest_sha256).where(Release.name == name, Release.version == version))
        known = recorded is not None or s.scalar(select(Release.id).where(Release.name == name,
                                                                          Release.version == version)) is not None
    if not known:
        report("release_unknown", f"the registry has no record of release {name} {version} "
               "(built with another registry?)")
        return
    if recorded != hashlib.sha256(raw).hexdigest():
        report("release_record_mismatch", f"{MANIFEST} is not the manifest the registry recorded for {name} "
               f"{version}: the release was edited or rebuilt elsewhere")


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A row that repeats an earlier one: where each is (file, row or line)."""

    where: str
    first: str


def duplicate_groups(keys: np.ndarray, files: np.ndarray, rows: np.ndarray, names: list[str], *,
                     limit: int) -> tuple[int, list[Duplicate]]:
    """Rows whose key appeared before (``keys[i]`` hashes a row's source and identifier, or its
    text): how many, and the first ``limit`` of them with the row they repeat."""
    if len(keys) < 2:
        return 0, []
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    if not len(repeats):
        return 0, []
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    first_of = starts[np.searchsorted(starts, repeats, side="right") - 1]
    rows_at, firsts = order[repeats], order[first_of]
    shown = np.argsort(rows_at, kind="stable")[:limit]  # the first repeats in row order
    return len(repeats), [Duplicate(_where(int(i), files, rows, names), _where(int(j), files, rows, names))
                          for i, j in zip(rows_at[shown], firsts[shown])]


def _where(i: int, files: np.ndarray, rows: np.ndarray, names: list[str]) -> str:
    name = names[int(files[i])]
    number = int(rows[i])
    return f"{name}:{number}" if name.endswith((".jsonl", ".jsonl.gz")) else f"{name} row {number}"


def _why(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _mix_summary(mix: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m.get('license')} ×{m.get('documents')}" for m in mix if isinstance(m, dict)) or "nothing"
