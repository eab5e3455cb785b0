from mercator.common.cli import main
from mercator.notifications.app import MIGRATIONS, build_app
from mercator.notifications.settings import NotificationsSettings

if __name__ == "__main__":
    main(NotificationsSettings(), build_app, MIGRATIONS)
