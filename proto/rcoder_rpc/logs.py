"""Logs shared by the gateway and the runner: one JSON object per line, with the trace id of the
request a line belongs to, when OpenTelemetry is in use (it is not imported for this: a runner that
does not trace does not pay for loading it)."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace and span ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace = sys.modules.get("opentelemetry.trace")
        context = trace.get_current_span().get_span_context() if trace is not None else None
        if context is not None and context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "grpc", "docker"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
