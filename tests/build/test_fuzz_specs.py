"""Fuzzing build specs and policies (issue 12): random and mutated real files give either a valid
object or the project's one-line ConfigError; a valid spec builds or stops with a CorpusRegistryError,
writing nothing outside --out."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from corpus_registry.audit.policy import Policy, load_policy, parse_policy
from corpus_registry.build.builder import build_release
from corpus_registry.build.filters import build_filters
from corpus_registry.build.spec import BuildSpec, load_spec, parse_spec
from corpus_registry.errors import ConfigError, CorpusRegistryError
from corpus_registry.registry.registry import Registry

from tests.build.test_release_folder import CATALOGUE
from tests.conftest import REPO
from tests.fuzzing import bounded, json_values, mutated, sqlite_registry

SPECS = [yaml.safe_load((REPO / "specs" / name).read_text(encoding="utf-8")) for name in ("fr.yaml", "all.yaml")]
SPEC_KEYS = ["name", "version", "select", "filters", "dedup", "output", "languages", "license_tiers", "licenses",
             "min_language_score", "length", "repetition", "top_ngram_char_frac", "dup_ngram_char_frac", "enabled",
             "min_words", "max_words", "threshold", "num_perm", "ngram", "max_rows_per_shard", "date_from"]
POLICY = yaml.safe_load((REPO / "specs" / "policy-public-domain-only.yaml").read_text(encoding="utf-8"))
POLICY_KEYS = ["name", "tiers", "allow", "deny", "allow_unknown_documents", "require_attribution"]


def spec_or_config_error(data: Any) -> BuildSpec | None:
    try:
        spec = parse_spec(data, origin="fuzz.yaml")
    except ConfigError as e:
        assert str(e).startswith("fuzz.yaml") and "\n" not in str(e)
        return None
    build_filters(spec.filters)  # every filter can be made from a valid spec
    spec.canonical()
    return spec


@bounded(300)
@given(st.sampled_from(SPECS).flatmap(lambda s: mutated(s, keys=SPEC_KEYS)))
def test_mutated_specs(data: Any) -> None:
    spec_or_config_error(data)


@bounded(150)
@given(json_values)
def test_random_specs(data: Any) -> None:
    spec_or_config_error(data)


@bounded(100)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_spec_files(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_bytes(raw)
        for load in (load_spec, load_policy):
            try:
                load(path)
            except ConfigError as e:
                assert "\n" not in str(e)


@bounded(200)
@given(st.sampled_from([POLICY, {}]).flatmap(lambda p: mutated(p, keys=POLICY_KEYS)),
       st.lists(st.text(max_size=20) | st.sampled_from(["CC0-1.0 OR MIT", "GPL-3.0-only AND CC-BY-4.0", "(",
                                                         "LicenseRef-x", "CC-BY-4.0 WITH Classpath-exception-2.0"]),
                max_size=5))
def test_mutated_policies(data: Any, expressions: list[str]) -> None:
    try:
        policy = parse_policy(data, origin="policy.yaml")
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(policy, Policy)
    for expression in expressions:
        for tier in (None, "public_domain", "review", "bogus"):
            verdict = policy.check(expression, tier=tier)
            assert verdict is None or isinstance(verdict, str)


@pytest.fixture(scope="module")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = sqlite_registry(tmp_path_factory.mktemp("fuzz-build"), CATALOGUE)
    yield reg
    reg.dispose()


@bounded(12)
@given(st.sampled_from(SPECS).flatmap(lambda s: mutated(s, keys=SPEC_KEYS)))
def test_valid_mutated_specs_build_or_stop_cleanly(small_registry: Registry, data: Any) -> None:
    spec = spec_or_config_error(data)
    if spec is None:
        return
    spec = spec.model_copy(update={"dedup": spec.dedup.model_copy(update={"num_perm": min(spec.dedup.num_perm, 64)})})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "box" / "out"
        try:
            result = build_release(small_registry, spec, out_dir=out, progress=False, record=False)
        except CorpusRegistryError as e:
            assert "\n" not in str(e)
            assert not out.exists()
        else:
            assert result.rows > 0 and (out / "manifest.json").is_file()
        written = [Path(root) / f for root, _, files in os.walk(tmp) for f in files]
        assert all(out in p.parents for p in written), written  # nothing outside --out


valid_looking = st.fixed_dictionaries({
    "name": st.just("fuzz"), "version": st.sampled_from(["1", "1.0.0", "v2.1-rc.1"]),
    "select": st.fixed_dictionaries({}, optional={
        "languages": st.lists(st.sampled_from(["fr", "en", "de", "fra", "EN", "tlh", "pt-BR", "zh-Hant"]), max_size=3),
        "min_language_score": st.floats(0, 1),
        "license_tiers": st.lists(st.sampled_from(["public_domain", "attribution", "share_alike"]), min_size=1),
        "date_from": st.sampled_from(["1900", "2000-01", "-500"])}),
    "filters": st.fixed_dictionaries({}, optional={
        "length": st.fixed_dictionaries({}, optional={"min_words": st.integers(0, 3000),
                                                      "max_words": st.integers(1, 5000), "enabled": st.booleans()}),
        "repetition": st.fixed_dictionaries({}, optional={
            "top_ngram_char_frac": st.dictionaries(st.integers(2, 64), st.floats(0, 1), max_size=3),
            "dup_ngram_char_frac": st.dictionaries(st.integers(2, 64), st.floats(0, 1), max_size=3),
            "dup_line_frac": st.none() | st.floats(0, 1)}),
        "ocr_noise": st.fixed_dictionaries({"enabled": st.booleans()})}),
    "dedup": st.fixed_dictionaries({"num_perm": st.integers(16, 64)}, optional={
        "exact": st.booleans(), "near": st.booleans(), "threshold": st.floats(0.01, 1), "ngram": st.integers(1, 20)}),
    "output": st.fixed_dictionaries({}, optional={"max_rows_per_shard": st.integers(1, 50),
                                                  "max_bytes_per_shard": st.integers(1024, 1 << 20)}),
})


@bounded(25)
@given(valid_looking)
def test_valid_specs_build_or_stop_cleanly(small_registry: Registry, data: dict[str, Any]) -> None:
    spec = spec_or_config_error(data)
    assert spec is not None, data
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "box" / "out"
        try:
            result = build_release(small_registry, spec, out_dir=out, progress=False, record=False)
        except CorpusRegistryError as e:
            assert "\n" not in str(e) and not out.exists()
        else:
            files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
            assert files == set(result.files) and result.rows > 0
        written = [Path(root) / f for root, _, files in os.walk(tmp) for f in files]
        assert all(out in p.parents for p in written), written
