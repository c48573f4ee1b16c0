"""rcoder/commands.py and rcoder/workspace_commands.py: the commands against a recorded turn, and
against a stand-in for the files API."""

from __future__ import annotations

import asyncio
import json
import tarfile
import threading
from collections.abc import Iterator

import pytest

from rcoder import cli, workspace_commands
from rcoder.client import Appliance
from rcoder.commands import parser
from rcoder_wire.replies import PodListData, PodListItem
from tests.unit.rcoder import files_server
from tests.unit.rcoder.sse_server import SESSION, ReplayServer, recorded_events, serving


@pytest.fixture
def server(monkeypatch, tmp_path) -> Iterator[ReplayServer]:
    """The replay server on a loop of its own (the commands run theirs), and the client pointed at it."""
    replay = ReplayServer()
    started, stop = threading.Event(), None
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with serving(replay):
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    assert started.wait(10)
    monkeypatch.setenv("RCODER_URL", replay.url)
    monkeypatch.setenv("RCODER_API_KEY", "key")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    yield replay
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    return exited.value.code


def test_chat_json_prints_each_event_once_as_a_line(server, capsys):
    code = run(["chat", "-p", "rec1", "--json", "--permission", "deny", "create hello.txt"])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [line["id"] for line in lines] == [i for i, _ in recorded_events() if i is not None]
    assert lines[-1]["subType"] == "end_turn" and lines[0]["sessionId"] == SESSION
    assert server.posted == [
        ("/chat", {"prompt": "create hello.txt", "project_id": "rec1", "permission_policy": "deny"})
    ]


def test_chat_shows_the_plan_the_tools_the_reply_and_the_end(server, capsys):
    code = run(["chat", "-p", "rec1", "--agent", "demo", "create hello.txt"])

    out = capsys.readouterr().out
    assert code == 0
    assert "✔ Read the request" in out and "✔ Write hello.txt" in out and "✔ Report back" in out
    assert "✔ Write hello.txt (edit) completed" in out
    assert "I wrote hello.txt (34 bytes). Done." in out
    assert "✔ end_turn  The agent finished its turn." in out
    assert server.posted[0][1]["agent_config"] == {"agent_server": {"agent_id": "demo"}}


def test_logs_replays_from_an_event_on(server, capsys):
    assert run(["logs", "-p", "rec1", "--session", SESSION, "--after", "30", "--json"]) == 0

    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [31, 32, 33, 34]
    assert server.asked == ["30", "34"], "after the turn's end, the next turn is asked for: 204, nothing"


def test_pods_is_the_old_name_of_containers(capsys, monkeypatch, tmp_path):
    item = PodListItem(
        container_id="c1",
        container_name="rcoder-s-agent-p1",
        container_ip=None,
        status="running",
        service_type="rcoder",
        project_id="p1",
    )
    listed = PodListData(containers=[item], total=1, returned=1, paginated=False, timestamp="now")
    asked = []

    async def containers(self: Appliance, limit: int = 100) -> PodListData:
        asked.append(limit)
        return listed

    monkeypatch.setattr(Appliance, "containers", containers)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    printed = []
    for name in ("containers", "pods"):
        assert run([name, "--json", "--limit", "5", "--url", "http://127.0.0.1:9"]) == 0
        printed.append(json.loads(capsys.readouterr().out))
    assert printed[0] == printed[1] == listed.model_dump(mode="json") and asked == [5, 5]


def test_errors_print_one_line_and_exit_1(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert run(["status", "--url", "http://127.0.0.1:9", "-p", "p1"]) == 1
    assert capsys.readouterr().err.startswith("rcoder status: GET http://127.0.0.1:9/agent/status/p1: ")
    assert run(["status", "-p", "no/such"]) == 1
    assert "invalid project_id 'no/such'" in capsys.readouterr().err
    monkeypatch.delenv("RCODER_PROJECT", raising=False)
    assert run(["stop"]) == 1
    assert "give -p PROJECT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["files", "ls", "-p", "demo"], {"action": "ls", "path": "", "project": "demo"}),
        (
            ["files", "get", "-p", "demo", "hello.txt", "-o", "h.txt"],
            {"path": "hello.txt", "output": "h.txt"},
        ),
        (["files", "put", "-p", "demo", "-", "notes/n.txt"], {"local": "-", "path": "notes/n.txt"}),
        (["files", "rm", "-p", "demo", "-r", "build", "--user", "u1"], {"recursive": True, "user": "u1"}),
        (["download", "-p", "demo"], {"output": None, "path": "", "format": "tar.gz"}),
        (["download", "-p", "demo", "-o", "s.zip", "--path", "src", "--format", "zip"], {"format": "zip"}),
        (["upload", "-p", "demo", "site", "--to", "public"], {"source": "site", "to": "public"}),
        (["shell", "-p", "demo", "--user", "u1"], {"command": "shell", "user": "u1"}),
    ],
)
def test_the_workspace_commands_parse(argv, expected):
    args = vars(parser().parse_args(argv))
    assert {name: args[name] for name in expected} == expected


@pytest.fixture
def files_api(monkeypatch, tmp_path) -> Iterator[files_server.FilesState]:
    with files_server.serving(tmp_path / "workspace") as (url, state):
        monkeypatch.setenv("RCODER_URL", url)
        monkeypatch.setenv("RCODER_API_KEY", "key")
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
        monkeypatch.chdir(tmp_path)
        yield state


def test_files_put_ls_get_and_rm(files_api, tmp_path, capsys):
    (tmp_path / "n.txt").write_text("a note")

    assert run(["files", "put", "-p", "p1", "n.txt", "notes/n.txt"]) == 0
    assert "wrote notes/n.txt (6 bytes)" in capsys.readouterr().out
    assert run(["files", "ls", "-p", "p1", "notes", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["name"], e["size"]) for e in listed["entries"]] == [("n.txt", 6)]
    assert run(["files", "ls", "-p", "p1"]) == 0
    assert "notes/" in capsys.readouterr().out
    assert run(["files", "get", "-p", "p1", "notes/n.txt"]) == 0
    assert capsys.readouterr().out == "a note"
    assert run(["files", "rm", "-p", "p1", "notes"]) == 1
    assert "rcoder files: the folder is not empty (HTTP 409" in capsys.readouterr().err
    assert run(["files", "rm", "-p", "p1", "-r", "notes"]) == 0
    assert not (files_api.root / "notes").exists()


def test_download_and_upload_move_archives(files_api, tmp_path, capsys):
    (files_api.root / "hello.txt").write_text("hello")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>hi</p>")

    assert run(["download", "-p", "p1"]) == 0
    assert "saved p1.tar.gz" in capsys.readouterr().out
    assert run(["download", "-p", "p1", "-o", "all.tar.gz", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == "all.tar.gz"
    assert run(["upload", "-p", "p1", "site", "--to", "public"]) == 0

    with tarfile.open(tmp_path / "p1.tar.gz") as archive:
        assert archive.getnames() == ["hello.txt"]
    assert "unpacked 1 file (9 bytes) into public" in capsys.readouterr().out
    assert (files_api.root / "public/index.html").read_text() == "<p>hi</p>"
    assert run(["upload", "-p", "p1", "no-such-folder"]) == 1
    assert "rcoder upload: [Errno 2] No such file or directory" in capsys.readouterr().err


def test_shell_exits_with_the_shells_status(monkeypatch, tmp_path):
    opened = []

    async def run_shell(project) -> int:
        opened.append((project.id, project.user))
        return 5

    monkeypatch.setattr(workspace_commands, "run_shell", run_shell)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert run(["shell", "-p", "p1", "--user", "u1", "--url", "http://127.0.0.1:9"]) == 5
    assert opened == [("p1", "u1")]
