"""Messages in the client's language: en-US (the default), zh-CN and zh-TW, chosen by the request's
`accept-language` (an HTTP header at the gateway, gRPC metadata at a runner), as in the seed.

A message is an English template with named fields ("no session {session_id!r}; ..."), and its
translations live in one gettext catalogue per language (rcoder_rpc/locales/<language>.po, msgid the
template), shared by the gateway and the runners. A field whose value is a Phrase (a rate limit's
"prompts to this project") is translated too; any other value (an id, a path) is shown as it is, even
when it reads like a message. tests/unit/appliance/test_messages.py checks that every template raised
in the code has all three.
"""

from __future__ import annotations

import contextvars
import functools
from pathlib import Path
from typing import Any

import polib

DEFAULT = "en-US"
LANGUAGES = ("en-US", "zh-CN", "zh-TW")
LOCALES = Path(__file__).parent / "locales"
# The language of the request being answered (set by the gateway's middleware, and by a runner's
# servicer from the call's metadata).
current: contextvars.ContextVar[str] = contextvars.ContextVar("language", default=DEFAULT)


def language(accept_language: str | None) -> str:
    """The best of LANGUAGES for an accept-language header (q-values honoured; zh-Hans and zh-SG
    read as zh-CN, zh-Hant, zh-HK and zh-MO as zh-TW, any en as en-US); DEFAULT otherwise."""
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, options = part.strip().partition(";")
        quality = 1.0
        if options.strip().startswith("q="):
            try:
                quality = float(options.strip()[2:])
            except ValueError:
                quality = 0.0
        if (supported := _supported(tag.strip().lower())) and quality > 0:
            ranked.append((-quality, position, supported))
    return min(ranked)[2] if ranked else DEFAULT


def _supported(tag: str) -> str | None:
    if tag in ("zh-tw", "zh-hk", "zh-mo") or tag.startswith("zh-hant"):
        return "zh-TW"
    if tag == "zh" or tag.startswith(("zh-cn", "zh-sg", "zh-hans")):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en-US"
    return None


class Phrase(str):
    """Words that are part of a message and are translated with it (not a value to show as it is)."""


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """{template: translation} of one language (an empty translation falls back to the template)."""
    entries = polib.pofile(str(LOCALES / f"{lang}.po"))
    return {entry.msgid: entry.msgstr for entry in entries if entry.msgstr and not entry.obsolete}


def translate(template: str, lang: str | None = None, **params: Any) -> str:
    """The template in `lang` (default: the current request's), its fields filled in."""
    words = catalogue(lang or current.get())
    filled = {
        name: words.get(value, value) if isinstance(value, Phrase) else value
        for name, value in params.items()
    }
    text = words.get(template, template)
    return text.format(**filled) if params else text
