"""How good a copy's text is, for choosing among duplicates: accents present, no decoding damage, no OCR noise.

Two copies of one book often differ in how they were made, not in what they say: a 7-bit twin with
every accent stripped (``Quelle journee admirable``), a file decoded with the wrong code page (U+FFFD
or ``Ã©`` where ``é`` was), a noisy scan. Near dedup keeps one copy; this score lets the keep rule
prefer the good one (after the licence tier, before date, length and key).

    quality = accents − 10 × damaged − noise          (rounded to 0.001; higher is better)

``accents``: the share of the text's letters that are the letters with diacritics the document's
language writes (``é è ç œ …`` for French), divided by the share ordinary prose of the language
reaches: about 1 or more for a real transcription, 0 for an accent-stripped one, and between the
two for a copy that lost some (``A l'un`` for ``À l'un``, ``coeur`` where Latin-1 has no ``œ``).
Languages written without them (English, Latin, Dutch…) or in other scripts score 1 for every
copy, so there the other terms decide.
``damaged``: replacement characters (U+FFFD) and mojibake sequences per whitespace token.
``noise``: OCR-noise tokens per whitespace token (the same signs as the ``ocr_noise`` filter).
Copies whose scores round alike tie, and today's rule decides between them.

A pure function of the text and its language code: builds stay reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from corpus_registry.build.filters.ocr import count_damage, count_noise, count_noise_many

__all__ = ["DIACRITICS", "text_qualities", "text_quality"]

#: Per language: its letters with diacritics (lower case), and the share of letters they make up in
#: ordinary prose, set below what the bundled texts show (French 3.5–4 %, German 1.5–2 %…) so that
#: any real transcription reaches it.
DIACRITICS: dict[str, tuple[str, float]] = {
    "fr": ("àâæçéèêëîïôœùûüÿ", 0.015),
    "de": ("äöüß", 0.008),
    "es": ("áéíñóúü", 0.008),
    "it": ("àèéìíîòóùú", 0.004),
    "pt": ("àáâãçéêíóôõú", 0.012),
    "ca": ("àçèéíïòóúü", 0.01),
    "oc": ("àçèéíïòóúü", 0.01),
    "pl": ("ąćęłńóśźż", 0.03),
    "cs": ("áčďéěíňóřšťúůýž", 0.04),
    "sk": ("áäčďéíĺľňóôŕšťúýž", 0.03),
    "sl": ("čšž", 0.01),
    "hr": ("čćđšž", 0.01),
    "ro": ("ăâîșşțţ", 0.02),
    "hu": ("áéíóöőúüű", 0.04),
    "sv": ("åäö", 0.02),
    "fi": ("äö", 0.025),
    "da": ("æøå", 0.008),
    "no": ("æøå", 0.008),
    "nb": ("æøå", 0.008),
    "nn": ("æøå", 0.008),
    "is": ("áðéíóúýþæö", 0.04),
    "tr": ("çğıöşü", 0.04),
    "vi": ("ăâđêôơư", 0.05),
}


def _base(language: str | None) -> str:
    return (language or "").split("-")[0].lower()


def accent_coverage(text: str, language: str | None) -> float:
    """How fully the text writes its language's diacritics: ~1 or more for ordinary prose, 0 when
    stripped (1 for languages without any).

    Counted on the text's Latin-1 bytes (``bytes.translate`` deletes a set in one pass), plus
    ``str.count`` for the letters beyond Latin-1 (``œ``, ``ł``…): a few passes, not one per letter."""
    spec = _letters(_base(language))
    if spec is None:
        return 1.0
    narrow, wide, expected = spec
    if text.isascii():
        return 0.0
    data = text.encode("latin-1", "ignore")  # every ASCII and Latin-1 letter kept, the rest dropped
    ascii_letters = len(data) - len(data.translate(None, _ASCII_LETTERS))
    accented = len(data) - len(data.translate(None, narrow)) + sum(text.count(c) for c in wide)
    total = ascii_letters + accented
    if not total:
        return 1.0
    return accented / total / expected


@cache
def _letters(language: str) -> tuple[bytes, tuple[str, ...], float] | None:
    """The language's letters with diacritics in both cases: those in Latin-1 as bytes, the others
    as characters; and the share expected of them."""
    spec = DIACRITICS.get(language)
    if spec is None:
        return None
    letters, expected = spec
    both = _both_cases(letters)
    return (bytes(ord(c) for c in both if ord(c) < 256), tuple(c for c in both if ord(c) >= 256), expected)


def _both_cases(letters: str) -> list[str]:
    """Each letter and its capital (where the capital is one character: not ß → SS)."""
    out = []
    for c in letters:
        out.append(c)
        if len(c.upper()) == 1 and c.upper() != c:
            out.append(c.upper())
    return out


_ASCII_LETTERS = bytes(range(ord("a"), ord("z") + 1)) + bytes(range(ord("A"), ord("Z") + 1))


def text_quality(text: str, language: str | None) -> float:
    """The keep rule's text score (see the module docstring): higher is better."""
    return _score(text, language, count_noise(text), None)


def text_qualities(texts: Sequence[str], languages: Sequence[str | None]) -> list[float]:
    """:func:`text_quality` of each text, the noise and tokens counted on all of them at once."""
    noise, tokens = count_noise_many(texts)
    return [_score(*args) for args in zip(texts, languages, noise, tokens)]


def _score(text: str, language: str | None, noise: int, tokens: int | None) -> float:
    damage = count_damage(text)
    if not damage and not noise:  # the usual case: the token count does not matter
        return round(accent_coverage(text, language), 3) + 0.0  # + 0.0: no -0.0
    tokens = max(len(text.split()) if tokens is None else tokens, len(text) // 8, 1)
    return round(accent_coverage(text, language) - 10 * (damage / tokens) - noise / tokens, 3) + 0.0
