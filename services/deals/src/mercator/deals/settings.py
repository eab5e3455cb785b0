from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class DealsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_DEALS_", extra="ignore")

    service_name: str = "deals"
    database_url: str = "sqlite+aiosqlite:///var/deals.db"
    http_port: int = 8002
    # Where to ask when a client card is not in the replica yet (a deal opened a moment
    # after its card was created): the contacts service's base URL.
    contacts_url: str = "http://127.0.0.1:8001"
