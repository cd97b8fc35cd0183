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


def test_many_changed_files_in_one_folder_are_committed_as_one_tree_keeping_the_rest(
    remote: Path, tmp_path: Path
) -> None:
    """A commit touching hundreds of node files writes the folder as one tree; what else
    is in the folder and on the branch stays, deleted files go, and a folder that is not
    flat (a subfolder, an executable) is still committed file by file."""
    branch = StatusBranch(str(remote), tmp_path / "w")
    branch.open()
    many = 200
    files: dict[str, str | None] = {
        f"nodes/edge-{i:03}.yaml": NODE.replace("01", f"{i:03}") for i in range(many)
    }
    files["nodes/README.md"] = "kept\n"
    files["summary.yaml"] = "nodes: 200\n"
    assert branch.commit(files, "first") is not None
    branch.push()
    # Someone else adds a file to the folder, and an executable elsewhere.
    other = StatusBranch(str(remote), tmp_path / "other")
    other.open()
    other.commit({"nodes/NOTES.txt": "theirs\n", "tools/run.sh": "echo\n"}, "theirs")
    other.push()
    branch.reapply({}, "follow")
    changed: dict[str, str | None] = {
        f"nodes/edge-{i:03}.yaml": NODE.replace("Synced", "Failed").replace("01", f"{i:03}")
        for i in range(100)
    }
    changed.update({f"nodes/edge-{i:03}.yaml": None for i in range(150, many)})
    assert branch.commit(changed, "second") is not None
    branch.push()
    listing = git(remote, "ls-tree", "-r", "--name-only", "shoal-status").split()
    expected = {f"nodes/edge-{i:03}.yaml" for i in range(150)}
    expected |= {"nodes/README.md", "nodes/NOTES.txt", "summary.yaml", "tools/run.sh"}
    assert set(listing) == expected
    assert "Failed" in git(remote, "show", "shoal-status:nodes/edge-042.yaml")
    assert "Synced" in git(remote, "show", "shoal-status:nodes/edge-120.yaml")
    assert git(remote, "show", "shoal-status:nodes/NOTES.txt") == "theirs\n"
    assert git(remote, "fsck", "--no-progress").strip() == ""
    # Every node file deleted at once: the folder goes with them, the others' files stay.
    gone: dict[str, str | None] = {rel: None for rel in listing if rel.startswith("nodes/edge-")}
    gone.update({"nodes/README.md": None, "nodes/NOTES.txt": None})
    assert branch.commit(gone, "all gone") is not None
    branch.push()
    listing = git(remote, "ls-tree", "-r", "--name-only", "shoal-status").split()
    assert listing == ["summary.yaml", "tools/run.sh"]


def test_a_folder_with_a_subfolder_is_committed_file_by_file(remote: Path, tmp_path: Path) -> None:
    branch = StatusBranch(str(remote), tmp_path / "w")
    branch.open()
    files: dict[str, str | None] = {f"nodes/e-{i:03}.yaml": f"{i}\n" for i in range(100)}
    files["nodes/shard-b/e-999.yaml"] = "other shard\n"
    branch.commit(files, "first")
    branch.commit({f"nodes/e-{i:03}.yaml": f"{i} again\n" for i in range(100)}, "second")
    branch.push()
    assert git(remote, "show", "shoal-status:nodes/shard-b/e-999.yaml") == "other shard\n"
    assert git(remote, "show", "shoal-status:nodes/e-007.yaml") == "7 again\n"
    assert len(git(remote, "ls-tree", "-r", "--name-only", "shoal-status").split()) == 101
