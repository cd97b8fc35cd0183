"""StatusBranch: commits on a bare remote, unchanged files left out, unpushed work kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.gitcli import GitFailed
from controller.status.branch import PushRejected, StatusBranch
from tests.status.conftest import git

NODE = "node: edge-01\nstate: Synced\n"


def test_first_commit_starts_an_orphan_branch_and_identical_files_make_no_commit(
    remote: Path, tmp_path: Path
) -> None:
    branch = StatusBranch(str(remote), tmp_path / "w")
    assert branch.open() == {}
    first = branch.commit({"nodes/edge-01.yaml": NODE, "summary.yaml": "nodes: 1\n"}, "one")
    assert first is not None
    assert branch.ahead()
    branch.push()
    assert not branch.ahead()
    assert git(remote, "rev-list", "--count", "shoal-status").strip() == "1"
    assert branch.commit({"nodes/edge-01.yaml": NODE}, "again") is None
    second = branch.commit({"nodes/edge-01.yaml": NODE.replace("Synced", "Failed")}, "two")
    assert second is not None and second != first
    assert git(remote, "show", "shoal-status:summary.yaml") == "nodes: 1\n"


def test_unpushed_commits_survive_a_restart_and_a_moved_remote_is_followed(
    remote: Path, tmp_path: Path
) -> None:
    branch = StatusBranch(str(remote), tmp_path / "w")
    branch.open()
    branch.commit({"nodes/edge-01.yaml": NODE}, "one")
    branch.push()
    branch.commit({"nodes/edge-02.yaml": NODE.replace("01", "02")}, "two (not pushed)")

    again = StatusBranch(str(remote), tmp_path / "w")
    assert set(again.open()) == {"edge-01", "edge-02"}  # the local commit is kept...
    assert again.ahead() and again.unpushed_subjects() == ["two (not pushed)"]
    again.push()  # ...and pushed later
    assert "edge-02.yaml" in git(remote, "ls-tree", "-r", "--name-only", "shoal-status")

    # Another writer moves the remote on; a fresh work dir reads the newest tip.
    other = StatusBranch(str(remote), tmp_path / "other")
    other.open()
    other.commit({"README.md": "hello\n"}, "readme")
    other.push()
    with pytest.raises(PushRejected):
        again.commit({"nodes/edge-03.yaml": NODE.replace("01", "03")}, "three")
        again.push()
    again.reapply({"nodes/edge-03.yaml": NODE.replace("01", "03")}, "three")
    again.push()
    files = git(remote, "ls-tree", "-r", "--name-only", "shoal-status").split()
    assert files == ["README.md", "nodes/edge-01.yaml", "nodes/edge-02.yaml", "nodes/edge-03.yaml"]


def test_an_unreachable_remote_is_a_status_branch_error(tmp_path: Path) -> None:
    branch = StatusBranch(str(tmp_path / "missing.git"), tmp_path / "w")
    with pytest.raises(GitFailed, match="ls-remote"):
        branch.open()


def test_a_relative_repository_path_is_made_absolute(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(remote.parent)
    branch = StatusBranch(remote.name, tmp_path / "w")
    assert Path(branch.repo_url) == remote.resolve()
    branch.open()
