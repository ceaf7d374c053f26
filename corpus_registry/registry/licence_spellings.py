"""How the world writes licences, and how to read each way as one SPDX id.

:func:`recognise` reads one licence as datasets, catalogues and the Hub write it: SPDX ids and
aliases in any case, Creative Commons names and URLs (every version, ports and ``deed`` /
``legalcode`` pages), "public domain" spellings, the Common Pile's ``Name - URL`` strings, Hub
licence ids and plain names (``MIT License``, ``GNU GPL v3 or later``). A Creative Commons port
without an SPDX id, or a name without a version, becomes a project reference
(``LicenseRef-CC-BY-3.0-FR``, ``LicenseRef-CC-BY-NC``). Expressions are
:mod:`corpus_registry.registry.licences`' business; so are tiers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from license_expression import LicenseSymbol, Licensing, get_license_index, get_spdx_licensing

PUBLIC_DOMAIN = "CC-PDM-1.0"
UNKNOWN = "LicenseRef-Unknown"
PROPRIETARY = "LicenseRef-Proprietary"
MAX_LENGTH = 1000  # a licence string longer than this is not a licence string

# The project's Creative Commons references: ports without an SPDX id, licences without a version.
CC_REF = re.compile(r"^licenseref-cc-(by(?:-nc)?(?:-nd|-sa)?)(?:-(\d\.\d)(?:-([a-z]{2,3}))?)?$")

# -- spellings the world uses --------------------------------------------------------------------

#: Whole strings (lower case, runs of spaces, ``_`` and ``-`` as one space, no final dot) → SPDX.
_SPELLINGS: dict[str, str] = {
    **dict.fromkeys((
        "public domain", "publicdomain", "pd", "public domain work", "public domain mark",
        "public domain mark 1.0", "pdm", "cc pdm", "cc pdm 1.0", "no known copyright", "no known copyright restrictions",
        "domaine public", "dominio publico", "dominio pubblico", "gemeinfrei", "publiek domein",
        "domínio público", "dominio público",
    ), PUBLIC_DOMAIN),
    **dict.fromkeys(("unknown", "not known", "unspecified", "undetermined", "no licence", "no license",
                     "none", "n/a", "na", "licenseref unknown"), UNKNOWN),
    **dict.fromkeys(("proprietary", "all rights reserved", "copyrighted", "licenseref proprietary"), PROPRIETARY),
    # Hub licence ids that are not SPDX ids (an unversioned GNU licence lets the reader pick any version)
    "pddl": "PDDL-1.0", "odbl": "ODbL-1.0", "odc by": "ODC-By-1.0", "gpl": "GPL-1.0-or-later",
    "lgpl": "LGPL-2.0-or-later", "agpl": "AGPL-1.0-or-later", "gfdl": "GFDL-1.1-or-later", "c uda": "C-UDA-1.0",
    "lgpl lr": "LGPLLR", "llama2": "LicenseRef-scancode-llama-2-license-2023",
    "bigscience openrail m": "LicenseRef-scancode-bigscience-open-rail-m",
    "bigcode openrail m": "LicenseRef-scancode-bigcode-open-rail-m-v1",
    # names (the Common Pile's among them)
    "licence ouverte": "etalab-2.0", "licence ouverte 2.0": "etalab-2.0", "open licence 2.0": "etalab-2.0",
    "licence ouverte etalab 2.0": "etalab-2.0", "etalab open license 2.0": "etalab-2.0",
    "open parliament licence": "OPL-UK-3.0", "open government licence": "OGL-UK-3.0",
    "community data license agreement permissive 1.0": "CDLA-Permissive-1.0",
    "community data license agreement sharing 1.0": "CDLA-Sharing-1.0",
    "open data commons public domain dedication and license": "PDDL-1.0",
    "open data commons attribution license": "ODC-By-1.0", "open database license": "ODbL-1.0",
    "datenlizenz deutschland namensnennung 2.0": "DL-DE-BY-2.0",
    "datenlizenz deutschland zero 2.0": "DL-DE-ZERO-2.0",
    "norwegian licence for open government data 2.0": "NLOD-2.0",
}
#: Phrases inside licence names → the abbreviation SPDX ids use (longest first).
_PHRASES = (
    ("gnu lesser general public", "lgpl"), ("gnu library general public", "lgpl"),
    ("gnu affero general public", "agpl"), ("gnu general public", "gpl"), ("gnu free documentation", "gfdl"),
    ("gnu lgpl", "lgpl"), ("gnu agpl", "agpl"), ("gnu gpl", "gpl"), ("gnu fdl", "gfdl"),
    ("lesser general public", "lgpl"), ("affero general public", "agpl"), ("general public", "gpl"),
    ("free documentation", "gfdl"), ("mozilla public", "mpl"), ("eclipse public", "epl"),
    ("european union public", "eupl"), ("boost software", "bsl"), ("academic free", "afl"),
    ("open software", "osl"), ("open government", "ogl uk"), ("sil open font", "ofl"),
    ("open data commons open database", "odbl"), ("zero clause bsd", "0bsd"), ("bsd zero clause", "0bsd"),
)
_NAME_NOISE = re.compile(r"\b(?:the|licen[cs]es?|version|ver|agreement)\b\.?|\bv(?=\d)")
_OR_LATER = re.compile(r"(?:\s*\+|\s+or\s+(?:any\s+)?later(?:\s+version)?|\s+or\s+newer)$")
_ONLY = re.compile(r"\s+only$")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)

# Creative Commons names: "CC BY-SA 4.0", "Creative Commons Attribution-NonCommercial 3.0 Unported"…
_CC_PREFIX = re.compile(r"^(?:creative\s*commons|cc)(?:\b|(?=0))\s*")
_CC_ELEMENTS = {
    "by": "BY", "attribution": "BY", "sa": "SA", "sharealike": "SA", "share alike": "SA",
    "nc": "NC", "noncommercial": "NC", "non commercial": "NC", "nd": "ND", "noderivs": "ND",
    "noderivatives": "ND", "no derivatives": "ND", "no derivs": "ND", "no derivative works": "ND",
}
#: Creative Commons jurisdictions (ports) of versions 1.0 to 3.0, and the intergovernmental one.
CC_PORTS = frozenset(
    "am ar at au az be bg br ca ch cl cn co cr cz de dk ec ee eg es fi fr ge gr gt hk hr hu ie igo il in it "
    "jp kr lu mk mt mx my nl no nz pe ph pl pr pt ro rs se sg si sk th tw ug uk us ve vn za".split())
_CC_WORDS = re.compile(
    r"\b(?:(?P<element>no derivative works|no derivatives|no derivs|non commercial|share alike|noncommercial|"
    r"sharealike|noderivatives|noderivs|attribution|by|sa|nc|nd)|(?P<zero>zero|0)|(?P<pdm>pdm)|"
    r"(?P<version>\d(?:\.\d)?)|"
    r"(?P<noise>international|unported|generic|universal|public|licen[cs]e|deed|legal ?code|version|v)|"
    r"(?P<port>[a-z]{2,3}))\b")
_CC_URL = re.compile(
    r"creativecommons\.org/(?:licen[cs]es/(?P<elements>[a-z\-]+)/(?P<version>\d\.\d)(?:/(?P<port>[a-z]{2,3}))?"
    r"|publicdomain/(?P<pd>zero|mark)/1\.0)(?:/|$|\?|#)", re.IGNORECASE)
_SPDX_URL = re.compile(r"(?:spdx\.org/licenses|opensource\.org/licenses?)/(?P<key>[A-Za-z0-9.+\-]+?)(?:\.html?|\.php)?(?:/|$|\?|#)",
                       re.IGNORECASE)
_OTHER_URLS = (
    (re.compile(r"apache\.org/licenses/license-2\.0", re.IGNORECASE), "Apache-2.0"),
    (re.compile(r"gnu\.org/licenses/(?:old-licenses/)?(?P<name>a?l?gpl|fdl)-(?P<version>\d\.\d)", re.IGNORECASE), ""),
    (re.compile(r"etalab\.gouv\.fr/(?:wp-content/uploads/\d+/\d+/)?(?:licence-ouverte|open-licence)", re.IGNORECASE),
     "etalab-2.0"),
    (re.compile(r"nationalarchives\.gov\.uk/doc/open-government-licence/version/(?P<version>[123])", re.IGNORECASE), ""),
    (re.compile(r"parliament\.uk/site-information/copyright(?:-parliament)?/open-parliament-licence", re.IGNORECASE),
     "OPL-UK-3.0"),
    (re.compile(r"cdla\.(?:dev|io)/permissive-1-0", re.IGNORECASE), "CDLA-Permissive-1.0"),
    (re.compile(r"cdla\.(?:dev|io)/permissive-2-0", re.IGNORECASE), "CDLA-Permissive-2.0"),
    (re.compile(r"cdla\.(?:dev|io)/sharing-1-0", re.IGNORECASE), "CDLA-Sharing-1.0"),
    (re.compile(r"opendatacommons\.org/licenses/(?P<odc>pddl|odbl|by)", re.IGNORECASE), ""),
    (re.compile(r"govdata\.de/dl-de/(?P<dl>by|zero)-2-0", re.IGNORECASE), ""),
)


@dataclass(frozen=True, slots=True)
class LicenceIndex:
    """What license-expression knows: SPDX symbols (keys and aliases) and its categorised index."""

    licensing: Licensing
    keys: dict[str, str]  # lower-case licence key or alias → canonical SPDX key
    exceptions: frozenset[str]  # lower-case exception keys (``WITH Classpath-exception-2.0``)
    categories: dict[str, str]  # lower-case SPDX key → index category


@lru_cache(maxsize=1)
def index() -> LicenceIndex:
    spdx = get_spdx_licensing()
    symbols = {s.key: s for s in spdx.known_symbols.values()}
    for key in (UNKNOWN, PROPRIETARY):
        symbols[key] = LicenseSymbol(key)
    keys: dict[str, str] = {}
    exceptions: set[str] = set()
    for symbol in symbols.values():
        if getattr(symbol, "is_exception", False):  # only after WITH, never a licence of its own
            exceptions.add(symbol.key.lower())
            continue
        keys[symbol.key.lower()] = symbol.key
        for alias in getattr(symbol, "aliases", ()) or ():
            keys.setdefault(str(alias).lower(), symbol.key)
    categories: dict[str, str] = {}
    for entry in get_license_index():
        key = entry.get("spdx_license_key")
        if not key or entry.get("category") is None:
            continue
        for k in (key, *(entry.get("other_spdx_license_keys") or ())):
            categories.setdefault(k.lower(), entry["category"])
    return LicenceIndex(Licensing(list(symbols.values())), keys, frozenset(exceptions), categories)


def _squash(text: str) -> str:
    """Lower case, NFKC, quotes and brackets off, runs of spaces / ``_`` / ``-`` as one space."""
    text = unicodedata.normalize("NFKC", text).strip().strip("\"'`“”«»[]()").strip()
    text = re.sub(r"[\s_\-–—]+", " ", text.lower())
    return text.rstrip(".;, ").strip()


def spdx_key(candidate: str) -> str | None:
    """``candidate`` as an SPDX key or alias, or with ``.0`` added to its version (``Apache-2``).

    Scancode's own keys are not names: ``attribution`` is a scancode key (of the Attribution
    Assurance License), so a label reading "Attribution" must not map to it."""
    keys = index().keys
    for c in (candidate, re.sub(r"-(\d+)$", r"-\1.0", candidate)):
        if c.lower() in keys:
            return keys[c.lower()]
    return None


def _cc_id(elements: set[str], version: str | None, port: str | None) -> str | None:
    """The SPDX id (or project reference) of a Creative Commons licence from its parts."""
    if "BY" not in elements or {"ND", "SA"} <= elements or not elements <= {"BY", "NC", "ND", "SA"}:
        return None  # no such licence
    name = "-".join(e for e in ("BY", "NC", "ND", "SA") if e in elements)
    if version is None:
        return None if port else f"LicenseRef-CC-{name}"
    version = version if "." in version else f"{version}.0"
    if version not in ("1.0", "2.0", "2.1", "2.5", "3.0", "4.0"):
        return None
    if port is not None and (port not in CC_PORTS or version == "4.0"):
        return None  # 4.0 has no ports
    spdx = spdx_key(f"CC-{name}-{version}" + (f"-{port}" if port else ""))
    if spdx is not None:
        return spdx
    return f"LicenseRef-CC-{name}-{version}" + (f"-{port.upper()}" if port else "")


def _from_cc_name(squashed: str) -> str | None:
    """``CC BY-SA 4.0``, ``Creative Commons Attribution 4.0 International``, ``CC0 1.0 Universal``…"""
    m = _CC_PREFIX.match(squashed)
    if not m:
        return None
    rest = re.sub(r"[,:;()/]", " ", squashed[m.end():])
    elements: set[str] = set()
    version: str | None = None
    port: str | None = None
    zero = pdm = False
    pos = 0
    for token in _CC_WORDS.finditer(rest):
        if rest[pos:token.start()].strip():
            return None  # a word that is not part of a Creative Commons name
        pos = token.end()
        if token.group("element"):
            elements.add(_CC_ELEMENTS[token.group("element")])
        elif token.group("zero"):
            zero = True
        elif token.group("pdm"):
            pdm = True
        elif token.group("version"):
            if version is not None:
                return None
            version = token.group("version")
        elif token.group("port"):
            if port is not None:
                return None
            port = token.group("port")
    if rest[pos:].strip():
        return None
    if elements:
        return None if zero or pdm else _cc_id(elements, version, port)
    if port is not None:
        return None
    if zero and not pdm:
        return "CC0-1.0" if version in (None, "1", "1.0") else None
    if pdm and not zero:
        return PUBLIC_DOMAIN if version in (None, "1", "1.0") else None
    return None


def _from_url(url: str) -> str | None:
    m = _CC_URL.search(url)
    if m:
        if m.group("pd"):
            return "CC0-1.0" if m.group("pd").lower() == "zero" else PUBLIC_DOMAIN
        parts = m.group("elements").lower().split("-")
        if not parts or any(p not in ("by", "sa", "nc", "nd") for p in parts):
            return None
        return _cc_id({p.upper() for p in parts}, m.group("version"), (m.group("port") or "").lower() or None)
    m = _SPDX_URL.search(url)
    if m:
        return spdx_key(m.group("key"))
    for pattern, spdx in _OTHER_URLS:
        m = pattern.search(url)
        if not m:
            continue
        if spdx:
            return spdx
        groups = m.groupdict()
        if groups.get("odc"):
            return {"pddl": "PDDL-1.0", "odbl": "ODbL-1.0", "by": "ODC-By-1.0"}[groups["odc"].lower()]
        if groups.get("dl"):
            return "DL-DE-BY-2.0" if groups["dl"].lower() == "by" else "DL-DE-ZERO-2.0"
        if groups.get("name"):
            name = {"fdl": "GFDL"}.get(groups["name"].lower(), groups["name"].upper())
            return spdx_key(f"{name}-{groups['version']}")
        if groups.get("version"):
            return f"OGL-UK-{groups['version']}.0"
    return None


def _from_name(squashed: str) -> str | None:
    """Plain names: ``MIT License``, ``Apache License, Version 2.0``, ``GNU GPL v3 or later``…"""
    text, suffix = squashed, ""
    if _OR_LATER.search(text):
        text, suffix = _OR_LATER.sub("", text), "-or-later"
    elif _ONLY.search(text):
        text, suffix = _ONLY.sub("", text), "-only"
    for phrase, abbrev in _PHRASES:
        text = text.replace(phrase, abbrev)
    key = re.sub(r"[\s,/]+", "-", _NAME_NOISE.sub(" ", text)).strip("-")
    if not key:
        return None
    if key in ("gpl", "lgpl", "agpl", "gfdl"):  # no version: the licence lets the reader choose any
        return _SPELLINGS[key] if suffix != "-only" else None
    if re.match(r"^(a?l?gpl|gfdl|apache|mpl|epl|afl|osl|eupl|artistic)-", key):
        key = re.sub(r"-(\d)(?=-|$)", r"-\1.0", key)
    if suffix:
        return spdx_key(key + suffix) or (spdx_key(key + "+") if suffix == "-or-later" else None)
    return spdx_key(key)


def recognise(text: str) -> str | None:
    """One licence written any way the world writes it, as an SPDX id (None: not recognised)."""
    squashed = _squash(text)
    if not squashed:
        return None
    if squashed.startswith("licenseref cc "):  # our own Creative Commons references, in any case
        return _recognise_cc_ref(squashed.replace(" ", "-"))
    spelling = _SPELLINGS.get(squashed)
    if spelling is not None:
        return spelling
    for url in [*_URL.findall(text), text]:  # a URL, with or without its scheme
        found = _from_url(url)
        if found is not None:
            return found
    if _URL.search(text):  # "Name - URL" as the Common Pile writes it: the name decides if the URL did not
        name = _squash(_URL.sub(" ", text).strip(" -–—:,"))
        if name and name != squashed:
            return recognise(name)
        return None
    return _from_cc_name(squashed) or spdx_key(squashed.replace(" ", "-")) or _from_name(squashed)


def _recognise_cc_ref(ref: str) -> str | None:
    m = CC_REF.match(ref)
    if not m:
        return None
    elements, version, port = m.groups()
    return _cc_id(set(elements.upper().split("-")), version, port)
