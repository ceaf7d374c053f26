"""Licence expressions: parse with a real SPDX parser, classify into policy tiers, map to Hub ids.

Tiers, from most to least permissive: public domain (no obligation), attribution, share-alike,
review (not established: quarantined until a person decides) and rejected (NC, ND, proprietary).
``OR`` passes if a branch passes (the best branch counts), ``AND`` needs all (the worst counts).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

from corpus_registry.errors import LicenseError

PUBLIC_DOMAIN = "CC-PDM-1.0"
UNKNOWN = "LicenseRef-Unknown"
PROPRIETARY = "LicenseRef-Proprietary"

#: Words a user may write instead of an SPDX id.
MARKERS = {
    "public-domain": PUBLIC_DOMAIN,
    "public domain": PUBLIC_DOMAIN,
    "pd": PUBLIC_DOMAIN,
    "unknown": UNKNOWN,
    "proprietary": PROPRIETARY,
    "all-rights-reserved": PROPRIETARY,
}


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

_PUBLIC_DOMAIN_KEYS = {
    "cc0-1.0", "cc-pdm-1.0", "cc-pddc", "pddl-1.0", "unlicense", "0bsd", "mit-0", "wtfpl",
}
_ATTRIBUTION_KEYS = {
    "etalab-2.0", "mit", "apache-2.0", "isc", "zlib", "odc-by-1.0", "bsd-2-clause",
    "bsd-3-clause", "python-2.0", "artistic-2.0", "ogl-uk-3.0", "ogl-uk-2.0", "ogl-canada-2.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "bsl-1.0", "ncsa", "postgresql", "afl-3.0",
}
_SHARE_ALIKE_KEYS = {
    "odbl-1.0", "cdla-sharing-1.0", "mpl-2.0", "epl-2.0", "eupl-1.2", "lgpl-2.1-only",
    "lgpl-2.1-or-later", "lgpl-3.0-only", "lgpl-3.0-or-later", "gpl-2.0-only",
    "gpl-2.0-or-later", "gpl-3.0-only", "gpl-3.0-or-later", "agpl-3.0-only", "agpl-3.0-or-later",
    "gfdl-1.1-no-invariants-only", "gfdl-1.2-no-invariants-only", "gfdl-1.3-no-invariants-only",
    "gfdl-1.1-no-invariants-or-later", "gfdl-1.2-no-invariants-or-later",
    "gfdl-1.3-no-invariants-or-later",
}
_HUB_IDS = {
    "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0",
    "cc-by-nc-4.0", "cc-by-nd-4.0", "etalab-2.0", "mit", "apache-2.0", "isc", "zlib", "unlicense",
    "wtfpl", "bsd-2-clause", "bsd-3-clause", "artistic-2.0", "bsl-1.0", "mpl-2.0", "epl-2.0",
    "eupl-1.2", "postgresql", "ncsa", "afl-3.0", "cdla-permissive-1.0", "cdla-permissive-2.0",
    "cdla-sharing-1.0", "pddl", "odbl", "odc-by", "gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0",
    "agpl-3.0", "gfdl",
}
_HUB_ALIASES = {
    "pddl-1.0": "pddl", "odbl-1.0": "odbl", "odc-by-1.0": "odc-by",
    "gpl-2.0-only": "gpl-2.0", "gpl-2.0-or-later": "gpl-2.0", "gpl-3.0-only": "gpl-3.0",
    "gpl-3.0-or-later": "gpl-3.0", "lgpl-2.1-only": "lgpl-2.1", "lgpl-2.1-or-later": "lgpl-2.1",
    "lgpl-3.0-only": "lgpl-3.0", "lgpl-3.0-or-later": "lgpl-3.0", "agpl-3.0-only": "agpl-3.0",
    "agpl-3.0-or-later": "agpl-3.0",
}


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    spdx = get_spdx_licensing()
    symbols = {s.key: s for s in spdx.known_symbols.values()}
    for key in (UNKNOWN, PROPRIETARY):
        symbols[key] = LicenseSymbol(key)
    return Licensing(list(symbols.values()))


def _key_tier(key: str) -> Tier:
    k = key.lower()
    if k in _PUBLIC_DOMAIN_KEYS:
        return Tier.PUBLIC_DOMAIN
    if k == PROPRIETARY.lower() or "-nc" in k or "-nd" in k:
        return Tier.REJECTED
    if k == UNKNOWN.lower():
        return Tier.REVIEW
    if k.startswith("cc-by-sa-") or k in _SHARE_ALIKE_KEYS:
        return Tier.SHARE_ALIKE
    if k.startswith(("cc-by-", "bsd-")) or k in _ATTRIBUTION_KEYS:
        return Tier.ATTRIBUTION
    # A valid SPDX licence nobody has classified yet: a person must look at it.
    return Tier.REVIEW


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


def canonical(expression: str) -> str:
    """Validate ``expression`` and return its canonical SPDX spelling (markers expanded)."""
    return parse(expression).expression


@lru_cache(maxsize=4096)
def parse(expression: str) -> LicenseInfo:
    """Parse an SPDX expression (or a marker such as ``public-domain``) into a :class:`LicenseInfo`."""
    raw = (expression or "").strip()
    if not raw:
        raise LicenseError("empty licence expression")
    raw = MARKERS.get(raw.lower(), raw)
    licensing = _licensing()
    try:
        parsed = licensing.parse(raw, validate=True, strict=True)
    except ExpressionError as e:
        raise LicenseError(f"invalid licence expression {expression!r}: {e}") from e
    if parsed is None:
        raise LicenseError(f"empty licence expression {expression!r}")
    return LicenseInfo(
        expression=str(parsed),
        tier=_tier_of(parsed),
        keys=tuple(licensing.license_keys(parsed)),
    )


def _tier_of(node: object) -> Tier:
    if isinstance(node, LicenseWithExceptionSymbol):
        return _key_tier(node.license_symbol.key)
    if isinstance(node, LicenseSymbol):
        return _key_tier(node.key)
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
