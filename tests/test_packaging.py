"""The built wheel works without the source tree: ``init`` creates and upgrades a registry with the
migrations it carries, and ``demo`` ingests the sample it carries."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

SHIPPED = ("corpus_registry", "migrations", "data", "specs", "sources.yaml", "setup.py", "pyproject.toml",
           "README.md", "MANIFEST.in")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the tree (the build never writes into the checkout)."""
    tree = tmp_path_factory.mktemp("tree")
    for name in SHIPPED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(tree)], check=True, capture_output=True, text=True)
    (built,) = out.glob("corpus_registry-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel; its dependencies are borrowed from this environment
    through a path entry (which carries no editable-install finder)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, text=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


def test_wheel_carries_the_migrations_and_the_sample(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = sorted(p.name for p in (REPO / "migrations" / "versions").glob("0*.py"))
    assert versions and all(f"corpus_registry/migrations/versions/{v}" in names for v in versions)
    assert "corpus_registry/migrations/env.py" in names and "corpus_registry/migrations/script.py.mako" in names
    assert "corpus_registry/sample/sources.yaml" in names and "corpus_registry/sample/specs/fr.yaml" in names
    assert any(n.startswith("corpus_registry/sample/data/legifrance-code-civil/") for n in names)


def test_installed_wheel_inits_upgrades_and_runs_the_demo(venv: Path, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        r = subprocess.run([str(venv / "bin" / "corpus-registry"), "--db", str(tmp_path / "reg.db"), *args],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import corpus_registry; print(corpus_registry.__file__)"],
                           cwd=tmp_path, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout
    # a registry at the first schema, upgraded by the installed `init`
    subprocess.run([str(venv / "bin" / "python"), "-c",
                    "import sys; from corpus_registry.registry.db import engine as e; "
                    "e.upgrade(e.make_engine(e.resolve_url(sys.argv[1])), '0001')", str(tmp_path / "reg.db")],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    assert "Registry ready" in run("init")
    out = run("demo", "--no-progress")
    assert "legifrance-code-civil" in out and "sample/specs/fr.yaml" in out
    assert not (tmp_path / "sources.yaml").exists()
