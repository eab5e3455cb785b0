from mercator.common.cli import main
from mercator.contacts.app import MIGRATIONS, build_app
from mercator.contacts.settings import ContactsSettings

if __name__ == "__main__":
    main(ContactsSettings(), build_app, MIGRATIONS)
