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
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select
from tqdm import tqdm

from . import licences
from .audit_report import KINDS, AuditReport, Problem, severity
from .audit_targets import Batch, Target, card_licences, iter_batches, read_credits, resolve_target
from .db.models import Document, Source, Withdrawal
from .documents import count_words, normalize_text, text_sha256
from .errors import CorpusRegistryError
from .policy import DEFAULT_POLICY, Policy
from .registry import Registry
from .release import read_manifest, sha256_file

__all__ = ["KINDS", "AuditReport", "Problem", "audit"]

UNLABELLED = "(none)"
UNREGISTERED_SOURCE = "(unregistered)"
_ANCHOR_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_SQL_CHUNK = 5000  # bound parameters per IN (...) list: under SQLite's (32766) and PostgreSQL's limits


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
        self.credits = read_credits(target.attribution) if target.attribution else None
        self.withdrawn_any = set(self.withdrawn_sources) | {sid for sid, _ in self.withdrawn_docs} | {
            sid for sid, v in self.sources.items() if v[3] != "active"}
        self.tally: dict[tuple[str, str, str, str], list[int]] = {}  # (licence, tier, language, source)
        self.mix: dict[tuple[str, str], list[int]] = {}
        self.unknown_labels: dict[str, list[int]] = {}
        self.known = self.unknown = 0
        self.needs_credit = 0
        self.credited = 0
        self.anchors: set[str] = set()
        self._label_verdicts: dict[tuple[str, str], str | None] = {}
        self._attribution: dict[str, bool] = {}
        self._facts: dict[tuple[str, str], tuple[str | None, bool]] = {}
        self.conn: Connection

    # -- problems ---------------------------------------------------------------------------

    def problem(self, kind: str, message: str, **fields: Any) -> None:
        counts = self.report.problem_counts
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] > self.max_problems:
            return
        p = Problem(kind=kind, severity=severity(kind, self.report.policy), message=message, **fields)
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

    # -- the run ----------------------------------------------------------------------------

    def run(self, *, batch_size: int, progress: bool) -> AuditReport:
        started = time.perf_counter()
        bar = tqdm(total=self.target.rows_hint() if progress else None, desc="audit", unit="row",
                   disable=not progress, leave=False)
        with self.registry.session() as s:  # one read transaction: a consistent view of the registry
            self.conn = s.connection()
            for batch in iter_batches(self.target, batch_size=batch_size):
                self._batch(batch)
                bar.update(len(batch))
        bar.close()
        self._dataset_checks()
        self.report.seconds = time.perf_counter() - started
        return self.report

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
        self.report.rows += n
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
        self.known += 1
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
            self.needs_credit += 1
            if self.credits is not None:
                if self.credits.credits(slug, reg.identifier):
                    self.credited += 1
                else:
                    self.problem("missing_attribution", f"{reg.license} requires attribution; "
                                 f"`{reg.identifier}` is not credited in {self.credits.name}",
                                 where=b.where(i), **self._doc(reg, sha))
            if self.report.attribution_entries is not None:
                _, name, attribution, _ = self.sources[reg.source_id]
                self.report.attribution_entries.append({
                    "source": slug, "source_name": name, "attribution": attribution,
                    "identifier": reg.identifier, "title": reg.title, "license": reg.license, "url": reg.url})
        key = (reg.license, reg.tier, reg.language, slug)
        t = self.tally.get(key)
        if t is None:
            self.tally[key] = [1, reg.words]
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
        self.unknown += 1
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
        t = self.tally.setdefault(key, [0, 0])
        t[0] += 1
        t[1] += words
        u = self.unknown_labels.setdefault(label_s, [0, 0])
        u[0] += 1
        u[1] += words

    # -- dataset-level checks ---------------------------------------------------------------

    def _dataset_checks(self) -> None:
        r = self.report
        r.known, r.unknown = self.known, self.unknown
        mix: dict[tuple[str, str], list[int]] = {}
        tiers: dict[str, list[int]] = {}
        languages: dict[str, list[int]] = {}
        sources: dict[str, list[int]] = {}
        for (lic, tier, language, slug), (n, w) in self.tally.items():
            for t in (mix.setdefault((lic, tier), [0, 0]), tiers.setdefault(tier, [0, 0]),
                      languages.setdefault(language, [0, 0]), sources.setdefault(slug, [0, 0])):
                t[0] += n
                t[1] += w
        self.mix = mix
        r.license_mix = [{"license": lic, "tier": tier, "documents": n, "words": w}
                         for (lic, tier), (n, w) in sorted(mix.items())]
        r.by_tier, r.by_language, r.by_source, r.unknown_by_license = (
            _tally(t) for t in (tiers, languages, sources, self.unknown_labels))
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


def _tally(table: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    return {k: {"documents": n, "words": w} for k, (n, w) in sorted(table.items())}


def _mix_summary(mix: list[dict[str, Any]]) -> str:
    return ", ".join(f"{m['license']} ×{m['documents']}" for m in mix) or "nothing"
