import asyncio
import sys

from mercator.analytics.app import MIGRATIONS, build_app
from mercator.analytics.settings import AnalyticsSettings
from mercator.common.cli import main


def rebuild(settings: AnalyticsSettings) -> None:
    """`python -m mercator.analytics rebuild`: drop the read models and read every topic again."""
    from mercator.analytics import jobs
    from mercator.common.logs import configure_logging
    from mercator.common.migrate import upgrade

    configure_logging(settings.service_name, settings.log_level, settings.json_logs)
    upgrade(settings.database_url, MIGRATIONS)

    async def run() -> int:
        app = build_app(settings)
        try:
            return await jobs.rebuild(app.state.runtime)
        finally:
            await app.state.runtime.engine.dispose()

    print(f"read models rebuilt from {asyncio.run(run())} messages")


def refill(settings: AnalyticsSettings) -> None:
    """`python -m mercator.analytics refill`: compute the aggregates the reports read from the read models as
    they stand (after an upgrade that adds aggregates to read models already filled), in one transaction."""
    from mercator.analytics import jobs
    from mercator.analytics.refill import refill as refill_aggregates
    from mercator.common.db import make_engine, make_sessionmaker
    from mercator.common.migrate import upgrade
    from mercator.common.uow import UnitOfWork

    upgrade(settings.database_url, MIGRATIONS)

    async def run() -> None:
        engine = make_engine(settings.database_url)
        try:
            async with jobs.step(UnitOfWork(make_sessionmaker(engine), source="/mercator/analytics")) as uow:
                await refill_aggregates(uow.session)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("aggregates refilled from the read models")


if __name__ == "__main__":
    if sys.argv[1:2] == ["rebuild"]:
        rebuild(AnalyticsSettings())
    elif sys.argv[1:2] == ["refill"]:
        refill(AnalyticsSettings())
    else:
        main(AnalyticsSettings(), build_app, MIGRATIONS)
