"""The images' OCI labels, the same from scripts/lib/build.sh and from the Pulumi program, with git or
without (a machine handed the checkout)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.images import oci_labels

ROOT = Path(__file__).resolve().parents[3]
OCI = "org.opencontainers.image."


def head() -> str:
    """HEAD's commit: by git where it is installed, else from a clone's .git (make test-fresh has no git)."""
    if shutil.which("git"):
        found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return found.stdout.strip()
    ref = (ROOT / ".git" / "HEAD").read_text().strip().removeprefix("ref: ")
    loose = ROOT / ".git" / ref
    if loose.exists():
        return loose.read_text().strip()
    packed = (ROOT / ".git" / "packed-refs").read_text().splitlines()
    return next(line.split()[0] for line in packed if line.endswith(f" {ref}"))


def test_the_labels_name_this_commit():
    labels = oci_labels(ROOT, "gateway")
    assert labels[OCI + "title"] == "gateway"
    assert labels[OCI + "revision"] == head()
    assert labels[OCI + "licenses"] == "MIT OR Apache-2.0"
    assert {OCI + key for key in ("source", "version", "vendor")} <= set(labels)


def test_without_git_the_commit_is_read_from_the_checkout_and_no_date_is_made_up(tmp_path, monkeypatch):
    commit = head()
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "sed", "cat", "awk"):
        (tools / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(tools))

    labels = oci_labels(ROOT, "agent")

    assert labels[OCI + "revision"] == commit
    assert OCI + "created" not in labels
    assert labels[OCI + "source"] == f"file://{ROOT}"
