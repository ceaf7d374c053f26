"""Readers other than Gutenberg, encoding detection, and reader configuration errors."""

from __future__ import annotations

import gzip
import inspect
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry.readers import READERS, Reader, decode_bytes, get_reader
from corpus_registry.registry.readers.markdown import markdown_title

REPO = Path(__file__).parent.parent.parent
DATA = REPO / "data"
GENESIS = "data/nltk-genesis"
CODE_CIVIL = "data/legifrance-code-civil/code-civil"


def _reader(kind: str, base_dir: Path = REPO, **options: object) -> Reader:
    return get_reader(kind, base_dir=base_dir, options=options)


# --- encoding -------------------------------------------------------------------------------


def test_decode_latin1_file_named_as_utf8() -> None:
    path = DATA / "gutenberg-en-de-es-it/de/pg6651-immensee/6651-0.txt"
    text, encoding = decode_bytes(path.read_bytes(), path=path.name)
    assert encoding == "iso8859-1"
    assert "ü" in text and "ß" in text and "Ã" not in text


def test_decode_utf8_with_bom_drops_the_bom() -> None:
    path = DATA / "gutenberg-fr/pg799-de-la-terre-a-la-lune/799-0.txt"
    text, encoding = decode_bytes(path.read_bytes(), path=path.name)
    assert encoding == "utf-8-sig"
    assert not text.startswith("\ufeff")
    assert "à la Lune" in text


def test_decode_explicit_wrong_encoding_names_file_and_suggests_override() -> None:
    path = DATA / "gutenberg-en-de-es-it/de/pg6651-immensee/6651-0.txt"
    with pytest.raises(ReaderError) as caught:
        decode_bytes(path.read_bytes(), path="de/6651-0.txt", encoding="utf-8")
    assert "de/6651-0.txt" in str(caught.value)
    assert "encodings:" in (caught.value.hint or "")


@pytest.mark.parametrize("encoding", ["cp1250", "iso8859-2"])
def test_decode_auto_recognises_central_european(encoding: str) -> None:
    text = (DATA / "nltk-udhr/udhr/pl_Polish-Latin2.txt").read_text(encoding="utf-8-sig")
    decoded, used = decode_bytes(text.encode(encoding), path="pl.txt")
    assert decoded == text
    assert used == encoding


def test_decode_auto_recognises_cyrillic_and_utf16() -> None:
    text = (DATA / "nltk-udhr/udhr/ru_Russian-UTF8.txt").read_text(encoding="utf-8-sig")
    assert decode_bytes(text.encode("cp1251"), path="ru.txt") == (text, "cp1251")
    assert decode_bytes(text.encode("utf-16"), path="ru.txt") == (text, "utf-16")


def test_decode_auto_survives_a_bom_glued_onto_latin1() -> None:
    text, encoding = decode_bytes(b"\xef\xbb\xbfCh\xe8re amie", path="x.txt")
    assert (text, encoding) == ("Chère amie", "iso8859-1")


# --- text -----------------------------------------------------------------------------------


def test_genesis_with_cp865_override() -> None:
    reader = _reader("text", path=GENESIS, encodings={"genesis/swedish.txt": "cp865"})
    docs = {d.identifier: d for d in reader.read()}
    assert sorted(docs) == [
        "genesis/english-kjv",
        "genesis/english-web",
        "genesis/finnish",
        "genesis/french",
        "genesis/german",
        "genesis/lolcat",
        "genesis/portuguese",
        "genesis/swedish",
    ]  # README has no .txt: not matched by the default glob
    swedish = docs["genesis/swedish"]
    assert all(letter in swedish.text for letter in "åäö")
    assert swedish.extra["encoding"] == "cp865"
    assert swedish.path == "genesis/swedish.txt"
    assert swedish.title == "I begynnelsen skapade Gud himmel och jord."
    assert docs["genesis/finnish"].extra["encoding"] == "iso8859-1"
    assert "ä" in docs["genesis/finnish"].text
    assert reader.stats == {"files": 8, "documents": 8}


def test_encodings_key_may_be_a_unique_base_name() -> None:
    docs = _reader("text", path=f"{GENESIS}/genesis", encodings={"swedish.txt": "cp865"}).read()
    swedish = next(d for d in docs if d.identifier == "swedish")
    assert "från" in swedish.text


def test_encodings_key_matching_no_file_is_an_error() -> None:
    reader = _reader("text", path=GENESIS, encodings={"genesis/svenska.txt": "cp865"})
    with pytest.raises(ReaderError, match="'genesis/svenska.txt' matches no file"):
        list(reader.read())


def test_explicit_encoding_that_does_not_fit_is_an_error_naming_the_file() -> None:
    reader = _reader("text", path=GENESIS, encoding="utf-8")
    with pytest.raises(ReaderError, match="genesis/finnish.txt") as caught:
        list(reader.read())
    assert "encodings" in (caught.value.hint or "")


def test_udhr_identifiers_and_titles() -> None:
    docs = list(_reader("text", path="data/nltk-udhr").read())
    assert len(docs) == 40
    french = next(d for d in docs if d.identifier == "udhr/fr_French_Francais-Latin1")
    assert french.title == "Déclaration universelle des droits de l'homme"
    assert all(d.title and not d.title.startswith("\ufeff") for d in docs)
    assert [d.identifier for d in docs] == sorted(d.identifier for d in docs)


def test_file_readers_stream_one_file_at_a_time() -> None:
    reader = _reader("text", path="data/nltk-udhr")
    stream = reader.read()
    assert inspect.isgenerator(stream)
    next(stream)
    assert reader.stats["files"] == 1


def test_single_file_path(tmp_path: Path) -> None:
    docs = list(_reader("text", path=f"{GENESIS}/genesis/french.txt").read())
    assert [(d.identifier, d.path) for d in docs] == [("french", "french.txt")]


def test_empty_document_is_an_error_unless_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Some text.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text(" \n\n", encoding="utf-8")
    with pytest.raises(ReaderError, match="b.txt") as caught:
        list(_reader("text", path=str(tmp_path)).read())
    assert "skip_empty" in (caught.value.hint or "")
    reader = _reader("text", path=str(tmp_path), skip_empty=True)
    assert [d.identifier for d in reader.read()] == ["a"]
    assert reader.stats == {"files": 2, "documents": 1, "skipped_empty": 1}


def test_missing_path_is_a_reader_error() -> None:
    reader = _reader("text", path="data/no-such-folder")
    with pytest.raises(ReaderError, match="data/no-such-folder not found"):
        list(reader.read())
    assert reader.describe() == "text: data/no-such-folder (not found)"


def test_relative_path_resolves_against_base_dir() -> None:
    reader = _reader("text", base_dir=DATA / "nltk-genesis", path="genesis")
    assert reader.describe() == "text: 8 files under genesis"
    absolute = _reader("text", base_dir=Path("/nonexistent"), path=str(DATA / "nltk-genesis"))
    assert len(list(absolute.read())) == 8


# --- markdown -------------------------------------------------------------------------------


def test_code_civil_articles() -> None:
    reader = _reader("markdown", path=CODE_CIVIL)
    docs = {d.identifier: d for d in reader.read()}
    assert len(docs) == 833
    article = docs["livre-ier-des-personnes/titre-ier-des-droits-civils/8"]
    assert article.title == "Article 8"
    assert article.text == "Article 8\n\nTout Français jouira des droits civils."  # markup: strip, the default
    assert article.path == "livre-ier-des-personnes/titre-ier-des-droits-civils/8.md"
    assert all(d.title and d.title.startswith("Article ") for d in docs.values())


def test_markdown_exclude_drops_descriptions() -> None:
    reader = _reader(
        "markdown",
        path="data/legifrance-code-civil",
        exclude=["SOURCE.md", "UPSTREAM_README.md"],
    )
    docs = list(reader.read())
    assert len(docs) == 833
    assert all(d.identifier.startswith("code-civil/") for d in docs)


def test_markdown_title_skips_code_fences_and_prefers_level_one() -> None:
    text = "Intro line\n\n## Sub\n\n```sh\n# not a title\n```\n\n# Real Title #\n"
    assert markdown_title(text) == "Real Title"
    assert markdown_title("## Only second level\ntext") == "Only second level"
    assert markdown_title("no heading at all\nsecond") == "no heading at all"


# --- jsonl ----------------------------------------------------------------------------------


def _write_jsonl(path: Path, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


RECORDS = [
    {"id": "a", "text": "Première ligne.", "title": "A", "lang": "fr", "licence": "CC0-1.0"},
    {"id": 2, "text": "Second document.", "title": "B", "lang": "en", "year": 1900, "licence": "CC BY 4.0"},
]


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz"])
def test_jsonl_fields_and_gzip(tmp_path: Path, name: str) -> None:
    _write_jsonl(tmp_path / name, [json.dumps(r, ensure_ascii=False) for r in RECORDS] + [""])
    reader = _reader(
        "jsonl",
        path=str(tmp_path),
        title_field="title",
        language_field="lang",
        license_field="licence",
        date_field="year",
        extra_fields=["year"],
    )
    docs = list(reader.read())
    assert [(d.identifier, d.text, d.title, d.language) for d in docs] == [
        ("a", "Première ligne.", "A", "fr"),
        ("2", "Second document.", "B", "en"),
    ]
    assert docs[0].license == "CC0-1.0" and docs[1].license == "CC BY 4.0"  # as written: ingest normalises
    assert docs[1].date == "1900" and docs[1].extra == {"year": 1900, "line": 2}
    assert docs[0].path == name
    assert reader.describe() == f"jsonl: 1 file under {tmp_path}"


def test_jsonl_bad_json_names_file_and_line(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "d.jsonl", [json.dumps(RECORDS[0]), '{"id": "b", "text": '])
    with pytest.raises(ReaderError, match=r"^d\.jsonl:2: invalid JSON"):
        list(_reader("jsonl", path=str(tmp_path)).read())


def test_jsonl_missing_id_names_file_line_and_field(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "d.jsonl", [json.dumps(RECORDS[0]), json.dumps({"text": "x"})])
    with pytest.raises(ReaderError, match=r"^d\.jsonl:2: missing identifier field 'id'") as caught:
        list(_reader("jsonl", path=str(tmp_path)).read())
    assert caught.value.field == "id"  # type: ignore[attr-defined]


def test_jsonl_numbered_records_when_id_field_is_null(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "d.jsonl.gz", [json.dumps({"body": "x"}), json.dumps({"body": "y"})])
    docs = list(_reader("jsonl", path=str(tmp_path), id_field=None, text_field="body").read())
    assert [d.identifier for d in docs] == ["d/1", "d/2"]


def test_jsonl_missing_text_field_and_non_object(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "d.jsonl", [json.dumps({"id": "a", "content": "x"})])
    with pytest.raises(ReaderError, match=r"d\.jsonl:1: no field 'text' \(fields: id, content\)"):
        list(_reader("jsonl", path=str(tmp_path)).read())
    _write_jsonl(tmp_path / "d.jsonl", ["[1, 2]"])
    with pytest.raises(ReaderError, match=r"d\.jsonl:1: expected a JSON object, got list"):
        list(_reader("jsonl", path=str(tmp_path)).read())


def test_jsonl_non_utf8_line_is_an_error_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_bytes('{"id": "a", "text": "é"}\n'.encode("latin-1"))
    with pytest.raises(ReaderError, match=r"d\.jsonl:1: cannot decode") as caught:
        list(_reader("jsonl", path=str(tmp_path)).read())
    assert "encodings" in (caught.value.hint or "")
    docs = _reader("jsonl", path=str(tmp_path), encodings={"d.jsonl": "latin-1"}).read()
    assert [d.text for d in docs] == ["é"]


def test_jsonl_empty_text_skipped_on_request(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "d.jsonl", [json.dumps({"id": "a", "text": None})])
    with pytest.raises(ReaderError, match=r"d\.jsonl:1: document 'a' is empty"):
        list(_reader("jsonl", path=str(tmp_path)).read())
    reader = _reader("jsonl", path=str(tmp_path), skip_empty=True)
    assert list(reader.read()) == []
    assert reader.stats["skipped_empty"] == 1


# --- parquet --------------------------------------------------------------------------------


def _write_parquet(path: Path, rows: int, *, text_size: int = 20, row_group: int = 500) -> None:
    table = pa.table(
        {
            "doc_id": [f"d{i:05d}" for i in range(rows)],
            "content": [f"{i:05d} " + "x" * text_size for i in range(rows)],
            "lang": ["fr"] * rows,
            "unused": list(range(rows)),
        }
    )
    pq.write_table(table, path, row_group_size=row_group)


def test_parquet_rows_in_order_across_files(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "a.parquet", 1200)
    _write_parquet(tmp_path / "b.parquet", 3)
    reader = _reader(
        "parquet",
        path=str(tmp_path),
        id_field="doc_id",
        text_field="content",
        language_field="lang",
        batch_size=100,
    )
    docs = list(reader.read())
    assert len(docs) == 1203
    assert docs[0].identifier == "d00000" and docs[0].language == "fr"
    assert docs[1199].text.startswith("01199 ") and docs[1199].extra == {"row": 1199}
    assert docs[1200].path == "b.parquet"
    assert reader.stats == {"files": 2, "documents": 1203}


def test_parquet_reads_in_bounded_batches(tmp_path: Path) -> None:
    # ~20 MB of text in 1 MB row groups: Parquet decodes a row group at a time, so memory
    # stays near one row group plus one batch, far below the file's size.
    _write_parquet(tmp_path / "big.parquet", 4000, text_size=5000, row_group=200)
    reader = _reader(
        "parquet", path=str(tmp_path), id_field="doc_id", text_field="content", batch_size=50
    )
    before = pa.total_allocated_bytes()
    peak, count = 0, 0
    for count, _ in enumerate(reader.read(), start=1):
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert count == 4000
    assert peak < 5_000_000


def test_parquet_missing_column_lists_columns(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "a.parquet", 2)
    with pytest.raises(ReaderError, match=r"a\.parquet: no field 'text' \(columns: doc_id"):
        list(_reader("parquet", path=str(tmp_path), id_field="doc_id").read())


# --- hf_disk --------------------------------------------------------------------------------


def test_hf_disk_dataset_and_splits(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = {"id": ["x1", "x2", "x3"], "text": ["un", "deux", "trois"], "title": ["1", "2", "3"]}
    Dataset.from_dict(rows).save_to_disk(str(tmp_path / "single"))
    reader = _reader("hf_disk", path=str(tmp_path / "single"), title_field="title", batch_size=2)
    docs = list(reader.read())
    assert [(d.identifier, d.text, d.title) for d in docs] == [
        ("x1", "un", "1"),
        ("x2", "deux", "2"),
        ("x3", "trois", "3"),
    ]
    assert reader.describe() == f"hf_disk: 3 rows in {tmp_path / 'single'}"

    DatasetDict(
        {"train": Dataset.from_dict(rows), "test": Dataset.from_dict({"id": ["t"], "text": ["t"]})}
    ).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(ReaderError, match="has splits test, train; choose one"):
        list(_reader("hf_disk", path=str(tmp_path / "dict")).read())
    test_split = list(_reader("hf_disk", path=str(tmp_path / "dict"), split="test").read())
    assert [d.identifier for d in test_split] == ["t"]
    with pytest.raises(ReaderError, match="no split 'dev'"):
        list(_reader("hf_disk", path=str(tmp_path / "dict"), split="dev").read())


def test_hf_disk_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="is not a dataset saved with save_to_disk"):
        list(_reader("hf_disk", path=str(tmp_path)).read())


# --- configuration --------------------------------------------------------------------------


def test_reader_kinds() -> None:
    assert sorted(READERS) == ["dolma", "gutenberg", "hf_disk", "jsonl", "markdown", "parquet", "text"]
    assert all(kind == cls.kind for kind, cls in READERS.items())


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ConfigError, match="unknown reader kind 'epub'; valid kinds: dolma, gutenberg"):
        _reader("epub", path="x")


def test_unknown_option_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        _reader("gutenberg", path="x", encodeing="cp1252")
    message = str(caught.value)
    assert "gutenberg reader: unknown option 'encodeing'" in message
    assert ("valid options: allow_outside, encoding, encodings, exclude, follow_symlinks, glob, path, skip_empty"
            in message)


def test_missing_path_option_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="option 'path' is required"):
        _reader("text")
    with pytest.raises(ConfigError, match="option 'encoding'.*unknown encoding 'latin-9000'"):
        _reader("text", path="x", encoding="latin-9000")
    with pytest.raises(ConfigError, match="option 'batch_size'"):
        _reader("parquet", path="x", batch_size=0)
    with pytest.raises(ConfigError, match="jsonl reader: unknown option 'split'"):
        _reader("jsonl", path="x", split="train")


def test_describe_counts_files() -> None:
    assert _reader("gutenberg", path="data/gutenberg-fr").describe() == (
        "gutenberg: 9 files under data/gutenberg-fr"
    )
