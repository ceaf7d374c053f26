"""Language codes, checked with ``langcodes`` (BCP 47) wherever a person or a file supplies one:
``sources.yaml`` overrides, a reader's language field, a build spec's ``select.languages``.

A language code names a folder of every release (``data/<language>/``), so a value that is not a
real code never gets into the registry: ``../../pwn`` is refused where it enters, with the
field that carried it.
"""

from __future__ import annotations

import re

import langcodes

__all__ = ["MAX_LENGTH", "canonical_language"]

MAX_LENGTH = 16  # the registry's column (the same limit on SQLite and PostgreSQL)
_SHAPE = re.compile(r"^[A-Za-z0-9]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def canonical_language(code: object) -> str:
    """``code`` as the registry stores it, or ValueError saying why it is not a language code.

    A valid BCP 47 tag (``langcodes.tag_is_valid``) at most 16 characters long, written in the
    standard case (``pt-BR``, ``zh-Hant``), ``_`` read as ``-``; an ISO 639-2/3 code with a
    two-letter equivalent is shortened (``fra`` → ``fr``), as language identification writes
    codes. Other codes are kept as given (``tl`` stays ``tl``), so they match the registry's.
    """
    if not isinstance(code, str):
        raise ValueError(f"{code!r} is not a language code (expected text such as 'fr' or 'pt-BR')")
    tag = code.strip().replace("_", "-")
    if not _SHAPE.match(tag) or len(tag) > MAX_LENGTH or not langcodes.tag_is_valid(tag):
        shown = code if len(code) <= 40 else code[:40] + "…"
        raise ValueError(f"{shown!r} is not a language code (BCP 47, at most {MAX_LENGTH} characters, "
                         "e.g. 'fr', 'en', 'pt-BR')")
    tag = langcodes.Language.get(tag, normalize=False).to_tag()
    primary, dash, rest = tag.partition("-")
    if len(primary) == 3:
        short = langcodes.standardize_tag(primary)
        if len(short) == 2 and short.isalpha():
            primary = short
    return primary + dash + rest
