"""Per-source URL templates: every document gets a URL, even when its files carry none.

A template is a URL with ``{placeholders}`` filled per document (``sources.yaml``'s ``url_template``):

    {identifier}  the document's identifier in its source (``pg10746``, ``swedish``)
    {path}        its file's path relative to the reader's ``path``, POSIX form (``titre-v/227.md``)
    {stem}        that file's name without extension (``227``)
    {name}        that file's name (``227.md``)
    {KEY}         any field the reader keeps in the document's ``extra`` (``{gutenberg_id}``)

Values are percent-encoded (``/`` kept), so a path with spaces or accents still makes a valid URL.
A template applies where the reader found no URL of the document's own (GITenberg's metadata, a
JSONL ``url_field``); a ``documents:`` override in ``sources.yaml`` beats both.
"""

from __future__ import annotations

import string
from pathlib import PurePosixPath
from urllib.parse import quote

from corpus_registry.errors import ReaderError
from corpus_registry.registry.documents import RawDocument

__all__ = ["check_url_template", "render_url"]

_FIXED = ("identifier", "path", "stem", "name")


def check_url_template(template: str) -> str:
    """``template`` if it is an http(s) URL whose placeholders are plain names; ValueError if not."""
    if not template.startswith(("https://", "http://")):
        raise ValueError(f"url_template {template!r} must start with https:// or http://")
    try:
        parts = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise ValueError(f"url_template {template!r}: {e} (write a literal brace as {{{{ or }}}})") from e
    for field, spec, conv in parts:
        if not field.isidentifier() or spec or conv:
            raise ValueError(f"url_template {template!r}: placeholder {{{field}}} must be a plain name such as "
                             f"{{identifier}}, {{path}} or a field of the document's extra")
    return template


def render_url(template: str, document: RawDocument, *, where: str) -> str:
    """The template filled in for ``document``; ReaderError naming the placeholder it lacks."""
    path = PurePosixPath(document.path) if document.path else None
    values: dict[str, object] = {key: value for key, value in document.extra.items() if value is not None}
    values["identifier"] = document.identifier
    if path is not None:
        values.update(path=path.as_posix(), stem=path.stem, name=path.name)
    out = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        if field not in values or isinstance(values[field], (dict, list)):
            known = ", ".join(sorted({*_FIXED, *(k for k, v in values.items() if not isinstance(v, (dict, list)))}))
            raise ReaderError(
                f"{where}: url_template placeholder {{{field}}} has no value for document {document.identifier!r}",
                hint=f"placeholders this document has: {known}", field="url_template",
            )
        out.append(quote(str(values[field]), safe="/"))
    return "".join(out)
