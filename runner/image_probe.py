"""What a template's image is, seen from inside it: run by the runner bundle's Python in a container of
the image (`python -m runner.image_probe [USER]`), it prints one JSON object: which C library the
image's own programs use, and the uid, gid and home of the user its agents run as.

The bundle brings its own glibc, so it runs in any x86-64 image; the image's musl (Alpine) is refused
all the same: its tools and the bundle's would be two worlds, and nothing tests that one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GLIBC_LOADERS = ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
MUSL_LOADER_GLOB = "ld-musl-*.so.1"
# The user agents run as when the image names none, or names root: the agent image's.
DEFAULT_UID = 1000
DEFAULT_HOME = "/home/agent"


def libc(root: Path = Path("/")) -> str:
    """glibc, musl, or none (an image of static programs only)."""
    if any((root / loader.lstrip("/")).exists() for loader in GLIBC_LOADERS):
        return "glibc"
    if any((root / "lib").glob(MUSL_LOADER_GLOB)):
        return "musl"
    return "none"


def account(user: str, passwd: str) -> dict[str, int | str]:
    """The uid, gid and home of `user` (a name, a uid, or uid:gid, as Docker's USER takes it) in the
    image's /etc/passwd; root, or no user, is the agent image's uid 1000 instead."""
    name, _, group = user.partition(":")
    entries = [line.split(":") for line in passwd.splitlines() if line.count(":") == 6]
    for entry in entries:
        if name in (entry[0], entry[2]):
            uid, gid, home = int(entry[2]), int(group or entry[3]), entry[5]
            break
    else:
        if not name.isdigit():
            if name and name != "root":
                raise SystemExit(f"the image's user {name!r} is not in its /etc/passwd")
            name = "0"
        uid, gid, home = int(name), int(group or name), DEFAULT_HOME
    if uid == 0:
        return {"uid": DEFAULT_UID, "gid": DEFAULT_UID, "home": DEFAULT_HOME, "user": "agent"}
    return {"uid": uid, "gid": gid, "home": home or DEFAULT_HOME, "user": name}


def main() -> None:
    user = sys.argv[1] if len(sys.argv) > 1 else ""
    passwd = Path("/etc/passwd")
    text = passwd.read_text(errors="replace") if passwd.is_file() else ""
    print(json.dumps({"libc": libc(), **account(user, text)}))


if __name__ == "__main__":
    main()
