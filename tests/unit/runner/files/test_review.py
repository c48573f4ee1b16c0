"""runner/files/review.py through the files server: git status and the diff since the cloned commit,
untracked files included, the agent's index untouched, and nothing the repository's config names run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def cloned(served):
    """A repository at its cloned commit (refs/rcoder/base), as runner/clone.py leaves one."""
    root = served.root
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("print(1)\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    git(root, "update-ref", "refs/rcoder/base", "HEAD")
    return served


def test_status_names_the_branch_the_commits_since_the_clone_and_each_change(cloned):
    root = cloned.root
    (root / "app.py").write_text("print(2)\n")
    git(root, "commit", "-qam", "second")
    (root / "new.txt").write_text("new\n")
    (root / "app.py").write_text("print(3)\n")

    data = cloned.client.get("/git/status").json()["data"]

    assert data["branch"] == "main" and data["commits_since_base"] == 1
    assert data["base"] == git(root, "rev-parse", "refs/rcoder/base").strip()
    assert {f["path"]: f["status"] for f in data["files"]} == {"app.py": "modified", "new.txt": "untracked"}


def test_the_diff_shows_committed_changed_and_untracked_files_and_leaves_the_index_alone(cloned):
    root = cloned.root
    (root / "app.py").write_text("print(2)\n")
    git(root, "commit", "-qam", "second")
    (root / "new.txt").write_text("brand new\n")
    index_before = (root / ".git/index").read_bytes()

    response = cloned.client.get("/git/diff")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/x-diff")
    assert "+print(2)" in response.text and "+brand new" in response.text
    assert response.headers["x-rcoder-truncated"] == "false"
    assert (root / ".git/index").read_bytes() == index_before
    assert "new.txt" in git(root, "status", "--porcelain"), "still untracked for the agent"


def test_what_the_repositorys_config_names_is_never_run(cloned, tmp_path):
    root = cloned.root
    marker = tmp_path / "ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    hook.chmod(0o755)
    for key in ("core.fsmonitor", "diff.external", "core.pager"):
        git(root, "config", key, str(hook))
    git(root, "config", "diff.py.textconv", str(hook))
    (root / ".gitattributes").write_text("*.py diff=py\n")
    (root / "app.py").write_text("print(2)\n")

    assert cloned.client.get("/git/status").status_code == 200
    assert "+print(2)" in cloned.client.get("/git/diff").text
    assert not marker.exists()


def test_a_folder_that_is_not_a_repository_is_404(served):
    assert served.client.get("/git/status").status_code == 404
    assert served.client.get("/git/diff").json()["code"] == "NOT_FOUND"
