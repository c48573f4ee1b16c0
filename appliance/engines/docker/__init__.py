"""One Docker host as the container engine."""

from appliance.engines.docker.engine import DockerEngine

__all__ = ["DockerEngine"]
