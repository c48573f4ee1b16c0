"""The demo agent: a real ACP agent over stdio that needs no model and no API key.

It reads its prompt for simple instructions, and for each turn it reports a plan,
streams its thinking and its reply, and carries out tool calls that really act on the
project's workspace, asking the client for permission first:

- ``create <file>`` (or ``write <file>``), optionally ``with content "..."``: writes the file;
- ``wait <seconds>`` (or ``sleep <seconds>``): works for that long, streaming progress;
- ``list mcp``: lists the MCP servers the client gave the session;
- ``mcp tools``: starts each of them and lists its tools (a tool call);
- ``mcp call <server> <tool> {json arguments}``: calls the tool, after asking permission, and reports
  its result (a tool call, and the reply); several calls in one prompt go to the same server, which
  is started once for the turn and stopped at its end (so a browser keeps its page between them);
- ``talk <n>`` (optionally ``quickly``): streams n more words, a steady stream of events for load
  tests (``quickly``: all at once);
- ``commit "<message>"``: ``git add -A`` and ``git commit -m <message>`` in its folder (a tool call of
  kind ``execute``), reporting the new commit's short id;
- ``push <branch>``: ``git push origin HEAD:refs/heads/<branch>``, reporting git's words, a refusal
  included (then the tool call fails).

Cancellation (ACP ``session/cancel``) stops the turn at the next step with ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from runner.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, Connection, RpcError, stdio
from runner.mcp_client import McpError, McpServer, result_text, started

CREATE = re.compile(r"\b(?:create|write)\s+(?:a\s+file\s+(?:named|called)\s+)?[`'\"]?([\w][\w.\-/]*)", re.I)
CONTENT = re.compile(r"\b(?:with content|containing)\s+\"([^\"]*)\"", re.I)
WAIT = re.compile(r"\b(?:wait|sleep)\s+(\d+(?:\.\d+)?)", re.I)
LIST_MCP = re.compile(r"\blist\s+mcp\b", re.I)
TALK = re.compile(r"\btalk\s+(\d+)(\s+quickly)?", re.I)
MCP_TOOLS = re.compile(r"\bmcp\s+tools\b", re.I)
MCP_CALL = re.compile(r"\bmcp\s+call\s+([\w.-]+)\s+([\w.-]+)", re.I)
COMMIT = re.compile(r"\bcommit\s+\"([^\"]*)\"", re.I)
PUSH = re.compile(r"\bpush\s+(\w[\w./-]*)", re.I)
MAX_TALK_WORDS = 100_000
MAX_WAIT_SECONDS = 600.0
DEFAULT_CONTENT = "Hello from the RCoder demo agent!\n"
HELP = (
    'Try "create hello.txt", "wait 5", "list mcp", "mcp tools", "mcp call <server> <tool> {...}", '
    '\'commit "<message>"\' or "push <branch>". '
)
GIT_TIMEOUT = 300.0

T = TypeVar("T")


class Cancelled(Exception):
    """The client cancelled the turn."""


@dataclass(frozen=True)
class McpCall:
    """One ``mcp call`` instruction: a tool of one of the session's MCP servers, and its arguments."""

    server: str
    tool: str
    arguments: dict[str, Any]
    problem: str = ""  # why the call cannot be made as written


def mcp_calls(text: str) -> list[McpCall]:
    """The prompt's ``mcp call <server> <tool> {json}`` instructions, in order (no JSON: no arguments)."""
    calls = []
    for match in MCP_CALL.finditer(text):
        rest = text[match.end() :].lstrip()
        if not rest.startswith("{"):
            calls.append(McpCall(match[1], match[2], {}))
            continue
        try:
            calls.append(McpCall(match[1], match[2], json.JSONDecoder().raw_decode(rest)[0]))
        except json.JSONDecodeError as exc:
            calls.append(McpCall(match[1], match[2], {}, f"its arguments are not valid JSON ({exc})"))
    return calls


@dataclass
class DemoSession:
    cwd: Path
    mcp_servers: list[Any]
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Step:
    """One entry of the turn's plan."""

    title: str
    status: str = "pending"


class DemoAgent:
    """The agent side of ACP: initialize, session/new, session/prompt and session/cancel."""

    def __init__(self, chunk_delay: float) -> None:
        self._client: Connection | None = None
        self._sessions: dict[str, DemoSession] = {}
        self.chunk_delay = chunk_delay

    def connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Connection:
        self._client = Connection(reader, writer, self.answer, self.notified)
        return self._client

    async def answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "initialize":
            return {
                "protocolVersion": 1,
                "agentCapabilities": {"loadSession": False},
                "agentInfo": {"name": "rcoder-demo-agent", "title": "RCoder demo agent", "version": "1"},
            }
        if method == "session/new":
            session_id = uuid.uuid4().hex
            servers = list(params.get("mcpServers") or [])
            self._sessions[session_id] = DemoSession(cwd=Path(params["cwd"]), mcp_servers=servers)
            return {"sessionId": session_id}
        if method == "session/prompt":
            return {"stopReason": await self.prompt(params.get("sessionId", ""), params.get("prompt") or [])}
        raise RpcError(METHOD_NOT_FOUND, f"the demo agent does not offer {method}")

    async def notified(self, method: str, params: dict[str, Any]) -> None:
        if method == "session/cancel" and (session := self._sessions.get(params.get("sessionId", ""))):
            session.cancelled.set()

    async def prompt(self, session_id: str, prompt: list[dict[str, Any]]) -> str:
        session = self._sessions.get(session_id)
        if session is None:
            raise RpcError(INVALID_PARAMS, "Invalid params", {"sessionId": f"unknown session {session_id}"})
        session.cancelled.clear()
        text = " ".join(block.get("text", "") for block in prompt if block.get("type") == "text")
        attachments = [describe_block(block) for block in prompt if block.get("type") != "text"]
        try:
            await Turn(self, session_id, session, text, attachments).run()
        except Cancelled:
            return "cancelled"
        return "end_turn"

    @property
    def client(self) -> Connection:
        assert self._client is not None, "no client connected"
        return self._client


class Turn:
    """One prompt turn of the demo agent."""

    def __init__(
        self, agent: DemoAgent, session_id: str, session: DemoSession, text: str, attachments: list[str]
    ) -> None:
        self.agent = agent
        self.session_id = session_id
        self.session = session
        self.text = text
        self.attachments = attachments
        self.steps: list[Step] = [Step("Read the request")]
        # The session's MCP servers this turn started, by name; stopped when it ends.
        self.mcp: dict[str, McpServer] = {}
        self.mcp_stack = contextlib.AsyncExitStack()

    async def run(self) -> None:
        async with self.mcp_stack:
            await self.act()

    async def act(self) -> None:
        # A commit's message is not read for other instructions ('commit "wait for review"').
        text = COMMIT.sub(" ", self.text)
        create, wait = CREATE.search(text), WAIT.search(text)
        list_tools, calls = MCP_TOOLS.search(text), mcp_calls(text)
        commit, push = COMMIT.search(self.text), PUSH.search(text)
        if wait:
            self.steps.append(Step(f"Work for {wait.group(1)} s"))
        if create:
            self.steps.append(Step(f"Write {create.group(1)}"))
        if list_tools or calls:
            self.steps.append(Step("Use the MCP servers"))
        if commit:
            self.steps.append(Step("Commit the changes"))
        if push:
            self.steps.append(Step(f"Push to {push.group(1)}"))
        self.steps.append(Step("Report back"))

        await self.advance(0)
        await self.think(f"The request is: {self.text.strip()!r}. ")
        await self.say("I am the RCoder demo agent: I run without a model, so I follow simple instructions. ")
        step = 1
        if wait:
            await self.advance(step)
            await self.work(min(float(wait.group(1)), MAX_WAIT_SECONDS))
            step += 1
        if create:
            await self.advance(step)
            content = CONTENT.search(self.text)
            await self.write_file(create.group(1), content.group(1) if content else DEFAULT_CONTENT)
            step += 1
        if list_tools or calls:
            await self.advance(step)
            if list_tools:
                await self.list_mcp_tools()
            for call in calls:
                await self.call_mcp_tool(call)
            step += 1
        if commit:
            await self.advance(step)
            await self.commit(commit.group(1))
            step += 1
        if push:
            await self.advance(step)
            await self.push(push.group(1))
            step += 1
        for attachment in self.attachments:
            await self.say(f"Attached: {attachment}. ")
        if talk := TALK.search(self.text):
            words = min(int(talk.group(1)), MAX_TALK_WORDS)
            await self.say(" ".join(f"word{i}" for i in range(words)) + " ", 0 if talk.group(2) else None)
        if LIST_MCP.search(self.text):
            names = [server.get("name", "?") for server in self.session.mcp_servers]
            await self.say(f"MCP servers of this session: {', '.join(names) or 'none'}. ")
        await self.advance(step)
        if not (create or wait or list_tools or calls or commit or push):
            await self.say(HELP)
        await self.say("Done.")
        await self.advance(len(self.steps))

    async def send(self, update: dict[str, Any]) -> None:
        await self.agent.client.notify("session/update", {"sessionId": self.session_id, "update": update})

    async def pause(self, seconds: float) -> None:
        """Sleep, or raise Cancelled as soon as the client cancels."""
        try:
            await asyncio.wait_for(self.session.cancelled.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise Cancelled

    async def advance(self, current: int) -> None:
        """Report the plan with steps before `current` done and step `current` in progress."""
        for index, step in enumerate(self.steps):
            step.status = "completed" if index < current else "in_progress" if index == current else "pending"
        entries = [{"content": s.title, "priority": "medium", "status": s.status} for s in self.steps]
        await self.send({"sessionUpdate": "plan", "entries": entries})

    async def think(self, text: str) -> None:
        await self.send({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": text}})
        await self.pause(self.agent.chunk_delay)

    async def say(self, text: str, pace: float | None = None) -> None:
        """Stream `text` word by word, as a model would (a word every `pace` seconds; default: the
        agent's chunk delay; 0: as fast as they go, still stopping when the client cancels)."""
        pace = self.agent.chunk_delay if pace is None else pace
        for word in re.findall(r"\S+\s*", text):
            await self.send(
                {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": word}}
            )
            if pace:
                await self.pause(pace)
            elif self.session.cancelled.is_set():
                raise Cancelled

    async def update_tool_call(self, call_id: str, status: str, **fields: Any) -> None:
        await self.send(
            {"sessionUpdate": "tool_call_update", "toolCallId": call_id, "status": status, **fields}
        )

    async def work(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            await self.think(f"working ({left:.1f} s left)... ")
            await self.pause(min(0.25, left))

    async def write_file(self, name: str, content: str) -> None:
        call_id = f"write-{uuid.uuid4().hex[:8]}"
        path = (self.session.cwd / name).resolve()
        title = f"Write {name}"
        await self.send(
            {
                "sessionUpdate": "tool_call",
                "toolCallId": call_id,
                "title": title,
                "kind": "edit",
                "status": "pending",
                "locations": [{"path": str(path)}],
                "rawInput": {"path": str(path), "content": content},
            }
        )
        if not path.is_relative_to(self.session.cwd.resolve()):
            await self.update_tool_call(call_id, "failed")
            await self.say(f"I will not write {name}: it is outside the workspace. ")
            return
        if not await self.permitted(call_id, title):
            await self.update_tool_call(call_id, "failed")
            await self.say(f"Permission to write {name} was refused, so I left the workspace as it was. ")
            return
        await self.update_tool_call(call_id, "in_progress")
        old = path.read_text() if path.is_file() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        diff = {"type": "diff", "path": str(path), "newText": content}
        if old is not None:
            diff["oldText"] = old
        await self.update_tool_call(call_id, "completed", content=[diff])
        await self.say(f"I wrote {name} ({len(content.encode())} bytes). ")

    async def mcp_server(self, name: str) -> McpServer:
        """The session's MCP server of that name, started the first time this turn asks for it."""
        if name not in self.mcp:
            configs = [server for server in self.session.mcp_servers if server.get("name") == name]
            if not configs:
                raise McpError(f"this session has no MCP server named {name!r}")
            self.mcp[name] = await self.until_cancelled(
                self.mcp_stack.enter_async_context(started(configs[0], self.session.cwd))
            )
        return self.mcp[name]

    async def list_mcp_tools(self) -> None:
        call_id = f"mcp-tools-{uuid.uuid4().hex[:8]}"
        title = "List the tools of the MCP servers"
        await self.send(
            {
                "sessionUpdate": "tool_call",
                "toolCallId": call_id,
                "title": title,
                "kind": "read",
                "status": "pending",
            }
        )
        await self.update_tool_call(call_id, "in_progress")
        lines, failed = [], False
        for name in [server.get("name", "?") for server in self.session.mcp_servers]:
            try:
                tools = await self.until_cancelled((await self.mcp_server(name)).tools())
                lines.append(f"{name}: {', '.join(tool['name'] for tool in tools)}")
            except McpError as exc:
                failed = True
                lines.append(f"{name}: {exc}")
        report = "; ".join(lines) or "this session has no MCP servers"
        await self.update_tool_call(
            call_id, "failed" if failed else "completed", content=[text_content(report)]
        )
        await self.say(f"MCP tools of this session: {report}. ", 0)

    async def call_mcp_tool(self, call: McpCall) -> None:
        call_id = f"mcp-call-{uuid.uuid4().hex[:8]}"
        title = f"Call {call.tool} of MCP server {call.server}"
        await self.send(
            {
                "sessionUpdate": "tool_call",
                "toolCallId": call_id,
                "title": title,
                "kind": "other",
                "status": "pending",
                "rawInput": call.arguments,
            }
        )
        if call.problem:
            await self.update_tool_call(call_id, "failed")
            await self.say(f"I did not call {call.tool}: {call.problem}. ")
            return
        if not await self.permitted(call_id, title, "other"):
            await self.update_tool_call(call_id, "failed")
            await self.say(f"Permission to call {call.tool} was refused. ")
            return
        await self.update_tool_call(call_id, "in_progress")
        try:
            server = await self.mcp_server(call.server)
            result = await self.until_cancelled(server.call(call.tool, call.arguments))
        except McpError as exc:
            await self.update_tool_call(call_id, "failed", content=[text_content(str(exc))])
            await self.say(f"Calling {call.tool} failed: {exc}. ")
            return
        text = result_text(result)
        status = "failed" if result.get("isError") else "completed"
        await self.update_tool_call(call_id, status, content=[text_content(text)])
        await self.say(f"{call.server} {call.tool} {status}: {text}\n", 0)

    async def commit(self, message: str) -> None:
        commands = (("add", "-A"), ("commit", "-m", message), ("rev-parse", "--short", "HEAD"))
        if (short := await self.git(shlex.join(("git", "commit", "-m", message)), *commands)) is not None:
            await self.say(f"I committed {short.strip()}: {message}. ")

    async def push(self, branch: str) -> None:
        command = ("push", "origin", f"HEAD:refs/heads/{branch}")
        if await self.git(f"git push origin HEAD:{branch}", command) is not None:
            await self.say(f"I pushed to {branch}. ")

    async def git(self, title: str, *commands: tuple[str, ...]) -> str | None:
        """Run git `commands` in the workspace, one after another, as one tool call (after asking):
        their words are its content. The last one's output; None when one failed (the call fails)."""
        call_id = f"git-{uuid.uuid4().hex[:8]}"
        command = " && ".join(shlex.join(("git", *args)) for args in commands)
        await self.send(
            {
                "sessionUpdate": "tool_call",
                "toolCallId": call_id,
                "title": title,
                "kind": "execute",
                "status": "pending",
                "rawInput": {"command": command, "cwd": str(self.session.cwd)},
            }
        )
        if not await self.permitted(call_id, title, "execute"):
            await self.update_tool_call(call_id, "failed")
            await self.say(f"Permission to run {title} was refused. ")
            return None
        await self.update_tool_call(call_id, "in_progress")
        words = []
        for args in commands:
            status, output = await self.execute(("git", *args))
            words.append(output)
            if status != 0:
                report = "".join(words).strip() or f"git {args[0]} exited with {status}"
                await self.update_tool_call(call_id, "failed", content=[text_content(report)])
                await self.say(f"{title} failed: {report}\n", 0)
                return None
        await self.update_tool_call(call_id, "completed", content=[text_content("".join(words).strip())])
        return output

    async def execute(self, command: tuple[str, ...]) -> tuple[int, str]:
        """A command's exit status and its output (stdout and stderr together), in the workspace; a
        cancel kills it."""
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=self.session.cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await self.until_cancelled(asyncio.wait_for(process.communicate(), GIT_TIMEOUT))
        except TimeoutError:
            return -1, f"{shlex.join(command)} took longer than {GIT_TIMEOUT:g} s"
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        return process.returncode, output.decode(errors="replace")

    async def until_cancelled(self, work: Awaitable[T]) -> T:
        """The work's result; or, as soon as the client cancels, Cancelled (and the work is dropped)."""
        working = asyncio.ensure_future(work)
        cancelled = asyncio.ensure_future(self.session.cancelled.wait())
        try:
            await asyncio.wait({working, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            working.cancel()
            cancelled.cancel()
        if not working.done() or working.cancelled():
            raise Cancelled
        return working.result()

    async def permitted(self, call_id: str, title: str, kind: str = "edit") -> bool:
        options = [
            {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
            {"optionId": "reject", "name": "Reject", "kind": "reject_once"},
        ]
        tool_call = {"toolCallId": call_id, "title": title, "kind": kind, "status": "pending"}
        response = await self.agent.client.request(
            "session/request_permission",
            {"sessionId": self.session_id, "toolCall": tool_call, "options": options},
        )
        if self.session.cancelled.is_set():
            raise Cancelled
        outcome = (response or {}).get("outcome") or {}
        return outcome.get("outcome") == "selected" and outcome.get("optionId") == "allow"


def text_content(text: str) -> dict[str, Any]:
    """A tool call's content block holding text."""
    return {"type": "content", "content": {"type": "text", "text": text}}


def describe_block(block: dict[str, Any]) -> str:
    """A short description of a prompt's non-text content block."""
    kind = block.get("type", "unknown")
    if kind == "resource":
        resource = block.get("resource") or {}
        text = resource.get("text")
        uri = resource.get("uri")
        return f"{uri} saying {text[:80]!r}" if text is not None else f"{uri} (binary)"
    if kind == "resource_link":
        return f"a link to {block.get('uri')}"
    return f"{kind} ({block.get('mimeType', '')})"


async def serve(agent: DemoAgent) -> None:
    """Answer the client on stdin and stdout until it closes them."""
    connection = agent.connect(*await stdio())
    await connection.wait_closed()
    await connection.close()


def main() -> None:
    delay = float(os.environ.get("RCODER_DEMO_CHUNK_DELAY", "0.02"))
    asyncio.run(serve(DemoAgent(chunk_delay=delay)))


if __name__ == "__main__":
    main()
