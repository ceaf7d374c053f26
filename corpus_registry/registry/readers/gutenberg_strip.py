"""Remove Project Gutenberg's header, footer and licence text from an etext.

Why: the PG licence is a trademark licence that applies to files carrying the PG name; once
every reference to Project Gutenberg is gone the text is plain public domain. So stripping is
not cosmetic: a release that keeps a "Project Gutenberg" line redistributes trademarked text.

Formats handled (all seen in the bundled data):

* modern (2004+): ``*** START OF THIS/THE PROJECT GUTENBERG EBOOK X ***`` ...
  ``End of the Project Gutenberg EBook`` / ``*** END OF ...``, licence after the end marker;
* pre-2004: a long header closed by ``*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*...``,
  footer ``End of (The) Project Gutenberg Etext ...`` (or none at all);
* hybrids: a modern start marker with the "small print" after the end marker.

After the markers, leading producer credits ("Produced by ...", "This Etext was prepared by
...", acknowledgements, ``Title:``/``Author:`` blocks) are dropped, and any paragraph left that
still names Project Gutenberg is dropped too (counted). Texts by John Walker (fourmilab) mark
the body with ``<><><>...`` bracket lines; when two are present only the text between them is
kept, which removes his English typesetting notes and the C program appended after the novel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FLAGS = re.IGNORECASE
_START_MODERN = re.compile(r"^\W*START OF (THE|THIS) (COPYRIGHTED )?PROJECT GUTENBERG", _FLAGS)
_END_SMALL_PRINT = re.compile(r"^\W*END\W*THE SMALL PRINT", _FLAGS)
_FILE_NAMED = re.compile(r"^\W*This file should be named", _FLAGS)
_END_OF_TEXT = re.compile(
    r"^\W*(END OF (THE|THIS) (COPYRIGHTED )?PROJECT GUTENBERG"
    r"|End of (the |this )?Project Gutenberg)",
    _FLAGS,
)
# Licence blocks that follow the text when the end-of-text line is missing; in pre-2004
# files the "small print" starts inside the header, so these only count after the header.
_END_OR_LICENCE = re.compile(
    _END_OF_TEXT.pattern + r"|^\W*START\W*THE SMALL PRINT|^\W*START: FULL LICENSE", _FLAGS
)
_WALKER_BRACKET = re.compile(r"^(<>){10,}\s*$")
_PG_NAME = re.compile(r"project\s+gutenberg|gutenberg\.(org|net)|gutenberg-tm|\bpglaf\b", _FLAGS)
_PG_MENTION = re.compile(_PG_NAME.pattern + r"|small\s+print", _FLAGS)
_CREDIT_START = re.compile(
    r"^\W*(produced by|this (e-?text|e-?book|file|edition) (was|is|has been) "
    r"(produced|prepared|created|made|scanned|digiti[sz]ed)|e-?text prepared by|"
    r"transcribed by|prepared by|digiti[sz]ed by|we thank|nous remercions|thanks to|"
    r"credits?:|html version by)",
    _FLAGS,
)
_CREDIT_ANYWHERE = re.compile(
    r"distributed\s+proofread|\bpgdp\b|proofreading team|\be-?texts?\b|\be-?books?\b|"
    r"https?://|www\.",
    _FLAGS,
)
_FIELD_LINE = re.compile(
    r"^(title|author|translator|editor|illustrator|remark|language|encoding|"
    r"character set encoding|release date|posting date|last updated|edition)\s*:",
    _FLAGS,
)
_SEPARATOR = re.compile(r"^[\s*=_~-]*$")
_HEADER_SCAN_SHARE = 0.5  # a "This file should be named" header must sit in the first half


@dataclass(slots=True)
class Stripped:
    """The body of an etext and what stripping found, for metadata and audit counters."""

    text: str
    header: list[str]
    format: str  # "modern", "small-print", "file-named" or "unmarked"
    header_lines: int = 0
    footer_lines: int = 0
    dropped_paragraphs: dict[str, int] = field(default_factory=dict)
    walker_brackets: bool = False


def strip_boilerplate(text: str) -> Stripped:
    """Split ``text`` into PG header, body and footer; clean the body; return it."""
    lines = text.splitlines()
    start, fmt = _header_end(lines)
    end = _footer_start(lines, start + 1)
    body = lines[start + 1 : end]
    result = Stripped(
        text="",
        header=lines[: start + 1],
        format=fmt,
        header_lines=start + 1,
        footer_lines=len(lines) - end,
    )
    body = _inside_walker_brackets(body, result)
    paragraphs = _paragraphs(body)
    paragraphs = _drop_leading_credits(paragraphs, result)
    paragraphs = _drop_pg_mentions(paragraphs, result)
    result.text = "\n\n".join("\n".join(p) for p in paragraphs)
    return result


def _header_end(lines: list[str]) -> tuple[int, str]:
    """Index of the last header line (-1 if none) and the header format."""
    for i, line in enumerate(lines):
        if _START_MODERN.match(line):
            return i, "modern"
    first_end = _footer_start(lines, 0, pattern=_END_OF_TEXT)
    for i, line in enumerate(lines[:first_end]):
        if _END_SMALL_PRINT.match(line):
            return i, "small-print"
    limit = int(len(lines) * _HEADER_SCAN_SHARE)
    for i, line in enumerate(lines[:limit]):
        if _FILE_NAMED.match(line):
            return i, "file-named"
    return -1, "unmarked"


def _footer_start(
    lines: list[str], begin: int, *, pattern: re.Pattern[str] = _END_OR_LICENCE
) -> int:
    for i in range(begin, len(lines)):
        if pattern.match(lines[i]):
            return i
    return len(lines)


def _inside_walker_brackets(body: list[str], result: Stripped) -> list[str]:
    marks = [i for i, line in enumerate(body) if _WALKER_BRACKET.match(line)]
    if len(marks) < 2:
        return body
    result.walker_brackets = True
    return body[marks[0] + 1 : marks[1]]


def _paragraphs(lines: list[str]) -> list[list[str]]:
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        line = line.rstrip()
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _is_front_matter(paragraph: list[str]) -> str | None:
    """Why a leading paragraph is PG/producer front matter, or None if it is the book."""
    joined = " ".join(line.strip() for line in paragraph)
    if _PG_MENTION.search(joined):
        return "pg_mention"
    if _SEPARATOR.match(joined):
        return "separator"
    if _CREDIT_START.match(joined) or (len(paragraph) <= 4 and _CREDIT_ANYWHERE.search(joined)):
        return "producer_credit"
    if all(_FIELD_LINE.match(line.strip()) for line in paragraph):
        return "header_field"
    if joined.startswith("[") and joined.endswith("]") and "character set" in joined.lower():
        return "producer_credit"
    return None


def _drop_leading_credits(paragraphs: list[list[str]], result: Stripped) -> list[list[str]]:
    first_kept = 0
    while first_kept < len(paragraphs):
        reason = _is_front_matter(paragraphs[first_kept])
        if reason is None:
            break
        result.dropped_paragraphs[reason] = result.dropped_paragraphs.get(reason, 0) + 1
        first_kept += 1
    return paragraphs[first_kept:]


def _drop_pg_mentions(paragraphs: list[list[str]], result: Stripped) -> list[list[str]]:
    body = "\n".join("\n".join(p) for p in paragraphs).lower()
    if "gutenberg" not in body and "pglaf" not in body:
        return paragraphs  # the common case, one substring scan over the body
    kept = [p for p in paragraphs if not _PG_NAME.search(" ".join(p))]
    dropped = len(paragraphs) - len(kept)
    if dropped:
        result.dropped_paragraphs["pg_mention"] = (
            result.dropped_paragraphs.get("pg_mention", 0) + dropped
        )
    return kept
