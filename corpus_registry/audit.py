"""Audit a dataset's licensing provenance, document by document, against the registry and a policy.

Every row is hashed (sha256 of its normalised text) and looked up in the registry, one query per
batch of rows. A row then passes or earns named problems:

- ``text_altered``: the row names a registered document but its text is not the registered text;
- ``licence_laundering``: the row's licence label is more permissive than the registry's;
- ``policy_violation``: the document's licence (or tier) is not allowed by the policy;
- ``withdrawn``: the document was taken down after the dataset was built;
- ``missing_attribution``: its licence requires credit but the attribution file does not list it;
- ``unknown_document``: the registry does not know the text at all.

The dataset as a whole is checked too: the card's declared licence against what the rows carry,
the attribution file's presence, the manifest's shard checksums and licence mix. Problems of
``error`` severity violate the policy (the CLI exits 1); ``warning`` ones are reported only.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from sqlalchemy import select
from tqdm import tqdm

from . import licences
from .audit_targets import Batch, Target, iter_batches, resolve_target
from .db.models import Document, Source, Withdrawal
from .documents import count_words, normalize_text, text_sha256
from .errors import CorpusRegistryError
from .policy import DEFAULT_POLICY, Policy
from .registry import Registry
from .release import read_manifest, sha256_file

ERROR, WARNING = "error", "warning"
#: Every problem an audit can name, with its severity and a one-line explanation.
KINDS: dict[str, tuple[str, str]] = {
    "text_altered": (ERROR, "text differs from the registered text of the document"),
    "licence_laundering": (ERROR, "licence label more permissive than the registry's licence"),
    "invalid_licence": (ERROR, "licence label is not a valid SPDX expression"),
    "policy_violation": (ERROR, "licence not allowed by the policy"),
    "withdrawn": (ERROR, "document withdrawn (taken down) from the registry"),
    "missing_attribution": (ERROR, "licence requires attribution but the attribution file omits it"),
    "no_attribution_file": (ERROR, "documents require attribution but the dataset has no attribution file"),
    "unknown_document": (ERROR, "text not in the registry"),
    "card_licence_laundering": (ERROR, "the card declares a licence more permissive than the rows carry"),
    "card_licence_mismatch": (WARNING, "the card's declared licence differs from what the rows carry"),
    "licence_mismatch": (WARNING, "licence label differs from the registry's (not more permissive)"),
    "outdated_version": (WARNING, "text is an older version of the document"),
    "sha256_mismatch": (WARNING, "the row's sha256 column does not match its text"),
    "shard_modified": (WARNING, "a shard differs from the manifest's checksum, or is missing"),
    "manifest_mismatch": (WARNING, "the manifest's licence mix differs from what the rows carry"),
}
UNLABELLED = "(none)"
UNREGISTERED_SOURCE = "(unregistered)"
_ANCHOR_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_CREDIT = re.compile(r"^\s*[-*]\s+`([^`]+)`")
_SQL_CHUNK = 900  # bound parameters per IN (...) list, well under every backend's limit


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
    license_mix: list[dict[str, Any]] = field(default_factory=list)
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
        return sum(n for k, n in self.problem_counts.items() if _severity(k, self.policy) == ERROR)

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


def _severity(kind: str, policy: dict[str, Any]) -> str:
    if kind == "unknown_document" and policy.get("allow_unknown_documents"):
        return WARNING
    if kind in ("missing_attribution", "no_attribution_file") and not policy.get("require_attribution", True):
        return WARNING
    return KINDS[kind][0]


class _Reg(NamedTuple):
    """A registry document version, as an audit needs it."""

    sha256: str
    source_id: int
    identifier: str
    is_current: bool
    license: str
    tier: str
    status: str
    language: str
    words: int
    title: str | None
    url: str | None


_REG_COLUMNS = (Document.sha256, Document.source_id, Document.identifier, Document.is_current,
                Document.license, Document.license_tier, Document.status, Document.language,
                Document.word_count, Document.title, Document.url)


def audit(registry: Registry, target: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
          policy: Policy | None = None, revision: str | None = None, progress: bool = True,
          endpoint: str | None = None, token: str | None = None, batch_size: int = 5000,
          max_problems: int = 1000, collect_attribution: bool = False) -> AuditReport:
    """Audit ``target`` (release folder, Parquet/JSONL files, folder, glob or ``hf://datasets/…``).

    ``max_problems`` bounds how many problems of each kind are kept for the report (all are
    counted); ``collect_attribution`` keeps the attribution list of the audited documents.
    """
    resolved = resolve_target(target, revision=revision, endpoint=endpoint, token=token)
    return _Auditor(registry, resolved, policy or DEFAULT_POLICY, max_problems=max_problems,
                    collect_attribution=collect_attribution).run(batch_size=batch_size, progress=progress)


class _Auditor:
    """One audit run: registry side tables loaded once, rows checked batch by batch."""

    def __init__(self, registry: Registry, target: Target, policy: Policy, *, max_problems: int,
                 collect_attribution: bool) -> None:
        self.registry, self.target, self.policy = registry, target, policy
        self.max_problems = max_problems
        self.report = AuditReport(target=target.label, kind=target.kind,
                                  files=[target.name_of(f) for f in target.files],
                                  policy=policy.describe(), revision=target.revision, commit=target.commit)
        if collect_attribution:
            self.report.attribution_entries = []
        with registry.session() as s:
            self.sources = {sid: (slug, name, attribution, status) for sid, slug, name, attribution, status
                            in s.execute(select(Source.id, Source.slug, Source.name, Source.attribution,
                                                Source.status))}
            withdrawals = s.execute(select(Withdrawal.source_id, Withdrawal.document_identifier,
                                           Withdrawal.reason).order_by(Withdrawal.id)).all()
        self.slug_ids = {v[0]: k for k, v in self.sources.items()}
        self.withdrawn_sources: dict[int, str] = {}
        self.withdrawn_docs: dict[tuple[int, str], str] = {}
        for sid, ident, reason in withdrawals:
            if ident is None:
                self.withdrawn_sources.setdefault(sid, reason)
            else:
                self.withdrawn_docs.setdefault((sid, ident), reason)
        self.credits = _read_credits(target.attribution) if target.attribution else None
        self.mix: dict[tuple[str, str], list[int]] = {}
        self.tiers: dict[str, list[int]] = {}
        self.languages: dict[str, list[int]] = {}
        self.by_source: dict[str, list[int]] = {}
        self.unknown_labels: dict[str, list[int]] = {}
        self.needs_credit = 0
        self.credited = 0
        self.anchors: set[str] = set()
        self._label_verdicts: dict[tuple[str, str], str | None] = {}
        self._attribution: dict[str, bool] = {}

    # -- problems ---------------------------------------------------------------------------

    def problem(self, kind: str, message: str, **fields: Any) -> None:
        counts = self.report.problem_counts
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] > self.max_problems:
            return
        p = Problem(kind=kind, severity=_severity(kind, self.report.policy), message=message, **fields)
        base = (f"doc-{p.source or UNREGISTERED_SOURCE}--{p.identifier}" if p.identifier
                else f"row-{p.where}" if p.where else "dataset")
        anchor = _ANCHOR_BAD.sub("-", f"{base}--{kind}").strip("-")
        n, unique = 1, anchor
        while unique in self.anchors:
            n += 1
            unique = f"{anchor}-{n}"
        self.anchors.add(unique)
        p.anchor = unique
        self.report.problems.append(p)

    # -- registry lookups (one query per chunk of a batch) ----------------------------------

    def _by_sha(self, shas: set[str]) -> dict[str, list[_Reg]]:
        found: dict[str, list[_Reg]] = {}
        if not shas:
            return found
        ordered = sorted(shas)
        with self.registry.session() as s:
            for i in range(0, len(ordered), _SQL_CHUNK):
                for row in s.execute(select(*_REG_COLUMNS).where(Document.sha256.in_(ordered[i:i + _SQL_CHUNK]))):
                    found.setdefault(row[0], []).append(_Reg(*row))
        return found

    def _by_identity(self, identifiers: set[str], shas: set[str]) -> tuple[dict[str, list[_Reg]], dict[str, list[_Reg]]]:
        """Current documents by identifier and by declared sha256, for rows whose text did not match."""
        by_id: dict[str, list[_Reg]] = {}
        by_sha: dict[str, list[_Reg]] = {}
        with self.registry.session() as s:
            ids = sorted(identifiers)
            for i in range(0, len(ids), _SQL_CHUNK):
                q = select(*_REG_COLUMNS).where(Document.is_current.is_(True),
                                                Document.identifier.in_(ids[i:i + _SQL_CHUNK]))
                for row in s.execute(q):
                    by_id.setdefault(row[2], []).append(_Reg(*row))
            declared = sorted(shas)
            for i in range(0, len(declared), _SQL_CHUNK):
                q = select(*_REG_COLUMNS).where(Document.sha256.in_(declared[i:i + _SQL_CHUNK]))
                for row in s.execute(q):
                    by_sha.setdefault(row[0], []).append(_Reg(*row))
        return by_id, by_sha

    def _best(self, cands: list[_Reg], source: Any, identifier: Any) -> _Reg:
        """The candidate the row most plausibly is: its own source/identifier, then current."""
        sid = self.slug_ids.get(source) if isinstance(source, str) else None

        def score(r: _Reg) -> tuple[bool, bool, bool, str]:
            same = r.identifier == identifier and (sid is None or r.source_id == sid)
            return (not same, not r.is_current, r.status != "active", r.identifier)

        return cands[0] if len(cands) == 1 else min(cands, key=score)

    # -- the run ----------------------------------------------------------------------------

    def run(self, *, batch_size: int, progress: bool) -> AuditReport:
        started = time.perf_counter()
        bar = tqdm(total=self.target.rows_hint() if progress else None, desc="audit", unit="row",
                   disable=not progress, leave=False)
        for batch in iter_batches(self.target, batch_size=batch_size):
            self._batch(batch)
            bar.update(len(batch))
        bar.close()
        self._dataset_checks()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _batch(self, b: Batch) -> None:
        n = len(b)
        norms = [normalize_text(t) for t in b.text]
        shas = [text_sha256(t) for t in norms]
        found = self._by_sha(set(shas))
        ids = b.identifier or [None] * n
        srcs = b.source or [None] * n
        labels = b.license or [None] * n
        declared = b.sha256 or [None] * n
        misses = [i for i in range(n) if shas[i] not in found]
        by_id: dict[str, list[_Reg]] = {}
        by_declared: dict[str, list[_Reg]] = {}
        if misses:
            by_id, by_declared = self._by_identity(
                {str(ids[i]) for i in misses if ids[i] is not None},
                {declared[i] for i in misses if isinstance(declared[i], str) and declared[i] != shas[i]})
        self.report.rows += n
        for i in range(n):
            sha, ident, src, label = shas[i], ids[i], srcs[i], labels[i]
            ident = None if ident is None else str(ident)
            where = b.where(i)
            cands = found.get(sha)
            if cands:
                reg = self._best(cands, src, ident)
                if not reg.is_current:
                    self.problem("outdated_version", "text is an older version of the document; "
                                 "the registry holds a newer one", where=where, **self._doc(reg, sha))
                if isinstance(declared[i], str) and declared[i] and declared[i] != sha:
                    self.problem("sha256_mismatch", f"the row's sha256 {declared[i][:12]}… is not the "
                                 f"hash of its text ({sha[:12]}…)", where=where, **self._doc(reg, sha))
                self._known(reg, label, where, sha)
                continue
            match = [r for r in by_id.get(ident or "", []) if self._same_source(r, src)] if ident else []
            if not match and isinstance(declared[i], str):
                match = by_declared.get(declared[i], [])
            if match:
                reg = self._best(match, src, ident)
                self.problem("text_altered", f"text differs from the registered text (row sha256 "
                             f"{sha[:12]}…, registry {reg.sha256[:12]}…)", where=where, **self._doc(reg, sha))
                self._known(reg, label, where, sha)
                continue
            self._unknown(norms[i], sha, ident, src, label, b, i, where)

    def _same_source(self, r: _Reg, src: Any) -> bool:
        return src is None or self.sources[r.source_id][0] == src

    def _doc(self, reg: _Reg, sha: str) -> dict[str, Any]:
        return {"source": self.sources[reg.source_id][0], "identifier": reg.identifier, "sha256": sha,
                "registry_license": reg.license}

    def _known(self, reg: _Reg, label: Any, where: str, sha: str) -> None:
        self.report.known += 1
        slug = self.sources[reg.source_id][0]
        doc = self._doc(reg, sha)
        reason = self._withdrawn(reg)
        if reason is not None:
            self.problem("withdrawn", f"withdrawn from the registry: {reason}", where=where, **doc)
        if label is not None and label != reg.license:
            verdict = self._label_verdict(str(label), reg.license)
            if verdict is not None:
                kind, message = verdict.split(":", 1)
                self.problem(kind, message, where=where, license=str(label), **doc)
        why = self.policy.check(reg.license, tier=reg.tier)
        if why is not None:
            self.problem("policy_violation", why, where=where, license=None if label is None else str(label),
                         **doc)
        if self._needs_attribution(reg.license):
            self.needs_credit += 1
            if self.credits is not None:
                if self.credits.credits(slug, reg.identifier):
                    self.credited += 1
                else:
                    self.problem("missing_attribution", f"{reg.license} requires attribution; "
                                 f"`{reg.identifier}` is not credited in {self.credits.name}",
                                 where=where, **doc)
            if self.report.attribution_entries is not None:
                _, name, attribution, _ = self.sources[reg.source_id]
                self.report.attribution_entries.append({
                    "source": slug, "source_name": name, "attribution": attribution,
                    "identifier": reg.identifier, "title": reg.title, "license": reg.license, "url": reg.url})
        _add(self.mix, (reg.license, reg.tier), reg.words)
        _add(self.tiers, reg.tier, reg.words)
        _add(self.languages, reg.language, reg.words)
        _add(self.by_source, slug, reg.words)

    def _withdrawn(self, reg: _Reg) -> str | None:
        reason = self.withdrawn_docs.get((reg.source_id, reg.identifier)) or self.withdrawn_sources.get(reg.source_id)
        if reason is None and (reg.status == "withdrawn" or self.sources[reg.source_id][3] == "withdrawn"):
            reason = "status withdrawn"
        return reason

    def _label_verdict(self, label: str, actual: str) -> str | None:
        """``kind:message`` for a row labelled ``label`` whose registry licence is ``actual``."""
        key = (label, actual)
        if key not in self._label_verdicts:
            try:
                same = licences.parse(label).expression == licences.parse(actual).expression
                if same:
                    verdict = None
                elif licences.more_permissive(label, actual):
                    verdict = (f"licence_laundering:labelled {label} but registered as {actual} "
                               f"({licences.tier(label).value} < {licences.tier(actual).value})")
                else:
                    verdict = f"licence_mismatch:labelled {label} but registered as {actual}"
            except CorpusRegistryError as e:
                verdict = f"invalid_licence:licence label {label!r} does not parse ({e})"
            self._label_verdicts[key] = verdict
        return self._label_verdicts[key]

    def _needs_attribution(self, expression: str) -> bool:
        if expression not in self._attribution:
            try:
                self._attribution[expression] = licences.parse(expression).requires_attribution
            except CorpusRegistryError:
                self._attribution[expression] = False
        return self._attribution[expression]

    def _unknown(self, norm: str, sha: str, ident: str | None, src: Any, label: Any, b: Batch, i: int,
                 where: str) -> None:
        self.report.unknown += 1
        words_col = b.word_count[i] if b.word_count is not None else None
        words = words_col if isinstance(words_col, int) else count_words(norm)
        label_s = UNLABELLED if label is None else str(label)
        tier = "unlabelled"
        if label is not None:
            try:
                tier = licences.tier(label_s).value
            except CorpusRegistryError:
                tier = "invalid"
                self.problem("invalid_licence", f"licence label {label_s!r} does not parse", where=where,
                             identifier=ident, source=None if src is None else str(src), sha256=sha,
                             license=label_s)
        fields = {"where": where, "identifier": ident, "source": None if src is None else str(src),
                  "sha256": sha, "license": None if label is None else label_s}
        self.problem("unknown_document", f"text not in the registry (labelled {label_s}, tier {tier})", **fields)
        if self.policy.allow_unknown_documents and tier not in ("invalid",):
            why = "no licence label" if label is None else self.policy.check(label_s)
            if why is not None:
                self.problem("policy_violation", why, **fields)
        language = b.language[i] if b.language is not None and b.language[i] else "und"
        _add(self.mix, (label_s, tier), words)
        _add(self.tiers, tier, words)
        _add(self.languages, str(language), words)
        _add(self.by_source, UNREGISTERED_SOURCE if src is None else str(src), words)
        _add(self.unknown_labels, label_s, words)

    # -- dataset-level checks ---------------------------------------------------------------

    def _dataset_checks(self) -> None:
        r = self.report
        r.license_mix = [{"license": lic, "tier": tier, "documents": n, "words": w}
                         for (lic, tier), (n, w) in sorted(self.mix.items())]
        r.by_tier, r.by_language, r.by_source, r.unknown_by_license = (
            _tally(t) for t in (self.tiers, self.languages, self.by_source, self.unknown_labels))
        attribution_file = self.target.attribution
        r.attribution = {"file": attribution_file.name if attribution_file else None,
                         "required": self.needs_credit, "credited": self.credited,
                         "missing": self.needs_credit - self.credited if attribution_file else self.needs_credit}
        if attribution_file is None and self.needs_credit:
            self.problem("no_attribution_file", f"{self.needs_credit} documents require attribution but the "
                         "dataset has no ATTRIBUTION.md")
        if r.attribution_entries is not None:
            r.attribution_entries.sort(key=lambda e: (e["source"], e["identifier"]))
        self._check_card()
        self._check_manifest()

    def _check_card(self) -> None:
        carried = sorted({lic for lic, _ in self.mix})
        carried_hub = sorted({_hub_id(lic) for lic in carried})
        card = self.target.card
        info: dict[str, Any] = {"file": card.name if card else None, "declared": None, "carried": carried,
                                "carried_hub_ids": carried_hub}
        self.report.card = info
        if card is None:
            return
        declared = _card_licences(card)
        info["declared"] = declared
        if not declared or not carried:
            return
        if declared == ["other"]:
            return  # a mixed-licence card: the breakdown is in its body
        for hub_id in declared:
            for lic in carried:
                try:
                    laundering = licences.more_permissive(hub_id, lic)
                except CorpusRegistryError:
                    continue
                if laundering:
                    self.problem("card_licence_laundering", f"the card declares {hub_id} but rows carry {lic}")
                    return
        if set(carried_hub) - set(declared):
            self.problem("card_licence_mismatch", f"the card declares {', '.join(declared)} but rows carry "
                         f"{', '.join(carried_hub)}")

    def _check_manifest(self) -> None:
        path = self.target.manifest
        if path is None:
            return
        try:
            manifest = read_manifest(path.parent)
        except (OSError, ValueError):
            self.problem("shard_modified", f"{path.name} is unreadable")
            return
        root = path.parent
        for shard, sha in sorted((manifest.get("shards") or {}).items()):
            file = root / shard
            if not file.is_file():
                self.problem("shard_modified", f"{shard} is listed in {path.name} but missing")
            elif sha256_file(file) != sha:
                self.problem("shard_modified", f"{shard} differs from its sha256 in {path.name}")
        expected = manifest.get("license_mix")
        if expected is not None and expected != self.report.license_mix:
            self.problem("manifest_mismatch", f"{path.name} lists {_mix_summary(expected)}; rows carry "
                         f"{_mix_summary(self.report.license_mix)}")


class _Credits:
    """Who an attribution file credits: (source, identifier) under ``## source — name`` headings."""

    def __init__(self, name: str, pairs: set[tuple[str, str]], loose: set[str]) -> None:
        self.name, self.pairs, self.loose = name, pairs, loose

    def credits(self, slug: str, identifier: str) -> bool:
        return (slug, identifier) in self.pairs or identifier in self.loose


def _read_credits(path: Path) -> _Credits:
    pairs: set[tuple[str, str]] = set()
    loose: set[str] = set()
    section: str | None = None
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("## "):
                section = line[3:].split(" — ")[0].strip() or None
                continue
            m = _CREDIT.match(line)
            if m:
                if section:
                    pairs.add((section, m[1]))
                else:
                    loose.add(m[1])
    return _Credits(path.name, pairs, loose)


def _card_licences(card: Path) -> list[str] | None:
    """The ``license:`` of a dataset card's YAML header, as a list of Hub ids (None if absent)."""
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return None
    value = meta.get("license") if isinstance(meta, dict) else None
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return sorted({str(v).strip().lower() for v in values})


def _hub_id(expression: str) -> str:
    try:
        return licences.hub_license_id(expression)
    except CorpusRegistryError:
        return "other"


def _add(table: dict[Any, list[int]], key: Any, words: int) -> None:
    t = table.get(key)
    if t is None:
        table[key] = [1, words]
    else:
        t[0] += 1
        t[1] += words


def _tally(table: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    return {k: {"documents": n, "words": w} for k, (n, w) in sorted(table.items())}


def _mix_summary(mix: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m['license']} ×{m['documents']}" for m in mix) or "nothing"
