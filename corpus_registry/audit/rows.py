"""The per-row side of an audit: what runs in the workers.

A task (:class:`AuditTask`: slices of the target's files plus the audit's small, picklable
:class:`AuditSettings`) reads its own rows, hashes each (sha256 of its normalised text), looks the
hashes up in the registry over its own connection, one query per batch, and returns a
:class:`Partial`: counts, tallies, and the first problems of each kind with their positions.

It is pure in the sense that matters for spreading work: a task's result depends only on its
rows, the settings and the registry, never on other tasks or on driver state (anchors, totals
and dataset-level checks are the driver's, in :mod:`corpus_registry.audit.auditor`). So the driver can
merge partials in task order and get the same report for any executor and any number of workers.
The only state a worker keeps is its open registry and the side tables (sources, withdrawals),
loaded once per audit run.
"""

from __future__ import annotations

import unicodedata
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xxhash
from sqlalchemy import Connection, bindparam, select

from corpus_registry.audit.policy import Policy
from corpus_registry.audit.report import Problem, severity
from corpus_registry.audit.targets import Batch, Slice, read_credits, slice_batches
from corpus_registry.build.tokens import count_tokens, worker_tokenizer
from corpus_registry.errors import AuditError, CorpusRegistryError
from corpus_registry.registry import licences
from corpus_registry.registry.db.models import Document, Source, Withdrawal
from corpus_registry.registry.documents import count_words, normalize_text, text_sha256
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.standing import Standings, load_standings, withdrawn_texts

__all__ = ["UNLABELLED", "UNREGISTERED_SOURCE", "AuditSettings", "AuditTask", "Partial", "audit_task"]

UNLABELLED = "(none)"
UNREGISTERED_SOURCE = "(unregistered)"
_SQL_CHUNK = 5000  # bound parameters per IN (...) list: under SQLite's (32766) and PostgreSQL's limits


class _Reg(NamedTuple):
    """A registry document version, as an audit needs it: its licence and tier as the registry's
    current decisions give them."""

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


# read as _Reg's fields, but the declared licence where _Reg has the licence and tier evaluated from it
_REG_COLUMNS = (Document.sha256, Document.source_id, Document.identifier, Document.is_current,
                Document.declared_license, Document.status, Document.language,
                Document.word_count, Document.title, Document.url)
# One statement per kind of lookup, compiled once; the IN list is an expanding parameter.
_BY_SHA = select(*_REG_COLUMNS).where(Document.sha256.in_(bindparam("shas", expanding=True)))
_BY_IDENTIFIER = select(*_REG_COLUMNS).where(Document.is_current.is_(True),
                                             Document.identifier.in_(bindparam("ids", expanding=True)))


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
    unreadable_is_problem: bool = False  # a release with a manifest: a damaged shard is a violation, not a stop
    license_field: str | None = None  # where rows keep their licence label (a dotted path), if not found alone
    tokenizer: tuple[str, str] | None = None  # (path, sha256): recount each row's token_count with it


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
    pairs: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)  # declared, its tier, registered, its tier
    unknown_labels: dict[str, list[int]] = field(default_factory=dict)
    problem_counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # the first ``max_problems`` of each kind, no anchors
    attribution_entries: list[dict[str, Any]] | None = None
    # per row, in row order, to find duplicated rows across tasks: a hash of the row's source and
    # identifier (of its text when it has no identifier), its file (index in ``files``), its row/line
    files: list[str] = field(default_factory=list)
    keys: Any = None  # numpy uint64 arrays, filled at the end of a task
    file_ids: Any = None
    positions: Any = None


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


class _Checker:
    """Checks rows against the registry; its side tables are loaded once per audit (and per worker)."""

    def __init__(self, registry: Registry, settings: AuditSettings) -> None:
        self.policy = settings.policy
        self.policy_info = settings.policy.describe()
        self.max_problems = settings.max_problems
        self.collect_attribution = settings.collect_attribution
        self.batch_size = settings.batch_size
        self.unreadable_is_problem = settings.unreadable_is_problem
        self.license_field = settings.license_field
        self.tokenizer = worker_tokenizer(*settings.tokenizer) if settings.tokenizer else None
        with registry.session() as s:
            self.sources = {sid: (slug, name, attribution, status) for sid, slug, name, attribution, status
                            in s.execute(select(Source.id, Source.slug, Source.name, Source.attribution,
                                                Source.status))}
            withdrawals = s.execute(select(Withdrawal.source_id, Withdrawal.document_identifier,
                                           Withdrawal.reason).where(Withdrawal.sha256.is_(None))
                                    .order_by(Withdrawal.id)).all()
            self.standings: Standings = load_standings(s.connection())
            self.withdrawn_texts = withdrawn_texts(s.connection())
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
        self._labels: dict[str, licences.Label] = {}
        self._attribution: dict[str, bool] = {}
        self._facts: dict[tuple[str, str], tuple[str | None, bool]] = {}
        self.conn: Connection
        self.part = Partial()
        self._keys, self._file_ids, self._positions = array("Q"), array("I"), array("Q")
        self._file = 0

    def run(self, conn: Connection, slices: Iterable[Slice]) -> Partial:
        """Check every row of ``slices`` (querying the registry over ``conn``); what was found."""
        self.conn = conn
        self.part = part = Partial(attribution_entries=[] if self.collect_attribution else None)
        self._keys, self._file_ids, self._positions = array("Q"), array("I"), array("Q")
        for s in slices:
            if s.name not in part.files:
                part.files.append(s.name)
            self._file = part.files.index(s.name)
            try:
                for batch in slice_batches(s, batch_size=self.batch_size, license_field=self.license_field):
                    self._batch(batch)
            except AuditError as e:
                if not self.unreadable_is_problem:
                    raise
                self.problem("shard_unreadable", str(e))
        part.keys = np.frombuffer(self._keys, dtype=np.uint64) if self._keys else np.empty(0, np.uint64)
        part.file_ids = np.frombuffer(self._file_ids, dtype=np.uint32) if self._file_ids else np.empty(0, np.uint32)
        part.positions = np.frombuffer(self._positions, dtype=np.uint64) if self._positions else np.empty(0, np.uint64)
        return part

    def problem(self, kind: str, message: str, **fields: Any) -> None:
        counts = self.part.problem_counts
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= self.max_problems:
            self.part.problems.append(Problem(kind=kind, severity=severity(kind, self.policy_info),
                                              message=message, **fields))

    # -- registry lookups (one query per chunk of a batch) ----------------------------------

    def _fetch(self, query: Any, key: str, values: list[str]) -> Iterator[_Reg]:
        for i in range(0, len(values), _SQL_CHUNK):
            verdict = self.standings.verdict
            for sha, sid, ident, current, declared, *rest in self.conn.execute(query, {key: values[i:i + _SQL_CHUNK]}):
                v = verdict(sid, ident, declared)
                yield _Reg(sha, sid, ident, current, v.license, v.tier.value, *rest)

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
        found = self._by_sha(set(shas))
        ids = [unicodedata.normalize("NFC", v) if isinstance(v, str) else v for v in (b.identifier or [None] * n)]
        srcs = b.source or [None] * n
        labels = [None if isinstance(v, str) and not v.strip() else v for v in (b.license or [None] * n)]
        if b.license_field is not None:  # the dataset declares where its labels are: each row must have one
            for i in range(n):
                if labels[i] is None:
                    self.problem("missing_licence_label", f"no licence label in field {b.license_field!r}",
                                 where=b.where(i), identifier=None if ids[i] is None else str(ids[i]),
                                 sha256=shas[i])
        declared = b.sha256 or [None] * n
        misses = [i for i in range(n) if shas[i] not in found]
        by_id: dict[str, list[_Reg]] = {}
        by_declared: dict[str, list[_Reg]] = {}
        if misses:
            by_id, by_declared = self._by_identity(
                {str(ids[i]) for i in misses if ids[i] is not None},
                {declared[i] for i in misses if ids[i] is None and isinstance(declared[i], str)})
        self.part.rows += n
        self._identify(b, shas, ids, srcs)
        if self.tokenizer is not None and b.token_count is not None:
            self._token_counts(b, shas, ids, srcs)
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

    def _token_counts(self, b: Batch, shas: list[str], ids: list[Any], srcs: list[Any]) -> None:
        """Each row's token_count against what the release's tokenizer gives for its text."""
        assert b.token_count is not None
        for i, (claimed, actual) in enumerate(zip(b.token_count, count_tokens(self.tokenizer, b.text))):
            if claimed != actual:
                self.problem("token_count_mismatch", f"token_count {claimed} but the tokenizer gives {actual} tokens",
                             where=b.where(i), identifier=None if ids[i] is None else str(ids[i]),
                             source=None if srcs[i] is None else str(srcs[i]), sha256=shas[i])

    def _identify(self, b: Batch, shas: list[str], ids: list[Any], srcs: list[Any]) -> None:
        """Each row's key (its source and identifier, else its text) and place, for the driver to
        find rows that appear twice anywhere in the dataset."""
        self._keys.extend([xxhash.xxh64_intdigest(f"{src}\x00{ident}".encode("utf-8", "surrogatepass")) if ident is not None else int(sha[:16], 16)
                           for sha, ident, src in zip(shas, ids, srcs)])
        self._file_ids.extend([self._file] * len(shas))
        self._positions.extend(b.lines if b.lines is not None else range(b.start, b.start + len(shas)))

    def _same_source(self, r: _Reg, src: Any) -> bool:
        return src is None or self.sources[r.source_id][0] == src

    def _doc(self, reg: _Reg, sha: str) -> dict[str, Any]:
        return {"source": self.sources[reg.source_id][0], "identifier": reg.identifier, "sha256": sha,
                "registry_license": reg.license}

    def _known(self, reg: _Reg, label: Any, b: Batch, i: int, sha: str) -> None:
        """Check one row that is a registered document; the common (clean) path is kept short."""
        self.part.known += 1
        slug = self.sources[reg.source_id][0]
        if reg.source_id in self.withdrawn_any or reg.status != "active" or self.withdrawn_texts:
            reason = self._withdrawn(reg, sha)
            if reason is not None:
                self.problem("withdrawn", f"withdrawn from the registry: {reason}", where=b.where(i),
                             **self._doc(reg, sha))
        declared = self._label(label) if label is not None else None
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
        if why is None and declared is not None and declared.recognised and declared.expression != reg.license:
            # the policy judges the label the row carries too: the stricter of the two wins
            label_why = self.policy.check(declared.expression)
            why = None if label_why is None else f"the row is labelled {declared.raw}: {label_why}"
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
        self._pair(declared, reg.license, reg.tier, reg.words)

    def _pair(self, declared: licences.Label | None, registered: str, tier: str, words: int) -> None:
        """Count the row under (the licence it declares, the licence the registry gives it)."""
        if declared is None:
            key = (UNLABELLED, "unlabelled", registered, tier)
        elif declared.recognised:
            key = (declared.expression, licences.parse(declared.expression).tier.value, registered, tier)
        else:
            key = (declared.raw, "invalid", registered, tier)
        t = self.part.pairs.get(key)
        if t is None:
            t = self.part.pairs[key] = [0, 0]
        t[0] += 1
        t[1] += words

    def _label(self, label: Any) -> licences.Label:
        text = str(label)
        found = self._labels.get(text)
        if found is None:
            found = self._labels[text] = licences.label(text)
        return found

    def _withdrawn(self, reg: _Reg, sha: str) -> str | None:
        reason = self.withdrawn_docs.get((reg.source_id, reg.identifier)) or self.withdrawn_sources.get(reg.source_id)
        if reason is None:
            text = self.withdrawn_texts.get(sha) or self.withdrawn_texts.get(reg.sha256)
            if text is not None:
                reason = f"{text} (its text is withdrawn, whatever its identifier)"
        if reason is None and (reg.status == "withdrawn" or self.sources[reg.source_id][3] == "withdrawn"):
            reason = "status withdrawn"
        return reason

    def _label_verdict(self, label: str, actual: str) -> str | None:
        """``kind:message`` for a row labelled ``label`` whose registry licence is ``actual``."""
        key = (label, actual)
        if key not in self._label_verdicts:
            try:
                same = licences.parse(label).expression == licences.parse(actual).expression  # any spelling
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
                label_s = licences.canonical(label_s)
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
        p = self.part.pairs.setdefault((label_s, tier, UNREGISTERED_SOURCE, "unknown"), [0, 0])
        p[0] += 1
        p[1] += words


def _normalized(text: str) -> str:
    """``normalize_text(text)``, skipping its regex passes when ``text`` is already normalised.

    Release rows hold normalised text, so the cheap checks (substring scans and the NFC quick
    check, all in C) usually prove that every step of :func:`normalize_text` would be a no-op.
    """
    if (text and text == text.strip() and "\ufeff" not in text and unicodedata.is_normalized("NFC", text)
            and "\r" not in text and " \n" not in text and "\t\n" not in text and "\n\n\n" not in text
            and "\u2028" not in text and "\u2029" not in text and "\x85" not in text):
        return text
    return normalize_text(text)
