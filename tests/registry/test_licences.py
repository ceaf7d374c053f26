import pytest

from corpus_registry.errors import LicenseError
from corpus_registry.registry import licences
from corpus_registry.registry.licences import Tier


@pytest.mark.parametrize(
    ("expr", "canonical", "tier"),
    [
        ("public-domain", "CC-PDM-1.0", Tier.PUBLIC_DOMAIN),
        ("cc0-1.0", "CC0-1.0", Tier.PUBLIC_DOMAIN),
        ("etalab-2.0", "etalab-2.0", Tier.ATTRIBUTION),
        ("CC-BY-4.0", "CC-BY-4.0", Tier.ATTRIBUTION),
        ("MIT", "MIT", Tier.ATTRIBUTION),
        ("CC-BY-SA-4.0", "CC-BY-SA-4.0", Tier.SHARE_ALIKE),
        ("ODbL-1.0", "ODbL-1.0", Tier.SHARE_ALIKE),
        ("GFDL-1.3-no-invariants-only", "GFDL-1.3-no-invariants-only", Tier.SHARE_ALIKE),
        ("CC-BY-NC-4.0", "CC-BY-NC-4.0", Tier.REJECTED),
        ("CC-BY-ND-4.0", "CC-BY-ND-4.0", Tier.REJECTED),
        ("proprietary", "LicenseRef-Proprietary", Tier.REJECTED),
        ("unknown", "LicenseRef-Unknown", Tier.REVIEW),
        ("Sleepycat", "Sleepycat", Tier.REVIEW),  # valid SPDX, not classified: a person decides
    ],
)
def test_tiers(expr: str, canonical: str, tier: Tier) -> None:
    info = licences.parse(expr)
    assert info.expression == canonical
    assert info.tier is tier


def test_or_takes_the_best_branch_and_and_the_worst() -> None:
    assert licences.tier("CC-BY-NC-4.0 OR CC0-1.0") is Tier.PUBLIC_DOMAIN
    assert licences.tier("CC-BY-4.0 AND CC-BY-SA-4.0") is Tier.SHARE_ALIKE
    assert licences.tier("CC0-1.0 AND CC-BY-NC-4.0") is Tier.REJECTED
    assert licences.tier("(MIT OR CC-BY-NC-4.0) AND CC-BY-4.0") is Tier.ATTRIBUTION


def test_obligations() -> None:
    assert not licences.parse("public-domain").requires_attribution
    assert licences.parse("etalab-2.0").requires_attribution
    sa = licences.parse("CC-BY-SA-4.0")
    assert sa.requires_attribution and sa.share_alike


@pytest.mark.parametrize("bad", ["bogus-1.0", "CC-BY-4.0 OR", "", "MIT AND AND MIT"])
def test_unknown_or_malformed_expressions_are_errors(bad: str) -> None:
    with pytest.raises(LicenseError):
        licences.parse(bad)


def test_hub_ids() -> None:
    assert licences.hub_license_id("CC-BY-4.0") == "cc-by-4.0"
    assert licences.hub_license_id("etalab-2.0") == "etalab-2.0"
    assert licences.hub_license_id("ODbL-1.0") == "odbl"
    assert licences.hub_license_id("GPL-3.0-only") == "gpl-3.0"
    assert licences.hub_license_id("public-domain") == "other"
    assert licences.hub_license_id("MIT OR CC-BY-4.0") == "other"


def test_laundering_is_detected() -> None:
    assert licences.more_permissive("public-domain", "CC-BY-4.0")
    assert licences.more_permissive("CC-BY-4.0", "CC-BY-SA-4.0")
    assert licences.more_permissive("CC-BY-4.0", "unknown")
    assert not licences.more_permissive("CC-BY-SA-4.0", "CC-BY-4.0")
    assert not licences.more_permissive("etalab-2.0", "etalab-2.0")
