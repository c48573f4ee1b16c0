"""rcoder/errors.py: an error reply becomes the most specific error its code or status names."""

from __future__ import annotations

import json

import pytest

from rcoder import errors


def envelope(code: str, message: str = "why") -> bytes:
    return json.dumps(
        {"code": code, "message": message, "data": None, "tid": "abc", "success": False}
    ).encode()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "SESSION_NOT_FOUND", errors.SessionNotFound),
        (404, "CONTAINER_NOT_FOUND", errors.ProjectNotFound),
        (404, "NOT_FOUND", errors.NotFound),
        (400, "VALIDATION_ERROR", errors.BadRequest),
        (401, "4010", errors.Unauthorized),
        (403, "FORBIDDEN", errors.Forbidden),
        (409, "9010", errors.Conflict),
        (413, "PAYLOAD_TOO_LARGE", errors.PayloadTooLarge),
        (429, "TOO_MANY_REQUESTS", errors.TooManyRequests),
        (507, "WORKSPACE_FULL", errors.WorkspaceFull),
        (502, "CONTAINER_ERROR", errors.ContainerFailed),
        (503, "GRPC_ERROR", errors.Unavailable),
        (500, "UNKNOWN_ERROR", errors.APIError),
    ],
)
def test_the_envelope_names_the_error(status, code, expected):
    error = errors.error_for(status, envelope(code))
    assert type(error) is expected
    assert (error.status_code, error.code, error.message, error.tid) == (status, code, "why", "abc")
    assert str(error) == f"why (HTTP {status}, code {code}, trace abc)"


def test_a_proxys_own_error_page_is_unavailable():
    error = errors.error_for(502, b"<html><center>502 Bad Gateway</center></html>")
    assert type(error) is errors.Unavailable and "502 Bad Gateway" in error.message and error.code == ""


def test_every_error_is_an_rcoder_error():
    assert issubclass(errors.SessionNotFound, errors.NotFound)
    for cls in (errors.APIError, errors.TransportError, errors.ConfigError):
        assert issubclass(cls, errors.RCoderError)
