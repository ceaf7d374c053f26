"""Project Gutenberg reader on the bundled etexts: boilerplate gone, book intact, metadata right."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from corpus_registry.registry.documents import RawDocument
from corpus_registry.registry.readers import get_reader, strip_boilerplate

REPO = Path(__file__).parent.parent.parent
DATA = REPO / "data"
FOLDERS = ["data/gutenberg-fr", "data/gutenberg-en-de-es-it", "data/gutenberg-variants"]
ASCII_FILES = {"1080.txt", "10746.txt", "alice30.txt"}  # 7-bit files: no accents to check
ACCENTS = {"fr": "éàè", "de": "üäöß", "es": "ñéá", "it": "èàò"}
FORBIDDEN = re.compile(
    r"project\s+gutenberg|small\s+print|\*\*\*\s*START|\*\*\*\s*END|gutenberg\.(org|net)|"
    r"this file should be named|gutenberg-tm",
    re.IGNORECASE,
)


def _flat(text: str) -> str:
    """Whitespace runs to one space, so sentences can be matched across line breaks."""
    return " ".join(text.split())


def _read(folder: str, **options: object) -> list[RawDocument]:
    reader = get_reader("gutenberg", base_dir=REPO, options={"path": folder, **options})
    return list(reader.read())


@pytest.fixture(scope="module")
def documents() -> dict[str, RawDocument]:
    """Every bundled Gutenberg file, read once, keyed by file name."""
    docs = [doc for folder in FOLDERS for doc in _read(folder)]
    by_name = {Path(doc.path or "").name: doc for doc in docs}
    assert len(by_name) == len(docs) == 18
    return by_name


def test_every_file_of_the_three_folders_is_read() -> None:
    on_disk = {p.name for folder in FOLDERS for p in (REPO / folder).rglob("*.txt")}
    read = {Path(doc.path or "").name for folder in FOLDERS for doc in _read(folder)}
    assert read == on_disk


def test_no_boilerplate_survives_in_any_file(documents: dict[str, RawDocument]) -> None:
    leaks = {
        name: FORBIDDEN.search(doc.text).group()  # type: ignore[union-attr]
        for name, doc in documents.items()
        if FORBIDDEN.search(doc.text)
    }
    assert leaks == {}


def test_producer_credits_after_the_header_are_gone(documents: dict[str, RawDocument]) -> None:
    for name, doc in documents.items():
        opening = doc.text[:3000]
        assert "Produced by" not in opening, name
        assert "was prepared by" not in opening, name
        assert "pgdp" not in opening.lower(), name
    assert "Carlo Traverso" not in documents["5711-8.txt"].text
    assert "Distributed Proofreading" not in documents["6651-0.txt"].text
    assert "Nous remercions" not in documents["4650-8.txt"].text


@pytest.mark.parametrize(
    "name",
    [
        "22367-8.txt",
        "6651-0.txt",
        "11-0.txt",
        "320-8.txt",
        "1009-8.txt",
        "10746-8.txt",
        "11131-8.txt",
        "13951-8.txt",
        "17489-8.txt",
        "3456-8.txt",
        "4650-8.txt",
        "5711-8.txt",
        "799-0.txt",
        "800-8.txt",
        "799-8.txt",
    ],
)
def test_accents_decode_without_mojibake(documents: dict[str, RawDocument], name: str) -> None:
    doc = documents[name]
    language = doc.language or "fr"  # the variants folder has no metadata.yaml: all French
    for letter in ACCENTS.get(language, ""):
        assert letter in doc.text, (name, letter)
    assert "Ã" not in doc.text and "\ufffd" not in doc.text
    assert not any(0x80 <= ord(c) < 0xA0 for c in doc.text), "C1 control: cp1252 read as Latin-1"


def test_seven_bit_files_stay_ascii(documents: dict[str, RawDocument]) -> None:
    for name in ASCII_FILES:
        assert documents[name].text.isascii(), name


def test_encodings_detected_per_file(documents: dict[str, RawDocument]) -> None:
    encodings = {name: doc.extra["encoding"] for name, doc in documents.items()}
    assert encodings["6651-0.txt"] == "iso8859-1"  # named "-0" (UTF-8) but Latin-1
    assert encodings["11-0.txt"] == encodings["799-0.txt"] == "utf-8-sig"
    assert encodings["1009-8.txt"] == "cp1252"  # curly quotes in 0x91-0x97
    assert encodings["3456-8.txt"] == encodings["5711-8.txt"] == "iso8859-1"
    assert "’" in documents["1009-8.txt"].text


def test_walker_edition_keeps_only_the_novel(documents: dict[str, RawDocument]) -> None:
    doc = documents["3456-8.txt"]
    text = _flat(doc.text)
    assert text.startswith("LE TOUR DU MONDE EN QUATRE-VINGTS JOURS")
    assert "En l'année 1872, la maison portant le numéro 7 de Saville-row" in text[:1000]
    assert "En vérité, ne ferait-on pas, pour moins que cela, le Tour du Monde ?" in text
    assert "TABLE DES MATIÈRES" in text  # the trailing table of contents is the book's own
    for gone in (
        "#include",
        "fputs",
        "Beautifully Typeset Etexts",
        "Production Notes",
        "John Walker",
        "Michael S. Hart",
        "Typographie utilisée",
    ):
        assert gone not in doc.text, gone
    assert doc.extra["boilerplate"] == "small-print"
    assert doc.extra["walker_brackets"] is True


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        (
            "800-8.txt",
            "En l'année 1872, la maison portant le numéro 7 de Saville-row",
            "pour moins que cela, le Tour du Monde? FIN",
        ),
        (
            "5711-8.txt",
            "Dans la plaine rase, sous la nuit sans étoiles",
            "dont la germination allait faire bientôt éclater la terre.",
        ),
        ("4650-8.txt", "OEUVRES DE VOLTAIRE.", "FIN DE CANDIDE."),
        (
            "22367-8.txt",
            "Als Gregor Samsa eines Morgens aus unruhigen Träumen erwachte",
            "als erste sich erhob und ihren jungen Körper dehnte.",
        ),
        (
            "6651-0.txt",
            "Wir befinden uns am Anfang einer neuen Ära",
            "an denen er einst die Kraft seiner Jugend geübt hatte.",
        ),
        ("11-0.txt", "Alice was beginning to get very tired", "the happy summer days. THE END"),
        (
            "1080.txt",
            "It is a melancholy object to those",
            "the youngest being nine years old, and my wife past child-bearing.",
        ),
        ("alice30.txt", "Alice was beginning to get very tired", "the happy summer days. THE END"),
        ("1009-8.txt", "Nel mezzo del cammin di nostra vita", "= ellipsis"),
        ("17489-8.txt", "Victor Hugo LES MISÉRABLES", "Sa tombe ressembla à son lit."),
    ],
)
def test_first_and_last_sentences_survive(
    documents: dict[str, RawDocument], name: str, first: str, last: str
) -> None:
    text = _flat(documents[name].text)
    assert first in text[:6000], text[:300]
    assert text.endswith(last), text[-300:]


def test_metadata_yaml_gives_title_creator_distribution_date_url_language(
    documents: dict[str, RawDocument],
) -> None:
    doc = documents["3456-8.txt"]
    assert doc.identifier == "pg3456"
    assert doc.title == "Le tour du monde en quatre-vingts jours"
    assert doc.creator == "Verne, Jules"
    # 2002-10-01 is when Project Gutenberg released the etext (the novel is of 1872): kept apart,
    # never as the document's date
    assert doc.date is None and doc.extra["distribution_date"] == "2002-10-01"
    assert doc.url == "http://www.gutenberg.org/ebooks/3456"
    assert doc.language == "fr"
    assert doc.path == "pg3456-le-tour-du-monde-walker-edition/3456-8.txt"
    assert doc.extra["gutenberg_id"] == 3456
    assert documents["5711-8.txt"].creator == "Zola, Émile"  # metadata.yaml has !lcsh tags
    assert documents["1080.txt"].title == (
        "A Modest Proposal: For preventing the children of poor people in Ireland, from being "
        "a burden on their parents or country, and for making them beneficial to the publick"
    )
    assert {doc.language for doc in _read("data/gutenberg-en-de-es-it")} == {"de", "en", "es", "it"}


def test_without_metadata_identifier_is_the_relative_path_and_header_gives_title() -> None:
    docs = _read("data/gutenberg-variants")
    assert [d.identifier for d in docs] == ["pg10746/10746", "pg11/old/alice30", "pg799/799-8"]
    assert [(d.title, d.creator) for d in docs] == [
        ("Boule de Suif", "Guy de Maupassant"),
        ("Alice in Wonderland", None),  # 1994 header: "This is the Project Gutenberg Etext of"
        ("De la terre à la lune", "Jules Verne"),
    ]
    assert [d.extra["gutenberg_id"] for d in docs] == [10746, 11, 799]
    assert all(d.url is None and d.date is None for d in docs)


def test_two_files_of_one_book_get_distinct_identifiers(tmp_path: Path) -> None:
    book = tmp_path / "pg799"
    book.mkdir()
    source = DATA / "gutenberg-fr" / "pg799-de-la-terre-a-la-lune"
    shutil.copy(source / "799-0.txt", book)
    shutil.copy(source / "metadata.yaml", book)
    shutil.copy(DATA / "gutenberg-variants" / "pg799" / "799-8.txt", book)
    docs = _read(str(tmp_path))
    assert [d.identifier for d in docs] == ["pg799/799-0", "pg799/799-8"]
    assert [d.title for d in docs] == ["De la Terre à la Lune"] * 2
    for doc in docs:
        assert "Pendant la guerre fédérale des États-Unis" in doc.text


def test_reading_twice_gives_the_same_documents() -> None:
    first = [(d.identifier, d.text) for d in _read("data/gutenberg-en-de-es-it")]
    second = [(d.identifier, d.text) for d in _read("data/gutenberg-en-de-es-it")]
    assert first == second


def test_strip_modern_markers_keeps_only_the_body() -> None:
    text = (
        "The Project Gutenberg EBook of X, by Y\r\n\r\nTitle: X\r\n\r\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n\r\n\r\n"
        "Produced by Someone and the Online Distributed Proofreading Team\r\n\r\n"
        "Chapter 1\r\n\r\nIt was a dark night.\r\n\r\n"
        "End of the Project Gutenberg EBook of X, by Y\r\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\r\nLicence text\r\n"
    )
    stripped = strip_boilerplate(text)
    assert stripped.text == "Chapter 1\n\nIt was a dark night."
    assert stripped.format == "modern"
    assert stripped.dropped_paragraphs == {"producer_credit": 1}


def test_strip_leaves_a_file_without_markers_alone() -> None:
    text = "Chapter 1\n\nIt was a dark night.\n\nThe end."
    stripped = strip_boilerplate(text)
    assert stripped.text == text
    assert stripped.format == "unmarked"


def test_strip_drops_a_paragraph_naming_project_gutenberg_inside_the_body() -> None:
    text = (
        "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nChapter 1\n\nBody.\n\n"
        "Transcriber's note: this Project\nGutenberg edition fixes typos.\n\nMore body.\n"
    )
    stripped = strip_boilerplate(text)
    assert stripped.text == "Chapter 1\n\nBody.\n\nMore body."
    assert stripped.dropped_paragraphs == {"pg_mention": 1}
