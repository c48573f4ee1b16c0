"""The files API through the proxy, each against a baseline from this run, alternating over rounds:
A. a workspace as an archive (tar) against `docker cp` of the same folder (the engine's get_archive from
   the running agent container), in MB/s; tar.gz, zip, and the cold case (the project paused, its files
   container started by the request) beside it;
B. one 1 MiB file read again and again on one kept-alive connection against the same file from
   `python3 -m http.server` in the agent container, through the preview route.
Every byte is read and dropped on this machine.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import asdict, dataclass

import httpx
from docker import DockerClient
from docker.models.containers import Container

from bench.measure import Figure, latency_rows, percentile, running_project, serve_in, shares, summary_ms
from tests.stack import Appliance, containers, remove

# The appliance this runs against: room for the workspace, and no pool or cleanup in the way.
SETTINGS = {
    "RCODER_WORKSPACE_SIZE_BYTES": str(4 * 1024**3),
    "RCODER_WARM_POOL_SIZE": "0",
    "RCODER_IDLE_TIMEOUT_SECONDS": "3600",
}
WORKSPACE = "/app/project_workspace"
ROUNDS = 3
FILE = "f.bin"
FILE_BYTES = 1024 * 1024
PREVIEW_PORT = 8000
WARM_UP = 5  # reads of each server before the timed ones
# The proxy keeps a routing decision this long (images/proxy/route.lua, KEEP_SECONDS): a cold request waits it out.
KEPT_ROUTE_SECONDS = 2
# Writes `count` files of `size` random bytes, 100 to a folder, as whoever runs it (the agent's user).
WRITE = """
import os, sys
count, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    os.makedirs(f"d{i // 100:03}", exist_ok=True)
    with open(f"d{i // 100:03}/f{i:05}.bin", "wb") as out:
        out.write(os.urandom(size))
"""


@dataclass(frozen=True)
class Sizes:
    files: int  # in the archived workspace
    file_bytes: int  # each
    reads: int  # of the 1 MiB file, from each server


FULL = Sizes(files=10_000, file_bytes=100 * 1024, reads=300)
SMOKE = Sizes(files=200, file_bytes=100 * 1024, reads=30)


@dataclass
class Transfer:
    """One body read to its end: its bytes, the seconds to its first byte and to its end."""

    bytes: int
    first_byte_s: float
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6


def drained(chunks, started: float) -> Transfer:
    size, first = 0, None
    for chunk in chunks:
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    return Transfer(size, first or 0.0, time.perf_counter() - started)


def proxy_archive(appliance: Appliance, project: str, form: str) -> Transfer:
    """GET the workspace as an archive of `form` through the proxy, into nothing. curl reads it: httpx
    parses the chunks nginx relays (4 KiB each, proxy_buffer_size) in Python, and that alone was ~20%
    slower here."""
    url = f"{appliance.url}/agent/files/{project}/archive?format={form}"
    written = "%{size_download} %{time_starttransfer} %{time_total}"
    command = [
        "curl",
        "-sS",
        "--fail",
        "-o",
        "/dev/null",
        "-w",
        written,
        "-H",
        f"x-api-key: {appliance.api_key}",
    ]
    size, first, total = subprocess.run(
        [*command, url], check=True, capture_output=True, text=True
    ).stdout.split()
    return Transfer(int(size), float(first), float(total))


def engine_archive(container: Container) -> Transfer:
    """The workspace as the engine tars it (`docker cp CONTAINER:/app/project_workspace -`), into nothing."""
    started = time.perf_counter()
    stream, _ = container.get_archive(WORKSPACE)
    return drained(stream, started)


def files_containers(engine: DockerClient, stack: str, project: str) -> list[Container]:
    labels = [f"rcoder.stack={stack}", "rcoder.kind=files", f"rcoder.project={project}"]
    return containers(engine, label=labels)


def start_seconds(container: Container) -> float:
    """From the container's creation to its start, as the engine recorded them."""
    state = container.attrs

    def moment(value: str) -> float:
        whole, _, fraction = value.rstrip("Z").partition(".")
        return time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{fraction or 0}")

    return moment(state["State"]["StartedAt"]) - moment(state["Created"])


def cold_archive(appliance: Appliance, engine: DockerClient, project: str) -> dict:
    """The tar of a paused project whose files container is gone: the request starts it."""
    remove(files_containers(engine, appliance.stack, project))
    time.sleep(KEPT_ROUTE_SECONDS + 1)
    transfer = proxy_archive(appliance, project, "tar")
    [started] = files_containers(engine, appliance.stack, project)
    return asdict(transfer) | {"files_container_start_s": start_seconds(started)}


def archives(appliance: Appliance, engine: DockerClient, sizes: Sizes) -> dict:
    project, container = running_project(appliance, engine, "fa")
    command = ["python3", "-c", WRITE, str(sizes.files), str(sizes.file_bytes)]
    written = container.exec_run(command, user="1000", workdir=WORKSPACE)
    assert written.exit_code == 0, written.output.decode(errors="replace")
    runs: dict[str, list[Transfer]] = {"tar": [], "docker cp": [], "tar.gz": [], "zip": []}
    proxy_archive(appliance, project, "tar")  # the files container started, and the pages cached
    for _ in range(ROUNDS):
        runs["tar"].append(proxy_archive(appliance, project, "tar"))
        runs["docker cp"].append(engine_archive(container))
        runs["tar.gz"].append(proxy_archive(appliance, project, "tar.gz"))
        runs["zip"].append(proxy_archive(appliance, project, "zip"))
    container.pause()
    try:
        cold = [cold_archive(appliance, engine, project) for _ in range(ROUNDS)]
    finally:
        container.unpause()
    results: dict = {
        name: {
            "mb_per_s": statistics.median(t.mb_per_s for t in done),
            "seconds": statistics.median(t.seconds for t in done),
            "bytes": done[0].bytes,
            "rounds": [asdict(t) for t in done],
        }
        for name, done in runs.items()
    }
    results["workspace"] = {"files": sizes.files, "bytes": sizes.files * sizes.file_bytes}
    results["tar_vs_docker_cp"] = statistics.median(
        mine.mb_per_s / base.mb_per_s for mine, base in zip(runs["tar"], runs["docker cp"], strict=True)
    )
    results["cold"] = {
        "first_byte_s": statistics.median(c["first_byte_s"] for c in cold),
        "seconds": statistics.median(c["seconds"] for c in cold),
        "files_container_start_s": statistics.median(c["files_container_start_s"] for c in cold),
        "rounds": cold,
    }
    return results


def timed_reads(client: httpx.Client, url: str, count: int) -> list[float]:
    """Seconds of each of `count` GETs of `url` (1 MiB each, checked) on the client's connection."""
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        reply = client.get(url)
        seconds.append(time.perf_counter() - started)
        if reply.status_code != 200 or len(reply.content) != FILE_BYTES:
            raise RuntimeError(f"GET {url}: {reply.status_code}, {len(reply.content)} bytes")
    return seconds


def one_file(appliance: Appliance, engine: DockerClient, sizes: Sizes) -> dict:
    project, container = running_project(appliance, engine, "fb")
    command = ["python3", "-c", f"import os; open('{FILE}', 'wb').write(os.urandom({FILE_BYTES}))"]
    assert container.exec_run(command, user="1000", workdir=WORKSPACE).exit_code == 0
    server = ["python3", "-m", "http.server", str(PREVIEW_PORT), "--directory", WORKSPACE]
    serve_in(container, [*server, "--protocol", "HTTP/1.1"], PREVIEW_PORT)
    urls = {
        "files API": f"/agent/files/{project}/raw?path={FILE}",
        "http.server": f"/proxy/{project}/{PREVIEW_PORT}/{FILE}",
    }
    runs: dict[str, list[float]] = {name: [] for name in urls}
    with appliance.client() as files, appliance.client() as preview:
        clients = {"files API": files, "http.server": preview}
        for name, url in urls.items():
            timed_reads(clients[name], url, WARM_UP)
        for share in shares(sizes.reads, ROUNDS):
            for name, url in urls.items():
                runs[name].extend(timed_reads(clients[name], url, share))
    results: dict = {name: summary_ms(done) for name, done in runs.items()}
    results["p50_vs_http_server"] = percentile(runs["files API"], 50) / percentile(runs["http.server"], 50)
    results["file_bytes"] = FILE_BYTES
    return results


def run(appliance: Appliance, engine: DockerClient, sizes: Sizes) -> list[Figure]:
    return [
        archive_figure(archives(appliance, engine, sizes)),
        file_figure(one_file(appliance, engine, sizes)),
    ]


def archive_figure(results: dict) -> Figure:
    workspace = results["workspace"]
    figure = Figure(f"files: archive of {workspace['bytes'] / 1e6:.0f} MB in {workspace['files']} files")
    figure.data = results
    for name in ("tar", "docker cp", "tar.gz", "zip"):
        label = f"{name} (engine, baseline)" if name == "docker cp" else f"{name} through the proxy"
        figure.row(label, f"{results[name]['mb_per_s']:.0f} MB/s ({results[name]['seconds']:.1f} s)")
    figure.row("tar / docker cp (target >= 0.8x)", f"{results['tar_vs_docker_cp']:.2f}x")
    cold = results["cold"]
    figure.row(
        "tar, paused project, files container cold",
        f"first byte {cold['first_byte_s'] * 1000:.0f} ms, all {cold['seconds']:.1f} s "
        f"(container start {cold['files_container_start_s'] * 1000:.0f} ms)",
    )
    return figure


def file_figure(results: dict) -> Figure:
    figure = Figure(f"files: one 1 MiB file, {results['files API']['n']} GETs on one connection")
    figure.data = results
    latency_rows(
        figure, results, {"files API": "files API /raw", "http.server": "http.server via preview, baseline"}
    )
    figure.row("p50 files API / http.server (target p50 <= 10 ms)", f"{results['p50_vs_http_server']:.2f}x")
    return figure
