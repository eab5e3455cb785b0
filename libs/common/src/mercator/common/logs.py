"""JSON logs with the correlation id of the request or event being handled."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from mercator.common.context import current_cause, current_request_id


class _CauseFilter(logging.Filter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        # A line about an event names that event's correlation id itself (extra=...).
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = current_cause.get().correlation_id
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        return True


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CauseFilter(service))
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s %(correlation_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python's warnings as log records too: every line on stderr stays one JSON object.
    logging.captureWarnings(True)
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel("WARNING")
