"""Markup stripped to plain text at ingest, URLs for every document, works' dates apart from PG's release dates."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from corpus_registry.errors import ConfigError, ReaderError
from corpus_registry.registry.db.models import Document, Source
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.readers import get_reader
from corpus_registry.registry.readers.markup import html_to_text, markdown_to_text
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources

from tests.fuzzing import bounded

REPO = Path(__file__).resolve().parents[2]
CODE_CIVIL = REPO / "data" / "legifrance-code-civil" / "code-civil"
ARTICLE_202_1 = CODE_CIVIL / ("livre-ier-des-personnes/titre-v-du-mariage/chapitre-iv-bis-des-regles-de-conflit-de-lois/"
                              "202-1.md")
# a tag: "<", a name, attributes, ">" (what the markup filter and a trainer's check look for)
TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")


def _articles() -> list[Path]:
    return sorted(CODE_CIVIL.rglob("*.md"))


# --- Markdown and HTML to text ----------------------------------------------------------------


def test_real_articles_lose_their_markup_and_keep_their_words() -> None:
    articles = _articles()
    with_html = [p for p in articles if TAG.search(p.read_text("utf-8"))]
    assert len(articles) == 833 and len(with_html) > 450
    for path in with_html:
        text = markdown_to_text(path.read_text("utf-8"))
        assert not TAG.search(text), (path.name, TAG.search(text))
        assert "href" not in text and "affichCodeArticle" not in text and "](" not in text
    # 202-1: two <p> paragraphs and two links to other articles; the link texts stay, their targets go
    raw = ARTICLE_202_1.read_text("utf-8")
    assert raw.count("<a href=") == 2
    text = markdown_to_text(raw)
    assert text.startswith("Article 202-1\n\nLes qualités et conditions requises")
    assert "au sens de l'article 146 et du premier alinéa de l'article 180." in text
    assert "\n\nDeux personnes de même sexe" in text  # one paragraph per <p>


def test_malformed_links_of_legifrance_are_read_as_a_browser_would() -> None:
    # a quote inside a quoted attribute: CommonMark refuses the tag, a browser does not
    path = next(p for p in _articles() if p.name == "495-2.md")
    raw = path.read_text("utf-8")
    assert "title='Code de l'action sociale" in raw
    text = markdown_to_text(raw)
    assert not TAG.search(text)
    assert "au vu du rapport des services sociaux prévu à l'article L. 271-6 du code de l'action sociale" in text


def test_markdown_syntax_and_quoted_markup() -> None:
    text = markdown_to_text(textwrap.dedent("""\
        # Titre *premier*

        Un **gras**, un [lien](https://exemple.fr/page "titre"), une <i>italique</i>.

        - un
        - deux

        Le code `<p>` et \\<br\\> restent du texte ; a < b > c aussi.
        <!-- un commentaire -->
        <script>alert(1)</script>
        """))
    assert text.startswith("Titre premier\n\nUn gras, un lien, une italique.")
    assert "* un\n" in text and "* deux" in text
    assert "Le code <p> et <br> restent du texte ; a < b > c aussi." in text
    assert "commentaire" not in text and "alert" not in text and "https" not in text
    assert markdown_to_text("") == "" and markdown_to_text(" \n ") == ""
    assert html_to_text("<p>un</p><p>deux</p>") == "un\n\ndeux"
    assert html_to_text("<!-- rien -->") == ""


# Markdown built from words, Markdown syntax and real HTML tags (with attributes, quotes inside
# quoted attributes as Légifrance writes them, comments); no code spans, escapes or entities, which
# quote markup as text on purpose.
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèàçœABCÉ", min_size=1, max_size=12)
TAGS = st.sampled_from(["<p>", "</p>", "<br/>", "<br>", "<i>", "</i>", "<b>", "</b>", "<div class='x'>", "</div>",
                        "<a href='/code-civil/146.md'>", "<a href='/x?a=1&b=2' title='Code de l'action (V)'>",
                        "</a>", "<span style=\"color: red\">", "</span>", "<!-- note -->", "<hr>", "<h3>", "</h3>",
                        "<table><tr><td>", "</td></tr></table>", "<ul><li>", "</li></ul>", "<P>", "</P>"])
SYNTAX = st.sampled_from(["# ", "## ", "* ", "- ", "1. ", "> ", "**", "*", "_", "\n", "\n\n", " ", "[", "](/lien)",
                          "---\n", "| ", " |"])
PIECES = st.lists(st.one_of(WORDS.map(lambda w: ("word", w)), TAGS.map(lambda t: ("tag", t)),
                            SYNTAX.map(lambda s: ("syntax", s))), max_size=60)


@bounded(150)
@given(PIECES)
def test_markdown_to_text_never_emits_a_tag_and_keeps_words(pieces: list[tuple[str, str]]) -> None:
    markdown = "".join(f" {value} " if kind == "word" else value for kind, value in pieces)
    text = markdown_to_text(markdown)
    assert not TAG.search(text), (markdown, text)
    words = [value for kind, value in pieces if kind == "word"]
    flat = re.sub(r"\s+", " ", text)
    for word in words:
        assert word in flat, (word, markdown, text)


@bounded(150)
@given(st.text(max_size=300))
def test_markdown_to_text_never_raises(markdown: str) -> None:
    assert isinstance(markdown_to_text(markdown), str)
    assert isinstance(html_to_text(markdown), str)


def test_markdown_reader_strips_by_default_and_keeps_when_told() -> None:
    stripped = {d.identifier: d for d in get_reader("markdown", base_dir=REPO,
                                                    options={"path": str(CODE_CIVIL)}).read()}
    kept = {d.identifier: d for d in get_reader("markdown", base_dir=REPO,
                                                options={"path": str(CODE_CIVIL), "markup": "keep"}).read()}
    assert len(stripped) == len(kept) == 833
    assert sum(bool(TAG.search(d.text)) for d in stripped.values()) == 0
    assert sum(bool(TAG.search(d.text)) for d in kept.values()) > 450
    ident = "livre-ier-des-personnes/titre-v-du-mariage/chapitre-iv-bis-des-regles-de-conflit-de-lois/202-1"
    assert kept[ident].text == ARTICLE_202_1.read_text("utf-8")
    assert stripped[ident].title == kept[ident].title == "Article 202-1"
    assert (stripped[ident].extra["markup"], kept[ident].extra["markup"]) == ("strip", "keep")
    with pytest.raises(ConfigError, match="markup"):
        get_reader("markdown", base_dir=REPO, options={"path": str(CODE_CIVIL), "markup": "html"})


# --- url_template and sources.yaml ------------------------------------------------------------


def test_url_template_fills_in_urls_the_reader_has_not() -> None:
    options = {"path": "data/gutenberg-variants",
               "url_template": "https://www.gutenberg.org/ebooks/{gutenberg_id}#{stem}"}
    docs = list(get_reader("gutenberg", base_dir=REPO, options=options).read())
    assert [d.url for d in docs] == ["https://www.gutenberg.org/ebooks/10746#10746",
                                     "https://www.gutenberg.org/ebooks/11#alice30",
                                     "https://www.gutenberg.org/ebooks/799#799-8"]
    # a URL the reader found (GITenberg's metadata.yaml) is the document's own and stays
    fr = list(get_reader("gutenberg", base_dir=REPO, options={**options, "path": "data/gutenberg-fr"}).read())
    assert {d.url for d in fr} == {f"http://www.gutenberg.org/ebooks/{d.extra['gutenberg_id']}" for d in fr}
    # values are percent-encoded, "/" kept
    genesis = get_reader("text", base_dir=REPO, options={
        "path": "data/nltk-udhr/udhr", "glob": "fr_*.txt", "url_template": "https://example.org/{path}?id={identifier}"})
    assert [d.url for d in genesis.read()] == [
        "https://example.org/fr_French_Francais-Latin1.txt?id=fr_French_Francais-Latin1"]


def test_url_template_errors_name_the_placeholder() -> None:
    for bad, match in [("ftp://x/{identifier}", "https://"), ("https://x/{identifier!r}", "plain name"),
                       ("https://x/{0}", "plain name"), ("https://x/{identifier", "brace")]:
        with pytest.raises(ConfigError, match=re.escape(match)):
            get_reader("text", base_dir=REPO, options={"path": "data/nltk-udhr/udhr", "url_template": bad})
    reader = get_reader("text", base_dir=REPO, options={"path": "data/nltk-udhr/udhr",
                                                        "url_template": "https://x/{gutenberg_id}"})
    with pytest.raises(ReaderError, match=r"\{gutenberg_id\}.*no value") as e:
        next(reader.read())
    assert "identifier" in (e.value.hint or "")


def _catalogue(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_catalogue_markup_and_url_template_are_checked(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.init(store=str(tmp_path / "store"))
    head = f"""\
        sources:
          - slug: cc
            name: Code civil
            collection: OpenGovernment
            license: etalab-2.0
            reader: {{kind: REPLACE, path: {CODE_CIVIL}}}
        """
    for kind, extra, match in [
        ("gutenberg", "markup: strip\n", "a gutenberg reader carries no markup"),
        ("markdown", "markup: html\n", "markup"),
        ("markdown", "url_template: legifrance/{identifier}\n", "https://"),
    ]:
        path = _catalogue(tmp_path, textwrap.dedent(head).replace("REPLACE", kind) + "    " + extra)
        with pytest.raises(ConfigError, match=match):
            sync_sources(reg, catalogue_path=path)
    inside = textwrap.dedent(head).replace("REPLACE", "markdown, markup: keep")
    with pytest.raises(ConfigError, match="source level"):
        sync_sources(reg, catalogue_path=_catalogue(tmp_path, inside))
    reg.dispose()


# --- the bundled catalogue, ingested ----------------------------------------------------------


def test_every_document_has_a_url_and_novels_have_their_works_dates(demo_registry: Registry) -> None:
    with demo_registry.session() as s:
        rows = s.execute(select(Source.slug, Document.identifier, Document.url, Document.date, Document.extra)
                         .join(Source).where(Document.is_current.is_(True))).all()
    assert len(rows) == 899
    assert [(slug, ident) for slug, ident, url, *_ in rows if not url] == []
    by_key = {f"{slug}/{ident}": (url, date, extra) for slug, ident, url, date, extra in rows}
    url, date, extra = by_key["gutenberg-fr/pg10746"]
    assert (date, extra["distribution_date"]) == ("1880", "2004-01-01")  # Boule de suif, not PG's 2004
    for key, (url, date, extra) in by_key.items():
        if key.startswith("gutenberg"):
            assert date != extra.get("distribution_date"), key
            assert date is None or int(date[:4]) < 1930, key
    civil = [v for k, v in by_key.items() if k.startswith("legifrance-code-civil/")]
    assert len(civil) == 833 and all(u.startswith("https://github.com/LexHub-project/legifrance/blob/c7ad21e5")
                                     and u.endswith(".md") for u, _, _ in civil)
    assert len({u for u, _, _ in civil}) == 833  # one URL per article
    assert by_key["nltk-genesis/french"][0].endswith("genesis.zip#genesis/french.txt")
    assert by_key["nltk-udhr/fr_French_Francais-Latin1"][0].endswith("udhr.zip#udhr/fr_French_Francais-Latin1.txt")


def test_markup_keep_then_strip_makes_a_new_version(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.init(store=str(tmp_path / "store"))
    body = f"""\
        sources:
          - slug: cc
            name: Code civil (chapitre du mariage)
            collection: OpenGovernment
            license: etalab-2.0
            reader: {{kind: markdown, path: {ARTICLE_202_1.parent}, allow_outside: true}}
            markup: MODE
        """
    sync_sources(reg, catalogue_path=_catalogue(tmp_path, body.replace("MODE", "keep")))
    ingest(reg, progress=False)
    sync_sources(reg, catalogue_path=_catalogue(tmp_path, body.replace("MODE", "strip")))
    stats = ingest(reg, progress=False)[0]
    assert stats.updated == stats.seen > 0  # the text changed: new versions, old ones kept
    with reg.session() as s:
        current = s.scalars(select(Document).where(Document.identifier == "202-1",
                                                   Document.is_current.is_(True))).one()
        assert current.version == 2 and current.extra["markup"] == "strip"
    reg.dispose()


def test_text_reader_strips_html_fragments_only_where_there_are_some() -> None:
    options = {"path": "data/nltk-genesis/genesis", "encodings": {"swedish.txt": "cp865"}}
    raw = {d.identifier: d for d in get_reader("text", base_dir=REPO, options=options).read()}
    clean = {d.identifier: d for d in get_reader("text", base_dir=REPO, options={**options, "markup": "strip"}).read()}
    german, was = clean["german"].text, raw["german"].text
    assert "</P><hr><h3>2. Kapitel</h3>" in was and "&szlig;" in was
    assert not TAG.search(german) and "&szlig;" not in german
    assert "\n2. Kapitel\n" in german and "daß das Licht gut war" in german
    assert german.count("\n") >= was.count("\n") * 0.9  # one verse a line, as written
    assert abs(len(german.split()) - len(was.split())) < len(was.split()) * 0.01
    assert clean["german"].extra["markup"] == "strip" and clean["german"].title == "Am Anfang schuf Gott Himmel und Erde."
    for ident in ("english-kjv", "french", "swedish", "finnish"):  # no markup: not touched
        assert clean[ident].text == raw[ident].text and "markup" not in clean[ident].extra


def test_record_readers_strip_html_in_text_fields_when_told(tmp_path: Path) -> None:
    # two real articles as a crawl would carry them: the text field holds the article's HTML
    articles = [ARTICLE_202_1, next(p for p in _articles() if p.name == "495-2.md")]
    lines = [json.dumps({"id": p.stem, "text": p.read_text("utf-8").split("\n", 2)[2]}, ensure_ascii=False)
             for p in articles]
    lines.append(json.dumps({"id": "plain", "text": "Sans balise : a < b, x & y.\nDeuxième ligne."}))
    (tmp_path / "crawl.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    kept = list(get_reader("jsonl", base_dir=tmp_path, options={"path": "crawl.jsonl"}).read())
    clean = list(get_reader("jsonl", base_dir=tmp_path, options={"path": "crawl.jsonl", "markup": "strip"}).read())
    assert all(TAG.search(d.text) for d in kept[:2])
    assert not any(TAG.search(d.text) for d in clean)
    assert "au sens de l'article 146 et du premier alinéa de l'article 180." in clean[0].text
    assert "prévu à l'article L. 271-6 du code de l'action sociale" in clean[1].text
    assert clean[2].text == kept[2].text and "markup" not in clean[2].extra  # nothing to strip: untouched
    assert [d.extra.get("markup") for d in clean] == ["strip", "strip", None]


def test_reingest_moves_an_old_release_date_out_of_date(tmp_path: Path) -> None:
    """A registry ingested before works' dates: ``date`` held PG's release date and ``extra`` had no
    ``distribution_date``. Re-ingesting the same files fixes both in place (same text, no new version)."""
    from sqlalchemy import update

    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.init(store=str(tmp_path / "store"))
    catalogue = _catalogue(tmp_path, f"""\
        sources:
          - slug: boule
            name: Boule de suif
            collection: OpenCulture
            license: public-domain
            reader: {{kind: gutenberg, path: {REPO / "data" / "gutenberg-fr" / "pg10746-boule-de-suif"},
                      allow_outside: true}}
            documents:
              pg10746: {{date: "1880"}}
        """)
    sync_sources(reg, catalogue_path=catalogue)
    ingest(reg, progress=False)
    with reg.session() as s:  # as the previous version of the reader left it
        s.execute(update(Document).values(date="2004-01-01", extra={"encoding": "iso8859-1"}))
    stats = ingest(reg, progress=False)[0]
    assert (stats.unchanged, stats.metadata_updated, stats.added, stats.updated) == (1, 1, 0, 0)
    with reg.session() as s:
        doc = s.scalars(select(Document)).one()
        assert (doc.version, doc.date, doc.extra["distribution_date"]) == (1, "1880", "2004-01-01")
    assert ingest(reg, progress=False)[0].metadata_updated == 0  # nothing left to change
    reg.dispose()
