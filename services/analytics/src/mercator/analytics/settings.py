from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_ANALYTICS_", extra="ignore")

    service_name: str = "analytics"
    database_url: str = "sqlite+aiosqlite:///var/analytics.db"
    http_port: int = 8005
