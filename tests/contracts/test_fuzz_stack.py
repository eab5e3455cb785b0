"""schemathesis over every operation of the merged `/api/v1/openapi.json`, against the whole system as `make
run` starts it (real processes, the broker, SQLite), as the admin: no answer is a 5xx, and every answer is what
the document says (a documented status, content type and body).

Bounded: MERCATOR_CONTRACT_EXAMPLES (default 4) valid and as many invalid examples per operation, derandomised.
"""

import os
import re
from collections import Counter

import httpx
import pytest
import requests

from mercator.common.testing.fuzz import fuzz, hypothesis_home

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("MERCATOR_CONTRACT_EXAMPLES", "4"))
# A time written without its UTC offset breaks `format: date-time` (RFC 3339 requires one). Schemathesis
# reports each failure under a headline (`- ST108 Response violates schema (2 violations)`) and each violation
# with the `Value:` that broke it.
HEADLINE = re.compile(r"^- (.+)$", re.M)
VALUE = re.compile(r"^\s*Value:\s+(\S.*)$", re.M)
NAIVE_TIME = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?"')


class Counting(requests.adapters.HTTPAdapter):
    def __init__(self):
        super().__init__()
        self.statuses: Counter[str] = Counter()

    def send(self, request, *args, **kwargs):
        answer = super().send(request, *args, **kwargs)
        self.statuses[f"{answer.status_code // 100}xx" if answer.status_code < 400 else str(answer.status_code)] += 1
        return answer


@pytest.fixture(scope="module")
def fuzzed(stack, tmp_path_factory):
    """Every operation fuzzed once for the module: (operations, calls, failures by operation, statuses)."""
    hypothesis_home(tmp_path_factory.mktemp("hypothesis"))
    doc = httpx.get(f"{stack.url}/api/v1/openapi.json", timeout=30).json()
    assert doc["x-missing-services"] == []
    session = requests.Session()
    session.mount("http://", adapter := Counting())
    # A token of its own for each operation: fuzzing sign-out must not sign the rest out.
    operations, calls, failures = fuzz(
        doc, session, stack.url, lambda: {"Authorization": f"Bearer {stack.admin_token()}"}, EXAMPLES, timeout=60
    )
    print(
        f"\nfuzzed {operations} operations with {calls} calls; answers: {dict(sorted(adapter.statuses.items()))}"
        f"; failed: {sorted(failures)}"
    )
    return operations, calls, failures, adapter.statuses


def naive_times_only(texts: list[str]) -> bool:
    """Every failure of an operation is a response schema violation by a time without its offset, and only that."""
    for text in texts:
        headlines, values = HEADLINE.findall(text), VALUE.findall(text)
        if not headlines or not all("Response violates schema" in h for h in headlines):
            return False
        if not values or not all(NAIVE_TIME.fullmatch(v.strip()) for v in values):
            return False
    return True


def report(failures: dict[str, list[str]]) -> str:
    return "\n\n".join(t[:3000] for texts in failures.values() for t in texts)


def test_every_operation_answers_without_a_5xx_and_as_documented(fuzzed):
    operations, calls, failures, statuses = fuzzed
    assert operations >= 100 and calls >= operations * EXAMPLES
    assert statuses["2xx"] >= operations  # not merely refused: the services answered
    broken = {op: texts for op, texts in failures.items() if not naive_times_only(texts)}
    assert not broken, f"{len(broken)} of {operations} operations failed:\n\n{report(broken)}"


def test_every_time_in_an_answer_carries_its_utc_offset(fuzzed):
    _, _, failures, _ = fuzzed
    naive = {op: texts for op, texts in failures.items() if naive_times_only(texts)}
    assert not naive, f"{len(naive)} operations answered a time without its offset:\n\n{report(naive)}"
