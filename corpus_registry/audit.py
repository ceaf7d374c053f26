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

An executor spreads the rows over its workers (local processes or Ray): the files are cut into
slices in row order (:func:`~corpus_registry.audit_targets.plan_slices`), each task reads its own
rows and queries the registry over its own connection, and returns a :class:`Partial` (counts,
tallies, the first problems of each kind with their positions). The driver merges the partials
in task order, names anchors, and runs the dataset-level checks once, so the report is the same
for any executor and any number of workers.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, bindparam, select
from tqdm import tqdm

from . import licences
from .audit_report import KINDS, AuditReport, Problem, severity
from .audit_targets import Batch, Slice, Target, card_licences, plan_slices, read_credits, resolve_target, slice_batches
from .db.models import Document, Source, Withdrawal
from .documents import count_words, normalize_text, text_sha256
from .errors import CorpusRegistryError
from .executors import Executor
from .policy import DEFAULT_POLICY, Policy
from .registry import Registry
from .release import read_manifest, sha256_file

__all__ = ["INLINE_BELOW", "KINDS", "AuditReport", "AuditTask", "Partial", "Problem", "audit", "audit_task"]

#: Targets smaller than this many rows are audited in this process whatever the executor, a row
#: counting once plus once per ``_BYTES_PER_ROW`` bytes of data: about a second of work on one
#: core, which is what starting worker processes costs (each spends ≈0.6 s importing the package).
INLINE_BELOW = 100_000
_BYTES_PER_ROW = 2048  # one registry lookup costs about as much as hashing 2 KiB of text
_SLICES_PER_WORKER = 8  # enough that the last slices finish close together
_MAX_SLICE_BATCHES = 8  # a slice holds at most this many batches of rows

UNLABELLED = "(none)"
UNREGISTERED_SOURCE = "(unregistered)"
_ANCHOR_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_SQL_CHUNK = 5000  # bound parameters per IN (...) list: under SQLite's (32766) and PostgreSQL's limits
K = TypeVar("K")


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
# One statement per kind of lookup, compiled once; the IN list is an expanding parameter.
_BY_SHA = select(*_REG_COLUMNS).where(Document.sha256.in_(bindparam("shas", expanding=True)))
_BY_IDENTIFIER = select(*_REG_COLUMNS).where(Document.is_current.is_(True),
                                             Document.identifier.in_(bindparam("ids", expanding=True)))


def audit(registry: Registry, target: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
          policy: Policy | None = None, revision: str | None = None, progress: bool = True,
          endpoint: str | None = None, token: str | None = None, batch_size: int = 5000,
          max_problems: int = 1000, collect_attribution: bool = False, executor: Executor | None = None,
          inline_below: int | None = None) -> AuditReport:
    """Audit ``target`` (release folder, Parquet/JSONL files, folder, glob or ``hf://datasets/…``).

    ``max_problems`` bounds how many problems of each kind are kept for the report (all are
    counted); ``collect_attribution`` keeps the attribution list of the audited documents.
    ``executor`` spreads the rows over its workers; the report is the same for any executor.
    With one worker, or under ``inline_below`` rows (default :data:`INLINE_BELOW`, long texts
    counting as several rows), the audit runs in this process, in one read transaction.
    """
    started = time.perf_counter()
    resolved = resolve_target(target, revision=revision, endpoint=endpoint, token=token)
    policy = policy or DEFAULT_POLICY
    workers = 1 if executor is None or _in_memory(registry) else executor.workers
    slices = plan_slices(resolved, parts=None if workers == 1 else workers * _SLICES_PER_WORKER,
                         min_rows=batch_size, max_rows=_MAX_SLICE_BATCHES * batch_size)
    credits = resolved.attribution
    settings = AuditSettings(run=uuid.uuid4().hex, url=registry.url, policy=policy,
                             credits=str(credits) if credits else None, max_problems=max_problems,
                             collect_attribution=collect_attribution, batch_size=batch_size)
    tasks = [AuditTask(settings, group) for group in _groups(slices, min_rows=batch_size)]
    rows = sum(s.rows for s in slices)
    work = rows + sum(s.bytes for s in slices) // _BYTES_PER_ROW
    known_total = all(s.rows and not s.path.endswith(".gz") for s in slices)
    bar = tqdm(total=rows if progress and known_total else None, desc="audit", unit="row",
               disable=not progress, leave=False)
    findings = _Findings(resolved, policy, max_problems=max_problems, collect_attribution=collect_attribution)
    if executor is None or workers == 1 or len(tasks) < 2 or work < (
            INLINE_BELOW if inline_below is None else inline_below):
        checker = _Checker(registry, settings)
        with registry.session() as s:  # one read transaction: a consistent view of the registry
            for task in tasks:
                part = checker.run(s.connection(), task.slices)
                findings.add(part)
                bar.update(part.rows)
    else:
        for part in executor.map(audit_task, tasks):
            findings.add(part)
            bar.update(part.rows)
    bar.close()
    report = findings.finish()
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """What every task of one audit needs besides its rows: small and picklable."""

    run: str  # names the audit: a worker loads the registry's side tables once per run
    url: str
    policy: Policy
    credits: str | None  # the attribution file, read by each worker
    max_problems: int
    collect_attribution: bool
    batch_size: int


@dataclass(frozen=True, slots=True)
class AuditTask:
    """Slices of the target's files (whose rows the task reads itself) and the audit's settings."""

    settings: AuditSettings
    slices: tuple[Slice, ...]


@dataclass(slots=True)
class Partial:
    """What one task found; the driver adds the partials up in task order."""

    rows: int = 0
    known: int = 0
    unknown: int = 0
    needs_credit: int = 0
    credited: int = 0
    tally: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)  # licence, tier, language, source
    unknown_labels: dict[str, list[int]] = field(default_factory=dict)
    problem_counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # the first ``max_problems`` of each kind, no anchors
    attribution_entries: list[dict[str, Any]] | None = None


def audit_task(task: AuditTask) -> Partial:
    """Audit the rows of ``task`` wherever an executor runs it (a worker process, a Ray task)."""
    settings = task.settings
    registry = _registry(settings.url)
    checker = _CHECKERS.get(settings.run)
    if checker is None:
        _CHECKERS.clear()  # one audit at a time per worker: drop the previous run's tables
        checker = _CHECKERS[settings.run] = _Checker(registry, settings)
    with registry.session() as s:
        return checker.run(s.connection(), task.slices)


_CHECKERS: dict[str, _Checker] = {}


@lru_cache(maxsize=2)
def _registry(url: str) -> Registry:
    return Registry(url)


def _in_memory(registry: Registry) -> bool:
    """An in-memory SQLite registry exists in this process only: no worker could open it."""
    return registry.dialect == "sqlite" and registry.engine.url.database in (None, "", ":memory:")


def _groups(slices: list[Slice], *, min_rows: int) -> Iterator[tuple[Slice, ...]]:
    """Consecutive slices gathered into tasks of at least ``min_rows`` rows (small files together)."""
    group: list[Slice] = []
    rows = 0
    for s in slices:
        group.append(s)
        rows += s.rows
        if rows >= min_rows:
            yield tuple(group)
            group, rows = [], 0
    if group:
        yield tuple(group)


class _Checker:
    """Checks rows against the registry; its side tables are loaded once per audit (and per worker)."""

    def __init__(self, registry: Registry, settings: AuditSettings) -> None:
        self.policy = settings.policy
        self.policy_info = settings.policy.describe()
        self.max_problems = settings.max_problems
        self.collect_attribution = settings.collect_attribution
        self.batch_size = settings.batch_size
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
        self.credits = read_credits(Path(settings.credits)) if settings.credits else None
        self.withdrawn_any = set(self.withdrawn_sources) | {sid for sid, _ in self.withdrawn_docs} | {
            sid for sid, v in self.sources.items() if v[3] != "active"}
        self._label_verdicts: dict[tuple[str, str], str | None] = {}
        self._attribution: dict[str, bool] = {}
        self._facts: dict[tuple[str, str], tuple[str | None, bool]] = {}
        self.conn: Connection
        self.part = Partial()

    def run(self, conn: Connection, slices: Iterable[Slice]) -> Partial:
        """Check every row of ``slices`` (querying the registry over ``conn``); what was found."""
        self.conn = conn
        self.part = Partial(attribution_entries=[] if self.collect_attribution else None)
        for s in slices:
            for batch in slice_batches(s, batch_size=self.batch_size):
                self._batch(batch)
        return self.part

    def problem(self, kind: str, message: str, **fields: Any) -> None:
        counts = self.part.problem_counts
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= self.max_problems:
            self.part.problems.append(Problem(kind=kind, severity=severity(kind, self.policy_info),
                                              message=message, **fields))

    # -- registry lookups (one query per chunk of a batch) ----------------------------------

    def _fetch(self, query: Any, key: str, values: list[str]) -> Iterator[_Reg]:
        for i in range(0, len(values), _SQL_CHUNK):
            for row in self.conn.execute(query, {key: values[i:i + _SQL_CHUNK]}).all():
                yield _Reg(*row)

    def _by_sha(self, shas: set[str]) -> dict[str, list[_Reg]]:
        found: dict[str, list[_Reg]] = {}
        for reg in self._fetch(_BY_SHA, "shas", sorted(shas)):
            found.setdefault(reg.sha256, []).append(reg)
        return found

    def _by_identity(self, identifiers: set[str], shas: set[str]) -> tuple[dict[str, list[_Reg]], dict[str, list[_Reg]]]:
        """Current documents by identifier and by declared sha256, for rows whose text did not match."""
        by_id: dict[str, list[_Reg]] = {}
        for reg in self._fetch(_BY_IDENTIFIER, "ids", sorted(identifiers)):
            by_id.setdefault(reg.identifier, []).append(reg)
        return by_id, self._by_sha(shas)

    def _best(self, cands: list[_Reg], source: Any, identifier: Any) -> _Reg:
        """The candidate the row most plausibly is: its own source/identifier, then current."""
        sid = self.slug_ids.get(source) if isinstance(source, str) else None

        def score(r: _Reg) -> tuple[bool, bool, bool, str]:
            same = r.identifier == identifier and (sid is None or r.source_id == sid)
            return (not same, not r.is_current, r.status != "active", r.identifier)

        return cands[0] if len(cands) == 1 else min(cands, key=score)

    # -- the rows ---------------------------------------------------------------------------

    def _batch(self, b: Batch) -> None:
        n = len(b)
        norms = [_normalized(t) for t in b.text]
        shas = [text_sha256(t) for t in norms]
        # A row whose text is not in normal form may still be a registered text verbatim:
        # normalize_text is not idempotent on every input (e.g. a BOM after leading blanks).
        verbatim = {i: text_sha256(t) for i, (t, norm) in enumerate(zip(b.text, norms))
                    if norm is not t and norm != t}
        found = self._by_sha({*shas, *verbatim.values()})
        for i, sha in verbatim.items():
            if sha in found and shas[i] not in found:
                shas[i] = sha
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
                {declared[i] for i in misses if ids[i] is None and isinstance(declared[i], str)})
        self.part.rows += n
        best, known = self._best, self._known
        for i in range(n):
            sha, ident, src = shas[i], ids[i], srcs[i]
            if ident is not None and not isinstance(ident, str):
                ident = str(ident)
            cands = found.get(sha)
            if cands:
                reg = cands[0] if len(cands) == 1 else best(cands, src, ident)
                if not reg.is_current:
                    self.problem("outdated_version", "text is an older version of the document; "
                                 "the registry holds a newer one", where=b.where(i), **self._doc(reg, sha))
                if declared[i] and declared[i] != sha:
                    self.problem("sha256_mismatch", f"the row's sha256 {str(declared[i])[:12]}… is not the "
                                 f"hash of its text ({sha[:12]}…)", where=b.where(i), **self._doc(reg, sha))
                known(reg, labels[i], b, i, sha)
                continue
            match = [r for r in by_id.get(ident, []) if self._same_source(r, src)] if ident else []
            if not match and ident is None and isinstance(declared[i], str):
                match = by_declared.get(declared[i], [])  # no identity: trust the row's own sha256
            if match:
                reg = best(match, src, ident)
                self.problem("text_altered", f"text differs from the registered text (row sha256 "
                             f"{sha[:12]}…, registry {reg.sha256[:12]}…)", where=b.where(i), **self._doc(reg, sha))
                known(reg, labels[i], b, i, sha)
                continue
            self._unknown(norms[i], sha, ident, src, labels[i], b, i)

    def _same_source(self, r: _Reg, src: Any) -> bool:
        return src is None or self.sources[r.source_id][0] == src

    def _doc(self, reg: _Reg, sha: str) -> dict[str, Any]:
        return {"source": self.sources[reg.source_id][0], "identifier": reg.identifier, "sha256": sha,
                "registry_license": reg.license}

    def _known(self, reg: _Reg, label: Any, b: Batch, i: int, sha: str) -> None:
        """Check one row that is a registered document; the common (clean) path is kept short."""
        self.part.known += 1
        slug = self.sources[reg.source_id][0]
        if reg.source_id in self.withdrawn_any or reg.status != "active":
            reason = self._withdrawn(reg)
            if reason is not None:
                self.problem("withdrawn", f"withdrawn from the registry: {reason}", where=b.where(i),
                             **self._doc(reg, sha))
        if label is not None and label != reg.license:
            verdict = self._label_verdict(str(label), reg.license)
            if verdict is not None:
                kind, message = verdict.split(":", 1)
                self.problem(kind, message, where=b.where(i), license=str(label), **self._doc(reg, sha))
        facts = self._facts.get((reg.license, reg.tier))
        if facts is None:
            facts = self._facts[(reg.license, reg.tier)] = (
                self.policy.check(reg.license, tier=reg.tier), self._needs_attribution(reg.license))
        why, needs_credit = facts
        if why is not None:
            self.problem("policy_violation", why, where=b.where(i), license=None if label is None else str(label),
                         **self._doc(reg, sha))
        if needs_credit:
            self.part.needs_credit += 1
            if self.credits is not None:
                if self.credits.credits(slug, reg.identifier):
                    self.part.credited += 1
                else:
                    self.problem("missing_attribution", f"{reg.license} requires attribution; "
                                 f"`{reg.identifier}` is not credited in {self.credits.name}",
                                 where=b.where(i), **self._doc(reg, sha))
            if self.part.attribution_entries is not None:
                _, name, attribution, _ = self.sources[reg.source_id]
                self.part.attribution_entries.append({
                    "source": slug, "source_name": name, "attribution": attribution,
                    "identifier": reg.identifier, "title": reg.title, "license": reg.license, "url": reg.url})
        key = (reg.license, reg.tier, reg.language, slug)
        t = self.part.tally.get(key)
        if t is None:
            self.part.tally[key] = [1, reg.words]
        else:
            t[0] += 1
            t[1] += reg.words

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

    def _unknown(self, norm: str, sha: str, ident: str | None, src: Any, label: Any, b: Batch, i: int) -> None:
        self.part.unknown += 1
        where = b.where(i)
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
        if self.policy.allow_unknown_documents and tier != "invalid":
            why = "no licence label" if label is None else self.policy.check(label_s)
            if why is not None:
                self.problem("policy_violation", why, **fields)
        language = b.language[i] if b.language is not None and b.language[i] else "und"
        key = (label_s, tier, str(language), UNREGISTERED_SOURCE if src is None else str(src))
        t = self.part.tally.setdefault(key, [0, 0])
        t[0] += 1
        t[1] += words
        u = self.part.unknown_labels.setdefault(label_s, [0, 0])
        u[0] += 1
        u[1] += words


class _Findings:
    """The report being assembled: partials added in task order, then the dataset-level checks."""

    def __init__(self, target: Target, policy: Policy, *, max_problems: int, collect_attribution: bool) -> None:
        self.target, self.max_problems = target, max_problems
        self.report = AuditReport(target=target.label, kind=target.kind,
                                  files=[target.name_of(f) for f in target.files],
                                  policy=policy.describe(), revision=target.revision, commit=target.commit)
        if collect_attribution:
            self.report.attribution_entries = []
        self.total = Partial()
        self.shown: dict[str, int] = {}
        self.anchors: set[str] = set()
        self.mix: dict[tuple[str, str], list[int]] = {}

    def add(self, part: Partial) -> None:
        """Merge the next task's findings: as if its rows had been checked here, after the others."""
        t = self.total
        t.rows += part.rows
        t.known += part.known
        t.unknown += part.unknown
        t.needs_credit += part.needs_credit
        t.credited += part.credited
        _add_counts(t.tally, part.tally)
        _add_counts(t.unknown_labels, part.unknown_labels)
        for p in part.problems:  # each kind's first problems in row order: keep the first overall
            self._keep(p)
        counts = self.report.problem_counts
        for kind, n in part.problem_counts.items():
            counts[kind] = counts.get(kind, 0) + n
        if self.report.attribution_entries is not None and part.attribution_entries:
            self.report.attribution_entries += part.attribution_entries

    def _keep(self, p: Problem) -> None:
        if self.shown.get(p.kind, 0) >= self.max_problems:
            return
        self.shown[p.kind] = self.shown.get(p.kind, 0) + 1
        base = (f"doc-{p.source or UNREGISTERED_SOURCE}--{p.identifier}" if p.identifier
                else f"row-{p.where}" if p.where else "dataset")
        anchor = _ANCHOR_BAD.sub("-", f"{base}--{p.kind}").strip("-")
        n, unique = 1, anchor
        while unique in self.anchors:
            n += 1
            unique = f"{anchor}-{n}"
        self.anchors.add(unique)
        p.anchor = unique
        self.report.problems.append(p)

    def problem(self, kind: str, message: str) -> None:
        """A dataset-level problem."""
        counts = self.report.problem_counts
        counts[kind] = counts.get(kind, 0) + 1
        self._keep(Problem(kind=kind, severity=severity(kind, self.report.policy), message=message))

    def finish(self) -> AuditReport:
        """The dataset-level checks, once every row is counted."""
        r, total = self.report, self.total
        r.rows, r.known, r.unknown = total.rows, total.known, total.unknown
        mix: dict[tuple[str, str], list[int]] = {}
        tiers: dict[str, list[int]] = {}
        languages: dict[str, list[int]] = {}
        sources: dict[str, list[int]] = {}
        for (lic, tier, language, slug), (n, w) in total.tally.items():
            for t in (mix.setdefault((lic, tier), [0, 0]), tiers.setdefault(tier, [0, 0]),
                      languages.setdefault(language, [0, 0]), sources.setdefault(slug, [0, 0])):
                t[0] += n
                t[1] += w
        self.mix = mix
        r.license_mix = [{"license": lic, "tier": tier, "documents": n, "words": w}
                         for (lic, tier), (n, w) in sorted(mix.items())]
        r.by_tier, r.by_language, r.by_source, r.unknown_by_license = (
            _tally(t) for t in (tiers, languages, sources, total.unknown_labels))
        attribution_file = self.target.attribution
        needs, credited = total.needs_credit, total.credited
        r.attribution = {"file": attribution_file.name if attribution_file else None,
                         "required": needs, "credited": credited,
                         "missing": needs - credited if attribution_file else needs}
        if attribution_file is None and needs:
            self.problem("no_attribution_file", f"{needs} documents require attribution but the "
                         "dataset has no ATTRIBUTION.md")
        if r.attribution_entries is not None:
            r.attribution_entries.sort(key=lambda e: (e["source"], e["identifier"]))
        self._check_card()
        self._check_manifest()
        return r

    def _check_card(self) -> None:
        carried = sorted({lic for lic, _ in self.mix})
        carried_hub = sorted({_hub_id(lic) for lic in carried})
        card = self.target.card
        info: dict[str, Any] = {"file": card.name if card else None, "declared": None, "carried": carried,
                                "carried_hub_ids": carried_hub}
        self.report.card = info
        if card is None:
            return
        declared = card_licences(card)
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


def _hub_id(expression: str) -> str:
    try:
        return licences.hub_license_id(expression)
    except CorpusRegistryError:
        return "other"


def _normalized(text: str) -> str:
    """``normalize_text(text)``, skipping its regex passes when ``text`` is already normalised.

    Release rows hold normalised text, so the cheap checks (substring scans and the NFC quick
    check, all in C) usually prove that every step of :func:`normalize_text` would be a no-op.
    """
    if (text and text == text.strip() and text[0] != "\ufeff" and unicodedata.is_normalized("NFC", text)
            and "\r" not in text and " \n" not in text and "\t\n" not in text and "\n\n\n" not in text
            and "\u2028" not in text and "\u2029" not in text and "\x85" not in text):
        return text
    return normalize_text(text)


def _add_counts(table: dict[K, list[int]], more: dict[K, list[int]]) -> None:
    for key, (n, w) in more.items():
        cur = table.setdefault(key, [0, 0])
        cur[0] += n
        cur[1] += w


def _tally(table: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    return {k: {"documents": n, "words": w} for k, (n, w) in sorted(table.items())}


def _mix_summary(mix: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m['license']} ×{m['documents']}" for m in mix) or "nothing"
