"""Turns of a project's agent, wherever it runs: in the project's container (/chat, /agent/*) or in its
user's desktop (/computer/chat, /computer/agent/*). Every agent route is one call here, but the progress
streams, which follow the event hub."""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass

from appliance import chat_request
from appliance.config import Config
from appliance.containers.lifecycle import Lifecycle
from appliance.containers.limits import Limits
from appliance.containers.running import RunningContainer
from appliance.containers.workloads import Workloads
from appliance.errors import BadRequest, Conflict, ProjectNotFound, SessionNotFound
from appliance.events import EventHub
from appliance.git_forwarding import GitForwarding
from appliance.messages import Phrase
from appliance.model_forwarding import ModelForwarding
from appliance.projects import Placements, Pod, ProjectRef
from appliance.rate_limits import RateLimit
from appliance.runner_client import RunnerClient
from appliance.store import ProjectRow, Store
from appliance.store.projects import (
    model_provider_noted,
    placed_in_pod,
    project_touched,
    repository_noted,
    template_noted,
)
from appliance.store.sessions import session_recorded
from appliance.templates import Templates
from rcoder_wire.bodies import ChatFields

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """A turn that has started: its session, and whether the session asked for was resumed."""

    session_id: str
    resumed: bool | None  # None when no session was asked for
    asked_for: str | None


@dataclass(frozen=True)
class AgentStatus:
    """A project, and what its agent is doing: `state` is the runner's "busy"/"idle", None when none runs."""

    project: ProjectRow
    alive: bool
    state: str | None


class Turns:
    def __init__(
        self,
        config: Config,
        lifecycle: Lifecycle,
        workloads: Workloads,
        placements: Placements,
        runners: RunnerClient,
        store: Store,
        hub: EventHub,
        forwarding: ModelForwarding,
        git: GitForwarding,
        templates: Templates,
    ) -> None:
        self._config = config
        self._templates = templates
        self._forwarding = forwarding
        self._git = git
        # Containers (by id) whose runner has its git access, for the project it was granted to.
        self._git_configured: dict[str, str] = {}
        self._lifecycle = lifecycle
        self._workloads = workloads
        self._placements = placements
        self._runners = runners
        self._store = store
        self._hub = hub
        self._chats = RateLimit(config.limits.chats_per_minute, Phrase("prompts to this project"))
        # Each project's latest session (None: it has none), known from the store or the chats since.
        self._latest: dict[str, str | None] = {}

    async def _latest_session(self, key: str) -> str | None:
        if key not in self._latest:
            project = await self._store.projects.get(key)
            self._latest[key] = project.latest_session_id if project else None
        return self._latest[key]

    async def chat(
        self,
        ref: ProjectRef,
        prompt: ChatFields,
        limits: Limits | None,
        pod: Pod | None = None,
        template: str | None = None,
    ) -> Started:
        """Start the container if needed, then a turn of the project's agent, and pump its events.

        Without a session_id the conversation continues in the project's latest session (as in the seed).
        `pod`: the pod the client places the project in (a project placed before stays in its pod).
        `template`: the template a new project starts on (it keeps it; appliance/templates.py).
        What is recorded of the chat is written behind it: no disk write holds up the turn's start.
        """
        self._store.require_writable()
        self._chats.take(ref.key)
        if prompt.repository is not None:
            await self._check_first_turn(ref, prompt)
        self._store.defer(project_touched(ref))
        if template is not None:
            await self._choose_template(ref, template, pod)
        pod = self._place(ref, pod)
        workload = self._lifecycle.serving(ref)
        async with self._lifecycle.using(workload):
            running, _ = await self._lifecycle.ensure(workload, limits)
            await self._configure_git(workload.spec.network, running, ref, prompt)
            asked_for = prompt.session_id or await self._latest_session(ref.key)
            stand_in = functools.partial(
                self._forwarding.stand_in, workload.spec.network, running.container, ref.key
            )
            request = chat_request.build(self._config, prompt, ref, asked_for or "", pod, stand_in)
            reply = await self._runners.chat(running.address, request)
            self._latest[ref.key] = reply.session_id
            self._store.defer(model_provider_noted(ref.key, chat_request.public_provider(request)))
            self._store.defer(session_recorded(reply.session_id, ref.key))
            await self._hub.pump(reply.session_id, ref.key, running.container.id, running.address)
        log.info("chat queued: project %s, session %s", ref.key, reply.session_id)
        resumed = reply.session_resumed if reply.HasField("session_resumed") else None
        return Started(reply.session_id, resumed, asked_for)

    async def _check_first_turn(self, ref: ProjectRef, prompt: ChatFields) -> None:
        """A repository is cloned into a new project only: one that had a turn, or has a workspace, is 409."""
        assert prompt.repository is not None
        await self._git.check_repository(prompt.repository)
        if await self._latest_session(ref.key) is not None or (
            not ref.user_id
            and self._placements.pod_of(ref.key) is None
            and self._workloads.has_workspace(ref.project_id)
        ):
            raise Conflict(
                "project {project!r} has a workspace already: a repository is cloned into a new project only",
                project=ref.key,
            )
        self._store.defer(repository_noted(ref.key, prompt.repository.url, prompt.repository.ref))

    async def _choose_template(self, ref: ProjectRef, template: str, pod: Pod | None) -> None:
        """A project keeps the template of its first turn: a later turn may name it again, not another;
        a project that had a turn or has files on the agent image stays there."""
        if template == self._workloads.template_of(ref.project_id):
            return
        if pod is not None or self._placements.pod_of(ref.key) is not None:
            raise BadRequest(
                "a pod's projects share its container, on the agent image: template {name!r} is for "
                "a project with a container of its own",
                name=template,
            )
        self._check_unbound(ref, template)
        self._templates.image(template)  # 404 for an unknown one, 409 for one not ready
        fresh = await self._latest_session(ref.key) is None and not self._workloads.has_workspace(
            ref.project_id
        )
        self._check_unbound(ref, template)  # again: another first turn may have chosen meanwhile
        if not fresh:
            raise Conflict(
                "project {project!r} has a workspace on the agent image already: a template is chosen "
                "on a project's first turn",
                project=ref.key,
            )
        self._workloads.bind_template(ref.project_id, template)
        self._store.defer(template_noted(ref.key, template))

    def _check_unbound(self, ref: ProjectRef, template: str) -> None:
        bound = self._workloads.template_of(ref.project_id)
        if bound is not None and bound != template:
            raise Conflict(
                "project {project!r} runs on template {bound!r}; it cannot move to {other!r}",
                project=ref.key,
                bound=bound,
                other=template,
            )

    async def _configure_git(
        self, network: str, running: RunningContainer, ref: ProjectRef, prompt: ChatFields
    ) -> None:
        """Give the container's runner its git access (the broker's routes and a stand-in) once, and
        again when a request brings a login of its own."""
        container = running.container
        brings_login = prompt.repository is not None and prompt.repository.credentials is not None
        if self._git_configured.get(container.id) == ref.key and not brings_login:
            return
        if prompt.repository is not None:
            cloned = prompt.repository.url
        else:
            row = await self._store.projects.get(ref.key)
            cloned = row.repository_url if row else None
        access = await self._git.access(network, container, ref.key, prompt.repository, cloned)
        if access is not None:
            await self._runners.configure_git(running.address, access)
        self._git_configured[container.id] = ref.key

    def _place(self, ref: ProjectRef, pod: Pod | None) -> Pod | None:
        """The pod the project lives in: the one it was placed in before, or `pod`, where it stays. A
        project with a container or workspace of its own cannot move into a pod (its files are in its
        own volume), nor one in a pod into another."""
        placed = self._placements.pod_of(ref.key)
        if pod is None or pod == placed:
            return placed
        if placed is not None:
            raise Conflict(
                "project {project!r} lives in pod {pod!r}; it cannot move to pod {other!r}",
                project=ref.key,
                pod=placed.pod_id,
                other=pod.pod_id,
            )
        if ref.user_id or self._workloads.has_workspace(ref.project_id):
            raise Conflict(
                "project {project!r} has a container and workspace of its own; it cannot join pod {pod!r}",
                project=ref.key,
                pod=pod.pod_id,
            )
        self._placements.place(ref.key, pod)
        self._store.defer(placed_in_pod(ref.key, pod))
        return pod

    def check_pod(self, ref: ProjectRef, pod_id: str | None) -> None:
        """A request that names the project's pod must name the right one."""
        placed = self._placements.pod_of(ref.key)
        if pod_id is not None and (placed is None or placed.pod_id != pod_id):
            raise ProjectNotFound("project {project!r} is not in pod {pod!r}", project=ref.key, pod=pod_id)

    async def running(self, ref: ProjectRef) -> RunningContainer | None:
        """The running container the project's agent is in, if there is one."""
        return await self._lifecycle.find(self._lifecycle.serving(ref))

    async def cancel(self, ref: ProjectRef, session_id: str | None) -> None:
        """Cancel the session's turn (or every turn of the project); nothing running, or a session the
        runner does not know, is not an error (as in the seed)."""
        if running := await self.running(ref):
            with contextlib.suppress(SessionNotFound):
                await self._runners.cancel(running.address, ref.project_id, session_id or "")

    async def answer_permission(
        self, ref: ProjectRef, session_id: str, request_id: str, option_id: str | None
    ) -> None:
        running = await self.running(ref)
        if running is None:
            raise ProjectNotFound("project {project!r} has no running agent to answer", project=ref.key)
        await self._runners.respond_permission(running.address, session_id, request_id, option_id or "")

    async def status(self, ref: ProjectRef, session_id: str | None = None) -> AgentStatus:
        """What the project's agent is doing (for a desktop project: whether its agent process runs)."""
        project = await self._store.projects.get(ref.key)
        if project is None and ref.user_id:
            raise ProjectNotFound(
                "user {user!r} has no project {project!r}; it exists once it received a chat",
                user=ref.user_id,
                project=ref.project_id,
            )
        if project is None:
            raise ProjectNotFound(
                "no project {project!r}; a project exists once it received a chat", project=ref.project_id
            )
        running = await self.running(ref)
        if running is None:
            return AgentStatus(project, alive=False, state=None)
        reply = await self._runners.status(running.address, ref.project_id, session_id or "")
        if ref.user_id and not reply.is_found:
            return AgentStatus(project, alive=False, state=None)
        return AgentStatus(project, alive=True, state=reply.status)

    async def stop_project(self, ref: ProjectRef) -> str:
        """Stop the project's agent: remove its own container (its workspace stays), or, in a pod the
        other projects go on using, end its agent process only. What happened: "removed", "stopped"
        (the agent in a pod), or "none" (nothing ran)."""
        if ref.key not in self._placements:
            removed = await self._lifecycle.stop(self._workloads.agent(ref.project_id))
            return "removed" if removed else "none"
        running = await self.running(ref)
        if running is None:
            return "none"
        result = (await self._runners.stop_agent(running.address, ref.project_id)).result
        return "stopped" if result == "stopped" else "none"

    async def stop_agent(self, ref: ProjectRef) -> str:
        """End the project's agent process in its user's desktop, which keeps running: the runner's
        result ("stopped", "already_stopped", "not_found"), or "no_desktop"."""
        running = await self.running(ref)
        if running is None:
            return "no_desktop"
        return (await self._runners.stop_agent(running.address, ref.project_id)).result
