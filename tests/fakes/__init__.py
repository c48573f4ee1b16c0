"""Stand-ins for the engine, for tests of the gateway's own logic without Docker."""
