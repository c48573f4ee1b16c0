"""Stand-in credentials: what a container holds in place of a real secret (a model key, a git token).

A stand-in is `<prefix><whose>.<project>.<hmac>`: the HMAC binds it to one container (its name and id)
and one project; `whose` says whether it opens the operator's secret ("o", which a restarted gateway
may grant again from the container it was made for) or a client's ("c", kept in memory only). Its
grant opens only from that container's address, and goes when the container does. The model key's
forwarding (model_forwarding.py) and the git broker (git_forwarding.py) each keep their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Generic, Protocol, TypeVar

from appliance.engines.engine import Container
from appliance.errors import Unauthorized

# Whose secret a stand-in opens: the operator's (restorable after a restart), or the client's.
OPERATORS, CLIENTS = "o", "c"
# How often one address may have a stand-in the gateway does not hold checked against the engine.
RESTORE_EVERY_SECONDS = 5.0


class Granted(Protocol):
    container: str  # the container's name
    address: str | None  # the only address the stand-in is taken from


G = TypeVar("G", bound=Granted)


class StandIns(Generic[G]):
    """The stand-ins of one kind (by their `prefix`) handed out, and the grants they open."""

    def __init__(self, secret: bytes, prefix: str, what: str) -> None:
        self._secret = secret
        self.prefix = prefix
        self._what = what  # "model credential", "git credential": for the refusal's message
        self._grants: dict[str, G] = {}
        # address → when a stand-in from it was last checked for restoring.
        self._restore_tried: dict[str, float] = {}

    def issue(self, container: Container, project: str, operators: bool, grant: G) -> str:
        """The container's stand-in for the project, opening `grant` from now on."""
        credential = self.credential(container, project, OPERATORS if operators else CLIENTS)
        self._grants[credential] = grant
        return credential

    def credential(self, container: Container, project: str, whose: str) -> str:
        material = f"{container.name}\n{container.id}\n{project}\n{whose}".encode()
        digest = hmac.new(self._secret, material, hashlib.sha256).hexdigest()[:40]
        encoded = base64.urlsafe_b64encode(project.encode()).decode().rstrip("=")
        return f"{self.prefix}{whose}.{encoded}.{digest}"

    def grant(self, credential: str | None, peer: str | None) -> G:
        """The grant a request's stand-in opens, asked from `peer` (the container's address)."""
        grant = self._grants.get(credential or "")
        if grant is None or (grant.address is not None and grant.address != peer):
            raise Unauthorized(
                "unknown {what}: the appliance gives one to each agent it runs", what=self._what
            )
        return grant

    def held(self, credential: str | None) -> bool:
        return (credential or "") in self._grants

    def restorable(self, credential: str | None, peer: str | None) -> bool:
        """Whether a stand-in the gateway does not hold may be an operator's it gave out before a
        restart: well formed, from an address not checked in the last RESTORE_EVERY_SECONDS (a forger
        cannot make the gateway ask the engine often)."""
        if self.held(credential) or peer is None or self.project_of(credential) is None:
            return False
        now = time.monotonic()
        if now - self._restore_tried.get(peer, -RESTORE_EVERY_SECONDS) < RESTORE_EVERY_SECONDS:
            return False
        self._restore_tried[peer] = now
        return True

    def made_for(self, credential: str, peer: str, containers: list[Container]) -> Container | None:
        """The one live container at `peer` an operator's `credential` was made for, if it is."""
        project = self.project_of(credential)
        found = [c for c in containers if c.ip == peer and c.alive]
        if project is None or len(found) != 1:
            return None
        [container] = found
        if hmac.compare_digest(credential, self.credential(container, project, OPERATORS)):
            return container
        return None

    def restore(self, credential: str, grant: G) -> None:
        self._grants[credential] = grant

    def project_of(self, credential: str | None) -> str | None:
        """The project an operator's stand-in names (before its HMAC is checked), or None."""
        whose, _, rest = (credential or "").removeprefix(self.prefix).partition(".")
        encoded, _, digest = rest.partition(".")
        if not (credential or "").startswith(self.prefix) or whose != OPERATORS or len(digest) != 40:
            return None
        try:
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None

    def revoke(self, container: str) -> None:
        """The container is gone: its stand-ins open nothing any more."""
        for credential in [c for c, grant in self._grants.items() if grant.container == container]:
            del self._grants[credential]
