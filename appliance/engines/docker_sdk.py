"""The Docker SDK as the Docker-based backends (docker/, swarm/) use it, by composition: a client per
worker thread, the few worker threads the SDK's blocking calls run in, and Docker's errors translated
into the appliance's, once, here."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import docker
import docker.errors

from appliance.engines.engine import NameTaken
from appliance.errors import EngineUnavailable, NotFound

T = TypeVar("T")
LOG_TAIL_LINES = 30
# Each container's own log (json-file): three files of 10 MiB at most, the oldest dropped.
CONTAINER_LOGS = {"max-size": "10m", "max-file": "3"}


def parse_time(text: str) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds, which datetime does not take."""
    if not text:
        return None
    seconds = text.removesuffix("Z").partition(".")[0]
    return datetime.fromisoformat(seconds).replace(tzinfo=UTC)


class DockerSdk:
    """The engine at `host` (empty: the environment's, as the docker CLI finds it)."""

    def __init__(self, host: str, api_timeout: int) -> None:
        self._host = host
        self._api_timeout = api_timeout
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docker")

    def client(self) -> docker.DockerClient:
        """One SDK client per worker thread: the SDK makes no thread-safety promise."""
        client = getattr(self._local, "client", None)
        if client is None:
            if self._host:
                client = docker.DockerClient(base_url=self._host, timeout=self._api_timeout)
            else:
                client = docker.from_env(timeout=self._api_timeout)
            self._local.client = client
        return client

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread, with Docker's errors as the appliance's."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except docker.errors.NotFound as exc:
            raise NotFound(
                "the Docker engine found no such object: {detail}", detail=str(exc.explanation or exc)
            ) from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise NameTaken(str(exc.explanation)) from exc
            raise EngineUnavailable(
                "the Docker engine refused the request: {detail}", detail=str(exc.explanation or exc)
            ) from exc
        except docker.errors.DockerException as exc:
            raise EngineUnavailable("the Docker engine is not reachable: {detail}", detail=str(exc)) from exc

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
