"""The agent and desktop containers: their lifecycle, the engine backends, labels, reconciliation,
cleanup, and the host firewall that isolates them."""
