"""Build bench/data/langid-heldout.tsv.gz: labelled sentences in 21 languages (see README.md).

The sentences come from texts whose language is known from where they come from (a French
novel, a Catalan help page, the Latin Vulgate), never from a language detector. The script
needs the Debian and PyPI packages named in README.md unpacked under ``--packages`` (default
/tmp/deb13l); it only reads them. Deterministic: the same inputs give the same file.

Run: python bench/data/make_langid_heldout.py [--packages DIR]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import html
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
OUT = Path(__file__).resolve().parent / "langid-heldout.tsv.gz"
LANGS = "fr en de es it pt nl pl ca la sv fi ro cs hu da el ru ar zh ja".split()
PER_LANGUAGE = 1000
MIN_CHARS, MAX_CHARS, MIN_CJK = 30, 300, 12

# GNOME help folder names and d-i manual folder names -> ISO 639-1
GNOME = {lang: lang for lang in LANGS} | {"zh": "zh_CN", "en": "C"}
DI = {lang: lang for lang in LANGS} | {"zh": "zh_CN"}
UTF8_BOOKS = {"799-0.txt", "11-0.txt"}
GENESIS = {"en": "english-kjv.txt", "fi": "finnish.txt", "fr": "french.txt", "de": "german.txt",
           "sv": "swedish.txt"}  # portuguese.txt is left out: its licence is not established
_SPLIT = re.compile(r"(?<=[.!?;])[\"'»”)]*\s+|(?<=[。！？])")
_SPACE = re.compile(r"\s+")


def collapse(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def sentences(paragraph: str) -> Iterator[str]:
    for part in _SPLIT.split(collapse(paragraph)):
        part = part.strip(" -—–*_")
        if part:
            yield part


def book_paragraphs(path: Path) -> Iterator[str]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig") if path.name in UTF8_BOOKS else raw.decode("latin-1")
    start, end = text.find("*** START OF"), text.find("*** END OF")
    if start >= 0 and end > start:
        text = text[text.index("\n", start) + 1 : end]
    yield from re.split(r"\r?\n\s*\r?\n", text)


def gutenberg(lang: str) -> Iterator[str]:
    folder = DATA / "gutenberg-fr" if lang == "fr" else DATA / "gutenberg-en-de-es-it" / lang
    if lang not in {"fr", "en", "de", "es", "it"}:
        return
    for path in sorted(folder.glob("*/*.txt")):
        if "pg3456" in str(path):  # near-duplicate of pg800
            continue
        for para in book_paragraphs(path):
            yield from sentences(para)


def genesis(lang: str) -> Iterator[str]:
    if lang not in GENESIS:
        return
    raw = (DATA / "nltk-genesis" / "genesis" / GENESIS[lang]).read_bytes()
    if lang == "sv":
        text = raw.decode("cp865")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    yield from sentences(html.unescape(text))


def udhr(lang: str) -> Iterator[str]:
    for path in sorted((DATA / "nltk-udhr" / "udhr").glob(f"{lang}_*.txt")):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            yield from sentences(line)


class _Paragraphs(HTMLParser):
    """Text of every <p> in an HTML page (the d-i manual is DocBook HTML)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._depth = 0
        self._buf: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            self._depth += 1
        elif tag in {"code", "pre", "tt", "kbd", "screen"}:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._depth:
            self._depth -= 1
            if not self._depth:
                self.out.append("".join(self._buf))
                self._buf = []
        elif tag in {"code", "pre", "tt", "kbd", "screen"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._buf.append("\x00" if self._skip else data)


def di_paragraphs(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.glob("*.html")):
        parser = _Paragraphs()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        out.extend(collapse(p) for p in parser.out)
    return out


MALLARD = "{http://projectmallard.org/1.0/}"


def gnome_paragraphs(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.glob("*.page")):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            continue
        for p in root.iter(f"{MALLARD}p"):
            # a paragraph holding code, a keyboard key or an empty cross-reference is skipped
            if any(child.tag in {f"{MALLARD}{t}" for t in ("code", "cmd", "key", "link", "file", "sys")}
                   for child in p.iter()):
                continue
            out.append(collapse("".join(p.itertext())))
    return out


def translated(lang: str, base: Path, names: dict[str, str],
               read: Callable[[Path], list[str]]) -> Iterator[str]:
    """Sentences of a translated manual, without those left in English (untranslated)."""
    folder, english = base / names[lang], base / names["en"]
    if not folder.is_dir():
        return
    english_sentences = set()
    if lang != "en":
        english_sentences = {s for para in read(english) for s in sentences(para)}
    for para in read(folder):
        if "\x00" in para:  # held code or a command
            continue
        yield from (s for s in sentences(para) if s not in english_sentences)


def vulgate(packages: Path) -> Iterator[str]:
    path = packages / "pyp" / "vulgata_spacy" / "data" / "clem_vulgate.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield from sentences(row["latin"])


def lucretia(packages: Path) -> Iterator[str]:
    path = packages / "x" / "usr" / "share" / "collatinus" / "data" / "lucretia.txt"
    if path.is_file():
        yield from sentences(path.read_text(encoding="utf-8", errors="replace"))


_FTL = re.compile(r"^[\w.-]+\s*=\s*(.+)$|^\s+\.[\w-]+\s*=\s*(.+)$")


def firefox(packages: Path, lang: str) -> Iterator[str]:
    """Message values of the Firefox language pack (Fluent files), placeables removed."""
    root = packages / "ff" / "xpi"
    for path in sorted(root.rglob("*.ftl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _FTL.match(line)
            if not m:
                continue
            value = m.group(1) or m.group(2)
            if "{" in value or "<" in value or "://" in value:
                continue
            yield from sentences(html.unescape(value))


def script_share(text: str, test: Callable[[str], bool]) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if test(ch)) / len(letters)


def _name(ch: str) -> str:
    return unicodedata.name(ch, "")


def script_ok(lang: str, text: str) -> bool:
    """Label sanity by script only (no detector involved)."""
    if lang == "ar":
        return script_share(text, lambda c: "ARABIC" in _name(c)) >= 0.9
    if lang == "ru":
        return script_share(text, lambda c: "CYRILLIC" in _name(c)) >= 0.9
    if lang == "el":
        return script_share(text, lambda c: "GREEK" in _name(c)) >= 0.9
    if lang in {"zh", "ja"}:
        kana = any("HIRAGANA" in _name(c) or "KATAKANA" in _name(c) for c in text)
        cjk = script_share(text, lambda c: "CJK" in _name(c) or "HIRAGANA" in _name(c)
                           or "KATAKANA" in _name(c))
        return cjk >= 0.8 and kana == (lang == "ja")
    return script_share(text, lambda c: "LATIN" in _name(c)) >= 0.95


# Untranslated English left in a translation (checked by a word list, not by a detector)
_ENGLISH = {"the", "and", "you", "your", "with", "this", "which", "from", "are", "should", "have", "when",
            "that", "there"}


def acceptable(lang: str, text: str) -> bool:
    if lang != "en" and len(_ENGLISH & set(re.findall(r"[a-z]+", text.lower()))) >= 2:
        return False
    if "\t" in text or "\n" in text or "http" in text or "@" in text:
        return False
    size = len(text)
    if lang in {"zh", "ja"}:
        if not MIN_CJK <= size <= MAX_CHARS:
            return False
    elif not MIN_CHARS <= size <= MAX_CHARS:
        return False
    letters = sum(ch.isalpha() for ch in text)
    if letters < 0.6 * len(text.replace(" ", "")):
        return False
    if lang not in {"zh", "ja"} and len(text.split()) < 4:
        return False
    return script_ok(lang, text)


def spread(items: list[str], count: int) -> list[str]:
    """``count`` items evenly spaced over ``items`` (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def pools(lang: str, packages: Path) -> dict[str, Iterable[str]]:
    gnome_base = packages / "x" / "usr" / "share" / "help"
    di_base = packages / "x" / "usr" / "share" / "doc" / "installation-guide-amd64"
    out: dict[str, Iterable[str]] = {
        "gutenberg": gutenberg(lang),
        "genesis": genesis(lang),
        "udhr": udhr(lang),
        "gnome-help": translated(lang, gnome_base, GNOME,
                                 lambda folder: gnome_paragraphs(folder / "gnome-help")),
        "debian-install": translated(lang, di_base, DI, di_paragraphs),
    }
    if lang == "la":
        out["vulgate"] = vulgate(packages)
        out["collatinus"] = lucretia(packages)
    if lang == "ar":
        out["firefox-l10n"] = firefox(packages, lang)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=Path, default=Path("/tmp/deb13l"))
    args = parser.parse_args()
    seen: dict[str, set[str]] = {}
    per_lang: dict[str, list[tuple[str, str]]] = {}
    for lang in LANGS:
        candidates: dict[str, list[str]] = {}
        for name, texts in pools(lang, args.packages).items():
            kept: dict[str, None] = {}
            for text in texts:
                if text not in kept and acceptable(lang, text):
                    kept[text] = None
                    seen.setdefault(text, set()).add(lang)
            if kept:
                candidates[name] = list(kept)
        # an even share per source, the rest from the larger sources
        chosen: dict[str, list[str]] = {}
        remaining, names = PER_LANGUAGE, sorted(candidates, key=lambda n: len(candidates[n]))
        for i, name in enumerate(names):
            share = remaining // (len(names) - i)
            chosen[name] = spread(candidates[name], share)
            remaining -= len(chosen[name])
        rows = [(name, text) for name in sorted(chosen) for text in chosen[name]]
        per_lang[lang] = rows
        print(lang, len(rows), {n: len(chosen[n]) for n in sorted(chosen)})
    # duplicates across languages (names, numbers) say nothing about either: drop them
    cross = {text for text, langs in seen.items() if len(langs) > 1}
    with gzip.open(OUT, "wt", encoding="utf-8", newline="") as handle:
        handle.write("language\tsplit\tsource\ttext\n")
        for lang in LANGS:
            rows = [r for r in per_lang[lang] if r[1] not in cross]
            for i, (source, text) in enumerate(rows):
                # alternate rows: tune (thresholds may be chosen on it) / test (reported)
                handle.write(f"{lang}\t{'tune' if i % 2 == 0 else 'test'}\t{source}\t{text}\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
