"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets Mercator once shipped as defaults, and so public: a token signed with one of them must never be taken.
KNOWN_SECRETS = frozenset(
    {
        "mercator-dev-secret-change-me-0123456789",
        "mercator-dev-public-secret-change-me-0123456789",
        "change-me",
        "changeme",
        "secret",
        "password",
    }
)
# 256 bits as hex, what `openssl rand -hex 32` and `make run` give; HS256 wants a key as long as its hash.
MIN_SECRET_LENGTH = 32


class WeakSecret(Exception):
    """A service was given no signing key, a short one, or one that was published: it must not start."""


class ServiceSettings(BaseSettings):
    """Read from `MERCATOR_<SERVICE>_*` variables (the subclass sets the prefix).

    Defaults are the embedded run's: SQLite under `var/`, Tansu on 127.0.0.1:9092.
    """

    model_config = SettingsConfigDict(env_prefix="MERCATOR_", extra="ignore")

    service_name: str = "service"
    database_url: str = "sqlite+aiosqlite:///var/service.db"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # An internal listener for /livez, /readyz, /metrics and /ops: set on a service whose port is public (the
    # gateway), so those are not. Unset, they are served on http_port beside the API (a port only the cluster
    # reaches).
    ops_host: str = "127.0.0.1"
    ops_port: int | None = None
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: int = 3
    # No default: a key everybody can read in the source signs anybody in as anyone (see `refuse_weak_secrets`).
    token_secret: str = ""
    token_audience: str = "mercator"
    token_issuer: str = "mercator-gateway"
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    json_logs: bool = True

    relay_enabled: bool = True
    # The relay in a child process of the service (bus/relay_process.py), on another core than the requests;
    # off: on the service's event loop (so always for an in-memory SQLite database).
    relay_process: bool = True
    # Large: a turn (a read, a produce request, a mark) costs little more for 4,000 rows than for 500, and
    # on the service's loop, sharing its SQLite connection, 500 left the relay 9 s behind a busy API
    # (bench/bus.py; 4,000, 2 s).
    relay_batch_size: int = 4000
    relay_poll_seconds: float = 0.5
    # How long the relay lets commits gather before a turn that is not a full batch.
    relay_linger_seconds: float = 0.02
    relay_reset_check_seconds: float = 5.0
    outbox_retention_hours: float = 24 * 7
    inbox_retention_hours: float = 24 * 14
    idempotency_retention_hours: float = 24

    consumers_enabled: bool = True
    consumer_max_attempts: int = 5
    consumer_retry_base_seconds: float = 0.05
    # A database that is busy or away for a moment (a lock timeout, a deadlock, a restart, the pool exhausted) is
    # waited out this long, with backoff up to 5 s between tries, before the message is dead-lettered: a burst of
    # lock timeouts must not need a person to replay it. Under the poll interval and the liveness limit below.
    consumer_transient_retry_seconds: float = 60.0
    consumer_batch_size: int = 500
    consumer_fetch_max_wait_ms: int = 100
    # A new member waits about half the session timeout for its partitions (measured on Tansu).
    consumer_session_timeout_ms: int = 6_000
    consumer_heartbeat_interval_ms: int = 2_000
    # /livez fails when a running consumer's loop has not come round for this long (a hung
    # handler): the orchestrator restarts the process. Far above a group join (up to ~20 s).
    liveness_poll_stale_seconds: float = 120.0


def refuse_weak_secrets(settings: BaseSettings) -> None:
    """Raises WeakSecret naming every `*_secret` setting that is empty, shorter than MIN_SECRET_LENGTH or known."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    problems = []
    for name in type(settings).model_fields:
        if not name.endswith("_secret"):
            continue
        value = getattr(settings, name) or ""
        variable = f"{prefix}{name}".upper()
        if not value:
            problems.append(f"{variable} is not set")
        elif value in KNOWN_SECRETS:
            problems.append(f"{variable} is a published default")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{variable} is shorter than {MIN_SECRET_LENGTH} characters")
    if problems:
        raise WeakSecret(
            "; ".join(problems) + ": give it a random value of its own (openssl rand -hex 32); "
            "`make run` makes one per install under its data folder"
        )
