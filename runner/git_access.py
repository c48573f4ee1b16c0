"""The container's system git config (the file GIT_CONFIG_SYSTEM names): git's traffic to credentialed
hosts goes through the appliance's broker, which holds the tokens; the container holds only its
stand-in, which opens the broker from this container alone.

    [url "<broker_url>"]
            insteadOf = "<prefix>"              one section per route
    [http "<broker_base>"]
            extraHeader = "Authorization: Bearer <stand-in>"
    [user]
            name = "<author_name>"              when given
            email = "<author_email>"
    [credential]
            helper = ""                         no helper: nothing asks for or stores a password

Being the system file, it covers the agent, terminal shells and desktop programs alike. The same access
written again leaves the file as it is; another replaces it whole (a rename), so a git reading it never
sees half of one.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runner.errors import InvalidRequest

DEFAULT_PATH = Path("/tmp/rcoder-git/config")
# What an agent's programs may read (the stand-in is worthless from anywhere but this container).
MODE = 0o644
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BROKER_URL = re.compile(r"https?://[^\s\"\\]+/")
STAND_IN = re.compile(r"[A-Za-z0-9._~+/=-]+")


@dataclass(frozen=True)
class GitRoute:
    """What the container's git asks for (`prefix`), and where the broker serves it (`broker_url`)."""

    prefix: str
    broker_url: str


@dataclass(frozen=True)
class GitAccess:
    broker_base: str = ""
    stand_in: str = ""
    routes: tuple[GitRoute, ...] = ()
    author_name: str = ""
    author_email: str = ""


def quoted(value: str, field: str) -> str:
    """`value` in double quotes, as git config reads it back (a subsection's name or a value)."""
    if CONTROL.search(value):
        raise InvalidRequest("{field} must not hold control characters or line breaks", field=field)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def broker_url(url: str, field: str) -> str:
    if not BROKER_URL.fullmatch(url):
        raise InvalidRequest(
            "{field} must be an http(s) URL ending in '/', not {url!r}", field=field, url=url
        )
    return quoted(url, field)


def config_text(access: GitAccess) -> str:
    """The config that gives the container `access`; an access that would not do what it says is refused."""
    if bool(access.broker_base) != bool(access.stand_in) or (access.routes and not access.broker_base):
        raise InvalidRequest("broker_base and stand_in go together, and routes need both")
    lines = []
    for route in access.routes:
        if not route.prefix or not route.broker_url.startswith(access.broker_base):
            raise InvalidRequest(
                "route {prefix!r} must lead under broker_base, not to {url!r}",
                prefix=route.prefix,
                url=route.broker_url,
            )
        lines += [
            f"[url {broker_url(route.broker_url, 'broker_url')}]",
            f"\tinsteadOf = {quoted(route.prefix, 'prefix')}",
        ]
    if access.broker_base:
        if not STAND_IN.fullmatch(access.stand_in):
            raise InvalidRequest("stand_in must be a bearer token (letters, digits and '._~+/=-')")
        header = quoted(f"Authorization: Bearer {access.stand_in}", "stand_in")
        lines += [f"[http {broker_url(access.broker_base, 'broker_base')}]", f"\textraHeader = {header}"]
    if access.author_name or access.author_email:
        lines.append("[user]")
        if access.author_name:
            lines.append(f"\tname = {quoted(access.author_name, 'author_name')}")
        if access.author_email:
            lines.append(f"\temail = {quoted(access.author_email, 'author_email')}")
    lines += ["[credential]", '\thelper = ""']
    return "\n".join(lines) + "\n"


def write_config(access: GitAccess, path: Path = DEFAULT_PATH) -> Path:
    """Write the access's config at `path` (a rename, mode 0644), unless it already says the same."""
    text = config_text(access)
    try:
        if path.read_text() == text:
            return path
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(temporary, MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
