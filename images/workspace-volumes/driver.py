"""A Docker volume plugin whose volumes hold no more than their size: each volume is an ext4 file
system in a sparse image file, loop-mounted while containers use it.

Docker's own `local` driver bounds a volume only where its directory is XFS with project quotas, which
needs the kernel's quota support; a file system's own size needs nothing of the kernel but loop
devices. Workspaces and desktop homes are made with it, so code in an agent container that fills its
workspace fills its image file and gets ENOSPC, not the host's disk.

The plugin protocol: JSON over HTTP on a Unix socket (docs.docker.com/engine/extend/plugins_volume).
Requests are served one at a time, so a volume's mount state needs no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socketserver
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

SOCKET = Path("/run/docker/plugins/workspace-volumes.sock")
# Where the image files are kept (a host directory bound by config.json).
IMAGES = Path(os.environ.get("VOLUME_IMAGES", "/data"))
# Where volumes are mounted (config.json's propagatedMount: Docker sees these mounts).
MOUNTS = Path(os.environ.get("VOLUME_MOUNTS", "/mnt/volumes"))
# Docker's own rule for volume names.
NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
SIZE = re.compile(r"(\d+)([kmgt]?)i?b?", re.IGNORECASE)
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
# The smallest file system mkfs.ext4 makes with a journal, and what a volume may claim at most.
SMALLEST, LARGEST = 1024**2, 2**50


class VolumeError(Exception):
    """A request this plugin refuses; its message goes back to Docker as the error."""


def parse_size(text: str) -> int:
    """`16777216`, `16m`, `16MiB`, `10G`: bytes."""
    match = SIZE.fullmatch(text.strip())
    if match is None:
        raise VolumeError(f"size {text!r} is not a size (bytes, or a number with k, m, g or t)")
    size = int(match[1]) * UNITS[match[2].lower()]
    if not SMALLEST <= size <= LARGEST:
        raise VolumeError(f"size {text!r} is outside {SMALLEST} to {LARGEST} bytes")
    return size


def run(*command: str) -> None:
    """Run a tool; its complaint becomes the request's error."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise VolumeError(f"{command[0]} failed: {(done.stderr or done.stdout).strip()}")


class Volumes:
    """The volumes in `images`, mounted under `mounts` while any container uses them."""

    def __init__(self, images: Path, mounts: Path) -> None:
        self.images = images
        self.mounts = mounts
        # The containers using each mounted volume: {name: mount ids} (Docker's Mount/Unmount ids).
        self.users: dict[str, set[str]] = {}

    def image(self, name: str) -> Path:
        if NAME.fullmatch(name) is None:
            raise VolumeError(f"volume name {name!r} is not a Docker volume name")
        return self.images / f"{name}.ext4"

    def mountpoint(self, name: str) -> Path:
        return self.mounts / name

    def exists(self, name: str) -> bool:
        return self.image(name).is_file()

    def mounted(self, name: str) -> bool:
        return os.path.ismount(self.mountpoint(name))

    def create(self, name: str, options: dict[str, str]) -> None:
        """A sparse image of `size` bytes holding an empty ext4 file system (no lost+found, so that
        Docker copies the image's folder, with its owner, into it on first use)."""
        unknown = set(options) - {"size"}
        if unknown:
            raise VolumeError(f"unknown volume options: {', '.join(sorted(unknown))} (only size)")
        if "size" not in options:
            raise VolumeError("a volume needs a size (-o size=10G)")
        size = parse_size(options["size"])
        image = self.image(name)
        if image.exists():
            return
        partial = image.with_suffix(".new")
        with partial.open("wb") as file:
            file.truncate(size)
        try:
            run(
                "mkfs.ext4",
                "-q",
                "-F",
                "-m",
                "0",
                "-E",
                "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                str(partial),
            )
            run("debugfs", "-w", "-R", "rmdir lost+found", str(partial))
            partial.rename(image)
        finally:
            partial.unlink(missing_ok=True)

    def remove(self, name: str) -> None:
        if self.users.get(name):
            raise VolumeError(f"volume {name} is in use")
        if self.mounted(name):
            run("umount", str(self.mountpoint(name)))
        with contextlib.suppress(FileNotFoundError):
            self.mountpoint(name).rmdir()
        self.image(name).unlink(missing_ok=True)

    def mount(self, name: str, user: str) -> Path:
        if not self.exists(name):
            raise VolumeError(f"no volume {name}")
        target = self.mountpoint(name)
        if not self.mounted(name):
            target.mkdir(parents=True, exist_ok=True)
            # A loop device of its own, released when it is unmounted (mount's autoclear).
            run("mount", "-t", "ext4", "-o", "loop,nosuid,nodev", str(self.image(name)), str(target))
        self.users.setdefault(name, set()).add(user)
        return target

    def unmount(self, name: str, user: str) -> None:
        users = self.users.get(name, set())
        users.discard(user)
        if not users and self.mounted(name):
            run("umount", str(self.mountpoint(name)))
            self.users.pop(name, None)

    def describe(self, name: str) -> dict:
        volume: dict = {"Name": name, "Status": {"size": self.image(name).stat().st_size}}
        if self.mounted(name):
            volume["Mountpoint"] = str(self.mountpoint(name))
        return volume

    def names(self) -> list[str]:
        return sorted(image.stem for image in self.images.glob("*.ext4"))


def answer(volumes: Volumes, operation: str, request: dict) -> dict:
    """The protocol's operations over `volumes`: the request's JSON in, the reply's out."""
    name = request.get("Name", "")
    match operation:
        case "Plugin.Activate":
            return {"Implements": ["VolumeDriver"]}
        case "VolumeDriver.Capabilities":
            return {"Capabilities": {"Scope": "local"}}
        case "VolumeDriver.Create":
            volumes.create(name, request.get("Opts") or {})
            return {}
        case "VolumeDriver.Remove":
            volumes.remove(name)
            return {}
        case "VolumeDriver.Mount":
            return {"Mountpoint": str(volumes.mount(name, request.get("ID", "")))}
        case "VolumeDriver.Unmount":
            volumes.unmount(name, request.get("ID", ""))
            return {}
        case "VolumeDriver.Path":
            return {"Mountpoint": str(volumes.mountpoint(name))} if volumes.mounted(name) else {}
        case "VolumeDriver.Get":
            if not volumes.exists(name):
                raise VolumeError(f"no volume {name}")
            return {"Volume": volumes.describe(name)}
        case "VolumeDriver.List":
            return {"Volumes": [volumes.describe(each) for each in volumes.names()]}
    raise VolumeError(f"unknown operation {operation}")


class Handler(BaseHTTPRequestHandler):
    volumes: Volumes

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            request = json.loads(body) if body.strip() else {}
            reply = answer(self.volumes, self.path.strip("/"), request)
        except (VolumeError, ValueError, OSError) as exc:
            reply = {"Err": str(exc) or type(exc).__name__}
            print(f"{self.path}: {reply['Err']}", file=sys.stderr, flush=True)
        encoded = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, format: str, *args: object) -> None:
        """Docker keeps the plugin's output in its own log: only refusals are written (above)."""


class Server(socketserver.UnixStreamServer):
    def get_request(self):  # type: ignore[override]
        # BaseHTTPRequestHandler wants an address pair; a Unix socket's peer has none.
        connection, _ = super().get_request()
        return connection, ("docker", 0)


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    MOUNTS.mkdir(parents=True, exist_ok=True)
    SOCKET.parent.mkdir(parents=True, exist_ok=True)
    SOCKET.unlink(missing_ok=True)
    Handler.volumes = Volumes(IMAGES, MOUNTS)
    with Server(str(SOCKET), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
