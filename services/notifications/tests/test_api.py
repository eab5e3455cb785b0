"""The HTTP API: templates as versioned data, refused with the line named when broken; documents as PDF;
messages sent by hand."""

import uuid

import pytest

from mercator.common.testing.api import auth, caller, client
from mercator.notifications.testing import attachments, pdf_text, send_due

pytestmark = pytest.mark.postgres

EMAIL_BODY = "Здравствуйте, {{ person.name }}!\n\nВаш менеджер {{ manager.name }}.\n"


@pytest.fixture
async def head_api(app, settings, manager):
    head = caller("Борис Начальников", roles=("head",), department_id=manager.department_id)
    async with client(app, auth(settings, head)) as c:
        yield c


async def test_a_template_is_versioned_and_old_versions_stay_readable(head_api):
    r = await head_api.post(
        "/api/v1/templates",
        json={"name": "greeting", "kind": "email", "subject": "Привет, {{ company.name }}", "body": EMAIL_BODY},
    )
    assert r.status_code == 201, r.text
    template, etag = r.json(), r.headers["ETag"]
    assert (template["version"], etag) == (1, '"1"') and r.headers["Location"].endswith(template["id"])
    r = await head_api.patch(
        f"/api/v1/templates/{template['id']}",
        json={"subject": "Добрый день, {{ company.name }}"},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["subject"], r.json()["body"]) == (
        2,
        "Добрый день, {{ company.name }}",
        EMAIL_BODY.strip(),
    )
    versions = (await head_api.get(f"/api/v1/templates/{template['id']}/versions")).json()
    assert [(v["version"], v["subject"]) for v in versions] == [
        (1, "Привет, {{ company.name }}"),
        (2, "Добрый день, {{ company.name }}"),
    ]
    old = (await head_api.get(f"/api/v1/templates/{template['id']}/versions/1")).json()
    assert old["subject"] == "Привет, {{ company.name }}"
    # A version number past any the column can hold is a bad request naming it, not a server error.
    huge = await head_api.get(f"/api/v1/templates/{template['id']}/versions/8796093022208")
    assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "version", huge.text
    # An edit made against the old version is refused, and one without If-Match asks for it.
    stale = await head_api.patch(f"/api/v1/templates/{template['id']}", json={"body": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert (await head_api.patch(f"/api/v1/templates/{template['id']}", json={"body": "x"})).status_code == 428
    assert (await head_api.get(f"/api/v1/templates/{template['id']}")).json()["version"] == 2


@pytest.mark.parametrize(
    "body,line,what",
    [
        ("<h1>Счёт</h1>\n<p>{{ company.name }}</p>\n<p>{% if deal %}{{ deal.title }}</p>\n", 3, "endif"),
        ("<h1>Счёт</h1>\n<p>{{ company.name | no_such_filter }}</p>\n", 2, "no_such_filter"),
        ("<h1>Счёт</h1>\n\n\n<p>{{ comapny.name }}</p>\n", 4, "comapny"),
        ("<p>{{ company.name }}</p>\n<p>{{ 1 // 0 }}</p>\n", 2, "ZeroDivisionError"),
    ],
)
async def test_a_broken_template_is_refused_naming_the_line_and_nothing_is_saved(head_api, body, line, what):
    r = await head_api.post(
        "/api/v1/templates",
        json={"name": "broken", "kind": "document", "subject": "Счёт {{ invoice.number }}", "body": body},
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    [error] = r.json()["errors"]
    assert error["field"] == "body" and error["message"].startswith(f"line {line}: ") and what in error["message"]
    names = [t["name"] for t in (await head_api.get("/api/v1/templates?limit=200")).json()["items"]]
    assert "broken" not in names


async def test_an_edit_that_breaks_a_template_is_refused_and_the_template_unchanged(head_api):
    [proposal] = [
        t for t in (await head_api.get("/api/v1/templates?kind=document")).json()["items"] if t["name"] == "proposal"
    ]
    r = await head_api.patch(
        f"/api/v1/templates/{proposal['id']}",
        json={"subject": "КП {{ deal.title "},
        headers={"If-Match": f'"{proposal["version"]}"'},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "subject"
    assert r.json()["errors"][0]["message"].startswith("line 1: ")
    assert (await head_api.get(f"/api/v1/templates/{proposal['id']}")).json() == proposal


async def test_the_defaults_are_seeded(api):
    names = {(t["kind"], t["name"]) for t in (await api.get("/api/v1/templates?limit=200")).json()["items"]}
    assert {
        ("document", "proposal"),
        ("document", "price_list"),
        ("document", "product_sheet"),
        ("document", "invoice"),
        ("email", "proposal_email"),
        ("email", "meeting_reminder"),
        ("email", "invoice_overdue"),
        ("email", "inactivity"),
        ("email", "digest"),
        ("email", "mailing"),
    } <= names


async def test_a_manager_cannot_change_templates(api):
    r = await api.post("/api/v1/templates", json={"name": "mine", "kind": "email", "subject": "x", "body": "y"})
    assert r.status_code == 403


async def test_a_document_renders_as_pdf_filled_from_card_and_deal(api, world):
    r = await api.post("/api/v1/documents", json={"template": "product_sheet", "deal_id": str(world.deal_id)})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    for part in (
        "Описание продукции",
        "ООО «Ромашка»",
        "Станок токарный",
        "Код: СТ-100",
        "группа: Станки",
        "Наладка оборудования",
        "8 час",
    ):
        assert part in text, part
    assert (await api.post("/api/v1/documents", json={"template": "nope", "deal_id": str(world.deal_id)})).json()[
        "errors"
    ][0]["field"] == "documents"


async def test_a_document_comes_as_the_bytes_a_client_asks_for_and_as_documented(api, app, world):
    """Generated clients (openapi-python-client) read a binary answer only as application/octet-stream."""
    body = {"template": "product_sheet", "deal_id": str(world.deal_id)}
    pdf = await api.post("/api/v1/documents", json=body)
    raw = await api.post("/api/v1/documents", json=body, headers={"Accept": "application/octet-stream"})
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/octet-stream"
    assert raw.content.startswith(b"%PDF-") and pdf_text(raw.content) == pdf_text(pdf.content)
    either = await api.post("/api/v1/documents", json=body, headers={"Accept": "application/pdf, */*"})
    assert either.headers["content-type"] == "application/pdf"
    paths = app.openapi()["paths"]
    binary = {"schema": {"type": "string", "format": "binary"}}
    for path, method in (("/api/v1/documents", "post"), ("/api/v1/messages/{message_id}/documents/{position}", "get")):
        assert paths[path][method]["responses"]["200"]["content"] == {
            "application/pdf": binary,
            "application/octet-stream": binary,
        }, path


async def test_someone_elses_deal_is_not_rendered(app, settings, world):
    stranger = caller("Чужой Менеджер")
    async with client(app, auth(settings, stranger)) as other:
        r = await other.post("/api/v1/documents", json={"template": "proposal", "deal_id": str(world.deal_id)})
    assert r.status_code == 404


async def test_an_email_by_hand_to_a_contact_person_with_documents(api, app, world, smtp):
    r = await api.post(
        "/api/v1/messages",
        json={
            "person_id": str(world.person_id),
            "deal_id": str(world.deal_id),
            "subject": "Предложение по станкам",
            "message": "Иван, направляю КП и описание.",
            "documents": ["proposal", "product_sheet"],
        },
    )
    assert r.status_code == 202, r.text
    message = r.json()
    assert (message["status"], message["recipient"], message["attempts"]) == ("queued", world.person_email, 0)
    await send_due(app)
    [mail] = smtp.to(world.person_email)
    assert mail["Subject"] == "Предложение по станкам"
    assert "Иван, направляю КП и описание." in mail.get_body().get_content()
    files = attachments(mail)
    assert len(files) == 2 and "Итого: 2 536 000,00 RUB" in pdf_text(
        files["Коммерческое_предложение_—_ООО_«Ромашка».pdf"]
    )
    done = (await api.get(r.headers["Location"])).json()
    assert (done["status"], done["attempts"], done["last_error"]) == ("sent", 1, None) and done["sent_at"]
    listed = (await api.get(f"/api/v1/messages?company_id={world.company_id}")).json()["items"]
    assert [m["id"] for m in listed] == [message["id"]]
    pdf = await api.get(f"/api/v1/messages/{message['id']}/documents/0")
    assert pdf.headers["content-type"] == "application/pdf" and "Станок токарный" in pdf_text(pdf.content)


async def test_a_fax_by_hand_needs_a_valid_number_and_a_document(api, world, app, smtp):
    bad = await api.post(
        "/api/v1/messages",
        json={"channel": "fax", "company_id": str(world.company_id), "to": "12345", "documents": ["proposal"]},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "to"
    empty = await api.post("/api/v1/messages", json={"channel": "fax", "person_id": str(world.person_id)})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "documents"
    assert (await api.get("/api/v1/messages")).json()["items"] == []  # nothing made by the refusals
    r = await api.post(
        "/api/v1/messages",
        json={
            "channel": "fax",
            "company_id": str(world.company_id),
            "to": "8 (812) 555-12-34",
            "deal_id": str(world.deal_id),
            "documents": ["proposal"],
        },
    )
    assert r.status_code == 202 and r.json()["recipient"] == "+78125551234"
    await send_due(app)
    assert len(smtp.to("78125551234@fax.example.net")) == 1


async def test_bad_input_names_the_field(api, world):
    for body, field in (
        ({"person_id": "not-a-uuid"}, "person_id"),
        ({"person_id": str(uuid.uuid4())}, "person_id"),
        ({"to": "nobody", "company_id": str(world.company_id)}, "to"),
        ({"person_id": str(world.person_id), "documents": ["Bad Name"]}, "documents[0]"),
        ({"person_id": str(world.person_id), "surprise": 1}, "surprise"),
    ):
        r = await api.post("/api/v1/messages", json=body)
        assert 400 <= r.status_code < 500, (body, r.text)
        if r.status_code != 404:
            assert r.json()["errors"][0]["field"] == field, (body, r.json())


async def test_a_failed_message_can_be_retried_by_hand(api, app, world, smtp):
    smtp.refuse.add(world.person_email)
    r = await api.post(
        "/api/v1/messages", json={"person_id": str(world.person_id), "subject": "Тест", "message": "Текст"}
    )
    await send_due(app)
    failed = (await api.get(r.headers["Location"])).json()
    assert failed["status"] == "failed" and "550" in failed["last_error"]
    smtp.refuse.clear()
    again = await api.post(f"/api/v1/messages/{failed['id']}/retry")
    assert again.status_code == 200 and again.json()["status"] == "queued"
    await send_due(app)
    assert (await api.get(r.headers["Location"])).json()["status"] == "sent" and len(smtp.messages) == 1
    assert (await api.post(f"/api/v1/messages/{failed['id']}/retry")).status_code == 422  # sent: nothing to retry


async def test_someone_elses_messages_are_not_seen(api, app, settings, world):
    r = await api.post("/api/v1/messages", json={"person_id": str(world.person_id), "subject": "x", "message": "y"})
    async with client(app, auth(settings, caller("Чужой"))) as other:
        assert (await other.get(r.headers["Location"])).status_code == 404
        assert (await other.get("/api/v1/messages")).json()["items"] == []
