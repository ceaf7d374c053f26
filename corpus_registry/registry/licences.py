"""Licence expressions: normalise what the world writes, classify into policy tiers, map to Hub ids.

:func:`normalize` turns a licence string as datasets, catalogues and the Hub write it into a
canonical SPDX expression, or None when it cannot: SPDX ids and expressions in any case, Creative
Commons names and URLs (every version, ports and ``deed`` / ``legalcode`` pages), "public domain"
spellings, the Common Pile's strings (``Creative Commons - Attribution - https://…``), Hub
licence ids (``pddl``, ``odbl``, ``gpl-3.0`` …) and plain names (``MIT License``, ``Apache
License, Version 2.0``). A Creative Commons port without an SPDX id (``by/3.0/fr``) or a version
(``Creative Commons - Attribution Non-Commercial``) becomes a project reference
(``LicenseRef-CC-BY-3.0-FR``, ``LicenseRef-CC-BY-NC``) whose tier follows its elements. (The
spellings themselves are read by :mod:`corpus_registry.registry.licence_spellings`.)

Tiers, from most to least permissive: public domain (no obligation), attribution, share-alike,
review (not established: quarantined until a person decides) and rejected (NC, ND, proprietary,
source-available). Every licence of ``license-expression``'s categorised index has a tier by its
category; the project's own table overrides it where the project is stricter (GFDL with invariant
sections needs a person). ``OR`` passes if a branch passes (the best branch counts), ``AND`` needs
all (the worst counts).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
)

from corpus_registry.errors import LicenseError
from corpus_registry.registry.licence_spellings import (  # noqa: F401 - re-exported
    CC_REF,
    MAX_LENGTH,
    PROPRIETARY,
    PUBLIC_DOMAIN,
    UNKNOWN,
    index,
    recognise,
)


class Tier(str, enum.Enum):
    PUBLIC_DOMAIN = "public_domain"
    ATTRIBUTION = "attribution"
    SHARE_ALIKE = "share_alike"
    REVIEW = "review"
    REJECTED = "rejected"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def open(self) -> bool:
        """True for the tiers a release may contain."""
        return self.rank <= 2


_RANK = {t: i for i, t in enumerate(Tier)}
OPEN_TIERS = (Tier.PUBLIC_DOMAIN, Tier.ATTRIBUTION, Tier.SHARE_ALIKE)

#: license-expression's index categories → tiers.
CATEGORY_TIERS: dict[str, Tier] = {
    "Public Domain": Tier.PUBLIC_DOMAIN,
    "Permissive": Tier.ATTRIBUTION,
    "Copyleft": Tier.SHARE_ALIKE,
    "Copyleft Limited": Tier.SHARE_ALIKE,
    "Proprietary Free": Tier.REJECTED,
    "Commercial": Tier.REJECTED,
    "Source-available": Tier.REJECTED,
    "Free Restricted": Tier.REJECTED,
    "CLA": Tier.REVIEW,
    "Patent License": Tier.REVIEW,
    "Unstated License": Tier.REVIEW,
}

#: The project's own table (lower-case keys). It counts only where it is stricter than the index,
#: or where the index does not know the key.
PROJECT_TIERS: dict[str, Tier] = {
    **dict.fromkeys(("cc0-1.0", "cc-pdm-1.0", "cc-pddc", "pddl-1.0", "unlicense", "wtfpl"),
                    Tier.PUBLIC_DOMAIN),
    **dict.fromkeys(("etalab-2.0", "mit", "apache-2.0", "isc", "zlib", "odc-by-1.0", "bsd-2-clause",
                     "bsd-3-clause", "python-2.0", "ogl-uk-3.0", "ogl-uk-2.0", "ogl-canada-2.0",
                     "cdla-permissive-1.0", "cdla-permissive-2.0", "bsl-1.0", "ncsa", "postgresql", "afl-3.0",
                     "0bsd", "mit-0", "artistic-2.0"), Tier.ATTRIBUTION),
    **dict.fromkeys(("odbl-1.0", "cdla-sharing-1.0", "mpl-2.0", "epl-2.0", "eupl-1.2", "lgpl-2.1-only",
                     "lgpl-2.1-or-later", "lgpl-3.0-only", "lgpl-3.0-or-later", "gpl-2.0-only",
                     "gpl-2.0-or-later", "gpl-3.0-only", "gpl-3.0-or-later", "agpl-3.0-only",
                     "agpl-3.0-or-later"), Tier.SHARE_ALIKE),
    UNKNOWN.lower(): Tier.REVIEW,
    PROPRIETARY.lower(): Tier.REJECTED,
}
# GFDL with (possible) invariant sections: the invariant parts cannot be changed; a person decides.

_GFDL_INVARIANTS = re.compile(r"^gfdl-1\.[123](-invariants)?-(only|or-later)$")
_HUB_IDS = {
    "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0",
    "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0",
    "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "etalab-2.0", "mit", "apache-2.0", "isc",
    "zlib", "unlicense", "wtfpl", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "artistic-2.0",
    "bsl-1.0", "mpl-2.0", "epl-1.0", "epl-2.0", "ecl-2.0", "eupl-1.1", "eupl-1.2", "postgresql", "ncsa",
    "afl-3.0", "osl-3.0", "ofl-1.1", "ms-pl", "lppl-1.3c", "cdla-permissive-1.0", "cdla-permissive-2.0",
    "cdla-sharing-1.0", "c-uda", "pddl", "odbl", "odc-by", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "lgpl-lr", "agpl-3.0", "gfdl",
}
_HUB_ALIASES = {
    "pddl-1.0": "pddl", "odbl-1.0": "odbl", "odc-by-1.0": "odc-by", "c-uda-1.0": "c-uda", "lgpllr": "lgpl-lr",
    "gpl-2.0-only": "gpl-2.0", "gpl-2.0-or-later": "gpl-2.0", "gpl-3.0-only": "gpl-3.0",
    "gpl-3.0-or-later": "gpl-3.0", "lgpl-2.1-only": "lgpl-2.1", "lgpl-2.1-or-later": "lgpl-2.1",
    "lgpl-3.0-only": "lgpl-3.0", "lgpl-3.0-or-later": "lgpl-3.0", "agpl-3.0-only": "agpl-3.0",
    "agpl-3.0-or-later": "agpl-3.0", "gfdl-1.1-or-later": "gfdl",
}

# -- tiers ---------------------------------------------------------------------------------------

@lru_cache(maxsize=8192)
def key_tier(key: str) -> Tier:
    """The tier of one licence key: the index's category, or the project's table where stricter."""
    k = key.lower()
    cc = CC_REF.match(k)
    if cc:  # a Creative Commons port or versionless name: its elements decide
        elements = cc.group(1)
        if "-nc" in elements or "-nd" in elements:
            return Tier.REJECTED
        return Tier.SHARE_ALIKE if elements.endswith("-sa") else Tier.ATTRIBUTION
    category = index().categories.get(k)
    found = [t for t in (CATEGORY_TIERS.get(category) if category else None, PROJECT_TIERS.get(k)) if t]
    if _GFDL_INVARIANTS.match(k):
        found.append(Tier.REVIEW)
    if k.startswith("cc-") and re.search(r"-(nc|nd)(-|$)", k):
        found.append(Tier.REJECTED)
    # A licence nobody has classified: a person must look at it.
    return max(found, key=lambda t: t.rank) if found else Tier.REVIEW


@dataclass(frozen=True, slots=True)
class LicenseInfo:
    """A parsed licence expression with what it obliges a release to do."""

    expression: str
    tier: Tier
    keys: tuple[str, ...]

    @property
    def requires_attribution(self) -> bool:
        return self.tier in (Tier.ATTRIBUTION, Tier.SHARE_ALIKE)

    @property
    def share_alike(self) -> bool:
        return self.tier is Tier.SHARE_ALIKE

    @property
    def hub_id(self) -> str:
        return hub_license_id(self.expression)


# -- normalising ---------------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def normalize(text: str) -> str | None:
    """The canonical SPDX expression of a licence string as the world writes it, or None when it
    cannot be mapped (the caller decides: an error for a catalogue, review for a data row)."""
    if not isinstance(text, str):
        return None
    raw = text.strip()
    if not raw or len(raw) > MAX_LENGTH or any(unicodedata.category(c) == "Cc" for c in raw):
        return None
    idx = index()
    try:  # the common case: an SPDX expression, in any case
        parsed = idx.licensing.parse(raw, validate=True, strict=True)
        if parsed is not None:
            return str(parsed)
    except ExpressionError:
        pass
    except Exception:  # noqa: BLE001 - license-expression raises plain errors on hostile input
        return None
    whole = recognise(raw)
    if whole is not None:
        return whole
    return _expression_of_names(raw)


def _expression_of_names(raw: str) -> str | None:
    """An expression whose parts are written as names or URLs (``CC BY 4.0 OR MIT``)."""
    idx = index()
    try:
        parsed = idx.licensing.parse(raw, validate=False, strict=True)
    except Exception:  # noqa: BLE001 - any parse failure: not an expression
        return None
    if parsed is None or isinstance(parsed, LicenseSymbol):
        return None  # a single unknown name: _recognise had its chance
    try:
        return _canonical_tree(_render(parsed))
    except (ExpressionError, LicenseError):
        return None


def _render(node: object) -> str:
    """An expression tree as text, each unknown symbol replaced by the licence it names."""
    if isinstance(node, LicenseWithExceptionSymbol):
        return f"{_render(node.license_symbol)} WITH {node.exception_symbol.key}"
    if isinstance(node, LicenseSymbol):
        key = node.key
        if key.lower() in index().keys:
            return key
        found = recognise(key)
        if found is None:
            raise LicenseError(f"unknown licence {key!r}")
        return f"({found})" if " " in found else found
    if isinstance(node, (AND, OR)):
        word = " AND " if isinstance(node, AND) else " OR "
        return word.join(f"({_render(a)})" if isinstance(a, (AND, OR)) else _render(a) for a in node.args)
    raise LicenseError(f"unsupported licence expression node {node!r}")


def _canonical_tree(expression: str) -> str:
    """Validate an expression made of known keys and project references; its canonical text."""
    idx = index()
    parsed = idx.licensing.parse(expression, validate=False, strict=True)
    if parsed is None:
        raise LicenseError("empty licence expression")
    for symbol in idx.licensing.license_symbols(parsed, unique=True, decompose=True):
        key = symbol.key.lower()
        if key not in idx.keys and key not in idx.exceptions and not CC_REF.match(key):
            raise LicenseError(f"unknown licence key {symbol.key!r}")
    return str(parsed)


def canonical(expression: str) -> str:
    """The canonical SPDX spelling of ``expression``; :class:`LicenseError` when it cannot be mapped."""
    return parse(expression).expression


@lru_cache(maxsize=8192)
def parse(expression: str) -> LicenseInfo:
    """Normalise ``expression`` (any spelling :func:`normalize` knows) into a :class:`LicenseInfo`."""
    raw = (expression or "").strip() if isinstance(expression, str) else ""
    if not raw:
        raise LicenseError("empty licence expression")
    found = normalize(raw)
    if found is None:
        shown = raw if len(raw) <= 80 else raw[:77] + "…"
        raise LicenseError(f"unrecognised licence {shown!r}: not an SPDX expression, a Creative Commons "
                           "name or URL, or a known licence name")
    try:
        tree = index().licensing.parse(found, validate=False, strict=True)
    except ExpressionError as e:  # not reached for what normalize returns; kept as a guard
        raise LicenseError(f"invalid licence expression {raw!r}: {e}") from e
    # a licence WITH an exception is named by its licence (the exception only adds permissions)
    keys = tuple(dict.fromkeys(getattr(s, "license_symbol", s).key
                               for s in index().licensing.license_symbols(tree, decompose=False)))
    return LicenseInfo(expression=found, tier=_tier_of(tree), keys=keys)


@dataclass(frozen=True, slots=True)
class Label:
    """A data row's licence label: its canonical expression (``LicenseRef-Unknown`` when the label
    cannot be mapped, so that the row goes to review) and the label as written."""

    expression: str
    raw: str
    recognised: bool


def label(raw: str) -> Label:
    """A row's licence label, never an error: what cannot be mapped goes to review, raw kept."""
    found = normalize(raw) if isinstance(raw, str) else None
    return Label(expression=found or UNKNOWN, raw=str(raw), recognised=found is not None)


def _tier_of(node: object) -> Tier:
    if isinstance(node, LicenseWithExceptionSymbol):
        return key_tier(node.license_symbol.key)
    if isinstance(node, LicenseSymbol):
        return key_tier(node.key)
    if isinstance(node, OR):
        return min((_tier_of(a) for a in node.args), key=lambda t: t.rank)
    if isinstance(node, AND):
        return max((_tier_of(a) for a in node.args), key=lambda t: t.rank)
    raise LicenseError(f"unsupported licence expression node {node!r}")


def tier(expression: str) -> Tier:
    return parse(expression).tier


def hub_license_id(expression: str) -> str:
    """The Hub's lowercase licence id for a single licence, else ``other``."""
    info = parse(expression)
    if len(info.keys) != 1:
        return "other"
    key = info.keys[0].lower()
    key = _HUB_ALIASES.get(key, key)
    return key if key in _HUB_IDS else "other"


def more_permissive(claimed: str, actual: str) -> bool:
    """True when ``claimed`` promises fewer obligations than ``actual`` (licence laundering)."""
    a, b = parse(claimed), parse(actual)
    if a.expression == b.expression:
        return False
    return a.tier.rank < b.tier.rank or (b.tier.rank >= Tier.REVIEW.rank and a.tier.open)
