"""The runner's errors, each carrying the gRPC status code the servicer answers with.

RunnerError
├── InvalidRequest   INVALID_ARGUMENT
├── NotFound         NOT_FOUND
├── Busy             FAILED_PRECONDITION
└── AgentFailed      UNAVAILABLE  (the agent process could not start or died)
"""

import grpc


class RunnerError(Exception):
    code = grpc.StatusCode.INTERNAL


class InvalidRequest(RunnerError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RunnerError):
    code = grpc.StatusCode.NOT_FOUND


class Busy(RunnerError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AgentFailed(RunnerError):
    code = grpc.StatusCode.UNAVAILABLE
