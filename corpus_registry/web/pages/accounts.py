"""Signing in and out (rate-limited), one's account and API tokens, and the admin's user list."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, RedirectResponse, Response

from corpus_registry.web import auth, ratelimit
from corpus_registry.web.http import (
    SESSION_COOKIE,
    Call,
    HTTPProblem,
    Result,
    Visitor,
    csrf_token,
    html,
    set_cookie,
)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    next: str | None = Field(None, max_length=2048)


def _local(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or ``http://…``) may follow a login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def login_form(call: Call) -> Result:
    return Result({"next": _local(call.params.get("next")), "error": None}, "login.html")


def login(call: Call) -> Response:
    form = LoginIn.model_validate(call.body)
    address = call.request.client.host if call.request.client else "unknown"
    keys = ((f"login:name:{form.name.lower()}", ratelimit.LOGIN_PER_NAME),
            (f"login:address:{address}", ratelimit.LOGIN_PER_ADDRESS))
    wait = max(ratelimit.retry_after(call.registry, key, limit) for key, limit in keys)
    if wait:
        raise HTTPProblem(429, f"too many failed sign-ins: try again in {wait} seconds",
                          headers={"Retry-After": str(wait)})
    account = auth.authenticate(call.registry, name=form.name, password=form.password)
    if account is None:
        for key, limit in keys:
            ratelimit.record(call.registry, key, limit)
        if call.api:
            raise HTTPProblem(401, "wrong name or password")
        return html(call.web, call.request, call.visitor, "login.html",
                    {"next": _local(form.next), "error": "Wrong name or password."}, 401)
    ratelimit.forget(call.registry, keys[0][0])
    token = auth.open_session(call.registry, account)
    session = auth.session_account(call.registry, token)
    assert session is not None
    visitor = Visitor(account, "session", csrf_seed=session[1], session_token=token)
    response: Response
    if call.api:
        response = JSONResponse({"user": account.name, "role": account.role.label,
                                 "csrf_token": csrf_token(call.web, visitor)})
    else:
        response = RedirectResponse(_local(form.next), status_code=303)
    set_cookie(call.web, call.request, response, SESSION_COOKIE, call.web.signer.dumps(token, salt="session"),
               max_age=auth.SESSION_DAYS * 86400)
    return response


def logout(call: Call) -> Response:
    if call.visitor.session_token:
        auth.close_session(call.registry, call.visitor.session_token)
    response: Response = JSONResponse({"signed_out": True}) if call.api else RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def account(call: Call) -> Result:
    assert call.visitor.account is not None
    return Result({"user": {"name": call.visitor.account.name, "role": call.visitor.role.label,
                            "may": auth.ROLE_SUMMARY[call.visitor.role]}, "new_token": None}, "account.html")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    label: str = Field("api", min_length=1, max_length=128)


def new_token(call: Call) -> Result:
    assert call.visitor.account is not None
    label = TokenIn.model_validate(call.body).label
    token = auth.create_token(call.registry, name=call.visitor.account.name, label=label)
    return Result({"user": {"name": call.visitor.account.name, "role": call.visitor.role.label,
                            "may": auth.ROLE_SUMMARY[call.visitor.role]}, "new_token": token, "label": label},
                  "account.html", status=201)


def users(call: Call) -> Result:
    return Result({"users": auth.list_users(call.registry), "roles": ["contributor", "reviewer", "admin"]},
                  "users.html")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)
    role: str = Field(pattern=r"^(contributor|reviewer|admin)$")
    password: str = Field(min_length=auth.MIN_PASSWORD, max_length=1024)


def add_user(call: Call) -> Result:
    form = UserIn.model_validate(call.body)
    added = auth.add_user(call.registry, name=form.name, role=form.role, password=form.password)
    return Result({"user": {"name": added.name, "role": added.role.label}}, status=201, redirect="/admin/users")


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    role: str | None = Field(None, pattern=r"^(contributor|reviewer|admin)$")
    disabled: bool | None = None


def change_user(call: Call) -> Result:
    name = call.path["name"]
    form = RoleIn.model_validate(call.body)
    if form.role is None and form.disabled is None:
        raise ValueError("give a role or disabled: true/false")
    if form.role is not None:
        auth.set_role(call.registry, name=name, role=form.role)
    if form.disabled is not None:
        auth.set_disabled(call.registry, name=name, disabled=form.disabled)
    return Result({"user": name, "role": form.role, "disabled": form.disabled}, redirect="/admin/users")
