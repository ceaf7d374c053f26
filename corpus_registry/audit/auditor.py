"""Audit a dataset's licensing provenance, document by document, against the registry and a policy.

Every row is hashed (sha256 of its normalised text) and looked up in the registry, one query per
batch of rows. A row then passes or earns named problems:

- ``text_altered``: the row names a registered document but its text is not the registered text;
- ``licence_laundering``: the row's licence label is more permissive than the registry's;
- ``policy_violation``: the document's licence (or tier) as the registry's current decisions give
  it, or the licence label the row itself carries, is not allowed by the policy (the stricter wins);
- ``withdrawn``: the document, or its text under any identifier, was taken down after the dataset
  was built;
- ``missing_licence_label``: the dataset keeps licence labels in a field (``--license-field``, or
  dolma's ``metadata.license``) but the row has none there;
- ``missing_attribution``: its licence requires credit but the attribution file does not list it;
- ``unknown_document``: the registry does not know the text at all.

The dataset as a whole is checked too: the card's declared licence against what the rows carry,
the attribution file's presence, rows that appear twice, and (:mod:`.consistency`) whether files,
rows, manifest and the registry's record of the release agree. Problems of ``error`` severity are
violations (the CLI exits 1); ``warning`` ones are reported only.

An executor spreads the rows over its workers (local processes or Ray): the files are cut into
slices in row order (:func:`~corpus_registry.audit.targets.plan_slices`), each task
(:func:`~corpus_registry.audit.rows.audit_task`) reads its own rows and queries the registry over
its own connection, and returns a :class:`Partial` (counts, tallies, the first problems of each
kind with their positions). The driver merges the partials
in task order, names anchors, and runs the dataset-level checks once, so the report is the same
for any executor and any number of workers.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from corpus_registry.audit.consistency import (
    check_release,
    check_shard_sets,
    duplicate_groups,
    is_release_folder,
    parse_manifest,
)
from corpus_registry.audit.labels import check_field_path
from corpus_registry.audit.policy import DEFAULT_POLICY, Policy
from corpus_registry.audit.report import KINDS, AuditReport, Problem, severity
from corpus_registry.audit.rows import UNLABELLED as UNLABELLED  # re-exported, as before the split
from corpus_registry.audit.rows import UNREGISTERED_SOURCE, AuditSettings, AuditTask, Partial, _Checker, audit_task
from corpus_registry.audit.rows import _normalized as _normalized  # re-exported, as before the split
from corpus_registry.audit.targets import (
    Slice,
    Target,
    card_licences,
    check_readable,
    parquet_rows,
    plan_slices,
    resolve_target,
)
from corpus_registry.build.release import CROISSANT, MANIFEST, REMOVED
from corpus_registry.build.tokens import resolve_tokenizer
from corpus_registry.errors import AuditError, CorpusRegistryError
from corpus_registry.executors import Executor
from corpus_registry.registry import licences
from corpus_registry.registry.readers.parquet import DAMAGED
from corpus_registry.registry.registry import Registry

__all__ = ["INLINE_BELOW", "KINDS", "AuditReport", "AuditTask", "Partial", "Problem", "audit", "audit_task"]

#: Targets smaller than this many rows are audited in this process whatever the executor, a row
#: counting once plus once per ``_BYTES_PER_ROW`` bytes of data: about a second of work on one
#: core, which is what starting worker processes costs (each spends ≈0.6 s importing the package).
INLINE_BELOW = 100_000
_BYTES_PER_ROW = 2048  # one registry lookup costs about as much as hashing 2 KiB of text
_SLICES_PER_WORKER = 8  # enough that the last slices finish close together
_MAX_SLICE_BATCHES = 8  # a slice holds at most this many batches of rows

_ANCHOR_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
K = TypeVar("K")


def audit(registry: Registry, target: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
          policy: Policy | None = None, revision: str | None = None, progress: bool = True,
          endpoint: str | None = None, token: str | None = None, batch_size: int = 5000,
          max_problems: int = 1000, collect_attribution: bool = False, executor: Executor | None = None,
          inline_below: int | None = None, license_field: str | None = None,
          tokenizer: str | None = None) -> AuditReport:
    """Audit ``target`` (release folder, Parquet/JSONL files, folder, glob or ``hf://datasets/…``).

    ``max_problems`` bounds how many problems of each kind are kept for the report (all are
    counted); ``collect_attribution`` keeps the attribution list of the audited documents.
    ``executor`` spreads the rows over its workers; the report is the same for any executor.
    With one worker, or under ``inline_below`` rows (default :data:`INLINE_BELOW`, long texts
    counting as several rows), the audit runs in this process, in one read transaction.
    ``license_field`` names the field (a dotted path such as ``metadata.license``) holding each
    row's licence label; by default a ``license``/``licence`` column, else dolma's
    ``metadata.license``. ``tokenizer`` (a tokenizer.json path or a cached Hub id): recount every
    row's ``token_count`` with it; by default with the tokenizer a release's manifest names, when it
    is a Hub id in the local cache or an absolute path of a local release, with the same sha256.
    """
    started = time.perf_counter()
    resolved = resolve_target(target, revision=revision, endpoint=endpoint, token=token)
    check_readable(resolved.files)
    counting, unchecked = _tokenizer_for(resolved, tokenizer)
    policy = policy or DEFAULT_POLICY
    workers = 1 if executor is None or _in_memory(registry) else executor.workers
    slices = plan_slices(resolved, parts=None if workers == 1 else workers * _SLICES_PER_WORKER,
                         min_rows=batch_size, max_rows=_MAX_SLICE_BATCHES * batch_size)
    credits = resolved.attribution
    settings = AuditSettings(run=uuid.uuid4().hex, url=registry.url, policy=policy,
                             credits=str(credits) if credits else None, max_problems=max_problems,
                             collect_attribution=collect_attribution, batch_size=batch_size,
                             unreadable_is_problem=is_release_folder(resolved) and resolved.manifest is not None,
                             license_field=check_field_path(license_field), tokenizer=counting)
    tasks = [AuditTask(settings, group) for group in _groups(slices, min_rows=batch_size)]
    rows = sum(s.rows for s in slices)
    work = rows + sum(s.bytes for s in slices) // _BYTES_PER_ROW
    known_total = all(s.rows and not s.path.endswith(".gz") for s in slices)
    bar = tqdm(total=rows if progress and known_total else None, desc="audit", unit="row",
               disable=not progress, leave=False)
    findings = _Findings(resolved, policy, registry, max_problems=max_problems,
                         collect_attribution=collect_attribution)
    if unchecked:
        findings.problem("token_count_unchecked", unchecked)
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


def _tokenizer_for(target: Target, given: str | None) -> tuple[tuple[str, str] | None, str | None]:
    """(path, sha256) of the tokenizer that recounts ``token_count``, else None; and, when the
    manifest names a tokenizer that cannot be used here, why (a warning).

    A manifest from a Hub repo is not trusted with local paths: only a Hub id it names is looked up
    (in the local cache, never downloaded)."""
    named: Any = None
    if target.manifest is not None:
        try:
            named = parse_manifest(target.manifest.read_bytes()).get("tokenizer")
        except (OSError, ValueError):
            named = None  # reported as manifest_invalid
    if not (isinstance(named, dict) and isinstance(named.get("name"), str) and isinstance(named.get("sha256"), str)):
        named = None
    if given is not None:
        ref = resolve_tokenizer(given, base_dir=None, origin="--tokenizer")
        if named is not None and ref.sha256 != named["sha256"]:
            raise AuditError(f"--tokenizer {given}: its sha256 {ref.sha256[:12]}… is not that of the tokenizer the "
                             f"manifest names ({named['name']}, {named['sha256'][:12]}…)",
                             hint="give the tokenizer.json the release was built with")
        return (ref.path, ref.sha256), None
    if named is None:
        return None, None
    name = named["name"]
    usable = named.get("kind") == "hub" or (target.kind != "hub" and Path(name).is_absolute())
    why = f"{MANIFEST} names tokenizer {name!r} (sha256 {named['sha256'][:12]}…)"
    if not usable:
        return None, f"{why}: give its file with --tokenizer to check token counts"
    try:
        ref = resolve_tokenizer(name, base_dir=None, origin=MANIFEST)
    except CorpusRegistryError:
        return None, f"{why}, not found here: give its file with --tokenizer to check token counts"
    if ref.sha256 != named["sha256"]:
        return None, f"{why}, but the one found here differs (sha256 {ref.sha256[:12]}…)"
    return (ref.path, ref.sha256), None


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


class _Findings:
    """The report being assembled: partials added in task order, then the dataset-level checks."""

    def __init__(self, target: Target, policy: Policy, registry: Registry, *, max_problems: int,
                 collect_attribution: bool) -> None:
        self.target, self.registry, self.max_problems = target, registry, max_problems
        self.names: list[str] = []  # the files rows came from, for the duplicate-row check
        self.keys: list[Any] = []
        self.file_ids: list[Any] = []
        self.positions: list[Any] = []
        self.report = AuditReport(target=target.label, kind=target.kind,
                                  files=[target.name_of(f) for f in target.files],
                                  policy=policy.describe(), revision=target.revision, commit=target.commit)
        if collect_attribution:
            self.report.attribution_entries = []
        self.total = Partial()
        self.shown: dict[str, int] = {}
        self.anchors: set[str] = set()
        self.mix: dict[tuple[str, str], list[int]] = {}
        self.carried: dict[tuple[str, str], list[int]] = {}

    def add(self, part: Partial) -> None:
        """Merge the next task's findings: as if its rows had been checked here, after the others."""
        t = self.total
        t.rows += part.rows
        t.known += part.known
        t.unknown += part.unknown
        t.needs_credit += part.needs_credit
        t.credited += part.credited
        _add_counts(t.tally, part.tally)
        _add_counts(t.pairs, part.pairs)
        _add_counts(t.unknown_labels, part.unknown_labels)
        for p in part.problems:  # each kind's first problems in row order: keep the first overall
            self._keep(p)
        counts = self.report.problem_counts
        for kind, n in part.problem_counts.items():
            counts[kind] = counts.get(kind, 0) + n
        if self.report.attribution_entries is not None and part.attribution_entries:
            self.report.attribution_entries += part.attribution_entries
        if part.keys is not None and len(part.keys):
            for name in part.files:
                if name not in self.names:
                    self.names.append(name)
            remap = np.asarray([self.names.index(name) for name in part.files], dtype=np.uint32)
            self.keys.append(part.keys)
            self.file_ids.append(remap[part.file_ids])
            self.positions.append(part.positions)

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
        r.license_pairs = [{"declared": d, "declared_tier": dt, "registered": g, "registered_tier": gt,
                            "documents": n, "words": w} for (d, dt, g, gt), (n, w) in sorted(total.pairs.items())]
        declared: dict[tuple[str, str], list[int]] = {}
        for (d, dt, g, gt), (n, w) in total.pairs.items():
            key = (g, gt) if d == UNLABELLED and g != UNREGISTERED_SOURCE else (d, dt)  # what the row carries
            cur = declared.setdefault(key, [0, 0])
            cur[0] += n
            cur[1] += w
        self.carried = declared
        r.declared_mix = [{"license": lic, "tier": tier, "documents": n, "words": w}
                          for (lic, tier), (n, w) in sorted(declared.items())]
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
        self._check_duplicates()
        check_shard_sets(self.target, self.problem)
        check_release(self.target, self.problem, registry=self.registry, rows_of=parquet_rows,
                      license_mix=r.declared_mix)
        self._check_side_files()
        return r

    def _check_duplicates(self) -> None:
        if not self.keys:
            return
        n, shown = duplicate_groups(np.concatenate(self.keys), np.concatenate(self.file_ids),
                                    np.concatenate(self.positions), self.names, limit=self.max_problems)
        for d in shown:
            self._keep(Problem(kind="duplicate_row", severity=severity("duplicate_row", self.report.policy),
                               message=f"repeats {d.first} (same source and identifier, or same text)",
                               where=d.where))
        if n:
            self.report.problem_counts["duplicate_row"] = n

    def _check_card(self) -> None:
        carried = sorted({lic for lic, _ in self.carried})  # what the rows carry: their labels
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

    def _check_side_files(self) -> None:
        """removed.parquet and croissant.json against the manifest (the files' bytes are checked
        with the rest of the release, by :func:`~corpus_registry.audit.consistency.check_release`)."""
        path = self.target.manifest
        if path is None:
            return
        try:
            manifest = parse_manifest(path.read_bytes())
        except (OSError, ValueError):
            return  # reported as manifest_invalid
        try:
            self._check_removed(path.parent, manifest, path.name)
            self._check_croissant(manifest, path.name)
        except (TypeError, AttributeError, KeyError, ValueError) as e:  # a manifest of the wrong shape
            self.problem("manifest_invalid", f"{path.name} cannot be read as a release manifest "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")

    def _check_removed(self, root: Path, manifest: dict[str, Any], name: str) -> None:
        """removed.parquet: its rows per stage are the funnel's drops, so kept + removed = selected."""
        listed = manifest.get("removed")
        path = root / REMOVED
        if not listed or not path.is_file():
            return
        try:
            stages = pq.read_table(path, columns=["stage"])["stage"].value_counts().to_pylist()
        except (*DAMAGED, KeyError) as e:
            self.problem("shard_modified", f"{REMOVED} is unreadable ({str(e).splitlines()[0] if str(e) else e})")
            return
        found = {s["values"]: s["counts"] for s in stages}
        funnel = {s["stage"]: s["docs_in"] - s["docs_out"] for s in manifest.get("counts", {}).get("funnel", [])
                  if s["docs_in"] != s["docs_out"]}
        if found != funnel or sum(found.values()) != listed.get("rows"):
            self.problem("manifest_mismatch", f"{REMOVED} removes {_stage_summary(found)}; the funnel in {name} "
                         f"drops {_stage_summary(funnel)}")

    def _check_croissant(self, manifest: dict[str, Any], name: str) -> None:
        """croissant.json must describe these files: its sha256 of each file is the manifest's."""
        path = self.target.croissant
        if path is None:
            return
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            described = {d["contentUrl"]: d.get("sha256") for d in doc.get("distribution", [])
                         if d.get("@type") == "cr:FileObject"}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            self.problem("shard_modified", f"{CROISSANT} is not a Croissant description")
            return
        listed = {**(manifest.get("shards") or {}),
                  **{f: s for f, s in (manifest.get("files") or {}).items() if f in described}}
        wrong = sorted(f for f in listed if described.get(f) != listed[f])
        if wrong:
            self.problem("manifest_mismatch", f"{CROISSANT} does not describe {wrong[0]} as {name} does "
                         f"({len(wrong)} file(s))")


def _hub_id(expression: str) -> str:
    try:
        return licences.hub_license_id(expression)
    except CorpusRegistryError:
        return "other"


def _add_counts(table: dict[K, list[int]], more: dict[K, list[int]]) -> None:
    for key, (n, w) in more.items():
        cur = table.setdefault(key, [0, 0])
        cur[0] += n
        cur[1] += w


def _tally(table: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    return {k: {"documents": n, "words": w} for k, (n, w) in sorted(table.items())}


def _stage_summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{stage} {n:,}" for stage, n in sorted(counts.items())) or "nothing"

