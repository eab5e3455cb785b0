"""A template costs only its own bounded share of the notifications service.

Saving a template rendered it (to check it) on the service's event loop with no limits: nested loops, a
`'a' * 300000000` (389 MB) or a 3,000-row table (3.7 s) held every other request up and took the memory they
asked for. Templates now render in worker processes within limits of time, memory and output: a template
over one is refused at save naming the field and the limit, and a stored one over a limit at send time
fails its message saying why, while the service goes on answering.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from mercator.common.events import catalogue as ev
from mercator.common.runtime import Runtime
from mercator.common.testing.api import auth, caller, client
from mercator.notifications import consumers
from mercator.notifications.settings import NotificationsSettings
from mercator.notifications.tables import Template
from mercator.notifications.testing import Inbox, World

# Low limits keep the test short; what they bound is the same at any size. (One second of CPU and one on the
# clock: whichever a busy machine reaches first, the template took more than a second.)
LIMITS = dict(
    render_cpu_seconds=1.0, render_seconds=1.0, render_memory_mb=384, render_output_bytes=1_000_000, render_workers=2
)

# Each costs a few seconds, or hundreds of MB, where nothing stops it.
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(700) %}{% endfor %}{% endfor %}"
TABLE = (
    "<table><tbody>{% for i in range(3000) %}<tr><td>{{ i }}</td><td>строка {{ company.name }}</td></tr>"
    "{% endfor %}</tbody></table>"
)
HUGE_STRING = "{{ 'a' * 300000000 }}"
HUGE_MEMORY = "{{ ('a' | center(400000000)) | length }}"


@pytest.fixture
async def notifications(service_app, feed):
    """The service on its own SQLite file with a manager's world, and a client for each of a marketer (who
    writes templates) and the manager."""
    inbox = Inbox().up()
    settings, runtime, app = await service_app("notifications", smtp_host="127.0.0.1", smtp_port=inbox.port, **LIMITS)
    handlers = {t: h for group in consumers.handlers(settings).values() for t, h in group.items()}

    async def deliver(payload: ev.EventPayload) -> None:
        await feed(runtime, handlers, payload)

    world = World(caller("Анна Петрова", department_id=uuid.uuid4()))
    for payload in world.events():
        await deliver(payload)
    marketer = caller("Мария Маркетова", roles=("marketing",))
    async with (
        client(app, auth(settings, marketer)) as templates,
        client(app, auth(settings, world.manager)) as manager,
    ):
        yield templates, manager, world, deliver, runtime
    inbox.down()


async def stored_as(runtime: Runtime, name: str, body: str) -> None:
    """A template as one saved before templates were checked within limits left it in the database."""
    async with runtime.uow() as uow:
        await uow.session.execute(update(Template).where(Template.name == name).values(body=body))
        await uow.commit()


async def meanwhile(other, hostile):
    """Runs `hostile` (a request) and, while it is under way, another request of `other`: it answers at once,
    neither the event loop nor the database (on SQLite its one connection) held up. The hostile answer."""
    started = time.monotonic()
    running = asyncio.create_task(hostile)
    await asyncio.sleep(0.2)
    assert (await other.get("/api/v1/messages")).status_code == 200
    assert time.monotonic() - started < 0.8, "another request waited for the hostile template"
    assert not running.done(), "the hostile template was still being rendered"
    return await running


def test_the_limits_have_sane_defaults():
    defaults = NotificationsSettings()
    assert 1 <= defaults.render_cpu_seconds <= defaults.render_seconds <= 60
    assert 256 <= defaults.render_memory_mb <= 2048
    assert 1_000_000 <= defaults.render_output_bytes <= 50_000_000
    assert 1 <= defaults.render_workers <= 8


@pytest.mark.parametrize(
    "kind,field,source,limit",
    [
        ("email", "body", NESTED_LOOPS, "took more than 1 s"),
        ("document", "body", TABLE, "took more than 1 s"),
        ("email", "body", HUGE_STRING, "output larger than 1000000 bytes"),
        ("email", "subject", HUGE_STRING, "output larger than 1000000 bytes"),
        ("email", "body", HUGE_MEMORY, "needed more than 384 MB"),
    ],
    ids=["nested-loops", "table", "huge-string", "huge-subject", "huge-memory"],
)
async def test_a_template_over_a_limit_is_refused_naming_it_and_nothing_is_saved(
    notifications, kind, field, source, limit
):
    templates, *_ = notifications
    fields = {"subject": "Письмо", "body": "<p>Добрый день</p>", field: source}
    r = await templates.post("/api/v1/templates", json={"name": "hostile", "kind": kind, **fields})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    [error] = r.json()["errors"]
    assert error["field"] == field and limit in error["message"], error
    names = [t["name"] for t in (await templates.get("/api/v1/templates?limit=200")).json()["items"]]
    assert "hostile" not in names
    # The worker that hit the limit is fit for the next template.
    ok = await templates.post(
        "/api/v1/templates",
        json={"name": "fine", "kind": kind, "subject": "Письмо", "body": "<p>{{ company.name }}</p>"},
    )
    assert ok.status_code == 201, ok.text


async def test_the_service_answers_while_a_hostile_template_is_checked(notifications):
    templates, manager, *_ = notifications
    r = await meanwhile(
        manager,
        templates.post(
            "/api/v1/templates", json={"name": "hostile", "kind": "email", "subject": "Письмо", "body": NESTED_LOOPS}
        ),
    )
    assert r.status_code == 422
    [digest] = [
        t
        for t in (await templates.get("/api/v1/templates?kind=email&limit=200")).json()["items"]
        if t["name"] == "digest"
    ]
    r = await meanwhile(
        manager,
        templates.patch(
            f"/api/v1/templates/{digest['id']}",
            json={"body": NESTED_LOOPS},
            headers={"If-Match": f'"{digest["version"]}"'},
        ),
    )
    assert r.status_code == 422 and "took more than 1 s" in r.json()["errors"][0]["message"]
    assert (await templates.get(f"/api/v1/templates/{digest['id']}")).json() == digest


async def test_a_stored_document_over_a_limit_is_refused_when_sent_saying_why(notifications):
    _, manager, world, _, runtime = notifications
    await stored_as(runtime, "proposal", TABLE)
    r = await meanwhile(
        manager,
        manager.post(
            "/api/v1/messages",
            json={"person_id": str(world.person_id), "deal_id": str(world.deal_id), "documents": ["proposal"]},
        ),
    )
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "documents" and "proposal" in error["message"] and "took more than 1 s" in error["message"]
    assert (await manager.get("/api/v1/messages")).json()["items"] == [], "nothing was queued"
    r = await manager.post("/api/v1/documents", json={"template": "proposal", "deal_id": str(world.deal_id)})
    assert r.status_code == 422 and "took more than 1 s" in r.json()["errors"][0]["message"]


async def test_a_mailing_of_a_stored_template_over_a_limit_fails_its_messages_saying_why(notifications):
    _, manager, world, deliver, runtime = notifications
    await stored_as(runtime, "mailing", NESTED_LOOPS)
    recipients = [
        ev.MailingRecipient(
            company_id=world.company_id, person_id=uuid.uuid4(), name=f"Гость {i}", email=f"guest{i}@romashka.example"
        )
        for i in range(5)
    ]
    started = time.monotonic()
    await deliver(
        ev.MailingRequested(
            mailing_id=uuid.uuid4(),
            marketing_event_id=uuid.uuid4(),
            template_name="mailing",
            recipients=recipients,
            requested_by=world.manager.user_id,
            requested_at=datetime.now(UTC),
        )
    )
    # Over its limit for one recipient, the template is not tried again for each of the others.
    assert time.monotonic() - started < len(recipients) * LIMITS["render_seconds"]
    messages = (await manager.get("/api/v1/messages?kind=mailing")).json()["items"]
    assert len(messages) == len(recipients)
    for m in messages:
        assert m["status"] == "failed" and "took more than 1 s" in m["last_error"], m
