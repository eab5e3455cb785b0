"""Cross-service tests: whole processes, the real broker, faults."""

import pytest

from mercator.common.auth import Caller, mint_token
from mercator.common.settings import ServiceSettings
from mercator.common.testing.api import caller


@pytest.fixture
def manager() -> Caller:
    return caller("Анна Петрова", roles=("manager",))


@pytest.fixture
def token(manager) -> str:
    return mint_token(ServiceSettings(), manager)
