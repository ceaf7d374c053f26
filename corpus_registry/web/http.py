"""How a request becomes a page or a JSON answer.

Every route is one small handler that takes a :class:`Call` and returns a :class:`Result` (the data);
:func:`endpoint` wraps it with what every request needs, in this order: read the body (forms as
``application/x-www-form-urlencoded``, the API as JSON), identify the visitor (bearer token, session
cookie or anonymous), check the CSRF token of a write, check the visitor's role against the
action's permission, run the handler, and render the data — through a Jinja2 template (autoescaped)
for a page, as JSON under ``/api/``. Library errors become 400/404 with the library's message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from corpus_registry.config import field_path
from corpus_registry.errors import CorpusRegistryError, NotFoundError, StoreError
from corpus_registry.registry.registry import Registry
from corpus_registry.web import auth
from corpus_registry.web.auth import Account, Role
from corpus_registry.web.caches import Caches
from corpus_registry.web.settings import WebSettings

log = logging.getLogger("corpus_registry.web")

SESSION_COOKIE = "cr_session"
CSRF_COOKIE = "cr_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_JSON = 256 * 1024


class HTTPProblem(Exception):
    """A refusal with its HTTP status (401, 403, 409, 413, 415, 429…)."""

    def __init__(self, status: int, message: str, *, hint: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.headers = status, message, hint, headers or {}


@dataclass
class Visitor:
    """Who is asking. ``via``: "token", "session" or "anonymous"."""

    account: Account | None
    via: str
    csrf_seed: str
    session_token: str | None = None
    new_csrf_cookie: bool = False  # the seed is new: set the cookie if a page shows a token
    csrf_shown: bool = False

    @property
    def role(self) -> Role:
        return self.account.role if self.account else Role.ANONYMOUS

    @property
    def name(self) -> str | None:
        return self.account.name if self.account else None

    def can(self, permission: str, settings: WebSettings) -> bool:
        return self.role >= required_role(permission, settings)


def required_role(permission: str, settings: WebSettings) -> Role:
    role = auth.PERMISSIONS[permission]
    if permission == "read" and not settings.anonymous_read:
        return Role.CONTRIBUTOR
    return role


@dataclass
class Web:
    """Everything the handlers share: the registry, settings, signer, templates and caches."""

    registry: Registry
    settings: WebSettings
    signer: URLSafeTimedSerializer
    templates: Environment
    caches: Caches


@dataclass
class Call:
    """One request, as a handler sees it."""

    request: Request
    web: Web
    visitor: Visitor
    api: bool
    params: dict[str, str]
    body: dict[str, Any]
    path: dict[str, Any] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        return self.web.registry

    def require(self, permission: str) -> None:
        """Refuse (401 for an anonymous visitor, 403 otherwise) unless the visitor may ``permission``."""
        if self.visitor.can(permission, self.web.settings):
            return
        needed = required_role(permission, self.web.settings).label
        if self.visitor.account is None:
            raise HTTPProblem(401, f"sign in as a {needed} to do this", hint="log in at /login")
        raise HTTPProblem(403, f"{self.visitor.name} ({self.visitor.role.label}) may not do this: "
                               f"it needs the {needed} role")


@dataclass
class Result:
    """A handler's answer: the data (JSON for the API, the template's context for a page)."""

    data: dict[str, Any]
    template: str | None = None
    status: int = 200
    redirect: str | None = None  # a page answers a successful form with 303 See Other to here


Handler = Callable[[Call], "Result | Response"]


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def endpoint(handler: Handler, *, permission: str) -> Callable[[Request], Any]:
    """An ASGI endpoint running ``handler`` for visitors allowed to ``permission``."""

    async def run(request: Request) -> Response:
        web: Web = request.app.state.web
        api = is_api(request)
        try:
            body = await _read_body(request, api=api) if request.method == "POST" else {}
        except HTTPProblem as e:
            return _problem_response(web, request, None, api, e.status, e.message, e.hint, e.headers)
        return await run_in_threadpool(_respond, web, request, handler, permission, api, body)

    run.__name__ = handler.__name__
    return run


def is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


async def _read_body(request: Request, *, api: bool) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if api:
        if kind != "application/json":
            raise HTTPProblem(415, "the API takes JSON bodies", hint="send Content-Type: application/json")
        raw = await request.body()
        if len(raw) > MAX_JSON:
            raise HTTPProblem(413, f"the body is larger than {MAX_JSON // 1024} KB")
        try:
            data = json.loads(raw or b"{}")
        except ValueError as e:
            raise HTTPProblem(400, f"the body is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise HTTPProblem(400, "the body must be a JSON object")
        return data
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise HTTPProblem(415, "forms are posted as application/x-www-form-urlencoded")
    form = await request.form(max_files=0, max_fields=200, max_part_size=256 * 1024)
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise HTTPProblem(400, "files cannot be uploaded here")
        out.setdefault(key, value)
    return out


def _respond(web: Web, request: Request, handler: Handler, permission: str, api: bool,
             body: dict[str, Any]) -> Response:
    visitor: Visitor | None = None
    try:
        visitor = identify(web, request)
        call = Call(request=request, web=web, visitor=visitor, api=api, params=dict(request.query_params),
                    body=body, path=dict(request.path_params))
        if request.method == "POST":
            check_csrf(web, call)
        call.require(permission)
        result = handler(call)
        if isinstance(result, Response):
            response: Response = result
        elif result.redirect and not api:
            response = RedirectResponse(result.redirect, status_code=303)
        elif api or result.template is None:
            response = JSONResponse(to_jsonable(result.data), status_code=result.status)
        else:
            response = html(web, request, visitor, result.template, result.data, result.status)
    except HTTPProblem as e:
        response = _problem_response(web, request, visitor, api, e.status, e.message, e.hint, e.headers)
    except NotFoundError as e:
        response = _problem_response(web, request, visitor, api, 404, e.message, e.hint)
    except ValidationError as e:
        response = _problem_response(web, request, visitor, api, 400, validation_message(e, body))
    except StoreError as e:  # the registry's own store is damaged: the server's fault, not the request's
        log.error("document store: %s", e.message)
        response = _problem_response(web, request, visitor, api, 500, e.message, e.hint)
    except CorpusRegistryError as e:
        response = _problem_response(web, request, visitor, api, 400, e.message, e.hint)
    except ValueError as e:
        response = _problem_response(web, request, visitor, api, 400, str(e).splitlines()[0])
    except Exception:  # noqa: BLE001 - the visitor gets a 500 page, the log the traceback
        log.exception("error while serving %s %s", request.method, request.url.path)
        response = _problem_response(web, request, visitor, api, 500, "internal error",
                                     hint="the server log has the details")
    if visitor is not None and visitor.new_csrf_cookie and visitor.csrf_shown:
        set_cookie(web, request, response, CSRF_COOKIE, web.signer.dumps(visitor.csrf_seed, salt="csrf-cookie"),
                   max_age=365 * 86400)
    return response


def validation_message(e: ValidationError, data: Any) -> str:
    err = e.errors()[0]
    where = field_path(tuple(err["loc"]), data) if err["loc"] else "input"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    return f"{where}: {err['msg'].removeprefix('Value error, ')}{more}"


def identify(web: Web, request: Request) -> Visitor:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, bearer = header.partition(" ")
        account = auth.token_account(web.registry, bearer.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            raise HTTPProblem(401, "the bearer token is unknown, revoked or its account disabled",
                              headers={"WWW-Authenticate": "Bearer"})
        return Visitor(account, "token", csrf_seed="")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            token: Any = web.signer.loads(cookie, salt="session", max_age=auth.SESSION_DAYS * 86400)
        except BadSignature:
            token = None
        found = auth.session_account(web.registry, token) if isinstance(token, str) else None
        if found is not None:
            return Visitor(found[0], "session", csrf_seed=found[1], session_token=str(token))
    seed_cookie = request.cookies.get(CSRF_COOKIE)
    if seed_cookie:
        try:
            seed = web.signer.loads(seed_cookie, salt="csrf-cookie")
            if isinstance(seed, str):
                return Visitor(None, "anonymous", csrf_seed=seed)
        except BadSignature:
            pass
    return Visitor(None, "anonymous", csrf_seed=secrets.token_urlsafe(24), new_csrf_cookie=True)


def csrf_token(web: Web, visitor: Visitor) -> str:
    visitor.csrf_shown = True
    return web.signer.dumps(visitor.csrf_seed, salt="csrf")


class _LazyToken:
    """The CSRF token, signed only if a template shows it (most pages a visitor reads have no form)."""

    def __init__(self, web: Web, visitor: Visitor) -> None:
        self.web, self.visitor, self._value = web, visitor, ""

    def __str__(self) -> str:
        if not self._value:
            self._value = csrf_token(self.web, self.visitor)
        return self._value

    def __html__(self) -> str:
        return str(self)


def check_csrf(web: Web, call: Call) -> None:
    """Forms always carry the token; API calls do when a session cookie authenticates them (a bearer
    token or no credentials at all is no ambient authority a third-party page could borrow)."""
    if call.api and call.visitor.via != "session":
        return
    given = call.request.headers.get(CSRF_HEADER) if call.api else call.body.get(CSRF_FIELD)
    ok = False
    if isinstance(given, str) and given and not call.visitor.new_csrf_cookie:
        try:
            seed = web.signer.loads(given, salt="csrf", max_age=auth.SESSION_DAYS * 86400)
            ok = isinstance(seed, str) and hmac.compare_digest(seed, call.visitor.csrf_seed)
        except BadSignature:
            ok = False
    if not ok:
        raise HTTPProblem(403, "this form has no valid CSRF token",
                          hint="reload the page and submit the form again (API: send the X-CSRF-Token header)")


def set_cookie(web: Web, request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=web.settings.secure_cookies or request.url.scheme == "https")


def html(web: Web, request: Request, visitor: Visitor | None, template: str, data: dict[str, Any],
         status: int = 200) -> Response:
    visitor = visitor or Visitor(None, "anonymous", csrf_seed="")
    context = {
        **data,
        "visitor": visitor,
        "can": lambda permission: visitor.can(permission, web.settings),
        "csrf_token": _LazyToken(web, visitor) if visitor.csrf_seed else "",
        "request_path": request.url.path,
        "query": dict(request.query_params),
    }
    body = web.templates.get_template(template).render(context)
    headers = {"Cache-Control": "no-store"} if visitor.account else {}
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=headers)


def _problem_response(web: Web, request: Request, visitor: Visitor | None, api: bool, status: int, message: str,
                      hint: str | None = None, headers: dict[str, str] | None = None) -> Response:
    if api:
        return JSONResponse({"error": message, "hint": hint, "status": status}, status_code=status,
                            headers=headers)
    response = html(web, request, visitor, "error.html", {"status": status, "message": message, "hint": hint},
                    status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


async def not_found(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405 (no route) as our page or JSON."""
    web: Web = request.app.state.web
    status = getattr(exc, "status_code", 404)
    message = "no such page" if status == 404 else "this method is not allowed here"
    return _problem_response(web, request, None, is_api(request), status, message,
                             hint="see / for what the registry holds" if status == 404 else None)
