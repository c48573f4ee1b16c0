"""The gateway's state in a DuckDB file: projects, their sessions, and the containers started for them.

The gateway is the file's only writer. DuckDB connections are not thread-safe, so every
query runs on one dedicated thread, which also keeps the event loop free.
"""

from appliance.store.connection import UNWRITABLE, Store
from appliance.store.projects import ProjectRow
from appliance.store.sessions import SessionState

__all__ = ["UNWRITABLE", "ProjectRow", "SessionState", "Store"]
