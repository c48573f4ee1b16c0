"""`rcoder chat` in a real terminal (tmux, tests/integration/tmux.py): the turn drawn live, a permission
asked and answered by keys (or withdrawn when answered elsewhere), and Ctrl-C cancelling the turn."""

from __future__ import annotations

import pytest

from tests.integration.conftest import project_id
from tests.integration.sse import stream
from tests.integration.tmux import RCODER
from tests.stack import agent_containers

pytestmark = pytest.mark.engine


def test_chat_draws_the_plan_the_reply_and_the_end_live(terminal, engine, stack):
    project = project_id()

    terminal.run([str(RCODER), "chat", "-p", project, "wait 3 then create hello.txt"])
    during = terminal.wait_for("▸ Work for 3 s", timeout=60)
    code, after = terminal.wait_for_exit()

    assert "☐ Write hello.txt" in during and "waiting for the agent" in during, "the plan and a spinner, live"
    for line in ("✔ Read the request", "✔ Work for 3 s", "✔ Write hello.txt", "✔ Report back"):
        assert line in after
    assert "✔ Write hello.txt (edit) completed" in after
    assert "I wrote hello.txt (34 bytes). Done." in " ".join(after.split()), "the reply, as rich wrapped it"
    assert "✔ end_turn  The agent finished its turn." in after and code == 0
    [container] = agent_containers(engine, stack, project)
    assert container.exec_run(["cat", "/app/project_workspace/hello.txt"]).exit_code == 0


def test_a_permission_request_is_asked_and_answered_with_keys(terminal, engine, stack):
    project = project_id()

    terminal.run([str(RCODER), "chat", "-p", project, "--permission", "ask", "create asked.txt"])
    asked = terminal.wait_for("Answer (1-2 or a name):")
    [container] = agent_containers(engine, stack, project)
    assert "The agent asks to: Write asked.txt" in asked and "[1] Allow   [2] Reject" in asked
    assert container.exec_run(["cat", "/app/project_workspace/asked.txt"]).exit_code != 0, (
        "not before the answer"
    )
    terminal.keys("maybe", "Enter")
    terminal.wait_for("That is none of the options.")
    terminal.keys("allow", "Enter")
    code, after = terminal.wait_for_exit()

    assert "→ Allow" in after and "✔ Write asked.txt (edit) completed" in after and code == 0
    assert container.exec_run(["cat", "/app/project_workspace/asked.txt"]).exit_code == 0


def test_ctrl_c_cancels_the_turn_and_shows_how_it_ended(terminal):
    terminal.run([str(RCODER), "chat", "-p", project_id(), "wait 30"])
    terminal.wait_for("▸ Work for 30 s")

    terminal.keys("C-c")
    code, after = terminal.wait_for_exit(timeout=30)

    assert "■ cancelled  The turn was cancelled." in after and code == 130


def test_a_request_answered_elsewhere_withdraws_the_question(terminal, client):
    project = project_id()
    terminal.run([str(RCODER), "chat", "-p", project, "--permission", "ask", "create elsewhere.txt"])
    terminal.wait_for("Answer (1-2 or a name):")

    session = client.get(f"/agent/status/{project}").json()["data"]["session_id"]
    request = next(e for e in stream(client, session) if e.event == "permission_request").data["data"]
    answer = {
        "project_id": project,
        "session_id": session,
        "request_id": request["requestId"],
        "option_id": "allow",
    }
    assert client.post("/agent/permission", json=answer).status_code == 200
    code, after = terminal.wait_for_exit()

    assert "The request was settled elsewhere: answered, allow" in after
    assert "✔ Write elsewhere.txt (edit) completed" in after and code == 0
