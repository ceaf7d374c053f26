"""The per-document work of a build, as picklable tasks any executor runs: filter and sign a
chunk of survivors (:class:`SignTask`), write one output shard (:class:`ShardTask`).

Kept apart from :mod:`.builder` so that a worker process imports only what these need (the
store, the filters, the MinHash kernel, the Parquet writer), not the registry, the card or the
CLI: each worker then holds a fraction of a driver's memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from corpus_registry.build.dedup.lsh import band_hashes, row_multipliers
from corpus_registry.build.dedup.minhash import MinHasher
from corpus_registry.build.dedup.quality import text_qualities
from corpus_registry.build.dolma import DolmaWriter
from corpus_registry.build.filters import BuildDoc, FilterConfig, build_filters
from corpus_registry.build.release import COLUMNS, ROW_GROUP, write_shard
from corpus_registry.build.tokens import count_tokens, worker_tokenizer
from corpus_registry.registry.store import CACHE_BYTES as STORE_CACHE
from corpus_registry.registry.store import DocumentStore

__all__ = ["ShardTask", "SignResult", "SignTask", "filter_and_sign", "write_shard_task"]


@dataclass(frozen=True, slots=True)
class SignTask:
    """One chunk of per-document work (filters + MinHash signature), picklable for any executor.

    ``items`` has the columns index, sha256, shard, words, language, date and sign."""

    store_url: str
    filters: dict[str, Any]
    minhash: tuple[int, int, int] | None  # num_perm, ngram, seed; None when near dedup is off
    items: pa.Table
    batch_chars: int = 1 << 20  # characters signed at once (memory, not results)
    store_cache: int = STORE_CACHE  # bytes of recently read store shards a worker keeps
    # (bands, rows): LSH band bucket ids computed here, beside the signatures, which then come back
    # as their low 16 bits (all a spilled near dedup keeps): work taken off the driver, half the bytes sent
    lsh: tuple[int, int] | None = None


@dataclass(slots=True)
class SignResult:
    """Per task: the documents a filter dropped, and the signatures of those to deduplicate."""

    dropped: list[tuple[int, str, str]]  # index, "filter:NAME", reason
    passed: list[int]  # indexes that passed every filter, in task order
    signed: list[int]  # indexes with a row in ``signatures``
    signatures: Any  # numpy array (len(signed), num_perm) or None
    quality: list[float] = field(default_factory=list)  # the keep rule's text score of each signed index
    band_hashes: Any = None  # numpy array (len(signed), bands) when the task asked for them


def filter_and_sign(task: SignTask) -> SignResult:
    """Run the quality filters on each item, then MinHash-sign the survivors in one batch."""
    store = _store(task.store_url, task.store_cache)
    filters = _filters(json.dumps(task.filters, sort_keys=True))
    result = SignResult(dropped=[], passed=[], signed=[], signatures=None)
    texts: list[str] = []
    languages: list[str | None] = []
    items = task.items
    columns = [items[name].to_pylist() for name in ("index", "sha256", "shard", "words", "language", "date", "sign")]
    if not filters and (task.minhash is None or not any(columns[6])):  # no text needed: read once, when written
        result.passed = columns[0]
        return result
    by_sha = dict(store.get_many(zip(columns[1], columns[2])))  # each shard read once, each text checked
    for index, sha, _shard, words, lang, date, sign in zip(*columns):
        text = by_sha[sha]
        bd = BuildDoc(key=str(index), text=text, sha256=sha, word_count=words, language=lang, date=date)
        for f in filters:
            verdict = f.filter(bd)
            ok, reason = verdict if isinstance(verdict, tuple) else (verdict, None)
            if not ok:
                result.dropped.append((index, f"filter:{f.name}", reason or f.name))
                break
        else:
            result.passed.append(index)
            if sign and task.minhash is not None:
                result.signed.append(index)
                languages.append(lang)
                texts.append(text)
    if texts:
        result.quality = text_qualities(texts, languages)
        result.signatures = _hasher(task.minhash, task.batch_chars).signatures(texts)  # type: ignore[arg-type]
        if task.lsh is not None and task.minhash is not None:
            bands, rows = task.lsh
            result.band_hashes = band_hashes(result.signatures, bands=bands, rows=rows,
                                             multipliers=_multipliers(rows, task.minhash[2]))
            result.signatures = result.signatures.astype(np.uint16)
    return result


@lru_cache(maxsize=2)
def _store(url: str, cache_bytes: int = STORE_CACHE) -> DocumentStore:
    return DocumentStore(url, cache_bytes=cache_bytes)


@lru_cache(maxsize=2)
def _filters(config_json: str) -> list[Any]:
    return build_filters(FilterConfig.model_validate(json.loads(config_json)))


@lru_cache(maxsize=2)
def _multipliers(rows: int, seed: int) -> np.ndarray:
    return row_multipliers(rows, seed)


@lru_cache(maxsize=2)
def _hasher(params: tuple[int, int, int], batch_chars: int) -> MinHasher:
    num_perm, ngram, seed = params
    return MinHasher(num_perm=num_perm, ngram=ngram, seed=seed, batch_chars=batch_chars)


@dataclass(frozen=True, slots=True)
class ShardTask:
    """One output shard: its rows without text (texts are read from the store where it runs).

    ``rows`` has the release columns but ``text`` and ``token_count``, plus ``_shard`` (where the
    store keeps each text). ``dolma``: where to write the same rows in dolma's layout too (``added``:
    each source's date). ``tokenizer``: (path, sha256) of the tokenizer that counts tokens, if any."""

    store_url: str
    path: str
    rows: pa.Table
    dolma: str | None = None
    added: dict[str, str | None] = field(default_factory=dict)
    tokenizer: tuple[str, str] | None = None
    store_cache: int = STORE_CACHE


def write_shard_task(task: ShardTask) -> tuple[str, dict[str, Any]]:
    """Write one output shard (and its dolma copy), fetching texts a row group at a time (each
    store shard opened once per group), so a worker's memory does not depend on the shard's size.

    With a tokenizer, each row's ``token_count`` is counted here (null without one); the shard's
    info then has ``tokens``: [language, source, tokens] per pair present in it."""
    store = _store(task.store_url, task.store_cache)
    dolma = DolmaWriter(Path(task.dolma), added=task.added) if task.dolma else None
    tokenizer = worker_tokenizer(*task.tokenizer) if task.tokenizer else None
    tokens: dict[tuple[str, str], int] = {}

    def groups() -> Iterator[pa.Table]:
        for start in range(0, task.rows.num_rows, ROW_GROUP):
            chunk = task.rows.slice(start, ROW_GROUP)
            text = store.get_array(list(zip(chunk["sha256"].to_pylist(), chunk["_shard"].to_pylist())))
            if tokenizer is not None:
                counts = count_tokens(tokenizer, text.to_pylist())
                token_count = pa.array(counts, pa.int64())
                for key, n in zip(zip(chunk["language"].to_pylist(), chunk["source"].to_pylist()), counts):
                    tokens[key] = tokens.get(key, 0) + n
            else:
                token_count = pa.nulls(chunk.num_rows, pa.int64())
            table = (chunk.drop_columns(["_shard"]).append_column("token_count", token_count)
                     .append_column("text", text).select(COLUMNS))
            if dolma is not None:
                dolma.write(table)
            yield table

    try:
        info = write_shard(Path(task.path), groups())
    finally:
        copy = dolma.close() if dolma is not None else None
    if copy is not None:
        info["dolma"] = {"path": task.dolma, **copy}
    if tokenizer is not None:
        info["tokens"] = [[lang, src, n] for (lang, src), n in sorted(tokens.items())]
    return task.path, info
