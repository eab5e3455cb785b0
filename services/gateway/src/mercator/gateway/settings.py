from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    database_url: str = "sqlite+aiosqlite:///var/gateway.db"
    http_port: int = 8000
    ops_port: int | None = 9000  # the gateway's port is the public one: operations listen apart

    # Tokens the front ends hold: signed with a key of their own and another audience than the
    # short-lived tokens the gateway forwards to services, so a public token opens no service directly.
    public_token_secret: str = ""  # no default, as token_secret
    public_audience: str = "mercator-public"
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    forwarded_token_seconds: int = 60

    # The first admin, created at start when no admin exists (never a default password).
    admin_email: str | None = None
    admin_password: str | None = None
    admin_name: str = "Administrator"

    cors_origins: list[str] = Field(default_factory=list)
    rate_limit: str = "300/minute"
    # Failed sign-ins (and refreshes with a token that is not valid) before the next try waits: tiers, so a
    # patient guesser waits longer and longer (throttle.py).
    sign_in_failures_per_account: str = "5/15 minutes;20/day"
    sign_in_failures_per_address: str = "30/15 minutes;200/day"
    # Password checks at once: each takes argon2's 64 MiB; more than the cores would only queue in threads.
    password_checks_at_once: int = 2

    contacts_url: str = "http://127.0.0.1:8001"
    deals_url: str = "http://127.0.0.1:8002"
    billing_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    analytics_url: str = "http://127.0.0.1:8005"
    upstream_timeout_seconds: float = 10.0
    upstream_connections: int = 100  # per service, at most; a request beyond waits for a free one
    breaker_failures: int = 5
    breaker_reset_seconds: float = 10.0

    # The web front end's built files (`make web`), served at `/`; live updates for it over SSE.
    web_dist: Path = Path(__file__).resolve().parents[5] / "web" / "dist"
    live_updates: bool = True
