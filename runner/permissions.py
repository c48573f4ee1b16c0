"""Answers to ACP session/request_permission, by policy: allow, deny, or ask the client.

Under "ask" the request becomes a `permission_request` event on the session's stream; the client
answers it through RespondPermission (the gateway's POST /agent/permission). An unanswered request
is denied when its time is up, and a cancelled turn answers its pending requests "cancelled", as
ACP requires.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rcoder_wire.contract import PERMISSION_POLICIES
from runner.errors import InvalidRequest, NotFound

DEFAULT_TIMEOUT = 300.0
ALLOW_KINDS = ("allow_once", "allow_always")
REJECT_KINDS = ("reject_once", "reject_always")

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
# An ACP permission option ({"optionId", "name", "kind"}) and outcome ({"outcome": "selected", "optionId"}).
Option = dict[str, Any]
Outcome = dict[str, Any]


def selected(option_id: str) -> Outcome:
    return {"outcome": "selected", "optionId": option_id}


CANCELLED: Outcome = {"outcome": "cancelled"}


def choose(options: list[Option], kinds: tuple[str, ...]) -> Outcome | None:
    """The first option of the first kind in `kinds` that the agent offers."""
    for kind in kinds:
        for option in options:
            if option.get("kind") == kind:
                return selected(option["optionId"])
    return None


def deny(options: list[Option]) -> Outcome:
    return choose(options, REJECT_KINDS) or CANCELLED


class Permissions:
    """One session's permission policy and its requests waiting for an answer."""

    def __init__(self, emit: Emit) -> None:
        self.policy = "allow"
        self.timeout = DEFAULT_TIMEOUT
        self._emit = emit
        self._pending: dict[str, tuple[asyncio.Future[Outcome], list[Option]]] = {}

    def configure(self, policy: str | None, timeout: float | None) -> None:
        if policy and policy not in PERMISSION_POLICIES:
            choices = ", ".join(PERMISSION_POLICIES)
            raise InvalidRequest(
                "permission_policy must be one of {choices}, not {policy!r}", choices=choices, policy=policy
            )
        self.policy = policy or "allow"
        self.timeout = timeout or DEFAULT_TIMEOUT

    async def request(self, tool_call: dict[str, Any], options: list[Option]) -> Outcome:
        if self.policy == "allow":
            return choose(options, ALLOW_KINDS) or CANCELLED
        if self.policy == "deny":
            return deny(options)
        request_id = uuid.uuid4().hex
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, options)
        await self._emit(
            "permission_request",
            {
                "requestId": request_id,
                "toolCall": tool_call,
                "options": options,
                "timeoutSeconds": self.timeout,
            },
        )
        try:
            outcome = await asyncio.wait_for(asyncio.shield(future), self.timeout)
            how = "answered"
        except TimeoutError:
            outcome, how = deny(options), "timed_out"
        finally:
            self._pending.pop(request_id, None)
        await self._emit(
            "permission_resolved", {"requestId": request_id, "how": how, "optionId": outcome.get("optionId")}
        )
        return outcome

    def answer(self, request_id: str, option_id: str) -> None:
        """The client's answer: one of the request's option ids, or "" for cancelled."""
        try:
            future, options = self._pending[request_id]
        except KeyError:
            raise NotFound(
                "no permission request {request_id!r} is waiting (answered, timed out or unknown)",
                request_id=request_id,
            ) from None
        if option_id and option_id not in {o.get("optionId") for o in options}:
            valid = ", ".join(str(o.get("optionId")) for o in options)
            raise InvalidRequest(
                "option {option_id!r} is not one of this request's options: {valid}",
                option_id=option_id,
                valid=valid,
            )
        if not future.done():
            future.set_result(selected(option_id) if option_id else CANCELLED)

    def cancel_all(self) -> None:
        """The turn was cancelled: every pending request is answered "cancelled"."""
        for future, _ in self._pending.values():
            if not future.done():
                future.set_result(CANCELLED)
