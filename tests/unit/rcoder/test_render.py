"""rcoder/render.py: what a turn's view shows, drawn by rich into text."""

from __future__ import annotations

from rich.console import Console

from rcoder import events as ev
from rcoder.render import TurnView


def shown(view: TurnView) -> str:
    console = Console(record=True, width=80, color_system=None)
    console.print(view.final())
    return console.export_text()


def update(cls: type[ev.Event], sub_type: str, **fields) -> ev.Event:
    return cls(id=1, session_id="s1", type=sub_type, timestamp="t", data={}, **fields)


def test_a_clone_is_one_line_that_ends_with_the_ref_and_short_commit():
    view = TurnView()
    view.apply(update(ev.GitClone, "git_clone", phase="receiving objects", percent=45))
    assert "cloning: receiving objects 45%" in shown(view)

    view.apply(update(ev.GitCloneEnd, "git_clone_end", commit="0123456789abcdef", ref="main"))
    text = shown(view)
    assert "cloned main at 0123456" in text and "cloning" not in text


def test_a_clone_of_an_empty_repository_says_so():
    view = TurnView()
    view.apply(update(ev.GitClone, "git_clone", phase="enumerating objects", percent=None))
    assert "cloning: enumerating objects\n" in shown(view)
    view.apply(update(ev.GitCloneEnd, "git_clone_end", commit=None, ref=None))
    assert "cloned an empty repository" in shown(view)
