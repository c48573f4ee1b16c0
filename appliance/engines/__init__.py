"""The container engines: the `Engine` protocol (engine.py) and one sibling package per backend.

Nothing is imported here, so that importing engine.py, firewall.py or egress.py never loads a backend
or the docker SDK (`rcoder-firewall` runs on swarm nodes with no use for either)."""
