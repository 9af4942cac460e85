"""The deploy drills' releases through a stack's `FileAccess`: read where the stack keeps
them, artifacts built here and shipped there (a `drop` folder stands for a host's), the
unready release carrying its own server; and the files' tree verbs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from stackproof.backends.process.files import LocalFiles
from stackproof.drills.releases import UNREADY_FILE, Releases


def _installed(root: Path, version: str) -> Path:
    release = root / "releases" / version
    (release / "bin").mkdir(parents=True)
    (release / "release.json").write_text(json.dumps({"service": "bot", "version": version}))
    start = release / "bin" / "start"
    start.write_text("#!/bin/sh\nexit 0\n")
    start.chmod(0o755)
    (release / "bin" / "link").symlink_to("start")
    (root / "current").symlink_to(f"releases/{version}")
    return release


@pytest.fixture
def shipped(tmp_path: Path) -> Releases:
    root = tmp_path / "stack" / "bot"
    _installed(root, "1")
    drop = PurePosixPath(tmp_path / "drop")
    Path(drop).mkdir()
    return Releases(
        LocalFiles(), PurePosixPath(root), "bot", "bin/start", tmp_path / "workshop",
        python=sys.executable, drop=drop,
    )  # fmt: skip


def test_the_releases_are_read_on_the_stacks_side(shipped: Releases) -> None:
    assert shipped.pointed("current") == "1"
    assert shipped.pointed("previous") is None
    assert shipped.installed() == ["1"]
    releases = Path(shipped.root / "releases").resolve()
    assert shipped.running(str(releases / "1")) == "1"
    assert shipped.running(str(shipped.root / "current")) is None
    assert shipped.through_link(str(shipped.root / "current"))
    assert not shipped.through_link(str(releases / "1"))
    assert shipped.running(None) is None


def test_artifacts_are_built_here_and_shipped_with_modes_and_links(shipped: Releases) -> None:
    artifact = shipped.not_executable("noexec-1")
    assert artifact.parent == shipped.workshop
    there = Path(shipped.ship(artifact))
    assert there.parent == Path(shipped.drop or "")
    assert json.loads((there / "release.json").read_text())["version"] == "noexec-1"
    assert not os.access(there / "bin" / "start", os.X_OK)
    assert (there / "bin" / "link").readlink() == Path("start")
    missing = shipped.missing("gone-1")
    assert not Path(shipped.ship(missing)).exists()  # a missing artifact stays missing
    shipped.close()
    assert not Path(shipped.drop or "").exists()


def test_the_unready_release_runs_its_own_copy_of_the_server(shipped: Releases) -> None:
    log = shipped.scratch("probes.jsonl")
    assert Path(log).parent == Path(shipped.drop or "")
    assert Path(log).stat().st_mode & 0o777 == 0o622
    release = Path(shipped.ship(shipped.unready("unready-1", 1, log)))
    entry = (release / "bin" / "start").read_text()
    assert f"bin/{UNREADY_FILE}" in entry
    assert sys.executable in entry
    assert "-m stackproof" not in entry  # nothing of an install
    # The shipped server alone, outside any stackproof install, runs and says why it stops.
    done = subprocess.run(
        [sys.executable, "-I", str(release / "bin" / UNREADY_FILE), "--help"],
        capture_output=True, text=True, timeout=30, check=False, cwd=release,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_local_files_copy_trees_both_ways(tmp_path: Path) -> None:
    files = LocalFiles()
    source = tmp_path / "tree"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "x").write_text("x")
    (source / "link").symlink_to("sub/x")
    folder = files.temp_folder("stackproof-test-")
    target = folder / "copy"
    files.upload(source, target)
    assert (Path(target) / "link").readlink() == Path("sub/x")
    with pytest.raises(FileExistsError):
        files.upload(source, target)
    back = tmp_path / "back"
    files.download(target, back)
    assert (back / "sub" / "x").read_text() == "x"
    files.remove_tree(folder)
    assert not Path(folder).exists()
    files.remove_tree(folder)  # gone already: fine
