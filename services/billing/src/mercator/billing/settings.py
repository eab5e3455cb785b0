from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_BILLING_", extra="ignore")

    service_name: str = "billing"
    database_url: str = "sqlite+aiosqlite:///var/billing.db"
    http_port: int = 8003
    deals_url: str = "http://127.0.0.1:8002"
    contacts_url: str = "http://127.0.0.1:8001"
    # How often open invoices are checked for having passed their due date.
    overdue_check_seconds: float = 3600
    # Whose calendar "today" is: due dates are the client's business days, not UTC's.
    time_zone: str = "Europe/Moscow"
