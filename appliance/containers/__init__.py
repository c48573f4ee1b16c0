"""The agent and desktop containers, whatever the engine (appliance/engines/): their lifecycle, limits,
warm pool, reconciliation and cleanup."""
