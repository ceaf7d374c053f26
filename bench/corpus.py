"""Synthetic-but-real benchmark corpora: the bundled texts cut into passages, scaled up.

Passages come from the real documents (boilerplate stripped by the project's readers); to reach
large counts each pass over the passages shifts the cut points and rotates sentences, so every
passage is distinct text while staying real language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from corpus_registry.registry.readers import get_reader

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
_SOURCES = [
    ("gutenberg", "gutenberg-fr", "*/*.txt", {}),
    ("gutenberg", "gutenberg-en-de-es-it", "*/*/*.txt", {}),
    ("text", "nltk-genesis/genesis", "*.txt", {"swedish.txt": "cp865"}),
    ("text", "nltk-udhr/udhr", "*.txt", {}),
    ("markdown", "legifrance-code-civil/code-civil", "**/*.md", {}),
]
_SENT = re.compile(r"(?<=[.!?;:])\s+")


def real_texts() -> list[tuple[str, str]]:
    """(name, text) of every bundled real document, boilerplate stripped."""
    out = []
    for kind, path, glob, encodings in _SOURCES:
        opts: dict[str, object] = {"path": str(DATA / path), "glob": glob}
        if encodings:
            opts["encodings"] = encodings
        for doc in get_reader(kind, base_dir=REPO, options=opts).read():
            out.append((f"{path}/{doc.identifier}", doc.text))
    return out


def passages(n: int, *, chars: int = 2000) -> Iterator[tuple[str, str]]:
    """``n`` distinct passages of about ``chars`` characters, deterministic."""
    sentences_by_doc = [(name, [s for s in _SENT.split(" ".join(text.split())) if s]) for name, text in real_texts()]
    made = 0
    round_ = 0
    while True:
        for name, sents in sentences_by_doc:
            start = round_ % 7
            buf: list[str] = []
            size = 0
            i = start
            while i < len(sents):
                buf.append(sents[i])
                size += len(sents[i]) + 1
                i += 1
                if size >= chars:
                    if round_:
                        k = round_ % len(buf)
                        buf = buf[k:] + buf[:k]
                    yield f"{name}#{round_}-{i}", " ".join(buf)
                    made += 1
                    if made >= n:
                        return
                    buf, size = [], 0
        round_ += 1


def write_jsonl(path: Path, n: int, *, chars: int = 2000) -> int:
    """Write ``n`` passages as JSONL (id, text); returns the bytes of text written."""
    total = 0
    with path.open("w", encoding="utf-8") as f:
        for ident, text in passages(n, chars=chars):
            f.write(json.dumps({"id": ident, "text": text}, ensure_ascii=False) + "\n")
            total += len(text.encode("utf-8"))
    return total
