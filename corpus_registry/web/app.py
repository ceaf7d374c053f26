"""The web application: every page, its JSON twin under ``/api/``, and the headers every answer carries.

Stable URLs (scripts and links rely on them): ``/sources/SLUG``, ``/documents/SOURCE/IDENTIFIER``
(identifiers may contain ``/``), ``/releases/NAME/VERSION``, ``/search?q=…``; each also under
``/api/`` as JSON, writes included (``POST /api/documents/SOURCE/IDENTIFIER/withdraw``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corpus_registry.registry.db.models import Setting
from corpus_registry.registry.registry import Registry, open_registry
from corpus_registry.web.caches import Caches
from corpus_registry.web.http import Handler, Web, endpoint, not_found
from corpus_registry.web.pages import accounts, browse, contribute, releases, review
from corpus_registry.web.settings import WebSettings
from corpus_registry.web.templating import make_templates

SECRET_KEY = "web_secret"
MAX_BODY = 1024 * 1024

#: (path, handler, permission, methods, also under /api/)
ROUTES: list[tuple[str, Handler, str, tuple[str, ...], bool]] = [
    ("/", browse.home, "read", ("GET",), True),
    ("/sources", browse.sources, "read", ("GET",), True),
    ("/sources/{slug}", browse.source, "read", ("GET",), True),
    ("/sources/{slug}/{action}", review.source_action, "review", ("POST",), True),
    ("/documents", browse.documents, "read", ("GET",), True),
    ("/documents/{source}/{identifier:path}", browse.document, "read", ("GET",), True),
    ("/documents/{source}/{rest:path}", review.document_action, "review", ("POST",), True),
    ("/texts/{source}/{identifier:path}", browse.text, "read", ("GET",), False),
    ("/search", browse.search, "read", ("GET",), True),
    ("/releases", releases.release_list, "read", ("GET",), True),
    ("/releases/{name}/{version}", releases.release, "read", ("GET",), True),
    ("/releases/{name}/{version}/diff", releases.diff, "read", ("GET",), True),
    ("/contribute", contribute.contribute_form, "propose", ("GET",), False),
    ("/contribute/source", contribute.propose_source, "propose", ("POST",), True),
    ("/contribute/correction", contribute.propose_correction, "propose", ("POST",), True),
    ("/proposals", contribute.proposal_list, "read", ("GET",), True),
    ("/proposals/{id:int}", contribute.proposal, "read", ("GET",), True),
    ("/proposals/{id:int}/{action}", review.proposal_action, "review", ("POST",), True),
    ("/takedown", contribute.takedown_form, "takedown.file", ("GET",), False),
    ("/takedown", contribute.file_takedown, "takedown.file", ("POST",), True),
    ("/takedowns", contribute.takedown_list, "review", ("GET",), True),
    ("/takedowns/{id:int}", contribute.takedown, "review", ("GET",), True),
    ("/takedowns/{id:int}/{action}", review.takedown_action, "review", ("POST",), True),
    ("/review", review.queue, "review", ("GET",), True),
    ("/login", accounts.login_form, "public", ("GET",), False),
    ("/login", accounts.login, "public", ("POST",), True),
    ("/logout", accounts.logout, "public", ("POST",), True),
    ("/account", accounts.account, "account", ("GET",), True),
    ("/account/tokens", accounts.new_token, "account", ("POST",), True),
    ("/admin/users", accounts.users, "users.manage", ("GET",), True),
    ("/admin/users", accounts.add_user, "users.manage", ("POST",), True),
    ("/admin/users/{name}", accounts.change_user, "users.manage", ("POST",), True),
]

#: Content Security Policy: no script at all, styles and images from this site only.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secret(registry: Registry, settings: WebSettings) -> str:
    """The signing key: given, else the registry's own (made on first use, shared by every server)."""
    if settings.secret:
        return settings.secret
    with registry.session() as s:
        row = s.get(Setting, SECRET_KEY)
        if row is None:
            row = Setting(key=SECRET_KEY, value=secrets.token_urlsafe(48))
            s.add(row)
        return row.value


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for path, handler, permission, methods, api in ROUTES:
        run: Callable[..., Any] = endpoint(handler, permission=permission)
        out.append(Route(path, run, methods=list(methods), name=f"{handler.__name__}:{'/'.join(methods)}"))
        if api:
            for api_path in (["/api", "/api/"] if path == "/" else ["/api" + path]):
                out.append(Route(api_path, run, methods=list(methods),
                                 name=f"api:{handler.__name__}:{api_path}:{'/'.join(methods)}"))
    static = resources.files("corpus_registry.web") / "static"
    out.append(Mount("/static", app=StaticFiles(directory=str(static)), name="static"))
    return out


def create_app(registry: Registry, settings: WebSettings | None = None) -> Starlette:
    """The ASGI application serving ``registry`` (checked to be at the current schema)."""
    settings = settings or WebSettings()
    registry.check()
    caches = Caches(registry, recheck_s=settings.counts_recheck_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The per-source counts scan every document once: start it now, not on a visitor's request.
        threading.Thread(target=caches.counts, name="warm-counts", daemon=True).start()
        yield

    app = Starlette(routes=routes(), exception_handlers={404: not_found, 405: not_found},
                    middleware=[Middleware(SecurityHeaders)], max_body_size=MAX_BODY, lifespan=lifespan)
    app.state.web = Web(registry=registry, settings=settings,
                        signer=URLSafeTimedSerializer(_secret(registry, settings)),
                        templates=make_templates(), caches=caches)
    return app


#: The settings ``serve`` hands to every worker process through the environment.
ENV_SETTINGS = {
    "anonymous_read": "CORPUS_REGISTRY_WEB_ANONYMOUS_READ",
    "secure_cookies": "CORPUS_REGISTRY_WEB_SECURE_COOKIES",
    "catalogue_dir": "CORPUS_REGISTRY_WEB_CATALOGUE_DIR",
    "secret": "CORPUS_REGISTRY_WEB_SECRET",
}


def app_from_env() -> Starlette:
    """The application for ``$CORPUS_REGISTRY_DB`` with the settings in the environment (a factory
    uvicorn calls in each worker process)."""
    env = os.environ
    settings = WebSettings(
        anonymous_read=env.get(ENV_SETTINGS["anonymous_read"], "1") != "0",
        secure_cookies=env.get(ENV_SETTINGS["secure_cookies"], "0") == "1",
        catalogue_dir=Path(env.get(ENV_SETTINGS["catalogue_dir"]) or Path.cwd()),
        secret=env.get(ENV_SETTINGS["secret"]) or None,
    )
    return create_app(open_registry(env.get("CORPUS_REGISTRY_DB")), settings)
