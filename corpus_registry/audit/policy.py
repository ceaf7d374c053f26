"""Licence policies for audits: which licences a dataset may carry.

The default policy is the project's own: every open tier (public domain, attribution,
share-alike). A policy file narrows it, for instance "public domain only" or "no share-alike",
and may add SPDX allow/deny lists. Expressions are judged like everywhere else in the project:
``OR`` passes if one branch passes, ``AND`` needs every part to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
)
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from corpus_registry.config import read_yaml, validate
from corpus_registry.errors import CorpusRegistryError
from corpus_registry.registry import licences
from corpus_registry.registry.licences import OPEN_TIERS, Tier

_TREE = Licensing()  # a plain parser over canonical expressions: the symbols were validated already


class Policy(BaseModel):
    """What an audited dataset may contain. Unknown keys in a policy file are errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = "open-tiers"
    description: str | None = None
    tiers: list[Tier] = Field(default_factory=lambda: list(OPEN_TIERS),
                              description="allowed tiers: public_domain, attribution, share_alike")
    allow: list[str] | None = Field(default=None, description="SPDX ids: only these licences pass")
    deny: list[str] = Field(default_factory=list, description="SPDX ids that never pass")
    allow_unknown_documents: bool = Field(
        default=False, description="accept rows the registry does not know (judged by their own licence column)")
    require_attribution: bool = Field(
        default=True, description="every attribution-requiring document must be credited in ATTRIBUTION.md")

    _verdicts: dict[tuple[str, str | None], str | None] = PrivateAttr(default_factory=dict)

    @field_validator("tiers")
    @classmethod
    def _open_tiers_only(cls, tiers: list[Tier]) -> list[Tier]:
        if not tiers:
            raise ValueError("name at least one tier (public_domain, attribution, share_alike)")
        closed = [t.value for t in tiers if not t.open]
        if closed:
            raise ValueError(f"tiers {closed} can never pass an audit; allowed: public_domain, "
                             "attribution, share_alike")
        return sorted(set(tiers), key=lambda t: t.rank)

    @field_validator("allow", "deny")
    @classmethod
    def _single_licences(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        keys = []
        for value in values:
            try:
                info = licences.parse(value)
            except CorpusRegistryError as e:
                raise ValueError(str(e)) from e
            if len(info.keys) != 1:
                raise ValueError(f"{value!r}: list single licence ids, not expressions")
            keys.append(info.keys[0])
        return sorted(set(keys), key=str.lower)

    def describe(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def check(self, expression: str, *, tier: str | None = None) -> str | None:
        """Why ``expression`` fails this policy, or None if it passes.

        ``tier`` is the registry's verdict for the document (it may hold a document back for
        review even when its licence string is open); it must be allowed too.
        """
        key = (expression, tier)
        if key not in self._verdicts:
            self._verdicts[key] = self._check(expression, tier)
        return self._verdicts[key]

    def _check(self, expression: str, tier: str | None) -> str | None:
        allowed = {t.value for t in self.tiers}
        if tier is not None and tier not in allowed:
            return f"tier {tier} is not allowed (policy {self.name}: {', '.join(sorted(allowed))})"
        try:
            canonical = licences.parse(expression).expression
            tree = _TREE.parse(canonical)
        except (CorpusRegistryError, ExpressionError) as e:
            return f"licence {expression!r} does not parse ({e})"
        return self._judge(tree)

    def _judge(self, node: object) -> str | None:
        if isinstance(node, LicenseWithExceptionSymbol):
            return self._judge_key(node.license_symbol.key)
        if isinstance(node, LicenseSymbol):
            return self._judge_key(node.key)
        if isinstance(node, OR):
            reasons = [self._judge(a) for a in node.args]
            return None if any(r is None for r in reasons) else reasons[0]
        if isinstance(node, AND):
            return next((r for r in (self._judge(a) for a in node.args) if r is not None), None)
        return f"unsupported licence expression {node!r}"

    def _judge_key(self, key: str) -> str | None:
        low = key.lower()
        if any(low == d.lower() for d in self.deny):
            return f"{key} is denied by policy {self.name}"
        if self.allow is not None and not any(low == a.lower() for a in self.allow):
            return f"{key} is not in the allow-list of policy {self.name}"
        tier = licences.tier(key)
        if tier not in self.tiers:
            return f"{key} is {tier.value}, not allowed by policy {self.name}"
        return None


DEFAULT_POLICY = Policy()


def load_policy(path: Path) -> Policy:
    """Read and validate a policy YAML file; any problem is one :class:`ConfigError` line."""
    return parse_policy(read_yaml(path, what="policy file"), origin=str(path))


def parse_policy(data: Any, *, origin: str = "policy") -> Policy:
    return validate(Policy, {} if data is None else data, origin=origin,
                    expected="a policy mapping (name, tiers, allow, deny, allow_unknown_documents, "
                             "require_attribution)")
