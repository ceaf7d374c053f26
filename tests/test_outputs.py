"""Safe outputs: written beside the destination, moved into place at the end, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpus_registry.errors import OutputError
from corpus_registry.outputs import StagedFolder, check_file, replacing_file, write_file


def refuse_all(folder: Path) -> None:
    raise OutputError(f"{folder}: not ours")


def accept_all(folder: Path) -> None:
    return None


def listing(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_check_file_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="the folder .*missing does not exist"):
        check_file(tmp_path / "missing" / "report.html")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        check_file(tmp_path / "plain" / "report.html")
    with pytest.raises(OutputError, match="is a folder"):
        check_file(tmp_path)
    assert check_file(tmp_path / "report.html") == tmp_path / "report.html"
    assert sorted(os.listdir(tmp_path)) == ["plain"]  # the probe left nothing


def test_write_file_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_file(path, "old")
    with pytest.raises(RuntimeError), replacing_file(path) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("killed while writing")
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["report.json"]
    write_file(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓" and sorted(os.listdir(tmp_path)) == ["report.json"]


def test_new_folder_appears_only_when_complete(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "out"
    with StagedFolder(dest, owned=refuse_all) as staged:
        assert staged.path.parent == dest.parent and staged.path.name.startswith(".out.partial-")
        (staged.path / "f.txt").write_text("done")
        assert not dest.exists()
    assert listing(dest) == {"f.txt": b"done"} and os.listdir(dest.parent) == ["out"]


def test_failure_leaves_nothing_and_removes_the_parents_it_made(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError), StagedFolder(dest, owned=refuse_all) as staged:
        (staged.path / "f.txt").write_text("half")
        raise RuntimeError("build failed")
    assert os.listdir(tmp_path) == []


def test_a_folder_not_ours_is_refused_before_work_and_kept(tmp_path: Path) -> None:
    dest = tmp_path / "v"
    (dest / "src").mkdir(parents=True)
    (dest / "manifest.json").write_text("{}")
    (dest / "src" / "app.js").write_text("x")
    before = listing(dest)
    with pytest.raises(OutputError, match="not ours"):
        StagedFolder(dest, owned=refuse_all)
    assert listing(dest) == before and os.listdir(tmp_path) == ["v"]


def test_replacing_our_folder_keeps_it_until_the_new_one_is_in_place(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with StagedFolder(dest, owned=accept_all) as staged:
        (staged.path / "new.txt").write_text("new")
        staged.commit()
        assert listing(dest) == {"new.txt": b"new"}
        assert any(p.name.startswith(".out.old-") for p in tmp_path.iterdir())  # set aside, not deleted yet
    assert listing(dest) == {"new.txt": b"new"} and os.listdir(tmp_path) == ["out"]


def test_an_error_after_the_swap_puts_the_old_folder_back(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), StagedFolder(dest, owned=accept_all) as staged:
        (staged.path / "new.txt").write_text("new")
        staged.commit()
        raise RuntimeError("the registry commit failed")
    assert listing(dest) == {"old.txt": b"old"} and os.listdir(tmp_path) == ["out"]


def test_discard_keeps_the_destination(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "same.txt").write_text("same")
    with StagedFolder(dest, owned=accept_all) as staged:
        (staged.path / "same.txt").write_text("same")
        staged.discard()
    assert listing(dest) == {"same.txt": b"same"} and os.listdir(tmp_path) == ["out"]


def test_the_folder_changed_during_the_work_is_checked_again(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    calls: list[Path] = []

    def owned(folder: Path) -> None:
        calls.append(folder)
        if (folder / "user.txt").exists():
            raise OutputError("user file")

    with pytest.raises(OutputError, match="user file"), StagedFolder(dest, owned=owned) as staged:
        (staged.path / "f.txt").write_text("x")
        dest.mkdir()
        (dest / "user.txt").write_text("mine")  # someone wrote there while the build ran
    assert listing(dest) == {"user.txt": b"mine"} and os.listdir(tmp_path) == ["out"]


def test_the_current_folder_and_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    for dest in (Path("."), tmp_path, Path("..")):
        with pytest.raises(OutputError, match="current folder"):
            StagedFolder(dest, owned=accept_all)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        StagedFolder(tmp_path / "file", owned=accept_all)
    with pytest.raises(OutputError, match="cannot write there"):
        StagedFolder(tmp_path / "file" / "out", owned=accept_all)
    assert (tmp_path / "file").read_text() == "x"


def test_a_symbolic_link_is_followed_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with StagedFolder(link, owned=accept_all) as staged:
        (staged.path / "f.txt").write_text("x")
    assert link.is_symlink() and listing(target) == {"f.txt": b"x"}


def test_leftovers_of_a_killed_process_are_cleaned(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    # a process that made its temporary folder, then died before moving it into place
    code = ("import sys; from pathlib import Path; from corpus_registry.outputs import StagedFolder;"
            "s = StagedFolder(Path(sys.argv[1]), owned=lambda f: None); (s.path / 'half').write_text('x');"
            "import os; os._exit(9)")
    subprocess.run([sys.executable, "-c", code, str(dest)], check=False)
    assert [p.name.startswith(".out.partial-") for p in tmp_path.iterdir()] == [True]
    with StagedFolder(dest, owned=accept_all) as staged:
        (staged.path / "f.txt").write_text("x")
    assert os.listdir(tmp_path) == ["out"]
