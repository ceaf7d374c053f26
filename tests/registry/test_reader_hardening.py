"""Readers against hostile or damaged input (issue 12): symlinks and paths leading outside the source,
binary files, UTF-8 with bad bytes, UTF-16 without BOM, damaged Parquet and Arrow files. Real
documents from data/; the registry parts on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry.db.models import Document, IngestRun
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.readers import get_reader
from corpus_registry.registry.readers.encoding import decode_text
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from tests.conftest import DATA
from tests.fuzzing import bounded

UTF8_BOOK = DATA / "gutenberg-fr/pg799-de-la-terre-a-la-lune/799-0.txt"  # 377 KB of UTF-8 French
UDHR = DATA / "nltk-udhr/udhr"


def catalogue(folder: Path, reader: str, *, slug: str = "src") -> Path:
    path = folder / "sources.yaml"
    path.write_text(f"sources:\n  - slug: {slug}\n    name: A source\n    collection: OpenWeb\n"
                    f"    license: CC0-1.0\n    reader: {reader}\n", encoding="utf-8")
    return path


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corpus_registry.cli", "--db", url, *args],
                          capture_output=True, text=True, timeout=300)


def identifiers(reg: Registry) -> list[str]:
    with reg.session() as s:
        return list(s.scalars(select(Document.identifier).order_by(Document.identifier)))


# --- item 7: readers stay inside the source -------------------------------------------------------

def test_a_symlink_leading_outside_is_skipped_and_counted(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "catalogue"
    (root / "texts").mkdir(parents=True)
    own = sorted(UDHR.glob("fr_*.txt"))[0]
    (root / "texts" / "own.txt").write_bytes(own.read_bytes())
    secret = tmp_path / "elsewhere" / "secret.txt"  # a file elsewhere on the disk
    secret.parent.mkdir()
    secret.write_bytes(sorted(UDHR.glob("en_*.txt"))[0].read_bytes())
    (root / "texts" / "secret.txt").symlink_to(secret)
    (root / "texts" / "outside-folder").symlink_to(secret.parent, target_is_directory=True)  # ** does not enter it
    (root / "texts" / "inside.txt").symlink_to(root / "texts" / "own.txt")  # inside the source: fine
    cat = catalogue(root, "{kind: text, path: texts}")
    sync_sources(registry, catalogue_path=cat)
    stats = ingest(registry, progress=False)[0]
    ids = identifiers(registry)
    assert "secret" not in ids and "outside-folder/secret" not in ids and {"own", "inside"} <= set(ids)
    assert stats.skipped["skipped_symlink_outside"] == 1
    with registry.session() as s:
        assert s.scalars(select(IngestRun.skipped)).one() == stats.skipped

    cat = catalogue(root, "{kind: text, path: texts, follow_symlinks: true}")  # the source says so
    sync_sources(registry, catalogue_path=cat)
    stats = ingest(registry, progress=False)[0]
    assert "secret" in identifiers(registry)
    assert "skipped_symlink_outside" not in stats.skipped


@pytest.mark.parametrize("path", ["../outside", "{abs}", "link-out"])
def test_a_reader_path_outside_the_sources_folder_is_refused_at_sync(registry: Registry, tmp_path: Path,
                                                                     path: str) -> None:
    root = tmp_path / "catalogue"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_bytes(sorted(UDHR.glob("fr_*.txt"))[0].read_bytes())
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    path = path.replace("{abs}", str(outside))
    cat = catalogue(root, f"{{kind: text, path: '{path}'}}", slug="escape")
    with pytest.raises(ConfigError) as caught:
        sync_sources(registry, catalogue_path=cat)
    message = str(caught.value)
    assert "\n" not in message
    assert "sources[escape].reader" in message and "option 'path'" in message and "outside" in message
    assert "allow_outside: true" in caught.value.hint
    cat = catalogue(root, f"{{kind: text, path: '{path}', allow_outside: true}}", slug="escape")
    sync_sources(registry, catalogue_path=cat)
    assert ingest(registry, progress=False)[0].added == 1


# --- item 12: encodings and binary files ------------------------------------------------------------

def test_a_few_bad_bytes_keep_a_utf8_book_utf8() -> None:
    data = bytearray(UTF8_BOOK.read_bytes())
    original = data.decode("utf-8-sig")
    for at in (1000, 150_000, 300_000):  # three invalid bytes, each in ASCII text
        while data[at] >= 0x80:
            at += 1
        data[at] = 0xFF
    decoded = decode_text(bytes(data), path="799-0.txt")
    assert decoded.encoding == "utf-8" and decoded.replaced == 3
    assert decoded.text.count("\ufffd") == 3
    assert "Michel Ardan" in decoded.text and "é" in decoded.text and "Ã" not in decoded.text
    assert len(decoded.text) == len(original)


def test_legacy_text_is_not_taken_for_utf8() -> None:
    latin1 = DATA / "gutenberg-fr/pg4650-candide/4650-8.txt"
    decoded = decode_text(latin1.read_bytes(), path="4650-8.txt")
    assert decoded.encoding in ("iso8859-1", "cp1252") and decoded.replaced == 0
    assert "Candide" in decoded.text and "\ufffd" not in decoded.text


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("name", ["fr_*.txt", "ru_*.txt", "el_*.txt"])
def test_utf16_without_bom_is_detected(codec: str, name: str) -> None:
    files = sorted(UDHR.glob(name))
    if not files:
        pytest.skip(f"no {name} in the UDHR sample")
    text = decode_text(files[0].read_bytes(), path=files[0].name).text
    decoded = decode_text(text.encode(codec), path="x.txt")
    assert decoded.encoding == codec and decoded.text == text and "\x00" not in decoded.text


def binaries(folder: Path) -> dict[str, bytes]:
    """Real files of the kinds that must never be ingested as text."""
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    book = (DATA / "gutenberg-fr/pg4650-candide/4650-8.txt").read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("candide.txt", book)
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    nul = b"\x00\x01\x02\x00\x00\x00" * 2000 + book[:1000]
    return {"image.txt": png.getvalue(), "book.txt": gzip.compress(book), "archive.txt": archive.getvalue(),
            "paper.txt": pdf, "blob.txt": nul}


def test_binary_files_are_refused_and_counted(registry: Registry, tmp_path: Path) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    for name, data in binaries(tmp_path).items():
        (texts / name).write_bytes(data)
        with pytest.raises(ReaderError, match=rf"{name}: .*, not text"):
            decode_text(data, path=name)
    (texts / "real.txt").write_bytes(sorted(UDHR.glob("fr_*.txt"))[0].read_bytes())
    sync_sources(registry, catalogue_path=catalogue(tmp_path, "{kind: text, path: texts}"))
    for workers in (1, 2):
        stats = ingest(registry, progress=False, workers=workers)[0]
        assert identifiers(registry) == ["real"]
        assert stats.skipped["skipped_binary"] == 5
    # an encoding named by the user does not turn a PNG into text either
    sync_sources(registry, catalogue_path=catalogue(tmp_path, "{kind: text, path: texts, encoding: latin-1}"))
    assert ingest(registry, progress=False)[0].skipped["skipped_binary"] == 5


def test_the_ingest_summary_reports_skips_and_replacements(backend: str, make_db_url, tmp_path: Path) -> None:
    url = make_db_url(backend)
    Registry(url).init(store=str(tmp_path / "store"))
    texts = tmp_path / "texts"
    texts.mkdir()
    data = bytearray(UTF8_BOOK.read_bytes())
    data[5000] = 0xFF
    data[7000] = 0xFE
    (texts / "book.txt").write_bytes(bytes(data))
    (texts / "image.txt").write_bytes(binaries(tmp_path)["image.txt"])
    catalogue(tmp_path, "{kind: text, path: texts}")
    assert cli(url, "sources", "sync", str(tmp_path / "sources.yaml")).returncode == 0
    done = cli(url, "ingest", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert ("src: 2 invalid UTF-8 sequences replaced by U+FFFD in 1 file; 1 binary file skipped (not text)"
            in done.stdout)
    shown = cli(url, "show", "src/book", "--no-text", "--json")
    assert json.loads(shown.stdout)["extra"]["replaced_bytes"] == 2


# --- hypothesis: the detector never fails but with a ReaderError ---------------------------------

REAL_SAMPLES = [UTF8_BOOK.read_bytes()[:4000], (DATA / "gutenberg-fr/pg4650-candide/4650-8.txt").read_bytes()[:4000],
                "Всеобщая декларация прав человека".encode("utf-16-le")]


@bounded(300)
@given(data=st.binary(max_size=3000))
@example(data=b"\x00" * 10)
@example(data=b"\xff\xfe")
@example(data=b"\xfe\xff\x00")
@example(data=b"BZh91AY&SY")
def test_random_bytes_decode_or_raise_reader_error(data: bytes) -> None:
    for encoding in ("auto", "utf-8", "utf-16", "cp1252"):
        try:
            decoded = decode_text(data, path="fuzz.txt", encoding=encoding)
        except ReaderError as e:
            assert "\n" not in str(e)
            continue
        assert isinstance(decoded.text, str) and decoded.replaced >= 0


@bounded(200)
@given(sample=st.sampled_from(REAL_SAMPLES), edits=st.lists(st.tuples(st.integers(0, 3999), st.integers(0, 255)),
                                                            max_size=20))
def test_mutated_real_text_decodes_or_raises_reader_error(sample: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(sample)
    for at, value in edits:
        if at < len(data):
            data[at] = value
    try:
        decoded = decode_text(bytes(data), path="mutated.txt")
    except ReaderError:
        return
    assert decoded.text.count("\ufffd") >= decoded.replaced


# --- item 13: damaged Parquet and Arrow files -------------------------------------------------------

def _parquet(path: Path, n: int = 400) -> None:
    words = (DATA / "gutenberg-fr/pg4650-candide/4650-8.txt").read_text(encoding="latin-1").split()
    rows = [{"id": f"c{i}", "text": " ".join(words[i * 50:(i + 1) * 50])} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100, compression="none")


@pytest.mark.parametrize("damage", ["data page", "truncated", "footer"])
def test_a_damaged_parquet_file_is_one_line_naming_it(backend: str, make_db_url, tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    _parquet(tmp_path / "good.parquet")
    data = bytearray((tmp_path / "good.parquet").read_bytes())
    if damage == "data page":
        middle = len(data) // 2
        data[middle:middle + 3000] = b"\xaa" * 3000
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[-8:-4] = b"\xff\xff\xff\x7f"
    (folder / "bad.parquet").write_bytes(bytes(data))
    url = make_db_url(backend)
    Registry(url).init(store=str(tmp_path / "store"))
    catalogue(tmp_path, "{kind: parquet, path: pq}")
    assert cli(url, "sources", "sync", str(tmp_path / "sources.yaml")).returncode == 0
    for workers in ("1", "2"):
        done = cli(url, "ingest", "--no-progress", "--workers", workers)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        first = done.stderr.strip().splitlines()[0]
        assert first.startswith("Error: bad.parquet: not a readable Parquet file"), first


def test_a_truncated_arrow_file_is_one_line_naming_it(tmp_path: Path) -> None:
    from datasets import Dataset

    words = (DATA / "gutenberg-fr/pg4650-candide/4650-8.txt").read_text(encoding="latin-1").split()
    Dataset.from_list([{"id": f"c{i}", "text": " ".join(words[i * 50:(i + 1) * 50])} for i in range(500)]) \
        .save_to_disk(str(tmp_path / "saved"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    reader = get_reader("hf_disk", base_dir=tmp_path, options={"path": "saved"})
    with pytest.raises(ReaderError) as caught:
        list(reader.read())
    message = str(caught.value)
    assert "\n" not in message and "saved" in message and ".arrow" in message
    with pytest.raises(ReaderError):
        list(reader.identifiers())


def test_a_parquet_source_with_a_duplicate_id_reads_only_the_id_column_first(registry: Registry,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    _parquet(folder / "a.parquet", 120)
    rows = pq.read_table(folder / "a.parquet").to_pylist()
    rows[-1]["id"] = "c7"
    pq.write_table(pa.Table.from_pylist(rows), folder / "a.parquet", row_group_size=50)
    sync_sources(registry, catalogue_path=catalogue(tmp_path, "{kind: parquet, path: pq}"))
    for workers in (1, 2):
        with pytest.raises(ReaderError, match=r"duplicate identifier 'c7' \(a\.parquet row 7 and a\.parquet row 119\)"):
            ingest(registry, progress=False, workers=workers)
    assert identifiers(registry) == []


# --- fuzz: every file reader on mutated real files ------------------------------------------------

def _real_files(folder: Path) -> dict[str, bytes]:
    words = (DATA / "gutenberg-fr/pg4650-candide/4650-8.txt").read_text(encoding="latin-1").split()
    rows = [{"id": f"c{i}", "text": " ".join(words[i * 40:(i + 1) * 40])} for i in range(60)]
    jsonl = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("utf-8")
    table = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), table, row_group_size=20)
    return {"book.txt": (DATA / "gutenberg-fr/pg4650-candide/4650-8.txt").read_bytes()[:20_000],
            "utf8.txt": UTF8_BOOK.read_bytes()[:20_000], "records.jsonl": jsonl,
            "records.jsonl.gz": gzip.compress(jsonl), "records.parquet": table.getvalue()}


READER_OF = {"book.txt": "text", "utf8.txt": "text", "records.jsonl": "jsonl", "records.jsonl.gz": "jsonl",
             "records.parquet": "parquet"}


@bounded(120)
@given(name=st.sampled_from(sorted(READER_OF)), cut=st.integers(0, 100), workers=st.sampled_from([1, 2]),
       edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=12))
def test_readers_on_mutated_real_files_raise_only_reader_errors(tmp_path_factory: pytest.TempPathFactory, name: str,
                                                                 cut: int, workers: int,
                                                                 edits: list[tuple[float, int]]) -> None:
    from corpus_registry.errors import CorpusRegistryError

    folder = tmp_path_factory.mktemp("fuzz")
    data = bytearray(_real_files(folder)[name])
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut:
        data = data[: len(data) * (100 - cut) // 100]
    (folder / name).write_bytes(bytes(data))
    for index in range(workers):
        reader = get_reader(READER_OF[name], base_dir=folder, options={"path": name, "skip_empty": True})
        try:
            ids = list(reader.partitioned(index, workers).identifiers())
            reader = get_reader(READER_OF[name], base_dir=folder, options={"path": name, "skip_empty": True})
            docs = list(reader.partitioned(index, workers).read())
        except CorpusRegistryError as e:
            assert "\n" not in str(e)
            continue
        assert len(ids) >= len(docs)


# -- JSON Lines: the fast parser gives the standard parser's records, or hands the line over ----------

_json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                 | st.floats(allow_nan=True, allow_infinity=True) | st.text())
_json_values = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@bounded(200)
@given(record=st.dictionaries(st.text(max_size=8), _json_values, max_size=6), ascii_only=st.booleans())
def test_fast_jsonl_records_equal_the_standard_parsers(record: dict, ascii_only: bool) -> None:
    """orjson's answer is taken only when it must be json's: integers beyond 64 bits (orjson reads them
    as floats), lone surrogates, NaN and infinities all go the standard way, so a record is the same
    value, of the same types, either way."""
    from corpus_registry.registry.readers.jsonl import _fast_parse

    raw = json.dumps(record, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    fast = _fast_parse(raw)
    if fast is not None:
        standard = json.loads(raw.decode("utf-8"))
        assert repr(fast) == repr(standard)  # repr: 1 and 1.0 and True differ, nan compares unequal


@bounded(300)
@given(raw=st.binary(max_size=64) | st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")))
@example(raw=b'\xef\xbb\xbf{"id": "a"}')
@example(raw=b'{"id": "\\ud800"}')
@example(raw=b'{"id": 1e400}')
@example(raw=b'{"id": NaN}')
@example(raw=b'{"id": 18446744073709551616}')
@example(raw=b'{"id": -9223372036854775809}')
@example(raw=b'{"a": 1, "a": 2}')
@example(raw=b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}")
@example(raw=b'{"a": "\xc3"}')
def test_fast_jsonl_parser_hands_over_what_it_cannot_vouch_for(raw: bytes) -> None:
    """Any line (damaged bytes included): the fast parser's record is json's, or None (the standard path
    then gives its record or its error, as before)."""
    from corpus_registry.registry.readers.jsonl import _fast_parse

    fast = _fast_parse(raw)
    if fast is not None:
        assert repr(fast) == repr(json.loads(raw.decode("utf-8")))


def test_jsonl_big_integer_identifier_is_read_exactly(tmp_path: Path) -> None:
    """An identifier written as a 24-digit number stays those digits (orjson alone would give a float)."""
    (tmp_path / "d.jsonl").write_text('{"id": 123456789012345678901234, "text": "Bonjour", "score": 0.5}\n'
                                      '{"id": 7, "text": "Salut", "n": [1, {"x": 2}]}\n', encoding="utf-8")
    docs = list(get_reader("jsonl", base_dir=tmp_path, options={"path": "."}).read())
    assert [d.identifier for d in docs] == ["123456789012345678901234", "7"]
