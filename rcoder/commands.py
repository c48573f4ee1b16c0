"""The client's commands: `rcoder chat|status|stop|cancel|preview|desktop|logs|containers|agents`, those
of rcoder/workspace_commands.py (`files`, `download`, `upload`, `shell`) and rcoder/template_commands.py
(`templates`), and `rcoder serve`, which
rcoder/cli.py hands to the gateway before these are parsed.

Each is parse → one call of the client → print: for people with rich, or with `--json` as JSON (one
line per event for chat and logs). Errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.table import Table

from rcoder import config, template_commands, workspace_commands
from rcoder.client import Appliance
from rcoder.errors import ConfigError, RCoderError
from rcoder.output import console, print_fields, print_json
from rcoder.project import Project
from rcoder.terminal import follow_json, follow_live

Command = Callable[[argparse.Namespace, Appliance, config.ClientConfig], Awaitable[int]]
COMMANDS: dict[str, Command] = {}
# Old names of commands, still accepted: `pods` listed every container, not only pods.
ALIASES = {"pods": "containers"}
ENVIRONMENT_HELP = """
The appliance is RCODER_URL (default http://127.0.0.1:8088) and its key RCODER_API_KEY; both can also
be set in ~/.config/rcoder/client.yml (url:, api_key:, user:, project:) or given as flags.
"""


def version() -> str:
    try:
        return importlib.metadata.version("rcoder")
    except importlib.metadata.PackageNotFoundError:  # a checkout on sys.path, not installed
        return "unknown"


def command(function: Command) -> Command:
    COMMANDS[function.__name__] = function
    return function


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the appliance (its proxy), e.g. http://127.0.0.1:8088")
    common.add_argument("--api-key", help="sent as x-api-key (prefer RCODER_API_KEY or the config file)")
    common.add_argument("--json", action="store_true", help="machine-readable output (JSON lines for events)")
    project = argparse.ArgumentParser(add_help=False, parents=[common])
    project.add_argument("-p", "--project", help="the project (default: the config's project)")
    project.add_argument("--user", help="a Computer Agent project: the one of this user, in their desktop")

    top = argparse.ArgumentParser(prog="rcoder", description="The RCoder client.", epilog=ENVIRONMENT_HELP)
    top.add_argument("--version", action="version", version=f"rcoder {version()}")
    sub = top.add_subparsers(dest="command", required=True)
    chat_ = sub.add_parser("chat", parents=[project], help="send a prompt and show the turn live")
    chat_.add_argument("prompt", help='the prompt ("-" reads it from stdin)')
    chat_.add_argument("--agent", help="an agent id of `rcoder agents` (default: the appliance's)")
    chat_.add_argument(
        "--permission",
        choices=["allow", "deny", "ask"],
        help="how permission requests are answered; ask: here",
    )
    chat_.add_argument("--session", help="continue this session (default: the project's latest)")
    chat_.add_argument(
        "--repo",
        metavar="URL[@REF]",
        help="on a new project: clone this repository (a branch, tag or commit after @) before the agent starts",
    )
    chat_.add_argument("--depth", type=int, help="with --repo: a shallow clone of this many commits")
    chat_.add_argument(
        "--template", help="on a new project: the toolchain it runs on (`rcoder templates ls`)"
    )
    chat_.add_argument("--system-prompt", help="replaces the agent's system prompt")
    chat_.add_argument(
        "--model-provider",
        help="JSON, or @file with it: {id, base_url, api_key, default_model, api_protocol}",
    )
    sub.add_parser(
        "status", parents=[project], help="the project's agent: alive, busy or idle, latest session"
    )
    sub.add_parser("stop", parents=[project], help="stop the project's agent (its workspace stays)")
    cancel_ = sub.add_parser("cancel", parents=[project], help="cancel the running turn")
    cancel_.add_argument("--session", help="only this session's turn")
    preview_ = sub.add_parser(
        "preview", parents=[project], help="a URL opening PORT inside the project's container"
    )
    preview_.add_argument("port", type=int)
    preview_.add_argument("--open", action="store_true", help="open it in a browser")
    desktop_ = sub.add_parser(
        "desktop", parents=[project], help="the URL of your desktop (noVNC), with a token"
    )
    desktop_.add_argument("--open", action="store_true", help="open it in a browser")
    logs_ = sub.add_parser(
        "logs", parents=[project], help="replay a session's latest turn (or all after --after)"
    )
    logs_.add_argument("--session", help="default: the project's latest session")
    logs_.add_argument("--after", type=int, help="every event after this id, turn after turn")
    containers_ = sub.add_parser(
        "containers", aliases=list(ALIASES), parents=[common], help="the agent, desktop and pod containers"
    )
    containers_.add_argument("--limit", type=int, default=100)
    sub.add_parser("agents", parents=[common], help="the agents the appliance runs")
    workspace_commands.add_parsers(sub, project)
    template_commands.add_parsers(sub, common)
    sub.add_parser(
        "serve", help="run the gateway (the same as rcoder-gateway; rcoder serve -h for its flags)"
    )
    return top


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        settings = config.load(
            {"url": args.url, "api_key": args.api_key, "project": getattr(args, "project", None)}
        )
        return asyncio.run(run(COMMANDS[ALIASES.get(args.command, args.command)], args, settings))
    except RCoderError as exc:
        print(f"rcoder {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`rcoder logs --json | head`): nothing more to say, to anyone.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a local file of `files put`, `upload` or `download`
        print(f"rcoder {args.command}: {exc}", file=sys.stderr)
        return 1


async def run(function: Command, args: argparse.Namespace, settings: config.ClientConfig) -> int:
    async with Appliance(settings.url, settings.key()) as appliance:
        return await function(args, appliance, settings)


def project_of(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> Project:
    return appliance.project(settings.project_id(), args.user)


def read_prompt(prompt: str) -> str:
    return sys.stdin.read() if prompt == "-" else prompt


def model_provider(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
        provider = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--model-provider must be JSON or @file with JSON: {exc}") from None
    if not isinstance(provider, dict):
        raise ConfigError("--model-provider must be a JSON object")
    return provider


def repository(repo: str | None, depth: int | None) -> dict[str, Any] | None:
    """--repo URL[@REF] as the chat's repository (an @ in the URL's path part names the ref)."""
    if repo is None:
        if depth is not None:
            raise ConfigError("--depth goes with --repo")
        return None
    scheme, _, rest = repo.partition("://")
    url, _, ref = rest.rpartition("@") if "@" in rest.partition("/")[2] else (rest, "", "")
    return {"url": f"{scheme}://{url}", "ref": ref or None, "depth": depth}


@command
async def chat(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    turn = await project.chat(
        read_prompt(args.prompt),
        agent=args.agent,
        permission_policy=args.permission,
        session_id=args.session,
        system_prompt=args.system_prompt,
        model_provider=model_provider(args.model_provider),
        repository=repository(args.repo, args.depth),
        template=args.template,
    )
    if args.json:
        return await follow_json(turn, cancel_on_interrupt=True)
    heading = f"{project.id} · session {turn.session_id}"
    return await follow_live(turn, console(), heading, ask=sys.stdin.isatty(), cancel_on_interrupt=True)


@command
async def logs(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    session = args.session or (await project.status()).session_id
    if not session:
        raise ConfigError(f"project {project.id} has no session yet")
    after, code = args.after, 0
    # Each turn's stream ends with the turn; with --after, the next turn follows, until nothing is left.
    while True:
        turn = project.follow(session, after)
        if args.json:
            result = await follow_json(turn, cancel_on_interrupt=False)
        else:
            heading = f"{project.id} · session {session} · after event {after or 0}"
            result = await follow_live(turn, console(), heading, ask=False, cancel_on_interrupt=False)
        if turn.last_event_id in (None, after):
            if after == args.after:
                print(f"no events after {after or 'the latest turn'}", file=sys.stderr)
            return code
        code = result
        if args.after is None:
            return code
        after = turn.last_event_id


@command
async def status(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    reply = await project.status()
    if args.json:
        print_json(reply)
    else:
        print_fields(reply, f"project {project.id}")
    return 0


@command
async def stop(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    reply = await project_of(args, appliance, settings).stop()
    print_json(reply) if args.json else console().print(reply.message)
    return 0


@command
async def cancel(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    reply = await project_of(args, appliance, settings).cancel(args.session)
    print_json(reply) if args.json else console().print(f"cancelled: session {reply.session_id}")
    return 0


def show_url(args: argparse.Namespace, url: str, reply: BaseModel) -> None:
    if args.json:
        print_json(reply)
    else:
        print(url)
    if args.open:
        webbrowser.open(url)


@command
async def preview(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    token = await project_of(args, appliance, settings).preview(args.port)
    show_url(args, token.preview_url, token)
    return 0


@command
async def desktop(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    opened = await project.desktop(args.user or settings.user)
    show_url(args, opened.proxy_vnc_url, opened)
    return 0


@command
async def containers(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    listed = await appliance.containers(args.limit)
    if args.json:
        print_json(listed)
        return 0
    table = Table("name", "kind", "project", "user", "status", "address")
    for container in listed.containers:
        kind = "desktop" if container.service_type == "computer_agent_runner" else "agent"
        table.add_row(
            container.container_name,
            kind,
            container.project_id or "—",
            container.user_id or "—",
            container.status,
            container.container_ip or "—",
        )
    console().print(table)
    if listed.paginated:
        console().print(f"{listed.returned} of {listed.total}: raise --limit for more")
    return 0


@command
async def agents(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    listed = await appliance.agents()
    if args.json:
        print_json(listed)
        return 0
    table = Table("id", "kind", "permissions", "description")
    for agent in listed.agents:
        table.add_row(
            agent.id + (" (default)" if agent.default else ""),
            agent.kind,
            agent.permission_policy,
            agent.description,
        )
    console().print(table)
    return 0


COMMANDS.update(workspace_commands.COMMANDS)
COMMANDS.update(template_commands.COMMANDS)
