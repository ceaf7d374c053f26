"""``review list``, ``review clear`` and ``review reject``: licence decisions made by a person."""

from __future__ import annotations

import click

from corpus_registry.cli import AppContext, cli, echo_json, json_option, pass_app, say
from corpus_registry.registry import decisions
from corpus_registry.registry.decisions import DecisionRecord
from corpus_registry.registry.lookup import find_document


@cli.group()
def review() -> None:
    """What waits on a person's licence decision, and the decisions themselves (recorded for good).

    Who decides is --by NAME, else $CORPUS_REGISTRY_REVIEWER, else your login name.
    """


@review.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most this many items.")
@json_option
@pass_app
def list_(app: AppContext, limit: int | None, as_json: bool) -> None:
    """Sources and documents held for review, and why (sources first)."""
    items = decisions.review_queue(app.registry(), limit=limit)
    if as_json:
        echo_json([i.as_dict() for i in items])
        return
    if not items:
        say("Nothing waits on a review.")
        return
    w = max(len(i.id) for i in items)
    say(f"{'ID':<{w}}  {'LICENCE':<20} WHY")
    for i in items:
        why = i.reason + (f" (label as written: {i.label!r})" if i.label else "")
        if i.identifier is None:
            why += f" [{i.documents} document{'s' if i.documents != 1 else ''} wait on it; --source {i.source}]"
        say(f"{i.id:<{w}}  {i.license:<20} {why}")
    say("\nDecide with `corpus-registry review clear ID --reason … --evidence URL` or `review reject ID`.")


def _subject(app: AppContext, ref: str | None, source: str | None) -> tuple[str, str | None]:
    if (ref is None) == (source is None):
        raise click.UsageError("give either ID (IDENTIFIER, SOURCE/IDENTIFIER or sha256 prefix) or --source SLUG")
    if source is not None:
        return source, None
    doc = find_document(app.registry(), ref or "")
    return doc.source.slug, doc.identifier


def _decision_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--by", metavar="NAME",
                     help="Who decides [env CORPUS_REGISTRY_REVIEWER; default: your login name].")(f)
    f = click.option("--evidence", metavar="URL", help="A link to what shows the licence (http/https).")(f)
    f = click.option("--reason", required=True, help="Why: recorded for good and shown by `show`.")(f)
    f = click.option("--source", metavar="SLUG", help="Decide about this source instead of a document.")(f)
    return click.argument("ref", metavar="[ID]", required=False)(f)


def _print(record: DecisionRecord, as_json: bool) -> None:
    if as_json:
        echo_json(record.as_dict())
    else:
        say(f"Recorded decision {record.id}: {record.summary()}")


@review.command("clear")
@_decision_options
@click.option("--license", "license_", metavar="SPDX",
              help="The licence the evidence shows, if not the one registered (any spelling: CC BY 4.0, a CC URL…).")
@json_option
@pass_app
def clear(app: AppContext, ref: str | None, source: str | None, reason: str, evidence: str | None, by: str | None,
          license_: str | None, as_json: bool) -> None:
    """Clear ID (a document, or --source SLUG) held for review: it may enter releases again."""
    slug, identifier = _subject(app, ref, source)
    _print(decisions.clear(app.registry(), source=slug, identifier=identifier, license=license_, reason=reason,
                           evidence=evidence, by=by), as_json)


@review.command("reject")
@_decision_options
@json_option
@pass_app
def reject(app: AppContext, ref: str | None, source: str | None, reason: str, evidence: str | None, by: str | None,
           as_json: bool) -> None:
    """Reject ID (a document, or --source SLUG): it never enters a release until a later decision."""
    slug, identifier = _subject(app, ref, source)
    _print(decisions.reject(app.registry(), source=slug, identifier=identifier, reason=reason, evidence=evidence,
                            by=by), as_json)
