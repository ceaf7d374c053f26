"""``audit`` and ``withdraw``."""

from __future__ import annotations

from pathlib import Path

import click

from corpus_registry.audit.auditor import audit as audit_api
from corpus_registry.audit.policy import load_policy
from corpus_registry.audit.report import render_html, render_json, render_text, verdict, write_attribution
from corpus_registry.cli import (
    EXIT_VIOLATIONS,
    AppContext,
    cli,
    echo_json,
    executor_options,
    json_option,
    pass_app,
    say,
)
from corpus_registry.outputs import check_file, write_file
from corpus_registry.registry.withdraw import withdraw as withdraw_api

AUDIT_EXIT = ("Exit status: 0 clean (warnings allowed); 1 violations found (the policy is violated, or the "
              "release's files, rows and manifest disagree); 2 could not run (a target missing or unreadable, the "
              "registry or the Hub unreachable, a bad policy or output path).")


@cli.command(epilog=AUDIT_EXIT)
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("--hub", "hub_repo", metavar="OWNER/NAME", help="Audit a Hub dataset repo (same as hf://datasets/OWNER/NAME).")
@click.option("--revision", metavar="TAG", help="Hub revision to audit: a tag (release version), branch or commit.")
@click.option("--endpoint", envvar="HF_ENDPOINT", help="Hub URL [env HF_ENDPOINT; default https://huggingface.co].")
@click.option("--token", envvar="HF_TOKEN", help="Hub token for private repos [env HF_TOKEN].")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Policy YAML narrowing the default (every open tier), e.g. specs/policy-public-domain-only.yaml.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="Report format: text for terminals, json for machines, html for people.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of standard output.")
@click.option("--attribution", "attribution_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the attribution list of the audited documents to FILE (ATTRIBUTION.md format).")
@click.option("--max-problems", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Problems of each kind kept in the report (all are counted).")
@click.option("--license-field", metavar="PATH",
              help="The field holding each row's licence label, a dotted path into nested records "
                   "(e.g. metadata.license). Default: a license/licence column, else dolma's metadata.license. "
                   "A row without a label there is a problem (missing_licence_label).")
@click.option("--tokenizer", metavar="PATH|ID",
              help="Recount each row's token_count with this tokenizer.json (a path, or a Hub id in the local "
                   "cache); default: the tokenizer a release's manifest names, when it is found here with the "
                   "same sha256. A count that differs is a problem (token_count_mismatch).")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
@executor_options
@pass_app
def audit(app: AppContext, targets: tuple[str, ...], hub_repo: str | None, revision: str | None,
          endpoint: str | None, token: str | None, policy_path: Path | None, fmt: str, output: Path | None,
          attribution_path: Path | None, max_problems: int, license_field: str | None, tokenizer: str | None,
          no_progress: bool, workers: int, executor: str, ray_address: str | None) -> None:
    """Check a dataset's licensing provenance document by document against the registry.

    TARGET is a release folder, Parquet/JSONL files (or a folder or glob of them) or a Hub
    dataset (hf://datasets/OWNER/NAME, or --hub OWNER/NAME, with --revision TAG). Every row is
    matched by the sha256 of its text; altered texts, licence laundering, licences outside the
    policy (the label a row carries and the licence the registry's decisions give it: the stricter
    wins), withdrawn documents or texts, missing attribution and unknown documents are reported by
    name, with the declared and registered licence mix side by side. A release folder is also
    checked against its manifest: a missing, extra or modified shard, a row count that differs, a
    duplicated row, a missing manifest are violations. Exits 0 when the dataset is clean, 1 when it
    is not (so it can gate CI), 2 when it could not be audited.
    Small targets (under about 100,000 rows) are checked in this process whatever --workers says.
    """
    if hub_repo:
        if targets:
            raise click.UsageError("give either TARGET or --hub, not both")
        targets = (f"hf://datasets/{hub_repo}",)
    if not targets:
        raise click.UsageError("name a TARGET (release folder, Parquet/JSONL files, hf://datasets/OWNER/NAME) "
                               "or --hub OWNER/NAME")
    from corpus_registry.executors import get_executor

    outputs = [p for p in (output, attribution_path) if p is not None]
    if len(outputs) == 2 and output.resolve() == attribution_path.resolve():  # type: ignore[union-attr]
        raise click.UsageError("--output and --attribution name the same file")
    for path in outputs:  # before the work: an unwritable path fails now, not after the audit
        check_file(path, what="report" if path is output else "attribution list")
    policy = load_policy(policy_path) if policy_path else None
    registry = app.registry()
    ex = get_executor(executor, workers=workers, ray_address=ray_address)
    try:
        report = audit_api(registry, list(targets), policy=policy, revision=revision, progress=not no_progress,
                           endpoint=endpoint, token=token, max_problems=max_problems,
                           collect_attribution=attribution_path is not None, executor=ex,
                           license_field=license_field, tokenizer=tokenizer)
    finally:
        ex.close()
    rendered = {"text": render_text, "json": render_json, "html": render_html}[fmt](report)
    if output is not None:
        write_file(output, rendered)
        say(f"{fmt} report written to {output}", err=True)
    else:
        say(rendered, nl=False)
    if attribution_path is not None:
        n = write_attribution(report, attribution_path)
        say(f"attribution list of {n} documents written to {attribution_path}", err=True)
    if output is not None or fmt != "text":
        say(verdict(report), err=True)
    if not report.ok:
        click.get_current_context().exit(EXIT_VIOLATIONS)


@cli.command()
@click.argument("ref", metavar="[IDENTIFIER]", required=False)
@click.option("--source", metavar="SLUG", help="Withdraw every document of this source (and the source).")
@click.option("--reason", required=True, help="Why (a takedown request, a licence found wrong...); recorded.")
@click.option("--only-this", is_flag=True,
              help="Withdraw only this identifier: leave other copies of its text and its near-duplicates.")
@click.option("--evidence", metavar="URL", help="A link to the request or proof (http/https); recorded.")
@click.option("--by", metavar="NAME", help="Who decides [env CORPUS_REGISTRY_REVIEWER; default: your login name].")
@json_option
@pass_app
def withdraw(app: AppContext, ref: str | None, source: str | None, reason: str, only_this: bool,
             evidence: str | None, by: str | None, as_json: bool) -> None:
    """Withdraw a document (IDENTIFIER, SOURCE/IDENTIFIER or sha256 prefix) or a --source.

    The withdrawal follows the text: every registered document with the same text, and every
    document a recorded build found to be its (near-)duplicate, is withdrawn too and listed
    (--only-this to opt out); so is any copy registered later. Every built or pushed release
    that contains the text is printed. Withdrawn documents are left out of every future build,
    and audits flag their text under any identifier. Withdrawing again is harmless.
    """
    if (ref is None) == (source is None):
        raise click.UsageError("give either IDENTIFIER or --source SLUG")
    if not reason.strip():
        raise click.UsageError("--reason must say why")
    result = withdraw_api(app.registry(), ref=ref, source=source, reason=reason, only_this=only_this,
                          by=by, evidence=evidence)
    if as_json:
        echo_json(result.as_dict())
        return
    n = result.count
    say(f"Withdrew {result.target}: {n} document{'s' if n != 1 else ''}, "
        f"{result.texts} text{'s' if result.texts != 1 else ''} ({reason})")
    for c in result.documents:
        if c.why != "named":
            say(f"  + {c.key}: {c.why}")
    if result.releases:
        say("Releases that contain the withdrawn text (carry the takedown to them):")
        for r in result.releases:
            where = (f"pushed to {r.hub_repo} at tag {r.hub_tag}" if r.pushed else
                     f"built in {r.out_dir}, not pushed")
            say(f"  {r.name} {r.version}: {where} ({len(r.documents)} document"
                f"{'s' if len(r.documents) != 1 else ''})")
