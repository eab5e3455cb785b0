import pytest

from mercator.common.testing.bus import create_bus_database


@pytest.fixture(params=["postgresql", "sqlite"])
async def bus_db(request, postgres, tmp_path) -> str:
    """The publishing service's database: PostgreSQL, and a SQLite file as `make run` has (whose relay
    reads through a connection of its own and marks behind its publishing)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/bus.db"
    else:
        url = await postgres.create("bus")
    await create_bus_database(url)
    return url


@pytest.fixture
async def projection_db(postgres) -> str:
    url = await postgres.create("projection")
    await create_bus_database(url)
    return url
