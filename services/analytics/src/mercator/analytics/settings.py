from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_ANALYTICS_", extra="ignore")

    service_name: str = "analytics"
    database_url: str = "sqlite+aiosqlite:///var/analytics.db"
    http_port: int = 8005
    # A client card with no history entry for this many days is inactive (reports, InactivityDetected).
    inactivity_days: int = 14
    inactivity_check_seconds: float = 3600
    # A manager logging fewer activities than this share of the team's mean is flagged.
    low_activity_share: float = 0.5
    # Deals a participant opens within this many days after a marketing event count for the event.
    marketing_window_days: int = 90
    # The projections write a batch in a fixed number of statements, so a backlog goes through in fewer, larger
    # transactions: PostgreSQL's time per event fell by about a third from 500 to 2,000 (bench/analytics.py).
    consumer_batch_size: int = 2000
