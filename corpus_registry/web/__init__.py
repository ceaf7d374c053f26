"""The registry on the web: browse and search, contribute, review, takedown (``corpus-registry serve``).

Server-rendered pages (Starlette + Jinja2, no JavaScript needed) with a JSON twin of each under
``/api/``, over the same library calls as the CLI. Only ``corpus_registry.cli`` imports this package.
"""

from __future__ import annotations

from corpus_registry.web.app import create_app
from corpus_registry.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
