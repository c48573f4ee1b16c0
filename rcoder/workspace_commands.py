"""The commands that work in a project's workspace: `rcoder files ls|get|put|rm`, `rcoder download`,
`rcoder upload` and `rcoder shell` (rcoder/commands.py parses and runs them with the others).

Transfers show their progress on stderr when it is a terminal, so that stdout stays the data
(`rcoder files get -p demo hello.txt > hello.txt`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from rich.filesize import decimal
from rich.markup import escape
from rich.table import Table

from rcoder import config
from rcoder.archives import CHUNK
from rcoder.client import Appliance
from rcoder.errors import ConfigError
from rcoder.files import ARCHIVE_FORMATS
from rcoder.output import console, print_json, transfer
from rcoder.project import Project
from rcoder.shell import run_shell


def add_parsers(sub: argparse._SubParsersAction, project: argparse.ArgumentParser) -> None:
    """The workspace's commands, each taking the project's options (`project`: -p, --user, ...)."""
    files_ = sub.add_parser("files", help="a project's files: ls, get, put, rm")
    actions = files_.add_subparsers(dest="action", required=True)
    ls_ = actions.add_parser("ls", parents=[project], help="list a folder (default: the workspace's top)")
    ls_.add_argument("path", nargs="?", default="", help="a folder, relative to the workspace")
    get_ = actions.add_parser("get", parents=[project], help="a file's bytes, to stdout or -o FILE")
    get_.add_argument("path", help="a file, relative to the workspace")
    get_.add_argument("-o", "--output", help="save it here (a cut download resumes where it broke)")
    put_ = actions.add_parser("put", parents=[project], help="write a local file into the workspace")
    put_.add_argument("local", help='the local file ("-" reads stdin)')
    put_.add_argument("path", nargs="?", help="where, relative to the workspace (default: its name)")
    put_.add_argument("--no-parents", action="store_true", help="fail rather than make missing folders")
    rm_ = actions.add_parser("rm", parents=[project], help="remove a file or an empty folder")
    rm_.add_argument("path")
    rm_.add_argument("-r", "--recursive", action="store_true", help="a folder with everything in it")
    download_ = sub.add_parser(
        "download", parents=[project], help="save the workspace (or --path DIR) as an archive"
    )
    download_.add_argument("-o", "--output", help="the archive (default: PROJECT.tar.gz, or DIR's name)")
    download_.add_argument("--path", default="", help="a folder of the workspace (default: all of it)")
    download_.add_argument("--format", choices=ARCHIVE_FORMATS, default="tar.gz")
    upload_ = sub.add_parser(
        "upload", parents=[project], help="unpack a local folder or a tar, tar.gz or zip into the workspace"
    )
    upload_.add_argument("source", help="a folder (packed while it is sent) or an archive")
    upload_.add_argument("--to", default="", help="a folder of the workspace (default: its top)")
    sub.add_parser(
        "shell", parents=[project], help="a shell in the project's container; exits with the shell's status"
    )
    diff_ = sub.add_parser(
        "diff", parents=[project], help="what the agent changed since the project's repository was cloned"
    )
    diff_.add_argument("--stat", action="store_true", help="the changed files only, not the diff")


def project_of(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> Project:
    return appliance.project(settings.project_id(), args.user)


def shows_progress(args: argparse.Namespace) -> bool:
    return not args.json and sys.stderr.isatty()


async def files(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    return await FILE_ACTIONS[args.action](args, project)


async def files_ls(args: argparse.Namespace, project: Project) -> int:
    page = await project.files.list(args.path)
    listed = page.model_copy(deep=True)
    while page.truncated and page.entries:
        page = await project.files.list(args.path, after=page.entries[-1].name)
        listed.entries.extend(page.entries)
    listed.truncated = False
    if args.json:
        print_json(listed)
        return 0
    table = Table("name", "size", "modified", "mode", box=None)
    for entry in listed.entries:
        name = escape(entry.name) + ("/" if entry.type == "dir" else "")
        if entry.type == "symlink":
            name += f" → {escape(entry.target or '')}"
        size = "" if entry.type == "dir" else decimal(entry.size)
        table.add_row(name, size, entry.mtime.strftime("%Y-%m-%d %H:%M:%S"), oct(entry.mode)[2:])
    out = console()
    out.print(table)
    usage = listed.usage
    out.print(
        f"[dim]{len(listed.entries)} entries · {decimal(usage.free)} free of {decimal(usage.size)}[/dim]"
    )
    return 0


async def files_get(args: argparse.Namespace, project: Project) -> int:
    if args.output:
        with transfer(f"get {args.path}", shows_progress(args)) as progress:
            saved = await project.files.download_file(args.path, args.output, progress=progress)
        report_saved(args, saved)
        return 0
    out = sys.stdout.buffer
    async for chunk in project.files.chunks(args.path):
        out.write(chunk)
    out.flush()
    return 0


async def stdin_chunks() -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(os.read, sys.stdin.fileno(), CHUNK):
        yield chunk


async def files_put(args: argparse.Namespace, project: Project) -> int:
    reading_stdin = args.local == "-"
    if reading_stdin and not args.path:
        raise ConfigError('where should stdin go? give a PATH after "-"')
    path = args.path or Path(args.local).name
    content = stdin_chunks() if reading_stdin else Path(args.local)
    with transfer(f"put {path}", shows_progress(args)) as progress:
        entry = await project.files.write(path, content, parents=not args.no_parents, progress=progress)
    if args.json:
        print_json(entry)
    else:
        console().print(f"wrote {escape(path)} ({decimal(entry.size)})")
    return 0


async def files_rm(args: argparse.Namespace, project: Project) -> int:
    entry = await project.files.remove(args.path, recursive=args.recursive)
    if args.json:
        print_json(entry)
    else:
        console().print(f"removed {escape(args.path)}" + ("/" if entry.type == "dir" else ""))
    return 0


FILE_ACTIONS = {"ls": files_ls, "get": files_get, "put": files_put, "rm": files_rm}


def report_saved(args: argparse.Namespace, saved: Path) -> None:
    size = saved.stat().st_size
    if args.json:
        print_json({"path": str(saved), "bytes": size})
    else:
        console().print(f"saved {escape(str(saved))} ({decimal(size)})")


async def download(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    with transfer(f"download {args.path or project.id}", shows_progress(args)) as progress:
        saved = await project.files.download(args.path, args.output, format=args.format, progress=progress)
    report_saved(args, saved)
    return 0


async def upload(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    with transfer(f"upload {args.source}", shows_progress(args)) as progress:
        extracted = await project.files.upload(args.source, args.to, progress=progress)
    if args.json:
        print_json(extracted)
    else:
        where = escape(args.to or "the workspace")
        files = f"{extracted.files} file{'' if extracted.files == 1 else 's'}"
        console().print(f"unpacked {files} ({decimal(extracted.bytes)}) into {where}")
    return 0


async def shell(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    return await run_shell(project_of(args, appliance, settings))


async def diff(args: argparse.Namespace, appliance: Appliance, settings: config.ClientConfig) -> int:
    project = project_of(args, appliance, settings)
    status = await project.git.status()
    text = "" if args.stat else await project.git.diff()
    if args.json:
        print_json({"status": status.model_dump(mode="json", by_alias=True), "diff": text})
        return 0
    out = console()
    where = status.branch or f"detached at {(status.head or '?')[:7]}"
    out.print(
        f"{escape(where)}: {status.commits_since_base} commit(s) since the clone, {len(status.files)} changed file(s)"
    )
    for changed in status.files:
        out.print(f"  {changed.status:<12} {escape(changed.path)}")
    if text:
        sys.stdout.write(text)
    return 0


COMMANDS = {"files": files, "download": download, "upload": upload, "shell": shell, "diff": diff}
