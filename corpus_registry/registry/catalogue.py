"""``sources.yaml``: the catalogue of sources, validated with pydantic before anything is written."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from corpus_registry.config import read_yaml, validate
from corpus_registry.errors import CorpusRegistryError
from corpus_registry.registry import licences
from corpus_registry.registry.languages import canonical_language
from corpus_registry.registry.readers.urls import check_url_template

#: Source-level fields that travel to the reader with its options (stored among them, no migration).
READER_LEVEL = ("markup", "url_template")


def bundled_sample() -> Path:
    """The folder holding the bundled sample: ``sources.yaml``, ``data/`` and ``specs/``.

    An installed wheel carries a copy (``corpus_registry/sample``, made at build time); a source
    checkout has them at its root."""
    packaged = Path(__file__).resolve().parents[1] / "sample"
    if (packaged / "sources.yaml").is_file():
        return packaged
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "sources.yaml").is_file() and (checkout / "data").is_dir():
        return checkout
    raise CorpusRegistryError("this installation carries no bundled sample",
                              hint="pass --catalogue PATH to a sources.yaml of your own")


class Collection(str, enum.Enum):
    """Common Corpus collections."""

    OPEN_CULTURE = "OpenCulture"
    OPEN_GOVERNMENT = "OpenGovernment"
    OPEN_SCIENCE = "OpenScience"
    OPEN_WEB = "OpenWeb"
    OPEN_SOURCE = "OpenSource"
    OPEN_SEMANTIC = "OpenSemantic"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_license(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return licences.canonical(value)
    except CorpusRegistryError as e:
        raise ValueError(str(e)) from e


class DocumentOverride(_Strict):
    """Corrections for one document, keyed by its identifier in ``documents:``."""

    license: str | None = None
    review: str | None = Field(None, description="why this document's licence needs a person's review")
    title: str | None = None
    creator: str | None = None
    date: str | None = Field(None, description="the date of the work (not of a later edition or upload)")
    language: str | None = None
    url: str | None = None

    _license = field_validator("license")(classmethod(lambda cls, v: _check_license(v)))

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else canonical_language(value)


class ReaderSpec(BaseModel):
    """``kind`` plus the reader's own options (validated by the reader itself)."""

    model_config = ConfigDict(extra="allow")
    kind: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SourceSpec(_Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$")
    name: str
    collection: Collection
    origin_url: str | None = None
    license: str
    review: str | None = Field(None, description="why the source's licence needs review")
    attribution: str | None = None
    rights_holder: str | None = None
    retrieved: dt.date | None = None
    reader: ReaderSpec
    markup: Literal["keep", "strip"] | None = Field(
        None, description="markup in the files: strip it to plain text (the default of readers that can "
        "carry markup) or keep it as written")
    url_template: str | None = Field(
        None, description="URL of each document the reader finds none for, e.g. "
        "https://www.gutenberg.org/ebooks/{gutenberg_id}")
    documents: dict[str, DocumentOverride] = Field(default_factory=dict)

    _license = field_validator("license")(classmethod(lambda cls, v: _check_license(v)))

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else check_url_template(value)

    @model_validator(mode="after")
    def _source_level_only(self) -> SourceSpec:
        for name in READER_LEVEL:
            if name in self.reader.options:
                raise ValueError(f"write {name!r} at the source level, beside 'reader', not inside it")
        return self

    def reader_options(self) -> dict[str, Any]:
        """The reader's options plus the source-level fields the reader applies (when set)."""
        extra = {name: getattr(self, name) for name in READER_LEVEL if getattr(self, name) is not None}
        return {**self.reader.options, **extra}

    @field_validator("documents")
    @classmethod
    def _nfc_identifiers(cls, documents: dict[str, DocumentOverride]) -> dict[str, DocumentOverride]:
        """Identifiers are registered in NFC: an override written in another form must still apply."""
        out: dict[str, DocumentOverride] = {}
        for key, override in documents.items():
            nfc = unicodedata.normalize("NFC", key)
            if nfc in out:
                raise ValueError(f"documents {key!r} and {nfc!r} are the same identifier (in NFC)")
            out[nfc] = override
        return out


class Catalogue(_Strict):
    sources: list[SourceSpec]

    @field_validator("sources")
    @classmethod
    def _unique_slugs(cls, sources: list[SourceSpec]) -> list[SourceSpec]:
        seen: set[str] = set()
        for s in sources:
            if s.slug in seen:
                raise ValueError(f"duplicate source slug {s.slug!r}")
            seen.add(s.slug)
        return sources


def load_catalogue(path: Path) -> Catalogue:
    """Parse and validate ``sources.yaml``; every error names the file and the offending field."""
    return validate(Catalogue, read_yaml(path, what="sources file"), origin=str(path),
                    expected="a mapping with a 'sources:' list")
