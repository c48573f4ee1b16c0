"""The agent and desktop containers, whatever the engine (appliance/engines/): their lifecycle, limits,
warm pool, reconciliation and cleanup; and the Swarm backend (swarm_engine.py, node_guard.py)."""
