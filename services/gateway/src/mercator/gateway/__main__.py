from mercator.common.cli import main
from mercator.gateway.app import MIGRATIONS, build_app
from mercator.gateway.settings import GatewaySettings

if __name__ == "__main__":
    main(GatewaySettings(), build_app, MIGRATIONS)
