"""Bytes to text, for files whose encoding nobody wrote down.

Public-domain text arrives in whatever its digitiser's machine used: UTF-8 with or without a
BOM, ISO-8859-1 / Windows-1252 (most Project Gutenberg "-8" files, and some "-0" files that
claim UTF-8), DOS code pages, CJK encodings. ``decode_bytes`` picks, in this order:

1. a byte-order mark (UTF-8, UTF-16, UTF-32);
2. not text at all: a file that starts like a PNG, JPEG, GIF, gzip, zip, bzip2, xz, zstd, 7z, PDF,
   ELF, SQLite, Parquet or Arrow file, or whose first 64 KiB are more than 1 % NUL bytes, is
   refused (:func:`binary_kind`; a ReaderError, which file readers turn into a counted skip);
3. UTF-16 without a BOM, recognised by its high-byte column (mostly NUL for Latin scripts, or one
   block's byte for Cyrillic, Greek, …): the column of every other byte is dominated by one
   value that the other column does not share;
4. strict UTF-8 (ASCII included), and UTF-8 with a few invalid bytes: when the valid multi-byte
   characters outnumber the invalid sequences two to one, the text stays UTF-8 and each invalid
   sequence becomes U+FFFD, counted in :attr:`Decoded.replaced` (legacy single-byte text has
   next to no valid multi-byte sequences, so it does not pass for UTF-8);
5. the Western default, Windows-1252 (or ISO-8859-1 when the file uses no byte in 0x80-0x9F,
   or a byte cp1252 leaves undefined), kept unless it decodes to visible mess;
6. otherwise the least messy of cp850 (DOS Western) and charset-normalizer's candidates.

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
from collections import Counter
from dataclasses import dataclass

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


#: first bytes of file formats that are not text (checked before any decoding)
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"BZh", "bzip2-compressed data"),  # with the block magic below
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file"),
    (b"ARROW1", "an Arrow file"),
)
HEAD_BYTES = 64 * 1024  # what binary and UTF-16 sniffing look at
_NUL_SHARE = 0.01
_UTF16_DOMINANT = 0.4  # share of the high-byte column held by its most common value


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded file: its text, the encoding used and how many invalid UTF-8 sequences were
    replaced by U+FFFD (0 unless the file was UTF-8 with a few bad bytes)."""

    text: str
    encoding: str
    replaced: int = 0


def binary_kind(head: bytes, *, encoding: str = AUTO) -> str | None:
    """What the file is if it is not text (``"a PNG image"``), judged from its first bytes; None
    for text. NUL bytes count as binary unless the encoding is (or looks like) UTF-16/32."""
    if any(head.startswith(bom) for bom, _ in _BOMS):
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic) and (magic != b"BZh" or head[4:10] == b"1AY&SY"):
            return kind
    wide = encoding != AUTO and canonical_encoding(encoding).startswith(("utf-16", "utf-32"))
    nuls = head.count(0)
    if nuls and not wide and _utf16_without_bom(head) is None and nuls > len(head) * _NUL_SHARE:
        return "binary data (NUL bytes)"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the bytes look like UTF-16 text without a BOM."""
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    for high, low, name in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        value, count = Counter(high).most_common(1)[0]
        if count < len(high) * _UTF16_DOMINANT or low.count(value) > count // 4:
            continue
        return name
    return None


def canonical_encoding(name: str) -> str:
    """Python's canonical codec name (``latin-1`` -> ``iso8859-1``); ValueError if unknown."""
    try:
        return codecs.lookup(name).name
    except LookupError as e:
        raise ValueError(f"unknown encoding {name!r} (use a Python codec name, e.g. cp1252)") from e


def decode_bytes(data: bytes, *, path: str, encoding: str = AUTO) -> tuple[str, str]:
    """``(text, encoding used)`` of ``data`` read from ``path``; see :func:`decode_text`."""
    decoded = decode_text(data, path=path, encoding=encoding)
    return decoded.text, decoded.encoding


def decode_text(data: bytes, *, path: str, encoding: str = AUTO) -> Decoded:
    """Decode ``data`` read from ``path``.

    A file that is not text is a ReaderError (whatever ``encoding`` says). With an explicit
    ``encoding`` the bytes must decode strictly, otherwise ReaderError (with the byte offset and
    what to do). ``"auto"`` otherwise never fails (ISO-8859-1 maps every byte).
    """
    kind = binary_kind(data[:HEAD_BYTES], encoding=encoding)
    if kind is not None:
        raise ReaderError(f"{path}: {kind}, not text", file=path,
                          hint="exclude it with the reader's glob or exclude option")
    if encoding != AUTO:
        return Decoded(_decode_explicit(data, path=path, encoding=encoding), canonical_encoding(encoding))
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(_decode_explicit(data, path=path, encoding=name), name)
            except ReaderError:  # a BOM glued onto legacy bytes: judge the bytes after it
                data = data[len(bom) :]
                break
    wide = _utf16_without_bom(data[:HEAD_BYTES])
    if wide is not None:
        try:
            return Decoded(data.decode(wide), wide)
        except UnicodeDecodeError:
            pass
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    mostly = _mostly_utf8(data)
    if mostly is not None:
        return mostly
    western, western_name = _western(data)
    if _mess(western) <= _WESTERN_MESS_LIMIT:
        return Decoded(western, western_name)
    return Decoded(*_least_messy(data, fallback=(western, western_name)))


_ASCII = bytes(range(128))


def _mostly_utf8(data: bytes) -> Decoded | None:
    """UTF-8 with its invalid sequences replaced, when valid multi-byte characters outnumber them
    two to one; None otherwise (the bytes are some other encoding)."""
    text = data.decode("utf-8", "replace")
    replaced = text.count("\ufffd") - data.count("\ufffd".encode())
    ascii_bytes = len(data) - len(data.translate(None, _ASCII))
    multibyte = len(text) - ascii_bytes - replaced  # characters decoded from valid multi-byte sequences
    if replaced <= 0 or multibyte < 2 * replaced:
        return None
    return Decoded(text, "utf-8", replaced)


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
