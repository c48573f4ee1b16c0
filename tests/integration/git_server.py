"""A git server for the tests: git's smart HTTP protocol behind Basic auth, as a hosted one serves it.

Run as a script (`python3 git_server.py ROOT PORT`; the login from GIT_SERVER_USER and GIT_SERVER_TOKEN),
it answers every request with `git http-backend` (git-http-backend(1)) as a CGI program over the bare
repositories under ROOT: the request's body streamed into it (git sends bodies past http.postBuffer
chunked, decoded here), its output streamed out chunked. REMOTE_USER is set, so pushes are allowed.

Imported, `run_git_server` runs it in a container of the agent image on a bridge of its own, which agent
containers cannot reach: the gateway (on the host's network) reaches it at the container's address, the
agents only through the gateway's git broker. It holds acme/app.git, whose `main` has a README and an
AGENTS.md with MARKER in it, and acme/other.git, with the same `main`. (The module imports the standard
library only: the container runs it alone.)
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PORT = 8000
ROOT = "/tmp/git"  # the bare repositories, in the server's container
SCRIPT = "/srv/git_server.py"
MARKER = "rcoder-agents-md-marker-4f1c"
REPOSITORY = "acme/app"
OTHER_REPOSITORY = "acme/other"
# The headers git sends that http-backend reads, as CGI names them.
CGI_HEADERS = {"git-protocol": "GIT_PROTOCOL", "content-encoding": "HTTP_CONTENT_ENCODING"}


class GitHandler(BaseHTTPRequestHandler):
    """Each request to http-backend, once its Basic login is the one in GIT_SERVER_USER and _TOKEN."""

    protocol_version = "HTTP/1.1"
    root = ""
    login = b""

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def serve(self) -> None:
        if not self.authorised():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True  # the request's body is left unread
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": self.login.decode().partition(":")[0],
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("content-type", ""),
        }
        for header, name in CGI_HEADERS.items():
            if value := self.headers.get(header):
                env[name] = value
        chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        length = int(self.headers.get("content-length") or 0)
        if not chunked:
            env["CONTENT_LENGTH"] = str(length)  # chunked: unset, http-backend reads to the end
        backend = subprocess.Popen(
            ["git", "http-backend"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        feeding = threading.Thread(target=self.feed, args=(backend.stdin, chunked, length))
        feeding.start()
        try:
            self.relay(backend.stdout)
        finally:
            feeding.join()
            backend.wait()

    def authorised(self) -> bool:
        scheme, _, credential = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(credential.strip(), validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, self.login)

    def feed(self, stdin, chunked: bool, length: int) -> None:
        """The request's body into http-backend, as it arrives."""
        try:
            if chunked:
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    stdin.write(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after the chunk
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
            else:
                while length > 0:
                    chunk = self.rfile.read(min(length, 65536))
                    if not chunk:
                        break
                    stdin.write(chunk)
                    length -= len(chunk)
        except BrokenPipeError:
            pass  # http-backend stopped reading: it answers why
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def relay(self, stdout) -> None:
        """http-backend's answer: its CGI headers (Status among them) as the response's, then its
        body, chunked."""
        status, headers = 200, []
        while (line := stdout.readline().rstrip(b"\r\n")) != b"":
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while chunk := stdout.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main() -> None:
    root, port = sys.argv[1], int(sys.argv[2])
    GitHandler.root = root
    GitHandler.login = f"{os.environ['GIT_SERVER_USER']}:{os.environ['GIT_SERVER_TOKEN']}".encode()
    if shutil.which("git") is None:
        raise SystemExit("git_server: no git on PATH")
    ThreadingHTTPServer(("0.0.0.0", port), GitHandler).serve_forever()


SEED = f"""
set -eu
for name in {REPOSITORY} {OTHER_REPOSITORY}; do git init -q --bare -b main "{ROOT}/$name.git"; done
work=$(mktemp -d)
cd "$work"
git init -q -b main
printf '# app\\n\\nA repository for the git broker tests.\\n' > README.md
printf '# Agents\\n\\nRead this first: {MARKER}\\n' > AGENTS.md
git add README.md AGENTS.md
git -c user.name=Seed -c user.email=seed@example.invalid commit -q -m 'The first commit'
for name in {REPOSITORY} {OTHER_REPOSITORY}; do git push -q "{ROOT}/$name.git" main; done
rm -rf "$work"
"""


@dataclass
class GitServer:
    """The server's container, where the gateway reaches it, and the login it asks for."""

    container: Any  # docker's Container
    address: str
    user: str
    token: str = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{PORT}"

    def repository_url(self, repository: str = REPOSITORY) -> str:
        return f"{self.url}/{repository}.git"

    def commit_of(self, branch: str, repository: str = REPOSITORY) -> str | None:
        """The commit the server's `branch` is at (None: no such branch), read in its container."""
        command = ["git", "ls-remote", f"{ROOT}/{repository}.git", f"refs/heads/{branch}"]
        code, output = self.container.exec_run(command, user="agent")
        assert code == 0, output.decode(errors="replace")
        listed = output.decode().split()
        return listed[0] if listed else None


@contextlib.contextmanager
def run_git_server(engine, image: str, labels: dict[str, str]) -> Iterator[GitServer]:
    """The server in a container of `image` on a bridge of its own (both labelled `labels`), seeded;
    both removed afterwards."""
    name = f"rcoder-test-git-{uuid.uuid4().hex[:8]}"
    user, token = "git-tester", f"gittok-{secrets.token_hex(20)}"
    network = engine.networks.create(name, driver="bridge", labels=labels)
    container = None
    try:
        container = engine.containers.run(
            image,
            entrypoint=["python3", SCRIPT, ROOT, str(PORT)],
            command=[],
            name=name,
            user="agent",
            detach=True,
            network=name,
            labels=labels,
            environment={"GIT_SERVER_USER": user, "GIT_SERVER_TOKEN": token},
            volumes={str(Path(__file__).resolve()): {"bind": SCRIPT, "mode": "ro"}},
        )
        code, output = container.exec_run(["sh", "-c", SEED], user="agent")
        assert code == 0, f"seeding the git server failed: {output.decode(errors='replace')}"
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
        probe = f"import socket; socket.create_connection(('127.0.0.1', {PORT}), timeout=1)"
        deadline = time.monotonic() + 20
        while container.exec_run(["python3", "-c", probe]).exit_code != 0:
            assert time.monotonic() < deadline, container.logs(tail=40).decode(errors="replace")
            time.sleep(0.2)
        yield GitServer(container, address, user, token)
    finally:
        if container is not None:
            print(f"removing container {container.name}")
            container.remove(force=True)
        print(f"removing network {network.name}")
        network.remove()


if __name__ == "__main__":
    main()
