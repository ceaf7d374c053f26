"""A small registry for the web tests, built by the real tools: two real sources, one source of
hostile records (identifiers with ``/``, ``..``, ``?`` and ``#``, titles and creators that are
HTML), two built versions of a release, and one account of each role with an API token."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.testclient import TestClient

from corpus_registry.build.builder import build_release
from corpus_registry.build.spec import parse_spec
from corpus_registry.registry.ingest import ingest
from corpus_registry.registry.registry import Registry
from corpus_registry.registry.sources import sync_sources
from corpus_registry.web import WebSettings, create_app
from corpus_registry.web import auth

from tests.conftest import DATA

PASSWORD = "correct horse battery staple"
ROLES = ("contributor", "reviewer", "admin")
RELEASE = "web-test"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'

#: Records of the hostile source: (identifier, title, creator); texts are slices of the French Genesis.
HOSTILE = [
    ("plain-1", "Le commencement", "Moïse"),
    ("a/b/c", "Chemin à trois étages", "Anonyme"),
    ("dots/../up", "Un identifiant avec ..", "Anonyme"),
    ("q?x=1#frag", "Point d'interrogation", "Anonyme"),
    ("space and %41", "Espaces et pour-cent", "Anonyme"),
    ("xss-title", XSS, f'"><b onmouseover=alert(1)>{XSS}'),
    ("copy-of-plain-1", "Le commencement (copie)", "Moïse"),  # the same text as plain-1: an exact duplicate
    ("court", "Trop court", "Anonyme"),
]


def hostile_records() -> list[dict[str, str]]:
    words = (DATA / "nltk-genesis/genesis/french.txt").read_bytes().decode("latin-1").split()
    records = []
    for n, (identifier, title, creator) in enumerate(HOSTILE):
        start = 6000 + 400 * (0 if identifier == "copy-of-plain-1" else n)
        size = {"court": 30, "dots/../up": 200}.get(identifier, 350)
        records.append({"id": identifier, "title": title, "creator": creator,
                        "text": " ".join(words[start:start + size])})
    return records


def catalogue(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hostile").mkdir(exist_ok=True)
    with (folder / "hostile" / "records.jsonl").open("w", encoding="utf-8") as f:
        for record in hostile_records():
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    path = folder / "sources.yaml"
    path.write_text(f"""sources:
  - slug: nltk-genesis
    name: NLTK Genesis corpus
    collection: OpenCulture
    license: public-domain
    reader:
      kind: text
      path: {DATA / 'nltk-genesis/genesis'}
      allow_outside: true
      glob: "*.txt"
      encodings: {{swedish.txt: cp865}}
    documents:
      finnish:
        review: "1992 Finnish church translation: likely still under copyright"
      lolcat:
        license: unknown
        language: en
        review: "LOLCat Bible: licence not established"
      portuguese:
        license: unknown
        review: "Brazilian Portuguese, version not named"
  - slug: hostile
    name: Records with hostile identifiers and titles
    collection: OpenWeb
    license: CC-BY-4.0
    attribution: "Hostile test records"
    reader:
      kind: jsonl
      path: {folder / 'hostile'}
      allow_outside: true
      title_field: title
      creator_field: creator
""", encoding="utf-8")
    return path


def spec(version: str, min_words: int) -> object:
    return parse_spec({
        "name": RELEASE, "version": version,
        "select": {"languages": ["fr", "en"], "license_tiers": ["public_domain", "attribution"]},
        "filters": {"length": {"min_words": min_words}},
        "dedup": {"exact": True, "near": True, "threshold": 0.8},
    }, origin="web-test spec")


@dataclass
class Site:
    registry: Registry
    folder: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def app(self, **settings: object):  # noqa: ANN201 - an ASGI app
        return as_served(create_app(self.registry, WebSettings(**settings)))  # type: ignore[arg-type]

    def client(self, role: str | None = None, **settings: object) -> TestClient:
        """A browser: anonymous, or signed in through the login form as ``role``."""
        client = TestClient(self.app(**settings), follow_redirects=False)
        if role is not None:
            login(client, role)
        return client

    def api(self, role: str | None = None, **settings: object) -> TestClient:
        """A script: the JSON API with ``role``'s bearer token (none: anonymous)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return TestClient(self.app(**settings), headers=headers, follow_redirects=False)


def as_served(app: Any) -> Any:
    """``app`` with the request path decoded once from the raw path, as uvicorn does: Starlette's
    test client decodes it twice (``%2541`` would reach the app as ``A`` instead of ``%41``)."""

    async def served(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "path": unquote(scope["raw_path"].decode("ascii"))}
        await app(scope, receive, send)

    return served


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def login(client: TestClient, role: str) -> None:
    page = client.get("/login")
    r = client.post("/login", data={"name": role, "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text


def make_site(registry: Registry, folder: Path) -> Site:
    sync_sources(registry, catalogue_path=catalogue(folder))
    ingest(registry, progress=False)
    build_release(registry, spec("1.0.0", 100), out_dir=folder / "release-1.0.0", progress=False)  # type: ignore[arg-type]
    build_release(registry, spec("1.1.0", 300), out_dir=folder / "release-1.1.0", progress=False)  # type: ignore[arg-type]
    site = Site(registry, folder)
    for role in ROLES:
        auth.add_user(registry, name=role, role=role, password=PASSWORD)
        site.tokens[role] = auth.create_token(registry, name=role, label="tests")
    return site
