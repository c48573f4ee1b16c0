"""The seed's response envelope: {code, message, data, tid, success}, with a real HTTP status."""

from __future__ import annotations

from typing import Any

from sanic import HTTPResponse, json

OK_CODE = "0000"


def ok(data: Any, message: str = "success") -> HTTPResponse:
    return json({"code": OK_CODE, "message": message, "data": data, "tid": None, "success": True})


def failure(status: int, code: str, message: str) -> HTTPResponse:
    return json(
        {"code": code, "message": message, "data": None, "tid": None, "success": False}, status=status
    )
