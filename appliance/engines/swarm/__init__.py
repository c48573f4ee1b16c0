"""A Docker Swarm as the container engine."""

from appliance.engines.swarm.engine import SwarmEngine

__all__ = ["SwarmEngine"]
