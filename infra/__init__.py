"""The Pulumi program that stands the appliance up on a Docker host (see the README's deploy section)."""
