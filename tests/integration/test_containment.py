"""What untrusted code in an agent container tries, from where it stands (inside the container, as the
agent's user), and how each attempt fails: gain privileges (root, capabilities, setuid programs, a
mount, a user namespace), write outside its workspace, reach the Docker engine, exhaust the host's
processes, memory-backed disk or its disk (the workspace quota), or reach a desktop. (Reaching the host, the gateway, the proxy's
internal route and the metadata service is tried in test_isolation.py; another project's container in
test_proxy.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.reach import opened, reach
from tests.stack import agent_containers, run_appliance

pytestmark = pytest.mark.engine

# Runs inside the agent container; prints what happened to each attempt.
ATTEMPTS = r"""
import errno, json, os, subprocess, threading, time

out = {}

def run(*command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError as exc:  # not executable for this user (e.g. a setuid helper only its group may run)
        return 126, exc.strerror
    return done.returncode, (done.stdout + done.stderr).strip()[-200:]

out["uid"] = os.getuid()
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
out["caps"] = {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")}
try:
    os.setuid(0)
    out["setuid"] = "became root"
except PermissionError as exc:
    out["setuid"] = exc.strerror
out["su"] = run("su", "-c", "id -u", "root")
setuid_programs = run("find", "/usr", "/bin", "/sbin", "-xdev", "-perm", "-4000", "-type", "f")[1].split()
out["setuid_programs"] = {p: run(p, "--version")[0] for p in setuid_programs}
out["mount"] = run("mount", "-t", "tmpfs", "none", "/tmp")
out["unshare"] = run("unshare", "-Ur", "id", "-u")
for path in ("/usr/local/bin/planted", "/etc/planted", "/app/planted", "/opt/rcoder-runner/bin/planted"):
    try:
        open(path, "w").write("x")
        out[path] = "written"
    except OSError as exc:
        out[path] = errno.errorcode[exc.errno]
out["docker_sockets"] = [p for p in ("/var/run/docker.sock", "/run/docker.sock") if os.path.exists(p)]
try:
    open("/proc/sysrq-trigger", "w").write("h")
    out["sysrq"] = "written"
except OSError as exc:
    out["sysrq"] = errno.errorcode[exc.errno]

# Memory-backed disk: fill /tmp until it refuses (at most 64 MiB past its size).
written = 0
try:
    with open("/tmp/fill", "wb") as f:
        for _ in range(256 + 64):
            f.write(b"\0" * 1024 * 1024)
            f.flush()
            written += 1
except OSError as exc:
    out["fill_error"] = errno.errorcode[exc.errno]
os.remove("/tmp/fill")
out["fill_mib"] = written
mounts = [line.split() for line in open("/proc/mounts") if line.startswith("tmpfs ")]
out["unbounded_tmpfs"] = [m[1] for m in mounts if "size=" not in m[3] and os.access(m[1], os.W_OK)]

# Process bomb: threads until the pids limit says no (bounded), then a fork at the limit.
threading.stack_size(64 * 1024)
stop = threading.Event()
threads = []
try:
    for _ in range(4096):
        thread = threading.Thread(target=stop.wait)
        thread.start()
        threads.append(thread)
except RuntimeError:
    pass
out["threads"] = len(threads)
try:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out["fork_at_limit"] = "forked"
except OSError as exc:
    out["fork_at_limit"] = errno.errorcode[exc.errno]
stop.set()
for thread in threads:
    thread.join()
out["after"] = run("true")[0]
print(json.dumps(out))
"""


def attempt_everything(container, python: str = "python3") -> dict:
    """ATTEMPTS, run by `python` in the container (a template's image may have none: the runner
    bundle's, which the agent's code can run too)."""
    result = container.exec_run([python, "-c", ATTEMPTS])
    assert result.exit_code == 0, result.output.decode()[-3000:]
    return json.loads(result.output.decode().strip().splitlines()[-1])


def test_code_in_an_agent_container_cannot_get_out(client, engine, stack):
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)

    assert_it_cannot_get_out(attempt_everything(container), container)
    assert client.get(f"/agent/status/{project}").json()["data"]["is_alive"] is True


def assert_it_cannot_get_out(outcome: dict, container) -> None:
    """Every attempt of ATTEMPTS failed as it must."""
    assert outcome["uid"] == 1000, "agents run as an unprivileged user"
    assert outcome["caps"] == {"CapEff": "0" * 16, "CapPrm": "0" * 16, "CapBnd": "0" * 16, "NoNewPrivs": "1"}
    assert outcome["setuid"] == "Operation not permitted"
    assert outcome["su"][0] != 0, outcome["su"]
    # Setuid programs exist in the image, but no_new_privileges keeps them from raising privileges.
    assert outcome["mount"][0] != 0 and "superuser" in outcome["mount"][1], outcome["mount"]
    assert outcome["unshare"][0] != 0, outcome["unshare"]
    for path in ("/usr/local/bin/planted", "/etc/planted", "/app/planted"):
        assert outcome[path] in ("EROFS", "EACCES"), (path, outcome[path])
    # The runner bundle, where a template's container has it (the agent image has none).
    assert outcome["/opt/rcoder-runner/bin/planted"] in ("EROFS", "EACCES", "ENOENT")
    assert outcome["docker_sockets"] == []
    assert outcome["sysrq"] in ("EROFS", "EACCES", "EPERM", "ENOENT"), outcome["sysrq"]  # masked or read-only
    assert outcome["fill_error"] == "ENOSPC" and outcome["fill_mib"] <= 256, outcome
    assert outcome["unbounded_tmpfs"] == [], "every memory-backed place it can write to has a size"
    pids_limit = container.attrs["HostConfig"]["PidsLimit"]
    assert 0 < outcome["threads"] < pids_limit, (outcome["threads"], pids_limit)
    assert outcome["fork_at_limit"] == "EAGAIN"
    assert outcome["after"] == 0, "the container works again once its processes are gone"


def test_an_agent_container_cannot_fill_the_host_with_its_log(client, engine, stack):
    """Its log (what its first process prints) is kept, but as three files of 10 MiB at most."""
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)
    assert container.attrs["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-file": "3", "max-size": "10m"},
    }
    # 48 MiB of lines (a log entry holds 16 KiB at most), written where the runner's output goes.
    flood = "yes $(head -c 1000 /dev/zero | tr '\\0' x) | head -c 50331648 > /proc/1/fd/1"
    result = container.exec_run(["sh", "-c", flood], user="1000")
    assert result.exit_code == 0, result.output[-300:]
    log = Path(container.attrs["LogPath"])
    kept = sum(path.stat().st_size for path in log.parent.glob(log.name + "*"))
    assert 16 * 2**20 < kept <= 3 * 11 * 2**20, f"{kept / 2**20:.1f} MiB of log kept"


def test_an_agent_container_cannot_reach_a_desktop(client, engine, stack):
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)
    user = f"u{project_id()}"
    response = client.post("/computer/pod/ensure", json={"user_id": user, "project_id": "p1"}, timeout=120)
    assert response.status_code == 200, response.text
    labels = [f"rcoder.stack={stack}", f"rcoder.user={user}", "rcoder.kind=desktop"]
    [desktop] = engine.containers.list(filters={"label": labels})
    address = next(iter(desktop.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]

    outcomes = reach(container, [(address, port) for port in (6080, 6089, 6090, 6091, 5900, 50051)])

    assert opened(outcomes) == [], outcomes


# Fills the workspace as the agent's user: what df says of it, what writing more than it holds did, how
# much was written, and whether writing works again once the file is gone.
FILL = r"""
df -B1 --output=size /app/project_workspace | tail -1
dd if=/dev/zero of=/app/project_workspace/fill bs=1M count=64 2>&1 | head -1
du -B1 -s /app/project_workspace/fill | cut -f1
rm -f /app/project_workspace/fill
dd if=/dev/zero of=/app/project_workspace/after bs=1M count=1 2>&1 | tail -1
"""


def test_an_agent_cannot_write_more_than_its_workspace_holds(engine):
    """engine_config.workspace_size_bytes, held by the workspace-volumes plugin (a file system of that
    size per workspace, outside the container): a 16 MiB workspace takes no more, and the host's disk
    never sees the rest."""
    size = 16 * 1024**2
    with run_appliance(engine, RCODER_WORKSPACE_SIZE_BYTES=str(size), RCODER_WARM_POOL_SIZE="0") as appliance:
        health = httpx.get(f"{appliance.url}/health").json()
        assert health["workspace_bytes"] == size, health
        with appliance.client() as client:
            project = project_id()
            chat(client, project, "hello")
            [container] = agent_containers(engine, appliance.stack, project)
            lines = container.exec_run(["sh", "-c", FILL], user="agent").output.decode().splitlines()
            [volume] = [m["Name"] for m in container.attrs["Mounts"] if m["Type"] == "volume"]
            driver = engine.volumes.get(volume).attrs["Driver"]

    reported, refused, written, after = lines
    assert size * 0.8 < int(reported) <= size, "df inside the container shows the workspace's size"
    assert "No space left on device" in refused, refused
    assert int(written) <= size
    assert "copied" in after, "with the space freed, writing works again"
    assert driver.startswith("rcoder/workspace-volumes"), driver
