from mercator.common.cli import main
from mercator.deals.app import MIGRATIONS, build_app
from mercator.deals.settings import DealsSettings

if __name__ == "__main__":
    settings = DealsSettings()
    main(settings, lambda _: build_app(settings), MIGRATIONS)  # the app of these very settings, typed as deals'
