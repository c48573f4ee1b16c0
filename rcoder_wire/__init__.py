"""The HTTP API's wire models, shared by the gateway (appliance/) and the client (rcoder/).

Nothing here imports more than the standard library and pydantic, so that the client installs
without any of the server side."""
