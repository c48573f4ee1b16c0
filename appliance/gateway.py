"""The gateway's parts, built once from the configuration, started with the server and closed after it.

`Gateway` is the HTTP application's typed context (`app.ctx`): the routes reach every service
through it, and tests build it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance import chat_request, labels
from appliance.api_key import ApiKey
from appliance.config import Config, read_api_key, read_secret, registry_login
from appliance.containers.cleanup import Cleanup
from appliance.containers.lifecycle import Lifecycle
from appliance.containers.limits import Bounds
from appliance.containers.pool import Pools, WarmPool
from appliance.containers.reconcile import Reconciler
from appliance.containers.workloads import Workload, Workloads
from appliance.desktops import Desktops
from appliance.engines.docker import DockerEngine
from appliance.engines.egress import EgressPolicy, follow
from appliance.engines.engine import Engine, HostFolders
from appliance.engines.firewall import FirewallError
from appliance.engines.swarm import SwarmEngine
from appliance.events import EventHub
from appliance.files import Files
from appliance.git_forwarding import GitForwarding
from appliance.model_forwarding import ModelForwarding
from appliance.projects import Placements
from appliance.proxy.decisions import Router
from appliance.proxy.route_cache import ProxyRoutes
from appliance.proxy.tokens import Tokens, derive, load_secret
from appliance.runner_client import RunnerClient
from appliance.store import Store
from appliance.templates import Templates
from appliance.turns import Turns

log = logging.getLogger("rcoder.gateway")


def engine_for(config: Config) -> Engine:
    """The configured backend: this one Docker engine (whose host holds the workspaces' folders, if
    they are host folders), or the swarm it manages (where the proxy's container is the one its
    control host names, `<container>[.<network>]`)."""
    engine_config, proxy = config.engine_config, config.proxy_config
    if engine_config.backend == "swarm":
        return SwarmEngine(
            engine_config.host,
            engine_config.api_timeout_seconds,
            list(engine_config.constraints),
            engine_config.swarm_encrypted,
            engine_config.attach,
            model_host=proxy.control_host.partition(".")[0],
            registry_login=registry_login(engine_config),
            guard_image=engine_config.node_guard_image,
            images_registry=engine_config.images_registry,
        )
    folders = None
    if (root := config.host_workspaces) is not None:
        folder_labels = labels.labels_for(engine_config.stack, labels.KIND_FOLDERS)
        folders = HostFolders(root, engine_config.agent_image, folder_labels)
    return DockerEngine(engine_config.host, engine_config.api_timeout_seconds, folders)


@dataclass(eq=False)
class Gateway:
    config: Config
    api_key: ApiKey
    store: Store
    engine: Engine
    runners: RunnerClient
    lifecycle: Lifecycle
    # What each container is for and is made of, and how big new workspaces may grow.
    workloads: Workloads
    hub: EventHub
    turns: Turns
    desktops: Desktops
    tokens: Tokens
    router: Router
    # The proxy's control port: kept routing decisions emptied, counters read.
    proxy: ProxyRoutes
    # Agents' stand-in model credentials, and the forwarding of their requests with the real key.
    model_forwarding: ModelForwarding
    # Containers' git stand-ins, and the broker's logins.
    git_forwarding: GitForwarding
    # Each workspace's files, served by a files container of its own.
    files: Files
    # The toolchains projects may start on.
    templates: Templates
    # The warm pools new projects claim a started container from (the agent image's, templates').
    pools: Pools = field(default_factory=lambda: Pools([]))
    # The configuration file the API key is reloaded from when it changes (None: none).
    config_file: Path | None = None
    # What a request may ask for one container: lowered to the host's capacity when the gateway starts.
    bounds: Bounds = field(default_factory=Bounds)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __setattr__(self, name: str, value: Any) -> None:
        """Frozen, but for Sanic Extensions, which keeps a registry of its own on the app's ctx
        (`_dependencies`): a field is set once, when the gateway is built."""
        if not name.startswith("_") and name in self.__dict__:
            raise AttributeError(f"Gateway.{name} is set once, when the gateway is built")
        object.__setattr__(self, name, value)

    @classmethod
    def build(
        cls,
        config: Config,
        engine: Engine | None = None,
        reload: Callable[[], Config] | None = None,
        config_file: Path | None = None,
    ) -> Gateway:
        """Every part, none of them started yet; `engine`: a backend other than the configured one;
        `reload`: the configuration loaded again (from `config_file` among others), which the API key
        follows."""
        proxy = config.proxy_config
        store = Store(Path(config.state_dir) / "rcoder.duckdb")
        engine = engine or engine_for(config)
        runners = RunnerClient(traced=bool(config.otlp_endpoint))
        proxy_routes = ProxyRoutes(proxy.control_port, proxy.control_host)
        secret = read_secret(proxy.token_secret, proxy.token_secret_file, "proxy_config.token_secret_file")
        token_secret = load_secret(secret, Path(config.state_dir))
        forwarding = ModelForwarding(
            derive(token_secret, "model-forwarding"),
            proxy.model_port,
            functools.partial(chat_request.default_model_provider, config),
        )
        templates = Templates(config, engine, store)
        workloads = Workloads(config, templates)
        placements = Placements()

        async def cloned(project: str) -> str | None:
            row = await store.projects.get(project)
            return row.repository_url if row else None

        git = GitForwarding(derive(token_secret, "git-forwarding"), config, forwarding, cloned)

        async def gone(workload: Workload) -> None:
            forwarding.revoke(workload.name)
            git.revoke(workload.name)
            await proxy_routes.forget()

        pools = cls._pools(config, engine, runners, store, workloads)
        lifecycle = Lifecycle(config, engine, runners, store, workloads, placements, pools, gone)
        hub = EventHub(store, runners)
        tokens = Tokens(token_secret)
        files = Files(config, engine, runners, workloads, lifecycle, proxy_routes.forget)
        return cls(
            config=config,
            api_key=ApiKey(read_api_key(config.api_key_auth), reload),
            store=store,
            engine=engine,
            runners=runners,
            lifecycle=lifecycle,
            workloads=workloads,
            hub=hub,
            turns=Turns(
                config, lifecycle, workloads, placements, runners, store, hub, forwarding, git, templates
            ),
            desktops=Desktops(config, lifecycle, workloads, runners, store, tokens),
            tokens=tokens,
            router=Router(config, tokens, lifecycle, files),
            proxy=proxy_routes,
            model_forwarding=forwarding,
            git_forwarding=git,
            files=files,
            templates=templates,
            pools=pools,
            config_file=config_file,
        )

    @staticmethod
    def _pools(
        config: Config, engine: Engine, runners: RunnerClient, store: Store, workloads: Workloads
    ) -> Pools:
        """The warm pools the configuration asks for (the agent image's, and each template's),
        holding at most limits.max_containers between them; none with host folders."""
        wanted = {None: config.warm_pool.size} | {
            name: template.pool_size for name, template in config.templates.items()
        }
        if config.host_workspaces is not None:
            if any(wanted.values()):
                log.info(
                    "no warm pool with host folders: a pooled container's volume cannot become a project's folder"
                )
            return Pools([])
        engine_config, starting = config.engine_config, asyncio.Lock()

        def make(size: int, template: str | None) -> WarmPool:
            return WarmPool(
                size,
                engine_config.stack,
                engine,
                runners,
                store,
                workloads,
                engine_config.start_timeout_seconds,
                template,
                starting,
            )

        return Pools.sized(wanted, config.limits.max_containers, make)

    async def start(self) -> None:
        """Open the store, make the networks and their firewall, adopt what runs, start the background tasks."""
        engine_config = self.config.engine_config
        await self.store.open()
        self.bounds.fit(await self.engine.capacity())
        bridges = []
        network_labels = labels.labels_for(engine_config.stack, labels.KIND_NETWORK)
        for name in (engine_config.network_base_name, engine_config.desktop_network):
            network = await self.engine.ensure_network(name, network_labels)
            self.model_forwarding.hosts[name] = network.host_address
            bridges.append(network.bridge)
        isolation_problem = await self._isolate(bridges)
        self.lifecycle.refuse_starts(isolation_problem)
        await self._bound_workspaces()
        await self.lifecycle.load_workspaces()
        await self.templates.load()
        self.workloads.know_templates(await self.store.projects.templates())
        self.tasks.append(asyncio.create_task(self.templates.prepare(), name="templates"))
        await self.hub.start()
        reconciler = Reconciler(
            engine_config.stack,
            self.engine,
            self.lifecycle,
            self.workloads,
            self.hub,
            self.store,
            self.files.gone,
        )
        await reconciler.adopt()
        self.tasks.append(asyncio.create_task(reconciler.watch(), name="reconcile"))
        await self.files.sweep()
        self.tasks.append(asyncio.create_task(self.files.run(), name="files-sweep"))
        if discarded := await self.pools.discard_unclaimed():
            log.info("removed %d unclaimed warm-pool containers of a previous run", len(discarded))
        if isolation_problem is None:
            for pool in self.pools:
                self.tasks.append(
                    asyncio.create_task(pool.run(), name=f"warm-pool-{pool.template or 'agent'}")
                )
        if self.config.cleanup_config.enabled and engine_config.auto_cleanup:
            cleanup = Cleanup(
                self.config.cleanup_config,
                engine_config.container_ttl_seconds,
                self.store,
                self.lifecycle,
                self.workloads,
                self.runners,
            )
            self.tasks.append(asyncio.create_task(cleanup.run(), name="cleanup"))
        if self.config_file is not None or self.config.api_key_auth.api_key_file:
            key_file = self.config.api_key_auth.api_key_file
            follow = self.api_key.follow(self.config_file, Path(key_file) if key_file else None)
            self.tasks.append(asyncio.create_task(follow, name="api-key"))
        if not self.api_key.value:
            log.warning(
                "API key authentication is off: anyone who reaches port %s can use this appliance",
                self.config.port,
            )
        log.info(
            "gateway ready: stack %s, network %s, agent image %s",
            engine_config.stack,
            engine_config.network_base_name,
            engine_config.agent_image,
        )

    async def _bound_workspaces(self) -> None:
        """Make new workspace and home volumes with the sized-volume plugin, if it works here."""
        engine_config = self.config.engine_config
        if self.config.host_workspaces is not None:
            self.workloads.leave_unsized("host folders have no quota")
            log.warning(
                "workspaces are folders in %s: host folders have no quota", self.config.host_workspaces
            )
            return
        if not engine_config.workspace_size_bytes or not engine_config.workspace_volume_driver:
            self.workloads.leave_unsized(
                "turned off (engine_config.workspace_size_bytes or workspace_volume_driver)"
            )
            return
        problem = await self.engine.volume_quota_problem(engine_config.workspace_volume_driver)
        if problem is None:
            self.workloads.size_volumes(engine_config.workspace_size_bytes)
            return
        self.workloads.leave_unsized(problem)
        log.warning(
            "workspaces are not bounded: %s (scripts/build-images installs the plugin)",
            problem,
        )

    async def _isolate(self, bridges: list[str]) -> str | None:
        """Install the host firewall for the stack's bridges, with the egress policy; what went wrong,
        if it could not be."""
        if not self.config.engine_config.host_firewall:
            log.warning("host_firewall is off: agent and desktop containers can reach this host's services")
            return None
        engine_config = self.config.engine_config
        policy = EgressPolicy.of(self.config)
        model_port = self.config.proxy_config.model_port
        containers_only = (model_port,) if model_port else ()

        async def apply(networks: Sequence[str] | None) -> None:
            await self.engine.isolate(
                engine_config.stack, bridges, engine_config.open_ports, containers_only, networks
            )

        try:
            networks = await policy.networks()
            await apply(networks)
        except FirewallError as exc:
            log.error("cannot isolate containers from the host, so none will be started: %s", exc)
            return str(exc)
        log.info("egress policy %s: %s", policy.policy, "anywhere" if networks is None else list(networks))
        if networks is not None and policy.names:
            every = self.config.egress.refresh_seconds
            self.tasks.append(asyncio.create_task(follow(policy, apply, every, networks), name="egress"))
        return None

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.close()
        await self.model_forwarding.close()
        await self.git_forwarding.close()
        await self.files.close()
        await self.runners.close()
        await self.engine.close()
        await self.store.close()
