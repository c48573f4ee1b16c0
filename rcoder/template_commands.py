"""`rcoder templates ls|build|rm`: the toolchains projects may start on (rcoder/commands.py parses and
runs them with the others; `rcoder chat --template NAME` starts a project on one)."""

from __future__ import annotations

import argparse
import json
import sys

from rich.markup import escape
from rich.table import Table

from rcoder import config
from rcoder.client import Appliance
from rcoder.output import console, print_json


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    templates_ = sub.add_parser("templates", help="the toolchains projects may start on: ls, build, rm")
    actions = templates_.add_subparsers(dest="action", required=True)
    actions.add_parser("ls", parents=[common], help="the templates, their state and their user")
    build_ = actions.add_parser(
        "build", parents=[common], help="build one from a folder (or a tar, tar.gz) with a Dockerfile"
    )
    build_.add_argument("name", help="lowercase letters, digits, '.', '_', '-'")
    build_.add_argument("source", help="a folder (packed while it is sent), or a tar or tar.gz of one")
    build_.add_argument(
        "--devcontainer", action="store_true", help="build its devcontainer.json, not a Dockerfile"
    )
    build_.add_argument("--path", help="the Dockerfile or devcontainer.json in it (default: the usual place)")
    build_.add_argument("--description", help="shown by `rcoder templates ls`")
    rm_ = actions.add_parser("rm", parents=[common], help="remove one built here, once no project runs on it")
    rm_.add_argument("name")


async def templates(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    return await ACTIONS[args.action](args, appliance)


async def templates_ls(args: argparse.Namespace, appliance: Appliance) -> int:
    listed = await appliance.templates.list()
    if args.json:
        print_json({"templates": [template.model_dump(mode="json") for template in listed]})
        return 0
    table = Table("name", "state", "from", "user", "pool", "description")
    for template in listed:
        state = template.state if template.error is None else f"{template.state}: {template.error}"
        table.add_row(
            template.name,
            escape(state),
            escape(f"{template.source} ({template.origin})"),
            template.user or "",
            str(template.pool_size),
            escape(template.description),
        )
    console().print(table)
    return 0


async def templates_build(args: argparse.Namespace, appliance: Appliance) -> int:
    """The build's log to stderr (stdout: the template's name once it is ready); with --json, each
    event as a line of JSON on stdout."""
    events = appliance.templates.build(
        args.name, args.source, devcontainer=args.devcontainer, path=args.path, description=args.description
    )
    async for event in events:
        if args.json:  # one line per event, as chat's
            print(json.dumps({"event": event.kind, "text": event.text}, ensure_ascii=False), flush=True)
        elif event.kind == "log":
            print(event.text, file=sys.stderr)
        elif event.kind == "ready":
            print(event.text)
        else:
            print(f"rcoder templates build: {event.text}", file=sys.stderr)
    return 0 if event.kind == "ready" else 1


async def templates_rm(args: argparse.Namespace, appliance: Appliance) -> int:
    await appliance.templates.remove(args.name)
    if not args.json:
        console().print(f"removed template {escape(args.name)}")
    return 0


ACTIONS = {"ls": templates_ls, "build": templates_build, "rm": templates_rm}
COMMANDS = {"templates": templates}
