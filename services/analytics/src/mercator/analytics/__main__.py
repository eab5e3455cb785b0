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


if __name__ == "__main__":
    if sys.argv[1:2] == ["rebuild"]:
        rebuild(AnalyticsSettings())
    else:
        main(AnalyticsSettings(), build_app, MIGRATIONS)
