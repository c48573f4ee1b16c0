"""The HTTP API: the Sanic application, its routes, request and response bodies, SSE, auth and docs.
The only package that imports Sanic."""
