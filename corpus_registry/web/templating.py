"""Jinja2 for every page (autoescape on: whatever a contributor wrote is text, never markup) and
the stable URLs pages link to.

Identifiers may contain ``/`` and are kept readable in URLs (``/documents/SOURCE/a/b``), every
other character percent-encoded; an identifier with an empty, ``.`` or ``..`` segment (which a
browser would resolve away) is encoded whole, ``/`` included.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from corpus_registry.web.auth import ROLE_SUMMARY
from corpus_registry.web.contributions import http_url


def identifier_path(identifier: str) -> str:
    parts = identifier.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return quote(identifier, safe="")
    return "/".join(quote(p, safe="") for p in parts)


def doc_url(source: str, identifier: str, *, api: bool = False) -> str:
    return f"{'/api' if api else ''}/documents/{quote(source, safe='')}/{identifier_path(identifier)}"


def text_url(source: str, identifier: str) -> str:
    return f"/texts/{quote(source, safe='')}/{identifier_path(identifier)}"


def source_url(slug: str, *, api: bool = False) -> str:
    return f"{'/api' if api else ''}/sources/{quote(slug, safe='')}"


def release_url(name: str, version: str, *, api: bool = False) -> str:
    return f"{'/api' if api else ''}/releases/{quote(name, safe='')}/{quote(version, safe='')}"


def qs(params: dict[str, Any] | None = None, **more: Any) -> str:
    """``?a=1&b=2`` from the non-empty values of ``params`` updated with ``more``."""
    merged = {**(params or {}), **more}
    clean = {k: v for k, v in merged.items() if v not in (None, "", False)}
    return "?" + urlencode(clean) if clean else ""


def num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def make_templates() -> Environment:
    env = Environment(loader=PackageLoader("corpus_registry.web", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.globals.update(doc_url=doc_url, text_url=text_url, source_url=source_url, release_url=release_url, qs=qs,
                       role_summary={r.label: text for r, text in ROLE_SUMMARY.items()})
    env.filters.update(num=num, href=http_url)
    return env
