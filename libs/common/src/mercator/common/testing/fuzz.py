"""schemathesis over an OpenAPI document: every operation gets a few derandomised examples, valid and invalid,
and each answer must not be a 5xx and must be what the document says (status, content type, body).

Imported only by the tests that fuzz; schemathesis 4 (the gateway's `test` extra) missing skips them naming it,
and under CI that skip is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

try:
    import schemathesis

    if int(schemathesis.__version__.split(".")[0]) < 4:
        raise ImportError(f"schemathesis {schemathesis.__version__} is too old")
except ImportError as exc:
    from mercator.common.testing.plugin import need

    need("schemathesis 4 (the gateway's `test` extra)", repr(exc))

import hypothesis
import requests
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)


def hypothesis_home(path: Path) -> None:
    """Where Hypothesis keeps its files during the run: a temporary folder, so nothing is left in the repository."""
    hypothesis.configuration.set_hypothesis_home_dir(path)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz(
    doc: dict,
    session: requests.Session,
    base_url: str,
    headers: Callable[[], dict[str, str]],
    examples: int,
    timeout: float | None = None,
) -> tuple[int, int, dict[str, list[str]]]:
    """Every operation, `examples` valid and `examples` invalid cases each, sent through `session` with
    `headers()` (asked once per operation): (operations, calls, failures by operation)."""
    # The bearer token on every call; no generated `X-API-Key` beside it (the gateway refuses both at once).
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_dict(doc, config=config)
    failures: dict[str, list[str]] = {}
    operations = calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # the document is the gateway's own: it parses
        operations += 1
        sent = headers()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @hypothesis_settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                nonlocal calls
                calls += 1
                # run() is called at once, below, in this very iteration: the loop's `sent` is the one meant.
                case.call_and_validate(
                    base_url=base_url,
                    session=session,
                    headers=sent,  # noqa: B023
                    checks=CHECKS,
                    timeout=timeout,
                )

            try:
                run()
            except Unsatisfiable:
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label  # nothing there to break
            except (Exception, BaseExceptionGroup) as exc:
                failures.setdefault(operation.label, []).append(f"{operation.label} [{mode.value}]: {exc}")
    return operations, calls, failures
