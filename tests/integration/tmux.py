"""A real terminal for the client's commands: a tmux session of its own (its own server socket), in
which `rcoder chat`, `rcoder shell` and `rcoder download` run as a person would run them."""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.eventually import eventually

RCODER = Path(sys.executable).with_name("rcoder")
EXIT = re.compile(r"^EXIT=(\d+)$", re.M)


class Terminal:
    """A tmux session of its own (its own server socket), 110 columns by 45 lines."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def run(self, command: list[str]) -> None:
        """Type the command at the shell, and have it print its exit status when it ends."""
        self.tmux("send-keys", "-t", "main", f"{shlex.join(command)}; echo EXIT=$?", "Enter")

    def screen(self) -> str:
        """What the pane shows, with its scrollback (wrapped lines joined)."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", "main")

    def wait_for(self, text: str, timeout: float = 60) -> str:
        return eventually(
            lambda: text in (screen := self.screen()) and screen, timeout, f"{text!r} on the screen"
        )

    def wait_for_line(self, line: str, timeout: float = 60) -> str:
        """Wait for a line that is `line` alone (a command's output, not the command typed)."""
        pattern = re.compile(rf"^{re.escape(line)}\s*$", re.M)
        try:
            return eventually(
                lambda: pattern.search(screen := self.screen()) and screen, timeout, f"the line {line!r}"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{self.screen()}") from None

    def wait_for_exit(self, timeout: float = 60) -> tuple[int, str]:
        """The command's exit status (the line `run` has it print), and the screen then."""
        screen = eventually(
            lambda: EXIT.search(shown := self.screen()) and shown, timeout, "the command's end"
        )
        return int(EXIT.search(screen)[1]), screen

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def resize(self, columns: int, lines: int) -> None:
        self.tmux("resize-window", "-t", "main", "-x", str(columns), "-y", str(lines))


@contextlib.contextmanager
def tmux_terminal(environment: dict[str, str]) -> Iterator[Terminal]:
    """A bash in a new tmux session with `environment`, killed (and its socket removed) at the end, its
    last screen printed for a failing test's report."""
    assert shutil.which("tmux"), "tmux is needed (scripts/test installs Debian's package)"
    term = Terminal(f"rcoder-test-{uuid.uuid4().hex[:8]}")
    env_args = [arg for name, value in environment.items() for arg in ("-e", f"{name}={value}")]
    term.tmux(
        "new-session", "-d", "-s", "main", "-x", "110", "-y", "45", *env_args, "bash --norc --noprofile"
    )
    socket_path = Path(term.tmux("display-message", "-p", "#{socket_path}").strip())
    try:
        yield term
    finally:
        print(f"the terminal's last screen:\n{term.screen()}")
        term.tmux("kill-server")
        socket_path.unlink(missing_ok=True)  # tmux leaves it behind
