import pytest

from mercator.common.testing.bus import create_bus_database


@pytest.fixture
async def bus_db(postgres) -> str:
    url = await postgres.create("bus")
    await create_bus_database(url)
    return url


@pytest.fixture
async def projection_db(postgres) -> str:
    url = await postgres.create("projection")
    await create_bus_database(url)
    return url
