"""rcoder_wire/contract.py: the named agent kinds are the kinds the wire accepts."""

from __future__ import annotations

from rcoder_wire.contract import AGENT_KINDS, CLAUDE_CODE, CODEX, PLAIN


def test_each_agent_kind_has_its_constant_and_each_constant_is_a_kind():
    assert AGENT_KINDS == (PLAIN, CLAUDE_CODE, CODEX)
