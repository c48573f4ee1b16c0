"""The files server's errors: each template it raises is in the three catalogues, and an OSError
becomes the error a client can act on."""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import pytest

from rcoder_rpc import messages
from runner.files import errors

FILES = Path(errors.__file__).parent
RAISED = {
    name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, Exception)
}


def templates() -> set[str]:
    """The first string argument of every call to an error class of runner/files/errors.py."""
    found = set()
    for path in FILES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in RAISED and node.args:
                first = node.args[0]
                branches = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
                found.update(b.value for b in branches if isinstance(b, ast.Constant))
    return found


def test_the_check_sees_the_templates():
    assert "{path} is not a regular file" in templates()
    assert len(templates()) > 10


@pytest.mark.parametrize("lang", messages.LANGUAGES)
def test_every_template_raised_is_translated(lang):
    missing = templates() - set(messages.catalogue(lang))
    assert not missing, f"add these to proto/rcoder_rpc/locales/{lang}.po: {sorted(missing)}"


def test_an_error_is_worded_in_the_language_asked_for():
    error = errors.NotFound("{path} does not exist", path="a.txt")
    assert str(error) == "a.txt does not exist"
    assert error.localized("zh-TW") == "a.txt 不存在"
    assert (error.status, error.code) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("code", "kind", "status"),
    [
        (errno.ENOENT, errors.NotFound, 404),
        (errno.ENOTDIR, errors.NotFound, 404),
        (errno.ENOTEMPTY, errors.Conflict, 409),
        (errno.EISDIR, errors.Conflict, 409),
        (errno.EACCES, errors.Forbidden, 403),
        (errno.ENOSPC, errors.WorkspaceFull, 507),
        (errno.EDQUOT, errors.WorkspaceFull, 507),
        (errno.EIO, errors.FilesError, 500),
    ],
)
def test_an_os_error_becomes_the_clients_error(tmp_path, code, kind, status):
    fd = os.open(tmp_path, os.O_PATH)
    try:
        error = errors.from_os_error(OSError(code, os.strerror(code)), "a/b", fd)
    finally:
        os.close(fd)
    assert type(error) is kind and error.status == status


def test_a_full_workspace_says_how_full(tmp_path):
    fd = os.open(tmp_path, os.O_PATH)
    try:
        error = errors.workspace_full(fd)
        used, size, free = errors.usage(fd)
    finally:
        os.close(fd)
    assert 0 < used <= size and 0 <= free <= size
    assert error.params == {"used": used, "size": size}
    assert f"({used} of {size} bytes)" in str(error)
