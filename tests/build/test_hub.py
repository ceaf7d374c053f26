"""push_release against the project's loopback Hub, checked with the real clients: huggingface_hub
in-process, ``datasets.load_dataset`` in a fresh subprocess (it reads HF_ENDPOINT at import)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hubserver import HubServer, session_hub

HUB = session_hub()  # before any Hub client import: sets HF_ENDPOINT & co. in os.environ

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from huggingface_hub import DatasetCard, HfApi, hf_hub_download

from corpus_registry.errors import HubError
from corpus_registry.hub import PushResult, push_release
from corpus_registry.registry.documents import count_words, normalize_text, text_sha256

DATA = Path(__file__).resolve().parents[2] / "data"
CODE_CIVIL = DATA / "legifrance-code-civil" / "code-civil"
from corpus_registry.build.release import SCHEMA  # noqa: E402 - the release format under test

Row = dict[str, object]


def _row(path: Path, *, source: str, language: str, licence: str, collection: str) -> Row:
    text = normalize_text(path.read_text(encoding="utf-8"))
    return {
        "identifier": f"{source}/{path.stem}",
        "collection": collection,
        "open_type": "Open Culture",
        "license": licence,
        "date": None,
        "title": path.stem,
        "creator": None,
        "language": language,
        "word_count": count_words(text),
        "token_count": None,
        "text": text,
        "source": source,
        "url": path.relative_to(DATA).as_posix(),
        "sha256": text_sha256(text),
    }


def french_rows(count: int) -> list[Row]:
    articles = sorted(CODE_CIVIL.rglob("*.md"))[:count]
    return [
        _row(
            p,
            source="legifrance-code-civil",
            language="fr",
            licence="etalab-2.0",
            collection="OpenGovernment",
        )
        for p in articles
    ]


def english_rows() -> list[Row]:
    paths = [
        DATA / "nltk-udhr/udhr/en_English-Latin1.txt",
        DATA / "nltk-genesis/genesis/english-web.txt",
        DATA / "nltk-genesis/genesis/english-kjv.txt",
    ]
    return [
        _row(
            p, source=p.parts[-3], language="en", licence="public-domain", collection="OpenCulture"
        )
        for p in paths
    ]


def write_release(
    root: Path, *, version: str, fr: list[Row], en: list[Row], fr_shards: int = 2
) -> Path:
    """A release folder laid out like ``corpus_registry.build.builder`` writes it: a config per
    language (``data/<lang>/train-XXXXX-of-YYYYY.parquet``), ``default`` = all languages,
    a manifest listing every shard's sha256, the dataset card and ATTRIBUTION.md."""
    folder = root / f"release-{version}"
    hashes: dict[str, str] = {}
    for config, rows, shards in (("en", en, 2), ("fr", fr, fr_shards)):
        (folder / "data" / config).mkdir(parents=True)
        half = (len(rows) + 1) // 2
        parts = [rows[:half], rows[half:]] if shards == 2 else [rows]
        for index, part in enumerate(parts):
            relative = f"data/{config}/train-{index:05d}-of-{len(parts):05d}.parquet"
            pq.write_table(pa.Table.from_pylist(part, schema=SCHEMA), folder / relative)
            hashes[relative] = hashlib.sha256((folder / relative).read_bytes()).hexdigest()
    globs = {
        "default": ["data/en/*.parquet", "data/fr/*.parquet"],
        "en": ["data/en/*.parquet"],
        "fr": ["data/fr/*.parquet"],
    }
    manifest = {
        "name": "test-release",
        "version": version,
        "shards": hashes,
        "configs": {"default": len(en) + len(fr), "en": len(en), "fr": len(fr)},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    header = {
        "license": "other",
        "license_name": "mixed-open",
        "language": ["en", "fr"],
        "pretty_name": "Test release",
        "size_categories": ["n<1K"],
        "configs": [
            {"config_name": name, "data_files": [{"split": "train", "path": paths}]}
            for name, paths in globs.items()
        ],
    }
    card = f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n# Test release {version}\n"
    (folder / "README.md").write_text(card, encoding="utf-8")
    attribution = "Légifrance (DILA), base LEGI, etalab-2.0\n"
    (folder / "ATTRIBUTION.md").write_text(attribution, encoding="utf-8")
    return folder


def api() -> HfApi:
    return HfApi(endpoint=HUB.url)


def load_in_subprocess(*queries: tuple[str, str, str]) -> list[list[Row]]:
    """``datasets.load_dataset(repo, config, revision=tag)`` in a fresh interpreter, like a user."""
    script = (
        "import json, sys, datasets\n"
        "out = [datasets.load_dataset(r, c, revision=t, split='train').to_list()"
        " for r, c, t in json.loads(sys.argv[1])]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(queries)],
        check=False,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@dataclass
class Story:
    """One repo taken through v1, an unchanged re-push, a dry run and v2."""

    repo: str
    v1_folder: Path
    v1: PushResult
    again: PushResult
    writes_during_again: list[str]
    dry: PushResult
    writes_during_dry: list[str]
    v2: PushResult
    fr_v1: list[Row]
    fr_v2: list[Row]
    en: list[Row]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    root = tmp_path_factory.mktemp("releases")
    repo = "tester/story"
    fr_v1, fr_v2, en = french_rows(6), french_rows(9), english_rows()
    v1_folder = write_release(root, version="1.0.0", fr=fr_v1, en=en)
    v2_folder = write_release(root, version="1.1.0", fr=fr_v2, en=en, fr_shards=1)
    v1 = push_release(v1_folder, repo_id=repo, endpoint=HUB.url, progress=False)
    before = HUB.writes
    again = push_release(v1_folder, repo_id=repo, endpoint=HUB.url, progress=False)
    after_again = HUB.writes
    dry = push_release(v2_folder, repo_id=repo, endpoint=HUB.url, dry_run=True)
    after_dry = HUB.writes
    v2 = push_release(v2_folder, repo_id=repo, endpoint=HUB.url, progress=False)
    yield Story(
        repo,
        v1_folder,
        v1,
        again,
        after_again[len(before) :],
        dry,
        after_dry[len(after_again) :],
        v2,
        fr_v1,
        fr_v2,
        en,
    )


def test_push_makes_one_commit_tagged_with_the_version(story: Story) -> None:
    commits = api().list_repo_commits(story.repo, repo_type="dataset", revision="1.0.0")
    assert [c.title for c in commits] == ["Release test-release 1.0.0", "initial commit"]
    tags = {
        t.name: t.target_commit for t in api().list_repo_refs(story.repo, repo_type="dataset").tags
    }
    assert tags["1.0.0"] == story.v1.commit == commits[0].commit_id
    files = api().list_repo_files(story.repo, repo_type="dataset", revision="1.0.0")
    assert sorted(set(files) - {".gitattributes"}) == story.v1.files
    assert (
        "data/fr/train-00001-of-00002.parquet" in story.v1.files
        and "ATTRIBUTION.md" in story.v1.files
    )
    assert api().dataset_info(story.repo, revision="1.0.0").sha == story.v1.commit
    assert not story.v1.noop and not story.v1.dry_run
    assert story.v1.url == f"{HUB.url}/datasets/{story.repo}/tree/1.0.0"


def test_manifest_at_the_tag_is_byte_identical(story: Story) -> None:
    path = hf_hub_download(
        story.repo, "manifest.json", repo_type="dataset", revision="1.0.0", endpoint=HUB.url
    )
    assert Path(path).read_bytes() == (story.v1_folder / "manifest.json").read_bytes()


def test_unchanged_repush_is_a_noop(story: Story) -> None:
    assert story.again.noop and story.again.commit == story.v1.commit and story.again.files == []
    assert story.writes_during_again == []


def test_dry_run_writes_nothing_and_reports_the_plan(story: Story) -> None:
    assert story.dry.dry_run and story.dry.commit is None and story.writes_during_dry == []
    assert story.dry.files == story.v2.files
    assert story.dry.sizes["manifest.json"] == len(
        (story.v1_folder.parent / "release-1.1.0/manifest.json").read_bytes()
    )
    assert (
        story.dry.deleted
        == story.v2.deleted
        == ["data/fr/train-00000-of-00002.parquet", "data/fr/train-00001-of-00002.parquet"]
    )


def test_new_version_is_a_new_commit_and_tag_and_the_old_one_stays(story: Story) -> None:
    assert story.v2.commit not in (None, story.v1.commit)
    tags = {
        t.name: t.target_commit for t in api().list_repo_refs(story.repo, repo_type="dataset").tags
    }
    assert tags == {"1.0.0": story.v1.commit, "1.1.0": story.v2.commit}
    v2_data = [
        f
        for f in api().list_repo_files(story.repo, repo_type="dataset", revision="1.1.0")
        if f.startswith("data/fr/")
    ]
    assert v2_data == ["data/fr/train-00000-of-00001.parquet"]


def test_load_dataset_at_each_tag_in_a_fresh_process(story: Story) -> None:
    fr_v1, fr_v2, en_v1, default_v1 = load_in_subprocess(
        (story.repo, "fr", "1.0.0"),
        (story.repo, "fr", "1.1.0"),
        (story.repo, "en", "1.0.0"),
        (story.repo, "default", "1.0.0"),
    )
    assert fr_v1 == story.fr_v1 and fr_v2 == story.fr_v2 and en_v1 == story.en
    assert default_v1 == story.en + story.fr_v1  # files in the card's glob order
    assert ("HEAD", f"/datasets/{story.repo}/resolve/1.0.0/README.md") in HUB.requests


def test_pushed_card_parses(story: Story) -> None:
    card = DatasetCard.load(story.repo, repo_type="dataset")
    assert card.data.license == "other" and card.data.language == ["en", "fr"]
    configs = {c["config_name"]: c["data_files"][0]["path"] for c in card.data.configs}
    assert configs == {
        "default": ["data/en/*.parquet", "data/fr/*.parquet"],
        "en": ["data/en/*.parquet"],
        "fr": ["data/fr/*.parquet"],
    }


def test_same_version_with_other_content_is_refused(story: Story, tmp_path: Path) -> None:
    clash = write_release(tmp_path, version="1.0.0", fr=french_rows(5), en=english_rows())
    before = HUB.writes
    with pytest.raises(HubError, match="already has version 1.0.0 with a different manifest.json"):
        push_release(clash, repo_id=story.repo, endpoint=HUB.url, progress=False)
    assert HUB.writes == before


def test_lost_tag_is_restored_on_the_same_commit(tmp_path: Path) -> None:
    folder = write_release(tmp_path, version="2.0.0", fr=french_rows(2), en=english_rows()[:2])
    first = push_release(folder, repo_id="tester/resume", endpoint=HUB.url, progress=False)
    api().delete_tag("tester/resume", tag="2.0.0", repo_type="dataset")
    second = push_release(folder, repo_id="tester/resume", endpoint=HUB.url, progress=False)
    assert second.commit == first.commit and not second.noop
    assert [t.name for t in api().list_repo_refs("tester/resume", repo_type="dataset").tags] == [
        "2.0.0"
    ]


def test_dry_run_on_a_new_repo_creates_nothing(tmp_path: Path) -> None:
    folder = write_release(tmp_path, version="1.0.0", fr=french_rows(2), en=english_rows()[:2])
    before = HUB.writes
    result = push_release(folder, repo_id="tester/never", endpoint=HUB.url, dry_run=True)
    assert HUB.writes == before and not api().repo_exists("tester/never", repo_type="dataset")
    assert (
        result.sizes == {p: (folder / p).stat().st_size for p in result.files}
        and result.deleted == []
    )


def test_unreachable_endpoint(tmp_path: Path) -> None:
    folder = write_release(tmp_path, version="1.0.0", fr=french_rows(2), en=english_rows()[:2])
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(HubError, match=f"cannot reach the Hub at {url}"):
        push_release(folder, repo_id="tester/x", endpoint=url, token="hf_x", progress=False)


def test_missing_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    folder = write_release(tmp_path, version="1.0.0", fr=french_rows(2), en=english_rows()[:2])
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    hub = HubServer(require_token=True)
    with (
        hub as url,
        pytest.raises(
            HubError, match=r"no Hugging Face token: run `hf auth login` or set HF_TOKEN"
        ),
    ):
        push_release(folder, repo_id="tester/x", endpoint=url, progress=False)
    assert hub.requests == []


def test_rejected_token(tmp_path: Path) -> None:
    folder = write_release(tmp_path, version="1.0.0", fr=french_rows(2), en=english_rows()[:2])
    hub = HubServer(require_token="hf_right")
    with hub as url:
        with pytest.raises(
            HubError, match=r"refused the token for tester/x \(HTTP 401\)"
        ) as caught:
            push_release(folder, repo_id="tester/x", endpoint=url, token="hf_wrong", progress=False)
        assert caught.value.hint and "HF_TOKEN" in caught.value.hint and hub.writes == []
        result = push_release(
            folder, repo_id="tester/x", endpoint=url, token="hf_right", progress=False
        )
        assert result.commit and any(w.startswith("tag tester/x 1.0.0") for w in hub.writes)


def test_folder_without_manifest(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# nothing built\n")
    with pytest.raises(
        HubError, match=rf"{tmp_path} has no manifest.json: run `corpus-registry build` first"
    ):
        push_release(tmp_path, repo_id="tester/x", endpoint=HUB.url)


def test_shard_changed_after_build(tmp_path: Path) -> None:
    folder = write_release(tmp_path, version="1.0.0", fr=french_rows(2), en=english_rows()[:2])
    shard = folder / "data/fr/train-00000-of-00002.parquet"
    pq.write_table(pa.Table.from_pylist(french_rows(3), schema=SCHEMA), shard)
    with pytest.raises(HubError, match="sha256 differs from manifest.json"):
        push_release(folder, repo_id="tester/x", endpoint=HUB.url, dry_run=True)
