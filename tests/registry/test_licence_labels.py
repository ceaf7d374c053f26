"""Per-record licence labels at any depth (dolma / Common Pile ``metadata.license``), recorded as
their records declare them; a declared field missing on a record is an error naming file and line;
identifiers in any Unicode form are one document."""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry import decisions
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.lookup import find_document, show
from corpus_registry.registry.readers import get_reader
from corpus_registry.registry.readers.records import get_field
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from corpus_registry.registry.withdraw import withdraw

from tests.conftest import DATA

UDHR = DATA / "nltk-udhr" / "udhr"
COMMON_PILE_CC0 = "Creative Commons Zero - Public Domain - https://creativecommons.org/publicdomain/zero/1.0/"


def udhr(name: str) -> str:
    return (UDHR / name).read_bytes().decode("latin-1")


def dolma_records() -> list[dict]:
    """Real texts in dolma's layout, their licences under ``metadata`` as the Common Pile writes them."""
    return [
        {"id": "en", "text": udhr("en_English-Latin1.txt"), "source": "udhr", "added": "2025-01-01",
         "metadata": {"license": "CC-BY-NC-4.0", "url": "https://www.ohchr.org"}},
        {"id": "fr", "text": udhr("fr_French_Francais-Latin1.txt"), "source": "udhr", "added": "2025-01-01",
         "metadata": {"license": COMMON_PILE_CC0}},
        {"id": "de", "text": udhr("de_German_Deutsch-Latin1.txt"), "source": "udhr", "added": "2025-01-01",
         "metadata": {"license": "Creative Commons - Attribution - https://creativecommons.org/licenses/by/4.0/"}},
        {"id": "es", "text": udhr("es_Spanish-Latin1.txt"), "source": "udhr", "added": "2025-01-01",
         "metadata": {"license": "some licence nobody knows"}},
    ]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def catalogue(tmp_path: Path, reader: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
sources:
  - slug: cp
    name: Common Pile sample
    collection: OpenWeb
    license: CC0-1.0
    reader: {reader}
""", encoding="utf-8")
    return path


def test_nested_labels_are_recorded_as_their_records_declare(registry: Registry, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "cp" / "part-0.jsonl.gz", dolma_records())
    sync_sources(registry, catalogue_path=catalogue(
        tmp_path, f"{{kind: jsonl, path: {tmp_path / 'cp'}, license_field: metadata.license, url_field: metadata.url}}"))
    ingest(registry, progress=False)
    en = show(registry, "cp/en", with_text=False)
    assert (en["declared_license"], en["license"], en["license_tier"], en["url"]) == (
        "CC-BY-NC-4.0", "CC-BY-NC-4.0", "rejected", "https://www.ohchr.org")
    fr = show(registry, "cp/fr", with_text=False)
    assert (fr["license"], fr["license_tier"], fr["extra"]["license_raw"]) == ("CC0-1.0", "public_domain", COMMON_PILE_CC0)
    de = show(registry, "cp/de", with_text=False)  # more obligations than its source: fine, not laundering
    assert (de["license"], de["license_tier"], de["review"]) == ("CC-BY-4.0", "attribution", None)
    es = show(registry, "cp/es", with_text=False)  # not mapped: review, the label kept as written
    assert (es["license"], es["license_tier"], es["extra"]["license_raw"]) == (
        "LicenseRef-Unknown", "review", "some licence nobody knows")
    queue = decisions.review_queue(registry)
    assert [(i.id, i.label) for i in queue] == [("cp/es", "some licence nobody knows")]


def test_a_record_claiming_more_than_its_source_goes_to_review(registry: Registry, tmp_path: Path) -> None:
    records = [dict(r, metadata={"license": "Public Domain"}) for r in dolma_records()[:1]]
    write_jsonl(tmp_path / "cp" / "a.jsonl", records)
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
sources:
  - slug: cp
    name: CC BY-SA source
    collection: OpenWeb
    license: https://creativecommons.org/licenses/by-sa/4.0/
    reader: {{kind: jsonl, path: {tmp_path / 'cp'}, license_field: metadata.license}}
""", encoding="utf-8")
    sync_sources(registry, catalogue_path=path)
    ingest(registry, progress=False)
    en = show(registry, "cp/en", with_text=False)
    assert en["license_tier"] == "review" and "more permissive than the source's CC-BY-SA-4.0" in en["review"]


@pytest.mark.parametrize("missing", [{}, {"metadata": {}}, {"metadata": {"license": ""}},
                                     {"metadata": {"license": None}}, {"metadata": "CC0"}])
def test_a_declared_licence_field_missing_on_a_record_names_file_and_line(tmp_path: Path, missing: dict) -> None:
    records = dolma_records()[:2]
    bad = {k: v for k, v in records[1].items() if k != "metadata"} | missing
    write_jsonl(tmp_path / "cp.jsonl", [records[0], bad])
    reader = get_reader("jsonl", base_dir=tmp_path, options={"path": ".", "license_field": "metadata.license"})
    with pytest.raises(ReaderError, match=r"^cp\.jsonl:2: no licence in field 'metadata\.license'"):
        list(reader.read())


def test_nested_fields_in_parquet_and_datasets(tmp_path: Path) -> None:
    rows = dolma_records()[:3]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "cp.parquet")
    reader = get_reader("parquet", base_dir=tmp_path, options={
        "path": ".", "license_field": "metadata.license", "url_field": "metadata.url", "extra_fields": ["added"]})
    docs = list(reader.read())
    assert [(d.identifier, d.license, d.url) for d in docs] == [
        ("en", "CC-BY-NC-4.0", "https://www.ohchr.org"), ("fr", COMMON_PILE_CC0, None),
        ("de", rows[2]["metadata"]["license"], None)]
    assert docs[0].extra["added"] == "2025-01-01"

    from datasets import Dataset

    Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    saved = get_reader("hf_disk", base_dir=tmp_path, options={"path": "saved", "license_field": "metadata.license"})
    assert [d.license for d in saved.read()] == [r["metadata"]["license"] for r in rows]
    with pytest.raises(ReaderError, match=r"no field 'meta\.license' \(columns: "):
        list(get_reader("parquet", base_dir=tmp_path, options={"path": ".", "license_field": "meta.license"}).read())
    with pytest.raises(ConfigError, match="empty part"):
        get_reader("parquet", base_dir=tmp_path, options={"path": ".", "license_field": "metadata..license"})


def test_every_record_field_takes_a_dotted_path(tmp_path: Path) -> None:
    """id, text and title too (a dolma reader builds on this), and keys that hold dots themselves."""
    write_jsonl(tmp_path / "d.jsonl", [{"doc": {"id": "x1", "body": {"text": udhr("fr_French_Francais-Latin1.txt")},
                                                "title.main": "Déclaration"}, "license": ["CC-BY-4.0", "MIT"]}])
    reader = get_reader("jsonl", base_dir=tmp_path, options={
        "path": ".", "id_field": "doc.id", "text_field": "doc.body.text", "title_field": "doc.title.main",
        "license_field": "license"})
    (doc,) = reader.read()
    assert (doc.identifier, doc.title, doc.license) == ("x1", "Déclaration", "CC-BY-4.0 AND MIT")
    assert doc.text.startswith(udhr("fr_French_Francais-Latin1.txt")[:50])


_KEYS = st.text(alphabet="ab.", min_size=1, max_size=4)
_TREES = st.recursive(st.integers(), lambda inner: st.dictionaries(_KEYS, inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(_TREES, st.lists(st.sampled_from(["a", "b", "a.b", "b.a"]), min_size=1, max_size=3))
def test_get_field_finds_exactly_what_the_path_names(tree: object, parts: list[str]) -> None:
    """Whatever the nesting and dotted keys: a found value is reachable by some split of the path."""
    path = ".".join(parts)
    record = tree if isinstance(tree, dict) else {"x": tree}
    found, value = get_field(record, path)

    def reachable(node: object, rest: list[str]) -> list[object]:
        if not rest:
            return [node]
        if not isinstance(node, dict):
            return []
        return [v for k in range(1, len(rest) + 1) if ".".join(rest[:k]) in node
                for v in reachable(node[".".join(rest[:k])], rest[k:])]

    options = reachable(record, path.split("."))
    assert found == bool(options)
    if found:
        assert value in options


def test_identifiers_in_any_unicode_form_are_one_document(registry: Registry, tmp_path: Path) -> None:
    nfd, nfc = unicodedata.normalize("NFD", "Déclaration"), unicodedata.normalize("NFC", "Déclaration")
    assert nfd != nfc
    text = udhr("fr_French_Francais-Latin1.txt")
    write_jsonl(tmp_path / "cp" / "a.jsonl", [{"id": nfd, "text": text}])
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
sources:
  - slug: cp
    name: NFD identifiers
    collection: OpenWeb
    license: CC0-1.0
    reader: {{kind: jsonl, path: {tmp_path / 'cp'}}}
    documents:
      {nfd}: {{review: "check this one"}}
""", encoding="utf-8")
    sync_sources(registry, catalogue_path=path)
    ingest(registry, progress=False)
    assert find_document(registry, nfc).identifier == nfc
    assert find_document(registry, f"cp/{nfd}").identifier == nfc
    assert show(registry, nfc, with_text=False)["license_tier"] == "review"  # the NFD override applies
    write_jsonl(tmp_path / "cp" / "a.jsonl", [{"id": nfc, "text": text + "\n\nA new edition."}])
    ingest(registry, progress=False)  # the NFC spelling is the same document: a new version
    record = show(registry, nfd, with_text=False)
    assert record["identifier"] == nfc and record["version"] == 2
    assert withdraw(registry, ref=nfd, reason="test", by="t").count == 1
    with pytest.raises(ReaderError, match="duplicate identifier"):  # both spellings in one source: one id
        write_jsonl(tmp_path / "cp" / "a.jsonl", [{"id": nfd, "text": text}, {"id": nfc, "text": text + " x"}])
        ingest(registry, progress=False)
