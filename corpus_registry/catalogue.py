"""``sources.yaml``: the catalogue of sources, validated with pydantic before anything is written."""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import licences
from .errors import ConfigError, CorpusRegistryError


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
    date: str | None = None
    language: str | None = None
    url: str | None = None

    _license = field_validator("license")(classmethod(lambda cls, v: _check_license(v)))


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
    documents: dict[str, DocumentOverride] = Field(default_factory=dict)

    _license = field_validator("license")(classmethod(lambda cls, v: _check_license(v)))


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


def _loc(loc: tuple[int | str, ...], data: Any) -> str:
    """Render a pydantic error location, naming sources by slug: ``sources[gutenberg-fr].license``."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            slug = node[item].get("slug") if isinstance(node, list) and isinstance(node[item], dict) else None
            parts[-1] += f"[{slug or item}]"
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def load_catalogue(path: Path) -> Catalogue:
    """Parse and validate ``sources.yaml``; every error names the file and the offending field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: file not found", file=str(path)) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}{where}: malformed YAML: {problem}", file=str(path),
                          hint="fix the YAML syntax at that line") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'sources:' list", file=str(path))
    try:
        return Catalogue.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = _loc(tuple(err["loc"]), data)
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"{path}: {field}: {msg}{more}", file=str(path), field=field) from e
