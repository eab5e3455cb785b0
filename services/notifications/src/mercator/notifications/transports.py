"""How a message leaves: e-mail through the configured SMTP server (aiosmtplib), fax as e-mail to a fax
gateway or through HylaFAX's `sendfax`."""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

import aiosmtplib

from mercator.common.clock import now
from mercator.notifications.domain import Channel, Outcome, fax_gateway_address
from mercator.notifications.settings import NotificationsSettings


@dataclass(frozen=True)
class Outgoing:
    """A message as the sender hands it to a transport (read from the database, detached from it)."""

    id: str
    channel: str
    recipient: str
    recipient_name: str | None
    subject: str
    body: str
    attachments: list[tuple[str, str, bytes]]  # (file name, content type, content)


def build_email(m: Outgoing, sender: str, to: str, domain: str = "mercator.local") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr((m.recipient_name, to)) if m.recipient_name else to
    msg["Subject"] = m.subject
    # One Message-ID per message, kept across retries: a receiving server that saw an attempt the
    # sender thought had failed can drop the repeat.
    msg["Message-ID"] = f"<{m.id}@{domain}>"
    msg["X-Mercator-Message-Id"] = m.id

    msg["Date"] = format_datetime(now())
    msg.set_content(m.body)
    for filename, content_type, content in m.attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def _smtp_outcome(exc: Exception) -> Outcome:
    """A 5xx about this message (an unknown mailbox, content refused) stays so however often it is sent
    again: permanent. Anything about our side (a wrong login, a refused sender address, the server away)
    is retried: once someone puts the settings right, the waiting messages go by themselves."""
    code = getattr(exc, "code", None)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return Outcome(
            False,
            f"recipient refused: {'; '.join(str(r) for r in exc.recipients)}",
            permanent=all(500 <= c < 600 for c in codes),
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError) and code is not None:
        return Outcome(False, f"SMTP {code}: {exc.message}", permanent=500 <= code < 600)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and code is not None:
        return Outcome(False, f"SMTP {code}: {exc.message}")
    return Outcome(False, f"{type(exc).__name__}: {exc}")


class Mailer:
    def __init__(self, settings: NotificationsSettings):
        self.s = settings

    async def send(self, msg: EmailMessage) -> Outcome:
        s = self.s
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                cert_bundle=s.smtp_ca_file,
                timeout=s.smtp_timeout_seconds,
            )
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return _smtp_outcome(exc)
        return Outcome(True)


class EmailTransport:
    def __init__(self, mailer: Mailer, settings: NotificationsSettings):
        self.mailer, self.s = mailer, settings

    async def send(self, m: Outgoing) -> Outcome:
        return await self.mailer.send(build_email(m, self.s.mail_from, m.recipient))


class EmailFaxTransport:
    """The documents as PDF attachments to <number>@<gateway domain>; the provider faxes them."""

    def __init__(self, mailer: Mailer, settings: NotificationsSettings):
        self.mailer, self.s = mailer, settings

    async def send(self, m: Outgoing) -> Outcome:
        if not m.attachments:
            return Outcome(False, "a fax needs at least one document", permanent=True)
        return await self.mailer.send(
            build_email(m, self.s.mail_from, fax_gateway_address(m.recipient, self.s.fax_email_domain))
        )


_JOB = re.compile(r"request id is (\d+)")


class HylaFaxTransport:
    """`sendfax` (Debian's hylafax-client) hands the PDFs to the HylaFAX server, which dials."""

    def __init__(self, settings: NotificationsSettings):
        self.s = settings

    async def send(self, m: Outgoing) -> Outcome:
        if not m.attachments:
            return Outcome(False, "a fax needs at least one document", permanent=True)
        with tempfile.TemporaryDirectory(prefix="mercator-fax-") as folder:
            files = []
            for i, (_name, _type, content) in enumerate(m.attachments):
                path = Path(folder) / f"{i:02d}.pdf"
                path.write_bytes(content)
                files.append(str(path))
            try:
                proc = await asyncio.create_subprocess_exec(
                    self.s.fax_sendfax,
                    "-n",
                    "-h",
                    self.s.fax_hylafax_host,
                    "-r",
                    m.subject[:60],
                    "-d",
                    m.recipient,
                    *files,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    env={"FAXUSER": self.s.fax_hylafax_user, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                )
                out, _ = await asyncio.wait_for(proc.communicate(), timeout=self.s.fax_timeout_seconds)
            except FileNotFoundError:
                return Outcome(False, f"{self.s.fax_sendfax} is not installed (Debian package hylafax-client)")
            except TimeoutError:
                proc.kill()  # the job may or may not have reached the server: the retry says so in its answer
                await proc.wait()
                return Outcome(False, "sendfax did not answer in time")
        text = out.decode(errors="replace").strip()
        if proc.returncode != 0 or not _JOB.search(text):
            return Outcome(False, f"sendfax failed ({proc.returncode}): {text[-300:]}")
        return Outcome(True)


class Transports:
    def __init__(self, settings: NotificationsSettings):
        mailer = Mailer(settings)
        self.email = EmailTransport(mailer, settings)
        self.fax = (
            HylaFaxTransport(settings) if settings.fax_transport == "hylafax" else EmailFaxTransport(mailer, settings)
        )

    async def send(self, m: Outgoing) -> Outcome:
        return await (self.email if m.channel == Channel.EMAIL else self.fax).send(m)
