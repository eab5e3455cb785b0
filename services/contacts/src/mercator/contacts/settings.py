from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class ContactsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_CONTACTS_", extra="ignore")

    service_name: str = "contacts"
    database_url: str = "sqlite+aiosqlite:///var/contacts.db"
    http_port: int = 8001
    # Open deals in an import go to the deals service's API (an Idempotency-Key per job and row).
    deals_url: str = "http://127.0.0.1:8002"
