"""Every message the gateway or a runner words for a client (errors, refusals, status messages, a
turn's end) has its translations in all three catalogues, with the same fields, and the request's
accept-language picks the catalogue."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from appliance import errors, messages
from appliance.errors import SessionNotFound
from runner import errors as runner_errors

ROOT = Path(__file__).resolve().parents[3]
# The code that words messages: the gateway's, the runner's and the wire models' (whose refusals the
# gateway passes on as a BadRequest with the same template).
SOURCES = (ROOT / "appliance", ROOT / "runner", ROOT / "rcoder_wire")
ERRORS = {
    name
    for module in (errors, runner_errors)
    for name, value in vars(module).items()
    if isinstance(value, type) and issubclass(value, Exception)
}
# Calls whose first string argument is a message template (refuse's is its second).
TEMPLATE_CALLS = ERRORS | {"InvalidBody", "cls", "translate", "Problem", "Phrase", "_words"}
# A template further along: refuse(status, template).
POSITION = {"refuse": 1}
# Templates kept in constants (a string, or a dict's values) and translated where they are used.
TEMPLATE_CONSTANTS = {
    "STOP_MESSAGES",
    "STOP_REASON_DESCRIPTIONS",
    "OTHER_STOP_REASON",
    "STOPPED",
    "SHUTDOWN",
    "CLONE_FAILED",
    "CLONE_TIMED_OUT",
    "FOLDER_NOT_EMPTY",
    "REFUSED_KEYS",
}


def strings(node: ast.AST) -> list[str]:
    """The string constants an argument can be (both sides of a conditional)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return strings(node.body) + strings(node.orelse)
    return []


def templates_in_code() -> set[str]:
    found = set()
    for path in (path for source in SOURCES for path in source.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                position = POSITION.get(name, 0)
                if name in TEMPLATE_CALLS | set(POSITION) and len(node.args) > position:
                    found.update(strings(node.args[position]))
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") in TEMPLATE_CONSTANTS for t in node.targets
            ):
                values = node.value.values if isinstance(node.value, ast.Dict) else [node.value]
                found.update(s for value in values for s in strings(value))
    return (found | {"success"}) - {""}


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_template_in_the_code_is_in_the_catalogues():
    missing = templates_in_code() - set(messages.catalogue("en-US"))
    assert not missing, f"add these to proto/rcoder_rpc/locales/*.po: {sorted(missing)}"


def test_the_check_sees_the_runners_templates():
    """Raised, passed to a turn's wording, or kept in a constant: the runner's templates are found."""
    found = templates_in_code()
    assert {"prompt is empty", "the turn failed: {error}", "The turn was cancelled."} <= found
    assert "the runner shut down during the turn (its container was stopped)" in found
    assert "the repository could not be cloned: {error}" in found, "kept in a constant of runner/clone.py"


def test_the_check_sees_the_wire_models_templates():
    """Refusals of rcoder_wire reach the client through the gateway's BadRequest, in its language."""
    found = templates_in_code()
    assert {"invalid request: {problems}", "the request body must be a JSON object"} <= found
    assert "invalid {what} {value!r}: use letters, digits, {allowed}" in found


@pytest.mark.parametrize("lang", ["zh-CN", "zh-TW"])
def test_every_message_has_its_translation_with_the_same_fields(lang):
    english, other = messages.catalogue("en-US"), messages.catalogue(lang)
    assert set(other) == set(english), set(english) ^ set(other)
    for template, translated in other.items():
        assert fields(translated) == fields(template), (template, translated)


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en-US"),
        ("zh-CN,zh;q=0.9", "zh-CN"),
        ("zh-TW", "zh-TW"),
        ("zh-Hant-HK", "zh-TW"),
        ("zh", "zh-CN"),
        ("fr-FR, zh-TW;q=0.5, en;q=0.8", "en-US"),
        ("fr-FR, zh-TW;q=0.9, en;q=0.8", "zh-TW"),
        ("de", "en-US"),
        ("zh-CN;q=0", "en-US"),
        ("zh-CN;q=bad", "en-US"),
    ],
)
def test_accept_language_picks_the_catalogue(header, lang):
    assert messages.language(header) == lang


def test_an_error_is_worded_in_the_requests_language():
    error = SessionNotFound("no session {session_id!r}; start one with POST /chat", session_id="s1")
    assert error.message == "no session 's1'; start one with POST /chat"
    token = messages.current.set("zh-CN")
    try:
        assert error.localized() == "没有会话 's1'；请先用 POST /chat 开始一个"  # noqa: RUF001
    finally:
        messages.current.reset(token)
    # An id is shown as it is, even one that reads like a message; a Phrase is translated.
    assert messages.translate("no route {path}", "zh-CN", path="success") == "没有路由 success"
    phrase = messages.Phrase("prompts to this project")
    assert messages.translate("too many {what}; retry in {wait} s", "zh-TW", what=phrase, wait=3) == (
        "對此專案的提示過多；請 3 秒後重試"  # noqa: RUF001
    )
