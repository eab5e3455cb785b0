"""E-mail over STARTTLS and over TLS with a login, to a real aiosmtpd on loopback with a certificate from a
throwaway CA: the message arrives only when the security and the login are right; a wrong password or an
untrusted certificate leaves it waiting, saying why."""

import ssl
from datetime import UTC, datetime

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from mercator.common.events import catalogue as ev
from mercator.common.testing import kit
from mercator.common.testing.api import rolled_back_app
from mercator.notifications.app import build_app
from mercator.notifications.tables import Message
from mercator.notifications.testing import Inbox, World

pytestmark = pytest.mark.postgres

USER, PASSWORD = "crm@mercator.example", "s3cret-пароль"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, str(path)


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


class SecureInbox(Inbox):
    def __init__(self, ca, implicit_tls: bool):
        super().__init__()
        self.ca, self.implicit_tls = ca, implicit_tls

    def up(self) -> "SecureInbox":
        cert = self.ca.issue_cert("127.0.0.1")
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_ctx)
        if self.implicit_tls:
            # The whole connection is TLS; aiosmtpd's auth_require_tls only knows STARTTLS, so it is off here.
            self.controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                ssl_context=server_ctx,
                authenticator=authenticate,
                auth_require_tls=False,
            )
        else:
            self.controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                tls_context=server_ctx,
                require_starttls=True,
                authenticator=authenticate,
                auth_require_tls=True,
            )
        self.controller.start()
        return self


async def send_one(settings, engine, manager, **smtp) -> Message:
    settings = settings.model_copy(update=smtp)
    async with rolled_back_app(settings, engine, lambda s, rt: build_app(s, rt)) as app:
        from mercator.notifications import consumers

        handlers = {t: h for g in consumers.handlers(settings).values() for t, h in g.items()}
        world = World(manager)
        alert = ev.InactivityDetected(
            company_id=world.company_id,
            owner_id=manager.user_id,
            threshold_days=30,
            days_inactive=45,
            detected_at=datetime.now(UTC),
        )
        for payload in [*world.events(), alert]:
            await kit.feed(app, handlers, payload)
        await app.state.sender.run_once()
        async with app.state.runtime.sessionmaker() as s:
            [m] = (await s.execute(select(Message))).scalars().all()
        return m


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_tls_with_a_login(settings, notifications_db, manager, ca, security):
    authority, ca_file = ca
    server = SecureInbox(authority, implicit_tls=security == "tls").up()
    try:
        m = await send_one(
            settings,
            notifications_db.engine,
            manager,
            smtp_port=server.port,
            smtp_security=security,
            smtp_username=USER,
            smtp_password=PASSWORD,
            smtp_ca_file=ca_file,
        )
        assert (m.status, m.last_error) == ("sent", None)
        [mail] = server.messages
        assert "45 дн. без контакта" in mail["Subject"]
    finally:
        server.down()


async def test_a_wrong_password_is_retried_saying_so(settings, notifications_db, manager, ca):
    """Our side's mistake: the message waits for the settings to be put right instead of failing."""
    authority, ca_file = ca
    server = SecureInbox(authority, implicit_tls=False).up()
    try:
        m = await send_one(
            settings,
            notifications_db.engine,
            manager,
            smtp_port=server.port,
            smtp_security="starttls",
            smtp_username=USER,
            smtp_password="wrong",
            smtp_ca_file=ca_file,
        )
        assert (m.status, m.attempts) == ("queued", 1) and "SMTP 535" in m.last_error, m.last_error
        assert not server.messages
    finally:
        server.down()


async def test_a_server_whose_certificate_is_not_trusted_gets_nothing(settings, notifications_db, manager, ca):
    authority, _ = ca
    server = SecureInbox(authority, implicit_tls=False).up()
    try:  # the system's CAs do not know the throwaway one: the password is never sent
        m = await send_one(
            settings,
            notifications_db.engine,
            manager,
            smtp_port=server.port,
            smtp_security="starttls",
            smtp_username=USER,
            smtp_password=PASSWORD,
        )
        assert m.status == "queued" and m.attempts == 1 and "certificate" in m.last_error.lower()
        assert not server.messages
    finally:
        server.down()
