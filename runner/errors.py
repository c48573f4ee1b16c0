"""The runner's errors, each carrying the gRPC status code the servicer answers with.

RunnerError
├── InvalidRequest   INVALID_ARGUMENT
├── NotFound         NOT_FOUND
├── Busy             FAILED_PRECONDITION
├── AgentFailed      UNAVAILABLE  (the agent process could not start or died)
└── CloneFailed      FAILED_PRECONDITION  (a turn's repository could not be cloned: the turn ends with it)
"""

from typing import Any

import grpc

from rcoder_rpc.messages import translate


class RunnerError(Exception):
    code = grpc.StatusCode.INTERNAL

    def __init__(self, template: str, **params: Any) -> None:
        """`template`: the English message, with {fields} filled from `params` (see rcoder_rpc/messages.py)."""
        self.template, self.params = template, params
        super().__init__(template.format(**params) if params else template)

    def localized(self) -> str:
        """The message in the language of the call being answered."""
        return translate(self.template, **self.params)


class InvalidRequest(RunnerError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RunnerError):
    code = grpc.StatusCode.NOT_FOUND


class Busy(RunnerError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AgentFailed(RunnerError):
    code = grpc.StatusCode.UNAVAILABLE


class CloneFailed(RunnerError):
    code = grpc.StatusCode.FAILED_PRECONDITION
