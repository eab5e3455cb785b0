from mercator.billing.app import MIGRATIONS, build_app
from mercator.billing.settings import BillingSettings
from mercator.common.cli import main

if __name__ == "__main__":
    settings = BillingSettings()
    main(settings, lambda _: build_app(settings), MIGRATIONS)  # the app of these very settings, typed as billing's
