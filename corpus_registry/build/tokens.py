"""Token counts: the tokenizer a build spec names (``tokenizer:``), found without the network, and
the number of tokens of each kept row's text.

A spec names a Hugging Face ``tokenizers`` JSON file (``tokenizer.json``) by its path (relative to
the spec file's folder; a folder holding a ``tokenizer.json`` will do) or by a Hub model id
(``OWNER/NAME``, optionally ``@REVISION``), which is looked up in the local Hugging Face cache only:
a build never downloads. ``token_count`` is ``len(tokenizer.encode(text, add_special_tokens=False).ids)``
with the file's truncation and padding switched off: every token of the text, none added by a
chat or model template, so that the counts of a document's parts add up and a trainer adds its
own special tokens once per sequence. The manifest names the tokenizer and the sha256 of its
file, so a count can be checked by anyone holding the same file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus_registry.errors import BuildError, ConfigError

#: Special tokens (BOS, EOS, CLS, SEP...) are never added: the count is the text's own tokens.
ADD_SPECIAL_TOKENS = False
#: Texts encoded in one ``encode_batch`` call at most (by characters, and by count): bounds the
#: memory the encodings take (offsets, tokens, masks per token) while keeping the batch parallel.
BATCH_CHARS = 1 << 20
BATCH_DOCS = 256
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]{0,95}(?:/[A-Za-z0-9][\w.-]{0,95})?)(?:@(?P<rev>[\w./-]{1,200}))?$")
_FILE = "tokenizer.json"


@dataclass(frozen=True, slots=True)
class TokenizerRef:
    """A resolved tokenizer: what the spec said, the local file and its sha256 (what the manifest records)."""

    name: str
    path: str
    sha256: str
    kind: str  # file | hub
    revision: str | None = None  # the cached commit, for a Hub id

    def manifest(self) -> dict[str, Any]:
        """The manifest's ``tokenizer`` entry (no local path: the release does not depend on where it was built)."""
        return {"name": self.name, "kind": self.kind, "revision": self.revision, "sha256": self.sha256,
                "add_special_tokens": ADD_SPECIAL_TOKENS}


def resolve_tokenizer(name: str, *, base_dir: Path | None, origin: str) -> TokenizerRef:
    """Find the tokenizer ``name`` (a path, or a Hub id in the local cache) and check that it loads;
    :class:`ConfigError` naming ``origin``'s ``tokenizer`` field otherwise."""
    def fail(problem: str, hint: str) -> ConfigError:
        return ConfigError(f"{origin}: tokenizer: {problem}", file=origin, field="tokenizer", hint=hint)

    raw = Path(name).expanduser()
    path = raw if raw.is_absolute() or base_dir is None else base_dir / raw
    if path.is_dir():
        path = path / _FILE
    kind, revision = "file", None
    if not path.is_file():
        m = _HUB_ID.match(name)
        if m is None or name.endswith(".json") or name.startswith((".", "~")):
            raise fail(f"{name!r}: no such file", "give the path of a tokenizers JSON file (relative to the "
                                                  "spec's folder) or a Hub id whose tokenizer.json is cached")
        cached = _from_hub_cache(m["repo"], m["rev"])
        if cached is None:
            raise fail(f"{name!r} is neither a file nor a Hub model whose tokenizer.json is in the local "
                       "Hugging Face cache (a build never downloads)",
                       f"fetch it once: `hf download {m['repo']} {_FILE}`, or give the path of a tokenizer.json")
        path, kind = cached, "hub"
        revision = cached.parent.name if cached.parent.parent.name == "snapshots" else None
    from tokenizers import Tokenizer

    try:
        data = path.read_bytes()
        Tokenizer.from_str(data.decode("utf-8"))
    except Exception as e:  # OSError, UnicodeDecodeError, and the bare Exception tokenizers raises on bad JSON
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise fail(f"{name!r} does not load as a tokenizers JSON file ({first[:200]})",
                   "save the tokenizer with tokenizer.save('tokenizer.json') (tokenizers) or "
                   "save_pretrained (transformers), and name that file") from e
    return TokenizerRef(name=name, path=str(path), sha256=hashlib.sha256(data).hexdigest(), kind=kind,
                        revision=revision)


def _from_hub_cache(repo: str, revision: str | None) -> Path | None:
    """The cached ``tokenizer.json`` of Hub model ``repo`` (at ``revision``), or None: never the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, _FILE, revision=revision, repo_type="model")
    except ValueError:  # not a valid repo id or revision for the Hub
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def load_tokenizer(path: str) -> Any:
    """The tokenizer of ``path`` with truncation and padding off (every token of a text counts)."""
    from tokenizers import Tokenizer

    return _counting(Tokenizer.from_file(path))


def _counting(tokenizer: Any) -> Any:
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


_LOADED: dict[str, Any] = {}  # sha256 of a tokenizer file -> its tokenizer, in this process


def worker_tokenizer(path: str, sha256: str) -> Any:
    """The tokenizer where rows are counted, refused if its file changed since the build resolved it
    (kept per sha256: a file edited between two builds is read again)."""
    from tokenizers import Tokenizer

    data = Path(path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise BuildError(f"tokenizer file {path} changed while the build ran (sha256 {actual[:12]}…, "
                         f"expected {sha256[:12]}…)", hint="run the build again once the file is final")
    if sha256 not in _LOADED:
        if len(_LOADED) >= 2:
            _LOADED.clear()
        _LOADED[sha256] = _counting(Tokenizer.from_str(data.decode("utf-8")))
    return _LOADED[sha256]


def count_tokens(tokenizer: Any, texts: Sequence[str], *, batch_chars: int = BATCH_CHARS) -> list[int]:
    """The number of tokens of each text (no special tokens), encoded in batches of bounded size."""
    counts: list[int] = []
    start = 0
    while start < len(texts):
        end, size = start, 0
        while end < len(texts) and end - start < BATCH_DOCS and (end == start or size + len(texts[end]) <= batch_chars):
            size += len(texts[end])
            end += 1
        encodings = tokenizer.encode_batch(list(texts[start:end]), add_special_tokens=ADD_SPECIAL_TOKENS)
        counts.extend(len(e.ids) for e in encodings)
        start = end
    return counts
