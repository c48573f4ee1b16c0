"""One ACP session: its prompt turns and the event log they write.

A turn may have a phase before its prompt (a repository's clone, runner/clone.py): it writes its own
events between prompt_start and the agent's, a RunnerError from it ends the turn with `error`, and a
cancel stops it at once (the agent has nothing to cancel yet).

What the runner says in a turn's events (how it ended, why it failed) is worded in the language of the
request that started the turn, whichever call ends it: a turn's events read in one language."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rcoder_rpc import messages
from rcoder_rpc.contract import PROMPT_END, PROMPT_START, SESSION_UPDATE
from runner.agent_process import AgentProcess
from runner.errors import Busy, RunnerError
from runner.events import EventLog
from runner.jsonrpc import RpcError
from runner.permissions import Permissions

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
# A turn's phase before its prompt, given what writes a session update (sub type, payload).
Before = Callable[[Emit], Awaitable[None]]

# Message templates (rcoder_rpc/locales), by ACP stop reason.
STOP_REASON_DESCRIPTIONS = {
    "end_turn": "The agent finished its turn.",
    "max_tokens": "The agent reached its token limit.",
    "max_turn_requests": "The agent reached its limit of model requests for one turn.",
    "refusal": "The agent refused to continue.",
    "cancelled": "The turn was cancelled.",
}
OTHER_STOP_REASON = "The turn ended: {reason}."
CANCELLED = STOP_REASON_DESCRIPTIONS["cancelled"]
# How a turn ends when its agent is stopped under it.
STOPPED = "The turn was stopped with its agent."


def _camel(stop_reason: str) -> str:
    return "".join(part.capitalize() for part in stop_reason.split("_"))


class Session:
    """Runs prompt turns one at a time and turns everything the agent reports into events."""

    def __init__(self, session_id: str, project_id: str, agent: AgentProcess, tracer: Any = None) -> None:
        self.id = session_id
        self.project_id = project_id
        self.agent = agent
        self._tracer = tracer  # an OpenTelemetry tracer when the runner traces, else None
        self.log = EventLog()
        self._turn: asyncio.Task[None] | None = None
        self._request_id: str | None = None
        self._language = messages.DEFAULT  # of the request that started the turn
        self._before_prompt = False  # the turn is in its phase before the prompt
        self._cancel_asked = False  # cancel() asked the running turn to stop
        self.permissions = Permissions(self._emit_update)

    @property
    def busy(self) -> bool:
        return self.log.in_turn

    async def on_update(self, update: dict[str, Any]) -> None:
        """An ACP session/update notification from the agent (its `update`, passed on as it came)."""
        if not self.busy:
            return  # a turn that was already ended (e.g. forced after a cancel) cannot add events
        await self._emit(SESSION_UPDATE, str(update.get("sessionUpdate", "unknown")), update)

    async def _emit_update(self, sub_type: str, payload: dict[str, Any]) -> None:
        if self.busy:
            await self._emit(SESSION_UPDATE, sub_type, payload)

    async def start_turn(
        self, blocks: list[Any], request_id: str | None, before: Before | None = None
    ) -> None:
        """Start a turn: `before` (if any), then the prompt, as a task."""
        if self.busy:
            raise Busy(
                "session {session_id} is already running a turn; cancel it or wait for it to end",
                session_id=self.id,
            )
        self._request_id = request_id
        self._language = messages.current.get()
        self._before_prompt, self._cancel_asked = before is not None, False
        await self._emit(PROMPT_START, "prompt_start", {})
        self._turn = asyncio.create_task(self._run(blocks, before), name=f"turn-{self.id}")

    async def _run(self, blocks: list[Any], before: Before | None) -> None:
        if self._tracer is None:
            await self._steps(blocks, before)
            return
        with self._tracer.start_as_current_span(
            "agent.turn", attributes={"rcoder.session": self.id, "rcoder.project": self.project_id}
        ):
            await self._steps(blocks, before)

    async def _steps(self, blocks: list[Any], before: Before | None) -> None:
        try:
            if before is not None:
                await before(self._emit_update)
                self._before_prompt = False
            stop = await self.agent.prompt(self.id, blocks)
        except RunnerError as exc:  # the phase before the prompt failed
            await self._end_with_error(-32603, self._words(exc.template, **exc.params))
        except RpcError as exc:
            await self._end_with_error(exc.code, str(exc), exc.data)
        except ConnectionError as exc:
            await self._end_with_error(
                -32603, self._words("the agent process ended during the turn ({error})", error=exc)
            )
        except asyncio.CancelledError:
            await self._end("cancelled", self._words(CANCELLED if self._cancel_asked else STOPPED))
            raise
        except Exception as exc:
            log.exception("turn of session %s failed", self.id)
            await self._end_with_error(-32603, self._words("the turn failed: {error}", error=exc))
        else:
            template = STOP_REASON_DESCRIPTIONS.get(stop, OTHER_STOP_REASON)
            await self._end(stop, self._words(template, reason=stop))

    async def cancel(self, grace: float) -> bool:
        """Ask the agent to cancel (ACP session/cancel); end the turn ourselves after `grace` seconds."""
        turn = self._turn
        if not self.busy or turn is None:
            return False
        if self._before_prompt:
            self._cancel_asked = True
            turn.cancel()
        else:
            with contextlib.suppress(ConnectionError, RpcError):
                await self.agent.cancel(self.id)
        self.permissions.cancel_all()
        done, _ = await asyncio.wait({turn}, timeout=grace)
        if not done:
            await self._end(
                "cancelled",
                self._words("The agent did not stop within {grace:g} s; the turn was ended.", grace=grace),
            )
        # A turn cancelled before it ran a step had no chance to end itself.
        await self._end("cancelled", self._words(CANCELLED))
        return True

    async def close(self, error: str | None = None) -> None:
        """Stop the running turn: it ends as cancelled, or with `error` (a failure, not a choice; a
        message template, worded in the turn's language)."""
        if error is not None:
            await self._end_with_error(-32603, self._words(error))
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._turn
        # A turn cancelled before it ran a step had no chance to end itself.
        await self._end("cancelled", self._words(STOPPED))

    def _words(self, template: str, **params: Any) -> str:
        """A message of the turn's, in the language of the request that started it."""
        return messages.translate(template, self._language, **params)

    async def _end(self, stop_reason: str, description: str) -> None:
        if self.busy:
            payload = {"reason": _camel(stop_reason), "description": description}
            await self._emit(PROMPT_END, stop_reason, payload)

    async def _end_with_error(self, code: int, message: str, data: Any = None) -> None:
        if self.busy:
            payload = {"code": code, "message": message}
            if data is not None:
                payload["data"] = data
            await self._emit(PROMPT_END, "error", payload)

    async def _emit(self, message_type: str, sub_type: str, payload: dict[str, Any]) -> None:
        if self._request_id is not None:
            payload = {**payload, "request_id": self._request_id}
        await self.log.append(message_type, sub_type, payload, self._request_id)
