"""The HTTP routes, one module per area of the API; each is parse → one call → reply."""
