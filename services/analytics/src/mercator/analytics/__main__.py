from mercator.analytics.app import MIGRATIONS, build_app
from mercator.analytics.settings import AnalyticsSettings
from mercator.common.cli import main

if __name__ == "__main__":
    main(AnalyticsSettings(), build_app, MIGRATIONS)
