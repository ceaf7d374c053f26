"""Accounts, roles and who is asking: argon2 password hashes, server-side sessions behind a signed
cookie, bearer tokens for scripts.

Roles are ordered — anonymous < contributor < reviewer < admin — and each action names the least
role allowed to do it (:data:`PERMISSIONS`). Every write is checked here, on the server, whatever a
page showed. A session cookie or a bearer token is a random secret; the database keeps only its
sha256, so a copy of the database opens no session.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from corpus_registry.errors import CorpusRegistryError, NotFoundError
from corpus_registry.registry.browse import iso
from corpus_registry.registry.db.models import utcnow
from corpus_registry.registry.registry import Registry
from corpus_registry.web.models import ApiToken, User, WebSession


class Role(enum.IntEnum):
    ANONYMOUS = 0
    CONTRIBUTOR = 1
    REVIEWER = 2
    ADMIN = 3

    @classmethod
    def named(cls, name: str) -> Role:
        try:
            role = cls[name.upper()]
        except KeyError:
            role = None
        if role is None or role is Role.ANONYMOUS:
            raise CorpusRegistryError(f"unknown role {name!r}", hint="use contributor, reviewer or admin")
        return role

    @property
    def label(self) -> str:
        return self.name.lower()


#: The least role allowed to do each action.
PERMISSIONS: dict[str, Role] = {
    "public": Role.ANONYMOUS,  # signing in and out
    "read": Role.ANONYMOUS,  # raised to contributor when anonymous reading is turned off
    "takedown.file": Role.ANONYMOUS,
    "propose": Role.CONTRIBUTOR,
    "account": Role.CONTRIBUTOR,
    "review": Role.REVIEWER,
    "users.manage": Role.ADMIN,
}

#: What each role may do, in words (README and the account page show it).
ROLE_SUMMARY = {
    Role.ANONYMOUS: "browse and search (unless anonymous reading is off), file a takedown request",
    Role.CONTRIBUTOR: "the above, plus propose a source or a per-document licence correction, with evidence; "
                      "create API tokens",
    Role.REVIEWER: "the above, plus see the review queue, accept or reject proposals and takedown requests, "
                   "clear or reject documents and sources under review, withdraw documents and sources",
    Role.ADMIN: "the above, plus add users, change their roles, disable them",
}

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
SESSION_DAYS = 14
_hasher = PasswordHasher()
#: Verified against when the user does not exist, so that a wrong name costs what a wrong password does.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    role: Role


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise CorpusRegistryError(f"the password is too short ({len(password)} characters)",
                                  hint=f"use at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise CorpusRegistryError("the password is longer than 1024 characters")


def add_user(registry: Registry, *, name: str, role: str, password: str) -> Account:
    """Create an account; its password is stored as an argon2id hash."""
    if not NAME.match(name or ""):
        raise CorpusRegistryError(f"invalid user name {name!r}",
                                  hint="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    the_role = Role.named(role)
    _check_password(password)
    with registry.session() as s:
        if s.scalar(select(User.id).where(User.name == name)) is not None:
            raise CorpusRegistryError(f"user {name!r} already exists",
                                      hint="choose another name, or `users set-role` to change a role")
        user = User(name=name, role=the_role.label, password_hash=_hasher.hash(password), disabled=False)
        s.add(user)
        s.flush()
        return Account(user.id, user.name, the_role)


def _user(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFoundError(f"no user {name!r}", hint="run `corpus-registry users list`")
    return user


def _keep_an_admin(s: Session, user: User) -> None:
    """Refuse to leave the registry without an enabled admin."""
    others = s.scalar(select(func.count()).where(User.role == Role.ADMIN.label, User.disabled.is_(False),
                                                 User.id != user.id))
    if user.role == Role.ADMIN.label and not user.disabled and not others:
        raise CorpusRegistryError(f"{user.name} is the only admin", hint="make another admin first")


def set_role(registry: Registry, *, name: str, role: str) -> Account:
    the_role = Role.named(role)
    with registry.session() as s:
        user = _user(s, name)
        if the_role is not Role.ADMIN:
            _keep_an_admin(s, user)
        user.role = the_role.label
        return Account(user.id, user.name, the_role)


def set_disabled(registry: Registry, *, name: str, disabled: bool = True) -> None:
    """Disable (or re-enable) an account; a disabled account's sessions and tokens stop working at once."""
    with registry.session() as s:
        user = _user(s, name)
        if disabled:
            _keep_an_admin(s, user)
        user.disabled = disabled
        if disabled:
            s.execute(delete(WebSession).where(WebSession.user_id == user.id))


def set_password(registry: Registry, *, name: str, password: str) -> None:
    _check_password(password)
    with registry.session() as s:
        user = _user(s, name)
        user.password_hash = _hasher.hash(password)
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))


@dataclass(frozen=True, slots=True)
class UserRow:
    name: str
    role: str
    disabled: bool
    created: str
    last_login: str | None


def list_users(registry: Registry) -> list[UserRow]:
    with registry.session() as s:
        return [UserRow(u.name, u.role, u.disabled, iso(u.created_at) or "", iso(u.last_login_at))
                for u in s.scalars(select(User).order_by(User.name))]


def authenticate(registry: Registry, *, name: str, password: str) -> Account | None:
    """The account if ``password`` is right and the account enabled; None otherwise (same cost)."""
    with registry.session() as s:
        user = s.scalar(select(User).where(User.name == name)) if NAME.match(name or "") else None
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password[:1024])
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.last_login_at = utcnow()
        return Account(user.id, user.name, Role.named(user.role))


def open_session(registry: Registry, account: Account) -> str:
    """A new session for ``account``; returns its token (the cookie's content, signed by the caller)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with registry.session() as s:
        s.execute(delete(WebSession).where(WebSession.expires_at < now))
        s.add(WebSession(token_sha256=sha256(token), user_id=account.id, csrf=secrets.token_urlsafe(24),
                         created_at=now, expires_at=now + dt.timedelta(days=SESSION_DAYS)))
    return token


def session_account(registry: Registry, token: str) -> tuple[Account, str] | None:
    """The account and CSRF secret of a live session, or None."""
    with registry.session() as s:
        row = s.execute(select(User.id, User.name, User.role, User.disabled, WebSession.csrf, WebSession.expires_at)
                        .join(WebSession, WebSession.user_id == User.id)
                        .where(WebSession.token_sha256 == sha256(token))).first()
    if row is None or row.disabled or row.expires_at < utcnow():
        return None
    return Account(row.id, row.name, Role.named(row.role)), row.csrf


def close_session(registry: Registry, token: str) -> None:
    with registry.session() as s:
        s.execute(delete(WebSession).where(WebSession.token_sha256 == sha256(token)))


def create_token(registry: Registry, *, name: str, label: str = "api") -> str:
    """A new bearer token for ``name`` (shown once; only its sha256 is kept)."""
    token = "crt_" + secrets.token_urlsafe(32)
    with registry.session() as s:
        user = _user(s, name)
        s.add(ApiToken(token_sha256=sha256(token), user_id=user.id, label=label[:128] or "api", revoked=False))
    return token


def revoke_tokens(registry: Registry, *, name: str) -> int:
    with registry.session() as s:
        user = _user(s, name)
        result = s.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
                           .values(revoked=True))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def token_account(registry: Registry, token: str) -> Account | None:
    with registry.session() as s:
        row = s.execute(select(User.id, User.name, User.role, User.disabled)
                        .join(ApiToken, ApiToken.user_id == User.id)
                        .where(ApiToken.token_sha256 == sha256(token), ApiToken.revoked.is_(False))).first()
    if row is None or row.disabled:
        return None
    return Account(row.id, row.name, Role.named(row.role))
