"""Licences: the normaliser maps what the world writes to SPDX, tiers come from license-expression's
categorised index (the project's table overriding where stricter), expressions combine tiers."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from license_expression import get_license_index

from corpus_registry.errors import LicenseError
from corpus_registry.registry import licences
from corpus_registry.registry.licences import CATEGORY_TIERS, Tier


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
        # the index's categories: licences nobody listed by hand get a tier
        ("DL-DE-BY-2.0", "DL-DE-BY-2.0", Tier.ATTRIBUTION),
        ("NLOD-2.0", "NLOD-2.0", Tier.ATTRIBUTION),
        ("X11", "X11", Tier.ATTRIBUTION),
        ("MIT-CMU", "MIT-CMU", Tier.ATTRIBUTION),
        ("Apache-1.1", "Apache-1.1", Tier.ATTRIBUTION),
        ("Sleepycat", "Sleepycat", Tier.SHARE_ALIKE),  # copyleft in the index
        ("SSPL-1.0", "SSPL-1.0", Tier.REJECTED),  # source-available
        ("Elastic-2.0", "Elastic-2.0", Tier.REJECTED),
        ("Hippocratic-2.1", "Hippocratic-2.1", Tier.REJECTED),  # free but restricted
        # the project's table, where it is stricter than the index
        ("GFDL-1.3-only", "GFDL-1.3-only", Tier.REVIEW),  # invariant sections: a person decides
        ("GFDL-1.1-or-later", "GFDL-1.1-or-later", Tier.REVIEW),
    ],
)
def test_tiers(expr: str, canonical: str, tier: Tier) -> None:
    info = licences.parse(expr)
    assert info.expression == canonical
    assert info.tier is tier


COMMON_PILE = "Creative Commons Zero - Public Domain - https://creativecommons.org/publicdomain/zero/1.0/"


@pytest.mark.parametrize(
    ("written", "spdx"),
    [
        # SPDX ids in any case
        ("cc-by-4.0", "CC-BY-4.0"), ("Cc-By-Sa-4.0 or mit", "CC-BY-SA-4.0 OR MIT"), ("gpl-3.0", "GPL-3.0-only"),
        # Creative Commons names, every version, ports
        ("CC BY 4.0", "CC-BY-4.0"), ("CC-BY 4.0", "CC-BY-4.0"), ("CC BY-SA 3.0", "CC-BY-SA-3.0"),
        ("Creative Commons Attribution 4.0 International", "CC-BY-4.0"),
        ("Creative Commons Attribution-ShareAlike 4.0 International License", "CC-BY-SA-4.0"),
        ("Creative Commons Attribution-NonCommercial-ShareAlike 3.0 Unported", "CC-BY-NC-SA-3.0"),
        ("CC BY-SA 3.0 DE", "CC-BY-SA-3.0-DE"), ("CC BY-SA 3.0 FR", "LicenseRef-CC-BY-SA-3.0-FR"),
        ("CC0", "CC0-1.0"), ("CC0 1.0 Universal", "CC0-1.0"), ("CC Zero", "CC0-1.0"), ("CC BY", "LicenseRef-CC-BY"),
        # Creative Commons URLs: versions, ports, deed and legalcode pages
        ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
        ("http://creativecommons.org/licenses/by/2.0/legalcode", "CC-BY-2.0"),
        ("https://creativecommons.org/licenses/by-nc/4.0/deed.fr", "CC-BY-NC-4.0"),
        ("https://creativecommons.org/licenses/by-sa/3.0/de/deed.en", "CC-BY-SA-3.0-DE"),
        ("https://creativecommons.org/licenses/by/3.0/fr/", "LicenseRef-CC-BY-3.0-FR"),
        ("creativecommons.org/licenses/by-nc-nd/2.5/", "CC-BY-NC-ND-2.5"),
        ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
        ("https://creativecommons.org/publicdomain/mark/1.0/", "CC-PDM-1.0"),
        # public domain spellings
        ("Public Domain", "CC-PDM-1.0"), ("public domain.", "CC-PDM-1.0"), ("PD", "CC-PDM-1.0"),
        ("domaine public", "CC-PDM-1.0"), ("Gemeinfrei", "CC-PDM-1.0"),
        # the Common Pile's strings
        (COMMON_PILE, "CC0-1.0"),
        ("Creative Commons - Attribution - https://creativecommons.org/licenses/by/3.0/", "CC-BY-3.0"),
        ("Creative Commons - Attribution Share-Alike - https://creativecommons.org/licenses/by-sa/4.0/",
         "CC-BY-SA-4.0"),
        ("Creative Commons Public Domain Mark - https://creativecommons.org/publicdomain/mark/1.0/", "CC-PDM-1.0"),
        ("Creative Commons - Attribution Non-Commercial", "LicenseRef-CC-BY-NC"),
        ("Creative Commons - Attribution Non-Commercial No Derivatives", "LicenseRef-CC-BY-NC-ND"),
        ("Apache 2 License - https://www.apache.org/licenses/LICENSE-2.0", "Apache-2.0"),
        ("MIT License", "MIT"), ("BSD 3-Clause", "BSD-3-Clause"), ("ISC License", "ISC"),
        ("Artistic License 2.0", "Artistic-2.0"), ("GNU Free Documentation License", "GFDL-1.1-or-later"),
        ("Community Data License Agreement - Permissive 1.0 - https://cdla.dev/", "CDLA-Permissive-1.0"),
        ("Open Parliament Licence - https://www.parliament.uk/site-information/copyright-parliament/"
         "open-parliament-licence/", "OPL-UK-3.0"),
        # Hub licence ids
        ("pddl", "PDDL-1.0"), ("odbl", "ODbL-1.0"), ("odc-by", "ODC-By-1.0"), ("agpl-3.0", "AGPL-3.0-only"),
        ("lgpl-lr", "LGPLLR"), ("c-uda", "C-UDA-1.0"), ("cc-by-nc-sa-4.0", "CC-BY-NC-SA-4.0"),
        # plain names and expressions of them
        ("Apache License, Version 2.0", "Apache-2.0"), ("GNU GPL v3 or later", "GPL-3.0-or-later"),
        ("Licence Ouverte 2.0", "etalab-2.0"), ("CC BY 4.0 OR MIT", "CC-BY-4.0 OR MIT"),
        ("https://spdx.org/licenses/MIT.html", "MIT"),
        ("https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/", "OGL-UK-3.0"),
    ],
)
def test_the_normaliser_maps_what_the_world_writes(written: str, spdx: str) -> None:
    assert licences.normalize(written) == spdx
    assert licences.normalize(spdx) == spdx  # a canonical expression is a fixed point


@pytest.mark.parametrize("written", ["other", "BSD License", "Attribution", "foo", "CC BY 5.0", "CC BY 4.0 DE",
                                     "CC BY-ND-SA", "LicenseRef-foo", "see LICENSE", "", "MIT OR", "x" * 2000])
def test_what_cannot_be_mapped_is_not_guessed(written: str) -> None:
    assert licences.normalize(written) is None
    label = licences.label(written)
    assert (label.expression, label.raw, label.recognised) == ("LicenseRef-Unknown", written, False)
    assert licences.parse(label.expression).tier is Tier.REVIEW


def test_ports_and_versionless_names_take_their_elements_tier() -> None:
    assert licences.tier("LicenseRef-CC-BY-3.0-FR") is Tier.ATTRIBUTION
    assert licences.tier("LicenseRef-CC-BY-SA-3.0-FR") is Tier.SHARE_ALIKE
    assert licences.tier("Creative Commons - Attribution No Derivatives") is Tier.REJECTED


def test_every_licence_of_the_index_has_its_categorys_tier_or_a_stricter_one() -> None:
    index = [e for e in get_license_index() if e.get("spdx_license_key") and e.get("category") in CATEGORY_TIERS
             and not e.get("is_exception")]
    assert len(index) > 2000
    for entry in index:
        info = licences.parse(entry["spdx_license_key"])
        assert info.tier.rank >= CATEGORY_TIERS[entry["category"]].rank, entry["spdx_license_key"]
    unclassified = {licences.tier(e["spdx_license_key"]) for e in index if e["category"] in ("CLA", "Unstated License")}
    assert unclassified == {Tier.REVIEW}


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


@pytest.mark.parametrize("bad", ["bogus-1.0", "CC-BY-4.0 OR", "", "MIT AND AND MIT", "389-exception",
                                 "Classpath-exception-2.0 OR MIT"])
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
    assert not licences.more_permissive("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")


_WORDS = st.sampled_from(["CC", "BY", "SA", "NC", "ND", "4.0", "3.0", "fr", "de", "Creative", "Commons",
                          "Attribution", "public", "domain", "MIT", "GPL", "or", "and", "AND", "OR", "WITH",
                          "(", ")", "-", "/", "https://creativecommons.org/licenses/", "licence", "v2", "+",
                          "LicenseRef-", "zero", "0", "Universal", "deed.fr", "\u00e9", "\x00", " "])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(_WORDS, max_size=12).map(" ".join)))
def test_normalising_never_fails_and_is_idempotent(written: str) -> None:
    """Hostile or random strings: None or a canonical expression that parses to itself."""
    found = licences.normalize(written)
    if found is not None:
        assert licences.normalize(found) == found
        assert licences.parse(found).expression == found
        assert licences.parse(written).expression == found
    else:
        with pytest.raises(LicenseError):
            licences.parse(written)
    assert licences.label(written).expression == (found or licences.UNKNOWN)
