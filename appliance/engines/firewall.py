"""The host firewall that keeps the workloads' containers away from the host: iptables rules per stack.

A container reaches the host's own addresses (its bridge gateway, the host's interfaces) through the
host's INPUT chain, and anything beyond the host through FORWARD, where Docker's DOCKER-USER chain
comes first. For each bridge of the stack:

- INPUT: only replies to connections the host opened (the gateway's gRPC calls, the proxy's previews)
  come in, and new connections to the ports the operator opened (e.g. a model server on the host);
  every other new connection from a container to the host is rejected, whatever the address or port.
- DOCKER-USER: link-local addresses (169.254.0.0/16, where clouds serve instance metadata) are rejected;
  under an egress policy other than "allow" (appliance/engines/egress.py), so is every new
  connection to anywhere but the allowed networks.

A third chain keeps the host ports that only the stack's containers may reach (the proxy's model port,
which listens on every address so that each bridge's containers find it): new connections to them from
anywhere but the stack's bridges and loopback are rejected.

On a swarm, each node holds the rules for the bridge its tasks leave it by (docker_gwbridge), and also
rejects the swarm's node addresses (`denied`): `rcoder-firewall hold`, run on every node by the
gateway's guard service (appliance/engines/swarm/guard.py), installs them, says so in a file its
health check reads, and installs them again every minute, until it is stopped. It does not remove
them: a guard replaced by a newer one must leave no gap.

The rules live in chains of the stack's own, so installing is idempotent and removing takes them
all. A chain whose rules are already the wanted ones (a digest in their first rule's comment says so) is
left as it is, so a restarting gateway never opens a gap; a chain whose rules change is replaced in one
iptables-restore transaction, so that it is never seen empty. `rcoder-firewall install|remove` does the same from the command line (`make down` removes them).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

METADATA_NETWORKS = ("169.254.0.0/16",)
# `hold`: how often the rules are installed again, and the file that says they hold.
HOLD_SECONDS = 60
READY_FILE = "/run/rcoder-guard/ready"
# iptables-nft first: Docker uses it on current Debian. The legacy backend also needs CAP_NET_RAW.
BACKENDS = ("iptables-nft", "iptables-legacy", "iptables")


class FirewallError(Exception):
    """The rules could not be read, installed or removed; the message says why."""


@dataclass(frozen=True)
class Chains:
    """The stack's chains. iptables allows 28 characters, so a stack is named by a digest."""

    input: str
    forward: str
    containers_only: str

    @classmethod
    def of(cls, stack: str) -> Chains:
        digest = hashlib.sha256(stack.encode()).hexdigest()[:10]
        return cls(f"RCODER-IN-{digest}", f"RCODER-FW-{digest}", f"RCODER-CO-{digest}")


def input_rules(chain: str, open_ports: Sequence[int] = ()) -> list[list[str]]:
    return [
        ["-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        *(["-A", chain, "-p", "tcp", "--dport", str(port), "-j", "RETURN"] for port in open_ports),
        ["-A", chain, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-A", chain, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"],
    ]


def forward_rules(
    chain: str, egress: Sequence[str] | None = None, denied: Sequence[str] = ()
) -> list[list[str]]:
    """Beyond the host: never link-local, nor `denied` (CIDRs); with `egress` (CIDRs), new connections
    only to those."""
    metadata = [["-A", chain, "-d", network, "-j", "REJECT"] for network in (*METADATA_NETWORKS, *denied)]
    if egress is None:
        return metadata
    return [
        ["-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        *metadata,
        *(["-A", chain, "-d", network, "-j", "RETURN"] for network in egress),
        ["-A", chain, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-A", chain, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"],
    ]


def containers_only_rules(chain: str, bridges: Sequence[str]) -> list[list[str]]:
    """For the containers-only ports: the stack's bridges and loopback pass, anyone else is rejected."""
    return [
        *(["-A", chain, "-i", interface, "-j", "RETURN"] for interface in (*bridges, "lo")),
        ["-A", chain, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
    ]


class Firewall:
    def __init__(self, stack: str, command: str | None = None) -> None:
        self.chains = Chains.of(stack)
        self._stack = stack
        self._command = command

    async def _iptables(self, *args: str, check: bool = True) -> tuple[int, str]:
        if self._command is None:
            self._command = await self._backend()
        code, text = await _run(self._command, *args)
        if check and code != 0:
            raise FirewallError(f"{self._command} {' '.join(args)} failed: {text}")
        return code, text

    @staticmethod
    async def _backend() -> str:
        """The iptables that holds Docker's rules (it has the DOCKER-USER chain)."""
        problems = []
        for command in BACKENDS:
            if shutil.which(command) is None:
                continue
            code, text = await _run(command, "-S", "DOCKER-USER")
            if code == 0:
                return command
            problems.append(f"{command}: {text.splitlines()[0] if text else code}")
        raise FirewallError(
            "no iptables with Docker's DOCKER-USER chain is usable here "
            f"({'; '.join(problems) or 'iptables is not installed'}); the gateway needs CAP_NET_ADMIN "
            "(and CAP_NET_RAW for iptables-legacy) on the host's network"
        )

    async def install(
        self,
        bridges: Sequence[str],
        open_ports: Sequence[int] = (),
        egress: Sequence[str] | None = None,
        containers_only: Sequence[int] = (),
        denied: Sequence[str] = (),
    ) -> None:
        """Make the rules for exactly these bridge interfaces hold (idempotent); `open_ports`: the host's
        TCP ports containers may connect to; `egress`: the only networks beyond the host they may
        connect to (None: any); `containers_only`: host ports open to the stack's containers (add them
        to `open_ports` too) and to nobody else; `denied`: networks beyond the host they never reach."""
        co = self.chains.containers_only
        for chain, rules in (
            (self.chains.input, input_rules(self.chains.input, open_ports)),
            (self.chains.forward, forward_rules(self.chains.forward, egress, denied)),
            (co, containers_only_rules(co, bridges)),
        ):
            await self._ensure_chain(chain, rules)
        await self._hold_jumps("INPUT", self.chains.input, "-i", bridges)
        await self._hold_jumps("DOCKER-USER", self.chains.forward, "-i", bridges)
        await self._hold_jumps("INPUT", co, "--dport", [str(port) for port in containers_only])
        log.info("host firewall for stack %s holds on %s", self._stack, ", ".join(bridges))

    async def _hold_jumps(self, parent: str, chain: str, by: str, values: Sequence[str]) -> None:
        """Exactly one jump from `parent` to `chain` for each value of `by` (-i: a bridge, --dport: a port)."""
        await self._drop_jumps(parent, chain, by, keep=set(values))
        for value in values:
            jump = [*(["-p", "tcp"] if by == "--dport" else []), by, value, "-j", chain]
            code, _ = await self._iptables("-C", parent, *jump, check=False)
            if code != 0:
                await self._iptables("-I", parent, "1", *jump)

    async def _ensure_chain(self, chain: str, rules: list[list[str]]) -> None:
        digest = hashlib.sha256(repr(rules).encode()).hexdigest()[:12]
        mark = f"rcoder:{digest}"
        code, listing = await self._iptables("-S", chain, check=False)
        if code == 0 and mark in listing:
            return
        # Declaring the chain in a --noflush restore creates it or empties it, in the same transaction
        # as its new rules.
        first, *rest = rules
        lines = [
            "*filter",
            f":{chain} - [0:0]",
            " ".join([*first, "-m", "comment", "--comment", mark]),
            *(" ".join(rule) for rule in rest),
            "COMMIT",
        ]
        code, text = await _run(f"{self._command}-restore", "--noflush", stdin="\n".join(lines) + "\n")
        if code != 0:
            raise FirewallError(f"{self._command}-restore could not replace chain {chain}: {text}")

    async def remove(self) -> None:
        """Take every rule and chain of the stack away (nothing installed is not an error)."""
        for parent, chain, by in (
            ("INPUT", self.chains.input, "-i"),
            ("DOCKER-USER", self.chains.forward, "-i"),
            ("INPUT", self.chains.containers_only, "--dport"),
        ):
            await self._drop_jumps(parent, chain, by, keep=set())
            await self._iptables("-F", chain, check=False)
            await self._iptables("-X", chain, check=False)

    async def bridges(self) -> list[str]:
        """The interfaces whose traffic the stack's INPUT chain governs now."""
        return sorted(bridge for bridge, _ in await self._jumps("INPUT", self.chains.input, "-i"))

    async def containers_only_ports(self) -> list[int]:
        """The host ports only the stack's containers may reach now."""
        return sorted(
            int(port) for port, _ in await self._jumps("INPUT", self.chains.containers_only, "--dport")
        )

    async def _jumps(self, parent: str, chain: str, by: str) -> list[tuple[str, list[str]]]:
        """The jumps from `parent` to `chain`: the value of their `by` option, and the rule."""
        _, listing = await self._iptables("-S", parent)
        jumps = []
        for line in listing.splitlines():
            words = line.split()
            if words[:2] == ["-A", parent] and words[-2:] == ["-j", chain] and by in words:
                jumps.append((words[words.index(by) + 1], words[2:]))
        return jumps

    async def _drop_jumps(self, parent: str, chain: str, by: str, keep: set[str]) -> None:
        for value, rule in await self._jumps(parent, chain, by):
            if value not in keep:
                await self._iptables("-D", parent, *rule)


async def _run(command: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run iptables (waiting up to 5 s for its lock); its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        command,
        "-w",
        "5",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate(stdin.encode() if stdin is not None else None)
    return process.returncode or 0, output.decode(errors="replace").strip()


async def _act(args: argparse.Namespace, ready: Callable[[], None]) -> list[str]:
    """Do the action; `hold`: say so once the rules hold (`ready`), then install them again every
    HOLD_SECONDS, for good."""
    firewall = Firewall(args.stack)
    egress = None if args.egress is None else [n for n in args.egress.split(",") if n]
    open_ports = [*args.open_port, *args.containers_only_port]
    if args.action == "remove":
        await firewall.remove()
    while args.action in ("install", "hold"):
        await firewall.install(args.bridges, open_ports, egress, args.containers_only_port, args.deny)
        if args.action == "install":
            break
        ready()
        await asyncio.sleep(HOLD_SECONDS)
    return await firewall.bridges()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rcoder-firewall", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("install", "hold", "remove", "show"))
    parser.add_argument("--stack", required=True)
    parser.add_argument("bridges", nargs="*", help="bridge interfaces (install)")
    parser.add_argument("--open-port", type=int, action="append", default=[], help="a host port to allow")
    parser.add_argument(
        "--containers-only-port",
        type=int,
        action="append",
        default=[],
        help="a host port the stack's containers may reach, and nobody else",
    )
    parser.add_argument("--deny", action="append", default=[], help="a network containers never reach")
    parser.add_argument("--egress", help="the only networks beyond the host, comma-separated (default: any)")
    parser.add_argument("--ready-file", default=READY_FILE, help="hold: written once the rules hold")
    args = parser.parse_intermixed_args(argv)
    ready_file = Path(args.ready_file)

    def ready() -> None:
        if not ready_file.exists():
            ready_file.parent.mkdir(parents=True, exist_ok=True)
            ready_file.write_text(f"{args.stack}\n")
            print(f"stack {args.stack}: rules hold on {', '.join(args.bridges)}", flush=True)

    try:
        bridges = asyncio.run(_act(args, ready))
    except FirewallError as exc:
        sys.exit(f"rcoder-firewall: {exc}")
    print(f"stack {args.stack}: {'rules on ' + ', '.join(bridges) if bridges else 'no rules'}")
