import json
import logging

from mercator.common.context import Cause, current_cause
from mercator.common.logs import configure_logging


def test_logs_are_json_lines_with_the_service_and_the_correlation_id(capsys):
    configure_logging("contacts", "INFO", json_logs=True)
    token = current_cause.set(Cause(correlation_id="req-7"))
    try:
        logging.getLogger("mercator.test").warning("relay: publish failed", extra={"rows": 3})
    finally:
        current_cause.reset(token)
        logging.getLogger().handlers.clear()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["level"] == "WARNING" and line["message"] == "relay: publish failed"
    assert line["service"] == "contacts" and line["correlation_id"] == "req-7" and line["rows"] == 3
