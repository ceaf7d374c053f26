"""Bytes to text, for files whose encoding nobody wrote down.

Public-domain text arrives in whatever its digitiser's machine used: UTF-8 with or without a
BOM, ISO-8859-1 / Windows-1252 (most Project Gutenberg "-8" files, and some "-0" files that
claim UTF-8), DOS code pages, CJK encodings. ``decode_bytes`` picks, in this order:

1. a byte-order mark (UTF-8, UTF-16, UTF-32);
2. strict UTF-8 (ASCII included);
3. the Western default, Windows-1252 (or ISO-8859-1 when the file uses no byte in 0x80-0x9F,
   or a byte cp1252 leaves undefined), kept unless it decodes to visible mess;
4. otherwise the least messy of cp850 (DOS Western) and charset-normalizer's candidates.

"Mess" is charset-normalizer's mess ratio plus the share of non-ASCII characters that are
symbols wedged between two letters ("fr†n" is cp865 "från" read as cp1250): the mess ratio
alone does not see those.

Statistical detectors alone get Western files wrong surprisingly often (charset-normalizer
calls Latin-1 Finnish "hp_roman8" and Latin-1 German "cp1250"), hence the Western default in
step 3. Single-byte encodings that differ from cp1252 in a few letters (cp1254 Turkish,
cp865 Nordic DOS) cannot be told apart reliably: name them with the reader's ``encodings``
option.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

from corpus_registry.errors import ReaderError

AUTO = "auto"

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with FF FE too
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_C1_BYTES = frozenset(range(0x80, 0xA0))
_CP1252_UNDEFINED = frozenset((0x81, 0x8D, 0x8F, 0x90, 0x9D))
# Above this mess ratio the Western reading is visibly wrong (Polish cp1250 read as cp1252
# scores 1.0, Cyrillic/CJK > 2; real Western prose scores < 0.03).
_WESTERN_MESS_LIMIT = 0.1
_EXTRA_CANDIDATES = ("cp850",)
_WEDGED = re.compile(r"(?<=[^\W\d_])[^\x00-\x7f](?=[^\W\d_])")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WORD_PUNCTUATION = frozenset("\u2019\u2018\u02bc\u2014\u2013\u2010\u2011\u00b7\u00b4")
_MAX_CANDIDATES = 6
_SAMPLE_CHARS = 100_000


def canonical_encoding(name: str) -> str:
    """Python's canonical codec name (``latin-1`` -> ``iso8859-1``); ValueError if unknown."""
    try:
        return codecs.lookup(name).name
    except LookupError as e:
        raise ValueError(f"unknown encoding {name!r} (use a Python codec name, e.g. cp1252)") from e


def decode_bytes(data: bytes, *, path: str, encoding: str = AUTO) -> tuple[str, str]:
    """Decode ``data`` read from ``path``; return ``(text, encoding used)``.

    With an explicit ``encoding`` the bytes must decode strictly, otherwise ReaderError (with
    the byte offset and what to do). ``"auto"`` never fails (ISO-8859-1 maps every byte).
    """
    if encoding != AUTO:
        return _decode_explicit(data, path=path, encoding=encoding), canonical_encoding(encoding)
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return _decode_explicit(data, path=path, encoding=name), name
            except ReaderError:  # a BOM glued onto legacy bytes: judge the bytes after it
                data = data[len(bom) :]
                break
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    western, western_name = _western(data)
    if _mess(western) <= _WESTERN_MESS_LIMIT:
        return western, western_name
    return _least_messy(data, fallback=(western, western_name))


def _decode_explicit(data: bytes, *, path: str, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ReaderError(
            f"{path}: cannot decode byte {e.start} as {encoding} ({e.reason})",
            hint=f"name the file's real encoding with the reader option "
            f"encodings: {{'{path}': ENCODING}} (e.g. cp1252, cp865, utf-8)",
            file=path,
            encoding=encoding,
        ) from e
    except LookupError as e:
        raise ReaderError(f"{path}: unknown encoding {encoding!r}", file=path) from e
    return text.removeprefix("\ufeff")


def _western(data: bytes) -> tuple[str, str]:
    used = set(data) & _C1_BYTES
    if used and not used & _CP1252_UNDEFINED:
        return data.decode("cp1252"), "cp1252"
    return data.decode("latin-1"), "iso8859-1"


def _mess(text: str) -> float:
    """charset-normalizer's mess ratio plus the share of symbols wedged inside words,
    measured on the start and end of long texts (enough to judge, and fast)."""
    if len(text) > 2 * _SAMPLE_CHARS:
        text = text[:_SAMPLE_CHARS] + "\n" + text[-_SAMPLE_CHARS:]
    non_ascii = sum(1 for _ in _NON_ASCII.finditer(text))
    if not non_ascii:
        return 0.0
    wedged = sum(
        1
        for m in _WEDGED.finditer(text)
        if m.group() not in _WORD_PUNCTUATION and unicodedata.category(m.group())[0] not in "LM"
    )
    return mess_ratio(text, 1.0) + wedged / non_ascii


def _least_messy(data: bytes, *, fallback: tuple[str, str]) -> tuple[str, str]:
    names: list[str] = list(_EXTRA_CANDIDATES)
    for match in from_bytes(data):
        names.append(match.encoding)
        if len(names) >= _MAX_CANDIDATES:
            break
    best_text, best_name = fallback
    best_mess = _mess(best_text)
    for name in dict.fromkeys(names):
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        mess = _mess(text)
        if mess < best_mess:
            best_text, best_name, best_mess = text, canonical_encoding(name), mess
    return best_text, best_name
