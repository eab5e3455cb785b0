from mercator.common.cli import main
from mercator.deals.app import MIGRATIONS, build_app
from mercator.deals.settings import DealsSettings

if __name__ == "__main__":
    main(DealsSettings(), build_app, MIGRATIONS)
