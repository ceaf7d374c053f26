"""What an audit reports (:class:`AuditReport`, its :class:`Problem` kinds) and how it is rendered:
terminal text, JSON, a self-contained HTML page (inline CSS, the licence mix as inline SVG, every
problem anchored per document) and the attribution list of the audited documents.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from corpus_registry.build.card import render_attribution
from corpus_registry.outputs import write_file
from corpus_registry.terminal import one_line

ERROR, WARNING = "error", "warning"
#: Every problem an audit can name, with its severity and a one-line explanation.
KINDS: dict[str, tuple[str, str]] = {
    "text_altered": (ERROR, "text differs from the registered text of the document"),
    "licence_laundering": (ERROR, "licence label more permissive than the registry's licence"),
    "invalid_licence": (ERROR, "licence label is not a licence the normaliser knows (SPDX, Creative Commons, …)"),
    "missing_licence_label": (ERROR, "the dataset keeps licence labels in a field, but this row has none"),
    "policy_violation": (ERROR, "licence not allowed by the policy"),
    "withdrawn": (ERROR, "document withdrawn (taken down) from the registry"),
    "missing_attribution": (ERROR, "licence requires attribution but the attribution file omits it"),
    "no_attribution_file": (ERROR, "documents require attribution but the dataset has no attribution file"),
    "unknown_document": (ERROR, "text not in the registry"),
    "card_licence_laundering": (ERROR, "the card declares a licence more permissive than the rows carry"),
    "duplicate_row": (ERROR, "a row appears twice (the same source and identifier, or the same text)"),
    "manifest_missing": (ERROR, "a release folder without manifest.json (an interrupted build, or files lost)"),
    "manifest_invalid": (ERROR, "manifest.json cannot be read as a release manifest"),
    "shard_missing": (ERROR, "a shard listed in the manifest is missing"),
    "shard_extra": (ERROR, "a data file the manifest does not list"),
    "shard_modified": (ERROR, "a shard differs from the manifest's sha256"),
    "shard_unreadable": (ERROR, "a shard of the release cannot be read (damaged or truncated)"),
    "shards_incomplete": (ERROR, "numbered shards (…-0000N-of-0000M) with some missing"),
    "file_modified": (ERROR, "the card, attribution file or another listed file differs from the manifest"),
    "row_count_mismatch": (ERROR, "a shard, or the release, holds another number of rows than the manifest says"),
    "manifest_mismatch": (ERROR, "the manifest's licence mix differs from what the rows carry"),
    "release_record_mismatch": (ERROR, "the manifest is not the one the registry recorded for this release"),
    "token_count_mismatch": (ERROR, "the row's token_count is not what the release's tokenizer gives for its text"),
    "card_licence_mismatch": (WARNING, "the card's declared licence differs from what the rows carry"),
    "licence_mismatch": (WARNING, "licence label differs from the registry's (not more permissive)"),
    "outdated_version": (WARNING, "text is an older version of the document"),
    "sha256_mismatch": (WARNING, "the row's sha256 column does not match its text"),
    "release_unknown": (WARNING, "the registry has no record of the release the manifest names"),
    "file_extra": (WARNING, "a file in the release folder that the manifest does not list (not a data file)"),
    "token_count_unchecked": (WARNING, "the manifest names a tokenizer that is not available here: token "
                                       "counts were not checked"),
}


@dataclass(slots=True)
class Problem:
    """One finding, tied to a document (``source``/``identifier``) or to the dataset as a whole."""

    kind: str
    severity: str
    message: str
    where: str | None = None
    source: str | None = None
    identifier: str | None = None
    sha256: str | None = None
    license: str | None = None
    registry_license: str | None = None
    anchor: str = ""


@dataclass
class AuditReport:
    """Everything an audit found; ``ok`` is False when a problem of ``error`` severity exists."""

    target: str
    kind: str
    files: list[str]
    policy: dict[str, Any]
    revision: str | None = None
    commit: str | None = None
    rows: int = 0
    known: int = 0
    unknown: int = 0
    license_mix: list[dict[str, Any]] = field(default_factory=list)  # as the registry has the rows today
    declared_mix: list[dict[str, Any]] = field(default_factory=list)  # as the rows' own labels say
    license_pairs: list[dict[str, Any]] = field(default_factory=list)  # declared beside registered, per pair
    by_tier: dict[str, dict[str, int]] = field(default_factory=dict)
    by_language: dict[str, dict[str, int]] = field(default_factory=dict)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    unknown_by_license: dict[str, dict[str, int]] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    attribution: dict[str, Any] = field(default_factory=dict)
    problem_counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    attribution_entries: list[dict[str, Any]] | None = None
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(n for k, n in self.problem_counts.items() if severity(k, self.policy) == ERROR)

    @property
    def warnings(self) -> int:
        return sum(self.problem_counts.values()) - self.errors

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("attribution_entries")
        data.update(ok=self.ok, errors=self.errors, warnings=self.warnings,
                    rows_per_s=round(self.rows_per_s, 1), seconds=round(self.seconds, 3),
                    problems_shown=len(self.problems))
        return data


def severity(kind: str, policy: dict[str, Any]) -> str:
    if kind == "unknown_document" and policy.get("allow_unknown_documents"):
        return WARNING
    if kind in ("missing_attribution", "no_attribution_file") and not policy.get("require_attribution", True):
        return WARNING
    return KINDS[kind][0]



TIER_COLOURS = {
    "public_domain": "#2e7d32", "attribution": "#1565c0", "share_alike": "#6a1b9a",
    "review": "#ef6c00", "rejected": "#c62828", "unlabelled": "#757575", "invalid": "#424242",
}
TEXT_PROBLEMS_PER_KIND = 10


def render_json(report: AuditReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def verdict(report: AuditReport) -> str:
    if report.ok:
        return f"PASS: no policy violation ({report.warnings} warnings)" if report.warnings else "PASS: clean"
    return f"FAIL: {report.errors} errors, {report.warnings} warnings"


def render_text(report: AuditReport) -> str:
    r = report
    rev = f" @ {r.revision}" if r.revision else ""
    lines = [
        f"Audit of {r.target}{rev} ({r.kind}, {len(r.files)} files) against policy {r.policy['name']}",
        (f"  {r.rows:,} rows: {r.known:,} registered, {r.unknown:,} unknown to the registry "
         f"({r.seconds:.1f} s, {r.rows_per_s:,.0f} rows/s)"),
        "",
        "Licence mix (the licence each row declares, beside the one the registry gives it today):",
    ]
    if r.license_pairs:
        d = max(len("DECLARED BY THE ROW"), *(len(m["declared"]) for m in r.license_pairs))
        g = max(len("REGISTERED"), *(len(m["registered"]) for m in r.license_pairs))
        lines.append(f"  {'DECLARED BY THE ROW':<{d}}  {'TIER':<13} {'REGISTERED':<{g}}  {'TIER':<13} "
                     f"{'DOCS':>8} {'WORDS':>12}")
        for m in r.license_pairs:
            lines.append(f"  {m['declared']:<{d}}  {m['declared_tier']:<13} {m['registered']:<{g}}  "
                         f"{m['registered_tier']:<13} {m['documents']:>8,} {m['words']:>12,}")
    for title, table in (("tier", r.by_tier), ("language", r.by_language), ("source", r.by_source)):
        lines.append(f"By {title}: " + ", ".join(f"{k} {v['documents']:,}" for k, v in table.items()))
    card = r.card
    if card.get("file"):
        lines.append(f"Card declares: {', '.join(card.get('declared') or ['(no licence)'])}; "
                     f"rows carry: {', '.join(card.get('carried') or [])} "
                     f"(Hub ids: {', '.join(card.get('carried_hub_ids') or [])})")
    a = r.attribution
    lines.append(f"Attribution: {a.get('required', 0):,} documents require credit, "
                 f"{a.get('credited', 0):,} credited in {a.get('file') or '(no attribution file)'}")
    lines.append("")
    if r.problem_counts:
        lines.append(f"Problems: {r.errors} errors, {r.warnings} warnings")
        for kind, n in _ordered_counts(r):
            shown = [p for p in r.problems if p.kind == kind]
            sev = shown[0].severity if shown else KINDS[kind][0]
            lines.append(f"  {kind} ({sev}, {n:,}): {KINDS[kind][1]}")
            for p in shown[:TEXT_PROBLEMS_PER_KIND]:
                lines.append(f"    {_doc_label(p)}{' at ' + p.where if p.where else ''}: {p.message}")
            if n > TEXT_PROBLEMS_PER_KIND:
                lines.append(f"    … and {n - TEXT_PROBLEMS_PER_KIND:,} more (--format json or html lists them)")
    lines.append(verdict(r))
    return "\n".join(map(one_line, lines)) + "\n"  # values quoted from the data stay on their line


def _ordered_counts(r: AuditReport) -> list[tuple[str, int]]:
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(r.problem_counts.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))


def _doc_label(p: Problem) -> str:
    if p.identifier:
        return f"{p.source}/{p.identifier}" if p.source else p.identifier
    return "dataset" if not p.where else "row"


def write_attribution(report: AuditReport, path: Path) -> int:
    """Write the attribution list (ATTRIBUTION.md format) of the audited documents; return its size."""
    entries = report.attribution_entries or []
    seen: set[tuple[str, str]] = set()
    unique = []
    for e in entries:
        key = (e["source"], e["identifier"])
        if key not in seen:
            seen.add(key)
            unique.append(e)
    write_file(Path(path), render_attribution(unique))
    return len(unique)


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;font-weight:600;color:#fff}
.pass{background:#2e7d32}.fail{background:#c62828}
.stats{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.stat{background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:10px 14px;min-width:110px}
.stat b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 12px;font-size:14px}
th,td{border:1px solid #e0e0e0;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.error td.sev{color:#c62828;font-weight:600}tr.warning td.sev{color:#ef6c00;font-weight:600}
tr:target{outline:3px solid #fbc02d;background:#fffde7}
code{font:13px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
a.self{color:#999;text-decoration:none;margin-left:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:16px}
.grid h3{font-size:16px;margin:8px 0 4px}.scroll{max-height:360px;overflow:auto}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
"""


def render_html(report: AuditReport) -> str:
    r = report
    ok = r.ok
    rev = f" @ {escape(r.revision)}" if r.revision else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Licensing audit — {escape(r.target)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        (f"<h1>Licensing audit</h1><p class=\"sub\"><code>{escape(r.target)}</code>{rev} "
         f"({escape(r.kind)}, {len(r.files)} files{', commit ' + escape(r.commit[:12]) if r.commit else ''}) "
         f"against policy <b>{escape(r.policy['name'])}</b></p>"),
        f'<div id="verdict" class="verdict {"pass" if ok else "fail"}">{escape(verdict(r))}</div>',
        '<div class="stats">',
    ]
    for label, value in (("rows", r.rows), ("registered", r.known), ("unknown", r.unknown),
                         ("errors", r.errors), ("warnings", r.warnings),
                         ("need attribution", r.attribution.get("required", 0))):
        parts.append(f'<div class="stat"><b>{value:,}</b>{escape(label)}</div>')
    parts.append(f'<div class="stat"><b>{r.rows_per_s:,.0f}</b>rows/s</div></div>')

    parts.append('<h2 id="licence-mix">Licence mix, as the registry has the rows today</h2>')
    parts.append(licence_mix_svg(r.license_mix))
    parts.append('<h3 id="declared-vs-registered">Declared by the rows, and registered</h3>')
    parts.append(_table(["declared by the row", "tier", "registered", "tier", "documents", "words"],
                        [[m["declared"], _tier_cell(m["declared_tier"]), m["registered"],
                          _tier_cell(m["registered_tier"]), m["documents"], m["words"]] for m in r.license_pairs],
                        raw_cols={1, 3}))
    card, a = r.card, r.attribution
    parts.append('<h2 id="declarations">Card and attribution</h2><ul>')
    if card.get("file"):
        parts.append(f"<li>Card <code>{escape(card['file'])}</code> declares "
                     f"<b>{escape(', '.join(card.get('declared') or ['no licence']))}</b>; rows carry "
                     f"<b>{escape(', '.join(card.get('carried') or []))}</b> "
                     f"(Hub ids: {escape(', '.join(card.get('carried_hub_ids') or []))}).</li>")
    else:
        parts.append("<li>No dataset card found.</li>")
    parts.append(f"<li>{a.get('required', 0):,} documents require attribution; {a.get('credited', 0):,} are "
                 f"credited in <code>{escape(a.get('file') or 'no attribution file')}</code>.</li></ul>")

    parts.append(f'<h2 id="problems">Problems ({r.errors:,} errors, {r.warnings:,} warnings)</h2>')
    if not r.problem_counts:
        parts.append('<p id="no-problems">No problem found: every row is registered, unaltered, '
                     'allowed by the policy and credited where required.</p>')
    else:
        parts.append(_table(["kind", "severity", "count", "meaning"], [
            [f'<a href="#kind-{escape(k)}">{escape(k)}</a>', _sev(k, r), n, KINDS[k][1]]
            for k, n in _ordered_counts(r)], raw_cols={0, 1}))
        if len(r.problems) < sum(r.problem_counts.values()):
            parts.append(f"<p>Showing {len(r.problems):,} of {sum(r.problem_counts.values()):,} problems "
                         "(the first ones of each kind).</p>")
        parts.append('<table id="problem-list"><thead><tr><th>kind</th><th>severity</th><th>document</th>'
                     "<th>where</th><th>row licence</th><th>registry licence</th><th>problem</th></tr>"
                     "</thead><tbody>")
        first_of_kind: set[str] = set()
        for p in sorted(r.problems, key=lambda p: (list(KINDS).index(p.kind), p.source or "", p.identifier or "")):
            kind_anchor = "" if p.kind in first_of_kind else f'<span id="kind-{escape(p.kind)}"></span>'
            first_of_kind.add(p.kind)
            parts.append(
                f'<tr id="{escape(p.anchor)}" class="problem {escape(p.severity)}" data-kind="{escape(p.kind)}">'
                f"<td>{kind_anchor}{escape(p.kind)}</td><td class=\"sev\">{escape(p.severity)}</td>"
                f"<td><code>{escape(_doc_label(p))}</code><a class=\"self\" href=\"#{escape(p.anchor)}\" "
                f"title=\"link to this problem\">¶</a></td>"
                f"<td><code>{escape(p.where or '')}</code></td><td>{escape(p.license or '')}</td>"
                f"<td>{escape(p.registry_license or '')}</td><td>{escape(p.message)}</td></tr>")
        parts.append("</tbody></table>")
    parts.append('<h2 id="breakdown">Documents and words by tier, language and source</h2><div class="grid">')
    for title, table in (("tier", r.by_tier), ("language", r.by_language), ("source", r.by_source),
                         ("licence of unknown documents", r.unknown_by_license)):
        if table:
            parts.append(f'<div><h3>By {escape(title)}</h3><div class="scroll">' + _table(
                [title.split()[0], "documents", "words"],
                [[k, v["documents"], v["words"]] for k, v in table.items()]) + "</div></div>")
    parts.append("</div>")

    parts.append("<h2>Policy</h2>" + _table(["setting", "value"], [
        [k, json.dumps(v, ensure_ascii=False)] for k, v in r.policy.items()]))
    parts.append("<h2>Files</h2><ul>" + "".join(f"<li><code>{escape(f)}</code></li>" for f in r.files) + "</ul>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _sev(kind: str, r: AuditReport) -> str:
    shown = next((p.severity for p in r.problems if p.kind == kind), KINDS[kind][0])
    return f'<span class="sev">{escape(shown)}</span>'


def _tier_cell(tier: str) -> str:
    colour = TIER_COLOURS.get(tier, "#9e9e9e")
    return f'<span class="swatch" style="background:{colour}"></span>{escape(tier)}'


def _table(head: list[str], rows: list[list[Any]], *, raw_cols: set[int] | None = None) -> str:
    raw_cols = raw_cols or set()
    out = ["<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            if isinstance(v, int):
                cells.append(f'<td class="n">{v:,}</td>')
            else:
                cells.append(f"<td>{v if i in raw_cols else escape(str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def licence_mix_svg(mix: list[dict[str, Any]]) -> str:
    """Horizontal bars per licence: share of documents and of words, coloured by tier."""
    if not mix:
        return '<svg id="licence-mix-chart" width="600" height="30" role="img" aria-label="no rows">' \
               '<text x="4" y="20">No rows.</text></svg>'
    docs = sum(m["documents"] for m in mix) or 1
    words = sum(m["words"] for m in mix) or 1
    label_w, bar_w, row_h, top = 260, 600, 34, 28
    height = top + row_h * len(mix) + 34
    width = label_w + bar_w + 80
    out = [
        (f'<svg id="licence-mix-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" role="img" aria-label="licence mix: documents and words per licence" '
         'style="background:#fff;border:1px solid #e0e0e0;border-radius:8px;max-width:100%">'),
        (f'<text x="{label_w}" y="18" font-size="12" fill="#555">share of documents (solid) and of words '
         '(light), per licence</text>'),
    ]
    for i, m in enumerate(mix):
        y = top + i * row_h
        colour = TIER_COLOURS.get(m["tier"], "#9e9e9e")
        dw = max(1.0, bar_w * m["documents"] / docs)
        ww = max(1.0, bar_w * m["words"] / words)
        name = escape(f"{m['license']} ({m['tier']})")
        out += [
            f'<g class="bar" data-licence="{escape(m["license"])}">',
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" font-size="13">{name}</text>',
            (f'<rect x="{label_w}" y="{y + 3}" width="{dw:.1f}" height="13" fill="{colour}">'
             f'<title>{name}: {m["documents"]:,} documents</title></rect>'),
            (f'<rect x="{label_w}" y="{y + 17}" width="{ww:.1f}" height="11" fill="{colour}" opacity="0.45">'
             f'<title>{name}: {m["words"]:,} words</title></rect>'),
            (f'<text x="{label_w + dw + 6}" y="{y + 14}" font-size="11" fill="#333">'
             f'{100 * m["documents"] / docs:.1f}% docs</text>'),
            (f'<text x="{label_w + ww + 6}" y="{y + 27}" font-size="11" fill="#777">'
             f'{100 * m["words"] / words:.1f}% words</text>'),
            "</g>",
        ]
    legend_y = top + row_h * len(mix) + 18
    x = label_w
    for tier in sorted({m["tier"] for m in mix}):
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{TIER_COLOURS.get(tier, "#9e9e9e")}"/>'
                   f'<text x="{x + 16}" y="{legend_y}" font-size="12">{escape(tier)}</text>')
        x += 24 + 8 * len(tier)
    out.append("</svg>")
    return "".join(out)
