"""rcoder-runner-probe: exit 0 when the runner's gRPC health check answers SERVING (for HEALTHCHECK)."""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rcoder_rpc.contract import RUNNER_PORT


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rcoder-runner-probe", description=__doc__)
    parser.add_argument("--address", default=f"127.0.0.1:{RUNNER_PORT}")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    with grpc.insecure_channel(args.address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=args.timeout
            )
        except grpc.RpcError as exc:
            print(f"runner unhealthy: {exc.code().name} {exc.details()}", file=sys.stderr)
            sys.exit(1)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"runner {status}")
    sys.exit(0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1)
