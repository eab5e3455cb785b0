from mercator.billing.app import MIGRATIONS, build_app
from mercator.billing.settings import BillingSettings
from mercator.common.cli import main

if __name__ == "__main__":
    main(BillingSettings(), build_app, MIGRATIONS)
