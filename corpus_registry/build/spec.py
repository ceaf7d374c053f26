"""Build specs: what a release contains, validated with pydantic (unknown keys are errors)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from corpus_registry.build.dedup import DedupConfig
from corpus_registry.build.filters import FilterConfig
from corpus_registry.config import read_yaml, validate
from corpus_registry.errors import CorpusRegistryError
from corpus_registry.registry import licences
from corpus_registry.registry.catalogue import Collection
from corpus_registry.registry.languages import canonical_language
from corpus_registry.registry.licences import Tier


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Selection(_Strict):
    """Which registry documents are candidates. Review, rejected and withdrawn never pass."""

    languages: list[str] | None = Field(None, description="language codes (BCP 47, e.g. fr, pt-BR); None = all")
    min_language_score: float = Field(0.0, ge=0.0, le=1.0)
    license_tiers: list[Tier] = Field(
        default_factory=lambda: [Tier.PUBLIC_DOMAIN, Tier.ATTRIBUTION],
        description="open tiers allowed (public_domain, attribution, share_alike)",
    )
    licenses: list[str] | None = Field(None, description="explicit SPDX allow-list (on top of tiers)")
    collections: list[Collection] | None = None
    sources: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None

    @field_validator("license_tiers")
    @classmethod
    def _open_tiers_only(cls, tiers: list[Tier]) -> list[Tier]:
        closed = [t.value for t in tiers if not t.open]
        if closed:
            raise ValueError(f"tiers {closed} can never be released; allowed: public_domain, "
                             "attribution, share_alike")
        return sorted(set(tiers), key=lambda t: t.rank)

    @field_validator("licenses")
    @classmethod
    def _canonical_licenses(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        try:
            return sorted({licences.canonical(v) for v in values})
        except CorpusRegistryError as e:
            raise ValueError(str(e)) from e

    @field_validator("languages")
    @classmethod
    def _codes(cls, values: list[str] | None) -> list[str] | None:
        return sorted({canonical_language(v) for v in values}) if values else None


class OutputConfig(_Strict):
    max_rows_per_shard: int = Field(50_000, ge=1)
    max_bytes_per_shard: int = Field(256 * 1024 * 1024, ge=1024)
    formats: list[Literal["parquet", "dolma"]] = Field(
        default=["parquet"],
        description="parquet (always: the shards of the Hub configs); dolma adds the same rows in dolma's layout")

    @field_validator("formats")
    @classmethod
    def _parquet_first(cls, values: list[str]) -> list[str]:
        return ["parquet", *sorted(set(values) - {"parquet"})]


class BuildSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
    version: str = Field(pattern=r"^v?\d+(\.\d+){0,2}([.-][A-Za-z0-9.]+)?$")
    pretty_name: str | None = None
    description: str | None = None
    creator: str | None = Field(None, description="who publishes the release (card citation, croissant.json)")
    hub_repo: str | None = Field(None, pattern=r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$",
                                 description="OWNER/NAME on the Hub, for the card's load_dataset lines")
    select: Selection = Field(default_factory=Selection)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    tokenizer: str | None = Field(
        None, min_length=1, max_length=1000,
        description="a tokenizers JSON file (path, relative to the spec's folder) or a Hub model id found in "
                    "the local Hugging Face cache: rows then carry token_count; None: token_count is null")
    #: where the spec was read from: its folder resolves a relative ``tokenizer`` path; errors name it
    _origin: str = PrivateAttr("spec")
    _base_dir: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _dates(self) -> BuildSpec:
        for d in (self.select.date_from, self.select.date_to):
            if d is not None and not re.fullmatch(r"-?\d{1,4}(-\d{2}(-\d{2})?)?", d):
                raise ValueError(f"date {d!r}: use YYYY, YYYY-MM or YYYY-MM-DD")
        return self

    def canonical(self) -> dict[str, Any]:
        """The spec as JSON-ready data, defaults filled in (goes into the manifest)."""
        return self.model_dump(mode="json")

    def origin(self) -> tuple[str, Path | None]:
        """What the spec was read from (for errors) and the folder its relative paths start from."""
        return self._origin, self._base_dir


def load_spec(path: Path) -> BuildSpec:
    return parse_spec(read_yaml(path, what="build spec"), origin=str(path), base_dir=Path(path).parent)


def parse_spec(data: Any, *, origin: str = "spec", base_dir: Path | None = None) -> BuildSpec:
    """Validate a spec; ``base_dir``: where a relative ``tokenizer`` path is found (default: the current folder)."""
    spec = validate(BuildSpec, data, origin=origin,
                    expected="a build spec mapping (name, version, select, filters, dedup)")
    spec._origin, spec._base_dir = origin, base_dir
    return spec


def with_formats(spec: BuildSpec, formats: list[str]) -> BuildSpec:
    """``spec`` writing ``formats`` (validated as in a spec file; Parquet is always written)."""
    data = spec.canonical()
    data["output"]["formats"] = formats
    out = parse_spec(data, origin="--format")
    out._origin, out._base_dir = spec.origin()
    return out
