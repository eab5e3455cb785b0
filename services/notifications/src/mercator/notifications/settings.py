from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mercator.common.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MERCATOR_NOTIFICATIONS_", extra="ignore")

    service_name: str = "notifications"
    database_url: str = "sqlite+aiosqlite:///var/notifications.db"
    http_port: int = 8004
    # Whose calendar "today" is: digests go out in the morning of the sales department's day.
    time_zone: str = "Europe/Moscow"

    # The SMTP server every e-mail (and e-mail-to-fax) goes through.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 30
    # The CA bundle the SMTP server's certificate is checked against (the system's when unset).
    smtp_ca_file: str | None = None
    mail_from: str = "Mercator <crm@localhost>"

    # Fax: "email" sends the PDF to <number>@<fax_email_domain> (most fax providers take it so);
    # "hylafax" hands it to `sendfax` for the HylaFAX server at fax_hylafax_host.
    fax_transport: Literal["email", "hylafax"] = "email"
    fax_email_domain: str = "fax.example.com"
    fax_hylafax_host: str = "127.0.0.1"
    fax_hylafax_user: str = "mercator"
    fax_sendfax: str = "sendfax"
    fax_timeout_seconds: float = 60
    # Numbers written without a country code are read as this country's.
    phone_region: str = "RU"

    # The sender: how often it looks for due messages, how many it sends at once, and retries.
    send_poll_seconds: float = 1.0
    send_batch_size: int = 50
    send_concurrency: int = 4
    send_max_attempts: int = 6
    retry_base_seconds: float = 30
    retry_max_seconds: float = 3600
    # A message left in "sending" this long (the process died mid-send) is tried again.
    sending_lease_seconds: float = 300

    # Mailings: at most this many messages a second, whatever the number of mailings at once.
    mailing_rate_per_second: float = 5.0
    # A meeting reminder goes to the manager this many minutes before (unless the meeting says).
    reminder_minutes_before: int = 30
    # Proposals and price lists are valid this many days from the day they are rendered.
    offer_validity_days: int = 14
    # Templates render in worker processes (this many), each render within these limits; one over a limit
    # is refused when saved, and fails its message when sent. A price list of 3,000 products takes about
    # 6 s of CPU; on the clock a render gets more, for a machine too busy to give it its CPU at once.
    render_workers: int = Field(2, ge=1)
    render_cpu_seconds: float = Field(10.0, gt=0)
    render_seconds: float = Field(30.0, gt=0)
    render_memory_mb: int = Field(384, ge=256)
    render_output_bytes: int = Field(10_000_000, ge=10_000)

    # The morning digest: local hour it goes out at, and after how many quiet days a deal is stalled.
    digest_hour: int = 8
    digest_check_seconds: float = 300
    stalled_deal_days: int = 14
