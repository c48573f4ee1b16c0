"""How the commands print: for people with rich (tables, a transfer's progress on stderr), or with
`--json` as JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table


def console() -> Console:
    return Console(highlight=False)


def print_json(value: BaseModel | dict[str, Any]) -> None:
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    print(json.dumps(data, ensure_ascii=False, indent=2))


def print_fields(value: BaseModel, title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left", box=None)
    for name, field_value in value.model_dump(mode="json").items():
        table.add_row(f"[bold]{name}[/bold]", "—" if field_value is None else str(field_value))
    console().print(table)


@contextlib.contextmanager
def transfer(description: str, shown: bool = True) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress bar on stderr for bytes on the move (a spinner-like count when the total is not
    known): the callback `ProjectFiles` calls, or None when not `shown`."""
    if not shown:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=None)

        def moved(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield moved
