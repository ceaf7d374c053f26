"""Project Gutenberg etexts: boilerplate stripped, metadata from GITenberg's ``metadata.yaml``.

One document per text file. Metadata comes from a ``metadata.yaml`` next to the file when
there is one (GITenberg format, written from the PG RDF catalogue); otherwise from the PG
header's ``Title:`` / ``Author:`` lines or its "Etext of X, by Y" first line.

The date PG gives (``gutenberg_issued``) is when PG released the etext, not when the work was
written: it is kept as ``extra.distribution_date`` and the document's ``date`` stays empty unless
``sources.yaml`` gives the work's date (a ``documents:`` override).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import yaml

from corpus_registry.errors import ReaderError
from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers.base import FileOptions, FileReader, default_identifier, first_line
from corpus_registry.registry.readers.gutenberg_strip import strip_boilerplate

METADATA_FILE = "metadata.yaml"
_HEADER_FIELD = re.compile(r"^\s*(Title|Author)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_CONTINUATION = re.compile(r"^\s{2,}\S")
_ETEXT_OF = re.compile(
    r"Project Gutenberg(?:'s|’s)?\s+(?:E-?text|E-?book)\s+of\s+(?P<title>.+?)"
    r"(?:,?\s+by\s+(?P<author>[^*]+?))?\W*$",
    re.IGNORECASE,
)
_ETEXT_NUMBER = re.compile(r"\[\s*E(?:-?Book|-?text)\s*#\s*(\d+)\s*\]", re.IGNORECASE)


class GutenbergOptions(FileOptions):
    glob: str | list[str] = "**/*.txt"


class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that reads GITenberg's custom tags (``!lcsh``, ``!lcc``) as plain values."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _untagged)


class GutenbergReader(FileReader):
    """Project Gutenberg plain-text files, one document per file."""

    kind: ClassVar[str] = "gutenberg"
    Options: ClassVar[type[GutenbergOptions]] = GutenbergOptions

    def __init__(self, options: FileOptions, *, base_dir: Path) -> None:
        super().__init__(options, base_dir=base_dir)
        self._files_per_folder: Counter[Path] = Counter()

    def prepare(self, files: list[tuple[Path, str]]) -> None:
        self._files_per_folder = Counter(file.parent for file, _ in files)

    def read_file(self, file: Path, *, relpath: str) -> RawDocument:
        decoded = self.decode(file, relpath=relpath)
        encoding, decoded_replaced = decoded.encoding, decoded.replaced
        stripped = strip_boilerplate(decoded.text)
        del decoded
        metadata = _load_metadata(file.parent / METADATA_FILE, relpath=relpath)
        header = _header_fields(stripped.header)
        etext = _etext_number(metadata, stripped.header)
        extra: dict[str, object] = {
            "encoding": encoding,
            "boilerplate": stripped.format,
            "boilerplate_lines": stripped.header_lines + stripped.footer_lines,
        }
        if stripped.dropped_paragraphs:
            extra["dropped_paragraphs"] = dict(sorted(stripped.dropped_paragraphs.items()))
        if stripped.walker_brackets:
            extra["walker_brackets"] = True
        if etext is not None:
            extra["gutenberg_id"] = etext
        if decoded_replaced:
            extra["replaced_bytes"] = decoded_replaced
        if metadata.get("rights"):
            extra["rights"] = str(metadata["rights"])
        if metadata.get("gutenberg_issued"):
            extra["distribution_date"] = str(metadata["gutenberg_issued"])
        return RawDocument(
            identifier=self._identifier(file, relpath=relpath, metadata=metadata),
            text=stripped.text,
            title=_clean_title(metadata.get("title"))
            or header.get("title")
            or first_line(stripped.text),
            creator=_creator(metadata) or header.get("author"),
            date=None,  # the work's date is not in PG's metadata; its release date is in extra
            url=_str_or_none(metadata.get("url")),
            path=relpath,
            language=_language(metadata.get("language")),
            extra=extra,
        )

    def identifier_for(self, file: Path, *, relpath: str) -> str:
        return self._identifier(file, relpath=relpath,
                                metadata=_load_metadata(file.parent / METADATA_FILE, relpath=relpath))

    def _identifier(self, file: Path, *, relpath: str, metadata: dict[str, Any]) -> str:
        """``pg<N>`` from metadata.yaml; with several text files in one book folder,
        ``pg<N>/<file stem>`` so that identifiers stay unique."""
        number = _str_or_none((metadata.get("identifiers") or {}).get("gutenberg"))
        if number is None:
            return default_identifier(relpath)
        if self._files_per_folder[file.parent] > 1:
            return f"pg{number}/{file.stem}"
        return f"pg{number}"


def _load_metadata(path: Path, *, relpath: str) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ReaderError(
            f"{relpath}: cannot parse the {METADATA_FILE} next to it ({e})",
            hint=f"fix or remove {path}",
            file=str(path),
        ) from e
    return data if isinstance(data, dict) else {}


def _header_fields(header: list[str]) -> dict[str, str]:
    """``Title:`` and ``Author:`` from the PG header (continuation lines joined), else the
    "The Project Gutenberg Etext of X, by Y" opening line."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in header:
        match = _HEADER_FIELD.match(line)
        if match and match.group(1).lower() not in fields:
            current = match.group(1).lower()
            fields[current] = match.group(2)
        elif current and _CONTINUATION.match(line):
            fields[current] += " " + line.strip()
        else:
            current = None
    if "title" not in fields:
        for line in header[:5]:
            opening = _ETEXT_OF.search(line)
            if opening:
                fields["title"] = opening.group("title").strip()
                if opening.group("author") and "author" not in fields:
                    fields["author"] = opening.group("author").strip()
                break
    return {key: value for key, value in fields.items() if value}


def _etext_number(metadata: dict[str, Any], header: list[str]) -> int | None:
    number = (metadata.get("identifiers") or {}).get("gutenberg")
    if number is not None and str(number).isdigit():
        return int(number)
    for line in header:
        match = _ETEXT_NUMBER.search(line)
        if match:
            return int(match.group(1))
    return None


def _creator(metadata: dict[str, Any]) -> str | None:
    """Author agent names (``Verne, Jules``); several authors joined with ``; ``."""
    creator = metadata.get("creator")
    if not isinstance(creator, dict):
        return None
    authors = creator.get("author")
    if isinstance(authors, dict):
        authors = [authors]
    if not isinstance(authors, list):
        return None
    names = [str(a["agent_name"]) for a in authors if isinstance(a, dict) and a.get("agent_name")]
    return "; ".join(names) or None


def _clean_title(value: object) -> str | None:
    """PG titles put the subtitle on a new line; keep it after a colon, on one line."""
    if value is None:
        return None
    lines = [" ".join(line.split()) for line in str(value).splitlines()]
    return ": ".join(line for line in lines if line) or None


def _language(value: object) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return _str_or_none(value)


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
