"""``serve`` (the registry on the web) and ``users`` (its accounts)."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

import click

from corpus_registry.cli import AppContext, cli, echo_json, json_option, pass_app, say


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; put TLS in front of it).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes (they share sessions, rate limits and the registry).")
@click.option("--anonymous-read/--no-anonymous-read", default=True, show_default=True,
              help="Let visitors who are not signed in browse and search (a takedown can always be filed).")
@click.option("--secure-cookies", is_flag=True,
              help="Mark cookies Secure even over plain HTTP (when a TLS proxy sits in front).")
@click.option("--catalogue-dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Relative reader paths of accepted source proposals start here.")
@click.option("--forwarded-allow-ips", metavar="IPS", default=None,
              help="Trust X-Forwarded-For/-Proto from these proxy addresses (client addresses for rate limits).")
@pass_app
def serve(app: AppContext, host: str, port: int, workers: int, anonymous_read: bool, secure_cookies: bool,
          catalogue_dir: Path, forwarded_allow_ips: str | None) -> None:
    """Serve the registry on the web: browse, search, contribute, review, takedown.

    Pages work without JavaScript; every page has a JSON twin under /api/. Create the first
    account with `corpus-registry users add NAME --role admin`. Stop with Ctrl-C.
    """
    import uvicorn

    from corpus_registry.web import auth
    from corpus_registry.web.app import ENV_SETTINGS

    registry = app.registry()  # fails here, with a hint, if the registry is missing or outdated
    users = auth.list_users(registry)
    os.environ.update({
        "CORPUS_REGISTRY_DB": registry.url,
        ENV_SETTINGS["anonymous_read"]: "1" if anonymous_read else "0",
        ENV_SETTINGS["secure_cookies"]: "1" if secure_cookies else "0",
        ENV_SETTINGS["catalogue_dir"]: str(catalogue_dir.resolve()),
    })
    say(f"Serving {registry.display_url} at http://{host}:{port}/ "
               f"(anonymous reading {'on' if anonymous_read else 'off'}, {workers} worker{'s' * (workers > 1)})")
    if not any(u.role == "admin" and not u.disabled for u in users):
        say("No admin account yet: `corpus-registry users add NAME --role admin`.", err=True)
    uvicorn.run("corpus_registry.web.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, proxy_headers=forwarded_allow_ips is not None,
                forwarded_allow_ips=forwarded_allow_ips, server_header=False)


@cli.group()
def users() -> None:
    """Accounts of the web application: add, list, change roles, disable, API tokens."""


def _password(stdin: bool) -> str:
    if stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["contributor", "reviewer", "admin"]), required=True,
              help="contributor: propose; reviewer: also decide; admin: also manage users.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_app
def users_add(app: AppContext, name: str, role: str, password_stdin: bool) -> None:
    """Add an account NAME with a role; the password (asked twice, or --password-stdin) is stored
    as an argon2id hash."""
    from corpus_registry.web import auth

    registry = app.registry()
    account = auth.add_user(registry, name=name, role=role, password=_password(password_stdin))
    say(f"Added {account.name} ({account.role.label}).")


@users.command("list")
@json_option
@pass_app
def users_list(app: AppContext, as_json: bool) -> None:
    """List accounts with their role and state."""
    from corpus_registry.web import auth

    rows = auth.list_users(app.registry())
    if as_json:
        echo_json([asdict(r) for r in rows])
        return
    if not rows:
        say("No accounts yet: `corpus-registry users add NAME --role admin`.")
    for r in rows:
        say(f"{r.name:<24} {r.role:<12} {'disabled' if r.disabled else 'enabled':<9} "
                   f"last login {r.last_login or 'never'}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["contributor", "reviewer", "admin"]))
@pass_app
def users_set_role(app: AppContext, name: str, role: str) -> None:
    """Change NAME's role (takes effect on the next request; the last admin cannot be demoted)."""
    from corpus_registry.web import auth

    auth.set_role(app.registry(), name=name, role=role)
    say(f"{name} is now {role}.")


@users.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Re-enable the account instead.")
@pass_app
def users_disable(app: AppContext, name: str, enable: bool) -> None:
    """Disable NAME: its sessions end and its API tokens stop working at once."""
    from corpus_registry.web import auth

    auth.set_disabled(app.registry(), name=name, disabled=not enable)
    say(f"{name} is {'enabled' if enable else 'disabled'}.")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_app
def users_password(app: AppContext, name: str, password_stdin: bool) -> None:
    """Set NAME's password (its sessions end)."""
    from corpus_registry.web import auth

    auth.set_password(app.registry(), name=name, password=_password(password_stdin))
    say(f"Password of {name} changed.")


@users.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="What the token is for (shown nowhere else).")
@click.option("--revoke-all", is_flag=True, help="Revoke every token of NAME instead of making one.")
@pass_app
def users_token(app: AppContext, name: str, label: str, revoke_all: bool) -> None:
    """Print a new API token for NAME (send it as `Authorization: Bearer TOKEN` to /api/)."""
    from corpus_registry.web import auth

    registry = app.registry()
    if revoke_all:
        say(f"Revoked {auth.revoke_tokens(registry, name=name)} token(s) of {name}.")
        return
    say(auth.create_token(registry, name=name, label=label))
