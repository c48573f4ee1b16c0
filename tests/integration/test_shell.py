"""`rcoder shell` and `rcoder download` in a real terminal (tmux, tests/integration/tmux.py) against the
real appliance: a shell in the project's container that runs a command, follows the terminal's size
and ends with Ctrl-D leaving no shell behind; a download that shows its progress and saves the
workspace the demo agent wrote."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.integration.tmux import RCODER
from tests.stack import agent_containers

pytestmark = pytest.mark.engine

LIST_COMMANDS = """
import glob
for path in glob.glob("/proc/[0-9]*/comm"):
    try:
        print(open(path).read().strip())
    except OSError:
        pass
"""


def project_with_hello(client) -> str:
    """A project whose workspace holds hello.txt, written by the demo agent (its turn over)."""
    project = project_id()
    events = read_all(client, chat(client, project, "create hello.txt")["session_id"])
    assert events[-1].event == "end_turn"
    return project


def shells_in(container) -> list[str]:
    """The bash processes in the container (a terminal's shell is bash)."""
    listed = container.exec_run(["python3", "-c", LIST_COMMANDS]).output.decode().split()
    return [name for name in listed if name == "bash"]


def test_rcoder_shell_runs_a_command_follows_a_resize_and_ends_with_ctrl_d(terminal, client, engine, stack):
    project = project_with_hello(client)
    [container] = agent_containers(engine, stack, project)
    assert shells_in(container) == []

    terminal.run([str(RCODER), "shell", "-p", project])
    terminal.wait_for("agent@")  # the shell's prompt: keys typed before it would go to the local tty
    terminal.keys("echo $((6*7))", "Enter")
    terminal.wait_for_line("42")
    assert shells_in(container), "the shell runs in the project's container"
    terminal.keys("ls", "Enter")
    terminal.wait_for_line("hello.txt")

    terminal.resize(90, 30)

    def shows_the_new_size() -> bool:
        # SIGWINCH and the keys typed after it race inside rcoder: ask again until the resize is in.
        terminal.keys("stty size", "Enter")
        time.sleep(0.5)
        return bool(re.search(r"^30 90\s*$", terminal.screen(), re.M))

    eventually(shows_the_new_size, 30, "`stty size` printing 30 90 after tmux resize-window")
    terminal.keys("C-d")
    code, _ = terminal.wait_for_exit()

    assert code == 0, "rcoder shell exits with the shell's status"
    eventually(lambda: shells_in(container) == [], 15, "the shell gone from the container")


def test_rcoder_download_shows_its_progress_and_saves_the_workspace(terminal, client, tmp_path):
    project = project_with_hello(client)
    out = tmp_path / "out.tar.gz"

    terminal.run([str(RCODER), "download", "-p", project, "-o", str(out)])
    code, screen = terminal.wait_for_exit()

    shown = " ".join(screen.split())
    assert code == 0
    assert f"download {project}" in shown and re.search(r"[\d.]+/\? (bytes|kB|MB)", shown), (
        "the progress bar, with the bytes so far (an archive's size is not known ahead)"
    )
    assert "saved " in shown and "out.tar.gz" in shown
    listed = subprocess.run(["tar", "-tzf", str(out)], capture_output=True, text=True, check=True).stdout
    assert "hello.txt" in {name.removeprefix("./") for name in listed.split()}
