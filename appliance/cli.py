"""rcoder-gateway (or `rcoder serve`): run the gateway."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

import yaml

from appliance.config import Config, ConfigError, read_api_key
from appliance.config_loader import describe, load_config
from appliance.gateway import Gateway
from appliance.http.app import create_app
from rcoder_rpc.logs import setup_logging
from rcoder_rpc.tracing import setup_tracing


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rcoder-gateway",
        description="The RCoder gateway: AI coding agents over HTTP/SSE.",
        epilog="The client is `rcoder` (pip install 'rcoder[client]'; rcoder -h).",
    )
    parser.add_argument("-p", "--port", type=int, help="port of the HTTP API (default 8087)")
    parser.add_argument(
        "-d",
        "--projects-dir",
        help="where a project's workspace is mounted in its container (default ./project_workspace); "
        "with RCODER_WORKSPACES=host, the host folder that holds the workspaces",
    )
    parser.add_argument("-c", "--config", help="YAML config file (default: $RCODER_CONFIG)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--state-dir", help="where the DuckDB state file lives (default ./state)")
    parser.add_argument("--default-agent-id", help="agent used when a request names none (default demo)")
    parser.add_argument(
        "--stack", help="name grouping this appliance's containers on the engine (default default)"
    )
    parser.add_argument("--agent-image", help="image of agent containers (default rcoder/agent:dev)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--api-key-file", help="file holding the API key clients must send as x-api-key")
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration (secrets masked) and exit",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cli = {
        "port": args.port,
        "projects_dir": args.projects_dir,
        "host": args.host,
        "state_dir": args.state_dir,
        "default_agent_id": args.default_agent_id,
        "log_level": args.log_level,
        "engine_config.stack": args.stack,
        "engine_config.agent_image": args.agent_image,
        "api_key_auth.api_key_file": args.api_key_file,
    }
    try:
        config = load_config(cli, config_file=args.config)
        read_api_key(config.api_key_auth)
    except ConfigError as exc:
        sys.exit(f"rcoder-gateway: {exc}")
    if args.print_config:
        print(yaml.safe_dump(describe(config), sort_keys=False), end="")
        return
    setup_logging(config.log_level)
    setup_tracing("rcoder-gateway", config.otlp_endpoint or None)
    if config.pyroscope_endpoint:
        setup_profiling(config)
    try:
        config_file = args.config or os.environ.get("RCODER_CONFIG")
        gateway = Gateway.build(
            config,
            reload=lambda: load_config(cli, config_file=args.config),
            config_file=Path(config_file) if config_file else None,
        )
    except ConfigError as exc:
        sys.exit(f"rcoder-gateway: {exc}")
    app = create_app(gateway)
    # What start-up made lives as long as the process: out of the collector's sight, so that its full
    # collections, which stop every stream while they run, stay short.
    gc.collect()
    gc.freeze()
    # Thousands of clients may follow sessions at once: a deep accept queue for their connections.
    app.run(
        host=config.host, port=config.port, single_process=True, access_log=False, motd=False, backlog=4096
    )


def setup_profiling(config: Config) -> None:
    """Send the gateway's CPU profile to Pyroscope, continuously (imported only when asked for)."""
    import pyroscope

    pyroscope.configure(
        application_name="rcoder-gateway",
        server_address=config.pyroscope_endpoint,
        tags={"stack": config.engine_config.stack},
    )
