"""What a request may ask of one container: its limits, and the bounds they must keep within."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.engines.engine import Capacity
from rcoder_wire.contract import MAX_CPUS, MAX_MEMORY, MIN_CPUS, MIN_MEMORY


@dataclass(frozen=True)
class Limits:
    """A request's resource limits for a new container; None: the configured default."""

    memory_bytes: int | None = None
    cpus: float | None = None
    memory_swap_bytes: int | None = None

    @property
    def any(self) -> bool:
        return any(value is not None for value in (self.memory_bytes, self.cpus, self.memory_swap_bytes))


@dataclass
class Bounds:
    """The most a request may ask for one container: the seed's bounds, or less on a smaller host."""

    cpus: float = MAX_CPUS
    memory_bytes: int = MAX_MEMORY

    def fit(self, host: Capacity) -> None:
        """Lower the bounds to what the engine's host has (read when the gateway starts)."""
        self.cpus = min(MAX_CPUS, max(MIN_CPUS, host.cpus))
        self.memory_bytes = min(MAX_MEMORY, max(MIN_MEMORY, host.memory_bytes))
