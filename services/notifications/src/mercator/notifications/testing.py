"""Test helpers of the notifications service: a real SMTP server on loopback that keeps what it gets,
what the sender sent, and a small world of client, person, manager and deal as events announce them.
(Used by the tests and by bench/notifications.py; aiosmtpd and pypdf are the `test` extra.)"""

from __future__ import annotations

import email
import uuid
from email import policy
from email.message import EmailMessage

from mercator.common import clock
from mercator.common.events import catalogue as ev
from mercator.common.testing.broker import free_port


class Inbox:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it accepts. `down()` closes the
    port (connections are refused, as when the server is off); `up()` opens it again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()  # addresses answered "550 no such mailbox"
        self.controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def up(self) -> Inbox:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m, (_, rcpts) in zip(self.messages, self.envelopes, strict=False) if address in rcpts]


async def send_due(app, rounds: int = 1) -> int:
    total = 0
    for _ in range(rounds):
        total += await app.state.sender.run_once()
    return total


def pdf_text(content: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def attachments(message: EmailMessage) -> dict[str, bytes]:
    return {part.get_filename() or "": part.get_content() for part in message.iter_attachments()}


class World:
    """A client card with a contact person, its manager and their head, products and a deal with lines,
    as the other services announce them."""

    def __init__(self, manager):
        self.manager = manager
        self.head_id = uuid.uuid4()
        self.company_id, self.person_id, self.deal_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        self.products = [uuid.uuid4(), uuid.uuid4()]
        self.person_email = "ivan.sidorov@romashka.example"
        self.manager_email = "anna.petrova@mercator.example"
        self.head_email = "boss@mercator.example"

    def events(self) -> list[ev.EventPayload]:
        now = clock.now()
        m = self.manager
        return [
            ev.UserCreated(
                user_id=m.user_id,
                name=m.name,
                email=self.manager_email,
                roles=["manager"],
                department_id=m.department_id,
            ),
            ev.UserCreated(
                user_id=self.head_id,
                name="Борис Начальников",
                email=self.head_email,
                roles=["head"],
                department_id=m.department_id,
            ),
            ev.CompanyCreated(
                company_id=self.company_id,
                name="ООО «Ромашка»",
                legal_name="ООО «Ромашка-Трейд»",
                tax_id="7707083893",
                status="prospect",
                owner_id=m.user_id,
                department_id=m.department_id,
                created_at=now,
            ),
            ev.PersonAdded(
                person_id=self.person_id,
                company_id=self.company_id,
                name="Иван Сидоров",
                position="Директор по закупкам",
                emails=[self.person_email],
                phones=["+7 495 123-45-67"],
            ),
            ev.ProductCreated(
                product_id=self.products[0],
                code="СТ-100",
                name="Станок токарный",
                unit="шт",
                list_price="1250000.00",
                currency="RUB",
                group_name="Станки",
            ),
            ev.ProductCreated(
                product_id=self.products[1],
                code="НАЛ-1",
                name="Наладка оборудования",
                unit="час",
                list_price="4500.00",
                currency="RUB",
                group_name="Услуги",
            ),
            ev.DealOpened(
                deal_id=self.deal_id,
                title="Поставка станков",
                company_id=self.company_id,
                owner_id=m.user_id,
                department_id=m.department_id,
                pipeline_id=uuid.uuid4(),
                stage="tech_proposal",
                status="open",
                amount="2536000.00",
                currency="RUB",
                opened_at=now,
                lines=[
                    ev.DealLinePayload(
                        product_id=self.products[0], quantity="2", unit_price="1250000.00", total="2500000.00"
                    ),
                    ev.DealLinePayload(
                        product_id=self.products[1], quantity="8", unit_price="4500.00", total="36000.00"
                    ),
                ],
            ),
        ]
