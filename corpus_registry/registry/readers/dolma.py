"""dolma / Common Pile files: gzipped JSON lines of ``id, text, source, added, created, metadata{…}``.

The dolma toolkit's document format (``documents/*.json.gz``), which the Common Pile and the
datasets built with dolma or datatrove share. Read like JSON Lines (one document per line,
streamed, gzip or not) with dolma's field names as defaults: the licence, url, title and author
come from ``metadata``, the date from ``created``; the document's dolma ``source`` and ``added``
stamps are kept with it. ``license_map`` turns a corpus's own licence labels into SPDX (the
Common Pile writes "Public Domain" or "Creative Commons - Attribution - https://…").
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from corpus_registry.registry.readers.jsonl import JsonlOptions, JsonlReader

#: Where the release columns go in a dolma document (the rest of a row goes to metadata, by name).
DOLMA_FIELDS = {"identifier": "id", "text": "text", "source": "source", "date": "created"}
#: Columns named as the Common Pile names them inside ``metadata``.
METADATA_NAMES = {"creator": "author"}


class DolmaOptions(JsonlOptions):
    glob: str | list[str] = Field(default_factory=lambda: ["**/*.json.gz", "**/*.jsonl.gz", "**/*.json",
                                                           "**/*.jsonl"])
    title_field: str | None = "metadata.title"
    creator_field: str | None = "metadata.author"
    date_field: str | None = "created"
    url_field: str | None = "metadata.url"
    license_field: str | None = "metadata.license"
    extra_fields: list[str] = Field(default_factory=lambda: ["source", "added"])


class DolmaReader(JsonlReader):
    """One dolma document per line; nested metadata fields by dotted path."""

    kind: ClassVar[str] = "dolma"
    Options: ClassVar[type[DolmaOptions]] = DolmaOptions  # type: ignore[assignment]
    options: DolmaOptions
