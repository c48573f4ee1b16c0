"""The Pulumi program that stands the appliance up on a Docker host (see docs/deploying.md)."""
